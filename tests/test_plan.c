/* test_plan.c - `autodist plan`, `autodist predict` (DESIGN §7 contract) and `plan --evaluate` */
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

#include <jansson.h>

#include "ad_test.h"
#include "autodist/ad_store.h"

/*
 * One home for the whole file: runs imported from a CSV generated here from a
 * known scaling law (two models, two batches, 1-2 nodes of 4 cores), and
 * three nodes with profiles written through the store API, so `plan` has
 * something to fall back on when the coordinator does not answer.
 */
static const char *s_dir; /* the temp root */
static char s_coord[64];  /* an endpoint nobody listens on */
static adt_sh_t s_res;    /* stdout and stderr of the last command */

static void
s_write(const char *name, const char *text)
{
    adt_write_in(s_dir, name, text, strlen(text));
}

/* Run `autodist --home DIR/HOME --coordinator EP ARGS` in DIR: exit status; stdout, stderr in
 * s_res. */
static int
s_run(const char *home, const char *args)
{
    adt_sh_free(&s_res);
    s_res = adt_sh("cd %s && %s --home %s/%s --coordinator %s %s", s_dir, AD_CLI_BIN, s_dir, home,
                   s_coord, args);
    return s_res.status;
}

/* stderr is exactly one line that contains want. */
static void
s_one_line(const char *want)
{
    if (!strstr(s_res.err, want) || !*s_res.err ||
        strchr(s_res.err, '\n') != s_res.err + strlen(s_res.err) - 1)
        fail_msg("stderr \"%s\", want one line with \"%s\"", s_res.err, want);
}

/*
 * The scaling law the runs follow: compute (a + b m)(0.1 + 0.9 / t) with a
 * little contention, a ring allreduce of G bytes at 2 GB/s inside a node
 * and 0.1 GB/s across nodes, combined with an overlap exponent of 2.
 */
static double
s_law(double a, double b, double g, int batch, int nodes, int ppn, int tpp)
{
    int n = nodes * ppn;
    double m = (double)batch / n;
    double tc = (a + b * m) * (0.1 + 0.9 / tpp) * (1 + 0.2 * (ppn * tpp / 4.0 - 0.25));
    double bw = nodes == 1 ? 2e9 : 1e8;
    double tm = n == 1 ? 0 : 2.0 * (n - 1) / n * g / bw + 2.0 * (n - 1) * 2e-5;

    return batch / sqrt(tc * tc + tm * tm);
}

static void
s_make_store(void)
{
    static const struct {
        const char *model;
        double a, b, g;
        long params;
    } models[] = {{"cnn", 0.002, 0.0006, 1.7e6, 421642}, {"mlp", 0.001, 0.0002, 0.9e6, 235146}};
    static const int batches[] = {128, 256};
    char *csv = malloc(1 << 16), path[256];
    size_t len = 0;
    ad_store_t *st = NULL;

    assert_non_null(csv);
    len += sprintf(csv + len, "model,dataset,hardware,nodes,procs_per_node,threads_per_proc,"
                              "device,batch_size,samples_per_s,params\n");
    for (size_t i = 0; i < 2; i++)
        for (size_t j = 0; j < 2; j++)
            for (int nodes = 1; nodes <= 2; nodes++)
                for (int ppn = 1; ppn <= 4; ppn *= 2)
                    for (int tpp = 1; ppn * tpp <= 4; tpp *= 2)
                        len +=
                            sprintf(csv + len, "%s,fashion-mnist,testhw,%d,%d,%d,cpu,%d,%.3f,%ld\n",
                                    models[i].model, nodes, ppn, tpp, batches[j],
                                    s_law(models[i].a, models[i].b, models[i].g, batches[j], nodes,
                                          ppn, tpp),
                                    models[i].params);
    s_write("runs.csv", csv);
    free(csv);
    assert_int_equal(s_run("home", "import runs.csv"), 0);
    assert_non_null(strstr(s_res.out, "imported 48 runs"));

    snprintf(path, sizeof(path), "%s/home/runs.db", s_dir);
    assert_int_equal(ad_store_open(path, 0, &st, NULL), 0);
    for (int i = 1; i <= 3; i++) {
        ad_node_t node;
        ad_profile_row_t prof;
        char name[16];
        int64_t id;

        ad_store_node_init(&node);
        snprintf(name, sizeof(name), "n%d", i);
        node.hostname = name;
        assert_int_equal(ad_store_put_node(st, &node, &id), 0);
        ad_store_profile_row_init(&prof);
        prof.node = id;
        prof.hardware = "testhw";
        prof.cores = 4;
        prof.memory_bytes = 8LL << 30;
        prof.gemm_gflops_1 = 20;
        prof.gemm_gflops_all = 70;
        prof.mem_bw_gbs = 10;
        assert_int_equal(ad_store_add_profile(st, &prof, NULL), 0);
    }
    ad_store_close(&st);
}

static int
s_group_setup(void **state)
{
    s_dir = adt_root_make("ad_test_plan");
    if (!s_dir)
        return -1;
    /* The caller's ~/.autodist (its keys) never reaches the programs the tests start. */
    setenv("HOME", s_dir, 1);
    /* A port that was free a moment ago: nothing answers there. */
    adt_free_endpoint(s_coord, sizeof(s_coord));
    s_make_store();
    s_write("job.yaml", "name: plan-me\nmodel: cnn\ndataset: fashion-mnist\nsteps: 10\n"
                        "batch_size: 256\nlayout: {nodes: 1, procs_per_node: 2, "
                        "threads_per_proc: 1}\n");
    s_write("cold.yaml", "name: cold\nmodel: resnet18\ndataset: {synthetic: {shape: [3, 32, 32]}}\n"
                         "steps: 10\nbatch_size: 64\nlayout: auto\n");
    s_write("broken.yaml", "name: broken\nmodel: cnn\ndataset: fashion-mnist\nbatch_size: -4\n");
    return 0;
}

static int
s_group_teardown(void **state)
{
    adt_sh_free(&s_res);
    return adt_root_remove();
}

/* The DESIGN §7 contract: the five keys first, positive numbers, low <= value <= high. */
static void
test_predict_contract(void **state)
{
    static const char *const keys[] = {"samples_per_s", "low", "high", "speedup", "basis"};
    json_t *doc;
    void *it;
    double s, lo, hi;

    assert_int_equal(s_run("home", "predict --model cnn --dataset fashion-mnist --hardware testhw "
                                   "--batch-size 256 --layout 2,2,1 --device cpu --json"),
                     0);
    doc = adt_json(s_res.out);
    it = json_object_iter(doc);
    for (size_t i = 0; i < 5; i++, it = json_object_iter_next(doc, it)) {
        assert_non_null(it);
        assert_string_equal(json_object_iter_key(it), keys[i]);
    }
    s = json_number_value(json_object_get(doc, "samples_per_s"));
    lo = json_number_value(json_object_get(doc, "low"));
    hi = json_number_value(json_object_get(doc, "high"));
    assert_true(s > 0 && lo > 0 && hi > 0 && lo <= s && s <= hi);
    assert_true(json_number_value(json_object_get(doc, "speedup")) > 1);
    /* The law gives 2x2x1 this throughput; 24 runs of cnn were fitted. */
    assert_true(fabs(s / s_law(0.002, 0.0006, 1.7e6, 256, 2, 2, 1) - 1) < 0.1);
    assert_string_equal(json_string_value(json_object_get(doc, "basis")),
                        "24 runs, 1 of this layout");
    json_decref(doc);

    /* 1,1,1 has a measured baseline: its speedup is about 1. */
    assert_int_equal(s_run("home", "predict --model cnn --dataset fashion-mnist --hardware testhw "
                                   "--batch-size 128 --layout 1x1x1 --json"),
                     0);
    doc = adt_json(s_res.out);
    assert_true(fabs(json_number_value(json_object_get(doc, "speedup")) - 1) < 0.05);
    assert_true(json_is_true(json_object_get(doc, "baseline_measured")));
    json_decref(doc);

    /* Without --json: one line. */
    assert_int_equal(s_run("home", "predict --model mlp --dataset fashion-mnist --hardware testhw "
                                   "--batch-size 256 --layout 1,4,1"),
                     0);
    assert_non_null(strstr(s_res.out, "samples/s ["));
    assert_non_null(strstr(s_res.out, "speedup"));
    assert_int_equal(strchr(s_res.out, '\n') - s_res.out, (long)strlen(s_res.out) - 1);

    /* A cold start of a workload nobody ran, on a class with a profile: finite, positive. */
    assert_int_equal(s_run("home", "predict --model resnet18 --dataset synthetic-3x32x32 "
                                   "--hardware testhw --batch-size 64 --layout 1,1,2 --json"),
                     0);
    doc = adt_json(s_res.out);
    assert_true(json_number_value(json_object_get(doc, "samples_per_s")) > 0);
    assert_string_equal(json_string_value(json_object_get(doc, "basis")), "cold start");
    json_decref(doc);
}

static void
test_predict_bad(void **state)
{
    static const struct {
        const char *args;
        int status;
        const char *want;
    } cases[] = {
        {"--layout 2x1", 2,
         "--layout must be NODESxPROCSxTHREADS such as 1x2x1 (1,2,1 works too) with integers >= "
         "1, got \"2x1\""},
        {"--layout 1,0,1", 2, "with integers >= 1, got \"1,0,1\""},
        {"--layout 1,1,1,1", 2, "got \"1,1,1,1\""},
        {"--layout 1,1,1 --device tpu", 2, "--device must be cpu or gpu, got \"tpu\""},
        {"--layout 1,1,1 --batch-size 0", 2, "--batch-size"},
        {"--layout 1,1,1 --hardware nowhere", 1, "hardware class nowhere: no profile and no runs"},
        {"", 2, "predict needs --layout NODESxPROCSxTHREADS"},
    };
    char args[512];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(
            args, sizeof(args),
            "predict --model cnn --dataset fashion-mnist --hardware testhw --batch-size 256 %s",
            cases[i].args);
        assert_int_equal(s_run("home", args), cases[i].status);
        s_one_line(cases[i].want);
        assert_string_equal(s_res.out, "");
    }
    assert_int_equal(
        s_run("home", "predict --dataset d --hardware h --batch-size 1 --layout 1,1,1"), 2);
    s_one_line("predict needs --model M");
}

/* The coordinator does not answer: the store's three nodes, candidates best first. */
static void
test_plan_fallback(void **state)
{
    const char *table, *p;
    double prev = INFINITY;
    int rows = 0;

    assert_int_equal(s_run("home", "plan job.yaml"), 0);
    s_one_line("does not answer; planning on the 3 nodes the store knows");
    assert_non_null(strstr(s_res.err, s_coord));
    assert_non_null(strstr(s_res.out, "plan for plan-me: cnn on fashion-mnist, global batch 256"));
    table = strstr(s_res.out, "RANK  LAYOUT");
    assert_non_null(table);
    /* Column 4 is SAMPLES/S: non-increasing down the table. */
    for (p = strchr(table, '\n') + 1; *p >= '0' && *p <= '9'; p = strchr(p, '\n') + 1) {
        char layout[32], device[8];
        int rank;
        double sps;

        assert_int_equal(sscanf(p, "%d %31s %7s %lf", &rank, layout, device, &sps), 4);
        assert_int_equal(rank, rows + 1);
        assert_true(sps <= prev);
        prev = sps;
        rows++;
    }
    assert_int_equal(rows, 20);
    assert_non_null(strstr(s_res.out, "the job file asks for 1x2x1: rank "));
    assert_non_null(strstr(s_res.out, "layout: auto would take "));

    /* --top, --max-nodes and --device narrow it. */
    assert_int_equal(s_run("home", "plan job.yaml --top 3 --max-nodes 1 --device cpu"), 0);
    assert_non_null(strstr(s_res.out, "\n3     1x"));
    assert_null(strstr(s_res.out, "\n4     "));
    assert_null(strstr(s_res.out, "  2x"));

    /* A workload without runs: a cold start, said so. */
    assert_int_equal(s_run("home", "plan cold.yaml --top 5"), 0);
    assert_non_null(strstr(s_res.out, "resnet18 on synthetic-3x32x32"));
    assert_non_null(strstr(s_res.out, "cold start"));
}

/* --json: the documented document, the choice is the best, and predict agrees with it. */
static void
test_plan_json(void **state)
{
    json_t *doc, *cands, *c, *l, *choice, *pred;
    size_t i;
    double prev = INFINITY;
    char args[512];

    assert_int_equal(s_run("home", "plan job.yaml --json"), 0);
    doc = adt_json(s_res.out);
    assert_string_equal(json_string_value(json_object_get(doc, "job")), "plan-me");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(doc, "workload"), "dataset")),
        "fashion-mnist");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(doc, "workload"), "params")), 421642);
    assert_int_equal(json_array_size(json_object_get(doc, "nodes")), 3);
    assert_string_equal(json_string_value(json_object_get(doc, "nodes_from")), "store");
    cands = json_object_get(doc, "candidates");
    assert_int_equal(json_array_size(cands), 20);
    assert_true(json_integer_value(json_object_get(doc, "candidates_total")) >= 20);
    json_array_foreach(cands, i, c)
    {
        double s = json_number_value(json_object_get(c, "samples_per_s"));

        l = json_object_get(c, "layout");
        assert_true(json_integer_value(json_object_get(l, "nodes")) >= 1);
        assert_true(json_integer_value(json_object_get(l, "procs_per_node")) >= 1);
        assert_true(json_integer_value(json_object_get(l, "threads_per_proc")) >= 1);
        assert_string_equal(json_string_value(json_object_get(l, "device")), "cpu");
        assert_true(s <= prev && s > 0);
        assert_true(json_number_value(json_object_get(c, "low")) <= s);
        assert_true(json_number_value(json_object_get(c, "high")) >= s);
        assert_true(json_is_number(json_object_get(c, "speedup")));
        assert_true(json_is_number(json_object_get(c, "efficiency")));
        assert_true(json_is_string(json_object_get(c, "basis")));
        assert_true(json_integer_value(json_object_get(c, "n_runs")) == 24);
        assert_true(json_integer_value(json_object_get(c, "cores_used")) >= 1);
        prev = s;
    }
    choice = json_object_get(doc, "choice");
    /* The best, or the best measured one when the best was never run and is not clearly
       better ("measured beats predicted", docs/planner.md). */
    {
        json_int_t rank = json_integer_value(json_object_get(choice, "rank"));

        assert_true(rank >= 1 && (size_t)rank <= json_array_size(cands));
        assert_true(json_equal(json_object_get(choice, "layout"),
                               json_object_get(json_array_get(cands, (size_t)rank - 1), "layout")));
        if (rank > 1)
            assert_true(json_number_value(json_object_get(json_array_get(cands, 0), "low")) <
                        json_number_value(json_object_get(choice, "samples_per_s")));
    }
    assert_true(json_array_size(json_object_get(doc, "probes")) <= 3);
    assert_true(json_is_boolean(json_object_get(choice, "probe")));
    assert_int_equal(json_array_size(json_object_get(doc, "probes")) > 0,
                     json_is_true(json_object_get(choice, "probe")));

    /* The round trip: predict says the same of the chosen layout. */
    l = json_object_get(choice, "layout");
    snprintf(args, sizeof(args),
             "predict --model cnn --dataset fashion-mnist --hardware testhw --batch-size 256 "
             "--layout %d,%d,%d --json",
             (int)json_integer_value(json_object_get(l, "nodes")),
             (int)json_integer_value(json_object_get(l, "procs_per_node")),
             (int)json_integer_value(json_object_get(l, "threads_per_proc")));
    assert_int_equal(s_run("home", args), 0);
    pred = adt_json(s_res.out);
    assert_true(fabs(json_number_value(json_object_get(pred, "samples_per_s")) /
                         json_number_value(json_object_get(choice, "samples_per_s")) -
                     1) < 1e-9);
    json_decref(pred);
    json_decref(doc);
}

static void
test_plan_evaluate(void **state)
{
    json_t *doc, *rows, *r;
    size_t i;
    bool pooled = false;

    assert_int_equal(s_run("home", "plan --evaluate --naive"), 0);
    assert_non_null(strstr(s_res.out, "cross-validation on "));
    assert_non_null(strstr(s_res.out, "loco: leave one configuration out"));
    assert_non_null(strstr(s_res.out, "small-large: "));
    assert_non_null(strstr(s_res.out, "lomo: "));
    assert_non_null(strstr(s_res.out, " MAPE "));
    assert_non_null(strstr(s_res.out, " SPEARMAN "));
    assert_non_null(strstr(s_res.out, " COVERAGE "));
    assert_non_null(strstr(s_res.out, " REGRET-SAME "));
    assert_non_null(strstr(s_res.out, " REGRET-ALL "));
    assert_non_null(strstr(s_res.out, "\nmodel      cnn    fashion-mnist  testhw"));
    assert_non_null(strstr(s_res.out, "\nnaive      all "));
    assert_non_null(strstr(s_res.out, "model over 2 workloads: MAPE median "));

    assert_int_equal(s_run("home", "plan --evaluate --method small-large --small-max-workers 2 "
                                   "--json"),
                     0);
    doc = adt_json(s_res.out);
    assert_int_equal(json_integer_value(json_object_get(doc, "runs")), 48);
    rows = json_object_get(doc, "rows");
    assert_true(json_array_size(rows) >= 3);
    json_array_foreach(rows, i, r)
    {
        assert_string_equal(json_string_value(json_object_get(r, "method")), "small-large");
        assert_true(json_number_value(json_object_get(r, "mape")) >= 0);
        if (json_is_true(json_object_get(r, "pooled"))) {
            pooled = true;
            assert_int_equal(json_integer_value(json_object_get(r, "workloads")), 2);
            /* Runs drawn from the model's own family: extrapolation stays close. */
            assert_true(json_number_value(json_object_get(r, "mape")) < 25);
            assert_true(json_number_value(json_object_get(r, "regret_same")) >= 1);
        }
    }
    assert_true(pooled);
    json_decref(doc);
}

static void
test_plan_errors(void **state)
{
    assert_int_equal(s_run("home", "plan --evaluate --method best"), 2);
    s_one_line("--method must be loco, small-large, lomo or all, got \"best\"");
    assert_int_equal(s_run("home", "plan --method loco job.yaml"), 2);
    s_one_line("--method goes with plan --evaluate");
    assert_int_equal(s_run("home", "plan --evaluate job.yaml"), 2);
    s_one_line("plan --evaluate takes no job file");
    assert_int_equal(s_run("home", "plan"), 2);
    s_one_line("plan: give a job file");
    assert_int_equal(s_run("home", "plan no-such.yaml"), 2);
    s_one_line("no-such.yaml");
    assert_int_equal(s_run("home", "plan broken.yaml"), 2);
    s_one_line("broken.yaml:4:");
    assert_int_equal(s_run("home", "plan job.yaml --device tpu"), 2);
    s_one_line("--device must be cpu, gpu or auto, got \"tpu\"");
    assert_int_equal(s_run("home", "plan job.yaml --top 0"), 2);
    s_one_line("--top");
    /* An empty home: nothing to evaluate, nothing to plan on. */
    assert_int_equal(s_run("empty", "plan --evaluate"), 1);
    s_one_line("nothing to evaluate");
    assert_int_equal(s_run("empty", "plan job.yaml"), 1);
    s_one_line("nothing to plan on");
    assert_string_equal(s_res.out, "");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_predict_contract), cmocka_unit_test(test_predict_bad),
        cmocka_unit_test(test_plan_fallback),    cmocka_unit_test(test_plan_json),
        cmocka_unit_test(test_plan_evaluate),    cmocka_unit_test(test_plan_errors),
    };

    return cmocka_run_group_tests(tests, s_group_setup, s_group_teardown);
}
