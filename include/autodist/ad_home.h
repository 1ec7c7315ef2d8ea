/* ad_home.h - the autodist home: where runs.db, logs, checkpoints, keys and config.yaml live */
#ifndef AD_HOME_H
#define AD_HOME_H

#include <stdint.h>

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

/*
 * The space an unprivileged user may still write on the file system holding
 * path (statvfs: f_bavail x f_frsize), in MiB rounded down, in *mib.
 * Returns 0, or -errno (-ENOENT, ...) with err naming path; *mib is then 0.
 */
int ad_home_free_mib(const char *path, int64_t *mib, ad_err_t *err);

/*
 * Check that path's file system has at least min_mib MiB free (min_mib <= 0:
 * no check).  Returns 0; -ENOSPC with err "PATH: only N MiB free, need M MiB"
 * (the caller adds which option set M); or ad_home_free_mib()'s error.
 */
int ad_home_check_free(const char *path, int64_t min_mib, ad_err_t *err);

/*
 * A rough size in MiB, rounded up, of what a run's checkpoints take at their
 * peak: params float32 parameters plus moments optimiser moments per
 * parameter (1 for SGD with momentum, 2 for Adam), in keep files plus the
 * one being written.  0 when params <= 0 (not known yet).
 */
int64_t ad_home_checkpoint_mib(int64_t params, int moments, int keep);

#ifdef __cplusplus
}
#endif

#endif
