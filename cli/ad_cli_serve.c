/* ad_cli_serve.c - autodist serve: run autodist-serve on an artifact, a layout given or chosen */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ad_cli.h"
#include "autodist/ad_proc.h"
#include "autodist/ad_store.h"

/*
 * --layout auto: the measured layout of best throughput whose p95 <= p95_ms (none: the
 * best throughput), from bench-infer (ad_cli_infer_best_layout()), or an exit status
 * after saying why.
 */
static int
s_auto_layout(ad_cli_t *cli, const char *dir, const char *p95, int *p, int *t, int *b)
{
    double ms = p95 ? strtod(p95, NULL) : 0;
    ad_store_t *store = NULL;
    ad_err_t err = {0};
    const char *db;
    int rc;

    if (p95 && !(ms > 0))
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "serve: --p95-ms must be a positive number, got "
                                              "\"%s\"", p95);
    rc = ad_cli_open_store(cli, &store, &db);
    if (rc)
        return rc;
    if (!store)
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "serve: --layout auto: nothing measured yet (no "
                                              "%s): run autodist bench-infer %s first", db, dir);
    rc = ad_cli_infer_best_layout(store, dir, ms, p, t, b, &err);
    ad_store_close(&store);
    if (rc)
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "serve: --layout auto: %s", err.msg);
    return 0;
}

/* A positive whole number of at most hi, or -1. */
static long
s_count(const char *v, long hi)
{
    char *end;
    long n;

    errno = 0;
    n = strtol(v, &end, 10);
    return errno || end == v || *end || n < 1 || n > hi ? -1 : n;
}

/* PxTxB (processes, threads, max batch; x, X or ×): 0 or AD_CLI_EXIT_USAGE after saying why. */
static int
s_parse_layout(const char *v, int *p, int *t, int *b)
{
    char buf[64], *parts[3], *save = NULL, *s;
    int n = 0;
    long x[3];

    snprintf(buf, sizeof(buf), "%s", v);
    /* × is two bytes (C3 97): make both 'x' and a space. */
    for (char *c = buf; *c; c++) {
        if ((unsigned char)c[0] == 0xC3 && (unsigned char)c[1] == 0x97) {
            c[0] = 'x';
            c[1] = ' ';
        } else if (*c == 'X') {
            *c = 'x';
        }
    }
    for (s = strtok_r(buf, "x", &save); s && n < 3; s = strtok_r(NULL, "x", &save))
        parts[n++] = s;
    if (n == 3 && !s) {
        for (int i = 0; i < 3; i++) {
            while (*parts[i] == ' ')
                parts[i]++;
            parts[i][strcspn(parts[i], " ")] = '\0';
            x[i] = s_count(parts[i], 1024);
        }
        if (x[0] > 0 && x[1] > 0 && x[2] > 0) {
            *p = (int)x[0];
            *t = (int)x[1];
            *b = (int)x[2];
            return 0;
        }
    }
    return ad_cli_fail(AD_CLI_EXIT_USAGE,
                       "serve: --layout must be PROCESSESxTHREADSxBATCH (e.g. 2x4x8) or auto, "
                       "got \"%s\"",
                       v);
}

int
ad_cli_serve(ad_cli_t *cli, int argc, char **argv)
{
    static const struct option longs[] = {
        {"port", required_argument, NULL, 'p'},         {"listen", required_argument, NULL, 'l'},
        {"threads", required_argument, NULL, 't'},      {"max-batch", required_argument, NULL, 'b'},
        {"max-delay-ms", required_argument, NULL, 'd'}, {"processes", required_argument, NULL, 'P'},
        {"max-body", required_argument, NULL, 'm'},     {"layout", required_argument, NULL, 'L'},
        {"p95-ms", required_argument, NULL, 'q'},       {NULL, 0, NULL, 0},
    };
    const char *arg, *layout = NULL, *p95 = NULL;
    char *args[32], dir[PATH_MAX], exe[PATH_MAX], nums[3][16], flags[9][24];
    int c, n = 0, nf = 0, rc, procs = 0, threads = 0, batch = 0;

    args[n++] = "autodist-serve";
    args[n++] = NULL; /* the model's folder, once known */
    while ((c = ad_cli_getopt(cli, argc, argv, longs, &arg)) != AD_CLI_OPT_END) {
        switch (c) {
        case AD_CLI_OPT_HELP:
            return AD_CLI_EXIT_OK;
        case AD_CLI_OPT_ERROR:
            return AD_CLI_EXIT_USAGE;
        case 'L':
            layout = arg;
            break;
        case 'q':
            p95 = arg;
            break;
        default: {
            /* The server's own options pass through; it checks their values. */
            const struct option *o = longs;

            while (o->name && o->val != c)
                o++;
            if (!o->name || nf >= 9)
                return ad_cli_fail(AD_CLI_EXIT_USAGE, "serve: too many options");
            snprintf(flags[nf], sizeof(flags[nf]), "--%s", o->name);
            args[n++] = flags[nf++];
            args[n++] = (char *)arg;
        }
        }
    }
    if (optind != argc - 1)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "serve: %s (usage: autodist serve MODEL [options])",
                           optind >= argc ? "missing MODEL" : "one MODEL only");
    rc = ad_cli_model_dir(cli, "serve", argv[optind], dir, sizeof(dir));
    if (rc)
        return rc;
    args[1] = dir;
    if (layout && strcmp(layout, "auto") == 0) {
        rc = s_auto_layout(cli, dir, p95, &procs, &threads, &batch);
        if (rc)
            return rc;
    } else if (layout) {
        rc = s_parse_layout(layout, &procs, &threads, &batch);
        if (rc)
            return rc;
    } else if (p95) {
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "serve: --p95-ms goes with --layout auto");
    }
    if (layout) {
        /* Given after the pass-through options: the layout wins. */
        snprintf(nums[0], sizeof(nums[0]), "%d", procs);
        snprintf(nums[1], sizeof(nums[1]), "%d", threads);
        snprintf(nums[2], sizeof(nums[2]), "%d", batch);
        args[n++] = "--processes";
        args[n++] = nums[0];
        args[n++] = "--threads";
        args[n++] = nums[1];
        args[n++] = "--max-batch";
        args[n++] = nums[2];
        printf("autodist: serve: layout %dx%dx%d (processes x threads x batch)\n", procs, threads,
               batch);
        fflush(stdout);
    }
    args[n] = NULL;
    if (!ad_proc_sibling("autodist-serve", exe, sizeof(exe)))
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "serve: autodist-serve is not next to autodist");
    execv(exe, args);
    return ad_cli_fail(AD_CLI_EXIT_ERROR, "serve: cannot run %s: %s", exe, strerror(errno));
}
