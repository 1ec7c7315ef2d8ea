/* ad_sched.c - the coordinator's job queue: FIFO with simple backfilling on whole nodes */
#include "autodist/ad_sched.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <czmq.h>

/* How many values a reason lists before it writes "...". */
#define S_REASON_LIST_MAX 8

typedef struct s_job s_job_t;

typedef struct s_node {
    char *name;    /* owned */
    char *pool;    /* the reservation it belongs to (owned), or NULL: the cluster's own */
    bool up;       /* the registry says UP */
    int cores;     /* cores of the node */
    s_job_t *busy; /* the job running on it, or NULL when free */
} s_node_t;

struct s_job {
    int64_t id;        /* the store's job id */
    int nodes;         /* nodes needed */
    int need;          /* cores needed on each node: procs_per_node x threads_per_proc */
    char *pool;        /* runs only on nodes of this pool (owned), or NULL: on pool-less nodes */
    bool running;      /* picked by ad_sched_next() */
    s_node_t **placed; /* while running: the nodes it holds, nodes entries */
    s_job_t *prev;     /* queue order (add order) */
    s_job_t *next;
};

struct ad_sched {
    s_node_t **nodes;  /* in name order; owns the nodes */
    size_t n_nodes;    /* entries in nodes */
    size_t cap;        /* allocated entries of nodes */
    s_job_t *head;     /* oldest job */
    s_job_t *tail;     /* newest job */
    zhashx_t *by_id;   /* "<id>" -> s_job_t (owns nothing) */
    size_t n_jobs;     /* jobs queued or running */
    int *scratch;      /* n_nodes ints for ad_sched_next() */
    char reason[1024]; /* the last ad_sched_reason() */
};

ad_sched_t *
ad_sched_new(void)
{
    ad_sched_t *self = ad_calloc(1, sizeof(*self));

    self->by_id = zhashx_new();
    if (!self->by_id)
        ad_oom(sizeof(zhashx_t *));
    return self;
}

static void
s_job_free(s_job_t *job)
{
    free(job->placed);
    free(job->pool);
    free(job);
}

void
ad_sched_free(ad_sched_t **self_p)
{
    ad_sched_t *self;

    if (!self_p || !*self_p)
        return;
    self = *self_p;
    while (self->head) {
        s_job_t *next = self->head->next;
        s_job_free(self->head);
        self->head = next;
    }
    for (size_t i = 0; i < self->n_nodes; i++) {
        free(self->nodes[i]->name);
        free(self->nodes[i]->pool);
        free(self->nodes[i]);
    }
    free(self->nodes);
    free(self->scratch);
    zhashx_destroy(&self->by_id);
    free(self);
    *self_p = NULL;
}

static void
s_id_key(int64_t id, char key[24])
{
    snprintf(key, 24, "%" PRId64, id);
}

static s_job_t *
s_find_job(ad_sched_t *self, int64_t id)
{
    char key[24];

    s_id_key(id, key);
    return zhashx_lookup(self->by_id, key);
}

size_t
ad_sched_count(const ad_sched_t *self)
{
    return self->n_jobs;
}

int
ad_sched_add_job(ad_sched_t *self, int64_t id, int nodes, int procs_per_node,
                 int threads_per_proc)
{
    s_job_t *job;
    char key[24];

    assert(self);
    if (nodes < 1 || procs_per_node < 1 || threads_per_proc < 1 ||
        procs_per_node > INT_MAX / threads_per_proc)
        return AD_EINVAL;
    if (s_find_job(self, id))
        return -EEXIST;
    job = ad_calloc(1, sizeof(*job));
    job->id = id;
    job->nodes = nodes;
    job->need = procs_per_node * threads_per_proc;
    job->prev = self->tail;
    if (self->tail)
        self->tail->next = job;
    else
        self->head = job;
    self->tail = job;
    s_id_key(id, key);
    zhashx_insert(self->by_id, key, job);
    self->n_jobs++;
    return 0;
}

static size_t s_lower_bound(const ad_sched_t *self, const char *name);

/* The node called name, or NULL. */
static s_node_t *
s_find_node(const ad_sched_t *self, const char *name)
{
    size_t at = s_lower_bound(self, name);

    return at < self->n_nodes && !strcmp(self->nodes[at]->name, name) ? self->nodes[at] : NULL;
}

int
ad_sched_adopt(ad_sched_t *self, int64_t id, const char *const *nodes, int n_nodes,
               int procs_per_node, int threads_per_proc)
{
    s_job_t *job;
    int rc;

    assert(self && nodes);
    for (int i = 0; i < n_nodes; i++) {
        s_node_t *node = s_find_node(self, nodes[i]);

        if (node && node->busy)
            return -EBUSY;
        if (!node && ad_sched_set_node(self, nodes[i], false, 0))
            return AD_EINVAL;
    }
    rc = ad_sched_add_job(self, id, n_nodes, procs_per_node, threads_per_proc);
    if (rc)
        return rc;
    job = s_find_job(self, id);
    job->running = true;
    job->placed = ad_malloc((size_t)n_nodes * sizeof(*job->placed));
    for (int i = 0; i < n_nodes; i++) {
        job->placed[i] = s_find_node(self, nodes[i]);
        job->placed[i]->busy = job;
    }
    return 0;
}

static void
s_unplace(s_job_t *job)
{
    if (!job->running)
        return;
    for (int i = 0; i < job->nodes; i++)
        job->placed[i]->busy = NULL;
    free(job->placed);
    job->placed = NULL;
    job->running = false;
}

static void
s_drop_job(ad_sched_t *self, s_job_t *job)
{
    char key[24];

    s_unplace(job);
    if (job->prev)
        job->prev->next = job->next;
    else
        self->head = job->next;
    if (job->next)
        job->next->prev = job->prev;
    else
        self->tail = job->prev;
    s_id_key(job->id, key);
    zhashx_delete(self->by_id, key);
    self->n_jobs--;
    s_job_free(job);
}

int
ad_sched_remove_job(ad_sched_t *self, int64_t id)
{
    s_job_t *job = s_find_job(self, id);

    if (!job)
        return -ENOENT;
    s_drop_job(self, job);
    return 0;
}

int
ad_sched_release(ad_sched_t *self, int64_t id)
{
    s_job_t *job = s_find_job(self, id);

    if (!job || !job->running)
        return -ENOENT;
    s_drop_job(self, job);
    return 0;
}

/* Index of the first node whose name is >= name. */
static size_t
s_lower_bound(const ad_sched_t *self, const char *name)
{
    size_t lo = 0, hi = self->n_nodes;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(self->nodes[mid]->name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int
ad_sched_set_node(ad_sched_t *self, const char *name, bool up, int cores)
{
    size_t at;
    s_node_t *node;

    assert(self && name);
    if (!*name || cores < 0)
        return AD_EINVAL;
    at = s_lower_bound(self, name);
    if (at < self->n_nodes && strcmp(self->nodes[at]->name, name) == 0) {
        node = self->nodes[at];
    } else {
        if (self->n_nodes == self->cap) {
            self->cap = self->cap ? self->cap * 2 : 64;
            self->nodes = ad_realloc(self->nodes, self->cap * sizeof(*self->nodes));
            self->scratch = ad_realloc(self->scratch, self->cap * sizeof(*self->scratch));
        }
        node = ad_calloc(1, sizeof(*node));
        node->name = ad_strdup(name);
        memmove(self->nodes + at + 1, self->nodes + at,
                (self->n_nodes - at) * sizeof(*self->nodes));
        self->nodes[at] = node;
        self->n_nodes++;
    }
    node->up = up;
    node->cores = cores;
    return 0;
}

int
ad_sched_forget_node(ad_sched_t *self, const char *name)
{
    size_t at = s_lower_bound(self, name);
    s_node_t *node;

    if (at >= self->n_nodes || strcmp(self->nodes[at]->name, name))
        return -ENOENT;
    node = self->nodes[at];
    if (node->busy)
        return -EBUSY;
    free(node->name);
    free(node->pool);
    free(node);
    memmove(self->nodes + at, self->nodes + at + 1,
            (self->n_nodes - at - 1) * sizeof(*self->nodes));
    self->n_nodes--;
    return 0;
}

/* Whether two pools are the same; NULL and "" are the cluster's own. */
static bool
s_same_pool(const char *a, const char *b)
{
    return (!a || !*a) ? (!b || !*b) : (b && !strcmp(a, b));
}

static bool
s_node_free_for(const s_node_t *node, const s_job_t *job)
{
    return node->up && !node->busy && node->cores >= job->need && s_same_pool(node->pool, job->pool);
}

/* Replace *slot by a copy of pool (NULL or "" clear it). */
static void
s_set_pool(char **slot, const char *pool)
{
    free(*slot);
    *slot = pool && *pool ? ad_strdup(pool) : NULL;
}

int
ad_sched_set_node_pool(ad_sched_t *self, const char *name, const char *pool)
{
    s_node_t *node = s_find_node(self, name);

    if (!node)
        return -ENOENT;
    s_set_pool(&node->pool, pool);
    return 0;
}

int
ad_sched_set_job_pool(ad_sched_t *self, int64_t id, const char *pool)
{
    s_job_t *job = s_find_job(self, id);

    if (!job)
        return -ENOENT;
    s_set_pool(&job->pool, pool);
    return 0;
}

static int
s_cmp_desc(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;

    return (x < y) - (x > y);
}

void
ad_sched_pick_clear(ad_sched_pick_t *pick)
{
    if (!pick)
        return;
    free(pick->nodes);
    memset(pick, 0, sizeof(*pick));
}

/*
 * The free nodes' cores of pool, sorted largest first, in self->scratch:
 * returns how many.  With them a job of n nodes needing c cores fits exactly
 * when the n-th largest is >= c.
 */
static size_t
s_free_cores(ad_sched_t *self, const char *pool)
{
    size_t n_free = 0;

    for (size_t i = 0; i < self->n_nodes; i++)
        if (self->nodes[i]->up && !self->nodes[i]->busy && s_same_pool(self->nodes[i]->pool, pool))
            self->scratch[n_free++] = self->nodes[i]->cores;
    qsort(self->scratch, n_free, sizeof(*self->scratch), s_cmp_desc);
    return n_free;
}

int
ad_sched_next(ad_sched_t *self, ad_sched_pick_t *pick)
{
    size_t n_free = 0;
    const char *pool = NULL;
    bool counted = false;
    s_job_t *job;
    int k = 0;

    assert(self && pick);
    memset(pick, 0, sizeof(*pick));
    /*
     * Each pending job costs O(1) however long the queue (sweeps queue 10^5),
     * as long as it shares its pool with the job before it: the free cores
     * are counted again only when the pool changes (pools are reservations,
     * a handful).
     */
    for (job = self->head; job; job = job->next) {
        if (job->running)
            continue;
        if (!counted || !s_same_pool(pool, job->pool)) {
            pool = job->pool;
            n_free = s_free_cores(self, pool);
            counted = true;
        }
        if ((size_t)job->nodes <= n_free && self->scratch[job->nodes - 1] >= job->need)
            break;
    }
    if (!job)
        return -EAGAIN;

    job->placed = ad_malloc((size_t)job->nodes * sizeof(*job->placed));
    pick->nodes = ad_malloc((size_t)job->nodes * sizeof(*pick->nodes));
    for (size_t i = 0; i < self->n_nodes && k < job->nodes; i++) {
        s_node_t *node = self->nodes[i];
        if (!s_node_free_for(node, job))
            continue;
        node->busy = job;
        job->placed[k] = node;
        pick->nodes[k] = node->name;
        k++;
    }
    assert(k == job->nodes);
    job->running = true;
    pick->job_id = job->id;
    pick->n_nodes = k;
    return 0;
}

/* What ad_sched_status() and ad_sched_reason() both need to know about a pending job. */
typedef struct {
    int up;       /* UP nodes */
    int up_fit;   /* UP nodes with enough cores */
    int free_fit; /* of those, the free ones */
    int largest;  /* most cores of an UP node */
} s_census_t;

static void
s_census(const ad_sched_t *self, const s_job_t *job, s_census_t *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < self->n_nodes; i++) {
        const s_node_t *node = self->nodes[i];
        if (!node->up || !s_same_pool(node->pool, job->pool))
            continue;
        c->up++;
        if (node->cores > c->largest)
            c->largest = node->cores;
        if (node->cores < job->need)
            continue;
        c->up_fit++;
        if (!node->busy)
            c->free_fit++;
    }
}

static ad_sched_status_t
s_status(const ad_sched_t *self, const s_job_t *job, s_census_t *c)
{
    if (job->running)
        return AD_SCHED_RUNNING;
    s_census(self, job, c);
    if (c->free_fit >= job->nodes)
        return AD_SCHED_READY;
    /* A reservation's nodes come when its agents join: its jobs wait for them. */
    if (c->up_fit >= job->nodes || (job->pool && c->up == 0))
        return AD_SCHED_WAIT;
    return AD_SCHED_NEVER;
}

ad_sched_status_t
ad_sched_status(ad_sched_t *self, int64_t id)
{
    s_job_t *job = s_find_job(self, id);
    s_census_t c;

    return job ? s_status(self, job, &c) : AD_SCHED_UNKNOWN;
}

/* Append to self->reason, silently truncated (the buffer is far larger than a list of 8). */
static void
s_say(ad_sched_t *self, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
s_say(ad_sched_t *self, const char *fmt, ...)
{
    size_t len = strlen(self->reason);
    va_list ap;

    if (len + 1 >= sizeof(self->reason))
        return;
    va_start(ap, fmt);
    vsnprintf(self->reason + len, sizeof(self->reason) - len, fmt, ap);
    va_end(ap);
}

/* "waiting for nodes busy with job 12" / "jobs 12, 15": the jobs holding nodes big enough. */
static void
s_say_busy(ad_sched_t *self, const s_job_t *job)
{
    int64_t ids[S_REASON_LIST_MAX];
    int n = 0;
    bool more = false;

    for (size_t i = 0; i < self->n_nodes; i++) {
        const s_node_t *node = self->nodes[i];
        bool seen = false;
        if (!node->up || !node->busy || node->cores < job->need ||
            !s_same_pool(node->pool, job->pool))
            continue;
        for (int j = 0; j < n; j++)
            seen = seen || ids[j] == node->busy->id;
        if (seen)
            continue;
        if (n == S_REASON_LIST_MAX) {
            more = true;
            break;
        }
        ids[n++] = node->busy->id;
    }
    s_say(self, "waiting for nodes busy with job%s ", n > 1 ? "s" : "");
    for (int j = 0; j < n; j++)
        s_say(self, "%s%" PRId64, j ? ", " : "", ids[j]);
    if (more)
        s_say(self, ", ...");
}

const char *
ad_sched_reason(ad_sched_t *self, int64_t id)
{
    s_job_t *job = s_find_job(self, id);
    s_census_t c;
    int listed = 0;

    if (!job)
        return NULL;
    self->reason[0] = '\0';
    switch (s_status(self, job, &c)) {
    case AD_SCHED_RUNNING:
        s_say(self, "running on ");
        for (int i = 0; i < job->nodes; i++)
            s_say(self, "%s%s", i ? ", " : "", job->placed[i]->name);
        break;
    case AD_SCHED_READY:
        s_say(self, "ready to start");
        break;
    case AD_SCHED_WAIT:
        if (c.up == 0)
            s_say(self, "waiting for the nodes of reservation %s (no agent of it is UP)",
                  job->pool);
        else
            s_say_busy(self, job);
        break;
    case AD_SCHED_NEVER:
        if (c.up == 0) {
            s_say(self, "no node is UP");
        } else if (c.up >= job->nodes && c.largest < job->need) {
            s_say(self, "no node has %d cores (largest: %d)", job->need, c.largest);
        } else {
            s_say(self, "needs %d node%s with at least %d free cores%s; %d node%s UP (cores: ",
                  job->nodes, job->nodes > 1 ? "s" : "", job->need,
                  job->nodes > 1 ? " each" : "", c.up, c.up > 1 ? "s are" : " is");
            for (size_t i = 0; i < self->n_nodes; i++) {
                if (!self->nodes[i]->up || !s_same_pool(self->nodes[i]->pool, job->pool))
                    continue;
                if (listed == S_REASON_LIST_MAX) {
                    s_say(self, ", ...");
                    break;
                }
                s_say(self, "%s%d", listed++ ? ", " : "", self->nodes[i]->cores);
            }
            s_say(self, ")");
        }
        break;
    case AD_SCHED_UNKNOWN:
        break;
    }
    return self->reason;
}
