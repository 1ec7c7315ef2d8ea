/* ad_sampler.h - DistributedSampler semantics: each rank's disjoint share of every global batch */
#ifndef AD_SAMPLER_H
#define AD_SAMPLER_H

#include <stdint.h>

#include "autodist/ad_error.h"
#include "autodist/ad_rand.h" /* ad_rand_next(): the seeded stream the sampler shuffles with */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ad_sampler ad_sampler_t;

/*
 * A sampler over n samples for global batches of batch samples split over
 * world ranks.  Each epoch is a permutation of [0, n) drawn from (seed,
 * epoch) alone, so every rank and every world size sees the same order; the
 * last incomplete batch is dropped.  Global batch s holds permutation
 * positions [s*batch, (s+1)*batch) and rank r takes every world-th of them
 * starting at r: the ranks' shares are disjoint and their union is the
 * global batch, as with PyTorch's DistributedSampler when world divides the
 * batch.  Returns NULL with err set when batch < world, batch > n or the
 * rank is out of range.  The caller owns the result (ad_sampler_free()).
 */
ad_sampler_t *ad_sampler_new(int64_t n, int64_t batch, int world, int rank, uint64_t seed,
                             ad_err_t *err);

/* Release a sampler; NULL-safe and idempotent, sets *self_p to NULL. */
void ad_sampler_free(ad_sampler_t **self_p);

/* Draw epoch's permutation (epochs count from 0). */
void ad_sampler_set_epoch(ad_sampler_t *self, int64_t epoch);

/* Global batches per epoch (n / batch). */
int64_t ad_sampler_steps_per_epoch(const ad_sampler_t *self);

/* This rank's share of each global batch. */
int ad_sampler_local_batch(const ad_sampler_t *self);

/* Fill idx with this rank's samples of global batch step (of the current epoch). */
void ad_sampler_indices(const ad_sampler_t *self, int64_t step, int64_t *idx);

#ifdef __cplusplus
}
#endif

#endif
