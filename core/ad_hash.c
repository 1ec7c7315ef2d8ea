/* ad_hash.c - stable hashes and a seeded PRNG: FNV-1a 64 and splitmix64 */
#include "autodist/ad_hash.h"

#include <math.h>

uint64_t
ad_hash_fnv1a64_add(uint64_t h, const char *s)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

uint64_t
ad_hash_fnv1a64(const char *s)
{
    return ad_hash_fnv1a64_add(AD_HASH_FNV1A64_BASIS, s);
}

uint64_t
ad_hash_mix64(uint64_t z)
{
    z += AD_RAND_GAMMA;
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

uint64_t
ad_rand_next(uint64_t *state)
{
    uint64_t z = *state;

    *state += AD_RAND_GAMMA;
    return ad_hash_mix64(z);
}

double
ad_rand_uniform(uint64_t *state)
{
    return (double)(ad_rand_next(state) >> 11) * (1.0 / 9007199254740992.0);
}

double
ad_rand_gauss(uint64_t *state)
{
    double u1, u2;

    /* Box-Muller on two uniforms; u1 > 0 keeps the logarithm finite. */
    do {
        u1 = ad_rand_uniform(state);
        u2 = ad_rand_uniform(state);
    } while (u1 <= 0);
    return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

uint64_t
ad_rand_upto(uint64_t *state, uint64_t n)
{
    uint64_t r, limit;

    if (n == UINT64_MAX)
        return ad_rand_next(state);
    limit = UINT64_MAX - UINT64_MAX % (n + 1);
    do
        r = ad_rand_next(state);
    while (r >= limit);
    return r % (n + 1);
}
