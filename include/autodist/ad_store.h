/* ad_store.h - the store: nodes, profiles, jobs, runs, metrics and sweeps in one SQLite file */
#ifndef AD_STORE_H
#define AD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autodist/ad_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * One SQLite file (default $AUTODIST_HOME/runs.db) in WAL mode, so the
 * daemon writes while `autodist runs` and `autodist speedup` read.  A handle
 * belongs to one thread.  Every failure comes back as a negative code:
 * AD_EDB for SQLite (busy, disk full, corrupt, not a database...), -ENOENT
 * for a missing row or file, AD_EINVAL for a refused change (an illegal job
 * state transition, a bad layout); the handle's message (ad_store_errmsg())
 * names the file, the operation and the cause.  Row structs are open
 * values: strings a getter fills are owned by the struct and freed by its
 * *_clear(); strings a caller puts in a struct passed to an add/put
 * function are only read.  A double that is NaN is NULL in the store
 * ("not measured", "not yet"); timestamps are unix seconds.
 */
typedef struct ad_store ad_store_t;

/* The schema version this code writes; older files are migrated on open. */
#define AD_STORE_SCHEMA_VERSION 6
/* PRAGMA application_id of an autodist store: "ADST". */
#define AD_STORE_APP_ID 0x41445354
/* How long a write waits for another process's lock before failing (ms). */
#define AD_STORE_BUSY_MS 5000
/* ad_job_row_t.exit_code when the job has not exited. */
#define AD_STORE_NO_EXIT (-2147483647 - 1)

/* Flags of ad_store_open(). */
enum {
    AD_STORE_CREATE = 1 << 0,   /* create the file when it does not exist */
    AD_STORE_READONLY = 1 << 1, /* never write; refuses a file that needs a migration */
};

/* --------------------------------------------------------------------------------------- */
/* States.                                                                                 */

/* Job and run states, named as Slurm names them. */
typedef enum {
    AD_JOB_PENDING = 0,   /* waiting for nodes (or a plan) */
    AD_JOB_RUNNING = 1,   /* mpirun started */
    AD_JOB_COMPLETED = 2, /* exited 0 */
    AD_JOB_FAILED = 3,    /* exited non-zero or could not start */
    AD_JOB_CANCELLED = 4, /* cancelled by a user */
    AD_JOB_TIMEOUT = 5,   /* ran past its time limit */
    AD_JOB_NODE_FAIL = 6, /* a node it ran on went DOWN */
} ad_job_state_t;

#define AD_JOB_STATE_COUNT 7
/* Bit of a state in a state mask (0 as a mask means every state). */
#define AD_JOB_MASK(state) (1u << (state))

/* "PENDING", "RUNNING", ...; "UNKNOWN" for a value out of range. */
const char *ad_store_job_state_name(ad_job_state_t state);

/* Parse a state name (any case).  Returns 0, or AD_EINVAL for an unknown name. */
int ad_store_job_state_from_name(const char *name, ad_job_state_t *state);

/* True for COMPLETED, FAILED, CANCELLED, TIMEOUT and NODE_FAIL. */
bool ad_store_job_state_is_final(ad_job_state_t state);

/*
 * True when a job may go from one state to the other: PENDING to RUNNING,
 * CANCELLED or FAILED; RUNNING to a final state or back to PENDING
 * (requeued); nothing leaves a final state.
 */
bool ad_store_job_state_can_move(ad_job_state_t from, ad_job_state_t to);

/* Node states. */
typedef enum {
    AD_NODE_UP = 0,    /* heartbeats arrive */
    AD_NODE_DOWN = 1,  /* three heartbeats missed */
    AD_NODE_DRAIN = 2, /* up, but takes no new jobs */
} ad_node_state_t;

/* "UP", "DOWN", "DRAIN"; "UNKNOWN" for a value out of range. */
const char *ad_store_node_state_name(ad_node_state_t state);

/* Parse a node state name (any case).  Returns 0 or AD_EINVAL. */
int ad_store_node_state_from_name(const char *name, ad_node_state_t *state);

/* --------------------------------------------------------------------------------------- */
/* Rows.                                                                                   */

/* A machine running an agent. */
typedef struct ad_node {
    int64_t id;            /* row id, set by the store */
    char *hostname;        /* unique; the key of ad_store_put_node() */
    char *address;         /* how to reach its agent (address or endpoint); NULL = unknown */
    ad_node_state_t state; /* UP, DOWN or DRAIN */
    char *hardware;        /* read only: hardware class of its latest profile; NULL = none */
    double first_seen;     /* first HELLO (unix s) */
    double last_seen;      /* latest sign of life (unix s) */
} ad_node_t;

/* What an agent measured on a machine (or what a cluster description says). */
typedef struct ad_profile_row {
    int64_t id;             /* row id, set by the store */
    int64_t node;           /* node measured; 0 = none (e.g. a cluster description) */
    char *hardware;         /* hardware class fingerprint: machines alike share it */
    double measured;        /* when (unix s); NaN = now on add */
    char *cpu_model;        /* CPU model name; NULL = unknown */
    int sockets;            /* 0 = unknown */
    int cores;              /* physical cores; 0 = unknown */
    int pus;                /* hardware threads; 0 = unknown */
    int gpus;               /* GPUs */
    int64_t memory_bytes;   /* 0 = unknown */
    double gemm_gflops_1;   /* single-core SGEMM GFLOP/s; NaN = not measured */
    double gemm_gflops_all; /* all-cores SGEMM GFLOP/s; NaN = not measured */
    double mem_bw_gbs;      /* memory bandwidth (stream triad) GB/s; NaN = not measured */
    char *topology;         /* topology as JSON (hwloc summary); NULL = none */
} ad_profile_row_t;

/* A job as the coordinator knows it. */
typedef struct ad_job_row {
    int64_t id;           /* row id, set by the store */
    char *name;           /* job name */
    char *spec;           /* the validated job as JSON */
    ad_job_state_t state; /* set by the store: PENDING on add */
    char *reason;         /* why it waits or why it ended; NULL = none */
    double submitted;     /* set by the store on add */
    double started;       /* set on RUNNING; NaN = not yet */
    double ended;         /* set on a final state; NaN = not yet */
    int exit_code;        /* mpirun's exit status; AD_STORE_NO_EXIT = none */
    int64_t sweep;        /* sweep it came from; 0 = none */
    char *config_hash;    /* the sweep configuration's stable hash; NULL = none */
    int nodes;            /* layout, 0 until decided (layout: auto) */
    int procs_per_node;   /* 0 until decided */
    int threads_per_proc; /* 0 until decided */
    char *device;         /* "cpu" or "gpu"; NULL until decided */
    char *nodelist;       /* comma-separated hostnames it runs on; NULL until placed */
    int attempts;         /* times it went back to PENDING (requeued) */
    int64_t run;          /* its current (or last) run row; 0 = none */
    int64_t pid;          /* while RUNNING: its autodist-launch, process group leader; 0 = none */
    char *pid_identity;   /* and that process's ad_proc_identity(); NULL = none */
} ad_job_row_t;

/* A sweep file, once per (name, file hash): a rerun of the same file finds it again. */
typedef struct ad_sweep_row {
    int64_t id;      /* row id, set by the store */
    char *name;      /* sweep name */
    char *file_hash; /* hash of the sweep file's content */
    char *spec;      /* the sweep as JSON; NULL = none */
    double created;  /* set by the store on add */
    char *state;     /* RUNNING, DONE, CANCELLED, STOPPED as last recorded; NULL = never */
    int max_parallel; /* its dispatch options as last recorded (docs/sweeps.md) */
    bool retry_failed;
    char *owner; /* who submitted it (docs/security.md); NULL = none */
} ad_sweep_row_t;

/* One training run: one layout of one configuration, measured (or imported). */
typedef struct ad_run {
    int64_t id;           /* row id, set by the store */
    int64_t job;          /* job it ran for; 0 = none (imported, probe) */
    int64_t sweep;        /* sweep it belongs to; 0 = none */
    char *config_hash;    /* stable hash of the configuration; NULL = none */
    char *model;          /* model zoo name; required */
    char *dataset;        /* dataset name; required */
    char *hardware;       /* hardware class of its nodes; NULL = "" on add */
    char *device;         /* "cpu" or "gpu"; NULL = "cpu" on add */
    int nodes;            /* >= 1 */
    int procs_per_node;   /* >= 1 */
    int threads_per_proc; /* >= 1 */
    int64_t batch_size;   /* global batch, >= 1 */
    ad_job_state_t state; /* RUNNING while it trains, then final */
    double started;       /* unix s; NaN on add = now if RUNNING, else unknown */
    double ended;         /* unix s; NaN = unknown or not yet */
    double samples_per_s; /* throughput; NaN = not measured */
    double epoch_time_s;  /* mean epoch time; NaN = not measured */
    double accuracy;      /* final test accuracy in [0, 1]; NaN = not evaluated */
    double step_time_s;   /* mean step time; NaN = not measured */
    double comm_time_s;   /* mean communication time per step; NaN = not measured */
    int64_t params;       /* model parameters; 0 = unknown */
    int64_t baseline;     /* set by the store: the baseline run; 0 = none yet */
    double speedup;       /* set by the store: samples_per_s / baseline's; NaN = none yet */
    /* Runs as experiments (schema 5, ad_store_tags.c): read back; add_run does not write them. */
    char *name; /* the job's name (ad_store_run_adopt_job()); NULL = none */
    char *spec; /* the job as canonical JSON: its hyper-parameters; NULL = none (imported) */
    char *note; /* free text (job key note:, autodist tag --note); NULL = none */
    char *tags; /* its tags as a JSON object of strings ("{}" when none); NULL = not read */
    /* Throughput spread, speedup interval, flags, resources (schema 5; docs/speedup.md). */
    double sps_sd;         /* standard deviation of samples/s over its steady-state steps; NaN */
    int64_t sps_steps;     /* steady-state steps behind samples_per_s; 0 = unknown */
    double speedup_lo;     /* set by the store: low end of the speedup's interval; NaN = none */
    double speedup_hi;     /* set by the store: high end of the speedup's interval; NaN = none */
    char *flags;           /* comma list (AD_STORE_FLAG_*); NULL = none */
    bool probe;            /* a `layout: auto` probe: never a baseline unless pinned */
    double load_other;     /* most cores other processes kept busy on its nodes; NaN = unknown */
    double cpu_time_s;     /* user + system CPU seconds of all its ranks; NaN = unknown */
    int64_t max_rss_bytes; /* peak resident memory of its largest rank; 0 = unknown */
    const char *kind;      /* add_run only: runs.kind, "finetune" (job key finetune:); NULL =
                              "train".  Only a training run is a baseline or has a speedup. */
} ad_run_t;

/* What ad_store_finish_run() records; NaN keeps the run's current value. */
typedef struct ad_run_result {
    ad_job_state_t state; /* a final state */
    double ended;         /* NaN = now */
    double samples_per_s; /* see ad_run_t */
    double epoch_time_s;  /* see ad_run_t */
    double accuracy;      /* see ad_run_t */
    double step_time_s;   /* see ad_run_t */
    double comm_time_s;   /* see ad_run_t */
    int64_t params;       /* 0 keeps the current value */
    /* Schema 5 (docs/speedup.md); NaN / 0 keeps the current value. */
    double sps_sd;         /* see ad_run_t */
    int64_t sps_steps;     /* see ad_run_t */
    double load_other;     /* see ad_run_t */
    double cpu_time_s;     /* see ad_run_t */
    int64_t max_rss_bytes; /* see ad_run_t */
    int64_t test_samples;  /* images its final accuracy was measured on; 0 = unknown */
} ad_run_result_t;

/* One metric sample of a run; key is borrowed. */
typedef struct ad_metric {
    int64_t step;    /* global step */
    const char *key; /* "loss", "samples_per_s", "comm_s", "eval_accuracy", ... */
    double value;    /* NaN (a diverged loss) is stored as NULL and read back as NaN */
} ad_metric_t;

/* Which runs to visit; zero-filled means all of them. */
typedef struct ad_run_filter {
    const char *model;    /* NULL = any */
    const char *dataset;  /* NULL = any */
    const char *hardware; /* NULL = any */
    const char *device;   /* NULL = any */
    int64_t batch_size;   /* 0 = any */
    int nodes;            /* 0 = any */
    int procs_per_node;   /* 0 = any */
    int threads_per_proc; /* 0 = any */
    int64_t job;          /* 0 = any */
    int64_t sweep;        /* 0 = any */
    unsigned states;      /* AD_JOB_MASK() bits; 0 = any (speedups: COMPLETED only) */
    int64_t limit;        /* at most this many rows; 0 = no limit */
    bool newest_first;    /* order by id descending instead of ascending */
    const char *kind;     /* runs.kind: NULL = "train" (training only), "infer", "*" = any */
} ad_run_filter_t;

/*
 * Speedup of one layout: the COMPLETED runs with a throughput that share
 * model, dataset, global batch, hardware class, layout and device.  Strings
 * are borrowed for the duration of the callback.
 */
typedef struct ad_speedup_row {
    const char *model;    /* group key */
    const char *dataset;  /* group key */
    const char *hardware; /* group key */
    const char *device;   /* group key */
    int64_t batch_size;   /* group key: global batch */
    int nodes;            /* group key */
    int procs_per_node;   /* group key */
    int threads_per_proc; /* group key */
    int64_t runs;         /* runs in the group */
    double samples_per_s; /* mean throughput */
    double samples_sd;    /* standard deviation of the throughput (0 for one run) */
    double speedup;       /* mean speedup of the runs that have one; NaN = no baseline */
    double efficiency;    /* speedup / cores used (cpu: nodes*ppn*tpp; gpu: nodes*ppn) */
    double speedup_lo;    /* low end of the mean speedup's interval; NaN = no baseline */
    double speedup_hi;    /* high end; NaN = no baseline */
    int64_t baseline_n;   /* 1x1x1 runs behind its baseline; 0 = none */
    const char *run_flags; /* the flags any of its runs has, a comma list ("" = none) */
} ad_speedup_row_t;

/*
 * The baseline of one (hardware class, model, dataset, global batch, device): the
 * mean of its 1x1x1 COMPLETED non-probe repeats, or the runs pinned by hand
 * (docs/speedup.md).  Strings are borrowed for the duration of the callback.
 */
typedef struct ad_baseline {
    const char *hardware; /* key: hardware class ("" when unknown) */
    const char *model;    /* key */
    const char *dataset;  /* key */
    int64_t batch_size;   /* key: global batch */
    const char *device;   /* key */
    const char *runs;     /* the runs it is the mean of: a JSON array of ids, "[3,7,12]" */
    double sps;           /* their mean samples/s */
    double sps_sd;        /* their standard deviation (between repeats); NaN with one run */
    int64_t n;            /* how many */
    bool pinned;          /* pinned by hand: new repeats do not change it */
    double updated;       /* when it last changed (unix s) */
} ad_baseline_t;

/* Flags of a run (ad_run_t.flags, a comma list in this order; docs/speedup.md). */
#define AD_STORE_FLAG_NOISY "noisy"                /* other processes loaded its nodes */
#define AD_STORE_FLAG_HIGH_SPREAD "high-spread"    /* its steady-state steps vary a lot */
#define AD_STORE_FLAG_EFFICIENCY "efficiency>100%" /* faster than ideal: not to be believed */
#define AD_STORE_FLAG_FEW_SAMPLES "few-samples"    /* accuracy measured on too few images */

/* Thresholds of the flags and constants of the interval (docs/speedup.md). */
#define AD_STORE_NOISY_CORES 0.5  /* noisy: others kept at least this many cores busy */
#define AD_STORE_HIGH_SPREAD 0.20 /* high-spread: sd / mean of its steps above this */
#define AD_STORE_FEW_SAMPLES 100  /* few-samples: accuracy from fewer test images */
#define AD_STORE_CV_FLOOR 0.10    /* least run-to-run variation assumed (sd / mean) */
#define AD_STORE_CV_ONE 0.15      /* run-to-run variation assumed with a one-run baseline */
#define AD_STORE_INTERVAL_Z 2.0   /* interval = speedup x exp(+-Z x relative sd) */

/*
 * The speedup of a run of sps (sd over its steps: run_sd, NaN = unknown) over a
 * baseline of base_sps, sd base_sd between its base_n repeats, into *speedup and
 * its interval [*lo, *hi]: relative sd s = sqrt(cv_run^2 + c^2 + c^2 / base_n)
 * where cv_run = run_sd / sps and c = max(base_sd / base_sps, AD_STORE_CV_FLOOR)
 * (AD_STORE_CV_ONE when base_n is 1), interval = speedup x exp(+-Z s).  NaN when
 * either throughput is missing.
 */
void ad_store_speedup_interval(double sps, double run_sd, double base_sps, double base_sd,
                               int64_t base_n, double *speedup, double *lo, double *hi);

/*
 * The flags of run (its samples_per_s, sps_sd, load_other, speedup, layout,
 * device and accuracy; few-samples from test_samples, or kept from run->flags
 * when 0, and only with an accuracy) into out as a comma list, "" when none.
 * Returns out.
 */
char *ad_store_run_flags(const ad_run_t *run, int64_t test_samples, char *out, size_t cap);

/* Callbacks of the ad_store_each_*() functions: return 0 to go on, anything else to stop. */
typedef int (*ad_store_run_fn)(const ad_run_t *run, void *arg);
typedef int (*ad_store_speedup_fn)(const ad_speedup_row_t *row, void *arg);
typedef int (*ad_store_metric_fn)(int64_t run, const ad_metric_t *metric, void *arg);
typedef int (*ad_store_baseline_fn)(const ad_baseline_t *baseline, void *arg);

/* Set the defaults: every double NaN, layout 1x1x1, state RUNNING, ids 0, strings NULL. */
void ad_store_run_init(ad_run_t *run);
/* Defaults for a finished run: the state given, every measurement NaN (kept), params 0. */
void ad_store_run_result_init(ad_run_result_t *res, ad_job_state_t state);
/* Defaults for add_job: strings NULL, layout 0 (undecided), no exit code, no sweep. */
void ad_store_job_row_init(ad_job_row_t *job);
/* Defaults for add_profile: counts 0, figures NaN, measured NaN (now). */
void ad_store_profile_row_init(ad_profile_row_t *profile);
/* Defaults for put_node: UP, times NaN (now). */
void ad_store_node_init(ad_node_t *node);

/* Free the owned strings of a row and zero it; NULL-safe and idempotent. */
void ad_store_run_clear(ad_run_t *run);
void ad_store_job_row_clear(ad_job_row_t *job);
void ad_store_node_clear(ad_node_t *node);
void ad_store_profile_row_clear(ad_profile_row_t *profile);
void ad_store_sweep_row_clear(ad_sweep_row_t *sweep);

/* Free an array returned by ad_store_list_jobs() / ad_store_list_nodes(); sets *rows_p NULL. */
void ad_store_job_rows_free(ad_job_row_t **rows_p, size_t n);
void ad_store_nodes_free(ad_node_t **rows_p, size_t n);

/* --------------------------------------------------------------------------------------- */
/* Handle.                                                                                 */

/*
 * Open the store at path (NULL: runs.db of the home ad_home_resolve(NULL)
 * finds, creating the home with AD_STORE_CREATE), switch it to WAL, turn
 * foreign keys on and wait up to AD_STORE_BUSY_MS for locks.  A file older
 * than AD_STORE_SCHEMA_VERSION is migrated, one transaction per version; an
 * empty or new file is initialised.  Returns 0 and sets *out (the caller
 * closes it with ad_store_close()), or a negative code with err saying why
 * and *out NULL: -ENOENT (no file and no AD_STORE_CREATE), AD_EDB for "PATH:
 * not an autodist store (file is not a database)", "PATH has schema 7, this
 * autodist knows up to 2: upgrade autodist", a read-only open of a file that
 * needs a migration, a lock held too long, a full disk.
 */
int ad_store_open(const char *path, unsigned flags, ad_store_t **out, ad_err_t *err);

/*
 * Close the store; NULL-safe and idempotent, sets *self_p to NULL.  A
 * transaction left open by ad_store_begin() is rolled back.
 */
void ad_store_close(ad_store_t **self_p);

/* The detail of the last failure on this handle (code 0 when the last call succeeded). */
const ad_err_t *ad_store_err(const ad_store_t *self);

/* The message of the last failure; "" when none.  Borrowed until the next call. */
const char *ad_store_errmsg(const ad_store_t *self);

/* The file's path, borrowed. */
const char *ad_store_path(const ad_store_t *self);

/* How long writes wait for another process's lock (ms); AD_STORE_BUSY_MS by default. */
void ad_store_set_busy_timeout(ad_store_t *self, int ms);

/* Whether the last failure was another process holding the store's lock (trying later may work). */
bool ad_store_busy(const ad_store_t *self);

/*
 * Start a write transaction, so a batch (an import of a million runs) is one
 * commit: every call until ad_store_commit() joins it, and a call that fails
 * undoes only its own changes.  Returns 0 or AD_EDB (busy).  Beginning twice
 * is misuse (assert).
 */
int ad_store_begin(ad_store_t *self);

/*
 * Commit the transaction.  Returns 0, or AD_EDB (busy, disk full) after
 * rolling everything back: nothing of the batch was written.
 */
int ad_store_commit(ad_store_t *self);

/* Roll the transaction back; does nothing without one.  Returns 0 or AD_EDB. */
int ad_store_rollback(ad_store_t *self);

/* --------------------------------------------------------------------------------------- */
/* Nodes and profiles.                                                                     */

/*
 * Insert a node, or update the node of the same hostname (address, state,
 * last_seen; first_seen is kept).  Times that are NaN mean now.  Returns 0
 * and sets *id (may be NULL), or AD_EDB.
 */
int ad_store_put_node(ad_store_t *self, const ad_node_t *node, int64_t *id);

/* Set a node's state and last_seen (NaN = now).  Returns 0, -ENOENT or AD_EDB. */
int ad_store_set_node_state(ad_store_t *self, int64_t id, ad_node_state_t state, double last_seen);

/* Fill out (cleared by the caller) with node id.  Returns 0, -ENOENT or AD_EDB. */
int ad_store_get_node(ad_store_t *self, int64_t id, ad_node_t *out);

/* Fill out with the node called hostname.  Returns 0, -ENOENT or AD_EDB. */
int ad_store_find_node(ad_store_t *self, const char *hostname, ad_node_t *out);

/*
 * Every node, by id, in a new array of *n rows owned by the caller
 * (ad_store_nodes_free()).  Returns 0 or AD_EDB (then *rows is NULL, *n 0).
 */
int ad_store_list_nodes(ad_store_t *self, ad_node_t **rows, size_t *n);

/*
 * Add a profile; hardware is required.  A node's profile that repeats its
 * latest one in every column but `measured` adds no row: *id is then that
 * row's (the history holds changes only).  Returns 0 and sets *id (may be
 * NULL), or AD_EDB.
 */
int ad_store_add_profile(ad_store_t *self, const ad_profile_row_t *profile, int64_t *id);

/* Fill out with the latest profile of node.  Returns 0, -ENOENT or AD_EDB. */
int ad_store_get_profile(ad_store_t *self, int64_t node, ad_profile_row_t *out);

/* Fill out with the latest profile of a hardware class.  Returns 0, -ENOENT or AD_EDB. */
int ad_store_find_profile(ad_store_t *self, const char *hardware, ad_profile_row_t *out);

/* --------------------------------------------------------------------------------------- */
/* Sweeps and jobs.                                                                        */

/*
 * Add a sweep, or find the one with the same name and file hash so a rerun
 * resumes it.  Returns 0 and sets *id and *created (either may be NULL), or
 * AD_EDB.
 */
int ad_store_add_sweep(ad_store_t *self, const ad_sweep_row_t *sweep, int64_t *id, bool *created);

/* Fill out with sweep id.  Returns 0, -ENOENT or AD_EDB. */
int ad_store_get_sweep(ad_store_t *self, int64_t id, ad_sweep_row_t *out);

/*
 * Every version of sweep name (one row per file hash), oldest first, in a
 * new array of *n rows owned by the caller (ad_store_sweep_rows_free()); *n is 0
 * when there is none.  Returns 0 or AD_EDB (then *rows is NULL and *n 0).
 */
int ad_store_find_sweeps(ad_store_t *self, const char *name, ad_sweep_row_t **rows, size_t *n);

/*
 * Record how sweep id stands (state), its dispatch options and its owner
 * (NULL keeps the recorded one), so a coordinator started again reopens a
 * RUNNING sweep by itself.  Returns 0, -ENOENT or AD_EDB.
 */
int ad_store_set_sweep_run(ad_store_t *self, int64_t id, const char *state, int max_parallel,
                           bool retry_failed, const char *owner);

/*
 * The sweeps last recorded RUNNING, latest version of each name first: a new
 * array of *n rows owned by the caller (ad_store_sweep_rows_free()).
 * Returns 0 or AD_EDB.
 */
int ad_store_running_sweeps(ad_store_t *self, ad_sweep_row_t **rows, size_t *n);

/* Free an array returned by ad_store_find_sweeps(); NULL-safe, sets *rows_p to NULL. */
void ad_store_sweep_rows_free(ad_sweep_row_t **rows_p, size_t n);

/* Callback of ad_store_each_sweep_job(): return 0 to go on, anything else to stop. */
typedef int (*ad_store_job_fn)(const ad_job_row_t *job, void *arg);

/*
 * Call fn for each job of sweep, by id, to resume the sweep: the row (and
 * its strings) is borrowed for the call and holds id, sweep, state,
 * config_hash, submitted, started, ended and exit_code only (name, spec,
 * reason, layout and nodelist are left out: a sweep may have 100,000 jobs).
 * Uses the jobs_sweep index.  Returns 0, fn's non-zero value, or AD_EDB.
 */
int ad_store_each_sweep_job(ad_store_t *self, int64_t sweep, ad_store_job_fn fn, void *arg);

/*
 * Add a submitted job (name required): the store sets it PENDING and stamps
 * submitted; its state, times and exit code in job are ignored, the layout
 * columns and the sweep are taken as given.  Returns 0 and sets *id (may be
 * NULL), or AD_EDB.
 */
int ad_store_add_job(ad_store_t *self, const ad_job_row_t *job, int64_t *id);

/*
 * Move job id to state, with reason (NULL clears it) and exit_code
 * (AD_STORE_NO_EXIT keeps it).  RUNNING stamps started, a final state stamps
 * ended, PENDING (requeue) clears started.  Returns 0, -ENOENT, AD_EINVAL for
 * a move ad_store_job_state_can_move() refuses ("job 3: cannot go from COMPLETED
 * to RUNNING"), or AD_EDB.
 */
int ad_store_set_job_state(ad_store_t *self, int64_t id, ad_job_state_t state, const char *reason,
                           int exit_code);

/*
 * Record where job id runs: its layout (each >= 1), device and nodelist
 * (NULL keeps the current one).  Returns 0, -ENOENT, AD_EINVAL or AD_EDB.
 */
int ad_store_set_job_layout(ad_store_t *self, int64_t id, int nodes, int procs_per_node,
                            int threads_per_proc, const char *device, const char *nodelist);

/*
 * Record the process of RUNNING job id: the pid and ad_proc_identity() of its
 * autodist-launch, and its run row (0 = none), so a coordinator started again
 * finds it.  Returns 0, -ENOENT or AD_EDB.
 */
int ad_store_set_job_proc(ad_store_t *self, int64_t id, int64_t pid, const char *identity,
                          int64_t run);

/* Fill out (cleared by the caller) with job id.  Returns 0, -ENOENT or AD_EDB. */
int ad_store_get_job(ad_store_t *self, int64_t id, ad_job_row_t *out);

/* Record owner (a key's name; NULL: none) as job id's owner.  Returns 0, -ENOENT or AD_EDB. */
int ad_store_set_job_owner(ad_store_t *self, int64_t id, const char *owner);

/*
 * Job id's owner as a new string in *owner (the caller frees it; NULL when the
 * job has none).  Returns 0, -ENOENT or AD_EDB.
 */
int ad_store_get_job_owner(ad_store_t *self, int64_t id, char **owner);

/* How many jobs of owner are in state, in *n (index jobs_owner).  Returns 0 or AD_EDB. */
int ad_store_count_owner_jobs(ad_store_t *self, const char *owner, ad_job_state_t state,
                              int64_t *n);

/*
 * The jobs whose state is in the mask states (AD_JOB_MASK() bits; 0 = all),
 * by id, in a new array of *n rows owned by the caller (ad_store_job_rows_free()).
 * Returns 0 or AD_EDB (then *rows is NULL and *n 0).
 */
int ad_store_list_jobs(ad_store_t *self, unsigned states, ad_job_row_t **rows, size_t *n);

/* --------------------------------------------------------------------------------------- */
/* Runs, speedups and metrics.                                                             */

/*
 * Add a run.  A run added COMPLETED (an import) gets its baseline and
 * speedup at once, as ad_store_finish_run() gives them.  The id, baseline
 * and speedup in run are ignored.  Returns 0 and sets *id (may be NULL),
 * AD_EINVAL for a missing model or dataset or a layout or batch below 1, or
 * AD_EDB (nothing written).
 */
int ad_store_add_run(ad_store_t *self, const ad_run_t *run, int64_t *id);

/*
 * Record how run id ended.  When it COMPLETED with a throughput, its
 * baseline is the most recent COMPLETED run of 1 node x 1 process x 1
 * thread with the same model, dataset, global batch, hardware class and
 * device (latest ended, then highest id), and its speedup is samples_per_s
 * / the baseline's; a run of that shape is its own baseline (speedup 1)
 * and also gives a baseline to the runs of its group that had none.
 * Returns 0, -ENOENT, AD_EINVAL (state not final, run already finished) or
 * AD_EDB (nothing written).
 */
int ad_store_finish_run(ad_store_t *self, int64_t id, const ad_run_result_t *res);

/* Fill out (cleared by the caller) with run id.  Returns 0, -ENOENT or AD_EDB. */
int ad_store_get_run(ad_store_t *self, int64_t id, ad_run_t *out);

/*
 * Fill out with the latest run of configuration config_hash in sweep
 * (0 = runs outside any sweep), to resume a sweep.  Returns 0, -ENOENT or
 * AD_EDB.
 */
int ad_store_find_run(ad_store_t *self, int64_t sweep, const char *config_hash, ad_run_t *out);

/*
 * Call fn for each run that filter (NULL = all) selects; the run and its
 * strings are borrowed for the call.  Returns 0, fn's non-zero value when
 * it stopped early, or AD_EDB.
 */
int ad_store_each_run(ad_store_t *self, const ad_run_filter_t *filter, ad_store_run_fn fn,
                      void *arg);

/*
 * Call fn for each layout group of COMPLETED runs that filter selects
 * (states and limit ignored), ordered by model, dataset, batch, hardware,
 * nodes, procs, threads and device.  Returns 0, fn's non-zero value, or AD_EDB.
 */
int ad_store_each_speedup(ad_store_t *self, const ad_run_filter_t *filter, ad_store_speedup_fn fn,
                          void *arg);

/* Whether ad_store_each_speedup_of() counts a run: true keeps it. */
typedef bool (*ad_store_keep_fn)(const ad_run_t *run, void *arg);

/*
 * Like ad_store_each_speedup(), computed from the runs themselves, so that a
 * condition on what a layout group does not hold (the accuracy, the id, a
 * job or sweep beyond one equality) chooses them: the COMPLETED runs with a
 * throughput that filter selects (states and limit ignored) and keep (NULL =
 * all; the run is borrowed for the call) accepts are grouped by layout, in
 * the same order and with the same figures.  It reads every run it
 * selects, so it is slower than ad_store_each_speedup() on a large store.
 * Returns 0, fn's non-zero value, or AD_EDB.
 */
int ad_store_each_speedup_of(ad_store_t *self, const ad_run_filter_t *filter, ad_store_keep_fn keep,
                             void *keep_arg, ad_store_speedup_fn fn, void *arg);

/*
 * Call fn for each baseline whose key filter selects (model, dataset, hardware,
 * device, batch_size; the rest ignored), ordered by model, dataset, batch,
 * hardware and device.  Returns 0, fn's non-zero value, or AD_EDB.
 */
int ad_store_each_baseline(ad_store_t *self, const ad_run_filter_t *filter, ad_store_baseline_fn fn,
                           void *arg);

/* Inference layouts (core/ad_store_infer.c, schema 6, docs/bench-infer.md). */

/* One layout and load mode that `autodist bench-infer` measured: a run of kind infer. */
typedef struct ad_infer_run {
    const char *model_path; /* the artifact directory (absolute) */
    const char *arch;       /* the zoo architecture: runs.model */
    const char *dataset;    /* "infer:<artifact name>": runs.dataset */
    const char *hardware;   /* hardware class of this node ("" = unknown) */
    const char *backend;    /* BLAS and engine the figures used; NULL = unknown */
    const char *mode;       /* "closed" (C outstanding) or "open" (Poisson arrivals) */
    int procs;              /* worker processes: runs.procs_per_node */
    int threads;            /* intra-op threads per process: runs.threads_per_proc */
    int batch;              /* largest batch a worker runs: runs.batch_size */
    int concurrency;        /* closed loop: requests outstanding; 0 = open loop */
    double rate;            /* open loop: arrivals per second; NaN = closed loop */
    double samples_per_s;   /* throughput achieved */
    double p50_ms;          /* latency percentiles, queueing included */
    double p95_ms;          /* ... */
    double p99_ms;          /* ... */
    double mean_ms;         /* mean latency */
    int64_t samples;        /* requests measured (warm-up excluded) */
    double speedup;         /* samples_per_s / the sequential's of the same bench; NaN = none */
    double started, ended;  /* when the layout ran (unix s) */
    double bench;           /* when the bench began (unix s): the layouts of one bench share it */
} ad_infer_run_t;

/*
 * Store r as a COMPLETED run of kind infer (one node) with its latency figures
 * (infer_runs).  It joins no speedup group, baseline or planner fit: those
 * read training runs only.  *id gets the run's id.  Returns 0, AD_EINVAL (a
 * layout below 1, no model path, unknown mode) or AD_EDB.
 */
int ad_store_add_infer_run(ad_store_t *self, const ad_infer_run_t *r, int64_t *id);

/* The layout ad_store_infer_best() chose. */
typedef struct ad_infer_choice {
    int64_t run;          /* the run measured */
    int procs;            /* processes */
    int threads;          /* intra-op threads per process */
    int batch;            /* largest batch */
    char mode[8];         /* "open" or "closed": which load its p95 comes from */
    double samples_per_s; /* its throughput */
    double p95_ms;        /* its p95 latency */
    bool met;             /* p95_ms <= the target (always true without one) */
} ad_infer_choice_t;

/*
 * The layout of the newest bench of the artifact at model_path with the
 * highest throughput whose p95 <= p95_ms: a layout's open-loop runs when it
 * has any, else its closed-loop run.  p95_ms <= 0 (or NaN): the best
 * closed-loop throughput.  No layout meets the target: the one with the
 * lowest p95, met false.  Returns 0, -ENOENT ("no inference bench of
 * MODEL_PATH: run autodist bench-infer MODEL first") or AD_EDB.
 */
int ad_store_infer_best(ad_store_t *self, const char *model_path, double p95_ms,
                        ad_infer_choice_t *out);

/*
 * Pin the baseline of the n runs ids: they must be COMPLETED 1x1x1 runs with a
 * throughput of one (hardware, model, dataset, batch, device), and not probes
 * unless probes_ok.  The baseline becomes their mean, new repeats no longer
 * change it, and every speedup of the group is recomputed.  Returns 0,
 * -ENOENT (no such run), AD_EINVAL naming the run that cannot be a baseline and
 * why, or AD_EDB.
 */
int ad_store_pin_baseline(ad_store_t *self, const int64_t *ids, size_t n, bool probes_ok);

/*
 * Unpin the baseline of run id's group: it is the mean of its repeats again,
 * and the group's speedups follow.  Returns 0, -ENOENT (no such run, or its
 * group has no pinned baseline) or AD_EDB.
 */
int ad_store_unpin_baseline(ad_store_t *self, int64_t id);

/*
 * Add n metric samples of run in one transaction: all of them or, on
 * failure, none.  A sample with the same (step, key) replaces the older one.
 * Returns 0, -ENOENT (no such run) or AD_EDB.
 */
int ad_store_add_metrics(ad_store_t *self, int64_t run, const ad_metric_t *metrics, size_t n);

/*
 * Call fn for each metric of run, or only those called key (NULL = all),
 * ordered by step then key; the key is borrowed for the call.  Returns 0,
 * fn's non-zero value, or AD_EDB.
 */
int ad_store_each_metric(ad_store_t *self, int64_t run, const char *key, ad_store_metric_fn fn,
                         void *arg);

/* --------------------------------------------------------------------------------------- */
/* Run records (schema 4, ad_store_records.c; docs/store.md "Run records").                */

/*
 * Store record (a JSON object as text) as run's record, replacing the one it
 * had.  Returns 0, AD_EINVAL when record is not a JSON object, -ENOENT when
 * there is no such run, or AD_EDB.
 */
int ad_store_put_record(ad_store_t *self, int64_t run, const char *record);

/*
 * Run's record as a new string in *record (the caller frees it), or *record
 * NULL when the run has none (imported, or made before schema 4).  Returns 0,
 * -ENOENT ("run N: no such run") or AD_EDB.
 */
int ad_store_get_record(ad_store_t *self, int64_t run, char **record);

/*
 * Set key (letters, digits and '_') of run's record to value (JSON text: an
 * object, an array, a string, a number, true, false or null), keeping the
 * rest; a run without a record gets {"format": 1, key: value}.  The lead's
 * reservation backend merges the reservation's final state so.  Returns 0,
 * AD_EINVAL (bad key or value), -ENOENT (no such run) or AD_EDB.
 */
int ad_store_record_merge(ad_store_t *self, int64_t run, const char *key, const char *value);

/*
 * What `layout: auto` did for the job of run (the record's "auto", written when
 * the job ended: docs/planner.md), with measured_samples_per_s and error_pct
 * from the run row, set as "auto" in the JSON object job (a jansson json_t);
 * nothing when the run has none.  Returns 0, -ENOENT when there is no such
 * run, or an error.
 */
/*
 * The largest peak memory of one rank (runs.max_rss_bytes) among the COMPLETED
 * runs of model on dataset and device with batch_per_rank samples per rank,
 * and that run, for the memory check at submit (docs/daemon.md, "Feasibility
 * and the queue"); 0 and 0 when no such run recorded one.  Returns 0 or an error.
 */
int ad_store_peak_rss(ad_store_t *self, const char *model, const char *dataset,
                      const char *device, int64_t batch_per_rank, int64_t *bytes, int64_t *run);

struct json_t;
int ad_store_record_auto(ad_store_t *self, int64_t run, struct json_t *job);

/*
 * Record that run reproduces original (0 clears it).  Returns 0, -ENOENT
 * (no such run, or no such original) or AD_EDB.
 */
int ad_store_set_reproduces(ad_store_t *self, int64_t run, int64_t original);

/* The run that run reproduces in *original (0: none).  Returns 0, -ENOENT or AD_EDB. */
int ad_store_get_reproduces(ad_store_t *self, int64_t run, int64_t *original);

/*
 * The runs that reproduce run, by id, in a new array of *n ids (the caller
 * frees it; NULL when there is none; index runs_reproduces).  Returns 0 or
 * AD_EDB.
 */
int ad_store_list_reproductions(ad_store_t *self, int64_t run, int64_t **ids, size_t *n);

/* --------------------------------------------------------------------------------------- */
/* Runs as experiments (schema 5, ad_store_tags.c; docs/store.md "Tags and notes").        */

/* True when key may name a tag: 1 to 64 letters, digits, '_', '-' or '.'. */
bool ad_store_tag_key_ok(const char *key);

/*
 * Give run the name and spec of job (the coordinator calls it when it
 * creates the run), its note from the spec's `note` and its tags from the
 * spec's `tags` object.  Returns 0, -ENOENT (no such run or job) or AD_EDB.
 */
int ad_store_run_adopt_job(ad_store_t *self, int64_t run, int64_t job);

/*
 * Set tag key of run to value (at most 1024 bytes), replacing the one it had.
 * Returns 0, AD_EINVAL (bad key or value), -ENOENT (no such run) or AD_EDB.
 */
int ad_store_set_tag(ad_store_t *self, int64_t run, const char *key, const char *value);

/* Remove tag key of run.  Returns 0, -ENOENT (no such run or tag) or AD_EDB. */
int ad_store_remove_tag(ad_store_t *self, int64_t run, const char *key);

/* Set run's note (NULL or "" clears it; at most 4096 bytes).  Returns 0, AD_EINVAL, -ENOENT or
 * AD_EDB. */
int ad_store_set_note(ad_store_t *self, int64_t run, const char *note);

/* Whether a run carries import key (`autodist import`) in *exists.  Returns 0 or AD_EDB. */
int ad_store_import_key_exists(ad_store_t *self, const char *key, bool *exists);

/*
 * Record run's import key (the hash of the imported row; unique: a second run
 * with the same key is AD_EDB).  Returns 0, -ENOENT or AD_EDB.
 */
int ad_store_set_import_key(ad_store_t *self, int64_t run, const char *key);

/*
 * The CPU time of run's ranks (NaN: not measured) and their peak resident
 * memory (0: not measured).  Returns 0, -ENOENT or AD_EDB.
 */
int ad_store_run_usage(ad_store_t *self, int64_t run, double *cpu_time_s, int64_t *max_rss_bytes);

/*
 * Every sweep, by id, in a new array of *n rows owned by the caller
 * (ad_store_sweep_rows_free()).  Returns 0 or AD_EDB (then *rows NULL, *n 0).
 */
int ad_store_list_sweeps(ad_store_t *self, ad_sweep_row_t **rows, size_t *n);

/* --------------------------------------------------------------------------------------- */
/* Inference artifacts (schema 6, core/ad_store_models.c; docs/inference.md).               */

/* A row of the models table: an exported or optimised artifact and its measurements. */
typedef struct ad_model_row {
    int64_t id;           /* row id */
    char *name;           /* short name (the artifact folder's name) */
    char *path;           /* absolute artifact folder (unique) */
    char *arch;           /* zoo architecture: cnn, resnet18, ... */
    char *variant;        /* fp32, int8, pruned50, pruned50s, ... */
    int64_t parent;       /* the model it was made from; 0 = none (an export) */
    int64_t run;          /* the training run it came from; 0 = unknown */
    int64_t size_bytes;   /* model.json + weights.bin; 0 = unknown */
    int64_t params;       /* weights in the graph; 0 = unknown */
    double accuracy;      /* test-split top-1 accuracy in [0, 1]; NaN = not measured */
    int64_t test_samples; /* samples behind accuracy; 0 = unknown */
    double p50_ms;        /* median latency at batch 1; NaN = not measured */
    double p95_ms;        /* 95th percentile latency at batch 1; NaN = not measured */
    double tput_b32;      /* samples/s at batch 32; NaN = not measured */
    int threads;          /* intra-op threads of the measurement; 0 = unknown */
    char *backend;        /* BLAS and quantisation engine of the figures; NULL = unknown */
    char *hardware;       /* the node's hardware class or name; NULL = unknown */
    double created;       /* unix time the row was added */
    double measured;      /* unix time of the measurement; NaN = never */
} ad_model_row_t;

/* Zero m with every measurement NaN ("not measured"). */
void ad_store_model_row_init(ad_model_row_t *m);

/* Free m's strings and init it again; NULL-safe. */
void ad_store_model_row_clear(ad_model_row_t *m);

/* Free an array of n rows (ad_store_list_models()); NULL-safe, sets *rows_p to NULL. */
void ad_store_model_rows_free(ad_model_row_t **rows_p, size_t n);

/*
 * Add m (its id and created are ignored; created is now) or, when a row has
 * the same path, replace that row's columns keeping its id and created.  The
 * row's id in *id (may be NULL).  Returns 0, AD_EINVAL (no name, path, arch
 * or variant), -ENOENT (no such parent or run) or AD_EDB.
 */
int ad_store_put_model(ad_store_t *self, const ad_model_row_t *m, int64_t *id);

/* Row id into *out (strings owned: ad_store_model_row_clear()).  0, -ENOENT or AD_EDB. */
int ad_store_get_model(ad_store_t *self, int64_t id, ad_model_row_t *out);

/*
 * The row key names into *out: a row id (digits), else an absolute path of an
 * artifact folder (key as given, then its real path), else the newest row of
 * that name.  Returns 0, -ENOENT ("model KEY: no such model") or AD_EDB.
 */
int ad_store_find_model(ad_store_t *self, const char *key, ad_model_row_t *out);

/*
 * Every row, by id, in a new array of *n rows (ad_store_model_rows_free()).
 * Returns 0 or AD_EDB (then *rows NULL, *n 0).
 */
int ad_store_list_models(ad_store_t *self, ad_model_row_t **rows, size_t *n);

/*
 * Set row id's accuracy and test_samples (when accuracy is not NaN) and its
 * latency figures, threads, backend and hardware (when p50_ms is not NaN,
 * stamping measured) from m.  Returns 0, -ENOENT or AD_EDB.
 */
int ad_store_set_model_figures(ad_store_t *self, int64_t id, const ad_model_row_t *m);

/*
 * Forget row id (not its files); its variants keep their rows with no parent.
 * Returns 0, -ENOENT or AD_EDB.
 */
int ad_store_remove_model(ad_store_t *self, int64_t id);

#ifdef __cplusplus
}
#endif

#endif
