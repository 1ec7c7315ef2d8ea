/* ad_clock.h - the one clock: seconds on the monotonic clock, for deadlines, rates and timings */
#ifndef AD_CLOCK_H
#define AD_CLOCK_H

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Seconds on the system's monotonic clock (CZMQ's zclock_usecs(): microseconds,
 * never set back), shared by every process of the machine, so a time one
 * process reports can be compared with another's.  Never fails.
 */
double ad_clock_now(void);

#ifdef __cplusplus
}
#endif

#endif
