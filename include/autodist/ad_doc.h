/* ad_doc.h - located documents: a JSON tree with FILE:LINE:COL marks, and typed getters on it */
#ifndef AD_DOC_H
#define AD_DOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "autodist/ad_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A document read from YAML text (each value keeps the line and column it
 * came from, by dotted path: "cpu.cores", "gpus[1].name") or wrapped around
 * a JSON tree from the wire (no marks: messages then start with the name
 * given).  The typed getters check one key of one mapping and fail with
 * AD_EPARSE and a located message, "FILE:LINE:COL: PATH: what is wrong",
 * written into the ad_err_t given when the document was made.
 */
typedef struct ad_doc ad_doc_t;

/*
 * Read a whole file of at most max bytes for a document of the kind named
 * what ("job file").  Returns 0 with *text (NUL-terminated, owned by the
 * caller) and *len, or a negative errno / AD_EPARSE with err naming path.
 */
int ad_doc_read_file(const char *path, const char *what, size_t max, char **text, size_t *len,
                     ad_err_t *err);

/*
 * Parse text (len bytes) holding one YAML document; name is the file name
 * used in messages, what the kind of file ("profile", "job file") and keys
 * what its mapping holds, for the message about an empty file.  Plain
 * scalars are typed by YAML 1.2's core schema (null, bool, integer, float,
 * else string).  Returns 0 and sets *out (owned by the caller,
 * ad_doc_free()), or AD_EPARSE with err "NAME:LINE:COL: invalid YAML: ...".
 * Later getter failures are written to err as well: it must outlive *out.
 */
int ad_doc_parse_yaml(const char *text, size_t len, const char *name, const char *what,
                      const char *keys, unsigned flags, ad_doc_t **out, ad_err_t *err);

/*
 * Flag of ad_doc_parse_yaml(): a repeated key or a key that is not a scalar
 * does not fail the parse but is left out (the first value of a repeated key
 * is kept) and recorded, for the reader to report in its own words
 * (ad_doc_key_problem()).  Without it they fail as job files word them:
 * "duplicate key PATH (first given at line N)", "keys must be names, got a list".
 */
#define AD_DOC_KEYS_LATER 1u
/*
 * Flag of ad_doc_parse_yaml(): a plain integer too large for 64 bits is
 * read as a number (a real) rather than failing with "number ... is out of
 * range", for readers that check the text themselves (ad_doc_raw()).
 */
#define AD_DOC_NUMBERS_LATER 2u

/* A key left out under AD_DOC_KEYS_LATER. */
typedef struct ad_doc_key_problem {
    const char *key;   /* a repeated key; NULL for a key that is not a scalar */
    const char *got;   /* a key that is not a scalar: "a list" or "a mapping" */
    size_t line, col;  /* where the key is, 1-based */
    size_t first_line; /* a repeated key: line of its first occurrence */
} ad_doc_key_problem_t;

/*
 * The first key left out of the mapping at path map (in document order);
 * false when there is none.  The strings are borrowed from the document.
 */
bool ad_doc_key_problem(const ad_doc_t *self, const char *map, ad_doc_key_problem_t *out);

/*
 * A document around json (a new reference is taken) without marks; messages
 * read "NAME: PATH: what is wrong".  Getter failures go to err.  Never NULL.
 */
ad_doc_t *ad_doc_wrap(json_t *json, const char *name, ad_err_t *err);

/* Release a document; NULL-safe, idempotent, sets *self_p to NULL. */
void ad_doc_free(ad_doc_t **self_p);

/* The root value; borrowed, lives as long as the document. */
json_t *ad_doc_root(const ad_doc_t *self);

/* The file name (or the name given to ad_doc_wrap()); borrowed. */
const char *ad_doc_name(const ad_doc_t *self);

/*
 * Where the value at path (or its key when at_key) starts, 1-based; false
 * when path was never written (or the document has no marks).
 */
bool ad_doc_where(const ad_doc_t *self, const char *path, bool at_key, size_t *line, size_t *col);

/* The text of the plain (unquoted) YAML scalar at path, or NULL; borrowed. */
const char *ad_doc_raw(const ad_doc_t *self, const char *path);

/* True when the key naming the value at path is a plain (unquoted) scalar. */
bool ad_doc_key_plain(const ad_doc_t *self, const char *path);

/*
 * Fail with AD_EPARSE: "FILE:LINE:COL: PATH: message" at the key of path
 * (at_key) or at its value.  A path never written (a missing key) is placed
 * at its nearest written parent; an empty path drops the "PATH: " part.
 * Returns the error code.
 */
int ad_doc_fail(const ad_doc_t *self, const char *path, bool at_key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Like ad_doc_fail() without the "PATH: " part: "FILE:LINE:COL: message", placed at path. */
int ad_doc_fail_at(const ad_doc_t *self, const char *path, bool at_key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* "parent.key" (or "key" when parent is "") into buf. */
void ad_doc_path(char *buf, size_t len, const char *parent, const char *key);

/*
 * The one family of typed getters.  Job files, sweep files, profiles and the
 * wire all check a value with ad_doc_check() against an ad_doc_want_t and
 * word a wrong one the same way: "PATH must be WHAT, got GOT", placed at
 * FILE:LINE:COL in a YAML document or after the message name on the wire.
 */

/* The kinds of value a getter reads. */
typedef enum {
    AD_DOC_INT,  /* an integer in min..max (int64_t) */
    AD_DOC_REAL, /* a finite number in rmin..rmax (double); rmin DBL_MIN means "positive" */
    AD_DOC_STR,  /* a string of min..max bytes (max 0: any length) (const char *, borrowed) */
    AD_DOC_BOOL, /* true or false (bool) */
    AD_DOC_OBJ,  /* a mapping (json_t *, borrowed) */
    AD_DOC_LIST, /* a list of at most max items (max 0: any) (json_t *, borrowed) */
    AD_DOC_ENUM, /* one of the words names (int: its index) */
    AD_DOC_SIZE, /* a byte count: an integer, or a number and a unit, "96 GiB" (uint64_t) */
} ad_doc_kind_t;

/* What a getter accepts. */
typedef struct ad_doc_want {
    ad_doc_kind_t kind;
    int64_t min, max;         /* INT: the range; STR: length; LIST: at most max items */
    double rmin, rmax;        /* REAL: the range */
    const char *const *names; /* ENUM: the accepted words, NULL-terminated */
    const char *what;         /* words for what is accepted, instead of the kind's own */
    bool text;                /* job files: a scalar's text counts, numbers as plain decimals */
} ad_doc_want_t;

/* A value to check: the JSON value and, for a YAML scalar, its text and whether it was plain. */
typedef struct ad_doc_value {
    const json_t *v;  /* the value; NULL for a key */
    const char *text; /* a scalar's text, or NULL */
    bool plain;       /* text was a plain (unquoted) scalar */
} ad_doc_value_t;

/*
 * The check every getter makes: 0 with *out set (the type the kind names),
 * or -1 with msg "must be WHAT, got GOT" for the caller to place and name.
 */
int ad_doc_check(const ad_doc_value_t *val, const ad_doc_want_t *want, void *out, char *msg,
                 size_t len);

/*
 * What a value is, for the "got ..." end of messages: a scalar's text in
 * quotes ("the string ..." when it was quoted), "a mapping", "a list", "an
 * empty value", true, a number.  Written in buf, which is returned.
 */
const char *ad_doc_describe_value(const ad_doc_value_t *val, char *buf, size_t len);

/* ad_doc_describe_value() of v at path in a document (its plain text when it has one). */
const char *ad_doc_got(const ad_doc_t *self, const char *path, const json_t *v, char *buf,
                       size_t len);

/* ad_doc_describe_value() of a JSON value alone (the wire). */
void ad_doc_describe(const json_t *v, char *buf, size_t size);

/*
 * A decimal number as job files write it (0.05, 5e-2, -1.5E3; no hex, inf
 * or nan), rounded to the 15 digits canonical JSON prints.  False otherwise.
 */
bool ad_doc_parse_real(const char *text, double *out);

/*
 * Get key of obj (obj is at parent) as want says.  An absent or null key
 * leaves *out alone and returns 0, or fails with "PATH is required" when
 * required.  Returns 0 or AD_EPARSE ("FILE:LINE:COL: PATH must be ..., got ...").
 */
int ad_doc_get(const ad_doc_t *self, const json_t *obj, const char *parent, const char *key,
               bool required, const ad_doc_want_t *want, void *out);

/* ad_doc_check() of v, the value at path: 0, or AD_EPARSE "FILE:LINE:COL: PATH must be ..., got
 * ...". */
int ad_doc_check_at(const ad_doc_t *self, const char *path, const json_t *v,
                    const ad_doc_want_t *want, void *out);

/*
 * The message for an unknown key key (described as got, '"colour"') of the
 * mapping at parent ("" at the top): 'unknown key GOT in PARENT (did you
 * mean K?), expected one of EXPECTED', K the closest of the n candidates
 * (ad_suggest()); hint, when not NULL, replaces the "did you mean" part.
 * Written in buf, which is returned.
 */
const char *ad_doc_unknown_key(char *buf, size_t len, const char *got, const char *parent,
                               const char *hint, const char *key, const char *const *candidates,
                               size_t n, const char *expected);

/*
 * Refuse keys of obj (at parent) outside the NULL-terminated list allowed:
 * 'unknown key "KEY" in PARENT (did you mean K?), expected one of EXPECTED'.
 * Returns 0 or AD_EPARSE.
 */
int ad_doc_check_keys(const ad_doc_t *self, const json_t *obj, const char *parent,
                      const char *const *allowed, const char *expected);

/* ad_doc_get() of a mapping; *out borrowed, NULL when absent. */
int ad_doc_get_obj(const ad_doc_t *self, const json_t *obj, const char *parent, const char *key,
                   bool required, json_t **out);
/* ad_doc_get() of a list; *out borrowed, NULL when absent. */
int ad_doc_get_array(const ad_doc_t *self, const json_t *obj, const char *parent, const char *key,
                     json_t **out);
/* ad_doc_get() of a string (in YAML any plain scalar: `model: 5220` is "5220"); *out replaced by an
 * owned copy. */
int ad_doc_get_str(const ad_doc_t *self, const json_t *obj, const char *parent, const char *key,
                   bool required, char **out);
/* ad_doc_get() of an integer in min..max ("a positive integer" when min is 1 and max INT32_MAX). */
int ad_doc_get_int(const ad_doc_t *self, const json_t *obj, const char *parent, const char *key,
                   bool required, json_int_t min, json_int_t max, json_int_t *out);
/* ad_doc_get() of a finite number >= 0, or > 0 when positive. */
int ad_doc_get_real(const ad_doc_t *self, const json_t *obj, const char *parent, const char *key,
                    bool positive, double *out);
/* ad_doc_get() of true or false. */
int ad_doc_get_bool(const ad_doc_t *self, const json_t *obj, const char *parent, const char *key,
                    bool *out);
/* ad_doc_get() of a byte count: an integer, or a number and a unit ("96 GiB", "1.5 GB"). */
int ad_doc_get_size(const ad_doc_t *self, const json_t *obj, const char *parent, const char *key,
                    bool required, uint64_t *out);

/*
 * The wire: the fields of a protocol payload (ad_proto_validate() checks
 * every message with them, and puts the message name first).  path is a key
 * or a dotted path into nested objects ("load.cpu").  Each returns 0 with
 * *out set; -ENOENT when the field is absent or null (so an optional field
 * reads `if (rc == -ENOENT) default`), with err "PATH is required"; AD_EINVAL
 * for a wrong type or a value out of range, with err "load.cpu must be a
 * number from 0 to 1, got 3.5".  Borrowed results live as long as obj.
 */
int ad_doc_json_get(const json_t *obj, const char *path, const ad_doc_want_t *want, void *out,
                ad_err_t *err);
/* ad_doc_json_get() of an integer in min..max. */
int ad_doc_json_get_int(const json_t *obj, const char *path, int64_t min, int64_t max, int64_t *out,
                    ad_err_t *err);
/* ad_doc_json_get() of a number in min..max. */
int ad_doc_json_get_double(const json_t *obj, const char *path, double min, double max, double *out,
                       ad_err_t *err);
/* ad_doc_json_get() of a string of min_len..max_len bytes. */
int ad_doc_json_get_string(const json_t *obj, const char *path, size_t min_len, size_t max_len,
                       const char **out, ad_err_t *err);
/* ad_doc_json_get() of true or false. */
int ad_doc_json_get_bool(const json_t *obj, const char *path, bool *out, ad_err_t *err);
/* ad_doc_json_get() of an object. */
int ad_doc_json_get_object(const json_t *obj, const char *path, json_t **out, ad_err_t *err);
/* ad_doc_json_get() of an array of at most max_len elements. */
int ad_doc_json_get_array(const json_t *obj, const char *path, size_t max_len, json_t **out,
                      ad_err_t *err);

#ifdef __cplusplus
}
#endif

#endif
