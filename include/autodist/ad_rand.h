/* ad_rand.h - the project's seeded PRNG: the splitmix64 stream, uniform, normal, bounded */
#ifndef AD_RAND_H
#define AD_RAND_H

#include <stdint.h>

#include "autodist/ad_hash.h"

/* splitmix64's increment: a stream seeded with s is at s + k * AD_RAND_GAMMA after k draws. */
#define AD_RAND_GAMMA AD_HASH_GOLDEN_GAMMA

/*
 * The next number of the splitmix64 stream whose state is *state (any seed);
 * advances it.  The same on every host and release: sampler shuffles and
 * synthetic data are stored as functions of a seed.
 */
uint64_t ad_rand_next(uint64_t *state);

/* A uniform double in [0, 1) from the top 53 bits of ad_rand_next(). */
double ad_rand_uniform(uint64_t *state);

/* A standard normal draw (mean 0, sd 1) from the stream at *state (Box-Muller). */
double ad_rand_gauss(uint64_t *state);

/* A uniform integer in [0, n] (n = UINT64_MAX allowed), without modulo bias. */
uint64_t ad_rand_upto(uint64_t *state, uint64_t n);

#endif
