/* stub_infer.c - a stand-in for the adinfer library until the engine lands: tiny, no libtorch */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "autodist/ad_infer.h"

struct ad_igraph {
    int c, h, w, out;
};

struct ad_infer {
    json_t *meta;
    char *text;
    int c, h, w, classes;
};

ad_igraph_t *
ad_igraph_new(int channels, int height, int width)
{
    ad_igraph_t *g = ad_calloc(1, sizeof(*g));

    *g = (ad_igraph_t){channels, height, width, channels};
    return g;
}

void
ad_igraph_free(ad_igraph_t **self_p)
{
    if (self_p && *self_p) {
        free(*self_p);
        *self_p = NULL;
    }
}

int
ad_igraph_conv(ad_igraph_t *self, int in, const float *w, int out, int kh, int kw,
               const float *bias, int stride, int pad, int groups, ad_act_t act, ad_err_t *err)
{
    self->out = out;
    return 1;
}

int
ad_igraph_linear(ad_igraph_t *self, int in, const float *w, int out, const float *bias,
                 ad_act_t act, ad_err_t *err)
{
    self->out = out;
    return 2;
}

int
ad_igraph_avgpool(ad_igraph_t *self, int in, ad_err_t *err)
{
    return 3;
}

int
ad_igraph_save(const ad_igraph_t *self, const char *dir, const char *meta, ad_err_t *err)
{
    json_t *m = json_loads(meta, 0, NULL);
    char path[4096];

    mkdir(dir, 0755);
    if (!m)
        m = json_object();
    json_object_set_new(m, "format", json_string("autodist-model"));
    json_object_set_new(m, "input", json_pack("[i,i,i]", self->c, self->h, self->w));
    json_object_set_new(m, "outputs", json_integer(self->out));
    snprintf(path, sizeof(path), "%s/model.json", dir);
    if (json_dump_file(m, path, 0) != 0) {
        json_decref(m);
        return ad_err_set(err, AD_EIO, "%s: cannot write", path);
    }
    json_decref(m);
    snprintf(path, sizeof(path), "%s/weights.bin", dir);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs("stub", f);
        fclose(f);
    }
    return 0;
}

int
ad_infer_load(const char *dir, ad_infer_t **out, ad_err_t *err)
{
    char path[4096];
    json_error_t je;
    json_t *m, *in;

    snprintf(path, sizeof(path), "%s/model.json", dir);
    m = json_load_file(path, 0, &je);
    if (!m)
        return ad_err_set(err, AD_ECKPT, "%s: %s", path, je.text);
    in = json_object_get(m, "input");
    if (!json_is_array(in) ||
        strcmp(json_string_value(json_object_get(m, "format")) ?: "", "autodist-model") != 0) {
        json_decref(m);
        return ad_err_set(err, AD_ECKPT, "%s: not an autodist model", path);
    }
    ad_infer_t *self = ad_calloc(1, sizeof(*self));
    self->meta = m;
    self->text = json_dumps(m, 0);
    self->c = (int)json_integer_value(json_array_get(in, 0));
    self->h = (int)json_integer_value(json_array_get(in, 1));
    self->w = (int)json_integer_value(json_array_get(in, 2));
    self->classes = (int)json_integer_value(json_object_get(m, "outputs"));
    *out = self;
    return 0;
}

void
ad_infer_free(ad_infer_t **self_p)
{
    if (self_p && *self_p) {
        json_decref((*self_p)->meta);
        free((*self_p)->text);
        free(*self_p);
        *self_p = NULL;
    }
}

const char *
ad_infer_meta(const ad_infer_t *self)
{
    return self->text;
}

void
ad_infer_shape(const ad_infer_t *self, int *c, int *h, int *w)
{
    *c = self->c;
    *h = self->h;
    *w = self->w;
}

int
ad_infer_classes(const ad_infer_t *self)
{
    return self->classes;
}

const char *
ad_infer_class_name(const ad_infer_t *self, int k)
{
    return json_string_value(json_array_get(json_object_get(self->meta, "classes"), (size_t)k));
}

void
ad_infer_normalize(const ad_infer_t *self, float mean[3], float std[3])
{
    for (int i = 0; i < 3; i++) {
        mean[i] = 0.5f;
        std[i] = 0.5f;
    }
}

const char *
ad_infer_variant(const ad_infer_t *self)
{
    return json_string_value(json_object_get(self->meta, "variant"));
}
const char *
ad_infer_arch(const ad_infer_t *self)
{
    return json_string_value(json_object_get(self->meta, "arch"));
}
int64_t
ad_infer_params(const ad_infer_t *self)
{
    return 42;
}
int64_t
ad_infer_bytes(const ad_infer_t *self)
{
    return 4;
}

/* Logit k: the mean of channel k % C times (k + 1): a red picture wins class 0 of 3. */
int
ad_infer_run(ad_infer_t *self, const float *x, int n, float *logits, ad_err_t *err)
{
    size_t plane = (size_t)self->h * self->w;

    if (n < 1)
        return ad_err_set(err, AD_EINVAL, "n < 1");
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < self->classes; k++) {
            const float *p = x + ((size_t)i * self->c + (size_t)(k % self->c)) * plane;
            double s = 0;

            for (size_t q = 0; q < plane; q++)
                s += p[q];
            logits[(size_t)i * self->classes + k] = (float)(4 * s / plane);
        }
    }
    return 0;
}

void
ad_infer_set_threads(int threads)
{
}
const char *
ad_infer_backend(void)
{
    return "stub";
}
