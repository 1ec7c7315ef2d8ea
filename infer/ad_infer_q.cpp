/* ad_infer_q.cpp - int8 quantisation of inference graphs on libtorch's ONEDNN engine */
#include "ad_infer_int.h"

void
s_infer_prepack(ad_igraph_t *g)
{
}

at::Tensor
s_infer_forward_q(const ad_igraph_t *g, const at::Tensor &x, const std::vector<int> &last)
{
    throw std::runtime_error("int8 is not built yet");
}

extern "C" int
ad_infer_quantize(ad_infer_t *self, const float *calib, int n, int channels, int height, int width,
                  const char *dir, const char *meta, ad_err_t *err)
{
    return ad_err_set(err, AD_EINVAL, "quantize: not built yet");
}
