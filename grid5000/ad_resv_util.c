/* ad_resv_util.c - what every reservation backend shares: vectors and walltime text */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "autodist/ad_resv.h"

void
ad_resv_argv_free(char ***argv)
{
    if (!argv || !*argv)
        return;
    for (char **p = *argv; *p; p++)
        free(*p);
    free(*argv);
    *argv = NULL;
}

char *
ad_resv_walltime_text(int64_t s, char *buf, size_t cap)
{
    if (s < 0)
        s = 0;
    snprintf(buf, cap, "%" PRId64 ":%02d:%02d", s / 3600, (int)(s / 60 % 60), (int)(s % 60));
    return buf;
}
