/* ad_cli_sweep.c - autodist sweep: run a sweep file with a live progress table; status; cancel */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ad_cli.h"
#include "ad_cli_resv.h"
#include "autodist/ad_job.h"
#include "autodist/ad_proto.h"
#include "autodist/ad_suggest.h"

/* Default seconds between two SWEEPS requests while following a sweep. */
#define S_POLL_S 0.5
/* Without a terminal: a progress line at least this often. */
#define S_PLAIN_EVERY_S 5.0
/* How long every queued job must stay "never" before the command gives up (nodes may come). */
#define S_NEVER_GRACE_S 5.0
/* `sweep status NAME` waits at most this long for the coordinator to check what ran before. */
#define S_RESOLVE_WAIT_S 120.0
/* `sweep cancel` follows the running jobs this long (the coordinator's grace is 10 s). */
#define S_CANCEL_FOLLOW_S 20.0
/* Failed jobs listed in a summary. */
#define S_FAILED_SHOWN 10

/* A sweep object's count field. */
static int64_t
s_n(const json_t *sweep, const char *key)
{
    return ad_cli_jint(sweep, key, 0);
}

/* The sweep object of a SWEEPS answer with one sweep. */
static json_t *
s_first(const json_t *reply)
{
    json_t *s = json_array_get(json_object_get(reply, "sweeps"), 0);

    return json_is_object(s) ? s : NULL;
}

/* One SWEEPS request for name; 0 with *reply, or the ad_cli_request() code with err set. */
static int
s_sweeps(ad_cli_t *cli, const char *name, json_t **reply, ad_err_t *err)
{
    json_t *payload = name ? json_pack("{s:s}", "name", name) : NULL;

    return ad_cli_request(cli, "SWEEPS", payload, AD_PROTO_REQUEST_TIMEOUT_MS, reply, err);
}

/* ---- the run: live progress --------------------------------------------------------------- */

/* Where following a sweep stands. */
typedef struct follower {
    ad_cli_t *cli;      /* the command (borrowed) */
    const char *name;   /* the sweep (borrowed) */
    const char *path;   /* its file, for hints (borrowed) */
    double interval;    /* seconds between two SWEEPS */
    bool tty;           /* stdout is a terminal: one row redrawn in place */
    bool drawn;         /* a live row is on the screen and needs a newline */
    bool header;        /* the table's header was printed */
    bool resumed_said;  /* what ran before was reported */
    double last_print;  /* ad_clock_now() of the last plain line */
    double t_start;     /* ad_clock_now() when following began */
    double never_since; /* since when every queued job is "never"; < 0 when not */
    bool away;          /* the coordinator did not answer the last request */
    ad_cli_resv_t *resv; /* the reservation the sweep runs on, or NULL */
    bool resv_ended;    /* it ended before the sweep: the sweep goes on in the next one */
    int64_t skips_said; /* skipped configurations already listed */
} follower_t;

static void
s_end_line(follower_t *f)
{
    if (f->drawn) {
        fputc('\n', stdout);
        fflush(stdout);
        f->drawn = false;
    }
}

/* The table row (a terminal) or the plain line of a sweep. */
static void
s_row(const json_t *s, bool table, char *buf, size_t size)
{
    char elapsed[32], eta[32];

    ad_cli_fmt_duration(ad_cli_jnum(s, "elapsed_s", NAN), elapsed, sizeof(elapsed));
    ad_cli_fmt_duration(ad_cli_jnum(s, "eta_s", NAN), eta, sizeof(eta));
    if (table)
        snprintf(buf, size, "%8lld %8lld %8lld %8lld %10s %10s", (long long)s_n(s, "completed"),
                 (long long)s_n(s, "running"), (long long)s_n(s, "pending"),
                 (long long)s_n(s, "failed"), elapsed, eta);
    else
        snprintf(buf, size,
                 "sweep %s: %lld done, %lld running, %lld pending, %lld failed, %lld skipped of "
                 "%lld; elapsed %s, ETA %s",
                 ad_cli_jstr(s, "name"), (long long)s_n(s, "completed"),
                 (long long)s_n(s, "running"), (long long)s_n(s, "pending"),
                 (long long)s_n(s, "failed"), (long long)s_n(s, "skipped"),
                 (long long)s_n(s, "total"), elapsed, eta);
}

/* Once the coordinator knows what ran before: say what a rerun skips. */
static void
s_say_resumed(follower_t *f, const json_t *s)
{
    const json_t *before = ad_cli_jobj(s, "before");
    int64_t done = ad_cli_jint(before, "completed", 0), failed = ad_cli_jint(before, "failed", 0);
    int64_t retried = s_n(s, "retried");

    if (f->resumed_said || json_is_true(json_object_get(s, "resolving")))
        return;
    f->resumed_said = true;
    if (f->cli->json || (!done && !failed))
        return;
    s_end_line(f);
    printf("resumed: %lld job%s completed before (skipped)", (long long)done, done == 1 ? "" : "s");
    if (failed && retried)
        printf(", %lld failed before (run again: --retry-failed)", (long long)failed);
    else if (failed)
        printf(", %lld failed before (skipped; --retry-failed runs them again)", (long long)failed);
    printf("\n");
    fflush(stdout);
}

/*
 * The configurations of a sweep object skipped because they fit no node,
 * from the said-th on, one line each; returns how many are listed now.
 */
static int64_t
s_print_skipped(const json_t *s, int64_t said)
{
    json_t *list = json_object_get(s, "skipped_configs"), *k;
    int64_t total = s_n(s, "skipped_configs_total");
    size_t i;

    if (total <= said)
        return said;
    if (said == 0)
        printf("skipped %lld configuration%s (%lld job%s) that fit no node; a rerun of the sweep "
               "tries them again:\n",
               (long long)total, total == 1 ? "" : "s", (long long)s_n(s, "skipped"),
               s_n(s, "skipped") == 1 ? "" : "s");
    json_array_foreach(list, i, k)
    {
        if ((int64_t)i < said)
            continue;
        printf("  configuration %lld (layout %s): %s\n", (long long)ad_cli_jint(k, "config", 0),
               ad_cli_jstr(k, "layout") ? ad_cli_jstr(k, "layout") : "?",
               ad_cli_jstr(k, "reason") ? ad_cli_jstr(k, "reason") : "?");
    }
    if (total > (int64_t)json_array_size(list) && said <= (int64_t)json_array_size(list))
        printf("  ... and %lld more\n", (long long)(total - (int64_t)json_array_size(list)));
    fflush(stdout);
    return total;
}

static void
s_show(follower_t *f, const json_t *s)
{
    char line[512];
    double now = ad_clock_now();

    if (f->cli->json)
        return;
    if (json_is_true(json_object_get(s, "resolving"))) {
        snprintf(line, sizeof(line), "checking which of the %lld jobs ran before: %.0f%%",
                 (long long)s_n(s, "total"), 100.0 * ad_cli_jnum(s, "checked", 0));
        if (f->tty) {
            printf("\r%s\033[K", line);
            fflush(stdout);
            f->drawn = true;
        } else if (now - f->last_print >= S_PLAIN_EVERY_S && now - f->t_start >= S_PLAIN_EVERY_S) {
            /* Without a terminal, only a check that takes a while is worth a line. */
            printf("%s\n", line);
            fflush(stdout);
            f->last_print = now;
        }
        return;
    }
    s_say_resumed(f, s);
    if (s_n(s, "skipped_configs_total") > f->skips_said) {
        s_end_line(f);
        f->skips_said = s_print_skipped(s, f->skips_said);
    }
    if (!f->tty) {
        if (now - f->last_print >= S_PLAIN_EVERY_S) {
            s_row(s, false, line, sizeof(line));
            printf("%s\n", line);
            fflush(stdout);
            f->last_print = now;
        }
        return;
    }
    if (!f->header) {
        s_end_line(f);
        printf("%8s %8s %8s %8s %10s %10s\n", "DONE", "RUNNING", "PENDING", "FAILED", "ELAPSED",
               "ETA");
        f->header = true;
    }
    s_row(s, true, line, sizeof(line));
    printf("\r%s\033[K", line);
    fflush(stdout);
    f->drawn = true;
}

/* The failed jobs of a sweep object, one line each. */
static void
s_print_failed(const json_t *s)
{
    json_t *failed = json_object_get(s, "failed_jobs"), *j;
    size_t i;

    json_array_foreach(failed, i, j)
    {
        const char *reason = ad_cli_jstr(j, "reason");

        if (i >= S_FAILED_SHOWN)
            break;
        printf("  job %lld %s %s%s%s\n", (long long)ad_cli_jint(j, "job", 0),
               ad_cli_jstr(j, "name") ? ad_cli_jstr(j, "name") : "?",
               ad_cli_jstr(j, "state") ? ad_cli_jstr(j, "state") : "?", reason ? ": " : "",
               reason ? reason : "");
    }
}

/* The summary of a sweep that is over; returns the exit status. */
static int
s_summary(follower_t *f, json_t *s)
{
    const char *state = ad_cli_jstr(s, "state");
    int64_t total = s_n(s, "total"), done = s_n(s, "completed"), failed = s_n(s, "failed");
    int64_t cancelled = s_n(s, "cancelled"), todo = s_n(s, "todo"), skipped = s_n(s, "skipped");
    int64_t before = ad_cli_jint(ad_cli_jobj(s, "before"), "completed", 0);
    double mean = ad_cli_jnum(s, "mean_job_s", NAN);
    bool ok = state && !strcmp(state, "DONE") && done + skipped == total && done > 0;
    char wall[32], mj[32];

    s_end_line(f);
    if (f->cli->json) {
        json_t *doc = json_pack("{s:O}", "sweep", s);

        ad_cli_print_json(doc);
        json_decref(doc);
    } else {
        printf("sweep %s %s: %lld of %lld jobs completed", f->name, state ? state : "?",
               (long long)done, (long long)total);
        if (before)
            printf(" (%lld before this run)", (long long)before);
        printf(", %lld failed", (long long)failed);
        if (cancelled)
            printf(", %lld cancelled", (long long)cancelled);
        if (todo)
            printf(", %lld not started", (long long)todo);
        if (skipped)
            printf(", %lld skipped (fit no node)", (long long)skipped);
        printf("; wall time %s",
               ad_cli_fmt_duration(ad_cli_jnum(s, "elapsed_s", NAN), wall, sizeof(wall)));
        if (!isnan(mean))
            printf(", mean job %s", ad_cli_fmt_duration(mean, mj, sizeof(mj)));
        printf("\n");
        s_print_failed(s);
        f->skips_said = s_print_skipped(s, f->skips_said);
        fflush(stdout);
    }
    if (ok)
        return AD_CLI_EXIT_OK;
    if (skipped && skipped == total - done && done == 0)
        return ad_cli_fail(AD_CLI_EXIT_NEVER,
                           "sweep %s: every configuration was skipped: none fits the nodes",
                           f->name);
    if (state && !strcmp(state, "CANCELLED"))
        return ad_cli_fail(AD_CLI_EXIT_JOB_ENDED,
                           "sweep %s was cancelled; `autodist sweep %s` resumes it", f->name,
                           f->path);
    return ad_cli_fail(AD_CLI_EXIT_JOB_ENDED,
                       "sweep %s: %lld of %lld jobs did not complete; `autodist sweep %s "
                       "--retry-failed` runs the failed ones again",
                       f->name, (long long)(total - done), (long long)total, f->path);
}

static int
s_follow(follower_t *f)
{
    json_t *reply = NULL, *s;
    ad_resv_status_t rst;
    ad_err_t err = {0};
    int rc;

    ad_cli_catch_interrupt(true);
    f->never_since = -1;
    f->last_print = -1e9;
    f->t_start = ad_clock_now();
    for (;;) {
        const char *state;
        int64_t queued, left;

        if (ad_cli_interrupted) {
            rc = AD_CLI_EXIT_INTERRUPTED;
            break;
        }
        rc = s_sweeps(f->cli, f->name, &reply, &err);
        if (ad_cli_interrupted || rc == -EINTR) {
            rc = AD_CLI_EXIT_INTERRUPTED;
            break;
        }
        if (rc == -ETIMEDOUT) {
            /* The coordinator restarts: the sweep resumes by itself; wait for it to answer. */
            if (!f->away) {
                s_end_line(f);
                fprintf(stderr,
                        "autodist: %s; waiting for it (the sweep resumes when it is back; "
                        "Ctrl-C stops following, not the sweep)\n",
                        err.msg);
                f->away = true;
            }
            ad_cli_sleep(f->interval);
            continue;
        }
        if (rc) {
            s_end_line(f);
            rc = ad_cli_fail(ad_cli_exit_for(rc), "%s", err.msg);
            break;
        }
        if (f->away) {
            fprintf(stderr, "autodist: the coordinator answers again\n");
            f->away = false;
        }
        s = s_first(reply);
        state = ad_cli_jstr(s, "state");
        if (!s || !state) {
            s_end_line(f);
            rc =
                ad_cli_fail(AD_CLI_EXIT_ERROR, "the coordinator's SWEEPS has no sweep %s", f->name);
            break;
        }
        s_show(f, s);
        queued = s_n(s, "queued");
        if (!strcmp(state, "DONE") ||
            (!strcmp(state, "CANCELLED") && s_n(s, "running") == 0 && queued == 0)) {
            rc = s_summary(f, s);
            break;
        }
        if (f->resv && ad_cli_resv_ended(f->resv, &rst)) {
            /* Its running jobs are requeued (NODE_FAIL) and resume in the next one. */
            s_end_line(f);
            left = s_n(s, "total") - s_n(s, "completed") - s_n(s, "failed");
            fprintf(stderr, "autodist: %s; %lld job%s of sweep %s left: reserving again\n",
                    rst.reason[0] ? rst.reason : rst.state, (long long)left, left == 1 ? "" : "s",
                    f->name);
            f->resv_ended = true;
            rc = 0;
            break;
        }
        if (!strcmp(state, "STOPPED")) {
            s_end_line(f);
            rc = ad_cli_fail(AD_CLI_EXIT_ERROR,
                             "sweep %s is no longer dispatched (the coordinator restarted?); "
                             "`autodist sweep %s` resumes it",
                             f->name, f->path);
            break;
        }
        if (s_n(s, "running") == 0 && queued > 0 && s_n(s, "never") == queued) {
            if (f->never_since < 0) {
                f->never_since = ad_clock_now();
            } else if (ad_clock_now() - f->never_since >= S_NEVER_GRACE_S) {
                const char *why = ad_cli_jstr(s, "never_reason");

                s_end_line(f);
                if (f->cli->json) {
                    json_t *doc = json_pack("{s:O}", "sweep", s);

                    ad_cli_print_json(doc);
                    json_decref(doc);
                }
                rc = ad_cli_fail(AD_CLI_EXIT_NEVER,
                                 "sweep %s: its queued jobs cannot start: %s; the sweep stays "
                                 "(autodist sweep cancel %s drops it)",
                                 f->name, why ? why : "they do not fit the nodes that are up",
                                 f->name);
                break;
            }
        } else {
            f->never_since = -1;
        }
        json_decref(reply);
        reply = NULL;
        ad_cli_sleep(f->interval);
    }
    if (rc == AD_CLI_EXIT_INTERRUPTED) {
        s_end_line(f);
        ad_cli_fail(AD_CLI_EXIT_INTERRUPTED,
                    "stopped following: sweep %s goes on; `autodist sweep status %s` shows it, "
                    "`autodist sweep cancel %s` stops it",
                    f->name, f->name, f->name);
    }
    json_decref(reply);
    ad_cli_catch_interrupt(false);
    return rc;
}

/* The first lines of a run: what the coordinator made of the file. */
static void
s_announce(const json_t *s)
{
    int64_t total = s_n(s, "total"), configs = s_n(s, "configs"), repeats = s_n(s, "repeats");
    int64_t maxp = ad_cli_jint(s, "max_parallel", 0);

    printf("sweep %s (id %lld): %lld job%s = %lld configuration%s x %lld repeat%s, ",
           ad_cli_jstr(s, "name"), (long long)ad_cli_jint(s, "id", 0), (long long)total,
           total == 1 ? "" : "s", (long long)configs, configs == 1 ? "" : "s", (long long)repeats,
           repeats == 1 ? "" : "s");
    if (maxp > 0)
        printf("at most %lld at a time", (long long)maxp);
    else
        printf("as many at a time as nodes are up");
    if (json_is_true(json_object_get(s, "joined")))
        printf("; joined: it was already running\n");
    else if (json_is_true(json_object_get(s, "created")))
        printf("; new (file hash %s)\n", ad_cli_jstr(s, "file_hash"));
    else
        printf("; resuming (file hash %s)\n", ad_cli_jstr(s, "file_hash"));
    fflush(stdout);
}

/*
 * A sweep whose base has a reservation: reserve, run what fits, and when the
 * reservation ends first (its walltime), reserve again under the same name:
 * the same pool, where the requeued and the remaining jobs go on.  Always
 * follows (the reservations are this command's to manage).
 */
static int
s_run_reserved(ad_cli_t *cli, const ad_sweep_t *sweep, json_t *spec,
               int64_t max_parallel, bool retry, bool force, double interval, ad_job_t *base)
{
    json_t *jbase = json_object_get(spec, "base"), *payload, *reply = NULL;
    ad_sweep_t *sent_sweep = NULL;
    follower_t f = {0};
    ad_err_t err = {0};
    char sent_hash[17], *text;
    ad_cli_resv_t r;
    bool sent = false;
    int64_t sweep_id = 0;
    int rc, round = 1;

    ad_cli_resv_default_name(&base->reservation, ad_sweep_name(sweep));
    /* Every job of the sweep names the same batch job, so all share its pool. */
    if (json_is_object(jbase))
        json_object_set_new(jbase, "reservation", ad_job_resv_json(&base->reservation));
    /* The coordinator checks the file hash against what it receives: hash what is sent. */
    text = json_dumps(spec, JSON_COMPACT);
    if (!text || ad_sweep_load_json(text, &sent_sweep, &err)) {
        free(text);
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "sweep %s: %s", ad_sweep_name(sweep),
                           err.msg[0] ? err.msg : "its JSON does not read back");
    }
    free(text);
    ad_sweep_hash(sent_sweep, sent_hash);
    ad_sweep_free(&sent_sweep);
    if ((rc = ad_cli_call(cli, "NODES", json_object(), &reply)))
        goto out;
    f.cli = cli;
    f.name = ad_sweep_name(sweep);
    f.path = "the same file";
    f.interval = interval;
    f.tty = isatty(STDOUT_FILENO);
    f.resv = &r;
    for (;; round++) {
        if (round > 1)
            fprintf(stderr, "autodist: reservation %d for sweep %s\n", round, f.name);
        rc = ad_cli_resv_open(cli, base, &r);
        if (rc) {
            if (rc == AD_CLI_EXIT_INTERRUPTED)
                r.keep = true;
            ad_cli_resv_close(cli, &r, 0, 0);
            break;
        }
        if (!sent) {
            json_decref(reply);
            reply = NULL;
            payload = json_pack("{s:O s:s s:b s:b}", "sweep", spec, "file_hash", sent_hash,
                                "retry_failed", retry, "force", force);
            if (max_parallel > 0)
                json_object_set_new(payload, "max_parallel", json_integer(max_parallel));
            if ((rc = ad_cli_call(cli, "SWEEP", payload, &reply))) {
                ad_cli_resv_close(cli, &r, 0, 0);
                break;
            }
            if (!cli->json) {
                s_announce(reply);
                f.skips_said = s_print_skipped(reply, 0);
            }
            sweep_id = ad_cli_jint(reply, "id", 0);
            sent = true;
        }
        f.resv_ended = false;
        rc = s_follow(&f);
        if (rc == AD_CLI_EXIT_INTERRUPTED) {
            /* The sweep goes on: so do its nodes, until released. */
            r.keep = true;
            r.kept_said = true;
            fprintf(stderr,
                    "autodist: the reservation stays for sweep %s; the same `autodist sweep` "
                    "follows it again, `autodist reservation release %s` ends it\n",
                    f.name, ad_resv_id(r.resv));
        }
        ad_cli_resv_close(cli, &r, 0, sweep_id);
        if (rc || !f.resv_ended)
            break;
    }
out:
    json_decref(reply);
    return rc;
}

static int
s_run(ad_cli_t *cli, const char *path, int64_t max_parallel, bool retry, bool force, bool wait,
      bool hold, double interval)
{
    follower_t f = {0};
    ad_sweep_t *sweep = NULL;
    ad_job_t job = {0};
    ad_err_t err = {0};
    json_t *spec, *payload, *reply = NULL;
    char hash[17];
    int rc;

    /* Checked here first, so a mistake is reported at once with its line and column. */
    if (ad_sweep_load(path, &sweep, &err))
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "%s", err.msg);
    if (cli->n_sets) {
        ad_sweep_t *set = NULL;

        rc = ad_job_sweep_set(sweep, cli->sets, cli->n_sets, &set, &err);
        ad_sweep_free(&sweep);
        if (rc)
            return ad_cli_fail(AD_CLI_EXIT_USAGE, "%s", err.msg);
        sweep = set;
    }
    spec = json_loads(ad_sweep_json(sweep), 0, NULL);
    if (!spec) {
        ad_sweep_free(&sweep);
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "%s: the sweep's JSON does not read back", path);
    }
    ad_sweep_hash(sweep, hash);
    if (ad_sweep_job(sweep, 0, &job, NULL, &err) == 0 && job.reservation.set) {
        rc = s_run_reserved(cli, sweep, spec, max_parallel, retry, force, interval, &job);
        json_decref(spec);
        ad_job_clear(&job);
        ad_sweep_free(&sweep);
        return rc;
    }
    ad_job_clear(&job);
    payload = json_pack("{s:o s:s s:b s:b s:b}", "sweep", spec, "file_hash", hash, "retry_failed",
                        retry, "force", force, "hold", hold);
    if (max_parallel > 0)
        json_object_set_new(payload, "max_parallel", json_integer(max_parallel));
    rc = ad_cli_call(cli, "SWEEP", payload, &reply);
    if (rc)
        goto out;
    if (!wait) {
        if (cli->json) {
            json_t *doc = json_pack("{s:O}", "sweep", reply);

            ad_cli_print_json(doc);
            json_decref(doc);
        } else {
            s_announce(reply);
            s_print_skipped(reply, 0);
            printf("follow it with `autodist sweep status %s`\n", ad_sweep_name(sweep));
        }
        goto out;
    }
    if (!cli->json) {
        s_announce(reply);
        f.skips_said = s_print_skipped(reply, 0);
    }
    f.cli = cli;
    f.name = ad_sweep_name(sweep);
    f.path = path;
    f.interval = interval;
    f.tty = isatty(STDOUT_FILENO);
    rc = s_follow(&f);
out:
    json_decref(reply);
    ad_sweep_free(&sweep);
    return rc;
}

/* ---- status and cancel ------------------------------------------------------------------------
 */

static void
s_print_table(const json_t *sweeps)
{
    static const char *const headers[] = {"ID",      "NAME",    "STATE",   "JOBS",
                                          "DONE",    "RUNNING", "PENDING", "FAILED",
                                          "SKIPPED", "ELAPSED", "ETA"};
    char cells_buf[9][32];
    const char *cells[11];
    ad_cli_table_t *t = ad_cli_table_new(11, headers);
    size_t i;
    json_t *s;

    json_array_foreach(sweeps, i, s)
    {
        snprintf(cells_buf[0], 32, "%lld", (long long)ad_cli_jint(s, "id", 0));
        snprintf(cells_buf[1], 32, "%lld", (long long)s_n(s, "total"));
        snprintf(cells_buf[2], 32, "%lld", (long long)s_n(s, "completed"));
        snprintf(cells_buf[3], 32, "%lld", (long long)s_n(s, "running"));
        snprintf(cells_buf[4], 32, "%lld", (long long)s_n(s, "pending"));
        snprintf(cells_buf[5], 32, "%lld", (long long)s_n(s, "failed"));
        cells[0] = cells_buf[0];
        cells[1] = ad_cli_jstr(s, "name");
        snprintf(cells_buf[8], 32, "%lld", (long long)s_n(s, "skipped"));
        /* Every queued job waits for nodes that are not there: no progress, no ETA. */
        cells[2] = json_is_true(json_object_get(s, "resolving")) ? "CHECKING"
                   : json_is_true(json_object_get(s, "stalled")) ? "WAITING"
                                                                 : ad_cli_jstr(s, "state");
        cells[3] = cells_buf[1];
        cells[4] = cells_buf[2];
        cells[5] = cells_buf[3];
        cells[6] = cells_buf[4];
        cells[7] = cells_buf[5];
        cells[8] = cells_buf[8];
        cells[9] = ad_cli_fmt_duration(ad_cli_jnum(s, "elapsed_s", NAN), cells_buf[6], 32);
        cells[10] = ad_cli_fmt_duration(ad_cli_jnum(s, "eta_s", NAN), cells_buf[7], 32);
        ad_cli_table_add(t, cells);
    }
    ad_cli_table_print(t, stdout);
    ad_cli_table_free(&t);
}

static int
s_status(ad_cli_t *cli, const char *name)
{
    json_t *reply = NULL, *s;
    ad_err_t err = {0};
    double t0 = ad_clock_now();
    int rc;

    if (!ad_cli_endpoint(cli))
        return AD_CLI_EXIT_USAGE;
    if (ad_cli_offline(cli))
        return ad_cli_sweep_status_offline(cli, name);
    for (;;) {
        rc = s_sweeps(cli, name, &reply, &err);
        if (rc)
            return ad_cli_fail(ad_cli_exit_for(rc), "%s", err.msg);
        s = s_first(reply);
        /* A sweep read back from the store is checked first: wait for exact counts. */
        if (!name || !s || !json_is_true(json_object_get(s, "resolving")) ||
            ad_clock_now() - t0 >= S_RESOLVE_WAIT_S)
            break;
        json_decref(reply);
        reply = NULL;
        if (!ad_cli_sleep(0.2))
            return AD_CLI_EXIT_INTERRUPTED;
    }
    if (cli->json) {
        ad_cli_print_json(reply);
    } else if (json_array_size(json_object_get(reply, "sweeps")) == 0) {
        printf("no sweeps (the coordinator lists those it ran or read back since it started; "
               "`autodist sweep status NAME` reads one back from the store)\n");
    } else {
        s_print_table(json_object_get(reply, "sweeps"));
        if (name && s) {
            int64_t before = ad_cli_jint(ad_cli_jobj(s, "before"), "completed", 0);

            if (before)
                printf("%lld jobs had completed before the sweep was last started\n",
                       (long long)before);
            if (json_is_true(json_object_get(s, "stalled")))
                printf("waiting: its queued jobs cannot start: %s\n",
                       ad_cli_jstr(s, "never_reason") ? ad_cli_jstr(s, "never_reason") : "?");
            s_print_failed(s);
            s_print_skipped(s, 0);
        }
    }
    json_decref(reply);
    return AD_CLI_EXIT_OK;
}

static int
s_cancel(ad_cli_t *cli, const char *name)
{
    json_t *reply = NULL, *later = NULL, *s;
    ad_err_t err = {0};
    int64_t stopping;
    int rc;

    rc = ad_cli_call(cli, "SWEEP_CANCEL", json_pack("{s:s}", "name", name), &reply);
    if (rc)
        return rc;
    stopping = ad_cli_jint(reply, "stopping", 0);
    /* Follow the running jobs until they are gone, so the command ends on their state. */
    for (double t0 = ad_clock_now(); stopping > 0 && ad_clock_now() - t0 < S_CANCEL_FOLLOW_S;) {
        if (!ad_cli_sleep(0.2))
            break;
        if (s_sweeps(cli, name, &later, &err))
            break;
        s = s_first(later);
        if (s && s_n(s, "running") == 0 && s_n(s, "queued") == 0) {
            json_object_set(reply, "sweep", s);
            json_object_set_new(reply, "stopped", json_true());
            stopping = 0;
        }
        json_decref(later);
        later = NULL;
    }
    s = ad_cli_jobj(reply, "sweep");
    if (cli->json) {
        ad_cli_print_json(reply);
    } else {
        printf("sweep %s CANCELLED: %lld queued job%s cancelled, %lld running job%s %s", name,
               (long long)ad_cli_jint(reply, "cancelled", 0),
               ad_cli_jint(reply, "cancelled", 0) == 1 ? "" : "s",
               (long long)ad_cli_jint(reply, "stopping", 0),
               ad_cli_jint(reply, "stopping", 0) == 1 ? "" : "s",
               stopping > 0 ? "still stopping" : "stopped");
        if (s)
            printf("; %lld of %lld jobs completed, %lld not started",
                   (long long)s_n(s, "completed"), (long long)s_n(s, "total"),
                   (long long)s_n(s, "todo"));
        printf("\n");
    }
    json_decref(reply);
    return AD_CLI_EXIT_OK;
}

/* ---- the command --------------------------------------------------------------------------------
 */

int
ad_cli_sweep(ad_cli_t *cli, int argc, char **argv)
{
    static const struct option longs[] = {
        {"max-parallel", required_argument, NULL, 'p'},
        {"retry-failed", no_argument, NULL, 'r'},
        {"force", no_argument, NULL, 'f'},
        {"no-wait", no_argument, NULL, 'n'},
        {"follow-interval", required_argument, NULL, 'i'},
        {"set", required_argument, NULL, 's'},
        {"hold", no_argument, NULL, 'H'},
        {"pending-ok", no_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    int64_t max_parallel = 0;
    bool retry = false, force = false, wait = true, run_options = false, hold = false;
    double interval = S_POLL_S;
    const char *arg, *sub;
    int c, npos;

    while ((c = ad_cli_getopt(cli, argc, argv, longs, &arg)) != AD_CLI_OPT_END) {
        switch (c) {
        case AD_CLI_OPT_HELP:
            return AD_CLI_EXIT_OK;
        case AD_CLI_OPT_ERROR:
            return AD_CLI_EXIT_USAGE;
        case 'p':
            if (ad_cli_parse_int("--max-parallel", arg, 1, AD_PROTO_SWEEP_PARALLEL_MAX,
                                 &max_parallel))
                return AD_CLI_EXIT_USAGE;
            break;
        case 'r':
            retry = true;
            break;
        case 'f':
            force = true;
            break;
        case 'n':
            wait = false;
            break;
        case 'H':
            hold = cli->hold = true;
            break;
        case 'i':
            if (ad_cli_parse_seconds("--follow-interval", arg, 0.1, 60, &interval))
                return AD_CLI_EXIT_USAGE;
            break;
        case 's':
            if (cli->n_sets == AD_CLI_SETS_MAX)
                return ad_cli_fail(AD_CLI_EXIT_USAGE, "sweep: at most %d --set", AD_CLI_SETS_MAX);
            cli->sets[cli->n_sets++] = arg;
            break;
        }
        run_options = true;
    }
    npos = argc - optind;
    if (npos < 1)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "sweep: give a sweep file, or status [NAME] or "
                                              "cancel NAME (see autodist sweep --help)");
    sub = argv[optind];
    if (!strcmp(sub, "status") || !strcmp(sub, "cancel")) {
        bool cancel = sub[0] == 'c';

        if (run_options)
            return ad_cli_fail(AD_CLI_EXIT_USAGE,
                               "sweep %s: --max-parallel, --retry-failed, --force, --no-wait, "
                               "--hold, --follow-interval and --set go with a sweep file",
                               sub);
        if (npos > 2)
            return ad_cli_fail(AD_CLI_EXIT_USAGE, "sweep %s: one sweep at a time, got also \"%s\"",
                               sub, argv[optind + 2]);
        if (cancel && npos < 2)
            return ad_cli_fail(AD_CLI_EXIT_USAGE, "sweep cancel: give the sweep's name");
        if (npos == 2 && (!*argv[optind + 1] || strlen(argv[optind + 1]) > AD_SWEEP_NAME_MAX))
            return ad_cli_fail(AD_CLI_EXIT_USAGE, "sweep %s: a sweep name has 1..%d characters",
                               sub, AD_SWEEP_NAME_MAX);
        if (cancel)
            return s_cancel(cli, argv[optind + 1]);
        return s_status(cli, npos == 2 ? argv[optind + 1] : NULL);
    }
    /* `sweep staus`: a misspelt subcommand, not a missing file. */
    if (!strchr(sub, '.') && !strchr(sub, '/') && access(sub, F_OK)) {
        static const char *const subs[] = {"status", "cancel"};

        if (ad_suggest(sub, subs, 2, 3, true))
            return ad_cli_no_sub("sweep", sub, subs, 2);
    }
    if (npos > 1)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "sweep: one sweep file at a time, got also \"%s\"",
                           argv[optind + 1]);
    return s_run(cli, sub, max_parallel, retry, force, wait, hold, interval);
}
