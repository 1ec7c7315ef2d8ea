/* test_ckpt.c - a checkpoint folder: names, retention, the final model, resume candidates */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ad_test.h"
#include "autodist/ad_ckpt.h"

/* Make each name (NULL-terminated) a file in dir holding its own name. */
static void
s_touch(const char *dir, const char *const *names)
{
    for (; *names; names++)
        adt_write_in(dir, *names, *names, strlen(*names));
}

/* The names in dir, sorted, joined by spaces. */
static void
s_assert_listing(const char *dir, const char *want)
{
    struct dirent **ents;
    char got[1024] = "";
    int n = scandir(dir, &ents, NULL, alphasort);

    assert_true(n >= 0);
    for (int i = 0; i < n; i++) {
        if (ents[i]->d_name[0] != '.') {
            if (got[0])
                strcat(got, " ");
            strcat(got, ents[i]->d_name);
        }
        free(ents[i]);
    }
    free(ents);
    if (strcmp(got, want) != 0)
        fail_msg("%s holds \"%s\", expected \"%s\"", dir, got, want);
}

static void
test_list_and_names(void **state)
{
    static const char *const names[] = {"model-1.pt",   "model-10.pt",    "model-2.pt",
                                        "model-x.pt",   "model-.pt",      "model-3.pt.tmp",
                                        "model-4.ptx",  "other.pt",       "model--5.pt",
                                        "model-07.pt~", "model.pt",       NULL};
    char dir[400];
    int64_t *steps;
    size_t n;
    ad_err_t err = {0};
    char *p;

    adt_fresh_dir(dir, sizeof(dir), "list");
    s_touch(dir, names);
    assert_int_equal(ad_ckpt_list(dir, &steps, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(steps[0], 10);
    assert_int_equal(steps[1], 2);
    assert_int_equal(steps[2], 1);
    free(steps);

    p = ad_ckpt_model_path("/x/ck", 420);
    assert_string_equal(p, "/x/ck/model-420.pt");
    free(p);

    assert_int_equal(ad_ckpt_list("/nonexistent/ck", &steps, &n, &err), -ENOENT);
    assert_null(steps);
    adt_assert_has(err.msg, "/nonexistent/ck: cannot read checkpoint folder");

    assert_true(ad_ckpt_is_full(-ENOSPC));
    assert_true(ad_ckpt_is_full(-EDQUOT));
    assert_false(ad_ckpt_is_full(AD_EIO));
    assert_false(ad_ckpt_is_full(0));
}

static void
test_prune(void **state)
{
    static const char *const names[] = {"model-1.pt", "model-2.pt", "model-3.pt",
                                        "model-8.pt", "model-9.pt.tmp", "state.json.tmp",
                                        "state.json", "model-x.pt", "notes.txt", NULL};
    char dir[400];

    adt_fresh_dir(dir, sizeof(dir), "prune");
    s_touch(dir, names);
    /* After saving step 3: 3 and 2 stay; 1 is old, 8 is from a run that never got there. */
    assert_int_equal(ad_ckpt_prune(dir, 3, 2), 2);
    s_assert_listing(dir, "model-2.pt model-3.pt model-x.pt notes.txt state.json");
    assert_int_equal(ad_ckpt_prune(dir, 3, 1), 1);
    s_assert_listing(dir, "model-3.pt model-x.pt notes.txt state.json");
    /* 0 keeps every one (at or below the step). */
    s_touch(dir, (const char *const[]){"model-1.pt", "model-2.pt", NULL});
    assert_int_equal(ad_ckpt_prune(dir, 3, 0), 0);
    s_assert_listing(dir, "model-1.pt model-2.pt model-3.pt model-x.pt notes.txt state.json");
}

static void
test_state_and_finish(void **state)
{
    char dir[400], path[500], text[256];
    json_t *js;
    ad_err_t err = {0};

    adt_fresh_dir(dir, sizeof(dir), "finish");
    s_touch(dir, (const char *const[]){"model-2.pt", "model-4.pt", NULL});
    js = json_pack("{s:s, s:i, s:s}", "model", "cnn", "step", 4, "file", "model-4.pt");
    assert_int_equal(ad_ckpt_write_state(dir, js, &err), 0);
    adt_path(path, sizeof(path), dir, "state.json");
    adt_read_file(path, text, sizeof(text));
    assert_string_equal(text, "{\n  \"model\": \"cnn\",\n  \"step\": 4,\n  \"file\": \"model-4.pt\"\n}\n");

    /* Kept: the step files stay, model.pt is the last one. */
    assert_int_equal(ad_ckpt_finish(dir, 4, js, true, &err), 0);
    s_assert_listing(dir, "model-2.pt model-4.pt model.pt state.json");
    adt_path(path, sizeof(path), dir, "model.pt");
    adt_read_file(path, text, sizeof(text));
    assert_string_equal(text, "model-4.pt");
    adt_path(path, sizeof(path), dir, "state.json");
    adt_read_file(path, text, sizeof(text));
    adt_assert_has(text, "\"file\": \"model.pt\"");

    /* Not kept: only the final model and its state. */
    assert_int_equal(ad_ckpt_finish(dir, 4, js, false, &err), 0);
    s_assert_listing(dir, "model.pt state.json");
    /* A finished run resumed and ended again: nothing to promote, nothing lost. */
    assert_int_equal(ad_ckpt_finish(dir, 4, js, false, &err), 0);
    s_assert_listing(dir, "model.pt state.json");
    /* The old layout (no "file") finished and resumed: the same. */
    json_object_del(js, "file");
    assert_int_equal(ad_ckpt_write_state(dir, js, &err), 0);
    assert_int_equal(ad_ckpt_finish(dir, 4, js, false, &err), 0);
    s_assert_listing(dir, "model.pt state.json");
    /* No checkpoint of that step at all. */
    json_object_set_new(js, "file", json_string("model-6.pt"));
    assert_int_equal(ad_ckpt_finish(dir, 6, js, false, &err), AD_ECKPT);
    adt_assert_has(err.msg, "no checkpoint of step 6");

    assert_int_equal(ad_ckpt_write_state("/nonexistent/ck", js, &err), AD_EIO);
    adt_assert_has(err.msg, "/nonexistent/ck/state.json: cannot write checkpoint state: "
                            "no such file or directory (wrote 0 of ");
    json_decref(js);
}

static void
test_candidates(void **state)
{
    char dir[400], want[500];
    ad_ckpt_cand_t *c;
    size_t n;
    ad_err_t err = {0};
    json_t *js;

    adt_fresh_dir(dir, sizeof(dir), "cands");
    s_touch(dir, (const char *const[]){"model-2.pt", "model-4.pt", "model-6.pt", NULL});
    /* The file state.json names, then the older step files, newest first. */
    js = json_pack("{s:i, s:s}", "step", 4, "file", "model-4.pt");
    assert_int_equal(ad_ckpt_candidates(dir, js, &c, &n, &err), 0);
    assert_int_equal(n, 2);
    snprintf(want, sizeof(want), "%s/model-4.pt", dir);
    assert_string_equal(c[0].path, want);
    assert_int_equal(c[0].step, 4);
    snprintf(want, sizeof(want), "%s/model-2.pt", dir);
    assert_string_equal(c[1].path, want);
    assert_int_equal(c[1].step, 2);
    ad_ckpt_cands_free(c, n);
    json_decref(js);

    /* The old layout: no "file" is model.pt. */
    js = json_pack("{s:i}", "step", 7);
    assert_int_equal(ad_ckpt_candidates(dir, js, &c, &n, &err), 0);
    assert_int_equal(n, 4);
    snprintf(want, sizeof(want), "%s/model.pt", dir);
    assert_string_equal(c[0].path, want);
    assert_int_equal(c[0].step, 7);
    assert_int_equal(c[1].step, 6);
    assert_int_equal(c[3].step, 2);
    ad_ckpt_cands_free(c, n);
    json_decref(js);

    js = json_pack("{s:i, s:s}", "step", 4, "file", "../../etc/passwd");
    assert_int_equal(ad_ckpt_candidates(dir, js, &c, &n, &err), AD_ECKPT);
    adt_assert_has(err.msg, "\"file\" must be model.pt or model-<step>.pt");
    json_decref(js);
    js = json_pack("{s:s}", "step", "four");
    assert_int_equal(ad_ckpt_candidates(dir, js, &c, &n, &err), AD_ECKPT);
    adt_assert_has(err.msg, "state.json: step must be a non-negative integer");
    assert_null(c);
    ad_ckpt_cands_free(c, n);
    json_decref(js);
}

static void
test_mkdirs(void **state)
{
    char dir[400], deep[500];
    ad_err_t err = {0};

    adt_fresh_dir(dir, sizeof(dir), "mkdirs");
    adt_path(deep, sizeof(deep), dir, "a/b/c");
    assert_int_equal(ad_ckpt_mkdirs(deep, &err), 0);
    assert_int_equal(ad_ckpt_mkdirs(deep, &err), 0);
    adt_write_in(dir, "file", "x", 1);
    adt_path(deep, sizeof(deep), dir, "file/sub");
    assert_int_equal(ad_ckpt_mkdirs(deep, &err), -ENOTDIR);
    adt_assert_has(err.msg, "cannot create checkpoint folder");
}

static int
s_group_setup(void **state)
{
    return adt_root_make("test_ckpt") ? 0 : -1;
}

static int
s_group_teardown(void **state)
{
    return adt_root_remove();
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_and_names), cmocka_unit_test(test_prune),
        cmocka_unit_test(test_state_and_finish), cmocka_unit_test(test_candidates),
        cmocka_unit_test(test_mkdirs),
    };

    return cmocka_run_group_tests(tests, s_group_setup, s_group_teardown);
}
