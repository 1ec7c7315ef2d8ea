/* test_oar.c - the OAR backend of the reservations: argument vectors and OAR's messages (unit),
 * and submit, wait, nodes, oarsh, extend, attach, refusals, walltime, oardel against a real OAR
 * (scripts/oar-cluster.sh up) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ad_oar_int.h"
#include "ad_test.h"
#include "autodist/ad_resv.h"

/* ---- unit: no OAR needed ---- */

static void
t_submit_argv(void **state)
{
    (void)state;
    const char *types[] = {"deploy", "night", NULL};
    ad_resv_request_t req = {.nodes = 3,
                             .walltime_s = 3725,
                             .properties = "cluster='gros' AND disk != 'it''s'",
                             .queue = "production",
                             .types = types,
                             .project = "lab",
                             .name = "my run",
                             .start_at = "2027-01-02 03:04:05",
                             .directory = "/data/runs"};
    char **argv = NULL;
    ad_err_t err = {0};
    assert_int_equal(ad_resv_submit_argv(&req, &argv, &err), 0);
    const char *want[] = {"oarsub",
                          "-n",
                          "my run",
                          "-l",
                          "host=3,walltime=1:02:05",
                          "-p",
                          "cluster='gros' AND disk != 'it''s'",
                          "-q",
                          "production",
                          "-t",
                          "deploy",
                          "-t",
                          "night",
                          "--project=lab",
                          "-r",
                          "2027-01-02 03:04:05",
                          "-d",
                          "/data/runs",
                          "-O",
                          "/dev/null",
                          "-E",
                          "/dev/null",
                          "while true; do sleep 3600; done",
                          NULL};
    for (int i = 0; want[i]; i++)
        assert_string_equal(argv[i], want[i]);
    assert_null(argv[23]);
    ad_resv_argv_free(&argv);

    ad_resv_request_t min = {.nodes = 1, .walltime_s = 20, .command = "./train.sh 'a b'"};
    assert_int_equal(ad_resv_submit_argv(&min, &argv, &err), 0);
    assert_string_equal(argv[2], "autodist");
    assert_string_equal(argv[4], "host=1,walltime=0:00:20");
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_string_equal(argv[5], "-d");
    assert_string_equal(argv[6], cwd);                /* not $PWD, which oarsub would use */
    assert_string_equal(argv[7], "./train.sh 'a b'"); /* one word: OAR's shell reads it */
    assert_null(argv[8]);
    ad_resv_argv_free(&argv);
}

static void
t_submit_argv_refused(void **state)
{
    (void)state;
    char **argv = NULL;
    ad_err_t err = {0};
    ad_resv_request_t req = {.nodes = 0, .walltime_s = 60};
    assert_int_equal(ad_resv_submit_argv(&req, &argv, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "reservation.nodes"));
    req = (ad_resv_request_t){.nodes = 1, .walltime_s = 0};
    assert_int_equal(ad_resv_submit_argv(&req, &argv, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "reservation.walltime"));
    req = (ad_resv_request_t){.nodes = 1, .walltime_s = 60, .start_at = "tomorrow"};
    assert_int_equal(ad_resv_submit_argv(&req, &argv, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "reservation.start_at: 'tomorrow'"));
    req = (ad_resv_request_t){.backend = "pbs", .nodes = 1, .walltime_s = 60};
    assert_int_equal(ad_resv_submit_argv(&req, &argv, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "unknown backend 'pbs'"));
    assert_null(argv);
}

/* OAR's own words, as oarsub 2.5.9 prints them, become one line. */
static void
t_reason(void **state)
{
    (void)state;
    char why[256];
    ad_oar_reason("[ADMISSION RULE] Modify resource description with type constraints\n"
                  "Bad resource request (ERROR:  column \"clustre\" does not exist\n"
                  "LINE 4: ...              ('1' AND ( (type = 'default') AND ((clustre=1)\n"
                  "                                                             ^)\n"
                  "[ERROR] Oarsub failed, please verify your request syntax.\n",
                  why, sizeof why);
    assert_string_equal(why, "property clustre does not exist");
    ad_oar_reason("There are not enough resources for your request\n"
                  "[ERROR] Oarsub failed, please verify your request syntax.\n",
                  why, sizeof why);
    assert_string_equal(why, "There are not enough resources for your request");
    ad_oar_reason("[ADMISSION RULE] Error: unknown job type: bogus\n", why, sizeof why);
    assert_string_equal(why, "unknown job type: bogus");
    ad_oar_reason("\nERROR : The queue nosuch does not exist\n", why, sizeof why);
    assert_string_equal(why, "The queue nosuch does not exist");
    ad_oar_reason("[ADMISSION RULE] Modify resource description with type constraints\n"
                  "OAR_JOB_ID=38\nReservation mode: waiting validation...\n"
                  "Reservation not valid --> KO (This reservation could run at 2026-12-06 "
                  "07:47:56)\n",
                  why, sizeof why);
    assert_string_equal(why, "This reservation could run at 2026-12-06 07:47:56");
    ad_oar_reason("Bad resource request (ERROR:  syntax error at or near \"AND\")\n", why,
                  sizeof why);
    assert_string_equal(why, "Bad resource request: syntax error at or near \"AND\"");
    ad_oar_reason("", why, sizeof why);
    assert_string_equal(why, "");
}

static void
t_phase_quote_order(void **state)
{
    (void)state;
    assert_int_equal(ad_oar_phase("Waiting"), AD_RESV_WAITING);
    assert_int_equal(ad_oar_phase("toAckReservation"), AD_RESV_WAITING);
    assert_int_equal(ad_oar_phase("Launching"), AD_RESV_WAITING);
    assert_int_equal(ad_oar_phase("Running"), AD_RESV_RUNNING);
    assert_int_equal(ad_oar_phase("Finishing"), AD_RESV_ENDING);
    assert_int_equal(ad_oar_phase("Error"), AD_RESV_ENDED);
    assert_int_equal(ad_oar_phase("Terminated"), AD_RESV_ENDED);
    char *q = ad_resv_shell_quote("it's a $HOME");
    assert_string_equal(q, "'it'\\''s a $HOME'");
    free(q);
    q = ad_resv_shell_quote("node-1:/x,y");
    assert_string_equal(q, "node-1:/x,y");
    free(q);
    q = ad_resv_shell_quote("");
    assert_string_equal(q, "''");
    free(q);
    const char *hosts[] = {"node-10", "node-2", "node-1", "gros-9.nancy", "gros-10.nancy"};
    qsort(hosts, 5, sizeof *hosts, ad_resv_natural_cmp);
    const char *want[] = {"gros-9.nancy", "gros-10.nancy", "node-1", "node-2", "node-10"};
    for (int i = 0; i < 5; i++)
        assert_string_equal(hosts[i], want[i]);
}

/* The job status of an oarstat -f object: walltime and oardel ends, exit codes. */
static void
t_status_from_events(void **state)
{
    (void)state;
    json_t *job = json_pack(
        "{s:s, s:i, s:i, s:i, s:n, s:[{s:s, s:s}, {s:s, s:s}]}", "state", "Error", "walltime", 20,
        "startTime", 100, "stopTime", 135, "exit_code", "events", "type", "FRAG_JOB_REQUEST",
        "description", "User root requested to frag the job 7", "type", "WALLTIME", "description",
        "[sarko] Job [7] from 100 with 20; current time=133 (Elapsed)");
    ad_resv_status_t st;
    ad_oar_status("7", job, &st);
    assert_int_equal(st.phase, AD_RESV_ENDED);
    assert_true(st.walltime_reached);
    assert_false(st.deleted);
    assert_string_equal(st.reason, "OAR job 7 reached its walltime (0:00:20)");
    json_decref(job);
    job = json_pack("{s:s, s:i, s:[{s:s, s:s}, {s:s, s:s}]}", "state", "Terminated", "exit_code",
                    768, "events", "type", "WALLTIME", "description",
                    " walltime changed: 0:4:0 (granted: +0:1:0/pending: 0:0:0)", "type",
                    "FRAG_JOB_REQUEST", "description", "User aduser requested to frag the job 8");
    ad_oar_status("8", job, &st);
    assert_false(st.walltime_reached); /* an extension is a WALLTIME event too */
    assert_true(st.deleted);
    assert_int_equal(st.exit_code, 3);
    assert_string_equal(st.reason, "OAR job 8 was deleted by aduser (oardel)");
    json_decref(job);
    job = json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:s}]}", "state", "Error", "events", "type",
                    "SWITCH_INTO_ERROR_STATE", "description",
                    "[bipbip 9] Ask to change the job state", "type", "OUTPUT_FILES", "description",
                    "[bipbip 9] Cannot create .stdout and .stderr files in /x on the node node-2");
    ad_oar_status("9", job, &st);
    assert_false(st.deleted);
    assert_string_equal(st.reason, "OAR job 9 ended in state Error: Cannot create .stdout and "
                                   ".stderr files in /x on the node node-2");
    json_decref(job);
}

/* Without OAR on PATH, every command says so in one line. */
static void
t_not_installed(void **state)
{
    (void)state;
    char *path = ad_strdup(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    setenv("PATH", "/nonexistent-oar", 1);
    ad_resv_request_t req = {.nodes = 1, .walltime_s = 60};
    ad_resv_t *r = NULL;
    ad_err_t err = {0};
    assert_int_equal(ad_resv_submit(&req, &r, &err), -ENOENT);
    assert_null(r);
    assert_string_equal(err.msg, "OAR is not installed on this machine (oarsub: not found)");
    assert_int_equal(ad_resv_attach(NULL, "12", &r, &err), -ENOENT);
    assert_string_equal(err.msg, "OAR is not installed on this machine (oarstat: not found)");
    int n;
    assert_int_equal(ad_resv_count_hosts(&req, &n, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "(oarnodes: not found)"));
    setenv("PATH", path, 1);
    free(path);
}

/* A fake OAR command in dir: a shell script. */
static void
s_fake(const char *dir, const char *name, const char *body)
{
    char path[512], text[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(text, sizeof text, "#!/bin/sh\n%s\n", body);
    adt_write_file(path, text);
    assert_int_equal(chmod(path, 0755), 0);
}

/* OAR's commands hang when its database is down, and oarsub fails when Almighty is: both are
 * one line, within the timeout (fake commands: the shared cluster is never stopped). */
static void
t_oar_down(void **state)
{
    (void)state;
    char dir[] = "/tmp/adt-oar-fake-XXXXXX", path[600];
    assert_non_null(mkdtemp(dir));
    s_fake(dir, "oarstat",
           "echo '[IOlib] I will retry to connect to the database in 2 s'; exec sleep 30");
    s_fake(dir, "oarsub",
           "echo OAR_JOB_ID=5; echo '[ERROR] Cannot connect to executor localhost:6666. Job is "
           "killed.' >&2; exit 9");
    char *old = ad_strdup(getenv("PATH"));
    snprintf(path, sizeof path, "%s:%s", dir, old);
    setenv("PATH", path, 1);
    setenv("AUTODIST_RESV_TIMEOUT", "0.5", 1);
    ad_resv_t *r = NULL;
    ad_err_t err = {0};
    double t0 = adt_now();
    assert_int_equal(ad_resv_attach(NULL, "12", &r, &err), -ETIMEDOUT);
    assert_true(adt_now() - t0 < 5);
    assert_string_equal(err.msg, "OAR's database is unreachable: oarstat gave no answer in 0.5 s "
                                 "(OAR's server or database down? see /var/log/oar.log on the "
                                 "OAR server)");
    ad_resv_request_t req = {.nodes = 1, .walltime_s = 60};
    assert_int_equal(ad_resv_submit(&req, &r, &err), -ECONNREFUSED);
    assert_string_equal(err.msg, "OAR's server (Almighty) is unreachable: Cannot connect to "
                                 "executor localhost:6666. Job is killed");
    setenv("PATH", old, 1);
    unsetenv("AUTODIST_RESV_TIMEOUT");
    free(old);
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    assert_int_equal(system(path), 0);
}

/* Inside a job: the node file's unique hosts in its order. */
static void
t_inside(void **state)
{
    (void)state;
    char path[] = "/tmp/adt-oar-nodefile-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "node-3\nnode-3\nnode-10\nnode-10\nnode-2\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    ad_resv_t *r = NULL;
    ad_err_t err = {0};
    unsetenv("OAR_JOB_ID");
    unsetenv("OAR_NODEFILE");
    unsetenv("OAR_FILE_NODES");
    assert_int_equal(ad_resv_inside(&r, &err), -ENOENT);
    setenv("OAR_JOB_ID", "42", 1);
    setenv("OAR_NODEFILE", path, 1);
    assert_int_equal(ad_resv_inside(&r, &err), 0);
    assert_string_equal(ad_resv_id(r), "42");
    assert_string_equal(ad_resv_env(r)[0], "OAR_JOB_ID=42");
    assert_null(ad_resv_env(r)[1]);
    assert_string_equal(ad_resv_rsh_agent(r), "oarsh");
    char **hosts = NULL;
    int n = 0;
    assert_int_equal(ad_resv_nodes(r, &hosts, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(hosts[0], "node-3");
    assert_string_equal(hosts[1], "node-10");
    assert_string_equal(hosts[2], "node-2");
    ad_resv_argv_free(&hosts);
    char *cmd[] = {"echo", "a b", NULL};
    char **rv = ad_resv_remote_argv(r, "node-2", cmd);
    const char *want[] = {"oarsh", "node-2", "--", "echo", "'a b'", NULL};
    for (int i = 0; want[i]; i++)
        assert_string_equal(rv[i], want[i]);
    assert_null(rv[5]);
    ad_resv_argv_free(&rv);
    ad_resv_free(&r);
    unsetenv("OAR_JOB_ID");
    unsetenv("OAR_NODEFILE");
    unlink(path);
}

/* ---- integration: a real OAR (scripts/oar-cluster.sh up), run as its user aduser ---- */

static char s_name[64];     /* this run's job name */
static ad_resv_t *s_expiry; /* a 20 s job submitted first, checked last */

static double s_expiry_submitted;

static void
s_progress(const ad_resv_status_t *st, void *arg)
{
    (*(int *)arg)++;
    assert_true(st->state[0] != '\0');
}

/* Run argv with OAR_JOB_ID of r in the environment; its stdout into out. */
static int
s_run_with_env(ad_resv_t *r, char **argv, char *out, size_t cap)
{
    setenv("OAR_JOB_ID", ad_resv_id(r), 1);
    ad_resv_cmd_t res = {0};
    ad_err_t err = {0};
    int rc = ad_resv_cmd_run(argv, 60, &res, &err);
    unsetenv("OAR_JOB_ID");
    if (rc < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return rc;
    }
    snprintf(out, cap, "%s", res.out);
    out[strcspn(out, "\n")] = '\0';
    if (res.status != 0)
        fprintf(stderr, "%s: exit %d%s: %s\n", argv[0], res.status,
                res.timed_out ? " (timed out)" : "", res.err);
    rc = res.status;
    ad_resv_cmd_free(&res);
    return rc;
}

static int
s_setup(void **state)
{
    (void)state;
    /* OAR writes OAR.<name>.<id>.stdout in the submitting directory: one of our own */
    const char *root = adt_root_make("test_oar");
    if (!root || chdir(root) < 0)
        return -1;
    snprintf(s_name, sizeof s_name, "adt-oar-%d", (int)getpid());
    char name[80];
    snprintf(name, sizeof name, "%s-expiry", s_name);
    ad_resv_request_t req = {.nodes = 1, .walltime_s = 20, .name = name};
    ad_err_t err = {0};
    s_expiry_submitted = adt_now();
    if (ad_resv_submit(&req, &s_expiry, &err) < 0) {
        fprintf(stderr, "test_oar: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int
s_teardown(void **state)
{
    (void)state;
    ad_err_t err = {0};
    if (s_expiry)
        ad_resv_release(s_expiry, &err);
    ad_resv_free(&s_expiry);
    if (chdir("/") == 0)
        adt_root_remove();
    return 0;
}

static void
s_check_describe(ad_resv_t *r, char **hosts)
{
    ad_err_t err = {0};
    json_t *d = ad_resv_describe(r, &err);
    assert_non_null(d);
    assert_string_equal(json_string_value(json_object_get(d, "backend")), "oar");
    assert_string_equal(json_string_value(json_object_get(d, "job_id")), ad_resv_id(r));
    assert_string_equal(json_string_value(json_object_get(d, "name")), s_name);
    assert_string_equal(json_string_value(json_object_get(d, "cluster")), "local");
    assert_string_equal(json_string_value(json_object_get(d, "state")), "Running");
    assert_int_equal(json_integer_value(json_object_get(d, "walltime_s")), 300);
    assert_non_null(strstr(json_string_value(json_object_get(d, "properties")), "cluster='local'"));
    assert_non_null(strstr(json_string_value(json_object_get(d, "wanted_resources")), "host=2"));
    assert_non_null(strstr(json_string_value(json_object_get(d, "initial_request")), "oarsub"));
    assert_true(json_is_array(json_object_get(d, "types")));
    assert_true(json_is_string(json_object_get(d, "queue")));
    assert_true(json_is_integer(json_object_get(d, "submission_time")));
    assert_true(json_is_integer(json_object_get(d, "start_time")));
    assert_true(json_is_null(json_object_get(d, "exit_code")));
    json_t *ah = json_object_get(d, "assigned_hosts");
    assert_int_equal(json_array_size(ah), 2);
    assert_string_equal(json_string_value(json_array_get(ah, 0)), hosts[0]);
    assert_string_equal(json_string_value(json_array_get(ah, 1)), hosts[1]);
    json_decref(d);
}

/* Attach by name finds this run's job; a second job of the same name makes it ambiguous. */
static void
s_check_attach(ad_resv_t *r)
{
    ad_resv_t *a = NULL, *twin = NULL;
    ad_err_t err = {0};
    assert_int_equal(ad_resv_attach(NULL, s_name, &a, &err), 0);
    assert_string_equal(ad_resv_id(a), ad_resv_id(r));
    ad_resv_free(&a);
    assert_int_equal(ad_resv_attach("oar", ad_resv_id(r), &a, &err), 0);
    ad_resv_free(&a);
    assert_int_equal(ad_resv_attach(NULL, "adt-no-such-job", &a, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "'adt-no-such-job'"));
    ad_resv_request_t req = {.nodes = 1, .walltime_s = 60, .name = s_name};
    assert_int_equal(ad_resv_submit(&req, &twin, &err), 0);
    assert_int_equal(ad_resv_attach(NULL, s_name, &a, &err), -EEXIST);
    assert_null(a);
    assert_non_null(strstr(err.msg, ad_resv_id(r)));
    assert_non_null(strstr(err.msg, ad_resv_id(twin)));
    assert_int_equal(ad_resv_release(twin, &err), 0);
    ad_resv_free(&twin);
}

static void
t_submit_run_release(void **state)
{
    (void)state;
    ad_resv_request_t req = {
        .nodes = 2, .walltime_s = 300, .properties = "cluster='local'", .name = s_name};
    ad_resv_t *r = NULL;
    ad_err_t err = {0};
    ad_resv_status_t st;
    int polls = 0;
    assert_int_equal(ad_resv_submit(&req, &r, &err), 0);
    assert_string_equal(ad_resv_backend(r), "oar");
    assert_true(atoi(ad_resv_id(r)) > 0);
    assert_int_equal(ad_resv_wait(r, 60, s_progress, &polls, &st, &err), 0);
    assert_true(polls >= 1);
    assert_int_equal(st.phase, AD_RESV_RUNNING);
    assert_string_equal(st.state, "Running");

    char **hosts = NULL;
    int n = 0;
    assert_int_equal(ad_resv_nodes(r, &hosts, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_true(ad_resv_natural_cmp(&hosts[0], &hosts[1]) < 0);
    s_check_describe(r, hosts);

    /* oarsh from outside the job, with OAR_JOB_ID: the words arrive whole */
    char *hostname[] = {"hostname", NULL};
    char **rv = ad_resv_remote_argv(r, hosts[1], hostname);
    char out[512];
    assert_int_equal(s_run_with_env(r, rv, out, sizeof out), 0);
    assert_string_equal(out, hosts[1]);
    ad_resv_argv_free(&rv);
    char *words[] = {"printf", "%s|", "a b", "it's", "$HOME", NULL};
    rv = ad_resv_remote_argv(r, hosts[0], words);
    assert_int_equal(s_run_with_env(r, rv, out, sizeof out), 0);
    assert_string_equal(out, "a b|it's|$HOME|");
    ad_resv_argv_free(&rv);
    ad_resv_argv_free(&hosts);

    s_check_attach(r);

    /* this cluster allows extensions (WALLTIME_CHANGE_ENABLED): OAR grants them shortly */
    int rc = ad_resv_extend(r, 60, &err);
    if (rc == -EPERM)
        assert_non_null(strstr(err.msg, "disabled"));
    else
        assert_int_equal(rc, 0);
    for (double t0 = adt_now(); rc == 0 && adt_now() - t0 < 20; adt_sleep_ms(500)) {
        assert_int_equal(ad_resv_poll(r, &st, &err), 0);
        if (st.walltime_s == 360)
            break;
    }
    if (rc == 0)
        assert_int_equal(st.walltime_s, 360);

    assert_int_equal(ad_resv_release(r, &err), 0);
    assert_int_equal(ad_resv_release(r, &err), 0); /* idempotent */
    for (double t0 = adt_now(); adt_now() - t0 < 60; adt_sleep_ms(300)) {
        assert_int_equal(ad_resv_poll(r, &st, &err), 0);
        if (st.phase == AD_RESV_ENDED)
            break;
    }
    assert_int_equal(st.phase, AD_RESV_ENDED);
    assert_true(st.deleted);
    assert_false(st.walltime_reached);
    assert_non_null(strstr(st.reason, "was deleted by"));
    assert_non_null(strstr(st.reason, "(oardel)"));
    assert_int_equal(ad_resv_release(r, &err), 0); /* over: still 0 */
    ad_resv_free(&r);
}

/* Each refusal is one line quoting OAR's reason. */
static void
t_refused(void **state)
{
    (void)state;
    ad_resv_t *r = NULL;
    ad_err_t err = {0};
    ad_resv_request_t req = {.nodes = 1, .walltime_s = 60, .properties = "clustre='local'"};
    assert_true(ad_resv_submit(&req, &r, &err) < 0);
    assert_null(r);
    assert_string_equal(err.msg, "OAR refused the reservation: property clustre does not exist "
                                 "(oarsub exit 8)");
    req = (ad_resv_request_t){.nodes = 1, .walltime_s = 3 * 3600};
    assert_int_equal(ad_resv_submit(&req, &r, &err), -EPERM);
    assert_non_null(strstr(err.msg, "OAR refused the reservation: Walltime too big"));
    assert_null(strchr(err.msg, '\n'));
    req = (ad_resv_request_t){.nodes = 99, .walltime_s = 60};
    assert_int_equal(ad_resv_submit(&req, &r, &err), -ENOSPC);
    assert_string_equal(err.msg, "OAR refused the reservation: There are not enough resources "
                                 "for your request (oarsub exit 8)");
    req = (ad_resv_request_t){.nodes = 1, .walltime_s = 60, .queue = "nosuch"};
    assert_true(ad_resv_submit(&req, &r, &err) < 0);
    assert_non_null(strstr(err.msg, "The queue nosuch does not exist"));
    assert_int_equal(ad_resv_attach(NULL, "999999", &r, &err), -ENOENT);
    assert_string_equal(err.msg, "OAR job 999999 is unknown to oarstat");

    /* a handle on a job OAR does not know (oardel says "not the right user"): released */
    char path[] = "/tmp/adt-oar-nodefile-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "node-1\n", 7), 7);
    close(fd);
    setenv("OAR_JOB_ID", "999999", 1);
    setenv("OAR_NODEFILE", path, 1);
    assert_int_equal(ad_resv_inside(&r, &err), 0);
    unsetenv("OAR_JOB_ID");
    unsetenv("OAR_NODEFILE");
    unlink(path);
    assert_int_equal(ad_resv_release(r, &err), 0);
    ad_resv_status_t st;
    assert_int_equal(ad_resv_poll(r, &st, &err), -ENOENT);
    ad_resv_free(&r);
}

static void
t_count_hosts(void **state)
{
    (void)state;
    int n = -1, all = -1;
    ad_err_t err = {0};
    ad_resv_request_t req = {.nodes = 1, .walltime_s = 60};
    assert_int_equal(ad_resv_count_hosts(&req, &all, &err), 0);
    assert_true(all >= 1);
    req.properties = "cluster='local'";
    assert_int_equal(ad_resv_count_hosts(&req, &n, &err), 0);
    assert_int_equal(n, all);
    req.properties = "cluster IN ('nope', 'local') AND host != 'node-1'";
    assert_int_equal(ad_resv_count_hosts(&req, &n, &err), 0);
    assert_int_equal(n, all - 1);
    req.properties = "cluster='nope'";
    assert_int_equal(ad_resv_count_hosts(&req, &n, &err), 0);
    assert_int_equal(n, 0);
    req.properties = "clustre='local'";
    assert_int_equal(ad_resv_count_hosts(&req, &n, &err), -EINVAL);
    assert_string_equal(err.msg, "OAR: property clustre does not exist");
}

/* The 20 s job of s_setup: OAR kills it at its walltime, and says so. */
static void
t_walltime_reached(void **state)
{
    (void)state;
    ad_resv_status_t st = {0};
    ad_err_t err = {0};
    double t0 = adt_now();
    while (adt_now() - t0 < 90) {
        assert_int_equal(ad_resv_poll(s_expiry, &st, &err), 0);
        if (st.phase == AD_RESV_ENDED)
            break;
        adt_sleep_ms(500);
    }
    assert_int_equal(st.phase, AD_RESV_ENDED);
    assert_true(st.walltime_reached);
    assert_false(st.deleted);
    char want[96];
    snprintf(want, sizeof want, "OAR job %s reached its walltime (0:00:20)", ad_resv_id(s_expiry));
    assert_string_equal(st.reason, want);
    printf("# walltime 20 s: ended %.0f s after its start (%.1f s after submission)\n",
           (double)(st.stop_time - st.start_time), adt_now() - s_expiry_submitted);
    ad_resv_status_t w;
    assert_int_equal(ad_resv_wait(s_expiry, 5, NULL, NULL, &w, &err), -ECANCELED);
    assert_string_equal(err.msg, want);
}

/* ---- bench: submit -> Running and oardel -> ended latencies ---- */

static int
s_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int
s_bench(int runs)
{
    double up[32], down[32];
    if (runs > 32)
        runs = 32;
    for (int i = 0; i < runs; i++) {
        ad_resv_request_t req = {.nodes = 2, .walltime_s = 120, .name = "adt-oar-bench"};
        ad_resv_t *r = NULL;
        ad_resv_status_t st = {0};
        ad_err_t err = {0};
        double t0 = adt_now();
        if (ad_resv_submit(&req, &r, &err) < 0)
            return fprintf(stderr, "bench: %s\n", err.msg), 1;
        while (ad_resv_poll(r, &st, &err) == 0 && st.phase == AD_RESV_WAITING)
            adt_sleep_ms(100);
        up[i] = adt_now() - t0;
        t0 = adt_now();
        ad_resv_release(r, &err);
        while (ad_resv_poll(r, &st, &err) == 0 && st.phase != AD_RESV_ENDED)
            adt_sleep_ms(100);
        down[i] = adt_now() - t0;
        printf("run %d: job %s submit->Running %.2f s, oardel->%s %.2f s\n", i + 1, ad_resv_id(r),
               up[i], st.state, down[i]);
        ad_resv_free(&r);
    }
    qsort(up, (size_t)runs, sizeof *up, s_cmp_double);
    qsort(down, (size_t)runs, sizeof *down, s_cmp_double);
    printf("median of %d: submit->Running %.2f s, oardel->ended %.2f s\n", runs, up[runs / 2],
           down[runs / 2]);
    return 0;
}

/* Whether the local test cluster is usable (scripts/oar-cluster.sh status). */
static bool
s_cluster_up(void)
{
    char *argv[] = {AD_SOURCE_DIR "/scripts/oar-cluster.sh", "status", NULL};
    ad_resv_cmd_t res = {0};
    ad_err_t err = {0};
    bool up = ad_resv_cmd_run(argv, 60, &res, &err) == 0 && res.status == 0;
    ad_resv_cmd_free(&res);
    return up;
}

int
main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "all";
    const struct CMUnitTest units[] = {
        cmocka_unit_test(t_submit_argv),
        cmocka_unit_test(t_submit_argv_refused),
        cmocka_unit_test(t_reason),
        cmocka_unit_test(t_phase_quote_order),
        cmocka_unit_test(t_status_from_events),
        cmocka_unit_test(t_not_installed),
        cmocka_unit_test(t_inside),
        cmocka_unit_test(t_oar_down),
    };
    const struct CMUnitTest cluster[] = {
        cmocka_unit_test(t_submit_run_release),
        cmocka_unit_test(t_refused),
        cmocka_unit_test(t_count_hosts),
        cmocka_unit_test(t_walltime_reached),
    };
    int fails = 0;
    if (strcmp(mode, "unit") == 0 || strcmp(mode, "all") == 0)
        fails += cmocka_run_group_tests_name("oar_unit", units, NULL, NULL);
    if (strcmp(mode, "unit") == 0 || fails)
        return fails;
    if (!s_cluster_up()) {
        printf("oar: SKIPPED: no local OAR test cluster (run scripts/oar-cluster.sh up as "
               "root)\n");
        return 77;
    }
    if (getuid() == 0) {
        printf("oar: run as a user OAR accepts (ctest runs runuser -u aduser -- test_oar)\n");
        return 1;
    }
    if (strcmp(mode, "bench") == 0)
        return s_bench(argc > 2 ? atoi(argv[2]) : 5);
    return cmocka_run_group_tests_name("oar", cluster, s_setup, s_teardown);
}
