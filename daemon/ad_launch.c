/* ad_launch.c - launch plan of a job: hostfile, rankfile, mpirun command line and environment */
#include "autodist/ad_launch.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "autodist/ad_log.h"

struct ad_launch_plan {
    char *job_id;         /* run id */
    char *home;           /* AUTODIST_HOME root */
    char *mpirun;         /* mpirun path */
    char *trainer;        /* autodist-train path */
    char **trainer_argv;  /* the job's trainer options (ad_launch_trainer_argv) */
    int n_nodes;          /* nodes */
    char **hosts;         /* n_nodes hosts, as mpirun reaches them */
    int ppn;              /* ranks per node */
    int threads;          /* threads per rank */
    bool bound;           /* ranks bound through the rankfile */
    bool oversubscribe;   /* pass --oversubscribe */
    char **slots;         /* n_nodes * ppn rankfile slot lists; NULL when unbound */
    bool resume;          /* pass --resume */
    bool single_copy_off; /* --mca btl_vader_single_copy_mechanism none */
    bool allow_root;      /* OMPI_ALLOW_RUN_AS_ROOT* in mpirun's environment */
    char *rsh_agent;      /* --mca plm_rsh_agent, or NULL */
    char *tcp_subnet;     /* TCP-only subnet, or NULL */
    char *report;         /* trainer --report endpoint, or NULL */
    char **env;           /* extra KEY=VALUE for the ranks, NULL-terminated */
    char *logdir;         /* logs/<job> */
    char *hostfile;       /* logs/<job>/hostfile */
    char *rankfile;       /* logs/<job>/rankfile */
    char *out_log;        /* logs/<job>/output.log */
    char *metrics;        /* logs/<job>/metrics.jsonl */
    char *ckptdir;        /* checkpoints/<job> */
};

/* A growable string or string list, enough for the few texts built here. */
typedef struct {
    char *buf;
    size_t len, cap;
} s_buf_t;

static void __attribute__((format(printf, 2, 3))) s_buf_add(s_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    assert(n >= 0);
    if (b->len + (size_t)n + 1 > b->cap) {
        b->cap = (b->len + (size_t)n + 1) * 2;
        b->buf = ad_realloc(b->buf, b->cap);
    }
    va_start(ap, fmt);
    vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static char *__attribute__((format(printf, 1, 2))) s_printf(const char *fmt, ...)
{
    s_buf_t b = {0};
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    assert(n >= 0);
    b.buf = ad_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(b.buf, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return b.buf;
}

static char *
s_dup_or_null(const char *s)
{
    return s && *s ? ad_strdup(s) : NULL;
}

/* Job ids name folders: [A-Za-z0-9._-], first alphanumeric. */
static bool
s_is_id(const char *s)
{
    if (!s || !isalnum((unsigned char)*s) || strlen(s) > 128)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
            return false;
    return true;
}

/* Hosts go into files split on blanks and '=': no such characters, nothing empty. */
static bool
s_is_host(const char *s)
{
    if (!s || !*s || strlen(s) > 255)
        return false;
    for (; *s; s++)
        if (isspace((unsigned char)*s) || !isprint((unsigned char)*s) || strchr("=#,", *s))
            return false;
    return true;
}

/* "S:a-b" runs of a list of map indexes (cores in map order) joined by commas. */
static char *
s_slot_list(const int *sock, const int *idx, const int *cores, int n)
{
    s_buf_t b = {0};

    for (int i = 0; i < n;) {
        int j = i;

        while (j + 1 < n && sock[cores[j + 1]] == sock[cores[i]] &&
               idx[cores[j + 1]] == idx[cores[j]] + 1)
            j++;
        if (b.len)
            s_buf_add(&b, ",");
        if (j == i)
            s_buf_add(&b, "%d:%d", sock[cores[i]], idx[cores[i]]);
        else
            s_buf_add(&b, "%d:%d-%d", sock[cores[i]], idx[cores[i]], idx[cores[j]]);
        i = j + 1;
    }
    return b.buf;
}

/*
 * Bind ppn ranks of threads cores each on one node: within one socket when
 * every rank fits in one (consecutive cores, sockets filled in turn), else
 * consecutive cores in map order across sockets.  The caller checked that
 * ppn * threads cores exist.  slots receives ppn strings.
 */
static void
s_bind_node(const ad_profile_t *profile, int ppn, int threads, char **slots)
{
    int n = ad_profile_core_map_count(profile), n_sock = 0, fit = 0, r = 0;
    int *sock = ad_calloc((size_t)n, sizeof(*sock));
    int *idx = ad_calloc((size_t)n, sizeof(*idx));
    int *order = ad_calloc((size_t)n, sizeof(*order));
    int *size;

    for (int i = 0; i < n; i++) {
        sock[i] = ad_profile_core(profile, i)->socket;
        if (sock[i] < 0)
            sock[i] = 0;
        if (sock[i] + 1 > n_sock)
            n_sock = sock[i] + 1;
    }
    size = ad_calloc((size_t)n_sock, sizeof(*size));
    /* Open MPI's S:C reads C as the core's logical index within socket S. */
    for (int i = 0; i < n; i++)
        idx[i] = size[sock[i]]++;
    for (int s = 0; s < n_sock; s++)
        fit += size[s] / threads;
    if (fit >= ppn) {
        for (int s = 0; s < n_sock && r < ppn; s++) {
            int k = 0;

            for (int i = 0; i < n; i++)
                if (sock[i] == s)
                    order[k++] = i;
            for (int c = 0; c + threads <= k && r < ppn; c += threads)
                slots[r++] = s_slot_list(sock, idx, order + c, threads);
        }
    } else {
        for (int i = 0; i < n; i++)
            order[i] = i;
        for (; r < ppn; r++)
            slots[r] = s_slot_list(sock, idx, order + r * threads, threads);
    }
    free(size);
    free(order);
    free(idx);
    free(sock);
}

/* Append "--opt" and a printf-formatted value (fmt NULL: the option alone). */
static void __attribute__((format(printf, 4, 5)))
s_arg(char **argv, int *argc, const char *opt, const char *fmt, ...)
{
    char buf[PATH_MAX + 32];
    va_list ap;

    argv[(*argc)++] = ad_strdup(opt);
    if (!fmt)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    argv[(*argc)++] = ad_strdup(buf);
}

char **
ad_launch_trainer_argv(const ad_job_t *job, int threads)
{
    /* At most 31 options with a value each, and the NULL. */
    char **argv = ad_calloc(64, sizeof(*argv));
    int argc = 0;

    assert(job);
    if (threads <= 0)
        threads = job->layout.is_auto ? 1 : job->layout.threads_per_proc;
    s_arg(argv, &argc, "--model", "%s", ad_job_model_name(job->model));
    s_arg(argv, &argc, "--dataset", "%s", ad_job_dataset_name(job->dataset.kind));
    if (job->dataset.kind == AD_JOB_DATA_SYNTHETIC) {
        s_arg(argv, &argc, "--input-shape", "%dx%dx%d", job->dataset.channels, job->dataset.height,
              job->dataset.width);
        s_arg(argv, &argc, "--classes", "%d", job->dataset.classes);
        s_arg(argv, &argc, "--samples", "%" PRId64, job->dataset.samples);
    } else if (job->dataset.kind == AD_JOB_DATA_IMAGEFOLDER) {
        s_arg(argv, &argc, "--data-dir", "%s", job->dataset.path ? job->dataset.path : "");
        s_arg(argv, &argc, "--image-size", "%d", job->dataset.image_size);
    } else if (job->data_dir) {
        s_arg(argv, &argc, "--data-dir", "%s", job->data_dir);
    }
    s_arg(argv, &argc, "--batch-size", "%d", job->batch_size);
    if (job->steps)
        s_arg(argv, &argc, "--steps", "%" PRId64, job->steps);
    else
        s_arg(argv, &argc, "--epochs", "%" PRId64, job->epochs ? job->epochs : 1);
    s_arg(argv, &argc, "--threads", "%d", threads);
    s_arg(argv, &argc, "--optimizer", "%s", ad_job_optim_name(job->optimizer.type));
    s_arg(argv, &argc, "--lr", "%.15g", job->optimizer.lr);
    if (job->optimizer.type == AD_JOB_OPTIM_SGD)
        s_arg(argv, &argc, "--momentum", "%.15g", job->optimizer.momentum);
    s_arg(argv, &argc, "--weight-decay", "%.15g", job->optimizer.weight_decay);
    s_arg(argv, &argc, "--seed", "%" PRId64, job->seed);
    s_arg(argv, &argc, "--device", "%s", ad_job_device_name(job->device));
    if (job->eval)
        s_arg(argv, &argc, "--eval", NULL);
    if (job->checkpoint_every)
        s_arg(argv, &argc, "--checkpoint-every", "%" PRId64, job->checkpoint_every);
    if (job->checkpoint_keep)
        s_arg(argv, &argc, "--checkpoint-keep", "%d", job->checkpoint_keep);
    if (job->keep_checkpoints)
        s_arg(argv, &argc, "--keep-checkpoints", NULL);
    s_arg(argv, &argc, "--bucket-mb", "%.15g", job->bucket_mb);
    if (job->distill.teacher) {
        /* A run id's folder is what the coordinator resolved at submit (distill.checkpoint). */
        s_arg(argv, &argc, "--teacher-checkpoint", "%s",
              job->distill.checkpoint ? job->distill.checkpoint : job->distill.teacher);
        s_arg(argv, &argc, "--distill-t", "%.15g", job->distill.temperature);
        s_arg(argv, &argc, "--distill-alpha", "%.15g", job->distill.alpha);
    }
    if (job->finetune)
        s_arg(argv, &argc, "--finetune", "%s", job->finetune);
    argv[argc] = NULL;
    return argv;
}

/* Resolve the counts from spec and the job's layout, checking they agree. */
static int
s_counts(const ad_launch_spec_t *spec, int *ppn, int *threads, ad_err_t *err)
{
    const ad_job_t *job = spec->job;

    *ppn = spec->procs_per_node;
    *threads = spec->threads_per_proc;
    if (job->layout.is_auto) {
        if (*ppn <= 0 || *threads <= 0)
            return ad_err_set(err, AD_EINVAL,
                              "launch: job %s has an auto layout: procs_per_node and "
                              "threads_per_proc must be given",
                              spec->job_id);
    } else {
        if (job->layout.nodes != spec->n_nodes)
            return ad_err_set(err, AD_EINVAL,
                              "launch: job %s: its layout asks for %d nodes, %d given",
                              spec->job_id, job->layout.nodes, spec->n_nodes);
        if (*ppn > 0 && *ppn != job->layout.procs_per_node)
            return ad_err_set(err, AD_EINVAL,
                              "launch: job %s: procs_per_node %d does not match its layout's %d",
                              spec->job_id, *ppn, job->layout.procs_per_node);
        if (*threads > 0 && *threads != job->layout.threads_per_proc)
            return ad_err_set(err, AD_EINVAL,
                              "launch: job %s: threads_per_proc %d does not match its layout's %d",
                              spec->job_id, *threads, job->layout.threads_per_proc);
        *ppn = job->layout.procs_per_node;
        *threads = job->layout.threads_per_proc;
    }
    if (*ppn < 1 || *ppn > 4096)
        return ad_err_set(err, AD_EINVAL, "launch: job %s: procs_per_node must be 1..4096, got %d",
                          spec->job_id, *ppn);
    if (*threads < 1 || *threads > 4096)
        return ad_err_set(err, AD_EINVAL,
                          "launch: job %s: threads_per_proc must be 1..4096, got %d", spec->job_id,
                          *threads);
    return 0;
}

/* A distilled job's teacher checkpoint is still there (it may vanish between submit and start). */
static int
s_check_teacher(const ad_launch_spec_t *spec, ad_err_t *err)
{
    const ad_job_t *job = spec->job;
    const char *dir = job->distill.checkpoint;
    char *state;
    int rc = 0;

    if (!job->distill.teacher)
        return 0;
    if (!dir || dir[0] != '/')
        return ad_err_set(err, AD_EINVAL,
                          "launch: job %s: its teacher %s was not resolved to a checkpoint "
                          "folder (submit it again)",
                          spec->job_id, job->distill.teacher);
    state = s_printf("%s/state.json", dir);
    if (access(state, R_OK))
        rc = ad_err_set(err, AD_EINVAL,
                        "launch: job %s: the checkpoint of its teacher %s%s is gone (%s: %s)",
                        spec->job_id, strchr(job->distill.teacher, '/') ? "" : "run ",
                        job->distill.teacher, state, strerror(errno));
    free(state);
    return rc;
}

static int
s_check(const ad_launch_spec_t *spec, ad_err_t *err)
{
    const char *const *env = spec->transport.env;

    if (!s_is_id(spec->job_id))
        return ad_err_set(err, AD_EINVAL,
                          "launch: job id \"%s\" must be [A-Za-z0-9._-], first alphanumeric",
                          spec->job_id ? spec->job_id : "");
    if (!spec->nodes || spec->n_nodes < 1)
        return ad_err_set(err, AD_EINVAL, "launch: job %s: no nodes given", spec->job_id);
    for (int i = 0; i < spec->n_nodes; i++) {
        const ad_launch_node_t *a = &spec->nodes[i];
        const char *name = a->name ? a->name : "?";

        if (!s_is_host(a->host))
            return ad_err_set(err, AD_EINVAL, "launch: job %s: node %s: bad host \"%s\"",
                              spec->job_id, name, a->host ? a->host : "");
        for (int j = 0; j < i; j++)
            if (!strcmp(spec->nodes[j].host, a->host))
                return ad_err_set(err, AD_EINVAL,
                                  "launch: job %s: host %s given for nodes %s and %s", spec->job_id,
                                  a->host, spec->nodes[j].name ? spec->nodes[j].name : "?", name);
    }
    for (; env && *env; env++)
        if (!strchr(*env, '=') || **env == '=' || strcspn(*env, " \t\n") < strlen(*env))
            return ad_err_set(err, AD_EINVAL,
                              "launch: job %s: environment entry \"%s\" is not KEY=VALUE",
                              spec->job_id, *env);
    if (spec->transport.tcp_subnet && !s_is_host(spec->transport.tcp_subnet))
        return ad_err_set(err, AD_EINVAL, "launch: job %s: bad TCP subnet \"%s\"", spec->job_id,
                          spec->transport.tcp_subnet);
    return 0;
}

/* Decide binding: every node needs a core map with ppn * threads cores. */
static void
s_plan_binding(ad_launch_plan_t *self, const ad_launch_spec_t *spec)
{
    int need = self->ppn * self->threads;

    self->bound = true;
    for (int i = 0; i < spec->n_nodes; i++) {
        const ad_launch_node_t *a = &spec->nodes[i];
        const char *name = a->name ? a->name : a->host;
        int cores = a->profile ? ad_profile_cores(a->profile) : 0;
        int mapped = a->profile ? ad_profile_core_map_count(a->profile) : 0;

        if (cores > 0 && need > cores) {
            ad_log(AD_LOG_INFO,
                   "job %s: %d ranks x %d threads exceed node %s's %d cores; no rankfile, "
                   "--oversubscribe --bind-to none",
                   self->job_id, self->ppn, self->threads, name, cores);
            self->bound = false;
            self->oversubscribe = true;
        } else if (mapped == 0) {
            ad_log(AD_LOG_WARN, "job %s: node %s has no core map; no rankfile, --bind-to none",
                   self->job_id, name);
            self->bound = false;
        }
    }
    if (!self->bound)
        return;
    self->slots = ad_calloc((size_t)(spec->n_nodes * self->ppn), sizeof(*self->slots));
    for (int i = 0; i < spec->n_nodes; i++)
        s_bind_node(spec->nodes[i].profile, self->ppn, self->threads, self->slots + i * self->ppn);
}

int
ad_launch_plan_new(const ad_launch_spec_t *spec, ad_launch_plan_t **out, ad_err_t *err)
{
    ad_launch_plan_t *self;
    const ad_launch_transport_t *t;
    int ppn, threads, rc, n_env = 0;

    assert(spec && out && spec->job && spec->home && spec->home->root && spec->trainer);
    *out = NULL;
    rc = s_check(spec, err);
    if (rc)
        return rc;
    rc = s_counts(spec, &ppn, &threads, err);
    if (rc)
        return rc;
    rc = s_check_teacher(spec, err);
    if (rc)
        return rc;

    t = &spec->transport;
    self = ad_calloc(1, sizeof(*self));
    self->job_id = ad_strdup(spec->job_id);
    self->home = ad_strdup(spec->home->root);
    self->mpirun = ad_strdup(spec->mpirun && *spec->mpirun ? spec->mpirun : "mpirun");
    self->trainer = ad_strdup(spec->trainer);
    self->trainer_argv = ad_launch_trainer_argv(spec->job, threads);
    self->n_nodes = spec->n_nodes;
    self->hosts = ad_calloc((size_t)spec->n_nodes, sizeof(*self->hosts));
    for (int i = 0; i < spec->n_nodes; i++)
        self->hosts[i] = ad_strdup(spec->nodes[i].host);
    self->ppn = ppn;
    self->threads = threads;
    self->resume = spec->resume;
    self->oversubscribe = t->oversubscribe;
    self->single_copy_off = t->single_copy_off;
    self->allow_root = t->allow_root;
    self->rsh_agent = s_dup_or_null(t->rsh_agent);
    self->tcp_subnet = s_dup_or_null(t->tcp_subnet);
    self->report = s_dup_or_null(t->report);
    while (t->env && t->env[n_env])
        n_env++;
    self->env = ad_calloc((size_t)n_env + 1, sizeof(*self->env));
    for (int i = 0; i < n_env; i++)
        self->env[i] = ad_strdup(t->env[i]);

    self->logdir = spec->home->logs ? s_printf("%s/%s", spec->home->logs, spec->job_id)
                                    : s_printf("%s/logs/%s", spec->home->root, spec->job_id);
    self->hostfile = s_printf("%s/hostfile", self->logdir);
    self->rankfile = s_printf("%s/rankfile", self->logdir);
    self->out_log = s_printf("%s/output.log", self->logdir);
    self->metrics = s_printf("%s/metrics.jsonl", self->logdir);
    self->ckptdir = spec->home->checkpoints
                        ? s_printf("%s/%s", spec->home->checkpoints, spec->job_id)
                        : s_printf("%s/checkpoints/%s", spec->home->root, spec->job_id);

    s_plan_binding(self, spec);
    *out = self;
    return 0;
}

static void
s_strv_free(char **v, int n)
{
    if (!v)
        return;
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void
ad_launch_plan_free(ad_launch_plan_t **self_p)
{
    ad_launch_plan_t *self;

    if (!self_p || !*self_p)
        return;
    self = *self_p;
    free(self->job_id);
    free(self->home);
    free(self->mpirun);
    free(self->trainer);
    ad_launch_argv_free(&self->trainer_argv);
    s_strv_free(self->hosts, self->n_nodes);
    s_strv_free(self->slots, self->slots ? self->n_nodes * self->ppn : 0);
    free(self->rsh_agent);
    free(self->tcp_subnet);
    free(self->report);
    ad_launch_argv_free(&self->env);
    free(self->logdir);
    free(self->hostfile);
    free(self->rankfile);
    free(self->out_log);
    free(self->metrics);
    free(self->ckptdir);
    free(self);
    *self_p = NULL;
}

char *
ad_launch_hostfile_text(const ad_launch_plan_t *self)
{
    s_buf_t b = {0};

    s_buf_add(&b, "%s", "");
    for (int i = 0; i < self->n_nodes; i++)
        s_buf_add(&b, "%s slots=%d\n", self->hosts[i], self->ppn);
    return b.buf;
}

char *
ad_launch_rankfile_text(const ad_launch_plan_t *self)
{
    s_buf_t b = {0};

    if (!self->bound)
        return NULL;
    s_buf_add(&b, "%s", "");
    for (int i = 0; i < self->n_nodes; i++)
        for (int r = 0; r < self->ppn; r++)
            s_buf_add(&b, "rank %d=%s slot=%s\n", i * self->ppn + r, self->hosts[i],
                      self->slots[i * self->ppn + r]);
    return b.buf;
}

/* mkdir -p with 0755 folders; an existing folder is fine, anything else in the way is not. */
static int
s_mkdirs(const char *path, ad_err_t *err)
{
    char p[PATH_MAX];
    struct stat st;

    if (snprintf(p, sizeof(p), "%s", path) >= (int)sizeof(p))
        return ad_err_set(err, -ENAMETOOLONG, "%s: path too long", path);
    for (char *s = p + 1;; s++) {
        bool last = *s == '\0';

        if (*s != '/' && !last)
            continue;
        *s = '\0';
        if (mkdir(p, 0755) && errno != EEXIST)
            return ad_err_set(err, -errno, "%s: %s", p, strerror(errno));
        if (stat(p, &st))
            return ad_err_set(err, -errno, "%s: %s", p, strerror(errno));
        if (!S_ISDIR(st.st_mode))
            return ad_err_set(err, -ENOTDIR, "%s: not a folder", p);
        if (last)
            return 0;
        *s = '/';
    }
}

/* Write text to path through a temporary file renamed into place. */
static int
s_write_file(const char *path, const char *text, ad_err_t *err)
{
    char *tmp = s_printf("%s.tmp", path);
    size_t len = strlen(text);
    FILE *f;
    int rc = 0;

    f = fopen(tmp, "w");
    if (!f) {
        rc = ad_err_set(err, -errno, "%s: %s", tmp, strerror(errno));
        goto out_free;
    }
    if (fwrite(text, 1, len, f) != len) {
        rc = ad_err_set(err, -EIO, "%s: write failed", tmp);
        fclose(f);
        goto out_unlink;
    }
    if (fclose(f)) {
        rc = ad_err_set(err, -errno, "%s: %s", tmp, strerror(errno));
        goto out_unlink;
    }
    if (rename(tmp, path)) {
        rc = ad_err_set(err, -errno, "%s: %s", path, strerror(errno));
        goto out_unlink;
    }
    goto out_free;
out_unlink:
    unlink(tmp);
out_free:
    free(tmp);
    return rc;
}

int
ad_launch_write_files(const ad_launch_plan_t *self, ad_err_t *err)
{
    char *text;
    int rc;

    rc = s_mkdirs(self->logdir, err);
    if (rc)
        return rc;
    rc = s_mkdirs(self->ckptdir, err);
    if (rc)
        return rc;
    text = ad_launch_hostfile_text(self);
    rc = s_write_file(self->hostfile, text, err);
    free(text);
    if (rc)
        return rc;
    if (!self->bound) {
        if (unlink(self->rankfile) && errno != ENOENT)
            return ad_err_set(err, -errno, "%s: %s", self->rankfile, strerror(errno));
        return 0;
    }
    text = ad_launch_rankfile_text(self);
    rc = s_write_file(self->rankfile, text, err);
    free(text);
    return rc;
}

/* A string vector that grows as arguments are pushed. */
typedef struct {
    char **v;
    int n, cap;
} s_vec_t;

static void
s_push(s_vec_t *a, char *s)
{
    if (a->n + 2 > a->cap) {
        a->cap = a->cap ? a->cap * 2 : 32;
        a->v = ad_realloc(a->v, (size_t)a->cap * sizeof(*a->v));
    }
    a->v[a->n++] = s;
    a->v[a->n] = NULL;
}

static void
s_push2(s_vec_t *a, const char *opt, char *value)
{
    s_push(a, ad_strdup(opt));
    s_push(a, value);
}

static void
s_mca(s_vec_t *a, const char *key, const char *value)
{
    s_push(a, ad_strdup("--mca"));
    s_push(a, ad_strdup(key));
    s_push(a, ad_strdup(value));
}

char **
ad_launch_argv(const ad_launch_plan_t *self, int *argc)
{
    s_vec_t a = {0};

    /* Not -q: which rank died and how is in mpirun's own messages (ad_launch_reason()). */
    s_push(&a, ad_strdup(self->mpirun));
    s_push2(&a, "-np", s_printf("%d", self->n_nodes * self->ppn));
    s_push2(&a, "--hostfile", ad_strdup(self->hostfile));
    if (self->bound)
        s_push2(&a, "--rankfile", ad_strdup(self->rankfile));
    else
        s_push2(&a, "--bind-to", ad_strdup("none"));
    if (self->oversubscribe)
        s_push(&a, ad_strdup("--oversubscribe"));
    if (self->single_copy_off)
        s_mca(&a, "btl_vader_single_copy_mechanism", "none");
    /* Open MPI 4.1's daemons map hwloc's topology into a shared segment at a "hole" they
     * guess from /proc/self/maps; now and then the guess lands beside the stack and orted
     * dies of SIGSEGV in hwloc_shmem_topology_write() before any rank starts (seen on
     * namespace nodes, 2 of about 40 launches here).  Without it each rank reads the
     * topology itself, a few milliseconds. */
    s_mca(&a, "rtc_hwloc_vmhole", "none");
    if (self->rsh_agent)
        s_mca(&a, "plm_rsh_agent", self->rsh_agent);
    if (self->tcp_subnet) {
        s_mca(&a, "btl", "self,tcp");
        s_mca(&a, "btl_tcp_if_include", self->tcp_subnet);
        s_mca(&a, "oob_tcp_if_include", self->tcp_subnet);
    }
    s_push2(&a, "-x", s_printf("OMP_NUM_THREADS=%d", self->threads));
    s_push2(&a, "-x", s_printf("AUTODIST_JOB=%s", self->job_id));
    /* The nodes' CURVE keys for rank 0's METRIC, from autodistd's environment (--node-keys). */
    s_push2(&a, "-x", ad_strdup("AUTODIST_KEYS"));
    for (char **e = self->env; *e; e++)
        s_push2(&a, "-x", ad_strdup(*e));
    s_push(&a, ad_strdup(self->trainer));
    for (char **o = self->trainer_argv; *o; o++)
        s_push(&a, ad_strdup(*o));
    s_push2(&a, "--metrics", ad_strdup(self->metrics));
    s_push2(&a, "--checkpoint", ad_strdup(self->ckptdir));
    if (self->resume)
        s_push(&a, ad_strdup("--resume"));
    if (self->report) {
        s_push2(&a, "--report", ad_strdup(self->report));
        s_push2(&a, "--job", ad_strdup(self->job_id));
    }
    if (argc)
        *argc = a.n;
    return a.v;
}

char **
ad_launch_env(const ad_launch_plan_t *self)
{
    s_vec_t a = {0};

    s_push(&a, s_printf("OMP_NUM_THREADS=%d", self->threads));
    s_push(&a, s_printf("AUTODIST_JOB=%s", self->job_id));
    s_push(&a, s_printf("AUTODIST_HOME=%s", self->home));
    if (self->allow_root) {
        s_push(&a, ad_strdup("OMPI_ALLOW_RUN_AS_ROOT=1"));
        s_push(&a, ad_strdup("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"));
    }
    for (char **e = self->env; *e; e++)
        s_push(&a, ad_strdup(*e));
    return a.v;
}

void
ad_launch_argv_free(char ***argv_p)
{
    if (!argv_p || !*argv_p)
        return;
    for (char **a = *argv_p; *a; a++)
        free(*a);
    free(*argv_p);
    *argv_p = NULL;
}

bool
ad_launch_plan_bound(const ad_launch_plan_t *self)
{
    return self->bound;
}

int
ad_launch_plan_nprocs(const ad_launch_plan_t *self)
{
    return self->n_nodes * self->ppn;
}

int
ad_launch_plan_threads(const ad_launch_plan_t *self)
{
    return self->threads;
}

const char *
ad_launch_plan_logdir(const ad_launch_plan_t *self)
{
    return self->logdir;
}

const char *
ad_launch_plan_hostfile(const ad_launch_plan_t *self)
{
    return self->hostfile;
}

const char *
ad_launch_plan_rankfile(const ad_launch_plan_t *self)
{
    return self->bound ? self->rankfile : NULL;
}

const char *
ad_launch_plan_output(const ad_launch_plan_t *self)
{
    return self->out_log;
}

const char *
ad_launch_plan_metrics(const ad_launch_plan_t *self)
{
    return self->metrics;
}

const char *
ad_launch_plan_checkpoint_dir(const ad_launch_plan_t *self)
{
    return self->ckptdir;
}

/* ---- why a job failed --------------------------------------------------------------------- */

/* What the end of an output.log says about how the ranks ended. */
typedef struct {
    int rank;         /* the rank mpirun names; -1 = none */
    int signal;       /* the signal that killed it; 0 = none */
    int code;         /* its exit status; -1 = none */
    char node[128];   /* where it ran */
    char signame[32]; /* "Killed" */
    char last[400];   /* the last line the ranks printed (outside mpirun's boxes) */
} s_ending_t;

/* One line of the log: inside mpirun's boxes, its facts; outside, the ranks' last line. */
static void
s_ending_line(s_ending_t *e, const char *line, bool boxed)
{
    int rank, sig;

    if (!boxed) {
        if (line[strspn(line, " \t\r")])
            snprintf(e->last, sizeof(e->last), "%s", line);
        return;
    }
    if (sscanf(line,
               "mpirun noticed that process rank %d with PID %*d on node %127s exited on "
               "signal %d (%31[^)])",
               &rank, e->node, &sig, e->signame) >= 3) {
        e->rank = rank;
        e->signal = sig;
    } else if (sscanf(line, " Process name: [[%*d,%*d],%d]", &rank) == 1) {
        e->rank = rank;
    } else if (sscanf(line, " Exit code: %d", &e->code) == 1) {
        /* read into e->code */
    }
}

void
ad_launch_reason(const char *output, int exit_code, char *buf, size_t cap)
{
    s_ending_t e = {.rank = -1, .code = -1};
    char tail[16384], *line, *save = NULL;
    bool boxed = false;
    ssize_t n = 0;
    off_t size;
    int fd;

    fd = open(output, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        size = lseek(fd, 0, SEEK_END);
        if (size > 0) {
            off_t from = size > (off_t)sizeof(tail) - 1 ? size - (off_t)sizeof(tail) + 1 : 0;

            n = pread(fd, tail, (size_t)(size - from), from);
        }
        close(fd);
    }
    tail[n > 0 ? n : 0] = '\0';
    /* mpirun frames each of its messages between lines of dashes. */
    for (line = strtok_r(tail, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (!strncmp(line, "-----", 5) && line[strspn(line, "-\r")] == '\0') {
            boxed = !boxed;
            continue;
        }
        s_ending_line(&e, line, boxed);
    }
    if (e.rank >= 0 && e.signal > 0)
        snprintf(buf, cap, "exit %d: rank %d on node %s killed by signal %d (%s)", exit_code,
                 e.rank, e.node, e.signal, e.signame[0] ? e.signame : "?");
    else if (e.rank >= 0 && e.code >= 0 && e.last[0])
        snprintf(buf, cap, "exit %d: %s (rank %d exited first)", exit_code, e.last, e.rank);
    else if (e.rank >= 0 && e.code >= 0)
        snprintf(buf, cap, "exit %d: rank %d exited with status %d", exit_code, e.rank, e.code);
    else if (e.last[0])
        snprintf(buf, cap, "exit %d: %s", exit_code, e.last);
    else
        snprintf(buf, cap, "exit %d (see %s)", exit_code, output);
}
