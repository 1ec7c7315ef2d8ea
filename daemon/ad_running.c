/* ad_running.c - running jobs: launch, reap, stop, progress and metrics, recovery at restart */
#include "ad_daemon.h"

/* Steps at the start of a run left out of its throughput (docs/daemon.md). */
#define S_WARMUP_STEPS 3

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
    if (ad_coord_run_metrics(self->store, r->run_id, r->buf, r->n_buf, &err))
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
        double step_s = ad_daemon_json_num(ev, "step_s"), comm_s = ad_daemon_json_num(ev, "comm_s");

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
        s_metric_add(r, step, test ? "test_accuracy" : "val_accuracy", acc);
        s_metric_add(r, step, test ? "test_loss" : "val_loss", ad_daemon_json_num(ev, "loss"));
    } else if (!strcmp(event, "done")) {
        p->done = true;
        p->phase = "done";
        p->done_samples_per_s = ad_daemon_json_num(ev, "samples_per_s");
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
json_t *
ad_running_progress_json(const run_t *r, double now)
{
    const progress_t *p = &r->p;
    json_t *eta = json_null();

    if (p->steps > 0 && p->t_first > 0 && p->step > p->step_first && now > p->t_first) {
        double rate = (double)(p->step - p->step_first) / (now - p->t_first);

        eta = json_real((double)(p->steps > p->step ? p->steps - p->step : 0) / rate);
    }
    return json_pack(
        "{s:s s:I s:o s:I s:o s:o s:o s:o s:f}", "phase", p->phase, "step", (json_int_t)p->step,
        "steps", p->steps > 0 ? json_integer(p->steps) : json_null(), "epoch", (json_int_t)p->epoch,
        "epochs", p->epochs > 0 ? json_integer(p->epochs) : json_null(), "loss",
        isnan(p->loss) ? json_null() : json_real(p->loss), "samples_per_s",
        isnan(p->samples_per_s) ? json_null() : json_real(p->samples_per_s), "eta_s", eta,
        "elapsed_s", now - r->t_start);
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
        s_progress_replay(r, ad_clock_now());
    s_metric_flush(self, r);
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
    if (r->run_id > 0 && ad_coord_run_finish(self->store, r->run_id, &res, &err))
        ad_log(AD_LOG_WARN, "job %lld: run not recorded: %s", (long long)r->id, err.msg);
    if (ad_coord_job_set(self->store, r->id, state, reason[0] ? reason : NULL, exit_code, &err))
        ad_log(AD_LOG_ERROR, "job %lld: cannot record %s: %s", (long long)r->id, state, err.msg);
    ad_sweeps_ended(self->sweeps, r->id, ad_sweeps_job_from_state(state),
                    ad_clock_now() - r->t_start, ad_clock_now());
    ad_log(state[0] == 'C' && state[1] == 'O' ? AD_LOG_INFO : AD_LOG_WARN,
           "job %lld %s (exit %d)%s%s", (long long)r->id, state, exit_code, reason[0] ? ": " : "",
           reason);
    ad_sched_release(self->sched, r->id);
    ad_autojob_job_ended(self, r->id);
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
int
ad_running_reap(coord_t *self)
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
int
ad_running_load_job(coord_t *self, int64_t id, ad_job_t *job, ad_err_t *err)
{
    json_t *o = ad_coord_job_json(self->store, id, NULL, err), *spec;
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
    ad_coord_job_set(self->store, id, "FAILED", why, INT32_MIN, NULL);
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

/* mpirun of the pick's job runs as pid: hold it as a run_t and add its run row. */
static void
s_run_add(coord_t *self, const ad_sched_pick_t *pick, const ad_job_t *job,
          const ad_launch_plan_t *plan, pid_t pid, const char *hardware, const char *nodelist)
{
    ad_coord_run_t row = {0};
    char dataset[300], hash[17];
    ad_err_t err = {0};
    run_t *r;

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
    if (ad_coord_run_start(self->store, &row, &r->run_id, &err))
        ad_log(AD_LOG_ERROR, "job %lld: no run row: %s", (long long)r->id, err.msg);
    r->next = self->runs;
    self->runs = r;
    ad_log(AD_LOG_INFO, "job %lld (%s) started on %s: %dx%dx%d, mpirun pid %d, log %s",
           (long long)r->id, job->name, nodelist, job->layout.nodes, job->layout.procs_per_node,
           job->layout.threads_per_proc, (int)pid, r->output);
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
    char machine_ranks[64] = "";
    const char *extra_env[] = {machine_ranks, NULL};
    const char *hardware = NULL;
    ad_job_t job = {0};
    ad_err_t err = {0};
    char *nodelist;
    pid_t pid;

    if (!profiles)
        ad_oom(0);
    snprintf(id_s, sizeof(id_s), "%lld", (long long)pick->job_id);
    if (ad_running_load_job(self, pick->job_id, &job, &err)) {
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
    nodelist = s_nodelist(pick);
    if (ad_coord_job_place(self->store, pick->job_id, job.layout.nodes, job.layout.procs_per_node,
                           job.layout.threads_per_proc,
                           job.device == AD_JOB_DEVICE_GPU ? "gpu" : "cpu", nodelist, &err) ||
        ad_coord_job_set(self->store, pick->job_id, "RUNNING", NULL, INT32_MIN, &err))
        ad_log(AD_LOG_ERROR, "job %lld: cannot record RUNNING: %s", (long long)pick->job_id,
               err.msg);
    ad_sweeps_started(self->sweeps, pick->job_id);
    s_run_add(self, pick, &job, plan, pid, hardware, nodelist);
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

    if (self->exit_code >= 0)
        return;
    ad_sweep_api_dispatch(self);
    while (ad_sched_next(self->sched, &pick) == 0) {
        s_launch(self, &pick);
        ad_sched_pick_clear(&pick);
    }
}

/* Jobs on a node that went DOWN end as NODE_FAIL. */
void
ad_running_fail_node(coord_t *self, const char *name, const char *why)
{
    char reason[512];

    snprintf(reason, sizeof(reason), "node %s went DOWN (%s)", name, why);
    for (run_t *r = self->runs; r; r = r->next)
        for (int i = 0; i < r->n_nodes; i++)
            if (!strcmp(r->nodes[i], name)) {
                ad_running_stop(self, r, "NODE_FAIL", reason);
                break;
            }
}

/* Every tick: time limits, SIGKILL after the grace, metrics to the store. */
void
ad_running_tick(coord_t *self, double now)
{
    for (run_t *r = self->runs; r; r = r->next) {
        if (r->deadline > 0 && now >= r->deadline && !r->end_state) {
            char reason[128];

            snprintf(reason, sizeof(reason), "ran past its time limit of %.0f s",
                     r->deadline - r->t_start);
            ad_running_stop(self, r, "TIMEOUT", reason);
        }
        if (r->kill_at > 0 && now >= r->kill_at) {
            ad_log(AD_LOG_WARN, "job %lld: still running %.0f s after SIGTERM; SIGKILL",
                   (long long)r->id, self->opts->kill_grace_s);
            s_kill_job(self, r->id, r->pid);
            r->kill_at = 0;
        }
        s_metric_flush(self, r);
    }
}

/* On the way out: stop every job and wait for them (at most the grace, then SIGKILL). */
void
ad_running_stop_all(coord_t *self, const char *why)
{
    double until;

    if (!self->runs)
        return;
    for (run_t *r = self->runs; r; r = r->next)
        ad_running_stop(self, r, "CANCELLED", why);
    until = ad_clock_now() + self->opts->kill_grace_s;
    while (self->runs && ad_clock_now() < until) {
        ad_running_reap(self);
        if (self->runs)
            zclock_sleep(50);
    }
    for (run_t *r = self->runs; r; r = r->next)
        s_kill_job(self, r->id, r->pid);
    until = ad_clock_now() + 5;
    while (self->runs && ad_clock_now() < until) {
        ad_running_reap(self);
        if (self->runs)
            zclock_sleep(50);
    }
}

/*
 * At start: jobs the store says RUNNING belonged to a coordinator that
 * stopped without ending them; PENDING ones queue again in submit order.
 */
void
ad_running_recover(coord_t *self)
{
    ad_err_t err = {0};
    json_t *jobs, *o;
    size_t i;

    jobs = ad_coord_jobs_json(self->store, "RUNNING", false, NULL, 0, &err);
    json_array_foreach(jobs, i, o)
    {
        int64_t id = json_integer_value(json_object_get(o, "id"));
        int n = s_kill_job(self, id, 0);

        ad_coord_job_set(self->store, id, "FAILED", "the coordinator stopped while the job ran",
                         INT32_MIN, NULL);
        ad_log(AD_LOG_WARN, "job %lld was RUNNING when the coordinator stopped: FAILED%s",
               (long long)id, n ? " (its leftover processes killed)" : "");
    }
    json_decref(jobs);
    jobs = ad_coord_jobs_json(self->store, "PENDING", false, NULL, 0, &err);
    for (i = json_array_size(jobs); i-- > 0;) {
        o = json_array_get(jobs, i);
        if (json_integer_value(json_object_get(o, "nodes")) == 0) {
            /* layout: auto, not decided when the coordinator stopped: plan it again. */
            ad_autojob_new(self, json_integer_value(json_object_get(o, "id")));
            continue;
        }
        if (ad_sched_add_job(self->sched, json_integer_value(json_object_get(o, "id")),
                             (int)json_integer_value(json_object_get(o, "nodes")),
                             (int)json_integer_value(json_object_get(o, "procs_per_node")),
                             (int)json_integer_value(json_object_get(o, "threads_per_proc"))))
            ad_coord_job_set(self->store, json_integer_value(json_object_get(o, "id")), "FAILED",
                             "the scheduler refused its layout", INT32_MIN, NULL);
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
