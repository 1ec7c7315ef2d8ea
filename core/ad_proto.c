/* ad_proto.c - the wire protocol: [type][json] messages over ZeroMQ (CZMQ), checked on both ends */
#include "autodist/ad_proto.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "autodist/ad_fault.h"

/* ---- message types ---------------------------------------------------- */

static const char *const s_type_names[AD_PROTO_TYPE_COUNT] = {
    [AD_PROTO_UNKNOWN] = "UNKNOWN",
#define AD_PROTO_TYPE_NAME(name, origin) [AD_PROTO_##name] = #name,
    AD_PROTO_TYPE_TABLE(AD_PROTO_TYPE_NAME)
#undef AD_PROTO_TYPE_NAME
};

static const ad_proto_origin_t s_type_origins[AD_PROTO_TYPE_COUNT] = {
#define AD_PROTO_TYPE_ORIGIN(name, origin) [AD_PROTO_##name] = origin,
    AD_PROTO_TYPE_TABLE(AD_PROTO_TYPE_ORIGIN)
#undef AD_PROTO_TYPE_ORIGIN
};

/* Longest type frame accepted; longer ones are unknown without a string compare. */
#define S_TYPE_MAX 16

const char *
ad_proto_type_name(ad_proto_type_t type)
{
    if (type <= AD_PROTO_UNKNOWN || type >= AD_PROTO_TYPE_COUNT)
        return "UNKNOWN";
    return s_type_names[type];
}

ad_proto_type_t
ad_proto_type_from_name(const char *name)
{
    if (!name)
        return AD_PROTO_UNKNOWN;
    for (int t = AD_PROTO_UNKNOWN + 1; t < AD_PROTO_TYPE_COUNT; t++)
        if (!strcmp(s_type_names[t], name))
            return t;
    return AD_PROTO_UNKNOWN;
}

ad_proto_origin_t
ad_proto_type_origin(ad_proto_type_t type)
{
    if (type <= AD_PROTO_UNKNOWN || type >= AD_PROTO_TYPE_COUNT)
        return 0;
    return s_type_origins[type];
}

/* ---- the fields of each message (docs/protocol.md is the reference) ---- */

typedef enum {
    S_INT,  /* integer in min..max */
    S_NUM,  /* number in min..max */
    S_STR,  /* string of min..max bytes */
    S_BOOL, /* true or false */
    S_OBJ,  /* object, contents free unless listed */
    S_IDS,  /* array of at most max integers >= min (job ids) */
    S_HOST, /* a host name or an IP address (ad_proto_is_host()), at most max bytes */
} s_kind_t;

typedef struct {
    ad_proto_type_t type; /* message */
    const char *path;     /* field, dotted into objects */
    s_kind_t kind;        /* JSON type expected */
    bool required;        /* absent or null is an error */
    int64_t min, max;     /* range, length or element bound, by kind */
} s_field_t;

#define S_ID_MAX INT64_MAX
static const s_field_t s_fields[] = {
    {AD_PROTO_HELLO, "protocol", S_INT, true, 1, 1000},
    {AD_PROTO_HELLO, "hostname", S_HOST, true, 1, 253},
    {AD_PROTO_HELLO, "address", S_HOST, false, 1, 253},
    {AD_PROTO_HELLO, "version", S_STR, true, 1, 64},
    {AD_PROTO_HELLO, "pid", S_INT, true, 1, INT32_MAX},
    {AD_PROTO_HELLO, "profile", S_OBJ, true, 0, 0},
    {AD_PROTO_HELLO, "pool", S_STR, false, 1, AD_PROTO_POOL_MAX},
    {AD_PROTO_HELLO, "launch", S_OBJ, false, 0, 0},
    {AD_PROTO_HELLO, "launch.rsh", S_STR, false, 1, 16},
    {AD_PROTO_HELLO, "launch.env", S_OBJ, false, 0, 0},
    {AD_PROTO_HEARTBEAT, "seq", S_INT, true, 0, INT64_MAX},
    {AD_PROTO_HEARTBEAT, "load", S_OBJ, true, 0, 0},
    {AD_PROTO_HEARTBEAT, "load.cpu", S_NUM, true, 0, 1},
    {AD_PROTO_HEARTBEAT, "load.mem_used_bytes", S_INT, true, 0, INT64_MAX},
    {AD_PROTO_HEARTBEAT, "load.mem_total_bytes", S_INT, true, 0, INT64_MAX},
    {AD_PROTO_HEARTBEAT, "running", S_IDS, true, 1, 100000},
    {AD_PROTO_BYE, "reason", S_STR, false, 0, 512},
    {AD_PROTO_WELCOME, "node", S_INT, true, 1, S_ID_MAX},
    {AD_PROTO_WELCOME, "heartbeat_ms", S_INT, true, 100, 60000},
    {AD_PROTO_REJECT, "reason", S_STR, true, 1, 512},
    {AD_PROTO_REJECT, "retry_ms", S_INT, true, 0, 3600000},
    {AD_PROTO_KILL, "job", S_INT, true, 1, S_ID_MAX},
    {AD_PROTO_KILL, "grace_ms", S_INT, false, 0, 3600000},
    {AD_PROTO_SUBMIT, "job", S_OBJ, true, 0, 0},
    {AD_PROTO_SUBMIT, "hold", S_BOOL, false, 0, 0},
    {AD_PROTO_SUBMIT, "file", S_STR, false, 1, 1024},
    {AD_PROTO_STATUS, "job", S_INT, false, 1, S_ID_MAX},
    {AD_PROTO_CANCEL, "job", S_INT, true, 1, S_ID_MAX},
    {AD_PROTO_CANCEL, "state", S_STR, false, 1, 16},
    {AD_PROTO_CANCEL, "reason", S_STR, false, 1, 512},
    {AD_PROTO_CANCEL, "requeue", S_BOOL, false, 0, 0},
    {AD_PROTO_LOGS, "job", S_INT, true, 1, S_ID_MAX},
    {AD_PROTO_LOGS, "offset", S_INT, false, 0, INT64_MAX},
    {AD_PROTO_LOGS, "max_bytes", S_INT, false, 1, AD_PROTO_MAX_PAYLOAD / 2},
    {AD_PROTO_JOBS, "filter", S_OBJ, false, 0, 0},
    {AD_PROTO_JOBS, "filter.state", S_STR, false, 1, 16},
    {AD_PROTO_JOBS, "filter.name", S_STR, false, 1, 255},
    {AD_PROTO_JOBS, "filter.limit", S_INT, false, 1, 100000},
    {AD_PROTO_SWEEP, "sweep", S_OBJ, true, 0, 0},
    {AD_PROTO_SWEEP, "file_hash", S_STR, false, 16, 16},
    {AD_PROTO_SWEEP, "max_parallel", S_INT, false, 1, AD_PROTO_SWEEP_PARALLEL_MAX},
    {AD_PROTO_SWEEP, "retry_failed", S_BOOL, false, 0, 0},
    {AD_PROTO_SWEEP, "force", S_BOOL, false, 0, 0},
    {AD_PROTO_SWEEP, "hold", S_BOOL, false, 0, 0},
    {AD_PROTO_SWEEPS, "name", S_STR, false, 1, 40},
    {AD_PROTO_SWEEP_CANCEL, "name", S_STR, true, 1, 40},
    {AD_PROTO_ERROR, "code", S_STR, true, 1, 32},
    {AD_PROTO_ERROR, "message", S_STR, true, 0, 4096},
    {AD_PROTO_METRIC, "job", S_INT, true, 1, S_ID_MAX},
    {AD_PROTO_METRIC, "event", S_STR, true, 1, 32},
};

static int
s_check_field(const s_field_t *f, const json_t *payload, ad_err_t *err)
{
    int64_t i;
    double d;
    const char *s;
    bool b;
    json_t *v;
    size_t k;
    int rc;

    switch (f->kind) {
    case S_INT:
        return ad_doc_json_get_int(payload, f->path, f->min, f->max, &i, err);
    case S_NUM:
        return ad_doc_json_get_double(payload, f->path, (double)f->min, (double)f->max, &d, err);
    case S_STR:
        return ad_doc_json_get_string(payload, f->path, (size_t)f->min, (size_t)f->max, &s, err);
    case S_HOST:
        rc = ad_doc_json_get_string(payload, f->path, (size_t)f->min, (size_t)f->max, &s, err);
        if (rc)
            return rc;
        if (!ad_proto_is_host(s)) {
            char got[64];

            ad_doc_describe(json_object_get(payload, f->path), got, sizeof(got));
            return ad_err_set(err, AD_EINVAL, "%s must be a host name or an IP address, got %s",
                              f->path, got);
        }
        return 0;
    case S_BOOL:
        return ad_doc_json_get_bool(payload, f->path, &b, err);
    case S_OBJ:
        return ad_doc_json_get_object(payload, f->path, &v, err);
    case S_IDS:
        rc = ad_doc_json_get_array(payload, f->path, (size_t)f->max, &v, err);
        if (rc)
            return rc;
        for (k = 0; k < json_array_size(v); k++) {
            ad_doc_want_t want = {.kind = AD_DOC_INT, .min = f->min, .max = INT64_MAX};
            ad_doc_value_t val = {json_array_get(v, k), NULL, false};
            char msg[300];

            if (ad_doc_check(&val, &want, &i, msg, sizeof(msg)))
                return ad_err_set(err, AD_EINVAL, "%s[%zu] %s", f->path, k, msg);
        }
        return 0;
    }
    assert(!"unreachable");
    return AD_EINVAL;
}

/* One DNS label: letters, digits, '-' and '_' (seen in the wild), not starting or ending in '-'. */
static bool
s_is_label(const char *s, size_t n)
{
    if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
            return false;
    return true;
}

bool
ad_proto_is_host(const char *s)
{
    unsigned char addr[sizeof(struct in6_addr)];
    size_t len;

    if (!s || !*s)
        return false;
    if (inet_pton(AF_INET, s, addr) == 1 || inet_pton(AF_INET6, s, addr) == 1)
        return true;
    len = strlen(s);
    if (len > 253)
        return false;
    for (const char *p = s, *dot;; p = dot + 1) {
        dot = strchr(p, '.');
        if (!s_is_label(p, dot ? (size_t)(dot - p) : strlen(p)))
            return false;
        if (!dot)
            return true;
    }
}

bool
ad_proto_pool_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (!n || n > AD_PROTO_POOL_MAX)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("._:-", *s))
            return false;
    return true;
}

bool
ad_proto_rsh_ok(const char *s)
{
    return s && (!strcmp(s, "oarsh") || !strcmp(s, "ssh"));
}

bool
ad_proto_rsh_env_ok(const char *kv)
{
    static const char *const keys[] = {"OAR_JOB_ID=", "SLURM_JOB_ID=", NULL};
    const char *v = NULL;

    for (int i = 0; keys[i] && !v; i++)
        if (kv && !strncmp(kv, keys[i], strlen(keys[i])))
            v = kv + strlen(keys[i]);
    if (!v || !*v || strlen(v) > 20)
        return false;
    for (; *v; v++)
        if (!isdigit((unsigned char)*v))
            return false;
    return true;
}

int
ad_proto_validate(ad_proto_type_t type, const json_t *payload, ad_err_t *err)
{
    const char *name = ad_proto_type_name(type);
    ad_err_t e = {0};
    char got[64];

    if (type <= AD_PROTO_UNKNOWN || type >= AD_PROTO_TYPE_COUNT)
        return ad_err_set(err, AD_EINVAL, "unknown message type");
    if (!json_is_object(payload)) {
        ad_doc_describe(payload, got, sizeof(got));
        return ad_err_set(err, AD_EINVAL, "%s: the payload must be a mapping, got %s", name, got);
    }
    for (size_t i = 0; i < sizeof(s_fields) / sizeof(s_fields[0]); i++) {
        const s_field_t *f = &s_fields[i];
        int rc;

        if (f->type != type)
            continue;
        rc = s_check_field(f, payload, &e);
        if (rc == -ENOENT && !f->required)
            continue;
        if (rc)
            return ad_err_set(err, AD_EINVAL, "%s: %s", name, e.msg);
    }
    return 0;
}

/* ---- error codes on the wire ------------------------------------------- */

const char *
ad_proto_error_name(int code)
{
    const char *name;

    switch (code) {
#define AD_PROTO_ERROR_CASE(sym, value, text)                                                      \
    case sym:                                                                                      \
        return &(#sym)[3];
        AD_ERROR_TABLE(AD_PROTO_ERROR_CASE)
#undef AD_PROTO_ERROR_CASE
    default:
        break;
    }
    if (code < 0 && code > -1000) {
        name = strerrorname_np(-code);
        if (name)
            return name;
    }
    return "EUNKNOWN";
}

int
ad_proto_error_code(const char *name)
{
    const char *known;

    if (!name)
        return AD_EPEER;
#define AD_PROTO_ERROR_NAME(sym, value, text)                                                      \
    if (!strcmp(name, &(#sym)[3]))                                                                 \
        return sym;
    AD_ERROR_TABLE(AD_PROTO_ERROR_NAME)
#undef AD_PROTO_ERROR_NAME
    for (int e = 1; e < 200; e++) {
        known = strerrorname_np(e);
        if (known && !strcmp(known, name))
            return -e;
    }
    return AD_EPEER;
}

/* ---- sending and receiving ---------------------------------------------- */

/* Decode an upper- or lower-case hex routing id; returns its length or -1. */
static int
s_unhex(const char *hex, byte *buf, size_t cap)
{
    size_t n = strlen(hex);

    if (n == 0 || n % 2 || n / 2 > cap)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned int b;

        if (!isxdigit((unsigned char)hex[2 * i]) || !isxdigit((unsigned char)hex[2 * i + 1]))
            return -1;
        sscanf(hex + 2 * i, "%2x", &b);
        buf[i] = (byte)b;
    }
    return (int)(n / 2);
}

/* Quote a frame for an error message, escaping what is not printable. */
static void
s_quote(const byte *data, size_t size, char *buf, size_t cap)
{
    size_t o = 0;

    for (size_t i = 0; i < size && o + 8 < cap; i++) {
        if (i == 24) {
            o += (size_t)snprintf(buf + o, cap - o, "...");
            break;
        }
        if (data[i] >= 0x20 && data[i] < 0x7f && data[i] != '"' && data[i] != '\\')
            buf[o++] = (char)data[i];
        else
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", data[i]);
    }
    buf[o] = '\0';
}

int
ad_proto_send(zsock_t *sock, const char *identity_or_null, const char *type, json_t *payload,
              ad_err_t *err)
{
    ad_proto_type_t t = ad_proto_type_from_name(type);
    zmsg_t *msg = NULL;
    char *text = NULL;
    size_t len;
    ad_err_t e = {0};
    byte id[256];
    int id_len;
    int rc;

    assert(sock);
    assert((zsock_type(sock) == ZMQ_ROUTER) == (identity_or_null != NULL));
    if (!payload)
        payload = json_object();
    if (t == AD_PROTO_UNKNOWN) {
        rc = ad_err_set(err, AD_EINVAL, "cannot send a message of unknown type \"%s\"",
                        type ? type : "(null)");
        goto out_decref;
    }
    rc = ad_proto_validate(t, payload, &e);
    if (rc) {
        rc = ad_err_set(err, AD_EINVAL, "refusing to send an invalid message: %s", e.msg);
        goto out_decref;
    }
    text = json_dumps(payload, JSON_COMPACT);
    if (!text) {
        rc = ad_err_set(err, AD_EINVAL, "%s: the payload cannot be encoded as JSON", type);
        goto out_decref;
    }
    len = strlen(text);
    if (len > AD_PROTO_MAX_PAYLOAD) {
        rc = ad_err_set(err, AD_EINVAL, "%s: payload of %zu bytes is over the %d MiB limit", type,
                        len, AD_PROTO_MAX_PAYLOAD >> 20);
        goto out_free_text;
    }
    msg = zmsg_new();
    if (identity_or_null) {
        id_len = s_unhex(identity_or_null, id, sizeof(id));
        if (id_len < 0) {
            rc = ad_err_set(err, AD_EINVAL, "%s: bad peer identity \"%s\"", type, identity_or_null);
            goto out_destroy_msg;
        }
        zmsg_addmem(msg, id, (size_t)id_len);
    }
    zmsg_addstr(msg, type);
    zmsg_addmem(msg, text, len);
    if (ad_fault_hit("zmq.send")) {
        rc = ad_err_set(err, AD_EPEER, "send %s: fault injected at zmq.send", type);
        goto out_destroy_msg;
    }
    if (zmsg_send(&msg, sock) != 0) {
        int code = zmq_errno();
        const char *who = identity_or_null ? identity_or_null : "coordinator";

        if (code == EHOSTUNREACH)
            rc = ad_err_set(err, AD_EPEER, "send %s: peer %s is gone", type, who);
        else if (code == EAGAIN)
            rc = ad_err_set(err, -EAGAIN,
                            "send %s: peer %s is not connected or not keeping up (queue full)",
                            type, who);
        else if (code == ETERM || code == EINTR)
            rc = ad_err_set(err, -EINTR, "send %s: interrupted", type);
        else
            rc = ad_err_set(err, -code, "send %s: %s", type, zmq_strerror(code));
        goto out_destroy_msg;
    }
    rc = 0;
out_destroy_msg:
    zmsg_destroy(&msg);
out_free_text:
    free(text);
out_decref:
    json_decref(payload);
    return rc;
}

int
ad_proto_send_error(zsock_t *sock, const char *identity_or_null, const ad_err_t *e, ad_err_t *err)
{
    json_t *payload;

    assert(e && e->code);
    payload = json_pack("{s:s, s:s}", "code", ad_proto_error_name(e->code), "message",
                        e->msg[0] ? e->msg : ad_strerror(e->code));
    if (!payload)
        ad_oom(sizeof(e->msg));
    return ad_proto_send(sock, identity_or_null, "ERROR", payload, err);
}

/* Frames kept of one message: [identity] [type] [json]; any more are received and dropped. */
#define S_FRAMES_MAX 3

int
ad_proto_parse_frames(const ad_proto_frame_t *frames, size_t n, bool router, ad_proto_msg_t *out,
                      ad_err_t *err)
{
    size_t want = router ? 3 : 2;
    const ad_proto_frame_t *f = frames;
    char from[300] = "";
    char quoted[128];
    char name[S_TYPE_MAX + 1];
    const char *tname;
    json_error_t jerr;
    size_t size;
    json_t *payload;
    ad_err_t e = {0};

    assert(out && (frames || n == 0));
    if (router && n > 0) {
        out->identity = ad_malloc(2 * f->size + 1);
        out->identity[0] = '\0';
        for (size_t i = 0; i < f->size; i++)
            snprintf(out->identity + 2 * i, 3, "%02X", ((const byte *)f->data)[i]);
        snprintf(from, sizeof(from), " from peer %s", out->identity);
        f++;
    }
    if (n != want)
        return ad_err_set(err, AD_EPEER,
                          "malformed message%s: %zu frame%s, expected %zu (%s[type][json])", from,
                          n, n == 1 ? "" : "s", want, router ? "[identity]" : "");
    size = f->size;
    if (size > S_TYPE_MAX || size == 0 || memchr(f->data, '\0', size)) {
        s_quote(f->data, size, quoted, sizeof(quoted));
        return ad_err_set(err, AD_EPEER, "malformed message%s: unknown type \"%s\"", from, quoted);
    }
    memcpy(name, f->data, size);
    name[size] = '\0';
    out->type = ad_proto_type_from_name(name);
    if (out->type == AD_PROTO_UNKNOWN) {
        s_quote(f->data, size, quoted, sizeof(quoted));
        return ad_err_set(err, AD_EPEER, "malformed message%s: unknown type \"%s\"", from, quoted);
    }
    tname = ad_proto_type_name(out->type);
    f++;
    size = f->size;
    if (size > AD_PROTO_MAX_PAYLOAD)
        return ad_err_set(err, AD_EPEER, "bad %s%s: payload of %zu bytes is over the %d MiB limit",
                          tname, from, size, AD_PROTO_MAX_PAYLOAD >> 20);
    payload = json_loadb(size ? f->data : "", size, JSON_REJECT_DUPLICATES, &jerr);
    if (!payload)
        return ad_err_set(err, AD_EPEER, "bad %s%s: payload is not valid JSON (%d:%d: %s)", tname,
                          from, jerr.line, jerr.column, jerr.text);
    if (ad_proto_validate(out->type, payload, &e)) {
        json_decref(payload);
        /* e.msg starts with the type name already. */
        return ad_err_set(err, AD_EPEER, "bad message%s: %s", from, e.msg);
    }
    out->payload = payload;
    return 0;
}

/* The CURVE key that sent part ("User-Id" metadata, set by the ZAP handler), or NULL. */
static char *
s_user_id(zmq_msg_t *part)
{
    const char *id = zmq_msg_gets(part, "User-Id");

    return id && *id ? ad_strdup(id) : NULL;
}

/*
 * Receive one message frame by frame: the first S_FRAMES_MAX frames into parts, the
 * rest into one reusable frame closed at once, so a message of many frames costs the
 * coordinator no more than libzmq's own buffering of it.  *n is the frame count.
 */
static int
s_recv_frames(zsock_t *sock, zmq_msg_t *parts, size_t *n, ad_err_t *err)
{
    void *handle = zsock_resolve(sock);
    zmq_msg_t drop;
    bool more = true;

    *n = 0;
    while (more) {
        zmq_msg_t *m = *n < S_FRAMES_MAX ? &parts[*n] : &drop;

        zmq_msg_init(m);
        if (zmq_msg_recv(m, handle, 0) < 0) {
            zmq_msg_close(m);
            for (size_t i = 0; i < *n && i < S_FRAMES_MAX; i++)
                zmq_msg_close(&parts[i]);
            *n = 0;
            return ad_err_set(err, -EINTR, "interrupted while receiving a message");
        }
        more = zmq_msg_more(m);
        if (m == &drop)
            zmq_msg_close(&drop);
        (*n)++;
    }
    return 0;
}

int
ad_proto_recv(zsock_t *sock, int timeout_ms, ad_proto_msg_t *msg, ad_err_t *err)
{
    zmq_msg_t parts[S_FRAMES_MAX];
    ad_proto_frame_t frames[S_FRAMES_MAX] = {{0}};
    zpoller_t *poller;
    void *ready;
    bool expired;
    size_t n, kept;
    int rc;

    assert(sock && msg);
    memset(msg, 0, sizeof(*msg));
    if (!(zsock_events(sock) & ZMQ_POLLIN)) {
        poller = zpoller_new(sock, NULL);
        if (!poller)
            ad_oom(sizeof(zmq_pollitem_t));
        ready = zpoller_wait(poller, timeout_ms < 0 ? -1 : timeout_ms);
        expired = zpoller_expired(poller);
        zpoller_destroy(&poller);
        if (!ready && expired)
            return ad_err_set(err, -ETIMEDOUT, "no message in %d ms", timeout_ms);
        if (!ready)
            return ad_err_set(err, -EINTR, "interrupted while waiting for a message");
    }
    rc = s_recv_frames(sock, parts, &n, err);
    if (rc)
        return rc;
    kept = n < S_FRAMES_MAX ? n : S_FRAMES_MAX;
    for (size_t i = 0; i < kept; i++) {
        frames[i].data = zmq_msg_data(&parts[i]);
        frames[i].size = zmq_msg_size(&parts[i]);
        /* A ROUTER's identity frame may not carry the metadata: take the first that does. */
        if (!msg->user_id)
            msg->user_id = s_user_id(&parts[i]);
    }
    rc = ad_proto_parse_frames(frames, n, zsock_type(sock) == ZMQ_ROUTER, msg, err);
    for (size_t i = 0; i < kept; i++)
        zmq_msg_close(&parts[i]);
    return rc;
}

void
ad_proto_msg_clear(ad_proto_msg_t *msg)
{
    if (!msg)
        return;
    free(msg->identity);
    free(msg->user_id);
    json_decref(msg->payload);
    memset(msg, 0, sizeof(*msg));
}

/* ---- sockets -------------------------------------------------------------- */

static zsock_t *
s_socket(int type, ad_err_t *err)
{
    zsock_t *sock = zsock_new(type);

    if (!sock) {
        int code = zmq_errno();

        ad_err_set(err, code ? -code : -ENOMEM, "cannot create a ZeroMQ socket: %s",
                   zmq_strerror(code));
        return NULL;
    }
    zsock_set_linger(sock, 0);
    zsock_set_maxmsgsize(sock, AD_PROTO_MAX_PAYLOAD);
    /* ZMTP heartbeats notice a dead TCP peer that never closed its side. */
    zsock_set_heartbeat_ivl(sock, AD_PROTO_HEARTBEAT_MS);
    zsock_set_heartbeat_timeout(sock, AD_PROTO_HEARTBEAT_MS * AD_PROTO_HEARTBEAT_MISSES);
    return sock;
}

/*
 * Frames of up to 16 MiB from any peer land in the listener's heap: with glibc's dynamic
 * threshold, the first one freed raises the mmap threshold to its size and later ones stay
 * in the heap after they are freed (60 MiB kept after two 30 x 15 MB messages, measured).
 * A fixed threshold (which also turns the dynamic one off) gives them back at once.
 */
#define S_MMAP_THRESHOLD (1 << 20)

zsock_t *
ad_proto_listen(int type, const char *endpoint, const char *keys_dir, int *port, ad_err_t *err)
{
    return ad_proto_listen_domain(type, endpoint, keys_dir, NULL, port, err);
}

zsock_t *
ad_proto_listen_domain(int type, const char *endpoint, const char *keys_dir, const char *domain,
                       int *port, ad_err_t *err)
{
    static bool mmap_fixed;
    zsock_t *sock;
    int rc;

    assert(type == ZMQ_ROUTER || type == ZMQ_PULL);
    assert(endpoint);
    if (!mmap_fixed)
        mmap_fixed = mallopt(M_MMAP_THRESHOLD, S_MMAP_THRESHOLD) == 1;
    sock = s_socket(type, err);
    if (!sock)
        return NULL;
    if (type == ZMQ_ROUTER) {
        /* Unknown peers are an error, and a slow one never blocks the coordinator. */
        zsock_set_router_mandatory(sock, 1);
        zsock_set_sndtimeo(sock, 0);
    }
    /*
     * The listening side keeps ZMTP heartbeats only to close connections of
     * peers that vanished: every 10 s, dead after 30 s.  A node's liveness is
     * the application heartbeat (DOWN after 3 s); per-connection pings every
     * second cost a 1000-agent coordinator about a fifth of its CPU.
     */
    zsock_set_heartbeat_ivl(sock, AD_PROTO_LISTEN_PING_MS);
    zsock_set_heartbeat_timeout(sock, 3 * AD_PROTO_LISTEN_PING_MS);
    /* A thousand agents connecting at once must not lose SYNs to a short backlog. */
    zsock_set_backlog(sock, AD_PROTO_LISTEN_BACKLOG);
    if (keys_dir && ad_proto_secure_server(sock, keys_dir, domain, err))
        goto err_destroy;
    rc = zsock_bind(sock, "%s", endpoint);
    if (rc < 0) {
        int code = zmq_errno();

        if (code == EADDRINUSE)
            ad_err_set(err, -EADDRINUSE,
                       "cannot listen on %s: address in use (is another autodistd running?)",
                       endpoint);
        else
            ad_err_set(err, AD_EINVAL, "cannot listen on %s: %s", endpoint, zmq_strerror(code));
        goto err_destroy;
    }
    if (port)
        *port = rc;
    return sock;
err_destroy:
    zsock_destroy(&sock);
    return NULL;
}

zsock_t *
ad_proto_connect(int type, const char *endpoint, const char *keys_dir, ad_err_t *err)
{
    zsock_t *sock;

    assert(type == ZMQ_DEALER || type == ZMQ_PUSH);
    assert(endpoint);
    sock = s_socket(type, err);
    if (!sock)
        return NULL;
    zsock_set_reconnect_ivl(sock, AD_PROTO_RECONNECT_MS);
    zsock_set_reconnect_ivl_max(sock, AD_PROTO_RECONNECT_MAX_MS);
    /* Queue nothing for a coordinator that is away: stale heartbeats would arrive in a burst. */
    zsock_set_immediate(sock, 1);
    zsock_set_sndtimeo(sock, type == ZMQ_PUSH ? 0 : AD_PROTO_SEND_TIMEOUT_MS);
    if (keys_dir && ad_proto_secure_client(sock, keys_dir, err))
        goto err_destroy;
    if (zsock_connect(sock, "%s", endpoint) < 0) {
        ad_err_set(err, AD_EINVAL, "cannot connect to %s: %s", endpoint, zmq_strerror(zmq_errno()));
        goto err_destroy;
    }
    return sock;
err_destroy:
    zsock_destroy(&sock);
    return NULL;
}

static int
s_unreachable(const char *endpoint, const char *keys_dir, int timeout_ms, ad_err_t *err)
{
    return ad_err_set(err, -ETIMEDOUT,
                      "cannot reach the coordinator at %s (no answer in %g s): is it running? "
                      "try `autodist up`%s",
                      endpoint, timeout_ms / 1000.0,
                      keys_dir ? " (or its key changed: see docs/security.md)" : "");
}

/* Handshake events a request watches (CURVE failures are otherwise silent in ZeroMQ). */
#define S_MONITOR_EVENTS                                                                   \
    (ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED |                              \
     ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |          \
     ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)

/*
 * A PAIR that receives sock's handshake events, or NULL (then requests only time out).
 * Each monitor gets an endpoint of its own: named after the socket's address, a new socket
 * at a freed one's address could meet that one's endpoint still bound (a closed socket's
 * inproc name goes only when ZeroMQ's reaper gets to it), and without its monitor a
 * refused key waits out the whole timeout.
 */
static zsock_t *
s_monitor_new(zsock_t *sock)
{
    static atomic_uint_fast64_t next;
    char ep[64];
    zsock_t *pair;

    snprintf(ep, sizeof(ep), "inproc://ad-proto-monitor-%" PRIuFAST64, atomic_fetch_add(&next, 1));
    if (zmq_socket_monitor(zsock_resolve(sock), ep, S_MONITOR_EVENTS) != 0)
        return NULL;
    pair = zsock_new(ZMQ_PAIR);
    if (pair && zsock_connect(pair, "%s", ep) != 0)
        zsock_destroy(&pair);
    return pair;
}

/*
 * Read one event of the monitor: 0 for one that changes nothing, or a
 * failure of the handshake turned into a code and message (-EACCES).
 */
static int
s_monitor_event(zsock_t *mon, const char *endpoint, const char *keys_dir, bool *shook,
                ad_err_t *err)
{
    zmsg_t *m = zmsg_recv(mon);
    zframe_t *f = m ? zmsg_first(m) : NULL;
    uint16_t event = 0;

    if (f && zframe_size(f) >= 6)
        memcpy(&event, zframe_data(f), sizeof(event));
    zmsg_destroy(&m);
    if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
        *shook = true;
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        return ad_err_set(err, -EACCES,
                          "the coordinator at %s refused the key %s/client.cert: unknown or "
                          "revoked (ask its admin: `autodist keys add-user NAME`)",
                          endpoint, keys_dir ? keys_dir : "(none)");
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
        event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL ||
        (event == ZMQ_EVENT_DISCONNECTED && !*shook && keys_dir)) {
        if (!keys_dir)
            return ad_err_set(err, -EACCES,
                              "the coordinator at %s requires CURVE keys and this client has "
                              "none: use --home with the coordinator's home, or --keys DIR",
                              endpoint);
        return ad_err_set(err, -EACCES,
                          "the coordinator at %s refused the CURVE handshake: the key "
                          "%s/client.cert is unknown or revoked there (ask its admin: `autodist "
                          "keys add-user NAME`), or %s/server.cert is not its key (rotated? copy "
                          "it again), or it runs --insecure",
                          endpoint, keys_dir, keys_dir);
    }
    return 0;
}

/* Wait until deadline for the answer on sock, failing fast on a refused handshake. */
static int
s_await(zsock_t *sock, zsock_t *mon, int64_t deadline, const char *endpoint,
        const char *keys_dir, ad_proto_msg_t *msg, ad_err_t *err)
{
    zpoller_t *poller = zpoller_new(sock, mon, NULL);
    bool shook = false;
    int rc = -ETIMEDOUT;

    if (!poller)
        ad_oom(sizeof(zmq_pollitem_t));
    for (;;) {
        int64_t left = deadline - zclock_mono();
        void *which;

        if (left <= 0) {
            rc = -ETIMEDOUT;
            break;
        }
        which = zpoller_wait(poller, (int)left);
        if (which == sock) {
            rc = ad_proto_recv(sock, 0, msg, err);
            break;
        }
        if (which && which == mon) {
            rc = s_monitor_event(mon, endpoint, keys_dir, &shook, err);
            if (rc)
                break;
            continue;
        }
        if (!zpoller_expired(poller)) {
            rc = ad_err_set(err, -EINTR, "interrupted while waiting for the coordinator");
            break;
        }
    }
    zpoller_destroy(&poller);
    return rc;
}

int
ad_proto_request_secure(const char *endpoint, const char *keys_dir, const char *type,
                        json_t *payload, int timeout_ms, json_t **reply, ad_err_t *err)
{
    int64_t deadline = zclock_mono() + timeout_ms;
    ad_proto_msg_t msg = {0};
    zsock_t *mon = NULL;
    const char *code;
    const char *text;
    zsock_t *sock;
    int rc;

    assert(endpoint && type && reply && timeout_ms >= 0);
    *reply = NULL;
    sock = zsock_new(ZMQ_DEALER);
    if (!sock) {
        json_decref(payload);
        return ad_err_set(err, -ENOMEM, "cannot create a ZeroMQ socket: %s",
                          zmq_strerror(zmq_errno()));
    }
    /* linger 0: closing must not wait for a coordinator that never came. */
    zsock_set_linger(sock, 0);
    zsock_set_sndtimeo(sock, timeout_ms);
    zsock_set_maxmsgsize(sock, AD_PROTO_MAX_PAYLOAD);
    if (keys_dir) {
        rc = ad_proto_secure_client(sock, keys_dir, err);
        if (rc) {
            json_decref(payload);
            goto out_destroy;
        }
    }
    mon = s_monitor_new(sock);
    if (zsock_connect(sock, "%s", endpoint) < 0) {
        json_decref(payload);
        rc = ad_err_set(err, AD_EINVAL, "bad coordinator endpoint \"%s\": %s", endpoint,
                        zmq_strerror(zmq_errno()));
        goto out_destroy;
    }
    rc = ad_proto_send(sock, NULL, type, payload, err);
    if (rc == -EAGAIN)
        rc = s_unreachable(endpoint, keys_dir, timeout_ms, err);
    if (rc)
        goto out_destroy;
    if (mon)
        rc = s_await(sock, mon, deadline, endpoint, keys_dir, &msg, err);
    else
        rc = ad_proto_recv(sock, (int)fmax(0, (double)(deadline - zclock_mono())), &msg, err);
    if (rc == -ETIMEDOUT)
        rc = s_unreachable(endpoint, keys_dir, timeout_ms, err);
    if (rc)
        goto out_clear;
    if (msg.type == AD_PROTO_OK) {
        *reply = msg.payload;
        msg.payload = NULL;
    } else if (msg.type == AD_PROTO_ERROR) {
        code = json_string_value(json_object_get(msg.payload, "code"));
        text = json_string_value(json_object_get(msg.payload, "message"));
        rc = ad_err_set(err, ad_proto_error_code(code), "%s", text);
    } else {
        rc = ad_err_set(err, AD_EPEER, "the coordinator at %s answered %s, expected OK or ERROR",
                        endpoint, ad_proto_type_name(msg.type));
    }
out_clear:
    ad_proto_msg_clear(&msg);
out_destroy:
    if (mon)
        zmq_socket_monitor(zsock_resolve(sock), NULL, 0);
    zsock_destroy(&sock);
    zsock_destroy(&mon);
    return rc;
}

int
ad_proto_request(const char *endpoint, const char *type, json_t *payload, int timeout_ms,
                 json_t **reply, ad_err_t *err)
{
    return ad_proto_request_secure(endpoint, NULL, type, payload, timeout_ms, reply, err);
}

/* ---- CURVE ---------------------------------------------------------------- */

static bool
s_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* Load keys_dir/name with its secret half into *out. Returns 0, -ENOENT or -EIO. */
static int
s_load_pair(const char *keys_dir, const char *name, zcert_t **out, ad_err_t *err)
{
    char base[PATH_MAX];
    char secret[PATH_MAX + 8];

    snprintf(base, sizeof(base), "%s/%s", keys_dir, name);
    snprintf(secret, sizeof(secret), "%s_secret", base);
    if (!s_exists(secret))
        return ad_err_set(err, -ENOENT, "no CURVE key at %s", secret);
    *out = zcert_load(base);
    if (!*out)
        return ad_err_set(err, -EIO, "cannot read CURVE certificate %s", base);
    return 0;
}

int
ad_proto_secure_server(zsock_t *sock, const char *keys_dir, const char *domain, ad_err_t *err)
{
    zcert_t *cert = NULL;
    int rc;

    rc = s_load_pair(keys_dir, "server.cert", &cert, err);
    if (rc)
        return rc;
    zcert_apply(cert, sock);
    zsock_set_curve_server(sock, 1);
    zsock_set_zap_domain(sock, domain ? domain : AD_PROTO_ZAP_DOMAIN);
    zcert_destroy(&cert);
    return 0;
}

int
ad_proto_secure_client(zsock_t *sock, const char *keys_dir, ad_err_t *err)
{
    char path[PATH_MAX];
    zcert_t *mine = NULL;
    zconfig_t *server;
    const char *key;
    int rc;

    rc = s_load_pair(keys_dir, "client.cert", &mine, err);
    if (rc)
        return rc;
    /* The public file itself: zcert_load() would prefer a server.cert_secret beside it. */
    snprintf(path, sizeof(path), "%s/server.cert", keys_dir);
    server = s_exists(path) ? zconfig_load(path) : NULL;
    key = server ? zconfig_get(server, "curve/public-key", NULL) : NULL;
    if (!key || strlen(key) != 40) {
        zconfig_destroy(&server);
        zcert_destroy(&mine);
        return ad_err_set(err, -ENOENT, "no CURVE key at %s", path);
    }
    zcert_apply(mine, sock);
    zsock_set_curve_serverkey(sock, key);
    zconfig_destroy(&server);
    zcert_destroy(&mine);
    return 0;
}
