/* ad_cli_reproduce_resv.c - reproducing a run made on a reservation: the same cluster or nodes */
#include "ad_cli_resv.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autodist/ad_proto.h"

/* 'a','b' for the hosts a run had, for network_address in (...): 0, or -1 when too long. */
static int
s_host_list(const json_t *hosts, char *buf, size_t cap)
{
    size_t n = 0, i;
    const json_t *h;

    buf[0] = '\0';
    json_array_foreach(hosts, i, h)
    {
        const char *s = json_string_value(h);

        /* Host names have no quotes; one that does is not a host to put in a filter. */
        if (!s || strchr(s, '\'') || !ad_proto_is_host(s))
            return -1;
        n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s'%s'", i ? "," : "", s);
        if (n >= cap)
            return -1;
    }
    return 0;
}

/* A new string list from a JSON array of strings, NULL-terminated; NULL when empty. */
static char **
s_strings(const json_t *a)
{
    size_t n = json_array_size(a), k = 0, i;
    char **v;
    const json_t *e;

    if (!n)
        return NULL;
    v = ad_calloc(n + 1, sizeof(char *));
    json_array_foreach(a, i, e)
    {
        if (json_is_string(e))
            v[k++] = ad_strdup(json_string_value(e));
    }
    return v;
}

int
ad_cli_reproduce_job(int64_t run, const json_t *resv, bool same_nodes, const json_t *spec,
                     ad_job_t *job)
{
    const json_t *granted = json_object_get(resv, "granted");
    const json_t *hosts = json_object_get(granted, "assigned_hosts");
    const char *cluster = json_string_value(json_object_get(granted, "cluster"));
    char *text = json_dumps(spec, JSON_COMPACT), props[4096], name[64];
    ad_job_resv_t *r = &job->reservation;
    ad_err_t err = {0};
    int rc;

    memset(job, 0, sizeof(*job));
    rc = text ? ad_job_from_json(text, job, &err) : AD_EPARSE;
    free(text);
    if (rc)
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "run %lld: its recorded spec is not a job: %s",
                           (long long)run, err.msg);
    if (!r->set || !json_is_object(granted))
        return ad_cli_fail(AD_CLI_EXIT_ERROR,
                           "run %lld: its record has no granted reservation (what the batch "
                           "system gave it): run it again with autodist submit instead",
                           (long long)run);
    /* A fresh request: as many hosts as it had, for as long as it asked, under a new name. */
    free(r->job);
    r->job = NULL;
    r->keep = false;
    if (json_array_size(hosts) > 0)
        r->nodes = (int)json_array_size(hosts);
    if (!r->walltime_s)
        r->walltime_s = json_integer_value(json_object_get(granted, "walltime_s"));
    if (same_nodes) {
        if (s_host_list(hosts, props, sizeof(props)) || !json_array_size(hosts))
            return ad_cli_fail(AD_CLI_EXIT_ERROR,
                               "run %lld: its record names no usable hosts for --same-nodes",
                               (long long)run);
        free(r->properties);
        r->properties = ad_malloc(strlen(props) + 32);
        sprintf(r->properties, "network_address in (%s)", props);
    } else if (cluster && ad_proto_pool_ok(cluster) && !strchr(cluster, '\'')) {
        free(r->properties);
        r->properties = ad_malloc(strlen(cluster) + 16);
        sprintf(r->properties, "cluster='%s'", cluster);
    }
    if (!r->types && json_array_size(json_object_get(granted, "types")))
        r->types = s_strings(json_object_get(granted, "types"));
    snprintf(name, sizeof(name), "autodist-repro-%lld", (long long)run);
    free(r->name);
    r->name = ad_strdup(name);
    if (!r->nodes || !r->walltime_s)
        return ad_cli_fail(AD_CLI_EXIT_ERROR,
                           "run %lld: its record says neither how many nodes nor how long",
                           (long long)run);
    return 0;
}

/* One word of a command line as a shell would need it: ' ' then the word, quoted if need be. */
static void
s_print_word(const char *w)
{
    bool plain = *w != '\0';

    for (const char *p = w; *p; p++)
        plain = plain && (isalnum((unsigned char)*p) || strchr("-_=.,:/+@%", *p));
    if (plain) {
        printf(" %s", w);
        return;
    }
    printf(" '");
    for (const char *p = w; *p; p++)
        if (*p == '\'')
            printf("'\\''");
        else
            putchar(*p);
    printf("'");
}

int
ad_cli_reproduce_dry_resv(ad_cli_t *cli, const ad_job_t *job)
{
    ad_resv_request_t req;
    char **argv = NULL;
    ad_err_t err = {0};
    int n = -1, rc = 0;

    ad_cli_resv_request(&job->reservation, (const char *const *)job->reservation.types, &req);
    if (ad_resv_submit_argv(&req, &argv, &err))
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", err.msg);
    if (!cli->json) {
        printf("would reserve (the reservation's pool: oar:%s):\n ", job->reservation.name);
        for (char **a = argv; *a; a++)
            s_print_word(*a);
        printf("\n");
    }
    ad_resv_argv_free(&argv);
    if (ad_resv_count_hosts(&req, &n, &err))
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "cannot check the hosts: %s", err.msg);
    if (!cli->json)
        printf("%d host%s match%s %s; the request needs %d\n", n, n == 1 ? "" : "s",
               n == 1 ? "es" : "", req.properties ? req.properties : "(any)", req.nodes);
    if (n < req.nodes)
        rc = ad_cli_fail(AD_CLI_EXIT_ERROR,
                         "only %d host%s match%s %s: the reservation of %d would never start", n,
                         n == 1 ? "" : "s", n == 1 ? "es" : "", req.properties ? req.properties : "",
                         req.nodes);
    return rc;
}
