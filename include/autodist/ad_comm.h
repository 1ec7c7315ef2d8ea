/* ad_comm.h - gradient buckets averaged with non-blocking MPI allreduce while backward runs */
#ifndef AD_COMM_H
#define AD_COMM_H

#include <mpi.h>
#include <stdint.h>

#include "autodist/ad_error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ad_comm ad_comm_t;

/* What one step's communication cost. */
typedef struct ad_comm_stats {
    double comm_s;    /* from the first bucket's start to the last one's completion */
    double exposed_s; /* time the training thread spent inside MPI (not overlapped) */
    int64_t bytes;    /* gradient bytes reduced */
} ad_comm_stats_t;

/*
 * Sum nbuckets float ranges of base (offset[i], count[i]) in place over the
 * ranks of comm (a collective call).  Ranks of one node reduce through a
 * shared-memory window and nodes through MPI_Iallreduce; with
 * AUTODIST_COMM=mpi, or nodes of unequal rank counts, MPI does it all.
 * Collectives are issued in bucket order whatever order buckets become ready
 * in, so every rank issues them alike.  The caller owns the result
 * (ad_comm_free(), also collective); base must outlive it.
 */
ad_comm_t *ad_comm_new(MPI_Comm comm, float *base, int nbuckets, const int64_t *offset,
                       const int64_t *count);

/* Release; NULL-safe and idempotent, sets *self_p to NULL. */
void ad_comm_free(ad_comm_t **self_p);

/*
 * Tell the reducer each rank's compute threads: when the ranks of a node
 * need more cores than it has, waiting for a peer sleeps instead of spinning.
 */
void ad_comm_set_threads(ad_comm_t *self, int threads);

/* How buckets are reduced: "none" (one rank), "mpi", "shm" or "shm+mpi" (several nodes). */
const char *ad_comm_mode(const ad_comm_t *self);

/* Forget the last step: no bucket ready, none started. */
void ad_comm_begin(ad_comm_t *self);

/* Bucket b is complete: start it and any earlier-ready ones now in order. */
int ad_comm_ready(ad_comm_t *self, int b, ad_err_t *err);

/* Drive outstanding reductions forward (Open MPI here makes no progress alone). */
int ad_comm_progress(ad_comm_t *self, ad_err_t *err);

/*
 * Start whatever is left, reduce extra (n doubles, may be 0) alongside,
 * and wait for everything.  Fills stats (may be NULL).
 */
int ad_comm_finish(ad_comm_t *self, double *extra, int n, ad_comm_stats_t *stats, ad_err_t *err);

#ifdef __cplusplus
}
#endif

#endif
