/* ad_launch.h - launch plan of a job: hostfile, rankfile, mpirun command line and environment */
#ifndef AD_LAUNCH_H
#define AD_LAUNCH_H

#include <stdbool.h>

#include "autodist/ad_error.h"
#include "autodist/ad_home.h"
#include "autodist/ad_job.h"
#include "autodist/ad_profile.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The pure part of the coordinator's launcher (docs/launcher.md): from a job,
 * the nodes chosen for it and their hardware profiles it works out where
 * every rank runs and which cores it is bound to, writes the hostfile and
 * rankfile, and builds the mpirun command line and its environment.  It
 * starts nothing: forking mpirun and watching it is the scheduler's work.
 */
typedef struct ad_launch_plan ad_launch_plan_t;

/* One node chosen for the job. */
typedef struct ad_launch_node {
    const char *name;            /* node name in the store (agent id), for messages */
    const char *host;            /* what mpirun reaches it by: a host name or an IP address */
    const ad_profile_t *profile; /* its hardware (core map); NULL: no binding on this job */
} ad_launch_node_t;

/* How mpirun and the ranks talk; every field may be left zero. */
typedef struct ad_launch_transport {
    bool oversubscribe;     /* pass --oversubscribe even when the cores suffice */
    bool single_copy_off;   /* --mca btl_vader_single_copy_mechanism none (sandboxes) */
    bool allow_root;        /* OMPI_ALLOW_RUN_AS_ROOT{,_CONFIRM}=1 in mpirun's environment */
    const char *rsh_agent;  /* --mca plm_rsh_agent PATH (e.g. an `ip netns exec` script) */
    const char *tcp_subnet; /* e.g. 10.77.0.0/24: TCP only, on that subnet (btl and oob) */
    const char *report;     /* trainer --report ENDPOINT --job JOB_ID (an integer id), or NULL */
    const char *const *env; /* extra KEY=VALUE for every rank (-x), NULL-terminated, or NULL */
} ad_launch_transport_t;

/* What a plan is built from; nothing is kept: the plan copies what it needs. */
typedef struct ad_launch_spec {
    const char *job_id;              /* run id: names logs/<id>/ and checkpoints/<id>/ */
    const ad_job_t *job;             /* the validated job (model, data, optimiser, ...) */
    const ad_launch_node_t *nodes;   /* the nodes chosen, in rank order */
    int n_nodes;                     /* how many */
    int procs_per_node;              /* MPI ranks per node; 0: the job's layout */
    int threads_per_proc;            /* compute threads per rank; 0: the job's layout */
    const ad_home_t *home;           /* the autodist home (logs, checkpoints) */
    const char *trainer;             /* autodist-train path as the nodes see it */
    const char *mpirun;              /* mpirun path; NULL: "mpirun" from PATH */
    bool resume;                     /* pass --resume (a requeued run continues its checkpoint) */
    ad_launch_transport_t transport; /* mpirun options */
} ad_launch_spec_t;

/*
 * Check spec and work out the plan: the ranks of each node and, when every
 * node has a core map with enough cores, the cores each rank is bound to.
 * A node without a core map, or with fewer cores than ranks x threads, makes
 * the whole job unbound (no rankfile, --bind-to none; --oversubscribe when
 * cores are short), with a log line saying why.  Returns 0 and sets *out
 * (owned by the caller, ad_launch_plan_free()), or AD_EINVAL with err naming
 * what is wrong (no nodes, a count that does not match the job's layout, a
 * bad host or job id, ...); *out is then NULL.
 */
int ad_launch_plan_new(const ad_launch_spec_t *spec, ad_launch_plan_t **out, ad_err_t *err);

/* Release a plan; NULL-safe and idempotent, sets *self_p to NULL. */
void ad_launch_plan_free(ad_launch_plan_t **self_p);

/*
 * Create logs/<job>/ and checkpoints/<job>/ (parents too) and write the
 * hostfile and, for a bound plan, the rankfile into logs/<job>/, each to a
 * temporary file renamed into place; an unbound plan removes a stale
 * rankfile.  Returns 0, or a negative errno with err naming the path.
 */
int ad_launch_write_files(const ad_launch_plan_t *self, ad_err_t *err);

/*
 * The hostfile's text: one "HOST slots=PPN" line per node.  Returns a string
 * owned by the caller (free()).
 */
char *ad_launch_hostfile_text(const ad_launch_plan_t *self);

/*
 * The rankfile's text: one "rank R=HOST slot=S:C1-C2[,S:C...]" line per
 * rank (socket and core logical indexes, as Open MPI reads them by default),
 * or NULL for an unbound plan.  Returns a string owned by the caller (free()).
 */
char *ad_launch_rankfile_text(const ad_launch_plan_t *self);

/*
 * The autodist-train options of a job (docs/trainer.md), NULL-terminated,
 * without the program name and without the run's --metrics/--checkpoint.
 * threads > 0 overrides the layout's threads_per_proc (1 for an auto layout
 * unless given).  Returns an array the caller frees with ad_launch_argv_free().
 */
char **ad_launch_trainer_argv(const ad_job_t *job, int threads);

/*
 * The full command line: mpirun, its options, autodist-train and the
 * trainer's options with --metrics, --checkpoint [--resume] [--report].
 * NULL-terminated; *argc (may be NULL) receives the count.  Returns an array
 * owned by the caller (ad_launch_argv_free()).
 */
char **ad_launch_argv(const ad_launch_plan_t *self, int *argc);

/*
 * The KEY=VALUE additions to mpirun's environment (OMP_NUM_THREADS,
 * AUTODIST_JOB, AUTODIST_HOME, OMPI_ALLOW_RUN_AS_ROOT* when asked, the
 * transport's extra variables), NULL-terminated.  Returns an array owned by
 * the caller (ad_launch_argv_free()).
 */
char **ad_launch_env(const ad_launch_plan_t *self);

/* Free an array from ad_launch_argv() or ad_launch_env(); NULL-safe, sets *argv_p to NULL. */
void ad_launch_argv_free(char ***argv_p);

/* True when ranks are bound to cores through a rankfile. */
bool ad_launch_plan_bound(const ad_launch_plan_t *self);

/* Total ranks (nodes x procs per node) and threads per rank. */
int ad_launch_plan_nprocs(const ad_launch_plan_t *self);
int ad_launch_plan_threads(const ad_launch_plan_t *self);

/*
 * Paths of the run, all absolute and borrowed from the plan: the log folder
 * logs/<job>/ and in it hostfile, rankfile (NULL when unbound), output.log
 * (mpirun's stdout and stderr, interleaved as a terminal shows them) and
 * metrics.jsonl; and the checkpoint folder checkpoints/<job>/.
 */
const char *ad_launch_plan_logdir(const ad_launch_plan_t *self);
const char *ad_launch_plan_hostfile(const ad_launch_plan_t *self);
const char *ad_launch_plan_rankfile(const ad_launch_plan_t *self);
const char *ad_launch_plan_output(const ad_launch_plan_t *self);
const char *ad_launch_plan_metrics(const ad_launch_plan_t *self);
const char *ad_launch_plan_checkpoint_dir(const ad_launch_plan_t *self);

/*
 * Why a job whose mpirun ended with exit_code failed, read from the end of
 * its output.log: "exit 137: rank 1 on node n2 killed by signal 9 (Killed)",
 * "exit 4: <the last line the ranks printed> (rank 1 exited first)",
 * "exit 1: <that line>", or "exit 1 (see <output>)" when it says nothing.
 * Written into buf (cap bytes).
 */
void ad_launch_reason(const char *output, int exit_code, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
