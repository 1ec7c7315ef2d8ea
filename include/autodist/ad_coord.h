/* ad_coord.h - the coordinator's store side: nodes, profiles and jobs as autodistd records them */
#ifndef AD_COORD_H
#define AD_COORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "autodist/ad_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A thin layer over ad_store.h for autodistd: what the coordinator records,
 * in the shapes its messages carry (JSON objects, state names such as
 * "PENDING").  It keeps no state of its own: every function takes the store
 * the caller opened (ad_store_open()) and still owns.
 */

/* The store (ad_store.h); opaque here. */
typedef struct ad_store ad_store_t;

/*
 * A node said HELLO: put it UP (hostname name) and add a profile row from the
 * HELLO's profile (fingerprint, cpu.model, cpu.cores...).  Returns 0 with *id
 * its node id, or a negative code with err set.
 */
int ad_coord_node_up(ad_store_t *store, const char *name, const json_t *profile, int64_t *id,
                     ad_err_t *err);

/* Record a sign of life (last_seen = now) or the node going DOWN.  Returns 0 or a negative code. */
int ad_coord_node_seen(ad_store_t *store, const char *name, bool down, ad_err_t *err);

/*
 * Add a submitted job PENDING: name, its spec (JSON text) and layout.
 * Returns 0 with *id, or a negative code with err set.
 */
int ad_coord_job_add(ad_store_t *store, const char *name, const char *spec, int nodes, int ppn,
                     int tpp, int64_t *id, ad_err_t *err);

/*
 * Move job id to state (a name from ad_store_job_state_name()) with reason (NULL
 * clears) and exit_code (INT32_MIN keeps).  Returns 0, -ENOENT, AD_EINVAL or AD_EDB.
 */
int ad_coord_job_set(ad_store_t *store, int64_t id, const char *state, const char *reason,
                     int exit_code, ad_err_t *err);

/* Record a running job's layout, device ("cpu"/"gpu") and nodelist.  Returns 0 or a negative code.
 */
int ad_coord_job_place(ad_store_t *store, int64_t id, int nodes, int ppn, int tpp,
                       const char *device, const char *nodelist, ad_err_t *err);

/*
 * Record the process of RUNNING job id (its autodist-launch: pid and
 * ad_proc_identity()) and its run row, so a coordinator started again finds
 * it.  Returns 0 or a negative code.
 */
int ad_coord_job_proc(ad_store_t *store, int64_t id, pid_t pid, const char *identity, int64_t run,
                      ad_err_t *err);

/* Record sweep id's state, dispatch options and owner (a RUNNING sweep reopens at start). */
int ad_coord_sweep_run(ad_store_t *store, int64_t id, const char *state, int max_parallel,
                       bool retry_failed, const char *owner, ad_err_t *err);

/*
 * Job id as a JSON object {id, name, state, reason, submitted, started,
 * ended, exit_code, nodes, procs_per_node, threads_per_proc, nodelist, spec,
 * sweep (id or null), config_hash (or null)}
 * (a new reference), or NULL with err set (-ENOENT, AD_EDB).  *state_out (may
 * be NULL) receives the state name (static).
 */
json_t *ad_coord_job_json(ad_store_t *store, int64_t id, const char **state_out, ad_err_t *err);

/*
 * Jobs, newest first, as an array of the objects above: state (a name, NULL
 * = any), only_live (not in a final state), name (NULL = any), limit (0 = all).
 * Returns a new reference or NULL with err set.
 */
json_t *ad_coord_jobs_json(ad_store_t *store, const char *state, bool only_live, const char *name,
                           int64_t limit, ad_err_t *err);

/*
 * Signs of life of n nodes (last_seen = now), in one transaction: the
 * daemon batches heartbeats instead of writing the store on each one.
 * Unknown names are skipped.  Returns 0 or a negative code with err set.
 */
int ad_coord_nodes_seen(ad_store_t *store, const char *const *names, size_t n, ad_err_t *err);

/* What a run row is made of when its job starts. */
typedef struct ad_coord_run {
    int64_t job;          /* the job id */
    const char *model;    /* model zoo name */
    const char *dataset;  /* dataset label (docs/daemon.md) */
    const char *hardware; /* hardware class fingerprint of the nodes, or NULL */
    const char *device;   /* "cpu" or "gpu" */
    int nodes, procs_per_node, threads_per_proc;
    int64_t batch_size;      /* global batch */
    const char *config_hash; /* the job's stable hash */
    int64_t sweep;           /* the sweep the job belongs to; 0 = none */
    bool probe;              /* a layout: auto probe: never a baseline (docs/speedup.md) */
    const char *kind;        /* runs.kind: "finetune" for a job with finetune:; NULL = train */
} ad_coord_run_t;

/* Add a RUNNING run for a job that starts.  Returns 0 with *id, or a negative code. */
int ad_coord_run_start(ad_store_t *store, const ad_coord_run_t *run, int64_t *id, ad_err_t *err);

/* How a run ended; NaN = not measured, params 0 = unknown. */
typedef struct ad_coord_result {
    const char *state;    /* a final state name */
    double samples_per_s; /* training throughput */
    double epoch_time_s;  /* mean epoch time */
    double accuracy;      /* last test (else validation) accuracy, 0..1 */
    double step_time_s;   /* mean step time */
    double comm_time_s;   /* mean communication time per step */
    int64_t params;       /* model parameters */
    double ended;         /* unix s it ended (0 = now: when the store writes it) */
    /* Issue 11 (docs/speedup.md); NaN / 0 = not measured. */
    double sps_sd;         /* spread of samples_per_s over its steady-state steps */
    int64_t sps_steps;     /* those steps */
    double load_other;     /* most cores others kept busy on its nodes */
    double cpu_time_s;     /* CPU time of all ranks */
    int64_t max_rss_bytes; /* peak memory of the largest rank */
    int64_t test_samples;  /* images behind its accuracy */
} ad_coord_result_t;

/* A run's flags (a comma list, NULL = none) as a JSON array of strings, new. */
json_t *ad_coord_flags_json(const char *flags);

/* Record the end of run id; its speedup is computed by the store.  Returns 0 or a negative code. */
int ad_coord_run_finish(ad_store_t *store, int64_t id, const ad_coord_result_t *res, ad_err_t *err);

/* One metric sample: step, key, value. */
typedef struct ad_coord_metric {
    int64_t step;
    const char *key;
    double value;
} ad_coord_metric_t;

/* Add n metric samples of run id in one transaction.  Returns 0 or a negative code. */
int ad_coord_run_metrics(ad_store_t *store, int64_t id, const ad_coord_metric_t *m, size_t n,
                         ad_err_t *err);

/*
 * The outcome of job id's latest run as STATUS shows it: {run, state,
 * samples_per_s, speedup, baseline, accuracy, epoch_time_s, step_time_s,
 * wall_s} (nulls for what is unknown), a new reference; NULL when the job
 * has no run (or on a store error, logged).
 */
json_t *ad_coord_job_result(ad_store_t *store, int64_t job);

/* Whether the state name is a final one (COMPLETED, FAILED, ...). */
bool ad_coord_state_is_final(const char *state);

/* ---- sweeps (docs/sweeps.md) ---- */

/*
 * Record sweep name with file_hash (ad_sweep_hash()) and spec (its canonical
 * JSON), or find the row of that name and hash so a rerun resumes it.
 * Returns 0 with *id and *created (may be NULL), or a negative code with err set.
 */
int ad_coord_sweep_add(ad_store_t *store, const char *name, const char *file_hash, const char *spec,
                       int64_t *id, bool *created, ad_err_t *err);

/*
 * Every recorded version of sweep name (one per file hash), oldest first, as
 * a JSON array of {id, file_hash, created, owner?} (a new reference; [] when there
 * is none), or NULL with err set on a store error.
 */
json_t *ad_coord_sweep_versions(ad_store_t *store, const char *name, ad_err_t *err);

/* The sweep job id belongs to; 0 when none (or when the store cannot say). */
int64_t ad_coord_job_sweep(ad_store_t *store, int64_t id);

/* The spec (canonical JSON) of sweep id as a new string, or NULL with err set (-ENOENT, AD_EDB). */
char *ad_coord_sweep_spec(ad_store_t *store, int64_t id, ad_err_t *err);

/* A job of a sweep as a resume reads it; strings borrowed for the callback. */
typedef struct ad_coord_sweep_job {
    int64_t id;              /* job id */
    const char *config_hash; /* its configuration hash; NULL = none */
    const char *state;       /* its state name ("COMPLETED", ...) */
    double started, ended;   /* unix s; NaN = not yet */
} ad_coord_sweep_job_t;

/* Callback of ad_coord_sweep_jobs(): 0 goes on, anything else stops. */
typedef int (*ad_coord_sweep_job_fn)(const ad_coord_sweep_job_t *job, void *arg);

/* Call fn for each job of sweep id, by id.  Returns 0, fn's non-zero value, or a negative code. */
int ad_coord_sweep_jobs(ad_store_t *store, int64_t sweep, ad_coord_sweep_job_fn fn, void *arg,
                        ad_err_t *err);

/*
 * ad_coord_job_add() for a job of a sweep: it also records the sweep id and
 * the configuration hash, which a rerun of the sweep looks for.  Returns 0
 * with *id, or a negative code with err set.
 */
int ad_coord_sweep_job_add(ad_store_t *store, const char *name, const char *spec, int nodes,
                           int ppn, int tpp, int64_t sweep, const char *config_hash, int64_t *id,
                           ad_err_t *err);

#ifdef __cplusplus
}
#endif

#endif
