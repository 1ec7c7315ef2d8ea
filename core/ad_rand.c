/* ad_rand.c - the project's seeded PRNG: the splitmix64 stream, uniform, normal, bounded */
#include "autodist/ad_rand.h"

#include <math.h>

#include "autodist/ad_hash.h"

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
