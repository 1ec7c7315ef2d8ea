/* http_load.c - autodist-http-load: closed- or open-loop HTTP load on one URL, latency as JSON */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "autodist/ad_clock.h"
#include "autodist/ad_error.h"
#include "autodist/ad_opt.h"
#include "autodist/ad_rand.h"

/*
 * Plain sockets, HTTP/1.1 keep-alive, one thread and poll(): closed loop
 * keeps C requests outstanding on C connections; open loop sends requests at
 * Poisson arrival times on whichever connection is idle (opening more, up to
 * --max-conns, queueing past it), and a latency runs from when the request
 * was due, so queueing counts.  bench/bench_infer.sh and docs/bench-infer.md.
 */

#define S_EXIT_OK 0
#define S_EXIT_FAIL 1
#define S_EXIT_USAGE 2

/* Largest body --image sends, and largest response read. */
#define S_BODY_MAX (64 << 20)
#define S_RESP_MAX (16 << 20)
#define S_BOUNDARY "autodist-http-load-7f3a9c"

/* A connection's state. */
typedef enum { S_IDLE, S_CONNECTING, S_SENDING, S_READING, S_CLOSED, S_WAIT } s_state_t;

/* Closed loop: a connection that failed waits this long before its next request. */
#define S_RETRY_S 0.01

/* One connection. */
typedef struct {
    int fd;          /* the socket; -1 when closed */
    s_state_t state; /* where its request is */
    size_t sent;     /* bytes of the request written */
    char *in;        /* what the response has so far */
    size_t in_len;   /* ... its length */
    size_t in_cap;   /* ... room */
    double due;      /* when its request was due (monotonic s) */
    double started;  /* when it was written first (the timeout counts from there) */
    bool reused;     /* its request went on a kept-alive connection */
    bool retried;    /* ... and was sent again on a new one after the server closed it */
} s_conn_t;

/* Command line. */
typedef struct {
    const char *url;   /* URL as given */
    char host[256];    /* from the URL */
    char port[16];     /* ... */
    char path[2048];   /* ... */
    const char *image; /* --image FILE: POSTed; NULL = GET */
    const char *ctype; /* --content-type; NULL = from the file's name */
    bool multipart;    /* --multipart: a form with field "image" */
    int concurrency;   /* --concurrency: closed loop */
    double rate;       /* --rate: open loop (0 = closed loop) */
    double duration_s; /* --duration */
    double warmup_s;   /* --warmup */
    double timeout_s;  /* --timeout: one request's */
    int max_conns;     /* --max-conns: open loop */
    uint64_t seed;     /* --seed */
} s_opts_t;

/* The run's figures. */
typedef struct {
    double *lat_ms;       /* latencies of the window's successful requests */
    int64_t n_lat, cap;   /* ... */
    int64_t ok_in_window; /* 2xx answers that came inside the window */
    int64_t errors;       /* failed requests of the window: connection, timeout, not 2xx */
    int64_t status[6];    /* answers of the window by class: 1xx..5xx ([0]: none) */
    double t_warm, t_end; /* the window (monotonic s) */
} s_stats_t;

/* ---- the request -------------------------------------------------------------------------- */

static const char *
s_type_of(const char *file)
{
    const char *dot = strrchr(file, '.');

    if (dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg")))
        return "image/jpeg";
    if (dot && !strcasecmp(dot, ".png"))
        return "image/png";
    if (dot && !strcasecmp(dot, ".bmp"))
        return "image/bmp";
    if (dot && !strcasecmp(dot, ".gif"))
        return "image/gif";
    return "application/octet-stream";
}

/* The bytes of a file into a new buffer, *len its length; NULL after printing why. */
static char *
s_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    struct stat sb;
    char *buf;

    if (!f || fstat(fileno(f), &sb) < 0 || sb.st_size > S_BODY_MAX) {
        fprintf(stderr, "autodist-http-load: --image %s: %s\n", path,
                f ? "larger than 64 MiB" : strerror(errno));
        if (f)
            fclose(f);
        return NULL;
    }
    buf = malloc((size_t)sb.st_size + 1);
    if (!buf)
        abort();
    *len = fread(buf, 1, (size_t)sb.st_size, f);
    fclose(f);
    return buf;
}

/* The whole request, built once: every request is the same. */
static char *
s_build_request(const s_opts_t *o, size_t *len)
{
    char *body = NULL, *req, head[4096], pre[1024] = "", post[128] = "";
    size_t blen = 0, plen = 0, qlen = 0;
    const char *type;
    int hlen;

    if (o->image) {
        body = s_read_file(o->image, &blen);
        if (!body)
            return NULL;
    }
    type = o->ctype ? o->ctype : (o->image ? s_type_of(o->image) : NULL);
    if (o->image && o->multipart) {
        const char *slash = strrchr(o->image, '/');

        plen = (size_t)snprintf(pre, sizeof(pre),
                                "--" S_BOUNDARY "\r\nContent-Disposition: form-data; "
                                "name=\"image\"; filename=\"%.200s\"\r\nContent-Type: %s\r\n\r\n",
                                slash ? slash + 1 : o->image, type);
        qlen = (size_t)snprintf(post, sizeof(post), "\r\n--" S_BOUNDARY "--\r\n");
    }
    if (o->image)
        hlen = snprintf(head, sizeof(head),
                        "POST %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: autodist-http-load\r\n"
                        "Connection: keep-alive\r\nContent-Type: %s%s\r\n"
                        "Content-Length: %zu\r\n\r\n",
                        o->path, o->host, o->port,
                        o->multipart ? "multipart/form-data; boundary=" S_BOUNDARY : type, "",
                        plen + blen + qlen);
    else
        hlen = snprintf(head, sizeof(head),
                        "GET %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: autodist-http-load\r\n"
                        "Connection: keep-alive\r\n\r\n",
                        o->path, o->host, o->port);
    *len = (size_t)hlen + plen + blen + qlen;
    req = malloc(*len);
    if (!req)
        abort();
    memcpy(req, head, (size_t)hlen);
    memcpy(req + hlen, pre, plen);
    if (blen)
        memcpy(req + hlen + plen, body, blen);
    memcpy(req + hlen + plen + blen, post, qlen);
    free(body);
    return req;
}

/* ---- connections -------------------------------------------------------------------------- */

static void
s_conn_close(s_conn_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->state = S_CLOSED;
    c->in_len = 0;
}

/* Open c's socket to ai (non-blocking); false when the socket cannot even be made. */
static bool
s_conn_open(s_conn_t *c, const struct addrinfo *ai)
{
    int one = 1;

    c->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return false;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
        s_conn_close(c);
        return false;
    }
    c->state = S_CONNECTING;
    return true;
}

/* Start a request due at due on c (opening it when closed); false when it cannot. */
static bool
s_conn_start(s_conn_t *c, const struct addrinfo *ai, double due)
{
    c->reused = c->fd >= 0;
    c->retried = false;
    if (c->fd < 0 && !s_conn_open(c, ai))
        return false;
    if (c->state == S_IDLE)
        c->state = S_SENDING;
    c->sent = 0;
    c->in_len = 0;
    c->due = due;
    c->started = ad_clock_now();
    return true;
}

/*
 * Is the response in c complete?  Returns its status (> 0) with *keep set
 * when the connection may be reused, 0 while incomplete, -1 when it is not
 * HTTP.
 */
static int
s_response_done(s_conn_t *c, bool *keep)
{
    char *end, *p;
    size_t head, body = 0;
    int status;

    if (c->in_len < 12)
        return 0;
    c->in[c->in_len] = '\0';
    if (strncmp(c->in, "HTTP/1.", 7) != 0 || sscanf(c->in + 9, "%3d", &status) != 1)
        return -1;
    end = strstr(c->in, "\r\n\r\n");
    if (!end)
        return 0;
    head = (size_t)(end - c->in) + 4;
    /* HTTP/1.0 closes unless it says keep-alive; 1.1 keeps unless it says close. */
    *keep = c->in[7] == '1';
    for (p = strstr(c->in, "\r\n"); p && p < end; p = strstr(p + 2, "\r\n")) {
        if (!strncasecmp(p + 2, "Content-Length:", 15))
            body = strtoull(p + 17, NULL, 10);
        else if (!strncasecmp(p + 2, "Connection: close", 17))
            *keep = false;
        else if (!strncasecmp(p + 2, "Connection: keep-alive", 22))
            *keep = true;
        else if (!strncasecmp(p + 2, "Transfer-Encoding: chunked", 26)) {
            /* Chunked: done at the last chunk (enough for a benchmark). */
            return strstr(c->in + head, "\r\n0\r\n\r\n") || !strncmp(c->in + head, "0\r\n\r\n", 5)
                       ? status
                       : 0;
        }
    }
    return c->in_len >= head + body ? status : 0;
}

/* ---- the loop ----------------------------------------------------------------------------- */

static void
s_record(s_stats_t *st, double due, int status, double now)
{
    if (due < st->t_warm || due > st->t_end)
        return;
    st->status[status >= 100 && status < 600 ? status / 100 : 0]++;
    if (status < 200 || status >= 300) {
        st->errors++;
        return;
    }
    if (now <= st->t_end)
        st->ok_in_window++;
    if (st->n_lat == st->cap) {
        st->cap = st->cap ? st->cap * 2 : 4096;
        st->lat_ms = realloc(st->lat_ms, sizeof(*st->lat_ms) * (size_t)st->cap);
        if (!st->lat_ms)
            abort();
    }
    st->lat_ms[st->n_lat++] = (now - due) * 1000.0;
}

/* The event loop's state. */
typedef struct {
    const s_opts_t *o;
    const struct addrinfo *ai;
    const char *req; /* the request */
    size_t req_len;  /* ... its length */
    s_conn_t *conns; /* the connections */
    int n_conns;     /* ... in use */
    double *queue;   /* open loop: due times waiting for a connection (a ring) */
    size_t q_head, q_len, q_cap;
    s_stats_t st;
} s_loop_t;

static void
s_queue_push(s_loop_t *l, double due)
{
    if (l->q_len == l->q_cap) {
        size_t cap = l->q_cap ? l->q_cap * 2 : 1024;
        double *q = malloc(sizeof(*q) * cap);

        if (!q)
            abort();
        for (size_t i = 0; i < l->q_len; i++)
            q[i] = l->queue[(l->q_head + i) % l->q_cap];
        free(l->queue);
        l->queue = q;
        l->q_head = 0;
        l->q_cap = cap;
    }
    l->queue[(l->q_head + l->q_len++) % l->q_cap] = due;
}

/* A request of c ended (status, or 0 for a failure); start what comes next on it. */
static void
s_finish(s_loop_t *l, s_conn_t *c, int status, bool keep, double now)
{
    bool open = l->o->rate > 0;

    /* The server closed a kept-alive connection before answering: send it again, once. */
    if (status <= 0 && c->reused && !c->retried && c->in_len == 0) {
        double due = c->due;

        s_conn_close(c);
        if (s_conn_open(c, l->ai)) {
            c->sent = 0;
            c->due = due;
            c->started = now;
            c->reused = false;
            c->retried = true;
            return;
        }
    }

    s_record(&l->st, c->due, status, now);
    if (!keep || status <= 0)
        s_conn_close(c);
    else
        c->state = S_IDLE;
    if (now >= l->st.t_end)
        return;
    if (!open && status <= 0) {
        c->state = S_WAIT; /* not at once: a refused connection would spin */
        c->started = now;
    } else if (!open) {
        if (!s_conn_start(c, l->ai, now))
            s_record(&l->st, now, 0, now);
    } else if (l->q_len > 0) {
        double due = l->queue[l->q_head];

        l->q_head = (l->q_head + 1) % l->q_cap;
        l->q_len--;
        if (!s_conn_start(c, l->ai, due))
            s_record(&l->st, due, 0, now);
    }
}

/* Give an arrival due at due a connection: an idle one, a new one, or the queue. */
static void
s_arrive(s_loop_t *l, double due)
{
    for (int i = 0; i < l->n_conns; i++)
        if (l->conns[i].state == S_IDLE || l->conns[i].state == S_CLOSED) {
            if (!s_conn_start(&l->conns[i], l->ai, due))
                s_record(&l->st, due, 0, ad_clock_now());
            return;
        }
    if (l->n_conns < l->o->max_conns) {
        s_conn_t *c = &l->conns[l->n_conns++];

        *c = (s_conn_t){.fd = -1, .state = S_CLOSED};
        if (!s_conn_start(c, l->ai, due))
            s_record(&l->st, due, 0, ad_clock_now());
        return;
    }
    s_queue_push(l, due);
}

/* Move c on after poll said revents. */
static void
s_step(s_loop_t *l, s_conn_t *c, short revents)
{
    double now = ad_clock_now();

    if (c->state == S_CONNECTING && (revents & (POLLOUT | POLLERR | POLLHUP))) {
        int e = 0;
        socklen_t len = sizeof(e);

        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &len);
        if (e) {
            s_finish(l, c, 0, false, now);
            return;
        }
        c->state = S_SENDING;
    }
    if (c->state == S_SENDING) {
        ssize_t w = send(c->fd, l->req + c->sent, l->req_len - c->sent, MSG_NOSIGNAL);

        if (w < 0 && errno != EAGAIN && errno != EINTR) {
            s_finish(l, c, 0, false, now);
            return;
        }
        if (w > 0)
            c->sent += (size_t)w;
        if (c->sent == l->req_len)
            c->state = S_READING;
    }
    if (c->state == S_READING && (revents & (POLLIN | POLLHUP | POLLERR))) {
        bool keep = false;
        ssize_t r;
        int status;

        if (c->in_cap - c->in_len < 65536) {
            c->in_cap = c->in_cap ? c->in_cap * 2 : 131072;
            c->in = realloc(c->in, c->in_cap + 1);
            if (!c->in)
                abort();
        }
        r = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (r <= 0 && !(r < 0 && (errno == EAGAIN || errno == EINTR))) {
            s_finish(l, c, 0, false, now);
            return;
        }
        if (r > 0)
            c->in_len += (size_t)r;
        status = s_response_done(c, &keep);
        if (status != 0 || c->in_len > S_RESP_MAX)
            s_finish(l, c, status > 0 ? status : 0, keep, now);
    }
}

/* One pass: poll every busy connection, then time out the slow ones. */
static void
s_poll_once(s_loop_t *l, struct pollfd *pfd, int *idx, double wait_s)
{
    int n = 0;
    double now;

    for (int i = 0; i < l->n_conns; i++) {
        s_conn_t *c = &l->conns[i];

        if (c->fd < 0 || c->state == S_IDLE)
            continue;
        pfd[n] = (struct pollfd){.fd = c->fd, .events = c->state == S_READING ? POLLIN : POLLOUT};
        idx[n++] = i;
    }
    if (ppoll(pfd, (nfds_t)n, &(struct timespec){0, (long)(fmax(wait_s, 0) * 1e9)}, NULL) > 0)
        for (int k = 0; k < n; k++)
            if (pfd[k].revents)
                s_step(l, &l->conns[idx[k]], pfd[k].revents);
    now = ad_clock_now();
    for (int i = 0; i < l->n_conns; i++) {
        s_conn_t *c = &l->conns[i];

        if (c->fd >= 0 && c->state != S_IDLE && now - c->started > l->o->timeout_s)
            s_finish(l, c, 0, false, now);
        else if (c->state == S_WAIT && now - c->started >= S_RETRY_S && now < l->st.t_end) {
            c->state = S_CLOSED;
            c->due = now;
            if (!s_conn_start(c, l->ai, now))
                s_finish(l, c, 0, false, now);
        }
    }
}

static bool
s_busy(const s_loop_t *l)
{
    for (int i = 0; i < l->n_conns; i++)
        if (l->conns[i].fd >= 0 && l->conns[i].state != S_IDLE)
            return true;
    return l->q_len > 0;
}

static void
s_run(s_loop_t *l)
{
    const s_opts_t *o = l->o;
    int max = o->rate > 0 ? o->max_conns : o->concurrency;
    struct pollfd *pfd = calloc((size_t)max, sizeof(*pfd));
    int *idx = calloc((size_t)max, sizeof(*idx));
    uint64_t seed = o->seed * 0x9E3779B97F4A7C15ULL | 1;
    double t0 = ad_clock_now(), next = t0, drain_end;

    l->conns = calloc((size_t)max, sizeof(*l->conns));
    if (!pfd || !idx || !l->conns)
        abort();
    l->st.t_warm = t0 + o->warmup_s;
    l->st.t_end = l->st.t_warm + o->duration_s;
    drain_end = l->st.t_end + o->timeout_s;
    if (o->rate <= 0)
        for (l->n_conns = 0; l->n_conns < o->concurrency; l->n_conns++) {
            l->conns[l->n_conns] = (s_conn_t){.fd = -1, .state = S_CLOSED};
            if (!s_conn_start(&l->conns[l->n_conns], l->ai, t0))
                s_record(&l->st, t0, 0, t0);
        }
    for (;;) {
        double now = ad_clock_now(), wait_s = 0.05;

        while (o->rate > 0 && next <= now && now < l->st.t_end) {
            s_arrive(l, next);
            next += -log(1.0 - ad_rand_uniform(&seed)) / o->rate;
        }
        if (now >= l->st.t_end && (!s_busy(l) || now >= drain_end))
            break;
        if (o->rate > 0 && now < l->st.t_end)
            wait_s = fmin(fmax(next - now, 0.0002), 0.05);
        else
            wait_s = S_RETRY_S;
        s_poll_once(l, pfd, idx, wait_s);
    }
    /* What never came back counts as failed. */
    for (int i = 0; i < l->n_conns; i++)
        if (l->conns[i].fd >= 0 && l->conns[i].state != S_IDLE)
            s_record(&l->st, l->conns[i].due, 0, ad_clock_now());
    for (size_t i = 0; i < l->q_len; i++)
        s_record(&l->st, l->queue[(l->q_head + i) % l->q_cap], 0, ad_clock_now());
    for (int i = 0; i < l->n_conns; i++) {
        s_conn_close(&l->conns[i]);
        free(l->conns[i].in);
    }
    free(l->conns);
    free(l->queue);
    free(pfd);
    free(idx);
}

/* ---- output ------------------------------------------------------------------------------- */

static int
s_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static json_t *
s_pct(const s_stats_t *st, double q)
{
    int64_t k;

    if (st->n_lat == 0)
        return json_null();
    k = (int64_t)ceil(q * (double)st->n_lat) - 1;
    return json_real(st->lat_ms[k < 0 ? 0 : (k >= st->n_lat ? st->n_lat - 1 : k)]);
}

static void
s_print(const s_opts_t *o, const char *url, s_stats_t *st)
{
    json_t *j = json_object(), *by = json_object();
    double sum = 0;
    char *text;

    qsort(st->lat_ms, (size_t)st->n_lat, sizeof(double), s_cmp_double);
    for (int64_t i = 0; i < st->n_lat; i++)
        sum += st->lat_ms[i];
    for (int c = 1; c <= 5; c++)
        if (st->status[c]) {
            char key[8];

            snprintf(key, sizeof(key), "%dxx", c);
            json_object_set_new(by, key, json_integer(st->status[c]));
        }
    json_object_set_new(j, "url", json_string(url));
    json_object_set_new(j, "mode", json_string(o->rate > 0 ? "open" : "closed"));
    json_object_set_new(j, "concurrency", o->rate > 0 ? json_null() : json_integer(o->concurrency));
    json_object_set_new(j, "rate", o->rate > 0 ? json_real(o->rate) : json_null());
    json_object_set_new(j, "duration_s", json_real(o->duration_s));
    json_object_set_new(j, "requests", json_integer(st->n_lat));
    json_object_set_new(j, "requests_per_s", json_real((double)st->ok_in_window / o->duration_s));
    json_object_set_new(j, "errors", json_integer(st->errors));
    json_object_set_new(j, "status", by);
    json_object_set_new(j, "p50_ms", s_pct(st, 0.50));
    json_object_set_new(j, "p95_ms", s_pct(st, 0.95));
    json_object_set_new(j, "p99_ms", s_pct(st, 0.99));
    json_object_set_new(j, "mean_ms", st->n_lat ? json_real(sum / (double)st->n_lat) : json_null());
    text = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6));
    printf("%s\n", text);
    free(text);
    json_decref(j);
}

/* ---- command line ------------------------------------------------------------------------- */

static void
s_usage(FILE *out)
{
    fprintf(out,
            "usage: autodist-http-load URL [--image FILE [--content-type T] [--multipart]]\n"
            "                          [--concurrency C | --rate R] [--duration S] [--warmup S]\n"
            "                          [--timeout S] [--max-conns N] [--seed N]\n"
            "HTTP/1.1 keep-alive load on URL (http://HOST:PORT/PATH): GET, or POST of FILE\n"
            "(raw with its content type, or --multipart as form field \"image\").  Closed loop:\n"
            "C requests outstanding (default 1); open loop: Poisson arrivals at R per second,\n"
            "latency counted from when each was due.  Prints one JSON object: requests_per_s,\n"
            "errors (connection, timeout, not 2xx), status classes, p50/p95/p99/mean in ms.\n");
}

/* http://HOST[:PORT][/PATH] into o; false after printing why. */
static bool
s_parse_url(const char *url, s_opts_t *o)
{
    const char *p = url + 7, *slash, *colon;
    size_t hlen;

    if (strncmp(url, "http://", 7) != 0) {
        fprintf(stderr, "autodist-http-load: %s: expected http://HOST[:PORT]/PATH (no https)\n",
                url);
        return false;
    }
    slash = strchr(p, '/');
    colon = memchr(p, ':', slash ? (size_t)(slash - p) : strlen(p));
    hlen = (size_t)((colon ? colon : slash ? slash : p + strlen(p)) - p);
    if (hlen == 0 || hlen >= sizeof(o->host)) {
        fprintf(stderr, "autodist-http-load: %s: no host\n", url);
        return false;
    }
    memcpy(o->host, p, hlen);
    o->host[hlen] = '\0';
    if (colon)
        snprintf(o->port, sizeof(o->port), "%.*s",
                 (int)((slash ? slash : colon + strlen(colon)) - colon - 1), colon + 1);
    else
        snprintf(o->port, sizeof(o->port), "80");
    snprintf(o->path, sizeof(o->path), "%s", slash ? slash : "/");
    return true;
}

static bool
s_num(const char *opt, const char *text, double min, double max, double *out)
{
    ad_err_t err = {0};

    if (ad_opt_real(opt, text, min, max, 0, out, &err)) {
        fprintf(stderr, "autodist-http-load: %s\n", err.msg);
        return false;
    }
    return true;
}

static int
s_parse(int argc, char **argv, s_opts_t *o)
{
    static const struct option longs[] = {{"image", required_argument, NULL, 'i'},
                                          {"content-type", required_argument, NULL, 't'},
                                          {"multipart", no_argument, NULL, 'm'},
                                          {"concurrency", required_argument, NULL, 'c'},
                                          {"rate", required_argument, NULL, 'r'},
                                          {"duration", required_argument, NULL, 'd'},
                                          {"warmup", required_argument, NULL, 'w'},
                                          {"timeout", required_argument, NULL, 'T'},
                                          {"max-conns", required_argument, NULL, 'M'},
                                          {"seed", required_argument, NULL, 's'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    double v;
    bool ok = true;
    int ch;

    *o = (s_opts_t){.concurrency = 1,
                    .duration_s = 5,
                    .warmup_s = 1,
                    .timeout_s = 10,
                    .max_conns = 256,
                    .seed = 1};
    while (ok && (ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (ch) {
        case 'i':
            o->image = optarg;
            break;
        case 't':
            o->ctype = optarg;
            break;
        case 'm':
            o->multipart = true;
            break;
        case 'c':
            ok = s_num("--concurrency", optarg, 1, 10000, &v);
            o->concurrency = (int)v;
            break;
        case 'r':
            ok = s_num("--rate", optarg, 0.001, 1e7, &o->rate);
            break;
        case 'd':
            ok = s_num("--duration", optarg, 0.05, 86400, &o->duration_s);
            break;
        case 'w':
            ok = s_num("--warmup", optarg, 0, 86400, &o->warmup_s);
            break;
        case 'T':
            ok = s_num("--timeout", optarg, 0.01, 3600, &o->timeout_s);
            break;
        case 'M':
            ok = s_num("--max-conns", optarg, 1, 10000, &v);
            o->max_conns = (int)v;
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
    }
    if (!ok)
        return S_EXIT_USAGE;
    if (optind + 1 != argc) {
        s_usage(stderr);
        return S_EXIT_USAGE;
    }
    o->url = argv[optind];
    return s_parse_url(o->url, o) ? 0 : S_EXIT_USAGE;
}

int
main(int argc, char **argv)
{
    s_loop_t l = {0};
    s_opts_t o;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    char *req;
    int rc = s_parse(argc, argv, &o);

    if (rc)
        return rc < 0 ? S_EXIT_OK : rc;
    signal(SIGPIPE, SIG_IGN);
    rc = getaddrinfo(o.host, o.port, &hints, &ai);
    if (rc) {
        fprintf(stderr, "autodist-http-load: %s:%s: %s\n", o.host, o.port, gai_strerror(rc));
        return S_EXIT_FAIL;
    }
    req = s_build_request(&o, &l.req_len);
    if (!req) {
        freeaddrinfo(ai);
        return S_EXIT_USAGE;
    }
    l.o = &o;
    l.ai = ai;
    l.req = req;
    s_run(&l);
    s_print(&o, o.url, &l.st);
    free(l.st.lat_ms);
    free(req);
    freeaddrinfo(ai);
    return S_EXIT_OK;
}
