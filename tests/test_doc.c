/* test_doc.c - unit tests of ad_doc: YAML with marks, wire JSON, typed getters and their messages
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autodist/ad_doc.h"

#define assert_msg_is(err, s)                                                                      \
    do {                                                                                           \
        if (strcmp((err).msg, (s)))                                                                \
            fail_msg("expected the message \"%s\", got \"%s\"", (s), (err).msg);                   \
    } while (0)

static const char s_text[] = "name: node-1\n"
                             "cpu:\n"
                             "  cores: -4\n"
                             "  model: 5220\n"
                             "  ghz: 2.5\n"
                             "memory: 96 GiB\n"
                             "gpus:\n"
                             "  - {name: a100, count: 2}\n"
                             "smt: yes\n";

static ad_doc_t *
s_parse(ad_err_t *err)
{
    ad_doc_t *doc = NULL;

    if (ad_doc_parse_yaml(s_text, strlen(s_text), "node.yaml", "node file", "node keys", 0, &doc,
                          err))
        fail_msg("%s", err->msg);
    return doc;
}

/* Every value keeps where it was; plain scalars keep their text. */
static void
test_marks(void **state)
{
    ad_err_t err = {0};
    ad_doc_t *doc = s_parse(&err);
    size_t line = 0, col = 0;

    assert_true(ad_doc_where(doc, "cpu.cores", false, &line, &col));
    assert_int_equal(line, 3);
    assert_int_equal(col, 10);
    assert_true(ad_doc_where(doc, "cpu.cores", true, &line, &col));
    assert_int_equal(col, 3);
    assert_true(ad_doc_where(doc, "gpus[0].count", false, &line, &col));
    assert_int_equal(line, 8);
    assert_false(ad_doc_where(doc, "cpu.threads", false, &line, &col));
    assert_string_equal(ad_doc_raw(doc, "cpu.model"), "5220");
    assert_string_equal(ad_doc_name(doc), "node.yaml");
    assert_true(json_is_object(ad_doc_root(doc)));
    ad_doc_free(&doc);
    ad_doc_free(&doc);
    assert_null(doc);
}

/* Typed getters: values, and located messages for wrong ones. */
static void
test_getters(void **state)
{
    ad_err_t err = {0};
    ad_doc_t *doc = s_parse(&err);
    json_t *root = ad_doc_root(doc), *cpu = NULL, *gpus = NULL;
    json_int_t n = 0;
    uint64_t size = 0;
    double ghz = 0;
    char *model = NULL, *name = NULL;
    bool smt = false;

    assert_int_equal(ad_doc_get_obj(doc, root, "", "cpu", true, &cpu), 0);
    assert_int_equal(ad_doc_get_array(doc, root, "", "gpus", &gpus), 0);
    assert_int_equal(json_array_size(gpus), 1);
    /* A plain scalar is a string where one is asked for. */
    assert_int_equal(ad_doc_get_str(doc, cpu, "cpu", "model", true, &model), 0);
    assert_string_equal(model, "5220");
    assert_int_equal(ad_doc_get_str(doc, root, "", "name", true, &name), 0);
    assert_string_equal(name, "node-1");
    assert_int_equal(ad_doc_get_real(doc, cpu, "cpu", "ghz", true, &ghz), 0);
    assert_true(ghz == 2.5);
    assert_int_equal(ad_doc_get_size(doc, root, "", "memory", true, &size), 0);
    assert_true(size == UINT64_C(96) << 30);

    assert_int_equal(ad_doc_get_int(doc, cpu, "cpu", "cores", true, 1, INT32_MAX, &n), AD_EPARSE);
    assert_msg_is(err, "node.yaml:3:10: cpu.cores must be a positive integer, got \"-4\"");
    assert_int_equal(ad_doc_get_int(doc, cpu, "cpu", "cores", true, -8, 8, &n), 0);
    assert_int_equal(n, -4);
    assert_int_equal(ad_doc_get_int(doc, cpu, "cpu", "threads", true, 1, 8, &n), AD_EPARSE);
    assert_msg_is(err, "node.yaml:3:3: cpu.threads is required");
    /* "yes" is a string in YAML 1.2, not a bool. */
    assert_int_equal(ad_doc_get_bool(doc, root, "", "smt", &smt), AD_EPARSE);
    assert_msg_is(err, "node.yaml:9:6: smt must be true or false, got \"yes\"");
    assert_int_equal(ad_doc_get_size(doc, root, "", "name", true, &size), AD_EPARSE);
    assert_non_null(strstr(err.msg, "node.yaml:1:7: name must be a size in bytes"));
    assert_int_equal(ad_doc_get_obj(doc, root, "", "gpus", false, &cpu), AD_EPARSE);
    assert_msg_is(err, "node.yaml:8:3: gpus must be a mapping, got a list");
    {
        static const char *const allowed[] = {"name", "cpu", "memory", "gpus", NULL};

        assert_int_equal(ad_doc_check_keys(doc, root, "", allowed, "name, cpu, memory, gpus"),
                         AD_EPARSE);
        assert_msg_is(err, "node.yaml:9:1: unknown key \"smt\", expected one of name, cpu, "
                           "memory, gpus");
    }
    free(model);
    free(name);
    ad_doc_free(&doc);
}

/* Bad YAML: one located line, the same for every reader. */
static void
test_bad_yaml(void **state)
{
    static const struct {
        const char *text;
        const char *msg;
    } cases[] = {
        {"a: [1, 2\n", "x.yaml:2:1: invalid YAML: did not find expected ',' or ']' while parsing a "
                       "flow sequence started at line 1, column 4; is the file truncated?"},
        {"a: 1\n\tb: 2\n", "x.yaml:2:1: tab character in indentation, expected spaces (YAML "
                           "indents with spaces only)"},
        {"", "x.yaml:1:1: empty node file, expected a mapping of node keys"},
        {"a: 1\n---\nb: 2\n", "x.yaml:3:1: a node file holds one YAML document, found a second "
                              "one (remove the '---' line)"},
        {"a: 1\na: 2\n", "x.yaml:2:1: duplicate key a (first given at line 1)"},
        {"a: \"\xff\"\n", "x.yaml:1:5: invalid YAML: invalid leading UTF-8 octet (byte 0xff)"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ad_err_t err = {0};
        ad_doc_t *doc = NULL;

        assert_int_equal(ad_doc_parse_yaml(cases[i].text, strlen(cases[i].text), "x.yaml",
                                           "node file", "node keys", 0, &doc, &err),
                         AD_EPARSE);
        assert_null(doc);
        assert_msg_is(err, cases[i].msg);
    }
}

/* AD_DOC_KEYS_LATER: repeated keys and keys that are not scalars are left to the reader. */
static void
test_keys_later(void **state)
{
    static const char text[] = "a: 1\nb:\n  c: 2\n  [x]: 3\n  c: 4\na: 5\n";
    ad_err_t err = {0};
    ad_doc_t *doc = NULL;
    ad_doc_key_problem_t pr;
    json_t *root;

    if (ad_doc_parse_yaml(text, strlen(text), "k.yaml", "file", "keys", AD_DOC_KEYS_LATER, &doc,
                          &err))
        fail_msg("%s", err.msg);
    root = ad_doc_root(doc);
    /* The first value of a repeated key is kept. */
    assert_int_equal(json_integer_value(json_object_get(root, "a")), 1);
    assert_int_equal(json_object_size(json_object_get(root, "b")), 1);
    assert_true(ad_doc_key_problem(doc, "", &pr));
    assert_string_equal(pr.key, "a");
    assert_int_equal(pr.line, 6);
    assert_int_equal(pr.first_line, 1);
    assert_true(ad_doc_key_problem(doc, "b", &pr));
    assert_null(pr.key);
    assert_string_equal(pr.got, "a list");
    assert_int_equal(pr.line, 4);
    assert_int_equal(pr.col, 3);
    assert_false(ad_doc_key_problem(doc, "b.c", &pr));
    assert_true(ad_doc_key_plain(doc, "b.c"));
    ad_doc_free(&doc);
}

/* A wire document has no marks: messages start with its name. */
static void
test_wrap(void **state)
{
    ad_err_t err = {0};
    json_t *j = json_pack("{s:{s:s}}", "cpu", "cores", "many");
    ad_doc_t *doc = ad_doc_wrap(j, "profile", &err);
    json_t *cpu = NULL;
    json_int_t n;
    size_t line, col;

    json_decref(j);
    assert_int_equal(ad_doc_get_obj(doc, ad_doc_root(doc), "", "cpu", true, &cpu), 0);
    assert_int_equal(ad_doc_get_int(doc, cpu, "cpu", "cores", true, 1, 64, &n), AD_EPARSE);
    assert_msg_is(err, "profile: cpu.cores must be a positive integer (at most 64), got the string "
                       "\"many\"");
    assert_false(ad_doc_where(doc, "cpu", false, &line, &col));
    ad_doc_free(&doc);
}

/* Wire getters by dotted path (the protocol's). */
static void
test_wire(void **state)
{
    ad_err_t err = {0};
    json_t *j = json_pack("{s:{s:f},s:s,s:[i,i,i]}", "load", "cpu", 3.5, "id", "", "list", 1, 2, 3);
    double d;
    const char *s;
    json_t *v;

    assert_int_equal(ad_doc_json_get_double(j, "load.cpu", 0, 1, &d, &err), AD_EINVAL);
    assert_msg_is(err, "load.cpu must be a number from 0 to 1, got 3.5");
    assert_int_equal(ad_doc_json_get_string(j, "id", 1, 64, &s, &err), AD_EINVAL);
    assert_msg_is(err, "id must be a string of 1 to 64 bytes, got \"\"");
    assert_int_equal(ad_doc_json_get_array(j, "list", 2, &v, &err), AD_EINVAL);
    assert_msg_is(err, "list must be a list of at most 2 items, got 3 items");
    assert_int_equal(ad_doc_json_get_object(j, "load.gpu", &v, &err), -ENOENT);
    assert_msg_is(err, "load.gpu is required");
    json_decref(j);
}

/* The one check: job files' text mode and the wire word a wrong value alike. */
static void
test_check(void **state)
{
    static const char *const allowed[] = {"name", "cpu", NULL};
    static const char *const words[] = {"sgd", "adam", NULL};
    ad_doc_want_t want = {.kind = AD_DOC_INT, .min = 1, .max = 8, .text = true};
    ad_doc_value_t val = {NULL, "007", true};
    ad_err_t err = {0};
    json_t *j = json_pack("{s:i}", "nmae", 1);
    ad_doc_t *doc = ad_doc_wrap(j, "profile", &err);
    char msg[200];
    int64_t i = 0;
    int k = -1;

    (void)state;
    assert_int_equal(ad_doc_check(&val, &want, &i, msg, sizeof(msg)), -1);
    assert_string_equal(msg, "must be a positive integer (plain decimal, at most 8), got \"007\"");
    val.text = "7";
    assert_int_equal(ad_doc_check(&val, &want, &i, msg, sizeof(msg)), 0);
    assert_int_equal(i, 7);
    want = (ad_doc_want_t){.kind = AD_DOC_ENUM, .names = words, .text = true};
    val = (ad_doc_value_t){NULL, "adma", false};
    assert_int_equal(ad_doc_check(&val, &want, &k, msg, sizeof(msg)), -1);
    assert_string_equal(msg, "must be one of sgd, adam, got the string \"adma\"");
    assert_int_equal(ad_doc_check_keys(doc, ad_doc_root(doc), "", allowed, "name, cpu"), AD_EPARSE);
    assert_msg_is(err, "profile: unknown key \"nmae\" (did you mean name?), expected one of "
                       "name, cpu");
    ad_doc_free(&doc);
    json_decref(j);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_marks),    cmocka_unit_test(test_getters),
        cmocka_unit_test(test_bad_yaml), cmocka_unit_test(test_keys_later),
        cmocka_unit_test(test_wrap),     cmocka_unit_test(test_wire),
        cmocka_unit_test(test_check),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
