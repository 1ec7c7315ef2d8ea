/* ad_layout.c - the one spelling of a layout: NODESxPROCSxTHREADS ("1x2x1"), read and written */
#include "autodist/ad_layout.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Skip a separator at *p: x, X, × (UTF-8) or, when comma, ','.  False when there is none. */
static bool
s_separator(const char **p, bool comma)
{
    while (**p == ' ')
        (*p)++;
    if (comma ? **p == ',' : (**p == 'x' || **p == 'X')) {
        (*p)++;
    } else if (!comma && !strncmp(*p, "\xc3\x97", 2)) {
        *p += 2;
    } else {
        return false;
    }
    while (**p == ' ')
        (*p)++;
    return true;
}

int
ad_layout_parse(const char *what, const char *text, ad_layout_t *out, ad_err_t *err)
{
    const char *p = text;
    bool comma = strchr(text, ',') != NULL;
    long v[3];

    for (int i = 0; i < 3; i++) {
        char *end = NULL;

        while (*p == ' ')
            p++;
        errno = 0;
        v[i] = (*p >= '0' && *p <= '9') ? strtol(p, &end, 10) : 0;
        if (v[i] < 1)
            goto err_syntax;
        if (errno || v[i] > (i == 0 ? AD_LAYOUT_NODES_MAX : AD_LAYOUT_PER_NODE_MAX))
            return ad_err_set(err, AD_EPARSE,
                              "%s: at most %d nodes and %d processes per node or threads per "
                              "process, got \"%s\"",
                              what, AD_LAYOUT_NODES_MAX, AD_LAYOUT_PER_NODE_MAX, text);
        p = end;
        if (i < 2 && !s_separator(&p, comma))
            goto err_syntax;
    }
    while (*p == ' ')
        p++;
    if (*p)
        goto err_syntax;
    out->nodes = (int)v[0];
    out->procs_per_node = (int)v[1];
    out->threads_per_proc = (int)v[2];
    return 0;
err_syntax:
    return ad_err_set(err, AD_EPARSE,
                      "%s must be NODESxPROCSxTHREADS such as 1x2x1 (1,2,1 works too) with "
                      "integers >= 1, got \"%s\"",
                      what, text);
}

char *
ad_layout_str(int nodes, int procs_per_node, int threads_per_proc, char *buf, size_t size)
{
    snprintf(buf, size, "%dx%dx%d", nodes, procs_per_node, threads_per_proc);
    return buf;
}
