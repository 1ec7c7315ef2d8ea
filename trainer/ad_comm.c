/* ad_comm.c - gradient buckets averaged across ranks, overlapped with backward */
#include "autodist/ad_comm.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "autodist/ad_clock.h"
#include "autodist/ad_log.h"

/*
 * Two ways to reduce a bucket.
 *
 * MPI: one MPI_Iallreduce per bucket over all ranks, driven by MPI_Test from
 * the backward hooks.  Open MPI here makes no progress on its own and its
 * shared-memory transport moves large messages in fragments, each needing a
 * progress call, so little of it overlaps with backward.
 *
 * SHM (the default when every node runs the same number of ranks): ranks of a
 * node share one MPI-3 shared-memory window holding every rank's gradient
 * slot.  When a bucket is complete a rank copies it into its slot and
 * publishes it; rank r then sums chunk r of that bucket over all slots (a
 * reduce-scatter in memory, no message at all), reduces its chunk across nodes
 * with the ranks of the same local rank (MPI_Iallreduce, only on several
 * nodes) and publishes it; every rank finally copies all reduced chunks back
 * (an allgather in memory).  Each stage is a non-blocking check, run from the
 * backward hooks, so the work lands between layers while backward goes on.
 */
enum { MODE_MPI = 0, MODE_SHM = 1 };

/* Stages of a bucket in SHM mode. */
enum {
    ST_IDLE = 0,    /* gradients not complete yet */
    ST_POSTED = 1,  /* copied into my slot and published */
    ST_CROSS = 2,   /* my chunk summed on the node, reducing across nodes */
    ST_REDUCED = 3, /* my chunk final and published */
    ST_DONE = 4,    /* the whole reduced bucket copied back */
};

/* One rank's control block at the head of its part of the shared window. */
typedef struct ctl {
    _Atomic int64_t posted;  /* generation whose gradients are in the slot */
    _Atomic int64_t reduced; /* generation whose chunk is final */
    _Atomic int64_t done;    /* generation this rank has copied back */
    char pad[64 - 3 * sizeof(int64_t)];
} ctl_t;

struct ad_comm {
    MPI_Comm comm;        /* who reduces */
    int world;            /* its size; 1 makes everything a no-op */
    int mode;             /* MODE_MPI or MODE_SHM */
    float *base;          /* the flat gradients */
    int nbuckets;         /* buckets */
    int64_t *offset;      /* each bucket's first float */
    int64_t *count;       /* each bucket's length */
    bool *ready;          /* complete in this step's backward */
    MPI_Request *req;     /* MPI mode: one per bucket; SHM mode: cross-node ones */
    int next;             /* MPI mode: first bucket not started */
    int done;             /* MPI mode: requests known complete, in order */
    double t_first;       /* when the first bucket started */
    double t_last;        /* when the last reduction was seen complete */
    double exposed;       /* time inside communication this step */
    /* SHM mode */
    MPI_Comm node;        /* ranks of this node */
    MPI_Comm cross;       /* ranks of the same local rank on every node */
    MPI_Win win;          /* the shared window */
    int lrank, lsize;     /* my place on the node, ranks on the node */
    int nnodes;           /* nodes */
    float **slot;         /* slot[q]: local rank q's gradients */
    ctl_t **ctl;          /* ctl[q][b]: local rank q's flags for bucket b */
    int *stage;           /* each bucket's stage this step */
    int next_cross;       /* first bucket whose cross-node reduction is not started */
    int pending;          /* buckets not yet ST_DONE */
    int64_t gen;          /* this step's generation, from 1 */
    bool patient;         /* more busy threads than cores: sleep, don't spin */
};

static int
s_mpi_error(ad_err_t *err, int rc, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;

    MPI_Error_string(rc, msg, &len);
    return ad_err_set(err, AD_EMPI, "%s: %s", what, msg);
}

/* Set up the shared window; false (and MPI mode) when it cannot be had. */
static bool
s_shm_init(ad_comm_t *self)
{
    int64_t total = 0, ctl_bytes, slot_bytes;
    int sizes[2], extremes[2], rank, rc;
    MPI_Info info;
    char *mine;

    MPI_Comm_rank(self->comm, &rank);
    MPI_Comm_split_type(self->comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &self->node);
    MPI_Comm_rank(self->node, &self->lrank);
    MPI_Comm_size(self->node, &self->lsize);
    /* Hierarchical reduction needs the same number of ranks on every node. */
    sizes[0] = self->lsize;
    sizes[1] = -self->lsize;
    MPI_Allreduce(sizes, extremes, 2, MPI_INT, MPI_MAX, self->comm);
    if (extremes[0] != -extremes[1]) {
        ad_log(AD_LOG_INFO, "nodes run different rank counts: reducing with MPI only");
        MPI_Comm_free(&self->node);
        return false;
    }
    self->nnodes = self->world / self->lsize;
    MPI_Comm_split(self->comm, self->lrank, rank, &self->cross);

    for (int b = 0; b < self->nbuckets; b++)
        total = self->offset[b] + self->count[b] > total ? self->offset[b] + self->count[b]
                                                         : total;
    ctl_bytes = ((int64_t)self->nbuckets * (int64_t)sizeof(ctl_t) + 4095) / 4096 * 4096;
    slot_bytes = total * (int64_t)sizeof(float);
    MPI_Info_create(&info);
    MPI_Info_set(info, "alloc_shared_noncontig", "true");
    rc = MPI_Win_allocate_shared(ctl_bytes + slot_bytes, 1, info, self->node, &mine,
                                 &self->win);
    MPI_Info_free(&info);
    /* Every rank must agree, or some would wait on a window others lack. */
    sizes[0] = rc == MPI_SUCCESS;
    MPI_Allreduce(MPI_IN_PLACE, sizes, 1, MPI_INT, MPI_MIN, self->comm);
    if (!sizes[0]) {
        ad_log(AD_LOG_WARN, "no shared-memory window (%d): reducing with MPI only", rc);
        if (rc == MPI_SUCCESS)
            MPI_Win_free(&self->win);
        MPI_Comm_free(&self->cross);
        MPI_Comm_free(&self->node);
        return false;
    }
    memset(mine, 0, (size_t)ctl_bytes);
    self->slot = ad_calloc((size_t)self->lsize, sizeof(float *));
    self->ctl = ad_calloc((size_t)self->lsize, sizeof(ctl_t *));
    for (int q = 0; q < self->lsize; q++) {
        MPI_Aint size;
        int disp;
        char *p;

        MPI_Win_shared_query(self->win, q, &size, &disp, &p);
        self->ctl[q] = (ctl_t *)p;
        self->slot[q] = (float *)(p + ctl_bytes);
    }
    MPI_Win_lock_all(MPI_MODE_NOCHECK, self->win);
    self->stage = ad_calloc((size_t)self->nbuckets, sizeof(int));
    MPI_Barrier(self->node);
    return true;
}

ad_comm_t *
ad_comm_new(MPI_Comm comm, float *base, int nbuckets, const int64_t *offset,
            const int64_t *count)
{
    ad_comm_t *self = ad_calloc(1, sizeof(*self));
    const char *env = getenv("AUTODIST_COMM");

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
    self->mode = MODE_MPI;
    /* Every rank reads the same environment from mpirun, so all choose alike. */
    if (self->world > 1 && !(env && !strcasecmp(env, "mpi")) && s_shm_init(self))
        self->mode = MODE_SHM;
    self->gen = 1;
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
    if (self->mode == MODE_SHM) {
        /* Nobody may leave while a peer still reads its slot. */
        MPI_Barrier(self->node);
        MPI_Win_unlock_all(self->win);
        MPI_Win_free(&self->win);
        MPI_Comm_free(&self->cross);
        MPI_Comm_free(&self->node);
        free(self->slot);
        free(self->ctl);
        free(self->stage);
    }
    free(self->offset);
    free(self->count);
    free(self->ready);
    free(self->req);
    free(self);
    *self_p = NULL;
}

void
ad_comm_set_threads(ad_comm_t *self, int threads)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN), ranks = self->lsize;
    const char *env = getenv("AUTODIST_MACHINE_RANKS");

    /*
     * Ranks of other "nodes" may share this machine's cores (simulated nodes on
     * loopback): the launcher then says how many ranks the machine runs in all.
     */
    if (env && atol(env) > ranks)
        ranks = atol(env);
    if (self->mode == MODE_SHM)
        self->patient = cores > 0 && ranks * threads > cores;
}

const char *
ad_comm_mode(const ad_comm_t *self)
{
    if (self->world == 1)
        return "none";
    if (self->mode == MODE_MPI)
        return "mpi";
    return self->nnodes > 1 ? "shm+mpi" : "shm";
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
    if (self->mode == MODE_SHM) {
        self->next_cross = 0;
        self->pending = self->nbuckets;
        for (int b = 0; b < self->nbuckets; b++)
            self->stage[b] = ST_IDLE;
    }
}

/* My chunk of bucket b: floats [lo, hi) relative to the bucket, cache-line aligned. */
static void
s_chunk(const ad_comm_t *self, int b, int q, int64_t *lo, int64_t *hi)
{
    int64_t n = self->count[b];
    int64_t per = ((n + self->lsize - 1) / self->lsize + 15) / 16 * 16;

    *lo = (int64_t)q * per < n ? (int64_t)q * per : n;
    *hi = *lo + per < n ? *lo + per : n;
}

/* True when every local rank's flag for bucket b has reached gen. */
static bool
s_all(const ad_comm_t *self, int b, size_t field, int64_t gen)
{
    for (int q = 0; q < self->lsize; q++) {
        _Atomic int64_t *f = (_Atomic int64_t *)((char *)&self->ctl[q][b] + field);

        if (atomic_load_explicit(f, memory_order_acquire) < gen)
            return false;
    }
    return true;
}

/* Wait a little for a peer: a spin, or a short sleep when cores are oversubscribed. */
static void
s_pause(ad_comm_t *self, int *idle)
{
    if (++*idle < 64)
        return;
    *idle = 0;
    if (self->patient) {
        struct timespec ts = {0, 20000};

        nanosleep(&ts, NULL);
    } else {
        sched_yield();
    }
}

/* Publish bucket b: my gradients into my slot. */
static void
s_post(ad_comm_t *self, int b)
{
    ctl_t *mine = &self->ctl[self->lrank][b];
    int idle = 0;

    /* Last step's readers of my slot must be finished (they nearly always are). */
    while (!s_all(self, b, offsetof(ctl_t, done), self->gen - 1))
        s_pause(self, &idle);
    memcpy(self->slot[self->lrank] + self->offset[b], self->base + self->offset[b],
           (size_t)self->count[b] * sizeof(float));
    atomic_store_explicit(&mine->posted, self->gen, memory_order_release);
    self->stage[b] = ST_POSTED;
}

/* Sum my chunk of bucket b over every local slot, into my slot. */
static void
s_reduce_chunk(ad_comm_t *self, int b)
{
    int64_t lo, hi;
    float *dst;

    s_chunk(self, b, self->lrank, &lo, &hi);
    dst = self->slot[self->lrank] + self->offset[b];
    for (int q = 0; q < self->lsize; q++) {
        const float *src;

        if (q == self->lrank)
            continue;
        src = self->slot[q] + self->offset[b];
        for (int64_t i = lo; i < hi; i++)
            dst[i] += src[i];
    }
}

/* Copy every rank's reduced chunk of bucket b back into the gradients. */
static void
s_gather(ad_comm_t *self, int b)
{
    for (int q = 0; q < self->lsize; q++) {
        int64_t lo, hi, at = self->offset[b];

        s_chunk(self, b, q, &lo, &hi);
        if (hi > lo)
            memcpy(self->base + at + lo, self->slot[q] + at + lo,
                   (size_t)(hi - lo) * sizeof(float));
    }
    atomic_store_explicit(&self->ctl[self->lrank][b].done, self->gen, memory_order_release);
    self->stage[b] = ST_DONE;
    self->pending--;
}

/* Move every bucket as far as it can go without waiting. */
static int
s_shm_progress(ad_comm_t *self, ad_err_t *err)
{
    for (int b = 0; b < self->nbuckets; b++) {
        int *st = &self->stage[b];

        if (*st == ST_POSTED && s_all(self, b, offsetof(ctl_t, posted), self->gen)) {
            s_reduce_chunk(self, b);
            *st = self->nnodes > 1 ? ST_CROSS : ST_REDUCED;
            if (*st == ST_REDUCED)
                atomic_store_explicit(&self->ctl[self->lrank][b].reduced, self->gen,
                                      memory_order_release);
        }
        if (*st == ST_CROSS && b == self->next_cross) {
            int64_t lo, hi;
            int rc;

            /* Across nodes every rank issues its chunks in bucket order. */
            s_chunk(self, b, self->lrank, &lo, &hi);
            rc = MPI_Iallreduce(MPI_IN_PLACE, self->slot[self->lrank] + self->offset[b] + lo,
                                (int)(hi - lo), MPI_FLOAT, MPI_SUM, self->cross,
                                &self->req[b]);
            if (rc != MPI_SUCCESS)
                return s_mpi_error(err, rc, "gradient allreduce across nodes");
            self->next_cross++;
        }
        if (*st == ST_CROSS && self->req[b] != MPI_REQUEST_NULL) {
            int flag = 0, rc = MPI_Test(&self->req[b], &flag, MPI_STATUS_IGNORE);

            if (rc != MPI_SUCCESS)
                return s_mpi_error(err, rc, "gradient allreduce across nodes");
            if (flag) {
                *st = ST_REDUCED;
                atomic_store_explicit(&self->ctl[self->lrank][b].reduced, self->gen,
                                      memory_order_release);
            }
        }
        if (*st == ST_REDUCED && s_all(self, b, offsetof(ctl_t, reduced), self->gen))
            s_gather(self, b);
    }
    if (self->pending == 0)
        self->t_last = ad_clock_now();
    return 0;
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

    if (self->world == 1 || self->ready[b])
        return 0;
    self->ready[b] = true;
    t0 = ad_clock_now();
    if (self->t_first == 0)
        self->t_first = t0;
    if (self->mode == MODE_SHM) {
        s_post(self, b);
        rc = s_shm_progress(self, err);
    } else {
        while (self->next < self->nbuckets && self->ready[self->next] && !rc)
            rc = s_start(self, self->next++, err);
    }
    self->exposed += ad_clock_now() - t0;
    return rc;
}

int
ad_comm_progress(ad_comm_t *self, ad_err_t *err)
{
    double t0;
    int flag = 1, rc = 0;

    if (self->world == 1)
        return 0;
    t0 = ad_clock_now();
    if (self->mode == MODE_SHM) {
        if (self->pending > 0)
            rc = s_shm_progress(self, err);
    } else {
        /* Testing the oldest request enters the progress engine, which moves all of them. */
        while (self->done < self->next && flag && !rc) {
            rc = MPI_Test(&self->req[self->done], &flag, MPI_STATUS_IGNORE);
            if (rc != MPI_SUCCESS)
                rc = s_mpi_error(err, rc, "gradient allreduce");
            else if (flag)
                self->done++;
        }
        if (self->done == self->nbuckets)
            self->t_last = ad_clock_now();
    }
    self->exposed += ad_clock_now() - t0;
    return rc;
}

/* SHM mode: publish what is left and spin (politely) until every bucket is back. */
static int
s_shm_finish(ad_comm_t *self, ad_err_t *err)
{
    int idle = 0, rc = 0;

    for (int b = 0; b < self->nbuckets; b++) {
        if (!self->ready[b]) {
            self->ready[b] = true;
            s_post(self, b);
        }
    }
    while (self->pending > 0 && !rc) {
        int before = self->pending;

        rc = s_shm_progress(self, err);
        /* A peer descheduled on an oversubscribed node needs our core back. */
        if (self->pending == before)
            s_pause(self, &idle);
    }
    /* The next step is the next generation; its posts wait for this one's readers. */
    self->gen++;
    return rc;
}

int
ad_comm_finish(ad_comm_t *self, double *extra, int n, ad_comm_stats_t *stats, ad_err_t *err)
{
    double t0 = ad_clock_now();
    int rc = 0;

    if (self->world > 1) {
        if (self->t_first == 0)
            self->t_first = t0;
        if (self->mode == MODE_SHM) {
            rc = s_shm_finish(self, err);
            if (!rc && n > 0) {
                rc = MPI_Allreduce(MPI_IN_PLACE, extra, n, MPI_DOUBLE, MPI_SUM, self->comm);
                rc = rc == MPI_SUCCESS ? 0 : s_mpi_error(err, rc, "metrics allreduce");
            }
        } else {
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
            self->t_last = ad_clock_now();
        }
        self->exposed += ad_clock_now() - t0;
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
