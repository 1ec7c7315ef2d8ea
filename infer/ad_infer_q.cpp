/* ad_infer_q.cpp - int8 quantisation of inference graphs on libtorch's ONEDNN engine */
#include "ad_infer_int.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>

#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>

/* The quantised operators, found once through the dispatcher (their C++ types are not public). */
struct QOps {
    c10::OperatorHandle conv_prepack, conv, conv_relu, add, add_relu;
};

static const QOps &
s_qops(void)
{
    static std::once_flag once;
    static std::unique_ptr<QOps> ops;
    std::call_once(once, []() {
        auto &d = c10::Dispatcher::singleton();
        /* ONEDNN: Debian's libtorch has no FBGEMM, and QNNPACK is slower than fp32 on x86. */
        at::globalContext().setQEngine(at::QEngine::ONEDNN);
        ops.reset(new QOps{d.findSchemaOrThrow("quantized::conv2d_prepack", ""),
                           d.findSchemaOrThrow("quantized::conv2d", "new"),
                           d.findSchemaOrThrow("quantized::conv2d_relu", "new"),
                           d.findSchemaOrThrow("quantized::add", ""),
                           d.findSchemaOrThrow("quantized::add_relu", "")});
    });
    return *ops;
}

static c10::IValue
s_call(const c10::OperatorHandle &op, torch::jit::Stack st)
{
    op.callBoxed(&st);
    return std::move(st[0]);
}

/* The int8 weights of n as a per-channel quantised tensor. */
static at::Tensor
s_qweight(const INode &n)
{
    at::Tensor zp = at::zeros({n.out}, at::kLong);
    return at::_make_per_channel_quantized_tensor(n.wq, n.wscale.to(at::kDouble), zp, 0);
}

/*
 * int8 convolutions run as our own oneDNN primitives (ad_infer_dnnl.cpp): through ATen's
 * quantized::conv2d they took 2.5x as long on cnn at batch 1.  AD_INFER_ATEN_QCONV=1 runs
 * them through ATen, to compare.
 */
/* Whether the environment variable name is set to something other than "" or "0". */
static bool
s_knob(const char *name)
{
    const char *v = getenv(name);

    return v && *v && strcmp(v, "0") != 0;
}

bool
s_aten_qconv(void)
{
    static const bool aten = s_knob("AD_INFER_ATEN_QCONV");
    return aten;
}

/*
 * Linear layers run as oneDNN u8 x s8 matmuls (ad_infer_dnnl.cpp): static when they read a
 * quantised activation (cnn's first one, after a max-pool), dynamic when they read fp32 (after
 * an average pool or another linear layer), the input quantised per call over its own range.
 * quantized::linear_dynamic took 111 us on cnn's 3136x128 layer at batch 1, ten times the
 * sgemm.  AD_INFER_SGEMM_LINEAR=1 runs those reading fp32 as weight-only int8 instead (the
 * weights dequantised once at load, fp32 sgemm), to compare.
 */
bool
s_sgemm_linear(void)
{
    static const bool on = s_knob("AD_INFER_SGEMM_LINEAR");
    return on;
}

void
s_infer_prepack(ad_igraph_t *g)
{
    const QOps &ops = s_qops();
    for (INode &n : g->nodes) {
        if (!n.q)
            continue;
        at::Tensor qw = s_qweight(n);
        if (n.op == OP_CONV) {
            if (!s_aten_qconv())
                continue;
            n.packed =
                s_call(ops.conv_prepack, {qw, n.bias, std::vector<int64_t>{n.stride, n.stride},
                                          std::vector<int64_t>{n.pad, n.pad},
                                          std::vector<int64_t>{1, 1}, (int64_t)n.groups});
        } else if (s_sgemm_linear()) {
            /* AD_INFER_SGEMM_LINEAR=1: weight-only int8, dequantised once for the sgemm. */
            n.wt = qw.dequantize().contiguous();
        }
    }
}

/* The flat fp32 input of a linear or pooling node. */
static at::Tensor
s_fp32(const at::Tensor &t)
{
    return t.is_quantized() ? t.dequantize() : t;
}

/* x quantised to quint8 (scale qs, zero point qz), channels-last, by a loop the compiler
 * vectorises: at::quantize_per_tensor rounds element by element (~60 us on mlp at batch 32). */
static at::Tensor
s_quantize_input(const at::Tensor &x, double qs, int64_t qz)
{
    at::Tensor xc = x.contiguous(at::MemoryFormat::ChannelsLast);
    at::Tensor q = at::_empty_affine_quantized(xc.sizes(), at::device(at::kCPU).dtype(at::kQUInt8),
                                               qs, qz, at::MemoryFormat::ChannelsLast);
    const float *src = xc.data_ptr<float>();
    uint8_t *dst = (uint8_t *)q.data_ptr();
    float inv = (float)(1.0 / qs), z = (float)qz + 0.5f;
    int64_t len = xc.numel();
    /* v is clamped to [0, 255] first, so adding 0.5 and truncating rounds to nearest. */
    for (int64_t i = 0; i < len; i++) {
        float v = src[i] * inv + z;
        dst[i] = (uint8_t)(int32_t)(v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v);
    }
    return q;
}

at::Tensor
s_infer_forward_q(const ad_igraph_t *g, const at::Tensor &x, const std::vector<int> &last,
                  DnnlCache *dc)
{
    const QOps &ops = s_qops();
    std::vector<at::Tensor> v(g->nodes.size());
    const INode &in = g->nodes[0];
    v[0] = s_quantize_input(x, in.qs, in.qz);
    for (size_t k = 1; k < g->nodes.size(); k++) {
        const INode &n = g->nodes[k];
        const at::Tensor &a = v[n.a];
        at::Tensor y;
        switch (n.op) {
        case OP_CONV:
            if (dc && !s_aten_qconv()) {
                y = s_dnnl_qconv(dc, g, (int)k, a);
                break;
            }
            /* relu6 too: its output range [0, <= 6] saturates at the top of the scale. */
            y = s_call(n.act == AD_ACT_NONE ? ops.conv : ops.conv_relu, {a, n.packed, n.qs, n.qz})
                    .toTensor();
            break;
        case OP_LINEAR:
            /* Both oneDNN paths add the bias and apply the activation. */
            if (dc && a.is_quantized() && a.qscheme() == at::kPerTensorAffine) {
                y = s_dnnl_qlinear(dc, g, (int)k, a);
                break;
            }
            if (dc && !n.wt.defined()) {
                y = s_dnnl_dlinear(dc, g, (int)k, s_fp32(a));
                break;
            }
            y = s_infer_linear(s_fp32(a), n);
            if (n.act == AD_ACT_RELU)
                at::relu_(y);
            else if (n.act == AD_ACT_RELU6)
                at::hardtanh_(y, 0.0, 6.0);
            break;
        case OP_MAXPOOL:
            y = at::max_pool2d(a, {n.kh, n.kh}, {n.stride, n.stride}, {n.pad, n.pad}, {1, 1});
            break;
        case OP_AVGPOOL:
            y = at::adaptive_avg_pool2d(s_fp32(a), {1, 1}).flatten(1);
            break;
        case OP_ADD:
            if (a.is_quantized() && v[n.b].is_quantized()) {
                y = s_call(n.act == AD_ACT_RELU ? ops.add_relu : ops.add, {a, v[n.b], n.qs, n.qz})
                        .toTensor();
                if (n.act == AD_ACT_RELU6)
                    y = at::hardtanh(y, 0.0, 6.0);
            } else {
                y = at::add(s_fp32(a), s_fp32(v[n.b]));
                if (n.act == AD_ACT_RELU)
                    at::relu_(y);
                else if (n.act == AD_ACT_RELU6)
                    at::hardtanh_(y, 0.0, 6.0);
            }
            break;
        }
        v[k] = y;
        if (last[n.a] == (int)k)
            v[n.a].reset();
        if (n.b >= 0 && last[n.b] == (int)k)
            v[n.b].reset();
    }
    return s_fp32(v.back());
}

/* Activation scale and zero point covering [lo, hi] (and 0) in quint8. */
static void
s_qparams(double lo, double hi, double *scale, int64_t *zero)
{
    lo = std::min(lo, 0.0);
    hi = std::max(hi, 0.0);
    double s = (hi - lo) / 255.0;
    if (!(s > 1e-8))
        s = 1e-8;
    *scale = s;
    *zero = std::min<int64_t>(255, std::max<int64_t>(0, (int64_t)std::llround(-lo / s)));
}

/* Per output channel symmetric int8 weights (zero point 0, as ONEDNN needs). */
static void
s_quantize_weights(INode &n)
{
    at::Tensor w = n.wt.reshape({n.out, -1});
    at::Tensor s = std::get<0>(w.abs().max(1)).div(127.0).clamp_min(1e-12);
    n.wq = (w / s.unsqueeze(1)).round().clamp(-127, 127).to(at::kChar).reshape(n.wt.sizes());
    n.wscale = s.contiguous();
    n.q = true;
    n.wt = at::Tensor();
}

/* Calibration samples read from batch at a time (fills up to S_CALIB_BATCH samples). */
#define S_CALIB_BATCH 32

/*
 * Record each node's output range over the calibration samples next gives, S_CALIB_BATCH at
 * a time (only one batch is held at once): their count, or a negative code (err says why).
 */
static int64_t
s_calibrate(const ad_infer_t *self, ad_infer_calib_fn *next, void *arg, std::vector<double> &lo,
            std::vector<double> &hi, ad_err_t *err)
{
    const ad_igraph_t *g = &self->g;
    const INode &in = g->nodes[0];
    int64_t per = in.c * in.h * in.w, seen = 0;
    std::vector<float> buf((size_t)(S_CALIB_BATCH * per));
    lo.assign(g->nodes.size(), INFINITY);
    hi.assign(g->nodes.size(), -INFINITY);
    for (;;) {
        int b = next(arg, buf.data(), S_CALIB_BATCH, err);
        if (b < 0)
            return b;
        if (b == 0)
            return seen;
        b = std::min(b, S_CALIB_BATCH);
        at::Tensor x = at::from_blob(buf.data(), {b, in.c, in.h, in.w}, at::kFloat);
        std::vector<at::Tensor> keep;
        s_infer_forward(g, x, self->last_use, &keep);
        for (size_t k = 0; k < keep.size(); k++) {
            if (g->nodes[k].flat)
                continue;
            auto mm = at::aminmax(keep[k]);
            lo[k] = std::min(lo[k], std::get<0>(mm).item<double>());
            hi[k] = std::max(hi[k], std::get<1>(mm).item<double>());
        }
        seen += b;
    }
}

static int
s_quantize(ad_infer_t *self, ad_infer_calib_fn *next, void *arg, const char *dir, const char *meta,
           ad_err_t *err)
{
    c10::InferenceMode guard;
    std::vector<double> lo, hi;
    int64_t seen = s_calibrate(self, next, arg, lo, hi, err);
    if (seen < 0)
        return (int)seen;
    if (seen == 0)
        return ad_err_set(err, AD_EINVAL, "quantize: no calibration samples (needs at least 1)");
    ad_igraph_t q;
    q.nodes = self->g.nodes;
    for (size_t k = 0; k < q.nodes.size(); k++) {
        INode &nd = q.nodes[k];
        if (nd.op == OP_CONV || nd.op == OP_LINEAR)
            s_quantize_weights(nd);
        if (nd.flat)
            continue;
        nd.qout = true;
        if (nd.op == OP_MAXPOOL) {
            /* A quantised max-pool keeps its input's scale. */
            nd.qs = q.nodes[nd.a].qs;
            nd.qz = q.nodes[nd.a].qz;
        } else {
            s_qparams(lo[k], hi[k], &nd.qs, &nd.qz);
        }
    }
    std::string m;
    int rc = s_infer_meta_merge(self, meta, "int8", &m, err);
    if (rc)
        return rc;
    return ad_igraph_save(&q, dir, m.c_str(), err);
}

extern "C" int
ad_infer_quantize_stream(ad_infer_t *self, ad_infer_calib_fn *next, void *arg, int channels,
                         int height, int width, const char *dir, const char *meta, ad_err_t *err)
{
    const INode &in = self->g.nodes[0];
    if (self->int8)
        return ad_err_set(err, AD_EINVAL, "quantize: the model is int8 already");
    if (channels != in.c || height != in.h || width != in.w)
        return ad_err_set(err, AD_EINVAL,
                          "quantize: calibration samples are %dx%dx%d, the model takes "
                          "%lldx%lldx%lld",
                          channels, height, width, (long long)in.c, (long long)in.h,
                          (long long)in.w);
    return ad_cxx_guard(err, "quantize",
                        [&]() { return s_quantize(self, next, arg, dir, meta, err); });
}

/* The calibration samples of an array: where the next batch starts. */
struct s_calib_array {
    const float *x;
    int n, at;
    int64_t per;
};

static int
s_calib_array_next(void *arg, float *x, int max, ad_err_t *err)
{
    s_calib_array *a = (s_calib_array *)arg;
    int b = std::min(max, a->n - a->at);

    (void)err;
    memcpy(x, a->x + (size_t)a->at * (size_t)a->per, (size_t)b * (size_t)a->per * sizeof(float));
    a->at += b;
    return b;
}

extern "C" int
ad_infer_quantize(ad_infer_t *self, const float *calib, int n, int channels, int height, int width,
                  const char *dir, const char *meta, ad_err_t *err)
{
    s_calib_array a = {calib, n, 0, (int64_t)channels * height * width};

    if (n < 1)
        return ad_err_set(err, AD_EINVAL, "quantize: %d calibration samples (needs at least 1)", n);
    return ad_infer_quantize_stream(self, s_calib_array_next, &a, channels, height, width, dir,
                                    meta, err);
}
