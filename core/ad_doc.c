/* ad_doc.c - located documents: YAML or wire JSON as a JSON tree with marks, and typed getters */
#include "autodist/ad_doc.h"

#include <ctype.h>
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

/* Deeper nesting than any of our files has: the mark of a runaway (or cyclic) document. */
#define S_DEPTH_MAX 16
/* The same for readers that check the keys themselves: only a guard of the stack. */
#define S_DEPTH_LATER_MAX 1000

/* Where one value of a YAML document was, by its dotted path ("cpu.cores", "gpus[1].name"). */
typedef struct {
    char *path;        /* owned */
    yaml_mark_t key;   /* the key naming it (the value itself for list items) */
    yaml_mark_t value; /* the value */
    char *raw;         /* a plain scalar's text, owned; NULL otherwise */
    bool key_plain;    /* the key naming it is a plain scalar */
} s_mark_t;

/* A key that AD_DOC_KEYS_LATER leaves to the reader: repeated, or not a scalar. */
typedef struct {
    char *map;         /* path of the mapping, owned */
    char *key;         /* the key, owned; NULL when it is not a scalar */
    const char *got;   /* a key that is not a scalar: "a list" or "a mapping" */
    yaml_mark_t at;    /* where the key is */
    size_t first_line; /* a repeated key: line of its first occurrence, 1-based */
} s_problem_t;

struct ad_doc {
    char *name;      /* file name, or the name of a wire document */
    bool located;    /* marks were recorded (YAML input) */
    s_mark_t *marks; /* in document order */
    json_t *index;   /* path -> position in marks of its latest mark */
    size_t n_marks;
    json_t *root;          /* owned reference */
    unsigned flags;        /* AD_DOC_* */
    s_problem_t *problems; /* in document order */
    size_t n_problems;
    ad_err_t *err;    /* where getter failures go */
    const char *text; /* while parsing: the input, for libyaml error marks */
    size_t len;
};

/* ---------------------------------------------------------------- files */

int
ad_doc_read_file(const char *path, const char *what, size_t max, char **text, size_t *len,
                 ad_err_t *err)
{
    struct stat st;
    size_t got = 0;
    ssize_t n;
    char *buf;
    int fd, rc;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ad_err_set(err, -errno, "%s: %s", path, strerror(errno));
    if (fstat(fd, &st)) {
        rc = ad_err_set(err, -errno, "%s: %s", path, strerror(errno));
        goto out_close;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = ad_err_set(err, -EISDIR, "%s: is a folder, expected a %s", path, what);
        goto out_close;
    }
    if ((size_t)st.st_size > max) {
        rc = ad_err_set(err, AD_EPARSE, "%s: %lld bytes is too large for a %s (at most %zu)", path,
                        (long long)st.st_size, what, max);
        goto out_close;
    }
    buf = ad_malloc(max + 1);
    while ((n = read(fd, buf + got, max + 1 - got)) > 0)
        got += (size_t)n;
    if (n < 0) {
        rc = ad_err_set(err, -errno, "%s: %s", path, strerror(errno));
        free(buf);
        goto out_close;
    }
    if (got > max) {
        rc = ad_err_set(err, AD_EPARSE, "%s: too large for a %s (at most %zu bytes)", path, what,
                        max);
        free(buf);
        goto out_close;
    }
    buf[got] = '\0';
    *text = buf;
    *len = got;
    rc = 0;
out_close:
    close(fd);
    return rc;
}

/* ---------------------------------------------------------------- marks and messages */

static ad_doc_t *
s_new(const char *name, bool located, ad_err_t *err)
{
    ad_doc_t *self = ad_calloc(1, sizeof(*self));

    self->name = ad_strdup(name);
    self->located = located;
    self->err = err;
    return self;
}

void
ad_doc_free(ad_doc_t **self_p)
{
    ad_doc_t *self;

    if (!self_p || !*self_p)
        return;
    self = *self_p;
    for (size_t i = 0; i < self->n_marks; i++) {
        free(self->marks[i].path);
        free(self->marks[i].raw);
    }
    free(self->marks);
    json_decref(self->index);
    for (size_t i = 0; i < self->n_problems; i++) {
        free(self->problems[i].map);
        free(self->problems[i].key);
    }
    free(self->problems);
    json_decref(self->root);
    free(self->name);
    free(self);
    *self_p = NULL;
}

json_t *
ad_doc_root(const ad_doc_t *self)
{
    return self->root;
}

const char *
ad_doc_name(const ad_doc_t *self)
{
    return self->name;
}

ad_doc_t *
ad_doc_wrap(json_t *json, const char *name, ad_err_t *err)
{
    ad_doc_t *self = s_new(name, false, err);

    self->root = json_incref(json);
    return self;
}

static const s_mark_t *
s_find(const ad_doc_t *self, const char *path)
{
    /* The index holds the latest mark of a path: a duplicate key is reported where it is repeated.
     */
    json_t *i = self->index ? json_object_get(self->index, path) : NULL;

    return i ? &self->marks[json_integer_value(i)] : NULL;
}

bool
ad_doc_where(const ad_doc_t *self, const char *path, bool at_key, size_t *line, size_t *col)
{
    const s_mark_t *m = s_find(self, path);

    if (!m)
        return false;
    *line = (at_key ? m->key : m->value).line + 1;
    *col = (at_key ? m->key : m->value).column + 1;
    return true;
}

const char *
ad_doc_raw(const ad_doc_t *self, const char *path)
{
    const s_mark_t *m = s_find(self, path);

    return m ? m->raw : NULL;
}

bool
ad_doc_key_plain(const ad_doc_t *self, const char *path)
{
    const s_mark_t *m = s_find(self, path);

    return m && m->key_plain;
}

bool
ad_doc_key_problem(const ad_doc_t *self, const char *map, ad_doc_key_problem_t *out)
{
    for (size_t i = 0; i < self->n_problems; i++) {
        const s_problem_t *pr = &self->problems[i];

        if (strcmp(pr->map, map))
            continue;
        out->key = pr->key;
        out->got = pr->got;
        out->line = pr->at.line + 1;
        out->col = pr->at.column + 1;
        out->first_line = pr->first_line;
        return true;
    }
    return false;
}

int
ad_doc_fail(const ad_doc_t *self, const char *path, bool at_key, const char *fmt, ...)
{
    char what[400], where[300];
    const s_mark_t *m = NULL;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (self->located) {
        char p[200];

        snprintf(p, sizeof(p), "%s", path);
        while (!(m = s_find(self, p)) && *p) {
            char *cut = p + strlen(p);

            while (cut > p && cut[-1] != '.' && cut[-1] != '[')
                cut--;
            if (cut > p)
                cut--;
            *cut = '\0';
            at_key = false;
        }
        if (m) {
            yaml_mark_t mk = at_key ? m->key : m->value;

            snprintf(where, sizeof(where), "%s:%zu:%zu", self->name, mk.line + 1, mk.column + 1);
        } else {
            snprintf(where, sizeof(where), "%s:1:1", self->name);
        }
    } else {
        snprintf(where, sizeof(where), "%s", self->name);
    }
    if (*path)
        return ad_err_set(self->err, AD_EPARSE, "%s: %s: %s", where, path, what);
    return ad_err_set(self->err, AD_EPARSE, "%s: %s", where, what);
}

const char *
ad_doc_got(const ad_doc_t *self, const char *path, const json_t *v, char *buf, size_t len)
{
    const char *raw = ad_doc_raw(self, path);

    if (raw) {
        snprintf(buf, len, "\"%.48s\"", raw);
        return buf;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "a mapping";
    case JSON_ARRAY:
        return "a list";
    case JSON_NULL:
        return "an empty value";
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    case JSON_STRING:
        snprintf(buf, len, "the string \"%.48s\"", json_string_value(v));
        return buf;
    case JSON_INTEGER:
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    default:
        snprintf(buf, len, "%g", json_real_value(v));
        return buf;
    }
}

void
ad_doc_path(char *buf, size_t len, const char *parent, const char *key)
{
    snprintf(buf, len, "%s%s%s", parent, *parent ? "." : "", key);
}

/* ---------------------------------------------------------------- typed getters */

/* Refuse keys of obj outside the NULL-terminated list allowed. */
int
ad_doc_check_keys(const ad_doc_t *self, const json_t *obj, const char *parent,
                  const char *const *allowed, const char *expected)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)obj, key, v)
    {
        bool ok = false;
        char p[200];

        for (int i = 0; allowed[i] && !ok; i++)
            ok = !strcmp(key, allowed[i]);
        if (!ok) {
            ad_doc_path(p, sizeof(p), parent, key);
            return ad_doc_fail(self, p, true, "unknown key, expected one of: %s", expected);
        }
    }
    return 0;
}

/* The object at parent.key, which must be a mapping when present; *out NULL when absent. */
int
ad_doc_get_obj(const ad_doc_t *self, const json_t *obj, const char *parent, const char *key,
               bool required, json_t **out)
{
    json_t *v = json_object_get(obj, key);
    char p[200], got[80];

    ad_doc_path(p, sizeof(p), parent, key);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required)
            return ad_doc_fail(self, parent, false, "missing key \"%s\"", key);
        return 0;
    }
    if (!json_is_object(v))
        return ad_doc_fail(self, p, false, "expected a mapping, got %s",
                           ad_doc_got(self, p, v, got, 80));
    *out = v;
    return 0;
}

int
ad_doc_get_array(const ad_doc_t *self, const json_t *obj, const char *parent, const char *key,
                 json_t **out)
{
    json_t *v = json_object_get(obj, key);
    char p[200], got[80];

    ad_doc_path(p, sizeof(p), parent, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return ad_doc_fail(self, p, false, "expected a list, got %s",
                           ad_doc_got(self, p, v, got, 80));
    *out = v;
    return 0;
}

/* A string (in YAML, any plain scalar: `model: 5220` is the text "5220"); owned in *out. */
int
ad_doc_get_str(const ad_doc_t *self, const json_t *obj, const char *parent, const char *key,
               bool required, char **out)
{
    json_t *v = json_object_get(obj, key);
    char p[200], got[80];
    const s_mark_t *m;

    ad_doc_path(p, sizeof(p), parent, key);
    if (!v || json_is_null(v)) {
        if (required)
            return ad_doc_fail(self, parent, false, "missing key \"%s\"", key);
        return 0;
    }
    m = s_find(self, p);
    if (json_is_string(v)) {
        free(*out);
        *out = ad_strdup(json_string_value(v));
        return 0;
    }
    if (m && m->raw) {
        free(*out);
        *out = ad_strdup(m->raw);
        return 0;
    }
    return ad_doc_fail(self, p, false, "expected a string, got %s",
                       ad_doc_got(self, p, v, got, 80));
}

int
ad_doc_get_int(const ad_doc_t *self, const json_t *obj, const char *parent, const char *key,
               bool required, json_int_t min, json_int_t max, json_int_t *out)
{
    json_t *v = json_object_get(obj, key);
    char p[200], got[80];

    ad_doc_path(p, sizeof(p), parent, key);
    if (!v || json_is_null(v)) {
        if (required)
            return ad_doc_fail(self, parent, false, "missing key \"%s\"", key);
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        if (max == INT32_MAX)
            return ad_doc_fail(self, p, false,
                               "expected an integer of at least %" JSON_INTEGER_FORMAT ", got %s",
                               min, ad_doc_got(self, p, v, got, 80));
        return ad_doc_fail(self, p, false,
                           "expected an integer from %" JSON_INTEGER_FORMAT
                           " to %" JSON_INTEGER_FORMAT ", got %s",
                           min, max, ad_doc_got(self, p, v, got, 80));
    }
    *out = json_integer_value(v);
    return 0;
}

int
ad_doc_get_real(const ad_doc_t *self, const json_t *obj, const char *parent, const char *key,
                bool positive, double *out)
{
    json_t *v = json_object_get(obj, key);
    char p[200], got[80];

    ad_doc_path(p, sizeof(p), parent, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_number(v) || !isfinite(json_number_value(v)) || json_number_value(v) < 0 ||
        (positive && json_number_value(v) == 0))
        return ad_doc_fail(self, p, false, "expected a %s number, got %s",
                           positive ? "positive" : "non-negative", ad_doc_got(self, p, v, got, 80));
    *out = json_number_value(v);
    return 0;
}

int
ad_doc_get_bool(const ad_doc_t *self, const json_t *obj, const char *parent, const char *key,
                bool *out)
{
    json_t *v = json_object_get(obj, key);
    char p[200], got[80];

    ad_doc_path(p, sizeof(p), parent, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return ad_doc_fail(self, p, false, "expected true or false, got %s",
                           ad_doc_got(self, p, v, got, 80));
    *out = json_is_true(v);
    return 0;
}

/*
 * A byte count: an integer, or a number and a unit as people write them in
 * descriptions ("96 GiB", "24.75 MiB", "1.5 GB").
 */
int
ad_doc_get_size(const ad_doc_t *self, const json_t *obj, const char *parent, const char *key,
                bool required, uint64_t *out)
{
    static const struct {
        const char *unit;
        double scale;
    } units[] = {{"B", 1},
                 {"KiB", 1024.0},
                 {"MiB", 1048576.0},
                 {"GiB", 1073741824.0},
                 {"TiB", 1099511627776.0},
                 {"KB", 1e3},
                 {"kB", 1e3},
                 {"MB", 1e6},
                 {"GB", 1e9},
                 {"TB", 1e12}};
    json_t *v = json_object_get(obj, key);
    char p[200], got[80];

    ad_doc_path(p, sizeof(p), parent, key);
    if (!v || json_is_null(v)) {
        if (required)
            return ad_doc_fail(self, parent, false, "missing key \"%s\"", key);
        return 0;
    }
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (uint64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        double n = strtod(s, &end);

        while (*end == ' ')
            end++;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            if (end != s && isfinite(n) && n >= 0 && !strcmp(end, units[i].unit) &&
                n * units[i].scale < 9.2e18) {
                *out = (uint64_t)llround(n * units[i].scale);
                return 0;
            }
        }
    }
    return ad_doc_fail(self, p, false,
                       "expected a size in bytes (an integer, or a number and a unit such as "
                       "\"96 GiB\"), got %s",
                       ad_doc_got(self, p, v, got, 80));
}

/* ---------------------------------------------------------------- YAML */

static void
s_problem(ad_doc_t *self, const char *map, const char *key, const yaml_node_t *knode,
          const char *got, size_t first_line)
{
    s_problem_t *pr;

    self->problems = ad_realloc(self->problems, (self->n_problems + 1) * sizeof(*self->problems));
    pr = &self->problems[self->n_problems++];
    pr->map = ad_strdup(map);
    pr->key = key ? ad_strdup(key) : NULL;
    pr->got = got;
    pr->at = knode->start_mark;
    pr->first_line = first_line;
}

static void
s_add_mark(ad_doc_t *self, const char *path, const yaml_node_t *knode, const yaml_node_t *node)
{
    yaml_mark_t key = knode->start_mark;
    s_mark_t *m;

    self->marks = ad_realloc(self->marks, (self->n_marks + 1) * sizeof(*self->marks));
    if (!self->index)
        self->index = json_object();
    json_object_set_new_nocheck(self->index, path, json_integer((json_int_t)self->n_marks));
    m = &self->marks[self->n_marks++];
    m->path = ad_strdup(path);
    m->key = key;
    m->value = node->start_mark;
    m->raw = NULL;
    m->key_plain =
        knode->type == YAML_SCALAR_NODE && knode->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    if (node->type == YAML_SCALAR_NODE && node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
        m->raw = ad_strdup((const char *)node->data.scalar.value);
}

/* [-+]?[0-9]+ */
static bool
s_is_integer(const char *s)
{
    if (*s == '-' || *s == '+')
        s++;
    return *s && strspn(s, "0123456789") == strlen(s);
}

/* A plain scalar as YAML 1.2's core schema reads it: null, bool, integer, float or string. */
static int
s_scalar(ad_doc_t *self, const char *path, const yaml_node_t *node, json_t **out)
{
    const char *s = (const char *)node->data.scalar.value;
    char *end;

    if (node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        *out = json_string(s);
        return 0;
    }
    if (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL"))
        *out = json_null();
    else if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
        *out = json_true();
    else if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
        *out = json_false();
    else if (s_is_integer(s)) {
        long long v;

        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno == ERANGE && !(self->flags & AD_DOC_NUMBERS_LATER))
            return ad_doc_fail(self, path, false, "number \"%.40s\" is out of range", s);
        *out = errno != ERANGE ? json_integer(v)
               : isfinite(strtod(s, NULL)) ? json_real(strtod(s, NULL))
                                           : json_string(s);
    } else if ((isdigit((unsigned char)s[0]) || ((s[0] == '-' || s[0] == '+' || s[0] == '.') &&
                                                 (isdigit((unsigned char)s[1]) || s[1] == '.'))) &&
               (strtod(s, &end), !*end)) {
        double v = strtod(s, NULL);

        /* JSON has no infinity: "1e999" is out of range, or left as text for the reader to judge. */
        if (!isfinite(v) && !(self->flags & AD_DOC_NUMBERS_LATER))
            return ad_doc_fail(self, path, false, "number \"%.40s\" is out of range", s);
        *out = isfinite(v) ? json_real(v) : json_string(s);
    } else {
        *out = json_string(s);
    }
    /* Invalid UTF-8 never gets this far (libyaml's reader refuses it), so only OOM is left. */
    if (!*out)
        ad_oom(strlen(s));
    return 0;
}

static int
s_node(ad_doc_t *self, yaml_document_t *doc, yaml_node_t *node, const char *path, int depth,
       json_t **out)
{
    char p[200];
    int rc;

    *out = NULL;
    /* Readers that walk the document themselves (AD_DOC_KEYS_LATER) stop at the first bad key. */
    if (depth > ((self->flags & AD_DOC_KEYS_LATER) ? S_DEPTH_LATER_MAX : S_DEPTH_MAX))
        return ad_doc_fail(self, path, false, "nested too deeply");
    if (node->type == YAML_SCALAR_NODE)
        return s_scalar(self, path, node, out);
    if (node->type == YAML_SEQUENCE_NODE) {
        json_t *arr = json_array();

        for (yaml_node_item_t *it = node->data.sequence.items.start;
             it < node->data.sequence.items.top; it++) {
            yaml_node_t *item = yaml_document_get_node(doc, *it);
            json_t *v;

            snprintf(p, sizeof(p), "%s[%td]", path, it - node->data.sequence.items.start);
            s_add_mark(self, p, item, item);
            rc = s_node(self, doc, item, p, depth + 1, &v);
            if (rc) {
                json_decref(arr);
                return rc;
            }
            json_array_append_new(arr, v);
        }
        *out = arr;
        return 0;
    }
    json_t *obj = json_object();

    for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
         pair < node->data.mapping.pairs.top; pair++) {
        yaml_node_t *k = yaml_document_get_node(doc, pair->key);
        yaml_node_t *v = yaml_document_get_node(doc, pair->value);
        const char *key;
        json_t *jv;

        if (k->type != YAML_SCALAR_NODE && (self->flags & AD_DOC_KEYS_LATER)) {
            s_problem(self, path, NULL, k, k->type == YAML_SEQUENCE_NODE ? "a list" : "a mapping",
                      0);
            continue;
        }
        if (k->type != YAML_SCALAR_NODE) {
            s_add_mark(self, "?", k, k);
            json_decref(obj);
            return ad_doc_fail(self, "?", false, "keys must be plain words%s%s",
                               *path ? " in " : "", path);
        }
        key = (const char *)k->data.scalar.value;
        ad_doc_path(p, sizeof(p), path, key);
        if (json_object_get(obj, key) && (self->flags & AD_DOC_KEYS_LATER)) {
            size_t line = 0, col = 0;

            ad_doc_where(self, p, true, &line, &col);
            s_problem(self, path, key, k, NULL, line);
            continue;
        }
        s_add_mark(self, p, k, v);
        if (json_object_get(obj, key)) {
            json_decref(obj);
            return ad_doc_fail(self, p, true, "duplicate key");
        }
        rc = s_node(self, doc, v, p, depth + 1, &jv);
        if (rc) {
            json_decref(obj);
            return rc;
        }
        json_object_set_new(obj, key, jv);
    }
    *out = obj;
    return 0;
}

/* Line and column (0-based, like libyaml's marks) of a byte offset of the text. */
static yaml_mark_t
s_offset_mark(const ad_doc_t *self, size_t off)
{
    yaml_mark_t m = {0, 0, 0};

    for (size_t i = 0; i < off && i < self->len; i++) {
        if (self->text[i] == '\n') {
            m.line++;
            m.column = 0;
        } else {
            m.column++;
        }
    }
    m.index = off;
    return m;
}

static int __attribute__((format(printf, 3, 4)))
s_fail_at(const ad_doc_t *self, yaml_mark_t mark, const char *fmt, ...)
{
    char what[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return ad_err_set(self->err, AD_EPARSE, "%s:%zu:%zu: %s", self->name, mark.line + 1,
                      mark.column + 1, what);
}

/* Translate a libyaml failure into one located line. */
static int
s_yaml_error(const ad_doc_t *self, const yaml_parser_t *parser)
{
    yaml_mark_t mark = parser->problem_mark;
    const char *problem = parser->problem ? parser->problem : "unknown error";

    if (parser->error == YAML_MEMORY_ERROR)
        ad_oom(0);
    if (parser->error == YAML_READER_ERROR) {
        mark = s_offset_mark(self, parser->problem_offset);
        if (parser->problem_value >= 0)
            return s_fail_at(self, mark, "invalid YAML: %s (byte 0x%02x)", problem,
                             parser->problem_value & 0xff);
        return s_fail_at(self, mark, "invalid YAML: %s", problem);
    }
    if (mark.index < self->len && self->text[mark.index] == '\t')
        return s_fail_at(self, mark,
                         "tab character in indentation, expected spaces (YAML indents "
                         "with spaces only)");
    /* libyaml puts the end of the stream on a line of its own; say where the text ends. */
    if (mark.index >= self->len)
        mark = s_offset_mark(self, self->len);
    if (parser->context && mark.index >= self->len)
        return s_fail_at(self, mark,
                         "invalid YAML: %s %s started at line %zu, column %zu; is the "
                         "file truncated?",
                         problem, parser->context, parser->context_mark.line + 1,
                         parser->context_mark.column + 1);
    if (parser->context)
        return s_fail_at(self, mark, "invalid YAML: %s %s started at line %zu, column %zu", problem,
                         parser->context, parser->context_mark.line + 1,
                         parser->context_mark.column + 1);
    if (mark.index >= self->len)
        return s_fail_at(self, mark, "invalid YAML: %s; is the file truncated?", problem);
    return s_fail_at(self, mark, "invalid YAML: %s", problem);
}

/* Load the one YAML document of the text into doc; on failure doc is not left to delete. */
static int
s_load(ad_doc_t *self, yaml_document_t *doc, const char *what, const char *keys)
{
    yaml_parser_t parser;
    yaml_document_t extra;
    yaml_node_t *r2;
    yaml_mark_t origin = {0, 0, 0};
    int rc = 0;

    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)self->text, self->len);
    if (!yaml_parser_load(&parser, doc)) {
        rc = s_yaml_error(self, &parser);
        goto out_parser;
    }
    if (!yaml_document_get_root_node(doc)) {
        rc = s_fail_at(self, origin, "empty %s, expected a mapping of %s", what, keys);
        goto err_delete;
    }
    if (!yaml_parser_load(&parser, &extra)) {
        rc = s_yaml_error(self, &parser);
        goto err_delete;
    }
    r2 = yaml_document_get_root_node(&extra);
    if (r2)
        rc = s_fail_at(self, r2->start_mark,
                       "a %s holds one YAML document, found a second one (remove the '---' line)",
                       what);
    yaml_document_delete(&extra);
    if (rc)
        goto err_delete;
    goto out_parser;
err_delete:
    yaml_document_delete(doc);
out_parser:
    yaml_parser_delete(&parser);
    return rc;
}

int
ad_doc_parse_yaml(const char *text, size_t len, const char *name, const char *what,
                  const char *keys, unsigned flags, ad_doc_t **out, ad_err_t *err)
{
    ad_doc_t *self = s_new(name, true, err);
    yaml_document_t doc;
    yaml_node_t *root;
    yaml_mark_t origin = {0, 0, 0};
    int rc;

    *out = NULL;
    self->flags = flags;
    self->text = text;
    self->len = len;
    rc = s_load(self, &doc, what, keys);
    if (rc)
        goto err_free;
    root = yaml_document_get_root_node(&doc);
    s_add_mark(self, "", root, root);
    self->marks[0].key = origin;
    rc = s_node(self, &doc, root, "", 0, &self->root);
    yaml_document_delete(&doc);
    if (rc)
        goto err_free;
    self->text = NULL;
    self->len = 0;
    *out = self;
    return 0;
err_free:
    ad_doc_free(&self);
    return rc;
}

/* ---------------------------------------------------------------- wire getters (by dotted path) */

/* A short description of a JSON value for error messages: "3.5", "\"abc\"", "an array". */
void
ad_doc_describe(const json_t *v, char *buf, size_t size)
{
    char *text;

    if (json_is_object(v)) {
        snprintf(buf, size, "an object");
        return;
    }
    if (json_is_array(v)) {
        snprintf(buf, size, "an array");
        return;
    }
    text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!text) {
        snprintf(buf, size, "an unprintable value");
        return;
    }
    if (strlen(text) > 40)
        snprintf(buf, size, "%.37s...", text);
    else
        snprintf(buf, size, "%s", text);
    free(text);
}

/* Find the value at a dotted path; -ENOENT when it or a parent is absent or null. */
static int
s_lookup(const json_t *obj, const char *path, json_t **out, ad_err_t *err)
{
    const json_t *cur = obj;
    const char *p = path;
    char key[128];
    char got[64];

    for (;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);

        assert(n < sizeof(key));
        if (!json_is_object(cur)) {
            ad_doc_describe(cur, got, sizeof(got));
            if (p == path)
                return ad_err_set(err, AD_EINVAL, "expected a JSON object, got %s", got);
            return ad_err_set(err, AD_EINVAL, "field \"%.*s\": expected an object, got %s",
                              (int)(p - path - 1), path, got);
        }
        memcpy(key, p, n);
        key[n] = '\0';
        cur = json_object_get(cur, key);
        if (!cur || json_is_null(cur))
            return ad_err_set(err, -ENOENT, "missing field \"%s\"", path);
        if (!dot)
            break;
        p = dot + 1;
    }
    *out = (json_t *)cur;
    return 0;
}

int
ad_json_get_int(const json_t *obj, const char *path, int64_t min, int64_t max, int64_t *out,
                ad_err_t *err)
{
    json_t *v;
    json_int_t x;
    char got[64];
    int rc;

    rc = s_lookup(obj, path, &v, err);
    if (rc)
        return rc;
    x = json_is_integer(v) ? json_integer_value(v) : 0;
    if (!json_is_integer(v) || x < min || x > max) {
        ad_doc_describe(v, got, sizeof(got));
        if (max == INT64_MAX)
            return ad_err_set(err, AD_EINVAL,
                              "field \"%s\": expected an integer >= %" PRId64 ", got %s", path, min,
                              got);
        return ad_err_set(err, AD_EINVAL,
                          "field \"%s\": expected an integer in %" PRId64 "..%" PRId64 ", got %s",
                          path, min, max, got);
    }
    *out = x;
    return 0;
}

int
ad_json_get_double(const json_t *obj, const char *path, double min, double max, double *out,
                   ad_err_t *err)
{
    json_t *v;
    double x;
    char got[64];
    int rc;

    rc = s_lookup(obj, path, &v, err);
    if (rc)
        return rc;
    x = json_is_number(v) ? json_number_value(v) : 0;
    if (!json_is_number(v) || !(x >= min && x <= max)) {
        ad_doc_describe(v, got, sizeof(got));
        return ad_err_set(err, AD_EINVAL, "field \"%s\": expected a number in %g..%g, got %s", path,
                          min, max, got);
    }
    *out = x;
    return 0;
}

int
ad_json_get_string(const json_t *obj, const char *path, size_t min_len, size_t max_len,
                   const char **out, ad_err_t *err)
{
    json_t *v;
    size_t len;
    char got[64];
    int rc;

    rc = s_lookup(obj, path, &v, err);
    if (rc)
        return rc;
    if (!json_is_string(v)) {
        ad_doc_describe(v, got, sizeof(got));
        return ad_err_set(err, AD_EINVAL, "field \"%s\": expected a string, got %s", path, got);
    }
    len = json_string_length(v);
    if (len < min_len || len > max_len) {
        if (min_len == 1 && len == 0)
            return ad_err_set(err, AD_EINVAL, "field \"%s\": must not be empty", path);
        return ad_err_set(err, AD_EINVAL,
                          "field \"%s\": expected a string of %zu..%zu bytes, got %zu bytes", path,
                          min_len, max_len, len);
    }
    *out = json_string_value(v);
    return 0;
}

int
ad_json_get_bool(const json_t *obj, const char *path, bool *out, ad_err_t *err)
{
    json_t *v;
    char got[64];
    int rc;

    rc = s_lookup(obj, path, &v, err);
    if (rc)
        return rc;
    if (!json_is_boolean(v)) {
        ad_doc_describe(v, got, sizeof(got));
        return ad_err_set(err, AD_EINVAL, "field \"%s\": expected true or false, got %s", path,
                          got);
    }
    *out = json_is_true(v);
    return 0;
}

int
ad_json_get_object(const json_t *obj, const char *path, json_t **out, ad_err_t *err)
{
    json_t *v;
    char got[64];
    int rc;

    rc = s_lookup(obj, path, &v, err);
    if (rc)
        return rc;
    if (!json_is_object(v)) {
        ad_doc_describe(v, got, sizeof(got));
        return ad_err_set(err, AD_EINVAL, "field \"%s\": expected an object, got %s", path, got);
    }
    *out = v;
    return 0;
}

int
ad_json_get_array(const json_t *obj, const char *path, size_t max_len, json_t **out, ad_err_t *err)
{
    json_t *v;
    char got[64];
    int rc;

    rc = s_lookup(obj, path, &v, err);
    if (rc)
        return rc;
    if (!json_is_array(v)) {
        ad_doc_describe(v, got, sizeof(got));
        return ad_err_set(err, AD_EINVAL, "field \"%s\": expected an array, got %s", path, got);
    }
    if (json_array_size(v) > max_len)
        return ad_err_set(err, AD_EINVAL, "field \"%s\": more than %zu elements (%zu)", path,
                          max_len, json_array_size(v));
    *out = v;
    return 0;
}
