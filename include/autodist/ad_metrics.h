/* ad_metrics.h - training events as JSON lines (one object per line, "event" first) */
#ifndef AD_METRICS_H
#define AD_METRICS_H

#include <jansson.h>

#include "autodist/ad_error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ad_metrics ad_metrics_t;

/*
 * Open path for appending events (truncating unless append).  Returns NULL
 * with err naming the file when it cannot be opened.  The caller owns the
 * result (ad_metrics_close()).
 */
ad_metrics_t *ad_metrics_open(const char *path, int append, ad_err_t *err);

/* Flush and close; NULL-safe and idempotent, sets *self_p to NULL. */
void ad_metrics_close(ad_metrics_t **self_p);

/*
 * Write {"event": name, ...fields} as one line and flush it, taking
 * ownership of fields (may be NULL).  Returns 0, or AD_EIO with err naming
 * the file (a full disk, say); a NULL self writes nothing and returns 0.
 */
int ad_metrics_emit(ad_metrics_t *self, const char *event, json_t *fields, ad_err_t *err);

#ifdef __cplusplus
}
#endif

#endif
