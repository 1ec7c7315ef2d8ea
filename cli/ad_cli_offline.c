/* ad_cli_offline.c - jobs, status, logs, sweep status from the store when no coordinator answers */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ad_cli.h"
#include "autodist/ad_proc.h"
#include "autodist/ad_proto.h"

/*
 * The coordinator keeps every job, run and sweep in HOME/runs.db and every
 * job's output in HOME/logs/JOB/output.log, so what happened stays readable
 * after `autodist down` (docs/cli.md "History without a coordinator").  A
 * short TCP (or Unix socket) connect says at once whether anything listens:
 * a ZeroMQ request would wait its whole timeout for a peer that is not there.
 */

/*
 * Whether the coordinator `autodist up` started for this home at ep runs: its
 * pid file and the process (no packet is sent: a bare connect to its CURVE
 * socket would fail the handshake and be logged there).  Returns false when ep
 * is not that coordinator's (nothing known: the request decides).
 */
static bool
s_home_coordinator(ad_cli_t *cli, const char *ep, bool *alive)
{
    const ad_home_t *home = ad_cli_home(cli);
    char *recorded = ad_cli_recorded_endpoint(cli, "client");
    char path[PATH_MAX];
    bool ours = recorded && !strcmp(recorded, ep);

    free(recorded);
    if (!ours || !home)
        return false;
    snprintf(path, sizeof(path), "%s/run/autodistd.pid", home->root);
    /* A pid file a crash left behind names nothing, or a process that reused its number. */
    *alive = ad_proc_is(ad_proc_read_pid(path), "autodistd");
    return true;
}

void
ad_cli_endpoints_retire(const char *run_dir)
{
    char path[PATH_MAX], last[PATH_MAX];

    snprintf(path, sizeof(path), "%s/endpoints.json", run_dir);
    snprintf(last, sizeof(last), "%s/%s", run_dir, AD_CLI_ENDPOINTS_LAST);
    if (rename(path, last) != 0)
        unlink(path);
}

/* Say once per command that the answer comes from the store. */
static void
s_say(ad_cli_t *cli, const char *why)
{
    static bool said;
    const ad_home_t *home = ad_cli_home(cli);

    if (said)
        return;
    said = true;
    fflush(stdout);
    fprintf(stderr, "autodist: %s at %s: reading the store (%s) and the logs\n", why,
            ad_cli_endpoint(cli), home ? home->db : "runs.db");
}

/*
 * Whether the home has a store to answer from.  Without one nothing ran here:
 * the command says it cannot reach the coordinator (exit 3), as before.
 */
static bool
s_have_store(ad_cli_t *cli)
{
    const ad_home_t *home = ad_cli_home(cli);

    return home && access(home->db, F_OK) == 0;
}

bool
ad_cli_coordinator_gone(ad_cli_t *cli)
{
    const char *ep = ad_cli_endpoint(cli);
    bool alive = true;

    return ep && s_have_store(cli) && s_home_coordinator(cli, ep, &alive) && !alive;
}

bool
ad_cli_offline(ad_cli_t *cli)
{
    if (!ad_cli_coordinator_gone(cli))
        return false;
    s_say(cli, "no coordinator answers");
    return true;
}

/* ---- jobs from the store ----------------------------------------------------------------- */

static json_t *
s_num(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

json_t *
ad_cli_job_row_json(const ad_job_row_t *r)
{
    json_t *o = json_object(), *spec = r->spec ? json_loads(r->spec, 0, NULL) : NULL;

    /* The keys of the coordinator's job objects (daemon/ad_coord.c), so both print alike. */
    json_object_set_new(o, "id", json_integer(r->id));
    json_object_set_new(o, "name", json_string(r->name ? r->name : ""));
    json_object_set_new(o, "state", json_string(ad_store_job_state_name(r->state)));
    json_object_set_new(o, "reason", r->reason ? json_string(r->reason) : json_null());
    json_object_set_new(o, "submitted", s_num(r->submitted));
    json_object_set_new(o, "started", s_num(r->started));
    json_object_set_new(o, "ended", s_num(r->ended));
    json_object_set_new(o, "exit_code",
                        r->exit_code == AD_STORE_NO_EXIT ? json_null()
                                                         : json_integer(r->exit_code));
    json_object_set_new(o, "nodes", json_integer(r->nodes));
    json_object_set_new(o, "procs_per_node", json_integer(r->procs_per_node));
    json_object_set_new(o, "threads_per_proc", json_integer(r->threads_per_proc));
    json_object_set_new(o, "nodelist", r->nodelist ? json_string(r->nodelist) : json_null());
    json_object_set_new(o, "spec", spec ? spec : json_null());
    json_object_set_new(o, "sweep", r->sweep > 0 ? json_integer(r->sweep) : json_null());
    json_object_set_new(o, "config_hash",
                        r->config_hash ? json_string(r->config_hash) : json_null());
    json_object_set_new(o, "attempts", json_integer(r->attempts));
    json_object_set_new(o, "run", r->run > 0 ? json_integer(r->run) : json_null());
    return o;
}

/* The final result of a job's run, as STATUS gives it: {"samples_per_s", ...}; NULL if none. */
static json_t *
s_result(ad_store_t *store, const ad_job_row_t *r)
{
    ad_run_t run = {0};
    json_t *o;

    if (r->run <= 0 || !ad_store_job_state_is_final(r->state) ||
        ad_store_get_run(store, r->run, &run))
        return NULL;
    o = json_pack("{s:I s:o s:o s:o}", "run", (json_int_t)run.id, "samples_per_s",
                  s_num(run.samples_per_s), "speedup", s_num(run.speedup), "accuracy",
                  s_num(run.accuracy));
    ad_store_run_clear(&run);
    return o;
}

int
ad_cli_store_jobs(ad_cli_t *cli, const json_t *filter, bool only_live, int64_t id, json_t **reply)
{
    const char *state = ad_cli_jstr(filter, "state"), *name = ad_cli_jstr(filter, "name"), *db;
    int64_t limit = ad_cli_jint(filter, "limit", 0);
    ad_job_row_t *rows = NULL;
    ad_store_t *store = NULL;
    unsigned mask = 0;
    size_t n = 0;
    json_t *arr;
    int rc;

    *reply = NULL;
    rc = ad_cli_open_store(cli, &store, &db);
    if (rc)
        return rc;
    arr = json_array();
    if (!store) {
        if (id > 0)
            rc =
                ad_cli_fail(AD_CLI_EXIT_ERROR, "no job %lld: %s does not exist", (long long)id, db);
        goto out;
    }
    if (id > 0) {
        ad_job_row_t r = {0};
        json_t *o, *res;

        rc = ad_store_get_job(store, id, &r);
        if (rc == -ENOENT) {
            rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "no job %lld in %s", (long long)id, db);
            goto out;
        }
        if (rc) {
            rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", ad_store_errmsg(store));
            goto out;
        }
        o = ad_cli_job_row_json(&r);
        res = s_result(store, &r);
        if (res)
            json_object_set_new(o, "result", res);
        /* A `layout: auto` job: what it chose and probed, from its run's record. */
        if (r.run > 0)
            ad_store_record_auto(store, r.run, o);
        json_array_append_new(arr, o);
        ad_store_job_row_clear(&r);
        goto out;
    }
    if (only_live)
        mask = AD_JOB_MASK(AD_JOB_PENDING) | AD_JOB_MASK(AD_JOB_RUNNING);
    else if (state) {
        ad_job_state_t st;

        if (!ad_store_job_state_from_name(state, &st))
            mask = AD_JOB_MASK(st);
    }
    if (ad_store_list_jobs(store, mask, &rows, &n)) {
        rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", ad_store_errmsg(store));
        goto out;
    }
    /* Newest first, as the coordinator lists them. */
    for (size_t i = n; i-- > 0;) {
        if (name && (!rows[i].name || strcmp(rows[i].name, name)))
            continue;
        if (limit > 0 && (int64_t)json_array_size(arr) >= limit)
            break;
        json_array_append_new(arr, ad_cli_job_row_json(&rows[i]));
    }
    ad_store_job_rows_free(&rows, n);
out:
    ad_store_close(&store);
    if (rc) {
        json_decref(arr);
        return rc;
    }
    *reply = json_pack("{s:o s:b}", "jobs", arr, "from_store", true);
    return AD_CLI_EXIT_OK;
}

int
ad_cli_call_or_store(ad_cli_t *cli, const char *type, json_t *payload, json_t **reply)
{
    const json_t *filter = ad_cli_jobj(payload, "filter");
    int64_t id = ad_cli_jint(payload, "job", 0);
    ad_err_t err = {0};
    json_t *answer;
    int rc;

    *reply = NULL;
    if (!ad_cli_endpoint(cli)) {
        json_decref(payload);
        return AD_CLI_EXIT_USAGE;
    }
    if (ad_cli_offline(cli))
        goto from_store;
    rc = ad_cli_request(cli, type, json_incref(payload), AD_PROTO_REQUEST_TIMEOUT_MS, reply, &err);
    if (rc == -EAGAIN) {
        rc = ad_cli_call(cli, type, payload, reply);
        return rc;
    }
    if (rc == -ETIMEDOUT && s_have_store(cli)) {
        s_say(cli, "no coordinator answered in time");
        goto from_store;
    }
    json_decref(payload);
    if (rc == -EINTR)
        return AD_CLI_EXIT_INTERRUPTED;
    if (rc)
        return ad_cli_fail(ad_cli_exit_for(rc), "%s", err.msg);
    return AD_CLI_EXIT_OK;
from_store:
    rc = ad_cli_store_jobs(cli, filter, !strcmp(type, "STATUS") && id <= 0, id, &answer);
    json_decref(payload);
    if (!rc)
        *reply = answer;
    return rc;
}

/* ---- logs from the home -------------------------------------------------------------------- */

int
ad_cli_logs_offline(ad_cli_t *cli, int64_t id)
{
    const ad_home_t *home = ad_cli_home(cli);
    char path[PATH_MAX + 64], buf[65536];
    size_t n, total = 0;
    char *all = NULL;
    FILE *f;

    if (!home)
        return AD_CLI_EXIT_ERROR;
    snprintf(path, sizeof(path), "%s/%lld/output.log", home->logs, (long long)id);
    f = fopen(path, "rb");
    if (!f)
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "job %lld: no log at %s (%s)", (long long)id, path,
                           strerror(errno));
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        if (cli->json) {
            all = ad_realloc(all, total + n + 1);
            memcpy(all + total, buf, n);
        } else {
            fwrite(buf, 1, n, stdout);
        }
        total += n;
    }
    fclose(f);
    fflush(stdout);
    if (cli->json) {
        int rc = ad_cli_print_log_json(id, all, total, total, true, true);

        free(all);
        return rc;
    }
    return AD_CLI_EXIT_OK;
}

/* ---- sweep status from the store ---------------------------------------------------------- */

/* Counts of one sweep's jobs, by what they became. */
typedef struct sweep_count {
    int64_t total, completed, running, pending, failed, cancelled;
    double first, last; /* earliest submitted, latest ended (NaN: none) */
} sweep_count_t;

static int
s_count_job(const ad_job_row_t *j, void *arg)
{
    sweep_count_t *c = arg;

    c->total++;
    if (j->state == AD_JOB_COMPLETED)
        c->completed++;
    else if (j->state == AD_JOB_RUNNING)
        c->running++;
    else if (j->state == AD_JOB_PENDING)
        c->pending++;
    else if (j->state == AD_JOB_CANCELLED)
        c->cancelled++;
    else
        c->failed++;
    if (!isnan(j->submitted) && (isnan(c->first) || j->submitted < c->first))
        c->first = j->submitted;
    if (!isnan(j->ended) && (isnan(c->last) || j->ended > c->last))
        c->last = j->ended;
    return 0;
}

static json_t *
s_sweep_json(ad_store_t *store, const ad_sweep_row_t *s)
{
    sweep_count_t c = {.first = NAN, .last = NAN};
    ad_sweep_t *sweep = NULL;
    ad_err_t err = {0};
    int64_t total, ended;

    ad_store_each_sweep_job(store, s->id, s_count_job, &c);
    /* The sweep's own size: jobs not queued yet count as pending. */
    total = c.total;
    if (s->spec && ad_sweep_load_json(s->spec, &sweep, &err) == 0 && ad_sweep_count(sweep) > total)
        total = ad_sweep_count(sweep);
    ad_sweep_free(&sweep);
    ended = c.completed + c.failed + c.cancelled + c.running;
    c.pending = total > ended ? total - ended : 0;
    c.total = total;
    return json_pack("{s:I s:s s:s s:I s:I s:I s:I s:I s:I s:o s:n s:b}", "id", (json_int_t)s->id,
                     "name", s->name ? s->name : "", "state", s->state ? s->state : "UNKNOWN",
                     "total", (json_int_t)c.total, "completed", (json_int_t)c.completed, "running",
                     (json_int_t)c.running, "pending", (json_int_t)c.pending, "failed",
                     (json_int_t)c.failed, "cancelled", (json_int_t)c.cancelled, "elapsed_s",
                     isnan(c.first) || isnan(c.last) ? json_null() : json_real(c.last - c.first),
                     "eta_s", "from_store", 1);
}

static void
s_sweep_table(const json_t *sweeps)
{
    static const char *const headers[] = {"ID",      "NAME",    "STATE",  "JOBS",    "DONE",
                                          "RUNNING", "PENDING", "FAILED", "ELAPSED", "ETA"};
    ad_cli_table_t *t = ad_cli_table_new(10, headers);
    char b[7][32];
    const char *cells[10];
    size_t i;
    json_t *s;

    json_array_foreach(sweeps, i, s)
    {
        snprintf(b[0], 32, "%lld", (long long)ad_cli_jint(s, "id", 0));
        snprintf(b[1], 32, "%lld", (long long)ad_cli_jint(s, "total", 0));
        snprintf(b[2], 32, "%lld", (long long)ad_cli_jint(s, "completed", 0));
        snprintf(b[3], 32, "%lld", (long long)ad_cli_jint(s, "running", 0));
        snprintf(b[4], 32, "%lld", (long long)ad_cli_jint(s, "pending", 0));
        snprintf(b[5], 32, "%lld", (long long)ad_cli_jint(s, "failed", 0));
        cells[0] = b[0];
        cells[1] = ad_cli_jstr(s, "name");
        /* Nothing moves a RUNNING sweep without its coordinator: say it is stopped. */
        cells[2] = ad_cli_jstr(s, "state") && !strcmp(ad_cli_jstr(s, "state"), "RUNNING")
                       ? "STOPPED"
                       : ad_cli_jstr(s, "state");
        cells[3] = b[1];
        cells[4] = b[2];
        cells[5] = b[3];
        cells[6] = b[4];
        cells[7] = b[5];
        cells[8] = ad_cli_fmt_duration(ad_cli_jnum(s, "elapsed_s", NAN), b[6], 32);
        cells[9] = "-";
        ad_cli_table_add(t, cells);
    }
    ad_cli_table_print(t, stdout);
    ad_cli_table_free(&t);
}

int
ad_cli_sweep_status_offline(ad_cli_t *cli, const char *name)
{
    ad_sweep_row_t *rows = NULL;
    ad_store_t *store = NULL;
    const char *db = NULL;
    json_t *arr = json_array(), *doc;
    size_t n = 0;
    int rc;

    rc = ad_cli_open_store(cli, &store, &db);
    if (rc)
        goto out;
    if (store && (name ? ad_store_find_sweeps(store, name, &rows, &n)
                       : ad_store_list_sweeps(store, &rows, &n))) {
        rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", ad_store_errmsg(store));
        goto out;
    }
    /* A name: its latest version (the one a rerun of the file resumes). */
    for (size_t i = name && n ? n - 1 : 0; i < n; i++)
        json_array_append_new(arr, s_sweep_json(store, &rows[i]));
    if (name && n == 0) {
        rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "no sweep called %s in %s", name, db);
        goto out;
    }
    if (cli->json) {
        doc = json_pack("{s:O s:b}", "sweeps", arr, "from_store", 1);
        ad_cli_print_json(doc);
        json_decref(doc);
    } else if (json_array_size(arr) == 0) {
        printf("no sweeps in %s\n", db);
    } else {
        s_sweep_table(arr);
    }
out:
    ad_store_sweep_rows_free(&rows, n);
    ad_store_close(&store);
    json_decref(arr);
    return rc;
}
