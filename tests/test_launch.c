/* test_launch.c - unit tests of ad_launch: hostfile, rankfile, mpirun argv, environment, checks */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ad_test.h"
#include "autodist/ad_launch.h"
#include "autodist/ad_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *s_tmp; /* this test's temp root */
static ad_home_t s_home;

static int
s_setup(void **state)
{
    ad_err_t err = {0};

    s_tmp = adt_root_make("test_launch");
    if (!s_tmp)
        return -1;
    ad_log_level = AD_LOG_ERROR;
    return ad_home_resolve(s_tmp, &s_home, &err);
}

static int
s_teardown(void **state)
{
    ad_home_clear(&s_home);
    return adt_root_remove();
}

/* A profile of sockets x cores_per_socket cores, two PUs each, with or without a core map. */
static ad_profile_t *
s_profile(const char *host, int sockets, int cores_per_socket, bool map)
{
    int cores = sockets * cores_per_socket;
    json_t *j = json_pack("{s:s, s:{s:s, s:i, s:i, s:i, s:i}, s:I}", "hostname", host, "cpu",
                          "model", "Test CPU", "sockets", sockets, "cores", cores, "pus", 2 * cores,
                          "numa_nodes", sockets, "memory_bytes", (json_int_t)(UINT64_C(16) << 30));
    json_t *cm = json_array();
    ad_profile_t *p = NULL;
    ad_err_t err = {0};

    for (int c = 0; c < cores; c++) {
        int s = c / cores_per_socket;

        json_array_append_new(cm, json_pack("{s:i, s:i, s:i, s:[i, i]}", "core", c, "socket", s,
                                            "numa", s, "pus", c, c + cores));
    }
    if (map)
        json_object_set_new(j, "core_map", cm);
    else
        json_decref(cm);
    if (ad_profile_from_json(j, &p, &err))
        fail_msg("%s", err.msg);
    json_decref(j);
    return p;
}

static void
s_job(ad_job_t *job, const char *layout)
{
    char text[512];
    ad_err_t err = {0};

    snprintf(text, sizeof(text),
             "name: launch-test\nmodel: cnn\ndataset: fashion-mnist\nbatch_size: 64\n"
             "steps: 10\nlayout: %s\n",
             layout);
    if (ad_job_parse_string(text, "job", job, &err))
        fail_msg("%s", err.msg);
}

/* Index of the first argv entry equal to s, or -1. */
static int
s_find(char **argv, const char *s)
{
    for (int i = 0; argv[i]; i++)
        if (!strcmp(argv[i], s))
            return i;
    return -1;
}

static void
s_assert_opt(char **argv, const char *opt, const char *value)
{
    for (int i = 0; argv[i] && argv[i + 1]; i++)
        if (!strcmp(argv[i], opt) && !strcmp(argv[i + 1], value))
            return;
    fail_msg("expected \"%s %s\" in the command line", opt, value);
}

static void
s_assert_mca(char **argv, const char *key, const char *value)
{
    for (int i = 0; argv[i] && argv[i + 1] && argv[i + 2]; i++)
        if (!strcmp(argv[i], "--mca") && !strcmp(argv[i + 1], key) && !strcmp(argv[i + 2], value))
            return;
    fail_msg("expected \"--mca %s %s\" in the command line", key, value);
}

/* 2 nodes x 4 cores, 2 ranks x 2 threads each: files, command line, environment. */
static void
test_two_small_nodes(void **state)
{
    ad_profile_t *p1 = s_profile("n1", 1, 4, true), *p2 = s_profile("n2", 1, 4, true);
    ad_launch_node_t nodes[] = {{"n1", "node-1", p1}, {"n2", "10.0.0.2", p2}};
    ad_launch_spec_t spec = {.job_id = "42",
                             .nodes = nodes,
                             .n_nodes = 2,
                             .home = &s_home,
                             .trainer = "/opt/autodist/bin/autodist-train"};
    ad_launch_plan_t *plan = NULL;
    ad_err_t err = {0};
    ad_job_t job;
    char **argv, **env, *text, path[256];
    int argc, i;
    struct stat st;

    s_job(&job, "{nodes: 2, procs_per_node: 2, threads_per_proc: 2}");
    spec.job = &job;
    if (ad_launch_plan_new(&spec, &plan, &err))
        fail_msg("%s", err.msg);
    assert_true(ad_launch_plan_bound(plan));
    assert_int_equal(ad_launch_plan_nprocs(plan), 4);
    assert_int_equal(ad_launch_plan_threads(plan), 2);
    assert_int_equal(ad_launch_write_files(plan, &err), 0);

    snprintf(path, sizeof(path), "%s/logs/42/hostfile", s_tmp);
    assert_string_equal(ad_launch_plan_hostfile(plan), path);
    text = adt_slurp(path, NULL);
    assert_string_equal(text, "node-1 slots=2\n10.0.0.2 slots=2\n");
    free(text);
    snprintf(path, sizeof(path), "%s/logs/42/rankfile", s_tmp);
    assert_string_equal(ad_launch_plan_rankfile(plan), path);
    text = adt_slurp(path, NULL);
    assert_string_equal(text, "rank 0=node-1 slot=0:0-1\n"
                              "rank 1=node-1 slot=0:2-3\n"
                              "rank 2=10.0.0.2 slot=0:0-1\n"
                              "rank 3=10.0.0.2 slot=0:2-3\n");
    free(text);
    snprintf(path, sizeof(path), "%s/checkpoints/42", s_tmp);
    assert_string_equal(ad_launch_plan_checkpoint_dir(plan), path);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    snprintf(path, sizeof(path), "%s/logs/42/output.log", s_tmp);
    assert_string_equal(ad_launch_plan_output(plan), path);

    argv = ad_launch_argv(plan, &argc);
    assert_string_equal(argv[0], "mpirun");
    /* mpirun is not quiet: its message about a rank that died is the job's reason. */
    assert_int_equal(s_find(argv, "-q"), -1);
    assert_null(argv[argc]);
    s_assert_opt(argv, "-np", "4");
    s_assert_opt(argv, "--hostfile", ad_launch_plan_hostfile(plan));
    s_assert_opt(argv, "--rankfile", ad_launch_plan_rankfile(plan));
    s_assert_opt(argv, "-x", "OMP_NUM_THREADS=2");
    s_assert_opt(argv, "-x", "AUTODIST_JOB=42");
    assert_int_equal(s_find(argv, "--bind-to"), -1);
    assert_int_equal(s_find(argv, "--oversubscribe"), -1);
    /* The one --mca every launch has (docs/launcher.md); no transport options. */
    assert_int_equal(s_find(argv, "--mca"), s_find(argv, "rtc_hwloc_vmhole") - 1);
    s_assert_mca(argv, "rtc_hwloc_vmhole", "none");
    assert_int_equal(s_find(argv, "btl"), -1);
    assert_int_equal(s_find(argv, "plm_rsh_agent"), -1);
    assert_int_equal(s_find(argv, "--report"), -1);
    assert_int_equal(s_find(argv, "--resume"), -1);
    /* mpirun's options, then the trainer and its options. */
    i = s_find(argv, "/opt/autodist/bin/autodist-train");
    assert_true(i > s_find(argv, "-x"));
    assert_string_equal(argv[i + 1], "--model");
    assert_string_equal(argv[i + 2], "cnn");
    assert_true(s_find(argv, "--steps") > i);
    s_assert_opt(argv, "--steps", "10");
    s_assert_opt(argv, "--batch-size", "64");
    s_assert_opt(argv, "--threads", "2");
    s_assert_opt(argv, "--metrics", ad_launch_plan_metrics(plan));
    s_assert_opt(argv, "--checkpoint", ad_launch_plan_checkpoint_dir(plan));
    assert_non_null(strstr(ad_launch_plan_metrics(plan), "/logs/42/metrics.jsonl"));
    ad_launch_argv_free(&argv);
    assert_null(argv);

    env = ad_launch_env(plan);
    assert_int_not_equal(s_find(env, "OMP_NUM_THREADS=2"), -1);
    assert_int_not_equal(s_find(env, "AUTODIST_JOB=42"), -1);
    assert_int_equal(s_find(env, "OMPI_ALLOW_RUN_AS_ROOT=1"), -1);
    ad_launch_argv_free(&env);

    ad_launch_plan_free(&plan);
    assert_null(plan);
    ad_launch_plan_free(&plan);
    ad_job_clear(&job);
    ad_profile_free(&p1);
    ad_profile_free(&p2);
}

/* 2 nodes x 2 sockets x 8 cores: ranks stay within a socket. */
static void
test_two_sockets(void **state)
{
    ad_profile_t *p1 = s_profile("a", 2, 8, true), *p2 = s_profile("b", 2, 8, true);
    ad_launch_node_t nodes[] = {{"a", "a", p1}, {"b", "b", p2}};
    ad_launch_spec_t spec = {
        .job_id = "j2", .nodes = nodes, .n_nodes = 2, .home = &s_home, .trainer = "autodist-train"};
    ad_launch_plan_t *plan = NULL;
    ad_err_t err = {0};
    ad_job_t job;
    char *text;

    s_job(&job, "{nodes: 2, procs_per_node: 2, threads_per_proc: 2}");
    spec.job = &job;
    assert_int_equal(ad_launch_plan_new(&spec, &plan, &err), 0);
    text = ad_launch_rankfile_text(plan);
    assert_string_equal(text, "rank 0=a slot=0:0-1\nrank 1=a slot=0:2-3\n"
                              "rank 2=b slot=0:0-1\nrank 3=b slot=0:2-3\n");
    free(text);
    text = ad_launch_hostfile_text(plan);
    assert_string_equal(text, "a slots=2\nb slots=2\n");
    free(text);
    ad_launch_plan_free(&plan);
    ad_job_clear(&job);

    /* 3 ranks x 5 threads: 8-core sockets hold one each, so the ranks run on across sockets. */
    s_job(&job, "{nodes: 2, procs_per_node: 3, threads_per_proc: 5}");
    spec.job = &job;
    assert_int_equal(ad_launch_plan_new(&spec, &plan, &err), 0);
    text = ad_launch_rankfile_text(plan);
    assert_string_equal(text, "rank 0=a slot=0:0-4\nrank 1=a slot=0:5-7,1:0-1\n"
                              "rank 2=a slot=1:2-6\nrank 3=b slot=0:0-4\n"
                              "rank 4=b slot=0:5-7,1:0-1\nrank 5=b slot=1:2-6\n");
    free(text);
    ad_launch_plan_free(&plan);
    ad_job_clear(&job);

    /* 4 ranks x 4 threads: two per socket. */
    s_job(&job, "{nodes: 2, procs_per_node: 4, threads_per_proc: 4}");
    spec.job = &job;
    assert_int_equal(ad_launch_plan_new(&spec, &plan, &err), 0);
    text = ad_launch_rankfile_text(plan);
    assert_string_equal(text, "rank 0=a slot=0:0-3\nrank 1=a slot=0:4-7\n"
                              "rank 2=a slot=1:0-3\nrank 3=a slot=1:4-7\n"
                              "rank 4=b slot=0:0-3\nrank 5=b slot=0:4-7\n"
                              "rank 6=b slot=1:0-3\nrank 7=b slot=1:4-7\n");
    free(text);
    ad_launch_plan_free(&plan);
    ad_job_clear(&job);
    ad_profile_free(&p1);
    ad_profile_free(&p2);
}

/* More ranks x threads than cores: no rankfile, --oversubscribe --bind-to none. */
static void
test_oversubscribed(void **state)
{
    ad_profile_t *p1 = s_profile("n1", 1, 4, true), *p2 = s_profile("n2", 1, 4, true);
    ad_launch_node_t nodes[] = {{"n1", "h1", p1}, {"n2", "h2", p2}};
    ad_launch_spec_t spec = {.job_id = "over",
                             .nodes = nodes,
                             .n_nodes = 2,
                             .home = &s_home,
                             .trainer = "autodist-train"};
    ad_launch_plan_t *plan = NULL;
    ad_err_t err = {0};
    ad_job_t job;
    char **argv, path[256];

    /* A stale rankfile from an earlier attempt must go. */
    snprintf(path, sizeof(path), "%s/logs/over", s_tmp);
    assert_int_equal(mkdir(path, 0755) == 0 || access(path, F_OK) == 0, 1);
    snprintf(path, sizeof(path), "%s/logs/over/rankfile", s_tmp);
    fclose(fopen(path, "w"));

    s_job(&job, "{nodes: 2, procs_per_node: 3, threads_per_proc: 2}");
    spec.job = &job;
    assert_int_equal(ad_launch_plan_new(&spec, &plan, &err), 0);
    assert_false(ad_launch_plan_bound(plan));
    assert_null(ad_launch_plan_rankfile(plan));
    assert_null(ad_launch_rankfile_text(plan));
    assert_int_equal(ad_launch_write_files(plan, &err), 0);
    assert_int_equal(access(path, F_OK), -1);
    argv = ad_launch_argv(plan, NULL);
    s_assert_opt(argv, "-np", "6");
    s_assert_opt(argv, "--bind-to", "none");
    assert_int_not_equal(s_find(argv, "--oversubscribe"), -1);
    assert_int_equal(s_find(argv, "--rankfile"), -1);
    s_assert_opt(argv, "-x", "OMP_NUM_THREADS=2");
    ad_launch_argv_free(&argv);
    ad_launch_plan_free(&plan);
    ad_job_clear(&job);
    ad_profile_free(&p1);
    ad_profile_free(&p2);
}

/* A node without a core map (or without a profile): unbound, but not oversubscribed. */
static void
test_no_core_map(void **state)
{
    ad_profile_t *p1 = s_profile("n1", 1, 4, true), *p2 = s_profile("n2", 1, 4, false);
    ad_launch_node_t nodes[] = {{"n1", "h1", p1}, {"n2", "h2", p2}};
    ad_launch_spec_t spec = {.job_id = "nomap",
                             .nodes = nodes,
                             .n_nodes = 2,
                             .home = &s_home,
                             .trainer = "autodist-train"};
    ad_launch_plan_t *plan = NULL;
    ad_err_t err = {0};
    ad_job_t job;
    char **argv;

    s_job(&job, "{nodes: 2, procs_per_node: 2, threads_per_proc: 1}");
    spec.job = &job;
    assert_int_equal(ad_launch_plan_new(&spec, &plan, &err), 0);
    assert_false(ad_launch_plan_bound(plan));
    argv = ad_launch_argv(plan, NULL);
    s_assert_opt(argv, "--bind-to", "none");
    assert_int_equal(s_find(argv, "--oversubscribe"), -1);
    ad_launch_argv_free(&argv);
    ad_launch_plan_free(&plan);

    nodes[1].profile = NULL;
    assert_int_equal(ad_launch_plan_new(&spec, &plan, &err), 0);
    assert_false(ad_launch_plan_bound(plan));
    ad_launch_plan_free(&plan);
    ad_job_clear(&job);
    ad_profile_free(&p1);
    ad_profile_free(&p2);
}

/* Transport options: sandbox, network namespaces, report, extra environment, root, resume. */
static void
test_transport(void **state)
{
    ad_profile_t *p = s_profile("n1", 1, 4, true);
    const char *extra[] = {"NCCL_DEBUG=INFO", "AUTODIST_COMM=mpi", NULL};
    ad_launch_node_t nodes[] = {{"n1", "10.77.0.2", p}, {"n2", "10.77.0.3", p}};
    ad_launch_spec_t spec = {.job_id = "net",
                             .nodes = nodes,
                             .n_nodes = 2,
                             .home = &s_home,
                             .trainer = "autodist-train",
                             .mpirun = "/usr/bin/mpirun",
                             .resume = true,
                             .transport = {.single_copy_off = true,
                                           .allow_root = true,
                                           .oversubscribe = true,
                                           .rsh_agent = "/tmp/netns-rsh",
                                           .tcp_subnet = "10.77.0.0/24",
                                           .report = "tcp://10.77.0.1:7400",
                                           .env = extra}};
    ad_launch_plan_t *plan = NULL;
    ad_err_t err = {0};
    ad_job_t job;
    char **argv, **env;

    s_job(&job, "auto");
    spec.job = &job;
    spec.procs_per_node = 1;
    spec.threads_per_proc = 3;
    assert_int_equal(ad_launch_plan_new(&spec, &plan, &err), 0);
    assert_true(ad_launch_plan_bound(plan));
    argv = ad_launch_argv(plan, NULL);
    assert_string_equal(argv[0], "/usr/bin/mpirun");
    assert_int_not_equal(s_find(argv, "--oversubscribe"), -1);
    s_assert_mca(argv, "btl_vader_single_copy_mechanism", "none");
    s_assert_mca(argv, "rtc_hwloc_vmhole", "none");
    s_assert_mca(argv, "plm_rsh_agent", "/tmp/netns-rsh");
    s_assert_mca(argv, "btl", "self,tcp");
    s_assert_mca(argv, "btl_tcp_if_include", "10.77.0.0/24");
    s_assert_mca(argv, "oob_tcp_if_include", "10.77.0.0/24");
    s_assert_opt(argv, "-x", "OMP_NUM_THREADS=3");
    s_assert_opt(argv, "-x", "NCCL_DEBUG=INFO");
    s_assert_opt(argv, "-x", "AUTODIST_COMM=mpi");
    s_assert_opt(argv, "--threads", "3");
    s_assert_opt(argv, "--report", "tcp://10.77.0.1:7400");
    s_assert_opt(argv, "--job", "net");
    assert_true(s_find(argv, "--resume") > s_find(argv, "autodist-train"));
    assert_true(s_find(argv, "--report") > s_find(argv, "autodist-train"));
    ad_launch_argv_free(&argv);
    env = ad_launch_env(plan);
    assert_int_not_equal(s_find(env, "OMPI_ALLOW_RUN_AS_ROOT=1"), -1);
    assert_int_not_equal(s_find(env, "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"), -1);
    assert_int_not_equal(s_find(env, "OMP_NUM_THREADS=3"), -1);
    assert_int_not_equal(s_find(env, "NCCL_DEBUG=INFO"), -1);
    ad_launch_argv_free(&env);
    ad_launch_plan_free(&plan);
    ad_job_clear(&job);
    ad_profile_free(&p);
}

/* Bad plans are refused with a message that names the problem. */
static void
test_bad_plans(void **state)
{
    ad_profile_t *p = s_profile("n1", 1, 4, true);
    const char *bad_env[] = {"NOEQUALS", NULL};
    ad_launch_node_t nodes[] = {{"n1", "h1", p}, {"n2", "h2", p}};
    ad_launch_node_t dup[] = {{"n1", "h1", p}, {"n2", "h1", p}};
    ad_launch_node_t blank[] = {{"n1", "h1", p}, {"n2", "bad host", p}};
    ad_launch_spec_t base = {.job_id = "bad",
                             .nodes = nodes,
                             .n_nodes = 2,
                             .home = &s_home,
                             .trainer = "autodist-train"};
    ad_launch_spec_t spec;
    ad_launch_plan_t *plan = NULL;
    ad_err_t err = {0};
    ad_job_t job, autojob;

    s_job(&job, "{nodes: 2, procs_per_node: 2, threads_per_proc: 1}");
    s_job(&autojob, "auto");
    base.job = &job;

    spec = base;
    spec.n_nodes = 0;
    assert_int_equal(ad_launch_plan_new(&spec, &plan, &err), AD_EINVAL);
    adt_assert_has(err.msg, "no nodes given");
    assert_null(plan);

    spec = base;
    spec.n_nodes = 1;
    assert_int_equal(ad_launch_plan_new(&spec, &plan, &err), AD_EINVAL);
    adt_assert_has(err.msg, "layout asks for 2 nodes, 1 given");

    spec = base;
    spec.procs_per_node = 3;
    assert_int_equal(ad_launch_plan_new(&spec, &plan, &err), AD_EINVAL);
    adt_assert_has(err.msg, "procs_per_node 3 does not match its layout's 2");

    spec = base;
    spec.threads_per_proc = 4;
    assert_int_equal(ad_launch_plan_new(&spec, &plan, &err), AD_EINVAL);
    adt_assert_has(err.msg, "threads_per_proc 4 does not match its layout's 1");

    spec = base;
    spec.job = &autojob;
    assert_int_equal(ad_launch_plan_new(&spec, &plan, &err), AD_EINVAL);
    adt_assert_has(err.msg, "auto layout");

    spec = base;
    spec.job = &autojob;
    spec.procs_per_node = 1;
    spec.threads_per_proc = -2;
    assert_int_equal(ad_launch_plan_new(&spec, &plan, &err), AD_EINVAL);
    adt_assert_has(err.msg, "auto layout");

    spec = base;
    spec.nodes = dup;
    assert_int_equal(ad_launch_plan_new(&spec, &plan, &err), AD_EINVAL);
    adt_assert_has(err.msg, "host h1 given for nodes n1 and n2");

    spec = base;
    spec.nodes = blank;
    assert_int_equal(ad_launch_plan_new(&spec, &plan, &err), AD_EINVAL);
    adt_assert_has(err.msg, "node n2: bad host \"bad host\"");

    spec = base;
    spec.job_id = "../etc";
    assert_int_equal(ad_launch_plan_new(&spec, &plan, &err), AD_EINVAL);
    adt_assert_has(err.msg, "job id \"../etc\"");

    spec = base;
    spec.transport.env = bad_env;
    assert_int_equal(ad_launch_plan_new(&spec, &plan, &err), AD_EINVAL);
    adt_assert_has(err.msg, "\"NOEQUALS\" is not KEY=VALUE");
    assert_null(plan);

    ad_job_clear(&job);
    ad_job_clear(&autojob);
    ad_profile_free(&p);
}

/* A folder can't be made where a file is: the error names the path. */
static void
test_write_error(void **state)
{
    ad_profile_t *p = s_profile("n1", 1, 4, true);
    ad_launch_node_t nodes[] = {{"n1", "h1", p}};
    ad_launch_spec_t spec = {.job_id = "blocked",
                             .nodes = nodes,
                             .n_nodes = 1,
                             .home = &s_home,
                             .trainer = "autodist-train"};
    ad_launch_plan_t *plan = NULL;
    ad_err_t err = {0};
    ad_job_t job;
    char path[256];

    snprintf(path, sizeof(path), "%s/checkpoints", s_tmp);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/checkpoints/blocked", s_tmp);
    fclose(fopen(path, "w"));
    s_job(&job, "{nodes: 1, procs_per_node: 1, threads_per_proc: 1}");
    spec.job = &job;
    assert_int_equal(ad_launch_plan_new(&spec, &plan, &err), 0);
    assert_int_equal(ad_launch_write_files(plan, &err), -ENOTDIR);
    adt_assert_has(err.msg, "checkpoints/blocked: not a folder");
    ad_launch_plan_free(&plan);
    ad_job_clear(&job);
    ad_profile_free(&p);
}

/* The generated files are accepted by the real mpirun on this machine (skipped without it). */
static void
test_mpirun_localhost(void **state)
{
    long ncores = sysconf(_SC_NPROCESSORS_ONLN);
    ad_profile_t *p = s_profile("local", 1, 2, true);
    ad_launch_node_t nodes[] = {{"local", "localhost", p}};
    ad_launch_spec_t spec = {.job_id = "mpi",
                             .nodes = nodes,
                             .n_nodes = 1,
                             .home = &s_home,
                             .trainer = "/bin/true",
                             .transport = {.single_copy_off = true, .allow_root = true}};
    ad_launch_plan_t *plan = NULL;
    ad_err_t err = {0};
    ad_job_t job;
    char **argv, **env;
    pid_t pid;
    int status;

    if (ncores < 2 || system("command -v mpirun >/dev/null 2>&1") != 0) {
        ad_profile_free(&p);
        skip();
    }
    s_job(&job, "{nodes: 1, procs_per_node: 2, threads_per_proc: 1}");
    spec.job = &job;
    assert_int_equal(ad_launch_plan_new(&spec, &plan, &err), 0);
    assert_true(ad_launch_plan_bound(plan));
    assert_int_equal(ad_launch_write_files(plan, &err), 0);
    argv = ad_launch_argv(plan, NULL);
    env = ad_launch_env(plan);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        for (char **e = env; *e; e++)
            putenv(*e);
        freopen(ad_launch_plan_output(plan), "w", stdout);
        dup2(1, 2);
        alarm(60);
        execvp(argv[0], argv);
        _exit(127);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char *text = adt_slurp(ad_launch_plan_output(plan), NULL);

        fail_msg("mpirun failed (status %d): %s", status, text);
    }
    ad_launch_argv_free(&argv);
    ad_launch_argv_free(&env);
    ad_launch_plan_free(&plan);
    ad_job_clear(&job);
    ad_profile_free(&p);
}

/*
 * A synthetic topology: sockets x numa_per_socket NUMA nodes x cores_per_numa
 * cores, smt PUs per core.  interleave numbers the cores round-robin over the
 * sockets (core i on socket i % sockets), as some firmware does; otherwise
 * socket by socket.
 */
static ad_profile_t *
s_topology(const char *host, int sockets, int numa_per_socket, int cores_per_numa, int smt,
           bool interleave)
{
    int per_socket = numa_per_socket * cores_per_numa, cores = sockets * per_socket;
    json_t *j = json_pack("{s:s, s:{s:s, s:i, s:i, s:i, s:i}, s:I}", "hostname", host, "cpu",
                          "model", "Synthetic CPU", "sockets", sockets, "cores", cores, "pus",
                          smt * cores, "numa_nodes", sockets * numa_per_socket, "memory_bytes",
                          (json_int_t)(UINT64_C(64) << 30));
    json_t *cm = json_array();
    ad_profile_t *p = NULL;
    ad_err_t err = {0};

    for (int c = 0; c < cores; c++) {
        int s = interleave ? c % sockets : c / per_socket;
        int in_socket = interleave ? c / sockets : c % per_socket;
        json_t *pus = json_array();

        for (int t = 0; t < smt; t++)
            json_array_append_new(pus, json_integer(c + t * cores));
        json_array_append_new(cm, json_pack("{s:i, s:i, s:i, s:o}", "core", c, "socket", s, "numa",
                                            s * numa_per_socket + in_socket / cores_per_numa, "pus",
                                            pus));
    }
    json_object_set_new(j, "core_map", cm);
    if (ad_profile_from_json(j, &p, &err))
        fail_msg("%s", err.msg);
    json_decref(j);
    return p;
}

/*
 * The rankfile of a layout on the given nodes, and the threads per rank the
 * environment sets (OMP_NUM_THREADS) checked against the layout's.
 */
static char *
s_rankfile(ad_launch_node_t *nodes, size_t n_nodes, const char *layout, int threads)
{
    ad_launch_spec_t spec = {.job_id = "topo",
                             .nodes = nodes,
                             .n_nodes = n_nodes,
                             .home = &s_home,
                             .trainer = "autodist-train"};
    ad_launch_plan_t *plan = NULL;
    ad_err_t err = {0};
    char omp[32], **env, *text;
    ad_job_t job;

    s_job(&job, layout);
    spec.job = &job;
    if (ad_launch_plan_new(&spec, &plan, &err))
        fail_msg("%s: %s", layout, err.msg);
    text = ad_launch_rankfile_text(plan);
    assert_non_null(text);
    env = ad_launch_env(plan);
    snprintf(omp, sizeof(omp), "OMP_NUM_THREADS=%d", threads);
    assert_int_not_equal(s_find(env, omp), -1);
    ad_launch_argv_free(&env);
    ad_launch_plan_free(&plan);
    ad_job_clear(&job);
    return text;
}

#define assert_rankfile(nodes, n, layout, threads, want)                                           \
    do {                                                                                           \
        char *got_ = s_rankfile((nodes), (n), (layout), (threads));                                \
                                                                                                   \
        assert_string_equal(got_, (want));                                                         \
        free(got_);                                                                                \
    } while (0)

/* Two sockets of 12 cores with 2-way SMT: ranks stay in a socket, threads on cores, not PUs. */
static void
test_topo_two_sockets_smt(void **state)
{
    ad_profile_t *p = s_topology("a", 2, 1, 12, 2, false);
    ad_launch_node_t nodes[] = {{"a", "a", p}};

    /* One rank per socket, a thread per core (12, not the socket's 24 PUs). */
    assert_rankfile(nodes, 1, "{nodes: 1, procs_per_node: 2, threads_per_proc: 12}", 12,
                    "rank 0=a slot=0:0-11\nrank 1=a slot=1:0-11\n");
    /* Two ranks per socket: halves of it. */
    assert_rankfile(nodes, 1, "{nodes: 1, procs_per_node: 4, threads_per_proc: 6}", 6,
                    "rank 0=a slot=0:0-5\nrank 1=a slot=0:6-11\n"
                    "rank 2=a slot=1:0-5\nrank 3=a slot=1:6-11\n");
    /* 8 threads: one rank per socket fits, the rest of each socket stays idle. */
    assert_rankfile(nodes, 1, "{nodes: 1, procs_per_node: 2, threads_per_proc: 8}", 8,
                    "rank 0=a slot=0:0-7\nrank 1=a slot=1:0-7\n");
    /* One rank of 24 threads: every core of both sockets, in map order. */
    assert_rankfile(nodes, 1, "{nodes: 1, procs_per_node: 1, threads_per_proc: 24}", 24,
                    "rank 0=a slot=0:0-11,1:0-11\n");
    ad_profile_free(&p);
}

/* One socket of four NUMA nodes of 8 cores (NPS4): a rank of 8 threads per NUMA node. */
static void
test_topo_four_numa(void **state)
{
    ad_profile_t *p = s_topology("n", 1, 4, 8, 2, false);
    ad_launch_node_t nodes[] = {{"n", "n", p}};
    char *text;

    assert_int_equal(ad_profile_core(p, 17)->numa, 2);
    text = s_rankfile(nodes, 1, "{nodes: 1, procs_per_node: 4, threads_per_proc: 8}", 8);
    assert_string_equal(text, "rank 0=n slot=0:0-7\nrank 1=n slot=0:8-15\n"
                              "rank 2=n slot=0:16-23\nrank 3=n slot=0:24-31\n");
    free(text);
    /* Two sockets of two NUMA nodes each: still one NUMA node per rank. */
    ad_profile_free(&p);
    p = s_topology("n", 2, 2, 8, 1, false);
    nodes[0].profile = p;
    assert_rankfile(nodes, 1, "{nodes: 1, procs_per_node: 4, threads_per_proc: 8}", 8,
                    "rank 0=n slot=0:0-7\nrank 1=n slot=0:8-15\n"
                    "rank 2=n slot=1:0-7\nrank 3=n slot=1:8-15\n");
    ad_profile_free(&p);
}

/* 64 cores: one socket, and two sockets numbered round-robin; mixed nodes in one job. */
static void
test_topo_64_cores(void **state)
{
    ad_profile_t *one = s_topology("big", 1, 1, 64, 2, false);
    ad_profile_t *rr = s_topology("rr", 2, 1, 32, 2, true);
    ad_profile_t *small = s_topology("small", 2, 1, 12, 2, false);
    ad_launch_node_t nodes[] = {{"big", "big", one}};
    ad_launch_node_t mixed[] = {{"small", "small", small}, {"big", "big", one}};
    char *text;

    assert_rankfile(nodes, 1, "{nodes: 1, procs_per_node: 8, threads_per_proc: 8}", 8,
                    "rank 0=big slot=0:0-7\nrank 1=big slot=0:8-15\n"
                    "rank 2=big slot=0:16-23\nrank 3=big slot=0:24-31\n"
                    "rank 4=big slot=0:32-39\nrank 5=big slot=0:40-47\n"
                    "rank 6=big slot=0:48-55\nrank 7=big slot=0:56-63\n");
    /* 64 single-thread ranks: one core each, the last on core 63. */
    text = s_rankfile(nodes, 1, "{nodes: 1, procs_per_node: 64, threads_per_proc: 1}", 1);
    assert_non_null(strstr(text, "rank 0=big slot=0:0\n"));
    assert_non_null(strstr(text, "rank 31=big slot=0:31\n"));
    assert_non_null(strstr(text, "\nrank 63=big slot=0:63\n"));
    free(text);
    /* Round-robin numbering: socket 1's cores are the odd ones, each socket still whole. */
    nodes[0] = (ad_launch_node_t){"rr", "rr", rr};
    assert_rankfile(nodes, 1, "{nodes: 1, procs_per_node: 2, threads_per_proc: 32}", 32,
                    "rank 0=rr slot=0:0-31\nrank 1=rr slot=1:0-31\n");
    assert_rankfile(nodes, 1, "{nodes: 1, procs_per_node: 4, threads_per_proc: 16}", 16,
                    "rank 0=rr slot=0:0-15\nrank 1=rr slot=0:16-31\n"
                    "rank 2=rr slot=1:0-15\nrank 3=rr slot=1:16-31\n");
    /* Each node binds by its own topology: a socket each on the small one. */
    assert_rankfile(mixed, 2, "{nodes: 2, procs_per_node: 2, threads_per_proc: 8}", 8,
                    "rank 0=small slot=0:0-7\nrank 1=small slot=1:0-7\n"
                    "rank 2=big slot=0:0-7\nrank 3=big slot=0:8-15\n");
    ad_profile_free(&small);
    ad_profile_free(&rr);
    ad_profile_free(&one);
}

/* The trainer's options of a job file (moved here from test_job.c with the function). */
static void
test_trainer_argv(void **state)
{
    static const char want[] = "--model resnet18 --dataset synthetic --input-shape 3x64x64 "
                               "--classes 100 --samples 20000 --batch-size 512 --steps 500 "
                               "--threads 2 --optimizer sgd --lr 0.1 --momentum 0.85 "
                               "--weight-decay 0.0005 --seed 42 --device auto --eval "
                               "--checkpoint-every 100 --bucket-mb 4";
    char got[1024] = "";
    size_t n = 0;
    ad_job_t job;
    ad_err_t err = {0};
    char **argv;
    int i;

    assert_int_equal(ad_job_parse_file(AD_SOURCE_DIR "/tests/jobs/good-full.yaml", &job, &err), 0);
    argv = ad_launch_trainer_argv(&job, 0);
    for (i = 0; argv[i]; i++)
        n += (size_t)snprintf(got + n, sizeof(got) - n, "%s%s", i ? " " : "", argv[i]);
    assert_string_equal(got, want);
    ad_launch_argv_free(&argv);
    assert_null(argv);
    ad_launch_argv_free(&argv);
    /* A planner's thread count wins over the file's. */
    argv = ad_launch_trainer_argv(&job, 7);
    assert_string_equal(argv[15], "7");
    ad_launch_argv_free(&argv);
    ad_job_clear(&job);

    assert_int_equal(
        ad_job_parse_file(AD_SOURCE_DIR "/tests/jobs/good-imagefolder.yaml", &job, &err), 0);
    argv = ad_launch_trainer_argv(&job, 0);
    assert_string_equal(argv[3], "imagefolder");
    assert_string_equal(argv[4], "--data-dir");
    assert_string_equal(argv[5], AD_SOURCE_DIR "/tests/jobs/photos");
    assert_string_equal(argv[6], "--image-size");
    assert_string_equal(argv[7], "96");
    for (i = 0; argv[i]; i++)
        assert_string_not_equal(argv[i], "--momentum");
    ad_launch_argv_free(&argv);
    ad_job_clear(&job);
}

/* ad_launch_reason() on what mpirun 4 writes when a rank dies, fails or all is quiet. */
static void
test_reason(void **state)
{
    char path[512], buf[600];

    (void)state;
    adt_fresh_path(path, sizeof(path), "killed", ".log");
    adt_write_file(path, "step 10\n"
                         "------------------------------------------------------------------\n"
                         "Primary job  terminated normally, but 1 process returned\n"
                         "a non-zero exit code. Per user-direction, the job has been aborted.\n"
                         "------------------------------------------------------------------\n"
                         "------------------------------------------------------------------\n"
                         "mpirun noticed that process rank 1 with PID 0 on node n2 exited on "
                         "signal 9 (Killed).\n"
                         "------------------------------------------------------------------\n");
    ad_launch_reason(path, 137, buf, sizeof(buf));
    assert_string_equal(buf, "exit 137: rank 1 on node n2 killed by signal 9 (Killed)");

    adt_fresh_path(path, sizeof(path), "status", ".log");
    adt_write_file(path, "autodist-train: error: bad thing\n"
                         "------------------------------------------------------------------\n"
                         "mpirun detected that one or more processes exited with non-zero "
                         "status, thus causing\nthe job to be terminated. The first process to "
                         "do so was:\n\n  Process name: [[25073,1],1]\n  Exit code:    4\n"
                         "------------------------------------------------------------------\n");
    ad_launch_reason(path, 4, buf, sizeof(buf));
    assert_string_equal(buf, "exit 4: autodist-train: error: bad thing (rank 1 exited first)");

    adt_fresh_path(path, sizeof(path), "plain", ".log");
    adt_write_file(path, "first\nautodist-train: cannot read x\n\n");
    ad_launch_reason(path, 2, buf, sizeof(buf));
    assert_string_equal(buf, "exit 2: autodist-train: cannot read x");

    adt_fresh_path(path, sizeof(path), "empty", ".log");
    adt_write_file(path, "");
    ad_launch_reason(path, 1, buf, sizeof(buf));
    assert_true(strstr(buf, "exit 1 (see ") == buf);
    ad_launch_reason("/nonexistent/output.log", 1, buf, sizeof(buf));
    assert_string_equal(buf, "exit 1 (see /nonexistent/output.log)");
}

/*
 * A distilled job: the trainer gets the teacher's folder, temperature and alpha; a teacher
 * whose checkpoint is gone (or a run id never resolved) fails the plan with its name.
 */
static void
test_distill(void **state)
{
    ad_launch_node_t nodes[] = {{"n1", "node-1", NULL}};
    ad_launch_spec_t spec = {
        .job_id = "9", .nodes = nodes, .n_nodes = 1, .home = &s_home, .trainer = "t"};
    ad_launch_plan_t *plan = NULL;
    ad_err_t err = {0};
    char dir[512], text[1024], got[1024] = "", state_json[600];
    char **argv;
    ad_job_t job;
    size_t n = 0;

    (void)state;
    adt_fresh_dir(dir, sizeof(dir), "teacher");
    snprintf(text, sizeof(text),
             "name: s\nmodel: mlp\ndataset: synthetic\nbatch_size: 8\nlayout: 1x2x1\n"
             "distill: {teacher: %s, temperature: 3, alpha: 0.25}\n",
             dir);
    assert_int_equal(ad_job_parse_string(text, "s", &job, &err), 0);
    argv = ad_launch_trainer_argv(&job, 0);
    for (int i = 0; argv[i]; i++)
        n += (size_t)snprintf(got + n, sizeof(got) - n, "%s%s", i ? " " : "", argv[i]);
    ad_launch_argv_free(&argv);
    snprintf(text, sizeof(text), "--teacher-checkpoint %s --distill-t 3 --distill-alpha 0.25", dir);
    adt_assert_has(got, text);
    spec.job = &job;
    /* No state.json in the folder: its checkpoint is gone. */
    assert_int_equal(ad_launch_plan_new(&spec, &plan, &err), AD_EINVAL);
    assert_null(plan);
    adt_assert_has(err.msg, "launch: job 9: the checkpoint of its teacher ");
    adt_assert_has(err.msg, "is gone");
    snprintf(state_json, sizeof(state_json), "%s/state.json", dir);
    adt_write_file(state_json, "{}");
    assert_int_equal(ad_launch_plan_new(&spec, &plan, &err), 0);
    ad_launch_plan_free(&plan);
    /* A run id the coordinator did not resolve. */
    free(job.distill.teacher);
    job.distill.teacher = strdup("5");
    free(job.distill.checkpoint);
    job.distill.checkpoint = NULL;
    assert_int_equal(ad_launch_plan_new(&spec, &plan, &err), AD_EINVAL);
    adt_assert_has(err.msg, "its teacher 5 was not resolved");
    ad_job_clear(&job);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trainer_argv),    cmocka_unit_test(test_topo_two_sockets_smt),
        cmocka_unit_test(test_topo_four_numa),  cmocka_unit_test(test_topo_64_cores),
        cmocka_unit_test(test_two_small_nodes), cmocka_unit_test(test_two_sockets),
        cmocka_unit_test(test_oversubscribed),  cmocka_unit_test(test_no_core_map),
        cmocka_unit_test(test_transport),       cmocka_unit_test(test_bad_plans),
        cmocka_unit_test(test_write_error),     cmocka_unit_test(test_mpirun_localhost),
        cmocka_unit_test(test_reason),
        /* distill: (issue 12) */
        cmocka_unit_test(test_distill),
    };

    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
