/* test_registry.c - the node registry: HELLO conflicts, heartbeats, DOWN detection, listing */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ad_test.h"
#include "autodist/ad_log.h"
#include "autodist/ad_registry.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* A profile as an agent sends it (only the keys the registry reads, and one more). */
static json_t *
s_profile(int cores, const char *fp)
{
    return json_pack("{s:s, s:s, s:{s:i, s:i}}", "hostname", "x", "fingerprint", fp, "cpu",
                     "cores", cores, "sockets", 1);
}

static int
s_hello(ad_registry_t *reg, const char *name, const char *identity, int cores, double now,
        ad_err_t *err)
{
    json_t *profile = s_profile(cores, "00112233aabbccdd");
    int rc = ad_registry_hello(reg, name, identity, profile, now, err);

    json_decref(profile);
    return rc;
}

typedef struct {
    int calls;
    char last[64];
} s_downs_t;

static void
s_on_down(const char *name, void *arg)
{
    s_downs_t *downs = arg;

    downs->calls++;
    snprintf(downs->last, sizeof(downs->last), "%s", name);
}

static void
test_hello_registers_node(void **state)
{
    ad_registry_t *reg = ad_registry_new();
    const ad_registry_node_t *node;
    ad_err_t err = {0};

    assert_int_equal(s_hello(reg, "node-a", "0080000001", 8, 10.0, &err), 0);
    node = ad_registry_lookup(reg, "node-a");
    assert_non_null(node);
    assert_string_equal(node->name, "node-a");
    assert_string_equal(node->identity, "0080000001");
    assert_int_equal(node->state, AD_NODE_UP);
    assert_int_equal(node->cores, 8);
    assert_string_equal(node->fingerprint, "00112233aabbccdd");
    assert_true(node->first_seen == 10.0 && node->last_seen == 10.0);
    assert_ptr_equal(ad_registry_lookup_identity(reg, "0080000001"), node);
    assert_null(ad_registry_lookup(reg, "node-b"));
    assert_null(ad_registry_lookup_identity(reg, "0080000002"));
    assert_int_equal(ad_registry_count(reg, true), 1);
    ad_registry_free(&reg);
    assert_null(reg);
    ad_registry_free(&reg);
}

static void
test_duplicate_hostname_refused(void **state)
{
    ad_registry_t *reg = ad_registry_new();
    ad_err_t err = {0};

    assert_int_equal(s_hello(reg, "gpu1", "aa01", 8, 0.0, &err), 0);
    assert_int_equal(s_hello(reg, "gpu1", "bb02", 16, 1.0, &err), AD_EPEER);
    assert_int_equal(err.code, AD_EPEER);
    adt_assert_has(err.msg, "two agents claim the host name gpu1 (");
    adt_assert_has(err.msg, "aa01");
    adt_assert_has(err.msg, "bb02");
    /* The first agent keeps the name and its profile. */
    assert_string_equal(ad_registry_lookup(reg, "gpu1")->identity, "aa01");
    assert_int_equal(ad_registry_lookup(reg, "gpu1")->cores, 8);
    assert_null(ad_registry_lookup_identity(reg, "bb02"));
    /* The same session greeting again is fine (the agent resent its HELLO). */
    assert_int_equal(s_hello(reg, "gpu1", "aa01", 8, 2.0, &err), 0);
    ad_registry_free(&reg);
}

static void
test_hello_bad_input(void **state)
{
    ad_registry_t *reg = ad_registry_new();
    ad_err_t err = {0};
    char long_name[AD_REGISTRY_NAME_MAX + 2];
    json_t *profile;

    assert_int_equal(s_hello(reg, "", "aa", 8, 0.0, &err), AD_EINVAL);
    adt_assert_has(err.msg, "node name must be 1 to 255 bytes");
    memset(long_name, 'n', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    assert_int_equal(s_hello(reg, long_name, "aa", 8, 0.0, &err), AD_EINVAL);
    assert_int_equal(s_hello(reg, "a", "", 8, 0.0, &err), AD_EINVAL);
    adt_assert_has(err.msg, "empty session identity");
    assert_int_equal(s_hello(reg, "a", "aa", 0, 0.0, &err), AD_EPARSE);
    adt_assert_has(err.msg, "HELLO from a: the profile has no cpu.cores");

    profile = json_pack("{s:{s:i}}", "cpu", "cores", 4);
    assert_int_equal(ad_registry_hello(reg, "a", "aa", profile, 0.0, &err), AD_EPARSE);
    adt_assert_has(err.msg, "the profile has no fingerprint");
    json_decref(profile);
    profile = json_string("not an object");
    assert_int_equal(ad_registry_hello(reg, "a", "aa", profile, 0.0, &err), AD_EPARSE);
    adt_assert_has(err.msg, "is not a JSON object");
    json_decref(profile);
    assert_int_equal(ad_registry_count(reg, false), 0);
    ad_registry_free(&reg);
}

static void
test_heartbeat_updates_and_unknown_rejected(void **state)
{
    ad_registry_t *reg = ad_registry_new();
    ad_err_t err = {0};
    json_t *load = json_pack("{s:f}", "cpu_percent", 42.5);
    const ad_registry_node_t *node;

    assert_int_equal(s_hello(reg, "n1", "id1", 4, 0.0, &err), 0);
    assert_int_equal(ad_registry_heartbeat(reg, "id1", load, 1.0, &err), 0);
    json_decref(load);
    node = ad_registry_lookup(reg, "n1");
    assert_true(node->last_seen == 1.0);
    assert_true(json_real_value(json_object_get(node->load, "cpu_percent")) == 42.5);
    /* A heartbeat without a load keeps the last one. */
    assert_int_equal(ad_registry_heartbeat(reg, "id1", NULL, 2.0, &err), 0);
    assert_non_null(node->load);

    assert_int_equal(ad_registry_heartbeat(reg, "stranger", NULL, 2.0, &err), AD_EPEER);
    adt_assert_has(err.msg, "HEARTBEAT from session stranger, which is not registered");
    ad_registry_free(&reg);
}

static void
test_down_at_three_missed_heartbeats(void **state)
{
    ad_registry_t *reg = ad_registry_new();
    s_downs_t downs = {0};
    ad_err_t err = {0};

    assert_int_equal(s_hello(reg, "n1", "id1", 4, 100.0, &err), 0);
    assert_int_equal(ad_registry_tick(reg, 102.9, 1.0, s_on_down, &downs), 0);
    assert_int_equal(ad_registry_tick(reg, 103.0, 1.0, s_on_down, &downs), 0);
    assert_int_equal(downs.calls, 0);
    assert_int_equal(ad_registry_lookup(reg, "n1")->state, AD_NODE_UP);
    assert_int_equal(ad_registry_tick(reg, 103.1, 1.0, s_on_down, &downs), 1);
    assert_int_equal(downs.calls, 1);
    assert_string_equal(downs.last, "n1");
    assert_int_equal(ad_registry_lookup(reg, "n1")->state, AD_NODE_DOWN);
    assert_null(ad_registry_lookup(reg, "n1")->identity);
    assert_int_equal(ad_registry_count(reg, true), 0);
    /* Once DOWN, later ticks do not report it again. */
    assert_int_equal(ad_registry_tick(reg, 110.0, 1.0, s_on_down, &downs), 0);
    assert_int_equal(downs.calls, 1);
    /* Its old session is no longer accepted: the daemon REJECTs, the agent re-HELLOs. */
    assert_int_equal(ad_registry_heartbeat(reg, "id1", NULL, 110.5, &err), AD_EPEER);
    ad_registry_free(&reg);
}

static void
test_heartbeat_keeps_node_up(void **state)
{
    ad_registry_t *reg = ad_registry_new();
    s_downs_t downs = {0};
    ad_err_t err = {0};

    assert_int_equal(s_hello(reg, "n1", "id1", 4, 0.0, &err), 0);
    for (int t = 1; t <= 20; t++) {
        assert_int_equal(ad_registry_heartbeat(reg, "id1", NULL, t, &err), 0);
        assert_int_equal(ad_registry_tick(reg, t + 0.5, 1.0, s_on_down, &downs), 0);
    }
    assert_int_equal(downs.calls, 0);
    ad_registry_free(&reg);
}

/* A coordinator held for 10 s (its heartbeats unread): its nodes get three periods from the
 * moment it runs again, then a silent one goes DOWN as usual. */
static void
test_held_coordinator_keeps_nodes(void **state)
{
    ad_registry_t *reg = ad_registry_new();
    s_downs_t downs = {0};
    ad_err_t err = {0};

    assert_int_equal(s_hello(reg, "n1", "id1", 4, 100.0, &err), 0);
    assert_int_equal(s_hello(reg, "n2", "id2", 4, 100.0, &err), 0);
    ad_registry_resumed(reg, 110.0);
    assert_int_equal(ad_registry_tick(reg, 110.0, 1.0, s_on_down, &downs), 0);
    /* n2's queued heartbeat is read; n1 stays silent. */
    assert_int_equal(ad_registry_heartbeat(reg, "id2", NULL, 110.1, &err), 0);
    assert_int_equal(ad_registry_tick(reg, 112.9, 1.0, s_on_down, &downs), 0);
    assert_int_equal(downs.calls, 0);
    /* last_seen still says when n1 was last heard. */
    assert_true(ad_registry_lookup(reg, "n1")->last_seen == 100.0);
    assert_int_equal(ad_registry_tick(reg, 113.05, 1.0, s_on_down, &downs), 1);
    assert_string_equal(downs.last, "n1");
    assert_int_equal(ad_registry_lookup(reg, "n2")->state, AD_NODE_UP);
    ad_registry_free(&reg);
}

static void
test_rehello_brings_node_up(void **state)
{
    ad_registry_t *reg = ad_registry_new();
    ad_err_t err = {0};
    const ad_registry_node_t *node;

    assert_int_equal(s_hello(reg, "n1", "old", 4, 0.0, &err), 0);
    assert_int_equal(ad_registry_add_job(reg, "n1", 7), 0);
    assert_int_equal(ad_registry_tick(reg, 10.0, 1.0, NULL, NULL), 1);
    /* The restarted agent comes back on a new session, with more cores. */
    assert_int_equal(s_hello(reg, "n1", "new", 8, 12.0, &err), 0);
    node = ad_registry_lookup(reg, "n1");
    assert_int_equal(node->state, AD_NODE_UP);
    assert_string_equal(node->identity, "new");
    assert_int_equal(node->cores, 8);
    assert_true(node->first_seen == 0.0 && node->last_seen == 12.0);
    assert_null(ad_registry_lookup_identity(reg, "old"));
    assert_ptr_equal(ad_registry_lookup_identity(reg, "new"), node);
    /* Jobs stay until the daemon, told by the callback, removes them. */
    assert_int_equal(node->n_jobs, 1);
    assert_int_equal(ad_registry_count(reg, true), 1);
    ad_registry_free(&reg);
}

static void
test_bye_marks_down(void **state)
{
    ad_registry_t *reg = ad_registry_new();
    s_downs_t downs = {0};
    ad_err_t err = {0};

    assert_int_equal(s_hello(reg, "n1", "id1", 4, 0.0, &err), 0);
    assert_int_equal(ad_registry_bye(reg, "id1", 1.0), 0);
    assert_int_equal(ad_registry_lookup(reg, "n1")->state, AD_NODE_DOWN);
    assert_int_equal(ad_registry_bye(reg, "id1", 1.0), AD_EPEER);
    assert_int_equal(ad_registry_tick(reg, 100.0, 1.0, s_on_down, &downs), 0);
    assert_int_equal(downs.calls, 0);
    /* A DOWN name may be taken by another session at once. */
    assert_int_equal(s_hello(reg, "n1", "id2", 4, 2.0, &err), 0);
    ad_registry_free(&reg);
}

static void
test_session_renamed(void **state)
{
    ad_registry_t *reg = ad_registry_new();
    ad_err_t err = {0};

    assert_int_equal(s_hello(reg, "old-name", "id1", 4, 0.0, &err), 0);
    assert_int_equal(s_hello(reg, "new-name", "id1", 4, 1.0, &err), 0);
    assert_int_equal(ad_registry_lookup(reg, "old-name")->state, AD_NODE_DOWN);
    assert_string_equal(ad_registry_lookup_identity(reg, "id1")->name, "new-name");
    assert_int_equal(ad_registry_count(reg, true), 1);
    assert_int_equal(ad_registry_count(reg, false), 2);
    ad_registry_free(&reg);
}

static void
test_jobs_on_nodes(void **state)
{
    ad_registry_t *reg = ad_registry_new();
    ad_err_t err = {0};
    const ad_registry_node_t *node;

    assert_int_equal(s_hello(reg, "n1", "id1", 4, 0.0, &err), 0);
    node = ad_registry_lookup(reg, "n1");
    for (int64_t id = 1; id <= 10; id++)
        assert_int_equal(ad_registry_add_job(reg, "n1", id), 0);
    assert_int_equal(ad_registry_add_job(reg, "n1", 3), -EEXIST);
    assert_int_equal(ad_registry_add_job(reg, "nope", 3), -ENOENT);
    assert_int_equal(node->n_jobs, 10);
    assert_int_equal(ad_registry_remove_job(reg, "n1", 3), 0);
    assert_int_equal(ad_registry_remove_job(reg, "n1", 3), -ENOENT);
    assert_int_equal(ad_registry_remove_job(reg, "nope", 1), -ENOENT);
    assert_int_equal(node->n_jobs, 9);
    assert_int_equal(node->jobs[2], 4);
    ad_registry_free(&reg);
}

static void
test_iteration_in_name_order(void **state)
{
    static const char *const names[] = {"delta", "alpha", "charlie", "bravo", "echo"};
    ad_registry_t *reg = ad_registry_new();
    const ad_registry_node_t *node;
    ad_err_t err = {0};
    char id[16];
    char seen[128] = "";

    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof(id), "id%d", i);
        assert_int_equal(s_hello(reg, names[i], id, 4, 0.0, &err), 0);
    }
    assert_int_equal(ad_registry_bye(reg, "id2", 1.0), 0); /* charlie */
    for (size_t i = 0; i < ad_registry_count(reg, false); i++) {
        strcat(seen, ad_registry_node_at(reg, i)->name);
        strcat(seen, " ");
    }
    assert_string_equal(seen, "alpha bravo charlie delta echo ");
    seen[0] = '\0';
    for (node = ad_registry_next_up(reg, NULL); node; node = ad_registry_next_up(reg, node)) {
        strcat(seen, node->name);
        strcat(seen, " ");
    }
    assert_string_equal(seen, "alpha bravo delta echo ");
    ad_registry_free(&reg);
}

static void
test_to_json(void **state)
{
    ad_registry_t *reg = ad_registry_new();
    ad_err_t err = {0};
    json_t *load = json_pack("{s:f}", "cpu_percent", 12.0);
    json_t *list, *a, *b;

    assert_int_equal(s_hello(reg, "b", "id1", 4, 1.0, &err), 0);
    assert_int_equal(s_hello(reg, "a", "id2", 16, 2.0, &err), 0);
    assert_int_equal(ad_registry_heartbeat(reg, "id2", load, 3.0, &err), 0);
    json_decref(load);
    assert_int_equal(ad_registry_add_job(reg, "a", 12), 0);
    assert_int_equal(ad_registry_bye(reg, "id1", 4.0), 0);

    list = ad_registry_to_json(reg);
    assert_true(json_is_array(list));
    assert_int_equal(json_array_size(list), 2);
    a = json_array_get(list, 0);
    b = json_array_get(list, 1);
    assert_string_equal(json_string_value(json_object_get(a, "name")), "a");
    assert_string_equal(json_string_value(json_object_get(a, "state")), "UP");
    assert_int_equal(json_integer_value(json_object_get(a, "cores")), 16);
    assert_string_equal(json_string_value(json_object_get(a, "fingerprint")),
                        "00112233aabbccdd");
    /* Unix seconds: the monotonic 3.0 taken as of now, and how long ago that was. */
    assert_true(json_real_value(json_object_get(a, "last_seen")) > 1.7e9);
    assert_true(fabs(json_real_value(json_object_get(a, "last_seen")) -
                     json_real_value(json_object_get(a, "first_seen")) - 1.0) < 1e-3);
    assert_true(json_real_value(json_object_get(a, "last_seen_ago_s")) > 0);
    assert_true(json_real_value(json_object_get(json_object_get(a, "load"), "cpu_percent")) ==
                12.0);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(a, "jobs"), 0)), 12);
    assert_string_equal(json_string_value(json_object_get(b, "state")), "DOWN");
    assert_true(json_is_null(json_object_get(b, "load")));
    assert_int_equal(json_array_size(json_object_get(b, "jobs")), 0);
    json_decref(list);
    ad_registry_free(&reg);
}

static void
test_thousand_nodes(void **state)
{
    enum { N = 2000 };
    ad_registry_t *reg = ad_registry_new();
    s_downs_t downs = {0};
    ad_err_t err = {0};
    char name[32], id[32];
    double t0, ms;

    for (int i = 0; i < N; i++) {
        /* Names arrive out of order, so the sorted insertion is exercised. */
        snprintf(name, sizeof(name), "node%05d", (i * 7919) % N);
        snprintf(id, sizeof(id), "id%05d", i);
        assert_int_equal(s_hello(reg, name, id, 8, 0.0, &err), 0);
    }
    assert_int_equal(ad_registry_count(reg, true), N);
    for (int i = 0; i < N; i += 2) {
        snprintf(id, sizeof(id), "id%05d", i);
        assert_int_equal(ad_registry_heartbeat(reg, id, NULL, 5.0, &err), 0);
    }
    t0 = adt_now();
    for (int k = 0; k < 1000; k++)
        assert_int_equal(ad_registry_tick(reg, 5.5, 1.0, NULL, NULL), k == 0 ? N / 2 : 0);
    ms = (adt_now() - t0) * 1e3;
    /* Not a benchmark: only a loose guard against a quadratic tick (1000 ticks). */
    print_message("1000 ticks over %d nodes: %.1f ms\n", N, ms);
    assert_true(ms < 5000);
    assert_int_equal(ad_registry_tick(reg, 100.0, 1.0, s_on_down, &downs), N / 2);
    assert_int_equal(downs.calls, N / 2);
    assert_string_equal(ad_registry_node_at(reg, 0)->name, "node00000");
    assert_string_equal(ad_registry_node_at(reg, N - 1)->name, "node01999");
    ad_registry_free(&reg);
}

/* --max-nodes: a new name beyond the cap is refused, known names come back, DOWN ones go. */
static void
test_max_nodes(void **state)
{
    ad_registry_t *reg = ad_registry_new();
    s_downs_t forgotten = {0};
    ad_err_t err = {0};
    char name[32], id[32];

    ad_registry_set_max_nodes(reg, 3);
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof(name), "n%d", i);
        snprintf(id, sizeof(id), "00%08d", i);
        assert_int_equal(s_hello(reg, name, id, 4, 10.0, &err), 0);
    }
    assert_int_equal(s_hello(reg, "n3", "0099", 4, 11.0, &err), -EUSERS);
    adt_assert_has(err.msg, "HELLO from n3: the coordinator knows 3 nodes, its limit "
                            "(--max-nodes 3)");
    assert_null(ad_registry_lookup(reg, "n3"));
    assert_int_equal(ad_registry_count(reg, false), 3);
    /* A known name may always greet again, also after going DOWN. */
    assert_int_equal(ad_registry_bye(reg, "0000000001", 12.0), 0);
    assert_int_equal(s_hello(reg, "n1", "0000000011", 4, 13.0, &err), 0);
    /* n2 goes DOWN with a job: only DOWN nodes without a job, silent long enough, are forgotten. */
    assert_int_equal(ad_registry_bye(reg, "0000000002", 20.0), 0);
    assert_int_equal(ad_registry_add_job(reg, "n2", 7), 0);
    assert_int_equal(ad_registry_bye(reg, "0000000000", 20.0), 0);
    assert_int_equal(ad_registry_forget_down(reg, 100.0, 3600.0, s_on_down, &forgotten), 0);
    assert_int_equal(ad_registry_forget_down(reg, 3621.0, 3600.0, s_on_down, &forgotten), 1);
    assert_int_equal(forgotten.calls, 1);
    assert_string_equal(forgotten.last, "n0");
    assert_null(ad_registry_lookup(reg, "n0"));
    assert_non_null(ad_registry_lookup(reg, "n2"));
    assert_int_equal(ad_registry_count(reg, false), 2);
    assert_string_equal(ad_registry_node_at(reg, 0)->name, "n1");
    assert_string_equal(ad_registry_node_at(reg, 1)->name, "n2");
    /* Room again: the new name is in, and the forgotten one would be new too. */
    assert_int_equal(s_hello(reg, "n3", "0099", 4, 3622.0, &err), 0);
    assert_int_equal(s_hello(reg, "n0", "0098", 4, 3622.0, &err), -EUSERS);
    ad_registry_free(&reg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello_registers_node),
        cmocka_unit_test(test_duplicate_hostname_refused),
        cmocka_unit_test(test_max_nodes),
        cmocka_unit_test(test_hello_bad_input),
        cmocka_unit_test(test_heartbeat_updates_and_unknown_rejected),
        cmocka_unit_test(test_down_at_three_missed_heartbeats),
        cmocka_unit_test(test_heartbeat_keeps_node_up),
        cmocka_unit_test(test_held_coordinator_keeps_nodes),
        cmocka_unit_test(test_rehello_brings_node_up),
        cmocka_unit_test(test_bye_marks_down),
        cmocka_unit_test(test_session_renamed),
        cmocka_unit_test(test_jobs_on_nodes),
        cmocka_unit_test(test_iteration_in_name_order),
        cmocka_unit_test(test_to_json),
        cmocka_unit_test(test_thousand_nodes),
    };

    ad_log_level = AD_LOG_ERROR; /* the DOWN warnings of 2000 nodes are expected */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
