/* ad_cli_tag.c - `autodist tag RUN k=v... [--note TEXT] [--remove KEY]`: a run's tags and note */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ad_cli.h"

/*
 * Tags and the note live in the store (run_tags, runs.note), so the command
 * writes HOME/runs.db directly, with or without a coordinator
 * (docs/cli.md "autodist tag").
 */

enum {
    S_OPT_NOTE = 256,
    S_OPT_REMOVE,
    S_OPT_JOB,
};

int
ad_cli_tag_arg(const char *arg, json_t *tags)
{
    const char *eq = strchr(arg, '=');
    char key[80];

    if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof(key))
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "--tag: expected KEY=VALUE, got \"%s\"", arg);
    snprintf(key, sizeof(key), "%.*s", (int)(eq - arg), arg);
    if (!ad_store_tag_key_ok(key))
        return ad_cli_fail(AD_CLI_EXIT_USAGE,
                           "--tag: key \"%s\" must be 1 to 64 letters, digits, '_', '-' or '.'",
                           key);
    if (strlen(eq + 1) > 1024)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "--tag %s: the value is longer than 1024 bytes", key);
    json_object_set_new(tags, key, json_string(eq + 1));
    return 0;
}

int
ad_cli_job_meta(ad_job_t *job, const json_t *tags, const char *note)
{
    json_t *all = job->tags ? json_loads(job->tags, 0, NULL) : json_object();

    if (!all)
        all = json_object();
    json_object_update(all, (json_t *)tags);
    free(job->tags);
    job->tags = NULL;
    if (json_object_size(all)) {
        job->tags = json_dumps(all, JSON_COMPACT | JSON_SORT_KEYS);
        if (!job->tags)
            ad_oom(0);
    }
    json_decref(all);
    if (note) {
        if (strlen(note) > 4096)
            return ad_cli_fail(AD_CLI_EXIT_USAGE, "--note: at most 4096 bytes");
        free(job->note);
        job->note = *note ? ad_strdup(note) : NULL;
    }
    return 0;
}

/* The edits asked for, in order. */
typedef struct tag_edit {
    const char *key;   /* tag key */
    const char *value; /* new value; NULL removes the tag */
} tag_edit_t;

/* Print run's tags and note (after the edits) as a line or JSON. */
static int
s_print(ad_cli_t *cli, ad_store_t *store, int64_t id)
{
    ad_run_t run = {0};
    json_t *tags = NULL;
    int rc;

    rc = ad_store_get_run(store, id, &run);
    if (rc)
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", ad_store_errmsg(store));
    tags = run.tags ? json_loads(run.tags, 0, NULL) : NULL;
    if (!json_is_object(tags)) {
        json_decref(tags);
        tags = json_object();
    }
    if (cli->json) {
        json_t *doc = json_pack("{s:I s:O s:o}", "run", (json_int_t)id, "tags", tags, "note",
                                run.note ? json_string(run.note) : json_null());

        ad_cli_print_json(doc);
        json_decref(doc);
    } else {
        const char *k;
        json_t *v;
        bool first = true;

        printf("run %lld: tags ", (long long)id);
        json_object_foreach(tags, k, v)
        {
            printf("%s%s=%s", first ? "" : ", ", k, json_string_value(v));
            first = false;
        }
        printf("%s; note %s%s%s\n", first ? "-" : "", run.note ? "\"" : "-",
               run.note ? run.note : "", run.note ? "\"" : "");
    }
    json_decref(tags);
    ad_store_run_clear(&run);
    return AD_CLI_EXIT_OK;
}

/* The run of --job JOB (its latest run) into *id.  Returns 0 or an exit status. */
static int
s_job_run(ad_store_t *store, int64_t job, int64_t *id)
{
    ad_run_filter_t f = {.job = job, .limit = 1, .newest_first = true};

    *id = 0;
    if (ad_store_each_run(store, &f, ad_cli_first_run_id, id) < 0)
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", ad_store_errmsg(store));
    if (*id == 0)
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "job %lld has no run (it has not started)",
                           (long long)job);
    return 0;
}

/* Apply the edits in one transaction.  Returns 0 or an exit status. */
static int
s_apply(ad_store_t *store, int64_t id, const tag_edit_t *e, size_t n, const char *note,
        bool set_note)
{
    int rc = ad_store_begin(store);

    for (size_t i = 0; !rc && i < n; i++)
        rc = e[i].value ? ad_store_set_tag(store, id, e[i].key, e[i].value)
                        : ad_store_remove_tag(store, id, e[i].key);
    if (!rc && set_note)
        rc = ad_store_set_note(store, id, note);
    if (!rc)
        rc = ad_store_commit(store);
    if (rc) {
        char msg[512];

        snprintf(msg, sizeof(msg), "%s", ad_store_errmsg(store));
        ad_store_rollback(store);
        return ad_cli_fail(rc == AD_EINVAL ? AD_CLI_EXIT_USAGE : AD_CLI_EXIT_ERROR,
                           "tag: %s (nothing changed)", msg);
    }
    return 0;
}

int
ad_cli_tag(ad_cli_t *cli, int argc, char **argv)
{
    static const struct option longs[] = {
        {"note", required_argument, NULL, S_OPT_NOTE},
        {"remove", required_argument, NULL, S_OPT_REMOVE},
        {"job", required_argument, NULL, S_OPT_JOB},
        {NULL, 0, NULL, 0},
    };
    tag_edit_t *edits = ad_calloc((size_t)argc + 1, sizeof(*edits));
    const char *arg, *note = NULL;
    const ad_home_t *home;
    ad_store_t *store = NULL;
    ad_err_t err = {0};
    bool set_note = false;
    int64_t id = 0, job = 0;
    size_t n = 0;
    int c, rc = 0;

    while ((c = ad_cli_getopt(cli, argc, argv, longs, &arg)) != AD_CLI_OPT_END) {
        if (c == AD_CLI_OPT_HELP || c == AD_CLI_OPT_ERROR) {
            rc = c == AD_CLI_OPT_HELP ? AD_CLI_EXIT_OK : AD_CLI_EXIT_USAGE;
            goto out;
        }
        if (c == S_OPT_NOTE) {
            note = arg;
            set_note = true;
        } else if (c == S_OPT_REMOVE) {
            edits[n++] = (tag_edit_t){arg, NULL};
        } else if (c == S_OPT_JOB && (rc = ad_cli_parse_job_id(arg, &job))) {
            goto out;
        }
    }
    for (int i = optind; i < argc; i++) {
        char *eq = strchr(argv[i], '=');

        if (eq) {
            *eq = '\0';
            edits[n++] = (tag_edit_t){argv[i], eq + 1};
            if (!ad_store_tag_key_ok(argv[i])) {
                rc = ad_cli_fail(AD_CLI_EXIT_USAGE,
                                 "tag: key \"%s\" must be 1 to 64 letters, digits, '_', '-' or '.'",
                                 argv[i]);
                goto out;
            }
        } else if (!id && !job) {
            if ((rc = ad_cli_parse_int("a run id", argv[i], 1, INT64_MAX, &id)))
                goto out;
        } else {
            rc = ad_cli_fail(AD_CLI_EXIT_USAGE, "tag: expected KEY=VALUE, got \"%s\"", argv[i]);
            goto out;
        }
    }
    if (!id && !job) {
        rc = ad_cli_fail(AD_CLI_EXIT_USAGE,
                         "tag: give a run (autodist tag RUN k=v... [--note TEXT] [--remove KEY])");
        goto out;
    }
    home = ad_cli_home(cli);
    if (!home) {
        rc = AD_CLI_EXIT_ERROR;
        goto out;
    }
    if (ad_store_open(home->db, 0, &store, &err)) {
        rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", err.msg);
        goto out;
    }
    if (job && (rc = s_job_run(store, job, &id)))
        goto out;
    if ((n || set_note) && (rc = s_apply(store, id, edits, n, note, set_note)))
        goto out;
    rc = s_print(cli, store, id);
out:
    ad_store_close(&store);
    free(edits);
    return rc;
}
