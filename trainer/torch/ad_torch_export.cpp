/* ad_torch_export.cpp - export of a zoo network to an inference graph, BatchNorm folded */
#include "ad_torch_int.h"
#include "autodist/ad_infer.h"

#include <stdexcept>

/* --------------------------------------------------------------------------
 * Export to an inference graph (infer/): eval form, BatchNorm folded into the
 * convolution before it: W' = W g / sqrt(var + eps), b' = beta + (b - mean) g / sqrt(var + eps).
 */
struct Exporter {
    ad_igraph_t *g; /* the graph being built */
    ad_err_t *err;  /* where a misfit is reported */

    static Tensor host(const Tensor &t)
    {
        return t.detach().to(torch::kCPU).contiguous();
    }
    static int pad(const nn::detail::ConvNdOptions<2> &o)
    {
        auto *p = c10::get_if<torch::ExpandingArray<2>>(&o.padding());
        if (!p)
            throw std::runtime_error("export: a convolution with symbolic padding");
        return (int)(**p)[0];
    }
    int check(int rc)
    {
        if (rc < 0)
            throw std::runtime_error(err ? err->msg : "export failed");
        return rc;
    }
    int conv(const Tensor &w, const Tensor &b, const nn::detail::ConvNdOptions<2> &o, int in,
             ad_act_t act)
    {
        Tensor hw = host(w), hb = b.defined() ? host(b) : Tensor();
        return check(ad_igraph_conv(g, in, hw.data_ptr<float>(), (int)hw.size(0), (int)hw.size(2),
                                    (int)hw.size(3), hb.defined() ? hb.data_ptr<float>() : nullptr,
                                    (int)(*o.stride())[0], pad(o), (int)o.groups(), act, err));
    }
    int conv(nn::Conv2d &c, int in, ad_act_t act)
    {
        return conv(c->weight, c->options.bias() ? c->bias : Tensor(), c->options, in, act);
    }
    int linear(nn::Linear &l, int in, ad_act_t act)
    {
        Tensor hw = host(l->weight), hb = host(l->bias);
        return check(ad_igraph_linear(g, in, hw.data_ptr<float>(), (int)hw.size(0),
                                      hb.data_ptr<float>(), act, err));
    }
    int maxpool(int in, int k, int stride, int pad)
    {
        return check(ad_igraph_maxpool(g, in, k, stride, pad, err));
    }
    int avgpool(int in)
    {
        return check(ad_igraph_avgpool(g, in, err));
    }
    int add(int a, int b, ad_act_t act)
    {
        return check(ad_igraph_add(g, a, b, act, err));
    }
};

static ad_act_t
s_act_of(enum act a)
{
    return a == ACT_RELU ? AD_ACT_RELU : a == ACT_RELU6 ? AD_ACT_RELU6 : AD_ACT_NONE;
}

int
ConvBnImpl::export_to(Exporter &e, int in)
{
    Tensor w = Exporter::host(conv->weight), b;
    Tensor g = Exporter::host(bn->weight), beta = Exporter::host(bn->bias);
    Tensor mean = Exporter::host(bn->running_mean), var = Exporter::host(bn->running_var);
    Tensor scale = g / torch::sqrt(var + bn->options.eps());
    w = (w * scale.view({-1, 1, 1, 1})).contiguous();
    b = conv->options.bias() ? Exporter::host(conv->bias) : torch::zeros_like(mean);
    b = (beta + (b - mean) * scale).contiguous();
    return e.conv(w, b, conv->options, in, s_act_of(act));
}

int
BasicBlockImpl::export_to(Exporter &e, int in)
{
    int y = b->export_to(e, a->export_to(e, in));
    int sc = down ? down->export_to(e, in) : in;
    return e.add(y, sc, AD_ACT_RELU);
}

int
InvResImpl::export_to(Exporter &e, int in)
{
    int h = expand ? expand->export_to(e, in) : in;
    h = project->export_to(e, dw->export_to(e, h));
    return residual ? e.add(in, h, AD_ACT_NONE) : h;
}

int
MlpImpl::export_to(Exporter &e)
{
    int h = e.linear(fc1, 0, AD_ACT_RELU);
    h = e.linear(fc2, h, AD_ACT_RELU);
    return e.linear(fc3, h, AD_ACT_NONE);
}

int
Lenet5Impl::export_to(Exporter &e)
{
    int h = e.maxpool(e.conv(c1, 0, AD_ACT_RELU), 2, 2, 0);
    h = e.maxpool(e.conv(c2, h, AD_ACT_RELU), 2, 2, 0);
    h = e.linear(f1, h, AD_ACT_RELU);
    h = e.linear(f2, h, AD_ACT_RELU);
    return e.linear(f3, h, AD_ACT_NONE);
}

int
CnnImpl::export_to(Exporter &e)
{
    int h = e.maxpool(e.conv(c1, 0, AD_ACT_RELU), 2, 2, 0);
    h = e.maxpool(e.conv(c2, h, AD_ACT_RELU), 2, 2, 0);
    h = e.linear(f1, h, AD_ACT_RELU);
    return e.linear(f2, h, AD_ACT_NONE);
}

int
Resnet18Impl::export_to(Exporter &e)
{
    int h = stem->export_to(e, 0);
    if (!small)
        h = e.maxpool(h, 3, 2, 1);
    for (auto &b : blocks)
        h = b->export_to(e, h);
    return e.linear(fc, e.avgpool(h), AD_ACT_NONE);
}

int
MobilenetV2Impl::export_to(Exporter &e)
{
    int h = stem->export_to(e, 0);
    for (auto &b : blocks)
        h = b->export_to(e, h);
    h = head->export_to(e, h);
    return e.linear(fc, e.avgpool(h), AD_ACT_NONE);
}

int
GraphImpl::export_to(Exporter &e)
{
    int last = 0;
    for (size_t k = 1; k < nodes.size(); k++) {
        Node &n = nodes[k];
        switch (n.op) {
        case AD_INODE_CONV:
            last = e.conv(n.conv, n.a, n.act);
            break;
        case AD_INODE_LINEAR:
            last = e.linear(n.lin, n.a, n.act);
            break;
        case AD_INODE_MAXPOOL:
            last = e.maxpool(n.a, n.k, n.stride, n.pad);
            break;
        case AD_INODE_AVGPOOL:
            last = e.avgpool(n.a);
            break;
        default:
            last = e.add(n.a, n.b, n.act);
            break;
        }
        if (last != (int)k)
            throw std::runtime_error("export: graph node " + std::to_string(k) + " became node " +
                                     std::to_string(last));
    }
    return last;
}

extern "C" int
ad_torch_export(ad_model_t *self, ad_igraph_t **out, ad_err_t *err)
{
    *out = nullptr;
    const int64_t *s = self->shape;
    ad_igraph_t *g = ad_igraph_new((int)s[0], (int)s[1], (int)s[2]);
    int rc = ad_cxx_guard(err, "export", [&]() {
        torch::NoGradGuard ng;
        Exporter e{g, err};
        self->net->export_to(e);
        return 0;
    });
    if (rc) {
        ad_igraph_free(&g);
        return rc;
    }
    *out = g;
    return 0;
}
