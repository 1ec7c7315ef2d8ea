/* test_g5k_ref.c - reference-API import (ad_g5k_ref.h) and described profiles (ad_described.h) */
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

#include "ad_test.h"
#include "autodist/ad_described.h"
#include "autodist/ad_g5k_ref.h"
#include "autodist/ad_store.h"

#ifndef AD_SOURCE_DIR
#define AD_SOURCE_DIR "."
#endif
#define G5K AD_SOURCE_DIR "/tests/data/g5k/"
#define GIB (UINT64_C(1) << 30)

/* The import of a sample file, failing the test with its message when it does not load. */
static void
s_load(const char *file, const ad_g5k_ref_opts_t *opts, ad_g5k_ref_t *r)
{
    ad_err_t err = {0};

    if (ad_g5k_ref_load(file, opts, r, &err))
        fail_msg("%s", err.msg);
}

/* The profile's cpu.ghz (only the JSON form says it). */
static double
s_ghz(const ad_profile_t *p)
{
    json_t *j = ad_profile_to_json(p);
    double ghz = json_number_value(json_object_get(json_object_get(j, "cpu"), "ghz"));

    json_decref(j);
    return ghz;
}

/* The profile survives its YAML form unchanged. */
static void
s_round_trip(const ad_profile_t *p)
{
    char *yaml = ad_profile_to_yaml(p);
    ad_profile_t *back = NULL;
    ad_err_t err = {0};

    if (ad_profile_parse_yaml(yaml, strlen(yaml), "back.yaml", &back, &err))
        fail_msg("%s\n%s", err.msg, yaml);
    assert_true(ad_profile_equal(p, back));
    ad_profile_free(&back);
    free(yaml);
}

/* gros-1: one node with links; the hardware of the shipped gros description. */
static void
test_import_gros(void **state)
{
    ad_g5k_ref_opts_t opts = {.nodes = 124};
    ad_profile_t *shipped = NULL;
    ad_err_t err = {0};
    ad_g5k_ref_t r;
    const ad_profile_t *p;

    s_load(G5K "gros-1.json", &opts, &r);
    p = r.profile;
    assert_string_equal(r.cluster, "gros");
    assert_string_equal(r.site, "nancy");
    assert_string_equal(r.uid, "gros-1");
    assert_int_equal(r.listed, 0);
    assert_int_equal(ad_profile_cluster_nodes(p), 124);
    assert_string_equal(ad_profile_cpu_model(p), "Intel(R) Xeon(R) Gold 5220 CPU @ 2.20GHz");
    assert_int_equal(ad_profile_sockets(p), 1);
    assert_int_equal(ad_profile_cores(p), 18);
    assert_int_equal(ad_profile_pus(p), 36);
    assert_true(fabs(s_ghz(p) - 2.2) < 1e-9);
    assert_int_equal(ad_profile_cache_bytes(p, 1), 32768);
    assert_int_equal(ad_profile_cache_bytes(p, 3), 25952256);
    assert_int_equal(ad_profile_memory_bytes(p), 96 * GIB);
    assert_int_equal(ad_profile_gpu_count(p), 0);
    /* The BMC port is left out: the two 25 Gbit/s links remain. */
    assert_int_equal(ad_profile_net_count(p), 2);
    assert_string_equal(ad_profile_net(p, 0)->kind, "ethernet");
    assert_true(fabs(ad_profile_net(p, 0)->gbps - 25) < 1e-9);
    assert_string_equal(ad_profile_net(p, 1)->name, "eno2");
    assert_null(ad_profile_bench_figures(p));
    adt_assert_has(ad_profile_source(p), "reference API (gros-1), not a measurement");
    s_round_trip(p);
    /* The same hardware class as the hand-written description. */
    if (ad_profile_load_yaml(AD_SOURCE_DIR "/profiles/grid5000-gros.yaml", &shipped, &err))
        fail_msg("%s", err.msg);
    assert_string_equal(ad_profile_fingerprint(p), ad_profile_fingerprint(shipped));
    ad_profile_free(&shipped);
    ad_g5k_ref_clear(&r);
    ad_g5k_ref_clear(&r);
}

/* dahu-1: two sockets, Omni-Path, a disabled port; site from the address, cluster from uid. */
static void
test_import_dahu(void **state)
{
    ad_g5k_ref_t r;
    const ad_profile_t *p;

    s_load(G5K "dahu-1.json", NULL, &r);
    p = r.profile;
    assert_string_equal(r.cluster, "dahu");
    assert_string_equal(r.site, "grenoble");
    assert_int_equal(ad_profile_cluster_nodes(p), 1);
    assert_int_equal(ad_profile_sockets(p), 2);
    assert_int_equal(ad_profile_cores(p), 32);
    assert_int_equal(ad_profile_pus(p), 64);
    assert_int_equal(ad_profile_numa_nodes(p), 2);
    assert_true(fabs(s_ghz(p) - 2.1) < 1e-9);
    assert_int_equal(ad_profile_memory_bytes(p), 192 * GIB);
    assert_int_equal(ad_profile_net_count(p), 2);
    assert_true(fabs(ad_profile_net(p, 0)->gbps - 10) < 1e-9);
    assert_string_equal(ad_profile_net(p, 1)->name, "ib0");
    assert_string_equal(ad_profile_net(p, 1)->kind, "other");
    assert_true(fabs(ad_profile_net(p, 1)->gbps - 100) < 1e-9);
    s_round_trip(p);
    ad_g5k_ref_clear(&r);
}

/* chifflot's listing: the first node imported, the nodes of its class counted. */
static void
test_import_listing(void **state)
{
    ad_g5k_ref_opts_t opts = {.name = "chifflot-p100"};
    ad_g5k_ref_t r;
    const ad_profile_t *p;

    s_load(G5K "chifflot-nodes.json", &opts, &r);
    p = r.profile;
    assert_string_equal(r.cluster, "chifflot-p100");
    assert_string_equal(r.site, "lille");
    assert_string_equal(r.uid, "chifflot-1");
    assert_int_equal(r.listed, 8);
    assert_int_equal(r.same, 6);
    assert_string_equal(r.others, "chifflot-7, chifflot-8");
    assert_int_equal(ad_profile_cluster_nodes(p), 6);
    assert_int_equal(ad_profile_cores(p), 24);
    assert_int_equal(ad_profile_gpu_count(p), 2);
    for (int i = 0; i < 2; i++) {
        assert_string_equal(ad_profile_gpu(p, i)->name, "Tesla P100-PCIE-16GB");
        assert_string_equal(ad_profile_gpu(p, i)->kind, "cuda");
        assert_int_equal(ad_profile_gpu(p, i)->index, i);
        assert_int_equal(ad_profile_gpu(p, i)->memory_bytes, UINT64_C(17070817280));
    }
    s_round_trip(p);
    ad_g5k_ref_clear(&r);
    /* --nodes wins over the count. */
    opts.nodes = 8;
    s_load(G5K "chifflot-nodes.json", &opts, &r);
    assert_int_equal(ad_profile_cluster_nodes(r.profile), 8);
    ad_g5k_ref_clear(&r);
}

/* A bad description: where its error is placed and words its message must hold. */
typedef struct {
    const char *text;
    const char *where; /* "NAME:LINE:COL:" */
    const char *words[3];
} s_bad_t;

/* A small valid node, then variants of it. */
#define S_ARCH "\"architecture\": {\"nb_procs\": 1, \"nb_cores\": 4, \"nb_threads\": 8}"
#define S_PROC "\"processor\": {\"other_description\": \"CPU X\", \"clock_speed\": 2000000000}"
#define S_MEM "\"main_memory\": {\"ram_size\": 8589934592}"

static const s_bad_t s_bad[] = {
    /* Bad JSON: jansson's line and column. */
    {"{\n  \"uid\": \"x-1\",\n  \"architecture\": ]\n}\n", "bad.json:3:19:", {"invalid JSON"}},
    {"", "bad.json:1:", {"invalid JSON"}},
    {"[1, 2]", "bad.json:1:1:", {"must be a node description"}},
    /* A missing field, placed at its parent. */
    {"{\"uid\": \"x-1\",\n \"architecture\": {\"nb_procs\": 1},\n " S_PROC ",\n " S_MEM "}",
     "bad.json:2:18:",
     {"architecture.nb_cores is required"}},
    {"{\"uid\": \"x-1\",\n " S_ARCH ",\n " S_PROC "}",
     "bad.json:1:1:",
     {"main_memory is required"}},
    {"{\"uid\": \"x-1\",\n " S_ARCH ",\n " S_MEM "}", "bad.json:1:1:", {"processor is required"}},
    /* Wrong types and values, at the value. */
    {"{\"uid\": \"x-1\",\n \"architecture\": {\"nb_procs\": 1, \"nb_cores\": \"eight\"},\n " S_PROC
     ",\n " S_MEM "}",
     "bad.json:2:46:",
     {"architecture.nb_cores must be", "\"eight\""}},
    {"{\"uid\": \"x-1\",\n \"architecture\": {\"nb_procs\": 1, \"nb_cores\": 8, \"nb_threads\": "
     "4},\n " S_PROC ",\n " S_MEM "}",
     "bad.json:2:",
     {"architecture.nb_threads", "expected nb_threads >= nb_cores"}},
    {"{\"uid\": \"x-1\",\n " S_ARCH ",\n \"processor\": {\"other_description\": \"X\", "
     "\"clock_speed\": 2.2},\n " S_MEM "}",
     "bad.json:3:",
     {"processor.clock_speed must be a clock speed in Hz", "2.2"}},
    {"{\"uid\": \"x-1\",\n " S_ARCH ",\n \"processor\": {\"clock_speed\": 2000000000},\n " S_MEM
     "}",
     "bad.json:3:",
     {"processor.other_description (or processor.model) is required"}},
    {"{\"uid\": \"x-1\",\n " S_ARCH ",\n " S_PROC ",\n " S_MEM ",\n \"gpu_devices\": {\"nvidia0\": "
     "{\"vendor\": \"Nvidia\"}}}",
     "bad.json:5:",
     {"gpu_devices.nvidia0.model is required"}},
    {"{\"uid\": \"x-1\",\n " S_ARCH ",\n " S_PROC ",\n " S_MEM ",\n \"network_adapters\": "
     "[{\"enabled\": \"yes\"}]}",
     "bad.json:5:",
     {"network_adapters[0].enabled must be true or false"}},
    /* No name to file it under. */
    {"{" S_ARCH ",\n " S_PROC ",\n " S_MEM "}", "bad.json:1:1:", {"no cluster name", "--name"}},
    {"{\"items\": []}", "bad.json:1:", {"items must list at least one node"}},
};

static void
test_bad_descriptions(void **state)
{
    for (size_t i = 0; i < sizeof(s_bad) / sizeof(s_bad[0]); i++) {
        ad_g5k_ref_t r;
        ad_err_t err = {0};
        int rc = ad_g5k_ref_parse(s_bad[i].text, strlen(s_bad[i].text), "bad.json", NULL, &r, &err);

        if (rc != AD_EPARSE)
            fail_msg("case %zu: rc %d, message \"%s\"", i, rc, err.msg);
        assert_null(r.profile);
        if (strncmp(err.msg, s_bad[i].where, strlen(s_bad[i].where)))
            fail_msg("case %zu: \"%s\" does not start with %s", i, err.msg, s_bad[i].where);
        for (size_t w = 0; w < 3 && s_bad[i].words[w]; w++)
            adt_assert_has(err.msg, s_bad[i].words[w]);
        assert_null(strchr(err.msg, '\n'));
    }
}

/* Unknown fields are ignored; a file that is not there is an error naming it. */
static void
test_unknown_fields_and_files(void **state)
{
    static const char text[] =
        "{\"uid\": \"zz-3\", \"kavlan\": {\"eth0\": {}}, \"colour\": 1,\n " S_ARCH ",\n " S_PROC
        ",\n " S_MEM "}";
    ad_g5k_ref_t r;
    ad_err_t err = {0};

    assert_int_equal(ad_g5k_ref_parse(text, strlen(text), "ok.json", NULL, &r, &err), 0);
    assert_string_equal(r.cluster, "zz");
    assert_null(r.site);
    ad_g5k_ref_clear(&r);
    assert_int_not_equal(ad_g5k_ref_load(G5K "no-such.json", NULL, &r, &err), 0);
    adt_assert_has(err.msg, "no-such.json");
    /* Valid JSON that YAML refuses (a key over 1024 characters): checked, without places. */
    {
        char *big = malloc(4096);
        int n = snprintf(big, 4096,
                         "{\"%01100d\": 1, \"uid\": \"x-1\",\n "
                         "\"architecture\": {\"nb_procs\": 1, \"nb_cores\": 0}}",
                         0);

        assert_int_equal(ad_g5k_ref_parse(big, (size_t)n, "big.json", NULL, &r, &err), AD_EPARSE);
        adt_assert_has(err.msg, "big.json: architecture.nb_cores must be a positive integer");
        free(big);
    }
    assert_true(ad_g5k_ref_name_ok("chifflot-v100"));
    assert_false(ad_g5k_ref_name_ok("Gros"));
    assert_false(ad_g5k_ref_name_ok("../x"));
    assert_false(ad_g5k_ref_name_ok(""));
}

/* FLOPs per cycle by CPU family, and the estimate built on them. */
static void
test_estimate(void **state)
{
    static const struct {
        const char *model;
        int fpc;
    } cases[] = {
        {"Intel(R) Xeon(R) Gold 5220 CPU @ 2.20GHz", 32},
        {"Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz", 64},
        {"Intel(R) Xeon(R) Platinum 8168 CPU @ 2.70GHz", 64},
        {"Intel(R) Xeon(R) Silver 4110 CPU @ 2.10GHz", 32},
        {"Intel(R) Xeon(R) CPU E5-2630 v3 @ 2.40GHz", 32},
        {"Intel(R) Xeon(R) CPU E5-2650 0 @ 2.00GHz", 16},
        {"AMD EPYC 7452 32-Core Processor", 32},
        {"AMD EPYC 7351 16-Core Processor", 16},
        {"Cavium ThunderX2(R) CPU CN9980 v2.2 @ 2.20GHz", 0},
    };
    ad_described_figures_t f;
    ad_profile_t *p = NULL;
    ad_err_t err = {0};
    const char *isa;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (ad_described_flops_per_cycle(cases[i].model, &isa) != cases[i].fpc)
            fail_msg("%s: want %d FLOP/cycle", cases[i].model, cases[i].fpc);
    if (ad_profile_load_yaml(AD_SOURCE_DIR "/profiles/grid5000-gros.yaml", &p, &err))
        fail_msg("%s", err.msg);
    ad_described_estimate(p, &f);
    assert_false(f.measured);
    assert_true(fabs(f.gemm_gflops_1 - 0.5 * 32 * 2.2) < 1e-9);
    assert_true(fabs(f.gemm_gflops_all - 0.8 * 18 * f.gemm_gflops_1) < 1e-9);
    assert_true(fabs(f.mem_bw_gbs - 40) < 1e-9);
    assert_true(fabs(f.net_gbps - 25) < 1e-9);
    adt_assert_has(f.from, "estimated");
    adt_assert_has(f.from, "AVX-512, 1 FMA unit");
    ad_profile_free(&p);
}

/* Measured figures of the same class win: from the store, else the agents' cache. */
static void
test_figures_measured(void **state)
{
    char home[512], db[600], cache[600];
    ad_described_figures_t f;
    ad_profile_row_t row;
    ad_profile_t *p = NULL, *m;
    ad_profile_bench_t b = {.gemm_gflops_1core = 41,
                            .gemm_gflops_all = 600,
                            .mem_bandwidth_gbs = 90,
                            .gemm_n = 512,
                            .triad_mib = 256};
    ad_store_t *st = NULL;
    ad_err_t err = {0};

    adt_fresh_dir(home, sizeof(home), "home");
    if (ad_profile_load_yaml(AD_SOURCE_DIR "/profiles/grid5000-gros.yaml", &p, &err))
        fail_msg("%s", err.msg);
    /* The agents' cache: HOME/profiles/FINGERPRINT.yaml with measured benchmarks. */
    adt_mkdir_in(cache, sizeof(cache), home, "profiles");
    snprintf(cache, sizeof(cache), "%s/profiles/%s.yaml", home, ad_profile_fingerprint(p));
    m = ad_profile_dup(p);
    ad_profile_set_bench(m, &b);
    assert_int_equal(ad_profile_save_yaml(m, cache, &err), 0);
    ad_profile_free(&m);
    ad_described_figures(p, home, NULL, &f);
    assert_true(f.measured);
    assert_true(fabs(f.gemm_gflops_1 - 41) < 1e-9);
    adt_assert_has(f.from, "an agent's benchmarks");
    /* The store's profile of the class comes first. */
    snprintf(db, sizeof(db), "%s/runs.db", home);
    assert_int_equal(ad_store_open(db, AD_STORE_CREATE, &st, &err), 0);
    ad_store_profile_row_init(&row);
    row.hardware = (char *)ad_profile_fingerprint(p);
    row.cores = 18;
    row.gemm_gflops_1 = 44;
    row.gemm_gflops_all = 610;
    row.mem_bw_gbs = 95;
    assert_int_equal(ad_store_add_profile(st, &row, NULL), 0);
    ad_described_figures(p, home, st, &f);
    assert_true(f.measured);
    assert_true(fabs(f.gemm_gflops_1 - 44) < 1e-9);
    adt_assert_has(f.from, "the store's benchmarks");
    assert_string_equal(f.hardware, ad_profile_fingerprint(p));
    ad_store_close(&st);
    ad_profile_free(&p);
}

/* A node measured with a little less memory than described is the same class for the plan. */
static void
test_figures_near_class(void **state)
{
    char home[512], db[600];
    ad_described_figures_t f;
    ad_profile_row_t row;
    ad_profile_t *p = NULL;
    ad_store_t *st = NULL;
    ad_err_t err = {0};
    ad_node_t node;
    int64_t id;

    adt_fresh_dir(home, sizeof(home), "home");
    if (ad_profile_load_yaml(AD_SOURCE_DIR "/profiles/grid5000-gros.yaml", &p, &err))
        fail_msg("%s", err.msg);
    snprintf(db, sizeof(db), "%s/runs.db", home);
    assert_int_equal(ad_store_open(db, AD_STORE_CREATE, &st, &err), 0);
    for (int i = 0; i < 2; i++) {
        ad_store_node_init(&node);
        node.hostname = i ? "gros-7" : "other";
        assert_int_equal(ad_store_put_node(st, &node, &id), 0);
        ad_store_profile_row_init(&row);
        row.node = id;
        /* Another CPU with the same counts first: not the class. */
        row.hardware = i ? "00000000000000aa" : "00000000000000bb";
        row.cpu_model = i ? "Intel(R) Xeon(R)  Gold 5220 CPU @ 2.20GHz" : "Other CPU";
        row.sockets = 1;
        row.cores = 18;
        row.pus = 36;
        row.memory_bytes = (int64_t)(94.2 * (double)GIB);
        row.gemm_gflops_1 = i ? 47 : 99;
        row.gemm_gflops_all = 700;
        row.mem_bw_gbs = 100;
        assert_int_equal(ad_store_add_profile(st, &row, NULL), 0);
    }
    ad_described_figures(p, home, st, &f);
    assert_true(f.measured);
    assert_string_equal(f.hardware, "00000000000000aa");
    assert_true(fabs(f.gemm_gflops_1 - 47) < 1e-9);
    adt_assert_has(f.from, "94.2 GiB reported");
    ad_store_close(&st);
    /* Without a store: its own fingerprint, estimated. */
    ad_described_figures(p, home, NULL, &f);
    assert_false(f.measured);
    assert_string_equal(f.hardware, ad_profile_fingerprint(p));
    ad_profile_free(&p);
}

/* Finding a profile by name: imported before shipped, file names too, unknown names listed. */
static void
test_find(void **state)
{
    char home[512], dir[600], path[700];
    ad_profile_t *p = NULL;
    ad_err_t err = {0};
    ad_g5k_ref_t r;
    char *where = NULL;
    ad_g5k_ref_opts_t opts = {.nodes = 7};

    setenv(AD_DESCRIBED_ENV, AD_SOURCE_DIR "/profiles", 1);
    adt_fresh_dir(home, sizeof(home), "home");
    assert_int_equal(ad_described_find("gros", home, &p, &where, &err), 0);
    assert_int_equal(ad_profile_cluster_nodes(p), 124);
    adt_assert_has(where, "grid5000-gros.yaml");
    ad_profile_free(&p);
    free(where);
    assert_int_equal(ad_described_find("grid5000-dahu", home, &p, NULL, &err), 0);
    assert_int_equal(ad_profile_cores(p), 32);
    ad_profile_free(&p);
    assert_int_equal(ad_described_find("chifflot", home, &p, NULL, &err), 0);
    assert_int_equal(ad_profile_gpu_count(p), 2);
    ad_profile_free(&p);
    /* An import of gros in the home is found first. */
    s_load(G5K "gros-1.json", &opts, &r);
    snprintf(dir, sizeof(dir), "%s/profiles", home);
    adt_mkdir_in(path, sizeof(path), home, "profiles");
    adt_mkdir_in(path, sizeof(path), dir, "described");
    snprintf(path, sizeof(path), "%s/described/gros.yaml", dir);
    assert_int_equal(ad_profile_save_yaml(r.profile, path, &err), 0);
    ad_g5k_ref_clear(&r);
    assert_int_equal(ad_described_find("gros", home, &p, NULL, &err), 0);
    assert_int_equal(ad_profile_cluster_nodes(p), 7);
    ad_profile_free(&p);
    /* A path. */
    assert_int_equal(ad_described_find(path, NULL, &p, NULL, &err), 0);
    ad_profile_free(&p);
    /* Unknown: one line naming the known ones. */
    assert_int_equal(ad_described_find("nope", home, &p, NULL, &err), -ENOENT);
    assert_null(p);
    adt_assert_has(err.msg, "unknown cluster \"nope\"");
    adt_assert_has(err.msg, "chifflot, chifflot-v100, dahu, gros");
    assert_null(strchr(err.msg, '\n'));
    unsetenv(AD_DESCRIBED_ENV);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_import_gros),
        cmocka_unit_test(test_import_dahu),
        cmocka_unit_test(test_import_listing),
        cmocka_unit_test(test_bad_descriptions),
        cmocka_unit_test(test_unknown_fields_and_files),
        cmocka_unit_test(test_estimate),
        cmocka_unit_test(test_figures_measured),
        cmocka_unit_test(test_figures_near_class),
        cmocka_unit_test(test_find),
    };
    int rc;

    if (!adt_root_make("ad_test_g5k_ref"))
        return 1;
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    adt_root_remove();
    return rc;
}
