/* ad_comm.c - gradient buckets averaged with non-blocking MPI allreduce, overlapped with backward */
#include "autodist/ad_comm.h"

#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

struct ad_comm {
    MPI_Comm comm;        /* who reduces */
    int world;            /* its size; 1 makes everything a no-op */
    float *base;          /* the flat gradients */
    int nbuckets;         /* buckets */
    int64_t *offset;      /* each bucket's first float */
    int64_t *count;       /* each bucket's length */
    bool *ready;          /* complete in this step's backward */
    MPI_Request *req;     /* one per bucket, plus one for the extras */
    int next;             /* first bucket not started */
    int done;             /* requests known complete, in order */
    double t_first;       /* when the first bucket started */
    double t_last;        /* when completion was last observed */
    double exposed;       /* time inside MPI this step */
};

double
ad_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int
s_mpi_error(ad_err_t *err, int rc, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;

    MPI_Error_string(rc, msg, &len);
    return ad_err_set(err, AD_EMPI, "%s: %s", what, msg);
}

ad_comm_t *
ad_comm_new(MPI_Comm comm, float *base, int nbuckets, const int64_t *offset,
            const int64_t *count)
{
    ad_comm_t *self = ad_calloc(1, sizeof(*self));

    self->comm = comm;
    MPI_Comm_size(comm, &self->world);
    self->base = base;
    self->nbuckets = nbuckets;
    self->offset = ad_malloc((size_t)nbuckets * sizeof(int64_t));
    self->count = ad_malloc((size_t)nbuckets * sizeof(int64_t));
    for (int i = 0; i < nbuckets; i++) {
        self->offset[i] = offset[i];
        self->count[i] = count[i];
    }
    self->ready = ad_calloc((size_t)nbuckets, sizeof(bool));
    self->req = ad_malloc((size_t)(nbuckets + 1) * sizeof(MPI_Request));
    ad_comm_begin(self);
    return self;
}

void
ad_comm_free(ad_comm_t **self_p)
{
    ad_comm_t *self;

    if (!self_p || !*self_p)
        return;
    self = *self_p;
    free(self->offset);
    free(self->count);
    free(self->ready);
    free(self->req);
    free(self);
    *self_p = NULL;
}

void
ad_comm_begin(ad_comm_t *self)
{
    for (int i = 0; i < self->nbuckets; i++) {
        self->ready[i] = false;
        self->req[i] = MPI_REQUEST_NULL;
    }
    self->req[self->nbuckets] = MPI_REQUEST_NULL;
    self->next = 0;
    self->done = 0;
    self->t_first = 0;
    self->t_last = 0;
    self->exposed = 0;
}

static int
s_start(ad_comm_t *self, int b, ad_err_t *err)
{
    int rc = MPI_Iallreduce(MPI_IN_PLACE, self->base + self->offset[b], (int)self->count[b],
                            MPI_FLOAT, MPI_SUM, self->comm, &self->req[b]);

    return rc == MPI_SUCCESS ? 0 : s_mpi_error(err, rc, "gradient allreduce");
}

int
ad_comm_ready(ad_comm_t *self, int b, ad_err_t *err)
{
    double t0;
    int rc = 0;

    if (self->world == 1)
        return 0;
    self->ready[b] = true;
    t0 = ad_now();
    if (self->next == 0 && self->ready[0])
        self->t_first = t0;
    while (self->next < self->nbuckets && self->ready[self->next] && !rc)
        rc = s_start(self, self->next++, err);
    self->exposed += ad_now() - t0;
    return rc;
}

int
ad_comm_progress(ad_comm_t *self, ad_err_t *err)
{
    double t0;
    int flag = 1, rc;

    if (self->world == 1 || self->done >= self->next)
        return 0;
    t0 = ad_now();
    /* Testing the oldest request enters the progress engine, which moves all of them. */
    while (self->done < self->next && flag) {
        rc = MPI_Test(&self->req[self->done], &flag, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS)
            return s_mpi_error(err, rc, "gradient allreduce");
        if (flag)
            self->done++;
    }
    self->t_last = ad_now();
    self->exposed += self->t_last - t0;
    return 0;
}

int
ad_comm_finish(ad_comm_t *self, double *extra, int n, ad_comm_stats_t *stats, ad_err_t *err)
{
    double t0 = ad_now();
    int rc = 0;

    if (self->world > 1) {
        if (self->next == 0)
            self->t_first = t0;
        while (self->next < self->nbuckets && !rc)
            rc = s_start(self, self->next++, err);
        if (!rc && n > 0) {
            rc = MPI_Iallreduce(MPI_IN_PLACE, extra, n, MPI_DOUBLE, MPI_SUM, self->comm,
                                &self->req[self->nbuckets]);
            rc = rc == MPI_SUCCESS ? 0 : s_mpi_error(err, rc, "metrics allreduce");
        }
        if (!rc) {
            rc = MPI_Waitall(self->nbuckets + 1, self->req, MPI_STATUSES_IGNORE);
            rc = rc == MPI_SUCCESS ? 0 : s_mpi_error(err, rc, "gradient allreduce");
        }
        self->t_last = ad_now();
        self->exposed += self->t_last - t0;
    }
    if (stats) {
        int64_t bytes = 0;

        for (int i = 0; i < self->nbuckets; i++)
            bytes += self->count[i] * (int64_t)sizeof(float);
        stats->comm_s = self->world > 1 ? self->t_last - self->t_first : 0;
        stats->exposed_s = self->world > 1 ? self->exposed : 0;
        stats->bytes = self->world > 1 ? bytes : 0;
    }
    return rc;
}
