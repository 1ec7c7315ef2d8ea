/* test_daemon.c - autodistd run as a program with real agents and client requests */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ad_test.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "autodist/ad_proto.h"

static char s_home[128];
static char s_ep[3][64]; /* client, agents, metrics */

static pid_t
s_spawn(const char *const *argv, const char *log)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        FILE *f = freopen(log, "w", stderr);

        (void)f;
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static pid_t
s_start_daemon(void)
{
    const char *argv[] = {AD_DAEMON_BIN, "--home", s_home, "--client", s_ep[0], "--agents",
                          s_ep[1], "--metrics", s_ep[2], NULL};
    char log[256];
    pid_t pid;

    snprintf(log, sizeof(log), "%s.daemon.log", s_home);
    pid = s_spawn(argv, log);
    usleep(300 * 1000);
    return pid;
}

static pid_t
s_start_agent_at(const char *name, const char *tag, const char *address)
{
    const char *argv[] = {AD_AGENT_BIN, "--no-bench", "--name", name, "--home", s_home,
                          "--coordinator", s_ep[1], "--address", address, NULL};
    char log[256];

    snprintf(log, sizeof(log), "%s.%s.log", s_home, tag);
    return s_spawn(argv, log);
}

static pid_t
s_start_agent(const char *name, const char *tag)
{
    return s_start_agent_at(name, tag, "127.0.0.1");
}

static json_t *
s_req(const char *type, json_t *payload, int expect_rc, ad_err_t *err)
{
    json_t *reply = NULL;
    char keys[300];
    int rc;

    /* The admin's keys, which the coordinator made in its home. */
    snprintf(keys, sizeof(keys), "%s/keys", s_home);
    rc = ad_proto_request_secure(s_ep[0], keys, type, payload, 3000, &reply, err);

    if (rc != expect_rc)
        fprintf(stderr, "%s: rc %d (%s)\n", type, rc, err->msg);
    assert_int_equal(rc, expect_rc);
    return reply;
}

/* State of node name in NODES, or NULL; counts its entries in *count. */
static const char *
s_node_state(const char *name, int *count)
{
    static char state[16];
    ad_err_t err = {0};
    json_t *r = s_req("NODES", NULL, 0, &err), *n;
    size_t i;

    *count = 0;
    state[0] = 0;
    json_array_foreach(json_object_get(r, "nodes"), i, n) {
        if (!strcmp(json_string_value(json_object_get(n, "name")), name)) {
            (*count)++;
            snprintf(state, sizeof(state), "%s", json_string_value(json_object_get(n, "state")));
        }
    }
    json_decref(r);
    return state[0] ? state : NULL;
}

/* Each test's home and logs live under the temp root. */
static int
s_group_setup(void **st)
{
    return adt_root_make("ad_test_daemon") ? 0 : -1;
}

static int
s_group_teardown(void **st)
{
    return adt_root_remove();
}

static int
s_setup(void **st)
{
    adt_fresh_path(s_home, sizeof(s_home), "daemon", "");
    for (int i = 0; i < 3; i++)
        adt_free_endpoint(s_ep[i], sizeof(s_ep[i]));
    return 0;
}

static void
s_stop(pid_t d)
{
    ad_err_t err = {0};

    json_decref(s_req("SHUTDOWN", NULL, 0, &err));
    assert_int_equal(adt_wait(d, 3.0), 0);
}

/* Stop the daemon d (SHUTDOWN), then the agent a (SIGTERM): both exit 0. */
static void
s_stop_both(pid_t d, pid_t a)
{
    s_stop(d);
    kill(a, SIGTERM);
    assert_int_equal(adt_wait(a, 5.0), 0);
}

/* Wait (at most about 5 s) until NODES lists node name. */
static void
s_wait_listed(const char *name)
{
    int count;

    for (int t = 0; t < 50 && !s_node_state(name, &count); t++)
        usleep(100 * 1000);
}

/* Two agents, one name: one UP entry, the second exits 1; kill -9 -> DOWN in 3.5 s. */
static void
test_nodes_duplicate_and_down(void **st)
{
    pid_t d = s_start_daemon(), a1, a2;
    const char *state = NULL;
    int count = 0, t;
    char log[256], buf[4096] = "";

    a1 = s_start_agent("a1", "a1");
    for (t = 0; t < 5000 && !(state && !strcmp(state, "UP")); t += 100) {
        usleep(100 * 1000);
        state = s_node_state("a1", &count);
    }
    assert_non_null(state);
    assert_string_equal(state, "UP");
    a2 = s_start_agent("a1", "a1b");
    assert_int_equal(adt_wait(a2, 5.0), 1);
    snprintf(log, sizeof(log), "%s.a1b.log", s_home);
    adt_read_file(log, buf, sizeof(buf));
    assert_non_null(strstr(buf, "two agents claim the host name a1"));
    state = s_node_state("a1", &count);
    assert_int_equal(count, 1);
    assert_string_equal(state, "UP");

    kill(a1, SIGKILL);
    adt_wait(a1, 1.0);
    for (t = 0; t <= 3500; t += 100) {
        state = s_node_state("a1", &count);
        if (!strcmp(state, "DOWN"))
            break;
        usleep(100 * 1000);
    }
    assert_string_equal(state, "DOWN");
    s_stop(d);
}

/* A second daemon on a port in use says so and exits 1; SIGTERM stops one with 0. */
static void
test_port_in_use_and_sigterm(void **st)
{
    pid_t d = s_start_daemon(), d2;
    char log[256], buf[4096] = "";

    d2 = s_start_daemon();
    assert_int_equal(adt_wait(d2, 3.0), 1);
    snprintf(log, sizeof(log), "%s.daemon.log", s_home);
    adt_read_file(log, buf, sizeof(buf));
    assert_non_null(strstr(buf, "address in use"));
    assert_non_null(strstr(buf, s_ep[0]));
    kill(d, SIGTERM);
    assert_int_equal(adt_wait(d, 2.0), 0);
}

static json_t *
s_job(const char *name, int nodes)
{
    json_t *j = json_pack("{s:s s:s s:s s:I s:i s:{s:i s:i s:i}}", "name", name, "model", "mlp",
                          "dataset", "synthetic", "steps", (json_int_t)3, "batch_size", 8,
                          "layout", "nodes", nodes, "procs_per_node", 1, "threads_per_proc", 1);

    assert_non_null(j);
    return j;
}

/* SUBMIT / STATUS / JOBS / CANCEL, the 'never fits' reason, bad specs. */
static void
test_jobs(void **st)
{
    pid_t d = s_start_daemon();
    ad_err_t err = {0};
    json_t *r, *jobs, *j;
    int64_t id, id2;

    r = s_req("SUBMIT", json_pack("{s:o}", "job", s_job("big", 4)), 0, &err);
    id = json_integer_value(json_object_get(r, "job"));
    assert_true(id >= 1);
    assert_string_equal(json_string_value(json_object_get(r, "state")), "PENDING");
    json_decref(r);

    r = s_req("STATUS", json_pack("{s:I}", "job", (json_int_t)id), 0, &err);
    jobs = json_object_get(r, "jobs");
    assert_int_equal(json_array_size(jobs), 1);
    j = json_array_get(jobs, 0);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "PENDING");
    assert_string_equal(json_string_value(json_object_get(j, "name")), "big");
    fprintf(stderr, "reason: %s\n", json_string_value(json_object_get(j, "reason")));
    assert_non_null(strstr(json_string_value(json_object_get(j, "reason")), "no node is UP"));
    json_decref(r);

    r = s_req("SUBMIT", json_pack("{s:o}", "job", s_job("small", 1)), 0, &err);
    id2 = json_integer_value(json_object_get(r, "job"));
    assert_int_equal(id2, id + 1);
    json_decref(r);

    r = s_req("JOBS", NULL, 0, &err);
    jobs = json_object_get(r, "jobs");
    assert_int_equal(json_array_size(jobs), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(jobs, 0), "id")), id2);
    json_decref(r);

    r = s_req("CANCEL", json_pack("{s:I}", "job", (json_int_t)id), 0, &err);
    assert_string_equal(json_string_value(json_object_get(r, "state")), "CANCELLED");
    json_decref(r);
    r = s_req("STATUS", json_pack("{s:I}", "job", (json_int_t)id), 0, &err);
    j = json_array_get(json_object_get(r, "jobs"), 0);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "CANCELLED");
    json_decref(r);
    /* STATUS without a job lists only live jobs. */
    r = s_req("STATUS", NULL, 0, &err);
    assert_int_equal(json_array_size(json_object_get(r, "jobs")), 1);
    json_decref(r);
    r = s_req("JOBS", json_pack("{s:{s:s}}", "filter", "state", "cancelled"), 0, &err);
    assert_int_equal(json_array_size(json_object_get(r, "jobs")), 1);
    json_decref(r);

    /* Errors: unknown job, invalid spec. */
    s_req("STATUS", json_pack("{s:I}", "job", (json_int_t)999), -ENOENT, &err);
    s_req("CANCEL", json_pack("{s:I}", "job", (json_int_t)999), -ENOENT, &err);
    j = s_job("bad", 1);
    json_object_set_new(j, "batch_size", json_integer(-4));
    s_req("SUBMIT", json_pack("{s:o}", "job", j), AD_EPARSE, &err);
    s_stop(d);
}

/* ---- jobs that run ----------------------------------------------------------------------- */

/* An mlp job on synthetic data: steps steps, batch 16, the layout given. */
static json_t *
s_run_job(const char *name, int64_t steps, int ppn)
{
    json_t *j = json_pack("{s:s s:s s:{s:{s:[i,i,i] s:i s:i}} s:I s:i s:{s:i s:i s:i}}",
                          "name", name, "model", "mlp", "dataset", "synthetic", "shape", 1, 8, 8,
                          "classes", 4, "samples", 256, "steps", (json_int_t)steps,
                          "batch_size", 16, "layout", "nodes", 1, "procs_per_node", ppn,
                          "threads_per_proc", 1);

    assert_non_null(j);
    return j;
}

static int64_t
s_submit(json_t *job)
{
    ad_err_t err = {0};
    json_t *r = s_req("SUBMIT", json_pack("{s:o}", "job", job), 0, &err);
    int64_t id = json_integer_value(json_object_get(r, "job"));

    json_decref(r);
    assert_true(id >= 1);
    return id;
}

/* STATUS of job id (a new reference to its object). */
static json_t *
s_status(int64_t id)
{
    ad_err_t err = {0};
    json_t *r = s_req("STATUS", json_pack("{s:I}", "job", (json_int_t)id), 0, &err);
    json_t *j = json_incref(json_array_get(json_object_get(r, "jobs"), 0));

    json_decref(r);
    assert_non_null(j);
    return j;
}

static const char *
s_state_of(json_t *j)
{
    return json_string_value(json_object_get(j, "state"));
}

/* Poll job id until its state is one of the '|'-separated states; returns its object. */
static json_t *
s_wait_state(int64_t id, const char *states, int ms)
{
    for (int t = 0;; t += 100) {
        json_t *j = s_status(id);
        const char *st = s_state_of(j);
        const char *hit = strstr(states, st);
        size_t n = strlen(st);

        if (hit && (hit[n] == '|' || !hit[n]) && (hit == states || hit[-1] == '|'))
            return j;
        if (t >= ms) {
            char *dump = json_dumps(j, JSON_COMPACT);

            fail_msg("job %lld still %s after %d ms (want %s): %s", (long long)id, st, ms,
                     states, dump);
        }
        json_decref(j);
        usleep(100 * 1000);
    }
}

/* Processes of this machine whose environment names job id of this test's home. */
static int
s_job_procs(int64_t id)
{
    char cmd[512], out[32] = "";
    FILE *p;

    snprintf(cmd, sizeof(cmd),
             "grep -lzs -e '^AUTODIST_JOB=%lld$' /proc/[0-9]*/environ 2>/dev/null | "
             "xargs -r grep -lzs -e '^AUTODIST_HOME=%s$' 2>/dev/null | wc -l",
             (long long)id, s_home);
    p = popen(cmd, "r");
    assert_non_null(p);
    if (!fgets(out, sizeof(out), p))
        out[0] = '\0';
    pclose(p);
    return atoi(out);
}

/* Two runs: the 1x1x1 baseline, then 1x2x1 with its speedup; logs; the node's job list. */
static void
test_run_and_speedup(void **st)
{
    pid_t d = s_start_daemon(), a = s_start_agent("n1", "a1");
    ad_err_t err = {0};
    json_t *j, *res, *r;
    int64_t base, two;

    s_wait_listed("n1");
    base = s_submit(s_run_job("base", 30, 1));
    j = s_wait_state(base, "COMPLETED|FAILED", 60000);
    assert_string_equal(s_state_of(j), "COMPLETED");
    assert_int_equal(json_integer_value(json_object_get(j, "exit_code")), 0);
    assert_string_equal(json_string_value(json_object_get(j, "nodelist")), "n1");
    res = json_object_get(j, "result");
    assert_non_null(res);
    assert_true(json_number_value(json_object_get(res, "samples_per_s")) > 0);
    assert_true(json_number_value(json_object_get(res, "speedup")) == 1.0);
    json_decref(j);

    two = s_submit(s_run_job("two", 30, 2));
    j = s_wait_state(two, "COMPLETED|FAILED", 60000);
    assert_string_equal(s_state_of(j), "COMPLETED");
    res = json_object_get(j, "result");
    assert_true(json_number_value(json_object_get(res, "speedup")) > 0);
    assert_int_equal(json_integer_value(json_object_get(res, "baseline")),
                     json_integer_value(json_object_get(
                         json_object_get(s_status(base), "result"), "run")));
    json_decref(j);

    /* The job's output, to the end, with eof once it is over. */
    r = s_req("LOGS", json_pack("{s:I}", "job", (json_int_t)two), 0, &err);
    assert_true(json_is_string(json_object_get(r, "data")));
    assert_true(json_is_true(json_object_get(r, "eof")));
    assert_int_equal(json_integer_value(json_object_get(r, "offset")),
                     (int64_t)strlen(json_string_value(json_object_get(r, "data"))));
    json_decref(r);
    s_req("LOGS", json_pack("{s:I}", "job", (json_int_t)999), -ENOENT, &err);
    assert_int_equal(s_job_procs(two), 0);
    s_stop_both(d, a);
}

/* A trainer that exits non-zero: FAILED, its exit code and its error line kept. */
static void
test_trainer_fails(void **st)
{
    pid_t d = s_start_daemon(), a = s_start_agent("n1", "a1");
    char empty[200];
    json_t *job, *j;
    const char *reason;
    int64_t id;

    snprintf(empty, sizeof(empty), "%s.empty", s_home);
    assert_int_equal(mkdir(empty, 0755), 0);
    s_wait_listed("n1");
    job = json_pack("{s:s s:s s:s s:s s:I s:i s:{s:i s:i s:i}}", "name", "nodata", "model",
                    "cnn", "dataset", "fashion-mnist", "data_dir", empty, "steps",
                    (json_int_t)5, "batch_size", 8, "layout", "nodes", 1, "procs_per_node", 1,
                    "threads_per_proc", 1);
    id = s_submit(job);
    j = s_wait_state(id, "COMPLETED|FAILED", 60000);
    assert_string_equal(s_state_of(j), "FAILED");
    assert_int_equal(json_integer_value(json_object_get(j, "exit_code")), 1);
    reason = json_string_value(json_object_get(j, "reason"));
    fprintf(stderr, "reason: %s\n", reason);
    assert_non_null(strstr(reason, "exit 1: "));
    assert_non_null(strstr(reason, empty));
    json_decref(j);
    rmdir(empty);
    s_stop_both(d, a);
}

/* mpirun cannot be forked (fault point "fork"): the job is FAILED with why, the daemon goes on. */
static void
test_fork_fails(void **st)
{
    pid_t d, a;
    json_t *job, *j;
    const char *reason;
    int64_t id;
    int count;

    setenv("AUTODIST_FAULT", "fork:1", 1);
    d = s_start_daemon();
    unsetenv("AUTODIST_FAULT");
    a = s_start_agent("n1", "a1");
    s_wait_listed("n1");
    job = json_pack("{s:s s:s s:s s:I s:i s:{s:i s:i s:i}}", "name", "nofork", "model", "cnn",
                    "dataset", "fashion-mnist", "steps", (json_int_t)5, "batch_size", 8, "layout",
                    "nodes", 1, "procs_per_node", 1, "threads_per_proc", 1);
    id = s_submit(job);
    j = s_wait_state(id, "RUNNING|COMPLETED|FAILED", 30000);
    assert_string_equal(s_state_of(j), "FAILED");
    reason = json_string_value(json_object_get(j, "reason"));
    fprintf(stderr, "reason: %s\n", reason);
    assert_non_null(strstr(reason, "cannot start "));
    assert_non_null(strstr(reason, "fork: Resource temporarily unavailable"));
    assert_true(json_is_null(json_object_get(j, "exit_code")));
    json_decref(j);
    /* Still there: it answers and the node is UP. */
    reason = s_node_state("n1", &count);
    assert_non_null(reason);
    assert_string_equal(reason, "UP");
    s_stop_both(d, a);
}

/* Cancel a running job, a time limit, and an agent killed mid-job: no rank survives. */
static void
test_stop_running(void **st)
{
    pid_t d = s_start_daemon(), a = s_start_agent("n1", "a1");
    json_t *j, *job, *prog;
    ad_err_t err = {0};
    int64_t id;

    s_wait_listed("n1");
    /* Cancel: RUNNING with progress, then CANCELLED and no process left. */
    id = s_submit(s_run_job("long", 100000000, 2));
    for (int t = 0;; t += 100) {
        j = s_status(id);
        prog = json_object_get(j, "progress");
        if (prog && json_integer_value(json_object_get(prog, "step")) > 0)
            break;
        assert_true(t < 30000);
        json_decref(j);
        usleep(100 * 1000);
    }
    assert_string_equal(s_state_of(j), "RUNNING");
    assert_int_equal(json_integer_value(json_object_get(prog, "steps")), 100000000);
    assert_true(json_number_value(json_object_get(prog, "samples_per_s")) > 0);
    json_decref(j);
    assert_true(s_job_procs(id) >= 2);
    json_decref(s_req("CANCEL", json_pack("{s:I}", "job", (json_int_t)id), 0, &err));
    j = s_wait_state(id, "CANCELLED|FAILED|COMPLETED", 20000);
    assert_string_equal(s_state_of(j), "CANCELLED");
    json_decref(j);
    assert_int_equal(s_job_procs(id), 0);

    /* A time limit of 1 s: TIMEOUT. */
    job = s_run_job("limited", 100000000, 1);
    json_object_set_new(job, "time_limit", json_integer(1));
    id = s_submit(job);
    j = s_wait_state(id, "TIMEOUT|FAILED|COMPLETED", 30000);
    assert_string_equal(s_state_of(j), "TIMEOUT");
    json_decref(j);
    assert_int_equal(s_job_procs(id), 0);

    /* The agent dies mid-job: the node goes DOWN and the job ends NODE_FAIL. */
    id = s_submit(s_run_job("orphan", 100000000, 1));
    json_decref(s_wait_state(id, "RUNNING", 20000));
    kill(a, SIGKILL);
    assert_int_equal(adt_wait(a, 2.0), 128 + SIGKILL);
    j = s_wait_state(id, "NODE_FAIL|FAILED|COMPLETED", 20000);
    assert_string_equal(s_state_of(j), "NODE_FAIL");
    assert_non_null(strstr(json_string_value(json_object_get(j, "reason")), "n1"));
    json_decref(j);
    assert_int_equal(s_job_procs(id), 0);
    s_stop(d);
}

/* Two simulated nodes of this machine (127.0.0.1, 127.0.0.2): a 2 x 1 job runs across them. */
static void
test_simulated_nodes(void **st)
{
    pid_t d = s_start_daemon(), a1 = s_start_agent_at("n1", "a1", "127.0.0.1"),
          a2 = s_start_agent_at("n2", "a2", "127.0.0.2");
    json_t *job, *j;
    int64_t id;
    int count;

    for (int t = 0; t < 50 && !(s_node_state("n1", &count) && s_node_state("n2", &count)); t++)
        usleep(100 * 1000);
    job = s_run_job("two-nodes", 20, 1);
    json_object_set_new(json_object_get(job, "layout"), "nodes", json_integer(2));
    id = s_submit(job);
    j = s_wait_state(id, "COMPLETED|FAILED", 60000);
    if (strcmp(s_state_of(j), "COMPLETED"))
        fail_msg("2x1x1 on simulated nodes: %s", json_string_value(json_object_get(j, "reason")));
    assert_string_equal(json_string_value(json_object_get(j, "nodelist")), "n1,n2");
    json_decref(j);
    /* Two one-node jobs at once: the second lands on n2 (127.0.0.2, no ssh there either). */
    {
        int64_t x = s_submit(s_run_job("one-a", 200, 1)), y = s_submit(s_run_job("one-b", 200, 1));

        j = s_wait_state(x, "COMPLETED|FAILED", 60000);
        assert_string_equal(s_state_of(j), "COMPLETED");
        json_decref(j);
        j = s_wait_state(y, "COMPLETED|FAILED", 60000);
        if (strcmp(s_state_of(j), "COMPLETED"))
            fail_msg("one-node job on n2: %s", json_string_value(json_object_get(j, "reason")));
        assert_string_equal(json_string_value(json_object_get(j, "nodelist")), "n2");
        json_decref(j);
    }
    s_stop(d);
    kill(a1, SIGTERM);
    kill(a2, SIGTERM);
    assert_int_equal(adt_wait(a1, 5.0), 0);
    assert_int_equal(adt_wait(a2, 5.0), 0);
}

/* One agent session saying HELLO as ghost-a, then as ghost-b (DEALER to the agent socket). */
static void
s_hello_as(zsock_t *dealer, const char *name)
{
    ad_proto_msg_t msg = {0};
    ad_err_t err = {0};
    json_t *hello = json_pack("{s:i s:s s:s s:i s:{s:s s:{s:i}}}", "protocol", AD_PROTO_VERSION,
                              "hostname", name, "version", "test", "pid", (int)getpid(),
                              "profile", "fingerprint", "ghost-class", "cpu", "cores", 2);

    assert_int_equal(ad_proto_send(dealer, NULL, "HELLO", hello, &err), 0);
    assert_int_equal(ad_proto_recv(dealer, 5000, &msg, &err), 0);
    assert_int_equal(msg.type, AD_PROTO_WELCOME);
    ad_proto_msg_clear(&msg);
}

/*
 * A session that renames itself leaves no ghost: the old name is DOWN in NODES and in the
 * scheduler, so a 2-node job cannot start on the one node that is really there.
 */
static void
test_rename_leaves_no_ghost(void **st)
{
    pid_t d = s_start_daemon();
    ad_err_t err = {0};
    char keys[300];
    zsock_t *dealer;
    json_t *job, *j;
    int64_t id;
    int count;

    /* A session as an agent has it: with the node key. */
    snprintf(keys, sizeof(keys), "%s/keys/node", s_home);
    dealer = ad_proto_connect(ZMQ_DEALER, s_ep[1], keys, &err);
    assert_non_null(dealer);
    s_hello_as(dealer, "ghost-a");
    assert_string_equal(s_node_state("ghost-a", &count), "UP");
    s_hello_as(dealer, "ghost-b");
    assert_string_equal(s_node_state("ghost-a", &count), "DOWN");
    assert_int_equal(count, 1);
    assert_string_equal(s_node_state("ghost-b", &count), "UP");
    job = s_run_job("two-ghosts", 20, 1);
    json_object_set_new(json_object_get(job, "layout"), "nodes", json_integer(2));
    id = s_submit(job);
    j = s_status(id);
    assert_string_equal(s_state_of(j), "PENDING");
    assert_string_equal(json_string_value(json_object_get(j, "sched")), "never");
    json_decref(j);
    zsock_destroy(&dealer);
    s_stop(d);
}

/* layout: auto: probes (short jobs), then the job runs on the layout the planner chose. */
static void
test_layout_auto(void **st)
{
    pid_t d = s_start_daemon(), a = s_start_agent("n1", "a1");
    json_t *job, *j, *plan, *r;
    ad_err_t err = {0};
    int64_t id;
    int nodes, ppn, tpp;

    s_wait_listed("n1");
    job = s_run_job("auto", 30, 1);
    json_object_set_new(job, "layout", json_string("auto"));
    r = s_req("SUBMIT", json_pack("{s:o}", "job", job), 0, &err);
    id = json_integer_value(json_object_get(r, "job"));
    assert_string_equal(json_string_value(json_object_get(r, "layout")), "auto");
    json_decref(r);
    j = s_wait_state(id, "COMPLETED|FAILED|CANCELLED", 120000);
    assert_string_equal(s_state_of(j), "COMPLETED");
    nodes = (int)json_integer_value(json_object_get(j, "nodes"));
    ppn = (int)json_integer_value(json_object_get(j, "procs_per_node"));
    tpp = (int)json_integer_value(json_object_get(j, "threads_per_proc"));
    assert_int_equal(nodes, 1);
    assert_true(ppn >= 1 && tpp >= 1 && ppn * tpp <= 64);
    plan = json_object_get(j, "plan");
    assert_non_null(plan);
    assert_true(json_array_size(json_object_get(plan, "candidates")) >= 1);
    json_decref(j);
    /* Whatever probes ran are ordinary jobs named after it, and all ended. */
    r = s_req("JOBS", NULL, 0, &err);
    {
        size_t i;
        json_t *o;

        json_array_foreach(json_object_get(r, "jobs"), i, o) {
            const char *name = json_string_value(json_object_get(o, "name"));

            if (strncmp(name, "auto-probe-", 11) == 0)
                assert_string_equal(s_state_of(o), "COMPLETED");
            else
                assert_string_equal(name, "auto");
        }
    }
    json_decref(r);
    s_stop_both(d, a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_nodes_duplicate_and_down, s_setup),
        cmocka_unit_test_setup(test_rename_leaves_no_ghost, s_setup),
        cmocka_unit_test_setup(test_port_in_use_and_sigterm, s_setup),
        cmocka_unit_test_setup(test_jobs, s_setup),
        cmocka_unit_test_setup(test_run_and_speedup, s_setup),
        cmocka_unit_test_setup(test_trainer_fails, s_setup),
        cmocka_unit_test_setup(test_fork_fails, s_setup),
        cmocka_unit_test_setup(test_stop_running, s_setup),
        cmocka_unit_test_setup(test_layout_auto, s_setup),
        cmocka_unit_test_setup(test_simulated_nodes, s_setup),
    };

    return cmocka_run_group_tests(tests, s_group_setup, s_group_teardown);
}
