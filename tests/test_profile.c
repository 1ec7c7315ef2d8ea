/* test_profile.c - unit tests of ad_profile and ad_bench: detection, files, fingerprint, cache */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ad_test.h"

#include "autodist/ad_bench.h"
#include "autodist/ad_hwloc.h"
#include "autodist/ad_profile.h"

#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef AD_SOURCE_DIR
#define AD_SOURCE_DIR "."
#endif
#define PROFILES AD_SOURCE_DIR "/profiles/"

static int
s_setup(void **state)
{
    return adt_root_make("test_profile") ? 0 : -1;
}

static int
s_teardown(void **state)
{
    return adt_root_remove();
}

static bool
s_is_fp(const char *fp)
{
    if (strlen(fp) != AD_PROFILE_FP_LEN)
        return false;
    for (; *fp; fp++)
        if (!isxdigit((unsigned char)*fp) || isupper((unsigned char)*fp))
            return false;
    return true;
}

static void
test_detect(void **state)
{
    ad_profile_t *a = NULL, *b = NULL;
    ad_err_t err = {0};
    int pus = 0;

    assert_int_equal(ad_hwloc_detect(&a, &err), 0);
    assert_int_equal(ad_hwloc_detect(&b, &err), 0);
    assert_true(ad_profile_cores(a) >= 1);
    assert_true(ad_profile_pus(a) >= ad_profile_cores(a));
    assert_true(ad_profile_sockets(a) >= 1);
    assert_true(ad_profile_numa_nodes(a) >= 1);
    assert_true(ad_profile_memory_bytes(a) > 0);
    assert_true(strlen(ad_profile_cpu_model(a)) > 0);
    assert_true(strlen(ad_profile_hostname(a)) > 0);
    assert_true(s_is_fp(ad_profile_fingerprint(a)));
    assert_string_equal(ad_profile_fingerprint(a), ad_profile_fingerprint(b));
    assert_true(ad_profile_equal(a, b));
    assert_true(ad_profile_gpu_count(a) >= 0);
    assert_null(ad_profile_bench_figures(a));
    /* Every core is mapped, and the map's PUs are all the PUs, for rankfiles. */
    assert_int_equal(ad_profile_core_map_count(a), ad_profile_cores(a));
    for (int i = 0; i < ad_profile_core_map_count(a); i++) {
        const ad_profile_core_t *c = ad_profile_core(a, i);

        assert_true(c->socket >= 0 && c->socket < ad_profile_sockets(a));
        assert_true(c->n_pus >= 1);
        pus += c->n_pus;
    }
    assert_int_equal(pus, ad_profile_pus(a));
    ad_profile_free(&a);
    ad_profile_free(&b);
    ad_profile_free(&b);
    assert_null(b);
}

/* A detected profile with benchmark figures whose decimals are awkward to print. */
static ad_profile_t *
s_detected_with_bench(void)
{
    ad_profile_t *p = NULL;
    ad_err_t err = {0};
    ad_profile_bench_t b = {0};

    assert_int_equal(ad_hwloc_detect(&p, &err), 0);
    b.gemm_gflops_1core = 0.1 + 0.2;
    b.gemm_gflops_all = 123.456789012345;
    b.mem_bandwidth_gbs = 1.0 / 3.0;
    b.seconds = 2.5;
    b.measured_at = 1735689600; /* 2025-01-01T00:00:00Z */
    b.gemm_n = 512;
    b.triad_mib = 256;
    ad_profile_set_bench(p, &b);
    ad_profile_set_source(p, "quote \" backslash \\ tab \t end");
    return p;
}

static void
test_yaml_round_trip(void **state)
{
    ad_profile_t *p = s_detected_with_bench(), *q = NULL, *r = NULL;
    ad_err_t err = {0};
    char path[128];
    char *text = ad_profile_to_yaml(p);

    assert_int_equal(ad_profile_parse_yaml(text, strlen(text), "mem.yaml", &q, &err), 0);
    assert_true(ad_profile_equal(p, q));
    assert_string_equal(ad_profile_fingerprint(p), ad_profile_fingerprint(q));
    assert_true(ad_profile_bench_figures(q)->gemm_gflops_1core == 0.1 + 0.2);
    assert_true(ad_profile_bench_figures(q)->measured_at == 1735689600);
    adt_path(path, sizeof(path), adt_root(), "p.yaml");
    assert_int_equal(ad_profile_save_yaml(p, path, &err), 0);
    assert_int_equal(ad_profile_load_yaml(path, &r, &err), 0);
    assert_true(ad_profile_equal(p, r));
    free(text);
    ad_profile_free(&p);
    ad_profile_free(&q);
    ad_profile_free(&r);
}

static void
test_json_round_trip(void **state)
{
    ad_profile_t *p = s_detected_with_bench(), *q = NULL, *d;
    ad_err_t err = {0};
    json_t *j = ad_profile_to_json(p), *wire;
    char *text = json_dumps(j, JSON_COMPACT);

    /* Through text as it travels in a HELLO frame. */
    wire = json_loads(text, 0, NULL);
    assert_non_null(wire);
    assert_int_equal(ad_profile_from_json(wire, &q, &err), 0);
    assert_true(ad_profile_equal(p, q));
    d = ad_profile_dup(q);
    assert_true(ad_profile_equal(p, d));
    json_decref(j);
    json_decref(wire);
    free(text);
    ad_profile_free(&p);
    ad_profile_free(&q);
    ad_profile_free(&d);
}

static void
test_grid5000_example(void **state)
{
    ad_profile_t *p = NULL;
    ad_err_t err = {0};

    if (ad_profile_load_yaml(PROFILES "grid5000-gros.yaml", &p, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(ad_profile_sockets(p), 1);
    assert_int_equal(ad_profile_cores(p), 18);
    assert_int_equal(ad_profile_pus(p), 36);
    assert_int_equal(ad_profile_cluster_nodes(p), 124);
    assert_true(ad_profile_memory_bytes(p) == UINT64_C(96) << 30);
    assert_true(ad_profile_cache_bytes(p, 3) == (uint64_t)(24.75 * 1048576));
    assert_non_null(strstr(ad_profile_cpu_model(p), "Gold 5220"));
    assert_int_equal(ad_profile_net_count(p), 2);
    assert_true(ad_profile_net(p, 1)->gbps == 25);
    assert_int_equal(ad_profile_gpu_count(p), 0);
    assert_int_equal(ad_profile_core_map_count(p), 0);
    assert_null(ad_profile_bench_figures(p));
    assert_non_null(strstr(ad_profile_source(p), "not a measurement"));
    assert_true(s_is_fp(ad_profile_fingerprint(p)));
    ad_profile_free(&p);
}

/* Every profile shipped in profiles/ loads. */
static void
test_shipped_profiles(void **state)
{
    glob_t g;

    assert_int_equal(glob(PROFILES "*.yaml", 0, NULL, &g), 0);
    assert_true(g.gl_pathc >= 2);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        ad_profile_t *p = NULL;
        ad_err_t err = {0};

        if (ad_profile_load_yaml(g.gl_pathv[i], &p, &err))
            fail_msg("%s", err.msg);
        ad_profile_free(&p);
    }
    globfree(&g);
}

/* A bad profile file, the place of its error and words its message must hold. */
typedef struct {
    const char *text;
    const char *where;    /* "LINE:COL" after the file name */
    const char *words[4]; /* NULL-terminated */
} s_bad_t;

#define S_CPU "cpu: {model: x, sockets: 1, cores: 2, pus: 4}\n"

static const s_bad_t s_bad[] = {
    {"format: 1\ncpu:\n  model: x\n  sockets: 1\n  cores: many\nmemory_bytes: 1024\n",
     "5:10",
     {"cpu.cores", "integer", "\"many\"", NULL}},
    {S_CPU "memory_bytes: 1024\ncolour: blue\n", "3:1", {"unknown key \"colour\"", NULL}},
    {S_CPU "memory_bytes: 1024\nnetworks: []\n",
     "3:1",
     {"unknown key \"networks\"", "did you mean network?", NULL}},
    {S_CPU "memory_bytes: 1e999\n", "2:15", {"out of range", NULL}},
    {"memory_bytes: 1024\n", "1:1", {"cpu is required", NULL}},
    {S_CPU "memory_bytes: 1024\ngpus: {name: x}\n",
     "3:7",
     {"gpus must be a list, got a mapping", NULL}},
    {S_CPU "memory_bytes: lots\n",
     "2:15",
     {"memory_bytes must be a size in bytes", "\"96 GiB\"", NULL}},
    {S_CPU "memory_bytes: 0\n", "2:15", {"memory_bytes must be more than 0 bytes", NULL}},
    {"cpu: {model: x, sockets: 1, cores: 4, pus: 2}\nmemory_bytes: 1024\n",
     "1:44",
     {"cpu.pus", "pus >= cores", NULL}},
    {S_CPU "memory_bytes: 1024\nfingerprint: 0123456789abcdef\n",
     "3:14",
     {"fingerprint", "does not match", NULL}},
    {S_CPU "memory_bytes: 1024\ncore_map:\n  - {core: 0, socket: 0, pus: [0, 1]}\n",
     "3:1",
     {"core_map", "lists 1 cores", NULL}},
    {S_CPU "memory_bytes: 1024\ncore_map:\n  - {core: 0, socket: 0, pus: [0, 1]}\n"
           "  - {core: 1, socket: 0, pus: [2, x]}\n",
     "5:35",
     {"core_map[1].pus[1] must be a PU OS index", "got \"x\"", NULL}},
    {S_CPU "memory_bytes: 1024\nbenchmarks: {gemm_gflops_1core: -1}\n",
     "3:33",
     {"benchmarks.gemm_gflops_1core must be a positive number, got \"-1\"", NULL}},
    {S_CPU "memory_bytes: 1024\nmemory_bytes: 2048\n", "3:1", {"duplicate key", NULL}},
    {S_CPU "memory_bytes: 1024\nnetwork:\n  - {kind: carrier-pigeon}\n",
     "4:12",
     {"network[0].kind must be one of ethernet, infiniband, other", NULL}},
    {S_CPU "memory_bytes: [1, 2\n", "3:1", {"invalid YAML", "truncated", NULL}},
    {S_CPU "\tmemory_bytes: 1\n", "2:1", {"tab character", "spaces", NULL}},
    {S_CPU "memory_bytes: 1024\n---\nx: 1\n", "4:1", {"second one", NULL}},
    {"", "1:1", {"empty profile", NULL}},
    {S_CPU "memory_bytes: 1\nsource: \"\xff\"\n", "3:10", {"invalid YAML", "UTF-8", NULL}},
    {"- 1\n- 2\n", "1:1", {"must be a mapping", "a list", NULL}},
    {S_CPU "memory_bytes: 99999999999999999999999\n", "2:15", {"out of range", NULL}},
};

static void
test_malformed(void **state)
{
    for (size_t i = 0; i < sizeof(s_bad) / sizeof(s_bad[0]); i++) {
        ad_profile_t *p = (ad_profile_t *)&p;
        ad_err_t err = {0};
        char path[128], prefix[200];
        int rc;

        snprintf(path, sizeof(path), "%s/bad%zu.yaml", adt_root(), i);
        adt_write_file(path, s_bad[i].text);
        rc = ad_profile_load_yaml(path, &p, &err);
        if (rc != AD_EPARSE)
            fail_msg("case %zu: expected AD_EPARSE, got %d (\"%s\")", i, rc, err.msg);
        assert_null(p);
        assert_int_equal(err.code, AD_EPARSE);
        snprintf(prefix, sizeof(prefix), "%s:%s: ", path, s_bad[i].where);
        if (strncmp(err.msg, prefix, strlen(prefix)))
            fail_msg("case %zu: expected the message to start with \"%s\", got \"%s\"", i, prefix,
                     err.msg);
        for (int w = 0; s_bad[i].words[w]; w++)
            adt_assert_has(err.msg, s_bad[i].words[w]);
        assert_null(strchr(err.msg, '\n'));
    }
}

static void
test_missing_file(void **state)
{
    ad_profile_t *p = NULL;
    ad_err_t err = {0};

    assert_int_equal(ad_profile_load_yaml("/nonexistent/x.yaml", &p, &err), -ENOENT);
    adt_assert_has(err.msg, "/nonexistent/x.yaml");
    assert_null(p);
}

/* A minimal profile as a JSON payload. */
static json_t *
s_payload(int cores, const char *gpu)
{
    json_t *j =
        json_pack("{s:s, s:{s:s, s:i, s:i, s:i, s:i}, s:I}", "hostname", "n1", "cpu", "model",
                  "Intel(R) Xeon(R) Gold 5220 CPU @ 2.20GHz", "sockets", 1, "cores", cores, "pus",
                  2 * cores, "numa_nodes", 1, "memory_bytes", (json_int_t)(UINT64_C(96) << 30));

    if (gpu)
        json_object_set_new(j, "gpus", json_pack("[{s:s}]", "name", gpu));
    return j;
}

static char *
s_fp_of(json_t *j)
{
    ad_profile_t *p = NULL;
    ad_err_t err = {0};
    char *fp;

    if (ad_profile_from_json(j, &p, &err))
        fail_msg("%s", err.msg);
    fp = strdup(ad_profile_fingerprint(p));
    ad_profile_free(&p);
    json_decref(j);
    return fp;
}

static void
test_fingerprint(void **state)
{
    char *a = s_fp_of(s_payload(18, NULL)), *b = s_fp_of(s_payload(18, NULL));
    char *c = s_fp_of(s_payload(16, NULL)), *d = s_fp_of(s_payload(18, "NVIDIA A100"));
    json_t *j = s_payload(18, NULL);
    char *e, *f;
    ad_profile_t *p = NULL;
    ad_err_t err = {0};

    assert_true(s_is_fp(a));
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_string_not_equal(a, d);
    /* Another host of the class, with 200 MB less reported memory: the same class. */
    json_object_set_new(j, "hostname", json_string("n2"));
    json_object_set_new(j, "memory_bytes",
                        json_integer((json_int_t)((UINT64_C(96) << 30) - 200000000)));
    e = s_fp_of(j);
    assert_string_equal(a, e);
    /* Another CPU model is another class. */
    j = s_payload(18, NULL);
    json_object_set_new(json_object_get(j, "cpu"), "model", json_string("AMD EPYC 7352"));
    f = s_fp_of(j);
    assert_string_not_equal(a, f);
    /* A payload whose fingerprint lies about its hardware is refused. */
    j = s_payload(16, NULL);
    json_object_set_new(j, "fingerprint", json_string(a));
    assert_int_equal(ad_profile_from_json(j, &p, &err), AD_EPARSE);
    assert_null(p);
    adt_assert_has(err.msg, "profile: fingerprint: ");
    adt_assert_has(err.msg, c);
    json_decref(j);
    /* And JSON errors name the key. */
    j = s_payload(0, NULL);
    assert_int_equal(ad_profile_from_json(j, &p, &err), AD_EPARSE);
    adt_assert_has(err.msg, "profile: cpu.cores must be ");
    json_decref(j);
    free(a);
    free(b);
    free(c);
    free(d);
    free(e);
    free(f);
}

static void
test_bench_cache(void **state)
{
    ad_bench_opts_t small = {.gemm_n = 64, .gemm_repeats = 2, .rounds = 2, .triad_bytes = 6u << 20};
    const ad_profile_bench_t *b;
    ad_profile_bench_t first;
    ad_profile_t *p = NULL, *q = NULL;
    ad_err_t err = {0};
    char dir[128], path[200];
    struct stat st;
    double t0, fresh, reused;

    assert_int_equal(ad_hwloc_detect(&p, &err), 0);
    snprintf(dir, sizeof(dir), "%s/cache/profiles", adt_root());
    snprintf(path, sizeof(path), "%s/%s.yaml", dir, ad_profile_fingerprint(p));
    t0 = adt_now();
    if (ad_bench_profile_opts(p, &small, false, dir, &err))
        fail_msg("%s", err.msg);
    fresh = adt_now() - t0;
    b = ad_profile_bench_figures(p);
    assert_non_null(b);
    assert_true(b->gemm_gflops_1core > 0);
    assert_true(b->gemm_gflops_all > 0);
    assert_true(b->mem_bandwidth_gbs > 0);
    assert_false(b->cached);
    assert_false(b->estimated);
    assert_int_equal(b->gemm_n, 64);
    assert_int_equal(b->triad_mib, 6);
    first = *b;
    assert_int_equal(stat(path, &st), 0);
    /* The cache file is a profile like any other. */
    assert_int_equal(ad_profile_load_yaml(path, &q, &err), 0);
    assert_true(ad_profile_equal(p, q));
    ad_profile_free(&q);

    /* A second start reuses the figures instead of measuring. */
    ad_profile_free(&p);
    assert_int_equal(ad_hwloc_detect(&p, &err), 0);
    t0 = adt_now();
    assert_int_equal(ad_bench_profile_opts(p, &small, false, dir, &err), 0);
    reused = adt_now() - t0;
    b = ad_profile_bench_figures(p);
    assert_true(b->cached);
    assert_true(b->gemm_gflops_1core == first.gemm_gflops_1core);
    assert_true(b->measured_at == first.measured_at);
    print_message("bench: measured in %.3f s, reused from the cache in %.3f s\n", fresh, reused);

    /* force measures again; other sizes do too. */
    assert_int_equal(ad_bench_profile_opts(p, &small, true, dir, &err), 0);
    assert_false(ad_profile_bench_figures(p)->cached);
    small.gemm_n = 48;
    assert_int_equal(ad_bench_profile_opts(p, &small, false, dir, &err), 0);
    assert_false(ad_profile_bench_figures(p)->cached);
    assert_int_equal(ad_profile_bench_figures(p)->gemm_n, 48);

    /* Figures older than the lifetime are measured again. */
    ad_profile_free(&q);
    assert_int_equal(ad_profile_load_yaml(path, &q, &err), 0);
    first = *ad_profile_bench_figures(q);
    first.measured_at = time(NULL) - 40 * 24 * 3600;
    ad_profile_set_bench(q, &first);
    assert_int_equal(ad_profile_save_yaml(q, path, &err), 0);
    assert_int_equal(ad_bench_profile_opts(p, &small, false, dir, &err), 0);
    assert_false(ad_profile_bench_figures(p)->cached);
    assert_true(ad_profile_bench_figures(p)->measured_at > first.measured_at);

    /* A corrupt cache entry is measured again and replaced. */
    adt_write_file(path, "cpu: [\n");
    assert_int_equal(ad_bench_profile_opts(p, &small, false, dir, &err), 0);
    assert_false(ad_profile_bench_figures(p)->cached);
    ad_profile_free(&q);
    assert_int_equal(ad_profile_load_yaml(path, &q, &err), 0);
    ad_profile_free(&q);
    ad_profile_free(&p);
}

/* With no folder given, the cache lives under $AUTODIST_HOME/profiles. */
static void
test_bench_home(void **state)
{
    ad_bench_opts_t small = {.gemm_n = 32, .gemm_repeats = 1, .rounds = 1, .triad_bytes = 3u << 20};
    ad_profile_t *p = NULL;
    ad_err_t err = {0};
    char home[128], path[256];
    struct stat st;

    adt_path(home, sizeof(home), adt_root(), "home");
    setenv("AUTODIST_HOME", home, 1);
    assert_int_equal(ad_hwloc_detect(&p, &err), 0);
    if (ad_bench_profile_opts(p, &small, false, NULL, &err))
        fail_msg("%s", err.msg);
    snprintf(path, sizeof(path), "%s/profiles/%s.yaml", home, ad_profile_fingerprint(p));
    assert_int_equal(stat(path, &st), 0);
    unsetenv("AUTODIST_HOME");
    ad_profile_free(&p);
}

static void
test_triad(void **state)
{
    ad_err_t err = {0};
    double gbs = 0;

    assert_int_equal(ad_bench_triad_gbs(3u << 20, 3, 2, &gbs, &err), 0);
    assert_true(gbs > 0);
    /* Sizes too small to split still run. */
    assert_int_equal(ad_bench_triad_gbs(0, 4, 1, &gbs, &err), 0);
    assert_true(gbs > 0);
}

/*
 * Detection on a node this machine is not: tests/topologies/two-socket-gpus.xml
 * holds two sockets, four NUMA nodes, 64 cores with two PUs each, two CUDA
 * GPUs, a management VGA (not a GPU) and one Ethernet port.
 */
static void
test_detect_xml(void **state)
{
    ad_profile_t *p = NULL, *again = NULL;
    ad_err_t err = {0};

    if (ad_hwloc_detect_xml(AD_SOURCE_DIR "/tests/topologies/two-socket-gpus.xml", &p, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(ad_profile_sockets(p), 2);
    assert_int_equal(ad_profile_cores(p), 64);
    assert_int_equal(ad_profile_pus(p), 128);
    assert_int_equal(ad_profile_numa_nodes(p), 4);
    assert_true(ad_profile_cache_bytes(p, 1) == 48 * 1024);
    assert_true(ad_profile_cache_bytes(p, 2) == 1024 * 1024);
    assert_true(ad_profile_cache_bytes(p, 3) == 32 * 1024 * 1024);
    /* The topology's memory, not this machine's. */
    assert_true(ad_profile_memory_bytes(p) == UINT64_C(256) << 30);
    assert_int_equal(ad_profile_core_map_count(p), 64);
    for (int i = 0; i < 64; i++) {
        const ad_profile_core_t *c = ad_profile_core(p, i);

        assert_int_equal(c->socket, i / 32);
        assert_int_equal(c->numa, i / 16);
        assert_int_equal(c->n_pus, 2);
        assert_int_equal(c->pus[0], 2 * i);
        assert_int_equal(c->pus[1], 2 * i + 1);
    }
    assert_int_equal(ad_profile_gpu_count(p), 2);
    for (int i = 0; i < 2; i++) {
        const ad_profile_gpu_t *g = ad_profile_gpu(p, i);

        assert_string_equal(g->name, "NVIDIA H100 80GB HBM3");
        assert_string_equal(g->kind, "cuda");
        assert_int_equal(g->index, i);
        assert_true(g->memory_bytes == UINT64_C(80) << 30);
    }
    assert_int_equal(ad_profile_net_count(p), 1);
    assert_string_equal(ad_profile_net(p, 0)->name, "adtest0");
    /* The profile reads back from its own YAML, fingerprint included. */
    {
        char *yaml = ad_profile_to_yaml(p);

        if (ad_profile_parse_yaml(yaml, strlen(yaml), "two-socket.yaml", &again, &err))
            fail_msg("%s", err.msg);
        assert_true(ad_profile_equal(p, again));
        free(yaml);
    }
    ad_profile_free(&again);
    ad_profile_free(&p);
    assert_int_not_equal(ad_hwloc_detect_xml(AD_SOURCE_DIR "/tests/topologies/none.xml", &p, &err),
                         0);
    adt_assert_has(err.msg, "none.xml");
    assert_null(p);
}

/* The same machine from an hwloc synthetic description (no I/O devices). */
static void
test_detect_synthetic(void **state)
{
    ad_profile_t *p = NULL;
    ad_err_t err = {0};

    if (ad_hwloc_detect_synthetic("pack:2 l3:2(size=33554432) [numa(memory=68719476736)] "
                                  "l2:16(size=1048576) l1d:1(size=49152) core:1 pu:2",
                                  &p, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(ad_profile_sockets(p), 2);
    assert_int_equal(ad_profile_cores(p), 64);
    assert_int_equal(ad_profile_pus(p), 128);
    assert_int_equal(ad_profile_numa_nodes(p), 4);
    assert_true(ad_profile_cache_bytes(p, 3) == 32 * 1024 * 1024);
    assert_int_equal(ad_profile_gpu_count(p), 0);
    assert_int_equal(ad_profile_core(p, 63)->numa, 3);
    assert_int_equal(ad_profile_core(p, 63)->pus[1], 127);
    ad_profile_free(&p);
    assert_int_not_equal(ad_hwloc_detect_synthetic("pack:two", &p, &err), 0);
    adt_assert_has(err.msg, "pack:two");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_detect_xml),
        cmocka_unit_test(test_detect_synthetic),
        cmocka_unit_test(test_yaml_round_trip),
        cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test(test_grid5000_example),
        cmocka_unit_test(test_shipped_profiles),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_fingerprint),
        cmocka_unit_test(test_triad),
        cmocka_unit_test(test_bench_cache),
        cmocka_unit_test(test_bench_home),
    };

    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
