/* eval_sia.c - autodist-eval-sia: the planner's model against the public Sia step-time traces */
#include "autodist/ad_planner.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef AD_SOURCE_DIR
#define AD_SOURCE_DIR "."
#endif

#define S_MAX_NODES 16

static void
s_usage(FILE *out)
{
    fprintf(out,
            "usage: autodist-eval-sia [--small N] [--all] [--dump] [FOLDER]\n"
            "  FOLDER     the traces (*-<hardware>.csv: local_bsz,step_time,sync_time,placement);\n"
            "             default %s/../shared/datasets/sia-traces\n"
            "  --small N  fit on placements of at most N GPUs, predict the larger ones (4)\n"
            "  --all      also leave-one-configuration-out and leave-one-model-out\n"
            "  --dump     print the parameters fitted on all the traces\n",
            AD_SOURCE_DIR);
}

static int
s_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Read one trace file into the planner as model `app`, dataset "sia", class `hw`, GPUs. */
static int
s_load(ad_planner_t *pl, const char *path, const char *app, const char *hw, size_t *rows)
{
    FILE *f = fopen(path, "r");
    char line[512];
    int lineno = 0;

    if (!f) {
        fprintf(stderr, "autodist-eval-sia: %s: %s\n", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), f)) {
        ad_planner_obs_t obs;
        ad_err_t err;
        char *p = line, *end;
        long bsz;
        double step, syn;
        int place[S_MAX_NODES], nodes = 0, gpus = 0;

        lineno++;
        if (lineno == 1) {
            if (strncmp(line, "local_bsz,step_time,sync_time,placement", 39)) {
                fprintf(stderr, "autodist-eval-sia: %s:1: unexpected header\n", path);
                goto err_close;
            }
            continue;
        }
        bsz = strtol(p, &end, 10);
        if (end == p || *end != ',' || bsz < 1)
            goto err_line;
        p = end + 1;
        step = strtod(p, &end);
        if (end == p || *end != ',')
            goto err_line;
        p = end + 1;
        syn = strtod(p, &end);
        if (end == p || *end != ',')
            goto err_line;
        for (p = end + 1; *p >= '0' && *p <= '9'; p++) {
            if (*p == '0' || nodes == S_MAX_NODES)
                goto err_line;
            place[nodes++] = *p - '0';
            gpus += *p - '0';
        }
        if (nodes == 0 || (*p && *p != '\n' && *p != '\r'))
            goto err_line;
        ad_planner_obs_init(&obs);
        obs.model = app;
        obs.dataset = "sia";
        obs.hardware = hw;
        obs.layout.nodes = nodes;
        obs.layout.threads_per_proc = 1;
        obs.layout.device = "gpu";
        obs.layout.placement = place;
        obs.batch_size = (int64_t)bsz * gpus;
        obs.samples_per_s = step > 0 ? (double)gpus * bsz / step : -1;
        obs.step_time_s = step;
        obs.comm_time_s = syn; /* recorded, not fitted (docs/planner.md) */
        if (ad_planner_add_obs(pl, &obs, &err)) {
            fprintf(stderr, "autodist-eval-sia: %s:%d: %s\n", path, lineno, err.msg);
            goto err_close;
        }
        (*rows)++;
    }
    fclose(f);
    return 0;
err_line:
    fprintf(stderr, "autodist-eval-sia: %s:%d: expected local_bsz,step_time,sync_time,placement\n",
            path, lineno);
err_close:
    fclose(f);
    return -1;
}

static const ad_planner_score_t *
s_find(const ad_planner_score_t *rows, size_t n, const char *method, const char *predictor,
       const char *model)
{
    for (size_t i = 0; i < n; i++) {
        const ad_planner_score_t *r = &rows[i];

        if (strcmp(r->method, method) || strcmp(r->predictor, predictor))
            continue;
        if ((!model && !r->model) || (model && r->model && !strcmp(model, r->model)))
            return r;
    }
    return NULL;
}

static void
s_print_method(const ad_planner_score_t *rows, size_t n, const char *method, char **apps,
               size_t n_apps)
{
    const ad_planner_score_t *pm = s_find(rows, n, method, "model", NULL);
    const ad_planner_score_t *pn = s_find(rows, n, method, "naive", NULL);

    printf("| app | points | MAPE %% model | MAPE %% naive | regret model | regret naive | "
           "groups | Spearman | in 90%% interval |\n");
    printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (size_t a = 0; a < n_apps; a++) {
        const ad_planner_score_t *m = s_find(rows, n, method, "model", apps[a]);
        const ad_planner_score_t *v = s_find(rows, n, method, "naive", apps[a]);

        if (!m)
            continue;
        printf("| %s | %d | %.1f | %.1f | %.3f | %.3f | %d | %.3f | %.0f%% |\n", apps[a], m->points,
               m->mape, v ? v->mape : NAN, m->regret_same, v ? v->regret_same : NAN, m->groups_same,
               m->spearman, 100 * m->coverage);
    }
    if (pm && pn) {
        printf("| **median** | | **%.1f** | %.1f | **%.3f** | %.3f | | %.3f | |\n", pm->mape_median,
               pn->mape_median, pm->regret_median, pn->regret_median, pm->spearman);
        printf("| **worst** | | **%.1f** | %.1f | **%.3f** | %.3f | | | |\n", pm->mape_worst,
               pn->mape_worst, pm->regret_worst, pn->regret_worst);
        printf("| all points | %d | %.1f | %.1f | %.3f | %.3f | %d | | %.0f%% |\n", pm->points,
               pm->mape, pn->mape, pm->regret_same, pn->regret_same, pm->groups_same,
               100 * pm->coverage);
    }
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"small", required_argument, NULL, 's'},
        {"all", no_argument, NULL, 'a'},
        {"dump", no_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = AD_SOURCE_DIR "/../shared/datasets/sia-traces";
    ad_planner_eval_opts_t eo = {
        .methods = AD_PLANNER_EVAL_SMALL, .small_max_workers = 4, .naive = true};
    bool dump = false;
    ad_planner_t *pl;
    ad_planner_score_t *rows = NULL;
    size_t n_rows = 0, n_apps = 0, n_trace = 0;
    char *apps[64];
    ad_err_t err;
    DIR *d;
    struct dirent *de;
    int opt, rc = 1;

    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 's':
            eo.small_max_workers = atoi(optarg);
            if (eo.small_max_workers < 1) {
                fprintf(stderr, "autodist-eval-sia: --small takes a GPU count >= 1\n");
                return 2;
            }
            break;
        case 'a':
            eo.methods = 0;
            break;
        case 'd':
            dump = true;
            break;
        case 'h':
            s_usage(stdout);
            return 0;
        default:
            s_usage(stderr);
            return 2;
        }
    }
    if (optind < argc)
        dir = argv[optind];
    d = opendir(dir);
    if (!d) {
        fprintf(stderr, "autodist-eval-sia: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    while ((de = readdir(d)) && n_apps < 64) {
        size_t len = strlen(de->d_name);

        if (len > 4 && !strcmp(de->d_name + len - 4, ".csv") && strchr(de->d_name, '-'))
            apps[n_apps++] = strdup(de->d_name);
    }
    closedir(d);
    if (n_apps == 0) {
        fprintf(stderr, "autodist-eval-sia: %s: no trace (*-<hardware>.csv)\n", dir);
        return 1;
    }
    qsort(apps, n_apps, sizeof(apps[0]), s_cmp_str);
    pl = ad_planner_new();
    for (size_t a = 0; a < n_apps; a++) {
        char path[4096], *dash = strrchr(apps[a], '-');
        ad_planner_hw_t hw;

        snprintf(path, sizeof(path), "%s/%s", dir, apps[a]);
        *dash = '\0';
        dash[strlen(dash + 1) - 3] = '\0'; /* "rtx.csv" -> "rtx" */
        ad_planner_hw_init(&hw);
        hw.name = dash + 1;
        hw.gpus = 8;
        if (ad_planner_add_hardware(pl, &hw, &err)) {
            fprintf(stderr, "autodist-eval-sia: %s\n", err.msg);
            goto out_free;
        }
        if (s_load(pl, path, apps[a], dash + 1, &n_trace))
            goto out_free;
    }
    if (dump)
        ad_planner_dump(pl, stdout);
    if (ad_planner_evaluate(pl, &eo, &rows, &n_rows, &err)) {
        fprintf(stderr, "autodist-eval-sia: %s\n", err.msg);
        goto out_free;
    }
    printf("%zu traced configurations of %zu apps from %s\n\n", n_trace, n_apps, dir);
    printf("Fit on placements of at most %d GPUs, predict the larger ones; regret among the "
           "placements of the same GPU count and local batch:\n\n",
           eo.small_max_workers);
    s_print_method(rows, n_rows, "small-large", apps, n_apps);
    if (eo.methods == 0) {
        printf("\nLeave one configuration out:\n\n");
        s_print_method(rows, n_rows, "loco", apps, n_apps);
        printf("\nLeave one model out (its 1-GPU runs kept):\n\n");
        s_print_method(rows, n_rows, "lomo", apps, n_apps);
    }
    rc = 0;
out_free:
    ad_planner_scores_free(&rows, n_rows);
    ad_planner_free(&pl);
    for (size_t a = 0; a < n_apps; a++)
        free(apps[a]);
    return rc;
}
