/* ad_torch_graph.cpp - a trainable network built from an inference artifact's graph (fine-tuning)
 */
#include "ad_torch_int.h"

#include <stdexcept>
#include <string>

/* A copy of n floats at p as a tensor of shape. */
static Tensor
s_copy(const float *p, int64_t n, at::IntArrayRef shape)
{
    Tensor t = torch::from_blob((void *)p, {n}, torch::kFloat).clone();
    return t.view(shape);
}

GraphImpl::GraphImpl(const ad_infer_t *m)
{
    ad_err_t err = {0};
    int count = ad_infer_node_count(m);

    for (int k = 0; k < count; k++) {
        ad_inode_t in;
        Node n;

        if (ad_infer_node(m, k, &in, &err))
            throw std::invalid_argument(err.msg);
        n.op = in.op;
        n.a = in.a;
        n.b = in.b;
        n.act = in.act;
        n.k = in.kh;
        n.stride = in.stride;
        n.pad = in.pad;
        std::string name = "n" + std::to_string(k);
        torch::NoGradGuard ng;
        if (in.op == AD_INODE_CONV) {
            int64_t cin = (int64_t)(in.weight_n / ((int64_t)in.out * in.kh * in.kw)) * in.groups;
            n.conv = register_module(name, nn::Conv2d(nn::Conv2dOptions(cin, in.out, {in.kh, in.kw})
                                                          .stride(in.stride)
                                                          .padding(in.pad)
                                                          .groups(in.groups)
                                                          .bias(true)));
            n.conv->weight.copy_(
                s_copy(in.weight, in.weight_n, {in.out, cin / in.groups, in.kh, in.kw}));
            n.conv->bias.copy_(s_copy(in.bias, in.out, {in.out}));
            if (k == 1)
                channels_last = true;
        } else if (in.op == AD_INODE_LINEAR) {
            int64_t fin = in.weight_n / in.out;
            n.lin = register_module(name, nn::Linear(fin, in.out));
            n.lin->weight.copy_(s_copy(in.weight, in.weight_n, {in.out, fin}));
            n.lin->bias.copy_(s_copy(in.bias, in.out, {in.out}));
            if (k == 1)
                channels_last = false;
        }
        Tensor w = n.conv ? n.conv->weight : n.lin ? n.lin->weight : Tensor();
        if (w.defined() && w.eq(0).any().item<bool>())
            n.mask = w.ne(0).to(torch::kFloat);
        nodes.push_back(std::move(n));
    }
    if (nodes.size() < 2)
        throw std::invalid_argument("the artifact's graph has no layer");
}

Tensor
GraphImpl::forward(const Tensor &x)
{
    std::vector<Tensor> v(nodes.size());
    v[0] = x;
    for (size_t k = 1; k < nodes.size(); k++) {
        Node &n = nodes[k];
        const Tensor &a = v[n.a];
        Tensor y;
        switch (n.op) {
        case AD_INODE_CONV:
            y = ad_torch_conv(n.conv, a);
            break;
        case AD_INODE_LINEAR:
            y = ad_torch_linear(n.lin, a.dim() > 2 ? a.flatten(1).contiguous() : a);
            break;
        case AD_INODE_MAXPOOL:
            y = torch::max_pool2d(a, {n.k, n.k}, {n.stride, n.stride}, {n.pad, n.pad});
            break;
        case AD_INODE_AVGPOOL:
            y = torch::adaptive_avg_pool2d(a, {1, 1}).flatten(1);
            break;
        case AD_INODE_ADD:
            y = a + v[n.b];
            break;
        default:
            throw std::runtime_error("graph node " + std::to_string(k) + ": unknown operation");
        }
        if (n.act == AD_ACT_RELU)
            y = torch::relu(y);
        else if (n.act == AD_ACT_RELU6)
            y = torch::hardtanh(y, 0.0, 6.0);
        v[k] = y;
    }
    return v.back();
}

void
GraphImpl::after_step()
{
    torch::NoGradGuard ng;
    for (Node &n : nodes) {
        if (!n.mask.defined())
            continue;
        Tensor &w = n.conv ? n.conv->weight : n.lin->weight;
        if (n.mask.device() != w.device())
            n.mask = n.mask.to(w.device());
        w.mul_(n.mask);
    }
}
