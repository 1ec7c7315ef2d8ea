/* test_cli_history.c - runs as experiments and history without a daemon, as a user sees them */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_fixture.h"

/*
 * One coordinator and one agent on free ports, in a fresh home: a tagged job
 * and a two-job sweep of tiny trainings (mlp on synthetic data, 3 steps),
 * then what tags, notes, --where, metrics and the TensorBoard export give;
 * then `autodist down`, and jobs, status, logs, sweep status and history read
 * the store: at once (no 5 s wait for a coordinator that is gone), saying so,
 * and naming the endpoint `up` used, which is remembered.
 */

static char s_home[512], s_ep[3][64], s_job[600], s_sweep[600];
static int64_t s_run; /* the tagged job's run */

#define S_CLI(...) cft_cli("--home", s_home, "--coordinator", s_ep[0], __VA_ARGS__, NULL)
/* Without --coordinator: the endpoint comes from the home (recorded by up, kept by down). */
#define S_HOME(...) cft_cli("--home", s_home, __VA_ARGS__, NULL)

static int
s_setup(void **st)
{
    (void)st;
    snprintf(s_job, sizeof(s_job), "%s/tagged.yaml", cft_tmp);
    adt_write_file(s_job, "name: tagged-mlp\n"
                          "model: mlp\n"
                          "dataset: synthetic\n"
                          "steps: 3\n"
                          "batch_size: 16\n"
                          "optimizer: {type: sgd, lr: 0.02}\n"
                          "tags: {study: scaling, owner: ana}\n"
                          "note: from the file\n"
                          "layout: {nodes: 1, procs_per_node: 1, threads_per_proc: 1}\n");
    snprintf(s_sweep, sizeof(s_sweep), "%s/sweep.yaml", cft_tmp);
    adt_write_file(s_sweep, "name: hist-sweep\n"
                            "base:\n"
                            "  model: mlp\n"
                            "  dataset: synthetic\n"
                            "  steps: 2\n"
                            "  batch_size: 16\n"
                            "  tags: {study: sweep}\n"
                            "  layout: {nodes: 1, procs_per_node: 1, threads_per_proc: 1}\n"
                            "grid:\n"
                            "  seed: [1, 2]\n");
    return cft_cluster_up(s_home, sizeof(s_home), s_ep);
}

static int
s_teardown(void **st)
{
    (void)st;
    S_CLI("down");
    return 0;
}

/* The run of `runs --json` with id, as a new reference (fails the test when absent). */
static json_t *
s_run_json(int64_t id)
{
    json_t *doc, *r = NULL, *v;
    size_t i;

    cft_expect(S_CLI("--json", "runs"), 0);
    doc = adt_json(cft_res.out);
    json_array_foreach(json_object_get(doc, "runs"), i, v)
    {
        if (json_integer_value(json_object_get(v, "id")) == id)
            r = json_incref(v);
    }
    json_decref(doc);
    if (!r)
        fail_msg("run %lld not in runs --json", (long long)id);
    return r;
}

/* How many runs `runs --where EXPR --json` selects. */
static size_t
s_where(const char *expr)
{
    json_t *doc;
    size_t n;

    cft_expect(S_CLI("--json", "runs", "--where", expr), 0);
    doc = adt_json(cft_res.out);
    n = json_array_size(json_object_get(doc, "runs"));
    json_decref(doc);
    return n;
}

/* A job's tags and note reach its run; a sweep's base carries its tags to every job. */
static void
test_tags_from_jobs(void **st)
{
    json_t *doc, *r, *tags;

    (void)st;
    cft_expect(S_CLI("--json", "submit", s_job, "--tag", "owner=bob", "--tag", "trial=7", "--wait"),
               0);
    cft_expect(S_CLI("--json", "submit", s_job, "--tag", "bad key=1"), 2);
    adt_assert_has(cft_res.err, "--tag: key \"bad key\" must be 1 to 64 letters");
    cft_expect(S_CLI("sweep", s_sweep), 0);
    cft_expect(S_CLI("--json", "show", "--job", "1"), 0);
    doc = adt_json(cft_res.out);
    s_run = json_integer_value(json_object_get(json_object_get(doc, "run"), "id"));
    json_decref(doc);
    assert_true(s_run >= 1);
    r = s_run_json(s_run);
    assert_string_equal(json_string_value(json_object_get(r, "name")), "tagged-mlp");
    assert_string_equal(json_string_value(json_object_get(r, "note")), "from the file");
    tags = json_object_get(r, "tags");
    /* --tag joins the file's tags and wins over them. */
    assert_string_equal(json_string_value(json_object_get(tags, "study")), "scaling");
    assert_string_equal(json_string_value(json_object_get(tags, "owner")), "bob");
    assert_string_equal(json_string_value(json_object_get(tags, "trial")), "7");
    assert_true(fabs(json_number_value(json_object_get(
                         json_object_get(json_object_get(r, "spec"), "optimizer"), "lr")) -
                     0.02) < 1e-12);
    json_decref(r);
    cft_expect(S_CLI("show", "--job", "1"), 0);
    adt_assert_has(cft_res.out, "  name        tagged-mlp\n");
    adt_assert_has(cft_res.out, "  tags        owner=bob,study=scaling,trial=7\n");
    adt_assert_has(cft_res.out, "  note        from the file\n");
}

/* --where reaches tags, hyper-parameters, names, notes and sweeps by name. */
static void
test_where(void **st)
{
    (void)st;
    assert_int_equal(s_where("tag.owner = bob"), 1);
    assert_int_equal(s_where("tag.study = 'scaling'"), 1);
    assert_int_equal(s_where("tag.study = sweep"), 2);
    assert_int_equal(s_where("tag.trial > 5"), 1);
    assert_int_equal(s_where("lr > 0.01"), 3);
    assert_int_equal(s_where("lr < 0.03"), 1);
    assert_int_equal(s_where("learning_rate = 0.02 and name like 'TAGGED%'"), 1);
    assert_int_equal(s_where("name like 'hist-sweep-%'"), 2);
    assert_int_equal(s_where("sweep = hist-sweep"), 2);
    assert_int_equal(s_where("sweep = no-such-sweep"), 0);
    assert_int_equal(s_where("spec.seed = 2 and sweep = hist-sweep"), 1);
    assert_int_equal(s_where("note like '%file%'"), 1);
    cft_expect(S_CLI("runs", "--dataset", "synthetic"), 0);
    adt_assert_has(cft_res.out, "synthetic-3x32x32");
    cft_expect(S_CLI("runs", "--dataset", "synth"), 0);
    adt_assert_has(cft_res.out, "no runs match");
    cft_expect(S_CLI("runs", "--where", "lrr > 1"), 2);
    adt_assert_has(cft_res.err, "unknown field \"lrr\" (did you mean lr?)");
}

/* autodist tag edits the store, with or without a coordinator; its errors. */
static void
test_tag(void **st)
{
    char run[24];
    json_t *doc;

    (void)st;
    snprintf(run, sizeof(run), "%lld", (long long)s_run);
    cft_expect(
        S_CLI("tag", run, "verdict=good", "--note", "kept for the paper", "--remove", "trial"), 0);
    adt_assert_has(cft_res.out, "owner=bob, study=scaling, verdict=good; note \"kept for the "
                                "paper\"");
    cft_expect(S_CLI("--json", "tag", run), 0);
    doc = adt_json(cft_res.out);
    assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "tags"), "verdict")),
                        "good");
    assert_null(json_object_get(json_object_get(doc, "tags"), "trial"));
    json_decref(doc);
    assert_int_equal(s_where("tag.verdict = good and note like '%paper%'"), 1);
    /* All or nothing: a missing tag to remove leaves the new one unset. */
    cft_expect(S_CLI("tag", run, "extra=1", "--remove", "nope"), 1);
    adt_assert_has(cft_res.err, "has no tag \"nope\" (nothing changed)");
    assert_int_equal(s_where("tag.extra = 1"), 0);
    cft_expect(S_CLI("tag", run, "bad*key=1"), 2);
    adt_assert_has(cft_res.err, "key \"bad*key\" must be 1 to 64 letters");
    cft_expect(S_CLI("tag", "99999", "a=1"), 1);
    adt_assert_has(cft_res.err, "run 99999: no such run");
    cft_expect(S_CLI("tag"), 2);
    cft_expect(S_CLI("tag", run, "--note", ""), 0);
    adt_assert_has(cft_res.out, "; note -\n");
}

/* A Python reader of TFRecord framing and the Event fields, without TensorFlow. */
static const char s_tfreader[] =
    "import struct, sys, glob\n"
    "def crc32c(b):\n"
    "    c = 0xffffffff\n"
    "    for x in b:\n"
    "        c ^= x\n"
    "        for _ in range(8):\n"
    "            c = (c >> 1) ^ 0x82f63b78 if c & 1 else c >> 1\n"
    "    return c ^ 0xffffffff\n"
    "def mask(c):\n"
    "    return (((c >> 15) | (c << 17)) + 0xa282ead8) & 0xffffffff\n"
    "def varint(b, i):\n"
    "    v = s = 0\n"
    "    while True:\n"
    "        x = b[i]; i += 1; v |= (x & 0x7f) << s; s += 7\n"
    "        if x < 0x80: return v, i\n"
    "def fields(b):\n"
    "    i, out = 0, []\n"
    "    while i < len(b):\n"
    "        key, i = varint(b, i); f, w = key >> 3, key & 7\n"
    "        if w == 0: v, i = varint(b, i)\n"
    "        elif w == 1: v = struct.unpack('<d', b[i:i+8])[0]; i += 8\n"
    "        elif w == 5: v = struct.unpack('<f', b[i:i+4])[0]; i += 4\n"
    "        elif w == 2: n, i = varint(b, i); v = b[i:i+n]; i += n\n"
    "        else: raise SystemExit('bad wire type %d' % w)\n"
    "        out.append((f, v))\n"
    "    return out\n"
    "files = glob.glob(sys.argv[1] + '/events.out.tfevents.*')\n"
    "assert len(files) == 1, files\n"
    "data = open(files[0], 'rb').read()\n"
    "i, events = 0, []\n"
    "while i < len(data):\n"
    "    head = data[i:i+8]; n = struct.unpack('<Q', head)[0]\n"
    "    assert struct.unpack('<I', data[i+8:i+12])[0] == mask(crc32c(head)), 'length crc'\n"
    "    body = data[i+12:i+12+n]\n"
    "    assert struct.unpack('<I', data[i+12+n:i+16+n])[0] == mask(crc32c(body)), 'data crc'\n"
    "    events.append(fields(body)); i += 16 + n\n"
    "first = dict(events[0])\n"
    "assert first[3] == b'brain.Event:2' and first[1] > 1e9, first\n"
    "tags = {}\n"
    "for ev in events[1:]:\n"
    "    e = dict(ev); value = dict(fields(dict(fields(e[5]))[1]))\n"
    "    assert e[1] > 1e9 and e[2] >= 1\n"
    "    tags.setdefault(value[1].decode(), []).append((e[2], round(value[2], 4)))\n"
    "print('scalars %d' % (len(events) - 1))\n"
    "print('loss steps %s' % [s for s, v in tags['loss']])\n";

/* autodist metrics: the table, CSV, keys, JSON and a TensorBoard file Python can read. */
static void
test_metrics(void **st)
{
    char run[24], tb[600], py[600];
    adt_sh_t sh;
    json_t *doc;
    size_t n;

    (void)st;
    snprintf(run, sizeof(run), "%lld", (long long)s_run);
    cft_expect(S_CLI("metrics", run, "--csv", "--key", "loss,samples_per_s"), 0);
    assert_true(!strncmp(cft_res.out, "step,loss,samples_per_s\n1,", 26));
    adt_assert_has(cft_res.out, "\n3,");
    cft_expect(S_CLI("metrics", run), 0);
    assert_true(!strncmp(cft_res.out, "STEP  ", 6));
    cft_expect(S_CLI("--json", "metrics", "--job", "1", "--key", "loss"), 0);
    doc = adt_json(cft_res.out);
    assert_int_equal(json_array_size(json_object_get(doc, "metrics")), 3);
    assert_string_equal(json_string_value(json_array_get(json_object_get(doc, "keys"), 0)), "loss");
    json_decref(doc);
    cft_expect(S_CLI("metrics", "99999"), 1);
    cft_expect(S_CLI("metrics", run, "--csv", "--json"), 2);
    snprintf(tb, sizeof(tb), "%s/tb", cft_tmp);
    cft_expect(S_CLI("metrics", run, "--tensorboard", tb), 0);
    adt_assert_has(cft_res.err, "scalars of run");
    snprintf(py, sizeof(py), "%s/tfread.py", cft_tmp);
    adt_write_file(py, s_tfreader);
    sh = adt_sh("python3 %s %s", py, tb);
    if (sh.status != 0)
        fail_msg("the event file does not read back: %s%s", sh.out, sh.err);
    adt_assert_has(sh.out, "loss steps [1, 2, 3]");
    assert_int_equal(sscanf(sh.out, "scalars %zu", &n), 1);
    assert_true(n >= 6);
    adt_sh_free(&sh);
}

/* After down: the store and the logs answer at once, and say so; the endpoint is remembered. */
static void
test_after_down(void **st)
{
    char hint[128];
    json_t *doc;

    (void)st;
    cft_expect(S_CLI("history"), 0);
    adt_assert_has(cft_res.out, "JOB  NAME");
    /* While it runs, asking it sends nothing but requests: no half-open connection logged. */
    cft_expect(S_HOME("jobs"), 0);
    cft_expect(S_HOME("status"), 0);
    {
        char log[600], text[65536] = "";

        snprintf(log, sizeof(log), "%s/logs/autodistd.log", s_home);
        adt_read_file(log, text, sizeof(text));
        assert_null(strstr(text, "failed the CURVE handshake"));
    }
    cft_expect(S_CLI("down"), 0);
    snprintf(hint, sizeof(hint), "no coordinator answers at %s: reading the store", s_ep[0]);
    /* No --coordinator: the endpoint `up` used, not the default one. */
    cft_expect(S_HOME("jobs"), 0);
    adt_assert_has(cft_res.err, hint);
    adt_assert_has(cft_res.out, "tagged-mlp ");
    adt_assert_has(cft_res.out, " COMPLETED  1x1x1 ");
    adt_assert_has(cft_res.out, "hist-sweep-");
    cft_expect(S_HOME("status", "1"), 0);
    adt_assert_has(cft_res.out, "tagged-mlp  COMPLETED  1x1x1");
    adt_assert_has(cft_res.out, " done ");
    cft_expect(S_HOME("--json", "status", "1"), 0);
    doc = adt_json(cft_res.out);
    assert_true(json_is_true(json_object_get(doc, "from_store")));
    json_decref(doc);
    cft_expect(S_HOME("status"), 0);
    adt_assert_has(cft_res.out, "no live jobs");
    cft_expect(S_HOME("status", "99999"), 1);
    adt_assert_has(cft_res.err, "no job 99999 in ");
    cft_expect(S_HOME("logs", "1"), 0);
    adt_assert_has(cft_res.out, "autodist-train: info: done: 3 steps");
    cft_expect(S_HOME("logs", "99999"), 1);
    adt_assert_has(cft_res.err, "job 99999: no log at ");
    cft_expect(S_HOME("sweep", "status"), 0);
    adt_assert_has(cft_res.out, "hist-sweep");
    cft_expect(S_HOME("--json", "sweep", "status", "hist-sweep"), 0);
    doc = adt_json(cft_res.out);
    {
        json_t *s = json_array_get(json_object_get(doc, "sweeps"), 0);

        assert_int_equal(json_integer_value(json_object_get(s, "completed")), 2);
        assert_int_equal(json_integer_value(json_object_get(s, "total")), 2);
        assert_int_equal(json_integer_value(json_object_get(s, "pending")), 0);
        assert_string_equal(json_string_value(json_object_get(s, "state")), "DONE");
    }
    json_decref(doc);
    cft_expect(S_HOME("sweep", "status", "no-such-sweep"), 1);
}

/* history: one line per job from the store, filters, JSON. */
static void
test_history(void **st)
{
    json_t *doc, *j;

    (void)st;
    cft_expect(S_HOME("history"), 0);
    assert_true(!strncmp(cft_res.out, "JOB  NAME ", 10));
    for (const char *const *h =
             (const char *const[]){"  STATE ", "  EXIT ", "  START ", "  ELAPSED ", "  NODES ",
                                   "  CPU-TIME ", "  MAXRSS ", "  REASON\n", NULL};
         *h; h++)
        adt_assert_has(cft_res.out, *h);
    adt_assert_has(cft_res.out, "tagged-mlp");
    cft_expect(S_HOME("--json", "history", "1"), 0);
    doc = adt_json(cft_res.out);
    assert_int_equal(json_array_size(json_object_get(doc, "jobs")), 1);
    j = json_array_get(json_object_get(doc, "jobs"), 0);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "COMPLETED");
    assert_int_equal(json_integer_value(json_object_get(j, "exit_code")), 0);
    assert_true(json_number_value(json_object_get(j, "elapsed_s")) >= 0);
    assert_non_null(json_string_value(json_object_get(j, "nodelist")));
    assert_non_null(json_object_get(j, "cpu_time_s"));
    json_decref(doc);
    cft_expect(S_HOME("--json", "history", "--name", "hist-sweep-%", "--since", "1h"), 0);
    doc = adt_json(cft_res.out);
    assert_int_equal(json_array_size(json_object_get(doc, "jobs")), 2);
    json_decref(doc);
    cft_expect(S_HOME("--json", "history", "--state", "failed,cancelled"), 0);
    doc = adt_json(cft_res.out);
    assert_int_equal(json_array_size(json_object_get(doc, "jobs")), 0);
    json_decref(doc);
    cft_expect(S_HOME("history", "--since", "2999-01-01"), 0);
    adt_assert_has(cft_res.out, "no jobs match");
    cft_expect(S_HOME("history", "--state", "DONE"), 2);
    adt_assert_has(cft_res.err, "--state: PENDING, RUNNING, COMPLETED");
    cft_expect(S_HOME("history", "--since", "yesterday"), 2);
    adt_assert_has(cft_res.err, "--since: a date");
    cft_expect(S_HOME("history", "1-x"), 2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tags_from_jobs),
        cmocka_unit_test(test_where),
        cmocka_unit_test(test_tag),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_after_down),
        cmocka_unit_test(test_history),
    };
    int failed;

    if (cft_begin("ad_test_cli_history"))
        return 1;
    failed = cmocka_run_group_tests_name("cli-history", tests, s_setup, s_teardown);
    return cft_end(failed);
}
