/* ad_cli_hw.c - hardware classes by name: a node's, a cluster's, or short, the fingerprint beside
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad_cli.h"
#include "autodist/ad_described.h"
#include "autodist/ad_profile.h"
#include "autodist/ad_store.h"

/* A hardware class and what names it. */
typedef struct s_class {
    char *fp;      /* the class: a fingerprint, or the name an imported run gave */
    char **nodes;  /* the nodes of the class (store and coordinator), distinct; owned */
    size_t n;      /* nodes */
    char *cluster; /* a described profile's cluster with this fingerprint; NULL: none */
} s_class_t;

struct ad_cli_hw {
    s_class_t *v;  /* the classes, in the order they were met */
    size_t n, cap; /* classes, room */
};

static s_class_t *
s_class(ad_cli_hw_t *hw, const char *fp)
{
    for (size_t i = 0; i < hw->n; i++)
        if (!strcmp(hw->v[i].fp, fp))
            return &hw->v[i];
    if (hw->n == hw->cap) {
        hw->cap = hw->cap ? 2 * hw->cap : 8;
        hw->v = ad_realloc(hw->v, hw->cap * sizeof(*hw->v));
    }
    memset(&hw->v[hw->n], 0, sizeof(hw->v[0]));
    hw->v[hw->n].fp = ad_strdup(fp);
    return &hw->v[hw->n++];
}

static void
s_add_node(ad_cli_hw_t *hw, const char *name, const char *fp)
{
    s_class_t *c;

    if (!fp || !*fp || !name || !*name)
        return;
    c = s_class(hw, fp);
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->nodes[i], name))
            return;
    c->nodes = ad_realloc(c->nodes, (c->n + 1) * sizeof(*c->nodes));
    c->nodes[c->n++] = ad_strdup(name);
}

/* The store's nodes and the class of each one's latest profile. */
static void
s_load_store(ad_cli_t *cli, ad_cli_hw_t *hw)
{
    ad_store_t *store = NULL;
    ad_node_t *rows = NULL;
    const char *db;
    size_t n = 0;

    /* A missing or unreadable store only means fewer names: say nothing. */
    if (!ad_cli_home(cli) || ad_cli_open_store(cli, &store, &db) || !store)
        return;
    if (ad_store_list_nodes(store, &rows, &n) == 0)
        for (size_t i = 0; i < n; i++)
            s_add_node(hw, rows[i].hostname, rows[i].hardware);
    ad_store_nodes_free(&rows, n);
    ad_store_close(&store);
}

/* The clusters that imported and shipped descriptions name, by fingerprint. */
static void
s_load_described(ad_cli_t *cli, ad_cli_hw_t *hw)
{
    const ad_home_t *home = ad_cli_home(cli);
    ad_described_entry_t *list = NULL;
    size_t n = 0;

    if (ad_described_list(home ? home->root : NULL, &list, &n))
        return;
    for (size_t i = 0; i < n; i++) {
        char name[128], site[128];
        const char *fp = ad_profile_fingerprint(list[i].profile);
        s_class_t *c;

        if (!strcmp(list[i].where, "measured") || !fp || !*fp)
            continue;
        ad_described_cluster(list[i].profile, name, sizeof(name), site, sizeof(site));
        if (!name[0])
            continue;
        c = s_class(hw, fp);
        if (!c->cluster)
            c->cluster = ad_strdup(name);
    }
    ad_described_list_free(&list, n);
}

/* The classes cli knows, loaded at the first use. */
static ad_cli_hw_t *
s_hw(ad_cli_t *cli)
{
    if (!cli->hw) {
        cli->hw = ad_calloc(1, sizeof(*cli->hw));
        s_load_store(cli, cli->hw);
        s_load_described(cli, cli->hw);
    }
    return cli->hw;
}

void
ad_cli_hw_add_node(ad_cli_t *cli, const char *name, const char *fp)
{
    s_add_node(s_hw(cli), name, fp);
}

/* Whether s is a fingerprint (16 lowercase hex digits) rather than a name. */
static bool
s_is_fingerprint(const char *s)
{
    size_t n = 0;

    for (; s[n]; n++)
        if (!isxdigit((unsigned char)s[n]) || isupper((unsigned char)s[n]))
            return false;
    return n == AD_PROFILE_FP_LEN;
}

/* The label of class c (or of fp when c is NULL) into buf. */
static char *
s_label(const s_class_t *c, const char *fp, char *buf, size_t size)
{
    size_t common;

    if (c && c->n == 1) {
        snprintf(buf, size, "%s", c->nodes[0]);
    } else if (c && c->cluster) {
        snprintf(buf, size, "%s", c->cluster);
    } else if (c && c->n > 1) {
        /* node-1, node-2, node-3: "node-*"; else the first and how many more. */
        common = strlen(c->nodes[0]);
        for (size_t i = 1; i < c->n; i++) {
            size_t k = 0;

            while (k < common && c->nodes[i][k] == c->nodes[0][k])
                k++;
            common = k;
        }
        if (common >= 2)
            snprintf(buf, size, "%.*s*", (int)common, c->nodes[0]);
        else
            snprintf(buf, size, "%s+%zu", c->nodes[0], c->n - 1);
    } else if (s_is_fingerprint(fp)) {
        snprintf(buf, size, "hw-%.8s", fp);
    } else {
        snprintf(buf, size, "%s", fp);
    }
    return buf;
}

char *
ad_cli_hw_label(ad_cli_t *cli, const char *fp, char *buf, size_t size)
{
    ad_cli_hw_t *hw;

    if (!fp || !*fp) {
        snprintf(buf, size, "-");
        return buf;
    }
    hw = s_hw(cli);
    for (size_t i = 0; i < hw->n; i++)
        if (!strcmp(hw->v[i].fp, fp))
            return s_label(&hw->v[i], fp, buf, size);
    return s_label(NULL, fp, buf, size);
}

char *
ad_cli_hw_label_full(ad_cli_t *cli, const char *fp, char *buf, size_t size)
{
    char label[128];

    ad_cli_hw_label(cli, fp, label, sizeof(label));
    if (!fp || !*fp || !strcmp(label, fp))
        snprintf(buf, size, "%s", label);
    else
        snprintf(buf, size, "%s (%s)", label, fp);
    return buf;
}

char *
ad_cli_hw_known(ad_cli_t *cli, char *buf, size_t size)
{
    ad_cli_hw_t *hw = s_hw(cli);
    size_t len = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < hw->n && len < size; i++) {
        char one[200];

        ad_cli_hw_label_full(cli, hw->v[i].fp, one, sizeof(one));
        len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? ", " : "", one);
    }
    if (!hw->n)
        snprintf(buf, size, "none (no node has reported a profile and no cluster is described)");
    return buf;
}

int
ad_cli_hw_resolve(ad_cli_t *cli, const char *what, const char *arg, bool strict, char *fp,
                  size_t size)
{
    ad_cli_hw_t *hw = s_hw(cli);
    const s_class_t *hit = NULL, *other = NULL;
    size_t len = strlen(arg);
    char known[2048], a[200], b[200];

    snprintf(fp, size, "%s", arg);
    for (size_t i = 0; i < hw->n; i++)
        if (!strcmp(hw->v[i].fp, arg))
            return 0;
    /* A label, a node or cluster of the class, or a fingerprint prefix of 4 digits or more. */
    for (size_t i = 0; i < hw->n; i++) {
        const s_class_t *c = &hw->v[i];
        bool match = (c->cluster && !strcmp(c->cluster, arg)) ||
                     !strcmp(s_label(c, c->fp, a, sizeof(a)), arg) ||
                     (len >= 4 && s_is_fingerprint(c->fp) && !strncmp(c->fp, arg, len));

        for (size_t k = 0; !match && k < c->n; k++)
            match = !strcmp(c->nodes[k], arg);
        if (!match || hit == c)
            continue;
        if (hit)
            other = c;
        else
            hit = c;
    }
    if (other)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "%s \"%s\" names two hardware classes: %s and %s",
                           what, arg, ad_cli_hw_label_full(cli, hit->fp, a, sizeof(a)),
                           ad_cli_hw_label_full(cli, other->fp, b, sizeof(b)));
    if (hit) {
        snprintf(fp, size, "%s", hit->fp);
        return 0;
    }
    if (!strict)
        return 0;
    return ad_cli_fail(AD_CLI_EXIT_USAGE, "%s: unknown hardware class \"%s\"; known: %s", what, arg,
                       ad_cli_hw_known(cli, known, sizeof(known)));
}

bool
ad_cli_hw_is_known(ad_cli_t *cli, const char *fp)
{
    ad_cli_hw_t *hw = s_hw(cli);

    for (size_t i = 0; fp && i < hw->n; i++)
        if (!strcmp(hw->v[i].fp, fp))
            return true;
    return false;
}

void
ad_cli_hw_free(ad_cli_hw_t **hw_p)
{
    ad_cli_hw_t *hw = hw_p ? *hw_p : NULL;

    if (!hw)
        return;
    for (size_t i = 0; i < hw->n; i++) {
        for (size_t k = 0; k < hw->v[i].n; k++)
            free(hw->v[i].nodes[k]);
        free(hw->v[i].nodes);
        free(hw->v[i].fp);
        free(hw->v[i].cluster);
    }
    free(hw->v);
    free(hw);
    *hw_p = NULL;
}
