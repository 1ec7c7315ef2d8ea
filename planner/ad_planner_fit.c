/* ad_planner_fit.c - the planner's performance model and its Levenberg-Marquardt fit in log space
 */
#include "ad_planner_int.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autodist/ad_rand.h"

#define S_OBS_SD 0.1        /* spread of a log step time around the model: data vs priors */
#define S_LM_ITERS 200      /* iterations of one LM run at most */
#define S_LM_TOL 1e-6       /* relative decrease of the cost that counts as converged */
#define S_LM_STEP_MAX 3.0   /* largest change of one log parameter in one step */
#define S_FD_STEP 1e-6      /* forward-difference step of the Jacobian */
#define S_RESTART_SD 1.5    /* spread of restart points around the priors (log space) */
#define S_CORR_K 3.0        /* shrinkage of a cell's correction: n / (n + k) */
#define S_HERE_K 1.0        /* shrinkage of a configuration's own correction */
#define S_SIGMA_FLOOR 0.1   /* prior spread of log residuals */
#define S_SIGMA_K 3.0       /* its weight, in configurations */
#define S_SIGMA_PARAM 0.7   /* parameter uncertainty with few configurations ... */
#define S_SIGMA_PARAM_K 2.0 /* ... shrinking as k / (n + k) */

/* --------------------------------------------------------------------------------------- */
/* The model.                                                                              */

double
pl_log_step(const double *g, const double *w, const pl_feat_t *f, double *ltc, double *ltm)
{
    double lc = log(exp(w[PL_W_A]) + exp(w[PL_W_B]) * f->m);
    double lm, gam, x, y, mx;
    bool across;

    if (!f->gpu) {
        double s = 1 / (1 + exp(-w[PL_W_SERIAL]));

        lc += log(s + (1 - s) / f->t);
        if (f->cores > 0) {
            /* Busy cores share the memory system; more threads than cores time-share. */
            double u = (double)f->r * f->t / f->cores;

            lc += log1p(exp(g[PL_G_KAPPA]) * (fmin(u, 1) - 1.0 / f->cores));
            if (u > 1)
                lc += log(u);
        }
    }
    if (ltc)
        *ltc = lc;
    if (f->n <= 1) {
        if (ltm)
            *ltm = -INFINITY;
        return lc;
    }
    /* Ring allreduce; every step waits for the slowest link of the ring. */
    across = f->k > 1;
    lm = log(2.0 * (f->n - 1) / f->n * exp(w[PL_W_GRAD] - g[across ? PL_G_BW_OUT : PL_G_BW_IN]) +
             2.0 * (f->n - 1) * exp(g[across ? PL_G_LAT_OUT : PL_G_LAT_IN]));
    if (ltm)
        *ltm = lm;
    gam = 1 + exp(w[PL_W_GAMMA]);
    x = gam * lc;
    y = gam * lm;
    mx = fmax(x, y);
    return (mx + log(exp(x - mx) + exp(y - mx))) / gam;
}

double
pl_model_log_sps(const pl_group_t *g, const pl_wl_t *w, const pl_feat_t *f, int64_t batch,
                 double *tc, double *tm)
{
    double ltc, ltm;
    double lt = pl_log_step(g->th, w->th, f, &ltc, &ltm);

    if (tc)
        *tc = exp(ltc);
    if (tm)
        *tm = isfinite(ltm) ? exp(ltm) : 0;
    return log((double)batch) - lt;
}

/* --------------------------------------------------------------------------------------- */
/* The least-squares problem of one hardware group.                                        */

typedef struct s_fit {
    ad_planner_t *p;
    int group;
    bool fix_group; /* the group's parameters are held */
    int n_w;        /* workloads fitted */
    int *wls;       /* their indexes */
    int **cfgs;     /* active configurations of each */
    int *n_cfgs;
    pl_feat_t **feats;
    double **lt_obs; /* observed log step time of each configuration */
    int np;          /* free parameters */
    int max_rows;    /* most residual rows of one workload */
    double *prior;
    double *sd;
} s_fit_t;

static int
s_off_w(const s_fit_t *fit, int i)
{
    return (fit->fix_group ? 0 : PL_NG) + i * PL_NW;
}

/* The group parameters x describes (or the held ones). */
static const double *
s_gpar(const s_fit_t *fit, const double *x)
{
    return fit->fix_group ? fit->p->groups[fit->group].th : x;
}

/* Residual rows of workload i at x; returns their number. */
static int
s_resid(const s_fit_t *fit, int i, const double *x, double *r)
{
    const double *g = s_gpar(fit, x), *w = x + s_off_w(fit, i);

    for (int j = 0; j < fit->n_cfgs[i]; j++)
        r[j] = (pl_log_step(g, w, &fit->feats[i][j], NULL, NULL) - fit->lt_obs[i][j]) / S_OBS_SD;
    return fit->n_cfgs[i];
}

static double
s_cost(const s_fit_t *fit, const double *x, double *r)
{
    double c = 0;

    for (int i = 0; i < fit->n_w; i++) {
        int n = s_resid(fit, i, x, r);

        for (int k = 0; k < n; k++)
            c += r[k] * r[k];
    }
    for (int j = 0; j < fit->np; j++) {
        double z = (x[j] - fit->prior[j]) / fit->sd[j];

        c += z * z;
    }
    return c / 2;
}

/* Cholesky factor of a (n x n, lower part overwritten); false when not positive definite. */
static bool
s_chol(double *a, int n)
{
    for (int j = 0; j < n; j++) {
        double d = a[j * n + j];

        for (int k = 0; k < j; k++)
            d -= a[j * n + k] * a[j * n + k];
        if (!(d > 0))
            return false;
        d = sqrt(d);
        a[j * n + j] = d;
        for (int i = j + 1; i < n; i++) {
            double t = a[i * n + j];

            for (int k = 0; k < j; k++)
                t -= a[i * n + k] * a[j * n + k];
            a[i * n + j] = t / d;
        }
    }
    return true;
}

/* Solve L L' x = b in place with the factor of s_chol(). */
static void
s_chol_solve(const double *l, int n, double *b)
{
    for (int i = 0; i < n; i++) {
        double t = b[i];

        for (int k = 0; k < i; k++)
            t -= l[i * n + k] * b[k];
        b[i] = t / l[i * n + i];
    }
    for (int i = n - 1; i >= 0; i--) {
        double t = b[i];

        for (int k = i + 1; k < n; k++)
            t -= l[k * n + i] * b[k];
        b[i] = t / l[i * n + i];
    }
}

/*
 * The normal matrix J'J + priors of a group fit is block-arrow shaped: the
 * group's parameters meet every workload's, workloads never meet each
 * other.  Kept as blocks, it is solved through the Schur complement of the
 * workload blocks in time linear in the number of workloads.
 */
typedef struct s_arrow {
    int nw;                   /* workload blocks */
    bool has_g;               /* the group block is free */
    double gg[PL_NG * PL_NG]; /* group x group */
    double *gw;               /* nw blocks PL_NG x PL_NW: group rows, workload columns */
    double *ww;               /* nw blocks PL_NW x PL_NW */
    double *l;                /* scratch: nw factored workload blocks */
} s_arrow_t;

static void
s_arrow_init(s_arrow_t *a, const s_fit_t *fit)
{
    memset(a, 0, sizeof(*a));
    a->nw = fit->n_w;
    a->has_g = !fit->fix_group;
    a->gw = ad_calloc((size_t)a->nw + 1, sizeof(double) * PL_NG * PL_NW);
    a->ww = ad_calloc((size_t)a->nw + 1, sizeof(double) * PL_NW * PL_NW);
    a->l = ad_calloc((size_t)a->nw + 1, sizeof(double) * PL_NW * PL_NW);
}

static void
s_arrow_free(s_arrow_t *a)
{
    free(a->gw);
    free(a->ww);
    free(a->l);
}

/* Add t to the entries (p, q) and (q, p) of the matrix, p and q indexes of x. */
static void
s_arrow_add(s_arrow_t *a, int p, int q, double t)
{
    int og = a->has_g ? PL_NG : 0;

    if (p < q) {
        int z = p;

        p = q;
        q = z;
    }
    if (q < og) {
        if (p < og) {
            a->gg[p * PL_NG + q] += t;
            if (p != q)
                a->gg[q * PL_NG + p] += t;
        } else {
            int i = (p - og) / PL_NW, c = (p - og) % PL_NW;

            a->gw[(size_t)i * PL_NG * PL_NW + q * PL_NW + c] += t;
        }
    } else {
        int i = (p - og) / PL_NW, r = (p - og) % PL_NW, c = (q - og) % PL_NW;
        double *b = a->ww + (size_t)i * PL_NW * PL_NW;

        assert((q - og) / PL_NW == i);
        b[r * PL_NW + c] += t;
        if (r != c)
            b[c * PL_NW + r] += t;
    }
}

/* Solve (A + lambda diag(A)) x = rhs; false when the damped matrix is not positive definite. */
static bool
s_arrow_solve(s_arrow_t *a, double lambda, const double *rhs, double *x)
{
    int og = a->has_g ? PL_NG : 0;
    double s[PL_NG * PL_NG], sv[PL_NG];

    for (int i = 0; i < a->nw; i++) {
        double *l = a->l + (size_t)i * PL_NW * PL_NW;

        memcpy(l, a->ww + (size_t)i * PL_NW * PL_NW, sizeof(double) * PL_NW * PL_NW);
        for (int k = 0; k < PL_NW; k++)
            l[k * PL_NW + k] += lambda * (l[k * PL_NW + k] + 1e-12);
        if (!s_chol(l, PL_NW))
            return false;
    }
    if (a->has_g) {
        memcpy(s, a->gg, sizeof(s));
        for (int k = 0; k < PL_NG; k++) {
            s[k * PL_NG + k] += lambda * (a->gg[k * PL_NG + k] + 1e-12);
            sv[k] = rhs[k];
        }
        for (int i = 0; i < a->nw; i++) {
            const double *gw = a->gw + (size_t)i * PL_NG * PL_NW;
            const double *l = a->l + (size_t)i * PL_NW * PL_NW;
            double y[PL_NW];

            /* S -= Agw W^-1 Awg, column by column of Awg (rows of Agw). */
            for (int c = 0; c < PL_NG; c++) {
                memcpy(y, gw + c * PL_NW, sizeof(y));
                s_chol_solve(l, PL_NW, y);
                for (int r = 0; r < PL_NG; r++) {
                    double t = 0;

                    for (int k = 0; k < PL_NW; k++)
                        t += gw[r * PL_NW + k] * y[k];
                    s[r * PL_NG + c] -= t;
                }
            }
            memcpy(y, rhs + og + i * PL_NW, sizeof(y));
            s_chol_solve(l, PL_NW, y);
            for (int r = 0; r < PL_NG; r++)
                for (int k = 0; k < PL_NW; k++)
                    sv[r] -= gw[r * PL_NW + k] * y[k];
        }
        if (!s_chol(s, PL_NG))
            return false;
        s_chol_solve(s, PL_NG, sv);
        memcpy(x, sv, sizeof(sv));
    }
    for (int i = 0; i < a->nw; i++) {
        const double *gw = a->gw + (size_t)i * PL_NG * PL_NW;
        double *xi = x + og + i * PL_NW;

        memcpy(xi, rhs + og + i * PL_NW, sizeof(double) * PL_NW);
        if (a->has_g)
            for (int k = 0; k < PL_NW; k++)
                for (int r = 0; r < PL_NG; r++)
                    xi[k] -= gw[r * PL_NW + k] * x[r];
        s_chol_solve(a->l + (size_t)i * PL_NW * PL_NW, PL_NW, xi);
    }
    return true;
}

/* Normal equations at x: A = J'J and jtr = J'r, priors included. */
static void
s_normal(const s_fit_t *fit, double *x, s_arrow_t *a, double *jtr, double *r0, double *r1,
         double *jac)
{
    int cols[PL_NG + PL_NW];

    memset(a->gg, 0, sizeof(a->gg));
    memset(a->gw, 0, sizeof(double) * PL_NG * PL_NW * (size_t)a->nw);
    memset(a->ww, 0, sizeof(double) * PL_NW * PL_NW * (size_t)a->nw);
    memset(jtr, 0, sizeof(double) * (size_t)fit->np);
    for (int i = 0; i < fit->n_w; i++) {
        int nc = 0, nr = s_resid(fit, i, x, r0);

        if (!fit->fix_group)
            for (int k = 0; k < PL_NG; k++)
                cols[nc++] = k;
        for (int k = 0; k < PL_NW; k++)
            cols[nc++] = s_off_w(fit, i) + k;
        for (int c = 0; c < nc; c++) {
            double save = x[cols[c]];

            x[cols[c]] = save + S_FD_STEP;
            s_resid(fit, i, x, r1);
            x[cols[c]] = save;
            for (int k = 0; k < nr; k++)
                jac[c * nr + k] = (r1[k] - r0[k]) / S_FD_STEP;
        }
        for (int p = 0; p < nc; p++) {
            double t = 0;

            for (int k = 0; k < nr; k++)
                t += jac[p * nr + k] * r0[k];
            jtr[cols[p]] += t;
            for (int q = 0; q <= p; q++) {
                /* The group block collects every workload's share. */
                t = 0;
                for (int k = 0; k < nr; k++)
                    t += jac[p * nr + k] * jac[q * nr + k];
                s_arrow_add(a, cols[p], cols[q], t);
            }
        }
    }
    for (int j = 0; j < fit->np; j++) {
        double w = 1 / (fit->sd[j] * fit->sd[j]);

        s_arrow_add(a, j, j, w);
        jtr[j] += w * (x[j] - fit->prior[j]);
    }
}

/* One Levenberg-Marquardt run from x (updated in place); returns the final cost. */
static double
s_lm(const s_fit_t *fit, double *x)
{
    int np = fit->np;
    size_t rows = (size_t)fit->max_rows + 1;
    s_arrow_t a;
    double *jtr = ad_malloc(sizeof(double) * (size_t)np);
    double *rhs = ad_malloc(sizeof(double) * (size_t)np);
    double *step = ad_malloc(sizeof(double) * (size_t)np);
    double *xn = ad_malloc(sizeof(double) * (size_t)np);
    double *r0 = ad_malloc(sizeof(double) * rows);
    double *r1 = ad_malloc(sizeof(double) * rows);
    double *jac = ad_malloc(sizeof(double) * rows * (PL_NG + PL_NW));
    double cost = s_cost(fit, x, r0), lambda = 1e-3;

    s_arrow_init(&a, fit);
    for (int it = 0; it < S_LM_ITERS; it++) {
        bool accepted = false;
        double newcost = cost;

        s_normal(fit, x, &a, jtr, r0, r1, jac);
        for (int j = 0; j < np; j++)
            rhs[j] = -jtr[j];
        while (lambda < 1e12) {
            if (s_arrow_solve(&a, lambda, rhs, step)) {
                for (int j = 0; j < np; j++)
                    xn[j] = x[j] + fmax(-S_LM_STEP_MAX, fmin(S_LM_STEP_MAX, step[j]));
                newcost = s_cost(fit, xn, r0);
                if (isfinite(newcost) && newcost < cost) {
                    accepted = true;
                    break;
                }
            }
            lambda *= 4;
        }
        if (!accepted)
            break;
        memcpy(x, xn, sizeof(double) * (size_t)np);
        lambda = fmax(lambda / 3, 1e-12);
        if (cost - newcost < S_LM_TOL * cost) {
            cost = newcost;
            break;
        }
        cost = newcost;
    }
    s_arrow_free(&a);
    free(jtr);
    free(rhs);
    free(step);
    free(xn);
    free(r0);
    free(r1);
    free(jac);
    return cost;
}

static void
s_fit_build(ad_planner_t *p, s_fit_t *fit, int group, bool fix_group, const int *only, int n_only)
{
    int *local;

    memset(fit, 0, sizeof(*fit));
    fit->p = p;
    fit->group = group;
    fit->fix_group = fix_group;
    fit->wls = ad_malloc(sizeof(int) * (p->n_wls + 1));
    if (only) {
        for (int i = 0; i < n_only; i++)
            fit->wls[fit->n_w++] = only[i];
    } else {
        for (size_t w = 0; w < p->n_wls; w++)
            if (p->wls[w].group == group)
                fit->wls[fit->n_w++] = (int)w;
    }
    fit->cfgs = ad_calloc((size_t)fit->n_w + 1, sizeof(int *));
    fit->n_cfgs = ad_calloc((size_t)fit->n_w + 1, sizeof(int));
    fit->feats = ad_calloc((size_t)fit->n_w + 1, sizeof(pl_feat_t *));
    fit->lt_obs = ad_calloc((size_t)fit->n_w + 1, sizeof(double *));
    local = ad_malloc(sizeof(int) * (p->n_wls + 1));
    for (size_t w = 0; w < p->n_wls; w++)
        local[w] = -1;
    for (int i = 0; i < fit->n_w; i++)
        local[fit->wls[i]] = i;
    for (size_t c = 0; c < p->n_cfgs; c++) {
        const pl_cfg_t *cf = &p->cfgs[c];
        int i = local[cf->wl];

        if (!cf->active || i < 0)
            continue;
        {
            int n = fit->n_cfgs[i]++;

            fit->cfgs[i] = ad_realloc(fit->cfgs[i], sizeof(int) * (size_t)(n + 1));
            fit->feats[i] = ad_realloc(fit->feats[i], sizeof(pl_feat_t) * (size_t)(n + 1));
            fit->lt_obs[i] = ad_realloc(fit->lt_obs[i], sizeof(double) * (size_t)(n + 1));
            fit->cfgs[i][n] = (int)c;
            pl_cfg_feat(p, cf, &fit->feats[i][n]);
            fit->lt_obs[i][n] = log((double)cf->batch) - cf->sum_log_sps / cf->runs;
        }
    }
    free(local);
    /* Workloads without an active configuration are not fitted. */
    {
        int k = 0;

        for (int i = 0; i < fit->n_w; i++) {
            if (fit->n_cfgs[i] == 0) {
                free(fit->cfgs[i]);
                free(fit->feats[i]);
                free(fit->lt_obs[i]);
                continue;
            }
            fit->wls[k] = fit->wls[i];
            fit->cfgs[k] = fit->cfgs[i];
            fit->n_cfgs[k] = fit->n_cfgs[i];
            fit->feats[k] = fit->feats[i];
            fit->lt_obs[k] = fit->lt_obs[i];
            k++;
        }
        fit->n_w = k;
    }
    for (int i = 0; i < fit->n_w; i++)
        if (fit->n_cfgs[i] > fit->max_rows)
            fit->max_rows = fit->n_cfgs[i];
    fit->np = (fix_group ? 0 : PL_NG) + PL_NW * fit->n_w;
    fit->prior = ad_malloc(sizeof(double) * (size_t)(fit->np + 1));
    fit->sd = ad_malloc(sizeof(double) * (size_t)(fit->np + 1));
    if (!fix_group) {
        memcpy(fit->prior, p->groups[group].prior, sizeof(double) * PL_NG);
        memcpy(fit->sd, p->groups[group].sd, sizeof(double) * PL_NG);
    }
    for (int i = 0; i < fit->n_w; i++) {
        memcpy(fit->prior + s_off_w(fit, i), p->wls[fit->wls[i]].prior, sizeof(double) * PL_NW);
        memcpy(fit->sd + s_off_w(fit, i), p->wls[fit->wls[i]].sd, sizeof(double) * PL_NW);
    }
}

static void
s_fit_free(s_fit_t *fit)
{
    for (int i = 0; i < fit->n_w; i++) {
        free(fit->cfgs[i]);
        free(fit->feats[i]);
        free(fit->lt_obs[i]);
    }
    free(fit->cfgs);
    free(fit->n_cfgs);
    free(fit->feats);
    free(fit->lt_obs);
    free(fit->wls);
    free(fit->prior);
    free(fit->sd);
}

/* Solve fit from the current values (warm) and restarts - 1 random points; keep the best. */
static void
s_fit_run(s_fit_t *fit, int restarts, bool warm)
{
    ad_planner_t *p = fit->p;
    int np = fit->np;
    double *x = ad_malloc(sizeof(double) * (size_t)(np + 1));
    double *best = ad_malloc(sizeof(double) * (size_t)(np + 1));
    double best_cost = INFINITY;

    if (fit->n_w == 0 || np == 0)
        goto out_free;
    for (int s = 0; s < restarts; s++) {
        double cost;

        if (s == 0 && warm) {
            if (!fit->fix_group)
                memcpy(x, p->groups[fit->group].th, sizeof(double) * PL_NG);
            for (int i = 0; i < fit->n_w; i++)
                memcpy(x + s_off_w(fit, i), p->wls[fit->wls[i]].th, sizeof(double) * PL_NW);
        } else {
            memcpy(x, fit->prior, sizeof(double) * (size_t)np);
            if (s > (warm ? 1 : 0))
                for (int j = 0; j < np; j++)
                    x[j] += fmin(fit->sd[j], S_RESTART_SD) * ad_rand_gauss(&p->rng);
        }
        cost = s_lm(fit, x);
        if (cost < best_cost) {
            best_cost = cost;
            memcpy(best, x, sizeof(double) * (size_t)np);
        }
    }
    if (!fit->fix_group)
        memcpy(p->groups[fit->group].th, best, sizeof(double) * PL_NG);
    for (int i = 0; i < fit->n_w; i++)
        memcpy(p->wls[fit->wls[i]].th, best + s_off_w(fit, i), sizeof(double) * PL_NW);
out_free:
    free(x);
    free(best);
}

void
pl_fit_all(ad_planner_t *self)
{
    for (size_t w = 0; w < self->n_wls; w++)
        memcpy(self->wls[w].th, self->wls[w].prior, sizeof(self->wls[w].th));
    for (size_t g = 0; g < self->n_groups; g++) {
        s_fit_t fit;

        memcpy(self->groups[g].th, self->groups[g].prior, sizeof(self->groups[g].th));
        s_fit_build(self, &fit, (int)g, false, NULL, 0);
        s_fit_run(&fit, self->restarts > 0 ? self->restarts : 1, false);
        s_fit_free(&fit);
    }
}

void
pl_fit_one(ad_planner_t *self, int wl)
{
    s_fit_t fit;

    s_fit_build(self, &fit, self->wls[wl].group, true, &wl, 1);
    if (fit.n_w == 0)
        memcpy(self->wls[wl].th, self->wls[wl].prior, sizeof(self->wls[wl].th));
    else
        s_fit_run(&fit, 1, true);
    s_fit_free(&fit);
}

/* --------------------------------------------------------------------------------------- */
/* What a fit rests on: corrections and spreads.                                           */

void
pl_fit_stats(ad_planner_t *self)
{
    size_t nw = self->n_wls;
    double *e = ad_malloc(sizeof(double) * (self->n_cfgs + 1));

    zhashx_purge(self->cell_index);
    self->n_cells = 0;
    for (size_t w = 0; w < nw; w++) {
        pl_wl_t *wl = &self->wls[w];

        wl->n_cfg = wl->n_runs = 0;
        wl->max_ranks = wl->max_nodes = wl->max_threads = 1;
        wl->fams = 0;
        wl->sigma = 0;
    }
    for (size_t c = 0; c < self->n_cfgs; c++) {
        pl_cfg_t *cf = &self->cfgs[c];
        pl_wl_t *wl = &self->wls[cf->wl];
        pl_cell_t *cell;
        pl_feat_t f;

        cf->corr_here = 0;
        if (!cf->active)
            continue;
        pl_cfg_feat(self, cf, &f);
        e[c] = cf->sum_log_sps / cf->runs -
               pl_model_log_sps(&self->groups[wl->group], wl, &f, cf->batch, NULL, NULL);
        cell = pl_cell(self, cf->wl, cf->nodes, cf->ranks, cf->threads, true);
        cell->n++;
        cell->sum += e[c];
        wl->n_cfg++;
        wl->n_runs += cf->runs;
        if (cf->ranks > wl->max_ranks)
            wl->max_ranks = cf->ranks;
        if (cf->nodes > wl->max_nodes)
            wl->max_nodes = cf->nodes;
        if (cf->threads > wl->max_threads)
            wl->max_threads = cf->threads;
        wl->fams |= 1u << pl_family(cf->nodes, cf->ranks, cf->threads);
    }
    for (size_t i = 0; i < self->n_cells; i++)
        self->cells[i].corr = self->cells[i].sum / (self->cells[i].n + S_CORR_K);
    for (size_t c = 0; c < self->n_cfgs; c++) {
        pl_cfg_t *cf = &self->cfgs[c];
        pl_wl_t *wl = &self->wls[cf->wl];
        double d;

        if (!cf->active)
            continue;
        d = e[c] - pl_cell_corr(self, cf->wl, cf->nodes, cf->ranks, cf->threads);
        cf->corr_here = d * cf->runs / (cf->runs + S_HERE_K);
        wl->sigma += d * d;
    }
    for (size_t w = 0; w < nw; w++) {
        pl_wl_t *wl = &self->wls[w];
        double n = wl->n_cfg;
        double param = S_SIGMA_PARAM * S_SIGMA_PARAM_K / (n + S_SIGMA_PARAM_K);

        wl->sigma_res =
            sqrt((wl->sigma + S_SIGMA_K * S_SIGMA_FLOOR * S_SIGMA_FLOOR) / (n + S_SIGMA_K));
        wl->sigma = sqrt(wl->sigma_res * wl->sigma_res + param * param);
    }
    free(e);
}

/* --------------------------------------------------------------------------------------- */
/* Debugging.                                                                              */

static const char *const s_dump_dev[2] = {"cpu", "gpu"};

void
ad_planner_dump(ad_planner_t *self, FILE *out)
{
    if (self->dirty)
        ad_planner_fit(self, NULL);
    for (size_t i = 0; i < self->n_groups; i++) {
        const pl_group_t *g = &self->groups[i];

        fprintf(out,
                "group %s/%s: bw_in %.3g B/s lat_in %.3g s bw_out %.3g B/s lat_out %.3g s "
                "kappa %.3g\n",
                self->hw[g->hw].name, s_dump_dev[g->gpu], exp(g->th[PL_G_BW_IN]),
                exp(g->th[PL_G_LAT_IN]), exp(g->th[PL_G_BW_OUT]), exp(g->th[PL_G_LAT_OUT]),
                exp(g->th[PL_G_KAPPA]));
    }
    for (size_t i = 0; i < self->n_wls; i++) {
        const pl_wl_t *w = &self->wls[i];

        fprintf(out,
                "workload %s/%s on %s/%s: %d configs, %d runs; a %.3g s b %.3g s/sample "
                "serial %.3g grad %.3g B gamma %.3g; sigma %.3f\n",
                w->model, w->dataset, self->hw[self->groups[w->group].hw].name,
                s_dump_dev[self->groups[w->group].gpu], w->n_cfg, w->n_runs, exp(w->th[PL_W_A]),
                exp(w->th[PL_W_B]), 1 / (1 + exp(-w->th[PL_W_SERIAL])), exp(w->th[PL_W_GRAD]),
                1 + exp(w->th[PL_W_GAMMA]), w->sigma);
    }
}
