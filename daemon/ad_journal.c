/* ad_journal.c - the coordinator's store writes that can wait: a busy store never holds the loop */
#include "autodist/ad_journal.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autodist/ad_clock.h"
#include "autodist/ad_log.h"

/* One write: fn does it on the store; free_fn releases its arguments. */
typedef int (*s_write_fn)(ad_store_t *store, void *arg, ad_err_t *err);
typedef void (*s_free_fn)(void *arg);

typedef struct s_op {
    s_write_fn fn;
    s_free_fn free_fn;
    void *arg;
    char what[96]; /* "job 12: FAILED", for the log */
    struct s_op *next;
} s_op_t;

struct ad_journal {
    ad_store_t *store; /* borrowed */
    s_op_t *head;      /* oldest waiting write */
    s_op_t *tail;      /* newest */
    size_t n;          /* writes waiting */
    double since;      /* ad_clock_now() when the first of them was kept (0 = none) */
};

ad_journal_t *
ad_journal_new(ad_store_t *store)
{
    ad_journal_t *self = ad_calloc(1, sizeof(*self));

    assert(store);
    self->store = store;
    ad_store_set_busy_timeout(store, AD_JOURNAL_BUSY_MS);
    return self;
}

static void
s_op_free(s_op_t *op)
{
    if (op->free_fn)
        op->free_fn(op->arg);
    free(op);
}

void
ad_journal_free(ad_journal_t **self_p)
{
    ad_journal_t *self;

    if (!self_p || !*self_p)
        return;
    self = *self_p;
    if (self->n)
        ad_log(AD_LOG_ERROR,
               "%zu store write(s) lost: the store stayed busy (the first: %s); the next start "
               "finds the jobs from their exit files",
               self->n, self->head->what);
    while (self->head) {
        s_op_t *next = self->head->next;

        s_op_free(self->head);
        self->head = next;
    }
    free(self);
    *self_p = NULL;
}

size_t
ad_journal_waiting(const ad_journal_t *self)
{
    return self->n;
}

/* Try op now.  Returns 1 when the store is busy (keep it), 0 when written, < 0 on a failure. */
static int
s_try(ad_journal_t *self, s_op_t *op, ad_err_t *err)
{
    ad_err_t e = {0};
    int rc = op->fn(self->store, op->arg, &e);

    if (rc == 0)
        return 0;
    if (ad_store_busy(self->store))
        return 1;
    if (err)
        *err = e;
    return rc < 0 ? rc : -rc;
}

size_t
ad_journal_flush(ad_journal_t *self, double budget_s)
{
    double until = ad_clock_now() + budget_s;
    size_t done = 0;

    while (self->head) {
        s_op_t *op = self->head;
        ad_err_t err = {0};
        int rc = s_try(self, op, &err);

        if (rc == 1)
            break;
        if (rc < 0)
            ad_log(AD_LOG_ERROR, "store write dropped (%s): %s", op->what, err.msg);
        self->head = op->next;
        if (!self->head)
            self->tail = NULL;
        self->n--;
        done++;
        s_op_free(op);
        if (ad_clock_now() >= until)
            break;
    }
    if (done && !self->n) {
        ad_log(AD_LOG_INFO, "the store is writable again: %zu delayed write(s) done after %.1f s",
               done, ad_clock_now() - self->since);
        self->since = 0;
    }
    return self->n;
}

/* Do the write now, or keep it behind the waiting ones; fn's arguments are owned by then. */
static int s_write(ad_journal_t *self, s_write_fn fn, void *arg, s_free_fn free_fn, ad_err_t *err,
                   const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int
s_write(ad_journal_t *self, s_write_fn fn, void *arg, s_free_fn free_fn, ad_err_t *err,
        const char *fmt, ...)
{
    s_op_t *op = ad_calloc(1, sizeof(*op));
    va_list ap;
    int rc = 1;

    op->fn = fn;
    op->arg = arg;
    op->free_fn = free_fn;
    va_start(ap, fmt);
    vsnprintf(op->what, sizeof(op->what), fmt, ap);
    va_end(ap);
    if (!self->head) {
        rc = s_try(self, op, err);
        if (rc <= 0) {
            s_op_free(op);
            return rc;
        }
    }
    if (!self->head) {
        self->since = ad_clock_now();
        ad_log(AD_LOG_WARN,
               "the store is busy (another process holds its lock): writes wait in memory, "
               "in order, and go in as soon as it is free (the first: %s)",
               op->what);
    }
    if (self->tail)
        self->tail->next = op;
    else
        self->head = op;
    self->tail = op;
    self->n++;
    return 0;
}

/* ---- the writes -------------------------------------------------------------------------- */

typedef struct {
    int64_t id, run;
    int nodes, ppn, tpp, exit_code, max_parallel;
    bool flag;
    pid_t pid;
    char *s1, *s2;
    json_t *json;
    void *v;
    size_t n;
    ad_coord_result_t res;
} s_args_t;

static s_args_t *
s_args(void)
{
    return ad_calloc(1, sizeof(s_args_t));
}

static void
s_args_free(void *arg)
{
    s_args_t *a = arg;

    free(a->s1);
    free(a->s2);
    json_decref(a->json);
    free(a->v);
    free((char *)a->res.state);
    free(a);
}

static char *
s_dup(const char *s)
{
    return s ? ad_strdup(s) : NULL;
}

static int
s_job_set(ad_store_t *store, void *arg, ad_err_t *err)
{
    s_args_t *a = arg;

    return ad_coord_job_set(store, a->id, a->s1, a->s2, a->exit_code, err);
}

int
ad_journal_job_set(ad_journal_t *self, int64_t id, const char *state, const char *reason,
                   int exit_code, ad_err_t *err)
{
    s_args_t *a = s_args();

    a->id = id;
    a->s1 = s_dup(state);
    a->s2 = s_dup(reason);
    a->exit_code = exit_code;
    return s_write(self, s_job_set, a, s_args_free, err, "job %lld: %s", (long long)id, state);
}

static int
s_job_place(ad_store_t *store, void *arg, ad_err_t *err)
{
    s_args_t *a = arg;

    return ad_coord_job_place(store, a->id, a->nodes, a->ppn, a->tpp, a->s1, a->s2, err);
}

int
ad_journal_job_place(ad_journal_t *self, int64_t id, int nodes, int ppn, int tpp,
                     const char *device, const char *nodelist, ad_err_t *err)
{
    s_args_t *a = s_args();

    a->id = id;
    a->nodes = nodes;
    a->ppn = ppn;
    a->tpp = tpp;
    a->s1 = s_dup(device);
    a->s2 = s_dup(nodelist);
    return s_write(self, s_job_place, a, s_args_free, err, "job %lld: placed", (long long)id);
}

static int
s_job_proc(ad_store_t *store, void *arg, ad_err_t *err)
{
    s_args_t *a = arg;

    return ad_coord_job_proc(store, a->id, a->pid, a->s1, a->run, err);
}

int
ad_journal_job_proc(ad_journal_t *self, int64_t id, pid_t pid, const char *identity, int64_t run,
                    ad_err_t *err)
{
    s_args_t *a = s_args();

    a->id = id;
    a->pid = pid;
    a->s1 = s_dup(identity);
    a->run = run;
    return s_write(self, s_job_proc, a, s_args_free, err, "job %lld: process", (long long)id);
}

static int
s_node_up(ad_store_t *store, void *arg, ad_err_t *err)
{
    s_args_t *a = arg;
    int64_t id = 0;

    return ad_coord_node_up(store, a->s1, a->json, &id, err);
}

int
ad_journal_node_up(ad_journal_t *self, const char *name, const json_t *profile, ad_err_t *err)
{
    s_args_t *a = s_args();

    a->s1 = s_dup(name);
    a->json = profile ? json_deep_copy(profile) : NULL;
    return s_write(self, s_node_up, a, s_args_free, err, "node %s: UP", name);
}

static int
s_node_seen(ad_store_t *store, void *arg, ad_err_t *err)
{
    s_args_t *a = arg;

    return ad_coord_node_seen(store, a->s1, a->flag, err);
}

int
ad_journal_node_seen(ad_journal_t *self, const char *name, bool down, ad_err_t *err)
{
    s_args_t *a = s_args();

    a->s1 = s_dup(name);
    a->flag = down;
    return s_write(self, s_node_seen, a, s_args_free, err, "node %s: %s", name,
                   down ? "DOWN" : "seen");
}

/* s_args_free() of a list of owned names in v. */
static void
s_names_free(void *arg)
{
    s_args_t *a = arg;
    char **names = a->v;

    for (size_t i = 0; i < a->n; i++)
        free(names[i]);
    s_args_free(a);
}

static int
s_nodes_seen(ad_store_t *store, void *arg, ad_err_t *err)
{
    s_args_t *a = arg;

    return ad_coord_nodes_seen(store, (const char *const *)a->v, a->n, err);
}

int
ad_journal_nodes_seen(ad_journal_t *self, const char *const *names, size_t n, ad_err_t *err)
{
    s_args_t *a;
    char **copy;

    /* Heartbeats only move last_seen: one such write waiting is enough. */
    if (self->n && self->tail->fn == s_nodes_seen)
        return 0;
    a = s_args();
    copy = ad_malloc((n ? n : 1) * sizeof(*copy));
    for (size_t i = 0; i < n; i++)
        copy[i] = ad_strdup(names[i]);
    a->v = copy;
    a->n = n;
    return s_write(self, s_nodes_seen, a, s_names_free, err, "%zu nodes: last seen", n);
}

static int
s_run_finish(ad_store_t *store, void *arg, ad_err_t *err)
{
    s_args_t *a = arg;

    return ad_coord_run_finish(store, a->id, &a->res, err);
}

int
ad_journal_run_finish(ad_journal_t *self, int64_t id, const ad_coord_result_t *res, ad_err_t *err)
{
    s_args_t *a = s_args();

    a->id = id;
    a->res = *res;
    a->res.state = s_dup(res->state);
    return s_write(self, s_run_finish, a, s_args_free, err, "run %lld: %s", (long long)id,
                   res->state);
}

static int
s_run_metrics(ad_store_t *store, void *arg, ad_err_t *err)
{
    s_args_t *a = arg;

    return ad_coord_run_metrics(store, a->id, a->v, a->n, err);
}

int
ad_journal_run_metrics(ad_journal_t *self, int64_t id, const ad_coord_metric_t *m, size_t n,
                       ad_err_t *err)
{
    s_args_t *a = s_args();

    /* Keys are the coordinator's static names: the array is copied, not the strings. */
    a->id = id;
    a->v = ad_malloc((n ? n : 1) * sizeof(*m));
    memcpy(a->v, m, n * sizeof(*m));
    a->n = n;
    return s_write(self, s_run_metrics, a, s_args_free, err, "run %lld: %zu metric samples",
                   (long long)id, n);
}

static int
s_sweep_run(ad_store_t *store, void *arg, ad_err_t *err)
{
    s_args_t *a = arg;

    return ad_coord_sweep_run(store, a->id, a->s1, a->max_parallel, a->flag, a->s2, err);
}

int
ad_journal_sweep_run(ad_journal_t *self, int64_t id, const char *state, int max_parallel,
                     bool retry_failed, const char *owner, ad_err_t *err)
{
    s_args_t *a = s_args();

    a->id = id;
    a->s1 = s_dup(state);
    a->s2 = s_dup(owner);
    a->max_parallel = max_parallel;
    a->flag = retry_failed;
    return s_write(self, s_sweep_run, a, s_args_free, err, "sweep %lld: %s", (long long)id, state);
}

/* The store's detail of a failed call into err. */
static int
s_store_fail(ad_store_t *store, int rc, ad_err_t *err)
{
    if (rc && err)
        *err = *ad_store_err(store);
    return rc;
}

static int
s_run_record(ad_store_t *store, void *arg, ad_err_t *err)
{
    s_args_t *a = arg;

    return s_store_fail(store, ad_store_put_record(store, a->id, a->s1), err);
}

int
ad_journal_run_record(ad_journal_t *self, int64_t run, const char *record, ad_err_t *err)
{
    s_args_t *a = s_args();

    a->id = run;
    a->s1 = s_dup(record);
    return s_write(self, s_run_record, a, s_args_free, err, "run %lld: record", (long long)run);
}

static int
s_record_merge(ad_store_t *store, void *arg, ad_err_t *err)
{
    s_args_t *a = arg;

    return s_store_fail(store, ad_store_record_merge(store, a->id, a->s1, a->s2), err);
}

int
ad_journal_record_merge(ad_journal_t *self, int64_t run, const char *key, const char *value,
                        ad_err_t *err)
{
    s_args_t *a = s_args();

    a->id = run;
    a->s1 = s_dup(key);
    a->s2 = s_dup(value);
    return s_write(self, s_record_merge, a, s_args_free, err, "run %lld: record %s", (long long)run,
                   key);
}
