/* ad_load.c - CPU and memory load of this machine and of one process, from /proc */
#include "autodist/ad_load.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Both files are a few KiB; /proc/stat grows with interrupts and cores, so read generously. */
#define S_READ_MAX (1u << 20)

/* Read a procfs file whole (its size is 0 to stat(), so read until EOF). */
static int
s_slurp(const char *path, char **out, ad_err_t *err)
{
    size_t cap = 8192, len = 0;
    char *buf;
    FILE *fp;

    fp = fopen(path, "r");
    if (!fp)
        return ad_err_set(err, -errno, "%s: %s", path, strerror(errno));
    buf = ad_malloc(cap);
    for (;;) {
        size_t n = fread(buf + len, 1, cap - len - 1, fp);

        len += n;
        if (len + 1 < cap || cap >= S_READ_MAX)
            break;
        cap *= 2;
        buf = ad_realloc(buf, cap);
    }
    if (ferror(fp)) {
        fclose(fp);
        free(buf);
        return ad_err_set(err, AD_EIO, "%s: read error", path);
    }
    fclose(fp);
    buf[len] = '\0';
    *out = buf;
    return 0;
}

int
ad_load_parse_stat(const char *text, ad_cpu_times_t *out, ad_err_t *err)
{
    uint64_t v[8] = {0};
    const char *p = text;
    char *end;
    int n;

    /* The aggregate line comes first; per-core lines are "cpu0", "cpu1", ... */
    while (p && strncmp(p, "cpu ", 4)) {
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    if (!p)
        return ad_err_set(err, AD_EPARSE, "stat: no \"cpu\" line");
    p += 4;
    /* user nice system idle iowait irq softirq steal; guest time is already in user. */
    for (n = 0; n < 8; n++) {
        while (*p == ' ')
            p++;
        if (*p == '\n' || *p == '\0')
            break;
        errno = 0;
        v[n] = strtoull(p, &end, 10);
        if (end == p || errno || (*end != ' ' && *end != '\n' && *end != '\0'))
            return ad_err_set(err, AD_EPARSE, "stat: \"cpu\" line: field %d is not a count", n + 1);
        p = end;
    }
    if (n < 4)
        return ad_err_set(err, AD_EPARSE, "stat: \"cpu\" line: %d fields, expected at least 4", n);
    out->total = 0;
    for (int i = 0; i < 8; i++)
        out->total += v[i];
    out->busy = out->total - v[3] - v[4];
    return 0;
}

/* The value of "Key:   123 kB" in meminfo text, in bytes. */
static int
s_meminfo_field(const char *text, const char *key, uint64_t *bytes, ad_err_t *err)
{
    size_t klen = strlen(key);
    const char *p = text;
    unsigned long long kb;
    char *end;

    while (p && !(strncmp(p, key, klen) == 0 && p[klen] == ':')) {
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    if (!p)
        return ad_err_set(err, AD_EPARSE, "meminfo: no %s line", key);
    p += klen + 1;
    errno = 0;
    kb = strtoull(p, &end, 10);
    while (*end == ' ')
        end++;
    if (end == p || errno || strncmp(end, "kB", 2) || kb > UINT64_MAX / 1024)
        return ad_err_set(err, AD_EPARSE, "meminfo: %s: expected a size in kB", key);
    *bytes = (uint64_t)kb * 1024;
    return 0;
}

int
ad_load_parse_meminfo(const char *text, uint64_t *used, uint64_t *total, ad_err_t *err)
{
    uint64_t t, avail;
    int rc;

    rc = s_meminfo_field(text, "MemTotal", &t, err);
    if (rc)
        return rc;
    rc = s_meminfo_field(text, "MemAvailable", &avail, err);
    if (rc)
        return rc;
    *total = t;
    *used = avail < t ? t - avail : 0;
    return 0;
}

int
ad_load_cpu_times(ad_cpu_times_t *out, ad_err_t *err)
{
    char *text;
    int rc;

    rc = s_slurp(AD_LOAD_STAT_PATH, &text, err);
    if (rc)
        return rc;
    rc = ad_load_parse_stat(text, out, err);
    free(text);
    return rc;
}

double
ad_load_cpu_busy(const ad_cpu_times_t *prev, const ad_cpu_times_t *now)
{
    uint64_t dt, db;
    double f;

    if (now->total <= prev->total || now->busy < prev->busy)
        return 0;
    dt = now->total - prev->total;
    db = now->busy - prev->busy;
    f = (double)db / (double)dt;
    return f > 1 ? 1 : f;
}

int
ad_load_sample(ad_cpu_times_t *prev, ad_load_t *out, ad_err_t *err)
{
    ad_cpu_times_t now;
    uint64_t used, total;
    char *text;
    int rc;

    rc = ad_load_cpu_times(&now, err);
    if (rc)
        return rc;
    rc = s_slurp(AD_LOAD_MEMINFO_PATH, &text, err);
    if (rc)
        return rc;
    rc = ad_load_parse_meminfo(text, &used, &total, err);
    free(text);
    if (rc)
        return rc;
    out->cpu = ad_load_cpu_busy(prev, &now);
    out->mem_used_bytes = used;
    out->mem_total_bytes = total;
    *prev = now;
    return 0;
}
