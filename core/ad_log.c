/* ad_log.c - leveled, one-line-per-event logging to stderr */
#include "autodist/ad_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

int ad_log_level = AD_LOG_INFO;
static char s_prog[64] = "autodist";

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

void
ad_log_write(int level, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    char line[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (level < AD_LOG_DEBUG || level > AD_LOG_ERROR)
        level = AD_LOG_ERROR;
    /* One fprintf per event, so lines from concurrent ranks do not interleave. */
    fprintf(stderr, "%s: %s: %s\n", s_prog, names[level], line);
}
