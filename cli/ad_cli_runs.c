/* ad_cli_runs.c - `autodist runs` and `autodist speedup`: runs and speedups, read from the store */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ad_cli.h"
#include "ad_filter.h"
#include "autodist/ad_store.h"

/*
 * Both commands read HOME/runs.db directly (read-only), so they work without
 * a coordinator and on a store copied back from a cluster.  A --where
 * expression (cli/ad_filter.c, docs/speedup.md) is parsed before the store is
 * opened; what the store can select by itself (equalities on the layout
 * key, a job, a sweep, states) is pushed into its filter, the rest is
 * evaluated here on each row.
 */

/* How the rows are printed. */
typedef enum { S_OUT_TABLE = 0, S_OUT_JSON, S_OUT_CSV } out_t;

/* Options shared by runs and speedup. */
enum {
    S_OPT_MODEL = 256,
    S_OPT_DATASET,
    S_OPT_JOB,
    S_OPT_LIMIT,
    S_OPT_WHERE,
    S_OPT_CSV,
    S_OPT_SORT,
    S_OPT_PLOT,
};

/* What the command line asked for. */
typedef struct opts {
    ad_run_filter_t filter; /* the simple flags (--model, --dataset, --job) */
    int64_t limit;          /* --limit; 0 = all */
    const char *where;      /* --where; NULL = none */
    out_t out;              /* table, --json or --csv */
    const char *sort;       /* --sort (speedup) */
    const char *plot;       /* --plot FILE (speedup) */
} opts_t;

/* ---- shared -------------------------------------------------------------------------------- */

static int
s_parse(ad_cli_t *cli, int argc, char **argv, bool speedup, opts_t *o)
{
    static const struct option runs_longs[] = {
        {"model", required_argument, NULL, S_OPT_MODEL},
        {"dataset", required_argument, NULL, S_OPT_DATASET},
        {"job", required_argument, NULL, S_OPT_JOB},
        {"limit", required_argument, NULL, S_OPT_LIMIT},
        {"where", required_argument, NULL, S_OPT_WHERE},
        {"csv", no_argument, NULL, S_OPT_CSV},
        {NULL, 0, NULL, 0},
    };
    static const struct option speedup_longs[] = {
        {"model", required_argument, NULL, S_OPT_MODEL},
        {"dataset", required_argument, NULL, S_OPT_DATASET},
        {"limit", required_argument, NULL, S_OPT_LIMIT},
        {"where", required_argument, NULL, S_OPT_WHERE},
        {"csv", no_argument, NULL, S_OPT_CSV},
        {"sort", required_argument, NULL, S_OPT_SORT},
        {"plot", required_argument, NULL, S_OPT_PLOT},
        {NULL, 0, NULL, 0},
    };
    const char *arg;
    bool csv = false;
    int c;

    memset(o, 0, sizeof(*o));
    while ((c = ad_cli_getopt(cli, argc, argv, speedup ? speedup_longs : runs_longs, &arg)) !=
           AD_CLI_OPT_END) {
        switch (c) {
        case AD_CLI_OPT_HELP:
            return AD_CLI_OPT_HELP;
        case AD_CLI_OPT_ERROR:
            return AD_CLI_EXIT_USAGE;
        case S_OPT_MODEL:
            o->filter.model = arg;
            break;
        case S_OPT_DATASET:
            o->filter.dataset = arg;
            break;
        case S_OPT_JOB:
            if (ad_cli_parse_int("--job", arg, 1, INT64_MAX, &o->filter.job))
                return AD_CLI_EXIT_USAGE;
            break;
        case S_OPT_LIMIT:
            if (ad_cli_parse_int("--limit", arg, 1, 1000000000, &o->limit))
                return AD_CLI_EXIT_USAGE;
            break;
        case S_OPT_WHERE:
            if (o->where)
                return ad_cli_fail(AD_CLI_EXIT_USAGE,
                                   "%s: --where given twice: join the conditions with and",
                                   cli->cmd);
            o->where = arg;
            break;
        case S_OPT_CSV:
            csv = true;
            break;
        case S_OPT_SORT:
            o->sort = arg;
            break;
        case S_OPT_PLOT: {
            size_t len = strlen(arg);

            if (len < 5 || (strcmp(arg + len - 4, ".svg") && strcmp(arg + len - 4, ".png")))
                return ad_cli_fail(AD_CLI_EXIT_USAGE,
                                   "--plot FILE must end in .svg or .png, got \"%s\"", arg);
            o->plot = arg;
            break;
        }
        default:
            return AD_CLI_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "%s: unexpected argument \"%s\"", cli->cmd,
                           argv[optind]);
    if (csv && cli->json)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "%s: --json and --csv exclude each other", cli->cmd);
    o->out = cli->json ? S_OUT_JSON : csv ? S_OUT_CSV : S_OUT_TABLE;
    return 0;
}

/* Say where a --where expression went wrong: the message, the expression and a caret. */
static int
s_where_error(const char *text, const ad_filter_error_t *err)
{
    ad_cli_fail(AD_CLI_EXIT_USAGE, "--where: %s", err->msg);
    fputs("  ", stderr);
    for (const char *p = text; *p; p++)
        fputc((unsigned char)*p < ' ' ? ' ' : *p, stderr);
    fprintf(stderr, "\n  %*s^\n", err->column - 1, "");
    return AD_CLI_EXIT_USAGE;
}

static json_t *
s_num(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

/* One CSV field, quoted as RFC 4180 says when it holds a comma, a quote or a line break. */
static void
s_csv_text(FILE *f, const char *s, bool last)
{
    if (s && strpbrk(s, ",\"\r\n")) {
        fputc('"', f);
        for (; *s; s++) {
            if (*s == '"')
                fputc('"', f);
            fputc(*s, f);
        }
        fputc('"', f);
    } else if (s) {
        fputs(s, f);
    }
    fputc(last ? '\n' : ',', f);
}

/* A number as a CSV field: 10 significant digits, empty when missing. */
static void
s_csv_num(FILE *f, double v, bool last)
{
    char buf[40] = "";

    if (!isnan(v))
        snprintf(buf, sizeof(buf), "%.10g", v);
    s_csv_text(f, buf, last);
}

static void
s_csv_int(FILE *f, int64_t v, bool missing, bool last)
{
    char buf[24] = "";

    if (!missing)
        snprintf(buf, sizeof(buf), "%" PRId64, v);
    s_csv_text(f, buf, last);
}

/* Cores a layout uses: nodes x ppn x tpp on cpu, one GPU per rank on gpu. */
static int64_t
s_used(const char *device, int nodes, int ppn, int tpp)
{
    int64_t n = (int64_t)nodes * ppn;

    return device && !strcmp(device, "gpu") ? n : n * tpp;
}

/* ---- autodist runs ------------------------------------------------------------------------- */

static void
s_run_get(const void *row, ad_field_t field, ad_value_t *out)
{
    const ad_run_t *r = row;

    switch (field) {
    case AD_FIELD_MODEL:
        out->str = r->model;
        break;
    case AD_FIELD_DATASET:
        out->str = r->dataset;
        break;
    case AD_FIELD_HARDWARE:
        out->str = r->hardware ? r->hardware : "";
        break;
    case AD_FIELD_DEVICE:
        out->str = r->device ? r->device : "cpu";
        break;
    case AD_FIELD_STATE:
        out->str = ad_job_state_name(r->state);
        break;
    case AD_FIELD_BATCH:
        out->num = (double)r->batch_size;
        break;
    case AD_FIELD_NODES:
        out->num = r->nodes;
        break;
    case AD_FIELD_PPN:
        out->num = r->procs_per_node;
        break;
    case AD_FIELD_TPP:
        out->num = r->threads_per_proc;
        break;
    case AD_FIELD_WORKERS:
        out->num = (double)r->nodes * r->procs_per_node;
        break;
    case AD_FIELD_CORES:
        out->num = (double)r->nodes * r->procs_per_node * r->threads_per_proc;
        break;
    case AD_FIELD_JOB:
        out->num = r->job ? (double)r->job : NAN;
        break;
    case AD_FIELD_SWEEP:
        out->num = r->sweep ? (double)r->sweep : NAN;
        break;
    case AD_FIELD_ID:
        out->num = (double)r->id;
        break;
    case AD_FIELD_SAMPLES:
        out->num = r->samples_per_s;
        break;
    case AD_FIELD_SPEEDUP:
        out->num = r->speedup;
        break;
    case AD_FIELD_EFFICIENCY:
        out->num = r->speedup /
                   (double)s_used(r->device, r->nodes, r->procs_per_node, r->threads_per_proc);
        break;
    case AD_FIELD_ACCURACY:
        out->num = r->accuracy;
        break;
    default:
        break; /* runs: refused by the parser */
    }
}

static json_t *
s_run_json(const ad_run_t *r)
{
    json_t *o = json_object();

    json_object_set_new(o, "id", json_integer(r->id));
    json_object_set_new(o, "job", r->job ? json_integer(r->job) : json_null());
    json_object_set_new(o, "sweep", r->sweep ? json_integer(r->sweep) : json_null());
    json_object_set_new(o, "config_hash",
                        r->config_hash ? json_string(r->config_hash) : json_null());
    json_object_set_new(o, "model", json_string(r->model ? r->model : ""));
    json_object_set_new(o, "dataset", json_string(r->dataset ? r->dataset : ""));
    json_object_set_new(o, "hardware", json_string(r->hardware ? r->hardware : ""));
    json_object_set_new(o, "device", json_string(r->device ? r->device : "cpu"));
    json_object_set_new(o, "nodes", json_integer(r->nodes));
    json_object_set_new(o, "procs_per_node", json_integer(r->procs_per_node));
    json_object_set_new(o, "threads_per_proc", json_integer(r->threads_per_proc));
    json_object_set_new(o, "batch_size", json_integer(r->batch_size));
    json_object_set_new(o, "state", json_string(ad_job_state_name(r->state)));
    json_object_set_new(o, "started", s_num(r->started));
    json_object_set_new(o, "ended", s_num(r->ended));
    json_object_set_new(o, "samples_per_s", s_num(r->samples_per_s));
    json_object_set_new(o, "epoch_time_s", s_num(r->epoch_time_s));
    json_object_set_new(o, "accuracy", s_num(r->accuracy));
    json_object_set_new(o, "step_time_s", s_num(r->step_time_s));
    json_object_set_new(o, "comm_time_s", s_num(r->comm_time_s));
    json_object_set_new(o, "params", r->params ? json_integer(r->params) : json_null());
    json_object_set_new(o, "baseline", r->baseline ? json_integer(r->baseline) : json_null());
    json_object_set_new(o, "speedup", s_num(r->speedup));
    return o;
}

/* The CSV columns of runs: the keys of --json, in the same order. */
static const char s_runs_csv_header[] =
    "id,job,sweep,config_hash,model,dataset,hardware,device,nodes,procs_per_node,"
    "threads_per_proc,batch_size,state,started,ended,samples_per_s,epoch_time_s,accuracy,"
    "step_time_s,comm_time_s,params,baseline,speedup\n";

static void
s_run_csv(FILE *f, const ad_run_t *r)
{
    s_csv_int(f, r->id, false, false);
    s_csv_int(f, r->job, !r->job, false);
    s_csv_int(f, r->sweep, !r->sweep, false);
    s_csv_text(f, r->config_hash, false);
    s_csv_text(f, r->model, false);
    s_csv_text(f, r->dataset, false);
    s_csv_text(f, r->hardware ? r->hardware : "", false);
    s_csv_text(f, r->device ? r->device : "cpu", false);
    s_csv_int(f, r->nodes, false, false);
    s_csv_int(f, r->procs_per_node, false, false);
    s_csv_int(f, r->threads_per_proc, false, false);
    s_csv_int(f, r->batch_size, false, false);
    s_csv_text(f, ad_job_state_name(r->state), false);
    s_csv_num(f, r->started, false);
    s_csv_num(f, r->ended, false);
    s_csv_num(f, r->samples_per_s, false);
    s_csv_num(f, r->epoch_time_s, false);
    s_csv_num(f, r->accuracy, false);
    s_csv_num(f, r->step_time_s, false);
    s_csv_num(f, r->comm_time_s, false);
    s_csv_int(f, r->params, !r->params, false);
    s_csv_int(f, r->baseline, !r->baseline, false);
    s_csv_num(f, r->speedup, true);
}

/* Where each run goes. */
typedef struct runs_sink {
    const ad_filter_t *where; /* evaluated here when the store could not select it all */
    int64_t left;             /* rows still wanted; -1 = no limit */
    out_t out;
    json_t *runs;      /* --json */
    ad_table_t *table; /* table */
    size_t n;          /* rows written */
} runs_sink_t;

static int
s_on_run(const ad_run_t *r, void *arg)
{
    runs_sink_t *sink = arg;
    char id[24], job[24], batch[24], layout[64], rate[32], speedup[32], acc[32];
    const char *cells[10];

    if (sink->where && !ad_filter_match(sink->where, s_run_get, r))
        return 0;
    if (sink->left == 0)
        return 1;
    if (sink->left > 0)
        sink->left--;
    sink->n++;
    if (sink->out == S_OUT_JSON) {
        json_array_append_new(sink->runs, s_run_json(r));
        return 0;
    }
    if (sink->out == S_OUT_CSV) {
        s_run_csv(stdout, r);
        return 0;
    }
    snprintf(id, sizeof(id), "%lld", (long long)r->id);
    snprintf(job, sizeof(job), "%lld", (long long)r->job);
    snprintf(batch, sizeof(batch), "%lld", (long long)r->batch_size);
    snprintf(layout, sizeof(layout), "%dx%dx%d%s", r->nodes, r->procs_per_node, r->threads_per_proc,
             r->device && !strcmp(r->device, "gpu") ? " gpu" : "");
    ad_cli_fmt_rate(r->samples_per_s, rate, sizeof(rate));
    if (isnan(r->speedup))
        snprintf(speedup, sizeof(speedup), "-");
    else
        snprintf(speedup, sizeof(speedup), "%.2fx", r->speedup);
    if (isnan(r->accuracy))
        snprintf(acc, sizeof(acc), "-");
    else
        snprintf(acc, sizeof(acc), "%.2f%%", 100.0 * r->accuracy);
    cells[0] = id;
    cells[1] = r->job ? job : "-";
    cells[2] = r->model;
    cells[3] = r->dataset;
    cells[4] = batch;
    cells[5] = layout;
    cells[6] = ad_job_state_name(r->state);
    cells[7] = rate;
    cells[8] = speedup;
    cells[9] = acc;
    ad_table_add(sink->table, cells);
    return 0;
}

int
ad_cli_runs(ad_cli_t *cli, int argc, char **argv)
{
    static const char *const headers[] = {"ID",     "JOB",   "MODEL",     "DATASET", "BATCH",
                                          "LAYOUT", "STATE", "SAMPLES/S", "SPEEDUP", "ACCURACY"};
    ad_filter_t *where = NULL;
    ad_filter_error_t ferr;
    ad_store_t *store = NULL;
    runs_sink_t sink = {0};
    const char *db = NULL;
    bool exact = true;
    opts_t o;
    int rc;

    rc = s_parse(cli, argc, argv, false, &o);
    if (rc)
        return rc == AD_CLI_OPT_HELP ? AD_CLI_EXIT_OK : rc;
    if (o.where && ad_filter_parse(o.where, 0, &where, &ferr))
        return s_where_error(o.where, &ferr);
    rc = ad_cli_open_store(cli, &store, &db);
    if (rc)
        goto out;
    o.filter.newest_first = true;
    if (where)
        exact = ad_filter_push(where, &o.filter);
    /* The store stops at the limit only when it selects exactly what the expression does. */
    o.filter.limit = exact ? o.limit : 0;
    sink.where = exact ? NULL : where;
    sink.left = exact || !o.limit ? -1 : o.limit;
    sink.out = o.out;
    if (o.out == S_OUT_JSON)
        sink.runs = json_array();
    else if (o.out == S_OUT_CSV)
        fputs(s_runs_csv_header, stdout);
    else
        sink.table = ad_table_new(10, headers);
    if (store) {
        rc = ad_store_each_run(store, &o.filter, s_on_run, &sink);
        if (rc < 0) {
            rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", ad_store_errmsg(store));
            goto out;
        }
    }
    if (o.out == S_OUT_JSON) {
        json_t *doc = json_pack("{s:o}", "runs", sink.runs);

        sink.runs = NULL;
        ad_cli_print_json(doc);
        json_decref(doc);
    } else if (o.out == S_OUT_TABLE && !store) {
        printf("no runs yet (%s does not exist)\n", db);
    } else if (o.out == S_OUT_TABLE && sink.n == 0) {
        bool filtered = o.filter.model || o.filter.dataset || o.filter.job || o.limit || where;

        printf(filtered ? "no runs match (%s)\n" : "no runs yet (%s has none)\n", db);
    } else if (o.out == S_OUT_TABLE) {
        ad_table_print(sink.table, stdout);
    }
    rc = AD_CLI_EXIT_OK;
out:
    json_decref(sink.runs);
    ad_table_free(&sink.table);
    ad_store_close(&store);
    ad_filter_free(&where);
    return rc;
}

/* ---- autodist speedup: groups ---------------------------------------------------------------- */

/* One layout group, as printed. */
typedef struct group {
    char *model;         /* key; owned once kept */
    char *dataset;       /* key */
    char *hardware;      /* key */
    char *device;        /* key */
    int64_t batch;       /* key: global batch */
    int nodes, ppn, tpp; /* key: layout */
    int64_t runs;        /* COMPLETED runs with a throughput */
    double sps, sd;      /* mean throughput and its sample standard deviation */
    double speedup;      /* mean speedup; NaN = no baseline */
    double efficiency;   /* speedup / cores used */
    size_t seq;          /* position in the store's order: breaks the ties of --sort */
} group_t;

/* What the speedup query gathers. */
typedef struct groups {
    const ad_filter_t *where; /* the expression */
    bool *run_term;           /* per term: chooses runs (true) or groups (false) */
    group_t *rows;
    size_t n, cap;
} groups_t;

static const char *
s_family(const group_t *g)
{
    if (g->nodes == 1 && g->ppn == 1 && g->tpp == 1)
        return "baseline";
    if (g->nodes == 1 && g->ppn == 1)
        return "threads";
    if (g->nodes == 1 && g->tpp == 1)
        return "processes";
    if (g->ppn == 1 && g->tpp == 1)
        return "nodes";
    return "mixed";
}

static void
s_group_get(const void *row, ad_field_t field, ad_value_t *out)
{
    const group_t *g = row;

    switch (field) {
    case AD_FIELD_MODEL:
        out->str = g->model;
        break;
    case AD_FIELD_DATASET:
        out->str = g->dataset;
        break;
    case AD_FIELD_HARDWARE:
        out->str = g->hardware;
        break;
    case AD_FIELD_DEVICE:
        out->str = g->device;
        break;
    case AD_FIELD_BATCH:
        out->num = (double)g->batch;
        break;
    case AD_FIELD_NODES:
        out->num = g->nodes;
        break;
    case AD_FIELD_PPN:
        out->num = g->ppn;
        break;
    case AD_FIELD_TPP:
        out->num = g->tpp;
        break;
    case AD_FIELD_WORKERS:
        out->num = (double)g->nodes * g->ppn;
        break;
    case AD_FIELD_CORES:
        out->num = (double)g->nodes * g->ppn * g->tpp;
        break;
    case AD_FIELD_SAMPLES:
        out->num = g->sps;
        break;
    case AD_FIELD_SPEEDUP:
        out->num = g->speedup;
        break;
    case AD_FIELD_EFFICIENCY:
        out->num = g->efficiency;
        break;
    case AD_FIELD_RUNS:
        out->num = (double)g->runs;
        break;
    default:
        break; /* fields of runs: their terms are evaluated on runs */
    }
}

/* The run terms of the expression, on one run before it is grouped. */
static bool
s_keep_run(const ad_run_t *run, void *arg)
{
    const groups_t *gs = arg;

    for (size_t i = 0; i < ad_filter_terms(gs->where); i++)
        if (gs->run_term[i] && !ad_filter_term_match(gs->where, i, s_run_get, run))
            return false;
    return true;
}

static int
s_on_group(const ad_speedup_row_t *row, void *arg)
{
    groups_t *gs = arg;
    group_t g = {
        .model = (char *)row->model,
        .dataset = (char *)row->dataset,
        .hardware = (char *)(row->hardware ? row->hardware : ""),
        .device = (char *)(row->device ? row->device : "cpu"),
        .batch = row->batch_size,
        .nodes = row->nodes,
        .ppn = row->procs_per_node,
        .tpp = row->threads_per_proc,
        .runs = row->runs,
        .sps = row->samples_per_s,
        .sd = row->samples_sd,
        .speedup = row->speedup,
        .efficiency = row->efficiency,
    };

    for (size_t i = 0; gs->where && i < ad_filter_terms(gs->where); i++)
        if (!gs->run_term[i] && !ad_filter_term_match(gs->where, i, s_group_get, &g))
            return 0;
    if (gs->n == gs->cap) {
        gs->cap = gs->cap ? 2 * gs->cap : 256;
        gs->rows = ad_realloc(gs->rows, gs->cap * sizeof(*gs->rows));
    }
    g.model = ad_strdup(g.model);
    g.dataset = ad_strdup(g.dataset);
    g.hardware = ad_strdup(g.hardware);
    g.device = ad_strdup(g.device);
    g.seq = gs->n;
    gs->rows[gs->n++] = g;
    return 0;
}

static void
s_groups_free(groups_t *gs)
{
    for (size_t i = 0; i < gs->n; i++) {
        free(gs->rows[i].model);
        free(gs->rows[i].dataset);
        free(gs->rows[i].hardware);
        free(gs->rows[i].device);
    }
    free(gs->rows);
    free(gs->run_term);
    memset(gs, 0, sizeof(*gs));
}

/*
 * Sort the terms of the expression: those naming a field only runs have
 * (state, job, sweep, id, accuracy) choose the runs before they are grouped;
 * the others are evaluated on the groups.  A term that mixes such a field
 * with `runs` (a group's count) has no meaning: exit 2.  Sets *by_runs when
 * any term chooses runs.
 */
static int
s_split_terms(const char *text, groups_t *gs, bool *by_runs)
{
    size_t n = ad_filter_terms(gs->where);

    *by_runs = false;
    gs->run_term = ad_calloc(n ? n : 1, sizeof(*gs->run_term));
    for (size_t i = 0; i < n; i++) {
        unsigned fields = ad_filter_term_fields(gs->where, i);

        if (!(fields & AD_FIELDS_OF_RUNS))
            continue;
        if (fields & AD_FIELD_BIT(AD_FIELD_RUNS)) {
            ad_filter_error_t err = {0};

            err.column = ad_filter_term_field_column(gs->where, i, AD_FIELD_RUNS);
            snprintf(err.msg, sizeof(err.msg),
                     "runs (a group's count) cannot share a condition with state, job, sweep, "
                     "id or accuracy (they choose the runs before grouping; put the two on "
                     "either side of a top-level and) at column %d",
                     err.column);
            return s_where_error(text, &err);
        }
        gs->run_term[i] = true;
        *by_runs = true;
    }
    return 0;
}

/* ---- autodist speedup: order ----------------------------------------------------------------- */

#define S_SORT_KEYS 8

/* --sort: fields, each ascending or descending. */
typedef struct sort_spec {
    ad_field_t field[S_SORT_KEYS];
    bool desc[S_SORT_KEYS];
    int n;
} sort_spec_t;

static int
s_parse_sort(const char *text, sort_spec_t *spec)
{
    char buf[256], *save = NULL, *tok;

    memset(spec, 0, sizeof(*spec));
    snprintf(buf, sizeof(buf), "%s", text);
    for (tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        bool desc = tok[0] == '-';
        ad_field_t f;

        if (desc || tok[0] == '+')
            tok++;
        if (ad_field_from_name(tok, &f))
            return ad_cli_fail(AD_CLI_EXIT_USAGE, "--sort: unknown field \"%s\" (fields: %s)", tok,
                               ad_field_names());
        if (AD_FIELD_BIT(f) & AD_FIELDS_OF_RUNS)
            return ad_cli_fail(AD_CLI_EXIT_USAGE,
                               "--sort: a layout group has no %s (state, job, sweep, id and "
                               "accuracy belong to single runs: autodist runs --where)",
                               ad_field_name(f));
        if (spec->n == S_SORT_KEYS)
            return ad_cli_fail(AD_CLI_EXIT_USAGE, "--sort: at most %d fields", S_SORT_KEYS);
        spec->field[spec->n] = f;
        spec->desc[spec->n++] = desc;
    }
    if (spec->n == 0)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "--sort needs a field (fields: %s)",
                           ad_field_names());
    return 0;
}

static const sort_spec_t *s_sort_by; /* qsort has no argument */

static int
s_cmp_groups(const void *pa, const void *pb)
{
    const group_t *a = pa, *b = pb;

    for (int k = 0; k < s_sort_by->n; k++) {
        ad_field_t f = s_sort_by->field[k];
        ad_value_t va = {NULL, NAN}, vb = {NULL, NAN};
        int c;

        s_group_get(a, f, &va);
        s_group_get(b, f, &vb);
        if (ad_field_is_text(f)) {
            c = strcmp(va.str, vb.str);
        } else {
            /* Missing values last, whichever the direction. */
            if (isnan(va.num) || isnan(vb.num)) {
                c = isnan(va.num) - isnan(vb.num);
                if (c)
                    return c;
                continue;
            }
            c = va.num < vb.num ? -1 : va.num > vb.num;
        }
        if (c)
            return s_sort_by->desc[k] ? -c : c;
    }
    /* The store's order breaks ties: qsort is not stable. */
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* ---- autodist speedup: output ---------------------------------------------------------------- */

static char *
s_layout(const group_t *g, char *buf, size_t size)
{
    snprintf(buf, size, "%dx%dx%d", g->nodes, g->ppn, g->tpp);
    return buf;
}

static void
s_print_table(const groups_t *gs)
{
    static const char *const headers[] = {
        "MODEL",  "DATASET", "BATCH",     "HARDWARE", "DEVICE",
        "LAYOUT", "RUNS",    "SAMPLES/S", "SPEEDUP",  "EFFICIENCY",
    };
    ad_table_t *t = ad_table_new(10, headers);

    for (size_t i = 0; i < gs->n; i++) {
        const group_t *g = &gs->rows[i];
        char batch[24], layout[48], runs[24], sps[96], sd[48], speedup[48], eff[48];
        const char *cells[10];

        snprintf(batch, sizeof(batch), "%" PRId64, g->batch);
        snprintf(runs, sizeof(runs), "%" PRId64, g->runs);
        ad_cli_fmt_rate(g->sps, sps, sizeof(sps));
        if (g->runs > 1) {
            ad_cli_fmt_rate(g->sd, sd, sizeof(sd));
            snprintf(sps + strlen(sps), sizeof(sps) - strlen(sps), " +- %s", sd);
        }
        snprintf(speedup, sizeof(speedup), isnan(g->speedup) ? "-" : "%.2fx", g->speedup);
        snprintf(eff, sizeof(eff), isnan(g->speedup) ? "-" : "%.0f%%", 100.0 * g->efficiency);
        cells[0] = g->model[0] ? g->model : "-";
        cells[1] = g->dataset[0] ? g->dataset : "-";
        cells[2] = batch;
        cells[3] = g->hardware[0] ? g->hardware : "-";
        cells[4] = g->device[0] ? g->device : "-";
        cells[5] = s_layout(g, layout, sizeof(layout));
        cells[6] = runs;
        cells[7] = sps;
        cells[8] = speedup;
        cells[9] = eff;
        ad_table_add(t, cells);
    }
    ad_table_print(t, stdout);
    ad_table_free(&t);
}

static void
s_print_json(const groups_t *gs)
{
    json_t *rows = json_array(), *doc;
    char layout[48];

    for (size_t i = 0; i < gs->n; i++) {
        const group_t *g = &gs->rows[i];

        json_array_append_new(
            rows,
            json_pack("{s:s, s:s, s:I, s:s, s:s, s:i, s:i, s:i, s:s, s:s, s:I, s:I, s:I, s:o, "
                      "s:o, s:o, s:o}",
                      "model", g->model, "dataset", g->dataset, "batch_size",
                      (json_int_t)g->batch, "hardware", g->hardware, "device", g->device,
                      "nodes", g->nodes, "procs_per_node", g->ppn, "threads_per_proc", g->tpp,
                      "layout", s_layout(g, layout, sizeof(layout)), "family", s_family(g),
                      "workers", (json_int_t)g->nodes * g->ppn, "cores",
                      (json_int_t)g->nodes * g->ppn * g->tpp, "runs", (json_int_t)g->runs,
                      "samples_per_s", s_num(g->sps), "samples_sd", s_num(g->sd), "speedup",
                      s_num(g->speedup), "efficiency", s_num(g->efficiency)));
    }
    doc = json_pack("{s:o}", "speedups", rows);
    ad_cli_print_json(doc);
    json_decref(doc);
}

static void
s_print_csv(const groups_t *gs)
{
    char layout[48];

    fputs("model,dataset,batch_size,hardware,device,nodes,procs_per_node,threads_per_proc,"
          "layout,family,workers,cores,runs,samples_per_s,samples_sd,speedup,efficiency\n",
          stdout);
    for (size_t i = 0; i < gs->n; i++) {
        const group_t *g = &gs->rows[i];

        s_csv_text(stdout, g->model, false);
        s_csv_text(stdout, g->dataset, false);
        s_csv_int(stdout, g->batch, false, false);
        s_csv_text(stdout, g->hardware, false);
        s_csv_text(stdout, g->device, false);
        s_csv_int(stdout, g->nodes, false, false);
        s_csv_int(stdout, g->ppn, false, false);
        s_csv_int(stdout, g->tpp, false, false);
        s_csv_text(stdout, s_layout(g, layout, sizeof(layout)), false);
        s_csv_text(stdout, s_family(g), false);
        s_csv_int(stdout, (int64_t)g->nodes * g->ppn, false, false);
        s_csv_int(stdout, (int64_t)g->nodes * g->ppn * g->tpp, false, false);
        s_csv_int(stdout, g->runs, false, false);
        s_csv_num(stdout, g->sps, false);
        s_csv_num(stdout, g->sd, false);
        s_csv_num(stdout, g->speedup, false);
        s_csv_num(stdout, g->efficiency, true);
    }
}

/* ---- autodist speedup: plot ------------------------------------------------------------------ */

/* Panels drawn at most; the rest are left out with a warning. */
#define S_PLOT_PANELS 12

/* The series of a panel, in the order they are drawn. */
static const struct {
    const char *family; /* s_family() */
    const char *title;  /* key entry */
    const char *style;  /* gnuplot style */
} s_series[] = {
    {"threads", "threads (1x1xT)", "linespoints lw 2 pt 7 ps 1.2 lc rgb '#1f77b4'"},
    {"processes", "processes (1xPx1)", "linespoints lw 2 pt 9 ps 1.4 lc rgb '#d62728'"},
    {"nodes", "nodes (Nx1x1)", "linespoints lw 2 pt 5 ps 1.2 lc rgb '#2ca02c'"},
    {"mixed", "mixed (NxPxT)", "points pt 6 ps 1.4 lw 1.5 lc rgb '#9467bd'"},
};

#define S_N_SERIES (sizeof(s_series) / sizeof(s_series[0]))

/* A gnuplot string literal: single quotes, '' for a quote. */
static void
s_gp_str(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputc('\'', f);
        if ((unsigned char)*s >= ' ')
            fputc(*s, f);
    }
    fputc('\'', f);
}

static bool
s_same_panel(const group_t *a, const group_t *b)
{
    return a->batch == b->batch && !strcmp(a->model, b->model) && !strcmp(a->dataset, b->dataset) &&
           !strcmp(a->hardware, b->hardware) && !strcmp(a->device, b->device);
}

/* x of a group: the cores it uses (GPUs on gpu), the denominator of its efficiency. */
static double
s_plot_x(const group_t *g)
{
    return (double)s_used(g->device, g->nodes, g->ppn, g->tpp);
}

static int
s_cmp_x(const void *pa, const void *pb)
{
    const group_t *a = *(const group_t *const *)pa, *b = *(const group_t *const *)pb;
    double xa = s_plot_x(a), xb = s_plot_x(b);

    return xa < xb ? -1 : xa > xb;
}

/*
 * Write one panel (the groups of one model, dataset, batch, hardware and
 * device, rows[0..n)) as datablocks and a plot command.
 */
static void
s_gp_panel(FILE *f, int panel, group_t **rows, size_t n, bool multi)
{
    const group_t *g0 = rows[0];
    double max_x = 1, max_y = 1;
    bool gpu = !strcmp(g0->device, "gpu"), first = true;
    char title[512];

    qsort(rows, n, sizeof(*rows), s_cmp_x);
    for (size_t s = 0; s < S_N_SERIES; s++) {
        fprintf(f, "$p%d_%s << EOD\n", panel, s_series[s].family);
        for (size_t i = 0; i < n; i++) {
            const char *fam = s_family(rows[i]);
            bool base = !strcmp(fam, "baseline") && strcmp(s_series[s].family, "mixed");

            if (isnan(rows[i]->speedup) || (!base && strcmp(fam, s_series[s].family)))
                continue;
            fprintf(f, "%g %.6g\n", s_plot_x(rows[i]), rows[i]->speedup);
        }
        fputs("EOD\n", f);
    }
    for (size_t i = 0; i < n; i++) {
        if (isnan(rows[i]->speedup))
            continue;
        if (s_plot_x(rows[i]) > max_x)
            max_x = s_plot_x(rows[i]);
        if (rows[i]->speedup > max_y)
            max_y = rows[i]->speedup;
    }
    snprintf(title, sizeof(title), "%s on %s, batch %lld%s%s%s", g0->model, g0->dataset,
             (long long)g0->batch, g0->hardware[0] ? ", " : "", g0->hardware, gpu ? ", gpu" : "");
    fputs("set title ", f);
    s_gp_str(f, title);
    fputs(multi ? "\n" : " font ',13'\n", f);
    fprintf(f, "set xlabel '%s'\n", gpu ? "workers (GPUs used)" : "workers (cores used)");
    fputs("set ylabel 'speedup over 1x1x1'\n", f);
    if (max_x >= 16) {
        fputs("set logscale xy 2\nset xtics autofreq\n", f);
        fprintf(f, "set xrange [0.9:%g]\nset yrange [0.5:%g]\n", max_x * 1.15,
                fmax(max_y * 1.4, 2.0));
    } else {
        fputs("unset logscale\nset xtics 1\n", f);
        fprintf(f, "set xrange [0:%g]\n", max_x + 0.5);
        /* The ideal line in full when the curves reach a fair part of it. */
        fprintf(f, "set yrange [0:%g]\n",
                max_x <= 2.5 * max_y ? fmax(max_x, max_y) * 1.1 : max_y * 1.3);
    }
    fputs("plot ", f);
    for (size_t s = 0; s < S_N_SERIES; s++) {
        bool any = false;

        for (size_t i = 0; i < n && !any; i++)
            any = !isnan(rows[i]->speedup) && !strcmp(s_family(rows[i]), s_series[s].family);
        if (!any)
            continue;
        fprintf(f, "%s$p%d_%s using 1:2 with %s title '%s'", first ? "" : ", \\\n     ", panel,
                s_series[s].family, s_series[s].style, s_series[s].title);
        first = false;
    }
    /* A panel with the baseline alone still shows its point. */
    if (first) {
        fprintf(f,
                "$p%d_threads using 1:2 with points pt 7 ps 1.2 lc rgb '#1f77b4' "
                "title 'baseline (1x1x1)'",
                panel);
        first = false;
    }
    fputs(", \\\n     x with lines dt 2 lw 1.5 lc rgb '#555555' title 'ideal (y = x)'\n", f);
}

/* Order of panels: model, dataset, batch, hardware, device; then the rows' own order. */
static int
s_cmp_panel(const void *pa, const void *pb)
{
    const group_t *a = *(const group_t *const *)pa, *b = *(const group_t *const *)pb;
    int c = strcmp(a->model, b->model);

    if (!c)
        c = strcmp(a->dataset, b->dataset);
    if (!c)
        c = a->batch < b->batch ? -1 : a->batch > b->batch;
    if (!c)
        c = strcmp(a->hardware, b->hardware);
    if (!c)
        c = strcmp(a->device, b->device);
    return c ? c : a < b ? -1 : a > b;
}

/*
 * Write the gnuplot script for the groups into f: one panel per (model,
 * dataset, batch, hardware, device) that has a speedup, at most
 * S_PLOT_PANELS.  Returns the number of panels (0: nothing to draw) and sets
 * *left_out to the panels beyond the limit.
 */
static int
s_gp_script(FILE *f, const groups_t *gs, const char *file, int *left_out)
{
    group_t **order = ad_malloc((gs->n ? gs->n : 1) * sizeof(*order));
    size_t *start = ad_malloc((gs->n + 1) * sizeof(*start));
    size_t *count = ad_malloc((gs->n + 1) * sizeof(*count));
    bool png = !strcmp(file + strlen(file) - 4, ".png");
    size_t npanels = 0;
    int cols, rows, w, h, drawn;

    for (size_t i = 0; i < gs->n; i++)
        order[i] = &gs->rows[i];
    qsort(order, gs->n, sizeof(*order), s_cmp_panel);
    for (size_t i = 0, j; i < gs->n; i = j) {
        bool has = false;

        for (j = i; j < gs->n && s_same_panel(order[i], order[j]); j++)
            has = has || !isnan(order[j]->speedup);
        if (!has)
            continue;
        start[npanels] = i;
        count[npanels++] = j - i;
    }
    drawn = npanels > S_PLOT_PANELS ? S_PLOT_PANELS : (int)npanels;
    *left_out = (int)npanels - drawn;
    if (drawn == 0)
        goto out_free;
    cols = drawn == 1 ? 1 : drawn <= 4 ? 2 : 3;
    rows = (drawn + cols - 1) / cols;
    w = 640 * cols;
    h = 460 * rows;
    if (png)
        fprintf(f,
                "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
                "    set terminal pngcairo size %d,%d noenhanced font 'sans,10' "
                "background rgb 'white'\n"
                "} else {\n"
                "    set terminal png size %d,%d noenhanced background rgb 'white'\n"
                "}\n",
                w, h, w, h);
    else
        fprintf(f,
                "set terminal svg size %d,%d dynamic noenhanced font 'sans,11' "
                "background rgb 'white'\n",
                w, h);
    fputs("set output ", f);
    s_gp_str(f, file);
    fputs("\nset encoding utf8\nset grid lc rgb '#dddddd'\nset key top left box opaque\n"
          "set samples 200\nset border lw 1\n",
          f);
    if (drawn > 1)
        fprintf(f, "set multiplot layout %d,%d title 'speedup against workers' font ',14'\n", rows,
                cols);
    for (int p = 0; p < drawn; p++)
        s_gp_panel(f, p, order + start[p], count[p], drawn > 1);
    if (drawn > 1)
        fputs("unset multiplot\n", f);
    fputs("set output\n", f);
out_free:
    free(order);
    free(start);
    free(count);
    return drawn;
}

/*
 * Run gnuplot (found through PATH) on script.  Returns 0, or an exit status
 * after printing why: gnuplot is not installed, or it failed (its last
 * line of stderr).
 */
static int
s_run_gnuplot(const char *script, const char *file)
{
    int errpipe[2], execpipe[2], st, exec_errno = 0;
    char buf[4096], last[512] = "";
    struct stat sb;
    size_t len = 0;
    ssize_t got;
    pid_t pid;

    if (pipe2(errpipe, O_CLOEXEC) < 0 || pipe2(execpipe, O_CLOEXEC) < 0)
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "--plot: pipe: %s", strerror(errno));
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0)
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "--plot: fork: %s", strerror(errno));
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);

        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(errpipe[1], STDERR_FILENO);
        execlp("gnuplot", "gnuplot", script, (char *)NULL);
        st = errno;
        if (write(execpipe[1], &st, sizeof(st)) < 0)
            _exit(127);
        _exit(127);
    }
    close(errpipe[1]);
    close(execpipe[1]);
    if (read(execpipe[0], &exec_errno, sizeof(exec_errno)) != sizeof(exec_errno))
        exec_errno = 0;
    close(execpipe[0]);
    /* Keep the end of what gnuplot says; its last line explains a failure. */
    while ((got = read(errpipe[0], buf + len, sizeof(buf) - 1 - len)) > 0 ||
           (got < 0 && errno == EINTR)) {
        if (got < 0)
            continue;
        len += (size_t)got;
        buf[len] = '\0';
        for (char *nl; (nl = strchr(buf, '\n'));) {
            *nl = '\0';
            if (strspn(buf, " \t^") != strlen(buf))
                snprintf(last, sizeof(last), "%.500s", buf);
            len -= (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, len + 1);
        }
        if (len == sizeof(buf) - 1)
            len = 0;
    }
    if (len > 0 && strspn(buf, " \t^") != len)
        snprintf(last, sizeof(last), "%.500s", buf);
    close(errpipe[0]);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (exec_errno == ENOENT)
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "--plot needs gnuplot (apt-get install gnuplot-nox); "
                                              "the table is printed anyway");
    if (exec_errno)
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "--plot: cannot run gnuplot: %s",
                           strerror(exec_errno));
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "--plot: gnuplot could not draw %s (%s %d)%s%s", file,
                           WIFEXITED(st) ? "exit" : "signal",
                           WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), last[0] ? ": " : "",
                           last);
    if (stat(file, &sb) < 0 || sb.st_size == 0)
        return ad_cli_fail(AD_CLI_EXIT_ERROR,
                           "--plot: gnuplot exited 0 but wrote nothing to %s%s%s", file,
                           last[0] ? ": " : "", last);
    return 0;
}

/* Draw the groups into file (.svg or .png).  Returns 0 or an exit status after printing why. */
static int
s_plot(const groups_t *gs, const char *file, out_t out)
{
    char script[] = "/tmp/autodist-plot-XXXXXX";
    const char *tmpdir = getenv("TMPDIR");
    char path[4096];
    int fd, panels, left_out, rc;
    FILE *f;

    snprintf(path, sizeof(path), "%s/autodist-plot-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    fd = mkstemp(path);
    if (fd < 0) {
        fd = mkstemp(script);
        if (fd < 0)
            return ad_cli_fail(AD_CLI_EXIT_ERROR, "--plot: cannot write a script: %s",
                               strerror(errno));
        snprintf(path, sizeof(path), "%s", script);
    }
    f = fdopen(fd, "w");
    panels = s_gp_script(f, gs, file, &left_out);
    if (fclose(f) != 0) {
        unlink(path);
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "--plot: cannot write %s: %s", path, strerror(errno));
    }
    if (panels == 0) {
        unlink(path);
        return ad_cli_fail(AD_CLI_EXIT_ERROR,
                           "--plot: nothing to plot: no row has a speedup (no 1x1x1 baseline "
                           "among the rows shown)");
    }
    if (left_out > 0)
        fprintf(stderr,
                "autodist: --plot: drew the first %d of %d panels; narrow them with --where\n",
                panels, panels + left_out);
    rc = s_run_gnuplot(path, file);
    unlink(path);
    if (!rc && out == S_OUT_TABLE)
        printf("plot: %s (%d panel%s)\n", file, panels, panels == 1 ? "" : "s");
    return rc;
}

/* ---- autodist speedup ------------------------------------------------------------------------ */

int
ad_cli_speedup(ad_cli_t *cli, int argc, char **argv)
{
    groups_t gs = {0};
    ad_filter_t *where = NULL;
    ad_filter_error_t ferr;
    ad_store_t *store = NULL;
    const char *db = NULL;
    sort_spec_t sort;
    bool by_runs = false;
    opts_t o;
    int rc;

    rc = s_parse(cli, argc, argv, true, &o);
    if (rc)
        return rc == AD_CLI_OPT_HELP ? AD_CLI_EXIT_OK : rc;
    if (o.sort && s_parse_sort(o.sort, &sort))
        return AD_CLI_EXIT_USAGE;
    if (o.where) {
        if (ad_filter_parse(o.where, AD_FILTER_GROUPS, &where, &ferr))
            return s_where_error(o.where, &ferr);
        gs.where = where;
        rc = s_split_terms(o.where, &gs, &by_runs);
        if (rc)
            goto out;
        ad_filter_push(where, &o.filter);
    }
    rc = ad_cli_open_store(cli, &store, &db);
    if (rc)
        goto out;
    if (store) {
        /* run_groups answers unless a term must look at the runs themselves. */
        if (by_runs)
            rc = ad_store_each_speedup_of(store, &o.filter, s_keep_run, &gs, s_on_group, &gs);
        else
            rc = ad_store_each_speedup(store, &o.filter, s_on_group, &gs);
        if (rc < 0) {
            rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", ad_store_errmsg(store));
            goto out;
        }
    }
    if (o.sort) {
        s_sort_by = &sort;
        qsort(gs.rows, gs.n, sizeof(*gs.rows), s_cmp_groups);
    }
    if (o.limit && (size_t)o.limit < gs.n) {
        for (size_t i = (size_t)o.limit; i < gs.n; i++) {
            free(gs.rows[i].model);
            free(gs.rows[i].dataset);
            free(gs.rows[i].hardware);
            free(gs.rows[i].device);
        }
        gs.n = (size_t)o.limit;
    }
    if (o.out == S_OUT_JSON)
        s_print_json(&gs);
    else if (o.out == S_OUT_CSV)
        s_print_csv(&gs);
    else if (!store)
        printf("no runs yet (%s does not exist)\n", db);
    else if (gs.n == 0)
        printf(where || o.filter.model || o.filter.dataset
                   ? "no speedups match (%s)\n"
                   : "no speedups yet: %s has no COMPLETED run with a throughput\n",
               db);
    else
        s_print_table(&gs);
    rc = o.plot ? s_plot(&gs, o.plot, o.out) : AD_CLI_EXIT_OK;
out:
    s_groups_free(&gs);
    ad_store_close(&store);
    ad_filter_free(&where);
    return rc;
}
