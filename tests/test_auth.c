/* test_auth.c - CURVE by default: keys, roles, refusals, --insecure, against the real autodistd */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ad_test.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "autodist/ad_keys.h"
#include "autodist/ad_proto.h"

static char s_home[256];   /* the coordinator's home: its keys are the admin's */
static char s_keys[300];   /* s_home/keys */
static char s_ep[3][64];   /* client, agents, metrics */
static char s_log[300];    /* the coordinator's stderr */
static char s_job[300];    /* a job file */
static adt_result_t s_res; /* the last program run */
static pid_t s_daemon;     /* the coordinator a test started last; killed if a test fails */

static pid_t
s_spawn(const char *const *argv, const char *log)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        FILE *f = freopen(log, "w", stderr);

        /* Not ctest's pipe: a coordinator left by a failed test must not hold it open. */
        f = freopen("/dev/null", "w", stdout);
        (void)f;
        unsetenv("AUTODIST_HOME");
        unsetenv("AUTODIST_KEYS");
        unsetenv("AUTODIST_COORDINATOR");
        /* Debug lines show what the metrics socket received. */
        setenv("AUTODIST_LOG", "debug", 1);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* Start autodistd on the test's endpoints with extra (NULL-terminated, may be empty) options. */
static pid_t
s_start_daemon(const char *extra1, const char *extra2)
{
    const char *argv[] = {AD_DAEMON_BIN, "--home", s_home, "--client", s_ep[0], "--agents",
                          s_ep[1], "--metrics", s_ep[2], extra1, extra2, NULL};
    pid_t pid = s_spawn(argv, s_log);

    s_daemon = pid;
    /* Up when the admin's NODES is answered. */
    for (int i = 0; i < 100; i++) {
        json_t *reply = NULL;
        ad_err_t err = {0};

        if (access(s_keys, F_OK) == 0 &&
            ad_proto_request_secure(s_ep[0], extra1 && !strcmp(extra1, "--insecure") ? NULL
                                                                                      : s_keys,
                                    "NODES", NULL, 300, &reply, &err) == 0) {
            json_decref(reply);
            return pid;
        }
        adt_sleep_ms(50);
    }
    fail_msg("autodistd did not answer; its log:\n%s", adt_slurp(s_log, NULL));
    return pid;
}

/* A request as the holder of the client folder keys (NULL: none); the code, *reply set on 0. */
static int
s_req(const char *keys, const char *type, json_t *payload, json_t **reply, ad_err_t *err)
{
    json_t *r = NULL;
    /* 10 s: a refused handshake is told at once; a loaded machine may be slow to tell it. */
    int rc = ad_proto_request_secure(s_ep[0], keys, type, payload, 10000, &r, err);

    if (reply)
        *reply = r;
    else
        json_decref(r);
    return rc;
}

/* A small job (never started here: no agent, so held: PENDING without nodes). */
static json_t *
s_job_json(const char *name)
{
    return json_pack("{s:b s:{s:s s:s s:{s:{s:[i,i,i] s:i s:i}} s:i s:i s:{s:i s:i s:i}}}", "hold",
                     1, "job", "name", name, "model", "mlp", "dataset", "synthetic", "shape", 1, 8,
                     8, "classes", 4, "samples", 256, "steps", 5, "batch_size", 16, "layout",
                     "nodes", 1, "procs_per_node", 1, "threads_per_proc", 1);
}

/* SUBMIT as keys; the new job's id. */
static int64_t
s_submit(const char *keys, const char *name)
{
    ad_err_t err = {0};
    json_t *r = NULL;
    int64_t id;

    if (s_req(keys, "SUBMIT", s_job_json(name), &r, &err))
        fail_msg("SUBMIT as %s: %s", keys, err.msg);
    id = json_integer_value(json_object_get(r, "job"));
    json_decref(r);
    assert_true(id >= 1);
    return id;
}

/* Run autodist with the arguments (NULL-terminated) into s_res; its exit status. */
static int
s_cli(const char *first, ...)
{
    const char *args[ADT_MAX_ARGS];
    va_list ap;
    int n = 0;

    va_start(ap, first);
    for (const char *a = first; a && n < ADT_MAX_ARGS - 1; a = va_arg(ap, const char *))
        args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    return adt_run(&s_res, AD_CLI_BIN, args, adt_root(), 30.0);
}

/* How many lines of the coordinator's log hold text. */
static int
s_log_count(const char *text)
{
    char *log = adt_slurp(s_log, NULL), *p = log;
    int n = 0;

    while ((p = strstr(p, text))) {
        n++;
        p += strlen(text);
    }
    free(log);
    return n;
}

/* A client folder with a key the coordinator never made (server.cert copied: a forger has it). */
static void
s_forge(char *dir, size_t size, const char *tag)
{
    char path[400], *cert;
    ad_err_t err = {0};
    size_t len;

    char home[200];

    /* Keys made the way autodist makes them, elsewhere; the nodes' folder has no server secret. */
    adt_fresh_dir(home, sizeof(home), tag);
    assert_int_equal(ad_keys_init(home, "mallory", &err), 0);
    snprintf(dir, size, "%s/node", home);
    snprintf(path, sizeof(path), "%s/server.cert", s_keys);
    cert = adt_slurp(path, &len);
    adt_write_in(dir, "server.cert", cert, len);
    free(cert);
}

static void
s_shutdown(pid_t d)
{
    assert_int_equal(s_req(s_keys, "SHUTDOWN", NULL, NULL, &(ad_err_t){0}), 0);
    assert_int_equal(adt_wait(d, 5.0), 0);
    s_daemon = 0;
}

static int
s_group_setup(void **st)
{
    const char *root = adt_root_make("ad_test_auth");

    /* The caller's ~/.autodist (its keys) never reaches the programs the tests start. */
    if (root)
        setenv("HOME", root, 1);
    return root ? 0 : -1;
}

static int
s_group_teardown(void **st)
{
    return adt_root_remove();
}

/* A test that failed half-way leaves its coordinator running: stop it. */
static int
s_teardown(void **st)
{
    /* Only a child not reaped yet: s_daemon is reset as soon as a test reaps it. */
    if (s_daemon > 0 && adt_wait(s_daemon, 0) < 0) {
        kill(s_daemon, SIGKILL);
        adt_wait(s_daemon, 5.0);
    }
    s_daemon = 0;
    return 0;
}

static int
s_setup(void **st)
{
    adt_fresh_path(s_home, sizeof(s_home), "home", "");
    snprintf(s_keys, sizeof(s_keys), "%s/keys", s_home);
    snprintf(s_log, sizeof(s_log), "%s.daemon.log", s_home);
    for (int i = 0; i < 3; i++)
        adt_free_endpoint(s_ep[i], sizeof(s_ep[i]));
    adt_fresh_path(s_job, sizeof(s_job), "job", ".yaml");
    adt_write_file(s_job, "name: cli-job\nmodel: mlp\n"
                          "dataset: {synthetic: {shape: [1, 8, 8], classes: 4, samples: 256}}\n"
                          "steps: 5\nbatch_size: 16\n"
                          "layout: {nodes: 1, procs_per_node: 1, threads_per_proc: 1}\n");
    return 0;
}

/* ---- tests ------------------------------------------------------------------------------- */

/*
 * The coordinator makes its keys in the home at the first start, mode 0700 and 0600; a
 * client without keys, or with a key it did not make, is refused at once (no 5 s wait),
 * SUBMIT and SHUTDOWN alike, and told what to do.
 */
static void
test_no_keys_refused(void **st)
{
    char path[400], empty[256], forged[256];
    ad_err_t err = {0};
    struct stat sb;
    double t0;
    pid_t d = s_start_daemon(NULL, NULL);

    assert_int_equal(stat(s_keys, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    snprintf(path, sizeof(path), "%s/node/client.cert_secret", s_keys);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    adt_fresh_dir(empty, sizeof(empty), "empty-home");
    t0 = adt_now();
    assert_int_equal(s_cli("--home", empty, "--coordinator", s_ep[0], "submit", s_job, NULL), 1);
    assert_true(adt_now() - t0 < 3.0);
    adt_assert_has(s_res.err, "requires CURVE keys");
    adt_assert_has(s_res.err, "/keys/client.cert_secret");
    adt_assert_has(s_res.err, "--home");
    assert_int_equal(s_req(NULL, "SHUTDOWN", NULL, NULL, &err), -EACCES);
    assert_int_equal(s_req(NULL, "SUBMIT", s_job_json("plain"), NULL, &err), -EACCES);
    /* Keyless tries are logged by the coordinator, once a minute at most. */
    adt_sleep_ms(200);
    assert_int_equal(s_log_count("a peer failed the CURVE handshake on the client socket"), 1);

    s_forge(forged, sizeof(forged), "forged");
    assert_int_equal(s_cli("--keys", forged, "--coordinator", s_ep[0], "submit", s_job, NULL), 1);
    adt_assert_has(s_res.err, "unknown or revoked");
    assert_int_equal(s_req(forged, "SHUTDOWN", NULL, NULL, &err), -EACCES);
    assert_int_equal(s_req(forged, "SUBMIT", s_job_json("forged"), NULL, &err), -EACCES);
    /* Nothing got in: no job, and the coordinator still runs for its admin. */
    assert_int_equal(s_cli("--home", s_home, "--coordinator", s_ep[0], "jobs", "--json", NULL),
                     0);
    adt_assert_has(s_res.out, "\"jobs\": []");
    s_shutdown(d);
}

/* A HELLO without the node key never makes a node: NODES stays empty, a job stays PENDING. */
static void
test_forged_hello(void **st)
{
    const char *who[3] = {NULL, NULL, NULL};
    char forged[256], alice[400], *text;
    ad_err_t err = {0};
    json_t *r = NULL;
    int64_t id;
    pid_t d = s_start_daemon(NULL, NULL);

    s_forge(forged, sizeof(forged), "forged-node");
    assert_int_equal(ad_keys_add_user(s_keys, "alice", &err), 0);
    snprintf(alice, sizeof(alice), "%s/users/alice", s_keys);
    who[1] = forged;
    who[2] = alice;
    for (int i = 0; i < 3; i++) {
        zsock_t *dealer = ad_proto_connect(ZMQ_DEALER, s_ep[1], who[i], &err);
        json_t *hello = json_pack("{s:i s:s s:s s:i s:{s:s s:{s:i}}}", "protocol",
                                  AD_PROTO_VERSION, "hostname", "fake", "version", "test", "pid",
                                  (int)getpid(), "profile", "fingerprint", "fake-class", "cpu",
                                  "cores", 1048576);
        ad_proto_msg_t msg = {0};

        assert_non_null(dealer);
        /* The send may be refused outright (no connection ever completes): that is fine too. */
        ad_proto_send(dealer, NULL, "HELLO", hello, &err);
        assert_int_equal(ad_proto_recv(dealer, 1500, &msg, &err), -ETIMEDOUT);
        zsock_destroy(&dealer);
    }
    assert_int_equal(s_req(s_keys, "NODES", NULL, &r, &err), 0);
    assert_int_equal(json_array_size(json_object_get(r, "nodes")), 0);
    json_decref(r);
    id = s_submit(s_keys, "bait");
    adt_sleep_ms(500);
    assert_int_equal(s_req(s_keys, "STATUS", json_pack("{s:I}", "job", (json_int_t)id), &r, &err),
                     0);
    text = json_dumps(r, JSON_COMPACT);
    adt_assert_has(text, "\"state\":\"PENDING\"");
    free(text);
    json_decref(r);
    /* The refusals are in the log, and a user's key is not a node's. */
    assert_true(s_log_count("refused a connection") >= 2);
    assert_int_equal(s_log_count("is UP"), 0);
    s_shutdown(d);
}

/*
 * Users submit and cancel their own jobs; cancelling another's, SHUTDOWN and cancelling a
 * sweep need the admin key; a user has at most --max-queued-per-user PENDING jobs.
 */
static void
test_roles(void **st)
{
    char alice[400], bob[400];
    ad_err_t err = {0};
    int64_t a1, a2, a4, b1;
    pid_t d = s_start_daemon("--max-queued-per-user", "2");
    char id_s[32];

    assert_int_equal(s_cli("--home", s_home, "keys", "add-user", "alice", NULL), 0);
    adt_assert_has(s_res.out, "users/alice");
    assert_int_equal(s_cli("--home", s_home, "keys", "add-user", "bob", NULL), 0);
    snprintf(alice, sizeof(alice), "%s/users/alice", s_keys);
    snprintf(bob, sizeof(bob), "%s/users/bob", s_keys);

    a1 = s_submit(alice, "a1");
    a2 = s_submit(alice, "a2");
    /* The third PENDING job of alice is over the cap; bob has his own. */
    assert_int_equal(s_req(alice, "SUBMIT", s_job_json("a3"), NULL, &err), -EDQUOT);
    adt_assert_has(err.msg, "alice has 2 jobs PENDING");
    adt_assert_has(err.msg, "--max-queued-per-user 2");
    b1 = s_submit(bob, "b1");

    /* bob cannot cancel alice's job, nor stop the coordinator. */
    snprintf(id_s, sizeof(id_s), "%lld", (long long)a1);
    assert_int_equal(s_cli("--keys", bob, "--coordinator", s_ep[0], "cancel", id_s, NULL), 1);
    adt_assert_has(s_res.err, "permission denied: job");
    adt_assert_has(s_res.err, "belongs to alice; you are user bob");
    assert_int_equal(s_req(bob, "SHUTDOWN", NULL, NULL, &err), -EACCES);
    adt_assert_has(err.msg, "permission denied: SHUTDOWN needs the admin key; you are user bob");
    /* A sweep of alice's: its jobs are hers; bob cannot cancel it, nor one of its jobs. */
    {
        char sweep[300];
        json_t *r = NULL, *j;
        size_t i;
        int64_t sj = 0;

        adt_fresh_path(sweep, sizeof(sweep), "sweep", ".yaml");
        adt_write_file(sweep, "name: mine\n"
                              "base: {model: mlp, dataset: synthetic, steps: 5, batch_size: 8,\n"
                              "       layout: {nodes: 1, procs_per_node: 1, threads_per_proc: 1}}\n"
                              "grid: {seed: [1, 2, 3]}\n");
        assert_int_equal(s_cli("--keys", alice, "--coordinator", s_ep[0], "sweep", sweep,
                               "--no-wait", "--hold", "--max-parallel", "1", NULL),
                         0);
        assert_int_equal(s_req(s_keys, "JOBS", NULL, &r, &err), 0);
        json_array_foreach(json_object_get(r, "jobs"), i,
                           j) if (!strncmp(json_string_value(json_object_get(j, "name")), "mine-",
                                           5)) sj = json_integer_value(json_object_get(j, "id"));
        json_decref(r);
        assert_true(sj > 0);
        assert_int_equal(
            s_req(bob, "CANCEL", json_pack("{s:I}", "job", (json_int_t)sj), NULL, &err), -EACCES);
        adt_assert_has(err.msg, "belongs to alice");
        assert_int_equal(s_req(bob, "SWEEP_CANCEL", json_pack("{s:s}", "name", "mine"), NULL, &err),
                         -EACCES);
        adt_assert_has(err.msg, "permission denied: SWEEP_CANCEL of what belongs to alice");
        assert_int_equal(
            s_req(alice, "SWEEP_CANCEL", json_pack("{s:s}", "name", "mine"), NULL, &err), 0);
    }
    assert_int_equal(s_cli("--keys", alice, "--coordinator", s_ep[0], "down", NULL), 1);
    adt_assert_has(s_res.err, "SHUTDOWN needs the admin key; you are user alice");

    /* alice cancels her own; the admin cancels bob's. */
    assert_int_equal(s_cli("--keys", alice, "--coordinator", s_ep[0], "cancel", id_s, NULL), 0);
    assert_int_equal(s_req(alice, "CANCEL", json_pack("{s:I}", "job", (json_int_t)a2), NULL, &err),
                     0);
    assert_int_equal(s_req(s_keys, "CANCEL", json_pack("{s:I}", "job", (json_int_t)b1), NULL,
                           &err),
                     0);
    /* With room under the cap again, alice submits. */
    a4 = s_submit(alice, "a4");
    /* The owner is in the store, so it survives a restart of the coordinator. */
    s_shutdown(d);
    d = s_start_daemon(NULL, NULL);
    assert_int_equal(s_req(bob, "CANCEL", json_pack("{s:I}", "job", (json_int_t)a4), NULL, &err),
                     -EACCES);
    adt_assert_has(err.msg, "belongs to alice");
    s_shutdown(d);
}

/* --insecure: loopback endpoints only, a warning at start; then plain clients are admin. */
static void
test_insecure(void **st)
{
    const char *wild[] = {AD_DAEMON_BIN, "--home", s_home, "--client", "tcp://0.0.0.0:7999",
                          "--insecure", NULL};
    json_t *r = NULL;
    pid_t d;

    d = s_spawn(wild, s_log);
    assert_int_equal(adt_wait(d, 10.0), 2);
    assert_int_equal(s_log_count("--insecure is for loopback endpoints only, and --client is "
                                 "tcp://0.0.0.0:7999"),
                     1);
    assert_int_equal(s_cli("--home", s_home, "up", "--insecure", "--agent-endpoint",
                           "tcp://10.0.0.1:7401", NULL),
                     2);
    adt_assert_has(s_res.err, "--insecure is for loopback endpoints only");

    d = s_start_daemon("--insecure", NULL);
    assert_int_equal(s_log_count("anyone on this machine can connect"), 1);
    assert_int_equal(s_req(NULL, "NODES", NULL, &r, &(ad_err_t){0}), 0);
    json_decref(r);
    assert_int_equal(s_req(NULL, "SHUTDOWN", NULL, NULL, &(ad_err_t){0}), 0);
    assert_int_equal(adt_wait(d, 5.0), 0);
    s_daemon = 0;
}

/* Many tries of one unknown key: one log line, and the coordinator keeps answering. */
static void
test_unknown_key_logged_once(void **st)
{
    char forged[256];
    ad_err_t err = {0};
    pid_t d = s_start_daemon(NULL, NULL);

    s_forge(forged, sizeof(forged), "forged-many");
    for (int i = 0; i < 20; i++) {
        int rc = s_req(forged, "NODES", NULL, NULL, &err);

        if (rc != -EACCES)
            fail_msg("try %d: rc %d (%s), expected -EACCES; the coordinator's log:\n%s", i, rc,
                     err.msg, adt_slurp(s_log, NULL));
    }
    assert_int_equal(s_log_count("refused a connection"), 1);
    assert_int_equal(s_log_count("unknown key"), 1);
    assert_int_equal(s_req(s_keys, "NODES", NULL, NULL, &err), 0);
    s_shutdown(d);
}

/*
 * `autodist keys` end to end: a user added while the coordinator runs is admitted at
 * once; revoked, their copy of the key is refused at the next connection (the ZAP
 * handler reads the folder again when it changed: no restart, no signal).
 */
static void
test_keys_command(void **st)
{
    char carol[400], copy[400], cmd[2048];
    pid_t d = s_start_daemon(NULL, NULL);

    assert_int_equal(s_cli("keys", "add-user", "--help", NULL), 0);
    adt_assert_has(s_res.out, "usage: autodist keys add-user NAME");
    assert_int_equal(s_cli("keys", "--help", NULL), 0);
    adt_assert_has(s_res.out, "autodist keys rotate");
    assert_int_equal(s_cli("--home", s_home, "keys", "add-user", "no/pe", NULL), 2);
    adt_assert_has(s_res.err, "bad user name");
    assert_int_equal(s_cli("--home", s_home, "keys", "revoke", "nobody", NULL), 1);
    adt_assert_has(s_res.err, "no user nobody");
    assert_int_equal(s_cli("--home", s_home, "keys", "frob", NULL), 2);

    assert_int_equal(s_cli("--home", s_home, "keys", "add-user", "carol", NULL), 0);
    assert_int_equal(s_cli("--home", s_home, "keys", "add-user", "carol", NULL), 1);
    adt_assert_has(s_res.err, "user carol has keys already");
    assert_int_equal(s_cli("--home", s_home, "--json", "keys", "list", NULL), 0);
    adt_assert_has(s_res.out, "\"role\": \"admin\"");
    adt_assert_has(s_res.out, "\"role\": \"node\"");
    adt_assert_has(s_res.out, "\"name\": \"carol\"");
    snprintf(carol, sizeof(carol), "%s/users/carol", s_keys);
    assert_int_equal(s_cli("--keys", carol, "--coordinator", s_ep[0], "nodes", NULL), 0);

    adt_fresh_path(copy, sizeof(copy), "carol-copy", "");
    snprintf(cmd, sizeof(cmd), "cp -r %s %s", carol, copy);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(s_cli("--home", s_home, "keys", "revoke", "carol", NULL), 0);
    adt_assert_has(s_res.out, "revoked user carol");
    assert_int_equal(s_cli("--keys", copy, "--coordinator", s_ep[0], "nodes", NULL), 1);
    adt_assert_has(s_res.err, "unknown or revoked");

    /* A new server key: the home (rotated) works after a restart; a copy made before the
     * rotation holds the old server.cert and is refused until it gets the new one. */
    adt_fresh_dir(copy, sizeof(copy), "admin-copy");
    snprintf(cmd, sizeof(cmd), "cp %s/client.cert %s/client.cert_secret %s/server.cert %s",
             s_keys, s_keys, s_keys, copy);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(s_cli("--home", s_home, "keys", "rotate", NULL), 0);
    adt_assert_has(s_res.out, "restart the coordinator");
    /* The running coordinator still has the old key: the home's new server.cert does not
     * match it, so it is stopped by its pid, as `autodist down` does. */
    kill(d, SIGTERM);
    assert_int_equal(adt_wait(d, 5.0), 0);
    s_daemon = 0;
    d = s_start_daemon(NULL, NULL);
    assert_int_equal(s_cli("--home", s_home, "--coordinator", s_ep[0], "nodes", NULL), 0);
    assert_int_equal(s_cli("--keys", copy, "--coordinator", s_ep[0], "nodes", NULL), 1);
    adt_assert_has(s_res.err, "server.cert is not its key");
    s_shutdown(d);
}

/* METRIC goes in with the node key only (rank 0 sends it with $AUTODIST_KEYS). */
static void
test_metric_needs_node_key(void **st)
{
    const char *who[3];
    char node[400], alice[400];
    ad_err_t err = {0};
    pid_t d = s_start_daemon(NULL, NULL);

    assert_int_equal(ad_keys_add_user(s_keys, "alice", &err), 0);
    snprintf(node, sizeof(node), "%s/node", s_keys);
    snprintf(alice, sizeof(alice), "%s/users/alice", s_keys);
    who[0] = NULL;
    who[1] = alice;
    who[2] = node;
    for (int i = 0; i < 3; i++) {
        zsock_t *push = ad_proto_connect(ZMQ_PUSH, s_ep[2], who[i], &err);
        json_t *ev = json_pack("{s:i s:s s:i}", "job", 900 + i, "event", "step", "step", 1);

        assert_non_null(push);
        adt_sleep_ms(300);
        ad_proto_send(push, NULL, "METRIC", ev, &err);
        adt_sleep_ms(300);
        zsock_set_linger(push, 0);
        zsock_destroy(&push);
    }
    adt_sleep_ms(200);
    /* Only the node key's event reached the coordinator (it runs no job 902: ignored). */
    assert_int_equal(s_log_count("METRIC of job 902"), 1);
    assert_int_equal(s_log_count("METRIC of job 900"), 0);
    assert_int_equal(s_log_count("METRIC of job 901"), 0);
    assert_int_equal(s_log_count("agents/metrics socket"), 1);
    s_shutdown(d);
}

/* An agent without node keys says which file is missing and exits, before any benchmark. */
static void
test_agent_without_keys(void **st)
{
    char empty[256];
    const char *args[] = {"--home", empty, "--coordinator", s_ep[1], "--no-bench", NULL};

    adt_fresh_dir(empty, sizeof(empty), "agent-home");
    assert_int_equal(adt_run(&s_res, AD_AGENT_BIN, args, adt_root(), 20.0), 1);
    adt_assert_has(s_res.err, "no CURVE key at ");
    adt_assert_has(s_res.err, "/keys/node/client.cert_secret");
    adt_assert_has(s_res.err, "--keys DIR");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_no_keys_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_forged_hello, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_roles, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_insecure, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_key_logged_once, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_keys_command, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_metric_needs_node_key, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_agent_without_keys, s_setup, s_teardown),
    };

    return cmocka_run_group_tests(tests, s_group_setup, s_group_teardown);
}
