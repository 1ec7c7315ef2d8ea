/* ad_resv.c - reservations: the interface of ad_resv.h dispatched to a backend (OAR), and the
 * wait loop every backend shares */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ad_resv_int.h"

/* The backends; Slurm adds its table here. */
static const ad_resv_ops_t *const s_backends[] = {&ad_oar_ops, NULL};

static const ad_resv_ops_t *
s_backend(const char *name, ad_err_t *err)
{
    if (!name)
        name = "oar";
    for (int i = 0; s_backends[i]; i++)
        if (strcmp(s_backends[i]->name, name) == 0)
            return s_backends[i];
    ad_err_set(err, -EINVAL, "reservation.backend: unknown backend '%s' (known: oar)", name);
    return NULL;
}

static ad_resv_t *
s_new(const ad_resv_ops_t *ops, const char *id)
{
    ad_resv_t *self = ad_calloc(1, sizeof *self);
    self->ops = ops;
    snprintf(self->id, sizeof self->id, "%s", id);
    return self;
}

/* The environment entries once the id is known: {"OAR_JOB_ID=12", NULL}. */
static void
s_set_env(ad_resv_t *self)
{
    ad_resv_vec_t v = {0};
    if (self->ops == &ad_oar_ops)
        ad_resv_vec_addf(&v, "OAR_JOB_ID=%s", self->id);
    self->env = ad_resv_vec_take(&v);
}

int
ad_resv_submit_argv(const ad_resv_request_t *req, char ***argv, ad_err_t *err)
{
    const ad_resv_ops_t *ops = s_backend(req->backend, err);
    *argv = NULL;
    return ops ? ops->submit_argv(req, argv, err) : -EINVAL;
}

int
ad_resv_submit(const ad_resv_request_t *req, ad_resv_t **out, ad_err_t *err)
{
    const ad_resv_ops_t *ops = s_backend(req->backend, err);
    char id[32];
    *out = NULL;
    if (!ops)
        return -EINVAL;
    int rc = ops->submit(req, id, sizeof id, err);
    if (rc < 0)
        return rc;
    *out = s_new(ops, id);
    s_set_env(*out);
    return 0;
}

int
ad_resv_attach(const char *backend, const char *id_or_name, ad_resv_t **out, ad_err_t *err)
{
    const ad_resv_ops_t *ops = s_backend(backend, err);
    char id[32];
    *out = NULL;
    if (!ops)
        return -EINVAL;
    if (!id_or_name || !*id_or_name)
        return ad_err_set(err, -EINVAL, "attach: no job id or name given");
    int rc = ops->attach(id_or_name, id, sizeof id, err);
    if (rc < 0)
        return rc;
    *out = s_new(ops, id);
    s_set_env(*out);
    return 0;
}

int
ad_resv_inside(ad_resv_t **out, ad_err_t *err)
{
    ad_resv_t *self = s_new(&ad_oar_ops, "");
    *out = NULL;
    int rc = self->ops->inside(self, err);
    if (rc < 0) {
        ad_resv_free(&self);
        return rc;
    }
    self->inside = true;
    s_set_env(self);
    *out = self;
    return 0;
}

const char *
ad_resv_id(const ad_resv_t *self)
{
    return self->id;
}

const char *
ad_resv_backend(const ad_resv_t *self)
{
    return self->ops->name;
}

int
ad_resv_poll(ad_resv_t *self, ad_resv_status_t *st, ad_err_t *err)
{
    return self->ops->poll(self, st, err);
}

static double
s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int
ad_resv_wait(ad_resv_t *self, double timeout_s, ad_resv_progress_fn *progress, void *arg,
             ad_resv_status_t *st, ad_err_t *err)
{
    double start = s_now(), delay = 0.5;
    for (;;) {
        int rc = self->ops->poll(self, st, err);
        if (rc < 0)
            return rc;
        if (progress)
            progress(st, arg);
        if (st->phase == AD_RESV_RUNNING)
            return 0;
        if (st->phase >= AD_RESV_ENDING)
            return ad_err_set(err, -ECANCELED, "%s%s", *st->reason ? st->reason : "the job ended",
                              st->start_time ? "" : " before it ran");
        double left = timeout_s < 0 ? INFINITY : start + timeout_s - s_now();
        if (left <= 0)
            return ad_err_set(err, -ETIMEDOUT, "%s job %s still %s after %.0f s", self->ops->name,
                              self->id, st->state, timeout_s);
        double nap = delay < left ? delay : left;
        struct timespec ts = {(time_t)nap, (long)((nap - floor(nap)) * 1e9)};
        while (nanosleep(&ts, &ts) < 0)
            ;
        delay = delay * 2 > 10 ? 10 : delay * 2;
    }
}

int
ad_resv_nodes(ad_resv_t *self, char ***hosts, int *n, ad_err_t *err)
{
    *hosts = NULL;
    *n = 0;
    return self->ops->nodes(self, hosts, n, err);
}

int
ad_resv_extend(ad_resv_t *self, int64_t add_s, ad_err_t *err)
{
    return self->ops->extend(self, add_s, err);
}

int
ad_resv_release(ad_resv_t *self, ad_err_t *err)
{
    return self->ops->release(self, err);
}

char **
ad_resv_remote_argv(const ad_resv_t *self, const char *host, char *const cmd[])
{
    return self->ops->remote_argv(self, host, cmd);
}

const char *
ad_resv_rsh_agent(const ad_resv_t *self)
{
    return self->ops->rsh;
}

char *const *
ad_resv_env(const ad_resv_t *self)
{
    return self->env;
}

json_t *
ad_resv_describe(ad_resv_t *self, ad_err_t *err)
{
    return self->ops->describe(self, err);
}

int
ad_resv_count_hosts(const ad_resv_request_t *req, int *n, ad_err_t *err)
{
    const ad_resv_ops_t *ops = s_backend(req->backend, err);
    *n = 0;
    return ops ? ops->count_hosts(req, n, err) : -EINVAL;
}

void
ad_resv_free(ad_resv_t **self)
{
    if (!self || !*self)
        return;
    ad_resv_argv_free(&(*self)->env);
    ad_resv_argv_free(&(*self)->hosts);
    free(*self);
    *self = NULL;
}
