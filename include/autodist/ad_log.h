/* ad_log.h - leveled, one-line-per-event logging to stderr, time-stamped in log files */
#ifndef AD_LOG_H
#define AD_LOG_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    AD_LOG_DEBUG = 0,
    AD_LOG_INFO = 1,
    AD_LOG_WARN = 2,
    AD_LOG_ERROR = 3,
};

/* Current threshold; events below it are dropped before formatting. */
extern int ad_log_level;

/*
 * Set the program name and threshold.  AUTODIST_LOG (debug, info, warn,
 * error) overrides level when set.
 */
void ad_log_init(const char *prog, int level);

/* When lines start with a time (ad_log_stamps()). */
enum {
    AD_LOG_STAMPS_AUTO = 0, /* when stderr is a regular file: the daemons' logs (default) */
    AD_LOG_STAMPS_ON = 1,   /* always */
    AD_LOG_STAMPS_OFF = 2,  /* never (a command's messages to a person) */
};

/*
 * Whether each line starts with its time, ISO-8601 UTC with milliseconds
 * ("2026-12-06T10:41:07.123Z autodistd: info: ..."): one of AD_LOG_STAMPS_*.
 */
void ad_log_stamps(int mode);

/* The unix time t as "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC) in buf; returns buf. */
char *ad_log_stamp(double t, char *buf, size_t size);

/* Write one event; use the ad_log() macro, which checks the level first. */
void ad_log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define ad_log(level, ...)                   \
    do {                                     \
        if ((level) >= ad_log_level)         \
            ad_log_write((level), __VA_ARGS__); \
    } while (0)

/* Rate limit of ad_log_limited(): at most this many lines per key per interval. */
#define AD_LOG_LIMIT_BURST 20
#define AD_LOG_LIMIT_INTERVAL_S 10.0

/*
 * Write one event unless its key has had AD_LOG_LIMIT_BURST lines in the
 * current interval; the lines held back are counted and said in one line
 * "KEY: N similar lines suppressed in the last S s" when the key's next
 * interval starts (its next line, or ad_log_limited_flush()).  key names
 * the kind of event ("HELLO", "malformed"), a string that outlives the
 * call (a literal).  Returns 1 when the line was written, 0 when held back
 * or below the level.  Use the ad_log_limited() macro.
 */
int ad_log_limited_write(const char *key, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define ad_log_limited(key, level, ...)                         \
    do {                                                        \
        if ((level) >= ad_log_level)                            \
            ad_log_limited_write((key), (level), __VA_ARGS__);  \
    } while (0)

/*
 * Write the "suppressed" line of every key whose interval is over, and
 * start its next one; a program calls it now and then (the coordinator on
 * its timer) so the count shows even when the flood stops.  Returns the
 * number of such lines written.
 */
int ad_log_limited_flush(void);

/*
 * Tests: set the limit (burst lines per interval_s) and the clock (NULL:
 * ad_clock_now()), and forget every key's count.
 */
void ad_log_limit_config(int burst, double interval_s, double (*now)(void));

#ifdef __cplusplus
}
#endif

#endif
