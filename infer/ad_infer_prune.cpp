/* ad_infer_prune.cpp - pruning of fp32 graphs, unstructured and by channel (the fine-tune that
 * follows is the trainer's: ad_torch_model_new with .artifact) */
#include "ad_infer_int.h"

#include <algorithm>
#include <cmath>

/* The smallest fraction of |w| in each layer become zero. */
static void
s_prune_unstructured(ad_igraph_t *g, double fraction)
{
    for (INode &n : g->nodes) {
        if (n.op != OP_CONV && n.op != OP_LINEAR)
            continue;
        at::Tensor w = n.wt.contiguous().clone();
        int64_t k = (int64_t)std::floor(fraction * (double)w.numel());
        if (k < 1)
            continue;
        at::Tensor order = w.abs().flatten().argsort();
        w.view({-1}).index_fill_(0, order.narrow(0, 0, k), 0.0);
        n.wt = w;
    }
}

/* Who reads each node. */
static std::vector<std::vector<int>>
s_readers(const ad_igraph_t *g)
{
    std::vector<std::vector<int>> r(g->nodes.size());
    for (size_t k = 1; k < g->nodes.size(); k++) {
        r[g->nodes[k].a].push_back((int)k);
        if (g->nodes[k].b >= 0)
            r[g->nodes[k].b].push_back((int)k);
    }
    return r;
}

static bool
s_depthwise(const ad_igraph_t *g, const INode &n)
{
    return n.op == OP_CONV && n.groups > 1 && n.groups == g->nodes[n.a].c && n.groups == n.out;
}

/*
 * The nodes whose channels follow node p's outputs: carriers pass them on
 * (max-pools, depthwise convolutions, global pooling), terminals read them
 * (convolutions, linear layers).  False when they meet a residual sum, a
 * grouped convolution or the graph's output: then p keeps its channels.
 */
static bool
s_follow(const ad_igraph_t *g, const std::vector<std::vector<int>> &readers, int p,
         std::vector<int> &carriers, std::vector<int> &terminals)
{
    std::vector<int> todo{p};
    while (!todo.empty()) {
        int x = todo.back();
        todo.pop_back();
        if (x == (int)g->nodes.size() - 1)
            return false;
        for (int r : readers[x]) {
            const INode &n = g->nodes[r];
            if (n.op == OP_ADD || (n.op == OP_CONV && n.groups > 1 && !s_depthwise(g, n)))
                return false;
            if (n.op == OP_MAXPOOL || n.op == OP_AVGPOOL || s_depthwise(g, n)) {
                carriers.push_back(r);
                todo.push_back(r);
            } else {
                terminals.push_back(r);
            }
        }
    }
    return true;
}

/* Keep channels keep of node p and of what follows it. */
static void
s_shrink(ad_igraph_t *g, int p, const at::Tensor &keep, const std::vector<int> &carriers,
         const std::vector<int> &terminals)
{
    INode &src = g->nodes[p];
    src.wt = src.wt.index_select(0, keep).contiguous();
    src.bias = src.bias.index_select(0, keep).contiguous();
    src.out = (int)keep.numel();
    for (int c : carriers) {
        INode &n = g->nodes[c];
        if (n.op != OP_CONV)
            continue;
        n.wt = n.wt.index_select(0, keep).contiguous();
        n.bias = n.bias.index_select(0, keep).contiguous();
        n.out = n.groups = (int)keep.numel();
    }
    for (int t : terminals) {
        INode &n = g->nodes[t];
        const INode &in = g->nodes[n.a];
        at::Tensor idx = keep;
        if (n.op == OP_LINEAR && !in.flat) {
            /* Flattened N x C x H x W: channel c is features c*H*W .. (c+1)*H*W - 1. */
            int64_t hw = in.h * in.w;
            idx = (keep.unsqueeze(1) * hw + at::arange(hw, at::kLong).unsqueeze(0)).flatten();
        }
        n.wt = n.wt.index_select(1, idx).contiguous();
    }
}

/* Recompute every node's output shape (and check the result) by appending them again. */
static int
s_reshape(ad_igraph_t *g, ad_err_t *err)
{
    ad_igraph_t fresh;
    fresh.nodes.push_back(g->nodes[0]);
    for (size_t k = 1; k < g->nodes.size(); k++) {
        int rc = s_igraph_append(&fresh, std::move(g->nodes[k]), err);
        if (rc < 0)
            return rc;
    }
    g->nodes = std::move(fresh.nodes);
    return 0;
}

/* Each prunable convolution (and hidden linear layer) loses fraction of its outputs. */
static int
s_prune_structured(ad_igraph_t *g, double fraction, ad_err_t *err)
{
    for (size_t p = 1; p + 1 < g->nodes.size(); p++) {
        INode &n = g->nodes[p];
        if ((n.op != OP_CONV && n.op != OP_LINEAR) || s_depthwise(g, n) || n.groups > 1)
            continue;
        std::vector<int> carriers, terminals;
        if (!s_follow(g, s_readers(g), (int)p, carriers, terminals))
            continue;
        int drop = (int)std::floor(fraction * n.out);
        if (drop < 1 || drop >= n.out)
            continue;
        /* The smallest L1 norms go; the kept channels stay in their order. */
        at::Tensor l1 = n.wt.abs().reshape({n.out, -1}).sum(1);
        at::Tensor keep = std::get<0>(std::get<1>(l1.topk(n.out - drop)).sort());
        s_shrink(g, (int)p, keep, carriers, terminals);
        int rc = s_reshape(g, err);
        if (rc)
            return rc;
    }
    return 0;
}

extern "C" int
ad_infer_prune(ad_infer_t *self, double fraction, bool structured, const char *dir,
               const char *meta, ad_err_t *err)
{
    if (!(fraction > 0 && fraction < 1))
        return ad_err_set(err, AD_EINVAL, "prune: fraction %g is not in (0, 1)", fraction);
    if (self->int8)
        return ad_err_set(err, AD_EINVAL, "prune: the model is int8; prune its fp32 parent");
    return ad_cxx_guard(err, "prune", [&]() {
        c10::InferenceMode guard;
        ad_igraph_t g;
        g.nodes = self->g.nodes;
        int rc = 0;
        if (structured)
            rc = s_prune_structured(&g, fraction, err);
        else
            s_prune_unstructured(&g, fraction);
        if (rc)
            return rc;
        std::string m;
        rc = s_infer_meta_merge(self, meta, "pruned", &m, err);
        if (rc)
            return rc;
        return ad_igraph_save(&g, dir, m.c_str(), err);
    });
}
