/* ad_suggest.h - "did you mean": the closest of some words to a misspelt one */
#ifndef AD_SUGGEST_H
#define AD_SUGGEST_H

#include <stdbool.h>
#include <stddef.h>

/* Words longer than this are never close to anything. */
#define AD_SUGGEST_WORD_MAX 64

/*
 * Edit distance (Levenshtein: insertions, deletions, substitutions) of a and
 * b, comparing a's letters lower-cased when fold is set (b as it is).
 * Returns SIZE_MAX when either is longer than AD_SUGGEST_WORD_MAX.
 */
size_t ad_suggest_distance(const char *a, const char *b, bool fold);

/*
 * The candidate closest to word, at a distance below max_d (the first one on
 * ties), or NULL when none is that close.  candidates holds n words; NULL
 * entries are skipped.  The result is borrowed from candidates.
 */
const char *ad_suggest(const char *word, const char *const *candidates, size_t n, size_t max_d,
                       bool fold);

#endif
