/* ad_torch_int.h - the model zoo and handle shared by trainer/torch/'s sources (not public) */
#ifndef AD_TORCH_INT_H
#define AD_TORCH_INT_H

#include "autodist/ad_cxx_guard.h"
#include "autodist/ad_infer.h"
#include "autodist/ad_torch.h"

#include <torch/torch.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace nn = torch::nn;
namespace F = torch::nn::functional;
using torch::Tensor;

/* conv's forward of x, adding its FLOPs to the count while one is taken (ad_torch.cpp). */
Tensor ad_torch_conv(nn::Conv2d &conv, const Tensor &x);

/* lin's forward of x, through oneDNN's sgemm on CPU; adds its FLOPs like ad_torch_conv(). */
Tensor ad_torch_linear(nn::Linear &lin, const Tensor &x);

/*
 * A network of the zoo: a module whose forward maps NCHW images to logits.
 * Convolutional ones take their input channels-last, where oneDNN's
 * convolution and pooling kernels run several times faster on CPUs.
 */
struct Exporter;
struct NetImpl : nn::Module {
    bool channels_last = true;
    virtual Tensor forward(const Tensor &x) = 0;
    virtual int export_to(Exporter &e) = 0; /* the eval graph (BatchNorm folded); last node */
    virtual void after_step()
    {
    } /* after each optimiser step (masks) */
    Tensor run(const Tensor &x)
    {
        if (channels_last && x.device().is_cpu())
            return forward(x.contiguous(torch::MemoryFormat::ChannelsLast));
        return forward(x);
    }
};

/* mlp: flatten, 256, 128, classes. */
struct MlpImpl : NetImpl {
    nn::Linear fc1{nullptr}, fc2{nullptr}, fc3{nullptr};

    MlpImpl(int64_t in, int64_t classes)
    {
        channels_last = false;
        fc1 = register_module("fc1", nn::Linear(in, 256));
        fc2 = register_module("fc2", nn::Linear(256, 128));
        fc3 = register_module("fc3", nn::Linear(128, classes));
    }
    int export_to(Exporter &e) override;
    Tensor forward(const Tensor &x) override
    {
        Tensor h = x.flatten(1);
        h = torch::relu(ad_torch_linear(fc1, h));
        h = torch::relu(ad_torch_linear(fc2, h));
        return ad_torch_linear(fc3, h);
    }
};

/* lenet5: LeCun's two 5x5 convolutions and three linear layers, ReLU. */
struct Lenet5Impl : NetImpl {
    nn::Conv2d c1{nullptr}, c2{nullptr};
    nn::Linear f1{nullptr}, f2{nullptr}, f3{nullptr};

    Lenet5Impl(int64_t ch, int64_t h, int64_t w, int64_t classes)
    {
        /* 28x28 inputs get the padding that makes them LeNet's 32x32. */
        int64_t pad = (h < 32 || w < 32) ? 2 : 0;
        c1 = register_module("c1", nn::Conv2d(nn::Conv2dOptions(ch, 6, 5).padding(pad)));
        c2 = register_module("c2", nn::Conv2d(nn::Conv2dOptions(6, 16, 5)));
        int64_t oh = ((h + 2 * pad - 4) / 2 - 4) / 2, ow = ((w + 2 * pad - 4) / 2 - 4) / 2;
        if (oh < 1 || ow < 1)
            throw std::invalid_argument("input too small for lenet5 (needs at least 12x12)");
        f1 = register_module("f1", nn::Linear(16 * oh * ow, 120));
        f2 = register_module("f2", nn::Linear(120, 84));
        f3 = register_module("f3", nn::Linear(84, classes));
    }
    int export_to(Exporter &e) override;
    Tensor forward(const Tensor &x) override
    {
        Tensor h = F::max_pool2d(torch::relu(ad_torch_conv(c1, x)), F::MaxPool2dFuncOptions(2));
        h = F::max_pool2d(torch::relu(ad_torch_conv(c2, h)), F::MaxPool2dFuncOptions(2));
        h = h.flatten(1);
        h = torch::relu(ad_torch_linear(f1, h));
        h = torch::relu(ad_torch_linear(f2, h));
        return ad_torch_linear(f3, h);
    }
};

/* cnn: the classic Fashion-MNIST network of DESIGN section 5, exactly. */
struct CnnImpl : NetImpl {
    nn::Conv2d c1{nullptr}, c2{nullptr};
    nn::Linear f1{nullptr}, f2{nullptr};

    CnnImpl(int64_t ch, int64_t h, int64_t w, int64_t classes)
    {
        if (h < 4 || w < 4)
            throw std::invalid_argument("input too small for cnn (needs at least 4x4)");
        c1 = register_module("c1", nn::Conv2d(nn::Conv2dOptions(ch, 32, 3).padding(1)));
        c2 = register_module("c2", nn::Conv2d(nn::Conv2dOptions(32, 64, 3).padding(1)));
        f1 = register_module("f1", nn::Linear(64 * (h / 4) * (w / 4), 128));
        f2 = register_module("f2", nn::Linear(128, classes));
    }
    int export_to(Exporter &e) override;
    Tensor forward(const Tensor &x) override
    {
        Tensor h = F::max_pool2d(torch::relu(ad_torch_conv(c1, x)), F::MaxPool2dFuncOptions(2));
        h = F::max_pool2d(torch::relu(ad_torch_conv(c2, h)), F::MaxPool2dFuncOptions(2));
        h = torch::relu(ad_torch_linear(f1, h.flatten(1)));
        return ad_torch_linear(f2, h);
    }
};

/* Convolution, optional BatchNorm and activation: the brick of the deep models. */
enum act { ACT_NONE, ACT_RELU, ACT_RELU6 };

struct ConvBnImpl : nn::Module {
    nn::Conv2d conv{nullptr};
    nn::BatchNorm2d bn{nullptr};
    enum act act;

    ConvBnImpl(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t groups, enum act a)
        : act(a)
    {
        conv = register_module("conv", nn::Conv2d(nn::Conv2dOptions(in, out, k)
                                                      .stride(stride)
                                                      .padding(k / 2)
                                                      .groups(groups)
                                                      .bias(false)));
        bn = register_module("bn", nn::BatchNorm2d(out));
    }
    int export_to(Exporter &e, int in); /* appends the brick reading node in */
    Tensor forward(const Tensor &x)
    {
        Tensor y = bn->forward(ad_torch_conv(conv, x));
        if (act == ACT_RELU)
            torch::relu_(y);
        else if (act == ACT_RELU6)
            torch::hardtanh_(y, 0.0, 6.0);
        return y;
    }
};
TORCH_MODULE(ConvBn);

/* ResNet's basic block: two 3x3 convolutions and a shortcut. */
struct BasicBlockImpl : nn::Module {
    ConvBn a{nullptr}, b{nullptr}, down{nullptr};

    BasicBlockImpl(int64_t in, int64_t out, int64_t stride)
    {
        a = register_module("a", ConvBn(in, out, 3, stride, 1, ACT_RELU));
        b = register_module("b", ConvBn(out, out, 3, 1, 1, ACT_NONE));
        if (stride != 1 || in != out)
            down = register_module("down", ConvBn(in, out, 1, stride, 1, ACT_NONE));
    }
    int export_to(Exporter &e, int in); /* appends the brick reading node in */
    Tensor forward(const Tensor &x)
    {
        Tensor y = b->forward(a->forward(x));
        y += down ? down->forward(x) : x;
        return torch::relu_(y);
    }
};
TORCH_MODULE(BasicBlock);

/*
 * resnet18: He et al.'s 18-layer network.  Small inputs (at most 64 pixels a
 * side, CIFAR- or MNIST-like) get the 3x3 stride-1 stem without max-pooling,
 * as is usual for them; larger ones the ImageNet stem.
 */
struct Resnet18Impl : NetImpl {
    ConvBn stem{nullptr};
    std::vector<BasicBlock> blocks;
    nn::Linear fc{nullptr};
    bool small;

    Resnet18Impl(int64_t ch, int64_t h, int64_t w, int64_t classes)
    {
        small = h <= 64 && w <= 64;
        stem = register_module("stem", small ? ConvBn(ch, 64, 3, 1, 1, ACT_RELU)
                                             : ConvBn(ch, 64, 7, 2, 1, ACT_RELU));
        int64_t in = 64;
        const int64_t widths[4] = {64, 128, 256, 512};
        for (int s = 0; s < 4; s++) {
            for (int i = 0; i < 2; i++) {
                int64_t stride = (s > 0 && i == 0) ? 2 : 1;
                auto blk = BasicBlock(in, widths[s], stride);
                blocks.push_back(register_module(
                    "layer" + std::to_string(s + 1) + "_" + std::to_string(i), blk));
                in = widths[s];
            }
        }
        fc = register_module("fc", nn::Linear(512, classes));
    }
    int export_to(Exporter &e) override;
    Tensor forward(const Tensor &x) override
    {
        Tensor h = stem->forward(x);
        if (!small)
            h = F::max_pool2d(h, F::MaxPool2dFuncOptions(3).stride(2).padding(1));
        for (auto &b : blocks)
            h = b->forward(h);
        h = F::adaptive_avg_pool2d(h, F::AdaptiveAvgPool2dFuncOptions(1)).flatten(1);
        return ad_torch_linear(fc, h);
    }
};

/* MobileNetV2's inverted residual: expand 1x1, depthwise 3x3, project 1x1. */
struct InvResImpl : nn::Module {
    ConvBn expand{nullptr}, dw{nullptr}, project{nullptr};
    bool residual;

    InvResImpl(int64_t in, int64_t out, int64_t stride, int64_t t)
    {
        int64_t hidden = in * t;
        residual = stride == 1 && in == out;
        if (t != 1)
            expand = register_module("expand", ConvBn(in, hidden, 1, 1, 1, ACT_RELU6));
        dw = register_module("dw", ConvBn(hidden, hidden, 3, stride, hidden, ACT_RELU6));
        project = register_module("project", ConvBn(hidden, out, 1, 1, 1, ACT_NONE));
    }
    int export_to(Exporter &e, int in); /* appends the brick reading node in */
    Tensor forward(const Tensor &x)
    {
        Tensor h = expand ? expand->forward(x) : x;
        h = project->forward(dw->forward(h));
        return residual ? x + h : h;
    }
};
TORCH_MODULE(InvRes);

/*
 * mobilenet_v2: Sandler et al., width 1.0.  Small inputs keep their
 * resolution in the stem and the first downsampling stage, the usual
 * CIFAR adaptation.  No dropout, so ranks stay in step with one process.
 */
struct MobilenetV2Impl : NetImpl {
    ConvBn stem{nullptr}, head{nullptr};
    std::vector<InvRes> blocks;
    nn::Linear fc{nullptr};

    MobilenetV2Impl(int64_t ch, int64_t h, int64_t w, int64_t classes)
    {
        bool small = h <= 64 && w <= 64;
        const int64_t cfg[7][4] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                                   {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
        stem = register_module("stem", ConvBn(ch, 32, 3, small ? 1 : 2, 1, ACT_RELU6));
        int64_t in = 32;
        for (int s = 0; s < 7; s++) {
            for (int i = 0; i < cfg[s][2]; i++) {
                int64_t stride = i == 0 ? cfg[s][3] : 1;
                if (small && s == 1)
                    stride = 1;
                auto blk = InvRes(in, cfg[s][1], stride, cfg[s][0]);
                blocks.push_back(register_module("block" + std::to_string(blocks.size()), blk));
                in = cfg[s][1];
            }
        }
        head = register_module("head", ConvBn(in, 1280, 1, 1, 1, ACT_RELU6));
        fc = register_module("fc", nn::Linear(1280, classes));
    }
    int export_to(Exporter &e) override;
    Tensor forward(const Tensor &x) override
    {
        Tensor h = stem->forward(x);
        for (auto &b : blocks)
            h = b->forward(h);
        h = head->forward(h);
        h = F::adaptive_avg_pool2d(h, F::AdaptiveAvgPool2dFuncOptions(1)).flatten(1);
        return ad_torch_linear(fc, h);
    }
};

/* --------------------------------------------------------------------------
 * The model handle.
 */
/*
 * A network built from an inference artifact's fp32 graph (ad_torch_graph.cpp):
 * fine-tuning a pruned model.  Its convolutions and linear layers start from
 * the artifact's weights; a weight the artifact holds at zero (magnitude
 * pruning) is held there after every step.  It exports back to the same graph.
 */
struct GraphImpl : NetImpl {
    struct Node {
        ad_inode_op_t op;
        int a, b;
        ad_act_t act;
        int k, stride, pad;       /* max-pooling */
        nn::Conv2d conv{nullptr}; /* conv nodes */
        nn::Linear lin{nullptr};  /* linear nodes */
        Tensor mask;              /* 1 where the weight may move; undefined = everywhere */
    };
    std::vector<Node> nodes;

    explicit GraphImpl(const ad_infer_t *m);
    Tensor forward(const Tensor &x) override;
    int export_to(Exporter &e) override;
    void after_step() override;
};

struct ad_model {
    std::string name;                  /* zoo name */
    std::shared_ptr<NetImpl> net;      /* the network */
    torch::Device device{torch::kCPU}; /* where it runs */
    int64_t shape[3];                  /* input channels, height, width */
    std::vector<Tensor> params;        /* parameters in flat (bucket) order */
    std::vector<int64_t> p_off;        /* each parameter's first float in the flat arrays */
    std::vector<int> p_bucket;         /* each parameter's bucket */
    std::vector<int64_t> b_off;        /* each bucket's first float */
    std::vector<int64_t> b_cnt;        /* each bucket's length in floats */
    std::vector<int> b_pending;        /* parameters still to arrive in this backward */
    Tensor flat_p, flat_g, flat_b;     /* flat storage on the device */
    Tensor host_p, host_g, host_b;     /* host mirrors; the same tensors on CPU */
    std::vector<std::pair<std::string, Tensor>> int_buffers; /* e.g. num_batches_tracked */
    int64_t nparams = 0;                                     /* trainable parameters */
    double flops = 0;                                        /* forward FLOPs per sample */
    ad_hooks_t hooks{};                                      /* backward callbacks */
    bool in_backward = false; /* hooks only act inside forward_backward */
    ad_optim_t opt{};         /* optimiser settings */
    Tensor m1, m2;            /* SGD momentum or Adam moments */
    int64_t opt_steps = 0;    /* optimiser steps taken */
};

/*
 * One training forward and backward of xt (labels yt, both on the device) with the
 * loss lossfn(logits) gives: gradients to the flat array through the hooks, the
 * loss and the right answers to the caller's pointers (either may be NULL).
 */
template <typename LossFn>
int
ad_torch_train_pass(ad_model_t *self, const Tensor &xt, const Tensor &yt, LossFn lossfn,
                    double *loss, int64_t *correct)
{
    for (auto &p : self->params)
        p.mutable_grad() = Tensor();
    for (size_t b = 0; b < self->b_cnt.size(); b++)
        self->b_pending[b] = 0;
    for (size_t i = 0; i < self->params.size(); i++)
        self->b_pending[self->p_bucket[i]]++;

    self->net->train();
    Tensor out = self->net->run(xt);
    Tensor l = lossfn(out);
    self->in_backward = true;
    try {
        l.backward();
    } catch (...) {
        self->in_backward = false;
        throw;
    }
    self->in_backward = false;
    if (!self->device.is_cpu())
        self->host_g.copy_(self->flat_g);
    if (loss)
        *loss = l.item<double>();
    if (correct)
        *correct = out.argmax(1).eq(yt).sum().item<int64_t>();
    return 0;
}

#endif
