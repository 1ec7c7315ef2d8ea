/* test_store_nodes.c - the store's nodes: profile history holds changes only (issue 9) */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ad_test.h"
#include "store_fixture.h"

static int64_t
s_add_node(ad_store_t *store, const char *name)
{
    ad_node_t node;
    int64_t id = 0;

    ad_store_node_init(&node);
    node.hostname = (char *)name;
    assert_int_equal(ad_store_put_node(store, &node, &id), 0);
    return id;
}

/* 100 HELLOs with one 1 MB profile make one history row; a change makes one more. */
static void
test_profile_history_changes_only(void **state)
{
    char path[512], sql[128];
    ad_store_t *store = sft_new_store(path, sizeof(path), "nodes-history");
    ad_profile_row_t prof, got;
    size_t big = 1 << 20;
    char *topo = malloc(big + 1);
    int64_t n1 = s_add_node(store, "n1"), n2 = s_add_node(store, "n2");
    int64_t first = 0, id = 0;

    memset(topo, 'x', big);
    topo[big] = '\0';
    ad_store_profile_row_init(&prof);
    prof.node = n1;
    prof.hardware = "hw-a";
    prof.cpu_model = "Xeon";
    prof.cores = 8;
    prof.topology = topo;
    assert_int_equal(ad_store_add_profile(store, &prof, &first), 0);
    for (int i = 0; i < 99; i++) {
        assert_int_equal(ad_store_add_profile(store, &prof, &id), 0);
        assert_int_equal(id, first);
    }
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM profiles WHERE node = %lld", (long long)n1);
    assert_int_equal(sft_raw_int(path, sql), 1);
    /* Any column that changes is history, NULL against a value included. */
    prof.cores = 16;
    assert_int_equal(ad_store_add_profile(store, &prof, &id), 0);
    assert_true(id > first);
    prof.mem_bw_gbs = 12.5;
    assert_int_equal(ad_store_add_profile(store, &prof, &id), 0);
    assert_int_equal(ad_store_add_profile(store, &prof, NULL), 0);
    assert_int_equal(sft_raw_int(path, sql), 3);
    /* Back to an older profile: it is the latest that counts. */
    prof.cores = 8;
    prof.mem_bw_gbs = NAN;
    assert_int_equal(ad_store_add_profile(store, &prof, &id), 0);
    assert_int_equal(sft_raw_int(path, sql), 4);
    assert_int_equal(ad_store_get_profile(store, n1, &got), 0);
    assert_int_equal(got.id, id);
    assert_int_equal(got.cores, 8);
    ad_store_profile_row_clear(&got);
    /* Another node with the same profile has its own history; profiles of no node always add. */
    prof.node = n2;
    assert_int_equal(ad_store_add_profile(store, &prof, &id), 0);
    assert_true(id != first);
    prof.node = 0;
    assert_int_equal(ad_store_add_profile(store, &prof, NULL), 0);
    assert_int_equal(ad_store_add_profile(store, &prof, NULL), 0);
    assert_int_equal(sft_raw_int(path, "SELECT count(*) FROM profiles"), 7);
    free(topo);
    ad_store_close(&store);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_profile_history_changes_only, sft_teardown),
    };

    return cmocka_run_group_tests(tests, sft_group_setup, sft_group_teardown);
}
