/* ad_http.c - the HTTP layer over libmicrohttpd: routes, JSON answers, static files, limits */
#include "autodist/ad_http.h"
#include "autodist/ad_clock.h"
#include "autodist/ad_log.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>

#define S_MAX_ROUTES 32
#define S_MAX_HEADERS 16

typedef struct route {
    unsigned methods;      /* AD_HTTP_* bits */
    char *prefix;          /* "/api/jobs" without a trailing /: "/" is "" */
    size_t len;            /* strlen(prefix), 0 for "/" */
    ad_http_handler_fn fn; /* the handler */
    void *arg;             /* its argument */
    char *dir;             /* a static route: the folder's real path; NULL otherwise */
} route_t;

struct ad_http {
    ad_http_config_t config; /* with the defaults filled in */
    char addr[64];           /* the address to bind */
    int want_port;           /* the port asked for (0 = any) */
    int port;                /* the port bound; 0 before start */
    char url[96];            /* "http://ADDR:PORT" */
    route_t routes[S_MAX_ROUTES];
    int n_routes;
    struct MHD_Daemon *daemon; /* NULL before start */
    pthread_mutex_t mu;        /* guards pending */
    ad_http_later_t *pending;  /* requests answered later, still connected */
};

struct ad_http_req {
    struct MHD_Connection *conn; /* MHD's connection */
    const char *method;          /* "GET" */
    unsigned bit;                /* AD_HTTP_GET, ... */
    const char *path;            /* decoded path */
    const char *rest;            /* after the route's prefix */
    const char *body;            /* NUL-terminated */
    size_t len;                  /* body bytes */
};

struct ad_http_res {
    bool set;                        /* an answer was given */
    int status;                      /* HTTP status */
    char *type;                      /* content type; owned */
    char *data;                      /* body (malloc'ed), or NULL with fd */
    size_t len;                      /* body bytes */
    int fd;                          /* a file to send (owned), -1 = none */
    char *headers[S_MAX_HEADERS][2]; /* extra headers; owned */
    int n_headers;
    ad_http_later_t *later;      /* ad_http_res_later() was called: answered later */
    ad_http_t *server;           /* the server answering */
    struct MHD_Connection *conn; /* and the connection */
};

/*
 * A request answered later.  Two references: the connection's (dropped when
 * MHD closes it) and the holder's (dropped by ad_http_later_send()).
 */
struct ad_http_later {
    pthread_mutex_t mu;          /* guards the flags and res once shared */
    int refs;                    /* references left */
    ad_http_t *server;           /* the server; only used while the connection lives */
    struct MHD_Connection *conn; /* the connection; only used while !gone */
    ad_http_res_t res;           /* the answer the holder fills */
    bool answered;               /* ad_http_later_send() was called */
    bool suspended;              /* the connection is suspended, waiting for the answer */
    bool stopping;               /* the server stops: answer 503 if not answered */
    bool gone;                   /* MHD closed the connection */
    ad_http_later_t *next;       /* in server->pending */
    ad_http_later_t *prev;
};

/* The most bytes a request's Content-Length reserves before its body comes. */
#define S_BODY_PREALLOC (4u << 20)

/* What one connection's request collects between MHD's calls. */
typedef struct conn_state {
    char *body;             /* the body so far (NUL-terminated) */
    size_t len;             /* its bytes */
    size_t cap;             /* bytes allocated for it, its NUL included */
    bool too_big;           /* it went over max_body: answer 413 at the end */
    bool answered;          /* an answer was queued before the body (413 on Content-Length) */
    ad_http_later_t *later; /* the request is answered later */
    char *method;           /* for config.on_done: the method and the path */
    char *path;
    double t0;  /* when its headers were in (ad_clock_now()) */
    int status; /* the status answered; 0 = none yet */
} conn_state_t;

static const struct {
    const char *name;
    unsigned bit;
} s_methods[] = {
    {"GET", AD_HTTP_GET},     {"HEAD", AD_HTTP_HEAD},     {"POST", AD_HTTP_POST},
    {"PUT", AD_HTTP_PUT},     {"DELETE", AD_HTTP_DELETE}, {"OPTIONS", AD_HTTP_OPTIONS},
    {"PATCH", AD_HTTP_PATCH},
};

/* ---- listen address -------------------------------------------------------------------------- */

int
ad_http_parse_listen(const char *listen, char *addr, size_t size, int *port, ad_err_t *err)
{
    const char *colon = listen ? strrchr(listen, ':') : NULL;
    const char *p = colon ? colon + 1 : listen;
    struct in_addr in;
    char *end;
    long v;

    if (!listen || !*listen)
        return ad_err_set(err, AD_EINVAL, "empty listen address: want ADDR:PORT or PORT");
    errno = 0;
    v = strtol(p, &end, 10);
    if (!*p || *end || errno || v < 0 || v > 65535 || !isdigit((unsigned char)*p))
        return ad_err_set(err, AD_EINVAL, "\"%s\": the port must be a number 0..65535", listen);
    if (!colon || colon == listen) {
        snprintf(addr, size, "127.0.0.1");
    } else {
        size_t n = (size_t)(colon - listen);

        if (n >= size)
            return ad_err_set(err, AD_EINVAL, "\"%s\": address too long", listen);
        memcpy(addr, listen, n);
        addr[n] = '\0';
        if (!strcmp(addr, "localhost"))
            snprintf(addr, size, "127.0.0.1");
        if (inet_pton(AF_INET, addr, &in) != 1)
            return ad_err_set(err, AD_EINVAL, "\"%s\": \"%s\" is not an IPv4 address", listen,
                              addr);
    }
    *port = (int)v;
    return 0;
}

int
ad_http_new(const ad_http_config_t *config, ad_http_t **out, ad_err_t *err)
{
    ad_http_t *self = ad_calloc(1, sizeof(*self));
    int rc;

    if (config)
        self->config = *config;
    if (!self->config.listen)
        self->config.listen = AD_HTTP_DEFAULT_LISTEN;
    if (!self->config.max_body)
        self->config.max_body = AD_HTTP_DEFAULT_MAX_BODY;
    if (!self->config.max_connections)
        self->config.max_connections = AD_HTTP_DEFAULT_MAX_CONNECTIONS;
    if (!self->config.timeout_s)
        self->config.timeout_s = AD_HTTP_DEFAULT_TIMEOUT_S;
    if (!self->config.threads)
        self->config.threads = AD_HTTP_DEFAULT_THREADS;
    rc = ad_http_parse_listen(self->config.listen, self->addr, sizeof(self->addr), &self->want_port,
                              err);
    if (rc) {
        free(self);
        *out = NULL;
        return rc;
    }
    self->config.listen = NULL; /* borrowed from the caller: not kept */
    pthread_mutex_init(&self->mu, NULL);
    *out = self;
    return 0;
}

static int
s_add_route(ad_http_t *self, unsigned methods, const char *prefix, ad_http_handler_fn fn, void *arg,
            char *dir)
{
    route_t *r;
    size_t len;

    assert(self->daemon == NULL);
    if (!prefix || prefix[0] != '/' || self->n_routes == S_MAX_ROUTES) {
        free(dir);
        return AD_EINVAL;
    }
    r = &self->routes[self->n_routes++];
    r->methods = methods;
    r->prefix = ad_strdup(prefix);
    len = strlen(prefix);
    while (len > 0 && r->prefix[len - 1] == '/')
        r->prefix[--len] = '\0';
    r->len = len;
    r->fn = fn;
    r->arg = arg;
    r->dir = dir;
    return 0;
}

int
ad_http_route(ad_http_t *self, unsigned methods, const char *prefix, ad_http_handler_fn fn,
              void *arg)
{
    return s_add_route(self, methods, prefix, fn, arg, NULL);
}

/* The static route's handler: the file under the route's folder. */
static int
s_static(const ad_http_req_t *req, ad_http_res_t *res, void *arg)
{
    const char *rest = ad_http_req_rest(req);
    char rel[PATH_MAX];
    size_t n;

    while (*rest == '/')
        rest++;
    n = strlen(rest);
    if (snprintf(rel, sizeof(rel), "%s%s", rest,
                 n == 0 || rest[n - 1] == '/' ? "index.html" : "") >= (int)sizeof(rel)) {
        ad_http_res_error(res, 404, "%s: not found", ad_http_req_path(req));
        return 0;
    }
    ad_http_res_file(res, arg, rel);
    return 0;
}

int
ad_http_static(ad_http_t *self, const char *prefix, const char *dir, ad_err_t *err)
{
    char *real = realpath(dir, NULL);
    struct stat st;
    route_t *r;
    int rc;

    if (!real || stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) {
        free(real);
        return ad_err_set(err, AD_EINVAL, "%s: not a folder", dir);
    }
    rc = s_add_route(self, AD_HTTP_READ, prefix, s_static, NULL, real);
    if (rc)
        return ad_err_set(err, rc, "%s: too many routes or a bad prefix", prefix);
    r = &self->routes[self->n_routes - 1];
    r->arg = r->dir;
    return 0;
}

/* ---- answers --------------------------------------------------------------------------------- */

static void
s_res_reset(ad_http_res_t *res)
{
    free(res->type);
    free(res->data);
    if (res->fd >= 0)
        close(res->fd);
    res->type = NULL;
    res->data = NULL;
    res->fd = -1;
    res->len = 0;
}

static void
s_res_clear(ad_http_res_t *res)
{
    s_res_reset(res);
    for (int i = 0; i < res->n_headers; i++) {
        free(res->headers[i][0]);
        free(res->headers[i][1]);
    }
    res->n_headers = 0;
}

void
ad_http_res_bytes(ad_http_res_t *res, int status, const char *type, const void *data, size_t len)
{
    s_res_reset(res);
    res->set = true;
    res->status = status;
    res->type = ad_strdup(type);
    res->data = ad_malloc(len + 1);
    memcpy(res->data, data, len);
    res->data[len] = '\0';
    res->len = len;
}

void
ad_http_res_json(ad_http_res_t *res, int status, json_t *doc)
{
    /* 10 significant digits: 0.687 stays 0.687, not 0.68700000000000006. */
    char *text = json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(10));

    json_decref(doc);
    if (!text)
        ad_oom(0);
    s_res_reset(res);
    res->set = true;
    res->status = status;
    res->type = ad_strdup("application/json");
    res->data = text;
    res->len = strlen(text);
}

void
ad_http_res_error(ad_http_res_t *res, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ad_http_res_json(res, status, json_pack("{s:s s:i}", "error", msg, "status", status));
}

void
ad_http_res_header(ad_http_res_t *res, const char *name, const char *value)
{
    if (res->n_headers == S_MAX_HEADERS)
        return;
    res->headers[res->n_headers][0] = ad_strdup(name);
    res->headers[res->n_headers][1] = ad_strdup(value);
    res->n_headers++;
}

const char *
ad_http_content_type(const char *name)
{
    static const char *const types[][2] = {
        {".html", "text/html; charset=utf-8"},
        {".htm", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"},
        {".gif", "image/gif"},
        {".ico", "image/x-icon"},
        {".webp", "image/webp"},
        {".txt", "text/plain; charset=utf-8"},
        {".md", "text/plain; charset=utf-8"},
        {".wasm", "application/wasm"},
    };
    const char *dot = strrchr(name, '.');

    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (!strcasecmp(dot, types[i][0]))
            return types[i][1];
    return "application/octet-stream";
}

/* Whether rel is a relative path without "." or ".." segments, backslashes or empty segments. */
static bool
s_rel_safe(const char *rel)
{
    const char *seg = rel;

    if (!*rel || *rel == '/' || strchr(rel, '\\'))
        return false;
    for (;;) {
        size_t n = strcspn(seg, "/");

        if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
            return false;
        if (!seg[n])
            return true;
        seg += n + 1;
    }
}

void
ad_http_res_file(ad_http_res_t *res, const char *dir, const char *rel)
{
    char path[PATH_MAX], *real = NULL, *root = NULL;
    struct stat st;
    size_t n;
    int fd = -1;

    if (!s_rel_safe(rel) || snprintf(path, sizeof(path), "%s/%s", dir, rel) >= (int)sizeof(path))
        goto out_not_found;
    root = realpath(dir, NULL);
    real = realpath(path, NULL);
    n = root ? strlen(root) : 0;
    /* A link inside the folder must not lead outside it. */
    if (!root || !real || strncmp(real, root, n) != 0 || (real[n] != '/' && n > 1))
        goto out_not_found;
    fd = open(real, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        goto out_not_found;
    s_res_reset(res);
    res->set = true;
    res->status = 200;
    res->type = ad_strdup(ad_http_content_type(real));
    res->fd = fd;
    res->len = (size_t)st.st_size;
    free(real);
    free(root);
    return;
out_not_found:
    if (fd >= 0)
        close(fd);
    free(real);
    free(root);
    ad_http_res_error(res, 404, "/%s: not found", rel);
}

/* ---- the request ----------------------------------------------------------------------------- */

const char *
ad_http_req_method(const ad_http_req_t *req)
{
    return req->method;
}

unsigned
ad_http_req_method_bit(const ad_http_req_t *req)
{
    return req->bit;
}

const char *
ad_http_req_path(const ad_http_req_t *req)
{
    return req->path;
}

const char *
ad_http_req_rest(const ad_http_req_t *req)
{
    return req->rest;
}

const char *
ad_http_req_query(const ad_http_req_t *req, const char *key)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *
ad_http_req_header(const ad_http_req_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *
ad_http_req_body(const ad_http_req_t *req, size_t *len)
{
    if (len)
        *len = req->len;
    return req->body;
}

/* What ad_http_req_part() collects from MHD's post processor. */
typedef struct part_ctx {
    const char *name; /* the part wanted */
    char *data;       /* its bytes so far */
    size_t len;
    char *filename; /* its file name, or NULL */
    char *type;     /* its content type, or NULL */
    bool found;     /* the part started */
    bool done;      /* another part followed it: later ones of the same name are ignored */
} part_ctx_t;

static enum MHD_Result
s_part_iter(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
            const char *type, const char *encoding, const char *data, uint64_t off, size_t size)
{
    part_ctx_t *c = cls;

    if (!key || strcmp(key, c->name) != 0) {
        c->done |= c->found;
        return MHD_YES;
    }
    if (c->done)
        return MHD_YES;
    if (!c->found) {
        c->found = true;
        c->filename = filename ? ad_strdup(filename) : NULL;
        c->type = type ? ad_strdup(type) : NULL;
    }
    c->data = ad_realloc(c->data, c->len + size + 1);
    memcpy(c->data + c->len, data, size);
    c->len += size;
    c->data[c->len] = '\0';
    return MHD_YES;
}

int
ad_http_req_part(const ad_http_req_t *req, const char *name, char **data, size_t *len,
                 char **filename, char **type)
{
    part_ctx_t c = {.name = name};
    struct MHD_PostProcessor *pp;
    enum MHD_Result ok;

    *data = NULL;
    *len = 0;
    if (filename)
        *filename = NULL;
    if (type)
        *type = NULL;
    /* NULL unless the request's content type is a form. */
    pp = MHD_create_post_processor(req->conn, 64 * 1024, s_part_iter, &c);
    if (!pp)
        return AD_EPARSE;
    ok = MHD_post_process(pp, req->body, req->len);
    MHD_destroy_post_processor(pp);
    if (ok != MHD_YES || !c.found) {
        free(c.data);
        free(c.filename);
        free(c.type);
        return ok != MHD_YES ? AD_EPARSE : -ENOENT;
    }
    *data = c.data ? c.data : ad_strdup("");
    *len = c.len;
    if (filename)
        *filename = c.filename;
    else
        free(c.filename);
    if (type)
        *type = c.type;
    else
        free(c.type);
    return 0;
}

/* ---- serving --------------------------------------------------------------------------------- */

/* Hand res to MHD on conn (res is cleared); st (may be NULL) remembers its status. */
static enum MHD_Result
s_queue(struct MHD_Connection *conn, conn_state_t *st, ad_http_res_t *res)
{
    struct MHD_Response *r;
    enum MHD_Result ok;

    if (res->fd >= 0) {
        r = MHD_create_response_from_fd((uint64_t)res->len, res->fd);
        if (r)
            res->fd = -1; /* the response owns it */
    } else {
        r = MHD_create_response_from_buffer(res->len, res->data, MHD_RESPMEM_MUST_FREE);
        if (r)
            res->data = NULL;
    }
    if (!r) {
        s_res_clear(res);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, res->type);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    for (int i = 0; i < res->n_headers; i++)
        MHD_add_response_header(r, res->headers[i][0], res->headers[i][1]);
    ok = MHD_queue_response(conn, (unsigned)res->status, r);
    if (st && ok == MHD_YES)
        st->status = res->status;
    MHD_destroy_response(r);
    s_res_clear(res);
    return ok;
}

static enum MHD_Result
s_queue_error(struct MHD_Connection *conn, conn_state_t *st, int status, const char *msg)
{
    ad_http_res_t res = {.fd = -1};

    ad_http_res_error(&res, status, "%s", msg);
    return s_queue(conn, st, &res);
}

/* ---- answers given later --------------------------------------------------------------------- */

ad_http_later_t *
ad_http_res_later(ad_http_res_t *res)
{
    ad_http_later_t *l = ad_calloc(1, sizeof(*l));

    assert(res->later == NULL && res->conn != NULL);
    pthread_mutex_init(&l->mu, NULL);
    l->refs = 2;
    l->server = res->server;
    l->conn = res->conn;
    l->res.fd = -1;
    res->later = l;
    return l;
}

ad_http_res_t *
ad_http_later_res(ad_http_later_t *later)
{
    return &later->res;
}

static void
s_later_unref(ad_http_later_t *l)
{
    int left;

    pthread_mutex_lock(&l->mu);
    left = --l->refs;
    pthread_mutex_unlock(&l->mu);
    if (left > 0)
        return;
    s_res_clear(&l->res);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

void
ad_http_later_send(ad_http_later_t **later_p)
{
    ad_http_later_t *l = later_p ? *later_p : NULL;

    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->answered = true;
    if (l->suspended && !l->gone) {
        /* MHD calls s_access() again for it, which queues the answer. */
        l->suspended = false;
        MHD_resume_connection(l->conn);
    }
    pthread_mutex_unlock(&l->mu);
    *later_p = NULL;
    s_later_unref(l);
}

/* Queue l's answer on conn: the holder's when sent, else 503 (the server stops). */
static enum MHD_Result
s_later_queue(struct MHD_Connection *conn, conn_state_t *st, ad_http_later_t *l)
{
    ad_http_res_t res = {.fd = -1};

    pthread_mutex_lock(&l->mu);
    if (l->answered && l->res.set) {
        res = l->res;
        memset(&l->res, 0, sizeof(l->res));
        l->res.fd = -1;
    }
    pthread_mutex_unlock(&l->mu);
    if (!res.set)
        ad_http_res_error(&res, l->answered ? 500 : 503,
                          l->answered ? "internal error: answered without an answer"
                                      : "the server is stopping");
    return s_queue(conn, st, &res);
}

/* The handler deferred its answer: wait for it, suspended, unless it is already there. */
static enum MHD_Result
s_later_park(ad_http_t *self, struct MHD_Connection *conn, conn_state_t *st, ad_http_later_t *l)
{
    st->later = l;
    pthread_mutex_lock(&self->mu);
    l->next = self->pending;
    if (l->next)
        l->next->prev = l;
    self->pending = l;
    pthread_mutex_unlock(&self->mu);
    pthread_mutex_lock(&l->mu);
    if (l->answered) {
        pthread_mutex_unlock(&l->mu);
        return s_later_queue(conn, st, l);
    }
    MHD_suspend_connection(conn);
    l->suspended = true;
    pthread_mutex_unlock(&l->mu);
    return MHD_YES;
}

/* MHD closed a connection answered later: the holder's answer goes nowhere. */
static void
s_later_gone(ad_http_t *self, ad_http_later_t *l)
{
    pthread_mutex_lock(&l->mu);
    l->gone = true;
    pthread_mutex_unlock(&l->mu);
    pthread_mutex_lock(&self->mu);
    if (l->prev)
        l->prev->next = l->next;
    else if (self->pending == l)
        self->pending = l->next;
    if (l->next)
        l->next->prev = l->prev;
    l->next = l->prev = NULL;
    pthread_mutex_unlock(&self->mu);
    s_later_unref(l);
}

/* Whether the request's Host names this machine's loopback (any port); no Host (HTTP/1.0) does. */
static bool
s_host_local(struct MHD_Connection *conn)
{
    const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    static const char *const names[] = {"localhost", "127.0.0.1", "[::1]"};
    size_t n;

    if (!host)
        return true;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        n = strlen(names[i]);
        if (!strncasecmp(host, names[i], n) && (host[n] == '\0' || host[n] == ':'))
            return true;
    }
    return false;
}

/* The route for path and method: *allowed gets the methods of the longest prefix's routes. */
static const route_t *
s_find_route(const ad_http_t *self, const char *path, unsigned bit, unsigned *allowed)
{
    const route_t *best = NULL;
    size_t best_len = 0;
    bool found = false;

    *allowed = 0;
    for (int i = 0; i < self->n_routes; i++) {
        const route_t *r = &self->routes[i];

        if (strncmp(path, r->prefix, r->len) != 0 || (path[r->len] && path[r->len] != '/'))
            continue;
        if (found && r->len < best_len)
            continue;
        if (!found || r->len > best_len) {
            best = NULL;
            *allowed = 0;
        }
        found = true;
        best_len = r->len;
        *allowed |= r->methods;
        if (!best && (r->methods & bit))
            best = r;
    }
    return best;
}

/* The Allow header's value for the methods of allowed. */
static void
s_allow(unsigned allowed, char *buf, size_t size)
{
    size_t n = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(s_methods) / sizeof(s_methods[0]); i++)
        if ((allowed & s_methods[i].bit) && n < size)
            n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? ", " : "", s_methods[i].name);
}

static enum MHD_Result
s_dispatch(ad_http_t *self, struct MHD_Connection *conn, const char *url, const char *method,
           conn_state_t *st)
{
    ad_http_req_t req = {.conn = conn, .method = method, .path = url};
    ad_http_res_t res = {.fd = -1, .server = self, .conn = conn};
    const route_t *route;
    unsigned allowed;
    char allow[128];
    int rc;

    for (size_t i = 0; i < sizeof(s_methods) / sizeof(s_methods[0]); i++)
        if (!strcmp(method, s_methods[i].name))
            req.bit = s_methods[i].bit;
    if (!self->config.any_host && strncmp(self->addr, "127.", 4) == 0 && !s_host_local(conn))
        return s_queue_error(conn, st, 403, "this server answers only Host localhost or 127.0.0.1");
    if (url[0] != '/')
        return s_queue_error(conn, st, 400, "the path must start with /");
    route = s_find_route(self, url, req.bit, &allowed);
    if (!route && !allowed) {
        ad_http_res_error(&res, 404, "%s: not found", url);
        return s_queue(conn, st, &res);
    }
    if (!route) {
        s_allow(allowed, allow, sizeof(allow));
        ad_http_res_error(&res, 405, "%s: method %s not allowed (allowed: %s)", url, method, allow);
        ad_http_res_header(&res, MHD_HTTP_HEADER_ALLOW, allow);
        return s_queue(conn, st, &res);
    }
    req.rest = url + route->len;
    req.body = st->body ? st->body : "";
    req.len = st->len;
    rc = route->fn(&req, &res, route->arg);
    if (res.later) {
        ad_http_later_t *l = res.later;

        s_res_clear(&res);
        return s_later_park(self, conn, st, l);
    }
    if (rc != 0 || !res.set) {
        if (res.set)
            s_res_clear(&res);
        ad_http_res_error(&res, 500, "%s: internal error", url);
    }
    return s_queue(conn, st, &res);
}

static enum MHD_Result
s_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
         const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    ad_http_t *self = cls;
    conn_state_t *st = *con_cls;
    char msg[160];

    if (!st) {
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

        st = ad_calloc(1, sizeof(*st));
        *con_cls = st;
        st->t0 = ad_clock_now();
        if (self->config.on_done) {
            st->method = ad_strdup(method);
            st->path = ad_strdup(url);
        }
        if (cl && strtoull(cl, NULL, 10) > self->config.max_body) {
            /* Answered before the body is read: MHD closes the connection after it. */
            st->answered = true;
            snprintf(msg, sizeof(msg), "request body of %s bytes over the limit of %zu", cl,
                     self->config.max_body);
            return s_queue_error(conn, st, 413, msg);
        }
        /* The body arrives in pieces: room for all of it at once, as its length says (an
         * upload of 150 KB was copied over and over by a realloc per piece), up to 4 MiB
         * (a client's claim alone reserves no more; a longer body grows by doubling). */
        if (cl && strtoull(cl, NULL, 10) > 0) {
            unsigned long long want = strtoull(cl, NULL, 10);

            st->cap = (size_t)(want < S_BODY_PREALLOC ? want : S_BODY_PREALLOC) + 1;
            st->body = ad_malloc(st->cap);
        }
        return MHD_YES;
    }
    if (st->answered)
        return MHD_YES;
    if (st->later) /* resumed: the answer is there, or the server stops */
        return s_later_queue(conn, st, st->later);
    if (*upload_size) {
        size_t n = *upload_size;

        if (!st->too_big && st->len + n <= self->config.max_body) {
            if (st->len + n + 1 > st->cap) { /* no length given, or more than it said */
                st->cap = st->cap * 2 > st->len + n + 1 ? st->cap * 2 : st->len + n + 1;
                st->body = ad_realloc(st->body, st->cap);
            }
            memcpy(st->body + st->len, upload, n);
            st->len += n;
            st->body[st->len] = '\0';
        } else if (!st->too_big) {
            st->too_big = true;
            free(st->body);
            st->body = NULL;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (st->too_big) {
        snprintf(msg, sizeof(msg), "request body over the limit of %zu bytes",
                 self->config.max_body);
        return s_queue_error(conn, st, 413, msg);
    }
    return s_dispatch(self, conn, url, method, st);
}

static void
s_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
            enum MHD_RequestTerminationCode toe)
{
    conn_state_t *st = *con_cls;

    if (st) {
        ad_http_t *self = cls;

        if (self->config.on_done)
            self->config.on_done(self->config.on_done_arg, st->method, st->path, st->status,
                                 ad_clock_now() - st->t0,
                                 toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
        if (st->later)
            s_later_gone(cls, st->later);
        free(st->method);
        free(st->path);
        free(st->body);
        free(st);
        *con_cls = NULL;
    }
}

/* libmicrohttpd's own messages (mostly bad requests): rate-limited lines at info level. */
static void
s_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    size_t n;

    vsnprintf(line, sizeof(line), fmt, ap);
    n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    ad_log_limited("http", AD_LOG_INFO, "http: %s", line);
}

/* A listening socket on self's address, or -errno with err set. */
static int
s_listen(ad_http_t *self, int *fd_out, ad_err_t *err)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)self->want_port)};
    socklen_t sl = sizeof(sa);
    int fd, one = 1, rc;

    inet_pton(AF_INET, self->addr, &sa.sin_addr);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return ad_err_set(err, -errno, "socket: %s", strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (self->config.reuse_port)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 128) != 0) {
        rc = -errno;
        close(fd);
        return ad_err_set(err, rc, "cannot listen on %s:%d: %s", self->addr, self->want_port,
                          strerror(-rc));
    }
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    self->port = ntohs(sa.sin_port);
    *fd_out = fd;
    return 0;
}

int
ad_http_start(ad_http_t *self, ad_err_t *err)
{
    unsigned flags;
    int fd = -1, rc;

    assert(self->daemon == NULL);
    rc = s_listen(self, &fd, err);
    if (rc)
        return rc;
    /* One polling thread per pool thread (epoll), no thread per connection. */
    flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
            MHD_USE_ERROR_LOG;
    /* The logger first: libmicrohttpd reads the options in order. */
    self->daemon =
        MHD_start_daemon(flags, 0, NULL, NULL, s_access, self, MHD_OPTION_EXTERNAL_LOGGER,
                         s_mhd_log, self, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
                         MHD_OPTION_THREAD_POOL_SIZE, (unsigned)self->config.threads,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned)self->config.max_connections,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)self->config.timeout_s,
                         MHD_OPTION_NOTIFY_COMPLETED, s_completed, self, MHD_OPTION_END);
    if (!self->daemon) {
        close(fd);
        self->port = 0;
        return ad_err_set(err, AD_EIO, "cannot serve on %s:%d: libmicrohttpd did not start",
                          self->addr, self->want_port);
    }
    snprintf(self->url, sizeof(self->url), "http://%s:%d", self->addr, self->port);
    return 0;
}

int
ad_http_port(const ad_http_t *self)
{
    return self->daemon ? self->port : 0;
}

const char *
ad_http_url(const ad_http_t *self)
{
    return self->daemon ? self->url : "";
}

void
ad_http_stop(ad_http_t **self_p)
{
    ad_http_t *self = self_p ? *self_p : NULL;

    if (!self)
        return;
    if (self->daemon) {
        /* MHD must not stop with suspended connections: wake them to answer 503. */
        pthread_mutex_lock(&self->mu);
        for (ad_http_later_t *l = self->pending; l; l = l->next) {
            pthread_mutex_lock(&l->mu);
            l->stopping = true;
            if (l->suspended && !l->gone) {
                l->suspended = false;
                MHD_resume_connection(l->conn);
            }
            pthread_mutex_unlock(&l->mu);
        }
        pthread_mutex_unlock(&self->mu);
        MHD_stop_daemon(self->daemon);
    }
    pthread_mutex_destroy(&self->mu);
    for (int i = 0; i < self->n_routes; i++) {
        free(self->routes[i].prefix);
        free(self->routes[i].dir);
    }
    free(self);
    *self_p = NULL;
}
