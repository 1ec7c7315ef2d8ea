/* ad_keys.h - CURVE keys: the home's key folder, users, rotation, the coordinator's ZAP handler */
#ifndef AD_KEYS_H
#define AD_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include <czmq.h>
#include <jansson.h>

#include "autodist/ad_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The key folder of a home (HOME/keys, mode 0700; docs/security.md):
 *
 *   server.cert, server.cert_secret   the coordinator's pair
 *   client.cert, client.cert_secret   the admin's pair (the home's owner)
 *   node/                             the nodes' folder: agents and trainers
 *   users/NAME/                       one folder per user
 *
 * node/ and users/NAME/ are "client folders": server.cert (public) and a pair
 * client.cert(+_secret); HOME/keys itself is the admin's client folder.  A
 * client folder is what a client needs and what is copied to a machine.
 */

/* Environment variable naming a client folder (agents, trainers). */
#define AD_KEYS_ENV "AUTODIST_KEYS"
/* Its value when the coordinator runs --insecure: trainers send in the clear. */
#define AD_KEYS_NONE "none"
/* ZAP domain of the agents' and metrics sockets: node keys only. */
#define AD_KEYS_DOMAIN_NODES "autodist-nodes"
/* ZAP domain of the clients' socket: the admin and users. */
#define AD_KEYS_DOMAIN_CLIENTS "autodist"
/* Longest user name. */
#define AD_KEYS_NAME_MAX 64

/* Who a key belongs to. */
typedef enum {
    AD_KEYS_ROLE_NONE = 0, /* no key (an --insecure coordinator), or an unknown one */
    AD_KEYS_ROLE_ADMIN,    /* the home's owner: everything */
    AD_KEYS_ROLE_USER,     /* submits, cancels their own jobs */
    AD_KEYS_ROLE_NODE,     /* agents and trainers: HELLO, HEARTBEAT, BYE, METRIC */
} ad_keys_role_t;

/* "admin", "user", "node", or "none". */
const char *ad_keys_role_name(ad_keys_role_t role);

/* Whether name can name a user: 1..64 letters, digits, '_', '-', '.'; not first '.' or '-'. */
bool ad_keys_valid_name(const char *name);

/*
 * Create what is missing in keys_dir: the folder (0700), the server pair,
 * the admin pair (metadata role=admin, name=admin_name; NULL: $USER), node/
 * with its pair (role=node, name=node) and a copy of server.cert, users/.
 * Secret files are mode 0600.  Idempotent.  Returns 0 or -errno with err
 * naming the file.
 */
int ad_keys_init(const char *keys_dir, const char *admin_name, ad_err_t *err);

/*
 * Make user name's client folder keys_dir/users/NAME (its pair, role=user,
 * and a copy of server.cert).  Returns 0; AD_EINVAL for a bad name or the
 * admin's own; -EEXIST when the user has keys; -errno with err set.
 */
int ad_keys_add_user(const char *keys_dir, const char *name, ad_err_t *err);

/* Delete user name's folder; the coordinator refuses the key at its next handshake.  Returns 0,
 * -ENOENT (no such user) or -errno. */
int ad_keys_revoke(const char *keys_dir, const char *name, ad_err_t *err);

/*
 * Replace the server pair and copy the new server.cert into node/ and every
 * users/NAME/.  A running coordinator keeps the old key until it restarts.
 * Returns 0 or -errno with err set.
 */
int ad_keys_rotate(const char *keys_dir, ad_err_t *err);

/*
 * The keys of keys_dir as a new JSON array of {name, role, key (the public
 * key, Z85), folder}: the admin, the node key, then users by name; NULL with
 * err set when keys_dir has no keys.
 */
json_t *ad_keys_list(const char *keys_dir, ad_err_t *err);

/*
 * Check that client_dir is a client folder: 0, or -ENOENT with err naming the
 * first missing file ("no CURVE key at DIR/client.cert_secret").
 */
int ad_keys_check_client(const char *client_dir, ad_err_t *err);

/*
 * Start the coordinator's ZAP handler (inproc://zeromq.zap.01 of CZMQ's
 * context): it admits the CURVE keys of keys_dir (the admin, users/NAME/, node/)
 * by domain -- AD_KEYS_DOMAIN_NODES takes the node key only, any other
 * domain the admin and users -- and gives each connection the User-Id
 * "ROLE/NAME" ("user/alice").  The folder is read again when it changed, at
 * the next handshake.  A refused key is logged once per peer address and
 * key.  Start it before binding the secure sockets.  Returns the actor (the
 * caller owns it, zactor_destroy()) or NULL with err set.
 */
zactor_t *ad_keys_auth_new(const char *keys_dir, ad_err_t *err);

/*
 * The role of a User-Id given by the ZAP handler ("user/alice"), with the
 * name copied to name (size bytes); AD_KEYS_ROLE_NONE (name "") for NULL or
 * anything else.
 */
ad_keys_role_t ad_keys_parse_user_id(const char *user_id, char *name, size_t size);

/*
 * Whether endpoint can only be reached from this machine: ipc://, inproc://,
 * or tcp:// on 127.0.0.0/8, localhost or [::1].  A wildcard or any other
 * address is not.
 */
bool ad_keys_is_loopback(const char *endpoint);

#ifdef __cplusplus
}
#endif

#endif
