/* test_input.c - autodistd under bad input: many frames, oversized frames, HELLO floods, caps */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ad_test.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "autodist/ad_proc.h"
#include "autodist/ad_proto.h"

static char s_home[128];
static char s_ep[3][64]; /* client, agents, metrics */
static char s_log[256];  /* the daemon's stderr */

/*
 * autodistd on fresh endpoints, with extra options (NULL-terminated), its stderr in s_log.
 * --insecure: what is tested here is what a peer past authentication (one holding a key)
 * can send; tests/test_auth.c tests the keys themselves.
 */
static pid_t
s_start_daemon(const char *const *extra)
{
    const char *argv[24] = {AD_DAEMON_BIN, "--home",    s_home,  "--client",
                            s_ep[0],       "--agents",  s_ep[1], "--metrics",
                            s_ep[2],       "--insecure"};
    int argc = 10;
    ad_err_t err = {0};
    json_t *reply = NULL;
    pid_t pid;

    for (; extra && *extra; extra++)
        argv[argc++] = *extra;
    argv[argc] = NULL;
    snprintf(s_log, sizeof(s_log), "%s.daemon.log", s_home);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!freopen(s_log, "w", stderr))
            _exit(127);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    /* Up once it answers. */
    for (int t = 0; t < 50; t++) {
        if (ad_proto_request(s_ep[0], "NODES", NULL, 200, &reply, &err) == 0)
            break;
        usleep(100 * 1000);
    }
    assert_non_null(reply);
    json_decref(reply);
    return pid;
}

static void
s_stop(pid_t d)
{
    ad_err_t err = {0};
    json_t *reply = NULL;

    assert_int_equal(ad_proto_request(s_ep[0], "SHUTDOWN", NULL, 3000, &reply, &err), 0);
    json_decref(reply);
    assert_int_equal(adt_wait(d, 5.0), 0);
}

/* The coordinator still answers a good request: NODES, and how many nodes it lists. */
static size_t
s_nodes(void)
{
    ad_err_t err = {0};
    json_t *reply = NULL;
    size_t n;

    if (ad_proto_request(s_ep[0], "NODES", NULL, 5000, &reply, &err))
        fail_msg("NODES: %s", err.msg);
    n = json_array_size(json_object_get(reply, "nodes"));
    json_decref(reply);
    return n;
}

/* Send n frames of size bytes each (one buffer, not copied) as one message on sock. */
static void
s_send_frames(zsock_t *sock, const char *first, int n, const void *buf, size_t size)
{
    void *h = zsock_resolve(sock);
    zmq_msg_t m;

    zmq_msg_init_size(&m, strlen(first));
    memcpy(zmq_msg_data(&m), first, strlen(first));
    assert_true(zmq_msg_send(&m, h, n > 1 ? ZMQ_SNDMORE : 0) >= 0);
    for (int i = 1; i < n; i++) {
        zmq_msg_init_data(&m, (void *)buf, size, NULL, NULL);
        assert_true(zmq_msg_send(&m, h, i + 1 < n ? ZMQ_SNDMORE : 0) >= 0);
    }
}

/* How many lines of the daemon's log hold needle. */
static int
s_log_count(const char *needle)
{
    size_t len;
    char *text = adt_slurp(s_log, &len);
    int n = 0;

    for (char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    free(text);
    return n;
}

static int
s_group_setup(void **st)
{
    return adt_root_make("ad_test_input") ? 0 : -1;
}

static int
s_group_teardown(void **st)
{
    return adt_root_remove();
}

static int
s_setup(void **st)
{
    adt_fresh_path(s_home, sizeof(s_home), "input", "");
    for (int i = 0; i < 3; i++)
        adt_free_endpoint(s_ep[i], sizeof(s_ep[i]));
    return 0;
}

/*
 * A message of 30 frames of 15 MB (the 470 MB): refused by its frame count, the
 * coordinator answers the next request and keeps none of it; then a frame over the 16 MiB
 * limit: libzmq drops that connection, the others go on.
 */
static void
test_many_and_oversized_frames(void **st)
{
    size_t size = 15u << 20;
    char *buf = malloc(AD_PROTO_MAX_PAYLOAD + 4096);
    pid_t d = s_start_daemon(NULL);
    double before, after;
    ad_proto_msg_t msg = {0};
    ad_err_t err = {0};
    zsock_t *client, *agent;

    memset(buf, ' ', AD_PROTO_MAX_PAYLOAD + 4096);
    s_nodes();
    before = ad_proc_rss_mib(d);
    client = zsock_new_dealer(s_ep[0]);
    s_send_frames(client, "NODES", 30, buf, size);
    /* The client socket answers a malformed request with ERROR EPEER naming the count. */
    assert_int_equal(ad_proto_recv(client, 30000, &msg, &err), 0);
    assert_int_equal(msg.type, AD_PROTO_ERROR);
    adt_assert_has(json_string_value(json_object_get(msg.payload, "message")),
                   ": 31 frames, expected 3 ([identity][type][json])");
    ad_proto_msg_clear(&msg);
    agent = zsock_new_dealer(s_ep[1]);
    s_send_frames(agent, "HEARTBEAT", 30, buf, size);
    /* The agent socket answers nothing: its log line says the message was seen. */
    for (int t = 0; t < 300 && s_log_count("frames, expected 3") < 2; t++)
        usleep(100 * 1000);
    assert_int_equal(s_nodes(), 0);
    after = ad_proc_rss_mib(d);
    fprintf(stderr, "coordinator RSS %.1f MiB before, %.1f MiB after 2 x 30 x 15 MB\n", before,
            after);
    /* Not kept: memory grows by far less than one message (450 MB), or one frame (15 MB). */
    assert_true(after - before < 5.0);
    assert_int_equal(s_log_count("frames, expected 3"), 2);
    /* One frame over the limit: the connection goes, the coordinator stays. */
    s_send_frames(agent, "HELLO", 2, buf, AD_PROTO_MAX_PAYLOAD + 4096);
    assert_int_equal(s_nodes(), 0);
    assert_int_equal(ad_proto_send(client, NULL, "NODES", NULL, &err), 0);
    assert_int_equal(ad_proto_recv(client, 5000, &msg, &err), 0);
    assert_int_equal(msg.type, AD_PROTO_OK);
    ad_proto_msg_clear(&msg);
    zsock_destroy(&agent);
    zsock_destroy(&client);
    free(buf);
    s_stop(d);
}

/* The coordinator's answer to the HELLO of name just sent: its type, its reason into reason. */
static ad_proto_type_t
s_answer(zsock_t *dealer, const char *name, char *reason, size_t len)
{
    ad_proto_msg_t msg = {0};
    ad_err_t err = {0};
    ad_proto_type_t type;

    if (ad_proto_recv(dealer, 10000, &msg, &err))
        fail_msg("no answer to HELLO %s: %s", name, err.msg);
    type = msg.type;
    if (reason)
        snprintf(reason, len, "%s", json_string_value(json_object_get(msg.payload, "reason")));
    ad_proto_msg_clear(&msg);
    return type;
}

/* A HELLO as name with a profile whose "pad" key is pad_bytes long; the answer's type. */
static ad_proto_type_t
s_hello(zsock_t *dealer, const char *name, size_t pad_bytes, char *reason, size_t len)
{
    ad_err_t err = {0};
    char *pad = malloc(pad_bytes + 1);
    json_t *hello;

    memset(pad, 'p', pad_bytes);
    pad[pad_bytes] = '\0';
    hello = json_pack("{s:i s:s s:s s:i s:{s:s s:{s:i} s:s}}", "protocol", AD_PROTO_VERSION,
                      "hostname", name, "version", "test", "pid", (int)getpid(), "profile",
                      "fingerprint", "input-class", "cpu", "cores", 2, "pad", pad);
    free(pad);
    assert_int_equal(ad_proto_send(dealer, NULL, "HELLO", hello, &err), 0);
    return s_answer(dealer, name, reason, len);
}

/*
 * 20,000 HELLOs with distinct names against --max-nodes 50: 50 nodes, the rest refused
 * with a REJECT naming the cap, a known name still welcome, and the log rate-limited.
 */
static void
test_hello_flood_max_nodes(void **st)
{
    const char *const opts[] = {"--max-nodes", "50", NULL};
    pid_t d = s_start_daemon(opts);
    ad_err_t err = {0};
    zsock_t *dealer = ad_proto_connect(ZMQ_DEALER, s_ep[1], NULL, &err);
    json_t *hello;
    ad_proto_msg_t msg = {0};
    int welcome = 0, reject = 0, capped = 0;
    char name[32], reason[512];
    size_t lines, len;
    char *text;

    assert_non_null(dealer);
    /* Pipelined in batches, so that no answer is dropped for a full queue. */
    for (int i = 0; i < 20000; i += 500) {
        for (int k = i; k < i + 500; k++) {
            snprintf(name, sizeof(name), "flood-%05d", k);
            hello = json_pack("{s:i s:s s:s s:i s:{s:s s:{s:i}}}", "protocol", AD_PROTO_VERSION,
                              "hostname", name, "version", "test", "pid", 1, "profile",
                              "fingerprint", "flood", "cpu", "cores", 1);
            assert_int_equal(ad_proto_send(dealer, NULL, "HELLO", hello, &err), 0);
        }
        for (int k = i; k < i + 500; k++) {
            if (ad_proto_recv(dealer, 20000, &msg, &err))
                fail_msg("answer %d: %s", k, err.msg);
            welcome += msg.type == AD_PROTO_WELCOME;
            reject += msg.type == AD_PROTO_REJECT;
            if (msg.type == AD_PROTO_REJECT &&
                strstr(json_string_value(json_object_get(msg.payload, "reason")),
                       "its limit (--max-nodes 50)"))
                capped++;
            ad_proto_msg_clear(&msg);
        }
    }
    assert_int_equal(welcome, 50);
    assert_int_equal(reject, 19950);
    assert_int_equal(capped, 19950);
    assert_int_equal(s_nodes(), 50);
    /* A name it knows may always come back (it went DOWN when the session renamed itself). */
    assert_int_equal(s_hello(dealer, "flood-00007", 0, NULL, 0), AD_PROTO_WELCOME);
    assert_int_equal(s_hello(dealer, "flood-99999", 0, reason, sizeof(reason)), AD_PROTO_REJECT);
    adt_assert_has(reason, "HELLO from flood-99999: the coordinator knows 50 nodes");
    assert_int_equal(s_nodes(), 50);
    /* Two log lines per HELLO before; now a few dozen in all. */
    text = adt_slurp(s_log, &len);
    lines = 0;
    for (char *p = text; *p; p++)
        lines += *p == '\n';
    free(text);
    fprintf(stderr, "daemon log: %zu lines for 20,000 HELLOs\n", lines);
    assert_true(lines < 200);
    assert_true(s_log_count("refused: HELLO from flood-") <= 20);
    zsock_destroy(&dealer);
    s_stop(d);
}

/* Profiles: one over --max-profile-kib is refused; the same one 100 times is one history row. */
static void
test_profile_cap_and_history(void **st)
{
    const char *const opts[] = {"--max-profile-kib", "8", NULL};
    pid_t d = s_start_daemon(opts);
    ad_err_t err = {0};
    zsock_t *dealer = ad_proto_connect(ZMQ_DEALER, s_ep[1], NULL, &err);
    char reason[512], db[256];
    sqlite3 *sql;
    sqlite3_stmt *stmt;
    int rows = -1;

    assert_int_equal(s_hello(dealer, "big", 10 * 1024, reason, sizeof(reason)), AD_PROTO_REJECT);
    adt_assert_has(reason, "HELLO from big refused: its profile is 11 KiB, over the 8 KiB limit "
                           "(--max-profile-kib)");
    assert_int_equal(s_nodes(), 0);
    for (int i = 0; i < 100; i++)
        assert_int_equal(s_hello(dealer, "same", 6 * 1024, NULL, 0), AD_PROTO_WELCOME);
    assert_int_equal(s_hello(dealer, "same", 7 * 1024, NULL, 0), AD_PROTO_WELCOME);
    zsock_destroy(&dealer);
    s_stop(d);
    snprintf(db, sizeof(db), "%s/runs.db", s_home);
    assert_int_equal(sqlite3_open_v2(db, &sql, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(sql, "SELECT count(*) FROM profiles", -1, &stmt, NULL),
                     SQLITE_OK);
    if (sqlite3_step(stmt) == SQLITE_ROW)
        rows = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(sql);
    /* 101 HELLOs, two different profiles: two rows (not 101). */
    assert_int_equal(rows, 2);
}

/*
 * No host name reaches a shell: a HELLO whose address is shell code is dropped before the
 * registry (no node, so no launch), and autodist-local-rsh refuses such a host or command.
 */
static void
test_no_host_reaches_a_shell(void **st)
{
    pid_t d = s_start_daemon(NULL);
    ad_err_t err = {0};
    zsock_t *dealer = zsock_new_dealer(s_ep[1]);
    ad_proto_msg_t msg = {0};
    char mark[256], hello[1024];
    adt_sh_t r;

    adt_path(mark, sizeof(mark), adt_root(), "pwned");
    snprintf(hello, sizeof(hello),
             "{\"protocol\":1,\"version\":\"1\",\"pid\":1,\"hostname\":\"n1\","
             "\"address\":\"127.$(touch${IFS}%s)\",\"profile\":{\"fingerprint\":\"f\","
             "\"cpu\":{\"cores\":2}}}",
             mark);
    assert_int_equal(zstr_sendx(dealer, "HELLO", hello, NULL), 0);
    /* Dropped: no WELCOME, no node, a log line naming the field. */
    assert_int_equal(ad_proto_recv(dealer, 1000, &msg, &err), -ETIMEDOUT);
    assert_int_equal(s_nodes(), 0);
    assert_int_equal(s_log_count("address must be a host name or an IP address"), 1);
    zsock_destroy(&dealer);
    s_stop(d);
    /* The remote shell of simulated nodes runs Open MPI's quoted words, nothing else. */
    r = adt_sh("%s/scripts/autodist-local-rsh -x 127.0.0.2 ' echo' '\"a;b\"'", AD_SOURCE_DIR);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "a;b\n");
    adt_sh_free(&r);
    r = adt_sh("%s/scripts/autodist-local-rsh '127.$(touch${IFS}%s)' echo", AD_SOURCE_DIR, mark);
    assert_int_equal(r.status, 255);
    adt_assert_has(r.err, "refusing host");
    adt_sh_free(&r);
    r = adt_sh("%s/scripts/autodist-local-rsh 127.0.0.2 echo '\"vm,127.$(touch %s)\"'",
               AD_SOURCE_DIR, mark);
    assert_int_equal(r.status, 255);
    adt_assert_has(r.err, "refusing a command");
    adt_sh_free(&r);
    assert_false(adt_is_file(mark));
}

/* A HELLO of node name with pool and launch (JSON texts, "" = absent); the answer's type. */
static ad_proto_type_t
s_hello_launch(zsock_t *dealer, const char *name, const char *pool, const char *launch,
               char *reason, size_t len)
{
    char hello[1024];

    snprintf(hello, sizeof(hello),
             "{\"protocol\":1,\"version\":\"1\",\"pid\":1,\"hostname\":\"%s\",%s%s%s%s"
             "\"profile\":{\"fingerprint\":\"f\",\"cpu\":{\"cores\":2}}}",
             name, *pool ? "\"pool\":" : "", pool, *pool ? "," : "", *launch ? launch : "");
    assert_int_equal(zstr_sendx(dealer, "HELLO", hello, NULL), 0);
    return s_answer(dealer, name, reason, len);
}

/*
 * What an agent may ask the coordinator to run for mpirun is checked: only oarsh or ssh by
 * name, only OAR_JOB_ID/SLURM_JOB_ID of digits; a pool's node coming back from a newer batch
 * job replaces its stale session at once instead of being refused as a second agent.
 */
static void
test_hello_launch_checked(void **st)
{
    pid_t d = s_start_daemon(NULL);
    zsock_t *a1 = zsock_new_dealer(s_ep[1]), *a2 = zsock_new_dealer(s_ep[1]);
    char reason[512];

    assert_int_equal(s_hello_launch(a1, "p1", "\"oar:s\"",
                                    "\"launch\":{\"rsh\":\"/bin/sh\"},", reason, sizeof(reason)),
                     AD_PROTO_REJECT);
    adt_assert_has(reason, "launch.rsh must be oarsh or ssh");
    assert_int_equal(s_hello_launch(a1, "p1", "\"oar:s\"",
                                    "\"launch\":{\"rsh\":\"oarsh\",\"env\":{\"LD_PRELOAD\":"
                                    "\"/tmp/x.so\"}},",
                                    reason, sizeof(reason)),
                     AD_PROTO_REJECT);
    adt_assert_has(reason, "launch.env may hold OAR_JOB_ID or SLURM_JOB_ID");
    assert_int_equal(s_hello_launch(a1, "p1", "\"a b\"", "", reason, sizeof(reason)),
                     AD_PROTO_REJECT);
    adt_assert_has(reason, "pool must be");
    assert_int_equal(s_nodes(), 0);
    /* Reservation 1's agent on p1, then reservation 2's on the same host: replaced. */
    assert_int_equal(s_hello_launch(a1, "p1", "\"oar:s\"",
                                    "\"launch\":{\"rsh\":\"oarsh\",\"env\":{\"OAR_JOB_ID\":\"1\"}},",
                                    NULL, 0),
                     AD_PROTO_WELCOME);
    assert_int_equal(s_hello_launch(a2, "p1", "\"oar:s\"",
                                    "\"launch\":{\"rsh\":\"oarsh\",\"env\":{\"OAR_JOB_ID\":\"2\"}},",
                                    NULL, 0),
                     AD_PROTO_WELCOME);
    assert_int_equal(s_log_count("its reservation ended: an agent of the next one replaces it"), 1);
    /* The same batch job twice is still two agents claiming one name. */
    assert_int_equal(s_hello_launch(a1, "p1", "\"oar:s\"",
                                    "\"launch\":{\"rsh\":\"oarsh\",\"env\":{\"OAR_JOB_ID\":\"2\"}},",
                                    reason, sizeof(reason)),
                     AD_PROTO_REJECT);
    adt_assert_has(reason, "two agents claim the host name p1");
    zsock_destroy(&a1);
    zsock_destroy(&a2);
    s_stop(d);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_many_and_oversized_frames, s_setup),
        cmocka_unit_test_setup(test_hello_flood_max_nodes, s_setup),
        cmocka_unit_test_setup(test_profile_cap_and_history, s_setup),
        cmocka_unit_test_setup(test_no_host_reaches_a_shell, s_setup),
        cmocka_unit_test_setup(test_hello_launch_checked, s_setup),
    };

    return cmocka_run_group_tests(tests, s_group_setup, s_group_teardown);
}
