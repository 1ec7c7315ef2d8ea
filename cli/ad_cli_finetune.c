/* ad_cli_finetune.c - optimize --prune's fine-tune as a job on the cluster (job key finetune:) */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ad_cli.h"
#include "autodist/ad_layout.h"

/*
 * The job is written out as DIR/finetune.yaml, a job file like any other: the
 * user can read it, change it and submit it again.  Its dataset is the one the
 * artifact says it was trained on (model.json's source.dataset).
 */

/* s as a YAML double-quoted scalar (a JSON string is one), quotes and backslashes escaped. */
static void
s_put_str(FILE *f, const char *s)
{
    json_t *j = json_string(s ? s : "");
    char *text = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;

    fputs(text ? text : "\"\"", f);
    free(text);
    json_decref(j);
}

/* source.dataset of model.json as a job file's dataset: and data_dir: lines into f. */
static int
s_dataset_lines(FILE *f, const char *dir, const json_t *meta)
{
    const json_t *ds = json_object_get(json_object_get(meta, "source"), "dataset");
    const char *name = json_string_value(json_object_get(ds, "name"));
    const char *data = json_string_value(json_object_get(ds, "dir"));

    if (!name)
        return ad_cli_fail(AD_CLI_EXIT_ERROR,
                           "optimize: %s/model.json has no source.dataset.name: it does not say "
                           "which dataset to fine-tune on (fine-tune here with --local, or "
                           "export the model again)",
                           dir);
    if (!strcmp(name, "imagefolder")) {
        fputs("dataset: {imagefolder: {path: ", f);
        s_put_str(f, data);
        fprintf(f, ", image_size: %" JSON_INTEGER_FORMAT "}}\n",
                json_integer_value(json_object_get(ds, "image_size")));
    } else if (!strcmp(name, "synthetic")) {
        fprintf(f,
                "dataset: {synthetic: {shape: [%" JSON_INTEGER_FORMAT ", %" JSON_INTEGER_FORMAT
                ", %" JSON_INTEGER_FORMAT "], classes: %" JSON_INTEGER_FORMAT
                ", samples: %" JSON_INTEGER_FORMAT "}}\n",
                json_integer_value(json_object_get(ds, "channels")),
                json_integer_value(json_object_get(ds, "height")),
                json_integer_value(json_object_get(ds, "width")),
                json_integer_value(json_object_get(ds, "classes")),
                json_integer_value(json_object_get(ds, "samples")));
    } else {
        fputs("dataset: ", f);
        s_put_str(f, name);
        fputc('\n', f);
        if (data) {
            fputs("data_dir: ", f);
            s_put_str(f, data);
            fputc('\n', f);
        }
    }
    if (json_is_integer(json_object_get(ds, "seed")))
        fprintf(f, "seed: %" JSON_INTEGER_FORMAT "\n",
                json_integer_value(json_object_get(ds, "seed")));
    return 0;
}

/*
 * The job's name: the folder's, "-finetune" after it, as a job name may be (other
 * characters become '-', at most AD_JOB_NAME_MAX, starting with a letter or digit).
 */
static void
s_job_name(const char *dir, char *name, size_t size)
{
    const char *base = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
    static const char tail[] = "-finetune";
    size_t n = 0, keep = AD_JOB_NAME_MAX - (sizeof(tail) - 1);

    if (!isalnum((unsigned char)*base))
        name[n++] = 'm';
    for (; *base && n < keep && n + 1 < size; base++)
        name[n++] = isalnum((unsigned char)*base) || strchr("._-", *base) ? *base : '-';
    snprintf(name + n, size - n, "%s", tail);
}

/* Write ft->dir/finetune.yaml into path.  0 or an exit status. */
static int
s_write_job(const ad_cli_finetune_t *ft, const char *path)
{
    char mpath[PATH_MAX + 16], layout[64], name[AD_JOB_NAME_MAX + 1];
    json_error_t je;
    json_t *meta;
    FILE *f;
    int rc;

    snprintf(mpath, sizeof(mpath), "%s/model.json", ft->dir);
    meta = json_load_file(mpath, 0, &je);
    if (!json_is_object(meta)) {
        json_decref(meta);
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "optimize: %s: %s", mpath, je.text);
    }
    f = fopen(path, "w");
    if (!f) {
        json_decref(meta);
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "optimize: %s: %s", path, strerror(errno));
    }
    fprintf(f, "# Written by autodist optimize: fine-tunes the pruned model in this folder on the\n"
               "# cluster (docs/inference.md).  autodist submit runs it again; autodist export\n"
               "# RUN -o DIR makes the artifact of its run.\n");
    s_job_name(ft->dir, name, sizeof(name));
    fprintf(f, "name: %s\n", name);
    fputs("model: ", f);
    s_put_str(f, ft->arch);
    fputc('\n', f);
    fputs("finetune: ", f);
    s_put_str(f, ft->dir);
    fputc('\n', f);
    rc = s_dataset_lines(f, ft->dir, meta);
    fprintf(f, "steps: %" PRId64 "\n", ft->steps);
    fprintf(f, "batch_size: %" PRId64 "\n", ft->batch);
    /* Small: the network has no BatchNorm left (folded at export), and at 0.01 a pruned
     * resnet18 diverged to chance in 20 steps where 0.001 kept its accuracy. */
    fprintf(f, "optimizer: {type: sgd, lr: 0.001, momentum: 0.9}\n");
    fprintf(f, "layout: %s\n",
            ad_layout_str(ft->layout.nodes, ft->layout.procs_per_node, ft->layout.threads_per_proc,
                          layout, sizeof(layout)));
    fprintf(f, "eval: true\n");
    fprintf(f, "tags: {optimize: finetune}\n");
    json_decref(meta);
    if (fclose(f) && !rc)
        rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "optimize: %s: %s", path, strerror(errno));
    return rc;
}

int
ad_cli_finetune_job(ad_cli_t *cli, const ad_cli_finetune_t *ft, int64_t *job)
{
    char path[PATH_MAX + 32];
    ad_job_t j = {0};
    ad_err_t err = {0};
    json_t *spec, *reply = NULL;
    char *text;
    int rc;

    *job = 0;
    snprintf(path, sizeof(path), "%s/finetune.yaml", ft->dir);
    if ((rc = s_write_job(ft, path)))
        return rc;
    if (ad_job_parse_file_set(path, ft->sets, ft->n_sets, &j, &err))
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "optimize: %s", err.msg);
    text = ad_job_to_json(&j);
    spec = json_loads(text, 0, NULL);
    free(text);
    rc = ad_cli_call(cli, "SUBMIT",
                     json_pack("{s:o s:b s:s}", "job", spec, "hold", false, "file", path), &reply);
    if (rc == AD_CLI_EXIT_UNREACHABLE)
        fprintf(stderr,
                "autodist: optimize: %s holds the pruned model, not fine-tuned: start the "
                "cluster with `autodist up` and run this again, or fine-tune on this node "
                "with --local\n",
                ft->dir);
    if (!rc) {
        *job = ad_cli_jint(reply, "job", 0);
        if (*job < 1)
            rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "the coordinator's answer to SUBMIT has no job id");
    }
    if (!rc) {
        /* With --json, stdout keeps optimize's one object: the job's progress goes to stderr. */
        bool json = cli->json;
        int out = -1;

        fflush(stdout);
        if (json) {
            out = dup(STDOUT_FILENO);
            dup2(STDERR_FILENO, STDOUT_FILENO);
            cli->json = false;
        }
        printf("fine-tuning on the cluster: submitted job %" PRId64 " (%s, %s)\n", *job, j.name,
               path);
        fflush(stdout);
        rc = ad_cli_wait_job(cli, *job, j.name, 1.0, NULL, NULL);
        fflush(stdout);
        if (rc == AD_CLI_EXIT_INTERRUPTED)
            fprintf(stderr,
                    "autodist: optimize: %s holds the pruned model, not yet fine-tuned: once job "
                    "%" PRId64 " is COMPLETED, `autodist export RUN -o %s` (RUN: its run, "
                    "autodist jobs) writes the fine-tuned one\n",
                    ft->dir, *job, ft->dir);
        if (out >= 0) {
            dup2(out, STDOUT_FILENO);
            close(out);
        }
        cli->json = json;
    }
    json_decref(reply);
    ad_job_clear(&j);
    return rc;
}
