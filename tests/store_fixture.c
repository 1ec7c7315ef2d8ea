/* store_fixture.c - what the store's tests share: stores under the temp root, plain SQLite, runs */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ad_test.h"
#include "autodist/ad_fault.h"
#include "store_fixture.h"

#include <math.h>
#include <stdio.h>

#include <sqlite3.h>

bool
sft_near(double a, double b)
{
    return fabs(a - b) <= 1e-9 * (fabs(b) + 1);
}

ad_store_t *
sft_open(const char *path, unsigned flags)
{
    ad_store_t *store = NULL;
    ad_err_t err = {0};
    int rc = ad_store_open(path, flags, &store, &err);

    if (rc)
        fail_msg("open %s: %s", path ? path : "(no path)", err.msg);
    assert_non_null(store);
    return store;
}

ad_store_t *
sft_new_store(char *path, size_t len, const char *tag)
{
    adt_fresh_path(path, len, tag, ".db");
    return sft_open(path, AD_STORE_CREATE);
}

/* Run SQL on the file with plain SQLite, as another program would. */
void
sft_raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    char *msg = NULL;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("raw exec on %s: %s", path, msg);
    sqlite3_close(db);
}

/* One integer from plain SQLite. */
int64_t
sft_raw_int(const char *path, const char *sql)
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

void
sft_raw_text(const char *path, const char *sql, char *out, size_t len)
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
void
sft_raw_plan(const char *path, const char *sql, char *out, size_t len)
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
void
sft_run(ad_run_t *run, int nodes, int ppn, int tpp, ad_job_state_t state, double sps)
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

int64_t
sft_add_run(ad_store_t *store, const ad_run_t *run)
{
    int64_t id = 0;

    if (ad_store_add_run(store, run, &id))
        fail_msg("add run: %s", ad_store_errmsg(store));
    assert_true(id > 0);
    return id;
}

/* Add a RUNNING run and finish it COMPLETED with a throughput and an end time. */
int64_t
sft_run_to_completion(ad_store_t *store, int nodes, int ppn, int tpp, double sps, double ended)
{
    ad_run_result_t res;
    ad_run_t run;
    int64_t id;

    sft_run(&run, nodes, ppn, tpp, AD_JOB_RUNNING, NAN);
    id = sft_add_run(store, &run);
    ad_store_run_result_init(&res, AD_JOB_COMPLETED);
    res.samples_per_s = sps;
    res.ended = ended;
    if (ad_store_finish_run(store, id, &res))
        fail_msg("finish run: %s", ad_store_errmsg(store));
    return id;
}

int
sft_group_setup(void **state)
{
    return adt_root_make("ad_store") ? 0 : -1;
}

int
sft_group_teardown(void **state)
{
    adt_root_remove();
    return 0;
}

int
sft_teardown(void **state)
{
    ad_fault_reset();
    return 0;
}
