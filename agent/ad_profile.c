/* ad_profile.c - hardware profile: hwloc topology, hardware-class fingerprint, YAML/JSON forms */
#include "autodist/ad_profile.h"

#include <assert.h>
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

#include <hwloc.h>
#include <yaml.h>

#include "autodist/ad_log.h"

/* Profiles are a few kilobytes even with many cores; anything this large is the wrong file. */
#define S_FILE_MAX (4 << 20)
/* Deeper nesting than any profile has: the mark of a runaway (or cyclic) document. */
#define S_DEPTH_MAX 16
#define S_GIB (UINT64_C(1) << 30)

struct ad_profile {
    char *hostname;                          /* "" for cluster descriptions */
    char *source;                            /* free text: who measured or wrote it */
    char fingerprint[AD_PROFILE_FP_LEN + 1]; /* derived from the hardware fields */
    char *cluster_site;     /* cluster descriptions: site, e.g. "nancy"; else NULL */
    char *cluster_name;     /* cluster name, e.g. "gros"; NULL when not a cluster */
    char *cluster_hosts;    /* host pattern, e.g. "gros-[1-124].nancy.grid5000.fr" */
    int cluster_nodes;      /* nodes of this class in the cluster; 0 when not a cluster */
    char *cpu_model;        /* CPU model name */
    int sockets;            /* packages */
    int cores;              /* physical cores */
    int pus;                /* hardware threads */
    int numa_nodes;         /* NUMA nodes */
    double cpu_ghz;         /* nominal/maximum frequency; 0 when unknown */
    uint64_t cache[4];      /* [1] L1d, [2] L2, [3] L3 bytes; 0 when absent */
    uint64_t memory_bytes;  /* main memory */
    ad_profile_gpu_t *gpus; /* n_gpus entries, strings owned */
    int n_gpus;
    ad_profile_net_t *nets; /* n_nets entries, strings owned */
    int n_nets;
    ad_profile_core_t *core_map; /* n_core_map entries (0 or cores), pus owned */
    int n_core_map;
    ad_profile_bench_t bench; /* valid when has_bench */
    bool has_bench;
};

static ad_profile_t *
s_new(void)
{
    ad_profile_t *self = ad_calloc(1, sizeof(*self));

    self->hostname = ad_strdup("");
    self->source = ad_strdup("");
    self->cpu_model = ad_strdup("");
    return self;
}

void
ad_profile_free(ad_profile_t **self_p)
{
    ad_profile_t *self;

    if (!self_p || !*self_p)
        return;
    self = *self_p;
    free(self->hostname);
    free(self->source);
    free(self->cluster_site);
    free(self->cluster_name);
    free(self->cluster_hosts);
    free(self->cpu_model);
    for (int i = 0; i < self->n_gpus; i++) {
        free((char *)self->gpus[i].name);
        free((char *)self->gpus[i].kind);
    }
    free(self->gpus);
    for (int i = 0; i < self->n_nets; i++) {
        free((char *)self->nets[i].name);
        free((char *)self->nets[i].kind);
    }
    free(self->nets);
    for (int i = 0; i < self->n_core_map; i++)
        free((int *)self->core_map[i].pus);
    free(self->core_map);
    free(self);
    *self_p = NULL;
}

/* ---------------------------------------------------------------- fingerprint */

/* FNV-1a, 64 bits: stable across hosts, compilers and releases, which is all a class key needs. */
static uint64_t
s_fnv(uint64_t h, const char *s)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

/* s with runs of blanks folded to one space and no blanks at the ends; owned. */
static char *
s_squeeze(const char *s)
{
    char *out = ad_malloc(strlen(s) + 1), *o = out;

    while (isspace((unsigned char)*s))
        s++;
    for (; *s; s++) {
        if (isspace((unsigned char)*s)) {
            while (isspace((unsigned char)s[1]))
                s++;
            if (s[1])
                *o++ = ' ';
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
    return out;
}

static int
s_strcmp_p(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The hardware class: CPU model, sockets, cores, PUs, NUMA nodes, memory to
 * the nearest GiB and the sorted GPU models.  Host names, caches, network,
 * the core numbering and benchmark figures stay out, so identical machines
 * agree and a cluster description matches the nodes it describes.
 */
static void
s_fingerprint(ad_profile_t *self)
{
    char buf[160];
    char *model = s_squeeze(self->cpu_model);
    char **names = ad_calloc((size_t)self->n_gpus + 1, sizeof(*names));
    uint64_t h = UINT64_C(0xcbf29ce484222325);

    snprintf(buf, sizeof(buf), "autodist-hw-v1|sockets=%d|cores=%d|pus=%d|numa=%d|mem_gib=%" PRIu64,
             self->sockets, self->cores, self->pus, self->numa_nodes,
             (self->memory_bytes + S_GIB / 2) / S_GIB);
    h = s_fnv(h, buf);
    h = s_fnv(h, "|cpu=");
    h = s_fnv(h, model);
    for (int i = 0; i < self->n_gpus; i++)
        names[i] = s_squeeze(self->gpus[i].name);
    qsort(names, (size_t)self->n_gpus, sizeof(*names), s_strcmp_p);
    for (int i = 0; i < self->n_gpus; i++) {
        h = s_fnv(h, "|gpu=");
        h = s_fnv(h, names[i]);
        free(names[i]);
    }
    free(names);
    free(model);
    snprintf(self->fingerprint, sizeof(self->fingerprint), "%016" PRIx64, h);
}

/* ---------------------------------------------------------------- detection */

/* First "key : value" line of /proc/cpuinfo for key; owned, or NULL. */
static char *
s_cpuinfo(const char *key)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    char *value = NULL;
    size_t len = strlen(key);

    if (!f)
        return NULL;
    while (!value && fgets(line, sizeof(line), f)) {
        char *colon = strchr(line, ':');

        if (strncmp(line, key, len) || !colon)
            continue;
        line[strcspn(line, "\n")] = '\0';
        value = s_squeeze(colon + 1);
    }
    fclose(f);
    return value;
}

/* An integer read from a one-line sysfs file; fallback when absent or unreadable. */
static long long
s_sysfs_ll(const char *path, long long fallback)
{
    FILE *f = fopen(path, "r");
    long long v;

    if (!f)
        return fallback;
    if (fscanf(f, "%lld", &v) != 1)
        v = fallback;
    fclose(f);
    return v;
}

static int
s_gpu_kind_rank(const char *kind)
{
    static const char *const order[] = {"cuda", "levelzero", "rsmi", "nvml", "opencl", NULL};

    for (int i = 0; order[i]; i++)
        if (!strcmp(kind, order[i]))
            return i;
    return 99;
}

/* The GPU behind one PCI device, if it is one that can compute; false otherwise. */
static bool
s_detect_gpu(hwloc_topology_t topo, hwloc_obj_t pci, ad_profile_gpu_t *gpu)
{
    unsigned cls = pci->attr->pcidev.class_id, vendor = pci->attr->pcidev.vendor_id;
    const char *name = NULL;
    char kind[32] = "";
    bool compute = false, any = false;
    uint64_t mem = 0;
    int index = -1;

    for (hwloc_obj_t os = NULL; (os = hwloc_get_next_osdev(topo, os));) {
        hwloc_obj_t up = os->parent;
        const char *v;
        char sub[32];

        while (up && up->type != HWLOC_OBJ_PCI_DEVICE)
            up = up->parent;
        if (up != pci)
            continue;
        if (os->attr->osdev.type != HWLOC_OBJ_OSDEV_GPU &&
            os->attr->osdev.type != HWLOC_OBJ_OSDEV_COPROC)
            continue;
        any = true;
        snprintf(sub, sizeof(sub), "%s", os->subtype ? os->subtype : "display");
        for (char *c = sub; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        if (os->attr->osdev.type == HWLOC_OBJ_OSDEV_COPROC || s_gpu_kind_rank(sub) < 99)
            compute = true;
        if (!*kind || s_gpu_kind_rank(sub) < s_gpu_kind_rank(kind))
            snprintf(kind, sizeof(kind), "%s", sub);
        if ((v = hwloc_obj_get_info_by_name(os, "GPUModel")))
            name = v;
        if ((v = hwloc_obj_get_info_by_name(os, "CUDAGlobalMemorySize")))
            mem = strtoull(v, NULL, 10) * 1024;
        else if (!mem && (v = hwloc_obj_get_info_by_name(os, "OpenCLGlobalMemorySize")))
            mem = strtoull(v, NULL, 10) * 1024;
        if (!strncmp(os->name, "cuda", 4) && isdigit((unsigned char)os->name[4]))
            index = atoi(os->name + 4);
    }
    /*
     * A board's management VGA (ASPEED, Matrox) shows up as a display GPU and
     * must not count as a place to train; 3D controllers and NVIDIA/AMD
     * display devices do, even where hwloc lacks the CUDA plugin.
     */
    if (!compute && cls != 0x0302 &&
        !((cls >> 8) == 0x03 && (vendor == 0x10de || vendor == 0x1002)))
        return false;
    if (!name)
        name = hwloc_obj_get_info_by_name(pci, "PCIDevice");
    if (!name)
        name = pci->name ? pci->name : "unknown GPU";
    gpu->name = s_squeeze(name);
    gpu->kind = ad_strdup(*kind ? kind : any ? "display" : "pci");
    gpu->index = index;
    gpu->memory_bytes = mem;
    return true;
}

static void
s_detect_io(hwloc_topology_t topo, ad_profile_t *self)
{
    for (hwloc_obj_t pci = NULL; (pci = hwloc_get_next_pcidev(topo, pci));) {
        ad_profile_gpu_t gpu;

        if (!s_detect_gpu(topo, pci, &gpu))
            continue;
        self->gpus = ad_realloc(self->gpus, ((size_t)self->n_gpus + 1) * sizeof(*self->gpus));
        self->gpus[self->n_gpus++] = gpu;
    }
    for (hwloc_obj_t os = NULL; (os = hwloc_get_next_osdev(topo, os));) {
        ad_profile_net_t *net;
        char path[300];
        long long type, speed;

        if (os->attr->osdev.type != HWLOC_OBJ_OSDEV_NETWORK || !os->name)
            continue;
        snprintf(path, sizeof(path), "/sys/class/net/%s/type", os->name);
        type = s_sysfs_ll(path, 0);
        snprintf(path, sizeof(path), "/sys/class/net/%s/speed", os->name);
        speed = s_sysfs_ll(path, -1);
        self->nets = ad_realloc(self->nets, ((size_t)self->n_nets + 1) * sizeof(*self->nets));
        net = &self->nets[self->n_nets++];
        net->name = ad_strdup(os->name);
        net->kind = ad_strdup(type == 1 ? "ethernet" : type == 32 ? "infiniband" : "other");
        /* Virtual NICs report -1 or nothing: unknown, not zero-speed. */
        net->gbps = speed > 0 ? (double)speed / 1000.0 : 0;
    }
}

static void
s_detect_core_map(hwloc_topology_t topo, ad_profile_t *self)
{
    int depth = hwloc_get_type_depth(topo, HWLOC_OBJ_CORE);
    hwloc_obj_type_t unit =
        depth >= 0 && hwloc_get_nbobjs_by_depth(topo, depth) > 0 ? HWLOC_OBJ_CORE : HWLOC_OBJ_PU;
    int n = hwloc_get_nbobjs_by_type(topo, unit);

    self->core_map = ad_calloc((size_t)n, sizeof(*self->core_map));
    self->n_core_map = n;
    for (int i = 0; i < n; i++) {
        hwloc_obj_t core = hwloc_get_obj_by_type(topo, unit, (unsigned)i);
        hwloc_obj_t pkg = hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_PACKAGE, core);
        ad_profile_core_t *c = &self->core_map[i];
        int n_pus = hwloc_get_nbobjs_inside_cpuset_by_type(topo, core->cpuset, HWLOC_OBJ_PU);
        int *pus = ad_calloc((size_t)(n_pus > 0 ? n_pus : 1), sizeof(*pus));
        hwloc_obj_t pu = NULL;
        int k = 0;

        c->socket = pkg ? (int)pkg->logical_index : 0;
        c->numa = -1;
        for (hwloc_obj_t node = NULL;
             (node = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE, node));) {
            if (hwloc_bitmap_intersects(node->cpuset, core->cpuset)) {
                c->numa = (int)node->logical_index;
                break;
            }
        }
        while (k < n_pus && (pu = hwloc_get_next_obj_inside_cpuset_by_type(topo, core->cpuset,
                                                                           HWLOC_OBJ_PU, pu)))
            pus[k++] = (int)pu->os_index;
        c->n_pus = k;
        c->pus = pus;
    }
}

static uint64_t
s_cache_size(hwloc_topology_t topo, hwloc_obj_type_t type)
{
    for (hwloc_obj_t o = NULL; (o = hwloc_get_next_obj_by_type(topo, type, o));)
        if (o->attr->cache.type != HWLOC_OBJ_CACHE_INSTRUCTION)
            return o->attr->cache.size;
    return 0;
}

int
ad_profile_detect(ad_profile_t **out, ad_err_t *err)
{
    hwloc_topology_t topo;
    hwloc_obj_t pkg;
    ad_profile_t *self;
    char host[256] = "", buf[300];
    const char *model = NULL;
    char *cpuinfo_model = NULL;
    long long khz;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);

    *out = NULL;
    if (hwloc_topology_init(&topo) < 0)
        return ad_err_set(err, AD_EDEVICE, "hwloc: cannot start a topology: %s", strerror(errno));
    hwloc_topology_set_io_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
    if (hwloc_topology_load(topo) < 0) {
        int e = errno;

        hwloc_topology_destroy(topo);
        return ad_err_set(err, AD_EDEVICE, "hwloc: cannot read this machine's topology: %s",
                          strerror(e));
    }
    self = s_new();
    if (gethostname(host, sizeof(host) - 1) == 0)
        host[sizeof(host) - 1] = '\0';
    free(self->hostname);
    self->hostname = ad_strdup(host);
    pkg = hwloc_get_obj_by_type(topo, HWLOC_OBJ_PACKAGE, 0);
    if (pkg)
        model = hwloc_obj_get_info_by_name(pkg, "CPUModel");
    if (!model || !*model)
        model = cpuinfo_model = s_cpuinfo("model name");
    free(self->cpu_model);
    self->cpu_model = s_squeeze(model && *model ? model : "unknown CPU");
    free(cpuinfo_model);
    self->pus = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
    self->cores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
    self->sockets = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PACKAGE);
    self->numa_nodes = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
    /* Some VMs and architectures expose PUs only: each one is then its own core. */
    if (self->pus < 1)
        self->pus = 1;
    if (self->cores < 1)
        self->cores = self->pus;
    if (self->sockets < 1)
        self->sockets = 1;
    if (self->numa_nodes < 1)
        self->numa_nodes = 1;
    self->cache[1] = s_cache_size(topo, HWLOC_OBJ_L1CACHE);
    self->cache[2] = s_cache_size(topo, HWLOC_OBJ_L2CACHE);
    self->cache[3] = s_cache_size(topo, HWLOC_OBJ_L3CACHE);
    self->memory_bytes = hwloc_get_root_obj(topo)->total_memory;
    /* Some sandboxes give the NUMA nodes less than the kernel's MemTotal; trust the larger. */
    if (pages > 0 && page > 0 && (uint64_t)pages * (uint64_t)page > self->memory_bytes)
        self->memory_bytes = (uint64_t)pages * (uint64_t)page;
    khz = s_sysfs_ll("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq", 0);
    self->cpu_ghz = khz > 0 ? round((double)khz / 1e4) / 100 : 0;
    s_detect_core_map(topo, self);
    s_detect_io(topo, self);
    s_fingerprint(self);
    free(self->source);
    snprintf(buf, sizeof(buf), "measured by autodist on %s (hwloc %u.%u.%u)", host,
             hwloc_get_api_version() >> 16, (hwloc_get_api_version() >> 8) & 0xff,
             hwloc_get_api_version() & 0xff);
    self->source = ad_strdup(buf);
    hwloc_topology_destroy(topo);
    *out = self;
    return 0;
}

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

/* Where one value of a YAML document was, by its dotted path ("cpu.cores", "gpus[1].name"). */
typedef struct {
    char *path;        /* owned */
    yaml_mark_t key;   /* the key naming it (the value itself for list items) */
    yaml_mark_t value; /* the value */
    char *raw;         /* a plain scalar's text, owned; NULL otherwise */
} s_mark_t;

/* What a read needs to say where its errors are. */
typedef struct {
    const char *file; /* NULL for JSON input: messages start with "profile: " */
    s_mark_t *marks;  /* YAML only */
    size_t n_marks;
    ad_err_t *err;
} s_ctx_t;

static const s_mark_t *
s_find(const s_ctx_t *ctx, const char *path)
{
    /* Latest first: a duplicate key is reported where it is repeated. */
    for (size_t i = ctx->n_marks; i-- > 0;)
        if (!strcmp(ctx->marks[i].path, path))
            return &ctx->marks[i];
    return NULL;
}

/*
 * Fail with AD_EPARSE: "FILE:LINE:COL: PATH: message" (at the key when
 * at_key, else at the value), or "profile: PATH: message" for JSON.  A path
 * that was never written (a missing key) is placed at its nearest parent.
 */
static int __attribute__((format(printf, 4, 5)))
s_fail(const s_ctx_t *ctx, const char *path, bool at_key, const char *fmt, ...)
{
    char what[400], where[300];
    const s_mark_t *m = NULL;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (ctx->file) {
        char p[200];

        snprintf(p, sizeof(p), "%s", path);
        while (!(m = s_find(ctx, p)) && *p) {
            char *cut = p + strlen(p);

            while (cut > p && cut[-1] != '.' && cut[-1] != '[')
                cut--;
            if (cut > p)
                cut--;
            *cut = '\0';
            at_key = false;
        }
        if (m) {
            yaml_mark_t mk = at_key ? m->key : m->value;

            snprintf(where, sizeof(where), "%s:%zu:%zu", ctx->file, mk.line + 1, mk.column + 1);
        } else {
            snprintf(where, sizeof(where), "%s:1:1", ctx->file);
        }
    } else {
        snprintf(where, sizeof(where), "profile");
    }
    if (*path)
        return ad_err_set(ctx->err, AD_EPARSE, "%s: %s: %s", where, path, what);
    return ad_err_set(ctx->err, AD_EPARSE, "%s: %s", where, what);
}

/* What a value is, for the "got ..." end of messages; in buf. */
static const char *
s_got(const s_ctx_t *ctx, const char *path, const json_t *v, char *buf, size_t len)
{
    const s_mark_t *m = ctx->file ? s_find(ctx, path) : NULL;

    if (m && m->raw) {
        snprintf(buf, len, "\"%.48s\"", m->raw);
        return buf;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "a mapping";
    case JSON_ARRAY:
        return "a list";
    case JSON_NULL:
        return "an empty value";
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    case JSON_STRING:
        snprintf(buf, len, "the string \"%.48s\"", json_string_value(v));
        return buf;
    case JSON_INTEGER:
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    default:
        snprintf(buf, len, "%g", json_real_value(v));
        return buf;
    }
}

static void
s_path(char *buf, size_t len, const char *parent, const char *key)
{
    snprintf(buf, len, "%s%s%s", parent, *parent ? "." : "", key);
}

/* Refuse keys of obj outside the NULL-terminated list allowed. */
static int
s_check_keys(const s_ctx_t *ctx, const json_t *obj, const char *parent, const char *const *allowed,
             const char *expected)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)obj, key, v)
    {
        bool ok = false;
        char p[200];

        for (int i = 0; allowed[i] && !ok; i++)
            ok = !strcmp(key, allowed[i]);
        if (!ok) {
            s_path(p, sizeof(p), parent, key);
            return s_fail(ctx, p, true, "unknown key, expected one of: %s", expected);
        }
    }
    return 0;
}

/* The object at parent.key, which must be a mapping when present; *out NULL when absent. */
static int
s_get_obj(const s_ctx_t *ctx, const json_t *obj, const char *parent, const char *key, bool required,
          json_t **out)
{
    json_t *v = json_object_get(obj, key);
    char p[200], got[80];

    s_path(p, sizeof(p), parent, key);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required)
            return s_fail(ctx, parent, false, "missing key \"%s\"", key);
        return 0;
    }
    if (!json_is_object(v))
        return s_fail(ctx, p, false, "expected a mapping, got %s", s_got(ctx, p, v, got, 80));
    *out = v;
    return 0;
}

static int
s_get_array(const s_ctx_t *ctx, const json_t *obj, const char *parent, const char *key,
            json_t **out)
{
    json_t *v = json_object_get(obj, key);
    char p[200], got[80];

    s_path(p, sizeof(p), parent, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return s_fail(ctx, p, false, "expected a list, got %s", s_got(ctx, p, v, got, 80));
    *out = v;
    return 0;
}

/* A string (in YAML, any plain scalar: `model: 5220` is the text "5220"); owned in *out. */
static int
s_get_str(const s_ctx_t *ctx, const json_t *obj, const char *parent, const char *key, bool required,
          char **out)
{
    json_t *v = json_object_get(obj, key);
    char p[200], got[80];
    const s_mark_t *m;

    s_path(p, sizeof(p), parent, key);
    if (!v || json_is_null(v)) {
        if (required)
            return s_fail(ctx, parent, false, "missing key \"%s\"", key);
        return 0;
    }
    m = ctx->file ? s_find(ctx, p) : NULL;
    if (json_is_string(v)) {
        free(*out);
        *out = ad_strdup(json_string_value(v));
        return 0;
    }
    if (m && m->raw) {
        free(*out);
        *out = ad_strdup(m->raw);
        return 0;
    }
    return s_fail(ctx, p, false, "expected a string, got %s", s_got(ctx, p, v, got, 80));
}

static int
s_get_int(const s_ctx_t *ctx, const json_t *obj, const char *parent, const char *key, bool required,
          json_int_t min, json_int_t max, json_int_t *out)
{
    json_t *v = json_object_get(obj, key);
    char p[200], got[80];

    s_path(p, sizeof(p), parent, key);
    if (!v || json_is_null(v)) {
        if (required)
            return s_fail(ctx, parent, false, "missing key \"%s\"", key);
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        if (max == INT32_MAX)
            return s_fail(ctx, p, false,
                          "expected an integer of at least %" JSON_INTEGER_FORMAT ", got %s", min,
                          s_got(ctx, p, v, got, 80));
        return s_fail(ctx, p, false,
                      "expected an integer from %" JSON_INTEGER_FORMAT " to %" JSON_INTEGER_FORMAT
                      ", got %s",
                      min, max, s_got(ctx, p, v, got, 80));
    }
    *out = json_integer_value(v);
    return 0;
}

static int
s_get_real(const s_ctx_t *ctx, const json_t *obj, const char *parent, const char *key,
           bool positive, double *out)
{
    json_t *v = json_object_get(obj, key);
    char p[200], got[80];

    s_path(p, sizeof(p), parent, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_number(v) || !isfinite(json_number_value(v)) || json_number_value(v) < 0 ||
        (positive && json_number_value(v) == 0))
        return s_fail(ctx, p, false, "expected a %s number, got %s",
                      positive ? "positive" : "non-negative", s_got(ctx, p, v, got, 80));
    *out = json_number_value(v);
    return 0;
}

static int
s_get_bool(const s_ctx_t *ctx, const json_t *obj, const char *parent, const char *key, bool *out)
{
    json_t *v = json_object_get(obj, key);
    char p[200], got[80];

    s_path(p, sizeof(p), parent, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return s_fail(ctx, p, false, "expected true or false, got %s", s_got(ctx, p, v, got, 80));
    *out = json_is_true(v);
    return 0;
}

/*
 * A byte count: an integer, or a number and a unit as people write them in
 * descriptions ("96 GiB", "24.75 MiB", "1.5 GB").
 */
static int
s_get_size(const s_ctx_t *ctx, const json_t *obj, const char *parent, const char *key,
           bool required, uint64_t *out)
{
    static const struct {
        const char *unit;
        double scale;
    } units[] = {{"B", 1},
                 {"KiB", 1024.0},
                 {"MiB", 1048576.0},
                 {"GiB", 1073741824.0},
                 {"TiB", 1099511627776.0},
                 {"KB", 1e3},
                 {"kB", 1e3},
                 {"MB", 1e6},
                 {"GB", 1e9},
                 {"TB", 1e12}};
    json_t *v = json_object_get(obj, key);
    char p[200], got[80];

    s_path(p, sizeof(p), parent, key);
    if (!v || json_is_null(v)) {
        if (required)
            return s_fail(ctx, parent, false, "missing key \"%s\"", key);
        return 0;
    }
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (uint64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        double n = strtod(s, &end);

        while (*end == ' ')
            end++;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            if (end != s && isfinite(n) && n >= 0 && !strcmp(end, units[i].unit) &&
                n * units[i].scale < 9.2e18) {
                *out = (uint64_t)llround(n * units[i].scale);
                return 0;
            }
        }
    }
    return s_fail(ctx, p, false,
                  "expected a size in bytes (an integer, or a number and a unit such as "
                  "\"96 GiB\"), got %s",
                  s_got(ctx, p, v, got, 80));
}

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
s_read_cpu(const s_ctx_t *ctx, const json_t *root, ad_profile_t *p)
{
    static const char *const keys[] = {"model",      "sockets", "cores", "pus",
                                       "numa_nodes", "ghz",     NULL};
    json_t *cpu;
    json_int_t n;

    S_TRY(s_get_obj(ctx, root, "", "cpu", true, &cpu));
    S_TRY(s_check_keys(ctx, cpu, "cpu", keys, "model, sockets, cores, pus, numa_nodes, ghz"));
    S_TRY(s_get_str(ctx, cpu, "cpu", "model", true, &p->cpu_model));
    S_TRY(s_get_int(ctx, cpu, "cpu", "sockets", true, 1, 4096, &n));
    p->sockets = (int)n;
    S_TRY(s_get_int(ctx, cpu, "cpu", "cores", true, 1, 1 << 20, &n));
    p->cores = (int)n;
    n = p->cores;
    S_TRY(s_get_int(ctx, cpu, "cpu", "pus", false, 1, 1 << 22, &n));
    p->pus = (int)n;
    n = 1;
    S_TRY(s_get_int(ctx, cpu, "cpu", "numa_nodes", false, 1, 4096, &n));
    p->numa_nodes = (int)n;
    S_TRY(s_get_real(ctx, cpu, "cpu", "ghz", true, &p->cpu_ghz));
    if (p->pus < p->cores)
        return s_fail(ctx, "cpu.pus", false, "%d PUs cannot serve %d cores (expected pus >= cores)",
                      p->pus, p->cores);
    if (p->cores < p->sockets)
        return s_fail(ctx, "cpu.cores", false, "%d cores cannot fill %d sockets", p->cores,
                      p->sockets);
    return 0;
}

static int
s_read_gpus(const s_ctx_t *ctx, const json_t *root, ad_profile_t *p)
{
    static const char *const keys[] = {"name", "kind", "index", "memory_bytes", NULL};
    json_t *list, *g;
    size_t i;

    S_TRY(s_get_array(ctx, root, "", "gpus", &list));
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
        if (!json_is_object(g))
            return s_fail(ctx, path, false, "expected a mapping {name, kind, index, memory_bytes}");
        S_TRY(s_check_keys(ctx, g, path, keys, "name, kind, index, memory_bytes"));
        S_TRY(s_get_str(ctx, g, path, "name", true, &name));
        gpu->name = name;
        S_TRY(s_get_str(ctx, g, path, "kind", false, &kind));
        gpu->kind = kind ? kind : ad_strdup("cuda");
        S_TRY(s_get_int(ctx, g, path, "index", false, 0, 1 << 20, &index));
        gpu->index = (int)index;
        S_TRY(s_get_size(ctx, g, path, "memory_bytes", false, &gpu->memory_bytes));
    }
    return 0;
}

static int
s_read_network(const s_ctx_t *ctx, const json_t *root, ad_profile_t *p)
{
    static const char *const keys[] = {"name", "kind", "gbps", NULL};
    static const char *const kinds[] = {"ethernet", "infiniband", "other", NULL};
    json_t *list, *n;
    size_t i;

    S_TRY(s_get_array(ctx, root, "", "network", &list));
    if (!list)
        return 0;
    p->nets = ad_calloc(json_array_size(list) + 1, sizeof(*p->nets));
    json_array_foreach(list, i, n)
    {
        ad_profile_net_t *net = &p->nets[i];
        char path[64], kpath[80], *name = NULL, *kind = NULL;
        bool ok = false;

        snprintf(path, sizeof(path), "network[%zu]", i);
        p->n_nets = (int)i + 1;
        if (!json_is_object(n))
            return s_fail(ctx, path, false, "expected a mapping {name, kind, gbps}");
        S_TRY(s_check_keys(ctx, n, path, keys, "name, kind, gbps"));
        S_TRY(s_get_str(ctx, n, path, "name", false, &name));
        net->name = name ? name : ad_strdup("");
        S_TRY(s_get_str(ctx, n, path, "kind", true, &kind));
        net->kind = kind;
        for (int k = 0; kinds[k]; k++)
            ok = ok || !strcmp(kind, kinds[k]);
        snprintf(kpath, sizeof(kpath), "%s.kind", path);
        if (!ok)
            return s_fail(ctx, kpath, false,
                          "expected ethernet, infiniband or other, got \"%.48s\"", kind);
        S_TRY(s_get_real(ctx, n, path, "gbps", false, &net->gbps));
    }
    return 0;
}

static int
s_read_core_map(const s_ctx_t *ctx, const json_t *root, ad_profile_t *p)
{
    static const char *const keys[] = {"core", "socket", "numa", "pus", NULL};
    json_t *list, *c;
    size_t i;
    int total = 0;

    S_TRY(s_get_array(ctx, root, "", "core_map", &list));
    if (!list || !json_array_size(list))
        return 0;
    if ((int)json_array_size(list) != p->cores)
        return s_fail(ctx, "core_map", true, "lists %zu cores, but cpu.cores is %d",
                      json_array_size(list), p->cores);
    p->core_map = ad_calloc(json_array_size(list), sizeof(*p->core_map));
    json_array_foreach(list, i, c)
    {
        ad_profile_core_t *core = &p->core_map[i];
        char path[64], ppath[80], got[80];
        json_int_t v = (json_int_t)i, sock = 0, numa = -1;
        json_t *pus, *pu;
        int *ids;
        size_t k;

        snprintf(path, sizeof(path), "core_map[%zu]", i);
        p->n_core_map = (int)i + 1;
        if (!json_is_object(c))
            return s_fail(ctx, path, false, "expected a mapping {core, socket, numa, pus}");
        S_TRY(s_check_keys(ctx, c, path, keys, "core, socket, numa, pus"));
        S_TRY(s_get_int(ctx, c, path, "core", false, 0, INT32_MAX, &v));
        if (v != (json_int_t)i)
            return s_fail(ctx, path, false,
                          "cores must be listed in order: expected core %zu, "
                          "got %" JSON_INTEGER_FORMAT,
                          i, v);
        S_TRY(s_get_int(ctx, c, path, "socket", true, 0, p->sockets - 1, &sock));
        core->socket = (int)sock;
        S_TRY(s_get_int(ctx, c, path, "numa", false, 0, p->numa_nodes - 1, &numa));
        core->numa = (int)numa;
        S_TRY(s_get_array(ctx, c, path, "pus", &pus));
        snprintf(ppath, sizeof(ppath), "%s.pus", path);
        if (!pus || !json_array_size(pus))
            return s_fail(ctx, pus ? ppath : path, false,
                          "expected a non-empty list of PU "
                          "OS indexes (pus: [0, 1])");
        ids = ad_calloc(json_array_size(pus), sizeof(*ids));
        core->pus = ids;
        json_array_foreach(pus, k, pu)
        {
            char kpath[128];

            snprintf(kpath, sizeof(kpath), "%s[%zu]", ppath, k);
            if (!json_is_integer(pu) || json_integer_value(pu) < 0 ||
                json_integer_value(pu) > INT32_MAX)
                return s_fail(ctx, kpath, false,
                              "expected a PU OS index (an integer >= 0), "
                              "got %s",
                              s_got(ctx, kpath, pu, got, 80));
            ids[k] = (int)json_integer_value(pu);
            core->n_pus = (int)k + 1;
        }
        total += core->n_pus;
    }
    if (total != p->pus)
        return s_fail(ctx, "core_map", true, "holds %d PUs, but cpu.pus is %d", total, p->pus);
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
s_read_bench(const s_ctx_t *ctx, const json_t *root, ad_profile_t *p)
{
    static const char *const keys[] = {"gemm_gflops_1core", "gemm_gflops_all", "mem_bandwidth_gbs",
                                       "seconds",           "measured_at",     "gemm_n",
                                       "triad_mib",         "estimated",       NULL};
    ad_profile_bench_t *b = &p->bench;
    json_t *o;
    json_int_t n = 0;
    char *when = NULL;
    int rc;

    S_TRY(s_get_obj(ctx, root, "", "benchmarks", false, &o));
    if (!o)
        return 0;
    p->has_bench = true;
    S_TRY(s_check_keys(ctx, o, "benchmarks", keys,
                       "gemm_gflops_1core, gemm_gflops_all, mem_bandwidth_gbs, seconds, "
                       "measured_at, gemm_n, triad_mib, estimated"));
    S_TRY(s_get_real(ctx, o, "benchmarks", "gemm_gflops_1core", true, &b->gemm_gflops_1core));
    S_TRY(s_get_real(ctx, o, "benchmarks", "gemm_gflops_all", true, &b->gemm_gflops_all));
    S_TRY(s_get_real(ctx, o, "benchmarks", "mem_bandwidth_gbs", true, &b->mem_bandwidth_gbs));
    S_TRY(s_get_real(ctx, o, "benchmarks", "seconds", false, &b->seconds));
    S_TRY(s_get_int(ctx, o, "benchmarks", "gemm_n", false, 1, 1 << 16, &n));
    b->gemm_n = (int)n;
    n = 0;
    S_TRY(s_get_int(ctx, o, "benchmarks", "triad_mib", false, 1, 1 << 24, &n));
    b->triad_mib = (int)n;
    S_TRY(s_get_bool(ctx, o, "benchmarks", "estimated", &b->estimated));
    rc = s_get_str(ctx, o, "benchmarks", "measured_at", false, &when);
    if (!rc && when && !s_parse_time(when, &b->measured_at))
        rc = s_fail(ctx, "benchmarks.measured_at", false,
                    "expected a UTC time like \"2025-01-31T12:00:00Z\", got \"%.48s\"", when);
    free(when);
    return rc;
}

static int
s_read_cluster(const s_ctx_t *ctx, const json_t *root, ad_profile_t *p)
{
    static const char *const keys[] = {"name", "site", "nodes", "hosts", NULL};
    json_t *o;
    json_int_t n = 1;

    S_TRY(s_get_obj(ctx, root, "", "cluster", false, &o));
    if (!o)
        return 0;
    S_TRY(s_check_keys(ctx, o, "cluster", keys, "name, site, nodes, hosts"));
    S_TRY(s_get_str(ctx, o, "cluster", "name", true, &p->cluster_name));
    S_TRY(s_get_str(ctx, o, "cluster", "site", false, &p->cluster_site));
    S_TRY(s_get_int(ctx, o, "cluster", "nodes", false, 1, 1 << 20, &n));
    p->cluster_nodes = (int)n;
    return s_get_str(ctx, o, "cluster", "hosts", false, &p->cluster_hosts);
}

/* Build a profile from the tree of a file or payload, checking everything it says. */
static int
s_read(const s_ctx_t *ctx, const json_t *root, ad_profile_t **out)
{
    static const char *const cache_keys[] = {"l1d_bytes", "l2_bytes", "l3_bytes", NULL};
    ad_profile_t *p = s_new();
    json_t *caches;
    json_int_t format = AD_PROFILE_FORMAT;
    char *fp = NULL, got[80];
    int rc;

    *out = NULL;
    if (!json_is_object(root)) {
        rc = s_fail(ctx, "", false, "a profile must be a mapping of %s, got %s", s_root_expected,
                    s_got(ctx, "", root, got, sizeof(got)));
        goto err_free;
    }
    rc = s_check_keys(ctx, root, "", s_root_keys, s_root_expected);
    if (!rc)
        rc = s_get_int(ctx, root, "", "format", false, AD_PROFILE_FORMAT, AD_PROFILE_FORMAT,
                       &format);
    if (!rc)
        rc = s_get_str(ctx, root, "", "hostname", false, &p->hostname);
    if (!rc)
        rc = s_get_str(ctx, root, "", "source", false, &p->source);
    if (!rc)
        rc = s_get_str(ctx, root, "", "fingerprint", false, &fp);
    if (!rc)
        rc = s_read_cluster(ctx, root, p);
    if (!rc)
        rc = s_read_cpu(ctx, root, p);
    if (!rc)
        rc = s_get_obj(ctx, root, "", "caches", false, &caches);
    if (!rc && caches)
        rc = s_check_keys(ctx, caches, "caches", cache_keys, "l1d_bytes, l2_bytes, l3_bytes");
    for (int l = 1; l <= 3 && !rc && caches; l++)
        rc = s_get_size(ctx, caches, "caches", cache_keys[l - 1], false, &p->cache[l]);
    if (!rc)
        rc = s_get_size(ctx, root, "", "memory_bytes", true, &p->memory_bytes);
    if (!rc && !p->memory_bytes)
        rc = s_fail(ctx, "memory_bytes", false, "expected more than 0 bytes");
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
    s_fingerprint(p);
    /* A stale fingerprint would file measurements under the wrong hardware class. */
    if (fp && strcmp(fp, p->fingerprint)) {
        rc = s_fail(ctx, "fingerprint", false,
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
    s_ctx_t ctx = {NULL, NULL, 0, err};

    return s_read(&ctx, json, out);
}

/* ---------------------------------------------------------------- YAML reading */

static void
s_add_mark(s_ctx_t *ctx, const char *path, yaml_mark_t key, const yaml_node_t *node)
{
    s_mark_t *m;

    ctx->marks = ad_realloc(ctx->marks, (ctx->n_marks + 1) * sizeof(*ctx->marks));
    m = &ctx->marks[ctx->n_marks++];
    m->path = ad_strdup(path);
    m->key = key;
    m->value = node->start_mark;
    m->raw = NULL;
    if (node->type == YAML_SCALAR_NODE && node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
        m->raw = ad_strdup((const char *)node->data.scalar.value);
}

/* [-+]?[0-9]+ */
static bool
s_is_integer(const char *s)
{
    if (*s == '-' || *s == '+')
        s++;
    return *s && strspn(s, "0123456789") == strlen(s);
}

/* A plain scalar as YAML 1.2's core schema reads it: null, bool, integer, float or string. */
static int
s_scalar(s_ctx_t *ctx, const char *path, const yaml_node_t *node, json_t **out)
{
    const char *s = (const char *)node->data.scalar.value;
    char *end;

    if (node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        *out = json_string(s);
        return 0;
    }
    if (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL"))
        *out = json_null();
    else if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
        *out = json_true();
    else if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
        *out = json_false();
    else if (s_is_integer(s)) {
        long long v;

        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno == ERANGE)
            return s_fail(ctx, path, false, "number \"%.40s\" is out of range", s);
        *out = json_integer(v);
    } else if ((isdigit((unsigned char)s[0]) || ((s[0] == '-' || s[0] == '+' || s[0] == '.') &&
                                                 (isdigit((unsigned char)s[1]) || s[1] == '.'))) &&
               (strtod(s, &end), !*end)) {
        *out = json_real(strtod(s, NULL));
    } else {
        *out = json_string(s);
    }
    /* Invalid UTF-8 never gets this far (libyaml's reader refuses it), so only OOM is left. */
    if (!*out)
        ad_oom(strlen(s));
    return 0;
}

static int
s_node(s_ctx_t *ctx, yaml_document_t *doc, yaml_node_t *node, const char *path, int depth,
       json_t **out)
{
    char p[200];
    int rc;

    *out = NULL;
    if (depth > S_DEPTH_MAX)
        return s_fail(ctx, path, false, "nested too deeply");
    if (node->type == YAML_SCALAR_NODE)
        return s_scalar(ctx, path, node, out);
    if (node->type == YAML_SEQUENCE_NODE) {
        json_t *arr = json_array();

        for (yaml_node_item_t *it = node->data.sequence.items.start;
             it < node->data.sequence.items.top; it++) {
            yaml_node_t *item = yaml_document_get_node(doc, *it);
            json_t *v;

            snprintf(p, sizeof(p), "%s[%td]", path, it - node->data.sequence.items.start);
            s_add_mark(ctx, p, item->start_mark, item);
            rc = s_node(ctx, doc, item, p, depth + 1, &v);
            if (rc) {
                json_decref(arr);
                return rc;
            }
            json_array_append_new(arr, v);
        }
        *out = arr;
        return 0;
    }
    json_t *obj = json_object();

    for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
         pair < node->data.mapping.pairs.top; pair++) {
        yaml_node_t *k = yaml_document_get_node(doc, pair->key);
        yaml_node_t *v = yaml_document_get_node(doc, pair->value);
        const char *key;
        json_t *jv;

        if (k->type != YAML_SCALAR_NODE) {
            s_add_mark(ctx, "?", k->start_mark, k);
            json_decref(obj);
            return s_fail(ctx, "?", false, "keys must be plain words%s%s", *path ? " in " : "",
                          path);
        }
        key = (const char *)k->data.scalar.value;
        s_path(p, sizeof(p), path, key);
        s_add_mark(ctx, p, k->start_mark, v);
        if (json_object_get(obj, key)) {
            json_decref(obj);
            return s_fail(ctx, p, true, "duplicate key");
        }
        rc = s_node(ctx, doc, v, p, depth + 1, &jv);
        if (rc) {
            json_decref(obj);
            return rc;
        }
        json_object_set_new(obj, key, jv);
    }
    *out = obj;
    return 0;
}

/* Translate a libyaml failure in text (len bytes) into one located line. */
static int
s_yaml_error(const s_ctx_t *ctx, const yaml_parser_t *parser, const char *text, size_t len)
{
    yaml_mark_t mark = parser->problem_mark;
    const char *problem = parser->problem ? parser->problem : "unknown error";
    /* An error at the very end means the text stopped early, the usual cut-off copy. */
    const char *hint = mark.index >= len ? "; is the file truncated?" : "";

    if (parser->error == YAML_MEMORY_ERROR)
        ad_oom(0);
    if (parser->error == YAML_READER_ERROR) {
        /* The reader counts bytes only: find the line and column of the offset. */
        mark = (yaml_mark_t){0, 0, 0};
        for (size_t i = 0; i < parser->problem_offset && i < len; i++, mark.column++)
            if (text[i] == '\n')
                mark.line++, mark.column = (size_t)-1;
        return ad_err_set(ctx->err, AD_EPARSE, "%s:%zu:%zu: invalid YAML: %s", ctx->file,
                          mark.line + 1, mark.column + 1, problem);
    }
    if (parser->context)
        return ad_err_set(ctx->err, AD_EPARSE,
                          "%s:%zu:%zu: invalid YAML: %s %s started at line %zu, column %zu%s",
                          ctx->file, mark.line + 1, mark.column + 1, problem, parser->context,
                          parser->context_mark.line + 1, parser->context_mark.column + 1, hint);
    return ad_err_set(ctx->err, AD_EPARSE, "%s:%zu:%zu: invalid YAML: %s%s", ctx->file,
                      mark.line + 1, mark.column + 1, problem, hint);
}

int
ad_profile_parse_yaml(const char *text, size_t len, const char *name, ad_profile_t **out,
                      ad_err_t *err)
{
    s_ctx_t ctx = {name, NULL, 0, err};
    yaml_parser_t parser;
    yaml_document_t doc, extra;
    yaml_node_t *root;
    json_t *tree = NULL;
    yaml_mark_t origin = {0, 0, 0};
    int rc;

    *out = NULL;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = s_yaml_error(&ctx, &parser, text, len);
        goto out_parser;
    }
    root = yaml_document_get_root_node(&doc);
    if (!root) {
        rc = ad_err_set(err, AD_EPARSE, "%s:1:1: empty profile, expected a mapping of %s", name,
                        s_root_expected);
        goto out_doc;
    }
    if (!yaml_parser_load(&parser, &extra)) {
        rc = s_yaml_error(&ctx, &parser, text, len);
        goto out_doc;
    }
    if (yaml_document_get_root_node(&extra)) {
        yaml_mark_t m = yaml_document_get_root_node(&extra)->start_mark;

        rc = ad_err_set(err, AD_EPARSE,
                        "%s:%zu:%zu: a profile holds one YAML document, found a second one", name,
                        m.line + 1, m.column + 1);
        yaml_document_delete(&extra);
        goto out_doc;
    }
    yaml_document_delete(&extra);
    s_add_mark(&ctx, "", origin, root);
    rc = s_node(&ctx, &doc, root, "", 0, &tree);
    if (!rc)
        rc = s_read(&ctx, tree, out);
    json_decref(tree);
out_doc:
    yaml_document_delete(&doc);
out_parser:
    yaml_parser_delete(&parser);
    for (size_t i = 0; i < ctx.n_marks; i++) {
        free(ctx.marks[i].path);
        free(ctx.marks[i].raw);
    }
    free(ctx.marks);
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

/* ---------------------------------------------------------------- copies, accessors */

ad_profile_t *
ad_profile_dup(const ad_profile_t *self)
{
    json_t *j = ad_profile_to_json(self);
    ad_profile_t *copy;
    int rc;

    rc = ad_profile_from_json(j, &copy, NULL);
    assert(rc == 0);
    (void)rc;
    copy->bench.cached = self->bench.cached;
    json_decref(j);
    return copy;
}

bool
ad_profile_equal(const ad_profile_t *a, const ad_profile_t *b)
{
    json_t *ja = ad_profile_to_json(a), *jb = ad_profile_to_json(b);
    bool eq = json_equal(ja, jb);

    json_decref(ja);
    json_decref(jb);
    return eq;
}

const char *
ad_profile_fingerprint(const ad_profile_t *self)
{
    return self->fingerprint;
}

const char *
ad_profile_hostname(const ad_profile_t *self)
{
    return self->hostname;
}

const char *
ad_profile_source(const ad_profile_t *self)
{
    return self->source;
}

const char *
ad_profile_cpu_model(const ad_profile_t *self)
{
    return self->cpu_model;
}

int
ad_profile_sockets(const ad_profile_t *self)
{
    return self->sockets;
}

int
ad_profile_cores(const ad_profile_t *self)
{
    return self->cores;
}

int
ad_profile_pus(const ad_profile_t *self)
{
    return self->pus;
}

int
ad_profile_numa_nodes(const ad_profile_t *self)
{
    return self->numa_nodes;
}

uint64_t
ad_profile_cache_bytes(const ad_profile_t *self, int level)
{
    assert(level >= 1 && level <= 3);
    return self->cache[level];
}

uint64_t
ad_profile_memory_bytes(const ad_profile_t *self)
{
    return self->memory_bytes;
}

int
ad_profile_gpu_count(const ad_profile_t *self)
{
    return self->n_gpus;
}

const ad_profile_gpu_t *
ad_profile_gpu(const ad_profile_t *self, int i)
{
    assert(i >= 0 && i < self->n_gpus);
    return &self->gpus[i];
}

int
ad_profile_net_count(const ad_profile_t *self)
{
    return self->n_nets;
}

const ad_profile_net_t *
ad_profile_net(const ad_profile_t *self, int i)
{
    assert(i >= 0 && i < self->n_nets);
    return &self->nets[i];
}

int
ad_profile_core_map_count(const ad_profile_t *self)
{
    return self->n_core_map;
}

const ad_profile_core_t *
ad_profile_core(const ad_profile_t *self, int i)
{
    assert(i >= 0 && i < self->n_core_map);
    return &self->core_map[i];
}

int
ad_profile_cluster_nodes(const ad_profile_t *self)
{
    return self->cluster_nodes;
}

const ad_profile_bench_t *
ad_profile_bench_figures(const ad_profile_t *self)
{
    return self->has_bench ? &self->bench : NULL;
}

void
ad_profile_set_bench(ad_profile_t *self, const ad_profile_bench_t *bench)
{
    self->has_bench = bench != NULL;
    if (bench)
        self->bench = *bench;
    else
        memset(&self->bench, 0, sizeof(self->bench));
}

void
ad_profile_set_source(ad_profile_t *self, const char *source)
{
    free(self->source);
    self->source = ad_strdup(source ? source : "");
}
