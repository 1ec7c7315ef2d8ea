/* ad_suggest.c - "did you mean": the closest of some words to a misspelt one */
#include "autodist/ad_suggest.h"

#include <ctype.h>
#include <stdint.h>
#include <string.h>

size_t
ad_suggest_distance(const char *a, const char *b, bool fold)
{
    size_t la = strlen(a), lb = strlen(b), row[AD_SUGGEST_WORD_MAX + 1];

    if (la > AD_SUGGEST_WORD_MAX || lb > AD_SUGGEST_WORD_MAX)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t prev = row[0], cur;
        char c = fold ? (char)tolower((unsigned char)a[i - 1]) : a[i - 1];

        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            cur = row[j];
            row[j] = prev + (c != b[j - 1]);
            if (row[j - 1] + 1 < row[j])
                row[j] = row[j - 1] + 1;
            if (cur + 1 < row[j])
                row[j] = cur + 1;
            prev = cur;
        }
    }
    return row[lb];
}

const char *
ad_suggest(const char *word, const char *const *candidates, size_t n, size_t max_d, bool fold)
{
    const char *best = NULL;
    size_t best_d = max_d;

    for (size_t i = 0; i < n; i++) {
        size_t d;

        if (!candidates[i])
            continue;
        d = ad_suggest_distance(word, candidates[i], fold);
        if (d < best_d) {
            best_d = d;
            best = candidates[i];
        }
    }
    return best;
}
