/* ad_resv.h - reservations on a batch system (OAR today, Slurm later): request, wait, nodes,
 * extend, release */
#ifndef AD_RESV_H
#define AD_RESV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "autodist/ad_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A reservation is one job of a batch system that holds nodes for autodist: the
 * user's request becomes the batch system's own command line (an argument
 * vector, never a shell string), autodist waits until it runs, reads its nodes,
 * starts programs on them through the batch system's remote shell (oarsh), may
 * extend it, and releases it.  The CLI (reserve, submit, sweep, reproduce, up
 * inside a job) is the only user: the coordinator never sees a batch system,
 * only nodes and the remote shell their agents announce.
 *
 * Backends: "oar" (grid5000/ad_oar.c).  A backend is a table of operations
 * (grid5000/ad_resv_int.h); Slurm will add one (sbatch --parsable, scontrol
 * show job, scancel) without changing this interface.
 */

/* What the user asks for: the reservation: section of a job or sweep file. */
typedef struct ad_resv_request {
    const char *backend;        /* "oar"; NULL = "oar" */
    int nodes;                  /* hosts, >= 1 */
    int64_t walltime_s;         /* wall time in seconds, >= 1 */
    const char *properties;     /* property filter (OAR -p "cluster='gros'"), or NULL */
    const char *queue;          /* queue (-q), or NULL */
    const char *const *types;   /* job types (-t each), NULL-terminated, or NULL */
    const char *project;        /* project (--project), or NULL */
    const char *name;           /* the batch job's name (-n), or NULL */
    const char *start_at;       /* advance reservation "YYYY-MM-DD HH:MM:SS" (-r), or NULL */
    const char *command;        /* what the batch job runs; NULL = hold the nodes until the
                                   walltime ends or autodist releases them */
    const char *directory;      /* where the command starts and OAR writes its
                                   OAR.<name>.<id>.stdout/.stderr (-d); NULL = the current
                                   directory (getcwd: oarsub would trust a stale $PWD) */
} ad_resv_request_t;

/* Where a reservation is in its life, in the backend's words and in ours. */
typedef enum {
    AD_RESV_WAITING = 0, /* queued, not started, or its nodes not usable now (OAR: Waiting,
                            Hold, toLaunch, Launching, toAckReservation, Suspended, Resuming) */
    AD_RESV_RUNNING,     /* the nodes are ours (OAR: Running) */
    AD_RESV_ENDING,      /* being stopped (OAR: Finishing, toError) */
    AD_RESV_ENDED,       /* over (OAR: Terminated, Error) */
} ad_resv_phase_t;

typedef struct ad_resv_status {
    ad_resv_phase_t phase;
    char state[32];           /* the backend's word: "Waiting", "Running", "Error" ... */
    int64_t scheduled_start;  /* epoch seconds the scheduler predicts, 0 when unknown */
    int64_t start_time;       /* epoch seconds it started running, 0 when not yet */
    int64_t stop_time;        /* epoch seconds it ended, 0 when not yet */
    int64_t walltime_s;       /* granted walltime in seconds (changes with extend) */
    int exit_code;            /* the batch job's exit code, -1 when unknown */
    bool walltime_reached;    /* ended because its walltime ran out */
    bool deleted;             /* ended because someone deleted it (oardel, scancel) */
    char reason[256];         /* one line on why it ended, naming the batch system, or "" */
} ad_resv_status_t;

/* One reservation: a job of the batch system. */
typedef struct ad_resv ad_resv_t;

/* Progress of ad_resv_wait(): called at each poll, st the latest status. */
typedef void(ad_resv_progress_fn)(const ad_resv_status_t *st, void *arg);

/*
 * The argument vector that would submit req (argv[0] "oarsub"), for
 * --dry-run and the run record.  Returns 0 with *argv (NULL-terminated, free
 * with ad_resv_argv_free), or -EINVAL with err naming the bad field
 * ("reservation.walltime: ...", unknown backend).
 */
int ad_resv_submit_argv(const ad_resv_request_t *req, char ***argv, ad_err_t *err);

/*
 * Submit req.  Returns 0 with *out (state WAITING or later), or a negative
 * code with err one line: the backend's command missing ("oarsub: not found:
 * OAR is not installed on this machine"), its server unreachable, or the
 * batch system's own reason for refusing ("OAR refused the reservation: There
 * are not enough resources for your request").
 */
int ad_resv_submit(const ad_resv_request_t *req, ad_resv_t **out, ad_err_t *err);

/*
 * Attach to an existing batch job of this user, by id ("1234") or by name.
 * A name that matches several of the user's unfinished jobs is refused
 * (-EEXIST, err listing their ids); none is -ENOENT.  backend NULL = "oar".
 */
int ad_resv_attach(const char *backend, const char *id_or_name, ad_resv_t **out, ad_err_t *err);

/*
 * The allocation this process runs inside (OAR_JOB_ID and OAR_NODEFILE set),
 * as a reservation whose nodes are the unique hosts of the node file in
 * order.  Returns 0, -ENOENT when not inside one, or another negative code
 * with err set.
 */
int ad_resv_inside(ad_resv_t **out, ad_err_t *err);

/* The batch system's id of the job ("1234"), and the backend's name ("oar"). */
const char *ad_resv_id(const ad_resv_t *self);
const char *ad_resv_backend(const ad_resv_t *self);

/* Ask the batch system where the job is now.  Returns 0 or a negative code with err. */
int ad_resv_poll(ad_resv_t *self, ad_resv_status_t *st, ad_err_t *err);

/*
 * Wait until the job runs: poll with backoff (0.5 s doubling to 10 s),
 * calling progress (may be NULL) after each poll.  Returns 0 when RUNNING,
 * -ETIMEDOUT after timeout_s (< 0: no limit), -ECANCELED when it ended
 * before running (err: its reason, naming the batch system), or another
 * negative code.
 */
int ad_resv_wait(ad_resv_t *self, double timeout_s, ad_resv_progress_fn *progress, void *arg,
                 ad_resv_status_t *st, ad_err_t *err);

/*
 * The hosts of a running job, in the batch system's natural order (OAR:
 * assigned_network_address; inside a job: the node file's unique hosts).
 * *hosts is NULL-terminated; free with ad_resv_argv_free.
 */
int ad_resv_nodes(ad_resv_t *self, char ***hosts, int *n, ad_err_t *err);

/*
 * Add add_s seconds to the walltime (oarwalltime).  A site that disables
 * extensions, or a refusal, gives -EPERM with the batch system's message.
 */
int ad_resv_extend(ad_resv_t *self, int64_t add_s, ad_err_t *err);

/* Release the job (oardel).  Idempotent: a job already over is 0. */
int ad_resv_release(ad_resv_t *self, ad_err_t *err);

/*
 * The argument vector that runs cmd on host through the batch system's remote
 * shell, e.g. {"oarsh", host, "--", cmd...} with the job's identity passed as
 * the backend requires (OAR_JOB_ID in the environment: see ad_resv_env).  The
 * words of cmd are quoted for the remote shell (one word each, "a b" stays one
 * argument there).  Works from outside the job too (oarsh with OAR_JOB_ID set).
 * Free with ad_resv_argv_free.
 */
char **ad_resv_remote_argv(const ad_resv_t *self, const char *host, char *const cmd[]);

/*
 * The remote shell mpirun uses to reach the nodes (--mca plm_rsh_agent),
 * e.g. "oarsh", and the KEY=VALUE entries it needs in its environment
 * (NULL-terminated, owned by self), e.g. {"OAR_JOB_ID=1234", NULL}.
 */
const char *ad_resv_rsh_agent(const ad_resv_t *self);
char *const *ad_resv_env(const ad_resv_t *self);

/*
 * Everything the batch system says about the job, for the run record: for
 * OAR, oarstat -f's wanted_resources, properties, types, queue, project,
 * walltime, job id, assigned hosts in order, cluster (when the resources have
 * that property), submission/start/stop times, state and exit code.  A new
 * reference; NULL with err set when it cannot be read.
 */
json_t *ad_resv_describe(ad_resv_t *self, ad_err_t *err);

/*
 * How many hosts currently match req's properties (and queue), ignoring who
 * uses them: the "would it fit" check of --dry-run (OAR: oarnodes).
 */
int ad_resv_count_hosts(const ad_resv_request_t *req, int *n, ad_err_t *err);

/* Free a reservation handle (the batch job itself is left alone); NULL is fine. */
void ad_resv_free(ad_resv_t **self);

/* Free a NULL-terminated vector returned here; NULL is fine. */
void ad_resv_argv_free(char ***argv);

/* Walltime text: "H:MM:SS" (hours may exceed 24) from seconds, into buf. */
char *ad_resv_walltime_text(int64_t s, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
