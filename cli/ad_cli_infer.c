/* ad_cli_infer.c - autodist bench-infer: inference layouts measured, stored, drawn and chosen */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "ad_cli.h"
#include "autodist/ad_proc.h"
#include "autodist/ad_store.h"

/*
 * The measuring is autodist-infer-bench's (serve/autodist_infer_bench.c, next
 * to this executable): it links libtorch, which the autodist command must
 * not.  This file runs it, reads its JSON lines, stores each as a run of
 * kind infer with its speedup over the sequential of the same bench, prints
 * the table, draws throughput against p95 and says which layout it chooses
 * (docs/bench-infer.md).
 */

/* Options of autodist bench-infer. */
enum {
    S_OPT_LAYOUTS = 256,
    S_OPT_DURATION,
    S_OPT_P95,
    S_OPT_PLOT,
    S_OPT_OPEN,
    S_OPT_WARMUP,
    S_OPT_DELAY,
    S_OPT_CONCURRENCY
};

/* Rows read at most (64 layouts x (closed + 4 open) + the sequential). */
#define S_ROWS_MAX 400

/* One line of autodist-infer-bench. */
typedef struct {
    int procs, threads, batch;
    char mode[8];
    bool sequential;
    int concurrency;
    double rate;
    double sps, p50, p95, p99, mean;
    int64_t samples;
    double started, ended;
    double speedup, efficiency;
    char backend[192];
    int64_t run;
} s_row_t;

/* What to do. */
typedef struct {
    const char *model;    /* MODEL as given */
    char path[PATH_MAX];  /* the artifact directory, absolute */
    char name[256];       /* its folder's name */
    char arch[64];        /* model.json's arch */
    const char *layouts;  /* --layouts */
    const char *duration; /* --duration */
    const char *warmup;   /* --warmup */
    const char *open;     /* --open */
    const char *delay;    /* --max-delay-ms */
    const char *conc;     /* --concurrency */
    double p95_ms;        /* --p95-ms; 0 = none */
    const char *plot;     /* --plot FILE */
} s_opts_t;

static int
s_parse(ad_cli_t *cli, int argc, char **argv, s_opts_t *o)
{
    static const struct option longs[] = {
        {"layouts", required_argument, NULL, S_OPT_LAYOUTS},
        {"duration", required_argument, NULL, S_OPT_DURATION},
        {"warmup", required_argument, NULL, S_OPT_WARMUP},
        {"open", required_argument, NULL, S_OPT_OPEN},
        {"max-delay-ms", required_argument, NULL, S_OPT_DELAY},
        {"concurrency", required_argument, NULL, S_OPT_CONCURRENCY},
        {"p95-ms", required_argument, NULL, S_OPT_P95},
        {"plot", required_argument, NULL, S_OPT_PLOT},
        {NULL, 0, NULL, 0},
    };
    const char *arg;
    double d;
    int c;

    memset(o, 0, sizeof(*o));
    while ((c = ad_cli_getopt(cli, argc, argv, longs, &arg)) != AD_CLI_OPT_END) {
        switch (c) {
        case AD_CLI_OPT_HELP:
            return AD_CLI_OPT_HELP;
        case AD_CLI_OPT_ERROR:
            return AD_CLI_EXIT_USAGE;
        case S_OPT_LAYOUTS:
            o->layouts = arg;
            break;
        case S_OPT_DURATION:
            if (ad_cli_parse_seconds("--duration", arg, 0.05, 3600, &d))
                return AD_CLI_EXIT_USAGE;
            o->duration = arg;
            break;
        case S_OPT_WARMUP:
            if (ad_cli_parse_seconds("--warmup", arg, 0, 3600, &d))
                return AD_CLI_EXIT_USAGE;
            o->warmup = arg;
            break;
        case S_OPT_OPEN:
            o->open = arg;
            break;
        case S_OPT_DELAY:
            if (ad_cli_parse_seconds("--max-delay-ms", arg, 0, 3600, &d))
                return AD_CLI_EXIT_USAGE;
            o->delay = arg;
            break;
        case S_OPT_CONCURRENCY: {
            int64_t c64;

            if (ad_cli_parse_int("--concurrency", arg, 1, 100000, &c64))
                return AD_CLI_EXIT_USAGE;
            o->conc = arg;
            break;
        }
        case S_OPT_P95:
            if (ad_cli_parse_seconds("--p95-ms", arg, 0.001, 1e6, &o->p95_ms))
                return AD_CLI_EXIT_USAGE;
            break;
        case S_OPT_PLOT:
            o->plot = arg;
            break;
        }
    }
    if (optind + 1 != argc)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "bench-infer: expected one MODEL (an artifact "
                                              "directory); see autodist bench-infer --help");
    o->model = argv[optind];
    return 0;
}

/* The artifact in o->model: its absolute path, folder name and arch (model.json). */
static int
s_resolve_model(ad_cli_t *cli, s_opts_t *o)
{
    char file[PATH_MAX + 16];
    json_error_t jerr;
    json_t *meta;
    const char *arch, *slash;

    int rc = ad_cli_model_dir(cli, "bench-infer", o->model, o->path, sizeof(o->path));

    if (rc)
        return rc;
    snprintf(file, sizeof(file), "%s/model.json", o->path);
    meta = json_load_file(file, 0, &jerr);
    if (!meta)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "bench-infer: %s: not an inference artifact: %s",
                           file, jerr.text);
    arch = json_string_value(json_object_get(meta, "arch"));
    snprintf(o->arch, sizeof(o->arch), "%s", arch ? arch : "unknown");
    json_decref(meta);
    slash = strrchr(o->path, '/');
    snprintf(o->name, sizeof(o->name), "%.200s", slash && slash[1] ? slash + 1 : o->path);
    return 0;
}

/* Number key of j, NaN when null or missing. */
static double
s_real(const json_t *j, const char *key)
{
    const json_t *v = json_object_get(j, key);

    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Read one JSON line of the bench into r; false when it is not one. */
static bool
s_read_row(const char *line, s_row_t *r)
{
    json_t *j = json_loads(line, 0, NULL);
    const char *mode, *backend;

    if (!json_is_object(j)) {
        json_decref(j);
        return false;
    }
    memset(r, 0, sizeof(*r));
    r->procs = (int)json_integer_value(json_object_get(j, "procs"));
    r->threads = (int)json_integer_value(json_object_get(j, "threads"));
    r->batch = (int)json_integer_value(json_object_get(j, "batch"));
    mode = json_string_value(json_object_get(j, "mode"));
    snprintf(r->mode, sizeof(r->mode), "%s", mode ? mode : "");
    r->sequential = json_is_true(json_object_get(j, "sequential"));
    r->concurrency = (int)json_integer_value(json_object_get(j, "concurrency"));
    r->rate = s_real(j, "rate");
    r->sps = s_real(j, "samples_per_s");
    r->p50 = s_real(j, "p50_ms");
    r->p95 = s_real(j, "p95_ms");
    r->p99 = s_real(j, "p99_ms");
    r->mean = s_real(j, "mean_ms");
    r->started = s_real(j, "started");
    r->ended = s_real(j, "ended");
    r->samples = json_integer_value(json_object_get(j, "samples"));
    backend = json_string_value(json_object_get(j, "backend"));
    snprintf(r->backend, sizeof(r->backend), "%s", backend ? backend : "");
    r->speedup = r->efficiency = NAN;
    json_decref(j);
    return r->procs > 0 && r->threads > 0 && r->batch > 0 && r->mode[0];
}

/* The argument vector of autodist-infer-bench for o (argv has room for 16). */
static void
s_bench_argv(const s_opts_t *o, const char *exe, const char **argv)
{
    int n = 0;

    argv[n++] = exe;
    argv[n++] = o->path;
#define S_PASS(opt, v)                                                                             \
    if (v) {                                                                                       \
        argv[n++] = opt;                                                                           \
        argv[n++] = v;                                                                             \
    }
    S_PASS("--layouts", o->layouts);
    S_PASS("--duration", o->duration);
    S_PASS("--warmup", o->warmup);
    S_PASS("--open", o->open);
    S_PASS("--max-delay-ms", o->delay);
    S_PASS("--concurrency", o->conc);
#undef S_PASS
    argv[n] = NULL;
}

/*
 * Run autodist-infer-bench for o and read its rows into rows (room for
 * S_ROWS_MAX); its progress goes to our stderr.  Returns how many, or -1
 * after printing why it failed.
 */
static int
s_run_bench(const s_opts_t *o, s_row_t *rows)
{
    char exe[PATH_MAX], *line = NULL;
    const char *argv[16];
    size_t cap = 0;
    int out[2], st, n = 0;
    FILE *f;
    pid_t pid;

    if (!ad_proc_find_exe("autodist-infer-bench", exe, sizeof(exe))) {
        ad_cli_fail(AD_CLI_EXIT_ERROR, "bench-infer: autodist-infer-bench is neither next to "
                                       "autodist nor in PATH (it is built with the infer library)");
        return -1;
    }
    s_bench_argv(o, exe, argv);
    if (pipe2(out, O_CLOEXEC) < 0) {
        ad_cli_fail(AD_CLI_EXIT_ERROR, "bench-infer: pipe: %s", strerror(errno));
        return -1;
    }
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        execv(exe, (char *const *)argv);
        fprintf(stderr, "autodist: bench-infer: cannot run %s: %s\n", exe, strerror(errno));
        _exit(127);
    }
    close(out[1]);
    if (pid < 0) {
        close(out[0]);
        ad_cli_fail(AD_CLI_EXIT_ERROR, "bench-infer: fork: %s", strerror(errno));
        return -1;
    }
    f = fdopen(out[0], "r");
    while (getline(&line, &cap, f) > 0)
        if (n < S_ROWS_MAX && s_read_row(line, &rows[n]))
            n++;
    free(line);
    fclose(f);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        ad_cli_fail(WIFEXITED(st) && WEXITSTATUS(st) == 2 ? AD_CLI_EXIT_USAGE : AD_CLI_EXIT_ERROR,
                    "bench-infer: autodist-infer-bench failed (%s %d); nothing stored",
                    WIFEXITED(st) ? "exit" : "signal",
                    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
        return WIFEXITED(st) && WEXITSTATUS(st) == 2 ? -2 : -1;
    }
    return n;
}

/* Speedup over the sequential (closed-loop rows) and efficiency per core. */
static void
s_speedups(s_row_t *rows, int n)
{
    double seq = NAN;

    for (int i = 0; i < n; i++)
        if (rows[i].sequential)
            seq = rows[i].sps;
    for (int i = 0; i < n; i++) {
        if (strcmp(rows[i].mode, "closed") != 0 || !(seq > 0))
            continue;
        rows[i].speedup = rows[i].sps / seq;
        rows[i].efficiency = rows[i].speedup / (double)(rows[i].procs * rows[i].threads);
    }
}

/* The hardware class of this node: its latest profile in the store ("" when none). */
static void
s_hardware(ad_store_t *store, char *buf, size_t size)
{
    char host[256] = "";
    ad_node_t node;

    buf[0] = '\0';
    ad_store_node_init(&node);
    if (gethostname(host, sizeof(host) - 1) == 0 && ad_store_find_node(store, host, &node) == 0 &&
        node.hardware)
        snprintf(buf, size, "%s", node.hardware);
    ad_store_node_clear(&node);
}

static int
s_store(ad_store_t *store, const s_opts_t *o, s_row_t *rows, int n, double bench)
{
    char dataset[300], hw[128];
    int rc = 0;

    snprintf(dataset, sizeof(dataset), "infer:%s", o->name);
    s_hardware(store, hw, sizeof(hw));
    for (int i = 0; i < n && !rc; i++) {
        ad_infer_run_t r = {.model_path = o->path,
                            .arch = o->arch,
                            .dataset = dataset,
                            .hardware = hw,
                            .backend = rows[i].backend[0] ? rows[i].backend : NULL,
                            .mode = rows[i].mode,
                            .procs = rows[i].procs,
                            .threads = rows[i].threads,
                            .batch = rows[i].batch,
                            .concurrency = rows[i].concurrency,
                            .rate = rows[i].rate,
                            .samples_per_s = rows[i].sps,
                            .p50_ms = rows[i].p50,
                            .p95_ms = rows[i].p95,
                            .p99_ms = rows[i].p99,
                            .mean_ms = rows[i].mean,
                            .samples = rows[i].samples,
                            .speedup = rows[i].speedup,
                            .started = rows[i].started,
                            .ended = rows[i].ended,
                            .bench = bench};

        rc = ad_store_add_infer_run(store, &r, &rows[i].run);
    }
    if (rc)
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "bench-infer: %s", ad_store_errmsg(store));
    return 0;
}

static void
s_fmt(char *buf, size_t size, const char *fmt, double v)
{
    if (isnan(v))
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, fmt, v);
}

static void
s_print_table(const s_row_t *rows, int n)
{
    static const char *const head[] = {"RUN",    "LAYOUT", "MODE",   "LOAD",    "SAMPLES/S",
                                       "P50_MS", "P95_MS", "P99_MS", "SPEEDUP", "EFFICIENCY"};
    ad_cli_table_t *t = ad_cli_table_new(10, head);

    for (int i = 0; i < n; i++) {
        const s_row_t *r = &rows[i];
        char id[24], layout[48], load[32], sps[32], p50[32], p95[32], p99[32], sp[32], eff[32];
        const char *cells[] = {
            id, layout, r->sequential ? "sequential" : r->mode, load, sps, p50, p95, p99, sp, eff};

        snprintf(id, sizeof(id), "%" PRId64, r->run);
        snprintf(layout, sizeof(layout), "%dx%dx%d", r->procs, r->threads, r->batch);
        if (isnan(r->rate))
            snprintf(load, sizeof(load), "C=%d", r->concurrency);
        else
            snprintf(load, sizeof(load), "R=%.1f/s", r->rate);
        s_fmt(sps, sizeof(sps), "%.1f", r->sps);
        s_fmt(p50, sizeof(p50), "%.2f", r->p50);
        s_fmt(p95, sizeof(p95), "%.2f", r->p95);
        s_fmt(p99, sizeof(p99), "%.2f", r->p99);
        s_fmt(sp, sizeof(sp), "%.2f", r->speedup);
        s_fmt(eff, sizeof(eff), "%.0f%%", r->efficiency * 100.0);
        ad_cli_table_add(t, cells);
    }
    ad_cli_table_print(t, stdout);
    ad_cli_table_free(&t);
}

static json_t *
s_rows_json(const s_row_t *rows, int n)
{
    json_t *a = json_array();

    for (int i = 0; i < n; i++) {
        const s_row_t *r = &rows[i];
        json_t *o = json_pack("{s:I, s:i, s:i, s:i, s:s, s:b, s:f}", "run", (json_int_t)r->run,
                              "procs", r->procs, "threads", r->threads, "batch", r->batch, "mode",
                              r->mode, "sequential", r->sequential, "samples_per_s", r->sps);

#define S_SET(key, v) json_object_set_new(o, key, isnan(v) ? json_null() : json_real(v))
        json_object_set_new(o, "concurrency",
                            r->concurrency > 0 ? json_integer(r->concurrency) : json_null());
        S_SET("rate", r->rate);
        S_SET("p50_ms", r->p50);
        S_SET("p95_ms", r->p95);
        S_SET("p99_ms", r->p99);
        S_SET("speedup", r->speedup);
        S_SET("efficiency", r->efficiency);
#undef S_SET
        json_object_set_new(o, "samples", json_integer(r->samples));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *
s_choice_json(const ad_infer_choice_t *c, double p95_ms)
{
    return json_pack("{s:I, s:i, s:i, s:i, s:s, s:f, s:f, s:o, s:b}", "run", (json_int_t)c->run,
                     "procs", c->procs, "threads", c->threads, "batch", c->batch, "mode", c->mode,
                     "samples_per_s", c->samples_per_s, "p95_ms", isnan(c->p95_ms) ? 0 : c->p95_ms,
                     "p95_target_ms", p95_ms > 0 ? json_real(p95_ms) : json_null(), "met", c->met);
}

static void
s_print_choice(const ad_infer_choice_t *c, double p95_ms)
{
    if (p95_ms > 0 && !c->met)
        printf("no layout meets p95 <= %g ms; the closest: %dx%dx%d (%s loop, p95 %.2f ms, "
               "%.1f samples/s)\n",
               p95_ms, c->procs, c->threads, c->batch, c->mode, c->p95_ms, c->samples_per_s);
    else if (p95_ms > 0)
        printf("chosen for p95 <= %g ms: %dx%dx%d (%s loop: %.1f samples/s, p95 %.2f ms)\n", p95_ms,
               c->procs, c->threads, c->batch, c->mode, c->samples_per_s, c->p95_ms);
    else
        printf("chosen (best throughput, no --p95-ms): %dx%dx%d (%.1f samples/s, p95 %.2f ms)\n",
               c->procs, c->threads, c->batch, c->samples_per_s, c->p95_ms);
}

/* ---- the plot ----------------------------------------------------------------------------- */

/* Is rows[i] on the Pareto front (no other row has more throughput and less p95)? */
static bool
s_pareto(const s_row_t *rows, int n, int i)
{
    for (int j = 0; j < n; j++)
        if (j != i && !isnan(rows[j].p95) && rows[j].sps >= rows[i].sps &&
            rows[j].p95 <= rows[i].p95 && (rows[j].sps > rows[i].sps || rows[j].p95 < rows[i].p95))
            return false;
    return true;
}

static int
s_cmp_p95(const void *a, const void *b)
{
    const s_row_t *x = *(const s_row_t *const *)a, *y = *(const s_row_t *const *)b;

    return (x->p95 > y->p95) - (x->p95 < y->p95);
}

/* The gnuplot script: throughput against p95, one labelled point per row, the front, the line. */
static void
s_plot_script(FILE *f, const s_opts_t *o, const s_row_t *rows, int n, const char *file)
{
    const s_row_t *front[S_ROWS_MAX];
    int nf = 0;
    size_t len = strlen(file);
    bool png = len > 4 && strcmp(file + len - 4, ".png") == 0;

    fprintf(f, "set terminal %s size 900,600 noenhanced background rgb 'white'\nset output '",
            png ? "png" : "svg");
    for (const char *p = file; *p; p++)
        fprintf(f, *p == '\'' ? "''" : "%c", *p);
    fprintf(f,
            "'\nset title 'inference layouts of %s (%s): throughput against p95 latency'\n"
            "set xlabel 'p95 latency (ms)'\nset ylabel 'throughput (samples/s)'\n"
            "set grid\nset key bottom right box opaque\nset logscale x\n"
            "set offsets graph 0.05, graph 0.15, graph 0.1, 0\nset yrange [0:*]\n",
            o->name, o->arch);
    fputs("$points << EOD\n", f);
    for (int i = 0; i < n; i++) {
        if (isnan(rows[i].p95) || !(rows[i].sps > 0))
            continue;
        fprintf(f, "%.6g %.6g %dx%dx%d%s\n", rows[i].p95, rows[i].sps, rows[i].procs,
                rows[i].threads, rows[i].batch, strcmp(rows[i].mode, "open") ? "" : "(open)");
        if (s_pareto(rows, n, i))
            front[nf++] = &rows[i];
    }
    fputs("EOD\n$front << EOD\n", f);
    qsort(front, (size_t)nf, sizeof(front[0]), s_cmp_p95);
    for (int i = 0; i < nf; i++)
        fprintf(f, "%.6g %.6g\n", front[i]->p95, front[i]->sps);
    fputs("EOD\n", f);
    if (o->p95_ms > 0)
        fprintf(f,
                "set arrow from %g, graph 0 to %g, graph 1 nohead dt 2 lc rgb '#d62728'\n"
                "set label 'p95 target %g ms' at %g, graph 0.95 right offset -0.5,0 "
                "tc rgb '#d62728'\n",
                o->p95_ms, o->p95_ms, o->p95_ms, o->p95_ms);
    fputs("plot $points using 1:2 with points pt 7 ps 1.2 lc rgb '#1f77b4' title 'layout "
          "(PxTxB)', \\\n     $points using 1:2:3 with labels offset 0.8,0.6 left font ',8' "
          "notitle, \\\n     $front using 1:2 with linespoints lw 2 pt 6 ps 1.6 "
          "lc rgb '#2ca02c' title 'Pareto front'\nset output\n",
          f);
}

static int
s_plot(const s_opts_t *o, const s_row_t *rows, int n)
{
    const char *tmpdir = getenv("TMPDIR");
    char path[PATH_MAX];
    FILE *f;
    int fd, rc;

    snprintf(path, sizeof(path), "%s/autodist-iplot-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    fd = mkstemp(path);
    if (fd < 0)
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "--plot: cannot write a script: %s", strerror(errno));
    f = fdopen(fd, "w");
    s_plot_script(f, o, rows, n, o->plot);
    fclose(f);
    rc = ad_cli_run_gnuplot(path, o->plot);
    unlink(path);
    return rc;
}

/* ---- the command -------------------------------------------------------------------------- */

int
ad_cli_infer_best_layout(ad_store_t *store, const char *model, double p95_ms, int *procs,
                         int *threads, int *batch, ad_err_t *err)
{
    char path[PATH_MAX];
    ad_infer_choice_t c;
    int rc;

    if (!realpath(model, path))
        snprintf(path, sizeof(path), "%s", model);
    rc = ad_store_infer_best(store, path, p95_ms, &c);
    if (rc)
        return ad_err_set(err, rc, "%s", ad_store_errmsg(store));
    if (!c.met)
        return ad_err_set(err, -ERANGE,
                          "no measured layout of %s has p95 <= %g ms (the lowest: %.2f ms at "
                          "%dx%dx%d); raise --p95-ms or run autodist bench-infer %s again",
                          path, p95_ms, c.p95_ms, c.procs, c.threads, c.batch, model);
    *procs = c.procs;
    *threads = c.threads;
    *batch = c.batch;
    return 0;
}

static int
s_report(ad_cli_t *cli, ad_store_t *store, const s_opts_t *o, const s_row_t *rows, int n)
{
    ad_infer_choice_t c;
    int rc = ad_store_infer_best(store, o->path, o->p95_ms, &c);

    if (rc)
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "bench-infer: %s", ad_store_errmsg(store));
    if (cli->json) {
        json_t *doc = json_pack("{s:s, s:s, s:s, s:o, s:o}", "model", o->path, "arch", o->arch,
                                "backend", n > 0 ? rows[0].backend : "", "layouts",
                                s_rows_json(rows, n), "chosen", s_choice_json(&c, o->p95_ms));

        ad_cli_print_json(doc);
        json_decref(doc);
    } else {
        s_print_table(rows, n);
        if (!cli->parsable) {
            if (n > 0 && rows[0].backend[0])
                printf("backend: %s\n", rows[0].backend);
            s_print_choice(&c, o->p95_ms);
        }
    }
    return 0;
}

int
ad_cli_bench_infer(ad_cli_t *cli, int argc, char **argv)
{
    const ad_home_t *home;
    ad_store_t *store = NULL;
    ad_err_t err = {0};
    s_row_t *rows;
    s_opts_t o;
    double bench = ad_cli_now();
    int n, rc = s_parse(cli, argc, argv, &o);

    if (rc)
        return rc == AD_CLI_OPT_HELP ? AD_CLI_EXIT_OK : rc;
    rc = s_resolve_model(cli, &o);
    if (rc)
        return rc;
    home = ad_cli_home(cli);
    if (!home)
        return AD_CLI_EXIT_ERROR;
    if (ad_home_ensure(home, &err))
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", err.msg);
    rows = calloc(S_ROWS_MAX, sizeof(*rows));
    n = s_run_bench(&o, rows);
    if (n < 0) {
        free(rows);
        return n == -2 ? AD_CLI_EXIT_USAGE : AD_CLI_EXIT_ERROR;
    }
    s_speedups(rows, n);
    if (ad_store_open(home->db, AD_STORE_CREATE, &store, &err)) {
        free(rows);
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", err.msg);
    }
    rc = s_store(store, &o, rows, n, bench);
    if (!rc)
        rc = s_report(cli, store, &o, rows, n);
    if (!rc && o.plot) {
        rc = s_plot(&o, rows, n);
        if (!rc && !cli->json)
            printf("plot: %s\n", o.plot);
    }
    ad_store_close(&store);
    free(rows);
    return rc;
}
