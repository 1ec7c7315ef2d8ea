/* ad_profile.h - hardware profile of a node: the type, fingerprint, YAML and JSON forms */
#ifndef AD_PROFILE_H
#define AD_PROFILE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "autodist/ad_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * What one node (or one class of identical nodes) offers: CPU, caches,
 * memory, GPUs, network, the core/PU layout that rankfiles bind to, and
 * micro-benchmark figures.  A profile comes from ad_hwloc_detect() on the
 * machine itself (ad_hwloc.h), from a profile file (the YAML files of
 * profiles/, possibly a cluster description written by hand) or from an
 * agent's JSON payload.  Its
 * fingerprint names the hardware class: identical machines share it.
 * The benchmarks are run by ad_bench_profile() (ad_bench.h), kept apart so
 * that reading profiles needs neither libtorch nor a measurement.
 */
typedef struct ad_profile ad_profile_t;

/* Version of the file format written and understood (the `format:` key). */
#define AD_PROFILE_FORMAT 1
/* Length of a fingerprint in hex digits. */
#define AD_PROFILE_FP_LEN 16

/* One GPU (hwloc OS device of type GPU or co-processor). */
typedef struct ad_profile_gpu {
    const char *name;      /* model, e.g. "NVIDIA H100 80GB HBM3", or the OS device name */
    const char *kind;      /* "cuda", "opencl", "levelzero", "rsmi", "display", ... */
    int index;             /* CUDA ordinal for CUDA devices, else -1 */
    uint64_t memory_bytes; /* device memory when hwloc knows it, else 0 */
} ad_profile_gpu_t;

/* One network interface. */
typedef struct ad_profile_net {
    const char *name; /* interface name (eth0, ib0), or "" in cluster descriptions */
    const char *kind; /* "ethernet", "infiniband" or "other" */
    double gbps;      /* link rate in Gbit/s; 0 when unknown */
} ad_profile_net_t;

/* One core, for rankfiles: where it sits and which PUs (hardware threads) it has. */
typedef struct ad_profile_core {
    int socket;     /* logical index of its package (0..sockets-1) */
    int numa;       /* logical index of its NUMA node, or -1 when unknown */
    int n_pus;      /* number of PUs */
    const int *pus; /* OS indexes of its PUs (what taskset and Open MPI's rankfiles use) */
} ad_profile_core_t;

/* Micro-benchmark figures (ad_bench.h measures them). */
typedef struct ad_profile_bench {
    double gemm_gflops_1core; /* float32 GEMM through libtorch on one thread, GFLOP/s */
    double gemm_gflops_all;   /* the same with one thread per core, GFLOP/s */
    double mem_bandwidth_gbs; /* STREAM-like triad over all cores, GB/s (1e9 bytes) */
    double seconds;           /* wall time the benchmarks took */
    time_t measured_at;       /* when they ran (UTC seconds); 0 when unknown */
    int gemm_n;               /* matrix side used; 0 when unknown */
    int triad_mib;            /* total triad arrays in MiB; 0 when unknown */
    bool estimated;           /* figures are estimates written by hand, not measurements */
    bool cached;              /* taken from the benchmark cache (not stored in files) */
} ad_profile_bench_t;

/*
 * Load a profile file (YAML, format of profiles/).  Unknown keys, wrong
 * types and inconsistent figures are errors.  Returns 0 and sets *out
 * (owned by the caller), a negative errno when the file cannot be read, or
 * AD_EPARSE with err "PATH:LINE:COL: what is wrong".
 */
int ad_profile_load_yaml(const char *path, ad_profile_t **out, ad_err_t *err);

/* Like ad_profile_load_yaml() from text in memory; name is used in messages. */
int ad_profile_parse_yaml(const char *text, size_t len, const char *name, ad_profile_t **out,
                          ad_err_t *err);

/*
 * The profile as YAML text that ad_profile_load_yaml() reads back to an
 * equal profile.  Returns a string owned by the caller (free()).
 */
char *ad_profile_to_yaml(const ad_profile_t *self);

/*
 * Write the YAML form to path atomically (a temporary file renamed into
 * place).  Returns 0 or a negative errno with err naming the path.
 */
int ad_profile_save_yaml(const ad_profile_t *self, const char *path, ad_err_t *err);

/* The profile as a JSON object with the keys of the YAML form; a new reference. */
json_t *ad_profile_to_json(const ad_profile_t *self);

/*
 * Build a profile from the JSON form (an agent's HELLO payload); json is
 * not stolen.  A "fingerprint" key, when present, must match the hardware
 * described.  Returns 0 and sets *out (owned by the caller), or AD_EPARSE
 * with err "profile: KEY: what is wrong".
 */
int ad_profile_from_json(json_t *json, ad_profile_t **out, ad_err_t *err);

/* A deep copy, owned by the caller. */
ad_profile_t *ad_profile_dup(const ad_profile_t *self);

/* True when a and b hold the same figures (the cached flag aside). */
bool ad_profile_equal(const ad_profile_t *a, const ad_profile_t *b);

/* Release a profile; NULL-safe and idempotent, sets *self_p to NULL. */
void ad_profile_free(ad_profile_t **self_p);

/* Hardware-class fingerprint: 16 lowercase hex digits; borrowed. */
const char *ad_profile_fingerprint(const ad_profile_t *self);

/* Host name, or "" for a cluster description; borrowed. */
const char *ad_profile_hostname(const ad_profile_t *self);

/* Where the profile comes from (free text), or ""; borrowed. */
const char *ad_profile_source(const ad_profile_t *self);

/* CPU model name; borrowed. */
const char *ad_profile_cpu_model(const ad_profile_t *self);

/* Counts of packages, cores, PUs (hardware threads) and NUMA nodes. */
int ad_profile_sockets(const ad_profile_t *self);
int ad_profile_cores(const ad_profile_t *self);
int ad_profile_pus(const ad_profile_t *self);
int ad_profile_numa_nodes(const ad_profile_t *self);

/* Size in bytes of one level-1 data (level 1), L2 (2) or L3 (3) cache; 0 when absent. */
uint64_t ad_profile_cache_bytes(const ad_profile_t *self, int level);

/* Main memory in bytes. */
uint64_t ad_profile_memory_bytes(const ad_profile_t *self);

/* GPUs: their number and the i-th (borrowed; i in range, else an assert). */
int ad_profile_gpu_count(const ad_profile_t *self);
const ad_profile_gpu_t *ad_profile_gpu(const ad_profile_t *self, int i);

/* Network interfaces: their number and the i-th (borrowed). */
int ad_profile_net_count(const ad_profile_t *self);
const ad_profile_net_t *ad_profile_net(const ad_profile_t *self, int i);

/*
 * Per-core layout: the number of cores described (0 for descriptions that
 * leave it out, else ad_profile_cores()) and core i (borrowed).
 */
int ad_profile_core_map_count(const ad_profile_t *self);
const ad_profile_core_t *ad_profile_core(const ad_profile_t *self, int i);

/* Nodes of this class in the cluster a description covers; 0 for a single machine. */
int ad_profile_cluster_nodes(const ad_profile_t *self);

/* Benchmark figures, or NULL when none were measured or written; borrowed. */
const ad_profile_bench_t *ad_profile_bench_figures(const ad_profile_t *self);

/* Set (copy) the benchmark figures; NULL removes them. */
void ad_profile_set_bench(ad_profile_t *self, const ad_profile_bench_t *bench);

/* Replace the source text (copied). */
void ad_profile_set_source(ad_profile_t *self, const char *source);

#ifdef __cplusplus
}
#endif

#endif
