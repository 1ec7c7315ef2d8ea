/* ad_bench.h - micro-benchmarks of a node (GEMM through libtorch, memory triad) and their cache */
#ifndef AD_BENCH_H
#define AD_BENCH_H

#include <stdbool.h>
#include <stddef.h>

#include "autodist/ad_error.h"
#include "autodist/ad_profile.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Defaults: a few seconds in all, within the agent's 10 s start budget even
 * where libtorch multiplies matrices with the reference BLAS (2.5 GFLOP/s).
 */
#define AD_BENCH_GEMM_N 512               /* matrix side */
#define AD_BENCH_GEMM_REPEATS 3           /* products per timing */
#define AD_BENCH_ROUNDS 3                 /* timings per figure; the best one counts */
#define AD_BENCH_GEMM_BUDGET_S 2.0        /* no new GEMM round starts after this long */
#define AD_BENCH_TRIAD_BYTES (256u << 20) /* the three triad arrays together */
#define AD_BENCH_MAX_AGE_DAYS 30          /* cached figures older than this are rerun */

/* The folder under the autodist home where cached profiles live. */
#define AD_BENCH_CACHE_DIR "profiles"

/* How to benchmark; zeroed fields take the defaults above. */
typedef struct ad_bench_opts {
    int gemm_n;         /* matrix side */
    int gemm_repeats;   /* products per timing */
    int rounds;         /* timings per figure, best kept */
    size_t triad_bytes; /* total size of the triad arrays */
    int threads;        /* all-core threads; 0 = the profile's cores */
    int max_age_days;   /* cache lifetime */
} ad_bench_opts_t;

/*
 * Best-of-rounds float32 GFLOP/s of an n x n GEMM through the libtorch shim
 * on threads threads (this sets libtorch's threads for the process and
 * leaves them so).  A slow machine runs fewer rounds: none starts after
 * AD_BENCH_GEMM_BUDGET_S, though one always runs.  Returns 0 when libtorch
 * fails.
 */
double ad_bench_gemm_gflops(int n, int repeats, int rounds, int threads);

/*
 * STREAM-like triad a[i] = b[i] + s * c[i] over three double arrays of
 * bytes/3 each, split across threads pthreads that first-touch their own
 * slices (so pages land on their NUMA nodes).  Sets *gbs to the best of
 * rounds passes, in GB/s (1e9 bytes, 24 bytes counted per element as
 * STREAM does).  Returns 0, or -EAGAIN/-ENOMEM with err set when threads
 * or memory cannot be had.
 */
int ad_bench_triad_gbs(size_t bytes, int threads, int rounds, double *gbs, ad_err_t *err);

/*
 * Run the GEMM (one thread, then one per core) and triad benchmarks for p
 * and fill out; measured_at is now and cached false.  Returns 0 or the
 * error of ad_bench_triad_gbs(); AD_ETORCH when a GEMM figure is 0.
 */
int ad_bench_run(const ad_profile_t *p, const ad_bench_opts_t *opts, ad_profile_bench_t *out,
                 ad_err_t *err);

/*
 * Give p benchmark figures: those of CACHE_DIR/<fingerprint>.yaml when it
 * exists, describes the same hardware class, was measured with the same
 * sizes and is younger than the cache lifetime (bench.cached is then true),
 * else fresh ones from ad_bench_run(), which are written to that file
 * atomically.  force skips the cache.  cache_dir NULL means
 * $AUTODIST_HOME/profiles (~/.autodist/profiles), created when missing.
 * An unreadable cache entry is measured again, and a cache that cannot be
 * written is a warning, not a failure.  Defined with the benchmarks so
 * that ad_profile.c needs no libtorch.  Returns 0 or a negative code with
 * err set (the home cannot be found, a benchmark failed).
 */
int ad_bench_profile(ad_profile_t *p, bool force, const char *cache_dir, ad_err_t *err);

/* ad_bench_profile() with explicit sizes (opts may be NULL for the defaults). */
int ad_bench_profile_opts(ad_profile_t *p, const ad_bench_opts_t *opts, bool force,
                          const char *cache_dir, ad_err_t *err);

#ifdef __cplusplus
}
#endif

#endif
