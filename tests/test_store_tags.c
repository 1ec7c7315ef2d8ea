/* test_store_tags.c - runs as experiments in the store: a job's name, spec, tags, note; import keys
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

#include "../cli/ad_tfevents.h"
#include "store_fixture.h"

/* A job whose spec carries tags and a note, as `submit --tag --note` sends it. */
static int64_t
s_add_job(ad_store_t *store, const char *name, const char *spec)
{
    ad_job_row_t job;
    int64_t id = 0;

    ad_store_job_row_init(&job);
    job.name = (char *)name;
    job.spec = (char *)spec;
    assert_int_equal(ad_store_add_job(store, &job, &id), 0);
    return id;
}

/* The coordinator's run of a job gets its name, spec, note and tags; reading a run reads them. */
static void
test_adopt_job(void **st)
{
    char path[512];
    ad_store_t *store = sft_new_store(path, sizeof(path), "adopt");
    int64_t job, plain, run, other;
    ad_run_t r;

    (void)st;
    job = s_add_job(store, "tagged",
                    "{\"model\":\"cnn\",\"optimizer\":{\"lr\":0.02},\"note\":\"first try\","
                    "\"tags\":{\"study\":\"scaling\",\"trial\":\"3\"}}");
    plain = s_add_job(store, "plain", "{\"model\":\"cnn\"}");
    sft_run(&r, 1, 1, 1, AD_JOB_RUNNING, NAN);
    r.job = job;
    run = sft_add_run(store, &r);
    r.job = plain;
    other = sft_add_run(store, &r);
    assert_int_equal(ad_store_run_adopt_job(store, run, job), 0);
    assert_int_equal(ad_store_run_adopt_job(store, other, plain), 0);
    assert_int_equal(ad_store_run_adopt_job(store, run, 999), -ENOENT);
    assert_string_equal(ad_store_errmsg(store), "job 999: no such job");
    assert_int_equal(ad_store_run_adopt_job(store, 999, job), -ENOENT);
    assert_int_equal(ad_store_get_run(store, run, &r), 0);
    assert_string_equal(r.name, "tagged");
    assert_non_null(strstr(r.spec, "\"lr\":0.02"));
    assert_string_equal(r.note, "first try");
    assert_string_equal(r.tags, "{\"study\":\"scaling\",\"trial\":\"3\"}");
    ad_store_run_clear(&r);
    assert_int_equal(ad_store_get_run(store, other, &r), 0);
    assert_string_equal(r.name, "plain");
    assert_null(r.note);
    assert_string_equal(r.tags, "{}");
    ad_store_run_clear(&r);
    ad_store_close(&store);
}

/* Tags and notes are set, replaced and removed; bad keys and missing runs are refused. */
static void
test_tags_and_notes(void **st)
{
    char path[512], text[64];
    ad_store_t *store = sft_new_store(path, sizeof(path), "tags");
    ad_run_t r;
    int64_t run;
    bool seen;

    (void)st;
    sft_run(&r, 1, 2, 1, AD_JOB_COMPLETED, 1800);
    run = sft_add_run(store, &r);
    assert_int_equal(ad_store_set_tag(store, run, "study", "scaling"), 0);
    assert_int_equal(ad_store_set_tag(store, run, "study", "speed"), 0);
    assert_int_equal(ad_store_set_tag(store, run, "v1.2-x_y", ""), 0);
    assert_int_equal(ad_store_set_tag(store, run, "bad key", "x"), AD_EINVAL);
    assert_non_null(strstr(ad_store_errmsg(store), "tag key \"bad key\""));
    assert_int_equal(ad_store_set_tag(store, 999, "a", "b"), -ENOENT);
    assert_int_equal(ad_store_remove_tag(store, run, "nope"), -ENOENT);
    assert_string_equal(ad_store_errmsg(store), "run 1 has no tag \"nope\"");
    assert_int_equal(ad_store_set_note(store, run, "a note"), 0);
    assert_int_equal(ad_store_set_note(store, 999, "x"), -ENOENT);
    assert_int_equal(ad_store_get_run(store, run, &r), 0);
    assert_string_equal(r.tags, "{\"study\":\"speed\",\"v1.2-x_y\":\"\"}");
    assert_string_equal(r.note, "a note");
    ad_store_run_clear(&r);
    assert_int_equal(ad_store_remove_tag(store, run, "v1.2-x_y"), 0);
    assert_int_equal(ad_store_set_note(store, run, ""), 0);
    assert_int_equal(ad_store_get_run(store, run, &r), 0);
    assert_string_equal(r.tags, "{\"study\":\"speed\"}");
    assert_null(r.note);
    ad_store_run_clear(&r);
    sft_raw_text(path, "SELECT count(*) FROM run_tags", text, sizeof(text));
    assert_string_equal(text, "1");
    /* Import keys: found once set, and unique. */
    assert_int_equal(ad_store_import_key_exists(store, "csv1:00", &seen), 0);
    assert_false(seen);
    assert_int_equal(ad_store_set_import_key(store, run, "csv1:00"), 0);
    assert_int_equal(ad_store_import_key_exists(store, "csv1:00", &seen), 0);
    assert_true(seen);
    sft_run(&r, 1, 1, 1, AD_JOB_COMPLETED, 1000);
    run = sft_add_run(store, &r);
    assert_int_equal(ad_store_set_import_key(store, run, "csv1:00"), AD_EDB);
    assert_int_equal(ad_store_set_import_key(store, 999, "csv1:01"), -ENOENT);
    ad_store_close(&store);
}

/* Usage columns and the list of sweeps. */
static void
test_usage_and_sweeps(void **st)
{
    char path[512];
    ad_store_t *store = sft_new_store(path, sizeof(path), "usage");
    ad_sweep_row_t sw = {0}, *rows = NULL;
    double cpu;
    int64_t rss, run;
    size_t n = 0;
    ad_run_t r;

    (void)st;
    sft_run(&r, 1, 1, 1, AD_JOB_COMPLETED, 1000);
    run = sft_add_run(store, &r);
    assert_int_equal(ad_store_run_usage(store, run, &cpu, &rss), 0);
    assert_true(isnan(cpu));
    assert_int_equal(rss, 0);
    sft_raw_exec(path, "UPDATE runs SET cpu_time_s = 12.5, max_rss_bytes = 1048576");
    assert_int_equal(ad_store_run_usage(store, run, &cpu, &rss), 0);
    assert_near(cpu, 12.5);
    assert_int_equal(rss, 1048576);
    assert_int_equal(ad_store_run_usage(store, 999, &cpu, &rss), -ENOENT);
    assert_int_equal(ad_store_list_sweeps(store, &rows, &n), 0);
    assert_int_equal(n, 0);
    sw.name = "b-sweep";
    sw.file_hash = "h1";
    assert_int_equal(ad_store_add_sweep(store, &sw, NULL, NULL), 0);
    sw.name = "a-sweep";
    assert_int_equal(ad_store_add_sweep(store, &sw, NULL, NULL), 0);
    assert_int_equal(ad_store_list_sweeps(store, &rows, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(rows[0].name, "b-sweep");
    assert_string_equal(rows[1].name, "a-sweep");
    ad_store_sweep_rows_free(&rows, n);
    ad_store_close(&store);
}

/* The event file's checksums: CRC-32C's check value and TFRecord's mask. */
static void
test_tfevents_crc(void **st)
{
    (void)st;
    assert_int_equal(ad_tfevents_crc32c("123456789", 9), 0xe3069283u);
    assert_int_equal(ad_tfevents_crc32c("", 0), 0);
    assert_int_equal(ad_tfevents_mask(0), 0xa282ead8u);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_adopt_job, sft_teardown),
        cmocka_unit_test_teardown(test_tags_and_notes, sft_teardown),
        cmocka_unit_test_teardown(test_usage_and_sweeps, sft_teardown),
        cmocka_unit_test(test_tfevents_crc),
    };

    return cmocka_run_group_tests_name("store_tags", tests, sft_group_setup, sft_group_teardown);
}
