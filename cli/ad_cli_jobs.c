/* ad_cli_jobs.c - submit, status, cancel, logs and jobs: the job requests */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "ad_cli.h"
#include "autodist/ad_job.h"
#include "autodist/ad_proto.h"
#include "autodist/ad_store.h"

/* Default seconds between two STATUS requests of --wait and --follow. */
#define S_POLL_S 0.5

/* submit --hold of a job no node fits yet: say so, it waits for nodes. */
static void
s_say_held(ad_cli_t *cli, const json_t *reply)
{
    if (ad_cli_jstr(reply, "held") && !cli->json)
        printf("held (--hold): %s; it stays PENDING until such nodes are UP\n",
               ad_cli_jstr(reply, "held"));
}

int
ad_cli_submit(ad_cli_t *cli, int argc, char **argv)
{
    static const struct option longs[] = {
        {"wait", no_argument, NULL, 'w'},
        {"follow-interval", required_argument, NULL, 'i'},
        {"set", required_argument, NULL, 's'},
        {"tag", required_argument, NULL, 't'},
        {"note", required_argument, NULL, 'N'},
        {"hold", no_argument, NULL, 'H'},
        {"pending-ok", no_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    const char *sets[AD_CLI_SETS_MAX];
    size_t n_sets = 0;
    json_t *tags = json_object();
    const char *note = NULL;
    bool hold = false; /* --hold: accept a job no node fits yet, PENDING until nodes come */
    ad_job_t job = {0};
    ad_err_t err = {0};
    json_t *spec, *reply = NULL;
    bool wait = false;
    double interval = S_POLL_S;
    const char *arg, *path;
    char *text;
    int64_t id;
    int c, rc;

    while ((c = ad_cli_getopt(cli, argc, argv, longs, &arg)) != AD_CLI_OPT_END) {
        switch (c) {
        case AD_CLI_OPT_HELP:
            json_decref(tags);
            return AD_CLI_EXIT_OK;
        case AD_CLI_OPT_ERROR:
            json_decref(tags);
            return AD_CLI_EXIT_USAGE;
        case 'w':
            wait = true;
            break;
        case 'H':
            hold = true;
            cli->hold = true;
            break;
        case 'i':
            if (ad_cli_parse_seconds("--follow-interval", arg, 0.1, 60, &interval)) {
                json_decref(tags);
                return AD_CLI_EXIT_USAGE;
            }
            break;
        case 't':
            if (ad_cli_tag_arg(arg, tags)) {
                json_decref(tags);
                return AD_CLI_EXIT_USAGE;
            }
            break;
        case 'N':
            note = arg;
            break;
        case 's':
            if (n_sets == AD_CLI_SETS_MAX) {
                json_decref(tags);
                return ad_cli_fail(AD_CLI_EXIT_USAGE, "submit: at most %d --set", AD_CLI_SETS_MAX);
            }
            sets[n_sets++] = arg;
            break;
        }
    }
    if (optind >= argc || optind + 1 < argc) {
        json_decref(tags);
        if (optind >= argc)
            return ad_cli_fail(AD_CLI_EXIT_USAGE, "submit: give a job file (autodist submit "
                                                  "JOB.yaml, or - for stdin; see --help)");
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "submit: one job file at a time, got also \"%s\"",
                           argv[optind + 1]);
    }
    path = argv[optind];
    /* The file is checked here, so a typo is reported at once, with its line and column. */
    if (ad_job_parse_file_set(path, sets, n_sets, &job, &err)) {
        json_decref(tags);
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "%s", err.msg);
    }
    /* --tag and --note join (and override) the file's tags: and note: (docs/jobfile.md). */
    rc = ad_cli_job_meta(&job, tags, note);
    json_decref(tags);
    if (rc) {
        ad_job_clear(&job);
        return rc;
    }
    if (job.reservation.set) {
        /* Batch-system nodes: reserve, run there, release; always waits (docs/grid5000.md). */
        rc = ad_cli_resv_submit(cli, &job, interval);
        ad_job_clear(&job);
        return rc;
    }
    text = ad_job_to_json(&job);
    spec = json_loads(text, 0, NULL);
    free(text);
    if (!spec) {
        ad_job_clear(&job);
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "%s: the job's JSON does not read back", path);
    }
    rc = ad_cli_call(cli, "SUBMIT",
                     json_pack("{s:o s:b s:s}", "job", spec, "hold", hold, "file", path), &reply);
    if (rc)
        goto out;
    id = ad_cli_jint(reply, "job", 0);
    if (id < 1) {
        rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "the coordinator's answer to SUBMIT has no job id");
        goto out;
    }
    if (!wait) {
        if (cli->json)
            ad_cli_print_json(reply);
        else
            printf("submitted job %lld (%s)\n", (long long)id, job.name);
        s_say_held(cli, reply);
        goto out;
    }
    if (!cli->json) {
        printf("submitted job %lld (%s)\n", (long long)id, job.name);
        s_say_held(cli, reply);
        fflush(stdout);
    }
    rc = ad_cli_wait_job(cli, id, job.name, interval, NULL, NULL);
out:
    json_decref(reply);
    ad_job_clear(&job);
    return rc;
}

/* ---- status and jobs -------------------------------------------------------------------- */

/* Parse a command that takes no options of its own; returns the index of the first positional. */
static int
s_plain_options(ad_cli_t *cli, int argc, char **argv, int *first)
{
    const char *arg;
    int c;

    while ((c = ad_cli_getopt(cli, argc, argv, NULL, &arg)) != AD_CLI_OPT_END) {
        if (c == AD_CLI_OPT_HELP)
            return AD_CLI_OPT_HELP;
        return AD_CLI_EXIT_USAGE;
    }
    *first = optind;
    return 0;
}

static void
s_print_status(const json_t *jobs)
{
    static const char *const headers[] = {"ID",    "NAME",     "STATE",   "LAYOUT",
                                          "NODES", "PROGRESS", "ELAPSED", "REASON"};
    ad_cli_table_t *t = ad_cli_table_new(8, headers);
    char id[24], layout[64], progress[128], elapsed[32];
    const char *cells[8];
    size_t i;
    json_t *j;

    json_array_foreach(jobs, i, j)
    {
        snprintf(id, sizeof(id), "%lld", (long long)ad_cli_jint(j, "id", 0));
        cells[0] = id;
        cells[1] = ad_cli_jstr(j, "name");
        cells[2] = ad_cli_jstr(j, "state");
        cells[3] = ad_cli_job_layout(j, layout, sizeof(layout));
        cells[4] = ad_cli_jstr(j, "nodelist");
        cells[5] = ad_cli_job_progress(j, progress, sizeof(progress));
        cells[6] = ad_cli_fmt_duration(ad_cli_job_elapsed(j), elapsed, sizeof(elapsed));
        cells[7] = ad_cli_jstr(j, "reason");
        ad_cli_table_add(t, cells);
    }
    ad_cli_table_print(t, stdout);
    ad_cli_table_free(&t);
}

int
ad_cli_status(ad_cli_t *cli, int argc, char **argv)
{
    json_t *payload = NULL, *reply = NULL, *jobs;
    int64_t id = 0;
    int first = 0, rc;

    rc = s_plain_options(cli, argc, argv, &first);
    if (rc)
        return rc == AD_CLI_OPT_HELP ? AD_CLI_EXIT_OK : rc;
    if (argc - first > 1)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "status: at most one job, got also \"%s\"",
                           argv[first + 1]);
    if (argc - first == 1) {
        rc = ad_cli_parse_job_id(argv[first], &id);
        if (rc)
            return rc;
        payload = json_pack("{s:I}", "job", (json_int_t)id);
    }
    /* No coordinator: the store answers (docs/cli.md "History without a coordinator"). */
    rc = ad_cli_call_or_store(cli, "STATUS", payload ? payload : json_object(), &reply);
    if (rc)
        return rc;
    jobs = json_object_get(reply, "jobs");
    if (cli->json)
        ad_cli_print_json(reply);
    else if (json_array_size(jobs) == 0)
        printf("no live jobs (`autodist jobs` lists the finished ones)\n");
    else
        s_print_status(jobs);
    if (!cli->json && id > 0)
        ad_cli_auto_print(json_array_get(jobs, 0), stdout);
    json_decref(reply);
    return AD_CLI_EXIT_OK;
}

int
ad_cli_jobs(ad_cli_t *cli, int argc, char **argv)
{
    static const struct option longs[] = {
        {"state", required_argument, NULL, 's'},
        {"name", required_argument, NULL, 'n'},
        {"limit", required_argument, NULL, 'l'},
        {NULL, 0, NULL, 0},
    };
    static const char *const headers[] = {"ID",        "NAME",    "STATE", "LAYOUT", "NODES",
                                          "SUBMITTED", "ELAPSED", "EXIT",  "REASON"};
    json_t *filter = json_object(), *reply = NULL, *j;
    char id[24], layout[64], submitted[32], elapsed[32], exit_code[24];
    const char *cells[9], *arg;
    ad_job_state_t st;
    ad_cli_table_t *t;
    int64_t limit;
    size_t i;
    int c, rc;

    while ((c = ad_cli_getopt(cli, argc, argv, longs, &arg)) != AD_CLI_OPT_END) {
        switch (c) {
        case AD_CLI_OPT_HELP:
            json_decref(filter);
            return AD_CLI_EXIT_OK;
        case AD_CLI_OPT_ERROR:
            json_decref(filter);
            return AD_CLI_EXIT_USAGE;
        case 's':
            if (ad_store_job_state_from_name(arg, &st)) {
                json_decref(filter);
                return ad_cli_fail(AD_CLI_EXIT_USAGE,
                                   "--state must be PENDING, RUNNING, COMPLETED, FAILED, "
                                   "CANCELLED, TIMEOUT or NODE_FAIL, got \"%s\"",
                                   arg);
            }
            json_object_set_new(filter, "state", json_string(ad_store_job_state_name(st)));
            break;
        case 'n':
            if (!*arg || strlen(arg) > 255) {
                json_decref(filter);
                return ad_cli_fail(AD_CLI_EXIT_USAGE, "--name must be 1..255 bytes");
            }
            json_object_set_new(filter, "name", json_string(arg));
            break;
        case 'l':
            if (ad_cli_parse_int("--limit", arg, 1, 100000, &limit)) {
                json_decref(filter);
                return AD_CLI_EXIT_USAGE;
            }
            json_object_set_new(filter, "limit", json_integer(limit));
            break;
        }
    }
    if (optind < argc) {
        json_decref(filter);
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "jobs: unexpected argument \"%s\"", argv[optind]);
    }
    rc = ad_cli_call_or_store(cli, "JOBS", json_pack("{s:o}", "filter", filter), &reply);
    if (rc)
        return rc;
    if (cli->json) {
        ad_cli_print_json(reply);
        json_decref(reply);
        return AD_CLI_EXIT_OK;
    }
    if (json_array_size(json_object_get(reply, "jobs")) == 0) {
        printf("no jobs\n");
        json_decref(reply);
        return AD_CLI_EXIT_OK;
    }
    t = ad_cli_table_new(9, headers);
    json_array_foreach(json_object_get(reply, "jobs"), i, j)
    {
        int64_t code = ad_cli_jint(j, "exit_code", INT64_MIN);

        snprintf(id, sizeof(id), "%lld", (long long)ad_cli_jint(j, "id", 0));
        snprintf(exit_code, sizeof(exit_code), "%lld", (long long)code);
        cells[0] = id;
        cells[1] = ad_cli_jstr(j, "name");
        cells[2] = ad_cli_jstr(j, "state");
        cells[3] = ad_cli_job_layout(j, layout, sizeof(layout));
        cells[4] = ad_cli_jstr(j, "nodelist");
        cells[5] = ad_cli_fmt_time(ad_cli_jnum(j, "submitted", NAN), submitted, sizeof(submitted));
        cells[6] = ad_cli_fmt_duration(ad_cli_job_elapsed(j), elapsed, sizeof(elapsed));
        cells[7] = code == INT64_MIN ? NULL : exit_code;
        cells[8] = ad_cli_jstr(j, "reason");
        ad_cli_table_add(t, cells);
    }
    ad_cli_table_print(t, stdout);
    ad_cli_table_free(&t);
    json_decref(reply);
    return AD_CLI_EXIT_OK;
}

/* ---- cancel ------------------------------------------------------------------------------- */

/*
 * A RUNNING job answers CANCEL with `stopping`: its ranks got SIGTERM.  Follow
 * it (at most 20 s: the coordinator's default grace before SIGKILL is 10 s) so
 * the command ends on the state the job ends in.  Returns the final state
 * (static) or NULL when it is still stopping.
 */
static const char *
s_cancel_follow(ad_cli_t *cli, int64_t id)
{
    static char state[32];
    ad_err_t err = {0};
    json_t *reply = NULL;

    for (double t0 = ad_cli_now(); ad_cli_now() - t0 < 20;) {
        const char *st;

        if (!ad_cli_sleep(0.2))
            return NULL;
        if (ad_cli_request(cli, "STATUS", json_pack("{s:I}", "job", (json_int_t)id),
                           AD_PROTO_REQUEST_TIMEOUT_MS, &reply, &err))
            return NULL;
        st = ad_cli_jstr(json_array_get(json_object_get(reply, "jobs"), 0), "state");
        if (st && strcmp(st, "RUNNING") && strcmp(st, "PENDING")) {
            snprintf(state, sizeof(state), "%s", st);
            json_decref(reply);
            return state;
        }
        json_decref(reply);
        reply = NULL;
    }
    return NULL;
}

int
ad_cli_cancel(ad_cli_t *cli, int argc, char **argv)
{
    json_t *doc = NULL, *reply = NULL;
    int64_t *ids;
    ad_err_t err = {0};
    int first = 0, n, rc, status = AD_CLI_EXIT_OK;

    rc = s_plain_options(cli, argc, argv, &first);
    if (rc)
        return rc == AD_CLI_OPT_HELP ? AD_CLI_EXIT_OK : rc;
    n = argc - first;
    if (n < 1)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "cancel: give the jobs to cancel (autodist cancel "
                                              "JOB...)");
    ids = ad_calloc((size_t)n, sizeof(*ids));
    for (int i = 0; i < n; i++) {
        if (ad_cli_parse_job_id(argv[first + i], &ids[i])) {
            free(ids);
            return AD_CLI_EXIT_USAGE;
        }
    }
    if (!ad_cli_endpoint(cli)) {
        free(ids);
        return AD_CLI_EXIT_USAGE;
    }
    if (cli->json)
        doc = json_array();
    for (int i = 0; i < n; i++) {
        rc = ad_cli_request(cli, "CANCEL", json_pack("{s:I}", "job", (json_int_t)ids[i]),
                            AD_PROTO_REQUEST_TIMEOUT_MS, &reply, &err);
        if (rc == -ETIMEDOUT || rc == -EINTR) {
            status = ad_cli_fail(ad_cli_exit_for(rc), "%s", err.msg);
            break;
        }
        if (rc) {
            ad_cli_fail(AD_CLI_EXIT_ERROR, "job %lld: %s", (long long)ids[i], err.msg);
            status = AD_CLI_EXIT_ERROR;
            if (doc)
                json_array_append_new(doc, json_pack("{s:I s:{s:s s:s}}", "job", (json_int_t)ids[i],
                                                     "error", "code", ad_proto_error_name(rc),
                                                     "message", err.msg));
            continue;
        }
        if (ad_cli_jstr(reply, "stopping")) {
            const char *final = s_cancel_follow(cli, ids[i]);

            if (final)
                json_object_set_new(reply, "state", json_string(final));
            json_object_set_new(reply, "stopped", json_boolean(final != NULL));
        }
        if (doc) {
            json_array_append(doc, reply);
        } else if (ad_cli_jstr(reply, "stopping") && !json_is_true(json_object_get(reply,
                                                                                  "stopped"))) {
            printf("job %lld is stopping (SIGTERM sent; SIGKILL follows after the coordinator's "
                   "grace); see autodist status %lld\n", (long long)ids[i], (long long)ids[i]);
        } else {
            const char *state = ad_cli_jstr(reply, "state");

            printf("job %lld %s\n", (long long)ids[i], state ? state : "?");
        }
        json_decref(reply);
        reply = NULL;
    }
    if (doc) {
        json_t *out = json_pack("{s:o}", "jobs", doc);

        ad_cli_print_json(out);
        json_decref(out);
    }
    free(ids);
    return status;
}

/* ---- logs ------------------------------------------------------------------------------------ */

int
ad_cli_print_log_json(int64_t id, const char *data, size_t len, int64_t offset, bool eof,
                      bool from_store)
{
    json_t *doc = json_pack("{s:I s:s% s:I s:b}", "job", (json_int_t)id, "data", data ? data : "",
                            data ? len : 0, "offset", (json_int_t)offset, "eof", eof);

    if (!doc)
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "job %lld: the log is not valid UTF-8",
                           (long long)id);
    if (from_store)
        json_object_set_new(doc, "from_store", json_true());
    ad_cli_print_json(doc);
    json_decref(doc);
    return AD_CLI_EXIT_OK;
}

int
ad_cli_logs(ad_cli_t *cli, int argc, char **argv)
{
    static const struct option longs[] = {
        {"follow", no_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    /* What one LOGS request asks for; a shorter answer means we are at the end for now. */
    const int64_t chunk = 1024 * 1024;
    json_t *reply = NULL;
    ad_err_t err = {0};
    bool follow = false, eof = false;
    int64_t id, offset = 0;
    char *all = NULL;
    size_t all_len = 0;
    const char *arg;
    int c, rc = AD_CLI_EXIT_OK;

    while ((c = ad_cli_getopt(cli, argc, argv, longs, &arg)) != AD_CLI_OPT_END) {
        if (c == AD_CLI_OPT_HELP)
            return AD_CLI_EXIT_OK;
        if (c == AD_CLI_OPT_ERROR)
            return AD_CLI_EXIT_USAGE;
        follow = true;
    }
    if (optind >= argc)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "logs: give a job (autodist logs JOB)");
    if (optind + 1 < argc)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "logs: one job at a time, got also \"%s\"",
                           argv[optind + 1]);
    if (ad_cli_parse_job_id(argv[optind], &id))
        return AD_CLI_EXIT_USAGE;
    if (!ad_cli_endpoint(cli))
        return AD_CLI_EXIT_USAGE;
    /* No coordinator: the job's output.log in the home (it wrote all it will). */
    if (ad_cli_offline(cli))
        return ad_cli_logs_offline(cli, id);
    if (follow)
        ad_cli_catch_interrupt(true);
    while (!eof) {
        const char *data;
        size_t len;

        rc = ad_cli_request(cli, "LOGS",
                            json_pack("{s:I s:I s:I}", "job", (json_int_t)id, "offset",
                                      (json_int_t)offset, "max_bytes", (json_int_t)chunk),
                            AD_PROTO_REQUEST_TIMEOUT_MS, &reply, &err);
        if (ad_cli_interrupted || rc == -EINTR) {
            rc = AD_CLI_EXIT_INTERRUPTED;
            break;
        }
        if (rc == -ETIMEDOUT && offset == 0 && !follow && ad_cli_home(cli) &&
            access(ad_cli_home(cli)->db, F_OK) == 0) {
            /* A coordinator that does not answer in time: what the log file holds. */
            fprintf(stderr, "autodist: %s; reading the log file instead\n", err.msg);
            free(all);
            return ad_cli_logs_offline(cli, id);
        }
        if (rc) {
            rc = ad_cli_fail(ad_cli_exit_for(rc), "%s", err.msg);
            break;
        }
        data = ad_cli_jstr(reply, "data");
        len = data ? json_string_length(json_object_get(reply, "data")) : 0;
        offset = ad_cli_jint(reply, "offset", offset + (int64_t)len);
        eof = json_is_true(json_object_get(reply, "eof"));
        if (cli->json) {
            all = ad_realloc(all, all_len + len + 1);
            memcpy(all + all_len, data ? data : "", len);
            all_len += len;
        } else if (len) {
            fwrite(data, 1, len, stdout);
            fflush(stdout);
        }
        json_decref(reply);
        reply = NULL;
        if (eof || (int64_t)len >= chunk)
            continue;
        if (!follow)
            break;
        if (!ad_cli_sleep(S_POLL_S)) {
            rc = AD_CLI_EXIT_INTERRUPTED;
            break;
        }
    }
    if (follow)
        ad_cli_catch_interrupt(false);
    if (rc == AD_CLI_EXIT_INTERRUPTED)
        fprintf(stderr, "autodist: stopped following job %lld (it goes on)\n", (long long)id);
    if (cli->json && (rc == AD_CLI_EXIT_OK || rc == AD_CLI_EXIT_INTERRUPTED)) {
        int prc = ad_cli_print_log_json(id, all, all_len, offset, eof, false);

        if (prc)
            rc = prc;
    }
    free(all);
    return rc;
}
