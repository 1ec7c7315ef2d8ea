/* test_cli.c - `autodist` run as a program: exit codes, messages, --json, up/down, jobs */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ad_test.h"
#include "cli_fixture.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "autodist/ad_proto.h"
#include "autodist/ad_store.h"
#include "autodist/ad_version.h"

typedef adt_result_t result_t; /* what one run of autodist left */

typedef adt_proc_t proc_t; /* autodist started in the background */

static char s_home[256];      /* the cluster group's home */
static char s_ep[3][64];      /* the cluster group's client, agent and metrics endpoints */
static char s_host[256];      /* this machine's host name */
static char s_never_job[300]; /* a valid job that needs 8 nodes */
static char s_auto_job[300];  /* a valid job with layout: auto */

/* ---- no coordinator needed ------------------------------------------------------------- */

static const char *const s_commands[] = {"up",    "down", "submit", "status", "cancel",
                                         "nodes", "logs", "jobs",   "runs"};

/* --help everywhere exits 0; the version; usage errors exit 2 with one "autodist:" line. */
static void
test_help_and_usage(void **st)
{
    char want[64];

    cft_expect(cft_cli("--help", NULL), 0);
    assert_non_null(strstr(cft_res.out, "exit status"));
    assert_non_null(strstr(cft_res.out, "cannot be reached"));
    cft_expect(cft_cli("--version", NULL), 0);
    assert_string_equal(cft_res.out, "autodist " AD_VERSION "\n");
    cft_expect(cft_cli("help", NULL), 0);
    assert_non_null(strstr(cft_res.out, "commands:"));
    for (size_t i = 0; i < sizeof(s_commands) / sizeof(s_commands[0]); i++) {
        snprintf(want, sizeof(want), "usage: autodist %s", s_commands[i]);
        cft_expect(cft_cli(s_commands[i], "--help", NULL), 0);
        assert_non_null(strstr(cft_res.out, want));
        assert_non_null(strstr(cft_res.out, "--json"));
        cft_expect(cft_cli("help", s_commands[i], NULL), 0);
        assert_non_null(strstr(cft_res.out, want));
        /* Global options after the command, --help anywhere. */
        cft_expect(cft_cli(s_commands[i], "--json", "--home", "/nonexistent", "--help", NULL), 0);
        assert_non_null(strstr(cft_res.out, want));
    }

    cft_expect(cft_cli(NULL), 2);
    assert_non_null(strstr(cft_res.err, "autodist: no command given"));
    cft_expect(cft_cli("help", "frobnicate", NULL), 2);
    cft_expect(cft_cli("frobnicate", NULL), 2);
    assert_string_equal(cft_res.err, "autodist: no command \"frobnicate\" (try autodist --help)\n");
    cft_expect(cft_cli("--bogus", "status", NULL), 2);
    assert_non_null(strstr(cft_res.err, "unknown option --bogus"));
    cft_expect(cft_cli("status", "--bogus", NULL), 2);
    assert_non_null(strstr(cft_res.err, "autodist: status: unknown option --bogus"));
    cft_expect(cft_cli("status", "--home", NULL), 2);
    assert_non_null(strstr(cft_res.err, "needs a value"));
    cft_expect(cft_cli("up", "--agents", "0", NULL), 2);
    assert_non_null(strstr(cft_res.err, "--agents must be an integer in 1..250, got \"0\""));
    cft_expect(cft_cli("up", "--agents", "251", NULL), 2);
    cft_expect(cft_cli("up", "--agents", "2x", NULL), 2);
    cft_expect(cft_cli("up", "--agent-endpoint", "localhost:7401", NULL), 2);
    assert_non_null(strstr(cft_res.err, "bad endpoint"));
    cft_expect(cft_cli("cancel", NULL), 2);
    cft_expect(cft_cli("cancel", "12", "abc", NULL), 2);
    assert_non_null(strstr(cft_res.err, "a job id must be an integer"));
    cft_expect(cft_cli("status", "1", "2", NULL), 2);
    cft_expect(cft_cli("status", "0", NULL), 2);
    cft_expect(cft_cli("jobs", "--state", "SLEEPING", NULL), 2);
    assert_non_null(strstr(cft_res.err, "--state must be PENDING"));
    cft_expect(cft_cli("jobs", "--limit", "0", NULL), 2);
    cft_expect(cft_cli("jobs", "extra", NULL), 2);
    cft_expect(cft_cli("submit", NULL), 2);
    cft_expect(cft_cli("submit", "a.yaml", "b.yaml", NULL), 2);
    cft_expect(cft_cli("submit", AD_SOURCE_DIR "/tests/jobs/good-minimal.yaml", "--follow-interval",
                       "0", NULL),
               2);
    cft_expect(cft_cli("logs", NULL), 2);
    cft_expect(cft_cli("logs", "-3", NULL), 2);
    cft_expect(cft_cli("runs", "--limit", "many", NULL), 2);
    cft_expect(cft_cli("nodes", "extra", NULL), 2);
    cft_expect(cft_cli("down", "extra", NULL), 2);
    cft_expect(cft_cli("--coordinator", "localhost:7400", "status", NULL), 2);
    assert_non_null(strstr(cft_res.err, "bad coordinator endpoint \"localhost:7400\""));
    /* Each error is one line. */
    assert_non_null(strchr(cft_res.err, '\n'));
    assert_int_equal(strchr(cft_res.err, '\n')[1], '\0');
}

/* Every malformed job file: exit 2 with the parser's FILE:LINE:COL line, before any request. */
static void
test_bad_job_files(void **st)
{
    static const struct {
        const char *file;
        const char *says;
    } cases[] = {
        {"bad-tabs.yaml", ":6:1: tab character in indentation"},
        {"bad-truncated.yaml", "is the file truncated?"},
        {"bad-unknown-key.yaml", ":4:1: unknown key \"batch-size\" (did you mean batch_size?)"},
        {"bad-negative.yaml", ":12:13: batch_size must be a positive integer"},
        {"bad-huge.yaml", "got \"99999999999999999999\""},
        {"bad-huge-batch.yaml", "got \"2147483648\""},
        {"bad-type-bool.yaml", "eval must be true or false, got \"yes\""},
        {"bad-type-quoted.yaml", "got the string \"128\""},
        {"bad-type-lr.yaml", "optimizer.lr must be a number"},
        {"bad-missing-path.yaml", ":4:16: dataset.imagefolder.path must be an existing folder"},
        {"bad-empty.yaml", ":1:1: empty job file"},
        {"bad-duplicate.yaml", "duplicate key model"},
    };
    char ep[64], path[512], prefix[600];
    struct dirent *e;
    DIR *d;
    int n = 0;

    /* Nothing listens there: a request would take seconds and exit 3. */
    adt_free_endpoint(ep, sizeof(ep));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(path, sizeof(path), AD_SOURCE_DIR "/tests/jobs/%s", cases[i].file);
        cft_expect(cft_cli("--coordinator", ep, "submit", path, "--wait", NULL), 2);
        snprintf(prefix, sizeof(prefix), "autodist: %s:", path);
        assert_memory_equal(cft_res.err, prefix, strlen(prefix));
        if (!strstr(cft_res.err, cases[i].says))
            fprintf(stderr, "%s: expected \"%s\" in: %s", cases[i].file, cases[i].says,
                    cft_res.err);
        assert_non_null(strstr(cft_res.err, cases[i].says));
        assert_string_equal(cft_res.out, "");
        assert_true(cft_res.seconds < 3.0);
    }
    /* And every other bad file of tests/jobs says FILE:LINE:COL: too. */
    d = opendir(AD_SOURCE_DIR "/tests/jobs");
    assert_non_null(d);
    while ((e = readdir(d))) {
        const char *colon;
        int line = 0, col = 0;

        if (strncmp(e->d_name, "bad-", 4))
            continue;
        snprintf(path, sizeof(path), AD_SOURCE_DIR "/tests/jobs/%s", e->d_name);
        cft_expect(cft_cli("--coordinator", ep, "--json", "submit", path, NULL), 2);
        snprintf(prefix, sizeof(prefix), "autodist: %s:", path);
        assert_memory_equal(cft_res.err, prefix, strlen(prefix));
        colon = cft_res.err + strlen(prefix);
        assert_int_equal(sscanf(colon, "%d:%d:", &line, &col), 2);
        assert_true(line >= 1 && col >= 1);
        n++;
    }
    closedir(d);
    assert_true(n >= 30);
    /* A file that is not there. */
    cft_expect(cft_cli("--coordinator", ep, "submit", "/nonexistent/job.yaml", NULL), 2);
    assert_non_null(strstr(cft_res.err, "autodist: /nonexistent/job.yaml"));
    assert_non_null(strstr(cft_res.err, "No such file or directory"));
}

/* No coordinator: every request exits 3 within ~5 s and names the endpoint. */
static void
test_unreachable(void **st)
{
    static const char *const cmds[][4] = {
        {"status", NULL},
        {"nodes", NULL},
        {"jobs", "--limit", "3", NULL},
        {"cancel", "4", NULL},
        {"logs", "4", NULL},
        {"submit", AD_SOURCE_DIR "/tests/jobs/good-minimal.yaml", "--wait", NULL},
    };
    enum { N = sizeof(cmds) / sizeof(cmds[0]) };
    proc_t p[N];
    result_t *r = malloc(sizeof(result_t) * N);
    char ep[64];

    assert_non_null(r);
    adt_free_endpoint(ep, sizeof(ep));
    /* All at once: each only waits. */
    for (int i = 0; i < N; i++) {
        const char *args[8] = {"--coordinator", ep};
        int n = 2;

        for (int j = 0; cmds[i][j]; j++)
            args[n++] = cmds[i][j];
        args[n] = NULL;
        adt_start(&p[i], AD_CLI_BIN, args, cft_tmp);
    }
    for (int i = 0; i < N; i++) {
        adt_finish(&p[i], &r[i], CFT_DEADLINE_S);
        if (r[i].status != 3)
            fprintf(stderr, "%s: exit %d: %s", cmds[i][0], r[i].status, r[i].err);
        assert_int_equal(r[i].status, 3);
        assert_true(r[i].seconds < 9.0);
        assert_non_null(strstr(r[i].err, "autodist: cannot reach the coordinator at "));
        assert_non_null(strstr(r[i].err, ep));
        assert_non_null(strstr(r[i].err, "autodist up"));
    }
    free(r);
}

/* `down` with nothing running says so and exits 0, quickly. */
static void
test_down_not_running(void **st)
{
    char home[256], ep[64];
    json_t *doc;

    snprintf(home, sizeof(home), "%s/home-idle", cft_tmp);
    adt_free_endpoint(ep, sizeof(ep));
    cft_expect(cft_cli("--home", home, "--coordinator", ep, "down", NULL), 0);
    assert_string_equal(cft_res.out, "autodist is not running\n");
    assert_true(cft_res.seconds < 5.0);
    cft_expect(cft_cli("down", "--json", "--home", home, "--coordinator", ep, NULL), 0);
    doc = adt_json(cft_res.out);
    assert_true(json_is_false(json_object_get(doc, "was_running")));
    json_decref(doc);
    /* A pid file whose process is gone is removed, and still nothing runs. */
    {
        char run[300], pidfile[400];

        mkdir(home, 0700);
        snprintf(run, sizeof(run), "%s/run", home);
        mkdir(run, 0755);
        snprintf(pidfile, sizeof(pidfile), "%s/agent-ghost.pid", run);
        adt_write_file(pidfile, "999999\n");
        cft_expect(cft_cli("--home", home, "--coordinator", ep, "down", NULL), 0);
        assert_string_equal(cft_res.out, "autodist is not running\n");
        assert_int_equal(access(pidfile, F_OK), -1);
    }
}

/* `up` when the client port is taken: exit 1 within 10 s, naming the coordinator's log. */
static void
test_up_daemon_fails(void **st)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    char home[256], ep[64], ep_agents[64], ep_metrics[64], pidfile[300];
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    /* A plain TCP listener that never speaks ZeroMQ holds the port. */
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    snprintf(ep, sizeof(ep), "tcp://127.0.0.1:%d", ntohs(a.sin_port));
    adt_free_endpoint(ep_agents, sizeof(ep_agents));
    adt_free_endpoint(ep_metrics, sizeof(ep_metrics));
    snprintf(home, sizeof(home), "%s/home-busy", cft_tmp);
    cft_expect(cft_cli("--home", home, "--coordinator", ep, "up", "--no-bench", "--agent-endpoint",
                       ep_agents, "--metrics-endpoint", ep_metrics, NULL),
               1);
    assert_true(cft_res.seconds < 15.0);
    assert_non_null(strstr(cft_res.err, "autodist: the coordinator exited at start"));
    assert_non_null(strstr(cft_res.err, "address in use"));
    assert_non_null(strstr(cft_res.err, "/logs/autodistd.log"));
    snprintf(pidfile, sizeof(pidfile), "%s/run/autodistd.pid", home);
    assert_int_equal(access(pidfile, F_OK), -1);
    close(fd);
}

/* ---- submit --wait against a scripted coordinator ---------------------------------------- */

/* What the fake coordinator's job goes through, one step per STATUS request. */
enum {
    S_FAKE_COMPLETED,   /* PENDING, RUNNING 100/300, 200/300, then COMPLETED with a speedup */
    S_FAKE_FAILED,      /* RUNNING without progress, then FAILED */
    S_FAKE_NO_BASELINE, /* starting, epochs only, then COMPLETED without a baseline */
};

/* A coordinator that answers SUBMIT and STATUS from a script, on its own thread. */
typedef struct fake {
    pthread_t thread;  /* serves requests */
    zsock_t *sock;     /* client ROUTER, used by the thread only once it runs */
    char ep[64];       /* where it listens */
    int scenario;      /* S_FAKE_* */
    int statuses;      /* STATUS requests answered */
    volatile int stop; /* set to end the thread */
} fake_t;

static json_t *
s_fake_job(const fake_t *f, int i)
{
    json_t *job = json_pack("{s:i s:s s:i s:i s:i s:f s:n}", "id", 7, "name", "fake", "nodes", 1,
                            "procs_per_node", 2, "threads_per_proc", 1, "submitted",
                            (double)time(NULL) - 90, "ended");

    switch (f->scenario) {
    case S_FAKE_COMPLETED:
        if (i == 0) {
            json_object_set_new(job, "state", json_string("PENDING"));
            json_object_set_new(job, "sched", json_string("wait"));
            json_object_set_new(job, "reason", json_string("waiting for nodes busy with job 3"));
        } else if (i <= 2) {
            json_object_set_new(job, "state", json_string("RUNNING"));
            json_object_set_new(job, "sched", json_string("running"));
            json_object_set_new(job, "started", json_real((double)time(NULL) - 30));
            json_object_set_new(job, "progress",
                                json_pack("{s:s s:i s:i s:i s:i s:f s:f s:f s:f s:b}", "phase",
                                          "training", "step", 100 * i, "steps", 300, "epoch", 1,
                                          "epochs", 1, "loss", 0.612, "samples_per_s", 3012.4,
                                          "eta_s", 31.0, "elapsed_s", 30.0, "warming_up", i == 1));
        } else {
            json_object_set_new(job, "state", json_string("COMPLETED"));
            json_object_set_new(job, "exit_code", json_integer(0));
            json_object_set_new(job, "result",
                                json_pack("{s:i s:f s:f s:i s:f s:f s:f s:f s:i s:f s:f s:[ss]"
                                          " s:f s:f s:I}",
                                          "run", 15, "samples_per_s", 3012.4, "speedup", 1.83,
                                          "baseline", 7, "accuracy", 0.8912, "epoch_time_s", 20.0,
                                          "wall_s", 83.0, "sps_sd", 120.0, "sps_steps", 270,
                                          "speedup_lo", 1.21, "speedup_hi", 2.77, "flags", "noisy",
                                          "few-samples", "load_other", 1.04, "cpu_time_s", 161.0,
                                          "max_rss_bytes", (json_int_t)300 << 20));
            /* What layout: auto did (ad_autojob.c's STATUS "auto"). */
            json_object_set_new(
                job, "auto",
                json_pack("{s:s s:s s:i s:{s:f s:f s:f s:s} s:f s:f s:[{s:i s:s s:s s:f s:f}]}",
                          "chosen", "1x2x1", "device", "cpu", "candidates", 3, "predicted",
                          "samples_per_s", 2900.0, "low", 2700.0, "high", 3100.0, "basis", "2 runs",
                          "measured_samples_per_s", 3012.4, "error_pct", 3.876, "probes", "job", 5,
                          "layout", "1x1x1", "state", "COMPLETED", "measured_samples_per_s", 1650.0,
                          "predicted_samples_per_s", 1500.0));
        }
        break;
    case S_FAKE_FAILED:
        if (i == 0) {
            json_object_set_new(job, "state", json_string("RUNNING"));
            json_object_set_new(job, "nodelist", json_string("n1"));
            json_object_set_new(job, "started", json_real((double)time(NULL) - 3));
        } else {
            json_object_set_new(job, "state", json_string("FAILED"));
            json_object_set_new(job, "exit_code", json_integer(1));
            json_object_set_new(job, "reason", json_string("exit 1 (see output.log)"));
            json_object_set_new(job, "started", json_real((double)time(NULL) - 4));
            json_object_set_new(job, "ended", json_real((double)time(NULL)));
        }
        break;
    default:
        if (i <= 1) {
            json_object_set_new(job, "state", json_string("RUNNING"));
            json_object_set_new(job, "progress",
                                i == 0 ? json_pack("{s:s}", "phase", "starting")
                                       : json_pack("{s:s s:i s:n s:i s:i s:f s:n}", "phase",
                                                   "training", "step", 40, "steps", "epoch", 2,
                                                   "epochs", 3, "samples_per_s", 55.5, "eta_s"));
        } else {
            json_object_set_new(job, "state", json_string("COMPLETED"));
            json_object_set_new(job, "exit_code", json_integer(0));
            json_object_set_new(job, "result",
                                json_pack("{s:i s:f s:n s:n s:n s:f}", "run", 2, "samples_per_s",
                                          55.5, "speedup", "baseline", "accuracy", "wall_s", 12.0));
        }
        break;
    }
    return job;
}

static void *
s_fake_run(void *arg)
{
    fake_t *f = arg;

    while (!f->stop) {
        ad_proto_msg_t msg = {0};
        ad_err_t err = {0};
        json_t *reply;

        if (ad_proto_recv(f->sock, 50, &msg, &err)) {
            ad_proto_msg_clear(&msg);
            continue;
        }
        if (msg.type == AD_PROTO_SUBMIT)
            reply = json_pack("{s:i s:s s:s}", "job", 7, "name", "fake", "state", "PENDING");
        else if (msg.type == AD_PROTO_STATUS)
            reply = json_pack("{s:[o]}", "jobs", s_fake_job(f, f->statuses++));
        else
            reply = json_object();
        ad_proto_send(f->sock, msg.identity, "OK", reply, &err);
        ad_proto_msg_clear(&msg);
    }
    return NULL;
}

static void
s_fake_start(fake_t *f, int scenario)
{
    ad_err_t err = {0};
    int port = 0;

    memset(f, 0, sizeof(*f));
    f->scenario = scenario;
    f->sock = ad_proto_listen(ZMQ_ROUTER, "tcp://127.0.0.1:*", NULL, &port, &err);
    assert_non_null(f->sock);
    snprintf(f->ep, sizeof(f->ep), "tcp://127.0.0.1:%d", port);
    assert_int_equal(pthread_create(&f->thread, NULL, s_fake_run, f), 0);
}

static void
s_fake_stop(fake_t *f)
{
    f->stop = 1;
    pthread_join(f->thread, NULL);
    zsock_destroy(&f->sock);
}

/* A job that COMPLETED: exit 0, progress lines, then throughput, speedup and accuracy. */
static void
test_wait_completed(void **st)
{
    fake_t f;

    s_fake_start(&f, S_FAKE_COMPLETED);
    cft_expect(cft_cli("--coordinator", f.ep, "submit", s_never_job, "--wait", "--follow-interval",
                       "0.1", NULL),
               0);
    s_fake_stop(&f);
    assert_non_null(strstr(cft_res.out, "submitted job 7 (too-big)\n"));
    assert_non_null(strstr(cft_res.out, "job 7 PENDING: waiting for nodes busy with job 3\n"));
    /* The rate so far (docs/speedup.md): during the warm-up the line says so. */
    assert_non_null(strstr(cft_res.out, "job 7 RUNNING step 100/300 (33%) epoch 1/1 3012 "
                                        "samples/s (warming up) loss 0.612 ETA 0:00:31\n"));
    assert_non_null(strstr(cft_res.out, "job 7 (too-big) COMPLETED, exit code 0, wall time "
                                        "0:01:23\n"));
    /* One definition (docs/speedup.md): steady state, its spread, the interval, the flags. */
    assert_non_null(strstr(cft_res.out, "  throughput 3012 samples/s +- 120 (steady state, 270 "
                                        "steps) (run 15)\n"));
    assert_non_null(strstr(cft_res.out, "  speedup 1.83x (1.21-2.77) over the 1x1x1 baseline "
                                        "(autodist baseline)\n"));
    assert_non_null(strstr(cft_res.out, "  flags: noisy (other processes kept 1.0 cores busy), "
                                        "few-samples (the accuracy comes from fewer than 100 "
                                        "test images)\n"));
    assert_non_null(strstr(cft_res.out, "  test accuracy 89.12%\n"));
    /* layout auto: the choice, the probe measured, predicted against measured. */
    adt_assert_has(cft_res.out,
                   "layout auto: chose 1x2x1 (cpu) among 3 layouts that fit, after 1 probe:\n");
    adt_assert_has(cft_res.out, "  probe 1x1x1");
    adt_assert_has(cft_res.out, "measured 1650 samples/s");
    adt_assert_has(cft_res.out, "predicted 1500 samples/s\n");
    adt_assert_has(cft_res.out, "  1x2x1: predicted 2900 samples/s [2700-3100] (2 runs), measured "
                                "3012 samples/s (+3.9 %)\n");
    assert_non_null(strstr(cft_res.out, "  CPU time 0:02:41 (all ranks), peak memory 300 MiB "
                                        "(largest rank)\n"));
    assert_string_equal(cft_res.err, "");

    s_fake_start(&f, S_FAKE_COMPLETED);
    cft_expect(cft_cli("--coordinator", f.ep, "--json", "submit", s_never_job, "--wait",
                       "--follow-interval", "0.1", NULL),
               0);
    s_fake_stop(&f);
    {
        json_t *doc = adt_json(cft_res.out);

        assert_int_equal(json_integer_value(json_object_get(doc, "job")), 7);
        assert_string_equal(json_string_value(json_object_get(doc, "state")), "COMPLETED");
        assert_int_equal(json_integer_value(json_object_get(
                             json_object_get(json_object_get(doc, "status"), "result"), "run")),
                         15);
        json_decref(doc);
    }
}

/* A job that FAILED: exit 4 with the state, exit code and reason. */
static void
test_wait_failed(void **st)
{
    fake_t f;

    s_fake_start(&f, S_FAKE_FAILED);
    cft_expect(cft_cli("--coordinator", f.ep, "submit", s_never_job, "--wait", "--follow-interval",
                       "0.1", NULL),
               4);
    s_fake_stop(&f);
    /* Seconds are rounded from the fake's clock: allow a second either way. */
    assert_non_null(strstr(cft_res.out, "job 7 RUNNING on n1, elapsed 0:00:0"));
    assert_non_null(strstr(cft_res.out, " (no progress reported yet)\n"));
    assert_non_null(strstr(cft_res.out, "job 7 (too-big) FAILED, exit code 1, wall time 0:00:0"));
    assert_non_null(strstr(cft_res.out, "\n  reason: exit 1 (see output.log)\n"));
    assert_string_equal(cft_res.err, "autodist: job 7 ended FAILED: exit 1 (see output.log)\n");
}

/* No baseline yet, no step count: the summary says how to get a baseline. */
static void
test_wait_no_baseline(void **st)
{
    fake_t f;

    s_fake_start(&f, S_FAKE_NO_BASELINE);
    cft_expect(cft_cli("--coordinator", f.ep, "submit", s_never_job, "--wait", "--follow-interval",
                       "0.1", NULL),
               0);
    s_fake_stop(&f);
    assert_non_null(strstr(cft_res.out, "job 7 RUNNING starting\n"));
    assert_non_null(strstr(cft_res.out,
                           "  throughput 55.5 samples/s (run 2)\n"
                           "  no baseline yet: run the 1x1x1 layout of this job to get "
                           "one\n"));
    assert_null(strstr(cft_res.out, "accuracy"));
}

/* On a terminal the progress is one line redrawn with \r and a bar. */
static void
test_wait_terminal(void **st)
{
    const char *argv[] = {AD_CLI_BIN, "--coordinator",     NULL,  "submit", s_never_job,
                          "--wait",   "--follow-interval", "0.1", NULL};
    char buf[16384];
    size_t len = 0;
    int master, status;
    fake_t f;
    pid_t pid;

    s_fake_start(&f, S_FAKE_COMPLETED);
    argv[2] = f.ep;
    pid = forkpty(&master, NULL, NULL, NULL);
    assert_true(pid >= 0);
    if (pid == 0) {
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    for (;;) {
        ssize_t n = read(master, buf + len, sizeof(buf) - 1 - len);

        if (n <= 0)
            break; /* EIO once the child is gone */
        len += (size_t)n;
    }
    buf[len] = '\0';
    close(master);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    s_fake_stop(&f);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_non_null(strstr(buf, "\rjob 7 RUNNING [######--------------]  33% step 100/300"));
    assert_non_null(strstr(buf, "\rjob 7 RUNNING [#############-------]  66% step 200/300"));
    assert_non_null(strstr(buf, "speedup 1.83x (1.21-2.77) over the 1x1x1 baseline"));
}

/* ---- a cluster of simulated nodes (autodist up) ----------------------------------------- */

static int
s_up(const char *agents)
{
    return cft_cli("--home", s_home, "--coordinator", s_ep[0], "up", "--agents", agents,
                   "--no-bench", "--agent-endpoint", s_ep[1], "--metrics-endpoint", s_ep[2], NULL);
}

static int
s_cluster_setup(void **st)
{
    snprintf(s_home, sizeof(s_home), "%s/home-cluster", cft_tmp);
    for (int i = 0; i < 3; i++)
        adt_free_endpoint(s_ep[i], sizeof(s_ep[i]));
    if (s_up("2") != 0) {
        fprintf(stderr, "autodist up failed (%d):\n%s%s", cft_res.status, cft_res.out, cft_res.err);
        return -1;
    }
    return 0;
}

static int
s_cluster_teardown(void **st)
{
    cft_cli("--home", s_home, "--coordinator", s_ep[0], "down", NULL);
    return 0;
}

/* Run autodist against the group's coordinator and home. */
#define S_CLI(...) cft_cli("--home", s_home, "--coordinator", s_ep[0], __VA_ARGS__, NULL)

static void
test_up_started(void **st)
{
    char name[300], path[600];
    json_t *doc, *nodes, *n;
    size_t i;
    int up = 0;

    /* What the group setup printed. */
    for (int k = 1; k <= 2; k++) {
        snprintf(name, sizeof(name), "%s-%d", s_host, k);
        snprintf(path, sizeof(path), "%s/run/agent-%s.pid", s_home, name);
        assert_int_equal(access(path, F_OK), 0);
        snprintf(path, sizeof(path), "%s/logs/agent-%s.log", s_home, name);
        assert_int_equal(access(path, F_OK), 0);
    }
    snprintf(path, sizeof(path), "%s/run/autodistd.pid", s_home);
    assert_int_equal(access(path, F_OK), 0);
    snprintf(path, sizeof(path), "%s/logs/autodistd.log", s_home);
    assert_int_equal(access(path, F_OK), 0);

    cft_expect(S_CLI("nodes", "--json"), 0);
    doc = adt_json(cft_res.out);
    nodes = json_object_get(doc, "nodes");
    assert_int_equal(json_array_size(nodes), 2);
    json_array_foreach(nodes, i, n)
    {
        up += !strcmp(json_string_value(json_object_get(n, "state")), "UP");
        assert_true(json_integer_value(json_object_get(n, "cores")) >= 1);
    }
    assert_int_equal(up, 2);
    json_decref(doc);
    cft_expect(S_CLI("nodes"), 0);
    assert_non_null(strstr(cft_res.out, "NAME"));
    assert_non_null(strstr(cft_res.out, "LAST-SEEN"));
    snprintf(name, sizeof(name), "%s-2", s_host);
    assert_non_null(strstr(cft_res.out, name));
    assert_non_null(strstr(cft_res.out, "UP"));
}

/* `up` again is a no-op; `up --agents 3` starts only the missing agent. */
static void
test_up_idempotent(void **st)
{
    char name[300];
    json_t *doc, *agents, *a;
    size_t i;
    int started = 0;

    cft_expect(s_up("2"), 0);
    assert_non_null(strstr(cft_res.out, "autodist is already up at"));
    assert_null(strstr(cft_res.out, "started"));
    /* The endpoints `up` recorded serve the commands that are not given them. */
    cft_expect(cft_cli("--home", s_home, "up", "--agents", "3", "--no-bench", "--json", NULL), 0);
    doc = adt_json(cft_res.out);
    assert_true(json_is_false(json_object_get(json_object_get(doc, "coordinator"), "started")));
    assert_string_equal(json_string_value(json_object_get(doc, "endpoint")), s_ep[0]);
    agents = json_object_get(doc, "agents");
    assert_int_equal(json_array_size(agents), 3);
    snprintf(name, sizeof(name), "%s-3", s_host);
    json_array_foreach(agents, i, a)
    {
        if (!json_is_true(json_object_get(a, "started")))
            continue;
        started++;
        assert_string_equal(json_string_value(json_object_get(a, "name")), name);
        assert_string_equal(json_string_value(json_object_get(a, "address")), "127.0.0.3");
    }
    assert_int_equal(started, 1);
    assert_int_equal(json_array_size(json_object_get(doc, "nodes")), 3);
    json_decref(doc);
}

static void
s_write_jobs(void)
{
    snprintf(s_never_job, sizeof(s_never_job), "%s/never.yaml", cft_tmp);
    adt_write_file(s_never_job, "name: too-big\n"
                                "model: mlp\n"
                                "dataset: synthetic\n"
                                "steps: 3\n"
                                "batch_size: 16\n"
                                "layout: {nodes: 8, procs_per_node: 1, threads_per_proc: 1}\n");
    snprintf(s_auto_job, sizeof(s_auto_job), "%s/auto.yaml", cft_tmp);
    adt_write_file(s_auto_job, "name: planned\n"
                               "model: mlp\n"
                               "dataset: synthetic\n"
                               "steps: 3\n"
                               "batch_size: 16\n"
                               "layout: auto\n");
}

/* Submit the never-fitting job; returns its id. */
static int64_t
s_submit_never(void)
{
    json_t *doc;
    int64_t id;

    cft_expect(S_CLI("--json", "submit", s_never_job, "--hold"), 0);
    doc = adt_json(cft_res.out);
    id = json_integer_value(json_object_get(doc, "job"));
    assert_true(id >= 1);
    assert_string_equal(json_string_value(json_object_get(doc, "state")), "PENDING");
    /* Held: the reason it cannot run yet comes back with it. */
    adt_assert_has(json_string_value(json_object_get(doc, "held")), "nodes = 8, but only ");
    json_decref(doc);
    return id;
}

/* submit, status, jobs and cancel of a job that stays PENDING, in text and --json. */
static void
test_jobs_cancel(void **st)
{
    char want[128], idtext[24];
    json_t *doc, *jobs, *j;
    int64_t id;
    size_t i;
    bool seen = false;

    cft_expect(S_CLI("submit", s_never_job, "--pending-ok"), 0);
    assert_int_equal(sscanf(cft_res.out, "submitted job %lld (too-big)", (long long *)&id), 1);
    adt_assert_has(cft_res.out, "held (--hold): nodes = 8, but only ");
    snprintf(idtext, sizeof(idtext), "%lld", (long long)id);

    cft_expect(S_CLI("status", "--json"), 0);
    doc = adt_json(cft_res.out);
    json_array_foreach(json_object_get(doc, "jobs"), i, j)
    {
        if (json_integer_value(json_object_get(j, "id")) != id)
            continue;
        seen = true;
        assert_string_equal(json_string_value(json_object_get(j, "state")), "PENDING");
        assert_non_null(json_string_value(json_object_get(j, "reason")));
    }
    assert_true(seen);
    json_decref(doc);
    cft_expect(S_CLI("status"), 0);
    assert_non_null(strstr(cft_res.out, "LAYOUT"));
    assert_non_null(strstr(cft_res.out, "too-big"));
    assert_non_null(strstr(cft_res.out, "8x1x1"));
    cft_expect(S_CLI("status", idtext), 0);
    assert_non_null(strstr(cft_res.out, "PENDING"));

    cft_expect(S_CLI("jobs", "--json", "--name", "too-big", "--limit", "1"), 0);
    doc = adt_json(cft_res.out);
    jobs = json_object_get(doc, "jobs");
    assert_int_equal(json_array_size(jobs), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(jobs, 0), "id")), id);
    json_decref(doc);

    cft_expect(S_CLI("cancel", idtext, "--json"), 0);
    doc = adt_json(cft_res.out);
    j = json_array_get(json_object_get(doc, "jobs"), 0);
    assert_int_equal(json_integer_value(json_object_get(j, "job")), id);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "CANCELLED");
    json_decref(doc);
    cft_expect(S_CLI("cancel", idtext), 0);
    snprintf(want, sizeof(want), "job %s CANCELLED\n", idtext);
    assert_string_equal(cft_res.out, want);
    cft_expect(S_CLI("status", idtext, "--json"), 0);
    doc = adt_json(cft_res.out);
    j = json_array_get(json_object_get(doc, "jobs"), 0);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "CANCELLED");
    json_decref(doc);
    cft_expect(S_CLI("jobs", "--state", "cancelled"), 0);
    assert_non_null(strstr(cft_res.out, "too-big"));
    assert_non_null(strstr(cft_res.out, "CANCELLED"));

    /* Unknown jobs: the coordinator's ERROR, exit 1; the others are still cancelled. */
    cft_expect(S_CLI("status", "99999"), 1);
    assert_non_null(strstr(cft_res.err, "autodist: "));
    assert_non_null(strstr(cft_res.err, "99999"));
    cft_expect(S_CLI("cancel", "99999", idtext), 1);
    assert_non_null(strstr(cft_res.err, "autodist: job 99999: "));
    assert_string_equal(cft_res.out, want);
    cft_expect(S_CLI("logs", "99999"), 1);
    assert_non_null(strstr(cft_res.err, "autodist: "));
}

/* submit --wait of a job the nodes can never hold: exit 5 with the reason. */
static void
test_wait_never(void **st)
{
    json_t *doc, *sched;
    int64_t id = s_submit_never();
    char idtext[24];

    /* STATUS gives the scheduler's verdict that --wait reads: this job can never start. */
    snprintf(idtext, sizeof(idtext), "%lld", (long long)id);
    cft_expect(S_CLI("status", idtext, "--json"), 0);
    doc = adt_json(cft_res.out);
    sched = json_object_get(json_array_get(json_object_get(doc, "jobs"), 0), "sched");
    assert_non_null(json_string_value(sched));
    assert_string_equal(json_string_value(sched), "never");
    json_decref(doc);
    cft_expect(S_CLI("cancel", idtext), 0);
    /* Without --hold it is refused at once, naming the file and the key; nothing is queued. */
    cft_expect(S_CLI("submit", s_never_job, "--wait"), 5);
    assert_string_equal(cft_res.out, "");
    {
        char file[400];

        snprintf(file, sizeof(file), "autodist: %s: nodes = 8, but only ", s_never_job);
        adt_assert_has(cft_res.err, file);
    }
    adt_assert_has(cft_res.err, "(--hold keeps it PENDING until nodes come)\n");
}

/* Ctrl-C during --wait stops waiting, not the job. */
static void
test_wait_interrupt(void **st)
{
    const char *args[] = {"--home",    s_home,   "--coordinator", s_ep[0], "submit",
                          s_never_job, "--wait", "--hold",        NULL};
    char want[128], idtext[24];
    long long id = 0;
    proc_t p;

    /* Held, --wait waits for the nodes it was told will come: past the 5 s an unheld job
     * is given, until Ctrl-C, which stops waiting, not the job. */
    adt_start(&p, AD_CLI_BIN, args, cft_tmp);
    usleep(6500 * 1000);
    kill(p.pid, SIGINT);
    adt_finish(&p, &cft_res, CFT_DEADLINE_S);
    cft_expect(cft_res.status, 130);
    assert_int_equal(sscanf(cft_res.out, "submitted job %lld", &id), 1);
    /* The plain (not a terminal) progress shows the reason while it waits. */
    assert_non_null(strstr(cft_res.out, " PENDING: "));
    snprintf(want, sizeof(want), "keeps going; follow it again with `autodist status %lld`", id);
    assert_non_null(strstr(cft_res.err, want));
    snprintf(idtext, sizeof(idtext), "%lld", id);
    cft_expect(S_CLI("status", idtext, "--json"), 0);
    assert_non_null(strstr(cft_res.out, "\"PENDING\""));
    cft_expect(S_CLI("cancel", idtext), 0);
}

/* layout: auto goes to the coordinator as is; until it plans, its refusal is printed, exit 1. */
static void
test_layout_auto(void **st)
{
    json_t *doc;
    int rc = S_CLI("--json", "submit", s_auto_job);

    if (rc == 0) {
        /* The planner landed: the job was accepted; drop it. */
        char idtext[24];

        doc = adt_json(cft_res.out);
        snprintf(idtext, sizeof(idtext), "%lld",
                 (long long)json_integer_value(json_object_get(doc, "job")));
        json_decref(doc);
        cft_expect(S_CLI("cancel", idtext), 0);
        return;
    }
    cft_expect(rc, 1);
    assert_non_null(strstr(cft_res.err, "autodist: "));
    assert_non_null(strstr(cft_res.err, "auto"));
    assert_string_equal(cft_res.out, "");
}

/* `down` stops everything and removes the pid files; a second `down` finds nothing. */
static void
test_down(void **st)
{
    char path[600], name[300];
    pid_t pids[4];
    int n = 0;

    snprintf(path, sizeof(path), "%s/run/autodistd.pid", s_home);
    adt_read_file(path, name, sizeof(name));
    pids[n++] = atoi(name);
    for (int k = 1; k <= 3; k++) {
        snprintf(path, sizeof(path), "%s/run/agent-%s-%d.pid", s_home, s_host, k);
        adt_read_file(path, name, sizeof(name));
        pids[n++] = atoi(name);
    }
    for (int i = 0; i < n; i++)
        assert_true(pids[i] > 0);
    cft_expect(S_CLI("down"), 0);
    assert_non_null(strstr(cft_res.out, "stopped the coordinator (pid "));
    assert_non_null(strstr(cft_res.out, " and 3 agents ("));
    assert_true(cft_res.seconds < 20.0);
    for (int i = 0; i < n; i++) {
        /* Gone, or a zombie its new parent has not reaped yet. */
        char stat[64], buf[256];
        const char *paren;

        snprintf(stat, sizeof(stat), "/proc/%d/stat", (int)pids[i]);
        adt_read_file(stat, buf, sizeof(buf));
        paren = strrchr(buf, ')');
        assert_true(!buf[0] || (paren && (paren[2] == 'Z' || paren[2] == 'X')));
    }
    snprintf(path, sizeof(path), "%s/run/autodistd.pid", s_home);
    assert_int_equal(access(path, F_OK), -1);
    snprintf(path, sizeof(path), "%s/run/agent-%s-1.pid", s_home, s_host);
    assert_int_equal(access(path, F_OK), -1);
    snprintf(path, sizeof(path), "%s/run/endpoints.json", s_home);
    assert_int_equal(access(path, F_OK), -1);
    cft_expect(S_CLI("down"), 0);
    assert_string_equal(cft_res.out, "autodist is not running\n");
}

int
main(void)
{
    const struct CMUnitTest alone[] = {
        cmocka_unit_test(test_help_and_usage),  cmocka_unit_test(test_bad_job_files),
        cmocka_unit_test(test_unreachable),     cmocka_unit_test(test_down_not_running),
        cmocka_unit_test(test_up_daemon_fails), cmocka_unit_test(test_wait_completed),
        cmocka_unit_test(test_wait_failed),     cmocka_unit_test(test_wait_no_baseline),
        cmocka_unit_test(test_wait_terminal),
    };
    const struct CMUnitTest cluster[] = {
        cmocka_unit_test(test_up_started),     cmocka_unit_test(test_up_idempotent),
        cmocka_unit_test(test_jobs_cancel),    cmocka_unit_test(test_wait_never),
        cmocka_unit_test(test_wait_interrupt), cmocka_unit_test(test_layout_auto),
        cmocka_unit_test(test_down),
    };
    int failed;

    if (cft_begin("ad_test_cli"))
        return 1;
    if (gethostname(s_host, sizeof(s_host) - 1) != 0 || !s_host[0])
        snprintf(s_host, sizeof(s_host), "localhost");
    s_write_jobs();
    failed = cmocka_run_group_tests_name("cli", alone, NULL, NULL);
    failed +=
        cmocka_run_group_tests_name("cli-cluster", cluster, s_cluster_setup, s_cluster_teardown);
    return cft_end(failed);
}
