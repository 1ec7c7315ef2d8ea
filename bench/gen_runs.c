/* gen_runs.c - autodist-gen-runs: fill a store with N synthetic runs for bench/bench_speedup.sh */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "autodist/ad_store.h"

/*
 * The runs spread over 5 models x 2 datasets x 4 batches x 12 hardware
 * classes x 48 layouts (nodes 1,2,4,8 x procs 1,2,4 x threads 1,2,4,8):
 * 23,040 layout groups, about 43 runs each for a million.  Every
 * (model, dataset, batch, hardware) gets its 1x1x1 baseline first, so the
 * other runs get a speedup as they are added, as an import would.  Most runs
 * are COMPLETED; a few FAILED, CANCELLED, TIMEOUT or NODE_FAIL.
 */

static const char *const s_models[] = {"mlp", "lenet5", "cnn", "resnet18", "mobilenet_v2"};
static const double s_model_sps[] = {40000, 9000, 3000, 120, 300}; /* 1x1x1 at batch 256 */
static const char *const s_datasets[] = {"fashion-mnist", "synthetic"};
static const int s_batches[] = {64, 128, 256, 512};
static const int s_nodes[] = {1, 2, 4, 8};
static const int s_ppn[] = {1, 2, 4};
static const int s_tpp[] = {1, 2, 4, 8};
#define S_HARDWARE 12

#define S_LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))

static uint64_t s_rng = 88172645463325252ull;

static uint64_t
s_next(void)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return s_rng;
}

/* Uniform in [0, 1). */
static double
s_uniform(void)
{
    return (double)(s_next() >> 11) / 9007199254740992.0;
}

static int
s_pick(int n)
{
    return (int)(s_next() % (uint64_t)n);
}

/* Throughput of a layout: threads scale with an Amdahl term, processes and nodes pay for comm. */
static double
s_throughput(int model, int batch, int hw, int nodes, int ppn, int tpp)
{
    double base = s_model_sps[model] * (0.8 + 0.05 * hw) * (0.7 + 0.3 * batch / 256.0);
    double threads = tpp / (1.0 + 0.15 * (tpp - 1));
    double procs = ppn / (1.0 + 0.08 * (ppn - 1));
    double across = nodes / (1.0 + 0.2 * (nodes - 1));
    double noise = 1.0 + 0.05 * (s_uniform() - 0.5);

    return base * threads * procs * across * noise;
}

static void
s_fill(ad_run_t *run, char *hardware, size_t hwlen, int model, int dataset, int batch, int hw,
       int nodes, int ppn, int tpp)
{
    snprintf(hardware, hwlen, "hw-%02d", hw + 1);
    ad_store_run_init(run);
    run->model = (char *)s_models[model];
    run->dataset = (char *)s_datasets[dataset];
    run->hardware = hardware;
    run->device = "cpu";
    run->batch_size = s_batches[batch];
    run->nodes = nodes;
    run->procs_per_node = ppn;
    run->threads_per_proc = tpp;
    run->state = AD_JOB_COMPLETED;
    run->samples_per_s = s_throughput(model, s_batches[batch], hw, nodes, ppn, tpp);
    run->accuracy = 0.85 + 0.07 * s_uniform();
}

static int
s_usage(void)
{
    fprintf(stderr, "usage: autodist-gen-runs DB N [SEED]\n"
                    "  fill the store DB (created if needed) with N synthetic runs\n");
    return 2;
}

int
main(int argc, char **argv)
{
    const int batch_tx = 100000;
    ad_store_t *store = NULL;
    ad_err_t err = {0};
    char hardware[16];
    long long n, done = 0;
    ad_run_t run;
    double t0;
    int rc;

    if (argc < 3 || argc > 4)
        return s_usage();
    n = atoll(argv[2]);
    if (n < 1)
        return s_usage();
    if (argc == 4)
        s_rng ^= (uint64_t)atoll(argv[3]) * 0x9E3779B97F4A7C15ull;
    if (ad_store_open(argv[1], AD_STORE_CREATE, &store, &err)) {
        fprintf(stderr, "autodist-gen-runs: %s\n", err.msg);
        return 1;
    }
    t0 = (double)time(NULL);
    rc = ad_store_begin(store);
    /* The baselines first, so every later run finds its own. */
    for (int m = 0; !rc && m < S_LEN(s_models); m++)
        for (int d = 0; !rc && d < S_LEN(s_datasets); d++)
            for (int b = 0; !rc && b < S_LEN(s_batches); b++)
                for (int h = 0; !rc && h < S_HARDWARE && done < n; h++, done++) {
                    s_fill(&run, hardware, sizeof(hardware), m, d, b, h, 1, 1, 1);
                    run.ended = t0 - (double)(n - done);
                    rc = ad_store_add_run(store, &run, NULL);
                }
    for (; !rc && done < n; done++) {
        int m = s_pick(S_LEN(s_models)), d = s_pick(S_LEN(s_datasets));
        int b = s_pick(S_LEN(s_batches)), h = s_pick(S_HARDWARE);
        int r = s_pick(100);

        s_fill(&run, hardware, sizeof(hardware), m, d, b, h, s_nodes[s_pick(S_LEN(s_nodes))],
               s_ppn[s_pick(S_LEN(s_ppn))], s_tpp[s_pick(S_LEN(s_tpp))]);
        run.ended = t0 - (double)(n - done);
        if (r >= 92) {
            run.state = r < 96   ? AD_JOB_FAILED
                        : r < 98 ? AD_JOB_CANCELLED
                        : r < 99 ? AD_JOB_TIMEOUT
                                 : AD_JOB_NODE_FAIL;
            run.samples_per_s = NAN;
            run.accuracy = NAN;
        }
        rc = ad_store_add_run(store, &run, NULL);
        if (!rc && (done + 1) % batch_tx == 0) {
            rc = ad_store_commit(store);
            if (!rc)
                rc = ad_store_begin(store);
            fprintf(stderr, "autodist-gen-runs: %lld runs\n", done + 1);
        }
    }
    if (!rc)
        rc = ad_store_commit(store);
    if (rc) {
        fprintf(stderr, "autodist-gen-runs: %s\n", ad_store_errmsg(store));
        ad_store_close(&store);
        return 1;
    }
    ad_store_close(&store);
    printf("%lld runs in %s\n", n, argv[1]);
    return 0;
}
