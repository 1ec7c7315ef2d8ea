/* ad_described.h - described profiles: where they live, finding one by name, estimated figures */
#ifndef AD_DESCRIBED_H
#define AD_DESCRIBED_H

#include <stdbool.h>
#include <stddef.h>

#include "autodist/ad_error.h"
#include "autodist/ad_profile.h"
#include "autodist/ad_store.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A described profile says what the nodes of a cluster offer before any of
 * them is reserved (docs/profiles.md): shipped in profiles/ (hand-written from
 * public facts) or imported into HOME/profiles/described/CLUSTER.yaml by
 * `autodist profile import` (ad_g5k_ref.h).  The planner needs benchmark
 * figures for a cold start; a description has none, so they are measured
 * ones of the same hardware class when the store or the agents' cache has
 * them, else estimates from the description (docs/planner.md, "Planning on a
 * description").
 */

/* The environment variable naming the folders of shipped profiles (':'-separated). */
#define AD_DESCRIBED_ENV "AUTODIST_PROFILES"

/* HOME/profiles/described, where imports go; owned by the caller. */
char *ad_described_home_dir(const char *home_root);

/* One profile the planner can use. */
typedef struct ad_described_entry {
    char *name;            /* the cluster's name, else the file name without .yaml; owned */
    char *path;            /* the file; owned */
    const char *where;     /* "imported", "shipped" or "measured" (an agent's cache) */
    ad_profile_t *profile; /* owned */
} ad_described_entry_t;

/*
 * Every profile of HOME/profiles/described (imported), HOME/profiles (the
 * agents' measured cache) and the shipped folders ($AUTODIST_PROFILES, else
 * the install's share/autodist/profiles and the source tree's profiles/), in
 * that order; files that do not load are skipped.  home_root may be NULL.
 * Returns 0 with *out (ad_described_list_free()) and *n.
 */
int ad_described_list(const char *home_root, ad_described_entry_t **out, size_t *n);

/* Free a list; NULL-safe, sets *list_p to NULL. */
void ad_described_list_free(ad_described_entry_t **list_p, size_t n);

/*
 * The profile what names: a path to a profile file (it contains a '/' or
 * ends in .yaml), else the first profile of ad_described_list() whose
 * cluster or file name is what (an imported one before a shipped one).
 * Returns 0 with *out (owned) and *path (owned, may be NULL); -ENOENT with
 * err "unknown cluster \"x\": known clusters are a, b, c (...)"; or the
 * loader's error for a path.
 */
int ad_described_find(const char *what, const char *home_root, ad_profile_t **out, char **path,
                      ad_err_t *err);

/* The cluster's name and site of a description ("" when absent), into the buffers. */
void ad_described_cluster(const ad_profile_t *p, char *name, size_t name_len, char *site,
                          size_t site_len);

/* The benchmark figures the planner gets for a described class, and what they rest on. */
typedef struct ad_described_figures {
    double gemm_gflops_1;   /* SGEMM GFLOP/s on one core */
    double gemm_gflops_all; /* SGEMM GFLOP/s on all cores */
    double mem_bw_gbs;      /* STREAM triad GB/s */
    double net_gbps;        /* fastest usable link between nodes, Gbit/s; 0 = unknown */
    bool measured;          /* true: measured on the same hardware class */
    char from[240];         /* one line: where the figures come from */
    char hardware[AD_PROFILE_FP_LEN + 1]; /* the class to plan under: the fingerprint, or a
                                             store class of the same CPU, sockets, cores and
                                             GPUs whose memory is within 5 % (what the kernel
                                             reports is a little below the installed memory) */
} ad_described_figures_t;

/*
 * Estimate the figures from the description alone: one core's SGEMM is half
 * of cores' peak (clock x FLOPs per cycle of the CPU family named by its
 * model), all cores 0.8 x cores x that, memory 40 GB/s per socket (channels
 * unknown).  A profile with benchmarks: keeps them (estimated or not).
 */
void ad_described_estimate(const ad_profile_t *p, ad_described_figures_t *out);

/*
 * The figures for p: measured ones of its hardware class (its fingerprint,
 * or the store's class of the same machines measured with a little less
 * memory: out->hardware) from the store's profiles (store may be NULL) or
 * the agents' cache HOME/profiles/FINGERPRINT.yaml (home_root may be NULL),
 * else ad_described_estimate().  Always fills *out.
 */
void ad_described_figures(const ad_profile_t *p, const char *home_root, ad_store_t *store,
                          ad_described_figures_t *out);

/* Single-precision FLOPs per cycle of one core of the CPU model named; 0 when unknown. */
int ad_described_flops_per_cycle(const char *cpu_model, const char **isa);

#ifdef __cplusplus
}
#endif

#endif
