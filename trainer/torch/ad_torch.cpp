/* ad_torch.cpp - the only C++ in autodist: an extern "C" shim over libtorch */
#include "ad_torch_int.h"

#include <oneapi/dnnl/dnnl.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <errno.h>
#include <fcntl.h>
#include <omp.h>
#include <unistd.h>
#include <string.h>

#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

/* --------------------------------------------------------------------------
 * FLOP counting: the model's forward adds to this while it is set, so the
 * estimate follows the real layer shapes of any input size.
 */
static thread_local double *t_flops = nullptr;

Tensor
ad_torch_conv(nn::Conv2d &conv, const Tensor &x)
{
    Tensor y = conv->forward(x);
    if (t_flops) {
        const auto &o = conv->options;
        double k = 1.0;
        for (auto v : *o.kernel_size())
            k *= (double)v;
        *t_flops += 2.0 * (double)(o.in_channels() / o.groups()) * k *
                    (double)y.size(1) * (double)y.size(2) * (double)y.size(3);
    }
    return y;
}

/*
 * Linear layers multiply through oneDNN's sgemm: Debian's libtorch takes its
 * matrix products from the reference BLAS, which is an order of magnitude
 * slower than oneDNN's JIT kernels on the same core.
 */
static void
s_sgemm(char ta, char tb, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
        const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    if (dnnl_sgemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc) != dnnl_success)
        throw std::runtime_error("oneDNN sgemm failed");
}

struct DnnlLinear : torch::autograd::Function<DnnlLinear> {
    static Tensor forward(torch::autograd::AutogradContext *ctx, Tensor x, Tensor w, Tensor b)
    {
        x = x.contiguous();
        int64_t n = x.size(0), k = x.size(1), o = w.size(0);
        /* A copy, never a view: at n = 1 expand().contiguous() is the bias itself. */
        Tensor y = torch::empty({n, o}, b.options());
        y.copy_(b.unsqueeze(0).expand({n, o}));
        s_sgemm('N', 'T', n, o, k, x.data_ptr<float>(), k, w.data_ptr<float>(), k, 1.0f,
                y.data_ptr<float>(), o);
        ctx->save_for_backward({x, w});
        return y;
    }
    static torch::autograd::tensor_list backward(torch::autograd::AutogradContext *ctx,
                                                 torch::autograd::tensor_list grads)
    {
        auto saved = ctx->get_saved_variables();
        Tensor x = saved[0], w = saved[1], gy = grads[0].contiguous();
        int64_t n = x.size(0), k = x.size(1), o = w.size(0);
        Tensor gx, gw = torch::empty_like(w), gb = gy.sum(0);
        if (ctx->needs_input_grad(0)) {
            gx = torch::empty_like(x);
            s_sgemm('N', 'N', n, k, o, gy.data_ptr<float>(), o, w.data_ptr<float>(), k, 0.0f,
                    gx.data_ptr<float>(), k);
        }
        s_sgemm('T', 'N', o, k, n, gy.data_ptr<float>(), o, x.data_ptr<float>(), k, 0.0f,
                gw.data_ptr<float>(), k);
        return {gx, gw, gb};
    }
};

Tensor
ad_torch_linear(nn::Linear &lin, const Tensor &x)
{
    Tensor y;
    if (x.device().is_cpu() && x.scalar_type() == torch::kFloat32 && x.dim() == 2 &&
        lin->weight.is_contiguous())
        y = DnnlLinear::apply(x, lin->weight, lin->bias);
    else
        y = lin->forward(x);
    if (t_flops)
        *t_flops += 2.0 * (double)lin->options.in_features() *
                    (double)lin->options.out_features();
    return y;
}

static const char *const s_models[] = {"mlp", "lenet5", "cnn", "resnet18", "mobilenet_v2",
                                       nullptr};

static std::shared_ptr<NetImpl>
s_build(const std::string &name, int64_t c, int64_t h, int64_t w, int64_t k)
{
    if (name == "mlp")
        return std::make_shared<MlpImpl>(c * h * w, k);
    if (name == "lenet5")
        return std::make_shared<Lenet5Impl>(c, h, w, k);
    if (name == "cnn")
        return std::make_shared<CnnImpl>(c, h, w, k);
    if (name == "resnet18")
        return std::make_shared<Resnet18Impl>(c, h, w, k);
    if (name == "mobilenet_v2")
        return std::make_shared<MobilenetV2Impl>(c, h, w, k);
    return nullptr;
}

/* The fp32 artifact opts->artifact, checked against the shape and classes the model is for. */
static int
s_open_artifact(const ad_model_opts_t *opts, ad_infer_t **art, ad_err_t *err)
{
    int c, h, w, k;
    int rc = ad_infer_load(opts->artifact, art, err);

    if (rc)
        return rc;
    ad_infer_shape(*art, &c, &h, &w);
    k = ad_infer_classes(*art);
    if (opts->name && *opts->name && strcmp(opts->name, ad_infer_arch(*art)))
        rc = ad_err_set(err, AD_EINVAL, "%s is a %s, not a %s", opts->artifact, ad_infer_arch(*art),
                        opts->name);
    else if (!strcmp(ad_infer_variant(*art), "int8"))
        rc = ad_err_set(err, AD_EINVAL, "%s: the model is int8; train from its fp32 parent",
                        opts->artifact);
    else if (c != opts->channels || h != opts->height || w != opts->width || k != opts->classes)
        rc = ad_err_set(err, AD_EINVAL,
                        "%s takes %dx%dx%d images into %d classes, the data gives %dx%dx%d into %d",
                        opts->artifact, c, h, w, k, opts->channels, opts->height, opts->width,
                        opts->classes);
    if (rc)
        ad_infer_free(art);
    return rc;
}

/* Keep err's message but give it another code. */
static int
s_recode(ad_err_t *err, int code)
{
    if (err)
        err->code = code;
    return code;
}

extern "C" const char *const *
ad_torch_models(void)
{
    return s_models;
}

extern "C" const char *
ad_torch_version(void)
{
    return TORCH_VERSION;
}

extern "C" bool
ad_torch_has_cuda(void)
{
    try {
        return torch::cuda::is_available();
    } catch (...) {
        return false;
    }
}

extern "C" int
ad_torch_cuda_devices(void)
{
    try {
        return (int)torch::cuda::device_count();
    } catch (...) {
        return 0;
    }
}

extern "C" void
ad_torch_set_threads(int threads)
{
    static std::atomic<bool> interop_set{false};

    if (threads < 1)
        threads = 1;
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

/* Called by autograd when parameter i's gradient is ready. */
static void
s_on_grad(ad_model_t *m, size_t i, const Tensor &g)
{
    Tensor dst = m->flat_g.narrow(0, m->p_off[i], g.numel());
    if (g.is_contiguous() && g.device().is_cpu() && dst.device().is_cpu())
        std::memcpy(dst.data_ptr<float>(), g.data_ptr<float>(), g.numel() * sizeof(float));
    else
        dst.view(g.sizes()).copy_(g);
    if (!m->in_backward || !m->device.is_cpu())
        return;
    int b = m->p_bucket[i];
    if (--m->b_pending[b] == 0 && m->hooks.on_bucket)
        m->hooks.on_bucket(m->hooks.arg, b);
    if (m->hooks.on_grad)
        m->hooks.on_grad(m->hooks.arg);
}

/* Move parameters and float buffers into flat arrays and cut the buckets. */
static void
s_flatten(ad_model_t *m, size_t bucket_bytes)
{
    torch::NoGradGuard ng;
    auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(m->device);

    /* Autograd produces gradients roughly in reverse registration order. */
    std::vector<Tensor> ps = m->net->parameters();
    m->params.assign(ps.rbegin(), ps.rend());
    int64_t total = 0;
    for (auto &p : m->params) {
        m->p_off.push_back(total);
        total += p.numel();
    }
    m->nparams = total;
    m->flat_p = torch::empty({total}, opts);
    m->flat_g = torch::zeros({total}, opts);
    for (size_t i = 0; i < m->params.size(); i++) {
        Tensor &p = m->params[i];
        Tensor view = m->flat_p.narrow(0, m->p_off[i], p.numel());
        view.copy_(p.detach().flatten());
        p.set_data(view.view(p.sizes()));
    }

    int64_t cap = (int64_t)(bucket_bytes / sizeof(float));
    for (size_t i = 0; i < m->params.size(); i++) {
        int64_t n = m->params[i].numel();
        if (m->b_off.empty() || m->b_cnt.back() >= cap) {
            m->b_off.push_back(m->p_off[i]);
            m->b_cnt.push_back(0);
        }
        m->b_cnt.back() += n;
        m->p_bucket.push_back((int)m->b_off.size() - 1);
    }
    m->b_pending.assign(m->b_off.size(), 0);

    std::vector<Tensor> fbufs;
    int64_t nb = 0;
    for (auto &kv : m->net->named_buffers()) {
        if (kv.value().scalar_type() == torch::kFloat32) {
            fbufs.push_back(kv.value());
            nb += kv.value().numel();
        } else {
            m->int_buffers.emplace_back(kv.key(), kv.value());
        }
    }
    if (nb > 0) {
        m->flat_b = torch::empty({nb}, opts);
        int64_t off = 0;
        for (auto &b : fbufs) {
            Tensor view = m->flat_b.narrow(0, off, b.numel());
            view.copy_(b.flatten());
            b.set_data(view.view(b.sizes()));
            off += b.numel();
        }
    }

    if (m->device.is_cpu()) {
        m->host_p = m->flat_p;
        m->host_g = m->flat_g;
        m->host_b = m->flat_b;
    } else {
        m->host_p = m->flat_p.cpu();
        m->host_g = m->flat_g.cpu();
        if (nb > 0)
            m->host_b = m->flat_b.cpu();
    }

    for (size_t i = 0; i < m->params.size(); i++) {
        m->params[i].register_hook([m, i](Tensor g) { s_on_grad(m, i, g); });
    }
}

extern "C" int
ad_torch_model_new(const ad_model_opts_t *opts, ad_model_t **out, ad_err_t *err)
{
    *out = nullptr;
    std::string name = opts->name ? opts->name : "";
    ad_infer_t *art = nullptr;
    bool known = false;
    for (int i = 0; s_models[i]; i++)
        known = known || name == s_models[i];
    if (!known && !opts->artifact) {
        std::string list;
        for (int i = 0; s_models[i]; i++)
            list += std::string(i ? ", " : "") + s_models[i];
        return ad_err_set(err, AD_EMODEL, "unknown model \"%s\" (expected one of: %s)",
                          name.c_str(), list.c_str());
    }
    if (opts->channels < 1 || opts->height < 1 || opts->width < 1 || opts->classes < 2)
        return ad_err_set(err, AD_EINVAL, "model %s: bad input shape %dx%dx%d or %d classes",
                          name.c_str(), opts->channels, opts->height, opts->width,
                          opts->classes);
    if (opts->device == AD_DEVICE_GPU) {
        if (!ad_torch_has_cuda())
            return ad_err_set(err, AD_EDEVICE,
                              "no GPU: this libtorch has no CUDA or no device is visible");
        if (opts->device_index < 0 || opts->device_index >= ad_torch_cuda_devices())
            return ad_err_set(err, AD_EDEVICE, "GPU %d does not exist (%d visible)",
                              opts->device_index, ad_torch_cuda_devices());
    }
    if (opts->artifact) {
        int rc = s_open_artifact(opts, &art, err);
        if (rc)
            return rc;
        if (name.empty())
            name = ad_infer_arch(art);
    }

    auto m = std::make_unique<ad_model>();
    int rc = ad_cxx_guard(err, name.c_str(), [&]() {
        torch::manual_seed(opts->seed);
        m->name = name;
        m->shape[0] = opts->channels;
        m->shape[1] = opts->height;
        m->shape[2] = opts->width;
        try {
            if (art)
                m->net = std::make_shared<GraphImpl>(art);
            else
                m->net = s_build(name, opts->channels, opts->height, opts->width, opts->classes);
        } catch (const std::invalid_argument &e) {
            return ad_err_set(err, AD_EINVAL, "model %s: %s", name.c_str(), e.what());
        }
        if (opts->device == AD_DEVICE_GPU) {
            m->device = torch::Device(torch::kCUDA, (c10::DeviceIndex)opts->device_index);
            m->net->to(m->device);
        }
        /* A one-sample forward checks the shape and counts the FLOPs. */
        {
            torch::NoGradGuard ng;
            double flops = 0;
            m->net->eval();
            t_flops = &flops;
            try {
                m->net->run(torch::zeros({1, opts->channels, opts->height, opts->width},
                                             torch::TensorOptions().device(m->device)));
            } catch (...) {
                t_flops = nullptr;
                throw;
            }
            t_flops = nullptr;
            m->flops = flops;
            m->net->train();
        }
        s_flatten(m.get(), opts->bucket_bytes ? opts->bucket_bytes : (2u << 20));
        ad_optim_t sgd{};
        sgd.kind = AD_OPTIM_SGD;
        sgd.lr = 0.01;
        return ad_torch_set_optimizer(m.get(), &sgd, err);
    });
    ad_infer_free(&art);
    if (rc)
        return rc;
    *out = m.release();
    return 0;
}

extern "C" void
ad_torch_model_free(ad_model_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    try {
        delete *self_p;
    } catch (...) {
    }
    *self_p = nullptr;
}

extern "C" int64_t
ad_torch_param_count(const ad_model_t *self)
{
    return self->nparams;
}

extern "C" double
ad_torch_flops_per_sample(const ad_model_t *self)
{
    return self->flops;
}

extern "C" float *
ad_torch_params(ad_model_t *self)
{
    return self->host_p.data_ptr<float>();
}

extern "C" float *
ad_torch_buffers(ad_model_t *self, int64_t *n)
{
    *n = self->host_b.defined() ? self->host_b.numel() : 0;
    return *n ? self->host_b.data_ptr<float>() : nullptr;
}

extern "C" float *
ad_torch_grads(ad_model_t *self)
{
    return self->host_g.data_ptr<float>();
}

extern "C" int
ad_torch_bucket_count(const ad_model_t *self)
{
    return (int)self->b_off.size();
}

extern "C" void
ad_torch_bucket(const ad_model_t *self, int b, int64_t *offset, int64_t *count)
{
    *offset = self->b_off[b];
    *count = self->b_cnt[b];
}

extern "C" void
ad_torch_set_hooks(ad_model_t *self, const ad_hooks_t *hooks)
{
    if (hooks)
        self->hooks = *hooks;
    else
        self->hooks = ad_hooks_t{};
}

extern "C" int
ad_torch_set_optimizer(ad_model_t *self, const ad_optim_t *optim, ad_err_t *err)
{
    ad_optim_t o = *optim;

    if (!(o.lr > 0) || !std::isfinite(o.lr))
        return ad_err_set(err, AD_EINVAL, "learning rate must be positive, got %g", o.lr);
    if (o.momentum < 0 || o.momentum >= 1)
        return ad_err_set(err, AD_EINVAL, "momentum must be in [0, 1), got %g", o.momentum);
    if (o.weight_decay < 0)
        return ad_err_set(err, AD_EINVAL, "weight decay must be >= 0, got %g", o.weight_decay);
    if (o.kind == AD_OPTIM_ADAM) {
        if (o.beta1 == 0)
            o.beta1 = 0.9;
        if (o.beta2 == 0)
            o.beta2 = 0.999;
        if (o.eps == 0)
            o.eps = 1e-8;
        if (o.beta1 < 0 || o.beta1 >= 1 || o.beta2 < 0 || o.beta2 >= 1 || o.eps <= 0)
            return ad_err_set(err, AD_EINVAL, "Adam needs betas in [0, 1) and eps > 0");
    } else if (o.kind != AD_OPTIM_SGD) {
        return ad_err_set(err, AD_EINVAL, "unknown optimiser kind %d", (int)o.kind);
    }
    return ad_cxx_guard(err, "optimizer", [&]() {
        self->opt = o;
        self->opt_steps = 0;
        self->m1 = torch::zeros_like(self->flat_p);
        self->m2 = o.kind == AD_OPTIM_ADAM ? torch::zeros_like(self->flat_p) : Tensor();
        return 0;
    });
}

extern "C" void
ad_torch_set_lr(ad_model_t *self, double lr)
{
    self->opt.lr = lr;
}

extern "C" int
ad_torch_forward_backward(ad_model_t *self, const float *x, const int64_t *y, int n,
                          double loss_scale, double *loss, int64_t *correct, ad_err_t *err)
{
    if (n < 1)
        return ad_err_set(err, AD_EINVAL, "forward_backward: batch of %d samples", n);
    return ad_cxx_guard(err, "forward/backward", [&]() {
        const int64_t *s = self->shape;
        Tensor xt = torch::from_blob((void *)x, {n, s[0], s[1], s[2]}, torch::kFloat32);
        Tensor yt = torch::from_blob((void *)y, {n}, torch::kInt64);
        if (!self->device.is_cpu()) {
            xt = xt.to(self->device, true);
            yt = yt.to(self->device, true);
        }
        auto ce = [&](const Tensor &out) {
            return F::cross_entropy(out, yt,
                                    F::CrossEntropyFuncOptions().reduction(torch::kSum)) *
                   loss_scale;
        };
        return ad_torch_train_pass(self, xt, yt, ce, loss, correct);
    });
}

extern "C" int
ad_torch_step(ad_model_t *self, ad_err_t *err)
{
    return ad_cxx_guard(err, "optimizer step", [&]() {
        torch::NoGradGuard ng;
        const ad_optim_t &o = self->opt;
        Tensor &p = self->flat_p;
        Tensor g = self->flat_g;

        if (!self->device.is_cpu())
            g.copy_(self->host_g);
        if (o.weight_decay > 0)
            g = g.add(p, o.weight_decay);
        self->opt_steps++;
        if (o.kind == AD_OPTIM_SGD) {
            if (o.momentum > 0) {
                /* PyTorch's SGD: the first step's buffer is the gradient itself. */
                if (self->opt_steps == 1)
                    self->m1.copy_(g);
                else
                    self->m1.mul_(o.momentum).add_(g);
                p.add_(self->m1, -o.lr);
            } else {
                p.add_(g, -o.lr);
            }
        } else {
            double bc1 = 1.0 - std::pow(o.beta1, (double)self->opt_steps);
            double bc2 = 1.0 - std::pow(o.beta2, (double)self->opt_steps);
            self->m1.mul_(o.beta1).add_(g, 1.0 - o.beta1);
            self->m2.mul_(o.beta2).addcmul_(g, g, 1.0 - o.beta2);
            Tensor denom = (self->m2.sqrt() / std::sqrt(bc2)).add_(o.eps);
            p.addcdiv_(self->m1, denom, -o.lr / bc1);
        }
        self->net->after_step();
        if (!self->device.is_cpu())
            self->host_p.copy_(p);
        return 0;
    });
}

extern "C" int
ad_torch_evaluate(ad_model_t *self, const float *x, const int64_t *y, int n, double *loss_sum,
                  int64_t *correct, ad_err_t *err)
{
    if (n < 1)
        return ad_err_set(err, AD_EINVAL, "evaluate: batch of %d samples", n);
    return ad_cxx_guard(err, "evaluate", [&]() {
        torch::NoGradGuard ng;
        const int64_t *s = self->shape;
        Tensor xt = torch::from_blob((void *)x, {n, s[0], s[1], s[2]}, torch::kFloat32);
        Tensor yt = torch::from_blob((void *)y, {n}, torch::kInt64);
        if (!self->device.is_cpu()) {
            xt = xt.to(self->device);
            yt = yt.to(self->device);
        }
        self->net->eval();
        Tensor out = self->net->run(xt);
        self->net->train();
        if (loss_sum)
            *loss_sum = F::cross_entropy(out, yt, F::CrossEntropyFuncOptions().reduction(
                                                      torch::kSum))
                            .item<double>();
        if (correct)
            *correct = out.argmax(1).eq(yt).sum().item<int64_t>();
        return 0;
    });
}

extern "C" int
ad_torch_sync_to_device(ad_model_t *self, ad_err_t *err)
{
    if (self->device.is_cpu())
        return 0;
    return ad_cxx_guard(err, "copy to device", [&]() {
        torch::NoGradGuard ng;
        self->flat_p.copy_(self->host_p);
        if (self->flat_b.defined())
            self->flat_b.copy_(self->host_b);
        return 0;
    });
}

extern "C" int
ad_torch_sync_from_device(ad_model_t *self, ad_err_t *err)
{
    if (self->device.is_cpu())
        return 0;
    return ad_cxx_guard(err, "copy from device", [&]() {
        self->host_p.copy_(self->flat_p);
        if (self->flat_b.defined())
            self->host_b.copy_(self->flat_b);
        self->host_g.copy_(self->flat_g);
        return 0;
    });
}

/*
 * Where a save is going: the file descriptor, the first write error, and the
 * bytes written and asked for (the archive's size, counted on after a failure).
 */
struct s_sink {
    int fd = -1;          /* the temporary file */
    int error = 0;        /* first errno of write(2), fsync(2) or close(2) */
    uint64_t written = 0; /* bytes on disk */
    uint64_t total = 0;   /* bytes the serializer handed over */
};

/*
 * The serializer's writer: write(2) until done or the first error.  It always
 * reports success, because libtorch's PyTorchStreamWriter throws on a short
 * write, and does so from its destructor too (writing the end of the archive),
 * where an exception ends the process (std::terminate, SIGABRT).  The error is
 * kept in the sink and reported once the archive is complete.
 */
static size_t
s_sink_write(s_sink &sink, const void *buf, size_t n)
{
    const char *p = static_cast<const char *>(buf);

    sink.total += n;
    for (size_t off = 0; !sink.error && off < n;) {
        ssize_t w = write(sink.fd, p + off, n - off);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            sink.error = w < 0 ? errno : EIO;
            break;
        }
        off += (size_t)w;
        sink.written += (uint64_t)w;
    }
    return n;
}

/* err for a failed write of path: "PATH: no space left on device (wrote X of Y MiB)". */
static int
s_write_error(ad_err_t *err, const char *path, const s_sink &sink)
{
    const bool full = sink.error == ENOSPC || sink.error == EDQUOT;
    std::string why = strerror(sink.error);

    if (!why.empty())
        why[0] = (char)tolower((unsigned char)why[0]);
    return ad_err_set(err, full ? -sink.error : AD_EIO,
                      "%s: %s (wrote %.1f MiB of %.1f MiB)", path, why.c_str(),
                      (double)sink.written / 1048576.0, (double)sink.total / 1048576.0);
}

/* fsync the folder holding path, so a rename into it survives a crash (best effort). */
static void
s_sync_dir(const char *path)
{
    std::string dir(path);
    size_t slash = dir.rfind('/');
    int fd;

    dir = slash == std::string::npos ? "." : slash == 0 ? "/" : dir.substr(0, slash);
    fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

extern "C" int
ad_torch_save(ad_model_t *self, const char *path, ad_err_t *err)
{
    std::string tmp = std::string(path) + ".tmp";
    s_sink sink;
    int rc;

    sink.fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (sink.fd < 0) {
        int e = errno;

        return ad_err_set(err, e == ENOSPC || e == EDQUOT ? -e : AD_EIO, "%s: cannot create: %s",
                          tmp.c_str(), strerror(e));
    }
    rc = ad_cxx_guard(err, path, [&]() {
        torch::serialize::OutputArchive ar;
        ar.write("model", c10::IValue(self->name));
        ar.write("params", self->flat_p.cpu());
        if (self->flat_b.defined())
            ar.write("buffers", self->flat_b.cpu());
        for (auto &kv : self->int_buffers)
            ar.write("ibuf." + kv.first, kv.second.cpu());
        ar.write("opt.kind", c10::IValue((int64_t)self->opt.kind));
        ar.write("opt.steps", c10::IValue(self->opt_steps));
        ar.write("opt.m1", self->m1.cpu());
        if (self->m2.defined())
            ar.write("opt.m2", self->m2.cpu());
        ar.save_to([&](const void *buf, size_t n) { return s_sink_write(sink, buf, n); });
        return 0;
    });
    /* A full disk may only show at fsync or close (NFS, delayed allocation). */
    if (!rc && !sink.error && fsync(sink.fd) != 0)
        sink.error = errno;
    if (close(sink.fd) != 0 && !rc && !sink.error)
        sink.error = errno;
    if (!rc && sink.error)
        rc = s_write_error(err, path, sink);
    else if (rc)
        rc = s_recode(err, AD_EIO);
    if (!rc && std::rename(tmp.c_str(), path) != 0)
        rc = ad_err_set(err, AD_EIO, "%s: cannot rename into place: %s", path, strerror(errno));
    if (rc) {
        unlink(tmp.c_str());
        return rc;
    }
    s_sync_dir(path);
    return 0;
}

/* Copy src into dst when the element counts match, else throw. */
static void
s_restore(Tensor &dst, const Tensor &src, const char *what)
{
    if (src.numel() != dst.numel() || src.scalar_type() != dst.scalar_type())
        throw std::runtime_error(std::string(what) + " do not match this model");
    dst.copy_(src.view(dst.sizes()));
}

extern "C" int
ad_torch_load(ad_model_t *self, const char *path, ad_err_t *err)
{
    int rc = ad_cxx_guard(err, path, [&]() {
        torch::NoGradGuard ng;
        torch::serialize::InputArchive ar;
        ar.load_from(std::string(path));
        c10::IValue v;
        ar.read("model", v);
        if (!v.isString() || v.toStringRef() != self->name)
            throw std::runtime_error("checkpoint is of model " +
                                     (v.isString() ? v.toStringRef() : std::string("?")) +
                                     ", not " + self->name);
        Tensor t;
        ar.read("params", t);
        s_restore(self->flat_p, t, "parameters");
        if (self->flat_b.defined()) {
            ar.read("buffers", t);
            s_restore(self->flat_b, t, "buffers");
        }
        for (auto &kv : self->int_buffers) {
            /* A fresh tensor: read() into a defined one set_()s it, which cannot change dtype. */
            Tensor ti;
            ar.read("ibuf." + kv.first, ti);
            s_restore(kv.second, ti, "buffers");
        }
        ar.read("opt.kind", v);
        if (v.toInt() != (int64_t)self->opt.kind)
            throw std::runtime_error("checkpoint was written with another optimiser");
        ar.read("opt.steps", v);
        self->opt_steps = v.toInt();
        ar.read("opt.m1", t);
        s_restore(self->m1, t, "optimiser state");
        if (self->m2.defined()) {
            ar.read("opt.m2", t);
            s_restore(self->m2, t, "optimiser state");
        }
        if (!self->device.is_cpu()) {
            self->host_p.copy_(self->flat_p);
            if (self->flat_b.defined())
                self->host_b.copy_(self->flat_b);
        }
        return 0;
    });
    return rc ? s_recode(err, AD_ECKPT) : 0;
}

extern "C" float *
ad_torch_optim_state(ad_model_t *self, int which, int64_t *n)
{
    Tensor &t = which == 0 ? self->m1 : self->m2;

    *n = 0;
    if (!t.defined() || !t.device().is_cpu())
        return nullptr;
    *n = t.numel();
    return t.data_ptr<float>();
}

extern "C" int64_t
ad_torch_optim_steps(const ad_model_t *self)
{
    return self->opt_steps;
}

extern "C" void
ad_torch_set_optim_steps(ad_model_t *self, int64_t steps)
{
    self->opt_steps = steps;
}
