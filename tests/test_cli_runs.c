/* test_cli_runs.c - `autodist runs` and `autodist speedup` run as programs on a store: filters,
 * --where, --sort, --limit, --csv, --json, --plot (docs/speedup.md) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ad_test.h"
#include "cli_fixture.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "autodist/ad_store.h"

static void
s_add_run(ad_store_t *store, const char *model, int ppn, int64_t job, ad_job_state_t state,
          double rate, double acc, int64_t *id)
{
    ad_job_row_t row;
    ad_run_t run;

    /* A run belongs to a job of the store (a foreign key). */
    while (job > 0) {
        int64_t jid = 0;

        ad_store_job_row_init(&row);
        row.name = (char *)model;
        row.spec = "{}";
        assert_int_equal(ad_store_add_job(store, &row, &jid), 0);
        if (jid >= job)
            break;
    }
    ad_store_run_init(&run);
    run.model = (char *)model;
    run.dataset = (char *)(strcmp(model, "mlp") ? "fashion-mnist" : "synthetic");
    run.hardware = "hw-test";
    run.procs_per_node = ppn;
    run.batch_size = 256;
    run.job = job;
    run.state = state;
    run.samples_per_s = rate;
    run.accuracy = acc;
    assert_int_equal(ad_store_add_run(store, &run, id), 0);
}

/* `runs` reads the store directly: a missing store, then a populated one with filters. */
static void
test_runs(void **st)
{
    char home[256], db[300];
    ad_store_t *store = NULL;
    ad_err_t err = {0};
    int64_t base = 0, fast = 0, failed = 0;
    json_t *doc, *runs, *r;

    snprintf(home, sizeof(home), "%s/home-runs", cft_tmp);
    snprintf(db, sizeof(db), "%s/runs.db", home);
    cft_expect(cft_cli("--home", home, "runs", NULL), 0);
    assert_non_null(strstr(cft_res.out, "no runs yet ("));
    assert_non_null(strstr(cft_res.out, db));
    assert_int_equal(access(home, F_OK), -1); /* reading never creates the home */
    cft_expect(cft_cli("runs", "--json", "--home", home, NULL), 0);
    doc = adt_json(cft_res.out);
    assert_int_equal(json_array_size(json_object_get(doc, "runs")), 0);
    json_decref(doc);

    assert_int_equal(mkdir(home, 0700), 0);
    assert_int_equal(ad_store_open(db, AD_STORE_CREATE, &store, &err), 0);
    s_add_run(store, "cnn", 1, 4, AD_JOB_COMPLETED, 1000.0, NAN, &base);
    s_add_run(store, "cnn", 2, 5, AD_JOB_COMPLETED, 1830.0, 0.8912, &fast);
    s_add_run(store, "mlp", 1, 6, AD_JOB_FAILED, NAN, NAN, &failed);
    ad_store_close(&store);

    cft_expect(cft_cli("--home", home, "runs", NULL), 0);
    assert_non_null(strstr(cft_res.out, "ID"));
    assert_non_null(strstr(cft_res.out, "SAMPLES/S"));
    assert_non_null(strstr(cft_res.out, "1x2x1"));
    assert_non_null(strstr(cft_res.out, "1.83x"));
    assert_non_null(strstr(cft_res.out, "89.12%"));
    assert_non_null(strstr(cft_res.out, "FAILED"));
    /* Newest first: the mlp run is listed before the cnn runs. */
    assert_true(strstr(cft_res.out, "mlp") < strstr(cft_res.out, "cnn"));

    cft_expect(cft_cli("--home", home, "--json", "runs", NULL), 0);
    doc = adt_json(cft_res.out);
    runs = json_object_get(doc, "runs");
    assert_int_equal(json_array_size(runs), 3);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(runs, 0), "id")), failed);
    assert_true(json_is_null(json_object_get(json_array_get(runs, 0), "samples_per_s")));
    json_decref(doc);

    cft_expect(cft_cli("--home", home, "--json", "runs", "--job", "5", NULL), 0);
    doc = adt_json(cft_res.out);
    runs = json_object_get(doc, "runs");
    assert_int_equal(json_array_size(runs), 1);
    r = json_array_get(runs, 0);
    assert_int_equal(json_integer_value(json_object_get(r, "id")), fast);
    assert_int_equal(json_integer_value(json_object_get(r, "baseline")), base);
    assert_true(fabs(json_number_value(json_object_get(r, "speedup")) - 1.83) < 1e-9);
    assert_true(fabs(json_number_value(json_object_get(r, "accuracy")) - 0.8912) < 1e-9);
    assert_string_equal(json_string_value(json_object_get(r, "state")), "COMPLETED");
    json_decref(doc);

    cft_expect(cft_cli("--home", home, "--json", "runs", "--model", "cnn", NULL), 0);
    doc = adt_json(cft_res.out);
    assert_int_equal(json_array_size(json_object_get(doc, "runs")), 2);
    json_decref(doc);
    cft_expect(cft_cli("--home", home, "--json", "runs", "--dataset", "synthetic", NULL), 0);
    doc = adt_json(cft_res.out);
    assert_int_equal(json_array_size(json_object_get(doc, "runs")), 1);
    json_decref(doc);
    cft_expect(cft_cli("--home", home, "--json", "runs", "--limit", "1", NULL), 0);
    doc = adt_json(cft_res.out);
    runs = json_object_get(doc, "runs");
    assert_int_equal(json_array_size(runs), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(runs, 0), "id")), failed);
    json_decref(doc);
    cft_expect(cft_cli("--home", home, "runs", "--model", "resnet18", NULL), 0);
    assert_non_null(strstr(cft_res.out, "no runs match"));

    /* A file that is not a store: exit 1 with the store's message. */
    snprintf(home, sizeof(home), "%s/home-garbage", cft_tmp);
    assert_int_equal(mkdir(home, 0700), 0);
    snprintf(db, sizeof(db), "%s/runs.db", home);
    adt_write_file(db, "this is not a database, not even close; it is a plain text file.\n");
    cft_expect(cft_cli("--home", home, "runs", NULL), 1);
    assert_non_null(strstr(cft_res.err, "autodist: "));
    assert_non_null(strstr(cft_res.err, db));
}

/* ---- autodist speedup and runs --where/--csv/--plot (docs/speedup.md) ------------------------ */

/* A run of any layout; job > 0 makes jobs up to that id first (a foreign key). */
static int64_t
s_add_layout_run(ad_store_t *store, const char *model, const char *dataset, const char *hardware,
                 int64_t batch, int n, int p, int t, ad_job_state_t state, double sps, double acc,
                 int64_t job)
{
    ad_job_row_t row;
    ad_run_t run;
    int64_t id = 0, jid = 0;

    while (job > 0 && jid < job) {
        ad_store_job_row_init(&row);
        row.name = (char *)model;
        row.spec = "{}";
        assert_int_equal(ad_store_add_job(store, &row, &jid), 0);
    }
    ad_store_run_init(&run);
    run.model = (char *)model;
    run.dataset = (char *)dataset;
    run.hardware = (char *)hardware;
    run.nodes = n;
    run.procs_per_node = p;
    run.threads_per_proc = t;
    run.batch_size = batch;
    run.job = job;
    run.state = state;
    run.samples_per_s = sps;
    run.accuracy = acc;
    assert_int_equal(ad_store_add_run(store, &run, &id), 0);
    return id;
}

static char s_sp_home[256];     /* the populated home of the speedup tests */
static int64_t s_sp_resnet_run; /* its resnet18 run (no baseline) */

/*
 * cnn/fashion-mnist/256/hw-a: 1x1x1 twice at 1000, 1x1x2 1700, 1x2x1 1800 2000 2200
 * (the 2200 one with accuracy 0.2), 2x1x1 1600, 2x2x1 3000 (job 1), a FAILED 1x1x1;
 * mlp/synthetic/128 on hardware `xeon "gold", 2s`: 1x1x1 5000; resnet18/synthetic/64: 1x2x1
 * 100 without a baseline.
 */
static const char *
s_speedup_home(void)
{
    static const char *const hw = "xeon \"gold\", 2s";
    ad_store_t *store = NULL;
    ad_err_t err = {0};
    char db[300];

    if (s_sp_home[0])
        return s_sp_home;
    snprintf(s_sp_home, sizeof(s_sp_home), "%s/home-speedup", cft_tmp);
    snprintf(db, sizeof(db), "%s/runs.db", s_sp_home);
    assert_int_equal(mkdir(s_sp_home, 0700), 0);
    assert_int_equal(ad_store_open(db, AD_STORE_CREATE, &store, &err), 0);
    s_add_layout_run(store, "cnn", "fashion-mnist", "hw-a", 256, 1, 1, 1, AD_JOB_COMPLETED, 1000,
                     0.9, 0);
    s_add_layout_run(store, "cnn", "fashion-mnist", "hw-a", 256, 1, 1, 1, AD_JOB_COMPLETED, 1000,
                     0.9, 0);
    s_add_layout_run(store, "cnn", "fashion-mnist", "hw-a", 256, 1, 1, 1, AD_JOB_FAILED, NAN, NAN,
                     0);
    s_add_layout_run(store, "cnn", "fashion-mnist", "hw-a", 256, 1, 1, 2, AD_JOB_COMPLETED, 1700,
                     0.9, 0);
    s_add_layout_run(store, "cnn", "fashion-mnist", "hw-a", 256, 1, 2, 1, AD_JOB_COMPLETED, 1800,
                     0.9, 0);
    s_add_layout_run(store, "cnn", "fashion-mnist", "hw-a", 256, 1, 2, 1, AD_JOB_COMPLETED, 2000,
                     0.9, 0);
    s_add_layout_run(store, "cnn", "fashion-mnist", "hw-a", 256, 1, 2, 1, AD_JOB_COMPLETED, 2200,
                     0.2, 0);
    s_add_layout_run(store, "cnn", "fashion-mnist", "hw-a", 256, 2, 1, 1, AD_JOB_COMPLETED, 1600,
                     0.9, 0);
    s_add_layout_run(store, "cnn", "fashion-mnist", "hw-a", 256, 2, 2, 1, AD_JOB_COMPLETED, 3000,
                     0.9, 1);
    s_add_layout_run(store, "mlp", "synthetic", hw, 128, 1, 1, 1, AD_JOB_COMPLETED, 5000, 0.9, 0);
    s_sp_resnet_run = s_add_layout_run(store, "resnet18", "synthetic", "hw-a", 64, 1, 2, 1,
                                       AD_JOB_COMPLETED, 100, 0.5, 0);
    ad_store_close(&store);
    return s_sp_home;
}

/* The layouts ("1x2x1") of a `speedup --json` answer, space-separated, in order. */
static void
s_layouts(char *buf, size_t size)
{
    json_t *doc = adt_json(cft_res.out), *rows = json_object_get(doc, "speedups"), *r;
    size_t i;

    buf[0] = '\0';
    json_array_foreach(rows, i, r)
    {
        size_t used = strlen(buf);

        snprintf(buf + used, size - used, "%s%s:%s", i ? " " : "",
                 json_string_value(json_object_get(r, "model")),
                 json_string_value(json_object_get(r, "layout")));
    }
    json_decref(doc);
}

/* The table: one row per layout, repeats grouped, mean +- sd, speedup and efficiency. */
static void
test_speedup_table(void **st)
{
    const char *home = s_speedup_home();
    char empty[300];

    cft_expect(cft_cli("--home", home, "speedup", NULL), 0);
    assert_non_null(strstr(cft_res.out, "MODEL"));
    assert_non_null(strstr(cft_res.out, "LAYOUT"));
    assert_non_null(strstr(cft_res.out, "SAMPLES/S"));
    assert_non_null(strstr(cft_res.out, "EFFICIENCY"));
    /* Each mean speedup with its interval (docs/speedup.md): baseline of 2 repeats. */
    assert_non_null(strstr(cft_res.out, "1x2x1   3     2000 +- 200  2.00x (1.67-2.40)  100%"));
    assert_non_null(strstr(cft_res.out, "2x2x1   1     3000         3.00x (2.35-3.83)  75%"));
    assert_non_null(strstr(cft_res.out, "FLAGS"));
    assert_non_null(strstr(cft_res.out, "xeon \"gold\", 2s"));
    /* resnet18 has no 1x1x1 baseline: no speedup, no efficiency. */
    assert_non_null(strstr(cft_res.out, "1x2x1   1     100          -                  -"));
    assert_string_equal(cft_res.err, "");
    cft_expect(cft_cli("speedup", "--help", NULL), 0);
    assert_non_null(strstr(cft_res.out, "usage: autodist speedup"));
    assert_non_null(strstr(cft_res.out, "--plot"));
    cft_expect(cft_cli("--help", NULL), 0);
    assert_non_null(strstr(cft_res.out, "speedup "));

    /* No store yet: not an error; an empty answer in every format. */
    snprintf(empty, sizeof(empty), "%s/home-speedup-empty", cft_tmp);
    cft_expect(cft_cli("--home", empty, "speedup", NULL), 0);
    assert_non_null(strstr(cft_res.out, "no runs yet ("));
    cft_expect(cft_cli("--home", empty, "speedup", "--json", NULL), 0);
    assert_string_equal(cft_res.out, "{\n  \"speedups\": []\n}\n");
    cft_expect(cft_cli("--home", empty, "speedup", "--csv", NULL), 0);
    assert_non_null(strstr(cft_res.out, "model,dataset,batch_size"));
    assert_int_equal(strchr(cft_res.out, '\n')[1], '\0');
    assert_int_equal(access(empty, F_OK), -1);
    cft_expect(cft_cli("--home", home, "speedup", "--where", "model = vgg", NULL), 0);
    assert_non_null(strstr(cft_res.out, "no speedups match"));

    /* A run 2.2x faster on 2 cores than one: its interval, and a flag that says it cannot be. */
    cft_expect(cft_cli("--home", home, "runs", "--where", "samples_per_s = 2200", NULL), 0);
    assert_non_null(strstr(cft_res.out, "FLAGS"));
    assert_non_null(strstr(cft_res.out, "2.20x (1.72-2.81)  20.00%"));
    assert_non_null(strstr(cft_res.out, "  efficiency>100%  -"));
}

/* --json, parsed back: groups, mean, sd, n, speedup and efficiency. */
static void
test_speedup_json(void **st)
{
    const char *home = s_speedup_home();
    json_t *doc, *rows, *r;

    cft_expect(cft_cli("--home", home, "--json", "speedup", NULL), 0);
    doc = adt_json(cft_res.out);
    rows = json_object_get(doc, "speedups");
    assert_int_equal(json_array_size(rows), 7);
    /* The store's order: model, dataset, batch, hardware, then the layout. */
    r = json_array_get(rows, 0);
    assert_string_equal(json_string_value(json_object_get(r, "layout")), "1x1x1");
    assert_string_equal(json_string_value(json_object_get(r, "family")), "baseline");
    assert_int_equal(json_integer_value(json_object_get(r, "runs")), 2); /* FAILED left out */
    assert_true(fabs(json_number_value(json_object_get(r, "speedup")) - 1.0) < 1e-9);
    r = json_array_get(rows, 2);
    assert_string_equal(json_string_value(json_object_get(r, "model")), "cnn");
    assert_string_equal(json_string_value(json_object_get(r, "dataset")), "fashion-mnist");
    assert_string_equal(json_string_value(json_object_get(r, "hardware")), "hw-a");
    assert_string_equal(json_string_value(json_object_get(r, "device")), "cpu");
    assert_string_equal(json_string_value(json_object_get(r, "family")), "processes");
    assert_int_equal(json_integer_value(json_object_get(r, "batch_size")), 256);
    assert_int_equal(json_integer_value(json_object_get(r, "procs_per_node")), 2);
    assert_int_equal(json_integer_value(json_object_get(r, "workers")), 2);
    assert_int_equal(json_integer_value(json_object_get(r, "cores")), 2);
    assert_int_equal(json_integer_value(json_object_get(r, "runs")), 3);
    assert_true(fabs(json_number_value(json_object_get(r, "samples_per_s")) - 2000) < 1e-6);
    assert_true(fabs(json_number_value(json_object_get(r, "samples_sd")) - 200) < 1e-6);
    assert_true(fabs(json_number_value(json_object_get(r, "speedup")) - 2.0) < 1e-9);
    assert_true(fabs(json_number_value(json_object_get(r, "efficiency")) - 1.0) < 1e-9);
    r = json_array_get(rows, 1);
    assert_string_equal(json_string_value(json_object_get(r, "family")), "threads");
    assert_true(fabs(json_number_value(json_object_get(r, "efficiency")) - 0.85) < 1e-9);
    r = json_array_get(rows, 4);
    assert_string_equal(json_string_value(json_object_get(r, "family")), "mixed");
    assert_int_equal(json_integer_value(json_object_get(r, "cores")), 4);
    assert_true(fabs(json_number_value(json_object_get(r, "efficiency")) - 0.75) < 1e-9);
    r = json_array_get(rows, 6);
    assert_string_equal(json_string_value(json_object_get(r, "model")), "resnet18");
    assert_true(json_is_null(json_object_get(r, "speedup")));
    assert_true(json_is_null(json_object_get(r, "efficiency")));
    json_decref(doc);
}

/* --csv: the exact text, RFC 4180 quoting of a hardware name with quotes and a comma. */
static void
test_speedup_csv(void **st)
{
    static const char want[] =
        "model,dataset,batch_size,hardware,device,nodes,procs_per_node,threads_per_proc,layout,"
        "family,workers,cores,runs,samples_per_s,samples_sd,speedup,efficiency,speedup_lo,"
        "speedup_hi,baseline_runs,flags\n"
        "cnn,fashion-mnist,256,hw-a,cpu,1,1,1,1x1x1,baseline,1,1,2,1000,0,1,1,0.8187307531,"
        "1.221402758,2,\n"
        "cnn,fashion-mnist,256,hw-a,cpu,1,1,2,1x1x2,threads,2,2,1,1700,0,1.7,0.85,1.330665611,"
        "2.17184541,2,\n"
        "cnn,fashion-mnist,256,hw-a,cpu,1,2,1,1x2x1,processes,2,2,3,2000,200,2,1,1.666245671,"
        "2.400606386,2,\n"
        "cnn,fashion-mnist,256,hw-a,cpu,2,1,1,2x1x1,nodes,2,2,1,1600,0,1.6,0.8,1.252391164,"
        "2.044089797,2,\n"
        "cnn,fashion-mnist,256,hw-a,cpu,2,2,1,2x2x1,mixed,4,4,1,3000,0,3,0.75,2.348233432,"
        "3.83266837,2,\n"
        "mlp,synthetic,128,\"xeon \"\"gold\"\", 2s\",cpu,1,1,1,1x1x1,baseline,1,1,1,5000,0,1,1,"
        "0.6542510919,1.52846516,1,\n"
        "resnet18,synthetic,64,hw-a,cpu,1,2,1,1x2x1,processes,2,2,1,100,0,,,,,0,\n";
    const char *home = s_speedup_home();

    cft_expect(cft_cli("--home", home, "speedup", "--csv", NULL), 0);
    assert_string_equal(cft_res.out, want);
    cft_expect(cft_cli("--home", home, "speedup", "--csv", "--json", NULL), 2);
    assert_non_null(strstr(cft_res.err, "--json and --csv exclude each other"));
}

/* --where on groups, on runs before grouping, and --sort / --limit. */
static void
test_speedup_where_sort(void **st)
{
    const char *home = s_speedup_home();
    char got[512];

    cft_expect(cft_cli("--home", home, "--json", "speedup", "--where",
                       "model in (cnn, resnet18) and nodes >= 2", NULL),
               0);
    s_layouts(got, sizeof(got));
    assert_string_equal(got, "cnn:2x1x1 cnn:2x2x1");
    cft_expect(cft_cli("--home", home, "--json", "speedup", "--where", "runs >= 2", NULL), 0);
    s_layouts(got, sizeof(got));
    assert_string_equal(got, "cnn:1x1x1 cnn:1x2x1");
    cft_expect(cft_cli("--home", home, "--json", "speedup", "--where",
                       "efficiency < 0.9 and cores >= 2 or speedup is null", NULL),
               0);
    s_layouts(got, sizeof(got));
    assert_string_equal(got, "cnn:1x1x2 cnn:2x1x1 cnn:2x2x1 resnet18:1x2x1");
    cft_expect(cft_cli("--home", home, "--json", "speedup", "--where",
                       "hardware = 'xeon \"gold\", 2s' or not (model != resnet18)", NULL),
               0);
    s_layouts(got, sizeof(got));
    assert_string_equal(got, "mlp:1x1x1 resnet18:1x2x1");
    cft_expect(cft_cli("--home", home, "--json", "speedup", "--where",
                       "samples_per_s between 1600 and 2000 and workers = 2", NULL),
               0);
    s_layouts(got, sizeof(got));
    /* workers are the cores a layout uses (docs/speedup.md): 1x1x2 has two. */
    assert_string_equal(got, "cnn:1x1x2 cnn:1x2x1 cnn:2x1x1");

    /* accuracy and job choose runs before they are grouped: 1x2x1 loses its 2200 run. */
    cft_expect(cft_cli("--home", home, "speedup", "--csv", "--where",
                       "accuracy > 0.5 and model = cnn and ppn = 2", NULL),
               0);
    assert_string_equal(strchr(cft_res.out, '\n') + 1,
                        "cnn,fashion-mnist,256,hw-a,cpu,1,2,1,1x2x1,processes,2,2,2,1900,"
                        "141.4213562,1.9,0.95,1.555588431,2.320665241,2,\n"
                        "cnn,fashion-mnist,256,hw-a,cpu,2,2,1,2x2x1,mixed,4,4,1,3000,0,3,0.75,"
                        "2.348233432,3.83266837,2,\n");
    cft_expect(cft_cli("--home", home, "--json", "speedup", "--where", "job = 1", NULL), 0);
    s_layouts(got, sizeof(got));
    assert_string_equal(got, "cnn:2x2x1");
    cft_expect(cft_cli("--home", home, "--json", "speedup", "--where",
                       "(accuracy < 0.5 or job in (1, 2)) and runs = 1", NULL),
               0);
    s_layouts(got, sizeof(got));
    assert_string_equal(got, "cnn:1x2x1 cnn:2x2x1");
    cft_expect(
        cft_cli("--home", home, "speedup", "--where", "model = cnn and (runs > 1 or id > 3)", NULL),
        2);
    assert_non_null(strstr(cft_res.err, "autodist: --where: runs (a group's count) cannot share a "
                                        "condition with state, job, sweep, id or accuracy"));
    assert_non_null(strstr(cft_res.err, "at column 18\n  model = cnn and (runs > 1 or id > 3)\n"
                                        "                   ^\n"));

    /* Parse errors: exit 2, the column and a caret under it, nothing on stdout. */
    cft_expect(
        cft_cli("--home", home, "speedup", "--where", "model in (cnn, ) and nodes >= 2", NULL), 2);
    assert_string_equal(cft_res.err,
                        "autodist: --where: expected a value after \",\", got \")\" at column 16\n"
                        "  model in (cnn, ) and nodes >= 2\n"
                        "                 ^\n");
    assert_string_equal(cft_res.out, "");
    cft_expect(cft_cli("--home", home, "speedup", "--where", "model in () and nodes >= 2", NULL),
               2);
    assert_non_null(strstr(cft_res.err, "expected a value after \"in (\", got \")\" at column 11"));
    cft_expect(cft_cli("--home", home, "speedup", "--where", "nodes >= two", NULL), 2);
    assert_non_null(strstr(cft_res.err, "nodes is a number, got \"two\" at column 10"));
    cft_expect(cft_cli("speedup", "--where", "a", "--where", "b", NULL), 2);
    assert_non_null(strstr(cft_res.err, "--where given twice"));

    /* --sort: descending speedup, missing last; several keys; --limit after sorting. */
    cft_expect(cft_cli("--home", home, "--json", "speedup", "--sort", "-speedup", NULL), 0);
    s_layouts(got, sizeof(got));
    assert_string_equal(
        got, "cnn:2x2x1 cnn:1x2x1 cnn:1x1x2 cnn:2x1x1 cnn:1x1x1 mlp:1x1x1 resnet18:1x2x1");
    cft_expect(cft_cli("--home", home, "--json", "speedup", "--sort", "cores,-samples_per_s",
                       "--limit", "3", NULL),
               0);
    s_layouts(got, sizeof(got));
    assert_string_equal(got, "mlp:1x1x1 cnn:1x1x1 cnn:1x2x1");
    cft_expect(cft_cli("--home", home, "speedup", "--sort", "speed", NULL), 2);
    assert_non_null(strstr(cft_res.err, "--sort: unknown field \"speed\""));
    cft_expect(cft_cli("--home", home, "speedup", "--sort", "accuracy", NULL), 2);
    assert_non_null(strstr(cft_res.err, "--sort: a layout group has no accuracy"));
    cft_expect(cft_cli("--home", home, "speedup", "extra", NULL), 2);
}

/* True when gnuplot can be run from PATH. */
static bool
s_have_gnuplot(void)
{
    return system("command -v gnuplot >/dev/null 2>&1") == 0;
}

/* --plot: an SVG with every series when gnuplot is there; the table and exit 1 when not. */
static void
test_speedup_plot(void **st)
{
    const char *home = s_speedup_home();
    char svg[300], png[300], text[65536];
    const char *path = getenv("PATH");
    char *saved = path ? strdup(path) : NULL;

    snprintf(svg, sizeof(svg), "%s/speedup.svg", cft_tmp);
    snprintf(png, sizeof(png), "%s/speedup.png", cft_tmp);
    cft_expect(cft_cli("--home", home, "speedup", "--plot", "speedup.pdf", NULL), 2);
    assert_non_null(strstr(cft_res.err, "--plot FILE must end in .svg or .png"));

    /* Without gnuplot: the table, then the message; exit 1. */
    setenv("PATH", "/nonexistent-autodist-test", 1);
    cft_cli("--home", home, "speedup", "--plot", svg, NULL);
    if (saved)
        setenv("PATH", saved, 1);
    cft_expect(cft_res.status, 1);
    assert_non_null(strstr(cft_res.out, "MODEL"));
    assert_non_null(strstr(cft_res.out, "2x2x1"));
    assert_string_equal(cft_res.err,
                        "autodist: --plot needs gnuplot (apt-get install gnuplot-nox); "
                        "the table is printed anyway\n");
    assert_int_equal(access(svg, F_OK), -1);

    if (!s_have_gnuplot()) {
        free(saved);
        fprintf(stderr, "gnuplot is not installed: the SVG checks are skipped\n");
        skip();
    }
    /* A profile of hw-a says its nodes have 2 cores: the plot marks them. */
    {
        ad_profile_row_t prof;
        ad_store_t *store = NULL;
        ad_err_t err = {0};
        char db[300];

        snprintf(db, sizeof(db), "%s/runs.db", home);
        assert_int_equal(ad_store_open(db, 0, &store, &err), 0);
        ad_store_profile_row_init(&prof);
        prof.hardware = "hw-a";
        prof.cores = 2;
        assert_int_equal(ad_store_add_profile(store, &prof, NULL), 0);
        ad_store_close(&store);
    }
    cft_expect(cft_cli("--home", home, "speedup", "--plot", svg, NULL), 0);
    assert_non_null(strstr(cft_res.out, "plot: "));
    /* cnn only: mlp has nothing but its baseline, resnet18 no speedup (no empty panels). */
    assert_non_null(strstr(cft_res.out, "(1 panel)"));
    adt_read_file(svg, text, sizeof(text));
    assert_null(strstr(text, "mlp on synthetic"));
    /* Points say their layout and run count; the machine's cores are marked. */
    assert_non_null(strstr(text, "1x2x1 (3)"));
    assert_non_null(strstr(text, "2x2x1 (1)"));
    assert_non_null(strstr(text, "2 cores per node"));
    assert_non_null(strstr(text, "workers = cores used (nodes x procs x threads)"));
    assert_true(!strncmp(text, "<?xml", 5) || !strncmp(text, "<svg", 4));
    assert_non_null(strstr(text, "</svg>"));
    assert_non_null(strstr(text, "threads (1x1xT)"));
    assert_non_null(strstr(text, "processes (1xPx1)"));
    assert_non_null(strstr(text, "nodes (Nx1x1)"));
    assert_non_null(strstr(text, "mixed (NxPxT)"));
    assert_non_null(strstr(text, "ideal (y = x)"));
    assert_non_null(strstr(text, "cnn on fashion-mnist, batch 256, hw-a"));
    /* --csv and --json stay clean: nothing but the document on stdout. */
    cft_expect(
        cft_cli("--home", home, "--json", "speedup", "--where", "model = cnn", "--plot", png, NULL),
        0);
    json_decref(adt_json(cft_res.out));
    adt_read_file(png, text, 16);
    assert_memory_equal(text, "\x89PNG", 4);
    /* Nothing with a speedup to draw; an output gnuplot cannot write. */
    cft_expect(
        cft_cli("--home", home, "speedup", "--where", "model = resnet18", "--plot", svg, NULL), 1);
    assert_non_null(strstr(cft_res.out, "resnet18"));
    assert_non_null(strstr(cft_res.err, "--plot: nothing to plot"));
    cft_expect(cft_cli("--home", home, "speedup", "--where", "model = mlp", "--plot", svg, NULL),
               1);
    assert_non_null(strstr(cft_res.err, "--plot: nothing to plot"));
    cft_expect(cft_cli("--home", home, "speedup", "--plot", "/nonexistent-autodist/x.svg", NULL),
               1);
    assert_non_null(
        strstr(cft_res.err, "--plot: gnuplot could not draw /nonexistent-autodist/x.svg"));
    free(saved);
}

/* runs --where (pushed into the store or evaluated here), --limit after it, --csv. */
static void
test_runs_where_csv(void **st)
{
    const char *home = s_speedup_home();
    char want[1024];
    json_t *doc, *runs;

    cft_expect(
        cft_cli("--home", home, "--json", "runs", "--where", "speedup >= 2 and ppn = 2", NULL), 0);
    doc = adt_json(cft_res.out);
    runs = json_object_get(doc, "runs");
    assert_int_equal(json_array_size(runs), 3); /* 2x2x1 (3.0), then 2200 (2.2), 2000 (2.0) */
    assert_true(fabs(json_number_value(json_object_get(json_array_get(runs, 0), "speedup")) - 3) <
                1e-9);
    json_decref(doc);
    cft_expect(cft_cli("--home", home, "runs", "--where", "state = failed", NULL), 0);
    assert_non_null(strstr(cft_res.out, "FAILED"));
    assert_null(strstr(cft_res.out, "COMPLETED"));
    /* --limit counts what the expression keeps, not what the store reads. */
    cft_expect(cft_cli("--home", home, "--json", "runs", "--where", "speedup > 1.5 or job = 1",
                       "--limit", "2", NULL),
               0);
    doc = adt_json(cft_res.out);
    assert_int_equal(json_array_size(json_object_get(doc, "runs")), 2);
    json_decref(doc);
    cft_expect(cft_cli("--home", home, "--json", "runs", "--model", "cnn", "--where",
                       "model = cnn and nodes = 1 and tpp = 1", "--limit", "2", NULL),
               0);
    doc = adt_json(cft_res.out);
    assert_int_equal(json_array_size(json_object_get(doc, "runs")), 2);
    json_decref(doc);
    cft_expect(cft_cli("--home", home, "runs", "--where", "model = mlp and dataset = cnn", NULL),
               0);
    assert_non_null(strstr(cft_res.out, "no runs match"));

    snprintf(want, sizeof(want),
             "id,job,sweep,config_hash,model,dataset,hardware,device,nodes,procs_per_node,"
             "threads_per_proc,batch_size,state,started,ended,samples_per_s,epoch_time_s,accuracy,"
             "step_time_s,comm_time_s,params,baseline,speedup,sps_sd,sps_steps,speedup_lo,"
             "speedup_hi,flags,probe,load_other,cpu_time_s,max_rss_bytes,name,note,tags\n"
             "%lld,,,,resnet18,synthetic,hw-a,cpu,1,2,1,64,COMPLETED,,,100,,0.5,,,,,,,,,,,0,,,,,,\n",
             (long long)s_sp_resnet_run);
    cft_expect(cft_cli("--home", home, "runs", "--csv", "--where", "model = resnet18", NULL), 0);
    assert_string_equal(cft_res.out, want);
    cft_expect(
        cft_cli("--home", home, "runs", "--csv", "--where", "hardware = 'xeon \"gold\", 2s'", NULL),
        0);
    assert_non_null(strstr(cft_res.out, ",mlp,synthetic,\"xeon \"\"gold\"\", 2s\",cpu,1,1,1,128,"));

    cft_expect(cft_cli("--home", home, "runs", "--where", "runs > 1", NULL), 2);
    assert_non_null(strstr(cft_res.err, "field \"runs\" counts the runs of a layout group"));
    cft_expect(cft_cli("--home", home, "runs", "--where", "model = cnn and", NULL), 2);
    assert_non_null(strstr(cft_res.err,
                           "autodist: --where: expected a condition after \"and\", got "
                           "the end of the expression at column 16\n"));
    assert_string_equal(cft_res.out, "");
    cft_expect(cft_cli("--home", home, "runs", "--json", "--csv", NULL), 2);
}

/* autodist baseline: the mean of the repeats, probes left out, pinned and unpinned by hand. */
static void
test_baseline_command(void **st)
{
    char home[300], db[360];
    ad_store_t *store = NULL;
    ad_err_t err = {0};
    int64_t a, b, probe, pair;
    json_t *doc, *row;
    ad_run_t run;

    snprintf(home, sizeof(home), "%s/home-baseline", cft_tmp);
    snprintf(db, sizeof(db), "%s/runs.db", home);
    cft_expect(cft_cli("--home", home, "baseline", NULL), 0);
    assert_non_null(strstr(cft_res.out, "no runs yet ("));
    assert_int_equal(mkdir(home, 0700), 0);
    assert_int_equal(ad_store_open(db, AD_STORE_CREATE, &store, &err), 0);
    a = s_add_layout_run(store, "cnn", "fashion-mnist", "hw-a", 256, 1, 1, 1, AD_JOB_COMPLETED,
                         1000, NAN, 0);
    b = s_add_layout_run(store, "cnn", "fashion-mnist", "hw-a", 256, 1, 1, 1, AD_JOB_COMPLETED,
                         1200, NAN, 0);
    ad_store_run_init(&run);
    run.model = "cnn";
    run.dataset = "fashion-mnist";
    run.hardware = "hw-a";
    run.batch_size = 256;
    run.state = AD_JOB_COMPLETED;
    run.samples_per_s = 4000;
    run.probe = true;
    assert_int_equal(ad_store_add_run(store, &run, &probe), 0);
    pair = s_add_layout_run(store, "cnn", "fashion-mnist", "hw-a", 256, 1, 2, 1, AD_JOB_COMPLETED,
                            1980, NAN, 0);
    ad_store_close(&store);

    cft_expect(cft_cli("--home", home, "baseline", NULL), 0);
    assert_non_null(strstr(cft_res.out, "SAMPLES/S"));
    assert_non_null(strstr(cft_res.out, "1100 +- 141  2  mean  1,2\n"));
    cft_expect(cft_cli("--home", home, "--json", "baseline", NULL), 0);
    doc = adt_json(cft_res.out);
    row = json_array_get(json_object_get(doc, "baselines"), 0);
    assert_int_equal(json_integer_value(json_object_get(row, "n")), 2);
    assert_false(json_is_true(json_object_get(row, "pinned")));
    assert_int_equal(json_array_size(json_object_get(row, "runs")), 2);
    json_decref(doc);
    cft_expect(cft_cli("--home", home, "runs", "--where", "ppn = 2", NULL), 0);
    assert_non_null(strstr(cft_res.out, "1.80x ("));

    /* A probe is no baseline unless asked for; a 1x2x1 run never is. */
    cft_expect(cft_cli("--home", home, "baseline", "--pin", "1,3", NULL), 2);
    assert_non_null(strstr(cft_res.err, "run 3 cannot be a baseline: it is a layout: auto probe"));
    cft_expect(cft_cli("--home", home, "baseline", "--pin", "4", NULL), 2);
    assert_non_null(strstr(cft_res.err, "its layout is not 1x1x1"));
    cft_expect(cft_cli("--home", home, "baseline", "--pin", "99", NULL), 2);
    assert_non_null(strstr(cft_res.err, "run 99: no such run"));
    cft_expect(cft_cli("--home", home, "baseline", "--pin", "1,x", NULL), 2);
    cft_expect(cft_cli("--home", home, "baseline", "--pin", "1", "--unpin", "1", NULL), 2);
    assert_non_null(strstr(cft_res.err, "exclude each other"));

    /* Pinned to run 1 alone: every speedup follows, new repeats do not move it. */
    cft_expect(cft_cli("--home", home, "baseline", "--pin", "1", NULL), 0);
    assert_non_null(strstr(cft_res.out, "pinned the baseline to run 1"));
    cft_expect(cft_cli("--home", home, "baseline", NULL), 0);
    assert_non_null(strstr(cft_res.out, "1000       1  pinned  1\n"));
    cft_expect(cft_cli("--home", home, "runs", "--where", "ppn = 2", NULL), 0);
    assert_non_null(strstr(cft_res.out, "1.98x ("));
    cft_expect(cft_cli("--home", home, "baseline", "--unpin", "4", NULL), 0);
    assert_non_null(strstr(cft_res.out, "the mean of its 1x1x1 repeats again"));
    cft_expect(cft_cli("--home", home, "runs", "--where", "ppn = 2", NULL), 0);
    assert_non_null(strstr(cft_res.out, "1.80x ("));
    cft_expect(cft_cli("--home", home, "baseline", "--unpin", "4", NULL), 2);
    assert_non_null(strstr(cft_res.err, "is not pinned"));
    (void)a;
    (void)b;
    (void)pair;
}

/* Two hardware classes with nodes: vm (FP_VM) and big (FP_BIG). */
#define FP_VM "a1aa6b2b59ddecd3"
#define FP_BIG "3133248378b3eebe"

static void
s_add_node(ad_store_t *store, const char *name, const char *fp)
{
    ad_profile_row_t prof;
    ad_node_t node;
    int64_t id = 0;

    ad_store_node_init(&node);
    node.hostname = (char *)name;
    assert_int_equal(ad_store_put_node(store, &node, &id), 0);
    ad_store_profile_row_init(&prof);
    prof.node = id;
    prof.hardware = (char *)fp;
    prof.cores = 4;
    assert_int_equal(ad_store_add_profile(store, &prof, NULL), 0);
}

/* How many rows --json printed under key. */
static size_t
s_json_rows(const char *key)
{
    json_t *doc = adt_json(cft_res.out);
    size_t n = json_array_size(json_object_get(doc, key));

    json_decref(doc);
    return n;
}

/* Hardware classes by name: tables, JSON, --hardware, --where hardware/layout/flags, the plot. */
static void
test_hardware_names(void **st)
{
    char home[300], db[360], svg[360], text[65536];
    ad_store_t *store = NULL;
    ad_err_t err = {0};
    json_t *doc, *row;
    ad_run_t run;
    int64_t id;

    snprintf(home, sizeof(home), "%s/home-hwnames", cft_tmp);
    snprintf(db, sizeof(db), "%s/runs.db", home);
    assert_int_equal(mkdir(home, 0700), 0);
    assert_int_equal(ad_store_open(db, AD_STORE_CREATE, &store, &err), 0);
    s_add_node(store, "vm", FP_VM);
    s_add_node(store, "big", FP_BIG);
    s_add_layout_run(store, "cnn", "fashion-mnist", FP_VM, 256, 1, 1, 1, AD_JOB_COMPLETED, 1000,
                     NAN, 0);
    ad_store_run_init(&run);
    run.model = "cnn";
    run.dataset = "fashion-mnist";
    run.hardware = FP_VM;
    run.procs_per_node = 2;
    run.batch_size = 256;
    run.state = AD_JOB_COMPLETED;
    run.samples_per_s = 1800;
    run.flags = AD_STORE_FLAG_NOISY;
    run.load_other = 2.0;
    assert_int_equal(ad_store_add_run(store, &run, &id), 0);
    s_add_layout_run(store, "cnn", "fashion-mnist", FP_BIG, 256, 1, 1, 1, AD_JOB_COMPLETED, 500,
                     NAN, 0);
    ad_store_close(&store);

    /* The speedup table names the class; --json keeps the fingerprint and adds the name. */
    cft_expect(cft_cli("--home", home, "speedup", NULL), 0);
    assert_non_null(strstr(cft_res.out, "HARDWARE"));
    assert_non_null(strstr(cft_res.out, "256    vm        cpu     1x2x1"));
    assert_non_null(strstr(cft_res.out, "256    big       cpu     1x1x1"));
    assert_null(strstr(cft_res.out, FP_VM));
    cft_expect(cft_cli("--home", home, "--json", "speedup", "--hardware", "vm", NULL), 0);
    doc = adt_json(cft_res.out);
    assert_int_equal(json_array_size(json_object_get(doc, "speedups")), 2);
    row = json_array_get(json_object_get(doc, "speedups"), 0);
    assert_string_equal(json_string_value(json_object_get(row, "hardware")), FP_VM);
    assert_string_equal(json_string_value(json_object_get(row, "hardware_name")), "vm");
    json_decref(doc);

    /* --hardware by name, node or fingerprint prefix; an unknown name lists the known ones. */
    cft_expect(cft_cli("--home", home, "--json", "runs", "--hardware", "vm", NULL), 0);
    assert_int_equal(s_json_rows("runs"), 2);
    doc = adt_json(cft_res.out);
    row = json_array_get(json_object_get(doc, "runs"), 0);
    assert_string_equal(json_string_value(json_object_get(row, "hardware")), FP_VM);
    assert_string_equal(json_string_value(json_object_get(row, "hardware_name")), "vm");
    json_decref(doc);
    cft_expect(cft_cli("--home", home, "--json", "runs", "--hardware", "3133", NULL), 0);
    assert_int_equal(s_json_rows("runs"), 1);
    cft_expect(cft_cli("--home", home, "runs", "--hardware", "nosuch", NULL), 2);
    assert_non_null(strstr(cft_res.err, "--hardware: unknown hardware class \"nosuch\"; known: "));
    assert_non_null(strstr(cft_res.err, "vm (" FP_VM ")"));
    assert_non_null(strstr(cft_res.err, "big (" FP_BIG ")"));
    assert_string_equal(cft_res.out, "");
    cft_expect(cft_cli("--home", home, "speedup", "--where", "hardware = nosuch", NULL), 2);
    assert_non_null(strstr(cft_res.err, "--where hardware: unknown hardware class \"nosuch\""));

    /* --where: hardware by name, layout in either form, flags by membership. */
    cft_expect(cft_cli("--home", home, "--json", "runs", "--where", "hardware = big", NULL), 0);
    assert_int_equal(s_json_rows("runs"), 1);
    cft_expect(cft_cli("--home", home, "--json", "runs", "--where", "hardware in (big, vm)", NULL),
               0);
    assert_int_equal(s_json_rows("runs"), 3);
    cft_expect(cft_cli("--home", home, "--json", "runs", "--where", "layout = '1,2,1'", NULL), 0);
    assert_int_equal(s_json_rows("runs"), 1);
    cft_expect(cft_cli("--home", home, "--json", "runs", "--where", "layout = 1x1x1", NULL), 0);
    assert_int_equal(s_json_rows("runs"), 2);
    cft_expect(cft_cli("--home", home, "--json", "runs", "--where", "flags = noisy", NULL), 0);
    assert_int_equal(s_json_rows("runs"), 1);
    cft_expect(cft_cli("--home", home, "--json", "speedup", "--where", "flags = noisy", NULL), 0);
    assert_int_equal(s_json_rows("speedups"), 1);
    cft_expect(cft_cli("--home", home, "--json", "speedup", "--sort", "-layout", NULL), 0);
    doc = adt_json(cft_res.out);
    row = json_array_get(json_object_get(doc, "speedups"), 0);
    assert_string_equal(json_string_value(json_object_get(row, "layout")), "1x2x1");
    json_decref(doc);
    cft_expect(cft_cli("--home", home, "runs", "--where", "flags = noisey", NULL), 2);
    assert_non_null(strstr(cft_res.err, "did you mean noisy?"));
    cft_expect(cft_cli("--home", home, "runs", "--where", "layout = 2x2", NULL), 2);
    assert_non_null(strstr(cft_res.err, "NODESxPROCSxTHREADS"));

    /* baseline: the class by name, --hardware, an unknown name. */
    cft_expect(cft_cli("--home", home, "baseline", NULL), 0);
    assert_non_null(strstr(cft_res.out, "256    vm        cpu"));
    cft_expect(cft_cli("--home", home, "--json", "baseline", "--hardware", "big", NULL), 0);
    assert_int_equal(s_json_rows("baselines"), 1);
    doc = adt_json(cft_res.out);
    row = json_array_get(json_object_get(doc, "baselines"), 0);
    assert_string_equal(json_string_value(json_object_get(row, "hardware_name")), "big");
    json_decref(doc);
    cft_expect(cft_cli("--home", home, "baseline", "--hardware", "nosuch", NULL), 2);
    assert_non_null(strstr(cft_res.err, "unknown hardware class \"nosuch\""));

    /* The plot's panel names the class too. */
    if (!s_have_gnuplot()) {
        fprintf(stderr, "gnuplot is not installed: the SVG check is skipped\n");
        skip();
    }
    snprintf(svg, sizeof(svg), "%s/hwnames.svg", cft_tmp);
    cft_expect(cft_cli("--home", home, "speedup", "--hardware", "vm", "--plot", svg, NULL), 0);
    adt_read_file(svg, text, sizeof(text));
    assert_non_null(strstr(text, "cnn on fashion-mnist, batch 256, vm"));
    assert_null(strstr(text, FP_VM));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runs),
        cmocka_unit_test(test_speedup_table),
        cmocka_unit_test(test_speedup_json),
        cmocka_unit_test(test_speedup_csv),
        cmocka_unit_test(test_speedup_where_sort),
        cmocka_unit_test(test_speedup_plot),
        cmocka_unit_test(test_runs_where_csv),
        cmocka_unit_test(test_baseline_command),
        cmocka_unit_test(test_hardware_names),
    };

    if (cft_begin("ad_test_cli_runs"))
        return 1;
    return cft_end(cmocka_run_group_tests_name("cli-runs", tests, NULL, NULL));
}
