/* test_log.c - logging: rate-limited lines under a flood, on a fake clock */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ad_test.h"
#include "autodist/ad_log.h"

static double s_fake;

static double
s_fake_now(void)
{
    return s_fake;
}

/* What stderr received between s_capture_start() and s_capture_end(). */
static int s_saved_fd = -1;
static FILE *s_tmp;

static void
s_capture_start(void)
{
    fflush(stderr);
    s_tmp = tmpfile();
    assert_non_null(s_tmp);
    s_saved_fd = dup(2);
    dup2(fileno(s_tmp), 2);
}

/* The captured text (caller frees) and its number of lines in *lines. */
static char *
s_capture_end(int *lines)
{
    long n;
    char *text;

    fflush(stderr);
    dup2(s_saved_fd, 2);
    close(s_saved_fd);
    n = ftell(s_tmp);
    text = calloc(1, (size_t)n + 1);
    rewind(s_tmp);
    assert_int_equal(fread(text, 1, (size_t)n, s_tmp), (size_t)n);
    fclose(s_tmp);
    *lines = 0;
    for (char *p = text; *p; p++)
        *lines += *p == '\n';
    return text;
}

/* 20,000 HELLOs in 2 s write 5 lines and say how many were held back. */
static void
test_limited_flood(void **state)
{
    int written = 0, lines;
    char *text;

    ad_log_init("test", AD_LOG_INFO);
    ad_log_limit_config(5, 10.0, s_fake_now);
    s_fake = 100.0;
    s_capture_start();
    for (int i = 0; i < 20000; i++) {
        s_fake = 100.0 + i * 0.0001;
        written += ad_log_limited_write("HELLO", AD_LOG_INFO, "node n%d is UP", i);
    }
    /* Another key has its own budget. */
    written += ad_log_limited_write("DOWN", AD_LOG_WARN, "node n1 is DOWN");
    /* The flood stops: nothing more until the interval is over, then the count. */
    s_fake = 105.0;
    assert_int_equal(ad_log_limited_flush(), 0);
    s_fake = 110.5;
    assert_int_equal(ad_log_limited_flush(), 1);
    assert_int_equal(ad_log_limited_flush(), 0);
    /* A new interval has a full budget again. */
    written += ad_log_limited_write("HELLO", AD_LOG_INFO, "node late is UP");
    text = s_capture_end(&lines);
    assert_int_equal(written, 5 + 1 + 1);
    assert_int_equal(lines, 5 + 1 + 1 + 1);
    adt_assert_has(text, "test: info: node n4 is UP\n");
    assert_null(strstr(text, "node n5 is UP"));
    adt_assert_has(text, "test: warn: node n1 is DOWN\n");
    adt_assert_has(text, "test: info: HELLO: 19995 similar lines suppressed in the last 10 s\n");
    adt_assert_has(text, "node late is UP");
    free(text);
}

/* The count also comes with the key's next line once the interval is over. */
static void
test_limited_next_line(void **state)
{
    int lines;
    char *text;

    ad_log_limit_config(1, 1.0, s_fake_now);
    s_fake = 0;
    s_capture_start();
    assert_int_equal(ad_log_limited_write("malformed", AD_LOG_WARN, "bad %d", 1), 1);
    assert_int_equal(ad_log_limited_write("malformed", AD_LOG_WARN, "bad %d", 2), 0);
    s_fake = 2.0;
    assert_int_equal(ad_log_limited_write("malformed", AD_LOG_WARN, "bad %d", 3), 1);
    /* Below the level nothing is written nor counted. */
    ad_log_level = AD_LOG_ERROR;
    ad_log_limited(("malformed"), AD_LOG_WARN, "bad %d", 4);
    ad_log_level = AD_LOG_INFO;
    text = s_capture_end(&lines);
    assert_int_equal(lines, 3);
    adt_assert_has(text, "warn: bad 1\n");
    adt_assert_has(text, "warn: malformed: 1 similar line suppressed in the last 2 s\n");
    adt_assert_has(text, "warn: bad 3\n");
    free(text);
    ad_log_limit_config(AD_LOG_LIMIT_BURST, AD_LOG_LIMIT_INTERVAL_S, NULL);
}

/* Lines written to a file start with their UTC time to the millisecond; OFF writes none. */
static void
test_stamps(void **state)
{
    char buf[40], *text;
    int lines;

    assert_string_equal(ad_log_stamp(0.0, buf, sizeof(buf)), "1970-01-01T00:00:00.000Z");
    assert_string_equal(ad_log_stamp(1796553667.1234, buf, sizeof(buf)),
                        "2026-12-06T10:41:07.123Z");
    ad_log_init("test", AD_LOG_INFO);
    s_capture_start(); /* a regular file: AUTO stamps */
    ad_log_write(AD_LOG_INFO, "stamped");
    ad_log_stamps(AD_LOG_STAMPS_OFF);
    ad_log_write(AD_LOG_INFO, "plain");
    ad_log_stamps(AD_LOG_STAMPS_AUTO);
    text = s_capture_end(&lines);
    assert_int_equal(lines, 2);
    assert_true(text[4] == '-' && text[10] == 'T' && text[19] == '.' && text[23] == 'Z');
    assert_memory_equal(text + 24, " test: info: stamped\n", 21);
    adt_assert_has(text, "\ntest: info: plain\n");
    free(text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stamps),
        cmocka_unit_test(test_limited_flood),
        cmocka_unit_test(test_limited_next_line),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
