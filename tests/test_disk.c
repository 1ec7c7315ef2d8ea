/* test_disk.c - a full disk (small tmpfs mounts), checkpoint retention and resume fallback */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "ad_test.h"
#include "autodist/ad_home.h"

/*
 * Every run is under timeout(1): a hang (the bug this file guards against: a rank
 * left waiting while another died) ends as 124 or 137 and fails the test.
 */
#define RUN_TIMEOUT_S 120
#define MPIRUN "mpirun -q --oversubscribe --bind-to none --mca btl_vader_single_copy_mechanism none"
/* A small, fast run: cnn (421,642 parameters, 3.2 MiB checkpoints) on synthetic 28x28. */
#define SYN                                                                                        \
    "--model cnn --dataset synthetic --samples 512 --input-shape 1x28x28 --batch-size 32 "         \
    "--log-every 0"
/* The trainer's exit status for a full disk (docs/trainer.md). */
#define EXIT_DISK 4
/* Losses after a resume on the same rank count: the same computation. */
#define RESUME_TOL 1e-5

/* The tmpfs mounts of this run, unmounted by the group teardown whatever failed. */
static char s_mounts[16][512];
static int s_nmounts;

/* ---------------------------------------------------------------------------------------- */
/* Mounts, files, runs.                                                                     */

/* A fresh folder with a tmpfs of kib KiB mounted on it; its path into dir. */
static void
s_tmpfs(char *dir, size_t len, const char *tag, long kib)
{
    char opts[64];

    adt_fresh_dir(dir, len, tag);
    snprintf(opts, sizeof(opts), "size=%ldk,mode=0755", kib);
    if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0)
        fail_msg("%s: cannot mount a %ld KiB tmpfs: %s", dir, kib, strerror(errno));
    assert_true(s_nmounts < (int)(sizeof(s_mounts) / sizeof(s_mounts[0])));
    snprintf(s_mounts[s_nmounts++], sizeof(s_mounts[0]), "%s", dir);
}

/* Give the tmpfs on dir another size (what an operator freeing space does). */
static void
s_tmpfs_resize(const char *dir, long kib)
{
    char opts[64];

    snprintf(opts, sizeof(opts), "size=%ldk", kib);
    if (mount("tmpfs", dir, "tmpfs", MS_REMOUNT | MS_NOSUID | MS_NODEV, opts) != 0)
        fail_msg("%s: cannot resize the tmpfs to %ld KiB: %s", dir, kib, strerror(errno));
}

/* autodist-train on np ranks under mpirun, or as a plain process when np is 0. */
static adt_sh_t
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
        return adt_sh("exec timeout -k 10 %d %s " SYN " %s", RUN_TIMEOUT_S, AD_TRAIN_BIN, args);
    return adt_sh("exec timeout -k 10 %d " MPIRUN " -np %d %s " SYN " %s", RUN_TIMEOUT_S, np,
                  AD_TRAIN_BIN, args);
}

static void
s_assert_status(const adt_sh_t *r, int want, const char *what)
{
    if (r->status == 124 || r->status == 137)
        fail_msg("%s: timed out after %d s (a rank left waiting?)\nstderr:\n%s", what,
                 RUN_TIMEOUT_S, r->err);
    if (r->status != want)
        fail_msg("%s: exit status %d, expected %d\nstderr:\n%s", what, r->status, want, r->err);
}

/* How many lines of text contain needle. */
static int
s_lines_with(const char *text, const char *needle)
{
    int n = 0;

    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/*
 * A full disk as the user sees it: exit status 4, exactly one error line (from one
 * rank) that names the file and the cause, no crash report.
 */
static void
s_assert_disk_full(const adt_sh_t *r, const char *file, const char *what)
{
    s_assert_status(r, EXIT_DISK, what);
    if (s_lines_with(r->err, "autodist-train: error: ") != 1)
        fail_msg("%s: expected one error line, got:\n%s", what, r->err);
    adt_assert_has(r->err, file);
    adt_assert_has(r->err, "no space left on device");
    if (strstr(r->err, "terminate") || strstr(r->err, "Abort") || strstr(r->err, "Signal"))
        fail_msg("%s: a crash, not an error:\n%s", what, r->err);
}

/* The names in dir, sorted and joined by spaces ("" when empty). */
static void
s_listing(const char *dir, char *buf, size_t len)
{
    struct dirent **ents;
    int n = scandir(dir, &ents, NULL, alphasort);
    size_t used = 0;

    if (n < 0)
        fail_msg("%s: cannot list: %s", dir, strerror(errno));
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (ents[i]->d_name[0] != '.')
            used += (size_t)snprintf(buf + used, used < len ? len - used : 0, "%s%s",
                                     used ? " " : "", ents[i]->d_name);
        free(ents[i]);
    }
    free(ents);
    assert_true(used < len);
}

static void
s_assert_listing(const char *dir, const char *want)
{
    char got[2048];

    s_listing(dir, got, sizeof(got));
    if (strcmp(got, want) != 0)
        fail_msg("%s holds \"%s\", expected \"%s\"", dir, got, want);
}

/* dir/state.json, parsed. */
static json_t *
s_state(const char *dir)
{
    char path[600];
    json_error_t jerr;
    json_t *js;

    adt_path(path, sizeof(path), dir, "state.json");
    js = json_load_file(path, 0, &jerr);
    if (!js)
        fail_msg("%s: %s", path, jerr.text);
    return js;
}

static int64_t
s_int(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);

    if (!json_is_integer(v))
        fail_msg("no integer \"%s\"", key);
    return json_integer_value(v);
}

/*
 * The events of a metrics file; every line must be one whole JSON object.  The
 * losses of its step events go to loss[step - 1] when loss is not NULL.
 */
static json_t *
s_events(const char *path, double *loss, int nloss)
{
    char *text = adt_slurp(path, NULL), *line, *save = NULL;
    json_t *all = json_array();
    size_t len = strlen(text);

    if (len && text[len - 1] != '\n')
        fail_msg("%s: the last line is cut short:\n%s", path, text);
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_t *obj = json_loads(line, 0, NULL);
        const char *ev = json_string_value(json_object_get(obj, "event"));

        if (!obj || !ev)
            fail_msg("%s: not a whole event: \"%s\"", path, line);
        if (loss && !strcmp(ev, "step") && s_int(obj, "step") <= nloss)
            loss[s_int(obj, "step") - 1] = json_real_value(json_object_get(obj, "loss"));
        json_array_append_new(all, obj);
    }
    free(text);
    return all;
}

/* The n-th (from 0) event named ev, or NULL. */
static json_t *
s_nth(json_t *all, const char *ev, int n)
{
    size_t i;
    json_t *obj;

    json_array_foreach(all, i, obj) {
        if (!strcmp(json_string_value(json_object_get(obj, "event")), ev) && n-- == 0)
            return obj;
    }
    return NULL;
}

#define s_first(all, ev) s_nth(all, ev, 0)

static int
s_count(json_t *all, const char *ev)
{
    size_t i;
    json_t *obj;
    int n = 0;

    json_array_foreach(all, i, obj) {
        n += !strcmp(json_string_value(json_object_get(obj, "event")), ev);
    }
    return n;
}

/* No temporary file left anywhere below dir (one level of folders). */
static void
s_assert_no_tmp(const char *dir)
{
    char got[2048], sub[600];
    DIR *d;
    struct dirent *e;

    s_listing(dir, got, sizeof(got));
    if (strstr(got, ".tmp"))
        fail_msg("%s: a temporary file was left: %s", dir, got);
    d = opendir(dir);
    assert_non_null(d);
    while ((e = readdir(d))) {
        struct stat st;

        adt_path(sub, sizeof(sub), dir, e->d_name);
        if (e->d_name[0] != '.' && stat(sub, &st) == 0 && S_ISDIR(st.st_mode)) {
            s_listing(sub, got, sizeof(got));
            if (strstr(got, ".tmp"))
                fail_msg("%s: a temporary file was left: %s", sub, got);
        }
    }
    closedir(d);
}

static off_t
s_size(const char *path)
{
    struct stat st;

    if (stat(path, &st) != 0)
        fail_msg("%s: %s", path, strerror(errno));
    return st.st_size;
}

/* The size of one cnn checkpoint, from a run on the ordinary disk. */
static off_t
s_checkpoint_bytes(void)
{
    static off_t bytes;
    char dir[400], file[500];
    adt_sh_t r;

    if (bytes)
        return bytes;
    adt_fresh_dir(dir, sizeof(dir), "measure");
    r = s_train(0, "--steps 1 --checkpoint %s", dir);
    s_assert_status(&r, 0, "a 1-step run");
    adt_sh_free(&r);
    adt_path(file, sizeof(file), dir, "model.pt");
    bytes = s_size(file);
    return bytes;
}

/* ---------------------------------------------------------------------------------------- */
/* 1. A full disk while saving: status 4, one line, no .tmp, every rank gone.               */

static void
test_full_disk_fails_cleanly(void **state)
{
    char mnt[400], ck[500], metrics[500];
    adt_sh_t r;

    /* 2 MiB cannot hold one 3.2 MiB checkpoint. */
    s_tmpfs(mnt, sizeof(mnt), "full", 2048);
    adt_path(ck, sizeof(ck), mnt, "ck1");
    adt_path(metrics, sizeof(metrics), mnt, "m1.jsonl");
    r = s_train(0, "--steps 4 --checkpoint-every 2 --checkpoint %s --metrics %s", ck, metrics);
    s_assert_disk_full(&r, "ck1/model-2.pt: no space left on device (wrote ", "1 rank");
    adt_assert_has(r.err, " MiB of 3.2 MiB)");
    adt_sh_free(&r);
    s_assert_no_tmp(mnt);
    s_assert_listing(ck, "");

    /* Two ranks: rank 0 saves, both leave with the same status, nobody hangs. */
    adt_path(ck, sizeof(ck), mnt, "ck2");
    r = s_train(2, "--steps 4 --checkpoint-every 2 --checkpoint %s", ck);
    s_assert_disk_full(&r, "ck2/model-2.pt: no space left on device", "2 ranks");
    adt_sh_free(&r);
    s_assert_no_tmp(mnt);
    s_assert_listing(ck, "");
}

/* The previous checkpoint survives a save that fails, and a resume continues from it. */
static void
test_previous_checkpoint_survives(void **state)
{
    off_t bytes = s_checkpoint_bytes();
    long room = (long)(bytes * 3 / 2 / 1024);
    char mnt[400], ck[500], metrics[500], file[600];
    json_t *js, *all;
    adt_sh_t r;

    /* Room for one checkpoint and a half: step 2 fits, step 4 does not. */
    s_tmpfs(mnt, sizeof(mnt), "half", room);
    adt_path(ck, sizeof(ck), mnt, "ck");
    adt_path(metrics, sizeof(metrics), mnt, "m.jsonl");
    r = s_train(2, "--steps 6 --checkpoint-every 2 --checkpoint %s --metrics %s", ck, metrics);
    s_assert_disk_full(&r, "ck/model-4.pt", "2 ranks, second checkpoint");
    adt_sh_free(&r);
    s_assert_no_tmp(mnt);
    s_assert_listing(ck, "model-2.pt state.json");
    adt_path(file, sizeof(file), ck, "model-2.pt");
    assert_int_equal(s_size(file), bytes);
    js = s_state(ck);
    assert_int_equal(s_int(js, "step"), 2);
    assert_string_equal(json_string_value(json_object_get(js, "file")), "model-2.pt");
    json_decref(js);

    /* Space is freed; the requeued run resumes from step 2 and ends with the final model. */
    s_tmpfs_resize(mnt, 4 * room);
    r = s_train(2, "--steps 6 --checkpoint-every 2 --checkpoint %s --resume --metrics %s", ck,
                metrics);
    s_assert_status(&r, 0, "resume after space was freed");
    adt_sh_free(&r);
    all = s_events(metrics, NULL, 0);
    assert_int_equal(s_count(all, "start"), 2);
    assert_int_equal(s_int(s_nth(all, "start", 1), "start_step"), 2);
    assert_int_equal(s_count(all, "done"), 1);
    json_decref(all);
    s_assert_listing(ck, "model.pt state.json");
}

/* Room for the model file but not for state.json: the new model file goes too. */
static void
test_state_json_full(void **state)
{
    off_t bytes = s_checkpoint_bytes();
    char mnt[400], ck[500];
    adt_sh_t r;

    s_tmpfs(mnt, sizeof(mnt), "exact", (long)((bytes + 4095) / 4096 * 4));
    adt_path(ck, sizeof(ck), mnt, "ck");
    r = s_train(0, "--steps 2 --checkpoint %s", ck);
    s_assert_disk_full(&r, "ck/state.json: cannot write checkpoint state", "state.json");
    adt_sh_free(&r);
    s_assert_no_tmp(mnt);
    s_assert_listing(ck, "");
}

/* ---------------------------------------------------------------------------------------- */
/* 2. metrics.jsonl on a full disk: one warning, training goes on, the file stays whole.    */

static void
test_metrics_full(void **state)
{
    char mnt[400], ck[400], metrics[500];
    json_t *all;
    adt_sh_t r;

    /* 8 KiB: some 30 events, then the disk is full. */
    s_tmpfs(mnt, sizeof(mnt), "metrics", 8);
    adt_path(metrics, sizeof(metrics), mnt, "m.jsonl");
    adt_fresh_dir(ck, sizeof(ck), "metrics-ck");
    r = s_train(0, "--steps 60 --checkpoint %s --metrics %s", ck, metrics);
    s_assert_status(&r, 0, "metrics on a full disk");
    assert_int_equal(s_lines_with(r.err, "cannot write metrics: No space left on device"), 1);
    adt_assert_has(r.err, "training goes on");
    adt_sh_free(&r);
    all = s_events(metrics, NULL, 0);
    assert_non_null(s_first(all, "start"));
    if (s_count(all, "step") < 5 || s_count(all, "step") >= 60)
        fail_msg("expected the file to fill up after a few steps, it has %d", s_count(all, "step"));
    json_decref(all);
    s_assert_listing(ck, "model.pt state.json");
}

/* ---------------------------------------------------------------------------------------- */
/* 3. Retention: the last K step checkpoints; at a successful end only the final model.     */

static void
test_retention(void **state)
{
    char dir[400], ck[500], junk[600];
    json_t *js;
    adt_sh_t r;

    adt_fresh_dir(dir, sizeof(dir), "keep");

    /* Kept after the end: the last 2 step files beside the final model (the same inode). */
    adt_path(ck, sizeof(ck), dir, "k2");
    assert_int_equal(mkdir(ck, 0755), 0);
    adt_path(junk, sizeof(junk), ck, "model-99.pt.tmp");
    adt_write_bytes(junk, "left by a killed save", 21);
    r = s_train(0, "--steps 6 --checkpoint-every 1 --checkpoint %s --keep-checkpoints", ck);
    s_assert_status(&r, 0, "--checkpoint-keep 2 (default) --keep-checkpoints");
    adt_sh_free(&r);
    s_assert_listing(ck, "model-5.pt model-6.pt model.pt state.json");
    js = s_state(ck);
    assert_int_equal(s_int(js, "step"), 6);
    assert_string_equal(json_string_value(json_object_get(js, "file")), "model.pt");
    json_decref(js);

    adt_path(ck, sizeof(ck), dir, "k3");
    r = s_train(0, "--steps 6 --checkpoint-every 1 --checkpoint %s --checkpoint-keep 3 "
                   "--keep-checkpoints",
                ck);
    s_assert_status(&r, 0, "--checkpoint-keep 3 --keep-checkpoints");
    adt_sh_free(&r);
    s_assert_listing(ck, "model-4.pt model-5.pt model-6.pt model.pt state.json");

    adt_path(ck, sizeof(ck), dir, "all");
    r = s_train(0, "--steps 3 --checkpoint-every 1 --checkpoint %s --checkpoint-keep 0 "
                   "--keep-checkpoints",
                ck);
    s_assert_status(&r, 0, "--checkpoint-keep 0 (all)");
    adt_sh_free(&r);
    s_assert_listing(ck, "model-1.pt model-2.pt model-3.pt model.pt state.json");

    /* The default: COMPLETED leaves the final model and its state only. */
    adt_path(ck, sizeof(ck), dir, "done");
    r = s_train(2, "--steps 6 --checkpoint-every 1 --checkpoint %s", ck);
    s_assert_status(&r, 0, "2 ranks, default retention");
    adt_sh_free(&r);
    s_assert_listing(ck, "model.pt state.json");

    r = s_train(0, "--steps 2 --checkpoint %s --checkpoint-keep -1", ck);
    s_assert_status(&r, 2, "--checkpoint-keep -1");
    adt_assert_has(r.err, "--checkpoint-keep");
    adt_sh_free(&r);
}

/* ---------------------------------------------------------------------------------------- */
/* 4. Resume: the newest checkpoint is corrupt, the one before is used; the old layout.     */

/* Run until at least min_steps step events are in metrics, then SIGTERM: exit status 3. */
static void
s_train_then_stop(const char *ck, const char *metrics, int min_steps)
{
    const char *args[] = {"--model", "cnn", "--dataset", "synthetic", "--samples", "512",
                          "--input-shape", "1x28x28", "--batch-size", "32", "--log-every", "0",
                          "--steps", "100000", "--checkpoint-every", "2", "--checkpoint", ck,
                          "--metrics", metrics, NULL};
    adt_result_t *r = calloc(1, sizeof(*r));
    adt_proc_t p;
    double t0 = adt_now();

    assert_non_null(r);
    adt_start(&p, AD_TRAIN_BIN, args, adt_root());
    for (;;) {
        char *text = access(metrics, F_OK) == 0 ? adt_slurp(metrics, NULL) : NULL;
        int n = text ? s_lines_with(text, "{\"event\":\"step\"") : 0;

        free(text);
        if (n >= min_steps)
            break;
        if (adt_now() - t0 > RUN_TIMEOUT_S || adt_wait(p.pid, 0) != -1) {
            kill(p.pid, SIGKILL);
            adt_finish(&p, r, 10);
            fail_msg("no %d steps in time (status %d):\n%s", min_steps, r->status, r->err);
        }
        adt_sleep_ms(20);
    }
    assert_int_equal(kill(p.pid, SIGTERM), 0);
    adt_finish(&p, r, 60);
    if (r->status != 3)
        fail_msg("after SIGTERM: status %d, expected 3:\n%s", r->status, r->err);
    free(r);
}

static void
test_resume_falls_back(void **state)
{
    char dir[400], ck[500], m1[500], m2[500], newest[600], older[600], want[700];
    double first[64] = {0}, second[64] = {0};
    int64_t stop, prev;
    json_t *js, *all;
    adt_sh_t r;

    adt_fresh_dir(dir, sizeof(dir), "fallback");
    adt_path(ck, sizeof(ck), dir, "ck");
    adt_path(m1, sizeof(m1), dir, "m1.jsonl");
    adt_path(m2, sizeof(m2), dir, "m2.jsonl");
    s_train_then_stop(ck, m1, 5);

    /* A stopped run keeps its last 2 checkpoints; state.json names the newest. */
    js = s_state(ck);
    stop = s_int(js, "step");
    json_decref(js);
    prev = stop % 2 ? stop - 1 : stop - 2;
    assert_true(stop < 60);
    snprintf(want, sizeof(want), "model-%lld.pt model-%lld.pt state.json", (long long)prev,
             (long long)stop);
    s_assert_listing(ck, want);
    json_decref(s_events(m1, first, 64));

    /* The newest is cut in half, as a crash of the disk would leave it. */
    snprintf(want, sizeof(want), "model-%lld.pt", (long long)stop);
    adt_path(newest, sizeof(newest), ck, want);
    assert_int_equal(truncate(newest, s_size(newest) / 2), 0);
    snprintf(want, sizeof(want), "model-%lld.pt", (long long)prev);
    adt_path(older, sizeof(older), ck, want);

    r = s_train(0, "--steps %lld --checkpoint-every 2 --checkpoint %s --resume --metrics %s",
                (long long)stop + 2, ck, m2);
    s_assert_status(&r, 0, "resume with a corrupt newest checkpoint");
    adt_assert_has(r.err, newest);
    snprintf(want, sizeof(want), "falling back to %s (step %lld)", older, (long long)prev);
    adt_assert_has(r.err, want);
    adt_sh_free(&r);
    all = s_events(m2, second, 64);
    assert_int_equal(s_int(s_first(all, "start"), "start_step"), prev);
    json_decref(all);
    /* The same curve from the older checkpoint on. */
    for (int64_t s = prev + 1; s <= stop; s++)
        if (fabs(first[s - 1] - second[s - 1]) > RESUME_TOL)
            fail_msg("step %lld: loss %.7f after the fallback, %.7f before", (long long)s,
                     second[s - 1], first[s - 1]);
    s_assert_listing(ck, "model.pt state.json");

    /* Nothing loads: the error names the newest file. */
    adt_path(newest, sizeof(newest), ck, "model.pt");
    adt_write_bytes(newest, "not a checkpoint\n", 17);
    r = s_train(0, "--steps %lld --checkpoint %s --resume", (long long)stop + 4, ck);
    s_assert_status(&r, 1, "resume with no valid checkpoint");
    adt_assert_has(r.err, "autodist-train: error: ");
    adt_assert_has(r.err, newest);
    adt_sh_free(&r);
}

/* A folder of the old layout (model.pt, state.json without "file") still resumes. */
static void
test_resume_old_layout(void **state)
{
    char dir[400], ck[500], metrics[500], path[600];
    json_t *js, *all;
    adt_sh_t r;

    adt_fresh_dir(dir, sizeof(dir), "old");
    adt_path(ck, sizeof(ck), dir, "ck");
    adt_path(metrics, sizeof(metrics), dir, "m.jsonl");
    r = s_train(0, "--steps 3 --checkpoint %s", ck);
    s_assert_status(&r, 0, "3 steps");
    adt_sh_free(&r);
    js = s_state(ck);
    assert_int_equal(json_object_del(js, "file"), 0);
    adt_path(path, sizeof(path), ck, "state.json");
    assert_int_equal(json_dump_file(js, path, JSON_INDENT(2)), 0);
    json_decref(js);

    /* Already at its end: nothing to train, the final model stays. */
    r = s_train(0, "--steps 3 --checkpoint %s --resume", ck);
    s_assert_status(&r, 0, "resume of a finished old-layout run");
    adt_sh_free(&r);
    s_assert_listing(ck, "model.pt state.json");

    r = s_train(0, "--steps 5 --checkpoint %s --resume --metrics %s", ck, metrics);
    s_assert_status(&r, 0, "resume of the old layout");
    adt_sh_free(&r);
    all = s_events(metrics, NULL, 0);
    assert_int_equal(s_int(s_first(all, "start"), "start_step"), 3);
    assert_int_equal(s_count(all, "step"), 2);
    json_decref(all);
    js = s_state(ck);
    assert_int_equal(s_int(js, "step"), 5);
    json_decref(js);
    s_assert_listing(ck, "model.pt state.json");
}

/* ---------------------------------------------------------------------------------------- */
/* 5. The coordinator's free-space check on a small tmpfs.                                  */

static void
test_free_space_on_tmpfs(void **state)
{
    static char block[1 << 20];
    char mnt[400], file[500];
    ad_err_t err = {0};
    int64_t mib = -1;
    FILE *f;

    s_tmpfs(mnt, sizeof(mnt), "free", 4096);
    assert_int_equal(ad_home_free_mib(mnt, &mib, &err), 0);
    assert_int_equal(mib, 4);
    assert_int_equal(ad_home_check_free(mnt, 4, &err), 0);

    adt_path(file, sizeof(file), mnt, "filler");
    f = fopen(file, "w");
    assert_non_null(f);
    for (int i = 0; i < 3; i++)
        assert_int_equal(fwrite(block, 1, sizeof(block), f), sizeof(block));
    assert_int_equal(fclose(f), 0);
    assert_int_equal(ad_home_free_mib(mnt, &mib, &err), 0);
    assert_int_equal(mib, 1);
    assert_int_equal(ad_home_check_free(mnt, 2, &err), -ENOSPC);
    adt_assert_has(err.msg, mnt);
    adt_assert_has(err.msg, ": only 1 MiB free, need 2 MiB");
}

/* ---------------------------------------------------------------------------------------- */

static int
s_group_setup(void **state)
{
    if (!adt_root_make("test_disk"))
        return -1;
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    return access(AD_TRAIN_BIN, X_OK);
}

static int
s_group_teardown(void **state)
{
    int rc = 0;

    while (s_nmounts > 0)
        if (umount2(s_mounts[--s_nmounts], MNT_DETACH) != 0) {
            fprintf(stderr, "test_disk: cannot unmount %s: %s\n", s_mounts[s_nmounts],
                    strerror(errno));
            rc = -1;
        }
    if (adt_root_remove())
        rc = -1;
    return rc;
}

/*
 * A small tmpfs is the only honest full disk.  Not root (a developer's machine): the
 * whole file is reported as skipped by ctest (status 77, SKIP_RETURN_CODE) with the
 * reason.  Root but mounting fails: that is a broken environment, and a failure.
 */
static int
s_can_mount(void)
{
    char dir[] = "/tmp/test_disk_probe.XXXXXX";
    int rc;

    if (geteuid() != 0) {
        printf("test_disk: SKIPPED: mounting a small tmpfs needs root; CI runs ctest as root\n");
        return 77;
    }
    if (!mkdtemp(dir)) {
        printf("test_disk: FAILED: mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    rc = mount("tmpfs", dir, "tmpfs", 0, "size=64k");
    if (rc != 0)
        printf("test_disk: FAILED: running as root but cannot mount a tmpfs on %s: %s\n", dir,
               strerror(errno));
    else
        umount2(dir, MNT_DETACH);
    rmdir(dir);
    return rc ? 1 : 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_disk_fails_cleanly),
        cmocka_unit_test(test_previous_checkpoint_survives),
        cmocka_unit_test(test_state_json_full),
        cmocka_unit_test(test_metrics_full),
        cmocka_unit_test(test_retention),
        cmocka_unit_test(test_resume_falls_back),
        cmocka_unit_test(test_resume_old_layout),
        cmocka_unit_test(test_free_space_on_tmpfs),
    };
    int rc = s_can_mount();

    if (rc)
        return rc;
    if (getenv("AD_TEST_FILTER"))
        cmocka_set_test_filter(getenv("AD_TEST_FILTER"));
    return cmocka_run_group_tests(tests, s_group_setup, s_group_teardown);
}
