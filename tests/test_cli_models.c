/* test_cli_models.c - autodist export, optimize and models: artifacts from a run, variants, errors
 */
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
#include <sys/stat.h>
#include <unistd.h>

#include <stb/stb_image_write.h>

#include "autodist/ad_job.h"
#include "autodist/ad_store.h"
#include "cli_fixture.h"

/*
 * Without the engine (no autodist-model yet) the store side runs alone: rows
 * put by hand, listed, compared, forgotten, and the errors that need no model.
 * With AD_MODEL_BIN a tiny cnn is trained by autodist-train for a run of the
 * store, exported, quantised and compared end to end.
 */

static char s_home[1024];

#define S_HOME(...) cft_cli("--home", s_home, __VA_ARGS__, NULL)

/* The store of s_home, created when missing. */
static ad_store_t *
s_store(void)
{
    ad_store_t *store = NULL;
    ad_err_t err = {0};
    char db[1100];

    mkdir(s_home, 0700);
    snprintf(db, sizeof(db), "%s/runs.db", s_home);
    if (ad_store_open(db, AD_STORE_CREATE, &store, &err))
        fail_msg("open %s: %s", db, err.msg);
    return store;
}

/* A model row made by hand (a folder with a model.json when present). */
static int64_t
s_put(ad_store_t *store, const char *name, const char *variant, int64_t parent, double acc,
      double p50, int64_t size, bool present)
{
    char path[1200], file[1300];
    ad_model_row_t m;
    int64_t id = 0;

    snprintf(path, sizeof(path), "%s/%s", cft_tmp, name);
    if (present) {
        FILE *f;

        mkdir(path, 0755);
        snprintf(file, sizeof(file), "%s/model.json", path);
        f = fopen(file, "w");
        assert_non_null(f);
        fputs("{}", f);
        fclose(f);
    }
    ad_store_model_row_init(&m);
    m.name = (char *)name;
    m.path = path;
    m.arch = (char *)"cnn";
    m.variant = (char *)variant;
    m.parent = parent;
    m.accuracy = acc;
    m.test_samples = 10000;
    m.p50_ms = p50;
    m.p95_ms = p50 * 1.2;
    m.tput_b32 = 1000 / p50;
    m.size_bytes = size;
    m.params = 1000;
    assert_int_equal(ad_store_put_model(store, &m, &id), 0);
    return id;
}

/* A job with spec (YAML) and its COMPLETED run; the run's id. */
static int64_t
s_job_run(ad_store_t *store, const char *yaml, int64_t *job_id)
{
    ad_job_t job;
    ad_job_row_t row;
    ad_err_t err = {0};
    ad_run_t run;
    int64_t id = 0;

    if (ad_job_parse_string(yaml, "job.yaml", &job, &err))
        fail_msg("job: %s", err.msg);
    ad_store_job_row_init(&row);
    row.name = job.name;
    row.spec = ad_job_to_json(&job);
    assert_int_equal(ad_store_add_job(store, &row, job_id), 0);
    ad_store_run_init(&run);
    run.job = *job_id;
    run.model = "cnn";
    run.dataset = "fashion-mnist";
    run.hardware = "hw-a";
    run.device = "cpu";
    run.nodes = run.procs_per_node = run.threads_per_proc = 1;
    run.batch_size = 64;
    run.state = AD_JOB_COMPLETED;
    assert_int_equal(ad_store_add_run(store, &run, &id), 0);
    assert_int_equal(ad_store_run_adopt_job(store, id, *job_id), 0);
    free(row.spec);
    ad_job_clear(&job);
    return id;
}

/* models lists rows (a vanished folder as missing), --compare shows ratios, rm forgets rows. */
static void
test_models_table(void **st)
{
    ad_store_t *store;
    int64_t a, q;

    (void)st;
    snprintf(s_home, sizeof(s_home), "%s/home-table", cft_tmp);
    cft_expect(S_HOME("models"), 0);
    assert_non_null(strstr(cft_res.out, "no models yet"));
    store = s_store();
    a = s_put(store, "net", "fp32", 0, 0.90, 2.0, 400000, true);
    q = s_put(store, "net-int8", "int8", a, 0.895, 0.5, 100000, true);
    s_put(store, "gone", "fp32", 0, 0.80, 1.0, 1000, false);
    ad_store_close(&store);

    cft_expect(S_HOME("models"), 0);
    assert_non_null(strstr(cft_res.out, "net-int8"));
    assert_non_null(strstr(cft_res.out, "90.00"));
    assert_non_null(strstr(cft_res.out, "missing"));
    cft_expect(S_HOME("models", "--compare"), 0);
    assert_non_null(strstr(cft_res.out, "4.00x")); /* size and p50 */
    assert_non_null(strstr(cft_res.out, "-0.50")); /* accuracy delta in points */
    cft_expect(S_HOME("models", "--compare", "net-int8", "--json"), 0);
    assert_non_null(strstr(cft_res.out, "\"p50_speedup\": 4.0"));
    assert_null(strstr(cft_res.out, "\"gone\""));
    cft_expect(S_HOME("models", "--parsable"), 0);
    assert_non_null(strstr(cft_res.out, "ID|NAME|VARIANT"));

    cft_expect(S_HOME("models", "rm", "net"), 0);
    assert_non_null(strstr(cft_res.out, "forgot model"));
    cft_expect(S_HOME("models", "--json"), 0);
    assert_non_null(strstr(cft_res.out, "\"parent\": null"));
    cft_expect(S_HOME("models", "rm", "net"), 1);
    assert_non_null(strstr(cft_res.err, "model net: no such model"));
    (void)q;
}

/* Errors that need no model: unknown model, --calibrate 0, runs without a checkpoint. */
static void
test_errors(void **st)
{
    ad_store_t *store;
    ad_run_t run;
    int64_t job = 0, id = 0;
    char rid[32], ck[1200];

    (void)st;
    snprintf(s_home, sizeof(s_home), "%s/home-errors", cft_tmp);
    store = s_store();
    id = s_job_run(store, "name: t\nmodel: cnn\ndataset: fashion-mnist\nsteps: 5\nbatch_size: 64\n",
                   &job);
    ad_store_run_init(&run);
    run.model = "cnn";
    run.dataset = "fashion-mnist";
    run.hardware = "hw-a";
    run.nodes = run.procs_per_node = run.threads_per_proc = 1;
    run.batch_size = 64;
    run.state = AD_JOB_COMPLETED;
    {
        int64_t imported = 0;

        assert_int_equal(ad_store_add_run(store, &run, &imported), 0);
        snprintf(rid, sizeof(rid), "%lld", (long long)imported);
    }
    ad_store_close(&store);

    cft_expect(S_HOME("export", rid, "-o", "out"), 1);
    assert_non_null(strstr(cft_res.err, "has no checkpoint (it was imported"));
    snprintf(rid, sizeof(rid), "%lld", (long long)id);
    cft_expect(S_HOME("export", rid, "-o", "out"), 1);
    assert_non_null(strstr(cft_res.err, "has no checkpoint"));
    assert_non_null(strstr(cft_res.err, "state.json"));
    cft_expect(S_HOME("export", "999", "-o", "out"), 1);
    assert_non_null(strstr(cft_res.err, "run 999: no such run"));
    snprintf(ck, sizeof(ck), "%s/nowhere", cft_tmp);
    cft_expect(S_HOME("export", ck, "-o", "out"), 2);
    assert_non_null(strstr(cft_res.err, "nowhere"));
    cft_expect(S_HOME("export", rid), 2);
    cft_expect(S_HOME("optimize", "nope", "--int8"), 1);
    assert_non_null(strstr(cft_res.err, "model nope: no such model"));
    cft_expect(S_HOME("optimize", "nope", "--int8", "--calibrate", "0"), 2);
    assert_non_null(strstr(cft_res.err, "--calibrate"));
    cft_expect(S_HOME("optimize", "nope"), 2);
    cft_expect(S_HOME("optimize", "nope", "--int8", "--prune", "0.5"), 2);
    cft_expect(S_HOME("optimize", "nope", "--prune", "1.5"), 2);
    assert_non_null(strstr(cft_res.err, "--prune"));
    /* The fine-tune job's options need a fine-tune job. */
    cft_expect(S_HOME("optimize", "nope", "--prune", "0.5", "--local", "--layout", "1x2x1"), 2);
    assert_non_null(strstr(cft_res.err, "--layout and --set shape the fine-tune job"));
    cft_expect(S_HOME("optimize", "nope", "--int8", "--set", "steps=3"), 2);
    assert_non_null(strstr(cft_res.err, "--layout and --set shape the fine-tune job"));
    cft_expect(S_HOME("optimize", "nope", "--prune", "0.5", "--finetune", "0", "--layout", "1x1x1"),
               2);
    cft_expect(S_HOME("optimize", "nope", "--prune", "0.5", "--layout", "1y2"), 2);
    assert_non_null(strstr(cft_res.err, "--layout must be NODESxPROCSxTHREADS"));
}

#ifdef AD_MODEL_BIN
/* Run a command line; its status. */
static int
s_sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    return system(cmd);
}

/* What autodist said on stderr is one line. */
static void
s_one_line(const char *err)
{
    int lines = 0;

    for (const char *c = err; *c; c++)
        lines += *c == '\n';
    if (lines != 1)
        fail_msg("expected one line on stderr, got:\n%s", err);
}

/* Train a tiny cnn for a run of the store, export it, quantise it, compare; bad artifacts. */
static void
test_end_to_end(void **st)
{
    ad_store_t *store;
    int64_t job = 0, id;
    char rid[32], out[1200], wb[1300], ck[1200], mlp[1200];

    (void)st;
    snprintf(s_home, sizeof(s_home), "%s/home-e2e", cft_tmp);
    store = s_store();
    id = s_job_run(store,
                   "name: tiny\nmodel: cnn\ndataset: fashion-mnist\nsteps: 60\nbatch_size: 64\n"
                   "seed: 3\n",
                   &job);
    ad_store_close(&store);
    assert_int_equal(s_sh("timeout 120 %s --model cnn --dataset fashion-mnist --steps 60 "
                          "--batch-size 64 --seed 3 --threads 1 --log-every 0 --checkpoint "
                          "%s/checkpoints/%lld >%s/train.log 2>&1",
                          AD_TRAIN_BIN, s_home, (long long)job, cft_tmp),
                     0);
    snprintf(rid, sizeof(rid), "%lld", (long long)id);
    snprintf(out, sizeof(out), "%s/tiny-cnn", cft_tmp);

    cft_expect(S_HOME("export", rid, "-o", out, "--runs", "20"), 0);
    assert_non_null(strstr(cft_res.out, "exported model 1 (tiny-cnn, cnn fp32)"));
    assert_non_null(strstr(cft_res.out, "10000 samples"));
    cft_expect(S_HOME("models", "--json"), 0);
    assert_non_null(strstr(cft_res.out, "\"accuracy\": 0."));
    assert_non_null(strstr(cft_res.out, "\"test_samples\": 10000"));
    assert_non_null(strstr(cft_res.out, "\"p50_ms\": "));
    assert_non_null(strstr(cft_res.out, "\"run\": 1"));

    /* int8, measured beside its parent, and the compare table. */
    cft_expect(S_HOME("optimize", "tiny-cnn", "--int8", "--calibrate", "64", "--runs", "20"), 0);
    assert_non_null(strstr(cft_res.out, "optimized model 2 (tiny-cnn-int8, cnn int8)"));
    assert_non_null(strstr(cft_res.out, "P50_X"));
    cft_expect(S_HOME("models", "--compare", "--json"), 0);
    assert_non_null(strstr(cft_res.out, "\"variant\": \"int8\""));
    assert_non_null(strstr(cft_res.out, "\"parent\": 1"));
    assert_non_null(strstr(cft_res.out, "\"accuracy_delta_points\": "));
    assert_non_null(strstr(cft_res.out, "\"p50_speedup\": "));
    cft_expect(S_HOME("optimize", "tiny-cnn", "--int8", "-o", out), 2);
    assert_non_null(strstr(cft_res.err, "own folder"));
    cft_expect(S_HOME("models", "--compare", "tiny-cnn-int8"), 0);
    assert_non_null(strstr(cft_res.out, "tiny-cnn-int8"));

    /* Pruning with a short fine-tune here (--local; on the cluster: test_finetune);
       structured pruning really shrinks the layers. */
    cft_expect(
        S_HOME("optimize", "1", "--prune", "0.5", "--finetune", "5", "--local", "--runs", "20"), 0);
    assert_non_null(strstr(cft_res.out, "(tiny-cnn-pruned50, cnn pruned50)"));
    cft_expect(S_HOME("optimize", "1", "--prune", "0.5", "--structured", "--finetune", "5",
                      "--local", "--runs", "20", "--json"),
               0);
    assert_non_null(strstr(cft_res.out, "\"variant\": \"pruned50s\""));
    assert_null(strstr(cft_res.out, "\"params\": 421642")); /* fewer weights */
    cft_expect(S_HOME("models", "--compare", "--parsable"), 0);
    assert_non_null(strstr(cft_res.out, "|tiny-cnn-pruned50s|pruned50s|"));

    /* Another architecture's files under a cnn row: one line naming the file, non-zero. */
    assert_int_equal(s_sh("timeout 120 %s --model mlp --dataset fashion-mnist --steps 5 "
                          "--batch-size 64 --seed 3 --threads 1 --log-every 0 --checkpoint "
                          "%s/ck-mlp >>%s/train.log 2>&1",
                          AD_TRAIN_BIN, cft_tmp, cft_tmp),
                     0);
    snprintf(ck, sizeof(ck), "%s/ck-mlp", cft_tmp);
    snprintf(mlp, sizeof(mlp), "%s/mlp", cft_tmp);
    cft_expect(S_HOME("export", ck, "-o", mlp, "--no-measure"), 0);
    assert_non_null(strstr(cft_res.out, "not measured"));
    assert_int_equal(s_sh("cp %s/model.json %s/weights.bin %s/", mlp, mlp, out), 0);
    cft_expect(S_HOME("optimize", "tiny-cnn", "--int8", "--calibrate", "8", "-o", "bad"), 1);
    assert_non_null(strstr(cft_res.err, "a mlp model, expected cnn"));
    s_one_line(cft_res.err);

    /* A corrupt artifact: one line naming the file, non-zero. */
    snprintf(wb, sizeof(wb), "%s/weights.bin", out);
    assert_int_equal(truncate(wb, 100), 0);
    cft_expect(S_HOME("optimize", "tiny-cnn", "--prune", "0.5", "-o", "bad"), 1);
    assert_non_null(strstr(cft_res.err, "weights.bin"));
    s_one_line(cft_res.err);
}

/* An image folder of classes bus, car, van: 10 PNGs of 12x12 each, one colour per class. */
static void
s_image_folder(const char *dir)
{
    static const char *const names[] = {"van", "bus", "car"}; /* made out of order */
    unsigned char rgb[12 * 12 * 3];
    char path[1400];

    mkdir(dir, 0755);
    for (int c = 0; c < 3; c++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[c]);
        mkdir(path, 0755);
        for (int i = 0; i < 10; i++) {
            for (int k = 0; k < 12 * 12 * 3; k++)
                rgb[k] = (unsigned char)(k % 3 == c ? 200 + (k * 7 + i * 13) % 50 : (k * i) % 40);
            snprintf(path, sizeof(path), "%s/%s/%02d.png", dir, names[c], i);
            assert_true(stbi_write_png(path, 12, 12, 3, rgb, 12 * 3) != 0);
        }
    }
}

/* A run on an image folder exports its folder names as classes and its 3x16x16 input. */
static void
test_imagefolder(void **st)
{
    /* Trained with Adam (as experiments/vehicles.yaml): its checkpoint holds Adam's state. */
    ad_store_t *store;
    int64_t job = 0, id;
    char yaml[2048], dir[1200], rid[32], out[1200], js[1300], ck[1300];
    FILE *f;
    char *text;
    long len;

    (void)st;
    snprintf(s_home, sizeof(s_home), "%s/home-folder", cft_tmp);
    snprintf(dir, sizeof(dir), "%s/vehicles", cft_tmp);
    s_image_folder(dir);
    snprintf(yaml, sizeof(yaml),
             "name: veh\nmodel: cnn\ndataset: {imagefolder: {path: %s, image_size: 16}}\n"
             "steps: 10\nbatch_size: 8\nseed: 5\noptimizer: {type: adam}\n",
             dir);
    store = s_store();
    id = s_job_run(store, yaml, &job);
    ad_store_close(&store);
    assert_int_equal(s_sh("timeout 120 %s --model cnn --dataset imagefolder --data-dir %s "
                          "--image-size 16 --steps 10 --batch-size 8 --seed 5 --threads 1 "
                          "--optimizer adam "
                          "--log-every 0 --checkpoint %s/checkpoints/%lld >>%s/train.log 2>&1",
                          AD_TRAIN_BIN, dir, s_home, (long long)job, cft_tmp),
                     0);
    snprintf(rid, sizeof(rid), "%lld", (long long)id);
    snprintf(out, sizeof(out), "%s/veh-cnn", cft_tmp);
    cft_expect(S_HOME("export", rid, "-o", out, "--runs", "10"), 0);
    assert_non_null(strstr(cft_res.out, "samples)"));
    snprintf(js, sizeof(js), "%s/model.json", out);
    f = fopen(js, "r");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    rewind(f);
    text = calloc(1, (size_t)len + 1);
    assert_int_equal(fread(text, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    assert_non_null(strstr(text, "\"bus\",\n    \"car\",\n    \"van\""));
    assert_non_null(strstr(text, "\"image_size\": 16"));
    assert_non_null(strstr(text, "\"run\": 1"));
    assert_non_null(strstr(text, "\"accuracy\": {"));
    free(text);

    /* The checkpoint folder alone does not say where the images are: --data-dir does. */
    snprintf(ck, sizeof(ck), "%s/checkpoints/%lld", s_home, (long long)job);
    cft_expect(S_HOME("export", ck, "-o", "veh2", "--no-measure"), 1);
    assert_non_null(strstr(cft_res.err, "give --data-dir"));
    cft_expect(
        S_HOME("export", ck, "-o", "veh2", "--no-measure", "--data-dir", dir, "--image-size", "16"),
        0);
    assert_non_null(strstr(cft_res.out, "(veh2, cnn fp32)"));
}

/*
 * A checkpoint folder (no run) of a network with BatchNorm: resnet18 on the
 * synthetic 3x32x32 data exports (BatchNorm folded) and quantises.
 */
static void
test_resnet18_folder(void **st)
{
    char ck[1200], out[1200];

    (void)st;
    snprintf(s_home, sizeof(s_home), "%s/home-r18", cft_tmp);
    snprintf(ck, sizeof(ck), "%s/ck-r18", cft_tmp);
    snprintf(out, sizeof(out), "%s/r18", cft_tmp);
    assert_int_equal(s_sh("timeout 120 %s --model resnet18 --dataset synthetic --steps 2 "
                          "--batch-size 4 --seed 1 --threads 1 --log-every 0 --checkpoint %s "
                          ">>%s/train.log 2>&1",
                          AD_TRAIN_BIN, ck, cft_tmp),
                     0);
    cft_expect(S_HOME("export", ck, "-o", out, "--no-measure"), 0);
    assert_non_null(strstr(cft_res.out, "exported model 1 (r18, resnet18 fp32)"));
    cft_expect(S_HOME("optimize", "r18", "--int8", "--calibrate", "8", "--no-measure"), 0);
    assert_non_null(strstr(cft_res.out, "optimized model 2 (r18-int8, resnet18 int8)"));
    cft_expect(S_HOME("models", "--parsable"), 0);
    assert_non_null(strstr(cft_res.out, "|r18-int8|int8|resnet18|"));
}
#endif

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_models_table),    cmocka_unit_test(test_errors),
#ifdef AD_MODEL_BIN
        cmocka_unit_test(test_end_to_end),      cmocka_unit_test(test_imagefolder),
        cmocka_unit_test(test_resnet18_folder),
#endif
    };
    int failed;

    if (cft_begin("ad_test_cli_models"))
        return 1;
    failed = cmocka_run_group_tests_name("cli-models", tests, NULL, NULL);
    return cft_end(failed);
}
