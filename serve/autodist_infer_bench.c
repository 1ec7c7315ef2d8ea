/* autodist_infer_bench.c - autodist-infer-bench: a bare model's throughput and latency per layout
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "autodist/ad_clock.h"
#include "autodist/ad_error.h"
#include "autodist/ad_infer.h"
#include "autodist/ad_opt.h"
#include "autodist/ad_rand.h"

/*
 * A layout is P worker processes x T intra-op threads x batch B.  Each worker
 * (forked before any libtorch work, so OpenMP starts fresh in it) loads the
 * artifact once, sets its threads, warms up, then serves single-sample
 * requests that the parent writes on one shared pipe: it takes the first,
 * then up to B - 1 more that arrive within --max-delay-ms, runs them as one
 * batch and answers each on the shared response pipe.  The parent is the
 * load: closed loop (C requests outstanding) or open loop (Poisson arrivals
 * at rate R); a latency runs from when a request was due to when its answer
 * came back, so queueing counts.  docs/bench-infer.md.
 */

#define S_EXIT_OK 0
#define S_EXIT_FAIL 1
#define S_EXIT_USAGE 2

#define S_LAYOUTS_MAX 64
#define S_PROCS_MAX 256
#define S_BATCH_MAX 1024
/* A worker gets this long to load and warm up. */
#define S_READY_TIMEOUT_S 120.0
/* The open loop's shortest sleep between arrivals. */
#define S_TICK_S 0.0002
/* Answers still due after the window get this long (or the window's length) to come. */
#define S_DRAIN_S 2.0

/* What the parent writes: a request. */
typedef struct {
    uint64_t id; /* the measurement << S_GEN_SHIFT | index into its due times */
} s_req_t;

/*
 * A request's id carries its measurement, so the answers to requests an
 * overloaded open loop left queued are told apart from the next one's.
 */
#define S_GEN_SHIFT 40

/* What a worker writes back: one per request it ran. */
typedef struct {
    uint64_t id;    /* the request */
    uint32_t batch; /* the size of the batch it ran in */
    uint32_t pad;   /* keeps the record 16 bytes */
} s_resp_t;

/* Answers per write: PIPE_BUF (4096 on Linux, at least 512 by POSIX) / 16 bytes. */
#define S_RESP_CHUNK 32

/* What a worker says once loaded and warm (or why it could not). */
typedef struct {
    int ok;            /* 1 ready, 0 failed */
    char backend[192]; /* ad_infer_backend() */
    char error[512];   /* the load's error when not ok */
} s_ready_t;

/* One layout: processes x threads x batch. */
typedef struct {
    int procs;   /* worker processes */
    int threads; /* intra-op threads per worker */
    int batch;   /* largest batch a worker runs */
} s_layout_t;

/* Command line. */
typedef struct {
    const char *dir;                   /* MODEL_DIR */
    s_layout_t layouts[S_LAYOUTS_MAX]; /* --layouts, or the default grid */
    int n_layouts;                     /* ... how many */
    double duration_s;                 /* --duration: the measured window of each mode */
    double warmup_s;                   /* --warmup: before it, not measured */
    double max_delay_ms;               /* --max-delay-ms: a batch's wait for more requests */
    int concurrency;                   /* --concurrency: closed loop (0 = P*B*2) */
    double fractions[4];               /* --open: open-loop rates, fractions of the closed's */
    int n_fractions;                   /* ... how many (0 = closed loop only) */
    bool sequential;                   /* measure 1x1x1 closed at C = 1 first (not --no-seq) */
    uint64_t seed;                     /* --seed: the Poisson arrivals */
} s_opts_t;

/* One measurement's figures. */
typedef struct {
    double samples_per_s; /* answers in the window / its length */
    double p50_ms, p95_ms, p99_ms, mean_ms;
    double mean_batch; /* mean batch size the workers ran */
    int64_t samples;   /* latencies measured */
    int64_t late;      /* requests of the window never answered before the drain ended */
    double started, ended;
} s_figures_t;

/* The parent's side of one running layout. */
typedef struct {
    pid_t pids[S_PROCS_MAX]; /* the workers */
    int n;                   /* ... started */
    int req_fd;              /* write end of the request pipe (non-blocking) */
    int resp_fd;             /* read end of the response pipe */
    char backend[192];       /* what the first worker said */
} s_pool_t;

static double
s_wall(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool
s_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t w = write(fd, p, len);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        len -= (size_t)w;
    }
    return true;
}

/* ---------------------------------------------------------------------------------------- */
/* The worker.                                                                              */

/* Wait up to timeout_s (< 0: forever) for fd to be readable; false on timeout. */
static bool
s_wait_readable(int fd, double timeout_s)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    struct timespec ts, *tp = NULL;

    if (timeout_s >= 0) {
        ts.tv_sec = (time_t)timeout_s;
        ts.tv_nsec = (long)((timeout_s - (double)ts.tv_sec) * 1e9);
        tp = &ts;
    }
    return ppoll(&p, 1, tp, NULL) > 0;
}

/*
 * Take up to max requests into ids: the first one waits as long as it takes,
 * the others until delay_s after it.  Returns how many, 0 at the end (the
 * parent closed the pipe).
 */
static int
s_take_batch(int fd, uint64_t *ids, int max, double delay_s)
{
    double deadline = 0;
    int n = 0;

    while (n < max) {
        s_req_t r;
        ssize_t got = read(fd, &r, sizeof(r));

        if (got == (ssize_t)sizeof(r)) {
            ids[n++] = r.id;
            if (n == 1)
                deadline = ad_clock_now() + delay_s;
            continue;
        }
        if (got == 0)
            return n; /* the end: run what it has */
        if (got < 0 && errno != EAGAIN && errno != EINTR)
            return n;
        if (n == 0) {
            s_wait_readable(fd, -1);
            continue;
        }
        double left = deadline - ad_clock_now();
        if (left <= 0 || !s_wait_readable(fd, left))
            break;
    }
    return n;
}

static int
s_worker_serve(ad_infer_t *model, const s_opts_t *o, int batch, int req_fd, int resp_fd)
{
    int c, h, w, classes = ad_infer_classes(model);
    uint64_t ids[S_BATCH_MAX];
    s_resp_t resp[S_BATCH_MAX];
    ad_err_t err = {0};
    float *x, *logits;
    size_t sample;
    int n;

    ad_infer_shape(model, &c, &h, &w);
    sample = (size_t)c * (size_t)h * (size_t)w;
    x = malloc(sizeof(*x) * sample * (size_t)batch);
    logits = malloc(sizeof(*logits) * (size_t)classes * (size_t)batch);
    if (!x || !logits)
        abort();
    for (size_t i = 0; i < sample * (size_t)batch; i++)
        x[i] = (float)((i * 2654435761u) % 2000) / 1000.0f - 1.0f;
    while ((n = s_take_batch(req_fd, ids, batch, o->max_delay_ms / 1000.0)) > 0) {
        if (ad_infer_run(model, x, n, logits, &err)) {
            fprintf(stderr, "autodist-infer-bench: worker %d: %s\n", (int)getpid(), err.msg);
            break;
        }
        for (int i = 0; i < n; i++)
            resp[i] = (s_resp_t){.id = ids[i], .batch = (uint32_t)n};
        /* In writes of at most PIPE_BUF: atomic, so workers' answers never interleave. */
        for (int i = 0; i < n; i += S_RESP_CHUNK) {
            int k = n - i < S_RESP_CHUNK ? n - i : S_RESP_CHUNK;

            if (!s_write_all(resp_fd, resp + i, sizeof(resp[0]) * (size_t)k))
                goto out_free;
        }
    }
out_free:
    free(x);
    free(logits);
    return n == 0 ? S_EXIT_OK : S_EXIT_FAIL;
}

/* A worker process: load, warm up, say ready, serve until the request pipe closes. */
static int
s_worker(const s_opts_t *o, s_layout_t l, int req_fd, int resp_fd, int ready_fd)
{
    s_ready_t ready = {0};
    ad_infer_t *model = NULL;
    ad_err_t err = {0};
    int c, h, w, rc;
    float *x, *logits;

    ad_infer_set_threads(l.threads);
    if (ad_infer_load(o->dir, &model, &err)) {
        snprintf(ready.error, sizeof(ready.error), "%s", err.msg);
        s_write_all(ready_fd, &ready, sizeof(ready));
        return S_EXIT_FAIL;
    }
    ad_infer_shape(model, &c, &h, &w);
    x = calloc((size_t)l.batch * (size_t)c * (size_t)h * (size_t)w, sizeof(*x));
    logits = calloc((size_t)l.batch * (size_t)ad_infer_classes(model), sizeof(*logits));
    if (!x || !logits)
        abort();
    /* Warm-up: the first runs allocate and pick kernels; a full batch and a single sample. */
    rc = ad_infer_run(model, x, l.batch, logits, &err);
    if (!rc)
        rc = ad_infer_run(model, x, 1, logits, &err);
    free(x);
    free(logits);
    ready.ok = rc == 0;
    snprintf(ready.backend, sizeof(ready.backend), "%s", ad_infer_backend());
    if (rc)
        snprintf(ready.error, sizeof(ready.error), "%s", err.msg);
    s_write_all(ready_fd, &ready, sizeof(ready));
    close(ready_fd);
    if (!rc)
        rc = s_worker_serve(model, o, l.batch, req_fd, resp_fd);
    ad_infer_free(&model);
    return rc ? S_EXIT_FAIL : S_EXIT_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* The pool of workers.                                                                     */

/*
 * Stop the workers: they see the end of the request pipe after what is queued
 * in it; now (a backlog left by an overloaded open loop): end them at once.
 */
static void
s_pool_stop(s_pool_t *pool, bool now)
{
    if (pool->req_fd >= 0)
        close(pool->req_fd);
    pool->req_fd = -1;
    for (int i = 0; i < pool->n; i++) {
        int status;
        /* A worker in the middle of a batch finishes it; one that hangs is ended. */
        for (int tries = 0; !now && tries < 200; tries++) {
            if (waitpid(pool->pids[i], &status, WNOHANG) != 0)
                goto next;
            usleep(25000);
        }
        kill(pool->pids[i], SIGKILL);
        waitpid(pool->pids[i], &status, 0);
    next:;
    }
    pool->n = 0;
    if (pool->resp_fd >= 0)
        close(pool->resp_fd);
    pool->resp_fd = -1;
}

/* Wait for the n ready messages on fd; false with err set when one failed or timed out. */
static bool
s_pool_ready(s_pool_t *pool, int fd, int n, ad_err_t *err)
{
    double deadline = ad_clock_now() + S_READY_TIMEOUT_S;

    for (int i = 0; i < n; i++) {
        s_ready_t r;
        size_t got = 0;

        while (got < sizeof(r)) {
            double left = deadline - ad_clock_now();
            ssize_t k;

            if (left <= 0 || !s_wait_readable(fd, left)) {
                ad_err_set(err, AD_EPEER, "%s: a worker did not load the model in %.0f s",
                           "autodist-infer-bench", S_READY_TIMEOUT_S);
                return false;
            }
            k = read(fd, (char *)&r + got, sizeof(r) - got);
            if (k <= 0) {
                ad_err_set(err, AD_EPEER, "autodist-infer-bench: a worker died while loading");
                return false;
            }
            got += (size_t)k;
        }
        if (!r.ok) {
            ad_err_set(err, AD_ECKPT, "%s", r.error);
            return false;
        }
        snprintf(pool->backend, sizeof(pool->backend), "%s", r.backend);
    }
    return true;
}

static int
s_pool_start(s_pool_t *pool, const s_opts_t *o, s_layout_t l, ad_err_t *err)
{
    int req[2], resp[2], ready[2];
    bool ok;

    memset(pool, 0, sizeof(*pool));
    pool->req_fd = pool->resp_fd = -1;
    if (pipe(req) || pipe(resp) || pipe(ready))
        return ad_err_set(err, -errno, "autodist-infer-bench: pipe: %s", strerror(errno));
    /* The workers share the read end: none may block on a request another took. */
    fcntl(req[0], F_SETFL, O_NONBLOCK);
    fcntl(req[1], F_SETFL, O_NONBLOCK);
    fflush(NULL);
    for (int i = 0; i < l.procs; i++) {
        pid_t pid = fork();

        if (pid < 0) {
            ad_err_set(err, -errno, "autodist-infer-bench: fork: %s", strerror(errno));
            break;
        }
        if (pid == 0) {
            close(req[1]);
            close(resp[0]);
            close(ready[0]);
            _exit(s_worker(o, l, req[0], resp[1], ready[1]));
        }
        pool->pids[pool->n++] = pid;
    }
    close(req[0]);
    close(resp[1]);
    close(ready[1]);
    pool->req_fd = req[1];
    pool->resp_fd = resp[0];
    ok = pool->n == l.procs && s_pool_ready(pool, ready[0], l.procs, err);
    close(ready[0]);
    if (!ok) {
        s_pool_stop(pool, true);
        return err->code ? err->code : AD_EPEER;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* The load.                                                                                */

/* One measurement's bookkeeping. */
typedef struct {
    double *due;        /* when request i was due (monotonic s) */
    double *latency_ms; /* latencies of the window's requests */
    uint64_t n_due;     /* requests made */
    uint64_t cap;       /* room in due */
    uint64_t sent;      /* requests written to the pipe (the others wait in order) */
    int64_t n_lat;      /* latencies kept */
    int64_t answered;   /* answers of the window's requests */
    int64_t in_window;  /* answers that came inside the window */
    int64_t outstanding;
    double batch_sum; /* sum of the batch sizes of the window's answers */
    double t_warm, t_end;
    uint64_t gen; /* this measurement's number, in the high bits of its ids */
} s_load_t;

static void
s_load_due(s_load_t *ld, double t)
{
    if (ld->n_due == ld->cap) {
        ld->cap = ld->cap ? ld->cap * 2 : 4096;
        ld->due = realloc(ld->due, sizeof(*ld->due) * ld->cap);
        ld->latency_ms = realloc(ld->latency_ms, sizeof(*ld->latency_ms) * ld->cap);
        if (!ld->due || !ld->latency_ms)
            abort();
    }
    ld->due[ld->n_due++] = t;
    ld->outstanding++;
}

/* Write the requests that are due and not sent yet, as many as the pipe takes. */
static void
s_load_flush(s_load_t *ld, int fd)
{
    s_req_t reqs[256];

    while (ld->sent < ld->n_due) {
        size_t k = 0;

        while (k < 256 && ld->sent + k < ld->n_due) {
            reqs[k].id = ld->gen << S_GEN_SHIFT | (ld->sent + k);
            k++;
        }
        ssize_t w = write(fd, reqs, sizeof(reqs[0]) * k);
        if (w <= 0)
            return;
        ld->sent += (uint64_t)w / sizeof(reqs[0]);
        if ((size_t)w < sizeof(reqs[0]) * k)
            return;
    }
}

/* Read the answers there are; returns how many were this measurement's, -1 at the end. */
static int
s_load_answers(s_load_t *ld, int fd)
{
    s_resp_t resp[256];
    ssize_t got = read(fd, resp, sizeof(resp));
    double now = ad_clock_now();
    int n, ours;

    if (got <= 0)
        return got == 0 ? -1 : 0;
    /* Answers are written whole (<= PIPE_BUF), so a read never splits one. */
    n = ours = (int)(got / (ssize_t)sizeof(resp[0]));
    for (int i = 0; i < n; i++) {
        uint64_t k = resp[i].id & ((1ULL << S_GEN_SHIFT) - 1);
        double due;

        if (resp[i].id >> S_GEN_SHIFT != ld->gen || k >= ld->n_due) {
            ours--; /* an answer left over from the measurement before */
            continue;
        }
        due = ld->due[k];
        ld->outstanding--;
        if (now >= ld->t_warm && now <= ld->t_end)
            ld->in_window++;
        if (due < ld->t_warm || due > ld->t_end)
            continue;
        ld->latency_ms[ld->n_lat++] = (now - due) * 1000.0;
        ld->answered++;
        ld->batch_sum += resp[i].batch;
    }
    return ours;
}

static int
s_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Nearest-rank percentile q of the n sorted values. */
static double
s_percentile(const double *v, int64_t n, double q)
{
    int64_t k;

    if (n == 0)
        return NAN;
    k = (int64_t)ceil(q * (double)n) - 1;
    return v[k < 0 ? 0 : (k >= n ? n - 1 : k)];
}

static void
s_load_figures(s_load_t *ld, s_figures_t *f)
{
    double sum = 0;

    qsort(ld->latency_ms, (size_t)ld->n_lat, sizeof(double), s_cmp_double);
    for (int64_t i = 0; i < ld->n_lat; i++)
        sum += ld->latency_ms[i];
    f->samples = ld->n_lat;
    f->samples_per_s = (double)ld->in_window / (ld->t_end - ld->t_warm);
    f->p50_ms = s_percentile(ld->latency_ms, ld->n_lat, 0.50);
    f->p95_ms = s_percentile(ld->latency_ms, ld->n_lat, 0.95);
    f->p99_ms = s_percentile(ld->latency_ms, ld->n_lat, 0.99);
    f->mean_ms = ld->n_lat ? sum / (double)ld->n_lat : NAN;
    f->mean_batch = ld->answered ? ld->batch_sum / (double)ld->answered : NAN;
}

/*
 * Load the pool: closed loop with concurrency requests outstanding (rate
 * NaN), or open loop with Poisson arrivals at rate per second.
 */
static int
s_measure(s_pool_t *pool, const s_opts_t *o, int concurrency, double rate, uint64_t *seed,
          s_figures_t *f)
{
    static uint64_t gen;
    s_load_t ld = {.gen = ++gen};
    bool open = !isnan(rate);
    double t0 = ad_clock_now(), next = t0, drain_end;
    int rc = 0;

    memset(f, 0, sizeof(*f));
    f->started = s_wall();
    ld.t_warm = t0 + o->warmup_s;
    ld.t_end = ld.t_warm + o->duration_s;
    drain_end = ld.t_end + fmax(S_DRAIN_S, o->duration_s);
    if (!open)
        for (int i = 0; i < concurrency; i++)
            s_load_due(&ld, t0);
    for (;;) {
        double now = ad_clock_now(), wait_s;
        struct pollfd p[2] = {{.fd = pool->resp_fd, .events = POLLIN},
                              {.fd = pool->req_fd, .events = POLLOUT}};

        while (open && next <= now && now < ld.t_end) {
            s_load_due(&ld, next);
            next += -log(1.0 - ad_rand_uniform(seed)) / rate;
        }
        s_load_flush(&ld, pool->req_fd);
        if (now >= ld.t_end && (ld.outstanding == 0 || now >= drain_end))
            break;
        /*
         * Open loop: wake for the next arrival, but not more often than
         * S_TICK_S, so the load generator does not take the workers' cores;
         * a request sent late still counts from when it was due.
         */
        wait_s = open && now < ld.t_end ? fmin(fmax(next - now, S_TICK_S), 0.05) : 0.05;
        if (ppoll(p, ld.sent < ld.n_due ? 2 : 1,
                  &(struct timespec){0, (long)(fmax(wait_s, 0) * 1e9)}, NULL) <= 0)
            continue;
        if (p[0].revents & (POLLIN | POLLHUP)) {
            int n = s_load_answers(&ld, pool->resp_fd);

            if (n < 0) {
                rc = AD_EPEER;
                break;
            }
            /* Closed loop: each answer makes room for one more request. */
            for (int i = 0; !open && i < n && ad_clock_now() < ld.t_end; i++)
                s_load_due(&ld, ad_clock_now());
        }
    }
    s_load_figures(&ld, f);
    f->late = ld.outstanding;
    f->ended = s_wall();
    free(ld.due);
    free(ld.latency_ms);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Output.                                                                                  */

static void
s_print(const s_layout_t *l, const char *mode, int concurrency, double rate, bool sequential,
        const s_figures_t *f, const char *backend)
{
    json_t *o = json_object();
    char *text;

    json_object_set_new(o, "procs", json_integer(l->procs));
    json_object_set_new(o, "threads", json_integer(l->threads));
    json_object_set_new(o, "batch", json_integer(l->batch));
    json_object_set_new(o, "mode", json_string(mode));
    json_object_set_new(o, "sequential", json_boolean(sequential));
    json_object_set_new(o, "concurrency",
                        concurrency > 0 ? json_integer(concurrency) : json_null());
    json_object_set_new(o, "rate", isnan(rate) ? json_null() : json_real(rate));
    json_object_set_new(o, "samples_per_s", json_real(f->samples_per_s));
#define S_REAL_OR_NULL(key, v) json_object_set_new(o, key, isnan(v) ? json_null() : json_real(v))
    S_REAL_OR_NULL("p50_ms", f->p50_ms);
    S_REAL_OR_NULL("p95_ms", f->p95_ms);
    S_REAL_OR_NULL("p99_ms", f->p99_ms);
    S_REAL_OR_NULL("mean_ms", f->mean_ms);
    S_REAL_OR_NULL("mean_batch", f->mean_batch);
#undef S_REAL_OR_NULL
    json_object_set_new(o, "samples", json_integer(f->samples));
    json_object_set_new(o, "late", json_integer(f->late));
    json_object_set_new(o, "started", json_real(f->started));
    json_object_set_new(o, "ended", json_real(f->ended));
    json_object_set_new(o, "backend", json_string(backend));
    text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
    printf("%s\n", text);
    /* Whoever reads us is gone (autodist bench-infer stopped): stop too. */
    if (fflush(stdout) == EOF || ferror(stdout)) {
        fprintf(stderr, "autodist-infer-bench: stdout: %s\n", strerror(errno));
        exit(S_EXIT_FAIL);
    }
    free(text);
    json_decref(o);
    fprintf(stderr,
            "autodist-infer-bench: %dx%dx%d %s%s: %.1f samples/s, p50 %.2f ms, p95 %.2f ms, "
            "p99 %.2f ms\n",
            l->procs, l->threads, l->batch, sequential ? "sequential " : "", mode, f->samples_per_s,
            f->p50_ms, f->p95_ms, f->p99_ms);
}

/* Measure layout l: closed loop, then the open-loop rates; sequential: 1x1x1 at C = 1 only. */
static int
s_bench_layout(const s_opts_t *o, s_layout_t l, bool sequential, uint64_t *seed, ad_err_t *err)
{
    s_pool_t pool;
    s_figures_t closed = {0}, f = {0};
    int c = sequential ? 1 : (o->concurrency > 0 ? o->concurrency : l.procs * l.batch * 2);
    int rc;

    rc = s_pool_start(&pool, o, l, err);
    if (rc)
        return rc;
    rc = s_measure(&pool, o, c, NAN, seed, &closed);
    if (!rc)
        s_print(&l, "closed", c, NAN, sequential, &closed, pool.backend);
    for (int i = 0; !rc && !sequential && i < o->n_fractions && closed.samples_per_s > 0; i++) {
        double rate = closed.samples_per_s * o->fractions[i];

        rc = s_measure(&pool, o, 0, rate, seed, &f);
        if (!rc)
            s_print(&l, "open", 0, rate, false, &f, pool.backend);
        /* Requests left queued would load the next measurement: fresh workers for it. */
        if (!rc && f.late > 0 && i + 1 < o->n_fractions) {
            s_pool_stop(&pool, true);
            rc = s_pool_start(&pool, o, l, err);
            if (rc)
                return rc;
        }
    }
    s_pool_stop(&pool, closed.late > 0 || f.late > 0);
    if (rc)
        ad_err_set(err, rc, "autodist-infer-bench: layout %dx%dx%d: a worker stopped answering",
                   l.procs, l.threads, l.batch);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Command line.                                                                            */

static void
s_usage(FILE *out)
{
    fprintf(out,
            "usage: autodist-infer-bench MODEL_DIR [--layouts PxTxB,...] [--duration S]\n"
            "                            [--warmup S] [--max-delay-ms MS] [--concurrency C]\n"
            "                            [--open F,...] [--no-seq] [--seed N]\n"
            "Measures the artifact in MODEL_DIR without HTTP, one layout after the other: P\n"
            "worker processes x T intra-op threads, each running up to B queued single-sample\n"
            "requests as one batch.  Prints one JSON object per layout and load mode on stdout.\n"
            "  --layouts L      PxTxB,... (default: every P*T <= the cores, B in 1,4,8,16,32)\n"
            "  --duration S     measured seconds of each load mode (default 1)\n"
            "  --warmup S       seconds before it, not measured (default 0.3)\n"
            "  --max-delay-ms   how long a batch waits for more requests (default 0, as\n"
            "                   autodist serve)\n"
            "  --concurrency C  closed loop: requests outstanding (default P*B*2)\n"
            "  --open F,...     open loop (Poisson) at these fractions of the closed loop's\n"
            "                   throughput (default 0.5,0.9; 0 = closed loop only)\n"
            "  --no-seq         skip the sequential baseline (1x1x1, one request at a time)\n"
            "  --seed N         seed of the arrivals (default 1)\n");
}

/* Parse "PxTxB"; false when it is not three positive integers. */
static bool
s_parse_layout(const char *text, s_layout_t *l)
{
    char tail;

    return sscanf(text, "%dx%dx%d%c", &l->procs, &l->threads, &l->batch, &tail) == 3 &&
           l->procs >= 1 && l->procs <= S_PROCS_MAX && l->threads >= 1 && l->threads <= 1024 &&
           l->batch >= 1 && l->batch <= S_BATCH_MAX;
}

static bool
s_parse_layouts(const char *text, s_opts_t *o)
{
    char *copy = strdup(text), *save = NULL;
    bool ok = true;

    o->n_layouts = 0;
    for (char *t = strtok_r(copy, ",", &save); t && ok; t = strtok_r(NULL, ",", &save)) {
        ok = o->n_layouts < S_LAYOUTS_MAX && s_parse_layout(t, &o->layouts[o->n_layouts]);
        if (ok)
            o->n_layouts++;
        else
            fprintf(stderr,
                    "autodist-infer-bench: --layouts: \"%s\": expected PxTxB, e.g. 2x1x8 "
                    "(at most %d layouts)\n",
                    t, S_LAYOUTS_MAX);
    }
    free(copy);
    return ok && o->n_layouts > 0;
}

/* The default grid: every P x T with P*T <= cores (P, T in 1, 2, 4, ..., cores), B in 1..32. */
static void
s_default_layouts(s_opts_t *o)
{
    static const int batches[] = {1, 4, 8, 16, 32};
    long cores = sysconf(_SC_NPROCESSORS_ONLN);

    o->n_layouts = 0;
    for (int p = 1; p <= cores; p *= 2)
        for (int t = 1; p * t <= cores; t *= 2)
            for (size_t b = 0; b < sizeof(batches) / sizeof(batches[0]); b++)
                if (o->n_layouts < S_LAYOUTS_MAX)
                    o->layouts[o->n_layouts++] = (s_layout_t){p, t, batches[b]};
}

static bool
s_parse_fractions(const char *text, s_opts_t *o)
{
    char *copy = strdup(text), *save = NULL;
    bool ok = true;

    o->n_fractions = 0;
    for (char *t = strtok_r(copy, ",", &save); t && ok; t = strtok_r(NULL, ",", &save)) {
        char *end;
        double v = strtod(t, &end);

        if (*end || v < 0 || v > 10 || o->n_fractions >= 4)
            ok = false;
        else if (v > 0)
            o->fractions[o->n_fractions++] = v;
    }
    free(copy);
    if (!ok)
        fprintf(stderr,
                "autodist-infer-bench: --open: \"%s\": expected up to 4 fractions of "
                "the closed loop's throughput, e.g. 0.5,0.9\n",
                text);
    return ok;
}

/* A number of seconds in [min, 3600] (core/ad_opt.c), or false with a message naming the option. */
static bool
s_parse_seconds(const char *opt, const char *text, double min, double *out)
{
    ad_err_t err = {0};

    if (ad_opt_seconds(opt, text, min, 3600, 0, out, &err)) {
        fprintf(stderr, "autodist-infer-bench: %s\n", err.msg);
        return false;
    }
    return true;
}

static int
s_parse(int argc, char **argv, s_opts_t *o)
{
    static const struct option longs[] = {{"layouts", required_argument, NULL, 'l'},
                                          {"duration", required_argument, NULL, 'd'},
                                          {"warmup", required_argument, NULL, 'w'},
                                          {"max-delay-ms", required_argument, NULL, 'm'},
                                          {"concurrency", required_argument, NULL, 'c'},
                                          {"open", required_argument, NULL, 'o'},
                                          {"no-seq", no_argument, NULL, 'n'},
                                          {"seed", required_argument, NULL, 's'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    bool layouts = false;
    int ch;

    *o = (s_opts_t){.duration_s = 1.0,
                    .warmup_s = 0.3,
                    .max_delay_ms = 0.0,
                    .fractions = {0.5, 0.9},
                    .n_fractions = 2,
                    .sequential = true,
                    .seed = 1};
    while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        bool ok = true;

        switch (ch) {
        case 'l':
            ok = layouts = s_parse_layouts(optarg, o);
            break;
        case 'd':
            ok = s_parse_seconds("--duration", optarg, 0.05, &o->duration_s);
            break;
        case 'w':
            ok = s_parse_seconds("--warmup", optarg, 0, &o->warmup_s);
            break;
        case 'm':
            ok = s_parse_seconds("--max-delay-ms", optarg, 0, &o->max_delay_ms);
            break;
        case 'c':
            o->concurrency = atoi(optarg);
            ok = o->concurrency >= 1 && o->concurrency <= 100000;
            if (!ok)
                fprintf(stderr,
                        "autodist-infer-bench: --concurrency: \"%s\": expected 1 to "
                        "100000\n",
                        optarg);
            break;
        case 'o':
            ok = s_parse_fractions(optarg, o);
            break;
        case 'n':
            o->sequential = false;
            break;
        case 's':
            o->seed = strtoull(optarg, NULL, 10) | 1;
            break;
        case 'h':
            s_usage(stdout);
            return -1;
        default:
            ok = false;
            break;
        }
        if (!ok)
            return S_EXIT_USAGE;
    }
    if (optind + 1 != argc) {
        s_usage(stderr);
        return S_EXIT_USAGE;
    }
    o->dir = argv[optind];
    if (!layouts)
        s_default_layouts(o);
    return 0;
}

int
main(int argc, char **argv)
{
    s_opts_t o;
    ad_err_t err = {0};
    uint64_t seed;
    int rc = s_parse(argc, argv, &o);

    if (rc)
        return rc < 0 ? S_EXIT_OK : rc;
    seed = o.seed * 0x9E3779B97F4A7C15ULL | 1;
    signal(SIGPIPE, SIG_IGN);
    if (o.sequential)
        rc = s_bench_layout(&o, (s_layout_t){1, 1, 1}, true, &seed, &err);
    for (int i = 0; !rc && i < o.n_layouts; i++)
        rc = s_bench_layout(&o, o.layouts[i], false, &seed, &err);
    if (rc) {
        fprintf(stderr, "%s\n", err.msg);
        return S_EXIT_FAIL;
    }
    return S_EXIT_OK;
}
