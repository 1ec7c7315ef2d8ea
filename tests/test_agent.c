/* test_agent.c - autodist-agent as users and coordinators see it: profile, HELLO, heartbeats */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ad_test.h"

#include "autodist/ad_load.h"
#include "autodist/ad_profile.h"
#include "autodist/ad_proto.h"

/* How long the agent may take to start (hwloc, libtorch loading) and say HELLO. */
#define HELLO_WAIT_MS 15000
/* Any exit we wait for; a hang fails the test instead of blocking ctest. */
#define EXIT_WAIT_MS 10000
/* Endpoint of the fake coordinator: a random port below Linux's ephemeral range, so a
 * reconnecting agent cannot TCP-self-connect to it while nothing listens. */
#define FAKE_ENDPOINT "tcp://127.0.0.1:![20000-29999]"

/* Everything a test writes lives under one temp folder, adt_root() (also the agent's
 * AUTODIST_HOME). */
static int s_seq;
/* Agents started by the current test, killed by its teardown whatever happened. */
#define MAX_LIVE 8
static pid_t s_live[MAX_LIVE];
static int s_nlive;

/* One agent process: its pid and the files its two streams go to. */
typedef struct {
    pid_t pid;     /* the agent */
    char out[300]; /* its stdout */
    char err[300]; /* its stderr */
    int status;    /* exit status once reaped, 128 + N when killed by signal N; -1 before */
} s_agent_t;

/* ---------------------------------------------------------------------------------------- */
/* Processes and files.                                                                     */

/* Start the agent with args (NULL-terminated), AUTODIST_HOME in the test folder. */
static void
s_startv(s_agent_t *a, const char *const *args)
{
    const char *argv[32] = {AD_AGENT_BIN};
    bool to_coordinator = false;
    int n = 1;

    for (; args[n - 1]; n++) {
        assert_true(n < 30);
        argv[n] = args[n - 1];
        to_coordinator = to_coordinator || !strcmp(argv[n], "--coordinator");
    }
    /* The fake coordinator has no keys (CURVE is tested in test_proto and test_auth). */
    if (to_coordinator)
        argv[n++] = "--insecure";
    argv[n] = NULL;
    s_seq++;
    snprintf(a->out, sizeof(a->out), "%s/out.%d", adt_root(), s_seq);
    snprintf(a->err, sizeof(a->err), "%s/err.%d", adt_root(), s_seq);
    a->status = -1;
    a->pid = fork();
    assert_true(a->pid >= 0);
    if (a->pid == 0) {
        int o = open(a->out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(a->err, O_WRONLY | O_CREAT | O_TRUNC, 0644);

        if (o < 0 || e < 0)
            _exit(127);
        dup2(o, 1);
        dup2(e, 2);
        setenv("AUTODIST_HOME", adt_root(), 1);
        unsetenv("AUTODIST_LOG");
        execv(AD_AGENT_BIN, (char *const *)argv);
        _exit(127);
    }
    assert_true(s_nlive < MAX_LIVE);
    s_live[s_nlive++] = a->pid;
}

#define s_start(a, ...) s_startv((a), (const char *const[]){__VA_ARGS__, NULL})

/* Wait up to ms for the agent to exit; true when it did (a->status set). */
static bool
s_wait(s_agent_t *a, int ms)
{
    a->status = adt_wait(a->pid, ms / 1000.0);
    return a->status >= 0;
}

/* Make sure the agent is gone at the end of a test, whatever happened. */
static void
s_kill(s_agent_t *a)
{
    if (a->status >= 0)
        return;
    kill(a->pid, SIGKILL);
    s_wait(a, EXIT_WAIT_MS);
}

/* Run the agent to its end. */
static void
s_runv(s_agent_t *a, const char *const *args)
{
    s_startv(a, args);
    if (!s_wait(a, EXIT_WAIT_MS)) {
        s_kill(a);
        fail_msg("the agent did not exit in %d ms", EXIT_WAIT_MS);
    }
}

#define s_run(a, ...) s_runv((a), (const char *const[]){__VA_ARGS__, NULL})

static int
s_count_lines(const char *text)
{
    int n = 0;

    for (const char *p = text; *p; p++)
        n += *p == '\n';
    return n;
}

/* ---------------------------------------------------------------------------------------- */
/* The fake coordinator.                                                                    */

static zsock_t *
s_listen(const char *endpoint, int *port)
{
    ad_err_t err = {0};
    zsock_t *router = ad_proto_listen(ZMQ_ROUTER, endpoint, NULL, port, &err);

    if (!router)
        fail_msg("fake coordinator: %s", err.msg);
    return router;
}

static char *
s_endpoint(int port)
{
    static char buf[64];

    snprintf(buf, sizeof(buf), "tcp://127.0.0.1:%d", port);
    return buf;
}

/* Receive messages until one of type comes (others are skipped) or ms pass. */
static void
s_expect(zsock_t *router, ad_proto_type_t type, int ms, ad_proto_msg_t *msg)
{
    int64_t deadline = zclock_mono() + ms;
    ad_err_t err = {0};

    for (;;) {
        int64_t left = deadline - zclock_mono();
        int rc;

        if (left < 0)
            left = 0;
        rc = ad_proto_recv(router, (int)left, msg, &err);
        if (rc == -ETIMEDOUT)
            fail_msg("no %s from the agent in %d ms", ad_proto_type_name(type), ms);
        if (rc)
            fail_msg("bad message from the agent: %s", err.msg);
        if (msg->type == type)
            return;
        ad_proto_msg_clear(msg);
    }
}

static void
s_reply(zsock_t *router, const char *identity, const char *type, const char *json)
{
    json_error_t jerr;
    ad_err_t err = {0};
    json_t *payload = json_loads(json, 0, &jerr);

    assert_non_null(payload);
    if (ad_proto_send(router, identity, type, payload, &err))
        fail_msg("fake coordinator: %s", err.msg);
}

/* Start an agent against router and welcome it; hello receives the HELLO (identity kept). */
static void
s_start_welcomed(s_agent_t *a, zsock_t *router, int port, const char *name, int heartbeat_ms,
                 ad_proto_msg_t *hello)
{
    char welcome[128];

    s_start(a, "--no-bench", "--coordinator", s_endpoint(port), "--name", name);
    s_expect(router, AD_PROTO_HELLO, HELLO_WAIT_MS, hello);
    snprintf(welcome, sizeof(welcome), "{\"node\":7,\"heartbeat_ms\":%d}", heartbeat_ms);
    s_reply(router, hello->identity, "WELCOME", welcome);
}

/* ---------------------------------------------------------------------------------------- */
/* Tests.                                                                                   */

/* A fake /proc/PID with its stat (utime, stime, starttime) and environment. */
static void
s_fake_proc(const char *root, int pid, unsigned utime, unsigned stime, unsigned start,
            const char *env, size_t env_len)
{
    char dir[512], name[32], stat[400];

    snprintf(name, sizeof(name), "%d", pid);
    snprintf(dir, sizeof(dir), "%s/%s", root, name);
    mkdir(dir, 0755); /* may exist: the process changes between scans */
    /* A command name with a space and a ')' in it, as kernels allow. */
    snprintf(stat, sizeof(stat),
             "%d (a b) c) R 1 %d %d 0 -1 4194560 100 0 0 0 %u %u 0 0 20 0 4 0 %u 1000 100\n", pid,
             pid, pid, utime, stime, start);
    adt_write_in(dir, "stat", stat, strlen(stat));
    adt_write_in(dir, "environ", env, env_len);
}

/* The CPU each autodist job took between two scans: what the coordinator subtracts. */
static void
test_load_jobs_scan(void **state)
{
    static const char job7[] = "PATH=/bin\0AUTODIST_JOB=7\0HOME=/x";
    static const char other[] = "PATH=/bin\0HOME=/x";
    char root[512];
    ad_load_jobs_t st = {0};
    ad_load_job_cpu_t out[4];

    adt_fresh_dir(root, sizeof(root), "fakeproc");
    s_fake_proc(root, 100, 50, 10, 1000, job7, sizeof(job7));
    s_fake_proc(root, 101, 500, 0, 1000, other, sizeof(other));
    /* The first scan only remembers. */
    assert_int_equal(ad_load_jobs_scan(&st, root, out, 4), 0);
    s_fake_proc(root, 100, 80, 20, 1000, job7, sizeof(job7)); /* +40 ticks */
    s_fake_proc(root, 101, 900, 0, 1000, other, sizeof(other));
    s_fake_proc(root, 102, 5, 5, 2000, job7, sizeof(job7)); /* a new rank: +10 */
    assert_int_equal(ad_load_jobs_scan(&st, root, out, 4), 1);
    assert_int_equal(out[0].job, 7);
    assert_int_equal(out[0].ticks, 50);
    /* A reused pid is another process: it counts from its start, not as a delta. */
    s_fake_proc(root, 100, 3, 0, 5000, other, sizeof(other));
    assert_int_equal(ad_load_jobs_scan(&st, root, out, 4), 1);
    assert_int_equal(out[0].ticks, 0);
    ad_load_jobs_clear(&st);
    assert_int_equal(ad_load_jobs_scan(&st, "/nonexistent-proc", out, 4), 0);
}

static void
test_load_parsers(void **state)
{
    const char *stat = "cpu  100 5 50 800 40 3 2 0 7 0\ncpu0 50 2 25 400 20 1 1 0 0 0\n"
                       "intr 1 2 3\n";
    const char *mem = "MemTotal:       16000000 kB\nMemFree:  1000 kB\n"
                      "MemAvailable:   12000000 kB\n";
    ad_cpu_times_t t0, t1 = {.busy = 200, .total = 1100};
    uint64_t used, total;
    ad_err_t err = {0};
    ad_load_t load;

    (void)state;
    assert_int_equal(ad_load_parse_stat(stat, &t0, &err), 0);
    assert_int_equal(t0.total, 100 + 5 + 50 + 800 + 40 + 3 + 2);
    assert_int_equal(t0.busy, 100 + 5 + 50 + 3 + 2);
    assert_int_equal(ad_load_parse_stat("cpu0 1 2 3 4\n", &t0, &err), AD_EPARSE);
    assert_non_null(strstr(err.msg, "no \"cpu\" line"));
    assert_int_equal(ad_load_parse_stat("cpu  1 2 x 4\n", &t0, &err), AD_EPARSE);
    assert_int_equal(ad_load_parse_stat("cpu  1 2\n", &t0, &err), AD_EPARSE);

    t0 = (ad_cpu_times_t){.busy = 100, .total = 1000};
    assert_true(ad_load_cpu_busy(&t0, &t1) > 0.99 && ad_load_cpu_busy(&t0, &t1) <= 1.0);
    assert_true(ad_load_cpu_busy(&t1, &t0) == 0);
    assert_true(ad_load_cpu_busy(&t0, &t0) == 0);

    assert_int_equal(ad_load_parse_meminfo(mem, &used, &total, &err), 0);
    assert_int_equal(total, 16000000ull * 1024);
    assert_int_equal(used, 4000000ull * 1024);
    assert_int_equal(ad_load_parse_meminfo("MemTotal: 10 kB\n", &used, &total, &err), AD_EPARSE);
    assert_non_null(strstr(err.msg, "MemAvailable"));
    assert_int_equal(
        ad_load_parse_meminfo("MemTotal: lots\nMemAvailable: 1 kB\n", &used, &total, &err),
        AD_EPARSE);

    /* This machine. */
    assert_int_equal(ad_load_cpu_times(&t0, &err), 0);
    assert_int_equal(ad_load_sample(&t0, &load, &err), 0);
    assert_true(load.cpu >= 0 && load.cpu <= 1);
    assert_true(load.mem_total_bytes > 0 && load.mem_used_bytes <= load.mem_total_bytes);
}

static void
test_profile_yaml(void **state)
{
    s_agent_t a;
    ad_profile_t *p = NULL;
    ad_err_t err = {0};
    char *out;

    (void)state;
    s_run(&a, "--profile", "--no-bench");
    assert_int_equal(a.status, 0);
    out = adt_slurp(a.out, NULL);
    if (ad_profile_parse_yaml(out, strlen(out), "agent stdout", &p, &err))
        fail_msg("%s", err.msg);
    assert_true(ad_profile_cores(p) >= 1);
    assert_null(ad_profile_bench_figures(p));
    ad_profile_free(&p);
    free(out);
}

static void
test_profile_json(void **state)
{
    s_agent_t a;
    ad_profile_t *p = NULL;
    json_error_t jerr;
    ad_err_t err = {0};
    json_t *j;

    (void)state;
    s_run(&a, "--profile", "--json", "--no-bench");
    assert_int_equal(a.status, 0);
    j = json_load_file(a.out, 0, &jerr);
    if (!j)
        fail_msg("stdout is not JSON: %s", jerr.text);
    if (ad_profile_from_json(j, &p, &err))
        fail_msg("%s", err.msg);
    assert_string_equal(json_string_value(json_object_get(j, "fingerprint")),
                        ad_profile_fingerprint(p));
    ad_profile_free(&p);
    json_decref(j);
}

static void
test_bad_command_line(void **state)
{
    s_agent_t a;
    char *err;

    (void)state;
    s_run(&a, "--frobnicate");
    assert_int_equal(a.status, 2);
    err = adt_slurp(a.err, NULL);
    assert_int_equal(s_count_lines(err), 1);
    assert_non_null(strstr(err, "unknown option --frobnicate"));
    free(err);

    s_run(&a, "--heartbeat-ms", "5");
    assert_int_equal(a.status, 2);
    err = adt_slurp(a.err, NULL);
    assert_non_null(strstr(err, "--heartbeat-ms must be an integer in [100, 60000]"));
    free(err);

    s_run(&a, "--no-bench", "--force-bench", "--profile");
    assert_int_equal(a.status, 2);

    /* Names and addresses reach hostfiles and mpirun: a shell word is refused at once. */
    s_run(&a, "--address", "127.$(touch${IFS}/tmp/x)");
    assert_int_equal(a.status, 2);
    err = adt_slurp(a.err, NULL);
    assert_int_equal(s_count_lines(err), 1);
    assert_non_null(strstr(err, "--address must be a host name or an IP address, got "
                                "\"127.$(touch${IFS}/tmp/x)\""));
    free(err);
    s_run(&a, "--name", "my node");
    assert_int_equal(a.status, 2);
    err = adt_slurp(a.err, NULL);
    assert_non_null(strstr(err, "--name must be a host name or an IP address, got \"my node\""));
    free(err);

    /* No keys is for a coordinator on this machine only. */
    s_run(&a, "--no-bench", "--coordinator", "tcp://10.1.2.3:7401");
    assert_int_equal(a.status, 2);
    err = adt_slurp(a.err, NULL);
    assert_int_equal(s_count_lines(err), 1);
    assert_non_null(strstr(err, "--insecure is for a coordinator on this machine only, and "
                                "tcp://10.1.2.3:7401 is not loopback"));
    free(err);

    s_run(&a, "--help");
    assert_int_equal(a.status, 0);
    err = adt_slurp(a.out, NULL);
    assert_non_null(strstr(err, "usage: autodist-agent"));
    assert_non_null(strstr(err, "--keys DIR"));
    free(err);

}

/* --detach: a start that fails says why on stderr and exits 1; one that works exits 0. */
static void
test_detach(void **state)
{
    char log[512], keys[512], *err;
    s_agent_t a;
    int port;
    zsock_t *router = s_listen("tcp://127.0.0.1:*", &port);

    (void)state;
    /* What mpirun runs for this node is checked before anything is sent. */
    {
        static const struct {
            const char *args[6], *says;
        } bad[] = {
            {{"--rsh", "/bin/sh"}, "--rsh must be oarsh or ssh, got \"/bin/sh\""},
            {{"--rsh", "oarsh", "--rsh-env", "LD_PRELOAD=/tmp/x.so"}, "--rsh-env must be"},
            {{"--rsh-env", "OAR_JOB_ID=3"}, "--rsh-env goes with --rsh"},
            {{"--pool", "a b"}, "--pool must be 1..128 letters"},
            {{"--log", "/tmp/x"}, "--log goes with --detach"},
            {{"--detach", "--profile"}, "--detach and --profile exclude each other"},
        };

        for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
            s_runv(&a, bad[i].args);
            assert_int_equal(a.status, 2);
            err = adt_slurp(a.err, NULL);
            if (!strstr(err, bad[i].says))
                fail_msg("expected \"%s\", got \"%s\"", bad[i].says, err);
            assert_int_equal(s_count_lines(err), 1);
            free(err);
        }
    }

    snprintf(keys, sizeof(keys), "%s/no-keys", adt_root());
    s_run(&a, "--detach", "--no-bench", "--keys", keys, "--name", "d1");
    assert_int_equal(a.status, 1);
    err = adt_slurp(a.err, NULL);
    assert_non_null(strstr(err, "no CURVE key"));
    free(err);

    snprintf(log, sizeof(log), "%s/detached.log", adt_root());
    s_run(&a, "--detach", "--log", log, "--no-bench", "--name", "d2", "--pool", "oar:t", "--rsh",
          "oarsh", "--rsh-env", "OAR_JOB_ID=7", "--coordinator", s_endpoint(port));
    assert_int_equal(a.status, 0);
    /* The detached agent says HELLO with its pool and launch, then is stopped. */
    {
        zmsg_t *m = NULL;
        char *type = NULL, *json = NULL;
        zpoller_t *p = zpoller_new(router, NULL);

        for (int i = 0; i < 50 && !json; i++) {
            if (zpoller_wait(p, 200) != router)
                continue;
            m = zmsg_recv(router);
            zframe_destroy(&(zframe_t *){zmsg_pop(m)});
            type = zmsg_popstr(m);
            if (type && !strcmp(type, "HELLO"))
                json = zmsg_popstr(m);
            free(type);
            zmsg_destroy(&m);
        }
        zpoller_destroy(&p);
        assert_non_null(json);
        assert_non_null(strstr(json, "\"pool\":\"oar:t\""));
        assert_non_null(strstr(json, "\"rsh\":\"oarsh\""));
        assert_non_null(strstr(json, "\"OAR_JOB_ID\":\"7\""));
        free(json);
    }
    assert_int_equal(system("pkill -TERM -f 'autodist-agent --detach --log .*detached.log'") >= 0,
                     1);
    err = adt_slurp(a.err, NULL);
    assert_non_null(strstr(err, "node d2: running in the background, log in "));
    free(err);
    err = adt_slurp(log, NULL);
    assert_non_null(strstr(err, "node d2: detached (pid "));
    free(err);
    zsock_destroy(&router);
}

static void
test_hello_and_heartbeats(void **state)
{
    ad_proto_msg_t hello = {0}, hb = {0};
    ad_profile_t *p = NULL;
    ad_err_t err = {0};
    const char *s;
    json_t *running;
    int64_t v, used, total, last_seq = 0;
    double cpu;
    s_agent_t a;
    zsock_t *router;
    int port;

    (void)state;
    router = s_listen(FAKE_ENDPOINT, &port);
    s_start_welcomed(&a, router, port, "sim-node-1", 200, &hello);
    assert_int_equal(ad_doc_json_get_string(hello.payload, "hostname", 1, 255, &s, &err), 0);
    assert_string_equal(s, "sim-node-1");
    assert_int_equal(ad_doc_json_get_int(hello.payload, "protocol", 1, 1000, &v, &err), 0);
    assert_int_equal(v, AD_PROTO_VERSION);
    assert_int_equal(ad_doc_json_get_int(hello.payload, "pid", 1, INT32_MAX, &v, &err), 0);
    assert_int_equal(v, a.pid);
    if (ad_profile_from_json(json_object_get(hello.payload, "profile"), &p, &err))
        fail_msg("HELLO profile: %s", err.msg);
    assert_true(ad_profile_cores(p) >= 1);
    ad_profile_free(&p);

    for (int i = 0; i < 3; i++) {
        s_expect(router, AD_PROTO_HEARTBEAT, 5000, &hb);
        assert_string_equal(hb.identity, hello.identity);
        assert_int_equal(ad_doc_json_get_int(hb.payload, "seq", 0, INT64_MAX, &v, &err), 0);
        assert_true(v > last_seq);
        if (i == 0)
            assert_int_equal(v, 1);
        last_seq = v;
        assert_int_equal(ad_doc_json_get_double(hb.payload, "load.cpu", 0, 1, &cpu, &err), 0);
        assert_int_equal(
            ad_doc_json_get_int(hb.payload, "load.mem_total_bytes", 1, INT64_MAX, &total, &err), 0);
        assert_int_equal(
            ad_doc_json_get_int(hb.payload, "load.mem_used_bytes", 0, total, &used, &err), 0);
        assert_int_equal(ad_doc_json_get_array(hb.payload, "running", 100000, &running, &err), 0);
        assert_int_equal(json_array_size(running), 0);
        ad_proto_msg_clear(&hb);
    }
    kill(a.pid, SIGTERM);
    assert_true(s_wait(&a, EXIT_WAIT_MS));
    assert_int_equal(a.status, 0);
    ad_proto_msg_clear(&hello);
    zsock_destroy(&router);
}

static void
test_ping(void **state)
{
    ad_proto_msg_t hello = {0}, hb = {0};
    ad_err_t err = {0};
    s_agent_t a;
    zsock_t *router;
    int64_t seq;
    int port;

    (void)state;
    router = s_listen(FAKE_ENDPOINT, &port);
    /* A period far beyond the test: only the PING can bring a heartbeat. */
    s_start_welcomed(&a, router, port, "sim-ping", 60000, &hello);
    zclock_sleep(100);
    s_reply(router, hello.identity, "PING", "{}");
    s_expect(router, AD_PROTO_HEARTBEAT, 5000, &hb);
    assert_int_equal(ad_doc_json_get_int(hb.payload, "seq", 0, INT64_MAX, &seq, &err), 0);
    assert_int_equal(seq, 1);
    ad_proto_msg_clear(&hb);
    s_kill(&a);
    ad_proto_msg_clear(&hello);
    zsock_destroy(&router);
}

static void
test_reject_final(void **state)
{
    ad_proto_msg_t hello = {0};
    char *err, *line;
    s_agent_t a;
    zsock_t *router;
    int port;

    (void)state;
    router = s_listen(FAKE_ENDPOINT, &port);
    s_start(&a, "--no-bench", "--coordinator", s_endpoint(port), "--name", "sim-dup");
    s_expect(router, AD_PROTO_HELLO, HELLO_WAIT_MS, &hello);
    s_reply(router, hello.identity, "REJECT",
            "{\"reason\":\"hostname sim-dup is already up (pid 812)\",\"retry_ms\":0}");
    if (!s_wait(&a, EXIT_WAIT_MS)) {
        s_kill(&a);
        fail_msg("the agent did not exit after a final REJECT");
    }
    assert_int_equal(a.status, 1);
    err = adt_slurp(a.err, NULL);
    line = strstr(err, "hostname sim-dup is already up (pid 812)");
    assert_non_null(line);
    /* One line says it: the reason and the refusal together. */
    while (line > err && line[-1] != '\n')
        line--;
    /* A log file's lines start with their time (ISO-8601 UTC), then the program. */
    assert_true(line[4] == '-' && line[10] == 'T' && line[23] == 'Z' && line[24] == ' ');
    line += 25;
    assert_true(strncmp(line, "autodist-agent: error: refused", 30) == 0);
    free(err);
    ad_proto_msg_clear(&hello);
    zsock_destroy(&router);
}

static void
test_reject_retry(void **state)
{
    ad_proto_msg_t hello = {0};
    s_agent_t a;
    zsock_t *router;
    int port;

    (void)state;
    router = s_listen(FAKE_ENDPOINT, &port);
    s_start(&a, "--no-bench", "--coordinator", s_endpoint(port), "--name", "sim-retry");
    s_expect(router, AD_PROTO_HELLO, HELLO_WAIT_MS, &hello);
    s_reply(router, hello.identity, "REJECT", "{\"reason\":\"busy\",\"retry_ms\":300}");
    ad_proto_msg_clear(&hello);
    s_expect(router, AD_PROTO_HELLO, 5000, &hello);
    s_kill(&a);
    ad_proto_msg_clear(&hello);
    zsock_destroy(&router);
}

static void
test_reconnect(void **state)
{
    ad_proto_msg_t hello = {0}, hb = {0};
    ad_err_t err = {0};
    s_agent_t a;
    zsock_t *router;
    int64_t seq;
    char *log;
    int port, again;

    (void)state;
    router = s_listen(FAKE_ENDPOINT, &port);
    s_start_welcomed(&a, router, port, "sim-reconnect", 200, &hello);
    s_expect(router, AD_PROTO_HEARTBEAT, 5000, &hb);
    ad_proto_msg_clear(&hb);
    ad_proto_msg_clear(&hello);

    /* The coordinator goes away and comes back on the same port. */
    zsock_destroy(&router);
    zclock_sleep(1500);
    router = s_listen(s_endpoint(port), &again);
    assert_int_equal(again, port);
    s_expect(router, AD_PROTO_HELLO, 10000, &hello);
    s_reply(router, hello.identity, "WELCOME", "{\"node\":7,\"heartbeat_ms\":200}");
    s_expect(router, AD_PROTO_HEARTBEAT, 5000, &hb);
    /* A new session counts from 1 again. */
    assert_int_equal(ad_doc_json_get_int(hb.payload, "seq", 0, INT64_MAX, &seq, &err), 0);
    assert_int_equal(seq, 1);
    ad_proto_msg_clear(&hb);
    kill(a.pid, SIGTERM);
    assert_true(s_wait(&a, EXIT_WAIT_MS));
    log = adt_slurp(a.err, NULL);
    assert_non_null(strstr(log, "lost coordinator at"));
    assert_non_null(strstr(log, "reconnecting in 1 s"));
    free(log);
    ad_proto_msg_clear(&hello);
    zsock_destroy(&router);
}

static void
test_sigterm_bye(void **state)
{
    ad_proto_msg_t hello = {0}, hb = {0}, bye = {0};
    const char *reason;
    ad_err_t err = {0};
    int64_t t0, took;
    s_agent_t a;
    zsock_t *router;
    int port;

    (void)state;
    router = s_listen(FAKE_ENDPOINT, &port);
    s_start_welcomed(&a, router, port, "sim-bye", 200, &hello);
    s_expect(router, AD_PROTO_HEARTBEAT, 5000, &hb);
    ad_proto_msg_clear(&hb);
    t0 = zclock_mono();
    kill(a.pid, SIGTERM);
    s_expect(router, AD_PROTO_BYE, 1000, &bye);
    assert_string_equal(bye.identity, hello.identity);
    assert_int_equal(ad_doc_json_get_string(bye.payload, "reason", 0, 512, &reason, &err), 0);
    assert_string_equal(reason, "SIGTERM");
    assert_true(s_wait(&a, 1000));
    took = zclock_mono() - t0;
    assert_int_equal(a.status, 0);
    if (took >= 1000)
        fail_msg("the agent took %lld ms to stop", (long long)took);
    ad_proto_msg_clear(&bye);
    ad_proto_msg_clear(&hello);
    zsock_destroy(&router);
}

static int
s_group_setup(void **state)
{
    (void)state;
    if (!adt_root_make("test_agent"))
        return -1;
    /* Stop signals are for the agents; ours keep their default action. */
    zsys_handler_set(NULL);
    return 0;
}

/* A failed assertion leaves its agent running: end it here. */
static int
s_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < s_nlive; i++) {
        if (kill(s_live[i], SIGKILL) == 0)
            waitpid(s_live[i], NULL, 0);
    }
    s_nlive = 0;
    return 0;
}

static int
s_group_teardown(void **state)
{
    (void)state;
    return adt_root_remove();
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_load_parsers, s_teardown),
        cmocka_unit_test_teardown(test_load_jobs_scan, s_teardown),
        cmocka_unit_test_teardown(test_profile_yaml, s_teardown),
        cmocka_unit_test_teardown(test_profile_json, s_teardown),
        cmocka_unit_test_teardown(test_bad_command_line, s_teardown),
        cmocka_unit_test_teardown(test_detach, s_teardown),
        cmocka_unit_test_teardown(test_hello_and_heartbeats, s_teardown),
        cmocka_unit_test_teardown(test_ping, s_teardown),
        cmocka_unit_test_teardown(test_reject_final, s_teardown),
        cmocka_unit_test_teardown(test_reject_retry, s_teardown),
        cmocka_unit_test_teardown(test_reconnect, s_teardown),
        cmocka_unit_test_teardown(test_sigterm_bye, s_teardown),
    };

    return cmocka_run_group_tests(tests, s_group_setup, s_group_teardown);
}
