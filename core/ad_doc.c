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

/* "FILE:LINE:COL" of path (or its key) or of its nearest written parent; unlocated, the name. */
static void
s_where(const ad_doc_t *self, const char *path, bool at_key, char *where, size_t size)
{
    const s_mark_t *m = NULL;

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

            snprintf(where, size, "%s:%zu:%zu", self->name, mk.line + 1, mk.column + 1);
        } else {
            snprintf(where, size, "%s:1:1", self->name);
        }
    } else {
        snprintf(where, size, "%s", self->name);
    }
}

/* "WHERE: [PATH: ]message": the one place located messages are written. */
static int __attribute__((format(printf, 5, 0)))
s_vfail(const ad_doc_t *self, const char *path, bool at_key, bool name_path, const char *fmt,
        va_list ap)
{
    char what[400], where[300];

    vsnprintf(what, sizeof(what), fmt, ap);
    s_where(self, path, at_key, where, sizeof(where));
    if (name_path && *path)
        return ad_err_set(self->err, AD_EPARSE, "%s: %s: %s", where, path, what);
    return ad_err_set(self->err, AD_EPARSE, "%s: %s", where, what);
}

int
ad_doc_fail_at(const ad_doc_t *self, const char *path, bool at_key, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = s_vfail(self, path, at_key, false, fmt, ap);
    va_end(ap);
    return rc;
}

int
ad_doc_fail(const ad_doc_t *self, const char *path, bool at_key, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = s_vfail(self, path, at_key, true, fmt, ap);
    va_end(ap);
    return rc;
}

void
ad_doc_path(char *buf, size_t len, const char *parent, const char *key)
{
    snprintf(buf, len, "%s%s%s", parent, *parent ? "." : "", key);
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
        *out = errno != ERANGE             ? json_integer(v)
               : isfinite(strtod(s, NULL)) ? json_real(strtod(s, NULL))
                                           : json_string(s);
    } else if ((isdigit((unsigned char)s[0]) || ((s[0] == '-' || s[0] == '+' || s[0] == '.') &&
                                                 (isdigit((unsigned char)s[1]) || s[1] == '.'))) &&
               (strtod(s, &end), !*end)) {
        double v = strtod(s, NULL);

        /* JSON has no infinity: "1e999" is out of range, or text for the reader to judge. */
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
            return ad_doc_fail_at(self, "?", false, "keys must be names, got %s%s%s",
                                  k->type == YAML_SEQUENCE_NODE ? "a list" : "a mapping",
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
        if (json_object_get(obj, key)) {
            size_t line = 0, col = 0;

            /* Worded as job files word it (ad_job_check_keys()). */
            ad_doc_where(self, p, true, &line, &col);
            s_add_mark(self, p, k, v);
            json_decref(obj);
            return ad_doc_fail_at(self, p, true, "duplicate key %s (first given at line %zu)", p,
                                  line);
        }
        s_add_mark(self, p, k, v);
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
