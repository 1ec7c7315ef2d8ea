/* ad_infer_int.h - the inference engine's graph, shared by infer/'s sources (not public) */
#ifndef AD_INFER_INT_H
#define AD_INFER_INT_H

#include "autodist/ad_cxx_guard.h"
#include "autodist/ad_infer.h"

#include <ATen/core/ivalue.h>
#include <jansson.h>
#include <torch/torch.h>

#include <memory>
#include <string>
#include <exception>
#include <vector>

/* What a node does. */
enum s_op { OP_INPUT, OP_CONV, OP_LINEAR, OP_MAXPOOL, OP_AVGPOOL, OP_ADD };

/* One node of a graph: its operation, inputs, attributes, tensors and output shape. */
struct INode {
    int op = OP_INPUT;           /* enum s_op */
    int a = -1, b = -1;          /* input nodes (b only for add) */
    int act = AD_ACT_NONE;       /* activation fused after the node */
    int out = 0;                 /* output channels (conv) or features (linear) */
    int kh = 0, kw = 0;          /* kernel (conv; pools use kh) */
    int stride = 1, pad = 0;     /* conv and max-pool */
    int groups = 1;              /* conv groups */
    int64_t c = 0, h = 1, w = 1; /* output shape of one sample */
    bool flat = false;           /* output is N x c (linear, avgpool) */
    at::Tensor wt, bias;         /* fp32 weights (conv OIHW, linear O x I) and bias */
    /* int8 graphs */
    bool q = false;     /* weights are int8 (wq, wscale) */
    at::Tensor wq;      /* int8 weights, per output channel symmetric */
    at::Tensor wscale;  /* their scales (out floats) */
    bool qout = false;  /* the output has activation quantisation parameters */
    double qs = 1.0;    /* output scale */
    int64_t qz = 0;     /* output zero point */
    c10::IValue packed; /* prepacked weights (quantized::*_prepack) */
};

/* A graph: nodes in execution order, node 0 the input. */
struct ad_igraph {
    std::vector<INode> nodes; /* the nodes */
};

/* oneDNN convolution primitives and reordered weights of one loaded fp32 graph. */
struct DnnlCache;

/* A new, empty cache. */
std::shared_ptr<DnnlCache> s_dnnl_cache_new(void);

/* Run fp32 convolution node k of g on x (channels-last), its activation fused. */
at::Tensor s_dnnl_conv(DnnlCache *c, const ad_igraph_t *g, int k, const at::Tensor &x);

/* Run int8 linear node k of g on the quantised activation qa; fp32 out, its bias added and its
 * activation applied. */
at::Tensor s_dnnl_qlinear(DnnlCache *c, const ad_igraph_t *g, int k, const at::Tensor &qa);

/* Run int8 linear node k of g on the fp32 activation x, quantised per call (dynamic int8); fp32
 * out, its bias added and its activation applied. */
at::Tensor s_dnnl_dlinear(DnnlCache *c, const ad_igraph_t *g, int k, const at::Tensor &x);

/* Run int8 convolution node k of g on the quantised activation qa, its activation fused. */
at::Tensor s_dnnl_qconv(DnnlCache *c, const ad_igraph_t *g, int k, const at::Tensor &qa);

/* A loaded artifact. */
struct ad_infer {
    ad_igraph g;                      /* the graph */
    std::string meta_text;            /* model.json as read */
    std::string variant, arch;        /* from model.json */
    std::vector<std::string> classes; /* class names, may be empty */
    float mean[3] = {0, 0, 0};        /* normalisation */
    float stdv[3] = {1, 1, 1};
    int64_t bytes = 0;         /* size of weights.bin */
    std::vector<int> last_use; /* the last node reading each node's output */
    bool int8 = false;         /* runs the quantised path */
    std::shared_ptr<DnnlCache> dnnl; /* fp32: convolution primitives, renewed when weights change */
};

/* Operation and activation names, as model.json spells them. */
static const char *const s_op_names[] = {"input", "conv", "linear", "maxpool", "avgpool", "add"};
static const char *const s_act_names[] = {"none", "relu", "relu6"};

/* Append a prepared node after checking its inputs and shapes (sets its output shape). */
int s_igraph_append(ad_igraph_t *g, INode &&n, ad_err_t *err);

/* Run the fp32 graph on x (N x C x H x W) and return every node's output when keep is set. */
at::Tensor s_infer_forward(const ad_igraph_t *g, const at::Tensor &x, const std::vector<int> &last,
                           std::vector<at::Tensor> *keep, DnnlCache *dc = nullptr);

/* x (flattened) times node n's fp32 weights plus its bias, through oneDNN's sgemm. */
at::Tensor s_infer_linear(const at::Tensor &x, const INode &n);

/* Run the int8 graph. */
/* The comparison knobs (ad_infer_q.cpp): AD_INFER_ATEN_QCONV, AD_INFER_SGEMM_LINEAR set to
 * something other than "" or "0". */
bool s_aten_qconv(void);
bool s_sgemm_linear(void);
at::Tensor s_infer_forward_q(const ad_igraph_t *g, const at::Tensor &x,
                             const std::vector<int> &last, DnnlCache *dc);

/* Prepack the int8 weights of g for the ONEDNN engine (at load). */
void s_infer_prepack(ad_igraph_t *g);

/* The last reader of each node. */
std::vector<int> s_infer_last_use(const ad_igraph_t *g);

/* Merge the loaded model.json's keys (less the library's) with meta (text), for a new save. */
int s_infer_meta_merge(const ad_infer_t *self, const char *meta, const char *variant,
                       std::string *out, ad_err_t *err);

/* Number of parameters of g. */
int64_t s_igraph_params(const ad_igraph_t *g);

#endif
