/* test_faults.c - the fault suite: coordinators, agents and ranks killed mid-job
 * (docs/reliability.md) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "daemon_fixture.h"
#include "store_fixture.h"

const char *dft_tag = "ad_test_faults";

/* A restarted coordinator must not wait for SIGKILL's grace in these tests. */
static const char *const s_opts[] = {"--node-grace", "2", "--kill-grace", "3", NULL};

/* Generous bounds: a loaded 2-core machine must not fail a test; they only catch hangs. */
#define S_RUN_MS 90000

static pid_t
s_daemon(void)
{
    return dft_start_daemon_with(s_opts);
}

/* A job of steps steps that checkpoints every ckpt steps (0: never). */
static json_t *
s_job(const char *name, int64_t steps, int64_t ckpt)
{
    json_t *j = dft_run_job(name, steps, 1);

    if (ckpt)
        json_object_set_new(j, "checkpoint_every", json_integer(ckpt));
    return j;
}

/* A coordinator (with s_opts) and one agent, n1, listed in NODES; the agent's pid in *a. */
static pid_t
s_cluster(pid_t *a)
{
    pid_t d = s_daemon();

    *a = dft_start_agent("n1", "a1");
    dft_wait_listed("n1");
    return d;
}

/* Submit job (stolen) and wait until it reports step; its id. */
static int64_t
s_run_to_step(json_t *job, int64_t step)
{
    int64_t id = dft_submit(job);

    json_decref(dft_wait_step(id, step, S_RUN_MS));
    return id;
}

/* kill -9 of the coordinator d. */
static void
s_kill_coordinator(pid_t d)
{
    kill(d, SIGKILL);
    assert_int_equal(adt_wait(d, 5.0), 128 + SIGKILL);
}

/* Wait (at most 60 s) until job id's launcher has written its exit file. */
static void
s_wait_exit_file(int64_t id)
{
    char path[256];

    snprintf(path, sizeof(path), "%s/logs/%lld/exit.json", dft_home, (long long)id);
    for (int t = 0; t < 600 && access(path, F_OK); t++)
        usleep(100 * 1000);
    assert_int_equal(access(path, F_OK), 0);
}

/* The run of finished job j: COMPLETED with a throughput; its metrics in the store. */
static void
s_assert_result(json_t *j)
{
    json_t *res = json_object_get(j, "result");

    if (strcmp(dft_state_of(j), "COMPLETED")) {
        char cmd[512], *dump = json_dumps(j, JSON_COMPACT);

        snprintf(cmd, sizeof(cmd), "tail -n 30 %s/logs/%lld/output.log %s.daemon.log >&2", dft_home,
                 (long long)json_integer_value(json_object_get(j, "id")), dft_home);
        if (system(cmd) < 0)
            perror("tail");
        fail_msg("job not COMPLETED: %s", dump);
    }
    assert_non_null(res);
    assert_string_equal(json_string_value(json_object_get(res, "state")), "COMPLETED");
    assert_true(json_number_value(json_object_get(res, "samples_per_s")) > 0);
}

/* Rows of the store at the test's home that sql counts. */
static int
s_count(const char *sql)
{
    char path[256];

    snprintf(path, sizeof(path), "%s/runs.db", dft_home);
    return (int)sft_raw_int(path, sql);
}

/* kill -9 of the coordinator mid-job: started again, it adopts the job, which completes. */
static void
test_coordinator_killed_mid_job(void **st)
{
    pid_t a, d = s_cluster(&a);
    int64_t id;
    json_t *j;

    (void)st;
    id = s_run_to_step(s_job("adopt", 20000, 0), 1);
    s_kill_coordinator(d);
    /* The job goes on without a coordinator. */
    assert_true(dft_job_procs(id) >= 2);
    d = s_daemon();
    j = dft_wait_state(id, "COMPLETED|FAILED|NODE_FAIL|CANCELLED", S_RUN_MS);
    s_assert_result(j);
    assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 0);
    json_decref(j);
    /* One run row, every step's loss in the store. */
    assert_int_equal(s_count("SELECT count(*) FROM runs"), 1);
    assert_int_equal(s_count("SELECT count(*) FROM runs WHERE state = 'COMPLETED'"), 1);
    assert_int_equal(s_count("SELECT count(*) FROM metrics WHERE key = 'loss'"), 20000);
    dft_stop_both(d, a);
}

/* The job ends while no coordinator runs: the next one finishes it from its exit file. */
static void
test_job_ends_while_coordinator_away(void **st)
{
    pid_t a, d = s_cluster(&a);
    int64_t id;
    json_t *j;

    (void)st;
    id = s_run_to_step(s_job("away", 3000, 0), 1);
    s_kill_coordinator(d);
    s_wait_exit_file(id);
    d = s_daemon();
    j = dft_wait_state(id, "COMPLETED|FAILED|NODE_FAIL|CANCELLED", 10000);
    s_assert_result(j);
    json_decref(j);
    assert_int_equal(s_count("SELECT count(*) FROM metrics WHERE key = 'loss'"), 3000);
    assert_int_equal(s_count("SELECT count(*) FROM runs WHERE state = 'RUNNING'"), 0);
    dft_stop_both(d, a);
}

/*
 * A rank killed while no coordinator runs: the next one finds the failure in
 * exit.json and records it FAILED with mpirun's reason; not requeued (the
 * nodes it does not know yet say nothing about a lost node).
 */
static void
test_job_fails_while_coordinator_away(void **st)
{
    pid_t a, d = s_cluster(&a);
    int64_t id;
    json_t *j;

    (void)st;
    id = s_run_to_step(s_job("crash", 100000000, 0), 1);
    s_kill_coordinator(d);
    assert_int_equal(dft_job_signal(id, "autodist-train", SIGKILL), 1);
    s_wait_exit_file(id);
    d = s_daemon();
    j = dft_wait_state(id, "COMPLETED|FAILED|NODE_FAIL|CANCELLED|PENDING", 10000);
    assert_string_equal(dft_state_of(j), "FAILED");
    adt_assert_has(json_string_value(json_object_get(j, "reason")), "killed by signal 9");
    assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 0);
    json_decref(j);
    assert_int_equal(s_count("SELECT count(*) FROM runs WHERE state = 'FAILED'"), 1);
    dft_stop_both(d, a);
}

/* Coordinator and job killed together (the machine rebooted): requeued, resumed, completed. */
static void
test_job_lost_with_coordinator(void **st)
{
    pid_t a, d = s_cluster(&a);
    int64_t id;
    json_t *j;

    (void)st;
    id = s_run_to_step(s_job("lost", 4000, 200), 500);
    s_kill_coordinator(d);
    assert_true(dft_job_signal(id, "", SIGKILL) >= 2);
    for (int t = 0; t < 50 && dft_job_procs(id); t++)
        usleep(100 * 1000);
    d = s_daemon();
    j = dft_wait_state(id, "COMPLETED|FAILED|NODE_FAIL|CANCELLED", S_RUN_MS);
    s_assert_result(j);
    assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 1);
    json_decref(j);
    /* Two runs: the lost one ended (not RUNNING for ever), then the resumed one. */
    assert_int_equal(s_count("SELECT count(*) FROM runs"), 2);
    assert_int_equal(s_count("SELECT count(*) FROM runs WHERE state = 'RUNNING'"), 0);
    dft_stop_both(d, a);
}

/* The agent dies, its ranks train on: the job is not killed, it completes. */
static void
test_agent_killed_ranks_run_on(void **st)
{
    pid_t a, d = s_cluster(&a);
    int64_t id;
    json_t *j;

    (void)st;
    id = s_run_to_step(s_job("orphan", 40000, 0), 1);
    kill(a, SIGKILL);
    assert_int_equal(adt_wait(a, 5.0), 128 + SIGKILL);
    /* STATUS says why it goes on without its node. */
    for (int t = 0;; t += 100) {
        const char *reason;

        j = dft_status(id);
        reason = json_string_value(json_object_get(j, "reason"));
        if (reason && strstr(reason, "node n1 went DOWN") &&
            strstr(reason, "its steps still advance"))
            break;
        if (t > 20000 || strcmp(dft_state_of(j), "RUNNING"))
            fail_msg("no 'runs on' reason while n1 is DOWN: %s %s", dft_state_of(j),
                     reason ? reason : "(none)");
        json_decref(j);
        usleep(100 * 1000);
    }
    json_decref(j);
    j = dft_wait_state(id, "COMPLETED|FAILED|NODE_FAIL|CANCELLED", S_RUN_MS);
    s_assert_result(j);
    assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 0);
    json_decref(j);
    dft_stop(d);
}

/* The largest step of metrics.jsonl's events before its start number n (1-based) and that
 * start's start_step. */
static void
s_steps_around_start(int64_t id, int n, int64_t *last_before, int64_t *start_step)
{
    char path[256], *line = NULL;
    size_t cap = 0;
    int starts = 0;
    FILE *f;

    snprintf(path, sizeof(path), "%s/logs/%lld/metrics.jsonl", dft_home, (long long)id);
    f = fopen(path, "r");
    assert_non_null(f);
    *last_before = *start_step = -1;
    while (getline(&line, &cap, f) > 0) {
        json_t *ev = json_loads(line, 0, NULL);
        const char *event = json_string_value(json_object_get(ev, "event"));

        if (event && !strcmp(event, "start") && ++starts == n)
            *start_step = json_integer_value(json_object_get(ev, "start_step"));
        else if (event && !strcmp(event, "step") && starts < n &&
                 json_integer_value(json_object_get(ev, "step")) > *last_before)
            *last_before = json_integer_value(json_object_get(ev, "step"));
        json_decref(ev);
    }
    free(line);
    fclose(f);
}

/*
 * The agent dies and its ranks hang (the node is gone): NODE_FAIL after
 * --node-grace, requeued; the agent comes back and the job resumes from its
 * last checkpoint (steps redone <= one checkpoint interval) and completes.
 */
static void
test_node_lost_requeue_resume(void **st)
{
    pid_t a, d = s_cluster(&a);
    int64_t id, last, start;
    json_t *j;

    (void)st;
    id = s_run_to_step(s_job("requeue", 6000, 100), 500);
    kill(a, SIGKILL);
    assert_int_equal(adt_wait(a, 5.0), 128 + SIGKILL);
    assert_true(dft_job_signal(id, "autodist-train", SIGSTOP) >= 1);
    j = dft_wait_state(id, "PENDING|COMPLETED|FAILED|NODE_FAIL", S_RUN_MS);
    assert_string_equal(dft_state_of(j), "PENDING");
    assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 1);
    adt_assert_has(json_string_value(json_object_get(j, "reason")), "requeued (1 of 3)");
    adt_assert_has(json_string_value(json_object_get(j, "reason")), "node n1 went DOWN");
    json_decref(j);
    for (int t = 0; t < 100 && dft_job_procs(id); t++)
        usleep(100 * 1000);
    assert_int_equal(dft_job_procs(id), 0);
    a = dft_start_agent("n1", "a1b");
    j = dft_wait_state(id, "COMPLETED|FAILED|NODE_FAIL|CANCELLED", S_RUN_MS);
    s_assert_result(j);
    json_decref(j);
    s_steps_around_start(id, 2, &last, &start);
    assert_true(start > 0);
    if (last - start > 100)
        fail_msg("resumed at step %lld after step %lld: %lld steps redone", (long long)start,
                 (long long)last, (long long)(last - start));
    assert_int_equal(s_count("SELECT count(*) FROM runs WHERE state = 'NODE_FAIL'"), 1);
    assert_int_equal(s_count("SELECT count(*) FROM runs WHERE state = 'COMPLETED'"), 1);
    dft_stop_both(d, a);
}

/* A rank killed: FAILED with which rank, where, and which signal. */
static void
test_rank_killed_reason(void **st)
{
    pid_t a, d = s_cluster(&a);
    const char *reason;
    int64_t id;
    json_t *j, *job = dft_run_job("victim", 100000000, 2);

    (void)st;
    id = s_run_to_step(job, 1);
    /* One of the two ranks (whichever the shell finds first). */
    {
        char cmd[512];

        snprintf(cmd, sizeof(cmd),
                 "for p in $(pgrep -x autodist-train); do "
                 "  grep -qzs '^AUTODIST_HOME=%s$' /proc/$p/environ && kill -9 $p && break; "
                 "done",
                 dft_home);
        assert_int_equal(system(cmd), 0);
    }
    j = dft_wait_state(id, "FAILED|COMPLETED|NODE_FAIL", S_RUN_MS);
    assert_string_equal(dft_state_of(j), "FAILED");
    reason = json_string_value(json_object_get(j, "reason"));
    adt_assert_has(reason, "exit 137: rank ");
    adt_assert_has(reason, "killed by signal 9 (Killed)");
    json_decref(j);
    assert_int_equal(dft_job_procs(id), 0);
    dft_stop_both(d, a);
}

/* The coordinator stopped (SHUTDOWN) mid-job: the job is requeued and resumes at the next start. */
static void
test_shutdown_requeues(void **st)
{
    pid_t a, d = s_cluster(&a);
    ad_err_t err = {0};
    int64_t id;
    json_t *j;

    (void)st;
    id = s_run_to_step(s_job("paused", 6000, 0), 500);
    json_decref(dft_req("SHUTDOWN", NULL, 0, &err));
    assert_int_equal(adt_wait(d, 10.0), 0);
    assert_int_equal(dft_job_procs(id), 0);
    assert_int_equal(s_count("SELECT count(*) FROM jobs WHERE state = 'PENDING' AND attempts = 1"),
                     1);
    d = s_daemon();
    j = dft_wait_state(id, "COMPLETED|FAILED|NODE_FAIL|CANCELLED", S_RUN_MS);
    s_assert_result(j);
    json_decref(j);
    dft_stop_both(d, a);
}

/*
 * Another process holds the store's write lock for 8 s mid-job (an `autodist
 * import`): the coordinator answers, no node goes DOWN, the job completes and
 * no metric is lost; what waited is written once the lock is gone.
 */
static void
test_store_held_by_another_writer(void **st)
{
    pid_t a, d = s_cluster(&a);
    char path[256], log[256], cmd[600];
    adt_proc_t cli;
    adt_result_t res;
    sqlite3 *db = NULL;
    double t0, worst = 0;
    int64_t id;
    json_t *j;
    int count;

    (void)st;
    id = s_run_to_step(s_job("held", 12000, 0), 100);
    snprintf(path, sizeof(path), "%s/runs.db", dft_home);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    /* A new job needs an id from the store: EAGAIN now, and `autodist submit` waits for it. */
    {
        ad_err_t err = {0};

        json_decref(
            dft_req("SUBMIT", json_pack("{s:o}", "job", s_job("later", 10, 0)), -EAGAIN, &err));
        adt_assert_has(err.msg, "the store is busy");
    }
    {
        char job[300], keys[300];
        const char *args[] = {"--keys", keys, "--coordinator", dft_ep[0], "submit", job, NULL};

        snprintf(job, sizeof(job), "%s.later.yaml", dft_home);
        snprintf(keys, sizeof(keys), "%s/keys", dft_home);
        adt_write_file(job, "name: later\nmodel: mlp\n"
                            "dataset: {synthetic: {shape: [1, 8, 8], classes: 4, samples: 64}}\n"
                            "steps: 5\nbatch_size: 16\n"
                            "layout: {nodes: 1, procs_per_node: 1, threads_per_proc: 1}\n");
        adt_start(&cli, AD_CLI_BIN, args, adt_root());
    }
    for (t0 = adt_now(); adt_now() - t0 < 8;) {
        double t = adt_now();
        const char *state = dft_node_state("n1", &count);

        if (adt_now() - t > worst)
            worst = adt_now() - t;
        assert_non_null(state);
        assert_string_equal(state, "UP");
        usleep(200 * 1000);
    }
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    adt_finish(&cli, &res, 60);
    adt_expect_status(&res, 0);
    adt_assert_has(res.err, "trying again");
    adt_assert_has(res.out, "submitted job");
    /* The coordinator kept answering while the store was held (its writes wait 0.1 s at most). */
    if (worst > 1.5)
        fail_msg("a NODES request took %.2f s while the store was held", worst);
    j = dft_wait_state(id, "COMPLETED|FAILED|NODE_FAIL|CANCELLED", S_RUN_MS);
    s_assert_result(j);
    json_decref(j);
    assert_int_equal(s_count("SELECT count(*) FROM metrics WHERE key = 'loss'"), 12000);
    snprintf(log, sizeof(log), "%s.daemon.log", dft_home);
    snprintf(cmd, sizeof(cmd), "grep -q 'is DOWN' %s", log);
    assert_int_not_equal(system(cmd), 0);
    snprintf(cmd, sizeof(cmd), "grep -q 'delayed write(s) done' %s", log);
    assert_int_equal(system(cmd), 0);
    dft_stop_both(d, a);
}

/* Too little free space for a job's logs and checkpoints: it fails at once, saying so. */
static void
test_no_room_to_start(void **st)
{
    static const char *const opts[] = {"--min-free-mib", "1000000000000", NULL};
    pid_t d = dft_start_daemon_with(opts), a = dft_start_agent("n1", "a1");
    const char *reason;
    int64_t id;
    json_t *j;

    (void)st;
    dft_wait_listed("n1");
    id = dft_submit(s_job("roomless", 100, 0));
    j = dft_wait_state(id, "FAILED|COMPLETED", 20000);
    assert_string_equal(dft_state_of(j), "FAILED");
    reason = json_string_value(json_object_get(j, "reason"));
    adt_assert_has(reason, "MiB free, need 1000000000000 MiB");
    adt_assert_has(reason, "--min-free-mib");
    json_decref(j);
    dft_stop_both(d, a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_coordinator_killed_mid_job, dft_setup, dft_teardown),
        cmocka_unit_test_setup_teardown(test_job_ends_while_coordinator_away, dft_setup,
                                        dft_teardown),
        cmocka_unit_test_setup_teardown(test_job_fails_while_coordinator_away, dft_setup,
                                        dft_teardown),
        cmocka_unit_test_setup_teardown(test_job_lost_with_coordinator, dft_setup, dft_teardown),
        cmocka_unit_test_setup_teardown(test_agent_killed_ranks_run_on, dft_setup, dft_teardown),
        cmocka_unit_test_setup_teardown(test_node_lost_requeue_resume, dft_setup, dft_teardown),
        cmocka_unit_test_setup_teardown(test_rank_killed_reason, dft_setup, dft_teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_requeues, dft_setup, dft_teardown),
        cmocka_unit_test_setup_teardown(test_store_held_by_another_writer, dft_setup, dft_teardown),
        cmocka_unit_test_setup_teardown(test_no_room_to_start, dft_setup, dft_teardown),
    };

    dft_filter();
    return cmocka_run_group_tests(tests, dft_group_setup, dft_group_teardown);
}
