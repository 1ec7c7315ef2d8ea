/* ad_running.c - running jobs: launch, reap, stop, progress and metrics, recovery at restart */
#include "ad_daemon.h"

/* Warm-up steps of a trainer that does not say (docs/speedup.md: AD_METRICS_WARMUP_MIN). */
#define S_WARMUP_STEPS 3

/*
 * r->end_state of a job the coordinator stops because it stops itself: the
 * job goes back to the queue (and resumes from its checkpoint at the next
 * start) while it has requeues left.  Never a state in the store.
 */
static const char S_INTERRUPTED[] = "INTERRUPTED";

run_t *
ad_running_find(coord_t *self, int64_t id)
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
    p->done_sps_sd = p->done_cpu_s = NAN;
    p->warmup = S_WARMUP_STEPS;
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
s_metric_flush(coord_t *self, run_t *r)
{
    ad_err_t err = {0};

    if (r->n_buf == 0 || r->run_id <= 0) {
        r->n_buf = 0;
        return;
    }
    if (ad_journal_run_metrics(self->journal, r->run_id, r->buf, r->n_buf, &err))
        ad_log(AD_LOG_WARN, "job %lld: %zu metric samples not stored: %s", (long long)r->id,
               r->n_buf, err.msg);
    r->n_buf = 0;
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
    p->t_last = now;
    if (!strcmp(event, "start")) {
        json_t *cfg = json_object_get(ev, "config");
        int64_t steps = s_geti(cfg, "steps"), epochs = s_geti(cfg, "epochs");
        int64_t per_epoch = s_geti(ev, "steps_per_epoch");

        p->epochs = epochs;
        p->batch = s_geti(cfg, "batch_size");
        p->steps = steps > 0 ? steps : epochs * per_epoch;
        p->params = s_geti(ev, "params");
        p->step = s_geti(ev, "start_step");
        if (json_is_integer(json_object_get(ev, "warmup_steps")))
            p->warmup = s_geti(ev, "warmup_steps");
        p->phase = "training";
    } else if (!strcmp(event, "step")) {
        double step_s = ad_daemon_json_num(ev, "step_s"), comm_s = ad_daemon_json_num(ev, "comm_s");

        /* Events queued while the coordinator was away can come again after a replay. */
        if (p->n_steps > 0 && step <= p->step)
            return;
        if (p->n_steps > 0 && step > p->step + 1)
            p->gap = true;
        p->phase = "training";
        p->step = step;
        p->epoch = s_geti(ev, "epoch");
        p->loss = ad_daemon_json_num(ev, "loss");
        p->samples_per_s = ad_daemon_json_num(ev, "samples_per_s");
        if (p->t_first == 0) {
            p->t_first = now;
            p->step_first = step;
        }
        if (!isnan(step_s)) {
            p->sum_step_s += step_s;
            p->sum_comm_s += isnan(comm_s) ? 0 : comm_s;
            p->n_steps++;
            /* The trainer's warm-up steps (allocator, kernel choice, caches) are left out. */
            if (p->n_steps > p->warmup) {
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
            s_metric_add(r, step, "exposed_comm_s", ad_daemon_json_num(ev, "exposed_comm_s"));
    } else if (!strcmp(event, "epoch")) {
        double wall = ad_daemon_json_num(ev, "wall_s");

        p->epoch = s_geti(ev, "epoch");
        if (!isnan(wall)) {
            p->sum_epoch_s += wall;
            p->n_epochs++;
            s_metric_add(r, step, "epoch_s", wall);
        }
        s_metric_add(r, step, "epoch_loss", ad_daemon_json_num(ev, "loss"));
        p->phase = "evaluating";
    } else if (!strcmp(event, "eval")) {
        const char *split = json_string_value(json_object_get(ev, "split"));
        double acc = ad_daemon_json_num(ev, "accuracy");
        bool test = split && !strcmp(split, "test");

        if (test)
            p->acc_test = acc;
        else
            p->acc_val = acc;
        /* The images behind the accuracy the run keeps: the test's, else the validation's. */
        if (test || isnan(p->acc_test))
            p->test_samples = s_geti(ev, "samples");
        s_metric_add(r, step, test ? "test_accuracy" : "val_accuracy", acc);
        s_metric_add(r, step, test ? "test_loss" : "val_loss", ad_daemon_json_num(ev, "loss"));
    } else if (!strcmp(event, "done")) {
        p->done = true;
        p->phase = "done";
        p->done_samples_per_s = ad_daemon_json_num(ev, "samples_per_s");
        p->done_sps_sd = ad_daemon_json_num(ev, "sps_sd");
        p->done_sps_steps = s_geti(ev, "sps_steps");
        p->done_cpu_s = ad_daemon_json_num(ev, "cpu_time_s");
        p->done_rss = s_geti(ev, "max_rss_bytes");
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
        const char *event = json_string_value(json_object_get(ev, "event"));

        /* A resumed run appends to the file: only its last start counts. */
        if (event && !strcmp(event, "start")) {
            s_progress_init(&r->p);
            r->n_buf = 0;
        }
        if (json_is_object(ev))
            s_progress_event(r, ev, now);
        json_decref(ev);
    }
    free(line);
    fclose(f);
}

/*
 * The steady-state throughput so far (docs/speedup.md): the global batch x the
 * steps past the trainer's warm-up / their time; during the warm-up, over the
 * steps so far.  NaN before the first step.
 */
static double
s_steady_so_far(const progress_t *p)
{
    if (p->batch <= 0)
        return p->samples_per_s;
    if (p->warm_steps > 0 && p->warm_step_s > 0)
        return (double)p->batch * (double)p->warm_steps / p->warm_step_s;
    if (p->n_steps > 0 && p->sum_step_s > 0)
        return (double)p->batch * (double)p->n_steps / p->sum_step_s;
    return NAN;
}

/* STATUS's progress object of a running job. */
json_t *
ad_running_progress_json(const run_t *r, double now)
{
    const progress_t *p = &r->p;
    double sps =
        p->done && !isnan(p->done_samples_per_s) ? p->done_samples_per_s : s_steady_so_far(p);
    json_t *eta = json_null(), *o;

    if (p->steps > 0 && p->t_first > 0 && p->step > p->step_first && now > p->t_first) {
        double rate = (double)(p->step - p->step_first) / (now - p->t_first);

        eta = json_real((double)(p->steps > p->step ? p->steps - p->step : 0) / rate);
    }
    o = json_pack(
        "{s:s s:I s:o s:I s:o s:o s:o s:o s:f}", "phase", p->phase, "step", (json_int_t)p->step,
        "steps", p->steps > 0 ? json_integer(p->steps) : json_null(), "epoch", (json_int_t)p->epoch,
        "epochs", p->epochs > 0 ? json_integer(p->epochs) : json_null(), "loss",
        isnan(p->loss) ? json_null() : json_real(p->loss), "samples_per_s",
        isnan(sps) ? json_null() : json_real(sps), "eta_s", eta, "elapsed_s", now - r->t_start);
    /* Whether samples_per_s is past the warm-up yet, and the other load seen so far. */
    json_object_set_new(o, "warming_up", json_boolean(p->warm_steps == 0));
    json_object_set_new(o, "load_other",
                        isnan(r->load_other) ? json_null() : json_real(r->load_other));
    return o;
}

/* Keep the job's pool and device with its run: a requeued job goes back to such nodes. */
static void
s_run_set_pool(run_t *r, const ad_job_t *job)
{
    char pool[AD_PROTO_POOL_MAX + 64];
    const char *p = ad_job_resv_pool(job, pool, sizeof(pool));

    free(r->pool);
    r->pool = p ? ad_strdup(p) : NULL;
    r->gpu = job->device == AD_JOB_DEVICE_GPU;
}

static void
s_run_free(run_t *r)
{
    for (int i = 0; i < r->n_nodes; i++)
        free(r->nodes[i]);
    free(r->nodes);
    free(r->pool);
    free(r->output);
    free(r->metrics_path);
    free(r->exit_path);
    free(r->identity);
    free(r->end_reason);
    free(r->down);
    free(r->buf);
    free(r);
}

/*
 * Stop job r: SIGTERM to mpirun's process group now (the trainer
 * checkpoints and exits), SIGKILL after the grace.  The first decided end
 * state and reason stay.
 */
void
ad_running_stop(coord_t *self, run_t *r, const char *state, const char *reason)
{
    if (!r->end_state) {
        r->end_state = state;
        r->end_reason = ad_strdup(reason);
    }
    if (r->kill_at > 0)
        return;
    ad_log(AD_LOG_INFO, "job %lld: stopping (%s: %s)", (long long)r->id, state, reason);
    ad_proc_signal_group(r->pid, SIGTERM);
    r->kill_at = ad_clock_now() + self->opts->kill_grace_s;
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

/* The state and reason job r ends with, its mpirun having exited with exit_code. */
static const char *
s_outcome(const run_t *r, int exit_code, char *reason, size_t cap)
{
    reason[0] = '\0';
    if (r->end_state) {
        /* Stopped for a node, a restart or the clock, but it finished first: it completed. */
        if (exit_code == 0 && r->p.done && strcmp(r->end_state, "CANCELLED"))
            return "COMPLETED";
        snprintf(reason, cap, "%s", r->end_reason);
        return r->end_state;
    }
    if (exit_code == 0)
        return "COMPLETED";
    ad_launch_reason(r->output, exit_code, reason, cap);
    return "FAILED";
}

/* Whether job r, ending as state, goes back to the queue (docs/reliability.md). */
static bool
s_requeues(const run_t *r, const char *state)
{
    if (!strcmp(state, "NODE_FAIL") || state == S_INTERRUPTED)
        return r->attempt < r->requeue;
    if (!strcmp(state, "TIMEOUT"))
        return r->requeue_on_timeout && r->attempt < r->requeue;
    return false;
}

/* The run row of r ends as state, with what rank 0 reported. */
static void
s_run_finish(coord_t *self, const run_t *r, const char *state)
{
    ad_coord_result_t res = {0};
    struct timespec ts;
    ad_err_t err = {0};

    res.state = state;
    /*
     * One figure (docs/speedup.md): the trainer's steady-state rate of its done
     * event, with its spread; none when it did not finish.
     */
    res.samples_per_s = r->p.done ? r->p.done_samples_per_s : NAN;
    res.sps_sd = r->p.done ? r->p.done_sps_sd : NAN;
    res.sps_steps = r->p.done ? r->p.done_sps_steps : 0;
    res.cpu_time_s = r->p.done ? r->p.done_cpu_s : NAN;
    res.max_rss_bytes = r->p.done ? r->p.done_rss : 0;
    res.test_samples = r->p.test_samples;
    res.load_other = r->load_other;
    res.epoch_time_s = r->p.n_epochs ? r->p.sum_epoch_s / (double)r->p.n_epochs : NAN;
    res.accuracy = !isnan(r->p.acc_test) ? r->p.acc_test : r->p.acc_val;
    res.step_time_s = r->p.n_steps ? r->p.sum_step_s / (double)r->p.n_steps : NAN;
    res.comm_time_s = r->p.n_steps ? r->p.sum_comm_s / (double)r->p.n_steps : NAN;
    res.params = r->p.params;
    /* Written later when the store is busy: the time is the end's, not the write's. */
    clock_gettime(CLOCK_REALTIME, &ts);
    res.ended = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    if (r->run_id > 0 && ad_journal_run_finish(self->journal, r->run_id, &res, &err))
        ad_log(AD_LOG_WARN, "job %lld: run not recorded: %s", (long long)r->id, err.msg);
}

/* Job r goes back to the queue after it ended as state (reason): it resumes from its checkpoint. */
static void
s_requeue(coord_t *self, run_t *r, const char *state, const char *reason)
{
    char why[700];
    ad_err_t err = {0};

    snprintf(why, sizeof(why), "requeued (%d of %d) after %s: %s", r->attempt + 1, r->requeue,
             state == S_INTERRUPTED ? "an interruption" : state, reason);
    if (ad_journal_job_set(self->journal, r->id, "PENDING", why, INT32_MIN, &err))
        ad_log(AD_LOG_ERROR, "job %lld: cannot record the requeue: %s", (long long)r->id, err.msg);
    ad_sched_release(self->sched, r->id);
    if (self->exit_code < 0 && ad_sched_add_job(self->sched, r->id, r->n_nodes, r->ppn, r->tpp)) {
        ad_log(AD_LOG_ERROR, "job %lld: the scheduler refused it again", (long long)r->id);
    } else {
        ad_sched_set_job_pool(self->sched, r->id, r->pool);
        ad_sched_set_job_gpus(self->sched, r->id, r->gpu ? r->ppn : 0);
    }
    ad_sweeps_requeued(self->sweeps, r->id);
    ad_log(AD_LOG_WARN, "job %lld %s; it starts again from its last checkpoint", (long long)r->id,
           why);
}

/* mpirun of r exited with exit_code (128 + N: signal N): record the outcome and free the nodes. */
static void
s_run_end(coord_t *self, run_t *r, int exit_code)
{
    const char *state, *run_state;
    char reason[600];
    ad_err_t err = {0};
    int strays;

    strays = s_kill_job(self, r->id, r->pid);
    if (strays)
        ad_log(AD_LOG_WARN, "job %lld: %d process(es) outlived mpirun; killed", (long long)r->id,
               strays);
    /*
     * The live stream can miss events (dropped while the coordinator was away,
     * or a full queue); rank 0's file has them all: read it again then.
     */
    if (!r->p.done || r->p.gap || r->adopted) {
        s_metric_flush(self, r);
        s_progress_replay(r, ad_clock_now());
    }
    s_metric_flush(self, r);
    state = s_outcome(r, exit_code, reason, sizeof(reason));
    run_state = state == S_INTERRUPTED ? "CANCELLED" : state;
    s_run_finish(self, r, run_state);
    if (s_requeues(r, state)) {
        s_requeue(self, r, state, reason);
    } else {
        if (state == S_INTERRUPTED) {
            size_t len = strlen(reason);

            snprintf(reason + len, sizeof(reason) - len,
                     "; not requeued: it was requeued %d time(s) already (requeue: %d)", r->attempt,
                     r->requeue);
            state = "FAILED";
        }
        if (ad_journal_job_set(self->journal, r->id, state, reason[0] ? reason : NULL, exit_code,
                               &err))
            ad_log(AD_LOG_ERROR, "job %lld: cannot record %s: %s", (long long)r->id, state,
                   err.msg);
        ad_sweeps_ended(self->sweeps, r->id, ad_sweeps_job_from_state(state),
                        ad_clock_now() - r->t_start, ad_clock_now());
        ad_log(!strcmp(state, "COMPLETED") ? AD_LOG_INFO : AD_LOG_WARN, "job %lld %s (exit %d)%s%s",
               (long long)r->id, state, exit_code, reason[0] ? ": " : "", reason);
        ad_sched_release(self->sched, r->id);
        ad_autojob_job_ended(self, r->id, r->run_id);
    }
    for (int i = 0; i < r->n_nodes; i++)
        ad_registry_remove_job(self->reg, r->nodes[i], r->id);
    for (run_t **pp = &self->runs; *pp; pp = &(*pp)->next)
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    s_run_free(r);
}

/*
 * mpirun of r exited with exit_code.  A failure while one of the job's nodes
 * has gone silent is likely that node lost (its daemon gone, mpirun aborts
 * before the node is seen DOWN): wait until the node is DOWN (NODE_FAIL,
 * requeued) or heard from again (FAILED), at most until it would be DOWN.
 */
static void
s_run_exited(coord_t *self, run_t *r, int exit_code)
{
    double now = ad_clock_now(), hb = self->opts->heartbeat_ms / 1000.0;
    const char *silent = NULL;

    for (int i = 0; exit_code != 0 && !r->end_state && i < r->n_nodes; i++) {
        const ad_registry_node_t *n = ad_registry_lookup(self->reg, r->nodes[i]);
        char reason[400];

        /* A node not known yet (the coordinator just started) tells nothing. */
        if (!n)
            continue;
        if (n->state != AD_NODE_UP) {
            snprintf(reason, sizeof(reason), "node %s is DOWN", r->nodes[i]);
            r->end_state = "NODE_FAIL";
            r->end_reason = ad_strdup(reason);
        } else if (now - n->last_seen > 1.5 * hb) {
            silent = r->nodes[i];
        }
    }
    /*
     * A reservation's nodes vanish together with their batch job (walltime,
     * oardel): mpirun fails at once, before any agent is missed.  Wait as for
     * a silent node, so that the node's loss or autodist's reason decides.
     */
    if (exit_code != 0 && r->pool && !r->end_state && !silent && r->n_nodes > 0)
        silent = r->nodes[0];
    if (silent && !r->end_state) {
        r->exited = true;
        r->exit_code = exit_code;
        r->decide_by = now + AD_REGISTRY_MISSED_MAX * hb;
        ad_log(AD_LOG_INFO, "job %lld: mpirun exited %d while node %s is silent: is it lost?",
               (long long)r->id, exit_code, silent);
        return;
    }
    s_run_end(self, r, exit_code);
}

/* Jobs waiting to know whether a silent node is lost: decided now when it is time. */
static void
s_decide_exited(coord_t *self, double now, bool all)
{
    for (run_t *r = self->runs, *next; r; r = next) {
        next = r->next;
        if (r->exited && (all || r->end_state || now >= r->decide_by))
            s_run_end(self, r, r->exit_code);
    }
}

/* Collect every exited child; returns how many jobs ended. */
int
ad_running_reap(coord_t *self)
{
    int status, n = 0;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (run_t *r = self->runs; r; r = r->next)
            if (r->pid == pid && !r->adopted && !r->exited) {
                s_run_exited(self, r,
                             WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
                n++;
                break;
            }
    }
    return n;
}

/* The job's spec from the store, validated again, and how many times it was requeued. */
static int
s_load_job(coord_t *self, int64_t id, ad_job_t *job, int *attempts, ad_err_t *err)
{
    json_t *o = ad_coord_job_json(self->store, id, NULL, err), *spec;
    int rc, nodes, ppn, tpp;
    char *text;

    if (!o)
        return err->code;
    if (attempts)
        *attempts = (int)json_integer_value(json_object_get(o, "attempts"));
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

int
ad_running_load_job(coord_t *self, int64_t id, ad_job_t *job, ad_err_t *err)
{
    return s_load_job(self, id, job, NULL, err);
}

/* A job that could not start: FAILED with the reason, nodes freed. */
static void
s_launch_failed(coord_t *self, int64_t id, const char *why)
{
    ad_log(AD_LOG_ERROR, "job %lld cannot start: %s", (long long)id, why);
    ad_journal_job_set(self->journal, id, "FAILED", why, INT32_MIN, NULL);
    ad_sched_release(self->sched, id);
    ad_sweeps_ended(self->sweeps, id, AD_SWEEPS_JOB_FAILED, NAN, ad_clock_now());
}

/* Whether every node is reached at a loopback address: nodes simulated on this machine. */
static bool
s_all_loopback(const ad_launch_node_t *nodes, int n)
{
    for (int i = 0; i < n; i++)
        if (!ad_choose_is_loopback(nodes[i].host))
            return false;
    return true;
}

/* The pick's node names, comma-separated (a new string). */
static char *
s_nodelist(const ad_sched_pick_t *pick)
{
    size_t len = 1;
    char *list;

    for (int i = 0; i < pick->n_nodes; i++)
        len += strlen(pick->nodes[i]) + 1;
    list = ad_malloc(len);
    list[0] = '\0';
    for (int i = 0; i < pick->n_nodes; i++) {
        if (i)
            strcat(list, ",");
        strcat(list, pick->nodes[i]);
    }
    return list;
}

/* The path home/logs/<id>/name (a new string). */
static char *
s_log_path(const coord_t *self, int64_t id, const char *name)
{
    size_t len = strlen(self->home->logs) + strlen(name) + 32;
    char *p = ad_malloc(len);

    snprintf(p, len, "%s/%lld/%s", self->home->logs, (long long)id, name);
    return p;
}

/* mpirun of the pick's job runs as pid: hold it as a run_t and add its run row. */
static void
s_run_add(coord_t *self, const ad_sched_pick_t *pick, const ad_job_t *job, int attempt,
          const ad_launch_plan_t *plan, pid_t pid, const char *hardware, const char *nodelist)
{
    ad_coord_run_t row = {0};
    char dataset[300], hash[17], identity[128];
    ad_err_t err = {0};
    run_t *r;

    r = calloc(1, sizeof(*r));
    if (!r)
        ad_oom(sizeof(*r));
    r->id = pick->job_id;
    r->pid = pid;
    ad_proc_identity(pid, identity, sizeof(identity));
    r->identity = ad_strdup(identity);
    r->exit_path = s_log_path(self, r->id, "exit.json");
    r->attempt = attempt;
    r->requeue = job->requeue;
    r->requeue_on_timeout = job->requeue_on_timeout;
    s_run_set_pool(r, job);
    r->ppn = job->layout.procs_per_node;
    r->tpp = job->layout.threads_per_proc;
    r->n_nodes = pick->n_nodes;
    r->nodes = ad_malloc((size_t)pick->n_nodes * sizeof(*r->nodes));
    for (int i = 0; i < pick->n_nodes; i++) {
        r->nodes[i] = ad_strdup(pick->nodes[i]);
        ad_registry_add_job(self->reg, pick->nodes[i], r->id);
    }
    r->output = ad_strdup(ad_launch_plan_output(plan));
    r->metrics_path = ad_strdup(ad_launch_plan_metrics(plan));
    r->t_start = ad_clock_now();
    if (job->time_limit_s > 0)
        r->deadline = r->t_start + (double)job->time_limit_s;
    s_progress_init(&r->p);
    ad_job_dataset_label(job, dataset, sizeof(dataset));
    ad_job_hash(job, hash);
    row.job = r->id;
    row.model = ad_job_model_name(job->model);
    row.dataset = dataset;
    row.hardware = hardware;
    row.device = job->device == AD_JOB_DEVICE_GPU ? "gpu" : "cpu";
    row.nodes = job->layout.nodes;
    row.procs_per_node = job->layout.procs_per_node;
    row.threads_per_proc = job->layout.threads_per_proc;
    row.batch_size = job->batch_size;
    row.config_hash = hash;
    row.sweep = ad_coord_job_sweep(self->store, pick->job_id);
    row.probe = ad_autojob_is_probe(self, r->id, job);
    row.kind = job->finetune ? "finetune" : NULL;
    r->load_other = NAN;
    if (ad_coord_run_start(self->store, &row, &r->run_id, &err))
        ad_log(AD_LOG_ERROR, "job %lld: no run row: %s", (long long)r->id, err.msg);
    if (ad_journal_job_proc(self->journal, r->id, pid, identity, r->run_id, &err))
        ad_log(AD_LOG_ERROR,
               "job %lld: its process is not recorded (a restart will not find it): %s",
               (long long)r->id, err.msg);
    r->next = self->runs;
    self->runs = r;
    ad_log(AD_LOG_INFO, "job %lld (%s) started on %s: %dx%dx%d, launcher pid %d%s, log %s",
           (long long)r->id, job->name, nodelist, job->layout.nodes, job->layout.procs_per_node,
           job->layout.threads_per_proc, (int)pid, attempt ? ", resumed" : "", r->output);
}

/* Enough free space for a job's logs and checkpoints (--min-free-mib)?  0, or -ENOSPC with err set. */
static int
s_check_free(coord_t *self, ad_err_t *err)
{
    const char *dirs[] = {self->home->logs, self->home->checkpoints};
    ad_err_t e = {0};

    for (int i = 0; i < 2 && self->opts->min_free_mib > 0; i++)
        if (ad_home_check_free(dirs[i], self->opts->min_free_mib, &e))
            return ad_err_set(err, e.code, "%s (autodistd --min-free-mib %lld)", e.msg,
                              (long long)self->opts->min_free_mib);
    return 0;
}

/* autodist-launch EXIT_FILE mpirun ...: the launcher records how mpirun ended (a new array). */
static char **
s_wrapped_argv(coord_t *self, const ad_launch_plan_t *plan, int64_t id)
{
    int argc = 0;
    char **inner = ad_launch_argv(plan, &argc), **argv;

    argv = ad_malloc(((size_t)argc + 3) * sizeof(*argv));
    argv[0] = ad_strdup(self->launcher);
    argv[1] = s_log_path(self, id, "exit.json");
    memcpy(argv + 2, inner, ((size_t)argc + 1) * sizeof(*argv));
    free(inner);
    return argv;
}

/* Entries of the ranks' extra environment: the machine's ranks and a remote shell's variables. */
#define S_EXTRA_ENV (1 + AD_PROTO_RSH_ENV_MAX)


/*
 * How mpirun reaches the pick's nodes, into t: the remote shell the first
 * node's agent announced (a reservation's: oarsh with OAR_JOB_ID), or for
 * nodes simulated on this machine the local remote shell; TCP over loopback
 * when every node is at a loopback address.  text and env (S_EXTRA_ENV + 1
 * entries) hold the extra variables.
 */
static void
s_transport(coord_t *self, const ad_sched_pick_t *pick, const ad_launch_node_t *nodes,
            const ad_job_t *job, ad_launch_transport_t *t, char text[][64], const char **env)
{
    json_t *launch = zhashx_lookup(self->launch, pick->nodes[0]);
    const char *rsh = json_string_value(json_object_get(launch, "rsh"));
    bool loopback = s_all_loopback(nodes, pick->n_nodes);
    bool simulated = loopback && (pick->n_nodes > 1 || strcmp(nodes[0].host, "127.0.0.1"));
    const char *key;
    json_t *v;
    int n = 0;

    t->single_copy_off = true;
    t->allow_root = geteuid() == 0;
    t->rsh_agent = self->opts->rsh_agent;
    t->tcp_subnet = self->opts->tcp_subnet;
    if (!t->rsh_agent && rsh) {
        /* A reservation's nodes: its remote shell, with the batch job's id it needs. */
        t->rsh_agent = rsh;
        json_object_foreach(json_object_get(launch, "env"), key, v)
        {
            if (n == AD_PROTO_RSH_ENV_MAX)
                break;
            snprintf(text[n], 64, "%s=%s", key, json_string_value(v));
            env[n] = text[n];
            n++;
        }
    } else if (!t->rsh_agent && simulated) {
        /*
         * Simulated nodes of this machine (autodist up --agents N): mpirun would ssh to
         * 127.0.0.2; the local remote shell runs its daemon here.
         */
        t->rsh_agent = self->local_rsh;
    }
    if (simulated) {
        /* Every rank shares this machine's cores: waits must not spin them away. */
        snprintf(text[n], 64, "AUTODIST_MACHINE_RANKS=%d",
                 job->layout.nodes * job->layout.procs_per_node);
        env[n] = text[n];
        n++;
    }
    /* The ranks of different nodes talk TCP over loopback, which Open MPI excludes by default. */
    if (!t->tcp_subnet && loopback && pick->n_nodes > 1)
        t->tcp_subnet = "127.0.0.0/8";
    env[n] = NULL;
    t->env = n ? env : NULL;
}

/* Start the scheduler's pick: plan, files, mpirun. */
static void
s_launch(coord_t *self, const ad_sched_pick_t *pick)
{
    ad_launch_node_t *nodes = ad_malloc((size_t)pick->n_nodes * sizeof(*nodes));
    ad_profile_t **profiles = calloc((size_t)pick->n_nodes, sizeof(*profiles));
    ad_launch_plan_t *plan = NULL;
    ad_launch_spec_t spec = {0};
    char **argv = NULL, **env = NULL, id_s[32];
    char env_text[S_EXTRA_ENV][64];
    const char *extra_env[S_EXTRA_ENV + 1];
    const char *hardware = NULL;
    ad_job_t job = {0};
    ad_err_t err = {0};
    char *nodelist;
    int attempt = 0;
    pid_t pid;

    if (!profiles)
        ad_oom(0);
    snprintf(id_s, sizeof(id_s), "%lld", (long long)pick->job_id);
    if (s_load_job(self, pick->job_id, &job, &attempt, &err) ||
        ad_distill_resolve(self, &job, &err)) {
        s_launch_failed(self, pick->job_id, err.msg);
        goto out;
    }
    if (s_check_free(self, &err)) {
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
    }
    spec.job_id = id_s;
    spec.job = &job;
    spec.nodes = nodes;
    spec.n_nodes = pick->n_nodes;
    spec.home = self->home;
    spec.trainer = self->trainer;
    spec.mpirun = self->opts->mpirun;
    s_transport(self, pick, nodes, &job, &spec.transport, env_text, extra_env);
    spec.transport.report = self->opts->report;
    /* A requeued job continues its checkpoint (a fresh start when there is none yet). */
    spec.resume = attempt > 0;
    if (ad_launch_plan_new(&spec, &plan, &err) || ad_launch_write_files(plan, &err)) {
        s_launch_failed(self, pick->job_id, err.msg);
        goto out;
    }
    argv = s_wrapped_argv(self, plan, pick->job_id);
    env = ad_launch_env(plan);
    if (ad_proc_spawn(argv, env, ad_launch_plan_output(plan), &pid, &err)) {
        s_launch_failed(self, pick->job_id, err.msg);
        goto out;
    }
    nodelist = s_nodelist(pick);
    if (ad_journal_job_place(self->journal, pick->job_id, job.layout.nodes,
                             job.layout.procs_per_node, job.layout.threads_per_proc,
                             job.device == AD_JOB_DEVICE_GPU ? "gpu" : "cpu", nodelist, &err) ||
        ad_journal_job_set(self->journal, pick->job_id, "RUNNING", NULL, INT32_MIN, &err))
        ad_log(AD_LOG_ERROR, "job %lld: cannot record RUNNING: %s", (long long)pick->job_id,
               err.msg);
    ad_sweeps_started(self->sweeps, pick->job_id);
    s_run_add(self, pick, &job, attempt, plan, pid, hardware, nodelist);
    ad_recorder_launch(self, pick, &job, plan, nodes, ad_running_find(self, pick->job_id)->run_id,
                       attempt);
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

/* Start every queued job that fits the free nodes. */
void
ad_running_schedule(coord_t *self)
{
    ad_sched_pick_t pick = {0};

    /* New jobs and runs need ids from the store: none start while it is busy. */
    if (self->exit_code >= 0 || ad_journal_waiting(self->journal))
        return;
    ad_sweep_api_dispatch(self);
    /* Nothing starts before the versions every run's record holds are known (the tick asks
     * again). */
    if (!ad_record_env_ready(self->records))
        return;
    while (ad_sched_next(self->sched, &pick) == 0) {
        s_launch(self, &pick);
        ad_sched_pick_clear(&pick);
    }
}

/* Whether r runs on node name. */
static bool
s_runs_on(const run_t *r, const char *name)
{
    for (int i = 0; i < r->n_nodes; i++)
        if (!strcmp(r->nodes[i], name))
            return true;
    return false;
}

/* Jobs on a node that went DOWN: NODE_FAIL, unless their steps still advance. */
void
ad_running_fail_node(coord_t *self, const char *name, const char *why)
{
    double now = ad_clock_now(), grace = self->opts->node_grace_s;
    char reason[512];

    snprintf(reason, sizeof(reason), "node %s went DOWN (%s)", name, why);
    for (run_t *r = self->runs; r; r = r->next) {
        if (!s_runs_on(r, name) || r->end_state)
            continue;
        if (r->exited) {
            /* Its mpirun already failed: the node is lost, not the program. */
            r->end_state = "NODE_FAIL";
            r->end_reason = ad_strdup(reason);
            continue;
        }
        if (grace > 0 && r->p.n_steps > 0 && now - r->p.t_last < grace) {
            if (!r->down)
                ad_log(AD_LOG_WARN,
                       "job %lld: %s, but its steps still advance: it runs on (NODE_FAIL after "
                       "%.0f s without a step)",
                       (long long)r->id, reason, grace);
            free(r->down);
            r->down = ad_strdup(reason);
            continue;
        }
        ad_running_stop(self, r, "NODE_FAIL", reason);
    }
}

void
ad_running_node_up(coord_t *self, const char *name)
{
    for (run_t *r = self->runs; r; r = r->next)
        if (r->down && s_runs_on(r, name)) {
            ad_log(AD_LOG_INFO, "job %lld: node %s is UP again", (long long)r->id, name);
            free(r->down);
            r->down = NULL;
        }
}

/* A job that ran on without a DOWN node and stopped stepping: NODE_FAIL. */
static void
s_watch_down(coord_t *self, run_t *r, double now)
{
    char reason[600];

    if (!r->down || r->end_state || now - r->p.t_last < self->opts->node_grace_s)
        return;
    snprintf(reason, sizeof(reason), "%s, and no step came for %.0f s", r->down, now - r->p.t_last);
    ad_running_stop(self, r, "NODE_FAIL", reason);
}

/*
 * How the autodist-launch of r ended, from its exit file: mpirun's exit status
 * (128 + N for signal N).  -1 when there is no readable file: the launcher
 * was killed, or the machine stopped.
 */
static int
s_exit_file(const run_t *r)
{
    json_t *o = json_load_file(r->exit_path, 0, NULL);
    json_t *code = json_object_get(o, "exit_code"), *sig = json_object_get(o, "signal");
    int rc = -1;

    if (json_is_integer(code))
        rc = (int)json_integer_value(code);
    else if (json_is_integer(sig))
        rc = 128 + (int)json_integer_value(sig);
    json_decref(o);
    return rc;
}

/* An adopted job's launcher is gone (it is not our child: no SIGCHLD): finish it from its files. */
static void
s_adopted_end(coord_t *self, run_t *r)
{
    int exit_code = s_exit_file(r);

    if (exit_code < 0 && !r->end_state) {
        r->end_state = S_INTERRUPTED;
        r->end_reason = ad_strdup("its processes were gone after the coordinator restarted, "
                                  "with no exit file");
    }
    s_run_end(self, r, exit_code < 0 ? 137 : exit_code);
}

/* Finish the adopted jobs whose launcher exited; returns how many. */
static int
s_poll_adopted(coord_t *self)
{
    int n = 0;

    for (run_t *r = self->runs, *next; r; r = next) {
        next = r->next;
        if (r->adopted && !r->exited && !ad_proc_same(r->pid, r->identity)) {
            s_adopted_end(self, r);
            n++;
        }
    }
    return n;
}

/* Every tick: time limits, SIGKILL after the grace, metrics to the store. */
void
ad_running_tick(coord_t *self, double now)
{
    if (s_poll_adopted(self))
        ad_running_schedule(self);
    s_decide_exited(self, now, false);
    for (run_t *r = self->runs; r; r = r->next) {
        if (r->deadline > 0 && now >= r->deadline && !r->end_state) {
            char reason[128];

            snprintf(reason, sizeof(reason), "ran past its time limit of %.0f s",
                     r->deadline - r->t_start);
            ad_running_stop(self, r, "TIMEOUT", reason);
        }
        s_watch_down(self, r, now);
        if (r->kill_at > 0 && now >= r->kill_at) {
            ad_log(AD_LOG_WARN, "job %lld: still running %.0f s after SIGTERM; SIGKILL",
                   (long long)r->id, self->opts->kill_grace_s);
            s_kill_job(self, r->id, r->pid);
            r->kill_at = 0;
        }
        s_metric_flush(self, r);
    }
}

void
ad_running_interrupt(coord_t *self, run_t *r, const char *why)
{
    ad_running_stop(self, r, S_INTERRUPTED, why);
}

/* On the way out: stop every job and wait for them (at most the grace, then SIGKILL). */
void
ad_running_stop_all(coord_t *self, const char *why)
{
    double until;

    s_decide_exited(self, ad_clock_now(), true);
    if (!self->runs)
        return;
    for (run_t *r = self->runs; r; r = r->next)
        ad_running_stop(self, r, S_INTERRUPTED, why);
    until = ad_clock_now() + self->opts->kill_grace_s;
    while (self->runs && ad_clock_now() < until) {
        ad_running_reap(self);
        s_poll_adopted(self);
        if (self->runs)
            zclock_sleep(50);
    }
    for (run_t *r = self->runs; r; r = r->next)
        s_kill_job(self, r->id, r->pid);
    until = ad_clock_now() + 5;
    while (self->runs && ad_clock_now() < until) {
        ad_running_reap(self);
        s_poll_adopted(self);
        if (self->runs)
            zclock_sleep(50);
    }
}

/* Wall-clock now, in the store's seconds since the epoch. */
static double
s_wall_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Split a nodelist "a,b,c" into r->nodes. */
static void
s_run_nodes(run_t *r, const char *nodelist)
{
    char *copy = ad_strdup(nodelist ? nodelist : ""), *save = NULL;

    r->nodes = ad_malloc((strlen(copy) / 2 + 1) * sizeof(*r->nodes));
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
        r->nodes[r->n_nodes++] = ad_strdup(t);
    free(copy);
}

/*
 * Job row, RUNNING under a coordinator that stopped: hold it again as a run
 * (its progress read back from metrics.jsonl) and, when its launcher still
 * runs, adopt it; else finish it now from its exit file.
 */
static void
s_recover_running(coord_t *self, const ad_job_row_t *row)
{
    double age = isnan(row->started) ? 0 : s_wall_now() - row->started;
    ad_job_t job = {0};
    ad_err_t err = {0};
    run_t *r;

    r = ad_calloc(1, sizeof(*r));
    r->id = row->id;
    r->run_id = row->run;
    r->pid = (pid_t)row->pid;
    r->identity = ad_strdup(row->pid_identity ? row->pid_identity : "");
    r->adopted = true;
    if (r->run_id <= 0) {
        /* Recorded by a coordinator older than schema 3: its latest run, if still RUNNING. */
        json_t *res = ad_coord_job_result(self->store, row->id);
        const char *st = json_string_value(json_object_get(res, "state"));

        if (st && !strcmp(st, "RUNNING"))
            r->run_id = json_integer_value(json_object_get(res, "run"));
        json_decref(res);
    }
    s_run_nodes(r, row->nodelist);
    r->output = s_log_path(self, row->id, "output.log");
    r->metrics_path = s_log_path(self, row->id, "metrics.jsonl");
    r->exit_path = s_log_path(self, row->id, "exit.json");
    r->t_start = ad_clock_now() - (age > 0 ? age : 0);
    r->attempt = row->attempts;
    r->ppn = row->procs_per_node;
    r->tpp = row->threads_per_proc;
    r->requeue = AD_JOB_REQUEUE_DEFAULT;
    if (s_load_job(self, row->id, &job, NULL, &err) == 0) {
        r->requeue = job.requeue;
        r->requeue_on_timeout = job.requeue_on_timeout;
        s_run_set_pool(r, &job);
        if (job.time_limit_s > 0)
            r->deadline = r->t_start + (double)job.time_limit_s;
    }
    ad_job_clear(&job);
    s_progress_init(&r->p);
    r->load_other = NAN;
    s_progress_replay(r, ad_clock_now());
    r->next = self->runs;
    self->runs = r;
    for (int i = 0; i < r->n_nodes; i++)
        ad_registry_add_job(self->reg, r->nodes[i], r->id);
    if (ad_sched_adopt(self->sched, r->id, (const char *const *)r->nodes, r->n_nodes, r->ppn,
                       r->tpp))
        ad_log(AD_LOG_WARN, "job %lld: its nodes %s are not held for it", (long long)r->id,
               row->nodelist ? row->nodelist : "(none)");
    ad_sweeps_started(self->sweeps, r->id);
    if (r->pid > 0 && ad_proc_same(r->pid, r->identity)) {
        ad_log(AD_LOG_INFO, "job %lld still runs (launcher pid %d, step %lld): adopted",
               (long long)r->id, (int)r->pid, (long long)r->p.step);
        return;
    }
    ad_log(AD_LOG_INFO, "job %lld ended while the coordinator was away: %s", (long long)r->id,
           s_exit_file(r) >= 0 ? "finished from its exit file" : "no exit file");
    s_adopted_end(self, r);
}

/*
 * At start: jobs the store says RUNNING belonged to a coordinator that
 * stopped without ending them: found again; PENDING ones queue again in
 * submit order.
 */
void
ad_running_recover(coord_t *self)
{
    ad_job_row_t *rows = NULL;
    ad_job_t job = {0};
    ad_err_t err = {0};
    json_t *jobs, *o;
    size_t i, n = 0;
    bool loaded;
    int64_t id;
    int rc;

    if (ad_store_list_jobs(self->store, AD_JOB_MASK(AD_JOB_RUNNING), &rows, &n))
        ad_log(AD_LOG_ERROR, "cannot read the running jobs: %s", ad_store_errmsg(self->store));
    for (i = 0; i < n; i++)
        s_recover_running(self, &rows[i]);
    ad_store_job_rows_free(&rows, n);
    jobs = ad_coord_jobs_json(self->store, "PENDING", false, NULL, 0, &err);
    for (i = json_array_size(jobs); i-- > 0;) {
        o = json_array_get(jobs, i);
        if (json_integer_value(json_object_get(o, "nodes")) == 0) {
            /* layout: auto, not decided when the coordinator stopped: plan it again. */
            ad_autojob_new(self, json_integer_value(json_object_get(o, "id")));
            continue;
        }
        id = json_integer_value(json_object_get(o, "id"));
        /* Its spec says its pool (a reservation's nodes); unreadable, it waits in none. */
        loaded = s_load_job(self, id, &job, NULL, &err) == 0;
        rc = ad_daemon_queue(self, id, loaded ? &job : NULL,
                             (int)json_integer_value(json_object_get(o, "nodes")),
                             (int)json_integer_value(json_object_get(o, "procs_per_node")),
                             (int)json_integer_value(json_object_get(o, "threads_per_proc")));
        ad_job_clear(&job);
        /* -EEXIST: requeued above, from a run that ended while the coordinator was away. */
        if (rc && rc != -EEXIST)
            ad_journal_job_set(self->journal, id, "FAILED", "the scheduler refused its layout",
                               INT32_MIN, NULL);
    }
    if (json_array_size(jobs))
        ad_log(AD_LOG_INFO, "%zu PENDING job(s) queued again", json_array_size(jobs));
    json_decref(jobs);
}

int
ad_running_on_metric(zloop_t *loop, zsock_t *sock, void *arg)
{
    coord_t *self = arg;
    ad_proto_msg_t msg = {0};
    ad_err_t err = {0};
    int64_t id = 0;
    run_t *r;

    if (ad_proto_recv(sock, 0, &msg, &err) == 0) {
        ad_doc_json_get_int(msg.payload, "job", 1, INT64_MAX, &id, NULL);
        r = ad_running_find(self, id);
        if (r)
            s_progress_event(r, msg.payload, ad_clock_now());
        else
            ad_log(AD_LOG_DEBUG, "METRIC of job %lld, which is not running here; ignored",
                   (long long)id);
    } else {
        ad_log(AD_LOG_DEBUG, "METRIC dropped: %s", err.msg);
    }
    ad_proto_msg_clear(&msg);
    return 0;
}
