/* autodist_launch.c - autodist-launch: runs a job's mpirun and writes how it ended beside its logs
 */
/*
 * The coordinator starts every job as
 *
 *     autodist-launch EXIT_FILE mpirun ARGS...
 *
 * in a process group of its own.  autodist-launch runs mpirun as its child,
 * waits for it and writes EXIT_FILE (atomically: a .tmp renamed into place)
 * before it exits with mpirun's status.  When the coordinator is killed, this
 * process goes on: the job trains to its end, and the coordinator started
 * again finds how it ended in EXIT_FILE (docs/reliability.md).  SIGTERM,
 * SIGINT and SIGHUP sent to the group stop mpirun, not this process, so the
 * file is written for a stopped job too.  Only SIGKILL leaves no file.
 *
 * EXIT_FILE: {"pid": P, "exit_code": N, "signal": S, "ended": UNIX_TIME}
 * (exit_code null when mpirun was killed by signal S; signal null otherwise).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Exit statuses of autodist-launch itself (mpirun's own status otherwise). */
#define S_EXIT_USAGE 2
#define S_EXIT_CANNOT_RUN 127

static const int s_stop_signals[] = {SIGTERM, SIGINT, SIGHUP};

static void
s_signals(void (*handler)(int))
{
    struct sigaction sa;
    sigset_t none;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = handler;
    for (size_t i = 0; i < sizeof(s_stop_signals) / sizeof(s_stop_signals[0]); i++)
        sigaction(s_stop_signals[i], &sa, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Write text to path through path.tmp and a rename; returns 0 or -1 with errno. */
static int
s_write_atomic(const char *path, const char *text)
{
    char tmp[4096];
    size_t len = strlen(text), done = 0;
    int fd, e;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    while (done < len) {
        ssize_t n = write(fd, text + done, len - done);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto out_fail;
        done += (size_t)n;
    }
    if (fsync(fd) || close(fd)) {
        fd = -1;
        goto out_fail;
    }
    if (rename(tmp, path) == 0)
        return 0;
    fd = -1;
out_fail:
    e = errno ? errno : EIO;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    errno = e;
    return -1;
}

int
main(int argc, char **argv)
{
    char text[256];
    int status;
    pid_t pid;

    if (argc < 3 || argv[1][0] == '-') {
        fprintf(stderr, "usage: autodist-launch EXIT_FILE COMMAND [ARG...]\n"
                        "Runs COMMAND (a job's mpirun), then writes how it ended to EXIT_FILE.\n"
                        "autodistd starts it; there is no reason to run it by hand.\n");
        return argc == 2 && !strcmp(argv[1], "--help") ? 0 : S_EXIT_USAGE;
    }
    unlink(argv[1]); /* a requeued job's earlier attempt */
    s_signals(SIG_IGN);
    pid = fork();
    if (pid < 0) {
        fprintf(stderr, "autodist-launch: cannot start %s: fork: %s\n", argv[2], strerror(errno));
        return S_EXIT_CANNOT_RUN;
    }
    if (pid == 0) {
        s_signals(SIG_DFL);
        execvp(argv[2], argv + 2);
        fprintf(stderr, "autodist-launch: cannot run %s: %s\n", argv[2], strerror(errno));
        _exit(S_EXIT_CANNOT_RUN);
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            fprintf(stderr, "autodist-launch: waitpid: %s\n", strerror(errno));
            return S_EXIT_CANNOT_RUN;
        }
    if (WIFSIGNALED(status))
        snprintf(text, sizeof(text),
                 "{\"pid\": %ld, \"exit_code\": null, \"signal\": %d, \"ended\": %lld}\n",
                 (long)pid, WTERMSIG(status), (long long)time(NULL));
    else
        snprintf(text, sizeof(text),
                 "{\"pid\": %ld, \"exit_code\": %d, \"signal\": null, \"ended\": %lld}\n",
                 (long)pid, WEXITSTATUS(status), (long long)time(NULL));
    if (s_write_atomic(argv[1], text))
        fprintf(stderr, "autodist-launch: cannot write %s: %s\n", argv[1], strerror(errno));
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}
