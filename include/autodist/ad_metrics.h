/* ad_metrics.h - training events as JSON lines, and as METRIC messages to the coordinator */
#ifndef AD_METRICS_H
#define AD_METRICS_H

#include <stdint.h>

#include <jansson.h>

#include "autodist/ad_error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ad_metrics ad_metrics_t;

/*
 * Open path for events (truncating unless append); path may be NULL when
 * events only go to a coordinator (ad_metrics_report()).  Returns NULL with
 * err naming the file when it cannot be opened.  The caller owns the result
 * (ad_metrics_close()).
 */
ad_metrics_t *ad_metrics_open(const char *path, int append, ad_err_t *err);

/*
 * Also send every event to the coordinator at endpoint as METRIC {job, ...}
 * (docs/protocol.md) on a PUSH socket that never blocks: while the
 * coordinator is away events are dropped, never the training step delayed.
 * Over CURVE with the node keys of $AUTODIST_KEYS (the coordinator sets it;
 * "none": in the clear), else $AUTODIST_HOME/keys/node when it holds keys.
 * Returns 0, or AD_EINVAL/-errno with err for a bad endpoint or keys named
 * by $AUTODIST_KEYS that are missing (-ENOENT naming the file).
 */
int ad_metrics_report(ad_metrics_t *self, const char *endpoint, int64_t job, ad_err_t *err);

/* Events the coordinator could not take (dropped while it was away). */
int64_t ad_metrics_dropped(const ad_metrics_t *self);

/* Flush and close; NULL-safe and idempotent, sets *self_p to NULL. */
void ad_metrics_close(ad_metrics_t **self_p);

/*
 * Write {"event": name, ...fields} as one line and flush it, and send it to
 * the coordinator when reporting; takes ownership of fields (may be NULL).
 * Returns 0, or AD_EIO with err naming the file (a full disk, say); a NULL
 * self writes nothing and returns 0.  Reporting never fails a call.
 */
int ad_metrics_emit(ad_metrics_t *self, const char *event, json_t *fields, ad_err_t *err);

/* ---- Steady-state throughput (docs/speedup.md): one definition, used everywhere ---- */

/* Fewest warm-up steps a run leaves out of its throughput. */
#define AD_METRICS_WARMUP_MIN 3

/*
 * The warm-up of a run of steps steps: a tenth of them, at least
 * AD_METRICS_WARMUP_MIN, never more than half.
 */
int64_t ad_metrics_warmup_steps(int64_t steps);

/* The steady-state steps of a run: their rate and its spread; zero-filled to start. */
typedef struct ad_metrics_steady {
    int64_t steps;  /* steps past the warm-up */
    double samples; /* their samples */
    double step_s;  /* their time */
    double mean;    /* running mean of the per-step samples/s (Welford) */
    double m2;      /* and its sum of squared deviations */
} ad_metrics_steady_t;

/* Add one step of samples in step_s seconds (> 0). */
void ad_metrics_steady_add(ad_metrics_steady_t *st, double samples, double step_s);

/* The steady-state rate: samples / time over the steps added; NaN without any. */
double ad_metrics_steady_sps(const ad_metrics_steady_t *st);

/* The standard deviation of the per-step samples/s; NaN with fewer than two steps. */
double ad_metrics_steady_sd(const ad_metrics_steady_t *st);

/*
 * Collective over MPI_COMM_WORLD: the user + system CPU seconds of all ranks
 * (summed) and the largest rank's peak resident memory in bytes, valid on rank 0.
 */
void ad_metrics_resources(double *cpu_s, double *max_rss);

#ifdef __cplusplus
}
#endif

#endif
