/* ad_registry.c - the coordinator's node registry: HELLO, heartbeats, DOWN detection, listing */
#include "autodist/ad_registry.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <czmq.h>

#include "autodist/ad_clock.h"
#include "autodist/ad_log.h"

/* One node; pub is what callers see, the rest owns its strings. */
typedef struct s_node {
    ad_registry_node_t pub; /* the read-only view; first, so the two pointers coincide */
    char *name;             /* owned; pub.name points here */
    char *identity;         /* owned, NULL when DOWN; pub.identity mirrors it */
    char *fingerprint;      /* owned; pub.fingerprint mirrors it */
    int64_t *jobs;          /* owned array of pub.n_jobs ids */
    size_t jobs_cap;        /* allocated entries of jobs */
} s_node_t;

struct ad_registry {
    zhashx_t *by_name;     /* name -> s_node_t (owns nothing) */
    zhashx_t *by_identity; /* identity of UP nodes -> s_node_t */
    s_node_t **sorted;     /* every node, in name order; owns the nodes */
    size_t n_nodes;        /* entries in sorted */
    size_t cap;            /* allocated entries of sorted */
    size_t n_up;           /* nodes UP */
    size_t max_nodes;      /* most nodes known at once (0: no limit) */
    double resumed;        /* when the coordinator last came back from a hold (0: never) */
};

ad_registry_t *
ad_registry_new(void)
{
    ad_registry_t *self = ad_calloc(1, sizeof(*self));

    self->by_name = zhashx_new();
    self->by_identity = zhashx_new();
    if (!self->by_name || !self->by_identity)
        ad_oom(sizeof(zhashx_t *));
    return self;
}

static void
s_node_free(s_node_t *node)
{
    json_decref(node->pub.profile);
    json_decref(node->pub.load);
    free(node->name);
    free(node->identity);
    free(node->fingerprint);
    free(node->jobs);
    free(node);
}

void
ad_registry_free(ad_registry_t **self_p)
{
    ad_registry_t *self;

    if (!self_p || !*self_p)
        return;
    self = *self_p;
    for (size_t i = 0; i < self->n_nodes; i++)
        s_node_free(self->sorted[i]);
    free(self->sorted);
    zhashx_destroy(&self->by_name);
    zhashx_destroy(&self->by_identity);
    free(self);
    *self_p = NULL;
}

/* Index of the first node whose name is >= name (binary search over sorted). */
static size_t
s_lower_bound(const ad_registry_t *self, const char *name)
{
    size_t lo = 0, hi = self->n_nodes;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(self->sorted[mid]->name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static s_node_t *
s_add_node(ad_registry_t *self, const char *name, double now)
{
    s_node_t *node = ad_calloc(1, sizeof(*node));
    size_t at = s_lower_bound(self, name);

    node->name = ad_strdup(name);
    node->pub.name = node->name;
    node->pub.state = AD_NODE_DOWN;
    node->pub.first_seen = now;
    if (self->n_nodes == self->cap) {
        self->cap = self->cap ? self->cap * 2 : 64;
        self->sorted = ad_realloc(self->sorted, self->cap * sizeof(*self->sorted));
    }
    memmove(self->sorted + at + 1, self->sorted + at,
            (self->n_nodes - at) * sizeof(*self->sorted));
    self->sorted[at] = node;
    self->n_nodes++;
    zhashx_insert(self->by_name, node->name, node);
    return node;
}

/* Take node DOWN: forget its session so its identity no longer answers. */
static void
s_mark_down(ad_registry_t *self, s_node_t *node)
{
    if (node->pub.state != AD_NODE_UP)
        return;
    zhashx_delete(self->by_identity, node->identity);
    free(node->identity);
    node->identity = NULL;
    node->pub.identity = NULL;
    node->pub.state = AD_NODE_DOWN;
    self->n_up--;
}

/* Read cpu.cores and fingerprint from an agent's profile object. */
static int
s_profile_fields(const char *name, json_t *profile, int *cores, const char **fp, ad_err_t *err)
{
    json_t *cpu, *jcores, *jfp;

    if (!json_is_object(profile))
        return ad_err_set(err, AD_EPARSE, "HELLO from %s: the profile is not a JSON object",
                          name);
    cpu = json_object_get(profile, "cpu");
    jcores = json_is_object(cpu) ? json_object_get(cpu, "cores") : NULL;
    if (!json_is_integer(jcores) || json_integer_value(jcores) < 1 ||
        json_integer_value(jcores) > (1 << 20))
        return ad_err_set(err, AD_EPARSE,
                          "HELLO from %s: the profile has no cpu.cores between 1 and %d", name,
                          1 << 20);
    jfp = json_object_get(profile, "fingerprint");
    if (!json_is_string(jfp) || json_string_length(jfp) == 0)
        return ad_err_set(err, AD_EPARSE, "HELLO from %s: the profile has no fingerprint", name);
    *cores = (int)json_integer_value(jcores);
    *fp = json_string_value(jfp);
    return 0;
}

int
ad_registry_hello(ad_registry_t *self, const char *name, const char *identity, json_t *profile,
                  double now, ad_err_t *err)
{
    s_node_t *node, *other;
    const char *fp = NULL;
    int cores = 0;
    int rc;

    assert(self && name && identity);
    if (!*name || strlen(name) > AD_REGISTRY_NAME_MAX)
        return ad_err_set(err, AD_EINVAL, "HELLO: the node name must be 1 to %d bytes, got %zu",
                          AD_REGISTRY_NAME_MAX, strlen(name));
    if (!*identity)
        return ad_err_set(err, AD_EINVAL, "HELLO from %s: empty session identity", name);
    rc = s_profile_fields(name, profile, &cores, &fp, err);
    if (rc)
        return rc;

    node = zhashx_lookup(self->by_name, name);
    if (!node && self->max_nodes && self->n_nodes >= self->max_nodes)
        return ad_err_set(err, -EUSERS,
                          "HELLO from %s: the coordinator knows %zu nodes, its limit "
                          "(--max-nodes %zu); a node DOWN for an hour without a job is forgotten",
                          name, self->n_nodes, self->max_nodes);
    if (node && node->pub.state == AD_NODE_UP && strcmp(node->identity, identity) != 0)
        return ad_err_set(err, AD_EPEER,
                          "two agents claim the host name %s (session %s is UP, last seen "
                          "%.1f s ago; session %s refused): give one of them --name",
                          name, node->identity, now - node->pub.last_seen, identity);

    other = zhashx_lookup(self->by_identity, identity);
    if (other && other != node) {
        ad_log_limited("renamed", AD_LOG_INFO, "node %s: session %s now says it is %s", other->name,
                       identity, name);
        s_mark_down(self, other);
    }
    if (!node)
        node = s_add_node(self, name, now);
    if (node->pub.state != AD_NODE_UP) {
        node->identity = ad_strdup(identity);
        node->pub.identity = node->identity;
        node->pub.state = AD_NODE_UP;
        zhashx_insert(self->by_identity, node->identity, node);
        self->n_up++;
    }
    json_incref(profile);
    json_decref(node->pub.profile);
    node->pub.profile = profile;
    node->pub.cores = cores;
    free(node->fingerprint);
    node->fingerprint = ad_strdup(fp);
    node->pub.fingerprint = node->fingerprint;
    node->pub.last_seen = now;
    return 0;
}

void
ad_registry_set_max_nodes(ad_registry_t *self, size_t max_nodes)
{
    assert(self);
    self->max_nodes = max_nodes;
}

size_t
ad_registry_forget_down(ad_registry_t *self, double now, double down_s, ad_registry_down_fn *forget,
                        void *arg)
{
    size_t kept = 0, count = 0;

    assert(self);
    for (size_t i = 0; i < self->n_nodes; i++) {
        s_node_t *node = self->sorted[i];

        if (node->pub.state == AD_NODE_UP || node->pub.n_jobs > 0 ||
            now - node->pub.last_seen <= down_s) {
            self->sorted[kept++] = node;
            continue;
        }
        if (forget)
            forget(node->name, arg);
        zhashx_delete(self->by_name, node->name);
        s_node_free(node);
        count++;
    }
    self->n_nodes = kept;
    return count;
}

int
ad_registry_heartbeat(ad_registry_t *self, const char *identity, json_t *load, double now,
                      ad_err_t *err)
{
    s_node_t *node;

    assert(self && identity);
    node = zhashx_lookup(self->by_identity, identity);
    if (!node)
        return ad_err_set(err, AD_EPEER, "HEARTBEAT from session %s, which is not registered",
                          identity);
    node->pub.last_seen = now;
    if (json_is_object(load)) {
        json_incref(load);
        json_decref(node->pub.load);
        node->pub.load = load;
    }
    return 0;
}

int
ad_registry_bye(ad_registry_t *self, const char *identity, double now)
{
    s_node_t *node;

    assert(self && identity);
    node = zhashx_lookup(self->by_identity, identity);
    if (!node)
        return AD_EPEER;
    node->pub.last_seen = now;
    s_mark_down(self, node);
    return 0;
}

int
ad_registry_tick(ad_registry_t *self, double now, double heartbeat_s, ad_registry_down_fn *down,
                 void *arg)
{
    double limit = AD_REGISTRY_MISSED_MAX * heartbeat_s;
    int count = 0;

    assert(self && heartbeat_s > 0);
    if (self->n_up == 0)
        return 0;
    for (size_t i = 0; i < self->n_nodes; i++) {
        s_node_t *node = self->sorted[i];
        /* What the coordinator could not hear while it was held does not count. */
        double since = node->pub.last_seen > self->resumed ? node->pub.last_seen : self->resumed;

        if (node->pub.state != AD_NODE_UP || now - since <= limit)
            continue;
        ad_log_limited("missed heartbeats", AD_LOG_WARN, "node %s: DOWN, no heartbeat for %.1f s",
                       node->name, now - node->pub.last_seen);
        s_mark_down(self, node);
        count++;
        if (down)
            down(node->name, arg);
    }
    return count;
}

void
ad_registry_resumed(ad_registry_t *self, double now)
{
    assert(self);
    self->resumed = now;
}

const ad_registry_node_t *
ad_registry_lookup(const ad_registry_t *self, const char *name)
{
    s_node_t *node = zhashx_lookup(self->by_name, name);

    return node ? &node->pub : NULL;
}

const ad_registry_node_t *
ad_registry_lookup_identity(const ad_registry_t *self, const char *identity)
{
    s_node_t *node = zhashx_lookup(self->by_identity, identity);

    return node ? &node->pub : NULL;
}

size_t
ad_registry_count(const ad_registry_t *self, bool up_only)
{
    return up_only ? self->n_up : self->n_nodes;
}

const ad_registry_node_t *
ad_registry_node_at(const ad_registry_t *self, size_t i)
{
    assert(i < self->n_nodes);
    return &self->sorted[i]->pub;
}

const ad_registry_node_t *
ad_registry_next_up(const ad_registry_t *self, const ad_registry_node_t *prev)
{
    size_t i = prev ? s_lower_bound(self, prev->name) + 1 : 0;

    for (; i < self->n_nodes; i++)
        if (self->sorted[i]->pub.state == AD_NODE_UP)
            return &self->sorted[i]->pub;
    return NULL;
}

int
ad_registry_add_job(ad_registry_t *self, const char *name, int64_t id)
{
    s_node_t *node = zhashx_lookup(self->by_name, name);

    if (!node)
        return -ENOENT;
    for (size_t i = 0; i < node->pub.n_jobs; i++)
        if (node->jobs[i] == id)
            return -EEXIST;
    if (node->pub.n_jobs == node->jobs_cap) {
        node->jobs_cap = node->jobs_cap ? node->jobs_cap * 2 : 4;
        node->jobs = ad_realloc(node->jobs, node->jobs_cap * sizeof(*node->jobs));
    }
    node->jobs[node->pub.n_jobs++] = id;
    node->pub.jobs = node->jobs;
    return 0;
}

int
ad_registry_remove_job(ad_registry_t *self, const char *name, int64_t id)
{
    s_node_t *node = zhashx_lookup(self->by_name, name);

    if (!node)
        return -ENOENT;
    for (size_t i = 0; i < node->pub.n_jobs; i++) {
        if (node->jobs[i] != id)
            continue;
        memmove(node->jobs + i, node->jobs + i + 1,
                (node->pub.n_jobs - i - 1) * sizeof(*node->jobs));
        node->pub.n_jobs--;
        return 0;
    }
    return -ENOENT;
}

json_t *
ad_registry_to_json(const ad_registry_t *self)
{
    json_t *list = json_array();
    struct timeval tv;
    double mono = ad_clock_now(), wall;

    /* The registry keeps monotonic times; people and other machines read unix seconds. */
    gettimeofday(&tv, NULL);
    wall = (double)tv.tv_sec + tv.tv_usec / 1e6;

    for (size_t i = 0; i < self->n_nodes; i++) {
        const ad_registry_node_t *n = &self->sorted[i]->pub;
        json_t *jobs = json_array();

        for (size_t j = 0; j < n->n_jobs; j++)
            json_array_append_new(jobs, json_integer(n->jobs[j]));
        json_array_append_new(list,
                              json_pack("{s:s, s:s, s:i, s:s?, s:O?, s:f, s:f, s:f, s:o}", "name",
                                        n->name, "state", ad_store_node_state_name(n->state),
                                        "cores", n->cores, "fingerprint", n->fingerprint, "load",
                                        n->load, "first_seen", wall - (mono - n->first_seen),
                                        "last_seen", wall - (mono - n->last_seen),
                                        "last_seen_ago_s", mono - n->last_seen, "jobs", jobs));
    }
    return list;
}
