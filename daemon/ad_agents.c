/* ad_agents.c - the agents' socket: HELLO, heartbeats, BYE, nodes going DOWN */
#include "ad_daemon.h"

/* A DOWN node without a job is forgotten after this long, when --max-nodes is reached (s). */
#define S_FORGET_DOWN_S 3600.0

static void
s_reject(coord_t *self, const char *identity, const char *reason, int retry_ms)
{
    ad_daemon_send(self->agents, identity, "REJECT",
                   json_pack("{s:s s:i}", "reason", reason, "retry_ms", retry_ms));
}

static void
s_node_down(coord_t *self, const char *name, const char *why)
{
    ad_err_t err = {0};

    ad_sched_set_node(self->sched, name, false, 0);
    self->nodes_gen++;
    if (ad_journal_node_seen(self->journal, name, true, &err))
        ad_log(AD_LOG_WARN, "node %s: cannot record DOWN: %s", name, err.msg);
    ad_log_limited("DOWN", AD_LOG_WARN, "node %s is DOWN (%s)", name, why);
    ad_running_fail_node(self, name, why);
}

void
ad_agents_on_down(const char *name, void *arg)
{
    s_node_down(arg, name, "missed heartbeats");
}

/* A DOWN node leaves the coordinator's memory (its store row stays): its address goes too. */
static void
s_on_forget(const char *name, void *arg)
{
    coord_t *self = arg;

    zhashx_delete(self->addresses, name);
    zhashx_delete(self->launch, name);
    ad_sched_forget_node(self->sched, name);
    ad_log_limited("forgotten", AD_LOG_INFO, "node %s: forgotten (DOWN for over %.0f s, no job)",
                   name, S_FORGET_DOWN_S);
}

/*
 * The caps of a HELLO (docs/daemon.md): a profile of at most --max-profile-kib, and room
 * for a new name under --max-nodes, after forgetting nodes long DOWN if needed.  Returns 0,
 * or refuses the agent (a REJECT naming the cap) and returns -1.
 */
static int
s_hello_caps(coord_t *self, const ad_proto_msg_t *msg, const char *name, json_t *profile)
{
    size_t max_nodes = self->opts->max_nodes > 0 ? (size_t)self->opts->max_nodes : 0;
    size_t cap = (size_t)self->opts->max_profile_kib * 1024;
    size_t size = json_dumpb(profile, NULL, 0, JSON_COMPACT);
    char reason[256];

    if (cap && size > cap) {
        snprintf(reason, sizeof(reason),
                 "HELLO from %s refused: its profile is %zu KiB, over the %zu KiB limit "
                 "(--max-profile-kib)",
                 name, (size + 1023) / 1024, cap / 1024);
        ad_log_limited("HELLO refused", AD_LOG_WARN, "%s", reason);
        s_reject(self, msg->identity, reason, 0);
        return -1;
    }
    ad_registry_set_max_nodes(self->reg, max_nodes);
    if (max_nodes && !ad_registry_lookup(self->reg, name) &&
        ad_registry_count(self->reg, false) >= max_nodes)
        ad_registry_forget_down(self->reg, ad_clock_now(), S_FORGET_DOWN_S, s_on_forget, self);
    return 0;
}

const char *
ad_daemon_node_pool(coord_t *self, const char *name)
{
    return json_string_value(json_object_get(zhashx_lookup(self->launch, name), "pool"));
}

int
ad_daemon_queue(coord_t *self, int64_t id, const ad_job_t *job, int nodes, int ppn, int tpp)
{
    char pool[AD_PROTO_POOL_MAX + 64];
    int rc = ad_sched_add_job(self->sched, id, nodes, ppn, tpp);

    if (!rc && job) {
        ad_sched_set_job_pool(self->sched, id, ad_job_resv_pool(job, pool, sizeof(pool)));
        /* device gpu: one rank per GPU, so only nodes with that many GPUs will do. */
        ad_sched_set_job_gpus(self->sched, id, job->device == AD_JOB_DEVICE_GPU ? ppn : 0);
    }
    return rc;
}

/*
 * HELLO's pool and launch, checked: the reservation the node belongs to and
 * how mpirun reaches it.  Returns a new {pool, rsh, env} object (NULL when
 * the HELLO has neither), or NULL with reason set when one is refused.
 */
static json_t *
s_hello_launch(const json_t *hello, char *reason, size_t cap)
{
    const char *pool = json_string_value(json_object_get(hello, "pool"));
    json_t *launch = json_object_get(hello, "launch"), *env, *v, *out;
    const char *rsh = json_string_value(json_object_get(launch, "rsh")), *key;
    char kv[128];

    *reason = '\0';
    if (pool && !ad_proto_pool_ok(pool)) {
        snprintf(reason, cap, "HELLO: pool must be 1..%d letters, digits and ._:-",
                 AD_PROTO_POOL_MAX);
        return NULL;
    }
    if (launch && !ad_proto_rsh_ok(rsh)) {
        snprintf(reason, cap, "HELLO: launch.rsh must be oarsh or ssh");
        return NULL;
    }
    env = json_object_get(launch, "env");
    if (json_object_size(env) > AD_PROTO_RSH_ENV_MAX) {
        snprintf(reason, cap, "HELLO: launch.env has over %d entries", AD_PROTO_RSH_ENV_MAX);
        return NULL;
    }
    json_object_foreach(env, key, v)
    {
        snprintf(kv, sizeof(kv), "%s=%s", key, json_is_string(v) ? json_string_value(v) : "");
        if (!ad_proto_rsh_env_ok(kv)) {
            snprintf(reason, cap, "HELLO: launch.env may hold OAR_JOB_ID or SLURM_JOB_ID, digits");
            return NULL;
        }
    }
    if (!pool && !launch)
        return NULL;
    out = json_object();
    if (pool)
        json_object_set_new(out, "pool", json_string(pool));
    if (rsh)
        json_object_set_new(out, "rsh", json_string(rsh));
    if (env)
        json_object_set(out, "env", env);
    return out;
}

/*
 * A reservation's node whose agent comes back from a newer batch job (the
 * next reservation of a sweep, on the same host) replaces the old session
 * at once: that one died with its batch job but is not yet missed.  Only
 * for a node of the same pool whose announced environment changed.
 */
static void
s_replace_stale(coord_t *self, const char *name, const char *identity, const json_t *launch)
{
    const ad_registry_node_t *n = ad_registry_lookup(self->reg, name);
    const json_t *old = zhashx_lookup(self->launch, name);
    const char *pool = json_string_value(json_object_get(launch, "pool"));
    const char *old_pool = json_string_value(json_object_get(old, "pool"));
    char why[200];

    if (!n || n->state != AD_NODE_UP || !n->identity || !strcmp(n->identity, identity) || !pool ||
        !old_pool || strcmp(pool, old_pool) ||
        json_equal(json_object_get(old, "env"), json_object_get(launch, "env")))
        return;
    snprintf(why, sizeof(why), "its reservation ended: an agent of the next one replaces it");
    ad_registry_bye(self->reg, n->identity, ad_clock_now());
    s_node_down(self, name, why);
}

static void
s_on_hello(coord_t *self, const ad_proto_msg_t *msg)
{
    const char *name = NULL, *address = NULL;
    json_t *profile = NULL;
    int64_t proto = 0, id = 0;
    ad_err_t err = {0};
    const ad_registry_node_t *n;
    json_t *launch;
    char *renamed, reason[160];
    int rc;

    ad_doc_json_get_int(msg->payload, "protocol", 1, 1000, &proto, NULL);
    ad_doc_json_get_string(msg->payload, "hostname", 1, 255, &name, NULL);
    ad_doc_json_get_object(msg->payload, "profile", &profile, NULL);
    ad_doc_json_get_string(msg->payload, "address", 1, 255, &address, NULL);
    if (proto != AD_PROTO_VERSION) {
        char reason[128];

        snprintf(reason, sizeof(reason), "protocol %lld is not spoken here (only %d)",
                 (long long)proto, AD_PROTO_VERSION);
        s_reject(self, msg->identity, reason, 0);
        return;
    }
    if (s_hello_caps(self, msg, name, profile))
        return;
    launch = s_hello_launch(msg->payload, reason, sizeof(reason));
    if (*reason) {
        ad_log_limited("HELLO refused", AD_LOG_WARN, "HELLO from %s refused: %s", name, reason);
        s_reject(self, msg->identity, reason, 0);
        return;
    }
    s_replace_stale(self, name, msg->identity, launch);
    n = ad_registry_lookup_identity(self->reg, msg->identity);
    renamed = n && strcmp(n->name, name) ? ad_strdup(n->name) : NULL;
    rc = ad_registry_hello(self->reg, name, msg->identity, profile, ad_clock_now(), &err);
    if (rc) {
        ad_log_limited("HELLO refused", AD_LOG_WARN, "HELLO from %s refused: %s", name, err.msg);
        /* Over --max-nodes a node may find room later (a DOWN one forgotten): retry slowly. */
        s_reject(self, msg->identity, err.msg, rc == -EUSERS ? 60000 : 0);
        free(renamed);
        json_decref(launch);
        return;
    }
    /* The registry moved the session off its old name: the scheduler and the store follow,
     * or the old name would stay UP there and get jobs (a ghost). */
    if (renamed) {
        char why[300];

        snprintf(why, sizeof(why), "its agent now says it is %s", name);
        s_node_down(self, renamed, why);
        free(renamed);
    }
    n = ad_registry_lookup(self->reg, name);
    ad_sched_set_node(self->sched, name, true, n ? n->cores : 0);
    if (n) {
        json_t *gpus = json_object_get(n->profile, "gpus");

        ad_sched_set_node_gpus(self->sched, name, json_is_array(gpus) ? (int)json_array_size(gpus) : 0);
    }
    ad_sched_set_node_pool(self->sched, name,
                           json_string_value(json_object_get(launch, "pool")));
    if (ad_coord_node_up(self->store, name, profile, &id, &err)) {
        ad_log(AD_LOG_ERROR, "node %s: %s", name, err.msg);
        ad_registry_bye(self->reg, msg->identity, ad_clock_now());
        ad_sched_set_node(self->sched, name, false, 0);
        s_reject(self, msg->identity, "the coordinator cannot write its store", 1000);
        json_decref(launch);
        return;
    }
    zhashx_update(self->addresses, name, ad_strdup(address ? address : name));
    if (launch)
        zhashx_update(self->launch, name, launch);
    else
        zhashx_delete(self->launch, name);
    self->nodes_gen++;
    ad_running_node_up(self, name);
    ad_log_limited("UP", AD_LOG_INFO, "node %s is UP (id %lld, %d cores, address %s)", name,
                   (long long)id, n ? n->cores : 0, address ? address : name);
    ad_daemon_send(
        self->agents, msg->identity, "WELCOME",
        json_pack("{s:I s:i}", "node", (json_int_t)id, "heartbeat_ms", self->opts->heartbeat_ms));
    ad_running_schedule(self);
}

int
ad_agents_on_msg(zloop_t *loop, zsock_t *sock, void *arg)
{
    coord_t *self = arg;
    const ad_registry_node_t *n;
    ad_proto_msg_t msg = {0};
    ad_err_t err = {0};
    json_t *load = NULL;
    char *name;
    int rc;

    rc = ad_proto_recv(sock, 0, &msg, &err);
    if (rc == -ETIMEDOUT || rc == -EINTR)
        return 0;
    if (rc) {
        ad_log_limited("malformed", AD_LOG_WARN, "%s; dropped", err.msg);
        goto out;
    }
    /* Only the node key opens this socket (ZAP domain): a check that the handshake held. */
    if (!self->opts->insecure &&
        ad_keys_parse_user_id(msg.user_id, NULL, 0) != AD_KEYS_ROLE_NODE) {
        ad_log(AD_LOG_WARN, "%s from %s without the node key; dropped",
               ad_proto_type_name(msg.type), msg.identity);
        goto out;
    }
    switch (msg.type) {
    case AD_PROTO_HELLO:
        s_on_hello(self, &msg);
        break;
    case AD_PROTO_HEARTBEAT:
        ad_doc_json_get_object(msg.payload, "load", &load, NULL);
        /* The store's last_seen is written in batches by the tick (S_SEEN_TICKS). */
        if (ad_registry_heartbeat(self->reg, msg.identity, load, ad_clock_now(), NULL))
            s_reject(self, msg.identity, "no session: say HELLO again", 1000);
        else
            ad_running_load_sample(self, msg.identity, load);
        break;
    case AD_PROTO_BYE:
        n = ad_registry_lookup_identity(self->reg, msg.identity);
        if (!n) {
            ad_log_limited("unknown peer", AD_LOG_INFO, "BYE from session %s, which has none",
                           msg.identity);
            s_reject(self, msg.identity, "no session", 1000);
            break;
        }
        name = ad_strdup(n->name);
        ad_registry_bye(self->reg, msg.identity, ad_clock_now());
        s_node_down(self, name, "said BYE");
        free(name);
        break;
    default:
        ad_log_limited("malformed", AD_LOG_WARN,
                       "%s on the agent socket is not for the coordinator; dropped",
                       ad_proto_type_name(msg.type));
        break;
    }
out:
    ad_proto_msg_clear(&msg);
    return 0;
}

/* Write the UP nodes' last_seen in one transaction (heartbeats are not written one by one). */
void
ad_agents_flush_seen(coord_t *self)
{
    size_t n = ad_registry_count(self->reg, true), i = 0;
    const char **names = ad_malloc((n ? n : 1) * sizeof(*names));
    const ad_registry_node_t *node = NULL;
    ad_err_t err = {0};

    while ((node = ad_registry_next_up(self->reg, node)) && i < n)
        names[i++] = node->name;
    if (ad_journal_nodes_seen(self->journal, names, i, &err))
        ad_log(AD_LOG_WARN, "nodes' last_seen not stored: %s", err.msg);
    free(names);
    /* Every 5 s on the timer: the counts of rate-limited lines show even when a flood stops. */
    ad_log_limited_flush();
}
