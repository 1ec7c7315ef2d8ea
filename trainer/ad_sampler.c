/* ad_sampler.c - DistributedSampler semantics: each rank's disjoint share of every global batch */
#include "autodist/ad_sampler.h"

#include <stdlib.h>

struct ad_sampler {
    int64_t n;      /* samples in the dataset */
    int64_t batch;  /* global batch */
    int world;      /* ranks */
    int rank;       /* this rank */
    uint64_t seed;  /* shuffling seed */
    int64_t *perm;  /* the current epoch's order */
};

ad_sampler_t *
ad_sampler_new(int64_t n, int64_t batch, int world, int rank, uint64_t seed, ad_err_t *err)
{
    ad_sampler_t *self;

    if (world < 1 || rank < 0 || rank >= world) {
        ad_err_set(err, AD_EINVAL, "rank %d out of range for %d ranks", rank, world);
        return NULL;
    }
    if (batch < world) {
        ad_err_set(err, AD_EINVAL,
                   "global batch size %lld is smaller than the %d ranks: each rank needs at "
                   "least one sample",
                   (long long)batch, world);
        return NULL;
    }
    if (batch > n) {
        ad_err_set(err, AD_EINVAL, "global batch size %lld is larger than the %lld samples",
                   (long long)batch, (long long)n);
        return NULL;
    }
    self = ad_calloc(1, sizeof(*self));
    self->n = n;
    self->batch = batch;
    self->world = world;
    self->rank = rank;
    self->seed = seed;
    self->perm = ad_malloc((size_t)n * sizeof(*self->perm));
    ad_sampler_set_epoch(self, 0);
    return self;
}

void
ad_sampler_free(ad_sampler_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->perm);
    free(*self_p);
    *self_p = NULL;
}

void
ad_sampler_set_epoch(ad_sampler_t *self, int64_t epoch)
{
    uint64_t state = self->seed * 0x2545f4914f6cdd1dULL + (uint64_t)epoch + 1;

    for (int64_t i = 0; i < self->n; i++)
        self->perm[i] = i;
    /* Fisher-Yates; the modulo bias is far below anything training notices. */
    for (int64_t i = self->n - 1; i > 0; i--) {
        int64_t j = (int64_t)(ad_rand_next(&state) % (uint64_t)(i + 1));
        int64_t t = self->perm[i];

        self->perm[i] = self->perm[j];
        self->perm[j] = t;
    }
}

int64_t
ad_sampler_steps_per_epoch(const ad_sampler_t *self)
{
    return self->n / self->batch;
}

int
ad_sampler_local_batch(const ad_sampler_t *self)
{
    return (int)(self->batch / self->world + (self->rank < self->batch % self->world));
}

void
ad_sampler_indices(const ad_sampler_t *self, int64_t step, int64_t *idx)
{
    const int64_t *p = self->perm + step * self->batch;
    int k = 0;

    for (int64_t i = self->rank; i < self->batch; i += self->world)
        idx[k++] = p[i];
}
