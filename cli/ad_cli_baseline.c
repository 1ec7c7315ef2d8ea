/* ad_cli_baseline.c - autodist baseline: list, pin and unpin the baselines of the speedups */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ad_cli.h"
#include "ad_cli_runs.h"
#include "autodist/ad_store.h"

/* Options of autodist baseline (docs/speedup.md, "Baselines"). */
enum { S_OPT_PIN = 256, S_OPT_UNPIN, S_OPT_PROBES_OK, S_OPT_MODEL, S_OPT_DATASET, S_OPT_HARDWARE };

/* Most runs one --pin takes. */
#define S_PIN_MAX 1000

/* What to do. */
typedef struct {
    const char *pin;   /* --pin RUN[,RUN...] */
    int64_t unpin;     /* --unpin RUN; 0 = none */
    bool probes_ok;    /* --probes-ok */
    ad_run_filter_t f; /* --model, --dataset, --hardware */
    const char *hardware; /* --hardware as given; NULL = none */
    char hw_fp[128];      /* the class it names; f.hardware points here */
} s_opts_t;

static int
s_parse(ad_cli_t *cli, int argc, char **argv, s_opts_t *o)
{
    static const struct option longs[] = {
        {"pin", required_argument, NULL, S_OPT_PIN},
        {"unpin", required_argument, NULL, S_OPT_UNPIN},
        {"probes-ok", no_argument, NULL, S_OPT_PROBES_OK},
        {"model", required_argument, NULL, S_OPT_MODEL},
        {"dataset", required_argument, NULL, S_OPT_DATASET},
        {"hardware", required_argument, NULL, S_OPT_HARDWARE},
        {NULL, 0, NULL, 0},
    };
    const char *arg;
    int c;

    memset(o, 0, sizeof(*o));
    while ((c = ad_cli_getopt(cli, argc, argv, longs, &arg)) != AD_CLI_OPT_END) {
        switch (c) {
        case AD_CLI_OPT_HELP:
            return AD_CLI_OPT_HELP;
        case AD_CLI_OPT_ERROR:
            return AD_CLI_EXIT_USAGE;
        case S_OPT_PIN:
            o->pin = arg;
            break;
        case S_OPT_UNPIN:
            if (ad_cli_parse_int("--unpin", arg, 1, INT64_MAX, &o->unpin))
                return AD_CLI_EXIT_USAGE;
            break;
        case S_OPT_PROBES_OK:
            o->probes_ok = true;
            break;
        case S_OPT_MODEL:
            o->f.model = arg;
            break;
        case S_OPT_DATASET:
            o->f.dataset = arg;
            break;
        case S_OPT_HARDWARE: /* a name, a node or a fingerprint prefix: the class */
            if (ad_cli_hw_resolve(cli, "--hardware", arg, false, o->hw_fp, sizeof(o->hw_fp)))
                return AD_CLI_EXIT_USAGE;
            o->hardware = arg;
            o->f.hardware = o->hw_fp;
            break;
        default:
            return AD_CLI_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "baseline: unexpected argument \"%s\"", argv[optind]);
    if (o->pin && o->unpin)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "baseline: --pin and --unpin exclude each other");
    if (o->probes_ok && !o->pin)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "baseline: --probes-ok goes with --pin");
    return 0;
}

/* "12,13,14" into ids; returns how many, or -1 after printing the error. */
static int
s_parse_ids(const char *text, int64_t *ids, int cap)
{
    char buf[64];
    int n = 0;

    for (const char *p = text; *p;) {
        size_t len = strcspn(p, ",");

        if (len == 0 || len >= sizeof(buf) || n == cap) {
            ad_cli_fail(AD_CLI_EXIT_USAGE,
                        "baseline: --pin takes run ids separated by commas (at most %d), got "
                        "\"%s\"",
                        cap, text);
            return -1;
        }
        memcpy(buf, p, len);
        buf[len] = '\0';
        if (ad_cli_parse_int("--pin", buf, 1, INT64_MAX, &ids[n]))
            return -1;
        n++;
        p += len + (p[len] == ',');
    }
    if (n == 0)
        ad_cli_fail(AD_CLI_EXIT_USAGE, "baseline: --pin needs at least one run id");
    return n > 0 ? n : -1;
}

/* The listing. */
typedef struct {
    ad_cli_t *cli;
    ad_cli_table_t *table;   /* table output */
    ad_cli_json_list_t json; /* --json */
    size_t n;                /* rows */
} s_list_t;

static int
s_on_baseline(const ad_baseline_t *b, void *arg)
{
    s_list_t *l = arg;
    char batch[24], sps[96], sd[48], n[24], runs[512], hw[128];
    const char *cells[9];

    l->n++;
    if (l->cli->json) {
        json_t *o = json_pack("{s:s s:s s:s s:I s:s s:o s:o s:I s:b s:o s:o}", "hardware",
                              b->hardware, "model", b->model, "dataset", b->dataset, "batch_size",
                              (json_int_t)b->batch_size, "device", b->device, "samples_per_s",
                              ad_cli_json_num(b->sps), "samples_sd", ad_cli_json_num(b->sps_sd),
                              "n", (json_int_t)b->n, "pinned", b->pinned, "runs", json_array(),
                              "updated", ad_cli_json_num(b->updated));

        /* baselines.runs is a JSON array of ids: "[1,2,3]". */
        {
            json_t *ids = b->runs ? json_loads(b->runs, 0, NULL) : NULL;

            if (json_is_array(ids))
                json_object_set(o, "runs", ids);
            json_decref(ids);
        }
        if (b->hardware[0])
            json_object_set_new(o, "hardware_name",
                                json_string(ad_cli_hw_label(l->cli, b->hardware, hw, sizeof(hw))));
        ad_cli_json_list_item(&l->json, o);
        return 0;
    }
    snprintf(batch, sizeof(batch), "%" PRId64, b->batch_size);
    snprintf(n, sizeof(n), "%" PRId64, b->n);
    ad_cli_fmt_rate(b->sps, sps, sizeof(sps));
    if (!isnan(b->sps_sd)) {
        ad_cli_fmt_rate(b->sps_sd, sd, sizeof(sd));
        snprintf(sps + strlen(sps), sizeof(sps) - strlen(sps), " +- %s", sd);
    }
    cells[0] = b->model;
    cells[1] = b->dataset;
    cells[2] = batch;
    cells[3] = b->hardware[0] ? ad_cli_hw_label(l->cli, b->hardware, hw, sizeof(hw)) : "-";
    cells[4] = b->device;
    cells[5] = sps;
    cells[6] = n;
    cells[7] = b->pinned ? "pinned" : "mean";
    /* "[1,2,3]" reads 1,2,3; a long list is cut with "...". */
    snprintf(runs, sizeof(runs), "%s", b->runs[0] == '[' ? b->runs + 1 : b->runs);
    runs[strcspn(runs, "]")] = '\0';
    if (strlen(b->runs) > sizeof(runs) - 2)
        snprintf(runs + sizeof(runs) - 5, 5, "...");
    cells[8] = runs;
    ad_cli_table_add(l->table, cells);
    return 0;
}

static int
s_list(ad_cli_t *cli, ad_store_t *store, const char *db, const s_opts_t *o)
{
    static const char *const headers[] = {"MODEL",     "DATASET", "BATCH", "HARDWARE", "DEVICE",
                                          "SAMPLES/S", "N",       "RULE",  "RUNS"};
    s_list_t l = {cli, NULL, {0}, 0};
    int rc = 0;

    if (cli->json)
        ad_cli_json_list_begin(&l.json, "baselines");
    else
        l.table = ad_cli_table_new(9, headers);
    if (store && ad_store_each_baseline(store, &o->f, s_on_baseline, &l) < 0)
        rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", ad_store_errmsg(store));
    if (cli->json) {
        ad_cli_json_list_end(&l.json);
    } else if (!rc && !store) {
        printf("no runs yet (%s does not exist)\n", db);
    } else if (!rc && l.n == 0) {
        printf("no baselines yet: a COMPLETED 1x1x1 run makes one (%s)\n", db);
    } else if (!rc) {
        ad_cli_table_print(l.table, stdout);
    }
    ad_cli_table_free(&l.table);
    return rc;
}

/* --pin or --unpin: a writable store. */
static int
s_change(ad_cli_t *cli, const s_opts_t *o)
{
    const ad_home_t *home = ad_cli_home(cli);
    int64_t ids[S_PIN_MAX];
    ad_store_t *store = NULL;
    ad_err_t err = {0};
    int n = 0, rc;

    if (o->pin) {
        n = s_parse_ids(o->pin, ids, S_PIN_MAX);
        if (n < 0)
            return AD_CLI_EXIT_USAGE;
    }
    if (!home)
        return AD_CLI_EXIT_ERROR;
    if (ad_store_open(home->db, 0, &store, &err))
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", err.msg);
    rc = o->pin ? ad_store_pin_baseline(store, ids, (size_t)n, o->probes_ok)
                : ad_store_unpin_baseline(store, o->unpin);
    if (rc) {
        rc = ad_cli_fail(rc == AD_EDB ? AD_CLI_EXIT_ERROR : AD_CLI_EXIT_USAGE, "baseline: %s",
                         ad_store_errmsg(store));
    } else if (!cli->json) {
        if (o->pin)
            printf("pinned the baseline to run%s %s: new repeats no longer change it\n",
                   n > 1 ? "s" : "", o->pin);
        else
            printf("unpinned the baseline of run %" PRId64 "'s group: it is the mean of its "
                   "1x1x1 repeats again\n",
                   o->unpin);
    }
    ad_store_close(&store);
    return rc;
}

int
ad_cli_baseline(ad_cli_t *cli, int argc, char **argv)
{
    ad_store_t *store = NULL;
    const char *db = NULL;
    s_opts_t o;
    int rc;

    rc = s_parse(cli, argc, argv, &o);
    if (rc)
        return rc == AD_CLI_OPT_HELP ? AD_CLI_EXIT_OK : rc;
    if (o.pin || o.unpin) {
        rc = s_change(cli, &o);
        if (rc || !cli->json)
            return rc;
    }
    rc = ad_cli_open_store(cli, &store, &db);
    if (rc)
        return rc;
    if (o.hardware && !ad_cli_hw_is_known(cli, o.hw_fp))
        rc = ad_cli_runs_check_hardware(cli, store, "--hardware", o.hw_fp);
    if (!rc)
        rc = s_list(cli, store, db, &o);
    ad_store_close(&store);
    return rc;
}
