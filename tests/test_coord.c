/* test_coord.c - the coordinator's store side (ad_coord) on a temporary store */
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
#include <unistd.h>

#include <sqlite3.h>

#include "ad_test.h"
#include "autodist/ad_coord.h"
#include "autodist/ad_fault.h"
#include "autodist/ad_journal.h"
#include "autodist/ad_store.h"

/* One store per test, in its own folder. */
typedef struct fixture {
    const char *dir; /* the temp root */
    ad_store_t *store;
} fixture_t;

static int
s_setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    char path[128];
    ad_err_t err = {0};

    if (!f)
        return -1;
    f->dir = adt_root_make("adcoord");
    if (!f->dir)
        return -1;
    snprintf(path, sizeof(path), "%s/autodist.db", f->dir);
    if (ad_store_open(path, AD_STORE_CREATE, &f->store, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    ad_fault_reset();
    *state = f;
    return 0;
}

static int
s_teardown(void **state)
{
    fixture_t *f = *state;

    ad_fault_reset();
    ad_store_close(&f->store);
    free(f);
    return adt_root_remove();
}

/* A HELLO's profile: what ad_coord_node_up() reads of it. */
static json_t *
s_profile(const char *fp, int cores)
{
    return json_pack("{s:s s:{s:s s:i s:i s:i}}", "fingerprint", fp, "cpu", "model", "Test CPU",
                     "cores", cores, "sockets", 2, "pus", 2 * cores);
}

/* A job spec as JSON text. */
static const char s_spec[] = "{\"name\":\"j\",\"model\":\"mlp\",\"steps\":10}";

static void
test_node_up_and_seen(void **state)
{
    fixture_t *f = *state;
    json_t *profile = s_profile("aabbccddeeff0011", 8);
    const char *names[] = {"n1", "no-such-node", "n2"};
    ad_node_t node = {0};
    ad_err_t err = {0};
    int64_t id1 = 0, id1b = 0, id2 = 0;

    assert_int_equal(ad_coord_node_up(f->store, "n1", profile, &id1, &err), 0);
    assert_true(id1 > 0);
    assert_int_equal(ad_coord_node_up(f->store, "n2", profile, &id2, &err), 0);
    assert_true(id2 > 0 && id2 != id1);
    /* The same node again (an agent restarted): the same row. */
    assert_int_equal(ad_coord_node_up(f->store, "n1", profile, &id1b, &err), 0);
    assert_int_equal(id1b, id1);
    assert_int_equal(ad_store_find_node(f->store, "n1", &node), 0);
    assert_int_equal(node.state, AD_NODE_UP);
    ad_store_node_clear(&node);
    assert_int_equal(ad_coord_node_seen(f->store, "n1", true, &err), 0);
    assert_int_equal(ad_store_find_node(f->store, "n1", &node), 0);
    assert_int_equal(node.state, AD_NODE_DOWN);
    ad_store_node_clear(&node);
    assert_int_equal(ad_coord_node_seen(f->store, "n1", false, &err), 0);
    assert_int_equal(ad_store_find_node(f->store, "n1", &node), 0);
    assert_int_equal(node.state, AD_NODE_UP);
    ad_store_node_clear(&node);
    assert_true(ad_coord_node_seen(f->store, "no-such-node", true, &err) < 0);
    assert_true(err.msg[0] != '\0');
    /* Batched signs of life skip names the store does not know. */
    assert_int_equal(ad_coord_nodes_seen(f->store, names, 3, &err), 0);
    assert_int_equal(ad_coord_nodes_seen(f->store, names, 0, &err), 0);
    /* A profile without a fingerprint is recorded as "unknown" hardware. */
    json_decref(profile);
    profile = json_object();
    assert_int_equal(ad_coord_node_up(f->store, "n3", profile, &id2, &err), 0);
    json_decref(profile);
}

static void
test_job_add_set_place(void **state)
{
    fixture_t *f = *state;
    const char *st = NULL;
    ad_err_t err = {0};
    int64_t id = 0;
    json_t *o;

    assert_int_equal(ad_coord_job_add(f->store, "train", s_spec, 2, 4, 1, &id, &err), 0);
    assert_true(id > 0);
    o = ad_coord_job_json(f->store, id, &st, &err);
    assert_non_null(o);
    assert_string_equal(st, "PENDING");
    assert_int_equal(json_integer_value(json_object_get(o, "id")), id);
    assert_string_equal(json_string_value(json_object_get(o, "name")), "train");
    assert_string_equal(json_string_value(json_object_get(o, "state")), "PENDING");
    assert_int_equal(json_integer_value(json_object_get(o, "nodes")), 2);
    assert_int_equal(json_integer_value(json_object_get(o, "procs_per_node")), 4);
    assert_int_equal(json_integer_value(json_object_get(o, "threads_per_proc")), 1);
    assert_true(json_is_null(json_object_get(o, "reason")));
    assert_true(json_is_null(json_object_get(o, "exit_code")));
    assert_true(json_is_null(json_object_get(o, "nodelist")));
    assert_true(json_is_null(json_object_get(o, "sweep")));
    assert_true(json_is_number(json_object_get(o, "submitted")));
    assert_true(json_is_null(json_object_get(o, "started")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "spec"), "steps")), 10);
    json_decref(o);

    assert_int_equal(ad_coord_job_place(f->store, id, 1, 2, 3, "cpu", "n1,n2", &err), 0);
    assert_int_equal(ad_coord_job_set(f->store, id, "RUNNING", NULL, INT32_MIN, &err), 0);
    o = ad_coord_job_json(f->store, id, &st, &err);
    assert_string_equal(st, "RUNNING");
    assert_int_equal(json_integer_value(json_object_get(o, "nodes")), 1);
    assert_int_equal(json_integer_value(json_object_get(o, "procs_per_node")), 2);
    assert_int_equal(json_integer_value(json_object_get(o, "threads_per_proc")), 3);
    assert_string_equal(json_string_value(json_object_get(o, "nodelist")), "n1,n2");
    assert_true(json_is_number(json_object_get(o, "started")));
    json_decref(o);

    assert_int_equal(ad_coord_job_set(f->store, id, "FAILED", "exit 3: boom", 3, &err), 0);
    o = ad_coord_job_json(f->store, id, NULL, &err);
    assert_string_equal(json_string_value(json_object_get(o, "state")), "FAILED");
    assert_string_equal(json_string_value(json_object_get(o, "reason")), "exit 3: boom");
    assert_int_equal(json_integer_value(json_object_get(o, "exit_code")), 3);
    assert_true(json_is_number(json_object_get(o, "ended")));
    json_decref(o);
}

static void
test_job_errors(void **state)
{
    fixture_t *f = *state;
    ad_err_t err = {0};
    int64_t id = 0;

    assert_int_equal(ad_coord_job_add(f->store, "j", s_spec, 1, 1, 1, &id, &err), 0);
    assert_int_equal(ad_coord_job_set(f->store, id, "SLEEPING", NULL, INT32_MIN, &err), AD_EINVAL);
    assert_string_equal(err.msg, "unknown job state SLEEPING");
    assert_int_equal(ad_coord_job_set(f->store, id + 100, "RUNNING", NULL, INT32_MIN, &err),
                     -ENOENT);
    assert_null(ad_coord_job_json(f->store, id + 100, NULL, &err));
    assert_int_equal(err.code, -ENOENT);
    /* A store that fails: the error says so and nothing is added. */
    ad_fault_arm("store.step", 1);
    id = 0;
    assert_true(ad_coord_job_add(f->store, "k", s_spec, 1, 1, 1, &id, &err) < 0);
    assert_true(err.msg[0] != '\0');
    ad_fault_reset();
    {
        json_t *jobs = ad_coord_jobs_json(f->store, NULL, false, "k", 0, &err);

        assert_non_null(jobs);
        assert_int_equal(json_array_size(jobs), 0);
        json_decref(jobs);
    }
}

static void
test_jobs_json(void **state)
{
    fixture_t *f = *state;
    ad_err_t err = {0};
    int64_t a = 0, b = 0, c = 0;
    json_t *jobs;

    assert_int_equal(ad_coord_job_add(f->store, "alpha", s_spec, 1, 1, 1, &a, &err), 0);
    assert_int_equal(ad_coord_job_add(f->store, "beta", s_spec, 1, 1, 1, &b, &err), 0);
    assert_int_equal(ad_coord_job_add(f->store, "alpha", s_spec, 1, 1, 1, &c, &err), 0);
    assert_int_equal(ad_coord_job_set(f->store, b, "RUNNING", NULL, INT32_MIN, &err), 0);
    assert_int_equal(ad_coord_job_set(f->store, c, "RUNNING", NULL, INT32_MIN, &err), 0);
    assert_int_equal(ad_coord_job_set(f->store, c, "COMPLETED", NULL, 0, &err), 0);
    /* The state machine holds: a final job does not run again. */
    assert_true(ad_coord_job_set(f->store, c, "RUNNING", NULL, INT32_MIN, &err) < 0);
    assert_true(err.msg[0] != '\0');

    jobs = ad_coord_jobs_json(f->store, NULL, false, NULL, 0, &err);
    assert_int_equal(json_array_size(jobs), 3);
    /* Newest first. */
    assert_int_equal(json_integer_value(json_object_get(json_array_get(jobs, 0), "id")), c);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(jobs, 2), "id")), a);
    json_decref(jobs);
    jobs = ad_coord_jobs_json(f->store, NULL, true, NULL, 0, &err);
    assert_int_equal(json_array_size(jobs), 2);
    json_decref(jobs);
    jobs = ad_coord_jobs_json(f->store, "RUNNING", false, NULL, 0, &err);
    assert_int_equal(json_array_size(jobs), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(jobs, 0), "id")), b);
    json_decref(jobs);
    jobs = ad_coord_jobs_json(f->store, NULL, false, "alpha", 0, &err);
    assert_int_equal(json_array_size(jobs), 2);
    json_decref(jobs);
    jobs = ad_coord_jobs_json(f->store, NULL, false, NULL, 1, &err);
    assert_int_equal(json_array_size(jobs), 1);
    json_decref(jobs);
    assert_null(ad_coord_jobs_json(f->store, "SLEEPING", false, NULL, 0, &err));
    assert_true(err.msg[0] != '\0');
}

static void
test_runs(void **state)
{
    fixture_t *f = *state;
    ad_coord_run_t run = {0};
    ad_coord_result_t res = {0};
    ad_coord_metric_t m[3] = {{1, "loss", 2.5}, {2, "loss", 2.0}, {2, "samples_per_s", 100}};
    ad_err_t err = {0};
    int64_t job = 0, rid = 0;
    json_t *r;

    assert_int_equal(ad_coord_job_add(f->store, "j", s_spec, 1, 2, 1, &job, &err), 0);
    /* No run yet: no result. */
    assert_null(ad_coord_job_result(f->store, job));
    run.job = job;
    run.model = "mlp";
    run.dataset = "synthetic";
    run.hardware = "aabbccddeeff0011";
    run.device = "cpu";
    run.nodes = 1;
    run.procs_per_node = 2;
    run.threads_per_proc = 1;
    run.batch_size = 64;
    run.config_hash = "0123456789abcdef";
    assert_int_equal(ad_coord_run_start(f->store, &run, &rid, &err), 0);
    assert_true(rid > 0);
    assert_int_equal(ad_coord_run_metrics(f->store, rid, m, 3, &err), 0);
    assert_int_equal(ad_coord_run_metrics(f->store, rid, m, 0, &err), 0);
    r = ad_coord_job_result(f->store, job);
    assert_non_null(r);
    assert_int_equal(json_integer_value(json_object_get(r, "run")), rid);
    assert_string_equal(json_string_value(json_object_get(r, "state")), "RUNNING");
    assert_true(json_is_null(json_object_get(r, "samples_per_s")));
    json_decref(r);

    res.state = "COMPLETED";
    res.samples_per_s = 123.5;
    res.epoch_time_s = NAN;
    res.accuracy = 0.75;
    res.step_time_s = 0.5;
    res.comm_time_s = 0.1;
    res.params = 1000;
    assert_int_equal(ad_coord_run_finish(f->store, rid, &res, &err), 0);
    r = ad_coord_job_result(f->store, job);
    assert_non_null(r);
    assert_string_equal(json_string_value(json_object_get(r, "state")), "COMPLETED");
    assert_true(fabs(json_number_value(json_object_get(r, "samples_per_s")) - 123.5) < 1e-9);
    assert_true(fabs(json_number_value(json_object_get(r, "accuracy")) - 0.75) < 1e-9);
    assert_true(json_is_null(json_object_get(r, "epoch_time_s")));
    assert_true(json_is_number(json_object_get(r, "wall_s")));
    json_decref(r);

    res.state = "DONE-ISH";
    assert_int_equal(ad_coord_run_finish(f->store, rid, &res, &err), AD_EINVAL);
    assert_string_equal(err.msg, "unknown job state DONE-ISH");
}

static void
test_state_is_final(void **state)
{
    assert_true(ad_coord_state_is_final("COMPLETED"));
    assert_true(ad_coord_state_is_final("FAILED"));
    assert_true(ad_coord_state_is_final("CANCELLED"));
    assert_true(ad_coord_state_is_final("TIMEOUT"));
    assert_true(ad_coord_state_is_final("NODE_FAIL"));
    assert_false(ad_coord_state_is_final("PENDING"));
    assert_false(ad_coord_state_is_final("RUNNING"));
}

/* What test_sweeps' callback saw. */
typedef struct seen {
    int n;
    int64_t ids[8];
    char hashes[8][17];
    int stop_after; /* return 7 after this many; 0 = never */
} seen_t;

static int
s_on_sweep_job(const ad_coord_sweep_job_t *job, void *arg)
{
    seen_t *s = arg;

    if (s->n < 8) {
        s->ids[s->n] = job->id;
        snprintf(s->hashes[s->n], sizeof(s->hashes[s->n]), "%s",
                 job->config_hash ? job->config_hash : "");
    }
    s->n++;
    return s->stop_after && s->n >= s->stop_after ? 7 : 0;
}

static void
test_sweeps(void **state)
{
    fixture_t *f = *state;
    ad_err_t err = {0};
    int64_t s1 = 0, s1b = 0, s2 = 0, j1 = 0, j2 = 0, plain = 0;
    bool created = false;
    seen_t seen = {0};
    json_t *v;
    char *spec;

    assert_int_equal(
        ad_coord_sweep_add(f->store, "lr", "1111111111111111", "{\"a\":1}", &s1, &created, &err),
        0);
    assert_true(created);
    /* The same file again: the same sweep, resumed. */
    assert_int_equal(
        ad_coord_sweep_add(f->store, "lr", "1111111111111111", "{\"a\":1}", &s1b, &created, &err),
        0);
    assert_false(created);
    assert_int_equal(s1b, s1);
    /* The file changed: a new version under the same name. */
    assert_int_equal(
        ad_coord_sweep_add(f->store, "lr", "2222222222222222", "{\"a\":2}", &s2, NULL, &err), 0);
    assert_true(s2 != s1);
    v = ad_coord_sweep_versions(f->store, "lr", &err);
    assert_int_equal(json_array_size(v), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(v, 0), "id")), s1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(v, 1), "file_hash")),
                        "2222222222222222");
    json_decref(v);
    v = ad_coord_sweep_versions(f->store, "none", &err);
    assert_int_equal(json_array_size(v), 0);
    json_decref(v);

    spec = ad_coord_sweep_spec(f->store, s2, &err);
    assert_non_null(spec);
    assert_string_equal(spec, "{\"a\":2}");
    free(spec);
    assert_null(ad_coord_sweep_spec(f->store, s2 + 100, &err));
    assert_int_equal(err.code, -ENOENT);

    assert_int_equal(ad_coord_sweep_job_add(f->store, "lr-0", s_spec, 1, 1, 1, s1,
                                            "aaaaaaaaaaaaaaaa", &j1, &err),
                     0);
    assert_int_equal(ad_coord_sweep_job_add(f->store, "lr-1", s_spec, 1, 1, 1, s1,
                                            "bbbbbbbbbbbbbbbb", &j2, &err),
                     0);
    assert_int_equal(ad_coord_job_add(f->store, "plain", s_spec, 1, 1, 1, &plain, &err), 0);
    assert_int_equal(ad_coord_job_sweep(f->store, j1), s1);
    assert_int_equal(ad_coord_job_sweep(f->store, plain), 0);
    assert_int_equal(ad_coord_job_sweep(f->store, plain + 100), 0);
    v = ad_coord_job_json(f->store, j2, NULL, &err);
    assert_int_equal(json_integer_value(json_object_get(v, "sweep")), s1);
    assert_string_equal(json_string_value(json_object_get(v, "config_hash")), "bbbbbbbbbbbbbbbb");
    json_decref(v);

    assert_int_equal(ad_coord_sweep_jobs(f->store, s1, s_on_sweep_job, &seen, &err), 0);
    assert_int_equal(seen.n, 2);
    assert_int_equal(seen.ids[0], j1);
    assert_int_equal(seen.ids[1], j2);
    assert_string_equal(seen.hashes[0], "aaaaaaaaaaaaaaaa");
    /* The callback stops the walk with its own value. */
    memset(&seen, 0, sizeof(seen));
    seen.stop_after = 1;
    assert_int_equal(ad_coord_sweep_jobs(f->store, s1, s_on_sweep_job, &seen, &err), 7);
    assert_int_equal(seen.n, 1);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(ad_coord_sweep_jobs(f->store, s2, s_on_sweep_job, &seen, &err), 0);
    assert_int_equal(seen.n, 0);
}

/*
 * The journal: writes go in at once on a free store; while another connection
 * holds the write lock they wait, in order, and go in when it is free; a write
 * that fails for another reason is an error at once.
 */
static void
test_journal(void **state)
{
    fixture_t *f = *state;
    ad_journal_t *j = ad_journal_new(f->store);
    char path[128];
    ad_err_t err = {0};
    sqlite3 *other = NULL;
    const char *st = NULL;
    int64_t id;
    json_t *o;
    double t;

    assert_int_equal(ad_coord_job_add(f->store, "j", s_spec, 1, 1, 1, &id, &err), 0);
    assert_int_equal(ad_journal_job_set(j, id, "RUNNING", NULL, INT32_MIN, &err), 0);
    assert_int_equal(ad_journal_waiting(j), 0);
    o = ad_coord_job_json(f->store, id, &st, &err);
    assert_string_equal(st, "RUNNING");
    json_decref(o);

    /* Another process holds the lock: the writes wait, and the call does not wait long. */
    snprintf(path, sizeof(path), "%s/autodist.db", f->dir);
    assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    t = adt_now();
    assert_int_equal(ad_journal_job_proc(j, id, 1234, "boot:1", 0, &err), 0);
    assert_int_equal(ad_journal_job_set(j, id, "COMPLETED", NULL, 0, &err), 0);
    assert_true(adt_now() - t < 1.0);
    assert_int_equal(ad_journal_waiting(j), 2);
    assert_int_equal(ad_journal_flush(j, 0.01), 2);
    o = ad_coord_job_json(f->store, id, &st, &err);
    assert_string_equal(st, "RUNNING");
    json_decref(o);
    assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    assert_int_equal(ad_journal_flush(j, 1.0), 0);
    o = ad_coord_job_json(f->store, id, &st, &err);
    assert_string_equal(st, "COMPLETED");
    assert_int_equal(json_integer_value(json_object_get(o, "exit_code")), 0);
    json_decref(o);

    /* Not the lock: a state that cannot be reached is an error now, nothing waits. */
    assert_true(ad_journal_job_set(j, id, "RUNNING", NULL, INT32_MIN, &err) < 0);
    adt_assert_has(err.msg, "cannot go from COMPLETED to RUNNING");
    assert_int_equal(ad_journal_waiting(j), 0);
    ad_journal_free(&j);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_node_up_and_seen, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_job_add_set_place, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_job_errors, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_jobs_json, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_runs, s_setup, s_teardown),
        cmocka_unit_test(test_state_is_final),
        cmocka_unit_test_setup_teardown(test_sweeps, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_journal, s_setup, s_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
