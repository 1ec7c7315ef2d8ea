/* ad_cli_runs.c - `autodist runs`, and the options and CSV fields runs and speedup share */
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

#include "ad_cli_runs.h"
#include "autodist/ad_layout.h"

/*
 * Both commands read HOME/runs.db directly (read-only), so they work without
 * a coordinator and on a store copied back from a cluster.  A --where
 * expression (cli/ad_filter.c, docs/speedup.md) is parsed before the store is
 * opened; what the store can select by itself (equalities on the layout
 * key, a job, a sweep, states) is pushed into its filter, the rest is
 * evaluated here on each row.
 */

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
    S_OPT_HARDWARE,
    S_OPT_KIND,
};

/* ---- shared -------------------------------------------------------------------------------- */

/* The store's sweep names by id, for `sweep = NAME` (ad_cli_runs_load_sweeps()). */
static struct {
    int64_t *id;
    char **name;
    size_t n;
    bool loaded;   /* read (maybe empty) */
    ad_cli_t *cli; /* the command, to read them on first use (ad_cli_runs_parse()) */
} s_sweeps;

/*
 * --dataset D means the label D and every label D-... (imagefolder finds
 * imagefolder-photos-32, synthetic finds synthetic-3x32x32), or the LIKE
 * pattern D when it holds '%': a term and-ed to --where, which runs and
 * speedup both read (an error in --where shows the joined expression).
 */
static int
s_dataset_where(ad_cli_t *cli, ad_cli_runs_opts_t *o)
{
    static char where[4096];
    char quoted[1024];
    size_t n = 0;

    for (const char *c = o->filter.dataset; *c && n + 3 < sizeof(quoted); c++) {
        if (*c == '\'')
            quoted[n++] = '\'';
        quoted[n++] = *c;
    }
    quoted[n] = '\0';
    if (strlen(o->filter.dataset) * 2 + 2 > sizeof(quoted) ||
        (size_t)snprintf(where, sizeof(where),
                         strchr(o->filter.dataset, '%') ? "%s%s%sdataset like '%s'"
                                                        : "%s%s%s(dataset = '%s' or dataset like "
                                                          "'%s-%%')",
                         o->where ? "(" : "", o->where ? o->where : "", o->where ? ") and " : "",
                         quoted, quoted) >= sizeof(where))
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "%s: --dataset and --where are too long together",
                           cli->cmd);
    o->where = where;
    o->filter.dataset = NULL;
    return 0;
}

int
ad_cli_runs_parse(ad_cli_t *cli, int argc, char **argv, bool speedup, ad_cli_runs_opts_t *o)
{
    static const struct option runs_longs[] = {
        {"model", required_argument, NULL, S_OPT_MODEL},
        {"dataset", required_argument, NULL, S_OPT_DATASET},
        {"job", required_argument, NULL, S_OPT_JOB},
        {"limit", required_argument, NULL, S_OPT_LIMIT},
        {"where", required_argument, NULL, S_OPT_WHERE},
        {"csv", no_argument, NULL, S_OPT_CSV},
        {"hardware", required_argument, NULL, S_OPT_HARDWARE},
        {"kind", required_argument, NULL, S_OPT_KIND},
        {NULL, 0, NULL, 0},
    };
    static const struct option speedup_longs[] = {
        {"hardware", required_argument, NULL, S_OPT_HARDWARE},
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
    s_sweeps.cli = cli;
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
        case S_OPT_HARDWARE:
            /* A name, a node or a fingerprint prefix: the class's fingerprint. */
            if (ad_cli_hw_resolve(cli, "--hardware", arg, false, o->hw_fp, sizeof(o->hw_fp)))
                return AD_CLI_EXIT_USAGE;
            o->hardware = arg;
            o->filter.hardware = o->hw_fp;
            if (!ad_cli_hw_is_known(cli, o->hw_fp))
                snprintf(o->hw_unknown, sizeof(o->hw_unknown), "%s", arg);
            break;
        case S_OPT_KIND:
            /* Runs of `autodist bench-infer` (docs/bench-infer.md), fine-tunes (job key
               finetune:); training by default. */
            if (strcmp(arg, "train") && strcmp(arg, "infer") && strcmp(arg, "finetune") &&
                strcmp(arg, "all"))
                return ad_cli_fail(AD_CLI_EXIT_USAGE,
                                   "--kind: \"%s\": expected train, infer, finetune or all", arg);
            o->filter.kind = strcmp(arg, "all") ? arg : "*";
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
    if (o->filter.dataset && s_dataset_where(cli, o))
        return AD_CLI_EXIT_USAGE;
    if (csv && cli->json)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "%s: --json and --csv exclude each other", cli->cmd);
    o->out = cli->json ? AD_CLI_OUT_JSON : csv ? AD_CLI_OUT_CSV : AD_CLI_OUT_TABLE;
    return 0;
}

/* What ad_filter_map() needs to turn hardware names into classes. */
typedef struct s_hw_map {
    ad_cli_t *cli;
    ad_cli_runs_opts_t *o;
    int rc; /* an exit status once a name was refused */
} s_hw_map_t;

static char *
s_map_hardware(void *ctx, const char *literal)
{
    s_hw_map_t *m = ctx;
    char fp[128];

    if (m->rc)
        return NULL;
    m->rc = ad_cli_hw_resolve(m->cli, "--where hardware", literal, false, fp, sizeof(fp));
    if (m->rc)
        return NULL;
    if (!ad_cli_hw_is_known(m->cli, fp) && !m->o->hw_unknown[0])
        snprintf(m->o->hw_unknown, sizeof(m->o->hw_unknown), "%s", literal);
    return strcmp(fp, literal) ? ad_strdup(fp) : NULL;
}

int
ad_cli_runs_where(ad_cli_t *cli, ad_cli_runs_opts_t *o, unsigned flags, ad_filter_t **out)
{
    s_hw_map_t m = {cli, o, 0};
    ad_filter_error_t ferr;

    *out = NULL;
    if (!o->where)
        return 0;
    if (ad_filter_parse(o->where, flags, out, &ferr))
        return ad_cli_runs_where_error(o->where, &ferr);
    if (ad_filter_fields(*out) & AD_FIELD_BIT(AD_FIELD_HARDWARE))
        ad_filter_map(*out, AD_FIELD_HARDWARE, s_map_hardware, &m);
    if (m.rc)
        ad_filter_free(out);
    return m.rc;
}

static int
s_count_run(const ad_run_t *r, void *arg)
{
    (void)r;
    (*(size_t *)arg)++;
    return 1;
}

const char *
ad_cli_runs_hw_what(const ad_cli_runs_opts_t *o)
{
    return o->hardware && !strcmp(o->hardware, o->hw_unknown) ? "--hardware" : "--where hardware";
}

int
ad_cli_runs_check_hardware(ad_cli_t *cli, ad_store_t *store, const char *what, const char *name)
{
    ad_run_filter_t f = {.hardware = name, .limit = 1};
    char fp[128];
    size_t n = 0;

    if (!name || !*name || ad_cli_hw_is_known(cli, name))
        return 0;
    /* An imported run's class is whatever the import called it: a run having it is enough. */
    if (store && ad_store_each_run(store, &f, s_count_run, &n) >= 0 && n > 0)
        return 0;
    return ad_cli_hw_resolve(cli, what, name, true, fp, sizeof(fp)) ? AD_CLI_EXIT_USAGE : 0;
}

/* Say where a --where expression went wrong: the message, the expression and a caret. */
int
ad_cli_runs_where_error(const char *text, const ad_filter_error_t *err)
{
    ad_cli_fail(AD_CLI_EXIT_USAGE, "--where: %s", err->msg);
    fputs("  ", stderr);
    for (const char *p = text; *p; p++)
        fputc((unsigned char)*p < ' ' ? ' ' : *p, stderr);
    fprintf(stderr, "\n  %*s^\n", err->column - 1, "");
    return AD_CLI_EXIT_USAGE;
}

json_t *
ad_cli_json_num(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

/* One CSV field, quoted as RFC 4180 says when it holds a comma, a quote or a line break. */
void
ad_cli_csv_text(FILE *f, const char *s, bool last)
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
void
ad_cli_csv_num(FILE *f, double v, bool last)
{
    char buf[40] = "";

    if (!isnan(v))
        snprintf(buf, sizeof(buf), "%.10g", v);
    ad_cli_csv_text(f, buf, last);
}

void
ad_cli_csv_int(FILE *f, int64_t v, bool missing, bool last)
{
    char buf[24] = "";

    if (!missing)
        snprintf(buf, sizeof(buf), "%" PRId64, v);
    ad_cli_csv_text(f, buf, last);
}

/* Cores a layout uses: nodes x ppn x tpp on cpu, one GPU per rank on gpu. */
int64_t
ad_cli_runs_cores(const char *device, int nodes, int ppn, int tpp)
{
    int64_t n = (int64_t)nodes * ppn;

    return device && !strcmp(device, "gpu") ? n : n * tpp;
}

/* ---- autodist runs ------------------------------------------------------------------------- */

int
ad_cli_runs_load_sweeps(ad_store_t *store)
{
    ad_sweep_row_t *rows = NULL;
    size_t n = 0;

    ad_cli_runs_free_sweeps();
    if (ad_store_list_sweeps(store, &rows, &n))
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", ad_store_errmsg(store));
    s_sweeps.id = ad_calloc(n + 1, sizeof(*s_sweeps.id));
    s_sweeps.name = ad_calloc(n + 1, sizeof(*s_sweeps.name));
    for (size_t i = 0; i < n; i++) {
        s_sweeps.id[i] = rows[i].id;
        s_sweeps.name[i] = ad_strdup(rows[i].name ? rows[i].name : "");
    }
    s_sweeps.n = n;
    s_sweeps.loaded = true;
    ad_store_sweep_rows_free(&rows, n);
    return 0;
}

void
ad_cli_runs_free_sweeps(void)
{
    ad_cli_t *cli = s_sweeps.cli;

    for (size_t i = 0; i < s_sweeps.n; i++)
        free(s_sweeps.name[i]);
    free(s_sweeps.id);
    free(s_sweeps.name);
    memset(&s_sweeps, 0, sizeof(s_sweeps));
    s_sweeps.cli = cli;
}

static const char *
s_sweep_name(int64_t id)
{
    if (!s_sweeps.loaded && s_sweeps.cli) {
        /* First use by a command that did not read them (speedup): read them now, once. */
        ad_store_t *store = NULL;
        const char *db;

        s_sweeps.loaded = true;
        if (ad_cli_open_store(s_sweeps.cli, &store, &db) == 0 && store)
            ad_cli_runs_load_sweeps(store);
        ad_store_close(&store);
    }
    for (size_t i = 0; i < s_sweeps.n; i++)
        if (s_sweeps.id[i] == id)
            return s_sweeps.name[i];
    return NULL;
}

/* A JSON scalar as --where sees it: its text in out (buf when need be), and num for a number. */
static void
s_json_value(const json_t *v, ad_value_t *out)
{
    if (json_is_string(v)) {
        snprintf(out->buf, sizeof(out->buf), "%s", json_string_value(v));
        out->str = out->buf;
        {
            char *end;
            double d = strtod(out->buf, &end);

            if (out->buf[0] && !*end && isfinite(d))
                out->num = d;
        }
    } else if (json_is_number(v)) {
        out->num = json_number_value(v);
        snprintf(out->buf, sizeof(out->buf), "%.15g", out->num);
        out->str = out->buf;
    } else if (json_is_boolean(v)) {
        out->str = json_is_true(v) ? "true" : "false";
    } else if (v && !json_is_null(v)) {
        char *dump = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);

        snprintf(out->buf, sizeof(out->buf), "%s", dump ? dump : "");
        free(dump);
        out->str = out->buf;
    }
}

/* The run's tag key, or the value at the dotted path of its spec. */
static void
s_run_dynamic(const ad_run_t *r, ad_field_t field, ad_value_t *out)
{
    const char *text = field == AD_FIELD_TAG ? r->tags : r->spec;
    json_t *doc = text && out->key ? json_loads(text, 0, NULL) : NULL, *v = doc;
    char path[256], *save = NULL;

    if (!doc)
        return;
    if (field == AD_FIELD_TAG) {
        v = json_object_get(doc, out->key);
    } else {
        snprintf(path, sizeof(path), "%s", out->key);
        for (char *seg = strtok_r(path, ".", &save); seg && v; seg = strtok_r(NULL, ".", &save))
            v = json_object_get(v, seg);
    }
    s_json_value(v, out);
    json_decref(doc);
}

void
ad_cli_runs_get(const void *row, ad_field_t field, ad_value_t *out)
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
        out->str = ad_store_job_state_name(r->state);
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
    case AD_FIELD_WORKERS: /* cores used, as efficiency counts them (docs/speedup.md) */
        out->num =
            (double)ad_cli_runs_cores(r->device, r->nodes, r->procs_per_node, r->threads_per_proc);
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
        out->num = r->speedup / (double)ad_cli_runs_cores(r->device, r->nodes, r->procs_per_node,
                                                          r->threads_per_proc);
        break;
    case AD_FIELD_ACCURACY:
        out->num = r->accuracy;
        break;
    case AD_FIELD_NAME:
        out->str = r->name;
        break;
    case AD_FIELD_NOTE:
        out->str = r->note;
        break;
    case AD_FIELD_TAG:
    case AD_FIELD_PARAM:
        s_run_dynamic(r, field, out);
        break;
    case AD_FIELD_SWEEP_NAME:
        out->str = r->sweep ? s_sweep_name(r->sweep) : NULL;
        break;
    case AD_FIELD_LAYOUT:
        out->str = ad_layout_str(r->nodes, r->procs_per_node, r->threads_per_proc, out->buf,
                                 sizeof(out->buf));
        break;
    case AD_FIELD_FLAGS:
        out->str = r->flags ? r->flags : "";
        break;
    default:
        break; /* runs: refused by the parser */
    }
}

json_t *
ad_cli_run_json(const ad_run_t *r)
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
    json_object_set_new(o, "state", json_string(ad_store_job_state_name(r->state)));
    json_object_set_new(o, "started", ad_cli_json_num(r->started));
    json_object_set_new(o, "ended", ad_cli_json_num(r->ended));
    json_object_set_new(o, "samples_per_s", ad_cli_json_num(r->samples_per_s));
    json_object_set_new(o, "epoch_time_s", ad_cli_json_num(r->epoch_time_s));
    json_object_set_new(o, "accuracy", ad_cli_json_num(r->accuracy));
    json_object_set_new(o, "step_time_s", ad_cli_json_num(r->step_time_s));
    json_object_set_new(o, "comm_time_s", ad_cli_json_num(r->comm_time_s));
    json_object_set_new(o, "params", r->params ? json_integer(r->params) : json_null());
    json_object_set_new(o, "baseline", r->baseline ? json_integer(r->baseline) : json_null());
    json_object_set_new(o, "speedup", ad_cli_json_num(r->speedup));
    /* Runs as experiments: the job's name, its spec (hyper-parameters), note and tags. */
    json_object_set_new(o, "name", r->name ? json_string(r->name) : json_null());
    json_object_set_new(o, "note", r->note ? json_string(r->note) : json_null());
    {
        json_t *tags = r->tags ? json_loads(r->tags, 0, NULL) : NULL;
        json_t *spec = r->spec ? json_loads(r->spec, 0, NULL) : NULL;

        json_object_set_new(o, "tags", json_is_object(tags) ? tags : json_object());
        if (!json_is_object(tags))
            json_decref(tags);
        json_object_set_new(o, "spec", spec ? spec : json_null());
    }
    /* Schema 5 (docs/speedup.md): spread, interval, flags, probe, load, resources. */
    json_object_set_new(o, "sps_sd", ad_cli_json_num(r->sps_sd));
    json_object_set_new(o, "sps_steps", r->sps_steps ? json_integer(r->sps_steps) : json_null());
    json_object_set_new(o, "speedup_lo", ad_cli_json_num(r->speedup_lo));
    json_object_set_new(o, "speedup_hi", ad_cli_json_num(r->speedup_hi));
    json_object_set_new(o, "flags", ad_cli_flags_json(r->flags));
    json_object_set_new(o, "probe", json_boolean(r->probe));
    json_object_set_new(o, "load_other", ad_cli_json_num(r->load_other));
    json_object_set_new(o, "cpu_time_s", ad_cli_json_num(r->cpu_time_s));
    json_object_set_new(o, "max_rss_bytes",
                        r->max_rss_bytes ? json_integer(r->max_rss_bytes) : json_null());
    return o;
}

json_t *
ad_cli_flags_json(const char *flags)
{
    json_t *arr = json_array();

    for (const char *p = flags; p && *p;) {
        size_t len = strcspn(p, ",");

        json_array_append_new(arr, json_stringn(p, len));
        p += len + (p[len] == ',');
    }
    return arr;
}

/* The CSV columns of runs: the keys of --json, in the same order. */
static const char s_runs_csv_header[] =
    "id,job,sweep,config_hash,model,dataset,hardware,device,nodes,procs_per_node,"
    "threads_per_proc,batch_size,state,started,ended,samples_per_s,epoch_time_s,accuracy,"
    "step_time_s,comm_time_s,params,baseline,speedup,sps_sd,sps_steps,speedup_lo,speedup_hi,"
    "flags,probe,load_other,cpu_time_s,max_rss_bytes,name,note,tags\n";

static void
s_run_csv(FILE *f, const ad_run_t *r)
{
    ad_cli_csv_int(f, r->id, false, false);
    ad_cli_csv_int(f, r->job, !r->job, false);
    ad_cli_csv_int(f, r->sweep, !r->sweep, false);
    ad_cli_csv_text(f, r->config_hash, false);
    ad_cli_csv_text(f, r->model, false);
    ad_cli_csv_text(f, r->dataset, false);
    ad_cli_csv_text(f, r->hardware ? r->hardware : "", false);
    ad_cli_csv_text(f, r->device ? r->device : "cpu", false);
    ad_cli_csv_int(f, r->nodes, false, false);
    ad_cli_csv_int(f, r->procs_per_node, false, false);
    ad_cli_csv_int(f, r->threads_per_proc, false, false);
    ad_cli_csv_int(f, r->batch_size, false, false);
    ad_cli_csv_text(f, ad_store_job_state_name(r->state), false);
    ad_cli_csv_num(f, r->started, false);
    ad_cli_csv_num(f, r->ended, false);
    ad_cli_csv_num(f, r->samples_per_s, false);
    ad_cli_csv_num(f, r->epoch_time_s, false);
    ad_cli_csv_num(f, r->accuracy, false);
    ad_cli_csv_num(f, r->step_time_s, false);
    ad_cli_csv_num(f, r->comm_time_s, false);
    ad_cli_csv_int(f, r->params, !r->params, false);
    ad_cli_csv_int(f, r->baseline, !r->baseline, false);
    ad_cli_csv_num(f, r->speedup, false);
    ad_cli_csv_num(f, r->sps_sd, false);
    ad_cli_csv_int(f, r->sps_steps, !r->sps_steps, false);
    ad_cli_csv_num(f, r->speedup_lo, false);
    ad_cli_csv_num(f, r->speedup_hi, false);
    ad_cli_csv_text(f, r->flags ? r->flags : "", false);
    ad_cli_csv_int(f, r->probe, false, false);
    ad_cli_csv_num(f, r->load_other, false);
    ad_cli_csv_num(f, r->cpu_time_s, false);
    ad_cli_csv_int(f, r->max_rss_bytes, !r->max_rss_bytes, false);
    ad_cli_csv_text(f, r->name, false);
    ad_cli_csv_text(f, r->note, false);
    ad_cli_csv_text(f, r->tags && strcmp(r->tags, "{}") ? r->tags : NULL, true);
}

char *
ad_cli_run_tags_text(const ad_run_t *r, char *buf, size_t size)
{
    json_t *tags = r->tags ? json_loads(r->tags, 0, NULL) : NULL;
    const char *k;
    size_t used = 0;
    json_t *v;

    buf[0] = '\0';
    json_object_foreach(tags, k, v)
    {
        int n = snprintf(buf + used, size - used, "%s%s=%s", used ? "," : "", k,
                         json_string_value(v) ? json_string_value(v) : "");

        if (n < 0 || (size_t)n >= size - used) {
            /* Too long for a cell: cut with an ellipsis. */
            if (size > 4)
                snprintf(buf + size - 4, 4, "...");
            break;
        }
        used += (size_t)n;
    }
    json_decref(tags);
    return buf;
}

/* Where each run goes. */
typedef struct runs_sink {
    ad_cli_t *cli;            /* the command: hardware names */
    const ad_filter_t *where; /* evaluated here when the store could not select it all */
    int64_t left;             /* rows still wanted; -1 = no limit */
    ad_cli_out_t out;
    ad_cli_json_list_t json; /* --json */
    ad_cli_table_t *table; /* table */
    size_t n;          /* rows written */
} runs_sink_t;

static int
s_on_run(const ad_run_t *r, void *arg)
{
    runs_sink_t *sink = arg;
    char id[24], job[24], batch[24], layout[64], rate[32], speedup[64], acc[32], tags[80];
    char note[40];
    const char *cells[13];

    if (sink->where && !ad_filter_match(sink->where, ad_cli_runs_get, r))
        return 0;
    if (sink->left == 0)
        return 1;
    if (sink->left > 0)
        sink->left--;
    sink->n++;
    if (sink->out == AD_CLI_OUT_JSON) {
        json_t *o = ad_cli_run_json(r);
        char name[128];

        if (r->hardware && r->hardware[0])
            json_object_set_new(
                o, "hardware_name",
                json_string(ad_cli_hw_label(sink->cli, r->hardware, name, sizeof(name))));
        ad_cli_json_list_item(&sink->json, o);
        return 0;
    }
    if (sink->out == AD_CLI_OUT_CSV) {
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
    else if (!isnan(r->speedup_lo) && !isnan(r->speedup_hi))
        snprintf(speedup, sizeof(speedup), "%.2fx (%.2f-%.2f)", r->speedup, r->speedup_lo,
                 r->speedup_hi);
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
    cells[6] = ad_store_job_state_name(r->state);
    cells[7] = rate;
    cells[8] = speedup;
    cells[9] = acc;
    cells[10] = r->flags && r->flags[0] ? r->flags : "-";
    cells[11] = ad_cli_run_tags_text(r, tags, sizeof(tags));
    /* A long note is cut: `autodist show RUN` prints it whole. */
    snprintf(note, sizeof(note), "%s", r->note ? r->note : "");
    if (r->note && strlen(r->note) >= sizeof(note))
        memcpy(note + sizeof(note) - 4, "...", 4);
    cells[12] = note;
    ad_cli_table_add(sink->table, cells);
    return 0;
}

int
ad_cli_runs(ad_cli_t *cli, int argc, char **argv)
{
    static const char *const headers[] = {"ID",      "JOB",      "MODEL", "DATASET",
                                          "BATCH",   "LAYOUT",   "STATE", "SAMPLES/S",
                                          "SPEEDUP", "ACCURACY", "FLAGS", "TAGS",  "NOTE"};
    ad_filter_t *where = NULL;
    ad_store_t *store = NULL;
    runs_sink_t sink = {.cli = cli};
    const char *db = NULL;
    bool exact = true;
    ad_cli_runs_opts_t o;
    int rc;

    rc = ad_cli_runs_parse(cli, argc, argv, false, &o);
    if (rc)
        return rc == AD_CLI_OPT_HELP ? AD_CLI_EXIT_OK : rc;
    rc = ad_cli_runs_where(cli, &o, 0, &where);
    if (rc)
        return rc;
    rc = ad_cli_open_store(cli, &store, &db);
    if (!rc)
        rc = ad_cli_runs_check_hardware(cli, store, ad_cli_runs_hw_what(&o), o.hw_unknown);
    if (rc)
        goto out;
    o.filter.newest_first = true;
    if (where)
        exact = ad_filter_push(where, &o.filter);
    if (store && where && (ad_filter_fields(where) & AD_FIELD_BIT(AD_FIELD_SWEEP_NAME)) &&
        (rc = ad_cli_runs_load_sweeps(store)))
        goto out;
    /* The store stops at the limit only when it selects exactly what the expression does. */
    o.filter.limit = exact ? o.limit : 0;
    sink.where = exact ? NULL : where;
    sink.left = exact || !o.limit ? -1 : o.limit;
    sink.out = o.out;
    if (o.out == AD_CLI_OUT_JSON)
        ad_cli_json_list_begin(&sink.json, "runs");
    else if (o.out == AD_CLI_OUT_CSV)
        fputs(s_runs_csv_header, stdout);
    else
        sink.table = ad_cli_table_new(13, headers);
    if (store) {
        rc = ad_store_each_run(store, &o.filter, s_on_run, &sink);
        if (rc < 0) {
            rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", ad_store_errmsg(store));
            goto out;
        }
    }
    if (o.out == AD_CLI_OUT_JSON) {
        ad_cli_json_list_end(&sink.json);
    } else if (o.out == AD_CLI_OUT_TABLE && !store) {
        printf("no runs yet (%s does not exist)\n", db);
    } else if (o.out == AD_CLI_OUT_TABLE && sink.n == 0) {
        bool filtered =
            o.filter.model || o.filter.dataset || o.filter.job || o.limit || where || o.hardware;

        printf(filtered ? "no runs match (%s)\n" : "no runs yet (%s has none)\n", db);
    } else if (o.out == AD_CLI_OUT_TABLE) {
        ad_cli_table_print(sink.table, stdout);
    }
    rc = AD_CLI_EXIT_OK;
out:
    ad_cli_table_free(&sink.table);
    ad_store_close(&store);
    ad_filter_free(&where);
    ad_cli_runs_free_sweeps();
    return rc;
}

