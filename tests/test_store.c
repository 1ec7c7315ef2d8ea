/* test_store.c - the store: open, schema and migrations, faults, read-only and concurrent access */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ad_test.h"
#include "autodist/ad_fault.h"
#include "autodist/ad_store.h"
#include "store_fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int
s_metric_count_fn(int64_t run, const ad_metric_t *m, void *arg)
{
    (*(int64_t *)arg)++;
    return 0;
}

static int64_t
s_count_metrics(ad_store_t *store, int64_t run)
{
    int64_t n = 0;

    assert_int_equal(ad_store_each_metric(store, run, NULL, s_metric_count_fn, &n), 0);
    return n;
}

/*
 * The schema of version 1 exactly as it was released; a test builds old
 * files from it, so it is never edited.
 */
static const char s_v1[] =
    "CREATE TABLE nodes (id INTEGER PRIMARY KEY, hostname TEXT NOT NULL UNIQUE, address TEXT,"
    " state TEXT NOT NULL, first_seen REAL NOT NULL, last_seen REAL NOT NULL);"
    "CREATE TABLE profiles (id INTEGER PRIMARY KEY,"
    " node INTEGER REFERENCES nodes(id) ON DELETE CASCADE, hardware TEXT NOT NULL,"
    " measured REAL NOT NULL, cpu_model TEXT, sockets INTEGER, cores INTEGER, pus INTEGER,"
    " gpus INTEGER, memory_bytes INTEGER, gemm_gflops_1 REAL, gemm_gflops_all REAL,"
    " mem_bw_gbs REAL, topology TEXT);"
    "CREATE INDEX profiles_node ON profiles (node, id);"
    "CREATE INDEX profiles_hardware ON profiles (hardware, id);"
    "CREATE TABLE sweeps (id INTEGER PRIMARY KEY, name TEXT NOT NULL, file_hash TEXT NOT NULL,"
    " spec TEXT, created REAL NOT NULL, UNIQUE (name, file_hash));"
    "CREATE TABLE jobs (id INTEGER PRIMARY KEY, name TEXT NOT NULL, spec TEXT,"
    " state TEXT NOT NULL, reason TEXT, submitted REAL NOT NULL, started REAL, ended REAL,"
    " exit_code INTEGER, sweep INTEGER REFERENCES sweeps(id) ON DELETE SET NULL,"
    " config_hash TEXT, nodes INTEGER, procs_per_node INTEGER, threads_per_proc INTEGER,"
    " device TEXT, nodelist TEXT);"
    "CREATE INDEX jobs_state ON jobs (state, id);"
    "CREATE INDEX jobs_sweep ON jobs (sweep);"
    "CREATE TABLE runs (id INTEGER PRIMARY KEY, job INTEGER REFERENCES jobs(id) ON DELETE SET"
    " NULL, sweep INTEGER REFERENCES sweeps(id) ON DELETE SET NULL, config_hash TEXT,"
    " model TEXT NOT NULL, dataset TEXT NOT NULL, hardware TEXT NOT NULL, device TEXT NOT NULL,"
    " nodes INTEGER NOT NULL, procs_per_node INTEGER NOT NULL,"
    " threads_per_proc INTEGER NOT NULL, batch_size INTEGER NOT NULL, state TEXT NOT NULL,"
    " started REAL, ended REAL, samples_per_s REAL, epoch_time_s REAL, accuracy REAL,"
    " baseline INTEGER REFERENCES runs(id) ON DELETE SET NULL, speedup REAL);"
    "CREATE INDEX runs_layout ON runs (model, dataset, batch_size, hardware, nodes,"
    " procs_per_node, threads_per_proc, device, state, ended);"
    "CREATE INDEX runs_config ON runs (sweep, config_hash);"
    "CREATE INDEX runs_job ON runs (job);"
    "CREATE TABLE metrics (run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    " step INTEGER NOT NULL, key TEXT NOT NULL, value REAL, PRIMARY KEY (run, key, step))"
    " WITHOUT ROWID;"
    "PRAGMA application_id = 1094996820;"
    "PRAGMA user_version = 1;";

/* A version-1 store with a node, a job, two runs (no baseline yet) and metrics. */
static void
s_build_v1(const char *path)
{
    sft_raw_exec(path, s_v1);
    sft_raw_exec(path,
                 "INSERT INTO nodes VALUES (1, 'n1', 'tcp://n1:7401', 'UP', 100, 200);"
                 "INSERT INTO jobs (id, name, spec, state, submitted, started, ended, exit_code)"
                 " VALUES (1, 'old-job', '{\"model\":\"cnn\"}', 'COMPLETED', 10, 11, 12, 0);"
                 "INSERT INTO runs (id, job, model, dataset, hardware, device, nodes,"
                 " procs_per_node, threads_per_proc, batch_size, state, ended, samples_per_s,"
                 " accuracy) VALUES (1, 1, 'cnn', 'fashion-mnist', 'hw-a', 'cpu', 2, 2, 1, 256,"
                 " 'COMPLETED', 12, 4000, 0.91);"
                 "INSERT INTO runs (id, model, dataset, hardware, device, nodes, procs_per_node,"
                 " threads_per_proc, batch_size, state, samples_per_s) VALUES (2, 'cnn',"
                 " 'fashion-mnist', 'hw-a', 'cpu', 1, 4, 1, 256, 'COMPLETED', 3000);"
                 "INSERT INTO metrics VALUES (1, 0, 'loss', 2.3), (1, 10, 'loss', 1.1);");
}

/* ---------------------------------------------------------------------------------------- */
/* Open, schema, migrations.                                                               */

static void
test_open_creates_wal_store(void **state)
{
    char path[512], mode[16];
    ad_store_t *store = NULL;
    ad_err_t err = {0};

    adt_fresh_path(path, sizeof(path), "create", ".db");
    /* Without AD_STORE_CREATE a missing file is an error, and nothing is created. */
    assert_int_equal(ad_store_open(path, 0, &store, &err), -ENOENT);
    assert_null(store);
    adt_assert_has(err.msg, "no such store");
    assert_int_equal(access(path, F_OK), -1);

    store = sft_open(path, AD_STORE_CREATE);
    assert_string_equal(ad_store_path(store), path);
    ad_store_close(&store);
    assert_null(store);
    ad_store_close(&store);

    sft_raw_text(path, "PRAGMA journal_mode", mode, sizeof(mode));
    assert_string_equal(mode, "wal");
    assert_int_equal(sft_raw_int(path, "PRAGMA user_version"), AD_STORE_SCHEMA_VERSION);
    assert_int_equal(sft_raw_int(path, "PRAGMA application_id"), AD_STORE_APP_ID);
    assert_int_equal(sft_raw_int(path, "SELECT count(*) FROM sqlite_schema WHERE name IN"
                                       " ('nodes', 'profiles', 'jobs', 'runs', 'metrics',"
                                       " 'sweeps')"),
                     6);
    assert_int_equal(sft_raw_int(path, "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger'"
                                       " AND tbl_name = 'runs'"),
                     3);
    /* The indexes the queries rely on. */
    assert_int_equal(sft_raw_int(path, "SELECT count(*) FROM sqlite_schema WHERE type = 'index'"
                                       " AND name IN ('runs_layout', 'runs_config',"
                                       " 'runs_unmatched', 'jobs_state')"),
                     4);

    /* Reopening an up-to-date store changes nothing. */
    store = sft_open(path, 0);
    ad_store_close(&store);
    assert_int_equal(sft_raw_int(path, "PRAGMA user_version"), AD_STORE_SCHEMA_VERSION);
}

static void
test_open_default_home(void **state)
{
    char home[512], db[600];
    ad_store_t *store = NULL;
    ad_err_t err = {0};
    struct stat st;

    adt_fresh_path(home, sizeof(home), "home", "/deeper");
    setenv("AUTODIST_HOME", home, 1);
    assert_int_equal(ad_store_open(NULL, AD_STORE_READONLY, &store, &err), -ENOENT);
    store = sft_open(NULL, AD_STORE_CREATE);
    snprintf(db, sizeof(db), "%s/runs.db", home);
    assert_string_equal(ad_store_path(store), db);
    ad_store_close(&store);
    assert_int_equal(stat(db, &st), 0);
    assert_int_equal(stat(home, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    unsetenv("AUTODIST_HOME");
}

static void
test_empty_file_is_initialised(void **state)
{
    char path[512];
    ad_store_t *store;

    adt_fresh_path(path, sizeof(path), "empty", ".db");
    adt_write_bytes(path, "", 0);
    /* An empty file is an SQLite database of schema 0: it becomes a store. */
    store = sft_open(path, 0);
    ad_store_close(&store);
    assert_int_equal(sft_raw_int(path, "PRAGMA user_version"), AD_STORE_SCHEMA_VERSION);
}

static void
test_migrate_from_v1_keeps_data(void **state)
{
    char path[512];
    ad_store_t *store;
    ad_job_row_t job;
    ad_node_t node;
    ad_run_t run;
    int64_t base;

    adt_fresh_path(path, sizeof(path), "v1", ".db");
    s_build_v1(path);
    store = sft_open(path, 0);
    assert_int_equal(sft_raw_int(path, "PRAGMA user_version"), AD_STORE_SCHEMA_VERSION);

    assert_int_equal(ad_store_get_job(store, 1, &job), 0);
    assert_string_equal(job.name, "old-job");
    /* Columns added by version 3: never requeued, no process. */
    assert_int_equal(job.attempts, 0);
    assert_int_equal(job.pid, 0);
    assert_null(job.pid_identity);
    assert_string_equal(job.spec, "{\"model\":\"cnn\"}");
    /* Version 5: a run carries its job's name and spec; imported runs have none. */
    assert_int_equal(sft_raw_int(path, "SELECT count(*) FROM runs WHERE id = 1"
                                       " AND name = 'old-job' AND spec = '{\"model\":\"cnn\"}'"
                                       " AND probe = 0 AND flags IS NULL"),
                     1);
    assert_int_equal(sft_raw_int(path, "SELECT count(*) FROM runs WHERE id = 2"
                                       " AND name IS NULL AND spec IS NULL"),
                     1);
    assert_int_equal(sft_raw_int(path, "SELECT count(*) FROM sqlite_schema WHERE name IN"
                                       " ('run_tags', 'baselines', 'runs_import_key')"),
                     3);
    assert_int_equal(job.state, AD_JOB_COMPLETED);
    assert_int_equal(job.exit_code, 0);
    ad_store_job_row_clear(&job);
    assert_int_equal(ad_store_get_node(store, 1, &node), 0);
    assert_string_equal(node.hostname, "n1");
    ad_store_node_clear(&node);

    assert_int_equal(ad_store_get_run(store, 1, &run), 0);
    assert_int_equal(run.job, 1);
    assert_near(run.samples_per_s, 4000);
    assert_near(run.accuracy, 0.91);
    /* Columns added by version 2 read as "not measured". */
    assert_true(isnan(run.step_time_s));
    assert_true(isnan(run.comm_time_s));
    assert_int_equal(run.params, 0);
    assert_true(isnan(run.speedup));
    ad_store_run_clear(&run);
    assert_int_equal(s_count_metrics(store, 1), 2);
    /* The layout sums were built from the old runs. */
    assert_int_equal(sft_raw_int(path, "SELECT count(*) FROM run_groups"), 2);
    assert_int_equal(sft_raw_int(path, "SELECT sum_sps FROM run_groups WHERE nodes = 2"), 4000);
    /* Version 6: the old runs are training runs; no inference artifact yet. */
    assert_int_equal(sft_raw_int(path, "SELECT count(*) FROM runs WHERE kind = 'train'"), 2);
    assert_int_equal(sft_raw_int(path, "SELECT count(*) FROM models"), 0);

    /* A baseline arriving now fills in the speedups of the old runs. */
    base = sft_run_to_completion(store, 1, 1, 1, 1000, 50);
    assert_int_equal(ad_store_get_run(store, 1, &run), 0);
    assert_int_equal(run.baseline, base);
    assert_near(run.speedup, 4.0);
    ad_store_run_clear(&run);
    assert_int_equal(ad_store_get_run(store, 2, &run), 0);
    assert_near(run.speedup, 3.0);
    ad_store_run_clear(&run);
    ad_store_close(&store);
}

/*
 * Version 5: the baselines come from the 1x1x1 runs present, and every speedup is
 * recomputed with them (the old rule had measured each against the latest one).
 */
static void
test_migrate_rebuilds_baselines(void **state)
{
    char path[512];
    ad_store_t *store;
    ad_run_t run;

    adt_fresh_path(path, sizeof(path), "v1base", ".db");
    s_build_v1(path);
    sft_raw_exec(path,
                 "INSERT INTO runs (id, model, dataset, hardware, device, nodes, procs_per_node,"
                 " threads_per_proc, batch_size, state, ended, samples_per_s, baseline, speedup)"
                 " VALUES (3, 'cnn', 'fashion-mnist', 'hw-a', 'cpu', 1, 1, 1, 256, 'COMPLETED',"
                 " 20, 800, 3, 1.0), (4, 'cnn', 'fashion-mnist', 'hw-a', 'cpu', 1, 1, 1, 256,"
                 " 'COMPLETED', 30, 1200, 4, 1.0);"
                 "UPDATE runs SET baseline = 4, speedup = 4000.0 / 1200 WHERE id = 1;");
    store = sft_open(path, 0);
    assert_int_equal(sft_raw_int(path, "SELECT n FROM baselines WHERE model = 'cnn'"), 2);
    assert_int_equal(sft_raw_int(path, "SELECT sps FROM baselines WHERE model = 'cnn'"), 1000);
    assert_int_equal(ad_store_get_run(store, 1, &run), 0);
    assert_int_equal(run.baseline, 4);
    assert_near(run.speedup, 4.0);
    assert_true(run.speedup_lo < 4.0 && run.speedup_hi > 4.0);
    ad_store_run_clear(&run);
    assert_int_equal(ad_store_get_run(store, 3, &run), 0);
    assert_near(run.speedup, 0.8);
    ad_store_run_clear(&run);
    ad_store_close(&store);
}

static void
test_migration_failure_leaves_old_schema(void **state)
{
    char path[512];
    ad_store_t *store = NULL;
    ad_err_t err = {0};

    adt_fresh_path(path, sizeof(path), "v1fail", ".db");
    s_build_v1(path);
    ad_fault_arm("store.migrate", 1);
    assert_int_equal(ad_store_open(path, 0, &store, &err), AD_EDB);
    assert_null(store);
    adt_assert_has(err.msg, "migrate to schema 2");
    assert_int_equal(sft_raw_int(path, "PRAGMA user_version"), 1);
    assert_int_equal(sft_raw_int(path, "SELECT count(*) FROM runs"), 2);
    /* Version 2's columns were not half-added. */
    assert_int_equal(sft_raw_int(path, "SELECT count(*) FROM pragma_table_info('runs')"
                                       " WHERE name = 'step_time_s'"),
                     0);

    store = sft_open(path, 0);
    ad_store_close(&store);
    assert_int_equal(sft_raw_int(path, "PRAGMA user_version"), AD_STORE_SCHEMA_VERSION);
}

static void
test_readonly_open_of_old_schema_refused(void **state)
{
    char path[512];
    ad_store_t *store = NULL;
    ad_err_t err = {0};

    adt_fresh_path(path, sizeof(path), "v1ro", ".db");
    s_build_v1(path);
    assert_int_equal(ad_store_open(path, AD_STORE_READONLY, &store, &err), AD_EDB);
    adt_assert_has(err.msg, "has schema 1, this autodist needs 6");
    assert_int_equal(sft_raw_int(path, "PRAGMA user_version"), 1);
}

static void
test_newer_schema_refused(void **state)
{
    char path[512];
    ad_store_t *store = NULL;
    ad_err_t err = {0};

    adt_fresh_path(path, sizeof(path), "v7", ".db");
    sft_raw_exec(path, "CREATE TABLE runs (id INTEGER PRIMARY KEY, future TEXT);"
                       "INSERT INTO runs VALUES (1, 'from the future');"
                       "PRAGMA application_id = 1094996820; PRAGMA user_version = 7;");
    assert_int_equal(ad_store_open(path, 0, &store, &err), AD_EDB);
    assert_int_equal(err.code, AD_EDB);
    assert_null(store);
    adt_assert_has(err.msg, path);
    adt_assert_has(err.msg, "has schema 7, this autodist knows up to 6: upgrade autodist");
    /* Untouched: still version 7 with its row. */
    assert_int_equal(sft_raw_int(path, "PRAGMA user_version"), 7);
    assert_int_equal(sft_raw_int(path, "SELECT count(*) FROM runs"), 1);
}

static void
test_not_a_database_refused(void **state)
{
    static const char junk[] = "name: fashion-cnn\nmodel: cnn\nthis is a YAML file, not SQLite "
                               "......................................................\n";
    char path[512];
    ad_store_t *store = NULL;
    ad_err_t err = {0};
    char expect[600];

    adt_fresh_path(path, sizeof(path), "junk", ".db");
    adt_write_bytes(path, junk, sizeof(junk) - 1);
    assert_int_equal(ad_store_open(path, 0, &store, &err), AD_EDB);
    assert_null(store);
    snprintf(expect, sizeof(expect), "%s: not an autodist store (file is not a database)", path);
    assert_string_equal(err.msg, expect);
    assert_int_equal(ad_store_open(path, AD_STORE_READONLY, &store, &err), AD_EDB);
    assert_string_equal(err.msg, expect);

    /* Another program's SQLite database is not ours either, and stays as it was. */
    adt_fresh_path(path, sizeof(path), "foreign", ".db");
    sft_raw_exec(path, "CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT);");
    assert_int_equal(ad_store_open(path, 0, &store, &err), AD_EDB);
    adt_assert_has(err.msg, "not an autodist store");
    assert_int_equal(sft_raw_int(path, "SELECT count(*) FROM sqlite_schema"), 1);

    adt_fresh_path(path, sizeof(path), "otherapp", ".db");
    sft_raw_exec(path, "PRAGMA application_id = 42; PRAGMA user_version = 1;");
    assert_int_equal(ad_store_open(path, 0, &store, &err), AD_EDB);
    adt_assert_has(err.msg, "another application");

    /* A folder is not a store, nor a file in a folder that does not exist. */
    assert_int_equal(ad_store_open(adt_root(), 0, &store, &err), -EISDIR);
    snprintf(path, sizeof(path), "%s/missing/runs.db", adt_root());
    assert_int_equal(ad_store_open(path, AD_STORE_CREATE, &store, &err), AD_EDB);
    adt_assert_has(err.msg, "cannot open the file: No such file or directory");
}

/* ---------------------------------------------------------------------------------------- */
/* Faults: every failing step leaves nothing half-written.                                 */

#define S_BATCH 40

static void
s_fill_batch(ad_metric_t *m)
{
    for (int i = 0; i < S_BATCH; i++) {
        m[i].step = i;
        m[i].key = "loss";
        m[i].value = 1.0 / (i + 1);
    }
}

static void
test_fault_metrics_all_or_nothing(void **state)
{
    char path[512];
    ad_store_t *store = sft_new_store(path, sizeof(path), "fault");
    ad_metric_t m[S_BATCH];
    ad_run_t run;
    int64_t id;
    int n, rc;

    s_fill_batch(m);
    sft_run(&run, 1, 1, 1, AD_JOB_RUNNING, NAN);
    id = sft_add_run(store, &run);
    /* Fail step 1, 2, 3, ... until the batch gets through: BEGIN, the check, 40 inserts, COMMIT. */
    for (n = 1;; n++) {
        ad_fault_arm("store.step", n);
        rc = ad_store_add_metrics(store, id, m, S_BATCH);
        if (ad_fault_armed("store.step")) {
            ad_fault_reset();
            assert_int_equal(rc, 0);
            break;
        }
        assert_int_equal(rc, AD_EDB);
        assert_int_equal(ad_store_err(store)->code, AD_EDB);
        adt_assert_has(ad_store_errmsg(store), "add metrics");
        adt_assert_has(ad_store_errmsg(store), "fault injected");
        adt_assert_has(ad_store_errmsg(store), "; nothing was written");
        /* All or nothing, seen from another connection too. */
        assert_int_equal(s_count_metrics(store, id), 0);
        assert_int_equal(sft_raw_int(path, "SELECT count(*) FROM metrics"), 0);
    }
    assert_int_equal(n, S_BATCH + 4);
    assert_int_equal(s_count_metrics(store, id), S_BATCH);

    /* A full disk on the 10th insert: the message says so, and nothing was written. */
    assert_int_equal(sft_raw_int(path, "SELECT count(*) FROM metrics"), S_BATCH);
    for (int i = 0; i < S_BATCH; i++)
        m[i].step += 1000;
    ad_fault_arm("store.full", 12);
    assert_int_equal(ad_store_add_metrics(store, id, m, S_BATCH), AD_EDB);
    adt_assert_has(ad_store_errmsg(store), "the disk is full");
    adt_assert_has(ad_store_errmsg(store), "nothing was written");
    assert_int_equal(s_count_metrics(store, id), S_BATCH);

    ad_fault_arm("store.prepare", 1);
    assert_int_equal(ad_store_add_metrics(store, id, m, S_BATCH), AD_EDB);
    assert_int_equal(s_count_metrics(store, id), S_BATCH);
    ad_store_close(&store);
}

static void
test_fault_inside_caller_transaction(void **state)
{
    char path[512];
    ad_store_t *store = sft_new_store(path, sizeof(path), "faulttx");
    ad_metric_t m[S_BATCH];
    ad_job_row_t job;
    ad_run_t run;
    int64_t id, jid;

    s_fill_batch(m);
    sft_run(&run, 1, 1, 1, AD_JOB_RUNNING, NAN);
    id = sft_add_run(store, &run);
    ad_store_job_row_init(&job);
    job.name = "batched";

    assert_int_equal(ad_store_begin(store), 0);
    assert_int_equal(ad_store_add_job(store, &job, &jid), 0);
    /* The 5th step of the batch fails: only the batch is undone, the job stays. */
    ad_fault_arm("store.step", 5);
    assert_int_equal(ad_store_add_metrics(store, id, m, S_BATCH), AD_EDB);
    adt_assert_has(ad_store_errmsg(store), "this call wrote nothing, the open transaction goes on");
    assert_int_equal(ad_store_commit(store), 0);
    assert_int_equal(ad_store_get_job(store, jid, &job), 0);
    ad_store_job_row_clear(&job);
    assert_int_equal(s_count_metrics(store, id), 0);

    /* A failing COMMIT rolls the whole batch back. */
    ad_store_job_row_init(&job);
    job.name = "lost";
    assert_int_equal(ad_store_begin(store), 0);
    assert_int_equal(ad_store_add_job(store, &job, &jid), 0);
    assert_int_equal(ad_store_add_metrics(store, id, m, S_BATCH), 0);
    ad_fault_arm("store.full", 1);
    assert_int_equal(ad_store_commit(store), AD_EDB);
    adt_assert_has(ad_store_errmsg(store), "the disk is full");
    assert_int_equal(ad_store_get_job(store, jid, &job), -ENOENT);
    assert_int_equal(s_count_metrics(store, id), 0);

    /* Rollback discards; rollback without a transaction is harmless. */
    assert_int_equal(ad_store_begin(store), 0);
    assert_int_equal(ad_store_add_metrics(store, id, m, S_BATCH), 0);
    assert_int_equal(ad_store_rollback(store), 0);
    assert_int_equal(ad_store_rollback(store), 0);
    assert_int_equal(s_count_metrics(store, id), 0);
    ad_store_close(&store);
}

/* Walk every step of finishing a baseline that backfills: each failure changes nothing. */
static void
test_fault_finish_run_atomic(void **state)
{
    char path[512];
    ad_store_t *store = sft_new_store(path, sizeof(path), "faultfin");
    ad_run_result_t res;
    ad_run_t run, got;
    int64_t waiting, base;
    int n, rc;

    waiting = sft_run_to_completion(store, 2, 2, 1, 4000, 10);
    sft_run(&run, 1, 1, 1, AD_JOB_RUNNING, NAN);
    base = sft_add_run(store, &run);
    ad_store_run_result_init(&res, AD_JOB_COMPLETED);
    res.samples_per_s = 1000;
    for (n = 1;; n++) {
        ad_fault_arm("store.step", n);
        rc = ad_store_finish_run(store, base, &res);
        if (ad_fault_armed("store.step")) {
            ad_fault_reset();
            assert_int_equal(rc, 0);
            break;
        }
        assert_int_equal(rc, AD_EDB);
        assert_int_equal(ad_store_get_run(store, base, &got), 0);
        assert_int_equal(got.state, AD_JOB_RUNNING);
        assert_true(isnan(got.samples_per_s));
        ad_store_run_clear(&got);
        assert_int_equal(ad_store_get_run(store, waiting, &got), 0);
        assert_true(isnan(got.speedup));
        ad_store_run_clear(&got);
    }
    /* BEGIN, read, update, read back, baselines, the group's speedups, COMMIT. */
    assert_true(n > 7);
    assert_int_equal(ad_store_get_run(store, waiting, &got), 0);
    assert_near(got.speedup, 4.0);
    ad_store_run_clear(&got);
    ad_store_close(&store);
}

static void
test_fault_env(void **state)
{
    ad_err_t err = {0};

    setenv(AD_FAULT_ENV, "store.step:3,fork:1", 1);
    assert_int_equal(ad_fault_arm_env(&err), 0);
    assert_true(ad_fault_armed("store.step"));
    assert_true(ad_fault_armed("fork"));
    assert_true(ad_fault_hit("fork"));
    assert_false(ad_fault_armed("fork"));
    assert_false(ad_fault_hit("store.step"));
    assert_false(ad_fault_hit("store.step"));
    assert_true(ad_fault_hit("store.step"));
    assert_false(ad_fault_hit("store.step")); /* once */
    ad_fault_reset();

    setenv(AD_FAULT_ENV, "store.step:2,oops", 1);
    assert_int_equal(ad_fault_arm_env(&err), AD_EINVAL);
    adt_assert_has(err.msg, "\"oops\"");
    assert_false(ad_fault_armed("store.step")); /* a bad list arms nothing */
    setenv(AD_FAULT_ENV, "store.step:0", 1);
    assert_int_equal(ad_fault_arm_env(&err), AD_EINVAL);
    setenv(AD_FAULT_ENV, "store.step:2x", 1);
    assert_int_equal(ad_fault_arm_env(&err), AD_EINVAL);
    unsetenv(AD_FAULT_ENV);
    assert_int_equal(ad_fault_arm_env(&err), 0);

    /* Re-arming restarts the count; n <= 0 disarms. */
    ad_fault_arm("x", 2);
    assert_false(ad_fault_hit("x"));
    ad_fault_arm("x", 2);
    assert_false(ad_fault_hit("x"));
    assert_true(ad_fault_hit("x"));
    ad_fault_arm("x", 1);
    ad_fault_arm("x", 0);
    assert_false(ad_fault_hit("x"));
}

/* ---------------------------------------------------------------------------------------- */
/* Access: read-only handles, two handles, busy.                                           */

static void
test_readonly_cannot_write(void **state)
{
    char path[512];
    ad_store_t *store = sft_new_store(path, sizeof(path), "ro");
    ad_store_t *ro;
    ad_job_row_t job;
    ad_node_t node;
    ad_metric_t m = {1, "loss", 1.0};
    ad_run_t run;
    int64_t jid, rid;

    ad_store_job_row_init(&job);
    job.name = "kept";
    assert_int_equal(ad_store_add_job(store, &job, &jid), 0);
    sft_run(&run, 1, 1, 1, AD_JOB_RUNNING, NAN);
    rid = sft_add_run(store, &run);
    ad_store_close(&store);

    ro = sft_open(path, AD_STORE_READONLY);
    assert_int_equal(ad_store_get_job(ro, jid, &job), 0);
    assert_string_equal(job.name, "kept");
    ad_store_job_row_clear(&job);
    ad_store_job_row_init(&job);
    job.name = "refused";
    assert_int_equal(ad_store_add_job(ro, &job, NULL), AD_EDB);
    adt_assert_has(ad_store_errmsg(ro), "read-only");
    assert_int_equal(ad_store_add_run(ro, &run, NULL), AD_EDB);
    assert_int_equal(ad_store_add_metrics(ro, rid, &m, 1), AD_EDB);
    assert_int_equal(ad_store_set_job_state(ro, jid, AD_JOB_RUNNING, NULL, 0), AD_EDB);
    ad_store_node_init(&node);
    node.hostname = "n";
    assert_int_equal(ad_store_put_node(ro, &node, NULL), AD_EDB);
    assert_int_equal(ad_store_begin(ro), AD_EDB);
    ad_store_close(&ro);
    assert_int_equal(sft_raw_int(path, "SELECT count(*) FROM jobs"), 1);
}

static void
test_two_handles_see_commits(void **state)
{
    char path[512];
    ad_store_t *a = sft_new_store(path, sizeof(path), "two");
    ad_store_t *b = sft_open(path, 0);
    ad_store_t *reader = sft_open(path, AD_STORE_READONLY);
    ad_job_row_t job, *rows = NULL;
    int64_t j1, j2;
    size_t n;

    ad_store_job_row_init(&job);
    job.name = "from-a";
    assert_int_equal(ad_store_add_job(a, &job, &j1), 0);
    assert_int_equal(ad_store_get_job(b, j1, &job), 0);
    assert_string_equal(job.name, "from-a");
    ad_store_job_row_clear(&job);

    /* Uncommitted work is invisible to the others, then visible after commit. */
    assert_int_equal(ad_store_begin(a), 0);
    ad_store_job_row_init(&job);
    job.name = "batched";
    assert_int_equal(ad_store_add_job(a, &job, &j2), 0);
    assert_int_equal(ad_store_get_job(b, j2, &job), -ENOENT);
    assert_int_equal(ad_store_list_jobs(reader, 0, &rows, &n), 0);
    assert_int_equal(n, 1);
    ad_store_job_rows_free(&rows, n);

    /* While a holds the write lock, b's write waits, then fails in plain words. */
    ad_store_set_busy_timeout(b, 100);
    ad_store_job_row_init(&job);
    job.name = "from-b";
    assert_int_equal(ad_store_add_job(b, &job, NULL), AD_EDB);
    adt_assert_has(ad_store_errmsg(b), "the store is busy");
    adt_assert_has(ad_store_errmsg(b), "100 ms");
    assert_int_equal(ad_store_commit(a), 0);

    assert_int_equal(ad_store_get_job(b, j2, &job), 0);
    assert_string_equal(job.name, "batched");
    ad_store_job_row_clear(&job);
    assert_int_equal(ad_store_list_jobs(reader, 0, &rows, &n), 0);
    assert_int_equal(n, 2);
    ad_store_job_rows_free(&rows, n);
    /* Now b can write, and a sees it. */
    ad_store_job_row_init(&job);
    job.name = "from-b";
    assert_int_equal(ad_store_add_job(b, &job, &j2), 0);
    assert_int_equal(ad_store_get_job(a, j2, &job), 0);
    ad_store_job_row_clear(&job);

    /* An injected busy reads the same way. */
    ad_fault_arm("store.busy", 1);
    ad_store_job_row_init(&job);
    job.name = "x";
    assert_int_equal(ad_store_add_job(a, &job, NULL), AD_EDB);
    adt_assert_has(ad_store_errmsg(a), "the store is busy");

    ad_store_close(&reader);
    ad_store_close(&b);
    ad_store_close(&a);
}

/* The queries that must stay fast use their indexes (timings belong to bench/). */
static void
test_query_plans_use_indexes(void **state)
{
    char path[512], plan[1024];
    ad_store_t *store = sft_new_store(path, sizeof(path), "plans");

    ad_store_close(&store);
    /* The baseline lookup. */
    sft_raw_plan(path,
                 "SELECT id, samples_per_s FROM runs WHERE model = 'm' AND dataset = 'd' AND"
                 " batch_size = 1 AND hardware = 'h' AND nodes = 1 AND procs_per_node = 1 AND"
                 " threads_per_proc = 1 AND device = 'cpu' AND state = 'COMPLETED' AND"
                 " samples_per_s > 0 ORDER BY ended DESC, id DESC LIMIT 1",
                 plan, sizeof(plan));
    adt_assert_has(plan, "runs_layout");
    /* The backfill of a late baseline. */
    sft_raw_plan(path,
                 "UPDATE runs INDEXED BY runs_unmatched SET speedup = 1 WHERE model = 'm' AND "
                 "dataset = 'd' AND"
                 " batch_size = 1 AND hardware = 'h' AND device = 'cpu' AND state = 'COMPLETED'"
                 " AND speedup IS NULL AND samples_per_s > 0",
                 plan, sizeof(plan));
    adt_assert_has(plan, "runs_unmatched");
    /* Resuming a sweep. */
    sft_raw_plan(path, "SELECT id FROM runs WHERE sweep IS 3 AND config_hash = 'x'", plan,
                 sizeof(plan));
    adt_assert_has(plan, "runs_config");
    /* The speedup table reads one row per layout, in key order, without sorting. */
    sft_raw_plan(path,
                 "SELECT * FROM run_groups WHERE runs > 0 ORDER BY model, dataset, batch_size,"
                 " hardware, nodes, procs_per_node, threads_per_proc, device",
                 plan, sizeof(plan));
    adt_assert_has(plan, "SCAN run_groups");
    if (strstr(plan, "TEMP B-TREE"))
        fail_msg("speedup query sorts: %s", plan);
    sft_raw_plan(path,
                 "SELECT * FROM run_groups WHERE runs > 0 AND model = 'cnn' ORDER BY model,"
                 " dataset, batch_size, hardware, nodes, procs_per_node, threads_per_proc, device",
                 plan, sizeof(plan));
    adt_assert_has(plan, "SEARCH run_groups USING PRIMARY KEY (model=?)");
    /* Speedups grouped from the runs walk runs_layout in group order, without sorting. */
    sft_raw_plan(path,
                 "SELECT * FROM runs WHERE state = 'COMPLETED' AND samples_per_s > 0 ORDER BY"
                 " model, dataset, batch_size, hardware, nodes, procs_per_node, threads_per_proc,"
                 " device",
                 plan, sizeof(plan));
    adt_assert_has(plan, "runs_layout");
    if (strstr(plan, "TEMP B-TREE"))
        fail_msg("grouped runs query sorts: %s", plan);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_open_creates_wal_store, sft_teardown),
        cmocka_unit_test_teardown(test_open_default_home, sft_teardown),
        cmocka_unit_test_teardown(test_empty_file_is_initialised, sft_teardown),
        cmocka_unit_test_teardown(test_migrate_from_v1_keeps_data, sft_teardown),
        cmocka_unit_test_teardown(test_migrate_rebuilds_baselines, sft_teardown),
        cmocka_unit_test_teardown(test_migration_failure_leaves_old_schema, sft_teardown),
        cmocka_unit_test_teardown(test_readonly_open_of_old_schema_refused, sft_teardown),
        cmocka_unit_test_teardown(test_newer_schema_refused, sft_teardown),
        cmocka_unit_test_teardown(test_not_a_database_refused, sft_teardown),
        cmocka_unit_test_teardown(test_fault_metrics_all_or_nothing, sft_teardown),
        cmocka_unit_test_teardown(test_fault_inside_caller_transaction, sft_teardown),
        cmocka_unit_test_teardown(test_fault_finish_run_atomic, sft_teardown),
        cmocka_unit_test_teardown(test_fault_env, sft_teardown),
        cmocka_unit_test_teardown(test_readonly_cannot_write, sft_teardown),
        cmocka_unit_test_teardown(test_two_handles_see_commits, sft_teardown),
        cmocka_unit_test_teardown(test_query_plans_use_indexes, sft_teardown),
    };

    return cmocka_run_group_tests(tests, sft_group_setup, sft_group_teardown);
}
