/* ad_load.c - CPU and memory load of this machine and of one process, from /proc */
#include "autodist/ad_load.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
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

/* ---------------------------------------------------------------------------------------- */
/* CPU of autodist jobs.                                                                    */

/* utime + stime and starttime of /proc/PID/stat; false when it cannot be read. */
static bool
s_proc_stat(const char *root, int pid, uint64_t *ticks, uint64_t *start)
{
    char path[300], buf[1024], *p;
    unsigned long long v[20];
    ssize_t n;
    int fd, k;

    snprintf(path, sizeof(path), "%s/%d/stat", root, pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    /* The command name may hold spaces and parentheses: fields start after the last ')'. */
    p = strrchr(buf, ')');
    if (!p)
        return false;
    p++;
    /* Field 3 (state) is a letter; read fields 4..22 as numbers (utime 14, stime 15, start 22). */
    while (*p == ' ')
        p++;
    if (*p)
        p++;
    for (k = 0; k < 19; k++) {
        char *end;

        v[k] = strtoull(p, &end, 10);
        if (end == p)
            return false;
        p = end;
    }
    *ticks = v[10] + v[11];
    *start = v[18];
    return true;
}

/* AUTODIST_JOB of /proc/PID/environ, or 0. */
static int64_t
s_proc_job(const char *root, int pid)
{
    static const char key[] = "AUTODIST_JOB=";
    char path[300], *buf;
    size_t cap = 1 << 16;
    int64_t job = 0;
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "%s/%d/environ", root, pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    buf = ad_malloc(cap + 1);
    n = read(fd, buf, cap);
    close(fd);
    if (n > 0) {
        buf[n] = '\0';
        for (char *p = buf; p < buf + n; p += strlen(p) + 1)
            if (!strncmp(p, key, sizeof(key) - 1)) {
                job = strtoll(p + sizeof(key) - 1, NULL, 10);
                break;
            }
    }
    free(buf);
    return job > 0 ? job : 0;
}

static int
s_proc_cmp(const void *a, const void *b)
{
    const ad_load_proc_t *x = a, *y = b;

    return (x->pid > y->pid) - (x->pid < y->pid);
}

/* Add ticks to job's entry of out (n used, room cap). */
static void
s_job_add(ad_load_job_cpu_t *out, size_t *n, size_t cap, int64_t job, uint64_t ticks)
{
    for (size_t i = 0; i < *n; i++)
        if (out[i].job == job) {
            out[i].ticks += ticks;
            return;
        }
    if (*n < cap)
        out[(*n)++] = (ad_load_job_cpu_t){job, ticks};
}

size_t
ad_load_jobs_scan(ad_load_jobs_t *st, const char *proc_root, ad_load_job_cpu_t *out, size_t cap)
{
    const char *root = proc_root ? proc_root : "/proc";
    ad_load_proc_t *now = NULL;
    size_t n_now = 0, cap_now = 0, n_out = 0;
    struct dirent *de;
    DIR *d;

    d = opendir(root);
    if (!d)
        return 0;
    while ((de = readdir(d))) {
        ad_load_proc_t key = {0}, *prev;
        char *end;
        long pid = strtol(de->d_name, &end, 10);

        if (*end || pid <= 0 || pid > INT32_MAX)
            continue;
        key.pid = (int)pid;
        if (!s_proc_stat(root, key.pid, &key.ticks, &key.start))
            continue;
        prev = st->n ? bsearch(&key, st->procs, st->n, sizeof(key), s_proc_cmp) : NULL;
        if (prev && prev->start != key.start)
            prev = NULL;
        /* The environment is read once per process: a job's processes keep their mark. */
        key.job = prev ? prev->job : s_proc_job(root, key.pid);
        if (st->scanned && key.job > 0) {
            uint64_t delta =
                prev ? (key.ticks > prev->ticks ? key.ticks - prev->ticks : 0) : key.ticks;

            s_job_add(out, &n_out, cap, key.job, delta);
        }
        if (n_now == cap_now) {
            cap_now = cap_now ? 2 * cap_now : 256;
            now = ad_realloc(now, cap_now * sizeof(*now));
        }
        now[n_now++] = key;
    }
    closedir(d);
    qsort(now, n_now, sizeof(*now), s_proc_cmp);
    free(st->procs);
    st->procs = now;
    st->n = n_now;
    st->cap = cap_now;
    st->scanned = true;
    return n_out;
}

void
ad_load_jobs_clear(ad_load_jobs_t *st)
{
    free(st->procs);
    memset(st, 0, sizeof(*st));
}
