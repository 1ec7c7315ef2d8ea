/* test_store_models.c - the models table: artifacts, their figures, lookups by id, path or name */
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

#include "store_fixture.h"

/* A model row named name at path, variant, made from parent. */
static int64_t
s_put(ad_store_t *store, const char *name, const char *path, const char *variant, int64_t parent)
{
    ad_model_row_t m;
    int64_t id = 0;

    ad_store_model_row_init(&m);
    m.name = (char *)name;
    m.path = (char *)path;
    m.arch = (char *)"cnn";
    m.variant = (char *)variant;
    m.parent = parent;
    m.size_bytes = 1000;
    m.params = 250;
    assert_int_equal(ad_store_put_model(store, &m, &id), 0);
    assert_true(id > 0);
    return id;
}

/* Rows are added, found by id, path or name, measured, replaced by path and forgotten. */
static void
test_models(void **st)
{
    char path[512];
    ad_store_t *store = sft_new_store(path, sizeof(path), "models");
    ad_model_row_t m, *rows = NULL;
    int64_t fp32, int8, again;
    size_t n = 0;

    (void)st;
    fp32 = s_put(store, "m1", "/tmp/m1", "fp32", 0);
    int8 = s_put(store, "m1-int8", "/tmp/m1-int8", "int8", fp32);
    assert_int_equal(ad_store_get_model(store, int8, &m), 0);
    assert_string_equal(m.variant, "int8");
    assert_int_equal(m.parent, fp32);
    assert_true(isnan(m.accuracy) && isnan(m.p50_ms) && isnan(m.measured));
    assert_int_equal(m.size_bytes, 1000);
    assert_true(m.created > 0);
    ad_store_model_row_clear(&m);

    /* Figures: accuracy alone, then latency alone, each keeps the other. */
    ad_store_model_row_init(&m);
    m.accuracy = 0.875;
    m.test_samples = 1000;
    assert_int_equal(ad_store_set_model_figures(store, fp32, &m), 0);
    ad_store_model_row_init(&m);
    m.p50_ms = 1.5;
    m.p95_ms = 2.0;
    m.tput_b32 = 3000;
    m.threads = 2;
    m.backend = (char *)"oneDNN";
    assert_int_equal(ad_store_set_model_figures(store, fp32, &m), 0);
    assert_int_equal(ad_store_set_model_figures(store, 999, &m), -ENOENT);
    assert_int_equal(ad_store_find_model(store, "/tmp/m1", &m), 0);
    assert_int_equal(m.id, fp32);
    assert_near(m.accuracy, 0.875);
    assert_int_equal(m.test_samples, 1000);
    assert_near(m.p50_ms, 1.5);
    assert_near(m.tput_b32, 3000);
    assert_int_equal(m.threads, 2);
    assert_string_equal(m.backend, "oneDNN");
    assert_false(isnan(m.measured));
    ad_store_model_row_clear(&m);

    /* Lookups: id, name (newest of that name), unknown. */
    assert_int_equal(ad_store_find_model(store, "m1-int8", &m), 0);
    assert_int_equal(m.id, int8);
    ad_store_model_row_clear(&m);
    assert_int_equal(ad_store_find_model(store, "2", &m), 0);
    assert_int_equal(m.id, int8);
    ad_store_model_row_clear(&m);
    assert_int_equal(ad_store_find_model(store, "77", &m), -ENOENT);
    assert_non_null(strstr(ad_store_errmsg(store), "model 77: no such model"));
    assert_int_equal(ad_store_find_model(store, "nope", &m), -ENOENT);
    assert_non_null(strstr(ad_store_errmsg(store), "model nope: no such model"));

    /* The same path again replaces the row and keeps its id; bad rows are refused. */
    again = s_put(store, "m1b", "/tmp/m1", "fp32", 0);
    assert_int_equal(again, fp32);
    ad_store_model_row_init(&m);
    m.name = (char *)"x";
    m.path = (char *)"/tmp/x";
    m.arch = (char *)"cnn";
    m.variant = (char *)"int8";
    m.parent = 99;
    assert_int_equal(ad_store_put_model(store, &m, NULL), -ENOENT);
    m.parent = 0;
    m.run = 42;
    assert_int_equal(ad_store_put_model(store, &m, NULL), -ENOENT);
    m.run = 0;
    m.name = NULL;
    assert_int_equal(ad_store_put_model(store, &m, NULL), AD_EINVAL);

    /* Removing the parent keeps the variant, with no parent. */
    assert_int_equal(ad_store_remove_model(store, fp32), 0);
    assert_int_equal(ad_store_remove_model(store, fp32), -ENOENT);
    assert_int_equal(ad_store_list_models(store, &rows, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].id, int8);
    assert_int_equal(rows[0].parent, 0);
    ad_store_model_rows_free(&rows, n);
    assert_null(rows);
    ad_store_close(&store);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_models, sft_teardown),
    };

    return cmocka_run_group_tests_name("store_models", tests, sft_group_setup, sft_group_teardown);
}
