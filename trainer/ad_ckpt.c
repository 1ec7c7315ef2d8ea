/* ad_ckpt.c - a checkpoint folder: step-numbered model files, state.json, retention, fallback */
#include "autodist/ad_ckpt.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "autodist/ad_log.h"

bool
ad_ckpt_is_full(int code)
{
    return code == -ENOSPC || code == -EDQUOT;
}

char *
ad_ckpt_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = ad_malloc(n);

    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

int
ad_ckpt_mkdirs(const char *dir, ad_err_t *err)
{
    char *p = ad_strdup(dir);
    int rc = 0;

    for (char *c = p + 1; !rc; c++) {
        if (*c != '/' && *c != '\0')
            continue;
        char end = *c;

        *c = '\0';
        if (mkdir(p, 0755) && errno != EEXIST)
            rc = ad_err_set(err, -errno, "%s: cannot create checkpoint folder: %s", p,
                            strerror(errno));
        *c = end;
        if (!end)
            break;
    }
    if (!rc && access(dir, W_OK | X_OK))
        rc = ad_err_set(err, -errno, "%s: checkpoint folder is not writable: %s", dir,
                        strerror(errno));
    free(p);
    return rc;
}

char *
ad_ckpt_model_path(const char *dir, int64_t step)
{
    char name[48];

    snprintf(name, sizeof(name), "model-%" PRId64 ".pt", step);
    return ad_ckpt_path(dir, name);
}

/* The step of a "model-<digits>.pt" name, or -1 for any other name. */
static int64_t
s_step_of(const char *name)
{
    const char *p = name + 6;
    int64_t step = 0;

    if (strncmp(name, "model-", 6) != 0 || !isdigit((unsigned char)*p))
        return -1;
    for (; isdigit((unsigned char)*p); p++) {
        if (step > (INT64_MAX - 9) / 10)
            return -1;
        step = step * 10 + (*p - '0');
    }
    return strcmp(p, ".pt") == 0 ? step : -1;
}

/* "no space left on device": strerror without its capital, as the rest of a message reads. */
static void
s_cause(int e, char *buf, size_t len)
{
    snprintf(buf, len, "%s", strerror(e));
    buf[0] = (char)tolower((unsigned char)buf[0]);
}

/* fsync a folder so the renames into it survive a crash (best effort). */
static void
s_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* Write len bytes to fd; returns 0 or an errno, with the bytes written in *done. */
static int
s_write_all(int fd, const char *p, size_t len, size_t *done)
{
    *done = 0;
    while (*done < len) {
        ssize_t w = write(fd, p + *done, len - *done);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? errno : EIO;
        *done += (size_t)w;
    }
    return 0;
}

int
ad_ckpt_write_state(const char *dir, const json_t *state, ad_err_t *err)
{
    char *path = ad_ckpt_path(dir, AD_CKPT_STATE), *tmp = ad_ckpt_path(dir, AD_CKPT_STATE ".tmp");
    char *text = json_dumps(state, JSON_INDENT(2) | JSON_PRESERVE_ORDER), cause[128];
    size_t len, done = 0;
    int fd, e = 0, rc = 0;

    if (!text)
        ad_oom(0);
    len = strlen(text);
    text[len++] = '\n'; /* json_dumps' terminator becomes the last line's end */
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        e = errno;
        goto out_report;
    }
    e = s_write_all(fd, text, len, &done);
    if (!e && fsync(fd) != 0)
        e = errno;
    if (close(fd) != 0 && !e)
        e = errno;
    if (!e && rename(tmp, path) != 0)
        e = errno;
out_report:
    if (e) {
        s_cause(e, cause, sizeof(cause));
        rc = ad_err_set(err, e == ENOSPC || e == EDQUOT ? -e : AD_EIO,
                        "%s: cannot write checkpoint state: %s (wrote %zu of %zu bytes)", path,
                        cause, done, len);
        unlink(tmp);
    } else {
        s_sync_dir(dir);
    }
    free(text);
    free(path);
    free(tmp);
    return rc;
}

static int
s_cmp_desc(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? 1 : x > y ? -1 : 0;
}

int
ad_ckpt_list(const char *dir, int64_t **steps, size_t *n, ad_err_t *err)
{
    DIR *d = opendir(dir);
    struct dirent *ent;
    size_t cap = 0;

    *steps = NULL;
    *n = 0;
    if (!d)
        return ad_err_set(err, -errno, "%s: cannot read checkpoint folder: %s", dir,
                          strerror(errno));
    while ((ent = readdir(d))) {
        int64_t step = s_step_of(ent->d_name);

        if (step < 0)
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            *steps = ad_realloc(*steps, cap * sizeof(**steps));
        }
        (*steps)[(*n)++] = step;
    }
    closedir(d);
    if (*n)
        qsort(*steps, *n, sizeof(**steps), s_cmp_desc);
    return 0;
}

/* Delete what a killed save left: model-<step>.pt.tmp, model.pt.tmp, state.json.tmp. */
static void
s_remove_temporaries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *ent;

    if (!d)
        return;
    while ((ent = readdir(d))) {
        size_t len = strlen(ent->d_name);
        char *p;

        if (len < 4 || strcmp(ent->d_name + len - 4, ".tmp") != 0 ||
            (strncmp(ent->d_name, "model", 5) != 0 && strcmp(ent->d_name, "state.json.tmp")))
            continue;
        p = ad_ckpt_path(dir, ent->d_name);
        if (unlink(p) == 0)
            ad_log(AD_LOG_INFO, "removed %s, left by an interrupted save", p);
        free(p);
    }
    closedir(d);
}

int
ad_ckpt_prune(const char *dir, int64_t step, int keep)
{
    int64_t *steps;
    size_t n;
    int kept = 0, removed = 0;

    s_remove_temporaries(dir);
    if (ad_ckpt_list(dir, &steps, &n, NULL))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char *p;

        if (steps[i] <= step && (keep == 0 || kept < keep)) {
            kept++;
            continue;
        }
        p = ad_ckpt_model_path(dir, steps[i]);
        if (unlink(p) == 0)
            removed++;
        else if (errno != ENOENT)
            ad_log(AD_LOG_WARN, "%s: cannot delete an old checkpoint: %s", p, strerror(errno));
        free(p);
    }
    free(steps);
    return removed;
}

/* Make src the final model.pt: a hard link renamed into place (a rename where links fail). */
static int
s_promote(const char *dir, const char *src, ad_err_t *err)
{
    char *final = ad_ckpt_path(dir, AD_CKPT_FINAL), *tmp = ad_ckpt_path(dir, AD_CKPT_FINAL ".tmp");
    int rc = 0;

    unlink(tmp);
    if (link(src, tmp) == 0) {
        if (rename(tmp, final) != 0) {
            rc =
                ad_err_set(err, AD_EIO, "%s: cannot rename into place: %s", final, strerror(errno));
            unlink(tmp);
        }
    } else if (rename(src, final) != 0) {
        rc = ad_err_set(err, AD_EIO, "%s: cannot make it the final model %s: %s", src, final,
                        strerror(errno));
    }
    free(final);
    free(tmp);
    return rc;
}

/* Whether DIR/state.json names model.pt at step: a finished run, resumed and ended again. */
static bool
s_names_final(const char *dir, int64_t step)
{
    char *path = ad_ckpt_path(dir, AD_CKPT_STATE);
    json_t *js = json_load_file(path, 0, NULL);
    const char *file = json_string_value(json_object_get(js, "file"));
    /* No "file": the old layout, whose model is model.pt. */
    bool yes = js && (!file || !strcmp(file, AD_CKPT_FINAL)) &&
               json_integer_value(json_object_get(js, "step")) == step;

    json_decref(js);
    free(path);
    return yes;
}

int
ad_ckpt_finish(const char *dir, int64_t step, json_t *state, bool keep_all, ad_err_t *err)
{
    char *src = ad_ckpt_model_path(dir, step), *final = ad_ckpt_path(dir, AD_CKPT_FINAL);
    int rc = 0;

    if (access(src, F_OK) == 0) {
        rc = s_promote(dir, src, err);
        if (!rc) {
            json_object_set_new(state, "file", json_string(AD_CKPT_FINAL));
            rc = ad_ckpt_write_state(dir, state, err);
        }
    } else if (!s_names_final(dir, step) || access(final, F_OK) != 0) {
        rc = ad_err_set(err, AD_ECKPT, "%s: no checkpoint of step %" PRId64 " to keep as %s", dir,
                        step, final);
    }
    if (!rc && !keep_all)
        ad_ckpt_prune(dir, -1, 1);
    free(src);
    free(final);
    return rc;
}

int
ad_ckpt_candidates(const char *dir, const json_t *state, ad_ckpt_cand_t **cands, size_t *n,
                   ad_err_t *err)
{
    const json_t *js = json_object_get(state, "step");
    const char *file = json_string_value(json_object_get(state, "file"));
    int64_t step, *steps;
    size_t count;

    *cands = NULL;
    *n = 0;
    if (!json_is_integer(js) || json_integer_value(js) < 0)
        return ad_err_set(err, AD_ECKPT, "%s/%s: step must be a non-negative integer", dir,
                          AD_CKPT_STATE);
    step = json_integer_value(js);
    if (file && (strchr(file, '/') || (strcmp(file, AD_CKPT_FINAL) && s_step_of(file) < 0)))
        return ad_err_set(err, AD_ECKPT,
                          "%s/%s: \"file\" must be model.pt or model-<step>.pt, "
                          "got \"%s\"",
                          dir, AD_CKPT_STATE, file);
    if (ad_ckpt_list(dir, &steps, &count, NULL))
        count = 0;
    *cands = ad_calloc(count + 1, sizeof(**cands));
    (*cands)[0].path = ad_ckpt_path(dir, file ? file : AD_CKPT_FINAL);
    (*cands)[0].step = step;
    *n = 1;
    for (size_t i = 0; i < count; i++) {
        if (steps[i] >= step)
            continue;
        (*cands)[*n].path = ad_ckpt_model_path(dir, steps[i]);
        (*cands)[*n].step = steps[i];
        (*n)++;
    }
    free(steps);
    return 0;
}

void
ad_ckpt_cands_free(ad_ckpt_cand_t *cands, size_t n)
{
    for (size_t i = 0; cands && i < n; i++)
        free(cands[i].path);
    free(cands);
}
