/* ad_cli_runs.h - what `autodist runs` and `autodist speedup` share (options, fields, CSV) */
#ifndef AD_CLI_RUNS_H
#define AD_CLI_RUNS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "ad_cli.h"
#include "ad_filter.h"
#include "autodist/ad_store.h"

/* How the rows are printed. */
typedef enum { AD_CLI_OUT_TABLE = 0, AD_CLI_OUT_JSON, AD_CLI_OUT_CSV } ad_cli_out_t;

/* What the command line asked for. */
typedef struct ad_cli_runs_opts {
    ad_run_filter_t filter; /* the simple flags (--model, --dataset, --job) */
    int64_t limit;          /* --limit; 0 = all */
    const char *where;      /* --where; NULL = none */
    ad_cli_out_t out;       /* table, --json or --csv */
    const char *sort;       /* --sort (speedup) */
    const char *plot;       /* --plot FILE (speedup) */
    const char *hardware;   /* --hardware as given; NULL = none */
    char hw_fp[128];        /* the class it names; filter.hardware points here */
    char hw_unknown[128];   /* a --hardware or `hardware = X` no known class has; "" = none */
} ad_cli_runs_opts_t;

/* One layout group, as printed. */
typedef struct ad_cli_group {
    char *model;         /* key; owned once kept */
    char *dataset;       /* key */
    char *hardware;      /* key: the class (a fingerprint) */
    char *hardware_name; /* its readable name (ad_cli_hw_label()); owned once kept, NULL = none */
    char *device;        /* key */
    int64_t batch;       /* key: global batch */
    int nodes, ppn, tpp; /* key: layout */
    int64_t runs;        /* COMPLETED runs with a throughput */
    double sps, sd;      /* mean throughput and its sample standard deviation */
    double speedup;      /* mean speedup; NaN = no baseline */
    double efficiency;   /* speedup / cores used */
    double lo, hi;       /* the mean speedup's interval; NaN = no baseline */
    int64_t base_n;      /* 1x1x1 runs behind the baseline; 0 = none */
    char *run_flags;     /* flags any of its runs has (owned once kept; "" = none) */
    size_t seq;          /* position in the store's order: breaks the ties of --sort */
} ad_cli_group_t;

/* What the speedup query gathers. */
typedef struct ad_cli_groups {
    const ad_filter_t *where; /* the expression */
    bool *run_term;           /* per term: chooses runs (true) or groups (false) */
    ad_cli_group_t *rows;
    size_t n, cap;
} ad_cli_groups_t;


/*
 * Parse the options of runs (speedup false) or speedup into o.  Returns 0,
 * AD_CLI_OPT_HELP after printing the help, or an exit status after printing
 * a usage error.
 */
int ad_cli_runs_parse(ad_cli_t *cli, int argc, char **argv, bool speedup, ad_cli_runs_opts_t *o);

/*
 * Parse o->where (flags: AD_FILTER_*) into *out, then turn its hardware
 * literals into classes: `hardware = vm` means the class whose name, node or
 * fingerprint prefix is vm (ad_cli_hw_resolve()); a literal no known class
 * has stays as it is and is noted in o->hw_unknown.  Returns 0, or an exit
 * status after printing the error (a parse error, a name of two classes).
 */
int ad_cli_runs_where(ad_cli_t *cli, ad_cli_runs_opts_t *o, unsigned flags, ad_filter_t **out);

/*
 * When name (a --hardware or `hardware = X`; NULL or "" = none) is no known
 * class and no run of store has it as its class: print "WHAT: unknown
 * hardware class" with the known ones and return AD_CLI_EXIT_USAGE; else 0.
 */
int ad_cli_runs_check_hardware(ad_cli_t *cli, ad_store_t *store, const char *what,
                               const char *name);

/* Which option named o->hw_unknown: "--hardware" or "--where hardware". */
const char *ad_cli_runs_hw_what(const ad_cli_runs_opts_t *o);

/* Say where a --where expression went wrong: the message, the expression and a caret; returns 2. */
int ad_cli_runs_where_error(const char *text, const ad_filter_error_t *err);

/*
 * Read the store's sweep names, so that ad_cli_runs_get() answers
 * AD_FIELD_SWEEP_NAME (`sweep = NAME`).  Returns 0 or 1 after printing why.
 */
int ad_cli_runs_load_sweeps(ad_store_t *store);

/* Free what ad_cli_runs_load_sweeps() read; idempotent. */
void ad_cli_runs_free_sweeps(void);

/* A run's value of a --where field (an ad_filter_get_fn over ad_run_t). */
void ad_cli_runs_get(const void *row, ad_field_t field, ad_value_t *out);

/* Cores a layout uses: nodes x ppn x tpp on cpu, one GPU per rank on gpu. */
int64_t ad_cli_runs_cores(const char *device, int nodes, int ppn, int tpp);

/* A run as `runs --json` prints it (and `show --json` under "run"): a new object. */
json_t *ad_cli_run_json(const ad_run_t *r);

/* A run's tags as "k=v,k=v" in buf (cut with "..." when too long; "" when none). Returns buf. */
char *ad_cli_run_tags_text(const ad_run_t *r, char *buf, size_t size);
/* A run's flags (a comma list; NULL = none) as a new JSON array of strings. */
json_t *ad_cli_flags_json(const char *flags);

/*
 * A layout group's flags into buf ("" when none): noisy, high-spread and
 * few-samples when one of its runs has them; efficiency>100% when its mean speedup
 * exceeds its cores (more than one); high-spread also when its runs' throughputs
 * vary by more than AD_STORE_HIGH_SPREAD (docs/speedup.md).  Returns buf.
 */
char *ad_cli_group_flags(const ad_cli_group_t *g, char *buf, size_t size);

/* v as a new JSON real, or JSON null for NaN (a missing value). */
json_t *ad_cli_json_num(double v);

/* One CSV field and its separator (a newline when last), quoted as RFC 4180 says when it must be.
 */
void ad_cli_csv_text(FILE *f, const char *s, bool last);

/* A number as a CSV field: 10 significant digits ("%.10g"), empty for NaN. */
void ad_cli_csv_num(FILE *f, double v, bool last);

/* An integer as a CSV field, empty when missing. */
void ad_cli_csv_int(FILE *f, int64_t v, bool missing, bool last);

/* A group's layout family: baseline, threads, processes, nodes or mixed. */
const char *ad_cli_speedup_family(const ad_cli_group_t *g);

/*
 * Draw the groups with gnuplot into file (.svg or .png), saying so on stdout
 * when out is the table; store (NULL: none) gives each hardware class's cores,
 * marked on its panels.  Returns 0 or an exit status after printing why.
 */
int ad_cli_speedup_plot(const ad_cli_groups_t *gs, ad_store_t *store, const char *file,
                        ad_cli_out_t out);

#endif
