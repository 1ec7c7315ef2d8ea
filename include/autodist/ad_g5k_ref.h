/* ad_g5k_ref.h - a Grid'5000 reference-API node description read into a described profile */
#ifndef AD_G5K_REF_H
#define AD_G5K_REF_H

#include <stdbool.h>
#include <stddef.h>

#include "autodist/ad_error.h"
#include "autodist/ad_profile.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The Grid'5000 reference API describes every node as JSON
 * (https://api.grid5000.fr/stable/sites/SITE/clusters/CLUSTER/nodes/NODE):
 * architecture.nb_procs/nb_cores/nb_threads, processor.clock_speed (Hz),
 * processor.other_description, processor.cache_l1d/cache_l2/cache_l3 (bytes),
 * main_memory.ram_size (bytes), gpu_devices (an object of {model, vendor,
 * memory}), network_adapters[] ({interface, rate in bit/s, enabled,
 * mountable, management}), uid, cluster and links.  The cluster's listing
 * (.../clusters/CLUSTER/nodes) is {"items": [node, ...]}.  Reading one gives
 * a described profile (docs/profiles.md): the hardware of one node with
 * `cluster:` naming the cluster, its site and how many nodes share the
 * hardware.  Unknown fields are ignored (the API has many); a missing or
 * wrong field is an error placed at FILE:LINE:COL.
 */

/* What an import may be told. */
typedef struct ad_g5k_ref_opts {
    const char *name; /* cluster name to write; NULL: the description's (cluster, links, uid) */
    int nodes;        /* nodes of the cluster; 0: those of a listing that share the first
                         node's hardware, or 1 for one node's description */
} ad_g5k_ref_opts_t;

/* What an import produced. */
typedef struct ad_g5k_ref {
    ad_profile_t *profile; /* the described profile; owned */
    char *cluster;         /* cluster name; owned */
    char *site;            /* site, or NULL when the description does not say; owned */
    char *uid;             /* the node imported ("gros-1"), or NULL; owned */
    int listed;            /* nodes in a listing; 0 for one node's description */
    int same;              /* nodes of the listing with the first node's hardware */
    char *others;          /* listed nodes with other hardware ("chifflot-7, ..."), or NULL */
} ad_g5k_ref_t;

/*
 * Read a description (one node, or a listing whose first item is imported)
 * from text of len bytes; name is the file name used in messages.  Returns 0
 * with *out filled (ad_g5k_ref_clear()), or AD_EPARSE with err
 * "NAME:LINE:COL: invalid JSON: ..." or "NAME:LINE:COL: PATH must be ..." (a
 * missing field is placed at its parent), *out then zeroed.
 */
int ad_g5k_ref_parse(const char *text, size_t len, const char *name, const ad_g5k_ref_opts_t *opts,
                     ad_g5k_ref_t *out, ad_err_t *err);

/*
 * ad_g5k_ref_parse() of the file at path (at most 64 MiB).  Returns 0, a
 * negative errno with err naming the path, or AD_EPARSE.
 */
int ad_g5k_ref_load(const char *path, const ad_g5k_ref_opts_t *opts, ad_g5k_ref_t *out,
                    ad_err_t *err);

/* Free what an import holds and zero it; NULL-safe and idempotent. */
void ad_g5k_ref_clear(ad_g5k_ref_t *ref);

/* True for a name usable as a cluster and file name: 1-63 of [a-z0-9_-], a letter or digit first.
 */
bool ad_g5k_ref_name_ok(const char *name);

#ifdef __cplusplus
}
#endif

#endif
