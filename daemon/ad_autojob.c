/* ad_autojob.c - layout: auto in the coordinator: plan, probes one at a time, then queue */
#include "ad_daemon.h"

/*
 * A job submitted with `layout: auto` (docs/planner.md): planned on the UP
 * nodes when it arrives (or when nodes come), possibly after short probes
 * run as ordinary jobs; then queued with the chosen layout.
 */
typedef struct autojob {
    int64_t id;                                    /* the job */
    int64_t probes[AD_AUTO_MAX_PROBES];            /* probe jobs */
    int n_probes, n_done;                          /* probes started and ended */
    ad_planner_layout_t plans[AD_AUTO_MAX_PROBES]; /* the layouts to probe, one after another */
    int n_plans;
    bool probed;  /* probes ran: decide without more */
    bool decided; /* queued with its layout */
    bool cancelled;
    unsigned nodes_gen; /* node set it was last tried on */
    char reason[700];   /* why it is not queued yet */
    json_t *explain;    /* the planner's ranking (STATUS "plan") */
    json_t *probe_list; /* the probes queued: [{job, layout, predicted_samples_per_s}] */
    json_t *chosen;     /* once decided: {layout, device, predicted {samples_per_s, ...}} */
    struct autojob *next;
} autojob_t;

/* A number, or null when not finite (jansson has no NaN). */
static json_t *
s_num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

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

/*
 * Whether job carries the name ad_auto_probe_job() gives a probe of its layout
 * ("<name>-probe-NxPxT"): a probe queued before the coordinator restarted, whose
 * auto job it no longer holds, is still no baseline.
 */
static bool
s_named_as_probe(const ad_job_t *job)
{
    char suffix[64];
    size_t len = job->name ? strlen(job->name) : 0, slen;

    snprintf(suffix, sizeof(suffix), "-probe-%dx%dx%d", job->layout.nodes,
             job->layout.procs_per_node, job->layout.threads_per_proc);
    slen = strlen(suffix);
    return len > slen && !strcmp(job->name + len - slen, suffix);
}

bool
ad_autojob_is_probe(coord_t *self, int64_t id, const ad_job_t *job)
{
    return s_auto_of_probe(self, id) != NULL || (job && s_named_as_probe(job));
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
s_auto_nodes(coord_t *self, const char *pool, ad_choose_node_t **out)
{
    size_t n = ad_registry_count(self->reg, true), i = 0;
    const ad_registry_node_t *node = NULL;
    ad_choose_node_t *v = calloc(n ? n : 1, sizeof(*v));

    if (!v)
        ad_oom(n * sizeof(*v));
    while ((node = ad_registry_next_up(self->reg, node)) && i < n) {
        json_t *b = json_object_get(node->profile, "benchmarks");
        const char *np = ad_daemon_node_pool(self, node->name);

        /* A job plans on the nodes it may run on: its reservation's, or the cluster's. */
        if (pool ? !np || strcmp(np, pool) : np != NULL)
            continue;
        json_t *g = json_object_get(node->profile, "gpus");

        v[i].hardware = node->fingerprint;
        v[i].cores = node->cores;
        v[i].gpus = json_is_array(g) ? (int)json_array_size(g) : 0;
        v[i].memory_bytes = json_integer_value(json_object_get(node->profile, "memory_bytes"));
        v[i].gemm_gflops_1 = ad_daemon_json_num(b, "gemm_gflops_1core");
        v[i].gemm_gflops_all = ad_daemon_json_num(b, "gemm_gflops_all");
        v[i].mem_bw_gbs = ad_daemon_json_num(b, "mem_bandwidth_gbs");
        {
            const char *addr = zhashx_lookup(self->addresses, node->name);

            v[i].this_machine = ad_choose_is_loopback(addr);
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
                      job->steps > 0 && job->steps < self->opts->probe_steps
                          ? job->steps
                          : self->opts->probe_steps,
                      &probe);
    canon = ad_job_to_json(&probe);
    if (ad_coord_job_add(self->store, probe.name, canon, l->nodes, l->procs_per_node,
                         l->threads_per_proc, &id, &err) ||
        ad_daemon_queue(self, id, &probe, l->nodes, l->procs_per_node, l->threads_per_proc)) {
        ad_log(AD_LOG_WARN, "job %lld: probe %s not queued: %s", (long long)a->id, probe.name,
               err.msg[0] ? err.msg : "the scheduler refused it");
        if (id)
            ad_journal_job_set(self->journal, id, "FAILED", "the scheduler refused the probe",
                               INT32_MIN, NULL);
        id = 0;
    }
    free(canon);
    ad_job_clear(&probe);
    return id;
}

/* The planner's prediction for layout among the candidates of explain, or NULL; borrowed. */
static json_t *
s_candidate(const json_t *explain, const char *layout)
{
    json_t *c;
    size_t i;

    json_array_foreach(json_object_get(explain, "candidates"), i, c)
    {
        if (!strcmp(json_string_value(json_object_get(c, "layout")), layout))
            return c;
    }
    return NULL;
}

/* Remember probe job id of a on layout, with what the planner predicted for it then. */
static void
s_note_probe(autojob_t *a, int64_t id, const char *layout)
{
    json_t *c = s_candidate(a->explain, layout);
    json_t *pred = json_object_get(c, "samples_per_s");

    if (!a->probe_list)
        a->probe_list = json_array();
    json_array_append_new(a->probe_list,
                          json_pack("{s:I s:s s:O}", "job", (json_int_t)id, "layout", layout,
                                    "predicted_samples_per_s", pred ? pred : json_null()));
}

/* Queue a's next probe (one at a time).  Returns true when one is queued. */
static bool
s_auto_probe_next(coord_t *self, autojob_t *a, const ad_job_t *job)
{
    char lay[48];

    while (a->n_probes < a->n_plans) {
        int64_t id = s_auto_probe(self, a, job, &a->plans[a->n_probes]);

        if (id) {
            char pl[48];

            ad_choose_layout_str(&a->plans[a->n_probes], pl, sizeof(pl));
            s_note_probe(a, id, pl);
            a->probes[a->n_probes++] = id;
            snprintf(a->reason, sizeof(a->reason),
                     "probing layout %d of %d (%s, job %lld) "
                     "before choosing",
                     a->n_probes, a->n_plans,
                     ad_choose_layout_str(&a->plans[a->n_probes - 1], lay, sizeof(lay)),
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
    ad_choose_node_t *nodes = NULL;
    ad_auto_choice_t c = {0};
    ad_job_t job = {0};
    ad_err_t err = {0};
    char dataset[300], lay[48], pool[AD_PROTO_POOL_MAX + 64];
    size_t n;
    int rc;

    if (a->decided || a->cancelled || a->n_done < a->n_plans)
        return;
    a->nodes_gen = self->nodes_gen;
    if (ad_running_load_job(self, a->id, &job, &err)) {
        snprintf(a->reason, sizeof(a->reason), "%s", err.msg);
        ad_journal_job_set(self->journal, a->id, "FAILED", err.msg, INT32_MIN, NULL);
        a->decided = true;
        goto out;
    }
    ad_job_dataset_label(&job, dataset, sizeof(dataset));
    n = s_auto_nodes(self, ad_job_resv_pool(&job, pool, sizeof(pool)), &nodes);
    rc = ad_auto_decide(self->store, &job, dataset, nodes, n, a->probed ? 0 : self->opts->probes,
                        &c, &err);
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
    if (ad_journal_job_place(self->journal, a->id, c.layout.nodes, c.layout.procs_per_node,
                             c.layout.threads_per_proc, c.layout.device ? c.layout.device : "cpu",
                             NULL, &err) ||
        ad_daemon_queue(self, a->id, &job, c.layout.nodes, c.layout.procs_per_node,
                        c.layout.threads_per_proc)) {
        snprintf(a->reason, sizeof(a->reason), "layout auto: cannot queue %s: %s",
                 ad_choose_layout_str(&c.layout, lay, sizeof(lay)),
                 err.msg[0] ? err.msg : "the scheduler refused it");
        ad_journal_job_set(self->journal, a->id, "FAILED", a->reason, INT32_MIN, NULL);
        a->decided = true;
        goto out;
    }
    a->decided = true;
    json_decref(a->chosen);
    a->chosen = json_pack("{s:s s:s s:{s:o s:o s:o s:o s:s} s:I}", "layout",
                          ad_choose_layout_str(&c.layout, lay, sizeof(lay)), "device",
                          c.layout.device ? c.layout.device : "cpu", "predicted", "samples_per_s",
                          s_num(c.pred.samples_per_s), "low", s_num(c.pred.low), "high",
                          s_num(c.pred.high), "speedup", s_num(c.pred.speedup), "basis",
                          c.pred.basis, "candidates", (json_int_t)c.n_candidates);
    ad_log(AD_LOG_INFO,
           "job %lld: layout auto -> %s, predicted %.0f samples/s [%.0f-%.0f], "
           "speedup %.2f (%s; %zu layouts fit)",
           (long long)a->id, ad_choose_layout_str(&c.layout, lay, sizeof(lay)),
           c.pred.samples_per_s, c.pred.low, c.pred.high, c.pred.speedup, c.pred.basis,
           c.n_candidates);
out:
    ad_auto_choice_clear(&c);
    free(nodes);
    ad_job_clear(&job);
}

static json_t *s_auto_json(coord_t *self, const autojob_t *a, int64_t id);

/*
 * The auto job id ended with its run row run: what `layout: auto` did joins
 * the run's record (key "auto"), so `show` and a coordinator that restarted
 * still tell it (docs/planner.md).
 */
static void
s_auto_record(coord_t *self, int64_t id, int64_t run)
{
    autojob_t *a = s_auto_find(self, id);
    ad_err_t err = {0};
    json_t *o;
    char *text;

    if (!a || !a->chosen || run < 1)
        return;
    o = s_auto_json(self, a, id);
    /* Measured by this run: the store may not have it yet; the run row holds it. */
    json_object_del(o, "measured_samples_per_s");
    json_object_del(o, "error_pct");
    text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (text && ad_journal_record_merge(self->journal, run, "auto", text, &err))
        ad_log(AD_LOG_WARN, "job %lld: cannot record what layout auto did: %s", (long long)id,
               err.msg);
    free(text);
}

/*
 * A job ended (run: its run row, 0 for none): when it was the last probe of an
 * auto job, decide that job now; when it was an auto job, record what it did.
 */
void
ad_autojob_job_ended(coord_t *self, int64_t id, int64_t run)
{
    autojob_t *a = s_auto_of_probe(self, id);

    s_auto_record(self, id, run);
    if (!a)
        return;
    a->n_done++;
    if (a->cancelled)
        return;
    if (a->n_done == a->n_probes && a->n_probes < a->n_plans) {
        ad_job_t job = {0};
        ad_err_t err = {0};

        if (!ad_running_load_job(self, a->id, &job, &err) && s_auto_probe_next(self, a, &job)) {
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
void
ad_autojob_tick(coord_t *self)
{
    /* Probes are new jobs: they need ids from the store, which is busy. */
    if (ad_journal_waiting(self->journal))
        return;
    for (autojob_t *a = self->autos; a; a = a->next)
        if (!a->decided && !a->cancelled && a->n_done >= a->n_plans &&
            a->nodes_gen != self->nodes_gen)
            s_auto_plan(self, a);
}

void
ad_autojob_free_all(coord_t *self)
{
    while (self->autos) {
        autojob_t *a = self->autos;

        self->autos = a->next;
        json_decref(a->explain);
        json_decref(a->probe_list);
        json_decref(a->chosen);
        free(a);
    }
}

void
ad_autojob_new(coord_t *self, int64_t id)
{
    s_auto_new(self, id);
}

void
ad_autojob_submit(coord_t *self, int64_t id)
{
    s_auto_plan(self, s_auto_new(self, id));
}

/* The probes of a as they stand: each with its state and measured samples/s (from the store). */
static json_t *
s_probes_json(coord_t *self, const autojob_t *a)
{
    json_t *out = json_array(), *p;
    size_t i;

    json_array_foreach(a->probe_list, i, p)
    {
        int64_t id = json_integer_value(json_object_get(p, "job"));
        json_t *o = json_deep_copy(p), *job, *res = ad_coord_job_result(self->store, id);
        const char *state = NULL;

        job = ad_coord_job_json(self->store, id, &state, NULL);
        json_object_set_new(o, "state", state ? json_string(state) : json_null());
        json_object_set_new(o, "measured_samples_per_s",
                            s_num(ad_daemon_json_num(res, "samples_per_s")));
        json_decref(job);
        json_decref(res);
        json_array_append_new(out, o);
    }
    return out;
}

/*
 * STATUS "auto": what `layout: auto` did (docs/planner.md): {chosen, device,
 * candidates, predicted {samples_per_s, low, high, speedup, basis},
 * measured_samples_per_s, error_pct, probes [{job, layout, state,
 * predicted_samples_per_s, measured_samples_per_s}]}; chosen is null while
 * it plans.
 */
static json_t *
s_auto_json(coord_t *self, const autojob_t *a, int64_t id)
{
    json_t *o = json_object(), *res = NULL;
    double pred = NAN, meas = NAN;

    json_object_set_new(o, "probes", s_probes_json(self, a));
    if (!a->chosen) {
        json_object_set_new(o, "chosen", json_null());
        return o;
    }
    json_object_set(o, "chosen", json_object_get(a->chosen, "layout"));
    json_object_set(o, "device", json_object_get(a->chosen, "device"));
    json_object_set(o, "candidates", json_object_get(a->chosen, "candidates"));
    json_object_set(o, "predicted", json_object_get(a->chosen, "predicted"));
    pred = ad_daemon_json_num(json_object_get(a->chosen, "predicted"), "samples_per_s");
    res = ad_coord_job_result(self->store, id);
    meas = ad_daemon_json_num(res, "samples_per_s");
    json_decref(res);
    json_object_set_new(o, "measured_samples_per_s", s_num(meas));
    json_object_set_new(o, "error_pct", s_num(pred > 0 ? 100.0 * (meas - pred) / pred : NAN));
    return o;
}

bool
ad_autojob_decorate(coord_t *self, int64_t id, const char *state, json_t *o)
{
    autojob_t *a = s_auto_find(self, id);

    if (a && a->explain) {
        json_t *plan = json_deep_copy(a->explain);
        json_t *probes = json_object_get(plan, "probes"), *p;
        size_t i;

        /* The final ranking follows the probes: list the layouts they measured. */
        if (json_array_size(probes) == 0)
            json_array_foreach(a->probe_list, i, p)
                json_array_append(probes, json_object_get(p, "layout"));
        json_object_set_new(o, "plan", plan);
    }
    if (a)
        json_object_set_new(o, "auto", s_auto_json(self, a, id));
    if (a && !a->decided && !ad_coord_state_is_final(state)) {
        json_object_set_new(o, "reason", json_string(a->reason));
        json_object_set_new(o, "sched", json_string("planning"));
        return true;
    }
    return false;
}

void
ad_autojob_cancel(coord_t *self, int64_t id)
{
    autojob_t *a = s_auto_find(self, id);

    if (!a)
        return;
    a->cancelled = true;
    for (int i = 0; i < a->n_probes; i++) {
        run_t *pr = ad_running_find(self, a->probes[i]);

        if (pr) {
            ad_running_stop(self, pr, "CANCELLED", "its auto job was cancelled");
        } else if (!ad_sched_remove_job(self->sched, a->probes[i])) {
            ad_journal_job_set(self->journal, a->probes[i], "CANCELLED",
                               "its auto job was cancelled", INT32_MIN, NULL);
        }
    }
}
