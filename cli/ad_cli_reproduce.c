/* ad_cli_reproduce.c - `autodist reproduce RUN`: run a recorded run again and compare */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad_cli.h"
#include "ad_cli_resv.h"
#include "autodist/ad_job.h"
#include "autodist/ad_proto.h"

/* Seconds between two looks at a repeat; how long "cannot start" may last before giving up. */
#define S_POLL_S 0.5
#define S_NEVER_GRACE_S 3.0

/* One repeat: the job submitted and what it became. */
typedef struct repeat {
    int64_t job;          /* job id */
    int64_t run;          /* its run (0: none) */
    char state[16];       /* final state */
    double samples_per_s; /* NaN: not measured */
    json_t *record;       /* its record (NULL: none) */
} repeat_t;

/* Mean, extremes and relative standard deviation of some throughputs. */
typedef struct spread {
    int n;
    double mean, min, max, rel_sd; /* rel_sd: sample sd / mean; 0 for one value */
} spread_t;

static void
s_spread_add(double *sum, double *sum2, spread_t *s, double v)
{
    if (isnan(v) || v <= 0)
        return;
    s->min = s->n ? fmin(s->min, v) : v;
    s->max = s->n ? fmax(s->max, v) : v;
    s->n++;
    *sum += v;
    *sum2 += v * v;
}

static void
s_spread_end(double sum, double sum2, spread_t *s)
{
    double var;

    if (!s->n) {
        s->mean = s->min = s->max = s->rel_sd = NAN;
        return;
    }
    s->mean = sum / s->n;
    var = s->n > 1 ? (sum2 - sum * sum / s->n) / (s->n - 1) : 0;
    s->rel_sd = var > 0 ? sqrt(var) / s->mean : 0;
}

static json_t *
s_spread_json(const spread_t *s)
{
    if (!s->n)
        return json_null();
    return json_pack("{s:i s:f s:f s:f s:f}", "runs", s->n, "mean", s->mean, "min", s->min, "max",
                     s->max, "rel_sd", s->rel_sd);
}

/* ---- the original's repeats ---------------------------------------------------------------- */

typedef struct orig_group {
    const ad_run_t *orig; /* the run reproduced */
    ad_store_t *store;    /* to ask which runs are reproductions */
    double sum, sum2;
    spread_t s;
} orig_group_t;

static int
s_on_group_run(const ad_run_t *r, void *arg)
{
    orig_group_t *g = arg;
    int64_t of = 0;

    if (!r->config_hash || !g->orig->config_hash || strcmp(r->config_hash, g->orig->config_hash))
        return 0;
    /* Reproductions are not the original's repeats. */
    if (ad_store_get_reproduces(g->store, r->id, &of) == 0 && of)
        return 0;
    s_spread_add(&g->sum, &g->sum2, &g->s, r->samples_per_s);
    return 0;
}

/* The COMPLETED runs with the original's configuration, layout and hardware class. */
static void
s_original_spread(ad_store_t *store, const ad_run_t *orig, spread_t *out)
{
    ad_run_filter_t f = {0};
    orig_group_t g = {.orig = orig, .store = store};

    f.model = orig->model;
    f.dataset = orig->dataset;
    f.hardware = orig->hardware;
    f.device = orig->device;
    f.batch_size = orig->batch_size;
    f.nodes = orig->nodes;
    f.procs_per_node = orig->procs_per_node;
    f.threads_per_proc = orig->threads_per_proc;
    f.states = AD_JOB_MASK(AD_JOB_COMPLETED);
    if (ad_store_each_run(store, &f, s_on_group_run, &g) < 0)
        fprintf(stderr, "autodist: %s\n", ad_store_errmsg(store));
    s_spread_end(g.sum, g.sum2, &g.s);
    *out = g.s;
}

/* ---- differences ----------------------------------------------------------------------------- */

/* v as short text: strings as they are, the rest as compact JSON (a new string). */
static char *
s_show(const json_t *v)
{
    if (!v)
        return ad_strdup("(none)");
    if (json_is_string(v))
        return ad_strdup(json_string_value(v));
    return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

/* Add {field, original, new, run} to diffs unless the same difference is there already. */
static void
s_diff(json_t *diffs, const char *field, const json_t *a, const json_t *b, int64_t run)
{
    char *sa, *sb;
    json_t *d;
    size_t i;

    if (json_equal((json_t *)a, (json_t *)b) || (!a && !b))
        return;
    sa = s_show(a);
    sb = s_show(b);
    json_array_foreach(diffs, i, d)
    {
        if (!strcmp(json_string_value(json_object_get(d, "field")), field) &&
            !strcmp(json_string_value(json_object_get(d, "new")), sb)) {
            json_array_append_new(json_object_get(d, "runs"), json_integer(run));
            goto out_free;
        }
    }
    json_array_append_new(diffs, json_pack("{s:s s:s s:s s:[I]}", "field", field, "original", sa,
                                           "new", sb, "runs", (json_int_t)run));
out_free:
    free(sa);
    free(sb);
}

/* Every key of the objects a and b (prefix.KEY), except those in skip (NULL-terminated). */
static void
s_diff_objects(json_t *diffs, const char *prefix, const json_t *a, const json_t *b, int64_t run,
               const char *const *skip)
{
    const json_t *both[2] = {a, b};
    char field[256];
    const char *key;
    json_t *v;

    for (int k = 0; k < 2; k++) {
        json_object_foreach((json_t *)both[k], key, v)
        {
            bool skipped = false;

            for (const char *const *s = skip; s && *s; s++)
                skipped |= !strcmp(*s, key);
            /* A key in both was compared on the first pass. */
            if (skipped || (k == 1 && json_object_get(a, key)))
                continue;
            snprintf(field, sizeof(field), "%s.%s", prefix, key);
            s_diff(diffs, field, json_object_get(a, key), json_object_get(b, key), run);
        }
    }
}

/* The nodes' field key in rank order, as one array. */
static json_t *
s_nodes_field(const json_t *record, const char *key)
{
    json_t *out = json_array(), *n;
    size_t i;

    json_array_foreach(json_object_get(record, "nodes"), i, n)
    {
        json_t *v = json_object_get(n, key);

        json_array_append_new(out, v ? json_deep_copy(v) : json_null());
    }
    return out;
}

/* What differs between the original record a and a repeat's b (run). */
static void
s_diff_records(json_t *diffs, const json_t *a, const json_t *b, int64_t run)
{
    static const char *const per_run[] = {"AUTODIST_JOB", NULL};
    static const char *const data_keys[] = {"kind", "path", "files", "bytes", "content_hash", NULL};
    static const char *const node_keys[] = {"name", "host", "fingerprint", NULL};
    static const char *const launch_keys[] = {"hostfile", "rankfile",         "bound",
                                              "ranks",    "threads_per_rank", NULL};
    const json_t *ea = json_object_get(a, "environment"), *eb = json_object_get(b, "environment");
    const json_t *da = json_object_get(a, "dataset"), *db = json_object_get(b, "dataset");
    const json_t *la = json_object_get(a, "launch"), *lb = json_object_get(b, "launch");
    char field[64];

    s_diff_objects(diffs, "versions", json_object_get(a, "versions"),
                   json_object_get(b, "versions"), run, NULL);
    s_diff(diffs, "config_hash", json_object_get(a, "config_hash"),
           json_object_get(b, "config_hash"), run);
    for (int i = 0; data_keys[i]; i++) {
        snprintf(field, sizeof(field), "dataset.%s", data_keys[i]);
        s_diff(diffs, field, json_object_get(da, data_keys[i]), json_object_get(db, data_keys[i]),
               run);
    }
    for (int i = 0; node_keys[i]; i++) {
        json_t *na = s_nodes_field(a, node_keys[i]), *nb = s_nodes_field(b, node_keys[i]);

        snprintf(field, sizeof(field), "nodes.%s", node_keys[i]);
        s_diff(diffs, field, na, nb, run);
        json_decref(na);
        json_decref(nb);
    }
    s_diff_objects(diffs, "environment.set_by_launch", json_object_get(ea, "set_by_launch"),
                   json_object_get(eb, "set_by_launch"), run, per_run);
    s_diff_objects(diffs, "environment.inherited", json_object_get(ea, "inherited"),
                   json_object_get(eb, "inherited"), run, NULL);
    for (int i = 0; launch_keys[i]; i++) {
        snprintf(field, sizeof(field), "launch.%s", launch_keys[i]);
        s_diff(diffs, field, json_object_get(la, launch_keys[i]),
               json_object_get(lb, launch_keys[i]), run);
    }
    s_diff(diffs, "coordinator_host", json_object_get(a, "coordinator_host"),
           json_object_get(b, "coordinator_host"), run);
}

/* ---- submitting and waiting ----------------------------------------------------------------- */

/* STATUS of job id until it is final: its object (a new reference), or an exit status. */
static int
s_wait(ad_cli_t *cli, int64_t id, json_t **out)
{
    double never_since = -1;
    ad_err_t err = {0};
    json_t *reply = NULL, *job;
    const char *state, *sched;
    ad_job_state_t st;
    int rc;

    *out = NULL;
    for (;;) {
        if (ad_cli_interrupted)
            return ad_cli_fail(AD_CLI_EXIT_INTERRUPTED,
                               "stopped waiting: job %lld keeps going (autodist status %lld)",
                               (long long)id, (long long)id);
        rc = ad_cli_request(cli, "STATUS", json_pack("{s:I}", "job", (json_int_t)id),
                            AD_PROTO_REQUEST_TIMEOUT_MS, &reply, &err);
        if (rc)
            return ad_cli_fail(ad_cli_exit_for(rc), "%s", err.msg);
        job = json_array_get(json_object_get(reply, "jobs"), 0);
        state = ad_cli_jstr(job, "state");
        if (!state) {
            json_decref(reply);
            return ad_cli_fail(AD_CLI_EXIT_ERROR, "the coordinator's STATUS has no job %lld",
                               (long long)id);
        }
        if (!ad_store_job_state_from_name(state, &st) && ad_store_job_state_is_final(st)) {
            *out = json_incref(job);
            json_decref(reply);
            return 0;
        }
        sched = ad_cli_jstr(job, "sched");
        if (!strcmp(state, "PENDING") && sched && !strcmp(sched, "never")) {
            if (never_since < 0)
                never_since = ad_clock_now();
            else if (ad_clock_now() - never_since >= S_NEVER_GRACE_S) {
                rc = ad_cli_fail(AD_CLI_EXIT_NEVER,
                                 "job %lld cannot start on the nodes that are up: %s (autodist "
                                 "cancel %lld drops it)",
                                 (long long)id,
                                 ad_cli_jstr(job, "reason") ? ad_cli_jstr(job, "reason")
                                                            : "no reason given",
                                 (long long)id);
                json_decref(reply);
                return rc;
            }
        } else {
            never_since = -1;
        }
        json_decref(reply);
        ad_cli_sleep(S_POLL_S);
    }
}

/* The reservation the repeats run on, when the original ran on one (else NULL). */
static ad_cli_resv_t *s_session;

/* Submit spec (borrowed) once, wait for it and link its run to orig: into rep. */
static int
s_repeat(ad_cli_t *cli, const json_t *spec, int64_t orig, repeat_t *rep)
{
    ad_store_t *store = NULL;
    json_t *reply = NULL, *job = NULL, *res;
    ad_err_t err = {0};
    char *text = NULL;
    int rc;

    rc = ad_cli_call(cli, "SUBMIT", json_pack("{s:O}", "job", spec), &reply);
    if (rc)
        return rc;
    rep->job = ad_cli_jint(reply, "job", 0);
    json_decref(reply);
    if (rep->job < 1)
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "the coordinator's answer to SUBMIT has no job id");
    if (s_session)
        ad_cli_resv_add_job(s_session, rep->job);
    rc = s_wait(cli, rep->job, &job);
    if (rc)
        return rc;
    snprintf(rep->state, sizeof(rep->state), "%s", ad_cli_jstr(job, "state"));
    res = ad_cli_jobj(job, "result");
    rep->run = ad_cli_jint(res, "run", 0);
    rep->samples_per_s = ad_cli_jnum(res, "samples_per_s", NAN);
    json_decref(job);
    if (rep->run < 1)
        return 0;
    /* The link to the original is the CLI's to write: the coordinator does not know it. */
    if (ad_store_open(ad_cli_home(cli)->db, 0, &store, &err))
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", err.msg);
    if (ad_store_set_reproduces(store, rep->run, orig) ||
        ad_store_get_record(store, rep->run, &text))
        rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", ad_store_errmsg(store));
    rep->record = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    ad_store_close(&store);
    return rc;
}

/* ---- output ---------------------------------------------------------------------------------- */

static void
s_print_spread(const char *what, const spread_t *s)
{
    char a[32], b[32], c[32];

    if (!s->n) {
        printf("  %-20s none\n", what);
        return;
    }
    printf("  %-20s mean %s samples/s, min %s, max %s, relative sd %.1f%% (%d run%s)\n", what,
           ad_cli_fmt_rate(s->mean, a, sizeof(a)), ad_cli_fmt_rate(s->min, b, sizeof(b)),
           ad_cli_fmt_rate(s->max, c, sizeof(c)), 100.0 * s->rel_sd, s->n, s->n == 1 ? "" : "s");
}

static void
s_print_report(const ad_run_t *orig, const repeat_t *reps, int n, const spread_t *now,
               const spread_t *before, const json_t *diffs)
{
    char a[32];
    const json_t *d;
    size_t i;

    for (int k = 0; k < n; k++)
        printf("  repeat %d: job %lld, run %lld, %s, %s samples/s\n", k + 1, (long long)reps[k].job,
               (long long)reps[k].run, reps[k].state,
               ad_cli_fmt_rate(reps[k].samples_per_s, a, sizeof(a)));
    printf("throughput\n");
    printf("  %-20s %s samples/s (run %lld)\n", "recorded",
           ad_cli_fmt_rate(orig->samples_per_s, a, sizeof(a)), (long long)orig->id);
    s_print_spread("new", now);
    s_print_spread("original's repeats", before);
    if (now->n && orig->samples_per_s > 0)
        printf("  %-20s %.3f (new mean / recorded)\n", "ratio", now->mean / orig->samples_per_s);
    if (now->n && before->n > 1) {
        double gap = now->mean / before->mean - 1;

        printf("  %-20s the new mean is %s the original's repeats' range, %.1f%% %s their "
               "mean",
               "", now->mean >= before->min && now->mean <= before->max ? "within" : "outside",
               100.0 * fabs(gap), gap < 0 ? "below" : "above");
        if (before->rel_sd > 0)
            printf(" (%.1f of their standard deviations)", fabs(gap) / before->rel_sd);
        printf("\n");
    }
    printf("differences with the original's record\n");
    if (!json_array_size(diffs))
        printf("  none that the records show\n");
    json_array_foreach(diffs, i, d)
    {
        printf("  %s: %s -> %s\n", ad_cli_jstr(d, "field"), ad_cli_jstr(d, "original"),
               ad_cli_jstr(d, "new"));
    }
}

static json_t *
s_report_json(const ad_run_t *orig, const repeat_t *reps, int n, const spread_t *now,
              const spread_t *before, json_t *diffs)
{
    json_t *a = json_array();

    for (int k = 0; k < n; k++)
        json_array_append_new(
            a, json_pack("{s:I s:o s:s s:o}", "job", (json_int_t)reps[k].job, "run",
                         reps[k].run ? json_integer(reps[k].run) : json_null(), "state",
                         reps[k].state, "samples_per_s",
                         isnan(reps[k].samples_per_s) ? json_null()
                                                      : json_real(reps[k].samples_per_s)));
    return json_pack("{s:I s:o s:o s:o s:o s:o s:O}", "run", (json_int_t)orig->id, "recorded",
                     isnan(orig->samples_per_s) ? json_null() : json_real(orig->samples_per_s),
                     "repeats", a, "new", s_spread_json(now), "ratio",
                     now->n && orig->samples_per_s > 0 ? json_real(now->mean / orig->samples_per_s)
                                                       : json_null(),
                     "original_repeats", s_spread_json(before), "differences", diffs);
}

/* ---- the command ----------------------------------------------------------------------------- */

/*
 * Ask the coordinator (if one answers) whether the run fits now: {needed, up,
 * same_hardware} as a new object, or NULL when none answered.
 */
static json_t *
s_nodes_check(ad_cli_t *cli, const json_t *record)
{
    const json_t *recorded = json_object_get(record, "nodes"), *n, *m;
    json_t *reply = NULL;
    ad_err_t err = {0};
    int64_t up = 0, same = 0;
    size_t i, k;

    if (ad_cli_request(cli, "NODES", NULL, 2000, &reply, &err))
        return NULL;
    json_array_foreach(json_object_get(reply, "nodes"), i, n)
    {
        const char *state = ad_cli_jstr(n, "state"), *fp = ad_cli_jstr(n, "fingerprint");
        bool alike = false;

        if (!state || strcmp(state, "UP"))
            continue;
        up++;
        json_array_foreach(recorded, k, m)
        {
            const char *want = ad_cli_jstr(m, "fingerprint");

            alike |= fp && want && !strcmp(fp, want);
        }
        same += alike;
    }
    json_decref(reply);
    return json_pack("{s:I s:I s:I}", "needed", (json_int_t)json_array_size(recorded), "up",
                     (json_int_t)up, "same_hardware", (json_int_t)same);
}

/*
 * --dry-run: the spec and the mpirun arguments the original ran with, and
 * whether the coordinator's nodes fit; nothing is submitted.  Exit 5 when
 * fewer nodes are UP than the run used.
 */
static int
s_dry_run(ad_cli_t *cli, const ad_run_t *orig, const json_t *record, const json_t *spec, int n)
{
    const json_t *argv = json_object_get(json_object_get(record, "launch"), "argv"), *a;
    char *text = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
    json_t *check = s_nodes_check(cli, record);
    int64_t needed = ad_cli_jint(check, "needed", 0), up = ad_cli_jint(check, "up", 0);
    int64_t same = ad_cli_jint(check, "same_hardware", 0);
    size_t i;

    if (cli->json) {
        json_t *doc = json_pack("{s:I s:i s:O s:O s:O s:b}", "run", (json_int_t)orig->id, "repeats",
                                n, "spec", spec, "argv", argv ? argv : json_null(), "nodes",
                                check ? check : json_null(), "dry_run", 1);

        ad_cli_print_json(doc);
        json_decref(doc);
    } else {
        printf("would submit %d job%s of this spec (config hash %s):\n  %s\n", n, n == 1 ? "" : "s",
               orig->config_hash ? orig->config_hash : "-", text ? text : "-");
        printf("mpirun as the original ran it (the job id, its log and checkpoint folders and\n"
               "the report endpoint are the new job's):\n");
        json_array_foreach(argv, i, a)
        {
            printf("  %s\n", json_string_value(a) ? json_string_value(a) : "?");
        }
        if (!check)
            printf("nodes: no coordinator answered at %s: not checked\n",
                   ad_cli_endpoint(cli) ? ad_cli_endpoint(cli) : "?");
        else
            printf("nodes: the run used %lld; the coordinator has %lld UP, %lld of the recorded "
                   "hardware class%s\n",
                   (long long)needed, (long long)up, (long long)same,
                   same < needed ? " (too few: the throughput will not compare)" : "");
    }
    free(text);
    json_decref(check);
    if (check && up < needed)
        return ad_cli_fail(AD_CLI_EXIT_NEVER,
                           "run %lld used %lld nodes, %lld are UP: it cannot "
                           "start now",
                           (long long)orig->id, (long long)needed, (long long)up);
    return AD_CLI_EXIT_OK;
}

/* The spec of record, checked as a job again (a new reference), or NULL after printing why. */
static json_t *
s_spec(const ad_run_t *orig, const json_t *record)
{
    const json_t *spec = json_object_get(record, "spec");
    char *text = json_is_object(spec) ? json_dumps(spec, JSON_COMPACT) : NULL;
    ad_job_t job = {0};
    ad_err_t err = {0};
    int rc;

    if (!text) {
        ad_cli_fail(AD_CLI_EXIT_ERROR, "run %lld: its record has no spec", (long long)orig->id);
        return NULL;
    }
    rc = ad_job_from_json(text, &job, &err);
    free(text);
    ad_job_clear(&job);
    if (rc) {
        ad_cli_fail(AD_CLI_EXIT_ERROR, "run %lld: its recorded spec is no longer a valid job: %s",
                    (long long)orig->id, err.msg);
        return NULL;
    }
    return json_deep_copy(spec);
}

/* Submit the n repeats one after the other and report. */
static int
s_run_repeats(ad_cli_t *cli, const ad_run_t *orig, const json_t *record, const json_t *spec, int n)
{
    repeat_t *reps = calloc((size_t)n, sizeof(*reps));
    json_t *diffs = json_array();
    double sum = 0, sum2 = 0;
    spread_t now = {0}, before = {0};
    ad_store_t *store = NULL;
    const char *db;
    int rc = 0, done = 0;

    if (!reps)
        ad_oom(0);
    if (!cli->json)
        printf("reproducing run %lld (%s on %s, %dx%dx%d %s, config %s): %d repeat%s\n",
               (long long)orig->id, orig->model, orig->dataset, orig->nodes, orig->procs_per_node,
               orig->threads_per_proc, orig->device ? orig->device : "cpu",
               orig->config_hash ? orig->config_hash : "-", n, n == 1 ? "" : "s");
    fflush(stdout);
    ad_cli_catch_interrupt(true);
    for (; done < n && !rc; done++) {
        reps[done].samples_per_s = NAN;
        rc = s_repeat(cli, spec, orig->id, &reps[done]);
        if (reps[done].job < 1)
            break;
        s_spread_add(&sum, &sum2, &now, reps[done].samples_per_s);
        if (reps[done].record)
            s_diff_records(diffs, record, reps[done].record, reps[done].run);
    }
    ad_cli_catch_interrupt(false);
    s_spread_end(sum, sum2, &now);
    if (!ad_cli_open_store(cli, &store, &db) && store)
        s_original_spread(store, orig, &before);
    ad_store_close(&store);
    if (cli->json) {
        json_t *doc = s_report_json(orig, reps, done, &now, &before, diffs);

        ad_cli_print_json(doc);
        json_decref(doc);
    } else {
        s_print_report(orig, reps, done, &now, &before, diffs);
    }
    for (int k = 0; !rc && k < done; k++)
        if (strcmp(reps[k].state, "COMPLETED"))
            rc = ad_cli_fail(AD_CLI_EXIT_JOB_ENDED, "repeat %d (job %lld) ended %s", k + 1,
                             (long long)reps[k].job, reps[k].state);
    for (int k = 0; k < n; k++)
        json_decref(reps[k].record);
    free(reps);
    json_decref(diffs);
    return rc;
}

/*
 * A run made on a reservation: a new reservation of the same cluster (or,
 * same_nodes, the same hosts), the repeats on it, then its release.
 */
static int
s_reproduce_reserved(ad_cli_t *cli, const ad_run_t *orig, const json_t *record,
                     const json_t *spec, bool same_nodes, bool dry, int n)
{
    const json_t *resv = json_object_get(record, "reservation");
    json_t *spec2 = NULL, *reply = NULL;
    ad_cli_resv_t r = {0};
    ad_job_t job = {0};
    char *text;
    int rc;

    rc = ad_cli_reproduce_job(orig->id, resv, same_nodes, spec, &job);
    if (rc)
        goto out;
    text = ad_job_to_json(&job);
    spec2 = json_loads(text, 0, NULL);
    free(text);
    if (dry) {
        rc = ad_cli_reproduce_dry_resv(cli, &job);
        if (!rc)
            rc = s_dry_run(cli, orig, record, spec2, n);
        goto out;
    }
    /* The coordinator first: no reservation for nothing. */
    if ((rc = ad_cli_call(cli, "NODES", json_object(), &reply)))
        goto out;
    rc = ad_cli_resv_open(cli, &job, &r);
    if (!rc) {
        s_session = &r;
        rc = s_run_repeats(cli, orig, record, spec2, n);
        s_session = NULL;
    } else if (rc == AD_CLI_EXIT_INTERRUPTED) {
        r.keep = true;
    }
    ad_cli_resv_close(cli, &r, 0, 0);
out:
    json_decref(reply);
    json_decref(spec2);
    ad_job_clear(&job);
    return rc;
}

int
ad_cli_reproduce(ad_cli_t *cli, int argc, char **argv)
{
    static const struct option longs[] = {
        {"repeats", required_argument, NULL, 'n'},
        {"dry-run", no_argument, NULL, 'd'},
        {"job", required_argument, NULL, 'j'},
        {"same-nodes", no_argument, NULL, 'N'},
        {"same-cluster", no_argument, NULL, 'C'},
        {NULL, 0, NULL, 0},
    };
    const char *arg, *job_arg = NULL;
    json_t *record = NULL, *spec = NULL, *links = NULL, *resv;
    int64_t id, job, repeats = 1;
    ad_run_t orig = {0};
    bool dry = false, same_nodes = false;
    int c, rc;

    while ((c = ad_cli_getopt(cli, argc, argv, longs, &arg)) != AD_CLI_OPT_END) {
        if (c == AD_CLI_OPT_HELP)
            return AD_CLI_EXIT_OK;
        if (c == AD_CLI_OPT_ERROR)
            return AD_CLI_EXIT_USAGE;
        if (c == 'n' && ad_cli_parse_int("--repeats", arg, 1, 100, &repeats))
            return AD_CLI_EXIT_USAGE;
        if (c == 'd')
            dry = true;
        if (c == 'j')
            job_arg = arg;
        if (c == 'N' || c == 'C')
            same_nodes = c == 'N';
    }
    rc = ad_cli_record_args(cli, argc, argv, job_arg, &id, &job);
    if (!rc)
        rc = ad_cli_record_load(cli, id, job, &orig, &record, &links);
    if (rc)
        return rc;
    if (!record) {
        rc = ad_cli_fail(AD_CLI_EXIT_ERROR,
                         "run %lld cannot be reproduced: it has no record (it was imported or "
                         "logged before records existed, store v4), so its spec, dataset, "
                         "nodes and versions are unknown",
                         (long long)orig.id);
        goto out;
    }
    spec = s_spec(&orig, record);
    if (!spec) {
        rc = AD_CLI_EXIT_ERROR;
        goto out;
    }
    resv = json_object_get(record, "reservation");
    if (json_is_object(resv))
        rc = s_reproduce_reserved(cli, &orig, record, spec, same_nodes, dry, (int)repeats);
    else if (dry)
        rc = s_dry_run(cli, &orig, record, spec, (int)repeats);
    else
        rc = s_run_repeats(cli, &orig, record, spec, (int)repeats);
out:
    json_decref(links);
    json_decref(spec);
    json_decref(record);
    ad_store_run_clear(&orig);
    return rc;
}
