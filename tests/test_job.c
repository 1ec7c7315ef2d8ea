/* test_job.c - unit tests of ad_job: job and sweep files, their errors, canonical JSON, hashes */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ad_test.h"

#include "autodist/ad_job.h"

#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define JOBS AD_SOURCE_DIR "/tests/jobs/"

/* A bad file, the code and place of its error, and words its message must hold. */
typedef struct {
    const char *file;     /* under tests/jobs/ */
    int code;             /* AD_EPARSE or -errno */
    const char *where;    /* "LINE:COL" the message starts with, after the file */
    const char *words[6]; /* NULL-terminated */
} s_bad_t;

/* Assert that err is "<path>:<where>: ..." with code and every word. */
static void
s_assert_error(int rc, const ad_err_t *err, const char *path, const s_bad_t *bad)
{
    char prefix[512];

    if (rc != bad->code)
        fail_msg("%s: expected code %d, got %d (\"%s\")", bad->file, bad->code, rc, err->msg);
    assert_int_equal(err->code, bad->code);
    snprintf(prefix, sizeof(prefix), "%s:%s: ", path, bad->where);
    if (strncmp(err->msg, prefix, strlen(prefix)))
        fail_msg("%s: expected the message to start with \"%s\", got \"%s\"", bad->file, prefix,
                 err->msg);
    for (int i = 0; bad->words[i]; i++)
        adt_assert_has(err->msg, bad->words[i]);
    assert_null(strchr(err->msg, '\n'));
}

static bool
s_is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789abcdef", s[i]))
            return false;
    return true;
}

/* ---------------------------------------------------------------------------------------- */
/* Job files.                                                                               */

static const s_bad_t s_bad_jobs[] = {
    {"bad-negative.yaml",
     AD_EPARSE,
     "12:13",
     {"batch_size must be a positive integer", "got \"-4\"", NULL}},
    {"bad-truncated.yaml",
     AD_EPARSE,
     "5:31",
     {"invalid YAML", "did not find expected ',' or '}'", "line 5, column 12", "truncated"}},
    {"bad-tabs.yaml", AD_EPARSE, "6:1", {"tab character", "spaces", NULL}},
    {"bad-type-list.yaml",
     AD_EPARSE,
     "4:13",
     {"batch_size must be a positive integer", "got a list", NULL}},
    {"bad-type-quoted.yaml",
     AD_EPARSE,
     "4:13",
     {"batch_size must be a positive integer", "got the string \"128\"", NULL}},
    {"bad-type-bool.yaml", AD_EPARSE, "5:7", {"eval must be true or false", "got \"yes\"", NULL}},
    {"bad-type-optimizer.yaml",
     AD_EPARSE,
     "5:12",
     {"optimizer must be a mapping", "got \"sgd\"", NULL}},
    {"bad-type-lr.yaml",
     AD_EPARSE,
     "5:28",
     {"optimizer.lr must be a number from 1e-12 to 1e+06", "got \"fast\"", NULL}},
    {"bad-unknown-key.yaml",
     AD_EPARSE,
     "4:1",
     {"unknown key \"batch-size\"", "did you mean batch_size?", "expected one of name", NULL}},
    {"bad-unknown-nested.yaml",
     AD_EPARSE,
     "7:3",
     {"unknown key \"learning_rate\" in optimizer (did you mean lr?)",
      "type, lr, momentum, weight_decay", NULL}},
    {"bad-huge.yaml",
     AD_EPARSE,
     "5:9",
     {"epochs must be a positive integer", "at most 1000000", "got \"99999999999999999999\""}},
    {"bad-huge-seed.yaml",
     AD_EPARSE,
     "5:7",
     {"seed must be a non-negative integer", "at most 9223372036854775807",
      "got \"99999999999999999999\""}},
    {"bad-huge-batch.yaml", AD_EPARSE, "4:13", {"at most 2147483647", "got \"2147483648\"", NULL}},
    {"bad-hex.yaml", AD_EPARSE, "4:13", {"plain decimal", "got \"0x10\"", NULL}},
    {"bad-exponent.yaml",
     AD_EPARSE,
     "5:8",
     {"steps must be a positive integer (plain decimal", "got \"1e3\"", NULL}},
    {"bad-duplicate.yaml",
     AD_EPARSE,
     "5:1",
     {"duplicate key model", "first given at line 2", NULL}},
    {"bad-not-mapping.yaml",
     AD_EPARSE,
     "1:1",
     {"a job file must be a mapping of job keys", "got a list", NULL}},
    {"bad-scalar-doc.yaml",
     AD_EPARSE,
     "1:1",
     {"must be a mapping", "got \"just some words\"", NULL}},
    {"bad-empty.yaml", AD_EPARSE, "1:1", {"empty job file", "expected a mapping", NULL}},
    {"bad-comments-only.yaml", AD_EPARSE, "1:1", {"empty job file", NULL}},
    {"bad-missing-path.yaml",
     AD_EPARSE,
     "4:16",
     {"dataset.imagefolder.path must be an existing folder", "got \"no-such-folder\"",
      "tests/jobs/no-such-folder: No such file or directory", NULL}},
    {"bad-path-file.yaml",
     AD_EPARSE,
     "3:24",
     {"dataset.imagefolder.path must be a folder", "good-minimal.yaml is not a folder", NULL}},
    {"bad-epochs-steps.yaml",
     AD_EPARSE,
     "6:8",
     {"give epochs or steps, not both", "epochs is at line 5", NULL}},
    {"bad-name.yaml",
     AD_EPARSE,
     "1:7",
     {"name must be 1 to 64 letters, digits", "got the string \"my job!\"", NULL}},
    {"bad-missing-model.yaml", AD_EPARSE, "1:1", {"model is required", "cnn", NULL}},
    {"bad-model.yaml",
     AD_EPARSE,
     "2:8",
     {"model must be one of mlp, lenet5, cnn, resnet18, mobilenet_v2", "got \"vgg16\"", NULL}},
    {"bad-adam-momentum.yaml",
     AD_EPARSE,
     "5:35",
     {"optimizer.momentum applies to sgd only", "adam", NULL}},
    {"bad-momentum.yaml",
     AD_EPARSE,
     "5:23",
     {"optimizer.momentum must be a number from 0 to 0.999999", "got \"1.0\"", NULL}},
    {"bad-layout-partial.yaml",
     AD_EPARSE,
     "5:9",
     {"layout needs nodes, procs_per_node and threads_per_proc", "missing procs_per_node", NULL}},
    {"bad-layout-batch.yaml",
     AD_EPARSE,
     "4:13",
     {"batch_size 4 is smaller than the 8 processes", NULL}},
    {"bad-layout-zero.yaml",
     AD_EPARSE,
     "7:19",
     {"layout.procs_per_node must be a positive integer", "got \"0\"", NULL}},
    {"bad-data-dir.yaml",
     AD_EPARSE,
     "4:11",
     {"data_dir is the fashion-mnist folder", "the dataset is synthetic", NULL}},
    {"bad-time-limit.yaml",
     AD_EPARSE,
     "5:13",
     {"time_limit must be a duration such as 90s, 30m, 2h", "got \"30 minutes\"", NULL}},
    {"bad-two-docs.yaml", AD_EPARSE, "6:1", {"one YAML document", "second", NULL}},
    {"bad-alias.yaml", AD_EPARSE, "2:8", {"invalid YAML", "undefined alias", NULL}},
    {"bad-shape.yaml",
     AD_EPARSE,
     "4:22",
     {"dataset.synthetic.shape must be a list [C, H, W]", "another length", NULL}},
    {"bad-shape-channels.yaml",
     AD_EPARSE,
     "4:23",
     {"dataset.synthetic.shape[0] (channels)", "at most 64", "got \"65\""}},
    {"bad-dataset.yaml",
     AD_EPARSE,
     "3:10",
     {"dataset must be fashion-mnist, synthetic", "got \"mnist\"", NULL}},
    {"bad-dataset-two.yaml",
     AD_EPARSE,
     "3:26",
     {"dataset names one kind", "second key \"imagefolder\"", NULL}},
    {"bad-key-list.yaml", AD_EPARSE, "3:3", {"keys must be names", "got a list", NULL}},
    {"bad-utf8.yaml", AD_EPARSE, "3:18", {"invalid YAML", "UTF-8", "0xff", NULL}},
};

static void
test_bad_job_files(void **state)
{
    for (size_t i = 0; i < sizeof(s_bad_jobs) / sizeof(s_bad_jobs[0]); i++) {
        char path[512];
        ad_job_t job;
        ad_err_t err = {0};
        int rc;

        snprintf(path, sizeof(path), JOBS "%s", s_bad_jobs[i].file);
        memset(&job, 0x5a, sizeof(job));
        rc = ad_job_parse_file(path, &job, &err);
        s_assert_error(rc, &err, path, &s_bad_jobs[i]);
        /* A failed parse leaves a zeroed job that is safe to clear. */
        assert_null(job.name);
        assert_null(job.dataset.path);
        ad_job_clear(&job);
    }
}

/* An unknown key says which key it most likely is, and where that key goes. */
static void
test_key_hints(void **state)
{
    static const char *const cases[][2] = {
        {"learning_rate: 0.1\n",
         "<hint>:2:1: unknown key \"learning_rate\" (did you mean optimizer.lr? write it as "
         "optimizer: {lr: ...})"},
        {"procs: 2\n", "unknown key \"procs\" (did you mean layout.procs_per_node? write it as "
                       "layout: {procs_per_node: ...})"},
        {"layout: {procs: 2, nodes: 1, threads_per_proc: 1}\n",
         "<hint>:2:10: unknown key \"procs\" in layout (did you mean procs_per_node?)"},
        {"optimizer: {learning_rate: 0.1}\n",
         "unknown key \"learning_rate\" in optimizer (did you mean lr?)"},
        {"optimizer: {seed: 3}\n",
         "unknown key \"seed\" in optimizer (did you mean seed? it goes at the top of the job"},
        {"momentum: 0.5\n", "(did you mean optimizer.momentum?"},
        {"modle: cnn\n", "unknown key \"modle\" (did you mean model?)"},
        {"optimizer.lr: 0.1\n", "(dotted keys are for sweep grids; nest it instead)"},
        {"zzzzzz: 1\n", "unknown key \"zzzzzz\", expected one of name, model"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[400];
        ad_job_t job;
        ad_err_t err = {0};

        snprintf(text, sizeof(text), "model: cnn\n%sdataset: synthetic\nsteps: 2\n", cases[i][0]);
        assert_int_equal(ad_job_parse_string(text, "<hint>", &job, &err), AD_EPARSE);
        adt_assert_has(err.msg, cases[i][1]);
        ad_job_clear(&job);
    }
}

/* layout: 1x2x1 (the form tables print) is the mapping it stands for; the limits still hold. */
static void
test_layout_text(void **state)
{
    static const char base[] = "name: t\nmodel: cnn\ndataset: synthetic\nsteps: 2\nbatch_size: 8\n";
    char text[300], *a, *b;
    ad_job_t ja, jb;
    ad_err_t err = {0};

    snprintf(text, sizeof(text), "%slayout: 1x2x3\n", base);
    assert_int_equal(ad_job_parse_string(text, "<t>", &ja, &err), 0);
    snprintf(text, sizeof(text), "%slayout: {nodes: 1, procs_per_node: 2, threads_per_proc: 3}\n",
             base);
    assert_int_equal(ad_job_parse_string(text, "<t>", &jb, &err), 0);
    a = ad_job_to_json(&ja);
    b = ad_job_to_json(&jb);
    assert_string_equal(a, b);
    free(a);
    free(b);
    ad_job_clear(&jb);
    snprintf(text, sizeof(text), "%slayout: 1,2,3\n", base);
    assert_int_equal(ad_job_parse_string(text, "<t>", &jb, &err), 0);
    assert_int_equal(jb.layout.procs_per_node, 2);
    assert_false(jb.layout.is_auto);
    ad_job_clear(&ja);
    ad_job_clear(&jb);
    snprintf(text, sizeof(text), "%slayout: 1x2000x1\n", base);
    assert_int_equal(ad_job_parse_string(text, "<t>", &ja, &err), AD_EPARSE);
    adt_assert_has(err.msg,
                   "<t>:6:9: layout.procs_per_node must be at most 1024, got \"1x2000x1\"");
    snprintf(text, sizeof(text), "%slayout: 1x2\n", base);
    assert_int_equal(ad_job_parse_string(text, "<t>", &ja, &err), AD_EPARSE);
    adt_assert_has(err.msg, "<t>:6:9: layout must be NODESxPROCSxTHREADS such as 1x2x1");
    snprintf(text, sizeof(text), "%slayout: big\n", base);
    assert_int_equal(ad_job_parse_string(text, "<t>", &ja, &err), AD_EPARSE);
    adt_assert_has(err.msg, "layout must be auto, NODESxPROCSxTHREADS (1x2x1) or {nodes: N");
}

/* --set: applied in order over the file, before the rules across keys are checked. */
static void
test_parse_file_set(void **state)
{
    static const char *const fix[] = {"batch_size=16", "layout=2x1x1", "layout.nodes=3"};
    static const char *const bad[] = {"seed=-1"};
    char path[512];
    ad_job_t job;
    ad_err_t err = {0};

    int fd;

    snprintf(path, sizeof(path), "%s/ad_test_job_set_XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    /* No batch_size in the file: a --set gives it, so the job is whole. */
    adt_write_file(path, "name: s\nmodel: cnn\ndataset: synthetic\nsteps: 2\n");
    assert_int_equal(ad_job_parse_file(path, &job, &err), AD_EPARSE);
    adt_assert_has(err.msg, "batch_size is required");
    assert_int_equal(ad_job_parse_file_set(path, fix, 3, &job, &err), 0);
    assert_int_equal(job.batch_size, 16);
    assert_int_equal(job.layout.nodes, 3);
    assert_int_equal(job.layout.procs_per_node, 1);
    ad_job_clear(&job);
    assert_int_equal(ad_job_parse_file_set(path, bad, 1, &job, &err), AD_EPARSE);
    adt_assert_has(err.msg, "--set seed=-1: seed must be a non-negative integer");
    assert_null(job.name);
    unlink(path);
}

/* A sweep grid's unknown key says which job key it most likely is. */
static void
test_grid_key_hints(void **state)
{
    static const char *const cases[][2] = {
        {"learning_rate", "unknown grid key \"learning_rate\" (did you mean optimizer.lr?)"},
        {"procs", "unknown grid key \"procs\" (did you mean layout.procs_per_node?)"},
        {"momentum", "unknown grid key \"momentum\" (did you mean optimizer.momentum?)"},
        {"sed", "unknown grid key \"sed\" (did you mean seed?)"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[300];
        ad_sweep_t *sw = NULL;
        ad_err_t err = {0};

        snprintf(text, sizeof(text),
                 "name: g\nbase: {model: cnn, dataset: synthetic, steps: 2, batch_size: 8}\n"
                 "grid: {%s: [1, 2]}\n",
                 cases[i][0]);
        assert_int_equal(ad_sweep_load_string(text, "g.yaml", &sw, &err), AD_EPARSE);
        adt_assert_has(err.msg, cases[i][1]);
        assert_null(sw);
    }
}

static void
test_missing_file(void **state)
{
    ad_job_t job;
    ad_err_t err = {0};

    assert_int_equal(ad_job_parse_file(JOBS "no-such-job.yaml", &job, &err), -ENOENT);
    assert_int_equal(err.code, -ENOENT);
    adt_assert_has(err.msg, "no-such-job.yaml: No such file or directory");
    assert_int_equal(ad_job_parse_file(JOBS "photos", &job, &err), -EISDIR);
    adt_assert_has(err.msg, "is a folder");
}

static void
test_minimal_defaults(void **state)
{
    ad_job_t job;
    ad_err_t err = {0};

    assert_int_equal(ad_job_parse_file(JOBS "good-minimal.yaml", &job, &err), 0);
    assert_string_equal(job.name, "minimal");
    assert_int_equal(job.model, AD_JOB_MODEL_CNN);
    assert_int_equal(job.dataset.kind, AD_JOB_DATA_FASHION_MNIST);
    assert_null(job.dataset.path);
    assert_null(job.data_dir);
    assert_int_equal(job.dataset.channels, 0);
    assert_int_equal(job.epochs, 1);
    assert_int_equal(job.steps, 0);
    assert_int_equal(job.batch_size, 256);
    assert_int_equal(job.optimizer.type, AD_JOB_OPTIM_SGD);
    assert_true(job.optimizer.lr == 0.05);
    assert_true(job.optimizer.momentum == 0.9);
    assert_true(job.optimizer.weight_decay == 0);
    assert_int_equal(job.seed, 1);
    assert_int_equal(job.device, AD_JOB_DEVICE_CPU);
    assert_true(job.layout.is_auto);
    assert_int_equal(job.layout.nodes, 0);
    assert_false(job.eval);
    assert_int_equal(job.checkpoint_every, 0);
    assert_true(job.bucket_mb == 2.0);
    assert_int_equal(job.time_limit_s, 0);
    ad_job_clear(&job);
    ad_job_clear(&job);
    ad_job_clear(NULL);
}

static void
test_full_values(void **state)
{
    ad_job_t job;
    ad_err_t err = {0};

    assert_int_equal(ad_job_parse_file(JOBS "good-full.yaml", &job, &err), 0);
    assert_string_equal(job.name, "full-job_1.0");
    assert_int_equal(job.model, AD_JOB_MODEL_RESNET18);
    assert_int_equal(job.dataset.kind, AD_JOB_DATA_SYNTHETIC);
    assert_int_equal(job.dataset.channels, 3);
    assert_int_equal(job.dataset.height, 64);
    assert_int_equal(job.dataset.width, 64);
    assert_int_equal(job.dataset.classes, 100);
    assert_int_equal(job.dataset.samples, 20000);
    assert_int_equal(job.epochs, 0);
    assert_int_equal(job.steps, 500);
    assert_int_equal(job.batch_size, 512);
    assert_true(job.optimizer.lr == 0.1);
    assert_true(job.optimizer.momentum == 0.85);
    assert_true(job.optimizer.weight_decay == 5e-4);
    assert_int_equal(job.seed, 42);
    assert_int_equal(job.device, AD_JOB_DEVICE_AUTO);
    assert_false(job.layout.is_auto);
    assert_int_equal(job.layout.nodes, 2);
    assert_int_equal(job.layout.procs_per_node, 4);
    assert_int_equal(job.layout.threads_per_proc, 2);
    assert_true(job.eval);
    assert_int_equal(job.checkpoint_every, 100);
    assert_true(job.bucket_mb == 4.0);
    assert_int_equal(job.time_limit_s, 5400);
    ad_job_clear(&job);

    /* Adam takes its own learning rate default and has no momentum. */
    assert_int_equal(ad_job_parse_file(JOBS "good-fashion-dir.yaml", &job, &err), 0);
    assert_int_equal(job.optimizer.type, AD_JOB_OPTIM_ADAM);
    assert_true(job.optimizer.lr == 0.001);
    assert_true(job.optimizer.momentum == 0);
    assert_string_equal(job.data_dir, AD_SOURCE_DIR "/tests/jobs/photos");
    assert_int_equal(job.time_limit_s, 90);
    ad_job_clear(&job);

    /* Relative folders start from the job file's folder and come out absolute. */
    assert_int_equal(ad_job_parse_file(JOBS "good-imagefolder.yaml", &job, &err), 0);
    assert_int_equal(job.dataset.kind, AD_JOB_DATA_IMAGEFOLDER);
    assert_string_equal(job.dataset.path, AD_SOURCE_DIR "/tests/jobs/photos");
    assert_int_equal(job.dataset.image_size, 96);
    assert_int_equal(job.dataset.samples, 0);
    ad_job_clear(&job);

    assert_int_equal(ad_job_parse_file(JOBS "good-synthetic-defaults.yaml", &job, &err), 0);
    assert_int_equal(job.dataset.channels, 3);
    assert_int_equal(job.dataset.height, 32);
    assert_int_equal(job.dataset.classes, 10);
    assert_int_equal(job.dataset.samples, 50000);
    assert_int_equal(job.dataset.image_size, 0);
    ad_job_clear(&job);
}

static void
test_json_round_trip(void **state)
{
    static const char *const files[] = {"good-minimal.yaml", "good-full.yaml",
                                        "good-imagefolder.yaml", "good-fashion-dir.yaml",
                                        "good-synthetic-defaults.yaml"};

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[512], h1[17], h2[17], h3[17];
        ad_job_t a, b, c;
        ad_err_t err = {0};
        char *j1, *j2;

        snprintf(path, sizeof(path), JOBS "%s", files[i]);
        assert_int_equal(ad_job_parse_file(path, &a, &err), 0);
        j1 = ad_job_to_json(&a);
        assert_null(strchr(j1, '\n'));
        assert_int_equal(ad_job_from_json(j1, &b, &err), 0);
        j2 = ad_job_to_json(&b);
        assert_string_equal(j1, j2);
        ad_job_hash(&a, h1);
        ad_job_hash(&b, h2);
        assert_int_equal(strlen(h1), 16);
        assert_true(s_is_hex(h1, 16));
        assert_string_equal(h1, h2);
        /* The canonical JSON is itself a job file. */
        assert_int_equal(ad_job_parse_string(j1, "canonical", &c, &err), 0);
        ad_job_hash(&c, h3);
        assert_string_equal(h1, h3);
        free(j1);
        free(j2);
        ad_job_clear(&a);
        ad_job_clear(&b);
        ad_job_clear(&c);
    }
}

static void
test_canonical_form(void **state)
{
    ad_job_t job, copy;
    ad_err_t err = {0};
    char *json;

    assert_int_equal(ad_job_parse_file(JOBS "good-minimal.yaml", &job, &err), 0);
    json = ad_job_to_json(&job);
    assert_string_equal(json,
                        "{\"batch_size\":256,\"bucket_mb\":2.0,\"dataset\":\"fashion-mnist\","
                        "\"device\":\"cpu\",\"epochs\":1,\"eval\":false,\"layout\":\"auto\","
                        "\"model\":\"cnn\",\"name\":\"minimal\",\"optimizer\":{\"lr\":0.05,"
                        "\"momentum\":0.9,\"type\":\"sgd\",\"weight_decay\":0.0},\"seed\":1}");
    free(json);
    ad_job_copy(&copy, &job);
    assert_ptr_not_equal(copy.name, job.name);
    assert_string_equal(copy.name, job.name);
    ad_job_clear(&job);
    assert_string_equal(copy.name, "minimal");
    ad_job_clear(&copy);
}

/* Same training, other spelling: the hash is a hash of the configuration, not of the text. */
static void
test_hash_is_the_configuration(void **state)
{
    static const char a[] = "name: a\nmodel: cnn\ndataset: fashion-mnist\nbatch_size: 128\n";
    static const char b[] = "# same job, other name, key order and spelling\n"
                            "batch_size: 128\ndataset: 'fashion-mnist'\nname: b\nmodel: cnn\n"
                            "optimizer: {lr: 5e-2, momentum: 0.90, type: sgd, weight_decay: 0}\n"
                            "epochs: 1\nseed: 1\ndevice: cpu\nlayout: auto\neval: false\n"
                            "bucket_mb: 2\n";
    static const char c[] = "{\"name\": \"c\", \"model\": \"cnn\", \"dataset\": \"fashion-mnist\","
                            " \"batch_size\": 128}";
    static const char d[] = "name: d\nmodel: cnn\ndataset: fashion-mnist\nbatch_size: 129\n";
    char ha[17], hb[17], hc[17], hd[17];
    ad_job_t ja, jb, jc, jd;
    ad_err_t err = {0};

    assert_int_equal(ad_job_parse_string(a, "a", &ja, &err), 0);
    assert_int_equal(ad_job_parse_string(b, "b", &jb, &err), 0);
    assert_int_equal(ad_job_from_json(c, &jc, &err), 0);
    assert_int_equal(ad_job_parse_string(d, "d", &jd, &err), 0);
    ad_job_hash(&ja, ha);
    ad_job_hash(&jb, hb);
    ad_job_hash(&jc, hc);
    ad_job_hash(&jd, hd);
    assert_string_equal(ha, hb);
    assert_string_equal(ha, hc);
    assert_string_not_equal(ha, hd);
    ad_job_clear(&ja);
    ad_job_clear(&jb);
    ad_job_clear(&jc);
    ad_job_clear(&jd);
}

/* checkpoint_keep and keep_checkpoints: parsed, checked, written only when given. */
static void
test_checkpoint_keys(void **state)
{
    static const char base[] = "name: k\nmodel: cnn\ndataset: synthetic\nbatch_size: 8\n";
    char text[256], *json;
    ad_job_t job, back;
    ad_err_t err = {0};
    char h1[17], h2[17];

    /* Not given: 0 (the trainer's default of 2 applies) and false; the hash is unchanged. */
    assert_int_equal(ad_job_parse_string(base, "k", &job, &err), 0);
    assert_int_equal(job.checkpoint_keep, 0);
    assert_false(job.keep_checkpoints);
    json = ad_job_to_json(&job);
    assert_null(strstr(json, "checkpoint_keep"));
    assert_null(strstr(json, "keep_checkpoints"));
    free(json);
    ad_job_hash(&job, h1);
    ad_job_clear(&job);

    snprintf(text, sizeof(text), "%scheckpoint_keep: 5\nkeep_checkpoints: true\n", base);
    assert_int_equal(ad_job_parse_string(text, "k", &job, &err), 0);
    assert_int_equal(job.checkpoint_keep, 5);
    assert_true(job.keep_checkpoints);
    json = ad_job_to_json(&job);
    adt_assert_has(json, "\"checkpoint_keep\":5");
    adt_assert_has(json, "\"keep_checkpoints\":true");
    assert_int_equal(ad_job_from_json(json, &back, &err), 0);
    assert_int_equal(back.checkpoint_keep, 5);
    assert_true(back.keep_checkpoints);
    /* How many checkpoints are kept does not change what is trained: same hash. */
    ad_job_hash(&job, h2);
    assert_string_equal(h1, h2);
    free(json);
    ad_job_clear(&job);
    ad_job_clear(&back);

    snprintf(text, sizeof(text), "%scheckpoint_keep: 0\n", base);
    assert_int_equal(ad_job_parse_string(text, "k", &job, &err), AD_EPARSE);
    adt_assert_has(err.msg, "k:5:18: checkpoint_keep must be a positive integer");
    adt_assert_has(err.msg, "got \"0\"");
    snprintf(text, sizeof(text), "%scheckpoint_keep: 1001\n", base);
    assert_int_equal(ad_job_parse_string(text, "k", &job, &err), AD_EPARSE);
    adt_assert_has(err.msg, "at most 1000");
    snprintf(text, sizeof(text), "%skeep_checkpoints: 2\n", base);
    assert_int_equal(ad_job_parse_string(text, "k", &job, &err), AD_EPARSE);
    adt_assert_has(err.msg, "keep_checkpoints must be true or false");
}

/* requeue and requeue_on_timeout: defaults, bounds, canonical JSON, not in the hash. */
static void
test_requeue_keys(void **state)
{
    static const char base[] = "name: r\nmodel: cnn\ndataset: synthetic\nbatch_size: 8\n";
    char text[256], *json, h1[17], h2[17];
    ad_job_t job, back;
    ad_err_t err = {0};

    (void)state;
    assert_int_equal(ad_job_parse_string(base, "r", &job, &err), 0);
    assert_int_equal(job.requeue, AD_JOB_REQUEUE_DEFAULT);
    assert_false(job.requeue_on_timeout);
    json = ad_job_to_json(&job);
    assert_null(strstr(json, "requeue"));
    free(json);
    ad_job_hash(&job, h1);
    ad_job_clear(&job);

    snprintf(text, sizeof(text), "%srequeue: 0\nrequeue_on_timeout: true\n", base);
    assert_int_equal(ad_job_parse_string(text, "r", &job, &err), 0);
    assert_int_equal(job.requeue, 0);
    assert_true(job.requeue_on_timeout);
    json = ad_job_to_json(&job);
    adt_assert_has(json, "\"requeue\":0");
    adt_assert_has(json, "\"requeue_on_timeout\":true");
    assert_int_equal(ad_job_from_json(json, &back, &err), 0);
    assert_int_equal(back.requeue, 0);
    assert_true(back.requeue_on_timeout);
    ad_job_hash(&job, h2);
    assert_string_equal(h1, h2);
    free(json);
    ad_job_clear(&job);
    ad_job_clear(&back);

    snprintf(text, sizeof(text), "%srequeue: 1001\n", base);
    assert_int_equal(ad_job_parse_string(text, "r", &job, &err), AD_EPARSE);
    adt_assert_has(err.msg, "r:5:10: requeue must be");
    adt_assert_has(err.msg, "at most 1000");
    snprintf(text, sizeof(text), "%srequeue: -1\n", base);
    assert_int_equal(ad_job_parse_string(text, "r", &job, &err), AD_EPARSE);
    snprintf(text, sizeof(text), "%srequeue_on_timeout: yes please\n", base);
    assert_int_equal(ad_job_parse_string(text, "r", &job, &err), AD_EPARSE);
    adt_assert_has(err.msg, "requeue_on_timeout must be true or false");
}

/* tags and note: read, checked, written to the canonical JSON, left out of the hash. */
static void
test_tags_and_note(void **state)
{
    static const char base[] = "name: t\nmodel: cnn\ndataset: synthetic\nbatch_size: 8\n";
    char text[512], h1[17], h2[17], *json;
    ad_job_t job, back, plain;
    ad_err_t err = {0};

    (void)state;
    snprintf(text, sizeof(text), "%stags: {study: scaling, trial: 3, ok: true}\nnote: first try\n",
             base);
    assert_int_equal(ad_job_parse_string(text, "t", &job, &err), 0);
    assert_string_equal(job.tags, "{\"ok\":\"true\",\"study\":\"scaling\",\"trial\":\"3\"}");
    assert_string_equal(job.note, "first try");
    json = ad_job_to_json(&job);
    adt_assert_has(json, "\"note\":\"first try\"");
    adt_assert_has(json, "\"tags\":{\"ok\":\"true\",\"study\":\"scaling\",\"trial\":\"3\"}");
    /* The coordinator reads it back from JSON alike. */
    assert_int_equal(ad_job_from_json(json, &back, &err), 0);
    assert_string_equal(back.tags, job.tags);
    assert_string_equal(back.note, job.note);
    free(json);
    assert_int_equal(ad_job_parse_string(base, "t", &plain, &err), 0);
    assert_null(plain.tags);
    assert_null(plain.note);
    ad_job_hash(&job, h1);
    ad_job_hash(&plain, h2);
    assert_string_equal(h1, h2);
    ad_job_clear(&back);
    ad_job_clear(&plain);
    ad_job_copy(&back, &job);
    assert_string_equal(back.tags, job.tags);
    ad_job_clear(&back);
    ad_job_clear(&job);
    /* Errors name the line and column. */
    snprintf(text, sizeof(text), "%stags: [a, b]\n", base);
    assert_int_equal(ad_job_parse_string(text, "t", &job, &err), AD_EPARSE);
    adt_assert_has(err.msg, "t:5:7: tags must be a mapping such as {study: scaling");
    snprintf(text, sizeof(text), "%stags: {\"bad key\": 1}\n", base);
    assert_int_equal(ad_job_parse_string(text, "t", &job, &err), AD_EPARSE);
    adt_assert_has(err.msg, "tag names are 1 to 64 letters, digits");
    snprintf(text, sizeof(text), "%stags: {a: {b: 1}}\n", base);
    assert_int_equal(ad_job_parse_string(text, "t", &job, &err), AD_EPARSE);
    adt_assert_has(err.msg, "tag a must be a text or a number");
    snprintf(text, sizeof(text), "%snote: [x]\n", base);
    assert_int_equal(ad_job_parse_string(text, "t", &job, &err), AD_EPARSE);
    adt_assert_has(err.msg, "t:5:7: note must be");
    snprintf(text, sizeof(text), "%stagz: {a: 1}\n", base);
    assert_int_equal(ad_job_parse_string(text, "t", &job, &err), AD_EPARSE);
    adt_assert_has(err.msg, "did you mean tags?");
}

static void
test_parse_string_errors(void **state)
{
    ad_job_t job;
    ad_err_t err = {0};

    assert_int_equal(ad_job_parse_string("name: x\nmodel: cnn\n", NULL, &job, &err), AD_EPARSE);
    assert_string_equal(err.msg, "<string>:1:1: dataset is required, expected fashion-mnist, "
                                 "synthetic, {synthetic: {...}} or {imagefolder: PATH}");
    assert_int_equal(
        ad_job_parse_string("name: x\nmodel: cnn\ndataset: synthetic\n", "cli", &job, &err),
        AD_EPARSE);
    assert_string_equal(err.msg, "cli:1:1: batch_size is required (the global batch, a positive "
                                 "integer)");
    assert_int_equal(
        ad_job_parse_string("model: cnn\ndataset: synthetic\nbatch_size: 1\n", "cli", &job, &err),
        AD_EPARSE);
    adt_assert_has(err.msg, "cli:1:1: name is required");
    /* Plain decimal only: a fraction is not an integer. */
    assert_int_equal(ad_job_parse_string("name: x\nmodel: cnn\ndataset: synthetic\n"
                                         "batch_size: 12.0\n",
                                         "cli", &job, &err),
                     AD_EPARSE);
    adt_assert_has(err.msg, "cli:4:13: batch_size must be a positive integer");
    /* Long values are cut short in messages. */
    assert_int_equal(
        ad_job_parse_string("name: x\nmodel: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
                            "cli", &job, &err),
        AD_EPARSE);
    adt_assert_has(err.msg, "aaaa...\"");
    /* A dataset key for another kind. */
    assert_int_equal(ad_job_parse_string("name: x\nmodel: cnn\nbatch_size: 1\n"
                                         "dataset: {synthetic: {path: x}}\n",
                                         "cli", &job, &err),
                     AD_EPARSE);
    adt_assert_has(err.msg, "cli:4:23: unknown key \"path\" in dataset.synthetic");
    assert_int_equal(ad_job_parse_string("name: x\nmodel: cnn\nbatch_size: 1\n"
                                         "dataset: {imagefolder: {image_size: 64}}\n",
                                         "cli", &job, &err),
                     AD_EPARSE);
    adt_assert_has(err.msg, "cli:4:24: dataset.imagefolder needs path");
    assert_int_equal(
        ad_job_parse_string("name: x\nmodel: cnn\nbatch_size: 1\ndataset: imagefolder\n", "cli",
                            &job, &err),
        AD_EPARSE);
    adt_assert_has(err.msg, "cli:4:10: dataset imagefolder needs its folder");
    /* Relative folders of an in-memory job start from the current folder. */
    assert_int_equal(chdir(AD_SOURCE_DIR "/tests"), 0);
    assert_int_equal(ad_job_parse_string("name: x\nmodel: cnn\nbatch_size: 1\n"
                                         "dataset: {imagefolder: jobs/photos}\n",
                                         "cli", &job, &err),
                     0);
    assert_string_equal(job.dataset.path, AD_SOURCE_DIR "/tests/jobs/photos");
    ad_job_clear(&job);
    /* Durations. */
    assert_int_equal(ad_job_parse_string("name: x\nmodel: cnn\nbatch_size: 1\ndataset: synthetic\n"
                                         "time_limit: 1d2h3m4s\n",
                                         "cli", &job, &err),
                     0);
    assert_int_equal(job.time_limit_s, 86400 + 7200 + 180 + 4);
    ad_job_clear(&job);
    assert_int_equal(ad_job_parse_string("name: x\nmodel: cnn\nbatch_size: 1\ndataset: synthetic\n"
                                         "time_limit: 30m2h\n",
                                         "cli", &job, &err),
                     AD_EPARSE);
    assert_int_equal(ad_job_parse_string("name: x\nmodel: cnn\nbatch_size: 1\ndataset: synthetic\n"
                                         "time_limit: 366d\n",
                                         "cli", &job, &err),
                     AD_EPARSE);
}

static void
test_from_json_errors(void **state)
{
    ad_job_t job;
    ad_err_t err = {0};

    assert_int_equal(ad_job_from_json("{\"name\": \"x\",", &job, &err), AD_EPARSE);
    adt_assert_has(err.msg, "<json>:1:");
    assert_int_equal(ad_job_from_json("[1, 2]", &job, &err), AD_EPARSE);
    adt_assert_has(err.msg, "must be a JSON object");
    assert_int_equal(ad_job_from_json("{\"name\": \"x\", \"name\": \"y\"}", &job, &err), AD_EPARSE);
    assert_int_equal(ad_job_from_json("{\"name\":\"x\",\"model\":\"cnn\",\"batch_size\":1,"
                                      "\"dataset\":{\"imagefolder\":\"relative/photos\"}}",
                                      &job, &err),
                     AD_EPARSE);
    adt_assert_has(err.msg, "must be an absolute path in JSON");
    /* JSON is not checked against the file system: the folder may live on another machine. */
    assert_int_equal(ad_job_from_json("{\"name\":\"x\",\"model\":\"cnn\",\"batch_size\":1,"
                                      "\"dataset\":{\"imagefolder\":\"/nowhere/photos\"}}",
                                      &job, &err),
                     0);
    assert_string_equal(job.dataset.path, "/nowhere/photos");
    ad_job_clear(&job);
    assert_int_equal(ad_job_from_json("{\"name\":\"x\",\"model\":\"cnn\",\"batch_size\":\"1\","
                                      "\"dataset\":\"synthetic\"}",
                                      &job, &err),
                     AD_EPARSE);
    adt_assert_has(err.msg, "<json>:1:");
    adt_assert_has(err.msg, "batch_size must be a positive integer");
}

static void
test_enum_names(void **state)
{
    assert_string_equal(ad_job_model_name(AD_JOB_MODEL_MOBILENET_V2), "mobilenet_v2");
    assert_string_equal(ad_job_dataset_name(AD_JOB_DATA_FASHION_MNIST), "fashion-mnist");
    assert_string_equal(ad_job_optim_name(AD_JOB_OPTIM_ADAM), "adam");
    assert_string_equal(ad_job_device_name(AD_JOB_DEVICE_AUTO), "auto");
    assert_string_equal(ad_job_model_name((ad_job_model_t)99), "unknown");
}

/* The dataset label runs are stored under: the daemon and `autodist plan` share it. */
static void
test_dataset_label(void **state)
{
    ad_job_t job;
    ad_err_t err = {0};
    char buf[64], small[12];

    assert_int_equal(ad_job_parse_string("name: x\nmodel: cnn\ndataset: fashion-mnist\n"
                                         "batch_size: 64\nepochs: 1\nlayout: auto\n",
                                         "label", &job, &err),
                     0);
    assert_string_equal(ad_job_dataset_label(&job, buf, sizeof(buf)), "fashion-mnist");
    ad_job_clear(&job);
    assert_int_equal(ad_job_parse_string("name: x\nmodel: cnn\nbatch_size: 64\nepochs: 1\n"
                                         "dataset: {synthetic: {shape: [3, 32, 24]}}\n",
                                         "label", &job, &err),
                     0);
    assert_string_equal(ad_job_dataset_label(&job, buf, sizeof(buf)), "synthetic-3x32x24");
    /* Truncated to the room given, still terminated. */
    assert_string_equal(ad_job_dataset_label(&job, small, sizeof(small)), "synthetic-3");
    ad_job_clear(&job);
    memset(&job, 0, sizeof(job));
    job.dataset.kind = AD_JOB_DATA_IMAGEFOLDER;
    job.dataset.path = "/data/photos";
    job.dataset.image_size = 96;
    assert_string_equal(ad_job_dataset_label(&job, buf, sizeof(buf)), "imagefolder-photos-96");
    job.dataset.path = NULL;
    assert_string_equal(ad_job_dataset_label(&job, buf, sizeof(buf)), "imagefolder-images-96");
}

/* Every prefix and many one-byte changes of a good file: a job or one located error. */
static void
test_mutations_fail_cleanly(void **state)
{
    static const char repl[] = "\t:{}[]-#&*!|>'\"%@`,? 0\n";
    char *text = adt_slurp(JOBS "good-full.yaml", NULL);
    size_t len = strlen(text);
    char *buf = malloc(len + 1);
    int ok = 0, failed = 0;

    assert_non_null(buf);
    assert_int_equal(chdir(AD_SOURCE_DIR "/tests/jobs"), 0);
    for (size_t cut = 0; cut <= len; cut++) {
        for (size_t r = 0; r <= sizeof(repl) - 1; r++) {
            ad_job_t job;
            ad_err_t err = {0};
            unsigned line, col;
            int rc, n = 0;

            memcpy(buf, text, len + 1);
            if (r < sizeof(repl) - 1) {
                if (cut == len)
                    continue;
                buf[cut] = repl[r];
            } else {
                buf[cut] = '\0';
            }
            rc = ad_job_parse_string(buf, "m", &job, &err);
            if (!rc) {
                ok++;
                ad_job_clear(&job);
                continue;
            }
            failed++;
            if (rc != AD_EPARSE || sscanf(err.msg, "m:%u:%u: %n", &line, &col, &n) != 2 || !n ||
                !line || !col || strchr(err.msg, '\n'))
                fail_msg("mutation at %zu (%d): rc %d, message \"%s\"", cut, (int)r, rc, err.msg);
        }
    }
    assert_true(ok > 0);
    assert_true(failed > 0);
    free(buf);
    free(text);
}

static void
test_experiments_parse(void **state)
{
    glob_t g;
    int jobs = 0, sweeps = 0;

    assert_int_equal(glob(AD_SOURCE_DIR "/experiments/*.yaml", 0, NULL, &g), 0);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const char *path = g.gl_pathv[i];
        ad_err_t err = {0};

        if (strstr(path, "sweep")) {
            ad_sweep_t *sweep = NULL;

            if (ad_sweep_load(path, &sweep, &err))
                fail_msg("%s", err.msg);
            assert_true(ad_sweep_count(sweep) > 0);
            ad_sweep_free(&sweep);
            sweeps++;
        } else {
            ad_job_t job;

            if (ad_job_parse_file(path, &job, &err))
                fail_msg("%s", err.msg);
            if (strstr(path, "/fashion-cnn.yaml")) {
                assert_false(job.layout.is_auto);
                assert_int_equal(job.layout.nodes, 1);
                assert_int_equal(job.layout.procs_per_node, 2);
                assert_int_equal(job.layout.threads_per_proc, 1);
                assert_int_equal(job.epochs, 2);
            }
            ad_job_clear(&job);
            jobs++;
        }
    }
    globfree(&g);
    assert_true(jobs >= 3);
    assert_true(sweeps >= 1);
}

/* ---------------------------------------------------------------------------------------- */
/* Sweep files.                                                                             */

static void
test_sweep_grid(void **state)
{
    ad_sweep_t *sweep = NULL;
    ad_err_t err = {0};
    char names[24][AD_JOB_NAME_MAX + 1], hash[17];
    ad_job_t job;
    int repeat;

    assert_int_equal(ad_sweep_load(JOBS "sweep-grid.yaml", &sweep, &err), 0);
    assert_string_equal(ad_sweep_name(sweep), "lr-batch");
    assert_int_equal(ad_sweep_count(sweep), 24);
    assert_int_equal(ad_sweep_configs(sweep), 12);
    for (int64_t i = 0; i < 24; i++) {
        static const int batch[4] = {64, 128, 256, 512};
        static const double lr[3] = {0.01, 0.05, 0.1};
        int c = (int)(i % 12);

        assert_int_equal(ad_sweep_job(sweep, i, &job, &repeat, &err), 0);
        /* Grid keys sorted by name, the first varying slowest; repeats outermost. */
        assert_int_equal(repeat, i / 12 + 1);
        assert_int_equal(job.batch_size, batch[c / 3]);
        assert_true(job.optimizer.lr == lr[c % 3]);
        assert_int_equal(job.model, AD_JOB_MODEL_CNN);
        assert_true(job.optimizer.momentum == 0.9);
        ad_job_hash(&job, hash);
        assert_int_equal(strlen(job.name), strlen("lr-batch-") + 12 + 3);
        assert_memory_equal(job.name, "lr-batch-", 9);
        assert_memory_equal(job.name + 9, hash, 12);
        assert_string_equal(job.name + 21, i < 12 ? "-r1" : "-r2");
        snprintf(names[i], sizeof(names[i]), "%s", job.name);
        ad_job_clear(&job);
    }
    for (int i = 0; i < 24; i++)
        for (int j = 0; j < i; j++)
            assert_string_not_equal(names[i], names[j]);
    /* A repeat is the same configuration. */
    assert_memory_equal(names[3], names[15], 21);
    ad_sweep_free(&sweep);
    assert_null(sweep);
    ad_sweep_free(&sweep);
}

static void
test_sweep_random(void **state)
{
    ad_sweep_t *a = NULL, *b = NULL, *c = NULL;
    ad_err_t err = {0};
    char *text = adt_slurp(JOBS "sweep-random.yaml", NULL), *other;
    int differ = 0;

    assert_int_equal(ad_sweep_load(JOBS "sweep-random.yaml", &a, &err), 0);
    assert_int_equal(ad_sweep_load(JOBS "sweep-random.yaml", &b, &err), 0);
    assert_int_equal(ad_sweep_count(a), 20);
    /* Another seed draws other configurations. */
    other = strstr(text, "seed: 7}");
    assert_non_null(other);
    other[6] = '8';
    assert_int_equal(chdir(AD_SOURCE_DIR "/tests/jobs"), 0);
    assert_int_equal(ad_sweep_load_string(text, "seed8", &c, &err), 0);
    assert_int_equal(ad_sweep_count(c), 20);
    for (int64_t i = 0; i < 20; i++) {
        ad_job_t ja, jb, jc;

        assert_int_equal(ad_sweep_job(a, i, &ja, NULL, &err), 0);
        assert_int_equal(ad_sweep_job(b, i, &jb, NULL, &err), 0);
        assert_int_equal(ad_sweep_job(c, i, &jc, NULL, &err), 0);
        assert_string_equal(ja.name, jb.name);
        differ += strcmp(ja.name, jc.name) != 0;
        assert_true(ja.seed >= 1 && ja.seed <= 10);
        assert_true(ja.batch_size % 16 == 0 && ja.batch_size <= 160);
        for (int64_t j = 0; j < i; j++) {
            ad_job_t prev;

            assert_int_equal(ad_sweep_job(a, j, &prev, NULL, &err), 0);
            assert_string_not_equal(prev.name, ja.name);
            ad_job_clear(&prev);
        }
        ad_job_clear(&ja);
        ad_job_clear(&jb);
        ad_job_clear(&jc);
    }
    assert_true(differ > 0);
    ad_sweep_free(&a);
    ad_sweep_free(&b);
    ad_sweep_free(&c);
    free(text);
}

/* Sampling every configuration gives them all, in grid order. */
static void
test_sweep_random_all(void **state)
{
    ad_sweep_t *all = NULL, *grid = NULL;
    ad_err_t err = {0};
    char text[512];

    snprintf(text, sizeof(text),
             "name: all\nbase: %sgood-minimal.yaml\ngrid:\n  seed: [1, 2, 3]\n"
             "  batch_size: [8, 16]\nrandom: {samples: 6, seed: 3}\n",
             JOBS);
    assert_int_equal(ad_sweep_load_string(text, "all", &all, &err), 0);
    *strstr(text, "random") = '\0';
    assert_int_equal(ad_sweep_load_string(text, "all", &grid, &err), 0);
    assert_int_equal(ad_sweep_count(all), 6);
    for (int64_t i = 0; i < 6; i++) {
        ad_job_t a, g;

        assert_int_equal(ad_sweep_job(all, i, &a, NULL, &err), 0);
        assert_int_equal(ad_sweep_job(grid, i, &g, NULL, &err), 0);
        assert_string_equal(a.name, g.name);
        ad_job_clear(&a);
        ad_job_clear(&g);
    }
    ad_sweep_free(&all);
    ad_sweep_free(&grid);
}

static void
test_sweep_big(void **state)
{
    ad_sweep_t *sweep = NULL;
    ad_err_t err = {0};
    double t0, t1;
    ad_job_t job;
    int repeat;

    t0 = adt_now();
    assert_int_equal(ad_sweep_load(JOBS "sweep-big.yaml", &sweep, &err), 0);
    assert_int_equal(ad_sweep_count(sweep), 25000);
    /* Keys by name: batch_size (10), epochs (10), optimizer.lr (10), seed (25). */
    assert_int_equal(ad_sweep_job(sweep, 24998, &job, &repeat, &err), 0);
    t1 = adt_now();
    assert_int_equal(repeat, 1);
    assert_int_equal(job.batch_size, 80);
    assert_int_equal(job.epochs, 10);
    assert_true(job.optimizer.lr == 0.1);
    assert_int_equal(job.seed, 24);
    ad_job_clear(&job);
    assert_int_equal(ad_sweep_job(sweep, 12345, &job, &repeat, &err), 0);
    /* 12345 = 4*2500 + 9*250 + 3*25 + 20 */
    assert_int_equal(job.batch_size, 40);
    assert_int_equal(job.epochs, 10);
    assert_true(job.optimizer.lr == 0.04);
    assert_int_equal(job.seed, 21);
    ad_job_clear(&job);
    print_message("25,000-configuration sweep: loaded and job 24998 built in %.1f ms\n",
                  (t1 - t0) * 1e3);
    ad_sweep_free(&sweep);
}

static void
test_sweep_inline_override(void **state)
{
    ad_sweep_t *sweep = NULL;
    ad_err_t err = {0};
    ad_job_t job;

    assert_int_equal(ad_sweep_load(JOBS "sweep-inline.yaml", &sweep, &err), 0);
    assert_int_equal(ad_sweep_count(sweep), 12);
    for (int64_t i = 0; i < 12; i++) {
        assert_int_equal(ad_sweep_job(sweep, i, &job, NULL, &err), 0);
        /* Keys by name: dataset.synthetic.samples, epochs, layout.procs_per_node. */
        assert_int_equal(job.steps, 0);
        assert_int_equal(job.epochs, (i / 3) % 2 + 1);
        assert_int_equal(job.layout.procs_per_node, 1 << (i % 3));
        assert_int_equal(job.layout.nodes, 1);
        assert_int_equal(job.dataset.samples, i < 6 ? 1024 : 2048);
        assert_int_equal(job.dataset.channels, 3);
        ad_job_clear(&job);
    }
    ad_sweep_free(&sweep);

    assert_int_equal(ad_sweep_load(JOBS "sweep-layout.yaml", &sweep, &err), 0);
    assert_int_equal(ad_sweep_count(sweep), 48);
    for (int64_t i = 0; i < 48; i++) {
        assert_int_equal(ad_sweep_job(sweep, i, &job, NULL, &err), 0);
        assert_false(job.layout.is_auto);
        if (job.optimizer.type == AD_JOB_OPTIM_ADAM)
            assert_true(job.optimizer.momentum == 0 && job.optimizer.lr == 0.001);
        else
            assert_true(job.optimizer.momentum == 0.9 && job.optimizer.lr == 0.05);
        if (job.dataset.kind == AD_JOB_DATA_SYNTHETIC)
            assert_int_equal(job.dataset.channels, 1);
        ad_job_clear(&job);
    }
    ad_sweep_free(&sweep);

    assert_int_equal(ad_sweep_load(JOBS "sweep-imagefolder.yaml", &sweep, &err), 0);
    assert_int_equal(ad_sweep_job(sweep, 3, &job, NULL, &err), 0);
    assert_int_equal(job.dataset.image_size, 128);
    assert_string_equal(job.dataset.path, AD_SOURCE_DIR "/tests/jobs/photos/circle");
    ad_job_clear(&job);
    ad_sweep_free(&sweep);
}

/* The canonical JSON is a sweep file that expands to the same jobs under the same hash. */
static void
test_sweep_json_round_trip(void **state)
{
    static const char *const files[] = {"sweep-grid.yaml", "sweep-random.yaml", "sweep-inline.yaml",
                                        "sweep-layout.yaml", "sweep-imagefolder.yaml"};

    for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
        ad_sweep_t *a = NULL, *b = NULL;
        ad_err_t err = {0};
        char path[512], ha[17], hb[17];

        snprintf(path, sizeof(path), JOBS "%s", files[f]);
        assert_int_equal(ad_sweep_load(path, &a, &err), 0);
        if (ad_sweep_load_string(ad_sweep_json(a), "canonical", &b, &err))
            fail_msg("%s: %s", files[f], err.msg);
        ad_sweep_hash(a, ha);
        ad_sweep_hash(b, hb);
        assert_true(s_is_hex(ha, 16));
        assert_string_equal(ha, hb);
        assert_string_equal(ad_sweep_json(a), ad_sweep_json(b));
        assert_int_equal(ad_sweep_count(a), ad_sweep_count(b));
        for (int64_t i = 0; i < ad_sweep_count(a); i++) {
            ad_job_t ja, jb;

            assert_int_equal(ad_sweep_job(a, i, &ja, NULL, &err), 0);
            assert_int_equal(ad_sweep_job(b, i, &jb, NULL, &err), 0);
            assert_string_equal(ja.name, jb.name);
            ad_job_clear(&ja);
            ad_job_clear(&jb);
        }
        ad_sweep_free(&a);
        ad_sweep_free(&b);
    }
}

/* The coordinator's side: a sweep rebuilt from its JSON, without the file system. */
static void
test_sweep_load_json(void **state)
{
    static const char *const files[] = {"sweep-grid.yaml", "sweep-random.yaml",
                                        "sweep-imagefolder.yaml"};
    static const char *const bad[] = {
        "{\"name\": \"x\", \"base\": \"job.yaml\"}",
        "[1, 2]",
        "{\"name\": \"x\", \"base\": {\"model\": \"mlp\", \"dataset\": \"synthetic\","
        " \"batch_size\": 8, \"data_dir\": \"relative/dir\"}}",
        "{\"name\": \"x\", \"base\": {\"model\": \"mlp\", \"dataset\": \"synthetic\","
        " \"batch_size\": 8}, \"grid\": {\"seed\": []}}",
        "{\"name\": \"x\",",
    };

    for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
        ad_sweep_t *a = NULL, *b = NULL;
        ad_err_t err = {0};
        char path[512], ha[17], hb[17];

        snprintf(path, sizeof(path), JOBS "%s", files[f]);
        assert_int_equal(ad_sweep_load(path, &a, &err), 0);
        if (ad_sweep_load_json(ad_sweep_json(a), &b, &err))
            fail_msg("%s: %s", files[f], err.msg);
        ad_sweep_hash(a, ha);
        ad_sweep_hash(b, hb);
        assert_string_equal(ha, hb);
        assert_string_equal(ad_sweep_json(a), ad_sweep_json(b));
        assert_int_equal(ad_sweep_count(a), ad_sweep_count(b));
        for (int64_t i = 0; i < ad_sweep_count(a); i++) {
            ad_job_t ja, jb;
            char *sa, *sb;

            assert_int_equal(ad_sweep_job(a, i, &ja, NULL, &err), 0);
            assert_int_equal(ad_sweep_job(b, i, &jb, NULL, &err), 0);
            sa = ad_job_to_json(&ja);
            sb = ad_job_to_json(&jb);
            assert_string_equal(sa, sb);
            {
                char h1[17], h2[17];

                ad_job_hash(&ja, h1);
                ad_sweep_config_hash(b, i % ad_sweep_configs(b), h2);
                assert_string_equal(h1, h2);
            }
            free(sa);
            free(sb);
            ad_job_clear(&ja);
            ad_job_clear(&jb);
        }
        ad_sweep_free(&a);
        ad_sweep_free(&b);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ad_sweep_t *s = NULL;
        ad_err_t err = {0};

        assert_int_equal(ad_sweep_load_json(bad[i], &s, &err), AD_EPARSE);
        assert_null(s);
        assert_memory_equal(err.msg, "<json>:", 7);
    }
}

static void
test_sweep_hash(void **state)
{
    static const char base[] = "name: h\nbase: {model: cnn, dataset: synthetic, batch_size: 8}\n";
    static const char *const same[] = {
        "grid:\n  seed: [1, 2]\n  batch_size: [8, 16]\n",
        "grid:\n  batch_size: [8, 16]\n  seed: [1, 2]\nmax_configs: 50\n",
        "grid: {batch_size: [8, 16], seed: [+1, 2]}\nrepeats: 1\n",
    };
    static const char *const other[] = {
        "grid:\n  seed: [1, 3]\n  batch_size: [8, 16]\n",
        "grid:\n  seed: [2, 1]\n  batch_size: [8, 16]\n",
        "grid:\n  seed: [1, 2]\n  batch_size: [8, 16]\nrepeats: 2\n",
    };
    char text[512], first[17], h[17];
    ad_sweep_t *sweep = NULL;
    ad_err_t err = {0};

    for (size_t i = 0; i < 3; i++) {
        snprintf(text, sizeof(text), "%s%s", base, same[i]);
        assert_int_equal(ad_sweep_load_string(text, "same", &sweep, &err), 0);
        ad_sweep_hash(sweep, i ? h : first);
        if (i)
            assert_string_equal(first, h);
        ad_sweep_free(&sweep);
    }
    for (size_t i = 0; i < 3; i++) {
        snprintf(text, sizeof(text), "%s%s", base, other[i]);
        assert_int_equal(ad_sweep_load_string(text, "other", &sweep, &err), 0);
        ad_sweep_hash(sweep, h);
        assert_string_not_equal(first, h);
        ad_sweep_free(&sweep);
    }
    /* A repeat-only sweep has no grid. */
    assert_int_equal(ad_sweep_load_string("name: r\nbase: {model: cnn, dataset: synthetic, "
                                          "batch_size: 8}\nrepeats: 5\n",
                                          "r", &sweep, &err),
                     0);
    assert_int_equal(ad_sweep_count(sweep), 5);
    assert_int_equal(ad_sweep_configs(sweep), 1);
    ad_sweep_free(&sweep);
}

static const s_bad_t s_bad_sweeps[] = {
    {"sweep-bad-key.yaml", AD_EPARSE, "5:3", {"unknown grid key \"optimizer.lrate\"", NULL}},
    {"sweep-empty-list.yaml",
     AD_EPARSE,
     "5:9",
     {"grid seed has an empty list", "at least one value", NULL}},
    {"sweep-bad-value.yaml",
     AD_EPARSE,
     "4:20",
     {"grid batch_size value 2: batch_size must be a positive integer", "got \"-1\"", NULL}},
    {"sweep-dup-value.yaml",
     AD_EPARSE,
     "4:29",
     {"grid optimizer.lr value 3 repeats value 1", NULL}},
    {"sweep-conflict.yaml",
     AD_EPARSE,
     "5:3",
     {"grid varies optimizer and optimizer.lr", "not both", NULL}},
    {"sweep-adam-momentum.yaml",
     AD_EPARSE,
     "9:25",
     {"grid optimizer.type value 2: optimizer.momentum applies to sgd only", NULL}},
    {"sweep-layout-partial.yaml",
     AD_EPARSE,
     "4:18",
     {"grid layout.nodes value 1: layout needs", "missing layout.procs_per_node", NULL}},
    {"sweep-kind.yaml",
     AD_EPARSE,
     "4:31",
     {"dataset.synthetic.samples needs a synthetic dataset", "fashion-mnist", NULL}},
    {"sweep-name-grid.yaml", AD_EPARSE, "4:3", {"grid cannot vary name", NULL}},
    {"sweep-missing-base.yaml",
     -ENOENT,
     "2:7",
     {"base must be a job file", "no-such-job.yaml: No such file or directory", NULL}},
    {"sweep-inline-name.yaml", AD_EPARSE, "2:14", {"name belongs to the sweep", NULL}},
    {"sweep-random-too-many.yaml",
     AD_EPARSE,
     "5:1",
     {"random.samples 5 is more than the grid's 3 configurations", NULL}},
    {"sweep-unknown-key.yaml",
     AD_EPARSE,
     "3:1",
     {"unknown key \"repeat\" in a sweep file", "did you mean repeats?", NULL}},
    {"sweep-limit.yaml",
     AD_EPARSE,
     "4:1",
     {"the sweep expands to 24 jobs (12 configurations x 2 repeats)", "max_configs 20",
      "raise it with max_configs: N", NULL}},
    {"sweep-too-big.yaml",
     AD_EPARSE,
     "4:1",
     {"the sweep expands to 110000 jobs", "more than max_configs 100000", "max_configs: N", NULL}},
    {"bad-empty.yaml", AD_EPARSE, "1:1", {"empty sweep file", NULL}},
    {"bad-tabs.yaml", AD_EPARSE, "6:1", {"tab character", NULL}},
};

static void
test_bad_sweep_files(void **state)
{
    for (size_t i = 0; i < sizeof(s_bad_sweeps) / sizeof(s_bad_sweeps[0]); i++) {
        ad_sweep_t *sweep = (ad_sweep_t *)&sweep;
        char path[512];
        ad_err_t err = {0};
        int rc;

        snprintf(path, sizeof(path), JOBS "%s", s_bad_sweeps[i].file);
        rc = ad_sweep_load(path, &sweep, &err);
        s_assert_error(rc, &err, path, &s_bad_sweeps[i]);
        assert_null(sweep);
    }
}

/* A base that is a bad job file is reported in that file. */
static void
test_sweep_bad_base(void **state)
{
    ad_sweep_t *sweep = NULL;
    ad_err_t err = {0};

    assert_int_equal(ad_sweep_load(JOBS "sweep-bad-base.yaml", &sweep, &err), AD_EPARSE);
    adt_assert_has(err.msg,
                   "tests/jobs/bad-negative.yaml:12:13: batch_size must be a positive integer");
    assert_null(sweep);
}

/* Raising max_configs lets the same grid through. */
static void
test_sweep_raised_limit(void **state)
{
    char *text = adt_slurp(JOBS "sweep-too-big.yaml", NULL), *raised;
    ad_sweep_t *sweep = NULL;
    ad_err_t err = {0};
    ad_job_t job;

    raised = malloc(strlen(text) + 32);
    assert_non_null(raised);
    sprintf(raised, "%smax_configs: 110000\n", text);
    assert_int_equal(chdir(AD_SOURCE_DIR "/tests/jobs"), 0);
    assert_int_equal(ad_sweep_load_string(raised, "raised", &sweep, &err), 0);
    assert_int_equal(ad_sweep_count(sweep), 110000);
    assert_int_equal(ad_sweep_job(sweep, 109999, &job, NULL, &err), 0);
    assert_int_equal(job.batch_size, 100);
    assert_int_equal(job.epochs, 11);
    assert_int_equal(job.seed, 99);
    ad_job_clear(&job);
    ad_sweep_free(&sweep);
    free(raised);
    free(text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_job_files),
        cmocka_unit_test(test_key_hints),
        cmocka_unit_test(test_layout_text),
        cmocka_unit_test(test_parse_file_set),
        cmocka_unit_test(test_grid_key_hints),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_minimal_defaults),
        cmocka_unit_test(test_full_values),
        cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test(test_canonical_form),
        cmocka_unit_test(test_hash_is_the_configuration),
        cmocka_unit_test(test_checkpoint_keys),
        cmocka_unit_test(test_requeue_keys),
        cmocka_unit_test(test_tags_and_note),
        cmocka_unit_test(test_parse_string_errors),
        cmocka_unit_test(test_from_json_errors),
        cmocka_unit_test(test_enum_names),
        cmocka_unit_test(test_dataset_label),
        cmocka_unit_test(test_mutations_fail_cleanly),
        cmocka_unit_test(test_experiments_parse),
        cmocka_unit_test(test_sweep_grid),
        cmocka_unit_test(test_sweep_random),
        cmocka_unit_test(test_sweep_random_all),
        cmocka_unit_test(test_sweep_big),
        cmocka_unit_test(test_sweep_inline_override),
        cmocka_unit_test(test_sweep_json_round_trip),
        cmocka_unit_test(test_sweep_load_json),
        cmocka_unit_test(test_sweep_hash),
        cmocka_unit_test(test_bad_sweep_files),
        cmocka_unit_test(test_sweep_bad_base),
        cmocka_unit_test(test_sweep_raised_limit),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
