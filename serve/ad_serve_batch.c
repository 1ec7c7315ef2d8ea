/* ad_serve_batch.c - dynamic batching: a queue of requests and the one thread that runs the model
 */
#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "autodist/ad_clock.h"
#include "ad_serve.h"

struct ad_serve_batcher {
    ad_infer_t *model;              /* borrowed */
    ad_serve_batch_config_t config; /* batch size, delay, queue bound */
    ad_serve_metrics_t *metrics;    /* borrowed */
    ad_serve_answer_fn answer;      /* sends each item's answer */
    void *arg;                      /* answer's first argument */
    pthread_t thread;               /* the inference thread */
    pthread_mutex_t mu;             /* guards what follows */
    pthread_cond_t cv;              /* an item came, or stop */
    ad_serve_item_t *head, *tail;   /* the queue, oldest first */
    int depth;                      /* items in the queue */
    bool stopping;                  /* no more items are taken */
    size_t sample;                  /* floats per sample */
    ad_image_norm_t norm;           /* the model's normalisation */
    int classes;                    /* logits per sample */
    float *x, *logits;              /* one batch's input and output */
    int test_slow_ms;               /* AUTODIST_SERVE_TEST_SLOW_MS: added to each batch */
};

void
ad_serve_item_free(ad_serve_item_t *item)
{
    if (item) {
        ad_image_release(&item->img);
        free(item);
    }
}

/* An absolute CLOCK_MONOTONIC time t seconds (ad_clock_now's clock) from now. */
static void
s_deadline(double at, struct timespec *ts)
{
    double now = ad_clock_now();
    struct timespec cur;

    clock_gettime(CLOCK_MONOTONIC, &cur);
    double wait = at - now > 0 ? at - now : 0;
    long ns = cur.tv_nsec + (long)((wait - (long)wait) * 1e9);

    ts->tv_sec = cur.tv_sec + (time_t)wait + ns / 1000000000L;
    ts->tv_nsec = ns % 1000000000L;
}

/*
 * Wait for a batch under mu: the first item, then more until max_batch or max_delay_ms after
 * the first was queued.  Returns the items taken (n in *n), NULL when stopping.
 */
static ad_serve_item_t *
s_take(ad_serve_batcher_t *self, int *n)
{
    ad_serve_item_t *first, *last;
    struct timespec ts;
    double until;

    while (!self->head && !self->stopping)
        pthread_cond_wait(&self->cv, &self->mu);
    if (self->stopping)
        return NULL;
    until = self->head->t_queued + self->config.max_delay_ms / 1000.0;
    while (self->depth < self->config.max_batch && !self->stopping && ad_clock_now() < until) {
        s_deadline(until, &ts);
        pthread_cond_timedwait(&self->cv, &self->mu, &ts);
    }
    first = last = self->head;
    *n = 1;
    while (*n < self->config.max_batch && last->next) {
        last = last->next;
        (*n)++;
    }
    self->head = last->next;
    if (!self->head)
        self->tail = NULL;
    last->next = NULL;
    self->depth -= *n;
    ad_serve_metrics_queue(self->metrics, self->depth);
    return first;
}

/* Run one batch of n items and answer each. */
static void
s_run(ad_serve_batcher_t *self, ad_serve_item_t *items, int n)
{
    ad_err_t err = {0};
    double t0, t1;
    int i = 0, rc;

    /* Normalised straight into the batch: no float copy of each request on the way. */
    t0 = ad_clock_now();
    for (ad_serve_item_t *it = items; it; it = it->next, i++) {
        ad_image_normalize(&it->img, &self->norm, self->x + (size_t)i * self->sample);
        t1 = ad_clock_now();
        it->prepare_s += t1 - t0;
        t0 = t1;
    }
    rc = ad_infer_run(self->model, self->x, n, self->logits, &err);
    if (self->test_slow_ms > 0)
        usleep((useconds_t)self->test_slow_ms * 1000);
    t1 = ad_clock_now();
    if (rc == 0)
        ad_serve_metrics_batch(self->metrics, n, t1 - t0);
    i = 0;
    for (ad_serve_item_t *it = items, *next; it; it = next, i++) {
        next = it->next;
        it->next = NULL;
        self->answer(self->arg, it, rc ? NULL : self->logits + (size_t)i * self->classes, n,
                     t1 - t0, t1, rc ? &err : NULL);
    }
}

static void *
s_loop(void *arg)
{
    ad_serve_batcher_t *self = arg;

    for (;;) {
        ad_serve_item_t *items;
        int n = 0;

        pthread_mutex_lock(&self->mu);
        items = s_take(self, &n);
        pthread_mutex_unlock(&self->mu);
        if (!items)
            break;
        s_run(self, items, n);
    }
    return NULL;
}

int
ad_serve_batcher_new(ad_infer_t *model, const ad_serve_batch_config_t *config,
                     ad_serve_metrics_t *metrics, ad_serve_answer_fn answer, void *arg,
                     ad_serve_batcher_t **out, ad_err_t *err)
{
    ad_serve_batcher_t *self = ad_calloc(1, sizeof(*self));
    pthread_condattr_t ca;
    int c, h, w, rc;

    self->model = model;
    self->config = *config;
    self->metrics = metrics;
    self->answer = answer;
    self->arg = arg;
    /* A test knob, read once: a slow model, so that a test fills the queue whatever the
     * machine's speed. */
    if (getenv("AUTODIST_SERVE_TEST_SLOW_MS"))
        self->test_slow_ms = atoi(getenv("AUTODIST_SERVE_TEST_SLOW_MS"));
    ad_infer_shape(model, &c, &h, &w);
    self->sample = (size_t)c * h * w;
    {
        float mean[3], std[3];

        ad_infer_normalize(model, mean, std);
        ad_image_norm_init(&self->norm, mean, std);
    }
    self->classes = ad_infer_classes(model);
    self->x = ad_malloc(self->sample * sizeof(float) * (size_t)config->max_batch);
    self->logits = ad_malloc((size_t)self->classes * sizeof(float) * (size_t)config->max_batch);
    pthread_mutex_init(&self->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&self->cv, &ca);
    pthread_condattr_destroy(&ca);
    rc = pthread_create(&self->thread, NULL, s_loop, self);
    if (rc) {
        pthread_cond_destroy(&self->cv);
        pthread_mutex_destroy(&self->mu);
        free(self->x);
        free(self->logits);
        free(self);
        return ad_err_set(err, -rc, "serve: cannot start the inference thread: %s", strerror(rc));
    }
    *out = self;
    return 0;
}

int
ad_serve_batcher_submit(ad_serve_batcher_t *self, ad_serve_item_t *item)
{
    int rc = 0;

    pthread_mutex_lock(&self->mu);
    if (self->stopping || self->depth >= self->config.max_queue) {
        rc = -EBUSY;
    } else {
        item->t_queued = ad_clock_now();
        item->next = NULL;
        if (self->tail)
            self->tail->next = item;
        else
            self->head = item;
        self->tail = item;
        self->depth++;
        ad_serve_metrics_queue(self->metrics, self->depth);
        /* The thread waits for the first item, then for a full batch: wake it for both. */
        if (self->depth == 1 || self->depth >= self->config.max_batch)
            pthread_cond_signal(&self->cv);
    }
    pthread_mutex_unlock(&self->mu);
    return rc;
}

void
ad_serve_batcher_stop(ad_serve_batcher_t **self_p)
{
    ad_serve_batcher_t *self = self_p ? *self_p : NULL;
    ad_serve_item_t *left;

    if (!self)
        return;
    pthread_mutex_lock(&self->mu);
    self->stopping = true;
    pthread_cond_broadcast(&self->cv);
    pthread_mutex_unlock(&self->mu);
    pthread_join(self->thread, NULL);
    left = self->head;
    while (left) {
        ad_serve_item_t *next = left->next;
        ad_err_t err = {.code = -ESHUTDOWN};

        snprintf(err.msg, sizeof(err.msg), "the server is stopping");
        left->next = NULL;
        self->answer(self->arg, left, NULL, 0, 0, ad_clock_now(), &err);
        left = next;
    }
    pthread_cond_destroy(&self->cv);
    pthread_mutex_destroy(&self->mu);
    free(self->x);
    free(self->logits);
    free(self);
    *self_p = NULL;
}
