/* test_infer.c - the inference engine: export, artifacts, fp32 and int8 runs, pruning */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ad_test.h"
#include "infer_fixture.h"
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

/* A few SGD steps so the BatchNorm statistics and weights move off their initial values. */
static void
s_train(ad_model_t *m, int per)
{
    ad_optim_t opt = {.kind = AD_OPTIM_SGD, .lr = 0.05, .momentum = 0.9};
    ad_err_t err = {0};
    int64_t y[8];
    float *x = ift_inputs(8, per, 99);

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

/* The engine's logits against the training model's eval forward (infer_fixture.c). */
static void
s_check_same(ad_model_t *m, ad_infer_t *inf, const float *x, int n, int per, const char *arch)
{
    ift_check_same(m, inf, x, n, per, CLASSES, arch);
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
        float *x = ift_inputs(N, per, 5 + (unsigned)z);

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

/* Calibration samples of an array given chunk at a time; fails at sample fail_at (> 0). */
typedef struct {
    const float *x;
    int n, at, chunk, fail_at;
} s_stream_t;

static int
s_stream_next(void *arg, float *x, int max, ad_err_t *err)
{
    s_stream_t *s = arg;
    int b = s->n - s->at < s->chunk ? s->n - s->at : s->chunk;

    if (b > max)
        b = max;
    if (s->fail_at > 0 && s->at >= s->fail_at)
        return ad_err_set(err, AD_EDATA, "calibration image %d is unreadable", s->at);
    memcpy(x, s->x + (size_t)s->at * 784, (size_t)b * 784 * sizeof(float));
    s->at += b;
    return b;
}

/* On how many of the n 1x28x28 samples in x two models agree (argmax). */
static int
s_agree(ad_infer_t *a, ad_infer_t *b, const float *x, int n)
{
    float *za = malloc(sizeof(float) * (size_t)n * CLASSES),
          *zb = malloc(sizeof(float) * (size_t)n * CLASSES);
    ad_err_t err = {0};
    int agree = 0;

    if (ad_infer_run(a, x, n, za, &err) || ad_infer_run(b, x, n, zb, &err))
        fail_msg("run: %s", err.msg);
    for (int i = 0; i < n; i++)
        agree += s_argmax(za + i * CLASSES, CLASSES) == s_argmax(zb + i * CLASSES, CLASSES);
    free(za);
    free(zb);
    return agree;
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

    /* The same calibration streamed 7 samples at a time: the same int8 model. */
    char sdir[512];
    s_stream_t st = {.x = xtr, .n = CAL, .chunk = 7};
    ad_infer_t *sq = NULL;
    adt_fresh_dir(sdir, sizeof sdir, "cnn-int8-stream");
    if (ad_infer_quantize_stream(fp, s_stream_next, &st, 1, 28, 28, sdir, NULL, &err) ||
        ad_infer_load(sdir, &sq, &err))
        fail_msg("quantize_stream: %s", err.msg);
    assert_int_equal(st.at, CAL);
    assert_int_equal(s_agree(q, sq, xte, TEST) * 100 >= 99 * TEST, 1);
    ad_infer_free(&sq);
    /* A source that fails stops it with its error; one that gives nothing is refused. */
    st = (s_stream_t){.x = xtr, .n = CAL, .chunk = 7, .fail_at = 14};
    assert_int_equal(ad_infer_quantize_stream(fp, s_stream_next, &st, 1, 28, 28, sdir, NULL, &err),
                     AD_EDATA);
    adt_assert_has(err.msg, "calibration image 14 is unreadable");
    st = (s_stream_t){.x = xtr, .n = 0, .chunk = 7};
    assert_int_equal(ad_infer_quantize_stream(fp, s_stream_next, &st, 1, 28, 28, sdir, NULL, &err),
                     AD_EINVAL);
    adt_assert_has(err.msg, "no calibration samples");

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
    /* ATen's quantized::conv2d (AD_INFER_ATEN_QCONV=1) gives the same answer. */
    adt_sh_t r2 = adt_sh("AD_INFER_ATEN_QCONV=1 '%s' --load '%s'", s_self, qdir);
    if (r2.status != 0)
        fail_msg("fresh load through ATen: %s", r2.err);
    assert_string_equal(r2.out, r.out);
    adt_sh_free(&r2);
    adt_sh_free(&r);
    free(zf);
    free(zq);
    free(xtr);
    free(xte);
    ad_infer_free(&q);
    ad_infer_free(&fp);
    ad_torch_model_free(&m);
}

/* mlp is linear layers only: the first reads the quantised input (static int8), the others an
 * fp32 activation, quantised at every call (dynamic int8). */
static void
test_int8_mlp_dynamic_linear_agrees_with_fp32(void **state)
{
    enum { TRAIN = 512, TEST = 300, CAL = 200, B = 64 };
    int64_t ytr[TRAIN], yte[TEST];
    float *xtr = s_fashion(AD_SPLIT_TRAIN, 0, TRAIN, ytr);
    float *xte = s_fashion(AD_SPLIT_TEST, 0, TEST, yte);
    ad_model_t *m = s_model("mlp", 1, 28, 28);
    ad_optim_t opt = {.kind = AD_OPTIM_SGD, .lr = 0.05, .momentum = 0.9};
    ad_err_t err = {0};

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
    ad_infer_t *fp = s_export_load(m, "mlp", dir, sizeof dir), *q = NULL;
    adt_fresh_dir(qdir, sizeof qdir, "mlp-int8");
    if (ad_infer_quantize(fp, xtr, CAL, 1, 28, 28, qdir, NULL, &err) ||
        ad_infer_load(qdir, &q, &err))
        fail_msg("mlp int8: %s", err.msg);
    adt_assert_has(ad_infer_backend(), "dynamic int8");
    assert_true(ad_infer_bytes(q) * 3 < ad_infer_bytes(fp));

    float *zf = malloc(sizeof(float) * TEST * CLASSES),
          *zq = malloc(sizeof(float) * TEST * CLASSES);
    assert_int_equal(ad_infer_run(fp, xte, TEST, zf, &err), 0);
    if (ad_infer_run(q, xte, TEST, zq, &err))
        fail_msg("run int8: %s", err.msg);
    int agree = 0, right_f = 0, right_q = 0;
    double num = 0, den = 0;
    for (int i = 0; i < TEST; i++) {
        int a = s_argmax(zf + i * CLASSES, CLASSES), b = s_argmax(zq + i * CLASSES, CLASSES);
        agree += a == b;
        right_f += a == yte[i];
        right_q += b == yte[i];
        for (int k = 0; k < CLASSES; k++) {
            double d = zq[i * CLASSES + k] - zf[i * CLASSES + k];
            num += d * d;
            den += (double)zf[i * CLASSES + k] * zf[i * CLASSES + k];
        }
    }
    if (getenv("AD_TEST_VERBOSE"))
        printf("mlp int8 agrees on %d/%d; accuracy fp32 %d int8 %d; logits off by %.4f\n", agree,
               TEST, right_f, right_q, sqrt(num / den));
    assert_true(right_f > TEST / 2); /* it did learn */
    assert_true(agree * 100 >= 95 * TEST);
    assert_true(sqrt(num / den) < 0.05);
    /* Each sample's input is quantised over its own range: alone it gets the batch's logits. */
    for (int i = 0; i < 20; i++) {
        float z1[CLASSES];
        assert_int_equal(ad_infer_run(q, xte + 784 * i, 1, z1, &err), 0);
        for (int k = 0; k < CLASSES; k++)
            assert_float_equal(z1[k], zq[i * CLASSES + k], 1e-4 * (1 + fabs(z1[k])));
    }
    /* Weight-only int8 linear layers (AD_INFER_SGEMM_LINEAR=1) give the same class. */
    adt_sh_t r = adt_sh("'%s' --load '%s'", s_self, qdir);
    adt_sh_t r2 = adt_sh("AD_INFER_SGEMM_LINEAR=1 '%s' --load '%s'", s_self, qdir);
    if (r.status != 0 || r2.status != 0)
        fail_msg("fresh load: %s %s", r.err, r2.err);
    adt_assert_has(r.out, "variant int8 top ");
    assert_string_equal(r2.out, r.out);
    adt_sh_free(&r2);
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
    /* resnet18 at 72x72 has the ImageNet stem: a padded max-pool on quantised values. */
    static const char *const names[] = {"resnet18", "mobilenet_v2", "resnet18"};
    static const int sizes[] = {32, 32, 72};

    for (int z = 0; z < 3; z++) {
        int s = sizes[z], per = 3 * s * s;
        ad_model_t *m = s_model(names[z], 3, s, s);
        ad_err_t err = {0};
        char dir[512], qdir[512];

        s_train(m, per);
        ad_infer_t *fp = s_export_load(m, names[z], dir, sizeof dir);
        float *cal = ift_inputs(16, per, 3), logits[4 * CLASSES], lf[4 * CLASSES];
        adt_fresh_dir(qdir, sizeof qdir, "int8");
        if (ad_infer_quantize(fp, cal, 16, 3, s, s, qdir, NULL, &err))
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
            printf("%s %dx%d int8 relative error %g\n", names[z], s, s, sqrt(num / den));
        assert_true(sqrt(num / den) < 0.05);
        assert_true(ad_infer_bytes(q) * 3 < ad_infer_bytes(fp));
        free(cal);
        ad_infer_free(&q);
        ad_infer_free(&fp);
        ad_torch_model_free(&m);
    }
}

/* Prune src to a fresh folder and load the result. */
static ad_infer_t *
s_prune(ad_infer_t *src, double fraction, bool structured, char *dir, size_t len)
{
    ad_err_t err = {0};
    ad_infer_t *p = NULL;

    adt_fresh_dir(dir, len, structured ? "structured" : "unstructured");
    if (ad_infer_prune(src, fraction, structured, dir, NULL, &err))
        fail_msg("prune %g: %s", fraction, err.msg);
    if (ad_infer_load(dir, &p, &err))
        fail_msg("load pruned: %s", err.msg);
    assert_string_equal(ad_infer_variant(p), "pruned");
    return p;
}

static void
s_expect_runs(ad_infer_t *inf, const float *x, int n)
{
    float z[N * CLASSES];
    ad_err_t err = {0};

    if (ad_infer_run(inf, x, n, z, &err))
        fail_msg("run: %s", err.msg);
    for (int i = 0; i < n * CLASSES; i++)
        assert_true(isfinite(z[i]));
}

/* Load dir expecting success or AD_ECKPT (never a crash); run it when it loads. */
static int
s_load_any(const char *dir)
{
    ad_infer_t *inf = NULL;
    ad_err_t err = {0};
    int rc = ad_infer_load(dir, &inf, &err), c, h, w;

    if (rc) {
        assert_int_equal(rc, AD_ECKPT);
        assert_true(strlen(err.msg) > 0);
        return rc;
    }
    ad_infer_shape(inf, &c, &h, &w);
    if ((int64_t)c * h * w <= 100000 && ad_infer_classes(inf) <= 1000) {
        float *x = calloc((size_t)c * h * w, sizeof(float));
        float *z = calloc((size_t)ad_infer_classes(inf), sizeof(float));
        ad_infer_run(inf, x, 1, z, &err);
        free(x);
        free(z);
    }
    ad_infer_free(&inf);
    return 0;
}

static void
test_mutated_artifacts_never_crash(void **state)
{
    ad_err_t err = {0};
    float *w = ift_inputs(1, 4 * 2 * 9, 1), *w2 = ift_inputs(1, 4 * 4 * 9, 2);
    float *lw = ift_inputs(1, 10 * 64, 3);
    ad_igraph_t *g = ad_igraph_new(2, 8, 8);
    int a = ad_igraph_conv(g, 0, w, 4, 3, 3, NULL, 1, 1, 1, AD_ACT_RELU, &err);
    int b = ad_igraph_conv(g, a, w2, 4, 3, 3, NULL, 1, 1, 1, AD_ACT_NONE, &err);
    int s = ad_igraph_add(g, a, b, AD_ACT_RELU6, &err);
    int p = ad_igraph_maxpool(g, s, 2, 2, 0, &err);
    assert_int_equal(ad_igraph_linear(g, p, lw, 10, NULL, AD_ACT_NONE, &err), 5);
    char dir[512], mpath[600], wpath[600];
    float *cal = ift_inputs(4, 128, 4);
    ad_infer_t *inf = NULL;

    adt_fresh_dir(dir, sizeof dir, "fuzz");
    assert_int_equal(ad_igraph_save(g, dir, "{\"arch\": \"tiny\"}", &err), 0);
    assert_int_equal(ad_infer_load(dir, &inf, &err), 0);
    for (int v = 0; v < 2; v++) {
        char *dirv = dir;
        char qdir[512];
        if (v) {
            /* The same for an int8 artifact. */
            adt_fresh_dir(qdir, sizeof qdir, "fuzzq");
            assert_int_equal(ad_infer_quantize(inf, cal, 4, 2, 8, 8, qdir, NULL, &err), 0);
            dirv = qdir;
        }
        adt_path(mpath, sizeof mpath, dirv, "model.json");
        adt_path(wpath, sizeof wpath, dirv, "weights.bin");
        size_t mlen, wlen;
        char *model = adt_slurp(mpath, &mlen), *weights = adt_slurp(wpath, &wlen);
        static const char subst[] = "0123456789-\"[]{},:e9";
        unsigned seed = 17;
        int failed = 0;
        for (int i = 0; i < 300; i++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 4) % mlen;
            char old = model[at];
            model[at] = subst[(seed >> 20) % (sizeof subst - 1)];
            adt_write_bytes(mpath, model, mlen);
            failed += s_load_any(dirv) != 0;
            model[at] = old;
        }
        adt_write_bytes(mpath, model, mlen);
        for (int i = 0; i < 100; i++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 4) % wlen;
            weights[at] ^= (char)(1u << ((seed >> 20) % 8));
            adt_write_bytes(wpath, weights, wlen);
            /* A flipped bit anywhere in weights.bin is caught (header, index CRC or data CRC)
             * unless it is in the padding between tensors. */
            failed += s_load_any(dirv) != 0;
            weights[at] ^= (char)(1u << ((seed >> 20) % 8));
        }
        adt_write_bytes(wpath, weights, wlen);
        assert_int_equal(s_load_any(dirv), 0);
        assert_true(failed > 200);
        free(model);
        free(weights);
    }
    ad_infer_free(&inf);
    ad_igraph_free(&g);
    free(w), free(w2), free(lw), free(cal);
}

/* One of several threads running one model at once. */
typedef struct s_runner {
    ad_infer_t *inf;      /* shared */
    const float *x;       /* N samples */
    float z[N * CLASSES]; /* what it got */
    int rc;               /* ad_infer_run's last result */
} s_runner_t;

static void *
s_run_many(void *arg)
{
    s_runner_t *r = arg;
    ad_err_t err = {0};

    for (int i = 0; i < 20 && r->rc == 0; i++)
        r->rc = ad_infer_run(r->inf, r->x, N, r->z, &err);
    return NULL;
}

static void
test_runs_from_several_threads(void **state)
{
    ad_model_t *m = s_model("cnn", 1, 28, 28);
    char dir[512], qdir[512];
    ad_err_t err = {0};
    ad_infer_t *fp = s_export_load(m, "cnn", dir, sizeof dir), *q = NULL;
    float *x = ift_inputs(N, 784, 77), want[N * CLASSES];

    adt_fresh_dir(qdir, sizeof qdir, "q");
    assert_int_equal(ad_infer_quantize(fp, x, N, 1, 28, 28, qdir, NULL, &err), 0);
    assert_int_equal(ad_infer_load(qdir, &q, &err), 0);
    for (int v = 0; v < 2; v++) {
        ad_infer_t *inf = v ? q : fp;
        s_runner_t r[4];
        pthread_t t[4];

        assert_int_equal(ad_infer_run(inf, x, N, want, &err), 0);
        for (int i = 0; i < 4; i++) {
            r[i] = (s_runner_t){.inf = inf, .x = x};
            assert_int_equal(pthread_create(&t[i], NULL, s_run_many, &r[i]), 0);
        }
        for (int i = 0; i < 4; i++) {
            pthread_join(t[i], NULL);
            assert_int_equal(r[i].rc, 0);
            for (int k = 0; k < N * CLASSES; k++)
                if (!(fabsf(r[i].z[k] - want[k]) <= 1e-4f * fmaxf(1.0f, fabsf(want[k]))))
                    fail_msg("%s thread %d: logit %d is %g, alone %g", v ? "int8" : "fp32", i, k,
                             r[i].z[k], want[k]);
        }
    }
    ad_infer_free(&q);
    ad_infer_free(&fp);
    free(x);
    ad_torch_model_free(&m);
}

/* Save g, load it, prune it by channel and check the logits did not move: the channels that go
 * are exactly zero. */
static void
s_prune_same(ad_igraph_t *g, int64_t want_params)
{
    char dir[512], pdir[512];
    ad_err_t err = {0};
    ad_infer_t *inf = NULL;
    float *x = ift_inputs(N, 36, 8), za[N * CLASSES], zb[N * CLASSES];

    adt_fresh_dir(dir, sizeof dir, "zeros");
    assert_int_equal(ad_igraph_save(g, dir, NULL, &err), 0);
    assert_int_equal(ad_infer_load(dir, &inf, &err), 0);
    ad_infer_t *p = s_prune(inf, 0.5, true, pdir, sizeof pdir);
    assert_int_equal(ad_infer_params(p), want_params);
    assert_int_equal(ad_infer_run(inf, x, N, za, &err), 0);
    assert_int_equal(ad_infer_run(p, x, N, zb, &err), 0);
    for (int i = 0; i < N * CLASSES; i++)
        assert_true(fabsf(za[i] - zb[i]) <= 1e-5f * fmaxf(1.0f, fabsf(za[i])));
    ad_infer_free(&p);
    ad_infer_free(&inf);
    free(x);
}

static void
test_prune_structured_removes_the_right_channels(void **state)
{
    ad_err_t err = {0};
    float *w1 = ift_inputs(1, 4 * 9, 1), *b1 = ift_inputs(1, 4, 2), *lw = ift_inputs(1, 10 * 36, 3);
    float *dw = ift_inputs(1, 4 * 9, 4), *db = ift_inputs(1, 4, 5), *pw = ift_inputs(1, 2 * 4, 6);
    float pb[2] = {0.1f, 0.0f}, *lw2 = ift_inputs(1, 10 * 2, 7);

    /* Channels 1 and 3 of the first conv are zero, so are their bias and the depthwise bias. */
    for (int c = 1; c < 4; c += 2) {
        memset(w1 + c * 9, 0, 9 * sizeof(float));
        b1[c] = 0;
        db[c] = 0;
    }
    /* conv, max-pool, flatten into linear: features c*9 .. c*9+8 go with channel c. */
    ad_igraph_t *g = ad_igraph_new(1, 6, 6);
    int h = ad_igraph_conv(g, 0, w1, 4, 3, 3, b1, 1, 1, 1, AD_ACT_RELU, &err);
    h = ad_igraph_maxpool(g, h, 2, 2, 0, &err);
    assert_int_equal(ad_igraph_linear(g, h, lw, 10, NULL, AD_ACT_NONE, &err), 3);
    s_prune_same(g, (2 * 9 + 2) + (10 * 18 + 10));
    ad_igraph_free(&g);

    /* conv, depthwise conv (follows), pointwise conv (its channel 1 is zero), pool, linear. */
    memset(pw + 4, 0, 4 * sizeof(float));
    g = ad_igraph_new(1, 6, 6);
    h = ad_igraph_conv(g, 0, w1, 4, 3, 3, b1, 1, 1, 1, AD_ACT_RELU6, &err);
    h = ad_igraph_conv(g, h, dw, 4, 3, 3, db, 1, 1, 4, AD_ACT_RELU, &err);
    h = ad_igraph_conv(g, h, pw, 2, 1, 1, pb, 1, 0, 1, AD_ACT_RELU, &err);
    h = ad_igraph_avgpool(g, h, &err);
    assert_int_equal(ad_igraph_linear(g, h, lw2, 10, NULL, AD_ACT_NONE, &err), 5);
    s_prune_same(g, (2 * 9 + 2) + (2 * 9 + 2) + (1 * 2 + 1) + (10 * 1 + 10));
    ad_igraph_free(&g);
    free(w1), free(b1), free(lw), free(dw), free(db), free(pw), free(lw2);
}

static void
test_prune_cnn(void **state)
{
    int per = 784;
    ad_model_t *m = s_model("cnn", 1, 28, 28);
    char dir[512], sdir[512], udir[512];
    ad_err_t err = {0};

    s_train(m, per);
    ad_infer_t *fp = s_export_load(m, "cnn", dir, sizeof dir);
    float *x = ift_inputs(N, per, 21);

    assert_int_equal(ad_infer_prune(fp, 0.0, true, dir, NULL, &err), AD_EINVAL);
    adt_assert_has(err.msg, "fraction 0 is not in (0, 1)");
    assert_int_equal(ad_infer_prune(fp, 1.0, false, dir, NULL, &err), AD_EINVAL);

    /* Structured 0.5: conv 32 -> 16 and 64 -> 32 channels, the hidden linear layer 128 -> 64
     * units reading half the features: a quarter of the parameters and of the file. */
    ad_infer_t *sp = s_prune(fp, 0.5, true, sdir, sizeof sdir);
    int64_t before = ad_infer_params(fp), after = ad_infer_params(sp);
    if (getenv("AD_TEST_VERBOSE"))
        printf("structured: %lld -> %lld params, %lld -> %lld bytes\n", (long long)before,
               (long long)after, (long long)ad_infer_bytes(fp), (long long)ad_infer_bytes(sp));
    assert_int_equal(after, (16 * 9 + 16) + (32 * 16 * 9 + 32) + (1568 * 64 + 64) + (64 * 10 + 10));
    assert_true(ad_infer_bytes(sp) < ad_infer_bytes(fp) * 3 / 10);
    adt_assert_has(ad_infer_meta(sp), "\"out\": 16");
    s_expect_runs(sp, x, N);

    /* Unstructured 0.5: as many parameters, half of them zero, stored sparse. */
    ad_infer_t *up = s_prune(fp, 0.5, false, udir, sizeof udir);
    assert_int_equal(ad_infer_params(up), before);
    double ratio = (double)ad_infer_bytes(up) / (double)ad_infer_bytes(fp);
    if (getenv("AD_TEST_VERBOSE"))
        printf("unstructured: bytes ratio %.3f\n", ratio);
    /* Half the floats and one bit per weight: 0.5 + 1/32 of the dense file. */
    assert_true(ratio > 0.48 && ratio < 0.58);
    s_expect_runs(up, x, N);

    /* Saved again (what a fine-tune does, test_torch_graph), it is the same model. */
    char tdir[512];
    adt_fresh_dir(tdir, sizeof tdir, "tuned");
    assert_int_equal(ad_infer_save(up, tdir, "{\"note\": \"tuned\"}", &err), 0);
    ad_infer_t *tuned = NULL;
    assert_int_equal(ad_infer_load(tdir, &tuned, &err), 0);
    assert_int_equal(ad_infer_bytes(tuned), ad_infer_bytes(up));
    adt_assert_has(ad_infer_meta(tuned), "\"note\": \"tuned\"");
    assert_string_equal(ad_infer_arch(tuned), "cnn");
    /* The saved model gives the same answers. */
    float za[N * CLASSES], zb[N * CLASSES];
    assert_int_equal(ad_infer_run(up, x, N, za, &err), 0);
    assert_int_equal(ad_infer_run(tuned, x, N, zb, &err), 0);
    for (int i = 0; i < N * CLASSES; i++)
        assert_true(fabsf(za[i] - zb[i]) <= 1e-5f * fmaxf(1.0f, fabsf(za[i])));

    /* int8 artifacts are not pruned. */
    char qdir[512];
    ad_infer_t *q = NULL;
    adt_fresh_dir(qdir, sizeof qdir, "q");
    assert_int_equal(ad_infer_quantize(fp, x, N, 1, 28, 28, qdir, NULL, &err), 0);
    assert_int_equal(ad_infer_load(qdir, &q, &err), 0);
    assert_int_equal(ad_infer_prune(q, 0.5, true, qdir, NULL, &err), AD_EINVAL);
    ad_infer_free(&q);
    ad_infer_free(&tuned);
    ad_infer_free(&up);
    ad_infer_free(&sp);
    ad_infer_free(&fp);
    free(x);
    ad_torch_model_free(&m);
}

static void
test_prune_structured_deep_models(void **state)
{
    static const char *const names[] = {"resnet18", "mobilenet_v2", "mlp", "lenet5"};

    for (int z = 0; z < 4; z++) {
        bool small = z >= 2;
        int c = small ? 1 : 3, h = small ? 28 : 16, per = c * h * h;
        ad_model_t *m = s_model(names[z], c, h, h);
        char dir[512], sdir[512];

        ad_infer_t *fp = s_export_load(m, names[z], dir, sizeof dir);
        float *x = ift_inputs(N, per, 4);
        ad_infer_t *sp = s_prune(fp, 0.5, true, sdir, sizeof sdir);
        if (getenv("AD_TEST_VERBOSE"))
            printf("%s structured: %lld -> %lld params\n", names[z], (long long)ad_infer_params(fp),
                   (long long)ad_infer_params(sp));
        /* Residual channels stay, so the deep models lose less than half. */
        assert_true(ad_infer_params(sp) < ad_infer_params(fp) * 9 / 10);
        s_expect_runs(sp, x, N);
        free(x);
        ad_infer_free(&sp);
        ad_infer_free(&fp);
        ad_torch_model_free(&m);
    }
}

static int
s_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* p50 milliseconds of reps runs at batch b <= 32 (after 3 warm-up runs). */
static double
s_p50_ms(ad_infer_t *inf, const float *x, int b, int reps)
{
    double t[200];
    float z[32 * CLASSES];
    ad_err_t err = {0};

    for (int i = 0; i < 3 + reps && i < 203; i++) {
        double t0 = adt_now();
        if (ad_infer_run(inf, x, b, z, &err))
            fail_msg("run: %s", err.msg);
        if (i >= 3)
            t[i - 3] = (adt_now() - t0) * 1e3;
    }
    qsort(t, (size_t)reps, sizeof t[0], s_cmp_double);
    return t[reps / 2];
}

/*
 * By hand (not in ctest): test_infer --bench prints p50 latency at batch 1 and 32, fp32 against
 * int8 (AD_INFER_SGEMM_LINEAR=1 to compare weight-only int8 linear layers).
 */
static int
s_bench(void)
{
    static const struct {
        const char *name;
        int c, h, w, reps;
    } cases[] = {{"mlp", 1, 28, 28, 200},
                 {"cnn", 1, 28, 28, 200},
                 {"resnet18", 3, 32, 32, 50},
                 {"resnet18", 3, 224, 224, 20},
                 {"mobilenet_v2", 3, 224, 224, 20}};

    adt_root_make("bench_infer");
    printf("backend: %s\n", ad_infer_backend());
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int per = cases[k].c * cases[k].h * cases[k].w, reps = cases[k].reps;
        if (getenv("AD_BENCH_ONLY") && strcmp(getenv("AD_BENCH_ONLY"), cases[k].name) != 0)
            continue; /* AD_BENCH_ONLY=NAME: that model only */
        ad_model_t *m = s_model(cases[k].name, cases[k].c, cases[k].h, cases[k].w);
        char dir[512], qdir[512];
        ad_err_t err = {0};
        ad_infer_t *fp = s_export_load(m, cases[k].name, dir, sizeof dir), *q = NULL;
        float *cal = ift_inputs(32, per, 11);

        adt_fresh_dir(qdir, sizeof qdir, "int8");
        if (ad_infer_quantize(fp, cal, 8, cases[k].c, cases[k].h, cases[k].w, qdir, NULL, &err) ||
            ad_infer_load(qdir, &q, &err))
            fail_msg("%s: %s", cases[k].name, err.msg);
        /* Batch 32 only at the small sizes: a few seconds in all. */
        for (int b = 1; b <= (cases[k].h <= 32 ? 32 : 1); b += 31) {
            int r = b == 1 ? reps : reps / 4 + 5;
            double a = s_p50_ms(fp, cal, b, r), c = s_p50_ms(q, cal, b, r);
            printf("%-12s %dx%dx%d batch %2d  fp32 p50 %8.3f ms  int8 p50 %8.3f ms  x%.2f  "
                   "(%lld -> %lld bytes)\n",
                   cases[k].name, cases[k].c, cases[k].h, cases[k].w, b, a, c, a / c,
                   (long long)ad_infer_bytes(fp), (long long)ad_infer_bytes(q));
        }
        free(cal);
        ad_infer_free(&q);
        ad_infer_free(&fp);
        ad_torch_model_free(&m);
    }
    adt_root_remove();
    return 0;
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
        cmocka_unit_test(test_int8_mlp_dynamic_linear_agrees_with_fp32),
        cmocka_unit_test(test_int8_resnet18_and_mobilenet_run),
        cmocka_unit_test(test_runs_from_several_threads),
        cmocka_unit_test(test_mutated_artifacts_never_crash),
        cmocka_unit_test(test_prune_structured_removes_the_right_channels),
        cmocka_unit_test(test_prune_cnn),
        cmocka_unit_test(test_prune_structured_deep_models),
    };

    ad_infer_set_threads(1);
    if (argc == 3 && !strcmp(argv[1], "--load"))
        return s_child_load(argv[2]);
    if (argc == 2 && !strcmp(argv[1], "--bench"))
        return s_bench();
    s_self = argv[0];
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
