/* ad_filter.h - the --where language of `autodist runs` and `autodist speedup`: parse, evaluate */
#ifndef AD_FILTER_H
#define AD_FILTER_H

#include <stdbool.h>
#include <stddef.h>

#include "autodist/ad_error.h"
#include "autodist/ad_store.h"

/*
 * A filter is a boolean expression over the fields of a run or of a layout
 * group (docs/speedup.md):
 *
 *     model in (cnn, resnet18) and nodes >= 2
 *     not (device = gpu) or speedup between 1.5 and 4
 *
 * It is parsed once into a tree and evaluated against rows through an
 * accessor, so the same filter serves runs (ad_run_t), groups
 * (ad_speedup_row_t) or anything else that can say what its fields are.
 * Logic is SQL's: a comparison with a missing value (a run without a
 * speedup) is unknown, `not unknown` is unknown, and a row is kept only
 * when the whole expression is true.
 */
typedef struct ad_filter ad_filter_t;

/* The fields an expression may name. */
typedef enum {
    AD_FIELD_MODEL = 0,  /* text: model zoo name */
    AD_FIELD_DATASET,    /* text */
    AD_FIELD_HARDWARE,   /* text: hardware class (a fingerprint; see ad_filter_map()) */
    AD_FIELD_DEVICE,     /* text: cpu or gpu */
    AD_FIELD_BATCH,      /* number: global batch (batch_size) */
    AD_FIELD_NODES,      /* number */
    AD_FIELD_PPN,        /* number: processes per node (procs_per_node) */
    AD_FIELD_TPP,        /* number: threads per process (threads_per_proc) */
    AD_FIELD_WORKERS,    /* number: nodes x ppn */
    AD_FIELD_CORES,      /* number: nodes x ppn x tpp */
    AD_FIELD_STATE,      /* text: PENDING ... NODE_FAIL (any case in the expression) */
    AD_FIELD_JOB,        /* number: job id; missing for imported runs */
    AD_FIELD_SWEEP,      /* number: sweep id; missing outside sweeps */
    AD_FIELD_ID,         /* number: run id */
    AD_FIELD_SAMPLES,    /* number: samples/s (a group's mean) */
    AD_FIELD_SPEEDUP,    /* number: speedup (a group's mean); missing without a baseline */
    AD_FIELD_EFFICIENCY, /* number: speedup / cores used */
    AD_FIELD_ACCURACY,   /* number: test accuracy in [0, 1] */
    AD_FIELD_RUNS,       /* number: runs in a group (grouped rows only) */
    /* Runs as experiments (docs/speedup.md "Tags, notes and hyper-parameters"). */
    AD_FIELD_NAME,       /* text: the run's job name */
    AD_FIELD_NOTE,       /* text: the run's note */
    AD_FIELD_TAG,        /* text or number: tag.KEY, the run's tag KEY (ad_value_t.key) */
    AD_FIELD_PARAM,      /* text or number: a job key of the run's spec (lr, spec.seed, ...) */
    AD_FIELD_SWEEP_NAME, /* text: the sweep's name (`sweep = NAME` with a name) */
    AD_FIELD_LAYOUT, /* text: NxPxT; literals normalised by ad_layout_parse() (1,2,1 is 1x2x1) */
    AD_FIELD_FLAGS,  /* text: the comma list of flags; = != in test membership of one flag */
    AD_FIELD_COUNT
} ad_field_t;

#define AD_FIELD_BIT(field) (1u << (field))

/* The fields a run has and a layout group does not: they select runs before grouping. */
#define AD_FIELDS_OF_RUNS                                                                          \
    (AD_FIELD_BIT(AD_FIELD_STATE) | AD_FIELD_BIT(AD_FIELD_JOB) | AD_FIELD_BIT(AD_FIELD_SWEEP) |    \
     AD_FIELD_BIT(AD_FIELD_ID) | AD_FIELD_BIT(AD_FIELD_ACCURACY) | AD_FIELD_BIT(AD_FIELD_NAME) |   \
     AD_FIELD_BIT(AD_FIELD_NOTE) | AD_FIELD_BIT(AD_FIELD_TAG) | AD_FIELD_BIT(AD_FIELD_PARAM) |     \
     AD_FIELD_BIT(AD_FIELD_SWEEP_NAME))

/* Flags of ad_filter_parse(). */
#define AD_FILTER_GROUPS 0x1u /* rows are layout groups: the field `runs` exists */

/*
 * A field's value in a row: str for text fields (NULL = missing), num for
 * numbers (NaN = missing).  A tag or a spec key (AD_FIELD_TAG, AD_FIELD_PARAM)
 * is asked with key set, and answers str (its text) and num when that text
 * is a number; a getter may write the text into buf.
 */
typedef struct ad_value {
    const char *str; /* text fields; borrowed from the row (or buf) */
    double num;      /* number fields */
    const char *key; /* in: the tag's key or the spec's dotted path; NULL for the others */
    char buf[256];   /* room for a getter's text */
} ad_value_t;

/* Fill *out with field of row (out comes zeroed, num NaN). */
typedef void (*ad_filter_get_fn)(const void *row, ad_field_t field, ad_value_t *out);

/* Where and why a parse failed. */
typedef struct ad_filter_error {
    int column;    /* 1-based column (characters) of the token at fault */
    char msg[320]; /* "expected a value after \"in (\", got \")\" at column 18" */
} ad_filter_error_t;

/*
 * Parse text (flags: AD_FILTER_*).  Returns 0 and sets *out (the caller frees
 * it with ad_filter_free()), or AD_EPARSE with err saying what was expected
 * and at which column, and *out NULL.
 */
int ad_filter_parse(const char *text, unsigned flags, ad_filter_t **out, ad_filter_error_t *err);

/* Free a filter; NULL-safe and idempotent, sets *self_p to NULL. */
void ad_filter_free(ad_filter_t **self_p);

/* True when the whole expression is true for row. */
bool ad_filter_match(const ad_filter_t *self, ad_filter_get_fn get, const void *row);

/*
 * The expression is an and of terms (a single term when its top is not an
 * `and`).  The number of terms, the fields term i names (AD_FIELD_BIT()s),
 * the column where it starts, and whether it is true for row.
 */
size_t ad_filter_terms(const ad_filter_t *self);
unsigned ad_filter_term_fields(const ad_filter_t *self, size_t i);
int ad_filter_term_column(const ad_filter_t *self, size_t i);
bool ad_filter_term_match(const ad_filter_t *self, size_t i, ad_filter_get_fn get, const void *row);

/* The first column at which term i names field, or 0 when it does not. */
int ad_filter_term_field_column(const ad_filter_t *self, size_t i, ad_field_t field);

/* Every field the expression names (AD_FIELD_BIT()s). */
unsigned ad_filter_fields(const ad_filter_t *self);

/*
 * Push what the store can select by itself into rf: the terms that are an
 * equality (or an `in` of one value) on model, dataset, hardware, device,
 * batch, nodes, ppn, tpp, layout (as nodes, ppn and tpp), job or sweep, and
 * `state = S` / `state in (...)`.
 * Only fields rf leaves open are set, so the store's selection is a superset
 * of the expression's and the caller still evaluates the expression.
 * Returns true when every term was pushed, so the store's selection is exact.
 */
bool ad_filter_push(const ad_filter_t *self, ad_run_filter_t *rf);

/*
 * Rewrite the literals of field's comparisons (=, !=, <>, in, between; not
 * like patterns) through map: map(ctx, literal) returns a new string
 * (owned by the filter then) or NULL to keep the literal.  `autodist runs`
 * and `speedup` map `hardware = vm` to the fingerprint of the class named
 * vm (ad_cli_hw_resolve()), before ad_filter_push().
 */
typedef char *(*ad_filter_map_fn)(void *ctx, const char *literal);
void ad_filter_map(ad_filter_t *self, ad_field_t field, ad_filter_map_fn map, void *ctx);

/* A field's canonical name ("batch", "ppn", ...). */
const char *ad_filter_field_name(ad_field_t field);

/* True when field holds text (model, dataset, hardware, device, state). */
bool ad_filter_field_is_text(ad_field_t field);

/*
 * The field called name (canonical names and aliases: batch_size,
 * procs_per_node, threads_per_proc, samples_per_s, ...; any case).
 * Returns 0 and sets *field, or AD_EINVAL.
 */
int ad_filter_field_from_name(const char *name, ad_field_t *field);

/* The fields' names, ", "-separated, in a static string (for messages and help). */
const char *ad_filter_field_names(void);

/* SQL's LIKE: '%' any run of characters, '_' one character, ASCII letters in any case. */
bool ad_filter_like(const char *s, const char *pattern);

/*
 * The job key a --where name means, as a dotted path of the job's canonical
 * JSON ("lr" and "learning_rate" are "optimizer.lr", "spec.X" is X, "seed" is
 * "seed"), in a static string; NULL when name is no job key.
 */
const char *ad_filter_param_path(const char *name);

#endif
