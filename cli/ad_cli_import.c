/* ad_cli_import.c - `autodist import FILE.csv`: logged runs from elsewhere into the store */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad_cli.h"
#include "autodist/ad_hash.h"
#include "autodist/ad_opt.h"
#include "autodist/ad_store.h"

/*
 * The columns of DESIGN §7 (contract): the first nine are required, the
 * others optional; any order, one header line.  batch_size is the global
 * batch.
 */
enum {
    C_MODEL,
    C_DATASET,
    C_HARDWARE,
    C_NODES,
    C_PPN,
    C_TPP,
    C_DEVICE,
    C_BATCH,
    C_SAMPLES,
    C_STEP,
    C_COMM,
    C_PARAMS,
    C_STATE,
    C_PROBE,
    C_COUNT
};
#define S_REQUIRED C_STEP

static const char *const s_columns[C_COUNT] = {
    "model",         "dataset",     "hardware",    "nodes",       "procs_per_node",
    "threads_per_proc", "device",   "batch_size",  "samples_per_s", "step_time_s",
    "comm_time_s",   "params",      "state",       "probe",
};

/*
 * The other columns of `autodist runs --csv`: a file it wrote imports as it is
 * (these are the store's own, measured again or derived); its rows whose state
 * is not COMPLETED are left out.
 */
static const char *const s_runs_csv_only[] = {
    "id",         "job",         "sweep",      "config_hash", "started",    "ended",
    "epoch_time_s", "accuracy",  "baseline",   "speedup",     "sps_sd",     "sps_steps",
    "speedup_lo", "speedup_hi",  "flags",      "load_other", "cpu_time_s",
    "max_rss_bytes", "name",     "note",       "tags",        "hardware_name",
};

/* One CSV record split into fields (RFC 4180: quotes, "" inside quotes). */
typedef struct record {
    char **f;
    size_t n, cap;
} record_t;

static void
s_record_clear(record_t *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->f[i]);
    r->n = 0;
}

static void
s_record_push(record_t *r, const char *s, size_t len)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 16;
        r->f = realloc(r->f, r->cap * sizeof(*r->f));
        if (!r->f)
            ad_oom(r->cap * sizeof(*r->f));
    }
    r->f[r->n] = ad_malloc(len + 1);
    memcpy(r->f[r->n], s, len);
    r->f[r->n][len] = '\0';
    r->n++;
}

/*
 * Split one line (no newline) into r.  Returns 0, or -1 with *col the
 * 1-based column of an unterminated quote.
 */
static int
s_split(const char *line, record_t *r, size_t *col)
{
    size_t len = strlen(line), i = 0;
    char *buf = ad_malloc(len + 1);

    s_record_clear(r);
    for (;;) {
        size_t n = 0;

        if (line[i] == '"') {
            size_t start = i++;

            for (;;) {
                if (!line[i]) {
                    free(buf);
                    *col = start + 1;
                    return -1;
                }
                if (line[i] == '"' && line[i + 1] == '"') {
                    buf[n++] = '"';
                    i += 2;
                } else if (line[i] == '"') {
                    i++;
                    break;
                } else {
                    buf[n++] = line[i++];
                }
            }
            while (line[i] && line[i] != ',')
                buf[n++] = line[i++];
        } else {
            while (line[i] && line[i] != ',')
                buf[n++] = line[i++];
        }
        while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
            n--;
        {
            size_t skip = 0;

            while (skip < n && (buf[skip] == ' ' || buf[skip] == '\t'))
                skip++;
            s_record_push(r, buf + skip, n - skip);
        }
        if (!line[i])
            break;
        i++; /* the comma */
    }
    free(buf);
    return 0;
}

/* What import reads from a file before anything is written. */
typedef struct import {
    const char *path;
    ad_run_t *runs;
    size_t n, cap;
    size_t not_completed; /* rows of `runs --csv` whose state is not COMPLETED: left out */
} import_t;

static int
s_bad(const import_t *im, size_t line, const char *col, const char *fmt, const char *value)
{
    char what[256];

    snprintf(what, sizeof(what), fmt, value);
    return ad_cli_fail(AD_CLI_EXIT_USAGE, "%s:%zu: %s: %s", im->path, line, col, what);
}

static int
s_int(const import_t *im, size_t line, int c, const char *v, int64_t min, int64_t max,
      int64_t *out)
{
    ad_err_t err;
    char fmt[128];

    if (!ad_opt_int(s_columns[c], v, min, max, AD_OPT_DOTS, out, &err))
        return 0;
    snprintf(fmt, sizeof(fmt), "expected an integer in %lld..%lld, got \"%%s\"", (long long)min,
             (long long)max);
    return s_bad(im, line, s_columns[c], fmt, v);
}

/* A number > 0 (positive) or >= 0; "" is NaN when optional. */
static int
s_num(const import_t *im, size_t line, int c, const char *v, bool positive, bool optional,
      double *out)
{
    char *end;
    double x;

    if (!*v && optional) {
        *out = NAN;
        return 0;
    }
    errno = 0;
    x = strtod(v, &end);
    if (!*v || *end || errno || !isfinite(x))
        return s_bad(im, line, s_columns[c], "expected a number, got \"%s\"", v);
    if (positive ? x <= 0 : x < 0)
        return s_bad(im, line, s_columns[c],
                     positive ? "must be positive, got %s" : "must not be negative, got %s", v);
    *out = x;
    return 0;
}

static int
s_text(const import_t *im, size_t line, int c, const char *v)
{
    if (!*v)
        return s_bad(im, line, s_columns[c], "is empty%s", "");
    if (strlen(v) > 255)
        return s_bad(im, line, s_columns[c], "is longer than 255 bytes%s", "");
    return 0;
}

/*
 * The import key of a run read from a row: a hash of its normalised content
 * (every column as it was parsed, numbers printed back with 17 digits), so
 * the same row imported again, in any column order or spelling of its
 * numbers, is found and skipped (runs.import_key, docs/store.md).
 */
static void
s_import_key(const ad_run_t *r, char out[24])
{
    char text[1024];
    uint64_t h;

    snprintf(text, sizeof(text),
             "%s\x1f%s\x1f%s\x1f%d\x1f%d\x1f%d\x1f%s\x1f%lld\x1f%.17g\x1f%.17g\x1f%.17g"
             "\x1f%lld",
             r->model, r->dataset, r->hardware, r->nodes, r->procs_per_node, r->threads_per_proc,
             r->device, (long long)r->batch_size, r->samples_per_s, r->step_time_s, r->comm_time_s,
             (long long)r->params);
    h = ad_hash_mix64(ad_hash_fnv1a64(text));
    snprintf(out, 24, "csv1:%016llx", (unsigned long long)h);
}

/* Turn data line `line` (fields in r, column map idx) into a run. */
static int
s_row(import_t *im, size_t line, const record_t *r, const int *idx, ad_run_t *run)
{
    const char *v[C_COUNT];
    int64_t x;
    int rc;

    for (int c = 0; c < C_COUNT; c++)
        v[c] = idx[c] >= 0 ? r->f[idx[c]] : "";
    ad_store_run_init(run);
    run->state = AD_JOB_COMPLETED;
    for (int c = C_MODEL; c <= C_HARDWARE; c++)
        if ((rc = s_text(im, line, c, v[c])))
            return rc;
    if ((rc = s_int(im, line, C_NODES, v[C_NODES], 1, 100000, &x)))
        return rc;
    run->nodes = (int)x;
    if ((rc = s_int(im, line, C_PPN, v[C_PPN], 1, 4096, &x)))
        return rc;
    run->procs_per_node = (int)x;
    if ((rc = s_int(im, line, C_TPP, v[C_TPP], 1, 4096, &x)))
        return rc;
    run->threads_per_proc = (int)x;
    if (strcmp(v[C_DEVICE], "cpu") && strcmp(v[C_DEVICE], "gpu"))
        return s_bad(im, line, "device", "expected cpu or gpu, got \"%s\"", v[C_DEVICE]);
    if ((rc = s_int(im, line, C_BATCH, v[C_BATCH], 1, INT32_MAX, &run->batch_size)))
        return rc;
    if ((rc = s_num(im, line, C_SAMPLES, v[C_SAMPLES], true, false, &run->samples_per_s)) ||
        (rc = s_num(im, line, C_STEP, v[C_STEP], true, true, &run->step_time_s)) ||
        (rc = s_num(im, line, C_COMM, v[C_COMM], false, true, &run->comm_time_s)))
        return rc;
    if (*v[C_PARAMS] && (rc = s_int(im, line, C_PARAMS, v[C_PARAMS], 1, INT64_MAX, &run->params)))
        return rc;
    /* A `layout: auto` probe stays one: never a baseline (docs/speedup.md). */
    if (*v[C_PROBE] && (rc = s_int(im, line, C_PROBE, v[C_PROBE], 0, 1, &x)))
        return rc;
    run->probe = *v[C_PROBE] && x == 1;
    run->model = ad_strdup(v[C_MODEL]);
    run->dataset = ad_strdup(v[C_DATASET]);
    run->hardware = ad_strdup(v[C_HARDWARE]);
    run->device = ad_strdup(v[C_DEVICE]);
    return 0;
}

static bool
s_runs_csv_column(const char *name)
{
    for (size_t i = 0; i < sizeof(s_runs_csv_only) / sizeof(s_runs_csv_only[0]); i++)
        if (!strcmp(name, s_runs_csv_only[i]))
            return true;
    return false;
}

/*
 * Map the header's names to columns; every required one must be there, no
 * unknown one (the other columns of `autodist runs --csv` are passed over).
 */
static int
s_header(const import_t *im, size_t line, const record_t *r, int *idx)
{
    char missing[512] = "";

    for (int c = 0; c < C_COUNT; c++)
        idx[c] = -1;
    for (size_t i = 0; i < r->n; i++) {
        int c;

        for (c = 0; c < C_COUNT && strcmp(r->f[i], s_columns[c]); c++)
            ;
        if (c == C_COUNT && s_runs_csv_column(r->f[i]))
            continue;
        if (c == C_COUNT)
            return ad_cli_fail(
                AD_CLI_EXIT_USAGE,
                "%s:%zu: unknown column \"%s\" in the header (the columns are model, dataset, "
                "hardware, nodes, procs_per_node, threads_per_proc, device, "
                "batch_size, samples_per_s and optionally step_time_s, "
                "comm_time_s, params, state, probe; or a file of autodist runs --csv)",
                im->path, line, r->f[i]);
        if (idx[c] >= 0)
            return ad_cli_fail(AD_CLI_EXIT_USAGE,
                               "%s:%zu: column \"%s\" appears twice in the header", im->path, line,
                               r->f[i]);
        idx[c] = (int)i;
    }
    for (int c = 0; c < S_REQUIRED; c++)
        if (idx[c] < 0)
            snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), "%s%s",
                     missing[0] ? ", " : "", s_columns[c]);
    if (missing[0])
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "%s:%zu: the header lacks column(s) %s", im->path,
                           line, missing);
    return 0;
}

static void
s_import_clear(import_t *im)
{
    for (size_t i = 0; i < im->n; i++)
        ad_store_run_clear(&im->runs[i]);
    free(im->runs);
    im->runs = NULL;
    im->n = im->cap = 0;
}

/* Read and check the whole file.  Returns 0 or an exit status (the error printed). */
static int
s_read(import_t *im)
{
    record_t r = {0};
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    int idx[C_COUNT], rc = 0;
    bool header = false;
    ssize_t len;
    FILE *f;

    f = fopen(im->path, "r");
    if (!f)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "%s: %s", im->path, strerror(errno));
    while ((len = getline(&line, &cap, f)) >= 0) {
        size_t col;

        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0 || line[0] == '#')
            continue;
        if (s_split(line, &r, &col)) {
            rc = ad_cli_fail(AD_CLI_EXIT_USAGE, "%s:%zu:%zu: a quoted field is not closed",
                             im->path, lineno, col);
            break;
        }
        if (!header) {
            /* The header is the first record (blank lines and # comments may precede it). */
            rc = s_header(im, lineno, &r, idx);
            if (rc)
                break;
            header = true;
            continue;
        }
        {
            int maxidx = 0;

            for (int c = 0; c < C_COUNT; c++)
                if (idx[c] > maxidx)
                    maxidx = idx[c];
            if (r.n <= (size_t)maxidx) {
                rc = ad_cli_fail(AD_CLI_EXIT_USAGE, "%s:%zu: %zu field(s), the header has more",
                                 im->path, lineno, r.n);
                break;
            }
        }
        if (idx[C_STATE] >= 0 && strcmp(r.f[idx[C_STATE]], "COMPLETED")) {
            im->not_completed++;
            continue;
        }
        if (im->n == im->cap) {
            im->cap = im->cap ? 2 * im->cap : 256;
            im->runs = realloc(im->runs, im->cap * sizeof(*im->runs));
            if (!im->runs)
                ad_oom(im->cap * sizeof(*im->runs));
        }
        rc = s_row(im, lineno, &r, idx, &im->runs[im->n]);
        if (rc) {
            ad_store_run_clear(&im->runs[im->n]);
            break;
        }
        im->n++;
    }
    if (!rc && ferror(f))
        rc = ad_cli_fail(AD_CLI_EXIT_USAGE, "%s: %s", im->path, strerror(errno));
    if (!rc && !header)
        rc = ad_cli_fail(AD_CLI_EXIT_USAGE, "%s: empty file, expected a header line", im->path);
    s_record_clear(&r);
    free(r.f);
    free(line);
    fclose(f);
    return rc;
}

int
ad_cli_import(ad_cli_t *cli, int argc, char **argv)
{
    static const struct option longs[] = {{"dry-run", no_argument, NULL, 'n'},
                                          {NULL, 0, NULL, 0}};
    const ad_home_t *home;
    ad_store_t *store = NULL;
    import_t im = {0};
    ad_err_t err = {0};
    bool dry = false;
    const char *arg;
    size_t skipped = 0;
    int c, rc;

    while ((c = ad_cli_getopt(cli, argc, argv, longs, &arg)) != AD_CLI_OPT_END) {
        if (c == AD_CLI_OPT_HELP)
            return AD_CLI_EXIT_OK;
        if (c == AD_CLI_OPT_ERROR)
            return AD_CLI_EXIT_USAGE;
        if (c == 'n')
            dry = true;
    }
    if (optind != argc - 1)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "import: give one CSV file (autodist import "
                                              "FILE.csv)");
    im.path = argv[optind];
    rc = s_read(&im);
    if (rc)
        goto out;
    if (dry) {
        if (cli->json) {
            json_t *o = json_pack("{s:s s:I s:b}", "file", im.path, "runs", (json_int_t)im.n,
                                  "dry_run", 1);

            ad_cli_print_json(o);
            json_decref(o);
        } else {
            printf("%s: %zu runs, all valid (nothing written: --dry-run)\n", im.path, im.n);
        }
        goto out;
    }
    home = ad_cli_home(cli);
    if (!home) {
        rc = AD_CLI_EXIT_USAGE;
        goto out;
    }
    if (ad_home_ensure(home, &err) || ad_store_open(home->db, AD_STORE_CREATE, &store, &err)) {
        rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", err.msg);
        goto out;
    }
    /* One transaction: every run or none; a row imported before (same key) is skipped. */
    rc = ad_store_begin(store);
    for (size_t i = 0; !rc && i < im.n; i++) {
        char key[24];
        bool seen = false;
        int64_t id;

        s_import_key(&im.runs[i], key);
        rc = ad_store_import_key_exists(store, key, &seen);
        if (!rc && seen) {
            skipped++;
            continue;
        }
        if (!rc)
            rc = ad_store_add_run(store, &im.runs[i], &id);
        if (!rc)
            rc = ad_store_set_import_key(store, id, key);
    }
    if (rc) {
        char msg[512];

        snprintf(msg, sizeof(msg), "%s", ad_store_errmsg(store));
        ad_store_rollback(store);
        rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "import of %s failed, nothing imported: %s", im.path,
                         msg);
        goto out;
    }
    if (ad_store_commit(store)) {
        rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "import of %s failed, nothing imported: %s", im.path,
                         ad_store_errmsg(store));
        goto out;
    }
    if (cli->json) {
        json_t *o = json_pack("{s:s s:I s:I s:I s:s}", "file", im.path, "imported",
                              (json_int_t)(im.n - skipped), "skipped", (json_int_t)skipped,
                              "not_completed", (json_int_t)im.not_completed, "store", home->db);

        ad_cli_print_json(o);
        json_decref(o);
    } else {
        printf("imported %zu runs from %s into %s", im.n - skipped, im.path, home->db);
        if (skipped)
            printf("; skipped %zu row%s already imported", skipped, skipped == 1 ? "" : "s");
        if (im.not_completed)
            printf("; left out %zu row%s not COMPLETED", im.not_completed,
                   im.not_completed == 1 ? "" : "s");
        printf("\n");
    }
out:
    ad_store_close(&store);
    s_import_clear(&im);
    return rc;
}
