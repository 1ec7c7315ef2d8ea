/* ad_store_nodes.c - the store's nodes and their hardware profiles */
#include "autodist/ad_store.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#include "ad_store_int.h"
#include "autodist/ad_fault.h"
#include "autodist/ad_home.h"
#include "autodist/ad_log.h"

static const char *const s_node_states[] = {"UP", "DOWN", "DRAIN"};

#define S_NODE_STATE_COUNT ((int)(sizeof(s_node_states) / sizeof(s_node_states[0])))

const char *
ad_store_node_state_name(ad_node_state_t state)
{
    if ((int)state < 0 || (int)state >= S_NODE_STATE_COUNT)
        return "UNKNOWN";
    return s_node_states[state];
}

int
ad_store_node_state_from_name(const char *name, ad_node_state_t *state)
{
    for (int i = 0; name && i < S_NODE_STATE_COUNT; i++) {
        if (!strcasecmp(name, s_node_states[i])) {
            *state = (ad_node_state_t)i;
            return 0;
        }
    }
    return AD_EINVAL;
}

/* ---------------------------------------------------------------------------------------- */
/* Rows.                                                                                    */

void
ad_store_profile_row_init(ad_profile_row_t *profile)
{
    memset(profile, 0, sizeof(*profile));
    profile->measured = NAN;
    profile->gemm_gflops_1 = profile->gemm_gflops_all = profile->mem_bw_gbs = NAN;
}

void
ad_store_node_init(ad_node_t *node)
{
    memset(node, 0, sizeof(*node));
    node->state = AD_NODE_UP;
    node->first_seen = node->last_seen = NAN;
}

void
ad_store_node_clear(ad_node_t *node)
{
    if (!node)
        return;
    free(node->hostname);
    free(node->address);
    free(node->hardware);
    memset(node, 0, sizeof(*node));
}

void
ad_store_profile_row_clear(ad_profile_row_t *profile)
{
    if (!profile)
        return;
    free(profile->hardware);
    free(profile->cpu_model);
    free(profile->topology);
    memset(profile, 0, sizeof(*profile));
}

void
ad_store_nodes_free(ad_node_t **rows_p, size_t n)
{
    if (!rows_p || !*rows_p)
        return;
    for (size_t i = 0; i < n; i++)
        ad_store_node_clear(&(*rows_p)[i]);
    free(*rows_p);
    *rows_p = NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Nodes and profiles.                                                                     */

int
ad_store_put_node(ad_store_t *self, const ad_node_t *node, int64_t *id)
{
    const char *op = "put node";
    double now = st_now();
    sqlite3_stmt *stmt = NULL;
    st_tx_t tx;
    int rc;

    ad_err_clear(&self->err);
    assert(node->hostname);
    rc = st_tx_begin(self, op, false, false, &tx);
    if (rc)
        return rc;
    rc = st_stmt(self, Q_NODE_PUT, op, &stmt);
    if (rc)
        goto out_end;
    st_bind_text(stmt, 1, node->hostname);
    st_bind_text(stmt, 2, node->address);
    st_bind_text(stmt, 3, ad_store_node_state_name(node->state));
    sqlite3_bind_double(stmt, 4, isnan(node->first_seen) ? now : node->first_seen);
    sqlite3_bind_double(stmt, 5, isnan(node->last_seen) ? now : node->last_seen);
    rc = st_step(self, stmt);
    if (rc != SQLITE_ROW) {
        rc = st_db_error(self, op, rc);
        goto out_reset;
    }
    if (id)
        *id = st_col_i64(stmt, 0);
    rc = 0;
out_reset:
    sqlite3_reset(stmt);
out_end:
    return st_tx_end(self, tx, rc, op);
}

int
ad_store_set_node_state(ad_store_t *self, int64_t id, ad_node_state_t state, double last_seen)
{
    const char *op = "set node state";
    sqlite3_stmt *stmt = NULL;
    st_tx_t tx;
    int rc;

    ad_err_clear(&self->err);
    rc = st_tx_begin(self, op, false, false, &tx);
    if (rc)
        return rc;
    rc = st_stmt(self, Q_NODE_STATE, op, &stmt);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, id);
    st_bind_text(stmt, 2, ad_store_node_state_name(state));
    sqlite3_bind_double(stmt, 3, isnan(last_seen) ? st_now() : last_seen);
    return st_step_update(self, stmt, op, "node", id);
}

/* A node query bound to one row: fill out. */
static int
s_get_node(ad_store_t *self, sqlite3_stmt *stmt, int64_t id, const char *hostname, ad_node_t *out)
{
    int rc;

    rc = st_step_one(self, stmt, "get node", "node", id, hostname);
    if (!rc)
        rc = st_read_node(self, stmt, out);
    sqlite3_reset(stmt);
    if (rc)
        ad_store_node_clear(out);
    return rc;
}

int
ad_store_get_node(ad_store_t *self, int64_t id, ad_node_t *out)
{
    sqlite3_stmt *stmt = NULL;
    int rc;

    ad_err_clear(&self->err);
    memset(out, 0, sizeof(*out));
    rc = st_stmt(self, Q_NODE_GET, "get node", &stmt);
    if (rc)
        return rc;
    sqlite3_bind_int64(stmt, 1, id);
    return s_get_node(self, stmt, id, NULL, out);
}

int
ad_store_find_node(ad_store_t *self, const char *hostname, ad_node_t *out)
{
    sqlite3_stmt *stmt = NULL;
    int rc;

    ad_err_clear(&self->err);
    memset(out, 0, sizeof(*out));
    rc = st_stmt(self, Q_NODE_FIND, "find node", &stmt);
    if (rc)
        return rc;
    st_bind_text(stmt, 1, hostname);
    return s_get_node(self, stmt, -1, hostname, out);
}

int
ad_store_list_nodes(ad_store_t *self, ad_node_t **rows, size_t *n)
{
    const char *op = "list nodes";
    sqlite3_stmt *stmt = NULL;
    size_t cap = 0;
    int rc;

    ad_err_clear(&self->err);
    *rows = NULL;
    *n = 0;
    rc = st_stmt(self, Q_NODE_LIST, op, &stmt);
    if (rc)
        return rc;
    while ((rc = st_step(self, stmt)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            *rows = ad_realloc(*rows, cap * sizeof(**rows));
        }
        memset(&(*rows)[*n], 0, sizeof(**rows));
        (*n)++;
        if (st_read_node(self, stmt, &(*rows)[*n - 1])) {
            rc = AD_EDB;
            goto out_free;
        }
    }
    if (rc != SQLITE_DONE) {
        rc = st_db_error(self, op, rc);
        goto out_free;
    }
    sqlite3_reset(stmt);
    return 0;
out_free:
    sqlite3_reset(stmt);
    ad_store_nodes_free(rows, *n);
    *n = 0;
    return rc;
}

/*
 * The id of node's latest profile when it is the same as p in every column but the time
 * (a HELLO repeating the profile adds no history row), else 0.
 */
static const char s_sql_same_profile[] =
    "SELECT id FROM (SELECT * FROM profiles WHERE node = ?1 ORDER BY id DESC LIMIT 1)"
    " WHERE hardware IS ?2 AND cpu_model IS ?4 AND sockets IS ?5 AND cores IS ?6 AND pus IS ?7"
    " AND gpus IS ?8 AND memory_bytes IS ?9 AND gemm_gflops_1 IS ?10 AND gemm_gflops_all IS ?11"
    " AND mem_bw_gbs IS ?12 AND topology IS ?13";

/* Bind p's columns as both the insert and s_sql_same_profile number them. */
static void
s_bind_profile(sqlite3_stmt *stmt, const ad_profile_row_t *p, bool measured)
{
    st_bind_pos(stmt, 1, p->node);
    st_bind_text(stmt, 2, p->hardware);
    if (measured)
        sqlite3_bind_double(stmt, 3, isnan(p->measured) ? st_now() : p->measured);
    st_bind_text(stmt, 4, p->cpu_model);
    st_bind_pos(stmt, 5, p->sockets);
    st_bind_pos(stmt, 6, p->cores);
    st_bind_pos(stmt, 7, p->pus);
    sqlite3_bind_int(stmt, 8, p->gpus);
    st_bind_pos(stmt, 9, p->memory_bytes);
    st_bind_real(stmt, 10, p->gemm_gflops_1);
    st_bind_real(stmt, 11, p->gemm_gflops_all);
    st_bind_real(stmt, 12, p->mem_bw_gbs);
    st_bind_text(stmt, 13, p->topology);
}

/* *id = the node's latest profile when p repeats it, else 0. */
static int
s_same_profile(ad_store_t *self, const ad_profile_row_t *p, const char *op, int64_t *id)
{
    sqlite3_stmt *stmt = NULL;
    int rc;

    *id = 0;
    if (p->node <= 0)
        return 0;
    rc = st_prepare(self, s_sql_same_profile, op, &stmt);
    if (rc)
        return rc;
    s_bind_profile(stmt, p, false);
    rc = st_step(self, stmt);
    if (rc == SQLITE_ROW) {
        *id = st_col_i64(stmt, 0);
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = 0;
    } else {
        rc = st_db_error(self, op, rc);
    }
    sqlite3_finalize(stmt);
    return rc;
}

int
ad_store_add_profile(ad_store_t *self, const ad_profile_row_t *p, int64_t *id)
{
    const char *op = "add profile";
    sqlite3_stmt *stmt = NULL;
    int64_t same = 0;
    st_tx_t tx;
    int rc;

    ad_err_clear(&self->err);
    if (!p->hardware || !*p->hardware)
        return ad_err_set(&self->err, AD_EINVAL, "%s: the hardware class is required", op);
    rc = st_tx_begin(self, op, false, false, &tx);
    if (rc)
        return rc;
    rc = s_same_profile(self, p, op, &same);
    if (rc || same) {
        if (id && same)
            *id = same;
        goto out_end;
    }
    rc = st_stmt(self, Q_PROFILE_ADD, op, &stmt);
    if (rc)
        goto out_end;
    s_bind_profile(stmt, p, true);
    rc = st_step(self, stmt);
    if (rc != SQLITE_DONE) {
        rc = st_db_error(self, op, rc);
        goto out_reset;
    }
    if (id)
        *id = sqlite3_last_insert_rowid(self->db);
    rc = 0;
out_reset:
    sqlite3_reset(stmt);
out_end:
    return st_tx_end(self, tx, rc, op);
}

static int
s_get_profile(ad_store_t *self, int q, int64_t node, const char *hardware, ad_profile_row_t *out)
{
    const char *op = "get profile";
    sqlite3_stmt *stmt = NULL;
    int rc;

    ad_err_clear(&self->err);
    memset(out, 0, sizeof(*out));
    rc = st_stmt(self, q, op, &stmt);
    if (rc)
        return rc;
    if (hardware)
        st_bind_text(stmt, 1, hardware);
    else
        sqlite3_bind_int64(stmt, 1, node);
    rc = st_step(self, stmt);
    if (rc == SQLITE_ROW) {
        st_read_profile(stmt, out);
        rc = 0;
    } else if (rc != SQLITE_DONE) {
        rc = st_db_error(self, op, rc);
    } else if (hardware) {
        rc = ad_err_set(&self->err, -ENOENT, "hardware class \"%s\": no profile", hardware);
    } else {
        rc = ad_err_set(&self->err, -ENOENT, "node %lld: no profile", (long long)node);
    }
    sqlite3_reset(stmt);
    return rc;
}

int
ad_store_get_profile(ad_store_t *self, int64_t node, ad_profile_row_t *out)
{
    return s_get_profile(self, Q_PROFILE_NODE, node, NULL, out);
}

int
ad_store_find_profile(ad_store_t *self, const char *hardware, ad_profile_row_t *out)
{
    return s_get_profile(self, Q_PROFILE_HW, 0, hardware, out);
}
