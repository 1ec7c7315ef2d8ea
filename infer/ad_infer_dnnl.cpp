/* ad_infer_dnnl.cpp - fp32 convolutions as oneDNN primitives, weights reordered once per layout */
#include "ad_infer_int.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

using dnnl::memory;

/* One convolution primitive for one batch size. */
struct DConv {
    dnnl::convolution_forward prim; /* ReLU/ReLU6 fused as a post-op */
    memory::desc src, dst;          /* NHWC, the channels-last tensors' layout */
    memory::desc scratch;           /* the scratchpad each run allocates */
    memory w, b;                    /* weights in the primitive's layout, bias */
    double sx = 0;                  /* int8: the input scale it was made for */
    int64_t zx = 0;                 /* and zero point */
};

/* Reordered weights are shared by the batch sizes whose primitives want the same layout. */
struct DnnlCache {
    std::mutex mu;                                                       /* guards both maps */
    std::map<std::pair<int, int64_t>, std::shared_ptr<DConv>> convs;     /* (node, batch) */
    std::map<int, std::vector<std::pair<memory::desc, memory>>> weights; /* node -> layouts */
    std::map<std::pair<int, int64_t>, std::shared_ptr<struct DLin>> lins; /* int8 linear */
    std::map<std::pair<int, int64_t>, std::shared_ptr<struct DDyn>> dyns; /* dynamic int8 */
};

std::shared_ptr<DnnlCache>
s_dnnl_cache_new(void)
{
    return std::make_shared<DnnlCache>();
}

static dnnl::engine &
s_engine(void)
{
    static dnnl::engine e(dnnl::engine::kind::cpu, 0);
    return e;
}

/* The weights of node k in layout want, reordered the first time (cache locked). */
static memory
s_weights(DnnlCache *c, const INode &nd, int k, const memory::desc &want, const memory::dims &wd)
{
    for (auto &pw : c->weights[k])
        if (pw.first == want)
            return pw.second;
    auto f32 = memory::data_type::f32;
    memory::desc plain(wd, f32,
                       nd.groups == 1 ? memory::format_tag::oihw : memory::format_tag::goihw);
    memory src(plain, s_engine(), nd.wt.data_ptr<float>()), dst(want, s_engine());
    dnnl::stream s(s_engine());
    dnnl::reorder(src, dst).execute(s, src, dst);
    s.wait();
    c->weights[k].emplace_back(want, dst);
    return dst;
}

static std::shared_ptr<DConv>
s_make(DnnlCache *c, const ad_igraph_t *g, int k, int64_t n)
{
    const INode &nd = g->nodes[k], &in = g->nodes[nd.a];
    auto f32 = memory::data_type::f32;
    memory::dims wd = nd.groups == 1 ? memory::dims{nd.out, in.c, nd.kh, nd.kw}
                                     : memory::dims{nd.groups, nd.out / nd.groups, in.c / nd.groups,
                                                    nd.kh, nd.kw};
    auto d = std::make_shared<DConv>();
    d->src = memory::desc({n, in.c, in.h, in.w}, f32, memory::format_tag::nhwc);
    d->dst = memory::desc({n, nd.c, nd.h, nd.w}, f32, memory::format_tag::nhwc);
    memory::desc w_any(wd, f32, memory::format_tag::any);
    memory::desc b_md({nd.out}, f32, memory::format_tag::x);
    dnnl::convolution_forward::desc cd(
        dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, d->src, w_any,
        b_md, d->dst, {nd.stride, nd.stride}, {nd.pad, nd.pad}, {nd.pad, nd.pad});
    dnnl::post_ops po;
    if (nd.act == AD_ACT_RELU)
        po.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
    else if (nd.act == AD_ACT_RELU6)
        po.append_eltwise(1.0f, dnnl::algorithm::eltwise_clip, 0.0f, 6.0f);
    dnnl::primitive_attr attr;
    attr.set_post_ops(po);
    /* The library's scratchpad is one global buffer: concurrent runs each bring their own. */
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::convolution_forward::primitive_desc pd(cd, attr, s_engine());
    d->prim = dnnl::convolution_forward(pd);
    d->scratch = pd.scratchpad_desc();
    d->w = s_weights(c, nd, k, pd.weights_desc(), wd);
    d->b = memory(b_md, s_engine());
    memcpy(d->b.get_data_handle(), nd.bias.data_ptr<float>(), sizeof(float) * (size_t)nd.out);
    return d;
}

at::Tensor
s_dnnl_conv(DnnlCache *c, const ad_igraph_t *g, int k, const at::Tensor &x)
{
    const INode &nd = g->nodes[k];
    int64_t n = x.size(0);
    std::shared_ptr<DConv> d;
    {
        std::lock_guard<std::mutex> lock(c->mu);
        auto &slot = c->convs[{k, n}];
        if (!slot)
            slot = s_make(c, g, k, n);
        d = slot;
    }
    at::Tensor xin = x.contiguous(at::MemoryFormat::ChannelsLast);
    at::Tensor y =
        at::empty({n, nd.c, nd.h, nd.w}, x.options().memory_format(at::MemoryFormat::ChannelsLast));
    memory src(d->src, s_engine(), xin.data_ptr<float>()),
        dst(d->dst, s_engine(), y.data_ptr<float>());
    at::Tensor pad = at::empty({(int64_t)d->scratch.get_size() + 1}, at::kByte);
    memory scratch(d->scratch, s_engine(), pad.data_ptr());
    dnnl::stream s(s_engine());
    d->prim.execute(s, {{DNNL_ARG_SRC, src},
                        {DNNL_ARG_WEIGHTS, d->w},
                        {DNNL_ARG_BIAS, d->b},
                        {DNNL_ARG_DST, dst},
                        {DNNL_ARG_SCRATCHPAD, scratch}});
    s.wait();
    return y;
}

/* --------------------------------------------------------------------------
 * Static int8 linear layers reading a quantised activation (cnn's first linear layer reads the
 * last max-pool, mlp's the quantised input): oneDNN's u8 x s8 matmul, the input's zero point and
 * the per-channel scales as attributes, fp32 out, the bias and activation added after.
 */
struct DLin {
    dnnl::matmul prim;     /* for one batch size and one input scale */
    memory::desc src, dst; /* M x K u8, M x N f32, row-major */
    memory::desc scratch;  /* the scratchpad each run allocates */
    memory w;              /* the int8 weights in the primitive's layout */
    double sx = 0;         /* the input scale it was made for */
    int64_t zx = 0;        /* and zero point */
};

/* This thread's buffer of at least len bytes, 64-byte aligned, for the linear layers' u8 input and
 * scratchpad: per-call allocations of the AMX kernels' scratchpad went through mmap (page
 * faults at every call). */
static uint8_t *
s_thread_buf(size_t len)
{
    thread_local std::vector<uint8_t> buf;
    if (buf.size() < len + 64)
        buf.resize(len + 64);
    uintptr_t p = (uintptr_t)buf.data();
    return (uint8_t *)((p + 63) & ~(uintptr_t)63);
}

/* y (M x out) = y * each row's scale (rs, or 1) + bias, then node nd's activation, in one pass. */
static void
s_bias_act(const INode &nd, at::Tensor &y, const float *rs)
{
    int64_t m = y.size(0), n = nd.out;
    float *yp = y.data_ptr<float>();
    const float *b = nd.bias.data_ptr<float>();
    float lo = nd.act == AD_ACT_NONE ? -FLT_MAX : 0.0f,
          hi = nd.act == AD_ACT_RELU6 ? 6.0f : FLT_MAX;
    for (int64_t i = 0; i < m; i++, yp += n) {
        float scale = rs ? rs[i] : 1.0f;
        for (int64_t o = 0; o < n; o++)
            yp[o] = std::min(hi, std::max(lo, yp[o] * scale + b[o]));
    }
}

static std::shared_ptr<DLin>
s_make_lin(const INode &nd, int64_t m, double sx, int64_t zx)
{
    int64_t k = nd.wq.size(1), n = nd.out;
    auto d = std::make_shared<DLin>();
    d->sx = sx, d->zx = zx;
    d->src = memory::desc({m, k}, memory::data_type::u8, memory::format_tag::ab);
    d->dst = memory::desc({m, n}, memory::data_type::f32, memory::format_tag::ab);
    memory::desc w_any({k, n}, memory::data_type::s8, memory::format_tag::any);
    dnnl::matmul::desc md(d->src, w_any, d->dst);
    std::vector<float> scales((size_t)n);
    const float *ws = nd.wscale.data_ptr<float>();
    for (int64_t i = 0; i < n; i++)
        scales[(size_t)i] = (float)(sx * ws[i]);
    dnnl::primitive_attr attr;
    attr.set_output_scales(1 << 1, scales);
    attr.set_zero_points(DNNL_ARG_SRC, 0, {(int32_t)zx});
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::matmul::primitive_desc pd(md, attr, s_engine());
    d->prim = dnnl::matmul(pd);
    d->scratch = pd.scratchpad_desc();
    /* The stored O x K weights are the K x N matrix in column-major ("ba") order. */
    memory::desc plain({k, n}, memory::data_type::s8, memory::format_tag::ba);
    memory src(plain, s_engine(), nd.wq.data_ptr<int8_t>());
    d->w = memory(pd.weights_desc(), s_engine());
    dnnl::stream s(s_engine());
    dnnl::reorder(src, d->w).execute(s, src, d->w);
    s.wait();
    return d;
}

at::Tensor
s_dnnl_qlinear(DnnlCache *c, const ad_igraph_t *g, int k, const at::Tensor &qa)
{
    const INode &nd = g->nodes[k];
    int64_t m = qa.size(0);
    double sx = qa.q_scale();
    int64_t zx = qa.q_zero_point();
    std::shared_ptr<DLin> d;
    {
        std::lock_guard<std::mutex> lock(c->mu);
        auto &slot = c->lins[{k, m}];
        if (!slot || slot->sx != sx || slot->zx != zx)
            slot = s_make_lin(nd, m, sx, zx);
        d = slot;
    }
    /* Flattened in NCHW order, as the fp32 graph flattens (one channel: channels-last is). */
    at::Tensor x = qa.is_contiguous() ? qa : qa.contiguous();
    at::Tensor y = at::empty({m, nd.out}, at::kFloat);
    memory src(d->src, s_engine(), x.data_ptr()), dst(d->dst, s_engine(), y.data_ptr<float>());
    memory scratch(d->scratch, s_engine(), s_thread_buf(d->scratch.get_size()));
    dnnl::stream s(s_engine());
    d->prim.execute(s, {{DNNL_ARG_SRC, src},
                        {DNNL_ARG_WEIGHTS, d->w},
                        {DNNL_ARG_DST, dst},
                        {DNNL_ARG_SCRATCHPAD, scratch}});
    s.wait();
    s_bias_act(nd, y, nullptr);
    return y;
}

/* --------------------------------------------------------------------------
 * Dynamic int8 linear layers reading an fp32 activation (resnet18's and mobilenet_v2's fc after
 * the average pool, mlp's hidden layers): each call quantises its input to u8 over the input's
 * own range (per row: one scale per sample) and runs oneDNN's u8 x s8 matmul, fp32 out.  The row
 * scales are applied with the bias and the activation in one pass over the output, and the zero
 * point is one of two (0 for an input >= 0, the usual case after a ReLU; 128, symmetric,
 * otherwise), so the
 * primitive's scales and zero point are fixed and one primitive per batch size and zero point
 * serves every call.  Run-time scales and zero points would do the same in the primitive, but
 * oneDNN 2.6 then falls back from its brgemm (AMX / VNNI) kernels to a gemm that repacks the
 * weights at every call: 3x slower on mlp at batch 32.
 */
struct DDyn {
    dnnl::matmul prim;     /* for one batch size and one zero point */
    memory::desc src, dst; /* M x K u8, M x N f32, row-major */
    memory::desc scratch;  /* the scratchpad each run allocates */
    memory w;              /* the int8 weights in the primitive's layout */
};

static std::shared_ptr<DDyn>
s_make_dyn(const INode &nd, int64_t m, int32_t zx)
{
    int64_t k = nd.wq.size(1), n = nd.out;
    auto d = std::make_shared<DDyn>();
    d->src = memory::desc({m, k}, memory::data_type::u8, memory::format_tag::ab);
    d->dst = memory::desc({m, n}, memory::data_type::f32, memory::format_tag::ab);
    memory::desc w_any({k, n}, memory::data_type::s8, memory::format_tag::any);
    dnnl::matmul::desc md(d->src, w_any, d->dst);
    const float *ws = nd.wscale.data_ptr<float>();
    dnnl::primitive_attr attr;
    attr.set_output_scales(1 << 1, std::vector<float>(ws, ws + n));
    if (zx)
        attr.set_zero_points(DNNL_ARG_SRC, 0, {zx});
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::matmul::primitive_desc pd(md, attr, s_engine());
    d->prim = dnnl::matmul(pd);
    d->scratch = pd.scratchpad_desc();
    memory::desc plain({k, n}, memory::data_type::s8, memory::format_tag::ba);
    memory src(plain, s_engine(), nd.wq.data_ptr<int8_t>());
    d->w = memory(pd.weights_desc(), s_engine());
    dnnl::stream s(s_engine());
    dnnl::reorder(src, d->w).execute(s, src, d->w);
    s.wait();
    return d;
}

/* The range of the len floats of x, 0 included. */
static void
s_range(const float *x, int64_t len, float *lo_out, float *hi_out)
{
    float lo[16] = {0}, hi[16] = {0}; /* in lanes, for the vectoriser */
    int64_t i = 0;
    for (; i + 16 <= len; i += 16)
        for (int j = 0; j < 16; j++) {
            lo[j] = x[i + j] < lo[j] ? x[i + j] : lo[j];
            hi[j] = x[i + j] > hi[j] ? x[i + j] : hi[j];
        }
    for (; i < len; i++) {
        lo[0] = x[i] < lo[0] ? x[i] : lo[0];
        hi[0] = x[i] > hi[0] ? x[i] : hi[0];
    }
    for (int j = 1; j < 16; j++) {
        lo[0] = std::min(lo[0], lo[j]);
        hi[0] = std::max(hi[0], hi[j]);
    }
    *lo_out = lo[0], *hi_out = hi[0];
}

/*
 * Quantise the m rows of k floats of x to u8, each row over its own range, into q; the row
 * scales into rs; returns the zero point shared by the rows: 0 when x >= 0, else 128
 * (symmetric).  A sample's result does not depend on the others in its batch (unless their
 * signs differ).
 */
static int32_t
s_quantize_rows(const float *x, int64_t m, int64_t k, uint8_t *q, float *rs)
{
    float neg = 0.0f;
    for (int64_t r = 0; r < m; r++) {
        float lo, hi;
        s_range(x + r * k, k, &lo, &hi);
        rs[r] = std::max(hi, -lo);
        neg = std::min(neg, lo);
    }
    int32_t zero = neg < 0.0f ? 128 : 0;
    for (int64_t r = 0; r < m; r++) {
        float s = rs[r] / (zero ? 127.0f : 255.0f);
        rs[r] = s > 1e-12f ? s : 1e-12f;
        /* v is clamped to [0, 255] first, so adding 0.5 and truncating rounds to nearest. */
        float inv = 1.0f / rs[r], z = (float)zero + 0.5f;
        const float *xr = x + r * k;
        uint8_t *qr = q + r * k;
        for (int64_t i = 0; i < k; i++) {
            float v = xr[i] * inv + z;
            qr[i] = (uint8_t)(int32_t)(v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v);
        }
    }
    return zero;
}

at::Tensor
s_dnnl_dlinear(DnnlCache *c, const ad_igraph_t *g, int k, const at::Tensor &x_in)
{
    const INode &nd = g->nodes[k];
    at::Tensor x = x_in.reshape({x_in.size(0), -1}).contiguous();
    int64_t m = x.size(0), kk = x.size(1), n = nd.out;
    /* This thread's buffer: the u8 input, then the scratchpad. */
    size_t qlen = (size_t)(m * kk + 63) & ~(size_t)63;
    std::shared_ptr<DDyn> d[2];
    {
        std::lock_guard<std::mutex> lock(c->mu);
        for (int32_t z = 0; z < 2; z++) {
            auto &slot = c->dyns[{k, m * 2 + z}];
            if (!slot)
                slot = s_make_dyn(nd, m, z ? 128 : 0);
            d[z] = slot;
        }
    }
    size_t rlen = (sizeof(float) * (size_t)m + 63) & ~(size_t)63;
    size_t slen = std::max(d[0]->scratch.get_size(), d[1]->scratch.get_size());
    uint8_t *q = s_thread_buf(qlen + rlen + slen);
    float *rs = (float *)(q + qlen);
    int32_t zx = s_quantize_rows(x.data_ptr<float>(), m, kk, q, rs);
    DDyn *dd = d[zx != 0].get();
    at::Tensor y = at::empty({m, n}, at::kFloat);
    memory src(dd->src, s_engine(), q), dst(dd->dst, s_engine(), y.data_ptr<float>()),
        scratch(dd->scratch, s_engine(), q + qlen + rlen);
    dnnl::stream s(s_engine());
    dd->prim.execute(s, {{DNNL_ARG_SRC, src},
                         {DNNL_ARG_WEIGHTS, dd->w},
                         {DNNL_ARG_DST, dst},
                         {DNNL_ARG_SCRATCHPAD, scratch}});
    s.wait();
    s_bias_act(nd, y, rs);
    return y;
}

/* --------------------------------------------------------------------------
 * int8 convolutions: u8 NHWC in and out, s8 weights per output channel, ATen's quantised
 * tensors around them (max-pool and add stay ATen's).  oneDNN 2.x adds the bias before the
 * output scales, so it goes in divided by the input and weight scales.
 */
static std::shared_ptr<DConv>
s_make_q(const ad_igraph_t *g, int k, int64_t n, double sx, int64_t zx)
{
    const INode &nd = g->nodes[k], &in = g->nodes[nd.a];
    memory::dims wd = nd.groups == 1 ? memory::dims{nd.out, in.c, nd.kh, nd.kw}
                                     : memory::dims{nd.groups, nd.out / nd.groups, in.c / nd.groups,
                                                    nd.kh, nd.kw};
    auto u8 = memory::data_type::u8, s8 = memory::data_type::s8, f32 = memory::data_type::f32;
    auto d = std::make_shared<DConv>();
    d->src = memory::desc({n, in.c, in.h, in.w}, u8, memory::format_tag::nhwc);
    d->dst = memory::desc({n, nd.c, nd.h, nd.w}, u8, memory::format_tag::nhwc);
    memory::desc w_any(wd, s8, memory::format_tag::any);
    memory::desc b_md({nd.out}, f32, memory::format_tag::x);
    dnnl::convolution_forward::desc cd(
        dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, d->src, w_any,
        b_md, d->dst, {nd.stride, nd.stride}, {nd.pad, nd.pad}, {nd.pad, nd.pad});
    const float *ws = nd.wscale.data_ptr<float>();
    std::vector<float> scales((size_t)nd.out);
    for (int o = 0; o < nd.out; o++)
        scales[(size_t)o] = (float)(sx * ws[o] / nd.qs);
    dnnl::primitive_attr attr;
    attr.set_output_scales(1 << 1, scales);
    attr.set_zero_points(DNNL_ARG_SRC, 0, {(int32_t)zx});
    attr.set_zero_points(DNNL_ARG_DST, 0, {(int32_t)nd.qz});
    dnnl::post_ops po;
    if (nd.act == AD_ACT_RELU)
        po.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
    else if (nd.act == AD_ACT_RELU6)
        po.append_eltwise(1.0f, dnnl::algorithm::eltwise_clip, 0.0f, (float)(6.0 / nd.qs));
    attr.set_post_ops(po);
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::convolution_forward::primitive_desc pd(cd, attr, s_engine());
    d->prim = dnnl::convolution_forward(pd);
    d->scratch = pd.scratchpad_desc();
    memory::desc plain(wd, s8,
                       nd.groups == 1 ? memory::format_tag::oihw : memory::format_tag::goihw);
    memory wsrc(plain, s_engine(), nd.wq.data_ptr<int8_t>());
    d->w = memory(pd.weights_desc(), s_engine());
    dnnl::stream s(s_engine());
    dnnl::reorder(wsrc, d->w).execute(s, wsrc, d->w);
    s.wait();
    d->b = memory(b_md, s_engine());
    float *b = (float *)d->b.get_data_handle();
    const float *nb = nd.bias.data_ptr<float>();
    for (int o = 0; o < nd.out; o++)
        b[o] = (float)(nb[o] / (sx * ws[o]));
    d->sx = sx, d->zx = zx;
    return d;
}

at::Tensor
s_dnnl_qconv(DnnlCache *c, const ad_igraph_t *g, int k, const at::Tensor &qa)
{
    const INode &nd = g->nodes[k];
    int64_t n = qa.size(0), zx = qa.q_zero_point();
    double sx = qa.q_scale();
    std::shared_ptr<DConv> d;
    {
        std::lock_guard<std::mutex> lock(c->mu);
        auto &slot = c->convs[{k, n}];
        if (!slot || slot->sx != sx || slot->zx != zx)
            slot = s_make_q(g, k, n, sx, zx);
        d = slot;
    }
    at::Tensor x = qa.contiguous(at::MemoryFormat::ChannelsLast);
    at::Tensor y =
        at::_empty_affine_quantized({n, nd.c, nd.h, nd.w}, at::device(at::kCPU).dtype(at::kQUInt8),
                                    nd.qs, nd.qz, at::MemoryFormat::ChannelsLast);
    at::Tensor pad = at::empty({(int64_t)d->scratch.get_size() + 1}, at::kByte);
    memory src(d->src, s_engine(), x.data_ptr()), dst(d->dst, s_engine(), y.data_ptr());
    memory scratch(d->scratch, s_engine(), pad.data_ptr());
    dnnl::stream s(s_engine());
    d->prim.execute(s, {{DNNL_ARG_SRC, src},
                        {DNNL_ARG_WEIGHTS, d->w},
                        {DNNL_ARG_BIAS, d->b},
                        {DNNL_ARG_DST, dst},
                        {DNNL_ARG_SCRATCHPAD, scratch}});
    s.wait();
    return y;
}
