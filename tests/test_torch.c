/* test_torch.c - the libtorch shim: model zoo, buckets, hooks, optimisers, checkpoints */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ad_test.h"
#include "autodist/ad_torch.h"

#define N 16

static ad_model_t *
s_model(const char *name, int c, int h, int w, uint64_t seed, size_t bucket_bytes)
{
    ad_model_opts_t o = {.name = name, .channels = c, .height = h, .width = w,
                         .classes = 10, .seed = seed, .bucket_bytes = bucket_bytes};
    ad_err_t err = {0};
    ad_model_t *m = NULL;
    int rc = ad_torch_model_new(&o, &m, &err);

    if (rc)
        fail_msg("%s: %s", name, err.msg);
    return m;
}

/* A fixed, learnable batch: the label decides which pixels are bright. */
static void
s_batch(int c, int h, int w, float *x, int64_t *y)
{
    int per = c * h * w;

    for (int i = 0; i < N; i++) {
        y[i] = i % 10;
        for (int j = 0; j < per; j++)
            x[i * per + j] = (j % 10 == y[i]) ? 1.0f : -0.5f + 0.01f * (float)((i * 7 + j) % 13);
    }
}

static void
test_zoo_shapes_and_sizes(void **state)
{
    static const struct {
        const char *name;
        int c, h, w;
        int64_t params;
    } zoo[] = {
        /* The counts of the published architectures at 10 classes. */
        {"mlp", 1, 28, 28, 235146},      {"lenet5", 1, 28, 28, 61706},
        {"cnn", 1, 28, 28, 421642},      {"resnet18", 3, 32, 32, 11173962},
        {"mobilenet_v2", 3, 32, 32, 2236682},
    };
    const char *const *names = ad_torch_models();
    int n = 0;

    while (names[n])
        n++;
    assert_int_equal(n, 5);
    for (size_t i = 0; i < sizeof(zoo) / sizeof(zoo[0]); i++) {
        ad_model_t *m = s_model(zoo[i].name, zoo[i].c, zoo[i].h, zoo[i].w, 1, 0);

        assert_int_equal(ad_torch_param_count(m), zoo[i].params);
        assert_true(ad_torch_flops_per_sample(m) > 0);
        ad_torch_model_free(&m);
        assert_null(m);
        ad_torch_model_free(&m);
    }
}

static void
test_cnn_flops_exact(void **state)
{
    ad_model_t *m = s_model("cnn", 1, 28, 28, 1, 0);

    /* 2 x MACs of conv1, conv2, fc1, fc2 at 28x28. */
    assert_true(fabs(ad_torch_flops_per_sample(m) - 8482304.0) < 1);
    ad_torch_model_free(&m);
}

static void
test_models_adapt_to_input(void **state)
{
    ad_model_t *a = s_model("cnn", 3, 32, 32, 1, 0);
    ad_model_t *b = s_model("resnet18", 1, 28, 28, 1, 0);
    ad_model_t *c = s_model("resnet18", 3, 96, 96, 1, 0);

    /* conv1 takes 3 channels, fc1 64*8*8 inputs. */
    assert_int_equal(ad_torch_param_count(a), 3 * 9 * 32 + 32 + 18496 + 4096 * 128 + 128 + 1290);
    assert_non_null(b);
    /* The ImageNet stem (7x7) on large inputs has more stem weights than the 3x3 one. */
    assert_int_equal(ad_torch_param_count(c) - 11173962, 3 * 64 * (49 - 9));
    ad_torch_model_free(&a);
    ad_torch_model_free(&b);
    ad_torch_model_free(&c);
}

static void
test_bad_models(void **state)
{
    ad_model_opts_t o = {.name = "nosuch", .channels = 1, .height = 28, .width = 28,
                         .classes = 10};
    ad_err_t err = {0};
    ad_model_t *m = NULL;

    assert_int_equal(ad_torch_model_new(&o, &m, &err), AD_EMODEL);
    assert_null(m);
    assert_non_null(strstr(err.msg, "nosuch"));
    assert_non_null(strstr(err.msg, "resnet18"));

    o.name = "cnn";
    o.height = o.width = 2;
    assert_int_equal(ad_torch_model_new(&o, &m, &err), AD_EINVAL);
    assert_non_null(strstr(err.msg, "too small"));

    o.height = o.width = 28;
    o.classes = 1;
    assert_int_equal(ad_torch_model_new(&o, &m, &err), AD_EINVAL);

    if (!ad_torch_has_cuda()) {
        o.classes = 10;
        o.device = AD_DEVICE_GPU;
        assert_int_equal(ad_torch_model_new(&o, &m, &err), AD_EDEVICE);
        assert_non_null(strstr(err.msg, "GPU"));
    }
}

static void
test_same_seed_same_weights(void **state)
{
    ad_model_t *a = s_model("lenet5", 1, 28, 28, 42, 0);
    ad_model_t *b = s_model("lenet5", 1, 28, 28, 42, 0);
    ad_model_t *c = s_model("lenet5", 1, 28, 28, 43, 0);
    size_t bytes = (size_t)ad_torch_param_count(a) * sizeof(float);

    assert_memory_equal(ad_torch_params(a), ad_torch_params(b), bytes);
    assert_memory_not_equal(ad_torch_params(a), ad_torch_params(c), bytes);
    ad_torch_model_free(&a);
    ad_torch_model_free(&b);
    ad_torch_model_free(&c);
}

typedef struct seen {
    int order[64];  /* buckets in the order they completed */
    int n;          /* how many completed */
    int grads;      /* on_grad calls */
} seen_t;

static void
s_on_bucket(void *arg, int b)
{
    seen_t *s = arg;

    if (s->n < 64)
        s->order[s->n] = b;
    s->n++;
}

static void
s_on_grad(void *arg)
{
    ((seen_t *)arg)->grads++;
}

static void
test_buckets_and_hooks(void **state)
{
    /* 64 KiB buckets cut cnn's 1.7 MB of gradients into several. */
    ad_model_t *m = s_model("cnn", 1, 28, 28, 1, 64 << 10);
    int nb = ad_torch_bucket_count(m);
    int64_t next = 0, off, cnt;
    float x[N * 784];
    int64_t y[N];
    seen_t seen = {0};
    ad_hooks_t hooks = {s_on_bucket, s_on_grad, &seen};
    ad_err_t err = {0};
    double loss;

    assert_true(nb >= 2);
    for (int b = 0; b < nb; b++) {
        ad_torch_bucket(m, b, &off, &cnt);
        assert_int_equal(off, next);
        assert_true(cnt > 0);
        next = off + cnt;
    }
    assert_int_equal(next, ad_torch_param_count(m));

    s_batch(1, 28, 28, x, y);
    ad_torch_set_hooks(m, &hooks);
    assert_int_equal(ad_torch_forward_backward(m, x, y, N, 1.0 / N, &loss, NULL, &err), 0);
    /* Every bucket once, in order: a sequential network fills them last layer first. */
    assert_int_equal(seen.n, nb);
    for (int b = 0; b < nb; b++)
        assert_int_equal(seen.order[b], b);
    assert_int_equal(seen.grads, 8);
    /* An untrained classifier's mean loss is about ln(10). */
    assert_true(fabs(loss - log(10.0)) < 0.5);

    ad_torch_set_hooks(m, NULL);
    seen.n = 0;
    assert_int_equal(ad_torch_forward_backward(m, x, y, N, 1.0 / N, &loss, NULL, &err), 0);
    assert_int_equal(seen.n, 0);
    ad_torch_model_free(&m);
}

static void
test_gradients_overwrite_and_scale(void **state)
{
    ad_model_t *m = s_model("cnn", 1, 28, 28, 1, 0);
    int64_t p = ad_torch_param_count(m);
    float x[N * 784], *g1 = malloc(p * sizeof(float));
    int64_t y[N], correct = -1;
    ad_err_t err = {0};
    double l1, l2;
    double norm = 0;

    s_batch(1, 28, 28, x, y);
    assert_int_equal(ad_torch_forward_backward(m, x, y, N, 1.0, &l1, &correct, &err), 0);
    assert_true(correct >= 0 && correct <= N);
    memcpy(g1, ad_torch_grads(m), p * sizeof(float));
    for (int64_t i = 0; i < p; i++)
        norm += (double)g1[i] * g1[i];
    assert_true(norm > 0);
    /* A second pass overwrites; it does not add to the first. */
    assert_int_equal(ad_torch_forward_backward(m, x, y, N, 0.5, &l2, NULL, &err), 0);
    assert_true(fabs(l2 - 0.5 * l1) < 1e-4 * fabs(l1));
    for (int64_t i = 0; i < p; i += 97)
        assert_true(fabsf(ad_torch_grads(m)[i] - 0.5f * g1[i]) <= 1e-5f + 1e-4f * fabsf(g1[i]));
    free(g1);
    ad_torch_model_free(&m);
}

static void
test_sgd_exact(void **state)
{
    ad_model_t *m = s_model("mlp", 1, 28, 28, 1, 0);
    int64_t p = ad_torch_param_count(m);
    float x[N * 784], *p0 = malloc(p * sizeof(float)), *g = malloc(p * sizeof(float));
    float *p1 = malloc(p * sizeof(float)), *buf = malloc(p * sizeof(float));
    int64_t y[N];
    ad_optim_t o = {.kind = AD_OPTIM_SGD, .lr = 0.1, .momentum = 0.9, .weight_decay = 0.01};
    ad_err_t err = {0};

    s_batch(1, 28, 28, x, y);
    assert_int_equal(ad_torch_set_optimizer(m, &o, &err), 0);
    memcpy(p0, ad_torch_params(m), p * sizeof(float));
    assert_int_equal(ad_torch_forward_backward(m, x, y, N, 1.0 / N, NULL, NULL, &err), 0);
    memcpy(g, ad_torch_grads(m), p * sizeof(float));
    assert_int_equal(ad_torch_step(m, &err), 0);
    /* PyTorch's first step: buf = g + wd p, p -= lr buf. */
    for (int64_t i = 0; i < p; i++) {
        buf[i] = g[i] + 0.01f * p0[i];
        assert_true(fabsf(ad_torch_params(m)[i] - (p0[i] - 0.1f * buf[i])) < 1e-6f);
    }
    memcpy(p1, ad_torch_params(m), p * sizeof(float));
    assert_int_equal(ad_torch_forward_backward(m, x, y, N, 1.0 / N, NULL, NULL, &err), 0);
    memcpy(g, ad_torch_grads(m), p * sizeof(float));
    assert_int_equal(ad_torch_step(m, &err), 0);
    /* Then buf = 0.9 buf + g + wd p. */
    for (int64_t i = 0; i < p; i++) {
        float b = 0.9f * buf[i] + g[i] + 0.01f * p1[i];

        assert_true(fabsf(ad_torch_params(m)[i] - (p1[i] - 0.1f * b)) < 1e-5f);
    }
    assert_int_equal(ad_torch_optim_steps(m), 2);
    free(p0);
    free(p1);
    free(g);
    free(buf);
    ad_torch_model_free(&m);
}

static void
test_adam_first_step(void **state)
{
    ad_model_t *m = s_model("mlp", 1, 28, 28, 1, 0);
    int64_t p = ad_torch_param_count(m), checked = 0;
    float x[N * 784], *p0 = malloc(p * sizeof(float));
    int64_t y[N];
    ad_optim_t o = {.kind = AD_OPTIM_ADAM, .lr = 1e-3};
    ad_err_t err = {0};

    s_batch(1, 28, 28, x, y);
    assert_int_equal(ad_torch_set_optimizer(m, &o, &err), 0);
    memcpy(p0, ad_torch_params(m), p * sizeof(float));
    assert_int_equal(ad_torch_forward_backward(m, x, y, N, 1.0 / N, NULL, NULL, &err), 0);
    assert_int_equal(ad_torch_step(m, &err), 0);
    /* Bias-corrected, Adam's first step moves each weight by lr against its gradient. */
    for (int64_t i = 0; i < p; i++) {
        float g = ad_torch_grads(m)[i];

        if (fabsf(g) < 1e-4f)
            continue;
        assert_true(fabsf((p0[i] - ad_torch_params(m)[i]) - (g > 0 ? 1e-3f : -1e-3f)) < 1e-5f);
        checked++;
    }
    assert_true(checked > p / 10);
    free(p0);
    ad_torch_model_free(&m);
}

static void
test_optimizer_errors(void **state)
{
    ad_model_t *m = s_model("mlp", 1, 28, 28, 1, 0);
    ad_optim_t o = {.kind = AD_OPTIM_SGD, .lr = 0};
    ad_err_t err = {0};

    assert_int_equal(ad_torch_set_optimizer(m, &o, &err), AD_EINVAL);
    assert_non_null(strstr(err.msg, "learning rate"));
    o.lr = 0.1;
    o.momentum = 1.0;
    assert_int_equal(ad_torch_set_optimizer(m, &o, &err), AD_EINVAL);
    assert_non_null(strstr(err.msg, "momentum"));
    ad_torch_model_free(&m);
}

/* Train every model of the zoo a few steps on one batch: the loss must fall. */
static void
test_every_model_learns(void **state)
{
    static const struct {
        const char *name;
        int c, h, w;
    } zoo[] = {{"mlp", 1, 28, 28}, {"lenet5", 1, 28, 28}, {"cnn", 1, 28, 28},
               {"resnet18", 3, 16, 16}, {"mobilenet_v2", 3, 16, 16}};

    for (size_t i = 0; i < sizeof(zoo) / sizeof(zoo[0]); i++) {
        int per = zoo[i].c * zoo[i].h * zoo[i].w;
        float *x = malloc((size_t)N * per * sizeof(float));
        int64_t y[N], correct;
        ad_model_t *m = s_model(zoo[i].name, zoo[i].c, zoo[i].h, zoo[i].w, 1, 0);
        ad_optim_t o = {.kind = AD_OPTIM_ADAM, .lr = 3e-3};
        ad_err_t err = {0};
        double first = 0, loss = 0, eval_loss;

        s_batch(zoo[i].c, zoo[i].h, zoo[i].w, x, y);
        assert_int_equal(ad_torch_set_optimizer(m, &o, &err), 0);
        for (int s = 0; s < 20; s++) {
            assert_int_equal(ad_torch_forward_backward(m, x, y, N, 1.0 / N, &loss, NULL, &err), 0);
            assert_int_equal(ad_torch_step(m, &err), 0);
            if (s == 0)
                first = loss;
        }
        if (!(loss < 0.7 * first))
            fail_msg("%s: loss %.4f -> %.4f", zoo[i].name, first, loss);
        assert_int_equal(ad_torch_evaluate(m, x, y, N, &eval_loss, &correct, &err), 0);
        assert_true(isfinite(eval_loss));
        assert_true(correct >= 0 && correct <= N);
        free(x);
        ad_torch_model_free(&m);
    }
}

static void
test_batchnorm_buffers(void **state)
{
    ad_model_t *m = s_model("resnet18", 3, 16, 16, 1, 0);
    float x[N * 768];
    int64_t y[N], n;
    float *b = ad_torch_buffers(m, &n), before;
    ad_err_t err = {0};

    assert_non_null(b);
    /* running_mean and running_var of every BatchNorm: 2 x 4800 channels. */
    assert_int_equal(n, 2 * (64 + 4 * 64 + 2 * 128 + 128 + 2 * 128 + 2 * 256 + 256 +
                             2 * 256 + 2 * 512 + 512 + 2 * 512));
    before = b[0];
    s_batch(3, 16, 16, x, y);
    assert_int_equal(ad_torch_forward_backward(m, x, y, N, 1.0 / N, NULL, NULL, &err), 0);
    /* Training updates the running statistics in the flat array itself. */
    assert_true(b[0] != before);

    /* A checkpoint of a model with BatchNorm (its integer counters too) loads back. */
    char path[300];
    float *saved = malloc((size_t)n * sizeof(float));
    assert_non_null(adt_root_make("ad_torch_bn"));
    adt_path(path, sizeof(path), adt_root(), "model.pt");
    assert_int_equal(ad_torch_save(m, path, &err), 0);
    memcpy(saved, b, (size_t)n * sizeof(float));
    assert_int_equal(ad_torch_forward_backward(m, x, y, N, 1.0 / N, NULL, NULL, &err), 0);
    assert_memory_not_equal(saved, b, (size_t)n * sizeof(float));
    assert_int_equal(ad_torch_load(m, path, &err), 0);
    assert_memory_equal(saved, ad_torch_buffers(m, &n), (size_t)n * sizeof(float));
    adt_root_remove();
    free(saved);
    ad_torch_model_free(&m);
}

static void
test_checkpoint_roundtrip(void **state)
{
    char path[300], bad[300];
    ad_model_t *m = s_model("cnn", 1, 28, 28, 1, 0), *other = s_model("mlp", 1, 28, 28, 1, 0);
    int64_t p = ad_torch_param_count(m), n;
    float x[N * 784], *saved = malloc(p * sizeof(float)), *mom = malloc(p * sizeof(float));
    int64_t y[N];
    ad_err_t err = {0};

    assert_non_null(adt_root_make("ad_torch"));
    adt_path(path, sizeof(path), adt_root(), "model.pt");
    s_batch(1, 28, 28, x, y);
    assert_int_equal(ad_torch_forward_backward(m, x, y, N, 1.0 / N, NULL, NULL, &err), 0);
    assert_int_equal(ad_torch_step(m, &err), 0);
    assert_int_equal(ad_torch_save(m, path, &err), 0);
    memcpy(saved, ad_torch_params(m), p * sizeof(float));
    memcpy(mom, ad_torch_optim_state(m, 0, &n), p * sizeof(float));
    assert_int_equal(n, p);

    assert_int_equal(ad_torch_forward_backward(m, x, y, N, 1.0 / N, NULL, NULL, &err), 0);
    assert_int_equal(ad_torch_step(m, &err), 0);
    assert_memory_not_equal(saved, ad_torch_params(m), p * sizeof(float));
    assert_int_equal(ad_torch_load(m, path, &err), 0);
    assert_memory_equal(saved, ad_torch_params(m), p * sizeof(float));
    assert_memory_equal(mom, ad_torch_optim_state(m, 0, &n), p * sizeof(float));
    assert_int_equal(ad_torch_optim_steps(m), 1);

    /* Another architecture, a garbage file, a missing folder. */
    assert_int_equal(ad_torch_load(other, path, &err), AD_ECKPT);
    assert_non_null(strstr(err.msg, "cnn"));
    adt_path(bad, sizeof(bad), adt_root(), "garbage.pt");
    adt_write_file(bad, "this is not a checkpoint");
    assert_int_equal(ad_torch_load(m, bad, &err), AD_ECKPT);
    assert_non_null(strstr(err.msg, "garbage.pt"));
    assert_int_equal(ad_torch_save(m, "/nonexistent/dir/model.pt", &err), AD_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent/dir/model.pt"));

    adt_root_remove();
    free(saved);
    free(mom);
    ad_torch_model_free(&m);
    ad_torch_model_free(&other);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zoo_shapes_and_sizes),
        cmocka_unit_test(test_cnn_flops_exact),
        cmocka_unit_test(test_models_adapt_to_input),
        cmocka_unit_test(test_bad_models),
        cmocka_unit_test(test_same_seed_same_weights),
        cmocka_unit_test(test_buckets_and_hooks),
        cmocka_unit_test(test_gradients_overwrite_and_scale),
        cmocka_unit_test(test_sgd_exact),
        cmocka_unit_test(test_adam_first_step),
        cmocka_unit_test(test_optimizer_errors),
        cmocka_unit_test(test_every_model_learns),
        cmocka_unit_test(test_batchnorm_buffers),
        cmocka_unit_test(test_checkpoint_roundtrip),
    };

    ad_torch_set_threads(1);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
