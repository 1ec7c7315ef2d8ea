/* ad_sweep_file.h - sweep files: a base job, a grid, random sampling and repeats, expanded to jobs
 */
#ifndef AD_SWEEP_FILE_H
#define AD_SWEEP_FILE_H

#include <stdint.h>

#include "autodist/ad_error.h"
#include "autodist/ad_job.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A sweep: a base job, a grid of values for some of its keys, optional
 * random sampling and repeats.  Jobs are produced one at a time by index.
 */
typedef struct ad_sweep ad_sweep_t;

/*
 * Load and validate a sweep file: every grid value and every configuration
 * it expands to (or every sampled one) is checked, so ad_sweep_job() does not
 * fail on a loaded sweep.  Returns 0 and sets *out (free it with
 * ad_sweep_free()), or -errno / AD_EPARSE with err->msg "FILE:LINE:COL: ...".
 */
int ad_sweep_load(const char *path, ad_sweep_t **out, ad_err_t *err);

/* Like ad_sweep_load() for a sweep in memory; relative paths are against the current folder. */
int ad_sweep_load_string(const char *text, const char *name_for_errors, ad_sweep_t **out,
                         ad_err_t *err);

/*
 * Load a sweep from its canonical JSON (ad_sweep_json()), as the coordinator
 * rebuilds a sweep a client loaded: like ad_job_from_json(), the file
 * system is not read, so the base must be inline and paths absolute (they
 * are not checked).  It expands to the same jobs and has the same hash as the
 * sweep the JSON came from.  Returns 0 and sets *out (ad_sweep_free()), or
 * AD_EPARSE with err->msg "<json>:LINE:COL: ...".
 */
int ad_sweep_load_json(const char *json, ad_sweep_t **out, ad_err_t *err);

/* Release a sweep; NULL-safe and idempotent, sets *self_p to NULL. */
void ad_sweep_free(ad_sweep_t **self_p);

/* The sweep's name; borrowed from the sweep. */
const char *ad_sweep_name(const ad_sweep_t *self);

/* Number of jobs: configurations (grid size or random.samples) x repeats. */
int64_t ad_sweep_count(const ad_sweep_t *self);

/* Number of distinct configurations (ad_sweep_count() / repeats). */
int64_t ad_sweep_configs(const ad_sweep_t *self);

/*
 * The i-th job, 0 <= i < ad_sweep_count(): configuration i % configs, repeat
 * i / configs + 1 (every configuration runs once before any runs twice).  The
 * job is named "<sweep>-<first 12 digits of its hash>-r<repeat>".  Returns 0
 * and fills *job (freed with ad_job_clear()) and *repeat (1-based, may be
 * NULL), or AD_EPARSE with err set and *job zeroed.
 */
int ad_sweep_job(const ad_sweep_t *self, int64_t i, ad_job_t *job, int *repeat, ad_err_t *err);

/*
 * The configuration hash of configuration c, 0 <= c < ad_sweep_configs():
 * ad_job_hash() of ad_sweep_job(c) without the check, the copy and the name
 * (about 20 us instead of 30), for matching the jobs of a resumed sweep.
 */
void ad_sweep_config_hash(const ad_sweep_t *self, int64_t c, char out[17]);

/*
 * The canonical JSON of the sweep: its name, the base job's given keys (the
 * base inlined, paths absolute), the grid with canonical values, random,
 * repeats and max_configs.  It is itself a valid sweep file.  Borrowed from
 * the sweep.
 */
const char *ad_sweep_json(const ad_sweep_t *self);

/*
 * The sweep hash: FNV-1a of the canonical JSON without max_configs, so a
 * sweep file whose jobs changed under the same name is told apart, while
 * raising the limit is not a change.  16 hex digits and a NUL in out.
 */
void ad_sweep_hash(const ad_sweep_t *self, char out[17]);

#ifdef __cplusplus
}
#endif

#endif
