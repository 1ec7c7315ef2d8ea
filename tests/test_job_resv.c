/* test_job_resv.c - unit tests of a job file's reservation: section: values, errors, JSON, hash */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ad_test.h"

#include "autodist/ad_job.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char s_base[] = "name: r\nmodel: cnn\ndataset: synthetic\nbatch_size: 8\n";

/* Parse base + extra as file "r.yaml"; returns ad_job_parse_string's code. */
static int
s_parse(const char *extra, ad_job_t *job, ad_err_t *err)
{
    char text[1024];

    snprintf(text, sizeof(text), "%s%s", s_base, extra);
    memset(err, 0, sizeof(*err));
    return ad_job_parse_string(text, "r.yaml", job, err);
}

static void
test_full_section(void **state)
{
    ad_job_t job, back;
    ad_err_t err;
    char *json, h1[17], h2[17];

    (void)state;
    assert_int_equal(s_parse("", &job, &err), 0);
    assert_false(job.reservation.set);
    ad_job_hash(&job, h1);
    ad_job_clear(&job);

    assert_int_equal(s_parse("reservation:\n  nodes: 4\n  walltime: 2:30:00\n"
                             "  properties: \"cluster='gros' and gpu_count > 0\"\n"
                             "  queue: production\n  types: [deploy, besteffort]\n"
                             "  project: lab-42\n  name: scaling-study\n"
                             "  start_at: \"2026-12-24 19:00:00\"\n  keep: true\n",
                             &job, &err),
                     0);
    assert_true(job.reservation.set);
    assert_string_equal(job.reservation.backend, "oar");
    assert_int_equal(job.reservation.nodes, 4);
    assert_int_equal(job.reservation.walltime_s, 2 * 3600 + 30 * 60);
    assert_string_equal(job.reservation.properties, "cluster='gros' and gpu_count > 0");
    assert_string_equal(job.reservation.queue, "production");
    assert_string_equal(job.reservation.types[0], "deploy");
    assert_string_equal(job.reservation.types[1], "besteffort");
    assert_null(job.reservation.types[2]);
    assert_string_equal(job.reservation.project, "lab-42");
    assert_string_equal(job.reservation.name, "scaling-study");
    assert_string_equal(job.reservation.start_at, "2026-12-24 19:00:00");
    assert_true(job.reservation.keep);
    assert_null(job.reservation.job);

    /* Canonical JSON keeps it and reads back the same; the hash ignores it. */
    json = ad_job_to_json(&job);
    adt_assert_has(json, "\"walltime\":\"2:30:00\"");
    adt_assert_has(json, "\"types\":[\"deploy\",\"besteffort\"]");
    assert_int_equal(ad_job_from_json(json, &back, &err), 0);
    assert_int_equal(back.reservation.walltime_s, job.reservation.walltime_s);
    assert_string_equal(back.reservation.properties, job.reservation.properties);
    assert_true(back.reservation.keep);
    ad_job_hash(&job, h2);
    assert_string_equal(h1, h2);
    free(json);
    ad_job_clear(&back);

    /* A copy owns its strings. */
    ad_job_copy(&back, &job);
    ad_job_clear(&job);
    assert_string_equal(back.reservation.types[1], "besteffort");
    ad_job_clear(&back);
}

static void
test_short_forms(void **state)
{
    ad_job_t job;
    ad_err_t err;

    (void)state;
    assert_int_equal(s_parse("reservation: {nodes: 2, walltime: 90m, types: night}\n", &job,
                             &err),
                     0);
    assert_int_equal(job.reservation.walltime_s, 5400);
    assert_string_equal(job.reservation.types[0], "night");
    ad_job_clear(&job);
    assert_int_equal(s_parse("reservation: {nodes: 1, walltime: \"1:05\"}\n", &job, &err), 0);
    assert_int_equal(job.reservation.walltime_s, 3900);
    ad_job_clear(&job);
    assert_int_equal(s_parse("reservation: {job: 1234}\n", &job, &err), 0);
    assert_string_equal(job.reservation.job, "1234");
    assert_int_equal(job.reservation.nodes, 0);
    ad_job_clear(&job);
    assert_int_equal(s_parse("reservation: {job: my-study}\n", &job, &err), 0);
    assert_string_equal(job.reservation.job, "my-study");
    ad_job_clear(&job);
    /* null: no reservation. */
    assert_int_equal(s_parse("reservation: ~\n", &job, &err), 0);
    assert_false(job.reservation.set);
    ad_job_clear(&job);
}

static void
test_errors(void **state)
{
    static const struct {
        const char *yaml, *where, *words;
    } bad[] = {
        {"reservation: {nodes: 2, walltime: 25:99}\n", "5:35", "reservation.walltime must be"},
        {"reservation: {nodes: 2, walltime: 400d}\n", "5:35", "365 days"},
        {"reservation: {nodes: 2}\n", "5:14", "reservation needs walltime"},
        {"reservation: {walltime: 1h}\n", "5:14", "reservation needs nodes"},
        {"reservation: {nodse: 2, walltime: 1h}\n", "5:15", "did you mean nodes?"},
        {"reservation: {job: 12, nodes: 2}\n", "5:14", "give job or a new request, not both"},
        {"reservation: {nodes: 0, walltime: 1h}\n", "5:22", "reservation.nodes must be"},
        {"reservation: {nodes: 1, walltime: 1h, start_at: tomorrow}\n", "5:49",
         "YYYY-MM-DD HH:MM:SS"},
        {"reservation: 5\n", "5:14", "reservation must be a mapping"},
        {"reservation: {nodes: 1, walltime: 1h, backend: slurm}\n", "5:48", "must be oar"},
        {"reservation: {nodes: 1, walltime: 1h, queue: 'a b'}\n", "5:46", "not a queue name"},
        {"reservation: {nodes: 1, walltime: 1h, types: [ok, 'x;y']}\n", "5:51", "not a job type"},
        {"reservation: {nodes: 1, walltime: 1h, types: {a: b}}\n", "5:46", "reservation.types"},
        {"reservation: {nodes: 1, walltime: 1h, properties: \"a\\nb\"}\n", "5:51",
         "control characters"},
        {"reservation: {nodes: 1, walltime: 1h, keep: maybe}\n", "5:45", "reservation.keep"},
        {"reservation: {nodes: 1, walltime: 1h, name: 'no way'}\n", "5:45", "reservation.name"},
        {"reservation: {nodes: 1, nodes: 2, walltime: 1h}\n", "5:25", "duplicate"},
    };
    ad_job_t job;
    ad_err_t err;
    char prefix[64];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        if (s_parse(bad[i].yaml, &job, &err) != AD_EPARSE)
            fail_msg("%s: accepted", bad[i].yaml);
        snprintf(prefix, sizeof(prefix), "r.yaml:%s: ", bad[i].where);
        if (strncmp(err.msg, prefix, strlen(prefix)))
            fail_msg("%s: expected \"%s...\", got \"%s\"", bad[i].yaml, prefix, err.msg);
        adt_assert_has(err.msg, bad[i].words);
        assert_null(strchr(err.msg, '\n'));
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_section),
        cmocka_unit_test(test_short_forms),
        cmocka_unit_test(test_errors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
