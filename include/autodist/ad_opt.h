/* ad_opt.h - command-line option values: integers, numbers and seconds in a range, durations */
#ifndef AD_OPT_H
#define AD_OPT_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

#include "autodist/ad_error.h"

/*
 * Flags of the ad_opt_* parsers.  Messages write the range as "[1, 64]" by
 * default; AD_OPT_DOTS writes "1..64", as the autodist command does.
 */
#define AD_OPT_DOTS 1u

/*
 * Parse text as a decimal integer (strtoll's syntax, nothing after it) in
 * [min, max] into *out.  Returns 0, or AD_EINVAL with err set to
 * `NAME must be an integer in [MIN, MAX], got "TEXT"`; *out is then untouched.
 */
int ad_opt_int(const char *name, const char *text, int64_t min, int64_t max, unsigned flags,
               int64_t *out, ad_err_t *err);

/*
 * Parse text as a finite number (strtod's syntax) in [min, max] into *out.
 * Returns 0, or AD_EINVAL with err set to `NAME must be a number in [MIN, MAX],
 * got "TEXT"` (%g for the bounds); *out is then untouched.
 */
int ad_opt_real(const char *name, const char *text, double min, double max, unsigned flags,
                double *out, ad_err_t *err);

/*
 * Like ad_opt_real() for a number of seconds: the message says
 * `NAME must be seconds in [MIN, MAX], got "TEXT"`.
 */
int ad_opt_seconds(const char *name, const char *text, double min, double max, unsigned flags,
                   double *out, ad_err_t *err);

/*
 * Parse a duration as the job file writes it (docs/jobfile.md): whole
 * seconds ("5400", strict: no leading zeros, no blanks) or amounts with the
 * units d, h, m, s in that order, each at most once ("90s", "30m", "1h30m",
 * "1d12h").  Returns true with *out the seconds, false when text is no
 * duration (*out may then have been written).  No range check: callers
 * bound the value.
 */
bool ad_opt_parse_duration(const char *text, int64_t *out);

/*
 * Parse text as a strict decimal integer (optional sign, digits, no leading
 * zeros, no blanks, no overflow), as YAML writes one.  Returns true with
 * *out set, false (and *out untouched) otherwise.
 */
bool ad_opt_parse_strict_int(const char *text, int64_t *out);

/*
 * The error for what getopt_long() refused (it returned '?' with opterr 0):
 * "unknown option -x (try --help)", "option --NAME needs a value" (NAME from
 * longs, whose values run from first in table order), or "unknown option
 * ARG (try --help)".  Reads getopt's optopt and optind.  Returns AD_EINVAL
 * with err set.
 */
int ad_opt_getopt_error(const struct option *longs, int first, char *const *argv, ad_err_t *err);

#endif
