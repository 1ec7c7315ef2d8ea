/* test_auto.c - layout: auto: ranking on the UP nodes, probes, the choice after runs (ad_choose) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ad_test.h"
#include "autodist/ad_auto.h"

static const char s_job_text[] = "name: auto-cnn\n"
                                 "model: cnn\n"
                                 "dataset: fashion-mnist\n"
                                 "steps: 100\n"
                                 "batch_size: 256\n"
                                 "layout: auto\n";

static void
s_job(ad_job_t *job)
{
    ad_err_t err = {0};

    if (ad_job_parse_string(s_job_text, "auto.yaml", job, &err))
        fail_msg("%s", err.msg);
    assert_true(job->layout.is_auto);
}

static ad_choose_node_t
s_node(const char *hw, int cores)
{
    ad_choose_node_t n = {.hardware = hw,
                        .cores = cores,
                        .memory_bytes = 16LL << 30,
                        .gemm_gflops_1 = 40,
                        .gemm_gflops_all = 40.0 * cores,
                        .mem_bw_gbs = 10};

    return n;
}

/* A store where this workload measured 1x1x1 1000, 1x1x2 1500 and 1x2x1 1900 samples/s. */
static ad_store_t *
s_store(char *path, size_t cap)
{
    static const int layouts[][3] = {{1, 1, 1}, {1, 1, 2}, {1, 2, 1}};
    static const double rates[] = {1000, 1500, 1900};
    ad_store_t *st = NULL;
    ad_err_t err = {0};

    adt_fresh_path(path, cap, "store", ".db");
    assert_int_equal(ad_store_open(path, AD_STORE_CREATE, &st, &err), 0);
    for (int rep = 0; rep < 2; rep++)
        for (int i = 0; i < 3; i++) {
            ad_run_t r;

            ad_store_run_init(&r);
            r.model = "cnn";
            r.dataset = "fashion-mnist";
            r.hardware = "hwA";
            r.nodes = layouts[i][0];
            r.procs_per_node = layouts[i][1];
            r.threads_per_proc = layouts[i][2];
            r.batch_size = 256;
            r.state = AD_JOB_COMPLETED;
            r.samples_per_s = rates[i] * (rep ? 1.01 : 0.99);
            r.params = 421642;
            assert_int_equal(ad_store_add_run(st, &r, NULL), 0);
        }
    return st;
}

/* A store where this workload ran only on 1x1x1, at 1000 samples/s. */
static ad_store_t *
s_store_1x1x1(char *path, size_t cap)
{
    ad_store_t *st = NULL;
    ad_err_t err = {0};

    adt_fresh_path(path, cap, "store", ".db");
    assert_int_equal(ad_store_open(path, AD_STORE_CREATE, &st, &err), 0);
    for (int rep = 0; rep < 3; rep++) {
        ad_run_t r;

        ad_store_run_init(&r);
        r.model = "cnn";
        r.dataset = "fashion-mnist";
        r.hardware = "hwA";
        r.nodes = r.procs_per_node = r.threads_per_proc = 1;
        r.batch_size = 256;
        r.state = AD_JOB_COMPLETED;
        r.samples_per_s = 1000 * (0.99 + 0.01 * rep);
        r.params = 421642;
        assert_int_equal(ad_store_add_run(st, &r, NULL), 0);
    }
    return st;
}

/* Cold start on one 2-core node: every fitting layout is ranked, none uses 3 cores. */
static void
test_cold_start(void **state)
{
    ad_choose_node_t n = s_node("hwA", 2);
    ad_auto_choice_t c;
    ad_err_t err = {0};
    ad_job_t job;
    json_t *list, *o;
    size_t i;

    s_job(&job);
    if (ad_auto_decide(NULL, &job, "fashion-mnist", &n, 1, 0, &c, &err))
        fail_msg("%s", err.msg);
    assert_false(c.probe);
    assert_true(c.n_candidates >= 3);
    assert_true(c.layout.procs_per_node * c.layout.threads_per_proc <= 2);
    assert_true(c.pred.samples_per_s > 0 && isfinite(c.pred.samples_per_s));
    assert_string_equal(c.pred.basis, "cold start");
    list = json_object_get(c.explain, "candidates");
    assert_int_equal(json_array_size(list), c.n_candidates);
    json_array_foreach(list, i, o)
    {
        const char *l = json_string_value(json_object_get(o, "layout"));
        int a, b, t;

        assert_int_equal(sscanf(l, "%dx%dx%d", &a, &b, &t), 3);
        assert_true(a == 1 && b * t <= 2);
    }
    ad_auto_choice_clear(&c);
    ad_job_clear(&job);
}

/* With runs logged, the measured best wins; with probes allowed, overlapping ones are probed. */
static void
test_from_runs_and_probes(void **state)
{
    ad_choose_node_t n = s_node("hwA", 2);
    ad_auto_choice_t c;
    ad_err_t err = {0};
    char path[128];
    ad_store_t *st = s_store(path, sizeof(path));
    ad_job_t job;

    s_job(&job);
    if (ad_auto_decide(st, &job, "fashion-mnist", &n, 1, 0, &c, &err))
        fail_msg("%s", err.msg);
    assert_false(c.probe);
    assert_int_equal(c.layout.nodes, 1);
    assert_int_equal(c.layout.procs_per_node, 2);
    assert_int_equal(c.layout.threads_per_proc, 1);
    assert_true(fabs(c.pred.samples_per_s - 1900) / 1900 < 0.1);
    assert_true(fabs(c.pred.speedup - 1.9) < 0.2);
    ad_auto_choice_clear(&c);

    /* Probing allowed: at most 3 probes, each a layout that fits, and no duplicates. */
    if (ad_auto_decide(st, &job, "fashion-mnist", &n, 1, 3, &c, &err))
        fail_msg("%s", err.msg);
    assert_true(c.n_probes <= 3);
    assert_int_equal(c.probe, c.n_probes > 0);
    for (size_t i = 0; i < c.n_probes; i++) {
        assert_true(c.probes[i].procs_per_node * c.probes[i].threads_per_proc <= 2);
        for (size_t j = 0; j < i; j++)
            assert_false(c.probes[i].procs_per_node == c.probes[j].procs_per_node &&
                         c.probes[i].threads_per_proc == c.probes[j].threads_per_proc &&
                         c.probes[i].nodes == c.probes[j].nodes);
    }
    ad_auto_choice_clear(&c);
    ad_job_clear(&job);
    ad_store_close(&st);
    unlink(path);
}

/* Two simulated nodes of one 2-core machine share its cores: no layout uses more than 2. */
static void
test_simulated_nodes_share_cores(void **state)
{
    ad_choose_node_t n[2] = {s_node("hwA", 2), s_node("hwA", 2)};
    ad_auto_choice_t c;
    ad_err_t err = {0};
    json_t *o;
    size_t i;
    ad_job_t job;

    s_job(&job);
    n[0].this_machine = n[1].this_machine = true;
    if (ad_auto_decide(NULL, &job, "fashion-mnist", n, 2, 3, &c, &err))
        fail_msg("%s", err.msg);
    json_array_foreach(json_object_get(c.explain, "candidates"), i, o)
    {
        int a, b, t;

        assert_int_equal(
            sscanf(json_string_value(json_object_get(o, "layout")), "%dx%dx%d", &a, &b, &t), 3);
        assert_true(a * b * t <= 2);
    }
    for (i = 0; i < c.n_probes; i++)
        assert_true(c.probes[i].nodes * c.probes[i].procs_per_node * c.probes[i].threads_per_proc <=
                    2);
    /* 1x1x1, 1x1x2, 1x2x1 and 2x1x1. */
    assert_int_equal(c.n_candidates, 4);
    ad_auto_choice_clear(&c);
    /* The same two nodes as separate machines: 4-core layouts come back. */
    n[0].this_machine = n[1].this_machine = false;
    if (ad_auto_decide(NULL, &job, "fashion-mnist", n, 2, 0, &c, &err))
        fail_msg("%s", err.msg);
    assert_true(c.n_candidates > 4);
    ad_auto_choice_clear(&c);
    ad_job_clear(&job);
}

/* A ranked candidate for ad_choose_pick(): predicted rate, interval low end, own runs. */
static ad_planner_cand_t
s_cand(int nodes, double sps, double low, int n_here)
{
    ad_planner_cand_t c = {
        .layout = {.nodes = nodes, .procs_per_node = 1, .threads_per_proc = 1},
        .pred = {.samples_per_s = sps, .low = low, .high = 2 * sps, .n_here = n_here}};

    return c;
}

/*
 * The rule: an unmeasured top layout is taken only when the low end of its
 * interval clears the samples/s of the best measured layout (the first one
 * with runs of its own in the ranking); otherwise that measured layout is.
 */
static void
test_pick_rule(void **state)
{
    ad_planner_cand_t c[4];

    /* Just below the bound: the measured layout (1900) wins over a top whose low is 1899. */
    c[0] = s_cand(4, 5000, 1899, 0);
    c[1] = s_cand(2, 3000, 1000, 0);
    c[2] = s_cand(1, 1900, 1800, 2);
    c[3] = s_cand(1, 1500, 1400, 2);
    assert_int_equal(ad_choose_pick(c, 4), 2);
    /* On the bound and above it: the top layout. */
    c[0].pred.low = 1900;
    assert_int_equal(ad_choose_pick(c, 4), 0);
    c[0].pred.low = 2500;
    assert_int_equal(ad_choose_pick(c, 4), 0);
    /* Only the best measured layout counts, not a later one (1500 < 1899 < 1900). */
    c[0].pred.low = 1600;
    assert_int_equal(ad_choose_pick(c, 4), 2);
    /* A measured top layout is taken whatever its interval. */
    c[0].pred.n_here = 1;
    c[0].pred.low = 10;
    assert_int_equal(ad_choose_pick(c, 4), 0);
    /* Nothing measured: the top layout; an empty ranking: 0. */
    c[0].pred.n_here = 0;
    c[2].pred.n_here = c[3].pred.n_here = 0;
    assert_int_equal(ad_choose_pick(c, 4), 0);
    assert_int_equal(ad_choose_pick(c, 0), 0);
}

/*
 * ad_auto_decide() on nodes n with store st: the choice is the rule applied
 * to the ranking of the same planner (computed here on its own).  Returns
 * true when the top layout was unmeasured and won, false when a measured one
 * did over an unmeasured top; fails when the top was measured.
 */
static bool
s_decide_by_rule(ad_store_t *st, const ad_choose_node_t *n, size_t n_nodes)
{
    ad_planner_workload_t w = {
        .model = "cnn", .dataset = "fashion-mnist", .batch_size = 256, .flops_per_sample = NAN};
    ad_choose_opts_t o = {.device = "cpu"};
    ad_planner_t *p = ad_planner_new();
    const ad_planner_cand_t *top, *measured = NULL, *want;
    ad_auto_choice_t c;
    ad_choose_t ch;
    ad_err_t err = {0};
    ad_job_t job;
    bool top_won;

    assert_int_equal(ad_planner_load_store(p, st, NULL, NULL, &err), 0);
    if (ad_choose_layout(p, &w, n, n_nodes, &o, &ch, &err))
        fail_msg("%s", err.msg);
    assert_true(ch.n > 1);
    top = &ch.cands[0];
    assert_int_equal(top->pred.n_here, 0);
    for (size_t i = 1; i < ch.n && !measured; i++)
        if (ch.cands[i].pred.n_here > 0)
            measured = &ch.cands[i];
    assert_non_null(measured);
    top_won = top->pred.low >= measured->pred.samples_per_s;
    want = top_won ? top : measured;

    s_job(&job);
    if (ad_auto_decide(st, &job, "fashion-mnist", n, n_nodes, 0, &c, &err))
        fail_msg("%s", err.msg);
    assert_false(c.probe);
    assert_int_equal(c.layout.nodes, want->layout.nodes);
    assert_int_equal(c.layout.procs_per_node, want->layout.procs_per_node);
    assert_int_equal(c.layout.threads_per_proc, want->layout.threads_per_proc);
    assert_true(c.pred.samples_per_s == want->pred.samples_per_s);
    assert_true(c.pred.low == want->pred.low);
    ad_auto_choice_clear(&c);
    ad_job_clear(&job);
    ad_choose_clear(&ch);
    ad_planner_free(&p);
    return top_won;
}

/*
 * Two nodes, runs on one: the 2-node layouts are extrapolations whose low end
 * stays below the measured 1x2x1 (1900 samples/s), which wins.  Four nodes of
 * 16 cores with only 1x1x1 runs: the top layout's low end clears them and wins.
 */
static void
test_measured_beats_predicted(void **state)
{
    ad_choose_node_t two[2] = {s_node("hwA", 2), s_node("hwA", 2)};
    ad_choose_node_t four[4] = {s_node("hwA", 16), s_node("hwA", 16), s_node("hwA", 16),
                              s_node("hwA", 16)};
    char path[128];
    ad_store_t *st = s_store(path, sizeof(path));

    assert_false(s_decide_by_rule(st, two, 2));
    ad_store_close(&st);
    unlink(path);

    st = s_store_1x1x1(path, sizeof(path));
    assert_true(s_decide_by_rule(st, four, 4));
    ad_store_close(&st);
    unlink(path);
}

/* No node: -EAGAIN (the coordinator waits); a probe job is the same training, short. */
static void
test_no_nodes_and_probe_job(void **state)
{
    ad_planner_layout_t l = {.nodes = 2, .procs_per_node = 1, .threads_per_proc = 4};
    ad_auto_choice_t c;
    ad_err_t err = {0};
    ad_job_t job, probe;

    s_job(&job);
    assert_int_equal(ad_auto_decide(NULL, &job, "fashion-mnist", NULL, 0, 3, &c, &err), -EAGAIN);
    assert_non_null(strstr(err.msg, "no node is UP"));
    ad_auto_probe_job(&job, &l, AD_AUTO_PROBE_STEPS, &probe);
    assert_string_equal(probe.name, "auto-cnn-probe-2x1x4");
    assert_false(probe.layout.is_auto);
    assert_int_equal(probe.layout.nodes, 2);
    assert_int_equal(probe.layout.threads_per_proc, 4);
    assert_int_equal(probe.steps, AD_AUTO_PROBE_STEPS);
    assert_int_equal(probe.batch_size, job.batch_size);
    assert_int_equal(probe.model, job.model);
    assert_false(probe.eval);
    ad_job_clear(&probe);
    ad_job_clear(&job);
}

/* The stores live under the temp root. */
static int
s_group_setup(void **state)
{
    return adt_root_make("ad_test_auto") ? 0 : -1;
}

static int
s_group_teardown(void **state)
{
    return adt_root_remove();
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cold_start),
        cmocka_unit_test(test_from_runs_and_probes),
        cmocka_unit_test(test_simulated_nodes_share_cores),
        cmocka_unit_test(test_pick_rule),
        cmocka_unit_test(test_measured_beats_predicted),
        cmocka_unit_test(test_no_nodes_and_probe_job),
    };

    return cmocka_run_group_tests(tests, s_group_setup, s_group_teardown);
}
