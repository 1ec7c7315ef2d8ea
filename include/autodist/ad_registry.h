/* ad_registry.h - the coordinator's node registry: HELLO, heartbeats, DOWN detection, listing */
#ifndef AD_REGISTRY_H
#define AD_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "autodist/ad_error.h"
#include "autodist/ad_store.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The nodes the coordinator knows, keyed by name (the agent's host name or
 * --name) and, while UP, by the ZeroMQ identity of the agent's current
 * session.  Pure bookkeeping: no sockets, no clock.  Every function takes
 * the time from the caller (`now`, seconds, any monotonic origin), so the
 * daemon passes zclock_mono()/1000.0 and tests pass whatever they like.
 * A node that leaves stays listed as DOWN until ad_registry_forget_down()
 * drops it (the daemon does so only when --max-nodes is reached).
 * Lookups by name and identity are hash lookups; listing is in name order.
 */
typedef struct ad_registry ad_registry_t;

/* Longest node name accepted, in bytes. */
#define AD_REGISTRY_NAME_MAX 255
/* A node is DOWN once its last message is older than this many heartbeat periods. */
#define AD_REGISTRY_MISSED_MAX 3

/*
 * A node's state is the store's ad_node_state_t (ad_store.h): the registry
 * uses AD_NODE_UP (HELLO accepted, heartbeats arriving) and AD_NODE_DOWN
 * (missed heartbeats, said BYE, or never finished a HELLO).
 */

/*
 * One node, read-only to callers: the registry owns it and the pointer is
 * borrowed until the registry is freed or ad_registry_forget_down() drops
 * the node (the fields change on the next call that names the node).
 */
typedef struct ad_registry_node {
    const char *name;        /* agent's host name or --name; unique */
    const char *identity;    /* printable ZeroMQ identity of the session; NULL when DOWN */
    ad_node_state_t state;   /* UP or DOWN */
    json_t *profile;         /* the HELLO's profile object (ad_profile_to_json() form) */
    int cores;               /* profile's cpu.cores */
    const char *fingerprint; /* profile's hardware-class fingerprint */
    double first_seen;       /* time of the first accepted HELLO */
    double last_seen;        /* time of the last HELLO or HEARTBEAT */
    json_t *load;            /* last HEARTBEAT's load object, or NULL before the first */
    size_t n_jobs;           /* number of entries in jobs */
    const int64_t *jobs;     /* ids of the jobs running on the node, in the order added */
} ad_registry_node_t;

/* Called by ad_registry_tick() for each node that has just gone DOWN. */
typedef void(ad_registry_down_fn)(const char *name, void *arg);

/* A new, empty registry owned by the caller (ad_registry_free()); never NULL. */
ad_registry_t *ad_registry_new(void);

/* Release a registry and its nodes; NULL-safe and idempotent, sets *self_p to NULL. */
void ad_registry_free(ad_registry_t **self_p);

/*
 * Accept a HELLO from the agent called name on the session identity (the
 * printable form of its ZeroMQ routing id, e.g. zframe_strhex()).  profile
 * is the HELLO's profile object (not stolen; the registry keeps a
 * reference), from which cpu.cores and fingerprint are read.  A new name is
 * added; a DOWN node, or an UP node greeting again from the same identity,
 * is (re-)registered UP with the new profile; its jobs list is kept.
 * Returns 0, or
 *   AD_EPEER  when name is UP under another identity: two agents claim one
 *             host name ("two agents claim the host name X (...)"); the
 *             first keeps it, nothing changes;
 *   AD_EINVAL when name is empty, too long, or identity is empty;
 *   -EUSERS   when name is new and the registry already knows its
 *             ad_registry_set_max_nodes() nodes (the message names the cap);
 *   AD_EPARSE when the profile lacks an integer cpu.cores >= 1 or a
 *             fingerprint string;
 * with err (may be NULL) saying which.
 * An identity that was UP under another name is first moved off that name
 * (that node goes DOWN without a callback: the agent renamed itself).
 */
int ad_registry_hello(ad_registry_t *self, const char *name, const char *identity,
                      json_t *profile, double now, ad_err_t *err);

/*
 * Cap the nodes known at once: a HELLO from a new name beyond max_nodes is
 * refused (-EUSERS); known names may always greet again.  0: no cap (the
 * default).  Lowering it below the current count forgets nobody.
 */
void ad_registry_set_max_nodes(ad_registry_t *self, size_t max_nodes);

/*
 * Forget the DOWN nodes that run no job and sent nothing for more than
 * down_s seconds before now, calling forget (may be NULL) with each name
 * just before it goes; pointers to those nodes are then invalid.  A name
 * forgotten and seen again is a new node (first_seen anew).  Returns how
 * many nodes were forgotten.
 */
size_t ad_registry_forget_down(ad_registry_t *self, double now, double down_s,
                               ad_registry_down_fn *forget, void *arg);

/*
 * Record a HEARTBEAT from the session identity: last_seen = now and, when
 * load is an object, it replaces the node's last load (not stolen).
 * Returns 0, or AD_EPEER when no UP node has that identity (a session the
 * registry never accepted, or one already marked DOWN): the daemon answers
 * REJECT with a retry_ms so the agent says HELLO again.
 */
int ad_registry_heartbeat(ad_registry_t *self, const char *identity, json_t *load, double now,
                          ad_err_t *err);

/*
 * The agent on identity leaves (BYE): its node goes DOWN at once, without
 * the ad_registry_tick() callback.  A caller that must fail the node's
 * jobs looks the node up by identity before calling.  Returns 0, or
 * AD_EPEER when no UP node has that identity.
 */
int ad_registry_bye(ad_registry_t *self, const char *identity, double now);

/*
 * Mark DOWN every UP node whose last message is older than
 * AD_REGISTRY_MISSED_MAX x heartbeat_s (strictly: exactly 3 periods is
 * still UP), and call down (may be NULL) once for each with its name and
 * arg, in name order, after the node is marked DOWN (the daemon then fails
 * its running jobs with NODE_FAIL).  Returns the number of nodes marked.
 */
int ad_registry_tick(ad_registry_t *self, double now, double heartbeat_s,
                     ad_registry_down_fn *down, void *arg);

/*
 * The coordinator was held (a long stop of its loop: a slow disk, a dataset hashed, the
 * machine suspended) and runs again at now: the heartbeats it could not hear meanwhile
 * do not count, and every UP node has AD_REGISTRY_MISSED_MAX periods from now before
 * ad_registry_tick() marks it DOWN.  last_seen is left as it was.
 */
void ad_registry_resumed(ad_registry_t *self, double now);

/* The node called name, or NULL; borrowed. */
const ad_registry_node_t *ad_registry_lookup(const ad_registry_t *self, const char *name);

/* The UP node whose session is identity, or NULL; borrowed. */
const ad_registry_node_t *ad_registry_lookup_identity(const ad_registry_t *self,
                                                      const char *identity);

/* Number of nodes known (up_only: only those UP). */
size_t ad_registry_count(const ad_registry_t *self, bool up_only);

/* The i-th node in name order (strcmp), 0 <= i < ad_registry_count(self, false); borrowed. */
const ad_registry_node_t *ad_registry_node_at(const ad_registry_t *self, size_t i);

/*
 * Walk the UP nodes in name order: prev NULL gives the first, a node the
 * one after it.  Returns NULL after the last; borrowed.
 */
const ad_registry_node_t *ad_registry_next_up(const ad_registry_t *self,
                                              const ad_registry_node_t *prev);

/*
 * Record that job id runs on node name (the launcher started it there).
 * Returns 0, -ENOENT for an unknown name, -EEXIST when already recorded.
 */
int ad_registry_add_job(ad_registry_t *self, const char *name, int64_t id);

/* Forget job id on node name.  Returns 0 or -ENOENT (no such node or job on it). */
int ad_registry_remove_job(ad_registry_t *self, const char *name, int64_t id);

/*
 * The listing `autodist nodes` shows: an array, in name order, of objects
 * {name, state ("UP"/"DOWN"), cores, fingerprint, load (object or null),
 * first_seen, last_seen (unix seconds, from the monotonic times given to the
 * registry taken as of now), last_seen_ago_s, jobs (array of ids)}.  A new reference owned by
 * the caller (json_decref()).
 */
json_t *ad_registry_to_json(const ad_registry_t *self);

#ifdef __cplusplus
}
#endif

#endif
