/* ad_torch_kd.cpp - knowledge distillation: a teacher's logits, the KD loss, a student's pass */
#include "ad_torch_int.h"

#include <cstring>
#include <stdexcept>
#include <string>

/* --------------------------------------------------------------------------
 * Knowledge distillation (job key distill:): a teacher's logits, and a
 * student's loss against them and the labels.
 */

/* The KD loss summed over the batch: alpha T^2 KL(softmax(t/T) || softmax(s/T)) + (1-alpha) CE. */
static Tensor
s_kd_loss(const Tensor &s, const Tensor &t, const Tensor &y, double temperature, double alpha)
{
    Tensor ce = F::cross_entropy(s, y, F::CrossEntropyFuncOptions().reduction(torch::kSum));
    Tensor log_ps = F::log_softmax(s / temperature, F::LogSoftmaxFuncOptions(1));
    Tensor log_pt = F::log_softmax(t / temperature, F::LogSoftmaxFuncOptions(1));
    Tensor kl = (log_pt.exp() * (log_pt - log_ps)).sum();

    return kl * (alpha * temperature * temperature) + ce * (1.0 - alpha);
}

static int
s_kd_check(int n, int classes, double temperature, double alpha, ad_err_t *err)
{
    if (n < 1 || classes < 1)
        return ad_err_set(err, AD_EINVAL, "distill: batch of %d samples of %d classes", n, classes);
    if (!(temperature > 0) || !(alpha >= 0 && alpha <= 1))
        return ad_err_set(err, AD_EINVAL,
                          "distill: temperature must be > 0 and alpha in [0, 1], got %g and %g",
                          temperature, alpha);
    return 0;
}

extern "C" int
ad_torch_logits(ad_model_t *self, const float *x, int n, int classes, float *out, ad_err_t *err)
{
    if (n < 1)
        return ad_err_set(err, AD_EINVAL, "logits: batch of %d samples", n);
    return ad_cxx_guard(err, "teacher forward", [&]() {
        torch::NoGradGuard ng;
        const int64_t *s = self->shape;
        Tensor xt = torch::from_blob((void *)x, {n, s[0], s[1], s[2]}, torch::kFloat32);
        if (!self->device.is_cpu())
            xt = xt.to(self->device);
        self->net->eval();
        Tensor o = self->net->run(xt).to(torch::kCPU, torch::kFloat32).contiguous();
        if (o.dim() != 2 || o.size(0) != n || o.size(1) != classes)
            return ad_err_set(err, AD_EINVAL,
                              "teacher %s gives %lld outputs per sample, the "
                              "student's data has %d classes",
                              self->name.c_str(), o.dim() == 2 ? (long long)o.size(1) : -1LL,
                              classes);
        std::memcpy(out, o.data_ptr<float>(), (size_t)n * (size_t)classes * sizeof(float));
        return 0;
    });
}

extern "C" int
ad_torch_kd_loss(const float *student, const float *teacher, const int64_t *y, int n, int classes,
                 double temperature, double alpha, double *loss, ad_err_t *err)
{
    int rc = s_kd_check(n, classes, temperature, alpha, err);

    if (rc)
        return rc;
    return ad_cxx_guard(err, "distill loss", [&]() {
        torch::NoGradGuard ng;
        Tensor st = torch::from_blob((void *)student, {n, classes}, torch::kFloat32);
        Tensor tt = torch::from_blob((void *)teacher, {n, classes}, torch::kFloat32);
        Tensor yt = torch::from_blob((void *)y, {n}, torch::kInt64);
        *loss = s_kd_loss(st.to(torch::kFloat64), tt.to(torch::kFloat64), yt, temperature, alpha)
                    .item<double>();
        return 0;
    });
}

extern "C" int
ad_torch_forward_backward_kd(ad_model_t *self, const float *x, const int64_t *y, int n,
                             const float *teacher, int classes, double temperature, double alpha,
                             double loss_scale, double *loss, int64_t *correct, ad_err_t *err)
{
    int rc = s_kd_check(n, classes, temperature, alpha, err);

    if (rc)
        return rc;
    return ad_cxx_guard(err, "forward/backward (distill)", [&]() {
        const int64_t *s = self->shape;
        Tensor xt = torch::from_blob((void *)x, {n, s[0], s[1], s[2]}, torch::kFloat32);
        Tensor yt = torch::from_blob((void *)y, {n}, torch::kInt64);
        Tensor tt = torch::from_blob((void *)teacher, {n, classes}, torch::kFloat32);
        if (!self->device.is_cpu()) {
            xt = xt.to(self->device, true);
            yt = yt.to(self->device, true);
            tt = tt.to(self->device, true);
        }
        auto kd = [&](const Tensor &out) {
            if (out.size(1) != classes)
                throw std::runtime_error("the student has " + std::to_string(out.size(1)) +
                                         " outputs, the teacher " + std::to_string(classes));
            return s_kd_loss(out, tt, yt, temperature, alpha) * loss_scale;
        };
        return ad_torch_train_pass(self, xt, yt, kd, loss, correct);
    });
}
