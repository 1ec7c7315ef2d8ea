/* ad_filter.c - the --where language of `autodist runs` and `autodist speedup`: parse, evaluate */
#include "ad_filter.h"

#include <assert.h>
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "autodist/ad_layout.h"
#include "autodist/ad_suggest.h"

/*
 * Grammar (docs/speedup.md), lowest precedence first:
 *
 *   expr       := and_expr { "or" and_expr }
 *   and_expr   := not_expr { "and" not_expr }
 *   not_expr   := "not" not_expr | "(" expr ")" | comparison
 *   comparison := FIELD op value
 *               | FIELD ["not"] "in" "(" value { "," value } ")"
 *               | FIELD ["not"] "between" value "and" value
 *               | FIELD "is" ["not"] "null"
 *   op         := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">="
 *   value      := WORD | 'quoted' | "quoted"
 *
 * Keywords are words in any case; a value that is a keyword is quoted.
 */

/* ---- fields --------------------------------------------------------------------------- */

static const struct {
    const char *name;    /* canonical */
    const char *aliases; /* space-separated, each with a space on both sides */
    bool text;           /* text or number */
} s_fields[AD_FIELD_COUNT] = {
    [AD_FIELD_MODEL] = {"model", " ", true},
    [AD_FIELD_DATASET] = {"dataset", " ", true},
    [AD_FIELD_HARDWARE] = {"hardware", " ", true},
    [AD_FIELD_DEVICE] = {"device", " ", true},
    [AD_FIELD_BATCH] = {"batch", " batch_size ", false},
    [AD_FIELD_NODES] = {"nodes", " ", false},
    [AD_FIELD_PPN] = {"ppn", " procs_per_node procs ", false},
    [AD_FIELD_TPP] = {"tpp", " threads_per_proc threads ", false},
    [AD_FIELD_WORKERS] = {"workers", " ", false},
    [AD_FIELD_CORES] = {"cores", " ", false},
    [AD_FIELD_STATE] = {"state", " ", true},
    [AD_FIELD_JOB] = {"job", " ", false},
    [AD_FIELD_SWEEP] = {"sweep", " ", false},
    [AD_FIELD_ID] = {"id", " ", false},
    [AD_FIELD_SAMPLES] = {"samples_per_s", " sps throughput ", false},
    [AD_FIELD_SPEEDUP] = {"speedup", " ", false},
    [AD_FIELD_EFFICIENCY] = {"efficiency", " ", false},
    [AD_FIELD_ACCURACY] = {"accuracy", " ", false},
    [AD_FIELD_RUNS] = {"runs", " ", false},
    [AD_FIELD_NAME] = {"name", " job_name ", true},
    [AD_FIELD_NOTE] = {"note", " ", true},
    [AD_FIELD_TAG] = {"tag.KEY", " ", true},
    [AD_FIELD_PARAM] = {"spec.KEY", " ", true},
    [AD_FIELD_SWEEP_NAME] = {"sweep_name", " ", true},
    [AD_FIELD_LAYOUT] = {"layout", " ", true},
    [AD_FIELD_FLAGS] = {"flags", " flag ", true},
};

/* The flags a run or a group may have (`flags = noisy`). */
static const char *const s_flag_names[] = {AD_STORE_FLAG_NOISY, AD_STORE_FLAG_HIGH_SPREAD,
                                           AD_STORE_FLAG_EFFICIENCY, AD_STORE_FLAG_FEW_SAMPLES};

/* Whether the comma list has flag (any case). */
static bool
s_has_flag(const char *list, const char *flag)
{
    size_t len = strlen(flag);

    for (const char *p = list; p && *p;) {
        size_t n = strcspn(p, ",");

        if (n == len && !strncasecmp(p, flag, len))
            return true;
        p += n + (p[n] == ',');
    }
    return false;
}

/* Tags and spec keys hold text or numbers: compared as numbers when both sides are numbers. */
static bool
s_mixed(ad_field_t field)
{
    return field == AD_FIELD_TAG || field == AD_FIELD_PARAM;
}

/* Job keys a --where may name bare (the others: spec.PATH), and the path of each. */
static const struct {
    const char *name;
    const char *path;
} s_params[] = {
    {"lr", "optimizer.lr"},
    {"learning_rate", "optimizer.lr"},
    {"momentum", "optimizer.momentum"},
    {"weight_decay", "optimizer.weight_decay"},
    {"optimizer", "optimizer.type"},
    {"seed", "seed"},
    {"epochs", "epochs"},
    {"steps", "steps"},
    {"eval", "eval"},
    {"bucket_mb", "bucket_mb"},
    {"time_limit", "time_limit"},
    {"checkpoint_every", "checkpoint_every"},
    {"checkpoint_keep", "checkpoint_keep"},
    {"requeue", "requeue"},
};

const char *
ad_filter_param_path(const char *name)
{
    static char path[128];

    if (!strncasecmp(name, "spec.", 5) && name[5] && strlen(name + 5) < sizeof(path)) {
        snprintf(path, sizeof(path), "%s", name + 5);
        return path;
    }
    if (!strncasecmp(name, "optimizer.", 10) || !strncasecmp(name, "layout.", 7) ||
        !strncasecmp(name, "dataset.", 8)) {
        snprintf(path, sizeof(path), "%s", name);
        return strlen(name) < sizeof(path) ? path : NULL;
    }
    for (size_t i = 0; i < sizeof(s_params) / sizeof(s_params[0]); i++)
        if (!strcasecmp(name, s_params[i].name))
            return s_params[i].path;
    return NULL;
}

bool
ad_filter_like(const char *s, const char *pattern)
{
    if (!*pattern)
        return !*s;
    if (*pattern == '%') {
        while (*pattern == '%')
            pattern++;
        if (!*pattern)
            return true;
        for (; *s; s++)
            if (ad_filter_like(s, pattern))
                return true;
        return false;
    }
    if (!*s)
        return false;
    if (*pattern != '_' && tolower((unsigned char)*pattern) != tolower((unsigned char)*s))
        return false;
    return ad_filter_like(s + 1, pattern + 1);
}

const char *
ad_filter_field_name(ad_field_t field)
{
    assert(field >= 0 && field < AD_FIELD_COUNT);
    return s_fields[field].name;
}

bool
ad_filter_field_is_text(ad_field_t field)
{
    assert(field >= 0 && field < AD_FIELD_COUNT);
    return s_fields[field].text;
}

int
ad_filter_field_from_name(const char *name, ad_field_t *field)
{
    char key[40];
    size_t len = strlen(name);

    if (len == 0 || len + 3 > sizeof(key))
        return AD_EINVAL;
    key[0] = ' ';
    for (size_t i = 0; i < len; i++)
        key[i + 1] = (char)tolower((unsigned char)name[i]);
    key[len + 1] = ' ';
    key[len + 2] = '\0';
    for (int f = 0; f < AD_FIELD_COUNT; f++) {
        if ((strlen(s_fields[f].name) == len && !strncmp(key + 1, s_fields[f].name, len)) ||
            strstr(s_fields[f].aliases, key)) {
            *field = (ad_field_t)f;
            return 0;
        }
    }
    return AD_EINVAL;
}

const char *
ad_filter_field_names(void)
{
    static char names[400];

    if (!names[0]) {
        for (int f = 0; f < AD_FIELD_COUNT; f++) {
            size_t used = strlen(names);

            snprintf(names + used, sizeof(names) - used, "%s%s", f ? ", " : "", s_fields[f].name);
        }
    }
    return names;
}

/* ---- tokens ------------------------------------------------------------------------------ */

typedef enum {
    T_END = 0, /* the end of the expression */
    T_WORD,    /* a bare word: field, keyword, number or unquoted value */
    T_STRING,  /* a quoted value */
    T_LPAREN,  /* ( */
    T_RPAREN,  /* ) */
    T_COMMA,   /* , */
    T_OP,      /* = == != <> < <= > >= */
} tok_kind_t;

typedef enum { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE } op_t;

typedef struct {
    tok_kind_t kind;
    size_t start; /* byte offset in the text */
    size_t len;   /* bytes of source, quotes included */
    int column;   /* 1-based, in characters */
    char *value;  /* T_WORD, T_STRING: the value, unquoted and unescaped; owned */
    op_t op;      /* T_OP */
} tok_t;

/* Comparison and logic nodes. */
typedef enum { N_OR, N_AND, N_NOT, N_CMP, N_IN, N_BETWEEN, N_NULL, N_LIKE } node_kind_t;

/* One literal, already converted to its field's type. */
typedef struct {
    char *str;  /* text fields */
    double num; /* number fields */
} lit_t;

typedef struct node {
    node_kind_t kind;
    struct node *a, *b; /* N_OR, N_AND: both; N_NOT: a */
    ad_field_t field;   /* comparisons */
    op_t op;            /* N_CMP */
    bool negate;        /* N_IN, N_BETWEEN, N_LIKE: "not ..."; N_NULL: "is not null" */
    char *key;          /* AD_FIELD_TAG: the tag's key; AD_FIELD_PARAM: the spec's path */
    lit_t *lits;        /* N_CMP: 1, N_BETWEEN: 2, N_IN: nlits */
    size_t nlits;
    int column; /* where the node starts */
} node_t;

struct ad_filter {
    node_t *root;
    node_t **terms; /* the top-level and's operands, left to right */
    size_t nterms;
};

typedef struct {
    const char *text;
    unsigned flags;
    tok_t *toks;
    size_t ntoks;
    size_t pos; /* next token */
    ad_filter_error_t *err;
} parser_t;

/* Characters of a bare word: names, numbers (1e-3, -2), dataset names (fashion-mnist), paths. */
static bool
s_word_char(int c)
{
    return isalnum(c) || c == '_' || c == '-' || c == '+' || c == '.' || c == ':' || c == '/' ||
           c == '@' || c == '%' || c == '~' || c == '#';
}

/* 1-based column of byte offset off, counting UTF-8 characters. */
static int
s_column(const char *text, size_t off)
{
    int col = 1;

    for (size_t i = 0; i < off; i++)
        if (((unsigned char)text[i] & 0xC0) != 0x80)
            col++;
    return col;
}

static int s_fail(parser_t *p, int column, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
s_fail(parser_t *p, int column, const char *fmt, ...)
{
    va_list ap;
    size_t used;

    va_start(ap, fmt);
    vsnprintf(p->err->msg, sizeof(p->err->msg), fmt, ap);
    va_end(ap);
    used = strlen(p->err->msg);
    snprintf(p->err->msg + used, sizeof(p->err->msg) - used, " at column %d", column);
    p->err->column = column;
    return AD_EPARSE;
}

static void
s_push_tok(parser_t *p, size_t *cap, const tok_t *t)
{
    if (p->ntoks == *cap) {
        *cap = *cap ? 2 * *cap : 16;
        p->toks = ad_realloc(p->toks, *cap * sizeof(*p->toks));
    }
    p->toks[p->ntoks++] = *t;
}

static int
s_lex(parser_t *p)
{
    const char *s = p->text;
    size_t i = 0, cap = 0;
    tok_t t;

    for (;;) {
        while (s[i] && isspace((unsigned char)s[i]))
            i++;
        memset(&t, 0, sizeof(t));
        t.start = i;
        t.column = s_column(s, i);
        if (!s[i]) {
            t.kind = T_END;
            s_push_tok(p, &cap, &t);
            return 0;
        }
        if (s[i] == '(' || s[i] == ')' || s[i] == ',') {
            t.kind = s[i] == '(' ? T_LPAREN : s[i] == ')' ? T_RPAREN : T_COMMA;
            t.len = 1;
        } else if (s[i] == '=' || s[i] == '<' || s[i] == '>' || s[i] == '!') {
            char c = s[i], n = s[i + 1];

            t.kind = T_OP;
            t.len = 1;
            if (c == '=') {
                t.op = OP_EQ;
                t.len = n == '=' ? 2 : 1;
            } else if (c == '!') {
                if (n != '=')
                    return s_fail(p, t.column,
                                  "unexpected \"!\" (did you mean \"!=\" or \"not\"?)");
                t.op = OP_NE;
                t.len = 2;
            } else if (c == '<') {
                t.op = n == '=' ? OP_LE : n == '>' ? OP_NE : OP_LT;
                t.len = n == '=' || n == '>' ? 2 : 1;
            } else {
                t.op = n == '=' ? OP_GE : OP_GT;
                t.len = n == '=' ? 2 : 1;
            }
        } else if (s[i] == '\'' || s[i] == '"') {
            char q = s[i];
            size_t j = i + 1, n = 0;

            t.kind = T_STRING;
            t.value = ad_malloc(strlen(s + i) + 1);
            for (;;) {
                if (!s[j]) {
                    free(t.value);
                    return s_fail(p, t.column, "unterminated string (no closing %c)", q);
                }
                if (s[j] == '\\' && s[j + 1]) {
                    t.value[n++] = s[j + 1];
                    j += 2;
                } else if (s[j] == q && s[j + 1] == q) {
                    t.value[n++] = q;
                    j += 2;
                } else if (s[j] == q) {
                    j++;
                    break;
                } else {
                    t.value[n++] = s[j++];
                }
            }
            t.value[n] = '\0';
            t.len = j - i;
        } else if (s_word_char((unsigned char)s[i])) {
            size_t j = i;

            while (s[j] && s_word_char((unsigned char)s[j]))
                j++;
            t.kind = T_WORD;
            t.len = j - i;
            t.value = ad_malloc(t.len + 1);
            memcpy(t.value, s + i, t.len);
            t.value[t.len] = '\0';
        } else {
            int clen = 1;

            while (((unsigned char)s[i + clen] & 0xC0) == 0x80)
                clen++;
            return s_fail(p, t.column, "unexpected character \"%.*s\"", clen, s + i);
        }
        i += t.len;
        s_push_tok(p, &cap, &t);
    }
}

/* ---- parser ------------------------------------------------------------------------------ */

static const tok_t *
s_peek(const parser_t *p)
{
    return &p->toks[p->pos];
}

static const tok_t *
s_next(parser_t *p)
{
    const tok_t *t = &p->toks[p->pos];

    if (t->kind != T_END)
        p->pos++;
    return t;
}

static bool
s_is_kw(const tok_t *t, const char *kw)
{
    return t->kind == T_WORD && !strcasecmp(t->value, kw);
}

static bool
s_is_any_kw(const tok_t *t)
{
    static const char *const kws[] = {"and", "or", "not", "in", "between", "is", "null", "like"};

    for (size_t i = 0; i < sizeof(kws) / sizeof(kws[0]); i++)
        if (s_is_kw(t, kws[i]))
            return true;
    return false;
}

/* How a token reads in a message: "\"cnn\"" or "the end of the expression". */
static const char *
s_desc(const parser_t *p, const tok_t *t, char *buf, size_t size)
{
    if (t->kind == T_END)
        snprintf(buf, size, "the end of the expression");
    else
        snprintf(buf, size, "\"%.*s\"", (int)(t->len > 60 ? 60 : t->len), p->text + t->start);
    return buf;
}

/* The source text of token t ("in", ">="), for "after ..." in messages. */
static const char *
s_src(const parser_t *p, const tok_t *t, char *buf, size_t size)
{
    snprintf(buf, size, "%.*s", (int)(t->len > 60 ? 60 : t->len), p->text + t->start);
    return buf;
}

static node_t *
s_node(node_kind_t kind, int column)
{
    node_t *n = ad_calloc(1, sizeof(*n));

    n->kind = kind;
    n->column = column;
    return n;
}

static void
s_node_free(node_t *n)
{
    if (!n)
        return;
    s_node_free(n->a);
    s_node_free(n->b);
    free(n->key);
    for (size_t i = 0; i < n->nlits; i++)
        free(n->lits[i].str);
    free(n->lits);
    free(n);
}

static int
s_unknown_field(parser_t *p, const tok_t *t)
{
    enum { NP = sizeof(s_params) / sizeof(s_params[0]) };
    const char *names[AD_FIELD_COUNT + NP], *best;

    for (int f = 0; f < AD_FIELD_COUNT; f++)
        names[f] = s_fields[f].name;
    for (int i = 0; i < NP; i++)
        names[AD_FIELD_COUNT + i] = s_params[i].name;
    /* The query's word is matched case-blind, as fields are. */
    best = ad_suggest(t->value, names, AD_FIELD_COUNT + NP, 3, true);
    if (best)
        return s_fail(p, t->column, "unknown field \"%s\" (did you mean %s?)", t->value, best);
    return s_fail(p, t->column, "unknown field \"%s\" (fields: %s)", t->value,
                  ad_filter_field_names());
}

/* Read one value after the token `after` into lit, converted to field's type. */
static int
s_value(parser_t *p, ad_field_t field, const char *after, lit_t *lit)
{
    const tok_t *t = s_peek(p);
    char desc[80];

    if ((t->kind != T_WORD && t->kind != T_STRING) || (t->kind == T_WORD && s_is_any_kw(t)))
        return s_fail(p, t->column, "expected a value after \"%s\", got %s", after,
                      s_desc(p, t, desc, sizeof(desc)));
    s_next(p);
    if (field == AD_FIELD_STATE) {
        ad_job_state_t st;

        if (ad_store_job_state_from_name(t->value, &st))
            return s_fail(p, t->column,
                          "state must be PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT "
                          "or NODE_FAIL, got %s",
                          s_desc(p, t, desc, sizeof(desc)));
        lit->str = ad_strdup(ad_store_job_state_name(st));
    } else if (field == AD_FIELD_LAYOUT) {
        ad_layout_t l;
        ad_err_t err = {0};
        char buf[64];

        if (ad_layout_parse("layout", t->value, &l, &err))
            return s_fail(p, t->column, "%s", err.msg);
        lit->str = ad_strdup(
            ad_layout_str(l.nodes, l.procs_per_node, l.threads_per_proc, buf, sizeof(buf)));
    } else if (field == AD_FIELD_FLAGS) {
        enum { NF = sizeof(s_flag_names) / sizeof(s_flag_names[0]) };
        const char *best;
        size_t i = 0;

        while (i < NF && strcasecmp(t->value, s_flag_names[i]))
            i++;
        if (i == NF) {
            best = ad_suggest(t->value, s_flag_names, NF, 3, true);
            return s_fail(p, t->column, "unknown flag %s (%s%s%s%s, %s, %s or %s)",
                          s_desc(p, t, desc, sizeof(desc)), best ? "did you mean " : "",
                          best ? best : "", best ? "? flags: " : "flags: ", s_flag_names[0],
                          s_flag_names[1], s_flag_names[2], s_flag_names[3]);
        }
        lit->str = ad_strdup(s_flag_names[i]);
    } else if (s_fields[field].text) {
        char *end;

        lit->str = ad_strdup(t->value);
        lit->num = NAN;
        if (s_mixed(field)) {
            double v = strtod(t->value, &end);

            if (t->value[0] && !*end && isfinite(v) && !isspace((unsigned char)t->value[0]))
                lit->num = v;
        }
    } else {
        char *end;

        lit->num = strtod(t->value, &end);
        if (!t->value[0] || *end || !isfinite(lit->num) || isspace((unsigned char)t->value[0])) {
            /* A sweep is named by its id or by its name (sweep = cnn-scaling). */
            if (field == AD_FIELD_SWEEP) {
                lit->str = ad_strdup(t->value);
                lit->num = NAN;
                return 0;
            }
            return s_fail(p, t->column, "%s is a number, got %s", s_fields[field].name,
                          s_desc(p, t, desc, sizeof(desc)));
        }
    }
    return 0;
}

static lit_t *
s_add_lit(node_t *n)
{
    n->lits = ad_realloc(n->lits, (n->nlits + 1) * sizeof(*n->lits));
    memset(&n->lits[n->nlits], 0, sizeof(*n->lits));
    return &n->lits[n->nlits++];
}

static int s_expr(parser_t *p, node_t **out);

/* The field token ft names: a field, tag.KEY or a job key (*key then its key, owned). */
static int
s_field_of(parser_t *p, const tok_t *ft, ad_field_t *field, char **key)
{
    *key = NULL;
    if (!ad_filter_field_from_name(ft->value, field))
        return 0;
    if (!strncasecmp(ft->value, "tag.", 4) && ad_store_tag_key_ok(ft->value + 4)) {
        *field = AD_FIELD_TAG;
        *key = ad_strdup(ft->value + 4);
    } else if (ad_filter_param_path(ft->value)) {
        *field = AD_FIELD_PARAM;
        *key = ad_strdup(ad_filter_param_path(ft->value));
    } else {
        return s_unknown_field(p, ft);
    }
    return 0;
}

/* FIELD [not] like PATTERN, the "like" token t next; key is stolen. */
static int
s_like(parser_t *p, const tok_t *ft, const tok_t *t, ad_field_t field, char *key, bool negate,
       node_t **out)
{
    const tok_t *v;
    char desc[80];
    node_t *n;

    s_next(p);
    v = s_peek(p);
    if (!s_fields[field].text && field != AD_FIELD_SWEEP) {
        free(key);
        return s_fail(p, t->column, "like compares text, and %s is a number", s_fields[field].name);
    }
    if ((v->kind != T_WORD && v->kind != T_STRING) || (v->kind == T_WORD && s_is_any_kw(v))) {
        free(key);
        return s_fail(p, v->column, "expected a pattern after \"like\" (cnn%%), got %s",
                      s_desc(p, v, desc, sizeof(desc)));
    }
    s_next(p);
    n = s_node(N_LIKE, ft->column);
    s_add_lit(n)->str = ad_strdup(v->value);
    n->lits[0].num = NAN;
    n->field = field == AD_FIELD_SWEEP ? AD_FIELD_SWEEP_NAME : field;
    n->negate = negate;
    n->key = key;
    *out = n;
    return 0;
}

/* `sweep = NAME`: values that are no numbers name sweeps; ids and names do not mix. */
static int
s_sweep_by_name(parser_t *p, const tok_t *ft, const node_t *n, ad_field_t *field)
{
    size_t names = 0;

    for (size_t i = 0; i < n->nlits; i++)
        names += n->lits[i].str != NULL;
    if (names && names < n->nlits)
        return s_fail(p, ft->column, "sweep is an id or a name: give ids or names, not both");
    if (names)
        *field = AD_FIELD_SWEEP_NAME;
    return 0;
}

static int
s_comparison(parser_t *p, node_t **out)
{
    const tok_t *ft = s_next(p), *t;
    char desc[80], src[80];
    ad_field_t field;
    node_t *n = NULL;
    char *key = NULL;
    bool negate = false;
    int rc;

    rc = s_field_of(p, ft, &field, &key);
    if (rc)
        return rc;
    if (field == AD_FIELD_RUNS && !(p->flags & AD_FILTER_GROUPS)) {
        free(key);
        return s_fail(p, ft->column,
                      "field \"runs\" counts the runs of a layout group: it is a field of "
                      "`autodist speedup`, not of `autodist runs`");
    }
    t = s_peek(p);
    if (s_is_kw(t, "not")) {
        negate = true;
        s_next(p);
        t = s_peek(p);
        if (!s_is_kw(t, "in") && !s_is_kw(t, "between") && !s_is_kw(t, "like")) {
            free(key);
            return s_fail(p, t->column,
                          "expected \"in\", \"between\" or \"like\" after \"not\", got %s",
                          s_desc(p, t, desc, sizeof(desc)));
        }
    }
    if (s_is_kw(t, "like"))
        return s_like(p, ft, t, field, key, negate, out);
    if (t->kind == T_OP) {
        s_next(p);
        n = s_node(N_CMP, ft->column);
        n->op = t->op;
        rc = s_value(p, field, s_src(p, t, src, sizeof(src)), s_add_lit(n));
    } else if (s_is_kw(t, "in")) {
        const tok_t *lp;

        s_next(p);
        lp = s_peek(p);
        if (lp->kind != T_LPAREN) {
            free(key);
            return s_fail(p, lp->column, "expected \"(\" after \"in\", got %s",
                          s_desc(p, lp, desc, sizeof(desc)));
        }
        s_next(p);
        n = s_node(N_IN, ft->column);
        rc = s_value(p, field, "in (", s_add_lit(n));
        while (!rc) {
            const tok_t *sep = s_peek(p);

            if (sep->kind == T_RPAREN) {
                s_next(p);
                break;
            }
            if (sep->kind != T_COMMA) {
                rc = s_fail(p, sep->column, "expected \",\" or \")\" after \"%s\", got %s",
                            s_src(p, &p->toks[p->pos - 1], src, sizeof(src)),
                            s_desc(p, sep, desc, sizeof(desc)));
                break;
            }
            s_next(p);
            rc = s_value(p, field, ",", s_add_lit(n));
        }
    } else if (s_is_kw(t, "between")) {
        const tok_t *kw_and;

        s_next(p);
        n = s_node(N_BETWEEN, ft->column);
        rc = s_value(p, field, "between", s_add_lit(n));
        if (!rc) {
            kw_and = s_peek(p);
            if (!s_is_kw(kw_and, "and")) {
                rc = s_fail(p, kw_and->column, "expected \"and\" after \"between %s\", got %s",
                            s_src(p, &p->toks[p->pos - 1], src, sizeof(src)),
                            s_desc(p, kw_and, desc, sizeof(desc)));
            } else {
                s_next(p);
                rc = s_value(p, field, "and", s_add_lit(n));
            }
        }
    } else if (s_is_kw(t, "is")) {
        const tok_t *nt;

        s_next(p);
        n = s_node(N_NULL, ft->column);
        nt = s_peek(p);
        if (s_is_kw(nt, "not")) {
            n->negate = true;
            s_next(p);
            nt = s_peek(p);
        }
        rc = 0;
        if (!s_is_kw(nt, "null"))
            rc = s_fail(p, nt->column, "expected \"null\" or \"not null\" after \"is\", got %s",
                        s_desc(p, nt, desc, sizeof(desc)));
        else
            s_next(p);
    } else {
        free(key);
        return s_fail(p, t->column,
                      "expected an operator (=, !=, <, <=, >, >=, in, between, is, like) after "
                      "\"%s\", got %s",
                      s_src(p, ft, src, sizeof(src)), s_desc(p, t, desc, sizeof(desc)));
    }
    n->key = key;
    if (!rc && (field == AD_FIELD_LAYOUT || field == AD_FIELD_FLAGS) &&
        (n->kind == N_BETWEEN || (n->kind == N_CMP && n->op != OP_EQ && n->op != OP_NE)))
        rc = s_fail(p, t->column, "%s",
                    field == AD_FIELD_FLAGS
                        ? "flags is a list: use flags = F, flags != F, flags in (F, G) or like"
                        : "layout is compared with =, !=, in or like, not ordered");
    if (!rc && field == AD_FIELD_SWEEP)
        rc = s_sweep_by_name(p, ft, n, &field);
    n->field = field;
    if (n->kind != N_NULL)
        n->negate = negate;
    if (rc) {
        s_node_free(n);
        return rc;
    }
    *out = n;
    return 0;
}

static int
s_not(parser_t *p, node_t **out)
{
    const tok_t *t = s_peek(p);
    char desc[80], src[80];
    node_t *n;
    int rc;

    if (s_is_kw(t, "not")) {
        s_next(p);
        n = s_node(N_NOT, t->column);
        rc = s_not(p, &n->a);
        if (rc) {
            free(n);
            return rc;
        }
        *out = n;
        return 0;
    }
    if (t->kind == T_LPAREN) {
        const tok_t *close;

        s_next(p);
        rc = s_expr(p, out);
        if (rc)
            return rc;
        close = s_peek(p);
        if (close->kind != T_RPAREN) {
            s_node_free(*out);
            *out = NULL;
            return s_fail(p, close->column,
                          "expected \")\" to close the \"(\" of column %d, got %s", t->column,
                          s_desc(p, close, desc, sizeof(desc)));
        }
        s_next(p);
        return 0;
    }
    if (t->kind == T_WORD && !s_is_any_kw(t))
        return s_comparison(p, out);
    if (p->pos == 0)
        return s_fail(p, t->column, "expected a condition (FIELD OP VALUE), got %s",
                      s_desc(p, t, desc, sizeof(desc)));
    return s_fail(p, t->column, "expected a condition after \"%s\", got %s",
                  s_src(p, &p->toks[p->pos - 1], src, sizeof(src)),
                  s_desc(p, t, desc, sizeof(desc)));
}

static int
s_binary(parser_t *p, node_kind_t kind, node_t **out)
{
    const char *kw = kind == N_OR ? "or" : "and";
    node_t *left = NULL, *right, *n;
    int rc;

    rc = kind == N_OR ? s_binary(p, N_AND, &left) : s_not(p, &left);
    if (rc)
        return rc;
    while (s_is_kw(s_peek(p), kw)) {
        s_next(p);
        right = NULL;
        rc = kind == N_OR ? s_binary(p, N_AND, &right) : s_not(p, &right);
        if (rc) {
            s_node_free(left);
            return rc;
        }
        n = s_node(kind, left->column);
        n->a = left;
        n->b = right;
        left = n;
    }
    *out = left;
    return 0;
}

static int
s_expr(parser_t *p, node_t **out)
{
    return s_binary(p, N_OR, out);
}

static void
s_collect_terms(ad_filter_t *f, node_t *n, size_t *cap)
{
    if (n->kind == N_AND) {
        s_collect_terms(f, n->a, cap);
        s_collect_terms(f, n->b, cap);
        return;
    }
    if (f->nterms == *cap) {
        *cap = *cap ? 2 * *cap : 8;
        f->terms = ad_realloc(f->terms, *cap * sizeof(*f->terms));
    }
    f->terms[f->nterms++] = n;
}

int
ad_filter_parse(const char *text, unsigned flags, ad_filter_t **out, ad_filter_error_t *err)
{
    parser_t p = {.text = text, .flags = flags, .err = err};
    node_t *root = NULL;
    char desc[80];
    size_t cap = 0;
    int rc;

    assert(text && out && err);
    *out = NULL;
    memset(err, 0, sizeof(*err));
    rc = s_lex(&p);
    if (rc)
        goto out_free_toks;
    if (p.toks[0].kind == T_END) {
        rc = s_fail(&p, 1, "empty expression (try: model = cnn and nodes >= 2)");
        goto out_free_toks;
    }
    rc = s_expr(&p, &root);
    if (rc)
        goto out_free_toks;
    if (s_peek(&p)->kind != T_END) {
        const tok_t *t = s_peek(&p);

        rc = s_fail(&p, t->column,
                    t->kind == T_RPAREN ? "unexpected %s: no \"(\" is open"
                                        : "expected \"and\", \"or\" or the end of the expression, "
                                          "got %s",
                    s_desc(&p, t, desc, sizeof(desc)));
        s_node_free(root);
        goto out_free_toks;
    }
    *out = ad_calloc(1, sizeof(**out));
    (*out)->root = root;
    s_collect_terms(*out, root, &cap);
out_free_toks:
    for (size_t i = 0; i < p.ntoks; i++)
        free(p.toks[i].value);
    free(p.toks);
    return rc;
}

void
ad_filter_free(ad_filter_t **self_p)
{
    ad_filter_t *self = self_p ? *self_p : NULL;

    if (!self)
        return;
    s_node_free(self->root);
    free(self->terms);
    free(self);
    *self_p = NULL;
}

static void
s_map(node_t *n, ad_field_t field, ad_filter_map_fn map, void *ctx)
{
    if (!n)
        return;
    s_map(n->a, field, map, ctx);
    s_map(n->b, field, map, ctx);
    if (n->field != field || n->kind == N_LIKE || n->kind == N_NULL || n->kind == N_OR ||
        n->kind == N_AND || n->kind == N_NOT)
        return;
    for (size_t i = 0; i < n->nlits; i++) {
        char *to = n->lits[i].str ? map(ctx, n->lits[i].str) : NULL;

        if (to) {
            free(n->lits[i].str);
            n->lits[i].str = to;
        }
    }
}

void
ad_filter_map(ad_filter_t *self, ad_field_t field, ad_filter_map_fn map, void *ctx)
{
    if (self)
        s_map(self->root, field, map, ctx);
}

/* ---- evaluation -------------------------------------------------------------------------- */

/* Three-valued logic, as SQL's. */
typedef enum { V_FALSE = 0, V_TRUE = 1, V_UNKNOWN = 2 } tri_t;

/* -1, 0, 1 comparing the row's value with lit (text or number). */
static int
s_cmp(ad_field_t field, const ad_value_t *v, const lit_t *lit)
{
    if (field == AD_FIELD_FLAGS) /* membership: 0 when the list has the flag */
        return s_has_flag(v->str, lit->str) ? 0 : 1;
    if (s_mixed(field) && !isnan(lit->num) && !isnan(v->num))
        return v->num < lit->num ? -1 : v->num > lit->num;
    if (s_fields[field].text) {
        int c = strcmp(v->str, lit->str);

        return c < 0 ? -1 : c > 0;
    }
    return v->num < lit->num ? -1 : v->num > lit->num;
}

static tri_t
s_eval(const node_t *n, ad_filter_get_fn get, const void *row)
{
    ad_value_t v = {.str = NULL, .num = NAN};
    bool missing;
    tri_t a, b;
    int c;

    switch (n->kind) {
    case N_OR:
        a = s_eval(n->a, get, row);
        if (a == V_TRUE)
            return V_TRUE;
        b = s_eval(n->b, get, row);
        return b == V_TRUE ? V_TRUE : (a == V_UNKNOWN || b == V_UNKNOWN) ? V_UNKNOWN : V_FALSE;
    case N_AND:
        a = s_eval(n->a, get, row);
        if (a == V_FALSE)
            return V_FALSE;
        b = s_eval(n->b, get, row);
        return b == V_FALSE ? V_FALSE : (a == V_UNKNOWN || b == V_UNKNOWN) ? V_UNKNOWN : V_TRUE;
    case N_NOT:
        a = s_eval(n->a, get, row);
        return a == V_UNKNOWN ? V_UNKNOWN : a == V_TRUE ? V_FALSE : V_TRUE;
    default:
        break;
    }
    v.key = n->key;
    get(row, n->field, &v);
    missing = s_fields[n->field].text ? !v.str : isnan(v.num);
    if (n->kind == N_NULL)
        return missing != n->negate ? V_TRUE : V_FALSE;
    if (missing)
        return V_UNKNOWN;
    switch (n->kind) {
    case N_CMP:
        c = s_cmp(n->field, &v, &n->lits[0]);
        switch (n->op) {
        case OP_EQ:
            return c == 0;
        case OP_NE:
            return c != 0;
        case OP_LT:
            return c < 0;
        case OP_LE:
            return c <= 0;
        case OP_GT:
            return c > 0;
        case OP_GE:
            return c >= 0;
        }
        return V_FALSE;
    case N_IN:
        for (size_t i = 0; i < n->nlits; i++)
            if (s_cmp(n->field, &v, &n->lits[i]) == 0)
                return n->negate ? V_FALSE : V_TRUE;
        return n->negate ? V_TRUE : V_FALSE;
    case N_BETWEEN:
        c = s_cmp(n->field, &v, &n->lits[0]) >= 0 && s_cmp(n->field, &v, &n->lits[1]) <= 0;
        return c != n->negate ? V_TRUE : V_FALSE;
    case N_LIKE:
        return ad_filter_like(v.str, n->lits[0].str) != n->negate ? V_TRUE : V_FALSE;
    default:
        return V_FALSE;
    }
}

bool
ad_filter_match(const ad_filter_t *self, ad_filter_get_fn get, const void *row)
{
    return s_eval(self->root, get, row) == V_TRUE;
}

size_t
ad_filter_terms(const ad_filter_t *self)
{
    return self->nterms;
}

static unsigned
s_fields_of(const node_t *n)
{
    if (!n)
        return 0;
    if (n->kind == N_OR || n->kind == N_AND || n->kind == N_NOT)
        return s_fields_of(n->a) | s_fields_of(n->b);
    return AD_FIELD_BIT(n->field);
}

unsigned
ad_filter_term_fields(const ad_filter_t *self, size_t i)
{
    assert(i < self->nterms);
    return s_fields_of(self->terms[i]);
}

int
ad_filter_term_column(const ad_filter_t *self, size_t i)
{
    assert(i < self->nterms);
    return self->terms[i]->column;
}

bool
ad_filter_term_match(const ad_filter_t *self, size_t i, ad_filter_get_fn get, const void *row)
{
    assert(i < self->nterms);
    return s_eval(self->terms[i], get, row) == V_TRUE;
}

static int
s_field_column(const node_t *n, ad_field_t field)
{
    int c;

    if (!n)
        return 0;
    if (n->kind == N_OR || n->kind == N_AND || n->kind == N_NOT) {
        c = s_field_column(n->a, field);
        return c ? c : s_field_column(n->b, field);
    }
    return n->field == field ? n->column : 0;
}

int
ad_filter_term_field_column(const ad_filter_t *self, size_t i, ad_field_t field)
{
    assert(i < self->nterms);
    return s_field_column(self->terms[i], field);
}

unsigned
ad_filter_fields(const ad_filter_t *self)
{
    return s_fields_of(self->root);
}

/* ---- push-down -------------------------------------------------------------------------- */

/* An integral value >= 1 that fits the store's column, or 0. */
static int64_t
s_positive(double v, int64_t max)
{
    return v >= 1 && v <= (double)max && v == floor(v) ? (int64_t)v : 0;
}

/* Push one equality of field to lit into rf; false when rf cannot hold it. */
static bool
s_push_eq(ad_run_filter_t *rf, ad_field_t field, const lit_t *lit)
{
    const char **text = NULL;
    int64_t *num64 = NULL;
    int *num = NULL;
    int64_t v;

    switch (field) {
    case AD_FIELD_MODEL:
        text = &rf->model;
        break;
    case AD_FIELD_DATASET:
        text = &rf->dataset;
        break;
    case AD_FIELD_HARDWARE:
        text = &rf->hardware;
        break;
    case AD_FIELD_DEVICE:
        text = &rf->device;
        break;
    case AD_FIELD_BATCH:
        num64 = &rf->batch_size;
        break;
    case AD_FIELD_NODES:
        num = &rf->nodes;
        break;
    case AD_FIELD_PPN:
        num = &rf->procs_per_node;
        break;
    case AD_FIELD_TPP:
        num = &rf->threads_per_proc;
        break;
    case AD_FIELD_JOB:
        num64 = &rf->job;
        break;
    case AD_FIELD_SWEEP:
        num64 = &rf->sweep;
        break;
    default:
        return false;
    }
    if (text) {
        if (*text)
            return false;
        *text = lit->str;
        return true;
    }
    v = s_positive(lit->num, num ? INT32_MAX : INT64_MAX);
    if (!v)
        return false;
    if (num) {
        if (*num)
            return false;
        *num = (int)v;
    } else {
        if (*num64)
            return false;
        *num64 = v;
    }
    return true;
}

static bool
s_push_states(ad_run_filter_t *rf, const node_t *n)
{
    unsigned mask = 0;

    for (size_t i = 0; i < n->nlits; i++) {
        ad_job_state_t st;

        if (ad_store_job_state_from_name(n->lits[i].str, &st))
            return false;
        mask |= AD_JOB_MASK(st);
    }
    if (rf->states && !(rf->states & mask))
        return false; /* nothing can match; the evaluation says so */
    rf->states = rf->states ? rf->states & mask : mask;
    return true;
}

/* `layout = NxPxT` (normalised when parsed): nodes, ppn and tpp, when rf has none of them yet. */
static bool
s_push_layout(ad_run_filter_t *rf, const lit_t *lit)
{
    int n, p, t;

    if (rf->nodes || rf->procs_per_node || rf->threads_per_proc ||
        sscanf(lit->str, "%dx%dx%d", &n, &p, &t) != 3)
        return false;
    rf->nodes = n;
    rf->procs_per_node = p;
    rf->threads_per_proc = t;
    return true;
}

bool
ad_filter_push(const ad_filter_t *self, ad_run_filter_t *rf)
{
    bool all = true;

    for (size_t i = 0; i < self->nterms; i++) {
        const node_t *n = self->terms[i];
        bool eq = (n->kind == N_CMP && n->op == OP_EQ) || (n->kind == N_IN && !n->negate);
        bool pushed = false;

        if (eq && n->field == AD_FIELD_STATE)
            pushed = s_push_states(rf, n);
        else if (eq && n->nlits == 1 && n->field == AD_FIELD_LAYOUT)
            pushed = s_push_layout(rf, &n->lits[0]);
        else if (eq && n->nlits == 1)
            pushed = s_push_eq(rf, n->field, &n->lits[0]);
        all = all && pushed;
    }
    return all;
}
