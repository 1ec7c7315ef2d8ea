/* ad_profile_io.c - hardware profile forms: JSON and YAML writers, readers on the located reader */
#include "ad_profile_priv.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "autodist/ad_doc.h"
#include "autodist/ad_log.h"

/* Profiles are a few kilobytes even with many cores; anything this large is the wrong file. */
#define S_FILE_MAX (4 << 20)

/* ---------------------------------------------------------------- JSON form */

/* "2025-01-31T12:00:00Z"; buf of at least 21 bytes. */
static void
s_iso_time(time_t t, char *buf, size_t len)
{
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
s_set(json_t *obj, const char *key, json_t *value)
{
    json_object_set_new(obj, key, value);
}

json_t *
ad_profile_to_json(const ad_profile_t *self)
{
    json_t *root = json_object(), *cpu = json_object(), *caches = json_object();
    json_t *gpus = json_array(), *nets = json_array(), *map = json_array();
    static const char *const cache_keys[4] = {NULL, "l1d_bytes", "l2_bytes", "l3_bytes"};

    s_set(root, "format", json_integer(AD_PROFILE_FORMAT));
    if (*self->hostname)
        s_set(root, "hostname", json_string(self->hostname));
    s_set(root, "fingerprint", json_string(self->fingerprint));
    if (*self->source)
        s_set(root, "source", json_string(self->source));
    if (self->cluster_name) {
        json_t *c = json_object();

        s_set(c, "name", json_string(self->cluster_name));
        if (self->cluster_site)
            s_set(c, "site", json_string(self->cluster_site));
        s_set(c, "nodes", json_integer(self->cluster_nodes));
        if (self->cluster_hosts)
            s_set(c, "hosts", json_string(self->cluster_hosts));
        s_set(root, "cluster", c);
    }
    s_set(cpu, "model", json_string(self->cpu_model));
    s_set(cpu, "sockets", json_integer(self->sockets));
    s_set(cpu, "cores", json_integer(self->cores));
    s_set(cpu, "pus", json_integer(self->pus));
    s_set(cpu, "numa_nodes", json_integer(self->numa_nodes));
    if (self->cpu_ghz > 0)
        s_set(cpu, "ghz", json_real(self->cpu_ghz));
    s_set(root, "cpu", cpu);
    for (int l = 1; l <= 3; l++)
        if (self->cache[l])
            s_set(caches, cache_keys[l], json_integer((json_int_t)self->cache[l]));
    s_set(root, "caches", caches);
    s_set(root, "memory_bytes", json_integer((json_int_t)self->memory_bytes));
    for (int i = 0; i < self->n_gpus; i++) {
        const ad_profile_gpu_t *g = &self->gpus[i];
        json_t *o = json_object();

        s_set(o, "name", json_string(g->name));
        s_set(o, "kind", json_string(g->kind));
        if (g->index >= 0)
            s_set(o, "index", json_integer(g->index));
        if (g->memory_bytes)
            s_set(o, "memory_bytes", json_integer((json_int_t)g->memory_bytes));
        json_array_append_new(gpus, o);
    }
    s_set(root, "gpus", gpus);
    for (int i = 0; i < self->n_nets; i++) {
        const ad_profile_net_t *n = &self->nets[i];
        json_t *o = json_object();

        if (*n->name)
            s_set(o, "name", json_string(n->name));
        s_set(o, "kind", json_string(n->kind));
        if (n->gbps > 0)
            s_set(o, "gbps", json_real(n->gbps));
        json_array_append_new(nets, o);
    }
    s_set(root, "network", nets);
    for (int i = 0; i < self->n_core_map; i++) {
        const ad_profile_core_t *c = &self->core_map[i];
        json_t *o = json_object(), *pus = json_array();

        s_set(o, "core", json_integer(i));
        s_set(o, "socket", json_integer(c->socket));
        if (c->numa >= 0)
            s_set(o, "numa", json_integer(c->numa));
        for (int k = 0; k < c->n_pus; k++)
            json_array_append_new(pus, json_integer(c->pus[k]));
        s_set(o, "pus", pus);
        json_array_append_new(map, o);
    }
    if (self->n_core_map)
        s_set(root, "core_map", map);
    else
        json_decref(map);
    if (self->has_bench) {
        const ad_profile_bench_t *b = &self->bench;
        json_t *o = json_object();
        char when[32];

        if (b->gemm_gflops_1core > 0)
            s_set(o, "gemm_gflops_1core", json_real(b->gemm_gflops_1core));
        if (b->gemm_gflops_all > 0)
            s_set(o, "gemm_gflops_all", json_real(b->gemm_gflops_all));
        if (b->mem_bandwidth_gbs > 0)
            s_set(o, "mem_bandwidth_gbs", json_real(b->mem_bandwidth_gbs));
        if (b->seconds > 0)
            s_set(o, "seconds", json_real(b->seconds));
        if (b->measured_at) {
            s_iso_time(b->measured_at, when, sizeof(when));
            s_set(o, "measured_at", json_string(when));
        }
        if (b->gemm_n)
            s_set(o, "gemm_n", json_integer(b->gemm_n));
        if (b->triad_mib)
            s_set(o, "triad_mib", json_integer(b->triad_mib));
        s_set(o, "estimated", json_boolean(b->estimated));
        s_set(root, "benchmarks", o);
    }
    return root;
}

/* ---------------------------------------------------------------- YAML writer */

/* Shortest decimal form of v that reads back to v, always with a '.' or an exponent. */
static void
s_real_text(double v, char *buf, size_t len)
{
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    if (!strpbrk(buf, ".eEn"))
        strncat(buf, ".0", len - strlen(buf) - 1);
}

static void
s_emit_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p == '\t')
            fputs("\\t", f);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\x%02x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void
s_emit_scalar(FILE *f, const json_t *v)
{
    char buf[40];

    switch (json_typeof(v)) {
    case JSON_STRING:
        s_emit_string(f, json_string_value(v));
        break;
    case JSON_INTEGER:
        fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        s_real_text(json_real_value(v), buf, sizeof(buf));
        fputs(buf, f);
        break;
    case JSON_TRUE:
        fputs("true", f);
        break;
    case JSON_FALSE:
        fputs("false", f);
        break;
    default:
        fputs("null", f);
        break;
    }
}

/* Scalars and lists of scalars go on one line in flow style. */
static void
s_emit_flow(FILE *f, const json_t *v)
{
    const char *key;
    json_t *item;
    size_t i;
    bool first = true;

    if (json_is_array(v)) {
        fputc('[', f);
        json_array_foreach(v, i, item)
        {
            fputs(i ? ", " : "", f);
            s_emit_flow(f, item);
        }
        fputc(']', f);
    } else if (json_is_object(v)) {
        fputc('{', f);
        json_object_foreach((json_t *)v, key, item)
        {
            fprintf(f, "%s%s: ", first ? "" : ", ", key);
            s_emit_flow(f, item);
            first = false;
        }
        fputc('}', f);
    } else {
        s_emit_scalar(f, v);
    }
}

/* A human reading of a byte count, for the comment after *_bytes values. */
static void
s_emit_size_comment(FILE *f, json_int_t n)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int u = -1;

    while (v >= 1024 && u < 3) {
        v /= 1024;
        u++;
    }
    if (u >= 0)
        fprintf(f, "  # %.4g %s", v, units[u]);
}

static void
s_emit_block(FILE *f, const json_t *obj, int indent)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)obj, key, v)
    {
        size_t len = strlen(key);

        fprintf(f, "%*s%s:", indent, "", key);
        if (json_is_object(v) && json_object_size(v)) {
            fputc('\n', f);
            s_emit_block(f, v, indent + 2);
        } else if (json_is_array(v) && json_array_size(v)) {
            size_t i;
            json_t *item;

            fputc('\n', f);
            json_array_foreach(v, i, item)
            {
                fprintf(f, "%*s- ", indent + 2, "");
                s_emit_flow(f, item);
                fputc('\n', f);
            }
        } else {
            fputc(' ', f);
            s_emit_flow(f, v);
            if (json_is_integer(v) && len > 6 && !strcmp(key + len - 6, "_bytes"))
                s_emit_size_comment(f, json_integer_value(v));
            fputc('\n', f);
        }
    }
}

char *
ad_profile_to_yaml(const ad_profile_t *self)
{
    json_t *root = ad_profile_to_json(self);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    if (!f)
        ad_oom(0);
    fprintf(f, "# autodist hardware profile (docs/profiles.md)\n");
    s_emit_block(f, root, 0);
    if (fclose(f))
        ad_oom(len);
    json_decref(root);
    return text;
}

int
ad_profile_save_yaml(const ad_profile_t *self, const char *path, ad_err_t *err)
{
    char *text = ad_profile_to_yaml(self);
    size_t len = strlen(path) + 32;
    char *tmp = ad_malloc(len);
    FILE *f;
    int rc = 0;

    snprintf(tmp, len, "%s.tmp.%ld", path, (long)getpid());
    f = fopen(tmp, "w");
    if (!f) {
        rc = ad_err_set(err, -errno, "%s: cannot write: %s", tmp, strerror(errno));
        goto out_free;
    }
    fputs(text, f);
    if (fflush(f) || fsync(fileno(f))) {
        rc = ad_err_set(err, -errno, "%s: cannot write: %s", tmp, strerror(errno));
        fclose(f);
        goto err_unlink;
    }
    if (fclose(f)) {
        rc = ad_err_set(err, -errno, "%s: cannot write: %s", tmp, strerror(errno));
        goto err_unlink;
    }
    if (rename(tmp, path)) {
        rc = ad_err_set(err, -errno, "%s: cannot rename into place: %s", path, strerror(errno));
        goto err_unlink;
    }
    goto out_free;
err_unlink:
    unlink(tmp);
out_free:
    free(tmp);
    free(text);
    return rc;
}

/* ---------------------------------------------------------------- reading */

#define S_TRY(expr)                                                                                \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_)                                                                                   \
            return rc_;                                                                            \
    } while (0)

static const char *const s_root_keys[] = {
    "format",       "hostname", "fingerprint", "source",   "cluster",    "cpu", "caches",
    "memory_bytes", "gpus",     "network",     "core_map", "benchmarks", NULL};
static const char s_root_expected[] =
    "format, hostname, fingerprint, source, cluster, cpu, caches, memory_bytes, gpus, "
    "network, core_map, benchmarks";

static int
s_read_cpu(const ad_doc_t *ctx, const json_t *root, ad_profile_t *p)
{
    static const char *const keys[] = {"model",      "sockets", "cores", "pus",
                                       "numa_nodes", "ghz",     NULL};
    json_t *cpu;
    json_int_t n;

    S_TRY(ad_doc_get_obj(ctx, root, "", "cpu", true, &cpu));
    S_TRY(ad_doc_check_keys(ctx, cpu, "cpu", keys, "model, sockets, cores, pus, numa_nodes, ghz"));
    S_TRY(ad_doc_get_str(ctx, cpu, "cpu", "model", true, &p->cpu_model));
    S_TRY(ad_doc_get_int(ctx, cpu, "cpu", "sockets", true, 1, 4096, &n));
    p->sockets = (int)n;
    S_TRY(ad_doc_get_int(ctx, cpu, "cpu", "cores", true, 1, 1 << 20, &n));
    p->cores = (int)n;
    n = p->cores;
    S_TRY(ad_doc_get_int(ctx, cpu, "cpu", "pus", false, 1, 1 << 22, &n));
    p->pus = (int)n;
    n = 1;
    S_TRY(ad_doc_get_int(ctx, cpu, "cpu", "numa_nodes", false, 1, 4096, &n));
    p->numa_nodes = (int)n;
    S_TRY(ad_doc_get_real(ctx, cpu, "cpu", "ghz", true, &p->cpu_ghz));
    if (p->pus < p->cores)
        return ad_doc_fail(ctx, "cpu.pus", false,
                           "%d PUs cannot serve %d cores (expected pus >= cores)", p->pus,
                           p->cores);
    if (p->cores < p->sockets)
        return ad_doc_fail(ctx, "cpu.cores", false, "%d cores cannot fill %d sockets", p->cores,
                           p->sockets);
    return 0;
}

/* The entries of the lists of a profile. */
static const ad_doc_want_t s_gpu_want = {.kind = AD_DOC_OBJ,
                                         .what = "a mapping {name, kind, index, memory_bytes}"};
static const ad_doc_want_t s_net_want = {.kind = AD_DOC_OBJ,
                                         .what = "a mapping {name, kind, gbps}"};
static const ad_doc_want_t s_core_want = {.kind = AD_DOC_OBJ,
                                          .what = "a mapping {core, socket, numa, pus}"};
static const ad_doc_want_t s_pu_want = {
    .kind = AD_DOC_INT, .max = INT32_MAX, .what = "a PU OS index (an integer >= 0)"};

static int
s_read_gpus(const ad_doc_t *ctx, const json_t *root, ad_profile_t *p)
{
    static const char *const keys[] = {"name", "kind", "index", "memory_bytes", NULL};
    json_t *list, *g;
    size_t i;

    S_TRY(ad_doc_get_array(ctx, root, "", "gpus", &list));
    if (!list)
        return 0;
    p->gpus = ad_calloc(json_array_size(list) + 1, sizeof(*p->gpus));
    json_array_foreach(list, i, g)
    {
        ad_profile_gpu_t *gpu = &p->gpus[i];
        char path[64], *name = NULL, *kind = NULL;
        json_int_t index = -1;

        snprintf(path, sizeof(path), "gpus[%zu]", i);
        gpu->index = -1;
        p->n_gpus = (int)i + 1;
        S_TRY(ad_doc_check_at(ctx, path, g, &s_gpu_want, &g));
        S_TRY(ad_doc_check_keys(ctx, g, path, keys, "name, kind, index, memory_bytes"));
        S_TRY(ad_doc_get_str(ctx, g, path, "name", true, &name));
        gpu->name = name;
        S_TRY(ad_doc_get_str(ctx, g, path, "kind", false, &kind));
        gpu->kind = kind ? kind : ad_strdup("cuda");
        S_TRY(ad_doc_get_int(ctx, g, path, "index", false, 0, 1 << 20, &index));
        gpu->index = (int)index;
        S_TRY(ad_doc_get_size(ctx, g, path, "memory_bytes", false, &gpu->memory_bytes));
    }
    return 0;
}

static int
s_read_network(const ad_doc_t *ctx, const json_t *root, ad_profile_t *p)
{
    static const char *const keys[] = {"name", "kind", "gbps", NULL};
    static const char *const kinds[] = {"ethernet", "infiniband", "other", NULL};
    static const ad_doc_want_t kinds_want = {.kind = AD_DOC_ENUM, .names = kinds};
    json_t *list, *n;
    size_t i;

    S_TRY(ad_doc_get_array(ctx, root, "", "network", &list));
    if (!list)
        return 0;
    p->nets = ad_calloc(json_array_size(list) + 1, sizeof(*p->nets));
    json_array_foreach(list, i, n)
    {
        ad_profile_net_t *net = &p->nets[i];
        char path[64], *name = NULL;
        int kind = 0;

        snprintf(path, sizeof(path), "network[%zu]", i);
        p->n_nets = (int)i + 1;
        S_TRY(ad_doc_check_at(ctx, path, n, &s_net_want, &n));
        S_TRY(ad_doc_check_keys(ctx, n, path, keys, "name, kind, gbps"));
        S_TRY(ad_doc_get_str(ctx, n, path, "name", false, &name));
        net->name = name ? name : ad_strdup("");
        S_TRY(ad_doc_get(ctx, n, path, "kind", true, &kinds_want, &kind));
        net->kind = ad_strdup(kinds[kind]);
        S_TRY(ad_doc_get_real(ctx, n, path, "gbps", false, &net->gbps));
    }
    return 0;
}

static int
s_read_core_map(const ad_doc_t *ctx, const json_t *root, ad_profile_t *p)
{
    static const char *const keys[] = {"core", "socket", "numa", "pus", NULL};
    json_t *list, *c;
    size_t i;
    int total = 0;

    S_TRY(ad_doc_get_array(ctx, root, "", "core_map", &list));
    if (!list || !json_array_size(list))
        return 0;
    if ((int)json_array_size(list) != p->cores)
        return ad_doc_fail(ctx, "core_map", true, "lists %zu cores, but cpu.cores is %d",
                           json_array_size(list), p->cores);
    p->core_map = ad_calloc(json_array_size(list), sizeof(*p->core_map));
    json_array_foreach(list, i, c)
    {
        ad_profile_core_t *core = &p->core_map[i];
        char path[64], ppath[80];
        json_int_t v = (json_int_t)i, sock = 0, numa = -1;
        json_t *pus, *pu;
        int *ids;
        size_t k;

        snprintf(path, sizeof(path), "core_map[%zu]", i);
        p->n_core_map = (int)i + 1;
        S_TRY(ad_doc_check_at(ctx, path, c, &s_core_want, &c));
        S_TRY(ad_doc_check_keys(ctx, c, path, keys, "core, socket, numa, pus"));
        S_TRY(ad_doc_get_int(ctx, c, path, "core", false, 0, INT32_MAX, &v));
        if (v != (json_int_t)i)
            return ad_doc_fail(ctx, path, false,
                               "cores must be listed in order: expected core %zu, "
                               "got %" JSON_INTEGER_FORMAT,
                               i, v);
        S_TRY(ad_doc_get_int(ctx, c, path, "socket", true, 0, p->sockets - 1, &sock));
        core->socket = (int)sock;
        S_TRY(ad_doc_get_int(ctx, c, path, "numa", false, 0, p->numa_nodes - 1, &numa));
        core->numa = (int)numa;
        S_TRY(ad_doc_get_array(ctx, c, path, "pus", &pus));
        snprintf(ppath, sizeof(ppath), "%s.pus", path);
        if (!pus || !json_array_size(pus))
            return ad_doc_fail_at(ctx, pus ? ppath : path, false,
                                  "%s must be a non-empty list of PU OS indexes (pus: [0, 1])",
                                  ppath);
        ids = ad_calloc(json_array_size(pus), sizeof(*ids));
        core->pus = ids;
        json_array_foreach(pus, k, pu)
        {
            char kpath[128];

            snprintf(kpath, sizeof(kpath), "%s[%zu]", ppath, k);
            int64_t id;

            S_TRY(ad_doc_check_at(ctx, kpath, pu, &s_pu_want, &id));
            ids[k] = (int)id;
            core->n_pus = (int)k + 1;
        }
        total += core->n_pus;
    }
    if (total != p->pus)
        return ad_doc_fail(ctx, "core_map", true, "holds %d PUs, but cpu.pus is %d", total, p->pus);
    return 0;
}

/* "2025-01-31T12:00:00Z" to UTC seconds; false when it is not one. */
static bool
s_parse_time(const char *s, time_t *out)
{
    struct tm tm;
    const char *end;

    memset(&tm, 0, sizeof(tm));
    end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end || (*end && strcmp(end, "Z")))
        return false;
    *out = timegm(&tm);
    return *out != (time_t)-1;
}

static int
s_read_bench(const ad_doc_t *ctx, const json_t *root, ad_profile_t *p)
{
    static const char *const keys[] = {"gemm_gflops_1core", "gemm_gflops_all", "mem_bandwidth_gbs",
                                       "seconds",           "measured_at",     "gemm_n",
                                       "triad_mib",         "estimated",       NULL};
    ad_profile_bench_t *b = &p->bench;
    json_t *o;
    json_int_t n = 0;
    char *when = NULL;
    int rc;

    S_TRY(ad_doc_get_obj(ctx, root, "", "benchmarks", false, &o));
    if (!o)
        return 0;
    p->has_bench = true;
    S_TRY(ad_doc_check_keys(ctx, o, "benchmarks", keys,
                            "gemm_gflops_1core, gemm_gflops_all, mem_bandwidth_gbs, seconds, "
                            "measured_at, gemm_n, triad_mib, estimated"));
    S_TRY(ad_doc_get_real(ctx, o, "benchmarks", "gemm_gflops_1core", true, &b->gemm_gflops_1core));
    S_TRY(ad_doc_get_real(ctx, o, "benchmarks", "gemm_gflops_all", true, &b->gemm_gflops_all));
    S_TRY(ad_doc_get_real(ctx, o, "benchmarks", "mem_bandwidth_gbs", true, &b->mem_bandwidth_gbs));
    S_TRY(ad_doc_get_real(ctx, o, "benchmarks", "seconds", false, &b->seconds));
    S_TRY(ad_doc_get_int(ctx, o, "benchmarks", "gemm_n", false, 1, 1 << 16, &n));
    b->gemm_n = (int)n;
    n = 0;
    S_TRY(ad_doc_get_int(ctx, o, "benchmarks", "triad_mib", false, 1, 1 << 24, &n));
    b->triad_mib = (int)n;
    S_TRY(ad_doc_get_bool(ctx, o, "benchmarks", "estimated", &b->estimated));
    rc = ad_doc_get_str(ctx, o, "benchmarks", "measured_at", false, &when);
    if (!rc && when && !s_parse_time(when, &b->measured_at))
        rc = ad_doc_fail_at(ctx, "benchmarks.measured_at", false,
                            "benchmarks.measured_at must be a UTC time like "
                            "\"2025-01-31T12:00:00Z\", got \"%.48s\"",
                            when);
    free(when);
    return rc;
}

static int
s_read_cluster(const ad_doc_t *ctx, const json_t *root, ad_profile_t *p)
{
    static const char *const keys[] = {"name", "site", "nodes", "hosts", NULL};
    json_t *o;
    json_int_t n = 1;

    S_TRY(ad_doc_get_obj(ctx, root, "", "cluster", false, &o));
    if (!o)
        return 0;
    S_TRY(ad_doc_check_keys(ctx, o, "cluster", keys, "name, site, nodes, hosts"));
    S_TRY(ad_doc_get_str(ctx, o, "cluster", "name", true, &p->cluster_name));
    S_TRY(ad_doc_get_str(ctx, o, "cluster", "site", false, &p->cluster_site));
    S_TRY(ad_doc_get_int(ctx, o, "cluster", "nodes", false, 1, 1 << 20, &n));
    p->cluster_nodes = (int)n;
    return ad_doc_get_str(ctx, o, "cluster", "hosts", false, &p->cluster_hosts);
}

/* Build a profile from the tree of a file or payload, checking everything it says. */
static int
s_read(const ad_doc_t *ctx, const json_t *root, ad_profile_t **out)
{
    static const char *const cache_keys[] = {"l1d_bytes", "l2_bytes", "l3_bytes", NULL};
    ad_profile_t *p = ad_profile_new_blank();
    json_t *caches;
    json_int_t format = AD_PROFILE_FORMAT;
    char *fp = NULL, got[80];
    int rc;

    *out = NULL;
    if (!json_is_object(root)) {
        rc = ad_doc_fail(ctx, "", false, "a profile must be a mapping of %s, got %s",
                         s_root_expected, ad_doc_got(ctx, "", root, got, sizeof(got)));
        goto err_free;
    }
    rc = ad_doc_check_keys(ctx, root, "", s_root_keys, s_root_expected);
    if (!rc)
        rc = ad_doc_get_int(ctx, root, "", "format", false, AD_PROFILE_FORMAT, AD_PROFILE_FORMAT,
                            &format);
    if (!rc)
        rc = ad_doc_get_str(ctx, root, "", "hostname", false, &p->hostname);
    if (!rc)
        rc = ad_doc_get_str(ctx, root, "", "source", false, &p->source);
    if (!rc)
        rc = ad_doc_get_str(ctx, root, "", "fingerprint", false, &fp);
    if (!rc)
        rc = s_read_cluster(ctx, root, p);
    if (!rc)
        rc = s_read_cpu(ctx, root, p);
    if (!rc)
        rc = ad_doc_get_obj(ctx, root, "", "caches", false, &caches);
    if (!rc && caches)
        rc = ad_doc_check_keys(ctx, caches, "caches", cache_keys, "l1d_bytes, l2_bytes, l3_bytes");
    for (int l = 1; l <= 3 && !rc && caches; l++)
        rc = ad_doc_get_size(ctx, caches, "caches", cache_keys[l - 1], false, &p->cache[l]);
    if (!rc)
        rc = ad_doc_get_size(ctx, root, "", "memory_bytes", true, &p->memory_bytes);
    if (!rc && !p->memory_bytes)
        rc = ad_doc_fail_at(ctx, "memory_bytes", false,
                            "memory_bytes must be more than 0 bytes, got 0");
    if (!rc)
        rc = s_read_gpus(ctx, root, p);
    if (!rc)
        rc = s_read_network(ctx, root, p);
    if (!rc)
        rc = s_read_core_map(ctx, root, p);
    if (!rc)
        rc = s_read_bench(ctx, root, p);
    if (rc)
        goto err_free;
    ad_profile_update_fingerprint(p);
    /* A stale fingerprint would file measurements under the wrong hardware class. */
    if (fp && strcmp(fp, p->fingerprint)) {
        rc = ad_doc_fail(
            ctx, "fingerprint", false,
            "\"%.40s\" does not match the hardware described (%s); remove the key or fix "
            "the figures",
            fp, p->fingerprint);
        goto err_free;
    }
    free(fp);
    *out = p;
    return 0;
err_free:
    free(fp);
    ad_profile_free(&p);
    return rc;
}

int
ad_profile_from_json(json_t *json, ad_profile_t **out, ad_err_t *err)
{
    ad_doc_t *doc = ad_doc_wrap(json, "profile", err);
    int rc = s_read(doc, json, out);

    ad_doc_free(&doc);
    return rc;
}

/* ---------------------------------------------------------------- YAML reading */

int
ad_profile_parse_yaml(const char *text, size_t len, const char *name, ad_profile_t **out,
                      ad_err_t *err)
{
    ad_doc_t *doc;
    int rc;

    *out = NULL;
    rc = ad_doc_parse_yaml(text, len, name, "profile", s_root_expected, 0, &doc, err);
    if (rc)
        return rc;
    rc = s_read(doc, ad_doc_root(doc), out);
    ad_doc_free(&doc);
    return rc;
}

int
ad_profile_load_yaml(const char *path, ad_profile_t **out, ad_err_t *err)
{
    FILE *f = fopen(path, "rb");
    char *text;
    size_t len;
    int rc;

    *out = NULL;
    if (!f)
        return ad_err_set(err, -errno, "%s: cannot open: %s", path, strerror(errno));
    text = ad_malloc(S_FILE_MAX + 1);
    len = fread(text, 1, S_FILE_MAX + 1, f);
    if (ferror(f)) {
        rc = ad_err_set(err, AD_EIO, "%s: cannot read: %s", path, strerror(errno));
        goto out_free;
    }
    if (len > S_FILE_MAX) {
        rc = ad_err_set(err, AD_EPARSE, "%s: larger than %d MiB, not a profile", path,
                        S_FILE_MAX >> 20);
        goto out_free;
    }
    rc = ad_profile_parse_yaml(text, len, path, out, err);
out_free:
    free(text);
    fclose(f);
    return rc;
}
