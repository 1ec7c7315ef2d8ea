/* ad_home.c - the autodist home: where runs.db, logs, checkpoints, keys and config.yaml live */
#include "autodist/ad_home.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <unistd.h>

#include "autodist/ad_fault.h"
#include "autodist/ad_log.h"

static char *
s_join(const char *dir, const char *name)
{
    size_t len = strlen(dir) + 1 + strlen(name) + 1;
    char *p = ad_malloc(len);

    /* "/" + "x" must not become "//x". */
    snprintf(p, len, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", name);
    return p;
}

/* The user's home folder: $HOME, else the password database; NULL if neither. */
static const char *
s_user_home(void)
{
    const char *home = getenv("HOME");
    struct passwd *pw;

    if (home && *home)
        return home;
    pw = getpwuid(getuid());
    return pw && pw->pw_dir && *pw->pw_dir ? pw->pw_dir : NULL;
}

/* Make path absolute (expanding "~" and "~/"); returns an owned string or NULL with err set. */
static char *
s_absolute(const char *path, ad_err_t *err)
{
    char cwd[PATH_MAX];
    char *abs;
    size_t len;

    if (path[0] == '~' && (path[1] == '\0' || path[1] == '/')) {
        const char *home = s_user_home();

        if (!home) {
            ad_err_set(err, AD_EINVAL, "%s: cannot expand \"~\": no home folder (set HOME)", path);
            return NULL;
        }
        abs = path[1] ? s_join(home, path + 2) : ad_strdup(home);
    } else if (path[0] == '/') {
        abs = ad_strdup(path);
    } else {
        if (!getcwd(cwd, sizeof(cwd))) {
            ad_err_set(err, -errno, "%s: cannot find the current folder: %s", path,
                       strerror(errno));
            return NULL;
        }
        abs = s_join(cwd, path);
    }
    /* "/x/" and "/x" are the same home: keep one spelling. */
    len = strlen(abs);
    while (len > 1 && abs[len - 1] == '/')
        abs[--len] = '\0';
    return abs;
}

int
ad_home_resolve(const char *arg, ad_home_t *home, ad_err_t *err)
{
    const char *env = getenv(AD_HOME_ENV);
    const char *user;
    char *root;

    memset(home, 0, sizeof(*home));
    if (arg && *arg) {
        root = s_absolute(arg, err);
    } else if (env && *env) {
        root = s_absolute(env, err);
    } else {
        user = s_user_home();
        if (!user)
            return ad_err_set(err, AD_EINVAL,
                              "cannot find the autodist home: no home folder; set %s or pass "
                              "--home",
                              AD_HOME_ENV);
        root = s_join(user, AD_HOME_DEFAULT_NAME);
    }
    if (!root)
        return err ? err->code : AD_EINVAL;
    home->root = root;
    home->db = s_join(root, "runs.db");
    home->config = s_join(root, "config.yaml");
    home->logs = s_join(root, "logs");
    home->checkpoints = s_join(root, "checkpoints");
    home->keys = s_join(root, "keys");
    return 0;
}

/* mkdir that accepts an existing folder and refuses anything else in the way. */
static int
s_mkdir(const char *path, mode_t mode, ad_err_t *err)
{
    struct stat st;
    int e;

    if (ad_fault_hit("home.mkdir"))
        return ad_err_set(err, -EACCES, "%s: cannot create folder: %s", path, strerror(EACCES));
    if (mkdir(path, mode) == 0)
        return 0;
    e = errno;
    if (e == EEXIST) {
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            return 0;
        return ad_err_set(err, -ENOTDIR, "%s: exists and is not a folder", path);
    }
    return ad_err_set(err, -e, "%s: cannot create folder: %s", path, strerror(e));
}

/* mkdir -p: parents get 0755, the last component gets mode. */
static int
s_mkdirs(const char *path, mode_t mode, ad_err_t *err)
{
    char *p = ad_strdup(path);
    int rc = 0;

    for (char *s = p + 1; *s && !rc; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        rc = s_mkdir(p, 0755, err);
        *s = '/';
    }
    if (!rc)
        rc = s_mkdir(p, mode, err);
    free(p);
    return rc;
}

int
ad_home_ensure(const ad_home_t *home, ad_err_t *err)
{
    struct stat st;
    int rc;

    rc = s_mkdirs(home->root, 0700, err);
    if (!rc)
        rc = s_mkdir(home->logs, 0755, err);
    if (!rc)
        rc = s_mkdir(home->checkpoints, 0755, err);
    if (!rc)
        rc = s_mkdir(home->keys, 0700, err);
    if (rc)
        return rc;
    /* Secret keys must not be readable by others, whoever made the folder. */
    if (stat(home->keys, &st) == 0 && (st.st_mode & 077)) {
        if (chmod(home->keys, 0700) != 0)
            return ad_err_set(err, -errno, "%s: cannot restrict to mode 0700: %s", home->keys,
                              strerror(errno));
        ad_log(AD_LOG_WARN, "%s: was open to other users (mode %03o); now 0700", home->keys,
               (unsigned)(st.st_mode & 0777));
    }
    return 0;
}

void
ad_home_clear(ad_home_t *home)
{
    if (!home)
        return;
    free(home->root);
    free(home->db);
    free(home->config);
    free(home->logs);
    free(home->checkpoints);
    free(home->keys);
    memset(home, 0, sizeof(*home));
}

int
ad_home_free_mib(const char *path, int64_t *mib, ad_err_t *err)
{
    struct statvfs st;

    *mib = 0;
    if (statvfs(path, &st) != 0)
        return ad_err_set(err, -errno, "%s: cannot tell the free space: %s", path,
                          strerror(errno));
    /* f_bavail: what an unprivileged user may still write (root's reserve left out). */
    *mib = (int64_t)((uint64_t)st.f_bavail * (uint64_t)st.f_frsize / (1024 * 1024));
    return 0;
}

int
ad_home_check_free(const char *path, int64_t min_mib, ad_err_t *err)
{
    int64_t mib;
    int rc;

    if (min_mib <= 0)
        return 0;
    rc = ad_home_free_mib(path, &mib, err);
    if (rc)
        return rc;
    if (mib < min_mib)
        return ad_err_set(err, -ENOSPC, "%s: only %" PRId64 " MiB free, need %" PRId64 " MiB",
                          path, mib, min_mib);
    return 0;
}

int64_t
ad_home_checkpoint_mib(int64_t params, int moments, int keep)
{
    /* Parameters and each optimiser moment in float32, keep files plus the one being written. */
    double bytes = (double)params * 4.0 * (1 + moments) * (keep + 1);

    return params <= 0 ? 0 : (int64_t)(bytes / (1024.0 * 1024.0)) + 1;
}
