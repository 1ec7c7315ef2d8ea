/* test_http.c - the HTTP layer (http/ad_http.c): routes, errors as JSON, static files, limits */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ad_test.h"
#include "autodist/ad_http.h"

/* One answer read back from the server. */
typedef struct answer {
    int status;      /* the status line's code; -1 when nothing came */
    char head[4096]; /* the status line and headers */
    char *body;      /* malloc'd, NUL-terminated */
    size_t len;      /* body bytes */
} answer_t;

static void
s_answer_free(answer_t *a)
{
    free(a->body);
    a->body = NULL;
}

/* Send raw (len bytes) to 127.0.0.1:port, read the whole answer (the server closes). */
static answer_t
s_raw(int port, const char *raw, size_t len)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    answer_t a = {.status = -1};
    size_t cap = 1 << 16, n = 0, off = 0;
    char *buf = malloc(cap);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ssize_t k;
    char *sep;

    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    while (off < len && (k = send(fd, raw + off, len - off, MSG_NOSIGNAL)) > 0)
        off += (size_t)k;
    while ((k = recv(fd, buf + n, cap - n - 1, 0)) > 0) {
        n += (size_t)k;
        if (cap - n < 1024)
            buf = realloc(buf, cap *= 2);
    }
    close(fd);
    buf[n] = '\0';
    sep = strstr(buf, "\r\n\r\n");
    if (sep) {
        size_t h = (size_t)(sep - buf);

        snprintf(a.head, sizeof(a.head), "%.*s", (int)h, buf);
        sscanf(buf, "HTTP/1.%*d %d", &a.status);
        a.len = n - h - 4;
        a.body = malloc(a.len + 1);
        memcpy(a.body, sep + 4, a.len + 1);
    }
    free(buf);
    return a;
}

/* method path with an optional body, "Connection: close". */
static answer_t
s_req(int port, const char *method, const char *path, const char *body)
{
    size_t bl = body ? strlen(body) : 0, cap = bl + strlen(path) + 256;
    char *req = malloc(cap);
    int n = snprintf(req, cap,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     method, path, bl, body ? body : "");
    answer_t a;

    assert_true(n > 0 && (size_t)n < cap);
    a = s_raw(port, req, (size_t)n);
    free(req);
    return a;
}

/* The body's JSON "error" field is there and mentions want. */
static void
s_expect_json_error(const answer_t *a, int status, const char *want)
{
    json_error_t je;
    json_t *doc = json_loads(a->body ? a->body : "", 0, &je);

    assert_int_equal(a->status, status);
    assert_non_null(strstr(a->head, "application/json"));
    assert_non_null(doc);
    assert_int_equal(json_integer_value(json_object_get(doc, "status")), status);
    assert_non_null(strstr(json_string_value(json_object_get(doc, "error")), want));
    json_decref(doc);
}

/* ---- the server of the tests ----------------------------------------------------------------- */

static ad_http_t *s_http;
static int s_port;
static char s_web[512];

static int
s_hello(const ad_http_req_t *req, ad_http_res_t *res, void *arg)
{
    const char *who = ad_http_req_query(req, "who");

    ad_http_res_json(res, 200,
                     json_pack("{s:s s:s s:s s:s}", "hello", who ? who : "world", "route", arg,
                               "rest", ad_http_req_rest(req), "method", ad_http_req_method(req)));
    return 0;
}

static int
s_echo(const ad_http_req_t *req, ad_http_res_t *res, void *arg)
{
    size_t len;
    const char *body = ad_http_req_body(req, &len);

    ad_http_res_bytes(res, 201, "text/plain", body, len);
    return 0;
}

static int
s_broken(const ad_http_req_t *req, ad_http_res_t *res, void *arg)
{
    return -1;
}

/* An answer given later by a thread of its own, as a model server's batch would. */
static void *
s_later_thread(void *arg)
{
    ad_http_later_t *l = arg;
    ad_http_res_t *res = ad_http_later_res(l);

    adt_sleep_ms(20);
    ad_http_res_json(res, 200, json_pack("{s:b}", "later", 1));
    ad_http_later_send(&l);
    assert_null(l);
    return NULL;
}

static int
s_later(const ad_http_req_t *req, ad_http_res_t *res, void *arg)
{
    pthread_t t;

    pthread_create(&t, NULL, s_later_thread, ad_http_res_later(res));
    pthread_detach(t);
    return 0;
}

/* Answered later, but at once, before the handler returns. */
static int
s_later_now(const ad_http_req_t *req, ad_http_res_t *res, void *arg)
{
    ad_http_later_t *l = ad_http_res_later(res);

    ad_http_res_bytes(ad_http_later_res(l), 202, "text/plain", "now", 3);
    ad_http_later_send(&l);
    return 0;
}

/* The part "image" of a form: its size, file name, type and bytes. */
static int
s_upload(const ad_http_req_t *req, ad_http_res_t *res, void *arg)
{
    char *data = NULL, *filename = NULL, *type = NULL;
    size_t len = 0;
    int rc = ad_http_req_part(req, "image", &data, &len, &filename, &type);

    if (rc == AD_EPARSE)
        ad_http_res_error(res, 415, "not a form");
    else if (rc == -ENOENT)
        ad_http_res_error(res, 400, "no part \"image\"");
    else
        ad_http_res_json(res, 200,
                         json_pack("{s:i s:s? s:s? s:s}", "len", (int)len, "filename", filename,
                                   "type", type, "data", data));
    free(data);
    free(filename);
    free(type);
    return 0;
}

static int
s_setup(void **state)
{
    ad_http_config_t cfg = {.listen = "127.0.0.1:0", .max_body = 1000, .threads = 4};
    ad_err_t err = {0};
    const char *root = adt_root_make("test_http");
    char path[600];

    assert_non_null(root);
    snprintf(s_web, sizeof(s_web), "%s/web", root);
    mkdir(s_web, 0755);
    adt_write_in(s_web, "index.html", "<h1>ui</h1>", 11);
    adt_write_in(s_web, "app.js", "let x = 1;", 10);
    snprintf(path, sizeof(path), "%s/sub", s_web);
    mkdir(path, 0755);
    adt_write_in(path, "style.css", "body{}", 6);
    adt_write_in(root, "secret.txt", "top secret", 10);
    /* A link inside the folder that leads outside it. */
    snprintf(path, sizeof(path), "%s/leak.txt", s_web);
    assert_int_equal(symlink("../secret.txt", path), 0);

    assert_int_equal(ad_http_new(&cfg, &s_http, &err), 0);
    assert_int_equal(ad_http_route(s_http, AD_HTTP_READ, "/api/hello", s_hello, "hello"), 0);
    assert_int_equal(ad_http_route(s_http, AD_HTTP_READ, "/api/hello/deep", s_hello, "deep"), 0);
    assert_int_equal(ad_http_route(s_http, AD_HTTP_POST, "/api/echo", s_echo, NULL), 0);
    assert_int_equal(ad_http_route(s_http, AD_HTTP_READ, "/api/broken", s_broken, NULL), 0);
    assert_int_equal(ad_http_route(s_http, AD_HTTP_READ, "/api/later", s_later, NULL), 0);
    assert_int_equal(ad_http_route(s_http, AD_HTTP_READ, "/api/now", s_later_now, NULL), 0);
    assert_int_equal(ad_http_route(s_http, AD_HTTP_POST, "/api/upload", s_upload, NULL), 0);
    assert_int_equal(ad_http_static(s_http, "/", s_web, &err), 0);
    assert_int_equal(ad_http_start(s_http, &err), 0);
    s_port = ad_http_port(s_http);
    assert_true(s_port > 0);
    return 0;
}

static int
s_teardown(void **state)
{
    ad_http_stop(&s_http);
    assert_null(s_http);
    ad_http_stop(&s_http); /* idempotent */
    adt_root_remove();
    return 0;
}

/* ---- tests ----------------------------------------------------------------------------------- */

static void
test_listen_parse(void **state)
{
    ad_err_t err = {0};
    char addr[64];
    int port;

    assert_int_equal(ad_http_parse_listen("8080", addr, sizeof(addr), &port, &err), 0);
    assert_string_equal(addr, "127.0.0.1");
    assert_int_equal(port, 8080);
    assert_int_equal(ad_http_parse_listen("0.0.0.0:0", addr, sizeof(addr), &port, &err), 0);
    assert_string_equal(addr, "0.0.0.0");
    assert_int_equal(port, 0);
    assert_int_equal(ad_http_parse_listen(":9", addr, sizeof(addr), &port, &err), 0);
    assert_string_equal(addr, "127.0.0.1");
    assert_int_equal(ad_http_parse_listen("localhost:81", addr, sizeof(addr), &port, &err), 0);
    assert_string_equal(addr, "127.0.0.1");
    assert_int_equal(ad_http_parse_listen("1.2.3.4:70000", addr, sizeof(addr), &port, &err),
                     AD_EINVAL);
    assert_non_null(strstr(err.msg, "0..65535"));
    assert_int_equal(ad_http_parse_listen("nohost:80", addr, sizeof(addr), &port, &err), AD_EINVAL);
    assert_non_null(strstr(err.msg, "not an IPv4 address"));
    assert_int_equal(ad_http_parse_listen("", addr, sizeof(addr), &port, &err), AD_EINVAL);
}

static void
test_listen_in_use(void **state)
{
    ad_http_config_t cfg = {0};
    ad_http_t *other = NULL;
    ad_err_t err = {0};
    char listen[32];

    snprintf(listen, sizeof(listen), "127.0.0.1:%d", s_port);
    cfg.listen = listen;
    assert_int_equal(ad_http_new(&cfg, &other, &err), 0);
    assert_true(ad_http_start(other, &err) < 0);
    assert_non_null(strstr(err.msg, "cannot listen on 127.0.0.1:"));
    assert_int_equal(ad_http_port(other), 0);
    ad_http_stop(&other);
    cfg.listen = "bad:port";
    assert_int_equal(ad_http_new(&cfg, &other, &err), AD_EINVAL);
    assert_null(other);
}

static void
test_routes(void **state)
{
    answer_t a = s_req(s_port, "GET", "/api/hello?who=ui", NULL);
    json_t *doc;
    char url[64];

    snprintf(url, sizeof(url), "http://127.0.0.1:%d", s_port);
    assert_string_equal(ad_http_url(s_http), url);
    assert_int_equal(a.status, 200);
    doc = json_loads(a.body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(doc, "hello")), "ui");
    assert_string_equal(json_string_value(json_object_get(doc, "route")), "hello");
    json_decref(doc);
    s_answer_free(&a);

    /* The longest prefix wins; the rest of the path goes to the handler. */
    a = s_req(s_port, "GET", "/api/hello/deep/7", NULL);
    doc = json_loads(a.body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(doc, "route")), "deep");
    assert_string_equal(json_string_value(json_object_get(doc, "rest")), "/7");
    json_decref(doc);
    s_answer_free(&a);
    a = s_req(s_port, "GET", "/api/hello/other", NULL);
    doc = json_loads(a.body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(doc, "route")), "hello");
    json_decref(doc);
    s_answer_free(&a);

    /* HEAD: the headers of GET, no body. */
    a = s_req(s_port, "HEAD", "/api/hello", NULL);
    assert_int_equal(a.status, 200);
    assert_int_equal(a.len, 0);
    s_answer_free(&a);

    /* A POST route gets the body. */
    a = s_req(s_port, "POST", "/api/echo", "ping");
    assert_int_equal(a.status, 201);
    assert_string_equal(a.body, "ping");
    s_answer_free(&a);

    /* A handler that fails without answering: 500 as JSON. */
    a = s_req(s_port, "GET", "/api/broken", NULL);
    s_expect_json_error(&a, 500, "internal error");
    s_answer_free(&a);
}

static void
test_not_found_and_method(void **state)
{
    answer_t a = s_req(s_port, "GET", "/api/nothing", NULL);

    /* "/" serves static files: an unknown path is a missing file. */
    s_expect_json_error(&a, 404, "not found");
    s_answer_free(&a);
    a = s_req(s_port, "GET", "/api/hellox", NULL);
    s_expect_json_error(&a, 404, "not found");
    s_answer_free(&a);

    a = s_req(s_port, "POST", "/api/hello", "x");
    s_expect_json_error(&a, 405, "method POST not allowed");
    assert_non_null(strstr(a.head, "Allow: GET, HEAD"));
    s_answer_free(&a);
    a = s_req(s_port, "DELETE", "/index.html", NULL);
    s_expect_json_error(&a, 405, "not allowed");
    s_answer_free(&a);
    a = s_req(s_port, "GET", "/api/echo", NULL);
    s_expect_json_error(&a, 405, "allowed: POST");
    s_answer_free(&a);
}

static void
test_static(void **state)
{
    answer_t a = s_req(s_port, "GET", "/", NULL);

    assert_int_equal(a.status, 200);
    assert_string_equal(a.body, "<h1>ui</h1>");
    assert_non_null(strstr(a.head, "text/html"));
    s_answer_free(&a);
    a = s_req(s_port, "GET", "/app.js", NULL);
    assert_int_equal(a.status, 200);
    assert_non_null(strstr(a.head, "text/javascript"));
    s_answer_free(&a);
    a = s_req(s_port, "GET", "/sub/style.css", NULL);
    assert_int_equal(a.status, 200);
    assert_non_null(strstr(a.head, "text/css"));
    assert_string_equal(a.body, "body{}");
    s_answer_free(&a);
    a = s_req(s_port, "GET", "/sub/", NULL); /* no index.html there */
    s_expect_json_error(&a, 404, "not found");
    s_answer_free(&a);
}

static void
test_traversal_refused(void **state)
{
    static const char *const paths[] = {
        "/../secret.txt",     "/sub/../../secret.txt",
        "/%2e%2e/secret.txt", "/sub/%2E%2E/%2e%2e/secret.txt",
        "/leak.txt",          "/sub/..%2f..%2fsecret.txt",
        "/..\\secret.txt",
    };

    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        answer_t a = s_req(s_port, "GET", paths[i], NULL);

        if (a.status != 400)
            s_expect_json_error(&a, 404, "not found");
        assert_null(a.body ? strstr(a.body, "top secret") : NULL);
        s_answer_free(&a);
    }
}

static void
test_body_limit(void **state)
{
    char *big = malloc(5001), head[256];
    answer_t a;
    int n;

    memset(big, 'x', 5000);
    big[5000] = '\0';
    /* Over the limit by Content-Length: refused before the body is read. */
    a = s_req(s_port, "POST", "/api/echo", big);
    s_expect_json_error(&a, 413, "over the limit of 1000");
    s_answer_free(&a);
    /* Over the limit in chunks (no Content-Length): refused at the end. */
    n = snprintf(head, sizeof(head),
                 "POST /api/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n");
    {
        size_t len = (size_t)n + 5000 + 64;
        char *raw = malloc(len);
        int m = snprintf(raw, len, "%s1388\r\n%s\r\n0\r\n\r\n", head, big);

        a = s_raw(s_port, raw, (size_t)m);
        free(raw);
    }
    s_expect_json_error(&a, 413, "over the limit");
    s_answer_free(&a);
    /* At the limit: accepted. */
    big[1000] = '\0';
    a = s_req(s_port, "POST", "/api/echo", big);
    assert_int_equal(a.status, 201);
    assert_int_equal(a.len, 1000);
    s_answer_free(&a);
    free(big);
}

#define S_CLIENTS 16
#define S_EACH 20

static void *
s_client(void *arg)
{
    intptr_t ok = 0;

    for (int i = 0; i < S_EACH; i++) {
        char path[64];
        answer_t a;

        snprintf(path, sizeof(path), "/api/hello?who=c%d-%d", (int)(intptr_t)arg, i);
        a = s_req(s_port, "GET", path, NULL);
        ok += a.status == 200 && a.body && strstr(a.body, path + strlen("/api/hello?who="));
        s_answer_free(&a);
    }
    return (void *)ok;
}

static void
test_concurrent(void **state)
{
    pthread_t t[S_CLIENTS];
    intptr_t total = 0;

    for (intptr_t i = 0; i < S_CLIENTS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, s_client, (void *)i), 0);
    for (int i = 0; i < S_CLIENTS; i++) {
        void *r;

        pthread_join(t[i], &r);
        total += (intptr_t)r;
    }
    /* Every request of every client got its own answer. */
    assert_int_equal(total, S_CLIENTS * S_EACH);
}

static void *
s_later_client(void *arg)
{
    intptr_t ok = 0;

    for (int i = 0; i < 4; i++) {
        answer_t a = s_req(s_port, "GET", "/api/later", NULL);

        ok += a.status == 200 && a.body && strstr(a.body, "\"later\":true");
        s_answer_free(&a);
    }
    return (void *)ok;
}

static void
test_later(void **state)
{
    answer_t a = s_req(s_port, "GET", "/api/now", NULL);
    pthread_t t[S_CLIENTS];
    intptr_t total = 0;

    assert_int_equal(a.status, 202);
    assert_string_equal(a.body, "now");
    s_answer_free(&a);
    /* More waiting requests than the pool's 4 threads: none holds a thread while it waits. */
    for (intptr_t i = 0; i < S_CLIENTS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, s_later_client, NULL), 0);
    for (int i = 0; i < S_CLIENTS; i++) {
        void *r;

        pthread_join(t[i], &r);
        total += (intptr_t)r;
    }
    assert_int_equal(total, S_CLIENTS * 4);
}

/* A request the server never answers before it stops. */
static ad_http_later_t *s_held; /* set by a pool thread: read and written atomically */

static int
s_hold(const ad_http_req_t *req, ad_http_res_t *res, void *arg)
{
    __atomic_store_n(&s_held, ad_http_res_later(res), __ATOMIC_SEQ_CST);
    return 0;
}

static void *
s_hold_client(void *arg)
{
    answer_t *a = arg;

    *a = s_req(*(int *)a->head, "GET", "/hold", NULL);
    return NULL;
}

static void
test_later_stop(void **state)
{
    ad_http_config_t cfg = {.threads = 2};
    ad_http_t *http = NULL;
    ad_err_t err = {0};
    answer_t a = {0};
    pthread_t t;
    int port;

    assert_int_equal(ad_http_new(&cfg, &http, &err), 0);
    assert_int_equal(ad_http_route(http, AD_HTTP_READ, "/hold", s_hold, NULL), 0);
    assert_int_equal(ad_http_start(http, &err), 0);
    port = ad_http_port(http);
    memcpy(a.head, &port, sizeof(port));
    s_held = NULL;
    pthread_create(&t, NULL, s_hold_client, &a);
    for (int i = 0; i < 500 && !__atomic_load_n(&s_held, __ATOMIC_SEQ_CST); i++)
        adt_sleep_ms(10);
    assert_non_null(__atomic_load_n(&s_held, __ATOMIC_SEQ_CST));
    /* Stopping wakes the waiting request: it gets 503 (or its connection closes). */
    ad_http_stop(&http);
    pthread_join(t, NULL);
    if (a.status != -1)
        s_expect_json_error(&a, 503, "stopping");
    s_answer_free(&a);
    /* The holder answers after the stop: dropped, no harm. */
    ad_http_res_json(ad_http_later_res(s_held), 200, json_object());
    {
        ad_http_later_t *l = s_held;

        ad_http_later_send(&l);
        assert_null(l);
    }
}

static void
test_form_part(void **state)
{
    static const char body[] = "--XyZ\r\n"
                               "Content-Disposition: form-data; name=\"note\"\r\n\r\n"
                               "hello\r\n"
                               "--XyZ\r\n"
                               "Content-Disposition: form-data; name=\"image\"; "
                               "filename=\"cat.png\"\r\n"
                               "Content-Type: image/png\r\n\r\n"
                               "PNGDATA-1234\r\n"
                               "--XyZ--\r\n";
    char raw[1024];
    answer_t a;
    json_t *doc;
    int n;

    n = snprintf(raw, sizeof(raw),
                 "POST /api/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                 "Content-Type: multipart/form-data; boundary=XyZ\r\n"
                 "Content-Length: %zu\r\n\r\n%s",
                 strlen(body), body);
    a = s_raw(s_port, raw, (size_t)n);
    assert_int_equal(a.status, 200);
    doc = json_loads(a.body, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(doc, "len")), 12);
    assert_string_equal(json_string_value(json_object_get(doc, "data")), "PNGDATA-1234");
    assert_string_equal(json_string_value(json_object_get(doc, "filename")), "cat.png");
    assert_string_equal(json_string_value(json_object_get(doc, "type")), "image/png");
    json_decref(doc);
    s_answer_free(&a);

    /* A form without the part; a body that is not a form. */
    n = snprintf(raw, sizeof(raw),
                 "POST /api/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                 "Content-Type: application/x-www-form-urlencoded\r\n"
                 "Content-Length: 7\r\n\r\nnote=hi");
    a = s_raw(s_port, raw, (size_t)n);
    s_expect_json_error(&a, 400, "no part");
    s_answer_free(&a);
    a = s_req(s_port, "POST", "/api/upload", "raw bytes");
    s_expect_json_error(&a, 415, "not a form");
    s_answer_free(&a);
}

static void
test_host_checked(void **state)
{
    static const char *const refused[] = {"evil.example", "localhost.evil.example:80",
                                          "127.0.0.1.nip.io"};
    static const char *const taken[] = {"localhost", "LOCALHOST:8080", "127.0.0.1:1", "[::1]:9"};
    char raw[256];
    answer_t a;
    int n;

    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        n = snprintf(raw, sizeof(raw),
                     "GET /api/hello HTTP/1.1\r\nHost: %s\r\n"
                     "Connection: close\r\n\r\n",
                     refused[i]);
        a = s_raw(s_port, raw, (size_t)n);
        s_expect_json_error(&a, 403, "only Host localhost");
        s_answer_free(&a);
    }
    for (size_t i = 0; i < sizeof(taken) / sizeof(taken[0]); i++) {
        n = snprintf(raw, sizeof(raw),
                     "GET /api/hello HTTP/1.1\r\nHost: %s\r\n"
                     "Connection: close\r\n\r\n",
                     taken[i]);
        a = s_raw(s_port, raw, (size_t)n);
        assert_int_equal(a.status, 200);
        s_answer_free(&a);
    }
}

/* A connection to 127.0.0.1:port that waits at most 20 s on a read. */
static int
s_connect(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {.tv_sec = 20};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

/* Whether the server closed fd (a read sees the end, or a reset) rather than the read timing out.
 */
static bool
s_closed_by_server(int fd)
{
    char c;
    ssize_t k = recv(fd, &c, 1, 0);

    return k == 0 || (k < 0 && errno == ECONNRESET);
}

/* A started server of cfg with the route /api/hello; its port in *port. */
static ad_http_t *
s_small_server(const ad_http_config_t *cfg, int *port)
{
    ad_http_t *http = NULL;
    ad_err_t err = {0};

    assert_int_equal(ad_http_new(cfg, &http, &err), 0);
    assert_int_equal(ad_http_route(http, AD_HTTP_READ, "/api/hello", s_hello, "limits"), 0);
    assert_int_equal(ad_http_start(http, &err), 0);
    *port = ad_http_port(http);
    return http;
}

static void
test_limits(void **state)
{
    /* Idle connections live 60 s here: nothing closes them during the test. */
    ad_http_config_t cfg = {.max_connections = 2, .timeout_s = 60, .threads = 1};
    int port, a, b, c;
    ad_http_t *http = s_small_server(&cfg, &port);

    /* Two connections open: a third waits, unanswered, until one of them closes. */
    a = s_connect(port);
    b = s_connect(port);
    adt_sleep_ms(100);
    c = s_connect(port);
    {
        static const char get[] = "GET /api/hello HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                  "Connection: close\r\n\r\n";
        struct timeval tv = {.tv_sec = 1};
        char buf[512];
        ssize_t k;

        assert_int_equal(send(c, get, sizeof(get) - 1, MSG_NOSIGNAL), (ssize_t)sizeof(get) - 1);
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        k = recv(c, buf, sizeof(buf) - 1, 0);
        assert_true(k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
        close(a);
        tv.tv_sec = 20;
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        k = recv(c, buf, sizeof(buf) - 1, 0);
        assert_true(k > 12);
        buf[k] = '\0';
        assert_non_null(strstr(buf, "HTTP/1.1 200"));
    }
    close(c);
    close(b);
    ad_http_stop(&http);

    /* An idle connection is closed after the timeout (1 s; a read waits up to 20 s). */
    cfg = (ad_http_config_t){.timeout_s = 1};
    http = s_small_server(&cfg, &port);
    a = s_connect(port);
    assert_true(s_closed_by_server(a));
    close(a);
    ad_http_stop(&http);
}

/* What the on_done hook saw. */
static struct {
    pthread_mutex_t mu;
    int n;         /* calls */
    int status[8]; /* their statuses, in order */
    char path[8][64];
    bool sent[8];
} s_done = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void
s_on_done(void *arg, const char *method, const char *path, int status, double seconds, bool sent)
{
    pthread_mutex_lock(&s_done.mu);
    if (s_done.n < 8 && seconds >= 0) {
        s_done.status[s_done.n] = status;
        snprintf(s_done.path[s_done.n], sizeof(s_done.path[0]), "%s %s", method, path);
        s_done.sent[s_done.n] = sent;
        s_done.n++;
    }
    pthread_mutex_unlock(&s_done.mu);
}

static int
s_done_count(void)
{
    int n;

    pthread_mutex_lock(&s_done.mu);
    n = s_done.n;
    pthread_mutex_unlock(&s_done.mu);
    return n;
}

static void
test_on_done(void **state)
{
    ad_http_config_t cfg = {.max_body = 10, .on_done = s_on_done, .on_done_arg = NULL};
    const char *want[][2] = {
        {"GET /api/hello", "200"}, {"GET /nope", "404"}, {"POST /api/hello", "413"}};
    int port;
    ad_http_t *http = s_small_server(&cfg, &port);
    answer_t a;

    a = s_req(port, "GET", "/api/hello", NULL);
    s_answer_free(&a);
    for (int i = 0; i < 200 && s_done_count() < 1; i++)
        adt_sleep_ms(10);
    a = s_req(port, "GET", "/nope", NULL);
    s_answer_free(&a);
    for (int i = 0; i < 200 && s_done_count() < 2; i++)
        adt_sleep_ms(10);
    a = s_req(port, "POST", "/api/hello", "more than ten bytes");
    s_answer_free(&a);
    for (int i = 0; i < 200 && s_done_count() < 3; i++)
        adt_sleep_ms(10);
    ad_http_stop(&http);
    assert_int_equal(s_done_count(), 3);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(s_done.path[i], want[i][0]);
        assert_int_equal(s_done.status[i], atoi(want[i][1]));
    }
    assert_true(s_done.sent[0]);
}

static void
test_malformed(void **state)
{
    static const char *const bad[] = {"GARBAGE\r\n\r\n", "GET\r\n\r\n",
                                      "GET / HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n",
                                      "\x01\x02\x03\xff\r\n\r\n"};
    size_t big = 200 * 1024;
    char *huge = malloc(big + 128);
    answer_t a;
    int n;

    /* Malformed requests, many in a row: answered or dropped, never a crash. */
    for (int round = 0; round < 50; round++)
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            a = s_raw(s_port, bad[i], strlen(bad[i]));
            assert_true(a.status == -1 || (a.status >= 400 && a.status < 600));
            s_answer_free(&a);
        }
    /* A header larger than a connection's memory: refused (431), not a crash. */
    n = snprintf(huge, big + 128, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX: ");
    memset(huge + n, 'a', big);
    memcpy(huge + n + big, "\r\n\r\n", 5);
    a = s_raw(s_port, huge, (size_t)n + big + 4);
    assert_true(a.status == -1 || a.status == 431 || a.status == 413);
    s_answer_free(&a);
    free(huge);
    /* And it still serves. */
    a = s_req(s_port, "GET", "/api/hello", NULL);
    assert_int_equal(a.status, 200);
    s_answer_free(&a);
}

static void
test_content_types(void **state)
{
    assert_string_equal(ad_http_content_type("a.svg"), "image/svg+xml");
    assert_string_equal(ad_http_content_type("a.PNG"), "image/png");
    assert_string_equal(ad_http_content_type("noext"), "application/octet-stream");
    assert_string_equal(ad_http_content_type("x.json"), "application/json");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listen_parse), cmocka_unit_test(test_listen_in_use),
        cmocka_unit_test(test_routes),       cmocka_unit_test(test_not_found_and_method),
        cmocka_unit_test(test_static),       cmocka_unit_test(test_traversal_refused),
        cmocka_unit_test(test_body_limit),   cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_later),        cmocka_unit_test(test_later_stop),
        cmocka_unit_test(test_form_part),    cmocka_unit_test(test_host_checked),
        cmocka_unit_test(test_limits),       cmocka_unit_test(test_on_done),
        cmocka_unit_test(test_malformed),    cmocka_unit_test(test_content_types),
    };

    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
