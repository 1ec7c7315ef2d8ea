/* ad_proc.c - processes for the programs: spawn, signal, pid files, log tails, sibling binaries */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "autodist/ad_error.h"
#include "autodist/ad_fault.h"
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
s_child(char *const argv[], char **envp, int out_fd, int report, bool detach)
{
    sigset_t none;
    int err, fd;

    /* Only async-signal-safe calls from here to exec. */
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int sig = 1; sig < NSIG; sig++)
        signal(sig, SIG_DFL);
    if (detach)
        setsid();
    else
        setpgid(0, 0);
    fd = open("/dev/null", O_RDONLY);
    if (fd < 0 || dup2(fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0)
        goto fail;
    if (fd > 2)
        close(fd);
    if (detach)
        /* A program that outlives us must not hold our sockets or files open. */
        for (int i = 3; i < 1024; i++)
            if (i != report)
                close(i);
    execvpe(argv[0], argv, envp);
fail:
    err = errno;
    if (write(report, &err, sizeof(err)) < 0)
        _exit(127);
    _exit(127);
}

/* fork(), or a failure with errno EAGAIN when the "fork" fault point says so. */
static pid_t
s_fork(void)
{
    if (ad_fault_hit("fork")) {
        errno = EAGAIN;
        return -1;
    }
    return fork();
}

/* ad_proc_spawn() and ad_proc_spawn_detached(). */
static int
s_spawn(char *const argv[], char *const env_add[], const char *out_path, bool detach, pid_t *pid,
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
        return ad_err_set(err, -errno, "cannot open %s: %s", out_path, strerror(errno));
    if (pipe2(pipefd, O_CLOEXEC)) {
        rc = ad_err_set(err, -errno, "pipe: %s", strerror(errno));
        goto out_close_log;
    }
    envp = s_merge_env(env_add);
    if (!envp) {
        rc = ad_err_set(err, -ENOMEM, "out of memory");
        goto out_close_pipe;
    }
    p = s_fork();
    if (p == 0) {
        close(pipefd[0]);
        /* out_fd is close-on-exec: dup2 onto 1 and 2 clears the flag there. */
        s_child(argv, envp, out_fd, pipefd[1], detach);
    }
    rc = p < 0 ? -errno : 0;
    free(envp);
    if (rc) {
        ad_err_set(err, rc, "cannot start %s: fork: %s", argv[0], strerror(-rc));
        goto out_close_pipe;
    }
    /* Also set it here, so a signal sent right after we return finds the group. */
    if (!detach)
        setpgid(p, p);
    close(pipefd[1]);
    pipefd[1] = -1;
    do
        got = read(pipefd[0], &child_errno, sizeof(child_errno));
    while (got < 0 && errno == EINTR);
    if (got == (ssize_t)sizeof(child_errno)) {
        waitpid(p, NULL, 0);
        rc = ad_err_set(err, -child_errno, "cannot run %s: %s", argv[0], strerror(child_errno));
        goto out_close_pipe;
    }
    *pid = p;
    rc = 0;
out_close_pipe:
    close(pipefd[0]);
    if (pipefd[1] >= 0)
        close(pipefd[1]);
out_close_log:
    close(out_fd);
    return rc;
}

int
ad_proc_spawn(char *const argv[], char *const env_add[], const char *out_path, pid_t *pid,
              ad_err_t *err)
{
    return s_spawn(argv, env_add, out_path, false, pid, err);
}

int
ad_proc_spawn_detached(char *const argv[], const char *out_path, pid_t *pid, ad_err_t *err)
{
    return s_spawn(argv, NULL, out_path, true, pid, err);
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
    size_t cap = 1 << 16;
    char *buf;
    pid_t self = getpid();
    struct dirent *de;
    int count = 0;
    DIR *d;

    d = opendir("/proc");
    if (!d)
        return 0;
    buf = malloc(cap);
    if (!buf)
        goto out_closedir;
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
        n = read(fd, buf, cap);
        close(fd);
        if (n <= 0)
            continue;
        if (s_env_has(buf, (size_t)n, kv1) && (!kv2 || s_env_has(buf, (size_t)n, kv2)) &&
            kill((pid_t)pid, sig) == 0)
            count++;
    }
    free(buf);
out_closedir:
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

pid_t
ad_proc_read_pid(const char *path)
{
    char buf[32] = "";
    long v;
    char *end;
    FILE *f = fopen(path, "r");

    if (!f)
        return 0;
    if (!fgets(buf, sizeof(buf), f))
        buf[0] = '\0';
    fclose(f);
    errno = 0;
    v = strtol(buf, &end, 10);
    if (errno || end == buf || v < 1 || v > INT_MAX)
        return 0;
    return (pid_t)v;
}

int
ad_proc_write_pid(const char *path, pid_t pid)
{
    char tmp[PATH_MAX + 8];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    if (!f)
        return -errno;
    fprintf(f, "%d\n", (int)pid);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        int e = errno;

        unlink(tmp);
        return -e;
    }
    return 0;
}

bool
ad_proc_is(pid_t pid, const char *prog)
{
    char path[64], buf[512], *open_paren, *close_paren;
    size_t n;
    FILE *f;

    if (pid <= 0)
        return false;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return false;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* "PID (COMM) STATE ...": COMM is the program name cut to 15 bytes. */
    open_paren = strchr(buf, '(');
    close_paren = strrchr(buf, ')');
    if (!open_paren || !close_paren || close_paren < open_paren || close_paren[1] != ' ')
        return false;
    if (close_paren[2] == 'Z' || close_paren[2] == 'X')
        return false;
    *close_paren = '\0';
    return !strncmp(open_paren + 1, prog, 15);
}

bool
ad_proc_gone(pid_t pid, const char *prog)
{
    int st;

    waitpid(pid, &st, WNOHANG);
    return !ad_proc_is(pid, prog);
}

bool
ad_proc_sibling(const char *prog, char *out, size_t size)
{
    char self[PATH_MAX], *slash;
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

    if (n <= 0)
        return false;
    self[n] = '\0';
    slash = strrchr(self, '/');
    if (!slash)
        return false;
    *slash = '\0';
    return (size_t)snprintf(out, size, "%s/%s", self, prog) < size && access(out, X_OK) == 0;
}

bool
ad_proc_find_exe(const char *prog, char *out, size_t size)
{
    const char *path = getenv("PATH");

    if (ad_proc_sibling(prog, out, size))
        return true;
    while (path && *path) {
        const char *colon = strchr(path, ':');
        size_t len = colon ? (size_t)(colon - path) : strlen(path);

        if (len > 0 && (size_t)snprintf(out, size, "%.*s/%s", (int)len, path, prog) < size &&
            access(out, X_OK) == 0)
            return true;
        path = colon ? colon + 1 : NULL;
    }
    return false;
}

void
ad_proc_sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* /proc/PID/stat's fields after the command name, in buf; NULL when there is no such process. */
static const char *
s_stat_fields(pid_t pid, char *buf, size_t cap)
{
    char path[64];
    const char *p;
    size_t len;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    f = fopen(path, "r");
    if (!f)
        return NULL;
    len = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[len] = '\0';
    /* The command name may hold spaces and parentheses: fields start after the last ')'. */
    p = strrchr(buf, ')');
    return p ? p + 1 : NULL;
}

int
ad_proc_cpu_seconds(pid_t pid, double *seconds)
{
    unsigned long long utime, stime;
    char buf[2048];
    const char *p;

    errno = 0;
    p = s_stat_fields(pid, buf, sizeof(buf));
    if (!p)
        return errno ? -errno : AD_EPARSE;
    if (sscanf(p, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
        return AD_EPARSE;
    *seconds = (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
    return 0;
}

bool
ad_proc_identity(pid_t pid, char *out, size_t cap)
{
    char buf[2048], boot[64] = "";
    unsigned long long start;
    const char *p;
    char state;
    FILE *f;

    out[0] = '\0';
    if (pid <= 1)
        return false;
    p = s_stat_fields(pid, buf, sizeof(buf));
    /* Field 3 is the state, field 22 the start time in clock ticks after boot. */
    if (!p ||
        sscanf(p,
               " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
               &state, &start) != 2 ||
        state == 'Z' || state == 'X')
        return false;
    f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (f) {
        if (!fgets(boot, sizeof(boot), f))
            boot[0] = '\0';
        fclose(f);
        boot[strcspn(boot, "\n")] = '\0';
    }
    snprintf(out, cap, "%s:%llu", boot, start);
    return true;
}

bool
ad_proc_same(pid_t pid, const char *identity)
{
    char now[128];

    return identity && *identity && ad_proc_identity(pid, now, sizeof(now)) &&
           !strcmp(now, identity);
}

double
ad_proc_rss_mib(pid_t pid)
{
    char path[64], line[256];
    double mib = NAN;
    long kib;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
    f = fopen(path, "r");
    if (!f)
        return NAN;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) {
            mib = kib / 1024.0;
            break;
        }
    fclose(f);
    return mib;
}
