/* loadgen.c - autodist-loadgen: N simulated agents in one process, to load one coordinator */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <czmq.h>
#include <jansson.h>

#include "autodist/ad_error.h"
#include "autodist/ad_rand.h"
#include "autodist/ad_log.h"
#include "autodist/ad_opt.h"
#include "autodist/ad_proc.h"
#include "autodist/ad_proto.h"
#include "autodist/ad_version.h"

#define S_EXIT_OK 0
#define S_EXIT_FAIL 1
#define S_EXIT_USAGE 2

/* Names are PREFIX + a 1-based number, zero-padded to 4 digits: sim-0001, sim-0002, ... */
#define S_NAME_PREFIX "sim-"
#define S_AGENTS_MAX 100000
/* A HELLO unanswered this long counts as lost, as in autodist-agent. */
#define S_HELLO_TIMEOUT_US ((int64_t)AD_PROTO_HEARTBEAT_MISSES * AD_PROTO_HEARTBEAT_MS * 1000)
/*
 * While a socket has no connection yet, its HELLO is retried this often, for as long as
 * a real agent's blocking send would wait (AD_PROTO_SEND_TIMEOUT_MS).
 */
#define S_SEND_RETRY_US 10000
/* Timeouts, HELLO retries and the NODES poll are looked at this often. */
#define S_HOUSEKEEPING_US 10000
/* NODES is asked this often while silent agents are waited for. */
#define S_NODES_POLL_US 50000
/* A NODES request unanswered this long is given up and asked again. */
#define S_NODES_RETRY_US 2000000
/* The silence phase gives up this long after 3 heartbeat periods. */
#define S_DETECT_SLACK_US 10000000
/* BYEs get this long to leave before the sockets close (they linger 0). */
#define S_BYE_FLUSH_MS 200
/* Ready sockets taken from epoll at once. */
#define S_EPOLL_BATCH 64

/*
 * The profile every simulated agent sends in HELLO, with its own hostname: this project's
 * development VM (profiles/dev-vm-xeon-2c.yaml, as `autodist-agent --profile --json` prints
 * it, benchmark figures included), so the coordinator parses and stores a real one.
 */
static const char s_profile_json[] =
    "{\"format\":1,\"hostname\":\"vm\",\"fingerprint\":\"af0460194a1ab267\","
    "\"source\":\"measured by autodist on vm (hwloc 2.8.0)\","
    "\"cpu\":{\"model\":\"Intel(R) Xeon(R) Processor @ 2.50GHz\",\"sockets\":1,\"cores\":2,"
    "\"pus\":2,\"numa_nodes\":1},"
    "\"caches\":{\"l1d_bytes\":32768,\"l2_bytes\":1048576,\"l3_bytes\":37486592},"
    "\"memory_bytes\":25276514304,\"gpus\":[],"
    "\"network\":[{\"name\":\"eth0\",\"kind\":\"ethernet\"}],"
    "\"core_map\":[{\"core\":0,\"socket\":0,\"numa\":0,\"pus\":[0]},"
    "{\"core\":1,\"socket\":0,\"numa\":0,\"pus\":[1]}],"
    "\"benchmarks\":{\"gemm_gflops_1core\":2.61,\"gemm_gflops_all\":2.58,"
    "\"mem_bandwidth_gbs\":22.37,\"seconds\":2.696,\"measured_at\":\"2026-11-21T06:58:34Z\","
    "\"gemm_n\":512,\"triad_mib\":256,\"estimated\":false}}";
/* memory_bytes above: the mem_total_bytes of every heartbeat. */
#define S_MEM_TOTAL 25276514304LL

/* Command line. */
typedef struct opts {
    int64_t agents;       /* --agents */
    const char *endpoint; /* --endpoint: the coordinator's agent socket */
    const char *client;   /* --client: its client socket (NODES) */
    double duration_s;    /* --duration: the steady-state window */
    double warmup_s;      /* --warmup: heartbeats before the window opens */
    double welcome_s;     /* --welcome-timeout */
    int64_t silence;      /* --silence: agents made silent after the window */
    int64_t pid;          /* --pid: the coordinator's process id; 0: CPU not measured */
    const char *keys;     /* --keys: the coordinator's HOME/keys (NULL: an --insecure one) */
    char *node_keys;      /* keys/node, which every simulated agent uses (owned) */
    bool json;            /* --json */
} opts_t;

/* Where one simulated agent stands, as autodist-agent's states plus two of our own. */
typedef enum {
    S_IDLE,    /* no session: HELLO at retry_at */
    S_HELLO,   /* HELLO sent, waiting for WELCOME or REJECT */
    S_SESSION, /* welcomed: heartbeating */
    S_SILENT,  /* stopped on purpose: sends nothing, answers nothing, socket kept open */
    S_REFUSED, /* REJECT with retry_ms 0: gone for good, as a real agent exits */
} sim_state_t;

/* One simulated agent. */
typedef struct sim {
    zsock_t *sock;         /* DEALER from ad_proto_connect(), as a real agent's */
    char name[32];         /* hostname in HELLO */
    sim_state_t state;     /* see sim_state_t */
    bool trying;           /* S_IDLE: a HELLO send is being retried until send_deadline */
    int64_t send_deadline; /* end of the current HELLO send attempt (us) */
    int64_t retry_at;      /* S_IDLE: when to try HELLO (us) */
    int backoff_ms;        /* next backoff: 1 s doubling to 32 s, reset by WELCOME */
    int64_t hello_at;      /* when the last HELLO left (us) */
    int hellos;            /* HELLOs sent */
    int64_t first_hello;   /* when the first HELLO left (us); 0 before */
    double welcome_ms;     /* last HELLO to the first WELCOME; < 0 before */
    int64_t seq;           /* last heartbeat sequence number of the session */
    int64_t last_hb;       /* when the last heartbeat left (us); 0 before */
    double detect_s;       /* S_SILENT: last heartbeat to DOWN in NODES; < 0 before */
    uint64_t rng;          /* ad_rand state for the load figures */
    bool queued;           /* in the loadgen's recheck list */
} sim_t;

/* Counters of one run. */
typedef struct counts {
    uint64_t hb_sent;       /* heartbeats sent */
    uint64_t hb_failed;     /* heartbeats that could not be sent (no connection) */
    uint64_t hellos_resent; /* HELLOs after an agent's first */
    uint64_t hello_lost;    /* HELLOs unanswered within 3 s */
    uint64_t rejects;       /* REJECTs received */
    uint64_t pings;         /* PINGs received */
    uint64_t bad;           /* malformed or unexpected messages */
    uint64_t slot_skips;    /* times the heartbeat schedule fell a whole period behind */
    int64_t max_lag;        /* latest heartbeat behind its slot (us), while measuring */
} counts_t;

/* The load generator; one thread owns it. */
typedef struct loadgen {
    const opts_t *opts;  /* command line (borrowed) */
    sim_t *sims;         /* the agents */
    size_t n;            /* number of agents */
    int epfd;            /* epoll over every socket's ZMQ_FD; data: agent index, n: client */
    size_t *recheck;     /* agents sent on since the last look at their ZMQ_EVENTS */
    size_t n_recheck;    /* entries in recheck */
    zsock_t *client;     /* DEALER to the client socket, for NODES */
    bool client_recheck; /* the client was sent on since the last look */
    json_t *profile;     /* the parsed s_profile_json */
    int64_t period;      /* heartbeat period (us), from WELCOME */
    int64_t slot_t0;     /* origin of the heartbeat slots (us) */
    int64_t slot;        /* next slot: agent slot % n is due at t0 + slot * period / n */
    int64_t next_house;  /* next housekeeping (us) */
    bool polling;        /* silence phase: ask NODES every S_NODES_POLL_US */
    int64_t nodes_asked; /* when the outstanding NODES left (us); 0: none outstanding */
    int64_t next_nodes;  /* next NODES due while polling (us) */
    int nodes_replies;   /* NODES answers received */
    double *rtt_ms;      /* round trips of the NODES asked while polling */
    size_t n_rtt;        /* entries in rtt_ms */
    size_t rtt_cap;      /* allocated entries of rtt_ms */
    size_t nodes_up;     /* sim- nodes UP in the last NODES answer */
    size_t welcomed;     /* agents welcomed at least once */
    size_t refused;      /* agents refused for good */
    char refusal[512];   /* the first refusal's reason */
    bool measuring;      /* inside the window: track heartbeat lag */
    counts_t c;          /* counters */
} loadgen_t;

static void
s_usage(FILE *fp)
{
    fprintf(fp,
            "usage: autodist-loadgen [--agents N] [--endpoint ENDPOINT] [--client ENDPOINT]\n"
            "                        [--duration S] [--warmup S] [--welcome-timeout S]\n"
            "                        [--silence K] [--pid PID] [--json]\n"
            "\n"
            "Simulate N agents in one process against one coordinator on this machine: each\n"
            "has its own DEALER, says HELLO with a distinct hostname (" S_NAME_PREFIX
            "0001, ...) and a real\n"
            "profile, then sends a HEARTBEAT every period (staggered evenly over it), and\n"
            "answers WELCOME, REJECT and PING as autodist-agent does. After a warm-up, it\n"
            "measures the coordinator's CPU over a steady-state window; then K agents fall\n"
            "silent and NODES is polled every 50 ms until it reports each of them DOWN.\n"
            "\n"
            "options:\n"
            "  --agents N              simulated agents, 1..%d (default 1000)\n"
            "  --endpoint ENDPOINT     the coordinator's agent socket (default %s)\n"
            "  --client ENDPOINT       its client socket, for NODES (default %s)\n"
            "  --duration S            steady-state window in seconds (default 30)\n"
            "  --warmup S              heartbeating before the window opens (default 3)\n"
            "  --welcome-timeout S     every agent must be welcomed within S (default 60)\n"
            "  --silence K             agents made silent after the window, 0..N (default 10,\n"
            "                          or N when fewer)\n"
            "  --pid PID               the coordinator's pid: its CPU time is read from\n"
            "                          /proc/PID/stat before and after the window\n"
            "  --keys DIR              the coordinator's key folder (its HOME/keys): agents\n"
            "                          use DIR/node, NODES the admin key DIR; without it,\n"
            "                          no CURVE (an autodistd --insecure)\n"
            "  --json                  print the results as one JSON object\n"
            "  --help, --version\n"
            "\n"
            "Endpoints must be on this machine (tcp://127.x, localhost, [::1], ipc://).\n"
            "Exit status: 0 done; 1 the coordinator is unreachable, refused an agent, did not\n"
            "welcome every agent in time or did not report every silent agent DOWN; 2 bad\n"
            "command line.\n",
            S_AGENTS_MAX, AD_PROTO_AGENT_ENDPOINT, AD_PROTO_CLIENT_ENDPOINT);
}

enum {
    OPT_AGENTS = 256, OPT_ENDPOINT, OPT_CLIENT, OPT_DURATION, OPT_WARMUP, OPT_WELCOME,
    OPT_SILENCE, OPT_PID, OPT_JSON, OPT_HELP, OPT_VERSION, OPT_KEYS,
};

/* In the order of the values above: ad_opt_getopt_error() finds names by value. */
static const struct option s_long[] = {
    {"agents", required_argument, NULL, OPT_AGENTS},
    {"endpoint", required_argument, NULL, OPT_ENDPOINT},
    {"client", required_argument, NULL, OPT_CLIENT},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {"welcome-timeout", required_argument, NULL, OPT_WELCOME},
    {"silence", required_argument, NULL, OPT_SILENCE},
    {"pid", required_argument, NULL, OPT_PID},
    {"json", no_argument, NULL, OPT_JSON},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {"keys", required_argument, NULL, OPT_KEYS},
    {NULL, 0, NULL, 0},
};

/* A load generator must never hammer a coordinator on another machine by mistake. */
static bool
s_is_local(const char *endpoint)
{
    static const char *const ok[] = {"tcp://127.", "tcp://localhost:", "tcp://[::1]:", "ipc://",
                                     NULL};

    for (int i = 0; ok[i]; i++)
        if (!strncmp(endpoint, ok[i], strlen(ok[i])))
            return true;
    return false;
}

/* Parse argv into o.  Returns 0, 1 for --help/--version (already printed), or AD_EINVAL. */
static int
s_parse(int argc, char **argv, opts_t *o, ad_err_t *err)
{
    int c, rc = 0;

    memset(o, 0, sizeof(*o));
    o->agents = 1000;
    o->endpoint = AD_PROTO_AGENT_ENDPOINT;
    o->client = AD_PROTO_CLIENT_ENDPOINT;
    o->duration_s = 30;
    o->warmup_s = 3;
    o->welcome_s = 60;
    o->silence = -1;
    opterr = 0;
    optind = 1;
    while (!rc && (c = getopt_long(argc, argv, "h", s_long, NULL)) != -1) {
        switch (c) {
        case OPT_AGENTS:
            rc = ad_opt_int("--agents", optarg, 1, S_AGENTS_MAX, 0, &o->agents, err);
            break;
        case OPT_ENDPOINT:
            o->endpoint = optarg;
            break;
        case OPT_CLIENT:
            o->client = optarg;
            break;
        case OPT_DURATION:
            rc = ad_opt_seconds("--duration", optarg, 1, 86400, 0, &o->duration_s, err);
            break;
        case OPT_WARMUP:
            rc = ad_opt_seconds("--warmup", optarg, 0, 3600, 0, &o->warmup_s, err);
            break;
        case OPT_WELCOME:
            rc = ad_opt_seconds("--welcome-timeout", optarg, 1, 3600, 0, &o->welcome_s, err);
            break;
        case OPT_SILENCE:
            rc = ad_opt_int("--silence", optarg, 0, S_AGENTS_MAX, 0, &o->silence, err);
            break;
        case OPT_PID:
            rc = ad_opt_int("--pid", optarg, 1, INT32_MAX, 0, &o->pid, err);
            break;
        case OPT_JSON:
            o->json = true;
            break;
        case OPT_KEYS:
            o->keys = optarg;
            break;
        case 'h':
        case OPT_HELP:
            s_usage(stdout);
            return 1;
        case OPT_VERSION:
            printf("autodist-loadgen %s (protocol %d)\n", AD_VERSION, AD_PROTO_VERSION);
            return 1;
        default:
            return ad_opt_getopt_error(s_long, OPT_AGENTS, argv, err);
        }
    }
    if (rc)
        return rc;
    if (optind < argc)
        return ad_err_set(err, AD_EINVAL, "unexpected argument \"%s\" (try --help)", argv[optind]);
    if (o->silence < 0)
        o->silence = o->agents < 10 ? o->agents : 10;
    if (o->silence > o->agents)
        return ad_err_set(err, AD_EINVAL, "--silence %ld is more than the %ld agents", o->silence,
                          o->agents);
    for (int i = 0; i < 2; i++)
        if (!s_is_local(i ? o->client : o->endpoint))
            return ad_err_set(err, AD_EINVAL,
                              "%s %s is not on this machine: the load generator only talks to "
                              "loopback (tcp://127.x, localhost, [::1], ipc://)",
                              i ? "--client" : "--endpoint", i ? o->client : o->endpoint);
    return 0;
}

/* ---- /proc ------------------------------------------------------------------------------ */

static double
s_self_cpu(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* ---- one simulated agent ---------------------------------------------------------------- */

/*
 * ZMQ_FD only signals edges: a send may take in the command that announced an incoming
 * message, and then the descriptor stays quiet with the message waiting.  So after every
 * send the socket's ZMQ_EVENTS is looked at again (s_serve(), s_drain_agent()).
 */
static void
s_recheck(loadgen_t *self, sim_t *sim)
{
    if (sim->queued)
        return;
    sim->queued = true;
    self->recheck[self->n_recheck++] = (size_t)(sim - self->sims);
}

/* No session: HELLO after the backoff, which then doubles (autodist-agent's s_backoff). */
static void
s_backoff(sim_t *sim, int64_t now)
{
    sim->state = S_IDLE;
    sim->trying = false;
    sim->retry_at = now + (int64_t)sim->backoff_ms * 1000;
    sim->backoff_ms *= 2;
    if (sim->backoff_ms > AD_PROTO_RECONNECT_MAX_MS)
        sim->backoff_ms = AD_PROTO_RECONNECT_MAX_MS;
}

/* HELLO with this agent's name and the shared profile. Returns what ad_proto_send() does. */
static int
s_send_hello(loadgen_t *self, sim_t *sim, ad_err_t *err)
{
    json_t *profile, *hello;

    profile = json_copy(self->profile);
    if (!profile)
        ad_oom(0);
    json_object_set_new(profile, "hostname", json_string(sim->name));
    hello =
        json_pack("{s:i, s:s, s:s, s:I, s:o}", "protocol", AD_PROTO_VERSION, "hostname", sim->name,
                  "version", AD_VERSION, "pid", (json_int_t)getpid(), "profile", profile);
    if (!hello)
        ad_oom(0);
    return ad_proto_send(sim->sock, NULL, "HELLO", hello, err);
}

static void
s_try_hello(loadgen_t *self, sim_t *sim, int64_t now)
{
    ad_err_t err = {0};
    int rc;

    if (!sim->trying) {
        sim->trying = true;
        sim->send_deadline = now + (int64_t)AD_PROTO_SEND_TIMEOUT_MS * 1000;
    }
    /* With immediate set, POLLOUT means a live connection: no HELLO built in vain. */
    if (zsock_events(sim->sock) & ZMQ_POLLOUT)
        rc = s_send_hello(self, sim, &err);
    else
        rc = ad_err_set(&err, -EAGAIN, "no connection to %s", self->opts->endpoint);
    s_recheck(self, sim);
    if (rc == 0) {
        sim->trying = false;
        sim->state = S_HELLO;
        sim->hello_at = zclock_usecs();
        if (!sim->first_hello) {
            sim->first_hello = sim->hello_at;
            ad_log(AD_LOG_DEBUG, "%s: connected, HELLO sent", sim->name);
        }
        if (sim->hellos++ > 0)
            self->c.hellos_resent++;
        return;
    }
    /* No connection yet: a real agent's send would block up to its send timeout. */
    if (rc == -EAGAIN && now < sim->send_deadline) {
        sim->retry_at = now + S_SEND_RETRY_US;
        return;
    }
    ad_log(AD_LOG_DEBUG, "%s: HELLO not sent: %s", sim->name, err.msg);
    s_backoff(sim, now);
}

static void
s_send_heartbeat(loadgen_t *self, sim_t *sim, int64_t now)
{
    double cpu = 0.05 + 0.9 * ad_rand_uniform(&sim->rng);
    double mem = 0.2 + 0.5 * ad_rand_uniform(&sim->rng);
    ad_err_t err = {0};
    json_t *hb;
    int rc;

    hb = json_pack("{s:I, s:{s:f, s:I, s:I}, s:[]}", "seq", (json_int_t)++sim->seq, "load", "cpu",
                   cpu, "mem_used_bytes", (json_int_t)(mem * (double)S_MEM_TOTAL),
                   "mem_total_bytes", (json_int_t)S_MEM_TOTAL, "running");
    if (!hb)
        ad_oom(0);
    rc = ad_proto_send(sim->sock, NULL, "HEARTBEAT", hb, &err);
    s_recheck(self, sim);
    if (rc) {
        /* The session is lost, as for a real agent: HELLO again after 1 s. */
        self->c.hb_failed++;
        ad_log(AD_LOG_DEBUG, "%s: HEARTBEAT not sent: %s", sim->name, err.msg);
        sim->backoff_ms = AD_PROTO_RECONNECT_MS;
        s_backoff(sim, now);
        return;
    }
    sim->last_hb = zclock_usecs();
    self->c.hb_sent++;
}

static void
s_on_welcome(loadgen_t *self, sim_t *sim, const json_t *payload, int64_t now)
{
    int64_t hb_ms = AD_PROTO_HEARTBEAT_MS;

    if (sim->state != S_HELLO) {
        self->c.bad++;
        return;
    }
    ad_doc_json_get_int(payload, "heartbeat_ms", 100, 60000, &hb_ms, NULL);
    if (hb_ms * 1000 != self->period) {
        /* One coordinator, one period: take it and restart the slots from now. */
        self->period = hb_ms * 1000;
        self->slot_t0 = now;
        self->slot = 0;
    }
    sim->state = S_SESSION;
    sim->seq = 0;
    sim->backoff_ms = AD_PROTO_RECONNECT_MS;
    if (sim->welcome_ms < 0) {
        sim->welcome_ms = (double)(now - sim->hello_at) / 1000.0;
        self->welcomed++;
    }
}

static void
s_on_reject(loadgen_t *self, sim_t *sim, const json_t *payload, int64_t now)
{
    const char *reason = "";
    int64_t retry_ms = 0;

    self->c.rejects++;
    ad_doc_json_get_string(payload, "reason", 1, 512, &reason, NULL);
    ad_doc_json_get_int(payload, "retry_ms", 0, 3600000, &retry_ms, NULL);
    if (retry_ms == 0) {
        if (!self->refused++)
            snprintf(self->refusal, sizeof(self->refusal), "%s: %s", sim->name, reason);
        sim->state = S_REFUSED;
        return;
    }
    ad_log(AD_LOG_DEBUG, "%s: refused (%s); HELLO again in %" PRId64 " ms", sim->name, reason,
           retry_ms);
    sim->state = S_IDLE;
    sim->trying = false;
    sim->retry_at = now + retry_ms * 1000;
}

/* Everything queued on one agent's socket. */
static void
s_drain_agent(loadgen_t *self, sim_t *sim)
{
    ad_proto_msg_t msg = {0};
    ad_err_t err = {0};
    int64_t now;
    int rc;

    while (zsock_events(sim->sock) & ZMQ_POLLIN) {
        rc = ad_proto_recv(sim->sock, 0, &msg, &err);
        if (rc == -ETIMEDOUT || rc == -EINTR)
            return;
        now = zclock_usecs();
        if (rc) {
            self->c.bad++;
            ad_log(AD_LOG_WARN, "%s: %s; dropped", sim->name, err.msg);
        } else if (sim->state == S_SILENT || sim->state == S_REFUSED) {
            /* A hung agent reads nothing. */
        } else if (msg.type == AD_PROTO_WELCOME) {
            s_on_welcome(self, sim, msg.payload, now);
        } else if (msg.type == AD_PROTO_REJECT) {
            s_on_reject(self, sim, msg.payload, now);
        } else if (msg.type == AD_PROTO_PING) {
            self->c.pings++;
            if (sim->state == S_SESSION)
                s_send_heartbeat(self, sim, now);
        } else if (msg.type != AD_PROTO_KILL) {
            /* KILL is reserved and ignored, as by autodist-agent. */
            self->c.bad++;
        }
        ad_proto_msg_clear(&msg);
    }
}

/* ---- the schedule ---------------------------------------------------------------------- */

static int64_t
s_slot_due(const loadgen_t *self)
{
    return self->slot_t0 + self->slot * self->period / (int64_t)self->n;
}

/* Send every heartbeat whose slot has come: agent i's slots are t0 + (k + i/n) periods. */
static void
s_heartbeats(loadgen_t *self, int64_t now)
{
    int64_t due;

    while ((due = s_slot_due(self)) <= now) {
        sim_t *sim;

        if (now - due > self->period) {
            /* Stopped for a whole period (a suspended process): pick up at now, no burst. */
            self->slot = (now - self->slot_t0) * (int64_t)self->n / self->period + 1;
            self->c.slot_skips++;
            continue;
        }
        sim = &self->sims[self->slot % (int64_t)self->n];
        if (sim->state == S_SESSION) {
            s_send_heartbeat(self, sim, now);
            if (self->measuring && now - due > self->c.max_lag)
                self->c.max_lag = now - due;
        }
        self->slot++;
    }
}

/* HELLOs due, HELLOs unanswered; cheap enough to look at every agent each time. */
static void
s_housekeeping(loadgen_t *self, int64_t now)
{
    for (size_t i = 0; i < self->n; i++) {
        sim_t *sim = &self->sims[i];

        if (sim->state == S_IDLE && sim->retry_at <= now) {
            s_try_hello(self, sim, now);
        } else if (sim->state == S_HELLO && now - sim->hello_at >= S_HELLO_TIMEOUT_US) {
            self->c.hello_lost++;
            ad_log(AD_LOG_DEBUG, "%s: no answer to HELLO in %d ms", sim->name,
                   (int)(S_HELLO_TIMEOUT_US / 1000));
            s_backoff(sim, now);
        }
    }
}

/* ---- NODES ----------------------------------------------------------------------------- */

static void
s_ask_nodes(loadgen_t *self, int64_t now)
{
    ad_err_t err = {0};

    self->client_recheck = true;
    if (ad_proto_send(self->client, NULL, "NODES", NULL, &err)) {
        ad_log(AD_LOG_DEBUG, "NODES not sent: %s", err.msg);
        return;
    }
    self->nodes_asked = now;
}

/* The agent a NODES entry names, or NULL for a node that is not one of ours. */
static sim_t *
s_sim_named(loadgen_t *self, const char *name)
{
    char *end;
    long i;

    if (!name || strncmp(name, S_NAME_PREFIX, strlen(S_NAME_PREFIX)))
        return NULL;
    name += strlen(S_NAME_PREFIX);
    errno = 0;
    i = strtol(name, &end, 10);
    if (errno || end == name || *end || i < 1 || (size_t)i > self->n)
        return NULL;
    return &self->sims[i - 1];
}

static void
s_on_nodes(loadgen_t *self, const json_t *payload, int64_t now)
{
    json_t *nodes = NULL, *node;
    size_t i, up = 0;

    if (ad_doc_json_get_array(payload, "nodes", SIZE_MAX, &nodes, NULL))
        return;
    json_array_foreach(nodes, i, node)
    {
        const char *state = json_string_value(json_object_get(node, "state"));
        sim_t *sim = s_sim_named(self, json_string_value(json_object_get(node, "name")));

        if (!sim || !state)
            continue;
        if (!strcmp(state, "UP"))
            up++;
        else if (!strcmp(state, "DOWN") && sim->state == S_SILENT && sim->detect_s < 0)
            sim->detect_s = (double)(now - sim->last_hb) / 1e6;
    }
    self->nodes_up = up;
    self->nodes_replies++;
}

static void
s_drain_client(loadgen_t *self)
{
    ad_proto_msg_t msg = {0};
    ad_err_t err = {0};

    while (zsock_events(self->client) & ZMQ_POLLIN) {
        int rc = ad_proto_recv(self->client, 0, &msg, &err);
        int64_t now = zclock_usecs();

        if (rc == -ETIMEDOUT || rc == -EINTR)
            return;
        if (self->polling && self->nodes_asked) {
            if (self->n_rtt == self->rtt_cap) {
                self->rtt_cap = self->rtt_cap ? 2 * self->rtt_cap : 256;
                self->rtt_ms = ad_realloc(self->rtt_ms, self->rtt_cap * sizeof(*self->rtt_ms));
            }
            self->rtt_ms[self->n_rtt++] = (double)(now - self->nodes_asked) / 1000.0;
        }
        self->nodes_asked = 0;
        if (rc)
            ad_log(AD_LOG_WARN, "answer to NODES: %s", err.msg);
        else if (msg.type == AD_PROTO_OK)
            s_on_nodes(self, msg.payload, now);
        else
            ad_log(AD_LOG_WARN, "NODES refused by the coordinator at %s", self->opts->client);
        ad_proto_msg_clear(&msg);
    }
}

/* ---- the loop -------------------------------------------------------------------------- */

typedef bool(s_done_fn)(const loadgen_t *self);

static int64_t
s_min(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* Look again at every socket sent on since the last time (s_recheck()). */
static void
s_rechecks(loadgen_t *self)
{
    /* Draining may send (a PING's heartbeat) and queue more: take from the end. */
    while (self->n_recheck > 0) {
        sim_t *sim = &self->sims[self->recheck[--self->n_recheck]];

        sim->queued = false;
        s_drain_agent(self, sim);
    }
    if (self->client_recheck) {
        self->client_recheck = false;
        s_drain_client(self);
    }
}

/*
 * Serve every agent until until (us) or until done says so: heartbeats at their slots,
 * answers as they come, HELLO retries and timeouts, NODES while polling.  One epoll over
 * every socket's ZMQ_FD sleeps until the next thing due; it only returns the sockets with
 * news, where zmq_poll() would poll and query all of them on each of the ~1000 wakeups a
 * second (about 70 % of a core for 1000 agents).  Returns 0, -EINTR on SIGINT, or -errno.
 */
static int
s_serve(loadgen_t *self, int64_t until, s_done_fn *done)
{
    struct epoll_event ev[S_EPOLL_BATCH];

    while (!zsys_interrupted) {
        int64_t now = zclock_usecs(), next;
        int timeout_ms;
        int rc;

        if ((done && done(self)) || now >= until)
            return 0;
        s_heartbeats(self, now);
        if (now >= self->next_house) {
            s_housekeeping(self, now);
            self->next_house = now + S_HOUSEKEEPING_US;
        }
        if (self->polling && now >= self->next_nodes) {
            if (!self->nodes_asked || now - self->nodes_asked > S_NODES_RETRY_US)
                s_ask_nodes(self, now);
            self->next_nodes = now + S_NODES_POLL_US;
        }
        s_rechecks(self);
        next = s_min(until, s_min(s_slot_due(self), self->next_house));
        if (self->polling)
            next = s_min(next, self->next_nodes);
        now = zclock_usecs();
        timeout_ms = next > now ? (int)((next - now + 999) / 1000) : 0;
        rc = epoll_wait(self->epfd, ev, S_EPOLL_BATCH, timeout_ms);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            ad_log(AD_LOG_ERROR, "epoll_wait failed: %s", strerror(errno));
            return -errno;
        }
        for (int i = 0; i < rc; i++) {
            size_t at = (size_t)ev[i].data.u64;

            if (at < self->n)
                s_drain_agent(self, &self->sims[at]);
            else
                s_drain_client(self);
        }
    }
    return -EINTR;
}

static bool
s_all_welcomed(const loadgen_t *self)
{
    return self->welcomed == self->n || self->refused > 0;
}

static bool
s_nodes_answered(const loadgen_t *self)
{
    return self->nodes_asked == 0;
}

static bool
s_all_detected(const loadgen_t *self)
{
    for (size_t i = 0; i < self->n; i++)
        if (self->sims[i].state == S_SILENT && self->sims[i].detect_s < 0)
            return false;
    return true;
}

/* ---- setup and teardown ---------------------------------------------------------------- */

/* Room for n agents: two descriptors each (TCP, mailbox) and ZeroMQ's socket cap. */
static int
s_raise_limits(size_t n, ad_err_t *err)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)(2 * n + 128);

    if (getrlimit(RLIMIT_NOFILE, &rl))
        return ad_err_set(err, -errno, "cannot read RLIMIT_NOFILE: %s", strerror(errno));
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl))
        return ad_err_set(err, -errno, "cannot raise RLIMIT_NOFILE to %llu: %s",
                          (unsigned long long)rl.rlim_max, strerror(errno));
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
        return ad_err_set(err, -EMFILE,
                          "%zu agents need about %llu file descriptors; the hard limit is %llu "
                          "(ulimit -Hn)",
                          n, (unsigned long long)need, (unsigned long long)rl.rlim_cur);
    /* Before the first socket: zsys_init() hands the cap to the ZeroMQ context. */
    zsys_set_max_sockets(n + 64);
    return 0;
}

/* Add sock's ZMQ_FD to the epoll set, tagged at. */
static int
s_watch(loadgen_t *self, zsock_t *sock, size_t at, ad_err_t *err)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = at};

    if (epoll_ctl(self->epfd, EPOLL_CTL_ADD, zsock_fd(sock), &ev))
        return ad_err_set(err, -errno, "epoll_ctl: %s", strerror(errno));
    return 0;
}

static int
s_open(loadgen_t *self, ad_err_t *err)
{
    json_error_t jerr;

    self->n = (size_t)self->opts->agents;
    self->profile = json_loads(s_profile_json, 0, &jerr);
    if (!self->profile)
        return ad_err_set(err, AD_EPARSE, "built-in profile: %s", jerr.text);
    self->period = (int64_t)AD_PROTO_HEARTBEAT_MS * 1000;
    self->sims = ad_calloc(self->n, sizeof(*self->sims));
    self->recheck = ad_calloc(self->n, sizeof(*self->recheck));
    self->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (self->epfd < 0)
        return ad_err_set(err, -errno, "epoll_create1: %s", strerror(errno));
    for (size_t i = 0; i < self->n; i++) {
        sim_t *sim = &self->sims[i];

        sim->sock =
            ad_proto_connect(ZMQ_DEALER, self->opts->endpoint, self->opts->node_keys, err);
        if (!sim->sock)
            return err->code;
        /*
         * One process serves them all: a socket with no connection yet must not stall the
         * others for a real agent's 1 s send timeout; s_try_hello() retries instead.
         */
        zsock_set_sndtimeo(sim->sock, 0);
        snprintf(sim->name, sizeof(sim->name), S_NAME_PREFIX "%04zu", i + 1);
        sim->backoff_ms = AD_PROTO_RECONNECT_MS;
        sim->welcome_ms = -1;
        sim->detect_s = -1;
        sim->rng = i;
        if (s_watch(self, sim->sock, i, err))
            return err->code;
    }
    self->client = zsock_new(ZMQ_DEALER);
    if (!self->client)
        return ad_err_set(err, -ENOMEM, "cannot create a ZeroMQ socket: %s",
                          zmq_strerror(zmq_errno()));
    zsock_set_linger(self->client, 0);
    zsock_set_sndtimeo(self->client, 0);
    zsock_set_maxmsgsize(self->client, AD_PROTO_MAX_PAYLOAD);
    if (self->opts->keys && ad_proto_secure_client(self->client, self->opts->keys, err))
        return err->code;
    if (zsock_connect(self->client, "%s", self->opts->client) < 0)
        return ad_err_set(err, AD_EINVAL, "cannot connect to %s: %s", self->opts->client,
                          zmq_strerror(zmq_errno()));
    return s_watch(self, self->client, self->n, err);
}

/* BYE from every agent still in session, as autodist-agent says on SIGTERM, then close. */
static void
s_close(loadgen_t *self)
{
    bool said_bye = false;

    for (size_t i = 0; self->sims && i < self->n; i++) {
        sim_t *sim = &self->sims[i];

        if (sim->sock && sim->state == S_SESSION) {
            ad_proto_send(sim->sock, NULL, "BYE",
                          json_pack("{s:s}", "reason", "load generator done"), NULL);
            said_bye = true;
        }
    }
    if (said_bye)
        zclock_sleep(S_BYE_FLUSH_MS);
    for (size_t i = 0; self->sims && i < self->n; i++)
        zsock_destroy(&self->sims[i].sock);
    zsock_destroy(&self->client);
    if (self->epfd >= 0)
        close(self->epfd);
    self->epfd = -1;
    free(self->sims);
    free(self->recheck);
    free(self->rtt_ms);
    self->rtt_ms = NULL;
    json_decref(self->profile);
    self->sims = NULL;
    self->recheck = NULL;
    self->profile = NULL;
}

/* ---- results --------------------------------------------------------------------------- */

/* Figures of the whole run, for printing. */
typedef struct results {
    size_t welcomed;       /* agents welcomed */
    double hellos_all_s;   /* start to the last agent's first HELLO (its connection up) */
    double welcome_all_s;  /* start to the last agent's first WELCOME */
    double welcome_med_ms; /* HELLO-to-WELCOME latency, median */
    double welcome_max_ms; /* and maximum */
    double window_s;       /* length of the steady-state window */
    double coord_cpu_s;    /* coordinator utime+stime over the window; NAN: not measured */
    double coord_cpu_pct;  /* the same as % of one core */
    double coord_rss_mib;  /* coordinator RSS at the end of the window; NAN: not measured */
    double self_cpu_pct;   /* this process's CPU over the window, % of one core */
    uint64_t hb_window;    /* heartbeats sent in the window */
    double hb_per_s;       /* hb_window / window_s */
    counts_t c;            /* counters over the window */
    size_t nodes_up;       /* sim- nodes UP in NODES at the end of the window */
    size_t silent;         /* agents made silent */
    size_t detected;       /* of which NODES reported DOWN */
    double det_min_s, det_med_s, det_max_s; /* last heartbeat to DOWN */
    double rtt_med_ms, rtt_max_ms;          /* NODES round trips while polling */
} results_t;

static int
s_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Minimum, median and maximum of v[0..n); v is sorted.  NAN for n == 0. */
static void
s_stats(double *v, size_t n, double *min, double *med, double *max)
{
    if (n == 0) {
        *min = *med = *max = NAN;
        return;
    }
    qsort(v, n, sizeof(*v), s_cmp_double);
    *min = v[0];
    *max = v[n - 1];
    *med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static json_t *
s_num(double v, int decimals)
{
    double scale = pow(10, decimals);

    return isnan(v) ? json_null() : json_real(round(v * scale) / scale);
}

static void
s_print_json(const loadgen_t *self, const results_t *r)
{
    char *text;
    json_t *o = json_pack(
        "{s:i, s:s, s:i, s:o, s:o, s:I, s:{s:o, s:o}, s:o, s:o, s:o, s:o, s:I, s:o, s:I, s:I, s:I, "
        "s:I, s:o, s:o, s:i, s:i, s:i, s:{s:o, s:o, s:o}, s:i, s:{s:o, s:o}}",
        "agents", (int)self->n, "endpoint", self->opts->endpoint, "welcomed", (int)r->welcomed,
        "hellos_all_s", s_num(r->hellos_all_s, 3), "welcome_all_s", s_num(r->welcome_all_s, 3),
        "hellos_resent", (json_int_t)r->c.hellos_resent, "welcome_ms", "median",
        s_num(r->welcome_med_ms, 2), "max", s_num(r->welcome_max_ms, 2), "window_s",
        s_num(r->window_s, 3), "coord_cpu_s", s_num(r->coord_cpu_s, 2), "coord_cpu_pct",
        s_num(r->coord_cpu_pct, 2), "coord_rss_mib", s_num(r->coord_rss_mib, 1), "heartbeats",
        (json_int_t)r->hb_window, "heartbeats_per_s", s_num(r->hb_per_s, 1), "heartbeats_failed",
        (json_int_t)r->c.hb_failed, "rejects", (json_int_t)r->c.rejects, "pings",
        (json_int_t)r->c.pings, "bad_messages", (json_int_t)r->c.bad, "max_lag_ms",
        s_num(r->c.max_lag / 1000.0, 2), "loadgen_cpu_pct", s_num(r->self_cpu_pct, 2), "nodes_up",
        (int)r->nodes_up, "silent", (int)r->silent, "detected", (int)r->detected, "detect_s", "min",
        s_num(r->det_min_s, 3), "median", s_num(r->det_med_s, 3), "max", s_num(r->det_max_s, 3),
        "nodes_poll_ms", (int)(S_NODES_POLL_US / 1000), "nodes_rtt_ms", "median",
        s_num(r->rtt_med_ms, 2), "max", s_num(r->rtt_max_ms, 2));

    if (!o)
        ad_oom(0);
    text = json_dumps(o, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    json_decref(o);
    if (!text)
        ad_oom(0);
    printf("%s\n", text);
    free(text);
}

static void
s_print_text(const loadgen_t *self, const results_t *r)
{
    printf("autodist-loadgen: %zu simulated agents against %s\n", self->n, self->opts->endpoint);
    printf("agents welcomed:          %zu / %zu (all within %.2f s; every HELLO sent within "
           "%.2f s, %" PRIu64 " resent)\n",
           r->welcomed, self->n, r->welcome_all_s, r->hellos_all_s, r->c.hellos_resent);
    printf("HELLO -> WELCOME:         median %.1f ms, max %.1f ms\n", r->welcome_med_ms,
           r->welcome_max_ms);
    if (isnan(r->coord_cpu_pct))
        printf("coordinator CPU:          not measured (give --pid)\n");
    else
        printf("coordinator CPU:          %.2f %% of one core (%.2f s user+sys over %.1f s), "
               "RSS %.1f MiB\n",
               r->coord_cpu_pct, r->coord_cpu_s, r->window_s, r->coord_rss_mib);
    printf("heartbeats:               %.1f /s (%" PRIu64 " in %.1f s; %" PRIu64 " failed, %" PRIu64
           " REJECTs, %" PRIu64 " PINGs, max %.1f ms behind schedule)\n",
           r->hb_per_s, r->hb_window, r->window_s, r->c.hb_failed, r->c.rejects, r->c.pings,
           r->c.max_lag / 1000.0);
    printf("nodes UP after the window: %zu / %zu (NODES)\n", r->nodes_up, self->n);
    printf("load generator CPU:       %.2f %% of one core\n", r->self_cpu_pct);
    if (r->silent == 0)
        printf("silent agents:            none (--silence 0)\n");
    else
        printf("silent agent DOWN after:  min %.3f s, median %.3f s, max %.3f s (%zu of %zu "
               "seen DOWN; NODES polled every %d ms, round trip median %.1f ms, max %.1f ms)\n",
               r->det_min_s, r->det_med_s, r->det_max_s, r->detected, r->silent,
               (int)(S_NODES_POLL_US / 1000), r->rtt_med_ms, r->rtt_max_ms);
}

/* ---- phases ---------------------------------------------------------------------------- */

/* HELLO from every agent at once (a cluster coming up), until all are welcomed. */
static int
s_phase_welcome(loadgen_t *self, results_t *r, ad_err_t *err)
{
    double *lat;
    double min;
    int64_t start = zclock_usecs();
    int rc;

    self->slot_t0 = start;
    for (size_t i = 0; i < self->n; i++)
        s_try_hello(self, &self->sims[i], start);
    self->next_house = start + S_HOUSEKEEPING_US;
    rc = s_serve(self, start + (int64_t)(self->opts->welcome_s * 1e6), s_all_welcomed);
    if (rc)
        return ad_err_set(err, rc, "interrupted");
    if (self->refused)
        return ad_err_set(err, AD_EPEER, "the coordinator refused %zu agent%s for good (%s)",
                          self->refused, self->refused == 1 ? "" : "s", self->refusal);
    if (self->welcomed < self->n)
        return ad_err_set(err, -ETIMEDOUT,
                          "only %zu of %zu agents were welcomed by the coordinator at %s within "
                          "%g s",
                          self->welcomed, self->n, self->opts->endpoint, self->opts->welcome_s);
    r->welcomed = self->welcomed;
    r->welcome_all_s = (double)(zclock_usecs() - start) / 1e6;
    for (size_t i = 0; i < self->n; i++)
        if (self->sims[i].first_hello - start > (int64_t)(r->hellos_all_s * 1e6))
            r->hellos_all_s = (double)(self->sims[i].first_hello - start) / 1e6;
    lat = ad_malloc(self->n * sizeof(*lat));
    for (size_t i = 0; i < self->n; i++)
        lat[i] = self->sims[i].welcome_ms;
    s_stats(lat, self->n, &min, &r->welcome_med_ms, &r->welcome_max_ms);
    free(lat);
    return 0;
}

/* Warm-up, then the steady-state window with the coordinator's CPU read around it. */
static int
s_phase_window(loadgen_t *self, results_t *r, ad_err_t *err)
{
    double cpu0 = 0, cpu1 = 0, self0, self1;
    int64_t t0, t1;
    counts_t c0;
    int rc;

    rc = s_serve(self, zclock_usecs() + (int64_t)(self->opts->warmup_s * 1e6), NULL);
    if (rc)
        return ad_err_set(err, rc, "interrupted");
    r->coord_cpu_s = r->coord_cpu_pct = r->coord_rss_mib = NAN;
    if (self->opts->pid && (rc = ad_proc_cpu_seconds(self->opts->pid, &cpu0)))
        return ad_err_set(err, rc, "cannot read the CPU time of process %ld: %s", self->opts->pid,
                          ad_strerror(rc));
    self0 = s_self_cpu();
    c0 = self->c;
    self->c.max_lag = 0;
    self->measuring = true;
    t0 = zclock_usecs();
    rc = s_serve(self, t0 + (int64_t)(self->opts->duration_s * 1e6), NULL);
    t1 = zclock_usecs();
    self->measuring = false;
    if (rc)
        return ad_err_set(err, rc, "interrupted");
    if (self->opts->pid) {
        rc = ad_proc_cpu_seconds(self->opts->pid, &cpu1);
        if (rc)
            return ad_err_set(err, rc,
                              "process %ld (the coordinator) went away during the "
                              "window: %s",
                              self->opts->pid, ad_strerror(rc));
        r->coord_rss_mib = ad_proc_rss_mib(self->opts->pid);
    }
    self1 = s_self_cpu();
    r->window_s = (double)(t1 - t0) / 1e6;
    if (self->opts->pid) {
        r->coord_cpu_s = cpu1 - cpu0;
        r->coord_cpu_pct = 100.0 * r->coord_cpu_s / r->window_s;
    }
    r->self_cpu_pct = 100.0 * (self1 - self0) / r->window_s;
    r->c = self->c;
    r->c.hb_sent -= c0.hb_sent;
    r->c.hb_failed -= c0.hb_failed;
    r->c.rejects -= c0.rejects;
    r->c.pings -= c0.pings;
    r->c.bad -= c0.bad;
    r->c.hellos_resent = self->c.hellos_resent;
    r->hb_window = r->c.hb_sent;
    r->hb_per_s = (double)r->hb_window / r->window_s;

    /* Outside the window: is every agent UP as the coordinator sees it? */
    s_ask_nodes(self, zclock_usecs());
    rc = s_serve(self, zclock_usecs() + 5000000, s_nodes_answered);
    if (rc)
        return ad_err_set(err, rc, "interrupted");
    if (!s_nodes_answered(self))
        return ad_err_set(err, -ETIMEDOUT, "no answer to NODES from %s in 5 s", self->opts->client);
    r->nodes_up = self->nodes_up;
    return 0;
}

/* K agents spread over the period fall silent; NODES is polled until each shows DOWN. */
static int
s_phase_silence(loadgen_t *self, results_t *r, ad_err_t *err)
{
    size_t k = (size_t)self->opts->silence, got = 0;
    double *det, limit_s, min;
    int64_t start;
    int rc;

    r->silent = 0;
    r->det_min_s = r->det_med_s = r->det_max_s = NAN;
    r->rtt_med_ms = r->rtt_max_ms = NAN;
    if (k == 0)
        return 0;
    for (size_t j = 0; j < k; j++) {
        sim_t *sim = &self->sims[j * self->n / k];

        if (sim->state == S_SESSION && sim->last_hb) {
            sim->state = S_SILENT;
            r->silent++;
        }
    }
    start = zclock_usecs();
    limit_s = (double)(AD_PROTO_HEARTBEAT_MISSES * self->period + S_DETECT_SLACK_US) / 1e6;
    self->polling = true;
    self->next_nodes = start;
    rc = s_serve(self, start + (int64_t)(limit_s * 1e6), s_all_detected);
    self->polling = false;
    if (rc)
        return ad_err_set(err, rc, "interrupted");
    det = ad_malloc(self->n * sizeof(*det));
    for (size_t i = 0; i < self->n; i++)
        if (self->sims[i].state == S_SILENT && self->sims[i].detect_s >= 0)
            det[got++] = self->sims[i].detect_s;
    r->detected = got;
    s_stats(det, got, &r->det_min_s, &r->det_med_s, &r->det_max_s);
    free(det);
    s_stats(self->rtt_ms, self->n_rtt, &min, &r->rtt_med_ms, &r->rtt_max_ms);
    if (got < r->silent)
        return ad_err_set(err, -ETIMEDOUT,
                          "%zu of %zu silent agents were not reported DOWN by NODES within "
                          "%.1f s",
                          r->silent - got, r->silent, limit_s);
    return 0;
}

int
main(int argc, char **argv)
{
    loadgen_t self = {0};
    results_t r = {0};
    ad_err_t err = {0};
    json_t *reply = NULL;
    opts_t o;
    int rc, exit_code = S_EXIT_FAIL;

    ad_log_init("autodist-loadgen", AD_LOG_WARN);
    rc = s_parse(argc, argv, &o, &err);
    if (rc == 1)
        return S_EXIT_OK;
    if (rc) {
        ad_log(AD_LOG_ERROR, "%s", err.msg);
        return S_EXIT_USAGE;
    }
    if (s_raise_limits((size_t)o.agents, &err)) {
        ad_log(AD_LOG_ERROR, "%s", err.msg);
        return S_EXIT_FAIL;
    }
    /* Unreachable coordinator: one line and out, before a thousand sockets are made. */
    if (ad_proto_request_secure(o.client, o.keys, "NODES", NULL, AD_PROTO_REQUEST_TIMEOUT_MS,
                                &reply, &err)) {
        ad_log(AD_LOG_ERROR, "%s", err.msg);
        return S_EXIT_FAIL;
    }
    if (o.keys) {
        o.node_keys = ad_malloc(strlen(o.keys) + sizeof("/node"));
        sprintf(o.node_keys, "%s/node", o.keys);
    }
    json_decref(reply);
    self.opts = &o;
    self.epfd = -1;
    if (s_open(&self, &err) || s_phase_welcome(&self, &r, &err) ||
        s_phase_window(&self, &r, &err)) {
        ad_log(AD_LOG_ERROR, "%s", err.msg);
        goto out_close;
    }
    rc = s_phase_silence(&self, &r, &err);
    if (rc == -EINTR) {
        ad_log(AD_LOG_ERROR, "%s", err.msg);
        goto out_close;
    }
    if (o.json)
        s_print_json(&self, &r);
    else
        s_print_text(&self, &r);
    fflush(stdout);
    if (rc) {
        ad_log(AD_LOG_ERROR, "%s", err.msg);
        goto out_close;
    }
    exit_code = S_EXIT_OK;
out_close:
    s_close(&self);
    free(o.node_keys);
    return exit_code;
}
