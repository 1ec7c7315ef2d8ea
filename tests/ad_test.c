/* ad_test.c - what the tests share: a temp root, paths and files, programs run, ports, a clock */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ad_test.h"
#include "autodist/ad_clock.h"

static char s_root[256]; /* adt_root_make()'s folder */
static int s_seq;        /* numbers fresh names under the root */

/* ---- the clock and ports ----------------------------------------------------------------- */

double
adt_now(void)
{
    return ad_clock_now();
}

void
adt_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

int
adt_free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

char *
adt_free_endpoint(char *buf, size_t size)
{
    int n = snprintf(buf, size, "tcp://127.0.0.1:%d", adt_free_port());

    assert_true(n > 0 && (size_t)n < size);
    return buf;
}

/* ---- the temp root ------------------------------------------------------------------------- */

const char *
adt_root_make(const char *tag)
{
    const char *tmp = getenv("TMPDIR");

    snprintf(s_root, sizeof(s_root), "%s/%s.XXXXXX", tmp && *tmp ? tmp : "/tmp", tag);
    if (!mkdtemp(s_root)) {
        fprintf(stderr, "cannot make %s: %s\n", s_root, strerror(errno));
        s_root[0] = '\0';
        return NULL;
    }
    return s_root;
}

const char *
adt_root(void)
{
    return s_root;
}

int
adt_root_remove(void)
{
    int rc = s_root[0] ? adt_rmtree(s_root) : 0;

    s_root[0] = '\0';
    return rc;
}

static int
s_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    chmod(path, 0700);
    return remove(path);
}

int
adt_rmtree(const char *path)
{
    struct stat st;

    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    chmod(path, 0700);
    return nftw(path, s_rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

/* ---- paths and files ----------------------------------------------------------------------- */

char *
adt_path(char *buf, size_t len, const char *dir, const char *name)
{
    int n = snprintf(buf, len, "%s/%s", dir, name);

    assert_true(n > 0 && (size_t)n < len);
    return buf;
}

char *
adt_fresh_path(char *buf, size_t len, const char *tag, const char *ext)
{
    int n;

    assert_true(s_root[0] != '\0');
    n = snprintf(buf, len, "%s/%s-%d%s", s_root, tag, s_seq++, ext);
    assert_true(n > 0 && (size_t)n < len);
    return buf;
}

char *
adt_fresh_dir(char *buf, size_t len, const char *tag)
{
    adt_fresh_path(buf, len, tag, "");
    assert_int_equal(mkdir(buf, 0755), 0);
    return buf;
}

char *
adt_mkdir_in(char *buf, size_t len, const char *dir, const char *name)
{
    adt_path(buf, len, dir, name);
    assert_int_equal(mkdir(buf, 0755), 0);
    return buf;
}

void
adt_write_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    if (!f)
        fail_msg("cannot create %s: %s", path, strerror(errno));
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

void
adt_write_in(const char *dir, const char *name, const void *data, size_t len)
{
    char path[1024];

    adt_write_bytes(adt_path(path, sizeof(path), dir, name), data, len);
}

void
adt_write_file(const char *path, const char *text)
{
    adt_write_bytes(path, text, strlen(text));
}

void
adt_read_file(const char *path, char *buf, size_t size)
{
    size_t n = 0;
    FILE *f = fopen(path, "r");

    if (f) {
        n = fread(buf, 1, size - 1, f);
        fclose(f);
    }
    buf[n] = '\0';
}

char *
adt_slurp(const char *path, size_t *len_p)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (!f)
        fail_msg("cannot open %s: %s", path, strerror(errno));
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    assert_int_equal(fseek(f, 0, SEEK_SET), 0);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (len_p)
        *len_p = (size_t)n;
    return buf;
}

bool
adt_is_file(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
}

/* ---- programs ------------------------------------------------------------------------------ */

void
adt_start(adt_proc_t *p, const char *bin, const char *const *args, const char *dir)
{
    static int seq;
    const char *argv[ADT_MAX_ARGS + 2];
    int n = 0;

    argv[n++] = bin;
    for (; args[n - 1] && n < ADT_MAX_ARGS; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    snprintf(p->out_path, sizeof(p->out_path), "%s/out.%d.%d", dir, (int)getpid(), seq);
    snprintf(p->err_path, sizeof(p->err_path), "%s/err.%d.%d", dir, (int)getpid(), seq++);
    p->t0 = adt_now();
    p->pid = fork();
    assert_true(p->pid >= 0);
    if (p->pid == 0) {
        int out = open(p->out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = open(p->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

        dup2(out, STDOUT_FILENO);
        dup2(err, STDERR_FILENO);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
}

int
adt_wait(pid_t pid, double deadline_s)
{
    double t0 = adt_now();
    int st;

    do {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        usleep(10 * 1000);
    } while (adt_now() - t0 < deadline_s);
    return -1;
}

void
adt_finish(adt_proc_t *p, adt_result_t *r, double deadline_s)
{
    int st;

    r->status = adt_wait(p->pid, deadline_s - (adt_now() - p->t0));
    r->seconds = adt_now() - p->t0;
    if (r->status == -1) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, &st, 0);
    }
    adt_read_file(p->out_path, r->out, sizeof(r->out));
    adt_read_file(p->err_path, r->err, sizeof(r->err));
    unlink(p->out_path);
    unlink(p->err_path);
}

int
adt_run(adt_result_t *r, const char *bin, const char *const *args, const char *dir,
        double deadline_s)
{
    adt_proc_t p;

    adt_start(&p, bin, args, dir);
    adt_finish(&p, r, deadline_s);
    if (getenv("AD_TEST_VERBOSE"))
        fprintf(stderr, "[%s %s ...] -> %d in %.2f s\n--- out:\n%s--- err:\n%s", bin,
                args[0] ? args[0] : "", r->status, r->seconds, r->out, r->err);
    return r->status;
}

void
adt_expect_status(const adt_result_t *r, int want)
{
    if (r->status != want)
        fprintf(stderr, "exit %d, expected %d\n--- stdout:\n%s--- stderr:\n%s", r->status, want,
                r->out, r->err);
    assert_int_equal(r->status, want);
}

adt_sh_t
adt_sh(const char *fmt, ...)
{
    char cmd[8192], out[512], err[512];
    adt_sh_t r = {0};
    va_list ap;
    pid_t pid;
    int n, ws;

    va_start(ap, fmt);
    n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof(cmd));
    adt_fresh_path(out, sizeof(out), "sh", ".out");
    adt_fresh_path(err, sizeof(err), "sh", ".err");
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int fi = open("/dev/null", O_RDONLY);

        if (fo < 0 || fe < 0 || fi < 0)
            _exit(126);
        dup2(fi, 0);
        dup2(fo, 1);
        dup2(fe, 2);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    while (waitpid(pid, &ws, 0) < 0)
        assert_int_equal(errno, EINTR);
    r.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    r.out = adt_slurp(out, NULL);
    r.err = adt_slurp(err, NULL);
    unlink(out);
    unlink(err);
    return r;
}

void
adt_sh_free(adt_sh_t *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

/* ---- JSON ---------------------------------------------------------------------------------- */

json_t *
adt_json(const char *text)
{
    json_error_t e;
    json_t *doc = json_loads(text, 0, &e);

    if (!doc)
        fail_msg("not JSON (%s):\n%s", e.text, text);
    return doc;
}
