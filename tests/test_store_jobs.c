/* test_store_jobs.c - the store's nodes, profiles and jobs: round trips and state changes */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ad_test.h"
#include "autodist/ad_store.h"
#include "store_fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------- */
/* Round trips.                                                                            */

static void
test_nodes_and_profiles(void **state)
{
    char path[512];
    ad_store_t *store = sft_new_store(path, sizeof(path), "nodes");
    ad_profile_row_t prof, got;
    ad_node_t node, *rows = NULL;
    int64_t id, id2, pid;
    size_t n;

    ad_store_node_init(&node);
    node.hostname = "gros-12";
    node.address = "tcp://10.0.0.12:7401";
    node.first_seen = 1000;
    node.last_seen = 1000;
    assert_int_equal(ad_store_put_node(store, &node, &id), 0);
    /* The same hostname again updates the row and keeps first_seen. */
    node.address = NULL;
    node.last_seen = 2000;
    node.first_seen = 1500;
    assert_int_equal(ad_store_put_node(store, &node, &id2), 0);
    assert_int_equal(id, id2);
    node.hostname = "gros-13";
    assert_int_equal(ad_store_put_node(store, &node, &id2), 0);
    assert_int_not_equal(id, id2);

    assert_int_equal(ad_store_get_node(store, id, &node), 0);
    assert_string_equal(node.hostname, "gros-12");
    assert_string_equal(node.address, "tcp://10.0.0.12:7401");
    assert_int_equal(node.state, AD_NODE_UP);
    assert_near(node.first_seen, 1000);
    assert_near(node.last_seen, 2000);
    assert_null(node.hardware);
    ad_store_node_clear(&node);
    ad_store_node_clear(&node);

    assert_int_equal(ad_store_set_node_state(store, id, AD_NODE_DOWN, 3000), 0);
    assert_int_equal(ad_store_set_node_state(store, 999, AD_NODE_DOWN, NAN), -ENOENT);
    adt_assert_has(ad_store_errmsg(store), "node 999: no such node");

    ad_store_profile_row_init(&prof);
    prof.node = id;
    prof.hardware = "xeon-gold-5220-x2-96g";
    prof.cpu_model = "Intel(R) Xeon(R) Gold 5220";
    prof.sockets = 2;
    prof.cores = 36;
    prof.pus = 72;
    prof.memory_bytes = 96LL << 30;
    prof.gemm_gflops_1 = 70.5;
    prof.gemm_gflops_all = 2100;
    prof.topology = "{\"numa\":2}";
    assert_int_equal(ad_store_add_profile(store, &prof, &pid), 0);
    assert_int_equal(ad_store_get_profile(store, id, &got), 0);
    assert_int_equal(got.id, pid);
    assert_string_equal(got.hardware, "xeon-gold-5220-x2-96g");
    assert_string_equal(got.cpu_model, "Intel(R) Xeon(R) Gold 5220");
    assert_int_equal(got.cores, 36);
    assert_int_equal(got.pus, 72);
    assert_int_equal(got.gpus, 0);
    assert_int_equal(got.memory_bytes, 96LL << 30);
    assert_near(got.gemm_gflops_1, 70.5);
    assert_true(isnan(got.mem_bw_gbs));
    assert_string_equal(got.topology, "{\"numa\":2}");
    assert_true(got.measured > 1e9);
    ad_store_profile_row_clear(&got);
    assert_int_equal(ad_store_find_profile(store, "xeon-gold-5220-x2-96g", &got), 0);
    assert_int_equal(got.node, id);
    ad_store_profile_row_clear(&got);
    assert_int_equal(ad_store_find_profile(store, "nope", &got), -ENOENT);
    assert_int_equal(ad_store_get_profile(store, id2, &got), -ENOENT);
    prof.hardware = NULL;
    assert_int_equal(ad_store_add_profile(store, &prof, NULL), AD_EINVAL);

    assert_int_equal(ad_store_find_node(store, "gros-12", &node), 0);
    assert_int_equal(node.state, AD_NODE_DOWN);
    assert_string_equal(node.hardware, "xeon-gold-5220-x2-96g");
    ad_store_node_clear(&node);
    assert_int_equal(ad_store_find_node(store, "nope", &node), -ENOENT);
    adt_assert_has(ad_store_errmsg(store), "node \"nope\": no such node");

    assert_int_equal(ad_store_list_nodes(store, &rows, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(rows[0].hostname, "gros-12");
    assert_string_equal(rows[1].hostname, "gros-13");
    ad_store_nodes_free(&rows, n);
    assert_null(rows);
    ad_store_close(&store);
}

static void
test_job_states(void **state)
{
    static const char *names[] = {"PENDING",   "RUNNING", "COMPLETED", "FAILED",
                                  "CANCELLED", "TIMEOUT", "NODE_FAIL"};
    ad_job_state_t s;
    ad_node_state_t ns;

    for (int i = 0; i < AD_JOB_STATE_COUNT; i++) {
        assert_string_equal(ad_store_job_state_name((ad_job_state_t)i), names[i]);
        assert_int_equal(ad_store_job_state_from_name(names[i], &s), 0);
        assert_int_equal(s, i);
    }
    assert_int_equal(ad_store_job_state_from_name("node_fail", &s), 0);
    assert_int_equal(s, AD_JOB_NODE_FAIL);
    assert_int_equal(ad_store_job_state_from_name("DONE", &s), AD_EINVAL);
    assert_int_equal(ad_store_job_state_from_name(NULL, &s), AD_EINVAL);
    assert_string_equal(ad_store_job_state_name((ad_job_state_t)42), "UNKNOWN");
    assert_false(ad_store_job_state_is_final(AD_JOB_PENDING));
    assert_false(ad_store_job_state_is_final(AD_JOB_RUNNING));
    for (int i = AD_JOB_COMPLETED; i < AD_JOB_STATE_COUNT; i++) {
        assert_true(ad_store_job_state_is_final((ad_job_state_t)i));
        for (int j = 0; j < AD_JOB_STATE_COUNT; j++)
            assert_false(ad_store_job_state_can_move((ad_job_state_t)i, (ad_job_state_t)j));
    }
    assert_true(ad_store_job_state_can_move(AD_JOB_PENDING, AD_JOB_RUNNING));
    assert_true(ad_store_job_state_can_move(AD_JOB_PENDING, AD_JOB_CANCELLED));
    assert_false(ad_store_job_state_can_move(AD_JOB_PENDING, AD_JOB_COMPLETED));
    assert_false(ad_store_job_state_can_move(AD_JOB_PENDING, AD_JOB_PENDING));
    assert_true(ad_store_job_state_can_move(AD_JOB_RUNNING, AD_JOB_NODE_FAIL));
    assert_true(ad_store_job_state_can_move(AD_JOB_RUNNING, AD_JOB_PENDING));
    assert_false(ad_store_job_state_can_move(AD_JOB_RUNNING, AD_JOB_RUNNING));

    assert_int_equal(ad_store_node_state_from_name("drain", &ns), 0);
    assert_int_equal(ns, AD_NODE_DRAIN);
    assert_string_equal(ad_store_node_state_name(AD_NODE_DOWN), "DOWN");
    assert_int_equal(ad_store_node_state_from_name("IDLE", &ns), AD_EINVAL);
}

static void
test_jobs_round_trip_and_transitions(void **state)
{
    char path[512];
    ad_store_t *store = sft_new_store(path, sizeof(path), "jobs");
    ad_job_row_t job, *rows = NULL;
    int64_t a, b, c;
    size_t n;

    ad_store_job_row_init(&job);
    job.name = "fashion-cnn";
    job.spec = "{\"model\":\"cnn\",\"batch_size\":256}";
    job.state = AD_JOB_COMPLETED; /* ignored: a new job is PENDING */
    assert_int_equal(ad_store_add_job(store, &job, &a), 0);
    job.name = "second";
    job.reason = "Resources";
    assert_int_equal(ad_store_add_job(store, &job, &b), 0);
    job.name = "third";
    job.reason = NULL;
    assert_int_equal(ad_store_add_job(store, &job, &c), 0);
    job.name = NULL;
    assert_int_equal(ad_store_add_job(store, &job, NULL), AD_EINVAL);

    assert_int_equal(ad_store_get_job(store, a, &job), 0);
    assert_string_equal(job.name, "fashion-cnn");
    assert_string_equal(job.spec, "{\"model\":\"cnn\",\"batch_size\":256}");
    assert_int_equal(job.state, AD_JOB_PENDING);
    assert_true(job.submitted > 1e9);
    assert_true(isnan(job.started));
    assert_true(isnan(job.ended));
    assert_int_equal(job.exit_code, AD_STORE_NO_EXIT);
    assert_int_equal(job.nodes, 0);
    assert_null(job.device);
    assert_null(job.reason);
    ad_store_job_row_clear(&job);

    assert_int_equal(ad_store_set_job_layout(store, a, 2, 4, 1, "cpu", "n1,n2"), 0);
    assert_int_equal(ad_store_set_job_layout(store, a, 0, 4, 1, "cpu", NULL), AD_EINVAL);
    assert_int_equal(ad_store_set_job_layout(store, 99, 1, 1, 1, "cpu", NULL), -ENOENT);
    assert_int_equal(ad_store_set_job_state(store, a, AD_JOB_RUNNING, NULL, AD_STORE_NO_EXIT), 0);
    assert_int_equal(ad_store_get_job(store, a, &job), 0);
    assert_int_equal(job.state, AD_JOB_RUNNING);
    assert_true(job.started >= job.submitted);
    assert_true(isnan(job.ended));
    assert_int_equal(job.nodes, 2);
    assert_int_equal(job.procs_per_node, 4);
    assert_int_equal(job.threads_per_proc, 1);
    assert_string_equal(job.device, "cpu");
    assert_string_equal(job.nodelist, "n1,n2");
    ad_store_job_row_clear(&job);

    assert_int_equal(ad_store_set_job_state(store, a, AD_JOB_FAILED, "exit 3", 3), 0);
    assert_int_equal(ad_store_get_job(store, a, &job), 0);
    assert_int_equal(job.state, AD_JOB_FAILED);
    assert_string_equal(job.reason, "exit 3");
    assert_int_equal(job.exit_code, 3);
    assert_true(job.ended >= job.started);
    ad_store_job_row_clear(&job);

    /* Nothing leaves a final state, and the refusal says why. */
    assert_int_equal(ad_store_set_job_state(store, a, AD_JOB_RUNNING, NULL, AD_STORE_NO_EXIT),
                     AD_EINVAL);
    adt_assert_has(ad_store_errmsg(store), "cannot go from FAILED to RUNNING");
    assert_int_equal(ad_store_set_job_state(store, b, AD_JOB_COMPLETED, NULL, 0), AD_EINVAL);
    adt_assert_has(ad_store_errmsg(store), "cannot go from PENDING to COMPLETED");
    assert_int_equal(ad_store_set_job_state(store, 99, AD_JOB_RUNNING, NULL, 0), -ENOENT);
    adt_assert_has(ad_store_errmsg(store), "job 99: no such job");
    assert_int_equal(ad_store_get_job(store, 99, &job), -ENOENT);

    /* Requeue: RUNNING back to PENDING clears started; then NODE_FAIL path. */
    assert_int_equal(ad_store_set_job_state(store, b, AD_JOB_RUNNING, NULL, AD_STORE_NO_EXIT), 0);
    assert_int_equal(ad_store_set_job_state(store, b, AD_JOB_PENDING, "requeued", AD_STORE_NO_EXIT),
                     0);
    assert_int_equal(ad_store_get_job(store, b, &job), 0);
    assert_true(isnan(job.started));
    assert_string_equal(job.reason, "requeued");
    ad_store_job_row_clear(&job);
    assert_int_equal(ad_store_set_job_state(store, b, AD_JOB_RUNNING, NULL, AD_STORE_NO_EXIT), 0);
    assert_int_equal(
        ad_store_set_job_state(store, b, AD_JOB_NODE_FAIL, "node n2 down", AD_STORE_NO_EXIT), 0);
    assert_int_equal(
        ad_store_set_job_state(store, c, AD_JOB_CANCELLED, "by user", AD_STORE_NO_EXIT), 0);
    assert_int_equal(ad_store_get_job(store, c, &job), 0);
    assert_true(isnan(job.started));
    assert_false(isnan(job.ended));
    ad_store_job_row_clear(&job);

    assert_int_equal(ad_store_list_jobs(store, 0, &rows, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(rows[0].id, a);
    assert_int_equal(rows[2].id, c);
    ad_store_job_rows_free(&rows, n);
    assert_int_equal(
        ad_store_list_jobs(store, AD_JOB_MASK(AD_JOB_NODE_FAIL) | AD_JOB_MASK(AD_JOB_CANCELLED),
                           &rows, &n),
        0);
    assert_int_equal(n, 2);
    assert_int_equal(rows[0].id, b);
    assert_int_equal(rows[0].state, AD_JOB_NODE_FAIL);
    assert_int_equal(rows[1].id, c);
    ad_store_job_rows_free(&rows, n);
    assert_int_equal(ad_store_list_jobs(store, AD_JOB_MASK(AD_JOB_PENDING), &rows, &n), 0);
    assert_int_equal(n, 0);
    assert_null(rows);
    ad_store_close(&store);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_nodes_and_profiles, sft_teardown),
        cmocka_unit_test_teardown(test_job_states, sft_teardown),
        cmocka_unit_test_teardown(test_jobs_round_trip_and_transitions, sft_teardown),
    };

    return cmocka_run_group_tests(tests, sft_group_setup, sft_group_teardown);
}
