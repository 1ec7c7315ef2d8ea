/* ad_proc.c - child processes of the coordinator (include/autodist/ad_proc.h) */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "autodist/ad_proc.h"

extern char **environ;

/* environ with env_add on top (same name: env_add wins); the strings are borrowed. */
static char **
s_merge_env(char *const env_add[])
{
    size_t n_env = 0, n_add = 0, n = 0;
    char **out;

    while (environ && environ[n_env])
        n_env++;
    while (env_add && env_add[n_add])
        n_add++;
    out = calloc(n_env + n_add + 1, sizeof(*out));
    if (!out)
        return NULL;
    for (size_t i = 0; i < n_env; i++) {
        const char *eq = strchr(environ[i], '=');
        size_t klen = eq ? (size_t)(eq - environ[i]) + 1 : strlen(environ[i]);
        bool replaced = false;

        for (size_t j = 0; j < n_add && !replaced; j++)
            replaced = !strncmp(environ[i], env_add[j], klen);
        if (!replaced)
            out[n++] = environ[i];
    }
    for (size_t j = 0; j < n_add; j++)
        out[n++] = env_add[j];
    return out;
}

/* In the child: never returns.  Reports a failure as an errno on fd report. */
static void
s_child(char *const argv[], char **envp, int out_fd, int report)
{
    sigset_t none;
    int err, fd;

    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int sig = 1; sig < NSIG; sig++)
        signal(sig, SIG_DFL);
    setpgid(0, 0);
    fd = open("/dev/null", O_RDONLY);
    if (fd < 0 || dup2(fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0)
        goto fail;
    if (fd > 2)
        close(fd);
    execvpe(argv[0], argv, envp);
fail:
    err = errno;
    if (write(report, &err, sizeof(err)) < 0)
        _exit(127);
    _exit(127);
}

int
ad_proc_spawn(char *const argv[], char *const env_add[], const char *out_path, pid_t *pid,
              ad_err_t *err)
{
    int pipefd[2], out_fd, child_errno = 0, rc;
    char **envp;
    ssize_t got;
    pid_t p;

    if (!argv || !argv[0])
        return ad_err_set(err, AD_EINVAL, "nothing to run");
    out_fd = open(out_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out_fd < 0)
        return ad_err_set(err, -errno, "%s: %s", out_path, strerror(errno));
    if (pipe2(pipefd, O_CLOEXEC)) {
        rc = ad_err_set(err, -errno, "pipe: %s", strerror(errno));
        close(out_fd);
        return rc;
    }
    envp = s_merge_env(env_add);
    if (!envp) {
        close(out_fd);
        close(pipefd[0]);
        close(pipefd[1]);
        return ad_err_set(err, -ENOMEM, "out of memory");
    }
    p = fork();
    if (p == 0) {
        close(pipefd[0]);
        /* out_fd is close-on-exec: dup2 onto 1 and 2 clears the flag there. */
        s_child(argv, envp, out_fd, pipefd[1]);
    }
    rc = p < 0 ? -errno : 0;
    free(envp);
    close(out_fd);
    close(pipefd[1]);
    if (rc) {
        close(pipefd[0]);
        return ad_err_set(err, rc, "fork: %s", strerror(-rc));
    }
    /* Also set it here, so a signal sent right after we return finds the group. */
    setpgid(p, p);
    do
        got = read(pipefd[0], &child_errno, sizeof(child_errno));
    while (got < 0 && errno == EINTR);
    close(pipefd[0]);
    if (got == (ssize_t)sizeof(child_errno)) {
        waitpid(p, NULL, 0);
        return ad_err_set(err, -child_errno, "cannot run %s: %s", argv[0],
                          strerror(child_errno));
    }
    *pid = p;
    return 0;
}

int
ad_proc_signal_group(pid_t pgid, int sig)
{
    if (pgid <= 1)
        return -ESRCH;
    return killpg(pgid, sig) ? -errno : 0;
}

/* Whether the NUL-separated environment block env[0..n) holds the entry kv exactly. */
static bool
s_env_has(const char *env, size_t n, const char *kv)
{
    size_t len = strlen(kv);

    for (size_t i = 0; i < n;) {
        size_t l = strnlen(env + i, n - i);

        if (l == len && !memcmp(env + i, kv, len))
            return true;
        i += l + 1;
    }
    return false;
}

int
ad_proc_signal_env(const char *kv1, const char *kv2, int sig)
{
    static char buf[1 << 16];
    pid_t self = getpid();
    struct dirent *de;
    int count = 0;
    DIR *d;

    d = opendir("/proc");
    if (!d)
        return 0;
    while ((de = readdir(d))) {
        char path[64], *end;
        long pid = strtol(de->d_name, &end, 10);
        ssize_t n;
        int fd;

        if (*end || pid <= 1 || pid == self)
            continue;
        snprintf(path, sizeof(path), "/proc/%ld/environ", pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        n = read(fd, buf, sizeof(buf));
        close(fd);
        if (n <= 0)
            continue;
        if (s_env_has(buf, (size_t)n, kv1) && (!kv2 || s_env_has(buf, (size_t)n, kv2)) &&
            kill((pid_t)pid, sig) == 0)
            count++;
    }
    closedir(d);
    return count;
}

bool
ad_proc_last_line(const char *path, char *buf, size_t cap)
{
    char tail[4096];
    off_t size, from;
    ssize_t n;
    size_t end, start;
    int fd;

    if (cap == 0)
        return false;
    buf[0] = '\0';
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    size = lseek(fd, 0, SEEK_END);
    from = size > (off_t)sizeof(tail) ? size - (off_t)sizeof(tail) : 0;
    n = size > 0 ? pread(fd, tail, (size_t)(size - from), from) : 0;
    close(fd);
    if (n <= 0)
        return false;
    end = (size_t)n;
    while (end > 0 && (tail[end - 1] == '\n' || tail[end - 1] == '\r' || tail[end - 1] == ' '))
        end--;
    if (end == 0)
        return false;
    start = end;
    while (start > 0 && tail[start - 1] != '\n')
        start--;
    if (end - start > cap - 1)
        start = end - (cap - 1);
    memcpy(buf, tail + start, end - start);
    buf[end - start] = '\0';
    return true;
}
