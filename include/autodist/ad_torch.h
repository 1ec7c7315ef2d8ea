/* ad_torch.h - the C interface to libtorch: models, flat gradient buckets, optimisers */
#ifndef AD_TORCH_H
#define AD_TORCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autodist/ad_error.h"
#include "autodist/ad_infer.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A model with its parameters, gradients and optimiser state.  Parameters,
 * gradients and buffers (BatchNorm running statistics) each live in one flat
 * float array, so a caller can broadcast or allreduce them without knowing
 * the layers.  Gradients are laid out in the order autograd produces them
 * (last layer first) and cut into buckets of about bucket_bytes, so a bucket
 * is complete early in the backward pass and can be reduced while backward
 * goes on.  No C++ exception crosses this interface.
 */
typedef struct ad_model ad_model_t;

/* Device a model runs on. */
typedef enum {
    AD_DEVICE_CPU = 0, /* the host */
    AD_DEVICE_GPU = 1, /* a CUDA device (only when ad_torch_has_cuda()) */
} ad_device_t;

/* Optimiser kinds. */
typedef enum {
    AD_OPTIM_SGD = 0,  /* SGD with momentum and weight decay (PyTorch semantics) */
    AD_OPTIM_ADAM = 1, /* Adam (Kingma & Ba, PyTorch semantics, L2 weight decay) */
} ad_optim_kind_t;

/* Optimiser settings. */
typedef struct ad_optim {
    ad_optim_kind_t kind; /* SGD or Adam */
    double lr;            /* learning rate */
    double momentum;      /* SGD momentum (0 = none) */
    double weight_decay;  /* L2 penalty added to the gradient */
    double beta1;         /* Adam beta1 (default 0.9 when 0) */
    double beta2;         /* Adam beta2 (default 0.999 when 0) */
    double eps;           /* Adam epsilon (default 1e-8 when 0) */
} ad_optim_t;

/* What the model is built for. */
typedef struct ad_model_opts {
    const char *name;     /* mlp, lenet5, cnn, resnet18, mobilenet_v2 */
    int channels;         /* input channels */
    int height;           /* input height */
    int width;            /* input width */
    int classes;          /* output classes */
    uint64_t seed;        /* seeds weight initialisation */
    ad_device_t device;   /* where to run */
    int device_index;     /* GPU ordinal when device is AD_DEVICE_GPU */
    size_t bucket_bytes;  /* target gradient bucket size; 0 = 2 MiB */
    const char *artifact; /* an fp32 inference artifact's folder to start from (fine-tuning a
                             pruned model): its graph and weights instead of the zoo's name,
                             which then only labels it; NULL = the zoo */
} ad_model_opts_t;

/*
 * Called during backward: on_bucket when bucket b's gradients are all
 * written (its floats can be reduced now), on_grad after each parameter's
 * gradient arrives (a chance to drive communication).  Both run on the
 * thread that called ad_torch_forward_backward() for CPU models.
 */
typedef struct ad_hooks {
    void (*on_bucket)(void *arg, int bucket);
    void (*on_grad)(void *arg);
    void *arg;
} ad_hooks_t;

/* Names of the models in the zoo, NULL-terminated; static. */
const char *const *ad_torch_models(void);

/* The libtorch version the shim was built against ("1.13.0"); static. */
const char *ad_torch_version(void);

/* True when the linked libtorch can run on a GPU and one is visible. */
bool ad_torch_has_cuda(void);

/* Number of visible CUDA devices (0 without CUDA). */
int ad_torch_cuda_devices(void);

/* Set the intra-op threads of this process (and one inter-op thread). */
void ad_torch_set_threads(int threads);

/*
 * Build a model.  Returns 0 and sets *out (owned by the caller, freed with
 * ad_torch_model_free()), or AD_EMODEL for an unknown name, AD_EINVAL for a
 * shape the model cannot take, AD_EDEVICE without the device, with err set.
 * With opts->artifact: AD_ECKPT for a folder that is not an artifact,
 * AD_EINVAL for an int8 one or one whose input shape or classes differ.
 */
int ad_torch_model_new(const ad_model_opts_t *opts, ad_model_t **out, ad_err_t *err);

/* Release a model; NULL-safe and idempotent, sets *self_p to NULL. */
void ad_torch_model_free(ad_model_t **self_p);

/* Number of trainable parameters. */
int64_t ad_torch_param_count(const ad_model_t *self);

/* Estimated floating-point operations of one forward pass of one sample. */
double ad_torch_flops_per_sample(const ad_model_t *self);

/* Flat parameters (host memory, ad_torch_param_count() floats); borrowed. */
float *ad_torch_params(ad_model_t *self);

/* Flat buffers (BatchNorm running statistics); count in *n; borrowed, NULL if none. */
float *ad_torch_buffers(ad_model_t *self, int64_t *n);

/* Flat gradients, bucket-ordered; borrowed. */
float *ad_torch_grads(ad_model_t *self);

/* Number of gradient buckets. */
int ad_torch_bucket_count(const ad_model_t *self);

/* Bucket b's first float in ad_torch_grads() and its length in floats. */
void ad_torch_bucket(const ad_model_t *self, int b, int64_t *offset, int64_t *count);

/* Install the backward hooks (copied); NULL removes them. */
void ad_torch_set_hooks(ad_model_t *self, const ad_hooks_t *hooks);

/* Set or change the optimiser; resets its state.  AD_EINVAL on bad values. */
int ad_torch_set_optimizer(ad_model_t *self, const ad_optim_t *optim, ad_err_t *err);

/* Change the learning rate without touching the optimiser's state. */
void ad_torch_set_lr(ad_model_t *self, double lr);

/*
 * Forward and backward on n samples (x: n*C*H*W floats, y: n labels) in
 * training mode.  The loss is the sum of per-sample cross-entropy times
 * loss_scale (1/global batch gives each rank's share of the global mean, so
 * summing gradients over ranks gives the mean gradient).  Gradients are
 * overwritten, not accumulated.  *loss gets the scaled loss, *correct the
 * number of right top-1 predictions (either may be NULL).
 */
int ad_torch_forward_backward(ad_model_t *self, const float *x, const int64_t *y, int n,
                              double loss_scale, double *loss, int64_t *correct,
                              ad_err_t *err);

/* One optimiser step from the flat gradients. */
int ad_torch_step(ad_model_t *self, ad_err_t *err);

/*
 * Evaluate n samples in inference mode: *loss_sum gets the summed
 * cross-entropy and *correct the right top-1 predictions.
 */
int ad_torch_evaluate(ad_model_t *self, const float *x, const int64_t *y, int n,
                      double *loss_sum, int64_t *correct, ad_err_t *err);

/*
 * Copy the flat host arrays to the device after a caller changed them
 * (broadcast, buffer averaging, ...).  A no-op on CPU models, whose flat
 * arrays are the model's own storage.
 */
int ad_torch_sync_to_device(ad_model_t *self, ad_err_t *err);

/* Copy device gradients/buffers to the flat host arrays (no-op on CPU). */
int ad_torch_sync_from_device(ad_model_t *self, ad_err_t *err);

/*
 * Save parameters, buffers and optimiser state to path, atomically: streamed
 * with write(2) to path.tmp, fsync'ed, renamed into place.  Never throws nor
 * aborts; on failure path.tmp is removed, the previous path is untouched and
 * err says "PATH: no space left on device (wrote X MiB of Y MiB)" or the like.
 * Returns 0, -ENOSPC or -EDQUOT for a full disk or quota (so the caller can
 * tell), or AD_EIO for any other failure.
 */
int ad_torch_save(ad_model_t *self, const char *path, ad_err_t *err);

/*
 * Load what ad_torch_save() wrote into a model of the same architecture.
 * AD_ECKPT when the file is unreadable, corrupt or of another model.
 */
int ad_torch_load(ad_model_t *self, const char *path, ad_err_t *err);

/*
 * Optimiser state in host memory for broadcasting: which 0 is the SGD
 * momentum or Adam's first moment, 1 Adam's second moment; count in *n.
 * Borrowed; NULL when that state does not exist or lives on a GPU.
 */
float *ad_torch_optim_state(ad_model_t *self, int which, int64_t *n);

/* Optimiser steps taken (Adam's bias correction and SGD's first step use it). */
int64_t ad_torch_optim_steps(const ad_model_t *self);

/* Set the optimiser step count, after a caller restored the state. */
void ad_torch_set_optim_steps(ad_model_t *self, int64_t steps);

/*
 * Knowledge distillation (job key distill:, docs/jobfile.md).  The logits of n
 * samples in inference mode (a teacher's), n * classes floats into out;
 * AD_EINVAL when the model has another number of outputs.  The model is left
 * in eval mode: a teacher is never trained.
 */
int ad_torch_logits(ad_model_t *self, const float *x, int n, int classes, float *out,
                    ad_err_t *err);

/*
 * The distillation loss of n samples, summed: for each sample
 * alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T))
 * + (1 - alpha) * cross-entropy(student, y), computed in double.  Returns 0
 * with *loss set, or AD_EINVAL for T <= 0 or alpha outside [0, 1].
 */
int ad_torch_kd_loss(const float *student, const float *teacher, const int64_t *y, int n,
                     int classes, double temperature, double alpha, double *loss, ad_err_t *err);

/*
 * ad_torch_forward_backward() with the distillation loss above against the
 * teacher's logits (n * classes floats) instead of the cross-entropy, scaled
 * by loss_scale the same way; *correct counts the student's right answers.
 */
int ad_torch_forward_backward_kd(ad_model_t *self, const float *x, const int64_t *y, int n,
                                 const float *teacher, int classes, double temperature,
                                 double alpha, double loss_scale, double *loss, int64_t *correct,
                                 ad_err_t *err);

/*
 * Export the model in eval form (BatchNorm folded into the convolution before
 * it) into a new graph (*out, the caller's, ad_igraph_free()).  AD_ETORCH with
 * err set if a layer does not fit.
 */
int ad_torch_export(ad_model_t *self, ad_igraph_t **out, ad_err_t *err);

#ifdef __cplusplus
}
#endif

#endif
