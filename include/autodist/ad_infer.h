/* ad_infer.h - inference artifacts: a trained model in eval form, saved, loaded, run, shrunk */
#ifndef AD_INFER_H
#define AD_INFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autodist/ad_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * An inference artifact is a directory (docs/inference.md, contract):
 *
 *   model.json   what it is: format "autodist-model" and version 1, the zoo
 *                architecture, the variant (fp32, int8, pruned...), the input
 *                shape and normalisation, the class names, the run and
 *                checkpoint it came from, its parent artifact, its test
 *                accuracy and measured latency when known, and the graph
 *   weights.bin  the graph's tensors (fp32, or int8 with per-channel scales),
 *                each with its name, type, shape and a CRC32C
 *
 * The graph is a list of nodes in execution order; node 0 is the input
 * (N x C x H x W floats, normalised), each other node reads earlier nodes.
 * BatchNorm is folded into the convolution before it, so an artifact has no
 * BatchNorm.  The graph is enough to run the model: loading an artifact does
 * not need the model zoo, the checkpoint or the dataset.
 */

/* A graph being built (by an export, a quantisation, a pruning). */
typedef struct ad_igraph ad_igraph_t;

/* A loaded artifact, ready to run. */
typedef struct ad_infer ad_infer_t;

/* The activation fused after a node. */
typedef enum {
    AD_ACT_NONE = 0,  /* identity */
    AD_ACT_RELU = 1,  /* max(x, 0) */
    AD_ACT_RELU6 = 2, /* min(max(x, 0), 6) */
} ad_act_t;

/* Start a graph whose input (node 0) is channels x height x width. */
ad_igraph_t *ad_igraph_new(int channels, int height, int width);

/* Release a graph; NULL-safe and idempotent, sets *self_p to NULL. */
void ad_igraph_free(ad_igraph_t **self_p);

/*
 * Append a 2-D convolution reading node in: weights w (out x in/groups x kh x
 * kw floats, copied), bias (out floats, copied; NULL = zeros), square stride
 * and padding, groups, then act.  Each append returns the new node's index, or
 * a negative code with err set for an input node that does not exist or a
 * shape that does not fit it.
 */
int ad_igraph_conv(ad_igraph_t *self, int in, const float *w, int out, int kh, int kw,
                   const float *bias, int stride, int pad, int groups, ad_act_t act,
                   ad_err_t *err);

/* Append a linear layer reading node in (flattened): w is out x in_features, bias out. */
int ad_igraph_linear(ad_igraph_t *self, int in, const float *w, int out, const float *bias,
                     ad_act_t act, ad_err_t *err);

/* Append a max-pooling of square kernel k, stride and padding. */
int ad_igraph_maxpool(ad_igraph_t *self, int in, int k, int stride, int pad, ad_err_t *err);

/* Append a global average pooling: N x C x H x W to N x C. */
int ad_igraph_avgpool(ad_igraph_t *self, int in, ad_err_t *err);

/* Append the sum of nodes a and b (same shape), then act. */
int ad_igraph_add(ad_igraph_t *self, int a, int b, ad_act_t act, ad_err_t *err);

/*
 * Write the graph (its last node is the output: N x classes logits) as an
 * artifact in dir, created if missing.  meta is a JSON object (text) whose
 * keys join model.json (arch, variant, classes, normalize, source, accuracy,
 * ...; see docs/inference.md); the graph and format keys are the library's.
 * Each file is written to a temporary name, fsync'ed and renamed, so a
 * crash leaves the old artifact or the new one.  AD_EIO with err naming the
 * file on failure (a full disk: "no space left on device").
 */
int ad_igraph_save(const ad_igraph_t *self, const char *dir, const char *meta, ad_err_t *err);

/*
 * Load the artifact in dir.  Returns 0 and sets *out, or AD_ECKPT with err
 * naming the file and what is wrong: missing, not an autodist model, a newer
 * format, a corrupt or truncated weights.bin (CRC), a graph whose shapes do
 * not fit its tensors.  Never aborts on a bad file.
 */
int ad_infer_load(const char *dir, ad_infer_t **out, ad_err_t *err);

/* Release a loaded artifact; NULL-safe and idempotent, sets *self_p to NULL. */
void ad_infer_free(ad_infer_t **self_p);

/* model.json as loaded (text of a JSON object); borrowed. */
const char *ad_infer_meta(const ad_infer_t *self);

/* The input shape one sample takes. */
void ad_infer_shape(const ad_infer_t *self, int *channels, int *height, int *width);

/* Number of classes (the output width). */
int ad_infer_classes(const ad_infer_t *self);

/* Class k's name from model.json, or NULL when it has none; borrowed. */
const char *ad_infer_class_name(const ad_infer_t *self, int k);

/* The normalisation: a pixel p in [0, 1] of channel c becomes (p - mean[c]) / std[c]. */
void ad_infer_normalize(const ad_infer_t *self, float mean[3], float std[3]);

/* The variant ("fp32", "int8", "pruned", ...) and the zoo architecture; borrowed. */
const char *ad_infer_variant(const ad_infer_t *self);
const char *ad_infer_arch(const ad_infer_t *self);

/* Number of weights (parameters) in the graph, and bytes of weights.bin. */
int64_t ad_infer_params(const ad_infer_t *self);
int64_t ad_infer_bytes(const ad_infer_t *self);

/*
 * Run n samples: x holds n x C x H x W normalised floats, logits gets n x
 * classes floats.  Safe to call from several threads at once on one model;
 * each call uses the process's intra-op threads (ad_infer_set_threads).
 * Never throws; AD_EINVAL for n < 1, AD_ETORCH with err set if libtorch fails.
 */
int ad_infer_run(ad_infer_t *self, const float *x, int n, float *logits, ad_err_t *err);

/*
 * Set this process's intra-op threads for inference (oneDNN and ATen) and,
 * the first time, one inter-op thread.  Call before any run.
 */
void ad_infer_set_threads(int threads);

/* Which BLAS and quantisation engine the figures of this process use ("oneDNN 2.7; ..."); static. */
const char *ad_infer_backend(void);

/*
 * Post-training static quantisation on the ONEDNN engine: convolutions get
 * int8 weights (per output channel, symmetric) and int8 activations whose
 * scales come from running the n calibration samples in calib (n x C x H x W,
 * normalised, the model's shape); linear layers get int8 weights too.  When
 * the int8 artifact runs, a linear layer reading a quantised activation (the
 * input, a max-pool) is a static u8 x s8 matmul; one reading fp32 (after an
 * average pool or another linear layer) is dynamic int8: its input is
 * quantised to u8 at every call over that input's own range (per sample),
 * then the same u8 x s8 matmul, fp32 out.  The result is written as an artifact
 * in dir with variant "int8" (meta as for ad_igraph_save).  AD_EINVAL for n
 * < 1 or calibration samples of the wrong shape (err says both shapes).
 */
int ad_infer_quantize(ad_infer_t *self, const float *calib, int n, int channels, int height,
                      int width, const char *dir, const char *meta, ad_err_t *err);

/*
 * Where ad_infer_quantize_stream() reads its calibration samples: fill x with at most max
 * samples (C x H x W floats each, normalised) and return how many, 0 when there are no more,
 * or a negative code with err saying why (the quantisation stops with it).
 */
typedef int ad_infer_calib_fn(void *arg, float *x, int max, ad_err_t *err);

/*
 * ad_infer_quantize() with the calibration samples read from next (with arg) a batch at a
 * time: only one batch of them is in memory at once, whatever their number.  AD_EINVAL when
 * next gives none, or for the wrong shape.
 */
int ad_infer_quantize_stream(ad_infer_t *self, ad_infer_calib_fn *next, void *arg, int channels,
                             int height, int width, const char *dir, const char *meta,
                             ad_err_t *err);

/*
 * Prune an fp32 artifact to dir.  Unstructured: the fraction of smallest
 * weights (by magnitude, per layer) become zero and weights.bin stores them
 * sparse.  Structured: each prunable convolution loses that fraction of its
 * output channels (smallest L1 norm) and the layers reading it their matching
 * inputs, so the layers really shrink; channels that meet in a residual sum
 * are kept.  AD_EINVAL for a fraction outside (0, 1) or an int8 artifact.
 */
int ad_infer_prune(ad_infer_t *self, double fraction, bool structured, const char *dir,
                   const char *meta, ad_err_t *err);

/* What a node of a loaded graph does (ad_infer_node). */
typedef enum {
    AD_INODE_INPUT = 0,   /* node 0: the input */
    AD_INODE_CONV = 1,    /* 2-D convolution */
    AD_INODE_LINEAR = 2,  /* linear layer on its input flattened */
    AD_INODE_MAXPOOL = 3, /* max-pooling */
    AD_INODE_AVGPOOL = 4, /* global average pooling */
    AD_INODE_ADD = 5,     /* sum of two nodes */
} ad_inode_op_t;

/* One node of a loaded fp32 graph, as ad_igraph_* built it. */
typedef struct ad_inode {
    ad_inode_op_t op;    /* what it does */
    int a, b;            /* the nodes it reads (b: add only; -1 = none) */
    ad_act_t act;        /* activation fused after it */
    int out;             /* output channels (conv) or features (linear) */
    int kh, kw;          /* kernel (conv; max-pooling uses kh) */
    int stride, pad;     /* conv and max-pooling */
    int groups;          /* conv groups */
    int64_t c, h, w;     /* its output shape for one sample (h = w = 1 when flat) */
    const float *weight; /* conv: out x c_in/groups x kh x kw, linear: out x in; else NULL */
    int64_t weight_n;    /* floats in weight */
    const float *bias;   /* out floats (conv, linear); else NULL */
} ad_inode_t;

/* Number of nodes in a loaded graph (node 0 is the input, the last the logits). */
int ad_infer_node_count(const ad_infer_t *self);

/*
 * Node k of a loaded fp32 graph into *out; its tensors are borrowed from the
 * model (valid until it is freed or fine-tuned).  AD_EINVAL for k out of range
 * or an int8 graph (whose weights are not floats).
 */
int ad_infer_node(const ad_infer_t *self, int k, ad_inode_t *out, ad_err_t *err);

/* Write a loaded (possibly fine-tuned) artifact to dir, meta as for ad_igraph_save. */
int ad_infer_save(const ad_infer_t *self, const char *dir, const char *meta, ad_err_t *err);

/*
 * Decode an image (JPEG, PNG, BMP, GIF: what stb_image reads) of len bytes,
 * resize it to width x height the way the imagefolder dataset does
 * (ad_resize_u8, no crop), make it 1 (grey) or 3 (RGB) channels and
 * normalise it with mean and std into out (channels x height x width floats).
 * AD_EDATA with err saying why for bytes that are not a whole image.
 */
int ad_image_decode(const void *data, size_t len, int channels, int height, int width,
                    const float mean[3], const float std[3], float *out, ad_err_t *err);

#ifdef __cplusplus
}
#endif

#endif
