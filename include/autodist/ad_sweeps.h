/* ad_sweeps.h - the coordinator's sweeps: lazy dispatch by job index, resume by config hash */
#ifndef AD_SWEEPS_H
#define AD_SWEEPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "autodist/ad_error.h"
#include "autodist/ad_job.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The sweeps a coordinator holds (docs/sweeps.md).  Pure logic: the daemon
 * gives it a loaded sweep (ad_job.h) and the jobs the store already has for
 * it, asks ad_sweeps_next() for the next job to queue whenever something
 * changed, and tells it when jobs start and end.  The names are ad_sweeps_*
 * because ad_sweep_* belongs to the sweep file (ad_job.h).
 *
 * A sweep of N jobs keeps one state byte per job index (ad_sweep_job()'s
 * i: configuration i % C, repeat i / C + 1), and never more than its limit
 * of jobs queued or running: the next index is picked when a job ends, so a
 * sweep of 25,000 jobs puts a handful in the queue, not 25,000.
 *
 * Resuming.  Jobs found in the store are matched to the configurations by
 * their configuration hash; repeats are counted: a configuration with two
 * COMPLETED jobs has its repeats 1 and 2 done.  In each configuration the
 * COMPLETED jobs fill the first repeats, then the live ones (queued or
 * running, e.g. requeued after a restart), then the FAILED ones (FAILED,
 * TIMEOUT, NODE_FAIL), which run again only with retry_failed; CANCELLED
 * jobs count for nothing, so they run again.  Hashing a configuration takes
 * about 20 us (ad_sweep_config_hash()), half a second for 25,000, so it is
 * done in slices (ad_sweeps_resolve()) and only when the store has jobs of
 * the sweep.
 */
typedef struct ad_sweeps ad_sweeps_t;

/* How a job of a sweep stands. */
typedef enum {
    AD_SWEEPS_JOB_QUEUED = 0, /* PENDING in the coordinator's queue */
    AD_SWEEPS_JOB_RUNNING,    /* RUNNING */
    AD_SWEEPS_JOB_COMPLETED,  /* COMPLETED */
    AD_SWEEPS_JOB_FAILED,     /* FAILED, TIMEOUT or NODE_FAIL: rerun only with retry_failed */
    AD_SWEEPS_JOB_CANCELLED,  /* CANCELLED: a rerun of the sweep runs it again */
} ad_sweeps_job_t;

/* The outcome of a job state name: PENDING -> QUEUED, TIMEOUT -> FAILED, ... (NULL -> FAILED). */
ad_sweeps_job_t ad_sweeps_job_from_state(const char *state);

/* Where a sweep stands. */
typedef enum {
    AD_SWEEPS_RUNNING = 0, /* dispatching its jobs (once it knows what ran before) */
    AD_SWEEPS_DONE,        /* every job ended or was skipped (done before, or fits no node) */
    AD_SWEEPS_CANCELLED,   /* cancelled: nothing more is dispatched */
    AD_SWEEPS_STOPPED,     /* read back from the store for a status: nothing is dispatched */
} ad_sweeps_state_t;

/* "RUNNING", "DONE", "CANCELLED", "STOPPED"; "UNKNOWN" otherwise. */
const char *ad_sweeps_state_name(ad_sweeps_state_t state);

/* A job of the sweep that the store already has. */
typedef struct ad_sweeps_prior {
    int64_t job;           /* its job id */
    char config_hash[17];  /* its configuration hash (16 hex digits) */
    ad_sweeps_job_t state; /* how it stands */
    double duration_s;     /* how long it ran (ended - started); NaN = unknown or not over */
} ad_sweeps_prior_t;

/* How a sweep runs. */
typedef struct ad_sweeps_opts {
    int max_parallel;  /* most jobs of the sweep queued or running; 0 = as many as nodes are UP */
    bool retry_failed; /* run again the jobs that failed */
    bool dispatch;     /* false: only count (a sweep read back for a status) */
    const char *owner; /* who submitted it (its jobs' owner, docs/security.md); NULL = none */
} ad_sweeps_opts_t;

/* A job to queue, filled by ad_sweeps_next(); clear it with ad_sweeps_pick_clear(). */
typedef struct ad_sweeps_pick {
    int64_t sweep;        /* the sweep's store id */
    int64_t index;        /* the job's index in the sweep */
    ad_job_t job;         /* the job, named <sweep>-<hash12>-r<repeat>; owned */
    char config_hash[17]; /* its configuration hash */
    const char *owner;    /* the sweep's owner, the job's (borrowed); NULL = none */
} ad_sweeps_pick_t;

/* A new, empty set of sweeps owned by the caller (ad_sweeps_free()); never NULL. */
ad_sweeps_t *ad_sweeps_new(void);

/* Release the sweeps; NULL-safe and idempotent, sets *self_p to NULL. */
void ad_sweeps_free(ad_sweeps_t **self_p);

/*
 * Hold sweep id (its store id) with file_hash and spec (taken: *spec_p is
 * set to NULL) and the n jobs the store has for it (prior, copied; a job
 * without a valid hash is ignored).  A sweep of the same name already held
 * is replaced.  now is the caller's monotonic clock in seconds.
 */
void ad_sweeps_open(ad_sweeps_t *self, int64_t id, const char *file_hash, ad_sweep_t **spec_p,
                    const ad_sweeps_prior_t *prior, size_t n, const ad_sweeps_opts_t *opts,
                    double now);

/* True when a sweep called name is held. */
bool ad_sweeps_has(const ad_sweeps_t *self, const char *name);

/* True when the sweep called name is RUNNING (it dispatches, or will once resolved). */
bool ad_sweeps_running(const ad_sweeps_t *self, const char *name);

/* Who submitted sweep name (held), or NULL: none, or not held. */
const char *ad_sweeps_owner(const ad_sweeps_t *self, const char *name);

/* The file hash of the sweep called name (borrowed), or NULL when none is held. */
const char *ad_sweeps_file_hash(const ad_sweeps_t *self, const char *name);

/*
 * Change a RUNNING sweep: max_parallel (when > 0) and, with retry_failed,
 * put its FAILED jobs back to run.  Returns 0, or -ENOENT when no RUNNING
 * sweep has that name.
 */
int ad_sweeps_update(ad_sweeps_t *self, const char *name, const ad_sweeps_opts_t *opts);

/*
 * Hash at most budget configurations of the sweeps still matching their
 * prior jobs to configurations; a sweep whose last configuration is hashed
 * gets its counts and may dispatch (now: monotonic s, for a sweep found to
 * be done already).  Returns true while work remains.
 */
bool ad_sweeps_resolve(ad_sweeps_t *self, int64_t budget, double now);

/*
 * The next job to queue: from a RUNNING, resolved sweep with fewer jobs
 * queued or running than its limit (max_parallel, or auto_parallel when it
 * has none; at least 1), the lowest index still to run.  The job counts as
 * queued from now on; tell the outcome with ad_sweeps_queued().  Returns 0
 * with *pick filled, or -EAGAIN when nothing is to be queued (pick zeroed).
 */
int ad_sweeps_next(ad_sweeps_t *self, int auto_parallel, ad_sweeps_pick_t *pick);

/* The job of pick was queued as job (0: it could not be, and counts as FAILED). */
void ad_sweeps_queued(ad_sweeps_t *self, const ad_sweeps_pick_t *pick, int64_t job);

/* Free a pick's job and zero it; NULL-safe and idempotent. */
void ad_sweeps_pick_clear(ad_sweeps_pick_t *pick);

/*
 * Feasibility (docs/sweeps.md, "Configurations that fit no node").  The
 * job of pick fits no node: it is not queued, and every repeat of its
 * configuration still to run is SKIPPED with why (listed in the status, not
 * run; a rerun of the sweep checks them again).  A sweep with nothing else
 * to run or wait for is DONE.
 */
void ad_sweeps_skip(ad_sweeps_t *self, const ad_sweeps_pick_t *pick, const char *why, double now);

/* ad_sweeps_check()'s test: true when job can never run, with why (cap bytes) set. */
typedef bool(ad_sweeps_check_fn)(const ad_job_t *job, char *why, size_t cap, void *arg);

/*
 * Skip up front the configurations of sweep name, among its first
 * max_configs, that fn says can never run (nothing when the sweep holds,
 * ad_sweeps_set_hold()).  The others are checked when dispatched.  Returns
 * how many configurations were skipped.
 */
int64_t ad_sweeps_check(ad_sweeps_t *self, const char *name, int64_t max_configs,
                        ad_sweeps_check_fn *fn, void *arg, double now);

/* sweep --hold: the configurations of sweep name that fit no node are queued anyway, to wait. */
void ad_sweeps_set_hold(ad_sweeps_t *self, const char *name, bool hold);

/*
 * Queued job of a held sweep can never start on the nodes that are up: it
 * waits without taking a place under the sweep's limit, so the configurations
 * behind it go on (at most 64 parked per sweep; it counts again once it
 * starts).  Returns true when parked.
 */
bool ad_sweeps_park(ad_sweeps_t *self, int64_t job);

/* Whether the sweep of store id sweep holds (ad_sweeps_set_hold()). */
bool ad_sweeps_held(const ad_sweeps_t *self, int64_t sweep);

/* Job started running.  Returns true when it belongs to a held sweep. */
bool ad_sweeps_started(ad_sweeps_t *self, int64_t job);

/* Callback of ad_sweeps_each_changed(): sweep id (store id) now stands as state with options
 * (and owner, NULL = none). */
typedef void(ad_sweeps_changed_fn)(int64_t id, const char *state, int max_parallel,
                                   bool retry_failed, const char *owner, void *arg);

/*
 * Call fn for every dispatching sweep whose state or options changed since the
 * last call (opened, options updated, DONE, CANCELLED): what the store records
 * so that a coordinator started again reopens the RUNNING ones.
 */
void ad_sweeps_each_changed(ad_sweeps_t *self, ad_sweeps_changed_fn *fn, void *arg);

/* Job went back to the queue (requeued after an interruption).  Returns true when it belongs to a
 * held sweep. */
bool ad_sweeps_requeued(ad_sweeps_t *self, int64_t job);

/*
 * Job ended with outcome (COMPLETED, FAILED or CANCELLED) after duration_s
 * seconds of running (NaN: it never ran).  Returns true when it belongs to a
 * held sweep.  A RUNNING sweep with nothing left to run or wait for is DONE.
 */
bool ad_sweeps_ended(ad_sweeps_t *self, int64_t job, ad_sweeps_job_t outcome, double duration_s,
                     double now);

/*
 * Stop dispatching the sweep called name (state CANCELLED); its live jobs
 * are the caller's to cancel.  Returns 0 or -ENOENT when none is held.
 */
int ad_sweeps_cancel(ad_sweeps_t *self, const char *name, double now);

/*
 * The sweep called name as a JSON object (a new reference), or NULL when
 * none is held: {id, name, file_hash, state, resolving, checked (0..1),
 * total, configs, repeats, max_parallel (null = auto), parallel (the limit
 * last applied), completed, failed, cancelled, running, queued, todo,
 * pending (todo + queued), before {completed, failed} (found in the store
 * when it was opened), retried, mean_job_s, eta_s (null = unknown),
 * elapsed_s, failed_jobs (the last few job ids that failed), live_jobs (ids
 * of the jobs queued or running), skipped (jobs skipped: they fit no node),
 * skipped_configs_total, skipped_configs (the first 50: {config, layout,
 * reason}), hold, parked (jobs queued to wait for nodes, off the limit)}.
 */
json_t *ad_sweeps_json(const ad_sweeps_t *self, const char *name, double now);

/* Every held sweep, by id, as an array of the objects above (a new reference). */
json_t *ad_sweeps_list_json(const ad_sweeps_t *self, double now);

#ifdef __cplusplus
}
#endif

#endif
