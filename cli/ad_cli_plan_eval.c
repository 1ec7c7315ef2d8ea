/* ad_cli_plan_eval.c - `autodist plan --evaluate`: cross-validation of the planner on the store */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad_cli.h"
#include "ad_cli_plan.h"
#include "autodist/ad_planner.h"
#include "autodist/ad_store.h"

static json_t *
s_num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* A planner with the store's runs.  Returns 0 or an exit status. */
static int
s_planner(ad_store_t *store, ad_planner_t **out, size_t *n_runs)
{
    ad_err_t err = {0};

    *out = ad_planner_new();
    *n_runs = 0;
    if (ad_planner_load_store(*out, store, NULL, n_runs, &err)) {
        ad_planner_free(out);
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", err.msg);
    }
    return 0;
}

/* "loco", "small-large", "lomo", "all", or a comma-separated list of them. */
int
ad_cli_plan_parse_methods(const char *arg, unsigned *out)
{
    char *copy = ad_strdup(arg), *save = NULL;
    unsigned m = 0;

    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (!strcmp(tok, "loco"))
            m |= AD_PLANNER_EVAL_LOCO;
        else if (!strcmp(tok, "small-large"))
            m |= AD_PLANNER_EVAL_SMALL;
        else if (!strcmp(tok, "lomo"))
            m |= AD_PLANNER_EVAL_LOMO;
        else if (!strcmp(tok, "all"))
            m |= AD_PLANNER_EVAL_LOCO | AD_PLANNER_EVAL_SMALL | AD_PLANNER_EVAL_LOMO;
        else {
            free(copy);
            return ad_cli_fail(AD_CLI_EXIT_USAGE,
                               "--method must be loco, small-large, lomo or all, got \"%s\"", arg);
        }
    }
    free(copy);
    if (!m)
        return ad_cli_fail(AD_CLI_EXIT_USAGE,
                           "--method must be loco, small-large, lomo or all, got \"%s\"", arg);
    *out = m;
    return 0;
}

static const char *
s_method_title(const char *method, int small_max)
{
    static char buf[160];

    if (!strcmp(method, "loco"))
        return "loco: leave one configuration out";
    if (!strcmp(method, "lomo"))
        return "lomo: leave one model out (its 1-worker runs kept)";
    if (small_max > 0)
        snprintf(buf, sizeof(buf), "small-large: fit on <= %d workers, predict the larger layouts",
                 small_max);
    else
        snprintf(buf, sizeof(buf),
                 "small-large: fit on <= a quarter of the largest worker count "
                 "(at least 1), predict the larger layouts");
    return buf;
}

static char *
s_fmt(double v, const char *fmt, char *buf, size_t size)
{
    if (isfinite(v))
        snprintf(buf, size, fmt, v);
    else
        snprintf(buf, size, "-");
    return buf;
}

static void
s_eval_row(ad_cli_table_t *t, const ad_planner_score_t *r)
{
    const char *cells[13];
    char pts[16], mape[32], rho[32], cov[32], rs[32], gs[16], ra[32], ga[16];

    snprintf(pts, sizeof(pts), "%d", r->points);
    snprintf(gs, sizeof(gs), "%d", r->groups_same);
    snprintf(ga, sizeof(ga), "%d", r->groups_all);
    cells[0] = r->predictor;
    cells[1] = r->model ? r->model : "all";
    cells[2] = r->dataset;
    cells[3] = r->hardware;
    cells[4] = r->device;
    cells[5] = pts;
    cells[6] = s_fmt(r->mape, "%.1f%%", mape, sizeof(mape));
    cells[7] = s_fmt(r->spearman, "%.3f", rho, sizeof(rho));
    cells[8] = s_fmt(100.0 * r->coverage, "%.0f%%", cov, sizeof(cov));
    cells[9] = s_fmt(r->regret_same, "%.3f", rs, sizeof(rs));
    cells[10] = gs;
    cells[11] = s_fmt(r->regret_all, "%.3f", ra, sizeof(ra));
    cells[12] = ga;
    ad_cli_table_add(t, cells);
}

/* One table per method: the workloads' rows, then the pooled rows, then their medians. */
static void
s_eval_text(const ad_planner_score_t *rows, size_t n, int small_max)
{
    static const char *const headers[] = {
        "PREDICTOR", "MODEL",    "DATASET",     "HARDWARE", "DEVICE",     "POINTS", "MAPE",
        "SPEARMAN",  "COVERAGE", "REGRET-SAME", "GROUPS",   "REGRET-ALL", "GROUPS"};

    for (size_t i = 0; i < n; i++) {
        const char *method = rows[i].method;
        bool seen = false;
        ad_cli_table_t *t;

        for (size_t j = 0; j < i && !seen; j++)
            seen = !strcmp(rows[j].method, method);
        if (seen)
            continue;
        printf("%s%s\n", i ? "\n" : "", s_method_title(method, small_max));
        t = ad_cli_table_new(13, headers);
        for (size_t j = i; j < n; j++)
            if (!strcmp(rows[j].method, method) && rows[j].model)
                s_eval_row(t, &rows[j]);
        for (size_t j = i; j < n; j++)
            if (!strcmp(rows[j].method, method) && !rows[j].model)
                s_eval_row(t, &rows[j]);
        ad_cli_table_print(t, stdout);
        ad_cli_table_free(&t);
        for (size_t j = i; j < n; j++) {
            const ad_planner_score_t *p = &rows[j];
            char a[32], b[32], c[32], d[32];

            if (strcmp(p->method, method) || p->model)
                continue;
            printf("%s over %d workload%s: MAPE median %s, worst %s; regret (same workers) "
                   "median %s, worst %s\n",
                   p->predictor, p->workloads, p->workloads == 1 ? "" : "s",
                   s_fmt(p->mape_median, "%.1f%%", a, sizeof(a)),
                   s_fmt(p->mape_worst, "%.1f%%", b, sizeof(b)),
                   s_fmt(p->regret_median, "%.3f", c, sizeof(c)),
                   s_fmt(p->regret_worst, "%.3f", d, sizeof(d)));
        }
    }
}

static void
s_eval_json(const ad_planner_score_t *rows, size_t n, const char *db, size_t n_runs,
            size_t n_configs, unsigned methods, int small_max, bool naive)
{
    json_t *doc = json_object(), *jr = json_array(), *jm = json_array();

    json_object_set_new(doc, "store", json_string(db));
    json_object_set_new(doc, "runs", json_integer((json_int_t)n_runs));
    json_object_set_new(doc, "configurations", json_integer((json_int_t)n_configs));
    if (methods & AD_PLANNER_EVAL_LOCO)
        json_array_append_new(jm, json_string("loco"));
    if (methods & AD_PLANNER_EVAL_SMALL)
        json_array_append_new(jm, json_string("small-large"));
    if (methods & AD_PLANNER_EVAL_LOMO)
        json_array_append_new(jm, json_string("lomo"));
    json_object_set_new(doc, "methods", jm);
    json_object_set_new(doc, "small_max_workers",
                        small_max > 0 ? json_integer(small_max) : json_null());
    json_object_set_new(doc, "naive", json_boolean(naive));
    for (size_t i = 0; i < n; i++) {
        const ad_planner_score_t *r = &rows[i];
        json_t *o = json_object();

        json_object_set_new(o, "method", json_string(r->method));
        json_object_set_new(o, "predictor", json_string(r->predictor));
        json_object_set_new(o, "pooled", json_boolean(!r->model));
        json_object_set_new(o, "model", r->model ? json_string(r->model) : json_null());
        json_object_set_new(o, "dataset", r->dataset ? json_string(r->dataset) : json_null());
        json_object_set_new(o, "hardware", r->hardware ? json_string(r->hardware) : json_null());
        json_object_set_new(o, "device", r->device ? json_string(r->device) : json_null());
        json_object_set_new(o, "points", json_integer(r->points));
        json_object_set_new(o, "mape", s_num(r->mape));
        json_object_set_new(o, "spearman", s_num(r->spearman));
        json_object_set_new(o, "coverage", s_num(r->coverage));
        json_object_set_new(o, "groups_same", json_integer(r->groups_same));
        json_object_set_new(o, "regret_same", s_num(r->regret_same));
        json_object_set_new(o, "groups_all", json_integer(r->groups_all));
        json_object_set_new(o, "regret_all", s_num(r->regret_all));
        if (!r->model) {
            json_object_set_new(o, "workloads", json_integer(r->workloads));
            json_object_set_new(o, "mape_median", s_num(r->mape_median));
            json_object_set_new(o, "mape_worst", s_num(r->mape_worst));
            json_object_set_new(o, "regret_median", s_num(r->regret_median));
            json_object_set_new(o, "regret_worst", s_num(r->regret_worst));
        }
        json_array_append_new(jr, o);
    }
    json_object_set_new(doc, "rows", jr);
    ad_cli_print_json(doc);
    json_decref(doc);
}

int
ad_cli_plan_evaluate(ad_cli_t *cli, const ad_planner_eval_opts_t *eo)
{
    ad_planner_score_t *rows = NULL;
    ad_planner_t *planner = NULL;
    ad_store_t *store = NULL;
    ad_err_t err = {0};
    const char *db = NULL;
    size_t n_runs = 0, n = 0;
    unsigned methods = eo->methods
                           ? eo->methods
                           : AD_PLANNER_EVAL_LOCO | AD_PLANNER_EVAL_SMALL | AD_PLANNER_EVAL_LOMO;
    int rc;

    rc = ad_cli_open_store(cli, &store, &db);
    if (rc)
        return rc;
    if (!store)
        return ad_cli_fail(AD_CLI_EXIT_ERROR,
                           "nothing to evaluate: %s does not exist (run jobs, or `autodist import "
                           "FILE.csv` logged runs, first)",
                           db);
    rc = s_planner(store, &planner, &n_runs);
    if (rc)
        goto out;
    if (n_runs == 0) {
        rc = ad_cli_fail(AD_CLI_EXIT_ERROR,
                         "nothing to evaluate: %s has no COMPLETED run with a throughput (run "
                         "jobs, or `autodist import FILE.csv` logged runs, first)",
                         db);
        goto out;
    }
    if (ad_planner_evaluate(planner, eo, &rows, &n, &err)) {
        rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "cannot evaluate the runs of %s: %s", db, err.msg);
        goto out;
    }
    if (cli->json) {
        s_eval_json(rows, n, db, n_runs, ad_planner_n_configs(planner), methods,
                    eo->small_max_workers, eo->naive);
    } else {
        printf("cross-validation on %s: %zu runs, %zu configurations\n\n", db, n_runs,
               ad_planner_n_configs(planner));
        s_eval_text(rows, n, eo->small_max_workers);
    }
    rc = AD_CLI_EXIT_OK;
out:
    ad_planner_scores_free(&rows, n);
    ad_planner_free(&planner);
    ad_store_close(&store);
    return rc;
}
