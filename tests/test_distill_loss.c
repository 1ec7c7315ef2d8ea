/* test_distill_loss.c - the distillation loss of the libtorch shim against a hand computation */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ad_test.h"
#include "autodist/ad_torch.h"

#define N 4
#define K 3

/* |a - b| <= eps, saying both when not (this cmocka has no assert_double_equal). */
#define S_NEAR(a, b, eps)                                                                          \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!(fabs(a_ - b_) <= (eps)))                                                             \
            fail_msg("%s = %.12g, expected %s = %.12g", #a, a_, #b, b_);                           \
    } while (0)

static const float s_student[N * K] = {2.0f, 1.0f, 0.1f, -1.0f, 0.5f, 3.0f,
                                       0.0f, 0.0f, 0.0f, 1.5f,  -2.f, 0.7f};
static const float s_teacher[N * K] = {3.0f, 0.2f, -1.0f, 0.0f,  1.0f, 2.0f,
                                       1.0f, 2.0f, 3.0f,  -0.5f, 0.5f, 0.9f};
static const int64_t s_y[N] = {0, 2, 1, 0};

/* log softmax(v / T) of K values into out, by hand. */
static void
s_log_softmax(const float *v, double t, double *out)
{
    double m = -INFINITY, sum = 0;

    for (int k = 0; k < K; k++)
        m = fmax(m, v[k] / t);
    for (int k = 0; k < K; k++)
        sum += exp(v[k] / t - m);
    for (int k = 0; k < K; k++)
        out[k] = v[k] / t - m - log(sum);
}

/* The summed KL(softmax(t/T) || softmax(s/T)) and cross-entropy of the batch, by hand. */
static void
s_hand(double t, double *kl, double *ce)
{
    *kl = *ce = 0;
    for (int i = 0; i < N; i++) {
        double ls[K], lt[K], l1[K];

        s_log_softmax(s_student + i * K, t, ls);
        s_log_softmax(s_teacher + i * K, t, lt);
        s_log_softmax(s_student + i * K, 1, l1);
        for (int k = 0; k < K; k++)
            *kl += exp(lt[k]) * (lt[k] - ls[k]);
        *ce -= l1[s_y[i]];
    }
}

static double
s_loss(double t, double alpha)
{
    ad_err_t err = {0};
    double loss = NAN;

    if (ad_torch_kd_loss(s_student, s_teacher, s_y, N, K, t, alpha, &loss, &err))
        fail_msg("kd loss: %s", err.msg);
    return loss;
}

/* alpha = 1, T = 1 is the KL; alpha = 0 is the cross-entropy; between, the weighted sum. */
static void
test_against_hand(void **state)
{
    double kl, ce, kl2, ce2;

    (void)state;
    s_hand(1, &kl, &ce);
    assert_true(kl > 0.1 && ce > 0.1);
    S_NEAR(s_loss(1, 1), kl, 1e-9);
    S_NEAR(s_loss(1, 0), ce, 1e-9);
    S_NEAR(s_loss(4, 0), ce, 1e-9);
    s_hand(2, &kl2, &ce2);
    S_NEAR(s_loss(2, 0.3), 0.3 * 4 * kl2 + 0.7 * ce2, 1e-9);
    S_NEAR(s_loss(2, 1), 4 * kl2, 1e-9);
}

/* Bad temperatures and alphas are refused, not computed. */
static void
test_bad_values(void **state)
{
    ad_err_t err = {0};
    double loss = 0;

    (void)state;
    assert_int_equal(ad_torch_kd_loss(s_student, s_teacher, s_y, N, K, 0, 0.5, &loss, &err),
                     AD_EINVAL);
    adt_assert_has(err.msg, "temperature must be > 0");
    assert_int_equal(ad_torch_kd_loss(s_student, s_teacher, s_y, N, K, 1, 1.5, &loss, &err),
                     AD_EINVAL);
    assert_int_equal(ad_torch_kd_loss(s_student, s_teacher, s_y, N, K, NAN, 0.5, &loss, &err),
                     AD_EINVAL);
}

static ad_model_t *
s_mlp(void)
{
    ad_model_opts_t o = {
        .name = "mlp", .channels = 1, .height = 4, .width = 4, .classes = K, .seed = 3};
    ad_err_t err = {0};
    ad_model_t *m = NULL;

    if (ad_torch_model_new(&o, &m, &err))
        fail_msg("mlp: %s", err.msg);
    return m;
}

/*
 * On a model: alpha = 0 trains like the plain cross-entropy (same loss, same gradients);
 * a teacher that is the student itself at alpha = 1 gives a zero loss and zero gradients.
 */
static void
test_forward_backward(void **state)
{
    ad_model_t *m = s_mlp();
    int64_t np = ad_torch_param_count(m), correct = -1, y[N] = {0, 1, 2, 1};
    float x[N * 16], logits[N * K], *g0 = malloc((size_t)np * sizeof(float));
    double loss0, loss1;
    ad_err_t err = {0};

    (void)state;
    for (int i = 0; i < N * 16; i++)
        x[i] = (float)((i * 37) % 11) / 5.0f - 1.0f;
    assert_int_equal(ad_torch_forward_backward(m, x, y, N, 0.25, &loss0, NULL, &err), 0);
    memcpy(g0, ad_torch_grads(m), (size_t)np * sizeof(float));
    assert_int_equal(ad_torch_logits(m, x, N, K, logits, &err), 0);
    /* A teacher far from the student: at alpha 0 it must not matter. */
    for (int i = 0; i < N * K; i++)
        logits[i] = (float)(i % 5) - 2.0f;
    assert_int_equal(
        ad_torch_forward_backward_kd(m, x, y, N, logits, K, 4, 0, 0.25, &loss1, &correct, &err), 0);
    S_NEAR(loss1, loss0, 1e-5);
    assert_true(correct >= 0 && correct <= N);
    for (int64_t i = 0; i < np; i++)
        S_NEAR(ad_torch_grads(m)[i], g0[i], 1e-5);
    /* The student as its own teacher. */
    assert_int_equal(ad_torch_logits(m, x, N, K, logits, &err), 0);
    assert_int_equal(
        ad_torch_forward_backward_kd(m, x, y, N, logits, K, 2, 1, 0.25, &loss1, NULL, &err), 0);
    S_NEAR(loss1, 0, 1e-6);
    for (int64_t i = 0; i < np; i++)
        S_NEAR(ad_torch_grads(m)[i], 0, 1e-5);
    /* A teacher with another number of classes is refused with a message. */
    assert_int_equal(ad_torch_logits(m, x, N, K + 1, logits, &err), AD_EINVAL);
    adt_assert_has(err.msg, "the student's data has 4 classes");
    free(g0);
    ad_torch_model_free(&m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_hand),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_forward_backward),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
