/* ad_hwloc.c - hardware profile of this machine (or of a given topology) read with hwloc */
#include "autodist/ad_hwloc.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ad_profile_priv.h"
#include "autodist/ad_log.h"

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
        value = ad_profile_squeeze(colon + 1);
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
    gpu->name = ad_profile_squeeze(name);
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

/* Counts, caches and memory of the topology; PU-only machines count each PU as a core. */
static void
s_detect_counts(hwloc_topology_t topo, ad_profile_t *self)
{
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
}

int
ad_hwloc_detect_from(hwloc_topology_t topo, ad_profile_t **out, ad_err_t *err)
{
    hwloc_obj_t pkg;
    ad_profile_t *self;
    char host[256] = "", buf[340];
    const char *model = NULL;
    char *cpuinfo_model = NULL;
    /* procfs and sysfs describe this machine: only ask them about its own topology. */
    bool here = hwloc_topology_is_thissystem(topo);
    long long khz;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);

    *out = NULL;
    self = ad_profile_new_blank();
    if (gethostname(host, sizeof(host) - 1) == 0)
        host[sizeof(host) - 1] = '\0';
    free(self->hostname);
    self->hostname = ad_strdup(host);
    pkg = hwloc_get_obj_by_type(topo, HWLOC_OBJ_PACKAGE, 0);
    if (pkg)
        model = hwloc_obj_get_info_by_name(pkg, "CPUModel");
    if ((!model || !*model) && here)
        model = cpuinfo_model = s_cpuinfo("model name");
    free(self->cpu_model);
    self->cpu_model = ad_profile_squeeze(model && *model ? model : "unknown CPU");
    free(cpuinfo_model);
    s_detect_counts(topo, self);
    /* Some sandboxes give the NUMA nodes less than the kernel's MemTotal; trust the larger. */
    if (here && pages > 0 && page > 0 && (uint64_t)pages * (uint64_t)page > self->memory_bytes)
        self->memory_bytes = (uint64_t)pages * (uint64_t)page;
    khz = here ? s_sysfs_ll("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq", 0) : 0;
    self->cpu_ghz = khz > 0 ? round((double)khz / 1e4) / 100 : 0;
    s_detect_core_map(topo, self);
    s_detect_io(topo, self);
    ad_profile_update_fingerprint(self);
    free(self->source);
    snprintf(buf, sizeof(buf), "measured by autodist on %s (hwloc %u.%u.%u)", host,
             hwloc_get_api_version() >> 16, (hwloc_get_api_version() >> 8) & 0xff,
             hwloc_get_api_version() & 0xff);
    self->source = ad_strdup(buf);
    (void)err;
    *out = self;
    return 0;
}

/* Start a topology that keeps the important I/O devices (GPUs, NICs); what set_input sets its
 * source. */
static int
s_load(int (*set_input)(hwloc_topology_t, const char *), const char *input, const char *what,
       ad_profile_t **out, ad_err_t *err)
{
    hwloc_topology_t topo;
    int rc;

    *out = NULL;
    if (hwloc_topology_init(&topo) < 0)
        return ad_err_set(err, AD_EDEVICE, "hwloc: cannot start a topology: %s", strerror(errno));
    hwloc_topology_set_io_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
    if (set_input && set_input(topo, input) < 0) {
        rc = ad_err_set(err, AD_EDEVICE, "hwloc: cannot read %s: %s", what, strerror(errno));
        goto out_destroy;
    }
    if (hwloc_topology_load(topo) < 0) {
        rc = ad_err_set(err, AD_EDEVICE, "hwloc: cannot read %s: %s", what, strerror(errno));
        goto out_destroy;
    }
    rc = ad_hwloc_detect_from(topo, out, err);
out_destroy:
    hwloc_topology_destroy(topo);
    return rc;
}

int
ad_hwloc_detect(ad_profile_t **out, ad_err_t *err)
{
    return s_load(NULL, NULL, "this machine's topology", out, err);
}

int
ad_hwloc_detect_xml(const char *path, ad_profile_t **out, ad_err_t *err)
{
    char what[300];

    snprintf(what, sizeof(what), "the topology of %s", path);
    return s_load(hwloc_topology_set_xml, path, what, out, err);
}

int
ad_hwloc_detect_synthetic(const char *description, ad_profile_t **out, ad_err_t *err)
{
    char what[300];

    snprintf(what, sizeof(what), "the synthetic topology \"%s\"", description);
    return s_load(hwloc_topology_set_synthetic, description, what, out, err);
}
