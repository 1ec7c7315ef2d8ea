/* ad_sched.h - the coordinator's job queue: FIFO with backfilling that never starves the oldest */
#ifndef AD_SCHED_H
#define AD_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autodist/ad_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Which queued job starts next, and on which nodes.  Pure logic: the
 * daemon tells it the nodes (from the registry) and the jobs (from the
 * store), asks ad_sched_next() after every change, and launches what it
 * returns.
 *
 * Policy, deliberately simple:
 *  - Exclusive nodes: a node runs at most one job at a time, whatever the
 *    job's cores, as most HPC sites allocate; a job of `nodes x
 *    procs_per_node x threads_per_proc` needs `nodes` free UP nodes with at
 *    least procs_per_node x threads_per_proc cores each.
 *  - FIFO in the order jobs were added (the daemon adds them in submit
 *    order): the oldest pending job that fits the free nodes starts.
 *  - A job that can never start on the UP nodes (NEVER: too many cores,
 *    too many nodes) holds nothing and blocks nobody: the jobs behind it
 *    are scheduled as if it were not there.
 *  - Backfilling that never starves the oldest: the oldest pending job of
 *    each pool that cannot start now but can once running jobs end (WAIT)
 *    holds the free nodes it can use; a later job starts now only on free
 *    nodes that job cannot use (too small for it) or does not hold.  As no
 *    other job can take the nodes it waits for, it starts as soon as enough
 *    of the running jobs end, however many small jobs come after it; once
 *    it runs, the next oldest waiting job holds nodes in its turn.  Without
 *    run-time estimates this is the rule "backfill only where it cannot
 *    delay the oldest job".
 *  - Node choice: the first fitting free UP nodes in name order (strcmp),
 *    so a given queue and cluster always give the same placement.
 */
typedef struct ad_sched ad_sched_t;

/* Where a job stands, for the CLI (submit --wait gives up on NEVER). */
typedef enum {
    AD_SCHED_UNKNOWN = 0, /* no such job */
    AD_SCHED_READY,       /* pending and fits the free nodes: ad_sched_next() starts it */
    AD_SCHED_WAIT,        /* pending; fits the UP nodes but some of those are busy */
    AD_SCHED_NEVER,       /* pending; does not fit the UP nodes even when all are free */
    AD_SCHED_RUNNING,     /* started by ad_sched_next(), not yet released */
} ad_sched_status_t;

/* A job that may start now, filled by ad_sched_next(); clear it with ad_sched_pick_clear(). */
typedef struct ad_sched_pick {
    int64_t job_id;     /* the job to launch */
    int n_nodes;        /* entries in nodes: the job's node count */
    const char **nodes; /* owned array; the names in it are borrowed from the scheduler */
} ad_sched_pick_t;

/* A new, empty scheduler owned by the caller (ad_sched_free()); never NULL. */
ad_sched_t *ad_sched_new(void);

/* Release a scheduler; NULL-safe and idempotent, sets *self_p to NULL. */
void ad_sched_free(ad_sched_t **self_p);

/*
 * Queue job id (PENDING) behind every job added before it; it needs nodes
 * nodes with procs_per_node x threads_per_proc cores each.  Returns 0,
 * -EEXIST when id is already queued or running, or AD_EINVAL when a count
 * is below 1 or the cores per node exceed INT_MAX.
 */
int ad_sched_add_job(ad_sched_t *self, int64_t id, int nodes, int procs_per_node,
                     int threads_per_proc);

/*
 * Job id already runs on the named nodes (a coordinator started again found
 * it): hold it as running there, as ad_sched_next() would have.  Nodes not
 * known yet are added DOWN with 0 cores; they stay busy with id when they
 * come UP.  Returns 0, -EEXIST when id is queued or running, -EBUSY when a
 * node is busy with another job, or AD_EINVAL on a bad count or name.
 */
int ad_sched_adopt(ad_sched_t *self, int64_t id, const char *const *nodes, int n_nodes,
                   int procs_per_node, int threads_per_proc);

/*
 * Forget job id, pending or running (cancelled or finished); a running
 * job's nodes become free.  Returns 0 or -ENOENT.
 */
int ad_sched_remove_job(ad_sched_t *self, int64_t id);

/*
 * Add or update the node called name: UP or not, and its cores.  A node
 * that goes DOWN while busy stays busy with its job until that job is
 * released or removed, but is never chosen while DOWN.  A node that left
 * is simply DOWN until ad_sched_forget_node().  Returns 0, or AD_EINVAL when
 * name is empty or cores < 0 (0 is allowed for a node not yet profiled).
 */
int ad_sched_set_node(ad_sched_t *self, const char *name, bool up, int cores);

/*
 * Pools: a node of a reservation (the pool its agent announced) runs only
 * jobs of that pool, and a job of a pool runs only on its nodes; NULL or ""
 * is the cluster's own pool.  Set a node's after ad_sched_set_node(), a job's
 * after ad_sched_add_job().  Returns 0, or -ENOENT for an unknown node or job.
 */
int ad_sched_set_node_pool(ad_sched_t *self, const char *name, const char *pool);
int ad_sched_set_job_pool(ad_sched_t *self, int64_t id, const char *pool);

/*
 * A job of device gpu runs one rank per GPU: it is placed only on nodes with
 * at least gpus GPUs (ad_sched_set_node_gpus()); 0 (the default) for any node.
 * Set after ad_sched_add_job().  Returns 0, or -ENOENT for an unknown job.
 */
int ad_sched_set_job_gpus(ad_sched_t *self, int64_t id, int gpus);

/*
 * Forget the node called name (it left the registry: --max-nodes), unless a
 * job holds it.  Returns 0, -ENOENT, or -EBUSY when a job holds it.
 */
int ad_sched_forget_node(ad_sched_t *self, const char *name);

/*
 * Job id has ended: free its nodes and forget it (what ad_sched_remove_job()
 * does, restricted to running jobs so a mix-up shows).  Returns 0, or
 * -ENOENT when no running job has that id.
 */
int ad_sched_release(ad_sched_t *self, int64_t id);

/*
 * Start the next job: the oldest pending job that fits the free UP nodes
 * (see the policy above).  Its nodes become busy and it becomes RUNNING.
 * Returns 0 and fills *pick (the caller clears it), or -EAGAIN when no
 * pending job can start now (pick is then zeroed).  Call it in a loop
 * until -EAGAIN after every change.
 */
int ad_sched_next(ad_sched_t *self, ad_sched_pick_t *pick);

/* Free a pick's array and zero it; NULL-safe and idempotent. */
void ad_sched_pick_clear(ad_sched_pick_t *pick);

/* Where job id stands (see ad_sched_status_t). */
ad_sched_status_t ad_sched_status(ad_sched_t *self, int64_t id);

/*
 * Why job id is not running, as a user reads it in `autodist status`:
 *   NEVER:  "needs 4 nodes with at least 8 free cores each; 2 nodes are UP
 *            (cores: 2, 2)" or "no node has 8 cores (largest: 2)" or
 *           "no node is UP";
 *   WAIT:   "waiting for nodes busy with job 12" (or "jobs 12, 15"), and/or
 *           "waiting behind job 9 (older), which holds n3 until it can start";
 *   READY:  "ready to start";  RUNNING: "running on n1, n2".
 * Returns NULL for an unknown id; otherwise a string borrowed until the
 * next call on the scheduler.
 */
const char *ad_sched_reason(ad_sched_t *self, int64_t id);

/*
 * GPUs of the node called name (0 when not set), for ad_sched_check().
 * Returns 0, or -ENOENT for an unknown node.
 */
int ad_sched_set_node_gpus(ad_sched_t *self, const char *name, int gpus);

/* What a job needs, for ad_sched_check(). */
typedef struct ad_sched_need {
    int nodes;            /* nodes */
    int procs_per_node;   /* ranks on each */
    int threads_per_proc; /* threads of each rank */
    int gpus_per_node;    /* GPUs each node must have (device gpu: procs_per_node), or 0 */
    const char *pool;     /* the reservation it runs on, or NULL: the cluster's own nodes */
} ad_sched_need_t;

/*
 * Feasibility, before a job is queued: whether a job with these needs can
 * ever run on the nodes of its pool, all of them free and UP (cores per
 * node procs_per_node x threads_per_proc, GPUs per node, node count).  The
 * nodes are those UP and those DOWN that were seen with cores (they may
 * come back: a reboot); with none UP at all it can never run.  Returns
 * AD_SCHED_WAIT when it can (or when it belongs to a reservation: its
 * agents join one by one, the nodes are what was reserved for it), or AD_SCHED_NEVER
 * with reason (size cap) saying, in one line, the first need no node meets:
 *   "procs_per_node x threads_per_proc = 16 cores per node, but the largest
 *    node has 2 (node-a)", "device gpu runs one rank per GPU: ...",
 *   "nodes = 4, but only 2 nodes have 8 cores (n1, n2 DOWN)",
 *   "no node is up (no agent has joined): start one with `autodist up` ...".
 */
ad_sched_status_t ad_sched_check(ad_sched_t *self, const ad_sched_need_t *need, char *reason,
                                 size_t cap);

/* Number of jobs queued or running. */
size_t ad_sched_count(const ad_sched_t *self);

#ifdef __cplusplus
}
#endif

#endif
