/* ad_home.h - the autodist home: where runs.db, logs, checkpoints, keys and config.yaml live */
#ifndef AD_HOME_H
#define AD_HOME_H

#include "autodist/ad_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The environment variable naming the home, below --home and above the default. */
#define AD_HOME_ENV "AUTODIST_HOME"
/* The default home, under the user's home folder. */
#define AD_HOME_DEFAULT_NAME ".autodist"

/* Paths of one autodist home; every string is absolute and owned (ad_home_clear()). */
typedef struct ad_home {
    char *root;        /* the home folder itself (mode 0700 when autodist creates it) */
    char *db;          /* root/runs.db: the store */
    char *config;      /* root/config.yaml: optional settings */
    char *logs;        /* root/logs/: daemon, agent and job logs (0755) */
    char *checkpoints; /* root/checkpoints/: training checkpoints (0755) */
    char *keys;        /* root/keys/: CURVE certificates (0700, always) */
} ad_home_t;

/*
 * Work out the home without touching the disk: arg (a --home value; NULL
 * or "" when not given) wins over $AUTODIST_HOME, which wins over
 * ~/.autodist.  A leading "~" or "~/" is the user's home folder and a
 * relative path is taken from the current folder, so the result stays valid
 * after a chdir.  Returns 0 and fills home (which the caller clears with
 * ad_home_clear()), or AD_EINVAL when no user home folder can be found and
 * nothing was given; home is then zeroed.
 */
int ad_home_resolve(const char *arg, ad_home_t *home, ad_err_t *err);

/*
 * Create the home and its logs/, checkpoints/ and keys/ folders where they
 * are missing (missing parents too), and tighten keys/ to 0700 if it is
 * open to others.  Existing folders are otherwise left as they are.
 * Idempotent.  Returns 0, or a negative errno (-EACCES, -ENOTDIR for a file
 * in the way, ...) with err naming the path.
 */
int ad_home_ensure(const ad_home_t *home, ad_err_t *err);

/* Free the strings of home and zero it; NULL-safe and idempotent. */
void ad_home_clear(ad_home_t *home);

#ifdef __cplusplus
}
#endif

#endif
