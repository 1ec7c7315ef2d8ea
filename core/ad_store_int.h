/* ad_store_int.h - what the parts of the store share: the handle, its statements, SQLite at the
 * boundary */
#ifndef AD_STORE_INT_H
#define AD_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "autodist/ad_error.h"
#include "autodist/ad_store.h"

/*
 * The store is one module (include/autodist/ad_store.h) in several files, one
 * kind of row each, the way Redis keeps one data type per file:
 *   ad_store.c          open, close, schema and migrations, transactions, the
 *                       statements and the SQLite boundary below
 *   ad_store_jobs.c     jobs and the job-state machine
 *   ad_store_nodes.c    nodes and their profiles
 *   ad_store_sweeps.c   sweeps
 *   ad_store_runs.c     runs, their filters, metrics
 *   ad_store_speedup.c  the speedup arithmetic: intervals, flags, layout groups
 *   ad_store_baselines.c  the baselines table: mean of the repeats or pinned, and
 *                       the speedups of a group that follow it
 * Nothing outside core/ad_store*.c includes this header.
 */

/* Statements, prepared once per handle and reused (a bulk import runs them a million times). */

/* The key of a layout group: what a speedup is the mean over (schema v2, speedup queries). */
#define ST_GROUP_KEY                                                                               \
    "model, dataset, batch_size, hardware, nodes, procs_per_node, threads_per_proc, device"

#define ST_RUN_COLS                                                                                \
    "id, job, sweep, config_hash, model, dataset, hardware, device, nodes, procs_per_node,"        \
    " threads_per_proc, batch_size, state, started, ended, samples_per_s, epoch_time_s,"           \
    " accuracy, step_time_s, comm_time_s, params, baseline, speedup,"                              \
    " sps_sd, sps_steps, speedup_lo, speedup_hi, flags, probe, load_other, cpu_time_s,"            \
    " max_rss_bytes" ST_RUN_META_COLS
/* Runs as experiments (ad_store_tags.c): the last columns of ST_RUN_COLS, read by st_read_run. */
#define ST_RUN_META_COLS                                                                           \
    ", name, spec, note,"                                                                          \
    " (SELECT json_group_object(key, value) FROM run_tags WHERE run_tags.run = runs.id)"
#define ST_RUN_META_N 4
#define ST_JOB_COLS                                                                                \
    "id, name, spec, state, reason, submitted, started, ended, exit_code, sweep, config_hash,"     \
    " nodes, procs_per_node, threads_per_proc, device, nodelist, attempts, run, pid, pid_identity"
#define ST_NODE_COLS                                                                               \
    "id, hostname, address, state,"                                                                \
    " (SELECT hardware FROM profiles p WHERE p.node = nodes.id ORDER BY p.id DESC LIMIT 1),"       \
    " first_seen, last_seen"
#define ST_PROFILE_COLS                                                                            \
    "id, node, hardware, measured, cpu_model, sockets, cores, pus, gpus, memory_bytes,"            \
    " gemm_gflops_1, gemm_gflops_all, mem_bw_gbs, topology"
#define ST_SWEEP_COLS "id, name, file_hash, spec, created, state, max_parallel, retry_failed, owner"

enum {
    Q_BEGIN,
    Q_COMMIT,
    Q_ROLLBACK,
    Q_SAVEPOINT,
    Q_RELEASE,
    Q_ROLLBACK_TO,
    Q_NODE_PUT,
    Q_NODE_STATE,
    Q_NODE_GET,
    Q_NODE_FIND,
    Q_NODE_LIST,
    Q_PROFILE_ADD,
    Q_PROFILE_NODE,
    Q_PROFILE_HW,
    Q_SWEEP_ADD,
    Q_SWEEP_FIND,
    Q_SWEEP_GET,
    Q_SWEEP_RUN,
    Q_JOB_ADD,
    Q_JOB_GET,
    Q_JOB_STATE,
    Q_JOB_SET_STATE,
    Q_JOB_LAYOUT,
    Q_JOB_PROC,
    Q_RUN_ADD,
    Q_RUN_GET,
    Q_RUN_FIND,
    Q_RUN_EXISTS,
    Q_RUN_FINISH,
    Q_BASELINE_GET,
    Q_RUN_SET_SPEEDUP,
    Q_BASELINE_PUT,
    Q_METRIC_ADD,
    Q_METRIC_ALL,
    Q_METRIC_KEY,
    Q_COUNT
};

struct ad_store {
    sqlite3 *db;                  /* the connection */
    char *path;                   /* the file, as opened */
    bool readonly;                /* opened with AD_STORE_READONLY */
    bool user_tx;                 /* inside ad_store_begin() ... commit/rollback */
    bool injected;                /* the failing step was the fault switch, not SQLite */
    int busy_ms;                  /* lock wait before SQLITE_BUSY */
    bool busy;                    /* the last failure was another process's lock */
    sqlite3_stmt *stmts[Q_COUNT]; /* prepared on first use */
    ad_err_t err;                 /* detail of the last failure */
};

/* How one public call holds its transaction. */
typedef enum {
    ST_TX_NONE,      /* one write statement, atomic by itself */
    ST_TX_OWN,       /* BEGIN IMMEDIATE ... COMMIT of its own */
    ST_TX_SAVEPOINT, /* inside the caller's transaction: undoes only itself on failure */
} st_tx_t;

/* A filter's equality conditions, in the order they are written and bound. */
typedef struct {
    const char *col;  /* column name */
    const char *text; /* text value, or NULL for num */
    int64_t num;      /* integer value */
} st_cond_t;

#define ST_CONDS_MAX 10

/* Statements, SQLite errors, transactions, binding and columns (ad_store.c). */

/* Seconds since the epoch, as the store stamps rows. */
double st_now(void);

/*
 * Translate an SQLite failure of op into AD_EDB on the handle.  rc is the
 * code the failing call returned; the message is SQLite's unless the fault
 * switch made the call fail.
 */
int st_db_error(ad_store_t *self, const char *op, int rc);

/* Fetch statement q, preparing it on first use.  Returns 0 or AD_EDB. */
int st_stmt(ad_store_t *self, int q, const char *op, sqlite3_stmt **stmt);

/* Prepare a one-off statement (a query built from a filter); the caller finalizes it. */
int st_prepare(ad_store_t *self, const char *sql, const char *op, sqlite3_stmt **stmt);

/* sqlite3_step behind the fault switch; returns SQLite's code (or the injected one). */
int st_step(ad_store_t *self, sqlite3_stmt *stmt);

/* 0 when run exists, -ENOENT ("run N: no such run", naming op) when not, or AD_EDB. */
int st_run_exists(ad_store_t *self, int64_t run, const char *op);

/*
 * Open what a public call that writes needs: lock when it reads before it
 * writes and the read must still hold at the write; several when it writes
 * more than one statement, which must land together.
 */
int st_tx_begin(ad_store_t *self, const char *op, bool lock, bool several, st_tx_t *tx);

/* Close what st_tx_begin() opened: commit when rc is 0, else undo.  Returns rc or AD_EDB. */
int st_tx_end(ad_store_t *self, st_tx_t tx, int rc, const char *op);

/* Bind text, not copied (it must outlive the step); NULL is SQL NULL. */
void st_bind_text(sqlite3_stmt *stmt, int i, const char *s);

/* NaN is NULL: "not measured". */
void st_bind_real(sqlite3_stmt *stmt, int i, double v);

/* A row id, a count or a size of 0 (or less) is NULL: "none", "unknown". */
void st_bind_pos(sqlite3_stmt *stmt, int i, int64_t v);

/* Column i as a double; NULL is NaN ("not measured"). */
double st_col_real(sqlite3_stmt *stmt, int i);

/* Column i as an integer; NULL is 0. */
int64_t st_col_i64(sqlite3_stmt *stmt, int i);

/* Column i as a job state, or AD_EDB naming what (what id) when it is no state name. */
int st_col_job_state(ad_store_t *self, sqlite3_stmt *stmt, int i, const char *what, int64_t id,
                     ad_job_state_t *state);

/* Read a runs row selected with ST_RUN_COLS; strings borrowed unless dup. */
int st_read_run(ad_store_t *self, sqlite3_stmt *stmt, bool dup, ad_run_t *run);

/*
 * Step the bound UPDATE stmt of one row (what id), then reset it and its
 * bindings.  Returns 0, -ENOENT ("what ID: no such what") when no row
 * changed, or AD_EDB.
 */
int st_step_update(ad_store_t *self, sqlite3_stmt *stmt, const char *op, const char *what,
                   int64_t id);

/* Read a jobs row selected with ST_JOB_COLS (strings owned).  Returns 0 or AD_EDB. */
int st_read_job(ad_store_t *self, sqlite3_stmt *stmt, ad_job_row_t *job);

/* Read a nodes row selected with ST_NODE_COLS (strings owned).  Returns 0 or AD_EDB. */
int st_read_node(ad_store_t *self, sqlite3_stmt *stmt, ad_node_t *node);

/* Read a profiles row selected with ST_PROFILE_COLS (strings owned). */
void st_read_profile(sqlite3_stmt *stmt, ad_profile_row_t *p);

/* Read a sweeps row selected with ST_SWEEP_COLS (strings owned). */
void st_read_sweep(sqlite3_stmt *stmt, ad_sweep_row_t *s);

/*
 * Step a bound single-row query: 0 with a row ready, -ENOENT with err
 * saying "<what> <id>: no such <what>" (id printed when >= 0, else key), or
 * AD_EDB.  The caller reads the row and resets.
 */
int st_step_one(ad_store_t *self, sqlite3_stmt *stmt, const char *op, const char *what, int64_t id,
                const char *key);

/* Jobs (ad_store_jobs.c). */

/* Append " AND state IN ('A', 'B')" for the states of mask (nothing for 0). */
void st_append_states(char *sql, size_t len, unsigned mask);

/* Filters of runs (ad_store_runs.c). */

/* The equality conditions of filter f into c (room for ST_CONDS_MAX); returns how many. */
int st_conds(const ad_run_filter_t *f, st_cond_t *c);

/*
 * Append " AND kind = 'K'" for the filter's kind: training runs unless it asks
 * for "infer" or "*" (any), so no figure of training ever reads an inference run.
 */
void st_append_kind(char *sql, size_t len, const ad_run_filter_t *f);

/* Build "... AND col = ?" for the conditions; bind them in the same order after prepare. */
void st_append_conds(char *sql, size_t len, const st_cond_t *c, int n);

/* Bind the conditions from parameter 1 on, in the order st_append_conds() wrote them. */
void st_bind_conds(sqlite3_stmt *stmt, const st_cond_t *c, int n);

/* Baselines and speedups (ad_store_speedup.c). */

/* True for the 1x1x1 layout: the baseline of a speedup. */
bool st_is_baseline_layout(const ad_run_t *run);

/* True when the run measured a positive samples/s. */
bool st_has_throughput(const ad_run_t *run);

/* The run's hardware class as stored ("" when none). */
const char *st_run_hardware(const ad_run_t *run);

/* The run's device as stored ("cpu" when none). */
const char *st_run_device(const ad_run_t *run);

/*
 * A COMPLETED run with a throughput was added or finished (docs/speedup.md): a
 * 1x1x1 non-probe run of an unpinned baseline refines it and every speedup of its
 * group (at once, or at ad_store_commit() inside a batch); any other run gets its
 * speedup, interval and flags from its group's baseline.  test_samples: the
 * images behind its accuracy (0 = unknown).  Returns 0 or AD_EDB.
 */
int st_run_completed(ad_store_t *self, int64_t id, const ad_run_t *run, int64_t test_samples,
                     const char *op);

/* Set run id's flags alone (a run that ended without a throughput).  Returns 0 or AD_EDB. */
int st_run_flags_only(ad_store_t *self, int64_t id, const ad_run_t *run, int64_t test_samples,
                      const char *op);

/* Recompute every baseline and every speedup from the runs (migration to schema 5). */
int st_baselines_rebuild(ad_store_t *self, const char *op);

/* Recompute the baselines a batch changed (ad_store_commit()).  Returns 0 or AD_EDB. */
int st_baselines_flush(ad_store_t *self, const char *op);

#endif
