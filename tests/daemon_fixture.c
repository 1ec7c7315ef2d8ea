/* daemon_fixture.c - what the tests of autodistd as a program share (daemon_fixture.h) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon_fixture.h"

/* Most programs one test starts; dft_teardown() kills what is left of them. */
#define S_SPAWNED_MAX 64

char dft_home[128];
static pid_t s_spawned[S_SPAWNED_MAX];
static int s_n_spawned;
char dft_ep[3][64]; /* client, agents, metrics */

pid_t
dft_spawn(const char *const *argv, const char *log)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        FILE *f = freopen(log, "a", stderr);

        (void)f;
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    if (s_n_spawned < S_SPAWNED_MAX)
        s_spawned[s_n_spawned++] = pid;
    return pid;
}

pid_t
dft_start_daemon_with(const char *const *extra)
{
    const char *argv[32] = {AD_DAEMON_BIN, "--home",  dft_home,    "--client", dft_ep[0],
                            "--agents",    dft_ep[1], "--metrics", dft_ep[2]};
    char log[256];
    size_t n = 9;
    pid_t pid;

    for (; extra && *extra && n < 31; extra++)
        argv[n++] = *extra;
    argv[n] = NULL;
    /* Appended: a restarted coordinator's log follows the first one's. */
    snprintf(log, sizeof(log), "%s.daemon.log", dft_home);
    pid = dft_spawn(argv, log);
    usleep(300 * 1000);
    return pid;
}

pid_t
dft_start_daemon(void)
{
    return dft_start_daemon_with(NULL);
}

pid_t
dft_start_agent_at(const char *name, const char *tag, const char *address)
{
    const char *argv[] = {AD_AGENT_BIN,    "--no-bench", "--name",    name,    "--home", dft_home,
                          "--coordinator", dft_ep[1],    "--address", address, NULL};
    char log[256];

    snprintf(log, sizeof(log), "%s.%s.log", dft_home, tag);
    return dft_spawn(argv, log);
}

pid_t
dft_start_agent(const char *name, const char *tag)
{
    return dft_start_agent_at(name, tag, "127.0.0.1");
}

json_t *
dft_req(const char *type, json_t *payload, int expect_rc, ad_err_t *err)
{
    json_t *reply = NULL;
    char keys[300];
    int rc;

    /* The admin's keys, which the coordinator made in its home. */
    snprintf(keys, sizeof(keys), "%s/keys", dft_home);
    rc = ad_proto_request_secure(dft_ep[0], keys, type, payload, 3000, &reply, err);

    if (rc != expect_rc)
        fprintf(stderr, "%s: rc %d (%s)\n", type, rc, err->msg);
    assert_int_equal(rc, expect_rc);
    return reply;
}

/* State of node name in NODES, or NULL; counts its entries in *count. */
const char *
dft_node_state(const char *name, int *count)
{
    static char state[16];
    ad_err_t err = {0};
    json_t *r = dft_req("NODES", NULL, 0, &err), *n;
    size_t i;

    *count = 0;
    state[0] = 0;
    json_array_foreach(json_object_get(r, "nodes"), i, n)
    {
        if (!strcmp(json_string_value(json_object_get(n, "name")), name)) {
            (*count)++;
            snprintf(state, sizeof(state), "%s", json_string_value(json_object_get(n, "state")));
        }
    }
    json_decref(r);
    return state[0] ? state : NULL;
}

/* Each test's home and logs live under the temp root. */
int
dft_group_setup(void **st)
{
    const char *root = adt_root_make(dft_tag);

    (void)st;
    /* Programs the tests start never see the caller's ~/.autodist. */
    if (root)
        setenv("HOME", root, 1);
    return root ? 0 : -1;
}

int
dft_group_teardown(void **st)
{
    return adt_root_remove();
}

int
dft_setup(void **st)
{
    adt_fresh_path(dft_home, sizeof(dft_home), "daemon", "");
    for (int i = 0; i < 3; i++)
        adt_free_endpoint(dft_ep[i], sizeof(dft_ep[i]));
    return 0;
}

void
dft_stop(pid_t d)
{
    ad_err_t err = {0};

    json_decref(dft_req("SHUTDOWN", NULL, 0, &err));
    assert_int_equal(adt_wait(d, 3.0), 0);
}

/* Stop the daemon d (SHUTDOWN), then the agent a (SIGTERM): both exit 0. */
void
dft_stop_both(pid_t d, pid_t a)
{
    dft_stop(d);
    kill(a, SIGTERM);
    assert_int_equal(adt_wait(a, 5.0), 0);
}

/* Wait (at most about 5 s) until NODES lists node name. */
void
dft_wait_listed(const char *name)
{
    int count;

    for (int t = 0; t < 50 && !dft_node_state(name, &count); t++)
        usleep(100 * 1000);
}

/* An mlp job on synthetic data: steps steps, batch 16, the layout given. */
json_t *
dft_run_job(const char *name, int64_t steps, int ppn)
{
    json_t *j = json_pack("{s:s s:s s:{s:{s:[i,i,i] s:i s:i}} s:I s:i s:{s:i s:i s:i}}", "name",
                          name, "model", "mlp", "dataset", "synthetic", "shape", 1, 8, 8, "classes",
                          4, "samples", 256, "steps", (json_int_t)steps, "batch_size", 16, "layout",
                          "nodes", 1, "procs_per_node", ppn, "threads_per_proc", 1);

    assert_non_null(j);
    return j;
}

int64_t
dft_submit(json_t *job)
{
    ad_err_t err = {0};
    /* Held: a test may queue a job before its agents join, or one that never fits. */
    json_t *r = dft_req("SUBMIT", json_pack("{s:o s:b}", "job", job, "hold", 1), 0, &err);
    int64_t id = json_integer_value(json_object_get(r, "job"));

    json_decref(r);
    assert_true(id >= 1);
    return id;
}

/* STATUS of job id (a new reference to its object). */
json_t *
dft_status(int64_t id)
{
    ad_err_t err = {0};
    json_t *r = dft_req("STATUS", json_pack("{s:I}", "job", (json_int_t)id), 0, &err);
    json_t *j = json_incref(json_array_get(json_object_get(r, "jobs"), 0));

    json_decref(r);
    assert_non_null(j);
    return j;
}

const char *
dft_state_of(json_t *j)
{
    return json_string_value(json_object_get(j, "state"));
}

/* Poll job id until its state is one of the '|'-separated states; returns its object. */
json_t *
dft_wait_state(int64_t id, const char *states, int ms)
{
    for (int t = 0;; t += 100) {
        json_t *j = dft_status(id);
        const char *st = dft_state_of(j);
        const char *hit = strstr(states, st);
        size_t n = strlen(st);

        if (hit && (hit[n] == '|' || !hit[n]) && (hit == states || hit[-1] == '|'))
            return j;
        if (t >= ms) {
            char *dump = json_dumps(j, JSON_COMPACT);

            fail_msg("job %lld still %s after %d ms (want %s): %s", (long long)id, st, ms, states,
                     dump);
        }
        json_decref(j);
        usleep(100 * 1000);
    }
}

/* Processes of this machine whose environment names job id of this test's home. */
int
dft_job_procs(int64_t id)
{
    char cmd[512], out[32] = "";
    FILE *p;

    snprintf(cmd, sizeof(cmd),
             "grep -lzs -e '^AUTODIST_JOB=%lld$' /proc/[0-9]*/environ 2>/dev/null | "
             "xargs -r grep -lzs -e '^AUTODIST_HOME=%s$' 2>/dev/null | wc -l",
             (long long)id, dft_home);
    p = popen(cmd, "r");
    assert_non_null(p);
    if (!fgets(out, sizeof(out), p))
        out[0] = '\0';
    pclose(p);
    return atoi(out);
}
int
dft_job_signal(int64_t id, const char *prog, int sig)
{
    char cmd[768], out[32] = "";
    FILE *p;

    snprintf(cmd, sizeof(cmd),
             "grep -lzs -e '^AUTODIST_JOB=%lld$' /proc/[0-9]*/environ 2>/dev/null | "
             "xargs -r grep -lzs -e '^AUTODIST_HOME=%s$' 2>/dev/null | "
             "sed 's#/proc/\\([0-9]*\\)/environ#\\1#' | while read pid; do "
             "  case \"$(cat /proc/$pid/comm 2>/dev/null)\" in %s*) kill -%d $pid && echo;; esac; "
             "done | wc -l",
             (long long)id, dft_home, prog ? prog : "", sig);
    p = popen(cmd, "r");
    assert_non_null(p);
    if (!fgets(out, sizeof(out), p))
        out[0] = '\0';
    pclose(p);
    return atoi(out);
}

json_t *
dft_wait_step(int64_t id, int64_t step, int ms)
{
    for (int t = 0;; t += 100) {
        json_t *j = dft_status(id), *prog = json_object_get(j, "progress");

        if (prog && json_integer_value(json_object_get(prog, "step")) >= step)
            return j;
        if (t >= ms) {
            char *dump = json_dumps(j, JSON_COMPACT);

            fail_msg("job %lld not at step %lld after %d ms: %s", (long long)id, (long long)step,
                     ms, dump);
        }
        json_decref(j);
        usleep(100 * 1000);
    }
}

int
dft_teardown(void **st)
{
    char cmd[512];

    (void)st;
    for (int i = 0; i < s_n_spawned; i++)
        if (kill(s_spawned[i], SIGKILL) == 0)
            waitpid(s_spawned[i], NULL, 0);
    s_n_spawned = 0;
    /* A failed test may leave a job's processes behind: never let them load the next test. */
    snprintf(cmd, sizeof(cmd),
             "grep -lzs -e '^AUTODIST_HOME=%s$' /proc/[0-9]*/environ 2>/dev/null | "
             "sed 's#/proc/\\([0-9]*\\)/environ#\\1#' | xargs -r kill -9 2>/dev/null",
             dft_home);
    if (system(cmd) < 0)
        return -1;
    return 0;
}

void
dft_filter(void)
{
    const char *f = getenv("AD_TEST_FILTER");

    if (f && *f)
        cmocka_set_test_filter(f);
}
