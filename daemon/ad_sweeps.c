/* ad_sweeps.c - the coordinator's sweeps: lazy dispatch by job index, resume by config hash */
#include "autodist/ad_sweeps.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* State of one job index of a sweep (one byte each). */
enum {
    S_TODO = 0,  /* still to run */
    S_QUEUED,    /* in the coordinator's queue */
    S_RUNNING,   /* running */
    S_COMPLETED, /* COMPLETED, now or before */
    S_FAILED,    /* FAILED, TIMEOUT or NODE_FAIL, now or before */
    S_CANCELLED, /* cancelled now (a rerun runs it again) */
    S_SKIPPED,   /* its configuration fits no node: not run (a rerun checks it again) */
    S_NSTATES
};

/* How many failed job ids a sweep remembers for its status. */
#define S_FAILED_KEEP 10
/* Most jobs of a sweep parked at once (ad_sweeps_park()); more count towards the limit. */
#define S_PARKED_MAX 64
/* How many skipped configurations a sweep lists in its status (all are counted). */
#define S_SKIPPED_KEEP 50

/* A configuration skipped because it fits no node. */
typedef struct {
    int64_t config; /* its index */
    char *layout;   /* "NxPxT" (owned) */
    char *reason;   /* why (owned) */
} s_skip_t;

/* A job of a sweep that is queued or running. */
typedef struct {
    int64_t job;   /* job id; 0 between ad_sweeps_next() and ad_sweeps_queued() */
    int64_t index; /* its index in the sweep */
    bool parked;   /* queued to wait for nodes that are not there (--hold): off the limit */
} s_live_t;

/* A prior job while the sweep is being resolved. */
typedef struct {
    uint64_t hash;         /* configuration hash */
    int64_t job;           /* job id */
    ad_sweeps_job_t state; /* how it stands (kept up to date while resolving) */
    double duration_s;     /* NaN = unknown */
    bool used;             /* given a slot */
} s_prior_t;

typedef struct s_sweep {
    int64_t id;               /* store id */
    char *name;               /* borrowed from spec */
    char file_hash[17];       /* the sweep hash */
    ad_sweep_t *spec;         /* the loaded sweep, owned */
    int64_t n, configs;       /* jobs, configurations */
    int repeats;              /* n / configs */
    uint8_t *st;              /* n states S_* */
    int64_t count[S_NSTATES]; /* jobs in each state */
    int64_t before_completed; /* COMPLETED jobs found in the store at open */
    int64_t before_failed;    /* failed jobs found in the store at open */
    int64_t retried;          /* failed jobs put back to run */
    int64_t cursor;           /* no S_TODO below this index */
    s_live_t *live;           /* queued and running jobs */
    size_t n_live, cap_live;
    s_prior_t *prior; /* prior jobs, sorted by (hash, rank, job), until resolved */
    size_t n_prior;
    uint64_t *cfg_hash; /* configuration hashes, while resolving */
    int64_t hashed;     /* configurations hashed so far */
    bool resolving;     /* prior jobs not yet matched to configurations */
    ad_sweeps_state_t state;
    bool dirty;                         /* state or options changed: the store must know */
    char *owner;                        /* who submitted it; NULL = none */
    int max_parallel;                   /* 0 = auto */
    int limit;                          /* the limit last applied */
    bool retry_failed;                  /* failed prior jobs run again */
    double t_open, t_end;               /* monotonic s: opened; done or cancelled (0 = not yet) */
    double sum_s;                       /* durations of the jobs that ended after running */
    int64_t n_s;                        /* how many */
    int64_t failed_jobs[S_FAILED_KEEP]; /* ring of failed job ids */
    int n_failed_jobs;                  /* how many were ever put in the ring */
    bool hold;                          /* configurations that fit no node are queued anyway */
    int64_t n_parked;                   /* live jobs parked: not counted in the limit */
    s_skip_t skips[S_SKIPPED_KEEP];     /* the first configurations skipped */
    int64_t n_skipped_configs;          /* how many configurations were skipped */
    struct s_sweep *next;
} s_sweep_t;

struct ad_sweeps {
    s_sweep_t *head; /* by id, ascending */
};

/* ---- small helpers ------------------------------------------------------------------------ */

ad_sweeps_job_t
ad_sweeps_job_from_state(const char *state)
{
    if (!state)
        return AD_SWEEPS_JOB_FAILED;
    if (!strcmp(state, "PENDING"))
        return AD_SWEEPS_JOB_QUEUED;
    if (!strcmp(state, "RUNNING"))
        return AD_SWEEPS_JOB_RUNNING;
    if (!strcmp(state, "COMPLETED"))
        return AD_SWEEPS_JOB_COMPLETED;
    if (!strcmp(state, "CANCELLED"))
        return AD_SWEEPS_JOB_CANCELLED;
    return AD_SWEEPS_JOB_FAILED;
}

const char *
ad_sweeps_state_name(ad_sweeps_state_t state)
{
    static const char *const names[] = {"RUNNING", "DONE", "CANCELLED", "STOPPED"};

    if ((int)state < 0 || (size_t)state >= sizeof(names) / sizeof(names[0]))
        return "UNKNOWN";
    return names[state];
}

/* A 16-hex-digit hash as a number; false for anything else. */
static bool
s_parse_hash(const char *s, uint64_t *out)
{
    uint64_t v = 0;

    if (!s)
        return false;
    for (int i = 0; i < 16; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;

        if (d < 0)
            return false;
        v = v << 4 | (uint64_t)d;
    }
    if (s[16])
        return false;
    *out = v;
    return true;
}

/* Move index i of s to state to, keeping the counts. */
static void
s_set(s_sweep_t *s, int64_t i, int to)
{
    s->count[s->st[i]]--;
    s->st[i] = (uint8_t)to;
    s->count[to]++;
    if (to == S_TODO && i < s->cursor)
        s->cursor = i;
}

static void
s_live_add(s_sweep_t *s, int64_t job, int64_t index)
{
    if (s->n_live == s->cap_live) {
        s->cap_live = s->cap_live ? 2 * s->cap_live : 8;
        s->live = ad_realloc(s->live, s->cap_live * sizeof(*s->live));
    }
    s->live[s->n_live++] = (s_live_t){job, index, false};
}

static void
s_live_drop(s_sweep_t *s, size_t k)
{
    if (s->live[k].parked)
        s->n_parked--;
    s->live[k] = s->live[--s->n_live];
}

static void
s_failed_note(s_sweep_t *s, int64_t job)
{
    if (job > 0)
        s->failed_jobs[s->n_failed_jobs++ % S_FAILED_KEEP] = job;
}

static void
s_duration_note(s_sweep_t *s, double d)
{
    if (!isnan(d) && d >= 0) {
        s->sum_s += d;
        s->n_s++;
    }
}

/* A RUNNING sweep with nothing to run or wait for is DONE. */
static void
s_settle(s_sweep_t *s, double now)
{
    if (s->state == AD_SWEEPS_RUNNING && !s->resolving && s->count[S_TODO] == 0 &&
        s->count[S_QUEUED] == 0 && s->count[S_RUNNING] == 0) {
        s->state = AD_SWEEPS_DONE;
        s->dirty = true;
        s->t_end = now;
    }
}

static void
s_sweep_free(s_sweep_t *s)
{
    for (int64_t k = 0; k < s->n_skipped_configs && k < S_SKIPPED_KEEP; k++) {
        free(s->skips[k].layout);
        free(s->skips[k].reason);
    }
    ad_sweep_free(&s->spec);
    free(s->owner);
    free(s->st);
    free(s->live);
    free(s->prior);
    free(s->cfg_hash);
    free(s);
}

static s_sweep_t *
s_find(const ad_sweeps_t *self, const char *name)
{
    for (s_sweep_t *s = self->head; s; s = s->next)
        if (!strcmp(s->name, name))
            return s;
    return NULL;
}

/* ---- life cycle ------------------------------------------------------------------------- */

ad_sweeps_t *
ad_sweeps_new(void)
{
    return ad_calloc(1, sizeof(ad_sweeps_t));
}

void
ad_sweeps_free(ad_sweeps_t **self_p)
{
    ad_sweeps_t *self = self_p ? *self_p : NULL;

    if (!self)
        return;
    while (self->head) {
        s_sweep_t *s = self->head;

        self->head = s->next;
        s_sweep_free(s);
    }
    free(self);
    *self_p = NULL;
}

/* Order of prior jobs: by hash, then COMPLETED, live, FAILED (how they fill repeats), then id. */
static int
s_rank(ad_sweeps_job_t st)
{
    switch (st) {
    case AD_SWEEPS_JOB_COMPLETED:
        return 0;
    case AD_SWEEPS_JOB_QUEUED:
    case AD_SWEEPS_JOB_RUNNING:
        return 1;
    default:
        return 2;
    }
}

static int
s_cmp_prior(const void *a, const void *b)
{
    const s_prior_t *x = a, *y = b;

    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    if (s_rank(x->state) != s_rank(y->state))
        return s_rank(x->state) - s_rank(y->state);
    return x->job < y->job ? -1 : x->job > y->job;
}

void
ad_sweeps_open(ad_sweeps_t *self, int64_t id, const char *file_hash, ad_sweep_t **spec_p,
               const ad_sweeps_prior_t *prior, size_t n, const ad_sweeps_opts_t *opts, double now)
{
    s_sweep_t *s = ad_calloc(1, sizeof(*s)), **pp;

    assert(self && spec_p && *spec_p && opts);
    s->id = id;
    s->spec = *spec_p;
    *spec_p = NULL;
    s->name = (char *)ad_sweep_name(s->spec);
    snprintf(s->file_hash, sizeof(s->file_hash), "%s", file_hash ? file_hash : "");
    s->n = ad_sweep_count(s->spec);
    s->configs = ad_sweep_configs(s->spec);
    s->repeats = (int)(s->n / s->configs);
    s->st = ad_calloc((size_t)s->n, 1);
    s->count[S_TODO] = s->n;
    s->state = opts->dispatch ? AD_SWEEPS_RUNNING : AD_SWEEPS_STOPPED;
    s->dirty = opts->dispatch;
    s->owner = opts->owner ? ad_strdup(opts->owner) : NULL;
    s->max_parallel = opts->max_parallel > 0 ? opts->max_parallel : 0;
    s->retry_failed = opts->retry_failed;
    s->t_open = now;
    s->prior = ad_calloc(n ? n : 1, sizeof(*s->prior));
    for (size_t i = 0; i < n; i++) {
        s_prior_t *p = &s->prior[s->n_prior];

        /* A CANCELLED job fills no repeat: it runs again. */
        if (prior[i].state == AD_SWEEPS_JOB_CANCELLED ||
            !s_parse_hash(prior[i].config_hash, &p->hash))
            continue;
        p->job = prior[i].job;
        p->state = prior[i].state;
        p->duration_s = prior[i].duration_s;
        s->n_prior++;
    }
    if (s->n_prior) {
        qsort(s->prior, s->n_prior, sizeof(*s->prior), s_cmp_prior);
        s->cfg_hash = ad_malloc((size_t)s->configs * sizeof(*s->cfg_hash));
        s->resolving = true;
    } else {
        free(s->prior);
        s->prior = NULL;
    }
    /* Replace a sweep of the same name; keep the list ordered by id. */
    for (pp = &self->head; *pp; pp = &(*pp)->next)
        if (!strcmp((*pp)->name, s->name)) {
            s_sweep_t *old = *pp;

            *pp = old->next;
            s_sweep_free(old);
            break;
        }
    for (pp = &self->head; *pp && (*pp)->id < id; pp = &(*pp)->next)
        ;
    s->next = *pp;
    *pp = s;
    s_settle(s, now);
}

bool
ad_sweeps_has(const ad_sweeps_t *self, const char *name)
{
    return s_find(self, name) != NULL;
}

bool
ad_sweeps_running(const ad_sweeps_t *self, const char *name)
{
    const s_sweep_t *s = s_find(self, name);

    return s && s->state == AD_SWEEPS_RUNNING;
}

const char *
ad_sweeps_owner(const ad_sweeps_t *self, const char *name)
{
    const s_sweep_t *s = s_find(self, name);

    return s ? s->owner : NULL;
}

const char *
ad_sweeps_file_hash(const ad_sweeps_t *self, const char *name)
{
    const s_sweep_t *s = s_find(self, name);

    return s ? s->file_hash : NULL;
}

/* Put the FAILED jobs of s back to run. */
static void
s_retry(s_sweep_t *s)
{
    if (s->count[S_FAILED] == 0)
        return;
    for (int64_t i = 0; i < s->n; i++)
        if (s->st[i] == S_FAILED) {
            s_set(s, i, S_TODO);
            s->retried++;
        }
}

int
ad_sweeps_update(ad_sweeps_t *self, const char *name, const ad_sweeps_opts_t *opts)
{
    s_sweep_t *s = s_find(self, name);

    if (!s || s->state != AD_SWEEPS_RUNNING)
        return -ENOENT;
    if (opts->max_parallel > 0)
        s->max_parallel = opts->max_parallel;
    s->dirty = true;
    if (opts->retry_failed) {
        s->retry_failed = true;
        if (!s->resolving)
            s_retry(s);
    }
    return 0;
}

/* ---- resuming ---------------------------------------------------------------------------- */

/* Give the prior jobs of configuration c their repeats. */
static void
s_assign(s_sweep_t *s, int64_t c)
{
    s_prior_t key = {.hash = s->cfg_hash[c]};
    size_t lo = 0, hi = s->n_prior;
    int r = 0;

    /* The first prior job with this hash (the array is sorted by hash first). */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (s->prior[mid].hash < key.hash)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t k = lo; k < s->n_prior && s->prior[k].hash == key.hash && r < s->repeats; k++) {
        s_prior_t *p = &s->prior[k];
        int64_t i = c + (int64_t)r * s->configs;

        if (p->used)
            continue;
        p->used = true;
        r++;
        switch (p->state) {
        case AD_SWEEPS_JOB_COMPLETED:
            s_set(s, i, S_COMPLETED);
            s->before_completed++;
            s_duration_note(s, p->duration_s);
            break;
        case AD_SWEEPS_JOB_QUEUED:
        case AD_SWEEPS_JOB_RUNNING:
            s_set(s, i, p->state == AD_SWEEPS_JOB_RUNNING ? S_RUNNING : S_QUEUED);
            s_live_add(s, p->job, i);
            break;
        default:
            s->before_failed++;
            s_failed_note(s, p->job);
            if (s->retry_failed) {
                s->retried++;
            } else {
                s_set(s, i, S_FAILED);
                s_duration_note(s, p->duration_s);
            }
            break;
        }
    }
}

bool
ad_sweeps_resolve(ad_sweeps_t *self, int64_t budget, double now)
{
    bool more = false;

    for (s_sweep_t *s = self->head; s; s = s->next) {
        if (!s->resolving)
            continue;
        while (s->hashed < s->configs && budget > 0) {
            char hash[17];

            ad_sweep_config_hash(s->spec, s->hashed, hash);
            s_parse_hash(hash, &s->cfg_hash[s->hashed]);
            s->hashed++;
            budget--;
        }
        if (s->hashed < s->configs) {
            more = true;
            continue;
        }
        for (int64_t c = 0; c < s->configs; c++)
            s_assign(s, c);
        free(s->prior);
        s->prior = NULL;
        s->n_prior = 0;
        free(s->cfg_hash);
        s->cfg_hash = NULL;
        s->resolving = false;
        s_settle(s, now);
    }
    return more;
}

/* ---- dispatch ------------------------------------------------------------------------------ */

static int
s_limit(const s_sweep_t *s, int auto_parallel)
{
    int limit = s->max_parallel > 0 ? s->max_parallel : auto_parallel;

    return limit > 0 ? limit : 1;
}

int
ad_sweeps_next(ad_sweeps_t *self, int auto_parallel, ad_sweeps_pick_t *pick)
{
    memset(pick, 0, sizeof(*pick));
    for (s_sweep_t *s = self->head; s; s = s->next) {
        ad_err_t err = {0};

        if (s->state != AD_SWEEPS_RUNNING || s->resolving)
            continue;
        s->limit = s_limit(s, auto_parallel);
        if (s->count[S_QUEUED] + s->count[S_RUNNING] - s->n_parked >= s->limit ||
            s->count[S_TODO] == 0)
            continue;
        while (s->cursor < s->n && s->st[s->cursor] != S_TODO)
            s->cursor++;
        assert(s->cursor < s->n);
        pick->sweep = s->id;
        pick->owner = s->owner;
        pick->index = s->cursor;
        s_set(s, s->cursor, S_QUEUED);
        s_live_add(s, 0, s->cursor);
        if (ad_sweep_job(s->spec, s->cursor, &pick->job, NULL, &err)) {
            /* Loading checked every configuration: this is a changed rule, not a user error. */
            ad_sweeps_queued(self, pick, 0);
            memset(pick, 0, sizeof(*pick));
            continue;
        }
        ad_job_hash(&pick->job, pick->config_hash);
        return 0;
    }
    return -EAGAIN;
}

void
ad_sweeps_queued(ad_sweeps_t *self, const ad_sweeps_pick_t *pick, int64_t job)
{
    for (s_sweep_t *s = self->head; s; s = s->next) {
        if (s->id != pick->sweep)
            continue;
        for (size_t k = 0; k < s->n_live; k++) {
            if (s->live[k].job != 0 || s->live[k].index != pick->index)
                continue;
            if (job > 0) {
                s->live[k].job = job;
            } else {
                s_live_drop(s, k);
                s_set(s, pick->index, S_FAILED);
            }
            return;
        }
    }
}

void
ad_sweeps_pick_clear(ad_sweeps_pick_t *pick)
{
    if (!pick)
        return;
    ad_job_clear(&pick->job);
    memset(pick, 0, sizeof(*pick));
}

static s_sweep_t *
s_find_id(const ad_sweeps_t *self, int64_t id)
{
    for (s_sweep_t *s = self->head; s; s = s->next)
        if (s->id == id)
            return s;
    return NULL;
}

/* Skip every repeat of configuration c of s still to run (job: its layout); why says why. */
static void
s_skip_config(s_sweep_t *s, int64_t c, const ad_job_t *job, const char *why)
{
    char lay[64];

    for (int64_t i = c; i < s->n; i += s->configs)
        if (s->st[i] == S_TODO)
            s_set(s, i, S_SKIPPED);
    if (s->n_skipped_configs < S_SKIPPED_KEEP) {
        s_skip_t *k = &s->skips[s->n_skipped_configs];

        snprintf(lay, sizeof(lay), "%dx%dx%d", job->layout.nodes, job->layout.procs_per_node,
                 job->layout.threads_per_proc);
        k->config = c;
        k->layout = ad_strdup(lay);
        k->reason = ad_strdup(why ? why : "it fits no node");
    }
    s->n_skipped_configs++;
}

void
ad_sweeps_skip(ad_sweeps_t *self, const ad_sweeps_pick_t *pick, const char *why, double now)
{
    s_sweep_t *s = s_find_id(self, pick->sweep);

    if (!s)
        return;
    for (size_t k = 0; k < s->n_live; k++)
        if (s->live[k].job == 0 && s->live[k].index == pick->index) {
            s_live_drop(s, k);
            s_set(s, pick->index, S_TODO);
            break;
        }
    s_skip_config(s, pick->index % s->configs, &pick->job, why);
    s_settle(s, now);
}

int64_t
ad_sweeps_check(ad_sweeps_t *self, const char *name, int64_t max_configs, ad_sweeps_check_fn *fn,
                void *arg, double now)
{
    s_sweep_t *s = s_find(self, name);
    int64_t skipped = 0;
    char why[600];

    if (!s || s->hold)
        return 0;
    for (int64_t c = 0; c < s->configs && c < max_configs; c++) {
        ad_job_t job = {0};
        bool todo = false;

        for (int64_t i = c; i < s->n && !todo; i += s->configs)
            todo = s->st[i] == S_TODO;
        if (!todo || ad_sweep_job(s->spec, c, &job, NULL, NULL))
            continue;
        why[0] = '\0';
        if (fn(&job, why, sizeof(why), arg)) {
            s_skip_config(s, c, &job, why);
            skipped++;
        }
        ad_job_clear(&job);
    }
    s_settle(s, now);
    return skipped;
}

void
ad_sweeps_set_hold(ad_sweeps_t *self, const char *name, bool hold)
{
    s_sweep_t *s = s_find(self, name);

    if (s)
        s->hold = hold;
}

bool
ad_sweeps_held(const ad_sweeps_t *self, int64_t sweep)
{
    const s_sweep_t *s = s_find_id(self, sweep);

    return s && s->hold;
}

/* The live entry of job: its sweep and position; false when no sweep has it. */
static bool
s_live_find(const ad_sweeps_t *self, int64_t job, s_sweep_t **sp, size_t *kp)
{
    for (s_sweep_t *s = self->head; s; s = s->next)
        for (size_t k = 0; k < s->n_live; k++)
            if (s->live[k].job == job) {
                *sp = s;
                *kp = k;
                return true;
            }
    return false;
}

/* The prior entry of job in a sweep still resolving, or NULL. */
static s_prior_t *
s_prior_find(const ad_sweeps_t *self, int64_t job)
{
    for (s_sweep_t *s = self->head; s; s = s->next)
        for (size_t k = 0; s->resolving && k < s->n_prior; k++)
            if (s->prior[k].job == job)
                return &s->prior[k];
    return NULL;
}

/* A live job of a sweep moves from one S_* state to another (prior jobs: to prior_state). */
static bool
s_move(ad_sweeps_t *self, int64_t job, int from, int to, ad_sweeps_job_t prior_state)
{
    s_sweep_t *s;
    s_prior_t *p;
    size_t k;

    if (job <= 0)
        return false;
    if (s_live_find(self, job, &s, &k)) {
        if (s->st[s->live[k].index] == from)
            s_set(s, s->live[k].index, to);
        return true;
    }
    p = s_prior_find(self, job);
    if (p)
        p->state = prior_state;
    return p != NULL;
}

bool
ad_sweeps_started(ad_sweeps_t *self, int64_t job)
{
    s_sweep_t *s;
    size_t k;

    /* A parked job that starts (its nodes came) counts again. */
    if (job > 0 && s_live_find(self, job, &s, &k) && s->live[k].parked) {
        s->live[k].parked = false;
        s->n_parked--;
    }
    return s_move(self, job, S_QUEUED, S_RUNNING, AD_SWEEPS_JOB_RUNNING);
}

bool
ad_sweeps_park(ad_sweeps_t *self, int64_t job)
{
    s_sweep_t *s;
    size_t k;

    if (job <= 0 || !s_live_find(self, job, &s, &k) || s->live[k].parked ||
        s->st[s->live[k].index] != S_QUEUED || s->n_parked >= S_PARKED_MAX)
        return false;
    s->live[k].parked = true;
    s->n_parked++;
    return true;
}

bool
ad_sweeps_requeued(ad_sweeps_t *self, int64_t job)
{
    return s_move(self, job, S_RUNNING, S_QUEUED, AD_SWEEPS_JOB_QUEUED);
}

bool
ad_sweeps_ended(ad_sweeps_t *self, int64_t job, ad_sweeps_job_t outcome, double duration_s,
                double now)
{
    s_sweep_t *s;
    s_prior_t *p;
    size_t k;
    int to;

    if (job <= 0)
        return false;
    if (!s_live_find(self, job, &s, &k)) {
        p = s_prior_find(self, job);
        if (!p)
            return false;
        /* Resorting is not needed: a prior job's rank only matters among its own hash. */
        p->state = outcome;
        p->duration_s = duration_s;
        return true;
    }
    switch (outcome) {
    case AD_SWEEPS_JOB_COMPLETED:
        to = S_COMPLETED;
        break;
    case AD_SWEEPS_JOB_CANCELLED:
        to = S_CANCELLED;
        break;
    default:
        to = S_FAILED;
        s_failed_note(s, job);
        break;
    }
    if (outcome != AD_SWEEPS_JOB_CANCELLED)
        s_duration_note(s, duration_s);
    s_set(s, s->live[k].index, to);
    s_live_drop(s, k);
    s_settle(s, now);
    return true;
}

int
ad_sweeps_cancel(ad_sweeps_t *self, const char *name, double now)
{
    s_sweep_t *s = s_find(self, name);

    if (!s)
        return -ENOENT;
    if (s->state == AD_SWEEPS_RUNNING || s->state == AD_SWEEPS_STOPPED) {
        s->state = AD_SWEEPS_CANCELLED;
        s->dirty = true;
        s->t_end = now;
    }
    return 0;
}

void
ad_sweeps_each_changed(ad_sweeps_t *self, ad_sweeps_changed_fn *fn, void *arg)
{
    for (s_sweep_t *s = self->head; s; s = s->next) {
        if (!s->dirty)
            continue;
        s->dirty = false;
        fn(s->id, ad_sweeps_state_name(s->state), s->max_parallel, s->retry_failed, s->owner, arg);
    }
}

/* ---- status --------------------------------------------------------------------------------- */

static json_t *
s_json(const s_sweep_t *s, double now)
{
    int64_t remaining = s->count[S_TODO] + s->count[S_QUEUED] + s->count[S_RUNNING];
    double mean = s->n_s ? s->sum_s / (double)s->n_s : NAN;
    double end = s->t_end > 0 ? s->t_end : now;
    json_t *o, *failed = json_array(), *live = json_array(), *eta = json_null();
    json_t *skipped = json_array();
    int nf = s->n_failed_jobs < S_FAILED_KEEP ? s->n_failed_jobs : S_FAILED_KEEP;

    for (int i = 0; i < nf; i++)
        json_array_append_new(
            failed, json_integer(s->failed_jobs[(s->n_failed_jobs - nf + i) % S_FAILED_KEEP]));
    for (size_t k = 0; k < s->n_live; k++)
        if (s->live[k].job > 0)
            json_array_append_new(live, json_integer(s->live[k].job));
    for (int64_t k = 0; k < s->n_skipped_configs && k < S_SKIPPED_KEEP; k++)
        json_array_append_new(skipped, json_pack("{s:I s:s s:s}", "config",
                                                 (json_int_t)s->skips[k].config, "layout",
                                                 s->skips[k].layout, "reason", s->skips[k].reason));
    if (s->state == AD_SWEEPS_RUNNING && !s->resolving) {
        if (remaining == 0) {
            json_decref(eta);
            eta = json_real(0);
        } else if (s->n_s) {
            int64_t par = s->count[S_RUNNING] > 0 ? s->count[S_RUNNING] : s->limit;

            json_decref(eta);
            eta = json_real(mean * (double)remaining / (double)(par > 0 ? par : 1));
        }
    }
    o = json_pack(
        "{s:I s:s s:s s:s s:b s:f s:I s:I s:i s:o s:i s:I s:I s:I s:I s:I s:I s:I"
        " s:{s:I s:I} s:I s:o s:o s:f s:o s:o}",
        "id", (json_int_t)s->id, "name", s->name, "file_hash", s->file_hash, "state",
        ad_sweeps_state_name(s->state), "resolving", s->resolving, "checked",
        s->resolving ? (double)s->hashed / (double)s->configs : 1.0, "total", (json_int_t)s->n,
        "configs", (json_int_t)s->configs, "repeats", s->repeats, "max_parallel",
        s->max_parallel > 0 ? json_integer(s->max_parallel) : json_null(), "parallel", s->limit,
        "completed", (json_int_t)s->count[S_COMPLETED], "failed", (json_int_t)s->count[S_FAILED],
        "cancelled", (json_int_t)s->count[S_CANCELLED], "running", (json_int_t)s->count[S_RUNNING],
        "queued", (json_int_t)s->count[S_QUEUED], "todo", (json_int_t)s->count[S_TODO], "pending",
        (json_int_t)(s->count[S_TODO] + s->count[S_QUEUED]), "before", "completed",
        (json_int_t)s->before_completed, "failed", (json_int_t)s->before_failed, "retried",
        (json_int_t)s->retried, "mean_job_s", isnan(mean) ? json_null() : json_real(mean), "eta_s",
        eta, "elapsed_s", end - s->t_open, "failed_jobs", failed, "live_jobs", live);
    if (!o)
        ad_oom(0);
    json_object_set_new(o, "skipped", json_integer((json_int_t)s->count[S_SKIPPED]));
    json_object_set_new(o, "skipped_configs_total", json_integer((json_int_t)s->n_skipped_configs));
    json_object_set_new(o, "skipped_configs", skipped);
    json_object_set_new(o, "hold", json_boolean(s->hold));
    json_object_set_new(o, "parked", json_integer((json_int_t)s->n_parked));
    return o;
}

json_t *
ad_sweeps_json(const ad_sweeps_t *self, const char *name, double now)
{
    const s_sweep_t *s = s_find(self, name);

    return s ? s_json(s, now) : NULL;
}

json_t *
ad_sweeps_list_json(const ad_sweeps_t *self, double now)
{
    json_t *arr = json_array();

    for (const s_sweep_t *s = self->head; s; s = s->next)
        json_array_append_new(arr, s_json(s, now));
    return arr;
}
