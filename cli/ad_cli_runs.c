/* ad_cli_runs.c - `autodist runs`: the logged runs, read from the store without a coordinator */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ad_cli.h"
#include "autodist/ad_store.h"

/*
 * The filters of `autodist runs`, one line each: the option, and how its
 * value sets the store's filter (values stay borrowed from argv).  A new
 * filter (--hardware, --layout, --state, ...) is one more line here.
 */
typedef int (*filter_set_fn)(ad_run_filter_t *f, const char *value);

static int
s_set_model(ad_run_filter_t *f, const char *value)
{
    f->model = value;
    return 0;
}

static int
s_set_dataset(ad_run_filter_t *f, const char *value)
{
    f->dataset = value;
    return 0;
}

static int
s_set_job(ad_run_filter_t *f, const char *value)
{
    return ad_cli_parse_int("--job", value, 1, INT64_MAX, &f->job);
}

static int
s_set_limit(ad_run_filter_t *f, const char *value)
{
    return ad_cli_parse_int("--limit", value, 1, 1000000000, &f->limit);
}

static const struct {
    const char *option; /* long option name */
    filter_set_fn set;  /* sets the filter from its value */
} s_filters[] = {
    {"model", s_set_model},
    {"dataset", s_set_dataset},
    {"job", s_set_job},
    {"limit", s_set_limit},
};

#define S_N_FILTERS (sizeof(s_filters) / sizeof(s_filters[0]))

/* Parse the command line of `runs` into filter.  Returns 0, AD_CLI_OPT_HELP or an exit status. */
static int
s_parse(ad_cli_t *cli, int argc, char **argv, ad_run_filter_t *filter)
{
    struct option longs[S_N_FILTERS + 1];
    const char *arg;
    int c, rc;

    memset(longs, 0, sizeof(longs));
    for (size_t i = 0; i < S_N_FILTERS; i++) {
        longs[i].name = s_filters[i].option;
        longs[i].has_arg = required_argument;
        longs[i].val = 256 + (int)i;
    }
    memset(filter, 0, sizeof(*filter));
    filter->newest_first = true;
    while ((c = ad_cli_getopt(cli, argc, argv, longs, &arg)) != AD_CLI_OPT_END) {
        if (c == AD_CLI_OPT_HELP)
            return AD_CLI_OPT_HELP;
        if (c == AD_CLI_OPT_ERROR)
            return AD_CLI_EXIT_USAGE;
        rc = s_filters[c - 256].set(filter, arg);
        if (rc)
            return rc;
    }
    if (optind < argc)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "runs: unexpected argument \"%s\"", argv[optind]);
    return 0;
}

static json_t *
s_num(double v)
{
    return isnan(v) ? json_null() : json_real(v);
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

/* Where each run goes: a JSON array or a table. */
typedef struct sink {
    json_t *runs;      /* --json */
    ad_table_t *table; /* text */
} sink_t;

static int
s_on_run(const ad_run_t *r, void *arg)
{
    sink_t *sink = arg;
    char id[24], job[24], batch[24], layout[64], rate[32], speedup[32], acc[32];
    const char *cells[10];

    if (sink->runs) {
        json_array_append_new(sink->runs, s_run_json(r));
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
    const ad_home_t *home;
    ad_run_filter_t filter;
    ad_store_t *store = NULL;
    ad_err_t err = {0};
    sink_t sink = {0};
    struct stat sb;
    int rc;

    rc = s_parse(cli, argc, argv, &filter);
    if (rc)
        return rc == AD_CLI_OPT_HELP ? AD_CLI_EXIT_OK : rc;
    home = ad_cli_home(cli);
    if (!home)
        return AD_CLI_EXIT_ERROR;
    if (stat(home->db, &sb) < 0 && errno == ENOENT) {
        if (cli->json) {
            json_t *doc = json_pack("{s:[]}", "runs");

            ad_cli_print_json(doc);
            json_decref(doc);
        } else {
            printf("no runs yet (%s does not exist)\n", home->db);
        }
        return AD_CLI_EXIT_OK;
    }
    rc = ad_store_open(home->db, AD_STORE_READONLY, &store, &err);
    if (rc)
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", err.msg);
    if (cli->json)
        sink.runs = json_array();
    else
        sink.table = ad_table_new(10, headers);
    rc = ad_store_each_run(store, &filter, s_on_run, &sink);
    if (rc) {
        rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", ad_store_errmsg(store));
        goto out_close;
    }
    if (cli->json) {
        json_t *doc = json_pack("{s:o}", "runs", sink.runs);

        sink.runs = NULL;
        ad_cli_print_json(doc);
        json_decref(doc);
    } else if (ad_table_rows(sink.table) == 0) {
        bool filtered = filter.model || filter.dataset || filter.job || filter.limit;

        printf(filtered ? "no runs match (%s)\n" : "no runs yet (%s has none)\n", home->db);
    } else {
        ad_table_print(sink.table, stdout);
    }
    rc = AD_CLI_EXIT_OK;
out_close:
    json_decref(sink.runs);
    ad_table_free(&sink.table);
    ad_store_close(&store);
    return rc;
}
