/* ad_log.c - leveled, one-line-per-event logging to stderr, time-stamped in log files */
#include "autodist/ad_log.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "autodist/ad_clock.h"

int ad_log_level = AD_LOG_INFO;
static char s_prog[64] = "autodist";
static int s_stamps = AD_LOG_STAMPS_AUTO;

void
ad_log_stamps(int mode)
{
    s_stamps = mode;
}

char *
ad_log_stamp(double t, char *buf, size_t size)
{
    time_t secs = (time_t)t;
    int ms = (int)((t - (double)secs) * 1000.0);
    struct tm tm;

    if (ms > 999)
        ms = 999;
    if (!gmtime_r(&secs, &tm) || !strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm)) {
        snprintf(buf, size, "-");
        return buf;
    }
    snprintf(buf + strlen(buf), size - strlen(buf), ".%03dZ", ms < 0 ? 0 : ms);
    return buf;
}

/* Whether this line gets a time: always, never, or when stderr is a file (a daemon's log). */
static bool
s_want_stamp(void)
{
    struct stat sb;

    if (s_stamps != AD_LOG_STAMPS_AUTO)
        return s_stamps == AD_LOG_STAMPS_ON;
    return fstat(STDERR_FILENO, &sb) == 0 && S_ISREG(sb.st_mode);
}

void
ad_log_init(const char *prog, int level)
{
    const char *env = getenv("AUTODIST_LOG");

    if (prog)
        snprintf(s_prog, sizeof(s_prog), "%s", prog);
    ad_log_level = level;
    if (!env)
        return;
    if (!strcasecmp(env, "debug"))
        ad_log_level = AD_LOG_DEBUG;
    else if (!strcasecmp(env, "info"))
        ad_log_level = AD_LOG_INFO;
    else if (!strcasecmp(env, "warn"))
        ad_log_level = AD_LOG_WARN;
    else if (!strcasecmp(env, "error"))
        ad_log_level = AD_LOG_ERROR;
}

static void
s_vwrite(int level, const char *fmt, va_list ap)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    char line[1024];

    vsnprintf(line, sizeof(line), fmt, ap);
    if (level < AD_LOG_DEBUG || level > AD_LOG_ERROR)
        level = AD_LOG_ERROR;
    /* One fprintf per event, so lines from concurrent ranks do not interleave. */
    if (s_want_stamp()) {
        struct timeval tv;
        char stamp[40];

        gettimeofday(&tv, NULL);
        ad_log_stamp((double)tv.tv_sec + tv.tv_usec / 1e6, stamp, sizeof(stamp));
        fprintf(stderr, "%s %s: %s: %s\n", stamp, s_prog, names[level], line);
    } else {
        fprintf(stderr, "%s: %s: %s\n", s_prog, names[level], line);
    }
}

void
ad_log_write(int level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    s_vwrite(level, fmt, ap);
    va_end(ap);
}

/* ---- rate-limited lines ------------------------------------------------------ */

/* Keys followed at once; a line of a key beyond them is written without a limit. */
#define S_KEYS 64

/* One kind of event and its current interval. */
typedef struct {
    const char *key;  /* the caller's string (compared by content) */
    double start;     /* when the interval began */
    int written;      /* lines written in it */
    long suppressed;  /* lines held back in it */
    int level;        /* level of the last line held back */
} s_limit_t;

static pthread_mutex_t s_limit_lock = PTHREAD_MUTEX_INITIALIZER;
static s_limit_t s_limits[S_KEYS];
static int s_limit_burst = AD_LOG_LIMIT_BURST;
static double s_limit_interval = AD_LOG_LIMIT_INTERVAL_S;
static double (*s_limit_now)(void) = ad_clock_now;

/* Say how many lines of l were held back, if any, and start its next interval at now. */
static int
s_limit_roll(s_limit_t *l, double now)
{
    int said = 0;

    if (l->suppressed) {
        ad_log_write(l->level, "%s: %ld similar line%s suppressed in the last %.0f s", l->key,
                     l->suppressed, l->suppressed == 1 ? "" : "s", now - l->start);
        said = 1;
    }
    l->start = now;
    l->written = 0;
    l->suppressed = 0;
    return said;
}

int
ad_log_limited_write(const char *key, int level, const char *fmt, ...)
{
    s_limit_t *l = NULL;
    double now = s_limit_now();
    int write = 1;
    va_list ap;

    pthread_mutex_lock(&s_limit_lock);
    for (int i = 0; i < S_KEYS && !l; i++) {
        if (!s_limits[i].key) {
            s_limits[i].key = key;
            s_limits[i].start = now;
            l = &s_limits[i];
        } else if (!strcmp(s_limits[i].key, key)) {
            l = &s_limits[i];
        }
    }
    if (l) {
        if (now - l->start >= s_limit_interval)
            s_limit_roll(l, now);
        write = l->written < s_limit_burst;
        if (write) {
            l->written++;
        } else {
            l->suppressed++;
            l->level = level;
        }
    }
    pthread_mutex_unlock(&s_limit_lock);
    if (!write)
        return 0;
    va_start(ap, fmt);
    s_vwrite(level, fmt, ap);
    va_end(ap);
    return 1;
}

int
ad_log_limited_flush(void)
{
    double now = s_limit_now();
    int said = 0;

    pthread_mutex_lock(&s_limit_lock);
    for (int i = 0; i < S_KEYS && s_limits[i].key; i++)
        if (now - s_limits[i].start >= s_limit_interval)
            said += s_limit_roll(&s_limits[i], now);
    pthread_mutex_unlock(&s_limit_lock);
    return said;
}

void
ad_log_limit_config(int burst, double interval_s, double (*now)(void))
{
    pthread_mutex_lock(&s_limit_lock);
    s_limit_burst = burst;
    s_limit_interval = interval_s;
    s_limit_now = now ? now : ad_clock_now;
    memset(s_limits, 0, sizeof(s_limits));
    pthread_mutex_unlock(&s_limit_lock);
}
