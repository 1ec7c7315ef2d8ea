/* test_sweep.c - sweeps: the coordinator's logic (ad_sweeps.h), the store's side, and
 * `autodist sweep` run as a program against autodistd and agents */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ad_test.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <math.h>
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

#include <jansson.h>

#include "autodist/ad_job.h"
#include "autodist/ad_proto.h"
#include "autodist/ad_store.h"
#include "autodist/ad_sweeps.h"

#define S_MAX_ARGS ADT_MAX_ARGS
/* Generous: a loaded machine must not fail a test; the bounds only catch hangs. */
#define S_DEADLINE_S 90.0
#define S_FAKE_TRAINER AD_SOURCE_DIR "/tests/sweeps/fake-train.sh"

static const char *s_tmp; /* this test program's scratch folder (adt_root) */

/* ---------------------------------------------------------------------------------------- */
/* The coordinator's logic, without a coordinator.                                          */

/* A sweep of 4 seeds x 2 learning rates x 2 repeats (16 jobs), loaded from text. */
static ad_sweep_t *
s_small_sweep(void)
{
    static const char text[] =
        "name: unit\n"
        "base: {model: mlp, dataset: synthetic, steps: 1, batch_size: 8,\n"
        "       layout: {nodes: 1, procs_per_node: 1, threads_per_proc: 1}}\n"
        "grid:\n"
        "  seed: [1, 2, 3, 4]\n"
        "  optimizer.lr: [0.01, 0.1]\n"
        "repeats: 2\n";
    ad_sweep_t *sweep = NULL;
    ad_err_t err = {0};

    if (ad_sweep_load_string(text, "unit.yaml", &sweep, &err))
        fail_msg("%s", err.msg);
    return sweep;
}

/* The configuration hash of job index i of sweep. */
static void
s_hash_of(const ad_sweep_t *sweep, int64_t i, char out[17])
{
    ad_job_t job;
    ad_err_t err = {0};

    assert_int_equal(ad_sweep_job(sweep, i, &job, NULL, &err), 0);
    ad_job_hash(&job, out);
    ad_job_clear(&job);
}

static int64_t
s_jn(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    if (!json_is_integer(v))
        fail_msg("field %s is not an integer", key);
    return json_integer_value(v);
}

/* Queue picks while the sweeps give them: ids from *next_id; returns how many. */
static int
s_take(ad_sweeps_t *sw, int auto_parallel, int64_t *next_id, int64_t *idx_out)
{
    ad_sweeps_pick_t pick;
    int n = 0;

    while (ad_sweeps_next(sw, auto_parallel, &pick) == 0) {
        char hash[17];

        ad_job_hash(&pick.job, hash);
        assert_string_equal(hash, pick.config_hash);
        assert_memory_equal(pick.job.name, "unit-", 5);
        if (idx_out)
            idx_out[n] = pick.index;
        ad_sweeps_queued(sw, &pick, (*next_id)++);
        ad_sweeps_pick_clear(&pick);
        n++;
    }
    return n;
}

/* Never more than the limit queued; the next index comes when a job ends; DONE at the end. */
static void
test_lazy_dispatch(void **st)
{
    ad_sweeps_opts_t opts = {3, false, true, NULL}, auto_opts = {0, false, true, NULL};
    ad_sweeps_t *sw = ad_sweeps_new();
    ad_sweep_t *sweep = s_small_sweep();
    int64_t next_id = 100, idx[16];
    json_t *o;

    ad_sweeps_open(sw, 7, "0123456789abcdef", &sweep, NULL, 0, &opts, 0.0);
    assert_null(sweep);
    assert_true(ad_sweeps_has(sw, "unit"));
    assert_true(ad_sweeps_running(sw, "unit"));
    assert_false(ad_sweeps_resolve(sw, 1000, 0.0));
    assert_int_equal(s_take(sw, 99, &next_id, idx), 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(idx[i], i);
    assert_int_equal(s_take(sw, 99, &next_id, NULL), 0);
    assert_true(ad_sweeps_started(sw, 100));
    assert_false(ad_sweeps_started(sw, 55));
    o = ad_sweeps_json(sw, "unit", 1.0);
    assert_int_equal(s_jn(o, "total"), 16);
    assert_int_equal(s_jn(o, "running"), 1);
    assert_int_equal(s_jn(o, "queued"), 2);
    assert_int_equal(s_jn(o, "pending"), 15);
    assert_int_equal(json_array_size(json_object_get(o, "live_jobs")), 3);
    assert_true(json_is_null(json_object_get(o, "eta_s")));
    json_decref(o);
    /* One ends: exactly one more, the next index. */
    assert_true(ad_sweeps_ended(sw, 100, AD_SWEEPS_JOB_COMPLETED, 2.0, 2.0));
    assert_false(ad_sweeps_ended(sw, 100, AD_SWEEPS_JOB_COMPLETED, 2.0, 2.0));
    assert_int_equal(s_take(sw, 99, &next_id, idx), 1);
    assert_int_equal(idx[0], 3);
    /* A job that failed and one that could not be queued both count as failed. */
    assert_true(ad_sweeps_ended(sw, 101, AD_SWEEPS_JOB_FAILED, 1.0, 3.0));
    {
        ad_sweeps_pick_t pick;

        assert_int_equal(ad_sweeps_next(sw, 99, &pick), 0);
        assert_int_equal(pick.index, 4);
        ad_sweeps_queued(sw, &pick, 0);
        ad_sweeps_pick_clear(&pick);
    }
    /* A larger limit takes effect at the next look. */
    {
        ad_sweeps_opts_t more = {5, false, true, NULL};

        assert_int_equal(ad_sweeps_update(sw, "unit", &more), 0);
        assert_int_equal(ad_sweeps_update(sw, "nope", &more), -ENOENT);
    }
    assert_int_equal(s_take(sw, 1, &next_id, NULL), 3);
    for (int64_t job = 102; job < next_id; job++) {
        assert_true(ad_sweeps_ended(sw, job, AD_SWEEPS_JOB_COMPLETED, 1.0, 4.0));
        s_take(sw, 1, &next_id, NULL);
    }
    o = ad_sweeps_json(sw, "unit", 9.0);
    assert_string_equal(json_string_value(json_object_get(o, "state")), "DONE");
    assert_int_equal(s_jn(o, "completed"), 14);
    assert_int_equal(s_jn(o, "failed"), 2);
    assert_int_equal(s_jn(o, "pending"), 0);
    assert_int_equal(json_array_get(json_object_get(o, "failed_jobs"), 0) ? 1 : 0, 1);
    assert_true(fabs(json_number_value(json_object_get(o, "elapsed_s")) - 4.0) < 1e-9);
    json_decref(o);
    /* A DONE sweep takes a retry only when opened again. */
    {
        ad_sweeps_opts_t retry = {0, true, true, NULL};

        assert_int_equal(ad_sweeps_update(sw, "unit", &retry), -ENOENT);
    }
    /* Without max_parallel: as many as auto_parallel says, at least one. */
    sweep = s_small_sweep();
    ad_sweeps_open(sw, 8, "0123456789abcdef", &sweep, NULL, 0, &auto_opts, 10.0);
    assert_int_equal(s_take(sw, 4, &next_id, NULL), 4);
    sweep = s_small_sweep();
    ad_sweeps_open(sw, 8, "0123456789abcdef", &sweep, NULL, 0, &auto_opts, 10.0);
    assert_int_equal(s_take(sw, 0, &next_id, NULL), 1);
    ad_sweeps_free(&sw);
    assert_null(sw);
    ad_sweeps_free(&sw);
}

/* ad_sweeps_check()'s test here: seed 2 "fits no node". */
static bool
s_seed2_never(const ad_job_t *job, char *why, size_t cap, void *arg)
{
    (void)arg;
    snprintf(why, cap, "seed %lld fits no node", (long long)job->seed);
    return job->seed == 2;
}

/* Configurations that fit no node are skipped (all their repeats), listed, and never block. */
static void
test_skip_unfit(void **st)
{
    ad_sweeps_opts_t opts = {99, false, true, NULL};
    ad_sweeps_t *sw = ad_sweeps_new();
    ad_sweep_t *sweep = s_small_sweep();
    int64_t next_id = 100;
    ad_sweeps_pick_t pick;
    json_t *o, *k;

    (void)st;
    ad_sweeps_open(sw, 7, "0123456789abcdef", &sweep, NULL, 0, &opts, 0.0);
    /* Held: nothing is skipped. */
    ad_sweeps_set_hold(sw, "unit", true);
    assert_true(ad_sweeps_held(sw, 7));
    assert_int_equal(ad_sweeps_check(sw, "unit", 100, s_seed2_never, NULL, 0.0), 0);
    ad_sweeps_set_hold(sw, "unit", false);
    assert_false(ad_sweeps_held(sw, 7));
    /* Seed 2 is 2 configurations (two learning rates) of 2 repeats: 4 jobs. */
    assert_int_equal(ad_sweeps_check(sw, "unit", 100, s_seed2_never, NULL, 0.0), 2);
    o = ad_sweeps_json(sw, "unit", 1.0);
    assert_int_equal(s_jn(o, "skipped"), 4);
    assert_int_equal(s_jn(o, "skipped_configs_total"), 2);
    assert_int_equal(s_jn(o, "pending"), 12);
    k = json_array_get(json_object_get(o, "skipped_configs"), 0);
    assert_string_equal(json_string_value(json_object_get(k, "layout")), "1x1x1");
    assert_string_equal(json_string_value(json_object_get(k, "reason")), "seed 2 fits no node");
    json_decref(o);
    /* At dispatch: one found unfit then (the nodes changed) goes with its other repeat. */
    assert_int_equal(ad_sweeps_next(sw, 99, &pick), 0);
    ad_sweeps_skip(sw, &pick, "node gone", 1.0);
    ad_sweeps_pick_clear(&pick);
    o = ad_sweeps_json(sw, "unit", 1.0);
    assert_int_equal(s_jn(o, "skipped"), 6);
    assert_int_equal(s_jn(o, "queued"), 0);
    json_decref(o);
    /* The rest runs, and the sweep is DONE. */
    assert_int_equal(s_take(sw, 99, &next_id, NULL), 10);
    for (int64_t job = 100; job < next_id; job++)
        assert_true(ad_sweeps_ended(sw, job, AD_SWEEPS_JOB_COMPLETED, 1.0, 2.0));
    o = ad_sweeps_json(sw, "unit", 3.0);
    assert_string_equal(json_string_value(json_object_get(o, "state")), "DONE");
    assert_int_equal(s_jn(o, "completed"), 10);
    assert_int_equal(s_jn(o, "skipped"), 6);
    json_decref(o);
    ad_sweeps_free(&sw);
}

/* Held (--hold): a queued job that cannot start is parked off the limit; the others go on. */
static void
test_park(void **st)
{
    ad_sweeps_opts_t opts = {1, false, true, NULL};
    ad_sweeps_t *sw = ad_sweeps_new();
    ad_sweep_t *sweep = s_small_sweep();
    int64_t next_id = 100;
    json_t *o;

    (void)st;
    ad_sweeps_open(sw, 7, "0123456789abcdef", &sweep, NULL, 0, &opts, 0.0);
    ad_sweeps_set_hold(sw, "unit", true);
    assert_int_equal(s_take(sw, 99, &next_id, NULL), 1);
    assert_int_equal(s_take(sw, 99, &next_id, NULL), 0); /* the limit: 1 */
    /* Job 100 cannot start: parked, so the next one is queued behind it. */
    assert_true(ad_sweeps_park(sw, 100));
    assert_false(ad_sweeps_park(sw, 100));
    assert_false(ad_sweeps_park(sw, 555));
    assert_int_equal(s_take(sw, 99, &next_id, NULL), 1);
    o = ad_sweeps_json(sw, "unit", 1.0);
    assert_int_equal(s_jn(o, "parked"), 1);
    assert_int_equal(s_jn(o, "queued"), 2);
    json_decref(o);
    /* Its nodes came: it starts and counts again (2 live over a limit of 1: nothing more). */
    assert_true(ad_sweeps_started(sw, 100));
    o = ad_sweeps_json(sw, "unit", 1.0);
    assert_int_equal(s_jn(o, "parked"), 0);
    json_decref(o);
    assert_int_equal(s_take(sw, 99, &next_id, NULL), 0);
    assert_true(ad_sweeps_ended(sw, 100, AD_SWEEPS_JOB_COMPLETED, 1.0, 2.0));
    assert_int_equal(s_take(sw, 99, &next_id, NULL), 0);
    assert_true(ad_sweeps_ended(sw, 101, AD_SWEEPS_JOB_COMPLETED, 1.0, 2.0));
    assert_int_equal(s_take(sw, 99, &next_id, NULL), 1);
    ad_sweeps_free(&sw);
}

/* Resuming: completed repeats skipped, live ones counted, failed ones kept or retried. */
static void
test_resume(void **st)
{
    ad_sweeps_opts_t opts = {2, false, true, NULL};
    ad_sweep_t *sweep = s_small_sweep();
    ad_sweeps_prior_t prior[7];
    ad_sweeps_t *sw = ad_sweeps_new();
    int64_t next_id = 200, idx[16];
    json_t *o;

    memset(prior, 0, sizeof(prior));
    /* Configuration 0 ran twice (both repeats done); configuration 1 once and failed once;
     * configuration 2 failed; configuration 3 is queued (requeued after a restart); 4 was
     * cancelled (it runs again); one job has no usable hash. */
    s_hash_of(sweep, 0, prior[0].config_hash);
    s_hash_of(sweep, 8, prior[1].config_hash);
    s_hash_of(sweep, 1, prior[2].config_hash);
    s_hash_of(sweep, 1, prior[3].config_hash);
    s_hash_of(sweep, 2, prior[4].config_hash);
    s_hash_of(sweep, 3, prior[5].config_hash);
    s_hash_of(sweep, 4, prior[6].config_hash);
    assert_string_equal(prior[0].config_hash, prior[1].config_hash);
    for (int i = 0; i < 7; i++) {
        prior[i].job = 10 + i;
        prior[i].duration_s = 4.0;
    }
    prior[0].state = AD_SWEEPS_JOB_COMPLETED;
    prior[1].state = AD_SWEEPS_JOB_COMPLETED;
    prior[2].state = AD_SWEEPS_JOB_FAILED;
    prior[3].state = AD_SWEEPS_JOB_COMPLETED;
    prior[4].state = AD_SWEEPS_JOB_FAILED;
    prior[5].state = AD_SWEEPS_JOB_QUEUED;
    prior[6].state = AD_SWEEPS_JOB_CANCELLED;
    ad_sweeps_open(sw, 3, "0123456789abcdef", &sweep, prior, 7, &opts, 0.0);
    o = ad_sweeps_json(sw, "unit", 0.0);
    assert_true(json_is_true(json_object_get(o, "resolving")));
    json_decref(o);
    /* Nothing dispatches while the prior jobs are matched; a live one may start meanwhile. */
    assert_int_equal(s_take(sw, 1, &next_id, NULL), 0);
    assert_true(ad_sweeps_started(sw, 15));
    while (ad_sweeps_resolve(sw, 3, 1.0))
        ;
    o = ad_sweeps_json(sw, "unit", 1.0);
    assert_false(json_is_true(json_object_get(o, "resolving")));
    assert_int_equal(s_jn(json_object_get(o, "before"), "completed"), 3);
    assert_int_equal(s_jn(json_object_get(o, "before"), "failed"), 2);
    assert_int_equal(s_jn(o, "completed"), 3);
    assert_int_equal(s_jn(o, "failed"), 2);
    assert_int_equal(s_jn(o, "running"), 1);
    assert_int_equal(s_jn(o, "todo"), 10);
    assert_true(fabs(json_number_value(json_object_get(o, "mean_job_s")) - 4.0) < 1e-9);
    json_decref(o);
    /* The live job takes one of the 2 places: one more job, the first still to run (4). */
    assert_int_equal(s_take(sw, 1, &next_id, idx), 1);
    assert_int_equal(idx[0], 4);
    assert_true(ad_sweeps_ended(sw, 15, AD_SWEEPS_JOB_COMPLETED, 1.0, 2.0));
    assert_int_equal(s_take(sw, 1, &next_id, idx), 1);
    assert_int_equal(idx[0], 5);
    /* Retry: the failed repeats run again, before the later indexes. */
    {
        ad_sweeps_opts_t retry = {0, true, true, NULL};

        assert_int_equal(ad_sweeps_update(sw, "unit", &retry), 0);
    }
    assert_true(ad_sweeps_ended(sw, 200, AD_SWEEPS_JOB_COMPLETED, 1.0, 3.0));
    assert_int_equal(s_take(sw, 1, &next_id, idx), 1);
    assert_int_equal(idx[0], 2);
    o = ad_sweeps_json(sw, "unit", 3.0);
    assert_int_equal(s_jn(o, "retried"), 2);
    assert_int_equal(s_jn(o, "failed"), 0);
    json_decref(o);
    ad_sweeps_free(&sw);

    /* Opened with retry_failed, the failed repeats are to run at once; and a sweep whose
     * jobs all completed before is DONE as soon as it is resolved. */
    sw = ad_sweeps_new();
    sweep = s_small_sweep();
    opts.retry_failed = true;
    ad_sweeps_open(sw, 3, "0123456789abcdef", &sweep, prior, 7, &opts, 0.0);
    while (ad_sweeps_resolve(sw, 100, 0.5))
        ;
    o = ad_sweeps_json(sw, "unit", 1.0);
    assert_int_equal(s_jn(o, "failed"), 0);
    assert_int_equal(s_jn(o, "retried"), 2);
    assert_int_equal(s_jn(o, "todo"), 12);
    json_decref(o);
    ad_sweeps_free(&sw);
}

/* Cancel stops dispatching; a read-back sweep never dispatches; a new open replaces. */
static void
test_cancel_and_stopped(void **st)
{
    ad_sweeps_opts_t opts = {2, false, true, NULL}, look = {0, false, false, NULL};
    ad_sweeps_t *sw = ad_sweeps_new();
    ad_sweep_t *sweep = s_small_sweep();
    int64_t next_id = 1;
    json_t *o, *list;

    ad_sweeps_open(sw, 1, "0123456789abcdef", &sweep, NULL, 0, &opts, 0.0);
    assert_int_equal(s_take(sw, 1, &next_id, NULL), 2);
    assert_int_equal(ad_sweeps_cancel(sw, "unit", 1.0), 0);
    assert_int_equal(ad_sweeps_cancel(sw, "other", 1.0), -ENOENT);
    assert_false(ad_sweeps_running(sw, "unit"));
    assert_true(ad_sweeps_ended(sw, 1, AD_SWEEPS_JOB_CANCELLED, NAN, 2.0));
    assert_true(ad_sweeps_ended(sw, 2, AD_SWEEPS_JOB_CANCELLED, NAN, 2.0));
    assert_int_equal(s_take(sw, 1, &next_id, NULL), 0);
    o = ad_sweeps_json(sw, "unit", 5.0);
    assert_string_equal(json_string_value(json_object_get(o, "state")), "CANCELLED");
    assert_int_equal(s_jn(o, "cancelled"), 2);
    assert_int_equal(s_jn(o, "todo"), 14);
    assert_true(fabs(json_number_value(json_object_get(o, "elapsed_s")) - 1.0) < 1e-9);
    json_decref(o);

    sweep = s_small_sweep();
    ad_sweeps_open(sw, 1, "0123456789abcdef", &sweep, NULL, 0, &look, 6.0);
    assert_string_equal(ad_sweeps_file_hash(sw, "unit"), "0123456789abcdef");
    assert_null(ad_sweeps_file_hash(sw, "other"));
    assert_int_equal(s_take(sw, 1, &next_id, NULL), 0);
    list = ad_sweeps_list_json(sw, 6.0);
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "state")),
                        "STOPPED");
    json_decref(list);
    assert_null(ad_sweeps_json(sw, "other", 6.0));
    ad_sweeps_free(&sw);
    assert_int_equal(ad_sweeps_job_from_state("TIMEOUT"), AD_SWEEPS_JOB_FAILED);
    assert_int_equal(ad_sweeps_job_from_state("NODE_FAIL"), AD_SWEEPS_JOB_FAILED);
    assert_int_equal(ad_sweeps_job_from_state("PENDING"), AD_SWEEPS_JOB_QUEUED);
    assert_string_equal(ad_sweeps_state_name(AD_SWEEPS_DONE), "DONE");
    assert_string_equal(ad_sweeps_state_name((ad_sweeps_state_t)42), "UNKNOWN");
}

static int
s_count_job(const ad_job_row_t *job, void *arg)
{
    int *n = arg;

    assert_non_null(job->config_hash);
    assert_int_equal(job->sweep, 1);
    (*n)++;
    return *n == 2 ? 5 : 0;
}

/* The store's side: versions of a sweep by name, the jobs of a sweep. */
static void
test_store_sweeps(void **st)
{
    char path[256];
    ad_store_t *store = NULL;
    ad_sweep_row_t row = {0}, *rows = NULL;
    ad_job_row_t job;
    ad_err_t err = {0};
    int64_t id = 0, id2 = 0;
    bool created = false;
    size_t n = 9;
    int count = 0;

    adt_path(path, sizeof(path), s_tmp, "store.db");
    assert_int_equal(ad_store_open(path, AD_STORE_CREATE, &store, &err), 0);
    assert_int_equal(ad_store_find_sweeps(store, "s", &rows, &n), 0);
    assert_int_equal(n, 0);
    assert_null(rows);
    row.name = "s";
    row.file_hash = "aaaaaaaaaaaaaaaa";
    row.spec = "{}";
    assert_int_equal(ad_store_add_sweep(store, &row, &id, &created), 0);
    assert_true(created);
    row.file_hash = "bbbbbbbbbbbbbbbb";
    assert_int_equal(ad_store_add_sweep(store, &row, &id2, &created), 0);
    row.name = "t";
    assert_int_equal(ad_store_add_sweep(store, &row, NULL, NULL), 0);
    assert_int_equal(ad_store_find_sweeps(store, "s", &rows, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(rows[0].id, id);
    assert_string_equal(rows[1].file_hash, "bbbbbbbbbbbbbbbb");
    assert_string_equal(rows[1].spec, "{}");
    ad_store_sweep_rows_free(&rows, n);
    assert_null(rows);
    for (int i = 0; i < 3; i++) {
        ad_store_job_row_init(&job);
        job.name = "j";
        job.spec = "{}";
        job.sweep = i < 2 ? id : id2;
        job.config_hash = "0123456789abcdef";
        assert_int_equal(ad_store_add_job(store, &job, NULL), 0);
    }
    /* fn's non-zero value stops the walk and comes back. */
    assert_int_equal(ad_store_each_sweep_job(store, id, s_count_job, &count), 5);
    assert_int_equal(count, 2);
    ad_store_close(&store);
}

/* ---------------------------------------------------------------------------------------- */
/* autodist sweep as a program.                                                             */

typedef adt_result_t result_t; /* what one run of autodist left */

typedef adt_proc_t proc_t; /* autodist started in the background */

/* A coordinator of a test group, with its agents. */
typedef struct cluster {
    char home[256];  /* its home */
    char ep[3][64];  /* client, agent and metrics endpoints */
    pid_t daemon;    /* autodistd */
    pid_t agents[4]; /* autodist-agent */
    int n_agents;
    const char *trainer; /* --trainer, NULL = autodist-train */
} cluster_t;

static result_t s_res;
static cluster_t s_cl; /* the group's cluster */

/* The arguments (NULL-terminated) with the group's --home and --coordinator in front. */
static void
s_args(const char **args, const char *first, va_list ap)
{
    int n = 0;

    if (s_cl.home[0]) {
        args[n++] = "--home";
        args[n++] = s_cl.home;
        args[n++] = "--coordinator";
        args[n++] = s_cl.ep[0];
    }
    for (const char *a = first; a && n < S_MAX_ARGS; a = va_arg(ap, const char *))
        args[n++] = a;
    args[n] = NULL;
}

/* Run autodist (against the group's cluster, if any) into s_res; returns its exit status. */
static int
s_cli(const char *first, ...)
{
    const char *args[S_MAX_ARGS + 1];
    va_list ap;

    va_start(ap, first);
    s_args(args, first, ap);
    va_end(ap);
    return adt_run(&s_res, AD_CLI_BIN, args, s_tmp, S_DEADLINE_S);
}

/* Start autodist in the background (against the group's cluster). */
static void
s_cli_bg(proc_t *p, const char *first, ...)
{
    const char *args[S_MAX_ARGS + 1];
    va_list ap;

    va_start(ap, first);
    s_args(args, first, ap);
    va_end(ap);
    adt_start(p, AD_CLI_BIN, args, s_tmp);
}

/* Expect the run just made (got: its status, s_cli's result) to have exited with want. */
static void
s_expect(int got, int want)
{
    (void)got; /* the run's own status, which s_res holds with its output */
    adt_expect_status(&s_res, want);
}

/* A request to the group's coordinator; the reply (owned) or NULL with *rc set. */
static json_t *
s_req(const char *type, json_t *payload, int *rc_out)
{
    ad_err_t err = {0};
    json_t *reply = NULL;
    char keys[300];
    int rc;

    /* The admin's keys, which the coordinator made in its home. */
    snprintf(keys, sizeof(keys), "%s/keys", s_cl.home);
    rc = ad_proto_request_secure(s_cl.ep[0], keys, type, payload, 5000, &reply, &err);

    if (rc_out)
        *rc_out = rc;
    else if (rc)
        fail_msg("%s: %s", type, err.msg);
    return reply;
}

/* The sweep object of name (owned by the caller). */
static json_t *
s_sweep_obj(const char *name)
{
    json_t *r = s_req("SWEEPS", json_pack("{s:s}", "name", name), NULL);
    json_t *s = json_incref(json_array_get(json_object_get(r, "sweeps"), 0));

    json_decref(r);
    assert_non_null(s);
    return s;
}

/* Jobs in the coordinator's store whose name starts with prefix. */
static int
s_jobs_named(const char *prefix)
{
    json_t *r = s_req("JOBS", NULL, NULL), *j;
    size_t i;
    int n = 0;

    json_array_foreach(json_object_get(r, "jobs"), i, j) n +=
        !strncmp(json_string_value(json_object_get(j, "name")), prefix, strlen(prefix));
    json_decref(r);
    return n;
}

static pid_t
s_spawn(const char *const *argv, const char *log)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static void
s_daemon_start(void)
{
    const char *argv[16] = {AD_DAEMON_BIN, "--home",       s_cl.home,  "--client",
                            s_cl.ep[0],    "--agents",     s_cl.ep[1], "--metrics",
                            s_cl.ep[2],    "--kill-grace", "2"};
    char log[300];
    int n = 11, rc = -1;

    if (s_cl.trainer) {
        argv[n++] = "--trainer";
        argv[n++] = s_cl.trainer;
    }
    argv[n] = NULL;
    snprintf(log, sizeof(log), "%s/autodistd.log", s_cl.home);
    s_cl.daemon = s_spawn(argv, log);
    for (int t = 0; t < 100 && rc; t++) {
        json_decref(s_req("NODES", NULL, &rc));
        if (rc)
            usleep(100 * 1000);
    }
    assert_int_equal(rc, 0);
}

/* UP nodes in NODES. */
static int
s_nodes_up(void)
{
    json_t *r = s_req("NODES", NULL, NULL), *n;
    size_t i;
    int up = 0;

    json_array_foreach(json_object_get(r, "nodes"), i, n) up +=
        !strcmp(json_string_value(json_object_get(n, "state")), "UP");
    json_decref(r);
    return up;
}

static void
s_wait_nodes(int n)
{
    double t0 = adt_now();

    while (s_nodes_up() < n) {
        assert_true(adt_now() - t0 < 30);
        usleep(100 * 1000);
    }
}

/* A coordinator (trainer: NULL = autodist-train) and n agents, in the group's home. */
static int
s_cluster_up(const char *tag, const char *trainer, int agents)
{
    memset(&s_cl, 0, sizeof(s_cl));
    snprintf(s_cl.home, sizeof(s_cl.home), "%s/home-%s", s_tmp, tag);
    mkdir(s_cl.home, 0700);
    for (int i = 0; i < 3; i++)
        adt_free_endpoint(s_cl.ep[i], sizeof(s_cl.ep[i]));
    s_cl.trainer = trainer;
    s_daemon_start();
    for (int i = 0; i < agents; i++) {
        char name[32], log[300];
        const char *argv[] = {AD_AGENT_BIN, "--no-bench",    "--name",   name,        "--home",
                              s_cl.home,    "--coordinator", s_cl.ep[1], "--address", "127.0.0.1",
                              NULL};

        snprintf(name, sizeof(name), "%s%d", tag, i + 1);
        snprintf(log, sizeof(log), "%s/agent-%d.log", s_cl.home, i + 1);
        s_cl.agents[s_cl.n_agents++] = s_spawn(argv, log);
    }
    s_wait_nodes(agents);
    return 0;
}

static void
s_daemon_stop(void)
{
    int rc;

    json_decref(s_req("SHUTDOWN", NULL, &rc));
    if (adt_wait(s_cl.daemon, 15) < 0) {
        kill(s_cl.daemon, SIGKILL);
        adt_wait(s_cl.daemon, 5);
    }
}

static int
s_cluster_down(void **st)
{
    s_daemon_stop();
    for (int i = 0; i < s_cl.n_agents; i++) {
        kill(s_cl.agents[i], SIGTERM);
        if (adt_wait(s_cl.agents[i], 10) < 0)
            kill(s_cl.agents[i], SIGKILL);
    }
    memset(&s_cl, 0, sizeof(s_cl));
    return 0;
}

static int
s_real_up(void **st)
{
    return s_cluster_up("real", NULL, 2);
}

static int
s_fake_up(void **st)
{
    return s_cluster_up("fake", S_FAKE_TRAINER, 3);
}

static int
s_idle_up(void **st)
{
    return s_cluster_up("idle", S_FAKE_TRAINER, 0);
}

/* A sweep file in the scratch folder; returns its path (static buffer per slot). */
static const char *
s_sweep_file(const char *file, const char *text)
{
    static char paths[8][300];
    static int slot;
    char *path = paths[slot++ % 8];

    adt_path(path, 300, s_tmp, file);
    adt_write_file(path, text);
    return path;
}

/* ---- no coordinator needed --------------------------------------------------------------- */

/* --help, usage errors and bad sweep files: exit 2 before any request. */
static void
test_help_and_bad_files(void **st)
{
    static const struct {
        const char *file;
        const char *says;
    } bad[] = {
        {"sweep-empty-list.yaml", "has an empty list, expected at least one value"},
        {"sweep-too-big.yaml", "more than max_configs"},
        {"sweep-bad-value.yaml", "grid batch_size value 2: batch_size must be a positive integer"},
        {"sweep-unknown-key.yaml", "unknown key"},
    };
    char ep[64], path[512], prefix[600];
    const char *p;
    json_t *doc;

    adt_free_endpoint(ep, sizeof(ep));
    s_expect(s_cli("sweep", "--help", NULL), 0);
    assert_non_null(strstr(s_res.out, "usage: autodist sweep SWEEP.yaml"));
    assert_non_null(strstr(s_res.out, "autodist sweep status [NAME]"));
    assert_non_null(strstr(s_res.out, "--retry-failed"));
    assert_non_null(strstr(s_res.out, "--json"));
    s_expect(s_cli("help", "sweep", NULL), 0);
    assert_non_null(strstr(s_res.out, "usage: autodist sweep"));
    s_expect(s_cli("sweep", "status", "--help", NULL), 0);
    s_expect(s_cli("--help", NULL), 0);
    assert_non_null(strstr(s_res.out, "  sweep "));
    assert_non_null(strstr(s_res.out, "sweep: some of its jobs did not complete"));

    s_expect(s_cli("--coordinator", ep, "sweep", NULL), 2);
    assert_non_null(strstr(s_res.err, "autodist: sweep: give a sweep file"));
    s_expect(s_cli("--coordinator", ep, "sweep", "cancel", NULL), 2);
    s_expect(s_cli("--coordinator", ep, "sweep", "status", "a", "b", NULL), 2);
    s_expect(s_cli("--coordinator", ep, "sweep", "status", "--retry-failed", NULL), 2);
    assert_non_null(strstr(s_res.err, "go with a sweep file"));
    s_expect(s_cli("--coordinator", ep, "sweep", "a.yaml", "b.yaml", NULL), 2);
    s_expect(s_cli("--coordinator", ep, "sweep", "a.yaml", "--max-parallel", "0", NULL), 2);
    assert_non_null(strstr(s_res.err, "--max-parallel must be an integer in 1..10000"));
    s_expect(s_cli("--coordinator", ep, "sweep", "a.yaml", "--follow-interval", "x", NULL), 2);
    s_expect(s_cli("--coordinator", ep, "sweep", "a.yaml", "--bogus", NULL), 2);
    s_expect(s_cli("--coordinator", ep, "sweep", "/nonexistent/s.yaml", NULL), 2);
    assert_non_null(strstr(s_res.err, "No such file or directory"));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int line = 0, col = 0;

        snprintf(path, sizeof(path), AD_SOURCE_DIR "/tests/jobs/%s", bad[i].file);
        s_expect(s_cli("--coordinator", ep, "sweep", path, NULL), 2);
        snprintf(prefix, sizeof(prefix), "autodist: %s:", path);
        assert_memory_equal(s_res.err, prefix, strlen(prefix));
        assert_int_equal(sscanf(s_res.err + strlen(prefix), "%d:%d:", &line, &col), 2);
        assert_true(line >= 1 && col >= 1);
        if (!strstr(s_res.err, bad[i].says))
            fail_msg("%s: expected \"%s\" in %s", bad[i].file, bad[i].says, s_res.err);
        assert_string_equal(s_res.out, "");
        assert_true(s_res.seconds < 3.0);
    }
    /* An explosion past the limit names the count; JSON output changes nothing of it. */
    p = s_sweep_file("huge.yaml", "name: huge\n"
                                  "base: {model: mlp, dataset: synthetic, batch_size: 8}\n"
                                  "grid:\n"
                                  "  seed: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n"
                                  "  batch_size: [8, 16, 32]\n"
                                  "max_configs: 20\n");
    s_expect(s_cli("--coordinator", ep, "--json", "sweep", p, NULL), 2);
    assert_non_null(strstr(s_res.err, ":3:1: the sweep expands to 30 jobs"));
    assert_non_null(strstr(s_res.err, "raise it with max_configs"));
    assert_string_equal(s_res.out, "");
    (void)doc;
}

/* ---- the real trainer --------------------------------------------------------------------- */

static int
s_count_run(const ad_run_t *run, void *arg)
{
    int *n = arg;

    assert_non_null(run->config_hash);
    assert_int_equal(strlen(run->config_hash), 16);
    (*n)++;
    return 0;
}

/* 2 x 2 grid x 2 repeats of a tiny mlp: all 8 run; a rerun skips them all and launches nothing. */
static void
test_real_small_and_rerun(void **st)
{
    const char *p =
        s_sweep_file("real.yaml", "name: real\n"
                                  "base:\n"
                                  "  model: mlp\n"
                                  "  dataset: {synthetic: {shape: [1, 4, 4], classes: 2, "
                                  "samples: 64}}\n"
                                  "  steps: 1\n"
                                  "  batch_size: 8\n"
                                  "  layout: {nodes: 1, procs_per_node: 1, threads_per_proc: 1}\n"
                                  "grid:\n"
                                  "  seed: [1, 2]\n"
                                  "  optimizer.lr: [0.01, 0.1]\n"
                                  "repeats: 2\n");
    char db[300];
    ad_store_t *store = NULL;
    ad_run_filter_t f = {0};
    ad_err_t err = {0};
    json_t *doc, *s;
    int64_t sweep_id;

    s_expect(s_cli("sweep", p, "--follow-interval", "0.2", NULL), 0);
    assert_non_null(strstr(s_res.out, "sweep real (id "));
    assert_non_null(strstr(s_res.out, "8 jobs = 4 configurations x 2 repeats"));
    assert_non_null(strstr(s_res.out, "; new (file hash "));
    assert_non_null(strstr(s_res.out, "sweep real DONE: 8 of 8 jobs completed, 0 failed"));
    /* Not a terminal: plain lines, no escape sequences. */
    assert_null(strchr(s_res.out, '\033'));
    assert_non_null(strstr(s_res.out, "sweep real: "));
    assert_int_equal(s_jobs_named("real-"), 8);

    /* Every run is in the store with its sweep and configuration hash. */
    s = s_sweep_obj("real");
    sweep_id = s_jn(s, "id");
    json_decref(s);
    snprintf(db, sizeof(db), "%s/runs.db", s_cl.home);
    assert_int_equal(ad_store_open(db, AD_STORE_READONLY, &store, &err), 0);
    {
        ad_sweep_t *sweep = NULL;

        assert_int_equal(ad_sweep_load(p, &sweep, &err), 0);
        for (int64_t i = 0; i < 4; i++) {
            char hash[17];
            ad_run_t run = {0};

            s_hash_of(sweep, i, hash);
            assert_int_equal(ad_store_find_run(store, sweep_id, hash, &run), 0);
            assert_int_equal(run.sweep, sweep_id);
            assert_int_equal(run.state, AD_JOB_COMPLETED);
            assert_true(run.samples_per_s > 0);
            ad_store_run_clear(&run);
        }
        ad_sweep_free(&sweep);
    }
    f.sweep = sweep_id;
    {
        int n = 0;

        assert_int_equal(ad_store_each_run(store, &f, s_count_run, &n), 0);
        assert_int_equal(n, 8);
    }
    ad_store_close(&store);

    /* The rerun: everything skipped, nothing launched, exit 0. */
    s_expect(s_cli("--json", "sweep", p, NULL), 0);
    doc = adt_json(s_res.out);
    s = json_object_get(doc, "sweep");
    assert_string_equal(json_string_value(json_object_get(s, "state")), "DONE");
    assert_int_equal(s_jn(s, "completed"), 8);
    assert_int_equal(s_jn(json_object_get(s, "before"), "completed"), 8);
    assert_int_equal(s_jn(s, "id"), sweep_id);
    json_decref(doc);
    assert_int_equal(s_jobs_named("real-"), 8);
    s_expect(s_cli("sweep", p, NULL), 0);
    assert_non_null(strstr(s_res.out, "; resuming (file hash "));
    assert_non_null(strstr(s_res.out, "resumed: 8 jobs completed before (skipped)"));
    assert_int_equal(s_jobs_named("real-"), 8);
}

/* A configuration that fails (Fashion-MNIST in an empty folder): exit 4; kept unless retried. */
static void
test_real_failing(void **st)
{
    char empty[300], text[1024];
    const char *p;
    json_t *doc, *s, *failed;

    adt_mkdir_in(empty, sizeof(empty), s_tmp, "empty");
    snprintf(text, sizeof(text),
             "name: nodata\n"
             "base: {model: mlp, dataset: fashion-mnist, data_dir: %s, steps: 1, batch_size: 8,\n"
             "       layout: {nodes: 1, procs_per_node: 1, threads_per_proc: 1}}\n"
             "grid:\n"
             "  seed: [1, 2]\n",
             empty);
    p = s_sweep_file("nodata.yaml", text);
    s_expect(s_cli("sweep", p, NULL), 4);
    assert_non_null(strstr(s_res.out, "sweep nodata DONE: 0 of 2 jobs completed, 2 failed"));
    assert_non_null(strstr(s_res.out, "FAILED: exit 1: autodist-train: error: "));
    assert_non_null(strstr(s_res.err, "autodist: sweep nodata: 2 of 2 jobs did not complete"));
    assert_non_null(strstr(s_res.err, "--retry-failed"));
    assert_int_equal(s_jobs_named("nodata-"), 2);

    /* Again without --retry-failed: skipped, still exit 4, nothing launched. */
    s_expect(s_cli("--json", "sweep", p, NULL), 4);
    doc = adt_json(s_res.out);
    s = json_object_get(doc, "sweep");
    assert_int_equal(s_jn(s, "failed"), 2);
    assert_int_equal(s_jn(json_object_get(s, "before"), "failed"), 2);
    failed = json_object_get(s, "failed_jobs");
    assert_int_equal(json_array_size(failed), 2);
    assert_non_null(
        strstr(json_string_value(json_object_get(json_array_get(failed, 0), "reason")), empty));
    json_decref(doc);
    assert_int_equal(s_jobs_named("nodata-"), 2);

    /* With it: both run again (and fail again). */
    s_expect(s_cli("sweep", p, "--retry-failed", NULL), 4);
    assert_non_null(strstr(s_res.out, "failed before (run again: --retry-failed)"));
    assert_int_equal(s_jobs_named("nodata-"), 4);
    rmdir(empty);
}

/* ---- the fake trainer: dispatch, limits, changes, cancel, restart ------------------------ */

/* --max-parallel 2: never more than 2 jobs of the sweep queued or running, though 3 nodes. */
static void
test_max_parallel(void **st)
{
    const char *p =
        s_sweep_file("par.yaml", "name: par\n"
                                 "base: {model: mlp, dataset: synthetic, steps: 5, batch_size: 8,\n"
                                 "       layout: {nodes: 1, procs_per_node: 1, "
                                 "threads_per_proc: 1}}\n"
                                 "grid:\n"
                                 "  seed: [1, 2, 3, 4, 5, 6]\n");
    proc_t bg;
    result_t r;
    int max_live = 0, max_sweep = 0, polls = 0;

    s_cli_bg(&bg, "sweep", p, "--max-parallel", "2", "--follow-interval", "0.1", NULL);
    while (waitpid(bg.pid, NULL, WNOHANG) == 0 && adt_now() - bg.t0 < S_DEADLINE_S) {
        json_t *status = s_req("STATUS", NULL, NULL), *j, *sw;
        json_t *sweeps = s_req("SWEEPS", NULL, NULL);
        size_t i;
        int live = 0;

        json_array_foreach(json_object_get(status, "jobs"), i, j) live +=
            !strncmp(json_string_value(json_object_get(j, "name")), "par-", 4);
        json_array_foreach(json_object_get(sweeps, "sweeps"), i,
                           sw) if (!strcmp(json_string_value(json_object_get(sw, "name")), "par"))
        {
            int n = (int)(s_jn(sw, "running") + s_jn(sw, "queued"));

            max_sweep = n > max_sweep ? n : max_sweep;
        }
        max_live = live > max_live ? live : max_live;
        json_decref(status);
        json_decref(sweeps);
        polls++;
        usleep(30 * 1000);
    }
    /* waitpid above reaped it: read what it said. */
    bg.pid = -1;
    adt_read_file(bg.out_path, r.out, sizeof(r.out));
    unlink(bg.out_path);
    unlink(bg.err_path);
    assert_true(polls > 5);
    assert_true(max_live <= 2);
    assert_true(max_sweep <= 2);
    assert_int_equal(max_live, 2);
    assert_non_null(strstr(r.out, "at most 2 at a time"));
    assert_non_null(strstr(r.out, "sweep par DONE: 6 of 6 jobs completed, 0 failed"));
}

/* The same name from another file: refused, naming both hashes; --force runs what is new. */
static void
test_changed_file(void **st)
{
    const char *p = s_sweep_file("par2.yaml",
                                 "name: par\n"
                                 "base: {model: mlp, dataset: synthetic, steps: 5, batch_size: 8,\n"
                                 "       layout: {nodes: 1, procs_per_node: 1, "
                                 "threads_per_proc: 1}}\n"
                                 "grid:\n"
                                 "  seed: [1, 2, 3, 4, 5, 6, 7]\n");
    char old_hash[17], new_hash[17];
    ad_sweep_t *sweep = NULL;
    ad_err_t err = {0};
    json_t *doc, *s;

    s = s_sweep_obj("par");
    snprintf(old_hash, sizeof(old_hash), "%s", json_string_value(json_object_get(s, "file_hash")));
    json_decref(s);
    assert_int_equal(ad_sweep_load(p, &sweep, &err), 0);
    ad_sweep_hash(sweep, new_hash);
    ad_sweep_free(&sweep);
    s_expect(s_cli("sweep", p, NULL), 1);
    assert_non_null(strstr(s_res.err, "autodist: sweep par was recorded from another file"));
    assert_non_null(strstr(s_res.err, old_hash));
    assert_non_null(strstr(s_res.err, new_hash));
    assert_non_null(strstr(s_res.err, "--force"));
    assert_non_null(strstr(s_res.err, "completed under that name"));
    assert_int_equal(s_jobs_named("par-"), 6);

    /* --force: a new version; the six configurations it shares with the old one had
     * completed, so only seed 7 runs. */
    s_expect(s_cli("--json", "sweep", p, "--force", NULL), 0);
    doc = adt_json(s_res.out);
    s = json_object_get(doc, "sweep");
    assert_int_equal(s_jn(s, "completed"), 7);
    assert_int_equal(s_jn(json_object_get(s, "before"), "completed"), 6);
    assert_string_equal(json_string_value(json_object_get(s, "file_hash")), new_hash);
    json_decref(doc);
    assert_int_equal(s_jobs_named("par-"), 7);
    /* Now this file is the one recorded: a plain rerun resumes it, the old one is refused. */
    s_expect(s_cli("sweep", p, NULL), 0);
    assert_int_equal(s_jobs_named("par-"), 7);
    s_expect(s_cli("sweep", AD_SOURCE_DIR "/nonexistent", NULL), 2);
    p = s_sweep_file("par3.yaml",
                     "name: par\n"
                     "base: {model: mlp, dataset: synthetic, steps: 5, batch_size: 8,\n"
                     "       layout: {nodes: 1, procs_per_node: 1, threads_per_proc: 1}}\n"
                     "grid:\n"
                     "  seed: [1, 2, 3, 4, 5, 6, 7, 8]\n");
    /* A value added with --force: only the new configuration runs. */
    s_expect(s_cli("--json", "sweep", p, "--force", NULL), 0);
    doc = adt_json(s_res.out);
    s = json_object_get(doc, "sweep");
    assert_int_equal(s_jn(json_object_get(s, "before"), "completed"), 7);
    assert_int_equal(s_jn(s, "completed"), 8);
    json_decref(doc);
    assert_int_equal(s_jobs_named("par-"), 8);
    /* Jobs without a layout (layout: auto) are refused, nothing recorded. */
    p = s_sweep_file("auto.yaml",
                     "name: auto\n"
                     "base: {model: mlp, dataset: synthetic, steps: 1, batch_size: 8}\n"
                     "grid:\n"
                     "  seed: [1, 2]\n");
    s_expect(s_cli("sweep", p, NULL), 1);
    assert_non_null(strstr(s_res.err, "layout auto, which sweeps do not take yet"));
    s_expect(s_cli("sweep", "status", "auto", NULL), 1);
    assert_non_null(strstr(s_res.err, "no sweep auto"));
}

/* sweep cancel: queued jobs cancelled, running ones stopped, nothing more dispatched. */
static void
test_cancel(void **st)
{
    const char *p = s_sweep_file("long.yaml", "name: long\n"
                                              "base: {model: mlp, dataset: synthetic, steps: 300, "
                                              "batch_size: 8,\n"
                                              "       layout: {nodes: 1, procs_per_node: 1, "
                                              "threads_per_proc: 1}}\n"
                                              "grid:\n"
                                              "  seed: [1, 2, 3, 4, 5]\n");
    json_t *doc, *s, *r;
    double t0;

    s_expect(s_cli("--json", "sweep", p, "--no-wait", "--max-parallel", "4", NULL), 0);
    doc = adt_json(s_res.out);
    assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "sweep"), "name")),
                        "long");
    json_decref(doc);
    /* 3 nodes: 3 running, 1 queued behind them. */
    for (t0 = adt_now();;) {
        s = s_sweep_obj("long");
        if (s_jn(s, "running") == 3 && s_jn(s, "queued") == 1)
            break;
        json_decref(s);
        assert_true(adt_now() - t0 < 30);
        usleep(100 * 1000);
    }
    json_decref(s);
    s_expect(s_cli("sweep", "cancel", "long", NULL), 0);
    assert_non_null(strstr(s_res.out, "sweep long CANCELLED: 1 queued job cancelled, 3 running "
                                      "jobs stopped"));
    assert_non_null(strstr(s_res.out, "1 not started"));
    s = s_sweep_obj("long");
    assert_string_equal(json_string_value(json_object_get(s, "state")), "CANCELLED");
    assert_int_equal(s_jn(s, "cancelled"), 4);
    assert_int_equal(s_jn(s, "running") + s_jn(s, "queued"), 0);
    json_decref(s);
    r = s_req("JOBS", json_pack("{s:{s:s}}", "filter", "state", "CANCELLED"), NULL);
    {
        size_t i;
        json_t *j;
        int n = 0;

        json_array_foreach(
            json_object_get(r, "jobs"), i,
            j) if (!strncmp(json_string_value(json_object_get(j, "name")), "long-", 5))
        {
            n++;
            assert_non_null(
                strstr(json_string_value(json_object_get(j, "reason")), "sweep long cancelled"));
        }
        assert_int_equal(n, 4);
    }
    json_decref(r);
    usleep(300 * 1000);
    assert_int_equal(s_jobs_named("long-"), 4);
    /* The status lists it; --json too; an unknown name is an error. */
    s_expect(s_cli("sweep", "status", NULL), 0);
    assert_non_null(strstr(s_res.out, "ID"));
    assert_non_null(strstr(s_res.out, "long"));
    assert_non_null(strstr(s_res.out, "CANCELLED"));
    s_expect(s_cli("--json", "sweep", "status", "long", NULL), 0);
    doc = adt_json(s_res.out);
    assert_int_equal(json_array_size(json_object_get(doc, "sweeps")), 1);
    json_decref(doc);
    s_expect(s_cli("sweep", "cancel", "nosuch", NULL), 1);
    assert_non_null(strstr(s_res.err, "no sweep nosuch"));
    s_expect(s_cli("sweep", "status", "nosuch", NULL), 1);
    /* A rerun resumes it: the cancelled jobs run again (cancelled at once here). */
    s_expect(s_cli("sweep", p, "--no-wait", "--max-parallel", "1", NULL), 0);
    assert_non_null(strstr(s_res.out, "resuming"));
    s = s_sweep_obj("long");
    assert_string_equal(json_string_value(json_object_get(s, "state")), "RUNNING");
    assert_int_equal(s_jn(s, "completed"), 0);
    json_decref(s);
    s_expect(s_cli("--json", "sweep", "cancel", "long", NULL), 0);
    doc = adt_json(s_res.out);
    assert_int_equal(s_jn(doc, "cancelled") + s_jn(doc, "stopping"), 1);
    json_decref(doc);
}

/* Configurations that fit no node (9 nodes of 3) are skipped and listed; the rest runs, exit 0. */
static void
test_skip_unfit_cluster(void **st)
{
    const char *p = s_sweep_file(
        "fit.yaml", "name: fit\n"
                    "base: {model: mlp, dataset: synthetic, steps: 5, batch_size: 16,\n"
                    "       layout: {nodes: 1, procs_per_node: 1, "
                    "threads_per_proc: 1}}\n"
                    "grid:\n"
                    "  layout.nodes: [9, 1]\n"
                    "  seed: [1, 2]\n");
    const char *why = "(layout 9x1x1): nodes = 9, but only 3 nodes have 1 core "
                      "(fake1, fake2, fake3)";
    json_t *doc, *s;

    (void)st;
    s_expect(s_cli("sweep", p, "--follow-interval", "0.2", NULL), 0);
    adt_assert_has(s_res.out, "skipped 2 configurations (2 jobs) that fit no node");
    adt_assert_has(s_res.out, why);
    adt_assert_has(s_res.out, "sweep fit DONE: 2 of 4 jobs completed, 0 failed, 2 skipped "
                              "(fit no node)");
    /* Both seeds of 9 nodes are listed once, at the start, not again in the summary. */
    {
        const char *first = strstr(s_res.out, why), *second = strstr(first + 1, why);

        assert_non_null(second);
        assert_null(strstr(second + 1, why));
        assert_true(first < strstr(s_res.out, "sweep fit DONE"));
    }
    assert_int_equal(s_jobs_named("fit-"), 2);
    s_expect(s_cli("--json", "sweep", "status", "fit", NULL), 0);
    doc = adt_json(s_res.out);
    s = json_array_get(json_object_get(doc, "sweeps"), 0);
    assert_string_equal(json_string_value(json_object_get(s, "state")), "DONE");
    assert_int_equal(s_jn(s, "skipped"), 2);
    assert_int_equal(json_array_size(json_object_get(s, "skipped_configs")), 2);
    json_decref(doc);
    s_expect(s_cli("sweep", "status", "fit", NULL), 0);
    adt_assert_has(s_res.out, "SKIPPED");
    adt_assert_has(s_res.out, why);
    /* Nothing fits: refused at once, exit 5. */
    p = s_sweep_file("nofit.yaml", "name: nofit\n"
                                   "base: {model: mlp, dataset: synthetic, steps: 5, "
                                   "batch_size: 16,\n"
                                   "       layout: {nodes: 9, procs_per_node: 1, "
                                   "threads_per_proc: 1}}\n");
    s_expect(s_cli("sweep", p, NULL), 5);
    adt_assert_has(s_res.err, "sweep nofit: none of its 1 configuration can run here: nodes = 9");
}

/*
 * kill -9 of the coordinator mid-sweep while `autodist sweep FILE` follows it:
 * started again, the coordinator resumes the sweep, which finishes by itself;
 * the follower waits for it and exits 0.  Nothing lost, nothing run twice.
 */
static void
test_restart(void **st)
{
    const char *p =
        s_sweep_file("rs.yaml", "name: rs\n"
                                "base: {model: mlp, dataset: synthetic, steps: 20, batch_size: 8,\n"
                                "       layout: {nodes: 1, procs_per_node: 1, "
                                "threads_per_proc: 1}}\n"
                                "grid:\n"
                                "  seed: [1, 2, 3, 4, 5, 6]\n");
    char where[64];
    proc_t bg;
    json_t *s, *doc, *r;
    size_t i, completed = 0;
    double t0;

    s_cli_bg(&bg, "sweep", p, "--max-parallel", "2", "--follow-interval", "0.2", NULL);
    for (t0 = adt_now();;) {
        int rc;
        json_t *reply = s_req("SWEEPS", json_pack("{s:s}", "name", "rs"), &rc);

        /* The follower may not have sent the sweep yet: no sweep rs. */
        s = rc ? NULL : json_incref(json_array_get(json_object_get(reply, "sweeps"), 0));
        json_decref(reply);
        if (s && s_jn(s, "completed") >= 2)
            break;
        json_decref(s);
        assert_true(adt_now() - t0 < 60);
        usleep(100 * 1000);
    }
    snprintf(where, sizeof(where), "sweep = %lld", (long long)s_jn(s, "id"));
    json_decref(s);
    kill(s_cl.daemon, SIGKILL);
    assert_int_equal(adt_wait(s_cl.daemon, 5), 128 + SIGKILL);
    /* Away longer than a request's timeout: the follower says it waits; jobs end meanwhile. */
    usleep(6500 * 1000);
    s_daemon_start();
    s_wait_nodes(3);
    /* The follower waited for the coordinator and saw the sweep to its end. */
    adt_finish(&bg, &s_res, 120);
    adt_expect_status(&s_res, 0);
    adt_assert_has(s_res.err, "waiting for it");
    s_expect(s_cli("--json", "sweep", "status", "rs", NULL), 0);
    doc = adt_json(s_res.out);
    s = json_array_get(json_object_get(doc, "sweeps"), 0);
    assert_string_equal(json_string_value(json_object_get(s, "state")), "DONE");
    assert_int_equal(s_jn(s, "completed"), 6);
    /* Jobs the kill interrupted were adopted or requeued, not counted failed. */
    assert_int_equal(s_jn(s, "failed"), 0);
    json_decref(doc);
    /* One COMPLETED run per configuration, none left RUNNING. */
    s_expect(s_cli("--json", "runs", "--where", where, NULL), 0);
    doc = adt_json(s_res.out);
    json_array_foreach(json_object_get(doc, "runs"), i, r)
    {
        const char *state = json_string_value(json_object_get(r, "state"));

        assert_string_not_equal(state, "RUNNING");
        completed += !strcmp(state, "COMPLETED");
    }
    assert_int_equal(completed, 6);
    json_decref(doc);
    /* Running the file again finds every configuration done. */
    s_expect(s_cli("--json", "sweep", p, NULL), 0);
    doc = adt_json(s_res.out);
    s = json_object_get(doc, "sweep");
    assert_int_equal(s_jn(s, "completed"), 6);
    assert_int_equal(s_jn(json_object_get(s, "before"), "completed"), 6);
    json_decref(doc);
}

/* ---- no node: 25,000 jobs recorded at once, queued a few at a time, exit 5 ---------------- */

static void
test_25k(void **st)
{
    char *text = malloc(64 * 1024);
    size_t len;
    const char *p;
    json_t *doc, *s;
    double t0;

    assert_non_null(text);
    len = (size_t)snprintf(text, 1024,
                           "name: big\n"
                           "base: {model: mlp, dataset: synthetic, steps: 1, batch_size: 8,\n"
                           "       layout: {nodes: 1, procs_per_node: 1, threads_per_proc: 1}}\n"
                           "grid:\n"
                           "  optimizer.lr: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, "
                           "0.5, 1.0]\n"
                           "  seed: [1");
    for (int i = 2; i <= 2500; i++)
        len += (size_t)snprintf(text + len, 64 * 1024 - len, ", %d", i);
    snprintf(text + len, 64 * 1024 - len, "]\n");
    p = s_sweep_file("big.yaml", text);
    free(text);

    /* No node is up: refused at once, nothing recorded, unless --hold. */
    t0 = adt_now();
    s_expect(s_cli("sweep", p, NULL), 5);
    adt_assert_has(s_res.err, "autodist: sweep big: none of the first 4096 of its 25000 "
                              "configurations can run here: no node is up");
    adt_assert_has(s_res.err, "(--hold queues them to wait for nodes)");
    assert_string_equal(s_res.out, "");
    assert_true(adt_now() - t0 < 20);
    /* Held: its first job cannot start, and following it gives up with exit 5. */
    t0 = adt_now();
    s_expect(s_cli("sweep", p, "--hold", "--follow-interval", "0.2", NULL), 5);
    assert_non_null(strstr(s_res.out, "25000 jobs = 25000 configurations x 1 repeat"));
    assert_non_null(strstr(s_res.err, "its queued jobs cannot start: no node is UP"));
    assert_non_null(strstr(s_res.err, "autodist sweep cancel big"));
    assert_true(adt_now() - t0 < 20);
    t0 = adt_now();
    s_expect(s_cli("--json", "sweep", "status", "big", NULL), 0);
    assert_true(adt_now() - t0 < 3);
    doc = adt_json(s_res.out);
    s = json_array_get(json_object_get(doc, "sweeps"), 0);
    assert_int_equal(s_jn(s, "total"), 25000);
    assert_int_equal(s_jn(s, "pending"), 25000);
    assert_int_equal(s_jn(s, "queued"), 1);
    assert_int_equal(s_jn(s, "never"), 1);
    /* It cannot progress: no ETA, stalled (WAITING in the table). */
    assert_true(json_is_true(json_object_get(s, "stalled")));
    assert_true(json_is_null(json_object_get(s, "eta_s")));
    json_decref(doc);
    /* The queue holds one job of it, not 25,000. */
    assert_int_equal(s_jobs_named("big-"), 1);
    s_expect(s_cli("sweep", "status", "big", NULL), 0);
    assert_non_null(strstr(s_res.out, "25000"));
    adt_assert_has(s_res.out, "WAITING");
    adt_assert_has(s_res.out, "waiting: its queued jobs cannot start: no node is UP");
    s_expect(s_cli("sweep", "cancel", "big", NULL), 0);
    assert_non_null(strstr(s_res.out, "sweep big CANCELLED: 1 queued job cancelled"));
    assert_non_null(strstr(s_res.out, "24999 not started"));
    /* Recorded: a rerun (attached, cancelled at once) finds it again under the same id. */
    s_expect(s_cli("--json", "sweep", p, "--no-wait", "--hold", NULL), 0);
    doc = adt_json(s_res.out);
    s = json_object_get(doc, "sweep");
    assert_false(json_is_true(json_object_get(s, "created")));
    json_decref(doc);
    s_expect(s_cli("sweep", "cancel", "big", NULL), 0);
}

int
main(void)
{
    const struct CMUnitTest unit[] = {
        cmocka_unit_test(test_lazy_dispatch),      cmocka_unit_test(test_resume),
        cmocka_unit_test(test_skip_unfit),         cmocka_unit_test(test_park),
        cmocka_unit_test(test_cancel_and_stopped), cmocka_unit_test(test_store_sweeps),
        cmocka_unit_test(test_help_and_bad_files),
    };
    const struct CMUnitTest real[] = {
        cmocka_unit_test(test_real_small_and_rerun),
        cmocka_unit_test(test_real_failing),
    };
    const struct CMUnitTest fake[] = {
        cmocka_unit_test(test_max_parallel), cmocka_unit_test(test_skip_unfit_cluster),
        cmocka_unit_test(test_changed_file), cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_restart),
    };
    const struct CMUnitTest idle[] = {
        cmocka_unit_test(test_25k),
    };
    int failed;

    unsetenv("AUTODIST_HOME");
    unsetenv("AUTODIST_COORDINATOR");
    unsetenv("AUTODIST_LOG");
    s_tmp = adt_root_make("ad_test_sweep");
    if (!s_tmp)
        return 1;
    /* The caller's ~/.autodist (its keys) never reaches the programs the tests start. */
    setenv("HOME", s_tmp, 1);
    failed = cmocka_run_group_tests_name("sweep", unit, NULL, NULL);
    failed += cmocka_run_group_tests_name("sweep-idle", idle, s_idle_up, s_cluster_down);
    failed += cmocka_run_group_tests_name("sweep-fake", fake, s_fake_up, s_cluster_down);
    failed += cmocka_run_group_tests_name("sweep-real", real, s_real_up, s_cluster_down);
    if (!failed && adt_root_remove() != 0)
        fprintf(stderr, "cannot remove the scratch folder\n");
    return failed ? 1 : 0;
}
