/*
 * test_distill_job.c - the distill: block of job files: values, defaults, errors, JSON, hash;
 * and finetune: (an artifact folder to start from)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ad_test.h"

#include "autodist/ad_job.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char s_base[] = "name: s\nmodel: mlp\ndataset: synthetic\nbatch_size: 8\n";

/* Parse s_base plus more; the return code, with *job and *err filled. */
static int
s_parse(const char *more, ad_job_t *job, ad_err_t *err)
{
    char text[2048];

    snprintf(text, sizeof(text), "%s%s", s_base, more);
    return ad_job_parse_string(text, "j.yaml", job, err);
}

/* Expect an error starting "j.yaml:WHERE: " and holding words. */
static void
s_bad(const char *more, const char *where, const char *words)
{
    ad_job_t job;
    ad_err_t err = {0};
    char prefix[64];

    assert_int_equal(s_parse(more, &job, &err), AD_EPARSE);
    snprintf(prefix, sizeof(prefix), "j.yaml:%s: ", where);
    if (strncmp(err.msg, prefix, strlen(prefix)))
        fail_msg("expected \"%s...\", got \"%s\"", prefix, err.msg);
    adt_assert_has(err.msg, words);
    assert_null(strchr(err.msg, '\n'));
}

/* A run id teacher with the defaults; JSON round trip; the hash sees the block. */
static void
test_good_run_id(void **state)
{
    ad_job_t job, back, plain;
    ad_err_t err = {0};
    char h1[17], h2[17], *json, *json2;

    (void)state;
    assert_int_equal(s_parse("distill: {teacher: 12}\n", &job, &err), 0);
    assert_string_equal(job.distill.teacher, "12");
    assert_null(job.distill.checkpoint);
    assert_true(job.distill.temperature == 4.0);
    assert_true(job.distill.alpha == 0.9);
    json = ad_job_to_json(&job);
    adt_assert_has(json, "\"distill\":{\"alpha\":0.9,\"teacher\":\"12\",\"temperature\":4.0}");
    assert_int_equal(ad_job_from_json(json, &back, &err), 0);
    json2 = ad_job_to_json(&back);
    assert_string_equal(json, json2);
    free(json2);
    /* The checkpoint the coordinator resolves travels in JSON, out of the hash. */
    ad_job_hash(&back, h1);
    back.distill.checkpoint = strdup("/home/x/checkpoints/7");
    ad_job_hash(&back, h2);
    assert_string_equal(h1, h2);
    json2 = ad_job_to_json(&back);
    adt_assert_has(json2, "\"checkpoint\":\"/home/x/checkpoints/7\"");
    ad_job_clear(&back);
    assert_int_equal(ad_job_from_json(json2, &back, &err), 0);
    assert_string_equal(back.distill.checkpoint, "/home/x/checkpoints/7");
    assert_string_equal(back.distill.teacher, "12");
    free(json2);
    ad_job_clear(&back);
    /* Without distill: no block, and another hash. */
    assert_int_equal(s_parse("", &plain, &err), 0);
    assert_null(plain.distill.teacher);
    json2 = ad_job_to_json(&plain);
    assert_null(strstr(json2, "distill"));
    free(json2);
    ad_job_hash(&plain, h2);
    assert_string_not_equal(h1, h2);
    /* A copy owns its strings. */
    ad_job_copy(&back, &job);
    assert_string_equal(back.distill.teacher, "12");
    assert_ptr_not_equal(back.distill.teacher, job.distill.teacher);
    ad_job_clear(&back);
    ad_job_clear(&plain);
    ad_job_clear(&job);
    free(json);
}

/* A checkpoint folder teacher, temperature and alpha given. */
static void
test_good_folder(void **state)
{
    char dir[512], more[1024];
    ad_job_t job;
    ad_err_t err = {0};

    (void)state;
    adt_fresh_dir(dir, sizeof(dir), "teacher");
    snprintf(more, sizeof(more), "distill:\n  teacher: %s\n  temperature: 2.5\n  alpha: 0\n", dir);
    assert_int_equal(s_parse(more, &job, &err), 0);
    assert_non_null(job.distill.teacher);
    assert_string_equal(job.distill.teacher, job.distill.checkpoint);
    assert_true(job.distill.temperature == 2.5);
    assert_true(job.distill.alpha == 0.0);
    ad_job_clear(&job);
    assert_int_equal(s_parse("distill: {teacher: 3, alpha: 1, temperature: 1}\n", &job, &err), 0);
    assert_true(job.distill.alpha == 1.0);
    ad_job_clear(&job);
    /* null: no distillation. */
    assert_int_equal(s_parse("distill: null\n", &job, &err), 0);
    assert_null(job.distill.teacher);
    ad_job_clear(&job);
}

/* Bad values, a missing teacher, misspelt keys: FILE:LINE:COL and what was expected. */
static void
test_bad(void **state)
{
    (void)state;
    s_bad("distill: {teacher: 3, temperature: 0}\n", "5:36", "distill.temperature must be");
    s_bad("distill: {teacher: 3, temperature: -1}\n", "5:36", "got \"-1\"");
    s_bad("distill: {teacher: 3, temperature: hot}\n", "5:36", "distill.temperature must be");
    s_bad("distill: {teacher: 3, alpha: 1.5}\n", "5:30", "distill.alpha must be");
    s_bad("distill: {teacher: 3, alpha: -0.1}\n", "5:30", "distill.alpha must be");
    s_bad("distill: {temperature: 2}\n", "5:10", "distill needs teacher");
    s_bad("distill: {teacher: /no/such/folder}\n", "5:20",
          "distill.teacher must be a run id (autodist runs) or a checkpoint folder");
    s_bad("distill: {teacher: [1]}\n", "5:20", "distill.teacher must be");
    s_bad("distill: 3\n", "5:10", "distill must be a mapping such as {teacher: RUN");
    s_bad("distill: {teacher: 3, temprature: 2}\n", "5:23", "did you mean temperature?");
    s_bad("distill: {teacher: 3, aplha: 0.5}\n", "5:23", "did you mean alpha?");
    s_bad("distil: {teacher: 3}\n", "5:1", "did you mean distill?");
    s_bad("teacher: 3\n", "5:1", "did you mean distill.teacher?");
}

/* --set over a job: a teacher added, a value changed, and a value without teacher refused. */
static void
test_set(void **state)
{
    char path[512];
    const char *sets[] = {"distill={teacher: 5}", "distill.alpha=0.5"};
    const char *bad[] = {"distill.alpha=0.5"};
    ad_job_t job;
    ad_err_t err = {0};

    (void)state;
    adt_fresh_path(path, sizeof(path), "job", ".yaml");
    adt_write_file(path, s_base);
    assert_int_equal(ad_job_parse_file_set(path, sets, 2, &job, &err), 0);
    assert_string_equal(job.distill.teacher, "5");
    assert_true(job.distill.alpha == 0.5);
    ad_job_clear(&job);
    assert_int_equal(ad_job_parse_file_set(path, bad, 1, &job, &err), AD_EPARSE);
    adt_assert_has(err.msg, "distill.alpha needs distill.teacher");
}

/* A sweep over the teacher and alpha: each job gets both values, and the base's temperature. */
static void
test_sweep(void **state)
{
    static const char text[] = "name: kd\nbase:\n  model: mlp\n  dataset: synthetic\n"
                               "  batch_size: 8\n  distill: {teacher: 1, temperature: 3}\n"
                               "grid:\n  distill.alpha: [0.2, 0.8]\n  distill.teacher: [4, 5]\n";
    ad_sweep_t *sw = NULL;
    ad_err_t err = {0};
    ad_job_t job;
    int seen = 0;

    (void)state;
    if (ad_sweep_load_string(text, "s.yaml", &sw, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(ad_sweep_count(sw), 4);
    for (int64_t i = 0; i < 4; i++) {
        assert_int_equal(ad_sweep_job(sw, i, &job, NULL, &err), 0);
        assert_true(job.distill.temperature == 3.0);
        assert_true(job.distill.alpha == 0.2 || job.distill.alpha == 0.8);
        assert_true(!strcmp(job.distill.teacher, "4") || !strcmp(job.distill.teacher, "5"));
        seen |= 1 << ((job.distill.alpha > 0.5) * 2 + (job.distill.teacher[0] == '5'));
        ad_job_clear(&job);
    }
    assert_int_equal(seen, 15);
    ad_sweep_free(&sw);
    /* A bad grid value says which. */
    assert_int_not_equal(ad_sweep_load_string("name: kd\nbase:\n  model: mlp\n  dataset: "
                                              "synthetic\n  batch_size: 8\n  distill: {teacher: "
                                              "1}\ngrid: {distill.alpha: [0.5, 2]}\n",
                                              "s.yaml", &sw, &err),
                         0);
    adt_assert_has(err.msg, "grid distill.alpha value 2: distill.alpha must be");
}

/* finetune: an fp32 artifact's folder, absolute in JSON, in the hash; what is refused. */
static void
test_finetune(void **state)
{
    char dir[512], file[600], more[1024], h1[17], h2[17], *json;
    ad_job_t job, back, plain;
    ad_err_t err = {0};

    (void)state;
    adt_fresh_dir(dir, sizeof(dir), "artifact");
    snprintf(file, sizeof(file), "%s/model.json", dir);
    adt_write_file(file, "{\"format\": \"autodist-model\", \"arch\": \"mlp\", "
                         "\"variant\": \"pruned50\"}");
    snprintf(more, sizeof(more), "finetune: %s\n", dir);
    assert_int_equal(s_parse(more, &job, &err), 0);
    assert_string_equal(job.finetune, dir);
    json = ad_job_to_json(&job);
    snprintf(more, sizeof(more), "\"finetune\":\"%s\"", dir);
    adt_assert_has(json, more);
    assert_int_equal(ad_job_from_json(json, &back, &err), 0);
    assert_string_equal(back.finetune, dir);
    ad_job_clear(&back);
    free(json);
    /* It changes the configuration: another hash than the same job from scratch. */
    assert_int_equal(s_parse("", &plain, &err), 0);
    assert_null(plain.finetune);
    ad_job_hash(&job, h1);
    ad_job_hash(&plain, h2);
    assert_string_not_equal(h1, h2);
    ad_job_copy(&back, &job);
    assert_ptr_not_equal(back.finetune, job.finetune);
    ad_job_clear(&back);
    ad_job_clear(&plain);
    ad_job_clear(&job);
    /* A folder that is not an artifact, an int8 one, one that is not there. */
    adt_fresh_dir(dir, sizeof(dir), "empty");
    snprintf(more, sizeof(more), "finetune: %s\n", dir);
    s_bad(more, "5:11", "finetune must be an inference artifact's folder");
    adt_fresh_dir(dir, sizeof(dir), "int8");
    snprintf(file, sizeof(file), "%s/model.json", dir);
    adt_write_file(file, "{\"arch\": \"mlp\", \"variant\": \"int8\"}");
    snprintf(more, sizeof(more), "finetune: %s\n", dir);
    s_bad(more, "5:11", "is an int8 model; fine-tune its fp32 parent");
    s_bad("finetune: /no/such/model\n", "5:11", "finetune must be an existing folder");
    s_bad("fine_tune: /x\n", "5:1", "did you mean finetune?");
    /* JSON (what the coordinator reads) must be absolute and is not checked on disk. */
    assert_int_not_equal(ad_job_from_json("{\"name\":\"s\",\"model\":\"mlp\",\"dataset\":"
                                          "\"synthetic\",\"batch_size\":8,\"finetune\":\"rel\"}",
                                          &job, &err),
                         0);
    adt_assert_has(err.msg, "finetune must be an absolute path");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_run_id), cmocka_unit_test(test_good_folder),
        cmocka_unit_test(test_bad),         cmocka_unit_test(test_set),
        cmocka_unit_test(test_sweep),       cmocka_unit_test(test_finetune),
    };

    adt_root_make("distill_job");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
