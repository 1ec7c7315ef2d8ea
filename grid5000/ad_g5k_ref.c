/* ad_g5k_ref.c - a Grid'5000 reference-API node description read into a described profile */
#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autodist/ad_doc.h"
#include "autodist/ad_g5k_ref.h"

/*
 * The text is read twice: by jansson, whose errors give the line and column
 * of bad JSON, then as YAML by the located reader (JSON is YAML's flow
 * style), so a missing or wrong field is placed at FILE:LINE:COL like every
 * other input of autodist.  Where the YAML reader refuses valid JSON (a tab
 * where YAML wants none), the fields are checked on jansson's tree without
 * places ("FILE: PATH must be ...").
 */

/* Largest description read (the listing of a big cluster is a few MiB). */
#define S_FILE_MAX (64 << 20)
/* The fields a node description must have, for the message about an empty file. */
#define S_KEYS "architecture, processor, main_memory, gpu_devices, network_adapters, uid"

/* What one node gives besides its profile. */
typedef struct s_node {
    json_t *prof; /* the profile's JSON form, without cluster: (owned) */
    char *cluster, *site, *uid;
} s_node_t;

static void
s_node_clear(s_node_t *n)
{
    json_decref(n->prof);
    free(n->cluster);
    free(n->site);
    free(n->uid);
    memset(n, 0, sizeof(*n));
}

#define S_TRY(expr)                                                                                \
    do {                                                                                           \
        int s_rc_ = (expr);                                                                        \
        if (s_rc_)                                                                                 \
            return s_rc_;                                                                          \
    } while (0)

bool
ad_g5k_ref_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;

    if (n == 0 || n > 63 || !isalnum((unsigned char)name[0]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)name[i]) || isdigit((unsigned char)name[i]) ||
              name[i] == '-' || name[i] == '_'))
            return false;
    return true;
}

/* "gros-12" -> "gros": the uid without its trailing "-NUMBER"; NULL when it has none. */
static char *
s_cluster_of_uid(const char *uid)
{
    const char *dash = uid ? strrchr(uid, '-') : NULL;

    if (!dash || dash == uid || !dash[1] || strspn(dash + 1, "0123456789") != strlen(dash + 1))
        return NULL;
    return strndup(uid, (size_t)(dash - uid));
}

/* The word after "/WHAT/" in href ("sites" in ".../sites/nancy/clusters/gros"), or NULL. */
static char *
s_href_part(const char *href, const char *what)
{
    char key[32];
    const char *p;
    size_t n;

    snprintf(key, sizeof(key), "/%s/", what);
    p = href ? strstr(href, key) : NULL;
    if (!p)
        return NULL;
    p += strlen(key);
    n = strcspn(p, "/?#");
    return n ? strndup(p, n) : NULL;
}

/* Site and cluster from the API's links ([{rel, href}]); unknown shapes are ignored. */
static void
s_from_links(const json_t *node, s_node_t *out)
{
    const json_t *links = json_object_get(node, "links"), *l;
    size_t i;

    json_array_foreach(links, i, l)
    {
        const char *href = json_string_value(json_object_get(l, "href"));

        if (!out->site)
            out->site = s_href_part(href, "sites");
        if (!out->cluster)
            out->cluster = s_href_part(href, "clusters");
    }
}

/* "gros-1.nancy.grid5000.fr" -> "nancy": the site of a node's network address, or NULL. */
static char *
s_site_of_address(const char *addr)
{
    const char *dot = addr ? strchr(addr, '.') : NULL, *end;

    if (!dot || !(end = strstr(dot + 1, ".grid5000.fr")) || end == dot + 1)
        return NULL;
    return strndup(dot + 1, (size_t)(end - dot - 1));
}

/* cpu: and caches: from architecture and processor. */
static int
s_read_cpu(const ad_doc_t *doc, const json_t *node, const char *base, json_t *prof)
{
    const ad_doc_want_t hz = {.kind = AD_DOC_REAL,
                              .rmin = 1e6,
                              .rmax = 1e12,
                              .what = "a clock speed in Hz (e.g. 2200000000)"};
    json_t *arch, *proc, *cpu = json_object(), *caches = json_object();
    json_int_t procs = 0, cores = 0, threads = 0;
    char pa[160], pp[160], *desc = NULL, *model = NULL, *version = NULL;
    double clock = 0;
    uint64_t cache[3] = {0, 0, 0};
    static const char *const cache_keys[3] = {"cache_l1d", "cache_l2", "cache_l3"};
    static const char *const prof_keys[3] = {"l1d_bytes", "l2_bytes", "l3_bytes"};
    int rc;

    json_object_set_new(prof, "cpu", cpu);
    json_object_set_new(prof, "caches", caches);
    ad_doc_path(pa, sizeof(pa), base, "architecture");
    ad_doc_path(pp, sizeof(pp), base, "processor");
    S_TRY(ad_doc_get_obj(doc, node, base, "architecture", true, &arch));
    S_TRY(ad_doc_get_int(doc, arch, pa, "nb_procs", true, 1, 4096, &procs));
    S_TRY(ad_doc_get_int(doc, arch, pa, "nb_cores", true, 1, 1 << 20, &cores));
    threads = cores;
    S_TRY(ad_doc_get_int(doc, arch, pa, "nb_threads", false, 1, 1 << 22, &threads));
    if (cores < procs || threads < cores) {
        char p[200];

        ad_doc_path(p, sizeof(p), pa, cores < procs ? "nb_cores" : "nb_threads");
        if (cores < procs)
            return ad_doc_fail(doc, p, false,
                               "%lld cores cannot fill %lld processors (nb_cores counts the "
                               "cores of the whole node)",
                               (long long)cores, (long long)procs);
        return ad_doc_fail(doc, p, false,
                           "%lld threads cannot serve %lld cores (expected nb_threads >= "
                           "nb_cores)",
                           (long long)threads, (long long)cores);
    }
    S_TRY(ad_doc_get_obj(doc, node, base, "processor", true, &proc));
    rc = ad_doc_get_str(doc, proc, pp, "other_description", false, &desc);
    if (!rc)
        rc = ad_doc_get_str(doc, proc, pp, "model", false, &model);
    if (!rc)
        rc = ad_doc_get_str(doc, proc, pp, "version", false, &version);
    if (!rc && !(desc && *desc) && !(model && *model))
        rc = ad_doc_fail_at(doc, pp, false, "%s.other_description (or %s.model) is required", pp,
                            pp);
    if (!rc) {
        if (desc && *desc)
            json_object_set_new(cpu, "model", json_string(desc));
        else
            json_object_set_new(
                cpu, "model",
                json_sprintf("%s%s%s", model, version ? " " : "", version ? version : ""));
    }
    free(desc);
    free(model);
    free(version);
    if (rc)
        return rc;
    S_TRY(ad_doc_get(doc, proc, pp, "clock_speed", false, &hz, &clock));
    for (int i = 0; i < 3; i++) {
        S_TRY(ad_doc_get_size(doc, proc, pp, cache_keys[i], false, &cache[i]));
        if (cache[i])
            json_object_set_new(caches, prof_keys[i], json_integer((json_int_t)cache[i]));
    }
    json_object_set_new(cpu, "sockets", json_integer(procs));
    json_object_set_new(cpu, "cores", json_integer(cores));
    json_object_set_new(cpu, "pus", json_integer(threads));
    /* The API does not say; one NUMA node per socket is how Grid'5000 nodes are set up. */
    json_object_set_new(cpu, "numa_nodes", json_integer(procs));
    if (clock > 0)
        json_object_set_new(cpu, "ghz", json_real(clock / 1e9));
    return 0;
}

/* A GPU's kind from its vendor, as hwloc would name its OS device. */
static const char *
s_gpu_kind(const char *vendor)
{
    if (!vendor)
        return "cuda";
    if (!strcasecmp(vendor, "nvidia"))
        return "cuda";
    if (!strcasecmp(vendor, "amd"))
        return "rsmi";
    if (!strcasecmp(vendor, "intel"))
        return "levelzero";
    return "opencl";
}

static int
s_cmp_keys(const void *a, const void *b)
{
    return strverscmp(*(const char *const *)a, *(const char *const *)b);
}

/* gpus: from gpu_devices, in the natural order of their keys (nvidia0, nvidia1, ...). */
static int
s_read_gpus(const ad_doc_t *doc, const json_t *node, const char *base, json_t *prof)
{
    const ad_doc_want_t obj = {.kind = AD_DOC_OBJ, .what = "a mapping {model, vendor, memory}"};
    json_t *devs, *list = json_array(), *g;
    const char *key, **keys;
    char pg[160];
    size_t n = 0;
    int rc = 0, cuda = 0;

    json_object_set_new(prof, "gpus", list);
    ad_doc_path(pg, sizeof(pg), base, "gpu_devices");
    S_TRY(ad_doc_get_obj(doc, node, base, "gpu_devices", false, &devs));
    if (!devs)
        return 0;
    keys = ad_calloc(json_object_size(devs) + 1, sizeof(*keys));
    json_object_foreach(devs, key, g) keys[n++] = key;
    qsort(keys, n, sizeof(*keys), s_cmp_keys);
    for (size_t i = 0; i < n && !rc; i++) {
        char p[240], *model = NULL, *vendor = NULL;
        uint64_t mem = 0;
        json_t *d = json_object_get(devs, keys[i]), *o;

        ad_doc_path(p, sizeof(p), pg, keys[i]);
        rc = ad_doc_check_at(doc, p, d, &obj, &d);
        if (!rc)
            rc = ad_doc_get_str(doc, d, p, "model", true, &model);
        if (!rc)
            rc = ad_doc_get_str(doc, d, p, "vendor", false, &vendor);
        if (!rc)
            rc = ad_doc_get_size(doc, d, p, "memory", false, &mem);
        if (!rc) {
            const char *kind = s_gpu_kind(vendor);

            o = json_pack("{s:s s:s}", "name", model, "kind", kind);
            if (!strcmp(kind, "cuda"))
                json_object_set_new(o, "index", json_integer(cuda++));
            if (mem)
                json_object_set_new(o, "memory_bytes", json_integer((json_int_t)mem));
            json_array_append_new(list, o);
        }
        free(model);
        free(vendor);
    }
    free(keys);
    return rc;
}

/* One adapter of network_adapters[] into list when it is usable by jobs; its address's site. */
static int
s_read_adapter(const ad_doc_t *doc, const json_t *a, const char *p, json_t *list, s_node_t *out)
{
    const ad_doc_want_t rate = {
        .kind = AD_DOC_REAL, .rmin = 0, .rmax = 1e15, .what = "a rate in bit/s (e.g. 25000000000)"};
    bool enabled = true, management = false, mountable = true;
    char *iface = NULL, *name = NULL, *addr = NULL;
    double bps = 0;
    int rc;

    rc = ad_doc_get_bool(doc, a, p, "enabled", &enabled);
    if (!rc)
        rc = ad_doc_get_bool(doc, a, p, "management", &management);
    if (!rc)
        rc = ad_doc_get_bool(doc, a, p, "mountable", &mountable);
    if (!rc)
        rc = ad_doc_get(doc, a, p, "rate", false, &rate, &bps);
    if (!rc)
        rc = ad_doc_get_str(doc, a, p, "interface", false, &iface);
    if (!rc)
        rc = ad_doc_get_str(doc, a, p, "name", false, &name);
    if (!rc && !name)
        rc = ad_doc_get_str(doc, a, p, "device", false, &name);
    if (!rc)
        rc = ad_doc_get_str(doc, a, p, "network_address", false, &addr);
    if (!rc && enabled && !management && mountable) {
        const char *kind = !iface                             ? "other"
                           : !strcasecmp(iface, "Ethernet")   ? "ethernet"
                           : !strcasecmp(iface, "InfiniBand") ? "infiniband"
                                                              : "other";
        json_t *o = json_pack("{s:s s:s}", "name", name ? name : "", "kind", kind);

        if (bps > 0)
            json_object_set_new(o, "gbps", json_real(bps / 1e9));
        json_array_append_new(list, o);
        if (!out->site)
            out->site = s_site_of_address(addr);
    }
    free(iface);
    free(name);
    free(addr);
    return rc;
}

/* network: the enabled, mountable adapters that are not the management (BMC) port. */
static int
s_read_network(const ad_doc_t *doc, const json_t *node, const char *base, json_t *prof,
               s_node_t *out)
{
    const ad_doc_want_t obj = {.kind = AD_DOC_OBJ,
                               .what = "a mapping {interface, rate, enabled, mountable, ...}"};
    json_t *adapters, *list = json_array(), *a;
    char pn[160];
    size_t i;

    json_object_set_new(prof, "network", list);
    ad_doc_path(pn, sizeof(pn), base, "network_adapters");
    S_TRY(ad_doc_get_array(doc, node, base, "network_adapters", &adapters));
    json_array_foreach(adapters, i, a)
    {
        char p[200];

        snprintf(p, sizeof(p), "%s[%zu]", pn, i);
        S_TRY(ad_doc_check_at(doc, p, a, &obj, &a));
        S_TRY(s_read_adapter(doc, a, p, list, out));
    }
    return 0;
}

/* One node's description at path base ("" or "items[0]") into out. */
static int
s_read_node(const ad_doc_t *doc, const json_t *node, const char *base, s_node_t *out)
{
    const ad_doc_want_t obj = {.kind = AD_DOC_OBJ,
                               .what = "a node description (a mapping of " S_KEYS ", ...)"};
    uint64_t ram = 0;
    json_t *mem;
    char pm[160];

    memset(out, 0, sizeof(*out));
    out->prof = json_object();
    S_TRY(ad_doc_check_at(doc, base, node, &obj, &node));
    S_TRY(ad_doc_get_str(doc, node, base, "uid", false, &out->uid));
    S_TRY(ad_doc_get_str(doc, node, base, "cluster", false, &out->cluster));
    S_TRY(s_read_cpu(doc, node, base, out->prof));
    ad_doc_path(pm, sizeof(pm), base, "main_memory");
    S_TRY(ad_doc_get_obj(doc, node, base, "main_memory", true, &mem));
    S_TRY(ad_doc_get_size(doc, mem, pm, "ram_size", true, &ram));
    if (ram == 0) {
        char p[200];

        ad_doc_path(p, sizeof(p), pm, "ram_size");
        return ad_doc_fail(doc, p, false, "must be more than 0 bytes, got 0");
    }
    json_object_set_new(out->prof, "memory_bytes", json_integer((json_int_t)ram));
    S_TRY(s_read_gpus(doc, node, base, out->prof));
    S_TRY(s_read_network(doc, node, base, out->prof, out));
    s_from_links(node, out);
    if (!out->cluster)
        out->cluster = s_cluster_of_uid(out->uid);
    return 0;
}

/* A profile from a node's JSON form; NULL when the profile reader refuses it. */
static ad_profile_t *
s_profile(const json_t *prof, ad_err_t *err)
{
    ad_profile_t *p = NULL;

    json_object_set_new((json_t *)prof, "format", json_integer(AD_PROFILE_FORMAT));
    if (ad_profile_from_json((json_t *)prof, &p, err))
        return NULL;
    return p;
}

/* How many of the listing's other items share the first item's hardware; the others named. */
static void
s_count_listing(const ad_doc_t *doc, const json_t *items, const char *fp, ad_g5k_ref_t *out)
{
    size_t cap = 256, len = 0, i;
    char *others = ad_calloc(1, cap);
    json_t *item;

    out->listed = (int)json_array_size(items);
    out->same = 1;
    json_array_foreach(items, i, item)
    {
        char path[32];
        s_node_t n;
        ad_err_t ignore = {0};
        ad_profile_t *p = NULL;
        bool same;

        if (i == 0)
            continue;
        snprintf(path, sizeof(path), "items[%zu]", i);
        /* The other items are only compared: a broken one counts as other hardware. */
        same = !s_read_node(doc, item, path, &n) && (p = s_profile(n.prof, &ignore)) &&
               !strcmp(ad_profile_fingerprint(p), fp);
        if (same) {
            out->same++;
        } else {
            const char *uid = n.uid ? n.uid : path;
            size_t need = len + strlen(uid) + 3;

            if (need > cap) {
                cap = 2 * need;
                others = ad_realloc(others, cap);
            }
            len += (size_t)snprintf(others + len, cap - len, "%s%s", len ? ", " : "", uid);
        }
        ad_profile_free(&p);
        s_node_clear(&n);
    }
    if (len)
        out->others = others;
    else
        free(others);
}

/* The profile of out's node with its cluster: section and source: text. */
static int
s_finish(const ad_doc_t *doc, s_node_t *n, const ad_g5k_ref_opts_t *opts, ad_g5k_ref_t *out,
         int nodes, ad_err_t *err)
{
    const char *name = opts && opts->name ? opts->name : n->cluster;
    json_t *c;

    if (!name)
        return ad_doc_fail_at(doc, "", false,
                              "no cluster name: the description has no cluster, links or "
                              "uid (give --name NAME)");
    if (!ad_g5k_ref_name_ok(name))
        return ad_doc_fail_at(doc, "", false,
                              "cluster name \"%.80s\" must be 1-63 lowercase letters, digits, "
                              "'-' or '_' (give --name NAME)",
                              name);
    c = json_pack("{s:s s:i}", "name", name, "nodes", nodes);
    if (n->site)
        json_object_set_new(c, "site", json_string(n->site));
    json_object_set_new(n->prof, "cluster", c);
    json_object_set_new(n->prof, "source",
                        json_sprintf("description of Grid'5000 %s%s%s imported from the "
                                     "reference API (%s), not a measurement",
                                     n->site ? n->site : "", n->site ? " " : "", name,
                                     n->uid ? n->uid : "node"));
    out->profile = s_profile(n->prof, err);
    if (!out->profile)
        return err->code ? err->code : AD_EPARSE;
    out->cluster = ad_strdup(name);
    out->site = n->site ? ad_strdup(n->site) : NULL;
    out->uid = n->uid ? ad_strdup(n->uid) : NULL;
    return 0;
}

/* The description in doc (one node, or a listing) into out. */
static int
s_read_doc(const ad_doc_t *doc, const ad_g5k_ref_opts_t *opts, ad_g5k_ref_t *out, ad_err_t *err)
{
    const json_t *root = ad_doc_root(doc), *node = root;
    const char *base = "";
    json_t *items = NULL;
    s_node_t n;
    int rc, nodes;

    if (json_is_object(root))
        S_TRY(ad_doc_get_array(doc, root, "", "items", &items));
    if (items) {
        if (json_array_size(items) == 0)
            return ad_doc_fail_at(doc, "items", false,
                                  "items must list at least one node, got an empty list");
        node = json_array_get(items, 0);
        base = "items[0]";
    }
    rc = s_read_node(doc, node, base, &n);
    if (rc)
        goto out_node;
    nodes = opts && opts->nodes > 0 ? opts->nodes : 1;
    if (items) {
        /* The fingerprint of the first node before its cluster: section is added. */
        ad_profile_t *first = s_profile(n.prof, err);

        if (!first) {
            rc = err->code ? err->code : AD_EPARSE;
            goto out_node;
        }
        s_count_listing(doc, items, ad_profile_fingerprint(first), out);
        ad_profile_free(&first);
        /* A broken item only counts as other hardware: its message is not the result. */
        memset(err, 0, sizeof(*err));
        if (!(opts && opts->nodes > 0))
            nodes = out->same;
    }
    rc = s_finish(doc, &n, opts, out, nodes, err);
out_node:
    s_node_clear(&n);
    return rc;
}

int
ad_g5k_ref_parse(const char *text, size_t len, const char *name, const ad_g5k_ref_opts_t *opts,
                 ad_g5k_ref_t *out, ad_err_t *err)
{
    json_error_t jerr;
    json_t *json;
    ad_doc_t *doc = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    json = json_loadb(text, len, 0, &jerr);
    if (!json)
        return ad_err_set(err, AD_EPARSE, "%s:%d:%d: invalid JSON: %s", name,
                          jerr.line > 0 ? jerr.line : 1, jerr.column > 0 ? jerr.column : 1,
                          jerr.text);
    if (ad_doc_parse_yaml(text, len, name, "reference-API description", S_KEYS, AD_DOC_KEYS_LATER,
                          &doc, err)) {
        /* Valid JSON that YAML refuses: check the fields without places. */
        memset(err, 0, sizeof(*err));
        doc = ad_doc_wrap(json, name, err);
    }
    json_decref(json);
    rc = s_read_doc(doc, opts, out, err);
    ad_doc_free(&doc);
    if (rc)
        ad_g5k_ref_clear(out);
    return rc;
}

int
ad_g5k_ref_load(const char *path, const ad_g5k_ref_opts_t *opts, ad_g5k_ref_t *out, ad_err_t *err)
{
    char *text = NULL;
    size_t len = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = ad_doc_read_file(path, "reference-API description", S_FILE_MAX, &text, &len, err);
    if (rc)
        return rc;
    rc = ad_g5k_ref_parse(text, len, path, opts, out, err);
    free(text);
    return rc;
}

void
ad_g5k_ref_clear(ad_g5k_ref_t *ref)
{
    if (!ref)
        return;
    ad_profile_free(&ref->profile);
    free(ref->cluster);
    free(ref->site);
    free(ref->uid);
    free(ref->others);
    memset(ref, 0, sizeof(*ref));
}
