/* ad_hash.h - stable hashes: FNV-1a 64 and the splitmix64 finalizer */
#ifndef AD_HASH_H
#define AD_HASH_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a 64's offset basis: the hash of "". */
#define AD_HASH_FNV1A64_BASIS UINT64_C(0xcbf29ce484222325)

/* splitmix64's increment (2^64 / golden ratio). */
#define AD_HASH_GOLDEN_GAMMA UINT64_C(0x9e3779b97f4a7c15)

/*
 * Fibonacci hashing's multiplier (the same 2^64 / golden ratio): the high
 * bits of x * AD_HASH_FIBONACCI spread consecutive keys over a hash table.
 */
#define AD_HASH_FIBONACCI AD_HASH_GOLDEN_GAMMA

/*
 * FNV-1a 64 of the string s: the same on every host, compiler and release,
 * so it may be stored and compared (fingerprints, class keys).
 */
uint64_t ad_hash_fnv1a64(const char *s);

/* Continue an FNV-1a 64 hash h (AD_HASH_FNV1A64_BASIS to start) with the bytes of s. */
uint64_t ad_hash_fnv1a64_add(uint64_t h, const char *s);

/* Continue an FNV-1a 64 hash h with len bytes of data (binary: file contents). */
uint64_t ad_hash_fnv1a64_bytes(uint64_t h, const void *data, size_t len);

/* splitmix64's output for the state z, i.e. its finalizer applied to z + AD_HASH_GOLDEN_GAMMA. */
uint64_t ad_hash_mix64(uint64_t z);

#endif
