/* ad_http.h - the HTTP layer of `autodist ui` and `autodist serve`: routes, JSON, static files */
#ifndef AD_HTTP_H
#define AD_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "autodist/ad_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A server over libmicrohttpd (docs/architecture.md, "http"): one internal
 * polling thread and a fixed pool of worker threads owned by the server (no
 * thread per connection), bound to 127.0.0.1 unless told otherwise.  Routes
 * map a set of methods and a path prefix to a handler; the longest prefix
 * wins.  A path no route holds answers 404, a method its route does not take
 * 405 (with Allow), a body over the limit 413, each as a JSON error
 * {"error": "...", "status": N}.  Handlers run on the pool's threads, several
 * at once: what they share must be safe for that.  A server on a loopback
 * address answers only requests whose Host is localhost, 127.0.0.1 or [::1]
 * (403 otherwise): a web page elsewhere cannot read it by pointing a name of
 * its own at 127.0.0.1 (DNS rebinding), unless config.any_host says so.
 */
typedef struct ad_http ad_http_t;

/* A request, borrowed for the handler's call. */
typedef struct ad_http_req ad_http_req_t;

/* The answer a handler fills, borrowed for the handler's call. */
typedef struct ad_http_res ad_http_res_t;

/* Methods, as bits of a route's method set. */
#define AD_HTTP_GET 0x01u
#define AD_HTTP_HEAD 0x02u
#define AD_HTTP_POST 0x04u
#define AD_HTTP_PUT 0x08u
#define AD_HTTP_DELETE 0x10u
#define AD_HTTP_OPTIONS 0x20u
#define AD_HTTP_PATCH 0x40u
/* GET and HEAD: what a read-only route takes (HEAD answers GET's headers without the body). */
#define AD_HTTP_READ (AD_HTTP_GET | AD_HTTP_HEAD)

/* Defaults of ad_http_config_t's zero fields. */
#define AD_HTTP_DEFAULT_LISTEN "127.0.0.1:0"
#define AD_HTTP_DEFAULT_MAX_BODY (1024 * 1024)
#define AD_HTTP_DEFAULT_MAX_CONNECTIONS 64
#define AD_HTTP_DEFAULT_TIMEOUT_S 30
#define AD_HTTP_DEFAULT_THREADS 4

/* How a server listens and what it allows; zero fields take the defaults above. */
typedef struct ad_http_config {
    const char *listen;       /* "ADDR:PORT", "PORT" (on 127.0.0.1), ":PORT"; port 0 = any free */
    size_t max_body;          /* largest request body in bytes; more answers 413 */
    unsigned max_connections; /* connections served at once; more wait in the listen queue */
    unsigned timeout_s;       /* an idle connection is closed after this many seconds */
    unsigned threads;         /* worker threads of the pool */
    bool any_host;            /* on loopback, also answer a Host other than localhost (see below) */
    bool reuse_port;          /* SO_REUSEPORT: several processes serve one port (autodist serve) */
    /*
     * Called once per request when its connection is done with it (on a pool
     * thread, several at once), e.g. for a server's metrics: its method, path,
     * the status answered (0: none, the client left first), the seconds from
     * its headers to the end of the answer, and whether the answer was all sent.
     * NULL: none.
     */
    void (*on_done)(void *arg, const char *method, const char *path, int status, double seconds,
                    bool sent);
    void *on_done_arg; /* on_done's first argument */
} ad_http_config_t;

/*
 * A handler: fill res (ad_http_res_json(), _error(), _bytes(), _file()) and
 * return 0; a non-zero return without an answer becomes 500 with the
 * message "internal error".
 */
typedef int (*ad_http_handler_fn)(const ad_http_req_t *req, ad_http_res_t *res, void *arg);

/*
 * Parse listen ("ADDR:PORT", "PORT", ":PORT"; ADDR an IPv4 address or
 * "localhost") into addr (at least 16 bytes) and *port.  Returns 0, or
 * AD_EINVAL with err saying what is wrong.
 */
int ad_http_parse_listen(const char *listen, char *addr, size_t size, int *port, ad_err_t *err);

/*
 * A server that does not listen yet (config NULL: the defaults).  Returns 0
 * with *out owned by the caller (ad_http_stop()), or AD_EINVAL for a bad
 * listen address, with err set.
 */
int ad_http_new(const ad_http_config_t *config, ad_http_t **out, ad_err_t *err);

/*
 * Route the methods (AD_HTTP_* bits) of paths under prefix ("/api/jobs"
 * takes "/api/jobs" and "/api/jobs/7", not "/api/jobsx"; "/" takes every
 * path) to fn.  Only before ad_http_start().  Returns 0 or AD_EINVAL (a
 * prefix not starting with '/', too many routes).
 */
int ad_http_route(ad_http_t *self, unsigned methods, const char *prefix, ad_http_handler_fn fn,
                  void *arg);

/*
 * Serve the files of folder dir (GET and HEAD) under prefix: "PREFIX/a/b.js"
 * is dir/a/b.js, a folder answers its index.html.  A path with a ".."
 * segment, or one that leads outside dir through a link, answers 404.
 * Returns 0, or AD_EINVAL (dir is not a folder) with err set.
 */
int ad_http_static(ad_http_t *self, const char *prefix, const char *dir, ad_err_t *err);

/*
 * Listen and serve.  Returns 0, or -errno / AD_EIO with err saying why
 * (the address in use, not an address of this machine).
 */
int ad_http_start(ad_http_t *self, ad_err_t *err);

/* The port the server listens on (the one chosen for port 0); 0 before ad_http_start(). */
int ad_http_port(const ad_http_t *self);

/* "http://ADDR:PORT" of the started server (borrowed); "" before ad_http_start(). */
const char *ad_http_url(const ad_http_t *self);

/*
 * Stop serving (requests in flight finish), join the threads and free the
 * server; NULL-safe, idempotent, sets *self_p to NULL.
 */
void ad_http_stop(ad_http_t **self_p);

/* ---- the request --------------------------------------------------------------------------- */

/* The method ("GET"), borrowed. */
const char *ad_http_req_method(const ad_http_req_t *req);
/* The method as an AD_HTTP_* bit (0 for another method). */
unsigned ad_http_req_method_bit(const ad_http_req_t *req);
/* The path, decoded, without the query ("/api/jobs/7"), borrowed. */
const char *ad_http_req_path(const ad_http_req_t *req);
/* The path after the route's prefix ("/7" for "/api/jobs/7" under "/api/jobs"), borrowed. */
const char *ad_http_req_rest(const ad_http_req_t *req);
/* Query argument key (decoded), borrowed; NULL when absent. */
const char *ad_http_req_query(const ad_http_req_t *req, const char *key);
/* Header name (any case), borrowed; NULL when absent. */
const char *ad_http_req_header(const ad_http_req_t *req, const char *name);
/* The body (NUL-terminated, borrowed) and its length in *len (may be NULL); "" when none. */
const char *ad_http_req_body(const ad_http_req_t *req, size_t *len);

/*
 * The part called name of a multipart/form-data or
 * application/x-www-form-urlencoded body (an <input type=file name=NAME>
 * upload, a form field): its bytes in a new buffer *data (NUL-terminated, the
 * caller frees it) of *len bytes, and its file name and content type in
 * *filename and *type (new strings or NULL; either pointer may be NULL).
 * Returns 0, -ENOENT when the body has no such part, or AD_EPARSE when it is
 * not a form (wrong content type, malformed).
 */
int ad_http_req_part(const ad_http_req_t *req, const char *name, char **data, size_t *len,
                     char **filename, char **type);

/* ---- the answer ---------------------------------------------------------------------------- */

/* Answer status with doc (stolen) as application/json. */
void ad_http_res_json(ad_http_res_t *res, int status, json_t *doc);
/* Answer status with {"error": message, "status": status} as application/json. */
void ad_http_res_error(ad_http_res_t *res, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Answer status with len bytes of data (copied) of content type type. */
void ad_http_res_bytes(ad_http_res_t *res, int status, const char *type, const void *data,
                       size_t len);
/*
 * Answer with the file rel (no ".." segment, relative) of folder dir, its
 * content type from its extension, or 404 as a JSON error.
 */
void ad_http_res_file(ad_http_res_t *res, const char *dir, const char *rel);
/* Add a header to the answer (both copied); up to 16 headers. */
void ad_http_res_header(ad_http_res_t *res, const char *name, const char *value);

/* ---- answers given later, by another thread ------------------------------------------------- */

/*
 * A request answered later (a model server's batch: the handler queues the
 * request and an inference thread answers it).  The connection waits,
 * suspended, without holding a thread of the pool.
 */
typedef struct ad_http_later ad_http_later_t;

/*
 * Answer res's request later: the handler returns 0 without answering, and
 * the thread that holds the returned handle fills ad_http_later_res() and
 * calls ad_http_later_send().  Never NULL; once per request.
 */
ad_http_later_t *ad_http_res_later(ad_http_res_t *res);

/* The answer to fill (ad_http_res_json(), ...), owned by the handle's holder until it is sent. */
ad_http_res_t *ad_http_later_res(ad_http_later_t *later);

/*
 * Send the filled answer and release the handle (sets *later_p to NULL).
 * Safe from any thread, at any time: when the client has gone or the server
 * has stopped (then the request got 503), the answer is dropped.
 */
void ad_http_later_send(ad_http_later_t **later_p);

/* The content type of a file name from its extension ("text/html; charset=utf-8", ...). */
const char *ad_http_content_type(const char *name);

#ifdef __cplusplus
}
#endif

#endif
