/* ad_error.h - error codes, messages and the error detail carried by callers */
#ifndef AD_ERROR_H
#define AD_ERROR_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * One table generates the enum and ad_strerror().  System errors are -errno;
 * our own codes live below -1000 so they never collide with errno values.
 */
#define AD_ERROR_TABLE(X)                                                    \
    X(AD_EPARSE,   -1001, "parse error")                                    \
    X(AD_EINVAL,   -1002, "invalid argument")                               \
    X(AD_EDB,      -1003, "database error")                                 \
    X(AD_EPEER,    -1004, "peer error")                                     \
    X(AD_ETORCH,   -1005, "libtorch error")                                 \
    X(AD_EMPI,     -1006, "MPI error")                                      \
    X(AD_EDATA,    -1007, "bad dataset")                                    \
    X(AD_EMODEL,   -1008, "unknown model")                                  \
    X(AD_EDEVICE,  -1009, "device not available")                           \
    X(AD_ECKPT,    -1010, "bad checkpoint")                                 \
    X(AD_EIO,      -1011, "input/output error")

enum {
#define AD_ERROR_ENUM(name, value, text) name = value,
    AD_ERROR_TABLE(AD_ERROR_ENUM)
#undef AD_ERROR_ENUM
};

/* Detail of one failure: the code and a one-line message naming what failed. */
typedef struct ad_err {
    int code;          /* 0, a negative errno value or an AD_E* code */
    char msg[512];     /* one line, no trailing newline; empty when code is 0 */
} ad_err_t;

/* Return a static description of code (0, -errno or AD_E*); never NULL. */
const char *ad_strerror(int code);

/*
 * Fill err (which may be NULL) with code and a printf-style message and
 * return code, so a failing function can say `return ad_err_set(err, ...)`.
 */
int ad_err_set(ad_err_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like ad_err_set() with a va_list. */
int ad_err_vset(ad_err_t *err, int code, const char *fmt, va_list ap);

/* Clear err (NULL-safe). */
void ad_err_clear(ad_err_t *err);

/* Abort the process after an allocation failure; never returns. */
void ad_oom(size_t size) __attribute__((noreturn));

/* malloc/calloc/realloc/strdup that abort through ad_oom() instead of failing. */
void *ad_malloc(size_t size);
void *ad_calloc(size_t n, size_t size);
void *ad_realloc(void *ptr, size_t size);
char *ad_strdup(const char *s);

#ifdef __cplusplus
}
#endif

#endif
