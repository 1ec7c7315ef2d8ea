/* ad_cli_show.c - `autodist show RUN`: a run's row and its record, read from the store */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad_cli.h"
#include "ad_cli_runs.h"

/* What a run without a record prints, and the line reproduce prints for it. */
const char ad_cli_no_record[] =
    "no record: this run was imported or logged before records existed (store v4)";

int
ad_cli_record_load(ad_cli_t *cli, int64_t id, int64_t job, ad_run_t *run, json_t **record,
                   json_t **links)
{
    ad_store_t *store = NULL;
    ad_run_filter_t f = {0};
    int64_t of = 0, *by = NULL;
    const char *db = NULL;
    char *text = NULL;
    size_t n_by = 0;
    int rc;

    *record = NULL;
    *links = NULL;
    rc = ad_cli_open_store(cli, &store, &db);
    if (rc)
        return rc;
    if (!store)
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "%s: no such store: no runs yet", db);
    if (job > 0) {
        /* The job's latest run: the one it ran last (after requeues). */
        f.job = job;
        f.newest_first = true;
        f.limit = 1;
        id = 0;
        rc = ad_store_each_run(store, &f, ad_cli_first_run_id, &id);
        if (rc < 0) {
            rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", ad_store_errmsg(store));
            goto out_close;
        }
        if (id == 0) {
            rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "job %lld has no run in %s", (long long)job, db);
            goto out_close;
        }
    }
    rc = ad_store_get_run(store, id, run);
    if (!rc)
        rc = ad_store_get_record(store, id, &text);
    if (!rc)
        rc = ad_store_get_reproduces(store, id, &of);
    if (!rc)
        rc = ad_store_list_reproductions(store, id, &by, &n_by);
    if (rc == -ENOENT) {
        rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "run %lld: no such run in %s", (long long)id, db);
        goto out_close;
    }
    if (rc) {
        rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", ad_store_errmsg(store));
        goto out_close;
    }
    if (text) {
        *record = json_loads(text, 0, NULL);
        if (!*record)
            rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "run %lld: its record in %s is not JSON",
                             (long long)id, db);
    }
    if (!rc) {
        json_t *a = json_array();

        for (size_t i = 0; i < n_by; i++)
            json_array_append_new(a, json_integer(by[i]));
        *links = json_pack("{s:o s:o}", "reproduces", of ? json_integer(of) : json_null(),
                           "reproduced_by", a);
    }
out_close:
    if (rc)
        ad_store_run_clear(run);
    free(by);
    free(text);
    ad_store_close(&store);
    return rc;
}

int
ad_cli_first_run_id(const ad_run_t *run, void *arg)
{
    *(int64_t *)arg = run->id;
    return 1;
}

/* obj[key] as text for a table cell: strings as they are, numbers and the rest as JSON. */
static const char *
s_text(const json_t *obj, const char *key, char *buf, size_t size)
{
    json_t *v = json_object_get(obj, key);
    char *dump;

    if (!v || json_is_null(v))
        return "-";
    if (json_is_string(v))
        return json_string_value(v);
    dump = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    snprintf(buf, size, "%s", dump ? dump : "?");
    free(dump);
    return buf;
}

/* Print each line of text indented by two levels; "(none)" when there is none. */
static void
s_lines(const char *text)
{
    if (!text || !*text) {
        printf("    (none)\n");
        return;
    }
    while (*text) {
        size_t n = strcspn(text, "\n");

        printf("    %.*s\n", (int)n, text);
        text += n + (text[n] == '\n');
    }
}

/*
 * A distilled run's teacher, a fine-tune's starting artifact, a line each (job keys distill:
 * and finetune:, docs/jobfile.md); nothing otherwise.
 */
static void
s_print_distill(const ad_run_t *r)
{
    json_t *spec = r->spec ? json_loads(r->spec, 0, NULL) : NULL;
    json_t *d = json_object_get(spec, "distill");
    const char *teacher = json_string_value(json_object_get(d, "teacher"));
    const char *ckpt = json_string_value(json_object_get(d, "checkpoint"));
    const char *from = json_string_value(json_object_get(spec, "finetune"));

    if (from)
        printf("  finetune    from the artifact %s (a run of kind finetune: no speedup)\n", from);
    if (teacher)
        printf("  distill     teacher %s%s%s%s%s, temperature %g, alpha %g\n",
               strchr(teacher, '/') ? "" : "run ", teacher, ckpt ? " (" : "", ckpt ? ckpt : "",
               ckpt ? ")" : "", json_number_value(json_object_get(d, "temperature")),
               json_number_value(json_object_get(d, "alpha")));
    json_decref(spec);
}

static void
s_print_row(const ad_run_t *r, const json_t *links)
{
    int64_t reproduces = ad_cli_jint(links, "reproduces", 0);
    const json_t *by = json_object_get(links, "reproduced_by"), *v;
    char a[64], b[64], c[64];
    size_t i;

    printf("Run %lld", (long long)r->id);
    if (r->job)
        printf(" (job %lld", (long long)r->job);
    else
        printf(" (no job");
    if (r->sweep)
        printf(", sweep %lld", (long long)r->sweep);
    if (reproduces)
        printf(", reproduces run %lld", (long long)reproduces);
    printf(")\n");
    if (r->name)
        printf("  name        %s\n", r->name);
    printf("  state       %s\n", ad_store_job_state_name(r->state));
    printf("  started     %s\n  ended       %s\n", ad_cli_fmt_time(r->started, a, sizeof(a)),
           ad_cli_fmt_time(r->ended, b, sizeof(b)));
    printf("  model       %s\n  dataset     %s\n  batch       %lld (global)\n",
           r->model ? r->model : "-", r->dataset ? r->dataset : "-", (long long)r->batch_size);
    printf("  layout      %dx%dx%d %s (nodes x procs x threads)\n", r->nodes, r->procs_per_node,
           r->threads_per_proc, r->device ? r->device : "cpu");
    printf("  hardware    %s\n", r->hardware && r->hardware[0] ? r->hardware : "-");
    printf("  config hash %s\n", r->config_hash ? r->config_hash : "-");
    printf("  throughput  %s samples/s", ad_cli_fmt_rate(r->samples_per_s, c, sizeof(c)));
    if (!isnan(r->speedup))
        printf(", speedup %.2fx over run %lld", r->speedup, (long long)r->baseline);
    if (!isnan(r->accuracy))
        printf(", accuracy %.2f%%", 100.0 * r->accuracy);
    printf("\n");
    {
        char tags[1024];

        /* Runs as experiments: `autodist tag` edits these, runs --where selects on them. */
        printf("  tags        %s\n", *ad_cli_run_tags_text(r, tags, sizeof(tags)) ? tags : "-");
        printf("  note        %s\n", r->note ? r->note : "-");
    }
    s_print_distill(r);
    if (json_array_size(by)) {
        printf("  reproduced  by run%s", json_array_size(by) > 1 ? "s" : "");
        json_array_foreach(by, i, v)
        {
            printf("%s %lld", i ? "," : "", (long long)json_integer_value(v));
        }
        printf(" (autodist reproduce)\n");
    }
}

static void
s_print_versions(const json_t *v)
{
    char b1[128], b2[128], b3[128];
    json_t *dirty = json_object_get(v, "dirty");

    printf("\nVersions\n");
    printf("  autodist    %s (commit %s%s)\n", s_text(v, "autodist", b1, sizeof(b1)),
           s_text(v, "commit", b2, sizeof(b2)),
           json_is_true(dirty) ? ", with uncommitted changes" : "");
    printf("  compiler    %s\n", s_text(v, "compiler", b1, sizeof(b1)));
    printf("  Open MPI    %s (the trainer's: %s)\n", s_text(v, "open_mpi", b1, sizeof(b1)),
           s_text(v, "trainer_mpi", b2, sizeof(b2)));
    printf("  libtorch    %s (autodist-train %s)\n", s_text(v, "libtorch", b1, sizeof(b1)),
           s_text(v, "trainer", b2, sizeof(b2)));
    printf("  hwloc       %s (%s)\n", s_text(v, "hwloc", b1, sizeof(b1)),
           s_text(v, "hwloc_note", b2, sizeof(b2)));
    printf("  ZeroMQ      %s, CZMQ %s\n", s_text(v, "zeromq", b1, sizeof(b1)),
           s_text(v, "czmq", b2, sizeof(b2)));
    printf("  SQLite      %s, jansson %s, libyaml %s\n", s_text(v, "sqlite", b1, sizeof(b1)),
           s_text(v, "jansson", b2, sizeof(b2)), s_text(v, "libyaml", b3, sizeof(b3)));
}

static void
s_print_dataset(const json_t *d)
{
    static const char *const keys[] = {"path",     "files",      "bytes", "content_hash", "note",
                                       "channels", "height",     "width", "classes",      "samples",
                                       "seed",     "image_size", NULL};
    char buf[256];

    printf("\nDataset\n");
    printf("  %-12s %s\n", "kind", s_text(d, "kind", buf, sizeof(buf)));
    printf("  %-12s %s\n", "label", s_text(d, "label", buf, sizeof(buf)));
    for (int i = 0; keys[i]; i++)
        if (json_object_get(d, keys[i]))
            printf("  %-12s %s\n", keys[i], s_text(d, keys[i], buf, sizeof(buf)));
}

static void
s_print_nodes(const json_t *nodes)
{
    static const char *const headers[] = {"RANKS", "NAME", "HOST", "FINGERPRINT", "CORES", "CPU"};
    ad_cli_table_t *t = ad_cli_table_new(6, headers);
    const json_t *n;
    size_t i;

    printf("\nNodes (rank order)\n");
    json_array_foreach(nodes, i, n)
    {
        const json_t *cpu = json_object_get(json_object_get(n, "profile"), "cpu");
        int64_t first = ad_cli_jint(n, "first_rank", 0), k = ad_cli_jint(n, "ranks", 1);
        char ranks[48], cores[24], b1[128], b2[128], b3[128], b4[256];
        const char *cells[6];

        if (k > 1)
            snprintf(ranks, sizeof(ranks), "%lld-%lld", (long long)first,
                     (long long)(first + k - 1));
        else
            snprintf(ranks, sizeof(ranks), "%lld", (long long)first);
        snprintf(cores, sizeof(cores), "%lld", (long long)ad_cli_jint(cpu, "cores", 0));
        cells[0] = ranks;
        cells[1] = s_text(n, "name", b1, sizeof(b1));
        cells[2] = s_text(n, "host", b2, sizeof(b2));
        cells[3] = s_text(n, "fingerprint", b3, sizeof(b3));
        cells[4] = cpu ? cores : "-";
        cells[5] = cpu ? s_text(cpu, "model", b4, sizeof(b4)) : "-";
        ad_cli_table_add(t, cells);
    }
    ad_cli_table_print(t, stdout);
    ad_cli_table_free(&t);
}

/* Every key of an object as "  KEY  VALUE" lines (indent spaces first); "(none)" when empty. */
static void
s_print_object(const json_t *o, int indent)
{
    const char *key;
    json_t *v;
    char buf[512];

    if (!json_is_object(o) || json_object_size(o) == 0) {
        printf("%*s(none)\n", indent, "");
        return;
    }
    json_object_foreach((json_t *)o, key, v)
    {
        /* A nested object (the reservation's request and what OAR granted) one key a line. */
        if (json_is_object(v) && indent < 8) {
            printf("%*s%s:\n", indent, "", key);
            s_print_object(v, indent + 2);
            continue;
        }
        printf("%*s%s = %s\n", indent, "", key, s_text(o, key, buf, sizeof(buf)));
    }
}

static void
s_print_launch(const json_t *l)
{
    const json_t *argv = json_object_get(l, "argv"), *a;
    size_t i;

    printf("\nLaunch (ranks %lld, threads per rank %lld, %s)\n",
           (long long)ad_cli_jint(l, "ranks", 0), (long long)ad_cli_jint(l, "threads_per_rank", 0),
           json_is_true(json_object_get(l, "bound")) ? "bound to cores" : "not bound");
    printf("  argv:\n");
    json_array_foreach(argv, i, a)
    {
        printf("    %s\n", json_string_value(a) ? json_string_value(a) : "?");
    }
    printf("  hostfile:\n");
    s_lines(ad_cli_jstr(l, "hostfile"));
    printf("  rankfile:\n");
    s_lines(ad_cli_jstr(l, "rankfile"));
}

static void
s_print_record(const json_t *r)
{
    const json_t *env = json_object_get(r, "environment"), *resv;
    char *spec = json_dumps(json_object_get(r, "spec"),
                            JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
    char buf[64], hash[64], host[256];

    s_print_versions(json_object_get(r, "versions"));
    printf("\nSpec (config hash %s)\n  %s\n", s_text(r, "config_hash", hash, sizeof(hash)),
           spec ? spec : "-");
    free(spec);
    s_print_dataset(json_object_get(r, "dataset"));
    s_print_nodes(json_object_get(r, "nodes"));
    resv = json_object_get(r, "reservation");
    printf("\nReservation\n");
    if (!json_is_object(resv))
        printf("  none: run on the coordinator's own nodes (no batch system)\n");
    else
        s_print_object(resv, 2);
    s_print_launch(json_object_get(r, "launch"));
    printf("\nEnvironment\n  set by the launch:\n");
    s_print_object(json_object_get(env, "set_by_launch"), 4);
    printf("  inherited from the coordinator:\n");
    s_print_object(json_object_get(env, "inherited"), 4);
    printf("\nSeeds\n");
    s_print_object(json_object_get(r, "seeds"), 2);
    printf("\nRecorded %s on %s (record format %lld, attempt %lld)\n",
           ad_cli_fmt_time(ad_cli_jnum(r, "created", NAN), buf, sizeof(buf)),
           s_text(r, "coordinator_host", host, sizeof(host)),
           (long long)ad_cli_jint(r, "format", 0), (long long)ad_cli_jint(r, "attempt", 0));
}

/* Parse RUN or --job ID; returns 0 or an exit status after printing why. */
int
ad_cli_record_args(ad_cli_t *cli, int argc, char **argv, const char *jobs_arg, int64_t *run,
                   int64_t *job)
{
    *run = 0;
    *job = 0;
    if (jobs_arg && optind < argc)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "%s: give RUN or --job JOB, not both", cli->cmd);
    if (jobs_arg)
        return ad_cli_parse_int("--job", jobs_arg, 1, INT64_MAX, job) ? AD_CLI_EXIT_USAGE : 0;
    if (optind >= argc)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "%s: give a run id (autodist runs lists them)",
                           cli->cmd);
    if (optind + 1 < argc)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "%s: one run at a time, got also \"%s\"", cli->cmd,
                           argv[optind + 1]);
    if (ad_cli_parse_int("RUN", argv[optind], 1, INT64_MAX, run))
        return AD_CLI_EXIT_USAGE;
    return 0;
}

int
ad_cli_show(ad_cli_t *cli, int argc, char **argv)
{
    static const struct option longs[] = {
        {"job", required_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    const char *arg, *job_arg = NULL;
    json_t *record = NULL, *links = NULL;
    int64_t id, job;
    ad_run_t run = {0};
    int c, rc;

    while ((c = ad_cli_getopt(cli, argc, argv, longs, &arg)) != AD_CLI_OPT_END) {
        if (c == AD_CLI_OPT_HELP)
            return AD_CLI_EXIT_OK;
        if (c == AD_CLI_OPT_ERROR)
            return AD_CLI_EXIT_USAGE;
        if (c == 'j')
            job_arg = arg;
    }
    rc = ad_cli_record_args(cli, argc, argv, job_arg, &id, &job);
    if (!rc)
        rc = ad_cli_record_load(cli, id, job, &run, &record, &links);
    if (rc)
        return rc;
    if (cli->json) {
        json_t *row = ad_cli_run_json(&run), *doc;

        json_object_update(row, links);
        doc = json_pack("{s:o s:o}", "run", row, "record", record ? record : json_null());
        if (!record)
            json_object_set_new(doc, "note", json_string(ad_cli_no_record));
        ad_cli_print_json(doc);
        json_decref(doc);
        record = NULL;
    } else {
        s_print_row(&run, links);
        if (record)
            s_print_record(record);
        else
            printf("\n%s\n", ad_cli_no_record);
    }
    json_decref(record);
    json_decref(links);
    ad_store_run_clear(&run);
    return AD_CLI_EXIT_OK;
}
