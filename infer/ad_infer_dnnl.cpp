/* ad_infer_dnnl.cpp - fp32 convolutions as oneDNN primitives, weights reordered once per layout */
#include "ad_infer_int.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <map>
#include <memory>
#include <mutex>

using dnnl::memory;

/* One convolution primitive for one batch size. */
struct DConv {
    dnnl::convolution_forward prim; /* ReLU/ReLU6 fused as a post-op */
    memory::desc src, dst;          /* NHWC, the channels-last tensors' layout */
    memory::desc scratch;           /* the scratchpad each run allocates */
    memory w, b;                    /* weights in the primitive's layout, bias */
};

/* Reordered weights are shared by the batch sizes whose primitives want the same layout. */
struct DnnlCache {
    std::mutex mu;                                                       /* guards both maps */
    std::map<std::pair<int, int64_t>, std::shared_ptr<DConv>> convs;     /* (node, batch) */
    std::map<int, std::vector<std::pair<memory::desc, memory>>> weights; /* node -> layouts */
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
