/* ad_profile.c - hardware profile of a node: the type, its fingerprint, copies and accessors */
#include "ad_profile_priv.h"

#include <assert.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autodist/ad_hash.h"
#include "autodist/ad_log.h"

ad_profile_t *
ad_profile_new_blank(void)
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

/* s with runs of blanks folded to one space and no blanks at the ends; owned. */
char *
ad_profile_squeeze(const char *s)
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
void
ad_profile_update_fingerprint(ad_profile_t *self)
{
    char buf[160];
    char *model = ad_profile_squeeze(self->cpu_model);
    char **names = ad_calloc((size_t)self->n_gpus + 1, sizeof(*names));
    uint64_t h = AD_HASH_FNV1A64_BASIS;

    snprintf(buf, sizeof(buf), "autodist-hw-v1|sockets=%d|cores=%d|pus=%d|numa=%d|mem_gib=%" PRIu64,
             self->sockets, self->cores, self->pus, self->numa_nodes,
             (self->memory_bytes + AD_PROFILE_GIB / 2) / AD_PROFILE_GIB);
    h = ad_hash_fnv1a64_add(h, buf);
    h = ad_hash_fnv1a64_add(h, "|cpu=");
    h = ad_hash_fnv1a64_add(h, model);
    for (int i = 0; i < self->n_gpus; i++)
        names[i] = ad_profile_squeeze(self->gpus[i].name);
    qsort(names, (size_t)self->n_gpus, sizeof(*names), s_strcmp_p);
    for (int i = 0; i < self->n_gpus; i++) {
        h = ad_hash_fnv1a64_add(h, "|gpu=");
        h = ad_hash_fnv1a64_add(h, names[i]);
        free(names[i]);
    }
    free(names);
    free(model);
    snprintf(self->fingerprint, sizeof(self->fingerprint), "%016" PRIx64, h);
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
