/* autodistd.c - the coordinator: node registry, job queue and store behind three sockets */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <czmq.h>
#include <jansson.h>

#include "autodist/ad_auto.h"
#include "autodist/ad_coord.h"
#include "autodist/ad_error.h"
#include "autodist/ad_home.h"
#include "autodist/ad_job.h"
#include "autodist/ad_launch.h"
#include "autodist/ad_log.h"
#include "autodist/ad_proc.h"
#include "autodist/ad_profile.h"
#include "autodist/ad_proto.h"
#include "autodist/ad_registry.h"
#include "autodist/ad_sched.h"
#include "autodist/ad_sweep.h"

#define S_EXIT_OK 0
#define S_EXIT_FAIL 1
#define S_EXIT_USAGE 2
/* How often DOWN nodes are looked for: often, so DOWN shows within 3 periods + 0.25 s. */
#define S_TICK_MS 250
/* Nodes' last_seen goes to the store every this many ticks (5 s), in one transaction. */
#define S_SEEN_TICKS 20
/* Time between SIGTERM and SIGKILL when a running job is stopped (s). */
#define S_KILL_GRACE_S 10.0
/* Sweeps resolving what ran before: the timer's period and how long one slice may take (ms). */
#define S_SWEEP_TICK_MS 5
#define S_SWEEP_SLICE_MS 20
/* Steps at the start of a run left out of its throughput (docs/daemon.md). */
#define S_WARMUP_STEPS 3
/* LOGS: default and largest chunk. */
#define S_LOGS_DEFAULT (1 << 20)
#define S_LOGS_MAX (8 << 20)

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
    int probes;             /* --probes: most probes of a layout: auto job */
    int64_t probe_steps;    /* --probe-steps */
} opts_t;

/* What rank 0 has reported so far, and the sums the run's result is made of. */
typedef struct progress {
    const char *phase;      /* "starting", "training", "evaluating", "done" */
    int64_t step, steps;    /* global steps done; total (0 = unknown) */
    int64_t epoch, epochs;  /* current epoch; total (0 = unknown) */
    double loss;            /* latest step loss (NaN = none) */
    double samples_per_s;   /* latest step throughput (NaN = none) */
    double t_first;         /* mono s of the first step event (0 = none) */
    int64_t step_first;     /* its step */
    double sum_step_s, sum_comm_s;
    int64_t n_steps;
    double warm_step_s;     /* step time summed over the steps after the warm-up */
    int64_t warm_steps, batch; /* how many; the global batch (start event) */
    double sum_epoch_s;
    int64_t n_epochs;
    double acc_test, acc_val; /* latest accuracies (NaN = none) */
    double done_samples_per_s; /* the done event's (NaN = none) */
    int64_t params;
    bool done;
} progress_t;

/* A job whose mpirun runs. */
typedef struct run {
    int64_t id;             /* job id */
    int64_t run_id;         /* its run row (0 = none: the store failed) */
    pid_t pid;              /* mpirun, leader of its process group */
    char **nodes;           /* node names, owned */
    int n_nodes;
    char *output;           /* logs/<id>/output.log */
    char *metrics_path;     /* logs/<id>/metrics.jsonl */
    double t_start;         /* mono s at launch */
    double deadline;        /* mono s of the time limit (0 = none) */
    const char *end_state;  /* decided before the exit: CANCELLED, NODE_FAIL, TIMEOUT; or NULL */
    char *end_reason;       /* with end_state */
    double kill_at;         /* mono s when SIGKILL follows the SIGTERM (0 = none) */
    progress_t p;
    ad_coord_metric_t *buf; /* metric samples not yet in the store */
    size_t n_buf, cap_buf;
    struct run *next;
} run_t;

typedef struct coord {
    const opts_t *opts;
    zsock_t *client;      /* ROUTER: CLI requests */
    zsock_t *agents;      /* ROUTER: agents */
    zsock_t *metrics;     /* PULL: trainer events */
    zloop_t *loop;
    int sigfd;            /* SIGTERM, SIGINT, SIGCHLD */
    ad_registry_t *reg;
    ad_sched_t *sched;
    ad_sweeps_t *sweeps;  /* the sweeps (docs/sweeps.md) */
    int sweep_timer;      /* zloop timer id while sweeps resolve; -1 = none */
    const ad_home_t *home;
    zhashx_t *addresses;  /* node name -> address mpirun reaches it by (owned strings) */
    run_t *runs;          /* running jobs */
    struct autojob *autos; /* jobs with layout: auto */
    unsigned nodes_gen;   /* bumped when a node comes UP or goes DOWN */
    char *trainer;        /* autodist-train path */
    char *local_rsh;      /* autodist-local-rsh: mpirun's remote shell for loopback nodes */
    unsigned ticks;
    int exit_code;        /* -1 while running */
} coord_t;

static double
s_now(void)
{
    return (double)zclock_mono() / 1000.0;
}

static void
s_usage(FILE *f)
{
    fprintf(f,
            "usage: autodistd [options]\n"
            "\n"
            "The coordinator: node registry, job queue, launcher (mpirun) and store.\n"
            "`autodist up` starts it in the background; run it by hand for a real cluster.\n"
            "\n"
            "  --home DIR           autodist home (default $%s or ~/%s); the store is DIR/runs.db\n"
            "  --client ENDPOINT    client ROUTER (default %s)\n"
            "  --agents ENDPOINT    agent ROUTER (default %s)\n"
            "  --metrics ENDPOINT   metrics PULL (default %s)\n"
            "  --report ENDPOINT    the metrics endpoint as rank 0 reaches it (default: --metrics;\n"
            "                       needed when --metrics binds a wildcard such as tcp://*:7402)\n"
            "  --heartbeat-ms N     heartbeat period given to agents, 100..60000 (default %d)\n"
            "  --trainer PATH       autodist-train on the nodes (default: next to autodistd)\n"
            "  --mpirun PATH        mpirun (default: mpirun from PATH)\n"
            "  --rsh-agent PATH     how mpirun reaches other nodes (--mca plm_rsh_agent;\n"
            "                       default ssh), e.g. a script doing `ip netns exec`\n"
            "  --tcp-subnet CIDR    MPI over TCP on this subnet only (btl self,tcp)\n"
            "  --probes N           layout auto: at most N short probe runs before choosing,\n"
            "                       0..3 (default 3; 0 never probes)\n"
            "  --probe-steps N      steps of a probe run (default 40)\n"
            "  --kill-grace S       seconds between SIGTERM and SIGKILL when a job is\n"
            "                       cancelled, times out or loses a node (default 10)\n"
            "  --foreground         stay in the foreground (the only mode; `autodist up` detaches)\n"
            "  --help\n"
            "\n"
            "Exit status: 0 stopped (SIGTERM, SIGINT, SHUTDOWN), 1 failure, 2 bad command line.\n",
            AD_HOME_ENV, AD_HOME_DEFAULT_NAME, AD_PROTO_CLIENT_ENDPOINT, AD_PROTO_AGENT_ENDPOINT,
            AD_PROTO_METRIC_ENDPOINT, AD_PROTO_HEARTBEAT_MS);
}

/* An integer option's value in [min, max].  Returns 0, or AD_EINVAL naming the option. */
static int
s_opt_long(const char *name, const char *arg, long min, long max, long *out, ad_err_t *err)
{
    char *end;

    errno = 0;
    *out = strtol(arg, &end, 10);
    if (errno || *end || end == arg || *out < min || *out > max)
        return ad_err_set(err, AD_EINVAL, "%s must be an integer in [%ld, %ld], got \"%s\"",
                          name, min, max, arg);
    return 0;
}

static int
s_parse(int argc, char **argv, opts_t *o, ad_err_t *err)
{
    static const struct option longs[] = {
        {"home", required_argument, NULL, 'H'},    {"client", required_argument, NULL, 'c'},
        {"agents", required_argument, NULL, 'a'},  {"metrics", required_argument, NULL, 'm'},
        {"heartbeat-ms", required_argument, NULL, 'b'},
        {"report", required_argument, NULL, 'r'},  {"trainer", required_argument, NULL, 't'},
        {"mpirun", required_argument, NULL, 'M'},  {"rsh-agent", required_argument, NULL, 'R'},
        {"tcp-subnet", required_argument, NULL, 'S'},
        {"kill-grace", required_argument, NULL, 'k'},
        {"probes", required_argument, NULL, 'p'},
        {"probe-steps", required_argument, NULL, 'P'},
        {"foreground", no_argument, NULL, 'f'},    {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    char *end;
    long v;
    int c;

    memset(o, 0, sizeof(*o));
    o->client = AD_PROTO_CLIENT_ENDPOINT;
    o->agents = AD_PROTO_AGENT_ENDPOINT;
    o->metrics = AD_PROTO_METRIC_ENDPOINT;
    o->heartbeat_ms = AD_PROTO_HEARTBEAT_MS;
    o->kill_grace_s = S_KILL_GRACE_S;
    o->probes = AD_AUTO_MAX_PROBES;
    o->probe_steps = AD_AUTO_PROBE_STEPS;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 'H': o->home = optarg; break;
        case 'c': o->client = optarg; break;
        case 'a': o->agents = optarg; break;
        case 'm': o->metrics = optarg; break;
        case 'r': o->report = optarg; break;
        case 't': o->trainer = optarg; break;
        case 'M': o->mpirun = optarg; break;
        case 'R': o->rsh_agent = optarg; break;
        case 'S': o->tcp_subnet = optarg; break;
        case 'f': break;
        case 'p':
            if (s_opt_long("--probes", optarg, 0, AD_AUTO_MAX_PROBES, &v, err))
                return err->code;
            o->probes = (int)v;
            break;
        case 'P':
            if (s_opt_long("--probe-steps", optarg, 5, 100000, &v, err))
                return err->code;
            o->probe_steps = v;
            break;
        case 'k': {
            double g;

            errno = 0;
            g = strtod(optarg, &end);
            if (errno || *end || end == optarg || !(g >= 0 && g <= 3600))
                return ad_err_set(err, AD_EINVAL,
                                  "--kill-grace must be seconds in [0, 3600], got \"%s\"", optarg);
            o->kill_grace_s = g;
            break;
        }
        case 'b':
            if (s_opt_long("--heartbeat-ms", optarg, 100, 60000, &v, err))
                return err->code;
            o->heartbeat_ms = (int)v;
            break;
        case 'h':
            s_usage(stdout);
            return 1;
        default:
            return ad_err_set(err, AD_EINVAL, "unknown option or missing value: %s (try --help)",
                              argv[optind - 1]);
        }
    }
    if (optind < argc)
        return ad_err_set(err, AD_EINVAL, "unexpected argument \"%s\" (try --help)", argv[optind]);
    if (!o->report) {
        if (strchr(o->metrics, '*') || strstr(o->metrics, "0.0.0.0"))
            return ad_err_set(err, AD_EINVAL,
                              "--metrics %s is a wildcard: give --report with the address the "
                              "nodes reach this machine by", o->metrics);
        o->report = o->metrics;
    }
    return 0;
}

/* ---- running jobs ---------------------------------------------------------------------- */

static void s_schedule(coord_t *self);
static void s_auto_job_ended(coord_t *self, int64_t id);

static run_t *
s_run_find(coord_t *self, int64_t id)
{
    for (run_t *r = self->runs; r; r = r->next)
        if (r->id == id)
            return r;
    return NULL;
}

static void
s_progress_init(progress_t *p)
{
    memset(p, 0, sizeof(*p));
    p->phase = "starting";
    p->loss = p->samples_per_s = NAN;
    p->acc_test = p->acc_val = p->done_samples_per_s = NAN;
}

static void
s_metric_add(run_t *r, int64_t step, const char *key, double v)
{
    if (r->n_buf == r->cap_buf) {
        r->cap_buf = r->cap_buf ? 2 * r->cap_buf : 64;
        r->buf = realloc(r->buf, r->cap_buf * sizeof(*r->buf));
        if (!r->buf)
            ad_oom(r->cap_buf * sizeof(*r->buf));
    }
    r->buf[r->n_buf++] = (ad_coord_metric_t){step, key, v};
}

/* Write the buffered samples of r to the store (one transaction). */
static void
s_metric_flush(run_t *r)
{
    ad_err_t err = {0};

    if (r->n_buf == 0 || r->run_id <= 0) {
        r->n_buf = 0;
        return;
    }
    if (ad_coord_run_metrics(r->run_id, r->buf, r->n_buf, &err))
        ad_log(AD_LOG_WARN, "job %lld: %zu metric samples not stored: %s", (long long)r->id,
               r->n_buf, err.msg);
    r->n_buf = 0;
}

static double
s_getd(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    return json_is_number(v) ? json_number_value(v) : NAN;
}

static int64_t
s_geti(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

/* One event of rank 0's metrics (docs/trainer.md), live or read back from metrics.jsonl. */
static void
s_progress_event(run_t *r, const json_t *ev, double now)
{
    const char *event = json_string_value(json_object_get(ev, "event"));
    progress_t *p = &r->p;
    int64_t step = s_geti(ev, "step");

    if (!event)
        return;
    if (!strcmp(event, "start")) {
        json_t *cfg = json_object_get(ev, "config");
        int64_t steps = s_geti(cfg, "steps"), epochs = s_geti(cfg, "epochs");
        int64_t per_epoch = s_geti(ev, "steps_per_epoch");

        p->epochs = epochs;
        p->batch = s_geti(cfg, "batch_size");
        p->steps = steps > 0 ? steps : epochs * per_epoch;
        p->params = s_geti(ev, "params");
        p->step = s_geti(ev, "start_step");
        p->phase = "training";
    } else if (!strcmp(event, "step")) {
        double step_s = s_getd(ev, "step_s"), comm_s = s_getd(ev, "comm_s");

        p->phase = "training";
        p->step = step;
        p->epoch = s_geti(ev, "epoch");
        p->loss = s_getd(ev, "loss");
        p->samples_per_s = s_getd(ev, "samples_per_s");
        if (p->t_first == 0) {
            p->t_first = now;
            p->step_first = step;
        }
        if (!isnan(step_s)) {
            p->sum_step_s += step_s;
            p->sum_comm_s += isnan(comm_s) ? 0 : comm_s;
            p->n_steps++;
            /* The first S_WARMUP_STEPS steps of a run (allocator, kernel choice) are left out. */
            if (p->n_steps > S_WARMUP_STEPS) {
                p->warm_step_s += step_s;
                p->warm_steps++;
            }
        }
        s_metric_add(r, step, "loss", p->loss);
        s_metric_add(r, step, "samples_per_s", p->samples_per_s);
        if (!isnan(step_s))
            s_metric_add(r, step, "step_s", step_s);
        if (!isnan(comm_s))
            s_metric_add(r, step, "comm_s", comm_s);
        if (json_is_number(json_object_get(ev, "exposed_comm_s")))
            s_metric_add(r, step, "exposed_comm_s", s_getd(ev, "exposed_comm_s"));
    } else if (!strcmp(event, "epoch")) {
        double wall = s_getd(ev, "wall_s");

        p->epoch = s_geti(ev, "epoch");
        if (!isnan(wall)) {
            p->sum_epoch_s += wall;
            p->n_epochs++;
            s_metric_add(r, step, "epoch_s", wall);
        }
        s_metric_add(r, step, "epoch_loss", s_getd(ev, "loss"));
        p->phase = "evaluating";
    } else if (!strcmp(event, "eval")) {
        const char *split = json_string_value(json_object_get(ev, "split"));
        double acc = s_getd(ev, "accuracy");
        bool test = split && !strcmp(split, "test");

        if (test)
            p->acc_test = acc;
        else
            p->acc_val = acc;
        s_metric_add(r, step, test ? "test_accuracy" : "val_accuracy", acc);
        s_metric_add(r, step, test ? "test_loss" : "val_loss", s_getd(ev, "loss"));
    } else if (!strcmp(event, "done")) {
        p->done = true;
        p->phase = "done";
        p->done_samples_per_s = s_getd(ev, "samples_per_s");
    }
}

/*
 * METRIC events can be lost (the PUSH socket drops while the coordinator is
 * away); rank 0's metrics.jsonl has them all.  Replay it when the live
 * stream did not bring the end, and the file can be read from here.
 */
static void
s_progress_replay(run_t *r, double now)
{
    char *line = NULL;
    size_t cap = 0;
    FILE *f;

    f = fopen(r->metrics_path, "r");
    if (!f)
        return;
    s_progress_init(&r->p);
    r->n_buf = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *ev = json_loads(line, 0, NULL);

        if (json_is_object(ev))
            s_progress_event(r, ev, now);
        json_decref(ev);
    }
    free(line);
    fclose(f);
}

/* STATUS's progress object of a running job. */
static json_t *
s_progress_json(const run_t *r, double now)
{
    const progress_t *p = &r->p;
    json_t *eta = json_null();

    if (p->steps > 0 && p->t_first > 0 && p->step > p->step_first && now > p->t_first) {
        double rate = (double)(p->step - p->step_first) / (now - p->t_first);

        eta = json_real((double)(p->steps > p->step ? p->steps - p->step : 0) / rate);
    }
    return json_pack("{s:s s:I s:o s:I s:o s:o s:o s:o s:f}", "phase", p->phase, "step",
                     (json_int_t)p->step, "steps",
                     p->steps > 0 ? json_integer(p->steps) : json_null(), "epoch",
                     (json_int_t)p->epoch, "epochs",
                     p->epochs > 0 ? json_integer(p->epochs) : json_null(), "loss",
                     isnan(p->loss) ? json_null() : json_real(p->loss), "samples_per_s",
                     isnan(p->samples_per_s) ? json_null() : json_real(p->samples_per_s),
                     "eta_s", eta, "elapsed_s", now - r->t_start);
}

static void
s_run_free(run_t *r)
{
    for (int i = 0; i < r->n_nodes; i++)
        free(r->nodes[i]);
    free(r->nodes);
    free(r->output);
    free(r->metrics_path);
    free(r->end_reason);
    free(r->buf);
    free(r);
}

/*
 * Stop job r: SIGTERM to mpirun's process group now (the trainer
 * checkpoints and exits), SIGKILL after the grace.  The first decided end
 * state and reason stay.
 */
static void
s_run_stop(coord_t *self, run_t *r, const char *state, const char *reason)
{
    if (!r->end_state) {
        r->end_state = state;
        r->end_reason = ad_strdup(reason);
    }
    if (r->kill_at > 0)
        return;
    ad_log(AD_LOG_INFO, "job %lld: stopping (%s: %s)", (long long)r->id, state, reason);
    ad_proc_signal_group(r->pid, SIGTERM);
    r->kill_at = s_now() + self->opts->kill_grace_s;
}

/* SIGKILL what is left of job id: mpirun's group and any rank that outlived it. */
static int
s_kill_job(coord_t *self, int64_t id, pid_t pgid)
{
    char kv_job[64], *kv_home;
    int n;

    if (pgid > 0)
        ad_proc_signal_group(pgid, SIGKILL);
    snprintf(kv_job, sizeof(kv_job), "AUTODIST_JOB=%lld", (long long)id);
    kv_home = ad_malloc(strlen(self->home->root) + sizeof("AUTODIST_HOME="));
    sprintf(kv_home, "AUTODIST_HOME=%s", self->home->root);
    n = ad_proc_signal_env(kv_job, kv_home, SIGKILL);
    free(kv_home);
    return n;
}

/* mpirun of r exited with wait status: record the outcome and free the nodes. */
static void
s_run_end(coord_t *self, run_t *r, int status)
{
    int exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    ad_coord_result_t res = {0};
    const char *state;
    char reason[600], last[400];
    ad_err_t err = {0};
    int strays;

    strays = s_kill_job(self, r->id, r->pid);
    if (strays)
        ad_log(AD_LOG_WARN, "job %lld: %d process(es) outlived mpirun; killed", (long long)r->id,
               strays);
    if (!r->p.done)
        s_progress_replay(r, s_now());
    s_metric_flush(r);
    if (r->end_state) {
        state = r->end_state;
        snprintf(reason, sizeof(reason), "%s", r->end_reason);
    } else if (exit_code == 0) {
        state = "COMPLETED";
        reason[0] = '\0';
    } else {
        state = "FAILED";
        if (ad_proc_last_line(r->output, last, sizeof(last)))
            snprintf(reason, sizeof(reason), "exit %d: %s", exit_code, last);
        else
            snprintf(reason, sizeof(reason), "exit %d (see %s)", exit_code, r->output);
    }
    res.state = state;
    /*
     * Throughput at steady state: global batch x steps / their time, past the
     * warm-up, when the run had enough steps; else the trainer's own figure.
     */
    if (r->p.done && r->p.batch > 0 && r->p.warm_steps >= S_WARMUP_STEPS && r->p.warm_step_s > 0)
        res.samples_per_s = (double)r->p.batch * (double)r->p.warm_steps / r->p.warm_step_s;
    else
        res.samples_per_s = r->p.done ? r->p.done_samples_per_s : NAN;
    res.epoch_time_s = r->p.n_epochs ? r->p.sum_epoch_s / (double)r->p.n_epochs : NAN;
    res.accuracy = !isnan(r->p.acc_test) ? r->p.acc_test : r->p.acc_val;
    res.step_time_s = r->p.n_steps ? r->p.sum_step_s / (double)r->p.n_steps : NAN;
    res.comm_time_s = r->p.n_steps ? r->p.sum_comm_s / (double)r->p.n_steps : NAN;
    res.params = r->p.params;
    if (r->run_id > 0 && ad_coord_run_finish(r->run_id, &res, &err))
        ad_log(AD_LOG_WARN, "job %lld: run not recorded: %s", (long long)r->id, err.msg);
    if (ad_coord_job_set(r->id, state, reason[0] ? reason : NULL, exit_code, &err))
        ad_log(AD_LOG_ERROR, "job %lld: cannot record %s: %s", (long long)r->id, state, err.msg);
    ad_sweeps_ended(self->sweeps, r->id, ad_sweeps_job_from_state(state), s_now() - r->t_start,
                    s_now());
    ad_log(state[0] == 'C' && state[1] == 'O' ? AD_LOG_INFO : AD_LOG_WARN,
           "job %lld %s (exit %d)%s%s", (long long)r->id, state, exit_code, reason[0] ? ": " : "",
           reason);
    ad_sched_release(self->sched, r->id);
    s_auto_job_ended(self, r->id);
    for (int i = 0; i < r->n_nodes; i++)
        ad_registry_remove_job(self->reg, r->nodes[i], r->id);
    for (run_t **pp = &self->runs; *pp; pp = &(*pp)->next)
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    s_run_free(r);
}

/* Collect every exited child; returns how many jobs ended. */
static int
s_reap(coord_t *self)
{
    int status, n = 0;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (run_t *r = self->runs; r; r = r->next)
            if (r->pid == pid) {
                s_run_end(self, r, status);
                n++;
                break;
            }
    }
    return n;
}

/* The job's spec from the store, validated again. */
static int
s_load_job(int64_t id, ad_job_t *job, ad_err_t *err)
{
    json_t *o = ad_coord_job_json(id, NULL, err), *spec;
    int rc, nodes, ppn, tpp;
    char *text;

    if (!o)
        return err->code;
    spec = json_object_get(o, "spec");
    text = spec ? json_dumps(spec, JSON_COMPACT) : NULL;
    nodes = (int)json_integer_value(json_object_get(o, "nodes"));
    ppn = (int)json_integer_value(json_object_get(o, "procs_per_node"));
    tpp = (int)json_integer_value(json_object_get(o, "threads_per_proc"));
    json_decref(o);
    if (!text)
        return ad_err_set(err, AD_EDB, "job %lld has no spec in the store", (long long)id);
    rc = ad_job_from_json(text, job, err);
    free(text);
    if (!rc && job->layout.is_auto && nodes > 0 && ppn > 0 && tpp > 0) {
        /* layout: auto, decided: the store's row holds the layout the planner chose. */
        job->layout.is_auto = false;
        job->layout.nodes = nodes;
        job->layout.procs_per_node = ppn;
        job->layout.threads_per_proc = tpp;
    }
    return rc;
}

/* A job that could not start: FAILED with the reason, nodes freed. */
static void
s_launch_failed(coord_t *self, int64_t id, const char *why)
{
    ad_log(AD_LOG_ERROR, "job %lld cannot start: %s", (long long)id, why);
    ad_coord_job_set(id, "FAILED", why, INT32_MIN, NULL);
    ad_sched_release(self->sched, id);
    ad_sweeps_ended(self->sweeps, id, AD_SWEEPS_JOB_FAILED, NAN, s_now());
}

/* Whether every node is reached at a loopback address: nodes simulated on this machine. */
static bool
s_all_loopback(const ad_launch_node_t *nodes, int n)
{
    for (int i = 0; i < n; i++)
        if (!ad_auto_is_loopback(nodes[i].host))
            return false;
    return true;
}

/* Start the scheduler's pick: plan, files, mpirun. */
static void
s_launch(coord_t *self, const ad_sched_pick_t *pick)
{
    ad_launch_node_t *nodes = ad_malloc((size_t)pick->n_nodes * sizeof(*nodes));
    ad_profile_t **profiles = calloc((size_t)pick->n_nodes, sizeof(*profiles));
    ad_launch_plan_t *plan = NULL;
    ad_launch_spec_t spec = {0};
    ad_coord_run_t row = {0};
    char **argv = NULL, **env = NULL, id_s[32], dataset[300], hash[17];
    char machine_ranks[64] = "";
    const char *extra_env[] = {machine_ranks, NULL};
    const char *hardware = NULL;
    ad_job_t job = {0};
    ad_err_t err = {0};
    size_t list_len = 1;
    char *nodelist;
    run_t *r;
    pid_t pid;

    if (!profiles)
        ad_oom(0);
    snprintf(id_s, sizeof(id_s), "%lld", (long long)pick->job_id);
    if (s_load_job(pick->job_id, &job, &err)) {
        s_launch_failed(self, pick->job_id, err.msg);
        goto out;
    }
    for (int i = 0; i < pick->n_nodes; i++) {
        const ad_registry_node_t *n = ad_registry_lookup(self->reg, pick->nodes[i]);
        const char *addr = zhashx_lookup(self->addresses, pick->nodes[i]);
        ad_err_t perr = {0};

        nodes[i].name = pick->nodes[i];
        nodes[i].host = addr ? addr : pick->nodes[i];
        if (n && n->profile && ad_profile_from_json(n->profile, &profiles[i], &perr))
            ad_log(AD_LOG_WARN, "node %s: profile unusable for binding: %s", pick->nodes[i],
                   perr.msg);
        nodes[i].profile = profiles[i];
        if (i == 0 && n)
            hardware = n->fingerprint;
        list_len += strlen(pick->nodes[i]) + 1;
    }
    spec.job_id = id_s;
    spec.job = &job;
    spec.nodes = nodes;
    spec.n_nodes = pick->n_nodes;
    spec.home = self->home;
    spec.trainer = self->trainer;
    spec.mpirun = self->opts->mpirun;
    spec.transport.single_copy_off = true;
    spec.transport.allow_root = geteuid() == 0;
    spec.transport.rsh_agent = self->opts->rsh_agent;
    spec.transport.tcp_subnet = self->opts->tcp_subnet;
    if (!spec.transport.rsh_agent && s_all_loopback(nodes, pick->n_nodes) &&
        (pick->n_nodes > 1 || strcmp(nodes[0].host, "127.0.0.1"))) {
        /*
         * Simulated nodes of this machine (autodist up --agents N): mpirun would ssh to
         * 127.0.0.2; the local remote shell runs its daemon here, and the ranks of
         * different nodes talk TCP over loopback, which Open MPI excludes by default.
         */
        spec.transport.rsh_agent = self->local_rsh;
        if (!spec.transport.tcp_subnet && pick->n_nodes > 1)
            spec.transport.tcp_subnet = "127.0.0.0/8";
        /* Every rank shares this machine's cores: waits must not spin them away. */
        snprintf(machine_ranks, sizeof(machine_ranks), "AUTODIST_MACHINE_RANKS=%d",
                 job.layout.nodes * job.layout.procs_per_node);
        spec.transport.env = extra_env;
    }
    spec.transport.report = self->opts->report;
    if (ad_launch_plan_new(&spec, &plan, &err) || ad_launch_write_files(plan, &err)) {
        s_launch_failed(self, pick->job_id, err.msg);
        goto out;
    }
    argv = ad_launch_argv(plan, NULL);
    env = ad_launch_env(plan);
    if (ad_proc_spawn(argv, env, ad_launch_plan_output(plan), &pid, &err)) {
        s_launch_failed(self, pick->job_id, err.msg);
        goto out;
    }
    nodelist = ad_malloc(list_len);
    nodelist[0] = '\0';
    for (int i = 0; i < pick->n_nodes; i++) {
        if (i)
            strcat(nodelist, ",");
        strcat(nodelist, pick->nodes[i]);
    }
    if (ad_coord_job_place(pick->job_id, job.layout.nodes, job.layout.procs_per_node,
                           job.layout.threads_per_proc,
                           job.device == AD_JOB_DEVICE_GPU ? "gpu" : "cpu", nodelist, &err) ||
        ad_coord_job_set(pick->job_id, "RUNNING", NULL, INT32_MIN, &err))
        ad_log(AD_LOG_ERROR, "job %lld: cannot record RUNNING: %s", (long long)pick->job_id,
               err.msg);
    ad_sweeps_started(self->sweeps, pick->job_id);
    r = calloc(1, sizeof(*r));
    if (!r)
        ad_oom(sizeof(*r));
    r->id = pick->job_id;
    r->pid = pid;
    r->n_nodes = pick->n_nodes;
    r->nodes = ad_malloc((size_t)pick->n_nodes * sizeof(*r->nodes));
    for (int i = 0; i < pick->n_nodes; i++) {
        r->nodes[i] = ad_strdup(pick->nodes[i]);
        ad_registry_add_job(self->reg, pick->nodes[i], r->id);
    }
    r->output = ad_strdup(ad_launch_plan_output(plan));
    r->metrics_path = ad_strdup(ad_launch_plan_metrics(plan));
    r->t_start = s_now();
    if (job.time_limit_s > 0)
        r->deadline = r->t_start + (double)job.time_limit_s;
    s_progress_init(&r->p);
    ad_job_dataset_label(&job, dataset, sizeof(dataset));
    ad_job_hash(&job, hash);
    row.job = r->id;
    row.model = ad_job_model_name(job.model);
    row.dataset = dataset;
    row.hardware = hardware;
    row.device = job.device == AD_JOB_DEVICE_GPU ? "gpu" : "cpu";
    row.nodes = job.layout.nodes;
    row.procs_per_node = job.layout.procs_per_node;
    row.threads_per_proc = job.layout.threads_per_proc;
    row.batch_size = job.batch_size;
    row.config_hash = hash;
    row.sweep = ad_coord_job_sweep(pick->job_id);
    if (ad_coord_run_start(&row, &r->run_id, &err))
        ad_log(AD_LOG_ERROR, "job %lld: no run row: %s", (long long)r->id, err.msg);
    r->next = self->runs;
    self->runs = r;
    ad_log(AD_LOG_INFO, "job %lld (%s) started on %s: %dx%dx%d, mpirun pid %d, log %s",
           (long long)r->id, job.name, nodelist, job.layout.nodes, job.layout.procs_per_node,
           job.layout.threads_per_proc, (int)pid, r->output);
    free(nodelist);
out:
    ad_launch_argv_free(&argv);
    ad_launch_argv_free(&env);
    ad_launch_plan_free(&plan);
    for (int i = 0; i < pick->n_nodes; i++)
        ad_profile_free(&profiles[i]);
    free(profiles);
    free(nodes);
    ad_job_clear(&job);
}

/*
 * Queue the next jobs of the sweeps, up to each one's limit (docs/sweeps.md):
 * a sweep never has more than max_parallel jobs in the queue, so the next
 * index is picked here after every job end.
 */
static void
s_sweeps_dispatch(coord_t *self)
{
    int up = (int)ad_registry_count(self->reg, true);
    ad_sweeps_pick_t pick;

    while (ad_sweeps_next(self->sweeps, up, &pick) == 0) {
        const ad_job_t *job = &pick.job;
        ad_err_t err = {0};
        int64_t id = 0;
        char *canon;

        if (job->layout.is_auto) {
            ad_log(AD_LOG_ERROR, "sweep %lld: job %s has layout auto, which sweeps do not "
                   "take yet; counted FAILED", (long long)pick.sweep, job->name);
            ad_sweeps_queued(self->sweeps, &pick, 0);
            ad_sweeps_pick_clear(&pick);
            continue;
        }
        canon = ad_job_to_json(job);
        if (ad_coord_sweep_job_add(job->name, canon, job->layout.nodes,
                                   job->layout.procs_per_node, job->layout.threads_per_proc,
                                   pick.sweep, pick.config_hash, &id, &err)) {
            ad_log(AD_LOG_ERROR, "sweep %lld: job %s not queued: %s", (long long)pick.sweep,
                   job->name, err.msg);
            id = 0;
        } else if (ad_sched_add_job(self->sched, id, job->layout.nodes, job->layout.procs_per_node,
                                    job->layout.threads_per_proc)) {
            ad_coord_job_set(id, "FAILED", "the scheduler refused its layout", INT32_MIN, NULL);
            id = 0;
        } else {
            ad_log(AD_LOG_DEBUG, "job %lld (%s) queued for sweep %lld", (long long)id, job->name,
                   (long long)pick.sweep);
        }
        free(canon);
        ad_sweeps_queued(self->sweeps, &pick, id);
        ad_sweeps_pick_clear(&pick);
    }
}

/* Start every queued job that fits the free nodes. */
static void
s_schedule(coord_t *self)
{
    ad_sched_pick_t pick = {0};

    if (self->exit_code >= 0)
        return;
    s_sweeps_dispatch(self);
    while (ad_sched_next(self->sched, &pick) == 0) {
        s_launch(self, &pick);
        ad_sched_pick_clear(&pick);
    }
}

/* ---- layout: auto ---------------------------------------------------------------------- */

/*
 * A job submitted with `layout: auto` (docs/planner.md): planned on the UP
 * nodes when it arrives (or when nodes come), possibly after short probes
 * run as ordinary jobs; then queued with the chosen layout.
 */
typedef struct autojob {
    int64_t id;                          /* the job */
    int64_t probes[AD_AUTO_MAX_PROBES];  /* probe jobs */
    int n_probes, n_done;                /* probes started and ended */
    ad_planner_layout_t plans[AD_AUTO_MAX_PROBES]; /* the layouts to probe, one after another */
    int n_plans;
    bool probed;                         /* probes ran: decide without more */
    bool decided;                        /* queued with its layout */
    bool cancelled;
    unsigned nodes_gen;                  /* node set it was last tried on */
    char reason[700];                    /* why it is not queued yet */
    json_t *explain;                     /* the planner's ranking (STATUS "plan") */
    struct autojob *next;
} autojob_t;

static autojob_t *
s_auto_find(coord_t *self, int64_t id)
{
    for (autojob_t *a = self->autos; a; a = a->next)
        if (a->id == id)
            return a;
    return NULL;
}

static autojob_t *
s_auto_of_probe(coord_t *self, int64_t probe)
{
    for (autojob_t *a = self->autos; a; a = a->next)
        for (int i = 0; i < a->n_probes; i++)
            if (a->probes[i] == probe)
                return a;
    return NULL;
}

static autojob_t *
s_auto_new(coord_t *self, int64_t id)
{
    autojob_t *a = calloc(1, sizeof(*a));

    if (!a)
        ad_oom(sizeof(*a));
    a->id = id;
    a->nodes_gen = (unsigned)-1;
    snprintf(a->reason, sizeof(a->reason), "planning its layout");
    a->next = self->autos;
    self->autos = a;
    return a;
}

/* The UP nodes as the planner sees them. */
static size_t
s_auto_nodes(coord_t *self, ad_auto_node_t **out)
{
    size_t n = ad_registry_count(self->reg, true), i = 0;
    const ad_registry_node_t *node = NULL;
    ad_auto_node_t *v = calloc(n ? n : 1, sizeof(*v));

    if (!v)
        ad_oom(n * sizeof(*v));
    while ((node = ad_registry_next_up(self->reg, node)) && i < n) {
        json_t *b = json_object_get(node->profile, "benchmarks");
        json_t *g = json_object_get(node->profile, "gpus");

        v[i].hardware = node->fingerprint;
        v[i].cores = node->cores;
        v[i].gpus = json_is_array(g) ? (int)json_array_size(g) : 0;
        v[i].memory_bytes = json_integer_value(json_object_get(node->profile, "memory_bytes"));
        v[i].gemm_gflops_1 = s_getd(b, "gemm_gflops_1core");
        v[i].gemm_gflops_all = s_getd(b, "gemm_gflops_all");
        v[i].mem_bw_gbs = s_getd(b, "mem_bandwidth_gbs");
        {
            const char *addr = zhashx_lookup(self->addresses, node->name);

            v[i].this_machine = ad_auto_is_loopback(addr);
        }
        i++;
    }
    *out = v;
    return i;
}

/* Queue one probe of a's job on layout l.  Returns its id or 0. */
static int64_t
s_auto_probe(coord_t *self, autojob_t *a, const ad_job_t *job, const ad_planner_layout_t *l)
{
    ad_job_t probe = {0};
    ad_err_t err = {0};
    int64_t id = 0;
    char *canon;

    /* A probe never trains longer than the job itself would. */
    ad_auto_probe_job(job, l,
                      job->steps > 0 && job->steps < self->opts->probe_steps ? job->steps
                                                                             : self->opts->probe_steps,
                      &probe);
    canon = ad_job_to_json(&probe);
    if (ad_coord_job_add(probe.name, canon, l->nodes, l->procs_per_node, l->threads_per_proc,
                         &id, &err) ||
        ad_sched_add_job(self->sched, id, l->nodes, l->procs_per_node, l->threads_per_proc)) {
        ad_log(AD_LOG_WARN, "job %lld: probe %s not queued: %s", (long long)a->id, probe.name,
               err.msg[0] ? err.msg : "the scheduler refused it");
        if (id)
            ad_coord_job_set(id, "FAILED", "the scheduler refused the probe", INT32_MIN, NULL);
        id = 0;
    }
    free(canon);
    ad_job_clear(&probe);
    return id;
}

/* Queue a's next probe (one at a time).  Returns true when one is queued. */
static bool
s_auto_probe_next(coord_t *self, autojob_t *a, const ad_job_t *job)
{
    char lay[48];

    while (a->n_probes < a->n_plans) {
        int64_t id = s_auto_probe(self, a, job, &a->plans[a->n_probes]);

        if (id) {
            a->probes[a->n_probes++] = id;
            snprintf(a->reason, sizeof(a->reason), "probing layout %d of %d (%s, job %lld) "
                     "before choosing", a->n_probes, a->n_plans,
                     ad_auto_layout_str(&a->plans[a->n_probes - 1], lay, sizeof(lay)),
                     (long long)id);
            ad_log(AD_LOG_INFO, "job %lld: layout auto, %s", (long long)a->id, a->reason);
            return true;
        }
        /* That probe could not be queued: the next one. */
        a->plans[a->n_probes] = a->plans[a->n_plans - 1];
        a->n_plans--;
    }
    return false;
}

/* Plan a: probe, or choose and queue.  Called on submit, when nodes change, after probes. */
static void
s_auto_plan(coord_t *self, autojob_t *a)
{
    ad_auto_node_t *nodes = NULL;
    ad_auto_choice_t c = {0};
    ad_job_t job = {0};
    ad_err_t err = {0};
    char dataset[300], lay[48];
    size_t n;
    int rc;

    if (a->decided || a->cancelled || a->n_done < a->n_plans)
        return;
    a->nodes_gen = self->nodes_gen;
    if (s_load_job(a->id, &job, &err)) {
        snprintf(a->reason, sizeof(a->reason), "%s", err.msg);
        ad_coord_job_set(a->id, "FAILED", err.msg, INT32_MIN, NULL);
        a->decided = true;
        goto out;
    }
    ad_job_dataset_label(&job, dataset, sizeof(dataset));
    n = s_auto_nodes(self, &nodes);
    rc = ad_auto_decide(ad_coord_store(), &job, dataset, nodes, n,
                        a->probed ? 0 : self->opts->probes, &c, &err);
    if (rc) {
        /* No node, or none fits: stays PENDING and is tried again when nodes change. */
        snprintf(a->reason, sizeof(a->reason), "layout auto: %s", err.msg);
        goto out;
    }
    json_decref(a->explain);
    a->explain = json_incref(c.explain);
    if (c.probe) {
        /*
         * One probe at a time: probes that ran side by side on nodes sharing a
         * machine (or a network) would measure each other.
         */
        for (size_t i = 0; i < c.n_probes; i++)
            a->plans[a->n_plans++] = c.probes[i];
        if (s_auto_probe_next(self, a, &job))
            goto out;
        /* No probe could be queued: choose without them. */
        a->n_plans = a->n_done = a->n_probes;
    }
    a->probed = true;
    if (ad_coord_job_place(a->id, c.layout.nodes, c.layout.procs_per_node,
                           c.layout.threads_per_proc, c.layout.device ? c.layout.device : "cpu",
                           NULL, &err) ||
        ad_sched_add_job(self->sched, a->id, c.layout.nodes, c.layout.procs_per_node,
                         c.layout.threads_per_proc)) {
        snprintf(a->reason, sizeof(a->reason), "layout auto: cannot queue %s: %s",
                 ad_auto_layout_str(&c.layout, lay, sizeof(lay)),
                 err.msg[0] ? err.msg : "the scheduler refused it");
        ad_coord_job_set(a->id, "FAILED", a->reason, INT32_MIN, NULL);
        a->decided = true;
        goto out;
    }
    a->decided = true;
    ad_log(AD_LOG_INFO, "job %lld: layout auto -> %s, predicted %.0f samples/s [%.0f-%.0f], "
           "speedup %.2f (%s; %zu layouts fit)", (long long)a->id,
           ad_auto_layout_str(&c.layout, lay, sizeof(lay)), c.pred.samples_per_s, c.pred.low,
           c.pred.high, c.pred.speedup, c.pred.basis, c.n_candidates);
out:
    ad_auto_choice_clear(&c);
    free(nodes);
    ad_job_clear(&job);
}

/* A job ended: when it was the last probe of an auto job, decide that job now. */
static void
s_auto_job_ended(coord_t *self, int64_t id)
{
    autojob_t *a = s_auto_of_probe(self, id);

    if (!a)
        return;
    a->n_done++;
    if (a->cancelled)
        return;
    if (a->n_done == a->n_probes && a->n_probes < a->n_plans) {
        ad_job_t job = {0};
        ad_err_t err = {0};

        if (!s_load_job(a->id, &job, &err) && s_auto_probe_next(self, a, &job)) {
            ad_job_clear(&job);
            return;
        }
        ad_job_clear(&job);
        a->n_plans = a->n_probes;
    }
    if (a->n_done == a->n_plans) {
        a->probed = true;
        s_auto_plan(self, a);
    }
}

/* Auto jobs not yet planned: try again when the set of UP nodes changed. */
static void
s_auto_tick(coord_t *self)
{
    for (autojob_t *a = self->autos; a; a = a->next)
        if (!a->decided && !a->cancelled && a->n_done >= a->n_plans &&
            a->nodes_gen != self->nodes_gen)
            s_auto_plan(self, a);
}

static void
s_autos_free(coord_t *self)
{
    while (self->autos) {
        autojob_t *a = self->autos;

        self->autos = a->next;
        json_decref(a->explain);
        free(a);
    }
}

/* Jobs on a node that went DOWN end as NODE_FAIL. */
static void
s_fail_node_jobs(coord_t *self, const char *name, const char *why)
{
    char reason[512];

    snprintf(reason, sizeof(reason), "node %s went DOWN (%s)", name, why);
    for (run_t *r = self->runs; r; r = r->next)
        for (int i = 0; i < r->n_nodes; i++)
            if (!strcmp(r->nodes[i], name)) {
                s_run_stop(self, r, "NODE_FAIL", reason);
                break;
            }
}

/* Every tick: time limits, SIGKILL after the grace, metrics to the store. */
static void
s_runs_tick(coord_t *self, double now)
{
    for (run_t *r = self->runs; r; r = r->next) {
        if (r->deadline > 0 && now >= r->deadline && !r->end_state) {
            char reason[128];

            snprintf(reason, sizeof(reason), "ran past its time limit of %.0f s",
                     r->deadline - r->t_start);
            s_run_stop(self, r, "TIMEOUT", reason);
        }
        if (r->kill_at > 0 && now >= r->kill_at) {
            ad_log(AD_LOG_WARN, "job %lld: still running %.0f s after SIGTERM; SIGKILL",
                   (long long)r->id, self->opts->kill_grace_s);
            s_kill_job(self, r->id, r->pid);
            r->kill_at = 0;
        }
        s_metric_flush(r);
    }
}

/* On the way out: stop every job and wait for them (at most the grace, then SIGKILL). */
static void
s_stop_all(coord_t *self, const char *why)
{
    double until;

    if (!self->runs)
        return;
    for (run_t *r = self->runs; r; r = r->next)
        s_run_stop(self, r, "CANCELLED", why);
    until = s_now() + self->opts->kill_grace_s;
    while (self->runs && s_now() < until) {
        s_reap(self);
        if (self->runs)
            zclock_sleep(50);
    }
    for (run_t *r = self->runs; r; r = r->next)
        s_kill_job(self, r->id, r->pid);
    until = s_now() + 5;
    while (self->runs && s_now() < until) {
        s_reap(self);
        if (self->runs)
            zclock_sleep(50);
    }
}

/*
 * At start: jobs the store says RUNNING belonged to a coordinator that
 * stopped without ending them; PENDING ones queue again in submit order.
 */
static void
s_recover(coord_t *self)
{
    ad_err_t err = {0};
    json_t *jobs, *o;
    size_t i;

    jobs = ad_coord_jobs_json("RUNNING", false, NULL, 0, &err);
    json_array_foreach(jobs, i, o) {
        int64_t id = json_integer_value(json_object_get(o, "id"));
        int n = s_kill_job(self, id, 0);

        ad_coord_job_set(id, "FAILED", "the coordinator stopped while the job ran", INT32_MIN,
                         NULL);
        ad_log(AD_LOG_WARN, "job %lld was RUNNING when the coordinator stopped: FAILED%s",
               (long long)id, n ? " (its leftover processes killed)" : "");
    }
    json_decref(jobs);
    jobs = ad_coord_jobs_json("PENDING", false, NULL, 0, &err);
    for (i = json_array_size(jobs); i-- > 0;) {
        o = json_array_get(jobs, i);
        if (json_integer_value(json_object_get(o, "nodes")) == 0) {
            /* layout: auto, not decided when the coordinator stopped: plan it again. */
            s_auto_new(self, json_integer_value(json_object_get(o, "id")));
            continue;
        }
        if (ad_sched_add_job(self->sched, json_integer_value(json_object_get(o, "id")),
                             (int)json_integer_value(json_object_get(o, "nodes")),
                             (int)json_integer_value(json_object_get(o, "procs_per_node")),
                             (int)json_integer_value(json_object_get(o, "threads_per_proc"))))
            ad_coord_job_set(json_integer_value(json_object_get(o, "id")), "FAILED",
                             "the scheduler refused its layout", INT32_MIN, NULL);
    }
    if (json_array_size(jobs))
        ad_log(AD_LOG_INFO, "%zu PENDING job(s) queued again", json_array_size(jobs));
    json_decref(jobs);
}

/* ---- agents ---------------------------------------------------------------------------- */

static void
s_send(zsock_t *sock, const char *identity, const char *type, json_t *payload)
{
    ad_err_t err = {0};

    if (!payload)
        ad_oom(0);
    if (ad_proto_send(sock, identity, type, payload, &err))
        ad_log(AD_LOG_WARN, "%s to %s not sent: %s", type, identity ? identity : "-", err.msg);
}

static void
s_reject(coord_t *self, const char *identity, const char *reason, int retry_ms)
{
    s_send(self->agents, identity, "REJECT", json_pack("{s:s s:i}", "reason", reason, "retry_ms",
                                                       retry_ms));
}

static void
s_node_down(coord_t *self, const char *name, const char *why)
{
    ad_err_t err = {0};

    ad_sched_set_node(self->sched, name, false, 0);
    self->nodes_gen++;
    if (ad_coord_node_seen(name, true, &err))
        ad_log(AD_LOG_WARN, "node %s: cannot record DOWN: %s", name, err.msg);
    ad_log(AD_LOG_WARN, "node %s is DOWN (%s)", name, why);
    s_fail_node_jobs(self, name, why);
}

static void
s_on_down(const char *name, void *arg)
{
    s_node_down(arg, name, "missed heartbeats");
}

static void
s_on_hello(coord_t *self, const ad_msg_t *msg)
{
    const char *name = NULL, *address = NULL;
    json_t *profile = NULL;
    int64_t proto = 0, id = 0;
    ad_err_t err = {0};
    const ad_registry_node_t *n;
    int rc;

    ad_json_get_int(msg->payload, "protocol", 1, 1000, &proto, NULL);
    ad_json_get_string(msg->payload, "hostname", 1, 255, &name, NULL);
    ad_json_get_object(msg->payload, "profile", &profile, NULL);
    ad_json_get_string(msg->payload, "address", 1, 255, &address, NULL);
    if (proto != AD_PROTO_VERSION) {
        char reason[128];

        snprintf(reason, sizeof(reason), "protocol %lld is not spoken here (only %d)",
                 (long long)proto, AD_PROTO_VERSION);
        s_reject(self, msg->identity, reason, 0);
        return;
    }
    rc = ad_registry_hello(self->reg, name, msg->identity, profile, s_now(), &err);
    if (rc) {
        ad_log(AD_LOG_WARN, "HELLO from %s refused: %s", name, err.msg);
        s_reject(self, msg->identity, err.msg, 0);
        return;
    }
    n = ad_registry_lookup(self->reg, name);
    ad_sched_set_node(self->sched, name, true, n ? n->cores : 0);
    if (ad_coord_node_up(name, profile, &id, &err)) {
        ad_log(AD_LOG_ERROR, "node %s: %s", name, err.msg);
        ad_registry_bye(self->reg, msg->identity, s_now());
        ad_sched_set_node(self->sched, name, false, 0);
        s_reject(self, msg->identity, "the coordinator cannot write its store", 1000);
        return;
    }
    zhashx_update(self->addresses, name, ad_strdup(address ? address : name));
    self->nodes_gen++;
    ad_log(AD_LOG_INFO, "node %s is UP (id %lld, %d cores, address %s)", name, (long long)id,
           n ? n->cores : 0, address ? address : name);
    s_send(self->agents, msg->identity, "WELCOME",
           json_pack("{s:I s:i}", "node", (json_int_t)id, "heartbeat_ms", self->opts->heartbeat_ms));
    s_schedule(self);
}

static int
s_on_agent(zloop_t *loop, zsock_t *sock, void *arg)
{
    coord_t *self = arg;
    const ad_registry_node_t *n;
    ad_msg_t msg = {0};
    ad_err_t err = {0};
    json_t *load = NULL;
    char *name;
    int rc;

    rc = ad_proto_recv(sock, 0, &msg, &err);
    if (rc == -ETIMEDOUT || rc == -EINTR)
        return 0;
    if (rc) {
        ad_log(AD_LOG_WARN, "%s; dropped", err.msg);
        goto out;
    }
    switch (msg.type) {
    case AD_PROTO_HELLO:
        s_on_hello(self, &msg);
        break;
    case AD_PROTO_HEARTBEAT:
        ad_json_get_object(msg.payload, "load", &load, NULL);
        /* The store's last_seen is written in batches by the tick (S_SEEN_TICKS). */
        if (ad_registry_heartbeat(self->reg, msg.identity, load, s_now(), NULL))
            s_reject(self, msg.identity, "no session: say HELLO again", 1000);
        break;
    case AD_PROTO_BYE:
        n = ad_registry_lookup_identity(self->reg, msg.identity);
        if (!n) {
            s_reject(self, msg.identity, "no session", 1000);
            break;
        }
        name = ad_strdup(n->name);
        ad_registry_bye(self->reg, msg.identity, s_now());
        s_node_down(self, name, "said BYE");
        free(name);
        break;
    default:
        ad_log(AD_LOG_WARN, "%s on the agent socket is not for the coordinator; dropped",
               ad_proto_type_name(msg.type));
        break;
    }
out:
    ad_msg_clear(&msg);
    return 0;
}

/* ---- clients -------------------------------------------------------------------------- */

static void
s_error(coord_t *self, const char *identity, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
s_error(coord_t *self, const char *identity, int code, const char *fmt, ...)
{
    ad_err_t e = {0}, err = {0};
    va_list ap;

    va_start(ap, fmt);
    ad_err_vset(&e, code, fmt, ap);
    va_end(ap);
    if (ad_proto_send_error(self->client, identity, &e, &err))
        ad_log(AD_LOG_WARN, "ERROR to %s not sent: %s", identity, err.msg);
}

/*
 * Add what the store does not hold to a job object: the scheduler's reason
 * and verdict while it is live, rank 0's progress while it runs, the run's
 * outcome once it is over.
 */
static void
s_decorate(coord_t *self, json_t *o)
{
    static const char *const verdicts[] = {NULL, "ready", "wait", "never", "running"};
    json_int_t id = json_integer_value(json_object_get(o, "id"));
    const char *state = json_string_value(json_object_get(o, "state"));
    ad_sched_status_t st = ad_sched_status(self->sched, id);
    const char *reason = ad_sched_reason(self->sched, id);
    run_t *r = s_run_find(self, id);
    json_t *result;
    autojob_t *a = s_auto_find(self, id);

    if (a && a->explain)
        json_object_set_new(o, "plan", json_incref(a->explain));
    if (a && !a->decided && !ad_coord_state_is_final(state)) {
        json_object_set_new(o, "reason", json_string(a->reason));
        json_object_set_new(o, "sched", json_string("planning"));
        return;
    }
    if (ad_coord_state_is_final(state)) {
        result = ad_coord_job_result(id);
        if (result)
            json_object_set_new(o, "result", result);
        return;
    }
    if (reason && !(r && r->end_state))
        json_object_set_new(o, "reason", json_string(reason));
    if (st > AD_SCHED_UNKNOWN && st <= AD_SCHED_RUNNING)
        json_object_set_new(o, "sched", json_string(verdicts[st]));
    if (r) {
        json_object_set_new(o, "progress", s_progress_json(r, s_now()));
        if (r->end_state) {
            json_object_set_new(o, "stopping", json_string(r->end_state));
            json_object_set_new(o, "reason", json_string(r->end_reason));
        }
    }
}

/* The store's row of job id with s_decorate()'s additions. */
static json_t *
s_job_json(coord_t *self, int64_t id, ad_err_t *err)
{
    json_t *o = ad_coord_job_json(id, NULL, err);

    if (o)
        s_decorate(self, o);
    return o;
}

static void
s_fill_reasons(coord_t *self, json_t *jobs)
{
    size_t i;
    json_t *o;

    json_array_foreach(jobs, i, o)
        s_decorate(self, o);
}

static void
s_submit(coord_t *self, const ad_msg_t *msg)
{
    json_t *spec = NULL;
    ad_job_t job = {0};
    ad_err_t err = {0};
    char *text, *canon;
    int64_t id = 0;
    int rc;

    ad_json_get_object(msg->payload, "job", &spec, NULL);
    text = json_dumps(spec, JSON_COMPACT);
    if (!text)
        ad_oom(0);
    rc = ad_job_from_json(text, &job, &err);
    free(text);
    if (rc) {
        s_error(self, msg->identity, AD_EPARSE, "%s", err.msg);
        return;
    }
    if (job.layout.is_auto) {
        canon = ad_job_to_json(&job);
        rc = ad_coord_job_add(job.name, canon, 0, 0, 0, &id, &err);
        free(canon);
        if (rc) {
            s_error(self, msg->identity, AD_EDB, "%s", err.msg);
            goto out;
        }
        ad_log(AD_LOG_INFO, "job %lld (%s) submitted: layout auto", (long long)id, job.name);
        s_send(self->client, msg->identity, "OK",
               json_pack("{s:I s:s s:s s:s}", "job", (json_int_t)id, "name", job.name, "state",
                         "PENDING", "layout", "auto"));
        s_auto_plan(self, s_auto_new(self, id));
        s_schedule(self);
        goto out;
    }
    canon = ad_job_to_json(&job);
    rc = ad_coord_job_add(job.name, canon, job.layout.nodes, job.layout.procs_per_node,
                          job.layout.threads_per_proc, &id, &err);
    free(canon);
    if (rc) {
        s_error(self, msg->identity, AD_EDB, "%s", err.msg);
        goto out;
    }
    rc = ad_sched_add_job(self->sched, id, job.layout.nodes, job.layout.procs_per_node,
                          job.layout.threads_per_proc);
    if (rc) {
        ad_coord_job_set(id, "FAILED", "the scheduler refused the layout", INT32_MIN, NULL);
        s_error(self, msg->identity, AD_EINVAL, "job %lld: the scheduler refused its layout",
                (long long)id);
        goto out;
    }
    ad_log(AD_LOG_INFO, "job %lld (%s) submitted: %dx%dx%d", (long long)id, job.name,
           job.layout.nodes, job.layout.procs_per_node, job.layout.threads_per_proc);
    s_send(self->client, msg->identity, "OK",
           json_pack("{s:I s:s s:s}", "job", (json_int_t)id, "name", job.name, "state",
                     "PENDING"));
    s_schedule(self);
out:
    ad_job_clear(&job);
}

static void
s_status(coord_t *self, const ad_msg_t *msg)
{
    ad_err_t err = {0};
    json_t *jobs, *o;
    int64_t id = 0;

    if (!ad_json_get_int(msg->payload, "job", 1, INT64_MAX, &id, NULL)) {
        o = s_job_json(self, id, &err);
        if (!o) {
            s_error(self, msg->identity, err.code, "%s", err.msg);
            return;
        }
        jobs = json_pack("[o]", o);
    } else {
        jobs = ad_coord_jobs_json(NULL, true, NULL, 0, &err);
        if (!jobs) {
            s_error(self, msg->identity, err.code, "%s", err.msg);
            return;
        }
        s_fill_reasons(self, jobs);
    }
    s_send(self->client, msg->identity, "OK", json_pack("{s:o}", "jobs", jobs));
}

static void
s_jobs(coord_t *self, const ad_msg_t *msg)
{
    const char *state = NULL, *name = NULL;
    ad_err_t err = {0};
    int64_t limit = 0;
    json_t *jobs;

    ad_json_get_string(msg->payload, "filter.state", 1, 16, &state, NULL);
    ad_json_get_string(msg->payload, "filter.name", 1, 255, &name, NULL);
    ad_json_get_int(msg->payload, "filter.limit", 1, 100000, &limit, NULL);
    jobs = ad_coord_jobs_json(state, false, name, limit, &err);
    if (!jobs) {
        s_error(self, msg->identity, err.code, "%s", err.msg);
        return;
    }
    s_fill_reasons(self, jobs);
    s_send(self->client, msg->identity, "OK", json_pack("{s:o}", "jobs", jobs));
}

static void
s_cancel(coord_t *self, const ad_msg_t *msg)
{
    const char *state = NULL;
    ad_err_t err = {0};
    int64_t id = 0;
    json_t *o;

    ad_json_get_int(msg->payload, "job", 1, INT64_MAX, &id, NULL);
    o = ad_coord_job_json(id, &state, &err);
    if (!o) {
        s_error(self, msg->identity, err.code, "%s", err.msg);
        return;
    }
    json_decref(o);
    if (!strcmp(state, "PENDING")) {
        autojob_t *a = s_auto_find(self, id);

        if (a) {
            /* Its probes go too. */
            a->cancelled = true;
            for (int i = 0; i < a->n_probes; i++) {
                run_t *pr = s_run_find(self, a->probes[i]);

                if (pr) {
                    s_run_stop(self, pr, "CANCELLED", "its auto job was cancelled");
                } else if (!ad_sched_remove_job(self->sched, a->probes[i])) {
                    ad_coord_job_set(a->probes[i], "CANCELLED", "its auto job was cancelled",
                                     INT32_MIN, NULL);
                }
            }
        }
        ad_sched_remove_job(self->sched, id);
        if (ad_coord_job_set(id, "CANCELLED", "cancelled by a user", INT32_MIN, &err)) {
            s_error(self, msg->identity, err.code, "%s", err.msg);
            return;
        }
        ad_sweeps_ended(self->sweeps, id, AD_SWEEPS_JOB_CANCELLED, NAN, s_now());
        state = "CANCELLED";
        ad_log(AD_LOG_INFO, "job %lld cancelled", (long long)id);
    } else if (!ad_coord_state_is_final(state)) {
        run_t *r = s_run_find(self, id);

        if (!r) {
            s_error(self, msg->identity, AD_EINVAL, "job %lld is %s but not run by this "
                    "coordinator", (long long)id, state);
            return;
        }
        s_run_stop(self, r, "CANCELLED", "cancelled by a user");
        s_send(self->client, msg->identity, "OK",
               json_pack("{s:I s:s s:s}", "job", (json_int_t)id, "state", state, "stopping",
                         "CANCELLED"));
        return;
    }
    s_send(self->client, msg->identity, "OK",
           json_pack("{s:I s:s}", "job", (json_int_t)id, "state", state));
}

/* ---- sweeps (docs/sweeps.md) ------------------------------------------------------------ */

/* Hash configurations of resolving sweeps for at most S_SWEEP_SLICE_MS, then dispatch. */
static int
s_on_sweep_tick(zloop_t *loop, int timer_id, void *arg)
{
    coord_t *self = arg;
    double until = s_now() + S_SWEEP_SLICE_MS / 1000.0;
    bool more;

    do
        more = ad_sweeps_resolve(self->sweeps, 64, s_now());
    while (more && s_now() < until);
    if (!more) {
        zloop_timer_end(loop, timer_id);
        self->sweep_timer = -1;
        s_schedule(self);
    }
    return 0;
}

/* Resolve in slices from the loop, so a sweep of 100,000 jobs never stalls heartbeats. */
static void
s_sweep_timer(coord_t *self)
{
    if (self->sweep_timer < 0 && self->loop)
        self->sweep_timer = zloop_timer(self->loop, S_SWEEP_TICK_MS, 0, s_on_sweep_tick, self);
}

/* What s_collect_prior() gathers from the store. */
typedef struct {
    ad_sweeps_prior_t *v;
    size_t n, cap;
} prior_list_t;

static int
s_collect_prior(const ad_coord_sweep_job_t *job, void *arg)
{
    prior_list_t *l = arg;
    ad_sweeps_prior_t *p;

    if (!job->config_hash)
        return 0;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->v = ad_realloc(l->v, l->cap * sizeof(*l->v));
    }
    p = &l->v[l->n++];
    p->job = job->id;
    snprintf(p->config_hash, sizeof(p->config_hash), "%s", job->config_hash);
    p->state = ad_sweeps_job_from_state(job->state);
    p->duration_s = !isnan(job->started) && !isnan(job->ended) ? job->ended - job->started : NAN;
    return 0;
}

/* The jobs of every version of a sweep (an array of {id, file_hash, created}). */
static int
s_prior_of(const json_t *versions, prior_list_t *l, ad_err_t *err)
{
    size_t i;
    json_t *v;

    json_array_foreach(versions, i, v) {
        int rc = ad_coord_sweep_jobs(json_integer_value(json_object_get(v, "id")),
                                     s_collect_prior, l, err);

        if (rc)
            return rc;
    }
    return 0;
}

/*
 * The sweep object of name with what the store and the scheduler add: the
 * failed jobs' names and reasons, and how many of its queued jobs cannot
 * start on the nodes that are up (never).  NULL when no sweep is held.
 */
static json_t *
s_sweep_json(coord_t *self, const char *name)
{
    json_t *o = ad_sweeps_json(self->sweeps, name, s_now()), *failed, *id;
    const char *never_reason = NULL;
    int64_t never = 0;
    size_t i;

    if (!o)
        return NULL;
    failed = json_array();
    json_array_foreach(json_object_get(o, "failed_jobs"), i, id) {
        const char *state = NULL;
        json_t *j = ad_coord_job_json(json_integer_value(id), &state, NULL);

        if (!j)
            continue;
        json_array_append_new(failed, json_pack("{s:O s:O s:s s:O}", "job", id, "name",
                                                json_object_get(j, "name"), "state", state,
                                                "reason", json_object_get(j, "reason")));
        json_decref(j);
    }
    json_object_set_new(o, "failed_jobs", failed);
    json_array_foreach(json_object_get(o, "live_jobs"), i, id) {
        int64_t job = json_integer_value(id);

        if (ad_sched_status(self->sched, job) == AD_SCHED_NEVER) {
            never++;
            if (!never_reason)
                never_reason = ad_sched_reason(self->sched, job);
        }
    }
    json_object_set_new(o, "never", json_integer(never));
    json_object_set_new(o, "never_reason", never_reason ? json_string(never_reason)
                                                          : json_null());
    return o;
}

/*
 * SWEEP: record the sweep (or find it again), refuse a changed file under
 * the same name unless force, read what its jobs did before and start
 * dispatching.  A sweep of that name already running with the same file is
 * joined: its options are updated.
 */
static void
s_sweep_submit(coord_t *self, const ad_msg_t *msg)
{
    const char *sent_hash = NULL, *name, *old_hash = NULL;
    ad_sweeps_opts_t opts = {0, false, true};
    json_t *spec = NULL, *versions = NULL, *o, *last;
    prior_list_t prior = {0};
    ad_sweep_t *sweep = NULL;
    int64_t max_parallel = 0, id = 0;
    bool force = false, created = false;
    ad_err_t err = {0};
    char hash[17], *text;
    ad_job_t first;

    ad_json_get_object(msg->payload, "sweep", &spec, NULL);
    ad_json_get_string(msg->payload, "file_hash", 16, 16, &sent_hash, NULL);
    ad_json_get_int(msg->payload, "max_parallel", 1, AD_PROTO_SWEEP_PARALLEL_MAX, &max_parallel,
                    NULL);
    ad_json_get_bool(msg->payload, "retry_failed", &opts.retry_failed, NULL);
    ad_json_get_bool(msg->payload, "force", &force, NULL);
    opts.max_parallel = (int)max_parallel;
    text = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text)
        ad_oom(0);
    if (ad_sweep_load_json(text, &sweep, &err)) {
        free(text);
        s_error(self, msg->identity, AD_EPARSE, "%s", err.msg);
        return;
    }
    free(text);
    ad_sweep_hash(sweep, hash);
    name = ad_sweep_name(sweep);
    if (sent_hash && strcmp(sent_hash, hash)) {
        s_error(self, msg->identity, AD_EINVAL,
                "sweep %s: the client computed file hash %s, the coordinator %s: are autodist "
                "and autodistd the same version?", name, sent_hash, hash);
        goto out;
    }
    if (ad_sweep_job(sweep, 0, &first, NULL, &err) == 0) {
        bool is_auto = first.layout.is_auto;

        ad_job_clear(&first);
        if (is_auto) {
            s_error(self, msg->identity, AD_EINVAL,
                    "sweep %s: its jobs have layout auto, which sweeps do not take yet; give "
                    "layout {nodes, procs_per_node, threads_per_proc} in the base or the grid "
                    "(`autodist plan` shows the layout the planner would choose)", name);
            goto out;
        }
    }
    if (ad_sweeps_running(self->sweeps, name)) {
        old_hash = ad_sweeps_file_hash(self->sweeps, name);
        if (strcmp(old_hash, hash)) {
            s_error(self, msg->identity, -EBUSY,
                    "sweep %s is running from another file (file hash %s; this file %s): "
                    "cancel it first (autodist sweep cancel %s)", name, old_hash, hash, name);
            goto out;
        }
        ad_sweeps_update(self->sweeps, name, &opts);
        o = s_sweep_json(self, name);
        json_object_set_new(o, "created", json_false());
        json_object_set_new(o, "joined", json_true());
        s_send(self->client, msg->identity, "OK", o);
        ad_log(AD_LOG_INFO, "sweep %s: joined (it was running)", name);
        s_schedule(self);
        goto out;
    }
    versions = ad_coord_sweep_versions(name, &err);
    if (!versions) {
        s_error(self, msg->identity, AD_EDB, "%s", err.msg);
        goto out;
    }
    last = json_array_get(versions, json_array_size(versions) - 1);
    old_hash = last ? json_string_value(json_object_get(last, "file_hash")) : NULL;
    if (old_hash && strcmp(old_hash, hash) && !force) {
        s_error(self, msg->identity, -EEXIST,
                "sweep %s was recorded from another file: file hash %s, this file %s. Rerun the "
                "file it came from to resume it, give this one another name, or add --force "
                "to record this file as a new version of %s: configurations that already "
                "completed under that name (same configuration hash) are skipped, the others "
                "run", name, old_hash, hash, name);
        goto out;
    }
    if (ad_coord_sweep_add(name, hash, ad_sweep_json(sweep), &id, &created, &err)) {
        s_error(self, msg->identity, AD_EDB, "%s", err.msg);
        goto out;
    }
    if (s_prior_of(versions, &prior, &err)) {
        s_error(self, msg->identity, AD_EDB, "%s", err.msg);
        goto out;
    }
    ad_log(AD_LOG_INFO, "sweep %s (id %lld, file hash %s): %lld jobs, %zu found in the store%s",
           name, (long long)id, hash, (long long)ad_sweep_count(sweep), prior.n,
           created ? "" : " (resumed)");
    ad_sweeps_open(self->sweeps, id, hash, &sweep, prior.v, prior.n, &opts, s_now());
    if (prior.n)
        s_sweep_timer(self);
    o = s_sweep_json(self, name);
    json_object_set_new(o, "created", json_boolean(created));
    json_object_set_new(o, "joined", json_false());
    json_object_set_new(o, "versions", json_integer((json_int_t)json_array_size(versions) +
                                                    (created ? 1 : 0)));
    s_send(self->client, msg->identity, "OK", o);
    s_schedule(self);
out:
    free(prior.v);
    json_decref(versions);
    ad_sweep_free(&sweep);
}

/* A sweep not held here (the coordinator restarted): read it back from the store, STOPPED. */
static int
s_sweep_load(coord_t *self, const char *name, ad_err_t *err)
{
    ad_sweeps_opts_t opts = {0, false, false};
    json_t *versions = ad_coord_sweep_versions(name, err), *last;
    prior_list_t prior = {0};
    ad_sweep_t *sweep = NULL;
    char *spec = NULL;
    int64_t id;
    int rc;

    if (!versions)
        return err->code;
    last = json_array_get(versions, json_array_size(versions) - 1);
    if (!last) {
        rc = ad_err_set(err, -ENOENT, "no sweep %s (autodist sweep status lists the sweeps the "
                        "coordinator holds)", name);
        goto out;
    }
    id = json_integer_value(json_object_get(last, "id"));
    spec = ad_coord_sweep_spec(id, err);
    if (!spec) {
        rc = err->code;
        goto out;
    }
    rc = ad_sweep_load_json(spec, &sweep, err);
    if (rc)
        goto out;
    rc = s_prior_of(versions, &prior, err);
    if (rc)
        goto out;
    ad_sweeps_open(self->sweeps, id, json_string_value(json_object_get(last, "file_hash")), &sweep,
                   prior.v, prior.n, &opts, s_now());
    if (prior.n)
        s_sweep_timer(self);
out:
    free(prior.v);
    free(spec);
    ad_sweep_free(&sweep);
    json_decref(versions);
    return rc;
}

static void
s_sweeps_status(coord_t *self, const ad_msg_t *msg)
{
    const char *name = NULL;
    ad_err_t err = {0};
    json_t *arr, *o;
    size_t i;

    ad_json_get_string(msg->payload, "name", 1, AD_SWEEP_NAME_MAX, &name, NULL);
    if (!name) {
        arr = ad_sweeps_list_json(self->sweeps, s_now());
        json_array_foreach(arr, i, o) {
            json_t *full = s_sweep_json(self, json_string_value(json_object_get(o, "name")));

            if (full)
                json_array_set_new(arr, i, full);
        }
        s_send(self->client, msg->identity, "OK", json_pack("{s:o}", "sweeps", arr));
        return;
    }
    if (!ad_sweeps_has(self->sweeps, name) && s_sweep_load(self, name, &err)) {
        s_error(self, msg->identity, err.code, "%s", err.msg);
        return;
    }
    s_send(self->client, msg->identity, "OK",
           json_pack("{s:[o]}", "sweeps", s_sweep_json(self, name)));
}

/* What s_collect_live() gathers: the jobs of a sweep still queued or running. */
typedef struct {
    int64_t *ids;
    size_t n, cap;
} id_list_t;

static int
s_collect_live(const ad_coord_sweep_job_t *job, void *arg)
{
    id_list_t *l = arg;

    if (strcmp(job->state, "PENDING") && strcmp(job->state, "RUNNING"))
        return 0;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->ids = ad_realloc(l->ids, l->cap * sizeof(*l->ids));
    }
    l->ids[l->n++] = job->id;
    return 0;
}

/*
 * SWEEP_CANCEL: stop dispatching, cancel the sweep's queued jobs and stop its
 * running ones.  The jobs come from the store, so a sweep the coordinator
 * does not hold (it restarted) is cancelled too.
 */
static void
s_sweep_cancel(coord_t *self, const ad_msg_t *msg)
{
    const char *name = NULL;
    json_t *versions, *v, *o;
    id_list_t live = {0};
    ad_err_t err = {0};
    int64_t cancelled = 0, stopping = 0;
    char reason[128];
    size_t i;

    ad_json_get_string(msg->payload, "name", 1, AD_SWEEP_NAME_MAX, &name, NULL);
    versions = ad_coord_sweep_versions(name, &err);
    if (!versions) {
        s_error(self, msg->identity, AD_EDB, "%s", err.msg);
        return;
    }
    if (json_array_size(versions) == 0 && !ad_sweeps_has(self->sweeps, name)) {
        json_decref(versions);
        s_error(self, msg->identity, -ENOENT, "no sweep %s", name);
        return;
    }
    ad_sweeps_cancel(self->sweeps, name, s_now());
    json_array_foreach(versions, i, v) {
        if (ad_coord_sweep_jobs(json_integer_value(json_object_get(v, "id")), s_collect_live,
                                &live, &err))
            ad_log(AD_LOG_WARN, "sweep %s: %s", name, err.msg);
    }
    json_decref(versions);
    snprintf(reason, sizeof(reason), "sweep %s cancelled", name);
    for (size_t k = 0; k < live.n; k++) {
        run_t *r = s_run_find(self, live.ids[k]);

        if (r) {
            s_run_stop(self, r, "CANCELLED", reason);
            stopping++;
            continue;
        }
        ad_sched_remove_job(self->sched, live.ids[k]);
        if (ad_coord_job_set(live.ids[k], "CANCELLED", reason, INT32_MIN, &err)) {
            ad_log(AD_LOG_WARN, "job %lld: %s", (long long)live.ids[k], err.msg);
            continue;
        }
        ad_sweeps_ended(self->sweeps, live.ids[k], AD_SWEEPS_JOB_CANCELLED, NAN, s_now());
        cancelled++;
    }
    free(live.ids);
    ad_log(AD_LOG_INFO, "sweep %s cancelled: %lld queued job(s) cancelled, %lld running stopping",
           name, (long long)cancelled, (long long)stopping);
    o = json_pack("{s:s s:s s:I s:I}", "name", name, "state", "CANCELLED", "cancelled",
                  (json_int_t)cancelled, "stopping", (json_int_t)stopping);
    v = s_sweep_json(self, name);
    if (v)
        json_object_set_new(o, "sweep", v);
    s_send(self->client, msg->identity, "OK", o);
}

/* Replace bytes that are not UTF-8 by '?', in place; returns the length kept (a split sequence at the end is left for the next read). */
static size_t
s_utf8_clean(unsigned char *b, size_t n, bool at_end)
{
    size_t i = 0;

    while (i < n) {
        unsigned char c = b[i];
        size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3
                                  : (c & 0xF8) == 0xF0 ? 4 : 0;
        size_t k;

        if (c == 0 || len == 0 || (len == 2 && c < 0xC2) || (len == 4 && c > 0xF4)) {
            b[i++] = '?';
            continue;
        }
        if (i + len > n) {
            if (!at_end && i > 0)
                return i;
            for (; i < n; i++)
                b[i] = '?';
            return n;
        }
        for (k = 1; k < len && (b[i + k] & 0xC0) == 0x80; k++)
            ;
        if (k < len) {
            b[i++] = '?';
            continue;
        }
        i += len;
    }
    return n;
}

static void
s_logs(coord_t *self, const ad_msg_t *msg)
{
    int64_t id = 0, offset = 0, max = S_LOGS_DEFAULT;
    const char *state = NULL;
    ad_err_t err = {0};
    unsigned char *buf;
    struct stat st;
    char *path;
    bool final;
    ssize_t n = 0;
    size_t keep;
    json_t *o, *data;
    int fd;

    ad_json_get_int(msg->payload, "job", 1, INT64_MAX, &id, NULL);
    ad_json_get_int(msg->payload, "offset", 0, INT64_MAX, &offset, NULL);
    ad_json_get_int(msg->payload, "max_bytes", 1, S_LOGS_MAX, &max, NULL);
    o = ad_coord_job_json(id, &state, &err);
    if (!o) {
        s_error(self, msg->identity, err.code, "%s", err.msg);
        return;
    }
    json_decref(o);
    final = ad_coord_state_is_final(state);
    path = ad_malloc(strlen(self->home->logs) + 48);
    sprintf(path, "%s/%lld/output.log", self->home->logs, (long long)id);
    buf = ad_malloc((size_t)max);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && fstat(fd, &st) == 0 && offset < st.st_size)
        n = pread(fd, buf, (size_t)max, offset);
    if (n < 0)
        n = 0;
    keep = s_utf8_clean(buf, (size_t)n, final || fd < 0 || offset + n >= (int64_t)st.st_size);
    data = json_stringn(keep ? (const char *)buf : "", keep);
    offset += (int64_t)keep;
    s_send(self->client, msg->identity, "OK",
           json_pack("{s:o s:I s:b}", "data", data ? data : json_string(""), "offset",
                     (json_int_t)offset, "eof",
                     final && (fd < 0 || offset >= (int64_t)st.st_size)));
    if (fd >= 0)
        close(fd);
    free(buf);
    free(path);
}

/* The registry's listing with what a client on another clock needs: seconds since last seen. */
static json_t *
s_nodes_json(coord_t *self)
{
    json_t *nodes = ad_registry_to_json(self->reg), *n;
    double now = s_now();
    size_t i;

    json_array_foreach(nodes, i, n) {
        json_t *seen = json_object_get(n, "last_seen");
        const char *addr = zhashx_lookup(self->addresses,
                                         json_string_value(json_object_get(n, "name")));

        if (json_is_number(seen))
            json_object_set_new(n, "last_seen_ago_s", json_real(now - json_number_value(seen)));
        if (addr)
            json_object_set_new(n, "address", json_string(addr));
    }
    return nodes;
}

static int
s_on_client(zloop_t *loop, zsock_t *sock, void *arg)
{
    coord_t *self = arg;
    ad_msg_t msg = {0};
    ad_err_t err = {0};
    int rc;

    rc = ad_proto_recv(sock, 0, &msg, &err);
    if (rc == -ETIMEDOUT || rc == -EINTR)
        return 0;
    if (rc) {
        ad_log(AD_LOG_WARN, "%s", err.msg);
        if (msg.identity)
            s_error(self, msg.identity, AD_EPEER, "%s", err.msg);
        goto out;
    }
    switch (msg.type) {
    case AD_PROTO_NODES:
        s_send(sock, msg.identity, "OK", json_pack("{s:o}", "nodes", s_nodes_json(self)));
        break;
    case AD_PROTO_SUBMIT:
        s_submit(self, &msg);
        break;
    case AD_PROTO_STATUS:
        s_status(self, &msg);
        break;
    case AD_PROTO_JOBS:
        s_jobs(self, &msg);
        break;
    case AD_PROTO_CANCEL:
        s_cancel(self, &msg);
        break;
    case AD_PROTO_LOGS:
        s_logs(self, &msg);
        break;
    case AD_PROTO_SWEEP:
        s_sweep_submit(self, &msg);
        break;
    case AD_PROTO_SWEEPS:
        s_sweeps_status(self, &msg);
        break;
    case AD_PROTO_SWEEP_CANCEL:
        s_sweep_cancel(self, &msg);
        break;
    case AD_PROTO_SHUTDOWN:
        s_send(sock, msg.identity, "OK", json_object());
        ad_log(AD_LOG_INFO, "SHUTDOWN requested");
        self->exit_code = S_EXIT_OK;
        break;
    default:
        s_error(self, msg.identity, AD_EPEER, "%s is not a client request",
                ad_proto_type_name(msg.type));
        break;
    }
out:
    ad_msg_clear(&msg);
    return self->exit_code >= 0 ? -1 : 0;
}

/* ---- metrics, timers, signals ---------------------------------------------------------- */

static int
s_on_metric(zloop_t *loop, zsock_t *sock, void *arg)
{
    coord_t *self = arg;
    ad_msg_t msg = {0};
    ad_err_t err = {0};
    int64_t id = 0;
    run_t *r;

    if (ad_proto_recv(sock, 0, &msg, &err) == 0) {
        ad_json_get_int(msg.payload, "job", 1, INT64_MAX, &id, NULL);
        r = s_run_find(self, id);
        if (r)
            s_progress_event(r, msg.payload, s_now());
        else
            ad_log(AD_LOG_DEBUG, "METRIC of job %lld, which is not running here; ignored",
                   (long long)id);
    } else {
        ad_log(AD_LOG_DEBUG, "METRIC dropped: %s", err.msg);
    }
    ad_msg_clear(&msg);
    return 0;
}

/* Write the UP nodes' last_seen in one transaction (heartbeats are not written one by one). */
static void
s_flush_seen(coord_t *self)
{
    size_t n = ad_registry_count(self->reg, true), i = 0;
    const char **names = ad_malloc((n ? n : 1) * sizeof(*names));
    const ad_registry_node_t *node = NULL;
    ad_err_t err = {0};

    while ((node = ad_registry_next_up(self->reg, node)) && i < n)
        names[i++] = node->name;
    if (ad_coord_nodes_seen(names, i, &err))
        ad_log(AD_LOG_WARN, "nodes' last_seen not stored: %s", err.msg);
    free(names);
}

static int
s_on_tick(zloop_t *loop, int timer_id, void *arg)
{
    coord_t *self = arg;
    double now = s_now();

    ad_registry_tick(self->reg, now, self->opts->heartbeat_ms / 1000.0, s_on_down, self);
    s_runs_tick(self, now);
    s_auto_tick(self);
    if (++self->ticks % S_SEEN_TICKS == 0)
        s_flush_seen(self);
    s_schedule(self);
    return 0;
}

static int
s_on_signal(zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    coord_t *self = arg;
    struct signalfd_siginfo si;

    if (read(self->sigfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
        return 0;
    if (si.ssi_signo == SIGCHLD) {
        if (s_reap(self))
            s_schedule(self);
        return 0;
    }
    ad_log(AD_LOG_INFO, "stopping on %s", si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
    self->exit_code = S_EXIT_OK;
    return -1;
}

static zsock_t *
s_bind(int type, const char *what, const char *endpoint)
{
    ad_err_t err = {0};
    zsock_t *s = ad_proto_listen(type, endpoint, NULL, NULL, &err);

    if (!s) {
        if (err.code == -EADDRINUSE)
            ad_log(AD_LOG_ERROR, "cannot listen for %s on %s: address in use (is another "
                   "autodistd running?)", what, endpoint);
        else
            ad_log(AD_LOG_ERROR, "cannot listen for %s on %s: %s", what, endpoint, err.msg);
    }
    return s;
}

static int
s_run(coord_t *self, sigset_t *stop_set)
{
    zmq_pollitem_t sig_item = {0};

    self->client = s_bind(ZMQ_ROUTER, "clients", self->opts->client);
    if (!self->client)
        return S_EXIT_FAIL;
    self->agents = s_bind(ZMQ_ROUTER, "agents", self->opts->agents);
    if (!self->agents)
        return S_EXIT_FAIL;
    self->metrics = s_bind(ZMQ_PULL, "metrics", self->opts->metrics);
    if (!self->metrics)
        return S_EXIT_FAIL;
    self->sigfd = signalfd(-1, stop_set, SFD_CLOEXEC);
    if (self->sigfd < 0) {
        ad_log(AD_LOG_ERROR, "cannot watch signals: %s", strerror(errno));
        return S_EXIT_FAIL;
    }
    self->loop = zloop_new();
    zloop_reader(self->loop, self->client, s_on_client, self);
    zloop_reader(self->loop, self->agents, s_on_agent, self);
    zloop_reader(self->loop, self->metrics, s_on_metric, self);
    zloop_set_nonstop(self->loop, true);
    zloop_timer(self->loop, S_TICK_MS, 0, s_on_tick, self);
    sig_item.fd = self->sigfd;
    sig_item.events = ZMQ_POLLIN;
    zloop_poller(self->loop, &sig_item, s_on_signal, self);
    ad_log(AD_LOG_INFO, "listening: clients %s, agents %s, metrics %s", self->opts->client,
           self->opts->agents, self->opts->metrics);
    s_recover(self);
    s_schedule(self);
    while (self->exit_code < 0) {
        zloop_start(self->loop);
        if (self->exit_code < 0 && zmq_errno() != EINTR) {
            ad_log(AD_LOG_ERROR, "event loop failed: %s", zmq_strerror(zmq_errno()));
            self->exit_code = S_EXIT_FAIL;
        }
    }
    s_stop_all(self, "the coordinator stopped");
    s_flush_seen(self);
    return self->exit_code;
}

static void
s_free_item(void **item)
{
    free(*item);
    *item = NULL;
}

/* One TCP connection per agent: let a thousand of them in. */
static void
s_raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* opt, else the program name next to this program, else name from PATH. */
static char *
s_sibling_path(const char *opt, const char *name)
{
    char self_path[4096], *slash, *path;
    ssize_t n;

    if (opt)
        return ad_strdup(opt);
    n = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1);
    if (n > 0) {
        self_path[n] = '\0';
        slash = strrchr(self_path, '/');
        if (slash) {
            path = ad_malloc((size_t)(slash - self_path) + strlen(name) + 2);
            sprintf(path, "%.*s/%s", (int)(slash - self_path), self_path, name);
            if (access(path, X_OK) == 0)
                return path;
            free(path);
        }
    }
    return ad_strdup(name);
}

int
main(int argc, char **argv)
{
    coord_t self = {0};
    ad_home_t home = {0};
    ad_err_t err = {0};
    sigset_t stop_set;
    opts_t o;
    int rc;

    ad_log_init("autodistd", AD_LOG_INFO);
    rc = s_parse(argc, argv, &o, &err);
    if (rc == 1)
        return S_EXIT_OK;
    if (rc) {
        ad_log(AD_LOG_ERROR, "%s", err.msg);
        return S_EXIT_USAGE;
    }
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGTERM);
    sigaddset(&stop_set, SIGINT);
    sigaddset(&stop_set, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &stop_set, NULL);
    zsys_handler_set(NULL);
    s_raise_nofile();

    if (ad_home_resolve(o.home, &home, &err) || ad_home_ensure(&home, &err)) {
        ad_log(AD_LOG_ERROR, "%s", err.msg);
        ad_home_clear(&home);
        return S_EXIT_FAIL;
    }
    if (ad_coord_open(home.db, &err)) {
        ad_log(AD_LOG_ERROR, "%s", err.msg);
        ad_home_clear(&home);
        return S_EXIT_FAIL;
    }
    self.opts = &o;
    self.home = &home;
    self.trainer = s_sibling_path(o.trainer, "autodist-train");
    self.local_rsh = s_sibling_path(NULL, "autodist-local-rsh");
    self.addresses = zhashx_new();
    zhashx_set_destructor(self.addresses, s_free_item);
    self.sigfd = -1;
    self.exit_code = -1;
    self.reg = ad_registry_new();
    self.sched = ad_sched_new();
    self.sweeps = ad_sweeps_new();
    self.sweep_timer = -1;
    rc = s_run(&self, &stop_set);
    zloop_destroy(&self.loop);
    zsock_destroy(&self.client);
    zsock_destroy(&self.agents);
    zsock_destroy(&self.metrics);
    if (self.sigfd >= 0)
        close(self.sigfd);
    s_autos_free(&self);
    ad_sched_free(&self.sched);
    ad_sweeps_free(&self.sweeps);
    ad_registry_free(&self.reg);
    zhashx_destroy(&self.addresses);
    free(self.trainer);
    free(self.local_rsh);
    ad_coord_close();
    ad_home_clear(&home);
    return rc;
}
