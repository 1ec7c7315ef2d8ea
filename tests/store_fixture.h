/* store_fixture.h - what the store's tests share: stores under the temp root, plain SQLite, runs */
#ifndef AD_STORE_FIXTURE_H
#define AD_STORE_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autodist/ad_store.h"

/* a and b are equal up to rounding (relative 1e-9). */
#define assert_near(a, b) assert_true(sft_near((a), (b)))

/* Whether a and b are equal up to rounding (relative 1e-9). */
bool sft_near(double a, double b);

/* ---- stores ------------------------------------------------------------------------------ */

/* ad_store_open(path, flags); the test fails when it cannot. */
ad_store_t *sft_open(const char *path, unsigned flags);

/* A new store at a fresh path under the temp root (root/tag-N.db, its path into path). */
ad_store_t *sft_new_store(char *path, size_t len, const char *tag);

/* ---- the file with plain SQLite, as another program would see it -------------------------- */

/* Run SQL on the file. */
void sft_raw_exec(const char *path, const char *sql);

/* One integer from a query. */
int64_t sft_raw_int(const char *path, const char *sql);

/* One text from a query into out. */
void sft_raw_text(const char *path, const char *sql, char *out, size_t len);

/* The details of EXPLAIN QUERY PLAN, joined with " | ". */
void sft_raw_plan(const char *path, const char *sql, char *out, size_t len);

/* ---- runs ---------------------------------------------------------------------------------- */

/* A run of model cnn on fashion-mnist, hardware class hw-a, batch 256. */
void sft_run(ad_run_t *run, int nodes, int ppn, int tpp, ad_job_state_t state, double sps);

/* ad_store_add_run(); its id (the test fails when it cannot). */
int64_t sft_add_run(ad_store_t *store, const ad_run_t *run);

/* Add a RUNNING run and finish it COMPLETED with a throughput and an end time. */
int64_t sft_run_to_completion(ad_store_t *store, int nodes, int ppn, int tpp, double sps,
                              double ended);

/* ---- cmocka setup and teardown ----------------------------------------------------------- */

/* Group setup: make the temp root. */
int sft_group_setup(void **state);

/* Group teardown: remove the temp root. */
int sft_group_teardown(void **state);

/* Each test's teardown: disarm every fault. */
int sft_teardown(void **state);

#endif
