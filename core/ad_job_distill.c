/* ad_job_distill.c - a job file's distill: block: teacher (run id or folder), temperature, alpha */
#include "ad_job_priv.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* distill: {teacher: RUN|DIR, temperature: T, alpha: A}; null: no distillation. */
int
ad_job_distill_apply(ad_job_ctx_t *ctx, ad_job_spec_t *spec, const ad_job_key_t *key,
                     ad_job_node_t *node)
{
    char got[80];
    int rc;

    (void)key;
    free(spec->job.distill.teacher);
    free(spec->job.distill.checkpoint);
    memset(&spec->job.distill, 0, sizeof(spec->job.distill));
    spec->job.distill.temperature = AD_JOB_DISTILL_T_DEFAULT;
    spec->job.distill.alpha = AD_JOB_DISTILL_ALPHA_DEFAULT;
    spec->set &= ~AD_JOB_GROUP_DISTILL;
    if (ad_job_is_null(node))
        return 0;
    if (node->type != YAML_MAPPING_NODE)
        return ad_job_fail(ctx, node->start_mark,
                           "distill must be a mapping such as {teacher: RUN, temperature: 4, "
                           "alpha: 0.9}, got %s",
                           ad_job_got(node, got, sizeof(got)));
    rc = ad_job_apply_map(ctx, spec, node, "distill");
    if (rc)
        return rc;
    if (!(spec->set & AD_JOB_BIT(AD_JOB_K_DISTILL_TEACHER)))
        return ad_job_fail(
            ctx, node->start_mark,
            "distill needs teacher: a run id (autodist runs) or a checkpoint folder");
    return 0;
}

/* True for a run id: digits only, as the store numbers runs. */
static bool
s_is_run_id(const char *s)
{
    if (!*s || strlen(s) > 18)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

/*
 * distill.teacher: a run id, or a checkpoint folder ("~/" is the home folder, relative paths
 * start at ctx->dir; it must exist); distill.checkpoint: an absolute folder (what the
 * coordinator resolves a run id to), not checked here.
 */
int
ad_job_teacher_apply(ad_job_ctx_t *ctx, ad_job_spec_t *spec, const ad_job_key_t *key,
                     ad_job_node_t *node)
{
    bool teacher = ad_job_key_id(key) == AD_JOB_K_DISTILL_TEACHER;
    char joined[PATH_MAX + 1], real[PATH_MAX + 1], got[80];
    const char *s = NULL, *home = getenv("HOME");
    struct stat st;
    int rc, n;

    rc = ad_job_get_string(ctx, node, key->path,
                           teacher ? "a run id or a checkpoint folder" : "an absolute folder", &s);
    if (rc)
        return rc;
    if (teacher && s_is_run_id(s)) {
        free(spec->job.distill.teacher);
        spec->job.distill.teacher = ad_strdup(s);
        /* A checkpoint given beside it stays (JSON); an older one was another teacher's. */
        if (!(spec->set & AD_JOB_BIT(AD_JOB_K_DISTILL_CKPT))) {
            free(spec->job.distill.checkpoint);
            spec->job.distill.checkpoint = NULL;
        }
        return 0;
    }
    if (!strncmp(s, "~/", 2) && home && *home)
        n = snprintf(joined, sizeof(joined), "%s/%s", home, s + 2);
    else if (s[0] != '/' && ctx->dir && !(ctx->flags & AD_JOB_F_NOFS) && teacher)
        n = snprintf(joined, sizeof(joined), "%s/%s", ctx->dir, s);
    else
        n = snprintf(joined, sizeof(joined), "%s", s);
    if (n < 0 || (size_t)n >= sizeof(joined))
        return ad_job_fail(ctx, node->start_mark, "%s must be a folder, got a path too long (%s)",
                           key->path, ad_job_got(node, got, sizeof(got)));
    if ((ctx->flags & AD_JOB_F_NOFS) || !teacher) {
        if (joined[0] != '/')
            return ad_job_fail(ctx, node->start_mark, "%s must be %s, got %s", key->path,
                               teacher ? "a run id or an absolute folder in JSON"
                                       : "an absolute folder",
                               ad_job_got(node, got, sizeof(got)));
        snprintf(real, sizeof(real), "%s", joined);
    } else if (!realpath(joined, real) || stat(real, &st) || !S_ISDIR(st.st_mode)) {
        const char *why = errno ? strerror(errno) : "not a folder";

        return ad_job_fail(ctx, node->start_mark,
                           "distill.teacher must be a run id (autodist runs) or a checkpoint "
                           "folder, got %s (%s: %s)",
                           ad_job_got(node, got, sizeof(got)), joined,
                           realpath(joined, real) && !stat(real, &st) ? "not a folder" : why);
    }
    if (teacher) {
        free(spec->job.distill.teacher);
        spec->job.distill.teacher = ad_strdup(real);
        free(spec->job.distill.checkpoint);
        spec->job.distill.checkpoint = ad_strdup(real);
    } else {
        free(spec->job.distill.checkpoint);
        spec->job.distill.checkpoint = ad_strdup(real);
    }
    return 0;
}
