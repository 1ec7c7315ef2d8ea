/* ad_client.c - client requests: SUBMIT, STATUS, JOBS, CANCEL, LOGS, NODES, SHUTDOWN; roles */
#include "ad_daemon.h"

/* LOGS: default and largest chunk. */
#define S_LOGS_DEFAULT (1 << 20)
#define S_LOGS_MAX (8 << 20)

void
ad_client_error(coord_t *self, const char *identity, int code, const char *fmt, ...)
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
    run_t *r = ad_running_find(self, id);
    json_t *result;
    if (ad_autojob_decorate(self, id, state, o))
        return;
    if (ad_coord_state_is_final(state)) {
        result = ad_coord_job_result(self->store, id);
        if (result) {
            /* An auto job decided before this coordinator started: its run's record. */
            if (!json_object_get(o, "auto"))
                ad_store_record_auto(self->store, json_integer_value(json_object_get(result, "run")),
                                     o);
            json_object_set_new(o, "result", result);
        }
        return;
    }
    if (reason && !(r && r->end_state)) {
        const char *stored = json_string_value(json_object_get(o, "reason"));

        /* A requeued job says why it was requeued, then what it waits for now. */
        if (!r && stored && json_integer_value(json_object_get(o, "attempts")) > 0)
            json_object_set_new(o, "reason", json_sprintf("%s; now: %s", stored, reason));
        else
            json_object_set_new(o, "reason", json_string(reason));
    }
    if (st > AD_SCHED_UNKNOWN && st <= AD_SCHED_RUNNING)
        json_object_set_new(o, "sched", json_string(verdicts[st]));
    if (r) {
        json_object_set_new(o, "progress", ad_running_progress_json(r, ad_clock_now()));
        if (r->down && !r->end_state)
            json_object_set_new(
                o, "reason", json_sprintf("%s, but its steps still advance: it runs on", r->down));
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
    json_t *o = ad_coord_job_json(self->store, id, NULL, err);

    if (o)
        s_decorate(self, o);
    return o;
}

static void
s_fill_reasons(coord_t *self, json_t *jobs)
{
    size_t i;
    json_t *o;

    json_array_foreach(jobs, i, o) s_decorate(self, o);
}

int
ad_client_store_code(const coord_t *self)
{
    return ad_store_busy(self->store) ? -EAGAIN : AD_EDB;
}

/* ---- who may do what (docs/security.md) --------------------------------------------------- */

/*
 * The sender's role and name from its key (the ZAP handler's User-Id); every
 * client of an --insecure coordinator is the admin.
 */
static ad_keys_role_t
s_who(coord_t *self, const ad_proto_msg_t *msg, char *name, size_t size)
{
    if (self->opts->insecure) {
        snprintf(name, size, "anyone (--insecure)");
        return AD_KEYS_ROLE_ADMIN;
    }
    return ad_keys_parse_user_id(msg->user_id, name, size);
}

/* Refuse msg unless its sender holds the admin key (what says what needs it); true when refused. */
static bool
s_refuse_unless_admin(coord_t *self, const ad_proto_msg_t *msg, const char *what)
{
    char name[AD_KEYS_NAME_MAX + 32];
    ad_keys_role_t role = s_who(self, msg, name, sizeof(name));

    if (role == AD_KEYS_ROLE_ADMIN)
        return false;
    ad_log(AD_LOG_WARN, "%s refused: %s %s has no admin key", ad_proto_type_name(msg->type),
           ad_keys_role_name(role), name[0] ? name : "-");
    ad_client_error(self, msg->identity, -EACCES, "permission denied: %s needs the admin key; you "
                    "are %s %s", what, ad_keys_role_name(role), name[0] ? name : "-");
    return true;
}

/* Over the per-user cap of PENDING jobs (--max-queued-per-user)?  Answers the refusal. */
static bool
s_refuse_over_cap(coord_t *self, const ad_proto_msg_t *msg, const char *owner)
{
    int64_t n = 0;

    if (!owner)
        return false;
    if (ad_store_count_owner_jobs(self->store, owner, AD_JOB_PENDING, &n)) {
        ad_client_error(self, msg->identity, AD_EDB, "%s", ad_store_errmsg(self->store));
        return true;
    }
    if (n < self->opts->max_queued)
        return false;
    ad_client_error(self, msg->identity, -EDQUOT,
                    "%s has %lld jobs PENDING, the most one user may queue "
                    "(--max-queued-per-user %lld): wait for some to start or cancel some",
                    owner, (long long)n, (long long)self->opts->max_queued);
    return true;
}

/* The owner a SUBMIT gets: the key's name (NULL for --insecure). */
const char *
ad_client_owner(coord_t *self, const ad_proto_msg_t *msg, char *name, size_t size)
{
    ad_keys_role_t role = s_who(self, msg, name, size);

    return self->opts->insecure || role == AD_KEYS_ROLE_NONE ? NULL : name;
}

/* Record job id's owner; a failure is logged (only an admin can cancel the job then). */
static void
s_set_owner(coord_t *self, int64_t id, const char *owner)
{
    if (owner && ad_store_set_job_owner(self->store, id, owner))
        ad_log(AD_LOG_WARN, "job %lld: owner %s not stored: %s", (long long)id, owner,
               ad_store_errmsg(self->store));
}

/* The GPUs of the UP nodes, from their profiles, told to the scheduler. */
static void
s_sync_gpus(coord_t *self)
{
    const ad_registry_node_t *node = NULL;

    while ((node = ad_registry_next_up(self->reg, node))) {
        json_t *g = json_object_get(node->profile, "gpus");

        ad_sched_set_node_gpus(self->sched, node->name,
                               json_is_array(g) ? (int)json_array_size(g) : 0);
    }
}

/* bytes as "1.5 GiB" or "300 MiB" into buf. */
static const char *
s_mib(int64_t bytes, char *buf, size_t size)
{
    if (bytes >= (int64_t)1 << 30)
        snprintf(buf, size, "%.1f GiB", (double)bytes / (double)((int64_t)1 << 30));
    else
        snprintf(buf, size, "%.0f MiB", (double)bytes / (double)((int64_t)1 << 20));
    return buf;
}

/*
 * Memory: a job file does not say what it needs, but the runs of the same model,
 * dataset, device and samples per rank do (runs.max_rss_bytes, the peak of their
 * largest rank).  Its ranks per node times that peak must fit the memory of as
 * many UP nodes with the cores as it asks for.  Nothing is known: no verdict.
 */
static ad_sched_status_t
s_memory_check(coord_t *self, const ad_job_t *job, char *reason, size_t cap)
{
    const ad_registry_node_t *node = NULL, *most = NULL;
    int ppn = job->layout.procs_per_node, cores = ppn * job->layout.threads_per_proc;
    int64_t rss = 0, run = 0, need, most_mem = 0, ranks = (int64_t)job->layout.nodes * ppn;
    char a[32], b[32], c[32], dataset[128];
    int fit = 0;

    ad_job_dataset_label(job, dataset, sizeof(dataset));
    if (ranks < 1 || job->batch_size % ranks ||
        ad_store_peak_rss(self->store, ad_job_model_name(job->model), dataset,
                          job->device == AD_JOB_DEVICE_GPU ? "gpu" : "cpu",
                          job->batch_size / ranks, &rss, &run) ||
        rss <= 0)
        return AD_SCHED_WAIT;
    need = rss * ppn;
    while ((node = ad_registry_next_up(self->reg, node))) {
        int64_t mem = json_integer_value(json_object_get(node->profile, "memory_bytes"));

        if (node->cores < cores)
            continue;
        if (mem <= 0 || mem >= need)
            fit++;
        if (mem > most_mem) {
            most_mem = mem;
            most = node;
        }
    }
    if (fit >= job->layout.nodes || !most)
        return AD_SCHED_WAIT;
    snprintf(reason, cap,
             "needs about %s of memory per node (%d rank%s x %s, the peak of one rank of run "
             "%lld: same model, dataset and %lld samples per rank), but the largest node with "
             "%d cores has %s (%s)",
             s_mib(need, a, sizeof(a)), ppn, ppn == 1 ? "" : "s", s_mib(rss, b, sizeof(b)),
             (long long)run, (long long)(job->batch_size / ranks), cores,
             s_mib(most_mem, c, sizeof(c)), most->name);
    return AD_SCHED_NEVER;
}

ad_sched_status_t
ad_client_feasible(coord_t *self, const ad_job_t *job, char *reason, size_t cap)
{
    ad_sched_status_t st;
    char pool[AD_PROTO_POOL_MAX + 64];
    bool gpu = job->device == AD_JOB_DEVICE_GPU;
    ad_sched_need_t need = {1, 1, 1, gpu ? 1 : 0, ad_job_resv_pool(job, pool, sizeof(pool))};

    s_sync_gpus(self);
    if (!job->layout.is_auto) {
        need.nodes = job->layout.nodes;
        need.procs_per_node = job->layout.procs_per_node;
        need.threads_per_proc = job->layout.threads_per_proc;
        need.gpus_per_node = gpu ? job->layout.procs_per_node : 0;
    }
    st = ad_sched_check(self->sched, &need, reason, cap);
    if (st == AD_SCHED_NEVER || job->layout.is_auto || (need.pool && *need.pool))
        return st;
    return s_memory_check(self, job, reason, cap);
}

/*
 * Refuse a job that can never run on the nodes known now (docs/daemon.md,
 * "Feasibility"): ERROR AD_PROTO_ENEVER naming the file (or the job) and the
 * need no node meets.  With hold (submit --hold) it is accepted and waits:
 * *held says why.  Returns true when refused.
 */
static bool
s_refuse_never(coord_t *self, const ad_proto_msg_t *msg, const ad_job_t *job, const char **held)
{
    const char *file = json_string_value(json_object_get(msg->payload, "file"));
    static char reason[600];

    *held = NULL;
    if (ad_client_feasible(self, job, reason, sizeof(reason)) != AD_SCHED_NEVER)
        return false;
    if (json_is_true(json_object_get(msg->payload, "hold"))) {
        *held = reason;
        return false;
    }
    ad_log(AD_LOG_INFO, "SUBMIT of %s refused: %s", job->name, reason);
    if (file)
        ad_client_error(self, msg->identity, AD_PROTO_ENEVER,
                        "%s: %s (--hold keeps it PENDING until nodes come)", file, reason);
    else
        ad_client_error(self, msg->identity, AD_PROTO_ENEVER, "job %s: %s", job->name, reason);
    return true;
}

static void
s_submit(coord_t *self, const ad_proto_msg_t *msg)
{
    const char *held = NULL;
    char name[AD_KEYS_NAME_MAX + 32];
    const char *owner = ad_client_owner(self, msg, name, sizeof(name));
    json_t *spec = NULL;
    ad_job_t job = {0};
    ad_err_t err = {0};
    char *text, *canon;
    int64_t id = 0;
    int rc;

    ad_doc_json_get_object(msg->payload, "job", &spec, NULL);
    text = json_dumps(spec, JSON_COMPACT);
    if (!text)
        ad_oom(0);
    rc = ad_job_from_json(text, &job, &err);
    free(text);
    if (rc) {
        ad_client_error(self, msg->identity, AD_EPARSE, "%s", err.msg);
        return;
    }
    if (ad_distill_resolve(self, &job, &err)) {
        ad_client_error(self, msg->identity, AD_EINVAL, "job %s: %s", job.name, err.msg);
        goto out;
    }
    if (s_refuse_over_cap(self, msg, owner) || s_refuse_never(self, msg, &job, &held))
        goto out;
    if (job.layout.is_auto) {
        canon = ad_job_to_json(&job);
        rc = ad_coord_job_add(self->store, job.name, canon, 0, 0, 0, &id, &err);
        free(canon);
        if (rc) {
            ad_client_error(self, msg->identity, ad_client_store_code(self), "%s", err.msg);
            goto out;
        }
        s_set_owner(self, id, owner);
        ad_log(AD_LOG_INFO, "job %lld (%s) submitted by %s: layout auto", (long long)id, job.name,
               owner ? owner : "-");
        ad_daemon_send(self->client, msg->identity, "OK",
                       json_pack("{s:I s:s s:s s:s s:o}", "job", (json_int_t)id, "name", job.name,
                                 "state", "PENDING", "layout", "auto", "held",
                                 held ? json_string(held) : json_null()));
        ad_autojob_submit(self, id);
        ad_running_schedule(self);
        goto out;
    }
    canon = ad_job_to_json(&job);
    rc = ad_coord_job_add(self->store, job.name, canon, job.layout.nodes, job.layout.procs_per_node,
                          job.layout.threads_per_proc, &id, &err);
    free(canon);
    if (rc) {
        ad_client_error(self, msg->identity, ad_client_store_code(self), "%s", err.msg);
        goto out;
    }
    s_set_owner(self, id, owner);
    rc = ad_daemon_queue(self, id, &job, job.layout.nodes, job.layout.procs_per_node,
                         job.layout.threads_per_proc);
    if (rc) {
        ad_journal_job_set(self->journal, id, "FAILED", "the scheduler refused the layout",
                           INT32_MIN, NULL);
        ad_client_error(self, msg->identity, AD_EINVAL,
                        "job %lld: the scheduler refused its layout", (long long)id);
        goto out;
    }
    ad_log(AD_LOG_INFO, "job %lld (%s) submitted by %s: %dx%dx%d", (long long)id, job.name,
           owner ? owner : "-", job.layout.nodes, job.layout.procs_per_node,
           job.layout.threads_per_proc);
    if (held)
        ad_log(AD_LOG_INFO, "job %lld held (--hold): %s", (long long)id, held);
    ad_daemon_send(self->client, msg->identity, "OK",
                   json_pack("{s:I s:s s:s s:o}", "job", (json_int_t)id, "name", job.name, "state",
                             "PENDING", "held", held ? json_string(held) : json_null()));
    ad_running_schedule(self);
out:
    ad_job_clear(&job);
}

static void
s_status(coord_t *self, const ad_proto_msg_t *msg)
{
    ad_err_t err = {0};
    json_t *jobs, *o;
    int64_t id = 0;

    if (!ad_doc_json_get_int(msg->payload, "job", 1, INT64_MAX, &id, NULL)) {
        o = s_job_json(self, id, &err);
        if (!o) {
            ad_client_error(self, msg->identity, err.code, "%s", err.msg);
            return;
        }
        jobs = json_pack("[o]", o);
    } else {
        jobs = ad_coord_jobs_json(self->store, NULL, true, NULL, 0, &err);
        if (!jobs) {
            ad_client_error(self, msg->identity, err.code, "%s", err.msg);
            return;
        }
        s_fill_reasons(self, jobs);
    }
    ad_daemon_send(self->client, msg->identity, "OK", json_pack("{s:o}", "jobs", jobs));
}

static void
s_jobs(coord_t *self, const ad_proto_msg_t *msg)
{
    const char *state = NULL, *name = NULL;
    ad_err_t err = {0};
    int64_t limit = 0;
    json_t *jobs;

    ad_doc_json_get_string(msg->payload, "filter.state", 1, 16, &state, NULL);
    ad_doc_json_get_string(msg->payload, "filter.name", 1, 255, &name, NULL);
    ad_doc_json_get_int(msg->payload, "filter.limit", 1, 100000, &limit, NULL);
    jobs = ad_coord_jobs_json(self->store, state, false, name, limit, &err);
    if (!jobs) {
        ad_client_error(self, msg->identity, err.code, "%s", err.msg);
        return;
    }
    s_fill_reasons(self, jobs);
    ad_daemon_send(self->client, msg->identity, "OK", json_pack("{s:o}", "jobs", jobs));
}

bool
ad_client_refuse_unless_owner(coord_t *self, const ad_proto_msg_t *msg, const char *what,
                              const char *owner)
{
    char name[AD_KEYS_NAME_MAX + 32];
    ad_keys_role_t role = s_who(self, msg, name, sizeof(name));

    if (role == AD_KEYS_ROLE_ADMIN || (role == AD_KEYS_ROLE_USER && owner && !strcmp(owner, name)))
        return false;
    ad_log(AD_LOG_WARN, "%s refused: it belongs to %s, asked by %s %s", what,
           owner ? owner : "the admin", ad_keys_role_name(role), name[0] ? name : "-");
    ad_client_error(self, msg->identity, -EACCES,
                    "permission denied: %s of what belongs to %s; you are %s %s (others' need "
                    "the admin key)",
                    what, owner ? owner : "the admin", ad_keys_role_name(role),
                    name[0] ? name : "-");
    return true;
}

/* A user may cancel only their own jobs; the admin any.  Answers the refusal; true when refused. */
static bool
s_refuse_others_job(coord_t *self, const ad_proto_msg_t *msg, int64_t id)
{
    char name[AD_KEYS_NAME_MAX + 32];
    ad_keys_role_t role = s_who(self, msg, name, sizeof(name));
    char *owner = NULL;
    bool refused;

    if (role == AD_KEYS_ROLE_ADMIN)
        return false;
    if (ad_store_get_job_owner(self->store, id, &owner)) {
        ad_client_error(self, msg->identity, AD_EDB, "%s", ad_store_errmsg(self->store));
        return true;
    }
    refused = role != AD_KEYS_ROLE_USER || !owner || strcmp(owner, name);
    if (refused) {
        ad_log(AD_LOG_WARN, "CANCEL of job %lld refused: it belongs to %s, asked by %s %s",
               (long long)id, owner ? owner : "the admin", ad_keys_role_name(role), name);
        ad_client_error(self, msg->identity, -EACCES,
                        "permission denied: job %lld belongs to %s; you are %s %s (cancelling "
                        "others' jobs needs the admin key)",
                        (long long)id, owner ? owner : "the admin", ad_keys_role_name(role),
                        name[0] ? name : "-");
    }
    free(owner);
    return refused;
}

/*
 * CANCEL's end state and reason: CANCELLED "cancelled by a user" unless the
 * request says (autodist ending a job whose reservation ended: TIMEOUT or
 * CANCELLED with the batch system's reason).  Returns the state (a constant),
 * or NULL after answering an error.
 */
static const char *
s_cancel_how(coord_t *self, const ad_proto_msg_t *msg, const char **reason)
{
    static const char *const states[] = {"CANCELLED", "TIMEOUT", "FAILED", "NODE_FAIL", NULL};
    const char *want = json_string_value(json_object_get(msg->payload, "state"));
    const char *why = json_string_value(json_object_get(msg->payload, "reason"));

    *reason = why ? why : "cancelled by a user";
    if (!want)
        return states[0];
    for (int i = 0; states[i]; i++)
        if (!strcmp(states[i], want))
            return states[i];
    ad_client_error(self, msg->identity, AD_EINVAL,
                    "CANCEL: state must be CANCELLED, TIMEOUT, FAILED or NODE_FAIL, got \"%s\"",
                    want);
    return NULL;
}

static void
s_cancel(coord_t *self, const ad_proto_msg_t *msg)
{
    const char *state = NULL, *end, *reason;
    ad_err_t err = {0};
    int64_t id = 0;
    json_t *o;

    if (!(end = s_cancel_how(self, msg, &reason)))
        return;
    ad_doc_json_get_int(msg->payload, "job", 1, INT64_MAX, &id, NULL);
    o = ad_coord_job_json(self->store, id, &state, &err);
    if (!o) {
        ad_client_error(self, msg->identity, err.code, "%s", err.msg);
        return;
    }
    json_decref(o);
    if (s_refuse_others_job(self, msg, id))
        return;
    if (!strcmp(state, "PENDING") && json_is_true(json_object_get(msg->payload, "requeue"))) {
        /* Asked to run it again later: a pending job already waits. */
    } else if (!strcmp(state, "PENDING")) {
        /* Its probes go too. */
        ad_autojob_cancel(self, id);
        ad_sched_remove_job(self->sched, id);
        if (ad_journal_job_set(self->journal, id, end, reason, INT32_MIN, &err)) {
            ad_client_error(self, msg->identity, err.code, "%s", err.msg);
            return;
        }
        ad_sweeps_ended(self->sweeps, id, AD_SWEEPS_JOB_CANCELLED, NAN, ad_clock_now());
        state = end;
        ad_log(AD_LOG_INFO, "job %lld %s: %s", (long long)id, end, reason);
    } else if (!ad_coord_state_is_final(state)) {
        run_t *r = ad_running_find(self, id);

        if (!r) {
            ad_client_error(self, msg->identity, AD_EINVAL,
                            "job %lld is %s but not run by this "
                            "coordinator",
                            (long long)id, state);
            return;
        }
        if (json_is_true(json_object_get(msg->payload, "requeue")))
            ad_running_interrupt(self, r, reason);
        else
            ad_running_stop(self, r, end, reason);
        ad_daemon_send(self->client, msg->identity, "OK",
                       json_pack("{s:I s:s s:s}", "job", (json_int_t)id, "state", state, "stopping",
                                 end));
        return;
    }
    ad_daemon_send(self->client, msg->identity, "OK",
                   json_pack("{s:I s:s}", "job", (json_int_t)id, "state", state));
}

/* Replace bytes that are not UTF-8 by '?', in place; returns the length kept (a split sequence at
 * the end is left for the next read). */
static size_t
s_utf8_clean(unsigned char *b, size_t n, bool at_end)
{
    size_t i = 0;

    while (i < n) {
        unsigned char c = b[i];
        size_t len = c < 0x80             ? 1
                     : (c & 0xE0) == 0xC0 ? 2
                     : (c & 0xF0) == 0xE0 ? 3
                     : (c & 0xF8) == 0xF0 ? 4
                                          : 0;
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
s_logs(coord_t *self, const ad_proto_msg_t *msg)
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

    ad_doc_json_get_int(msg->payload, "job", 1, INT64_MAX, &id, NULL);
    ad_doc_json_get_int(msg->payload, "offset", 0, INT64_MAX, &offset, NULL);
    ad_doc_json_get_int(msg->payload, "max_bytes", 1, S_LOGS_MAX, &max, NULL);
    o = ad_coord_job_json(self->store, id, &state, &err);
    if (!o) {
        ad_client_error(self, msg->identity, err.code, "%s", err.msg);
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
    ad_daemon_send(self->client, msg->identity, "OK",
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
    size_t i;

    /* last_seen is unix seconds and last_seen_ago_s comes with it (ad_registry_to_json()). */
    json_array_foreach(nodes, i, n)
    {
        const char *addr =
            zhashx_lookup(self->addresses, json_string_value(json_object_get(n, "name")));

        const char *name = json_string_value(json_object_get(n, "name"));
        json_t *launch = zhashx_lookup(self->launch, name);

        if (addr)
            json_object_set_new(n, "address", json_string(addr));
        if (launch) {
            /* The reservation it belongs to and how mpirun reaches it (its agent's --pool, --rsh). */
            if (json_object_get(launch, "pool"))
                json_object_set(n, "pool", json_object_get(launch, "pool"));
            json_object_set(n, "launch", launch);
        }
    }
    return nodes;
}

int
ad_client_on_msg(zloop_t *loop, zsock_t *sock, void *arg)
{
    coord_t *self = arg;
    ad_proto_msg_t msg = {0};
    ad_err_t err = {0};
    int rc;

    rc = ad_proto_recv(sock, 0, &msg, &err);
    if (rc == -ETIMEDOUT || rc == -EINTR)
        return 0;
    if (rc) {
        ad_log_limited("malformed request", AD_LOG_WARN, "%s", err.msg);
        if (msg.identity)
            ad_client_error(self, msg.identity, AD_EPEER, "%s", err.msg);
        goto out;
    }
    /* Every connection of a secure coordinator carries a key's role: none means no ZAP. */
    if (!self->opts->insecure &&
        ad_keys_parse_user_id(msg.user_id, NULL, 0) == AD_KEYS_ROLE_NONE) {
        ad_client_error(self, msg.identity, -EACCES, "permission denied: no key");
        goto out;
    }
    switch (msg.type) {
    case AD_PROTO_NODES:
        ad_daemon_send(sock, msg.identity, "OK", json_pack("{s:o}", "nodes", s_nodes_json(self)));
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
        ad_sweep_api_submit(self, &msg);
        break;
    case AD_PROTO_SWEEPS:
        ad_sweep_api_status(self, &msg);
        break;
    case AD_PROTO_SWEEP_CANCEL:
        /* Its owner or the admin: checked there, where the sweep is found. */
        ad_sweep_api_cancel(self, &msg);
        break;
    case AD_PROTO_SHUTDOWN:
        if (s_refuse_unless_admin(self, &msg, "SHUTDOWN"))
            break;
        ad_daemon_send(sock, msg.identity, "OK", json_object());
        ad_log(AD_LOG_INFO, "SHUTDOWN requested");
        self->exit_code = AD_DAEMON_EXIT_OK;
        break;
    default:
        ad_client_error(self, msg.identity, AD_EPEER, "%s is not a client request",
                        ad_proto_type_name(msg.type));
        break;
    }
out:
    ad_proto_msg_clear(&msg);
    return self->exit_code >= 0 ? -1 : 0;
}
