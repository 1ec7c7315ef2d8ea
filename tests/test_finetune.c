/*
 * test_finetune.c - optimize --prune's fine-tune as a job on the cluster: a cnn run, its
 * export, a structured and an unstructured variant fine-tuned by jobs (one on 1x2x1), runs
 * of kind finetune kept out of the baselines, a fine-tune job that fails
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cli_fixture.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char s_home[512];  /* the cluster's home */
static char s_ep[3][64];  /* client, agent and metrics endpoints */
static int64_t s_run;     /* the training run the model comes from */
static char s_model[600]; /* its export */

#define S_CLI(...) cft_cli("--home", s_home, "--coordinator", s_ep[0], __VA_ARGS__, NULL)

static int
s_setup(void **st)
{
    (void)st;
    return cft_cluster_up(s_home, sizeof(s_home), s_ep);
}

static int
s_teardown(void **st)
{
    (void)st;
    cft_cli("--home", s_home, "--coordinator", s_ep[0], "down", NULL);
    return 0;
}

/* The runs of kind (train, finetune) as a JSON array (a new reference). */
static json_t *
s_runs(const char *kind)
{
    json_t *doc, *runs;

    cft_expect(S_CLI("--json", "runs", "--kind", kind), 0);
    doc = adt_json(cft_res.out);
    runs = json_incref(json_object_get(doc, "runs"));
    json_decref(doc);
    assert_true(json_is_array(runs));
    return runs;
}

/* model.json of dir, parsed. */
static json_t *
s_meta(const char *dir)
{
    char path[1024];
    json_error_t je;
    json_t *m;

    snprintf(path, sizeof(path), "%s/model.json", dir);
    m = json_load_file(path, 0, &je);
    if (!m)
        fail_msg("%s: %s", path, je.text);
    return m;
}

/* A cnn trained 1x1x1 and exported: the parent of the variants. */
static void
test_parent(void **st)
{
    char path[600];
    json_t *doc, *res;

    (void)st;
    snprintf(path, sizeof(path), "%s/parent.yaml", cft_tmp);
    adt_write_file(path, "name: parent\nmodel: cnn\n"
                         "dataset: {synthetic: {shape: [1, 16, 16], classes: 4, samples: 256}}\n"
                         "steps: 8\nbatch_size: 16\nlayout: 1x1x1\neval: true\n");
    cft_expect(S_CLI("--json", "submit", path, "--wait"), 0);
    doc = adt_json(cft_res.out);
    res = json_object_get(json_object_get(doc, "status"), "result");
    s_run = json_integer_value(json_object_get(res, "run"));
    json_decref(doc);
    assert_true(s_run >= 1);
    snprintf(path, sizeof(path), "%lld", (long long)s_run);
    snprintf(s_model, sizeof(s_model), "%s/tiny", cft_tmp);
    cft_expect(S_CLI("export", path, "-o", s_model, "--runs", "10"), 0);
    adt_assert_has(cft_res.out, "exported model 1 (tiny, cnn fp32)");
}

/*
 * Structured pruning fine-tuned by a job on 1x2x1: the variant is the job's export, with
 * fewer weights, and says how it was fine-tuned; the job file stays beside it.
 */
static void
test_structured_on_1x2x1(void **st)
{
    char path[700], id[32];
    json_t *doc, *m, *runs, *r;

    (void)st;
    if (s_run < 1)
        skip();
    cft_expect(S_CLI("--json", "optimize", "tiny", "--prune", "0.5", "--structured", "--finetune",
                     "8", "--layout", "1x2x1", "--runs", "10"),
               0);
    doc = adt_json(cft_res.out); /* one JSON object: the job's progress went to stderr */
    assert_string_equal(json_string_value(json_object_get(doc, "variant")), "pruned50s");
    assert_int_equal(json_integer_value(json_object_get(doc, "parent")), 1);
    json_decref(doc);
    adt_assert_has(cft_res.err, "fine-tuning on the cluster: submitted job ");
    adt_assert_has(cft_res.err, "COMPLETED");
    /* The job file, and the artifact's account of the fine-tune. */
    snprintf(path, sizeof(path), "%s-pruned50s/finetune.yaml", s_model);
    assert_int_equal(access(path, R_OK), 0);
    snprintf(path, sizeof(path), "%s-pruned50s", s_model);
    m = s_meta(path);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "finetune"), "steps")),
                     8);
    assert_string_equal(json_string_value(json_object_get(json_object_get(m, "finetune"), "from")),
                        path);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(m, "pruning"), "finetune_steps")), 8);
    assert_true(json_is_true(json_object_get(json_object_get(m, "pruning"), "structured")));
    assert_int_equal(json_integer_value(json_object_get(m, "parent_id")), 1);
    json_decref(m);
    cft_expect(S_CLI("models", "--parsable"), 0);
    adt_assert_has(cft_res.out, "|tiny-pruned50s|pruned50s|cnn|");
    /* Its run is of kind finetune, on 1x2x1, and no training figure counts it. */
    runs = s_runs("finetune");
    assert_int_equal(json_array_size(runs), 1);
    r = json_array_get(runs, 0);
    assert_int_equal(json_integer_value(json_object_get(r, "procs_per_node")), 2);
    assert_true(json_is_null(json_object_get(r, "speedup")));
    snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(json_object_get(r, "id")));
    json_decref(runs);
    runs = s_runs("train");
    assert_int_equal(json_array_size(runs), 1);
    json_decref(runs);
    cft_expect(S_CLI("show", id), 0);
    adt_assert_has(cft_res.out, "  finetune    from the artifact ");
}

/*
 * Unstructured, on the parent's layout (1x1x1), batch set to the parent's: the same
 * model, dataset, batch and layout as the parent's run, yet the baseline is made of
 * training runs only, also once another training run of that key recomputes it.
 */
static void
test_unstructured_not_a_baseline(void **st)
{
    json_t *doc, *bases, *runs, *res;
    char want[64], path[600];
    int64_t again;

    (void)st;
    if (s_run < 1)
        skip();
    cft_expect(S_CLI("optimize", "tiny", "--prune", "0.5", "--finetune", "6", "--set",
                     "batch_size=16", "--runs", "10"),
               0);
    adt_assert_has(cft_res.out, "optimized model 3 (tiny-pruned50, cnn pruned50)");
    runs = s_runs("finetune");
    assert_int_equal(json_array_size(runs), 2);
    json_decref(runs);
    snprintf(path, sizeof(path), "%s/parent.yaml", cft_tmp);
    cft_expect(S_CLI("--json", "submit", path, "--wait"), 0);
    doc = adt_json(cft_res.out);
    res = json_object_get(json_object_get(doc, "status"), "result");
    again = json_integer_value(json_object_get(res, "run"));
    json_decref(doc);
    cft_expect(S_CLI("--json", "baseline", "--model", "cnn"), 0);
    doc = adt_json(cft_res.out);
    bases = json_object_get(doc, "baselines");
    assert_int_equal(json_array_size(bases), 1);
    snprintf(want, sizeof(want), "[%lld,%lld]", (long long)s_run, (long long)again);
    {
        char *ids = json_dumps(json_object_get(json_array_get(bases, 0), "runs"), JSON_COMPACT);

        assert_string_equal(ids, want);
        free(ids);
    }
    json_decref(doc);
}

/* A fine-tune job that fails: optimize says which job and how it ended, non-zero. */
static void
test_failing_job(void **st)
{
    char bad[600], bad2[600];

    (void)st;
    if (s_run < 1)
        skip();
    snprintf(bad, sizeof(bad), "%s/bad", cft_tmp);
    snprintf(bad2, sizeof(bad2), "%s/bad2", cft_tmp);
    /* The job's model is not the artifact's: the trainer refuses at start. */
    assert_int_not_equal(S_CLI("optimize", "tiny", "--prune", "0.3", "--finetune", "4", "--set",
                               "model=mlp", "--runs", "10", "-o", bad),
                         0);
    adt_assert_has(cft_res.err, "FAILED");
    adt_assert_has(cft_res.err, "is a cnn, not a mlp");
    /* A --set that is no job key: a usage error naming it. */
    cft_expect(S_CLI("optimize", "tiny", "--prune", "0.3", "--set", "bogus=1", "-o", bad2), 2);
    adt_assert_has(cft_res.err, "--set bogus=1: unknown job key");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parent),
        cmocka_unit_test(test_structured_on_1x2x1),
        cmocka_unit_test(test_unstructured_not_a_baseline),
        cmocka_unit_test(test_failing_job),
    };
    int failed;

    if (cft_begin("ad_test_finetune"))
        return 1;
    failed = cmocka_run_group_tests_name("finetune", tests, s_setup, s_teardown);
    return cft_end(failed);
}
