/* ad_test.h - what the tests share: a temp root, paths and files, programs run, ports, a clock */
#ifndef AD_TEST_H
#define AD_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/types.h>

#include <jansson.h>

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

/* What one shell command run by adt_sh() left: its status and both streams, whole. */
typedef struct adt_sh {
    int status; /* exit status; 128+N for signal N */
    char *out;  /* everything written to stdout (malloc'd, NUL-terminated) */
    char *err;  /* everything written to stderr (malloc'd, NUL-terminated) */
} adt_sh_t;

/* ---- the clock and ports ----------------------------------------------------------------- */

/* Seconds on the monotonic clock: ad_clock_now(), the project's one clock. */
double adt_now(void);

/* Sleep ms milliseconds. */
void adt_sleep_ms(int ms);

/* A free loopback port: the kernel picks an ephemeral one, which is closed again. */
int adt_free_port(void);

/* "tcp://127.0.0.1:PORT" on a free port (adt_free_port) into buf; returns buf. */
char *adt_free_endpoint(char *buf, size_t size);

/* ---- the temp root: everything a test program writes lives below it ---------------------- */

/*
 * Make the temp root $TMPDIR/tag.XXXXXX (TMPDIR or /tmp); its path, or NULL
 * when it cannot be made (for a setup function to return -1). A later call,
 * after adt_root_remove(), makes a fresh one.
 */
const char *adt_root_make(const char *tag);

/* The root adt_root_make() made. */
const char *adt_root(void);

/* Remove the root and all below it (adt_rmtree); 0, or -1 when something stays. */
int adt_root_remove(void);

/* Remove path and all below it like rm -rf, making each entry writable first; 0, or -1. */
int adt_rmtree(const char *path);

/* ---- paths and files ---------------------------------------------------------------------- */

/* dir/name into buf (the test fails when it does not fit); returns buf. */
char *adt_path(char *buf, size_t len, const char *dir, const char *name);

/* A fresh name under the root, root/tag-N + ext (ext may be ""), nothing made; returns buf. */
char *adt_fresh_path(char *buf, size_t len, const char *tag, const char *ext);

/* A fresh, empty folder under the root, root/tag-N, for one test; returns buf. */
char *adt_fresh_dir(char *buf, size_t len, const char *tag);

/* Make the folder dir/name, its path into buf (the test fails when it cannot); returns buf. */
char *adt_mkdir_in(char *buf, size_t len, const char *dir, const char *name);

/* Write len bytes to path, replacing it (the test fails when it cannot). */
void adt_write_bytes(const char *path, const void *data, size_t len);

/* Write len bytes to the file dir/name (the test fails when it cannot). */
void adt_write_in(const char *dir, const char *name, const void *data, size_t len);

/* Write text to path (the test fails when it cannot). */
void adt_write_file(const char *path, const char *text);

/* The file at path into buf (at most size - 1 bytes, NUL-terminated; "" when unreadable). */
void adt_read_file(const char *path, char *buf, size_t size);

/* The whole file, NUL-terminated and malloc'd (the test fails when it cannot be read);
 * *len_p gets its size when not NULL. */
char *adt_slurp(const char *path, size_t *len_p);

/* Whether path is a regular file that is not empty. */
bool adt_is_file(const char *path);

/* ---- programs ------------------------------------------------------------------------------ */

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

/*
 * Run bin with args (as adt_start) to its end, at most deadline_s seconds, into
 * r; returns r->status. With AD_TEST_VERBOSE set, prints what it said.
 */
int adt_run(adt_result_t *r, const char *bin, const char *const *args, const char *dir,
            double deadline_s);

/* Expect r to have exited with want; when it did not, print its stdout and stderr first. */
void adt_expect_status(const adt_result_t *r, int want);

/*
 * Wait for pid at most deadline_s seconds, polling: its exit status (128+N for
 * signal N), or -1 when it still runs (it is left running).
 */
int adt_wait(pid_t pid, double deadline_s);

/*
 * Run a /bin/sh command line (printf-style), stdin from /dev/null, stdout and
 * stderr each to a file under the root (a file, not a pipe: a stray child
 * holding a pipe open cannot block the test), and read both back whole.
 */
adt_sh_t adt_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Free what adt_sh() returned (r may be zeroed or already freed). */
void adt_sh_free(adt_sh_t *r);

/* ---- messages ------------------------------------------------------------------------------ */

/* The test fails, at the caller's line, unless text contains want (a macro for that line). */
#define adt_assert_has(text, want)                                                                 \
    do {                                                                                           \
        const char *adt_text_ = (text), *adt_want_ = (want);                                       \
        if (!strstr(adt_text_, adt_want_))                                                         \
            fail_msg("expected \"%s\" in the message \"%s\"", adt_want_, adt_text_);               \
    } while (0)

/* ---- JSON ---------------------------------------------------------------------------------- */

/* text parsed as JSON (owned by the caller), or the test fails showing the text. */
json_t *adt_json(const char *text);

#endif
