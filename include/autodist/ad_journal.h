/* ad_journal.h - the coordinator's store writes that can wait: a busy store never holds the loop */
#ifndef AD_JOURNAL_H
#define AD_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "autodist/ad_coord.h"
#include "autodist/ad_error.h"
#include "autodist/ad_store.h"

/*
 * Another process can hold the store's write lock for seconds (an `autodist
 * import` of 200,000 runs).  The coordinator's loop must not wait for it:
 * heartbeats, DOWN detection and metrics go on.  Its writes go through the
 * journal: each is tried at once with a short lock wait; when the store is
 * busy it is kept, in order, and written by ad_journal_flush() on the next
 * ticks (every later write queues behind it, so the store sees them in the
 * order they were made).  Writes that need an answer (a new job's id, a new
 * run's id) are not journaled: their callers check ad_journal_waiting() and
 * try again later, or answer "busy".
 */
typedef struct ad_journal ad_journal_t;

/* How long one attempt waits for another process's lock (ms). */
#define AD_JOURNAL_BUSY_MS 100

/* A journal writing to store (borrowed), whose lock wait it sets to AD_JOURNAL_BUSY_MS. */
ad_journal_t *ad_journal_new(ad_store_t *store);

/* Release the journal (what it still holds is logged as lost); NULL-safe, sets *self_p to NULL. */
void ad_journal_free(ad_journal_t **self_p);

/* Writes waiting for the store. */
size_t ad_journal_waiting(const ad_journal_t *self);

/*
 * Write what waits, in order, for at most budget_s seconds of trying (at
 * least one attempt).  Returns how many writes are still waiting.
 */
size_t ad_journal_flush(ad_journal_t *self, double budget_s);

/*
 * The journaled writes: the ad_coord_*() of the same name, done now or kept
 * for later when the store is busy.  Each returns 0 (written or kept), or a
 * negative code with err set when the write failed for another reason (a
 * bad state move, a full disk); arguments are copied.
 */
int ad_journal_job_set(ad_journal_t *self, int64_t id, const char *state, const char *reason,
                       int exit_code, ad_err_t *err);
int ad_journal_job_place(ad_journal_t *self, int64_t id, int nodes, int ppn, int tpp,
                         const char *device, const char *nodelist, ad_err_t *err);
int ad_journal_job_proc(ad_journal_t *self, int64_t id, pid_t pid, const char *identity,
                        int64_t run, ad_err_t *err);
int ad_journal_node_up(ad_journal_t *self, const char *name, const json_t *profile, ad_err_t *err);
int ad_journal_node_seen(ad_journal_t *self, const char *name, bool down, ad_err_t *err);
int ad_journal_nodes_seen(ad_journal_t *self, const char *const *names, size_t n, ad_err_t *err);
int ad_journal_run_finish(ad_journal_t *self, int64_t id, const ad_coord_result_t *res,
                          ad_err_t *err);
int ad_journal_run_metrics(ad_journal_t *self, int64_t id, const ad_coord_metric_t *m, size_t n,
                           ad_err_t *err);
/*
 * A run's record (ad_record.h; JSON text, copied) and, later, a key merged into
 * it (ad_store_put_record(), ad_store_record_merge()): journaled like the
 * others, so a record is not lost while another process holds the store.
 */
int ad_journal_run_record(ad_journal_t *self, int64_t run, const char *record, ad_err_t *err);
int ad_journal_record_merge(ad_journal_t *self, int64_t run, const char *key, const char *value,
                            ad_err_t *err);
int ad_journal_sweep_run(ad_journal_t *self, int64_t id, const char *state, int max_parallel,
                         bool retry_failed, const char *owner, ad_err_t *err);

#endif
