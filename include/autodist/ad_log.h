/* ad_log.h - leveled, one-line-per-event logging to stderr */
#ifndef AD_LOG_H
#define AD_LOG_H

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

/* Write one event; use the ad_log() macro, which checks the level first. */
void ad_log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define ad_log(level, ...)                   \
    do {                                     \
        if ((level) >= ad_log_level)         \
            ad_log_write((level), __VA_ARGS__); \
    } while (0)

#ifdef __cplusplus
}
#endif

#endif
