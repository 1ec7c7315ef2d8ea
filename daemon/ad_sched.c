/* ad_sched.c - the coordinator's job queue: FIFO with backfilling that never starves the oldest */
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
/* Pools whose oldest waiting job holds nodes, at most (beyond: theirs backfill freely). */
#define S_HEADS_MAX 32

typedef struct s_job s_job_t;

typedef struct s_node {
    char *name;    /* owned */
    char *pool;    /* the reservation it belongs to (owned), or NULL: the cluster's own */
    bool up;       /* the registry says UP */
    int cores;     /* cores of the node */
    int gpus;      /* GPUs of the node (ad_sched_set_node_gpus()) */
    int known;     /* its cores when last seen with some: a DOWN node may come back */
    s_job_t *busy; /* the job running on it, or NULL when free */
    s_job_t *held; /* free, and kept for this waiting job by the last ad_sched_next(); or NULL */
} s_node_t;

struct s_job {
    int64_t id;        /* the store's job id */
    int nodes;         /* nodes needed */
    int need;          /* cores needed on each node: procs_per_node x threads_per_proc */
    int gpus;          /* GPUs needed on each node (device gpu: one per rank), or 0 */
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
    int *scratch;      /* n_nodes ints for ad_sched_next(): free cores */
    int *up_scratch;   /* n_nodes ints for ad_sched_next(): UP cores */
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
    free(self->up_scratch);
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
    for (size_t i = 0; i < self->n_nodes; i++)
        if (self->nodes[i]->held == job)
            self->nodes[i]->held = NULL;
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
            self->up_scratch = ad_realloc(self->up_scratch, self->cap * sizeof(*self->up_scratch));
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
    if (cores > 0)
        node->known = cores;
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

/* Free for job: UP, idle, big enough, of its pool, and not kept for another waiting job. */
static bool
s_node_free_for(const s_node_t *node, const s_job_t *job)
{
    return node->up && !node->busy && node->cores >= job->need && node->gpus >= job->gpus &&
           s_same_pool(node->pool, job->pool) && (!node->held || node->held == job);
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

int
ad_sched_set_job_gpus(ad_sched_t *self, int64_t id, int gpus)
{
    s_job_t *job = s_find_job(self, id);

    if (!job)
        return -ENOENT;
    job->gpus = gpus > 0 ? gpus : 0;
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
 * The cores of pool's nodes with at least gpus GPUs, sorted largest first: of
 * the free ones not kept for a waiting job in self->scratch (returns how many),
 * of the UP ones in self->up_scratch (*n_up).  With them a job of n nodes
 * needing c cores fits now exactly when the n-th largest free is >= c, and
 * ever when the n-th largest UP is.
 */
static size_t
s_count_cores(ad_sched_t *self, const char *pool, int gpus, size_t *n_up)
{
    size_t n_free = 0;

    *n_up = 0;
    for (size_t i = 0; i < self->n_nodes; i++) {
        const s_node_t *node = self->nodes[i];

        if (!node->up || !s_same_pool(node->pool, pool) || node->gpus < gpus)
            continue;
        self->up_scratch[(*n_up)++] = node->cores;
        if (!node->busy && !node->held)
            self->scratch[n_free++] = node->cores;
    }
    qsort(self->scratch, n_free, sizeof(*self->scratch), s_cmp_desc);
    qsort(self->up_scratch, *n_up, sizeof(*self->up_scratch), s_cmp_desc);
    return n_free;
}

/* Whether a job of nodes nodes needing need cores fits n sorted core counts. */
static bool
s_fits(const int *cores, size_t n, int nodes, int need)
{
    return (size_t)nodes <= n && cores[nodes - 1] >= need;
}

/* Keep for job (the oldest of its pool that waits for busy nodes) the free nodes it can use. */
static void
s_hold(ad_sched_t *self, s_job_t *job)
{
    for (size_t i = 0; i < self->n_nodes; i++)
        if (s_node_free_for(self->nodes[i], job))
            self->nodes[i]->held = job;
}

/* Whether pool is among the n first entries of heads; adds it when not (and room is left). */
static bool
s_head_seen(const char **heads, size_t *n, const char *pool)
{
    for (size_t i = 0; i < *n; i++)
        if (s_same_pool(heads[i], pool))
            return true;
    if (*n < S_HEADS_MAX) {
        heads[(*n)++] = pool;
        return false;
    }
    return true;
}

/*
 * The first pending job that fits the free nodes, holding on the way the
 * free nodes of each pool's oldest job that waits for busy ones (the policy
 * in ad_sched.h); NULL when none.  Each pending job costs O(1) however long
 * the queue (sweeps may queue many), as long as it shares its pool with the
 * job before it: cores are counted again only when the pool changes or
 * nodes are held (pools are reservations, a handful).
 */
static s_job_t *
s_pick(ad_sched_t *self)
{
    const char *heads[S_HEADS_MAX], *pool = NULL;
    size_t n_free = 0, n_up = 0, n_heads = 0;
    bool counted = false;
    int gpus = 0;
    s_job_t *job;

    for (size_t i = 0; i < self->n_nodes; i++)
        self->nodes[i]->held = NULL;
    for (job = self->head; job; job = job->next) {
        if (job->running)
            continue;
        if (!counted || !s_same_pool(pool, job->pool) || gpus != job->gpus) {
            pool = job->pool;
            gpus = job->gpus;
            n_free = s_count_cores(self, pool, gpus, &n_up);
            counted = true;
        }
        if (s_fits(self->scratch, n_free, job->nodes, job->need))
            return job;
        /* One that can never start holds nothing: it blocks nobody. */
        if (!s_fits(self->up_scratch, n_up, job->nodes, job->need) ||
            s_head_seen(heads, &n_heads, job->pool))
            continue;
        s_hold(self, job);
        n_free = s_count_cores(self, pool, gpus, &n_up);
    }
    return NULL;
}

int
ad_sched_next(ad_sched_t *self, ad_sched_pick_t *pick)
{
    s_job_t *job;
    int k = 0;

    assert(self && pick);
    memset(pick, 0, sizeof(*pick));
    job = s_pick(self);
    if (!job)
        return -EAGAIN;
    job->placed = ad_malloc((size_t)job->nodes * sizeof(*job->placed));
    pick->nodes = ad_malloc((size_t)job->nodes * sizeof(*pick->nodes));
    for (size_t i = 0; i < self->n_nodes && k < job->nodes; i++) {
        s_node_t *node = self->nodes[i];
        if (!s_node_free_for(node, job))
            continue;
        node->busy = job;
        node->held = NULL;
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
        if (node->cores < job->need || node->gpus < job->gpus)
            continue;
        c->up_fit++;
        if (!node->busy && (!node->held || node->held == job))
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

/*
 * "waiting for nodes busy with job 12" / "jobs 12, 15": the jobs running on
 * nodes big enough; then ", and for job 9 (older), which holds n3, n4" when
 * free ones are kept for an older job.
 */
static void
s_say_busy(ad_sched_t *self, const s_job_t *job)
{
    int64_t ids[S_REASON_LIST_MAX];
    const s_job_t *holder = NULL;
    int n = 0, listed = 0;
    bool more = false;

    for (size_t i = 0; i < self->n_nodes; i++) {
        const s_node_t *node = self->nodes[i];
        bool seen = false;
        if (!node->up || node->cores < job->need || node->gpus < job->gpus ||
            !s_same_pool(node->pool, job->pool))
            continue;
        if (!node->busy && node->held && node->held != job)
            holder = node->held;
        if (!node->busy)
            continue;
        for (int j = 0; j < n; j++)
            seen = seen || ids[j] == node->busy->id;
        if (seen)
            continue;
        if (n == S_REASON_LIST_MAX) {
            more = true;
            continue;
        }
        ids[n++] = node->busy->id;
    }
    if (n) {
        s_say(self, "waiting for nodes busy with job%s ", n > 1 ? "s" : "");
        for (int j = 0; j < n; j++)
            s_say(self, "%s%" PRId64, j ? ", " : "", ids[j]);
        if (more)
            s_say(self, ", ...");
    }
    if (!holder)
        return;
    s_say(self, "%swaiting behind job %" PRId64 " (older), which holds ", n ? ", and " : "",
          holder->id);
    for (size_t i = 0; i < self->n_nodes; i++) {
        if (self->nodes[i]->held != holder || self->nodes[i]->busy)
            continue;
        if (listed == S_REASON_LIST_MAX) {
            s_say(self, ", ...");
            break;
        }
        s_say(self, "%s%s", listed++ ? ", " : "", self->nodes[i]->name);
    }
    s_say(self, " until it can start");
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
        } else if (job->gpus > 0) {
            s_say(self, "needs %d node%s with at least %d cores and %d GPUs; %d of the %d UP "
                  "have them",
                  job->nodes, job->nodes > 1 ? "s" : "", job->need, job->gpus, c.up_fit, c.up);
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

int
ad_sched_set_node_gpus(ad_sched_t *self, const char *name, int gpus)
{
    s_node_t *node = s_find_node(self, name);

    if (!node)
        return -ENOENT;
    node->gpus = gpus > 0 ? gpus : 0;
    return 0;
}

/* Append to buf (size cap, holding a string), silently truncated. */
static void s_append(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
s_append(char *buf, size_t cap, const char *fmt, ...)
{
    size_t len = strlen(buf);
    va_list ap;

    if (len + 1 >= cap)
        return;
    va_start(ap, fmt);
    vsnprintf(buf + len, cap - len, fmt, ap);
    va_end(ap);
}

/* What ad_sched_check() learns of the nodes of a pool: UP, or DOWN with known cores. */
typedef struct {
    int up;                     /* UP nodes */
    const s_node_t *most_cores; /* the first with the most cores */
    const s_node_t *most_gpus;  /* the first with the most GPUs */
    int fit;                    /* nodes with enough cores and GPUs */
} s_fit_t;

/* The cores node has or had: a DOWN node (cores 0) may come back with its known ones. */
static int
s_cores_known(const s_node_t *node)
{
    return node->up ? node->cores : node->known;
}

/* Whether node counts for feasibility in pool: UP, or DOWN after being seen with cores. */
static bool
s_exists_in(const s_node_t *node, const char *pool)
{
    return (node->up || node->known > 0) && s_same_pool(node->pool, pool);
}

static void
s_fit_census(const ad_sched_t *self, const ad_sched_need_t *need, int cores, s_fit_t *f)
{
    memset(f, 0, sizeof(*f));
    for (size_t i = 0; i < self->n_nodes; i++) {
        const s_node_t *node = self->nodes[i];

        if (!s_exists_in(node, need->pool))
            continue;
        f->up += node->up;
        if (!f->most_cores || s_cores_known(node) > s_cores_known(f->most_cores))
            f->most_cores = node;
        if (!f->most_gpus || node->gpus > f->most_gpus->gpus)
            f->most_gpus = node;
        if (s_cores_known(node) >= cores && node->gpus >= need->gpus_per_node)
            f->fit++;
    }
}

/* "n1, n2": the nodes of the pool that fit, at most S_REASON_LIST_MAX. */
static void
s_list_fit(const ad_sched_t *self, const ad_sched_need_t *need, int cores, char *buf, size_t cap)
{
    int listed = 0;

    for (size_t i = 0; i < self->n_nodes; i++) {
        const s_node_t *node = self->nodes[i];

        if (!s_exists_in(node, need->pool) || s_cores_known(node) < cores ||
            node->gpus < need->gpus_per_node)
            continue;
        if (listed == S_REASON_LIST_MAX) {
            s_append(buf, cap, ", ...");
            return;
        }
        s_append(buf, cap, "%s%s%s", listed++ ? ", " : "", node->name, node->up ? "" : " DOWN");
    }
}

ad_sched_status_t
ad_sched_check(ad_sched_t *self, const ad_sched_need_t *need, char *reason, size_t cap)
{
    int cores;
    s_fit_t f;

    assert(self && need && reason && cap);
    reason[0] = '\0';
    if (need->nodes < 1 || need->procs_per_node < 1 || need->threads_per_proc < 1 ||
        need->procs_per_node > INT_MAX / need->threads_per_proc) {
        snprintf(reason, cap, "nodes, procs_per_node and threads_per_proc must be >= 1");
        return AD_SCHED_NEVER;
    }
    /*
     * A reservation's nodes are the batch system's answer to what autodist asked for this
     * job; its agents join one by one: wait for them.
     */
    if (need->pool && *need->pool)
        return AD_SCHED_WAIT;
    cores = need->procs_per_node * need->threads_per_proc;
    s_fit_census(self, need, cores, &f);
    if (f.up == 0) {
        /* Every node DOWN, or none ever joined: either way nothing runs until one starts. */
        snprintf(reason, cap,
                 "no node is up (%s): start one with `autodist up` (this machine) or "
                 "`autodist-agent --coordinator ENDPOINT` on each node",
                 f.most_cores ? "every node known is DOWN" : "no agent has joined");
        return AD_SCHED_NEVER;
    }
    if (s_cores_known(f.most_cores) < cores) {
        snprintf(reason, cap,
                 "procs_per_node x threads_per_proc = %d cores per node, but the largest node "
                 "has %d (%s)",
                 cores, s_cores_known(f.most_cores), f.most_cores->name);
        return AD_SCHED_NEVER;
    }
    if (f.most_gpus->gpus < need->gpus_per_node) {
        snprintf(reason, cap,
                 "device gpu runs one rank per GPU: procs_per_node = %d GPUs per node, but the "
                 "node with the most has %d (%s)",
                 need->gpus_per_node, f.most_gpus->gpus, f.most_gpus->name);
        return AD_SCHED_NEVER;
    }
    if (f.fit == 0) {
        snprintf(reason, cap, "no node has both %d cores and %d GPUs", cores, need->gpus_per_node);
        return AD_SCHED_NEVER;
    }
    if (f.fit < need->nodes) {
        snprintf(reason, cap, "nodes = %d, but only %d node%s ha%s %d core%s%s (", need->nodes,
                 f.fit, f.fit == 1 ? "" : "s", f.fit == 1 ? "s" : "ve", cores,
                 cores == 1 ? "" : "s", need->gpus_per_node ? " and enough GPUs" : "");
        s_list_fit(self, need, cores, reason, cap);
        s_append(reason, cap, ")");
        return AD_SCHED_NEVER;
    }
    return AD_SCHED_WAIT;
}
