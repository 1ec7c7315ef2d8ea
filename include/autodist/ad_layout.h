/* ad_layout.h - the one spelling of a layout: NODESxPROCSxTHREADS ("1x2x1"), read and written */
#ifndef AD_LAYOUT_H
#define AD_LAYOUT_H

#include <stddef.h>

#include "autodist/ad_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What ad_layout_parse() accepts at most (the job file's own limits are tighter). */
#define AD_LAYOUT_NODES_MAX 100000  /* nodes */
#define AD_LAYOUT_PER_NODE_MAX 4096 /* processes per node, threads per process */

/* A layout's three counts. */
typedef struct ad_layout {
    int nodes;            /* machines, >= 1 */
    int procs_per_node;   /* MPI ranks on each, >= 1 */
    int threads_per_proc; /* compute threads of each rank, >= 1 */
} ad_layout_t;

/*
 * Read text as a layout: "NxPxT" (the form every table prints; 'X' and the
 * sign × work too) or "N,P,T" (the older form), integers >= 1 within
 * AD_LAYOUT_*_MAX, spaces around the parts allowed.  what names the
 * option or key in the message ("--layout").  Returns 0 with *out set, or
 * AD_EPARSE with err->msg one line: `WHAT must be NODESxPROCSxTHREADS such
 * as 1x2x1 (1,2,1 works too) with integers >= 1, got "TEXT"`.
 */
int ad_layout_parse(const char *what, const char *text, ad_layout_t *out, ad_err_t *err);

/* The layout nodes x procs x threads as "NxPxT" in buf (size bytes); returns buf. */
char *ad_layout_str(int nodes, int procs_per_node, int threads_per_proc, char *buf, size_t size);

#ifdef __cplusplus
}
#endif

#endif
