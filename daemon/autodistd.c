/* autodistd.c - the coordinator: options, the event loop, signals and main (rooms: ad_daemon.h) */
#include <getopt.h>
#include <limits.h>
#include <sys/resource.h>
#include <sys/signalfd.h>

#include "ad_daemon.h"
#include "autodist/ad_fault.h"
#include "autodist/ad_opt.h"

/* How often DOWN nodes are looked for: often, so DOWN shows within 3 periods + 0.25 s. */
#define S_TICK_MS 250
/* Nodes' last_seen goes to the store every this many ticks (5 s), in one transaction. */
#define S_SEEN_TICKS 20
/* How long the coordinator on its way out tries to write what waits for a busy store (s). */
#define S_FINAL_FLUSH_S 10.0
/* How long the writes that wait for a busy store are tried on each tick (s). */
#define S_TICK_FLUSH_S 0.05
/* A tick this late (s) means the loop was held: the nodes' heartbeat clocks restart. */
#define S_HELD_S 1.0
/* Agent messages a tick reads before judging the nodes, at most. */
#define S_DRAIN_MAX 10000
/* Caps on what agents may make the coordinator keep (docs/daemon.md). */
#define S_MAX_NODES 4096
#define S_MAX_PROFILE_KIB 256
/* Time between SIGTERM and SIGKILL when a running job is stopped (s). */
#define S_KILL_GRACE_S 10.0
/* Free space a job needs on the logs' and checkpoints' file systems to start (MiB). */
#define S_MIN_FREE_MIB 512
/* How long a job on a DOWN node may go without a step before it ends NODE_FAIL (s). */
#define S_NODE_GRACE_S 10.0
/* A socket's failed handshakes without a key are logged at most this often (s). */
#define S_REFUSED_LOG_S 60.0
/* PENDING jobs one owner may have (--max-queued-per-user). */
#define S_MAX_QUEUED_PER_USER 10000

static void
s_usage(FILE *f)
{
    fprintf(
        f,
        "usage: autodistd [options]\n"
        "\n"
        "The coordinator: node registry, job queue, launcher (mpirun) and store.\n"
        "`autodist up` starts it in the background; run it by hand for a real cluster.\n"
        "\n"
        "  --home DIR           autodist home (default $%s or ~/%s); the store is DIR/runs.db\n"
        "  --client ENDPOINT    client ROUTER (default %s)\n"
        "  --agents ENDPOINT    agent ROUTER (default %s)\n"
        "  --metrics ENDPOINT   metrics PULL (default %s)\n"
        "  --report ENDPOINT    the metrics endpoint as rank 0 reaches it (default: --metrics;\n"
        "                       needed when --metrics binds a wildcard such as tcp://*:7402)\n"
        "  --heartbeat-ms N     heartbeat period given to agents, 100..60000 (default %d)\n"
        "  --trainer PATH       autodist-train on the nodes (default: next to autodistd)\n"
        "  --mpirun PATH        mpirun (default: mpirun from PATH)\n"
        "  --rsh-agent PATH     how mpirun reaches other nodes (--mca plm_rsh_agent;\n"
        "                       default ssh), e.g. a script doing `ip netns exec`\n"
        "  --tcp-subnet CIDR    MPI over TCP on this subnet only (btl self,tcp)\n"
        "  --probes N           layout auto: at most N short probe runs before choosing,\n"
        "                       0..3 (default 3; 0 never probes)\n"
        "  --probe-steps N      steps of a probe run (default 40)\n"
        "  --kill-grace S       seconds between SIGTERM and SIGKILL when a job is\n"
        "                       cancelled, times out or loses a node (default 10)\n"
        "  --max-nodes N        most nodes known at once, 0..1000000 (default %d; 0: no cap);\n"
        "                       a HELLO from a new name beyond it is refused\n"
        "  --max-profile-kib N  largest HELLO profile in KiB, 0..16384 (default %d; 0: no cap)\n"
        "  --min-free-mib N     a job starts only with N MiB free for its logs and\n"
        "                       checkpoints (default 512; 0 does not check)\n"
        "  --node-grace S       a job on a node that went DOWN runs on while its steps\n"
        "                       advance; NODE_FAIL after S seconds without one (default 10;\n"
        "                       0 ends it at once)\n"
        "  --max-queued-per-user N  PENDING jobs one user may have, 1..10000000 (default %d)\n"
        "  --node-keys DIR      the nodes' key folder as the nodes see it, given to the ranks\n"
        "                       as $AUTODIST_KEYS (default: DIR/keys/node of --home)\n"
        "  --insecure           no CURVE keys: anyone on this machine can connect; only\n"
        "                       when every endpoint is on loopback (docs/security.md)\n"
        "  --foreground         stay in the foreground (the only mode; `autodist up` detaches)\n"
        "  --help\n"
        "\n"
        "Every socket requires CURVE keys, made in DIR/keys at the first start\n"
        "(`autodist keys`, docs/security.md).\n"
        "\n"
        "Exit status: 0 stopped (SIGTERM, SIGINT, SHUTDOWN), 1 failure, 2 bad command line.\n",
        AD_HOME_ENV, AD_HOME_DEFAULT_NAME, AD_PROTO_CLIENT_ENDPOINT, AD_PROTO_AGENT_ENDPOINT,
        AD_PROTO_METRIC_ENDPOINT, AD_PROTO_HEARTBEAT_MS, S_MAX_NODES, S_MAX_PROFILE_KIB,
        S_MAX_QUEUED_PER_USER);
}

/* --insecure only where nobody off this machine can connect. */
static int
s_check_insecure(const opts_t *o, ad_err_t *err)
{
    const char *eps[] = {o->client, o->agents, o->metrics};
    const char *names[] = {"--client", "--agents", "--metrics"};

    if (!o->insecure)
        return 0;
    for (int i = 0; i < 3; i++)
        if (!ad_keys_is_loopback(eps[i]))
            return ad_err_set(err, AD_EINVAL,
                              "--insecure is for loopback endpoints only, and %s is %s: drop "
                              "--insecure (keys are made in the home) or bind 127.0.0.1",
                              names[i], eps[i]);
    return 0;
}

static int
s_parse(int argc, char **argv, opts_t *o, ad_err_t *err)
{
    static const struct option longs[] = {
        {"home", required_argument, NULL, 'H'},    {"client", required_argument, NULL, 'c'},
        {"agents", required_argument, NULL, 'a'},  {"metrics", required_argument, NULL, 'm'},
        {"heartbeat-ms", required_argument, NULL, 'b'},
        {"report", required_argument, NULL, 'r'},  {"trainer", required_argument, NULL, 't'},
        {"mpirun", required_argument, NULL, 'M'},  {"rsh-agent", required_argument, NULL, 'R'},
        {"tcp-subnet", required_argument, NULL, 'S'},
        {"kill-grace", required_argument, NULL, 'k'},
        {"node-grace", required_argument, NULL, 'g'},
        {"min-free-mib", required_argument, NULL, 'F'},
        {"probes", required_argument, NULL, 'p'},
        {"probe-steps", required_argument, NULL, 'P'},
        {"max-nodes", required_argument, NULL, 'N'},
        {"max-profile-kib", required_argument, NULL, 'K'},
        {"insecure", no_argument, NULL, 'I'},
        {"node-keys", required_argument, NULL, 'D'},
        {"max-queued-per-user", required_argument, NULL, 'Q'},
        {"foreground", no_argument, NULL, 'f'},    {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int64_t v;
    int c;

    memset(o, 0, sizeof(*o));
    o->client = AD_PROTO_CLIENT_ENDPOINT;
    o->agents = AD_PROTO_AGENT_ENDPOINT;
    o->metrics = AD_PROTO_METRIC_ENDPOINT;
    o->heartbeat_ms = AD_PROTO_HEARTBEAT_MS;
    o->kill_grace_s = S_KILL_GRACE_S;
    o->node_grace_s = S_NODE_GRACE_S;
    o->min_free_mib = S_MIN_FREE_MIB;
    o->probes = AD_AUTO_MAX_PROBES;
    o->probe_steps = AD_AUTO_PROBE_STEPS;
    o->max_nodes = S_MAX_NODES;
    o->max_profile_kib = S_MAX_PROFILE_KIB;
    o->max_queued = S_MAX_QUEUED_PER_USER;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 'H': o->home = optarg; break;
        case 'c': o->client = optarg; break;
        case 'a': o->agents = optarg; break;
        case 'm': o->metrics = optarg; break;
        case 'r': o->report = optarg; break;
        case 't': o->trainer = optarg; break;
        case 'M': o->mpirun = optarg; break;
        case 'R': o->rsh_agent = optarg; break;
        case 'S': o->tcp_subnet = optarg; break;
        case 'f': break;
        case 'I': o->insecure = true; break;
        case 'D': o->node_keys = optarg; break;
        case 'Q':
            if (ad_opt_int("--max-queued-per-user", optarg, 1, 10000000, 0, &o->max_queued, err))
                return err->code;
            break;
        case 'p':
            if (ad_opt_int("--probes", optarg, 0, AD_AUTO_MAX_PROBES, 0, &v, err))
                return err->code;
            o->probes = (int)v;
            break;
        case 'P':
            if (ad_opt_int("--probe-steps", optarg, 5, 100000, 0, &v, err))
                return err->code;
            o->probe_steps = v;
            break;
        case 'N':
            if (ad_opt_int("--max-nodes", optarg, 0, 1000000, 0, &v, err))
                return err->code;
            o->max_nodes = (int)v;
            break;
        case 'K':
            if (ad_opt_int("--max-profile-kib", optarg, 0, AD_PROTO_MAX_PAYLOAD >> 10, 0, &v,
                           err))
                return err->code;
            o->max_profile_kib = (int)v;
            break;
        case 'k':
            if (ad_opt_seconds("--kill-grace", optarg, 0, 3600, 0, &o->kill_grace_s, err))
                return err->code;
            break;
        case 'F':
            if (ad_opt_int("--min-free-mib", optarg, 0, INT64_MAX / 2, 0, &o->min_free_mib, err))
                return err->code;
            break;
        case 'g':
            if (ad_opt_seconds("--node-grace", optarg, 0, 3600, 0, &o->node_grace_s, err))
                return err->code;
            break;
        case 'b':
            if (ad_opt_int("--heartbeat-ms", optarg, 100, 60000, 0, &v, err))
                return err->code;
            o->heartbeat_ms = (int)v;
            break;
        case 'h':
            s_usage(stdout);
            return 1;
        default:
            return ad_err_set(err, AD_EINVAL, "unknown option or missing value: %s (try --help)",
                              argv[optind - 1]);
        }
    }
    if (optind < argc)
        return ad_err_set(err, AD_EINVAL, "unexpected argument \"%s\" (try --help)", argv[optind]);
    if (!o->report) {
        if (strchr(o->metrics, '*') || strstr(o->metrics, "0.0.0.0"))
            return ad_err_set(err, AD_EINVAL,
                              "--metrics %s is a wildcard: give --report with the address the "
                              "nodes reach this machine by", o->metrics);
        o->report = o->metrics;
    }
    return s_check_insecure(o, err);
}

void
ad_daemon_send(zsock_t *sock, const char *identity, const char *type, json_t *payload)
{
    ad_err_t err = {0};

    if (!payload)
        ad_oom(0);
    if (ad_proto_send(sock, identity, type, payload, &err))
        ad_log_limited("not sent", AD_LOG_WARN, "%s to %s not sent: %s", type,
                       identity ? identity : "-", err.msg);
}

static int
s_on_tick(zloop_t *loop, int timer_id, void *arg)
{
    coord_t *self = arg;
    double now = ad_clock_now();

    if (ad_journal_waiting(self->journal))
        ad_journal_flush(self->journal, S_TICK_FLUSH_S);
    /*
     * zloop runs due timers before readers: after the loop was held (a large dataset hashed
     * for a run's record, a slow disk), the heartbeats queued meanwhile
     * are read before any node is judged, or every node would go DOWN at once.
     */
    for (int i = 0; i < S_DRAIN_MAX && (zsock_events(self->agents) & ZMQ_POLLIN); i++)
        ad_agents_on_msg(loop, self->agents, self);
    /* Heartbeats still in the kernel's buffers after a hold (the whole process stopped)
     * are not read yet either: the nodes' clocks restart. */
    if (self->last_tick > 0 && now - self->last_tick > S_HELD_S) {
        ad_log(AD_LOG_WARN, "the coordinator was held %.1f s; nodes get %d heartbeats from now",
               now - self->last_tick, AD_REGISTRY_MISSED_MAX);
        ad_registry_resumed(self->reg, now);
    }
    now = ad_clock_now();
    self->last_tick = now;
    ad_registry_tick(self->reg, now, self->opts->heartbeat_ms / 1000.0, ad_agents_on_down, self);
    ad_running_tick(self, now);
    ad_autojob_tick(self);
    if (++self->ticks % S_SEEN_TICKS == 0)
        ad_agents_flush_seen(self);
    ad_running_schedule(self);
    return 0;
}

static int
s_on_signal(zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    coord_t *self = arg;
    struct signalfd_siginfo si;

    if (read(self->sigfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
        return 0;
    if (si.ssi_signo == SIGCHLD) {
        if (ad_running_reap(self))
            ad_running_schedule(self);
        return 0;
    }
    ad_log(AD_LOG_INFO, "stopping on %s", si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
    self->exit_code = AD_DAEMON_EXIT_OK;
    return -1;
}

static zsock_t *
s_bind(coord_t *self, int type, const char *what, const char *endpoint, const char *domain)
{
    ad_err_t err = {0};
    const char *keys = self->opts->insecure ? NULL : self->home->keys;
    zsock_t *s = ad_proto_listen_domain(type, endpoint, keys, domain, NULL, &err);

    if (!s) {
        if (err.code == -EADDRINUSE)
            ad_log(AD_LOG_ERROR, "cannot listen for %s on %s: address in use (is another "
                   "autodistd running?)", what, endpoint);
        else
            ad_log(AD_LOG_ERROR, "cannot listen for %s on %s: %s", what, endpoint, err.msg);
    }
    return s;
}

/*
 * Keys (made at the first start) and the ZAP handler before any socket
 * binds; the ranks find the nodes' folder in $AUTODIST_KEYS (they inherit
 * mpirun's environment, which is ours plus the launch's).
 */
static int
s_secure(coord_t *self)
{
    char node_dir[PATH_MAX];
    ad_err_t err = {0};

    if (self->opts->insecure) {
        ad_log(AD_LOG_WARN, "--insecure: no CURVE keys; anyone on this machine can connect, "
               "submit, cancel any job and shut the coordinator down");
        setenv(AD_KEYS_ENV, AD_KEYS_NONE, 1);
        return 0;
    }
    if (ad_keys_init(self->home->keys, NULL, &err)) {
        ad_log(AD_LOG_ERROR, "cannot make the CURVE keys: %s", err.msg);
        return -1;
    }
    self->auth = ad_keys_auth_new(self->home->keys, &err);
    if (!self->auth) {
        ad_log(AD_LOG_ERROR, "%s", err.msg);
        return -1;
    }
    snprintf(node_dir, sizeof(node_dir), "%s/node", self->home->keys);
    setenv(AD_KEYS_ENV, self->opts->node_keys ? self->opts->node_keys : node_dir, 1);
    ad_log(AD_LOG_INFO, "CURVE keys in %s (admin: client.cert; nodes: node/; users: users/)",
           self->home->keys);
    return 0;
}

static const char *const s_socket_names[3] = {"client", "agents", "metrics"};

/*
 * A handshake that failed before the ZAP handler saw a key: a peer without
 * CURVE, or with another coordinator's server key.  ZeroMQ names no peer
 * here, so one line per socket a minute (refused keys are the ZAP handler's,
 * once per address and key).
 */
static int
s_on_refused(zloop_t *loop, zsock_t *pipe, void *arg)
{
    coord_t *self = arg;
    char *event = NULL, *value = NULL, *address = NULL;
    double now = ad_clock_now();
    int i;

    if (zstr_recvx(pipe, &event, &value, &address, NULL) < 1)
        return 0;
    for (i = 0; i < 3 && zactor_sock(self->monitors[i]) != pipe; i++)
        ;
    if (i < 3 && (self->refused_at[i] == 0 || now - self->refused_at[i] >= S_REFUSED_LOG_S)) {
        self->refused_at[i] = now;
        ad_log(AD_LOG_WARN, "a peer failed the CURVE handshake on the %s socket (%s): no keys, or "
               "another coordinator's server.cert; more in the next %.0f s are not logged",
               s_socket_names[i], event ? event : "?", S_REFUSED_LOG_S);
    }
    zstr_free(&event);
    zstr_free(&value);
    zstr_free(&address);
    return 0;
}

/* Watch the secure sockets' handshakes (nothing with --insecure). */
static void
s_watch_handshakes(coord_t *self)
{
    zsock_t *socks[3] = {self->client, self->agents, self->metrics};

    if (self->opts->insecure)
        return;
    for (int i = 0; i < 3; i++) {
        self->monitors[i] = zactor_new(zmonitor, socks[i]);
        zstr_sendx(self->monitors[i], "LISTEN", "HANDSHAKE_FAILED_PROTOCOL",
                   "HANDSHAKE_FAILED_NO_DETAIL", NULL);
        zstr_send(self->monitors[i], "START");
        zsock_wait(self->monitors[i]);
        zloop_reader(self->loop, zactor_sock(self->monitors[i]), s_on_refused, self);
    }
}

static int
s_run(coord_t *self, sigset_t *stop_set)
{
    zmq_pollitem_t sig_item = {0};

    if (s_secure(self))
        return AD_DAEMON_EXIT_FAIL;
    self->client = s_bind(self, ZMQ_ROUTER, "clients", self->opts->client, AD_KEYS_DOMAIN_CLIENTS);
    if (!self->client)
        return AD_DAEMON_EXIT_FAIL;
    self->agents = s_bind(self, ZMQ_ROUTER, "agents", self->opts->agents, AD_KEYS_DOMAIN_NODES);
    if (!self->agents)
        return AD_DAEMON_EXIT_FAIL;
    self->metrics = s_bind(self, ZMQ_PULL, "metrics", self->opts->metrics, AD_KEYS_DOMAIN_NODES);
    if (!self->metrics)
        return AD_DAEMON_EXIT_FAIL;
    self->sigfd = signalfd(-1, stop_set, SFD_CLOEXEC);
    if (self->sigfd < 0) {
        ad_log(AD_LOG_ERROR, "cannot watch signals: %s", strerror(errno));
        return AD_DAEMON_EXIT_FAIL;
    }
    self->loop = zloop_new();
    zloop_reader(self->loop, self->client, ad_client_on_msg, self);
    zloop_reader(self->loop, self->agents, ad_agents_on_msg, self);
    zloop_reader(self->loop, self->metrics, ad_running_on_metric, self);
    s_watch_handshakes(self);
    zloop_set_nonstop(self->loop, true);
    zloop_timer(self->loop, S_TICK_MS, 0, s_on_tick, self);
    sig_item.fd = self->sigfd;
    sig_item.events = ZMQ_POLLIN;
    zloop_poller(self->loop, &sig_item, s_on_signal, self);
    ad_log(AD_LOG_INFO, "listening: clients %s, agents %s, metrics %s", self->opts->client,
           self->opts->agents, self->opts->metrics);
    ad_running_recover(self);
    ad_sweep_api_reopen(self);
    ad_running_schedule(self);
    while (self->exit_code < 0) {
        zloop_start(self->loop);
        if (self->exit_code < 0 && zmq_errno() != EINTR) {
            ad_log(AD_LOG_ERROR, "event loop failed: %s", zmq_strerror(zmq_errno()));
            self->exit_code = AD_DAEMON_EXIT_FAIL;
        }
    }
    ad_running_stop_all(self, "the coordinator stopped");
    ad_agents_flush_seen(self);
    /* A busy store gets a last chance at what waits; a restart finds the jobs anyway. */
    ad_journal_flush(self->journal, S_FINAL_FLUSH_S);
    return self->exit_code;
}

static void
s_free_item(void **item)
{
    free(*item);
    *item = NULL;
}

static void
s_free_json(void **item)
{
    json_decref(*item);
    *item = NULL;
}

/* One TCP connection per agent: let a thousand of them in. */
static void
s_raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* opt, else the program name next to this program, else the bare name (found in PATH when run). */
static char *
s_sibling_path(const char *opt, const char *name)
{
    char path[4096];

    if (opt)
        return ad_strdup(opt);
    return ad_strdup(ad_proc_sibling(name, path, sizeof(path)) ? path : name);
}

int
main(int argc, char **argv)
{
    coord_t self = {0};
    ad_home_t home = {0};
    ad_err_t err = {0};
    sigset_t stop_set;
    opts_t o;
    int rc;

    ad_log_init("autodistd", AD_LOG_INFO);
    /* Tests make a fork or a store step fail inside the daemon through $AUTODIST_FAULT. */
    if (ad_fault_arm_env(&err)) {
        ad_log(AD_LOG_ERROR, "%s", err.msg);
        return AD_DAEMON_EXIT_FAIL;
    }
    rc = s_parse(argc, argv, &o, &err);
    if (rc == 1)
        return AD_DAEMON_EXIT_OK;
    if (rc) {
        ad_log(AD_LOG_ERROR, "%s", err.msg);
        return AD_DAEMON_EXIT_USAGE;
    }
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGTERM);
    sigaddset(&stop_set, SIGINT);
    sigaddset(&stop_set, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &stop_set, NULL);
    zsys_handler_set(NULL);
    s_raise_nofile();

    if (ad_home_resolve(o.home, &home, &err) || ad_home_ensure(&home, &err)) {
        ad_log(AD_LOG_ERROR, "%s", err.msg);
        ad_home_clear(&home);
        return AD_DAEMON_EXIT_FAIL;
    }
    if (ad_store_open(home.db, AD_STORE_CREATE, &self.store, &err)) {
        ad_log(AD_LOG_ERROR, "%s", err.msg);
        ad_home_clear(&home);
        return AD_DAEMON_EXIT_FAIL;
    }
    self.opts = &o;
    self.home = &home;
    self.journal = ad_journal_new(self.store);
    self.trainer = s_sibling_path(o.trainer, "autodist-train");
    self.local_rsh = s_sibling_path(NULL, "autodist-local-rsh");
    self.launcher = s_sibling_path(NULL, "autodist-launch");
    self.records = ad_record_env_new(o.mpirun, self.trainer);
    self.addresses = zhashx_new();
    zhashx_set_destructor(self.addresses, s_free_item);
    self.launch = zhashx_new();
    zhashx_set_destructor(self.launch, s_free_json);
    self.sigfd = -1;
    self.exit_code = -1;
    self.reg = ad_registry_new();
    self.sched = ad_sched_new();
    self.sweeps = ad_sweeps_new();
    self.sweep_timer = -1;
    rc = s_run(&self, &stop_set);
    zloop_destroy(&self.loop);
    for (int i = 0; i < 3; i++)
        zactor_destroy(&self.monitors[i]);
    zsock_destroy(&self.client);
    zsock_destroy(&self.agents);
    zsock_destroy(&self.metrics);
    zactor_destroy(&self.auth);
    if (self.sigfd >= 0)
        close(self.sigfd);
    ad_autojob_free_all(&self);
    ad_sched_free(&self.sched);
    ad_sweeps_free(&self.sweeps);
    ad_registry_free(&self.reg);
    zhashx_destroy(&self.addresses);
    zhashx_destroy(&self.launch);
    free(self.trainer);
    free(self.local_rsh);
    free(self.launcher);
    ad_record_env_free(&self.records);
    ad_journal_free(&self.journal);
    ad_store_close(&self.store);
    ad_home_clear(&home);
    return rc;
}
