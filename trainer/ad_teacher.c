/* ad_teacher.c - a distillation teacher: read from a checkpoint folder, built for a run's data */
#include "autodist/ad_teacher.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "autodist/ad_ckpt.h"

int
ad_teacher_read(const char *dir, int c, int h, int w, int classes, ad_teacher_info_t *ti,
                char **file, ad_err_t *err)
{
    const char *model = NULL, *opt = NULL, *name = NULL;
    char *state = ad_ckpt_path(dir, AD_CKPT_STATE);
    json_t *js, *shape = NULL, *want = NULL;
    json_error_t jerr;
    int have = 0, rc = 0;

    *file = NULL;
    js = json_load_file(state, 0, &jerr);
    if (!js) {
        rc = ad_err_set(err, AD_ECKPT, "teacher checkpoint %s: %s", dir,
                        access(state, F_OK) ? "no state.json (not a checkpoint folder, or gone)"
                                            : jerr.text);
        goto out_free;
    }
    if (json_unpack(js, "{s:s, s?s, s?s, s?o, s?i}", "model", &model, "optimizer", &opt, "file",
                    &name, "shape", &shape, "classes", &have) ||
        strlen(model) >= sizeof(ti->model)) {
        rc = ad_err_set(err, AD_ECKPT, "teacher checkpoint %s: state.json names no model", dir);
        goto out_free;
    }
    want = json_pack("[iii]", c, h, w);
    if ((have && have != classes) || (json_is_array(shape) && !json_equal(shape, want))) {
        rc = ad_err_set(err, AD_EINVAL,
                        "teacher checkpoint %s: its model takes other data (%d classes) than "
                        "this run's %dx%dx%d samples of %d classes",
                        dir, have, c, h, w, classes);
        goto out_free;
    }
    snprintf(ti->model, sizeof(ti->model), "%s", model);
    ti->optim = opt && !strcmp(opt, "adam") ? AD_OPTIM_ADAM : AD_OPTIM_SGD;
    *file = ad_ckpt_path(dir, name ? name : AD_CKPT_FINAL);
    if (access(*file, R_OK))
        rc =
            ad_err_set(err, AD_ECKPT, "teacher checkpoint %s: %s: %s", dir, *file, strerror(errno));
out_free:
    json_decref(want);
    json_decref(js);
    free(state);
    return rc;
}

int
ad_teacher_new(const ad_teacher_info_t *ti, int c, int h, int w, int classes, ad_device_t device,
               int dev_index, ad_model_t **out, ad_err_t *err)
{
    ad_model_opts_t m = {0};
    ad_optim_t opt = {0};
    int rc;

    m.name = ti->model;
    m.channels = c;
    m.height = h;
    m.width = w;
    m.classes = classes;
    m.seed = 1;
    m.device = device;
    m.device_index = dev_index;
    rc = ad_torch_model_new(&m, out, err);
    if (rc)
        return rc;
    opt.kind = (ad_optim_kind_t)ti->optim;
    opt.lr = 0.01;
    opt.momentum = ti->optim == AD_OPTIM_SGD ? 0.9 : 0;
    rc = ad_torch_set_optimizer(*out, &opt, err);
    if (rc)
        ad_torch_model_free(out);
    return rc;
}
