/* ad_cli_speedup.c - `autodist speedup`: runs grouped by layout, with speedups, sorted, printed */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ad_cli_runs.h"

/* ---- autodist speedup: groups ---------------------------------------------------------------- */

const char *
ad_cli_speedup_family(const ad_cli_group_t *g)
{
    if (g->nodes == 1 && g->ppn == 1 && g->tpp == 1)
        return "baseline";
    if (g->nodes == 1 && g->ppn == 1)
        return "threads";
    if (g->nodes == 1 && g->tpp == 1)
        return "processes";
    if (g->ppn == 1 && g->tpp == 1)
        return "nodes";
    return "mixed";
}

static void
s_group_get(const void *row, ad_field_t field, ad_value_t *out)
{
    const ad_cli_group_t *g = row;

    switch (field) {
    case AD_FIELD_MODEL:
        out->str = g->model;
        break;
    case AD_FIELD_DATASET:
        out->str = g->dataset;
        break;
    case AD_FIELD_HARDWARE:
        out->str = g->hardware;
        break;
    case AD_FIELD_DEVICE:
        out->str = g->device;
        break;
    case AD_FIELD_BATCH:
        out->num = (double)g->batch;
        break;
    case AD_FIELD_NODES:
        out->num = g->nodes;
        break;
    case AD_FIELD_PPN:
        out->num = g->ppn;
        break;
    case AD_FIELD_TPP:
        out->num = g->tpp;
        break;
    case AD_FIELD_WORKERS: /* cores used, as efficiency counts them (docs/speedup.md) */
        out->num = (double)ad_cli_runs_cores(g->device, g->nodes, g->ppn, g->tpp);
        break;
    case AD_FIELD_CORES:
        out->num = (double)g->nodes * g->ppn * g->tpp;
        break;
    case AD_FIELD_SAMPLES:
        out->num = g->sps;
        break;
    case AD_FIELD_SPEEDUP:
        out->num = g->speedup;
        break;
    case AD_FIELD_EFFICIENCY:
        out->num = g->efficiency;
        break;
    case AD_FIELD_RUNS:
        out->num = (double)g->runs;
        break;
    case AD_FIELD_LAYOUT:
        snprintf(out->buf, sizeof(out->buf), "%dx%dx%d", g->nodes, g->ppn, g->tpp);
        out->str = out->buf;
        break;
    case AD_FIELD_FLAGS: /* a group's flags: its runs' and its own (efficiency>100%) */
        out->str = ad_cli_group_flags(g, out->buf, sizeof(out->buf));
        break;
    default:
        break; /* fields of runs: their terms are evaluated on runs */
    }
}

/* The run terms of the expression, on one run before it is grouped. */
static bool
s_keep_run(const ad_run_t *run, void *arg)
{
    const ad_cli_groups_t *gs = arg;

    for (size_t i = 0; i < ad_filter_terms(gs->where); i++)
        if (gs->run_term[i] && !ad_filter_term_match(gs->where, i, ad_cli_runs_get, run))
            return false;
    return true;
}

static int
s_on_group(const ad_speedup_row_t *row, void *arg)
{
    ad_cli_groups_t *gs = arg;
    ad_cli_group_t g = {
        .model = (char *)row->model,
        .dataset = (char *)row->dataset,
        .hardware = (char *)(row->hardware ? row->hardware : ""),
        .device = (char *)(row->device ? row->device : "cpu"),
        .batch = row->batch_size,
        .nodes = row->nodes,
        .ppn = row->procs_per_node,
        .tpp = row->threads_per_proc,
        .runs = row->runs,
        .sps = row->samples_per_s,
        .sd = row->samples_sd,
        .speedup = row->speedup,
        .efficiency = row->efficiency,
        .lo = row->speedup_lo,
        .hi = row->speedup_hi,
        .base_n = row->baseline_n,
        .run_flags = (char *)(row->run_flags ? row->run_flags : ""),
    };

    for (size_t i = 0; gs->where && i < ad_filter_terms(gs->where); i++)
        if (!gs->run_term[i] && !ad_filter_term_match(gs->where, i, s_group_get, &g))
            return 0;
    if (gs->n == gs->cap) {
        gs->cap = gs->cap ? 2 * gs->cap : 256;
        gs->rows = ad_realloc(gs->rows, gs->cap * sizeof(*gs->rows));
    }
    g.model = ad_strdup(g.model);
    g.dataset = ad_strdup(g.dataset);
    g.hardware = ad_strdup(g.hardware);
    g.device = ad_strdup(g.device);
    g.run_flags = ad_strdup(g.run_flags);
    g.seq = gs->n;
    gs->rows[gs->n++] = g;
    return 0;
}

static void
s_groups_free(ad_cli_groups_t *gs)
{
    for (size_t i = 0; i < gs->n; i++) {
        free(gs->rows[i].model);
        free(gs->rows[i].dataset);
        free(gs->rows[i].hardware);
        free(gs->rows[i].hardware_name);
        free(gs->rows[i].device);
        free(gs->rows[i].run_flags);
    }
    free(gs->rows);
    free(gs->run_term);
    memset(gs, 0, sizeof(*gs));
}

/*
 * Sort the terms of the expression: those naming a field only runs have
 * (state, job, sweep, id, accuracy) choose the runs before they are grouped;
 * the others are evaluated on the groups.  A term that mixes such a field
 * with `runs` (a group's count) has no meaning: exit 2.  Sets *by_runs when
 * any term chooses runs.
 */
static int
s_split_terms(const char *text, ad_cli_groups_t *gs, bool *by_runs)
{
    size_t n = ad_filter_terms(gs->where);

    *by_runs = false;
    gs->run_term = ad_calloc(n ? n : 1, sizeof(*gs->run_term));
    for (size_t i = 0; i < n; i++) {
        unsigned fields = ad_filter_term_fields(gs->where, i);

        if (!(fields & AD_FIELDS_OF_RUNS))
            continue;
        if (fields & AD_FIELD_BIT(AD_FIELD_RUNS)) {
            ad_filter_error_t err = {0};

            err.column = ad_filter_term_field_column(gs->where, i, AD_FIELD_RUNS);
            snprintf(err.msg, sizeof(err.msg),
                     "runs (a group's count) cannot share a condition with state, job, sweep, "
                     "id or accuracy (they choose the runs before grouping; put the two on "
                     "either side of a top-level and) at column %d",
                     err.column);
            return ad_cli_runs_where_error(text, &err);
        }
        gs->run_term[i] = true;
        *by_runs = true;
    }
    return 0;
}

/* ---- autodist speedup: order ----------------------------------------------------------------- */

#define S_SORT_KEYS 8

/* --sort: fields, each ascending or descending. */
typedef struct sort_spec {
    ad_field_t field[S_SORT_KEYS];
    bool desc[S_SORT_KEYS];
    int n;
} sort_spec_t;

static int
s_parse_sort(const char *text, sort_spec_t *spec)
{
    char buf[256], *save = NULL, *tok;

    memset(spec, 0, sizeof(*spec));
    snprintf(buf, sizeof(buf), "%s", text);
    for (tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        bool desc = tok[0] == '-';
        ad_field_t f;

        if (desc || tok[0] == '+')
            tok++;
        if (ad_filter_field_from_name(tok, &f))
            return ad_cli_fail(AD_CLI_EXIT_USAGE, "--sort: unknown field \"%s\" (fields: %s)", tok,
                               ad_filter_field_names());
        if (AD_FIELD_BIT(f) & AD_FIELDS_OF_RUNS)
            return ad_cli_fail(AD_CLI_EXIT_USAGE,
                               "--sort: a layout group has no %s (state, job, sweep, id and "
                               "accuracy belong to single runs: autodist runs --where)",
                               ad_filter_field_name(f));
        if (spec->n == S_SORT_KEYS)
            return ad_cli_fail(AD_CLI_EXIT_USAGE, "--sort: at most %d fields", S_SORT_KEYS);
        spec->field[spec->n] = f;
        spec->desc[spec->n++] = desc;
    }
    if (spec->n == 0)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "--sort needs a field (fields: %s)",
                           ad_filter_field_names());
    return 0;
}

static const sort_spec_t *s_sort_by; /* qsort has no argument */

static int
s_cmp_groups(const void *pa, const void *pb)
{
    const ad_cli_group_t *a = pa, *b = pb;

    for (int k = 0; k < s_sort_by->n; k++) {
        ad_field_t f = s_sort_by->field[k];
        ad_value_t va = {.str = NULL, .num = NAN}, vb = {.str = NULL, .num = NAN};
        int c;

        s_group_get(a, f, &va);
        s_group_get(b, f, &vb);
        if (f == AD_FIELD_LAYOUT) { /* 2x1x1 before 10x1x1: nodes, then processes, threads */
            c = a->nodes != b->nodes ? (a->nodes < b->nodes ? -1 : 1)
                : a->ppn != b->ppn   ? (a->ppn < b->ppn ? -1 : 1)
                                     : (a->tpp > b->tpp) - (a->tpp < b->tpp);
        } else if (ad_filter_field_is_text(f)) {
            c = strcmp(va.str, vb.str);
        } else {
            /* Missing values last, whichever the direction. */
            if (isnan(va.num) || isnan(vb.num)) {
                c = isnan(va.num) - isnan(vb.num);
                if (c)
                    return c;
                continue;
            }
            c = va.num < vb.num ? -1 : va.num > vb.num;
        }
        if (c)
            return s_sort_by->desc[k] ? -c : c;
    }
    /* The store's order breaks ties: qsort is not stable. */
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* ---- autodist speedup: output ---------------------------------------------------------------- */

char *
ad_cli_group_flags(const ad_cli_group_t *g, char *buf, size_t size)
{
    const char *runs = g->run_flags ? g->run_flags : "";
    bool on[4] = {
        strstr(runs, AD_STORE_FLAG_NOISY) != NULL,
        strstr(runs, AD_STORE_FLAG_HIGH_SPREAD) != NULL ||
            (g->runs > 1 && g->sps > 0 && g->sd / g->sps > AD_STORE_HIGH_SPREAD),
        !isnan(g->efficiency) && ad_cli_runs_cores(g->device, g->nodes, g->ppn, g->tpp) > 1 &&
            g->efficiency > 1.0 + 1e-9,
        strstr(runs, AD_STORE_FLAG_FEW_SAMPLES) != NULL,
    };
    static const char *const names[4] = {AD_STORE_FLAG_NOISY, AD_STORE_FLAG_HIGH_SPREAD,
                                         AD_STORE_FLAG_EFFICIENCY, AD_STORE_FLAG_FEW_SAMPLES};
    size_t len = 0;

    buf[0] = '\0';
    for (int i = 0; i < 4; i++)
        if (on[i] && len < size)
            len += (size_t)snprintf(buf + len, size - len, "%s%s", len ? "," : "", names[i]);
    return buf;
}

static char *
s_layout(const ad_cli_group_t *g, char *buf, size_t size)
{
    snprintf(buf, size, "%dx%dx%d", g->nodes, g->ppn, g->tpp);
    return buf;
}

static void
s_print_table(const ad_cli_groups_t *gs)
{
    static const char *const headers[] = {
        "MODEL", "DATASET",   "BATCH",   "HARDWARE",   "DEVICE", "LAYOUT",
        "RUNS",  "SAMPLES/S", "SPEEDUP", "EFFICIENCY", "FLAGS",
    };
    ad_cli_table_t *t = ad_cli_table_new(11, headers);

    for (size_t i = 0; i < gs->n; i++) {
        const ad_cli_group_t *g = &gs->rows[i];
        char batch[24], layout[48], runs[24], sps[96], sd[48], speedup[64], eff[48], flags[64];
        const char *cells[11];

        snprintf(batch, sizeof(batch), "%" PRId64, g->batch);
        snprintf(runs, sizeof(runs), "%" PRId64, g->runs);
        ad_cli_fmt_rate(g->sps, sps, sizeof(sps));
        if (g->runs > 1) {
            ad_cli_fmt_rate(g->sd, sd, sizeof(sd));
            snprintf(sps + strlen(sps), sizeof(sps) - strlen(sps), " +- %s", sd);
        }
        if (isnan(g->speedup))
            snprintf(speedup, sizeof(speedup), "-");
        else if (!isnan(g->lo) && !isnan(g->hi))
            snprintf(speedup, sizeof(speedup), "%.2fx (%.2f-%.2f)", g->speedup, g->lo, g->hi);
        else
            snprintf(speedup, sizeof(speedup), "%.2fx", g->speedup);
        snprintf(eff, sizeof(eff), isnan(g->speedup) ? "-" : "%.0f%%", 100.0 * g->efficiency);
        cells[0] = g->model[0] ? g->model : "-";
        cells[1] = g->dataset[0] ? g->dataset : "-";
        cells[2] = batch;
        cells[3] = g->hardware_name ? g->hardware_name : g->hardware[0] ? g->hardware : "-";
        cells[4] = g->device[0] ? g->device : "-";
        cells[5] = s_layout(g, layout, sizeof(layout));
        cells[6] = runs;
        cells[7] = sps;
        cells[8] = speedup;
        cells[9] = eff;
        ad_cli_group_flags(g, flags, sizeof(flags));
        cells[10] = flags[0] ? flags : "-";
        ad_cli_table_add(t, cells);
    }
    ad_cli_table_print(t, stdout);
    ad_cli_table_free(&t);
}

static void
s_print_json(const ad_cli_groups_t *gs)
{
    ad_cli_json_list_t list;
    char layout[48];

    ad_cli_json_list_begin(&list, "speedups");
    for (size_t i = 0; i < gs->n; i++) {
        const ad_cli_group_t *g = &gs->rows[i];
        int64_t cores = ad_cli_runs_cores(g->device, g->nodes, g->ppn, g->tpp);
        char flags[64];
        json_t *o;

        o = json_pack("{s:s, s:s, s:I, s:s, s:s, s:i, s:i, s:i, s:s, s:s, s:I, s:I, s:I, s:o, "
                      "s:o, s:o, s:o}",
                      "model", g->model, "dataset", g->dataset, "batch_size", (json_int_t)g->batch,
                      "hardware", g->hardware, "device", g->device, "nodes", g->nodes,
                      "procs_per_node", g->ppn, "threads_per_proc", g->tpp, "layout",
                      s_layout(g, layout, sizeof(layout)), "family", ad_cli_speedup_family(g),
                      "workers", (json_int_t)cores, "cores", (json_int_t)g->nodes * g->ppn * g->tpp,
                      "runs", (json_int_t)g->runs, "samples_per_s", ad_cli_json_num(g->sps),
                      "samples_sd", ad_cli_json_num(g->sd), "speedup", ad_cli_json_num(g->speedup),
                      "efficiency", ad_cli_json_num(g->efficiency));
        /* workers = the cores efficiency divides by (docs/speedup.md); ranks = nodes x ppn. */
        if (g->hardware_name)
            json_object_set_new(o, "hardware_name", json_string(g->hardware_name));
        json_object_set_new(o, "ranks", json_integer((json_int_t)g->nodes * g->ppn));
        json_object_set_new(o, "speedup_lo", ad_cli_json_num(g->lo));
        json_object_set_new(o, "speedup_hi", ad_cli_json_num(g->hi));
        json_object_set_new(o, "baseline_runs", json_integer(g->base_n));
        json_object_set_new(o, "flags",
                            ad_cli_flags_json(ad_cli_group_flags(g, flags, sizeof(flags))));
        ad_cli_json_list_item(&list, o);
    }
    ad_cli_json_list_end(&list);
}

static void
s_print_csv(const ad_cli_groups_t *gs)
{
    char layout[48], flags[64];

    fputs("model,dataset,batch_size,hardware,device,nodes,procs_per_node,threads_per_proc,"
          "layout,family,workers,cores,runs,samples_per_s,samples_sd,speedup,efficiency,"
          "speedup_lo,speedup_hi,baseline_runs,flags\n",
          stdout);
    for (size_t i = 0; i < gs->n; i++) {
        const ad_cli_group_t *g = &gs->rows[i];

        ad_cli_csv_text(stdout, g->model, false);
        ad_cli_csv_text(stdout, g->dataset, false);
        ad_cli_csv_int(stdout, g->batch, false, false);
        ad_cli_csv_text(stdout, g->hardware, false);
        ad_cli_csv_text(stdout, g->device, false);
        ad_cli_csv_int(stdout, g->nodes, false, false);
        ad_cli_csv_int(stdout, g->ppn, false, false);
        ad_cli_csv_int(stdout, g->tpp, false, false);
        ad_cli_csv_text(stdout, s_layout(g, layout, sizeof(layout)), false);
        ad_cli_csv_text(stdout, ad_cli_speedup_family(g), false);
        ad_cli_csv_int(stdout, ad_cli_runs_cores(g->device, g->nodes, g->ppn, g->tpp), false,
                       false);
        ad_cli_csv_int(stdout, (int64_t)g->nodes * g->ppn * g->tpp, false, false);
        ad_cli_csv_int(stdout, g->runs, false, false);
        ad_cli_csv_num(stdout, g->sps, false);
        ad_cli_csv_num(stdout, g->sd, false);
        ad_cli_csv_num(stdout, g->speedup, false);
        ad_cli_csv_num(stdout, g->efficiency, false);
        ad_cli_csv_num(stdout, g->lo, false);
        ad_cli_csv_num(stdout, g->hi, false);
        ad_cli_csv_int(stdout, g->base_n, false, false);
        ad_cli_csv_text(stdout, ad_cli_group_flags(g, flags, sizeof(flags)), true);
    }
}

/* ---- autodist speedup ------------------------------------------------------------------------ */

int
ad_cli_speedup(ad_cli_t *cli, int argc, char **argv)
{
    ad_cli_groups_t gs = {0};
    ad_filter_t *where = NULL;
    ad_store_t *store = NULL;
    const char *db = NULL;
    sort_spec_t sort;
    bool by_runs = false;
    ad_cli_runs_opts_t o;
    int rc;

    rc = ad_cli_runs_parse(cli, argc, argv, true, &o);
    if (rc)
        return rc == AD_CLI_OPT_HELP ? AD_CLI_EXIT_OK : rc;
    if (o.sort && s_parse_sort(o.sort, &sort))
        return AD_CLI_EXIT_USAGE;
    if (o.where) {
        rc = ad_cli_runs_where(cli, &o, AD_FILTER_GROUPS, &where);
        if (rc)
            return rc;
        gs.where = where;
        rc = s_split_terms(o.where, &gs, &by_runs);
        if (rc)
            goto out;
        ad_filter_push(where, &o.filter);
    }
    rc = ad_cli_open_store(cli, &store, &db);
    if (!rc)
        rc = ad_cli_runs_check_hardware(cli, store, ad_cli_runs_hw_what(&o), o.hw_unknown);
    if (rc)
        goto out;
    if (store) {
        /* run_groups answers unless a term must look at the runs themselves. */
        if (by_runs)
            rc = ad_store_each_speedup_of(store, &o.filter, s_keep_run, &gs, s_on_group, &gs);
        else
            rc = ad_store_each_speedup(store, &o.filter, s_on_group, &gs);
        if (rc < 0) {
            rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", ad_store_errmsg(store));
            goto out;
        }
    }
    for (size_t i = 0; i < gs.n; i++) {
        char name[128];

        if (gs.rows[i].hardware[0])
            gs.rows[i].hardware_name =
                ad_strdup(ad_cli_hw_label(cli, gs.rows[i].hardware, name, sizeof(name)));
    }
    if (o.sort) {
        s_sort_by = &sort;
        qsort(gs.rows, gs.n, sizeof(*gs.rows), s_cmp_groups);
    }
    if (o.limit && (size_t)o.limit < gs.n) {
        for (size_t i = (size_t)o.limit; i < gs.n; i++) {
            free(gs.rows[i].model);
            free(gs.rows[i].dataset);
            free(gs.rows[i].hardware);
            free(gs.rows[i].hardware_name);
            free(gs.rows[i].device);
            free(gs.rows[i].run_flags);
        }
        gs.n = (size_t)o.limit;
    }
    if (o.out == AD_CLI_OUT_JSON)
        s_print_json(&gs);
    else if (o.out == AD_CLI_OUT_CSV)
        s_print_csv(&gs);
    else if (!store)
        printf("no runs yet (%s does not exist)\n", db);
    else if (gs.n == 0)
        printf(where || o.filter.model || o.filter.dataset || o.hardware
                   ? "no speedups match (%s)\n"
                   : "no speedups yet: %s has no COMPLETED run with a throughput\n",
               db);
    else
        s_print_table(&gs);
    rc = o.plot ? ad_cli_speedup_plot(&gs, store, o.plot, o.out) : AD_CLI_EXIT_OK;
out:
    s_groups_free(&gs);
    ad_store_close(&store);
    ad_filter_free(&where);
    return rc;
}

