/* infer_fixture.c - the engine's answers against a training model's (infer_fixture.h) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "infer_fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

float *
ift_inputs(int n, int per, unsigned seed)
{
    float *x = malloc(sizeof(float) * (size_t)n * (size_t)per);

    assert_non_null(x);
    for (int i = 0; i < n * per; i++) {
        seed = seed * 1103515245u + 12345u;
        x[i] = (float)((seed >> 8) & 0xFFFF) / 32768.0f - 1.0f;
    }
    return x;
}

void
ift_check_same(ad_model_t *m, ad_infer_t *inf, const float *x, int n, int per, int classes,
               const char *what)
{
    float *z = calloc((size_t)n * (size_t)classes, sizeof(*z));
    ad_err_t err = {0};
    double worst = 0;

    assert_non_null(z);
    assert_int_equal(ad_infer_run(inf, x, n, z, &err), 0);
    for (int i = 0; i < n; i++) {
        double mx = -INFINITY, lse = 0;

        for (int k = 0; k < classes; k++)
            mx = fmax(mx, z[i * classes + k]);
        for (int k = 0; k < classes; k++)
            lse += exp(z[i * classes + k] - mx);
        lse = mx + log(lse);
        for (int k = 0; k < classes; k++) {
            int64_t y = k;
            double loss = 0, got = lse - z[i * classes + k];

            if (ad_torch_evaluate(m, x + (size_t)i * per, &y, 1, &loss, NULL, &err))
                fail_msg("%s: evaluate: %s", what, err.msg);
            worst = fmax(worst, fabs(loss - got) / fmax(1.0, fabs(loss)));
            if (getenv("AD_TEST_VERBOSE"))
                printf("%s i=%d k=%d want %g got %g\n", what, i, k, loss, got);
        }
    }
    free(z);
    if (worst > 1e-3)
        fail_msg("%s: the engine's log-softmax differs from the model's by %g", what, worst);
}
