/* ad_sweep_api.c - the coordinator's sweeps: SWEEP, SWEEPS, SWEEP_CANCEL, dispatch and resolve
 * timer */
#include "ad_daemon.h"

/* Configurations checked against the nodes when a sweep starts; the others when dispatched. */
#define S_CHECK_UPFRONT 4096

/* Sweeps resolving what ran before: the timer's period and how long one slice may take (ms). */
#define S_SWEEP_TICK_MS 5
#define S_SWEEP_SLICE_MS 20

/* ad_sweeps_each_changed()'s callback: record a sweep's state and options. */
static void
s_record(int64_t id, const char *state, int max_parallel, bool retry_failed, const char *owner,
         void *arg)
{
    coord_t *self = arg;
    ad_err_t err = {0};

    if (ad_journal_sweep_run(self->journal, id, state, max_parallel, retry_failed, owner, &err))
        ad_log(AD_LOG_WARN, "sweep %lld: %s not recorded: %s", (long long)id, state, err.msg);
}

/* ad_sweeps_check()'s test: the job can never run on the nodes known now. */
static bool
s_never_fits(const ad_job_t *job, char *why, size_t cap, void *arg)
{
    return ad_client_feasible(arg, job, why, cap) == AD_SCHED_NEVER;
}

/*
 * Queue the next jobs of the sweeps, up to each one's limit (docs/sweeps.md):
 * a sweep never has more than max_parallel jobs in the queue, so the next
 * index is picked here after every job end.
 */
void
ad_sweep_api_dispatch(coord_t *self)
{
    int up = (int)ad_registry_count(self->reg, true);
    ad_sweeps_pick_t pick;
    char why[600];

    while (ad_sweeps_next(self->sweeps, up, &pick) == 0) {
        const ad_job_t *job = &pick.job;
        ad_err_t err = {0};
        int64_t id = 0;
        char *canon;

        if (job->layout.is_auto) {
            ad_log(AD_LOG_ERROR,
                   "sweep %lld: job %s has layout auto, which sweeps do not "
                   "take yet; counted FAILED",
                   (long long)pick.sweep, job->name);
            ad_sweeps_queued(self->sweeps, &pick, 0);
            ad_sweeps_pick_clear(&pick);
            continue;
        }
        /*
         * One that fits no node is skipped (beyond the configurations checked at the
         * start, or the nodes changed) -- not while no node is UP: agents may be on their way.
         */
        if (up > 0 && !ad_sweeps_held(self->sweeps, pick.sweep) &&
            s_never_fits(job, why, sizeof(why), self)) {
            ad_log(AD_LOG_INFO, "sweep %lld: %s skipped: %s", (long long)pick.sweep, job->name,
                   why);
            ad_sweeps_skip(self->sweeps, &pick, why, ad_clock_now());
            ad_sweeps_pick_clear(&pick);
            continue;
        }
        canon = ad_job_to_json(job);
        if (ad_coord_sweep_job_add(self->store, job->name, canon, job->layout.nodes,
                                   job->layout.procs_per_node, job->layout.threads_per_proc,
                                   pick.sweep, pick.config_hash, &id, &err)) {
            ad_log(AD_LOG_ERROR, "sweep %lld: job %s not queued: %s", (long long)pick.sweep,
                   job->name, err.msg);
            id = 0;
        } else if (ad_daemon_queue(self, id, job, job->layout.nodes, job->layout.procs_per_node,
                                   job->layout.threads_per_proc)) {
            ad_journal_job_set(self->journal, id, "FAILED", "the scheduler refused its layout",
                               INT32_MIN, NULL);
            id = 0;
        } else {
            /* The sweep's owner owns its jobs: may cancel them, and they count in the cap. */
            if (pick.owner && ad_store_set_job_owner(self->store, id, pick.owner))
                ad_log(AD_LOG_WARN, "job %lld: owner %s not stored: %s", (long long)id, pick.owner,
                       ad_store_errmsg(self->store));
            ad_log(AD_LOG_DEBUG, "job %lld (%s) queued for sweep %lld", (long long)id, job->name,
                   (long long)pick.sweep);
        }
        free(canon);
        ad_sweeps_queued(self->sweeps, &pick, id);
        /* Held and fitting no node that is up: it waits off the limit, the others go on. */
        if (id > 0 && up > 0 && ad_sched_status(self->sched, id) == AD_SCHED_NEVER)
            ad_sweeps_park(self->sweeps, id);
        ad_sweeps_pick_clear(&pick);
    }
    ad_sweeps_each_changed(self->sweeps, s_record, self);
}

/* Hash configurations of resolving sweeps for at most S_SWEEP_SLICE_MS, then dispatch. */
static int
s_on_sweep_tick(zloop_t *loop, int timer_id, void *arg)
{
    coord_t *self = arg;
    double until = ad_clock_now() + S_SWEEP_SLICE_MS / 1000.0;
    bool more;

    do
        more = ad_sweeps_resolve(self->sweeps, 64, ad_clock_now());
    while (more && ad_clock_now() < until);
    if (!more) {
        zloop_timer_end(loop, timer_id);
        self->sweep_timer = -1;
        ad_running_schedule(self);
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
s_prior_of(coord_t *self, const json_t *versions, prior_list_t *l, ad_err_t *err)
{
    size_t i;
    json_t *v;

    json_array_foreach(versions, i, v)
    {
        int rc = ad_coord_sweep_jobs(self->store, json_integer_value(json_object_get(v, "id")),
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
    json_t *o = ad_sweeps_json(self->sweeps, name, ad_clock_now()), *failed, *id;
    const char *never_reason = NULL;
    int64_t never = 0;
    size_t i;

    if (!o)
        return NULL;
    failed = json_array();
    json_array_foreach(json_object_get(o, "failed_jobs"), i, id)
    {
        const char *state = NULL;
        json_t *j = ad_coord_job_json(self->store, json_integer_value(id), &state, NULL);

        if (!j)
            continue;
        json_array_append_new(failed, json_pack("{s:O s:O s:s s:O}", "job", id, "name",
                                                json_object_get(j, "name"), "state", state,
                                                "reason", json_object_get(j, "reason")));
        json_decref(j);
    }
    json_object_set_new(o, "failed_jobs", failed);
    json_array_foreach(json_object_get(o, "live_jobs"), i, id)
    {
        int64_t job = json_integer_value(id);

        if (ad_sched_status(self->sched, job) == AD_SCHED_NEVER) {
            never++;
            if (!never_reason)
                never_reason = ad_sched_reason(self->sched, job);
        }
    }
    json_object_set_new(o, "never", json_integer(never));
    json_object_set_new(o, "never_reason", never_reason ? json_string(never_reason) : json_null());
    /* Every queued job waits for nodes that are not there (--hold): no progress, no ETA. */
    if (never > 0 && never == json_integer_value(json_object_get(o, "queued")) &&
        json_integer_value(json_object_get(o, "running")) == 0 &&
        !strcmp(json_string_value(json_object_get(o, "state")), "RUNNING")) {
        json_object_set_new(o, "eta_s", json_null());
        json_object_set_new(o, "stalled", json_true());
    } else {
        json_object_set_new(o, "stalled", json_false());
    }
    return o;
}

/* Sweeps do not take `layout: auto` yet: answer so; true when refused. */
static bool
s_refuse_auto(coord_t *self, const ad_proto_msg_t *msg, const ad_sweep_t *sweep)
{
    ad_job_t first;
    bool is_auto;

    if (ad_sweep_job(sweep, 0, &first, NULL, NULL))
        return false;
    is_auto = first.layout.is_auto;
    ad_job_clear(&first);
    if (is_auto)
        ad_client_error(self, msg->identity, AD_EINVAL,
                        "sweep %s: its jobs have layout auto, which sweeps do not take yet; give "
                        "layout {nodes, procs_per_node, threads_per_proc} in the base or the grid "
                        "(`autodist plan` shows the layout the planner would choose)",
                        ad_sweep_name(sweep));
    return is_auto;
}

/* A distilled sweep whose first job's teacher cannot teach (ad_distill_resolve()): refused. */
static bool
s_refuse_teacher(coord_t *self, const ad_proto_msg_t *msg, const ad_sweep_t *sweep)
{
    ad_job_t first;
    ad_err_t err = {0};
    int rc;

    if (ad_sweep_job(sweep, 0, &first, NULL, NULL))
        return false;
    rc = ad_distill_resolve(self, &first, &err);
    ad_job_clear(&first);
    if (rc)
        ad_client_error(self, msg->identity, AD_EINVAL, "sweep %s: %s", ad_sweep_name(sweep),
                        err.msg);
    return rc != 0;
}

/*
 * A sweep none of whose configurations can run on the nodes known now (of
 * the first S_CHECK_UPFRONT; the others are checked as it dispatches):
 * ERROR AD_PROTO_ENEVER with the first one's reason, unless hold.  Returns
 * true when refused.
 */
static bool
s_refuse_never(coord_t *self, const ad_proto_msg_t *msg, const ad_sweep_t *sweep, bool hold)
{
    int64_t configs = ad_sweep_configs(sweep), n = configs;
    char why[600], first[600] = "", some[64] = "";

    if (hold)
        return false;
    if (n > S_CHECK_UPFRONT) {
        n = S_CHECK_UPFRONT;
        snprintf(some, sizeof(some), "the first %d of ", S_CHECK_UPFRONT);
    }
    for (int64_t c = 0; c < n; c++) {
        ad_job_t job = {0};
        bool never;

        if (ad_sweep_job(sweep, c, &job, NULL, NULL))
            return false;
        never = s_never_fits(&job, why, sizeof(why), self);
        ad_job_clear(&job);
        if (!never)
            return false;
        if (!first[0])
            snprintf(first, sizeof(first), "%s", why);
    }
    ad_log(AD_LOG_INFO, "SWEEP %s refused: no configuration fits: %s", ad_sweep_name(sweep), first);
    ad_client_error(self, msg->identity, AD_PROTO_ENEVER,
                    "sweep %s: none of %sits %lld configuration%s can run here: %s (--hold "
                    "queues them to wait for nodes)",
                    ad_sweep_name(sweep), some, (long long)configs, configs == 1 ? "" : "s", first);
    return true;
}

/*
 * SWEEP: record the sweep (or find it again), refuse a changed file under
 * the same name unless force, read what its jobs did before and start
 * dispatching.  A sweep of that name already running with the same file is
 * joined: its options are updated.
 */
void
ad_sweep_api_submit(coord_t *self, const ad_proto_msg_t *msg)
{
    const char *sent_hash = NULL, *name, *old_hash = NULL;
    ad_sweeps_opts_t opts = {0, false, true, NULL};
    char owner[AD_KEYS_NAME_MAX + 32];
    json_t *spec = NULL, *versions = NULL, *o, *last;
    prior_list_t prior = {0};
    ad_sweep_t *sweep = NULL;
    int64_t max_parallel = 0, id = 0;
    bool force = false, created = false, hold = false;
    ad_err_t err = {0};
    char hash[17], *text;

    ad_doc_json_get_object(msg->payload, "sweep", &spec, NULL);
    ad_doc_json_get_string(msg->payload, "file_hash", 16, 16, &sent_hash, NULL);
    ad_doc_json_get_int(msg->payload, "max_parallel", 1, AD_PROTO_SWEEP_PARALLEL_MAX, &max_parallel,
                    NULL);
    ad_doc_json_get_bool(msg->payload, "retry_failed", &opts.retry_failed, NULL);
    ad_doc_json_get_bool(msg->payload, "force", &force, NULL);
    ad_doc_json_get_bool(msg->payload, "hold", &hold, NULL);
    opts.max_parallel = (int)max_parallel;
    opts.owner = ad_client_owner(self, msg, owner, sizeof(owner));
    text = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text)
        ad_oom(0);
    if (ad_sweep_load_json(text, &sweep, &err)) {
        free(text);
        ad_client_error(self, msg->identity, AD_EPARSE, "%s", err.msg);
        return;
    }
    free(text);
    ad_sweep_hash(sweep, hash);
    name = ad_sweep_name(sweep);
    if (sent_hash && strcmp(sent_hash, hash)) {
        ad_client_error(
            self, msg->identity, AD_EINVAL,
            "sweep %s: the client computed file hash %s, the coordinator %s: are autodist "
            "and autodistd the same version?",
            name, sent_hash, hash);
        goto out;
    }
    if (s_refuse_auto(self, msg, sweep) || s_refuse_teacher(self, msg, sweep) ||
        (!ad_sweeps_running(self->sweeps, name) && s_refuse_never(self, msg, sweep, hold)))
        goto out;
    if (ad_sweeps_running(self->sweeps, name)) {
        old_hash = ad_sweeps_file_hash(self->sweeps, name);
        if (strcmp(old_hash, hash)) {
            ad_client_error(self, msg->identity, -EBUSY,
                            "sweep %s is running from another file (file hash %s; this file %s): "
                            "cancel it first (autodist sweep cancel %s)",
                            name, old_hash, hash, name);
            goto out;
        }
        ad_sweeps_update(self->sweeps, name, &opts);
        o = s_sweep_json(self, name);
        json_object_set_new(o, "created", json_false());
        json_object_set_new(o, "joined", json_true());
        ad_daemon_send(self->client, msg->identity, "OK", o);
        ad_log(AD_LOG_INFO, "sweep %s: joined (it was running)", name);
        ad_running_schedule(self);
        goto out;
    }
    versions = ad_coord_sweep_versions(self->store, name, &err);
    if (!versions) {
        ad_client_error(self, msg->identity, AD_EDB, "%s", err.msg);
        goto out;
    }
    last = json_array_get(versions, json_array_size(versions) - 1);
    old_hash = last ? json_string_value(json_object_get(last, "file_hash")) : NULL;
    if (old_hash && strcmp(old_hash, hash) && !force) {
        ad_client_error(
            self, msg->identity, -EEXIST,
            "sweep %s was recorded from another file: file hash %s, this file %s. Rerun the "
            "file it came from to resume it, give this one another name, or add --force "
            "to record this file as a new version of %s: configurations that already "
            "completed under that name (same configuration hash) are skipped, the others "
            "run",
            name, old_hash, hash, name);
        goto out;
    }
    if (ad_coord_sweep_add(self->store, name, hash, ad_sweep_json(sweep), &id, &created, &err)) {
        ad_client_error(self, msg->identity, ad_client_store_code(self), "%s", err.msg);
        goto out;
    }
    if (s_prior_of(self, versions, &prior, &err)) {
        ad_client_error(self, msg->identity, AD_EDB, "%s", err.msg);
        goto out;
    }
    ad_log(AD_LOG_INFO, "sweep %s (id %lld, file hash %s): %lld jobs, %zu found in the store%s",
           name, (long long)id, hash, (long long)ad_sweep_count(sweep), prior.n,
           created ? "" : " (resumed)");
    ad_sweeps_open(self->sweeps, id, hash, &sweep, prior.v, prior.n, &opts, ad_clock_now());
    ad_sweeps_set_hold(self->sweeps, name, hold);
    /* What fits no node is skipped and listed now; the rest is checked as it is dispatched. */
    ad_sweeps_check(self->sweeps, name, S_CHECK_UPFRONT, s_never_fits, self, ad_clock_now());
    if (prior.n)
        s_sweep_timer(self);
    o = s_sweep_json(self, name);
    json_object_set_new(o, "created", json_boolean(created));
    json_object_set_new(o, "joined", json_false());
    json_object_set_new(o, "versions",
                        json_integer((json_int_t)json_array_size(versions) + (created ? 1 : 0)));
    ad_daemon_send(self->client, msg->identity, "OK", o);
    ad_running_schedule(self);
out:
    free(prior.v);
    json_decref(versions);
    ad_sweep_free(&sweep);
}

/*
 * Read sweep name back from the store with opts: STOPPED for a status (the
 * coordinator restarted and holds it no more), or dispatching again.
 */
static int
s_sweep_load(coord_t *self, const char *name, const ad_sweeps_opts_t *opts, ad_err_t *err)
{
    json_t *versions = ad_coord_sweep_versions(self->store, name, err), *last;
    prior_list_t prior = {0};
    ad_sweep_t *sweep = NULL;
    char *spec = NULL;
    int64_t id;
    int rc;

    if (!versions)
        return err->code;
    last = json_array_get(versions, json_array_size(versions) - 1);
    if (!last) {
        rc = ad_err_set(err, -ENOENT,
                        "no sweep %s (autodist sweep status lists the sweeps the "
                        "coordinator holds)",
                        name);
        goto out;
    }
    id = json_integer_value(json_object_get(last, "id"));
    spec = ad_coord_sweep_spec(self->store, id, err);
    if (!spec) {
        rc = err->code;
        goto out;
    }
    rc = ad_sweep_load_json(spec, &sweep, err);
    if (rc)
        goto out;
    rc = s_prior_of(self, versions, &prior, err);
    if (rc)
        goto out;
    ad_sweeps_open(self->sweeps, id, json_string_value(json_object_get(last, "file_hash")), &sweep,
                   prior.v, prior.n, opts, ad_clock_now());
    if (prior.n)
        s_sweep_timer(self);
out:
    free(prior.v);
    free(spec);
    ad_sweep_free(&sweep);
    json_decref(versions);
    return rc;
}

void
ad_sweep_api_status(coord_t *self, const ad_proto_msg_t *msg)
{
    static const ad_sweeps_opts_t stopped = {0, false, false, NULL};
    const char *name = NULL;
    ad_err_t err = {0};
    json_t *arr, *o;
    size_t i;

    ad_doc_json_get_string(msg->payload, "name", 1, AD_SWEEP_NAME_MAX, &name, NULL);
    if (!name) {
        arr = ad_sweeps_list_json(self->sweeps, ad_clock_now());
        json_array_foreach(arr, i, o)
        {
            json_t *full = s_sweep_json(self, json_string_value(json_object_get(o, "name")));

            if (full)
                json_array_set_new(arr, i, full);
        }
        ad_daemon_send(self->client, msg->identity, "OK", json_pack("{s:o}", "sweeps", arr));
        return;
    }
    if (!ad_sweeps_has(self->sweeps, name) && s_sweep_load(self, name, &stopped, &err)) {
        ad_client_error(self, msg->identity, err.code, "%s", err.msg);
        return;
    }
    ad_daemon_send(self->client, msg->identity, "OK",
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
void
ad_sweep_api_cancel(coord_t *self, const ad_proto_msg_t *msg)
{
    const char *name = NULL;
    json_t *versions, *v, *o;
    id_list_t live = {0};
    ad_err_t err = {0};
    int64_t cancelled = 0, stopping = 0;
    char reason[128];
    size_t i;

    ad_doc_json_get_string(msg->payload, "name", 1, AD_SWEEP_NAME_MAX, &name, NULL);
    versions = ad_coord_sweep_versions(self->store, name, &err);
    if (!versions) {
        ad_client_error(self, msg->identity, AD_EDB, "%s", err.msg);
        return;
    }
    if (json_array_size(versions) == 0 && !ad_sweeps_has(self->sweeps, name)) {
        json_decref(versions);
        ad_client_error(self, msg->identity, -ENOENT, "no sweep %s", name);
        return;
    }
    /* Its owner or the admin (docs/security.md). */
    v = json_array_get(versions, json_array_size(versions) - 1);
    if (ad_client_refuse_unless_owner(self, msg, "SWEEP_CANCEL",
                                      ad_sweeps_has(self->sweeps, name)
                                          ? ad_sweeps_owner(self->sweeps, name)
                                          : json_string_value(json_object_get(v, "owner")))) {
        json_decref(versions);
        return;
    }
    ad_sweeps_cancel(self->sweeps, name, ad_clock_now());
    ad_sweeps_each_changed(self->sweeps, s_record, self);
    v = json_array_get(versions, json_array_size(versions) - 1);
    if (v && !ad_sweeps_has(self->sweeps, name))
        s_record(json_integer_value(json_object_get(v, "id")), "CANCELLED", 0, false, NULL, self);
    json_array_foreach(versions, i, v)
    {
        if (ad_coord_sweep_jobs(self->store, json_integer_value(json_object_get(v, "id")),
                                s_collect_live, &live, &err))
            ad_log(AD_LOG_WARN, "sweep %s: %s", name, err.msg);
    }
    json_decref(versions);
    snprintf(reason, sizeof(reason), "sweep %s cancelled", name);
    for (size_t k = 0; k < live.n; k++) {
        run_t *r = ad_running_find(self, live.ids[k]);

        if (r) {
            ad_running_stop(self, r, "CANCELLED", reason);
            stopping++;
            continue;
        }
        ad_sched_remove_job(self->sched, live.ids[k]);
        if (ad_journal_job_set(self->journal, live.ids[k], "CANCELLED", reason, INT32_MIN, &err)) {
            ad_log(AD_LOG_WARN, "job %lld: %s", (long long)live.ids[k], err.msg);
            continue;
        }
        ad_sweeps_ended(self->sweeps, live.ids[k], AD_SWEEPS_JOB_CANCELLED, NAN, ad_clock_now());
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
    ad_daemon_send(self->client, msg->identity, "OK", o);
}

void
ad_sweep_api_reopen(coord_t *self)
{
    ad_sweep_row_t *rows = NULL;
    size_t n = 0;

    if (ad_store_running_sweeps(self->store, &rows, &n)) {
        ad_log(AD_LOG_ERROR, "cannot read the running sweeps: %s", ad_store_errmsg(self->store));
        return;
    }
    for (size_t i = 0; i < n; i++) {
        ad_sweeps_opts_t opts = {rows[i].max_parallel, rows[i].retry_failed, true, rows[i].owner};
        ad_err_t err = {0};

        if (s_sweep_load(self, rows[i].name, &opts, &err)) {
            ad_log(AD_LOG_ERROR, "sweep %s not resumed: %s", rows[i].name, err.msg);
        } else {
            /* Its agents come back one by one: skip nothing on the nodes back so far. */
            ad_sweeps_set_hold(self->sweeps, rows[i].name, true);
            ad_log(AD_LOG_INFO, "sweep %s resumed (it was running when the coordinator stopped)",
                   rows[i].name);
        }
    }
    ad_store_sweep_rows_free(&rows, n);
}
