/* ad_job_node.c - located reading of job files: messages, nodes, key lookup and hints, scalars */
#include "ad_job_priv.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "autodist/ad_suggest.h"

/* ---------------------------------------------------------------------------------------- */
/* Messages.                                                                                */

static int
s_vfail(const ad_job_ctx_t *ctx, yaml_mark_t mark, const char *fmt, va_list ap)
{
    char what[400];

    vsnprintf(what, sizeof(what), fmt, ap);
    return ad_err_set(ctx->err, AD_EPARSE, "%s:%zu:%zu: %s%s", ctx->file, mark.line + 1,
                      mark.column + 1, ctx->prefix ? ctx->prefix : "", what);
}

/* Fail with AD_EPARSE and "FILE:LINE:COL: <prefix><message>". */
int
ad_job_fail(const ad_job_ctx_t *ctx, yaml_mark_t mark, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = s_vfail(ctx, mark, fmt, ap);
    va_end(ap);
    return rc;
}

bool
ad_job_is_null(const ad_job_node_t *node)
{
    /* Only plain "", "~", "null", "Null" and "NULL" are read as null. */
    return node->v && json_is_null(node->v);
}

ad_doc_value_t *
ad_job_value(const ad_job_node_t *node, ad_doc_value_t *val)
{
    val->v = node->v;
    val->text = node->type == YAML_SCALAR_NODE ? node->text : NULL;
    val->plain = node->plain;
    return val;
}

/* Where the value (or key) at path starts, as a 0-based libyaml mark. */
static yaml_mark_t
s_mark(const ad_job_ctx_t *ctx, const char *path, bool at_key)
{
    yaml_mark_t m = {0, 0, 0};
    size_t line, col;

    if (ad_doc_where(ctx->doc, path, at_key, &line, &col)) {
        m.line = line - 1;
        m.column = col - 1;
    }
    return m;
}

static void
s_node(const ad_job_ctx_t *ctx, const char *path, json_t *v, ad_job_node_t *node)
{
    const char *raw = ad_doc_raw(ctx->doc, path);

    snprintf(node->path, sizeof(node->path), "%s", path);
    node->v = v;
    node->type = json_is_object(v)  ? YAML_MAPPING_NODE
                 : json_is_array(v) ? YAML_SEQUENCE_NODE
                                    : YAML_SCALAR_NODE;
    node->plain = raw != NULL;
    node->text = raw ? raw : json_is_string(v) ? json_string_value(v) : "";
    node->start_mark = s_mark(ctx, path, false);
}

void
ad_job_root(const ad_job_ctx_t *ctx, ad_job_node_t *node)
{
    s_node(ctx, "", ad_doc_root(ctx->doc), node);
}

void
ad_job_child(const ad_job_ctx_t *ctx, const ad_job_node_t *map, const char *name, json_t *v,
             ad_job_node_t *node, ad_job_node_t *key)
{
    char path[AD_JOB_PATH_MAX];

    ad_doc_path(path, sizeof(path), map->path, name);
    s_node(ctx, path, v, node);
    if (!key)
        return;
    snprintf(key->path, sizeof(key->path), "%s", path);
    key->v = NULL;
    key->type = YAML_SCALAR_NODE;
    key->plain = ad_doc_key_plain(ctx->doc, path);
    key->text = name;
    key->start_mark = s_mark(ctx, path, true);
}

void
ad_job_item(const ad_job_ctx_t *ctx, const ad_job_node_t *list, size_t i, ad_job_node_t *item)
{
    char path[AD_JOB_PATH_MAX];

    if (snprintf(path, sizeof(path), "%s[%zu]", list->path, i) >= (int)sizeof(path))
        path[sizeof(path) - 1] = '\0';
    s_node(ctx, path, json_array_get(list->v, i), item);
}

/* What a node is, for the "got ..." end of messages: "-4", a list, the string "5"...; in buf. */
const char *
ad_job_got(const ad_job_node_t *node, char *buf, size_t len)
{
    ad_doc_value_t val;

    return ad_doc_describe_value(ad_job_value(node, &val), buf, len);
}

/* The part of a key's path after prefix, when it is a direct child of prefix ("" = top). */
const char *
ad_job_key_child_name(const ad_job_key_t *key, const char *prefix)
{
    size_t n = strlen(prefix);
    const char *rest;

    if (!n)
        return strchr(key->path, '.') ? NULL : key->path;
    if (strncmp(key->path, prefix, n) || key->path[n] != '.')
        return NULL;
    rest = key->path + n + 1;
    return strchr(rest, '.') ? NULL : rest;
}

const ad_job_key_t *
ad_job_key_child(const char *prefix, const char *name)
{
    for (int id = 0; id < AD_JOB_K_COUNT; id++) {
        const char *child = ad_job_key_child_name(&ad_job_keys[id], prefix);

        if (child && !strcmp(child, name))
            return &ad_job_keys[id];
    }
    return NULL;
}

const ad_job_key_t *
ad_job_key_path(const char *path)
{
    for (int id = 0; id < AD_JOB_K_COUNT; id++)
        if (!strcmp(ad_job_keys[id].path, path))
            return &ad_job_keys[id];
    return NULL;
}

int
ad_job_key_id(const ad_job_key_t *key)
{
    return (int)(key - ad_job_keys);
}

/* Words people use for a job key (other frameworks' names, short forms), and the key's path. */
static const char *const s_aliases[][2] = {
    {"learning_rate", "optimizer.lr"},
    {"learning-rate", "optimizer.lr"},
    {"lr", "optimizer.lr"},
    {"rate", "optimizer.lr"},
    {"wd", "optimizer.weight_decay"},
    {"optim", "optimizer"},
    {"opt", "optimizer"},
    {"procs", "layout.procs_per_node"},
    {"processes", "layout.procs_per_node"},
    {"ppn", "layout.procs_per_node"},
    {"ranks", "layout.procs_per_node"},
    {"ntasks_per_node", "layout.procs_per_node"},
    {"threads", "layout.threads_per_proc"},
    {"tpp", "layout.threads_per_proc"},
    {"num_threads", "layout.threads_per_proc"},
    {"cpus_per_task", "layout.threads_per_proc"},
    {"num_nodes", "layout.nodes"},
    {"hosts", "layout.nodes"},
    {"batch", "batch_size"},
    {"bs", "batch_size"},
    {"batchsize", "batch_size"},
    {"epoch", "epochs"},
    {"max_steps", "steps"},
    {"iterations", "steps"},
    {"data", "dataset"},
    {"network", "model"},
    {"arch", "model"},
    {"random_seed", "seed"},
    {"gpu", "device"},
    {"checkpoint", "checkpoint_every"},
    {"walltime", "time_limit"},
    {"timeout", "time_limit"},
    {"distillation", "distill"},
    {"kd", "distill"},
    {"teacher", "distill.teacher"},
    {"temperature", "distill.temperature"},
    {"temp", "distill.temperature"},
    {"fine_tune", "finetune"},
    {"init_from", "finetune"},
};

/* The parent of a key's path ("optimizer" for "optimizer.lr", "" at the top) into buf. */
static const char *
s_parent(const char *path, char *buf, size_t size)
{
    const char *dot = strrchr(path, '.');

    snprintf(buf, size, "%.*s", dot ? (int)(dot - path) : 0, path);
    return buf;
}

/*
 * The key a misspelt or foreign name under prefix most likely means: a word
 * of s_aliases, a key of that name elsewhere ("momentum" at the top), a key
 * under prefix it starts ("procs" in layout).  NULL when none.
 */
static const char *
s_key_guess(const char *prefix, const char *name)
{
    size_t len = strlen(name);

    for (size_t i = 0; i < sizeof(s_aliases) / sizeof(s_aliases[0]); i++)
        if (!strcmp(name, s_aliases[i][0]) && ad_job_key_path(s_aliases[i][1]))
            return s_aliases[i][1];
    if (ad_job_key_path(name))
        return name;
    for (int id = 0; id < AD_JOB_K_COUNT; id++) {
        const char *path = ad_job_keys[id].path, *leaf = strrchr(path, '.');

        if (leaf && !strcmp(leaf + 1, name))
            return path;
    }
    for (int id = 0; len >= 3 && id < AD_JOB_K_COUNT; id++) {
        const char *child = ad_job_key_child_name(&ad_job_keys[id], prefix);

        if (child && !strncmp(child, name, len))
            return ad_job_keys[id].path;
    }
    return NULL;
}

const char *
ad_job_key_hint(const char *prefix, const char *name, bool grid, char *buf, size_t size)
{
    const char *path = s_key_guess(prefix, name), *leaf;
    char parent[64];

    if (!path)
        return NULL;
    leaf = strrchr(path, '.') ? strrchr(path, '.') + 1 : path;
    s_parent(path, parent, sizeof(parent));
    if (grid)
        snprintf(buf, size, " (did you mean %s?)", path);
    else if (!strcmp(parent, prefix))
        snprintf(buf, size, " (did you mean %s?)", leaf);
    else if (!*parent)
        snprintf(buf, size, " (did you mean %s? it goes at the top of the job, not in %s)", path,
                 prefix);
    else
        snprintf(buf, size, " (did you mean %s? write it as %s: {%s: ...})", path, parent, leaf);
    return buf;
}

/* Error for an unknown key: the accepted keys, and the closest one when it is close. */
int
ad_job_unknown_key(const ad_job_ctx_t *ctx, const ad_job_node_t *knode, const char *prefix,
                   bool grid)
{
    const char *name = knode->text;
    char list[300] = "", got[80], msg[600], mean[200];
    const char *children[AD_JOB_K_COUNT], *best;
    size_t n = 0, nc = 0;

    for (int id = 0; id < AD_JOB_K_COUNT; id++) {
        const char *child =
            grid ? ad_job_keys[id].path : ad_job_key_child_name(&ad_job_keys[id], prefix);

        if (!child || (grid && id == AD_JOB_K_NAME))
            continue;
        children[nc++] = child;
        if (!grid && n + strlen(child) + 3 < sizeof(list))
            n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "", child);
    }
    ad_job_got(knode, got, sizeof(got));
    if (!grid) {
        const char *hint = strchr(name, '.') && ad_job_key_path(name)
                               ? " (dotted keys are for sweep grids; nest it instead)"
                               : NULL;

        /* A close spelling first ("modle"), then what the word usually means ("procs"). */
        if (!hint && !ad_suggest(name, children, nc, 3, false))
            hint = ad_job_key_hint(prefix, name, false, mean, sizeof(mean));
        ad_doc_unknown_key(msg, sizeof(msg), got, prefix, hint, name, children, nc, list);
        return ad_job_fail(ctx, knode->start_mark, "%s", msg);
    }
    best = ad_suggest(name, children, nc, 3, false);
    if (!best && ad_job_key_hint("", name, true, mean, sizeof(mean)))
        return ad_job_fail(ctx, knode->start_mark,
                           "unknown grid key %s%s, expected a job key such as batch_size, seed, "
                           "optimizer.lr, layout.nodes or dataset.synthetic.samples",
                           got, mean);
    return ad_job_fail(ctx, knode->start_mark,
                       "unknown grid key %s%s%s%s, expected a job key such as batch_size, seed, "
                       "optimizer.lr, layout.nodes or dataset.synthetic.samples",
                       got, best ? " (did you mean " : "", best ? best : "", best ? "?)" : "");
}

/* ---------------------------------------------------------------------------------------- */
/* Scalars.                                                                                 */

const char *
ad_job_text(const ad_job_node_t *node)
{
    return node->text;
}

/* Check node against want (a job file's: text counts); fail "<what> must be ..., got ...". */
int
ad_job_get(ad_job_ctx_t *ctx, const ad_job_node_t *node, const char *what, ad_doc_want_t *want,
           void *out)
{
    ad_doc_value_t val;
    char msg[400];

    want->text = true;
    if (!ad_doc_check(ad_job_value(node, &val), want, out, msg, sizeof(msg)))
        return 0;
    return ad_job_fail(ctx, node->start_mark, "%s %s", what, msg);
}

int
ad_job_get_int(ad_job_ctx_t *ctx, ad_job_node_t *node, const char *what, int64_t min, int64_t max,
               int64_t *out)
{
    ad_doc_want_t want = {.kind = AD_DOC_INT, .min = min, .max = max};

    return ad_job_get(ctx, node, what, &want, out);
}

int
ad_job_get_real(ad_job_ctx_t *ctx, ad_job_node_t *node, const char *what, double min, double max,
                double *out)
{
    ad_doc_want_t want = {.kind = AD_DOC_REAL, .rmin = min, .rmax = max};

    return ad_job_get(ctx, node, what, &want, out);
}

/* A non-empty string of any scalar style. */
int
ad_job_get_string(ad_job_ctx_t *ctx, ad_job_node_t *node, const char *what, const char *expected,
                  const char **out)
{
    ad_doc_want_t want = {.kind = AD_DOC_STR, .min = 1, .what = expected};

    return ad_job_get(ctx, node, what, &want, out);
}

int
ad_job_get_enum(ad_job_ctx_t *ctx, ad_job_node_t *node, const char *what, const char *const *names,
                int *out)
{
    ad_doc_want_t want = {.kind = AD_DOC_ENUM, .names = names};

    return ad_job_get(ctx, node, what, &want, out);
}

/* Names: [A-Za-z0-9._-], first character alphanumeric, 1..max characters. */
bool
ad_job_name_ok(const char *s, size_t max)
{
    size_t n = strlen(s);

    if (!n || n > max ||
        !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
          (s[0] >= '0' && s[0] <= '9')))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

int
ad_job_check_keys(const ad_job_ctx_t *ctx, const ad_job_node_t *map, const char *what,
                  const char *nonscalar_fmt, const ad_job_node_t *before)
{
    ad_doc_key_problem_t pr = {0};
    yaml_mark_t at = {0, 0, 0};
    char msg[300];

    if (!ad_doc_key_problem(ctx->doc, map->path, &pr))
        return 0;
    at.line = pr.line - 1;
    at.column = pr.col - 1;
    /* Reported where the key is, as a walk of the mapping in order would meet it. */
    if (before && (at.line > before->start_mark.line ||
                   (at.line == before->start_mark.line && at.column > before->start_mark.column)))
        return 0;
    if (pr.key)
        return ad_job_fail(ctx, at, "duplicate %s%s (first given at line %zu)", what, pr.key,
                           pr.first_line);
        /* nonscalar_fmt comes from our callers and holds exactly one %s. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(msg, sizeof(msg), nonscalar_fmt, pr.got);
#pragma GCC diagnostic pop
    return ad_job_fail(ctx, at, "%s", msg);
}
