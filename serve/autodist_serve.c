/* autodist_serve.c - autodist-serve: an inference artifact behind an HTTP API and a web page */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "autodist/ad_clock.h"
#include "autodist/ad_log.h"
#include "autodist/ad_opt.h"
#include "ad_serve.h"

#define S_USAGE                                                                                    \
    "usage: autodist-serve MODEL_DIR [--listen ADDR:PORT | --port N] [--threads T]\n"              \
    "                      [--max-batch B] [--max-delay-ms D] [--processes P] [--max-body MB]\n"   \
    "                      [--max-queue N] [--http-threads N] [--any-host]\n"

/* --help: the usage, then what each option does (docs/serve.md has the API). */
static const char s_help[] =
    "\n"
    "Serve the inference artifact in MODEL_DIR until SIGINT or SIGTERM: POST /api/predict,\n"
    "GET /api/health, /api/ready (503 until loaded and warmed), /api/model, /metrics and the\n"
    "page at /. The first line printed is the URL. (`autodist serve` runs this program.)\n"
    "\n"
    "  --port N            listen on 127.0.0.1:N (default 8080; 0: any free port)\n"
    "  --listen ADDR:PORT  where to listen (0.0.0.0:PORT: other machines too; no login)\n"
    "  --threads T         intra-op threads of each inference (default 1)\n"
    "  --max-batch B       largest batch (default 8)\n"
    "  --max-delay-ms D    longest wait for a batch to fill, from its first request\n"
    "                      (default 0: a batch is what queued while the last one ran)\n"
    "  --processes P       P processes on the same port (SO_REUSEPORT), each with its model;\n"
    "                      /metrics and /api/ready answer for all of them\n"
    "  --max-body MB       largest upload in MiB; more answers 413 (default 16)\n"
    "  --max-queue N       requests queued at most; more answer 503 (default 256)\n"
    "  --http-threads N    threads of the HTTP pool, which decode uploads (default 4)\n"
    "  --any-host          on loopback, answer any Host header (behind a proxy)\n"
    "\n"
    "The page's files: AUTODIST_SERVE_WEB_DIR, else PREFIX/share/autodist/serve-web.\n";

/* The command line. */
typedef struct {
    const char *dir;  /* the artifact */
    char listen[64];  /* ADDR:PORT */
    int threads;      /* intra-op threads of inference */
    int max_batch;    /* largest batch */
    int max_delay_ms; /* longest wait for a batch to fill */
    int processes;    /* server processes on the port */
    long max_body_mb; /* largest upload */
    int max_queue;    /* requests queued at most */
    int http_threads; /* the HTTP pool's threads */
    bool any_host;    /* answer any Host header on loopback */
} opts_t;

static volatile sig_atomic_t s_stop;

static void
s_on_signal(int sig)
{
    s_stop = sig;
}

/* An integer option in [lo, hi], or exit 2 naming it. */
static long
s_int(const char *opt, const char *v, long lo, long hi)
{
    ad_err_t err = {0};
    int64_t n;

    if (ad_opt_int(opt, v, lo, hi, 0, &n, &err)) {
        fprintf(stderr, "autodist-serve: %s\n", err.msg);
        exit(2);
    }
    return (long)n;
}

static void
s_parse(int argc, char **argv, opts_t *o)
{
    static const struct option longs[] = {
        {"listen", required_argument, NULL, 'l'},
        {"port", required_argument, NULL, 'p'},
        {"threads", required_argument, NULL, 't'},
        {"max-batch", required_argument, NULL, 'b'},
        {"max-delay-ms", required_argument, NULL, 'd'},
        {"processes", required_argument, NULL, 'P'},
        {"max-body", required_argument, NULL, 'm'},
        {"max-queue", required_argument, NULL, 'q'},
        {"http-threads", required_argument, NULL, 'H'},
        {"any-host", no_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    *o = (opts_t){.threads = 1,
                  .max_batch = 8,
                  .max_delay_ms = 0,
                  .processes = 1,
                  .max_body_mb = 16,
                  .max_queue = 256,
                  .http_threads = 4};
    snprintf(o->listen, sizeof(o->listen), "127.0.0.1:8080");
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 'l':
            snprintf(o->listen, sizeof(o->listen), "%s", optarg);
            break;
        case 'p':
            snprintf(o->listen, sizeof(o->listen), "127.0.0.1:%ld",
                     s_int("--port", optarg, 0, 65535));
            break;
        case 't':
            o->threads = (int)s_int("--threads", optarg, 1, 1024);
            break;
        case 'b':
            o->max_batch = (int)s_int("--max-batch", optarg, 1, 1024);
            break;
        case 'd':
            o->max_delay_ms = (int)s_int("--max-delay-ms", optarg, 0, 60000);
            break;
        case 'P':
            o->processes = (int)s_int("--processes", optarg, 1, 256);
            break;
        case 'm':
            o->max_body_mb = s_int("--max-body", optarg, 1, 4096);
            break;
        case 'q':
            o->max_queue = (int)s_int("--max-queue", optarg, 1, 1000000);
            break;
        case 'H':
            o->http_threads = (int)s_int("--http-threads", optarg, 1, 256);
            break;
        case 'a':
            o->any_host = true;
            break;
        case 'h':
            printf("%s%s", S_USAGE, s_help);
            exit(0);
        default:
            fprintf(stderr, "%s", S_USAGE);
            exit(2);
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "autodist-serve: %s\n%s",
                optind >= argc ? "missing MODEL_DIR" : "one MODEL_DIR only", S_USAGE);
        exit(2);
    }
    o->dir = argv[optind];
}

/* The page's folder: AUTODIST_SERVE_WEB_DIR, the install's share/, else the source tree. */
static int
s_find_web(char *out, size_t size, ad_err_t *err)
{
    const char *env = getenv("AUTODIST_SERVE_WEB_DIR");
    char exe[PATH_MAX - 128], probe[PATH_MAX + 64];
    struct stat sb;
    ssize_t n;

    if (env && *env) {
        snprintf(out, size, "%s", env);
        snprintf(probe, sizeof(probe), "%s/index.html", env);
        return stat(probe, &sb) == 0
                   ? 0
                   : ad_err_set(err, -ENOENT, "AUTODIST_SERVE_WEB_DIR=%s has no index.html", env);
    }
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    exe[n > 0 ? n : 0] = '\0';
    if (strrchr(exe, '/'))
        *strrchr(exe, '/') = '\0';
    const char *cands[] = {"%s/../share/autodist/serve-web", AD_SERVE_WEB_INSTALL_DIR,
                           AD_SERVE_WEB_SOURCE_DIR};
    for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]); i++) {
        if (i == 0)
            snprintf(out, size, cands[0], exe);
        else
            snprintf(out, size, "%s", cands[i]);
        snprintf(probe, sizeof(probe), "%s/index.html", out);
        if (stat(probe, &sb) == 0)
            return 0;
    }
    return ad_err_set(err, -ENOENT,
                      "cannot find the page (index.html) in %s/../share/autodist/serve-web, %s "
                      "or %s: set AUTODIST_SERVE_WEB_DIR",
                      exe, AD_SERVE_WEB_INSTALL_DIR, AD_SERVE_WEB_SOURCE_DIR);
}

/* Run a batch of zeros of sizes 1 and max_batch, twice: the first runs pay for allocation. */
static int
s_warm(ad_infer_t *model, int max_batch, ad_err_t *err)
{
    int c, h, w, classes = ad_infer_classes(model), rc = 0;
    float *x, *y;

    ad_infer_shape(model, &c, &h, &w);
    x = ad_calloc((size_t)max_batch * c * h * w, sizeof(float));
    y = ad_calloc((size_t)max_batch * classes, sizeof(float));
    for (int i = 0; i < 4 && !rc; i++)
        rc = ad_infer_run(model, x, i % 2 ? max_batch : 1, y, err);
    free(x);
    free(y);
    return rc;
}

/* Load the model, warm it, start its batcher: then serve is ready. */
static int
s_load(ad_serve_t *serve, const opts_t *o, ad_err_t *err)
{
    ad_serve_batch_config_t bc = {o->max_batch, o->max_delay_ms, o->max_queue};
    int rc;

    ad_infer_set_threads(o->threads);
    /* A test knob: the load waits (up to a minute) for this file, to see /api/ready say 503. */
    if (getenv("AUTODIST_SERVE_TEST_HOLD"))
        for (int i = 0; i < 1200 && access(getenv("AUTODIST_SERVE_TEST_HOLD"), F_OK) != 0; i++)
            usleep(50 * 1000);
    rc = ad_infer_load(o->dir, &serve->model, err);
    if (rc)
        return rc;
    ad_infer_shape(serve->model, &serve->channels, &serve->height, &serve->width);
    if (serve->channels != 1 && serve->channels != 3)
        return ad_err_set(err, AD_EINVAL, "%s: the model takes %d channels; serving takes 1 or 3",
                          o->dir, serve->channels);
    rc = s_warm(serve->model, o->max_batch, err);
    if (rc)
        return rc;
    ad_serve_describe(serve, o->threads, o->max_batch, o->max_delay_ms);
    rc = ad_serve_batcher_new(serve->model, &bc, serve->metrics, ad_serve_answer, serve,
                              &serve->batcher, err);
    if (rc)
        return rc;
    atomic_store(&serve->ready, true);
    ad_serve_metrics_ready(serve->metrics);
    return 0;
}

/*
 * One server process, the process-th (0-based; the first prints the URL and the ready line):
 * listen, load, serve until SIGINT or SIGTERM, counting in metrics.  Returns the exit status.
 */
static int
s_serve(const opts_t *o, ad_serve_metrics_t *metrics, int process)
{
    ad_serve_t serve = {.model_dir = o->dir, .metrics = metrics};
    bool announce = process == 0;
    ad_http_config_t cfg = {.listen = o->listen,
                            .max_body = (size_t)o->max_body_mb << 20,
                            .max_connections = 1024,
                            .threads = (unsigned)o->http_threads,
                            .any_host = o->any_host,
                            .reuse_port = o->processes > 1,
                            .on_done = ad_serve_metrics_on_done};
    ad_http_t *http = NULL;
    ad_err_t err = {0};
    char web[PATH_MAX];
    double t0 = ad_clock_now();
    int status = 1;

    ad_serve_metrics_attach(metrics, process);
    cfg.on_done_arg = metrics;
    if (s_find_web(web, sizeof(web), &err) || ad_http_new(&cfg, &http, &err) ||
        ad_serve_routes(http, &serve, web, &err) || ad_http_start(http, &err)) {
        fprintf(stderr, "autodist-serve: %s\n", err.msg);
        goto out_free;
    }
    /* Listening before the model is loaded: /api/ready says 503 meanwhile. */
    if (announce)
        printf("autodist-serve: %s/ (loading %s)\n", ad_http_url(http), o->dir);
    if (s_load(&serve, o, &err)) {
        fprintf(stderr, "autodist-serve: %s\n", err.msg);
        goto out_stop;
    }
    if (announce)
        printf("autodist-serve: ready: %s (%s, %s), %d classes, loaded and warmed in %.0f ms\n",
               serve.name, ad_infer_arch(serve.model) ? ad_infer_arch(serve.model) : "?",
               ad_infer_variant(serve.model) ? ad_infer_variant(serve.model) : "?",
               ad_infer_classes(serve.model), (ad_clock_now() - t0) * 1e3);
    while (!s_stop)
        usleep(50 * 1000); /* pause() could miss a signal that came just before it */
    status = 0;
out_stop:
    ad_serve_batcher_stop(&serve.batcher);
    ad_http_stop(&http);
out_free:
    ad_infer_free(&serve.model);
    json_decref(serve.summary);
    free(serve.name);
    return status;
}

/*
 * Port 0 with several processes: reserve a free port for all of them with a bound socket
 * that never listens (SO_REUSEPORT), so each child binds the same one.
 */
static int
s_reserve_port(opts_t *o, int *fd_out)
{
    char addr[40];
    int port, one = 1, fd;
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);
    ad_err_t err = {0};

    *fd_out = -1;
    if (ad_http_parse_listen(o->listen, addr, sizeof(addr), &port, &err)) {
        fprintf(stderr, "autodist-serve: %s\n", err.msg);
        return -1;
    }
    if (port != 0)
        return 0;
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    inet_pton(AF_INET, strcmp(addr, "localhost") == 0 ? "127.0.0.1" : addr, &sa.sin_addr);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        fprintf(stderr, "autodist-serve: cannot reserve a port on %s: %s\n", addr, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    snprintf(o->listen, sizeof(o->listen), "%.39s:%d", addr, ntohs(sa.sin_port));
    *fd_out = fd;
    return 0;
}

/*
 * A child ended: its slot says dead.  Returns true when the others should stop too: on a stop,
 * or when it failed before it was ready (the others would fail alike); a ready process that
 * dies (a crash, kill -9) leaves the others serving, and /api/ready says 503 naming it.
 */
static bool
s_child_ended(ad_serve_metrics_t *m, int process, pid_t pid, int wstatus)
{
    bool was_ready = ad_serve_metrics_process(m, process).state == AD_SERVE_PROC_READY;
    int p = ad_serve_metrics_processes(m), left = 0;
    char how[96];

    ad_serve_metrics_ended(m, process, wstatus);
    if (s_stop)
        return true;
    if (!was_ready)
        return WIFSIGNALED(wstatus) || WEXITSTATUS(wstatus) != 0;
    for (int i = 0; i < p; i++)
        left += ad_serve_metrics_process(m, i).state != AD_SERVE_PROC_DEAD;
    fprintf(stderr, "autodist-serve: process %d of %d (pid %d) %s; %d of %d still serve\n",
            process + 1, p, (int)pid, ad_serve_metrics_how(wstatus, how, sizeof(how)), left, p);
    return false;
}

/*
 * P processes on one port, each with its own model and batcher, their metrics in one shared
 * region (m); the parent waits for them and marks the ones that end.
 */
static int
s_fork_servers(opts_t *o, ad_serve_metrics_t *m)
{
    pid_t pids[256];
    int fd, status = 0, n = 0;
    bool stopping = false;

    if (s_reserve_port(o, &fd))
        return 1;
    printf("autodist-serve: http://%s/ in %d processes\n", o->listen, o->processes);
    fflush(stdout);
    pid_t parent = getpid();

    for (int i = 0; i < o->processes; i++) {
        pid_t pid = fork();

        if (pid == 0) {
            /* A parent killed outright (kill -9) takes its servers with it: no process left
             * holding the port that nobody stops. */
            if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
                _exit(1);
            if (fd >= 0)
                close(fd);
            _exit(s_serve(o, m, i));
        }
        if (pid < 0) {
            fprintf(stderr, "autodist-serve: fork: %s\n", strerror(errno));
            s_stop = SIGTERM;
            break;
        }
        ad_serve_metrics_started(m, i, (int)pid);
        pids[n++] = pid;
    }
    /* Wait; a signal (or a child's failure before it is ready) stops them all. */
    for (int left = n; left > 0;) {
        int st, i;
        pid_t done;

        /* Also a signal that came outside waitpid (while forking, or between two waits). */
        if (s_stop && !stopping) {
            stopping = true;
            for (i = 0; i < n; i++)
                if (pids[i] > 0)
                    kill(pids[i], SIGTERM);
        }
        done = waitpid(-1, &st, 0);
        if (done < 0 && errno == EINTR)
            continue;
        if (done < 0)
            break;
        for (i = 0; i < n && pids[i] != done; i++)
            ;
        if (i == n)
            continue; /* not one of ours */
        pids[i] = 0;  /* reaped: its pid may be reused, never signal it */
        left--;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            status = 1;
        if (s_child_ended(m, i, done, st))
            for (int j = 0; j < n; j++)
                if (pids[j] > 0)
                    kill(pids[j], SIGTERM);
    }
    if (fd >= 0)
        close(fd);
    return status;
}

int
main(int argc, char **argv)
{
    struct sigaction sa = {.sa_handler = s_on_signal};
    ad_serve_metrics_t *metrics;
    opts_t o;
    int status;

    s_parse(argc, argv, &o);
    setvbuf(stdout, NULL, _IOLBF, 0);
    ad_log_init("autodist-serve", AD_LOG_WARN);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    metrics = ad_serve_metrics_new(o.processes);
    status = o.processes > 1 ? s_fork_servers(&o, metrics) : s_serve(&o, metrics, 0);
    ad_serve_metrics_free(&metrics);
    return status;
}
