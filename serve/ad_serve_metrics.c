/* ad_serve_metrics.c - autodist-serve's counters and histograms, as Prometheus text at /metrics */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad_serve.h"

/* The paths counted by name; any other path counts as "other" (no label per random URL). */
static const char *const s_paths[] = {"/api/predict", "/api/health", "/api/ready", "/api/model",
                                      "/metrics",     "/",           "other"};
#define N_PATHS (sizeof(s_paths) / sizeof(s_paths[0]))
#define N_STATUS 600

static const char *const s_kinds[AD_SERVE_ERR_KINDS] = {
    "empty",     "content_type", "no_image",  "decode", "bad_argument", "not_ready",  "overloaded",
    "inference", "too_large",    "not_found", "method", "host",         "client_gone"};

/* Upper bounds of the latency buckets (seconds) and of the batch-size buckets. */
static const double s_lat_le[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                  0.25,  0.5,    1,     2.5,  5,     10};
#define N_LAT (sizeof(s_lat_le) / sizeof(s_lat_le[0]))
static const double s_batch_le[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
#define N_BATCH (sizeof(s_batch_le) / sizeof(s_batch_le[0]))

/* A histogram: counts per bucket (not cumulative; summed when printed), the sum, the count. */
typedef struct {
    unsigned long buckets[16];
    double sum;
    unsigned long count;
} histo_t;

struct ad_serve_metrics {
    pthread_mutex_t mu;
    unsigned long requests[N_PATHS][N_STATUS]; /* by path and status (0: the client left) */
    unsigned long errors[AD_SERVE_ERR_KINDS];  /* by kind */
    histo_t latency;                           /* /api/predict, headers to answer sent */
    histo_t batch;                             /* requests per batch */
    histo_t infer;                             /* seconds per batch */
    int queue;                                 /* requests waiting now */
};

ad_serve_metrics_t *
ad_serve_metrics_new(void)
{
    ad_serve_metrics_t *m = ad_calloc(1, sizeof(*m));

    pthread_mutex_init(&m->mu, NULL);
    return m;
}

void
ad_serve_metrics_free(ad_serve_metrics_t **m_p)
{
    ad_serve_metrics_t *m = m_p ? *m_p : NULL;

    if (!m)
        return;
    pthread_mutex_destroy(&m->mu);
    free(m);
    *m_p = NULL;
}

static void
s_observe(histo_t *h, const double *le, size_t n, double v)
{
    size_t i = 0;

    while (i < n && v > le[i])
        i++;
    h->buckets[i]++; /* i == n: +Inf */
    h->sum += v;
    h->count++;
}

static size_t
s_path_index(const char *path)
{
    size_t i;

    if (!path)
        return N_PATHS - 1;
    for (i = 0; i + 2 < N_PATHS; i++)
        if (strcmp(path, s_paths[i]) == 0)
            return i;
    /* The page's own files count as "/". */
    if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0 ||
        strcmp(path, "/app.js") == 0 || strcmp(path, "/style.css") == 0)
        return N_PATHS - 2;
    return N_PATHS - 1;
}

void
ad_serve_metrics_on_done(void *arg, const char *method, const char *path, int status,
                         double seconds, bool sent)
{
    ad_serve_metrics_t *m = arg;
    size_t p = s_path_index(path);
    int s = status >= 0 && status < N_STATUS ? status : 0;

    pthread_mutex_lock(&m->mu);
    m->requests[p][sent ? s : 0]++;
    if (!sent)
        m->errors[AD_SERVE_ERR_CLIENT_GONE]++;
    else if (status == 413)
        m->errors[AD_SERVE_ERR_TOO_LARGE]++;
    else if (status == 404)
        m->errors[AD_SERVE_ERR_NOT_FOUND]++;
    else if (status == 405)
        m->errors[AD_SERVE_ERR_METHOD]++;
    else if (status == 403)
        m->errors[AD_SERVE_ERR_HOST]++;
    if (p == 0 && sent && status == 200)
        s_observe(&m->latency, s_lat_le, N_LAT, seconds);
    pthread_mutex_unlock(&m->mu);
}

void
ad_serve_metrics_error(ad_serve_metrics_t *m, ad_serve_err_t kind)
{
    pthread_mutex_lock(&m->mu);
    m->errors[kind]++;
    pthread_mutex_unlock(&m->mu);
}

void
ad_serve_metrics_batch(ad_serve_metrics_t *m, int n, double seconds)
{
    pthread_mutex_lock(&m->mu);
    s_observe(&m->batch, s_batch_le, N_BATCH, n);
    s_observe(&m->infer, s_lat_le, N_LAT, seconds);
    pthread_mutex_unlock(&m->mu);
}

void
ad_serve_metrics_queue(ad_serve_metrics_t *m, int depth)
{
    pthread_mutex_lock(&m->mu);
    m->queue = depth;
    pthread_mutex_unlock(&m->mu);
}

/* A growing text buffer. */
typedef struct {
    char *s;
    size_t len, cap;
} buf_t;

static void __attribute__((format(printf, 2, 3))) s_put(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < b->cap - b->len)
            break;
        b->cap = b->cap * 2 + (size_t)(n > 0 ? n : 0) + 256;
        b->s = ad_realloc(b->s, b->cap);
    }
    b->len += (size_t)n;
}

static void
s_put_histo(buf_t *b, const char *name, const char *help, const histo_t *h, const double *le,
            size_t n)
{
    unsigned long cum = 0;

    s_put(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (size_t i = 0; i < n; i++) {
        cum += h->buckets[i];
        s_put(b, "%s_bucket{le=\"%g\"} %lu\n", name, le[i], cum);
    }
    s_put(b, "%s_bucket{le=\"+Inf\"} %lu\n%s_sum %.6f\n%s_count %lu\n", name, h->count, name,
          h->sum, name, h->count);
}

/* A label value with its backslashes, quotes and newlines escaped, into out. */
static const char *
s_label(const char *v, char *out, size_t size)
{
    size_t o = 0;

    for (; v && *v && o + 3 < size; v++) {
        if (*v == '\\' || *v == '"' || *v == '\n') {
            out[o++] = '\\';
            out[o++] = *v == '\n' ? 'n' : *v;
        } else {
            out[o++] = *v;
        }
    }
    out[o] = '\0';
    return out;
}

char *
ad_serve_metrics_text(ad_serve_metrics_t *m, const char *name, const char *arch,
                      const char *variant, bool ready)
{
    buf_t b = {.s = ad_malloc(4096), .cap = 4096};
    char l1[128], l2[64], l3[64];

    b.s[0] = '\0';
    pthread_mutex_lock(&m->mu);
    s_put(&b, "# HELP autodist_serve_requests_total Requests answered, by path and status "
              "(status 0: the client left first).\n"
              "# TYPE autodist_serve_requests_total counter\n");
    for (size_t p = 0; p < N_PATHS; p++)
        for (int s = 0; s < N_STATUS; s++)
            if (m->requests[p][s])
                s_put(&b, "autodist_serve_requests_total{path=\"%s\",status=\"%d\"} %lu\n",
                      s_paths[p], s, m->requests[p][s]);
    s_put(&b, "# HELP autodist_serve_errors_total Failed requests, by kind.\n"
              "# TYPE autodist_serve_errors_total counter\n");
    for (int k = 0; k < AD_SERVE_ERR_KINDS; k++)
        s_put(&b, "autodist_serve_errors_total{kind=\"%s\"} %lu\n", s_kinds[k], m->errors[k]);
    s_put_histo(&b, "autodist_serve_request_duration_seconds",
                "Latency of successful predictions, from the request's headers to its answer.",
                &m->latency, s_lat_le, N_LAT);
    s_put_histo(&b, "autodist_serve_batch_size", "Requests per batch run by the model.", &m->batch,
                s_batch_le, N_BATCH);
    s_put_histo(&b, "autodist_serve_inference_seconds", "Seconds of inference per batch.",
                &m->infer, s_lat_le, N_LAT);
    s_put(&b,
          "# HELP autodist_serve_queue_depth Requests waiting for a batch.\n"
          "# TYPE autodist_serve_queue_depth gauge\nautodist_serve_queue_depth %d\n",
          m->queue);
    pthread_mutex_unlock(&m->mu);
    s_put(&b,
          "# HELP autodist_serve_ready Whether the model is loaded and warmed.\n"
          "# TYPE autodist_serve_ready gauge\nautodist_serve_ready %d\n",
          ready ? 1 : 0);
    s_put(&b,
          "# HELP autodist_serve_model_info The model served.\n"
          "# TYPE autodist_serve_model_info gauge\n"
          "autodist_serve_model_info{name=\"%s\",arch=\"%s\",variant=\"%s\"} 1\n",
          s_label(name, l1, sizeof(l1)), s_label(arch, l2, sizeof(l2)),
          s_label(variant, l3, sizeof(l3)));
    return b.s;
}
