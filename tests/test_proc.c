/* test_proc.c - the process helpers: spawn, environment, log tails, pid files, siblings, stray
 * ranks */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ad_test.h"
#include "autodist/ad_fault.h"
#include "autodist/ad_proc.h"

/* A fresh folder for one test (the temp root, removed by s_teardown). */
static const char *s_dir;

static int
s_setup(void **state)
{
    s_dir = adt_root_make("adproc");
    if (!s_dir)
        return -1;
    ad_fault_reset();
    return 0;
}

static int
s_teardown(void **state)
{
    ad_fault_reset();
    return adt_root_remove();
}

/* Wait for pid (at most 10 s); its wait status. */
static int
s_wait(pid_t pid)
{
    double until = adt_now() + 10;
    int st = 0;

    while (adt_now() < until) {
        pid_t got = waitpid(pid, &st, WNOHANG);

        if (got == pid)
            return st;
        assert_int_equal(got, 0);
        ad_proc_sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    fail_msg("process %d still ran after 10 s", (int)pid);
    return st;
}

static void
test_spawn_output_to_log(void **state)
{
    char log[128], text[4096];
    char *argv[] = {"sh", "-c", "echo to-stdout; echo to-stderr >&2; read x; echo \"read:$x\"",
                    NULL};
    ad_err_t err = {0};
    pid_t pid = 0;
    int st;

    adt_path(log, sizeof(log), s_dir, "out.log");
    adt_write_file(log, "already there\n");
    assert_int_equal(ad_proc_spawn(argv, NULL, log, &pid, &err), 0);
    assert_true(pid > 0);
    st = s_wait(pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    adt_read_file(log, text, sizeof(text));
    /* Appended, both streams, stdin empty (/dev/null). */
    assert_string_equal(text, "already there\nto-stdout\nto-stderr\nread:\n");
}

static void
test_spawn_process_group(void **state)
{
    char log[128];
    char *argv[] = {"sleep", "30", NULL};
    ad_err_t err = {0};
    pid_t pid = 0;
    int st;

    adt_path(log, sizeof(log), s_dir, "group.log");
    assert_int_equal(ad_proc_spawn(argv, NULL, log, &pid, &err), 0);
    assert_int_equal(getpgid(pid), pid);
    assert_int_equal(getsid(pid), getsid(0));
    assert_int_equal(ad_proc_signal_group(pid, SIGTERM), 0);
    st = s_wait(pid);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGTERM);
    assert_int_equal(ad_proc_signal_group(pid, SIGTERM), -ESRCH);
    assert_int_equal(ad_proc_signal_group(0, SIGTERM), -ESRCH);
    assert_int_equal(ad_proc_signal_group(1, SIGTERM), -ESRCH);
}

static void
test_spawn_env_merge(void **state)
{
    char log[128], text[4096];
    char *argv[] = {"sh", "-c", "echo \"$ADT_KEEP|$ADT_OVER|$ADT_NEW\"; env | grep -c '^ADT_OVER='",
                    NULL};
    char *env[] = {"ADT_OVER=from-env-add", "ADT_NEW=new", NULL};
    ad_err_t err = {0};
    pid_t pid = 0;

    setenv("ADT_KEEP", "kept", 1);
    setenv("ADT_OVER", "from-parent", 1);
    adt_path(log, sizeof(log), s_dir, "env.log");
    assert_int_equal(ad_proc_spawn(argv, env, log, &pid, &err), 0);
    s_wait(pid);
    adt_read_file(log, text, sizeof(text));
    /* The parent's variables pass, env_add wins over one of the same name, and only once. */
    assert_string_equal(text, "kept|from-env-add|new\n1\n");
    unsetenv("ADT_KEEP");
    unsetenv("ADT_OVER");
}

static void
test_spawn_errors(void **state)
{
    char log[128];
    char *missing[] = {"/nonexistent/autodist-prog", NULL};
    char *sh[] = {"sh", "-c", "exit 0", NULL};
    char *none[] = {NULL};
    ad_err_t err = {0};
    pid_t pid = 0;

    adt_path(log, sizeof(log), s_dir, "err.log");
    /* exec failing is an error now, not exit status 127 later. */
    assert_int_equal(ad_proc_spawn(missing, NULL, log, &pid, &err), -ENOENT);
    adt_assert_has(err.msg, "cannot run /nonexistent/autodist-prog: No such file or directory");
    assert_int_equal(pid, 0);
    assert_int_equal(ad_proc_spawn_detached(missing, log, &pid, &err), -ENOENT);
    adt_assert_has(err.msg, "cannot run /nonexistent/autodist-prog");
    /* The log cannot be opened. */
    assert_int_equal(ad_proc_spawn(sh, NULL, "/nonexistent/dir/x.log", &pid, &err), -ENOENT);
    adt_assert_has(err.msg, "cannot open /nonexistent/dir/x.log: No such file or directory");
    assert_int_equal(ad_proc_spawn(none, NULL, log, &pid, &err), AD_EINVAL);
    adt_assert_has(err.msg, "nothing to run");
    assert_int_equal(pid, 0);
}

static void
test_spawn_fork_fault(void **state)
{
    char log[128];
    char *argv[] = {"sh", "-c", "exit 3", NULL};
    ad_err_t err = {0};
    pid_t pid = 0;
    int st;

    adt_path(log, sizeof(log), s_dir, "fault.log");
    ad_fault_arm("fork", 1);
    assert_int_equal(ad_proc_spawn(argv, NULL, log, &pid, &err), -EAGAIN);
    assert_string_equal(err.msg, "cannot start sh: fork: Resource temporarily unavailable");
    assert_int_equal(pid, 0);
    /* The second spawn of a detached program fails; the first goes through. */
    ad_fault_arm("fork", 2);
    assert_int_equal(
        ad_proc_spawn_detached((char *[]){"/bin/sh", "-c", "exit 4", NULL}, log, &pid, &err), 0);
    st = s_wait(pid);
    assert_int_equal(WEXITSTATUS(st), 4);
    pid = 0;
    assert_int_equal(ad_proc_spawn_detached(argv, log, &pid, &err), -EAGAIN);
    adt_assert_has(err.msg, "fork: Resource temporarily unavailable");
    assert_int_equal(pid, 0);
    /* Once only: the next fork works again. */
    assert_false(ad_fault_armed("fork"));
    assert_int_equal(ad_proc_spawn(argv, NULL, log, &pid, &err), 0);
    st = s_wait(pid);
    assert_int_equal(WEXITSTATUS(st), 3);
}

static void
test_spawn_detached(void **state)
{
    char log[128], text[4096], script[256];
    char *argv[] = {"/bin/sh", "-c", script, NULL};
    ad_err_t err = {0};
    pid_t pid = 0;
    int fd, st;

    /* A descriptor this process holds without close-on-exec must not reach the program. */
    fd = open("/dev/null", O_RDONLY);
    assert_true(fd > 2);
    snprintf(script, sizeof(script),
             "test -e /proc/self/fd/%d && echo fd-open || echo fd-closed; echo sid:$(cut -d' ' "
             "-f6 /proc/self/stat) pid:$$",
             fd);
    adt_path(log, sizeof(log), s_dir, "detached.log");
    assert_int_equal(ad_proc_spawn_detached(argv, log, &pid, &err), 0);
    st = s_wait(pid);
    close(fd);
    assert_int_equal(WEXITSTATUS(st), 0);
    adt_read_file(log, text, sizeof(text));
    adt_assert_has(text, "fd-closed\n");
    /* Its own session: the session id is its pid. */
    {
        char want[64];

        snprintf(want, sizeof(want), "sid:%d pid:%d", (int)pid, (int)pid);
        adt_assert_has(text, want);
    }
}

static void
test_last_line(void **state)
{
    char path[128], buf[64], big[8192];

    adt_path(path, sizeof(path), s_dir, "tail.log");
    assert_false(ad_proc_last_line(path, buf, sizeof(buf)));
    assert_string_equal(buf, "");
    adt_write_file(path, "");
    assert_false(ad_proc_last_line(path, buf, sizeof(buf)));
    adt_write_file(path, "\n \r\n\n");
    assert_false(ad_proc_last_line(path, buf, sizeof(buf)));
    adt_write_file(path, "first\nsecond line\n\n  \n");
    assert_true(ad_proc_last_line(path, buf, sizeof(buf)));
    assert_string_equal(buf, "second line");
    adt_write_file(path, "no newline at all");
    assert_true(ad_proc_last_line(path, buf, sizeof(buf)));
    assert_string_equal(buf, "no newline at all");
    /* A line longer than buf: its tail end, which says how it ended. */
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big + sizeof(big) - 6, "THEND", 5);
    adt_write_file(path, big);
    assert_true(ad_proc_last_line(path, buf, sizeof(buf)));
    assert_int_equal(strlen(buf), sizeof(buf) - 1);
    assert_string_equal(buf + strlen(buf) - 5, "THEND");
    assert_false(ad_proc_last_line(path, buf, 0));
}

static void
test_pid_files(void **state)
{
    char path[128], tmp[160];

    adt_path(path, sizeof(path), s_dir, "d.pid");
    assert_int_equal(ad_proc_read_pid(path), 0);
    assert_int_equal(ad_proc_write_pid(path, 4242), 0);
    assert_int_equal(ad_proc_read_pid(path), 4242);
    /* Written by a rename: no temporary file is left. */
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    assert_int_equal(access(tmp, F_OK), -1);
    assert_int_equal(ad_proc_write_pid(path, 17), 0);
    assert_int_equal(ad_proc_read_pid(path), 17);
    adt_write_file(path, "not a pid\n");
    assert_int_equal(ad_proc_read_pid(path), 0);
    adt_write_file(path, "-5\n");
    assert_int_equal(ad_proc_read_pid(path), 0);
    adt_write_file(path, "99999999999\n");
    assert_int_equal(ad_proc_read_pid(path), 0);
    adt_write_file(path, "");
    assert_int_equal(ad_proc_read_pid(path), 0);
    assert_int_equal(ad_proc_write_pid("/nonexistent/dir/x.pid", 1), -ENOENT);
}

static void
test_proc_is(void **state)
{
    char log[128];
    char *argv[] = {"sleep", "30", NULL};
    ad_err_t err = {0};
    pid_t pid = 0;

    assert_true(ad_proc_is(getpid(), "test_proc"));
    assert_false(ad_proc_is(getpid(), "autodistd"));
    assert_false(ad_proc_is(0, "test_proc"));
    assert_false(ad_proc_is(-1, "test_proc"));
    adt_path(log, sizeof(log), s_dir, "is.log");
    assert_int_equal(ad_proc_spawn(argv, NULL, log, &pid, &err), 0);
    assert_true(ad_proc_is(pid, "sleep"));
    assert_false(ad_proc_gone(pid, "sleep"));
    /* A pid file pointing at a process of another program is not ours. */
    assert_false(ad_proc_is(pid, "autodist-agent"));
    kill(pid, SIGKILL);
    /* Killed, then reaped by ad_proc_gone() (a zombie counts as gone). */
    for (int i = 0; i < 500 && !ad_proc_gone(pid, "sleep"); i++)
        ad_proc_sleep_ms(10);
    assert_true(ad_proc_gone(pid, "sleep"));
    assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

static void
test_sibling(void **state)
{
    char out[PATH_MAX], self[PATH_MAX], tiny[8];
    char *path = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

    assert_true(n > 0);
    self[n] = '\0';
    /* This test program is its own sibling. */
    assert_true(ad_proc_sibling("test_proc", out, sizeof(out)));
    assert_string_equal(out, self);
    assert_false(ad_proc_sibling("no-such-autodist-program", out, sizeof(out)));
    assert_false(ad_proc_sibling("test_proc", tiny, sizeof(tiny)));
    assert_true(ad_proc_find_exe("test_proc", out, sizeof(out)));
    assert_string_equal(out, self);
    /* Not a sibling: found in PATH. */
    setenv("PATH", "/nonexistent:/bin:/usr/bin", 1);
    assert_true(ad_proc_find_exe("sh", out, sizeof(out)));
    assert_string_equal(out, "/bin/sh");
    assert_false(ad_proc_find_exe("no-such-autodist-program", out, sizeof(out)));
    setenv("PATH", "", 1);
    assert_false(ad_proc_find_exe("sh", out, sizeof(out)));
    if (path)
        setenv("PATH", path, 1);
    else
        unsetenv("PATH");
    free(path);
}

/* Start `sleep 30` carrying AUTODIST_JOB=job and AUTODIST_HOME=home. */
static pid_t
s_rank(const char *job, const char *home)
{
    char kv_job[64], kv_home[128], log[128];
    char *argv[] = {"sleep", "30", NULL};
    char *env[] = {kv_job, kv_home, NULL};
    ad_err_t err = {0};
    pid_t pid = 0;

    snprintf(kv_job, sizeof(kv_job), "AUTODIST_JOB=%s", job);
    snprintf(kv_home, sizeof(kv_home), "AUTODIST_HOME=%s", home);
    adt_path(log, sizeof(log), s_dir, "ranks.log");
    assert_int_equal(ad_proc_spawn(argv, env, log, &pid, &err), 0);
    return pid;
}

static void
test_stray_ranks(void **state)
{
    char home[128], other_home[128], kv_job[64], kv_home[160];
    pid_t ranks[3], other_job, other_home_pid, prefix_job;
    int n, st;

    adt_path(home, sizeof(home), s_dir, "home");
    adt_path(other_home, sizeof(other_home), s_dir, "home2");
    for (int i = 0; i < 3; i++)
        ranks[i] = s_rank("77", home);
    other_job = s_rank("78", home);
    other_home_pid = s_rank("77", other_home);
    /* AUTODIST_JOB=770 holds "AUTODIST_JOB=77" as a prefix: not the same job. */
    prefix_job = s_rank("770", home);
    snprintf(kv_job, sizeof(kv_job), "AUTODIST_JOB=%s", "77");
    snprintf(kv_home, sizeof(kv_home), "AUTODIST_HOME=%s", home);
    n = ad_proc_signal_env(kv_job, kv_home, SIGKILL);
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++) {
        st = s_wait(ranks[i]);
        assert_true(WIFSIGNALED(st));
        assert_int_equal(WTERMSIG(st), SIGKILL);
    }
    /* None of the job is left; the others are spared. */
    assert_int_equal(ad_proc_signal_env(kv_job, kv_home, 0), 0);
    assert_int_equal(waitpid(other_job, NULL, WNOHANG), 0);
    assert_int_equal(waitpid(other_home_pid, NULL, WNOHANG), 0);
    assert_int_equal(waitpid(prefix_job, NULL, WNOHANG), 0);
    assert_true(ad_proc_is(other_job, "sleep"));
    assert_true(ad_proc_is(other_home_pid, "sleep"));
    assert_true(ad_proc_is(prefix_job, "sleep"));
    /* One key alone (kv2 NULL) matches every home. */
    n = ad_proc_signal_env("AUTODIST_JOB=78", NULL, SIGKILL);
    assert_int_equal(n, 1);
    st = s_wait(other_job);
    assert_int_equal(WTERMSIG(st), SIGKILL);
    kill(other_home_pid, SIGKILL);
    kill(prefix_job, SIGKILL);
    s_wait(other_home_pid);
    s_wait(prefix_job);
}

/* CPU time and resident memory of a process, as the coordinator benchmark reads them. */
static void
test_usage(void **state)
{
    volatile double x = 0;
    double t0 = -1, t1 = -1, rss;
    pid_t child;
    int status;

    assert_int_equal(ad_proc_cpu_seconds(getpid(), &t0), 0);
    for (long i = 0; i < 50 * 1000 * 1000; i++)
        x += 1e-9 * (double)i;
    assert_true(x > 0);
    assert_int_equal(ad_proc_cpu_seconds(getpid(), &t1), 0);
    assert_true(t0 >= 0 && t1 > t0);
    rss = ad_proc_rss_mib(getpid());
    assert_true(rss > 0 && rss < 4096);
    /* A process that is gone: -ENOENT, and no memory figure. */
    child = fork();
    assert_true(child >= 0);
    if (child == 0)
        _exit(0);
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_int_equal(ad_proc_cpu_seconds(child, &t1), -ENOENT);
    assert_true(isnan(ad_proc_rss_mib(child)));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_spawn_output_to_log, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_spawn_process_group, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_spawn_env_merge, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_spawn_errors, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_spawn_fork_fault, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_spawn_detached, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_last_line, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_pid_files, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_proc_is, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_sibling, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_stray_ranks, s_setup, s_teardown),
        cmocka_unit_test(test_usage),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
