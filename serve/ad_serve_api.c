/* ad_serve_api.c - autodist-serve's HTTP API: predict, health, ready, model, metrics, the page */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "autodist/ad_clock.h"
#include "autodist/ad_image.h"
#include "ad_serve.h"

/* The largest top-k answered. */
#define AD_SERVE_MAX_K 1000

/* Fail a request: count its kind, answer status with {"error", "status"}. */
#define S_FAIL(serve, res, kind, status, ...)                                                      \
    do {                                                                                           \
        ad_serve_metrics_error((serve)->metrics, (kind));                                          \
        ad_http_res_error((res), (status), __VA_ARGS__);                                           \
    } while (0)

/* k of ?k=N: 1..classes (a larger k answers all the classes); -1 when not a number >= 1. */
static int
s_top_k(const ad_http_req_t *req, int classes)
{
    const char *v = ad_http_req_query(req, "k");
    char *end;
    long k;

    if (!v)
        return classes < 5 ? classes : 5;
    errno = 0;
    k = strtol(v, &end, 10);
    if (errno || end == v || *end || k < 1)
        return -1;
    if (k > classes)
        k = classes;
    return k > AD_SERVE_MAX_K ? AD_SERVE_MAX_K : (int)k;
}

/*
 * The image bytes of a request into *data and *len: a form's "image" or "file" part (a new
 * buffer, also in *owned for the caller to free), or the body of an image/\* or
 * application/octet-stream request itself (*owned NULL: no copy).  Returns 0, or answers res
 * with the error and returns -1.
 */
static int
s_upload(ad_serve_t *serve, const ad_http_req_t *req, ad_http_res_t *res, const char **data,
         size_t *len, char **owned)
{
    const char *type = ad_http_req_header(req, "Content-Type");
    const char *body = ad_http_req_body(req, len);
    int rc;

    *data = NULL;
    *owned = NULL;
    if (*len == 0) {
        S_FAIL(serve, res, AD_SERVE_ERR_EMPTY, 400,
               "empty body: POST an image (JPEG, PNG) as the body or as the form field "
               "\"image\"");
        return -1;
    }
    if (type && strncasecmp(type, "multipart/form-data", 19) == 0) {
        rc = ad_http_req_part(req, "image", owned, len, NULL, NULL);
        if (rc == -ENOENT)
            rc = ad_http_req_part(req, "file", owned, len, NULL, NULL);
        *data = *owned;
        if (rc == AD_EPARSE) {
            S_FAIL(serve, res, AD_SERVE_ERR_NO_IMAGE, 400, "malformed multipart/form-data body");
            return -1;
        }
        if (rc) {
            S_FAIL(serve, res, AD_SERVE_ERR_NO_IMAGE, 400,
                   "the form has no field \"image\" or \"file\"");
            return -1;
        }
        if (*len == 0) {
            free(*owned);
            *data = *owned = NULL;
            S_FAIL(serve, res, AD_SERVE_ERR_EMPTY, 400, "the form's image is empty");
            return -1;
        }
        return 0;
    }
    if (type && (strncasecmp(type, "image/", 6) == 0 ||
                 strncasecmp(type, "application/octet-stream", 24) == 0)) {
        *data = body;
        return 0;
    }
    S_FAIL(serve, res, AD_SERVE_ERR_CONTENT_TYPE, 415,
           "unsupported content type %s: send multipart/form-data (field \"image\"), "
           "image/jpeg, image/png or application/octet-stream",
           type ? type : "(none)");
    return -1;
}

/* POST /api/predict: decode and resize the image here, queue it; the batcher normalises it
 * into its batch and answers. */
static int
s_predict(const ad_http_req_t *req, ad_http_res_t *res, void *arg)
{
    ad_serve_t *serve = arg;
    ad_serve_item_t *item;
    ad_http_later_t *later;
    ad_image_t img;
    ad_err_t err = {0};
    double t0 = ad_clock_now(), t1;
    const char *data;
    char *owned;
    size_t len;
    int k, rc;

    if (!atomic_load(&serve->ready)) {
        S_FAIL(serve, res, AD_SERVE_ERR_NOT_READY, 503, "the model is not ready yet");
        return 0;
    }
    k = s_top_k(req, ad_infer_classes(serve->model));
    if (k < 0) {
        S_FAIL(serve, res, AD_SERVE_ERR_BAD_ARG, 400, "k must be a whole number >= 1, got %s",
               ad_http_req_query(req, "k"));
        return 0;
    }
    if (s_upload(serve, req, res, &data, &len, &owned))
        return 0;
    rc = ad_image_read(data, len, serve->channels, &img, &err);
    free(owned);
    if (rc) {
        S_FAIL(serve, res, AD_SERVE_ERR_DECODE, 400, "%s", err.msg);
        return 0;
    }
    t1 = ad_clock_now();
    item = ad_calloc(1, sizeof(*item));
    item->img = img; /* the item's now: resized here, normalised by the batcher */
    rc = ad_image_fit(&item->img, serve->height, serve->width, &err);
    if (rc) {
        ad_serve_item_free(item);
        S_FAIL(serve, res, AD_SERVE_ERR_DECODE, 400, "%s", err.msg);
        return 0;
    }
    item->k = k;
    item->t_start = t0;
    item->decode_s = t1 - t0;
    item->prepare_s = ad_clock_now() - t1;
    later = ad_http_res_later(res);
    item->later = later;
    if (ad_serve_batcher_submit(serve->batcher, item) != 0) {
        ad_serve_item_free(item);
        ad_serve_metrics_error(serve->metrics, AD_SERVE_ERR_OVERLOADED);
        ad_http_res_error(ad_http_later_res(later), 503,
                          "overloaded: too many requests queued; retry later");
        ad_http_res_header(ad_http_later_res(later), "Retry-After", "1");
        ad_http_later_send(&later);
    }
    return 0;
}

/* Seconds as milliseconds rounded to microseconds, for a readable answer. */
static double
s_ms(double seconds)
{
    return round(seconds * 1e6) / 1e3;
}

/* The class name of index i: model.json's, else its number. */
static json_t *
s_class(const ad_serve_t *serve, int i)
{
    const char *name = ad_infer_class_name(serve->model, i);

    return name ? json_string(name) : json_sprintf("%d", i);
}

void
ad_serve_answer(void *arg, ad_serve_item_t *item, const float *logits, int batch, double infer_s,
                double t_end, const ad_err_t *err)
{
    ad_serve_t *serve = arg;
    ad_http_res_t *res = ad_http_later_res(item->later);
    int classes = ad_infer_classes(serve->model);
    double *p, max, sum = 0;
    json_t *top, *doc;
    int *order;

    if (!logits) {
        ad_serve_metrics_error(serve->metrics, err && err->code == -ESHUTDOWN
                                                   ? AD_SERVE_ERR_NOT_READY
                                                   : AD_SERVE_ERR_INFERENCE);
        ad_http_res_error(res, err && err->code == -ESHUTDOWN ? 503 : 500, "inference: %s",
                          err ? err->msg : "failed");
        goto out_send;
    }
    /* Softmax in double, then the k best by a partial selection. */
    p = ad_malloc(sizeof(double) * (size_t)classes);
    order = ad_malloc(sizeof(int) * (size_t)classes);
    max = logits[0];
    for (int i = 1; i < classes; i++)
        max = logits[i] > max ? logits[i] : max;
    for (int i = 0; i < classes; i++) {
        p[i] = exp((double)logits[i] - max);
        sum += p[i];
        order[i] = i;
    }
    if (!isfinite(sum) || sum <= 0) { /* NaN or infinite logits: say so, never a bad JSON */
        free(p);
        free(order);
        ad_serve_metrics_error(serve->metrics, AD_SERVE_ERR_INFERENCE);
        ad_http_res_error(res, 500, "inference: the model's output is not finite (NaN or inf)");
        goto out_send;
    }
    top = json_array();
    for (int j = 0; j < item->k; j++) {
        int best = j, t;

        for (int i = j + 1; i < classes; i++)
            if (p[order[i]] > p[order[best]])
                best = i;
        t = order[j];
        order[j] = order[best];
        order[best] = t;
        json_array_append_new(top, json_pack("{s:o,s:i,s:f}", "class", s_class(serve, order[j]),
                                             "index", order[j], "probability", p[order[j]] / sum));
    }
    doc = json_pack("{s:o,s:i,s:f,s:o,s:{s:f,s:f,s:f,s:f,s:f},s:i,s:{s:s,s:s}}", "class",
                    s_class(serve, order[0]), "index", order[0], "probability", p[order[0]] / sum,
                    "top", top, "timings_ms", "decode", s_ms(item->decode_s), "preprocess",
                    s_ms(item->prepare_s), "queue", s_ms(t_end - infer_s - item->t_queued),
                    "inference", s_ms(infer_s), "total", s_ms(t_end - item->t_start), "batch",
                    batch, "model", "name", serve->name, "variant",
                    ad_infer_variant(serve->model) ? ad_infer_variant(serve->model) : "");
    free(p);
    free(order);
    if (doc)
        ad_http_res_json(res, 200, doc);
    else
        ad_http_res_error(res, 500, "inference: cannot write the answer");
out_send:
    ad_http_later_send(&item->later);
    ad_serve_item_free(item);
}

/* GET /api/health: the process answers. */
static int
s_health(const ad_http_req_t *req, ad_http_res_t *res, void *arg)
{
    ad_http_res_json(res, 200, json_pack("{s:s}", "status", "live"));
    return 0;
}

/*
 * With several processes, /api/ready answers for them all: {"ready", "processes",
 * "ready_processes"}, and while some are not ready, which ones and an error naming them.
 */
static void
s_ready_all(ad_serve_t *serve, ad_http_res_t *res)
{
    int p = ad_serve_metrics_processes(serve->metrics), n = 0, named = 0;
    json_t *doc, *not_ready = json_array();
    char why[768] = "", how[96];
    size_t len = 0;

    for (int i = 0; i < p; i++) {
        ad_serve_proc_t proc = ad_serve_metrics_process(serve->metrics, i);
        bool dead = proc.state == AD_SERVE_PROC_DEAD;
        json_t *one;

        if (proc.state == AD_SERVE_PROC_READY) {
            n++;
            continue;
        }
        one = json_pack("{s:i,s:i,s:s}", "process", i + 1, "pid", proc.pid, "state",
                        dead ? "dead" : "loading");
        if (dead)
            json_object_set_new(one, "how",
                                json_string(ad_serve_metrics_how(proc.wstatus, how, sizeof(how))));
        json_array_append_new(not_ready, one);
        /* The message names the first few; the list has them all. */
        if (named++ < 4 && len < sizeof(why))
            len +=
                (size_t)snprintf(why + len, sizeof(why) - len, "%sprocess %d (pid %d) %s",
                                 named > 1 ? "; " : "", i + 1, proc.pid, dead ? how : "is loading");
    }
    if (named > 4 && len < sizeof(why))
        snprintf(why + len, sizeof(why) - len, "; and %d more", named - 4);
    doc = json_pack("{s:b,s:i,s:i}", "ready", n == p, "processes", p, "ready_processes", n);
    if (n < p) {
        json_object_set_new(doc, "not_ready", not_ready);
        json_object_set_new(doc, "error", json_sprintf("%d of %d processes ready: %s", n, p, why));
    } else {
        json_decref(not_ready);
    }
    ad_http_res_json(res, n == p ? 200 : 503, doc);
}

/* GET /api/ready: 200 once the model is loaded and warmed (in every process), 503 before. */
static int
s_ready(const ad_http_req_t *req, ad_http_res_t *res, void *arg)
{
    ad_serve_t *serve = arg;
    bool ready = atomic_load(&serve->ready);

    if (ad_serve_metrics_processes(serve->metrics) > 1) {
        s_ready_all(serve, res);
        return 0;
    }
    ad_http_res_json(res, ready ? 200 : 503, json_pack("{s:b}", "ready", ready));
    return 0;
}

/* GET /api/model: what model.json says, without its graph, and how it is served. */
static int
s_model(const ad_http_req_t *req, ad_http_res_t *res, void *arg)
{
    ad_serve_t *serve = arg;

    if (!atomic_load(&serve->ready) || !serve->summary) {
        ad_http_res_error(res, 503, "the model is not ready yet");
        return 0;
    }
    ad_http_res_json(res, 200, json_deep_copy(serve->summary));
    return 0;
}

/* GET /metrics: Prometheus text, for every process of the server. */
static int
s_metrics(const ad_http_req_t *req, ad_http_res_t *res, void *arg)
{
    ad_serve_t *serve = arg;
    bool ready = atomic_load(&serve->ready);
    char *text;

    text = ad_serve_metrics_text(serve->metrics, serve->name ? serve->name : "",
                                 ready ? ad_infer_arch(serve->model) : "",
                                 ready ? ad_infer_variant(serve->model) : "");
    ad_http_res_bytes(res, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text));
    free(text);
    return 0;
}

void
ad_serve_describe(ad_serve_t *serve, int threads, int max_batch, int max_delay_ms)
{
    json_t *meta = json_loads(ad_infer_meta(serve->model), 0, NULL), *classes = json_array();
    const char *name = NULL, *slash;
    int n = ad_infer_classes(serve->model);

    if (!json_is_object(meta)) {
        json_decref(meta);
        meta = json_object();
    }
    json_object_del(meta, "graph");
    name = json_string_value(json_object_get(meta, "name"));
    if (name && *name) {
        serve->name = ad_strdup(name);
    } else {
        /* The folder's base name, without trailing slashes. */
        char *copy = ad_strdup(serve->model_dir);
        size_t l = strlen(copy);

        while (l > 1 && copy[l - 1] == '/')
            copy[--l] = '\0';
        slash = strrchr(copy, '/');
        serve->name = ad_strdup(slash && slash[1] ? slash + 1 : copy);
        free(copy);
    }
    for (int i = 0; i < n; i++)
        json_array_append_new(classes, s_class(serve, i));
    json_object_set_new(meta, "name", json_string(serve->name));
    json_object_set_new(meta, "classes", classes);
    json_object_set_new(meta, "path", json_string(serve->model_dir));
    json_object_set_new(meta, "input",
                        json_pack("{s:i,s:i,s:i}", "channels", serve->channels, "height",
                                  serve->height, "width", serve->width));
    json_object_set_new(meta, "params", json_integer(ad_infer_params(serve->model)));
    json_object_set_new(meta, "size_bytes", json_integer(ad_infer_bytes(serve->model)));
    json_object_set_new(meta, "server",
                        json_pack("{s:i,s:i,s:i,s:s}", "threads", threads, "max_batch", max_batch,
                                  "max_delay_ms", max_delay_ms, "backend", ad_infer_backend()));
    serve->summary = meta;
}

int
ad_serve_routes(ad_http_t *http, ad_serve_t *serve, const char *web, ad_err_t *err)
{
    int rc;

    if ((rc = ad_http_route(http, AD_HTTP_POST, "/api/predict", s_predict, serve)) ||
        (rc = ad_http_route(http, AD_HTTP_READ, "/api/health", s_health, serve)) ||
        (rc = ad_http_route(http, AD_HTTP_READ, "/api/ready", s_ready, serve)) ||
        (rc = ad_http_route(http, AD_HTTP_READ, "/api/model", s_model, serve)) ||
        (rc = ad_http_route(http, AD_HTTP_READ, "/metrics", s_metrics, serve)))
        return ad_err_set(err, rc, "serve: cannot add a route");
    return ad_http_static(http, "/", web, err);
}
