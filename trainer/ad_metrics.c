/* ad_metrics.c - training events as JSON lines, and as METRIC messages to the coordinator */
#include "autodist/ad_metrics.h"

#include <errno.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <unistd.h>

#include "autodist/ad_keys.h"
#include "autodist/ad_log.h"
#include "autodist/ad_proto.h"

struct ad_metrics {
    FILE *fp;        /* the open file, or NULL */
    char *path;      /* its name, for messages */
    zsock_t *push;   /* to the coordinator, or NULL */
    int64_t job;     /* the coordinator's job id */
    int64_t dropped; /* events the coordinator did not take */
    int64_t sent;    /* events it took */
};

ad_metrics_t *
ad_metrics_open(const char *path, int append, ad_err_t *err)
{
    ad_metrics_t *self;
    FILE *fp = NULL;

    if (path && !(fp = fopen(path, append ? "a" : "w"))) {
        ad_err_set(err, -errno, "%s: cannot open metrics file: %s", path, strerror(errno));
        return NULL;
    }
    self = ad_calloc(1, sizeof(*self));
    self->fp = fp;
    self->path = path ? ad_strdup(path) : NULL;
    return self;
}

/*
 * The node keys METRIC goes out with (a new string, or NULL: in the clear):
 * $AUTODIST_KEYS as the launch sets it ("none" from an --insecure
 * coordinator), else $AUTODIST_HOME/keys/node when it holds keys.  Keys that
 * are named but missing are an error (the coordinator would drop every event).
 */
static int
s_keys(char **out, ad_err_t *err)
{
    const char *env = getenv(AD_KEYS_ENV), *home = getenv("AUTODIST_HOME");
    char *dir;

    *out = NULL;
    if (env && !strcmp(env, AD_KEYS_NONE))
        return 0;
    if (env && *env) {
        if (ad_keys_check_client(env, err))
            return err ? err->code : -ENOENT;
        *out = ad_strdup(env);
        return 0;
    }
    if (!home || !*home)
        return 0;
    dir = ad_malloc(strlen(home) + sizeof("/keys/node"));
    sprintf(dir, "%s/keys/node", home);
    if (ad_keys_check_client(dir, NULL) == 0)
        *out = dir;
    else
        free(dir);
    return 0;
}

int
ad_metrics_report(ad_metrics_t *self, const char *endpoint, int64_t job, ad_err_t *err)
{
    char *keys = NULL;
    int rc;

    /* The trainer keeps its own signal handling: CZMQ must not install one. */
    zsys_handler_set(NULL);
    rc = s_keys(&keys, err);
    if (rc)
        return rc;
    self->push = ad_proto_connect(ZMQ_PUSH, endpoint, keys, err);
    free(keys);
    if (!self->push)
        return err ? err->code : AD_EINVAL;
    self->job = job;
    return 0;
}

int64_t
ad_metrics_dropped(const ad_metrics_t *self)
{
    return self ? self->dropped : 0;
}

void
ad_metrics_close(ad_metrics_t **self_p)
{
    ad_metrics_t *self;

    if (!self_p || !*self_p)
        return;
    self = *self_p;
    if (self->fp)
        fclose(self->fp);
    if (self->push) {
        /* Give the last events (done) a moment to leave; a coordinator that is away took none. */
        zsock_set_linger(self->push, 1000);
        zsock_destroy(&self->push);
    }
    free(self->path);
    free(self);
    *self_p = NULL;
}

/*
 * Best effort: a coordinator that is away or slow costs an event, not a step.
 * The connection comes up in the background, so the first event (start)
 * waits for it up to a second; later ones never wait.
 */
static void
s_report(ad_metrics_t *self, json_t *obj)
{
    int tries = self->sent == 0 && self->dropped == 0 ? 50 : 1;
    ad_err_t err = {0};

    for (int i = 0; i < tries; i++) {
        json_t *msg = json_object();

        json_object_set_new(msg, "job", json_integer(self->job));
        json_object_update(msg, obj);
        if (ad_proto_send(self->push, NULL, "METRIC", msg, &err) == 0) {
            self->sent++;
            return;
        }
        if (i + 1 < tries)
            zclock_sleep(20);
    }
    if (self->dropped++ == 0)
        ad_log(AD_LOG_WARN, "coordinator not taking metrics (%s): dropping them", err.msg);
}

/*
 * Append line and its newline whole or not at all: after a failed write (a
 * full disk) the file is cut back to its last complete line, so it stays valid
 * JSON lines and a later event starts on a line of its own.  Returns 0, or -1
 * with errno.
 */
static int
s_write_line(ad_metrics_t *self, char *line)
{
    int fd = fileno(self->fp), e = 0;
    off_t end = lseek(fd, 0, SEEK_END);
    size_t len = strlen(line), done = 0;

    line[len++] = '\n'; /* over the terminator: json_dumps' buffer is len + 1 */
    while (!e && done < len) {
        ssize_t w = write(fd, line + done, len - done);

        if (w > 0)
            done += (size_t)w;
        else if (w == 0 || errno != EINTR)
            e = w == 0 ? EIO : errno;
    }
    line[len - 1] = '\0';
    if (!e)
        return 0;
    if (end >= 0 && done > 0 && ftruncate(fd, end) == 0)
        lseek(fd, end, SEEK_SET);
    errno = e;
    return -1;
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
    if (self->push)
        s_report(self, obj);
    if (self->fp) {
        line = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
        if (!line)
            ad_oom(0);
        if (s_write_line(self, line) != 0)
            rc = ad_err_set(err, AD_EIO, "%s: cannot write metrics: %s", self->path,
                            strerror(errno));
        free(line);
    }
    json_decref(obj);
    return rc;
}

int64_t
ad_metrics_warmup_steps(int64_t steps)
{
    int64_t w = steps / 10 > AD_METRICS_WARMUP_MIN ? steps / 10 : AD_METRICS_WARMUP_MIN;

    return w > steps / 2 ? steps / 2 : w;
}

void
ad_metrics_steady_add(ad_metrics_steady_t *st, double samples, double step_s)
{
    double sps = samples / step_s, delta;

    st->steps++;
    st->samples += samples;
    st->step_s += step_s;
    delta = sps - st->mean;
    st->mean += delta / (double)st->steps;
    st->m2 += delta * (sps - st->mean);
}

double
ad_metrics_steady_sps(const ad_metrics_steady_t *st)
{
    return st->steps > 0 && st->step_s > 0 ? st->samples / st->step_s : NAN;
}

double
ad_metrics_steady_sd(const ad_metrics_steady_t *st)
{
    return st->steps > 1 ? sqrt(st->m2 / (double)(st->steps - 1)) : NAN;
}

void
ad_metrics_resources(double *cpu_s, double *max_rss)
{
    struct rusage ru;
    double mine[2] = {0, 0}, sum = 0, max = 0;

    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        mine[0] = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                  (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
        mine[1] = (double)ru.ru_maxrss * 1024.0; /* kB on Linux */
    }
    MPI_Reduce(&mine[0], &sum, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    MPI_Reduce(&mine[1], &max, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    *cpu_s = sum;
    *max_rss = max;
}
