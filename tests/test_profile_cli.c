/* test_profile_cli.c - `autodist profile import|list` and `autodist plan --cluster --nodes` */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ad_test.h"
#include "autodist/ad_profile.h"
#include "autodist/ad_store.h"

/*
 * The programs run as a user would type them, with a home of their own, no
 * coordinator (plan --cluster needs none) and the shipped profiles of the
 * source tree ($AUTODIST_PROFILES), against the samples of tests/data/g5k/.
 */
#define G5K AD_SOURCE_DIR "/tests/data/g5k/"

static const char *s_dir; /* the temp root */
static char s_coord[64];  /* an endpoint nobody listens on */
static adt_sh_t s_res;    /* stdout and stderr of the last command */

/* Run `autodist --home DIR/HOME --coordinator EP ARGS` in DIR: exit status; output in s_res. */
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

static int
s_group_setup(void **state)
{
    char job[] = "name: plan-me\nmodel: cnn\ndataset: fashion-mnist\nsteps: 10\nbatch_size: 256\n";

    s_dir = adt_root_make("ad_test_profile_cli");
    if (!s_dir)
        return -1;
    setenv("HOME", s_dir, 1);
    setenv("AUTODIST_PROFILES", AD_SOURCE_DIR "/profiles", 1);
    adt_free_endpoint(s_coord, sizeof(s_coord));
    adt_write_in(s_dir, "job.yaml", job, strlen(job));
    return 0;
}

static int
s_group_teardown(void **state)
{
    adt_sh_free(&s_res);
    return adt_root_remove();
}

/* import writes HOME/profiles/described/CLUSTER.yaml, which loads with the node's figures. */
static void
test_import(void **state)
{
    char path[600];
    ad_profile_t *p = NULL;
    ad_err_t err = {0};

    assert_int_equal(s_run("imp", "profile import " G5K "gros-1.json --nodes 124"), 0);
    adt_assert_has(s_res.out, "imported gros (nancy)");
    adt_assert_has(s_res.out, "18 cores, 36 threads, 96 GiB, no GPU, network 25+25 Gbit/s");
    adt_assert_has(s_res.out, "plan on it: autodist plan JOB.yaml --cluster gros --nodes 1-124");
    snprintf(path, sizeof(path), "%s/imp/profiles/described/gros.yaml", s_dir);
    if (ad_profile_load_yaml(path, &p, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(ad_profile_cluster_nodes(p), 124);
    assert_int_equal(ad_profile_cores(p), 18);
    adt_assert_has(ad_profile_source(p), "imported from the reference API");
    ad_profile_free(&p);
    /* The listing, in JSON, to a file of one's choice. */
    assert_int_equal(s_run("imp", "--json profile import " G5K "chifflot-nodes.json --out c.yaml"),
                     0);
    {
        json_t *j = adt_json(s_res.out);

        assert_string_equal(json_string_value(json_object_get(j, "cluster")), "chifflot");
        assert_int_equal(json_integer_value(json_object_get(j, "nodes")), 6);
        assert_int_equal(json_integer_value(json_object_get(j, "listed")), 8);
        assert_string_equal(json_string_value(json_object_get(j, "other_hardware")),
                            "chifflot-7, chifflot-8");
        assert_int_equal(json_array_size(json_object_get(json_object_get(j, "profile"), "gpus")),
                         2);
        json_decref(j);
    }
    snprintf(path, sizeof(path), "%s/c.yaml", s_dir);
    assert_true(adt_is_file(path));
}

/* Bad input: one line, exit 2. */
static void
test_import_errors(void **state)
{
    static const char bad[] = "{\n  \"uid\": \"x-1\",\n  \"architecture\": {\"nb_procs\": 1,\n"
                              "    \"nb_cores\": \"many\"}\n}\n";
    static const char broken[] = "{\n  \"uid\": \"x-1\",\n  \"architecture\": {,\n}\n";

    adt_write_in(s_dir, "bad.json", bad, strlen(bad));
    adt_write_in(s_dir, "broken.json", broken, strlen(broken));
    assert_int_equal(s_run("err", "profile import bad.json"), 2);
    s_one_line("bad.json:4:17: architecture.nb_cores must be");
    assert_int_equal(s_run("err", "profile import broken.json"), 2);
    s_one_line("broken.json:3:20: invalid JSON");
    assert_int_equal(s_run("err", "profile import no-such.json"), 2);
    s_one_line("no-such.json");
    assert_int_equal(s_run("err", "profile import " G5K "gros-1.json --name Bad/Name"), 2);
    s_one_line("--name must be");
    assert_int_equal(s_run("err", "profile import"), 2);
    s_one_line("give one FILE.json");
    assert_int_equal(s_run("err", "profile frobnicate"), 2);
    s_one_line("no subcommand \"frobnicate\"");
    assert_int_equal(s_run("err", "profile list --nodes 3"), 2);
    s_one_line("profile list does not take --nodes");
}

/* list: imported, shipped; --json. */
static void
test_list(void **state)
{
    json_t *j, *v;
    size_t i;
    bool imported = false, dahu = false;

    assert_int_equal(s_run("imp", "profile list"), 0);
    adt_assert_has(s_res.out, "NAME");
    adt_assert_has(s_res.out, "imported");
    adt_assert_has(s_res.out, "grid5000-dahu.yaml");
    assert_int_equal(s_run("imp", "profile list --json"), 0);
    j = adt_json(s_res.out);
    json_array_foreach(json_object_get(j, "profiles"), i, v)
    {
        const char *name = json_string_value(json_object_get(v, "name"));
        const char *where = json_string_value(json_object_get(v, "where"));

        imported |= !strcmp(name, "gros") && !strcmp(where, "imported");
        dahu |= !strcmp(name, "dahu") && !strcmp(where, "shipped") &&
                json_integer_value(json_object_get(v, "cores")) == 32;
    }
    assert_true(imported && dahu);
    json_decref(j);
}

/* plan --cluster gros --nodes 1-4: a ranked table on the description, said so. */
static void
test_plan_cluster(void **state)
{
    json_t *j, *c;
    size_t i;

    assert_int_equal(s_run("imp", "plan job.yaml --cluster gros --nodes 1-4 --top 50"), 0);
    adt_assert_has(s_res.out, "nodes (described, not reserved)");
    adt_assert_has(s_res.out,
                   "basis: described hardware (gros, Grid'5000 reference API), not measured");
    adt_assert_has(s_res.out, "figures: estimated");
    adt_assert_has(s_res.out, "RANK");
    adt_assert_has(s_res.out, "description, not measured");
    assert_null(strstr(s_res.out, "\n1     5x"));
    assert_int_equal(s_run("imp", "plan job.yaml --cluster gros --nodes 3-4 --json --top 1000"), 0);
    j = adt_json(s_res.out);
    assert_string_equal(json_string_value(json_object_get(j, "nodes_from")), "description");
    adt_assert_has(json_string_value(json_object_get(j, "basis")), "described hardware (gros");
    assert_true(json_is_true(json_object_get(json_object_get(j, "cluster"), "estimated")));
    assert_true(json_array_size(json_object_get(j, "candidates")) > 0);
    json_array_foreach(json_object_get(j, "candidates"), i, c)
    {
        json_int_t n = json_integer_value(json_object_get(json_object_get(c, "layout"), "nodes"));

        if (n < 3 || n > 4)
            fail_msg("candidate %zu on %d nodes, asked 3-4", i, (int)n);
        adt_assert_has(json_string_value(json_object_get(c, "basis")), "description");
        if (i > 0)
            assert_true(
                json_real_value(json_object_get(c, "samples_per_s")) <=
                json_real_value(json_object_get(
                    json_array_get(json_object_get(j, "candidates"), i - 1), "samples_per_s")));
    }
    json_decref(j);
    /* A shipped GPU cluster, a single N. */
    assert_int_equal(s_run("imp", "plan job.yaml --cluster chifflot --nodes 2 --device gpu"), 0);
    adt_assert_has(s_res.out, "described hardware (chifflot, Grid'5000 reference repository)");
    adt_assert_has(s_res.out, "2x2x1");
}

/* Runs of the same hardware class in the store are used, and the basis says so. */
static void
test_plan_cluster_runs(void **state)
{
    char csv[2048];
    size_t len = 0;

    len += (size_t)snprintf(csv + len, sizeof(csv) - len,
                            "model,dataset,hardware,nodes,procs_per_node,threads_per_proc,"
                            "device,batch_size,samples_per_s,params\n");
    /* 5a16e11d71434824: gros's hardware class (tests/test_g5k_ref.c checks both agree). */
    len += (size_t)snprintf(csv + len, sizeof(csv) - len,
                            "cnn,fashion-mnist,5a16e11d71434824,1,1,1,cpu,256,900,421642\n"
                            "cnn,fashion-mnist,5a16e11d71434824,1,2,1,cpu,256,1700,421642\n"
                            "cnn,fashion-mnist,5a16e11d71434824,2,2,1,cpu,256,3000,421642\n");
    adt_write_in(s_dir, "runs.csv", csv, len);
    assert_int_equal(s_run("runs", "import runs.csv"), 0);
    assert_int_equal(s_run("runs", "plan job.yaml --cluster gros --nodes 1-2 --top 100"), 0);
    adt_assert_has(s_res.out, "described hardware (gros, Grid'5000 hardware pages)");
    adt_assert_has(s_res.out, "description + 3 runs");
    adt_assert_has(s_res.out, "speedup over the 1x1x1 baseline (measured");
}

/*
 * A gros node measured by an agent reports 94 GiB, not the 96 described: its class (another
 * fingerprint) is taken for the description's, with its runs and measured benchmarks.
 */
static void
test_plan_cluster_near_class(void **state)
{
    static const char csv[] =
        "model,dataset,hardware,nodes,procs_per_node,threads_per_proc,device,batch_size,"
        "samples_per_s\n"
        "cnn,fashion-mnist,gros-measured,1,1,1,cpu,256,900\n"
        "cnn,fashion-mnist,gros-measured,1,1,2,cpu,256,1600\n";
    char db[600];
    ad_store_t *st = NULL;
    ad_profile_row_t row;
    ad_node_t node;
    int64_t id;

    adt_write_in(s_dir, "near.csv", csv, strlen(csv));
    assert_int_equal(s_run("near", "import near.csv"), 0);
    snprintf(db, sizeof(db), "%s/near/runs.db", s_dir);
    assert_int_equal(ad_store_open(db, 0, &st, NULL), 0);
    ad_store_node_init(&node);
    node.hostname = "gros-12";
    assert_int_equal(ad_store_put_node(st, &node, &id), 0);
    ad_store_profile_row_init(&row);
    row.node = id;
    row.hardware = "gros-measured";
    row.cpu_model = "Intel(R) Xeon(R) Gold 5220 CPU @ 2.20GHz";
    row.sockets = 1;
    row.cores = 18;
    row.pus = 36;
    row.memory_bytes = 94LL << 30;
    row.gemm_gflops_1 = 52;
    row.gemm_gflops_all = 800;
    row.mem_bw_gbs = 95;
    assert_int_equal(ad_store_add_profile(st, &row, NULL), 0);
    ad_store_close(&st);
    assert_int_equal(s_run("near", "plan job.yaml --cluster gros --nodes 1-2"), 0);
    adt_assert_has(s_res.out, "benchmarks measured on its hardware class");
    adt_assert_has(s_res.out, "figures: measured: the store's benchmarks of hardware class "
                              "gros-measured (the same machines, 94.0 GiB reported)");
    adt_assert_has(s_res.out, "gros-measured: 2 nodes (gros-1, gros-2)");
    adt_assert_has(s_res.out, "description + 2 runs");
}

/* Unknown cluster, bad --nodes, options that do not go together: one line, exit 2. */
static void
test_plan_cluster_errors(void **state)
{
    static const char *const bad_nodes[] = {"0", "5-2", "junk", "3-", "-2", "1-99999", "2x"};

    assert_int_equal(s_run("imp", "plan job.yaml --cluster nope --nodes 1-4"), 2);
    s_one_line("unknown cluster \"nope\": known described profiles are chifflot, chifflot-v100, "
               "dahu, gros");
    for (size_t i = 0; i < sizeof(bad_nodes) / sizeof(bad_nodes[0]); i++) {
        char args[128];

        snprintf(args, sizeof(args), "plan job.yaml --cluster gros --nodes %s", bad_nodes[i]);
        assert_int_equal(s_run("imp", args), 2);
        s_one_line("--nodes must be N or A-B with 1 <= A <= B <= 4096");
    }
    assert_int_equal(s_run("imp", "plan job.yaml --nodes 4"), 2);
    s_one_line("--nodes goes with --cluster");
    assert_int_equal(s_run("imp", "plan job.yaml --cluster gros --max-nodes 2"), 2);
    s_one_line("--max-nodes does not go with --cluster");
    assert_int_equal(s_run("imp", "plan --evaluate --cluster gros"), 2);
    s_one_line("plan --evaluate does not take --cluster");
    assert_int_equal(s_run("imp", "plan job.yaml --cluster gros --device gpu"), 1);
    s_one_line("no layout fits");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_import),
        cmocka_unit_test(test_import_errors),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_plan_cluster),
        cmocka_unit_test(test_plan_cluster_runs),
        cmocka_unit_test(test_plan_cluster_near_class),
        cmocka_unit_test(test_plan_cluster_errors),
    };

    return cmocka_run_group_tests(tests, s_group_setup, s_group_teardown);
}
