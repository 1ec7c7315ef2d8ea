/* test_proto.c - the wire protocol: round trips, identities, malformed input, timeouts, CURVE */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "ad_test.h"

#include "autodist/ad_clock.h"
#include "autodist/ad_fault.h"
#include "autodist/ad_keys.h"
#include "autodist/ad_proto.h"

/* ---- helpers ---------------------------------------------------------------- */

/*
 * A tcp port nothing listens on: bind one and let it go.  Random and below
 * Linux's ephemeral range (32768-60999), so neither another test's "*" bind
 * nor a TCP self-connect of our own reconnecting socket lands on it.
 */
static int
s_free_port(void)
{
    zsock_t *s = zsock_new(ZMQ_PULL);
    int port;

    assert_non_null(s);
    port = zsock_bind(s, "tcp://127.0.0.1:![20000-29999]");
    assert_true(port > 0);
    zsock_destroy(&s);
    return port;
}

/*
 * A loopback port nobody can listen on while *fd stays open: bound, never
 * listened on, so a connection to it is refused (a port merely found free
 * may be taken by another program before the test connects).  Close *fd after.
 */
static int
s_dead_port(int *fd)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    socklen_t len = sizeof(a);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(*fd >= 0);
    assert_int_equal(bind(*fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(*fd, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

/* A payload that passes validation for each type. */
static const char *
s_sample(ad_proto_type_t type)
{
    switch (type) {
    case AD_PROTO_HELLO:
        return "{\"protocol\":1,\"hostname\":\"node-1\",\"version\":\"0.1.0\",\"pid\":4242,"
               "\"profile\":{\"cores\":8,\"sockets\":1,\"mem_bytes\":17179869184}}";
    case AD_PROTO_HEARTBEAT:
        return "{\"seq\":17,\"load\":{\"cpu\":0.25,\"mem_used_bytes\":1000,"
               "\"mem_total_bytes\":8000},\"running\":[3,9]}";
    case AD_PROTO_BYE:
        return "{\"reason\":\"SIGTERM\"}";
    case AD_PROTO_WELCOME:
        return "{\"node\":5,\"heartbeat_ms\":1000}";
    case AD_PROTO_REJECT:
        return "{\"reason\":\"hostname node-1 is already up\",\"retry_ms\":3000}";
    case AD_PROTO_KILL:
        return "{\"job\":12}";
    case AD_PROTO_SUBMIT:
        return "{\"job\":{\"name\":\"fashion-cnn\",\"model\":\"cnn\",\"batch_size\":256}}";
    case AD_PROTO_STATUS:
        return "{\"job\":12}";
    case AD_PROTO_CANCEL:
        return "{\"job\":12}";
    case AD_PROTO_LOGS:
        return "{\"job\":12,\"offset\":4096}";
    case AD_PROTO_JOBS:
        return "{\"filter\":{\"state\":\"RUNNING\",\"limit\":20}}";
    case AD_PROTO_SWEEP:
        return "{\"sweep\":{\"name\":\"lr\",\"base\":{\"model\":\"mlp\"}},"
               "\"file_hash\":\"0123456789abcdef\",\"max_parallel\":4,\"retry_failed\":true}";
    case AD_PROTO_SWEEPS:
        return "{\"name\":\"lr\"}";
    case AD_PROTO_SWEEP_CANCEL:
        return "{\"name\":\"lr\"}";
    case AD_PROTO_OK:
        return "{\"job\":12,\"state\":\"PENDING\"}";
    case AD_PROTO_ERROR:
        return "{\"code\":\"ENOENT\",\"message\":\"no job 12\"}";
    case AD_PROTO_METRIC:
        return "{\"job\":12,\"event\":\"step\",\"step\":100,\"loss\":0.42,"
               "\"samples_per_s\":3000.5}";
    default:
        return "{}";
    }
}

/* Send raw frames (NULL-terminated list of strings) on sock. */
static void
s_send_raw(zsock_t *sock, ...)
{
    zmsg_t *msg = zmsg_new();
    const char *frame;
    va_list ap;

    va_start(ap, sock);
    while ((frame = va_arg(ap, const char *)))
        zmsg_addstr(msg, frame);
    va_end(ap);
    assert_int_equal(zmsg_send(&msg, sock), 0);
}

/* Receive on sock and expect an AD_EPEER whose message contains needle. */
static void
s_expect_peer_error(zsock_t *sock, const char *needle)
{
    ad_proto_msg_t msg = {0};
    ad_err_t err = {0};
    int rc;

    rc = ad_proto_recv(sock, 2000, &msg, &err);
    if (rc != AD_EPEER || !strstr(err.msg, needle))
        fail_msg("expected AD_EPEER with \"%s\", got %d: %s", needle, rc, err.msg);
    assert_null(msg.payload);
    ad_proto_msg_clear(&msg);
}

/* ---- type table --------------------------------------------------------- */

static void
test_type_names(void **state)
{
    for (int t = AD_PROTO_UNKNOWN + 1; t < AD_PROTO_TYPE_COUNT; t++) {
        assert_int_equal(ad_proto_type_from_name(ad_proto_type_name(t)), t);
        assert_true(ad_proto_type_origin(t) != 0);
    }
    assert_int_equal(ad_proto_type_from_name("hello"), AD_PROTO_UNKNOWN);
    assert_int_equal(ad_proto_type_from_name(NULL), AD_PROTO_UNKNOWN);
    assert_string_equal(ad_proto_type_name(AD_PROTO_UNKNOWN), "UNKNOWN");
    assert_string_equal(ad_proto_type_name(AD_PROTO_HEARTBEAT), "HEARTBEAT");
    assert_int_equal(ad_proto_type_origin(AD_PROTO_HELLO), AD_PROTO_FROM_AGENT);
    assert_int_equal(ad_proto_type_origin(AD_PROTO_SUBMIT), AD_PROTO_FROM_CLIENT);
    assert_int_equal(ad_proto_type_origin(AD_PROTO_WELCOME), AD_PROTO_FROM_COORD);
    assert_int_equal(ad_proto_type_origin(AD_PROTO_METRIC), AD_PROTO_FROM_TRAINER);
}

/* ---- round trips ---------------------------------------------------------- */

static void
test_round_trip_every_type(void **state)
{
    ad_err_t err = {0};
    zsock_t *router = ad_proto_listen(ZMQ_ROUTER, "inproc://proto-rt", NULL, NULL, &err);
    zsock_t *dealer = ad_proto_connect(ZMQ_DEALER, "inproc://proto-rt", NULL, &err);
    zsock_t *pull = ad_proto_listen(ZMQ_PULL, "inproc://proto-rt-metrics", NULL, NULL, &err);
    zsock_t *push = ad_proto_connect(ZMQ_PUSH, "inproc://proto-rt-metrics", NULL, &err);
    char *identity = NULL;

    assert_non_null(router);
    assert_non_null(dealer);
    assert_non_null(pull);
    assert_non_null(push);
    /* Peers first talk to the coordinator, so it learns their identity. */
    for (int t = AD_PROTO_UNKNOWN + 1; t < AD_PROTO_TYPE_COUNT; t++) {
        ad_proto_origin_t origin = ad_proto_type_origin(t);
        const char *name = ad_proto_type_name(t);
        json_t *expect;
        ad_proto_msg_t msg = {0};
        int rc;

        if (origin == AD_PROTO_FROM_COORD)
            continue;
        expect = adt_json(s_sample(t));
        if (origin == AD_PROTO_FROM_TRAINER) {
            rc = ad_proto_send(push, NULL, name, json_incref(expect), &err);
            assert_int_equal(rc, 0);
            rc = ad_proto_recv(pull, 2000, &msg, &err);
            assert_int_equal(rc, 0);
            assert_null(msg.identity);
        } else {
            rc = ad_proto_send(dealer, NULL, name, json_incref(expect), &err);
            if (rc)
                fail_msg("send %s: %s", name, err.msg);
            rc = ad_proto_recv(router, 2000, &msg, &err);
            if (rc)
                fail_msg("recv %s: %s", name, err.msg);
            assert_non_null(msg.identity);
            if (identity)
                assert_string_equal(identity, msg.identity);
            else
                identity = strdup(msg.identity);
        }
        assert_int_equal(msg.type, t);
        assert_true(json_equal(msg.payload, expect));
        json_decref(expect);
        ad_proto_msg_clear(&msg);
    }
    /* Then every coordinator message goes back to that identity. */
    for (int t = AD_PROTO_UNKNOWN + 1; t < AD_PROTO_TYPE_COUNT; t++) {
        const char *name = ad_proto_type_name(t);
        json_t *expect;
        ad_proto_msg_t msg = {0};

        if (ad_proto_type_origin(t) != AD_PROTO_FROM_COORD)
            continue;
        expect = adt_json(s_sample(t));
        assert_int_equal(ad_proto_send(router, identity, name, json_incref(expect), &err), 0);
        assert_int_equal(ad_proto_recv(dealer, 2000, &msg, &err), 0);
        assert_null(msg.identity);
        assert_int_equal(msg.type, t);
        assert_true(json_equal(msg.payload, expect));
        json_decref(expect);
        ad_proto_msg_clear(&msg);
    }
    /* NULL payload means {}. */
    {
        ad_proto_msg_t msg = {0};

        assert_int_equal(ad_proto_send(dealer, NULL, "NODES", NULL, &err), 0);
        assert_int_equal(ad_proto_recv(router, 2000, &msg, &err), 0);
        assert_int_equal(msg.type, AD_PROTO_NODES);
        assert_int_equal(json_object_size(msg.payload), 0);
        ad_proto_msg_clear(&msg);
        ad_proto_msg_clear(&msg);
    }
    free(identity);
    zsock_destroy(&push);
    zsock_destroy(&pull);
    zsock_destroy(&dealer);
    zsock_destroy(&router);
}

static void
test_identities(void **state)
{
    ad_err_t err = {0};
    zsock_t *router = ad_proto_listen(ZMQ_ROUTER, "inproc://proto-id", NULL, NULL, &err);
    zsock_t *a = zsock_new(ZMQ_DEALER);
    zsock_t *b = zsock_new(ZMQ_DEALER);
    ad_proto_msg_t ma = {0}, mb = {0}, reply = {0};

    assert_non_null(router);
    zsock_set_identity(a, "agent-a");
    zsock_connect(a, "inproc://proto-id");
    zsock_connect(b, "inproc://proto-id");
    assert_int_equal(ad_proto_send(a, NULL, "PING", NULL, &err), 0);
    assert_int_equal(ad_proto_send(b, NULL, "BYE", NULL, &err), 0);
    assert_int_equal(ad_proto_recv(router, 2000, &ma, &err), 0);
    assert_int_equal(ad_proto_recv(router, 2000, &mb, &err), 0);
    /* A routing id set by the peer comes out as its hex spelling. */
    assert_string_equal(ma.identity, "6167656E742D61");
    assert_string_not_equal(ma.identity, mb.identity);
    /* Answers reach the right peer, whatever the order. */
    assert_int_equal(ad_proto_send(router, mb.identity, "OK", adt_json("{\"to\":\"b\"}"), &err), 0);
    assert_int_equal(ad_proto_send(router, ma.identity, "OK", adt_json("{\"to\":\"a\"}"), &err), 0);
    assert_int_equal(ad_proto_recv(a, 2000, &reply, &err), 0);
    assert_string_equal(json_string_value(json_object_get(reply.payload, "to")), "a");
    ad_proto_msg_clear(&reply);
    assert_int_equal(ad_proto_recv(b, 2000, &reply, &err), 0);
    assert_string_equal(json_string_value(json_object_get(reply.payload, "to")), "b");
    ad_proto_msg_clear(&reply);
    /* Lower-case hex is the same peer. */
    assert_int_equal(ad_proto_send(router, "6167656e742d61", "PING", NULL, &err), 0);
    assert_int_equal(ad_proto_recv(a, 2000, &reply, &err), 0);
    assert_int_equal(reply.type, AD_PROTO_PING);
    ad_proto_msg_clear(&reply);
    /* A peer that is not there, and an identity that is not hex. */
    assert_int_equal(ad_proto_send(router, "DEADBEEF", "PING", NULL, &err), AD_EPEER);
    assert_non_null(strstr(err.msg, "DEADBEEF is gone"));
    assert_int_equal(ad_proto_send(router, "XYZ", "PING", NULL, &err), AD_EINVAL);
    assert_non_null(strstr(err.msg, "bad peer identity"));
    ad_proto_msg_clear(&ma);
    ad_proto_msg_clear(&mb);
    zsock_destroy(&a);
    zsock_destroy(&b);
    zsock_destroy(&router);
}

/* ---- malformed input -------------------------------------------------------- */

static void
test_malformed(void **state)
{
    ad_err_t err = {0};
    zsock_t *router = zsock_new_router("inproc://proto-bad");
    zsock_t *dealer = zsock_new_dealer(">inproc://proto-bad");
    ad_proto_msg_t msg = {0};
    zmsg_t *zm;
    char *big;

    assert_non_null(router);
    assert_non_null(dealer);
    s_send_raw(dealer, "HELLO", NULL);
    s_expect_peer_error(router, "2 frames, expected 3");
    s_send_raw(dealer, "PING", "{}", "extra", NULL);
    s_expect_peer_error(router, "4 frames, expected 3");
    s_send_raw(dealer, "FOO", "{}", NULL);
    s_expect_peer_error(router, "unknown type \"FOO\"");
    s_send_raw(dealer, "hello", "{}", NULL);
    s_expect_peer_error(router, "unknown type \"hello\"");
    s_send_raw(dealer, "A-TYPE-FRAME-FAR-TOO-LONG-TO-BE-ONE", "{}", NULL);
    s_expect_peer_error(router, "unknown type");
    zm = zmsg_new();
    zmsg_addmem(zm, "P\0\xff", 3);
    zmsg_addstr(zm, "{}");
    zmsg_send(&zm, dealer);
    s_expect_peer_error(router, "unknown type \"P\\x00\\xff\"");
    s_send_raw(dealer, "PING", "not json", NULL);
    s_expect_peer_error(router, "PING from peer");
    s_send_raw(dealer, "PING", "{\"a\":1", NULL);
    s_expect_peer_error(router, "not valid JSON");
    s_send_raw(dealer, "PING", "[1,2]", NULL);
    s_expect_peer_error(router, "PING: the payload must be a mapping, got a list");
    s_send_raw(dealer, "PING", "42", NULL);
    s_expect_peer_error(router, "not valid JSON");
    s_send_raw(dealer, "PING", "", NULL);
    s_expect_peer_error(router, "not valid JSON");
    s_send_raw(dealer, "PING", "{\"a\":1,\"a\":2}", NULL);
    s_expect_peer_error(router, "duplicate");
    /* Fields the daemon relies on are checked for it. */
    s_send_raw(dealer, "HELLO", "{\"protocol\":1,\"version\":\"1\",\"pid\":1,\"profile\":{}}",
               NULL);
    s_expect_peer_error(router, "HELLO: hostname is required");
    /* A node's address ends up in hostfiles and mpirun's command line: only a host. */
    s_send_raw(dealer, "HELLO",
               "{\"protocol\":1,\"version\":\"1\",\"pid\":1,\"profile\":{},"
               "\"hostname\":\"n1\",\"address\":\"127.$(touch${IFS}/tmp/x)\"}",
               NULL);
    s_expect_peer_error(router, "HELLO: address must be a host name or an IP address, got "
                                "the string \"127.$(touch${IFS}/tmp/x)\"");
    s_send_raw(dealer, "HELLO",
               "{\"protocol\":1,\"version\":\"1\",\"pid\":1,\"profile\":{},"
               "\"hostname\":\"n1; rm -rf /\"}",
               NULL);
    s_expect_peer_error(router, "HELLO: hostname must be a host name or an IP address");
    s_send_raw(dealer, "HEARTBEAT",
               "{\"seq\":1,\"load\":{\"cpu\":3.5,\"mem_used_bytes\":1,\"mem_total_bytes\":2},"
               "\"running\":[]}",
               NULL);
    s_expect_peer_error(router, "HEARTBEAT: load.cpu must be a number from 0 to 1, got 3.5");
    s_send_raw(dealer, "HEARTBEAT",
               "{\"seq\":1,\"load\":{\"cpu\":0.5,\"mem_used_bytes\":1,\"mem_total_bytes\":2},"
               "\"running\":[1,\"x\"]}",
               NULL);
    s_expect_peer_error(router,
                        "HEARTBEAT: running[1] must be a positive integer, got the string \"x\"");
    s_send_raw(dealer, "CANCEL", "{\"job\":\"12\"}", NULL);
    s_expect_peer_error(router, "CANCEL: job must be a positive integer, got the string \"12\"");
    s_send_raw(dealer, "LOGS", "{\"job\":1,\"offset\":-5}", NULL);
    s_expect_peer_error(router, "LOGS: offset must be ");
    /* The sender stays known after a bad type, so the daemon can answer it. */
    s_send_raw(dealer, "CANCEL", "{}", NULL);
    assert_int_equal(ad_proto_recv(router, 2000, &msg, &err), AD_EPEER);
    assert_non_null(msg.identity);
    assert_int_equal(msg.type, AD_PROTO_CANCEL);
    assert_null(msg.payload);
    assert_int_equal(ad_proto_send_error(router, msg.identity, &err, &err), 0);
    ad_proto_msg_clear(&msg);
    assert_int_equal(ad_proto_recv(dealer, 2000, &msg, &err), 0);
    assert_int_equal(msg.type, AD_PROTO_ERROR);
    assert_string_equal(json_string_value(json_object_get(msg.payload, "code")), "EPEER");
    ad_proto_msg_clear(&msg);
    /* Oversized payload: one byte over the limit. */
    big = malloc(AD_PROTO_MAX_PAYLOAD + 2);
    memset(big, ' ', AD_PROTO_MAX_PAYLOAD + 1);
    big[0] = '{';
    big[AD_PROTO_MAX_PAYLOAD] = '}';
    big[AD_PROTO_MAX_PAYLOAD + 1] = '\0';
    s_send_raw(dealer, "PING", big, NULL);
    s_expect_peer_error(router, "over the 16 MiB limit");
    /* Exactly at the limit is fine. */
    big[AD_PROTO_MAX_PAYLOAD - 1] = '}';
    big[AD_PROTO_MAX_PAYLOAD] = '\0';
    s_send_raw(dealer, "PING", big, NULL);
    assert_int_equal(ad_proto_recv(router, 2000, &msg, &err), 0);
    ad_proto_msg_clear(&msg);
    free(big);
    /* After all that the socket still works. */
    assert_int_equal(ad_proto_send(dealer, NULL, "NODES", NULL, &err), 0);
    assert_int_equal(ad_proto_recv(router, 2000, &msg, &err), 0);
    assert_int_equal(msg.type, AD_PROTO_NODES);
    ad_proto_msg_clear(&msg);
    zsock_destroy(&dealer);
    zsock_destroy(&router);
}

static void
test_malformed_pull(void **state)
{
    zsock_t *pull = zsock_new_pull("inproc://proto-bad-pull");
    zsock_t *push = zsock_new_push(">inproc://proto-bad-pull");

    s_send_raw(push, "METRIC", NULL);
    s_expect_peer_error(pull, "1 frame, expected 2 ([type][json])");
    s_send_raw(push, "METRIC", "{\"event\":\"step\"}", NULL);
    s_expect_peer_error(pull, "METRIC: job is required");
    zsock_destroy(&push);
    zsock_destroy(&pull);
}

static void
test_send_refuses_bad_messages(void **state)
{
    ad_err_t err = {0};
    zsock_t *pull = zsock_new_pull("inproc://proto-send");
    zsock_t *push = zsock_new_push(">inproc://proto-send");
    json_t *big;

    assert_int_equal(ad_proto_send(push, NULL, "FOO", NULL, &err), AD_EINVAL);
    assert_non_null(strstr(err.msg, "unknown type \"FOO\""));
    assert_int_equal(
        ad_proto_send(push, NULL, "METRIC", adt_json("{\"job\":0,\"event\":\"x\"}"), &err),
        AD_EINVAL);
    assert_non_null(strstr(err.msg, "refusing to send an invalid message: METRIC: job must be "));
    assert_int_equal(ad_proto_send(push, NULL, "PING", json_array(), &err), AD_EINVAL);
    big = json_object();
    {
        char *s = malloc(AD_PROTO_MAX_PAYLOAD);

        memset(s, 'a', AD_PROTO_MAX_PAYLOAD - 1);
        s[AD_PROTO_MAX_PAYLOAD - 1] = '\0';
        json_object_set_new(big, "x", json_string(s));
        free(s);
    }
    assert_int_equal(ad_proto_send(push, NULL, "PING", big, &err), AD_EINVAL);
    assert_non_null(strstr(err.msg, "over the 16 MiB limit"));
    /* A failing ZeroMQ send, through the fault switch. */
    ad_fault_arm("zmq.send", 1);
    assert_int_equal(ad_proto_send(push, NULL, "PING", NULL, &err), AD_EPEER);
    assert_non_null(strstr(err.msg, "zmq.send"));
    assert_int_equal(ad_proto_send(push, NULL, "PING", NULL, &err), 0);
    ad_fault_reset();
    zsock_destroy(&push);
    zsock_destroy(&pull);
}

/* ---- timeouts ------------------------------------------------------------ */

static void
test_recv_timeout(void **state)
{
    ad_err_t err = {0};
    zsock_t *router = ad_proto_listen(ZMQ_ROUTER, "inproc://proto-idle", NULL, NULL, &err);
    ad_proto_msg_t msg = {0};
    int64_t t0 = zclock_mono();

    assert_int_equal(ad_proto_recv(router, 150, &msg, &err), -ETIMEDOUT);
    assert_true(zclock_mono() - t0 >= 140);
    assert_non_null(strstr(err.msg, "no message in 150 ms"));
    assert_int_equal(ad_proto_recv(router, 0, &msg, &err), -ETIMEDOUT);
    assert_null(msg.identity);
    assert_null(msg.payload);
    zsock_destroy(&router);
}

static void
test_request_nobody_listening(void **state)
{
    char endpoint[64];
    json_t *reply = (json_t *)1;
    ad_err_t err = {0};
    int64_t t0, elapsed;
    int rc, dead;

    snprintf(endpoint, sizeof(endpoint), "tcp://127.0.0.1:%d", s_dead_port(&dead));
    t0 = zclock_mono();
    rc = ad_proto_request(endpoint, "STATUS", NULL, 700, &reply, &err);
    elapsed = zclock_mono() - t0;
    assert_int_equal(rc, -ETIMEDOUT);
    assert_null(reply);
    /* Bounded by the timeout (slack for a loaded machine), never a hang. */
    assert_true(elapsed <= 700 + 2000);
    assert_non_null(strstr(err.msg, "cannot reach the coordinator at "));
    assert_non_null(strstr(err.msg, endpoint));
    assert_non_null(strstr(err.msg, "(no answer in 0.7 s)"));
    assert_non_null(strstr(err.msg, "try `autodist up`"));
    /* The default timeout reads in whole seconds. */
    rc = ad_proto_request(endpoint, "NODES", NULL, 1000, &reply, &err);
    assert_non_null(strstr(err.msg, "(no answer in 1 s)"));
    rc = ad_proto_request("nonsense://x", "NODES", NULL, 100, &reply, &err);
    assert_int_equal(rc, AD_EINVAL);
    assert_non_null(strstr(err.msg, "nonsense://x"));
    close(dead);
}

static void
test_push_never_blocks(void **state)
{
    char endpoint[64];
    ad_err_t err = {0};
    zsock_t *push;
    int64_t t0;

    snprintf(endpoint, sizeof(endpoint), "tcp://127.0.0.1:%d", s_free_port());
    push = ad_proto_connect(ZMQ_PUSH, endpoint, NULL, &err);
    assert_non_null(push);
    t0 = zclock_mono();
    assert_int_equal(ad_proto_send(push, NULL, "METRIC", adt_json(s_sample(AD_PROTO_METRIC)), &err),
                     -EAGAIN);
    assert_true(zclock_mono() - t0 < 2000);
    zsock_destroy(&push);
}

/* ---- a coordinator stand-in for requests ------------------------------------ */

/* Answers STATUS with OK {echo}, CANCEL with ERROR, NODES with WELCOME, SHUTDOWN never. */
static void
s_coordinator(zsock_t *pipe, void *args)
{
    const char *keys_dir = args;
    ad_err_t err = {0};
    int port = 0;
    zsock_t *router = ad_proto_listen(ZMQ_ROUTER, "tcp://127.0.0.1:*", keys_dir, &port, &err);
    zpoller_t *poller;

    if (!router) {
        fprintf(stderr, "coordinator: %s\n", err.msg);
        zsock_signal(pipe, 0);
        zsock_send(pipe, "i", -1);
        return;
    }
    poller = zpoller_new(pipe, router, NULL);
    zsock_signal(pipe, 0);
    zsock_send(pipe, "i", port);
    for (;;) {
        void *which = zpoller_wait(poller, -1);
        ad_proto_msg_t msg = {0};
        ad_err_t e = {0};

        if (which == pipe || !which)
            break;
        if (ad_proto_recv(router, 0, &msg, &err))
            continue;
        switch (msg.type) {
        case AD_PROTO_STATUS:
            ad_proto_send(router, msg.identity, "OK",
                          json_pack("{s:O s:s?}", "echo", msg.payload, "user_id", msg.user_id),
                          &err);
            break;
        case AD_PROTO_CANCEL:
            ad_err_set(&e, AD_EINVAL, "job %d is not running",
                       (int)json_integer_value(json_object_get(msg.payload, "job")));
            ad_proto_send_error(router, msg.identity, &e, &err);
            break;
        case AD_PROTO_LOGS:
            ad_err_set(&e, -ENOENT, "no log for job 3");
            ad_proto_send_error(router, msg.identity, &e, &err);
            break;
        case AD_PROTO_NODES:
            ad_proto_send(router, msg.identity, "WELCOME",
                          adt_json("{\"node\":1,\"heartbeat_ms\":1000}"), &err);
            break;
        default:
            break;
        }
        ad_proto_msg_clear(&msg);
    }
    zpoller_destroy(&poller);
    zsock_destroy(&router);
}

static zactor_t *
s_start_coordinator(const char *keys_dir, char *endpoint, size_t size)
{
    zactor_t *actor = zactor_new(s_coordinator, (void *)keys_dir);
    int port = -1;

    zsock_recv(actor, "i", &port);
    assert_true(port > 0);
    snprintf(endpoint, size, "tcp://127.0.0.1:%d", port);
    return actor;
}

static void
test_request_answers(void **state)
{
    char endpoint[64];
    zactor_t *coord = s_start_coordinator(NULL, endpoint, sizeof(endpoint));
    json_t *reply = NULL;
    ad_err_t err = {0};
    int rc;

    rc = ad_proto_request(endpoint, "STATUS", adt_json("{\"job\":7}"), 2000, &reply, &err);
    if (rc)
        fail_msg("request: %s", err.msg);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(reply, "echo"), "job")),
                     7);
    json_decref(reply);
    /* The coordinator's ERROR becomes the caller's code and message. */
    rc = ad_proto_request(endpoint, "CANCEL", adt_json("{\"job\":3}"), 2000, &reply, &err);
    assert_int_equal(rc, AD_EINVAL);
    assert_string_equal(err.msg, "job 3 is not running");
    assert_null(reply);
    rc = ad_proto_request(endpoint, "LOGS", adt_json("{\"job\":3}"), 2000, &reply, &err);
    assert_int_equal(rc, -ENOENT);
    assert_string_equal(err.msg, "no log for job 3");
    /* An answer that is neither OK nor ERROR. */
    rc = ad_proto_request(endpoint, "NODES", NULL, 2000, &reply, &err);
    assert_int_equal(rc, AD_EPEER);
    assert_non_null(strstr(err.msg, "answered WELCOME"));
    /* A coordinator that is up but does not answer. */
    rc = ad_proto_request(endpoint, "SHUTDOWN", NULL, 300, &reply, &err);
    assert_int_equal(rc, -ETIMEDOUT);
    /* A request the client itself refuses to send. */
    rc = ad_proto_request(endpoint, "CANCEL", NULL, 300, &reply, &err);
    assert_int_equal(rc, AD_EINVAL);
    assert_non_null(strstr(err.msg, "CANCEL: job is required"));
    zactor_destroy(&coord);
}

static void
test_listen_errors(void **state)
{
    ad_err_t err = {0};
    int port = 0;
    zsock_t *a = ad_proto_listen(ZMQ_ROUTER, "tcp://127.0.0.1:*", NULL, &port, &err);
    char endpoint[64];
    zsock_t *b;

    assert_non_null(a);
    assert_true(port > 0);
    snprintf(endpoint, sizeof(endpoint), "tcp://127.0.0.1:%d", port);
    b = ad_proto_listen(ZMQ_ROUTER, endpoint, NULL, NULL, &err);
    assert_null(b);
    assert_int_equal(err.code, -EADDRINUSE);
    assert_non_null(strstr(err.msg, endpoint));
    assert_non_null(strstr(err.msg, "another autodistd"));
    b = ad_proto_listen(ZMQ_PULL, "bogus", NULL, NULL, &err);
    assert_null(b);
    assert_int_equal(err.code, AD_EINVAL);
    assert_null(ad_proto_connect(ZMQ_DEALER, "bogus://", NULL, &err));
    assert_int_equal(err.code, AD_EINVAL);
    zsock_destroy(&a);
}

/* ---- payload fields --------------------------------------------------------- */

static void
test_json_fields(void **state)
{
    json_t *o = adt_json("{\"n\":5,\"x\":0.5,\"s\":\"abc\",\"b\":true,\"z\":null,"
                         "\"load\":{\"cpu\":1},\"arr\":[1,2,3],\"flat\":3}");
    ad_err_t err = {0};
    int64_t i;
    double d;
    const char *s;
    bool b;
    json_t *v;

    assert_int_equal(ad_doc_json_get_int(o, "n", 0, 10, &i, &err), 0);
    assert_int_equal(i, 5);
    assert_int_equal(ad_doc_json_get_int(o, "n", 6, 10, &i, &err), AD_EINVAL);
    assert_string_equal(err.msg, "n must be an integer from 6 to 10, got 5");
    assert_int_equal(ad_doc_json_get_int(o, "x", 0, 10, &i, &err), AD_EINVAL);
    assert_int_equal(ad_doc_json_get_int(o, "missing", 0, 10, &i, &err), -ENOENT);
    assert_string_equal(err.msg, "missing is required");
    assert_int_equal(ad_doc_json_get_int(o, "z", 0, 10, &i, &err), -ENOENT);
    assert_int_equal(ad_doc_json_get_double(o, "load.cpu", 0, 1, &d, &err), 0);
    assert_true(d == 1.0);
    assert_int_equal(ad_doc_json_get_double(o, "s", 0, 1, &d, &err), AD_EINVAL);
    assert_string_equal(err.msg, "s must be a number from 0 to 1, got the string \"abc\"");
    assert_int_equal(ad_doc_json_get_double(o, "load.mem", 0, 1, &d, &err), -ENOENT);
    assert_string_equal(err.msg, "load.mem is required");
    assert_int_equal(ad_doc_json_get_double(o, "flat.cpu", 0, 1, &d, &err), AD_EINVAL);
    assert_string_equal(err.msg, "flat must be a mapping, got 3");
    assert_int_equal(ad_doc_json_get_string(o, "s", 1, 3, &s, &err), 0);
    assert_string_equal(s, "abc");
    assert_int_equal(ad_doc_json_get_string(o, "s", 1, 2, &s, &err), AD_EINVAL);
    assert_string_equal(err.msg, "s must be a string of 1 to 2 bytes, got 3 bytes");
    assert_int_equal(ad_doc_json_get_string(o, "arr", 1, 2, &s, &err), AD_EINVAL);
    assert_string_equal(err.msg, "arr must be a string of 1 to 2 bytes, got a list");
    assert_int_equal(ad_doc_json_get_bool(o, "b", &b, &err), 0);
    assert_true(b);
    assert_int_equal(ad_doc_json_get_bool(o, "n", &b, &err), AD_EINVAL);
    assert_int_equal(ad_doc_json_get_object(o, "load", &v, &err), 0);
    assert_int_equal(ad_doc_json_get_object(o, "arr", &v, &err), AD_EINVAL);
    assert_int_equal(ad_doc_json_get_array(o, "arr", 3, &v, &err), 0);
    assert_int_equal(json_array_size(v), 3);
    assert_int_equal(ad_doc_json_get_array(o, "arr", 2, &v, &err), AD_EINVAL);
    assert_string_equal(err.msg, "arr must be a list of at most 2 items, got 3 items");
    json_decref(o);
    o = json_array();
    assert_int_equal(ad_doc_json_get_int(o, "n", 0, 1, &i, &err), AD_EINVAL);
    json_decref(o);
}

static void
test_error_names(void **state)
{
    assert_string_equal(ad_proto_error_name(AD_EPARSE), "EPARSE");
    assert_string_equal(ad_proto_error_name(AD_EIO), "EIO");
    assert_string_equal(ad_proto_error_name(-ENOENT), "ENOENT");
    assert_string_equal(ad_proto_error_name(-EADDRINUSE), "EADDRINUSE");
    assert_string_equal(ad_proto_error_name(12345), "EUNKNOWN");
    assert_int_equal(ad_proto_error_code("EPARSE"), AD_EPARSE);
    assert_int_equal(ad_proto_error_code("ENOENT"), -ENOENT);
    assert_int_equal(ad_proto_error_code("ENOPE"), AD_EPEER);
    assert_int_equal(ad_proto_error_code(NULL), AD_EPEER);
}

/* ---- CURVE ------------------------------------------------------------------- */

/* A request to endpoint with the client folder dir that must fail fast with code and text. */
static void
s_refused(const char *endpoint, const char *dir, int code, const char *text)
{
    ad_err_t err = {0};
    json_t *reply = NULL;
    double t0 = ad_clock_now();
    int rc = ad_proto_request_secure(endpoint, dir, "STATUS", NULL, 3000, &reply, &err);

    if (rc != code)
        fail_msg("request with %s: rc %d (%s), expected %d", dir ? dir : "no keys", rc, err.msg,
                 code);
    adt_assert_has(err.msg, text);
    /* A refused handshake is told before the 3 s timeout (the code above already differs
     * from a timeout's; the margin is for a loaded machine, where 1.5 s once failed). */
    assert_true(ad_clock_now() - t0 < 2.9);
    assert_null(reply);
}

static void
test_curve(void **state)
{
    char keys[256], other[256], path[300], before[1024], after[1024], node[300];
    char endpoint[64], *cert;
    size_t cert_len;
    ad_err_t err = {0};
    json_t *reply = NULL;
    zactor_t *auth, *coord;
    struct stat st;
    zsock_t *sock;
    int rc;

    assert_non_null(adt_root_make("ad-proto"));
    adt_mkdir_in(keys, sizeof(keys), adt_root(), "keys");
    adt_mkdir_in(other, sizeof(other), adt_root(), "other");
    /* Without keys, securing a socket says which file is missing. */
    sock = zsock_new(ZMQ_DEALER);
    assert_int_equal(ad_proto_secure_client(sock, keys, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "client.cert_secret"));
    zsock_destroy(&sock);
    assert_int_equal(ad_keys_check_client(keys, &err), -ENOENT);
    adt_assert_has(err.msg, "client.cert_secret");
    assert_null(ad_keys_auth_new(keys, &err));
    assert_int_equal(ad_keys_init(keys, "boss", &err), 0);
    adt_path(path, sizeof(path), keys, "server.cert");
    assert_int_equal(access(path, R_OK), 0);
    adt_read_file(path, before, sizeof(before));
    assert_int_equal(ad_keys_init(keys, "boss", &err), 0);
    adt_read_file(path, after, sizeof(after));
    assert_string_equal(before, after);
    /* The secrets are the owner's only. */
    assert_int_equal(stat(keys, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    adt_path(path, sizeof(path), keys, "client.cert_secret");
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(node, sizeof(node), "%s/node", keys);
    assert_int_equal(ad_keys_check_client(node, &err), 0);
    assert_int_equal(ad_keys_check_client(keys, &err), 0);

    auth = ad_keys_auth_new(keys, &err);
    assert_non_null(auth);
    coord = s_start_coordinator(keys, endpoint, sizeof(endpoint));
    rc = ad_proto_request_secure(endpoint, keys, "STATUS", adt_json("{\"job\":1}"), 3000, &reply,
                                 &err);
    if (rc)
        fail_msg("secure request: %s", err.msg);
    /* The ZAP handler named the key: the admin's, called boss. */
    assert_string_equal(json_string_value(json_object_get(reply, "user_id")), "admin/boss");
    json_decref(reply);
    /* A plain client is refused at once and told why. */
    s_refused(endpoint, NULL, -EACCES, "requires CURVE keys");
    /* So is a client whose key the coordinator does not hold (made elsewhere: its node/)... */
    assert_int_equal(ad_keys_init(other, NULL, &err), 0);
    cert = adt_slurp(adt_path(path, sizeof(path), keys, "server.cert"), &cert_len);
    snprintf(path, sizeof(path), "%s/node", other);
    adt_write_in(path, "server.cert", cert, cert_len);
    free(cert);
    s_refused(endpoint, path, -EACCES, "refused the key");
    /* ... a client with another coordinator's server key (its handshake fails) ... */
    s_refused(endpoint, other, -EACCES, "server.cert is not its key");
    /* ... and the node key on a client socket. */
    s_refused(endpoint, node, -EACCES, "refused the key");
    /* A user added now is let in without a restart; revoked, refused again. */
    assert_int_equal(ad_keys_add_user(keys, "alice", &err), 0);
    assert_int_equal(ad_keys_add_user(keys, "alice", &err), -EEXIST);
    assert_int_equal(ad_keys_add_user(keys, "boss", &err), AD_EINVAL);
    assert_int_equal(ad_keys_add_user(keys, "../x", &err), AD_EINVAL);
    snprintf(path, sizeof(path), "%s/users/alice", keys);
    rc = ad_proto_request_secure(endpoint, path, "STATUS", NULL, 3000, &reply, &err);
    if (rc)
        fail_msg("user request: %s", err.msg);
    assert_string_equal(json_string_value(json_object_get(reply, "user_id")), "user/alice");
    json_decref(reply);
    /* She keeps a copy of her folder; the revocation removes the coordinator's. */
    {
        char cmd[1024];

        snprintf(cmd, sizeof(cmd), "cp -r %s %s/alice-copy", path, adt_root());
        assert_int_equal(system(cmd), 0);
    }
    snprintf(other, sizeof(other), "%s/alice-copy", adt_root());
    assert_int_equal(ad_keys_revoke(keys, "alice", &err), 0);
    assert_int_equal(ad_keys_revoke(keys, "alice", &err), -ENOENT);
    s_refused(endpoint, other, -EACCES, "refused the key");
    /* A server key that changed: the old server.cert no longer matches. */
    assert_int_equal(ad_keys_rotate(keys, &err), 0);
    adt_path(path, sizeof(path), keys, "server.cert");
    adt_read_file(path, after, sizeof(after));
    assert_string_not_equal(before, after);
    zactor_destroy(&coord);
    zactor_destroy(&auth);
    assert_int_equal(adt_root_remove(), 0);
}

/* ---- frames counted before they are kept (issue 9) ---------------------------- */

/* A message of many frames is refused by its count and the socket goes on. */
static void
test_many_frames(void **state)
{
    zsock_t *router = zsock_new_router("inproc://proto-many");
    zsock_t *dealer = zsock_new_dealer(">inproc://proto-many");
    ad_proto_msg_t msg = {0};
    ad_err_t err = {0};
    char *chunk = malloc(1 << 20);
    zmsg_t *zm = zmsg_new();

    memset(chunk, 'x', 1 << 20);
    zmsg_addstr(zm, "PING");
    zmsg_addstr(zm, "{}");
    for (int i = 0; i < 28; i++)
        zmsg_addmem(zm, chunk, 1 << 20);
    assert_int_equal(zmsg_send(&zm, dealer), 0);
    assert_int_equal(ad_proto_recv(router, 2000, &msg, &err), AD_EPEER);
    adt_assert_has(err.msg, "malformed message from peer ");
    adt_assert_has(err.msg, ": 31 frames, expected 3 ([identity][type][json])");
    /* The sender is known, so the caller can answer it; nothing else is kept. */
    assert_non_null(msg.identity);
    assert_int_equal(msg.type, AD_PROTO_UNKNOWN);
    assert_null(msg.payload);
    ad_proto_msg_clear(&msg);
    assert_int_equal(ad_proto_send(dealer, NULL, "NODES", NULL, &err), 0);
    assert_int_equal(ad_proto_recv(router, 2000, &msg, &err), 0);
    assert_int_equal(msg.type, AD_PROTO_NODES);
    /* Without CURVE no key sent it. */
    assert_null(msg.user_id);
    ad_proto_msg_clear(&msg);
    free(chunk);
    zsock_destroy(&dealer);
    zsock_destroy(&router);
}

/* Over TCP a frame over the limit closes that connection in libzmq; others go on. */
static void
test_oversized_frame_tcp(void **state)
{
    char endpoint[64];
    ad_proto_msg_t msg = {0};
    ad_err_t err = {0};
    zsock_t *router, *big_sender, *good;
    size_t n = AD_PROTO_MAX_PAYLOAD + 1024;
    char *big = malloc(n);
    zmsg_t *zm = zmsg_new();
    int port = 0;

    router = ad_proto_listen(ZMQ_ROUTER, "tcp://127.0.0.1:*", NULL, &port, &err);
    assert_non_null(router);
    snprintf(endpoint, sizeof(endpoint), "tcp://127.0.0.1:%d", port);
    big_sender = zsock_new_dealer(endpoint);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    zmsg_addstr(zm, "PING");
    zmsg_addmem(zm, big, n);
    assert_int_equal(zmsg_send(&zm, big_sender), 0);
    free(big);
    assert_int_equal(ad_proto_recv(router, 1000, &msg, &err), -ETIMEDOUT);
    good = ad_proto_connect(ZMQ_DEALER, endpoint, NULL, &err);
    assert_non_null(good);
    assert_int_equal(ad_proto_send(good, NULL, "NODES", NULL, &err), 0);
    assert_int_equal(ad_proto_recv(router, 2000, &msg, &err), 0);
    assert_int_equal(msg.type, AD_PROTO_NODES);
    ad_proto_msg_clear(&msg);
    zsock_destroy(&good);
    zsock_destroy(&big_sender);
    zsock_destroy(&router);
}

/* The parser on frames in memory: what the fuzzer drives. */
static void
test_parse_frames(void **state)
{
    static const char id[] = {'\x00', '\x8b', '\x45'};
    ad_proto_frame_t f[3] = {{id, sizeof(id)}, {"CANCEL", 6}, {"{\"job\":4}", 9}};
    ad_proto_msg_t msg = {0};
    ad_err_t err = {0};

    assert_int_equal(ad_proto_parse_frames(f, 3, true, &msg, &err), 0);
    assert_string_equal(msg.identity, "008B45");
    assert_int_equal(msg.type, AD_PROTO_CANCEL);
    assert_int_equal(json_integer_value(json_object_get(msg.payload, "job")), 4);
    ad_proto_msg_clear(&msg);
    assert_int_equal(ad_proto_parse_frames(f + 1, 2, false, &msg, &err), 0);
    assert_null(msg.identity);
    ad_proto_msg_clear(&msg);
    /* Past the count, only the identity is read: frames needs no more than 3 entries. */
    assert_int_equal(ad_proto_parse_frames(f, 1000000, true, &msg, &err), AD_EPEER);
    adt_assert_has(err.msg, "from peer 008B45: 1000000 frames, expected 3");
    ad_proto_msg_clear(&msg);
    assert_int_equal(ad_proto_parse_frames(f + 1, 3, false, &msg, &err), AD_EPEER);
    adt_assert_has(err.msg, "malformed message: 3 frames, expected 2 ([type][json])");
    assert_int_equal(ad_proto_parse_frames(NULL, 0, true, &msg, &err), AD_EPEER);
    adt_assert_has(err.msg, "0 frames, expected 3");
    assert_int_equal(ad_proto_parse_frames(NULL, 0, false, &msg, &err), AD_EPEER);
    f[2].size = 0;
    assert_int_equal(ad_proto_parse_frames(f, 3, true, &msg, &err), AD_EPEER);
    adt_assert_has(err.msg, "bad CANCEL from peer 008B45: payload is not valid JSON");
    ad_proto_msg_clear(&msg);
}

/* Loopback endpoints, the only ones --insecure accepts. */
static void
test_loopback(void **state)
{
    static const char *const yes[] = {"tcp://127.0.0.1:7400", "tcp://127.0.0.9:1", "ipc:///tmp/x",
                                      "inproc://a", "tcp://localhost:7400", "tcp://[::1]:7400"};
    static const char *const no[] = {"tcp://*:7400", "tcp://0.0.0.0:7400", "tcp://10.0.0.1:7400",
                                     "tcp://eth0:7400", "tcp://node-1:7400", "bogus", "",
                                     "tcp://128.0.0.1:1"};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        if (!ad_keys_is_loopback(yes[i]))
            fail_msg("%s is loopback", yes[i]);
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        if (ad_keys_is_loopback(no[i]))
            fail_msg("%s is not loopback", no[i]);
    assert_false(ad_keys_is_loopback(NULL));
}

/* What may name a node: host names and IP addresses, nothing a shell would read twice. */
static void
test_is_host(void **state)
{
    static const char *const good[] = {
        "n1", "vm-1", "gros-12.nancy.grid5000.fr", "127.0.0.1", "10.0.3.2", "::1",
        "fe80::1", "node_7", "a.b-c.d", "x",
    };
    static const char *const bad[] = {
        "", "-n1", "n1-", "a..b", ".a", "a.", "n 1", "n1;ls", "127.$(touch /tmp/x)", "`id`",
        "a/b", "n1\n", "caf\xc3\xa9",
    };
    char label[80], name[300];

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!ad_proto_is_host(good[i]))
            fail_msg("\"%s\" should be a host", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (ad_proto_is_host(bad[i]))
            fail_msg("\"%s\" should not be a host", bad[i]);
    assert_false(ad_proto_is_host(NULL));
    /* A label has at most 63 bytes, a name at most 253. */
    memset(label, 'a', 63);
    label[63] = '\0';
    assert_true(ad_proto_is_host(label));
    strcat(label, "a");
    assert_false(ad_proto_is_host(label));
    memset(name, 'a', 254);
    for (int i = 60; i < 254; i += 61)
        name[i] = '.';
    name[254] = '\0';
    assert_false(ad_proto_is_host(name));
    name[253] = '\0';
    assert_true(ad_proto_is_host(name));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_names),
        cmocka_unit_test(test_round_trip_every_type),
        cmocka_unit_test(test_identities),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_malformed_pull),
        cmocka_unit_test(test_many_frames),
        cmocka_unit_test(test_oversized_frame_tcp),
        cmocka_unit_test(test_parse_frames),
        cmocka_unit_test(test_send_refuses_bad_messages),
        cmocka_unit_test(test_recv_timeout),
        cmocka_unit_test(test_request_nobody_listening),
        cmocka_unit_test(test_push_never_blocks),
        cmocka_unit_test(test_request_answers),
        cmocka_unit_test(test_listen_errors),
        cmocka_unit_test(test_json_fields),
        cmocka_unit_test(test_error_names),
        cmocka_unit_test(test_is_host),
        cmocka_unit_test(test_curve),
        cmocka_unit_test(test_loopback),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
