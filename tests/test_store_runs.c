/* test_store_runs.c - the store's runs: round trips, speedups and groups, bulk loads, metrics */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ad_test.h"
#include "autodist/ad_store.h"
#include "store_fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>

static int
s_count_fn(const ad_run_t *run, void *arg)
{
    (*(int64_t *)arg)++;
    return 0;
}

static int64_t
s_count_runs(ad_store_t *store, const ad_run_filter_t *f)
{
    int64_t n = 0;

    assert_int_equal(ad_store_each_run(store, f, s_count_fn, &n), 0);
    return n;
}

/* ---------------------------------------------------------------------------------------- */
/* Round trips.                                                                            */

static void
test_runs_round_trip(void **state)
{
    char path[512];
    ad_store_t *store = sft_new_store(path, sizeof(path), "runs");
    ad_run_filter_t f = {0};
    ad_run_result_t res;
    ad_sweep_row_t sweep = {0}, got_sweep;
    ad_job_row_t job;
    ad_run_t run, got;
    int64_t sid, sid2, jid, id, id2;
    bool created;

    sweep.name = "scaling";
    sweep.file_hash = "abc123";
    sweep.spec = "{\"grid\":{}}";
    assert_int_equal(ad_store_add_sweep(store, &sweep, &sid, &created), 0);
    assert_true(created);
    /* The same file again is the same sweep: a rerun resumes. */
    assert_int_equal(ad_store_add_sweep(store, &sweep, &sid2, &created), 0);
    assert_false(created);
    assert_int_equal(sid, sid2);
    sweep.file_hash = "def456";
    assert_int_equal(ad_store_add_sweep(store, &sweep, &sid2, &created), 0);
    assert_true(created);
    assert_int_not_equal(sid, sid2);
    assert_int_equal(ad_store_get_sweep(store, sid, &got_sweep), 0);
    assert_string_equal(got_sweep.name, "scaling");
    assert_string_equal(got_sweep.file_hash, "abc123");
    assert_string_equal(got_sweep.spec, "{\"grid\":{}}");
    ad_store_sweep_row_clear(&got_sweep);

    ad_store_job_row_init(&job);
    job.name = "j";
    job.sweep = sid;
    job.config_hash = "cfg-1";
    assert_int_equal(ad_store_add_job(store, &job, &jid), 0);

    sft_run(&run, 2, 2, 3, AD_JOB_RUNNING, NAN);
    run.job = jid;
    run.sweep = sid;
    run.config_hash = "cfg-1";
    run.params = 421642;
    id = sft_add_run(store, &run);
    assert_int_equal(ad_store_get_run(store, id, &got), 0);
    assert_int_equal(got.id, id);
    assert_int_equal(got.job, jid);
    assert_int_equal(got.sweep, sid);
    assert_string_equal(got.config_hash, "cfg-1");
    assert_string_equal(got.model, "cnn");
    assert_string_equal(got.dataset, "fashion-mnist");
    assert_string_equal(got.hardware, "hw-a");
    assert_string_equal(got.device, "cpu");
    assert_int_equal(got.nodes, 2);
    assert_int_equal(got.procs_per_node, 2);
    assert_int_equal(got.threads_per_proc, 3);
    assert_int_equal(got.batch_size, 256);
    assert_int_equal(got.state, AD_JOB_RUNNING);
    assert_int_equal(got.params, 421642);
    assert_false(isnan(got.started)); /* added RUNNING: stamped */
    assert_true(isnan(got.ended));
    assert_true(isnan(got.samples_per_s));
    assert_int_equal(got.baseline, 0);
    ad_store_run_clear(&got);

    ad_store_run_result_init(&res, AD_JOB_COMPLETED);
    res.samples_per_s = 5000;
    res.epoch_time_s = 12.5;
    res.accuracy = 0.912;
    res.step_time_s = 0.05;
    res.comm_time_s = 0.01;
    res.ended = 1.7e9;
    assert_int_equal(ad_store_finish_run(store, id, &res), 0);
    assert_int_equal(ad_store_get_run(store, id, &got), 0);
    assert_int_equal(got.state, AD_JOB_COMPLETED);
    assert_near(got.samples_per_s, 5000);
    assert_near(got.epoch_time_s, 12.5);
    assert_near(got.accuracy, 0.912);
    assert_near(got.step_time_s, 0.05);
    assert_near(got.comm_time_s, 0.01);
    assert_near(got.ended, 1.7e9);
    assert_int_equal(got.params, 421642);
    assert_true(isnan(got.speedup)); /* no baseline yet */
    ad_store_run_clear(&got);

    /* Finishing twice, or finishing into a non-final state, is refused. */
    assert_int_equal(ad_store_finish_run(store, id, &res), AD_EINVAL);
    adt_assert_has(ad_store_errmsg(store), "already finished (COMPLETED)");
    ad_store_run_result_init(&res, AD_JOB_RUNNING);
    assert_int_equal(ad_store_finish_run(store, id, &res), AD_EINVAL);
    ad_store_run_result_init(&res, AD_JOB_FAILED);
    assert_int_equal(ad_store_finish_run(store, 999, &res), -ENOENT);
    adt_assert_has(ad_store_errmsg(store), "run 999: no such run");

    /* Resume lookup by sweep and configuration hash. */
    run.config_hash = "cfg-1";
    id2 = sft_add_run(store, &run);
    assert_int_equal(ad_store_find_run(store, sid, "cfg-1", &got), 0);
    assert_int_equal(got.id, id2);
    ad_store_run_clear(&got);
    assert_int_equal(ad_store_find_run(store, sid, "cfg-2", &got), -ENOENT);
    assert_int_equal(ad_store_find_run(store, 0, "cfg-1", &got), -ENOENT);
    run.sweep = 0;
    run.job = 0;
    run.config_hash = "loose";
    id2 = sft_add_run(store, &run);
    assert_int_equal(ad_store_find_run(store, 0, "loose", &got), 0);
    assert_int_equal(got.id, id2);
    assert_int_equal(got.sweep, 0);
    ad_store_run_clear(&got);

    /* Validation. */
    run.model = NULL;
    assert_int_equal(ad_store_add_run(store, &run, NULL), AD_EINVAL);
    run.model = "cnn";
    run.batch_size = 0;
    assert_int_equal(ad_store_add_run(store, &run, NULL), AD_EINVAL);
    adt_assert_has(ad_store_errmsg(store), "batch 0");
    /* A run that points at a missing job is refused in plain words. */
    run.batch_size = 256;
    run.job = 4242;
    assert_int_equal(ad_store_add_run(store, &run, NULL), AD_EDB);
    adt_assert_has(ad_store_errmsg(store), "does not exist");

    /* Filters. */
    assert_int_equal(s_count_runs(store, NULL), 3);
    f.sweep = sid;
    assert_int_equal(s_count_runs(store, &f), 2);
    f.states = AD_JOB_MASK(AD_JOB_COMPLETED);
    assert_int_equal(s_count_runs(store, &f), 1);
    memset(&f, 0, sizeof(f));
    f.model = "cnn";
    f.threads_per_proc = 3;
    f.limit = 2;
    assert_int_equal(s_count_runs(store, &f), 2);
    f.model = "resnet18";
    assert_int_equal(s_count_runs(store, &f), 0);
    ad_store_close(&store);
}

typedef struct {
    int64_t ids[8];
    int n;
} s_ids_t;

static int
s_collect_ids(const ad_run_t *run, void *arg)
{
    s_ids_t *ids = arg;

    ids->ids[ids->n++] = run->id;
    return ids->n == 2 ? 7 : 0;
}

static void
test_each_run_order_and_stop(void **state)
{
    char path[512];
    ad_store_t *store = sft_new_store(path, sizeof(path), "order");
    ad_run_filter_t f = {0};
    s_ids_t ids = {{0}, 0};
    ad_run_t run;
    int64_t id[4];

    sft_run(&run, 1, 2, 1, AD_JOB_RUNNING, NAN);
    for (int i = 0; i < 4; i++)
        id[i] = sft_add_run(store, &run);
    f.newest_first = true;
    /* The callback's non-zero value stops the walk and comes back. */
    assert_int_equal(ad_store_each_run(store, &f, s_collect_ids, &ids), 7);
    assert_int_equal(ids.n, 2);
    assert_int_equal(ids.ids[0], id[3]);
    assert_int_equal(ids.ids[1], id[2]);
    ad_store_close(&store);
}

/* ---------------------------------------------------------------------------------------- */
/* Speedup.                                                                                */

/* The baseline of a group as the store holds it; fails when there is none. */
typedef struct {
    ad_baseline_t b;
    char runs[256];
    int n;
} s_base_t;

static int
s_take_base(const ad_baseline_t *b, void *arg)
{
    s_base_t *out = arg;

    out->b = *b;
    snprintf(out->runs, sizeof(out->runs), "%s", b->runs);
    out->b.runs = out->runs;
    out->n++;
    return 0;
}

static s_base_t
s_base_of(ad_store_t *store, const char *device)
{
    ad_run_filter_t f = {0};
    s_base_t out = {0};

    f.model = "cnn";
    f.device = device;
    f.hardware = "hw-a";
    assert_int_equal(ad_store_each_baseline(store, &f, s_take_base, &out), 0);
    return out;
}

static void
test_speedup_baseline_first(void **state)
{
    char path[512], runs[64];
    ad_store_t *store = sft_new_store(path, sizeof(path), "speedup1");
    int64_t base, old_base, third, run4, other;
    ad_run_t got, run;
    s_base_t b;

    old_base = sft_run_to_completion(store, 1, 1, 1, 500, 100);
    base = sft_run_to_completion(store, 1, 1, 1, 1000, 200);
    third = sft_run_to_completion(store, 1, 1, 1, 800, 150);
    run4 = sft_run_to_completion(store, 2, 2, 1, 3600, 300);

    /* The baseline is the mean of the three repeats, not the latest of them. */
    b = s_base_of(store, "cpu");
    assert_int_equal(b.n, 1);
    assert_int_equal(b.b.n, 3);
    assert_near(b.b.sps, 2300.0 / 3);
    assert_near(b.b.sps_sd, sqrt((pow(500 - 2300.0 / 3, 2) + pow(1000 - 2300.0 / 3, 2) +
                                  pow(800 - 2300.0 / 3, 2)) /
                                 2));
    assert_false(b.b.pinned);
    snprintf(runs, sizeof(runs), "[%lld,%lld,%lld]", (long long)old_base, (long long)base,
             (long long)third);
    assert_string_equal(b.runs, runs);

    /* Every repeat is measured against that mean, and so is every other layout. */
    assert_int_equal(ad_store_get_run(store, base, &got), 0);
    assert_int_equal(got.baseline, third); /* the newest run of the baseline */
    assert_near(got.speedup, 1000 / (2300.0 / 3));
    ad_store_run_clear(&got);
    assert_int_equal(ad_store_get_run(store, run4, &got), 0);
    assert_int_equal(got.baseline, third);
    assert_near(got.speedup, 3600 / (2300.0 / 3));
    assert_true(got.speedup_lo < got.speedup && got.speedup < got.speedup_hi);
    /* 4.7x on 4 cores cannot be: the flag says so. */
    assert_string_equal(got.flags, AD_STORE_FLAG_EFFICIENCY);
    ad_store_run_clear(&got);

    /* Another batch size is another group: no baseline. */
    sft_run(&run, 1, 1, 4, AD_JOB_RUNNING, NAN);
    run.batch_size = 512;
    other = sft_add_run(store, &run);
    {
        ad_run_result_t res;

        ad_store_run_result_init(&res, AD_JOB_COMPLETED);
        res.samples_per_s = 2000;
        assert_int_equal(ad_store_finish_run(store, other, &res), 0);
    }
    assert_int_equal(ad_store_get_run(store, other, &got), 0);
    assert_int_equal(got.baseline, 0);
    assert_true(isnan(got.speedup));
    assert_true(isnan(got.speedup_lo));
    ad_store_run_clear(&got);

    /* A failed run gets no speedup even with a throughput. */
    {
        ad_run_result_t res;
        int64_t failed;

        sft_run(&run, 2, 1, 1, AD_JOB_RUNNING, NAN);
        failed = sft_add_run(store, &run);
        ad_store_run_result_init(&res, AD_JOB_FAILED);
        res.samples_per_s = 1500;
        assert_int_equal(ad_store_finish_run(store, failed, &res), 0);
        assert_int_equal(ad_store_get_run(store, failed, &got), 0);
        assert_true(isnan(got.speedup));
        ad_store_run_clear(&got);
    }
    ad_store_close(&store);
}

static void
test_speedup_baseline_after(void **state)
{
    char path[512];
    ad_store_t *store = sft_new_store(path, sizeof(path), "speedup2");
    int64_t r1, r2, gpu, other_hw, base, base2, later;
    ad_run_t run, got;

    r1 = sft_run_to_completion(store, 2, 1, 1, 1900, 10);
    r2 = sft_run_to_completion(store, 1, 4, 2, 6000, 20);
    sft_run(&run, 2, 1, 1, AD_JOB_COMPLETED, 7000);
    run.device = "gpu";
    gpu = sft_add_run(store, &run);
    sft_run(&run, 2, 1, 1, AD_JOB_COMPLETED, 2500);
    run.hardware = "hw-b";
    other_hw = sft_add_run(store, &run);
    assert_int_equal(ad_store_get_run(store, r1, &got), 0);
    assert_true(isnan(got.speedup));
    ad_store_run_clear(&got);

    base = sft_run_to_completion(store, 1, 1, 1, 1000, 30);
    assert_int_equal(ad_store_get_run(store, r1, &got), 0);
    assert_int_equal(got.baseline, base);
    assert_near(got.speedup, 1.9);
    ad_store_run_clear(&got);
    assert_int_equal(ad_store_get_run(store, r2, &got), 0);
    assert_near(got.speedup, 6.0);
    ad_store_run_clear(&got);
    /* Other device, other hardware class: untouched. */
    assert_int_equal(ad_store_get_run(store, gpu, &got), 0);
    assert_true(isnan(got.speedup));
    ad_store_run_clear(&got);
    assert_int_equal(ad_store_get_run(store, other_hw, &got), 0);
    assert_true(isnan(got.speedup));
    ad_store_run_clear(&got);

    /* A second repeat refines the baseline (mean 1125), and every speedup follows it. */
    base2 = sft_run_to_completion(store, 1, 1, 1, 1250, 40);
    assert_int_equal(ad_store_get_run(store, r1, &got), 0);
    assert_int_equal(got.baseline, base2);
    assert_near(got.speedup, 1900 / 1125.0);
    ad_store_run_clear(&got);
    later = sft_run_to_completion(store, 2, 1, 1, 2500, 50);
    assert_int_equal(ad_store_get_run(store, later, &got), 0);
    assert_int_equal(got.baseline, base2);
    assert_near(got.speedup, 2500 / 1125.0);
    ad_store_run_clear(&got);

    /* An imported (added COMPLETED) baseline of the gpu group gives its runs a speedup. */
    sft_run(&run, 1, 1, 1, AD_JOB_COMPLETED, 3500);
    run.device = "gpu";
    base = sft_add_run(store, &run);
    assert_int_equal(ad_store_get_run(store, gpu, &got), 0);
    assert_int_equal(got.baseline, base);
    assert_near(got.speedup, 2.0);
    ad_store_run_clear(&got);
    ad_store_close(&store);
}

/* A `layout: auto` probe never becomes the baseline, unless pinned by hand. */
static void
test_probe_is_no_baseline(void **state)
{
    char path[512];
    ad_store_t *store = sft_new_store(path, sizeof(path), "probe");
    int64_t probe, base, pair, ids[2];
    ad_run_t run, got;
    s_base_t b;

    sft_run(&run, 1, 1, 1, AD_JOB_COMPLETED, 4000);
    run.probe = true;
    probe = sft_add_run(store, &run);
    pair = sft_run_to_completion(store, 1, 2, 1, 1800, 20);
    assert_int_equal(ad_store_get_run(store, pair, &got), 0);
    assert_true(isnan(got.speedup));
    ad_store_run_clear(&got);
    assert_int_equal(s_base_of(store, "cpu").n, 0);

    base = sft_run_to_completion(store, 1, 1, 1, 1000, 30);
    assert_int_equal(ad_store_get_run(store, pair, &got), 0);
    assert_near(got.speedup, 1.8);
    ad_store_run_clear(&got);
    assert_int_equal(ad_store_get_run(store, probe, &got), 0);
    assert_true(got.probe);
    assert_near(got.speedup, 4.0);
    ad_store_run_clear(&got);

    /* Pinning a probe is refused unless asked for. */
    ids[0] = base;
    ids[1] = probe;
    assert_int_equal(ad_store_pin_baseline(store, ids, 2, false), AD_EINVAL);
    assert_non_null(strstr(ad_store_errmsg(store), "is a layout: auto probe"));
    /* A 1x2x1 run is no baseline. */
    assert_int_equal(ad_store_pin_baseline(store, &pair, 1, true), AD_EINVAL);
    assert_non_null(strstr(ad_store_errmsg(store), "its layout is not 1x1x1"));
    assert_int_equal(ad_store_pin_baseline(store, ids, 2, true), 0);
    b = s_base_of(store, "cpu");
    assert_true(b.b.pinned);
    assert_near(b.b.sps, 2500);
    assert_int_equal(ad_store_get_run(store, pair, &got), 0);
    assert_near(got.speedup, 1800 / 2500.0);
    ad_store_run_clear(&got);

    /* A new repeat does not move a pinned baseline... */
    sft_run_to_completion(store, 1, 1, 1, 1100, 40);
    assert_near(s_base_of(store, "cpu").b.sps, 2500);
    /* ...until it is unpinned: the mean of the repeats again (1000, 1100), probes left out. */
    assert_int_equal(ad_store_unpin_baseline(store, pair), 0);
    b = s_base_of(store, "cpu");
    assert_false(b.b.pinned);
    assert_near(b.b.sps, 1050);
    assert_int_equal(ad_store_get_run(store, pair, &got), 0);
    assert_near(got.speedup, 1800 / 1050.0);
    ad_store_run_clear(&got);
    assert_int_equal(ad_store_unpin_baseline(store, pair), -ENOENT);
    assert_non_null(strstr(ad_store_errmsg(store), "is not pinned"));
    assert_int_equal(ad_store_unpin_baseline(store, 999), -ENOENT);
    ad_store_close(&store);
}

/*
 * The "done when": ten repeats of one 1x2x1 job whose throughput varies
 * by 25 % from run to run give intervals that each hold every other repeat's speedup.
 */
static void
test_interval_covers_repeats(void **state)
{
    static const double sps[10] = {1700, 1840, 1620, 1950, 1760, 1985, 1690, 1880, 1800, 1730};
    char path[512];
    ad_store_t *store = sft_new_store(path, sizeof(path), "interval");
    double s[10], lo[10], hi[10];
    ad_run_filter_t f = {0};
    int64_t ids[10];
    ad_run_t got;

    sft_run_to_completion(store, 1, 1, 1, 1000, 10);
    for (int i = 0; i < 10; i++) {
        ad_run_result_t res;
        ad_run_t run;

        sft_run(&run, 1, 2, 1, AD_JOB_RUNNING, NAN);
        ids[i] = sft_add_run(store, &run);
        ad_store_run_result_init(&res, AD_JOB_COMPLETED);
        res.samples_per_s = sps[i];
        res.sps_sd = 0.08 * sps[i];
        res.sps_steps = 40;
        assert_int_equal(ad_store_finish_run(store, ids[i], &res), 0);
        assert_int_equal(ad_store_get_run(store, ids[i], &got), 0);
        s[i] = got.speedup;
        lo[i] = got.speedup_lo;
        hi[i] = got.speedup_hi;
        assert_int_equal(got.sps_steps, 40);
        assert_null(got.flags);
        ad_store_run_clear(&got);
    }
    for (int i = 0; i < 10; i++)
        for (int j = 0; j < 10; j++)
            assert_true(lo[i] <= s[j] && s[j] <= hi[i]);
    /* With one baseline run the interval has its stated floor: c = AD_STORE_CV_ONE. */
    {
        double sp, l, h, want = sqrt(0.08 * 0.08 + 2 * AD_STORE_CV_ONE * AD_STORE_CV_ONE);

        ad_store_speedup_interval(1700, 0.08 * 1700, 1000, NAN, 1, &sp, &l, &h);
        assert_near(sp, 1.7);
        assert_near(l, 1.7 * exp(-AD_STORE_INTERVAL_Z * want));
        assert_near(h, 1.7 * exp(AD_STORE_INTERVAL_Z * want));
    }
    (void)f;
    ad_store_close(&store);
}

/* The flags of the runs of the 1x2x1 group, as ad_store_each_speedup() gives them. */
static int
s_take_group_flags(const ad_speedup_row_t *row, void *arg)
{
    if (row->procs_per_node == 2)
        snprintf(arg, 96, "%s", row->run_flags ? row->run_flags : "(null)");
    return 0;
}

static bool
s_keep_all(const ad_run_t *run, void *arg)
{
    (void)run;
    (void)arg;
    return true;
}

/* The flagging rule, and flags kept with the run as it finishes. */
static void
test_flags(void **state)
{
    char path[512], buf[128];
    ad_store_t *store = sft_new_store(path, sizeof(path), "flags");
    ad_run_result_t res;
    ad_run_t run, got;
    int64_t id;

    sft_run(&run, 1, 2, 1, AD_JOB_COMPLETED, 1000);
    assert_string_equal(ad_store_run_flags(&run, 0, buf, sizeof(buf)), "");
    run.load_other = 0.49;
    assert_string_equal(ad_store_run_flags(&run, 10000, buf, sizeof(buf)), "");
    run.accuracy = 1.0;   /* on 3 images */
    run.load_other = 1.0; /* another process held a core */
    run.sps_sd = 300;     /* 30 % of the mean */
    run.speedup = 2.2;    /* on 2 cores */
    assert_string_equal(ad_store_run_flags(&run, 3, buf, sizeof(buf)),
                        "noisy,high-spread,efficiency>100%,few-samples");
    /* few-samples stays when the test set size is not known any more. */
    run.load_other = NAN;
    run.sps_sd = NAN;
    run.speedup = 2.0;
    run.flags = "few-samples";
    assert_string_equal(ad_store_run_flags(&run, 0, buf, sizeof(buf)), "few-samples");
    /* No accuracy, nothing it could mislead about. */
    run.accuracy = NAN;
    assert_string_equal(ad_store_run_flags(&run, 3, buf, sizeof(buf)), "");

    sft_run(&run, 1, 2, 1, AD_JOB_RUNNING, NAN);
    id = sft_add_run(store, &run);
    ad_store_run_result_init(&res, AD_JOB_COMPLETED);
    res.samples_per_s = 1500;
    res.accuracy = 1.0;
    res.test_samples = 3;
    res.load_other = 1.7;
    res.cpu_time_s = 12.5;
    res.max_rss_bytes = 300 << 20;
    assert_int_equal(ad_store_finish_run(store, id, &res), 0);
    assert_int_equal(ad_store_get_run(store, id, &got), 0);
    assert_string_equal(got.flags, "noisy,few-samples");
    assert_near(got.load_other, 1.7);
    assert_near(got.cpu_time_s, 12.5);
    assert_int_equal(got.max_rss_bytes, 300 << 20);
    ad_store_run_clear(&got);
    /* A baseline arriving later recomputes its speedup and keeps its flags. */
    sft_run_to_completion(store, 1, 1, 1, 1000, 10);
    assert_int_equal(ad_store_get_run(store, id, &got), 0);
    assert_near(got.speedup, 1.5);
    assert_string_equal(got.flags, "noisy,few-samples");
    ad_store_run_clear(&got);
    /* Its layout group shows what its runs are flagged with, from either path. */
    {
        char flags[96] = "";

        sft_run_to_completion(store, 1, 2, 1, 1400, 20);
        assert_int_equal(ad_store_each_speedup(store, NULL, s_take_group_flags, flags), 0);
        assert_string_equal(flags, "noisy,few-samples");
        flags[0] = '\0';
        assert_int_equal(
            ad_store_each_speedup_of(store, NULL, s_keep_all, NULL, s_take_group_flags, flags), 0);
        assert_string_equal(flags, "noisy,few-samples");
    }
    ad_store_close(&store);
}

/* A 1x1x1 repeat finished with load_other (busy cores of other processes). */
static int64_t
s_repeat(ad_store_t *store, double sps, double load_other)
{
    ad_run_result_t res;
    ad_run_t run;
    int64_t id;

    sft_run(&run, 1, 1, 1, AD_JOB_RUNNING, NAN);
    id = sft_add_run(store, &run);
    ad_store_run_result_init(&res, AD_JOB_COMPLETED);
    res.samples_per_s = sps;
    res.load_other = load_other;
    assert_int_equal(ad_store_finish_run(store, id, &res), 0);
    return id;
}

/* A noisy 1x1x1 repeat is the baseline only until a quiet one exists. */
static void
test_noisy_repeat_left_out(void **state)
{
    char path[512];
    ad_store_t *store = sft_new_store(path, sizeof(path), "noisybase");
    int64_t pair;
    ad_run_t got;
    s_base_t b;

    s_repeat(store, 600, 1.0);
    pair = sft_run_to_completion(store, 1, 2, 1, 1800, 20);
    b = s_base_of(store, "cpu");
    assert_int_equal(b.b.n, 1);
    assert_near(b.b.sps, 600);
    assert_int_equal(ad_store_get_run(store, pair, &got), 0);
    assert_near(got.speedup, 3.0);
    ad_store_run_clear(&got);
    /* A quiet repeat replaces it; a second noisy one changes nothing. */
    s_repeat(store, 1000, 0.1);
    s_repeat(store, 500, 1.5);
    b = s_base_of(store, "cpu");
    assert_int_equal(b.b.n, 1);
    assert_near(b.b.sps, 1000);
    assert_int_equal(ad_store_get_run(store, pair, &got), 0);
    assert_near(got.speedup, 1.8);
    ad_store_run_clear(&got);
    ad_store_close(&store);
}

/* In a batch (an import), baselines are recomputed once, at commit; a rollback leaves none. */
static void
test_baseline_in_a_batch(void **state)
{
    char path[512];
    ad_store_t *store = sft_new_store(path, sizeof(path), "batch");
    int64_t pair;
    ad_run_t run, got;

    assert_int_equal(ad_store_begin(store), 0);
    sft_run(&run, 1, 1, 1, AD_JOB_COMPLETED, 900);
    sft_add_run(store, &run);
    sft_run(&run, 1, 2, 1, AD_JOB_COMPLETED, 1500);
    pair = sft_add_run(store, &run);
    sft_run(&run, 1, 1, 1, AD_JOB_COMPLETED, 1100);
    sft_add_run(store, &run);
    assert_int_equal(ad_store_rollback(store), 0);
    assert_int_equal(s_base_of(store, "cpu").n, 0);

    assert_int_equal(ad_store_begin(store), 0);
    sft_run(&run, 1, 1, 1, AD_JOB_COMPLETED, 900);
    sft_add_run(store, &run);
    sft_run(&run, 1, 2, 1, AD_JOB_COMPLETED, 1500);
    pair = sft_add_run(store, &run);
    sft_run(&run, 1, 1, 1, AD_JOB_COMPLETED, 1100);
    sft_add_run(store, &run);
    assert_int_equal(ad_store_commit(store), 0);
    assert_near(s_base_of(store, "cpu").b.sps, 1000);
    assert_int_equal(ad_store_get_run(store, pair, &got), 0);
    assert_near(got.speedup, 1.5);
    ad_store_run_clear(&got);
    ad_store_close(&store);
}

typedef struct {
    ad_speedup_row_t rows[16];
    char models[16][32];
    int n;
} s_speedups_t;

static int
s_collect_speedup(const ad_speedup_row_t *row, void *arg)
{
    s_speedups_t *s = arg;

    assert_true(s->n < 16);
    s->rows[s->n] = *row;
    /* Borrowed strings: keep a copy of what the test looks at. */
    snprintf(s->models[s->n], sizeof(s->models[0]), "%s", row->model);
    s->rows[s->n].model = s->models[s->n];
    s->rows[s->n].dataset = s->rows[s->n].hardware = s->rows[s->n].device = NULL;
    s->n++;
    return 0;
}

static void
test_speedup_groups(void **state)
{
    char path[512];
    ad_store_t *store = sft_new_store(path, sizeof(path), "groups");
    ad_run_filter_t f = {0};
    s_speedups_t s = {0};
    ad_run_t run;

    /* An import: every run added COMPLETED, baseline somewhere in the middle. */
    static const struct {
        int n, p, t;
        double sps;
    } rows[] = {
        {2, 2, 1, 3000}, {2, 2, 1, 3400}, {1, 1, 1, 1000},
        {1, 1, 1, 1000}, {1, 4, 1, 3500}, {2, 2, 1, 3200},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        sft_run(&run, rows[i].n, rows[i].p, rows[i].t, AD_JOB_COMPLETED, rows[i].sps);
        sft_add_run(store, &run);
    }
    /* Not counted: a RUNNING run and another model's run (filtered out below). */
    sft_run(&run, 2, 2, 1, AD_JOB_RUNNING, NAN);
    sft_add_run(store, &run);
    sft_run(&run, 2, 2, 1, AD_JOB_COMPLETED, 100);
    run.model = "mlp";
    sft_add_run(store, &run);

    f.model = "cnn";
    assert_int_equal(ad_store_each_speedup(store, &f, s_collect_speedup, &s), 0);
    assert_int_equal(s.n, 3);
    /* Ordered by layout: 1x1x1, 1x4x1, 2x2x1. */
    assert_int_equal(s.rows[0].nodes, 1);
    assert_int_equal(s.rows[0].procs_per_node, 1);
    assert_int_equal(s.rows[0].runs, 2);
    assert_near(s.rows[0].speedup, 1.0);
    assert_near(s.rows[0].efficiency, 1.0);
    assert_int_equal(s.rows[1].procs_per_node, 4);
    assert_near(s.rows[1].speedup, 3.5);
    assert_near(s.rows[1].efficiency, 3.5 / 4);
    assert_int_equal(s.rows[2].nodes, 2);
    assert_int_equal(s.rows[2].runs, 3);
    assert_near(s.rows[2].samples_per_s, 3200);
    assert_near(s.rows[2].samples_sd, 200);
    assert_near(s.rows[2].speedup, 3.2);
    assert_near(s.rows[2].efficiency, 0.8);
    assert_int_equal(s.rows[2].batch_size, 256);

    memset(&s, 0, sizeof(s));
    assert_int_equal(ad_store_each_speedup(store, NULL, s_collect_speedup, &s), 0);
    assert_int_equal(s.n, 4);
    assert_string_equal(s.models[3], "mlp");
    assert_true(isnan(s.rows[3].speedup)); /* no mlp baseline */
    ad_store_close(&store);
}

/* run_groups must equal the GROUP BY it stands for, whoever wrote runs. */
static void
s_assert_groups_exact(const char *path)
{
    static const char truth[] =
        "SELECT model, dataset, batch_size, hardware, nodes, procs_per_node, threads_per_proc,"
        " device, count(*) AS n, round(sum(samples_per_s), 6) AS s,"
        " round(sum(samples_per_s * samples_per_s), 3) AS s2, count(speedup) AS k,"
        " round(total(speedup), 9) AS ks FROM runs WHERE state = 'COMPLETED' AND"
        " samples_per_s > 0 GROUP BY 1, 2, 3, 4, 5, 6, 7, 8";
    static const char kept[] =
        "SELECT model, dataset, batch_size, hardware, nodes, procs_per_node, threads_per_proc,"
        " device, runs, round(sum_sps, 6), round(sum_sps2, 3), speedups, round(sum_speedup, 9)"
        " FROM run_groups";
    char sql[1600];

    snprintf(sql, sizeof(sql), "SELECT count(*) FROM (%s EXCEPT %s)", truth, kept);
    assert_int_equal(sft_raw_int(path, sql), 0);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM (%s EXCEPT %s)", kept, truth);
    assert_int_equal(sft_raw_int(path, sql), 0);
}

static void
test_run_groups_stay_exact(void **state)
{
    char path[512];
    ad_store_t *store = sft_new_store(path, sizeof(path), "exact");
    ad_run_result_t res;
    int64_t ids[300];
    ad_run_t run;

    srand(7);
    /* Imports, launches and finishes in every state, baselines early and late. */
    for (int i = 0; i < 300; i++) {
        int layout = rand() % 4;

        sft_run(&run, layout == 3 ? 2 : 1, layout >= 2 ? 2 : 1, layout == 1 ? 2 : 1,
                rand() % 3 ? AD_JOB_RUNNING : AD_JOB_COMPLETED, 100 + rand() % 900);
        run.batch_size = 128 << (rand() % 2);
        run.device = rand() % 4 ? "cpu" : "gpu";
        if (run.state == AD_JOB_RUNNING)
            run.samples_per_s = NAN;
        ids[i] = sft_add_run(store, &run);
        if (run.state == AD_JOB_RUNNING && rand() % 5) {
            ad_store_run_result_init(&res, rand() % 4 ? AD_JOB_COMPLETED : AD_JOB_FAILED);
            if (rand() % 8)
                res.samples_per_s = 100 + rand() % 900;
            assert_int_equal(ad_store_finish_run(store, ids[i], &res), 0);
        }
    }
    s_assert_groups_exact(path);
    assert_true(sft_raw_int(path, "SELECT count(*) FROM run_groups") > 4);
    assert_true(sft_raw_int(path, "SELECT sum(speedups) FROM run_groups") > 50);

    /* Hand edits with sqlite3: the triggers follow them too. */
    ad_store_close(&store);
    sft_raw_exec(path, "PRAGMA foreign_keys = ON;"
                       "UPDATE runs SET samples_per_s = samples_per_s * 2 WHERE id % 7 = 0;"
                       "UPDATE runs SET state = 'FAILED' WHERE id % 11 = 0;"
                       "UPDATE runs SET hardware = 'hw-z' WHERE id % 13 = 0;"
                       "UPDATE runs SET speedup = NULL, baseline = NULL WHERE id % 5 = 0;"
                       "DELETE FROM runs WHERE id % 3 = 0;");
    s_assert_groups_exact(path);
    /* Deleting every run of a layout removes its row. */
    sft_raw_exec(path, "DELETE FROM runs;");
    assert_int_equal(sft_raw_int(path, "SELECT count(*) FROM run_groups"), 0);
}

static void
test_speedup_of_a_sweep(void **state)
{
    char path[512];
    ad_store_t *store = sft_new_store(path, sizeof(path), "sweepspeed");
    ad_run_filter_t f = {0};
    s_speedups_t s = {0};
    ad_sweep_row_t sweep = {0};
    ad_run_t run;
    int64_t sid;

    sweep.name = "scaling";
    sweep.file_hash = "h";
    assert_int_equal(ad_store_add_sweep(store, &sweep, &sid, NULL), 0);
    sft_run(&run, 1, 1, 1, AD_JOB_COMPLETED, 1000);
    sft_add_run(store, &run);
    sft_run(&run, 1, 4, 1, AD_JOB_COMPLETED, 3000);
    sft_add_run(store, &run);
    run.sweep = sid;
    run.samples_per_s = 3800;
    sft_add_run(store, &run);

    /* Only the sweep's run: read from runs, not from the layout sums. */
    f.sweep = sid;
    assert_int_equal(ad_store_each_speedup(store, &f, s_collect_speedup, &s), 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.rows[0].runs, 1);
    assert_near(s.rows[0].speedup, 3.8);
    memset(&s, 0, sizeof(s));
    assert_int_equal(ad_store_each_speedup(store, NULL, s_collect_speedup, &s), 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.rows[1].runs, 2);
    assert_near(s.rows[1].speedup, 3.4);
    assert_near(s.rows[1].samples_sd, sqrt(2.0) * 400);
    ad_store_close(&store);
}

/* Keep the runs whose accuracy is above *arg. */
static bool
s_keep_accurate(const ad_run_t *run, void *arg)
{
    return !isnan(run->accuracy) && run->accuracy > *(const double *)arg;
}

/* Speedups grouped from the runs: the same figures as run_groups, and a choice of runs. */
static void
test_speedup_of_runs(void **state)
{
    char path[512];
    ad_store_t *store = sft_new_store(path, sizeof(path), "speedupof");
    s_speedups_t all = {0}, of = {0};
    ad_run_filter_t f = {0};
    double above = 0.5;
    ad_run_t run;

    static const struct {
        int n, p, t;
        double sps, acc;
    } rows[] = {
        {2, 2, 1, 3000, 0.9}, {2, 2, 1, 3400, 0.2}, {1, 1, 1, 1000, 0.9}, {1, 1, 1, 1000, NAN},
        {1, 4, 1, 3500, 0.9}, {2, 2, 1, 3200, 0.8}, {1, 1, 2, 1900, 0.1},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        sft_run(&run, rows[i].n, rows[i].p, rows[i].t, AD_JOB_COMPLETED, rows[i].sps);
        run.accuracy = rows[i].acc;
        sft_add_run(store, &run);
    }
    sft_run(&run, 2, 2, 1, AD_JOB_FAILED, NAN);
    sft_add_run(store, &run);
    sft_run(&run, 2, 2, 1, AD_JOB_COMPLETED, 100);
    run.model = "mlp";
    sft_add_run(store, &run);

    /* Without a choice: exactly what run_groups says, in the same order. */
    assert_int_equal(ad_store_each_speedup(store, NULL, s_collect_speedup, &all), 0);
    assert_int_equal(ad_store_each_speedup_of(store, NULL, NULL, NULL, s_collect_speedup, &of), 0);
    assert_int_equal(of.n, all.n);
    assert_int_equal(of.n, 5);
    for (int i = 0; i < of.n; i++) {
        assert_string_equal(of.models[i], all.models[i]);
        assert_int_equal(of.rows[i].nodes, all.rows[i].nodes);
        assert_int_equal(of.rows[i].procs_per_node, all.rows[i].procs_per_node);
        assert_int_equal(of.rows[i].threads_per_proc, all.rows[i].threads_per_proc);
        assert_int_equal(of.rows[i].runs, all.rows[i].runs);
        assert_near(of.rows[i].samples_per_s, all.rows[i].samples_per_s);
        assert_true(fabs(of.rows[i].samples_sd - all.rows[i].samples_sd) < 1e-6);
        assert_true(isnan(of.rows[i].speedup) == isnan(all.rows[i].speedup));
        if (!isnan(of.rows[i].speedup)) {
            assert_near(of.rows[i].speedup, all.rows[i].speedup);
            assert_near(of.rows[i].efficiency, all.rows[i].efficiency);
        }
    }

    /* Only the accurate cnn runs: 1x1x1 (1), 1x4x1 (1), 2x2x1 (2: 3000 and 3200). */
    memset(&of, 0, sizeof(of));
    f.model = "cnn";
    assert_int_equal(
        ad_store_each_speedup_of(store, &f, s_keep_accurate, &above, s_collect_speedup, &of), 0);
    assert_int_equal(of.n, 3);
    assert_int_equal(of.rows[0].runs, 1);
    assert_near(of.rows[0].speedup, 1.0);
    assert_int_equal(of.rows[1].procs_per_node, 4);
    assert_near(of.rows[1].efficiency, 3.5 / 4);
    assert_int_equal(of.rows[2].nodes, 2);
    assert_int_equal(of.rows[2].runs, 2);
    assert_near(of.rows[2].samples_per_s, 3100);
    assert_true(fabs(of.rows[2].samples_sd - sqrt(2.0) * 100) < 1e-6);
    assert_near(of.rows[2].speedup, 3.1);
    assert_near(of.rows[2].efficiency, 3.1 / 4);

    /* Nothing kept: no group. */
    memset(&of, 0, sizeof(of));
    above = 2.0;
    assert_int_equal(
        ad_store_each_speedup_of(store, &f, s_keep_accurate, &above, s_collect_speedup, &of), 0);
    assert_int_equal(of.n, 0);
    ad_store_close(&store);
}

static void
test_bulk_import_in_one_transaction(void **state)
{
    char path[512];
    ad_store_t *store = sft_new_store(path, sizeof(path), "bulk");
    ad_run_filter_t f = {0};
    ad_run_t run;
    s_speedups_t s = {0};

    assert_int_equal(ad_store_begin(store), 0);
    for (int i = 0; i < 5000; i++) {
        int layout = i % 4;

        sft_run(&run, layout == 3 ? 2 : 1, layout == 0 ? 1 : 2, layout == 2 ? 2 : 1,
                AD_JOB_COMPLETED, 1000.0 * (layout == 0 ? 1 : 1.5 + layout * 0.5));
        run.model = (i / 4) % 2 ? "cnn" : "mlp";
        assert_int_equal(ad_store_add_run(store, &run, NULL), 0);
    }
    assert_int_equal(ad_store_commit(store), 0);
    assert_int_equal(sft_raw_int(path, "SELECT count(*) FROM runs"), 5000);
    assert_int_equal(sft_raw_int(path, "SELECT count(*) FROM runs WHERE speedup IS NULL"), 0);
    f.model = "mlp";
    assert_int_equal(ad_store_each_speedup(store, &f, s_collect_speedup, &s), 0);
    assert_int_equal(s.n, 4);
    ad_store_close(&store);
}

/* ---------------------------------------------------------------------------------------- */
/* Metrics.                                                                                */

typedef struct {
    int64_t step[8];
    char key[8][16];
    double value[8];
    int n;
} s_metrics_t;

static int
s_collect_metric(int64_t run, const ad_metric_t *m, void *arg)
{
    s_metrics_t *s = arg;

    assert_true(s->n < 8);
    s->step[s->n] = m->step;
    snprintf(s->key[s->n], sizeof(s->key[0]), "%s", m->key);
    s->value[s->n] = m->value;
    s->n++;
    return 0;
}

static void
test_metrics_round_trip(void **state)
{
    char path[512];
    ad_store_t *store = sft_new_store(path, sizeof(path), "metrics");
    ad_metric_t m[] = {
        {20, "loss", 0.7},           {0, "loss", 2.3},   {10, "loss", 1.1},
        {10, "samples_per_s", 4000}, {20, "loss", 0.65}, {30, "loss", NAN},
    };
    s_metrics_t got = {0};
    ad_run_t run;
    int64_t id;

    sft_run(&run, 1, 1, 1, AD_JOB_RUNNING, NAN);
    id = sft_add_run(store, &run);
    assert_int_equal(ad_store_add_metrics(store, id, m, 6), 0);
    assert_int_equal(ad_store_each_metric(store, id, "loss", s_collect_metric, &got), 0);
    /* Ordered by step; the second (20, loss) replaced the first; NaN comes back NaN. */
    assert_int_equal(got.n, 4);
    assert_int_equal(got.step[0], 0);
    assert_near(got.value[0], 2.3);
    assert_int_equal(got.step[2], 20);
    assert_near(got.value[2], 0.65);
    assert_true(isnan(got.value[3]));
    memset(&got, 0, sizeof(got));
    assert_int_equal(ad_store_each_metric(store, id, NULL, s_collect_metric, &got), 0);
    assert_int_equal(got.n, 5);
    assert_string_equal(got.key[1], "loss");
    assert_string_equal(got.key[2], "samples_per_s");
    assert_int_equal(got.step[2], 10);

    assert_int_equal(ad_store_add_metrics(store, 999, m, 2), -ENOENT);
    adt_assert_has(ad_store_errmsg(store), "run 999: no such run");
    assert_int_equal(ad_store_add_metrics(store, id, m, 0), 0);
    ad_store_close(&store);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_runs_round_trip, sft_teardown),
        cmocka_unit_test_teardown(test_each_run_order_and_stop, sft_teardown),
        cmocka_unit_test_teardown(test_speedup_baseline_first, sft_teardown),
        cmocka_unit_test_teardown(test_speedup_baseline_after, sft_teardown),
        cmocka_unit_test_teardown(test_probe_is_no_baseline, sft_teardown),
        cmocka_unit_test_teardown(test_interval_covers_repeats, sft_teardown),
        cmocka_unit_test_teardown(test_flags, sft_teardown),
        cmocka_unit_test_teardown(test_noisy_repeat_left_out, sft_teardown),
        cmocka_unit_test_teardown(test_baseline_in_a_batch, sft_teardown),
        cmocka_unit_test_teardown(test_speedup_groups, sft_teardown),
        cmocka_unit_test_teardown(test_run_groups_stay_exact, sft_teardown),
        cmocka_unit_test_teardown(test_speedup_of_a_sweep, sft_teardown),
        cmocka_unit_test_teardown(test_speedup_of_runs, sft_teardown),
        cmocka_unit_test_teardown(test_bulk_import_in_one_transaction, sft_teardown),
        cmocka_unit_test_teardown(test_metrics_round_trip, sft_teardown),
    };

    return cmocka_run_group_tests(tests, sft_group_setup, sft_group_teardown);
}
