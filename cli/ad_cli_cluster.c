/* ad_cli_cluster.c - up, down and nodes: the embedded default (a local coordinator and agents) */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <czmq.h>

#include "ad_cli.h"
#include "ad_cli_resv.h"
#include "autodist/ad_keys.h"
#include "autodist/ad_proc.h"
#include "autodist/ad_proto.h"

/* How long `up` waits for an answer of a coordinator that may be there. */
/* up inside a batch job: the agent socket on every interface (CURVE keys from the shared home). */
#define S_INSIDE_AGENT_ENDPOINT "tcp://0.0.0.0:7401"
#define S_PROBE_MS 1000
/* How long a coordinator just started has to answer NODES. */
#define S_DAEMON_START_S 10.0
/* How long agents just started have to be UP (the first start benchmarks for ~2 s). */
#define S_AGENTS_UP_S 30.0
/* How long `down` waits for a coordinator that was told SHUTDOWN before SIGTERM. */
#define S_SHUTDOWN_WAIT_S 3.0
/* How long `down` waits for the processes after SIGTERM before SIGKILL. */
#define S_STOP_WAIT_S 15.0
/* SHUTDOWN's timeout: a coordinator that is there answers at once. */
#define S_SHUTDOWN_MS 2000
/* Simulated nodes on one machine: 127.0.0.1 .. 127.0.0.250. */
#define S_AGENTS_MAX 250

static const char s_daemon_prog[] = "autodistd";
static const char s_agent_prog[] = "autodist-agent";

/* One agent `up` or `down` handles. */
typedef struct agent_proc {
    char name[300]; /* node name (--name) */
    int k;          /* K of its address 127.0.0.K; 0 when its name does not say */
    pid_t pid;      /* process id */
    bool started;   /* started by this command (a child we may wait for) */
} agent_proc_t;

/* What up and down work with. */
typedef struct cluster {
    ad_cli_t *cli;         /* the command (borrowed) */
    const ad_home_t *home; /* the home (borrowed from cli) */
    char run[PATH_MAX];    /* HOME/run: pid files and endpoints.json */
    char host[256];        /* this machine's host name */
    agent_proc_t *agents;  /* running agents (owned) */
    size_t n_agents;       /* entries in agents */
} cluster_t;

/* ---- the cluster's files ------------------------------------------------------------------ */

static void
s_pid_path(const cluster_t *c, const char *agent, char *buf, size_t size)
{
    if (agent)
        snprintf(buf, size, "%s/agent-%s.pid", c->run, agent);
    else
        snprintf(buf, size, "%s/autodistd.pid", c->run);
}

static void
s_log_path(const cluster_t *c, const char *agent, char *buf, size_t size)
{
    if (agent)
        snprintf(buf, size, "%s/agent-%s.log", c->home->logs, agent);
    else
        snprintf(buf, size, "%s/autodistd.log", c->home->logs);
}

/* K of a node name this machine's `up` gives: HOST is 1, HOST-K is K; 0 otherwise. */
static int
s_name_k(const cluster_t *c, const char *name)
{
    size_t hl = strlen(c->host);
    char *end;
    long k;

    if (!strcmp(name, c->host))
        return 1;
    if (strncmp(name, c->host, hl) || name[hl] != '-')
        return 0;
    errno = 0;
    k = strtol(name + hl + 1, &end, 10);
    return !errno && *end == '\0' && k >= 1 && k <= S_AGENTS_MAX ? (int)k : 0;
}

static void
s_add_agent(cluster_t *c, const char *name, pid_t pid, bool started)
{
    agent_proc_t *a;

    c->agents = ad_realloc(c->agents, (c->n_agents + 1) * sizeof(*c->agents));
    a = &c->agents[c->n_agents++];
    memset(a, 0, sizeof(*a));
    snprintf(a->name, sizeof(a->name), "%s", name);
    a->k = s_name_k(c, name);
    a->pid = pid;
    a->started = started;
}

/* Fill c->agents with the agents of HOME/run/agent-*.pid that run; remove the stale files. */
static void
s_scan_agents(cluster_t *c)
{
    char path[PATH_MAX + 300], name[300];
    struct dirent *e;
    DIR *d = opendir(c->run);

    if (!d)
        return;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        pid_t pid;

        if (len <= 10 || strncmp(e->d_name, "agent-", 6) || strcmp(e->d_name + len - 4, ".pid"))
            continue;
        snprintf(name, sizeof(name), "%.*s", (int)(len - 10), e->d_name + 6);
        snprintf(path, sizeof(path), "%s/%s", c->run, e->d_name);
        pid = ad_proc_read_pid(path);
        if (ad_proc_is(pid, s_agent_prog))
            s_add_agent(c, name, pid, false);
        else
            unlink(path);
    }
    closedir(d);
}

/* The coordinator's pid from its pid file when it runs; else 0 (and the stale file goes). */
static pid_t
s_daemon_pid(const cluster_t *c)
{
    char path[PATH_MAX + 32];
    pid_t pid;

    s_pid_path(c, NULL, path, sizeof(path));
    pid = ad_proc_read_pid(path);
    if (ad_proc_is(pid, s_daemon_prog))
        return pid;
    unlink(path);
    return 0;
}

static int
s_cluster_init(cluster_t *c, ad_cli_t *cli)
{
    memset(c, 0, sizeof(*c));
    c->cli = cli;
    c->home = ad_cli_home(cli);
    if (!c->home)
        return AD_CLI_EXIT_ERROR;
    snprintf(c->run, sizeof(c->run), "%s/run", c->home->root);
    if (gethostname(c->host, sizeof(c->host) - 1) != 0 || !c->host[0])
        snprintf(c->host, sizeof(c->host), "localhost");
    return 0;
}

static void
s_cluster_clear(cluster_t *c)
{
    free(c->agents);
    c->agents = NULL;
    c->n_agents = 0;
}

/* ---- nodes ------------------------------------------------------------------------------------
 */

/* Seconds since node n was last heard of; NaN when it cannot be told. */
static double
s_seen_ago(const json_t *n)
{
    double ago = ad_cli_jnum(n, "last_seen_ago_s", NAN), t = ad_cli_jnum(n, "last_seen", NAN);

    if (!isnan(ago))
        return ago;
    if (isnan(t))
        return NAN;
    /* A unix time, or else the coordinator's monotonic clock, which is ours on one machine. */
    ago = t > 1e9 ? ad_cli_now() - t : ad_clock_now() - t;
    return ago >= -1 && ago < 1e7 ? fmax(ago, 0) : NAN;
}

static void
s_print_nodes(ad_cli_t *cli, const json_t *nodes)
{
    static const char *const headers[] = {"NAME", "STATE",     "CORES", "CPU%",
                                          "MEM",  "LAST-SEEN", "JOBS",  "HARDWARE"};
    char cores[24], cpu[24], mem[64], seen[32], jobs[256], hw[200];
    ad_cli_table_t *t = ad_cli_table_new(8, headers);
    const char *cells[8];
    size_t i, k;
    json_t *n, *j;

    /* Every node first, so a class shared by several is named for all of them. */
    json_array_foreach(nodes, i, n)
        ad_cli_hw_add_node(cli, ad_cli_jstr(n, "name"), ad_cli_jstr(n, "fingerprint"));
    json_array_foreach(nodes, i, n)
    {
        const json_t *load = ad_cli_jobj(n, "load");
        double c = ad_cli_jnum(load, "cpu", NAN), ago = s_seen_ago(n);
        double used = ad_cli_jnum(load, "mem_used_bytes", NAN);
        double total = ad_cli_jnum(load, "mem_total_bytes", NAN);
        size_t len = 0;

        snprintf(cores, sizeof(cores), "%lld", (long long)ad_cli_jint(n, "cores", 0));
        snprintf(cpu, sizeof(cpu), isnan(c) ? "-" : "%.0f%%", 100.0 * c);
        if (isnan(used) || isnan(total))
            snprintf(mem, sizeof(mem), "-");
        else
            snprintf(mem, sizeof(mem), "%.1f/%.1f GiB", used / 1073741824.0, total / 1073741824.0);
        if (isnan(ago))
            snprintf(seen, sizeof(seen), "-");
        else if (ago < 60)
            snprintf(seen, sizeof(seen), "%.0fs ago", ago);
        else if (ago < 3600)
            snprintf(seen, sizeof(seen), "%.0fm ago", floor(ago / 60));
        else
            snprintf(seen, sizeof(seen), "%.0fh ago", floor(ago / 3600));
        jobs[0] = '\0';
        json_array_foreach(json_object_get(n, "jobs"), k, j)
        {
            if (len < sizeof(jobs))
                len += (size_t)snprintf(jobs + len, sizeof(jobs) - len, "%s%lld", k ? "," : "",
                                        (long long)json_integer_value(j));
        }
        cells[0] = ad_cli_jstr(n, "name");
        cells[1] = ad_cli_jstr(n, "state");
        cells[2] = cores;
        cells[3] = cpu;
        cells[4] = mem;
        cells[5] = seen;
        cells[6] = jobs;
        cells[7] = ad_cli_hw_label_full(cli, ad_cli_jstr(n, "fingerprint"), hw, sizeof(hw));
        ad_cli_table_add(t, cells);
    }
    if (ad_cli_table_rows(t) == 0)
        printf("no nodes: start agents with `autodist up` (or autodist-agent on each node)\n");
    else
        ad_cli_table_print(t, stdout);
    ad_cli_table_free(&t);
}

int
ad_cli_nodes(ad_cli_t *cli, int argc, char **argv)
{
    json_t *reply = NULL;
    const char *arg;
    int c, rc;

    while ((c = ad_cli_getopt(cli, argc, argv, NULL, &arg)) != AD_CLI_OPT_END)
        return c == AD_CLI_OPT_HELP ? AD_CLI_EXIT_OK : AD_CLI_EXIT_USAGE;
    if (optind < argc)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "nodes: unexpected argument \"%s\"", argv[optind]);
    rc = ad_cli_call(cli, "NODES", NULL, &reply);
    if (rc)
        return rc;
    if (cli->json)
        ad_cli_print_json(reply);
    else
        s_print_nodes(cli, json_object_get(reply, "nodes"));
    json_decref(reply);
    return AD_CLI_EXIT_OK;
}

/* ---- up ---------------------------------------------------------------------------------------
 */

/* The options of `up`. */
typedef struct up_opts {
    int64_t agents;         /* --agents */
    bool agents_set;        /* --agents was given */
    bool no_bench;          /* --no-bench */
    const char *agent_ep;   /* --agent-endpoint; NULL: recorded, else the default */
    const char *metrics_ep; /* --metrics-endpoint; NULL: recorded, else the default */
    bool insecure;          /* --insecure: no CURVE keys (loopback endpoints only) */
} up_opts_t;

/* NODES within timeout_ms; 0 with *reply, or the request's code. */
static int
s_nodes(cluster_t *c, int timeout_ms, json_t **reply, ad_err_t *err)
{
    return ad_cli_request(c->cli, "NODES", NULL, timeout_ms, reply, err);
}

/* The state of node name in a NODES reply, or NULL. */
static const char *
s_node_state(const json_t *reply, const char *name)
{
    size_t i;
    json_t *n;

    json_array_foreach(json_object_get(reply, "nodes"), i, n)
    {
        const char *nn = ad_cli_jstr(n, "name");

        if (nn && !strcmp(nn, name))
            return ad_cli_jstr(n, "state");
    }
    return NULL;
}

static int
s_write_endpoints(cluster_t *c, const char *client, const char *agents, const char *metrics,
                  bool insecure)
{
    char path[PATH_MAX + 32], tmp[PATH_MAX + 40];
    json_t *doc = json_pack("{s:s s:s s:s s:b}", "client", client, "agents", agents, "metrics",
                            metrics, "insecure", insecure);
    int rc = 0;

    snprintf(path, sizeof(path), "%s/endpoints.json", c->run);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (json_dump_file(doc, tmp, JSON_INDENT(2)) != 0 || rename(tmp, path) != 0) {
        rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
    }
    json_decref(doc);
    return rc;
}

/* Stop a process we started that misbehaves: SIGTERM, then SIGKILL after 2 s. */
static void
s_kill(pid_t pid, const char *prog)
{
    kill(pid, SIGTERM);
    for (int i = 0; i < 100 && !ad_proc_gone(pid, prog); i++)
        ad_proc_sleep_ms(20);
    if (!ad_proc_gone(pid, prog)) {
        kill(pid, SIGKILL);
        ad_proc_sleep_ms(50);
        ad_proc_gone(pid, prog);
    }
}

/* Start autodistd and wait until it answers NODES; returns 0 or an exit status. */
static int
s_start_daemon(cluster_t *c, const char *client, const char *agents, const char *metrics,
               bool insecure, pid_t *pid_out)
{
    char exe[PATH_MAX], log[PATH_MAX + 32], pidfile[PATH_MAX + 32], tail[512];
    char *argv[] = {exe,        "--home",       c->home->root, "--client",      (char *)client,
                    "--agents", (char *)agents, "--metrics",   (char *)metrics,
                    insecure ? "--insecure" : NULL, NULL};
    ad_err_t err = {0};
    json_t *reply = NULL;
    double deadline;
    pid_t pid;
    int st, rc;

    if (!ad_proc_find_exe(s_daemon_prog, exe, sizeof(exe)))
        return ad_cli_fail(AD_CLI_EXIT_ERROR,
                           "cannot find %s next to autodist or in PATH: is autodist installed?",
                           s_daemon_prog);
    s_log_path(c, NULL, log, sizeof(log));
    s_pid_path(c, NULL, pidfile, sizeof(pidfile));
    if (ad_proc_spawn_detached(argv, log, &pid, &err))
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", err.msg);
    rc = ad_proc_write_pid(pidfile, pid);
    if (rc) {
        s_kill(pid, s_daemon_prog);
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "cannot write %s: %s", pidfile, strerror(-rc));
    }
    deadline = ad_clock_now() + S_DAEMON_START_S;
    for (;;) {
        if (waitpid(pid, &st, WNOHANG) == pid) {
            unlink(pidfile);
            ad_proc_last_line(log, tail, sizeof(tail));
            return ad_cli_fail(AD_CLI_EXIT_ERROR,
                               "the coordinator exited at start (status %d): %s (see %s)",
                               WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st),
                               tail[0] ? tail : "no message", log);
        }
        rc = s_nodes(c, 500, &reply, &err);
        json_decref(reply);
        reply = NULL;
        if (!rc)
            break;
        if (ad_clock_now() > deadline) {
            s_kill(pid, s_daemon_prog);
            unlink(pidfile);
            return ad_cli_fail(AD_CLI_EXIT_ERROR,
                               "the coordinator did not answer at %s within %.0f s; see %s", client,
                               S_DAEMON_START_S, log);
        }
        ad_proc_sleep_ms(100);
    }
    *pid_out = pid;
    return 0;
}

/* Start the agent called name, reached at 127.0.0.k. */
static int
s_start_agent(cluster_t *c, const up_opts_t *o, const char *agent_ep, const char *exe,
              const char *name, int k)
{
    char log[PATH_MAX + 320], pidfile[PATH_MAX + 320], addr[32];
    char *argv[14];
    ad_err_t err = {0};
    int n = 0, rc;
    pid_t pid;

    snprintf(addr, sizeof(addr), "127.0.0.%d", k);
    argv[n++] = (char *)exe;
    argv[n++] = "--coordinator";
    argv[n++] = (char *)agent_ep;
    argv[n++] = "--home";
    argv[n++] = c->home->root;
    argv[n++] = "--name";
    argv[n++] = (char *)name;
    argv[n++] = "--address";
    argv[n++] = addr;
    if (o->no_bench)
        argv[n++] = "--no-bench";
    if (o->insecure)
        argv[n++] = "--insecure";
    argv[n] = NULL;
    s_log_path(c, name, log, sizeof(log));
    s_pid_path(c, name, pidfile, sizeof(pidfile));
    if (ad_proc_spawn_detached(argv, log, &pid, &err))
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "agent %s: %s", name, err.msg);
    rc = ad_proc_write_pid(pidfile, pid);
    if (rc) {
        s_kill(pid, s_agent_prog);
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "cannot write %s: %s", pidfile, strerror(-rc));
    }
    s_add_agent(c, name, pid, true);
    c->agents[c->n_agents - 1].k = k;
    return 0;
}

/* Wait until every agent in c is UP, or one we started exits, or the deadline passes. */
static int
s_wait_agents_up(cluster_t *c, double deadline, json_t **nodes)
{
    char log[PATH_MAX + 320], tail[512], missing[1024];
    ad_err_t err = {0};
    int st;

    for (;;) {
        size_t len = 0;
        int n_missing = 0;

        for (size_t i = 0; i < c->n_agents; i++) {
            agent_proc_t *a = &c->agents[i];

            if (!a->started || waitpid(a->pid, &st, WNOHANG) != a->pid)
                continue;
            s_pid_path(c, a->name, log, sizeof(log));
            unlink(log);
            s_log_path(c, a->name, log, sizeof(log));
            ad_proc_last_line(log, tail, sizeof(tail));
            return ad_cli_fail(AD_CLI_EXIT_ERROR,
                               "agent %s exited at start (status %d): %s (see %s)", a->name,
                               WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st),
                               tail[0] ? tail : "no message", log);
        }
        json_decref(*nodes);
        *nodes = NULL;
        if (s_nodes(c, S_PROBE_MS, nodes, &err) == 0) {
            missing[0] = '\0';
            for (size_t i = 0; i < c->n_agents; i++) {
                const char *state = s_node_state(*nodes, c->agents[i].name);

                if (state && !strcmp(state, "UP"))
                    continue;
                n_missing++;
                if (len < sizeof(missing))
                    len += (size_t)snprintf(missing + len, sizeof(missing) - len, "%s%s",
                                            len ? ", " : "", c->agents[i].name);
            }
            if (n_missing == 0)
                return 0;
        } else {
            snprintf(missing, sizeof(missing), "(the coordinator does not answer: %s)", err.msg);
        }
        if (ad_clock_now() > deadline)
            return ad_cli_fail(AD_CLI_EXIT_ERROR,
                               "not UP after %.0f s: %s; see the agent logs in %s", S_AGENTS_UP_S,
                               missing, c->home->logs);
        ad_proc_sleep_ms(200);
    }
}

static bool
s_agent_running(const cluster_t *c, const char *name, int k)
{
    for (size_t i = 0; i < c->n_agents; i++)
        if (!strcmp(c->agents[i].name, name) || (k && c->agents[i].k == k))
            return true;
    return false;
}

static int
s_parse_up(ad_cli_t *cli, int argc, char **argv, up_opts_t *o)
{
    enum { OPT_AGENTS = 256, OPT_NO_BENCH, OPT_AGENT_EP, OPT_METRICS_EP, OPT_INSECURE };
    static const struct option longs[] = {
        {"agents", required_argument, NULL, OPT_AGENTS},
        {"no-bench", no_argument, NULL, OPT_NO_BENCH},
        {"insecure", no_argument, NULL, OPT_INSECURE},
        {"agent-endpoint", required_argument, NULL, OPT_AGENT_EP},
        {"metrics-endpoint", required_argument, NULL, OPT_METRICS_EP},
        {NULL, 0, NULL, 0},
    };
    const char *arg;
    int c;

    memset(o, 0, sizeof(*o));
    o->agents = 1;
    while ((c = ad_cli_getopt(cli, argc, argv, longs, &arg)) != AD_CLI_OPT_END) {
        switch (c) {
        case AD_CLI_OPT_HELP:
            return AD_CLI_OPT_HELP;
        case AD_CLI_OPT_ERROR:
            return AD_CLI_EXIT_USAGE;
        case OPT_AGENTS:
            o->agents_set = true;
            if (ad_cli_parse_int("--agents", arg, 1, S_AGENTS_MAX, &o->agents))
                return AD_CLI_EXIT_USAGE;
            break;
        case OPT_NO_BENCH:
            o->no_bench = true;
            break;
        case OPT_INSECURE:
            o->insecure = true;
            break;
        case OPT_AGENT_EP:
        case OPT_METRICS_EP:
            if (!ad_cli_endpoint_valid(arg))
                return ad_cli_fail(AD_CLI_EXIT_USAGE,
                                   "bad endpoint \"%s\": expected tcp://HOST:PORT or ipc://PATH",
                                   arg);
            if (c == OPT_AGENT_EP)
                o->agent_ep = arg;
            else
                o->metrics_ep = arg;
            break;
        }
    }
    if (optind < argc)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "up: unexpected argument \"%s\"", argv[optind]);
    return 0;
}

static void
s_up_report(const cluster_t *c, const char *client, pid_t daemon, bool daemon_started,
            json_t *nodes)
{
    size_t n_started = 0;

    for (size_t i = 0; i < c->n_agents; i++)
        n_started += c->agents[i].started;
    if (c->cli->json) {
        json_t *agents = json_array(), *doc;

        for (size_t i = 0; i < c->n_agents; i++) {
            char addr[32];

            snprintf(addr, sizeof(addr), "127.0.0.%d", c->agents[i].k);
            json_array_append_new(agents,
                                  json_pack("{s:s s:i s:o s:b}", "name", c->agents[i].name, "pid",
                                            (int)c->agents[i].pid, "address",
                                            c->agents[i].k ? json_string(addr) : json_null(),
                                            "started", c->agents[i].started));
        }
        doc = json_pack("{s:s s:{s:o s:b} s:o s:O?}", "endpoint", client, "coordinator", "pid",
                        daemon ? json_integer(daemon) : json_null(), "started", daemon_started,
                        "agents", agents, "nodes", json_object_get(nodes, "nodes"));
        ad_cli_print_json(doc);
        json_decref(doc);
        return;
    }
    if (daemon_started)
        printf("started the coordinator (pid %d) at %s; logs in %s\n", (int)daemon, client,
               c->home->logs);
    else
        printf("autodist is already up at %s\n", client);
    if (n_started) {
        size_t shown = 0;

        printf("started %zu agent%s:", n_started, n_started > 1 ? "s" : "");
        for (size_t i = 0; i < c->n_agents; i++) {
            if (!c->agents[i].started)
                continue;
            printf("%s %s (pid %d, 127.0.0.%d)", shown++ ? "," : "", c->agents[i].name,
                   (int)c->agents[i].pid, c->agents[i].k);
        }
        printf("\n");
    }
    s_print_nodes(c->cli, json_object_get(nodes, "nodes"));
}

/*
 * Keys before anything starts (the coordinator would make them too, but the
 * first NODES must find them); or, with --insecure, loopback endpoints only
 * and requests without keys.
 */
static int
s_up_security(cluster_t *c, const up_opts_t *o, const char *client, const char *agent_ep,
              const char *metrics_ep)
{
    const char *eps[] = {client, agent_ep, metrics_ep};
    ad_err_t err = {0};

    if (!o->insecure) {
        if (ad_keys_init(c->home->keys, NULL, &err))
            return ad_cli_fail(AD_CLI_EXIT_ERROR, "cannot make the CURVE keys: %s", err.msg);
        return 0;
    }
    for (int i = 0; i < 3; i++)
        if (!ad_keys_is_loopback(eps[i]))
            return ad_cli_fail(AD_CLI_EXIT_USAGE,
                               "up: --insecure is for loopback endpoints only, and %s is not: "
                               "drop --insecure (keys are made in %s)",
                               eps[i], c->home->keys);
    c->cli->insecure = true;
    fprintf(stderr, "autodist: warning: --insecure: no CURVE keys; anyone on this machine can "
            "connect, submit, cancel any job and shut the coordinator down\n");
    return 0;
}

/*
 * Inside a batch job (OAR_JOB_ID and OAR_NODEFILE set): an agent on every
 * node of the job through oarsh instead of simulated ones here, announcing
 * oarsh so that mpirun reaches the nodes the same way.  *nodes gets NODES.
 */
static int
s_up_inside(cluster_t *c, ad_resv_t **inside, json_t **nodes)
{
    ad_cli_resv_t s = {0};
    ad_err_t err = {0};
    int rc;

    s.resv = *inside;
    *inside = NULL;
    if (ad_resv_nodes(s.resv, &s.hosts, &s.n_hosts, &err)) {
        rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", err.msg);
        goto out;
    }
    fprintf(stderr, "autodist: inside %s job %s: %d node%s\n",
            !strcmp(ad_resv_backend(s.resv), "oar") ? "OAR" : ad_resv_backend(s.resv),
            ad_resv_id(s.resv), s.n_hosts, s.n_hosts > 1 ? "s" : "");
    rc = ad_cli_resv_agents(c->cli, &s);
    if (!rc && (rc = s_nodes(c, AD_PROTO_REQUEST_TIMEOUT_MS, nodes, &err)))
        rc = ad_cli_fail(ad_cli_exit_for(rc), "%s", err.msg);
out:
    ad_resv_argv_free(&s.hosts);
    ad_resv_free(&s.resv);
    return rc;
}

int
ad_cli_up(ad_cli_t *cli, int argc, char **argv)
{
    ad_resv_t *inside = NULL;
    char agent_exe[PATH_MAX];
    char *rec_agents = NULL, *rec_metrics = NULL;
    const char *client, *agent_ep, *metrics_ep;
    json_t *nodes = NULL;
    ad_err_t err = {0};
    bool daemon_started = false;
    pid_t daemon = 0;
    cluster_t c;
    up_opts_t o;
    int rc;

    rc = s_parse_up(cli, argc, argv, &o);
    if (rc)
        return rc == AD_CLI_OPT_HELP ? AD_CLI_EXIT_OK : rc;
    rc = s_cluster_init(&c, cli);
    if (rc)
        return rc;
    client = ad_cli_endpoint(cli);
    if (!client) {
        rc = AD_CLI_EXIT_USAGE;
        goto out;
    }
    if (ad_home_ensure(c.home, &err)) {
        rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", err.msg);
        goto out;
    }
    if (mkdir(c.run, 0755) < 0 && errno != EEXIST) {
        rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "cannot create %s: %s", c.run, strerror(errno));
        goto out;
    }
    rec_agents = ad_cli_recorded_endpoint(cli, "agents");
    rec_metrics = ad_cli_recorded_endpoint(cli, "metrics");
    /* In a batch job the other nodes must reach the agent socket: every interface. */
    if (!o.agents_set && ad_resv_inside(&inside, &err) == 0 && !o.agent_ep && !rec_agents)
        o.agent_ep = S_INSIDE_AGENT_ENDPOINT;
    agent_ep = o.agent_ep ? o.agent_ep : rec_agents ? rec_agents : AD_PROTO_AGENT_ENDPOINT;
    metrics_ep = o.metrics_ep ? o.metrics_ep : rec_metrics ? rec_metrics : AD_PROTO_METRIC_ENDPOINT;
    rc = s_up_security(&c, &o, client, agent_ep, metrics_ep);
    if (rc)
        goto out;

    daemon = s_daemon_pid(&c);
    if (s_nodes(&c, S_PROBE_MS, &nodes, &err) != 0) {
        char log[PATH_MAX + 32];

        if (daemon) {
            s_log_path(&c, NULL, log, sizeof(log));
            rc = ad_cli_fail(AD_CLI_EXIT_ERROR,
                             "autodistd (pid %d) runs but does not answer at %s (%s); see %s, or "
                             "stop it with `autodist down`",
                             (int)daemon, client, err.msg, log);
            goto out;
        }
        rc = s_start_daemon(&c, client, agent_ep, metrics_ep, o.insecure, &daemon);
        if (rc)
            goto out;
        daemon_started = true;
        rc = s_write_endpoints(&c, client, agent_ep, metrics_ep, o.insecure);
        if (rc)
            goto out;
    }

    if (inside) {
        rc = s_up_inside(&c, &inside, &nodes);
        if (!rc)
            s_up_report(&c, client, daemon, daemon_started, nodes);
        goto out;
    }
    s_scan_agents(&c);
    if ((int64_t)c.n_agents < o.agents) {
        size_t first_new = c.n_agents;

        if (!ad_proc_find_exe(s_agent_prog, agent_exe, sizeof(agent_exe))) {
            rc = ad_cli_fail(AD_CLI_EXIT_ERROR,
                             "cannot find %s next to autodist or in PATH: is autodist installed?",
                             s_agent_prog);
            goto out;
        }
        for (int k = 1; k <= S_AGENTS_MAX && (int64_t)c.n_agents < o.agents; k++) {
            char name[300];

            if (o.agents == 1)
                snprintf(name, sizeof(name), "%s", c.host);
            else
                snprintf(name, sizeof(name), "%s-%d", c.host, k);
            if (s_agent_running(&c, name, k))
                continue;
            rc = s_start_agent(&c, &o, agent_ep, agent_exe, name, k);
            if (rc)
                goto out;
            /*
             * The first agent benchmarks this hardware class and caches the figures; the
             * others then read the cache instead of all measuring at once on shared cores.
             */
            if (!o.no_bench && c.n_agents == first_new + 1 && (int64_t)c.n_agents < o.agents) {
                rc = s_wait_agents_up(&c, ad_clock_now() + S_AGENTS_UP_S, &nodes);
                if (rc)
                    goto out;
            }
        }
    }
    rc = s_wait_agents_up(&c, ad_clock_now() + S_AGENTS_UP_S, &nodes);
    if (rc)
        goto out;
    s_up_report(&c, client, daemon, daemon_started, nodes);
out:
    ad_resv_free(&inside);
    json_decref(nodes);
    free(rec_agents);
    free(rec_metrics);
    s_cluster_clear(&c);
    return rc;
}

/* ---- down -------------------------------------------------------------------------------------
 */

int
ad_cli_down(ad_cli_t *cli, int argc, char **argv)
{
    char path[PATH_MAX + 320];
    const char *client, *arg;
    json_t *reply = NULL;
    ad_err_t err = {0};
    bool answered, stuck = false;
    double deadline;
    pid_t daemon;
    cluster_t c;
    int opt, rc;

    while ((opt = ad_cli_getopt(cli, argc, argv, NULL, &arg)) != AD_CLI_OPT_END)
        return opt == AD_CLI_OPT_HELP ? AD_CLI_EXIT_OK : AD_CLI_EXIT_USAGE;
    if (optind < argc)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "down: unexpected argument \"%s\"", argv[optind]);
    rc = s_cluster_init(&c, cli);
    if (rc)
        return rc;
    client = ad_cli_endpoint(cli);
    if (!client) {
        s_cluster_clear(&c);
        return AD_CLI_EXIT_USAGE;
    }
    daemon = s_daemon_pid(&c);
    s_scan_agents(&c);
    rc = ad_cli_request(cli, "SHUTDOWN", NULL, S_SHUTDOWN_MS, &reply, &err);
    answered = rc == 0;
    json_decref(reply);
    /* A coordinator that refused (not the admin key, no keys): say so, stop nothing. */
    if (rc == -EACCES && !daemon) {
        s_cluster_clear(&c);
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", err.msg);
    }
    if (!answered && !daemon && c.n_agents == 0) {
        ad_cli_endpoints_retire(c.run);
        if (cli->json) {
            json_t *doc =
                json_pack("{s:b s:n s:[]}", "was_running", false, "coordinator", "agents");

            ad_cli_print_json(doc);
            json_decref(doc);
        } else {
            printf("autodist is not running\n");
        }
        s_cluster_clear(&c);
        return AD_CLI_EXIT_OK;
    }
    for (size_t i = 0; i < c.n_agents; i++)
        kill(c.agents[i].pid, SIGTERM);
    if (daemon) {
        /* SHUTDOWN makes it exit by itself; a coordinator that did not take it gets SIGTERM. */
        deadline = ad_clock_now() + (answered ? S_SHUTDOWN_WAIT_S : 0);
        while (!ad_proc_gone(daemon, s_daemon_prog) && ad_clock_now() < deadline)
            ad_proc_sleep_ms(20);
        if (!ad_proc_gone(daemon, s_daemon_prog))
            kill(daemon, SIGTERM);
    }
    deadline = ad_clock_now() + S_STOP_WAIT_S;
    for (;;) {
        bool all_gone = !daemon || ad_proc_gone(daemon, s_daemon_prog);

        for (size_t i = 0; i < c.n_agents; i++)
            all_gone = ad_proc_gone(c.agents[i].pid, s_agent_prog) && all_gone;
        if (all_gone)
            break;
        if (ad_clock_now() > deadline) {
            if (daemon && !ad_proc_gone(daemon, s_daemon_prog))
                kill(daemon, SIGKILL);
            for (size_t i = 0; i < c.n_agents; i++)
                if (!ad_proc_gone(c.agents[i].pid, s_agent_prog))
                    kill(c.agents[i].pid, SIGKILL);
            ad_proc_sleep_ms(500);
            stuck = (daemon && !ad_proc_gone(daemon, s_daemon_prog));
            for (size_t i = 0; i < c.n_agents; i++)
                stuck = stuck || !ad_proc_gone(c.agents[i].pid, s_agent_prog);
            break;
        }
        ad_proc_sleep_ms(50);
    }
    for (size_t i = 0; i < c.n_agents; i++) {
        s_pid_path(&c, c.agents[i].name, path, sizeof(path));
        unlink(path);
    }
    s_pid_path(&c, NULL, path, sizeof(path));
    unlink(path);
    ad_cli_endpoints_retire(c.run);

    if (cli->json) {
        json_t *agents = json_array(), *doc;

        for (size_t i = 0; i < c.n_agents; i++)
            json_array_append_new(agents, json_pack("{s:s s:i}", "name", c.agents[i].name, "pid",
                                                    (int)c.agents[i].pid));
        doc = json_pack("{s:b s:{s:s s:b s:o} s:o}", "was_running", true, "coordinator", "endpoint",
                        client, "answered", answered, "pid",
                        daemon ? json_integer(daemon) : json_null(), "agents", agents);
        ad_cli_print_json(doc);
        json_decref(doc);
    } else {
        if (daemon)
            printf("stopped the coordinator (pid %d)", (int)daemon);
        else if (answered)
            printf("the coordinator at %s is shutting down", client);
        else
            printf("no coordinator answered at %s", client);
        printf(" and %zu agent%s", c.n_agents, c.n_agents == 1 ? "" : "s");
        for (size_t i = 0; i < c.n_agents; i++)
            printf("%s%s", i ? ", " : " (", c.agents[i].name);
        printf("%s\n", c.n_agents ? ")" : "");
    }
    rc = AD_CLI_EXIT_OK;
    if (stuck)
        rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "some processes survived SIGKILL; see `ps` and %s",
                         c.run);
    s_cluster_clear(&c);
    return rc;
}
