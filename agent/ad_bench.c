/* ad_bench.c - micro-benchmarks of a node: GEMM GFLOP/s through oneDNN, triad bandwidth, cache */
#include "autodist/ad_bench.h"

#include <errno.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <oneapi/dnnl/dnnl.h>

#include "autodist/ad_clock.h"
#include "autodist/ad_home.h"
#include "autodist/ad_log.h"

/* A cache entry stamped this far in the future comes from a skewed clock: measure again. */
#define S_CLOCK_SLACK_S (24 * 3600)


/*
 * GFLOP/s of one n x n x n sgemm, timed over repeats products after a warm-up:
 * the same oneDNN sgemm the trainer's linear layers run (trainer/torch), on
 * the OpenMP threads of this process.  0 when n or repeats < 1 or oneDNN fails.
 */
static double
s_sgemm_gflops(int n, int repeats)
{
    size_t nn = (size_t)n * (size_t)n;
    float *a, *b, *c;
    unsigned seed = 12345;
    double t0, s, gflops = 0;

    if (n < 1 || repeats < 1)
        return 0;
    a = ad_malloc(nn * sizeof(float));
    b = ad_malloc(nn * sizeof(float));
    c = ad_calloc(nn, sizeof(float));
    for (size_t i = 0; i < nn; i++) {
        /* Uniform in [0, 1) like torch::rand: no denormals, no zeros to skip. */
        seed = seed * 1103515245u + 12345u;
        a[i] = (float)(seed >> 8) / 16777216.0f;
        seed = seed * 1103515245u + 12345u;
        b[i] = (float)(seed >> 8) / 16777216.0f;
    }
    if (dnnl_sgemm('N', 'N', n, n, n, 1.0f, a, n, b, n, 0.0f, c, n) != dnnl_success)
        goto out_free;
    t0 = ad_clock_now();
    for (int i = 0; i < repeats; i++)
        if (dnnl_sgemm('N', 'N', n, n, n, 1.0f, a, n, b, n, 0.0f, c, n) != dnnl_success)
            goto out_free;
    /* The clock counts microseconds: a tiny product may read as none, so count one. */
    s = fmax(ad_clock_now() - t0, 1e-6);
    gflops = 2.0 * n * n * (double)n * repeats / s / 1e9;
out_free:
    free(c);
    free(b);
    free(a);
    return gflops;
}

double
ad_bench_gemm_gflops(int n, int repeats, int rounds, int threads)
{
    double best = 0, t0 = ad_clock_now();

    /* oneDNN (OpenMP runtime) sizes its teams from the OpenMP setting. */
    omp_set_num_threads(threads < 1 ? 1 : threads);
    for (int r = 0; r < rounds && (r == 0 || ad_clock_now() - t0 < AD_BENCH_GEMM_BUDGET_S); r++) {
        double g = s_sgemm_gflops(n, repeats);

        if (g > best)
            best = g;
    }
    return best;
}

/*
 * A barrier whose size can shrink while threads wait, so that a run whose
 * n-th thread could not be started goes on with the ones it has.
 */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int size;            /* threads that make a round */
    int waiting;         /* threads waiting in this round */
    unsigned long round; /* bumped when a round is released */
} s_barrier_t;

static void
s_barrier_release(s_barrier_t *b)
{
    b->waiting = 0;
    b->round++;
    pthread_cond_broadcast(&b->cond);
}

static void
s_barrier_wait(s_barrier_t *b)
{
    unsigned long round;

    pthread_mutex_lock(&b->lock);
    round = b->round;
    if (++b->waiting >= b->size)
        s_barrier_release(b);
    else
        while (round == b->round)
            pthread_cond_wait(&b->cond, &b->lock);
    pthread_mutex_unlock(&b->lock);
}

static void
s_barrier_shrink(s_barrier_t *b, int size)
{
    pthread_mutex_lock(&b->lock);
    b->size = size;
    if (b->waiting && b->waiting >= size)
        s_barrier_release(b);
    pthread_mutex_unlock(&b->lock);
}

/* One triad worker: its slice of the arrays and the barrier that paces the rounds. */
typedef struct {
    double *a, *b, *c;    /* the shared arrays */
    size_t lo, hi;        /* this worker's elements */
    int rounds;           /* passes to run */
    s_barrier_t *barrier; /* shared by all workers; worker 0 is the calling thread */
    double *times;        /* rounds entries, written by worker 0 only */
} s_triad_t;

static void *
s_triad_worker(void *arg)
{
    s_triad_t *w = arg;
    const double s = 3.0;

    /* First touch: each worker's pages are placed on the NUMA node it runs on. */
    for (size_t i = w->lo; i < w->hi; i++) {
        w->a[i] = 0;
        w->b[i] = 1;
        w->c[i] = 2;
    }
    for (int r = 0; r < w->rounds; r++) {
        double t0;

        s_barrier_wait(w->barrier);
        t0 = ad_clock_now();
        for (size_t i = w->lo; i < w->hi; i++)
            w->a[i] = w->b[i] + s * w->c[i];
        s_barrier_wait(w->barrier);
        if (w->times)
            w->times[r] = ad_clock_now() - t0;
    }
    return NULL;
}

int
ad_bench_triad_gbs(size_t bytes, int threads, int rounds, double *gbs, ad_err_t *err)
{
    size_t n = bytes / 3 / sizeof(double);
    double *a = NULL, *b = NULL, *c = NULL, *times, best = 0;
    s_barrier_t barrier = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};
    s_triad_t *w;
    pthread_t *tid;
    int started = 1, rc = 0;

    *gbs = 0;
    if (threads < 1)
        threads = 1;
    if (rounds < 1)
        rounds = 1;
    if (n < (size_t)threads)
        n = (size_t)threads;
    /* Memory this large comes straight from mmap, untouched, so first touch places it. */
    if (posix_memalign((void **)&a, 64, n * sizeof(double)) ||
        posix_memalign((void **)&b, 64, n * sizeof(double)) ||
        posix_memalign((void **)&c, 64, n * sizeof(double))) {
        rc = ad_err_set(err, -ENOMEM, "triad: cannot allocate 3 x %zu MiB",
                        n * sizeof(double) >> 20);
        goto out_free;
    }
    w = ad_calloc((size_t)threads, sizeof(*w));
    tid = ad_calloc((size_t)threads, sizeof(*tid));
    times = ad_calloc((size_t)rounds, sizeof(*times));
    barrier.size = threads;
    for (int t = 0; t < threads; t++)
        w[t] = (s_triad_t){a,
                           b,
                           c,
                           n * (size_t)t / (size_t)threads,
                           n * ((size_t)t + 1) / (size_t)threads,
                           rounds,
                           &barrier,
                           t == 0 ? times : NULL};
    for (; started < threads; started++) {
        int e = pthread_create(&tid[started], NULL, s_triad_worker, &w[started]);

        if (e) {
            ad_log(AD_LOG_WARN, "triad: thread %d of %d not started (%s); measuring with %d",
                   started + 1, threads, strerror(e), started);
            s_barrier_shrink(&barrier, started);
            break;
        }
    }
    s_triad_worker(&w[0]);
    for (int t = 1; t < started; t++)
        pthread_join(tid[t], NULL);
    for (int r = 0; r < rounds; r++)
        if (times[r] > 0 && (best == 0 || times[r] < best))
            best = times[r];
    /* Workers 0..started-1 cover the elements up to the last one's end. */
    *gbs = best > 0 ? 3.0 * sizeof(double) * (double)w[started - 1].hi / best / 1e9 : 0;
    free(times);
    free(tid);
    free(w);
out_free:
    free(a);
    free(b);
    free(c);
    return rc;
}

static ad_bench_opts_t
s_defaults(const ad_profile_t *p, const ad_bench_opts_t *opts)
{
    ad_bench_opts_t o = opts ? *opts : (ad_bench_opts_t){0};

    if (o.gemm_n < 1)
        o.gemm_n = AD_BENCH_GEMM_N;
    if (o.gemm_repeats < 1)
        o.gemm_repeats = AD_BENCH_GEMM_REPEATS;
    if (o.rounds < 1)
        o.rounds = AD_BENCH_ROUNDS;
    if (!o.triad_bytes)
        o.triad_bytes = AD_BENCH_TRIAD_BYTES;
    if (o.threads < 1)
        o.threads = ad_profile_cores(p);
    if (o.max_age_days < 1)
        o.max_age_days = AD_BENCH_MAX_AGE_DAYS;
    return o;
}

/* Triad size as recorded in files: MiB, at least 1 so that small test runs are told apart. */
static int
s_triad_mib(size_t bytes)
{
    return bytes >> 20 ? (int)(bytes >> 20) : 1;
}

int
ad_bench_run(const ad_profile_t *p, const ad_bench_opts_t *opts, ad_profile_bench_t *out,
             ad_err_t *err)
{
    ad_bench_opts_t o = s_defaults(p, opts);
    double t0 = ad_clock_now();
    int rc;

    memset(out, 0, sizeof(*out));
    out->gemm_n = o.gemm_n;
    out->triad_mib = s_triad_mib(o.triad_bytes);
    out->gemm_gflops_1core = ad_bench_gemm_gflops(o.gemm_n, o.gemm_repeats, o.rounds, 1);
    out->gemm_gflops_all = ad_bench_gemm_gflops(o.gemm_n, o.gemm_repeats, o.rounds, o.threads);
    if (out->gemm_gflops_1core <= 0 || out->gemm_gflops_all <= 0)
        return ad_err_set(err, AD_EIO, "benchmark: oneDNN GEMM of %d x %d failed", o.gemm_n,
                          o.gemm_n);
    rc = ad_bench_triad_gbs(o.triad_bytes, o.threads, o.rounds, &out->mem_bandwidth_gbs, err);
    if (rc)
        return rc;
    /* Figures keep the digits a measurement can vouch for (files stay readable); 0 stays > 0. */
    out->gemm_gflops_1core = fmax(round(out->gemm_gflops_1core * 100) / 100, 0.01);
    out->gemm_gflops_all = fmax(round(out->gemm_gflops_all * 100) / 100, 0.01);
    out->mem_bandwidth_gbs = fmax(round(out->mem_bandwidth_gbs * 100) / 100, 0.01);
    out->seconds = round((ad_clock_now() - t0) * 1000) / 1000;
    out->measured_at = time(NULL);
    ad_log(AD_LOG_INFO,
           "benchmarks: gemm %.1f GFLOP/s on 1 core, %.1f on %d threads; triad %.1f GB/s; %.2f s",
           out->gemm_gflops_1core, out->gemm_gflops_all, o.threads, out->mem_bandwidth_gbs,
           out->seconds);
    return 0;
}

/* mkdir -p with mode for the missing folders; 0 or a negative errno with err set. */
static int
s_mkdirs(const char *path, mode_t mode, ad_err_t *err)
{
    char *p = ad_strdup(path);
    int rc = 0;

    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s)
            continue;
        char c = *s;

        *s = '\0';
        if (mkdir(p, mode) && errno != EEXIST) {
            rc = ad_err_set(err, -errno, "%s: cannot create: %s", p, strerror(errno));
            break;
        }
        *s = c;
        if (!c)
            break;
    }
    free(p);
    return rc;
}

/* True when cached holds figures p may take: same class, same sizes, young enough. */
static bool
s_cache_usable(const ad_profile_t *p, const ad_profile_t *cached, const ad_bench_opts_t *o,
               const char *path)
{
    const ad_profile_bench_t *b = ad_profile_bench_figures(cached);
    time_t now = time(NULL);

    if (strcmp(ad_profile_fingerprint(p), ad_profile_fingerprint(cached)) || !b || b->estimated)
        return false;
    if (b->gemm_n != o->gemm_n || b->triad_mib != s_triad_mib(o->triad_bytes)) {
        ad_log(AD_LOG_INFO, "%s: measured with other sizes; measuring again", path);
        return false;
    }
    if (b->measured_at > now + S_CLOCK_SLACK_S ||
        now - b->measured_at > (time_t)o->max_age_days * 24 * 3600) {
        ad_log(AD_LOG_INFO, "%s: older than %d days; measuring again", path, o->max_age_days);
        return false;
    }
    return true;
}

int
ad_bench_profile_opts(ad_profile_t *p, const ad_bench_opts_t *opts, bool force,
                      const char *cache_dir, ad_err_t *err)
{
    ad_bench_opts_t o = s_defaults(p, opts);
    ad_profile_bench_t bench;
    ad_profile_t *cached = NULL;
    ad_home_t home = {0};
    ad_err_t cerr = {0};
    char *dir, *path;
    int rc;

    if (!cache_dir) {
        rc = ad_home_resolve(NULL, &home, err);
        if (rc)
            return rc;
        dir = ad_malloc(strlen(home.root) + sizeof(AD_BENCH_CACHE_DIR) + 2);
        sprintf(dir, "%s/%s", home.root, AD_BENCH_CACHE_DIR);
        ad_home_clear(&home);
    } else {
        dir = ad_strdup(cache_dir);
    }
    path = ad_malloc(strlen(dir) + AD_PROFILE_FP_LEN + 8);
    sprintf(path, "%s/%s.yaml", dir, ad_profile_fingerprint(p));
    if (!force) {
        rc = ad_profile_load_yaml(path, &cached, &cerr);
        if (rc && rc != -ENOENT)
            ad_log(AD_LOG_WARN, "benchmark cache: %s; measuring again", cerr.msg);
        if (!rc && s_cache_usable(p, cached, &o, path)) {
            bench = *ad_profile_bench_figures(cached);
            bench.cached = true;
            ad_profile_set_bench(p, &bench);
            ad_log(AD_LOG_DEBUG, "%s: benchmark figures reused", path);
            rc = 0;
            goto out_free;
        }
        ad_profile_free(&cached);
    }
    rc = ad_bench_run(p, &o, &bench, err);
    if (rc)
        goto out_free;
    ad_profile_set_bench(p, &bench);
    /* The figures are good without the cache: failing to keep them costs the next start 3 s. */
    if (s_mkdirs(dir, 0755, &cerr) || ad_profile_save_yaml(p, path, &cerr))
        ad_log(AD_LOG_WARN, "benchmark cache not written: %s", cerr.msg);
    rc = 0;
out_free:
    ad_profile_free(&cached);
    free(path);
    free(dir);
    return rc;
}

int
ad_bench_profile(ad_profile_t *p, bool force, const char *cache_dir, ad_err_t *err)
{
    return ad_bench_profile_opts(p, NULL, force, cache_dir, err);
}
