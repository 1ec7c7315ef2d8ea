/* ad_cli_resv.c - work on a reservation: reserve or attach, wait, start the agents, end, release */
#include "ad_cli_resv.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "autodist/ad_log.h"
#include "autodist/ad_proc.h"
#include "autodist/ad_proto.h"

/* How long the reservation's agents have to say HELLO once started. */
#define S_AGENTS_UP_S 120.0
/* How often a running reservation is polled while its work runs. */
#define S_WATCH_S 2.0
/* Backoff of the wait for Running: 0.5 s doubling to 10 s. */
#define S_WAIT_FIRST_S 0.5
#define S_WAIT_MAX_S 10.0
/* After a release, how long to wait for the batch job's end (for its stop time in the record). */
#define S_OVER_WAIT_S 15.0

/* The batch system's name for messages: "OAR". */
static const char *
s_system(const ad_cli_resv_t *s)
{
    return !strcmp(ad_resv_backend(s->resv), "oar") ? "OAR" : ad_resv_backend(s->resv);
}

void
ad_cli_resv_request(const ad_job_resv_t *r, const char *const *types, ad_resv_request_t *req)
{
    memset(req, 0, sizeof(*req));
    req->backend = r->backend;
    req->nodes = r->nodes;
    req->walltime_s = r->walltime_s;
    req->properties = r->properties;
    req->queue = r->queue;
    req->types = types;
    req->project = r->project;
    req->name = r->name;
    req->start_at = r->start_at;
}

void
ad_cli_resv_default_name(ad_job_resv_t *r, const char *work)
{
    char name[AD_JOB_NAME_MAX + 16];

    if (r->name || r->job)
        return;
    snprintf(name, sizeof(name), "autodist-%s", work);
    r->name = ad_strdup(name);
}

/* "10:42:05" (today) or "2026-12-07 10:42" for an epoch time; "?" for 0. */
static const char *
s_when(int64_t t, char *buf, size_t cap)
{
    time_t now = time(NULL), tt = (time_t)t;
    struct tm tm, today;

    if (t <= 0)
        return "unknown";
    localtime_r(&tt, &tm);
    localtime_r(&now, &today);
    strftime(buf, cap,
             tm.tm_yday == today.tm_yday && tm.tm_year == today.tm_year ? "%H:%M:%S"
                                                                       : "%Y-%m-%d %H:%M",
             &tm);
    return buf;
}

/* Say where the reservation stands when that changed since the last line. */
static void
s_progress(ad_cli_resv_t *s, const ad_resv_status_t *st)
{
    char line[600], when[32];

    bool sched = !strcmp(st->state, "Waiting") && st->scheduled_start > 0;

    snprintf(line, sizeof(line), "%s job %s (%s): %s%s%s", s_system(s),
             ad_resv_id(s->resv), s->pool, st->state, sched ? ", scheduled start " : "",
             sched ? s_when(st->scheduled_start, when, sizeof(when)) : "");
    if (!strcmp(line, s->last_line))
        return;
    snprintf(s->last_line, sizeof(s->last_line), "%s", line);
    fprintf(stderr, "autodist: %s\n", line);
}

/* Submit the request, or attach to the job it names, or to an unfinished one of its name. */
static int
s_reserve(ad_cli_resv_t *s, const ad_job_resv_t *r)
{
    ad_resv_status_t st;
    ad_resv_request_t req;
    ad_err_t err = {0};
    int rc;

    if (r->job) {
        if (ad_resv_attach(r->backend, r->job, &s->resv, &err))
            return ad_cli_fail(AD_CLI_EXIT_ERROR, "reservation.job %s: %s", r->job, err.msg);
        /* The user's own batch job: used, never released by autodist. */
        s->keep = true;
        s->yours = true;
        fprintf(stderr, "autodist: attached to %s job %s\n", s_system(s),
                ad_resv_id(s->resv));
        return 0;
    }
    /* One that an earlier autodist submitted (and was stopped while waiting) is taken again. */
    rc = ad_resv_attach(r->backend, r->name, &s->resv, &err);
    if (rc == 0 && (ad_resv_poll(s->resv, &st, &err) || st.phase >= AD_RESV_ENDING)) {
        /* The last one, on its way out (a sweep's previous reservation): a new one. */
        ad_resv_free(&s->resv);
        ad_err_clear(&err);
        rc = -ENOENT;
    }
    if (rc == 0) {
        fprintf(stderr, "autodist: attached to %s job %s (%s), submitted earlier\n",
                s_system(s), ad_resv_id(s->resv), r->name);
        return 0;
    }
    if (rc != -ENOENT)
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "reservation %s: %s", r->name, err.msg);
    ad_err_clear(&err);
    ad_cli_resv_request(r, (const char *const *)r->types, &req);
    if (ad_resv_submit(&req, &s->resv, &err))
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", err.msg);
    s->submitted = true;
    fprintf(stderr, "autodist: submitted %s job %s (%s)\n", s_system(s),
            ad_resv_id(s->resv), r->name);
    return 0;
}

/* Wait for Running with backoff; Ctrl-C leaves the batch job queued, to be attached again. */
static int
s_wait_running(ad_cli_resv_t *s)
{
    double delay = S_WAIT_FIRST_S;
    ad_resv_status_t st;
    ad_err_t err = {0};

    for (;;) {
        if (ad_resv_poll(s->resv, &st, &err))
            return ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", err.msg);
        s_progress(s, &st);
        s->st = st;
        if (st.start_time > 0 && st.walltime_s > 0)
            s->ends_at = st.start_time + st.walltime_s;
        if (st.phase == AD_RESV_RUNNING)
            return 0;
        if (st.phase != AD_RESV_WAITING)
            return ad_cli_fail(AD_CLI_EXIT_ERROR, "%s job %s ended before it ran: %s",
                               s_system(s), ad_resv_id(s->resv),
                               st.reason[0] ? st.reason : st.state);
        if (!ad_cli_sleep(delay) || ad_cli_interrupted)
            return ad_cli_fail(AD_CLI_EXIT_INTERRUPTED,
                               "stopped waiting: %s job %s (%s) stays queued; run the same "
                               "command again to attach to it, or `autodist reservation release "
                               "%s`",
                               s_system(s), ad_resv_id(s->resv), s->pool,
                               ad_resv_id(s->resv));
        delay = delay * 2 > S_WAIT_MAX_S ? S_WAIT_MAX_S : delay * 2;
    }
}

/* Whether host resolves to a loopback address (the local test cluster's fake nodes). */
static bool
s_loopback_ip(const char *host, char *ip, size_t cap)
{
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
    bool loop = false;

    if (getaddrinfo(host, NULL, &hints, &res) == 0 && res) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)res->ai_addr;

        loop = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
        inet_ntop(AF_INET, &in->sin_addr, ip, (socklen_t)cap);
    }
    if (res)
        freeaddrinfo(res);
    return loop;
}

/*
 * The coordinator's agent endpoint as the reservation's nodes reach it: the
 * one `autodist up` recorded, a wildcard host replaced by this machine's name.
 * A loopback endpoint only reaches nodes on this machine.
 */
static int
s_agent_endpoint(ad_cli_resv_t *s, ad_cli_t *cli, bool nodes_local)
{
    char *rec = ad_cli_recorded_endpoint(cli, "agents"), host[256] = "";
    const char *ep = rec ? rec : AD_PROTO_AGENT_ENDPOINT, *colon;
    int rc = 0;

    if (!strncmp(ep, "tcp://0.0.0.0:", 14) || !strncmp(ep, "tcp://*:", 8)) {
        colon = strrchr(ep, ':');
        gethostname(host, sizeof(host) - 1);
        snprintf(s->agent_ep, sizeof(s->agent_ep), "tcp://%s%s", host, colon);
    } else if (!nodes_local && strstr(ep, "://127.")) {
        rc = ad_cli_fail(AD_CLI_EXIT_ERROR,
                         "the coordinator's agent socket %s is on loopback: the reservation's "
                         "nodes cannot reach it; restart it with `autodist down && autodist up "
                         "--agent-endpoint tcp://0.0.0.0:7401` (docs/grid5000.md)",
                         ep);
    } else {
        snprintf(s->agent_ep, sizeof(s->agent_ep), "%s", ep);
    }
    free(rec);
    return rc;
}

/* The last non-empty line of a file, for "the agent cannot start: ...". */
static void
s_last_line(const char *path, char *buf, size_t cap)
{
    char line[512];
    FILE *fp = fopen(path, "r");

    snprintf(buf, cap, "no message");
    if (!fp)
        return;
    while (fgets(line, sizeof(line), fp)) {
        line[strcspn(line, "\n")] = '\0';
        if (*line)
            snprintf(buf, cap, "%s", line);
    }
    fclose(fp);
}

/* Start one host's agent through the batch system's remote shell; returns its pid or -1. */
static pid_t
s_start_agent(ad_cli_resv_t *s, ad_cli_t *cli, const char *agent, int i, const char *log)
{
    const char *host = s->hosts[i];
    char ip[64] = "", *const *env = ad_resv_env(s->resv);
    const char *cmd[32];
    char **argv;
    ad_err_t err = {0};
    pid_t pid = -1;
    int n = 0;

    cmd[n++] = agent;
    cmd[n++] = "--detach";
    cmd[n++] = "--coordinator";
    cmd[n++] = s->agent_ep;
    cmd[n++] = "--name";
    cmd[n++] = host;
    cmd[n++] = "--address";
    /* Fake nodes of one machine are reached by their loopback address (docs/grid5000.md). */
    cmd[n++] = s_loopback_ip(host, ip, sizeof(ip)) ? ip : host;
    if (s->pool[0]) {
        cmd[n++] = "--pool";
        cmd[n++] = s->pool;
    }
    cmd[n++] = "--rsh";
    cmd[n++] = ad_resv_rsh_agent(s->resv);
    for (char *const *e = env; e && *e && n < 24; e++) {
        cmd[n++] = "--rsh-env";
        cmd[n++] = *e;
    }
    cmd[n++] = "--home";
    cmd[n++] = ad_cli_home(cli)->root;
    if (ad_cli_is_insecure(cli))
        cmd[n++] = "--insecure";
    cmd[n] = NULL;
    argv = ad_resv_remote_argv(s->resv, host, (char *const *)cmd);
    if (ad_proc_spawn(argv, env, log, &pid, &err)) {
        ad_cli_fail(AD_CLI_EXIT_ERROR, "%s: the agent cannot start: %s", host, err.msg);
        pid = -1;
    }
    ad_resv_argv_free(&argv);
    return pid;
}

/* Start an agent on every host at once, then wait for each start to report. */
static int
s_start_agents(ad_cli_resv_t *s, ad_cli_t *cli)
{
    char agent[PATH_MAX], dir[PATH_MAX], log[PATH_MAX + 300], why[512];
    pid_t *pids = ad_calloc((size_t)s->n_hosts, sizeof(pid_t));
    int rc = 0, status;

    if (!ad_proc_find_exe("autodist-agent", agent, sizeof(agent))) {
        free(pids);
        return ad_cli_fail(AD_CLI_EXIT_ERROR,
                           "cannot find autodist-agent next to autodist or in PATH");
    }
    snprintf(dir, sizeof(dir), "%s/reservations", ad_cli_home(cli)->logs);
    mkdir(dir, 0755);
    fprintf(stderr, "autodist: starting agents on %d node%s through %s\n", s->n_hosts,
            s->n_hosts > 1 ? "s" : "", ad_resv_rsh_agent(s->resv));
    for (int i = 0; i < s->n_hosts; i++) {
        snprintf(log, sizeof(log), "%s/%s-%s-%s.log", dir, ad_resv_backend(s->resv),
                 ad_resv_id(s->resv), s->hosts[i]);
        unlink(log);
        pids[i] = s_start_agent(s, cli, agent, i, log);
        if (pids[i] < 0)
            rc = AD_CLI_EXIT_ERROR;
    }
    for (int i = 0; i < s->n_hosts; i++) {
        if (pids[i] <= 0)
            continue;
        while (waitpid(pids[i], &status, 0) < 0 && errno == EINTR)
            ;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
            continue;
        snprintf(log, sizeof(log), "%s/%s-%s-%s.log", dir, ad_resv_backend(s->resv),
                 ad_resv_id(s->resv), s->hosts[i]);
        s_last_line(log, why, sizeof(why));
        rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "%s: the agent cannot start (%s %s): %s",
                         s->hosts[i], ad_resv_rsh_agent(s->resv),
                         WIFEXITED(status) ? "exit" : "signal",
                         why);
    }
    free(pids);
    return rc;
}

/*
 * Whether node (a NODES entry) is host's agent of this reservation: UP, in
 * its pool, and started for this batch job (its announced OAR_JOB_ID): an
 * agent of an earlier reservation of the same name may still be listed.
 */
static bool
s_is_ours(const ad_cli_resv_t *s, const json_t *node, const char *host)
{
    const char *name = ad_cli_jstr(node, "name"), *state = ad_cli_jstr(node, "state");
    const char *pool = ad_cli_jstr(node, "pool");
    const json_t *env = json_object_get(json_object_get(node, "launch"), "env");

    if (!name || strcmp(name, host) || !state || strcmp(state, "UP"))
        return false;
    if (s->pool[0] ? !pool || strcmp(pool, s->pool) : pool != NULL)
        return false;
    for (char *const *e = ad_resv_env(s->resv); e && *e; e++) {
        const char *eq = strchr(*e, '=');
        char key[64];

        if (!eq)
            continue;
        snprintf(key, sizeof(key), "%.*s", (int)(eq - *e), *e);
        if (!json_is_string(json_object_get(env, key)) ||
            strcmp(json_string_value(json_object_get(env, key)), eq + 1))
            return false;
    }
    return true;
}

/* Wait until every host's agent is UP in the pool; name the missing ones after the limit. */
static int
s_wait_agents(ad_cli_resv_t *s, ad_cli_t *cli)
{
    double until = ad_clock_now() + S_AGENTS_UP_S;
    char missing[512];
    json_t *reply = NULL, *node;
    ad_err_t err = {0};
    size_t k;

    for (;;) {
        size_t n = 0;
        int up = 0;

        missing[0] = '\0';
        if (ad_cli_request(cli, "NODES", json_object(), AD_PROTO_REQUEST_TIMEOUT_MS, &reply,
                           &err) == 0) {
            for (int i = 0; i < s->n_hosts; i++) {
                bool ok = false;

                json_array_foreach(json_object_get(reply, "nodes"), k, node)
                {
                    ok = ok || s_is_ours(s, node, s->hosts[i]);
                }
                if (ok)
                    up++;
                else if (n < sizeof(missing))
                    n += (size_t)snprintf(missing + n, sizeof(missing) - n, "%s%s", n ? ", " : "",
                                          s->hosts[i]);
            }
            json_decref(reply);
            reply = NULL;
            if (up == s->n_hosts) {
                fprintf(stderr, "autodist: %d node%s UP%s%s\n", s->n_hosts,
                        s->n_hosts > 1 ? "s" : "", s->pool[0] ? " in " : "", s->pool);
                return 0;
            }
        }
        if (ad_clock_now() > until)
            return ad_cli_fail(AD_CLI_EXIT_ERROR,
                               "the agents of %s job %s did not join the coordinator within "
                               "%.0f s: %s (see %s/reservations/)",
                               s_system(s), ad_resv_id(s->resv), S_AGENTS_UP_S,
                               missing[0] ? missing : err.msg, ad_cli_home(cli)->logs);
        if (!ad_cli_sleep(0.5) || ad_cli_interrupted)
            return ad_cli_fail(AD_CLI_EXIT_INTERRUPTED, "stopped waiting for the agents");
    }
}

int
ad_cli_resv_open(ad_cli_t *cli, const ad_job_t *job, ad_cli_resv_t *s)
{
    ad_err_t err = {0};
    int rc;

    memset(s, 0, sizeof(*s));
    s->keep = job->reservation.keep;
    ad_job_resv_pool(job, s->pool, sizeof(s->pool));
    if ((rc = s_reserve(s, &job->reservation)))
        return rc;
    ad_cli_catch_interrupt(true);
    rc = s_wait_running(s);
    ad_cli_catch_interrupt(false);
    if (rc)
        return rc;
    if (ad_resv_nodes(s->resv, &s->hosts, &s->n_hosts, &err))
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", err.msg);
    return ad_cli_resv_agents(cli, s);
}

int
ad_cli_resv_agents(ad_cli_t *cli, ad_cli_resv_t *s)
{
    char ip[64];
    bool local = true;
    int rc;

    for (int i = 0; i < s->n_hosts; i++)
        local = local && s_loopback_ip(s->hosts[i], ip, sizeof(ip));
    if ((rc = s_agent_endpoint(s, cli, local)) || (rc = s_start_agents(s, cli)))
        return rc;
    ad_cli_catch_interrupt(true);
    rc = s_wait_agents(s, cli);
    ad_cli_catch_interrupt(false);
    return rc;
}

int
ad_cli_resv_ended(ad_cli_resv_t *s, ad_resv_status_t *st)
{
    ad_err_t err = {0};

    if (ad_clock_now() < s->next_poll)
        return 0;
    s->next_poll = ad_clock_now() + S_WATCH_S;
    if (ad_resv_poll(s->resv, st, &err)) {
        ad_log(AD_LOG_WARN, "%s", err.msg);
        return 0;
    }
    s->st = *st;
    if (st->start_time > 0 && st->walltime_s > 0)
        s->ends_at = st->start_time + st->walltime_s;
    return st->phase == AD_RESV_ENDING || st->phase == AD_RESV_ENDED;
}

double
ad_cli_resv_left(const ad_cli_resv_t *s)
{
    return s->ends_at > 0 ? (double)(s->ends_at - time(NULL)) : 1e18;
}

void
ad_cli_resv_add_job(ad_cli_resv_t *s, int64_t id)
{
    s->jobs = ad_realloc(s->jobs, (s->n_jobs + 1) * sizeof(*s->jobs));
    s->jobs[s->n_jobs++] = id;
}

void
ad_cli_resv_wait_over(ad_resv_t *r, ad_resv_status_t *st)
{
    double until = ad_clock_now() + S_OVER_WAIT_S;
    ad_err_t err = {0};

    memset(st, 0, sizeof(*st));
    while (ad_resv_poll(r, st, &err) == 0 && st->phase != AD_RESV_ENDED && ad_clock_now() < until)
        ad_cli_sleep(0.5);
}

void
ad_cli_resv_close(ad_cli_t *cli, ad_cli_resv_t *s, int64_t job, int64_t sweep)
{
    ad_resv_status_t over;
    ad_err_t err = {0};

    if (s->resv && !s->keep && s->st.phase >= AD_RESV_ENDING) {
        fprintf(stderr, "autodist: %s job %s is over\n", s_system(s), ad_resv_id(s->resv));
    } else if (s->resv && !s->keep) {
        if (ad_resv_release(s->resv, &err))
            ad_log(AD_LOG_WARN, "%s", err.msg);
        else
            fprintf(stderr, "autodist: released %s job %s\n", s_system(s),
                    ad_resv_id(s->resv));
    } else if (s->resv && s->st.phase == AD_RESV_RUNNING && !s->kept_said) {
        fprintf(stderr,
                "autodist: kept %s job %s (%s) as asked (%s); `autodist reservation release "
                "%s` ends it\n",
                s_system(s), ad_resv_id(s->resv), s->pool,
                s->yours ? "reservation.job: it is yours" : "reservation.keep",
                ad_resv_id(s->resv));
    }
    /* Released is gone: others may count on the nodes (and the record gets the stop time). */
    if (s->resv && !s->keep)
        ad_cli_resv_wait_over(s->resv, &over);
    if (s->resv && (job > 0 || sweep > 0 || s->n_jobs)) {
        ad_cli_resv_record(cli, s, job, sweep);
        for (size_t i = 0; i < s->n_jobs; i++)
            ad_cli_resv_record(cli, s, s->jobs[i], 0);
    }
    free(s->jobs);
    s->jobs = NULL;
    s->n_jobs = 0;
    ad_resv_argv_free(&s->hosts);
    ad_resv_free(&s->resv);
}

/* ---- autodist submit JOB.yaml with a reservation: --------------------------------------- */

typedef struct {
    ad_cli_resv_t *s;
    bool ended; /* the reservation ended (or is about to) and the job was told */
} s_watch_t;

/* End job id as state with reason (CANCEL); a failure is only logged: the job ends anyway. */
static void
s_end_job(ad_cli_t *cli, int64_t id, const char *state, const char *reason)
{
    json_t *reply = NULL;
    ad_err_t err = {0};

    if (ad_cli_request(cli, "CANCEL",
                       json_pack("{s:I s:s s:s}", "job", (json_int_t)id, "state", state, "reason",
                                 reason),
                       AD_PROTO_REQUEST_TIMEOUT_MS, &reply, &err))
        ad_log(AD_LOG_WARN, "job %lld: %s", (long long)id, err.msg);
    json_decref(reply);
}

/* While the job runs: a reservation that ends takes the job with it, with OAR's reason. */
static int
s_watch(ad_cli_t *cli, int64_t id, const char *state, void *arg)
{
    s_watch_t *w = arg;
    ad_resv_status_t st;
    char why[400], wall[32];

    if (w->ended)
        return 0;
    if (!ad_cli_resv_ended(w->s, &st)) {
        /* Stopped before OAR kills it: the trainer writes a checkpoint on the way out. */
        if (strcmp(state, "RUNNING") || ad_cli_resv_left(w->s) > AD_CLI_RESV_MARGIN_S)
            return 0;
        snprintf(why, sizeof(why), "%s job %s reaches its walltime (%s): stopped %.0f s before",
                 s_system(w->s), ad_resv_id(w->s->resv),
                 ad_resv_walltime_text(w->s->st.walltime_s, wall, sizeof(wall)),
                 ad_cli_resv_left(w->s));
        fprintf(stderr, "\nautodist: %s\n", why);
        s_end_job(cli, id, "TIMEOUT", why);
        w->ended = true;
        return 0;
    }
    w->ended = true;
    if (!st.reason[0])
        snprintf(st.reason, sizeof(st.reason), "%s job %s ended (%s)", s_system(w->s),
                 ad_resv_id(w->s->resv), st.state);
    fprintf(stderr, "\nautodist: %s\n", st.reason);
    s_end_job(cli, id, st.walltime_reached ? "TIMEOUT" : "CANCELLED", st.reason);
    return 0;
}

int
ad_cli_resv_submit(ad_cli_t *cli, ad_job_t *job, double interval)
{
    ad_cli_resv_t s;
    s_watch_t w = {&s, false};
    json_t *spec, *reply = NULL;
    char *text;
    int64_t id = 0;
    int rc;

    /* The coordinator first: no reservation for nothing. */
    if ((rc = ad_cli_call(cli, "NODES", json_object(), &reply)))
        return rc;
    json_decref(reply);
    reply = NULL;
    ad_cli_resv_default_name(&job->reservation, job->name);
    rc = ad_cli_resv_open(cli, job, &s);
    if (rc) {
        /* Stopped while waiting: the batch job stays, to be attached again by name. */
        if (rc == AD_CLI_EXIT_INTERRUPTED)
            s.keep = true;
        ad_cli_resv_close(cli, &s, 0, 0);
        return rc;
    }
    text = ad_job_to_json(job);
    spec = json_loads(text, 0, NULL);
    free(text);
    rc = ad_cli_call(cli, "SUBMIT", json_pack("{s:o}", "job", spec), &reply);
    if (rc)
        goto out;
    id = ad_cli_jint(reply, "job", 0);
    if (!cli->json) {
        printf("submitted job %lld (%s) on %s job %s\n", (long long)id, job->name,
               s_system(&s), ad_resv_id(s.resv));
        fflush(stdout);
    }
    rc = ad_cli_wait_job(cli, id, job->name, interval, s_watch, &w);
    if (rc == AD_CLI_EXIT_INTERRUPTED) {
        /* Ctrl-C stops following, not the job: its nodes stay until it ends or are released. */
        s.keep = true;
        fprintf(stderr,
                "autodist: %s job %s stays for job %lld; `autodist reservation release %s` "
                "ends it\n",
                s_system(&s), ad_resv_id(s.resv), (long long)id, ad_resv_id(s.resv));
        s.kept_said = true;
    }
out:
    json_decref(reply);
    ad_cli_resv_close(cli, &s, id, 0);
    return rc;
}

/* The runs of a job or sweep that started in this reservation (collected, then written). */
typedef struct {
    double since;   /* runs that started before this belong to an earlier reservation */
    int64_t *ids;   /* their ids */
    size_t n, cap;  /* entries, room */
} s_rec_t;

static int
s_collect_run(const ad_run_t *run, void *arg)
{
    s_rec_t *r = arg;

    if (!(run->started >= r->since))
        return 0;
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 16;
        r->ids = ad_realloc(r->ids, r->cap * sizeof(*r->ids));
    }
    r->ids[r->n++] = run->id;
    return 0;
}

/* Give run its reservation: {backend, request, granted}, unless an earlier one has it. */
static void
s_record_run(ad_store_t *store, int64_t run, json_t *granted)
{
    json_t *rec = NULL, *resv, *value;
    char *text = NULL;

    if (ad_store_get_record(store, run, &text) || !text)
        return;
    rec = json_loads(text, 0, NULL);
    resv = json_object_get(rec, "reservation");
    if (!json_object_get(resv, "granted")) {
        value = json_pack("{s:O s:O s:O}", "backend", json_object_get(granted, "backend"),
                          "request", json_is_object(resv) ? resv : json_null(), "granted",
                          granted);
        free(text);
        text = json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(value);
        if (text && ad_store_record_merge(store, run, "reservation", text))
            ad_log(AD_LOG_WARN, "run %lld: the reservation is not recorded: %s", (long long)run,
                   ad_store_errmsg(store));
    }
    json_decref(rec);
    free(text);
}

void
ad_cli_resv_record(ad_cli_t *cli, ad_cli_resv_t *s, int64_t job, int64_t sweep)
{
    ad_run_filter_t filter = {.job = job, .sweep = sweep};
    char path[PATH_MAX + 64];
    ad_store_t *store = NULL;
    json_t *granted;
    ad_err_t err = {0};
    s_rec_t r = {0};
    const char *db;

    if (!s->resv || (job <= 0 && sweep <= 0))
        return;
    granted = ad_resv_describe(s->resv, &err);
    if (!granted) {
        ad_log(AD_LOG_WARN, "the reservation is not recorded: %s", err.msg);
        return;
    }
    /* Also beside the logs, whole, for whoever wants it without the store. */
    snprintf(path, sizeof(path), "%s/reservations/%s-%s.json", ad_cli_home(cli)->logs,
             ad_resv_backend(s->resv), ad_resv_id(s->resv));
    if (json_dump_file(granted, path, JSON_INDENT(2) | JSON_SORT_KEYS))
        ad_log(AD_LOG_WARN, "cannot write %s", path);
    r.since = s->st.start_time > 0 ? (double)s->st.start_time - 5 : 0;
    db = ad_cli_home(cli)->db;
    if (ad_store_open(db, 0, &store, &err)) {
        ad_log(AD_LOG_WARN, "the reservation is not recorded: %s", err.msg);
    } else {
        if (ad_store_each_run(store, &filter, s_collect_run, &r))
            ad_log(AD_LOG_WARN, "%s: the reservation is not recorded: %s", db,
                   ad_store_errmsg(store));
        for (size_t i = 0; i < r.n; i++)
            s_record_run(store, r.ids[i], granted);
        ad_store_close(&store);
    }
    free(r.ids);
    json_decref(granted);
}
