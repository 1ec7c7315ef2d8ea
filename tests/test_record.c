/* test_record.c - run records: the store's side (schema 4), the record a launch writes, `show` */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ad_test.h"
#include "daemon_fixture.h"
#include "store_fixture.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "autodist/ad_hash.h"
#include "autodist/ad_journal.h"
#include "autodist/ad_record.h"
#include "autodist/ad_store.h"

const char *dft_tag = "ad_test_record";

/* ---- the store ------------------------------------------------------------------------------ */

/* The record of run as parsed JSON (the test fails when it has none). */
static json_t *
s_record(ad_store_t *store, int64_t run)
{
    char *text = NULL;
    json_t *doc;

    assert_int_equal(ad_store_get_record(store, run, &text), 0);
    assert_non_null(text);
    doc = adt_json(text);
    free(text);
    return doc;
}

/* Put, get, merge, reproduces: what a user of the store would notice, errors included. */
static void
test_store_records(void **st)
{
    char path[512], *text = (char *)"x";
    ad_store_t *store = sft_new_store(path, sizeof(path), "records");
    int64_t one, two, orig = -1;
    ad_run_t run;
    json_t *doc;

    sft_run(&run, 1, 1, 1, AD_JOB_COMPLETED, 100);
    one = sft_add_run(store, &run);
    two = sft_add_run(store, &run);

    /* A run without a record reads as none; an unknown run is an error. */
    assert_int_equal(ad_store_get_record(store, one, &text), 0);
    assert_null(text);
    assert_int_equal(ad_store_get_record(store, 999, &text), -ENOENT);
    adt_assert_has(ad_store_errmsg(store), "run 999: no such run");

    assert_int_equal(ad_store_put_record(store, one, "[1]"), AD_EINVAL);
    adt_assert_has(ad_store_errmsg(store), "a record must be a JSON object");
    assert_int_equal(ad_store_put_record(store, one, "{\"format\": "), AD_EINVAL);
    adt_assert_has(ad_store_errmsg(store), "not JSON");
    assert_int_equal(ad_store_put_record(store, 999, "{\"format\":1}"), -ENOENT);
    assert_int_equal(ad_store_put_record(store, one, "{\"format\":1,\"spec\":{\"seed\":7}}"), 0);

    /* The reservation's final state merges in beside what was there. */
    assert_int_equal(
        ad_store_record_merge(store, one, "reservation", "{\"backend\":\"oar\",\"job_id\":42}"), 0);
    doc = s_record(store, one);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(doc, "spec"), "seed")), 7);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(doc, "reservation"), "job_id")), 42);
    json_decref(doc);
    assert_int_equal(ad_store_record_merge(store, one, "a.b", "1"), AD_EINVAL);
    adt_assert_has(ad_store_errmsg(store), "must be letters, digits and '_'");
    assert_int_equal(ad_store_record_merge(store, one, "x", "{oops"), AD_EINVAL);
    assert_int_equal(ad_store_record_merge(store, 999, "x", "1"), -ENOENT);
    /* A run that had none gets a record of its own. */
    assert_int_equal(ad_store_record_merge(store, two, "reservation", "null"), 0);
    doc = s_record(store, two);
    assert_int_equal(json_integer_value(json_object_get(doc, "format")), 1);
    assert_true(json_is_null(json_object_get(doc, "reservation")));
    json_decref(doc);

    /* Reproductions link to their original; deleting the original unlinks them. */
    assert_int_equal(ad_store_get_reproduces(store, two, &orig), 0);
    assert_int_equal(orig, 0);
    assert_int_equal(ad_store_set_reproduces(store, two, one), 0);
    assert_int_equal(ad_store_get_reproduces(store, two, &orig), 0);
    assert_int_equal(orig, one);
    assert_int_equal(ad_store_set_reproduces(store, two, 999), -ENOENT);
    assert_int_equal(ad_store_set_reproduces(store, 999, one), -ENOENT);
    ad_store_close(&store);
    sft_raw_exec(path, "PRAGMA foreign_keys = ON; DELETE FROM runs WHERE id = 1;");
    assert_int_equal(sft_raw_int(path, "SELECT count(*) FROM run_records WHERE run = 1"), 0);
    assert_int_equal(sft_raw_int(path, "SELECT reproduces IS NULL FROM runs WHERE id = 2"), 1);
}

/* A store of schema 3 (what main wrote before records) migrates; its runs have no record. */
static void
test_migrate_from_v3(void **st)
{
    char path[512], *text = (char *)"x";
    ad_store_t *store = sft_new_store(path, sizeof(path), "v3");
    ad_run_t run;
    int64_t id;

    sft_run(&run, 2, 1, 1, AD_JOB_COMPLETED, 300);
    id = sft_add_run(store, &run);
    ad_store_close(&store);
    /* Back to schema 3 exactly: what versions 6, 5 and 4 added goes (v6 remakes the triggers). */
    sft_raw_exec(path, "DROP TABLE models; DROP TABLE infer_runs; DROP TRIGGER runs_group_add;"
                       " DROP TRIGGER runs_group_move; DROP TRIGGER runs_group_drop;"
                       " ALTER TABLE runs DROP COLUMN kind;");
    sft_raw_exec(path, "DROP TABLE baselines; DROP TABLE run_tags; DROP INDEX runs_import_key;"
                       " DROP INDEX runs_flagged; DROP INDEX runs_peak_rss;");
    static const char *const v5_columns[] = {
        "sps_sd", "sps_steps",  "speedup_lo", "speedup_hi",    "flags",
        "probe",  "load_other", "cpu_time_s", "max_rss_bytes", "name",
        "spec",   "note",       "import_key"};
    for (size_t i = 0; i < sizeof(v5_columns) / sizeof(v5_columns[0]); i++) {
        char sql[128];
        snprintf(sql, sizeof(sql), "ALTER TABLE runs DROP COLUMN %s;", v5_columns[i]);
        sft_raw_exec(path, sql);
    }
    sft_raw_exec(path,
                 "DROP TABLE run_records; DROP INDEX runs_reproduces;"
                 " ALTER TABLE runs DROP COLUMN reproduces; ALTER TABLE jobs DROP COLUMN pool;"
                 " PRAGMA user_version = 3;");
    assert_int_equal(sft_raw_int(path, "SELECT count(*) FROM sqlite_schema"
                                       " WHERE name = 'run_records'"),
                     0);

    /* Read-only, it is refused with the way out; opened for writing, it migrates. */
    assert_int_equal(ad_store_open(path, AD_STORE_READONLY, &store, NULL), AD_EDB);
    store = sft_open(path, 0);
    assert_int_equal(sft_raw_int(path, "PRAGMA user_version"), AD_STORE_SCHEMA_VERSION);
    assert_int_equal(ad_store_get_record(store, id, &text), 0);
    assert_null(text);
    assert_int_equal(ad_store_put_record(store, id, "{\"format\":1}"), 0);
    assert_int_equal(sft_raw_int(path, "SELECT count(*) FROM pragma_table_info('jobs')"
                                       " WHERE name = 'pool'"),
                     1);
    assert_int_equal(sft_raw_int(path, "SELECT samples_per_s FROM runs WHERE id = 1"), 300);
    ad_store_close(&store);
}

/* A record written while another process holds the store waits in the journal, then lands. */
static void
test_journal_keeps_record(void **st)
{
    char path[512];
    ad_store_t *store = sft_new_store(path, sizeof(path), "busy");
    ad_journal_t *j = ad_journal_new(store);
    sqlite3 *other = NULL;
    ad_err_t err = {0};
    ad_run_t run;
    int64_t id;
    json_t *doc;

    sft_run(&run, 1, 1, 1, AD_JOB_RUNNING, NAN);
    id = sft_add_run(store, &run);
    assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(ad_journal_run_record(j, id, "{\"format\":1,\"seeds\":{\"job\":3}}", &err), 0);
    assert_int_equal(ad_journal_record_merge(j, id, "reservation", "{\"job_id\":7}", &err), 0);
    assert_int_equal(ad_journal_waiting(j), 2);
    assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    assert_int_equal(ad_journal_flush(j, 1.0), 0);
    doc = s_record(store, id);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(doc, "seeds"), "job")), 3);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(doc, "reservation"), "job_id")), 7);
    json_decref(doc);
    /* Not the lock: a bad record is refused at once, nothing waits. */
    assert_true(ad_journal_run_record(j, id, "[]", &err) < 0);
    adt_assert_has(err.msg, "a record must be a JSON object");
    assert_int_equal(ad_journal_waiting(j), 0);
    ad_journal_free(&j);
    ad_store_close(&store);
}

/* ---- the record -------------------------------------------------------------------------- */

static void
test_env_that_matters(void **st)
{
    assert_true(ad_record_env_matters("OMP_NUM_THREADS"));
    assert_true(ad_record_env_matters("OMPI_MCA_btl"));
    assert_true(ad_record_env_matters("MKL_NUM_THREADS"));
    assert_true(ad_record_env_matters("OPENBLAS_NUM_THREADS"));
    assert_true(ad_record_env_matters("AUTODIST_HOME"));
    assert_false(ad_record_env_matters("AUTODIST_KEYS"));
    assert_false(ad_record_env_matters("AUTODIST_SECRET_TOKEN"));
    assert_false(ad_record_env_matters("OMPI_ALLOW_RUN_AS_ROOT"));
    assert_false(ad_record_env_matters("PATH"));
}

/* A folder's content hash: its files' names, sizes and bytes; not where the folder is. */
static void
test_dataset_hash(void **st)
{
    char a[256], b[256], sub[300];
    ad_record_env_t *env = ad_record_env_new("/nonexistent/mpirun", NULL);
    ad_job_t job = {0};
    json_t *da, *db, *dc;
    const char *ha;

    /* The bytes variant continues the string one: the same bytes hash alike. */
    assert_true(ad_hash_fnv1a64_bytes(AD_HASH_FNV1A64_BASIS, "abc", 3) ==
                ad_hash_fnv1a64("abc"));
    assert_true(ad_hash_fnv1a64_bytes(AD_HASH_FNV1A64_BASIS, "a\0b", 3) !=
                ad_hash_fnv1a64_bytes(AD_HASH_FNV1A64_BASIS, "a\0c", 3));

    adt_fresh_dir(a, sizeof(a), "data");
    adt_fresh_dir(b, sizeof(b), "data");
    adt_write_in(a, "train.idx", "0123456789", 10);
    adt_mkdir_in(sub, sizeof(sub), a, "cls");
    adt_write_in(sub, "img.bin", "abc", 3);
    adt_write_in(b, "train.idx", "0123456789", 10);
    adt_mkdir_in(sub, sizeof(sub), b, "cls");
    adt_write_in(sub, "img.bin", "abc", 3);

    job.dataset.kind = AD_JOB_DATA_IMAGEFOLDER;
    job.dataset.image_size = 32;
    job.dataset.path = a;
    da = ad_record_dataset(env, &job);
    assert_string_equal(json_string_value(json_object_get(da, "kind")), "imagefolder");
    assert_int_equal(json_integer_value(json_object_get(da, "files")), 2);
    assert_int_equal(json_integer_value(json_object_get(da, "bytes")), 13);
    ha = json_string_value(json_object_get(da, "content_hash"));
    assert_non_null(ha);
    assert_int_equal(strlen(ha), 16);
    job.dataset.path = b;
    db = ad_record_dataset(env, &job);
    assert_string_equal(json_string_value(json_object_get(db, "content_hash")), ha);
    json_decref(db);
    /* One byte changed (same size): another hash, though the cache knew the folder. */
    usleep(20 * 1000);
    adt_write_in(sub, "img.bin", "abd", 3);
    db = ad_record_dataset(env, &job);
    assert_string_not_equal(json_string_value(json_object_get(db, "content_hash")), ha);
    json_decref(db);

    /* A folder the coordinator cannot read: no hash, and why. */
    job.dataset.path = (char *)"/nonexistent/dataset";
    dc = ad_record_dataset(env, &job);
    assert_true(json_is_null(json_object_get(dc, "content_hash")));
    adt_assert_has(json_string_value(json_object_get(dc, "note")), "cannot be read");
    json_decref(dc);
    json_decref(da);
    ad_record_env_free(&env);
    ad_record_env_free(&env);
}

/* A record from a launch: every field, versions from the programs asked. */
static void
test_build(void **st)
{
    char dir[256], mpirun[300];
    ad_record_env_t *env;
    ad_record_node_t node = {"n1", "10.0.0.1", "fp1", NULL};
    char *argv[] = {"mpirun", "-np", "2", "autodist-train", NULL};
    char *envv[] = {"OMP_NUM_THREADS=2", "AUTODIST_JOB=3", "AUTODIST_CURVE_KEY=s3cret", NULL};
    ad_record_launch_t l = {0};
    ad_job_t job = {0};
    ad_err_t err = {0};
    json_t *r, *v, *profile;

    adt_fresh_dir(dir, sizeof(dir), "bin");
    snprintf(mpirun, sizeof(mpirun), "%s/mpirun", dir);
    adt_write_file(mpirun, "#!/bin/sh\necho 'mpirun (Open MPI) 9.8.7'\n");
    assert_int_equal(chmod(mpirun, 0755), 0);
    env = ad_record_env_new(mpirun, "/nonexistent/autodist-train");
    assert_int_equal(
        ad_job_parse_string("name: rec\nmodel: mlp\ndataset:\n  synthetic:\n"
                            "    shape: [1, 8, 8]\nsteps: 20\nbatch_size: 16\nseed: 9\n"
                            "layout: {nodes: 1, procs_per_node: 2,"
                            " threads_per_proc: 2}\n",
                            NULL, &job, &err),
        0);
    profile = json_pack("{s:s s:{s:i}}", "source", "measured by autodist on n1 (hwloc 2.8.0)",
                        "cpu", "cores", 4);
    node.profile = profile;
    l.run = 5;
    l.job_id = 3;
    l.job = &job;
    l.nodes = &node;
    l.n_nodes = 1;
    l.argv = argv;
    l.env = envv;
    l.hostfile = "10.0.0.1 slots=2\n";
    l.threads = 2;
    r = ad_record_build(env, &l);
    assert_int_equal(json_integer_value(json_object_get(r, "format")), AD_RECORD_FORMAT);
    v = json_object_get(r, "versions");
    assert_string_equal(json_string_value(json_object_get(v, "open_mpi")), "9.8.7");
    assert_string_equal(json_string_value(json_object_get(v, "libtorch")), "unknown");
    assert_string_equal(json_string_value(json_object_get(v, "hwloc")), "2.8.0");
    assert_true(json_is_boolean(json_object_get(v, "dirty")));
    assert_true(strlen(json_string_value(json_object_get(v, "commit"))) > 0);
    for (const char *const *k = (const char *const[]){"zeromq", "czmq", "sqlite", "jansson",
                                                      "libyaml", "compiler", NULL};
         *k; k++)
        assert_true(json_is_string(json_object_get(v, *k)));
    assert_int_equal(strlen(json_string_value(json_object_get(r, "config_hash"))), 16);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "spec"), "seed")), 9);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "dataset"), "seed")), 9);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(r, "nodes"), 0), "fingerprint")),
                        "fp1");
    assert_true(json_is_null(json_object_get(r, "reservation")));
    assert_true(json_is_null(json_object_get(json_object_get(r, "launch"), "rankfile")));
    assert_int_equal(json_array_size(json_object_get(json_object_get(r, "launch"), "argv")), 4);
    v = json_object_get(json_object_get(r, "environment"), "set_by_launch");
    assert_string_equal(json_string_value(json_object_get(v, "OMP_NUM_THREADS")), "2");
    /* A key never lands in a record. */
    assert_null(json_object_get(v, "AUTODIST_CURVE_KEY"));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "seeds"), "job")), 9);
    json_decref(r);
    json_decref(profile);
    ad_job_clear(&job);
    ad_record_env_free(&env);
}

/* ---- a real job, then `autodist show` ------------------------------------------------------ */

/* Run autodist on the test's home; its exit status. */
static int
s_cli(adt_result_t *r, const char *const *args)
{
    const char *argv[24] = {"--home", dft_home, "--coordinator", dft_ep[0]};
    int n = 4;

    for (; *args && n < 23; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    return adt_run(r, AD_CLI_BIN, argv, adt_root(), 120);
}

/* Submit a tiny job and wait for it: its run id. */
static int64_t
s_run_job(const char *name)
{
    int64_t id = dft_submit(dft_run_job(name, 20, 1)), run;
    json_t *j = dft_wait_state(id, "COMPLETED|FAILED", 60000);

    assert_string_equal(dft_state_of(j), "COMPLETED");
    run = json_integer_value(json_object_get(json_object_get(j, "result"), "run"));
    assert_true(run > 0);
    json_decref(j);
    return run;
}

static void
s_check_json_record(const json_t *doc, int64_t run)
{
    const json_t *row = json_object_get(doc, "run"), *rec = json_object_get(doc, "record");
    const json_t *v = json_object_get(rec, "versions"), *l = json_object_get(rec, "launch");
    static const char *const top[] = {
        "format",           "run",     "job",   "created", "versions",    "spec",
        "config_hash",      "dataset", "nodes", "launch",  "environment", "seeds",
        "coordinator_host", NULL};

    assert_int_equal(json_integer_value(json_object_get(row, "id")), run);
    assert_true(json_is_object(rec));
    for (int i = 0; top[i]; i++)
        if (!json_object_get(rec, top[i]))
            fail_msg("the record has no \"%s\"", top[i]);
    assert_true(json_object_get(rec, "reservation") != NULL);
    /* The real programs answered. */
    assert_string_not_equal(json_string_value(json_object_get(v, "open_mpi")), "unknown");
    assert_string_not_equal(json_string_value(json_object_get(v, "libtorch")), "unknown");
    assert_string_equal(json_string_value(json_object_get(rec, "config_hash")),
                        json_string_value(json_object_get(row, "config_hash")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(rec, "dataset"), "kind")),
                        "synthetic");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(rec, "nodes"), 0), "fingerprint")),
                        json_string_value(json_object_get(row, "hardware")));
    adt_assert_has(json_string_value(json_array_get(json_object_get(l, "argv"), 0)), "mpirun");
    adt_assert_has(json_string_value(json_object_get(l, "hostfile")), "slots=1");
}

/* A real job gets a record; show prints it, --json has every field; imported runs have none. */
static void
test_show_real_job(void **st)
{
    pid_t d = dft_start_daemon(), a = dft_start_agent("n1", "a1");
    char runs[32], csv[512], hash[64];
    adt_result_t *r = calloc(1, sizeof(*r));
    int64_t run;
    json_t *doc;

    dft_wait_listed("n1");
    run = s_run_job("rec");
    snprintf(runs, sizeof(runs), "%lld", (long long)run);

    assert_int_equal(s_cli(r, (const char *const[]){"show", runs, "--json", NULL}), 0);
    doc = adt_json(r->out);
    s_check_json_record(doc, run);
    snprintf(hash, sizeof(hash), "Spec (config hash %s)",
             json_string_value(json_object_get(json_object_get(doc, "run"), "config_hash")));
    json_decref(doc);

    assert_int_equal(s_cli(r, (const char *const[]){"show", runs, NULL}), 0);
    for (const char *const *k =
             (const char *const[]){"Versions", "libtorch", "Open MPI", hash, "Dataset",
                                   "synthetic-1x8x8", "Nodes (rank order)", "Reservation",
                                   "  argv:\n    mpirun\n", "    --steps\n    20\n", "hostfile:",
                                   "Environment", "OMP_NUM_THREADS = 1", "Seeds", NULL};
         *k; k++)
        adt_assert_has(r->out, *k);
    assert_int_equal(s_cli(r, (const char *const[]){"show", "--job", "1", NULL}), 0);
    adt_assert_has(r->out, "Versions");

    /* An unknown run: one line, exit 1; a bad id: usage, exit 2. */
    assert_int_equal(s_cli(r, (const char *const[]){"show", "999", NULL}), 1);
    adt_assert_has(r->err, "run 999: no such run");
    assert_string_equal(r->out, "");
    assert_int_equal(s_cli(r, (const char *const[]){"show", "x1", NULL}), 2);

    /* An imported run shows its row and says it has no record. */
    snprintf(csv, sizeof(csv), "%s.import.csv", dft_home);
    adt_write_file(csv, "model,dataset,hardware,nodes,procs_per_node,threads_per_proc,device,"
                        "batch_size,samples_per_s\nmlp,synthetic-1x8x8,hw,1,1,1,cpu,16,500\n");
    assert_int_equal(s_cli(r, (const char *const[]){"import", csv, NULL}), 0);
    snprintf(runs, sizeof(runs), "%lld", (long long)run + 1);
    assert_int_equal(s_cli(r, (const char *const[]){"show", runs, NULL}), 0);
    adt_assert_has(r->out, "no record: this run was imported or logged before records existed");
    adt_assert_has(r->out, "COMPLETED");
    assert_int_equal(s_cli(r, (const char *const[]){"show", runs, "--json", NULL}), 0);
    doc = adt_json(r->out);
    assert_true(json_is_null(json_object_get(doc, "record")));
    json_decref(doc);

    free(r);
    dft_stop_both(d, a);
}

/* The number of rows sql counts in the test's store. */
static int64_t
s_count(const char *sql)
{
    char db[256];

    snprintf(db, sizeof(db), "%s/runs.db", dft_home);
    return sft_raw_int(db, sql);
}

/* reproduce: N new runs linked to the original, the ratio and spreads; dry-run, refusals. */
static void
test_reproduce(void **st)
{
    pid_t d = dft_start_daemon(), a = dft_start_agent("n1", "a1");
    adt_result_t *r = calloc(1, sizeof(*r));
    char runs[32], csv[512], db[256], sql[128];
    ad_store_t *store;
    int64_t run, before;
    json_t *doc, *rep;

    dft_wait_listed("n1");
    run = s_run_job("orig");
    snprintf(runs, sizeof(runs), "%lld", (long long)run);

    /* --dry-run: the spec and mpirun's arguments, nothing submitted. */
    before = s_count("SELECT count(*) FROM jobs");
    assert_int_equal(s_cli(r, (const char *const[]){"reproduce", runs, "--dry-run", NULL}), 0);
    adt_assert_has(r->out, "would submit 1 job of this spec");
    adt_assert_has(r->out, "\"seed\":1");
    adt_assert_has(r->out, "  mpirun\n  -np\n  1\n");
    adt_assert_has(r->out, "nodes: the run used 1; the coordinator has 1 UP, 1 of the recorded "
                           "hardware class\n");
    assert_int_equal(s_count("SELECT count(*) FROM jobs"), before);

    assert_int_equal(s_cli(r, (const char *const[]){"reproduce", runs, "--repeats", "2", NULL}), 0);
    adt_assert_has(r->out, "repeat 1: job ");
    adt_assert_has(r->out, "repeat 2: job ");
    adt_assert_has(r->out, "ratio ");
    adt_assert_has(r->out, "original's repeats");
    adt_assert_has(r->out, "differences with the original's record\n");
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM runs WHERE reproduces = %lld", (long long)run);
    assert_int_equal(s_count(sql), 2);
    /* The new runs ran from the same spec, and have records of their own. */
    snprintf(sql, sizeof(sql),
             "SELECT count(DISTINCT config_hash) FROM runs WHERE id = %lld OR reproduces = %lld",
             (long long)run, (long long)run);
    assert_int_equal(s_count(sql), 1);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM run_records WHERE run IN"
             " (SELECT id FROM runs WHERE reproduces = %lld)",
             (long long)run);
    assert_int_equal(s_count(sql), 2);

    assert_int_equal(s_cli(r, (const char *const[]){"reproduce", runs, "--json", NULL}), 0);
    doc = adt_json(r->out);
    rep = json_object_get(doc, "repeats");
    assert_int_equal(json_array_size(rep), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(rep, 0), "state")),
                        "COMPLETED");
    assert_true(json_number_value(json_object_get(doc, "ratio")) > 0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(doc, "new"), "runs")), 1);
    assert_true(
        json_integer_value(json_object_get(json_object_get(doc, "original_repeats"), "runs")) >= 1);
    assert_true(json_is_array(json_object_get(doc, "differences")));
    json_decref(doc);

    /* show links both ways. */
    assert_int_equal(s_cli(r, (const char *const[]){"show", runs, "--json", NULL}), 0);
    doc = adt_json(r->out);
    assert_int_equal(json_array_size(json_object_get(json_object_get(doc, "run"), "reproduced_by")),
                     3);
    json_decref(doc);
    assert_int_equal(s_cli(r, (const char *const[]){"show", runs, NULL}), 0);
    adt_assert_has(r->out, "  reproduced  by runs ");
    snprintf(sql, sizeof(sql), "%lld", (long long)run + 1);
    assert_int_equal(s_cli(r, (const char *const[]){"show", sql, NULL}), 0);
    snprintf(db, sizeof(db), "(job %lld, reproduces run %lld)", (long long)run + 1, (long long)run);
    adt_assert_has(r->out, db);

    /* An imported run has no record: what is missing, exit 1. */
    snprintf(csv, sizeof(csv), "%s.import.csv", dft_home);
    adt_write_file(csv, "model,dataset,hardware,nodes,procs_per_node,threads_per_proc,device,"
                        "batch_size,samples_per_s\nmlp,synthetic-1x8x8,hw,1,1,1,cpu,16,500\n");
    assert_int_equal(s_cli(r, (const char *const[]){"import", csv, NULL}), 0);
    snprintf(runs, sizeof(runs), "%lld",
             (long long)s_count("SELECT max(id) FROM runs WHERE job IS NULL"));
    assert_int_equal(s_cli(r, (const char *const[]){"reproduce", runs, NULL}), 1);
    adt_assert_has(r->err, "has no record");
    adt_assert_has(r->err, "spec, dataset, nodes and versions are unknown");
    assert_int_equal(s_cli(r, (const char *const[]){"reproduce", "999", NULL}), 1);
    adt_assert_has(r->err, "run 999: no such run");

    /* A run whose record names a reservation but not what OAR granted: nothing submitted. */
    snprintf(db, sizeof(db), "%s/runs.db", dft_home);
    store = sft_open(db, 0);
    assert_int_equal(ad_store_record_merge(store, run, "reservation", "{\"backend\":\"oar\"}"), 0);
    ad_store_close(&store);
    snprintf(runs, sizeof(runs), "%lld", (long long)run);
    before = s_count("SELECT count(*) FROM jobs");
    assert_int_equal(s_cli(r, (const char *const[]){"reproduce", runs, NULL}), 1);
    adt_assert_has(r->err, "its record has no granted reservation");
    assert_int_equal(s_count("SELECT count(*) FROM jobs"), before);

    free(r);
    dft_stop_both(d, a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_records),
        cmocka_unit_test(test_migrate_from_v3),
        cmocka_unit_test(test_journal_keeps_record),
        cmocka_unit_test(test_env_that_matters),
        cmocka_unit_test(test_dataset_hash),
        cmocka_unit_test(test_build),
        cmocka_unit_test_setup_teardown(test_show_real_job, dft_setup, dft_teardown),
        cmocka_unit_test_setup_teardown(test_reproduce, dft_setup, dft_teardown),
    };

    dft_filter();
    return cmocka_run_group_tests(tests, dft_group_setup, dft_group_teardown);
}
