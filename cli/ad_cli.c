/* ad_cli.c - what every autodist command shares: options, home, endpoint, requests, output */
#include "ad_cli.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <czmq.h>

#include "autodist/ad_keys.h"
#include "autodist/ad_opt.h"
#include "autodist/ad_proto.h"
#include "autodist/ad_store.h"
#include "autodist/ad_suggest.h"

/* Values of the global options inside a command's table. */
enum {
    S_OPT_HOME = 1000,
    S_OPT_COORDINATOR,
    S_OPT_JSON,
    S_OPT_HELP,
    S_OPT_KEYS,
    S_OPT_PARSABLE,
};

/* Room for a command's own options plus the global ones. */
#define S_MAX_OPTIONS 32

volatile sig_atomic_t ad_cli_interrupted;
bool ad_cli_parsable;

static const struct option s_global_options[] = {
    {"home", required_argument, NULL, S_OPT_HOME},
    {"coordinator", required_argument, NULL, S_OPT_COORDINATOR},
    {"json", no_argument, NULL, S_OPT_JSON},
    {"help", no_argument, NULL, S_OPT_HELP},
    {"keys", required_argument, NULL, S_OPT_KEYS},
    {"parsable", no_argument, NULL, S_OPT_PARSABLE},
    {NULL, 0, NULL, 0},
};

/* "unknown option --X", with the closest option of the command when one is close. */
static void
s_unknown_option(const ad_cli_t *cli, const char *text, const struct option *all, size_t n)
{
    const char *names[S_MAX_OPTIONS], *best;
    char word[AD_SUGGEST_WORD_MAX + 1];
    size_t len;

    while (*text == '-')
        text++;
    len = strcspn(text, "=");
    snprintf(word, sizeof(word), "%.*s", (int)len, text);
    for (size_t i = 0; i < n; i++)
        names[i] = all[i].name;
    best = ad_suggest(word, names, n, strlen(word) >= 4 ? 3 : 2, false);
    for (size_t i = 0; i < n && !best; i++)
        if (all[i].name && strlen(word) >= 3 && !strncmp(all[i].name, word, strlen(word)))
            best = all[i].name;
    if (best)
        ad_cli_fail(AD_CLI_EXIT_USAGE, "%s: unknown option --%s (did you mean --%s?)", cli->cmd,
                    word, best);
    else
        ad_cli_fail(AD_CLI_EXIT_USAGE, "%s: unknown option --%s (try autodist %s --help)", cli->cmd,
                    word, cli->cmd);
}

int
ad_cli_getopt(ad_cli_t *cli, int argc, char **argv, const struct option *own, const char **arg)
{
    struct option all[S_MAX_OPTIONS];
    size_t n = 0;
    int c;

    for (size_t i = 0; own && own[i].name; i++) {
        /* Room for this one and every global option with the terminator. */
        assert(n + 1 + sizeof(s_global_options) / sizeof(s_global_options[0]) <= S_MAX_OPTIONS);
        all[n++] = own[i];
    }
    for (size_t i = 0; i < sizeof(s_global_options) / sizeof(s_global_options[0]); i++)
        all[n++] = s_global_options[i];
    opterr = 0;
    *arg = NULL;
    for (;;) {
        c = getopt_long(argc, argv, ":h", all, NULL);
        switch (c) {
        case S_OPT_HOME:
            cli->home_arg = optarg;
            continue;
        case S_OPT_COORDINATOR:
            cli->endpoint_arg = optarg;
            continue;
        case S_OPT_JSON:
            cli->json = true;
            continue;
        case S_OPT_KEYS:
            cli->keys_arg = optarg;
            continue;
        case S_OPT_PARSABLE:
            cli->parsable = ad_cli_parsable = true;
            continue;
        case 'h':
        case S_OPT_HELP:
            ad_cli_help(cli->cmd, stdout);
            return AD_CLI_OPT_HELP;
        case ':':
            ad_cli_fail(AD_CLI_EXIT_USAGE, "%s: option %s needs a value (try autodist %s --help)",
                        cli->cmd, argv[optind - 1], cli->cmd);
            return AD_CLI_OPT_ERROR;
        case '?':
            if (optopt)
                ad_cli_fail(AD_CLI_EXIT_USAGE, "%s: unknown option -%c (try autodist %s --help)",
                            cli->cmd, optopt, cli->cmd);
            else
                s_unknown_option(cli, argv[optind - 1], all, n);
            return AD_CLI_OPT_ERROR;
        case -1:
            return AD_CLI_OPT_END;
        default:
            *arg = optarg;
            return c;
        }
    }
}

const ad_home_t *
ad_cli_home(ad_cli_t *cli)
{
    ad_err_t err = {0};

    if (cli->home_ready)
        return &cli->home;
    if (ad_home_resolve(cli->home_arg, &cli->home, &err)) {
        ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", err.msg);
        return NULL;
    }
    cli->home_ready = true;
    return &cli->home;
}

bool
ad_cli_endpoint_valid(const char *ep)
{
    const char *colon;
    char *end;
    long port;

    if (!strncmp(ep, "ipc://", 6))
        return ep[6] != '\0';
    if (strncmp(ep, "tcp://", 6))
        return false;
    colon = strrchr(ep + 6, ':');
    if (!colon || colon == ep + 6)
        return false;
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    return !errno && end != colon + 1 && *end == '\0' && port >= 1 && port <= 65535;
}

char *
ad_cli_recorded_endpoint(const ad_cli_t *cli, const char *key)
{
    ad_home_t home = {0};
    char path[PATH_MAX];
    const char *v;
    json_t *doc;
    char *out = NULL;

    if (cli->home_ready) {
        snprintf(path, sizeof(path), "%s/run/endpoints.json", cli->home.root);
    } else {
        if (ad_home_resolve(cli->home_arg, &home, NULL))
            return NULL;
        snprintf(path, sizeof(path), "%s/run/endpoints.json", home.root);
        ad_home_clear(&home);
    }
    doc = json_load_file(path, 0, NULL);
    if (!doc) {
        /* After `autodist down`: the endpoints it used, so history asks there (not elsewhere). */
        size_t dir = strlen(path) - strlen("endpoints.json");

        snprintf(path + dir, sizeof(path) - dir, "%s", AD_CLI_ENDPOINTS_LAST);
        doc = json_load_file(path, 0, NULL);
    }
    v = ad_cli_jstr(doc, key);
    if (v && ad_cli_endpoint_valid(v))
        out = ad_strdup(v);
    json_decref(doc);
    return out;
}

const char *
ad_cli_endpoint(ad_cli_t *cli)
{
    const char *ep = cli->endpoint_arg;

    if (cli->endpoint)
        return cli->endpoint;
    if (!ep || !*ep)
        ep = getenv(AD_CLI_COORDINATOR_ENV);
    if (ep && *ep) {
        if (!ad_cli_endpoint_valid(ep)) {
            ad_cli_fail(AD_CLI_EXIT_USAGE,
                        "bad coordinator endpoint \"%s\": expected tcp://HOST:PORT or ipc://PATH",
                        ep);
            return NULL;
        }
        cli->endpoint = ad_strdup(ep);
        return cli->endpoint;
    }
    cli->endpoint = ad_cli_recorded_endpoint(cli, "client");
    if (!cli->endpoint)
        cli->endpoint = ad_strdup(AD_PROTO_CLIENT_ENDPOINT);
    return cli->endpoint;
}

void
ad_cli_clear(ad_cli_t *cli)
{
    if (cli->home_ready)
        ad_home_clear(&cli->home);
    cli->home_ready = false;
    free(cli->endpoint);
    cli->endpoint = NULL;
    ad_cli_hw_free(&cli->hw);
}

/* ---- errors and requests ---------------------------------------------------------------- */

int
ad_cli_fail(int code, const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fputs("autodist: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

int
ad_cli_no_sub(const char *cmd, const char *sub, const char *const *subs, size_t n)
{
    const char *best = ad_suggest(sub, subs, n, 3, true);
    char list[256] = "";
    size_t len = 0;

    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(list + len, len < sizeof(list) ? sizeof(list) - len : 0, "%s%s",
                                i ? ", " : "", subs[i]);
    if (best)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "%s: no subcommand \"%s\" (did you mean %s?)", cmd,
                           sub, best);
    return ad_cli_fail(AD_CLI_EXIT_USAGE, "%s: no subcommand \"%s\" (%s)", cmd, sub, list);
}

int
ad_cli_exit_for(int rc)
{
    if (rc == -ETIMEDOUT)
        return AD_CLI_EXIT_UNREACHABLE;
    if (rc == -EINTR)
        return AD_CLI_EXIT_INTERRUPTED;
    if (rc == AD_PROTO_ENEVER)
        return AD_CLI_EXIT_NEVER;
    return rc ? AD_CLI_EXIT_ERROR : AD_CLI_EXIT_OK;
}

/* Whether `autodist up --insecure` recorded an --insecure coordinator (HOME/run/endpoints.json). */
static bool
s_recorded_insecure(ad_cli_t *cli)
{
    const ad_home_t *home = ad_cli_home(cli);
    char path[PATH_MAX];
    json_t *doc;
    bool insecure;

    if (!home)
        return false;
    snprintf(path, sizeof(path), "%s/run/endpoints.json", home->root);
    doc = json_load_file(path, 0, NULL);
    insecure = json_is_true(json_object_get(doc, "insecure"));
    json_decref(doc);
    return insecure;
}

bool
ad_cli_is_insecure(ad_cli_t *cli)
{
    return cli->insecure || s_recorded_insecure(cli);
}

const char *
ad_cli_keys_dir(ad_cli_t *cli, char *missing, size_t size)
{
    const ad_home_t *home;
    ad_err_t err = {0};

    if (missing && size)
        missing[0] = '\0';
    if (cli->keys_arg && *cli->keys_arg)
        return cli->keys_arg;
    if (cli->insecure || s_recorded_insecure(cli))
        return NULL;
    home = ad_cli_home(cli);
    if (!home)
        return NULL;
    if (ad_keys_check_client(home->keys, &err) == 0)
        return home->keys;
    if (missing && size)
        snprintf(missing, size, "%s", err.msg);
    return NULL;
}

int
ad_cli_request(ad_cli_t *cli, const char *type, json_t *payload, int timeout_ms, json_t **reply,
               ad_err_t *err)
{
    const char *ep = ad_cli_endpoint(cli);
    char missing[PATH_MAX + 64];
    const char *keys;
    int rc;

    *reply = NULL;
    if (!ep) {
        json_decref(payload);
        return ad_err_set(err, AD_EINVAL, "bad coordinator endpoint");
    }
    keys = ad_cli_keys_dir(cli, missing, sizeof(missing));
    rc = ad_proto_request_secure(ep, keys, type, payload, timeout_ms, reply, err);
    if (rc == -EACCES && !keys && missing[0])
        rc = ad_err_set(err, -EACCES,
                        "the coordinator at %s requires CURVE keys and there are none: %s; use "
                        "--home with the coordinator's home, or --keys DIR with keys from its "
                        "admin (`autodist keys add-user NAME`)",
                        ep, missing);
    return rc;
}

/*
 * A request that the coordinator may answer EAGAIN (another process holds the
 * store for a while, docs/daemon.md "A busy store"): asked again every 0.5 s
 * for at most S_BUSY_WAIT_S, saying so once.
 */
#define S_BUSY_WAIT_S 60.0

static int
s_request_retrying(ad_cli_t *cli, const char *type, json_t *payload, json_t **reply, ad_err_t *err)
{
    double until = ad_clock_now() + S_BUSY_WAIT_S;
    bool said = false;
    int rc;

    for (;;) {
        rc = ad_cli_request(cli, type, json_incref(payload), AD_PROTO_REQUEST_TIMEOUT_MS, reply,
                            err);
        if (rc != -EAGAIN || ad_clock_now() >= until || ad_cli_interrupted)
            break;
        if (!said) {
            fprintf(stderr, "autodist: %s; trying again for up to %.0f s\n", err->msg,
                    S_BUSY_WAIT_S);
            said = true;
        }
        ad_cli_sleep(0.5);
    }
    json_decref(payload);
    return rc;
}

int
ad_cli_call(ad_cli_t *cli, const char *type, json_t *payload, json_t **reply)
{
    ad_err_t err = {0};
    int rc;

    if (!ad_cli_endpoint(cli)) {
        json_decref(payload);
        *reply = NULL;
        return AD_CLI_EXIT_USAGE;
    }
    rc = s_request_retrying(cli, type, payload, reply, &err);
    if (!rc)
        return AD_CLI_EXIT_OK;
    if (rc == -EINTR || ad_cli_interrupted)
        return AD_CLI_EXIT_INTERRUPTED;
    return ad_cli_fail(ad_cli_exit_for(rc), "%s", err.msg);
}

static void
s_on_sigint(int sig)
{
    (void)sig;
    ad_cli_interrupted = 1;
}

void
ad_cli_catch_interrupt(bool on)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: a blocking poll or sleep must return so the loop sees the flag. */
    sa.sa_handler = on ? s_on_sigint : SIG_DFL;
    sigaction(SIGINT, &sa, NULL);
}

bool
ad_cli_sleep(double seconds)
{
    struct timespec ts, left;

    if (ad_cli_interrupted)
        return false;
    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &left) < 0 && errno == EINTR) {
        if (ad_cli_interrupted)
            return false;
        ts = left;
    }
    return !ad_cli_interrupted;
}

int
ad_cli_open_store(ad_cli_t *cli, ad_store_t **store, const char **db)
{
    const ad_home_t *home = ad_cli_home(cli);
    ad_err_t err = {0}, err2 = {0};
    struct stat sb;

    *store = NULL;
    if (!home)
        return AD_CLI_EXIT_ERROR;
    *db = home->db;
    if (stat(home->db, &sb) < 0 && errno == ENOENT)
        return 0;
    if (ad_store_open(home->db, AD_STORE_READONLY, store, &err) == 0)
        return 0;
    /*
     * A store of an older schema (autodist was upgraded) is migrated by a writable open,
     * as the coordinator's would: then it reads.  A store we may not write keeps the error.
     */
    if (access(home->db, W_OK) == 0 && ad_store_open(home->db, 0, store, &err2) == 0) {
        ad_store_close(store);
        if (ad_store_open(home->db, AD_STORE_READONLY, store, &err2) == 0)
            return 0;
    }
    return ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", err.msg);
}

/* ---- parsing ------------------------------------------------------------------------------ */

int
ad_cli_parse_int(const char *what, const char *text, int64_t min, int64_t max, int64_t *out)
{
    ad_err_t err;

    if (ad_opt_int(what, text, min, max, AD_OPT_DOTS, out, &err))
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "%s", err.msg);
    return 0;
}

int
ad_cli_parse_seconds(const char *what, const char *text, double min, double max, double *out)
{
    ad_err_t err;

    if (ad_opt_seconds(what, text, min, max, AD_OPT_DOTS, out, &err))
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "%s", err.msg);
    return 0;
}

int
ad_cli_parse_job_id(const char *text, int64_t *out)
{
    return ad_cli_parse_int("a job id", text, 1, INT64_MAX, out);
}

/* ---- JSON ------------------------------------------------------------------------------------ */

int64_t
ad_cli_jint(const json_t *obj, const char *key, int64_t def)
{
    json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_real(v) && isfinite(json_real_value(v)))
        return (int64_t)json_real_value(v);
    return def;
}

double
ad_cli_jnum(const json_t *obj, const char *key, double def)
{
    json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

    return json_is_number(v) ? json_number_value(v) : def;
}

const char *
ad_cli_jstr(const json_t *obj, const char *key)
{
    json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

    return json_is_string(v) ? json_string_value(v) : NULL;
}

json_t *
ad_cli_jobj(const json_t *obj, const char *key)
{
    json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

    return json_is_object(v) ? v : NULL;
}

void
ad_cli_print_json(const json_t *doc)
{
    /* One buffer, one write: jansson's stream callback would write each token apart. */
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_REAL_PRECISION(10));

    if (!text)
        ad_oom(0);
    fputs(text, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    free(text);
}

void
ad_cli_json_list_begin(ad_cli_json_list_t *l, const char *key)
{
    json_t *js = json_string(key);
    char *k = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;

    json_decref(js);
    if (!k)
        ad_oom(0);
    printf("{\n  %s: [", k);
    free(k);
    l->n = 0;
}

void
ad_cli_json_list_item(ad_cli_json_list_t *l, json_t *item)
{
    char *text = json_dumps(item, JSON_INDENT(2) | JSON_REAL_PRECISION(10));

    if (!text)
        ad_oom(0);
    /* The item sits at depth 2 of the document: four more spaces on each of its lines. */
    fputs(l->n++ ? ",\n    " : "\n    ", stdout);
    for (const char *p = text, *nl; *p; p = nl + 1) {
        nl = strchr(p, '\n');
        if (!nl) {
            fputs(p, stdout);
            break;
        }
        fwrite(p, 1, (size_t)(nl - p) + 1, stdout);
        fputs("    ", stdout);
    }
    free(text);
    json_decref(item);
}

void
ad_cli_json_list_end(ad_cli_json_list_t *l)
{
    fputs(l->n ? "\n  ]\n}\n" : "]\n}\n", stdout);
    fflush(stdout);
}

/* ---- formatting ----------------------------------------------------------------------------- */

char *
ad_cli_fmt_duration(double seconds, char *buf, size_t size)
{
    long long s;

    if (isnan(seconds) || seconds < 0) {
        snprintf(buf, size, "-");
        return buf;
    }
    s = llround(seconds);
    snprintf(buf, size, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
    return buf;
}

char *
ad_cli_fmt_time(double t, char *buf, size_t size)
{
    time_t tt;
    struct tm tm;

    if (isnan(t) || t <= 0) {
        snprintf(buf, size, "-");
        return buf;
    }
    tt = (time_t)t;
    if (!localtime_r(&tt, &tm) || !strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm))
        snprintf(buf, size, "%.0f", t);
    return buf;
}

char *
ad_cli_fmt_rate(double v, char *buf, size_t size)
{
    if (isnan(v))
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, v < 100 ? "%.1f" : "%.0f", v);
    return buf;
}

double
ad_cli_now(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

/* ---- tables -----------------------------------------------------------------------------------
 */

struct ad_cli_table {
    int ncols;    /* columns */
    size_t n;     /* rows, the header included */
    size_t cap;   /* rows allocated */
    char **cells; /* n x ncols owned strings, row-major */
};

ad_cli_table_t *
ad_cli_table_new(int ncols, const char *const *headers)
{
    ad_cli_table_t *self = ad_calloc(1, sizeof(*self));

    assert(ncols > 0);
    self->ncols = ncols;
    ad_cli_table_add(self, headers);
    return self;
}

void
ad_cli_table_add(ad_cli_table_t *self, const char *const *cells)
{
    if (self->n == self->cap) {
        self->cap = self->cap ? self->cap * 2 : 8;
        self->cells = ad_realloc(self->cells, self->cap * self->ncols * sizeof(char *));
    }
    for (int c = 0; c < self->ncols; c++)
        self->cells[self->n * self->ncols + c] = ad_strdup(cells[c] && *cells[c] ? cells[c] : "-");
    self->n++;
}

size_t
ad_cli_table_rows(const ad_cli_table_t *self)
{
    return self->n - 1;
}

void
ad_cli_table_print(const ad_cli_table_t *self, FILE *f)
{
    size_t *width = ad_calloc(self->ncols, sizeof(*width));

    for (size_t r = 0; r < self->n; r++)
        for (int c = 0; c < self->ncols; c++) {
            size_t len = strlen(self->cells[r * self->ncols + c]);

            if (len > width[c])
                width[c] = len;
        }
    for (size_t r = 0; r < self->n; r++) {
        for (int c = 0; c < self->ncols; c++) {
            const char *cell = self->cells[r * self->ncols + c];

            if (ad_cli_parsable)
                fprintf(f, "%s%c", cell, c == self->ncols - 1 ? '\n' : '|');
            else if (c == self->ncols - 1)
                fprintf(f, "%s\n", cell);
            else
                fprintf(f, "%-*s  ", (int)width[c], cell);
        }
    }
    free(width);
}

void
ad_cli_table_free(ad_cli_table_t **self_p)
{
    ad_cli_table_t *self = self_p ? *self_p : NULL;

    if (!self)
        return;
    for (size_t i = 0; i < self->n * self->ncols; i++)
        free(self->cells[i]);
    free(self->cells);
    free(self);
    *self_p = NULL;
}

/* ---- job objects ------------------------------------------------------------------------------
 */

char *
ad_cli_job_layout(const json_t *job, char *buf, size_t size)
{
    int64_t n = ad_cli_jint(job, "nodes", 0), p = ad_cli_jint(job, "procs_per_node", 0),
            t = ad_cli_jint(job, "threads_per_proc", 0);

    if (n > 0 && p > 0 && t > 0)
        snprintf(buf, size, "%lldx%lldx%lld", (long long)n, (long long)p, (long long)t);
    else
        snprintf(buf, size, "auto");
    return buf;
}

char *
ad_cli_job_progress(const json_t *job, char *buf, size_t size)
{
    const json_t *p = ad_cli_jobj(job, "progress");
    const char *phase = ad_cli_jstr(p, "phase");
    int64_t step = ad_cli_jint(p, "step", -1), steps = ad_cli_jint(p, "steps", 0);
    int64_t epoch = ad_cli_jint(p, "epoch", 0), epochs = ad_cli_jint(p, "epochs", 0);

    const char *state = ad_cli_jstr(job, "state");

    /* A job that ended otherwise than COMPLETED says so, and how far it got: never "done". */
    if (state && strcmp(state, "COMPLETED") && strcmp(state, "PENDING") &&
        strcmp(state, "RUNNING")) {
        size_t len = 0;

        for (; state[len] && len + 1 < size; len++)
            buf[len] =
                (char)(state[len] >= 'A' && state[len] <= 'Z' ? state[len] + 32 : state[len]);
        buf[len] = '\0';
        if (step >= 0 && steps > 0)
            snprintf(buf + len, size - len, " at step %lld/%lld", (long long)step,
                     (long long)steps);
        else if (step >= 0)
            snprintf(buf + len, size - len, " at step %lld", (long long)step);
        return buf;
    }
    if (!p || (phase && !strcmp(phase, "done"))) {
        snprintf(buf, size, "%s", ad_cli_jobj(job, "result") || p ? "done" : "-");
        return buf;
    }
    if (phase && !strcmp(phase, "starting")) {
        snprintf(buf, size, "starting");
        return buf;
    }
    if (step >= 0 && steps > 0)
        snprintf(buf, size, "%d%% step %lld/%lld", (int)(100.0 * step / steps), (long long)step,
                 (long long)steps);
    else if (step >= 0)
        snprintf(buf, size, "step %lld", (long long)step);
    else if (epoch > 0 && epochs > 0)
        snprintf(buf, size, "epoch %lld/%lld", (long long)epoch, (long long)epochs);
    else
        snprintf(buf, size, "%s", phase ? phase : "-");
    if (phase && !strcmp(phase, "evaluating")) {
        size_t len = strlen(buf);

        snprintf(buf + len, size - len, " (evaluating)");
    }
    return buf;
}

double
ad_cli_job_elapsed(const json_t *job)
{
    double started = ad_cli_jnum(job, "started", NAN), ended = ad_cli_jnum(job, "ended", NAN);

    if (isnan(started))
        return NAN;
    return (isnan(ended) ? ad_cli_now() : ended) - started;
}
