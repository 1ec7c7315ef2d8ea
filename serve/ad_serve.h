/* ad_serve.h - autodist-serve's private header: the batcher, the metrics and the API they share */
#ifndef AD_SERVE_H
#define AD_SERVE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "autodist/ad_error.h"
#include "autodist/ad_http.h"
#include "autodist/ad_image.h"
#include "autodist/ad_infer.h"

/* ---- metrics (serve/ad_serve_metrics.c) ---------------------------------------------------- */

/* The server's counters and histograms, updated from any thread of any of its processes. */
typedef struct ad_serve_metrics ad_serve_metrics_t;

/* Why a request failed, one counter each (autodist_serve_errors_total{kind}). */
typedef enum {
    AD_SERVE_ERR_EMPTY,        /* an empty body or part */
    AD_SERVE_ERR_CONTENT_TYPE, /* neither multipart, image/\* nor octet-stream */
    AD_SERVE_ERR_NO_IMAGE,     /* a form without an image or file field */
    AD_SERVE_ERR_DECODE,       /* not an image, truncated, too large a picture */
    AD_SERVE_ERR_BAD_ARG,      /* a bad query argument (k) */
    AD_SERVE_ERR_NOT_READY,    /* the model is not loaded and warmed yet */
    AD_SERVE_ERR_OVERLOADED,   /* the queue is full */
    AD_SERVE_ERR_INFERENCE,    /* the model failed */
    AD_SERVE_ERR_TOO_LARGE,    /* a body over --max-body (413) */
    AD_SERVE_ERR_NOT_FOUND,    /* 404 */
    AD_SERVE_ERR_METHOD,       /* 405 */
    AD_SERVE_ERR_HOST,         /* 403: a Host other than loopback's */
    AD_SERVE_ERR_CLIENT_GONE,  /* the client left before its answer */
    AD_SERVE_ERR_KINDS
} ad_serve_err_t;

/* Where a server process is: the state of its slot in the shared metrics. */
typedef enum {
    AD_SERVE_PROC_LOADING, /* started, its model not loaded and warmed yet */
    AD_SERVE_PROC_READY,   /* loaded and warmed: it predicts */
    AD_SERVE_PROC_DEAD     /* ended (the parent reaped it) */
} ad_serve_proc_state_t;

/* A server process as the metrics see it. */
typedef struct {
    ad_serve_proc_state_t state; /* loading, ready or dead */
    int pid;                     /* its process id */
    int wstatus;                 /* how it ended (waitpid's status), once dead */
} ad_serve_proc_t;

/*
 * New zeroed metrics for a server of processes processes (1..256), in one shared mapping: made
 * before the parent forks, the children's counters are summed by whichever answers /metrics.
 * This process writes slot 0 until ad_serve_metrics_attach().  Free with ad_serve_metrics_free().
 */
ad_serve_metrics_t *ad_serve_metrics_new(int processes);

/* Free m (unmap this process's view); NULL-safe and idempotent, sets *m_p to NULL. */
void ad_serve_metrics_free(ad_serve_metrics_t **m_p);

/* In a child after fork: this process writes slot process (0-based) from now on. */
void ad_serve_metrics_attach(ad_serve_metrics_t *m, int process);

/* In the parent after fork: slot process belongs to pid. */
void ad_serve_metrics_started(ad_serve_metrics_t *m, int process, int pid);

/* This process's model is loaded and warmed. */
void ad_serve_metrics_ready(ad_serve_metrics_t *m);

/* In the parent once it reaped process: it is dead, wstatus says how (its counters stay). */
void ad_serve_metrics_ended(ad_serve_metrics_t *m, int process, int wstatus);

/* How many processes the server has (the slots). */
int ad_serve_metrics_processes(const ad_serve_metrics_t *m);

/* The state of process (0-based). */
ad_serve_proc_t ad_serve_metrics_process(const ad_serve_metrics_t *m, int process);

/* How many processes are loaded and warmed. */
int ad_serve_metrics_ready_count(const ad_serve_metrics_t *m);

/* "killed by signal 9 (Killed)" or "exited with status 1", into out; returns out. */
const char *ad_serve_metrics_how(int wstatus, char *out, size_t size);

/* ad_http_config_t.on_done: count a finished request by path and status, its latency. */
void ad_serve_metrics_on_done(void *m, const char *method, const char *path, int status,
                              double seconds, bool sent);

/* Count one error of kind. */
void ad_serve_metrics_error(ad_serve_metrics_t *m, ad_serve_err_t kind);

/* Count one batch of n requests that ran in seconds. */
void ad_serve_metrics_batch(ad_serve_metrics_t *m, int n, double seconds);

/* Set the queue depth gauge. */
void ad_serve_metrics_queue(ad_serve_metrics_t *m, int depth);

/*
 * The Prometheus text (format 0.0.4) of the whole server: every process's counters summed, ready
 * when all are, the model's info as labels, and with several processes a series per process;
 * a new string the caller frees.
 */
char *ad_serve_metrics_text(ad_serve_metrics_t *m, const char *name, const char *arch,
                            const char *variant);

/* ---- the batcher (serve/ad_serve_batch.c) ---------------------------------------------------- */

/* One queued request: its input and what its answer needs. */
typedef struct ad_serve_item {
    ad_image_t img;             /* the upload at the model's size, bytes (owned); the
                                   batcher normalises it straight into its batch */
    int k;                      /* top-k classes to answer */
    ad_http_later_t *later;     /* the suspended request */
    double t_start;             /* when the handler began (ad_clock_now) */
    double decode_s;            /* decoding the upload */
    double prepare_s;           /* resize (here) and normalise (in the batch), summed */
    double t_queued;            /* when it was queued */
    struct ad_serve_item *next; /* in the queue */
} ad_serve_item_t;

/* Free an item and its input (not its later handle); NULL-safe. */
void ad_serve_item_free(ad_serve_item_t *item);

/*
 * Called on the inference thread for each item of a batch: logits (classes
 * floats, NULL if the batch failed, err then says why), the batch size, its
 * seconds of inference and when it ended.  It must send the item's answer.
 */
typedef void (*ad_serve_answer_fn)(void *arg, ad_serve_item_t *item, const float *logits, int batch,
                                   double infer_s, double t_end, const ad_err_t *err);

/* The queue and its one inference thread. */
typedef struct ad_serve_batcher ad_serve_batcher_t;

/* How a batcher batches. */
typedef struct ad_serve_batch_config {
    int max_batch;    /* largest batch run at once (>= 1) */
    int max_delay_ms; /* longest wait for a batch to fill, from its first queued request */
    int max_queue;    /* requests queued at most; more are refused (503) */
} ad_serve_batch_config_t;

/*
 * Start the inference thread over model (borrowed; must outlive the
 * batcher), answering each item through answer(arg, ...).  Returns 0 with
 * *out, or -errno with err set if the thread cannot start.
 */
int ad_serve_batcher_new(ad_infer_t *model, const ad_serve_batch_config_t *config,
                         ad_serve_metrics_t *metrics, ad_serve_answer_fn answer, void *arg,
                         ad_serve_batcher_t **out, ad_err_t *err);

/*
 * Queue item (taken: it is answered or freed).  Returns 0, or -EBUSY when the
 * queue is full or the batcher stops: the caller then still owns item.
 */
int ad_serve_batcher_submit(ad_serve_batcher_t *self, ad_serve_item_t *item);

/*
 * Stop: the batch in flight ends, the requests still queued are answered
 * 503, the thread is joined and the batcher freed; NULL-safe, sets *self_p to NULL.
 */
void ad_serve_batcher_stop(ad_serve_batcher_t **self_p);

/* ---- the API (serve/ad_serve_api.c) ---------------------------------------------------------- */

/* What the handlers share: the model, its batcher, the metrics and whether it is ready. */
typedef struct ad_serve {
    ad_infer_t *model;           /* loaded once (owned by main) */
    const char *model_dir;       /* the artifact's folder */
    char *name;                  /* model.json's name, else the folder's base name */
    json_t *summary;             /* model.json without its graph, plus what the server adds */
    ad_serve_batcher_t *batcher; /* NULL until the model is warmed */
    ad_serve_metrics_t *metrics; /* counters for /metrics */
    atomic_bool ready;           /* loaded and warmed */
    int channels, height, width; /* the input of one sample (the batcher normalises it) */
} ad_serve_t;

/* Route /api/predict, /api/health, /api/ready, /api/model, /metrics and the page in web. */
int ad_serve_routes(ad_http_t *http, ad_serve_t *serve, const char *web, ad_err_t *err);

/* The batcher's answer function: the JSON answer of one prediction, or its error. */
void ad_serve_answer(void *serve, ad_serve_item_t *item, const float *logits, int batch,
                     double infer_s, double t_end, const ad_err_t *err);

/* Fill serve's name and summary from the loaded model (model.json, its size, the backend). */
void ad_serve_describe(ad_serve_t *serve, int threads, int max_batch, int max_delay_ms);

#endif
