/* ad_cli_models.c - `autodist export`, `optimize` and `models`: inference artifacts and figures */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ad_cli.h"
#include "autodist/ad_proc.h"

/*
 * The autodist command never links libtorch (docs/architecture.md): the work
 * on artifacts is done by autodist-model, found next to this executable, which
 * prints one JSON object per verb.  These commands resolve runs and models in
 * HOME/runs.db, spawn it, and keep one row per artifact in the models table
 * (docs/inference.md).
 */

enum {
    S_OPT_OUT = 'o',
    S_OPT_NO_MEASURE = 256,
    S_OPT_THREADS,
    S_OPT_NAME,
    S_OPT_DATA_DIR,
    S_OPT_IMAGE_SIZE,
    S_OPT_INT8,
    S_OPT_CALIBRATE,
    S_OPT_PRUNE,
    S_OPT_STRUCTURED,
    S_OPT_FINETUNE,
    S_OPT_COMPARE,
    S_OPT_RUNS,
    S_OPT_LOCAL,
    S_OPT_LAYOUT,
    S_OPT_SET,
};

/* What export and optimize measure with. */
typedef struct {
    bool no_measure; /* --no-measure */
    int64_t threads; /* --threads */
    int64_t runs;    /* --runs: batch-1 runs of the latency */
} s_measure_opts_t;

/* ---- autodist-model ------------------------------------------------------------------- */

/*
 * Run autodist-model with args (NULL-terminated, after the program), its
 * stderr passed through, its stdout parsed as one JSON object into *out.
 * Returns 0, or an exit status after the error was printed (by it or here).
 */
static int
s_model_run(const char *const *args, json_t **out)
{
    char exe[PATH_MAX], buf[4096], *text = NULL;
    const char *argv[32];
    size_t len = 0, n = 0;
    int fds[2], st = 0;
    json_error_t je;
    pid_t pid;
    ssize_t r;

    *out = NULL;
    if (!ad_proc_sibling("autodist-model", exe, sizeof(exe)))
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "autodist-model is not next to this autodist "
                                              "executable; build or install it beside");
    argv[n++] = exe;
    for (size_t i = 0; args[i] && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    if (pipe(fds))
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "pipe: %s", strerror(errno));
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0)
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "fork: %s", strerror(errno));
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execv(exe, (char *const *)argv);
        fprintf(stderr, "autodist: %s: %s\n", exe, strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    while ((r = read(fds[0], buf, sizeof(buf))) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            break;
        text = ad_realloc(text, len + (size_t)r + 1);
        memcpy(text + len, buf, (size_t)r);
        len += (size_t)r;
        text[len] = '\0';
    }
    close(fds[0]);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        free(text);
        if (WIFSIGNALED(st))
            return ad_cli_fail(AD_CLI_EXIT_ERROR, "autodist-model %s died of signal %d", args[0],
                               WTERMSIG(st));
        return AD_CLI_EXIT_ERROR;
    }
    *out = text ? json_loads(text, 0, &je) : NULL;
    free(text);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "autodist-model %s printed no JSON object", args[0]);
    }
    return 0;
}

/* This node's name, for the hardware column. */
static void
s_hostname(char *buf, size_t size)
{
    if (gethostname(buf, size) != 0)
        snprintf(buf, size, "-");
    buf[size - 1] = '\0';
}

/*
 * Measure artifact path's latency (autodist-model measure --record) into
 * row's figures.  Returns 0 or an exit status.
 */
static int
s_latency(const char *path, const s_measure_opts_t *mo, ad_model_row_t *row)
{
    char threads[24], runs[24], host[256];
    const char *meas[] = {"measure", path, "--record",      "--threads", threads,
                          "--runs",  runs, "--expect-arch", row->arch,   NULL};
    json_t *r = NULL;
    int rc;

    snprintf(threads, sizeof(threads), "%" PRId64, mo->threads);
    snprintf(runs, sizeof(runs), "%" PRId64, mo->runs);
    rc = s_model_run(meas, &r);
    if (rc)
        return rc;
    row->p50_ms = ad_cli_jnum(r, "p50_ms", NAN);
    row->p95_ms = ad_cli_jnum(r, "p95_ms", NAN);
    row->tput_b32 = ad_cli_jnum(r, "tput_b32", NAN);
    row->threads = (int)ad_cli_jint(r, "threads", 0);
    row->size_bytes = ad_cli_jint(r, "size_bytes", row->size_bytes);
    row->params = ad_cli_jint(r, "params", row->params);
    free(row->backend);
    row->backend = ad_cli_jstr(r, "backend") ? ad_strdup(ad_cli_jstr(r, "backend")) : NULL;
    s_hostname(host, sizeof(host));
    free(row->hardware);
    row->hardware = ad_strdup(host);
    row->measured = ad_cli_now();
    json_decref(r);
    return 0;
}

/*
 * Evaluate and measure artifact path (autodist-model eval/measure --record)
 * into row's figures.  Returns 0 or an exit status.
 */
static int
s_measure(const char *path, const s_measure_opts_t *mo, ad_model_row_t *row)
{
    const char *eval[] = {"eval", path, "--record", "--expect-arch", row->arch, NULL};
    json_t *r = NULL;
    int rc;

    rc = s_model_run(eval, &r);
    if (rc)
        return rc;
    row->accuracy = ad_cli_jnum(r, "accuracy", NAN);
    row->test_samples = ad_cli_jint(r, "n", 0);
    json_decref(r);
    return s_latency(path, mo, row);
}

/* HOME/runs.db opened for writing (created with the home when missing).  0 or an exit status. */
static int
s_open_rw(ad_cli_t *cli, ad_store_t **store)
{
    const ad_home_t *home = ad_cli_home(cli);
    ad_err_t err = {0};

    *store = NULL;
    if (!home)
        return AD_CLI_EXIT_ERROR;
    if (ad_home_ensure(home, &err) || ad_store_open(home->db, AD_STORE_CREATE, store, &err))
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", err.msg);
    return 0;
}

/* ---- formatting ----------------------------------------------------------------------- */

static char *
s_fmt_size(int64_t bytes, char *buf, size_t size)
{
    if (bytes <= 0)
        snprintf(buf, size, "-");
    else if (bytes < 1024 * 1024)
        snprintf(buf, size, "%.1f KiB", (double)bytes / 1024);
    else
        snprintf(buf, size, "%.1f MiB", (double)bytes / (1024.0 * 1024));
    return buf;
}

static char *
s_fmt_real(double v, const char *fmt, char *buf, size_t size)
{
    if (isnan(v))
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, fmt, v);
    return buf;
}

static char *
s_fmt_int(int64_t v, char *buf, size_t size)
{
    if (v <= 0)
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%" PRId64, v);
    return buf;
}

/* Whether row's folder still holds model.json. */
static bool
s_present(const ad_model_row_t *m)
{
    char p[PATH_MAX];

    snprintf(p, sizeof(p), "%s/model.json", m->path);
    return access(p, R_OK) == 0;
}

/* A row as JSON (a new object). */
static json_t *
s_row_json(const ad_model_row_t *m)
{
    json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:b}", "id", (json_int_t)m->id, "name",
                          m->name, "path", m->path, "arch", m->arch, "variant", m->variant,
                          "missing", !s_present(m));
    struct {
        const char *key;
        double v;
    } reals[] = {{"accuracy", m->accuracy}, {"p50_ms", m->p50_ms},   {"p95_ms", m->p95_ms},
                 {"tput_b32", m->tput_b32}, {"created", m->created}, {"measured", m->measured}};
    struct {
        const char *key;
        int64_t v;
    } ints[] = {{"parent", m->parent},
                {"run", m->run},
                {"size_bytes", m->size_bytes},
                {"params", m->params},
                {"test_samples", m->test_samples},
                {"threads", m->threads}};

    for (size_t i = 0; i < sizeof(reals) / sizeof(reals[0]); i++)
        json_object_set_new(o, reals[i].key,
                            isnan(reals[i].v) ? json_null() : json_real(reals[i].v));
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
        json_object_set_new(o, ints[i].key, ints[i].v > 0 ? json_integer(ints[i].v) : json_null());
    json_object_set_new(o, "backend", m->backend ? json_string(m->backend) : json_null());
    json_object_set_new(o, "hardware", m->hardware ? json_string(m->hardware) : json_null());
    return o;
}

static const char *const s_list_heads[] = {"ID",   "NAME",   "VARIANT", "ARCH",  "SIZE",   "PARAMS",
                                           "ACC%", "P50_MS", "P95_MS",  "B32/S", "PARENT", "STATE"};

/* Add row m to a table of s_list_heads. */
static void
s_list_add(ad_cli_table_t *t, const ad_model_row_t *m)
{
    char id[24], size[32], params[24], acc[24], p50[24], p95[24], tput[24], parent[24];
    const char *cells[12];

    snprintf(id, sizeof(id), "%" PRId64, m->id);
    cells[0] = id;
    cells[1] = m->name;
    cells[2] = m->variant;
    cells[3] = m->arch;
    cells[4] = s_fmt_size(m->size_bytes, size, sizeof(size));
    cells[5] = s_fmt_int(m->params, params, sizeof(params));
    cells[6] = s_fmt_real(m->accuracy * 100, "%.2f", acc, sizeof(acc));
    cells[7] = s_fmt_real(m->p50_ms, "%.3f", p50, sizeof(p50));
    cells[8] = s_fmt_real(m->p95_ms, "%.3f", p95, sizeof(p95));
    cells[9] = ad_cli_fmt_rate(m->tput_b32, tput, sizeof(tput));
    cells[10] = s_fmt_int(m->parent, parent, sizeof(parent));
    cells[11] = s_present(m) ? "ok" : "missing";
    ad_cli_table_add(t, cells);
}

static const char *const s_cmp_heads[] = {"ID",    "NAME",  "VARIANT", "SIZE",  "SIZE_X",
                                          "ACC%",  "ACC_D", "P50_MS",  "P50_X", "P95_MS",
                                          "B32/S", "B32_X", "STATE"};

/* Add row m of a compare table: its ratios against parent p (p == m: the parent's own row). */
static void
s_cmp_add(ad_cli_table_t *t, const ad_model_row_t *m, const ad_model_row_t *p)
{
    char id[24], size[32], sx[24], acc[24], accd[24], p50[24], p50x[24], p95[24], tput[24],
        tputx[24];
    const char *cells[13];
    bool self = m == p;

    snprintf(id, sizeof(id), "%" PRId64, m->id);
    cells[0] = id;
    cells[1] = m->name;
    cells[2] = m->variant;
    cells[3] = s_fmt_size(m->size_bytes, size, sizeof(size));
    cells[4] = self || m->size_bytes <= 0 || p->size_bytes <= 0
                   ? "1.00x"
                   : s_fmt_real((double)p->size_bytes / m->size_bytes, "%.2fx", sx, sizeof(sx));
    cells[5] = s_fmt_real(m->accuracy * 100, "%.2f", acc, sizeof(acc));
    cells[6] =
        self ? "-" : s_fmt_real((m->accuracy - p->accuracy) * 100, "%+.2f", accd, sizeof(accd));
    cells[7] = s_fmt_real(m->p50_ms, "%.3f", p50, sizeof(p50));
    cells[8] = self ? "1.00x" : s_fmt_real(p->p50_ms / m->p50_ms, "%.2fx", p50x, sizeof(p50x));
    cells[9] = s_fmt_real(m->p95_ms, "%.3f", p95, sizeof(p95));
    cells[10] = ad_cli_fmt_rate(m->tput_b32, tput, sizeof(tput));
    cells[11] =
        self ? "1.00x" : s_fmt_real(m->tput_b32 / p->tput_b32, "%.2fx", tputx, sizeof(tputx));
    cells[12] = s_present(m) ? "ok" : "missing";
    ad_cli_table_add(t, cells);
}

/*
 * The compare table (or JSON) of the fp32 parents among rows[0..n) and their
 * variants: only parent only_id's family when only_id > 0.
 */
static void
s_compare_print(ad_cli_t *cli, const ad_model_row_t *rows, size_t n, int64_t only_id)
{
    ad_cli_table_t *t = ad_cli_table_new(13, s_cmp_heads);
    json_t *groups = json_array();

    for (size_t i = 0; i < n; i++) {
        const ad_model_row_t *p = &rows[i];
        json_t *g, *vars;

        if (p->parent > 0 || (only_id > 0 && p->id != only_id))
            continue;
        s_cmp_add(t, p, p);
        vars = json_array();
        g = json_pack("{s:o, s:o}", "parent", s_row_json(p), "variants", vars);
        for (size_t j = 0; j < n; j++) {
            const ad_model_row_t *m = &rows[j];
            json_t *v;

            if (m->parent != p->id)
                continue;
            s_cmp_add(t, m, p);
            v = s_row_json(m);
            json_object_set_new(v, "size_x",
                                m->size_bytes > 0 && p->size_bytes > 0
                                    ? json_real((double)p->size_bytes / m->size_bytes)
                                    : json_null());
            json_object_set_new(v, "p50_speedup",
                                isnan(m->p50_ms / p->p50_ms) ? json_null()
                                                             : json_real(p->p50_ms / m->p50_ms));
            json_object_set_new(v, "accuracy_delta_points",
                                isnan(m->accuracy - p->accuracy)
                                    ? json_null()
                                    : json_real((m->accuracy - p->accuracy) * 100));
            json_array_append_new(vars, v);
        }
        json_array_append_new(groups, g);
    }
    if (cli->json) {
        json_t *doc = json_pack("{s:o}", "groups", groups);

        ad_cli_print_json(doc);
        json_decref(doc);
    } else {
        json_decref(groups);
        if (ad_cli_table_rows(t))
            ad_cli_table_print(t, stdout);
        else
            printf("no models to compare (autodist export makes one)\n");
    }
    ad_cli_table_free(&t);
}

/* The list of rows as a table or JSON. */
static void
s_list_print(ad_cli_t *cli, const ad_model_row_t *rows, size_t n)
{
    if (cli->json) {
        json_t *arr = json_array(), *doc;

        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, s_row_json(&rows[i]));
        doc = json_pack("{s:o}", "models", arr);
        ad_cli_print_json(doc);
        json_decref(doc);
        return;
    }
    if (!n) {
        printf("no models yet: autodist export RUN -o DIR makes one\n");
        return;
    }
    ad_cli_table_t *t = ad_cli_table_new(12, s_list_heads);

    for (size_t i = 0; i < n; i++)
        s_list_add(t, &rows[i]);
    ad_cli_table_print(t, stdout);
    ad_cli_table_free(&t);
}

/* ---- export --------------------------------------------------------------------------- */

/* Where an export comes from: a run of the store or a checkpoint folder. */
typedef struct {
    int64_t run;         /* the run; 0 for a folder */
    int64_t job;         /* its job; 0 unknown */
    char ckpt[PATH_MAX]; /* the checkpoint folder, absolute */
    char *args[24];      /* dataset options for autodist-model export (owned) */
    int nargs;           /* how many */
    char label[256];     /* the run's dataset label ("fashion-mnist", "imagefolder-x-224") */
} s_source_t;

static void s_source_arg(s_source_t *s, const char *opt, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
s_source_arg(s_source_t *s, const char *opt, const char *fmt, ...)
{
    char buf[PATH_MAX + 32];
    va_list ap;

    if (s->nargs + 2 >= (int)(sizeof(s->args) / sizeof(s->args[0])))
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    s->args[s->nargs++] = ad_strdup(opt);
    s->args[s->nargs++] = ad_strdup(buf);
}

/* The dataset options of a run's job spec (what autodist-train was given). */
static int
s_source_spec(s_source_t *s, const char *spec)
{
    ad_job_t job;
    ad_err_t err = {0};

    if (!spec || ad_job_from_json(spec, &job, &err))
        return 0; /* an old run without a spec: state.json's dataset and defaults */
    s_source_arg(s, "--dataset", "%s", ad_job_dataset_name(job.dataset.kind));
    if (job.dataset.kind == AD_JOB_DATA_SYNTHETIC) {
        s_source_arg(s, "--input-shape", "%dx%dx%d", job.dataset.channels, job.dataset.height,
                     job.dataset.width);
        s_source_arg(s, "--classes", "%d", job.dataset.classes);
        s_source_arg(s, "--samples", "%" PRId64, job.dataset.samples);
    } else if (job.dataset.kind == AD_JOB_DATA_IMAGEFOLDER) {
        s_source_arg(s, "--data-dir", "%s", job.dataset.path ? job.dataset.path : "");
        s_source_arg(s, "--image-size", "%d", job.dataset.image_size);
    } else if (job.data_dir) {
        s_source_arg(s, "--data-dir", "%s", job.data_dir);
    }
    s_source_arg(s, "--seed", "%" PRId64, job.seed);
    ad_job_clear(&job);
    return 0;
}

/* RUN (digits) or a checkpoint folder into s.  Returns 0 or an exit status. */
static int
s_source_resolve(ad_cli_t *cli, ad_store_t *store, const char *arg, s_source_t *s)
{
    char state[PATH_MAX + 16];
    int64_t id;
    ad_run_t run = {0};
    int rc;

    memset(s, 0, sizeof(*s));
    if (strspn(arg, "0123456789") != strlen(arg)) {
        if (!realpath(arg, s->ckpt))
            return ad_cli_fail(AD_CLI_EXIT_USAGE,
                               "export: %s: %s (give a run id or a "
                               "checkpoint folder)",
                               arg, strerror(errno));
    } else {
        if ((rc = ad_cli_parse_int("a run id", arg, 1, INT64_MAX, &id)))
            return rc;
        if (ad_store_get_run(store, id, &run))
            return ad_cli_fail(AD_CLI_EXIT_ERROR, "export: %s", ad_store_errmsg(store));
        s->run = id;
        s->job = run.job;
        snprintf(s->label, sizeof(s->label), "%s", run.dataset ? run.dataset : "");
        if (!run.job) {
            ad_store_run_clear(&run);
            return ad_cli_fail(AD_CLI_EXIT_ERROR,
                               "export: run %" PRId64 " has no checkpoint "
                               "(it was imported or ran without a job)",
                               id);
        }
        snprintf(s->ckpt, sizeof(s->ckpt), "%s/%" PRId64, ad_cli_home(cli)->checkpoints, run.job);
        if (run.spec) {
            s_source_spec(s, run.spec);
        } else { /* a run the coordinator has not given its job's spec: the job's own */
            ad_job_row_t jrow;

            ad_store_job_row_init(&jrow);
            if (ad_store_get_job(store, run.job, &jrow) == 0)
                s_source_spec(s, jrow.spec);
            ad_store_job_row_clear(&jrow);
        }
        ad_store_run_clear(&run);
    }
    snprintf(state, sizeof(state), "%s/state.json", s->ckpt);
    if (access(state, R_OK) != 0) {
        if (s->run)
            return ad_cli_fail(AD_CLI_EXIT_ERROR,
                               "export: run %" PRId64 " has no checkpoint "
                               "(%s: %s)",
                               s->run, state, strerror(errno));
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "export: %s: %s (not a checkpoint folder)", state,
                           strerror(errno));
    }
    return 0;
}

static void
s_source_clear(s_source_t *s)
{
    for (int i = 0; i < s->nargs; i++)
        free(s->args[i]);
    s->nargs = 0;
}

/* The meta autodist export gives autodist-model: the source run, job and dataset label. */
static char *
s_export_meta(const s_source_t *s)
{
    json_t *src = json_object(), *meta;
    char *text;

    if (s->run)
        json_object_set_new(src, "run", json_integer(s->run));
    if (s->job)
        json_object_set_new(src, "job", json_integer(s->job));
    if (s->label[0])
        json_object_set_new(src, "dataset_label", json_string(s->label));
    meta = json_pack("{s:o}", "source", src);
    text = json_dumps(meta, JSON_COMPACT);
    json_decref(meta);
    return text;
}

/* Print the row of a new artifact: a short summary, or its JSON. */
static void
s_print_row(ad_cli_t *cli, const ad_model_row_t *m, const char *verb)
{
    char size[32], acc[24], p50[24], p95[24], tput[24];

    if (cli->json) {
        json_t *o = s_row_json(m);

        ad_cli_print_json(o);
        json_decref(o);
        return;
    }
    printf("%s model %" PRId64 " (%s, %s %s): %s\n", verb, m->id, m->name, m->arch, m->variant,
           m->path);
    if (isnan(m->accuracy) && isnan(m->p50_ms)) {
        printf("  size %s, %" PRId64 " params; accuracy and latency not measured (--no-measure)\n",
               s_fmt_size(m->size_bytes, size, sizeof(size)), m->params);
        return;
    }
    printf("  size %s, %" PRId64 " params, test accuracy %s%% (%" PRId64 " samples)\n",
           s_fmt_size(m->size_bytes, size, sizeof(size)), m->params,
           s_fmt_real(m->accuracy * 100, "%.2f", acc, sizeof(acc)), m->test_samples);
    printf("  batch 1: p50 %s ms, p95 %s ms; batch 32: %s samples/s (%d thread%s, %s)\n",
           s_fmt_real(m->p50_ms, "%.3f", p50, sizeof(p50)),
           s_fmt_real(m->p95_ms, "%.3f", p95, sizeof(p95)),
           ad_cli_fmt_rate(m->tput_b32, tput, sizeof(tput)), m->threads, m->threads == 1 ? "" : "s",
           m->backend ? m->backend : "-");
}

/*
 * `-o DIR` as `--output DIR` (the shared option parser knows only long
 * options and -h); "--" ends the options.
 */
static void
s_short_o(int argc, char **argv)
{
    static char output[] = "--output";

    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
        if (!strcmp(argv[i], "-o"))
            argv[i] = output;
}

/* out's absolute path into abs.  0 or an exit status. */
static int
s_out_path(const char *cmd, const char *out, char *abs, size_t size)
{
    char cwd[PATH_MAX] = "";

    if (out[0] == '/')
        snprintf(abs, size, "%s", out);
    else if (getcwd(cwd, sizeof(cwd)) &&
             (size_t)snprintf(abs, size, "%.*s/%s", PATH_MAX - 2, cwd, out) >= size)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "%s: %s: path too long", cmd, out);
    else if (!cwd[0])
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "%s: getcwd: %s", cmd, strerror(errno));
    while (strlen(abs) > 1 && abs[strlen(abs) - 1] == '/')
        abs[strlen(abs) - 1] = '\0';
    return 0;
}

/* Run autodist-model export for s into out and fill m from it.  0 or an exit status. */
static int
s_export_run(const s_source_t *s, const char *out, ad_model_row_t *m)
{
    const char *args[40];
    char *meta = s_export_meta(s);
    json_t *r = NULL;
    int n = 0, rc;

    args[n++] = "export";
    args[n++] = "--checkpoint";
    args[n++] = s->ckpt;
    args[n++] = "-o";
    args[n++] = out;
    args[n++] = "--meta";
    args[n++] = meta;
    for (int i = 0; i < s->nargs; i++)
        args[n++] = s->args[i];
    args[n] = NULL;
    rc = s_model_run(args, &r);
    free(meta);
    if (rc)
        return rc;
    m->arch = ad_strdup(ad_cli_jstr(r, "arch") ? ad_cli_jstr(r, "arch") : "?");
    m->variant = ad_strdup(ad_cli_jstr(r, "variant") ? ad_cli_jstr(r, "variant") : "fp32");
    m->size_bytes = ad_cli_jint(r, "size_bytes", 0);
    m->params = ad_cli_jint(r, "params", 0);
    json_decref(r);
    return 0;
}

/* The options export and optimize share, into mo.  0 (handled), or -1 for another option. */
static int
s_measure_opt(int c, const char *arg, s_measure_opts_t *mo, int *rc)
{
    *rc = 0;
    if (c == S_OPT_NO_MEASURE)
        mo->no_measure = true;
    else if (c == S_OPT_THREADS)
        *rc = ad_cli_parse_int("--threads", arg, 1, 1024, &mo->threads);
    else if (c == S_OPT_RUNS)
        *rc = ad_cli_parse_int("--runs", arg, 10, 1000000, &mo->runs);
    else
        return -1;
    return 0;
}

/* Measure m (unless asked not to), store it, print it.  Returns an exit status. */
static int
s_finish(ad_cli_t *cli, ad_store_t *store, ad_model_row_t *m, const s_measure_opts_t *mo,
         const char *verb)
{
    int rc;

    if (!mo->no_measure && (rc = s_measure(m->path, mo, m)))
        return rc;
    if (ad_store_put_model(store, m, &m->id))
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "%s: %s", cli->cmd, ad_store_errmsg(store));
    s_print_row(cli, m, verb);
    return AD_CLI_EXIT_OK;
}

int
ad_cli_model_dir(ad_cli_t *cli, const char *cmd, const char *key, char *dir, size_t size)
{
    char probe[PATH_MAX + 16];
    struct stat sb;
    ad_store_t *store = NULL;
    ad_model_row_t row;
    const char *db;
    int rc;

    snprintf(probe, sizeof(probe), "%s/model.json", key);
    if (stat(key, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        if (stat(probe, &sb) != 0)
            return ad_cli_fail(AD_CLI_EXIT_USAGE,
                               "%s: %s is not an inference artifact (no model.json): make one "
                               "with `autodist export`",
                               cmd, key);
        if (!realpath(key, dir))
            snprintf(dir, size, "%s", key);
        return 0;
    }
    rc = ad_cli_open_store(cli, &store, &db);
    if (rc)
        return rc;
    ad_store_model_row_init(&row);
    rc = store ? ad_store_find_model(store, key, &row) : -ENOENT;
    ad_store_close(&store);
    if (rc == 0) {
        snprintf(dir, size, "%s", row.path);
        snprintf(probe, sizeof(probe), "%s/model.json", row.path);
        ad_store_model_row_clear(&row);
        if (stat(probe, &sb) == 0)
            return 0;
        return ad_cli_fail(AD_CLI_EXIT_ERROR,
                           "%s: model %s: its folder %s is missing or has no model.json "
                           "(`autodist models rm %s` forgets the row)",
                           cmd, key, dir, key);
    }
    ad_store_model_row_clear(&row);
    if (rc != -ENOENT)
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "%s: %s: cannot read the models table", cmd, db);
    return ad_cli_fail(AD_CLI_EXIT_USAGE,
                       "%s: unknown model %s: not an artifact folder, and no model of that id or "
                       "name (`autodist models` lists them)",
                       cmd, key);
}

int
ad_cli_export(ad_cli_t *cli, int argc, char **argv)
{
    static const struct option longs[] = {
        {"output", required_argument, NULL, S_OPT_OUT},
        {"no-measure", no_argument, NULL, S_OPT_NO_MEASURE},
        {"threads", required_argument, NULL, S_OPT_THREADS},
        {"runs", required_argument, NULL, S_OPT_RUNS},
        {"name", required_argument, NULL, S_OPT_NAME},
        {"data-dir", required_argument, NULL, S_OPT_DATA_DIR},
        {"image-size", required_argument, NULL, S_OPT_IMAGE_SIZE},
        {NULL, 0, NULL, 0},
    };
    s_measure_opts_t mo = {.threads = 1, .runs = 200};
    const char *arg, *out = NULL, *name = NULL, *data_dir = NULL, *image_size = NULL;
    char abs[PATH_MAX];
    ad_store_t *store = NULL;
    ad_model_row_t m;
    s_source_t src = {0};
    int c, rc = 0;

    ad_store_model_row_init(&m);
    s_short_o(argc, argv);
    while ((c = ad_cli_getopt(cli, argc, argv, longs, &arg)) != AD_CLI_OPT_END) {
        if (c == AD_CLI_OPT_HELP || c == AD_CLI_OPT_ERROR)
            return c == AD_CLI_OPT_HELP ? AD_CLI_EXIT_OK : AD_CLI_EXIT_USAGE;
        if (c == S_OPT_OUT)
            out = arg;
        else if (c == S_OPT_NAME)
            name = arg;
        else if (c == S_OPT_DATA_DIR)
            data_dir = arg;
        else if (c == S_OPT_IMAGE_SIZE)
            image_size = arg;
        else if (s_measure_opt(c, arg, &mo, &rc) == 0 && rc)
            return rc;
    }
    if (optind + 1 != argc || !out)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "export: usage: autodist export RUN|CHECKPOINT_DIR "
                                              "-o DIR (see --help)");
    if ((rc = s_out_path("export", out, abs, sizeof(abs))) || (rc = s_open_rw(cli, &store)))
        goto out_free;
    if ((rc = s_source_resolve(cli, store, argv[optind], &src)))
        goto out_free;
    if (data_dir) /* after the run's own: autodist-model takes the last one */
        s_source_arg(&src, "--data-dir", "%s", data_dir);
    if (image_size)
        s_source_arg(&src, "--image-size", "%s", image_size);
    if ((rc = s_export_run(&src, abs, &m)))
        goto out_free;
    m.path = ad_strdup(abs);
    m.name = ad_strdup(name ? name : strrchr(abs, '/') + 1);
    m.run = src.run;
    rc = s_finish(cli, store, &m, &mo, "exported");
out_free:
    s_source_clear(&src);
    ad_store_model_row_clear(&m);
    ad_store_close(&store);
    return rc;
}

/* ---- optimize ------------------------------------------------------------------------- */

/* The default folder of a variant: <parent dir>-int8, -pruned50, -pruned50s. */
static void
s_variant_dir(const char *parent, const char *variant, char *out, size_t size)
{
    snprintf(out, size, "%s-%s", parent, variant);
}

/* Run the quantize or prune of parent into out and fill v from it.  0 or an exit status. */
static int
s_optimize_run(const ad_model_row_t *parent, const char *out, int64_t calibrate, double prune,
               bool structured, int64_t finetune, ad_model_row_t *v)
{
    char num[32], ft[32], meta[64];
    const char *args[20];
    json_t *r = NULL;
    int n = 0, rc;

    snprintf(meta, sizeof(meta), "{\"parent_id\":%" PRId64 "}", parent->id);
    if (calibrate > 0) {
        snprintf(num, sizeof(num), "%" PRId64, calibrate);
        args[n++] = "quantize";
        args[n++] = parent->path;
        args[n++] = "--calibrate";
        args[n++] = num;
    } else {
        snprintf(num, sizeof(num), "%.6g", prune);
        snprintf(ft, sizeof(ft), "%" PRId64, finetune);
        args[n++] = "prune";
        args[n++] = parent->path;
        args[n++] = "--fraction";
        args[n++] = num;
        args[n++] = "--finetune";
        args[n++] = ft;
        if (structured)
            args[n++] = "--structured";
    }
    args[n++] = "-o";
    args[n++] = out;
    args[n++] = "--meta";
    args[n++] = meta;
    args[n++] = "--expect-arch";
    args[n++] = parent->arch;
    args[n] = NULL;
    if ((rc = s_model_run(args, &r)))
        return rc;
    v->arch = ad_strdup(ad_cli_jstr(r, "arch") ? ad_cli_jstr(r, "arch") : parent->arch);
    v->variant = ad_strdup(ad_cli_jstr(r, "variant") ? ad_cli_jstr(r, "variant") : "?");
    v->size_bytes = ad_cli_jint(r, "size_bytes", 0);
    v->params = ad_cli_jint(r, "params", 0);
    json_decref(r);
    return 0;
}

/*
 * The fine-tune of the pruned artifact ft->dir as a job (ft's layout unless given: the
 * parent's run's, with its batch), then its run exported back into ft->dir; v gets the
 * artifact's figures.  The store is closed while the job runs.  0 or an exit status.
 */
static int
s_finetune(ad_cli_t *cli, ad_store_t **store, const ad_model_row_t *p, bool layout_given,
           ad_cli_finetune_t *ft, ad_model_row_t *v)
{
    ad_run_t run = {0};
    ad_job_row_t jrow;
    s_source_t src = {0};
    char id[32];
    int64_t job = 0;
    int rc;

    ft->batch = 64;
    if (p->run > 0 && ad_store_get_run(*store, p->run, &run) == 0) {
        if (!layout_given) {
            ft->layout.nodes = run.nodes;
            ft->layout.procs_per_node = run.procs_per_node;
            ft->layout.threads_per_proc = run.threads_per_proc;
        }
        if (run.batch_size >= 32)
            ft->batch = run.batch_size;
        ad_store_run_clear(&run);
    }
    ad_store_close(store);
    if ((rc = ad_cli_finetune_job(cli, ft, &job)))
        return rc;
    if ((rc = s_open_rw(cli, store)))
        return rc;
    ad_store_job_row_init(&jrow);
    if (ad_store_get_job(*store, job, &jrow) || jrow.run < 1)
        rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "optimize: job %" PRId64 " has no run: %s", job,
                         ad_store_errmsg(*store));
    snprintf(id, sizeof(id), "%" PRId64, jrow.run);
    ad_store_job_row_clear(&jrow);
    if (!rc)
        rc = s_source_resolve(cli, *store, id, &src);
    if (!rc) {
        free(v->arch);
        free(v->variant);
        v->arch = v->variant = NULL;
        rc = s_export_run(&src, ft->dir, v);
    }
    s_source_clear(&src);
    return rc;
}

int
ad_cli_optimize(ad_cli_t *cli, int argc, char **argv)
{
    static const struct option longs[] = {
        {"output", required_argument, NULL, S_OPT_OUT},
        {"int8", no_argument, NULL, S_OPT_INT8},
        {"calibrate", required_argument, NULL, S_OPT_CALIBRATE},
        {"prune", required_argument, NULL, S_OPT_PRUNE},
        {"structured", no_argument, NULL, S_OPT_STRUCTURED},
        {"finetune", required_argument, NULL, S_OPT_FINETUNE},
        {"local", no_argument, NULL, S_OPT_LOCAL},
        {"layout", required_argument, NULL, S_OPT_LAYOUT},
        {"set", required_argument, NULL, S_OPT_SET},
        {"no-measure", no_argument, NULL, S_OPT_NO_MEASURE},
        {"threads", required_argument, NULL, S_OPT_THREADS},
        {"runs", required_argument, NULL, S_OPT_RUNS},
        {"name", required_argument, NULL, S_OPT_NAME},
        {NULL, 0, NULL, 0},
    };
    s_measure_opts_t mo = {.threads = 0, .runs = 200};
    const char *arg, *out = NULL, *name = NULL, *layout = NULL, *sets[AD_CLI_SETS_MAX];
    size_t n_sets = 0;
    bool int8 = false, structured = false, local = false;
    int64_t calibrate = 256, finetune = 100;
    double prune = 0;
    char dir[PATH_MAX], variant[32];
    ad_store_t *store = NULL;
    ad_model_row_t p, v;
    ad_cli_finetune_t ft = {.layout = {1, 1, 1}};
    ad_err_t err = {0};
    bool cluster;
    int c, rc = 0;

    ad_store_model_row_init(&p);
    ad_store_model_row_init(&v);
    s_short_o(argc, argv);
    while ((c = ad_cli_getopt(cli, argc, argv, longs, &arg)) != AD_CLI_OPT_END) {
        if (c == AD_CLI_OPT_HELP || c == AD_CLI_OPT_ERROR)
            return c == AD_CLI_OPT_HELP ? AD_CLI_EXIT_OK : AD_CLI_EXIT_USAGE;
        if (c == S_OPT_OUT)
            out = arg;
        else if (c == S_OPT_NAME)
            name = arg;
        else if (c == S_OPT_INT8)
            int8 = true;
        else if (c == S_OPT_STRUCTURED)
            structured = true;
        else if (c == S_OPT_LOCAL)
            local = true;
        else if (c == S_OPT_LAYOUT)
            layout = arg;
        else if (c == S_OPT_SET && n_sets == AD_CLI_SETS_MAX)
            rc = ad_cli_fail(AD_CLI_EXIT_USAGE, "optimize: at most %d --set", AD_CLI_SETS_MAX);
        else if (c == S_OPT_SET)
            sets[n_sets++] = arg;
        else if (c == S_OPT_CALIBRATE)
            rc = ad_cli_parse_int("--calibrate", arg, 1, 100000, &calibrate);
        else if (c == S_OPT_FINETUNE)
            rc = ad_cli_parse_int("--finetune", arg, 0, 1000000, &finetune);
        else if (c == S_OPT_PRUNE)
            rc = ad_cli_parse_seconds("--prune", arg, 0.01, 0.99, &prune);
        else
            s_measure_opt(c, arg, &mo, &rc);
        if (rc)
            return rc;
    }
    if (optind + 1 != argc || int8 == (prune > 0))
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "optimize: usage: autodist optimize MODEL --int8 "
                                              "| --prune F (see --help)");
    /* The fine-tune is a job unless it runs here (--local) or there is none. */
    cluster = prune > 0 && finetune > 0 && !local;
    if ((layout || n_sets) && !cluster)
        return ad_cli_fail(AD_CLI_EXIT_USAGE,
                           "optimize: --layout and --set shape the fine-tune job: they need "
                           "--prune with --finetune STEPS > 0 and no --local");
    if (layout && ad_layout_parse("--layout", layout, &ft.layout, &err))
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "optimize: %s", err.msg);
    if (cluster && ad_cli_coordinator_gone(cli))
        return ad_cli_fail(
            AD_CLI_EXIT_UNREACHABLE,
            "optimize: the fine-tune runs as a job, and no coordinator runs: start "
            "the cluster with `autodist up`, or fine-tune on this node with --local");
    if ((rc = s_open_rw(cli, &store)))
        goto out_free;
    if (ad_store_find_model(store, argv[optind], &p)) {
        rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "optimize: %s", ad_store_errmsg(store));
        goto out_free;
    }
    if (!s_present(&p)) {
        rc = ad_cli_fail(AD_CLI_EXIT_ERROR,
                         "optimize: model %" PRId64 ": %s/model.json is "
                         "missing",
                         p.id, p.path);
        goto out_free;
    }
    if (int8)
        snprintf(variant, sizeof(variant), "int8");
    else
        snprintf(variant, sizeof(variant), "pruned%d%s", (int)lround(prune * 100),
                 structured ? "s" : "");
    if (out)
        rc = s_out_path("optimize", out, dir, sizeof(dir));
    else
        s_variant_dir(p.path, variant, dir, sizeof(dir));
    if (!rc && !strcmp(dir, p.path))
        rc = ad_cli_fail(AD_CLI_EXIT_USAGE, "optimize: -o %s is model %" PRId64 "'s own folder",
                         dir, p.id);
    if (rc || (rc = s_optimize_run(&p, dir, int8 ? calibrate : 0, prune, structured,
                                   cluster ? 0 : finetune, &v)))
        goto out_free;
    if (cluster) {
        ft.dir = dir;
        ft.arch = v.arch;
        ft.steps = finetune;
        ft.sets = sets;
        ft.n_sets = n_sets;
        if ((rc = s_finetune(cli, &store, &p, layout != NULL, &ft, &v)))
            goto out_free;
    }
    v.path = ad_strdup(dir);
    v.name = ad_strdup(name ? name : strrchr(dir, '/') + 1);
    v.parent = p.id;
    v.run = p.run;
    if (mo.threads == 0) /* the same cores as its parent */
        mo.threads = p.threads > 0 ? p.threads : 1;
    /* The parent's latency again, now and on those cores: the ratios compare like with like. */
    if (!mo.no_measure && (rc = s_latency(p.path, &mo, &p)) == 0 &&
        ad_store_set_model_figures(store, p.id, &p))
        rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "optimize: %s", ad_store_errmsg(store));
    if (!rc)
        rc = s_finish(cli, store, &v, &mo, "optimized");
    if (rc == AD_CLI_EXIT_OK && !cli->json) {
        ad_model_row_t rows[2] = {p, v};

        printf("\n");
        s_compare_print(cli, rows, 2, p.id);
    }
out_free:
    ad_store_model_row_clear(&p);
    ad_store_model_row_clear(&v);
    ad_store_close(&store);
    return rc;
}

/* ---- models --------------------------------------------------------------------------- */

/* `models rm ID...`: forget rows, not files.  Returns an exit status. */
static int
s_models_rm(ad_cli_t *cli, int argc, char **argv)
{
    ad_store_t *store = NULL;
    int rc = 0;

    if (argc < 1)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "models rm: give the id of a model");
    if ((rc = s_open_rw(cli, &store)))
        return rc;
    for (int i = 0; i < argc && !rc; i++) {
        ad_model_row_t m;

        if (ad_store_find_model(store, argv[i], &m) || ad_store_remove_model(store, m.id)) {
            rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "models rm: %s", ad_store_errmsg(store));
        } else if (!cli->json) {
            printf("forgot model %" PRId64 " (%s); its files stay in %s\n", m.id, m.name, m.path);
        }
        ad_store_model_row_clear(&m);
    }
    ad_store_close(&store);
    return rc;
}

int
ad_cli_models(ad_cli_t *cli, int argc, char **argv)
{
    static const struct option longs[] = {
        {"compare", no_argument, NULL, S_OPT_COMPARE},
        {NULL, 0, NULL, 0},
    };
    const char *arg, *db = NULL;
    bool compare = false;
    ad_store_t *store = NULL;
    ad_model_row_t *rows = NULL, one;
    size_t n = 0;
    int64_t only = 0;
    int c, rc = AD_CLI_EXIT_OK;

    while ((c = ad_cli_getopt(cli, argc, argv, longs, &arg)) != AD_CLI_OPT_END) {
        if (c == AD_CLI_OPT_HELP || c == AD_CLI_OPT_ERROR)
            return c == AD_CLI_OPT_HELP ? AD_CLI_EXIT_OK : AD_CLI_EXIT_USAGE;
        if (c == S_OPT_COMPARE)
            compare = true;
    }
    if (optind < argc && !strcmp(argv[optind], "rm"))
        return s_models_rm(cli, argc - optind - 1, argv + optind + 1);
    if (optind + (compare ? 1 : 0) < argc)
        return ad_cli_fail(AD_CLI_EXIT_USAGE,
                           "models: unexpected \"%s\" (models [--compare "
                           "[MODEL]] | models rm ID)",
                           argv[optind + (compare ? 1 : 0)]);
    if ((rc = ad_cli_open_store(cli, &store, &db)))
        return rc;
    if (store && ad_store_list_models(store, &rows, &n))
        rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "models: %s", ad_store_errmsg(store));
    if (!rc && compare && optind < argc) {
        if (!store || ad_store_find_model(store, argv[optind], &one)) {
            rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "models: %s",
                             store ? ad_store_errmsg(store) : "no store yet");
        } else {
            only = one.parent > 0 ? one.parent : one.id;
            ad_store_model_row_clear(&one);
        }
    }
    if (!rc && compare)
        s_compare_print(cli, rows, n, only);
    else if (!rc)
        s_list_print(cli, rows, n);
    ad_store_model_rows_free(&rows, n);
    ad_store_close(&store);
    return rc;
}
