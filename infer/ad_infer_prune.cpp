/* ad_infer_prune.cpp - pruning (unstructured and by channel) and fine-tuning of fp32 graphs */
#include "ad_infer_int.h"

extern "C" int
ad_infer_prune(ad_infer_t *self, double fraction, bool structured, const char *dir,
               const char *meta, ad_err_t *err)
{
    return ad_err_set(err, AD_EINVAL, "prune: not built yet");
}

extern "C" int
ad_infer_finetune(ad_infer_t *self, const float *x, const int64_t *y, int n, double lr,
                  double *loss, ad_err_t *err)
{
    return ad_err_set(err, AD_EINVAL, "finetune: not built yet");
}
