/* test_filter.c - the --where language: precedence, lists, ranges, null logic, push-down, errors */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cli/ad_filter.h"

/* A row with every field, as the accessor sees it. */
typedef struct {
    const char *text[AD_FIELD_COUNT]; /* text fields */
    double num[AD_FIELD_COUNT];       /* number fields (NaN = missing) */
} row_t;

static void
s_get(const void *row, ad_field_t field, ad_value_t *out)
{
    const row_t *r = row;

    if (ad_filter_field_is_text(field))
        out->str = r->text[field];
    else
        out->num = r->num[field];
}

/* cnn on fashion-mnist, 2 nodes x 2 procs x 1 thread, COMPLETED, speedup 3.2. */
static row_t
s_row(void)
{
    row_t r;

    for (int f = 0; f < AD_FIELD_COUNT; f++) {
        r.text[f] = NULL;
        r.num[f] = NAN;
    }
    r.text[AD_FIELD_MODEL] = "cnn";
    r.text[AD_FIELD_DATASET] = "fashion-mnist";
    r.text[AD_FIELD_HARDWARE] = "hw-a";
    r.text[AD_FIELD_DEVICE] = "cpu";
    r.text[AD_FIELD_STATE] = "COMPLETED";
    r.num[AD_FIELD_BATCH] = 256;
    r.num[AD_FIELD_NODES] = 2;
    r.num[AD_FIELD_PPN] = 2;
    r.num[AD_FIELD_TPP] = 1;
    r.num[AD_FIELD_WORKERS] = 4;
    r.num[AD_FIELD_CORES] = 4;
    r.num[AD_FIELD_JOB] = 12;
    r.num[AD_FIELD_ID] = 40;
    r.num[AD_FIELD_SAMPLES] = 3200;
    r.num[AD_FIELD_SPEEDUP] = 3.2;
    r.num[AD_FIELD_EFFICIENCY] = 0.8;
    r.num[AD_FIELD_ACCURACY] = 0.89;
    r.num[AD_FIELD_RUNS] = 3;
    return r;
}

/* Parse (flags AD_FILTER_GROUPS) and match against row; fails the test on a parse error. */
static bool
s_match(const char *text, const row_t *row)
{
    ad_filter_error_t err;
    ad_filter_t *f = NULL;
    bool m;

    if (ad_filter_parse(text, AD_FILTER_GROUPS, &f, &err))
        fail_msg("parse \"%s\": %s", text, err.msg);
    m = ad_filter_match(f, s_get, row);
    ad_filter_free(&f);
    assert_null(f);
    return m;
}

static void
s_yes(const char *text, const row_t *row)
{
    if (!s_match(text, row))
        fail_msg("expected \"%s\" to match", text);
}

static void
s_no(const char *text, const row_t *row)
{
    if (s_match(text, row))
        fail_msg("expected \"%s\" not to match", text);
}

static void
test_comparisons(void **st)
{
    row_t r = s_row();

    s_yes("model = cnn", &r);
    s_yes("model == 'cnn'", &r);
    s_yes("model = \"cnn\"", &r);
    s_no("model = mlp", &r);
    s_yes("model != mlp", &r);
    s_yes("model <> mlp", &r);
    s_yes("dataset = fashion-mnist", &r);
    s_yes("nodes >= 2", &r);
    s_no("nodes > 2", &r);
    s_yes("nodes<=2", &r);
    s_yes("nodes<3", &r);
    s_yes("batch = 256 and batch_size = 256.0 and batch = 2.56e2", &r);
    s_yes("procs_per_node = 2 and ppn = 2 and procs = 2", &r);
    s_yes("threads_per_proc = 1 and tpp = 1 and threads = 1", &r);
    s_yes("workers = 4 and cores = 4", &r);
    s_yes("speedup > 3 and speedup < 3.5 and efficiency = 0.8", &r);
    s_yes("samples_per_s = 3200 and sps >= 3200 and throughput > -1", &r);
    s_yes("accuracy > 0.8 and runs = 3 and job = 12 and id = 40", &r);
    /* Field names and keywords in any case; states in any case. */
    s_yes("MODEL = cnn AND Nodes >= 2", &r);
    s_yes("state = completed", &r);
    s_yes("state = 'Completed'", &r);
    /* Text compares as text: "10" < "9"; numbers as numbers. */
    r.text[AD_FIELD_HARDWARE] = "10";
    s_yes("hardware < 9", &r);
    r.num[AD_FIELD_NODES] = 10;
    s_no("nodes < 9", &r);
    /* Quoting: spaces, quotes doubled or escaped, keywords as values. */
    r.text[AD_FIELD_HARDWARE] = "xeon gold 'x' \"y\"";
    s_yes("hardware = 'xeon gold ''x'' \"y\"'", &r);
    s_yes("hardware = \"xeon gold 'x' \\\"y\\\"\"", &r);
    r.text[AD_FIELD_MODEL] = "and";
    s_yes("model = 'and'", &r);
    r.text[AD_FIELD_HARDWARE] = "";
    s_yes("hardware = ''", &r);
}

static void
test_precedence(void **st)
{
    row_t r = s_row();

    /* and binds tighter than or: true or (false and false). */
    s_yes("model = cnn or model = mlp and nodes = 7", &r);
    s_no("(model = cnn or model = mlp) and nodes = 7", &r);
    /* not binds tighter than and. */
    s_no("not model = cnn and nodes = 2", &r);
    s_yes("not (model = cnn and nodes = 3)", &r);
    s_yes("not not model = cnn", &r);
    s_yes("((model = cnn))", &r);
    s_yes("model = mlp or model = lenet5 or (nodes = 2 and (ppn = 2 or ppn = 4))", &r);
    s_no("model = mlp or model = lenet5 or (nodes = 2 and not (ppn = 2 or ppn = 4))", &r);
}

static void
test_lists_and_ranges(void **st)
{
    row_t r = s_row();

    s_yes("model in (cnn, resnet18) and nodes >= 2", &r);
    s_yes("model in (cnn)", &r);
    s_no("model in (mlp, resnet18)", &r);
    s_yes("model not in (mlp, resnet18)", &r);
    s_no("model not in (cnn)", &r);
    s_yes("nodes in (1, 2, 4)", &r);
    s_yes("nodes in (1.0,2.0)", &r);
    s_no("nodes in (1, 4, 8)", &r);
    s_yes("state in (completed, FAILED)", &r);
    s_yes("nodes between 2 and 4", &r);
    s_yes("nodes between 1 and 2 and model = cnn", &r);
    s_no("nodes between 3 and 4", &r);
    s_yes("nodes not between 3 and 4", &r);
    s_yes("speedup between 3 and 3.5 or model = x", &r);
    s_yes("model between a and d", &r);
    s_no("model between d and z", &r);
}

/* SQL's logic: a missing value is unknown; not unknown is unknown; only true keeps a row. */
static void
test_missing_values(void **st)
{
    row_t r = s_row();

    r.num[AD_FIELD_SPEEDUP] = NAN;
    r.num[AD_FIELD_JOB] = NAN;
    s_no("speedup > 1", &r);
    s_no("speedup <= 1", &r);
    s_no("not speedup > 1", &r);
    s_no("speedup != 2", &r);
    s_no("speedup in (1, 2)", &r);
    s_no("speedup not in (1, 2)", &r);
    s_no("speedup between 0 and 9", &r);
    s_no("speedup not between 0 and 9", &r);
    s_yes("speedup > 1 or model = cnn", &r);
    s_no("speedup > 1 and model = cnn", &r);
    s_yes("not (speedup > 1 and model = mlp)", &r); /* unknown and false = false */
    s_no("not (speedup > 1 or model = mlp)", &r);   /* unknown or false = unknown */
    s_yes("speedup is null", &r);
    s_no("speedup is not null", &r);
    s_yes("job IS NULL and samples_per_s is not null", &r);
    s_yes("not speedup is not null", &r);
    r.text[AD_FIELD_HARDWARE] = NULL;
    s_no("hardware = x or hardware != x", &r);
    s_yes("hardware is null", &r);
}

/* The and-terms, the fields they name, and what the store can select by itself. */
static void
test_terms_and_push(void **st)
{
    ad_filter_error_t err;
    ad_filter_t *f = NULL;
    ad_run_filter_t rf;
    row_t r = s_row();

    assert_int_equal(
        ad_filter_parse("model = cnn and nodes >= 2 and (tpp = 1 or accuracy > 0.5)", 0, &f, &err),
        0);
    assert_int_equal(ad_filter_terms(f), 3);
    assert_int_equal(ad_filter_term_fields(f, 0), AD_FIELD_BIT(AD_FIELD_MODEL));
    assert_int_equal(ad_filter_term_fields(f, 2),
                     AD_FIELD_BIT(AD_FIELD_TPP) | AD_FIELD_BIT(AD_FIELD_ACCURACY));
    assert_int_equal(ad_filter_term_column(f, 0), 1);
    assert_int_equal(ad_filter_term_column(f, 1), 17);
    assert_int_equal(ad_filter_term_column(f, 2), 33);
    assert_int_equal(ad_filter_term_field_column(f, 2, AD_FIELD_ACCURACY), 44);
    assert_int_equal(ad_filter_term_field_column(f, 2, AD_FIELD_MODEL), 0);
    assert_true(ad_filter_term_match(f, 1, s_get, &r));
    assert_int_equal(ad_filter_fields(f),
                     AD_FIELD_BIT(AD_FIELD_MODEL) | AD_FIELD_BIT(AD_FIELD_NODES) |
                         AD_FIELD_BIT(AD_FIELD_TPP) | AD_FIELD_BIT(AD_FIELD_ACCURACY));
    memset(&rf, 0, sizeof(rf));
    assert_false(ad_filter_push(f, &rf));
    assert_string_equal(rf.model, "cnn");
    assert_int_equal(rf.nodes, 0);
    ad_filter_free(&f);
    ad_filter_free(&f); /* idempotent */

    /* Every term an equality the store knows: exact. */
    assert_int_equal(ad_filter_parse("model = cnn and dataset in (synthetic) and batch = 256 and "
                                     "hardware = 'h 1' and device = gpu and nodes = 2 and ppn = 4 "
                                     "and tpp = 8 and job = 5 and sweep = 6 and state in (failed, "
                                     "timeout)",
                                     0, &f, &err),
                     0);
    memset(&rf, 0, sizeof(rf));
    assert_true(ad_filter_push(f, &rf));
    assert_string_equal(rf.model, "cnn");
    assert_string_equal(rf.dataset, "synthetic");
    assert_string_equal(rf.hardware, "h 1");
    assert_string_equal(rf.device, "gpu");
    assert_int_equal(rf.batch_size, 256);
    assert_int_equal(rf.nodes, 2);
    assert_int_equal(rf.procs_per_node, 4);
    assert_int_equal(rf.threads_per_proc, 8);
    assert_int_equal(rf.job, 5);
    assert_int_equal(rf.sweep, 6);
    assert_int_equal(rf.states, AD_JOB_MASK(AD_JOB_FAILED) | AD_JOB_MASK(AD_JOB_TIMEOUT));
    ad_filter_free(&f);

    /* Not pushed: or, lists, ranges, a second value, a non-integral or zero number. */
    static const char *const partial[] = {
        "model = cnn or model = mlp",
        "model in (cnn, mlp)",
        "nodes >= 2",
        "model = cnn and model = mlp",
        "batch = 2.5",
        "nodes = 0",
        "not model = cnn",
        "model not in (cnn)",
        "workers = 4",
        "speedup = 1",
    };
    for (size_t i = 0; i < sizeof(partial) / sizeof(partial[0]); i++) {
        assert_int_equal(ad_filter_parse(partial[i], 0, &f, &err), 0);
        memset(&rf, 0, sizeof(rf));
        if (ad_filter_push(f, &rf))
            fail_msg("\"%s\" should not be pushed whole", partial[i]);
        ad_filter_free(&f);
    }
    /* A field the caller already set is left as it is. */
    assert_int_equal(ad_filter_parse("model = cnn", 0, &f, &err), 0);
    memset(&rf, 0, sizeof(rf));
    rf.model = "mlp";
    assert_false(ad_filter_push(f, &rf));
    assert_string_equal(rf.model, "mlp");
    ad_filter_free(&f);
    /* Two state terms narrow; contradicting ones are left to the evaluation. */
    assert_int_equal(ad_filter_parse("state in (failed, timeout) and state = timeout", 0, &f, &err),
                     0);
    memset(&rf, 0, sizeof(rf));
    assert_true(ad_filter_push(f, &rf));
    assert_int_equal(rf.states, AD_JOB_MASK(AD_JOB_TIMEOUT));
    ad_filter_free(&f);
    assert_int_equal(ad_filter_parse("state = failed and state = completed", 0, &f, &err), 0);
    memset(&rf, 0, sizeof(rf));
    assert_false(ad_filter_push(f, &rf));
    assert_int_equal(rf.states, AD_JOB_MASK(AD_JOB_FAILED));
    ad_filter_free(&f);
}

static void
test_field_names(void **st)
{
    ad_field_t f;

    assert_int_equal(ad_filter_field_from_name("batch_size", &f), 0);
    assert_int_equal(f, AD_FIELD_BATCH);
    assert_int_equal(ad_filter_field_from_name("PROCS_PER_NODE", &f), 0);
    assert_int_equal(f, AD_FIELD_PPN);
    assert_int_equal(ad_filter_field_from_name("samples_per_s", &f), 0);
    assert_int_equal(f, AD_FIELD_SAMPLES);
    assert_int_equal(ad_filter_field_from_name("sps", &f), 0);
    assert_int_equal(ad_filter_field_from_name("speed", &f), AD_EINVAL);
    assert_int_equal(ad_filter_field_from_name("", &f), AD_EINVAL);
    assert_int_equal(ad_filter_field_from_name("node", &f), AD_EINVAL);
    assert_int_equal(ad_filter_field_from_name("s", &f), AD_EINVAL);
    assert_string_equal(ad_filter_field_name(AD_FIELD_TPP), "tpp");
    assert_true(ad_filter_field_is_text(AD_FIELD_STATE));
    assert_false(ad_filter_field_is_text(AD_FIELD_RUNS));
    assert_non_null(strstr(ad_filter_field_names(), "model, dataset, hardware"));
    assert_non_null(strstr(ad_filter_field_names(), "runs"));
}

/* Every error: the message and the column of the token at fault. */
static void
test_errors(void **st)
{
    static const struct {
        const char *text;
        unsigned flags;
        int column;
        const char *msg;
    } cases[] = {
        {"model in (cnn, resnet18) and nodes in ()", 0, 40,
         "expected a value after \"in (\", got \")\" at column 40"},
        {"model in (cnn, )", 0, 16, "expected a value after \",\", got \")\" at column 16"},
        {"model in (cnn resnet18)", 0, 15,
         "expected \",\" or \")\" after \"cnn\", got \"resnet18\" at column 15"},
        {"model in (cnn", 0, 14,
         "expected \",\" or \")\" after \"cnn\", got the end of the expression at column 14"},
        {"model in cnn", 0, 10, "expected \"(\" after \"in\", got \"cnn\" at column 10"},
        {"", 0, 1, "empty expression (try: model = cnn and nodes >= 2) at column 1"},
        {"   ", 0, 1, "empty expression"},
        {"modle = cnn", 0, 1, "unknown field \"modle\" (did you mean model?) at column 1"},
        {"nodes >= 2 and frobnicate = 3", 0, 16, "unknown field \"frobnicate\" (fields: model,"},
        {"nodes 2", 0, 7,
         "expected an operator (=, !=, <, <=, >, >=, in, between, is, like) after \"nodes\", got "
         "\"2\" "
         "at column 7"},
        {"nodes", 0, 6, "after \"nodes\", got the end of the expression at column 6"},
        {"nodes >=", 0, 9,
         "expected a value after \">=\", got the end of the expression at column 9"},
        {"nodes >= and", 0, 10, "expected a value after \">=\", got \"and\" at column 10"},
        {"nodes = two", 0, 9, "nodes is a number, got \"two\" at column 9"},
        {"speedup > '1.5x'", 0, 11, "speedup is a number, got \"'1.5x'\" at column 11"},
        {"batch = 1e999", 0, 9, "batch is a number, got \"1e999\""},
        {"state = DONE", 0, 9,
         "state must be PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT or NODE_FAIL, "
         "got \"DONE\" at column 9"},
        {"model = 'cnn", 0, 9, "unterminated string (no closing ') at column 9"},
        {"model = \"cnn", 0, 9, "unterminated string (no closing \") at column 9"},
        {"model ! cnn", 0, 7, "unexpected \"!\" (did you mean \"!=\" or \"not\"?) at column 7"},
        {"model = cnn; drop", 0, 12, "unexpected character \";\" at column 12"},
        {"model = cnn and", 0, 16,
         "expected a condition after \"and\", got the end of the expression at column 16"},
        {"model = cnn or or", 0, 16, "expected a condition after \"or\", got \"or\" at column 16"},
        {"not", 0, 4, "expected a condition after \"not\", got the end of the expression"},
        {")", 0, 1, "expected a condition (FIELD OP VALUE), got \")\" at column 1"},
        {"(model = cnn", 0, 13,
         "expected \")\" to close the \"(\" of column 1, got the end of the expression at column "
         "13"},
        {"model = cnn)", 0, 12, "unexpected \")\": no \"(\" is open at column 12"},
        {"model = cnn nodes = 2", 0, 13,
         "expected \"and\", \"or\" or the end of the expression, got \"nodes\" at column 13"},
        {"nodes between 2", 0, 16,
         "expected \"and\" after \"between 2\", got the end of the expression at column 16"},
        {"nodes between 2 or 4", 0, 17, "expected \"and\" after \"between 2\", got \"or\""},
        {"nodes between and 4", 0, 15, "expected a value after \"between\", got \"and\""},
        {"nodes between 2 and", 0, 20, "expected a value after \"and\", got the end"},
        {"nodes not = 2", 0, 11,
         "expected \"in\", \"between\" or \"like\" after \"not\", got \"=\""},
        {"speedup is 2", 0, 12, "expected \"null\" or \"not null\" after \"is\", got \"2\""},
        {"runs > 2", 0, 1, "field \"runs\" counts the runs of a layout group"},
        {"model = cnn and \xc3\xa9 = 2", 0, 17, "unexpected character \"\xc3\xa9\" at column 17"},
        {"'x' = 2", 0, 1, "expected a condition (FIELD OP VALUE), got \"'x'\" at column 1"},
        {"model = cnn and nodes = = 2", 0, 25, "expected a value after \"=\", got \"=\""},
    };
    ad_filter_error_t err;
    ad_filter_t *f;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        f = (ad_filter_t *)&err; /* must come back NULL */
        assert_int_equal(ad_filter_parse(cases[i].text, cases[i].flags, &f, &err), AD_EPARSE);
        assert_null(f);
        if (!strstr(err.msg, cases[i].msg) || err.column != cases[i].column)
            fail_msg("\"%s\": got \"%s\" (column %d), expected \"%s\" (column %d)", cases[i].text,
                     err.msg, err.column, cases[i].msg, cases[i].column);
    }
    /* `runs` is a field of grouped rows only. */
    assert_int_equal(ad_filter_parse("runs > 2", AD_FILTER_GROUPS, &f, &err), 0);
    ad_filter_free(&f);
}

/* ---- runs as experiments: tags, spec keys, names, notes, sweeps by name, like ---------- */

/* A row with one tag and one spec key besides the fields of s_row(). */
typedef struct {
    row_t base;
    const char *tag_key, *tag_value;     /* tag.KEY = VALUE */
    const char *param_path, *param_text; /* spec PATH = TEXT */
    char seen_key[64];                   /* the key the last lookup asked for */
} exp_row_t;

static void
s_exp_get(const void *row, ad_field_t field, ad_value_t *out)
{
    exp_row_t *r = (exp_row_t *)row;
    const char *text = NULL;
    char *end;

    if (field != AD_FIELD_TAG && field != AD_FIELD_PARAM) {
        s_get(&r->base, field, out);
        return;
    }
    snprintf(r->seen_key, sizeof(r->seen_key), "%s", out->key ? out->key : "");
    if (field == AD_FIELD_TAG && r->tag_key && !strcmp(out->key, r->tag_key))
        text = r->tag_value;
    if (field == AD_FIELD_PARAM && r->param_path && !strcmp(out->key, r->param_path))
        text = r->param_text;
    if (!text)
        return;
    snprintf(out->buf, sizeof(out->buf), "%s", text);
    out->str = out->buf;
    out->num = strtod(text, &end);
    if (*end || !*text)
        out->num = NAN;
}

static bool
s_exp_match(const char *text, exp_row_t *row)
{
    ad_filter_error_t err;
    ad_filter_t *f = NULL;
    bool m;

    if (ad_filter_parse(text, 0, &f, &err))
        fail_msg("parse \"%s\": %s", text, err.msg);
    m = ad_filter_match(f, s_exp_get, row);
    ad_filter_free(&f);
    return m;
}

static void
test_experiments(void **st)
{
    exp_row_t r = {.base = s_row(),
                   .tag_key = "study",
                   .tag_value = "scaling",
                   .param_path = "optimizer.lr",
                   .param_text = "0.05"};
    ad_filter_error_t err;
    ad_filter_t *f = NULL;

    (void)st;
    r.base.text[AD_FIELD_NAME] = "cnn-scaling-3f2a-r1";
    r.base.text[AD_FIELD_NOTE] = "Rerun after the BIOS update";
    r.base.text[AD_FIELD_SWEEP_NAME] = "cnn-scaling";
    r.base.num[AD_FIELD_SWEEP] = 4;
    assert_true(s_exp_match("tag.study = 'scaling'", &r));
    assert_string_equal(r.seen_key, "study");
    assert_false(s_exp_match("tag.study = other", &r));
    assert_false(s_exp_match("tag.owner = ana", &r)); /* missing: unknown, not true */
    assert_false(s_exp_match("not tag.owner = ana", &r));
    assert_true(s_exp_match("tag.owner is null and tag.study is not null", &r));
    /* lr and learning_rate are the spec's optimizer.lr, compared as numbers. */
    assert_true(s_exp_match("lr > 0.01", &r));
    assert_string_equal(r.seen_key, "optimizer.lr");
    assert_true(s_exp_match("learning_rate = 0.05 and LR between 0.01 and 0.1", &r));
    assert_true(s_exp_match("spec.optimizer.lr = 5e-2", &r));
    assert_false(s_exp_match("lr >= 0.1", &r));
    r.tag_value = "9";
    assert_true(s_exp_match("tag.study < 10", &r)); /* 9 < 10 as numbers, not as text */
    assert_true(s_exp_match("tag.study < '10x'", &r) == (strcmp("9", "10x") < 0));
    /* like, on any text, in any case; not like. */
    assert_true(s_exp_match("name like 'cnn%'", &r));
    assert_true(s_exp_match("name like 'CNN-scaling-____-r1'", &r));
    assert_false(s_exp_match("name like 'rcnn%'", &r));
    assert_true(s_exp_match("name not like 'rcnn%'", &r));
    assert_true(s_exp_match("note like '%bios%'", &r));
    assert_true(s_exp_match("model like c%", &r));
    assert_true(s_exp_match("state like 'comp%'", &r));
    /* A sweep by its id or its name. */
    assert_true(s_exp_match("sweep = 4", &r));
    assert_true(s_exp_match("sweep = cnn-scaling", &r));
    assert_false(s_exp_match("sweep = other-sweep", &r));
    assert_true(s_exp_match("sweep in (other, cnn-scaling)", &r));
    assert_true(s_exp_match("sweep like 'cnn-%'", &r));
    assert_int_equal(ad_filter_parse("sweep in (3, cnn-scaling)", 0, &f, &err), AD_EPARSE);
    assert_non_null(strstr(err.msg, "sweep is an id or a name"));
    /* Errors: like on a number, an unknown key with a suggestion, a bad tag name. */
    assert_int_equal(ad_filter_parse("nodes like 2", 0, &f, &err), AD_EPARSE);
    assert_non_null(strstr(err.msg, "like compares text, and nodes is a number"));
    assert_int_equal(ad_filter_parse("learning_rat > 1", 0, &f, &err), AD_EPARSE);
    assert_non_null(strstr(err.msg, "did you mean learning_rate?"));
    assert_int_equal(ad_filter_parse("tag.a*b = 1", 0, &f, &err), AD_EPARSE);
    assert_int_equal(ad_filter_parse("name like", 0, &f, &err), AD_EPARSE);
    assert_non_null(strstr(err.msg, "expected a pattern after \"like\""));
    assert_null(f);
    /* They select runs, never layout groups, and the store cannot select them. */
    assert_int_equal(ad_filter_parse("tag.study = x and model = cnn", 0, &f, &err), 0);
    assert_true(ad_filter_fields(f) & AD_FIELDS_OF_RUNS & AD_FIELD_BIT(AD_FIELD_TAG));
    {
        ad_run_filter_t rf = {0};

        assert_false(ad_filter_push(f, &rf));
        assert_string_equal(rf.model, "cnn");
    }
    ad_filter_free(&f);
}

static void
test_like(void **st)
{
    (void)st;
    assert_true(ad_filter_like("imagefolder-photos-32", "imagefolder%"));
    assert_true(ad_filter_like("abc", "a_c"));
    assert_true(ad_filter_like("ABC", "abc"));
    assert_true(ad_filter_like("", "%"));
    assert_true(ad_filter_like("a%b", "a%b"));
    assert_false(ad_filter_like("abc", "ab"));
    assert_false(ad_filter_like("ab", "a_c"));
    assert_true(ad_filter_like("x-y-z", "%-%-%"));
    assert_false(ad_filter_like("x-y", "%-%-%"));
    assert_string_equal(ad_filter_param_path("lr"), "optimizer.lr");
    assert_string_equal(ad_filter_param_path("Learning_Rate"), "optimizer.lr");
    assert_string_equal(ad_filter_param_path("spec.layout.nodes"), "layout.nodes");
    assert_string_equal(ad_filter_param_path("seed"), "seed");
    assert_null(ad_filter_param_path("frobnicate"));
}

/* ad_filter_map(): `hardware = vm` turned into the class's fingerprint, like patterns kept. */
static char *
s_map_vm(void *ctx, const char *literal)
{
    (*(int *)ctx)++;
    return strcmp(literal, "vm") ? NULL : strdup("a1aa6b2b59ddecd3");
}

/* layout (NxPxT, 1,2,1 normalised), flags (membership) and hardware names. */
static void
test_layout_flags_hardware(void **st)
{
    row_t r = s_row();
    ad_filter_error_t err;
    ad_filter_t *f = NULL;
    ad_run_filter_t rf = {0};
    int calls = 0;

    (void)st;
    r.text[AD_FIELD_LAYOUT] = "2x2x1";
    r.text[AD_FIELD_FLAGS] = "noisy,high-spread";
    assert_true(s_match("layout = 2x2x1", &r));
    assert_true(s_match("layout = '2,2,1'", &r));
    assert_true(s_match("layout = ' 2 x 2 x 1 '", &r));
    assert_false(s_match("layout = 1x2x1", &r));
    assert_true(s_match("layout in (1x1x1, '2,2,1')", &r));
    assert_true(s_match("layout like '2x%'", &r));
    assert_true(s_match("flags = noisy", &r));
    assert_true(s_match("flags = HIGH-SPREAD", &r));
    assert_false(s_match("flags = few-samples", &r));
    assert_true(s_match("flags != few-samples", &r));
    assert_true(s_match("flags in (few-samples, noisy)", &r));
    assert_false(s_match("flags not in (noisy)", &r));
    assert_true(s_match("flags like '%spread%'", &r));
    r.text[AD_FIELD_FLAGS] = "";
    assert_false(s_match("flags = noisy", &r));
    assert_true(s_match("flags != noisy", &r));

    /* Errors a user sees: a bad layout, an unknown flag, an ordering of a list. */
    assert_int_equal(ad_filter_parse("layout = 2x2", 0, &f, &err), AD_EPARSE);
    assert_non_null(strstr(err.msg, "NODESxPROCSxTHREADS"));
    assert_int_equal(err.column, 10);
    assert_int_equal(ad_filter_parse("flags = noisey", 0, &f, &err), AD_EPARSE);
    assert_non_null(strstr(err.msg, "unknown flag \"noisey\" (did you mean noisy?"));
    assert_int_equal(ad_filter_parse("flags > noisy", 0, &f, &err), AD_EPARSE);
    assert_non_null(strstr(err.msg, "flags is a list"));
    assert_int_equal(ad_filter_parse("layout < 2x1x1", 0, &f, &err), AD_EPARSE);
    assert_non_null(strstr(err.msg, "layout is compared with"));

    /* hardware literals mapped (not like patterns), then pushed to the store as the class. */
    assert_int_equal(
        ad_filter_parse("hardware = vm and (hardware in (vm, x) or hardware like 'vm%')", 0, &f,
                        &err),
        0);
    ad_filter_map(f, AD_FIELD_HARDWARE, s_map_vm, &calls);
    assert_int_equal(calls, 3);
    r.text[AD_FIELD_HARDWARE] = "a1aa6b2b59ddecd3";
    assert_true(ad_filter_match(f, s_get, &r));
    r.text[AD_FIELD_HARDWARE] = "vm";
    assert_false(ad_filter_match(f, s_get, &r));
    ad_filter_push(f, &rf);
    assert_string_equal(rf.hardware, "a1aa6b2b59ddecd3");
    ad_filter_free(&f);
    /* layout = ... is pushed as nodes, ppn and tpp. */
    memset(&rf, 0, sizeof(rf));
    assert_int_equal(ad_filter_parse("layout = '3,2,1'", 0, &f, &err), 0);
    assert_true(ad_filter_push(f, &rf));
    assert_int_equal(rf.nodes, 3);
    assert_int_equal(rf.procs_per_node, 2);
    assert_int_equal(rf.threads_per_proc, 1);
    ad_filter_free(&f);
    memset(&rf, 0, sizeof(rf));
    assert_int_equal(ad_filter_parse("nodes = 2 and layout = 3x2x1", 0, &f, &err), 0);
    assert_false(ad_filter_push(f, &rf)); /* nodes taken: the layout is evaluated */
    assert_int_equal(rf.nodes, 2);
    assert_int_equal(rf.procs_per_node, 0);
    ad_filter_free(&f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_comparisons),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_lists_and_ranges),
        cmocka_unit_test(test_missing_values),
        cmocka_unit_test(test_terms_and_push),
        cmocka_unit_test(test_field_names),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_experiments),
        cmocka_unit_test(test_like),
        cmocka_unit_test(test_layout_flags_hardware),
    };

    return cmocka_run_group_tests_name("filter", tests, NULL, NULL);
}
