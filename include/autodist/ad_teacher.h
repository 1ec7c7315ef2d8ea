/* ad_teacher.h - a distillation teacher: read from a checkpoint folder, built for a run's data */
#ifndef AD_TEACHER_H
#define AD_TEACHER_H

#include "autodist/ad_error.h"
#include "autodist/ad_torch.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a checkpoint's state.json says of its model; plain bytes, so MPI can broadcast it. */
typedef struct ad_teacher_info {
    char model[32]; /* zoo name */
    int optim;      /* ad_optim_kind_t the checkpoint was written with */
} ad_teacher_info_t;

/*
 * Read dir/state.json (job key distill:, docs/trainer.md "Distillation"): its
 * model, optimiser and model file (default model.pt), and, when the
 * checkpoint has them, its shape and classes, which must be c x h x w and
 * classes.  Fills *ti and *file (the model file's path, freed by the caller).
 * Returns 0, AD_ECKPT (no or a bad state.json, the model file unreadable) or
 * AD_EINVAL (other data), with a message starting "teacher checkpoint DIR: ".
 */
int ad_teacher_read(const char *dir, int c, int h, int w, int classes, ad_teacher_info_t *ti,
                    char **file, ad_err_t *err);

/*
 * A model of ti's kind for c x h x w samples of classes classes on device
 * (index dev_index), with the optimiser its checkpoint was written with, so
 * that ad_torch_load() takes the file.  Returns 0 and sets *out, or an error
 * of ad_torch_model_new().
 */
int ad_teacher_new(const ad_teacher_info_t *ti, int c, int h, int w, int classes,
                   ad_device_t device, int dev_index, ad_model_t **out, ad_err_t *err);

#ifdef __cplusplus
}
#endif

#endif
