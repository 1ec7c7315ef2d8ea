/* ad_error.c - error codes, messages and the one place allocation failure aborts */
#include "autodist/ad_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *
ad_strerror(int code)
{
    switch (code) {
    case 0:
        return "success";
#define AD_ERROR_CASE(name, value, text) \
    case name:                           \
        return text;
        AD_ERROR_TABLE(AD_ERROR_CASE)
#undef AD_ERROR_CASE
    default:
        break;
    }
    if (code < 0 && code > -1000)
        return strerror(-code);
    return "unknown error";
}

int
ad_err_vset(ad_err_t *err, int code, const char *fmt, va_list ap)
{
    if (!err)
        return code;
    err->code = code;
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    /* Messages are one line: a newline inside would split greppable logs. */
    for (char *p = err->msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return code;
}

int
ad_err_set(ad_err_t *err, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    ad_err_vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

void
ad_err_clear(ad_err_t *err)
{
    if (!err)
        return;
    err->code = 0;
    err->msg[0] = '\0';
}

void
ad_oom(size_t size)
{
    fprintf(stderr, "autodist: out of memory allocating %zu bytes\n", size);
    fflush(stderr);
    abort();
}

void *
ad_malloc(size_t size)
{
    void *p = malloc(size ? size : 1);

    if (!p)
        ad_oom(size);
    return p;
}

void *
ad_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);

    if (!p)
        ad_oom(n * size);
    return p;
}

void *
ad_realloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);

    if (!p)
        ad_oom(size);
    return p;
}

char *
ad_strdup(const char *s)
{
    size_t len = strlen(s) + 1;
    char *p = ad_malloc(len);

    memcpy(p, s, len);
    return p;
}
