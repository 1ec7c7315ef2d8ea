/* ad_planner_eval.c - cross-validation of the planner: MAPE, rank correlation, regret */
#include "ad_planner_int.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* LOCO refits at most this many held-out configurations by default. */
#define S_LOCO_MAX 2000
/* Two predictions this close (relative) are a tie. */
#define S_TIE 1e-9

/* One held-out configuration of one method. */
typedef struct s_point {
    int cfg;
    double truth; /* mean measured samples/s */
    double pred;  /* model */
    double low, high;
    double naive; /* naive linear scaling; NaN = no 1-worker figure */
} s_point_t;

typedef struct s_points {
    s_point_t *v;
    size_t n, cap;
} s_points_t;

static int
s_workers(const ad_planner_t *p, const pl_cfg_t *c)
{
    return p->groups[p->wls[c->wl].group].gpu ? c->ranks : c->ranks * c->threads;
}

/*
 * Naive linear scaling: the 1 x 1 x 1 throughput of the same workload at the
 * same per-rank batch (weak scaling, as in the traces), else at the same
 * global batch, times the workers; only from active configurations.
 */
static double
s_naive(const ad_planner_t *p, const pl_cfg_t *c)
{
    int b = c->batch % c->ranks ? -1 : pl_find_base(p, c->wl, c->batch / c->ranks);

    if (b < 0 || !p->cfgs[b].active)
        b = pl_find_base(p, c->wl, c->batch);
    if (b < 0 || !p->cfgs[b].active)
        return NAN;
    return p->cfgs[b].sum_sps / p->cfgs[b].runs * s_workers(p, c);
}

static void
s_add_point(ad_planner_t *p, s_points_t *pts, int ci)
{
    ad_planner_pred_t pr;
    s_point_t *pt;

    pl_predict_cfg(p, ci, &pr);
    if (pts->n == pts->cap) {
        pts->cap = pts->cap ? 2 * pts->cap : 64;
        pts->v = ad_realloc(pts->v, pts->cap * sizeof(*pts->v));
    }
    pt = &pts->v[pts->n++];
    pt->cfg = ci;
    pt->truth = p->cfgs[ci].sum_sps / p->cfgs[ci].runs;
    pt->pred = pr.samples_per_s;
    pt->low = pr.low;
    pt->high = pr.high;
    pt->naive = s_naive(p, &p->cfgs[ci]);
}

/* --------------------------------------------------------------------------------------- */
/* The three cross-validations; each fills pts with held-out predictions.                  */

static void
s_loco(ad_planner_t *p, int max, s_points_t *pts, s_points_t *rpts)
{
    size_t stride = 1, n_groups = 0;
    pl_wl_t *save = ad_malloc(sizeof(pl_wl_t) * (p->n_wls + 1));
    int *group = ad_malloc(sizeof(int) * (p->n_cfgs + 1));
    int *size = ad_calloc(p->n_cfgs + 1, sizeof(int));
    zhashx_t *index;

    pl_fit_all(p);
    pl_fit_stats(p);
    memcpy(save, p->wls, sizeof(pl_wl_t) * p->n_wls);
    if (max > 0 && p->n_cfgs > (size_t)max)
        stride = (p->n_cfgs + (size_t)max - 1) / (size_t)max;
    for (size_t c = 0; c < p->n_cfgs; c += stride) {
        int wl = p->cfgs[c].wl;

        p->cfgs[c].active = false;
        pl_fit_one(p, wl);
        pl_fit_stats(p);
        s_add_point(p, pts, (int)c);
        p->cfgs[c].active = true;
        /* Back to the full fit: every held-out configuration starts from the same point. */
        memcpy(p->wls[wl].th, save[wl].th, sizeof(save[wl].th));
    }
    /*
     * Regret compares layouts of one batch and worker count: predicted each
     * by its own refit, their differences would be those of the refits, so
     * such a group is held out and predicted as a whole.
     */
    index = zhashx_new();
    if (!index)
        ad_oom(sizeof(void *));
    for (size_t c = 0; c < p->n_cfgs; c++) {
        char key[96];
        void *v;

        snprintf(key, sizeof(key), "%d/%" PRId64 "/%d", p->cfgs[c].wl, p->cfgs[c].batch,
                 s_workers(p, &p->cfgs[c]));
        v = zhashx_lookup(index, key);
        if (v) {
            group[c] = (int)((intptr_t)v - 1);
        } else {
            group[c] = (int)n_groups++;
            zhashx_insert(index, key, (void *)(intptr_t)n_groups);
        }
        size[group[c]]++;
    }
    zhashx_destroy(&index);
    for (size_t gi = 0; gi < n_groups; gi++) {
        int wl = -1;

        if (size[gi] < 2 || (stride > 1 && gi % stride))
            continue;
        for (size_t c = 0; c < p->n_cfgs; c++)
            if (group[c] == (int)gi) {
                p->cfgs[c].active = false;
                wl = p->cfgs[c].wl;
            }
        pl_fit_one(p, wl);
        pl_fit_stats(p);
        for (size_t c = 0; c < p->n_cfgs; c++)
            if (group[c] == (int)gi)
                s_add_point(p, rpts, (int)c);
        for (size_t c = 0; c < p->n_cfgs; c++)
            p->cfgs[c].active = true;
        memcpy(p->wls[wl].th, save[wl].th, sizeof(save[wl].th));
    }
    pl_fit_stats(p);
    free(save);
    free(group);
    free(size);
}

static void
s_small(ad_planner_t *p, int small_max, s_points_t *pts)
{
    for (size_t c = 0; c < p->n_cfgs; c++)
        p->cfgs[c].active = s_workers(p, &p->cfgs[c]) <= small_max;
    pl_fit_all(p);
    pl_fit_stats(p);
    for (size_t c = 0; c < p->n_cfgs; c++)
        if (!p->cfgs[c].active)
            s_add_point(p, pts, (int)c);
    for (size_t c = 0; c < p->n_cfgs; c++)
        p->cfgs[c].active = true;
}

static void
s_lomo(ad_planner_t *p, s_points_t *pts)
{
    for (size_t w = 0; w < p->n_wls; w++) {
        const char *model = p->wls[w].model;
        bool first = true;

        for (size_t v = 0; v < w; v++)
            if (!strcmp(p->wls[v].model, model))
                first = false;
        if (!first)
            continue;
        /* The held-out model keeps its 1 x 1 x 1 runs: the "one baseline run" situation. */
        for (size_t c = 0; c < p->n_cfgs; c++) {
            const pl_cfg_t *cf = &p->cfgs[c];

            p->cfgs[c].active =
                strcmp(p->wls[cf->wl].model, model) || (cf->ranks == 1 && cf->threads == 1);
        }
        pl_fit_all(p);
        pl_fit_stats(p);
        for (size_t c = 0; c < p->n_cfgs; c++)
            if (!p->cfgs[c].active)
                s_add_point(p, pts, (int)c);
    }
    for (size_t c = 0; c < p->n_cfgs; c++)
        p->cfgs[c].active = true;
}

/* --------------------------------------------------------------------------------------- */
/* Scores.                                                                                 */

static int
s_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double
s_median(double *v, int n)
{
    if (n == 0)
        return NAN;
    qsort(v, (size_t)n, sizeof(double), s_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

typedef struct s_rank_item {
    double v;
    int i;
} s_rank_item_t;

static int
s_cmp_rank(const void *a, const void *b)
{
    const s_rank_item_t *x = a, *y = b;

    return (x->v > y->v) - (x->v < y->v);
}

/* Ranks (1-based, ties averaged) of v[0..n). */
static void
s_ranks(const double *v, int n, double *rank)
{
    s_rank_item_t *it = ad_malloc(sizeof(*it) * (size_t)(n + 1));

    for (int i = 0; i < n; i++) {
        it[i].v = v[i];
        it[i].i = i;
    }
    qsort(it, (size_t)n, sizeof(*it), s_cmp_rank);
    for (int i = 0; i < n;) {
        int j = i;

        while (j + 1 < n && it[j + 1].v == it[i].v)
            j++;
        for (int k = i; k <= j; k++)
            rank[it[k].i] = (i + j) / 2.0 + 1;
        i = j + 1;
    }
    free(it);
}

static double
s_spearman(const double *x, const double *y, int n)
{
    double *rx, *ry, mx = 0, my = 0, sxy = 0, sxx = 0, syy = 0;

    if (n < 3)
        return NAN;
    rx = ad_malloc(sizeof(double) * (size_t)n);
    ry = ad_malloc(sizeof(double) * (size_t)n);
    s_ranks(x, n, rx);
    s_ranks(y, n, ry);
    for (int i = 0; i < n; i++) {
        mx += rx[i] / n;
        my += ry[i] / n;
    }
    for (int i = 0; i < n; i++) {
        sxy += (rx[i] - mx) * (ry[i] - my);
        sxx += (rx[i] - mx) * (rx[i] - mx);
        syy += (ry[i] - my) * (ry[i] - my);
    }
    free(rx);
    free(ry);
    return sxx > 0 && syy > 0 ? sxy / sqrt(sxx * syy) : NAN;
}

/*
 * Regret over groups of points (same batch, and same workers when
 * by_workers): best true throughput / true throughput of the point with the
 * best prediction; ties in the prediction count as a uniform random pick.
 * Adds to *sum and *groups.
 */
static void
s_regret(const ad_planner_t *p, const s_point_t *const *pt, const double *pred, int n,
         bool by_workers, double *sum, int *groups)
{
    bool *done = ad_calloc((size_t)n + 1, sizeof(bool));

    for (int i = 0; i < n; i++) {
        const pl_cfg_t *ci = &p->cfgs[pt[i]->cfg];
        double best_true = 0, best_pred = -INFINITY, acc = 0;
        int members = 0, ties = 0;

        if (done[i])
            continue;
        for (int j = i; j < n; j++) {
            const pl_cfg_t *cj = &p->cfgs[pt[j]->cfg];

            if (done[j] || cj->batch != ci->batch ||
                (by_workers && s_workers(p, cj) != s_workers(p, ci)))
                continue;
            done[j] = true;
            members++;
            best_true = fmax(best_true, pt[j]->truth);
            best_pred = fmax(best_pred, pred[j]);
        }
        if (members < 2)
            continue;
        for (int j = i; j < n; j++) {
            const pl_cfg_t *cj = &p->cfgs[pt[j]->cfg];

            if (cj->batch != ci->batch || (by_workers && s_workers(p, cj) != s_workers(p, ci)))
                continue;
            if (pred[j] >= best_pred * (1 - S_TIE)) {
                acc += best_true / pt[j]->truth;
                ties++;
            }
        }
        *sum += acc / ties;
        (*groups)++;
    }
    free(done);
}

typedef struct s_rows {
    ad_planner_score_t *v;
    size_t n, cap;
} s_rows_t;

static ad_planner_score_t *
s_new_row(s_rows_t *rows, const char *method, const char *predictor)
{
    ad_planner_score_t *r;

    if (rows->n == rows->cap) {
        rows->cap = rows->cap ? 2 * rows->cap : 16;
        rows->v = ad_realloc(rows->v, rows->cap * sizeof(*rows->v));
    }
    r = &rows->v[rows->n++];
    memset(r, 0, sizeof(*r));
    r->method = method;
    r->predictor = predictor;
    r->mape = r->spearman = r->coverage = r->regret_same = r->regret_all = NAN;
    r->mape_median = r->mape_worst = r->regret_median = r->regret_worst = NAN;
    return r;
}

/* Score one predictor's points: one pooled row, then a row per workload. */
static void
s_score(const ad_planner_t *p, const s_points_t *pts, const s_points_t *rpts, const char *method,
        bool naive, s_rows_t *rows)
{
    size_t pooled_at = rows->n;
    ad_planner_score_t *pool;
    size_t most = pts->n > rpts->n ? pts->n : rpts->n;
    const s_point_t **sel = ad_malloc(sizeof(*sel) * (most + 1));
    double *pred = ad_malloc(sizeof(double) * (most + 1));
    double *truth = ad_malloc(sizeof(double) * (most + 1));
    double *wl_mape = ad_malloc(sizeof(double) * (p->n_wls + 1));
    double *wl_regret = ad_malloc(sizeof(double) * (p->n_wls + 1));
    double *wl_rho = ad_malloc(sizeof(double) * (p->n_wls + 1));
    int n_mape = 0, n_regret = 0, n_rho = 0, inside = 0;
    double ape_all = 0, rs_all = 0, ra_all = 0;
    int gs_all = 0, ga_all = 0, pts_all = 0;

    s_new_row(rows, method, naive ? "naive" : "model");
    for (size_t w = 0; w < p->n_wls; w++) {
        const pl_wl_t *wl = &p->wls[w];
        const pl_group_t *g = &p->groups[wl->group];
        ad_planner_score_t *r;
        double ape = 0, rs = 0, ra = 0;
        int n = 0, in = 0, gs = 0, ga = 0;

        for (size_t i = 0; i < pts->n; i++) {
            const s_point_t *pt = &pts->v[i];
            double v = naive ? pt->naive : pt->pred;

            if (p->cfgs[pt->cfg].wl != (int)w || !isfinite(v))
                continue;
            sel[n] = pt;
            pred[n] = v;
            truth[n] = pt->truth;
            ape += fabs(v - pt->truth) / pt->truth;
            in += pt->truth >= pt->low && pt->truth <= pt->high;
            n++;
        }
        if (n == 0)
            continue;
        r = s_new_row(rows, method, naive ? "naive" : "model");
        r->spearman = s_spearman(pred, truth, n);
        if (rpts != pts) {
            int m = 0;

            for (size_t i = 0; i < rpts->n; i++) {
                const s_point_t *pt = &rpts->v[i];
                double v = naive ? pt->naive : pt->pred;

                if (p->cfgs[pt->cfg].wl != (int)w || !isfinite(v))
                    continue;
                sel[m] = pt;
                pred[m++] = v;
            }
            /* Across worker counts these predictions come from different refits: no regret_all. */
            s_regret(p, sel, pred, m, true, &rs, &gs);
        } else {
            s_regret(p, sel, pred, n, true, &rs, &gs);
            s_regret(p, sel, pred, n, false, &ra, &ga);
        }
        r->model = ad_strdup(wl->model);
        r->dataset = ad_strdup(wl->dataset);
        r->hardware = ad_strdup(p->hw[g->hw].name);
        r->device = ad_strdup(g->gpu ? "gpu" : "cpu");
        r->points = n;
        r->mape = 100 * ape / n;
        r->coverage = naive ? NAN : (double)in / n;
        r->groups_same = gs;
        r->regret_same = gs ? rs / gs : NAN;
        r->groups_all = ga;
        r->regret_all = ga ? ra / ga : NAN;
        wl_mape[n_mape++] = r->mape;
        if (gs)
            wl_regret[n_regret++] = r->regret_same;
        if (isfinite(r->spearman))
            wl_rho[n_rho++] = r->spearman;
        ape_all += ape;
        inside += in;
        pts_all += n;
        rs_all += rs;
        gs_all += gs;
        ra_all += ra;
        ga_all += ga;
    }
    pool = &rows->v[pooled_at]; /* rows->v moves as rows are added */
    pool->points = pts_all;
    pool->workloads = n_mape;
    if (pts_all) {
        pool->mape = 100 * ape_all / pts_all;
        pool->coverage = naive ? NAN : (double)inside / pts_all;
    }
    pool->groups_same = gs_all;
    pool->regret_same = gs_all ? rs_all / gs_all : NAN;
    pool->groups_all = ga_all;
    pool->regret_all = ga_all ? ra_all / ga_all : NAN;
    pool->spearman = s_median(wl_rho, n_rho);
    if (n_mape) {
        pool->mape_worst = wl_mape[0];
        for (int i = 1; i < n_mape; i++)
            pool->mape_worst = fmax(pool->mape_worst, wl_mape[i]);
        pool->mape_median = s_median(wl_mape, n_mape);
    }
    if (n_regret) {
        pool->regret_worst = wl_regret[0];
        for (int i = 1; i < n_regret; i++)
            pool->regret_worst = fmax(pool->regret_worst, wl_regret[i]);
        pool->regret_median = s_median(wl_regret, n_regret);
    }
    free(sel);
    free(pred);
    free(truth);
    free(wl_mape);
    free(wl_regret);
    free(wl_rho);
}

int
ad_planner_evaluate(ad_planner_t *self, const ad_planner_eval_opts_t *opts,
                    ad_planner_score_t **rows, size_t *n, ad_err_t *err)
{
    static const struct {
        unsigned bit;
        const char *name;
    } methods[] = {
        {AD_PLANNER_EVAL_LOCO, "loco"},
        {AD_PLANNER_EVAL_SMALL, "small-large"},
        {AD_PLANNER_EVAL_LOMO, "lomo"},
    };
    unsigned mask = opts && opts->methods ? opts->methods : 7u;
    s_rows_t out = {0};
    ad_planner_t *p;

    assert(self && rows && n);
    *rows = NULL;
    *n = 0;
    if (self->n_cfgs < 2)
        return ad_err_set(err, AD_EINVAL, "nothing to evaluate: %zu configuration%s logged",
                          self->n_cfgs, self->n_cfgs == 1 ? "" : "s");
    p = pl_clone(self);
    for (size_t m = 0; m < sizeof(methods) / sizeof(methods[0]); m++) {
        s_points_t pts = {0}, rpts = {0};
        const s_points_t *regret_pts = &pts;

        if (!(mask & methods[m].bit))
            continue;
        if (methods[m].bit == AD_PLANNER_EVAL_LOCO) {
            s_loco(p, opts && opts->loco_max > 0 ? opts->loco_max : S_LOCO_MAX, &pts, &rpts);
            regret_pts = &rpts;
        } else if (methods[m].bit == AD_PLANNER_EVAL_SMALL) {
            int small = opts ? opts->small_max_workers : 0;

            if (small <= 0) {
                int most = 1;

                for (size_t c = 0; c < p->n_cfgs; c++)
                    if (s_workers(p, &p->cfgs[c]) > most)
                        most = s_workers(p, &p->cfgs[c]);
                small = most / 4 > 1 ? most / 4 : 1;
            }
            s_small(p, small, &pts);
        } else {
            s_lomo(p, &pts);
        }
        s_score(p, &pts, regret_pts, methods[m].name, false, &out);
        if (opts && opts->naive)
            s_score(p, &pts, regret_pts, methods[m].name, true, &out);
        free(pts.v);
        free(rpts.v);
    }
    ad_planner_free(&p);
    *rows = out.v;
    *n = out.n;
    ad_err_clear(err);
    return 0;
}

void
ad_planner_scores_free(ad_planner_score_t **rows_p, size_t n)
{
    if (!rows_p || !*rows_p)
        return;
    for (size_t i = 0; i < n; i++) {
        free((*rows_p)[i].model);
        free((*rows_p)[i].dataset);
        free((*rows_p)[i].hardware);
        free((*rows_p)[i].device);
    }
    free(*rows_p);
    *rows_p = NULL;
}
