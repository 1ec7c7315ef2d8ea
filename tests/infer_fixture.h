/* infer_fixture.h - what the tests of the inference engine and of the training models share */
#ifndef AD_INFER_FIXTURE_H
#define AD_INFER_FIXTURE_H

#include "autodist/ad_infer.h"
#include "autodist/ad_torch.h"

/* n x per deterministic floats in [-1, 1] from seed (the caller frees them). */
float *ift_inputs(int n, int per, unsigned seed);

/*
 * Fail the test unless the engine's logits of n samples x (per floats each) on inf match the
 * training model m's eval forward to 1e-3: ad_torch_evaluate's cross-entropy of sample i for
 * label k is logsumexp(z_i) - z_ik, so the log-softmax of the engine's logits must match it
 * for each of the classes labels.  what names the case in the message.
 */
void ift_check_same(ad_model_t *m, ad_infer_t *inf, const float *x, int n, int per, int classes,
                    const char *what);

#endif
