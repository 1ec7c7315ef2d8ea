/* ad_cli_speedup_plot.c - `autodist speedup --plot`: speedup against workers, drawn by gnuplot */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ad_cli_runs.h"
#include "autodist/ad_store.h"

/* ---- autodist speedup: plot ------------------------------------------------------------------ */

/* Panels drawn at most; the rest are left out with a warning. */
#define S_PLOT_PANELS 12

/* The series of a panel, in the order they are drawn. */
static const struct {
    const char *family; /* ad_cli_speedup_family() */
    const char *title;  /* key entry */
    const char *style;  /* gnuplot style */
} s_series[] = {
    {"threads", "threads (1x1xT)", "yerrorlines lw 2 pt 7 ps 1.2 lc rgb '#1f77b4'"},
    {"processes", "processes (1xPx1)", "yerrorlines lw 2 pt 9 ps 1.4 lc rgb '#d62728'"},
    {"nodes", "nodes (Nx1x1)", "yerrorlines lw 2 pt 5 ps 1.2 lc rgb '#2ca02c'"},
    {"mixed", "mixed (NxPxT)", "yerrorbars pt 6 ps 1.4 lw 1.5 lc rgb '#9467bd'"},
};

#define S_N_SERIES (sizeof(s_series) / sizeof(s_series[0]))

/* A gnuplot string literal: single quotes, '' for a quote. */
static void
s_gp_str(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputc('\'', f);
        if ((unsigned char)*s >= ' ')
            fputc(*s, f);
    }
    fputc('\'', f);
}

/* The name a panel gives a group's hardware class: its readable name (ad_cli_hw_label()). */
static const char *
s_hw_label(const ad_cli_group_t *g)
{
    return g->hardware_name ? g->hardware_name : g->hardware;
}

static bool
s_same_panel(const ad_cli_group_t *a, const ad_cli_group_t *b)
{
    return a->batch == b->batch && !strcmp(a->model, b->model) && !strcmp(a->dataset, b->dataset) &&
           !strcmp(a->hardware, b->hardware) && !strcmp(a->device, b->device);
}

/* x of a group: the cores it uses (GPUs on gpu), the denominator of its efficiency. */
static double
s_plot_x(const ad_cli_group_t *g)
{
    return (double)ad_cli_runs_cores(g->device, g->nodes, g->ppn, g->tpp);
}

static int
s_cmp_x(const void *pa, const void *pb)
{
    const ad_cli_group_t *a = *(const ad_cli_group_t *const *)pa,
                         *b = *(const ad_cli_group_t *const *)pb;
    double xa = s_plot_x(a), xb = s_plot_x(b);

    return xa < xb ? -1 : xa > xb;
}

/*
 * Write one panel (the groups of one model, dataset, batch, hardware and
 * device, rows[0..n)) as datablocks and a plot command.
 */
/* The low and high ends of a group's error bar: its interval, else its point. */
static double
s_lo(const ad_cli_group_t *g)
{
    return isnan(g->lo) ? g->speedup : g->lo;
}

static double
s_hi(const ad_cli_group_t *g)
{
    return isnan(g->hi) ? g->speedup : g->hi;
}

/*
 * Where the label of rows[i] goes: alone at its x, beside its point; with
 * other points at the same x (1x2x1, 1x1x2, 2x1x1), the labels of that x are
 * stacked around their points' mean height, S_LABEL_GAP of the panel apart,
 * in the order of the points (the highest point's label on top).
 */
#define S_LABEL_GAP 0.06

static double
s_label_y(ad_cli_group_t **rows, size_t n, size_t i, double max_y)
{
    double x = s_plot_x(rows[i]), sum = 0;
    size_t same = 0, above = 0;

    for (size_t j = 0; j < n; j++) {
        if (isnan(rows[j]->speedup) || s_plot_x(rows[j]) != x)
            continue;
        same++;
        sum += rows[j]->speedup;
        if (rows[j]->speedup > rows[i]->speedup || (rows[j]->speedup == rows[i]->speedup && j < i))
            above++;
    }
    if (same < 2)
        return rows[i]->speedup;
    return sum / (double)same + ((double)(same - 1) / 2.0 - (double)above) * S_LABEL_GAP * max_y;
}

/* Datablocks of a panel: one per series (x, speedup, low, high), and the points' labels. */
static void
s_gp_data(FILE *f, int panel, ad_cli_group_t **rows, size_t n, double max_y)
{
    for (size_t s = 0; s < S_N_SERIES; s++) {
        fprintf(f, "$p%d_%s << EOD\n", panel, s_series[s].family);
        for (size_t i = 0; i < n; i++) {
            const char *fam = ad_cli_speedup_family(rows[i]);
            bool base = !strcmp(fam, "baseline") && strcmp(s_series[s].family, "mixed");

            if (isnan(rows[i]->speedup) || (!base && strcmp(fam, s_series[s].family)))
                continue;
            fprintf(f, "%g %.6g %.6g %.6g\n", s_plot_x(rows[i]), rows[i]->speedup, s_lo(rows[i]),
                    s_hi(rows[i]));
        }
        fputs("EOD\n", f);
    }
    /* Each point says its layout and how many runs it is the mean of. */
    fprintf(f, "$p%d_labels << EOD\n", panel);
    for (size_t i = 0; i < n; i++)
        if (!isnan(rows[i]->speedup))
            fprintf(f, "%g %.6g \"%dx%dx%d (%lld)\"\n", s_plot_x(rows[i]),
                    s_label_y(rows, n, i, max_y),
                    rows[i]->nodes, rows[i]->ppn, rows[i]->tpp, (long long)rows[i]->runs);
    fputs("EOD\n", f);
}

static void
s_gp_panel(FILE *f, int panel, ad_cli_group_t **rows, size_t n, bool multi, int node_cores)
{
    const ad_cli_group_t *g0 = rows[0];
    double max_x = 1, max_y = 1;
    bool gpu = !strcmp(g0->device, "gpu"), first = true;
    char title[512];

    qsort(rows, n, sizeof(*rows), s_cmp_x);
    for (size_t i = 0; i < n; i++) {
        if (isnan(rows[i]->speedup))
            continue;
        if (s_plot_x(rows[i]) > max_x)
            max_x = s_plot_x(rows[i]);
        if (s_hi(rows[i]) > max_y)
            max_y = s_hi(rows[i]);
    }
    s_gp_data(f, panel, rows, n, max_y);
    if (!gpu && node_cores > max_x)
        max_x = node_cores;
    snprintf(title, sizeof(title), "%s on %s, batch %lld%s%s%s", g0->model, g0->dataset,
             (long long)g0->batch, g0->hardware[0] ? ", " : "", s_hw_label(g0), gpu ? ", gpu" : "");
    fputs("set title ", f);
    s_gp_str(f, title);
    fputs(multi ? "\n" : " font ',13'\n", f);
    /* One meaning of workers (docs/speedup.md): what the efficiency divides by. */
    fprintf(f, "set xlabel '%s'\n",
            gpu ? "workers = GPUs used (nodes x procs)"
                : "workers = cores used (nodes x procs x threads)");
    /* The cores of one node: past them a layout shares cores (oversubscribed). */
    fputs("unset arrow\nunset label\n", f);
    if (!gpu && node_cores > 0)
        fprintf(f,
                "set arrow from %d, graph 0 to %d, graph 1 nohead dt 3 lw 1.5 lc rgb '#ff7f0e'\n"
                "set label '%d cores per node' at %d, graph 0.97 right offset -0.5,0 "
                "tc rgb '#ff7f0e'\n",
                node_cores, node_cores, node_cores, node_cores);
    fputs("set ylabel 'speedup over 1x1x1'\n", f);
    if (max_x >= 16) {
        fputs("set logscale xy 2\nset xtics autofreq\n", f);
        fprintf(f, "set xrange [0.9:%g]\nset yrange [0.5:%g]\n", max_x * 1.15,
                fmax(max_y * 1.4, 2.0));
    } else {
        fputs("unset logscale\nset xtics 1\n", f);
        fprintf(f, "set xrange [0:%g]\n", max_x + 0.5);
        /* The ideal line in full when the curves reach a fair part of it. */
        fprintf(f, "set yrange [0:%g]\n",
                max_x <= 2.5 * max_y ? fmax(max_x, max_y) * 1.1 : max_y * 1.3);
    }
    fputs("plot ", f);
    for (size_t s = 0; s < S_N_SERIES; s++) {
        bool any = false;

        for (size_t i = 0; i < n && !any; i++)
            any = !isnan(rows[i]->speedup) &&
                  !strcmp(ad_cli_speedup_family(rows[i]), s_series[s].family);
        if (!any)
            continue;
        fprintf(f, "%s$p%d_%s using 1:2:3:4 with %s title '%s'", first ? "" : ", \\\n     ", panel,
                s_series[s].family, s_series[s].style, s_series[s].title);
        first = false;
    }
    fprintf(f,
            ", \\\n     $p%d_labels using 1:2:3 with labels left offset 0.9,0 font ',8' "
            "tc rgb '#333333' notitle",
            panel);
    fputs(", \\\n     x with lines dt 2 lw 1.5 lc rgb '#555555' title 'ideal (y = x)'\n", f);
}

/* Order of panels: model, dataset, batch, hardware, device; then the rows' own order. */
static int
s_cmp_panel(const void *pa, const void *pb)
{
    const ad_cli_group_t *a = *(const ad_cli_group_t *const *)pa,
                         *b = *(const ad_cli_group_t *const *)pb;
    int c = strcmp(a->model, b->model);

    if (!c)
        c = strcmp(a->dataset, b->dataset);
    if (!c)
        c = a->batch < b->batch ? -1 : a->batch > b->batch;
    if (!c)
        c = strcmp(a->hardware, b->hardware);
    if (!c)
        c = strcmp(a->device, b->device);
    return c ? c : a < b ? -1 : a > b;
}

/*
 * Write the gnuplot script for the groups into f: one panel per (model,
 * dataset, batch, hardware, device) that has a speedup, at most
 * S_PLOT_PANELS.  Returns the number of panels (0: nothing to draw) and sets
 * *left_out to the panels beyond the limit.
 */
static int
s_gp_script(FILE *f, const ad_cli_groups_t *gs, ad_store_t *store, const char *file, int *left_out)
{
    ad_cli_group_t **order = ad_malloc((gs->n ? gs->n : 1) * sizeof(*order));
    size_t *start = ad_malloc((gs->n + 1) * sizeof(*start));
    size_t *count = ad_malloc((gs->n + 1) * sizeof(*count));
    bool png = !strcmp(file + strlen(file) - 4, ".png");
    size_t npanels = 0;
    int cols, rows, w, h, drawn;

    for (size_t i = 0; i < gs->n; i++)
        order[i] = &gs->rows[i];
    qsort(order, gs->n, sizeof(*order), s_cmp_panel);
    for (size_t i = 0, j; i < gs->n; i = j) {
        bool has = false;

        /* A panel needs a point besides the baseline's (1, 1): no empty panels. */
        for (j = i; j < gs->n && s_same_panel(order[i], order[j]); j++)
            has = has || (!isnan(order[j]->speedup) &&
                          strcmp(ad_cli_speedup_family(order[j]), "baseline"));
        if (!has)
            continue;
        start[npanels] = i;
        count[npanels++] = j - i;
    }
    drawn = npanels > S_PLOT_PANELS ? S_PLOT_PANELS : (int)npanels;
    *left_out = (int)npanels - drawn;
    if (drawn == 0)
        goto out_free;
    cols = drawn == 1 ? 1 : drawn <= 4 ? 2 : 3;
    rows = (drawn + cols - 1) / cols;
    w = 640 * cols;
    h = 460 * rows;
    if (png)
        fprintf(f,
                "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
                "    set terminal pngcairo size %d,%d noenhanced font 'sans,10' "
                "background rgb 'white'\n"
                "} else {\n"
                "    set terminal png size %d,%d noenhanced background rgb 'white'\n"
                "}\n",
                w, h, w, h);
    else
        fprintf(f,
                "set terminal svg size %d,%d dynamic noenhanced font 'sans,11' "
                "background rgb 'white'\n",
                w, h);
    fputs("set output ", f);
    s_gp_str(f, file);
    fputs("\nset encoding utf8\nset grid lc rgb '#dddddd'\nset key top left box opaque\n"
          "set samples 200\nset border lw 1\n",
          f);
    if (drawn > 1)
        fprintf(f, "set multiplot layout %d,%d title 'speedup against workers' font ',14'\n", rows,
                cols);
    for (int p = 0; p < drawn; p++) {
        ad_profile_row_t prof = {0};
        int cores = 0;

        /* The machine's cores, from the hardware class's latest profile (none: no line). */
        if (store && order[start[p]]->hardware[0] &&
            ad_store_find_profile(store, order[start[p]]->hardware, &prof) == 0)
            cores = prof.cores;
        ad_store_profile_row_clear(&prof);
        s_gp_panel(f, p, order + start[p], count[p], drawn > 1, cores);
    }
    if (drawn > 1)
        fputs("unset multiplot\n", f);
    fputs("set output\n", f);
out_free:
    free(order);
    free(start);
    free(count);
    return drawn;
}

/* Run gnuplot on script (ad_cli.h). */
int
ad_cli_run_gnuplot(const char *script, const char *file)
{
    int errpipe[2], execpipe[2], st, exec_errno = 0;
    char buf[4096], last[512] = "";
    struct stat sb;
    size_t len = 0;
    ssize_t got;
    pid_t pid;

    if (pipe2(errpipe, O_CLOEXEC) < 0 || pipe2(execpipe, O_CLOEXEC) < 0)
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "--plot: pipe: %s", strerror(errno));
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0)
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "--plot: fork: %s", strerror(errno));
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);

        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(errpipe[1], STDERR_FILENO);
        execlp("gnuplot", "gnuplot", script, (char *)NULL);
        st = errno;
        if (write(execpipe[1], &st, sizeof(st)) < 0)
            _exit(127);
        _exit(127);
    }
    close(errpipe[1]);
    close(execpipe[1]);
    if (read(execpipe[0], &exec_errno, sizeof(exec_errno)) != sizeof(exec_errno))
        exec_errno = 0;
    close(execpipe[0]);
    /* Keep the end of what gnuplot says; its last line explains a failure. */
    while ((got = read(errpipe[0], buf + len, sizeof(buf) - 1 - len)) > 0 ||
           (got < 0 && errno == EINTR)) {
        if (got < 0)
            continue;
        len += (size_t)got;
        buf[len] = '\0';
        for (char *nl; (nl = strchr(buf, '\n'));) {
            *nl = '\0';
            if (strspn(buf, " \t^") != strlen(buf))
                snprintf(last, sizeof(last), "%.500s", buf);
            len -= (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, len + 1);
        }
        if (len == sizeof(buf) - 1)
            len = 0;
    }
    if (len > 0 && strspn(buf, " \t^") != len)
        snprintf(last, sizeof(last), "%.500s", buf);
    close(errpipe[0]);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (exec_errno == ENOENT)
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "--plot needs gnuplot (apt-get install gnuplot-nox); "
                                              "the table is printed anyway");
    if (exec_errno)
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "--plot: cannot run gnuplot: %s",
                           strerror(exec_errno));
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "--plot: gnuplot could not draw %s (%s %d)%s%s", file,
                           WIFEXITED(st) ? "exit" : "signal",
                           WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), last[0] ? ": " : "",
                           last);
    if (stat(file, &sb) < 0 || sb.st_size == 0)
        return ad_cli_fail(AD_CLI_EXIT_ERROR,
                           "--plot: gnuplot exited 0 but wrote nothing to %s%s%s", file,
                           last[0] ? ": " : "", last);
    return 0;
}

/* Draw the groups into file (.svg or .png).  Returns 0 or an exit status after printing why. */
int
ad_cli_speedup_plot(const ad_cli_groups_t *gs, ad_store_t *store, const char *file,
                    ad_cli_out_t out)
{
    char script[] = "/tmp/autodist-plot-XXXXXX";
    const char *tmpdir = getenv("TMPDIR");
    char path[4096];
    int fd, panels, left_out, rc;
    FILE *f;

    snprintf(path, sizeof(path), "%s/autodist-plot-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    fd = mkstemp(path);
    if (fd < 0) {
        fd = mkstemp(script);
        if (fd < 0)
            return ad_cli_fail(AD_CLI_EXIT_ERROR, "--plot: cannot write a script: %s",
                               strerror(errno));
        snprintf(path, sizeof(path), "%s", script);
    }
    f = fdopen(fd, "w");
    panels = s_gp_script(f, gs, store, file, &left_out);
    if (fclose(f) != 0) {
        unlink(path);
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "--plot: cannot write %s: %s", path, strerror(errno));
    }
    if (panels == 0) {
        unlink(path);
        return ad_cli_fail(AD_CLI_EXIT_ERROR,
                           "--plot: nothing to plot: no row but a baseline has a speedup (no "
                           "1x1x1 baseline, or no other layout, among the rows shown)");
    }
    if (left_out > 0)
        fprintf(stderr,
                "autodist: --plot: drew the first %d of %d panels; narrow them with --where\n",
                panels, panels + left_out);
    rc = ad_cli_run_gnuplot(path, file);
    unlink(path);
    if (!rc && out == AD_CLI_OUT_TABLE)
        printf("plot: %s (%d panel%s)\n", file, panels, panels == 1 ? "" : "s");
    return rc;
}

