/* test_sched.c - the job queue: FIFO, backfilling without starvation, reasons, feasibility */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ad_test.h"

#include "autodist/ad_sched.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Start the next job and check it is want_id on the nodes listed in want_nodes ("a b"). */
static void
s_expect_next(ad_sched_t *s, int64_t want_id, const char *want_nodes)
{
    ad_sched_pick_t pick;
    char got[256] = "";

    assert_int_equal(ad_sched_next(s, &pick), 0);
    assert_int_equal(pick.job_id, want_id);
    for (int i = 0; i < pick.n_nodes; i++) {
        strcat(got, i ? " " : "");
        strcat(got, pick.nodes[i]);
    }
    assert_string_equal(got, want_nodes);
    ad_sched_pick_clear(&pick);
    assert_null(pick.nodes);
}

static void
s_expect_none(ad_sched_t *s)
{
    ad_sched_pick_t pick;

    assert_int_equal(ad_sched_next(s, &pick), -EAGAIN);
    assert_int_equal(pick.n_nodes, 0);
    assert_null(pick.nodes);
}

/* Four 8-core nodes, added out of name order. */
static ad_sched_t *
s_cluster4(void)
{
    ad_sched_t *s = ad_sched_new();

    assert_int_equal(ad_sched_set_node(s, "n3", true, 8), 0);
    assert_int_equal(ad_sched_set_node(s, "n1", true, 8), 0);
    assert_int_equal(ad_sched_set_node(s, "n4", true, 8), 0);
    assert_int_equal(ad_sched_set_node(s, "n2", true, 8), 0);
    return s;
}

static void
test_fifo_order(void **state)
{
    ad_sched_t *s = s_cluster4();

    assert_int_equal(ad_sched_add_job(s, 5, 1, 2, 4), 0);
    assert_int_equal(ad_sched_add_job(s, 3, 2, 1, 1), 0);
    assert_int_equal(ad_sched_add_job(s, 9, 1, 1, 1), 0);
    assert_int_equal(ad_sched_count(s), 3);
    /* Add order, not id order; nodes in name order. */
    s_expect_next(s, 5, "n1");
    s_expect_next(s, 3, "n2 n3");
    s_expect_next(s, 9, "n4");
    s_expect_none(s);
    assert_int_equal(ad_sched_status(s, 5), AD_SCHED_RUNNING);
    assert_string_equal(ad_sched_reason(s, 3), "running on n2, n3");
    ad_sched_free(&s);
    assert_null(s);
    ad_sched_free(&s);
}

static void
test_head_blocks_when_nothing_else_fits(void **state)
{
    ad_sched_t *s = s_cluster4();

    assert_int_equal(ad_sched_add_job(s, 1, 3, 1, 1), 0);
    s_expect_next(s, 1, "n1 n2 n3");
    assert_int_equal(ad_sched_add_job(s, 2, 2, 1, 1), 0); /* head: needs 2, 1 free */
    assert_int_equal(ad_sched_add_job(s, 3, 2, 1, 1), 0);
    s_expect_none(s);
    assert_int_equal(ad_sched_release(s, 1), 0);
    /* FIFO: the older of two equal jobs goes first. */
    s_expect_next(s, 2, "n1 n2");
    s_expect_next(s, 3, "n3 n4");
    ad_sched_free(&s);
}

static void
test_backfilling(void **state)
{
    ad_sched_t *s = s_cluster4();

    assert_int_equal(ad_sched_add_job(s, 10, 2, 1, 1), 0);
    s_expect_next(s, 10, "n1 n2");
    assert_int_equal(ad_sched_add_job(s, 11, 4, 1, 8), 0); /* head: all four nodes */
    assert_int_equal(ad_sched_add_job(s, 12, 1, 2, 2), 0);
    assert_int_equal(ad_sched_add_job(s, 13, 1, 1, 1), 0);
    /* 11 cannot start yet but will: it holds the free n3 and n4, nobody overtakes it. */
    s_expect_none(s);
    assert_int_equal(ad_sched_status(s, 11), AD_SCHED_WAIT);
    assert_string_equal(ad_sched_reason(s, 11), "waiting for nodes busy with job 10");
    assert_int_equal(ad_sched_status(s, 12), AD_SCHED_WAIT);
    assert_string_equal(ad_sched_reason(s, 12),
                        "waiting for nodes busy with job 10, and waiting behind job 11 (older), "
                        "which holds n3, n4 until it can start");
    assert_int_equal(ad_sched_release(s, 10), 0);
    s_expect_next(s, 11, "n1 n2 n3 n4");
    s_expect_none(s);
    assert_int_equal(ad_sched_release(s, 11), 0);
    s_expect_next(s, 12, "n1");
    s_expect_next(s, 13, "n2");
    ad_sched_free(&s);
}

/* Small jobs still backfill on nodes the waiting head cannot use. */
static void
test_backfill_on_nodes_the_head_cannot_use(void **state)
{
    ad_sched_t *s = ad_sched_new();

    (void)state;
    assert_int_equal(ad_sched_set_node(s, "big1", true, 8), 0);
    assert_int_equal(ad_sched_set_node(s, "big2", true, 8), 0);
    assert_int_equal(ad_sched_set_node(s, "small", true, 2), 0);
    assert_int_equal(ad_sched_add_job(s, 1, 1, 8, 1), 0);
    s_expect_next(s, 1, "big1");
    assert_int_equal(ad_sched_add_job(s, 2, 2, 8, 1), 0); /* waits for big1 */
    assert_int_equal(ad_sched_add_job(s, 3, 1, 2, 1), 0);
    assert_int_equal(ad_sched_add_job(s, 4, 1, 2, 1), 0);
    /* 2 holds big2; 3 takes the small node it cannot use; 4 waits. */
    s_expect_next(s, 3, "small");
    s_expect_none(s);
    adt_assert_has(ad_sched_reason(s, 4), "waiting behind job 2 (older), which holds big2");
    ad_sched_free(&s);
}

/* A stream of small jobs never starves a big one waiting for busy nodes. */
static void
test_no_starvation_by_small_jobs(void **state)
{
    ad_sched_t *s = ad_sched_new();
    int64_t next_id = 100, running[2] = {1, 2};

    (void)state;
    assert_int_equal(ad_sched_set_node(s, "a", true, 2), 0);
    assert_int_equal(ad_sched_set_node(s, "b", true, 2), 0);
    assert_int_equal(ad_sched_add_job(s, 1, 1, 1, 1), 0);
    assert_int_equal(ad_sched_add_job(s, 2, 1, 1, 1), 0);
    s_expect_next(s, 1, "a");
    s_expect_next(s, 2, "b");
    assert_int_equal(ad_sched_add_job(s, 50, 2, 2, 1), 0); /* both nodes */
    /*
     * Small jobs keep coming, one more each time a node frees: without a hold
     * they would take every freed node and 50 would wait forever.
     */
    for (int round = 0; round < 2; round++) {
        assert_int_equal(ad_sched_add_job(s, next_id++, 1, 1, 1), 0);
        assert_int_equal(ad_sched_release(s, running[round]), 0);
        if (round == 0)
            s_expect_none(s); /* the freed node is held for 50 */
    }
    s_expect_next(s, 50, "a b");
    s_expect_none(s);
    assert_int_equal(ad_sched_release(s, 50), 0);
    s_expect_next(s, 100, "a");
    s_expect_next(s, 101, "b");
    ad_sched_free(&s);
}

/* A head that can never start blocks nobody, and holds nothing. */
static void
test_never_head_blocks_nobody(void **state)
{
    ad_sched_t *s = ad_sched_new();

    (void)state;
    assert_int_equal(ad_sched_set_node(s, "a", true, 2), 0);
    assert_int_equal(ad_sched_add_job(s, 1, 1, 4, 1), 0); /* 4 cores: never on 2 */
    assert_int_equal(ad_sched_add_job(s, 2, 1, 2, 1), 0);
    assert_int_equal(ad_sched_add_job(s, 3, 1, 1, 1), 0);
    s_expect_next(s, 2, "a");
    s_expect_none(s);
    assert_int_equal(ad_sched_status(s, 1), AD_SCHED_NEVER);
    assert_string_equal(ad_sched_reason(s, 1), "no node has 4 cores (largest: 2)");
    assert_int_equal(ad_sched_release(s, 2), 0);
    s_expect_next(s, 3, "a");
    ad_sched_free(&s);
}

/* ad_sched_check(): what SUBMIT refuses, in one line naming the key and the node. */
static void
test_check_feasible(void **state)
{
    ad_sched_t *s = ad_sched_new();
    ad_sched_need_t need = {1, 8, 2, 0, NULL};
    char why[512];

    (void)state;
    assert_int_equal(ad_sched_check(s, &need, why, sizeof(why)), AD_SCHED_NEVER);
    adt_assert_has(why, "no node is up (no agent has joined): start one with `autodist up`");
    /* A reservation's nodes come later, one by one: its jobs may wait. */
    need.pool = "oar:x";
    assert_int_equal(ad_sched_check(s, &need, why, sizeof(why)), AD_SCHED_WAIT);
    assert_int_equal(ad_sched_set_node(s, "r1", true, 1), 0);
    assert_int_equal(ad_sched_set_node_pool(s, "r1", "oar:x"), 0);
    assert_int_equal(ad_sched_check(s, &need, why, sizeof(why)), AD_SCHED_WAIT);
    assert_int_equal(ad_sched_forget_node(s, "r1"), 0);
    need.pool = NULL;
    assert_int_equal(ad_sched_set_node(s, "node-b", true, 1), 0);
    assert_int_equal(ad_sched_set_node(s, "node-a", true, 2), 0);
    assert_int_equal(ad_sched_set_node(s, "node-c", false, 0), 0); /* never seen UP: no cores */
    assert_int_equal(ad_sched_check(s, &need, why, sizeof(why)), AD_SCHED_NEVER);
    assert_string_equal(why, "procs_per_node x threads_per_proc = 16 cores per node, but the "
                             "largest node has 2 (node-a)");
    need = (ad_sched_need_t){3, 1, 1, 0, NULL};
    assert_int_equal(ad_sched_check(s, &need, why, sizeof(why)), AD_SCHED_NEVER);
    assert_string_equal(why, "nodes = 3, but only 2 nodes have 1 core (node-a, node-b)");
    need = (ad_sched_need_t){2, 2, 1, 0, NULL};
    assert_int_equal(ad_sched_check(s, &need, why, sizeof(why)), AD_SCHED_NEVER);
    assert_string_equal(why, "nodes = 2, but only 1 node has 2 cores (node-a)");
    need = (ad_sched_need_t){1, 2, 1, 2, NULL};
    assert_int_equal(ad_sched_check(s, &need, why, sizeof(why)), AD_SCHED_NEVER);
    adt_assert_has(why, "procs_per_node = 2 GPUs per node, but the node with the most has 0");
    assert_int_equal(ad_sched_set_node_gpus(s, "node-a", 2), 0);
    assert_int_equal(ad_sched_set_node_gpus(s, "nope", 2), -ENOENT);
    assert_int_equal(ad_sched_check(s, &need, why, sizeof(why)), AD_SCHED_WAIT);
    assert_string_equal(why, "");
    /* A node seen with 4 cores, now DOWN, may come back (a reboot): it counts. */
    assert_int_equal(ad_sched_set_node(s, "node-d", true, 4), 0);
    assert_int_equal(ad_sched_set_node(s, "node-d", false, 0), 0);
    need = (ad_sched_need_t){1, 4, 1, 0, NULL};
    assert_int_equal(ad_sched_check(s, &need, why, sizeof(why)), AD_SCHED_WAIT);
    need = (ad_sched_need_t){2, 4, 1, 0, NULL};
    assert_int_equal(ad_sched_check(s, &need, why, sizeof(why)), AD_SCHED_NEVER);
    assert_string_equal(why, "nodes = 2, but only 1 node has 4 cores (node-d DOWN)");
    /* Busy nodes do not matter: it fits once they are free. */
    assert_int_equal(ad_sched_add_job(s, 1, 2, 1, 1), 0);
    s_expect_next(s, 1, "node-a node-b");
    need = (ad_sched_need_t){2, 1, 1, 0, NULL};
    assert_int_equal(ad_sched_check(s, &need, why, sizeof(why)), AD_SCHED_WAIT);
    /* Every node DOWN: nothing can run until one starts. */
    assert_int_equal(ad_sched_release(s, 1), 0);
    assert_int_equal(ad_sched_set_node(s, "node-a", false, 0), 0);
    assert_int_equal(ad_sched_set_node(s, "node-b", false, 0), 0);
    assert_int_equal(ad_sched_check(s, &need, why, sizeof(why)), AD_SCHED_NEVER);
    adt_assert_has(why, "no node is up (every node known is DOWN): start one");
    ad_sched_free(&s);
}

static void
test_backfill_skips_small_nodes(void **state)
{
    ad_sched_t *s = ad_sched_new();

    assert_int_equal(ad_sched_set_node(s, "a", true, 2), 0);
    assert_int_equal(ad_sched_set_node(s, "b", true, 16), 0);
    assert_int_equal(ad_sched_add_job(s, 1, 1, 4, 2), 0);
    /* Name order, but only among nodes with enough cores. */
    s_expect_next(s, 1, "b");
    assert_int_equal(ad_sched_add_job(s, 2, 1, 1, 1), 0);
    s_expect_next(s, 2, "a");
    ad_sched_free(&s);
}

static void
test_reason_waiting_single_job(void **state)
{
    ad_sched_t *s = s_cluster4();

    assert_int_equal(ad_sched_add_job(s, 12, 4, 1, 1), 0);
    s_expect_next(s, 12, "n1 n2 n3 n4");
    assert_int_equal(ad_sched_add_job(s, 13, 1, 8, 1), 0);
    assert_int_equal(ad_sched_status(s, 13), AD_SCHED_WAIT);
    assert_string_equal(ad_sched_reason(s, 13), "waiting for nodes busy with job 12");
    ad_sched_free(&s);
}

static void
test_reason_never_fits(void **state)
{
    ad_sched_t *s = ad_sched_new();

    assert_int_equal(ad_sched_add_job(s, 1, 4, 2, 4), 0);
    assert_int_equal(ad_sched_status(s, 1), AD_SCHED_NEVER);
    assert_string_equal(ad_sched_reason(s, 1), "no node is UP");

    assert_int_equal(ad_sched_set_node(s, "a", true, 2), 0);
    assert_int_equal(ad_sched_set_node(s, "b", true, 2), 0);
    assert_int_equal(ad_sched_status(s, 1), AD_SCHED_NEVER);
    assert_string_equal(ad_sched_reason(s, 1),
                        "needs 4 nodes with at least 8 free cores each; 2 nodes are UP "
                        "(cores: 2, 2)");

    assert_int_equal(ad_sched_add_job(s, 2, 1, 8, 1), 0);
    assert_string_equal(ad_sched_reason(s, 2), "no node has 8 cores (largest: 2)");
    assert_int_equal(ad_sched_add_job(s, 3, 2, 8, 1), 0);
    assert_string_equal(ad_sched_reason(s, 3), "no node has 8 cores (largest: 2)");

    /* Enough nodes and a big one, but not enough big ones. */
    assert_int_equal(ad_sched_set_node(s, "c", true, 8), 0);
    assert_int_equal(ad_sched_add_job(s, 4, 2, 4, 1), 0);
    assert_int_equal(ad_sched_status(s, 4), AD_SCHED_NEVER);
    assert_string_equal(ad_sched_reason(s, 4),
                        "needs 2 nodes with at least 4 free cores each; 3 nodes are UP "
                        "(cores: 2, 2, 8)");
    /* 2 (1 x 8 cores) fits c and starts, overtaking 1 that never fits. */
    s_expect_next(s, 2, "c");
    s_expect_none(s);

    assert_int_equal(ad_sched_add_job(s, 5, 1, 64, 1), 0);
    assert_int_equal(ad_sched_set_node(s, "b", false, 2), 0);
    assert_int_equal(ad_sched_set_node(s, "c", true, 8), 0);
    assert_string_equal(ad_sched_reason(s, 5), "no node has 64 cores (largest: 8)");
    assert_int_equal(ad_sched_set_node(s, "a", false, 2), 0);
    assert_int_equal(ad_sched_set_node(s, "c", false, 8), 0);
    assert_int_equal(ad_sched_add_job(s, 6, 1, 1, 1), 0);
    assert_string_equal(ad_sched_reason(s, 6), "no node is UP");
    assert_null(ad_sched_reason(s, 99));
    assert_int_equal(ad_sched_status(s, 99), AD_SCHED_UNKNOWN);
    ad_sched_free(&s);
}

static void
test_reason_one_node(void **state)
{
    ad_sched_t *s = ad_sched_new();

    assert_int_equal(ad_sched_set_node(s, "a", true, 4), 0);
    assert_int_equal(ad_sched_add_job(s, 1, 2, 1, 1), 0);
    assert_string_equal(ad_sched_reason(s, 1),
                        "needs 2 nodes with at least 1 free cores each; 1 node is UP (cores: 4)");
    ad_sched_free(&s);
}

static void
test_release_frees_nodes(void **state)
{
    ad_sched_t *s = s_cluster4();

    assert_int_equal(ad_sched_add_job(s, 1, 4, 1, 1), 0);
    assert_int_equal(ad_sched_add_job(s, 2, 4, 1, 1), 0);
    s_expect_next(s, 1, "n1 n2 n3 n4");
    s_expect_none(s);
    assert_int_equal(ad_sched_release(s, 2), -ENOENT); /* pending, not running */
    assert_int_equal(ad_sched_release(s, 1), 0);
    assert_int_equal(ad_sched_release(s, 1), -ENOENT);
    assert_int_equal(ad_sched_status(s, 1), AD_SCHED_UNKNOWN);
    s_expect_next(s, 2, "n1 n2 n3 n4");
    ad_sched_free(&s);
}

static void
test_cancel_removes(void **state)
{
    ad_sched_t *s = s_cluster4();

    assert_int_equal(ad_sched_add_job(s, 1, 4, 1, 1), 0);
    assert_int_equal(ad_sched_add_job(s, 2, 1, 1, 1), 0);
    assert_int_equal(ad_sched_add_job(s, 3, 1, 1, 1), 0);
    /* Cancel a pending job in the middle of the queue. */
    assert_int_equal(ad_sched_remove_job(s, 2), 0);
    assert_int_equal(ad_sched_remove_job(s, 2), -ENOENT);
    assert_int_equal(ad_sched_count(s), 2);
    s_expect_next(s, 1, "n1 n2 n3 n4");
    /* Cancel the running job: its nodes come back. */
    assert_int_equal(ad_sched_remove_job(s, 1), 0);
    s_expect_next(s, 3, "n1");
    /* Cancel head and tail too. */
    assert_int_equal(ad_sched_add_job(s, 4, 1, 1, 1), 0);
    assert_int_equal(ad_sched_remove_job(s, 3), 0);
    assert_int_equal(ad_sched_remove_job(s, 4), 0);
    assert_int_equal(ad_sched_count(s), 0);
    s_expect_none(s);
    assert_int_equal(ad_sched_add_job(s, 4, 1, 1, 1), 0);
    s_expect_next(s, 4, "n1");
    ad_sched_free(&s);
}

static void
test_down_node_not_chosen(void **state)
{
    ad_sched_t *s = s_cluster4();

    assert_int_equal(ad_sched_set_node(s, "n1", false, 8), 0);
    assert_int_equal(ad_sched_add_job(s, 1, 2, 1, 1), 0);
    s_expect_next(s, 1, "n2 n3");
    /* A busy node going DOWN stays held by its job until it is released. */
    assert_int_equal(ad_sched_set_node(s, "n2", false, 8), 0);
    assert_int_equal(ad_sched_add_job(s, 2, 2, 1, 1), 0);
    s_expect_none(s);
    assert_int_equal(ad_sched_release(s, 1), 0);
    /* n3 and n4 are free and UP; n1 and n2 are DOWN. */
    s_expect_next(s, 2, "n3 n4");
    assert_int_equal(ad_sched_add_job(s, 3, 1, 1, 1), 0);
    assert_int_equal(ad_sched_status(s, 3), AD_SCHED_WAIT);
    assert_int_equal(ad_sched_set_node(s, "n1", true, 8), 0);
    s_expect_next(s, 3, "n1");
    ad_sched_free(&s);
}

/* Adopted jobs hold named nodes, known or not; forgotten nodes leave unless a job holds them. */
static void
test_adopt_and_forget(void **state)
{
    ad_sched_t *s = s_cluster4();
    const char *const held[] = {"n2", "later"};

    (void)state;
    assert_int_equal(ad_sched_adopt(s, 7, held, 2, 1, 1), 0);
    assert_int_equal(ad_sched_status(s, 7), AD_SCHED_RUNNING);
    assert_int_equal(ad_sched_adopt(s, 7, held, 2, 1, 1), -EBUSY);
    /* "later" comes UP: still held by job 7; n2 is never picked for another job. */
    assert_int_equal(ad_sched_set_node(s, "later", true, 8), 0);
    assert_int_equal(ad_sched_add_job(s, 8, 3, 1, 1), 0);
    s_expect_next(s, 8, "n1 n3 n4");
    assert_int_equal(ad_sched_forget_node(s, "later"), -EBUSY);
    assert_int_equal(ad_sched_release(s, 7), 0);
    assert_int_equal(ad_sched_forget_node(s, "later"), 0);
    assert_int_equal(ad_sched_forget_node(s, "later"), -ENOENT);
    assert_int_equal(ad_sched_add_job(s, 9, 1, 1, 1), 0);
    s_expect_next(s, 9, "n2");
    ad_sched_free(&s);
}

/* Reservations' nodes run their own jobs only, and cluster jobs stay off them. */
static void
test_pools(void **state)
{
    ad_sched_t *s = s_cluster4();

    (void)state;
    /* n3 and n4 belong to reservation oar:study; n1 and n2 to the cluster. */
    assert_int_equal(ad_sched_set_node_pool(s, "n3", "oar:study"), 0);
    assert_int_equal(ad_sched_set_node_pool(s, "n4", "oar:study"), 0);
    assert_int_equal(ad_sched_set_node_pool(s, "n9", "oar:study"), -ENOENT);
    /* A 2-node job of the pool, a 3-node cluster job (never fits 2 cluster nodes). */
    assert_int_equal(ad_sched_add_job(s, 1, 2, 1, 1), 0);
    assert_int_equal(ad_sched_set_job_pool(s, 1, "oar:study"), 0);
    assert_int_equal(ad_sched_add_job(s, 2, 3, 1, 1), 0);
    assert_int_equal(ad_sched_add_job(s, 3, 1, 1, 1), 0);
    assert_int_equal(ad_sched_set_job_pool(s, 42, "x"), -ENOENT);
    assert_int_equal(ad_sched_status(s, 2), AD_SCHED_NEVER);
    adt_assert_has(ad_sched_reason(s, 2), "2 nodes are UP");
    s_expect_next(s, 1, "n3 n4");
    s_expect_next(s, 3, "n1");
    s_expect_none(s);
    /* A pool job waits for its nodes, even when none is UP yet. */
    assert_int_equal(ad_sched_add_job(s, 4, 1, 1, 1), 0);
    assert_int_equal(ad_sched_set_job_pool(s, 4, "oar:next"), 0);
    assert_int_equal(ad_sched_status(s, 4), AD_SCHED_WAIT);
    adt_assert_has(ad_sched_reason(s, 4), "waiting for the nodes of reservation oar:next");
    assert_int_equal(ad_sched_set_node(s, "n5", true, 8), 0);
    assert_int_equal(ad_sched_set_node_pool(s, "n5", "oar:next"), 0);
    s_expect_next(s, 4, "n5");
    /* Released pool nodes take the pool's next job, not the cluster's. */
    assert_int_equal(ad_sched_release(s, 1), 0);
    s_expect_none(s);
    assert_int_equal(ad_sched_add_job(s, 5, 2, 1, 1), 0);
    assert_int_equal(ad_sched_set_job_pool(s, 5, "oar:study"), 0);
    s_expect_next(s, 5, "n3 n4");
    ad_sched_free(&s);
}

/* A device gpu job (one rank per GPU) is placed only on nodes with that many GPUs. */
static void
test_gpu_placement(void **state)
{
    ad_sched_t *s = s_cluster4();

    (void)state;
    /* n3 and n4 have 2 GPUs; n1 and n2 none. */
    assert_int_equal(ad_sched_set_node_gpus(s, "n3", 2), 0);
    assert_int_equal(ad_sched_set_node_gpus(s, "n4", 2), 0);
    /* 1 node x 2 ranks on GPUs: n3, not n1 (first by name). */
    assert_int_equal(ad_sched_add_job(s, 1, 1, 2, 1), 0);
    assert_int_equal(ad_sched_set_job_gpus(s, 1, 2), 0);
    assert_int_equal(ad_sched_set_job_gpus(s, 42, 2), -ENOENT);
    s_expect_next(s, 1, "n3");
    /* 2 GPU nodes asked, one left: it waits, and CPU jobs take the nodes without GPUs. */
    assert_int_equal(ad_sched_add_job(s, 2, 2, 2, 1), 0);
    assert_int_equal(ad_sched_set_job_gpus(s, 2, 2), 0);
    assert_int_equal(ad_sched_add_job(s, 3, 2, 1, 1), 0);
    assert_int_equal(ad_sched_status(s, 2), AD_SCHED_WAIT);
    adt_assert_has(ad_sched_reason(s, 2), "waiting for nodes busy with job 1");
    s_expect_next(s, 3, "n1 n2");
    s_expect_none(s);
    assert_int_equal(ad_sched_release(s, 1), 0);
    s_expect_next(s, 2, "n3 n4");
    /* Three GPU nodes: never, saying how many have what it needs. */
    assert_int_equal(ad_sched_add_job(s, 4, 3, 1, 1), 0);
    assert_int_equal(ad_sched_set_job_gpus(s, 4, 1), 0);
    assert_int_equal(ad_sched_status(s, 4), AD_SCHED_NEVER);
    adt_assert_has(ad_sched_reason(s, 4),
                   "needs 3 nodes with at least 1 cores and 1 GPUs; 2 of the 4 UP have them");
    ad_sched_free(&s);
}

static void
test_bad_arguments(void **state)
{
    ad_sched_t *s = ad_sched_new();

    assert_int_equal(ad_sched_add_job(s, 1, 0, 1, 1), AD_EINVAL);
    assert_int_equal(ad_sched_add_job(s, 1, 1, 0, 1), AD_EINVAL);
    assert_int_equal(ad_sched_add_job(s, 1, 1, 1, -1), AD_EINVAL);
    assert_int_equal(ad_sched_add_job(s, 1, 1, 65536, 65536), AD_EINVAL);
    assert_int_equal(ad_sched_add_job(s, 1, 1, 1, 1), 0);
    assert_int_equal(ad_sched_add_job(s, 1, 1, 1, 1), -EEXIST);
    assert_int_equal(ad_sched_set_node(s, "", true, 1), AD_EINVAL);
    assert_int_equal(ad_sched_set_node(s, "a", true, -1), AD_EINVAL);
    assert_int_equal(ad_sched_remove_job(s, 7), -ENOENT);
    ad_sched_free(&s);
}

static void
test_long_queue(void **state)
{
    enum { NODES = 1000, JOBS = 100000 };
    ad_sched_t *s = ad_sched_new();
    char name[32];
    int started = 0;
    ad_sched_pick_t pick;

    for (int i = 0; i < NODES; i++) {
        snprintf(name, sizeof(name), "node%04d", i);
        assert_int_equal(ad_sched_set_node(s, name, true, 4), 0);
    }
    /* A sweep whose jobs mostly never fit, ahead of one that does. */
    for (int64_t id = 1; id <= JOBS; id++)
        assert_int_equal(ad_sched_add_job(s, id, id == JOBS ? 1 : 2, 8, 1), 0);
    while (ad_sched_next(s, &pick) == 0) {
        assert_int_equal(pick.job_id, JOBS);
        assert_string_equal(pick.nodes[0], "node0000");
        ad_sched_pick_clear(&pick);
        started++;
    }
    assert_int_equal(started, 0); /* 8 cores needed, nodes have 4: nothing fits */
    assert_int_equal(ad_sched_set_node(s, "node0500", true, 8), 0);
    s_expect_next(s, JOBS, "node0500");
    assert_string_equal(ad_sched_reason(s, 1),
                        "needs 2 nodes with at least 8 free cores each; 1000 nodes are UP "
                        "(cores: 4, 4, 4, 4, 4, 4, 4, 4, ...)");
    ad_sched_free(&s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo_order),
        cmocka_unit_test(test_head_blocks_when_nothing_else_fits),
        cmocka_unit_test(test_backfilling),
        cmocka_unit_test(test_backfill_on_nodes_the_head_cannot_use),
        cmocka_unit_test(test_no_starvation_by_small_jobs),
        cmocka_unit_test(test_never_head_blocks_nobody),
        cmocka_unit_test(test_check_feasible),
        cmocka_unit_test(test_backfill_skips_small_nodes),
        cmocka_unit_test(test_reason_waiting_single_job),
        cmocka_unit_test(test_reason_never_fits),
        cmocka_unit_test(test_reason_one_node),
        cmocka_unit_test(test_release_frees_nodes),
        cmocka_unit_test(test_cancel_removes),
        cmocka_unit_test(test_down_node_not_chosen),
        cmocka_unit_test(test_adopt_and_forget),
        cmocka_unit_test(test_pools),
        cmocka_unit_test(test_gpu_placement),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_long_queue),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
