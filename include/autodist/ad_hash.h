/* ad_hash.h - stable hashes and a seeded PRNG: FNV-1a 64 and splitmix64 */
#ifndef AD_HASH_H
#define AD_HASH_H

#include <stdint.h>

/* FNV-1a 64's offset basis: the hash of "". */
#define AD_HASH_FNV1A64_BASIS UINT64_C(0xcbf29ce484222325)

/* splitmix64's increment (2^64 / golden ratio). */
#define AD_RAND_GAMMA UINT64_C(0x9e3779b97f4a7c15)

/*
 * FNV-1a 64 of the string s: the same on every host, compiler and release,
 * so it may be stored and compared (fingerprints, class keys).
 */
uint64_t ad_hash_fnv1a64(const char *s);

/* Continue an FNV-1a 64 hash h (AD_HASH_FNV1A64_BASIS to start) with the bytes of s. */
uint64_t ad_hash_fnv1a64_add(uint64_t h, const char *s);

/* splitmix64's output for the state z, i.e. its finalizer applied to z + AD_RAND_GAMMA. */
uint64_t ad_hash_mix64(uint64_t z);

/* The next number of the splitmix64 stream whose state is *state (any seed); advances it. */
uint64_t ad_rand_next(uint64_t *state);

/* A uniform double in [0, 1) from the top 53 bits of ad_rand_next(). */
double ad_rand_uniform(uint64_t *state);

/* A uniform integer in [0, n] (n = UINT64_MAX allowed), without modulo bias. */
/* A standard normal draw (mean 0, sd 1) from the stream at *state (Box-Muller). */
double ad_rand_gauss(uint64_t *state);

uint64_t ad_rand_upto(uint64_t *state, uint64_t n);

#endif
