/* ad_cli_history.c - `autodist history`: one line per job from the store, as sacct prints them */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ad_cli.h"
#include "ad_filter.h"

/*
 * It reads HOME/runs.db only, so it answers the same with a coordinator, without
 * one, and on a store copied back from a cluster (docs/cli.md "autodist history").
 * CPU time and peak memory are the columns cpu_time_s and max_rss_bytes of the
 * job's last run: "-" when the run did not measure them.
 */

enum {
    S_OPT_STATE = 256,
    S_OPT_SINCE,
    S_OPT_NAME,
    S_OPT_LIMIT,
};

/* What the command line selects. */
typedef struct history_opts {
    unsigned states;  /* AD_JOB_MASK() bits; 0 = all */
    double since;     /* submitted at or after (unix s); NaN = any */
    const char *name; /* exact name, or a LIKE pattern when it holds '%'; NULL = any */
    int64_t *ids;     /* job ids; NULL = all */
    size_t nids;      /* how many */
    int64_t limit;    /* the newest K jobs; 0 = all */
} history_opts_t;

/* Parse --state A[,B...] into a mask.  Returns 0 or 2 after printing why. */
static int
s_states(const char *arg, unsigned *mask)
{
    char *copy = ad_strdup(arg), *save = NULL;
    int rc = 0;

    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        ad_job_state_t st;

        while (isspace((unsigned char)*tok))
            tok++;
        if (ad_store_job_state_from_name(tok, &st)) {
            rc = ad_cli_fail(AD_CLI_EXIT_USAGE,
                             "--state: PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT or "
                             "NODE_FAIL (comma-separated), got \"%s\"",
                             tok);
            break;
        }
        *mask |= AD_JOB_MASK(st);
    }
    free(copy);
    return rc;
}

/*
 * Parse --since: a local date "YYYY-MM-DD", "YYYY-MM-DD HH:MM[:SS]" (or a
 * 'T' between), or an age "90s", "30m", "2h", "7d" before now.
 */
static int
s_since(const char *arg, double *out)
{
    struct tm tm = {0};
    const char *end;
    char *num_end;
    double v;

    v = strtod(arg, &num_end);
    if (num_end != arg && isfinite(v) && v >= 0 && num_end[0] && !num_end[1] &&
        strchr("smhd", num_end[0])) {
        double unit = num_end[0] == 's'   ? 1
                      : num_end[0] == 'm' ? 60
                      : num_end[0] == 'h' ? 3600
                                          : 86400;

        *out = ad_cli_now() - v * unit;
        return 0;
    }
    end = strptime(arg, "%Y-%m-%d", &tm);
    if (end && (*end == ' ' || *end == 'T')) {
        const char *t = end + 1;

        end = strptime(t, "%H:%M:%S", &tm);
        if (!end)
            end = strptime(t, "%H:%M", &tm);
    }
    if (!end || *end)
        return ad_cli_fail(AD_CLI_EXIT_USAGE,
                           "--since: a date (2026-12-06, \"2026-12-06 14:30\") or an age (30m, 2h, "
                           "7d), got \"%s\"",
                           arg);
    tm.tm_isdst = -1;
    *out = (double)mktime(&tm);
    return 0;
}

/* Add the ids of one argument: "7", "3,5" or "3-6".  Returns 0 or 2 after printing why. */
static int
s_ids(const char *arg, history_opts_t *o)
{
    char *copy = ad_strdup(arg), *save = NULL;
    int rc = 0;

    for (char *tok = strtok_r(copy, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save)) {
        char *dash = strchr(tok + 1, '-');
        int64_t lo, hi;

        if (dash)
            *dash = '\0';
        rc = ad_cli_parse_job_id(tok, &lo);
        hi = lo;
        if (!rc && dash)
            rc = ad_cli_parse_job_id(dash + 1, &hi);
        if (!rc && (hi < lo || hi - lo > 100000))
            rc = ad_cli_fail(AD_CLI_EXIT_USAGE, "history: bad job range \"%s-%s\"", tok, dash + 1);
        for (int64_t id = lo; !rc && id <= hi; id++) {
            o->ids = ad_realloc(o->ids, (o->nids + 1) * sizeof(*o->ids));
            o->ids[o->nids++] = id;
        }
    }
    free(copy);
    return rc;
}

static int
s_parse(ad_cli_t *cli, int argc, char **argv, history_opts_t *o)
{
    static const struct option longs[] = {
        {"state", required_argument, NULL, S_OPT_STATE},
        {"since", required_argument, NULL, S_OPT_SINCE},
        {"name", required_argument, NULL, S_OPT_NAME},
        {"limit", required_argument, NULL, S_OPT_LIMIT},
        {NULL, 0, NULL, 0},
    };
    const char *arg;
    int c, rc;

    o->since = NAN;
    while ((c = ad_cli_getopt(cli, argc, argv, longs, &arg)) != AD_CLI_OPT_END) {
        switch (c) {
        case AD_CLI_OPT_HELP:
            return AD_CLI_OPT_HELP;
        case S_OPT_STATE:
            if ((rc = s_states(arg, &o->states)))
                return rc;
            break;
        case S_OPT_SINCE:
            if ((rc = s_since(arg, &o->since)))
                return rc;
            break;
        case S_OPT_NAME:
            o->name = arg;
            break;
        case S_OPT_LIMIT:
            if (ad_cli_parse_int("--limit", arg, 1, 100000000, &o->limit))
                return AD_CLI_EXIT_USAGE;
            break;
        default:
            return AD_CLI_EXIT_USAGE;
        }
    }
    for (int i = optind; i < argc; i++)
        if ((rc = s_ids(argv[i], o)))
            return rc;
    return 0;
}

static bool
s_selected(const history_opts_t *o, const ad_job_row_t *j)
{
    if (o->states && !(o->states & AD_JOB_MASK(j->state)))
        return false;
    if (!isnan(o->since) && !(j->submitted >= o->since))
        return false;
    if (o->name) {
        const char *n = j->name ? j->name : "";

        if (strchr(o->name, '%') ? !ad_filter_like(n, o->name) : strcmp(n, o->name) != 0)
            return false;
    }
    if (o->nids) {
        size_t i;

        for (i = 0; i < o->nids && o->ids[i] != j->id; i++)
            ;
        if (i == o->nids)
            return false;
    }
    return true;
}

/* Bytes as sacct's MaxRSS reads: 812K, 153M, 1.2G. */
static char *
s_bytes(int64_t b, char *buf, size_t size)
{
    static const char units[] = "KMGTP";
    double v = (double)b / 1024;
    int u = 0;

    if (b <= 0) {
        snprintf(buf, size, "-");
        return buf;
    }
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    snprintf(buf, size, v < 10 ? "%.1f%c" : "%.0f%c", v, units[u]);
    return buf;
}

/* One job and what its run measured. */
typedef struct history_row {
    const ad_job_row_t *job;
    double elapsed;    /* s; NaN = not started */
    double cpu_time_s; /* NaN = not measured */
    int64_t max_rss;   /* bytes; 0 = not measured */
} history_row_t;

static json_t *
s_row_json(const history_row_t *h)
{
    const ad_job_row_t *j = h->job;
    json_t *o = json_object();

    json_object_set_new(o, "job", json_integer(j->id));
    json_object_set_new(o, "name", json_string(j->name ? j->name : ""));
    json_object_set_new(o, "state", json_string(ad_store_job_state_name(j->state)));
    json_object_set_new(o, "exit_code",
                        j->exit_code == AD_STORE_NO_EXIT ? json_null()
                                                         : json_integer(j->exit_code));
    json_object_set_new(o, "submitted",
                        isnan(j->submitted) ? json_null() : json_real(j->submitted));
    json_object_set_new(o, "started", isnan(j->started) ? json_null() : json_real(j->started));
    json_object_set_new(o, "ended", isnan(j->ended) ? json_null() : json_real(j->ended));
    json_object_set_new(o, "elapsed_s", isnan(h->elapsed) ? json_null() : json_real(h->elapsed));
    json_object_set_new(o, "nodelist", j->nodelist ? json_string(j->nodelist) : json_null());
    json_object_set_new(o, "nodes", json_integer(j->nodes));
    json_object_set_new(o, "procs_per_node", json_integer(j->procs_per_node));
    json_object_set_new(o, "threads_per_proc", json_integer(j->threads_per_proc));
    json_object_set_new(o, "cpu_time_s",
                        isnan(h->cpu_time_s) ? json_null() : json_real(h->cpu_time_s));
    json_object_set_new(o, "max_rss_bytes",
                        h->max_rss > 0 ? json_integer(h->max_rss) : json_null());
    json_object_set_new(o, "reason", j->reason ? json_string(j->reason) : json_null());
    json_object_set_new(o, "run", j->run > 0 ? json_integer(j->run) : json_null());
    json_object_set_new(o, "sweep", j->sweep > 0 ? json_integer(j->sweep) : json_null());
    json_object_set_new(o, "attempts", json_integer(j->attempts));
    return o;
}

static void
s_row_cells(const history_row_t *h, ad_cli_table_t *t)
{
    const ad_job_row_t *j = h->job;
    char id[24], code[24], start[32], elapsed[32], cpu[32], rss[32];
    const char *cells[10];

    snprintf(id, sizeof(id), "%lld", (long long)j->id);
    snprintf(code, sizeof(code), "%d", j->exit_code);
    cells[0] = id;
    cells[1] = j->name;
    cells[2] = ad_store_job_state_name(j->state);
    cells[3] = j->exit_code == AD_STORE_NO_EXIT ? "-" : code;
    cells[4] = ad_cli_fmt_time(j->started, start, sizeof(start));
    cells[5] = ad_cli_fmt_duration(h->elapsed, elapsed, sizeof(elapsed));
    cells[6] = j->nodelist;
    cells[7] = ad_cli_fmt_duration(h->cpu_time_s, cpu, sizeof(cpu));
    cells[8] = s_bytes(h->max_rss, rss, sizeof(rss));
    cells[9] = j->reason;
    ad_cli_table_add(t, cells);
}

int
ad_cli_history(ad_cli_t *cli, int argc, char **argv)
{
    static const char *const headers[] = {"JOB",     "NAME",  "STATE",    "EXIT",   "START",
                                          "ELAPSED", "NODES", "CPU-TIME", "MAXRSS", "REASON"};
    history_opts_t o = {0};
    ad_job_row_t *rows = NULL;
    ad_store_t *store = NULL;
    ad_cli_table_t *t = NULL;
    ad_cli_json_list_t jl;
    const char *db = NULL;
    size_t n = 0, first = 0, shown = 0;
    int rc;

    rc = s_parse(cli, argc, argv, &o);
    if (rc) {
        free(o.ids);
        return rc == AD_CLI_OPT_HELP ? AD_CLI_EXIT_OK : rc;
    }
    rc = ad_cli_open_store(cli, &store, &db);
    if (rc)
        goto out;
    if (store && ad_store_list_jobs(store, o.states, &rows, &n)) {
        rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", ad_store_errmsg(store));
        goto out;
    }
    if (o.limit > 0) {
        /* The newest K selected jobs, still printed oldest first as sacct does. */
        size_t keep = 0;

        for (first = n; first > 0 && keep < (size_t)o.limit; first--)
            keep += s_selected(&o, &rows[first - 1]);
    }
    if (cli->json)
        ad_cli_json_list_begin(&jl, "jobs");
    else
        t = ad_cli_table_new(10, headers);
    for (size_t i = first; i < n; i++) {
        history_row_t h = {.job = &rows[i], .cpu_time_s = NAN};

        if (!s_selected(&o, &rows[i]))
            continue;
        if (!isnan(rows[i].started))
            h.elapsed = (isnan(rows[i].ended) ? ad_cli_now() : rows[i].ended) - rows[i].started;
        else
            h.elapsed = NAN;
        if (rows[i].run > 0 &&
            ad_store_run_usage(store, rows[i].run, &h.cpu_time_s, &h.max_rss) == AD_EDB) {
            rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", ad_store_errmsg(store));
            goto out;
        }
        shown++;
        if (cli->json)
            ad_cli_json_list_item(&jl, s_row_json(&h));
        else
            s_row_cells(&h, t);
    }
    if (cli->json)
        ad_cli_json_list_end(&jl);
    else if (!store)
        printf("no jobs yet (%s does not exist)\n", db);
    else if (shown == 0)
        printf(n ? "no jobs match (%s)\n" : "no jobs yet (%s has none)\n", db);
    else
        ad_cli_table_print(t, stdout);
out:
    ad_cli_table_free(&t);
    ad_store_job_rows_free(&rows, n);
    ad_store_close(&store);
    free(o.ids);
    return rc;
}
