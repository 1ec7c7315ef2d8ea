/*
 * test_torch_graph.c - training models built from inference artifacts (fine-tuning a pruned
 * model, job key finetune:): the same answers as the engine, pruned weights held at zero,
 * the graph exported back, checkpoints, and the artifacts refused
 */
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
#include "infer_fixture.h"
#include "autodist/ad_infer.h"
#include "autodist/ad_torch.h"

#define N 4
#define CLASSES 10

/* A zoo model trained a few steps, exported to a fresh folder (into dir) and loaded. */
static ad_infer_t *
s_artifact(const char *name, int c, int h, int w, char *dir, size_t len)
{
    ad_model_opts_t o = {
        .name = name, .channels = c, .height = h, .width = w, .classes = CLASSES, .seed = 5};
    ad_optim_t opt = {.kind = AD_OPTIM_SGD, .lr = 0.05, .momentum = 0.9};
    ad_err_t err = {0};
    ad_model_t *m = NULL;
    ad_igraph_t *g = NULL;
    ad_infer_t *inf = NULL;
    int64_t y[8];
    float *x = ift_inputs(8, c * h * w, 3);
    char meta[128];

    if (ad_torch_model_new(&o, &m, &err) || ad_torch_set_optimizer(m, &opt, &err))
        fail_msg("%s: %s", name, err.msg);
    for (int i = 0; i < 8; i++)
        y[i] = i % CLASSES;
    for (int s = 0; s < 3; s++)
        if (ad_torch_forward_backward(m, x, y, 8, 1.0 / 8, NULL, NULL, &err) ||
            ad_torch_step(m, &err))
            fail_msg("train %s: %s", name, err.msg);
    if (ad_torch_export(m, &g, &err))
        fail_msg("export %s: %s", name, err.msg);
    adt_fresh_dir(dir, len, name);
    snprintf(meta, sizeof meta, "{\"arch\": \"%s\"}", name);
    if (ad_igraph_save(g, dir, meta, &err) || ad_infer_load(dir, &inf, &err))
        fail_msg("save %s: %s", name, err.msg);
    ad_igraph_free(&g);
    ad_torch_model_free(&m);
    free(x);
    return inf;
}

/* Prune inf into a fresh folder (into dir) and load the result. */
static ad_infer_t *
s_pruned(ad_infer_t *inf, bool structured, char *dir, size_t len)
{
    ad_err_t err = {0};
    ad_infer_t *p = NULL;

    adt_fresh_dir(dir, len, structured ? "pruned-s" : "pruned");
    if (ad_infer_prune(inf, 0.5, structured, dir, "{\"variant\": \"pruned50\"}", &err) ||
        ad_infer_load(dir, &p, &err))
        fail_msg("prune: %s", err.msg);
    return p;
}

/* A training model built from the artifact in dir. */
static ad_model_t *
s_from(const char *dir, int c, int h, int w)
{
    ad_model_opts_t o = {
        .channels = c, .height = h, .width = w, .classes = CLASSES, .seed = 9, .artifact = dir};
    ad_err_t err = {0};
    ad_model_t *m = NULL;

    if (ad_torch_model_new(&o, &m, &err))
        fail_msg("model from %s: %s", dir, err.msg);
    return m;
}

/* The model's eval forward against the engine on the same artifact (infer_fixture.c). */
static void
s_check_same(ad_model_t *m, ad_infer_t *inf, const float *x, int per, const char *what)
{
    ift_check_same(m, inf, x, N, per, CLASSES, what);
}

/* Zero weights of every conv and linear node of inf (a fp32 graph). */
static int64_t
s_zeros(const ad_infer_t *inf)
{
    ad_err_t err = {0};
    int64_t zeros = 0;

    for (int k = 0; k < ad_infer_node_count(inf); k++) {
        ad_inode_t n;

        assert_int_equal(ad_infer_node(inf, k, &n, &err), 0);
        for (int64_t i = 0; n.weight && i < n.weight_n; i++)
            zeros += n.weight[i] == 0.0f;
    }
    return zeros;
}

/* Export m to a fresh folder and load it. */
static ad_infer_t *
s_export(ad_model_t *m, const char *tag)
{
    char dir[512];
    ad_err_t err = {0};
    ad_igraph_t *g = NULL;
    ad_infer_t *inf = NULL;

    adt_fresh_dir(dir, sizeof dir, tag);
    if (ad_torch_export(m, &g, &err) || ad_igraph_save(g, dir, "{\"arch\": \"x\"}", &err) ||
        ad_infer_load(dir, &inf, &err))
        fail_msg("export %s: %s", tag, err.msg);
    ad_igraph_free(&g);
    return inf;
}

/* Every architecture (residual sums, depthwise, ReLU6, pools, linear first): same answers. */
static void
test_same_answers_as_the_engine(void **state)
{
    static const struct {
        const char *name;
        int c, h, w;
        bool structured;
    } cases[] = {
        {"mlp", 1, 28, 28, false},         {"cnn", 1, 28, 28, true},
        {"lenet5", 1, 28, 28, false},      {"resnet18", 3, 16, 16, true},
        {"mobilenet_v2", 3, 16, 16, true},
    };
    char dir[512], pdir[512];

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int per = cases[i].c * cases[i].h * cases[i].w;
        ad_infer_t *fp =
            s_artifact(cases[i].name, cases[i].c, cases[i].h, cases[i].w, dir, sizeof dir);
        ad_infer_t *p = s_pruned(fp, cases[i].structured, pdir, sizeof pdir);
        ad_model_t *m = s_from(pdir, cases[i].c, cases[i].h, cases[i].w);
        float *x = ift_inputs(N, per, 11 + (unsigned)i);

        /* As many parameters as the pruned graph (structured: fewer than the parent's). */
        assert_int_equal(ad_torch_param_count(m), ad_infer_params(p));
        if (cases[i].structured)
            assert_true(ad_infer_params(p) < ad_infer_params(fp));
        s_check_same(m, p, x, per, cases[i].name);
        /* Exported untouched, it is the same graph again. */
        ad_infer_t *back = s_export(m, "back");
        assert_int_equal(ad_infer_params(back), ad_infer_params(p));
        s_check_same(m, back, x, per, cases[i].name);
        ad_infer_free(&back);
        ad_torch_model_free(&m);
        ad_infer_free(&p);
        ad_infer_free(&fp);
        free(x);
    }
}

/*
 * Magnitude-pruned weights stay zero through SGD with momentum and weight decay, while the
 * others learn: the loss of a fixed batch falls, and the export has the same zeros.
 */
static void
test_pruned_weights_stay_zero(void **state)
{
    char dir[512], pdir[512], ck[600];
    ad_infer_t *fp = s_artifact("cnn", 1, 28, 28, dir, sizeof dir);
    ad_infer_t *p = s_pruned(fp, false, pdir, sizeof pdir);
    ad_model_t *m = s_from(pdir, 1, 28, 28);
    ad_optim_t opt = {.kind = AD_OPTIM_SGD, .lr = 0.05, .momentum = 0.9, .weight_decay = 1e-3};
    ad_err_t err = {0};
    int64_t y[N] = {1, 2, 3, 4}, zeros = s_zeros(p);
    float *x = ift_inputs(N, 784, 21);
    double first = 0, last = 0;

    (void)state;
    assert_true(zeros > ad_infer_params(p) / 3);
    assert_int_equal(ad_torch_set_optimizer(m, &opt, &err), 0);
    for (int s = 0; s < 6; s++) {
        double loss = 0;

        if (ad_torch_forward_backward(m, x, y, N, 1.0 / N, &loss, NULL, &err) ||
            ad_torch_step(m, &err))
            fail_msg("step %d: %s", s, err.msg);
        if (s == 0)
            first = loss;
        last = loss;
    }
    assert_true(last < first);
    ad_infer_t *tuned = s_export(m, "tuned");
    assert_int_equal(s_zeros(tuned), zeros);
    /* And at the same places: every weight zero in the pruned graph is zero in the tuned one. */
    for (int k = 0; k < ad_infer_node_count(p); k++) {
        ad_inode_t a, b;

        assert_int_equal(ad_infer_node(p, k, &a, &err), 0);
        assert_int_equal(ad_infer_node(tuned, k, &b, &err), 0);
        assert_int_equal(a.weight_n, b.weight_n);
        for (int64_t i = 0; a.weight && i < a.weight_n; i++)
            if (a.weight[i] == 0.0f)
                assert_true(b.weight[i] == 0.0f);
    }
    /* A checkpoint of it loads into another model built from the same artifact. */
    snprintf(ck, sizeof ck, "%s/model.pt", pdir);
    assert_int_equal(ad_torch_save(m, ck, &err), 0);
    ad_model_t *m2 = s_from(pdir, 1, 28, 28);
    assert_int_equal(ad_torch_set_optimizer(m2, &opt, &err), 0);
    assert_int_equal(ad_torch_load(m2, ck, &err), 0);
    s_check_same(m2, tuned, x, 784, "reloaded");
    ad_torch_model_free(&m2);
    ad_infer_free(&tuned);
    ad_torch_model_free(&m);
    ad_infer_free(&p);
    ad_infer_free(&fp);
    free(x);
}

/* What cannot be trained from is refused with a message naming it, never a crash. */
static void
test_refused(void **state)
{
    char dir[512], qdir[512], empty[512];
    ad_infer_t *fp = s_artifact("cnn", 1, 28, 28, dir, sizeof dir);
    ad_model_opts_t o = {.channels = 1, .height = 28, .width = 28, .classes = CLASSES};
    ad_err_t err = {0};
    ad_model_t *m = NULL;
    float *x = ift_inputs(N, 784, 5);

    (void)state;
    /* Another input shape, other classes, another architecture's name. */
    o.artifact = dir;
    o.height = o.width = 32;
    assert_int_equal(ad_torch_model_new(&o, &m, &err), AD_EINVAL);
    adt_assert_has(err.msg, "takes 1x28x28 images into 10 classes, the data gives 1x32x32");
    o.height = o.width = 28;
    o.classes = 4;
    assert_int_equal(ad_torch_model_new(&o, &m, &err), AD_EINVAL);
    adt_assert_has(err.msg, "into 10 classes, the data gives 1x28x28 into 4");
    o.classes = CLASSES;
    o.name = "resnet18";
    assert_int_equal(ad_torch_model_new(&o, &m, &err), AD_EINVAL);
    adt_assert_has(err.msg, "is a cnn, not a resnet18");
    o.name = "cnn";
    assert_int_equal(ad_torch_model_new(&o, &m, &err), 0);
    ad_torch_model_free(&m);
    /* int8, not an artifact. */
    adt_fresh_dir(qdir, sizeof qdir, "q");
    assert_int_equal(ad_infer_quantize(fp, x, N, 1, 28, 28, qdir, NULL, &err), 0);
    o.artifact = qdir;
    assert_int_equal(ad_torch_model_new(&o, &m, &err), AD_EINVAL);
    adt_assert_has(err.msg, "int8");
    adt_fresh_dir(empty, sizeof empty, "empty");
    o.artifact = empty;
    assert_int_not_equal(ad_torch_model_new(&o, &m, &err), 0);
    adt_assert_has(err.msg, "model.json");
    assert_null(m);
    /* The node reader's own bounds. */
    ad_inode_t n;
    assert_int_equal(ad_infer_node(fp, -1, &n, &err), AD_EINVAL);
    assert_int_equal(ad_infer_node(fp, ad_infer_node_count(fp), &n, &err), AD_EINVAL);
    ad_infer_free(&fp);
    free(x);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_answers_as_the_engine),
        cmocka_unit_test(test_pruned_weights_stay_zero),
        cmocka_unit_test(test_refused),
    };

    adt_root_make("torch_graph");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
