/* ad_cli_plan.c - `autodist plan` and `autodist predict`: rankings, predictions, evaluation */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ad_cli.h"
#include "ad_cli_plan.h"
#include "autodist/ad_choose.h"
#include "autodist/ad_described.h"
#include "autodist/ad_job.h"
#include "autodist/ad_layout.h"
#include "autodist/ad_planner.h"
#include "autodist/ad_store.h"

/*
 * All three read HOME/runs.db read-only into a planner (docs/planner.md,
 * "Commands"); a missing store is a cold start.  `plan JOB.yaml` asks the
 * coordinator for the live nodes and falls back to the nodes the store
 * knows when it does not answer, so a plan can be made on a laptop with a
 * store copied back from a cluster.
 */

/* How long plan waits for NODES before planning on the store's nodes (ms). */
#define S_NODES_TIMEOUT_MS 1500
/* Candidates shown by default. */
#define S_TOP_DEFAULT 20
/* Node names listed per hardware class before "and N more". */
#define S_NAMES_SHOWN 6

/* Options of plan and predict. */
enum {
    S_OPT_DEVICE = 256,
    S_OPT_MAX_NODES,
    S_OPT_TOP,
    S_OPT_EVALUATE,
    S_OPT_METHOD,
    S_OPT_SMALL_MAX,
    S_OPT_NAIVE,
    S_OPT_MODEL,
    S_OPT_DATASET,
    S_OPT_HARDWARE,
    S_OPT_BATCH,
    S_OPT_LAYOUT,
    S_OPT_PARAMS,
    S_OPT_FLOPS,
    S_OPT_CLUSTER,
    S_OPT_NODES,
};

/* Most nodes plan --cluster --nodes plans on. */
#define S_CLUSTER_MAX_NODES 4096

/* A node candidates may use, from the coordinator or the store. */
typedef struct pnode {
    char *name;           /* host name */
    char *hardware;       /* hardware class ("" when unknown) */
    int cores;            /* physical cores */
    int gpus;             /* GPUs */
    int64_t memory_bytes; /* 0 = unknown */
    bool this_machine;    /* reached at a loopback address: a simulated node of this machine */
} pnode_t;

typedef struct pnodes {
    pnode_t *v;
    size_t n, cap;
    bool from_store; /* the coordinator did not answer: the store's nodes */
    char *basis;     /* plan --cluster: "described hardware (gros, ...), not measured"; else NULL */
    char *figures;   /* plan --cluster: what the benchmark figures rest on */
    json_t *cluster; /* plan --cluster: {name, site, nodes, profile, nodes_planned, ...} */
    bool measured;   /* plan --cluster: the figures were measured on the same hardware class */
} pnodes_t;

static void
s_nodes_add(pnodes_t *ns, const char *name, const char *hw, int cores, int gpus, int64_t mem)
{
    if (ns->n == ns->cap) {
        ns->cap = ns->cap ? 2 * ns->cap : 16;
        ns->v = ad_realloc(ns->v, ns->cap * sizeof(*ns->v));
    }
    ns->v[ns->n].name = ad_strdup(name ? name : "?");
    ns->v[ns->n].hardware = ad_strdup(hw ? hw : "");
    ns->v[ns->n].cores = cores;
    ns->v[ns->n].gpus = gpus;
    ns->v[ns->n].memory_bytes = mem;
    ns->v[ns->n].this_machine = false;
    ns->n++;
}

static void
s_nodes_clear(pnodes_t *ns)
{
    for (size_t i = 0; i < ns->n; i++) {
        free(ns->v[i].name);
        free(ns->v[i].hardware);
    }
    free(ns->v);
    free(ns->basis);
    free(ns->figures);
    json_decref(ns->cluster);
    memset(ns, 0, sizeof(*ns));
}

static json_t *
s_num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* A planner with the store's runs and profiles (none without one).  Returns 0 or an exit status. */
static int
s_planner(ad_store_t *store, ad_planner_t **out, size_t *n_runs)
{
    ad_err_t err = {0};

    *out = ad_planner_new();
    *n_runs = 0;
    if (store && ad_planner_load_store(*out, store, NULL, n_runs, &err)) {
        ad_planner_free(out);
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", err.msg);
    }
    return 0;
}

static int
s_parse_device(const char *arg, bool allow_auto, const char **out)
{
    if (!strcmp(arg, "cpu") || !strcmp(arg, "gpu") || (allow_auto && !strcmp(arg, "auto"))) {
        *out = arg;
        return 0;
    }
    return ad_cli_fail(AD_CLI_EXIT_USAGE, "--device must be %s, got \"%s\"",
                       allow_auto ? "cpu, gpu or auto" : "cpu or gpu", arg);
}

static json_t *
s_layout_json(const ad_planner_layout_t *l)
{
    return json_pack("{s:i s:i s:i s:s}", "nodes", l->nodes, "procs_per_node", l->procs_per_node,
                     "threads_per_proc", l->threads_per_proc, "device",
                     l->device ? l->device : "cpu");
}

/* ---- predict --------------------------------------------------------------------------- */

/* "NxPxT" (or the older "N,P,T") with integers >= 1 into v[3]. */
static int
s_parse_layout(const char *arg, int *v)
{
    ad_layout_t l;
    ad_err_t err = {0};

    if (ad_layout_parse("--layout", arg, &l, &err))
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "%s", err.msg);
    v[0] = l.nodes;
    v[1] = l.procs_per_node;
    v[2] = l.threads_per_proc;
    return 0;
}

static void
s_print_pred_json(const ad_planner_workload_t *w, const ad_planner_layout_t *l,
                  const ad_planner_pred_t *p)
{
    /* The contract's keys first (DESIGN §7), then what else the prediction knows. */
    json_t *o = json_object();

    json_object_set_new(o, "samples_per_s", s_num(p->samples_per_s));
    json_object_set_new(o, "low", s_num(p->low));
    json_object_set_new(o, "high", s_num(p->high));
    json_object_set_new(o, "speedup", s_num(p->speedup));
    json_object_set_new(o, "basis", json_string(p->basis));
    json_object_set_new(o, "efficiency", s_num(p->efficiency));
    json_object_set_new(o, "baseline_samples_per_s", s_num(p->baseline_samples_per_s));
    json_object_set_new(o, "baseline_measured", json_boolean(p->baseline_measured));
    json_object_set_new(o, "step_time_s", s_num(p->step_time_s));
    json_object_set_new(o, "compute_s", s_num(p->compute_s));
    json_object_set_new(o, "comm_s", s_num(p->comm_s));
    json_object_set_new(o, "n_runs", json_integer(p->n_runs));
    json_object_set_new(o, "n_here", json_integer(p->n_here));
    json_object_set_new(o, "extrapolated", json_boolean(p->extrapolated));
    json_object_set_new(o, "model", json_string(w->model));
    json_object_set_new(o, "dataset", json_string(w->dataset));
    json_object_set_new(o, "hardware", json_string(w->hardware));
    json_object_set_new(o, "batch_size", json_integer(w->batch_size));
    json_object_set_new(o, "layout", s_layout_json(l));
    ad_cli_print_json(o);
    json_decref(o);
}

/* What predict needs and was not given, or given empty.  Returns 0 or an exit status. */
static int
s_predict_check(const ad_planner_workload_t *w, const int *lv)
{
    const char *missing = !w->model        ? "--model M"
                          : !w->dataset    ? "--dataset D"
                          : !w->hardware   ? "--hardware H"
                          : !w->batch_size ? "--batch-size B"
                          : !lv[0]         ? "--layout NODESxPROCSxTHREADS"
                                           : NULL;

    if (missing)
        return ad_cli_fail(AD_CLI_EXIT_USAGE,
                           "predict needs %s (autodist predict --model M --dataset D "
                           "--hardware H --batch-size B --layout NODESxPROCSxTHREADS)",
                           missing);
    if (!*w->model || !*w->dataset || !*w->hardware)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "predict: --model, --dataset and --hardware must "
                                              "not be empty");
    return 0;
}

static void
s_print_pred_text(ad_cli_t *cli, const ad_planner_workload_t *w, const ad_planner_layout_t *l,
                  const ad_planner_pred_t *p)
{
    char buf[64], lo[32], hi[32], sps[32], hw[200];

    printf("%s on %s, batch %" PRId64 ", %s %s on %s: %s samples/s [%s-%s], speedup "
           "%.2fx, efficiency %.0f%% (%s%s)\n",
           w->model, w->dataset, w->batch_size, ad_choose_layout_str(l, buf, sizeof(buf)),
           l->device, ad_cli_hw_label_full(cli, w->hardware, hw, sizeof(hw)),
           ad_cli_fmt_rate(p->samples_per_s, sps, sizeof(sps)),
           ad_cli_fmt_rate(p->low, lo, sizeof(lo)), ad_cli_fmt_rate(p->high, hi, sizeof(hi)),
           p->speedup, 100.0 * p->efficiency, p->basis, p->extrapolated ? ", extrapolated" : "");
}

int
ad_cli_predict(ad_cli_t *cli, int argc, char **argv)
{
    static const struct option longs[] = {
        {"model", required_argument, NULL, S_OPT_MODEL},
        {"dataset", required_argument, NULL, S_OPT_DATASET},
        {"hardware", required_argument, NULL, S_OPT_HARDWARE},
        {"batch-size", required_argument, NULL, S_OPT_BATCH},
        {"layout", required_argument, NULL, S_OPT_LAYOUT},
        {"device", required_argument, NULL, S_OPT_DEVICE},
        {"params", required_argument, NULL, S_OPT_PARAMS},
        {"flops-per-sample", required_argument, NULL, S_OPT_FLOPS},
        {NULL, 0, NULL, 0},
    };
    ad_planner_workload_t w = {.flops_per_sample = NAN};
    ad_planner_layout_t l = {.device = "cpu"};
    ad_planner_t *planner = NULL;
    ad_store_t *store = NULL;
    ad_planner_pred_t pred;
    ad_err_t err = {0};
    const char *arg, *db = NULL;
    int64_t params = 0;
    double flops = NAN;
    int c, rc, lv[3] = {0, 0, 0};
    size_t n_runs;
    char hw[256];

    while ((c = ad_cli_getopt(cli, argc, argv, longs, &arg)) != AD_CLI_OPT_END) {
        switch (c) {
        case AD_CLI_OPT_HELP:
            return AD_CLI_EXIT_OK;
        case AD_CLI_OPT_ERROR:
            return AD_CLI_EXIT_USAGE;
        case S_OPT_MODEL:
            w.model = arg;
            break;
        case S_OPT_DATASET:
            w.dataset = arg;
            break;
        case S_OPT_HARDWARE:
            w.hardware = arg;
            break;
        case S_OPT_BATCH:
            if ((rc = ad_cli_parse_int("--batch-size", arg, 1, INT32_MAX, &w.batch_size)))
                return rc;
            break;
        case S_OPT_LAYOUT:
            if ((rc = s_parse_layout(arg, lv)))
                return rc;
            break;
        case S_OPT_DEVICE:
            if ((rc = s_parse_device(arg, false, &l.device)))
                return rc;
            break;
        case S_OPT_PARAMS:
            if ((rc = ad_cli_parse_int("--params", arg, 1, INT64_MAX / 64, &params)))
                return rc;
            break;
        case S_OPT_FLOPS: {
            char *end;

            errno = 0;
            flops = strtod(arg, &end);
            if (errno || end == arg || *end || !isfinite(flops) || flops <= 0)
                return ad_cli_fail(AD_CLI_EXIT_USAGE,
                                   "--flops-per-sample must be a positive number, got \"%s\"", arg);
            break;
        }
        }
    }
    if (optind < argc)
        return ad_cli_fail(AD_CLI_EXIT_USAGE,
                           "predict: unexpected argument \"%s\" (see autodist "
                           "predict --help)",
                           argv[optind]);
    if ((rc = s_predict_check(&w, lv)))
        return rc;
    l.nodes = lv[0];
    l.procs_per_node = lv[1];
    l.threads_per_proc = lv[2];
    ad_choose_zoo(NULL, &w);
    if (params)
        w.params = params;
    if (!isnan(flops))
        w.flops_per_sample = flops;
    rc = ad_cli_open_store(cli, &store, &db);
    if (rc)
        return rc;
    rc = s_planner(store, &planner, &n_runs);
    if (rc)
        goto out;
    /* A node's or cluster's name, or a fingerprint prefix, stands for its class. */
    rc = ad_cli_hw_resolve(cli, "--hardware", w.hardware, false, hw, sizeof(hw));
    if (rc)
        goto out;
    w.hardware = hw;
    if (ad_planner_predict(planner, &w, &l, &pred, &err)) {
        char known[2048];

        /* Even a cold start needs the class's profile (or runs) to know its cores. */
        rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "%s%s%s; known hardware classes: %s", err.msg,
                         store ? "" : " (there is no ", store ? "" : "store yet)",
                         ad_cli_hw_known(cli, known, sizeof(known)));
        goto out;
    }
    if (cli->json)
        s_print_pred_json(&w, &l, &pred);
    else
        s_print_pred_text(cli, &w, &l, &pred);
    rc = AD_CLI_EXIT_OK;
out:
    ad_planner_free(&planner);
    ad_store_close(&store);
    return rc;
}

/* ---- plan JOB.yaml --------------------------------------------------------------------- */

/* The UP nodes of the coordinator's NODES answer; gpus and memory from the store when absent. */
static void
s_nodes_from_reply(const json_t *reply, ad_store_t *store, pnodes_t *ns)
{
    json_t *list = json_object_get(reply, "nodes"), *n;
    size_t i;

    json_array_foreach(list, i, n)
    {
        const char *state = ad_cli_jstr(n, "state"), *hw = ad_cli_jstr(n, "fingerprint");
        int cores = (int)ad_cli_jint(n, "cores", 0);
        int gpus = (int)ad_cli_jint(n, "gpus", -1);
        int64_t mem = ad_cli_jint(n, "memory_bytes", -1);

        if (!state || strcmp(state, "UP") || cores < 1)
            continue;
        if (!hw)
            hw = ad_cli_jstr(n, "hardware");
        if ((gpus < 0 || mem < 0) && store && hw) {
            ad_profile_row_t p = {0};

            if (!ad_store_find_profile(store, hw, &p)) {
                if (gpus < 0)
                    gpus = p.gpus;
                if (mem < 0)
                    mem = p.memory_bytes;
            }
            ad_store_profile_row_clear(&p);
        }
        s_nodes_add(ns, ad_cli_jstr(n, "name"), hw, cores, gpus < 0 ? 0 : gpus, mem < 0 ? 0 : mem);
        {
            const char *addr = ad_cli_jstr(n, "address");

            ns->v[ns->n - 1].this_machine = ad_choose_is_loopback(addr);
        }
    }
}

/* Every node of the store that has a profile, with its latest profile's figures. */
static int
s_nodes_from_store(ad_store_t *store, pnodes_t *ns)
{
    ad_node_t *rows = NULL;
    size_t n = 0;

    if (!store)
        return 0;
    if (ad_store_list_nodes(store, &rows, &n))
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", ad_store_errmsg(store));
    for (size_t i = 0; i < n; i++) {
        ad_profile_row_t p = {0};

        if (!ad_store_get_profile(store, rows[i].id, &p) && p.cores >= 1)
            s_nodes_add(ns, rows[i].hostname, p.hardware, p.cores, p.gpus, p.memory_bytes);
        ad_store_profile_row_clear(&p);
    }
    ad_store_nodes_free(&rows, n);
    return 0;
}

/*
 * The nodes to plan on: the coordinator's UP nodes, else (no answer, or
 * none UP) the store's, saying so on stderr.  Returns 0 or an exit status.
 */
static int
s_live_nodes(ad_cli_t *cli, ad_store_t *store, pnodes_t *ns)
{
    const char *ep = ad_cli_endpoint(cli);
    json_t *reply = NULL;
    ad_err_t err = {0};
    char why[1200];
    int rc;

    if (!ep)
        return AD_CLI_EXIT_USAGE;
    rc = ad_cli_request(cli, "NODES", NULL, S_NODES_TIMEOUT_MS, &reply, &err);
    if (rc == -EINTR)
        return AD_CLI_EXIT_INTERRUPTED;
    if (!rc) {
        s_nodes_from_reply(reply, store, ns);
        json_decref(reply);
        if (ns->n)
            return 0;
        snprintf(why, sizeof(why), "the coordinator at %s has no node UP", ep);
    } else if (rc == -ETIMEDOUT) {
        snprintf(why, sizeof(why), "the coordinator at %s does not answer", ep);
    } else {
        snprintf(why, sizeof(why), "the coordinator at %s refused NODES (%s)", ep, err.msg);
    }
    ns->from_store = true;
    rc = s_nodes_from_store(store, ns);
    if (rc)
        return rc;
    if (!ns->n)
        return ad_cli_fail(AD_CLI_EXIT_ERROR,
                           "%s and the store knows no node with a profile: nothing to plan on "
                           "(start agents with `autodist up`)",
                           why);
    fprintf(stderr, "autodist: %s; planning on the %zu node%s the store knows\n", why, ns->n,
            ns->n == 1 ? "" : "s");
    return 0;
}

typedef struct params_seek {
    int64_t params;
    size_t runs;
} params_seek_t;

static int
s_on_run_params(const ad_run_t *run, void *arg)
{
    params_seek_t *ps = arg;

    if (isfinite(run->samples_per_s) && run->samples_per_s > 0)
        ps->runs++;
    if (run->params > 0 && !ps->params)
        ps->params = run->params;
    return 0;
}

/* One line per hardware class: its nodes (a few names), cores, GPUs. */
static void
s_print_nodes(ad_cli_t *cli, const pnodes_t *ns)
{
    bool *done = ad_calloc(ns->n ? ns->n : 1, sizeof(bool));
    char label[200];

    /* Described nodes are made up ("gros-1"): only real ones name a class. */
    for (size_t i = 0; i < ns->n && !ns->basis; i++)
        ad_cli_hw_add_node(cli, ns->v[i].name, ns->v[i].hardware);

    for (size_t i = 0; i < ns->n; i++) {
        size_t count = 0, shown = 0;
        int cmin = ns->v[i].cores, cmax = ns->v[i].cores, gmax = 0;

        if (done[i])
            continue;
        for (size_t j = i; j < ns->n; j++)
            if (!done[j] && !strcmp(ns->v[j].hardware, ns->v[i].hardware))
                count++;
        /* A description's class is already named by its basis line (the cluster). */
        printf("  %s: %zu node%s (",
               !ns->v[i].hardware[0] ? "(unknown class)"
               : ns->basis           ? ns->v[i].hardware
                           : ad_cli_hw_label_full(cli, ns->v[i].hardware, label, sizeof(label)),
               count, count == 1 ? "" : "s");
        for (size_t j = i; j < ns->n; j++) {
            if (done[j] || strcmp(ns->v[j].hardware, ns->v[i].hardware))
                continue;
            done[j] = true;
            if (ns->v[j].cores < cmin)
                cmin = ns->v[j].cores;
            if (ns->v[j].cores > cmax)
                cmax = ns->v[j].cores;
            if (ns->v[j].gpus > gmax)
                gmax = ns->v[j].gpus;
            if (shown < S_NAMES_SHOWN)
                printf("%s%s", shown ? ", " : "", ns->v[j].name);
            else if (shown == S_NAMES_SHOWN)
                printf(" and %zu more", count - S_NAMES_SHOWN);
            shown++;
        }
        if (cmin == cmax)
            printf("), %d cores", cmin);
        else
            printf("), %d-%d cores", cmin, cmax);
        if (gmax)
            printf(", up to %d GPUs", gmax);
        printf("\n");
    }
    free(done);
}

static json_t *
s_cand_json(const ad_planner_cand_t *c, size_t rank)
{
    json_t *o = json_object();

    json_object_set_new(o, "rank", json_integer((json_int_t)rank));
    json_object_set_new(o, "layout", s_layout_json(&c->layout));
    json_object_set_new(o, "hardware", json_string(c->hardware ? c->hardware : ""));
    json_object_set_new(o, "samples_per_s", s_num(c->pred.samples_per_s));
    json_object_set_new(o, "low", s_num(c->pred.low));
    json_object_set_new(o, "high", s_num(c->pred.high));
    json_object_set_new(o, "speedup", s_num(c->pred.speedup));
    json_object_set_new(o, "efficiency", s_num(c->pred.efficiency));
    json_object_set_new(o, "basis", json_string(c->pred.basis));
    json_object_set_new(o, "n_runs", json_integer(c->pred.n_runs));
    json_object_set_new(o, "n_here", json_integer(c->pred.n_here));
    json_object_set_new(o, "cores_used", json_integer(c->cores_used));
    json_object_set_new(o, "baseline_samples_per_s", s_num(c->pred.baseline_samples_per_s));
    json_object_set_new(o, "baseline_measured", json_boolean(c->pred.baseline_measured));
    json_object_set_new(o, "extrapolated", json_boolean(c->pred.extrapolated));
    return o;
}

/* Index of the candidate with the job file's explicit layout, or n when it is not one. */
static size_t
s_find_requested(const ad_job_t *job, const ad_planner_cand_t *cands, size_t n)
{
    if (job->layout.is_auto)
        return n;
    for (size_t i = 0; i < n; i++) {
        const ad_planner_layout_t *l = &cands[i].layout;
        bool gpu = l->device && !strcmp(l->device, "gpu");

        if (l->nodes == job->layout.nodes && l->procs_per_node == job->layout.procs_per_node &&
            (gpu || l->threads_per_proc == job->layout.threads_per_proc))
            return i;
    }
    return n;
}

/* What `plan JOB.yaml` was asked. */
typedef struct plan_opts {
    const char *device;  /* NULL: the job's */
    int max_nodes;       /* 0: all */
    size_t top;          /* candidates shown */
    const char *cluster; /* --cluster: a described profile's name or path; NULL: live nodes */
    int nodes_lo;        /* --nodes A-B (0: 1 to the cluster's nodes) */
    int nodes_hi;
} plan_opts_t;

static void
s_plan_json(const ad_job_t *job, const ad_planner_workload_t *w, const pnodes_t *ns,
            const ad_choose_t *ch, size_t top, const char *device, size_t store_runs)
{
    const ad_planner_cand_t *cands = ch->cands;
    const size_t n = ch->n, shown = top < n ? top : n, *probes = ch->probes;
    const size_t n_probes = ch->n_probes, requested = s_find_requested(job, cands, n);
    json_t *doc = json_object(), *jn = json_array(), *jc = json_array(), *jp = json_array();
    json_t *choice;

    json_object_set_new(doc, "job", json_string(job->name));
    json_object_set_new(doc, "workload",
                        json_pack("{s:s s:s s:I s:o s:o s:s s:I}", "model", w->model, "dataset",
                                  w->dataset, "batch_size", (json_int_t)w->batch_size, "params",
                                  w->params > 0 ? json_integer(w->params) : json_null(),
                                  "flops_per_sample",
                                  s_num(w->flops_per_sample > 0 ? w->flops_per_sample : NAN),
                                  "device", device, "store_runs", (json_int_t)store_runs));
    for (size_t i = 0; i < ns->n; i++)
        json_array_append_new(jn, json_pack("{s:s s:s s:i s:i s:I}", "name", ns->v[i].name,
                                            "hardware", ns->v[i].hardware, "cores", ns->v[i].cores,
                                            "gpus", ns->v[i].gpus, "memory_bytes",
                                            (json_int_t)ns->v[i].memory_bytes));
    json_object_set_new(doc, "nodes", jn);
    json_object_set_new(doc, "nodes_from",
                        json_string(ns->basis        ? "description"
                                    : ns->from_store ? "store"
                                                     : "coordinator"));
    if (ns->basis) {
        json_object_set_new(doc, "basis", json_string(ns->basis));
        json_object_set_new(doc, "figures", json_string(ns->figures));
        json_object_set_new(doc, "cluster", json_incref(ns->cluster));
    }
    for (size_t i = 0; i < shown; i++)
        json_array_append_new(jc, s_cand_json(&cands[i], i + 1));
    json_object_set_new(doc, "candidates", jc);
    json_object_set_new(doc, "candidates_total", json_integer((json_int_t)n));
    choice = s_cand_json(&cands[ch->pick], ch->pick + 1);
    json_object_set_new(choice, "probe", json_boolean(n_probes > 0));
    json_object_set_new(doc, "choice", choice);
    for (size_t i = 0; i < n_probes; i++)
        json_array_append_new(jp, s_cand_json(&cands[probes[i]], probes[i] + 1));
    json_object_set_new(doc, "probes", jp);
    if (!job->layout.is_auto) {
        json_t *req =
            json_pack("{s:i s:i s:i}", "nodes", job->layout.nodes, "procs_per_node",
                      job->layout.procs_per_node, "threads_per_proc", job->layout.threads_per_proc);

        json_object_set_new(req, "rank",
                            requested < n ? json_integer((json_int_t)requested + 1) : json_null());
        json_object_set_new(doc, "requested", req);
    }
    ad_cli_print_json(doc);
    json_decref(doc);
}

static void
s_plan_text(ad_cli_t *cli, const ad_job_t *job, const ad_planner_workload_t *w, const pnodes_t *ns,
            const ad_choose_t *ch, size_t top, const char *device, size_t store_runs)
{
    const ad_planner_cand_t *cands = ch->cands;
    const size_t n = ch->n, shown = top < n ? top : n, *probes = ch->probes;
    const size_t n_probes = ch->n_probes, requested = s_find_requested(job, cands, n);
    static const char *const base_headers[] = {"RANK",       "LAYOUT",       "DEVICE",
                                               "SAMPLES/S",  "90% INTERVAL", "SPEEDUP",
                                               "EFFICIENCY", "BASIS",        "HARDWARE"};
    bool classes = false;
    ad_cli_table_t *t;
    char buf[64], lo[32], hi[32], lab[200];

    for (size_t i = 1; i < n; i++)
        if (strcmp(cands[i].hardware, cands[0].hardware))
            classes = true;
    printf("plan for %s: %s on %s, global batch %" PRId64 ", device %s\n", job->name, w->model,
           w->dataset, w->batch_size, device);
    printf("nodes (%s):\n", ns->basis        ? "described, not reserved"
                            : ns->from_store ? "from the store; the coordinator did not say"
                                             : "UP at the coordinator");
    s_print_nodes(cli, ns);
    if (ns->basis)
        printf("basis: %s\nfigures: %s\n", ns->basis, ns->figures);
    if (cands[0].pred.n_runs == 0)
        printf("cold start: no run of %s on %s on this hardware yet, predictions rest on the "
               "%s%s (run the 1x1x1 layout once to anchor them)\n",
               w->model, w->dataset, ns->basis ? "figures above" : "benchmarks",
               w->params > 0 ? " and the model's size" : "");
    else
        printf("from the store: %zu runs of %s on %s (%d on %s)\n", store_runs, w->model,
               w->dataset, cands[0].pred.n_runs,
               ad_cli_hw_label_full(cli, cands[0].hardware, lab, sizeof(lab)));
    printf("speedup over the 1x1x1 baseline (%s: %s samples/s)\n",
           cands[0].pred.baseline_measured ? "measured" : "predicted",
           ad_cli_fmt_rate(cands[0].pred.baseline_samples_per_s, buf, sizeof(buf)));
    printf("\n");
    t = ad_cli_table_new(classes ? 9 : 8, base_headers);
    for (size_t i = 0; i < shown; i++) {
        const ad_planner_cand_t *c = &cands[i];
        char rank[24], layout[48], sps[32], interval[80], speedup[32], eff[32], hw[200];
        const char *cells[9];

        snprintf(rank, sizeof(rank), "%zu", i + 1);
        ad_choose_layout_str(&c->layout, layout, sizeof(layout));
        ad_cli_fmt_rate(c->pred.samples_per_s, sps, sizeof(sps));
        snprintf(interval, sizeof(interval), "%s-%s", ad_cli_fmt_rate(c->pred.low, lo, sizeof(lo)),
                 ad_cli_fmt_rate(c->pred.high, hi, sizeof(hi)));
        snprintf(speedup, sizeof(speedup), "%.2fx", c->pred.speedup);
        snprintf(eff, sizeof(eff), "%.0f%%", 100.0 * c->pred.efficiency);
        cells[0] = rank;
        cells[1] = layout;
        cells[2] = c->layout.device;
        cells[3] = sps;
        cells[4] = interval;
        cells[5] = speedup;
        cells[6] = eff;
        cells[7] = c->pred.basis;
        cells[8] = ad_cli_hw_label_full(cli, c->hardware, hw, sizeof(hw));
        ad_cli_table_add(t, cells);
    }
    ad_cli_table_print(t, stdout);
    ad_cli_table_free(&t);
    if (shown < n)
        printf("(%zu of %zu candidate layouts; --top K shows more)\n", shown, n);
    else
        printf("(%zu candidate layout%s)\n", n, n == 1 ? "" : "s");
    if (!job->layout.is_auto) {
        snprintf(buf, sizeof(buf), "%dx%dx%d", job->layout.nodes, job->layout.procs_per_node,
                 job->layout.threads_per_proc);
        if (requested < n)
            printf("the job file asks for %s: rank %zu, %s samples/s (%.2f of the best)\n", buf,
                   requested + 1,
                   ad_cli_fmt_rate(cands[requested].pred.samples_per_s, lo, sizeof(lo)),
                   cands[requested].pred.samples_per_s / cands[0].pred.samples_per_s);
        else
            printf("the job file asks for %s: it does not fit these nodes\n", buf);
    }
    ad_choose_layout_str(&cands[ch->pick].layout, buf, sizeof(buf));
    if (!n_probes) {
        printf("layout: auto would take %s (%s) without probing: no other candidate's interval "
               "reaches its low end\n",
               buf, cands[ch->pick].layout.device);
        return;
    }
    printf("layout: auto would take the best of ");
    for (size_t i = 0; i < n_probes; i++) {
        char l[48];

        printf("%s%s",
               i == 0              ? ""
               : i + 1 == n_probes ? " and "
                                   : ", ",
               ad_choose_layout_str(&cands[probes[i]].layout, l, sizeof(l)));
    }
    printf(" once it has probed them (a few dozen steps each, one after another: their "
           "intervals overlap)\n");
}

/* The nodes as the planner's choice takes them (owned by the caller). */
static ad_choose_node_t *
s_choose_nodes(const pnodes_t *ns)
{
    ad_choose_node_t *v = ad_calloc(ns->n ? ns->n : 1, sizeof(*v));

    for (size_t i = 0; i < ns->n; i++) {
        v[i].hardware = ns->v[i].hardware;
        v[i].cores = ns->v[i].cores;
        v[i].gpus = ns->v[i].gpus;
        v[i].memory_bytes = ns->v[i].memory_bytes;
        v[i].gemm_gflops_1 = v[i].gemm_gflops_all = v[i].mem_bw_gbs = NAN;
        v[i].this_machine = ns->v[i].this_machine;
    }
    return v;
}

/* ---- plan --cluster: nodes of a cluster that is not reserved ----------------------------- */

/* "N" or "A-B" with 1 <= A <= B <= S_CLUSTER_MAX_NODES. */
static int
s_parse_nodes(const char *arg, int *lo, int *hi)
{
    char *end = NULL;
    long a = 0, b = 0;

    errno = 0;
    if (*arg >= '0' && *arg <= '9') {
        a = b = strtol(arg, &end, 10);
        if (*end == '-' && end[1] >= '0' && end[1] <= '9')
            b = strtol(end + 1, &end, 10);
    }
    if (!end || errno || *end || a < 1 || b < a || b > S_CLUSTER_MAX_NODES)
        return ad_cli_fail(AD_CLI_EXIT_USAGE,
                           "--nodes must be N or A-B with 1 <= A <= B <= %d, got \"%s\"",
                           S_CLUSTER_MAX_NODES, arg);
    *lo = (int)a;
    *hi = (int)b;
    return 0;
}

/* Where a description comes from, in a few words, from its source: text. */
static const char *
s_described_from(const ad_profile_t *p)
{
    const char *src = ad_profile_source(p);

    if (strstr(src, "reference API"))
        return "Grid'5000 reference API";
    if (strstr(src, "reference repository"))
        return "Grid'5000 reference repository";
    if (strstr(src, "hardware page"))
        return "Grid'5000 hardware pages";
    return ad_profile_cluster_nodes(p) ? "a description" : "a profile file";
}

/* The cluster's class and figures into the planner. */
static int
s_cluster_hw(ad_planner_t *planner, const ad_profile_t *p, const ad_described_figures_t *fig)
{
    ad_planner_hw_t hw;
    ad_err_t err = {0};

    ad_planner_hw_init(&hw);
    hw.name = fig->hardware;
    hw.cores = ad_profile_cores(p);
    hw.gpus = ad_profile_gpu_count(p);
    hw.memory_bytes = (int64_t)ad_profile_memory_bytes(p);
    hw.gemm_gflops_1 = fig->gemm_gflops_1;
    hw.gemm_gflops_all = fig->gemm_gflops_all;
    hw.mem_bw_gbs = fig->mem_bw_gbs;
    hw.net_gbps = fig->net_gbps > 0 ? fig->net_gbps : NAN;
    if (ad_planner_add_hardware(planner, &hw, &err))
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", err.msg);
    return 0;
}

/*
 * The nodes of plan --cluster: o->nodes_hi (or the cluster's) nodes of the
 * described profile's class, whose figures go into the planner; *lo is the
 * fewest nodes a layout may use.  Returns 0 or an exit status.
 */
static int
s_cluster_nodes(ad_cli_t *cli, ad_store_t *store, ad_planner_t *planner, const plan_opts_t *o,
                pnodes_t *ns, int *lo)
{
    const ad_home_t *home = ad_cli_home(cli);
    ad_described_figures_t fig;
    ad_profile_t *p = NULL;
    ad_err_t err = {0};
    char name[128], site[128], *path = NULL;
    int nodes, hi, rc;

    if (!home)
        return AD_CLI_EXIT_ERROR;
    if (ad_described_find(o->cluster, home->root, &p, &path, &err))
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "%s", err.msg);
    ad_described_cluster(p, name, sizeof(name), site, sizeof(site));
    if (!*name)
        snprintf(name, sizeof(name), "%s",
                 *ad_profile_hostname(p) ? ad_profile_hostname(p) : o->cluster);
    nodes = ad_profile_cluster_nodes(p);
    *lo = o->nodes_lo ? o->nodes_lo : 1;
    hi = o->nodes_hi ? o->nodes_hi : nodes > 0 ? nodes : 1;
    if (hi > S_CLUSTER_MAX_NODES)
        hi = S_CLUSTER_MAX_NODES;
    if (nodes > 0 && hi > nodes)
        fprintf(stderr,
                "autodist: note: the description of %s counts %d node%s; planning on up "
                "to %d as asked\n",
                name, nodes, nodes == 1 ? "" : "s", hi);
    ad_described_figures(p, home->root, store, &fig);
    rc = s_cluster_hw(planner, p, &fig);
    for (int i = 1; i <= hi && !rc; i++) {
        char host[160];

        snprintf(host, sizeof(host), "%s-%d", name, i);
        s_nodes_add(ns, host, fig.hardware, ad_profile_cores(p),
                    ad_profile_gpu_count(p), (int64_t)ad_profile_memory_bytes(p));
    }
    if (!rc) {
        const char *what = nodes ? "described hardware" : "the hardware of a profile";
        const char *how =
            fig.measured ? "benchmarks measured on its hardware class" : "not measured";

        if (asprintf(&ns->basis, "%s (%s, %s), %s", what, name, s_described_from(p), how) < 0)
            ad_oom(0);
        ns->figures = ad_strdup(fig.from);
        ns->measured = fig.measured;
        ns->cluster = json_pack(
            "{s:s s:o s:i s:s s:s s:[i,i] s:o s:o s:o s:o s:b}", "name", name, "site",
            *site ? json_string(site) : json_null(), "nodes", nodes, "profile",
            path ? path : o->cluster, "hardware", fig.hardware, "nodes_planned", *lo,
            hi, "gemm_gflops_1", s_num(fig.gemm_gflops_1), "gemm_gflops_all",
            s_num(fig.gemm_gflops_all), "mem_bandwidth_gbs", s_num(fig.mem_bw_gbs), "net_gbps",
            fig.net_gbps > 0 ? json_real(fig.net_gbps) : json_null(), "estimated", !fig.measured);
    }
    free(path);
    ad_profile_free(&p);
    return rc;
}

/*
 * plan --cluster: leave out the layouts on fewer than lo nodes, say in each
 * basis that it rests on a description, and choose again among the rest.
 */
static void
s_cluster_keep(ad_choose_t *ch, int lo, const pnodes_t *ns)
{
    size_t kept = 0;

    for (size_t i = 0; i < ch->n; i++) {
        ad_planner_pred_t *pr = &ch->cands[i].pred;
        char was[sizeof(pr->basis)];

        if (ch->cands[i].layout.nodes < lo) {
            free(ch->cands[i].hardware);
            continue;
        }
        memcpy(was, pr->basis, sizeof(was));
        if (pr->n_runs == 0)
            snprintf(pr->basis, sizeof(pr->basis), "%s, %s",
                     strncmp(ns->basis, "described", 9) ? "profile" : "description",
                     ns->measured ? "measured benchmarks" : "not measured");
        else
            snprintf(pr->basis, sizeof(pr->basis), "description + %.40s", was);
        ch->cands[kept++] = ch->cands[i];
    }
    ch->n = kept;
    ch->n_probes = kept ? ad_planner_probes(ch->cands, kept, AD_CHOOSE_MAX_PROBES, ch->probes) : 0;
    ch->pick = ad_choose_pick(ch->cands, kept);
}

static int
s_plan_job(ad_cli_t *cli, const char *path, const plan_opts_t *o)
{
    ad_planner_workload_t w = {.flops_per_sample = NAN};
    ad_choose_opts_t co = {.max_nodes = o->max_nodes, .max_probes = AD_CHOOSE_MAX_PROBES};
    ad_choose_node_t *cn = NULL;
    ad_choose_t ch = {0};
    ad_planner_t *planner = NULL;
    ad_store_t *store = NULL;
    pnodes_t ns = {0};
    params_seek_t ps = {0};
    ad_job_t job = {0};
    ad_err_t err = {0};
    size_t n_runs = 0;
    const char *db = NULL;
    char dataset[256];
    int rc, lo = 1;

    if (ad_job_parse_file(path, &job, &err))
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "%s", err.msg);
    rc = ad_cli_open_store(cli, &store, &db);
    if (rc)
        goto out;
    rc = s_planner(store, &planner, &n_runs);
    if (rc)
        goto out;
    rc = o->cluster ? s_cluster_nodes(cli, store, planner, o, &ns, &lo)
                    : s_live_nodes(cli, store, &ns);
    if (rc)
        goto out;
    w.model = ad_job_model_name(job.model);
    w.dataset = ad_job_dataset_label(&job, dataset, sizeof(dataset));
    w.batch_size = job.batch_size;
    if (store) {
        ad_run_filter_t f = {
            .model = w.model, .dataset = w.dataset, .states = AD_JOB_MASK(AD_JOB_COMPLETED)};

        if (ad_store_each_run(store, &f, s_on_run_params, &ps) < 0) {
            rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", ad_store_errmsg(store));
            goto out;
        }
        w.params = ps.params; /* the zoo's figures take precedence (ad_choose_layout()) */
    }
    co.device = o->device ? o->device : ad_job_device_name(job.device);
    cn = s_choose_nodes(&ns);
    rc = ad_choose_layout(planner, &w, cn, ns.n, &co, &ch, &err);
    if (!rc && o->cluster)
        s_cluster_keep(&ch, lo, &ns);
    if (rc || ch.n == 0) {
        rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "%s: %s", path,
                         ch.n == 0 && !err.code ? "no layout fits the nodes" : err.msg);
        goto out;
    }
    if (cli->json)
        s_plan_json(&job, &w, &ns, &ch, o->top, co.device, ps.runs);
    else
        s_plan_text(cli, &job, &w, &ns, &ch, o->top, co.device, ps.runs);
    rc = AD_CLI_EXIT_OK;
out:
    ad_choose_clear(&ch);
    free(cn);
    s_nodes_clear(&ns);
    ad_planner_free(&planner);
    ad_store_close(&store);
    ad_job_clear(&job);
    return rc;
}

int
ad_cli_plan(ad_cli_t *cli, int argc, char **argv)
{
    static const struct option longs[] = {
        {"device", required_argument, NULL, S_OPT_DEVICE},
        {"max-nodes", required_argument, NULL, S_OPT_MAX_NODES},
        {"top", required_argument, NULL, S_OPT_TOP},
        {"evaluate", no_argument, NULL, S_OPT_EVALUATE},
        {"method", required_argument, NULL, S_OPT_METHOD},
        {"small-max-workers", required_argument, NULL, S_OPT_SMALL_MAX},
        {"naive", no_argument, NULL, S_OPT_NAIVE},
        {"cluster", required_argument, NULL, S_OPT_CLUSTER},
        {"nodes", required_argument, NULL, S_OPT_NODES},
        {NULL, 0, NULL, 0},
    };
    plan_opts_t o = {.top = S_TOP_DEFAULT};
    ad_planner_eval_opts_t eo = {0};
    const char *arg, *eval_only = NULL, *plan_only = NULL;
    bool evaluate = false;
    int64_t x;
    int c, rc;

    while ((c = ad_cli_getopt(cli, argc, argv, longs, &arg)) != AD_CLI_OPT_END) {
        switch (c) {
        case AD_CLI_OPT_HELP:
            return AD_CLI_EXIT_OK;
        case AD_CLI_OPT_ERROR:
            return AD_CLI_EXIT_USAGE;
        case S_OPT_DEVICE:
            if ((rc = s_parse_device(arg, true, &o.device)))
                return rc;
            plan_only = "--device";
            break;
        case S_OPT_MAX_NODES:
            if ((rc = ad_cli_parse_int("--max-nodes", arg, 1, 100000, &x)))
                return rc;
            o.max_nodes = (int)x;
            plan_only = "--max-nodes";
            break;
        case S_OPT_TOP:
            if ((rc = ad_cli_parse_int("--top", arg, 1, 1000000, &x)))
                return rc;
            o.top = (size_t)x;
            plan_only = "--top";
            break;
        case S_OPT_EVALUATE:
            evaluate = true;
            break;
        case S_OPT_METHOD:
            if ((rc = ad_cli_plan_parse_methods(arg, &eo.methods)))
                return rc;
            eval_only = "--method";
            break;
        case S_OPT_SMALL_MAX:
            if ((rc = ad_cli_parse_int("--small-max-workers", arg, 1, 1000000, &x)))
                return rc;
            eo.small_max_workers = (int)x;
            eval_only = "--small-max-workers";
            break;
        case S_OPT_NAIVE:
            eo.naive = true;
            eval_only = "--naive";
            break;
        case S_OPT_CLUSTER:
            if (!*arg)
                return ad_cli_fail(AD_CLI_EXIT_USAGE, "--cluster must name a described profile "
                                                      "(autodist profile list) or a file");
            o.cluster = arg;
            plan_only = "--cluster";
            break;
        case S_OPT_NODES:
            if ((rc = s_parse_nodes(arg, &o.nodes_lo, &o.nodes_hi)))
                return rc;
            plan_only = "--nodes";
            break;
        }
    }
    if (o.nodes_hi && !o.cluster)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "--nodes goes with --cluster (plan on N nodes of "
                                              "a cluster that is not reserved)");
    if (o.cluster && o.max_nodes)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "--max-nodes does not go with --cluster: give "
                                              "--nodes N or A-B");
    if (evaluate) {
        if (plan_only)
            return ad_cli_fail(AD_CLI_EXIT_USAGE, "plan --evaluate does not take %s", plan_only);
        if (optind < argc)
            return ad_cli_fail(AD_CLI_EXIT_USAGE,
                               "plan --evaluate takes no job file, got \"%s\" (it evaluates the "
                               "model on the store's runs)",
                               argv[optind]);
        return ad_cli_plan_evaluate(cli, &eo);
    }
    if (eval_only)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "%s goes with plan --evaluate", eval_only);
    if (optind >= argc)
        return ad_cli_fail(AD_CLI_EXIT_USAGE,
                           "plan: give a job file (autodist plan JOB.yaml), or --evaluate");
    if (optind + 1 < argc)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "plan: one job file at a time, got also \"%s\"",
                           argv[optind + 1]);
    return s_plan_job(cli, argv[optind], &o);
}
