/* ad_infer.cpp - inference graphs: the builder, the accessors and the fp32 run */
#include "ad_infer_int.h"

#include <oneapi/dnnl/dnnl.h>
#include <torch/version.h>

#include <errno.h>
#include <fcntl.h>
#include <omp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>

/* --------------------------------------------------------------------------
 * The graph builder.
 */

extern "C" ad_igraph_t *
ad_igraph_new(int channels, int height, int width)
{
    assert(channels > 0 && height > 0 && width > 0);
    ad_igraph_t *g = new ad_igraph();
    INode n;
    n.c = channels;
    n.h = height;
    n.w = width;
    g->nodes.push_back(std::move(n));
    return g;
}

extern "C" void
ad_igraph_free(ad_igraph_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    delete *self_p;
    *self_p = nullptr;
}

static int
s_need(const ad_igraph_t *g, int in, const char *what, ad_err_t *err)
{
    if (in < 0 || in >= (int)g->nodes.size())
        return ad_err_set(err, AD_EINVAL, "%s reads node %d, which does not exist (%zu nodes)",
                          what, in, g->nodes.size());
    return 0;
}

/* Output shape of a conv node, checking it against its input and weights. */
static int
s_shape_conv(const INode &i, INode &n, ad_err_t *err)
{
    if (i.flat)
        return ad_err_set(err, AD_EINVAL, "conv reads a flat node (%lld features)", (long long)i.c);
    if (n.out < 1 || n.kh < 1 || n.kw < 1 || n.stride < 1 || n.pad < 0 || n.groups < 1)
        return ad_err_set(err, AD_EINVAL,
                          "conv: bad attributes (out %d, kernel %dx%d, stride %d, "
                          "pad %d, groups %d)",
                          n.out, n.kh, n.kw, n.stride, n.pad, n.groups);
    if (i.c % n.groups || n.out % n.groups)
        return ad_err_set(err, AD_EINVAL,
                          "conv: %lld input and %d output channels do not "
                          "split into %d groups",
                          (long long)i.c, n.out, n.groups);
    n.c = n.out;
    n.h = (i.h + 2 * n.pad - n.kh) / n.stride + 1;
    n.w = (i.w + 2 * n.pad - n.kw) / n.stride + 1;
    if (i.h + 2 * n.pad < n.kh || i.w + 2 * n.pad < n.kw)
        return ad_err_set(err, AD_EINVAL, "conv: kernel %dx%d does not fit a %lldx%lld input", n.kh,
                          n.kw, (long long)i.h, (long long)i.w);
    return 0;
}

/* The shape weights of node n must have (fp32). */
static std::vector<int64_t>
s_wshape(const ad_igraph_t *g, const INode &n)
{
    const INode &i = g->nodes[n.a];
    if (n.op == OP_CONV)
        return {n.out, i.c / n.groups, n.kh, n.kw};
    return {n.out, i.c * i.h * i.w};
}

int
s_igraph_append(ad_igraph_t *g, INode &&n, ad_err_t *err)
{
    const char *what = s_op_names[n.op];
    int rc = s_need(g, n.a, what, err);
    if (rc)
        return rc;
    const INode &i = g->nodes[n.a];
    switch (n.op) {
    case OP_CONV:
        rc = s_shape_conv(i, n, err);
        break;
    case OP_LINEAR:
        if (n.out < 1)
            return ad_err_set(err, AD_EINVAL, "linear: %d output features", n.out);
        n.c = n.out, n.h = n.w = 1, n.flat = true;
        break;
    case OP_MAXPOOL:
        if (i.flat || n.kh < 1 || n.stride < 1 || n.pad < 0 || 2 * n.pad > n.kh ||
            i.h + 2 * n.pad < n.kh || i.w + 2 * n.pad < n.kh)
            return ad_err_set(err, AD_EINVAL,
                              "maxpool: kernel %d, stride %d, pad %d do not "
                              "fit a %s%lldx%lld input",
                              n.kh, n.stride, n.pad, i.flat ? "flat " : "", (long long)i.h,
                              (long long)i.w);
        n.c = i.c;
        n.h = (i.h + 2 * n.pad - n.kh) / n.stride + 1;
        n.w = (i.w + 2 * n.pad - n.kh) / n.stride + 1;
        break;
    case OP_AVGPOOL:
        if (i.flat)
            return ad_err_set(err, AD_EINVAL, "avgpool reads a flat node");
        n.c = i.c, n.h = n.w = 1, n.flat = true;
        break;
    case OP_ADD: {
        rc = s_need(g, n.b, what, err);
        if (rc)
            return rc;
        const INode &j = g->nodes[n.b];
        if (i.c != j.c || i.h != j.h || i.w != j.w || i.flat != j.flat)
            return ad_err_set(err, AD_EINVAL,
                              "add: nodes %d (%lldx%lldx%lld) and %d "
                              "(%lldx%lldx%lld) differ in shape",
                              n.a, (long long)i.c, (long long)i.h, (long long)i.w, n.b,
                              (long long)j.c, (long long)j.h, (long long)j.w);
        n.c = i.c, n.h = i.h, n.w = i.w, n.flat = i.flat;
        break;
    }
    default:
        return ad_err_set(err, AD_EINVAL, "unknown operation %d", n.op);
    }
    if (rc)
        return rc;
    if (n.act < AD_ACT_NONE || n.act > AD_ACT_RELU6)
        return ad_err_set(err, AD_EINVAL, "%s: unknown activation %d", what, n.act);
    if (n.op == OP_CONV || n.op == OP_LINEAR) {
        std::vector<int64_t> ws = s_wshape(g, n);
        at::Tensor &w = n.q ? n.wq : n.wt;
        if (!w.defined() || w.sizes().vec() != ws) {
            std::string want = c10::str(at::IntArrayRef(ws));
            std::string have = w.defined() ? c10::str(w.sizes()) : "missing";
            return ad_err_set(err, AD_EINVAL, "%s: weights are %s, the layer needs %s", what,
                              have.c_str(), want.c_str());
        }
        if (n.bias.defined() && (n.bias.dim() != 1 || n.bias.size(0) != n.out))
            return ad_err_set(err, AD_EINVAL, "%s: bias is %s, the layer needs [%d]", what,
                              c10::str(n.bias.sizes()).c_str(), n.out);
        if (n.q && (!n.wscale.defined() || n.wscale.numel() != n.out))
            return ad_err_set(err, AD_EINVAL, "%s: %s weight scales, the layer needs %d", what,
                              n.wscale.defined() ? "wrong number of" : "no", n.out);
        if (!n.bias.defined())
            n.bias = at::zeros({n.out});
    }
    g->nodes.push_back(std::move(n));
    return (int)g->nodes.size() - 1;
}

static at::Tensor
s_copy(const float *p, at::IntArrayRef shape)
{
    return at::from_blob((void *)p, shape, at::kFloat).clone();
}

extern "C" int
ad_igraph_conv(ad_igraph_t *self, int in, const float *w, int out, int kh, int kw,
               const float *bias, int stride, int pad, int groups, ad_act_t act, ad_err_t *err)
{
    INode n;
    n.op = OP_CONV, n.a = in, n.out = out, n.kh = kh, n.kw = kw, n.stride = stride, n.pad = pad;
    n.groups = groups, n.act = act;
    int rc = s_need(self, in, "conv", err);
    if (rc)
        return rc;
    const INode &i = self->nodes[in];
    if (out < 1 || kh < 1 || kw < 1 || groups < 1 || i.flat || i.c % groups)
        return s_igraph_append(self, std::move(n), err); /* reports the misfit */
    n.wt = s_copy(w, {out, i.c / groups, kh, kw});
    if (bias)
        n.bias = s_copy(bias, {out});
    return s_igraph_append(self, std::move(n), err);
}

extern "C" int
ad_igraph_linear(ad_igraph_t *self, int in, const float *w, int out, const float *bias,
                 ad_act_t act, ad_err_t *err)
{
    INode n;
    n.op = OP_LINEAR, n.a = in, n.out = out, n.act = act;
    int rc = s_need(self, in, "linear", err);
    if (rc)
        return rc;
    const INode &i = self->nodes[in];
    if (out < 1)
        return s_igraph_append(self, std::move(n), err);
    n.wt = s_copy(w, {out, i.c * i.h * i.w});
    if (bias)
        n.bias = s_copy(bias, {out});
    return s_igraph_append(self, std::move(n), err);
}

extern "C" int
ad_igraph_maxpool(ad_igraph_t *self, int in, int k, int stride, int pad, ad_err_t *err)
{
    INode n;
    n.op = OP_MAXPOOL, n.a = in, n.kh = n.kw = k, n.stride = stride, n.pad = pad;
    return s_igraph_append(self, std::move(n), err);
}

extern "C" int
ad_igraph_avgpool(ad_igraph_t *self, int in, ad_err_t *err)
{
    INode n;
    n.op = OP_AVGPOOL, n.a = in;
    return s_igraph_append(self, std::move(n), err);
}

extern "C" int
ad_igraph_add(ad_igraph_t *self, int a, int b, ad_act_t act, ad_err_t *err)
{
    INode n;
    n.op = OP_ADD, n.a = a, n.b = b, n.act = act;
    return s_igraph_append(self, std::move(n), err);
}

int64_t
s_igraph_params(const ad_igraph_t *g)
{
    int64_t total = 0;
    for (const INode &n : g->nodes) {
        if (n.op != OP_CONV && n.op != OP_LINEAR)
            continue;
        total += (n.q ? n.wq : n.wt).numel() + n.bias.numel();
    }
    return total;
}

extern "C" void
ad_infer_free(ad_infer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    delete *self_p;
    *self_p = nullptr;
}

extern "C" const char *
ad_infer_meta(const ad_infer_t *self)
{
    return self->meta_text.c_str();
}

extern "C" void
ad_infer_shape(const ad_infer_t *self, int *channels, int *height, int *width)
{
    const INode &n = self->g.nodes[0];
    if (channels)
        *channels = (int)n.c;
    if (height)
        *height = (int)n.h;
    if (width)
        *width = (int)n.w;
}

extern "C" int
ad_infer_classes(const ad_infer_t *self)
{
    return (int)self->g.nodes.back().c;
}

extern "C" const char *
ad_infer_class_name(const ad_infer_t *self, int k)
{
    if (k < 0 || k >= (int)self->classes.size())
        return nullptr;
    return self->classes[k].c_str();
}

extern "C" void
ad_infer_normalize(const ad_infer_t *self, float mean[3], float std[3])
{
    for (int k = 0; k < 3; k++) {
        mean[k] = self->mean[k];
        std[k] = self->stdv[k];
    }
}

extern "C" const char *
ad_infer_variant(const ad_infer_t *self)
{
    return self->variant.c_str();
}

extern "C" const char *
ad_infer_arch(const ad_infer_t *self)
{
    return self->arch.c_str();
}

extern "C" int64_t
ad_infer_params(const ad_infer_t *self)
{
    return s_igraph_params(&self->g);
}

extern "C" int
ad_infer_node_count(const ad_infer_t *self)
{
    return (int)self->g.nodes.size();
}

extern "C" int
ad_infer_node(const ad_infer_t *self, int k, ad_inode_t *out, ad_err_t *err)
{
    memset(out, 0, sizeof(*out));
    if (k < 0 || k >= (int)self->g.nodes.size())
        return ad_err_set(err, AD_EINVAL, "node %d: the graph has %zu nodes", k,
                          self->g.nodes.size());
    if (self->int8)
        return ad_err_set(err, AD_EINVAL, "node %d: the model is int8; read its fp32 parent", k);
    const INode &n = self->g.nodes[k];
    out->op = (ad_inode_op_t)n.op;
    out->a = n.a;
    out->b = n.b;
    out->act = (ad_act_t)n.act;
    out->out = n.out;
    out->kh = n.kh;
    out->kw = n.kw;
    out->stride = n.stride;
    out->pad = n.pad;
    out->groups = n.groups;
    out->c = n.c;
    out->h = n.h;
    out->w = n.w;
    if (n.op == OP_CONV || n.op == OP_LINEAR) {
        out->weight = n.wt.data_ptr<float>();
        out->weight_n = n.wt.numel();
        out->bias = n.bias.data_ptr<float>();
    }
    return 0;
}

extern "C" int64_t
ad_infer_bytes(const ad_infer_t *self)
{
    return self->bytes;
}

/* --------------------------------------------------------------------------
 * The fp32 run.
 */
static void
s_act(at::Tensor &y, int act)
{
    if (act == AD_ACT_RELU)
        at::relu_(y);
    else if (act == AD_ACT_RELU6)
        at::hardtanh_(y, 0.0, 6.0);
}

/* y = x w^T + b through oneDNN's sgemm (Debian's libtorch multiplies with the reference BLAS). */
at::Tensor
s_infer_linear(const at::Tensor &x_in, const INode &n)
{
    at::Tensor x = x_in.reshape({x_in.size(0), -1}).contiguous();
    int64_t rows = x.size(0), k = x.size(1), o = n.out;
    /* A copy, never a view: at one row expand().contiguous() is the bias itself. */
    at::Tensor y = at::empty({rows, o}, n.bias.options());
    y.copy_(n.bias.unsqueeze(0).expand({rows, o}));
    if (dnnl_sgemm('N', 'T', rows, o, k, 1.0f, x.data_ptr<float>(), k, n.wt.data_ptr<float>(), k,
                   1.0f, y.data_ptr<float>(), o) != dnnl_success)
        throw std::runtime_error("oneDNN sgemm failed");
    return y;
}

at::Tensor
s_infer_forward(const ad_igraph_t *g, const at::Tensor &x, const std::vector<int> &last,
                std::vector<at::Tensor> *keep, DnnlCache *dc)
{
    std::vector<at::Tensor> v(g->nodes.size());
    v[0] = x.contiguous(at::MemoryFormat::ChannelsLast);
    for (size_t k = 1; k < g->nodes.size(); k++) {
        const INode &n = g->nodes[k];
        const at::Tensor &a = v[n.a];
        at::Tensor y;
        bool fused = false;
        switch (n.op) {
        case OP_CONV:
            if (dc) {
                /* Our own primitives: ATen's reorder the weights at every call. */
                y = s_dnnl_conv(dc, g, (int)k, a);
                fused = true;
                break;
            }
            /* oneDNN always: at::conv2d picks a reference-BLAS path for small batch-1 inputs. */
            y = at::mkldnn_convolution(a, n.wt, n.bias, {n.pad, n.pad}, {n.stride, n.stride},
                                       {1, 1}, n.groups);
            break;
        case OP_LINEAR:
            y = s_infer_linear(a, n);
            break;
        case OP_MAXPOOL:
            y = at::max_pool2d(a, {n.kh, n.kh}, {n.stride, n.stride}, {n.pad, n.pad}, {1, 1});
            break;
        case OP_AVGPOOL:
            y = at::adaptive_avg_pool2d(a, {1, 1}).flatten(1);
            break;
        case OP_ADD:
            y = at::add(a, v[n.b]);
            break;
        }
        if (!fused)
            s_act(y, n.act);
        v[k] = y;
        if (!keep) {
            if (last[n.a] == (int)k)
                v[n.a].reset();
            if (n.b >= 0 && last[n.b] == (int)k)
                v[n.b].reset();
        }
    }
    at::Tensor out = v.back();
    if (keep)
        *keep = std::move(v);
    return out;
}

/* The intra-op threads ad_infer_set_threads() asked for (0: never called). */
static std::atomic<int> s_threads{0};

extern "C" int
ad_infer_run(ad_infer_t *self, const float *x, int n, float *logits, ad_err_t *err)
{
    if (n < 1)
        return ad_err_set(err, AD_EINVAL, "run: batch of %d samples", n);
    return ad_cxx_guard(err, "run", [&]() {
        /* OpenMP's team size is per thread: a server's inference threads take the process's. */
        thread_local int t_threads = 0;
        int want = s_threads.load();
        if (want > 0 && t_threads != want) {
            omp_set_num_threads(want);
            t_threads = want;
        }
        c10::InferenceMode guard;
        const INode &in = self->g.nodes[0];
        at::Tensor xt = at::from_blob((void *)x, {n, in.c, in.h, in.w}, at::kFloat);
        at::Tensor y =
            self->int8 ? s_infer_forward_q(&self->g, xt, self->last_use, self->dnnl.get())
                       : s_infer_forward(&self->g, xt, self->last_use, nullptr, self->dnnl.get());
        y = y.contiguous();
        memcpy(logits, y.data_ptr<float>(), sizeof(float) * (size_t)y.numel());
        return 0;
    });
}

extern "C" void
ad_infer_set_threads(int threads)
{
    static std::atomic<bool> interop_set{false};

    if (threads < 1)
        threads = 1;
    s_threads.store(threads);
    /* oneDNN sizes its OpenMP teams from the runtime's own setting, not ATen's. */
    omp_set_num_threads(threads);
    at::set_num_threads(threads);
    /* Inter-op threads can be set once, before any parallel work. */
    if (!interop_set.exchange(true)) {
        try {
            at::set_num_interop_threads(1);
        } catch (...) {
        }
    }
}

extern "C" const char *
ad_infer_backend(void)
{
    static char text[512];
    static std::once_flag once;
    std::call_once(once, []() {
        const dnnl_version_t *v = dnnl_version();
        snprintf(text, sizeof text,
                 "fp32: oneDNN %d.%d.%d convolution primitives and sgemm (linear); int8: "
                 "oneDNN u8/s8 convolution and matmul primitives (linear layers on fp32 "
                 "input: dynamic int8), pools and adds on libtorch %s's ONEDNN quantized "
                 "engine%s%s",
                 v->major, v->minor, v->patch, TORCH_VERSION,
                 s_aten_qconv() ? " (AD_INFER_ATEN_QCONV: convolutions too)" : "",
                 s_sgemm_linear() ? " (AD_INFER_SGEMM_LINEAR: weight-only linear)" : "");
    });
    return text;
}
