/* test_infer.c - the inference engine: export, artifacts, fp32 and int8 runs, pruning */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ad_test.h"
#include "autodist/ad_data.h"
#include "autodist/ad_infer.h"
#include "autodist/ad_torch.h"

#define N 4
#define CLASSES 10

static ad_model_t *
s_model(const char *name, int c, int h, int w)
{
    ad_model_opts_t o = {
        .name = name, .channels = c, .height = h, .width = w, .classes = CLASSES, .seed = 7};
    ad_err_t err = {0};
    ad_model_t *m = NULL;

    if (ad_torch_model_new(&o, &m, &err))
        fail_msg("%s: %s", name, err.msg);
    return m;
}

/* Deterministic inputs in [-1, 1]. */
static float *
s_inputs(int n, int per, unsigned seed)
{
    float *x = malloc(sizeof(float) * (size_t)n * (size_t)per);

    for (int i = 0; i < n * per; i++) {
        seed = seed * 1103515245u + 12345u;
        x[i] = (float)((seed >> 8) & 0xFFFF) / 32768.0f - 1.0f;
    }
    return x;
}

/* A few SGD steps so the BatchNorm statistics and weights move off their initial values. */
static void
s_train(ad_model_t *m, int per)
{
    ad_optim_t opt = {.kind = AD_OPTIM_SGD, .lr = 0.05, .momentum = 0.9};
    ad_err_t err = {0};
    int64_t y[8];
    float *x = s_inputs(8, per, 99);

    for (int i = 0; i < 8; i++)
        y[i] = i % CLASSES;
    assert_int_equal(ad_torch_set_optimizer(m, &opt, &err), 0);
    for (int s = 0; s < 3; s++) {
        if (ad_torch_forward_backward(m, x, y, 8, 1.0 / 8, NULL, NULL, &err) ||
            ad_torch_step(m, &err))
            fail_msg("train: %s", err.msg);
    }
    free(x);
}

/* Export m, save it to a fresh folder (its path into dir), load it back. */
static ad_infer_t *
s_export_load(ad_model_t *m, const char *arch, char *dir, size_t len)
{
    ad_err_t err = {0};
    ad_igraph_t *g = NULL;
    ad_infer_t *inf = NULL;
    char meta[256];

    if (ad_torch_export(m, &g, &err))
        fail_msg("export %s: %s", arch, err.msg);
    adt_fresh_dir(dir, len, arch);
    snprintf(meta, sizeof meta,
             "{\"arch\": \"%s\", \"classes\": [\"zero\", \"one\"], "
             "\"normalize\": {\"mean\": [0.5], \"std\": [0.25]}}",
             arch);
    if (ad_igraph_save(g, dir, meta, &err))
        fail_msg("save %s: %s", arch, err.msg);
    ad_igraph_free(&g);
    ad_igraph_free(&g);
    assert_null(g);
    if (ad_infer_load(dir, &inf, &err))
        fail_msg("load %s: %s", arch, err.msg);
    return inf;
}

/*
 * The engine's logits against the training model's eval forward: ad_torch_evaluate's
 * cross-entropy of sample i for label k is logsumexp(z_i) - z_ik, so the log-softmax of
 * the engine's logits must match it for every label.
 */
static void
s_check_same(ad_model_t *m, ad_infer_t *inf, const float *x, int n, int per, const char *arch)
{
    float logits[N * CLASSES];
    ad_err_t err = {0};
    double worst = 0;

    assert_int_equal(ad_infer_run(inf, x, n, logits, &err), 0);
    for (int i = 0; i < n; i++) {
        double mx = -INFINITY, lse = 0;
        for (int k = 0; k < CLASSES; k++)
            mx = fmax(mx, logits[i * CLASSES + k]);
        for (int k = 0; k < CLASSES; k++)
            lse += exp(logits[i * CLASSES + k] - mx);
        lse = mx + log(lse);
        for (int k = 0; k < CLASSES; k++) {
            int64_t y = k;
            double loss = 0;
            if (ad_torch_evaluate(m, x + (size_t)i * per, &y, 1, &loss, NULL, &err))
                fail_msg("evaluate: %s", err.msg);
            double want = loss, got = lse - logits[i * CLASSES + k];
            double d = fabs(want - got) / fmax(1.0, fabs(want));
            worst = fmax(worst, d);
            if (getenv("AD_TEST_VERBOSE"))
                printf("%s i=%d k=%d want %g got %g\n", arch, i, k, want, got);
        }
    }
    if (worst > 1e-3)
        fail_msg("%s: the engine's log-softmax differs from the model's by %g", arch, worst);
}

static void
test_export_matches_every_model(void **state)
{
    static const struct {
        const char *name;
        int c, h, w;
    } zoo[] = {
        {"mlp", 1, 28, 28},      {"lenet5", 1, 28, 28},       {"cnn", 1, 28, 28},
        {"resnet18", 3, 16, 16}, {"mobilenet_v2", 3, 16, 16}, {"resnet18", 3, 72, 72},
    };

    for (size_t z = 0; z < sizeof zoo / sizeof zoo[0]; z++) {
        int per = zoo[z].c * zoo[z].h * zoo[z].w;
        ad_model_t *m = s_model(zoo[z].name, zoo[z].c, zoo[z].h, zoo[z].w);
        char dir[512];
        int c, h, w;
        float mean[3], std[3];

        s_train(m, per);
        ad_infer_t *inf = s_export_load(m, zoo[z].name, dir, sizeof dir);
        float *x = s_inputs(N, per, 5 + (unsigned)z);

        s_check_same(m, inf, x, N, per, zoo[z].name);
        ad_infer_shape(inf, &c, &h, &w);
        assert_int_equal(c, zoo[z].c);
        assert_int_equal(h, zoo[z].h);
        assert_int_equal(w, zoo[z].w);
        assert_int_equal(ad_infer_classes(inf), CLASSES);
        assert_string_equal(ad_infer_arch(inf), zoo[z].name);
        assert_string_equal(ad_infer_variant(inf), "fp32");
        assert_string_equal(ad_infer_class_name(inf, 1), "one");
        assert_null(ad_infer_class_name(inf, 2));
        ad_infer_normalize(inf, mean, std);
        assert_true(mean[2] == 0.5f && std[1] == 0.25f);
        /* BatchNorm folded away: the artifact has fewer parameters than the model's BN ones. */
        assert_true(ad_infer_params(inf) <= ad_torch_param_count(m));
        assert_true(ad_infer_bytes(inf) >= ad_infer_params(inf) * 4);
        free(x);
        ad_infer_free(&inf);
        ad_infer_free(&inf);
        ad_torch_model_free(&m);
    }
}

/* A small cnn artifact in a fresh folder. */
static void
s_cnn_artifact(char *dir, size_t len)
{
    ad_model_t *m = s_model("cnn", 1, 28, 28);
    ad_infer_t *inf = s_export_load(m, "cnn", dir, len);

    ad_infer_free(&inf);
    ad_torch_model_free(&m);
}

static void
s_expect_ckpt(const char *dir, const char *want)
{
    ad_err_t err = {0};
    ad_infer_t *inf = NULL;
    int rc = ad_infer_load(dir, &inf, &err);

    assert_int_equal(rc, AD_ECKPT);
    assert_null(inf);
    adt_assert_has(err.msg, want);
}

static void
test_bad_artifacts_fail_naming_the_file(void **state)
{
    char dir[512], path[600], bad[512];
    size_t len;

    s_cnn_artifact(dir, sizeof dir);
    adt_path(path, sizeof path, dir, "weights.bin");
    char *orig = adt_slurp(path, &len);

    /* A flipped byte in the last tensor's data: its CRC fails. */
    orig[len - 3] ^= 0x10;
    adt_write_bytes(path, orig, len);
    s_expect_ckpt(dir, "weights.bin: tensor n");
    s_expect_ckpt(dir, "CRC32C");
    /* Truncated. */
    orig[len - 3] ^= 0x10;
    adt_write_bytes(path, orig, len / 2);
    s_expect_ckpt(dir, "weights.bin: truncated");
    adt_write_bytes(path, orig, 10);
    s_expect_ckpt(dir, "weights.bin: not an autodist weights file");
    /* A flipped byte in the index. */
    orig[40] ^= 1;
    adt_write_bytes(path, orig, len);
    s_expect_ckpt(dir, "index fails its CRC32C");
    orig[40] ^= 1;
    adt_write_bytes(path, orig, len);
    ad_infer_t *inf = NULL;
    ad_err_t err = {0};
    assert_int_equal(ad_infer_load(dir, &inf, &err), 0);
    ad_infer_free(&inf);
    free(orig);

    /* model.json: missing, another format, a newer version, not JSON, shapes that do not fit. */
    adt_path(path, sizeof path, dir, "model.json");
    char *json = adt_slurp(path, NULL);
    unlink(path);
    s_expect_ckpt(dir, "model.json: No such file");
    adt_write_file(path, "{\"format\": \"onnx\", \"version\": 1}");
    s_expect_ckpt(dir, "model.json: not an autodist model (format \"onnx\"");
    adt_write_file(path, "{\"format\": \"autodist-model\", \"version\": 2, \"graph\": []}");
    s_expect_ckpt(dir, "model.json: format version 2 is newer");
    adt_write_file(path, "{\"format\": ");
    s_expect_ckpt(dir, "model.json:1: not a JSON object");

    /* The second conv declared 5x5 while weights.bin holds 3x3 kernels. */
    char *k = strstr(strstr(json, "\"op\": \"conv\""), "\"kernel\"");
    k = strstr(k + 1, "\"op\": \"conv\"");
    assert_non_null(k);
    k = strstr(k, "\"kernel\"");
    char *three = strchr(k, '3');
    *three = '5';
    three = strchr(three + 1, '3');
    *three = '5';
    adt_write_file(path, json);
    s_expect_ckpt(dir, "model.json: graph node 3: conv: weights are [64, 32, 3, 3], the layer "
                       "needs [64, 32, 5, 5]");
    free(json);

    /* A graph whose node reads a later node. */
    adt_fresh_dir(bad, sizeof bad, "bad");
    s_cnn_artifact(bad, sizeof bad);
    adt_path(path, sizeof path, bad, "model.json");
    json = adt_slurp(path, NULL);
    json_t *doc = adt_json(json);
    json_array_set_new(json_object_get(json_array_get(json_object_get(doc, "graph"), 1), "in"), 0,
                       json_integer(9));
    char *text = json_dumps(doc, 0);
    adt_write_file(path, text);
    free(text);
    json_decref(doc);
    s_expect_ckpt(bad, "graph node 1: reads a node that does not come before it");
    free(json);
    s_expect_ckpt("/nonexistent/model", "/nonexistent/model/model.json");
}

static void
test_builder_rejects_misfits(void **state)
{
    ad_igraph_t *g = ad_igraph_new(1, 8, 8);
    ad_err_t err = {0};
    float w[4 * 9] = {0}, lw[10 * 64] = {0};

    assert_int_equal(ad_igraph_conv(g, 3, w, 4, 3, 3, NULL, 1, 1, 1, AD_ACT_RELU, &err), AD_EINVAL);
    adt_assert_has(err.msg, "node 3, which does not exist");
    assert_int_equal(ad_igraph_conv(g, 0, w, 4, 9, 9, NULL, 1, 0, 1, AD_ACT_RELU, &err), AD_EINVAL);
    adt_assert_has(err.msg, "kernel 9x9 does not fit a 8x8 input");
    int c = ad_igraph_conv(g, 0, w, 4, 3, 3, NULL, 1, 1, 1, AD_ACT_RELU, &err);
    assert_int_equal(c, 1);
    int p = ad_igraph_maxpool(g, c, 2, 2, 0, &err);
    assert_int_equal(p, 2);
    assert_int_equal(ad_igraph_add(g, 0, p, AD_ACT_NONE, &err), AD_EINVAL);
    adt_assert_has(err.msg, "differ in shape");
    int l = ad_igraph_linear(g, p, lw, 10, NULL, AD_ACT_NONE, &err);
    assert_int_equal(l, 3);
    assert_int_equal(ad_igraph_avgpool(g, l, &err), AD_EINVAL);
    char dir[512];
    adt_fresh_dir(dir, sizeof dir, "tiny");
    assert_int_equal(ad_igraph_save(g, dir, "[1]", &err), AD_EINVAL);
    assert_int_equal(ad_igraph_save(g, dir, NULL, &err), 0);
    ad_infer_t *inf = NULL;
    assert_int_equal(ad_infer_load(dir, &inf, &err), 0);
    float x[2 * 64] = {0}, y[20];
    assert_int_equal(ad_infer_run(inf, x, 0, y, &err), AD_EINVAL);
    assert_int_equal(ad_infer_run(inf, x, 2, y, &err), 0);
    assert_true(y[0] == 0.0f && y[19] == 0.0f);
    assert_int_equal(ad_infer_params(inf), 4 * 9 + 4 + 10 * 64 + 10);
    ad_infer_free(&inf);
    ad_igraph_free(&g);
    assert_non_null(strstr(ad_infer_backend(), "oneDNN"));
}

/* n Fashion-MNIST samples of split from index first. */
static float *
s_fashion(ad_split_t split, int first, int n, int64_t *y)
{
    ad_data_opts_t o = {.name = "fashion-mnist"};
    ad_dataset_t *d = NULL;
    ad_err_t err = {0};
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)n);
    float *x = malloc(sizeof(float) * 784 * (size_t)n);

    if (ad_data_open(&o, split, &d, &err))
        fail_msg("fashion-mnist: %s", err.msg);
    for (int i = 0; i < n; i++)
        idx[i] = first + i;
    if (ad_data_batch(d, idx, n, false, 0, x, y, &err))
        fail_msg("fashion-mnist: %s", err.msg);
    ad_data_close(&d);
    free(idx);
    return x;
}

static int
s_argmax(const float *z, int k)
{
    int best = 0;

    for (int i = 1; i < k; i++)
        if (z[i] > z[best])
            best = i;
    return best;
}

static const char *s_self; /* this program, to load an artifact in a fresh process */

/* The fresh process: load dir, run one zero sample, print its top class. */
static int
s_child_load(const char *dir)
{
    ad_infer_t *inf = NULL;
    ad_err_t err = {0};
    int c, h, w;

    if (ad_infer_load(dir, &inf, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 2;
    }
    ad_infer_shape(inf, &c, &h, &w);
    float *x = calloc((size_t)(c * h * w), sizeof(float)), z[64];
    if (ad_infer_run(inf, x, 1, z, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 3;
    }
    printf("variant %s top %d\n", ad_infer_variant(inf), s_argmax(z, ad_infer_classes(inf)));
    free(x);
    ad_infer_free(&inf);
    return 0;
}

static void
test_int8_cnn_agrees_with_fp32(void **state)
{
    enum { TRAIN = 512, TEST = 300, CAL = 200, B = 64 };
    int64_t ytr[TRAIN], yte[TEST];
    float *xtr = s_fashion(AD_SPLIT_TRAIN, 0, TRAIN, ytr);
    float *xte = s_fashion(AD_SPLIT_TEST, 0, TEST, yte);
    ad_model_t *m = s_model("cnn", 1, 28, 28);
    ad_optim_t opt = {.kind = AD_OPTIM_SGD, .lr = 0.05, .momentum = 0.9};
    ad_err_t err = {0};

    /* A few epochs on 512 images: a model that has learnt something to quantise. */
    assert_int_equal(ad_torch_set_optimizer(m, &opt, &err), 0);
    for (int e = 0; e < 3; e++) {
        for (int s = 0; s < TRAIN / B; s++) {
            if (ad_torch_forward_backward(m, xtr + (size_t)s * B * 784, ytr + s * B, B, 1.0 / B,
                                          NULL, NULL, &err) ||
                ad_torch_step(m, &err))
                fail_msg("train: %s", err.msg);
        }
    }
    char dir[512], qdir[512];
    ad_infer_t *fp = s_export_load(m, "cnn", dir, sizeof dir);
    adt_fresh_dir(qdir, sizeof qdir, "cnn-int8");

    /* Calibration samples of another shape: both shapes named. */
    assert_int_equal(ad_infer_quantize(fp, xtr, CAL, 3, 28, 28, qdir, NULL, &err), AD_EINVAL);
    adt_assert_has(err.msg, "calibration samples are 3x28x28, the model takes 1x28x28");
    assert_int_equal(ad_infer_quantize(fp, xtr, 0, 1, 28, 28, qdir, NULL, &err), AD_EINVAL);
    if (ad_infer_quantize(fp, xtr, CAL, 1, 28, 28, qdir, "{\"parent\": \"cnn\"}", &err))
        fail_msg("quantize: %s", err.msg);

    ad_infer_t *q = NULL;
    if (ad_infer_load(qdir, &q, &err))
        fail_msg("load int8: %s", err.msg);
    assert_string_equal(ad_infer_variant(q), "int8");
    assert_string_equal(ad_infer_arch(q), "cnn");
    adt_assert_has(ad_infer_meta(q), "\"parent\": \"cnn\"");
    /* int8 weights: the file is about 4x smaller. */
    assert_true(ad_infer_bytes(q) * 3 < ad_infer_bytes(fp));
    assert_int_equal(ad_infer_quantize(q, xtr, CAL, 1, 28, 28, qdir, NULL, &err), AD_EINVAL);

    float *zf = malloc(sizeof(float) * TEST * CLASSES), *zq = malloc(sizeof(float) * TEST * 10);
    assert_int_equal(ad_infer_run(fp, xte, TEST, zf, &err), 0);
    if (ad_infer_run(q, xte, TEST, zq, &err))
        fail_msg("run int8: %s", err.msg);
    int agree = 0, right_f = 0, right_q = 0;
    for (int i = 0; i < TEST; i++) {
        int a = s_argmax(zf + i * CLASSES, CLASSES), b = s_argmax(zq + i * CLASSES, CLASSES);
        agree += a == b;
        right_f += a == yte[i];
        right_q += b == yte[i];
    }
    if (getenv("AD_TEST_VERBOSE"))
        printf("int8 agrees on %d/%d; accuracy fp32 %d int8 %d\n", agree, TEST, right_f, right_q);
    assert_true(right_f > TEST / 2); /* it did learn */
    assert_true(agree * 100 >= 95 * TEST);
    /* Batch 1 gives the batch's answer. */
    float z1[CLASSES];
    assert_int_equal(ad_infer_run(q, xte + 784 * 7, 1, z1, &err), 0);
    assert_int_equal(s_argmax(z1, CLASSES), s_argmax(zq + 7 * CLASSES, CLASSES));

    /* A fresh process loads the int8 artifact. */
    adt_sh_t r = adt_sh("'%s' --load '%s'", s_self, qdir);
    if (r.status != 0)
        fail_msg("fresh load: %s", r.err);
    adt_assert_has(r.out, "variant int8 top ");
    adt_sh_free(&r);
    free(zf);
    free(zq);
    free(xtr);
    free(xte);
    ad_infer_free(&q);
    ad_infer_free(&fp);
    ad_torch_model_free(&m);
}

static void
test_int8_resnet18_and_mobilenet_run(void **state)
{
    static const char *const names[] = {"resnet18", "mobilenet_v2"};

    for (int z = 0; z < 2; z++) {
        int per = 3 * 32 * 32;
        ad_model_t *m = s_model(names[z], 3, 32, 32);
        ad_err_t err = {0};
        char dir[512], qdir[512];

        s_train(m, per);
        ad_infer_t *fp = s_export_load(m, names[z], dir, sizeof dir);
        float *cal = s_inputs(16, per, 3), logits[4 * CLASSES], lf[4 * CLASSES];
        adt_fresh_dir(qdir, sizeof qdir, "int8");
        if (ad_infer_quantize(fp, cal, 16, 3, 32, 32, qdir, NULL, &err))
            fail_msg("quantize %s: %s", names[z], err.msg);
        ad_infer_t *q = NULL;
        if (ad_infer_load(qdir, &q, &err))
            fail_msg("load int8 %s: %s", names[z], err.msg);
        assert_int_equal(ad_infer_run(q, cal, 4, logits, &err), 0);
        assert_int_equal(ad_infer_run(fp, cal, 4, lf, &err), 0);
        double num = 0, den = 0;
        for (int i = 0; i < 4 * CLASSES; i++) {
            assert_true(isfinite(logits[i]));
            num += (logits[i] - lf[i]) * (logits[i] - lf[i]);
            den += lf[i] * lf[i];
        }
        if (getenv("AD_TEST_VERBOSE"))
            printf("%s int8 relative error %g\n", names[z], sqrt(num / den));
        assert_true(ad_infer_bytes(q) * 3 < ad_infer_bytes(fp));
        free(cal);
        ad_infer_free(&q);
        ad_infer_free(&fp);
        ad_torch_model_free(&m);
    }
}

static int
s_setup(void **state)
{
    return adt_root_make("test_infer") ? 0 : -1;
}

static int
s_teardown(void **state)
{
    return adt_root_remove();
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builder_rejects_misfits),
        cmocka_unit_test(test_export_matches_every_model),
        cmocka_unit_test(test_bad_artifacts_fail_naming_the_file),
        cmocka_unit_test(test_int8_cnn_agrees_with_fp32),
        cmocka_unit_test(test_int8_resnet18_and_mobilenet_run),
    };

    ad_infer_set_threads(1);
    if (argc == 3 && !strcmp(argv[1], "--load"))
        return s_child_load(argv[2]);
    s_self = argv[0];
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
