/* ad_profile_priv.h - the profile's fields, for the modules that build profiles (readers, hwloc) */
#ifndef AD_PROFILE_PRIV_H
#define AD_PROFILE_PRIV_H

#include "autodist/ad_profile.h"

#define AD_PROFILE_GIB (UINT64_C(1) << 30)

struct ad_profile {
    char *hostname;                          /* "" for cluster descriptions */
    char *source;                            /* free text: who measured or wrote it */
    char fingerprint[AD_PROFILE_FP_LEN + 1]; /* derived from the hardware fields */
    char *cluster_site;     /* cluster descriptions: site, e.g. "nancy"; else NULL */
    char *cluster_name;     /* cluster name, e.g. "gros"; NULL when not a cluster */
    char *cluster_hosts;    /* host pattern, e.g. "gros-[1-124].nancy.grid5000.fr" */
    int cluster_nodes;      /* nodes of this class in the cluster; 0 when not a cluster */
    char *cpu_model;        /* CPU model name */
    int sockets;            /* packages */
    int cores;              /* physical cores */
    int pus;                /* hardware threads */
    int numa_nodes;         /* NUMA nodes */
    double cpu_ghz;         /* nominal/maximum frequency; 0 when unknown */
    uint64_t cache[4];      /* [1] L1d, [2] L2, [3] L3 bytes; 0 when absent */
    uint64_t memory_bytes;  /* main memory */
    ad_profile_gpu_t *gpus; /* n_gpus entries, strings owned */
    int n_gpus;
    ad_profile_net_t *nets; /* n_nets entries, strings owned */
    int n_nets;
    ad_profile_core_t *core_map; /* n_core_map entries (0 or cores), pus owned */
    int n_core_map;
    ad_profile_bench_t bench; /* valid when has_bench */
    bool has_bench;
};

/* An empty profile: "" for the host name, source and CPU model; owned by the caller. */
ad_profile_t *ad_profile_new_blank(void);

/* s with runs of blanks folded to one space and no blanks at the ends; owned by the caller. */
char *ad_profile_squeeze(const char *s);

/* Compute self->fingerprint from the hardware fields. */
void ad_profile_update_fingerprint(ad_profile_t *self);

#endif
