/* ad_resv_cmd.c - what reservation backends share: running a command with a timeout, vectors,
 * shell quoting, natural order */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ad_resv_int.h"

extern char **environ;

/* A growing NUL-terminated buffer. */
typedef struct s_buf {
    char *p;
    size_t n, cap;
} s_buf_t;

static void
s_buf_add(s_buf_t *b, const char *data, size_t len)
{
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (b->n + len + 1 > cap)
            cap *= 2;
        b->p = ad_realloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, len);
    b->n += len;
    b->p[b->n] = '\0';
}

static double
s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

double
ad_resv_cmd_timeout(void)
{
    const char *s = getenv("AUTODIST_RESV_TIMEOUT");
    char *end = NULL;
    double t = s ? strtod(s, &end) : 0;
    return (s && end != s && t > 0) ? t : 60.0;
}

/* Read both pipes until they close or the deadline passes; false on timeout. */
static bool
s_drain(int fds[2], s_buf_t bufs[2], double deadline)
{
    int open_n = 2;
    while (open_n > 0) {
        struct pollfd p[2];
        int np = 0, map[2];
        for (int i = 0; i < 2; i++) {
            if (fds[i] >= 0) {
                p[np] = (struct pollfd){.fd = fds[i], .events = POLLIN};
                map[np++] = i;
            }
        }
        double left = deadline - s_now();
        if (left <= 0)
            return false;
        int r = poll(p, (nfds_t)np, (int)(left * 1000) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return false;
        for (int k = 0; k < np; k++) {
            if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char chunk[4096];
            ssize_t got = read(p[k].fd, chunk, sizeof chunk);
            if (got > 0) {
                s_buf_add(&bufs[map[k]], chunk, (size_t)got);
            } else if (got == 0 || errno != EINTR) {
                close(p[k].fd);
                fds[map[k]] = -1;
                open_n--;
            }
        }
    }
    return true;
}

/* Wait for pid until the deadline; true with *status when it exited. */
static bool
s_reap(pid_t pid, double deadline, int *status)
{
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR))
            return r == pid;
        if (s_now() >= deadline)
            return false;
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static int
s_spawn(char *const argv[], int out[2], int errp[2], pid_t *pid, ad_err_t *err)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all); /* a caller ignoring SIGPIPE passes nothing on */
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);
    int rc = posix_spawnp(pid, argv[0], &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc == ENOENT)
        return ad_err_set(err, -ENOENT, "%s: not found", argv[0]);
    if (rc != 0)
        return ad_err_set(err, -rc, "cannot run %s: %s", argv[0], strerror(rc));
    return 0;
}

int
ad_resv_cmd_run(char *const argv[], double timeout_s, ad_resv_cmd_t *res, ad_err_t *err)
{
    int out[2] = {-1, -1}, errp[2] = {-1, -1};
    memset(res, 0, sizeof *res);
    res->status = -1;
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
        int e = errno;
        if (out[0] >= 0) {
            close(out[0]);
            close(out[1]);
        }
        return ad_err_set(err, -e, "cannot run %s: pipe: %s", argv[0], strerror(e));
    }
    pid_t pid;
    int rc = s_spawn(argv, out, errp, &pid, err);
    close(out[1]);
    close(errp[1]);
    s_buf_t bufs[2] = {{0}};
    if (rc < 0) {
        close(out[0]);
        close(errp[0]);
        return rc;
    }
    double deadline = s_now() + timeout_s;
    int fds[2] = {out[0], errp[0]};
    bool done = s_drain(fds, bufs, deadline);
    int status = 0;
    if (done)
        done = s_reap(pid, deadline, &status);
    if (!done) {
        /* OAR's commands become the user oar (oardodo): the kill may be refused, so the
         * process is only reaped when it ends by itself */
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        res->timed_out = true;
        (void)s_reap(pid, s_now() + 1.0, &status);
    }
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    s_buf_add(&bufs[0], "", 0);
    s_buf_add(&bufs[1], "", 0);
    res->out = bufs[0].p;
    res->err = bufs[1].p;
    if (!res->timed_out && WIFEXITED(status))
        res->status = WEXITSTATUS(status);
    return 0;
}

void
ad_resv_cmd_free(ad_resv_cmd_t *res)
{
    if (!res)
        return;
    free(res->out);
    free(res->err);
    res->out = res->err = NULL;
}

void
ad_resv_vec_add(ad_resv_vec_t *vec, const char *s)
{
    if (vec->n + 2 > vec->cap) {
        vec->cap = vec->cap ? vec->cap * 2 : 8;
        vec->v = ad_realloc(vec->v, (size_t)vec->cap * sizeof *vec->v);
    }
    vec->v[vec->n++] = ad_strdup(s);
    vec->v[vec->n] = NULL;
}

void
ad_resv_vec_addf(ad_resv_vec_t *vec, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ad_resv_vec_add(vec, buf);
}

bool
ad_resv_vec_has(const ad_resv_vec_t *vec, const char *s)
{
    for (int i = 0; i < vec->n; i++)
        if (strcmp(vec->v[i], s) == 0)
            return true;
    return false;
}

char **
ad_resv_vec_take(ad_resv_vec_t *vec)
{
    char **v = vec->v ? vec->v : ad_calloc(1, sizeof *v);
    vec->v = NULL;
    vec->n = vec->cap = 0;
    return v;
}

char *
ad_resv_shell_quote(const char *s)
{
    bool safe = *s != '\0';
    for (const char *p = s; *p && safe; p++)
        safe = isalnum((unsigned char)*p) || strchr("_@%+=:,./-", *p);
    if (safe)
        return ad_strdup(s);
    s_buf_t b = {0};
    s_buf_add(&b, "'", 1);
    for (const char *p = s; *p; p++) {
        if (*p == '\'')
            s_buf_add(&b, "'\\''", 4);
        else
            s_buf_add(&b, p, 1);
    }
    s_buf_add(&b, "'", 1);
    return b.p;
}

int
ad_resv_natural_cmp(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    while (*x && *y) {
        if (isdigit((unsigned char)*x) && isdigit((unsigned char)*y)) {
            while (*x == '0')
                x++;
            while (*y == '0')
                y++;
            size_t lx = 0, ly = 0;
            while (isdigit((unsigned char)x[lx]))
                lx++;
            while (isdigit((unsigned char)y[ly]))
                ly++;
            if (lx != ly)
                return lx < ly ? -1 : 1;
            int c = strncmp(x, y, lx);
            if (c)
                return c;
            x += lx;
            y += ly;
        } else {
            if (*x != *y)
                return (unsigned char)*x < (unsigned char)*y ? -1 : 1;
            x++;
            y++;
        }
    }
    return *x ? 1 : (*y ? -1 : 0);
}
