/* ad_distill.c - a distilled job's teacher: checked against the store and resolved to its folder */
#include "ad_daemon.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* "DIR/state.json" readable: 0, or AD_EINVAL saying the teacher's checkpoint is gone. */
static int
s_state_there(const char *teacher, const char *dir, ad_err_t *err)
{
    char state[4096];

    snprintf(state, sizeof(state), "%s/state.json", dir);
    if (!access(state, R_OK))
        return 0;
    return ad_err_set(err, AD_EINVAL,
                      "distill.teacher %s%s: its checkpoint is gone (%s: %s); train the teacher "
                      "again or give another run",
                      strchr(teacher, '/') ? "" : "run ", teacher, state, strerror(errno));
}

/* The teacher run's job as its spec says it, for the data check; 0 or AD_EINVAL. */
static int
s_same_data(const ad_job_t *job, const ad_run_t *run, ad_err_t *err)
{
    char label[256];
    ad_job_t teacher = {0};
    ad_err_t perr = {0};
    int rc = 0;

    ad_job_dataset_label(job, label, sizeof(label));
    if (strcmp(label, run->dataset))
        return ad_err_set(err, AD_EINVAL,
                          "distill.teacher run %" PRId64 " was trained on %s, this job's dataset "
                          "is %s: a teacher needs the same data",
                          run->id, run->dataset, label);
    if (run->spec && !ad_job_from_json(run->spec, &teacher, &perr) &&
        teacher.dataset.kind == AD_JOB_DATA_SYNTHETIC &&
        teacher.dataset.classes != job->dataset.classes)
        rc = ad_err_set(err, AD_EINVAL,
                        "distill.teacher run %" PRId64 " has %d classes, this job's dataset %d: "
                        "a teacher needs the same classes",
                        run->id, teacher.dataset.classes, job->dataset.classes);
    ad_job_clear(&teacher);
    return rc;
}

int
ad_distill_resolve(coord_t *self, ad_job_t *job, ad_err_t *err)
{
    const char *teacher = job->distill.teacher;
    char dir[4096];
    ad_run_t run;
    int rc;

    if (!teacher)
        return 0;
    if (strchr(teacher, '/'))
        return s_state_there(teacher, job->distill.checkpoint ? job->distill.checkpoint : teacher,
                             err);
    ad_store_run_init(&run);
    rc = ad_store_get_run(self->store, strtoll(teacher, NULL, 10), &run);
    if (rc == -ENOENT) {
        rc = ad_err_set(err, AD_EINVAL,
                        "distill.teacher: run %s does not exist (autodist runs lists them)",
                        teacher);
    } else if (rc) {
        rc = ad_err_set(err, AD_EINVAL, "distill.teacher: run %s cannot be read: %s", teacher,
                        ad_store_errmsg(self->store));
    } else if (run.state != AD_JOB_COMPLETED) {
        rc = ad_err_set(err, AD_EINVAL,
                        "distill.teacher: run %s is %s, not COMPLETED: only a finished run has "
                        "its final model",
                        teacher, ad_store_job_state_name(run.state));
    } else if (run.job <= 0) {
        rc = ad_err_set(err, AD_EINVAL,
                        "distill.teacher: run %s has no checkpoint (it did not run here: give "
                        "its checkpoint folder instead)",
                        teacher);
    } else if (!(rc = s_same_data(job, &run, err))) {
        if (self->home->checkpoints)
            snprintf(dir, sizeof(dir), "%s/%" PRId64, self->home->checkpoints, run.job);
        else
            snprintf(dir, sizeof(dir), "%s/checkpoints/%" PRId64, self->home->root, run.job);
        rc = s_state_there(teacher, dir, err);
        if (!rc) {
            free(job->distill.checkpoint);
            job->distill.checkpoint = ad_strdup(dir);
        }
    }
    ad_store_run_clear(&run);
    return rc;
}
