/* ad_load.h - CPU and memory load of this machine and of one process, from /proc */
#ifndef AD_LOAD_H
#define AD_LOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "autodist/ad_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where the figures come from (Linux procfs). */
#define AD_LOAD_STAT_PATH "/proc/stat"
#define AD_LOAD_MEMINFO_PATH "/proc/meminfo"

/* Cumulative CPU time of all cores (the "cpu" line of /proc/stat), in clock ticks. */
typedef struct ad_cpu_times {
    uint64_t busy;  /* everything but idle and iowait */
    uint64_t total; /* busy + idle + iowait */
} ad_cpu_times_t;

/* One load sample, as a HEARTBEAT carries it (docs/protocol.md). */
typedef struct ad_load {
    double cpu;               /* busy fraction of all cores since the previous sample, 0..1 */
    uint64_t mem_used_bytes;  /* MemTotal - MemAvailable */
    uint64_t mem_total_bytes; /* MemTotal */
} ad_load_t;

/*
 * Read the "cpu" line of /proc/stat-formatted text.  Returns 0 with *out
 * set, or AD_EPARSE with err naming what is missing or malformed.
 */
int ad_load_parse_stat(const char *text, ad_cpu_times_t *out, ad_err_t *err);

/*
 * Read MemTotal and MemAvailable (kB) of /proc/meminfo-formatted text.
 * Returns 0 with both set in bytes (used = total - available, never
 * negative), or AD_EPARSE with err naming the missing or bad field.
 */
int ad_load_parse_meminfo(const char *text, uint64_t *used, uint64_t *total, ad_err_t *err);

/* Read AD_LOAD_STAT_PATH.  Returns 0, a negative errno naming the file, or AD_EPARSE. */
int ad_load_cpu_times(ad_cpu_times_t *out, ad_err_t *err);

/*
 * Busy fraction between two readings, in 0..1; 0 when no tick passed or the
 * counters went backwards.
 */
double ad_load_cpu_busy(const ad_cpu_times_t *prev, const ad_cpu_times_t *now);

/*
 * Sample the load now: CPU busy fraction since *prev (which is then
 * replaced by the current reading, so the next sample covers the time from
 * here) and memory.  Returns 0 with *out filled, or the error of reading
 * either file (out and prev are then unchanged).
 */
int ad_load_sample(ad_cpu_times_t *prev, ad_load_t *out, ad_err_t *err);

/* ---- CPU of autodist jobs: what "other load" leaves out (docs/speedup.md, noisy) ---- */

/* One process seen at the previous scan. */
typedef struct ad_load_proc {
    int pid;        /* process id */
    uint64_t start; /* its start time (ticks since boot): a reused pid is another process */
    uint64_t ticks; /* its user + system CPU ticks then */
    int64_t job;    /* AUTODIST_JOB of its environment; 0 = none (not a job's) */
} ad_load_proc_t;

/* What ad_load_jobs_scan() remembers between scans; zero-filled to start. */
typedef struct ad_load_jobs {
    ad_load_proc_t *procs; /* processes of the previous scan, by pid */
    size_t n, cap;         /* entries, room */
    bool scanned;          /* a scan happened: deltas mean something */
} ad_load_jobs_t;

/* One job's CPU since the previous scan. */
typedef struct ad_load_job_cpu {
    int64_t job;    /* AUTODIST_JOB */
    uint64_t ticks; /* user + system ticks of its processes (all threads) */
} ad_load_job_cpu_t;

/*
 * Scan proc_root (NULL: "/proc") for the processes whose environment holds
 * AUTODIST_JOB=<id> (a job's launcher, mpirun and ranks; other users'
 * processes cannot be read and count as not a job's) and put into out (room
 * for cap entries) the CPU ticks each
 * job used since the previous scan.  The first scan only remembers.  Returns how
 * many jobs were written (at most cap).
 */
size_t ad_load_jobs_scan(ad_load_jobs_t *st, const char *proc_root, ad_load_job_cpu_t *out,
                         size_t cap);

/* Free what st holds; it can scan again from nothing. */
void ad_load_jobs_clear(ad_load_jobs_t *st);

#ifdef __cplusplus
}
#endif

#endif
