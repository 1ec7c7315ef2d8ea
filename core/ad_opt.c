/* ad_opt.c - command-line option values: integers, numbers and seconds in a range, durations */
#include "autodist/ad_opt.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The range [min, max] or min..max, as flags ask, in buf. */
static const char *
s_range(char *buf, size_t size, const char *lo, const char *hi, unsigned flags)
{
    snprintf(buf, size, (flags & AD_OPT_DOTS) ? "%s..%s" : "[%s, %s]", lo, hi);
    return buf;
}

int
ad_opt_int(const char *name, const char *text, int64_t min, int64_t max, unsigned flags,
           int64_t *out, ad_err_t *err)
{
    char lo[24], hi[24], range[56], *end;
    long long v;

    errno = 0;
    v = strtoll(text, &end, 10);
    if (!errno && end != text && !*end && v >= min && v <= max) {
        *out = v;
        return 0;
    }
    snprintf(lo, sizeof(lo), "%" PRId64, min);
    snprintf(hi, sizeof(hi), "%" PRId64, max);
    return ad_err_set(err, AD_EINVAL, "%s must be an integer in %s, got \"%s\"", name,
                      s_range(range, sizeof(range), lo, hi, flags), text);
}

/* A finite number in [min, max]; the message calls it what ("a number", "seconds"). */
static int
s_real(const char *name, const char *what, const char *text, double min, double max,
       unsigned flags, double *out, ad_err_t *err)
{
    char lo[32], hi[32], range[72], *end;
    double v;

    errno = 0;
    v = strtod(text, &end);
    if (!errno && end != text && !*end && isfinite(v) && v >= min && v <= max) {
        *out = v;
        return 0;
    }
    snprintf(lo, sizeof(lo), "%g", min);
    snprintf(hi, sizeof(hi), "%g", max);
    return ad_err_set(err, AD_EINVAL, "%s must be %s in %s, got \"%s\"", name, what,
                      s_range(range, sizeof(range), lo, hi, flags), text);
}

int
ad_opt_real(const char *name, const char *text, double min, double max, unsigned flags,
            double *out, ad_err_t *err)
{
    return s_real(name, "a number", text, min, max, flags, out, err);
}

int
ad_opt_seconds(const char *name, const char *text, double min, double max, unsigned flags,
               double *out, ad_err_t *err)
{
    return s_real(name, "seconds", text, min, max, flags, out, err);
}

bool
ad_opt_parse_strict_int(const char *s, int64_t *out)
{
    uint64_t v = 0, limit;
    bool neg = false;

    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    if (*s < '0' || *s > '9' || (s[0] == '0' && s[1]))
        return false;
    limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');

        if (v > (limit - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (*s)
        return false;
    *out = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    return true;
}

bool
ad_opt_parse_duration(const char *s, int64_t *out)
{
    static const char units[] = "dhms";
    static const int64_t secs[] = {86400, 3600, 60, 1};
    int64_t total = 0, v;
    int next = 0;

    if (ad_opt_parse_strict_int(s, out))
        return true;
    if (!*s)
        return false;
    while (*s) {
        const char *u;
        int digits = 0;

        for (v = 0; *s >= '0' && *s <= '9' && digits < 9; s++, digits++)
            v = v * 10 + (*s - '0');
        if (!digits || !*s || !(u = strchr(units + next, *s)))
            return false;
        total += v * secs[u - units];
        next = (int)(u - units) + 1;
        s++;
    }
    *out = total;
    return true;
}

int
ad_opt_getopt_error(const struct option *longs, int first, char *const *argv, ad_err_t *err)
{
    if (optopt && optopt < 256)
        return ad_err_set(err, AD_EINVAL, "unknown option -%c (try --help)", optopt);
    if (optopt)
        return ad_err_set(err, AD_EINVAL, "option --%s needs a value", longs[optopt - first].name);
    return ad_err_set(err, AD_EINVAL, "unknown option %s (try --help)", argv[optind - 1]);
}
