/* ad_metrics.c - training events as JSON lines (one object per line, "event" first) */
#include "autodist/ad_metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ad_metrics {
    FILE *fp;    /* the open file */
    char *path;  /* its name, for messages */
};

ad_metrics_t *
ad_metrics_open(const char *path, int append, ad_err_t *err)
{
    FILE *fp = fopen(path, append ? "a" : "w");
    ad_metrics_t *self;

    if (!fp) {
        ad_err_set(err, -errno, "%s: cannot open metrics file: %s", path, strerror(errno));
        return NULL;
    }
    self = ad_calloc(1, sizeof(*self));
    self->fp = fp;
    self->path = ad_strdup(path);
    return self;
}

void
ad_metrics_close(ad_metrics_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fclose((*self_p)->fp);
    free((*self_p)->path);
    free(*self_p);
    *self_p = NULL;
}

int
ad_metrics_emit(ad_metrics_t *self, const char *event, json_t *fields, ad_err_t *err)
{
    json_t *obj;
    char *line;
    int rc = 0;

    if (!self) {
        json_decref(fields);
        return 0;
    }
    obj = json_object();
    json_object_set_new(obj, "event", json_string(event));
    if (fields)
        json_object_update(obj, fields);
    json_decref(fields);
    line = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(obj);
    if (!line)
        ad_oom(0);
    if (fprintf(self->fp, "%s\n", line) < 0 || fflush(self->fp) != 0)
        rc = ad_err_set(err, AD_EIO, "%s: cannot write metrics: %s", self->path,
                        strerror(errno));
    free(line);
    return rc;
}
