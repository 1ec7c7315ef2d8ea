/* test_serve_metrics.c - autodist-serve's metrics (serve/ad_serve_metrics.c): one process, and
 * --processes P sharing one region: forked children's counters summed in every scrape, ready
 * only when all are, a dead process's slot
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ad_serve.h"

/* Whether text has line as a whole line. */
static bool
s_has(const char *text, const char *line)
{
    size_t n = strlen(line);

    for (const char *p = strstr(text, line); p; p = strstr(p + 1, line))
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return true;
    return false;
}

#define assert_line(text, line)                                                                    \
    do {                                                                                           \
        if (!s_has((text), (line)))                                                                \
            fail_msg("no line \"%s\" in:\n%s", (line), (text));                                    \
    } while (0)

/* The text of m with a fixed model. */
static char *
s_text(ad_serve_metrics_t *m)
{
    return ad_serve_metrics_text(m, "tiny \"colours\"", "tiny-cnn", "fp32");
}

/* Count n predictions answered 200 in seconds each, in this process's slot. */
static void
s_predict(ad_serve_metrics_t *m, int n, double seconds)
{
    for (int i = 0; i < n; i++)
        ad_serve_metrics_on_done(m, "POST", "/api/predict", 200, seconds, true);
}

/*
 * Fork a child that writes slot process: n predictions, a batch of n, a queue, ready; then it
 * exits with 0 or kills itself with SIGKILL.  Returns its wait status.
 */
static int
s_child(ad_serve_metrics_t *m, int process, int n, int queue, bool die)
{
    int st = 0;
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        ad_serve_metrics_attach(m, process);
        s_predict(m, n, 0.02);
        ad_serve_metrics_batch(m, n, 0.015);
        ad_serve_metrics_queue(m, queue);
        ad_serve_metrics_ready(m);
        if (die)
            raise(SIGKILL);
        _exit(0);
    }
    ad_serve_metrics_started(m, process, (int)pid);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_int_equal(ad_serve_metrics_process(m, process).pid, (int)pid);
    return st;
}

/* --processes 1: today's text, no series per process. */
static void
test_one_process(void **state)
{
    ad_serve_metrics_t *m = ad_serve_metrics_new(1);
    char *text;

    (void)state;
    ad_serve_metrics_attach(m, 0);
    s_predict(m, 3, 0.004);
    ad_serve_metrics_on_done(m, "GET", "/nope", 404, 0.001, true);
    ad_serve_metrics_on_done(m, "POST", "/api/predict", 200, 0.5, false);
    ad_serve_metrics_error(m, AD_SERVE_ERR_DECODE);
    ad_serve_metrics_batch(m, 3, 0.003);
    ad_serve_metrics_queue(m, 2);
    text = s_text(m);
    assert_line(text, "autodist_serve_requests_total{path=\"/api/predict\",status=\"200\"} 3");
    assert_line(text, "autodist_serve_requests_total{path=\"/api/predict\",status=\"0\"} 1");
    assert_line(text, "autodist_serve_requests_total{path=\"other\",status=\"404\"} 1");
    assert_line(text, "autodist_serve_errors_total{kind=\"decode\"} 1");
    assert_line(text, "autodist_serve_errors_total{kind=\"not_found\"} 1");
    assert_line(text, "autodist_serve_errors_total{kind=\"client_gone\"} 1");
    assert_line(text, "autodist_serve_request_duration_seconds_bucket{le=\"0.0025\"} 0");
    assert_line(text, "autodist_serve_request_duration_seconds_bucket{le=\"0.005\"} 3");
    assert_line(text, "autodist_serve_request_duration_seconds_bucket{le=\"+Inf\"} 3");
    assert_line(text, "autodist_serve_request_duration_seconds_sum 0.012000");
    assert_line(text, "autodist_serve_request_duration_seconds_count 3");
    assert_line(text, "autodist_serve_batch_size_bucket{le=\"2\"} 0");
    assert_line(text, "autodist_serve_batch_size_bucket{le=\"4\"} 1");
    assert_line(text, "autodist_serve_batch_size_sum 3.000000");
    assert_line(text, "autodist_serve_inference_seconds_count 1");
    assert_line(text, "autodist_serve_queue_depth 2");
    assert_line(text, "autodist_serve_ready 0");
    assert_line(text, "autodist_serve_model_info{name=\"tiny \\\"colours\\\"\",arch=\"tiny-cnn\","
                      "variant=\"fp32\"} 1");
    assert_null(strstr(text, "autodist_serve_process"));
    free(text);
    ad_serve_metrics_ready(m);
    text = s_text(m);
    assert_line(text, "autodist_serve_ready 1");
    assert_null(strstr(text, "autodist_serve_process"));
    free(text);
    assert_int_equal(ad_serve_metrics_processes(m), 1);
    assert_int_equal(ad_serve_metrics_ready_count(m), 1);
    assert_int_equal(ad_serve_metrics_process(m, 0).pid, (int)getpid());
    ad_serve_metrics_free(&m);
    assert_null(m);
    ad_serve_metrics_free(&m);
}

/* --processes 3: what forked children count shows in the parent's text, summed. */
static void
test_processes(void **state)
{
    ad_serve_metrics_t *m = ad_serve_metrics_new(3);
    char *text, how[96];
    int st;

    (void)state;
    ad_serve_metrics_attach(m, 0);
    s_predict(m, 2, 0.004);
    ad_serve_metrics_batch(m, 2, 0.003);
    assert_int_equal(WEXITSTATUS(s_child(m, 1, 5, 7, false)), 0);
    text = s_text(m);
    assert_line(text, "autodist_serve_requests_total{path=\"/api/predict\",status=\"200\"} 7");
    assert_line(text, "autodist_serve_request_duration_seconds_bucket{le=\"0.005\"} 2");
    assert_line(text, "autodist_serve_request_duration_seconds_bucket{le=\"0.025\"} 7");
    assert_line(text, "autodist_serve_request_duration_seconds_count 7");
    assert_line(text, "autodist_serve_request_duration_seconds_sum 0.108000");
    assert_line(text, "autodist_serve_batch_size_bucket{le=\"2\"} 1");
    assert_line(text, "autodist_serve_batch_size_bucket{le=\"8\"} 2");
    assert_line(text, "autodist_serve_batch_size_sum 7.000000");
    assert_line(text, "autodist_serve_batch_size_count 2");
    assert_line(text, "autodist_serve_queue_depth 7");
    /* Only process 2 is ready: the server is not. */
    assert_line(text, "autodist_serve_ready 0");
    assert_line(text, "autodist_serve_processes 3");
    assert_line(text, "autodist_serve_process_ready{process=\"1\"} 0");
    assert_line(text, "autodist_serve_process_ready{process=\"2\"} 1");
    assert_line(text, "autodist_serve_process_ready{process=\"3\"} 0");
    assert_line(text, "autodist_serve_process_up{process=\"3\"} 1");
    assert_line(text, "autodist_serve_process_queue_depth{process=\"2\"} 7");
    assert_line(text, "autodist_serve_process_requests_total{process=\"1\"} 2");
    assert_line(text, "autodist_serve_process_requests_total{process=\"2\"} 5");
    assert_line(text, "autodist_serve_process_requests_total{process=\"3\"} 0");
    free(text);
    assert_int_equal(ad_serve_metrics_ready_count(m), 1);

    /* Process 3 gets ready, queues 4, then is killed: dead, its counters stay, its queue not. */
    st = s_child(m, 2, 1, 4, true);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(ad_serve_metrics_process(m, 2).state, AD_SERVE_PROC_READY);
    ad_serve_metrics_ended(m, 2, st);
    assert_int_equal(ad_serve_metrics_process(m, 2).state, AD_SERVE_PROC_DEAD);
    assert_int_equal(ad_serve_metrics_process(m, 2).wstatus, st);
    assert_string_equal(ad_serve_metrics_how(st, how, sizeof(how)), "killed by signal 9 (Killed)");
    ad_serve_metrics_ready(m);
    assert_int_equal(ad_serve_metrics_ready_count(m), 2);
    text = s_text(m);
    assert_line(text, "autodist_serve_requests_total{path=\"/api/predict\",status=\"200\"} 8");
    assert_line(text, "autodist_serve_batch_size_count 3");
    assert_line(text, "autodist_serve_queue_depth 7");
    assert_line(text, "autodist_serve_ready 0");
    assert_line(text, "autodist_serve_process_up{process=\"3\"} 0");
    assert_line(text, "autodist_serve_process_ready{process=\"3\"} 0");
    assert_line(text, "autodist_serve_process_queue_depth{process=\"3\"} 0");
    assert_line(text, "autodist_serve_process_requests_total{process=\"3\"} 1");
    free(text);
    ad_serve_metrics_free(&m);
}

/* How a process ended, in words. */
static void
test_how(void **state)
{
    char how[96];

    (void)state;
    assert_string_equal(ad_serve_metrics_how(3 << 8, how, sizeof(how)), "exited with status 3");
    assert_string_equal(ad_serve_metrics_how(0, how, sizeof(how)), "exited with status 0");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_process),
        cmocka_unit_test(test_processes),
        cmocka_unit_test(test_how),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
