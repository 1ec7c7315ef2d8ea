/* ad_test.c - what the tests that run autodist's programs share (tests/ad_test.h) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ad_test.h"

double
adt_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
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

void
adt_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

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

void
adt_finish(adt_proc_t *p, adt_result_t *r, double deadline_s)
{
    int st;

    r->status = -1;
    while (adt_now() - p->t0 < deadline_s) {
        if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
            r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            break;
        }
        usleep(10 * 1000);
    }
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
