/* test_daemon.c - autodistd run as a program with real agents and client requests */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "daemon_fixture.h"

#include <math.h>
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

#include <sqlite3.h>

#include "autodist/ad_proc.h"
#include "autodist/ad_proto.h"

/* Two agents, one name: one UP entry, the second exits 1; kill -9 -> DOWN in 3.5 s. */
static void
test_nodes_duplicate_and_down(void **st)
{
    pid_t d = dft_start_daemon(), a1, a2;
    const char *state = NULL;
    int count = 0, t;
    char log[256], buf[4096] = "";

    a1 = dft_start_agent("a1", "a1");
    for (t = 0; t < 5000 && !(state && !strcmp(state, "UP")); t += 100) {
        usleep(100 * 1000);
        state = dft_node_state("a1", &count);
    }
    assert_non_null(state);
    assert_string_equal(state, "UP");
    a2 = dft_start_agent("a1", "a1b");
    assert_int_equal(adt_wait(a2, 5.0), 1);
    snprintf(log, sizeof(log), "%s.a1b.log", dft_home);
    adt_read_file(log, buf, sizeof(buf));
    assert_non_null(strstr(buf, "two agents claim the host name a1"));
    state = dft_node_state("a1", &count);
    assert_int_equal(count, 1);
    assert_string_equal(state, "UP");

    kill(a1, SIGKILL);
    adt_wait(a1, 1.0);
    for (t = 0; t <= 3500; t += 100) {
        state = dft_node_state("a1", &count);
        if (!strcmp(state, "DOWN"))
            break;
        usleep(100 * 1000);
    }
    assert_string_equal(state, "DOWN");
    dft_stop(d);
}

/* A second daemon on a port in use says so and exits 1; SIGTERM stops one with 0. */
static void
test_port_in_use_and_sigterm(void **st)
{
    pid_t d = dft_start_daemon(), d2;
    char log[256], buf[4096] = "";

    d2 = dft_start_daemon();
    assert_int_equal(adt_wait(d2, 3.0), 1);
    snprintf(log, sizeof(log), "%s.daemon.log", dft_home);
    adt_read_file(log, buf, sizeof(buf));
    assert_non_null(strstr(buf, "address in use"));
    assert_non_null(strstr(buf, dft_ep[0]));
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
    pid_t d = dft_start_daemon();
    ad_err_t err = {0};
    json_t *r, *jobs, *j;
    int64_t id, id2;

    /* No node is UP: refused at once, saying how to start one; nothing is stored. */
    r = dft_req("SUBMIT", json_pack("{s:o s:s}", "job", s_job("big", 4), "file", "big.yaml"),
                AD_PROTO_ENEVER, &err);
    adt_assert_has(err.msg,
                   "big.yaml: no node is up (no agent has joined): start one with `autodist up`");
    r = dft_req("SUBMIT", json_pack("{s:o}", "job", s_job("big", 4)), AD_PROTO_ENEVER, &err);
    adt_assert_has(err.msg, "job big: no node is up (no agent has joined)");
    /* --hold: accepted, PENDING with the reason. */
    r = dft_req("SUBMIT", json_pack("{s:o s:b}", "job", s_job("big", 4), "hold", 1), 0, &err);
    adt_assert_has(json_string_value(json_object_get(r, "held")), "no node is up");
    id = json_integer_value(json_object_get(r, "job"));
    assert_true(id >= 1);
    assert_string_equal(json_string_value(json_object_get(r, "state")), "PENDING");
    json_decref(r);

    r = dft_req("STATUS", json_pack("{s:I}", "job", (json_int_t)id), 0, &err);
    jobs = json_object_get(r, "jobs");
    assert_int_equal(json_array_size(jobs), 1);
    j = json_array_get(jobs, 0);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "PENDING");
    assert_string_equal(json_string_value(json_object_get(j, "name")), "big");
    fprintf(stderr, "reason: %s\n", json_string_value(json_object_get(j, "reason")));
    assert_non_null(strstr(json_string_value(json_object_get(j, "reason")), "no node is UP"));
    json_decref(r);

    r = dft_req("SUBMIT", json_pack("{s:o s:b}", "job", s_job("small", 1), "hold", 1), 0, &err);
    id2 = json_integer_value(json_object_get(r, "job"));
    assert_int_equal(id2, id + 1);
    json_decref(r);

    r = dft_req("JOBS", NULL, 0, &err);
    jobs = json_object_get(r, "jobs");
    assert_int_equal(json_array_size(jobs), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(jobs, 0), "id")), id2);
    json_decref(r);

    r = dft_req("CANCEL", json_pack("{s:I}", "job", (json_int_t)id), 0, &err);
    assert_string_equal(json_string_value(json_object_get(r, "state")), "CANCELLED");
    json_decref(r);
    r = dft_req("STATUS", json_pack("{s:I}", "job", (json_int_t)id), 0, &err);
    j = json_array_get(json_object_get(r, "jobs"), 0);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "CANCELLED");
    json_decref(r);
    /* STATUS without a job lists only live jobs. */
    r = dft_req("STATUS", NULL, 0, &err);
    assert_int_equal(json_array_size(json_object_get(r, "jobs")), 1);
    json_decref(r);
    r = dft_req("JOBS", json_pack("{s:{s:s}}", "filter", "state", "cancelled"), 0, &err);
    assert_int_equal(json_array_size(json_object_get(r, "jobs")), 1);
    json_decref(r);

    /* Errors: unknown job, invalid spec. */
    dft_req("STATUS", json_pack("{s:I}", "job", (json_int_t)999), -ENOENT, &err);
    dft_req("CANCEL", json_pack("{s:I}", "job", (json_int_t)999), -ENOENT, &err);
    j = s_job("bad", 1);
    json_object_set_new(j, "batch_size", json_integer(-4));
    dft_req("SUBMIT", json_pack("{s:o}", "job", j), AD_EPARSE, &err);
    dft_stop(d);
}

/* ---- jobs that run ----------------------------------------------------------------------- */

/* Two runs: the 1x1x1 baseline, then 1x2x1 with its speedup; logs; the node's job list. */
static void
test_run_and_speedup(void **st)
{
    pid_t d = dft_start_daemon(), a = dft_start_agent("n1", "a1");
    ad_err_t err = {0};
    json_t *j, *res, *r;
    int64_t base, two, two_run;

    dft_wait_listed("n1");
    base = dft_submit(dft_run_job("base", 30, 1));
    j = dft_wait_state(base, "COMPLETED|FAILED", 60000);
    assert_string_equal(dft_state_of(j), "COMPLETED");
    assert_int_equal(json_integer_value(json_object_get(j, "exit_code")), 0);
    assert_string_equal(json_string_value(json_object_get(j, "nodelist")), "n1");
    res = json_object_get(j, "result");
    assert_non_null(res);
    assert_true(json_number_value(json_object_get(res, "samples_per_s")) > 0);
    assert_true(json_number_value(json_object_get(res, "speedup")) == 1.0);
    json_decref(j);

    two = dft_submit(dft_run_job("two", 30, 2));
    j = dft_wait_state(two, "COMPLETED|FAILED", 60000);
    assert_string_equal(dft_state_of(j), "COMPLETED");
    res = json_object_get(j, "result");
    assert_true(json_number_value(json_object_get(res, "speedup")) > 0);
    assert_int_equal(
        json_integer_value(json_object_get(res, "baseline")),
        json_integer_value(json_object_get(json_object_get(dft_status(base), "result"), "run")));
    /*
     * One throughput (docs/speedup.md): the run keeps the trainer's done figure, the
     * steady-state rate past its warm-up (3 of 30 steps), with its spread and interval.
     */
    {
        char path[300], line[2048] = "", *nl;
        json_t *done;

        snprintf(path, sizeof(path), "%s/logs/%lld/metrics.jsonl", dft_home, (long long)two);
        assert_true(ad_proc_last_line(path, line, sizeof(line)));
        nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        done = json_loads(line, 0, NULL);
        assert_non_null(done);
        assert_string_equal(json_string_value(json_object_get(done, "event")), "done");
        {
            double kept = json_number_value(json_object_get(res, "samples_per_s"));
            double said = json_number_value(json_object_get(done, "samples_per_s"));

            /* The file's numbers have 9 significant digits. */
            if (!(fabs(kept - said) <= 1e-6 * said))
                fail_msg("the run keeps %.10g samples/s, the trainer's done line says %.10g", kept,
                         said);
        }
        assert_int_equal(json_integer_value(json_object_get(res, "sps_steps")), 27);
        assert_true(json_is_number(json_object_get(res, "sps_sd")));
        json_decref(done);
    }
    assert_true(json_number_value(json_object_get(res, "speedup_lo")) <
                json_number_value(json_object_get(res, "speedup")));
    assert_true(json_number_value(json_object_get(res, "speedup_hi")) >
                json_number_value(json_object_get(res, "speedup")));
    assert_true(json_is_array(json_object_get(res, "flags")));
    assert_true(json_number_value(json_object_get(res, "cpu_time_s")) > 0);
    assert_true(json_integer_value(json_object_get(res, "max_rss_bytes")) > 0);
    assert_false(json_is_true(json_object_get(res, "probe")));
    two_run = json_integer_value(json_object_get(res, "run"));
    json_decref(j);

    /* The job's output, to the end, with eof once it is over. */
    r = dft_req("LOGS", json_pack("{s:I}", "job", (json_int_t)two), 0, &err);
    assert_true(json_is_string(json_object_get(r, "data")));
    assert_true(json_is_true(json_object_get(r, "eof")));
    assert_int_equal(json_integer_value(json_object_get(r, "offset")),
                     (int64_t)strlen(json_string_value(json_object_get(r, "data"))));
    json_decref(r);
    dft_req("LOGS", json_pack("{s:I}", "job", (json_int_t)999), -ENOENT, &err);
    assert_int_equal(dft_job_procs(two), 0);

    /*
     * Memory (docs/daemon.md, "Feasibility"): had a rank of `two` peaked at 60 % of the
     * node's memory, two ranks of the same samples per rank cannot fit: refused at once,
     * saying why; one rank of it fits.
     */
    {
        long long kib = 0;
        char line[256], sql[256];
        FILE *f = fopen("/proc/meminfo", "r");
        sqlite3 *db = NULL;
        json_t *job;

        assert_non_null(f);
        while (fgets(line, sizeof(line), f) && sscanf(line, "MemTotal: %lld kB", &kib) != 1)
            ;
        fclose(f);
        assert_true(kib > 0);
        snprintf(line, sizeof(line), "%s/runs.db", dft_home);
        assert_int_equal(sqlite3_open(line, &db), SQLITE_OK);
        sqlite3_busy_timeout(db, 5000);
        snprintf(sql, sizeof(sql), "UPDATE runs SET max_rss_bytes = %lld WHERE job = %lld",
                 kib * 1024 * 6 / 10, (long long)two);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
        dft_req("SUBMIT", json_pack("{s:o s:s}", "job", dft_run_job("two-again", 30, 2), "file",
                                    "two.yaml"),
                AD_PROTO_ENEVER, &err);
        adt_assert_has(err.msg, "two.yaml: needs about ");
        adt_assert_has(err.msg, "of memory per node (2 ranks x ");
        snprintf(line, sizeof(line), "the peak of one rank of run %lld: same model, dataset and 8 "
                 "samples per rank), but the largest node with 2 cores has ",
                 (long long)two_run);
        adt_assert_has(err.msg, line);
        adt_assert_has(err.msg, "(n1)");
        job = dft_run_job("one-of-it", 1, 1);
        json_object_set_new(job, "batch_size", json_integer(8));
        r = dft_req("SUBMIT", json_pack("{s:o}", "job", job), 0, &err);
        json_decref(r);
    }
    dft_stop_both(d, a);
}

/*
 * A run made while another process burns a core is flagged noisy: the agents
 * report each job's share of the CPU, the coordinator keeps the rest's largest.
 */
static void
test_noisy_run(void **st)
{
    pid_t d = dft_start_daemon(), a = dft_start_agent("n1", "a1"), burner;
    json_t *j, *res, *flags, *f;
    bool noisy = false;
    int64_t id;
    size_t i;

    dft_wait_listed("n1");
    burner = fork();
    assert_true(burner >= 0);
    if (burner == 0) {
        volatile unsigned long spin = 0;

        alarm(120);
        for (;;)
            spin++;
    }
    /* Long enough for two heartbeats (1 s) while it runs. */
    id = dft_submit(dft_run_job("noisy", 3000, 1));
    j = dft_wait_state(id, "COMPLETED|FAILED", 120000);
    kill(burner, SIGKILL);
    waitpid(burner, NULL, 0);
    assert_string_equal(dft_state_of(j), "COMPLETED");
    res = json_object_get(j, "result");
    flags = json_object_get(res, "flags");
    json_array_foreach(flags, i, f) noisy = noisy || !strcmp(json_string_value(f), "noisy");
    if (!noisy || !(json_number_value(json_object_get(res, "load_other")) >= 0.5))
        fail_msg("a run next to a busy loop: load_other %.2f, noisy %s",
                 json_number_value(json_object_get(res, "load_other")), noisy ? "yes" : "no");
    json_decref(j);
    dft_stop_both(d, a);
}

/* A trainer that exits non-zero: FAILED, its exit code and its error line kept. */
static void
test_trainer_fails(void **st)
{
    pid_t d = dft_start_daemon(), a = dft_start_agent("n1", "a1");
    char empty[200];
    json_t *job, *j;
    const char *reason;
    int64_t id;

    snprintf(empty, sizeof(empty), "%s.empty", dft_home);
    assert_int_equal(mkdir(empty, 0755), 0);
    dft_wait_listed("n1");
    job = json_pack("{s:s s:s s:s s:s s:I s:i s:{s:i s:i s:i}}", "name", "nodata", "model",
                    "cnn", "dataset", "fashion-mnist", "data_dir", empty, "steps",
                    (json_int_t)5, "batch_size", 8, "layout", "nodes", 1, "procs_per_node", 1,
                    "threads_per_proc", 1);
    id = dft_submit(job);
    j = dft_wait_state(id, "COMPLETED|FAILED", 60000);
    assert_string_equal(dft_state_of(j), "FAILED");
    assert_int_equal(json_integer_value(json_object_get(j, "exit_code")), 1);
    reason = json_string_value(json_object_get(j, "reason"));
    fprintf(stderr, "reason: %s\n", reason);
    assert_non_null(strstr(reason, "exit 1: "));
    assert_non_null(strstr(reason, empty));
    json_decref(j);
    rmdir(empty);
    dft_stop_both(d, a);
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
    d = dft_start_daemon();
    unsetenv("AUTODIST_FAULT");
    a = dft_start_agent("n1", "a1");
    dft_wait_listed("n1");
    job = json_pack("{s:s s:s s:s s:I s:i s:{s:i s:i s:i}}", "name", "nofork", "model", "cnn",
                    "dataset", "fashion-mnist", "steps", (json_int_t)5, "batch_size", 8, "layout",
                    "nodes", 1, "procs_per_node", 1, "threads_per_proc", 1);
    id = dft_submit(job);
    j = dft_wait_state(id, "RUNNING|COMPLETED|FAILED", 30000);
    assert_string_equal(dft_state_of(j), "FAILED");
    reason = json_string_value(json_object_get(j, "reason"));
    fprintf(stderr, "reason: %s\n", reason);
    assert_non_null(strstr(reason, "cannot start "));
    assert_non_null(strstr(reason, "fork: Resource temporarily unavailable"));
    assert_true(json_is_null(json_object_get(j, "exit_code")));
    json_decref(j);
    /* Still there: it answers and the node is UP. */
    reason = dft_node_state("n1", &count);
    assert_non_null(reason);
    assert_string_equal(reason, "UP");
    dft_stop_both(d, a);
}

/* Cancel a running job, a time limit, and an agent killed mid-job: no rank survives. */
static void
test_stop_running(void **st)
{
    static const char *const grace[] = {"--node-grace", "2", "--kill-grace", "3", NULL};
    pid_t d = dft_start_daemon_with(grace), a = dft_start_agent("n1", "a1");
    json_t *j, *job, *prog;
    ad_err_t err = {0};
    int64_t id;

    dft_wait_listed("n1");
    /* Cancel: RUNNING with progress, then CANCELLED and no process left. */
    id = dft_submit(dft_run_job("long", 100000000, 2));
    for (int t = 0;; t += 100) {
        j = dft_status(id);
        prog = json_object_get(j, "progress");
        if (prog && json_integer_value(json_object_get(prog, "step")) > 0)
            break;
        assert_true(t < 30000);
        json_decref(j);
        usleep(100 * 1000);
    }
    assert_string_equal(dft_state_of(j), "RUNNING");
    assert_int_equal(json_integer_value(json_object_get(prog, "steps")), 100000000);
    assert_true(json_number_value(json_object_get(prog, "samples_per_s")) > 0);
    json_decref(j);
    assert_true(dft_job_procs(id) >= 2);
    json_decref(dft_req("CANCEL", json_pack("{s:I}", "job", (json_int_t)id), 0, &err));
    j = dft_wait_state(id, "CANCELLED|FAILED|COMPLETED", 20000);
    assert_string_equal(dft_state_of(j), "CANCELLED");
    json_decref(j);
    assert_int_equal(dft_job_procs(id), 0);

    /* A time limit of 1 s: TIMEOUT. */
    job = dft_run_job("limited", 100000000, 1);
    json_object_set_new(job, "time_limit", json_integer(1));
    id = dft_submit(job);
    j = dft_wait_state(id, "TIMEOUT|FAILED|COMPLETED", 30000);
    assert_string_equal(dft_state_of(j), "TIMEOUT");
    json_decref(j);
    assert_int_equal(dft_job_procs(id), 0);

    /*
     * The agent dies mid-job and its ranks hang (the node is lost): the node
     * goes DOWN, no step comes for --node-grace, and the job ends NODE_FAIL
     * (requeue: 0; tests/test_faults.c has the requeue).
     */
    job = dft_run_job("orphan", 100000000, 1);
    json_object_set_new(job, "requeue", json_integer(0));
    id = dft_submit(job);
    json_decref(dft_wait_step(id, 1, 20000));
    kill(a, SIGKILL);
    assert_int_equal(adt_wait(a, 2.0), 128 + SIGKILL);
    assert_true(dft_job_signal(id, "autodist-train", SIGSTOP) >= 1);
    j = dft_wait_state(id, "NODE_FAIL|FAILED|COMPLETED|PENDING", 30000);
    assert_string_equal(dft_state_of(j), "NODE_FAIL");
    adt_assert_has(json_string_value(json_object_get(j, "reason")), "node n1 went DOWN");
    json_decref(j);
    assert_int_equal(dft_job_procs(id), 0);
    dft_stop(d);
}

/*
 * Slow version probes (here an mpirun whose --version takes 6 s, as loading libtorch can under
 * load): the first launch waited for them inside the coordinator's loop, the heartbeats queued
 * unread, and every node went DOWN at once with the job (tests/netns, under load).  Now the
 * launch waits outside the loop: requests are answered meanwhile (dft_wait_step() gives each
 * 3 s), the node stays UP and the job runs.
 */
static void
test_held_coordinator(void **st)
{
    char script[256];
    const char *extra[] = {"--mpirun", script, NULL};
    const char *state;
    ad_err_t err = {0};
    pid_t d, a;
    json_t *j;
    int64_t id;
    int count;
    FILE *f;

    snprintf(script, sizeof(script), "%s.slow-mpirun", dft_home);
    f = fopen(script, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\n[ \"$1\" = --version ] && sleep 6\nexec mpirun \"$@\"\n");
    fclose(f);
    assert_int_equal(chmod(script, 0755), 0);
    d = dft_start_daemon_with(extra);
    a = dft_start_agent("n1", "a");
    dft_wait_listed("n1");
    id = dft_submit(dft_run_job("held", 100000000, 1));
    json_decref(dft_wait_step(id, 1, 30000));
    state = dft_node_state("n1", &count);
    assert_non_null(state);
    assert_string_equal(state, "UP");
    j = dft_status(id);
    assert_string_equal(dft_state_of(j), "RUNNING");
    assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 0);
    json_decref(j);
    json_decref(dft_req("CANCEL", json_pack("{s:I}", "job", (json_int_t)id), 0, &err));
    j = dft_wait_state(id, "CANCELLED|FAILED|COMPLETED|NODE_FAIL", 20000);
    assert_string_equal(dft_state_of(j), "CANCELLED");
    json_decref(j);
    kill(a, SIGTERM);
    adt_wait(a, 5.0);
    dft_stop(d);
}

/* Two simulated nodes of this machine (127.0.0.1, 127.0.0.2): a 2 x 1 job runs across them. */
static void
test_simulated_nodes(void **st)
{
    pid_t d = dft_start_daemon(), a1 = dft_start_agent_at("n1", "a1", "127.0.0.1"),
          a2 = dft_start_agent_at("n2", "a2", "127.0.0.2");
    json_t *job, *j;
    int64_t id;
    int count;

    for (int t = 0; t < 50 && !(dft_node_state("n1", &count) && dft_node_state("n2", &count)); t++)
        usleep(100 * 1000);
    job = dft_run_job("two-nodes", 20, 1);
    json_object_set_new(json_object_get(job, "layout"), "nodes", json_integer(2));
    id = dft_submit(job);
    j = dft_wait_state(id, "COMPLETED|FAILED", 60000);
    if (strcmp(dft_state_of(j), "COMPLETED"))
        fail_msg("2x1x1 on simulated nodes: %s", json_string_value(json_object_get(j, "reason")));
    assert_string_equal(json_string_value(json_object_get(j, "nodelist")), "n1,n2");
    json_decref(j);
    /* Two one-node jobs at once: the second lands on n2 (127.0.0.2, no ssh there either). */
    {
        int64_t x = dft_submit(dft_run_job("one-a", 200, 1)),
                y = dft_submit(dft_run_job("one-b", 200, 1));

        j = dft_wait_state(x, "COMPLETED|FAILED", 60000);
        assert_string_equal(dft_state_of(j), "COMPLETED");
        json_decref(j);
        j = dft_wait_state(y, "COMPLETED|FAILED", 60000);
        if (strcmp(dft_state_of(j), "COMPLETED"))
            fail_msg("one-node job on n2: %s", json_string_value(json_object_get(j, "reason")));
        assert_string_equal(json_string_value(json_object_get(j, "nodelist")), "n2");
        json_decref(j);
    }
    dft_stop(d);
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
    pid_t d = dft_start_daemon();
    ad_err_t err = {0};
    char keys[300];
    zsock_t *dealer;
    json_t *job, *j;
    int64_t id;
    int count;

    /* A session as an agent has it: with the node key. */
    snprintf(keys, sizeof(keys), "%s/keys/node", dft_home);
    dealer = ad_proto_connect(ZMQ_DEALER, dft_ep[1], keys, &err);
    assert_non_null(dealer);
    s_hello_as(dealer, "ghost-a");
    assert_string_equal(dft_node_state("ghost-a", &count), "UP");
    s_hello_as(dealer, "ghost-b");
    assert_string_equal(dft_node_state("ghost-a", &count), "DOWN");
    assert_int_equal(count, 1);
    assert_string_equal(dft_node_state("ghost-b", &count), "UP");
    job = dft_run_job("two-ghosts", 20, 1);
    json_object_set_new(json_object_get(job, "layout"), "nodes", json_integer(2));
    id = dft_submit(job);
    j = dft_status(id);
    assert_string_equal(dft_state_of(j), "PENDING");
    assert_string_equal(json_string_value(json_object_get(j, "sched")), "never");
    json_decref(j);
    zsock_destroy(&dealer);
    dft_stop(d);
}

/* layout: auto: probes (short jobs), then the job runs on the layout the planner chose. */
static void
test_layout_auto(void **st)
{
    pid_t d = dft_start_daemon(), a = dft_start_agent("n1", "a1");
    json_t *job, *j, *plan, *r, *probes;
    ad_err_t err = {0};
    int64_t id;
    int nodes, ppn, tpp;

    dft_wait_listed("n1");
    job = dft_run_job("auto", 30, 1);
    json_object_set_new(job, "layout", json_string("auto"));
    r = dft_req("SUBMIT", json_pack("{s:o}", "job", job), 0, &err);
    id = json_integer_value(json_object_get(r, "job"));
    assert_string_equal(json_string_value(json_object_get(r, "layout")), "auto");
    json_decref(r);
    j = dft_wait_state(id, "COMPLETED|FAILED|CANCELLED", 120000);
    assert_string_equal(dft_state_of(j), "COMPLETED");
    nodes = (int)json_integer_value(json_object_get(j, "nodes"));
    ppn = (int)json_integer_value(json_object_get(j, "procs_per_node"));
    tpp = (int)json_integer_value(json_object_get(j, "threads_per_proc"));
    assert_int_equal(nodes, 1);
    assert_true(ppn >= 1 && tpp >= 1 && ppn * tpp <= 64);
    plan = json_object_get(j, "plan");
    assert_non_null(plan);
    assert_true(json_array_size(json_object_get(plan, "candidates")) >= 1);
    /* What it did: the layout it chose, predicted against measured. */
    {
        json_t *au = json_object_get(j, "auto");
        char lay[48];

        snprintf(lay, sizeof(lay), "%dx%dx%d", nodes, ppn, tpp);
        assert_non_null(au);
        assert_string_equal(json_string_value(json_object_get(au, "chosen")), lay);
        assert_true(json_number_value(
                        json_object_get(json_object_get(au, "predicted"), "samples_per_s")) > 0);
        assert_true(json_number_value(json_object_get(au, "measured_samples_per_s")) > 0);
        assert_true(json_is_number(json_object_get(au, "error_pct")));
        probes = json_object_get(au, "probes");
    }
    /* Whatever probes ran are ordinary jobs named after it, all ended, each with its throughput. */
    r = dft_req("JOBS", NULL, 0, &err);
    {
        size_t i, n_probes = 0;
        json_t *o, *p;

        json_array_foreach(json_object_get(r, "jobs"), i, o) {
            const char *name = json_string_value(json_object_get(o, "name"));

            json_t *full = dft_status(json_integer_value(json_object_get(o, "id")));
            bool probe = json_is_true(json_object_get(json_object_get(full, "result"), "probe"));

            /* A probe's run is marked so: it never becomes a baseline (docs/speedup.md). */
            if (strncmp(name, "auto-probe-", 11) == 0) {
                assert_string_equal(dft_state_of(o), "COMPLETED");
                assert_true(probe);
                n_probes++;
            } else {
                assert_string_equal(name, "auto");
                assert_false(probe);
            }
            json_decref(full);
        }
        assert_int_equal(json_array_size(probes), n_probes);
        assert_int_equal(json_array_size(json_object_get(plan, "probes")), n_probes);
        json_array_foreach(probes, i, p)
        {
            assert_string_equal(json_string_value(json_object_get(p, "state")), "COMPLETED");
            assert_true(json_number_value(json_object_get(p, "measured_samples_per_s")) > 0);
        }
    }
    /* A coordinator that restarts still tells what it did: from the run's record. */
    {
        json_t *au, *au2;
        char lay[48];

        snprintf(lay, sizeof(lay), "%dx%dx%d", nodes, ppn, tpp);
        au = json_object_get(j, "auto");
        dft_stop(d);
        d = dft_start_daemon();
        json_decref(r);
        r = dft_req("STATUS", json_pack("{s:I}", "job", (json_int_t)id), 0, &err);
        au2 = json_object_get(json_array_get(json_object_get(r, "jobs"), 0), "auto");
        assert_non_null(au2);
        assert_string_equal(json_string_value(json_object_get(au2, "chosen")), lay);
        assert_int_equal(json_array_size(json_object_get(au2, "probes")),
                         json_array_size(json_object_get(au, "probes")));
        assert_true(json_number_value(json_object_get(au2, "measured_samples_per_s")) > 0);
        assert_true(json_is_number(json_object_get(au2, "error_pct")));
    }
    json_decref(j);
    json_decref(r);
    dft_stop_both(d, a);
}

const char *dft_tag = "ad_test_daemon";

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_nodes_duplicate_and_down, dft_setup, dft_teardown),
        cmocka_unit_test_setup_teardown(test_rename_leaves_no_ghost, dft_setup, dft_teardown),
        cmocka_unit_test_setup_teardown(test_port_in_use_and_sigterm, dft_setup, dft_teardown),
        cmocka_unit_test_setup_teardown(test_jobs, dft_setup, dft_teardown),
        cmocka_unit_test_setup_teardown(test_run_and_speedup, dft_setup, dft_teardown),
        cmocka_unit_test_setup_teardown(test_noisy_run, dft_setup, dft_teardown),
        cmocka_unit_test_setup_teardown(test_trainer_fails, dft_setup, dft_teardown),
        cmocka_unit_test_setup_teardown(test_fork_fails, dft_setup, dft_teardown),
        cmocka_unit_test_setup_teardown(test_stop_running, dft_setup, dft_teardown),
        cmocka_unit_test_setup_teardown(test_layout_auto, dft_setup, dft_teardown),
        cmocka_unit_test_setup_teardown(test_simulated_nodes, dft_setup, dft_teardown),
        cmocka_unit_test_setup_teardown(test_held_coordinator, dft_setup, dft_teardown),
    };

    dft_filter();
    return cmocka_run_group_tests(tests, dft_group_setup, dft_group_teardown);
}
