/* autodistd.c - the coordinator: node registry, job queue and store behind three sockets */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <czmq.h>
#include <jansson.h>

#include "autodist/ad_coord.h"
#include "autodist/ad_error.h"
#include "autodist/ad_home.h"
#include "autodist/ad_job.h"
#include "autodist/ad_log.h"
#include "autodist/ad_proto.h"
#include "autodist/ad_registry.h"
#include "autodist/ad_sched.h"

#define S_EXIT_OK 0
#define S_EXIT_FAIL 1
#define S_EXIT_USAGE 2
/* How often DOWN nodes are looked for: often, so DOWN shows within 3 periods + 0.25 s. */
#define S_TICK_MS 250

typedef struct opts {
    const char *home;     /* --home */
    const char *client;   /* --client */
    const char *agents;   /* --agents */
    const char *metrics;  /* --metrics */
    int heartbeat_ms;     /* --heartbeat-ms */
} opts_t;

typedef struct coord {
    const opts_t *opts;
    zsock_t *client;      /* ROUTER: CLI requests */
    zsock_t *agents;      /* ROUTER: agents */
    zsock_t *metrics;     /* PULL: trainer events */
    zloop_t *loop;
    int sigfd;            /* SIGTERM, SIGINT */
    ad_registry_t *reg;
    ad_sched_t *sched;
    int exit_code;        /* -1 while running */
} coord_t;

static double
s_now(void)
{
    return (double)zclock_mono() / 1000.0;
}

static void
s_usage(FILE *f)
{
    fprintf(f,
            "usage: autodistd [--home DIR] [--client ENDPOINT] [--agents ENDPOINT]\n"
            "                 [--metrics ENDPOINT] [--heartbeat-ms N] [--foreground]\n"
            "  --home DIR           autodist home (default $%s or ~/%s); the store is DIR/runs.db\n"
            "  --client ENDPOINT    client ROUTER (default %s)\n"
            "  --agents ENDPOINT    agent ROUTER (default %s)\n"
            "  --metrics ENDPOINT   metrics PULL (default %s)\n"
            "  --heartbeat-ms N     heartbeat period given to agents, 100..60000 (default %d)\n"
            "  --foreground         stay in the foreground (the only mode today)\n"
            "  --help\n",
            AD_HOME_ENV, AD_HOME_DEFAULT_NAME, AD_PROTO_CLIENT_ENDPOINT, AD_PROTO_AGENT_ENDPOINT,
            AD_PROTO_METRIC_ENDPOINT, AD_PROTO_HEARTBEAT_MS);
}

static int
s_parse(int argc, char **argv, opts_t *o, ad_err_t *err)
{
    static const struct option longs[] = {
        {"home", required_argument, NULL, 'H'},    {"client", required_argument, NULL, 'c'},
        {"agents", required_argument, NULL, 'a'},  {"metrics", required_argument, NULL, 'm'},
        {"heartbeat-ms", required_argument, NULL, 'b'},
        {"foreground", no_argument, NULL, 'f'},    {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    char *end;
    long v;
    int c;

    memset(o, 0, sizeof(*o));
    o->client = AD_PROTO_CLIENT_ENDPOINT;
    o->agents = AD_PROTO_AGENT_ENDPOINT;
    o->metrics = AD_PROTO_METRIC_ENDPOINT;
    o->heartbeat_ms = AD_PROTO_HEARTBEAT_MS;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 'H': o->home = optarg; break;
        case 'c': o->client = optarg; break;
        case 'a': o->agents = optarg; break;
        case 'm': o->metrics = optarg; break;
        case 'f': break;
        case 'b':
            errno = 0;
            v = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || v < 100 || v > 60000)
                return ad_err_set(err, AD_EINVAL,
                                  "--heartbeat-ms must be an integer in [100, 60000], got \"%s\"",
                                  optarg);
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
    return 0;
}

/* ---- agents ---------------------------------------------------------------------------- */

static void
s_send(zsock_t *sock, const char *identity, const char *type, json_t *payload)
{
    ad_err_t err = {0};

    if (!payload)
        ad_oom(0);
    if (ad_proto_send(sock, identity, type, payload, &err))
        ad_log(AD_LOG_WARN, "%s to %s not sent: %s", type, identity ? identity : "-", err.msg);
}

static void
s_reject(coord_t *self, const char *identity, const char *reason, int retry_ms)
{
    s_send(self->agents, identity, "REJECT", json_pack("{s:s s:i}", "reason", reason, "retry_ms",
                                                       retry_ms));
}

static void
s_node_down(coord_t *self, const char *name, const char *why)
{
    ad_err_t err = {0};

    ad_sched_set_node(self->sched, name, false, 0);
    if (ad_coord_node_seen(name, true, &err))
        ad_log(AD_LOG_WARN, "node %s: cannot record DOWN: %s", name, err.msg);
    ad_log(AD_LOG_WARN, "node %s is DOWN (%s)", name, why);
}

static void
s_on_down(const char *name, void *arg)
{
    s_node_down(arg, name, "missed heartbeats");
}

static void
s_on_hello(coord_t *self, const ad_msg_t *msg)
{
    const char *name = NULL;
    json_t *profile = NULL;
    int64_t proto = 0, id = 0;
    ad_err_t err = {0};
    const ad_registry_node_t *n;
    int rc;

    ad_json_get_int(msg->payload, "protocol", 1, 1000, &proto, NULL);
    ad_json_get_string(msg->payload, "hostname", 1, 255, &name, NULL);
    ad_json_get_object(msg->payload, "profile", &profile, NULL);
    if (proto != AD_PROTO_VERSION) {
        char reason[128];

        snprintf(reason, sizeof(reason), "protocol %lld is not spoken here (only %d)",
                 (long long)proto, AD_PROTO_VERSION);
        s_reject(self, msg->identity, reason, 0);
        return;
    }
    rc = ad_registry_hello(self->reg, name, msg->identity, profile, s_now(), &err);
    if (rc) {
        ad_log(AD_LOG_WARN, "HELLO from %s refused: %s", name, err.msg);
        s_reject(self, msg->identity, err.msg, 0);
        return;
    }
    n = ad_registry_lookup(self->reg, name);
    ad_sched_set_node(self->sched, name, true, n ? n->cores : 0);
    if (ad_coord_node_up(name, profile, &id, &err)) {
        ad_log(AD_LOG_ERROR, "node %s: %s", name, err.msg);
        ad_registry_bye(self->reg, msg->identity, s_now());
        ad_sched_set_node(self->sched, name, false, 0);
        s_reject(self, msg->identity, "the coordinator cannot write its store", 1000);
        return;
    }
    ad_log(AD_LOG_INFO, "node %s is UP (id %lld, %d cores)", name, (long long)id,
           n ? n->cores : 0);
    s_send(self->agents, msg->identity, "WELCOME",
           json_pack("{s:I s:i}", "node", (json_int_t)id, "heartbeat_ms", self->opts->heartbeat_ms));
}

static int
s_on_agent(zloop_t *loop, zsock_t *sock, void *arg)
{
    coord_t *self = arg;
    const ad_registry_node_t *n;
    ad_msg_t msg = {0};
    ad_err_t err = {0};
    json_t *load = NULL;
    char *name;
    int rc;

    rc = ad_proto_recv(sock, 0, &msg, &err);
    if (rc == -ETIMEDOUT || rc == -EINTR)
        return 0;
    if (rc) {
        ad_log(AD_LOG_WARN, "%s; dropped", err.msg);
        goto out;
    }
    switch (msg.type) {
    case AD_PROTO_HELLO:
        s_on_hello(self, &msg);
        break;
    case AD_PROTO_HEARTBEAT:
        ad_json_get_object(msg.payload, "load", &load, NULL);
        if (ad_registry_heartbeat(self->reg, msg.identity, load, s_now(), NULL)) {
            s_reject(self, msg.identity, "no session: say HELLO again", 1000);
            break;
        }
        n = ad_registry_lookup_identity(self->reg, msg.identity);
        if (n)
            ad_coord_node_seen(n->name, false, NULL);
        break;
    case AD_PROTO_BYE:
        n = ad_registry_lookup_identity(self->reg, msg.identity);
        if (!n) {
            s_reject(self, msg.identity, "no session", 1000);
            break;
        }
        name = ad_strdup(n->name);
        ad_registry_bye(self->reg, msg.identity, s_now());
        s_node_down(self, name, "said BYE");
        free(name);
        break;
    default:
        ad_log(AD_LOG_WARN, "%s on the agent socket is not for the coordinator; dropped",
               ad_proto_type_name(msg.type));
        break;
    }
out:
    ad_msg_clear(&msg);
    return 0;
}

/* ---- clients -------------------------------------------------------------------------- */

static void
s_error(coord_t *self, const char *identity, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
s_error(coord_t *self, const char *identity, int code, const char *fmt, ...)
{
    ad_err_t e = {0}, err = {0};
    va_list ap;

    va_start(ap, fmt);
    ad_err_vset(&e, code, fmt, ap);
    va_end(ap);
    if (ad_proto_send_error(self->client, identity, &e, &err))
        ad_log(AD_LOG_WARN, "ERROR to %s not sent: %s", identity, err.msg);
}

/* The store's row of job id, with the scheduler's reason while it is queued. */
static json_t *
s_job_json(coord_t *self, int64_t id, ad_err_t *err)
{
    const char *state = NULL, *reason;
    json_t *o = ad_coord_job_json(id, &state, err);

    if (!o)
        return NULL;
    reason = ad_sched_reason(self->sched, id);
    if (reason && !ad_coord_state_is_final(state))
        json_object_set_new(o, "reason", json_string(reason));
    return o;
}

static void
s_fill_reasons(coord_t *self, json_t *jobs)
{
    size_t i;
    json_t *o;

    json_array_foreach(jobs, i, o) {
        json_int_t id = json_integer_value(json_object_get(o, "id"));
        const char *reason = ad_sched_reason(self->sched, id);

        if (reason && !ad_coord_state_is_final(json_string_value(json_object_get(o, "state"))))
            json_object_set_new(o, "reason", json_string(reason));
    }
}

static void
s_submit(coord_t *self, const ad_msg_t *msg)
{
    json_t *spec = NULL;
    ad_job_t job = {0};
    ad_err_t err = {0};
    char *text, *canon;
    int64_t id = 0;
    int rc;

    ad_json_get_object(msg->payload, "job", &spec, NULL);
    text = json_dumps(spec, JSON_COMPACT);
    if (!text)
        ad_oom(0);
    rc = ad_job_from_json(text, &job, &err);
    free(text);
    if (rc) {
        s_error(self, msg->identity, AD_EPARSE, "%s", err.msg);
        return;
    }
    if (job.layout.is_auto) {
        s_error(self, msg->identity, AD_EINVAL,
                "job %s: layout auto needs the planner, which the coordinator does not run yet; "
                "give nodes, procs_per_node and threads_per_proc",
                job.name);
        goto out;
    }
    canon = ad_job_to_json(&job);
    rc = ad_coord_job_add(job.name, canon, job.layout.nodes, job.layout.procs_per_node,
                          job.layout.threads_per_proc, &id, &err);
    free(canon);
    if (rc) {
        s_error(self, msg->identity, AD_EDB, "%s", err.msg);
        goto out;
    }
    rc = ad_sched_add_job(self->sched, id, job.layout.nodes, job.layout.procs_per_node,
                          job.layout.threads_per_proc);
    if (rc) {
        ad_coord_job_set(id, "FAILED", "the scheduler refused the layout", INT32_MIN, NULL);
        s_error(self, msg->identity, AD_EINVAL, "job %lld: the scheduler refused its layout",
                (long long)id);
        goto out;
    }
    ad_log(AD_LOG_INFO, "job %lld (%s) submitted: %dx%dx%d", (long long)id, job.name,
           job.layout.nodes, job.layout.procs_per_node, job.layout.threads_per_proc);
    s_send(self->client, msg->identity, "OK",
           json_pack("{s:I s:s s:s}", "job", (json_int_t)id, "name", job.name, "state",
                     "PENDING"));
out:
    ad_job_clear(&job);
}

static void
s_status(coord_t *self, const ad_msg_t *msg)
{
    ad_err_t err = {0};
    json_t *jobs, *o;
    int64_t id = 0;

    if (!ad_json_get_int(msg->payload, "job", 1, INT64_MAX, &id, NULL)) {
        o = s_job_json(self, id, &err);
        if (!o) {
            s_error(self, msg->identity, err.code, "%s", err.msg);
            return;
        }
        jobs = json_pack("[o]", o);
    } else {
        jobs = ad_coord_jobs_json(NULL, true, NULL, 0, &err);
        if (!jobs) {
            s_error(self, msg->identity, err.code, "%s", err.msg);
            return;
        }
        s_fill_reasons(self, jobs);
    }
    s_send(self->client, msg->identity, "OK", json_pack("{s:o}", "jobs", jobs));
}

static void
s_jobs(coord_t *self, const ad_msg_t *msg)
{
    const char *state = NULL, *name = NULL;
    ad_err_t err = {0};
    int64_t limit = 0;
    json_t *jobs;

    ad_json_get_string(msg->payload, "filter.state", 1, 16, &state, NULL);
    ad_json_get_string(msg->payload, "filter.name", 1, 255, &name, NULL);
    ad_json_get_int(msg->payload, "filter.limit", 1, 100000, &limit, NULL);
    jobs = ad_coord_jobs_json(state, false, name, limit, &err);
    if (!jobs) {
        s_error(self, msg->identity, err.code, "%s", err.msg);
        return;
    }
    s_fill_reasons(self, jobs);
    s_send(self->client, msg->identity, "OK", json_pack("{s:o}", "jobs", jobs));
}

static void
s_cancel(coord_t *self, const ad_msg_t *msg)
{
    const char *state = NULL;
    ad_err_t err = {0};
    int64_t id = 0;
    json_t *o;

    ad_json_get_int(msg->payload, "job", 1, INT64_MAX, &id, NULL);
    o = ad_coord_job_json(id, &state, &err);
    if (!o) {
        s_error(self, msg->identity, err.code, "%s", err.msg);
        return;
    }
    json_decref(o);
    if (!strcmp(state, "PENDING")) {
        ad_sched_remove_job(self->sched, id);
        if (ad_coord_job_set(id, "CANCELLED", "cancelled by a user", INT32_MIN, &err)) {
            s_error(self, msg->identity, err.code, "%s", err.msg);
            return;
        }
        state = "CANCELLED";
        ad_log(AD_LOG_INFO, "job %lld cancelled", (long long)id);
    } else if (!ad_coord_state_is_final(state)) {
        s_error(self, msg->identity, AD_EINVAL,
                "job %lld is %s: cancelling a started job is not supported yet", (long long)id,
                state);
        return;
    }
    s_send(self->client, msg->identity, "OK",
           json_pack("{s:I s:s}", "job", (json_int_t)id, "state", state));
}

static int
s_on_client(zloop_t *loop, zsock_t *sock, void *arg)
{
    coord_t *self = arg;
    ad_msg_t msg = {0};
    ad_err_t err = {0};
    int rc;

    rc = ad_proto_recv(sock, 0, &msg, &err);
    if (rc == -ETIMEDOUT || rc == -EINTR)
        return 0;
    if (rc) {
        ad_log(AD_LOG_WARN, "%s", err.msg);
        if (msg.identity)
            s_error(self, msg.identity, AD_EPEER, "%s", err.msg);
        goto out;
    }
    switch (msg.type) {
    case AD_PROTO_NODES:
        s_send(sock, msg.identity, "OK",
               json_pack("{s:o}", "nodes", ad_registry_to_json(self->reg)));
        break;
    case AD_PROTO_SUBMIT:
        s_submit(self, &msg);
        break;
    case AD_PROTO_STATUS:
        s_status(self, &msg);
        break;
    case AD_PROTO_JOBS:
        s_jobs(self, &msg);
        break;
    case AD_PROTO_CANCEL:
        s_cancel(self, &msg);
        break;
    case AD_PROTO_LOGS:
        s_error(self, msg.identity, AD_EINVAL, "LOGS: the coordinator does not run jobs yet");
        break;
    case AD_PROTO_SHUTDOWN:
        s_send(sock, msg.identity, "OK", json_object());
        ad_log(AD_LOG_INFO, "SHUTDOWN requested");
        self->exit_code = S_EXIT_OK;
        break;
    default:
        s_error(self, msg.identity, AD_EPEER, "%s is not a client request",
                ad_proto_type_name(msg.type));
        break;
    }
out:
    ad_msg_clear(&msg);
    return self->exit_code >= 0 ? -1 : 0;
}

/* ---- metrics, timers, signals ---------------------------------------------------------- */

static int
s_on_metric(zloop_t *loop, zsock_t *sock, void *arg)
{
    ad_msg_t msg = {0};
    ad_err_t err = {0};

    if (ad_proto_recv(sock, 0, &msg, &err) == 0)
        ad_log(AD_LOG_DEBUG, "METRIC ignored: the coordinator runs no jobs yet");
    ad_msg_clear(&msg);
    return 0;
}

static int
s_on_tick(zloop_t *loop, int timer_id, void *arg)
{
    coord_t *self = arg;

    ad_registry_tick(self->reg, s_now(), self->opts->heartbeat_ms / 1000.0, s_on_down, self);
    return 0;
}

static int
s_on_signal(zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    coord_t *self = arg;
    struct signalfd_siginfo si;

    if (read(self->sigfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
        return 0;
    ad_log(AD_LOG_INFO, "stopping on %s", si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
    self->exit_code = S_EXIT_OK;
    return -1;
}

static zsock_t *
s_bind(int type, const char *what, const char *endpoint)
{
    ad_err_t err = {0};
    zsock_t *s = ad_proto_listen(type, endpoint, NULL, NULL, &err);

    if (!s) {
        if (err.code == -EADDRINUSE)
            ad_log(AD_LOG_ERROR, "cannot listen for %s on %s: address in use (is another "
                   "autodistd running?)", what, endpoint);
        else
            ad_log(AD_LOG_ERROR, "cannot listen for %s on %s: %s", what, endpoint, err.msg);
    }
    return s;
}

static int
s_run(coord_t *self, sigset_t *stop_set)
{
    zmq_pollitem_t sig_item = {0};

    self->client = s_bind(ZMQ_ROUTER, "clients", self->opts->client);
    if (!self->client)
        return S_EXIT_FAIL;
    self->agents = s_bind(ZMQ_ROUTER, "agents", self->opts->agents);
    if (!self->agents)
        return S_EXIT_FAIL;
    self->metrics = s_bind(ZMQ_PULL, "metrics", self->opts->metrics);
    if (!self->metrics)
        return S_EXIT_FAIL;
    self->sigfd = signalfd(-1, stop_set, SFD_CLOEXEC);
    if (self->sigfd < 0) {
        ad_log(AD_LOG_ERROR, "cannot watch signals: %s", strerror(errno));
        return S_EXIT_FAIL;
    }
    self->loop = zloop_new();
    zloop_reader(self->loop, self->client, s_on_client, self);
    zloop_reader(self->loop, self->agents, s_on_agent, self);
    zloop_reader(self->loop, self->metrics, s_on_metric, self);
    zloop_timer(self->loop, S_TICK_MS, 0, s_on_tick, self);
    sig_item.fd = self->sigfd;
    sig_item.events = ZMQ_POLLIN;
    zloop_poller(self->loop, &sig_item, s_on_signal, self);
    ad_log(AD_LOG_INFO, "listening: clients %s, agents %s, metrics %s", self->opts->client,
           self->opts->agents, self->opts->metrics);
    while (self->exit_code < 0) {
        zloop_start(self->loop);
        if (self->exit_code < 0 && zmq_errno() != EINTR) {
            ad_log(AD_LOG_ERROR, "event loop failed: %s", zmq_strerror(zmq_errno()));
            self->exit_code = S_EXIT_FAIL;
        }
    }
    return self->exit_code;
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
    rc = s_parse(argc, argv, &o, &err);
    if (rc == 1)
        return S_EXIT_OK;
    if (rc) {
        ad_log(AD_LOG_ERROR, "%s", err.msg);
        return S_EXIT_USAGE;
    }
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGTERM);
    sigaddset(&stop_set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_set, NULL);
    zsys_handler_set(NULL);

    if (ad_home_resolve(o.home, &home, &err) || ad_home_ensure(&home, &err)) {
        ad_log(AD_LOG_ERROR, "%s", err.msg);
        ad_home_clear(&home);
        return S_EXIT_FAIL;
    }
    if (ad_coord_open(home.db, &err)) {
        ad_log(AD_LOG_ERROR, "%s", err.msg);
        ad_home_clear(&home);
        return S_EXIT_FAIL;
    }
    self.opts = &o;
    self.sigfd = -1;
    self.exit_code = -1;
    self.reg = ad_registry_new();
    self.sched = ad_sched_new();
    rc = s_run(&self, &stop_set);
    zloop_destroy(&self.loop);
    zsock_destroy(&self.client);
    zsock_destroy(&self.agents);
    zsock_destroy(&self.metrics);
    if (self.sigfd >= 0)
        close(self.sigfd);
    ad_sched_free(&self.sched);
    ad_registry_free(&self.reg);
    ad_coord_close();
    ad_home_clear(&home);
    return rc;
}
