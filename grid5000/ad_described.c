/* ad_described.c - described profiles: where they live, finding one by name, estimated figures */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "autodist/ad_described.h"
#include "autodist/ad_planner.h"

#ifndef AD_PROFILES_INSTALL_DIR
#define AD_PROFILES_INSTALL_DIR "/usr/local/share/autodist/profiles"
#endif
#ifndef AD_PROFILES_SOURCE_DIR
#define AD_PROFILES_SOURCE_DIR ""
#endif

/*
 * The estimate's constants (docs/planner.md, "Planning on a description").
 * The agents' SGEMM benchmark (oneDNN, n = 512, one thread) measures about
 * half of a core's peak at the nominal clock on the Xeons autodist was tried
 * on once the AVX-512 clock drop is counted; all cores together lose another
 * fifth to the lower all-core clock and the shared caches.  Memory channels
 * are not in the reference API: 40 GB/s per socket is what a STREAM triad
 * measures on a 4-channel DDR4 socket, below the 6-channel sockets of gros
 * or dahu, so memory-bound layouts are predicted on the safe side.
 */
#define S_EFF_ONE 0.5
#define S_EFF_ALL 0.8
#define S_MEM_GBS_SOCKET 40.0
/* Caps the memory estimate on small sockets: GB/s a core can draw by itself. */
#define S_MEM_GBS_CORE 8.0
/*
 * A store class is the described one when only its memory differs, by at most this share:
 * gros has 96 GiB installed and its kernel reports about 94 (docs/profiles.md).
 */
#define S_MEM_NEAR 0.05

char *
ad_described_home_dir(const char *home_root)
{
    char *s = NULL;

    if (asprintf(&s, "%s/profiles/described", home_root) < 0)
        ad_oom(0);
    return s;
}

/* ---- listing ---------------------------------------------------------------------------- */

typedef struct s_list {
    ad_described_entry_t *v;
    size_t n, cap;
} s_list_t;

static int
s_cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The cluster name of a description, or NULL; owned. */
static char *
s_cluster_name(const ad_profile_t *p)
{
    char name[128], site[128];

    ad_described_cluster(p, name, sizeof(name), site, sizeof(site));
    return *name ? ad_strdup(name) : NULL;
}

/* Every *.yaml of dir that loads as a profile, by file name, into l. */
static void
s_scan_dir(s_list_t *l, const char *dir, const char *where)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0;

    if (!d)
        return;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);

        if (len <= 5 || strcmp(e->d_name + len - 5, ".yaml") || e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            names = ad_realloc(names, cap * sizeof(*names));
        }
        names[n++] = ad_strdup(e->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), s_cmp_names);
    for (size_t i = 0; i < n; i++) {
        ad_described_entry_t *en;
        ad_profile_t *p = NULL;
        ad_err_t ignore = {0};
        char *path = NULL, *name;

        if (asprintf(&path, "%s/%s", dir, names[i]) < 0)
            ad_oom(0);
        if (ad_profile_load_yaml(path, &p, &ignore)) {
            free(path);
            free(names[i]);
            continue;
        }
        name = s_cluster_name(p);
        if (!name)
            name = strndup(names[i], strlen(names[i]) - 5);
        if (l->n == l->cap) {
            l->cap = l->cap ? 2 * l->cap : 16;
            l->v = ad_realloc(l->v, l->cap * sizeof(*l->v));
        }
        en = &l->v[l->n++];
        en->name = name;
        en->path = path;
        en->where = where;
        en->profile = p;
        free(names[i]);
    }
    free(names);
}

int
ad_described_list(const char *home_root, ad_described_entry_t **out, size_t *n)
{
    const char *env = getenv(AD_DESCRIBED_ENV);
    s_list_t l = {0};

    if (home_root && *home_root) {
        char *dir = ad_described_home_dir(home_root), *cache = NULL;

        s_scan_dir(&l, dir, "imported");
        if (asprintf(&cache, "%s/profiles", home_root) < 0)
            ad_oom(0);
        s_scan_dir(&l, cache, "measured");
        free(cache);
        free(dir);
    }
    if (env && *env) {
        char *copy = ad_strdup(env), *save = NULL;

        for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save))
            s_scan_dir(&l, d, "shipped");
        free(copy);
    } else {
        size_t before = l.n;

        /* An installed autodist reads its share folder; a build tree its source's profiles/. */
        s_scan_dir(&l, AD_PROFILES_INSTALL_DIR, "shipped");
        if (l.n == before && *AD_PROFILES_SOURCE_DIR)
            s_scan_dir(&l, AD_PROFILES_SOURCE_DIR, "shipped");
    }
    *out = l.v;
    *n = l.n;
    return 0;
}

void
ad_described_list_free(ad_described_entry_t **list_p, size_t n)
{
    if (!list_p || !*list_p)
        return;
    for (size_t i = 0; i < n; i++) {
        free((*list_p)[i].name);
        free((*list_p)[i].path);
        ad_profile_free(&(*list_p)[i].profile);
    }
    free(*list_p);
    *list_p = NULL;
}

/* "a, b, c": the names of the described (cluster) entries, sorted, each once. */
static void
s_known(const ad_described_entry_t *v, size_t n, char *buf, size_t len)
{
    const char **names = ad_calloc(n + 1, sizeof(*names));
    size_t k = 0, used = 0;

    for (size_t i = 0; i < n; i++)
        if (ad_profile_cluster_nodes(v[i].profile))
            names[k++] = v[i].name;
    if (k)
        qsort(names, k, sizeof(*names), s_cmp_names);
    buf[0] = '\0';
    for (size_t i = 0; i < k && used < len; i++)
        if (i == 0 || strcmp(names[i], names[i - 1]))
            used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "", names[i]);
    free(names);
}

/* The file name of path without folder and .yaml. */
static bool
s_stem_is(const char *path, const char *what)
{
    const char *base = strrchr(path, '/');
    size_t n;

    base = base ? base + 1 : path;
    n = strlen(base);
    return n > 5 && strlen(what) == n - 5 && !strncmp(base, what, n - 5);
}

int
ad_described_find(const char *what, const char *home_root, ad_profile_t **out, char **path,
                  ad_err_t *err)
{
    ad_described_entry_t *v = NULL;
    size_t n = 0, len = strlen(what);
    char known[600];

    *out = NULL;
    if (path)
        *path = NULL;
    if (strchr(what, '/') || (len > 5 && !strcmp(what + len - 5, ".yaml"))) {
        int rc = ad_profile_load_yaml(what, out, err);

        if (!rc && path)
            *path = ad_strdup(what);
        return rc;
    }
    ad_described_list(home_root, &v, &n);
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < n; i++) {
            bool hit = pass == 0 ? !strcmp(v[i].name, what) : s_stem_is(v[i].path, what);

            if (!hit)
                continue;
            *out = v[i].profile;
            v[i].profile = NULL;
            if (path)
                *path = ad_strdup(v[i].path);
            ad_described_list_free(&v, n);
            return 0;
        }
    }
    s_known(v, n, known, sizeof(known));
    ad_described_list_free(&v, n);
    return ad_err_set(err, -ENOENT,
                      "unknown cluster \"%s\": known described profiles are %s (autodist profile "
                      "list; `autodist profile import FILE.json` adds one, a path to a profile "
                      "file works too)",
                      what, *known ? known : "none");
}

void
ad_described_cluster(const ad_profile_t *p, char *name, size_t name_len, char *site,
                     size_t site_len)
{
    json_t *j = ad_profile_to_json(p), *c = json_object_get(j, "cluster");
    const char *nm = json_string_value(json_object_get(c, "name"));
    const char *st = json_string_value(json_object_get(c, "site"));

    snprintf(name, name_len, "%s", nm ? nm : "");
    snprintf(site, site_len, "%s", st ? st : "");
    json_decref(j);
}

/* ---- figures ---------------------------------------------------------------------------- */

/* The first number of at least digits digits after word in s (lowercase), or -1. */
static long
s_number_after(const char *s, const char *word, int digits)
{
    const char *p = strstr(s, word);

    if (!p)
        return -1;
    for (p += strlen(word); *p && !isdigit((unsigned char)*p); p++)
        if (isalpha((unsigned char)*p))
            return -1;
    if ((int)strspn(p, "0123456789") < digits)
        return -1;
    return strtol(p, NULL, 10);
}

int
ad_described_flops_per_cycle(const char *cpu_model, const char **isa)
{
    char s[256];
    long num;
    size_t i;

    for (i = 0; cpu_model && cpu_model[i] && i + 1 < sizeof(s); i++)
        s[i] = (char)tolower((unsigned char)cpu_model[i]);
    s[i] = '\0';
    *isa = "unknown CPU family";
    if (strstr(s, "xeon")) {
        if (strstr(s, "platinum") || strstr(s, "phi") ||
            ((num = s_number_after(s, "gold", 4)) >= 6000 && num < 7000))
            return *isa = "AVX-512, 2 FMA units", 64;
        if (strstr(s, "gold") || strstr(s, "silver") || strstr(s, "bronze"))
            return *isa = "AVX-512, 1 FMA unit", 32;
        if (strstr(s, " v3") || strstr(s, " v4"))
            return *isa = "AVX2 with FMA", 32;
        if (strstr(s, "e5-") || strstr(s, "e7-"))
            return *isa = "AVX without FMA", 16;
    }
    if ((num = s_number_after(s, "epyc", 4)) >= 0) {
        if (num % 10 == 1)
            return *isa = "Zen: AVX2, 128-bit FMA", 16;
        return *isa = "Zen 2 or later: AVX2, 2 FMA units", 32;
    }
    return 0;
}

void
ad_described_estimate(const ad_profile_t *p, ad_described_figures_t *out)
{
    const ad_profile_bench_t *b = ad_profile_bench_figures(p);
    json_t *j;
    double ghz, best = 0;
    const char *isa;
    int fpc, cores = ad_profile_cores(p), sockets = ad_profile_sockets(p);

    memset(out, 0, sizeof(*out));
    snprintf(out->hardware, sizeof(out->hardware), "%s", ad_profile_fingerprint(p));
    for (int i = 0; i < ad_profile_net_count(p); i++)
        best = fmax(best, ad_profile_net(p, i)->gbps);
    out->net_gbps = best;
    if (b && b->gemm_gflops_1core > 0) {
        out->gemm_gflops_1 = b->gemm_gflops_1core;
        out->gemm_gflops_all = b->gemm_gflops_all;
        out->mem_bw_gbs = b->mem_bandwidth_gbs;
        out->measured = !b->estimated;
        snprintf(out->from, sizeof(out->from), "%s benchmark figures of the profile",
                 b->estimated ? "estimated" : "measured");
        return;
    }
    j = ad_profile_to_json(p);
    ghz = json_number_value(json_object_get(json_object_get(j, "cpu"), "ghz"));
    json_decref(j);
    fpc = ad_described_flops_per_cycle(ad_profile_cpu_model(p), &isa);
    out->mem_bw_gbs = fmin(S_MEM_GBS_SOCKET * sockets, S_MEM_GBS_CORE * cores);
    if (fpc > 0 && ghz > 0) {
        out->gemm_gflops_1 = S_EFF_ONE * fpc * ghz;
        snprintf(out->from, sizeof(out->from),
                 "estimated: %.2f GHz x %d FLOP/cycle (%s) x %.1f = %.1f GFLOP/s a core; memory "
                 "%.0f GB/s per socket (channels unknown)",
                 ghz, fpc, isa, S_EFF_ONE, out->gemm_gflops_1, S_MEM_GBS_SOCKET);
    } else {
        out->gemm_gflops_1 = AD_PLANNER_DEFAULT_GFLOPS_CORE;
        snprintf(out->from, sizeof(out->from),
                 "estimated: %s or clock, the default %.0f GFLOP/s a core; memory %.0f GB/s per "
                 "socket (channels unknown)",
                 isa, out->gemm_gflops_1, S_MEM_GBS_SOCKET);
    }
    out->gemm_gflops_all = S_EFF_ALL * cores * out->gemm_gflops_1;
}

/* The blanks of a and b folded, then compared: the same CPU model. */
static bool
s_same_model(const char *a, const char *b)
{
    while (a && b && *a && *b) {
        if (isspace((unsigned char)*a) && isspace((unsigned char)*b)) {
            while (isspace((unsigned char)*a))
                a++;
            while (isspace((unsigned char)*b))
                b++;
            continue;
        }
        if (*a++ != *b++)
            return false;
    }
    while (a && isspace((unsigned char)*a))
        a++;
    while (b && isspace((unsigned char)*b))
        b++;
    return a && b && !*a && !*b;
}

/*
 * The store's latest profile of p's class into row: its fingerprint's, else
 * that of a node with the same CPU model, sockets, cores and GPUs whose
 * memory is within S_MEM_NEAR of p's.  Returns true when one was found.
 */
static bool
s_store_class(ad_store_t *store, const ad_profile_t *p, ad_profile_row_t *row)
{
    const double mem = (double)ad_profile_memory_bytes(p);
    ad_node_t *nodes = NULL;
    size_t n = 0;
    bool found = false;

    if (!ad_store_find_profile(store, ad_profile_fingerprint(p), row))
        return true;
    ad_store_profile_row_clear(row);
    if (ad_store_list_nodes(store, &nodes, &n))
        return false;
    for (size_t i = 0; i < n && !found; i++) {
        if (ad_store_get_profile(store, nodes[i].id, row))
            continue;
        found = row->hardware && s_same_model(row->cpu_model, ad_profile_cpu_model(p)) &&
                row->sockets == ad_profile_sockets(p) && row->cores == ad_profile_cores(p) &&
                row->gpus == ad_profile_gpu_count(p) &&
                fabs((double)row->memory_bytes - mem) <= S_MEM_NEAR * mem;
        if (!found)
            ad_store_profile_row_clear(row);
    }
    ad_store_nodes_free(&nodes, n);
    return found;
}

/* Measured figures of the store's class of p, into out; false when it has none. */
static bool
s_from_store(ad_store_t *store, const ad_profile_t *p, ad_described_figures_t *out)
{
    ad_profile_row_t row;
    bool got = false;

    memset(&row, 0, sizeof(row));
    if (!s_store_class(store, p, &row))
        return false;
    /* Runs of the class count even when its profile has no benchmarks (agent --no-bench). */
    snprintf(out->hardware, sizeof(out->hardware), "%s", row.hardware);
    if (isfinite(row.gemm_gflops_1) && row.gemm_gflops_1 > 0) {
        out->gemm_gflops_1 = row.gemm_gflops_1;
        if (isfinite(row.gemm_gflops_all) && row.gemm_gflops_all > 0)
            out->gemm_gflops_all = row.gemm_gflops_all;
        if (isfinite(row.mem_bw_gbs) && row.mem_bw_gbs > 0)
            out->mem_bw_gbs = row.mem_bw_gbs;
        out->measured = got = true;
        if (strcmp(row.hardware, ad_profile_fingerprint(p)))
            snprintf(out->from, sizeof(out->from),
                     "measured: the store's benchmarks of hardware class %s (the same machines, "
                     "%.1f GiB reported)",
                     row.hardware, (double)row.memory_bytes / (double)(UINT64_C(1) << 30));
        else
            snprintf(out->from, sizeof(out->from),
                     "measured: the store's benchmarks of hardware class %s", row.hardware);
    }
    ad_store_profile_row_clear(&row);
    return got;
}

void
ad_described_figures(const ad_profile_t *p, const char *home_root, ad_store_t *store,
                     ad_described_figures_t *out)
{
    const char *fp = ad_profile_fingerprint(p);

    ad_described_estimate(p, out);
    if (out->measured || (store && s_from_store(store, p, out)))
        return;
    if (home_root && *home_root) {
        char *path = NULL;
        ad_profile_t *cached = NULL;
        ad_err_t ignore = {0};
        const ad_profile_bench_t *b;

        if (asprintf(&path, "%s/profiles/%s.yaml", home_root, fp) < 0)
            ad_oom(0);
        if (!ad_profile_load_yaml(path, &cached, &ignore) &&
            !strcmp(ad_profile_fingerprint(cached), fp) &&
            (b = ad_profile_bench_figures(cached)) && !b->estimated && b->gemm_gflops_1core > 0) {
            out->gemm_gflops_1 = b->gemm_gflops_1core;
            out->gemm_gflops_all = b->gemm_gflops_all;
            out->mem_bw_gbs = b->mem_bandwidth_gbs;
            out->measured = true;
            snprintf(out->from, sizeof(out->from), "measured: an agent's benchmarks in %s",
                     path);
        }
        ad_profile_free(&cached);
        free(path);
    }
}
