/* ad_hash.c - stable hashes: FNV-1a 64 and the splitmix64 finalizer */
#include "autodist/ad_hash.h"

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
ad_hash_fnv1a64_bytes(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;

    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
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
    z += AD_HASH_GOLDEN_GAMMA;
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}
