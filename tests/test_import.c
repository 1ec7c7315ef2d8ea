/* test_import.c - `autodist import FILE.csv`: the DESIGN §7 contract, all or nothing */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ad_test.h"
#include "autodist/ad_store.h"

static const char *s_dir; /* this test's temp root */
static adt_sh_t s_res;    /* what the last import said */

static const char s_header[] = "model,dataset,hardware,nodes,procs_per_node,threads_per_proc,"
                               "device,batch_size,samples_per_s\n";

static void
s_write(const char *name, const char *text)
{
    adt_write_in(s_dir, name, text, strlen(text));
}

/* Run `autodist --home DIR import [opt] DIR/name`; returns the exit status, stderr in s_res.err. */
static int
s_import(const char *name, const char *opt)
{
    adt_sh_free(&s_res);
    s_res =
        adt_sh("%s --home %s/home import %s %s/%s", AD_CLI_BIN, s_dir, opt ? opt : "", s_dir, name);
    return s_res.status;
}

static int
s_count(const ad_run_t *r, void *arg)
{
    double *sum = arg;

    sum[0] += 1;
    sum[1] += r->speedup;
    return 0;
}

/* Runs in the store and the sum of their speedups. */
static int
s_runs(double *speedups)
{
    char path[256];
    ad_store_t *st = NULL;
    double acc[2] = {0, 0};

    snprintf(path, sizeof(path), "%s/home/runs.db", s_dir);
    if (access(path, F_OK))
        return 0;
    assert_int_equal(ad_store_open(path, AD_STORE_READONLY, &st, NULL), 0);
    assert_int_equal(ad_store_each_run(st, NULL, s_count, acc), 0);
    ad_store_close(&st);
    if (speedups)
        *speedups = acc[1];
    return (int)acc[0];
}

static int
s_setup(void **state)
{
    s_dir = adt_root_make("ad_test_import");
    /* The caller's ~/.autodist never reaches the programs the tests start. */
    if (s_dir)
        setenv("HOME", s_dir, 1);
    return s_dir ? 0 : -1;
}

static int
s_teardown(void **state)
{
    adt_sh_free(&s_res);
    return adt_root_remove();
}

/* Columns in any order, quotes, comments, optional columns; speedups against the 1x1x1 row. */
static void
test_import_ok(void **state)
{
    double speedups = 0;

    s_write("ok.csv", "# from a cluster\n"
                      "\n"
                      "samples_per_s,model,dataset,hardware,nodes,procs_per_node,"
                      "threads_per_proc,device,batch_size,step_time_s,comm_time_s,params\n"
                      "1000,cnn,fashion-mnist,\"rtx, 2080\",1,1,1,gpu,128,,,421642\n"
                      "1900,cnn,fashion-mnist,\"rtx, 2080\",1,2,1,gpu,128,0.067,0.01,421642\n"
                      "3500,cnn,fashion-mnist,\"rtx, 2080\",2,2,1,gpu,128,0.073,0.02,\n");
    assert_int_equal(s_import("ok.csv", "--dry-run"), 0);
    assert_int_equal(s_runs(NULL), 0);
    assert_int_equal(s_import("ok.csv", NULL), 0);
    assert_int_equal(s_runs(&speedups), 3);
    assert_true(fabs(speedups - (1.0 + 1.9 + 3.5)) < 1e-9);
}

/*
 * The same rows twice are the same runs: a second import of a file (its
 * columns in another order, its numbers spelled otherwise) adds only what is
 * new and says what it skipped; a row repeated in one file is one run.
 */
static void
test_import_idempotent(void **state)
{
    s_write("a.csv", "model,dataset,hardware,nodes,procs_per_node,threads_per_proc,device,"
                     "batch_size,samples_per_s\n"
                     "cnn,fashion-mnist,hw,1,1,1,cpu,256,1000\n"
                     "cnn,fashion-mnist,hw,1,2,1,cpu,256,1800\n"
                     "cnn,fashion-mnist,hw,1,2,1,cpu,256,1800\n");
    s_write("b.csv", "samples_per_s,model,dataset,hardware,nodes,procs_per_node,"
                     "threads_per_proc,device,batch_size\n"
                     "1.8e3,cnn,fashion-mnist,hw,1,2,1,cpu,256\n"
                     "1000.0,cnn,fashion-mnist,hw,1,1,1,cpu,256\n"
                     "3500,cnn,fashion-mnist,hw,2,2,1,cpu,256\n");
    assert_int_equal(s_import("a.csv", NULL), 0);
    adt_assert_has(s_res.out, "imported 2 runs from ");
    adt_assert_has(s_res.out, "; skipped 1 row already imported\n");
    assert_int_equal(s_runs(NULL), 2);
    assert_int_equal(s_import("a.csv", NULL), 0);
    adt_assert_has(s_res.out, "imported 0 runs from ");
    adt_assert_has(s_res.out, "; skipped 3 rows already imported\n");
    assert_int_equal(s_runs(NULL), 2);
    assert_int_equal(s_import("b.csv", "--json"), 0);
    {
        json_t *doc = adt_json(s_res.out);

        assert_int_equal(json_integer_value(json_object_get(doc, "imported")), 1);
        assert_int_equal(json_integer_value(json_object_get(doc, "skipped")), 2);
        json_decref(doc);
    }
    assert_int_equal(s_runs(NULL), 3);
}

/*
 * What `autodist runs --csv` writes imports as it is: its other columns are passed
 * over, rows not COMPLETED are left out and said so, a probe stays a probe (no baseline).
 */
static void
test_import_runs_csv(void **state)
{
    char cmd[600];

    s_write("runs.csv",
            "id,job,sweep,config_hash,model,dataset,hardware,device,nodes,procs_per_node,"
            "threads_per_proc,batch_size,state,started,ended,samples_per_s,epoch_time_s,accuracy,"
            "step_time_s,comm_time_s,params,baseline,speedup,sps_sd,sps_steps,speedup_lo,"
            "speedup_hi,flags,probe,load_other,cpu_time_s,max_rss_bytes,name,note,tags\n"
            "3,3,,,cnn,fashion-mnist,hw,cpu,1,1,1,128,COMPLETED,1,2,2000,,,,,,,,,,,,,1,,,,a,,\n"
            "2,2,,,cnn,fashion-mnist,hw,cpu,1,2,1,128,FAILED,1,2,,,,,,,,,,,,,,0,,,,b,,\n"
            "1,1,,,cnn,fashion-mnist,hw,cpu,1,2,1,128,COMPLETED,1,2,3600,,0.5,,,,,,,,,,noisy,0,"
            "1.2,3,100,c,\"a, note\",\"{\"\"k\"\":\"\"v\"\"}\"\n");
    assert_int_equal(s_import("runs.csv", NULL), 0);
    adt_assert_has(s_res.out, "imported 2 runs from ");
    adt_assert_has(s_res.out, "; left out 1 row not COMPLETED\n");
    assert_int_equal(s_runs(NULL), 2);
    /* The 1x1x1 row was a probe: no baseline, so no speedup for the 1x2x1 one. */
    adt_sh_free(&s_res);
    snprintf(cmd, sizeof(cmd), "%s --home %s/home baseline", AD_CLI_BIN, s_dir);
    s_res = adt_sh("%s", cmd);
    assert_int_equal(s_res.status, 0);
    adt_assert_has(s_res.out, "no baseline");
    assert_int_equal(s_import("runs.csv", NULL), 0);
    adt_assert_has(s_res.out, "imported 0 runs from ");
    adt_assert_has(s_res.out, "; skipped 2 rows already imported; left out 1 row not COMPLETED\n");
}

/* Every bad file: one line naming file, line and column, exit 2, and nothing imported. */
static void
test_import_bad(void **state)
{
    static const struct {
        const char *row;  /* a data row after a good one, or a whole file when it starts with # */
        const char *want; /* in the error line */
    } cases[] = {
        {"cnn,fashion-mnist,hw,1,1,1,cpu,128,-5\n", ":3: samples_per_s: must be positive, got -5"},
        {"cnn,fashion-mnist,hw,1,1,1,cpu,128,fast\n",
         ":3: samples_per_s: expected a number, got \"fast\""},
        {"cnn,fashion-mnist,hw,0,1,1,cpu,128,10\n", ":3: nodes: expected an integer in 1..100000"},
        {"cnn,fashion-mnist,hw,1,1.5,1,cpu,128,10\n", ":3: procs_per_node: expected an integer"},
        {"cnn,fashion-mnist,hw,1,1,1,tpu,128,10\n", ":3: device: expected cpu or gpu, got \"tpu\""},
        {",fashion-mnist,hw,1,1,1,cpu,128,10\n", ":3: model: is empty"},
        {"cnn,fashion-mnist,hw,1,1,1,cpu\n", ":3: 7 field(s), the header has more"},
        {"cnn,\"fashion-mnist,hw,1,1,1,cpu,128,10\n", ":3:5: a quoted field is not closed"},
        {"#model,dataset,hardware,nodes,procs_per_node,threads_per_proc,device,batch_size\n",
         ":1: the header lacks column(s) samples_per_s"},
        {"#model,dataset,hardware,nodes,procs_per_node,threads_per_proc,device,batch_size,"
         "samples_per_s,speed\n",
         ":1: unknown column \"speed\" in the header"},
        {"#", ": empty file, expected a header line"},
    };
    char text[1024];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (cases[i].row[0] == '#')
            snprintf(text, sizeof(text), "%s", cases[i].row + 1);
        else
            snprintf(text, sizeof(text), "%scnn,fashion-mnist,hw,1,1,1,cpu,128,10\n%s", s_header,
                     cases[i].row);
        s_write("bad.csv", text);
        assert_int_equal(s_import("bad.csv", NULL), 2);
        if (!strstr(s_res.err, cases[i].want) || !strstr(s_res.err, "bad.csv") ||
            strchr(s_res.err, '\n') != s_res.err + strlen(s_res.err) - 1)
            fail_msg("case %zu: got \"%s\", want \"%s\"", i, s_res.err, cases[i].want);
        assert_int_equal(s_runs(NULL), 0);
    }
    assert_int_equal(s_import("missing.csv", NULL), 2);
    assert_non_null(strstr(s_res.err, "No such file"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_import_ok, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_import_bad, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_import_idempotent, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_import_runs_csv, s_setup, s_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
