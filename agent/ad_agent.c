/* ad_agent.c - autodist-agent: profile the node, HELLO the coordinator, heartbeat, reconnect */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <czmq.h>
#include <jansson.h>

#include "autodist/ad_bench.h"
#include "autodist/ad_error.h"
#include "autodist/ad_home.h"
#include "autodist/ad_hwloc.h"
#include "autodist/ad_keys.h"
#include "autodist/ad_load.h"
#include "autodist/ad_log.h"
#include "autodist/ad_opt.h"
#include "autodist/ad_profile.h"
#include "autodist/ad_proto.h"
#include "autodist/ad_version.h"

/* A HELLO with no WELCOME or REJECT this long after it counts as unanswered (docs/protocol.md). */
#define S_HELLO_TIMEOUT_MS (AD_PROTO_HEARTBEAT_MISSES * AD_PROTO_HEARTBEAT_MS)
/* BYE must not hold up a stop: a coordinator that cannot take it this fast misses it. */
#define S_BYE_TIMEOUT_MS 200
/* Exit statuses (docs/agent.md). */
#define S_EXIT_OK 0
#define S_EXIT_FAIL 1
#define S_EXIT_USAGE 2

/* Command line. */
typedef struct opts {
    bool profile;         /* --profile: print the profile and exit */
    bool json;            /* --json: print it as JSON */
    bool force_bench;     /* --force-bench: ignore the benchmark cache */
    bool no_bench;        /* --no-bench: no benchmark figures at all */
    const char *endpoint; /* --coordinator */
    const char *name;     /* --name; NULL: the host name */
    const char *address;  /* --address; NULL: the name */
    const char *home;     /* --home; NULL: $AUTODIST_HOME or ~/.autodist */
    const char *keys;     /* --keys; NULL: $AUTODIST_KEYS, else HOME/keys/node */
    bool insecure;        /* --insecure: no CURVE (a loopback coordinator only) */
    int heartbeat_ms;     /* --heartbeat-ms; 0: the coordinator's */
    const char *pool;     /* --pool: the reservation this node belongs to, or NULL */
    const char *rsh;      /* --rsh: how mpirun reaches this node (oarsh, ssh), or NULL */
    const char *rsh_env[AD_PROTO_RSH_ENV_MAX + 1]; /* --rsh-env KEY=VALUE, NULL-terminated */
    int n_rsh_env;        /* entries in rsh_env */
    bool detach;          /* --detach: run in the background once registered */
    const char *log;      /* --log: the detached agent's log; NULL: HOME/logs/agent-NAME.log */
} opts_t;

/* Where the agent stands with the coordinator. */
typedef enum {
    S_WAIT,    /* no session; a timer (or a new connection) brings the next HELLO */
    S_HELLO,   /* HELLO sent, waiting for WELCOME or REJECT */
    S_SESSION, /* welcomed: heartbeating */
} state_t;

/* The running agent; one thread owns it. */
typedef struct agent {
    const opts_t *opts;          /* command line (borrowed) */
    const char *name;            /* hostname sent in HELLO (borrowed) */
    const ad_profile_t *profile; /* this node's profile (borrowed) */
    zsock_t *sock;               /* DEALER to the coordinator */
    zactor_t *monitor;           /* zmonitor of sock: CONNECTED, DISCONNECTED, handshakes */
    char *keys;                  /* the client folder in use (owned); NULL with --insecure */
    bool refusal_logged;         /* a refused handshake was logged since the last success */
    zloop_t *loop;               /* timers and readers */
    int sigfd;                   /* signalfd of SIGTERM and SIGINT */
    state_t state;               /* see state_t */
    bool connected;              /* the DEALER has a live connection, as far as we know */
    bool wake_on_connect;        /* in S_WAIT: a new connection sends HELLO at once */
    int timer;                   /* HELLO timeout or retry timer; -1 when none */
    int hb_timer;                /* heartbeat timer; -1 when none */
    int backoff_ms;              /* next retry delay: 1 s doubling to 32 s, reset by WELCOME */
    int heartbeat_ms;            /* period of the current session */
    int64_t node;                /* node id given by WELCOME */
    int64_t seq;                 /* last heartbeat sequence number of the session */
    int64_t session_at;          /* zclock_mono() at WELCOME */
    ad_cpu_times_t cpu_prev;     /* CPU counters at the previous heartbeat */
    ad_load_jobs_t jobs;         /* autodist jobs' processes at the previous heartbeat */
    bool load_warned;            /* a load sampling failure was logged already */
    int stop_signal;             /* the signal that stops us; 0 while running */
    int exit_code;               /* set when the agent must exit; -1 while running */
} agent_t;

static void
s_usage(FILE *fp)
{
    fprintf(
        fp,
        "usage: autodist-agent [options]\n"
        "       autodist-agent --profile [--json] [--force-bench | --no-bench] [--home DIR]\n"
        "\n"
        "Profile this node (hwloc topology, micro-benchmarks cached per hardware class),\n"
        "register with the coordinator (HELLO) and send a heartbeat with CPU and memory\n"
        "load every second; reconnect with backoff (1 s doubling to 32 s) when it goes.\n"
        "\n"
        "options:\n"
        "  --coordinator ENDPOINT  the coordinator's agent socket (default %s)\n"
        "  --name NAME             node name sent in HELLO (default: the host name);\n"
        "                          several simulated agents on one machine need distinct names\n"
        "  --address HOST          what mpirun reaches this node by: a host name or an IP\n"
        "                          address (default: the node name); 127.0.0.K for simulated\n"
        "                          nodes on one machine\n"
        "  --home DIR              autodist home (default $%s or ~/%s); benchmark\n"
        "                          figures are cached in DIR/%s\n"
        "  --keys DIR              this node's CURVE keys: a copy of the coordinator's\n"
        "                          HOME/keys/node (default $%s, else DIR/keys/node of --home)\n"
        "  --insecure              no keys, for a coordinator on this machine started with\n"
        "                          --insecure (loopback endpoints only)\n"
        "  --heartbeat-ms N        heartbeat period, 100..60000 (default: the coordinator's)\n"
        "  --pool NAME             the reservation this node belongs to: it runs only that\n"
        "                          reservation's jobs (autodist starts such agents itself)\n"
        "  --rsh PROG              how mpirun reaches this node: oarsh or ssh\n"
        "  --rsh-env KEY=VALUE     what --rsh needs in its environment (OAR_JOB_ID=N,\n"
        "                          SLURM_JOB_ID=N); repeatable\n"
        "  --detach                go to the background once the node is profiled; the exit\n"
        "                          status says whether it started (errors on stderr)\n"
        "  --log FILE              with --detach: where the log goes\n"
        "                          (default HOME/logs/agent-NAME.log)\n"
        "  --no-bench              no micro-benchmarks: send the topology only\n"
        "  --force-bench           run the benchmarks even when cached figures exist\n"
        "  --profile               print this node's profile as YAML and exit\n"
        "  --json                  with --profile: print it as JSON\n"
        "  --help, --version\n"
        "\n"
        "Exit status: 0 stopped by SIGTERM/SIGINT (after BYE) or --profile done,\n"
        "1 failure or refused by the coordinator for good, 2 bad command line.\n",
        AD_PROTO_AGENT_ENDPOINT, AD_HOME_ENV, AD_HOME_DEFAULT_NAME, AD_BENCH_CACHE_DIR,
        AD_KEYS_ENV);
}

enum {
    OPT_PROFILE = 256,
    OPT_JSON,
    OPT_FORCE_BENCH,
    OPT_NO_BENCH,
    OPT_COORDINATOR,
    OPT_NAME,
    OPT_ADDRESS,
    OPT_HOME,
    OPT_HEARTBEAT,
    OPT_KEYS,
    OPT_INSECURE,
    OPT_POOL,
    OPT_RSH,
    OPT_RSH_ENV,
    OPT_DETACH,
    OPT_LOG,
    OPT_HELP,
    OPT_VERSION,
};

static const struct option s_long[] = {
    {"profile", no_argument, NULL, OPT_PROFILE},
    {"json", no_argument, NULL, OPT_JSON},
    {"force-bench", no_argument, NULL, OPT_FORCE_BENCH},
    {"no-bench", no_argument, NULL, OPT_NO_BENCH},
    {"coordinator", required_argument, NULL, OPT_COORDINATOR},
    {"name", required_argument, NULL, OPT_NAME},
    {"address", required_argument, NULL, OPT_ADDRESS},
    {"home", required_argument, NULL, OPT_HOME},
    {"heartbeat-ms", required_argument, NULL, OPT_HEARTBEAT},
    {"keys", required_argument, NULL, OPT_KEYS},
    {"insecure", no_argument, NULL, OPT_INSECURE},
    {"pool", required_argument, NULL, OPT_POOL},
    {"rsh", required_argument, NULL, OPT_RSH},
    {"rsh-env", required_argument, NULL, OPT_RSH_ENV},
    {"detach", no_argument, NULL, OPT_DETACH},
    {"log", required_argument, NULL, OPT_LOG},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

/* --pool, --rsh, --rsh-env: checked as the coordinator will check them in HELLO. */
static int
s_parse_launch(int c, const char *arg, opts_t *o, ad_err_t *err)
{
    if (c == OPT_POOL) {
        if (!ad_proto_pool_ok(arg))
            return ad_err_set(err, AD_EINVAL,
                              "--pool must be 1..%d letters, digits and ._:-, got \"%s\"",
                              AD_PROTO_POOL_MAX, arg);
        o->pool = arg;
    } else if (c == OPT_RSH) {
        if (!ad_proto_rsh_ok(arg))
            return ad_err_set(err, AD_EINVAL, "--rsh must be oarsh or ssh, got \"%s\"", arg);
        o->rsh = arg;
    } else {
        if (!ad_proto_rsh_env_ok(arg))
            return ad_err_set(err, AD_EINVAL,
                              "--rsh-env must be OAR_JOB_ID=N or SLURM_JOB_ID=N, got \"%s\"",
                              arg);
        if (o->n_rsh_env == AD_PROTO_RSH_ENV_MAX)
            return ad_err_set(err, AD_EINVAL, "at most %d --rsh-env", AD_PROTO_RSH_ENV_MAX);
        o->rsh_env[o->n_rsh_env++] = arg;
    }
    return 0;
}

/* Parse argv into o.  Returns 0, 1 for --help/--version (already printed), or AD_EINVAL. */
static int
s_parse(int argc, char **argv, opts_t *o, ad_err_t *err)
{
    int64_t v;
    int c;

    memset(o, 0, sizeof(*o));
    o->endpoint = AD_PROTO_AGENT_ENDPOINT;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", s_long, NULL)) != -1) {
        switch (c) {
        case OPT_PROFILE:
            o->profile = true;
            break;
        case OPT_JSON:
            o->json = true;
            break;
        case OPT_FORCE_BENCH:
            o->force_bench = true;
            break;
        case OPT_NO_BENCH:
            o->no_bench = true;
            break;
        case OPT_COORDINATOR:
            o->endpoint = optarg;
            break;
        case OPT_NAME:
        case OPT_ADDRESS:
            /* The coordinator refuses anything else in HELLO: say so now, not never. */
            if (!ad_proto_is_host(optarg))
                return ad_err_set(err, AD_EINVAL,
                                  "%s must be a host name or an IP address, got \"%s\"",
                                  c == OPT_NAME ? "--name" : "--address", optarg);
            if (c == OPT_NAME)
                o->name = optarg;
            else
                o->address = optarg;
            break;
        case OPT_HOME:
            o->home = optarg;
            break;
        case OPT_KEYS:
            o->keys = optarg;
            break;
        case OPT_INSECURE:
            o->insecure = true;
            break;
        case OPT_POOL:
        case OPT_RSH:
        case OPT_RSH_ENV:
            if (s_parse_launch(c, optarg, o, err))
                return err->code;
            break;
        case OPT_DETACH:
            o->detach = true;
            break;
        case OPT_LOG:
            o->log = optarg;
            break;
        case OPT_HEARTBEAT:
            if (ad_opt_int("--heartbeat-ms", optarg, 100, 60000, 0, &v, err))
                return err->code;
            o->heartbeat_ms = (int)v;
            break;
        case 'h':
        case OPT_HELP:
            s_usage(stdout);
            return 1;
        case OPT_VERSION:
            printf("autodist-agent %s (protocol %d)\n", AD_VERSION, AD_PROTO_VERSION);
            return 1;
        default:
            return ad_opt_getopt_error(s_long, OPT_PROFILE, argv, err);
        }
    }
    if (optind < argc)
        return ad_err_set(err, AD_EINVAL, "unexpected argument \"%s\" (try --help)", argv[optind]);
    if (o->force_bench && o->no_bench)
        return ad_err_set(err, AD_EINVAL, "--force-bench and --no-bench exclude each other");
    if (o->json && !o->profile)
        return ad_err_set(err, AD_EINVAL, "--json goes with --profile");
    if (o->insecure && o->keys)
        return ad_err_set(err, AD_EINVAL, "--insecure and --keys exclude each other");
    if (o->n_rsh_env && !o->rsh)
        return ad_err_set(err, AD_EINVAL, "--rsh-env goes with --rsh");
    if (o->log && !o->detach)
        return ad_err_set(err, AD_EINVAL, "--log goes with --detach");
    if (o->detach && o->profile)
        return ad_err_set(err, AD_EINVAL, "--detach and --profile exclude each other");
    if (o->insecure && !ad_keys_is_loopback(o->endpoint))
        return ad_err_set(err, AD_EINVAL,
                          "--insecure is for a coordinator on this machine only, and %s is not "
                          "loopback: give this node the keys (--keys DIR, docs/security.md)",
                          o->endpoint);
    return 0;
}

/*
 * --detach: fork at once (still one thread).  The parent copies the child's
 * stderr to its own until the child says it is ready (profiled, about to
 * connect) or dies, and exits 0 or 1 accordingly: whoever started the agent
 * (autodist over oarsh) sees why it could not start.  Returns in the child
 * with *ready_fd, the pipe s_detach_ready() writes to.
 */
static void
s_detach(int *ready_fd)
{
    int errp[2], okp[2];
    char buf[4096], ok = 0;
    ssize_t n;
    pid_t pid;

    if (pipe2(errp, O_CLOEXEC) || pipe2(okp, O_CLOEXEC)) {
        ad_log(AD_LOG_ERROR, "--detach: pipe: %s", strerror(errno));
        exit(S_EXIT_FAIL);
    }
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        ad_log(AD_LOG_ERROR, "--detach: fork: %s", strerror(errno));
        exit(S_EXIT_FAIL);
    }
    if (pid > 0) {
        close(errp[1]);
        close(okp[1]);
        while ((n = read(errp[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
            if (n > 0 && write(STDERR_FILENO, buf, (size_t)n) < 0)
                break;
        while ((n = read(okp[0], &ok, 1)) < 0 && errno == EINTR)
            ;
        _exit(n == 1 && ok == '1' ? S_EXIT_OK : S_EXIT_FAIL);
    }
    close(errp[0]);
    close(okp[0]);
    setsid();
    dup2(errp[1], STDERR_FILENO);
    close(errp[1]);
    *ready_fd = okp[1];
}

/*
 * The detached agent is ready: its output goes to the log from now on, and
 * the waiting parent exits 0.  Returns 0, or S_EXIT_FAIL when the log cannot
 * be opened (said on stderr, which the parent still shows).
 */
static int
s_detach_ready(const opts_t *o, const char *name, int ready_fd)
{
    ad_home_t home = {0};
    ad_err_t err = {0};
    char *path = NULL;
    int fd, null_fd;

    if (o->log) {
        path = ad_strdup(o->log);
    } else {
        if (ad_home_resolve(o->home, &home, &err) || ad_home_ensure(&home, &err)) {
            ad_log(AD_LOG_ERROR, "--detach: %s", err.msg);
            ad_home_clear(&home);
            return S_EXIT_FAIL;
        }
        path = ad_malloc(strlen(home.logs) + strlen(name) + sizeof("/agent-.log"));
        sprintf(path, "%s/agent-%s.log", home.logs, name);
        ad_home_clear(&home);
    }
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        ad_log(AD_LOG_ERROR, "--detach: cannot open the log %s: %s", path, strerror(errno));
        free(path);
        return S_EXIT_FAIL;
    }
    null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd >= 0) {
        dup2(null_fd, STDIN_FILENO);
        close(null_fd);
    }
    ad_log(AD_LOG_INFO, "node %s: running in the background, log in %s", name, path);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
    free(path);
    ad_log(AD_LOG_INFO, "node %s: detached (pid %d), connecting to %s", name, (int)getpid(),
           o->endpoint);
    if (write(ready_fd, "1", 1) != 1)
        return S_EXIT_FAIL;
    close(ready_fd);
    return 0;
}

/*
 * The client folder this node uses: --keys, else $AUTODIST_KEYS, else
 * HOME/keys/node.  Returns 0 with *out (owned), or -ENOENT with err naming
 * the missing file and what to do.
 */
static int
s_find_keys(const opts_t *o, char **out, ad_err_t *err)
{
    const char *env = getenv(AD_KEYS_ENV);
    ad_home_t home = {0};
    ad_err_t e = {0};
    char *dir;
    int rc;

    *out = NULL;
    if (o->keys) {
        dir = ad_strdup(o->keys);
    } else if (env && *env && strcmp(env, AD_KEYS_NONE)) {
        dir = ad_strdup(env);
    } else {
        rc = ad_home_resolve(o->home, &home, err);
        if (rc)
            return rc;
        dir = ad_malloc(strlen(home.keys) + sizeof("/node"));
        sprintf(dir, "%s/node", home.keys);
        ad_home_clear(&home);
    }
    if (ad_keys_check_client(dir, &e)) {
        rc = ad_err_set(err, -ENOENT,
                        "%s: copy the coordinator's HOME/keys/node folder to this node and give "
                        "--keys DIR (or $%s), or --home; --insecure only for an --insecure "
                        "coordinator on this machine",
                        e.msg, AD_KEYS_ENV);
        free(dir);
        return rc;
    }
    *out = dir;
    return 0;
}

/* Detect this node and give it benchmark figures as the options say. */
static int
s_build_profile(const opts_t *o, ad_profile_t **out, ad_err_t *err)
{
    ad_profile_t *p = NULL;
    ad_home_t home = {0};
    char *cache_dir;
    int rc;

    rc = ad_hwloc_detect(&p, err);
    if (rc)
        return rc;
    if (!o->no_bench) {
        rc = ad_home_resolve(o->home, &home, err);
        if (rc)
            goto err_free_profile;
        cache_dir = ad_malloc(strlen(home.root) + sizeof(AD_BENCH_CACHE_DIR) + 2);
        sprintf(cache_dir, "%s/%s", home.root, AD_BENCH_CACHE_DIR);
        rc = ad_bench_profile(p, o->force_bench, cache_dir, err);
        free(cache_dir);
        ad_home_clear(&home);
        if (rc)
            goto err_free_profile;
    }
    *out = p;
    return 0;
err_free_profile:
    ad_profile_free(&p);
    return rc;
}

/* --profile: the profile on stdout. */
static int
s_print_profile(const opts_t *o)
{
    ad_profile_t *p = NULL;
    ad_err_t err = {0};
    char *text;

    if (s_build_profile(o, &p, &err)) {
        ad_log(AD_LOG_ERROR, "%s", err.msg);
        return S_EXIT_FAIL;
    }
    if (o->json) {
        json_t *j = ad_profile_to_json(p);

        /* 15 digits print the figures as written (130.23, not 130.22999999999999). */
        text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
        json_decref(j);
        if (!text)
            ad_oom(0);
        printf("%s\n", text);
    } else {
        text = ad_profile_to_yaml(p);
        fputs(text, stdout);
    }
    free(text);
    ad_profile_free(&p);
    if (fflush(stdout) == EOF) {
        ad_log(AD_LOG_ERROR, "cannot write the profile: %s", strerror(errno));
        return S_EXIT_FAIL;
    }
    return S_EXIT_OK;
}

/* ---- the agent loop ------------------------------------------------------------------- */

static int s_on_hello_due(zloop_t *loop, int timer_id, void *arg);
static int s_on_hello_timeout(zloop_t *loop, int timer_id, void *arg);

static void
s_cancel_timer(agent_t *self)
{
    if (self->timer >= 0)
        zloop_timer_end(self->loop, self->timer);
    self->timer = -1;
}

static void
s_end_session(agent_t *self)
{
    if (self->hb_timer >= 0)
        zloop_timer_end(self->loop, self->hb_timer);
    self->hb_timer = -1;
}

/* No session: send HELLO after delay_ms (sooner on a new connection when wake is set). */
static void
s_hello_after(agent_t *self, int delay_ms, bool wake)
{
    s_cancel_timer(self);
    s_end_session(self);
    self->state = S_WAIT;
    self->wake_on_connect = wake;
    self->timer = zloop_timer(self->loop, (size_t)delay_ms, 1, s_on_hello_due, self);
}

/* A HELLO went unanswered or could not go: wait the backoff, then double it. */
static void
s_backoff(agent_t *self)
{
    ad_log(AD_LOG_INFO, "reconnecting in %d s", self->backoff_ms / 1000);
    s_hello_after(self, self->backoff_ms, true);
    self->backoff_ms *= 2;
    if (self->backoff_ms > AD_PROTO_RECONNECT_MAX_MS)
        self->backoff_ms = AD_PROTO_RECONNECT_MAX_MS;
}

/* HELLO's pool and launch: the reservation this node belongs to and how mpirun reaches it. */
static void
s_hello_launch(const opts_t *o, json_t *hello)
{
    json_t *launch, *env;

    if (o->pool)
        json_object_set_new(hello, "pool", json_string(o->pool));
    if (!o->rsh)
        return;
    launch = json_pack("{s:s}", "rsh", o->rsh);
    env = json_object();
    for (int i = 0; i < o->n_rsh_env; i++) {
        const char *eq = strchr(o->rsh_env[i], '=');
        char key[64];

        snprintf(key, sizeof(key), "%.*s", (int)(eq - o->rsh_env[i]), o->rsh_env[i]);
        json_object_set_new(env, key, json_string(eq + 1));
    }
    json_object_set_new(launch, "env", env);
    json_object_set_new(hello, "launch", launch);
}

static void
s_send_hello(agent_t *self)
{
    ad_err_t err = {0};
    json_t *hello;

    s_cancel_timer(self);
    if (!self->connected) {
        ad_log(AD_LOG_INFO, "coordinator at %s not reachable", self->opts->endpoint);
        s_backoff(self);
        return;
    }
    hello = json_pack("{s:i, s:s, s:s, s:s, s:I, s:o}", "protocol", AD_PROTO_VERSION,
                      "hostname", self->name, "address",
                      self->opts->address ? self->opts->address : self->name, "version",
                      AD_VERSION, "pid", (json_int_t)getpid(), "profile",
                      ad_profile_to_json(self->profile));
    if (!hello)
        ad_oom(0);
    s_hello_launch(self->opts, hello);
    if (ad_proto_send(self->sock, NULL, "HELLO", hello, &err)) {
        /* With immediate set, -EAGAIN means there was no connection after all. */
        if (err.code == -EAGAIN)
            self->connected = false;
        ad_log(AD_LOG_WARN, "HELLO to %s not sent: %s", self->opts->endpoint, err.msg);
        s_backoff(self);
        return;
    }
    ad_log(AD_LOG_DEBUG, "HELLO sent to %s as %s", self->opts->endpoint, self->name);
    self->state = S_HELLO;
    self->timer = zloop_timer(self->loop, S_HELLO_TIMEOUT_MS, 1, s_on_hello_timeout, self);
}

static int
s_on_hello_due(zloop_t *loop, int timer_id, void *arg)
{
    agent_t *self = arg;

    self->timer = -1;
    s_send_hello(self);
    return 0;
}

static int
s_on_hello_timeout(zloop_t *loop, int timer_id, void *arg)
{
    agent_t *self = arg;

    self->timer = -1;
    ad_log(AD_LOG_WARN, "no answer to HELLO from %s in %d ms", self->opts->endpoint,
           S_HELLO_TIMEOUT_MS);
    s_backoff(self);
    return 0;
}

/* The session is gone (disconnect, failed send): log it and start over with backoff 1 s. */
static void
s_lost(agent_t *self, const char *why)
{
    ad_log(AD_LOG_WARN, "lost coordinator at %s after %" PRId64 " ms (%s)", self->opts->endpoint,
           zclock_mono() - self->session_at, why);
    self->backoff_ms = AD_PROTO_RECONNECT_MS;
    s_backoff(self);
}

static void
s_send_heartbeat(agent_t *self)
{
    ad_load_t load = {0};
    ad_load_job_cpu_t jobs[64];
    uint64_t total_before = self->cpu_prev.total, dt;
    ad_err_t err = {0};
    json_t *hb, *by_job;
    size_t n_jobs;

    if (ad_load_sample(&self->cpu_prev, &load, &err)) {
        /* Zeros keep the node alive; the coordinator only loses a load figure. */
        if (!self->load_warned)
            ad_log(AD_LOG_WARN, "load not sampled, sending zeros: %s", err.msg);
        self->load_warned = true;
        memset(&load, 0, sizeof(load));
    }
    hb = json_pack("{s:I, s:{s:f, s:I, s:I}, s:[]}", "seq", (json_int_t)++self->seq, "load", "cpu",
                   load.cpu, "mem_used_bytes", (json_int_t)load.mem_used_bytes, "mem_total_bytes",
                   (json_int_t)load.mem_total_bytes, "running");
    if (!hb)
        ad_oom(0);
    /*
     * The busy fraction of all cores that each autodist job's processes took, so
     * that the coordinator can tell the other load on a job's nodes (noisy runs).
     */
    n_jobs = ad_load_jobs_scan(&self->jobs, NULL, jobs, sizeof(jobs) / sizeof(jobs[0]));
    dt = self->cpu_prev.total > total_before ? self->cpu_prev.total - total_before : 0;
    by_job = json_object();
    for (size_t i = 0; i < n_jobs && dt > 0; i++) {
        char key[32];
        double f = (double)jobs[i].ticks / (double)dt;

        snprintf(key, sizeof(key), "%lld", (long long)jobs[i].job);
        json_object_set_new(by_job, key, json_real(f > 1 ? 1 : f));
    }
    json_object_set_new(json_object_get(hb, "load"), "jobs", by_job);
    if (ad_proto_send(self->sock, NULL, "HEARTBEAT", hb, &err)) {
        if (err.code == -EAGAIN)
            self->connected = false;
        s_lost(self, err.msg);
    }
}

static int
s_on_heartbeat(zloop_t *loop, int timer_id, void *arg)
{
    agent_t *self = arg;

    if (self->state == S_SESSION)
        s_send_heartbeat(self);
    return 0;
}

static void
s_on_welcome(agent_t *self, const json_t *payload)
{
    int64_t node = 0, hb = AD_PROTO_HEARTBEAT_MS;

    if (self->state != S_HELLO) {
        ad_log(AD_LOG_WARN, "WELCOME from %s without a HELLO pending; ignored",
               self->opts->endpoint);
        return;
    }
    /* ad_proto_recv() checked both fields. */
    ad_doc_json_get_int(payload, "node", 1, INT64_MAX, &node, NULL);
    ad_doc_json_get_int(payload, "heartbeat_ms", 100, 60000, &hb, NULL);
    s_cancel_timer(self);
    self->state = S_SESSION;
    self->node = node;
    self->heartbeat_ms = self->opts->heartbeat_ms ? self->opts->heartbeat_ms : (int)hb;
    self->seq = 0;
    self->session_at = zclock_mono();
    self->backoff_ms = AD_PROTO_RECONNECT_MS;
    ad_load_cpu_times(&self->cpu_prev, NULL);
    ad_log(AD_LOG_INFO, "welcomed by %s as node %" PRId64 " (%s), heartbeat every %d ms",
           self->opts->endpoint, node, self->name, self->heartbeat_ms);
    self->hb_timer = zloop_timer(self->loop, (size_t)self->heartbeat_ms, 0, s_on_heartbeat, self);
}

static void
s_on_reject(agent_t *self, const json_t *payload)
{
    const char *reason = "";
    int64_t retry_ms = 0;

    ad_doc_json_get_string(payload, "reason", 1, 512, &reason, NULL);
    ad_doc_json_get_int(payload, "retry_ms", 0, 3600000, &retry_ms, NULL);
    if (retry_ms == 0) {
        ad_log(AD_LOG_ERROR, "refused by the coordinator at %s: %s", self->opts->endpoint, reason);
        self->exit_code = S_EXIT_FAIL;
        return;
    }
    ad_log(AD_LOG_WARN, "refused by the coordinator at %s: %s; HELLO again in %" PRId64 " ms",
           self->opts->endpoint, reason, retry_ms);
    s_hello_after(self, (int)retry_ms, false);
}

static int
s_on_message(zloop_t *loop, zsock_t *sock, void *arg)
{
    agent_t *self = arg;
    ad_proto_msg_t msg = {0};
    ad_err_t err = {0};
    int rc;

    rc = ad_proto_recv(sock, 0, &msg, &err);
    if (rc == -ETIMEDOUT)
        return 0;
    if (rc == -EINTR)
        return -1;
    if (rc) {
        ad_log(AD_LOG_WARN, "%s; dropped", err.msg);
        goto out_clear;
    }
    switch (msg.type) {
    case AD_PROTO_WELCOME:
        s_on_welcome(self, msg.payload);
        break;
    case AD_PROTO_REJECT:
        s_on_reject(self, msg.payload);
        break;
    case AD_PROTO_PING:
        if (self->state == S_SESSION)
            s_send_heartbeat(self);
        else
            ad_log(AD_LOG_DEBUG, "PING without a session; ignored");
        break;
    case AD_PROTO_KILL:
        /* Reserved: jobs are stopped through mpirun today (docs/protocol.md). */
        ad_log(AD_LOG_WARN, "KILL from %s ignored: jobs are stopped through mpirun",
               self->opts->endpoint);
        break;
    default:
        ad_log(AD_LOG_WARN, "%s from %s is not for an agent; dropped", ad_proto_type_name(msg.type),
               self->opts->endpoint);
        break;
    }
out_clear:
    ad_proto_msg_clear(&msg);
    return self->exit_code >= 0 ? -1 : 0;
}

/* zmonitor events: [name][value][address]. */
static int
s_on_monitor(zloop_t *loop, zsock_t *pipe, void *arg)
{
    agent_t *self = arg;
    char *event = NULL, *value = NULL, *address = NULL;

    if (zstr_recvx(pipe, &event, &value, &address, NULL) < 1)
        return 0;
    if (event && !strcmp(event, "CONNECTED")) {
        self->connected = true;
        ad_log(AD_LOG_INFO, "connected to %s", self->opts->endpoint);
        if (self->state == S_WAIT && self->wake_on_connect)
            s_send_hello(self);
    } else if (event && !strcmp(event, "HANDSHAKE_SUCCEEDED")) {
        self->refusal_logged = false;
    } else if (event && !strncmp(event, "HANDSHAKE_FAILED", 16)) {
        /* ZeroMQ retries on its own; say it once until a handshake succeeds. */
        if (!self->refusal_logged)
            ad_log(AD_LOG_ERROR, "the coordinator at %s refused this node's CURVE key %s/"
                   "client.cert (%s): is it the coordinator's HOME/keys/node, with its current "
                   "server.cert? (retrying)", self->opts->endpoint,
                   self->keys ? self->keys : "(none: --insecure)",
                   !strcmp(event, "HANDSHAKE_FAILED_AUTH") ? "unknown key" : "handshake failed");
        self->refusal_logged = true;
    } else if (event && !strcmp(event, "DISCONNECTED")) {
        self->connected = false;
        if (self->state == S_SESSION) {
            s_lost(self, "disconnected");
        } else if (self->state == S_HELLO) {
            ad_log(AD_LOG_WARN, "coordinator at %s disconnected before answering HELLO",
                   self->opts->endpoint);
            s_backoff(self);
        }
    }
    zstr_free(&event);
    zstr_free(&value);
    zstr_free(&address);
    return 0;
}

static int
s_on_signal(zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    agent_t *self = arg;
    struct signalfd_siginfo si;

    if (read(self->sigfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
        return 0;
    self->stop_signal = (int)si.ssi_signo;
    self->exit_code = S_EXIT_OK;
    return -1;
}

static const char *
s_signame(int sig)
{
    return sig == SIGINT ? "SIGINT" : "SIGTERM";
}

static void
s_send_bye(agent_t *self)
{
    ad_err_t err = {0};
    json_t *bye;

    /* Without a connection a send would only wait out the timeout. */
    if (!self->connected || self->state == S_WAIT)
        return;
    zsock_set_sndtimeo(self->sock, S_BYE_TIMEOUT_MS);
    bye = json_pack("{s:s}", "reason", s_signame(self->stop_signal));
    if (!bye)
        ad_oom(0);
    if (ad_proto_send(self->sock, NULL, "BYE", bye, &err))
        ad_log(AD_LOG_WARN, "BYE not sent: %s", err.msg);
}

/* Connect and serve until a signal or a final REJECT; returns the exit status. */
static int
s_run(agent_t *self, sigset_t *stop_set)
{
    zmq_pollitem_t sig_item = {0};
    ad_err_t err = {0};

    self->sigfd = signalfd(-1, stop_set, SFD_CLOEXEC);
    if (self->sigfd < 0) {
        ad_log(AD_LOG_ERROR, "cannot watch signals: %s", strerror(errno));
        return S_EXIT_FAIL;
    }
    self->sock = ad_proto_connect(ZMQ_DEALER, self->opts->endpoint, self->keys, &err);
    if (!self->sock) {
        ad_log(AD_LOG_ERROR, "%s", err.msg);
        self->exit_code = S_EXIT_FAIL;
        goto out_close;
    }
    self->monitor = zactor_new(zmonitor, self->sock);
    zstr_sendx(self->monitor, "LISTEN", "CONNECTED", "DISCONNECTED", "HANDSHAKE_SUCCEEDED",
               "HANDSHAKE_FAILED_AUTH", "HANDSHAKE_FAILED_PROTOCOL", "HANDSHAKE_FAILED_NO_DETAIL",
               NULL);
    zstr_send(self->monitor, "START");
    zsock_wait(self->monitor);
    self->loop = zloop_new();
    zloop_reader(self->loop, self->sock, s_on_message, self);
    zloop_reader(self->loop, zactor_sock(self->monitor), s_on_monitor, self);
    sig_item.fd = self->sigfd;
    sig_item.events = ZMQ_POLLIN;
    zloop_poller(self->loop, &sig_item, s_on_signal, self);
    /*
     * The first CONNECTED event may come before the monitor listened: assume a
     * connection, and a failed HELLO (-EAGAIN after the send timeout) says otherwise.
     */
    self->connected = true;
    s_send_hello(self);
    while (self->exit_code < 0) {
        zloop_start(self->loop);
        /* zloop also returns on EINTR from signals we do not stop on: go on then. */
        if (self->exit_code < 0 && zmq_errno() != EINTR) {
            ad_log(AD_LOG_ERROR, "event loop failed: %s", zmq_strerror(zmq_errno()));
            self->exit_code = S_EXIT_FAIL;
        }
    }
    if (self->stop_signal) {
        ad_log(AD_LOG_INFO, "stopping on %s", s_signame(self->stop_signal));
        s_send_bye(self);
    }
out_close:
    ad_load_jobs_clear(&self->jobs);
    zloop_destroy(&self->loop);
    zactor_destroy(&self->monitor);
    zsock_destroy(&self->sock);
    close(self->sigfd);
    return self->exit_code;
}

int
main(int argc, char **argv)
{
    char host[256] = "";
    agent_t agent = {0};
    ad_profile_t *p = NULL;
    ad_err_t err = {0};
    sigset_t stop_set, pending;
    int ready_fd = -1;
    opts_t o;
    int rc;

    ad_log_init("autodist-agent", AD_LOG_INFO);
    rc = s_parse(argc, argv, &o, &err);
    if (rc == 1)
        return S_EXIT_OK;
    if (rc) {
        ad_log(AD_LOG_ERROR, "%s", err.msg);
        return S_EXIT_USAGE;
    }
    if (o.profile)
        return s_print_profile(&o);
    if (o.detach)
        s_detach(&ready_fd);

    /*
     * Block the stop signals in every thread (libzmq's, zactor's, libtorch's
     * inherit the mask) and read them from a signalfd in the loop, so a stop is
     * seen at once whichever thread the kernel picks; CZMQ's handler stays off.
     */
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGTERM);
    sigaddset(&stop_set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_set, NULL);
    zsys_handler_set(NULL);

    /* Keys first: a node that cannot connect learns it before minutes of benchmarks. */
    if (o.insecure) {
        ad_log(AD_LOG_WARN, "--insecure: no CURVE keys; any process on this machine can "
               "pose as the coordinator or as this node");
    } else if (s_find_keys(&o, &agent.keys, &err)) {
        ad_log(AD_LOG_ERROR, "%s", err.msg);
        return S_EXIT_FAIL;
    }
    rc = S_EXIT_FAIL;
    if (!o.name) {
        if (gethostname(host, sizeof(host) - 1) || !*host) {
            ad_log(AD_LOG_ERROR, "cannot read the host name: %s (give --name)", strerror(errno));
            goto out_free_keys;
        }
        o.name = host;
    }
    if (s_build_profile(&o, &p, &err)) {
        if (err.code == AD_EDEVICE) {
            ad_log(AD_LOG_ERROR, "%s", err.msg);
            goto out_free_keys;
        }
        /* A node without benchmark figures still takes jobs; the planner falls back. */
        ad_log(AD_LOG_WARN, "benchmarks failed, sending the topology only: %s", err.msg);
        o.no_bench = true;
        if (s_build_profile(&o, &p, &err)) {
            ad_log(AD_LOG_ERROR, "%s", err.msg);
            goto out_free_keys;
        }
    }
    ad_log(AD_LOG_INFO, "node %s: %d cores, %d PUs, class %s", o.name, ad_profile_cores(p),
           ad_profile_pus(p), ad_profile_fingerprint(p));

    /* A stop asked for during the benchmarks: no HELLO only to say BYE. */
    if (sigpending(&pending) == 0 &&
        (sigismember(&pending, SIGTERM) || sigismember(&pending, SIGINT))) {
        ad_log(AD_LOG_INFO, "stopping on %s", sigismember(&pending, SIGINT) ? "SIGINT" : "SIGTERM");
        rc = S_EXIT_OK;
        goto out_free_keys;
    }
    if (o.detach && s_detach_ready(&o, o.name, ready_fd))
        goto out_free_keys;
    agent.opts = &o;
    agent.name = o.name;
    agent.profile = p;
    agent.timer = -1;
    agent.hb_timer = -1;
    agent.backoff_ms = AD_PROTO_RECONNECT_MS;
    agent.exit_code = -1;
    agent.sigfd = -1;
    rc = s_run(&agent, &stop_set);
out_free_keys:
    free(agent.keys);
    ad_profile_free(&p);
    return rc;
}
