/* ad_oar_describe.c - the OAR backend: a job as the run record keeps it, and how many hosts
 * match a request (oarstat -f, oarnodes) */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ad_oar_int.h"

/* `oarnodes [--sql WHERE] -J`: 0 with *out (an object resource id -> properties). */
static int
s_oarnodes(const char *where, json_t **out, ad_err_t *err)
{
    char sql[2100];
    char *argv[] = {"oarnodes", "-J", NULL, NULL};
    if (where) {
        snprintf(sql, sizeof sql, "--sql=%s", where); /* one word: OAR's own form */
        argv[2] = sql;
    }
    ad_resv_cmd_t res = {0};
    *out = NULL;
    int rc = ad_oar_run(argv, &res, err);
    if (rc < 0)
        return rc;
    const char *p = res.out;
    while (isspace((unsigned char)*p))
        p++;
    *out = *p ? json_loads(p, 0, NULL) : json_object();
    if (!*out || !json_is_object(*out)) {
        char why[256];
        ad_oar_reason(res.err, why, sizeof why);
        json_decref(*out);
        *out = NULL;
        rc = ad_err_set(err, AD_EPARSE, "oarnodes -J %s: %s", where ? sql : "",
                        *why ? why : "not JSON (is libjson-perl installed?)");
    }
    ad_resv_cmd_free(&res);
    return rc;
}

/* The distinct `cluster` values of the job's resources, "a,b"; NULL when they have none. */
static json_t *
s_cluster(const json_t *job)
{
    const json_t *ids = json_object_get(job, "assigned_resources");
    if (json_array_size(ids) == 0)
        return json_null();
    char where[2048] = "resource_id IN (";
    size_t i;
    const json_t *r;
    json_array_foreach(ids, i, r)
    {
        size_t n = strlen(where);
        if (n + 24 >= sizeof where)
            break;
        snprintf(where + n, sizeof where - n, "%s%lld", i ? "," : "",
                 (long long)json_integer_value(r));
    }
    strcat(where, ")");
    json_t *res = NULL;
    ad_err_t err = {0};
    if (s_oarnodes(where, &res, &err) < 0)
        return json_null();
    ad_resv_vec_t v = {0};
    const char *key;
    json_t *props;
    json_object_foreach(res, key, props)
    {
        const char *c = json_string_value(json_object_get(props, "cluster"));
        if (c && *c && !ad_resv_vec_has(&v, c))
            ad_resv_vec_add(&v, c);
    }
    json_decref(res);
    if (v.n == 0)
        return json_null();
    qsort(v.v, (size_t)v.n, sizeof *v.v, ad_resv_natural_cmp);
    char text[512] = "";
    for (int k = 0; k < v.n; k++) {
        size_t n = strlen(text);
        snprintf(text + n, sizeof text - n, "%s%s", k ? "," : "", v.v[k]);
    }
    char **all = ad_resv_vec_take(&v);
    ad_resv_argv_free(&all);
    return json_string(text);
}

static json_t *
s_copy(const json_t *job, const char *key)
{
    json_t *v = json_object_get(job, key);
    return v ? json_deep_copy(v) : json_null();
}

json_t *
ad_oar_describe(ad_resv_t *self, ad_err_t *err)
{
    json_t *job;
    if (ad_oar_stat(self->id, &job, err) < 0)
        return NULL;
    ad_resv_status_t st;
    ad_oar_status(self->id, job, &st);
    json_t *hosts = json_array();
    char **h = NULL;
    int n = 0;
    ad_err_t herr = {0};
    if (ad_oar_hosts(self->id, job, &h, &n, &herr) == 0)
        for (int i = 0; i < n; i++)
            json_array_append_new(hosts, json_string(h[i]));
    ad_resv_argv_free(&h);
    json_t *d = json_object();
    json_object_set_new(d, "backend", json_string("oar"));
    json_object_set_new(d, "job_id", json_string(self->id));
    json_object_set_new(d, "name", s_copy(job, "name"));
    json_object_set_new(d, "wanted_resources", s_copy(job, "wanted_resources"));
    json_object_set_new(d, "properties", s_copy(job, "properties"));
    json_object_set_new(d, "types", s_copy(job, "types"));
    json_object_set_new(d, "queue", s_copy(job, "queue"));
    json_object_set_new(d, "project", s_copy(job, "project"));
    json_object_set_new(d, "walltime_s", json_integer(st.walltime_s));
    json_object_set_new(d, "assigned_hosts", hosts);
    json_object_set_new(d, "cluster", s_cluster(job));
    json_object_set_new(d, "submission_time", s_copy(job, "submissionTime"));
    json_object_set_new(d, "start_time", st.start_time ? json_integer(st.start_time) : json_null());
    json_object_set_new(d, "stop_time", st.stop_time ? json_integer(st.stop_time) : json_null());
    json_object_set_new(d, "state", json_string(st.state));
    json_object_set_new(d, "exit_code",
                        st.exit_code >= 0 ? json_integer(st.exit_code) : json_null());
    json_object_set_new(d, "reason", json_string(st.reason));
    json_object_set_new(d, "initial_request", s_copy(job, "initial_request"));
    json_decref(job);
    return d;
}

static bool
s_sql_word(const char *w, size_t n)
{
    static const char *const words[] = {"AND", "OR",   "NOT",  "IN",    "LIKE",    "ILIKE",
                                        "IS",  "NULL", "TRUE", "FALSE", "BETWEEN", NULL};
    for (int i = 0; words[i]; i++)
        if (strlen(words[i]) == n && strncasecmp(w, words[i], n) == 0)
            return true;
    return false;
}

int
ad_oar_props_check(const char *expr, const json_t *resources, ad_err_t *err)
{
    const char *key;
    json_t *any = NULL;
    json_object_foreach((json_t *)resources, key, any) break;
    if (!any)
        return 0; /* no resource at all: nothing to compare against */
    for (const char *p = expr; *p;) {
        if (*p == '\'' || *p == '"') {
            const char *end = strchr(p + 1, *p);
            if (!end)
                return ad_err_set(err, -EINVAL, "reservation.properties: unbalanced quote in %s",
                                  expr);
            p = end + 1;
        } else if (isalpha((unsigned char)*p) || *p == '_') {
            const char *w = p;
            while (isalnum((unsigned char)*p) || *p == '_')
                p++;
            char word[128];
            snprintf(word, sizeof word, "%.*s", (int)(p - w), w);
            if (!s_sql_word(w, (size_t)(p - w)) && !json_object_get(any, word))
                return ad_err_set(err, -EINVAL, "OAR: property %s does not exist", word);
        } else if (isdigit((unsigned char)*p)) {
            while (isalnum((unsigned char)*p) || *p == '.')
                p++;
        } else {
            p++;
        }
    }
    return 0;
}

int
ad_oar_count_hosts(const ad_resv_request_t *req, int *n, ad_err_t *err)
{
    json_t *all = NULL, *match = NULL;
    *n = 0;
    int rc = s_oarnodes(NULL, &all, err);
    if (rc < 0)
        return rc;
    const char *props = req->properties && *req->properties ? req->properties : NULL;
    if (props && (rc = ad_oar_props_check(props, all, err)) < 0)
        goto free_all;
    char where[2048];
    if ((size_t)snprintf(where, sizeof where, "(%s) AND state = 'Alive' AND type = 'default'",
                         props ? props : "TRUE") >= sizeof where) {
        rc =
            ad_err_set(err, -EINVAL, "reservation.properties: too long (%zu bytes)", strlen(props));
        goto free_all;
    }
    if ((rc = s_oarnodes(where, &match, err)) < 0)
        goto free_all;
    ad_resv_vec_t v = {0};
    const char *key;
    json_t *r;
    json_object_foreach(match, key, r)
    {
        const char *host = json_string_value(json_object_get(r, "network_address"));
        if (host && !ad_resv_vec_has(&v, host))
            ad_resv_vec_add(&v, host);
    }
    *n = v.n;
    char **hosts = ad_resv_vec_take(&v);
    ad_resv_argv_free(&hosts);
    json_decref(match);
free_all:
    json_decref(all);
    return rc;
}
