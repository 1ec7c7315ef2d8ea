/* ad_cli_metrics.c - `autodist metrics RUN`: per-step metrics as a table, CSV, JSON, TensorBoard */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ad_cli_runs.h"
#include "ad_tfevents.h"

/*
 * The store keeps what rank 0 reported at each step (metrics: run, step, key,
 * value; docs/store.md).  The rows are read once, then laid out one line per
 * step and one column per key, keys in the order they first appear.
 */

enum {
    S_OPT_CSV = 256,
    S_OPT_KEY,
    S_OPT_TB,
    S_OPT_JOB,
};

/* Every sample, and the keys and steps they name. */
typedef struct samples {
    int64_t *step; /* per sample */
    int *key;      /* per sample: index in keys */
    double *value; /* per sample */
    size_t n, cap; /* samples */
    char **keys;   /* distinct keys, first appearance order */
    size_t nkeys;  /* how many */
    char **want;   /* --key: the keys kept; NULL = all */
    size_t nwant;  /* how many */
} samples_t;

static int
s_on_metric(int64_t run, const ad_metric_t *m, void *arg)
{
    samples_t *s = arg;
    size_t k;

    (void)run;
    if (s->want) {
        for (k = 0; k < s->nwant && strcmp(s->want[k], m->key); k++)
            ;
        if (k == s->nwant)
            return 0;
    }
    for (k = 0; k < s->nkeys && strcmp(s->keys[k], m->key); k++)
        ;
    if (k == s->nkeys) {
        s->keys = ad_realloc(s->keys, (s->nkeys + 1) * sizeof(*s->keys));
        s->keys[s->nkeys++] = ad_strdup(m->key);
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 256;
        s->step = ad_realloc(s->step, s->cap * sizeof(*s->step));
        s->key = ad_realloc(s->key, s->cap * sizeof(*s->key));
        s->value = ad_realloc(s->value, s->cap * sizeof(*s->value));
    }
    s->step[s->n] = m->step;
    s->key[s->n] = (int)k;
    s->value[s->n] = m->value;
    s->n++;
    return 0;
}

static void
s_samples_clear(samples_t *s)
{
    for (size_t i = 0; i < s->nkeys; i++)
        free(s->keys[i]);
    for (size_t i = 0; i < s->nwant; i++)
        free(s->want[i]);
    free(s->keys);
    free(s->want);
    free(s->step);
    free(s->key);
    free(s->value);
    memset(s, 0, sizeof(*s));
}

/* Print the samples one line per step (they come ordered by step then key). */
static void
s_print_wide(const samples_t *s, bool csv)
{
    char **cells = ad_calloc(s->nkeys + 1, sizeof(*cells));
    const char **hdr = ad_calloc(s->nkeys + 1, sizeof(*hdr));
    double *row = ad_calloc(s->nkeys, sizeof(*row));
    ad_cli_table_t *t = NULL;
    char num[40];

    hdr[0] = csv ? "step" : "STEP";
    for (size_t k = 0; k < s->nkeys; k++)
        hdr[k + 1] = s->keys[k];
    if (csv) {
        for (size_t k = 0; k <= s->nkeys; k++)
            ad_cli_csv_text(stdout, hdr[k], k == s->nkeys);
    } else {
        t = ad_cli_table_new((int)s->nkeys + 1, hdr);
    }
    for (size_t i = 0; i < s->n;) {
        int64_t step = s->step[i];

        for (size_t k = 0; k < s->nkeys; k++)
            row[k] = NAN;
        for (; i < s->n && s->step[i] == step; i++)
            row[s->key[i]] = s->value[i];
        if (csv) {
            ad_cli_csv_int(stdout, step, false, s->nkeys == 0);
            for (size_t k = 0; k < s->nkeys; k++)
                ad_cli_csv_num(stdout, row[k], k + 1 == s->nkeys);
            continue;
        }
        snprintf(num, sizeof(num), "%lld", (long long)step);
        cells[0] = ad_strdup(num);
        for (size_t k = 0; k < s->nkeys; k++) {
            snprintf(num, sizeof(num), "%.6g", row[k]);
            cells[k + 1] = ad_strdup(isnan(row[k]) ? "-" : num);
        }
        ad_cli_table_add(t, (const char *const *)cells);
        for (size_t k = 0; k <= s->nkeys; k++)
            free(cells[k]);
    }
    if (t)
        ad_cli_table_print(t, stdout);
    ad_cli_table_free(&t);
    free(cells);
    free(hdr);
    free(row);
}

/*
 * Write the samples into a TensorBoard event file in dir.  The store keeps
 * no time per step: wall times are spread from the run's start to its end
 * by step (docs/cli.md "autodist metrics").
 */
static int
s_tensorboard(const samples_t *s, const ad_run_t *run, const char *dir)
{
    double t0 = isnan(run->started) ? ad_cli_now() : run->started;
    double t1 = isnan(run->ended) ? t0 : run->ended;
    int64_t last = s->n ? s->step[s->n - 1] : 0;
    ad_tfevents_t *tf = NULL;
    ad_err_t err = {0};
    char path[4096];
    int rc;

    rc = ad_tfevents_open(dir, t0, &tf, &err);
    if (rc)
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "--tensorboard: %s", err.msg);
    snprintf(path, sizeof(path), "%s", ad_tfevents_path(tf));
    for (size_t i = 0; i < s->n && !rc; i++) {
        double wall = last > 0 ? t0 + (t1 - t0) * (double)s->step[i] / (double)last : t0;

        if (!isnan(s->value[i]))
            rc = ad_tfevents_scalar(tf, wall, s->step[i], s->keys[s->key[i]], (float)s->value[i]);
    }
    if (ad_tfevents_close(&tf, &err) || rc)
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "--tensorboard: %s", err.msg[0] ? err.msg : path);
    if (!ad_cli_interrupted)
        fprintf(stderr, "autodist: wrote %zu scalars of run %lld to %s\n", s->n, (long long)run->id,
                path);
    return 0;
}

static void
s_print_json(const samples_t *s, int64_t id)
{
    json_t *arr = json_array(), *keys = json_array(), *doc;

    for (size_t k = 0; k < s->nkeys; k++)
        json_array_append_new(keys, json_string(s->keys[k]));
    for (size_t i = 0; i < s->n; i++)
        json_array_append_new(arr,
                              json_pack("{s:I s:s s:o}", "step", (json_int_t)s->step[i], "key",
                                        s->keys[s->key[i]], "value",
                                        isnan(s->value[i]) ? json_null() : json_real(s->value[i])));
    doc = json_pack("{s:I s:o s:o}", "run", (json_int_t)id, "keys", keys, "metrics", arr);
    ad_cli_print_json(doc);
    json_decref(doc);
}

/* Split --key a,b into s->want. */
static void
s_want(samples_t *s, const char *arg)
{
    char *copy = ad_strdup(arg), *save = NULL;

    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        s->want = ad_realloc(s->want, (s->nwant + 1) * sizeof(*s->want));
        s->want[s->nwant++] = ad_strdup(tok);
    }
    free(copy);
}

int
ad_cli_metrics(ad_cli_t *cli, int argc, char **argv)
{
    static const struct option longs[] = {
        {"csv", no_argument, NULL, S_OPT_CSV},
        {"key", required_argument, NULL, S_OPT_KEY},
        {"tensorboard", required_argument, NULL, S_OPT_TB},
        {"job", required_argument, NULL, S_OPT_JOB},
        {NULL, 0, NULL, 0},
    };
    const char *arg, *tb = NULL, *db = NULL, *job_arg = NULL;
    ad_store_t *store = NULL;
    samples_t s = {0};
    ad_run_t run = {0};
    int64_t id = 0, job = 0;
    bool csv = false;
    int c, rc = 0;

    while ((c = ad_cli_getopt(cli, argc, argv, longs, &arg)) != AD_CLI_OPT_END) {
        if (c == AD_CLI_OPT_HELP || c == AD_CLI_OPT_ERROR) {
            rc = c == AD_CLI_OPT_HELP ? AD_CLI_EXIT_OK : AD_CLI_EXIT_USAGE;
            goto out;
        }
        if (c == S_OPT_CSV)
            csv = true;
        else if (c == S_OPT_KEY)
            s_want(&s, arg);
        else if (c == S_OPT_TB)
            tb = arg;
        else if (c == S_OPT_JOB)
            job_arg = arg;
    }
    rc = ad_cli_record_args(cli, argc, argv, job_arg, &id, &job);
    if (rc)
        goto out;
    if (csv && cli->json) {
        rc = ad_cli_fail(AD_CLI_EXIT_USAGE, "metrics: --json and --csv exclude each other");
        goto out;
    }
    rc = ad_cli_open_store(cli, &store, &db);
    if (rc)
        goto out;
    if (!store) {
        rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "no runs yet: %s does not exist", db);
        goto out;
    }
    if (job) {
        ad_run_filter_t f = {.job = job, .limit = 1, .newest_first = true};

        if (ad_store_each_run(store, &f, ad_cli_first_run_id, &id) < 0 || id == 0) {
            rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "job %lld has no run in %s", (long long)job, db);
            goto out;
        }
    }
    if (ad_store_get_run(store, id, &run) ||
        ad_store_each_metric(store, id, s.nwant == 1 ? s.want[0] : NULL, s_on_metric, &s) < 0) {
        rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", ad_store_errmsg(store));
        goto out;
    }
    if (tb)
        rc = s_tensorboard(&s, &run, tb);
    else if (cli->json)
        s_print_json(&s, id);
    else if (s.n == 0 && !csv)
        printf("run %lld has no metrics%s\n", (long long)id,
               s.want ? " of those keys" : " (imported, or it never reported a step)");
    else
        s_print_wide(&s, csv);
out:
    ad_store_run_clear(&run);
    ad_store_close(&store);
    s_samples_clear(&s);
    return rc;
}
