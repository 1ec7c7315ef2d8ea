/* ad_cli_wait.c - follow a job to its end: the live progress line and the final summary */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "ad_cli.h"
#include "autodist/ad_job.h"
#include "autodist/ad_proto.h"
#include "autodist/ad_store.h"

/* submit --wait: how long a job must stay "never" before we give up (nodes may still come). */
#define S_NEVER_GRACE_S 5.0
/* submit --wait without a terminal: a progress line at least this often. */
#define S_PLAIN_EVERY_S 5.0
/* Default seconds between two STATUS requests of --wait and --follow. */
#define S_POLL_S 0.5
/* Cells of the progress bar. */
#define S_BAR_WIDTH 20

/* Append printf output to buf (of size) at *len, truncating quietly. */
static void s_cat(char *buf, size_t size, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
s_cat(char *buf, size_t size, size_t *len, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (*len >= size)
        return;
    va_start(ap, fmt);
    n = vsnprintf(buf + *len, size - *len, fmt, ap);
    va_end(ap);
    if (n > 0)
        *len = *len + (size_t)n < size ? *len + (size_t)n : size - 1;
}

static bool
s_is_final(const char *state)
{
    ad_job_state_t st;

    return state && !ad_store_job_state_from_name(state, &st) && ad_store_job_state_is_final(st);
}

/* ---- submit --wait ---------------------------------------------------------------------- */

/* Where a --wait stands. */
typedef struct waiter {
    ad_cli_t *cli;      /* the command (borrowed) */
    int64_t id;         /* the job */
    const char *name;   /* its name (borrowed) */
    double interval;    /* seconds between two STATUS requests */
    bool tty;           /* stdout is a terminal: one live line redrawn with \r */
    bool drawn;         /* a live line is on the screen and needs a newline */
    char key[600];      /* state and reason last shown: a change prints a new line */
    double last_print;  /* ad_clock_now() of the last plain line */
    double never_since; /* ad_clock_now() since the job is "never"; < 0 when it is not */
    ad_cli_wait_hook_t *hook; /* called at each poll, or NULL */
    void *hook_arg;           /* its argument */
} waiter_t;

static int
s_term_width(void)
{
    struct winsize ws;

    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
        return ws.ws_col;
    return 80;
}

/* The one-line picture of a job; bar draws [####----] for a terminal. */
static void
s_progress_line(const waiter_t *w, const json_t *job, bool bar, char *buf, size_t size)
{
    const char *state = ad_cli_jstr(job, "state");
    const json_t *p = ad_cli_jobj(job, "progress");
    const char *phase = ad_cli_jstr(p, "phase");
    int64_t step = ad_cli_jint(p, "step", -1), steps = ad_cli_jint(p, "steps", 0);
    int64_t epoch = ad_cli_jint(p, "epoch", 0), epochs = ad_cli_jint(p, "epochs", 0);
    double rate = ad_cli_jnum(p, "samples_per_s", NAN), loss = ad_cli_jnum(p, "loss", NAN);
    double eta = ad_cli_jnum(p, "eta_s", NAN);
    char tmp[64];
    size_t len = 0;

    s_cat(buf, size, &len, "job %lld %s", (long long)w->id, state ? state : "?");
    if (state && !strcmp(state, "PENDING")) {
        const char *reason = ad_cli_jstr(job, "reason");

        s_cat(buf, size, &len, ": %s", reason ? reason : "waiting for nodes");
        return;
    }
    if (ad_cli_jstr(job, "stopping")) {
        const char *reason = ad_cli_jstr(job, "reason");

        s_cat(buf, size, &len, ", stopping (it ends %s%s%s)", ad_cli_jstr(job, "stopping"),
              reason ? ": " : "", reason ? reason : "");
        return;
    }
    if (!p) {
        const char *where = ad_cli_jstr(job, "nodelist");

        if (where)
            s_cat(buf, size, &len, " on %s", where);
        s_cat(buf, size, &len, ", elapsed %s (no progress reported yet)",
              ad_cli_fmt_duration(ad_cli_job_elapsed(job), tmp, sizeof(tmp)));
        return;
    }
    if (phase && strcmp(phase, "training"))
        s_cat(buf, size, &len, " %s", phase);
    if (step >= 0 && steps > 0) {
        int pct = (int)(100.0 * step / steps);

        pct = pct < 0 ? 0 : pct > 100 ? 100 : pct;
        if (bar) {
            int full = pct * S_BAR_WIDTH / 100;

            s_cat(buf, size, &len, " [");
            for (int i = 0; i < S_BAR_WIDTH; i++)
                s_cat(buf, size, &len, "%c", i < full ? '#' : '-');
            s_cat(buf, size, &len, "] %3d%% step %lld/%lld", pct, (long long)step,
                  (long long)steps);
        } else {
            s_cat(buf, size, &len, " step %lld/%lld (%d%%)", (long long)step, (long long)steps,
                  pct);
        }
    } else if (step >= 0) {
        s_cat(buf, size, &len, " step %lld", (long long)step);
    }
    if (epoch > 0 && epochs > 0)
        s_cat(buf, size, &len, " epoch %lld/%lld", (long long)epoch, (long long)epochs);
    /* The steady-state rate so far (docs/speedup.md), the summary's definition. */
    if (!isnan(rate))
        s_cat(buf, size, &len, " %s samples/s%s", ad_cli_fmt_rate(rate, tmp, sizeof(tmp)),
              json_is_true(json_object_get(p, "warming_up")) ? " (warming up)" : "");
    if (!isnan(loss))
        s_cat(buf, size, &len, " loss %.3f", loss);
    if (!isnan(eta))
        s_cat(buf, size, &len, " ETA %s", ad_cli_fmt_duration(eta, tmp, sizeof(tmp)));
}

/*
 * The run's figures in the summary (docs/speedup.md): the steady-state throughput
 * with its spread, the speedup with its interval, the flags, what the ranks used.
 */
/* What a flag of the summary means for this run (docs/speedup.md, "Flags"). */
static void
s_flag_why(const char *name, double other, double speedup, double lo, int64_t cores)
{
    if (!name)
        return;
    if (!strcmp(name, "noisy") && !isnan(other))
        printf(" (other processes kept %.1f cores busy)", other);
    else if (!strcmp(name, "efficiency>100%") && cores > 0 && !isnan(speedup))
        printf(" (%.2fx on %lld cores is above ideal%s)", speedup, (long long)cores,
               !isnan(lo) && lo <= (double)cores
                   ? ", within the interval's noise"
                   : ": a slow baseline? see autodist baseline");
    else if (!strcmp(name, "high-spread"))
        printf(" (its step rate varied by more than 20 %%)");
    else if (!strcmp(name, "few-samples"))
        printf(" (the accuracy comes from fewer than 100 test images)");
}

static void
s_print_result(const json_t *res, bool ok, int64_t cores)
{
    int64_t run = ad_cli_jint(res, "run", 0), steps = ad_cli_jint(res, "sps_steps", 0);
    double rate = ad_cli_jnum(res, "samples_per_s", NAN), sd = ad_cli_jnum(res, "sps_sd", NAN);
    double speedup = ad_cli_jnum(res, "speedup", NAN), acc = ad_cli_jnum(res, "accuracy", NAN);
    double lo = ad_cli_jnum(res, "speedup_lo", NAN), hi = ad_cli_jnum(res, "speedup_hi", NAN);
    double cpu = ad_cli_jnum(res, "cpu_time_s", NAN), other = ad_cli_jnum(res, "load_other", NAN);
    int64_t rss = ad_cli_jint(res, "max_rss_bytes", 0);
    const json_t *flags = json_object_get(res, "flags");
    char tmp[64], tmp2[64];

    if (!isnan(rate)) {
        printf("  throughput %s samples/s", ad_cli_fmt_rate(rate, tmp, sizeof(tmp)));
        if (!isnan(sd))
            printf(" +- %s", ad_cli_fmt_rate(sd, tmp, sizeof(tmp)));
        if (steps > 0)
            printf(" (steady state, %lld steps)", (long long)steps);
    } else {
        printf("  throughput not measured");
    }
    if (run > 0)
        printf(" (run %lld)", (long long)run);
    printf("\n");
    if (!isnan(speedup)) {
        printf("  speedup %.2fx", speedup);
        if (!isnan(lo) && !isnan(hi))
            printf(" (%.2f-%.2f)", lo, hi);
        printf(" over the 1x1x1 baseline (autodist baseline)\n");
    } else if (ok) {
        printf("  no baseline yet: run the 1x1x1 layout of this job to get one\n");
    }
    if (json_array_size(flags) > 0) {
        size_t i;
        json_t *f;

        printf("  flags:");
        json_array_foreach(flags, i, f)
        {
            const char *name = json_string_value(f);

            printf("%s %s", i ? "," : "", name ? name : "?");
            s_flag_why(name, other, speedup, lo, cores);
        }
        printf("\n");
    }
    if (!isnan(acc))
        printf("  test accuracy %.2f%%\n", 100.0 * acc);
    if (!isnan(cpu) || rss > 0) {
        printf("  CPU time %s (all ranks)",
               isnan(cpu) ? "-" : ad_cli_fmt_duration(cpu, tmp, sizeof(tmp)));
        if (rss > 0)
            printf(", peak memory %s MiB (largest rank)",
                   ad_cli_fmt_rate((double)rss / (1 << 20), tmp2, sizeof(tmp2)));
        printf("\n");
    }
}

/* Finish the live line, so what follows starts on its own line. */
static void
s_end_line(waiter_t *w)
{
    if (w->drawn) {
        fputc('\n', stdout);
        fflush(stdout);
        w->drawn = false;
    }
}

static void
s_show(waiter_t *w, const json_t *job)
{
    const char *state = ad_cli_jstr(job, "state"), *reason = ad_cli_jstr(job, "reason");
    char line[1024], key[sizeof(w->key)];
    bool changed;
    double now = ad_clock_now();

    if (w->cli->json)
        return;
    snprintf(key, sizeof(key), "%s|%s", state ? state : "",
             state && !strcmp(state, "PENDING") && reason ? reason : "");
    changed = strcmp(key, w->key) != 0;
    snprintf(w->key, sizeof(w->key), "%s", key);
    s_progress_line(w, job, w->tty, line, sizeof(line));
    if (w->tty) {
        int width = s_term_width() - 1;

        if (changed)
            s_end_line(w);
        if ((int)strlen(line) > width)
            line[width] = '\0';
        printf("\r%s\033[K", line);
        fflush(stdout);
        w->drawn = true;
        return;
    }
    if (changed || now - w->last_print >= S_PLAIN_EVERY_S) {
        printf("%s\n", line);
        fflush(stdout);
        w->last_print = now;
    }
}

/* The summary of a job that ended; returns the exit status of --wait. */
static int
s_summary(waiter_t *w, json_t *job)
{
    const char *state = ad_cli_jstr(job, "state"), *reason = ad_cli_jstr(job, "reason");
    const json_t *res = ad_cli_jobj(job, "result");
    double wall = ad_cli_jnum(res, "wall_s", NAN);
    int64_t exit_code = ad_cli_jint(job, "exit_code", INT64_MIN);
    bool ok = state && !strcmp(state, "COMPLETED");
    char tmp[64];

    if (isnan(wall))
        wall = ad_cli_job_elapsed(job);
    s_end_line(w);
    if (w->cli->json) {
        json_t *doc = json_pack("{s:I s:s s:s s:O}", "job", (json_int_t)w->id, "name", w->name,
                                "state", state ? state : "", "status", job);

        ad_cli_print_json(doc);
        json_decref(doc);
    } else {
        printf("job %lld (%s) %s", (long long)w->id, w->name, state ? state : "?");
        if (exit_code != INT64_MIN)
            printf(", exit code %lld", (long long)exit_code);
        if (!isnan(wall))
            printf(", wall time %s", ad_cli_fmt_duration(wall, tmp, sizeof(tmp)));
        printf("\n");
        if (!ok && reason)
            printf("  reason: %s\n", reason);
        if (res)
            s_print_result(res, ok,
                           ad_cli_jint(job, "nodes", 0) * ad_cli_jint(job, "procs_per_node", 0) *
                               ad_cli_jint(job, "threads_per_proc", 0));
        ad_cli_auto_print(job, stdout);
        fflush(stdout);
    }
    if (ok)
        return AD_CLI_EXIT_OK;
    return ad_cli_fail(AD_CLI_EXIT_JOB_ENDED, "job %lld ended %s%s%s", (long long)w->id,
                       state ? state : "?", reason ? ": " : "", reason ? reason : "");
}

static int
s_gave_up(waiter_t *w, json_t *job)
{
    const char *reason = ad_cli_jstr(job, "reason");

    s_end_line(w);
    if (w->cli->json) {
        json_t *doc = json_pack("{s:I s:s s:s s:O}", "job", (json_int_t)w->id, "name", w->name,
                                "state", "PENDING", "status", job);

        ad_cli_print_json(doc);
        json_decref(doc);
    }
    return ad_cli_fail(
        AD_CLI_EXIT_NEVER,
        "job %lld cannot start: %s; it stays PENDING (autodist cancel %lld drops it)",
        (long long)w->id, reason ? reason : "it does not fit the nodes that are up",
        (long long)w->id);
}

static int
s_interrupted(waiter_t *w)
{
    s_end_line(w);
    return ad_cli_fail(AD_CLI_EXIT_INTERRUPTED,
                       "stopped waiting: job %lld keeps going; follow it again with `autodist "
                       "status %lld`",
                       (long long)w->id, (long long)w->id);
}

static int
s_wait(waiter_t *w)
{
    ad_err_t err = {0};
    json_t *reply = NULL, *job;
    const char *state, *sched;
    int rc = AD_CLI_EXIT_OK;

    ad_cli_catch_interrupt(true);
    w->never_since = -1;
    w->last_print = -1e9;
    for (;;) {
        if (ad_cli_interrupted) {
            rc = s_interrupted(w);
            break;
        }
        rc = ad_cli_request(w->cli, "STATUS", json_pack("{s:I}", "job", (json_int_t)w->id),
                            AD_PROTO_REQUEST_TIMEOUT_MS, &reply, &err);
        if (ad_cli_interrupted || rc == -EINTR) {
            rc = s_interrupted(w);
            break;
        }
        if (rc) {
            s_end_line(w);
            rc = ad_cli_fail(ad_cli_exit_for(rc), "%s", err.msg);
            break;
        }
        job = json_array_get(json_object_get(reply, "jobs"), 0);
        state = ad_cli_jstr(job, "state");
        if (!job || !state) {
            s_end_line(w);
            rc = ad_cli_fail(AD_CLI_EXIT_ERROR, "the coordinator's STATUS has no job %lld",
                             (long long)w->id);
            break;
        }
        if (s_is_final(state)) {
            rc = s_summary(w, job);
            break;
        }
        if (w->hook && (rc = w->hook(w->cli, w->id, state, w->hook_arg))) {
            s_end_line(w);
            break;
        }
        sched = ad_cli_jstr(job, "sched");
        /* --hold said the nodes will come: wait for them (Ctrl-C stops waiting). */
        if (!w->cli->hold && !strcmp(state, "PENDING") && sched && !strcmp(sched, "never")) {
            if (w->never_since < 0)
                w->never_since = ad_clock_now();
            else if (ad_clock_now() - w->never_since >= S_NEVER_GRACE_S) {
                rc = s_gave_up(w, job);
                break;
            }
        } else {
            w->never_since = -1;
        }
        s_show(w, job);
        json_decref(reply);
        reply = NULL;
        ad_cli_sleep(w->interval);
    }
    json_decref(reply);
    ad_cli_catch_interrupt(false);
    return rc;
}

int
ad_cli_wait_job(ad_cli_t *cli, int64_t id, const char *name, double interval,
                ad_cli_wait_hook_t *hook, void *arg)
{
    waiter_t w = {0};

    w.cli = cli;
    w.id = id;
    w.name = name;
    w.interval = interval;
    w.tty = isatty(STDOUT_FILENO);
    w.hook = hook;
    w.hook_arg = arg;
    return s_wait(&w);
}
