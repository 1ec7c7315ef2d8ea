/* ad_job_resv.c - a job file's reservation: section: reading, checks, JSON, copies */
#include "ad_job_priv.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autodist/ad_opt.h"

/* The keys of reservation:, in the order messages list them. */
static const char *const s_keys[] = {"backend", "nodes",   "walltime", "properties",
                                     "queue",   "types",   "project",  "name",
                                     "start_at", "job",    "keep",     NULL};
static const char s_expected[] = "backend, nodes, walltime, properties, queue, types, project, "
                                 "name, start_at, job, keep";

#define S_PROPS_MAX 1000 /* a property filter's length */
#define S_WORD_MAX 128   /* a queue's, project's, type's or batch job's name length */

static bool
s_known(const char *name)
{
    for (const char *const *k = s_keys; *k; k++)
        if (!strcmp(*k, name))
            return true;
    return false;
}

/* A queue, project or job type: letters, digits and ._-=:, (OAR's `container=123`, `inner=4`). */
static bool
s_word_ok(const char *s)
{
    size_t n = strlen(s);

    if (!n || n > S_WORD_MAX)
        return false;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("._-=:,", *p))
            return false;
    return true;
}

/* Printable text without control characters (it goes to the batch system as one argument). */
static bool
s_text_ok(const char *s, size_t max)
{
    size_t n = strlen(s);

    if (!n || n > max)
        return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

/*
 * A walltime: a duration (90s, 30m, 2h, 1h30m, seconds) or the batch systems'
 * H:MM:SS / H:MM.  Returns true with *out in seconds.
 */
static bool
s_walltime(const char *text, int64_t *out)
{
    long long h, m, s = 0;
    int used = 0;

    if (ad_opt_parse_duration(text, out))
        return true;
    if (sscanf(text, "%lld:%lld:%lld%n", &h, &m, &s, &used) == 3 && !text[used])
        goto hms;
    used = 0;
    s = 0;
    if (sscanf(text, "%lld:%lld%n", &h, &m, &used) == 2 && !text[used])
        goto hms;
    return false;
hms:
    if (!isdigit((unsigned char)text[0]) || h < 0 || h > AD_JOB_TIME_LIMIT_MAX / 3600 || m < 0 ||
        m > 59 || s < 0 || s > 59)
        return false;
    *out = h * 3600 + m * 60 + s;
    return true;
}

/* "YYYY-MM-DD HH:MM[:SS]", as oarsub -r takes it. */
static bool
s_date_ok(const char *text)
{
    int y, mo, d, h, mi, sec = 0, used = 0;

    if (sscanf(text, "%4d-%2d-%2d %2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &used) != 6 ||
        text[used]) {
        used = 0;
        sec = 0;
        if (sscanf(text, "%4d-%2d-%2d %2d:%2d%n", &y, &mo, &d, &h, &mi, &used) != 5 || text[used])
            return false;
    }
    return y >= 1970 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h >= 0 && h <= 23 &&
           mi >= 0 && mi <= 59 && sec >= 0 && sec <= 59;
}

/* A string value (a number written plain is read as its text: `job: 1234`). */
static int
s_string(ad_job_ctx_t *ctx, ad_job_node_t *node, const char *what, const char *want,
         const char **out)
{
    char got[80];

    if (node->type == YAML_SCALAR_NODE && !ad_job_is_null(node) && *ad_job_text(node)) {
        *out = ad_job_text(node);
        return 0;
    }
    return ad_job_fail(ctx, node->start_mark, "reservation.%s must be %s, got %s", what, want,
                       ad_job_got(node, got, sizeof(got)));
}

/* reservation.types: a word or a list of words. */
static int
s_types(ad_job_ctx_t *ctx, ad_job_node_t *node, ad_job_resv_t *r)
{
    static const char want[] = "a job type or a list of them (deploy, besteffort, ...)";
    size_t n = node->type == YAML_SEQUENCE_NODE ? json_array_size(node->v) : 1;
    char got[80];

    if (node->type == YAML_MAPPING_NODE || n > 64)
        return ad_job_fail(ctx, node->start_mark, "reservation.types must be %s, got %s", want,
                           ad_job_got(node, got, sizeof(got)));
    r->types = ad_calloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        ad_job_node_t item;
        const char *t;

        if (node->type == YAML_SEQUENCE_NODE)
            ad_job_item(ctx, node, i, &item);
        else
            item = *node;
        if (s_string(ctx, &item, "types", want, &t))
            return AD_EPARSE;
        if (!s_word_ok(t))
            return ad_job_fail(ctx, item.start_mark,
                               "reservation.types: \"%s\" is not a job type (letters, digits and "
                               "._-=:, only)",
                               t);
        r->types[i] = ad_strdup(t);
    }
    return 0;
}

/* One key of reservation:. */
static int
s_key(ad_job_ctx_t *ctx, ad_job_node_t *k, ad_job_node_t *v, ad_job_resv_t *r)
{
    const char *name = k->text, *t = NULL;
    int64_t n;
    int rc;

    if (!strcmp(name, "nodes")) {
        if ((rc = ad_job_get_int(ctx, v, "reservation.nodes", 1, AD_JOB_RESV_NODES_MAX, &n)))
            return rc;
        r->nodes = (int)n;
        return 0;
    }
    if (!strcmp(name, "keep")) {
        ad_doc_value_t val;
        ad_doc_want_t want = {.kind = AD_DOC_BOOL, .text = true};
        char msg[300];

        if (!ad_doc_check(ad_job_value(v, &val), &want, &r->keep, msg, sizeof(msg)))
            return 0;
        return ad_job_fail(ctx, v->start_mark, "reservation.keep %s", msg);
    }
    if (!strcmp(name, "types"))
        return s_types(ctx, v, r);
    if (!strcmp(name, "walltime")) {
        if (s_string(ctx, v, name, "a duration", &t) == 0 && s_walltime(t, &r->walltime_s) &&
            r->walltime_s >= 1 && r->walltime_s <= AD_JOB_TIME_LIMIT_MAX)
            return 0;
        ad_err_clear(ctx->err);
        return ad_job_fail(ctx, v->start_mark,
                           "reservation.walltime must be H:MM:SS or a duration such as 30m, 2h "
                           "or 1h30m, from 1 second to 365 days, got %s",
                           ad_job_got(v, (char[80]){0}, 80));
    }
    if ((rc = s_string(ctx, v, name, "a string", &t)))
        return rc;
    if (!strcmp(name, "backend")) {
        if (strcmp(t, "oar"))
            return ad_job_fail(ctx, v->start_mark,
                               "reservation.backend must be oar (Slurm is not supported yet), "
                               "got \"%s\"",
                               t);
        free(r->backend);
        r->backend = ad_strdup(t);
    } else if (!strcmp(name, "properties")) {
        if (!s_text_ok(t, S_PROPS_MAX))
            return ad_job_fail(ctx, v->start_mark,
                               "reservation.properties must be a filter such as \"cluster='gros'\" "
                               "of at most %d characters, without control characters",
                               S_PROPS_MAX);
        r->properties = ad_strdup(t);
    } else if (!strcmp(name, "queue") || !strcmp(name, "project")) {
        if (!s_word_ok(t))
            return ad_job_fail(ctx, v->start_mark,
                               "reservation.%s: \"%s\" is not a %s name (letters, digits and "
                               "._-=:, only)",
                               name, t, name);
        *(!strcmp(name, "queue") ? &r->queue : &r->project) = ad_strdup(t);
    } else if (!strcmp(name, "name") || !strcmp(name, "job")) {
        bool id = !strcmp(name, "job");

        if (!ad_job_name_ok(t, S_WORD_MAX))
            return ad_job_fail(ctx, v->start_mark,
                               "reservation.%s must be %s (letters, digits, '.', '_' and '-'), "
                               "got \"%s\"",
                               name, id ? "a batch job's id or name" : "a name", t);
        *(id ? &r->job : &r->name) = ad_strdup(t);
    } else {
        if (!s_date_ok(t))
            return ad_job_fail(ctx, v->start_mark,
                               "reservation.start_at must be a date \"YYYY-MM-DD HH:MM:SS\", "
                               "got \"%s\"",
                               t);
        r->start_at = ad_strdup(t);
    }
    return 0;
}

/* Rules across the keys of reservation:. */
static int
s_check(ad_job_ctx_t *ctx, ad_job_node_t *node, const ad_job_resv_t *r)
{
    if (r->job) {
        if (r->nodes || r->walltime_s || r->properties || r->queue || r->types || r->project ||
            r->start_at || r->name)
            return ad_job_fail(ctx, node->start_mark,
                               "reservation.job attaches to an existing batch job (%s): "
                               "nodes, walltime, properties, queue, types, project, name and "
                               "start_at would not be used; give job or a new request, not both",
                               r->job);
        return 0;
    }
    if (!r->nodes || !r->walltime_s)
        return ad_job_fail(ctx, node->start_mark,
                           "reservation needs %s (e.g. {nodes: 2, walltime: 1:00:00}), or job: "
                           "ID to use an existing batch job",
                           !r->nodes && !r->walltime_s ? "nodes and walltime"
                           : !r->nodes                 ? "nodes"
                                                       : "walltime");
    return 0;
}

int
ad_job_resv_apply(ad_job_ctx_t *ctx, ad_job_spec_t *spec, const ad_job_key_t *key,
                  ad_job_node_t *node)
{
    ad_job_resv_t *r = &spec->job.reservation;
    const char *name;
    json_t *jv;
    char got[80];
    int rc;

    (void)key;
    ad_job_resv_clear(r);
    if (ad_job_is_null(node))
        return 0;
    if (node->type != YAML_MAPPING_NODE)
        return ad_job_fail(ctx, node->start_mark,
                           "reservation must be a mapping such as {nodes: 2, walltime: 1:00:00, "
                           "properties: \"cluster='gros'\"}, got %s",
                           ad_job_got(node, got, sizeof(got)));
    r->set = true;
    r->backend = ad_strdup("oar");
    json_object_foreach(node->v, name, jv)
    {
        ad_job_node_t k, v;

        ad_job_child(ctx, node, name, jv, &v, &k);
        rc = ad_job_check_keys(ctx, node, "key reservation.", "keys must be names, got %s", &k);
        if (rc)
            return rc;
        if (!s_known(name)) {
            char msg[600];

            ad_doc_unknown_key(msg, sizeof(msg), ad_job_got(&k, got, sizeof(got)), "reservation",
                               NULL, name, s_keys, sizeof(s_keys) / sizeof(*s_keys) - 1,
                               s_expected);
            return ad_job_fail(ctx, k.start_mark, "%s", msg);
        }
        if ((rc = s_key(ctx, &k, &v, r)))
            return rc;
    }
    rc = ad_job_check_keys(ctx, node, "key reservation.", "keys must be names, got %s", NULL);
    return rc ? rc : s_check(ctx, node, r);
}

const char *
ad_job_resv_pool(const ad_job_t *job, char *buf, size_t cap)
{
    const ad_job_resv_t *r = &job->reservation;

    if (!r->set)
        return NULL;
    if (r->name || r->job)
        snprintf(buf, cap, "%s:%s", r->backend ? r->backend : "oar", r->name ? r->name : r->job);
    else
        snprintf(buf, cap, "%s:autodist-%s", r->backend ? r->backend : "oar",
                 job->name ? job->name : "job");
    return buf;
}

json_t *
ad_job_resv_json(const ad_job_resv_t *r)
{
    json_t *o = json_object();

#define S_STR(k, v)                                                                                \
    if (v)                                                                                         \
    json_object_set_new(o, k, json_string(v))
    S_STR("backend", r->backend ? r->backend : "oar");
    if (r->nodes)
        json_object_set_new(o, "nodes", json_integer(r->nodes));
    if (r->walltime_s) {
        char w[32];

        snprintf(w, sizeof(w), "%lld:%02d:%02d", (long long)(r->walltime_s / 3600),
                 (int)(r->walltime_s / 60 % 60), (int)(r->walltime_s % 60));
        json_object_set_new(o, "walltime", json_string(w));
    }
    S_STR("properties", r->properties);
    S_STR("queue", r->queue);
    if (r->types) {
        json_t *a = json_array();

        for (char **t = r->types; *t; t++)
            json_array_append_new(a, json_string(*t));
        json_object_set_new(o, "types", a);
    }
    S_STR("project", r->project);
    S_STR("name", r->name);
    S_STR("start_at", r->start_at);
    S_STR("job", r->job);
#undef S_STR
    if (r->keep)
        json_object_set_new(o, "keep", json_true());
    return o;
}

void
ad_job_resv_clear(ad_job_resv_t *r)
{
    free(r->backend);
    free(r->properties);
    free(r->queue);
    if (r->types)
        for (char **t = r->types; *t; t++)
            free(*t);
    free(r->types);
    free(r->project);
    free(r->name);
    free(r->start_at);
    free(r->job);
    memset(r, 0, sizeof(*r));
}

static char *
s_dup(const char *s)
{
    return s ? ad_strdup(s) : NULL;
}

void
ad_job_resv_copy(ad_job_resv_t *dst, const ad_job_resv_t *src)
{
    *dst = *src;
    dst->backend = s_dup(src->backend);
    dst->properties = s_dup(src->properties);
    dst->queue = s_dup(src->queue);
    dst->project = s_dup(src->project);
    dst->name = s_dup(src->name);
    dst->start_at = s_dup(src->start_at);
    dst->job = s_dup(src->job);
    if (src->types) {
        size_t n = 0;

        while (src->types[n])
            n++;
        dst->types = ad_calloc(n + 1, sizeof(char *));
        for (size_t i = 0; i < n; i++)
            dst->types[i] = ad_strdup(src->types[i]);
    }
}
