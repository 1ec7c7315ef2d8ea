/* ad_doc_get.c - typed getters of documents: find a value, check it, say what was got and where */
#include "autodist/ad_doc.h"

#include <assert.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autodist/ad_opt.h"
#include "autodist/ad_suggest.h"

/* ---------------------------------------------------------------- what was got */

const char *
ad_doc_describe_value(const ad_doc_value_t *val, char *buf, size_t len)
{
    const json_t *v = val->v;
    const unsigned char *s;
    size_t n, i;

    if (!(v && json_is_null(v)) && (val->text || (v && json_is_string(v)))) {
        s = (const unsigned char *)(val->text ? val->text : json_string_value(v));
        n = (size_t)snprintf(buf, len, "%s", val->text && val->plain ? "\"" : "the string \"");
        /* Shown text is cut short and kept printable, so the message stays one readable line. */
        for (i = 0; s[i] && i < 48 && n + 8 < len; i++)
            buf[n++] = (s[i] < 0x20 || s[i] == 0x7f) ? '?' : (char)s[i];
        if (s[i] && n + 8 < len)
            n += (size_t)snprintf(buf + n, len - n, "...");
        snprintf(buf + n, len - n, "\"");
        return buf;
    }
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_OBJECT:
        return snprintf(buf, len, "a mapping"), buf;
    case JSON_ARRAY:
        return snprintf(buf, len, "a list"), buf;
    case JSON_NULL:
        return snprintf(buf, len, "an empty value"), buf;
    case JSON_TRUE:
        return snprintf(buf, len, "true"), buf;
    case JSON_FALSE:
        return snprintf(buf, len, "false"), buf;
    case JSON_INTEGER:
        return snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v)), buf;
    default:
        return snprintf(buf, len, "%g", json_real_value(v)), buf;
    }
}

const char *
ad_doc_got(const ad_doc_t *self, const char *path, const json_t *v, char *buf, size_t len)
{
    ad_doc_value_t val = {v, ad_doc_raw(self, path), true};

    return ad_doc_describe_value(&val, buf, len);
}

void
ad_doc_describe(const json_t *v, char *buf, size_t size)
{
    ad_doc_value_t val = {v, NULL, false};

    ad_doc_describe_value(&val, buf, size);
}

/* ---------------------------------------------------------------- the check */

/* Round to the 15 significant digits that canonical JSON prints, so printing is exact. */
static double
s_round15(double v)
{
    char buf[40];

    snprintf(buf, sizeof(buf), "%.15g", v);
    return strtod(buf, NULL);
}

bool
ad_doc_parse_real(const char *s, double *out)
{
    const char *p = s;
    int digits = 0;
    char *end;
    double v;

    if (*p == '+' || *p == '-')
        p++;
    for (; *p >= '0' && *p <= '9'; p++)
        digits++;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            digits++;
    if (!digits)
        return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (*p < '0' || *p > '9')
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p)
        return false;
    errno = 0;
    v = strtod(s, &end);
    if (*end || !isfinite(v))
        return false;
    *out = s_round15(v);
    return true;
}

/* The words for an integer in [min, max]; "(plain decimal...)" when the text is what counts. */
static void
s_want_int(const ad_doc_want_t *w, char *buf, size_t len)
{
    bool open = w->max == INT64_MAX || (!w->text && w->max == INT32_MAX);
    const char *sign = w->min == 1 ? "a positive" : w->min == 0 ? "a non-negative" : NULL;

    if (sign && w->text)
        snprintf(buf, len, "%s integer (plain decimal, at most %" PRId64 ")", sign, w->max);
    else if (sign && open)
        snprintf(buf, len, "%s integer", sign);
    else if (sign)
        snprintf(buf, len, "%s integer (at most %" PRId64 ")", sign, w->max);
    else if (open && !w->text)
        snprintf(buf, len, "an integer of at least %" PRId64, w->min);
    else
        snprintf(buf, len, "an integer from %" PRId64 " to %" PRId64 "%s", w->min, w->max,
                 w->text ? " (plain decimal)" : "");
}

/* What want accepts, in words: "a positive integer (at most 8)", "true or false". */
static void
s_want_words(const ad_doc_want_t *w, char *buf, size_t len)
{
    size_t n = 0;

    if (w->what) {
        snprintf(buf, len, "%s", w->what);
        return;
    }
    switch (w->kind) {
    case AD_DOC_INT:
        s_want_int(w, buf, len);
        return;
    case AD_DOC_REAL:
        if (w->rmax >= DBL_MAX && (w->rmin == 0 || w->rmin == DBL_MIN))
            snprintf(buf, len, "a %s number", w->rmin == 0 ? "non-negative" : "positive");
        else if (w->rmax >= DBL_MAX)
            snprintf(buf, len, "a number of at least %g", w->rmin);
        else
            snprintf(buf, len, "a number from %g to %g", w->rmin, w->rmax);
        return;
    case AD_DOC_STR:
        if (w->max && w->max < INT64_MAX)
            snprintf(buf, len, "a string of %" PRId64 " to %" PRId64 " bytes", w->min, w->max);
        else
            snprintf(buf, len, "a%s string", w->min ? " non-empty" : "");
        return;
    case AD_DOC_BOOL:
        snprintf(buf, len, "true or false");
        return;
    case AD_DOC_OBJ:
        snprintf(buf, len, "a mapping");
        return;
    case AD_DOC_LIST:
        if (w->max && w->max < INT64_MAX)
            snprintf(buf, len, "a list of at most %" PRId64 " items", w->max);
        else
            snprintf(buf, len, "a list");
        return;
    case AD_DOC_ENUM:
        n = (size_t)snprintf(buf, len, "one of ");
        for (int i = 0; w->names[i] && n < len; i++)
            n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? ", " : "", w->names[i]);
        return;
    case AD_DOC_SIZE:
        snprintf(buf, len,
                 "a size in bytes (an integer, or a number and a unit such as "
                 "\"96 GiB\")");
        return;
    }
}

/* A byte count: an integer, or a number and a unit ("96 GiB", "24.75 MiB", "1.5 GB"). */
static bool
s_size(const json_t *v, uint64_t *out)
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
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    char *end;
    double n;

    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (uint64_t)json_integer_value(v);
        return true;
    }
    if (!s)
        return false;
    n = strtod(s, &end);
    while (*end == ' ')
        end++;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (end != s && isfinite(n) && n >= 0 && !strcmp(end, units[i].unit) &&
            n * units[i].scale < 9.2e18) {
            *out = (uint64_t)llround(n * units[i].scale);
            return true;
        }
    }
    return false;
}

/* The number of a value: its plain text when want->text (strict decimal), else its JSON number. */
static bool
s_number(const ad_doc_value_t *val, const ad_doc_want_t *w, bool integer, int64_t *i, double *d)
{
    if (w->text) {
        if (!val->text || !val->plain)
            return false;
        return integer ? ad_opt_parse_strict_int(val->text, i) : ad_doc_parse_real(val->text, d);
    }
    if (integer ? !json_is_integer(val->v) : !json_is_number(val->v))
        return false;
    if (integer)
        *i = json_integer_value(val->v);
    else
        *d = json_number_value(val->v);
    return integer || isfinite(*d);
}

/* A string: any scalar's text when want->text or the value was plain, else a JSON string. */
static const char *
s_string(const ad_doc_value_t *val, const ad_doc_want_t *w)
{
    if (val->v && json_is_null(val->v))
        return NULL;
    if (val->text && (w->text || val->plain))
        return val->text;
    return json_is_string(val->v) ? json_string_value(val->v) : NULL;
}

/* The check of ad_doc_check() without the message. */
static bool
s_accepts(const ad_doc_value_t *val, const ad_doc_want_t *w, void *out, size_t *len)
{
    const char *s;
    int64_t i = 0;
    double d = 0;

    switch (w->kind) {
    case AD_DOC_INT:
        if (!s_number(val, w, true, &i, &d) || i < w->min || i > w->max)
            return false;
        return *(int64_t *)out = i, true;
    case AD_DOC_REAL:
        if (!s_number(val, w, false, &i, &d) || !(d >= w->rmin && d <= w->rmax))
            return false;
        return *(double *)out = d, true;
    case AD_DOC_STR:
        if (!(s = s_string(val, w)))
            return false;
        *len = strlen(s);
        if ((int64_t)*len < w->min || (w->max && (int64_t)*len > w->max))
            return false;
        return *(const char **)out = s, true;
    case AD_DOC_BOOL:
        if (!json_is_boolean(val->v))
            return false;
        return *(bool *)out = json_is_true(val->v), true;
    case AD_DOC_OBJ:
        if (!json_is_object(val->v))
            return false;
        return *(json_t **)out = (json_t *)val->v, true;
    case AD_DOC_LIST:
        if (!json_is_array(val->v))
            return false;
        *len = json_array_size(val->v);
        if (w->max && (int64_t)*len > w->max)
            return false;
        return *(json_t **)out = (json_t *)val->v, true;
    case AD_DOC_ENUM:
        s = w->text ? val->text : json_is_string(val->v) ? json_string_value(val->v) : NULL;
        for (int k = 0; s && w->names[k]; k++)
            if (!strcmp(s, w->names[k]))
                return *(int *)out = k, true;
        return false;
    case AD_DOC_SIZE:
        return s_size(val->v, (uint64_t *)out);
    }
    return false;
}

int
ad_doc_check(const ad_doc_value_t *val, const ad_doc_want_t *want, void *out, char *msg, size_t len)
{
    char words[200], got[80];
    size_t n = SIZE_MAX;

    if (s_accepts(val, want, out, &n))
        return 0;
    s_want_words(want, words, sizeof(words));
    if (n != SIZE_MAX && want->kind == AD_DOC_STR && !want->what)
        snprintf(got, sizeof(got), n ? "%zu bytes" : "\"\"", n);
    else if (n != SIZE_MAX && want->kind == AD_DOC_LIST)
        snprintf(got, sizeof(got), "%zu items", n);
    else
        ad_doc_describe_value(val, got, sizeof(got));
    snprintf(msg, len, "must be %s, got %s", words, got);
    return -1;
}

/* ---------------------------------------------------------------- documents */

int
ad_doc_check_at(const ad_doc_t *self, const char *path, const json_t *v, const ad_doc_want_t *want,
                void *out)
{
    ad_doc_value_t val = {v, ad_doc_raw(self, path), true};
    char msg[400];

    if (!ad_doc_check(&val, want, out, msg, sizeof(msg)))
        return 0;
    return ad_doc_fail_at(self, path, false, "%s %s", path, msg);
}

int
ad_doc_get(const ad_doc_t *self, const json_t *obj, const char *parent, const char *key,
           bool required, const ad_doc_want_t *want, void *out)
{
    json_t *v = json_object_get(obj, key);
    char p[200];

    ad_doc_path(p, sizeof(p), parent, key);
    if (!v || json_is_null(v)) {
        if (required)
            return ad_doc_fail_at(self, parent, false, "%s is required", p);
        return 0;
    }
    return ad_doc_check_at(self, p, v, want, out);
}

const char *
ad_doc_unknown_key(char *buf, size_t len, const char *got, const char *parent, const char *hint,
                   const char *key, const char *const *candidates, size_t n, const char *expected)
{
    const char *best = hint ? NULL : ad_suggest(key, candidates, n, 3, false);
    char mean[100] = "";

    if (best)
        snprintf(mean, sizeof(mean), " (did you mean %s?)", best);
    snprintf(buf, len, "unknown key %s%s%s%s, expected one of %s", got, *parent ? " in " : "",
             parent, hint ? hint : mean, expected);
    return buf;
}

int
ad_doc_check_keys(const ad_doc_t *self, const json_t *obj, const char *parent,
                  const char *const *allowed, const char *expected)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)obj, key, v)
    {
        bool ok = false;
        size_t n = 0;
        ad_doc_value_t val = {NULL, key, true};
        char p[200], got[80], msg[500];

        for (n = 0; allowed[n]; n++)
            ok = ok || !strcmp(key, allowed[n]);
        if (ok)
            continue;
        ad_doc_path(p, sizeof(p), parent, key);
        ad_doc_describe_value(&val, got, sizeof(got));
        return ad_doc_fail_at(
            self, p, true, "%s",
            ad_doc_unknown_key(msg, sizeof(msg), got, parent, NULL, key, allowed, n, expected));
    }
    return 0;
}

int
ad_doc_get_obj(const ad_doc_t *self, const json_t *obj, const char *parent, const char *key,
               bool required, json_t **out)
{
    ad_doc_want_t want = {.kind = AD_DOC_OBJ};

    *out = NULL;
    return ad_doc_get(self, obj, parent, key, required, &want, out);
}

int
ad_doc_get_array(const ad_doc_t *self, const json_t *obj, const char *parent, const char *key,
                 json_t **out)
{
    ad_doc_want_t want = {.kind = AD_DOC_LIST};

    *out = NULL;
    return ad_doc_get(self, obj, parent, key, false, &want, out);
}

int
ad_doc_get_str(const ad_doc_t *self, const json_t *obj, const char *parent, const char *key,
               bool required, char **out)
{
    ad_doc_want_t want = {.kind = AD_DOC_STR};
    const char *s = NULL;
    int rc = ad_doc_get(self, obj, parent, key, required, &want, &s);

    if (!rc && s) {
        free(*out);
        *out = ad_strdup(s);
    }
    return rc;
}

int
ad_doc_get_int(const ad_doc_t *self, const json_t *obj, const char *parent, const char *key,
               bool required, json_int_t min, json_int_t max, json_int_t *out)
{
    ad_doc_want_t want = {.kind = AD_DOC_INT, .min = min, .max = max};
    int64_t v = *out;
    int rc = ad_doc_get(self, obj, parent, key, required, &want, &v);

    *out = v;
    return rc;
}

int
ad_doc_get_real(const ad_doc_t *self, const json_t *obj, const char *parent, const char *key,
                bool positive, double *out)
{
    ad_doc_want_t want = {.kind = AD_DOC_REAL, .rmin = positive ? DBL_MIN : 0, .rmax = DBL_MAX};

    return ad_doc_get(self, obj, parent, key, false, &want, out);
}

int
ad_doc_get_bool(const ad_doc_t *self, const json_t *obj, const char *parent, const char *key,
                bool *out)
{
    ad_doc_want_t want = {.kind = AD_DOC_BOOL};

    return ad_doc_get(self, obj, parent, key, false, &want, out);
}

int
ad_doc_get_size(const ad_doc_t *self, const json_t *obj, const char *parent, const char *key,
                bool required, uint64_t *out)
{
    ad_doc_want_t want = {.kind = AD_DOC_SIZE};

    return ad_doc_get(self, obj, parent, key, required, &want, out);
}

/* ---------------------------------------------------------------- the wire (by dotted path) */

/* Find the value at a dotted path; -ENOENT when it or a parent is absent or null. */
static int
s_lookup(const json_t *obj, const char *path, json_t **out, ad_err_t *err)
{
    const json_t *cur = obj;
    const char *p = path;
    char key[128], got[80];

    for (;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);

        assert(n < sizeof(key));
        if (!json_is_object(cur)) {
            ad_doc_describe(cur, got, sizeof(got));
            if (p == path)
                return ad_err_set(err, AD_EINVAL, "the payload must be a mapping, got %s", got);
            return ad_err_set(err, AD_EINVAL, "%.*s must be a mapping, got %s", (int)(p - path - 1),
                              path, got);
        }
        memcpy(key, p, n);
        key[n] = '\0';
        cur = json_object_get(cur, key);
        if (!cur || json_is_null(cur))
            return ad_err_set(err, -ENOENT, "%s is required", path);
        if (!dot)
            break;
        p = dot + 1;
    }
    *out = (json_t *)cur;
    return 0;
}

int
ad_doc_json_get(const json_t *obj, const char *path, const ad_doc_want_t *want, void *out,
            ad_err_t *err)
{
    ad_doc_value_t val = {NULL, NULL, false};
    json_t *v = NULL;
    char msg[400];
    int rc = s_lookup(obj, path, &v, err);

    if (rc)
        return rc;
    val.v = v;
    if (ad_doc_check(&val, want, out, msg, sizeof(msg)))
        return ad_err_set(err, AD_EINVAL, "%s %s", path, msg);
    return 0;
}

int
ad_doc_json_get_int(const json_t *obj, const char *path, int64_t min, int64_t max, int64_t *out,
                ad_err_t *err)
{
    ad_doc_want_t want = {.kind = AD_DOC_INT, .min = min, .max = max};

    return ad_doc_json_get(obj, path, &want, out, err);
}

int
ad_doc_json_get_double(const json_t *obj, const char *path, double min, double max, double *out,
                   ad_err_t *err)
{
    ad_doc_want_t want = {.kind = AD_DOC_REAL, .rmin = min, .rmax = max};

    return ad_doc_json_get(obj, path, &want, out, err);
}

int
ad_doc_json_get_string(const json_t *obj, const char *path, size_t min_len, size_t max_len,
                   const char **out, ad_err_t *err)
{
    ad_doc_want_t want = {.kind = AD_DOC_STR,
                          .min = (int64_t)min_len,
                          .max = max_len >= INT64_MAX ? INT64_MAX : (int64_t)max_len};

    return ad_doc_json_get(obj, path, &want, out, err);
}

int
ad_doc_json_get_bool(const json_t *obj, const char *path, bool *out, ad_err_t *err)
{
    ad_doc_want_t want = {.kind = AD_DOC_BOOL};

    return ad_doc_json_get(obj, path, &want, out, err);
}

int
ad_doc_json_get_object(const json_t *obj, const char *path, json_t **out, ad_err_t *err)
{
    ad_doc_want_t want = {.kind = AD_DOC_OBJ};

    return ad_doc_json_get(obj, path, &want, out, err);
}

int
ad_doc_json_get_array(const json_t *obj, const char *path, size_t max_len, json_t **out,
                      ad_err_t *err)
{
    ad_doc_want_t want = {.kind = AD_DOC_LIST,
                          .max = max_len >= INT64_MAX ? INT64_MAX : (int64_t)max_len};

    return ad_doc_json_get(obj, path, &want, out, err);
}
