/* ad_cli_profile.c - `autodist profile import|list`: described profiles of clusters to plan on */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ad_cli.h"
#include "autodist/ad_described.h"
#include "autodist/ad_g5k_ref.h"

/*
 * `profile import` turns the Grid'5000 reference API's JSON for a node (or a
 * cluster's node listing) into a described profile in HOME/profiles/described
 * (docs/profiles.md, "Described profiles"); `profile list` shows every
 * profile `autodist plan --cluster` can use.  Neither needs a coordinator.
 */

/* Options of profile import. */
enum {
    S_OPT_NAME = 256,
    S_OPT_OUT,
    S_OPT_NODES,
};

/* "96 GiB", "23.5 GiB" into buf. */
static char *
s_gib(uint64_t bytes, char *buf, size_t len)
{
    double g = (double)bytes / (double)(UINT64_C(1) << 30);

    if (g == (double)(int64_t)g)
        snprintf(buf, len, "%.0f GiB", g);
    else
        snprintf(buf, len, "%.1f GiB", g);
    return buf;
}

/* "25+25 Gbit/s" (the usable links) into buf; "unknown" when none says its rate. */
static char *
s_links(const ad_profile_t *p, char *buf, size_t len)
{
    size_t used = 0;

    buf[0] = '\0';
    for (int i = 0; i < ad_profile_net_count(p) && used < len; i++)
        if (ad_profile_net(p, i)->gbps > 0)
            used += (size_t)snprintf(buf + used, len - used, "%s%g", used ? "+" : "",
                                     ad_profile_net(p, i)->gbps);
    if (used && used < len)
        snprintf(buf + used, len - used, " Gbit/s");
    else if (!used)
        snprintf(buf, len, "unknown");
    return buf;
}

/* "2 x Tesla P100-PCIE-16GB" or "no GPU" into buf. */
static char *
s_gpus(const ad_profile_t *p, char *buf, size_t len)
{
    int n = ad_profile_gpu_count(p);

    if (n == 0)
        snprintf(buf, len, "no GPU");
    else
        snprintf(buf, len, "%d x %s", n, ad_profile_gpu(p, 0)->name);
    return buf;
}

/* mkdir -p of HOME/profiles/described (the home itself 0700, like ad_home_ensure()). */
static int
s_make_dirs(const char *root, const char *dir, ad_err_t *err)
{
    char *profiles = NULL;
    int rc = 0;

    if (asprintf(&profiles, "%s/profiles", root) < 0)
        ad_oom(0);
    if (mkdir(root, 0700) && errno != EEXIST)
        rc = ad_err_set(err, -errno, "%s: cannot create: %s", root, strerror(errno));
    else if (mkdir(profiles, 0755) && errno != EEXIST)
        rc = ad_err_set(err, -errno, "%s: cannot create: %s", profiles, strerror(errno));
    else if (mkdir(dir, 0755) && errno != EEXIST)
        rc = ad_err_set(err, -errno, "%s: cannot create: %s", dir, strerror(errno));
    free(profiles);
    return rc;
}

/* Where the import goes: --out, else HOME/profiles/described/CLUSTER.yaml.  Owned. */
static char *
s_out_path(ad_cli_t *cli, const char *out, const char *cluster, int *rc)
{
    const ad_home_t *home;
    ad_err_t err = {0};
    char *dir, *path = NULL;

    *rc = 0;
    if (out)
        return ad_strdup(out);
    home = ad_cli_home(cli);
    if (!home) {
        *rc = AD_CLI_EXIT_ERROR;
        return NULL;
    }
    dir = ad_described_home_dir(home->root);
    if (s_make_dirs(home->root, dir, &err)) {
        *rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", err.msg);
        free(dir);
        return NULL;
    }
    if (asprintf(&path, "%s/%s.yaml", dir, cluster) < 0)
        ad_oom(0);
    free(dir);
    return path;
}

static void
s_import_text(const char *file, const ad_g5k_ref_t *r, const char *path, bool nodes_given)
{
    const ad_profile_t *p = r->profile;
    char mem[32], net[128], gpus[160];
    int nodes = ad_profile_cluster_nodes(p);

    printf("imported %s%s%s%s from %s: node %s, %d x %s, %d cores, %d threads, %s, %s, "
           "network %s\n",
           r->cluster, r->site ? " (" : "", r->site ? r->site : "", r->site ? ")" : "", file,
           r->uid ? r->uid : "?", ad_profile_sockets(p), ad_profile_cpu_model(p),
           ad_profile_cores(p), ad_profile_pus(p),
           s_gib(ad_profile_memory_bytes(p), mem, sizeof(mem)), s_gpus(p, gpus, sizeof(gpus)),
           s_links(p, net, sizeof(net)));
    if (nodes_given)
        printf("cluster: %d node%s (--nodes)\n", nodes, nodes == 1 ? "" : "s");
    else if (r->listed)
        printf("cluster: %d node%s of this hardware (of %d listed)\n", nodes, nodes == 1 ? "" : "s",
               r->listed);
    else
        printf("cluster: %d node%s (one node's description: --nodes N gives the cluster's "
               "size)\n",
               nodes, nodes == 1 ? "" : "s");
    if (r->others)
        printf("other hardware, left out: %s (import one of them alone, with --name, for a "
               "profile of its own)\n",
               r->others);
    printf("wrote %s (hardware class %s, described: not measured)\n", path,
           ad_profile_fingerprint(p));
    printf("plan on it: autodist plan JOB.yaml --cluster %s --nodes 1-%d\n", r->cluster, nodes);
}

static void
s_import_json(const char *file, const ad_g5k_ref_t *r, const char *path)
{
    json_t *o = json_object();

    json_object_set_new(o, "file", json_string(file));
    json_object_set_new(o, "path", json_string(path));
    json_object_set_new(o, "cluster", json_string(r->cluster));
    json_object_set_new(o, "site", r->site ? json_string(r->site) : json_null());
    json_object_set_new(o, "node", r->uid ? json_string(r->uid) : json_null());
    json_object_set_new(o, "nodes", json_integer(ad_profile_cluster_nodes(r->profile)));
    json_object_set_new(o, "listed", json_integer(r->listed));
    json_object_set_new(o, "other_hardware", r->others ? json_string(r->others) : json_null());
    json_object_set_new(o, "fingerprint", json_string(ad_profile_fingerprint(r->profile)));
    json_object_set_new(o, "profile", ad_profile_to_json(r->profile));
    ad_cli_print_json(o);
    json_decref(o);
}

static int
s_import(ad_cli_t *cli, const char *file, const ad_g5k_ref_opts_t *opts, const char *out)
{
    ad_g5k_ref_t r;
    ad_err_t err = {0};
    char *path;
    int rc;

    rc = ad_g5k_ref_load(file, opts, &r, &err);
    if (rc)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "%s", err.msg);
    path = s_out_path(cli, out, r.cluster, &rc);
    if (!path)
        goto out_ref;
    if (ad_profile_save_yaml(r.profile, path, &err)) {
        rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", err.msg);
        goto out_path;
    }
    if (cli->json)
        s_import_json(file, &r, path);
    else
        s_import_text(file, &r, path, opts->nodes > 0);
    rc = AD_CLI_EXIT_OK;
out_path:
    free(path);
out_ref:
    ad_g5k_ref_clear(&r);
    return rc;
}

static int
s_list(ad_cli_t *cli)
{
    static const char *const headers[] = {"NAME", "WHERE",  "NODES",      "CPU",         "CORES",
                                          "GPUS", "MEMORY", "BENCHMARKS", "FINGERPRINT", "PATH"};
    const ad_home_t *home = ad_cli_home(cli);
    ad_described_entry_t *v = NULL;
    ad_cli_table_t *t;
    json_t *list;
    size_t n = 0;

    if (!home)
        return AD_CLI_EXIT_ERROR;
    ad_described_list(home->root, &v, &n);
    list = json_array();
    t = ad_cli_table_new(10, headers);
    for (size_t i = 0; i < n; i++) {
        const ad_profile_t *p = v[i].profile;
        const ad_profile_bench_t *b = ad_profile_bench_figures(p);
        const char *bench = !b ? "none" : b->estimated ? "estimated" : "measured";
        char nodes[16], cores[16], gpus[16], mem[32];
        const char *cells[10];

        snprintf(nodes, sizeof(nodes), "%d", ad_profile_cluster_nodes(p));
        snprintf(cores, sizeof(cores), "%d", ad_profile_cores(p));
        snprintf(gpus, sizeof(gpus), "%d", ad_profile_gpu_count(p));
        cells[0] = v[i].name;
        cells[1] = v[i].where;
        cells[2] = ad_profile_cluster_nodes(p) ? nodes : "-";
        cells[3] = ad_profile_cpu_model(p);
        cells[4] = cores;
        cells[5] = gpus;
        cells[6] = s_gib(ad_profile_memory_bytes(p), mem, sizeof(mem));
        cells[7] = bench;
        cells[8] = ad_profile_fingerprint(p);
        cells[9] = v[i].path;
        ad_cli_table_add(t, cells);
        json_array_append_new(
            list,
            json_pack("{s:s s:s s:s s:i s:s s:i s:i s:I s:s s:s}", "name", v[i].name, "where",
                      v[i].where, "kind", ad_profile_cluster_nodes(p) ? "described" : "measured",
                      "nodes", ad_profile_cluster_nodes(p), "cpu", ad_profile_cpu_model(p), "cores",
                      ad_profile_cores(p), "gpus", ad_profile_gpu_count(p), "memory_bytes",
                      (json_int_t)ad_profile_memory_bytes(p), "benchmarks", bench, "fingerprint",
                      ad_profile_fingerprint(p)));
        json_object_set_new(json_array_get(list, json_array_size(list) - 1), "path",
                            json_string(v[i].path));
    }
    if (cli->json) {
        json_t *doc = json_pack("{s:o}", "profiles", list);

        ad_cli_print_json(doc);
        json_decref(doc);
    } else {
        json_decref(list);
        if (n)
            ad_cli_table_print(t, stdout);
        else
            printf("no profile: `autodist profile import FILE.json` adds one\n");
    }
    ad_cli_table_free(&t);
    ad_described_list_free(&v, n);
    return AD_CLI_EXIT_OK;
}

int
ad_cli_profile(ad_cli_t *cli, int argc, char **argv)
{
    static const struct option longs[] = {
        {"name", required_argument, NULL, S_OPT_NAME},
        {"out", required_argument, NULL, S_OPT_OUT},
        {"nodes", required_argument, NULL, S_OPT_NODES},
        {NULL, 0, NULL, 0},
    };
    ad_g5k_ref_opts_t opts = {0};
    const char *arg, *out = NULL, *sub, *import_only = NULL;
    int64_t x;
    int c, rc, npos;

    while ((c = ad_cli_getopt(cli, argc, argv, longs, &arg)) != AD_CLI_OPT_END) {
        switch (c) {
        case AD_CLI_OPT_HELP:
            return AD_CLI_EXIT_OK;
        case AD_CLI_OPT_ERROR:
            return AD_CLI_EXIT_USAGE;
        case S_OPT_NAME:
            if (!ad_g5k_ref_name_ok(arg))
                return ad_cli_fail(AD_CLI_EXIT_USAGE,
                                   "--name must be 1-63 lowercase letters, digits, '-' or '_' "
                                   "(a letter or digit first), got \"%s\"",
                                   arg);
            opts.name = arg;
            import_only = "--name";
            break;
        case S_OPT_OUT:
            out = arg;
            import_only = "--out";
            break;
        case S_OPT_NODES:
            if ((rc = ad_cli_parse_int("--nodes", arg, 1, 1 << 20, &x)))
                return rc;
            opts.nodes = (int)x;
            import_only = "--nodes";
            break;
        }
    }
    npos = argc - optind;
    sub = npos > 0 ? argv[optind] : NULL;
    if (!sub)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "profile: give import FILE.json or list (see "
                                              "autodist profile --help)");
    if (!strcmp(sub, "import")) {
        if (npos != 2)
            return ad_cli_fail(AD_CLI_EXIT_USAGE,
                               "profile import: give one FILE.json (the reference API's "
                               "description of a node, or of a cluster's nodes)");
        return s_import(cli, argv[optind + 1], &opts, out);
    }
    if (!strcmp(sub, "list")) {
        if (import_only)
            return ad_cli_fail(AD_CLI_EXIT_USAGE, "profile list does not take %s", import_only);
        if (npos != 1)
            return ad_cli_fail(AD_CLI_EXIT_USAGE, "profile list takes no argument, got \"%s\"",
                               argv[optind + 1]);
        return s_list(cli);
    }
    {
        static const char *const subs[] = {"import", "list"};

        return ad_cli_no_sub("profile", sub, subs, sizeof(subs) / sizeof(subs[0]));
    }
}
