/* ad_ckpt.h - a checkpoint folder: step-numbered model files, state.json, retention, fallback */
#ifndef AD_CKPT_H
#define AD_CKPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "autodist/ad_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Layout of DIR (docs/trainer.md, "Checkpoints"):
 *   model-<step>.pt  one checkpoint per saved step (the last K are kept)
 *   model.pt         the final weights after a successful end (or an old-layout checkpoint)
 *   state.json       the run's identity, "step" and "file": the model file of the latest one
 */
#define AD_CKPT_STATE "state.json"
#define AD_CKPT_FINAL "model.pt"
/* How many step checkpoints a run keeps by default (--checkpoint-keep, job checkpoint_keep). */
#define AD_CKPT_KEEP_DEFAULT 2

/* One model file that a resume may load. */
typedef struct ad_ckpt_cand {
    char *path;   /* DIR/model-<step>.pt or DIR/model.pt, owned */
    int64_t step; /* global steps done when it was saved */
} ad_ckpt_cand_t;

/* True for the codes of a full disk or quota (-ENOSPC, -EDQUOT). */
bool ad_ckpt_is_full(int code);

/* "DIR/NAME"; the caller frees it. */
char *ad_ckpt_path(const char *dir, const char *name);

/*
 * mkdir -p DIR and check that it is writable.  Returns 0, or -errno with err
 * naming the folder.
 */
int ad_ckpt_mkdirs(const char *dir, ad_err_t *err);

/* "DIR/model-<step>.pt"; the caller frees it. */
char *ad_ckpt_model_path(const char *dir, int64_t step);

/*
 * Write state to DIR/state.json atomically: to state.json.tmp with write(2),
 * fsync, rename.  Returns 0, -ENOSPC or -EDQUOT (a full disk or quota) or
 * AD_EIO, with err naming the file and the cause; the previous state.json is
 * then untouched and no temporary file is left.
 */
int ad_ckpt_write_state(const char *dir, const json_t *state, ad_err_t *err);

/*
 * The steps of DIR's model-<step>.pt files, newest first, in *steps (owned by
 * the caller, NULL when there are none) and their count in *n.  Returns 0, or
 * -errno with err when DIR cannot be read.
 */
int ad_ckpt_list(const char *dir, int64_t **steps, size_t *n, ad_err_t *err);

/*
 * Retention after the checkpoint of step was saved: keep the newest keep
 * model-<s>.pt with s <= step (keep 0: every one), delete the others (older
 * ones, and newer ones left by a run that stopped before writing its state),
 * and delete temporary files a killed save left.  Failures to delete are
 * logged, never fatal.  Returns the number of model files deleted.
 */
int ad_ckpt_prune(const char *dir, int64_t step, int keep);

/*
 * A successful end: DIR/model-<step>.pt becomes the final DIR/model.pt (a hard
 * link, renamed into place), state (borrowed; its "file" is set) is written
 * naming it, and unless keep_all every model-<s>.pt is deleted.  When the
 * step file is gone and DIR/state.json already names model.pt at step (a
 * finished run resumed), only the deletion is done.  Returns 0, or a code of
 * ad_ckpt_write_state() or AD_ECKPT with err.
 */
int ad_ckpt_finish(const char *dir, int64_t step, json_t *state, bool keep_all, ad_err_t *err);

/*
 * The model files a resume tries, best first: the one state (DIR/state.json,
 * borrowed) names ("file", model.pt when absent: the old layout) at its
 * "step", then each older model-<s>.pt, newest first.  Fills *cands (free
 * with ad_ckpt_cands_free()) and *n; returns 0, or AD_ECKPT with err when
 * state has no valid step.
 */
int ad_ckpt_candidates(const char *dir, const json_t *state, ad_ckpt_cand_t **cands, size_t *n,
                       ad_err_t *err);

/* Free what ad_ckpt_candidates() returned; NULL-safe. */
void ad_ckpt_cands_free(ad_ckpt_cand_t *cands, size_t n);

#ifdef __cplusplus
}
#endif

#endif
