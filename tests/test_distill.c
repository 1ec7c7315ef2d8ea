/* test_distill.c - distillation end to end: a teacher run, a student distilled from it, refusals */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cli_fixture.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char s_home[512];  /* the cluster's home */
static char s_ep[3][64];  /* client, agent and metrics endpoints */
static int64_t s_teacher; /* the teacher's run id, once trained */
static int64_t s_tjob;    /* and its job id (checkpoints/<job>) */

#define S_CLI(...) cft_cli("--home", s_home, "--coordinator", s_ep[0], __VA_ARGS__, NULL)

/* Tiny: 1x16x16 synthetic samples of 4 classes, a few steps. */
static const char s_data[] =
    "dataset: {synthetic: {shape: [1, 16, 16], classes: 4, samples: 256}}\n"
    "steps: 6\nbatch_size: 16\neval: true\n";

/* Write the job file tag.yaml (s_data, then more) into the temp root; its path in buf. */
static const char *
s_job(char *buf, size_t size, const char *tag, const char *more)
{
    char text[2048];

    snprintf(buf, size, "%s/%s.yaml", cft_tmp, tag);
    snprintf(text, sizeof(text), "name: %s\n%s%s", tag, s_data, more);
    adt_write_file(buf, text);
    return buf;
}

/* submit --wait --json of path: exit 0 and COMPLETED; the run id (its accuracy in *acc). */
static int64_t
s_train(const char *path, double *acc, int64_t *job)
{
    json_t *doc, *res;
    int64_t run;

    cft_expect(S_CLI("--json", "submit", path, "--wait"), 0);
    doc = adt_json(cft_res.out);
    assert_string_equal(json_string_value(json_object_get(doc, "state")), "COMPLETED");
    res = json_object_get(json_object_get(doc, "status"), "result");
    run = json_integer_value(json_object_get(res, "run"));
    assert_true(run >= 1);
    if (acc)
        *acc = json_number_value(json_object_get(res, "accuracy"));
    if (job)
        *job = json_integer_value(json_object_get(doc, "job"));
    json_decref(doc);
    return run;
}

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

/* A cnn teacher, then an mlp student distilled from it on 1x2x1: COMPLETED, accuracy kept. */
static void
test_teacher_then_student(void **st)
{
    char path[512], more[600], id[32];
    double acc = NAN;
    int64_t run;

    (void)st;
    s_teacher =
        s_train(s_job(path, sizeof(path), "teacher", "model: cnn\nlayout: 1x1x1\n"), NULL, &s_tjob);
    snprintf(more, sizeof(more),
             "model: mlp\nlayout: 1x2x1\ndistill: {teacher: %lld, temperature: 2, alpha: 0.7}\n",
             (long long)s_teacher);
    run = s_train(s_job(path, sizeof(path), "student", more), &acc, NULL);
    assert_true(run > s_teacher);
    assert_true(acc >= 0 && acc <= 1);
    /* show: the distill line names the teacher run and where its model was. */
    snprintf(id, sizeof(id), "%lld", (long long)run);
    cft_expect(S_CLI("show", id), 0);
    snprintf(more, sizeof(more), "  distill     teacher run %lld (%s/checkpoints/",
             (long long)s_teacher, s_home);
    adt_assert_has(cft_res.out, more);
    adt_assert_has(cft_res.out, "temperature 2, alpha 0.7\n");
    adt_assert_has(cft_res.out, "accuracy ");
    /* The trainer said it distilled, in the job's log. */
    snprintf(id, sizeof(id), "%lld", (long long)run);
    cft_expect(S_CLI("logs", id), 0);
    adt_assert_has(cft_res.out, "distilling from teacher cnn");
}

/* Teachers that cannot teach are refused at submit: one line naming the teacher, exit != 0. */
static void
test_refused_at_submit(void **st)
{
    char path[512], more[256];

    (void)st;
    s_job(path, sizeof(path), "nobody", "model: mlp\nlayout: 1x1x1\ndistill: {teacher: 999999}\n");
    assert_int_not_equal(S_CLI("submit", path), 0);
    adt_assert_has(cft_res.err, "run 999999 does not exist");
    /* One line. */
    assert_non_null(strchr(cft_res.err, '\n'));
    assert_string_equal(strchr(cft_res.err, '\n'), "\n");
    /* A sweep whose jobs have such a teacher. */
    snprintf(path, sizeof(path), "%s/sweep.yaml", cft_tmp);
    adt_write_file(path, "name: kd\nbase:\n  model: mlp\n  dataset: synthetic\n  steps: 2\n"
                         "  batch_size: 16\n  layout: 1x1x1\n  distill: {teacher: 999999}\n"
                         "grid: {distill.temperature: [2, 4]}\n");
    assert_int_not_equal(S_CLI("sweep", path, "--no-wait"), 0);
    adt_assert_has(cft_res.err, "sweep kd: distill.teacher: run 999999 does not exist");
    if (s_teacher < 1)
        skip();
    /* Other classes than the teacher's. */
    snprintf(more, sizeof(more), "model: mlp\nlayout: 1x1x1\ndistill: {teacher: %lld}\n",
             (long long)s_teacher);
    snprintf(path, sizeof(path), "%s/classes.yaml", cft_tmp);
    {
        char text[1024];

        snprintf(text, sizeof(text),
                 "name: classes\ndataset: {synthetic: {shape: [1, 16, 16], classes: 5, "
                 "samples: 256}}\nsteps: 2\nbatch_size: 16\n%s",
                 more);
        adt_write_file(path, text);
    }
    assert_int_not_equal(S_CLI("submit", path), 0);
    adt_assert_has(cft_res.err, "has 4 classes, this job's dataset 5");
}

/* A teacher whose checkpoint vanished between submit and launch: the job FAILS naming it. */
static void
test_gone_at_launch(void **st)
{
    char path[512], more[256], from[600], to[600], id[32];
    json_t *doc = NULL, *all;
    const char *state = "";
    int64_t job;

    (void)st;
    if (s_teacher < 1)
        skip();
    /* Two nodes: held until a second agent comes. */
    snprintf(more, sizeof(more), "model: mlp\nlayout: 2x1x1\ndistill: {teacher: %lld}\n",
             (long long)s_teacher);
    cft_expect(S_CLI("--json", "submit", s_job(path, sizeof(path), "late", more), "--hold"), 0);
    doc = adt_json(cft_res.out);
    job = json_integer_value(json_object_get(doc, "job"));
    json_decref(doc);
    assert_true(job > 0);
    snprintf(from, sizeof(from), "%s/checkpoints/%lld", s_home, (long long)s_tjob);
    snprintf(to, sizeof(to), "%s/checkpoints/moved-away", s_home);
    assert_int_equal(rename(from, to), 0);
    cft_expect(cft_cli("--home", s_home, "--coordinator", s_ep[0], "up", "--agents", "2",
                       "--no-bench", "--agent-endpoint", s_ep[1], "--metrics-endpoint", s_ep[2],
                       NULL),
               0);
    snprintf(id, sizeof(id), "%lld", (long long)job);
    for (int i = 0; i < 300 && strcmp(state, "FAILED"); i++) {
        json_decref(doc);
        doc = NULL;
        adt_sleep_ms(100);
        if (S_CLI("--json", "status", id))
            continue;
        all = adt_json(cft_res.out);
        doc = json_incref(json_array_get(json_object_get(all, "jobs"), 0));
        json_decref(all);
        if (!doc)
            continue;
        state = json_string_value(json_object_get(doc, "state"));
        state = state ? state : "";
    }
    if (strcmp(state, "FAILED"))
        fail_msg("job %s: not FAILED: %s%s", id, cft_res.out, cft_res.err);
    adt_assert_has(json_string_value(json_object_get(doc, "reason")), "its checkpoint is gone");
    adt_assert_has(json_string_value(json_object_get(doc, "reason")), from);
    json_decref(doc);
}

#define S_MPIRUN                                                                                   \
    "mpirun -q --oversubscribe --bind-to none --mca btl_vader_single_copy_mechanism none"

/* autodist-train with a teacher it cannot use: exit 1 before training, one line naming it. */
static void
test_trainer_refuses(void **st)
{
    static const char args[] = "--model mlp --dataset synthetic --input-shape 1x16x16 --classes 4 "
                               "--samples 64 --batch-size 16 --steps 2 --log-every 0";
    char dir[600], from[700];
    adt_sh_t r;

    (void)st;
    if (s_tjob < 1)
        skip();
    /* The teacher's folder was moved away by test_gone_at_launch: a corrupt copy of it. */
    snprintf(from, sizeof(from), "%s/checkpoints/moved-away", s_home);
    snprintf(dir, sizeof(dir), "%s/corrupt", cft_tmp);
    r = adt_sh("cp -r %s %s && echo garbage > %s/model.pt", from, dir, dir);
    assert_int_equal(r.status, 0);
    adt_sh_free(&r);
    r = adt_sh("OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 " S_MPIRUN
               " -np 2 %s %s --teacher-checkpoint %s",
               AD_TRAIN_BIN, args, dir);
    assert_int_not_equal(r.status, 0);
    adt_assert_has(r.err, "autodist-train: error: teacher checkpoint ");
    adt_assert_has(r.err, "/corrupt/model.pt: ");
    adt_sh_free(&r);
    /* A teacher of other classes. */
    r = adt_sh("OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 " S_MPIRUN
               " -np 1 %s %s --classes 5 --teacher-checkpoint %s",
               AD_TRAIN_BIN, args, from);
    assert_int_not_equal(r.status, 0);
    adt_assert_has(r.err, "its model takes other data (4 classes) than this run's 1x16x16 "
                          "samples of 5 classes");
    adt_sh_free(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_teacher_then_student),
        cmocka_unit_test(test_refused_at_submit),
        cmocka_unit_test(test_gone_at_launch),
        cmocka_unit_test(test_trainer_refuses),
    };
    int failed;

    if (cft_begin("ad_test_distill"))
        return 1;
    failed = cmocka_run_group_tests_name("distill", tests, s_setup, s_teardown);
    return cft_end(failed);
}
