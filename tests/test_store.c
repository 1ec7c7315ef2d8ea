/* test_store.c - the store: schema and migrations, round trips, speedups, faults, concurrency */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ad_test.h"
#include "autodist/ad_fault.h"
#include "autodist/ad_store.h"

#include <errno.h>
#include <stdbool.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#define assert_near(a, b) assert_true(s_near((a), (b)))

static bool
s_near(double a, double b)
{
    return fabs(a - b) <= 1e-9 * (fabs(b) + 1);
}

/* ---------------------------------------------------------------------------------------- */
/* Fixtures.                                                                               */

static ad_store_t *
s_open(const char *path, unsigned flags)
{
    ad_store_t *store = NULL;
    ad_err_t err = {0};
    int rc = ad_store_open(path, flags, &store, &err);

    if (rc)
        fail_msg("open %s: %s", path ? path : "(no path)", err.msg);
    assert_non_null(store);
    return store;
}

static ad_store_t *
s_new_store(char *path, size_t len, const char *tag)
{
    adt_fresh_path(path, len, tag, ".db");
    return s_open(path, AD_STORE_CREATE);
}

/* Run SQL on the file with plain SQLite, as another program would. */
static void
s_raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    char *msg = NULL;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("raw exec on %s: %s", path, msg);
    sqlite3_close(db);
}

/* One integer from plain SQLite. */
static int64_t
s_raw_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    int64_t v;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
        fail_msg("raw query \"%s\": %s", sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    v = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return v;
}

static void
s_raw_text(const char *path, const char *sql, char *out, size_t len)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    snprintf(out, len, "%s", (const char *)sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    sqlite3_close(db);
}

/* The details of EXPLAIN QUERY PLAN, joined with " | ". */
static void
s_raw_plan(const char *path, const char *sql, char *out, size_t len)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    char q[1024];
    size_t used = 0;

    snprintf(q, sizeof(q), "EXPLAIN QUERY PLAN %s", sql);
    out[0] = '\0';
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    if (sqlite3_prepare_v2(db, q, -1, &stmt, NULL) != SQLITE_OK)
        fail_msg("plan \"%s\": %s", sql, sqlite3_errmsg(db));
    while (sqlite3_step(stmt) == SQLITE_ROW && used < len)
        used +=
            snprintf(out + used, len - used, "%s | ", (const char *)sqlite3_column_text(stmt, 3));
    sqlite3_finalize(stmt);
    sqlite3_close(db);
}

/* A run of model cnn on fashion-mnist, hardware class hw-a, batch 256. */
static void
s_run(ad_run_t *run, int nodes, int ppn, int tpp, ad_job_state_t state, double sps)
{
    ad_store_run_init(run);
    run->model = "cnn";
    run->dataset = "fashion-mnist";
    run->hardware = "hw-a";
    run->device = "cpu";
    run->nodes = nodes;
    run->procs_per_node = ppn;
    run->threads_per_proc = tpp;
    run->batch_size = 256;
    run->state = state;
    run->samples_per_s = sps;
}

static int64_t
s_add_run(ad_store_t *store, const ad_run_t *run)
{
    int64_t id = 0;

    if (ad_store_add_run(store, run, &id))
        fail_msg("add run: %s", ad_store_errmsg(store));
    assert_true(id > 0);
    return id;
}

/* Add a RUNNING run and finish it COMPLETED with a throughput and an end time. */
static int64_t
s_run_to_completion(ad_store_t *store, int nodes, int ppn, int tpp, double sps, double ended)
{
    ad_run_result_t res;
    ad_run_t run;
    int64_t id;

    s_run(&run, nodes, ppn, tpp, AD_JOB_RUNNING, NAN);
    id = s_add_run(store, &run);
    ad_store_run_result_init(&res, AD_JOB_COMPLETED);
    res.samples_per_s = sps;
    res.ended = ended;
    if (ad_store_finish_run(store, id, &res))
        fail_msg("finish run: %s", ad_store_errmsg(store));
    return id;
}

static int
s_count_fn(const ad_run_t *run, void *arg)
{
    (*(int64_t *)arg)++;
    return 0;
}

static int64_t
s_count_runs(ad_store_t *store, const ad_run_filter_t *f)
{
    int64_t n = 0;

    assert_int_equal(ad_store_each_run(store, f, s_count_fn, &n), 0);
    return n;
}

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
    s_raw_exec(path, s_v1);
    s_raw_exec(path,
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

static int
s_group_setup(void **state)
{
    return adt_root_make("ad_store") ? 0 : -1;
}

static int
s_group_teardown(void **state)
{
    adt_root_remove();
    return 0;
}

static int
s_teardown(void **state)
{
    ad_fault_reset();
    return 0;
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

    store = s_open(path, AD_STORE_CREATE);
    assert_string_equal(ad_store_path(store), path);
    ad_store_close(&store);
    assert_null(store);
    ad_store_close(&store);

    s_raw_text(path, "PRAGMA journal_mode", mode, sizeof(mode));
    assert_string_equal(mode, "wal");
    assert_int_equal(s_raw_int(path, "PRAGMA user_version"), AD_STORE_SCHEMA_VERSION);
    assert_int_equal(s_raw_int(path, "PRAGMA application_id"), AD_STORE_APP_ID);
    assert_int_equal(s_raw_int(path, "SELECT count(*) FROM sqlite_schema WHERE name IN"
                                     " ('nodes', 'profiles', 'jobs', 'runs', 'metrics',"
                                     " 'sweeps')"),
                     6);
    assert_int_equal(s_raw_int(path, "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger'"
                                     " AND tbl_name = 'runs'"),
                     3);
    /* The indexes the queries rely on. */
    assert_int_equal(s_raw_int(path, "SELECT count(*) FROM sqlite_schema WHERE type = 'index'"
                                     " AND name IN ('runs_layout', 'runs_config',"
                                     " 'runs_unmatched', 'jobs_state')"),
                     4);

    /* Reopening an up-to-date store changes nothing. */
    store = s_open(path, 0);
    ad_store_close(&store);
    assert_int_equal(s_raw_int(path, "PRAGMA user_version"), AD_STORE_SCHEMA_VERSION);
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
    store = s_open(NULL, AD_STORE_CREATE);
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
    store = s_open(path, 0);
    ad_store_close(&store);
    assert_int_equal(s_raw_int(path, "PRAGMA user_version"), AD_STORE_SCHEMA_VERSION);
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
    store = s_open(path, 0);
    assert_int_equal(s_raw_int(path, "PRAGMA user_version"), 2);

    assert_int_equal(ad_store_get_job(store, 1, &job), 0);
    assert_string_equal(job.name, "old-job");
    assert_string_equal(job.spec, "{\"model\":\"cnn\"}");
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
    assert_int_equal(s_raw_int(path, "SELECT count(*) FROM run_groups"), 2);
    assert_int_equal(s_raw_int(path, "SELECT sum_sps FROM run_groups WHERE nodes = 2"), 4000);

    /* A baseline arriving now fills in the speedups of the old runs. */
    base = s_run_to_completion(store, 1, 1, 1, 1000, 50);
    assert_int_equal(ad_store_get_run(store, 1, &run), 0);
    assert_int_equal(run.baseline, base);
    assert_near(run.speedup, 4.0);
    ad_store_run_clear(&run);
    assert_int_equal(ad_store_get_run(store, 2, &run), 0);
    assert_near(run.speedup, 3.0);
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
    assert_int_equal(s_raw_int(path, "PRAGMA user_version"), 1);
    assert_int_equal(s_raw_int(path, "SELECT count(*) FROM runs"), 2);
    /* Version 2's columns were not half-added. */
    assert_int_equal(s_raw_int(path, "SELECT count(*) FROM pragma_table_info('runs')"
                                     " WHERE name = 'step_time_s'"),
                     0);

    store = s_open(path, 0);
    ad_store_close(&store);
    assert_int_equal(s_raw_int(path, "PRAGMA user_version"), 2);
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
    adt_assert_has(err.msg, "has schema 1, this autodist needs 2");
    assert_int_equal(s_raw_int(path, "PRAGMA user_version"), 1);
}

static void
test_newer_schema_refused(void **state)
{
    char path[512];
    ad_store_t *store = NULL;
    ad_err_t err = {0};

    adt_fresh_path(path, sizeof(path), "v7", ".db");
    s_raw_exec(path, "CREATE TABLE runs (id INTEGER PRIMARY KEY, future TEXT);"
                     "INSERT INTO runs VALUES (1, 'from the future');"
                     "PRAGMA application_id = 1094996820; PRAGMA user_version = 7;");
    assert_int_equal(ad_store_open(path, 0, &store, &err), AD_EDB);
    assert_int_equal(err.code, AD_EDB);
    assert_null(store);
    adt_assert_has(err.msg, path);
    adt_assert_has(err.msg, "has schema 7, this autodist knows up to 2: upgrade autodist");
    /* Untouched: still version 7 with its row. */
    assert_int_equal(s_raw_int(path, "PRAGMA user_version"), 7);
    assert_int_equal(s_raw_int(path, "SELECT count(*) FROM runs"), 1);
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
    s_raw_exec(path, "CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT);");
    assert_int_equal(ad_store_open(path, 0, &store, &err), AD_EDB);
    adt_assert_has(err.msg, "not an autodist store");
    assert_int_equal(s_raw_int(path, "SELECT count(*) FROM sqlite_schema"), 1);

    adt_fresh_path(path, sizeof(path), "otherapp", ".db");
    s_raw_exec(path, "PRAGMA application_id = 42; PRAGMA user_version = 1;");
    assert_int_equal(ad_store_open(path, 0, &store, &err), AD_EDB);
    adt_assert_has(err.msg, "another application");

    /* A folder is not a store, nor a file in a folder that does not exist. */
    assert_int_equal(ad_store_open(adt_root(), 0, &store, &err), -EISDIR);
    snprintf(path, sizeof(path), "%s/missing/runs.db", adt_root());
    assert_int_equal(ad_store_open(path, AD_STORE_CREATE, &store, &err), AD_EDB);
    adt_assert_has(err.msg, "cannot open the file: No such file or directory");
}

/* ---------------------------------------------------------------------------------------- */
/* Round trips.                                                                            */

static void
test_nodes_and_profiles(void **state)
{
    char path[512];
    ad_store_t *store = s_new_store(path, sizeof(path), "nodes");
    ad_profile_row_t prof, got;
    ad_node_t node, *rows = NULL;
    int64_t id, id2, pid;
    size_t n;

    ad_store_node_init(&node);
    node.hostname = "gros-12";
    node.address = "tcp://10.0.0.12:7401";
    node.first_seen = 1000;
    node.last_seen = 1000;
    assert_int_equal(ad_store_put_node(store, &node, &id), 0);
    /* The same hostname again updates the row and keeps first_seen. */
    node.address = NULL;
    node.last_seen = 2000;
    node.first_seen = 1500;
    assert_int_equal(ad_store_put_node(store, &node, &id2), 0);
    assert_int_equal(id, id2);
    node.hostname = "gros-13";
    assert_int_equal(ad_store_put_node(store, &node, &id2), 0);
    assert_int_not_equal(id, id2);

    assert_int_equal(ad_store_get_node(store, id, &node), 0);
    assert_string_equal(node.hostname, "gros-12");
    assert_string_equal(node.address, "tcp://10.0.0.12:7401");
    assert_int_equal(node.state, AD_NODE_UP);
    assert_near(node.first_seen, 1000);
    assert_near(node.last_seen, 2000);
    assert_null(node.hardware);
    ad_store_node_clear(&node);
    ad_store_node_clear(&node);

    assert_int_equal(ad_store_set_node_state(store, id, AD_NODE_DOWN, 3000), 0);
    assert_int_equal(ad_store_set_node_state(store, 999, AD_NODE_DOWN, NAN), -ENOENT);
    adt_assert_has(ad_store_errmsg(store), "node 999: no such node");

    ad_store_profile_row_init(&prof);
    prof.node = id;
    prof.hardware = "xeon-gold-5220-x2-96g";
    prof.cpu_model = "Intel(R) Xeon(R) Gold 5220";
    prof.sockets = 2;
    prof.cores = 36;
    prof.pus = 72;
    prof.memory_bytes = 96LL << 30;
    prof.gemm_gflops_1 = 70.5;
    prof.gemm_gflops_all = 2100;
    prof.topology = "{\"numa\":2}";
    assert_int_equal(ad_store_add_profile(store, &prof, &pid), 0);
    assert_int_equal(ad_store_get_profile(store, id, &got), 0);
    assert_int_equal(got.id, pid);
    assert_string_equal(got.hardware, "xeon-gold-5220-x2-96g");
    assert_string_equal(got.cpu_model, "Intel(R) Xeon(R) Gold 5220");
    assert_int_equal(got.cores, 36);
    assert_int_equal(got.pus, 72);
    assert_int_equal(got.gpus, 0);
    assert_int_equal(got.memory_bytes, 96LL << 30);
    assert_near(got.gemm_gflops_1, 70.5);
    assert_true(isnan(got.mem_bw_gbs));
    assert_string_equal(got.topology, "{\"numa\":2}");
    assert_true(got.measured > 1e9);
    ad_store_profile_row_clear(&got);
    assert_int_equal(ad_store_find_profile(store, "xeon-gold-5220-x2-96g", &got), 0);
    assert_int_equal(got.node, id);
    ad_store_profile_row_clear(&got);
    assert_int_equal(ad_store_find_profile(store, "nope", &got), -ENOENT);
    assert_int_equal(ad_store_get_profile(store, id2, &got), -ENOENT);
    prof.hardware = NULL;
    assert_int_equal(ad_store_add_profile(store, &prof, NULL), AD_EINVAL);

    assert_int_equal(ad_store_find_node(store, "gros-12", &node), 0);
    assert_int_equal(node.state, AD_NODE_DOWN);
    assert_string_equal(node.hardware, "xeon-gold-5220-x2-96g");
    ad_store_node_clear(&node);
    assert_int_equal(ad_store_find_node(store, "nope", &node), -ENOENT);
    adt_assert_has(ad_store_errmsg(store), "node \"nope\": no such node");

    assert_int_equal(ad_store_list_nodes(store, &rows, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(rows[0].hostname, "gros-12");
    assert_string_equal(rows[1].hostname, "gros-13");
    ad_store_nodes_free(&rows, n);
    assert_null(rows);
    ad_store_close(&store);
}

static void
test_job_states(void **state)
{
    static const char *names[] = {"PENDING",   "RUNNING", "COMPLETED", "FAILED",
                                  "CANCELLED", "TIMEOUT", "NODE_FAIL"};
    ad_job_state_t s;
    ad_node_state_t ns;

    for (int i = 0; i < AD_JOB_STATE_COUNT; i++) {
        assert_string_equal(ad_store_job_state_name((ad_job_state_t)i), names[i]);
        assert_int_equal(ad_store_job_state_from_name(names[i], &s), 0);
        assert_int_equal(s, i);
    }
    assert_int_equal(ad_store_job_state_from_name("node_fail", &s), 0);
    assert_int_equal(s, AD_JOB_NODE_FAIL);
    assert_int_equal(ad_store_job_state_from_name("DONE", &s), AD_EINVAL);
    assert_int_equal(ad_store_job_state_from_name(NULL, &s), AD_EINVAL);
    assert_string_equal(ad_store_job_state_name((ad_job_state_t)42), "UNKNOWN");
    assert_false(ad_store_job_state_is_final(AD_JOB_PENDING));
    assert_false(ad_store_job_state_is_final(AD_JOB_RUNNING));
    for (int i = AD_JOB_COMPLETED; i < AD_JOB_STATE_COUNT; i++) {
        assert_true(ad_store_job_state_is_final((ad_job_state_t)i));
        for (int j = 0; j < AD_JOB_STATE_COUNT; j++)
            assert_false(ad_store_job_state_can_move((ad_job_state_t)i, (ad_job_state_t)j));
    }
    assert_true(ad_store_job_state_can_move(AD_JOB_PENDING, AD_JOB_RUNNING));
    assert_true(ad_store_job_state_can_move(AD_JOB_PENDING, AD_JOB_CANCELLED));
    assert_false(ad_store_job_state_can_move(AD_JOB_PENDING, AD_JOB_COMPLETED));
    assert_false(ad_store_job_state_can_move(AD_JOB_PENDING, AD_JOB_PENDING));
    assert_true(ad_store_job_state_can_move(AD_JOB_RUNNING, AD_JOB_NODE_FAIL));
    assert_true(ad_store_job_state_can_move(AD_JOB_RUNNING, AD_JOB_PENDING));
    assert_false(ad_store_job_state_can_move(AD_JOB_RUNNING, AD_JOB_RUNNING));

    assert_int_equal(ad_store_node_state_from_name("drain", &ns), 0);
    assert_int_equal(ns, AD_NODE_DRAIN);
    assert_string_equal(ad_store_node_state_name(AD_NODE_DOWN), "DOWN");
    assert_int_equal(ad_store_node_state_from_name("IDLE", &ns), AD_EINVAL);
}

static void
test_jobs_round_trip_and_transitions(void **state)
{
    char path[512];
    ad_store_t *store = s_new_store(path, sizeof(path), "jobs");
    ad_job_row_t job, *rows = NULL;
    int64_t a, b, c;
    size_t n;

    ad_store_job_row_init(&job);
    job.name = "fashion-cnn";
    job.spec = "{\"model\":\"cnn\",\"batch_size\":256}";
    job.state = AD_JOB_COMPLETED; /* ignored: a new job is PENDING */
    assert_int_equal(ad_store_add_job(store, &job, &a), 0);
    job.name = "second";
    job.reason = "Resources";
    assert_int_equal(ad_store_add_job(store, &job, &b), 0);
    job.name = "third";
    job.reason = NULL;
    assert_int_equal(ad_store_add_job(store, &job, &c), 0);
    job.name = NULL;
    assert_int_equal(ad_store_add_job(store, &job, NULL), AD_EINVAL);

    assert_int_equal(ad_store_get_job(store, a, &job), 0);
    assert_string_equal(job.name, "fashion-cnn");
    assert_string_equal(job.spec, "{\"model\":\"cnn\",\"batch_size\":256}");
    assert_int_equal(job.state, AD_JOB_PENDING);
    assert_true(job.submitted > 1e9);
    assert_true(isnan(job.started));
    assert_true(isnan(job.ended));
    assert_int_equal(job.exit_code, AD_STORE_NO_EXIT);
    assert_int_equal(job.nodes, 0);
    assert_null(job.device);
    assert_null(job.reason);
    ad_store_job_row_clear(&job);

    assert_int_equal(ad_store_set_job_layout(store, a, 2, 4, 1, "cpu", "n1,n2"), 0);
    assert_int_equal(ad_store_set_job_layout(store, a, 0, 4, 1, "cpu", NULL), AD_EINVAL);
    assert_int_equal(ad_store_set_job_layout(store, 99, 1, 1, 1, "cpu", NULL), -ENOENT);
    assert_int_equal(ad_store_set_job_state(store, a, AD_JOB_RUNNING, NULL, AD_STORE_NO_EXIT), 0);
    assert_int_equal(ad_store_get_job(store, a, &job), 0);
    assert_int_equal(job.state, AD_JOB_RUNNING);
    assert_true(job.started >= job.submitted);
    assert_true(isnan(job.ended));
    assert_int_equal(job.nodes, 2);
    assert_int_equal(job.procs_per_node, 4);
    assert_int_equal(job.threads_per_proc, 1);
    assert_string_equal(job.device, "cpu");
    assert_string_equal(job.nodelist, "n1,n2");
    ad_store_job_row_clear(&job);

    assert_int_equal(ad_store_set_job_state(store, a, AD_JOB_FAILED, "exit 3", 3), 0);
    assert_int_equal(ad_store_get_job(store, a, &job), 0);
    assert_int_equal(job.state, AD_JOB_FAILED);
    assert_string_equal(job.reason, "exit 3");
    assert_int_equal(job.exit_code, 3);
    assert_true(job.ended >= job.started);
    ad_store_job_row_clear(&job);

    /* Nothing leaves a final state, and the refusal says why. */
    assert_int_equal(ad_store_set_job_state(store, a, AD_JOB_RUNNING, NULL, AD_STORE_NO_EXIT),
                     AD_EINVAL);
    adt_assert_has(ad_store_errmsg(store), "cannot go from FAILED to RUNNING");
    assert_int_equal(ad_store_set_job_state(store, b, AD_JOB_COMPLETED, NULL, 0), AD_EINVAL);
    adt_assert_has(ad_store_errmsg(store), "cannot go from PENDING to COMPLETED");
    assert_int_equal(ad_store_set_job_state(store, 99, AD_JOB_RUNNING, NULL, 0), -ENOENT);
    adt_assert_has(ad_store_errmsg(store), "job 99: no such job");
    assert_int_equal(ad_store_get_job(store, 99, &job), -ENOENT);

    /* Requeue: RUNNING back to PENDING clears started; then NODE_FAIL path. */
    assert_int_equal(ad_store_set_job_state(store, b, AD_JOB_RUNNING, NULL, AD_STORE_NO_EXIT), 0);
    assert_int_equal(ad_store_set_job_state(store, b, AD_JOB_PENDING, "requeued", AD_STORE_NO_EXIT),
                     0);
    assert_int_equal(ad_store_get_job(store, b, &job), 0);
    assert_true(isnan(job.started));
    assert_string_equal(job.reason, "requeued");
    ad_store_job_row_clear(&job);
    assert_int_equal(ad_store_set_job_state(store, b, AD_JOB_RUNNING, NULL, AD_STORE_NO_EXIT), 0);
    assert_int_equal(
        ad_store_set_job_state(store, b, AD_JOB_NODE_FAIL, "node n2 down", AD_STORE_NO_EXIT), 0);
    assert_int_equal(
        ad_store_set_job_state(store, c, AD_JOB_CANCELLED, "by user", AD_STORE_NO_EXIT), 0);
    assert_int_equal(ad_store_get_job(store, c, &job), 0);
    assert_true(isnan(job.started));
    assert_false(isnan(job.ended));
    ad_store_job_row_clear(&job);

    assert_int_equal(ad_store_list_jobs(store, 0, &rows, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(rows[0].id, a);
    assert_int_equal(rows[2].id, c);
    ad_store_job_rows_free(&rows, n);
    assert_int_equal(
        ad_store_list_jobs(store, AD_JOB_MASK(AD_JOB_NODE_FAIL) | AD_JOB_MASK(AD_JOB_CANCELLED),
                           &rows, &n),
        0);
    assert_int_equal(n, 2);
    assert_int_equal(rows[0].id, b);
    assert_int_equal(rows[0].state, AD_JOB_NODE_FAIL);
    assert_int_equal(rows[1].id, c);
    ad_store_job_rows_free(&rows, n);
    assert_int_equal(ad_store_list_jobs(store, AD_JOB_MASK(AD_JOB_PENDING), &rows, &n), 0);
    assert_int_equal(n, 0);
    assert_null(rows);
    ad_store_close(&store);
}

static void
test_runs_round_trip(void **state)
{
    char path[512];
    ad_store_t *store = s_new_store(path, sizeof(path), "runs");
    ad_run_filter_t f = {0};
    ad_run_result_t res;
    ad_sweep_row_t sweep = {0}, got_sweep;
    ad_job_row_t job;
    ad_run_t run, got;
    int64_t sid, sid2, jid, id, id2;
    bool created;

    sweep.name = "scaling";
    sweep.file_hash = "abc123";
    sweep.spec = "{\"grid\":{}}";
    assert_int_equal(ad_store_add_sweep(store, &sweep, &sid, &created), 0);
    assert_true(created);
    /* The same file again is the same sweep: a rerun resumes. */
    assert_int_equal(ad_store_add_sweep(store, &sweep, &sid2, &created), 0);
    assert_false(created);
    assert_int_equal(sid, sid2);
    sweep.file_hash = "def456";
    assert_int_equal(ad_store_add_sweep(store, &sweep, &sid2, &created), 0);
    assert_true(created);
    assert_int_not_equal(sid, sid2);
    assert_int_equal(ad_store_get_sweep(store, sid, &got_sweep), 0);
    assert_string_equal(got_sweep.name, "scaling");
    assert_string_equal(got_sweep.file_hash, "abc123");
    assert_string_equal(got_sweep.spec, "{\"grid\":{}}");
    ad_store_sweep_row_clear(&got_sweep);

    ad_store_job_row_init(&job);
    job.name = "j";
    job.sweep = sid;
    job.config_hash = "cfg-1";
    assert_int_equal(ad_store_add_job(store, &job, &jid), 0);

    s_run(&run, 2, 2, 3, AD_JOB_RUNNING, NAN);
    run.job = jid;
    run.sweep = sid;
    run.config_hash = "cfg-1";
    run.params = 421642;
    id = s_add_run(store, &run);
    assert_int_equal(ad_store_get_run(store, id, &got), 0);
    assert_int_equal(got.id, id);
    assert_int_equal(got.job, jid);
    assert_int_equal(got.sweep, sid);
    assert_string_equal(got.config_hash, "cfg-1");
    assert_string_equal(got.model, "cnn");
    assert_string_equal(got.dataset, "fashion-mnist");
    assert_string_equal(got.hardware, "hw-a");
    assert_string_equal(got.device, "cpu");
    assert_int_equal(got.nodes, 2);
    assert_int_equal(got.procs_per_node, 2);
    assert_int_equal(got.threads_per_proc, 3);
    assert_int_equal(got.batch_size, 256);
    assert_int_equal(got.state, AD_JOB_RUNNING);
    assert_int_equal(got.params, 421642);
    assert_false(isnan(got.started)); /* added RUNNING: stamped */
    assert_true(isnan(got.ended));
    assert_true(isnan(got.samples_per_s));
    assert_int_equal(got.baseline, 0);
    ad_store_run_clear(&got);

    ad_store_run_result_init(&res, AD_JOB_COMPLETED);
    res.samples_per_s = 5000;
    res.epoch_time_s = 12.5;
    res.accuracy = 0.912;
    res.step_time_s = 0.05;
    res.comm_time_s = 0.01;
    res.ended = 1.7e9;
    assert_int_equal(ad_store_finish_run(store, id, &res), 0);
    assert_int_equal(ad_store_get_run(store, id, &got), 0);
    assert_int_equal(got.state, AD_JOB_COMPLETED);
    assert_near(got.samples_per_s, 5000);
    assert_near(got.epoch_time_s, 12.5);
    assert_near(got.accuracy, 0.912);
    assert_near(got.step_time_s, 0.05);
    assert_near(got.comm_time_s, 0.01);
    assert_near(got.ended, 1.7e9);
    assert_int_equal(got.params, 421642);
    assert_true(isnan(got.speedup)); /* no baseline yet */
    ad_store_run_clear(&got);

    /* Finishing twice, or finishing into a non-final state, is refused. */
    assert_int_equal(ad_store_finish_run(store, id, &res), AD_EINVAL);
    adt_assert_has(ad_store_errmsg(store), "already finished (COMPLETED)");
    ad_store_run_result_init(&res, AD_JOB_RUNNING);
    assert_int_equal(ad_store_finish_run(store, id, &res), AD_EINVAL);
    ad_store_run_result_init(&res, AD_JOB_FAILED);
    assert_int_equal(ad_store_finish_run(store, 999, &res), -ENOENT);
    adt_assert_has(ad_store_errmsg(store), "run 999: no such run");

    /* Resume lookup by sweep and configuration hash. */
    run.config_hash = "cfg-1";
    id2 = s_add_run(store, &run);
    assert_int_equal(ad_store_find_run(store, sid, "cfg-1", &got), 0);
    assert_int_equal(got.id, id2);
    ad_store_run_clear(&got);
    assert_int_equal(ad_store_find_run(store, sid, "cfg-2", &got), -ENOENT);
    assert_int_equal(ad_store_find_run(store, 0, "cfg-1", &got), -ENOENT);
    run.sweep = 0;
    run.job = 0;
    run.config_hash = "loose";
    id2 = s_add_run(store, &run);
    assert_int_equal(ad_store_find_run(store, 0, "loose", &got), 0);
    assert_int_equal(got.id, id2);
    assert_int_equal(got.sweep, 0);
    ad_store_run_clear(&got);

    /* Validation. */
    run.model = NULL;
    assert_int_equal(ad_store_add_run(store, &run, NULL), AD_EINVAL);
    run.model = "cnn";
    run.batch_size = 0;
    assert_int_equal(ad_store_add_run(store, &run, NULL), AD_EINVAL);
    adt_assert_has(ad_store_errmsg(store), "batch 0");
    /* A run that points at a missing job is refused in plain words. */
    run.batch_size = 256;
    run.job = 4242;
    assert_int_equal(ad_store_add_run(store, &run, NULL), AD_EDB);
    adt_assert_has(ad_store_errmsg(store), "does not exist");

    /* Filters. */
    assert_int_equal(s_count_runs(store, NULL), 3);
    f.sweep = sid;
    assert_int_equal(s_count_runs(store, &f), 2);
    f.states = AD_JOB_MASK(AD_JOB_COMPLETED);
    assert_int_equal(s_count_runs(store, &f), 1);
    memset(&f, 0, sizeof(f));
    f.model = "cnn";
    f.threads_per_proc = 3;
    f.limit = 2;
    assert_int_equal(s_count_runs(store, &f), 2);
    f.model = "resnet18";
    assert_int_equal(s_count_runs(store, &f), 0);
    ad_store_close(&store);
}

typedef struct {
    int64_t ids[8];
    int n;
} s_ids_t;

static int
s_collect_ids(const ad_run_t *run, void *arg)
{
    s_ids_t *ids = arg;

    ids->ids[ids->n++] = run->id;
    return ids->n == 2 ? 7 : 0;
}

static void
test_each_run_order_and_stop(void **state)
{
    char path[512];
    ad_store_t *store = s_new_store(path, sizeof(path), "order");
    ad_run_filter_t f = {0};
    s_ids_t ids = {{0}, 0};
    ad_run_t run;
    int64_t id[4];

    s_run(&run, 1, 2, 1, AD_JOB_RUNNING, NAN);
    for (int i = 0; i < 4; i++)
        id[i] = s_add_run(store, &run);
    f.newest_first = true;
    /* The callback's non-zero value stops the walk and comes back. */
    assert_int_equal(ad_store_each_run(store, &f, s_collect_ids, &ids), 7);
    assert_int_equal(ids.n, 2);
    assert_int_equal(ids.ids[0], id[3]);
    assert_int_equal(ids.ids[1], id[2]);
    ad_store_close(&store);
}

/* ---------------------------------------------------------------------------------------- */
/* Speedup.                                                                                */

static void
test_speedup_baseline_first(void **state)
{
    char path[512];
    ad_store_t *store = s_new_store(path, sizeof(path), "speedup1");
    int64_t base, old_base, run4, other;
    ad_run_t got, run;

    old_base = s_run_to_completion(store, 1, 1, 1, 500, 100);
    base = s_run_to_completion(store, 1, 1, 1, 1000, 200);
    /* The most recent baseline is the one that ended last, not the one added last. */
    s_run_to_completion(store, 1, 1, 1, 800, 150);
    run4 = s_run_to_completion(store, 2, 2, 1, 3600, 300);

    assert_int_equal(ad_store_get_run(store, base, &got), 0);
    assert_int_equal(got.baseline, base); /* its own baseline */
    assert_near(got.speedup, 1.0);
    ad_store_run_clear(&got);
    assert_int_equal(ad_store_get_run(store, run4, &got), 0);
    assert_int_equal(got.baseline, base);
    assert_near(got.speedup, 3.6);
    ad_store_run_clear(&got);
    assert_int_not_equal(base, old_base);

    /* Another batch size is another group: no baseline. */
    s_run(&run, 1, 1, 4, AD_JOB_RUNNING, NAN);
    run.batch_size = 512;
    other = s_add_run(store, &run);
    {
        ad_run_result_t res;

        ad_store_run_result_init(&res, AD_JOB_COMPLETED);
        res.samples_per_s = 2000;
        assert_int_equal(ad_store_finish_run(store, other, &res), 0);
    }
    assert_int_equal(ad_store_get_run(store, other, &got), 0);
    assert_int_equal(got.baseline, 0);
    assert_true(isnan(got.speedup));
    ad_store_run_clear(&got);

    /* A failed run gets no speedup even with a throughput. */
    {
        ad_run_result_t res;
        int64_t failed;

        s_run(&run, 2, 1, 1, AD_JOB_RUNNING, NAN);
        failed = s_add_run(store, &run);
        ad_store_run_result_init(&res, AD_JOB_FAILED);
        res.samples_per_s = 1500;
        assert_int_equal(ad_store_finish_run(store, failed, &res), 0);
        assert_int_equal(ad_store_get_run(store, failed, &got), 0);
        assert_true(isnan(got.speedup));
        ad_store_run_clear(&got);
    }
    ad_store_close(&store);
}

static void
test_speedup_baseline_after(void **state)
{
    char path[512];
    ad_store_t *store = s_new_store(path, sizeof(path), "speedup2");
    int64_t r1, r2, gpu, other_hw, base, base2, later;
    ad_run_t run, got;

    r1 = s_run_to_completion(store, 2, 1, 1, 1900, 10);
    r2 = s_run_to_completion(store, 1, 4, 2, 6000, 20);
    s_run(&run, 2, 1, 1, AD_JOB_COMPLETED, 7000);
    run.device = "gpu";
    gpu = s_add_run(store, &run);
    s_run(&run, 2, 1, 1, AD_JOB_COMPLETED, 2500);
    run.hardware = "hw-b";
    other_hw = s_add_run(store, &run);
    assert_int_equal(ad_store_get_run(store, r1, &got), 0);
    assert_true(isnan(got.speedup));
    ad_store_run_clear(&got);

    base = s_run_to_completion(store, 1, 1, 1, 1000, 30);
    assert_int_equal(ad_store_get_run(store, r1, &got), 0);
    assert_int_equal(got.baseline, base);
    assert_near(got.speedup, 1.9);
    ad_store_run_clear(&got);
    assert_int_equal(ad_store_get_run(store, r2, &got), 0);
    assert_near(got.speedup, 6.0);
    ad_store_run_clear(&got);
    /* Other device, other hardware class: untouched. */
    assert_int_equal(ad_store_get_run(store, gpu, &got), 0);
    assert_true(isnan(got.speedup));
    ad_store_run_clear(&got);
    assert_int_equal(ad_store_get_run(store, other_hw, &got), 0);
    assert_true(isnan(got.speedup));
    ad_store_run_clear(&got);

    /* A later baseline does not rewrite speedups already given, but serves new runs. */
    base2 = s_run_to_completion(store, 1, 1, 1, 1250, 40);
    assert_int_equal(ad_store_get_run(store, r1, &got), 0);
    assert_int_equal(got.baseline, base);
    ad_store_run_clear(&got);
    later = s_run_to_completion(store, 2, 1, 1, 2500, 50);
    assert_int_equal(ad_store_get_run(store, later, &got), 0);
    assert_int_equal(got.baseline, base2);
    assert_near(got.speedup, 2.0);
    ad_store_run_clear(&got);

    /* An imported (added COMPLETED) baseline of the gpu group backfills too. */
    s_run(&run, 1, 1, 1, AD_JOB_COMPLETED, 3500);
    run.device = "gpu";
    base = s_add_run(store, &run);
    assert_int_equal(ad_store_get_run(store, gpu, &got), 0);
    assert_int_equal(got.baseline, base);
    assert_near(got.speedup, 2.0);
    ad_store_run_clear(&got);
    ad_store_close(&store);
}

typedef struct {
    ad_speedup_row_t rows[16];
    char models[16][32];
    int n;
} s_speedups_t;

static int
s_collect_speedup(const ad_speedup_row_t *row, void *arg)
{
    s_speedups_t *s = arg;

    assert_true(s->n < 16);
    s->rows[s->n] = *row;
    /* Borrowed strings: keep a copy of what the test looks at. */
    snprintf(s->models[s->n], sizeof(s->models[0]), "%s", row->model);
    s->rows[s->n].model = s->models[s->n];
    s->rows[s->n].dataset = s->rows[s->n].hardware = s->rows[s->n].device = NULL;
    s->n++;
    return 0;
}

static void
test_speedup_groups(void **state)
{
    char path[512];
    ad_store_t *store = s_new_store(path, sizeof(path), "groups");
    ad_run_filter_t f = {0};
    s_speedups_t s = {0};
    ad_run_t run;

    /* An import: every run added COMPLETED, baseline somewhere in the middle. */
    static const struct {
        int n, p, t;
        double sps;
    } rows[] = {
        {2, 2, 1, 3000}, {2, 2, 1, 3400}, {1, 1, 1, 1000},
        {1, 1, 1, 1000}, {1, 4, 1, 3500}, {2, 2, 1, 3200},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        s_run(&run, rows[i].n, rows[i].p, rows[i].t, AD_JOB_COMPLETED, rows[i].sps);
        s_add_run(store, &run);
    }
    /* Not counted: a RUNNING run and another model's run (filtered out below). */
    s_run(&run, 2, 2, 1, AD_JOB_RUNNING, NAN);
    s_add_run(store, &run);
    s_run(&run, 2, 2, 1, AD_JOB_COMPLETED, 100);
    run.model = "mlp";
    s_add_run(store, &run);

    f.model = "cnn";
    assert_int_equal(ad_store_each_speedup(store, &f, s_collect_speedup, &s), 0);
    assert_int_equal(s.n, 3);
    /* Ordered by layout: 1x1x1, 1x4x1, 2x2x1. */
    assert_int_equal(s.rows[0].nodes, 1);
    assert_int_equal(s.rows[0].procs_per_node, 1);
    assert_int_equal(s.rows[0].runs, 2);
    assert_near(s.rows[0].speedup, 1.0);
    assert_near(s.rows[0].efficiency, 1.0);
    assert_int_equal(s.rows[1].procs_per_node, 4);
    assert_near(s.rows[1].speedup, 3.5);
    assert_near(s.rows[1].efficiency, 3.5 / 4);
    assert_int_equal(s.rows[2].nodes, 2);
    assert_int_equal(s.rows[2].runs, 3);
    assert_near(s.rows[2].samples_per_s, 3200);
    assert_near(s.rows[2].samples_sd, 200);
    assert_near(s.rows[2].speedup, 3.2);
    assert_near(s.rows[2].efficiency, 0.8);
    assert_int_equal(s.rows[2].batch_size, 256);

    memset(&s, 0, sizeof(s));
    assert_int_equal(ad_store_each_speedup(store, NULL, s_collect_speedup, &s), 0);
    assert_int_equal(s.n, 4);
    assert_string_equal(s.models[3], "mlp");
    assert_true(isnan(s.rows[3].speedup)); /* no mlp baseline */
    ad_store_close(&store);
}

/* run_groups must equal the GROUP BY it stands for, whoever wrote runs. */
static void
s_assert_groups_exact(const char *path)
{
    static const char truth[] =
        "SELECT model, dataset, batch_size, hardware, nodes, procs_per_node, threads_per_proc,"
        " device, count(*) AS n, round(sum(samples_per_s), 6) AS s,"
        " round(sum(samples_per_s * samples_per_s), 3) AS s2, count(speedup) AS k,"
        " round(total(speedup), 9) AS ks FROM runs WHERE state = 'COMPLETED' AND"
        " samples_per_s > 0 GROUP BY 1, 2, 3, 4, 5, 6, 7, 8";
    static const char kept[] =
        "SELECT model, dataset, batch_size, hardware, nodes, procs_per_node, threads_per_proc,"
        " device, runs, round(sum_sps, 6), round(sum_sps2, 3), speedups, round(sum_speedup, 9)"
        " FROM run_groups";
    char sql[1600];

    snprintf(sql, sizeof(sql), "SELECT count(*) FROM (%s EXCEPT %s)", truth, kept);
    assert_int_equal(s_raw_int(path, sql), 0);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM (%s EXCEPT %s)", kept, truth);
    assert_int_equal(s_raw_int(path, sql), 0);
}

static void
test_run_groups_stay_exact(void **state)
{
    char path[512];
    ad_store_t *store = s_new_store(path, sizeof(path), "exact");
    ad_run_result_t res;
    int64_t ids[300];
    ad_run_t run;

    srand(7);
    /* Imports, launches and finishes in every state, baselines early and late. */
    for (int i = 0; i < 300; i++) {
        int layout = rand() % 4;

        s_run(&run, layout == 3 ? 2 : 1, layout >= 2 ? 2 : 1, layout == 1 ? 2 : 1,
              rand() % 3 ? AD_JOB_RUNNING : AD_JOB_COMPLETED, 100 + rand() % 900);
        run.batch_size = 128 << (rand() % 2);
        run.device = rand() % 4 ? "cpu" : "gpu";
        if (run.state == AD_JOB_RUNNING)
            run.samples_per_s = NAN;
        ids[i] = s_add_run(store, &run);
        if (run.state == AD_JOB_RUNNING && rand() % 5) {
            ad_store_run_result_init(&res, rand() % 4 ? AD_JOB_COMPLETED : AD_JOB_FAILED);
            if (rand() % 8)
                res.samples_per_s = 100 + rand() % 900;
            assert_int_equal(ad_store_finish_run(store, ids[i], &res), 0);
        }
    }
    s_assert_groups_exact(path);
    assert_true(s_raw_int(path, "SELECT count(*) FROM run_groups") > 4);
    assert_true(s_raw_int(path, "SELECT sum(speedups) FROM run_groups") > 50);

    /* Hand edits with sqlite3: the triggers follow them too. */
    ad_store_close(&store);
    s_raw_exec(path, "PRAGMA foreign_keys = ON;"
                     "UPDATE runs SET samples_per_s = samples_per_s * 2 WHERE id % 7 = 0;"
                     "UPDATE runs SET state = 'FAILED' WHERE id % 11 = 0;"
                     "UPDATE runs SET hardware = 'hw-z' WHERE id % 13 = 0;"
                     "UPDATE runs SET speedup = NULL, baseline = NULL WHERE id % 5 = 0;"
                     "DELETE FROM runs WHERE id % 3 = 0;");
    s_assert_groups_exact(path);
    /* Deleting every run of a layout removes its row. */
    s_raw_exec(path, "DELETE FROM runs;");
    assert_int_equal(s_raw_int(path, "SELECT count(*) FROM run_groups"), 0);
}

static void
test_speedup_of_a_sweep(void **state)
{
    char path[512];
    ad_store_t *store = s_new_store(path, sizeof(path), "sweepspeed");
    ad_run_filter_t f = {0};
    s_speedups_t s = {0};
    ad_sweep_row_t sweep = {0};
    ad_run_t run;
    int64_t sid;

    sweep.name = "scaling";
    sweep.file_hash = "h";
    assert_int_equal(ad_store_add_sweep(store, &sweep, &sid, NULL), 0);
    s_run(&run, 1, 1, 1, AD_JOB_COMPLETED, 1000);
    s_add_run(store, &run);
    s_run(&run, 1, 4, 1, AD_JOB_COMPLETED, 3000);
    s_add_run(store, &run);
    run.sweep = sid;
    run.samples_per_s = 3800;
    s_add_run(store, &run);

    /* Only the sweep's run: read from runs, not from the layout sums. */
    f.sweep = sid;
    assert_int_equal(ad_store_each_speedup(store, &f, s_collect_speedup, &s), 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.rows[0].runs, 1);
    assert_near(s.rows[0].speedup, 3.8);
    memset(&s, 0, sizeof(s));
    assert_int_equal(ad_store_each_speedup(store, NULL, s_collect_speedup, &s), 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.rows[1].runs, 2);
    assert_near(s.rows[1].speedup, 3.4);
    assert_near(s.rows[1].samples_sd, sqrt(2.0) * 400);
    ad_store_close(&store);
}

/* Keep the runs whose accuracy is above *arg. */
static bool
s_keep_accurate(const ad_run_t *run, void *arg)
{
    return !isnan(run->accuracy) && run->accuracy > *(const double *)arg;
}

/* Speedups grouped from the runs: the same figures as run_groups, and a choice of runs. */
static void
test_speedup_of_runs(void **state)
{
    char path[512];
    ad_store_t *store = s_new_store(path, sizeof(path), "speedupof");
    s_speedups_t all = {0}, of = {0};
    ad_run_filter_t f = {0};
    double above = 0.5;
    ad_run_t run;

    static const struct {
        int n, p, t;
        double sps, acc;
    } rows[] = {
        {2, 2, 1, 3000, 0.9}, {2, 2, 1, 3400, 0.2}, {1, 1, 1, 1000, 0.9}, {1, 1, 1, 1000, NAN},
        {1, 4, 1, 3500, 0.9}, {2, 2, 1, 3200, 0.8}, {1, 1, 2, 1900, 0.1},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        s_run(&run, rows[i].n, rows[i].p, rows[i].t, AD_JOB_COMPLETED, rows[i].sps);
        run.accuracy = rows[i].acc;
        s_add_run(store, &run);
    }
    s_run(&run, 2, 2, 1, AD_JOB_FAILED, NAN);
    s_add_run(store, &run);
    s_run(&run, 2, 2, 1, AD_JOB_COMPLETED, 100);
    run.model = "mlp";
    s_add_run(store, &run);

    /* Without a choice: exactly what run_groups says, in the same order. */
    assert_int_equal(ad_store_each_speedup(store, NULL, s_collect_speedup, &all), 0);
    assert_int_equal(ad_store_each_speedup_of(store, NULL, NULL, NULL, s_collect_speedup, &of), 0);
    assert_int_equal(of.n, all.n);
    assert_int_equal(of.n, 5);
    for (int i = 0; i < of.n; i++) {
        assert_string_equal(of.models[i], all.models[i]);
        assert_int_equal(of.rows[i].nodes, all.rows[i].nodes);
        assert_int_equal(of.rows[i].procs_per_node, all.rows[i].procs_per_node);
        assert_int_equal(of.rows[i].threads_per_proc, all.rows[i].threads_per_proc);
        assert_int_equal(of.rows[i].runs, all.rows[i].runs);
        assert_near(of.rows[i].samples_per_s, all.rows[i].samples_per_s);
        assert_true(fabs(of.rows[i].samples_sd - all.rows[i].samples_sd) < 1e-6);
        assert_true(isnan(of.rows[i].speedup) == isnan(all.rows[i].speedup));
        if (!isnan(of.rows[i].speedup)) {
            assert_near(of.rows[i].speedup, all.rows[i].speedup);
            assert_near(of.rows[i].efficiency, all.rows[i].efficiency);
        }
    }

    /* Only the accurate cnn runs: 1x1x1 (1), 1x4x1 (1), 2x2x1 (2: 3000 and 3200). */
    memset(&of, 0, sizeof(of));
    f.model = "cnn";
    assert_int_equal(
        ad_store_each_speedup_of(store, &f, s_keep_accurate, &above, s_collect_speedup, &of), 0);
    assert_int_equal(of.n, 3);
    assert_int_equal(of.rows[0].runs, 1);
    assert_near(of.rows[0].speedup, 1.0);
    assert_int_equal(of.rows[1].procs_per_node, 4);
    assert_near(of.rows[1].efficiency, 3.5 / 4);
    assert_int_equal(of.rows[2].nodes, 2);
    assert_int_equal(of.rows[2].runs, 2);
    assert_near(of.rows[2].samples_per_s, 3100);
    assert_true(fabs(of.rows[2].samples_sd - sqrt(2.0) * 100) < 1e-6);
    assert_near(of.rows[2].speedup, 3.1);
    assert_near(of.rows[2].efficiency, 3.1 / 4);

    /* Nothing kept: no group. */
    memset(&of, 0, sizeof(of));
    above = 2.0;
    assert_int_equal(
        ad_store_each_speedup_of(store, &f, s_keep_accurate, &above, s_collect_speedup, &of), 0);
    assert_int_equal(of.n, 0);
    ad_store_close(&store);
}

/* ---------------------------------------------------------------------------------------- */
/* Metrics.                                                                                */

typedef struct {
    int64_t step[8];
    char key[8][16];
    double value[8];
    int n;
} s_metrics_t;

static int
s_collect_metric(int64_t run, const ad_metric_t *m, void *arg)
{
    s_metrics_t *s = arg;

    assert_true(s->n < 8);
    s->step[s->n] = m->step;
    snprintf(s->key[s->n], sizeof(s->key[0]), "%s", m->key);
    s->value[s->n] = m->value;
    s->n++;
    return 0;
}

static void
test_metrics_round_trip(void **state)
{
    char path[512];
    ad_store_t *store = s_new_store(path, sizeof(path), "metrics");
    ad_metric_t m[] = {
        {20, "loss", 0.7},           {0, "loss", 2.3},   {10, "loss", 1.1},
        {10, "samples_per_s", 4000}, {20, "loss", 0.65}, {30, "loss", NAN},
    };
    s_metrics_t got = {0};
    ad_run_t run;
    int64_t id;

    s_run(&run, 1, 1, 1, AD_JOB_RUNNING, NAN);
    id = s_add_run(store, &run);
    assert_int_equal(ad_store_add_metrics(store, id, m, 6), 0);
    assert_int_equal(ad_store_each_metric(store, id, "loss", s_collect_metric, &got), 0);
    /* Ordered by step; the second (20, loss) replaced the first; NaN comes back NaN. */
    assert_int_equal(got.n, 4);
    assert_int_equal(got.step[0], 0);
    assert_near(got.value[0], 2.3);
    assert_int_equal(got.step[2], 20);
    assert_near(got.value[2], 0.65);
    assert_true(isnan(got.value[3]));
    memset(&got, 0, sizeof(got));
    assert_int_equal(ad_store_each_metric(store, id, NULL, s_collect_metric, &got), 0);
    assert_int_equal(got.n, 5);
    assert_string_equal(got.key[1], "loss");
    assert_string_equal(got.key[2], "samples_per_s");
    assert_int_equal(got.step[2], 10);

    assert_int_equal(ad_store_add_metrics(store, 999, m, 2), -ENOENT);
    adt_assert_has(ad_store_errmsg(store), "run 999: no such run");
    assert_int_equal(ad_store_add_metrics(store, id, m, 0), 0);
    ad_store_close(&store);
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
    ad_store_t *store = s_new_store(path, sizeof(path), "fault");
    ad_metric_t m[S_BATCH];
    ad_run_t run;
    int64_t id;
    int n, rc;

    s_fill_batch(m);
    s_run(&run, 1, 1, 1, AD_JOB_RUNNING, NAN);
    id = s_add_run(store, &run);
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
        assert_int_equal(s_raw_int(path, "SELECT count(*) FROM metrics"), 0);
    }
    assert_int_equal(n, S_BATCH + 4);
    assert_int_equal(s_count_metrics(store, id), S_BATCH);

    /* A full disk on the 10th insert: the message says so, and nothing was written. */
    assert_int_equal(s_raw_int(path, "SELECT count(*) FROM metrics"), S_BATCH);
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
    ad_store_t *store = s_new_store(path, sizeof(path), "faulttx");
    ad_metric_t m[S_BATCH];
    ad_job_row_t job;
    ad_run_t run;
    int64_t id, jid;

    s_fill_batch(m);
    s_run(&run, 1, 1, 1, AD_JOB_RUNNING, NAN);
    id = s_add_run(store, &run);
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
    ad_store_t *store = s_new_store(path, sizeof(path), "faultfin");
    ad_run_result_t res;
    ad_run_t run, got;
    int64_t waiting, base;
    int n, rc;

    waiting = s_run_to_completion(store, 2, 2, 1, 4000, 10);
    s_run(&run, 1, 1, 1, AD_JOB_RUNNING, NAN);
    base = s_add_run(store, &run);
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
    /* BEGIN, read, update, own speedup, backfill, COMMIT. */
    assert_int_equal(n, 7);
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
/* Access: read-only handles, two handles, transactions, busy.                             */

static void
test_readonly_cannot_write(void **state)
{
    char path[512];
    ad_store_t *store = s_new_store(path, sizeof(path), "ro");
    ad_store_t *ro;
    ad_job_row_t job;
    ad_node_t node;
    ad_metric_t m = {1, "loss", 1.0};
    ad_run_t run;
    int64_t jid, rid;

    ad_store_job_row_init(&job);
    job.name = "kept";
    assert_int_equal(ad_store_add_job(store, &job, &jid), 0);
    s_run(&run, 1, 1, 1, AD_JOB_RUNNING, NAN);
    rid = s_add_run(store, &run);
    ad_store_close(&store);

    ro = s_open(path, AD_STORE_READONLY);
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
    assert_int_equal(s_raw_int(path, "SELECT count(*) FROM jobs"), 1);
}

static void
test_two_handles_see_commits(void **state)
{
    char path[512];
    ad_store_t *a = s_new_store(path, sizeof(path), "two");
    ad_store_t *b = s_open(path, 0);
    ad_store_t *reader = s_open(path, AD_STORE_READONLY);
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

static void
test_bulk_import_in_one_transaction(void **state)
{
    char path[512];
    ad_store_t *store = s_new_store(path, sizeof(path), "bulk");
    ad_run_filter_t f = {0};
    ad_run_t run;
    s_speedups_t s = {0};

    assert_int_equal(ad_store_begin(store), 0);
    for (int i = 0; i < 5000; i++) {
        int layout = i % 4;

        s_run(&run, layout == 3 ? 2 : 1, layout == 0 ? 1 : 2, layout == 2 ? 2 : 1, AD_JOB_COMPLETED,
              1000.0 * (layout == 0 ? 1 : 1.5 + layout * 0.5));
        run.model = (i / 4) % 2 ? "cnn" : "mlp";
        assert_int_equal(ad_store_add_run(store, &run, NULL), 0);
    }
    assert_int_equal(ad_store_commit(store), 0);
    assert_int_equal(s_raw_int(path, "SELECT count(*) FROM runs"), 5000);
    assert_int_equal(s_raw_int(path, "SELECT count(*) FROM runs WHERE speedup IS NULL"), 0);
    f.model = "mlp";
    assert_int_equal(ad_store_each_speedup(store, &f, s_collect_speedup, &s), 0);
    assert_int_equal(s.n, 4);
    ad_store_close(&store);
}

/* The queries that must stay fast use their indexes (timings belong to bench/). */
static void
test_query_plans_use_indexes(void **state)
{
    char path[512], plan[1024];
    ad_store_t *store = s_new_store(path, sizeof(path), "plans");

    ad_store_close(&store);
    /* The baseline lookup. */
    s_raw_plan(path,
               "SELECT id, samples_per_s FROM runs WHERE model = 'm' AND dataset = 'd' AND"
               " batch_size = 1 AND hardware = 'h' AND nodes = 1 AND procs_per_node = 1 AND"
               " threads_per_proc = 1 AND device = 'cpu' AND state = 'COMPLETED' AND"
               " samples_per_s > 0 ORDER BY ended DESC, id DESC LIMIT 1",
               plan, sizeof(plan));
    adt_assert_has(plan, "runs_layout");
    /* The backfill of a late baseline. */
    s_raw_plan(path,
               "UPDATE runs INDEXED BY runs_unmatched SET speedup = 1 WHERE model = 'm' AND "
               "dataset = 'd' AND"
               " batch_size = 1 AND hardware = 'h' AND device = 'cpu' AND state = 'COMPLETED'"
               " AND speedup IS NULL AND samples_per_s > 0",
               plan, sizeof(plan));
    adt_assert_has(plan, "runs_unmatched");
    /* Resuming a sweep. */
    s_raw_plan(path, "SELECT id FROM runs WHERE sweep IS 3 AND config_hash = 'x'", plan,
               sizeof(plan));
    adt_assert_has(plan, "runs_config");
    /* The speedup table reads one row per layout, in key order, without sorting. */
    s_raw_plan(path,
               "SELECT * FROM run_groups WHERE runs > 0 ORDER BY model, dataset, batch_size,"
               " hardware, nodes, procs_per_node, threads_per_proc, device",
               plan, sizeof(plan));
    adt_assert_has(plan, "SCAN run_groups");
    if (strstr(plan, "TEMP B-TREE"))
        fail_msg("speedup query sorts: %s", plan);
    s_raw_plan(path,
               "SELECT * FROM run_groups WHERE runs > 0 AND model = 'cnn' ORDER BY model,"
               " dataset, batch_size, hardware, nodes, procs_per_node, threads_per_proc, device",
               plan, sizeof(plan));
    adt_assert_has(plan, "SEARCH run_groups USING PRIMARY KEY (model=?)");
    /* Speedups grouped from the runs walk runs_layout in group order, without sorting. */
    s_raw_plan(path,
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
        cmocka_unit_test_teardown(test_open_creates_wal_store, s_teardown),
        cmocka_unit_test_teardown(test_open_default_home, s_teardown),
        cmocka_unit_test_teardown(test_empty_file_is_initialised, s_teardown),
        cmocka_unit_test_teardown(test_migrate_from_v1_keeps_data, s_teardown),
        cmocka_unit_test_teardown(test_migration_failure_leaves_old_schema, s_teardown),
        cmocka_unit_test_teardown(test_readonly_open_of_old_schema_refused, s_teardown),
        cmocka_unit_test_teardown(test_newer_schema_refused, s_teardown),
        cmocka_unit_test_teardown(test_not_a_database_refused, s_teardown),
        cmocka_unit_test_teardown(test_nodes_and_profiles, s_teardown),
        cmocka_unit_test_teardown(test_job_states, s_teardown),
        cmocka_unit_test_teardown(test_jobs_round_trip_and_transitions, s_teardown),
        cmocka_unit_test_teardown(test_runs_round_trip, s_teardown),
        cmocka_unit_test_teardown(test_each_run_order_and_stop, s_teardown),
        cmocka_unit_test_teardown(test_speedup_baseline_first, s_teardown),
        cmocka_unit_test_teardown(test_speedup_baseline_after, s_teardown),
        cmocka_unit_test_teardown(test_speedup_groups, s_teardown),
        cmocka_unit_test_teardown(test_run_groups_stay_exact, s_teardown),
        cmocka_unit_test_teardown(test_speedup_of_a_sweep, s_teardown),
        cmocka_unit_test_teardown(test_speedup_of_runs, s_teardown),
        cmocka_unit_test_teardown(test_metrics_round_trip, s_teardown),
        cmocka_unit_test_teardown(test_fault_metrics_all_or_nothing, s_teardown),
        cmocka_unit_test_teardown(test_fault_inside_caller_transaction, s_teardown),
        cmocka_unit_test_teardown(test_fault_finish_run_atomic, s_teardown),
        cmocka_unit_test_teardown(test_fault_env, s_teardown),
        cmocka_unit_test_teardown(test_readonly_cannot_write, s_teardown),
        cmocka_unit_test_teardown(test_two_handles_see_commits, s_teardown),
        cmocka_unit_test_teardown(test_bulk_import_in_one_transaction, s_teardown),
        cmocka_unit_test_teardown(test_query_plans_use_indexes, s_teardown),
    };

    return cmocka_run_group_tests(tests, s_group_setup, s_group_teardown);
}
