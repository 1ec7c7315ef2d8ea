/* ad_proto.h - the wire protocol: [type][json] messages over ZeroMQ (CZMQ), checked on both ends */
#ifndef AD_PROTO_H
#define AD_PROTO_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include <czmq.h>
#include <jansson.h>

#include "autodist/ad_doc.h"
#include "autodist/ad_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Default endpoints of the coordinator (docs/protocol.md). */
#define AD_PROTO_CLIENT_ENDPOINT "tcp://127.0.0.1:7400" /* ROUTER: the CLI's requests */
#define AD_PROTO_AGENT_ENDPOINT "tcp://127.0.0.1:7401"  /* ROUTER: agents */
#define AD_PROTO_METRIC_ENDPOINT "tcp://127.0.0.1:7402" /* PULL: trainer rank 0's events */

/* Version spoken by this build; HELLO carries it and the coordinator refuses others. */
#define AD_PROTO_VERSION 1
/* Largest JSON frame accepted or sent, in bytes. */
#define AD_PROTO_MAX_PAYLOAD (16 * 1024 * 1024)
/* Timing (docs/protocol.md): heartbeat period, misses before DOWN, agent reconnect backoff. */
#define AD_PROTO_HEARTBEAT_MS 1000
#define AD_PROTO_HEARTBEAT_MISSES 3
#define AD_PROTO_RECONNECT_MS 1000
#define AD_PROTO_RECONNECT_MAX_MS 32000
/* How long the CLI waits for the coordinator's answer by default. */
#define AD_PROTO_REQUEST_TIMEOUT_MS 5000
/* SWEEP's max_parallel: the most jobs of one sweep queued or running at once. */
#define AD_PROTO_SWEEP_PARALLEL_MAX 10000
/*
 * The code of the ERROR answering a SUBMIT or SWEEP that can never run on
 * the coordinator's nodes (wire name ERANGE); `autodist` exits 5 on it.
 */
#define AD_PROTO_ENEVER (-ERANGE)
/* ZMTP heartbeat of the coordinator's listening sockets (dead peer after 3 of them). */
#define AD_PROTO_LISTEN_PING_MS 10000
/* Listen backlog of the coordinator's sockets: room for 1000 agents connecting at once. */
#define AD_PROTO_LISTEN_BACKLOG 4096
/* How long a DEALER made by ad_proto_connect() may block in a send. */
#define AD_PROTO_SEND_TIMEOUT_MS 1000

/*
 * Every message type: name (the type frame), origin.  The enum value of
 * HELLO is AD_PROTO_HELLO and so on; 0 is AD_PROTO_UNKNOWN.
 */
#define AD_PROTO_TYPE_TABLE(X)          \
    X(HELLO, AD_PROTO_FROM_AGENT)       \
    X(HEARTBEAT, AD_PROTO_FROM_AGENT)   \
    X(BYE, AD_PROTO_FROM_AGENT)         \
    X(WELCOME, AD_PROTO_FROM_COORD)     \
    X(REJECT, AD_PROTO_FROM_COORD)      \
    X(KILL, AD_PROTO_FROM_COORD)        \
    X(PING, AD_PROTO_FROM_COORD)        \
    X(SUBMIT, AD_PROTO_FROM_CLIENT)     \
    X(STATUS, AD_PROTO_FROM_CLIENT)     \
    X(CANCEL, AD_PROTO_FROM_CLIENT)     \
    X(NODES, AD_PROTO_FROM_CLIENT)      \
    X(LOGS, AD_PROTO_FROM_CLIENT)       \
    X(JOBS, AD_PROTO_FROM_CLIENT)       \
    X(SHUTDOWN, AD_PROTO_FROM_CLIENT)   \
    X(SWEEP, AD_PROTO_FROM_CLIENT)      \
    X(SWEEPS, AD_PROTO_FROM_CLIENT)     \
    X(SWEEP_CANCEL, AD_PROTO_FROM_CLIENT) \
    X(OK, AD_PROTO_FROM_COORD)          \
    X(ERROR, AD_PROTO_FROM_COORD)       \
    X(METRIC, AD_PROTO_FROM_TRAINER)

/* Who sends a message type. */
typedef enum {
    AD_PROTO_FROM_AGENT = 1, /* agent -> coordinator, on the agent ROUTER */
    AD_PROTO_FROM_CLIENT,    /* CLI -> coordinator, on the client ROUTER */
    AD_PROTO_FROM_COORD,     /* coordinator -> agent or CLI */
    AD_PROTO_FROM_TRAINER,   /* trainer rank 0 -> coordinator, on the metrics PULL */
} ad_proto_origin_t;

typedef enum {
    AD_PROTO_UNKNOWN = 0, /* no type could be read */
#define AD_PROTO_TYPE_ENUM(name, origin) AD_PROTO_##name,
    AD_PROTO_TYPE_TABLE(AD_PROTO_TYPE_ENUM)
#undef AD_PROTO_TYPE_ENUM
    AD_PROTO_TYPE_COUNT /* one past the last type */
} ad_proto_type_t;

/* One received message; an open value struct, emptied by ad_proto_msg_clear(). */
typedef struct ad_proto_msg {
    char *identity;       /* ROUTER: the sender's routing id in upper-case hex (owned); else NULL */
    ad_proto_type_t type; /* which message; AD_PROTO_UNKNOWN when the type frame was bad */
    char *user_id;        /* the peer's ZAP User-Id over CURVE ("user/alice", owned); else NULL */
    json_t *payload;      /* the JSON object (one reference, owned); NULL after a failure */
} ad_proto_msg_t;

/* One frame of a message in memory, as ad_proto_parse_frames() reads it (borrowed bytes). */
typedef struct ad_proto_frame {
    const void *data; /* the frame's bytes */
    size_t size;      /* their number */
} ad_proto_frame_t;

/* The type frame of type ("HELLO"), static; "UNKNOWN" for anything else. */
const char *ad_proto_type_name(ad_proto_type_t type);

/* The type whose frame is name, or AD_PROTO_UNKNOWN (also for NULL). */
ad_proto_type_t ad_proto_type_from_name(const char *name);

/* Who sends type; 0 for AD_PROTO_UNKNOWN. */
ad_proto_origin_t ad_proto_type_origin(ad_proto_type_t type);

/*
 * Whether s can name a machine on the network: an IPv4 or IPv6 address, or a
 * host name of dot-separated labels (letters, digits, '-', '_'; at most 63
 * bytes a label, 253 in all).  Nothing else reaches a hostfile, a command
 * line or a log as a node's name or address.
 */
bool ad_proto_is_host(const char *s);

#define AD_PROTO_POOL_MAX 128  /* a pool's name: the reservation a node belongs to */
#define AD_PROTO_RSH_ENV_MAX 4 /* entries of HELLO's launch.env */

/* A pool name: 1..AD_PROTO_POOL_MAX letters, digits and ._:- ("oar:autodist-study"). */
bool ad_proto_pool_ok(const char *s);

/*
 * What an agent may ask mpirun to reach it by (HELLO's launch.rsh): "oarsh"
 * or "ssh", looked up in the coordinator's PATH -- never a path, since the
 * coordinator runs it.
 */
bool ad_proto_rsh_ok(const char *s);

/* One entry of launch.env as "KEY=VALUE": OAR_JOB_ID or SLURM_JOB_ID, digits. */
bool ad_proto_rsh_env_ok(const char *kv);

/*
 * Check payload against the fields docs/protocol.md lists for type: required
 * fields present, every known field of the right JSON type and range.
 * Unknown fields are allowed (newer peers may add some).  Returns 0, or
 * AD_EINVAL with err naming the message and the field ('HEARTBEAT:
 * load.cpu must be a number from 0 to 1, got 3.5').
 */
int ad_proto_validate(ad_proto_type_t type, const json_t *payload, ad_err_t *err);

/*
 * Send [identity][type][json] on sock; identity_or_null is the hex routing id
 * from ad_proto_msg_t (ROUTER sockets only, NULL elsewhere).  payload is stolen,
 * also on failure; NULL sends {}.  It must pass ad_proto_validate().
 * Returns 0, or: AD_EINVAL (unknown type, invalid payload, bad identity,
 * over AD_PROTO_MAX_PAYLOAD), -EAGAIN (the peer's queue is full, or no peer is
 * connected within the socket's send timeout), AD_EPEER (a ROUTER peer that is
 * gone; the fault point "zmq.send" fails the send this way), another -errno.
 */
int ad_proto_send(zsock_t *sock, const char *identity_or_null, const char *type, json_t *payload,
                  ad_err_t *err);

/*
 * Send ERROR {code, message} built from e (code named by ad_proto_error_name()).
 * Returns what ad_proto_send() returns.
 */
int ad_proto_send_error(zsock_t *sock, const char *identity_or_null, const ad_err_t *e,
                        ad_err_t *err);

/*
 * Wait up to timeout_ms (-1: forever, 0: only what is queued) for one message
 * on sock and check it: frame count (3 on a ROUTER, 2 elsewhere), a known
 * type, a JSON object of at most AD_PROTO_MAX_PAYLOAD bytes, its fields
 * (ad_proto_validate()).  Frames are received one by one: past the expected
 * count they are dropped as they are read, never kept.  A frame over
 * AD_PROTO_MAX_PAYLOAD never arrives: libzmq (ZMQ_MAXMSGSIZE on every socket
 * made here) closes that peer's connection instead.  msg is overwritten
 * (clear it first if it held one); msg->user_id is the CURVE key that sent it.
 * Returns 0 with msg filled, -ETIMEDOUT when nothing came, -EINTR when
 * interrupted (SIGINT, context ended), or AD_EPEER for a malformed message;
 * then msg->identity and msg->type are still set when they could be read, so
 * the caller can answer the sender, and msg->payload is NULL.
 */
int ad_proto_recv(zsock_t *sock, int timeout_ms, ad_proto_msg_t *msg, ad_err_t *err);

/*
 * The checks of ad_proto_recv() on frames already in memory (the fuzzer feeds
 * it bytes): n is the message's frame count, router whether it came on a
 * ROUTER (then the first frame is the sender's identity).  frames holds
 * min(n, 3) entries: when n is not the expected count only the identity is
 * read, so a receiver keeps no more than 3 frames of any message.  Fills msg
 * (zeroed by the caller) and returns what ad_proto_recv() returns for it.
 */
int ad_proto_parse_frames(const ad_proto_frame_t *frames, size_t n, bool router,
                          ad_proto_msg_t *msg, ad_err_t *err);

/* Free what msg holds and zero it; NULL-safe and idempotent. */
void ad_proto_msg_clear(ad_proto_msg_t *msg);

/*
 * A socket of the coordinator, bound to endpoint ("tcp://127.0.0.1:*" picks a
 * free port): type is ZMQ_ROUTER (linger 0, router_mandatory, send timeout 0,
 * ZMTP heartbeats) or ZMQ_PULL.  keys_dir non-NULL turns CURVE on
 * (ad_proto_secure_server()).  *port (may be NULL) receives the tcp port, 0
 * for other transports.  The process's malloc gets a fixed mmap threshold of
 * 1 MiB (mallopt()), so the large frames peers send go back to the system
 * once freed instead of staying in the heap.  Returns the socket (the caller owns it,
 * zsock_destroy()) or NULL with err set: AD_EINVAL for a bad endpoint,
 * -EADDRINUSE when another program holds it, or a CURVE error.
 */
zsock_t *ad_proto_listen(int type, const char *endpoint, const char *keys_dir, int *port,
                         ad_err_t *err);

/*
 * ad_proto_listen() with the ZAP domain of the CURVE handshake (NULL:
 * AD_PROTO_ZAP_DOMAIN); the coordinator's ZAP handler (ad_keys.h) admits
 * keys by domain.
 */
zsock_t *ad_proto_listen_domain(int type, const char *endpoint, const char *keys_dir,
                                const char *domain, int *port, ad_err_t *err);

/*
 * A socket connected to the coordinator: type is ZMQ_DEALER (agents: linger 0,
 * reconnect backoff AD_PROTO_RECONNECT_MS doubling to AD_PROTO_RECONNECT_MAX_MS,
 * messages queued only on a live connection, send timeout
 * AD_PROTO_SEND_TIMEOUT_MS) or ZMQ_PUSH (trainers: the same, but sends never
 * block: events are dropped while the coordinator is away).  keys_dir as in
 * ad_proto_listen().  Returns the socket (caller owns it) or NULL with err set.
 */
zsock_t *ad_proto_connect(int type, const char *endpoint, const char *keys_dir, ad_err_t *err);

/*
 * One request from a client: connect a fresh DEALER to endpoint, send
 * [type][payload] (payload stolen; NULL sends {}), wait for the answer and
 * close.  Returns within timeout_ms (plus a few ms).  Returns 0 with *reply the
 * OK payload (the caller owns it, json_decref()); the coordinator's error
 * code (ad_proto_error_code() of ERROR's "code", AD_EPEER if unknown) with
 * err->msg its message; -ETIMEDOUT with "cannot reach the coordinator at
 * ENDPOINT (no answer in 5 s): is it running? try `autodist up`"; AD_EPEER
 * for an answer that is neither OK nor ERROR; AD_EINVAL for a bad endpoint.
 * *reply is NULL on failure.
 */
int ad_proto_request(const char *endpoint, const char *type, json_t *payload, int timeout_ms,
                     json_t **reply, ad_err_t *err);

/*
 * Like ad_proto_request(), over CURVE with the client folder keys_dir
 * (server.cert, client.cert and its secret; NULL: plain).  A handshake the
 * coordinator refuses fails at once instead of timing out: -EACCES with
 * "the coordinator at EP refused the key DIR/client.cert ...", "... requires
 * CURVE keys and this client has none ..." or "the CURVE handshake ... failed:
 * DIR/server.cert is not its key ...".  A missing key file is -ENOENT naming it.
 */
int ad_proto_request_secure(const char *endpoint, const char *keys_dir, const char *type,
                            json_t *payload, int timeout_ms, json_t **reply, ad_err_t *err);

/*
 * The wire name of an error code: "EPARSE" for AD_EPARSE, "ENOENT" for
 * -ENOENT; static, never NULL ("EUNKNOWN" for codes without a name).
 */
const char *ad_proto_error_name(int code);

/* The code whose wire name is name (the inverse of ad_proto_error_name()); AD_EPEER if none. */
int ad_proto_error_code(const char *name);

/* ZAP domain of secure sockets made without one (the clients' socket). */
#define AD_PROTO_ZAP_DOMAIN "autodist"

/*
 * Make sock a CURVE server with keys_dir/server.cert_secret whose handshakes
 * the ZAP handler checks in domain (NULL: AD_PROTO_ZAP_DOMAIN); before bind.
 * Keys are made and admitted by ad_keys.h.  Returns 0 or -errno (-ENOENT
 * naming the missing file).
 */
int ad_proto_secure_server(zsock_t *sock, const char *keys_dir, const char *domain, ad_err_t *err);

/*
 * Make sock a CURVE client with the client folder keys_dir: its pair
 * client.cert(+_secret), trusting keys_dir/server.cert; before connect.
 * Returns 0 or -errno (-ENOENT naming the missing file).
 */
int ad_proto_secure_client(zsock_t *sock, const char *keys_dir, ad_err_t *err);

#ifdef __cplusplus
}
#endif

#endif
