/* test_trainer.c - integration tests of autodist-train run under mpirun: what a user sees */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <stb/stb_image_write.h>

#include "ad_test.h"
#include "autodist/ad_proto.h"

/*
 * Every command runs under timeout(1), so a hang ends as 124 (or 137 when the
 * command ignores SIGTERM) and fails the test instead of blocking ctest.
 */
#define RUN_TIMEOUT_S 120
#define MPIRUN "mpirun -q --oversubscribe --bind-to none --mca btl_vader_single_copy_mechanism none"
#define FASHION_DIR "/usr/share/datasets/fashion-mnist"
#define CNN_PARAMS 421642
/* Losses of N ranks against 1 rank: same maths, another summation order. */
#define RANKS_TOL 2e-3
/* Losses after a resume on the same rank count: the same computation. */
#define RESUME_TOL 1e-5

/* What one command did: exit status (or 128 + signal) and its two streams. */
typedef adt_sh_t s_run_t;

/* ---------------------------------------------------------------------------------------- */
/* Files (the rest is in ad_test.h).                                                        */

static void
s_copy_file(const char *from, const char *to)
{
    size_t len;
    char *data = adt_slurp(from, &len);

    adt_write_bytes(to, data, len);
    free(data);
}

/* Copy the regular files of one folder into another (no recursion: checkpoints are flat). */
static void
s_copy_dir(const char *from, const char *to)
{
    static const char *const names[] = {"model.pt", "state.json"};
    char a[512], b[512];

    assert_int_equal(mkdir(to, 0755), 0);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        adt_path(a, sizeof(a), from, names[i]);
        adt_path(b, sizeof(b), to, names[i]);
        s_copy_file(a, b);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* gzip without zlib: stored deflate blocks are enough to make a well-formed .gz file.      */

static uint32_t
s_crc32(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;

    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return ~c;
}

static void
s_put_le(FILE *f, uint32_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        fputc((int)((v >> (8 * i)) & 0xff), f);
}

static void
s_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void
s_write_gzip(const char *path, const uint8_t *data, size_t n)
{
    static const uint8_t header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};
    FILE *f = fopen(path, "wb");
    size_t off = 0;

    assert_non_null(f);
    fwrite(header, 1, sizeof(header), f);
    do {
        size_t len = n - off > 65535 ? 65535 : n - off;

        fputc(off + len == n ? 1 : 0, f);
        s_put_le(f, (uint32_t)len, 2);
        s_put_le(f, (uint32_t)len ^ 0xffffu, 2);
        if (len)
            fwrite(data + off, 1, len, f);
        off += len;
    } while (off < n);
    s_put_le(f, s_crc32(data, n), 4);
    s_put_le(f, (uint32_t)n, 4);
    assert_int_equal(fclose(f), 0);
}

/*
 * A copy of the real Fashion-MNIST folder whose train images are replaced by
 * the given file contents (written as-is, the caller chooses the bytes).
 */
static void
s_fashion_copy(char *dir, size_t len, const char *tag)
{
    static const char *const keep[] = {"train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                                       "t10k-labels-idx1-ubyte.gz"};
    char a[512], b[512];

    adt_fresh_dir(dir, len, tag);
    for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
        adt_path(a, sizeof(a), FASHION_DIR, keep[i]);
        adt_path(b, sizeof(b), dir, keep[i]);
        s_copy_file(a, b);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Images.                                                                                  */

/* Class 0: horizontal stripes, 1: vertical stripes, 2: checkerboard; k shifts the phase. */
static void
s_write_pattern(const char *path, int cls, int k, int side)
{
    uint8_t *rgb = malloc((size_t)side * side * 3);
    int period = 2 + k % 3;

    assert_non_null(rgb);
    for (int y = 0; y < side; y++) {
        for (int x = 0; x < side; x++) {
            int on;
            uint8_t *p = rgb + 3 * (y * side + x);

            if (cls == 0)
                on = ((y + k) / period) % 2;
            else if (cls == 1)
                on = ((x + k) / period) % 2;
            else
                on = ((x / period) + (y / period) + k) % 2;
            p[0] = on ? 230 : 20;
            p[1] = (uint8_t)(on ? 200 - 40 * cls : 30 + 40 * cls);
            p[2] = (uint8_t)(10 * k);
        }
    }
    assert_true(stbi_write_png(path, side, side, 3, rgb, side * 3) != 0);
    free(rgb);
}

/* nclasses class folders of n PNGs each under dir. */
static void
s_write_folder(const char *dir, int nclasses, int n)
{
    static const char *const names[] = {"hstripes", "vstripes", "checks"};
    char cls[512], file[600], name[64];

    for (int c = 0; c < nclasses; c++) {
        adt_mkdir_in(cls, sizeof(cls), dir, names[c]);
        for (int k = 0; k < n; k++) {
            snprintf(name, sizeof(name), "img%02d.png", k);
            adt_path(file, sizeof(file), cls, name);
            /* Sizes vary so the loader has to resize. */
            s_write_pattern(file, c, k, 16 + 4 * (k % 3));
        }
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Running commands.                                                                        */

/*
 * Run a shell command line under timeout(1), stdout and stderr each to a file
 * (adt_sh: a file, not a pipe, so a stray rank holding a pipe open cannot block us).
 */
static s_run_t
s_sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof(cmd));
    return adt_sh("exec timeout -k 10 %d %s", RUN_TIMEOUT_S, cmd);
}

/* autodist-train on np ranks under mpirun, or as a plain process when np is 0. */
static s_run_t
s_train(int np, const char *fmt, ...)
{
    char args[3000];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof(args));
    if (np == 0)
        return s_sh("%s --log-every 0 %s", AD_TRAIN_BIN, args);
    return s_sh(MPIRUN " -np %d %s --log-every 0 %s", np, AD_TRAIN_BIN, args);
}

static bool
s_hung(int status)
{
    return status == 124 || status == 137;
}

/* The run ended with status 0; otherwise show what it said. */
static void
s_assert_ok(const s_run_t *r, const char *what)
{
    if (s_hung(r->status))
        fail_msg("%s: timed out after %d s (hang?)\nstderr:\n%s", what, RUN_TIMEOUT_S, r->err);
    if (r->status != 0)
        fail_msg("%s: exit status %d, expected 0\nstdout:\n%s\nstderr:\n%s", what, r->status,
                 r->out, r->err);
}

/*
 * Bad input: a non-zero exit (want_status when not 0) that is not a timeout,
 * nothing on stdout and exactly one line on stderr, "autodist-train: error: ..."
 * naming the thing (want).
 */
static void
s_assert_one_error(const s_run_t *r, int want_status, const char *want, const char *what)
{
    const char *nl;

    if (s_hung(r->status))
        fail_msg("%s: timed out after %d s (hang?)\nstderr:\n%s", what, RUN_TIMEOUT_S, r->err);
    if (r->status == 0 || (want_status && r->status != want_status))
        fail_msg("%s: exit status %d, expected %s%d\nstderr:\n%s", what, r->status,
                 want_status ? "" : "non-zero, e.g. ", want_status ? want_status : 1, r->err);
    if (r->out[0])
        fail_msg("%s: expected nothing on stdout, got:\n%s", what, r->out);
    nl = strchr(r->err, '\n');
    if (!r->err[0] || (nl && nl[1]))
        fail_msg("%s: expected exactly one line on stderr, got:\n%s", what, r->err);
    if (strncmp(r->err, "autodist-train: error: ", 23) != 0)
        fail_msg("%s: expected \"autodist-train: error: ...\", got:\n%s", what, r->err);
    if (want && !strstr(r->err, want))
        fail_msg("%s: expected the error to mention \"%s\", got:\n%s", what, want, r->err);
}

/* ---------------------------------------------------------------------------------------- */
/* Metrics.                                                                                 */

/* Every line of a metrics file, parsed; each must be an object whose first key is "event". */
static json_t *
s_load_events(const char *path)
{
    json_t *all = json_array();
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int lineno = 0;

    if (!f)
        fail_msg("no metrics file %s: %s", path, strerror(errno));
    while ((n = getline(&line, &cap, f)) > 0) {
        json_error_t jerr;
        json_t *obj;

        lineno++;
        if (strncmp(line, "{\"event\":", 9) != 0)
            fail_msg("%s:%d: expected an object with \"event\" first, got: %s", path, lineno, line);
        obj = json_loads(line, 0, &jerr);
        if (!obj)
            fail_msg("%s:%d: not JSON (%s): %s", path, lineno, jerr.text, line);
        assert_true(json_is_string(json_object_get(obj, "event")));
        json_array_append_new(all, obj);
    }
    free(line);
    fclose(f);
    return all;
}

static bool
s_is(json_t *ev, const char *event)
{
    return strcmp(json_string_value(json_object_get(ev, "event")), event) == 0;
}

static int
s_count(json_t *all, const char *event)
{
    size_t i;
    json_t *ev;
    int n = 0;

    json_array_foreach(all, i, ev) n += s_is(ev, event);
    return n;
}

/* The k-th (from 0) event of a kind, borrowed; NULL when there are fewer. */
static json_t *
s_nth(json_t *all, const char *event, int k)
{
    size_t i;
    json_t *ev;

    json_array_foreach(all, i, ev)
    {
        if (s_is(ev, event) && k-- == 0)
            return ev;
    }
    return NULL;
}

static json_t *
s_last(json_t *all, const char *event)
{
    int n = s_count(all, event);

    return n ? s_nth(all, event, n - 1) : NULL;
}

/* A numeric field (integer or real) that must be there. */
static double
s_num(json_t *ev, const char *key)
{
    json_t *v = json_object_get(ev, key);

    if (!json_is_number(v)) {
        char *s = json_dumps(ev, JSON_COMPACT);

        fail_msg("expected a number \"%s\" in %s", key, s);
    }
    return json_number_value(v);
}

static int64_t
s_int(json_t *ev, const char *key)
{
    json_t *v = json_object_get(ev, key);

    if (!json_is_integer(v)) {
        char *s = json_dumps(ev, JSON_COMPACT);

        fail_msg("expected an integer \"%s\" in %s", key, s);
    }
    return json_integer_value(v);
}

/*
 * The losses of a run's step events, indexed by step (loss[s - 1] for step s);
 * steps must follow one another from first_step. Returns how many there are.
 */
static int
s_losses(const char *path, int64_t first_step, double *loss, int max)
{
    json_t *all = s_load_events(path);
    json_t *ev;
    int n = 0;

    for (; (ev = s_nth(all, "step", n)) != NULL; n++) {
        int64_t step = s_int(ev, "step");
        double l = s_num(ev, "loss");

        if (step != first_step + n)
            fail_msg("%s: step event %d has step %lld, expected %lld", path, n, (long long)step,
                     (long long)(first_step + n));
        assert_true(isfinite(l));
        assert_true(step >= 1 && step <= max);
        loss[step - 1] = l;
    }
    json_decref(all);
    return n;
}

/* Largest |a - b| over steps from..to (1-based, inclusive). */
static double
s_max_diff(const double *a, const double *b, int from, int to)
{
    double m = 0;

    for (int s = from; s <= to; s++) {
        double d = fabs(a[s - 1] - b[s - 1]);

        if (!(d <= m))
            m = d; /* NaN wins, so it fails the comparison */
    }
    return m;
}

static void
s_assert_curve(const double *want, const double *got, int from, int to, double tol,
               const char *what)
{
    double d = s_max_diff(want, got, from, to);

    if (!(d <= tol)) {
        char buf[2048];
        int off = 0;

        for (int s = from; s <= to && off < (int)sizeof(buf) - 64; s++)
            off += snprintf(buf + off, sizeof(buf) - (size_t)off, "  step %2d: %.7f vs %.7f\n", s,
                            want[s - 1], got[s - 1]);
        fail_msg("%s: losses differ by up to %.3g (tolerance %.3g):\n%s", what, d, tol, buf);
    }
    print_message("    %s: max |loss diff| %.2g over steps %d..%d\n", what, d, from, to);
}

/* ---------------------------------------------------------------------------------------- */
/* 1. N ranks follow the 1-rank loss curve.                                                 */

#define EQ_STEPS 20
#define EQ_ARGS "--model cnn --steps 20 --batch-size 64 --seed 3"

static void
s_curve(int np, const char *tag, double *loss)
{
    char metrics[512], what[64];
    s_run_t r;

    snprintf(metrics, sizeof(metrics), "%s/%s.jsonl", adt_root(), tag);
    r = s_train(np, EQ_ARGS " --metrics %s", metrics);
    snprintf(what, sizeof(what), "cnn on %d rank(s)", np ? np : 1);
    s_assert_ok(&r, what);
    adt_sh_free(&r);
    assert_int_equal(s_losses(metrics, 1, loss, EQ_STEPS), EQ_STEPS);
}

static void
test_ranks_follow_one_rank_curve(void **state)
{
    double one[EQ_STEPS], two[EQ_STEPS], three[EQ_STEPS], four[EQ_STEPS];

    s_curve(0, "eq1", one);
    /* A dead run (constant or diverging loss) would make every comparison pass. */
    if (!(one[EQ_STEPS - 1] < one[0] - 0.2))
        fail_msg("1 rank: loss went from %.4f to %.4f in %d steps; expected it to fall by 0.2",
                 one[0], one[EQ_STEPS - 1], EQ_STEPS);
    s_curve(2, "eq2", two);
    s_assert_curve(one, two, 1, EQ_STEPS, RANKS_TOL, "2 ranks vs 1");
    s_curve(4, "eq4", four);
    s_assert_curve(one, four, 1, EQ_STEPS, RANKS_TOL, "4 ranks vs 1");
    /* 64 = 22 + 21 + 21: the loss is still the mean over the whole global batch. */
    s_curve(3, "eq3", three);
    s_assert_curve(one, three, 1, EQ_STEPS, RANKS_TOL, "3 ranks (uneven shards) vs 1");
}

/* ---------------------------------------------------------------------------------------- */
/* 2. Checkpoint and resume.                                                                */

static void
test_resume_continues_the_curve(void **state)
{
    char dir[300], ck_a[400], ck_b[400], ck_c[400], m_a[400], m_b1[400], m_b2[400], m_c[400];
    char model[500];
    double full[EQ_STEPS], cut[EQ_STEPS], two[EQ_STEPS];
    json_t *all;
    s_run_t r;

    adt_fresh_dir(dir, sizeof(dir), "resume");
    adt_path(ck_a, sizeof(ck_a), dir, "a");
    adt_path(ck_b, sizeof(ck_b), dir, "b");
    adt_path(ck_c, sizeof(ck_c), dir, "c");
    adt_path(m_a, sizeof(m_a), dir, "a.jsonl");
    adt_path(m_b1, sizeof(m_b1), dir, "b1.jsonl");
    adt_path(m_b2, sizeof(m_b2), dir, "b2.jsonl");
    adt_path(m_c, sizeof(m_c), dir, "c.jsonl");

    r = s_train(0, EQ_ARGS " --checkpoint %s --metrics %s", ck_a, m_a);
    s_assert_ok(&r, "uninterrupted run");
    adt_sh_free(&r);
    assert_int_equal(s_losses(m_a, 1, full, EQ_STEPS), EQ_STEPS);

    r = s_train(0, "--model cnn --steps 10 --batch-size 64 --seed 3 --checkpoint %s --metrics %s",
                ck_b, m_b1);
    s_assert_ok(&r, "first 10 steps");
    adt_sh_free(&r);
    assert_int_equal(s_losses(m_b1, 1, cut, EQ_STEPS), 10);
    /* The same first half, and a copy of its checkpoint for the 2-rank resume. */
    s_assert_curve(full, cut, 1, 10, RESUME_TOL, "steps 1..10 before the cut");
    s_copy_dir(ck_b, ck_c);

    r = s_train(0, EQ_ARGS " --checkpoint %s --resume --metrics %s", ck_b, m_b2);
    s_assert_ok(&r, "resumed run");
    adt_sh_free(&r);
    all = s_load_events(m_b2);
    assert_non_null(s_nth(all, "step", 0));
    assert_int_equal(s_int(s_nth(all, "step", 0), "step"), 11);
    json_decref(all);
    assert_int_equal(s_losses(m_b2, 11, cut, EQ_STEPS), 10);
    s_assert_curve(full, cut, 11, EQ_STEPS, RESUME_TOL, "1 rank resumed at step 10");

    /* A checkpoint is not tied to the rank count it was written with. */
    r = s_train(2, EQ_ARGS " --checkpoint %s --resume --metrics %s", ck_c, m_c);
    s_assert_ok(&r, "2 ranks resuming a 1-rank checkpoint");
    adt_sh_free(&r);
    assert_int_equal(s_losses(m_c, 11, two, EQ_STEPS), 10);
    s_assert_curve(full, two, 11, EQ_STEPS, RANKS_TOL, "2 ranks resumed from 1 rank's step 10");

    /* Another global batch would silently change the run: refused, by name. */
    r = s_train(2, "--model cnn --steps 30 --batch-size 32 --seed 3 --checkpoint %s --resume",
                ck_c);
    s_assert_one_error(&r, 0, "batch_size", "resume with another --batch-size");
    adt_sh_free(&r);

    adt_path(model, sizeof(model), ck_c, "model.pt");
    adt_write_bytes(model, "this is not a torch archive\n", 28);
    r = s_train(2, "--model cnn --steps 30 --batch-size 64 --seed 3 --checkpoint %s --resume",
                ck_c);
    s_assert_one_error(&r, 0, "model.pt", "resume from a corrupt model.pt");
    adt_sh_free(&r);
}

/* ---------------------------------------------------------------------------------------- */
/* 3. Evaluation and the metrics stream.                                                    */

static void
test_eval_and_metrics_events(void **state)
{
    static const char *const step_keys[] = {"step",   "epoch",  "loss",          "samples_per_s",
                                            "step_s", "comm_s", "exposed_comm_s"};
    char metrics[400];
    json_t *all, *ev, *start, *eval, *done;
    s_run_t r;
    int nsteps;

    snprintf(metrics, sizeof(metrics), "%s/eval.jsonl", adt_root());
    /* A whole epoch takes minutes on 2 shared cores: 60 steps, then the final test eval. */
    r = s_train(2, "--model cnn --steps 60 --batch-size 64 --seed 1 --eval --metrics %s", metrics);
    s_assert_ok(&r, "cnn --steps 60 --eval on 2 ranks");
    adt_sh_free(&r);
    all = s_load_events(metrics);

    start = json_array_get(all, 0);
    assert_non_null(start);
    assert_true(s_is(start, "start"));
    assert_int_equal(s_count(all, "start"), 1);
    assert_int_equal(s_int(start, "world_size"), 2);
    assert_int_equal(s_int(start, "params"), CNN_PARAMS);
    assert_true(json_is_object(json_object_get(start, "config")));

    nsteps = s_count(all, "step");
    assert_int_equal(nsteps, 60);
    for (int k = 0; k < nsteps; k++) {
        ev = s_nth(all, "step", k);
        for (size_t i = 0; i < sizeof(step_keys) / sizeof(step_keys[0]); i++)
            assert_true(isfinite(s_num(ev, step_keys[i])));
        assert_int_equal(s_int(ev, "step"), k + 1);
        assert_int_equal(s_int(ev, "epoch"), 1);
        assert_true(s_num(ev, "samples_per_s") > 0);
        assert_true(s_num(ev, "exposed_comm_s") >= 0);
    }
    assert_true(s_count(all, "epoch") >= 1);

    eval = s_last(all, "eval");
    assert_non_null(eval);
    assert_string_equal(json_string_value(json_object_get(eval, "split")), "test");
    assert_int_equal(s_int(eval, "samples"), 10000);
    assert_true(isfinite(s_num(eval, "loss")));
    if (!(s_num(eval, "accuracy") > 0.6 && s_num(eval, "accuracy") <= 1))
        fail_msg("test accuracy after 60 steps is %.4f, expected > 0.6", s_num(eval, "accuracy"));
    print_message("    test accuracy after 60 steps on 2 ranks: %.4f\n", s_num(eval, "accuracy"));

    done = json_array_get(all, json_array_size(all) - 1);
    assert_true(s_is(done, "done"));
    assert_int_equal(s_count(all, "done"), 1);
    assert_int_equal(s_int(done, "steps"), 60);
    assert_true(s_num(done, "samples_per_s") > 0);
    assert_true(s_num(done, "wall_s") > 0);
    /*
     * One definition of throughput (docs/speedup.md): the steady-state rate over the
     * steps past the warm-up (a tenth of 60 = 6, as the start event says), with its
     * spread over those steps; the done line's figure is what the steps add up to.
     */
    assert_int_equal(s_int(start, "warmup_steps"), 6);
    assert_int_equal(s_int(done, "warmup_steps"), 6);
    assert_int_equal(s_int(done, "sps_steps"), 54);
    {
        double time = 0, mean = 0, sq = 0;

        for (int k = 6; k < nsteps; k++) {
            double v = s_num(s_nth(all, "step", k), "samples_per_s");

            time += s_num(s_nth(all, "step", k), "step_s");
            mean += v / 54;
            sq += v * v / 54;
        }
        assert_true(fabs(s_num(done, "samples_per_s") - 54 * 64 / time) <
                    1e-3 * s_num(done, "samples_per_s"));
        assert_true(fabs(s_num(done, "sps_sd") - sqrt((sq - mean * mean) * 54 / 53)) <
                    1e-2 * s_num(done, "sps_sd") + 1e-6);
    }
    /* CPU time of both ranks, and the larger rank's peak memory. */
    assert_true(s_num(done, "cpu_time_s") > 0);
    assert_true(s_int(done, "max_rss_bytes") > 10 << 20);
    json_decref(all);
}

/* ---------------------------------------------------------------------------------------- */
/* 4. Bad input: one line, a non-zero exit, no hang (data errors on 2 ranks).               */

static void
test_bad_command_lines(void **state)
{
    s_run_t r;

    r = s_train(2, "--model nosuch --steps 2");
    s_assert_one_error(&r, 0, "nosuch", "--model nosuch");
    adt_sh_free(&r);

    r = s_train(2, "--model cnn --steps 2 --batch-size 1");
    s_assert_one_error(&r, 0, "smaller", "global batch 1 on 2 ranks");
    adt_sh_free(&r);

    r = s_train(2, "--model cnn --steps 2 --batch-size -4");
    s_assert_one_error(&r, 2, "batch-size", "--batch-size -4");
    adt_sh_free(&r);

    r = s_train(2, "--model cnn --steps 2 --no-such-option");
    s_assert_one_error(&r, 2, "no-such-option", "unknown option");
    adt_sh_free(&r);

    r = s_train(2, "--model cnn --steps 2 --resume");
    s_assert_one_error(&r, 2, "--checkpoint", "--resume without --checkpoint");
    adt_sh_free(&r);

    r = s_train(2, "--model cnn --steps 2 --report tcp://127.0.0.1:7402");
    s_assert_one_error(&r, 2, "--job", "--report without --job");
    adt_sh_free(&r);
}

/* --report: rank 0's events reach a coordinator's PULL socket as METRIC {job, ...}. */
static void
test_report_to_coordinator(void **state)
{
    const char *want[] = {"start", "step", "step", "step", "epoch", "done"};
    ad_err_t err = {0};
    int port = 0, n = 0;
    zsock_t *pull = ad_proto_listen(ZMQ_PULL, "tcp://127.0.0.1:*", NULL, &port, &err);
    s_run_t r;

    assert_non_null(pull);
    r = s_train(2, "--model cnn --steps 3 --batch-size 32 --report tcp://127.0.0.1:%d --job 42",
                port);
    s_assert_ok(&r, "--report");
    adt_sh_free(&r);
    for (;;) {
        ad_proto_msg_t msg = {0};
        json_t *ev;

        if (ad_proto_recv(pull, 2000, &msg, &err) != 0)
            break;
        assert_int_equal(msg.type, AD_PROTO_METRIC);
        assert_int_equal(json_integer_value(json_object_get(msg.payload, "job")), 42);
        ev = json_object_get(msg.payload, "event");
        assert_true(n < 6);
        assert_string_equal(json_string_value(ev), want[n]);
        n++;
        ad_proto_msg_clear(&msg);
    }
    assert_int_equal(n, 6);
    zsock_destroy(&pull);

    /* Nobody listening: training goes on, events are dropped. */
    r = s_train(0, "--model cnn --steps 2 --batch-size 32 --report tcp://127.0.0.1:%d --job 1",
                port);
    s_assert_ok(&r, "--report to nobody");
    adt_sh_free(&r);
}

static void
test_bad_fashion_data(void **state)
{
    const char *images = "train-images-idx3-ubyte.gz";
    char dir[300], file[400];
    uint8_t buf[16 + 1000];
    s_run_t r;

    r = s_train(2, "--model cnn --steps 2 --data-dir /nonexistent/x");
    s_assert_one_error(&r, 0, "/nonexistent/x", "missing --data-dir");
    adt_sh_free(&r);

    /* A well-formed gzip around a wrong IDX magic. */
    s_fashion_copy(dir, sizeof(dir), "badmagic");
    adt_path(file, sizeof(file), dir, images);
    memset(buf, 0, sizeof(buf));
    memcpy(buf, "XXXXnot an IDX file", 19);
    s_write_gzip(file, buf, sizeof(buf));
    r = s_train(2, "--model cnn --steps 2 --data-dir %s", dir);
    s_assert_one_error(&r, 0, images, "IDX with a wrong magic");
    adt_sh_free(&r);

    /* A valid header for 60000 28x28 images, then only 1000 pixel bytes. */
    s_fashion_copy(dir, sizeof(dir), "truncated");
    adt_path(file, sizeof(file), dir, images);
    s_put_be32(buf, 0x803);
    s_put_be32(buf + 4, 60000);
    s_put_be32(buf + 8, 28);
    s_put_be32(buf + 12, 28);
    memset(buf + 16, 7, 1000);
    s_write_gzip(file, buf, sizeof(buf));
    r = s_train(2, "--model cnn --steps 2 --data-dir %s", dir);
    s_assert_one_error(&r, 0, images, "truncated IDX");
    adt_sh_free(&r);

    /* A gzip header followed by a broken deflate stream. */
    s_fashion_copy(dir, sizeof(dir), "badgzip");
    adt_path(file, sizeof(file), dir, images);
    adt_write_bytes(file, "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbagegarbagegarbage", 31);
    r = s_train(2, "--model cnn --steps 2 --data-dir %s", dir);
    s_assert_one_error(&r, 0, images, "corrupt gzip stream");
    adt_sh_free(&r);

    /* The train images missing altogether. */
    s_fashion_copy(dir, sizeof(dir), "noimages");
    r = s_train(2, "--model cnn --steps 2 --data-dir %s", dir);
    s_assert_one_error(&r, 0, "train-images-idx3-ubyte", "missing train images");
    adt_sh_free(&r);
}

static void
test_bad_image_folders(void **state)
{
    char dir[300], file[400], cls[400];
    s_run_t r;

    adt_fresh_dir(dir, sizeof(dir), "empty");
    r = s_train(2,
                "--model lenet5 --dataset imagefolder --image-size 32 --batch-size 8 "
                "--steps 2 --data-dir %s",
                dir);
    s_assert_one_error(&r, 0, dir, "imagefolder: empty folder");
    adt_sh_free(&r);

    adt_path(file, sizeof(file), dir, "plain-file");
    adt_write_bytes(file, "hello\n", 6);
    r = s_train(2,
                "--model lenet5 --dataset imagefolder --image-size 32 --batch-size 8 "
                "--steps 2 --data-dir %s",
                file);
    s_assert_one_error(&r, 0, "plain-file", "imagefolder: a regular file");
    adt_sh_free(&r);

    adt_fresh_dir(dir, sizeof(dir), "brokenjpg");
    s_write_folder(dir, 3, 4);
    adt_path(cls, sizeof(cls), dir, "checks");
    adt_path(file, sizeof(file), cls, "broken.jpg");
    adt_write_bytes(file, "not an image\n", 13);
    r = s_train(2,
                "--model lenet5 --dataset imagefolder --image-size 32 --batch-size 8 "
                "--steps 2 --data-dir %s",
                dir);
    s_assert_one_error(&r, 0, "broken.jpg", "imagefolder: a .jpg that is text");
    adt_sh_free(&r);
}

/* ---------------------------------------------------------------------------------------- */
/* 5, 6. Other datasets and models.                                                         */

static void
test_imagefolder_trains(void **state)
{
    char dir[300], metrics[400];
    json_t *all, *start;
    s_run_t r;

    adt_fresh_dir(dir, sizeof(dir), "folder");
    s_write_folder(dir, 3, 12);
    adt_path(metrics, sizeof(metrics), adt_root(), "folder.jsonl");
    r = s_train(2,
                "--model lenet5 --dataset imagefolder --data-dir %s --image-size 32 "
                "--batch-size 8 --steps 6 --eval --metrics %s",
                dir, metrics);
    s_assert_ok(&r, "lenet5 on an image folder, 2 ranks");
    adt_sh_free(&r);
    all = s_load_events(metrics);
    start = s_nth(all, "start", 0);
    assert_non_null(start);
    assert_int_equal(s_int(start, "world_size"), 2);
    assert_int_equal(s_count(all, "step"), 6);
    assert_true(s_count(all, "eval") >= 1);
    assert_string_equal(json_string_value(json_object_get(s_last(all, "eval"), "split")), "test");
    assert_true(s_int(s_last(all, "eval"), "samples") >= 1);
    assert_non_null(s_nth(all, "done", 0));
    json_decref(all);
}

static void
s_synthetic(int np, const char *model)
{
    char metrics[400], what[128];
    json_t *all, *ev;
    s_run_t r;

    snprintf(metrics, sizeof(metrics), "%s/synthetic-%s.jsonl", adt_root(), model);
    r = s_train(np,
                "--model %s --dataset synthetic --input-shape 3x32x32 --samples 64 "
                "--batch-size 8 --steps 2 --metrics %s",
                model, metrics);
    snprintf(what, sizeof(what), "%s on synthetic data, %d rank(s)", model, np ? np : 1);
    s_assert_ok(&r, what);
    adt_sh_free(&r);
    all = s_load_events(metrics);
    assert_int_equal(s_count(all, "step"), 2);
    for (int k = 0; k < 2; k++) {
        ev = s_nth(all, "step", k);
        assert_int_equal(s_int(ev, "step"), k + 1);
        assert_true(isfinite(s_num(ev, "loss")));
    }
    assert_true(s_int(s_nth(all, "start", 0), "params") > 0);
    assert_int_equal(s_int(s_nth(all, "start", 0), "world_size"), np ? np : 1);
    assert_non_null(s_nth(all, "done", 0));
    json_decref(all);
}

static void
test_other_models_on_synthetic(void **state)
{
    s_synthetic(2, "resnet18");
    s_synthetic(0, "mobilenet_v2");
    s_synthetic(0, "mlp");
    s_synthetic(0, "lenet5");
}

/* ---------------------------------------------------------------------------------------- */
/* 7. SIGTERM saves a checkpoint and exits 3.                                               */

/* How many step events the file holds so far (0 when it is not there yet). */
static int
s_steps_so_far(const char *path)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    int n = 0;

    if (!f)
        return 0;
    while (getline(&line, &cap, f) > 0)
        n += strncmp(line, "{\"event\":\"step\"", 15) == 0 && strchr(line, '\n') != NULL;
    free(line);
    fclose(f);
    return n;
}

static void
test_sigterm_saves_checkpoint(void **state)
{
    char dir[300], ck[400], metrics[400], log[400], file[500], name[64], *text;
    json_t *all, *js;
    int ws = 0, waited = 0;
    pid_t pid, w;

    adt_fresh_dir(dir, sizeof(dir), "sigterm");
    adt_path(ck, sizeof(ck), dir, "ck");
    adt_path(metrics, sizeof(metrics), dir, "m.jsonl");
    adt_path(log, sizeof(log), dir, "log.txt");

    fflush(stdout);
    fflush(stderr);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

        if (fd < 0)
            _exit(126);
        dup2(fd, 1);
        dup2(fd, 2);
        execl(AD_TRAIN_BIN, AD_TRAIN_BIN, "--model", "cnn", "--steps", "100000", "--batch-size",
              "64", "--log-every", "0", "--checkpoint", ck, "--metrics", metrics, (char *)NULL);
        _exit(127);
    }
    /* Up to 120 s for three steps. */
    while (s_steps_so_far(metrics) < 3) {
        w = waitpid(pid, &ws, WNOHANG);
        if (w == pid) {
            text = adt_slurp(log, NULL);
            fail_msg("the run ended before 3 steps (status 0x%x):\n%s", ws, text);
        }
        if (waited >= 120000) {
            kill(pid, SIGKILL);
            waitpid(pid, &ws, 0);
            fail_msg("no 3 step events after 120 s");
        }
        adt_sleep_ms(100);
        waited += 100;
    }
    assert_int_equal(kill(pid, SIGTERM), 0);
    for (waited = 0; (w = waitpid(pid, &ws, WNOHANG)) == 0; waited += 100) {
        if (waited >= 60000) {
            kill(pid, SIGKILL);
            waitpid(pid, &ws, 0);
            fail_msg("still running 60 s after SIGTERM");
        }
        adt_sleep_ms(100);
    }
    assert_int_equal(w, pid);
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 3) {
        text = adt_slurp(log, NULL);
        fail_msg("after SIGTERM: %s %d, expected exit status 3\n%s",
                 WIFEXITED(ws) ? "exit status" : "killed by signal",
                 WIFEXITED(ws) ? WEXITSTATUS(ws) : WTERMSIG(ws), text);
    }

    adt_path(file, sizeof(file), ck, "state.json");
    assert_true(adt_is_file(file));
    js = json_load_file(file, 0, NULL);
    assert_non_null(js);
    all = s_load_events(metrics);
    assert_non_null(s_last(all, "step"));
    assert_int_equal(s_int(js, "step"), s_int(s_last(all, "step"), "step"));
    /* A stopped run is not finished: its checkpoint is the step file state.json names. */
    snprintf(name, sizeof(name), "model-%lld.pt", (long long)s_int(js, "step"));
    assert_string_equal(json_string_value(json_object_get(js, "file")), name);
    adt_path(file, sizeof(file), ck, name);
    assert_true(adt_is_file(file));
    adt_path(file, sizeof(file), ck, "model.pt");
    assert_false(adt_is_file(file));
    assert_true(s_int(js, "step") >= 3);
    print_message("    stopped at step %lld\n", (long long)s_int(js, "step"));
    json_decref(all);
    json_decref(js);
}

/* ---------------------------------------------------------------------------------------- */
/* 8. --help and --version.                                                                 */

static void
test_help_and_version(void **state)
{
    s_run_t r;

    r = s_sh("%s --help", AD_TRAIN_BIN);
    s_assert_ok(&r, "--help");
    assert_non_null(strstr(r.out, "usage:"));
    assert_non_null(strstr(r.out, "--batch-size"));
    assert_string_equal(r.err, "");
    adt_sh_free(&r);

    r = s_sh("%s --version", AD_TRAIN_BIN);
    s_assert_ok(&r, "--version");
    if (strncmp(r.out, "autodist-train ", 15) != 0 || !strchr("0123456789", r.out[15]) ||
        !r.out[15])
        fail_msg("--version printed \"%s\", expected \"autodist-train X.Y.Z\"", r.out);
    adt_sh_free(&r);
}

/* ---------------------------------------------------------------------------------------- */

static int
s_group_setup(void **state)
{
    if (!adt_root_make("test_trainer"))
        return -1;
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    return access(AD_TRAIN_BIN, X_OK);
}

static int
s_group_teardown(void **state)
{
    adt_root_remove();
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_and_version),
        cmocka_unit_test(test_bad_command_lines),
        cmocka_unit_test(test_bad_fashion_data),
        cmocka_unit_test(test_bad_image_folders),
        cmocka_unit_test(test_ranks_follow_one_rank_curve),
        cmocka_unit_test(test_resume_continues_the_curve),
        cmocka_unit_test(test_eval_and_metrics_events),
        cmocka_unit_test(test_imagefolder_trains),
        cmocka_unit_test(test_other_models_on_synthetic),
        cmocka_unit_test(test_sigterm_saves_checkpoint),
        cmocka_unit_test(test_report_to_coordinator),
    };

    /* AD_TEST_FILTER=test_resume* runs some tests only (by hand; ctest runs them all). */
    if (getenv("AD_TEST_FILTER"))
        cmocka_set_test_filter(getenv("AD_TEST_FILTER"));
    return cmocka_run_group_tests(tests, s_group_setup, s_group_teardown);
}
