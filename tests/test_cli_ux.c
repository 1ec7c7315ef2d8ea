/* test_cli_ux.c - the command line's habits: did you mean, --parsable, hardware names, layouts,
 * a cancelled job's progress, --set and `submit -` (docs/cli.md) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ad_test.h"
#include "cli_fixture.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "autodist/ad_proto.h"
#include "autodist/ad_store.h"

#define S_FP_A "3133248378b3eebe" /* node-a's class: one node */
#define S_FP_G "aaaabbbbccccdddd" /* gpu-1 and gpu-2's class */

/* A coordinator that answers NODES and STATUS with fixed documents, on its own thread. */
typedef struct fake {
    pthread_t thread;  /* serves requests */
    zsock_t *sock;     /* client ROUTER */
    char ep[64];       /* where it listens */
    json_t *submitted; /* the last SUBMIT's job, owned */
    volatile int stop; /* set to end the thread */
} fake_t;

static json_t *
s_fake_nodes(void)
{
    return json_pack("{s:[{s:s s:s s:i s:s s:[]} {s:s s:s s:i s:s s:[i]} {s:s s:s s:i s:s s:[]}]}",
                     "nodes", "name", "node-a", "state", "UP", "cores", 4, "fingerprint", S_FP_A,
                     "jobs", "name", "gpu-1", "state", "UP", "cores", 8, "fingerprint", S_FP_G,
                     "jobs", 7, "name", "gpu-2", "state", "UP", "cores", 8, "fingerprint", S_FP_G,
                     "jobs");
}

/* Job 7: cancelled at step 120 of 469, its trainer's last word "training". */
static json_t *
s_fake_status(void)
{
    return json_pack("{s:[{s:i s:s s:s s:i s:i s:i s:f s:f s:f s:{s:s s:i s:i}}]}", "jobs", "id", 7,
                     "name", "stopped", "state", "CANCELLED", "nodes", 1, "procs_per_node", 2,
                     "threads_per_proc", 1, "submitted", 1e9, "started", 1e9 + 10, "ended",
                     1e9 + 70, "progress", "phase", "training", "step", 120, "steps", 469);
}

static void *
s_fake_run(void *arg)
{
    fake_t *f = arg;

    while (!f->stop) {
        ad_proto_msg_t msg = {0};
        ad_err_t err = {0};
        json_t *reply;

        if (ad_proto_recv(f->sock, 50, &msg, &err)) {
            ad_proto_msg_clear(&msg);
            continue;
        }
        if (msg.type == AD_PROTO_SUBMIT) {
            json_decref(f->submitted);
            f->submitted = json_incref(json_object_get(msg.payload, "job"));
            reply = json_pack("{s:i s:s s:s}", "job", 9, "name", "set", "state", "PENDING");
        } else if (msg.type == AD_PROTO_SWEEP) {
            json_decref(f->submitted);
            f->submitted = json_incref(json_object_get(msg.payload, "sweep"));
            reply = json_pack("{s:i s:s s:s}", "id", 3, "name", "sw", "state", "RUNNING");
        } else if (msg.type == AD_PROTO_NODES)
            reply = s_fake_nodes();
        else if (msg.type == AD_PROTO_STATUS)
            reply = s_fake_status();
        else
            reply = json_object();
        ad_proto_send(f->sock, msg.identity, "OK", reply, &err);
        ad_proto_msg_clear(&msg);
    }
    return NULL;
}

static void
s_fake_start(fake_t *f)
{
    ad_err_t err = {0};
    int port = 0;

    memset(f, 0, sizeof(*f));
    f->sock = ad_proto_listen(ZMQ_ROUTER, "tcp://127.0.0.1:*", NULL, &port, &err);
    assert_non_null(f->sock);
    snprintf(f->ep, sizeof(f->ep), "tcp://127.0.0.1:%d", port);
    assert_int_equal(pthread_create(&f->thread, NULL, s_fake_run, f), 0);
}

static void
s_fake_stop(fake_t *f)
{
    f->stop = 1;
    pthread_join(f->thread, NULL);
    zsock_destroy(&f->sock);
    json_decref(f->submitted);
}

/* A home whose store knows node-a (class S_FP_A, measured) and gpu-1, gpu-2 (class S_FP_G). */
static void
s_store_home(char *home, size_t size, const char *tag)
{
    static const char *const names[] = {"node-a", "gpu-1", "gpu-2"};
    char db[400];
    ad_store_t *store = NULL;
    ad_err_t err = {0};

    snprintf(home, size, "%s/%s", cft_tmp, tag);
    snprintf(db, sizeof(db), "%s/runs.db", home);
    assert_int_equal(mkdir(home, 0700), 0);
    assert_int_equal(ad_store_open(db, AD_STORE_CREATE, &store, &err), 0);
    for (int i = 0; i < 3; i++) {
        ad_node_t node;
        ad_profile_row_t p;
        int64_t id = 0;

        ad_store_node_init(&node);
        node.hostname = (char *)names[i];
        assert_int_equal(ad_store_put_node(store, &node, &id), 0);
        ad_store_profile_row_init(&p);
        p.node = id;
        p.hardware = i ? S_FP_G : S_FP_A;
        p.cpu_model = "Test CPU";
        p.sockets = 1;
        p.cores = i ? 8 : 4;
        p.pus = p.cores;
        p.memory_bytes = 8LL << 30;
        p.gemm_gflops_1 = 40;
        p.gemm_gflops_all = 140;
        p.mem_bw_gbs = 20;
        assert_int_equal(ad_store_add_profile(store, &p, NULL), 0);
    }
    ad_store_close(&store);
}

/* Commands, options and job keys that are not ours say which one was meant. */
static void
test_did_you_mean(void **st)
{
    (void)st;
    cft_expect(cft_cli("stauts", NULL), 2);
    adt_assert_has(cft_res.err, "autodist: no command \"stauts\" (did you mean status?)");
    cft_expect(cft_cli("sbatch", "job.yaml", NULL), 2);
    adt_assert_has(cft_res.err, "(did you mean submit?)");
    cft_expect(cft_cli("squeue", NULL), 2);
    adt_assert_has(cft_res.err, "(did you mean status?)");
    cft_expect(cft_cli("help", "subnit", NULL), 2);
    adt_assert_has(cft_res.err, "no command \"subnit\" (did you mean submit?)");
    cft_expect(cft_cli("zzzzzz", NULL), 2);
    adt_assert_has(cft_res.err, "no command \"zzzzzz\" (try autodist --help)");
    cft_expect(cft_cli("runs", "--whre", "x", NULL), 2);
    adt_assert_has(cft_res.err, "autodist: runs: unknown option --whre (did you mean --where?)");
    cft_expect(cft_cli("submit", "x.yaml", "--wiat", NULL), 2);
    adt_assert_has(cft_res.err, "submit: unknown option --wiat (did you mean --wait?)");
    /* Subcommands too; a sweep "file" that is a misspelt subcommand is not a missing file. */
    cft_expect(cft_cli("sweep", "staus", NULL), 2);
    adt_assert_has(cft_res.err, "autodist: sweep: no subcommand \"staus\" (did you mean status?)");
    cft_expect(cft_cli("keys", "lst", NULL), 2);
    adt_assert_has(cft_res.err, "keys: no subcommand \"lst\" (did you mean list?)");
    cft_expect(cft_cli("keys", "zzzzzz", NULL), 2);
    adt_assert_has(cft_res.err, "keys: no subcommand \"zzzzzz\" (list, add-user, revoke, rotate)");
    cft_expect(cft_cli("reservation", "shwo", "1", NULL), 2);
    adt_assert_has(cft_res.err, "reservation: no subcommand \"shwo\" (did you mean show?)");
    cft_expect(cft_cli("profile", "lst", NULL), 2);
    adt_assert_has(cft_res.err, "profile: no subcommand \"lst\" (did you mean list?)");

    static const char lr[] = "name: t\nmodel: cnn\ndataset: synthetic\nsteps: 2\nbatch_size: 8\n"
                             "learning_rate: 0.1\n";

    char path[300];

    snprintf(path, sizeof(path), "%s/lr.yaml", cft_tmp);
    adt_write_file(path, lr);
    cft_expect(cft_cli("submit", path, NULL), 2);
    adt_assert_has(cft_res.err, "lr.yaml:6:1: unknown key \"learning_rate\" (did you mean "
                                "optimizer.lr? write it as optimizer: {lr: ...})");
}

/* --parsable: the header and the rows, cells joined by '|', nothing padded. */
static void
test_parsable_nodes(void **st)
{
    char home[300], want[300];
    fake_t f;

    (void)st;
    s_store_home(home, sizeof(home), "home-parsable");
    s_fake_start(&f);
    cft_expect(cft_cli("--home", home, "--coordinator", f.ep, "--parsable", "nodes", NULL), 0);
    adt_assert_has(cft_res.out, "NAME|STATE|CORES|CPU%|MEM|LAST-SEEN|JOBS|HARDWARE\n");
    snprintf(want, sizeof(want), "node-a|UP|4|-|-|-|-|node-a (%s)\n", S_FP_A);
    adt_assert_has(cft_res.out, want);
    snprintf(want, sizeof(want), "gpu-1|UP|8|-|-|-|7|gpu-* (%s)\n", S_FP_G);
    adt_assert_has(cft_res.out, want);
    assert_null(strstr(cft_res.out, "  "));
    /* After the command too; without it, the table is padded. */
    cft_expect(cft_cli("nodes", "--parsable", "--home", home, "--coordinator", f.ep, NULL), 0);
    adt_assert_has(cft_res.out, "NAME|STATE|");
    cft_expect(cft_cli("nodes", "--home", home, "--coordinator", f.ep, NULL), 0);
    adt_assert_has(cft_res.out, "NAME    STATE  CORES");
    s_fake_stop(&f);
}

/* A job cancelled midway shows its state and the step it reached, never "done". */
static void
test_cancelled_progress(void **st)
{
    char home[300];
    fake_t f;

    (void)st;
    snprintf(home, sizeof(home), "%s/home-cancel", cft_tmp);
    s_fake_start(&f);
    cft_expect(cft_cli("--home", home, "--coordinator", f.ep, "status", "7", NULL), 0);
    adt_assert_has(cft_res.out, "cancelled at step 120/469");
    assert_null(strstr(cft_res.out, "done"));
    cft_expect(cft_cli("--home", home, "--coordinator", f.ep, "--parsable", "status", "7", NULL),
               0);
    adt_assert_has(cft_res.out, "|CANCELLED|1x2x1|");
    s_fake_stop(&f);
}

/* --hardware takes a node's name or a fingerprint prefix; an unknown one lists the known. */
static void
test_hardware_names(void **st)
{
    char home[300], want[300];
    static const char *const ok[] = {"node-a", S_FP_A, "3133", "gpu-*", "gpu-2"};

    (void)st;
    s_store_home(home, sizeof(home), "home-hw");
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        cft_expect(cft_cli("--home", home, "predict", "--model", "cnn", "--dataset",
                           "fashion-mnist", "--batch-size", "64", "--layout", "1x2x1", "--hardware",
                           ok[i], NULL),
                   0);
        snprintf(want, sizeof(want), " on %s (%s): ", i < 3 ? "node-a" : "gpu-*",
                 i < 3 ? S_FP_A : S_FP_G);
        adt_assert_has(cft_res.out, want);
    }
    cft_expect(cft_cli("--home", home, "predict", "--model", "cnn", "--dataset", "fashion-mnist",
                       "--batch-size", "64", "--layout", "1x2x1", "--hardware", "vm", NULL),
               1);
    adt_assert_has(cft_res.err, "hardware class vm: no profile and no runs");
    snprintf(want, sizeof(want), "known hardware classes: node-a (%s), gpu-* (%s)", S_FP_A, S_FP_G);
    adt_assert_has(cft_res.err, want);
    /* The JSON keeps the fingerprint: scripts match on it. */
    cft_expect(cft_cli("--home", home, "--json", "predict", "--model", "cnn", "--dataset",
                       "fashion-mnist", "--batch-size", "64", "--layout", "1,2,1", "--hardware",
                       "node-a", NULL),
               0);
    snprintf(want, sizeof(want), "\"hardware\": \"%s\"", S_FP_A);
    adt_assert_has(cft_res.out, want);
}

/* runs, speedup and baseline: a class of several nodes by its name or a node's; help says so. */
static void
test_hardware_filters(void **st)
{
    char home[300], db[400];
    ad_store_t *store = NULL;
    ad_err_t err = {0};
    ad_run_t run;

    (void)st;
    s_store_home(home, sizeof(home), "home-hw-filters");
    snprintf(db, sizeof(db), "%s/runs.db", home);
    assert_int_equal(ad_store_open(db, 0, &store, &err), 0);
    for (int i = 0; i < 3; i++) {
        ad_store_run_init(&run);
        run.model = "cnn";
        run.dataset = "fashion-mnist";
        run.hardware = i ? S_FP_G : S_FP_A;
        run.procs_per_node = i == 2 ? 2 : 1;
        run.batch_size = 64;
        run.state = AD_JOB_COMPLETED;
        run.samples_per_s = 100.0 * (i + 1);
        assert_int_equal(ad_store_add_run(store, &run, NULL), 0);
    }
    ad_store_close(&store);
    /* gpu-1 and gpu-2 share a class: the table calls it gpu-*, and either node selects it. */
    cft_expect(cft_cli("--home", home, "speedup", "--hardware", "gpu-1", NULL), 0);
    adt_assert_has(cft_res.out, "gpu-*");
    adt_assert_has(cft_res.out, "1x2x1");
    assert_null(strstr(cft_res.out, "node-a"));
    cft_expect(cft_cli("--home", home, "runs", "--csv", "--hardware", "gpu-*", NULL), 0);
    adt_assert_has(cft_res.out, S_FP_G);
    assert_null(strstr(cft_res.out, S_FP_A));
    cft_expect(cft_cli("--home", home, "baseline", NULL), 0);
    adt_assert_has(cft_res.out, "node-a");
    adt_assert_has(cft_res.out, "gpu-*");
    cft_expect(cft_cli("--home", home, "runs", "--where", "hardware = 'gpu-*' and layout = 1x1x1",
                       "--csv", NULL),
               0);
    assert_int_equal(strchr(strchr(cft_res.out, '\n') + 1, '\n')[1], '\0'); /* one run */
    for (int i = 0; i < 3; i++) {
        static const char *const cmds[] = {"runs", "speedup", "baseline"};

        cft_expect(cft_cli(cmds[i], "--help", NULL), 0);
        adt_assert_has(cft_res.out, "--hardware H");
    }
}

/* submit --set replaces keys, typed as in a file; `submit -` reads the job from stdin. */
static void
test_submit_set_stdin(void **st)
{
    static const char job[] = "name: base\nmodel: cnn\ndataset: synthetic\nsteps: 3\n"
                              "batch_size: 8\nlayout: {nodes: 1, procs_per_node: 1, "
                              "threads_per_proc: 1}\n";
    char path[300], home[300];
    json_t *opt, *layout;
    adt_sh_t r;
    fake_t f;

    (void)st;
    snprintf(path, sizeof(path), "%s/base.yaml", cft_tmp);
    snprintf(home, sizeof(home), "%s/home-set", cft_tmp);
    adt_write_file(path, job);
    s_fake_start(&f);
    cft_expect(cft_cli("--home", home, "--coordinator", f.ep, "submit", path, "--set",
                       "optimizer.lr=0.01", "--set", "layout=1x2x1", "--set", "epochs=1", "--set",
                       "name=tuned", NULL),
               0);
    adt_assert_has(cft_res.out, "submitted job 9 (tuned)");
    assert_non_null(f.submitted);
    opt = json_object_get(f.submitted, "optimizer");
    assert_true(fabs(json_number_value(json_object_get(opt, "lr")) - 0.01) < 1e-12);
    layout = json_object_get(f.submitted, "layout");
    assert_int_equal(json_integer_value(json_object_get(layout, "procs_per_node")), 2);
    /* epochs replaces steps, as in a sweep grid. */
    assert_int_equal(json_integer_value(json_object_get(f.submitted, "epochs")), 1);
    assert_null(json_object_get(f.submitted, "steps"));

    /* Errors name the key; an unknown one says which is close; nothing is sent. */
    json_decref(f.submitted);
    f.submitted = NULL;
    cft_expect(cft_cli("--home", home, "--coordinator", f.ep, "submit", path, "--set",
                       "optimizer.lr=fast", NULL),
               2);
    adt_assert_has(cft_res.err, "autodist: --set optimizer.lr=fast: optimizer.lr must be a "
                                "number from 1e-12 to 1e+06, got \"fast\"");
    cft_expect(
        cft_cli("--home", home, "--coordinator", f.ep, "submit", path, "--set", "procs=2", NULL),
        2);
    adt_assert_has(cft_res.err, "--set procs=2: unknown job key \"procs\" (did you mean "
                                "layout.procs_per_node?)");
    cft_expect(
        cft_cli("--home", home, "--coordinator", f.ep, "submit", path, "--set", "seed", NULL), 2);
    adt_assert_has(cft_res.err, "--set seed: expected KEY=VALUE");
    assert_null(f.submitted);

    /* stdin: the same job, and errors located in <stdin>. */
    r = adt_sh("%s --home %s --coordinator %s submit - --set seed=5 < %s", AD_CLI_BIN, home, f.ep,
               path);
    assert_int_equal(r.status, 0);
    adt_assert_has(r.out, "submitted job 9 (base)");
    assert_int_equal(json_integer_value(json_object_get(f.submitted, "seed")), 5);
    adt_sh_free(&r);
    r = adt_sh("printf 'name: x\\nmodel: cnn\\nbatch-size: 3\\n' | %s --home %s --coordinator %s "
               "submit -",
               AD_CLI_BIN, home, f.ep);
    assert_int_equal(r.status, 2);
    adt_assert_has(r.err, "autodist: <stdin>:3:1: unknown key \"batch-size\" (did you mean "
                          "batch_size?)");
    adt_sh_free(&r);
    s_fake_stop(&f);
}

/* sweep --set changes the base job; a grid key is refused. */
static void
test_sweep_set(void **st)
{
    static const char sweep[] = "name: sw\nbase: {model: cnn, dataset: synthetic, steps: 2, "
                                "batch_size: 8}\ngrid: {seed: [1, 2]}\n";
    char path[300], home[300];
    json_t *base;
    fake_t f;

    (void)st;
    snprintf(path, sizeof(path), "%s/sw.yaml", cft_tmp);
    snprintf(home, sizeof(home), "%s/home-sweep-set", cft_tmp);
    adt_write_file(path, sweep);
    s_fake_start(&f);
    cft_cli("--home", home, "--coordinator", f.ep, "sweep", path, "--no-wait", "--set", "epochs=1",
            "--set", "optimizer.lr=0.2", NULL);
    assert_non_null(f.submitted);
    base = json_object_get(f.submitted, "base");
    assert_int_equal(json_integer_value(json_object_get(base, "epochs")), 1);
    assert_null(json_object_get(base, "steps"));
    assert_true(fabs(json_number_value(json_object_get(json_object_get(base, "optimizer"), "lr")) -
                     0.2) < 1e-12);
    assert_non_null(json_object_get(json_object_get(f.submitted, "grid"), "seed"));
    cft_expect(
        cft_cli("--home", home, "--coordinator", f.ep, "sweep", path, "--set", "seed=3", NULL), 2);
    adt_assert_has(cft_res.err, "--set seed=3: seed is a grid key of sweep sw");
    cft_expect(cft_cli("--home", home, "--coordinator", f.ep, "sweep", path, "--set", "name=x",
                       NULL),
               2);
    adt_assert_has(cft_res.err, "--set name=x: a sweep's jobs are named <sweep>-<hash>-r<repeat>");
    cft_expect(cft_cli("--home", home, "sweep", "status", "--set", "seed=3", NULL), 2);
    adt_assert_has(cft_res.err, "--follow-interval and --set go with a sweep file");
    s_fake_stop(&f);
}

/* What bash completes for the words given (the last is the one being typed), in r. */
static void
s_complete(adt_sh_t *r, const char *words)
{
    *r = adt_sh("bash -c 'source %s/bash-completion/completions/autodist; COMP_WORDS=(%s); "
                "COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _autodist; echo \"[${COMPREPLY[*]}]\"'",
                AD_GEN_SHARE, words);
    assert_int_equal(r->status, 0);
}

/* The completion scripts and the man pages come from the help text, at build time. */
static void
test_completion_man(void **st)
{
    static const char *const cases[][2] = {
        {"autodist sub", "[submit]"},           {"autodist submit --fo", "[--follow-interval]"},
        {"autodist --home /tmp sw", "[sweep]"}, {"autodist sweep st", "[status]"},
        {"autodist keys r", "[revoke rotate]"}, {"autodist jobs --state CA", "[CANCELLED]"},
        {"autodist --pars", "[--parsable]"},    {"autodist completion \"\"", "[bash zsh]"},
    };
    adt_sh_t r;

    (void)st;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        s_complete(&r, cases[i][0]);
        adt_assert_has(r.out, cases[i][1]);
        adt_sh_free(&r);
    }
    /* The script autodist prints is the one installed. */
    r = adt_sh("%s completion bash | cmp - %s/bash-completion/completions/autodist", AD_CLI_BIN,
               AD_GEN_SHARE);
    assert_int_equal(r.status, 0);
    adt_sh_free(&r);
    cft_expect(cft_cli("completion", "zsh", NULL), 0);
    adt_assert_has(cft_res.out, "#compdef autodist\n");
    adt_assert_has(cft_res.out, "'submit:check a job file and queue it; --wait follows it to the "
                                "end'");
    adt_assert_has(cft_res.out, "    submit) opts=(--set --wait --hold --follow-interval --tag --note) subs=() ;;\n");
    cft_expect(cft_cli("completion", "fish", NULL), 2);
    adt_assert_has(cft_res.err, "completion: no script for \"fish\": bash or zsh");

    /* man renders the pages, with the options of the help text. */
    r = adt_sh("MANWIDTH=100 man -l %s/man/man1/autodist-submit.1 2>&1 | col -b", AD_GEN_SHARE);
    assert_int_equal(r.status, 0);
    adt_assert_has(r.out, "autodist-submit - check a job file and queue it");
    adt_assert_has(r.out, "SYNOPSIS");
    adt_assert_has(r.out, "--set KEY=VALUE");
    adt_assert_has(r.out, "GLOBAL OPTIONS");
    adt_assert_has(r.out, "--parsable");
    adt_sh_free(&r);
    r = adt_sh("MANWIDTH=100 man -l %s/man/man1/autodist.1 2>&1 | col -b", AD_GEN_SHARE);
    adt_assert_has(r.out, "EXIT STATUS");
    adt_assert_has(r.out, "autodist-sweep(1)");
    adt_sh_free(&r);
    cft_expect(cft_cli("help", "--man", "nosuch", NULL), 2);
    adt_assert_has(cft_res.err, "no command \"nosuch\"");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_did_you_mean),       cmocka_unit_test(test_parsable_nodes),
        cmocka_unit_test(test_cancelled_progress), cmocka_unit_test(test_hardware_names),
        cmocka_unit_test(test_hardware_filters),   cmocka_unit_test(test_submit_set_stdin),
        cmocka_unit_test(test_sweep_set),          cmocka_unit_test(test_completion_man),
    };

    if (cft_begin("ad_test_cli_ux"))
        return 1;
    return cft_end(cmocka_run_group_tests_name("cli-ux", tests, NULL, NULL));
}
