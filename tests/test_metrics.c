/* test_metrics.c - the trainer's events: JSON lines on disk and METRIC messages to a coordinator */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ad_test.h"
#include "autodist/ad_metrics.h"
#include "autodist/ad_proto.h"

static const char *s_dir; /* this test's temp root */

static int
s_setup(void **st)
{
    s_dir = adt_root_make("ad-test-metrics");
    return s_dir ? 0 : -1;
}

static int
s_teardown(void **st)
{
    return adt_root_remove();
}

/* Line k (from 0) of the file as a JSON object; the caller owns it. */
static json_t *
s_line(const char *text, int k)
{
    const char *p = text;
    json_error_t e;
    json_t *doc;

    for (int i = 0; i < k; i++) {
        p = strchr(p, '\n');
        assert_non_null(p);
        p++;
    }
    doc = json_loadb(p, strcspn(p, "\n"), 0, &e);
    if (!doc)
        fail_msg("line %d is not JSON (%s): %.80s", k + 1, e.text, p);
    return doc;
}

/* Events land one per line, event first, with their fields; a reopen with append keeps them. */
static void
test_file_lines(void **st)
{
    char path[320], text[4096];
    ad_err_t err = {0};
    ad_metrics_t *m;
    json_t *doc;

    snprintf(path, sizeof(path), "%s/metrics.jsonl", s_dir);
    m = ad_metrics_open(path, 0, &err);
    assert_non_null(m);
    assert_int_equal(ad_metrics_emit(m, "start", json_pack("{s:i}", "world", 2), &err), 0);
    assert_int_equal(ad_metrics_emit(m, "step",
                                     json_pack("{s:i, s:f}", "step", 1, "loss", 2.25), &err),
                     0);
    /* Flushed as it goes: a reader sees both lines before the file is closed. */
    adt_read_file(path, text, sizeof(text));
    assert_int_equal(strncmp(text, "{\"event\":\"start\"", 16), 0);
    doc = s_line(text, 1);
    assert_string_equal(json_string_value(json_object_get(doc, "event")), "step");
    assert_int_equal(json_integer_value(json_object_get(doc, "step")), 1);
    assert_true(json_real_value(json_object_get(doc, "loss")) == 2.25);
    json_decref(doc);
    ad_metrics_close(&m);
    assert_null(m);
    ad_metrics_close(&m);

    m = ad_metrics_open(path, 1, &err);
    assert_non_null(m);
    assert_int_equal(ad_metrics_emit(m, "done", NULL, &err), 0);
    ad_metrics_close(&m);
    adt_read_file(path, text, sizeof(text));
    doc = s_line(text, 2);
    assert_string_equal(json_string_value(json_object_get(doc, "event")), "done");
    assert_int_equal(json_object_size(doc), 1);
    json_decref(doc);

    /* Without append the file starts again. */
    m = ad_metrics_open(path, 0, &err);
    ad_metrics_close(&m);
    adt_read_file(path, text, sizeof(text));
    assert_string_equal(text, "");
}

/* A folder that does not exist, a full disk, and no metrics at all. */
static void
test_file_errors(void **st)
{
    char path[320];
    ad_err_t err = {0};
    ad_metrics_t *m;

    snprintf(path, sizeof(path), "%s/missing/metrics.jsonl", s_dir);
    assert_null(ad_metrics_open(path, 0, &err));
    assert_int_equal(err.code, -ENOENT);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "cannot open metrics file"));

    m = ad_metrics_open("/dev/full", 0, &err);
    assert_non_null(m);
    assert_int_equal(ad_metrics_emit(m, "step", json_pack("{s:i}", "step", 1), &err), AD_EIO);
    assert_non_null(strstr(err.msg, "/dev/full: cannot write metrics"));
    ad_metrics_close(&m);

    /* A trainer without --metrics passes NULL: nothing is written, the fields are freed. */
    assert_int_equal(ad_metrics_emit(NULL, "step", json_pack("{s:i}", "step", 1), &err), 0);
    assert_int_equal(ad_metrics_dropped(NULL), 0);
}

/* With a coordinator listening, every event arrives as METRIC {job, event, ...}. */
static void
test_report(void **st)
{
    char ep[64];
    ad_err_t err = {0};
    ad_proto_msg_t msg = {0};
    zsock_t *pull;
    ad_metrics_t *m;
    int port = 0;

    pull = ad_proto_listen(ZMQ_PULL, "tcp://127.0.0.1:*", NULL, &port, &err);
    assert_non_null(pull);
    snprintf(ep, sizeof(ep), "tcp://127.0.0.1:%d", port);
    m = ad_metrics_open(NULL, 0, &err);
    assert_non_null(m);
    assert_int_equal(ad_metrics_report(m, ep, 42, &err), 0);
    assert_int_equal(ad_metrics_emit(m, "start", json_pack("{s:i}", "world", 1), &err), 0);
    assert_int_equal(ad_metrics_emit(m, "step",
                                     json_pack("{s:i, s:i, s:f}", "step", 3, "epoch", 0,
                                               "loss", 0.5),
                                     &err),
                     0);
    assert_int_equal(ad_proto_recv(pull, 5000, &msg, &err), 0);
    assert_int_equal(msg.type, AD_PROTO_METRIC);
    assert_int_equal(json_integer_value(json_object_get(msg.payload, "job")), 42);
    assert_string_equal(json_string_value(json_object_get(msg.payload, "event")), "start");
    ad_proto_msg_clear(&msg);
    assert_int_equal(ad_proto_recv(pull, 5000, &msg, &err), 0);
    assert_string_equal(json_string_value(json_object_get(msg.payload, "event")), "step");
    assert_int_equal(json_integer_value(json_object_get(msg.payload, "step")), 3);
    ad_proto_msg_clear(&msg);
    assert_int_equal(ad_metrics_dropped(m), 0);
    ad_metrics_close(&m);
    zsock_destroy(&pull);
}

/* No coordinator: events are dropped and counted, the call still succeeds. */
static void
test_report_away(void **st)
{
    char ep[64];
    ad_err_t err = {0};
    ad_metrics_t *m = ad_metrics_open(NULL, 0, &err);

    adt_free_endpoint(ep, sizeof(ep));
    assert_int_equal(ad_metrics_report(m, ep, 7, &err), 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(ad_metrics_emit(m, "step", json_pack("{s:i}", "step", i), &err), 0);
    assert_int_equal(ad_metrics_dropped(m), 5);
    ad_metrics_close(&m);

    /* A malformed endpoint is the caller's error, named. */
    m = ad_metrics_open(NULL, 0, &err);
    assert_int_not_equal(ad_metrics_report(m, "nowhere", 7, &err), 0);
    assert_non_null(strstr(err.msg, "nowhere"));
    ad_metrics_close(&m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_lines),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_report),
        cmocka_unit_test(test_report_away),
    };

    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
