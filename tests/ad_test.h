/* ad_test.h - what the tests that run autodist's programs share: ports, files, child processes */
#ifndef AD_TEST_H
#define AD_TEST_H

#include <stddef.h>
#include <sys/types.h>

/* Most arguments adt_start() passes on. */
#define ADT_MAX_ARGS 32

/* What one run of a program left. */
typedef struct adt_result {
    int status;      /* exit status; 128+N for signal N; -1 still running at the deadline */
    double seconds;  /* how long it ran */
    char out[65536]; /* stdout */
    char err[16384]; /* stderr */
} adt_result_t;

/* A program started by adt_start(). */
typedef struct adt_proc {
    pid_t pid;
    double t0;
    char out_path[256];
    char err_path[256];
} adt_proc_t;

/* Seconds on the monotonic clock. */
double adt_now(void);

/* A free loopback port: the kernel picks an ephemeral one, which is closed again. */
int adt_free_port(void);

/* The file at path into buf (at most size - 1 bytes, NUL-terminated; "" when unreadable). */
void adt_read_file(const char *path, char *buf, size_t size);

/* Write text to path (the test fails when it cannot). */
void adt_write_file(const char *path, const char *text);

/*
 * Start bin with args (NULL-terminated, without the program), its stdout and
 * stderr going to files in dir.
 */
void adt_start(adt_proc_t *p, const char *bin, const char *const *args, const char *dir);

/*
 * Wait for p, at most deadline_s seconds (then SIGKILL it: status -1), and
 * fill r with its status, time and output; the output files are removed.
 */
void adt_finish(adt_proc_t *p, adt_result_t *r, double deadline_s);

#endif
