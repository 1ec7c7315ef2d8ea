/* ad_cxx_guard.h - the C++ side of the project (infer/, trainer/torch/): no exception crosses
 * into C */
#ifndef AD_CXX_GUARD_H
#define AD_CXX_GUARD_H

#ifndef __cplusplus
#error "ad_cxx_guard.h is for the C++ sources over libtorch"
#endif

#include <c10/util/Exception.h>

#include <exception>

#include "autodist/ad_error.h"

/*
 * Run fn (returning 0 or an error code) and turn any exception it throws into an AD_ETORCH
 * error, "WHAT: why", so that the extern "C" functions over libtorch never throw.
 */
template <typename Fn>
static inline int
ad_cxx_guard(ad_err_t *err, const char *what, Fn fn)
{
    try {
        return fn();
    } catch (const c10::Error &e) {
        return ad_err_set(err, AD_ETORCH, "%s: %s", what, e.what_without_backtrace());
    } catch (const std::exception &e) {
        return ad_err_set(err, AD_ETORCH, "%s: %s", what, e.what());
    } catch (...) {
        return ad_err_set(err, AD_ETORCH, "%s: unknown C++ exception", what);
    }
}

#endif
