/* ad_daemon.h - autodistd's private header: the coordinator's state and what its modules share */
#ifndef AD_DAEMON_H
#define AD_DAEMON_H

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <czmq.h>
#include <jansson.h>

#include "autodist/ad_auto.h"
#include "autodist/ad_clock.h"
#include "autodist/ad_coord.h"
#include "autodist/ad_error.h"
#include "autodist/ad_home.h"
#include "autodist/ad_job.h"
#include "autodist/ad_journal.h"
#include "autodist/ad_keys.h"
#include "autodist/ad_launch.h"
#include "autodist/ad_log.h"
#include "autodist/ad_proc.h"
#include "autodist/ad_profile.h"
#include "autodist/ad_proto.h"
#include "autodist/ad_record.h"
#include "autodist/ad_registry.h"
#include "autodist/ad_sched.h"
#include "autodist/ad_store.h"
#include "autodist/ad_sweeps.h"

/*
 * The coordinator is one thread around one zloop (autodistd.c); its rooms
 * are ad_running.c (jobs whose mpirun runs), ad_autojob.c (layout: auto),
 * ad_agents.c (the agents' socket), ad_client.c (the clients' socket) and
 * ad_sweep_api.c (sweeps).  They share coord_t and call each other through
 * the prototypes below; nothing here is seen outside autodistd.
 */

/* Exit statuses of autodistd. */
#define AD_DAEMON_EXIT_OK 0
#define AD_DAEMON_EXIT_FAIL 1
#define AD_DAEMON_EXIT_USAGE 2

/* The command line (docs/daemon.md). */
typedef struct opts {
    const char *home;       /* --home */
    const char *client;     /* --client */
    const char *agents;     /* --agents */
    const char *metrics;    /* --metrics */
    const char *report;     /* --report: metrics endpoint as the trainers reach it */
    const char *trainer;    /* --trainer: autodist-train path on the nodes */
    const char *mpirun;     /* --mpirun */
    const char *rsh_agent;  /* --rsh-agent */
    const char *tcp_subnet; /* --tcp-subnet */
    int heartbeat_ms;       /* --heartbeat-ms */
    double kill_grace_s;    /* --kill-grace */
    double node_grace_s;    /* --node-grace */
    int64_t min_free_mib;   /* --min-free-mib */
    int probes;             /* --probes: most probes of a layout: auto job */
    int64_t probe_steps;    /* --probe-steps */
    int max_nodes;          /* --max-nodes: most nodes known at once (0: no cap) */
    int max_profile_kib;    /* --max-profile-kib: largest HELLO profile (KiB, 0: no cap) */
    bool insecure;          /* --insecure: no CURVE (loopback endpoints only) */
    const char *node_keys;  /* --node-keys: the nodes' key folder as the nodes see it */
    int64_t max_queued;     /* --max-queued-per-user: PENDING jobs one owner may have */
} opts_t;

/* What rank 0 has reported so far, and the sums the run's result is made of. */
typedef struct progress {
    const char *phase;             /* "starting", "training", "evaluating", "done" */
    int64_t step, steps;           /* global steps done; total (0 = unknown) */
    int64_t epoch, epochs;         /* current epoch; total (0 = unknown) */
    double loss;                   /* latest step loss (NaN = none) */
    double samples_per_s;          /* latest step throughput (NaN = none) */
    double t_first;                /* mono s of the first step event (0 = none) */
    double t_last;                 /* mono s of the last event (0 = none) */
    int64_t step_first;            /* its step */
    double sum_step_s, sum_comm_s; /* step and communication time summed over the steps */
    int64_t n_steps;               /* steps summed */
    double warm_step_s;            /* step time summed over the steps after the warm-up */
    int64_t warm_steps, batch;     /* how many; the global batch (start event) */
    double sum_epoch_s;            /* epoch times summed */
    int64_t n_epochs;              /* epochs summed */
    double acc_test, acc_val;      /* latest accuracies (NaN = none) */
    double done_samples_per_s;     /* the done event's (NaN = none) */
    int64_t params;                /* model parameters (0 = unknown) */
    bool done;                     /* the done event came */
    bool gap;                      /* a step event was missed: metrics.jsonl is read at the end */
    /* The trainer's steady-state figures (docs/speedup.md). */
    int64_t warmup;         /* warm-up steps (start event's warmup_steps) */
    double done_sps_sd;     /* the done event's sps_sd (NaN = none) */
    int64_t done_sps_steps; /* its sps_steps */
    double done_cpu_s;      /* its cpu_time_s (NaN = none) */
    int64_t done_rss;       /* its max_rss_bytes */
    int64_t test_samples;   /* images of the last test evaluation */
} progress_t;

/* A job whose mpirun runs. */
typedef struct run {
    int64_t id;             /* job id */
    int64_t run_id;         /* its run row (0 = none: the store failed) */
    pid_t pid;              /* autodist-launch (which runs mpirun), leader of its process group */
    char *identity;         /* ad_proc_identity() of pid */
    bool adopted;           /* started by an earlier coordinator: not our child, polled */
    char *exit_path;        /* logs/<id>/exit.json, written by autodist-launch */
    int attempt;            /* times the job was requeued before this run */
    int ppn, tpp;           /* its layout: procs per node, threads per proc */
    bool gpu;               /* device gpu: one rank per GPU (requeued onto such nodes) */
    int requeue;            /* times the job may be requeued in all (job file's requeue) */
    bool requeue_on_timeout; /* the job file's requeue_on_timeout */
    char **nodes;           /* node names, owned */
    int n_nodes;            /* entries in nodes */
    char *pool;             /* the job's pool (a reservation's nodes), owned, or NULL */
    char *output;           /* logs/<id>/output.log */
    char *metrics_path;     /* logs/<id>/metrics.jsonl */
    double t_start;         /* mono s at launch */
    double deadline;        /* mono s of the time limit (0 = none) */
    const char *end_state;  /* decided before the exit: CANCELLED, NODE_FAIL, TIMEOUT; or NULL */
    char *end_reason;       /* with end_state */
    double kill_at;         /* mono s when SIGKILL follows the SIGTERM (0 = none) */
    char *down;             /* while one of its nodes is DOWN and its steps still advance: why */
    bool exited;      /* mpirun failed while a node was silent: waiting to know if it is lost */
    int exit_code;    /* then: its exit status */
    double decide_by; /* then: mono s when it ends FAILED unless the node went DOWN */
    progress_t p;           /* rank 0's reports */
    ad_coord_metric_t *buf; /* metric samples not yet in the store */
    size_t n_buf, cap_buf;  /* samples in buf; its room */
    struct run *next;       /* the next running job */
    double load_other;      /* most cores others kept busy on its nodes (NaN = not known) */
} run_t;

/* The coordinator. */
typedef struct coord {
    const opts_t *opts;    /* the command line (borrowed) */
    ad_store_t *store;     /* the store, owned: reads, and writes that need an answer */
    ad_journal_t *journal; /* the other writes: never wait for a busy store (ad_journal.h) */
    zsock_t *client;       /* ROUTER: CLI requests */
    zsock_t *agents;       /* ROUTER: agents */
    zsock_t *metrics;      /* PULL: trainer events */
    zloop_t *loop;         /* the event loop */
    int sigfd;             /* SIGTERM, SIGINT, SIGCHLD */
    ad_registry_t *reg;    /* the nodes */
    ad_sched_t *sched;     /* the queue */
    ad_sweeps_t *sweeps;   /* the sweeps (docs/sweeps.md) */
    int sweep_timer;       /* zloop timer id while sweeps resolve; -1 = none */
    const ad_home_t *home; /* the autodist home (borrowed) */
    zhashx_t *addresses;   /* node name -> address mpirun reaches it by (owned strings) */
    zhashx_t *launch;      /* node name -> HELLO's {pool, rsh, env} (owned json_t), if given */
    run_t *runs;           /* running jobs */
    struct autojob *autos; /* jobs with layout: auto (ad_autojob.c) */
    unsigned nodes_gen;    /* bumped when a node comes UP or goes DOWN */
    char *trainer;         /* autodist-train path */
    char *launcher;        /* autodist-launch path: runs each job's mpirun, writes its exit file */
    char *local_rsh;       /* autodist-local-rsh: mpirun's remote shell for loopback nodes */
    unsigned ticks;        /* timer ticks so far */
    double last_tick;      /* ad_clock_now() of the previous tick (0: none yet) */
    zactor_t *auth;        /* the ZAP handler (ad_keys_auth_new()); NULL with --insecure */
    zactor_t *monitors[3]; /* handshake failures of the client, agents, metrics sockets */
    double refused_at[3];  /* when one was last logged, per socket (mono s) */
    int exit_code;         /* -1 while running */
    ad_record_env_t *records; /* versions and dataset hashes for run records (ad_recorder.c) */
} coord_t;

/* The number at key of object o, or NaN when it is missing or not a number. */
static inline double
ad_daemon_json_num(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* ---- autodistd.c ---- */

/* Send a message of type with payload (stolen; NULL only on OOM) to identity on sock; failures are
 * logged. */
void ad_daemon_send(zsock_t *sock, const char *identity, const char *type, json_t *payload);

/* ---- ad_running.c: jobs whose mpirun runs ---- */

/* The running job id, or NULL. */
run_t *ad_running_find(coord_t *self, int64_t id);

/* Rank 0's progress of r as STATUS shows it (a new reference). */
json_t *ad_running_progress_json(const run_t *r, double now);

/*
 * Stop job r: SIGTERM to mpirun's process group now, SIGKILL after the
 * grace.  The first end state and reason decided stay.
 */
void ad_running_stop(coord_t *self, run_t *r, const char *state, const char *reason);

/* Job id's spec from the store, validated again (a decided auto layout applied).  Returns 0 or a
 * negative code with err set. */
int ad_running_load_job(coord_t *self, int64_t id, ad_job_t *job, ad_err_t *err);

/* Stop running job r to run it again (requeued, resumed from its checkpoint): why says why. */
void ad_running_interrupt(coord_t *self, run_t *r, const char *why);

/* The pool node name belongs to (its agent's --pool), or NULL: the cluster's own. */
const char *ad_daemon_node_pool(coord_t *self, const char *name);

/* Queue job id in the scheduler on its layout and in its pool: ad_sched_add_job()'s code. */
int ad_daemon_queue(coord_t *self, int64_t id, const ad_job_t *job, int nodes, int ppn, int tpp);

/* Queue the sweeps' next jobs and start every queued job that fits the free nodes. */
void ad_running_schedule(coord_t *self);

/* Collect every exited child and record how its job ended; returns how many jobs ended. */
int ad_running_reap(coord_t *self);

/*
 * Node name went DOWN (why): its running jobs end as NODE_FAIL, unless their
 * steps still advance (synchronous training: every rank is alive); those run
 * on, and end NODE_FAIL once --node-grace passes without a step.
 */
void ad_running_fail_node(coord_t *self, const char *name, const char *why);

/* Node name is UP again: its jobs that ran on without it are no longer watched. */
void ad_running_node_up(coord_t *self, const char *name);

/* Every tick: time limits, SIGKILL after the grace, metrics to the store. */
void ad_running_tick(coord_t *self, double now);

/* On the way out: stop every job (reason why) and wait for them, SIGKILL after the grace. */
void ad_running_stop_all(coord_t *self, const char *why);

/*
 * At start: RUNNING jobs of a stopped coordinator are found again (still
 * running: adopted; ended: finished from their exit file and metrics.jsonl;
 * gone without a trace: requeued); PENDING ones are queued again.
 */
void ad_running_recover(coord_t *self);

/* zloop reader of the metrics socket: one trainer event. */
int ad_running_on_metric(zloop_t *loop, zsock_t *sock, void *arg);

/* ---- ad_recorder.c: run records ---- */

/*
 * The pick's job was just launched with plan on nodes (in rank order) as run
 * row run (0: none, nothing is recorded): write its record (ad_record.h)
 * through the journal, so a busy store delays it without losing it.
 */
void ad_recorder_launch(coord_t *self, const ad_sched_pick_t *pick, const ad_job_t *job,
                        const ad_launch_plan_t *plan, const ad_launch_node_t *nodes, int64_t run,
                        int attempt);

/* ---- ad_autojob.c: layout: auto ---- */

/* Hold job id, submitted with layout: auto, until its layout is chosen (planned on the next tick).
 */
void ad_autojob_new(coord_t *self, int64_t id);

/* A job with layout: auto was submitted: hold and plan it now. */
void ad_autojob_submit(coord_t *self, int64_t id);

/*
 * Job id ended with its run row run (0: none): when it was the last probe of an
 * auto job, decide that job now; when it was an auto job, add what layout auto
 * did to the run's record (key "auto").
 */
void ad_autojob_job_ended(coord_t *self, int64_t id, int64_t run);

/* Auto jobs not yet planned: plan again when the set of UP nodes changed. */
void ad_autojob_tick(coord_t *self);

/*
 * Add an auto job's plan, and while undecided its reason, to o (job id in
 * state).  Returns true when o is complete (the job is still being planned).
 */
bool ad_autojob_decorate(coord_t *self, int64_t id, const char *state, json_t *o);

/* Job id is cancelled while PENDING: when it is an auto job, its probes go too. */
void ad_autojob_cancel(coord_t *self, int64_t id);

/*
 * Whether job id (job: its spec, or NULL) is a probe of an auto job, or carries a
 * probe's name for its layout (queued before a restart): its run is marked a
 * probe, never a baseline (docs/speedup.md).
 */
bool ad_autojob_is_probe(coord_t *self, int64_t id, const ad_job_t *job);

/* Free every auto job. */
void ad_autojob_free_all(coord_t *self);

/* ---- ad_running_load.c: other load on running jobs' nodes ---- */

/*
 * A HEARTBEAT's load from the node of agent session identity: raise the other
 * load (busy cores less the job's own processes) of the jobs running there.
 */
void ad_running_load_sample(coord_t *self, const char *identity, const json_t *load);

/* ---- ad_agents.c: the agents' socket ---- */

/* zloop reader of the agents' socket: HELLO, HEARTBEAT, BYE. */
int ad_agents_on_msg(zloop_t *loop, zsock_t *sock, void *arg);

/* ad_registry_tick()'s callback: node name missed its heartbeats (arg is the coordinator). */
void ad_agents_on_down(const char *name, void *arg);

/* Write the UP nodes' last_seen in one transaction. */
void ad_agents_flush_seen(coord_t *self);

/* ---- ad_client.c: the clients' socket ---- */

/* Answer identity with an ERROR of code and a printf-style message. */
void ad_client_error(coord_t *self, const char *identity, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * The code of an ERROR for a store write that failed: -EAGAIN when another
 * process holds the store (the client tries again), else AD_EDB.
 */
int ad_client_store_code(const coord_t *self);

/*
 * Whether job can ever run on the nodes known now (ad_sched_check(): cores,
 * GPUs, node count; a `layout: auto` job only needs some layout to fit):
 * AD_SCHED_WAIT, or AD_SCHED_NEVER with reason (cap bytes) in one line.
 */
ad_sched_status_t ad_client_feasible(coord_t *self, const ad_job_t *job, char *reason, size_t cap);

/* The owner what msg submits gets: its key's name in name (size bytes), or NULL (--insecure). */
const char *ad_client_owner(coord_t *self, const ad_proto_msg_t *msg, char *name, size_t size);

/*
 * Refuse msg's request what (answering it) unless its sender is the admin or
 * the user called owner; returns true when refused.
 */
bool ad_client_refuse_unless_owner(coord_t *self, const ad_proto_msg_t *msg, const char *what,
                                   const char *owner);

/* zloop reader of the clients' socket; returns -1 (ending the loop) once a SHUTDOWN came. */
int ad_client_on_msg(zloop_t *loop, zsock_t *sock, void *arg);

/* ---- ad_sweep_api.c: sweeps ---- */

/* Queue the next jobs of the sweeps, up to each one's limit. */
void ad_sweep_api_dispatch(coord_t *self);

/* At start: the sweeps that were RUNNING when the coordinator stopped dispatch again. */
void ad_sweep_api_reopen(coord_t *self);

/* SWEEP: submit (or resume) a sweep. */
void ad_sweep_api_submit(coord_t *self, const ad_proto_msg_t *msg);

/* SWEEPS: one sweep or all of them. */
void ad_sweep_api_status(coord_t *self, const ad_proto_msg_t *msg);

/* SWEEP_CANCEL: cancel a sweep's queued jobs and stop its running ones. */
void ad_sweep_api_cancel(coord_t *self, const ad_proto_msg_t *msg);

/* ---- ad_distill.c: a distilled job's teacher ---- */

/*
 * Check job's distill.teacher and resolve it: a run id must name a COMPLETED
 * run of the same dataset and classes whose checkpoint folder still holds
 * state.json, which job->distill.checkpoint is then set to; a folder must
 * still hold state.json.  0 (also without distill), or AD_EINVAL with a
 * one-line message naming the teacher.
 */
int ad_distill_resolve(coord_t *self, ad_job_t *job, ad_err_t *err);

#endif
