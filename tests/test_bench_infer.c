/* test_bench_infer.c - runs of kind infer: stored apart from training, the layout chosen under a
 * p95 target, `autodist bench-infer` and `runs --kind` (docs/bench-infer.md) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ad_test.h"
#include "cli_fixture.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "autodist/ad_infer.h"
#include "autodist/ad_store.h"

/* A COMPLETED training run of cnn on fashion-mnist, layout 1 x ppn x 1. */
static void
s_add_train(ad_store_t *store, int ppn, double rate, int64_t *id)
{
    ad_run_t run;

    ad_store_run_init(&run);
    run.model = "cnn";
    run.dataset = "fashion-mnist";
    run.hardware = "hw-test";
    run.procs_per_node = ppn;
    run.batch_size = 256;
    run.state = AD_JOB_COMPLETED;
    run.samples_per_s = rate;
    assert_int_equal(ad_store_add_run(store, &run, id), 0);
}

/* An inference run of cnn: layout PxTxB, one mode, its throughput and p95. */
static int64_t
s_add_infer(ad_store_t *store, double bench, int p, int t, int b, const char *mode, double sps,
            double p95)
{
    ad_infer_run_t r = {.model_path = "/models/cnn-fp32",
                        .arch = "cnn",
                        .dataset = "infer:cnn-fp32",
                        .hardware = "hw-test",
                        .mode = mode,
                        .procs = p,
                        .threads = t,
                        .batch = b,
                        .concurrency = strcmp(mode, "closed") ? 0 : p * b * 2,
                        .rate = strcmp(mode, "closed") ? sps : NAN,
                        .samples_per_s = sps,
                        .p50_ms = p95 / 2,
                        .p95_ms = p95,
                        .p99_ms = p95 * 1.2,
                        .mean_ms = p95 / 2,
                        .samples = 100,
                        .speedup = NAN,
                        .started = bench,
                        .ended = bench + 1,
                        .bench = bench};
    int64_t id = 0;

    assert_int_equal(ad_store_add_infer_run(store, &r, &id), 0);
    assert_true(id > 0);
    return id;
}

static int
s_count_run(const ad_run_t *run, void *arg)
{
    (*(int *)arg)++;
    return 0;
}

/* The speedup rows as text, to compare before and after. */
static int
s_speedup_line(const ad_speedup_row_t *row, void *arg)
{
    char *buf = arg;
    size_t used = strlen(buf);

    snprintf(buf + used, 4096 - used, "%s/%s/%lld/%dx%dx%d: %.6f %.6f %lld\n", row->model,
             row->dataset, (long long)row->batch_size, row->nodes, row->procs_per_node,
             row->threads_per_proc, row->samples_per_s, row->speedup, (long long)row->runs);
    return 0;
}

/* A home cft_tmp/tag (into home) and its store, opened. */
static void
s_open(const char *tag, char *home, size_t size, ad_store_t **store)
{
    char db[400];
    ad_err_t err = {0};

    snprintf(home, size, "%s/%s", cft_tmp, tag);
    assert_int_equal(mkdir(home, 0700), 0);
    snprintf(db, sizeof(db), "%s/runs.db", home);
    assert_int_equal(ad_store_open(db, AD_STORE_CREATE, store, &err), 0);
}

/* Inference runs change no training figure: speedups, groups, baselines, listings. */
static void
test_training_unchanged(void **st)
{
    char home[300], before[4096] = "", after[4096] = "";
    ad_store_t *store = NULL;
    ad_run_filter_t infer = {.kind = "infer"}, any = {.kind = "*"};
    ad_run_t run;
    int64_t base, two, one_more;
    int n = 0;

    s_open("train", home, sizeof(home), &store);
    s_add_train(store, 1, 1000.0, &base);
    s_add_train(store, 2, 1800.0, &two);
    assert_int_equal(ad_store_each_speedup(store, NULL, s_speedup_line, before), 0);
    assert_non_null(strstr(before, "cnn/fashion-mnist/256/1x2x1: 1800.000000 1.800000 1"));

    /* The same model and layouts, even the 1x1x1 (a would-be baseline), as inference runs. */
    s_add_infer(store, 100.0, 1, 1, 1, "closed", 50.0, 20.0);
    s_add_infer(store, 100.0, 1, 2, 1, "closed", 90.0, 12.0);
    s_add_infer(store, 100.0, 1, 2, 1, "open", 45.0, 8.0);
    assert_int_equal(ad_store_each_speedup(store, NULL, s_speedup_line, after), 0);
    assert_string_equal(before, after);

    /* A new training repeat still finds its baseline among the training runs only. */
    s_add_train(store, 2, 2000.0, &one_more);
    ad_store_run_init(&run);
    assert_int_equal(ad_store_get_run(store, one_more, &run), 0);
    assert_float_equal(run.speedup, 2.0, 1e-9);
    assert_int_equal(run.baseline, base);
    ad_store_run_clear(&run);

    /* Listings: training by default, infer or all when asked. */
    assert_int_equal(ad_store_each_run(store, NULL, s_count_run, &n), 0);
    assert_int_equal(n, 3);
    n = 0;
    assert_int_equal(ad_store_each_run(store, &infer, s_count_run, &n), 0);
    assert_int_equal(n, 3);
    n = 0;
    assert_int_equal(ad_store_each_run(store, &any, s_count_run, &n), 0);
    assert_int_equal(n, 6);
    ad_store_close(&store);

    /* The same through the command. */
    cft_expect(cft_cli("--home", home, "runs", "--json", NULL), 0);
    assert_null(strstr(cft_res.out, "infer:"));
    cft_expect(cft_cli("--home", home, "runs", "--kind", "infer", "--json", NULL), 0);
    assert_null(strstr(cft_res.out, "fashion-mnist"));
    assert_non_null(strstr(cft_res.out, "infer:cnn-fp32"));
    cft_expect(cft_cli("--home", home, "runs", "--kind", "bogus", NULL), 2);
    assert_non_null(strstr(cft_res.err, "expected train, infer, finetune or all"));
    cft_expect(cft_cli("--home", home, "speedup", "--json", NULL), 0);
    assert_null(strstr(cft_res.out, "infer:"));
}

/* The choice: the best throughput under the target, open loop first, only the newest bench. */
static void
test_choice(void **st)
{
    char home[300];
    ad_store_t *store = NULL;
    ad_infer_choice_t c;
    ad_infer_run_t bad = {.model_path = "/m",
                          .arch = "cnn",
                          .dataset = "infer:m",
                          .mode = "open",
                          .procs = 0,
                          .threads = 1,
                          .batch = 1};
    int64_t id;

    s_open("choice", home, sizeof(home), &store);
    /* No bench yet: say what to run. */
    assert_int_equal(ad_store_infer_best(store, "/models/cnn-fp32", 10.0, &c), -ENOENT);
    assert_non_null(strstr(ad_store_errmsg(store), "run autodist bench-infer"));

    /* An older bench whose numbers must not count. */
    s_add_infer(store, 50.0, 2, 1, 32, "closed", 99999.0, 1.0);
    /* 1x1x1: closed only.  1x2x8: closed fast but slow p95; open at two rates.  2x1x16: open. */
    s_add_infer(store, 100.0, 1, 1, 1, "closed", 100.0, 9.0);
    s_add_infer(store, 100.0, 1, 2, 8, "closed", 400.0, 60.0);
    s_add_infer(store, 100.0, 1, 2, 8, "open", 200.0, 12.0);
    s_add_infer(store, 100.0, 1, 2, 8, "open", 360.0, 30.0);
    id = s_add_infer(store, 100.0, 2, 1, 16, "open", 380.0, 45.0);

    /* No target: the best closed-loop throughput. */
    assert_int_equal(ad_store_infer_best(store, "/models/cnn-fp32", 0, &c), 0);
    assert_int_equal(c.procs * 100 + c.threads * 10 + c.batch, 128);
    assert_string_equal(c.mode, "closed");
    assert_true(c.met);

    /* p95 <= 40: 1x2x8 open at 360/s; the closed 1x2x8 (400/s, p95 60) is not a candidate. */
    assert_int_equal(ad_store_infer_best(store, "/models/cnn-fp32", 40.0, &c), 0);
    assert_int_equal(c.procs, 1);
    assert_int_equal(c.threads, 2);
    assert_int_equal(c.batch, 8);
    assert_string_equal(c.mode, "open");
    assert_float_equal(c.samples_per_s, 360.0, 1e-9);
    assert_true(c.met && c.p95_ms <= 40.0);
    /* p95 <= 50: 2x1x16 at 380/s. */
    assert_int_equal(ad_store_infer_best(store, "/models/cnn-fp32", 50.0, &c), 0);
    assert_int_equal(c.run, id);
    /* p95 <= 10: only the sequential (closed, no open figures) meets it. */
    assert_int_equal(ad_store_infer_best(store, "/models/cnn-fp32", 10.0, &c), 0);
    assert_int_equal(c.procs * 100 + c.threads * 10 + c.batch, 111);
    /* Nothing meets 1 ms (the older bench's 1 ms is not read): the closest, unmet. */
    assert_int_equal(ad_store_infer_best(store, "/models/cnn-fp32", 1.0, &c), 0);
    assert_false(c.met);
    assert_float_equal(c.p95_ms, 9.0, 1e-9);

    /* Bad rows are refused with what is wrong. */
    assert_int_equal(ad_store_add_infer_run(store, &bad, &id), AD_EINVAL);
    assert_non_null(strstr(ad_store_errmsg(store), "at least 1"));
    bad.procs = 1;
    bad.mode = "half-open";
    assert_int_equal(ad_store_add_infer_run(store, &bad, &id), AD_EINVAL);
    assert_non_null(strstr(ad_store_errmsg(store), "expected open or closed"));
    ad_store_close(&store);
}

/* The command's errors: no artifact, bad options. */
static void
test_command_errors(void **st)
{
    char dir[300];

    cft_expect(cft_cli("--home", cft_tmp, "bench-infer", NULL), 2);
    assert_non_null(strstr(cft_res.err, "expected one MODEL"));
    cft_expect(cft_cli("--home", cft_tmp, "bench-infer", "/nonexistent/model", NULL), 2);
    assert_non_null(strstr(cft_res.err, "/nonexistent/model"));
    snprintf(dir, sizeof(dir), "%s/not-a-model", cft_tmp);
    assert_int_equal(mkdir(dir, 0700), 0);
    cft_expect(cft_cli("--home", cft_tmp, "bench-infer", dir, NULL), 2);
    assert_non_null(strstr(cft_res.err, "not an inference artifact"));
    cft_expect(cft_cli("--home", cft_tmp, "bench-infer", dir, "--p95-ms", "-3", NULL), 2);
    cft_expect(cft_cli("--home", cft_tmp, "bench-infer", dir, "--duration", "x", NULL), 2);
}

/* A tiny conv net with random weights: 3x16x16 -> conv 8 -> maxpool -> avgpool -> linear 4. */
static void
s_tiny_artifact(const char *dir)
{
    float w1[8 * 3 * 3 * 3], w2[4 * 8];
    ad_err_t err = {0};
    ad_igraph_t *g = ad_igraph_new(3, 16, 16);
    int n;

    for (size_t i = 0; i < sizeof(w1) / sizeof(w1[0]); i++)
        w1[i] = (float)((i * 37) % 17) / 17.0f - 0.5f;
    for (size_t i = 0; i < sizeof(w2) / sizeof(w2[0]); i++)
        w2[i] = (float)((i * 11) % 7) / 7.0f - 0.5f;
    n = ad_igraph_conv(g, 0, w1, 8, 3, 3, NULL, 1, 1, 1, AD_ACT_RELU, &err);
    assert_true(n > 0);
    n = ad_igraph_maxpool(g, n, 2, 2, 0, &err);
    assert_true(n > 0);
    n = ad_igraph_avgpool(g, n, &err);
    assert_true(n > 0);
    n = ad_igraph_linear(g, n, w2, 4, NULL, AD_ACT_NONE, &err);
    assert_true(n > 0);
    assert_int_equal(ad_igraph_save(g, dir, "{\"arch\":\"tiny\",\"variant\":\"fp32\"}", &err), 0);
    ad_igraph_free(&g);
}

/* A real bench of a tiny artifact: 3 layouts, short windows, stored and chosen. */
static void
test_bench_tiny(void **st)
{
    char dir[300], home[300], db[400], svg[400];
    static char text[65536];
    ad_store_t *store = NULL;
    ad_err_t err = {0};
    ad_infer_choice_t c;
    json_t *doc, *rows, *r;
    size_t i;
    int seq = 0;
    double lo = INFINITY, hi = 0;

    snprintf(dir, sizeof(dir), "%s/tiny-fp32", cft_tmp);
    snprintf(home, sizeof(home), "%s/home-bench", cft_tmp);
    s_tiny_artifact(dir);
    cft_expect(cft_cli("--home", home, "bench-infer", dir, "--layouts", "1x1x1,1x1x4,2x1x2",
                       "--duration", "0.3", "--warmup", "0.1", "--open", "0.5", "--json", NULL),
               0);
    doc = adt_json(cft_res.out);
    rows = json_object_get(doc, "layouts");
    /* The sequential, then each layout closed and open. */
    assert_int_equal(json_array_size(rows), 7);
    json_array_foreach(rows, i, r)
    {
        double p50 = json_number_value(json_object_get(r, "p50_ms"));
        double p95 = json_number_value(json_object_get(r, "p95_ms"));
        double p99 = json_number_value(json_object_get(r, "p99_ms"));

        assert_true(json_number_value(json_object_get(r, "samples_per_s")) > 0);
        assert_true(p50 > 0 && p50 <= p95 && p95 <= p99);
        lo = fmin(lo, p95);
        hi = fmax(hi, p95);
        if (json_is_true(json_object_get(r, "sequential"))) {
            seq++;
            assert_float_equal(json_number_value(json_object_get(r, "speedup")), 1.0, 1e-9);
        }
    }
    assert_int_equal(seq, 1);
    json_decref(doc);

    /* Stored: 7 runs of kind infer, none of kind train; the choice obeys a target. */
    snprintf(db, sizeof(db), "%s/runs.db", home);
    assert_int_equal(ad_store_open(db, 0, &store, &err), 0);
    {
        ad_run_filter_t f = {.kind = "infer"};
        int n = 0, t = 0;

        assert_int_equal(ad_store_each_run(store, &f, s_count_run, &n), 0);
        assert_int_equal(ad_store_each_run(store, NULL, s_count_run, &t), 0);
        assert_int_equal(n, 7);
        assert_int_equal(t, 0);
    }
    assert_int_equal(ad_store_infer_best(store, dir, 0, &c), 0);
    assert_true(c.samples_per_s > 0);
    /* A target every layout meets, then one none does (the closest is said, unmet). */
    assert_int_equal(ad_store_infer_best(store, dir, hi + 1, &c), 0);
    assert_true(c.met && c.p95_ms > 0 && c.p95_ms <= hi + 1);
    assert_int_equal(ad_store_infer_best(store, dir, lo / 2, &c), 0);
    assert_false(c.met);
    assert_true(c.p95_ms >= lo);
    ad_store_close(&store);

    /* The table says the choice; runs --kind infer lists the layouts. */
    cft_expect(cft_cli("--home", home, "runs", "--kind", "infer", NULL), 0);
    assert_non_null(strstr(cft_res.out, "infer:tiny-fp32"));

    /* The table, the choice under a target, and the plot (when gnuplot is there). */
    snprintf(svg, sizeof(svg), "%s/layouts.svg", cft_tmp);
    cft_expect(cft_cli("--home", home, "bench-infer", dir, "--layouts", "1x1x2", "--duration",
                       "0.2", "--warmup", "0.05", "--open", "0", "--p95-ms", "100000", "--plot",
                       svg, NULL),
               system("command -v gnuplot >/dev/null 2>&1") == 0 ? 0 : 1);
    assert_non_null(strstr(cft_res.out, "LAYOUT"));
    assert_non_null(strstr(cft_res.out, "sequential"));
    assert_non_null(strstr(cft_res.out, "chosen for p95 <= 100000 ms: 1x1x"));
    if (cft_res.status == 0) {
        adt_read_file(svg, text, sizeof(text));
        assert_non_null(strstr(text, "Pareto front"));
        assert_non_null(strstr(text, "1x1x2"));
    }
}

/*
 * An open loop far past the model's capacity leaves a backlog: it is counted
 * as late, and the next measurement gets fresh workers, not the backlog.
 */
static void
test_bench_overload(void **st)
{
    static adt_result_t r;
    char dir[300];
    const char *args[] = {dir,   "--layouts", "1x1x1", "--open",   "10,0.5", "--duration",
                          "0.5", "--warmup",  "0.1",   "--no-seq", NULL};
    json_t *j;
    char *line, *save = NULL;
    int n = 0;

    snprintf(dir, sizeof(dir), "%s/overload-fp32", cft_tmp);
    s_tiny_artifact(dir);
    adt_run(&r, AD_INFER_BENCH_BIN, args, cft_tmp, 60.0);
    adt_expect_status(&r, 0);
    for (line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save), n++) {
        j = adt_json(line);
        assert_true(json_number_value(json_object_get(j, "samples_per_s")) > 0);
        if (n == 1)
            assert_true(json_integer_value(json_object_get(j, "late")) > 0);
        if (n == 2) {
            assert_int_equal(json_integer_value(json_object_get(j, "late")), 0);
            assert_true(json_integer_value(json_object_get(j, "samples")) > 0);
        }
        json_decref(j);
    }
    assert_int_equal(n, 3);
}

/* A TCP connect to 127.0.0.1:port succeeds. */
static bool
s_port_open(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;

    if (fd >= 0)
        close(fd);
    return ok;
}

/* Run autodist-http-load with args (NULL-terminated) into r; its JSON (owned) or NULL. */
static json_t *
s_http_load(adt_result_t *r, const char *first, ...)
{
    const char *args[ADT_MAX_ARGS];
    va_list ap;
    int n = 0;

    va_start(ap, first);
    for (const char *a = first; a && n < ADT_MAX_ARGS - 1; a = va_arg(ap, const char *))
        args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    adt_run(r, AD_HTTP_LOAD_BIN, args, cft_tmp, 60.0);
    return r->status == 0 ? adt_json(r->out) : NULL;
}

/* The load generator against a real HTTP server (autodist ui): closed, open, errors. */
static void
test_http_load(void **st)
{
    static adt_result_t r;
    char home[300], listen[64], url[128], bad[128], web[300], coord[64], png[300];
    int port = adt_free_port();
    adt_proc_t ui;
    adt_result_t ui_res;
    json_t *j;
    const char *ui_args[] = {"--home", home,       "--coordinator", coord,
                             "ui",     "--listen", listen,          NULL};

    snprintf(home, sizeof(home), "%s/home-http", cft_tmp);
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/index.html", port);
    snprintf(bad, sizeof(bad), "http://127.0.0.1:%d/no-such-page", port);
    snprintf(web, sizeof(web), "%s/web", AD_SOURCE_DIR);
    adt_free_endpoint(coord, sizeof(coord));
    setenv("AUTODIST_WEB_DIR", web, 1);
    adt_start(&ui, AD_CLI_BIN, ui_args, cft_tmp);
    for (int i = 0; i < 300 && !s_port_open(port); i++)
        adt_sleep_ms(20);
    assert_true(s_port_open(port));

    /* Closed loop on kept-alive connections: every request answered. */
    j = s_http_load(&r, url, "--concurrency", "2", "--duration", "0.3", "--warmup", "0.1", NULL);
    assert_non_null(j);
    assert_true(json_integer_value(json_object_get(j, "requests")) > 0);
    assert_int_equal(json_integer_value(json_object_get(j, "errors")), 0);
    assert_true(json_number_value(json_object_get(j, "requests_per_s")) > 0);
    assert_true(json_number_value(json_object_get(j, "p50_ms")) <=
                json_number_value(json_object_get(j, "p95_ms")));
    assert_true(json_number_value(json_object_get(j, "p95_ms")) <=
                json_number_value(json_object_get(j, "p99_ms")));
    assert_string_equal(json_string_value(json_object_get(j, "mode")), "closed");
    json_decref(j);

    /* Open loop: about rate x duration arrivals (Poisson, mean 100). */
    j = s_http_load(&r, url, "--rate", "200", "--duration", "0.5", "--warmup", "0", NULL);
    assert_non_null(j);
    assert_in_range(json_integer_value(json_object_get(j, "requests")), 30, 300);
    assert_int_equal(json_integer_value(json_object_get(j, "errors")), 0);
    assert_string_equal(json_string_value(json_object_get(j, "mode")), "open");
    json_decref(j);

    /* Not 2xx is an error, counted by class: a missing page, a POST the page refuses. */
    j = s_http_load(&r, bad, "--concurrency", "1", "--duration", "0.2", "--warmup", "0", NULL);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "requests")), 0);
    assert_true(json_integer_value(json_object_get(j, "errors")) > 0);
    assert_non_null(json_object_get(json_object_get(j, "status"), "4xx"));
    json_decref(j);
    snprintf(png, sizeof(png), "%s/web/index.html", AD_SOURCE_DIR);
    j = s_http_load(&r, url, "--image", png, "--multipart", "--concurrency", "1", "--duration",
                    "0.2", "--warmup", "0", NULL);
    assert_non_null(j);
    assert_true(json_integer_value(json_object_get(j, "errors")) > 0);
    assert_non_null(json_object_get(json_object_get(j, "status"), "4xx"));
    json_decref(j);

    kill(ui.pid, SIGTERM);
    adt_finish(&ui, &ui_res, 10.0);

    /* Nobody listening: errors, no hang, exit 0; a bad URL or option: exit 2. */
    j = s_http_load(&r, url, "--concurrency", "2", "--duration", "0.2", "--warmup", "0", NULL);
    assert_non_null(j);
    assert_true(json_integer_value(json_object_get(j, "errors")) > 0);
    assert_int_equal(json_integer_value(json_object_get(j, "requests")), 0);
    json_decref(j);
    assert_null(s_http_load(&r, "https://127.0.0.1/", NULL));
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "no https"));
    assert_null(s_http_load(&r, url, "--rate", "-1", NULL));
    assert_int_equal(r.status, 2);
    assert_null(s_http_load(&r, url, "--image", "/nonexistent.jpg", NULL));
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "/nonexistent.jpg"));
}

/* A corrupt artifact: one line naming the file, exit 1, nothing stored. */
static void
test_bench_corrupt(void **st)
{
    char dir[300], home[300], weights[400], db[400];
    ad_store_t *store = NULL;
    ad_err_t err = {0};
    ad_run_filter_t f = {.kind = "*"};
    int n = 0;

    snprintf(dir, sizeof(dir), "%s/corrupt-fp32", cft_tmp);
    snprintf(home, sizeof(home), "%s/home-corrupt", cft_tmp);
    s_tiny_artifact(dir);
    snprintf(weights, sizeof(weights), "%s/weights.bin", dir);
    assert_int_equal(truncate(weights, 40), 0);
    cft_expect(cft_cli("--home", home, "bench-infer", dir, "--layouts", "1x1x1", "--duration",
                       "0.1", NULL),
               1);
    assert_non_null(strstr(cft_res.err, "weights.bin"));
    assert_non_null(strstr(cft_res.err, "nothing stored"));
    snprintf(db, sizeof(db), "%s/runs.db", home);
    assert_int_equal(ad_store_open(db, AD_STORE_CREATE, &store, &err), 0);
    assert_int_equal(ad_store_each_run(store, &f, s_count_run, &n), 0);
    assert_int_equal(n, 0);
    ad_store_close(&store);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_training_unchanged), cmocka_unit_test(test_choice),
        cmocka_unit_test(test_command_errors),     cmocka_unit_test(test_bench_tiny),
        cmocka_unit_test(test_bench_corrupt),      cmocka_unit_test(test_bench_overload),
        cmocka_unit_test(test_http_load),
    };

    if (cft_begin("ad_test_bench_infer"))
        return 1;
    return cft_end(cmocka_run_group_tests_name("bench-infer", tests, NULL, NULL));
}
