/* ad_serve_metrics.c - autodist-serve's counters, shared by its processes, as Prometheus text */
#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

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

/*
 * A histogram: counts per bucket (not cumulative; summed when printed; the last is +Inf; the
 * count is their total) and the sum, in units of 1/scale (integers, so one atomic add each).
 */
typedef struct {
    uint64_t buckets[16];
    uint64_t sum;
} histo_t;

/* Scales of the sums: nanoseconds for seconds, whole requests for batch sizes. */
#define S_NS 1e9
#define S_ONE 1.0

/*
 * One process's counters.  They live in one MAP_SHARED region that the parent maps before it
 * forks, a slot per process: only that process writes its slot (its threads with relaxed atomic
 * adds), any process reads them all (relaxed loads) to answer for the whole server.  About
 * 34 KiB a slot, so at most 8.7 MiB for the 256 processes the option parser allows.
 */
typedef struct {
    uint64_t requests[N_PATHS][N_STATUS]; /* by path and status (0: the client left) */
    uint64_t errors[AD_SERVE_ERR_KINDS];  /* by kind */
    histo_t latency;                      /* /api/predict, headers to answer sent */
    histo_t batch;                        /* requests per batch */
    histo_t infer;                        /* seconds per batch */
    int64_t queue;                        /* requests waiting now */
    int state;                            /* an ad_serve_proc_state_t */
    int pid;                              /* the process's id */
    int wstatus;                          /* how it ended (waitpid), once DEAD */
} slot_t;

struct ad_serve_metrics {
    slot_t *slots; /* processes slots, shared by every process of the server */
    size_t bytes;  /* the mapping's length */
    int processes; /* slots */
    int self;      /* the slot this process writes */
};

#define S_ADD(x, n) __atomic_fetch_add(&(x), (n), __ATOMIC_RELAXED)
#define S_LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define S_STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

ad_serve_metrics_t *
ad_serve_metrics_new(int processes)
{
    ad_serve_metrics_t *m = ad_calloc(1, sizeof(*m));

    assert(processes >= 1);
    m->processes = processes;
    m->bytes = sizeof(slot_t) * (size_t)processes;
    /* Zeroed, and shared with the children forked after this (pages come as they are written). */
    m->slots = mmap(NULL, m->bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m->slots == MAP_FAILED)
        ad_oom(m->bytes);
    m->slots[0].pid = (int)getpid();
    return m;
}

void
ad_serve_metrics_free(ad_serve_metrics_t **m_p)
{
    ad_serve_metrics_t *m = m_p ? *m_p : NULL;

    if (!m)
        return;
    munmap(m->slots, m->bytes);
    free(m);
    *m_p = NULL;
}

void
ad_serve_metrics_attach(ad_serve_metrics_t *m, int process)
{
    assert(process >= 0 && process < m->processes);
    m->self = process;
    S_STORE(m->slots[process].pid, (int)getpid());
}

void
ad_serve_metrics_started(ad_serve_metrics_t *m, int process, int pid)
{
    assert(process >= 0 && process < m->processes);
    S_STORE(m->slots[process].pid, pid);
}

void
ad_serve_metrics_ready(ad_serve_metrics_t *m)
{
    S_STORE(m->slots[m->self].state, (int)AD_SERVE_PROC_READY);
}

void
ad_serve_metrics_ended(ad_serve_metrics_t *m, int process, int wstatus)
{
    assert(process >= 0 && process < m->processes);
    S_STORE(m->slots[process].wstatus, wstatus);
    S_STORE(m->slots[process].queue, 0);
    S_STORE(m->slots[process].state, (int)AD_SERVE_PROC_DEAD);
}

int
ad_serve_metrics_processes(const ad_serve_metrics_t *m)
{
    return m->processes;
}

ad_serve_proc_t
ad_serve_metrics_process(const ad_serve_metrics_t *m, int process)
{
    slot_t *s = &m->slots[process];

    assert(process >= 0 && process < m->processes);
    return (ad_serve_proc_t){.state = (ad_serve_proc_state_t)S_LOAD(s->state),
                             .pid = S_LOAD(s->pid),
                             .wstatus = S_LOAD(s->wstatus)};
}

int
ad_serve_metrics_ready_count(const ad_serve_metrics_t *m)
{
    int n = 0;

    for (int i = 0; i < m->processes; i++)
        n += S_LOAD(m->slots[i].state) == AD_SERVE_PROC_READY;
    return n;
}

const char *
ad_serve_metrics_how(int wstatus, char *out, size_t size)
{
    if (WIFSIGNALED(wstatus))
        snprintf(out, size, "killed by signal %d (%s)", WTERMSIG(wstatus),
                 strsignal(WTERMSIG(wstatus)));
    else
        snprintf(out, size, "exited with status %d", WEXITSTATUS(wstatus));
    return out;
}

static void
s_observe(histo_t *h, const double *le, size_t n, double v, double scale)
{
    size_t i = 0;

    while (i < n && v > le[i])
        i++;
    S_ADD(h->buckets[i], 1); /* i == n: +Inf */
    S_ADD(h->sum, (uint64_t)llround(v > 0 ? v * scale : 0));
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
    slot_t *me = &m->slots[m->self];
    size_t p = s_path_index(path);
    int s = status >= 0 && status < N_STATUS ? status : 0;

    S_ADD(me->requests[p][sent ? s : 0], 1);
    if (!sent)
        S_ADD(me->errors[AD_SERVE_ERR_CLIENT_GONE], 1);
    else if (status == 413)
        S_ADD(me->errors[AD_SERVE_ERR_TOO_LARGE], 1);
    else if (status == 404)
        S_ADD(me->errors[AD_SERVE_ERR_NOT_FOUND], 1);
    else if (status == 405)
        S_ADD(me->errors[AD_SERVE_ERR_METHOD], 1);
    else if (status == 403)
        S_ADD(me->errors[AD_SERVE_ERR_HOST], 1);
    if (p == 0 && sent && status == 200)
        s_observe(&me->latency, s_lat_le, N_LAT, seconds, S_NS);
}

void
ad_serve_metrics_error(ad_serve_metrics_t *m, ad_serve_err_t kind)
{
    S_ADD(m->slots[m->self].errors[kind], 1);
}

void
ad_serve_metrics_batch(ad_serve_metrics_t *m, int n, double seconds)
{
    s_observe(&m->slots[m->self].batch, s_batch_le, N_BATCH, n, S_ONE);
    s_observe(&m->slots[m->self].infer, s_lat_le, N_LAT, seconds, S_NS);
}

void
ad_serve_metrics_queue(ad_serve_metrics_t *m, int depth)
{
    S_STORE(m->slots[m->self].queue, (int64_t)depth);
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
            size_t n, double scale)
{
    uint64_t cum = 0;

    s_put(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (size_t i = 0; i < n; i++) {
        cum += h->buckets[i];
        s_put(b, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, le[i], cum);
    }
    cum += h->buckets[n];
    s_put(b, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n%s_sum %.6f\n%s_count %" PRIu64 "\n", name, cum,
          name, (double)h->sum / scale, name, cum);
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

static void
s_sum_histo(histo_t *to, const histo_t *h)
{
    for (size_t i = 0; i < sizeof(h->buckets) / sizeof(h->buckets[0]); i++)
        to->buckets[i] += S_LOAD(h->buckets[i]);
    to->sum += S_LOAD(h->sum);
}

/*
 * Every slot summed into *to (the histograms bucket by bucket; dead processes wait for nothing),
 * and each one's requests into per[process]: one read of each counter, so the two agree.
 */
static void
s_sum(const ad_serve_metrics_t *m, slot_t *to, uint64_t *per)
{
    memset(to, 0, sizeof(*to));
    for (int i = 0; i < m->processes; i++) {
        const slot_t *s = &m->slots[i];

        per[i] = 0;
        for (size_t p = 0; p < N_PATHS; p++)
            for (int st = 0; st < N_STATUS; st++) {
                uint64_t n = S_LOAD(s->requests[p][st]);

                to->requests[p][st] += n;
                per[i] += n;
            }
        for (int k = 0; k < AD_SERVE_ERR_KINDS; k++)
            to->errors[k] += S_LOAD(s->errors[k]);
        s_sum_histo(&to->latency, &s->latency);
        s_sum_histo(&to->batch, &s->batch);
        s_sum_histo(&to->infer, &s->infer);
        if (S_LOAD(s->state) != AD_SERVE_PROC_DEAD)
            to->queue += S_LOAD(s->queue);
    }
}

/* With several processes: how many, and each one's state, queue and requests. */
static void
s_put_processes(buf_t *b, const ad_serve_metrics_t *m, const uint64_t *per)
{
    s_put(b,
          "# HELP autodist_serve_processes Server processes started (--processes).\n"
          "# TYPE autodist_serve_processes gauge\nautodist_serve_processes %d\n",
          m->processes);
    s_put(b, "# HELP autodist_serve_process_up Whether each process runs (0 once it died).\n"
             "# TYPE autodist_serve_process_up gauge\n");
    for (int i = 0; i < m->processes; i++)
        s_put(b, "autodist_serve_process_up{process=\"%d\"} %d\n", i + 1,
              S_LOAD(m->slots[i].state) != AD_SERVE_PROC_DEAD);
    s_put(b, "# HELP autodist_serve_process_ready Whether each process is loaded and warmed.\n"
             "# TYPE autodist_serve_process_ready gauge\n");
    for (int i = 0; i < m->processes; i++)
        s_put(b, "autodist_serve_process_ready{process=\"%d\"} %d\n", i + 1,
              S_LOAD(m->slots[i].state) == AD_SERVE_PROC_READY);
    s_put(b, "# HELP autodist_serve_process_queue_depth Requests waiting in each process.\n"
             "# TYPE autodist_serve_process_queue_depth gauge\n");
    for (int i = 0; i < m->processes; i++)
        s_put(b, "autodist_serve_process_queue_depth{process=\"%d\"} %" PRId64 "\n", i + 1,
              S_LOAD(m->slots[i].state) == AD_SERVE_PROC_DEAD ? 0 : S_LOAD(m->slots[i].queue));
    s_put(b, "# HELP autodist_serve_process_requests_total Requests answered by each process.\n"
             "# TYPE autodist_serve_process_requests_total counter\n");
    for (int i = 0; i < m->processes; i++)
        s_put(b, "autodist_serve_process_requests_total{process=\"%d\"} %" PRIu64 "\n", i + 1,
              per[i]);
}

char *
ad_serve_metrics_text(ad_serve_metrics_t *m, const char *name, const char *arch,
                      const char *variant)
{
    buf_t b = {.s = ad_malloc(4096), .cap = 4096};
    slot_t *t = ad_malloc(sizeof(*t));
    uint64_t *per = ad_calloc((size_t)m->processes, sizeof(*per));
    char l1[128], l2[64], l3[64];

    b.s[0] = '\0';
    s_sum(m, t, per);
    s_put(&b, "# HELP autodist_serve_requests_total Requests answered, by path and status "
              "(status 0: the client left first).\n"
              "# TYPE autodist_serve_requests_total counter\n");
    for (size_t p = 0; p < N_PATHS; p++)
        for (int s = 0; s < N_STATUS; s++)
            if (t->requests[p][s])
                s_put(&b, "autodist_serve_requests_total{path=\"%s\",status=\"%d\"} %" PRIu64 "\n",
                      s_paths[p], s, t->requests[p][s]);
    s_put(&b, "# HELP autodist_serve_errors_total Failed requests, by kind.\n"
              "# TYPE autodist_serve_errors_total counter\n");
    for (int k = 0; k < AD_SERVE_ERR_KINDS; k++)
        s_put(&b, "autodist_serve_errors_total{kind=\"%s\"} %" PRIu64 "\n", s_kinds[k],
              t->errors[k]);
    s_put_histo(&b, "autodist_serve_request_duration_seconds",
                "Latency of successful predictions, from the request's headers to its answer.",
                &t->latency, s_lat_le, N_LAT, S_NS);
    s_put_histo(&b, "autodist_serve_batch_size", "Requests per batch run by the model.", &t->batch,
                s_batch_le, N_BATCH, S_ONE);
    s_put_histo(&b, "autodist_serve_inference_seconds", "Seconds of inference per batch.",
                &t->infer, s_lat_le, N_LAT, S_NS);
    s_put(&b,
          "# HELP autodist_serve_queue_depth Requests waiting for a batch.\n"
          "# TYPE autodist_serve_queue_depth gauge\nautodist_serve_queue_depth %" PRId64 "\n",
          t->queue);
    free(t);
    s_put(&b,
          "# HELP autodist_serve_ready Whether the model is loaded and warmed.\n"
          "# TYPE autodist_serve_ready gauge\nautodist_serve_ready %d\n",
          ad_serve_metrics_ready_count(m) == m->processes);
    s_put(&b,
          "# HELP autodist_serve_model_info The model served.\n"
          "# TYPE autodist_serve_model_info gauge\n"
          "autodist_serve_model_info{name=\"%s\",arch=\"%s\",variant=\"%s\"} 1\n",
          s_label(name, l1, sizeof(l1)), s_label(arch, l2, sizeof(l2)),
          s_label(variant, l3, sizeof(l3)));
    if (m->processes > 1)
        s_put_processes(&b, m, per);
    free(per);
    return b.s;
}
