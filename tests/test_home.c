/* test_home.c - the autodist home: --home over AUTODIST_HOME over ~/.autodist, folders, modes */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ad_test.h"
#include "autodist/ad_fault.h"
#include "autodist/ad_home.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

static char s_saved_home[512];

static mode_t
s_mode(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    return st.st_mode & 0777;
}

static int
s_group_setup(void **state)
{
    const char *home = getenv("HOME");

    snprintf(s_saved_home, sizeof(s_saved_home), "%s", home ? home : "");
    /* Folder modes below assume the usual umask. */
    umask(022);
    return adt_root_make("ad_home") ? 0 : -1;
}

static int
s_group_teardown(void **state)
{
    adt_root_remove();
    return 0;
}

/* Each test starts with no AUTODIST_HOME and the real HOME. */
static int
s_setup(void **state)
{
    unsetenv(AD_HOME_ENV);
    if (s_saved_home[0])
        setenv("HOME", s_saved_home, 1);
    ad_fault_reset();
    return 0;
}

static void
test_resolve_precedence(void **state)
{
    char fake_home[512], env_home[512], arg_home[512], expect[700];
    ad_home_t home;
    ad_err_t err = {0};

    adt_fresh_path(fake_home, sizeof(fake_home), "user", "");
    adt_fresh_path(env_home, sizeof(env_home), "env", "");
    adt_fresh_path(arg_home, sizeof(arg_home), "arg", "");
    setenv("HOME", fake_home, 1);

    /* Default: ~/.autodist, and every path derives from the root. */
    assert_int_equal(ad_home_resolve(NULL, &home, &err), 0);
    snprintf(expect, sizeof(expect), "%s/.autodist", fake_home);
    assert_string_equal(home.root, expect);
    snprintf(expect, sizeof(expect), "%s/.autodist/runs.db", fake_home);
    assert_string_equal(home.db, expect);
    snprintf(expect, sizeof(expect), "%s/.autodist/config.yaml", fake_home);
    assert_string_equal(home.config, expect);
    snprintf(expect, sizeof(expect), "%s/.autodist/logs", fake_home);
    assert_string_equal(home.logs, expect);
    snprintf(expect, sizeof(expect), "%s/.autodist/checkpoints", fake_home);
    assert_string_equal(home.checkpoints, expect);
    snprintf(expect, sizeof(expect), "%s/.autodist/keys", fake_home);
    assert_string_equal(home.keys, expect);
    ad_home_clear(&home);
    ad_home_clear(&home);

    /* AUTODIST_HOME beats the default; an empty one is as if unset. */
    setenv(AD_HOME_ENV, "", 1);
    assert_int_equal(ad_home_resolve("", &home, &err), 0);
    snprintf(expect, sizeof(expect), "%s/.autodist", fake_home);
    assert_string_equal(home.root, expect);
    ad_home_clear(&home);
    setenv(AD_HOME_ENV, env_home, 1);
    assert_int_equal(ad_home_resolve(NULL, &home, &err), 0);
    assert_string_equal(home.root, env_home);
    ad_home_clear(&home);

    /* --home beats both. */
    assert_int_equal(ad_home_resolve(arg_home, &home, &err), 0);
    assert_string_equal(home.root, arg_home);
    ad_home_clear(&home);
}

static void
test_resolve_spellings(void **state)
{
    char fake_home[512], cwd[512], expect[1100];
    ad_home_t home;
    ad_err_t err = {0};

    adt_fresh_path(fake_home, sizeof(fake_home), "tilde", "");
    setenv("HOME", fake_home, 1);

    assert_int_equal(ad_home_resolve("~/lab/ad", &home, &err), 0);
    snprintf(expect, sizeof(expect), "%s/lab/ad", fake_home);
    assert_string_equal(home.root, expect);
    ad_home_clear(&home);
    assert_int_equal(ad_home_resolve("~", &home, &err), 0);
    assert_string_equal(home.root, fake_home);
    ad_home_clear(&home);

    /* Relative paths are made absolute, trailing slashes dropped. */
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(ad_home_resolve("rel/home//", &home, &err), 0);
    snprintf(expect, sizeof(expect), "%s/rel/home", cwd);
    assert_string_equal(home.root, expect);
    ad_home_clear(&home);
    setenv(AD_HOME_ENV, "/abs/where/", 1);
    assert_int_equal(ad_home_resolve(NULL, &home, &err), 0);
    assert_string_equal(home.root, "/abs/where");
    assert_string_equal(home.db, "/abs/where/runs.db");
    ad_home_clear(&home);
    assert_int_equal(ad_home_resolve("/", &home, &err), 0);
    assert_string_equal(home.db, "/runs.db");
    ad_home_clear(&home);
}

static void
test_ensure_creates_folders(void **state)
{
    char root[512];
    ad_home_t home;
    ad_err_t err = {0};

    adt_fresh_path(root, sizeof(root), "create", "");
    strcat(root, "/deep/er");
    assert_int_equal(ad_home_resolve(root, &home, &err), 0);
    assert_int_equal(ad_home_ensure(&home, &err), 0);
    assert_int_equal(s_mode(home.root), 0700);
    assert_int_equal(s_mode(home.keys), 0700);
    assert_int_equal(s_mode(home.logs), 0755);
    assert_int_equal(s_mode(home.checkpoints), 0755);
    /* Nothing else is created: the store and config.yaml come later. */
    assert_int_equal(access(home.db, F_OK), -1);
    assert_int_equal(access(home.config, F_OK), -1);
    /* Idempotent. */
    assert_int_equal(ad_home_ensure(&home, &err), 0);
    ad_home_clear(&home);
}

static void
test_ensure_tightens_keys(void **state)
{
    char root[512];
    ad_home_t home;
    ad_err_t err = {0};

    adt_fresh_path(root, sizeof(root), "keys", "");
    assert_int_equal(ad_home_resolve(root, &home, &err), 0);
    assert_int_equal(mkdir(home.root, 0755), 0);
    assert_int_equal(mkdir(home.keys, 0755), 0);
    assert_int_equal(ad_home_ensure(&home, &err), 0);
    /* The user's own home mode is kept; keys/ is not left readable by others. */
    assert_int_equal(s_mode(home.root), 0755);
    assert_int_equal(s_mode(home.keys), 0700);
    ad_home_clear(&home);
}

static void
test_ensure_errors(void **state)
{
    char root[512], file[600];
    ad_home_t home;
    ad_err_t err = {0};

    /* A file where the home should be. */
    adt_fresh_path(root, sizeof(root), "file", "");
    adt_write_file(root, "");
    assert_int_equal(ad_home_resolve(root, &home, &err), 0);
    assert_int_equal(ad_home_ensure(&home, &err), -ENOTDIR);
    adt_assert_has(err.msg, root);
    adt_assert_has(err.msg, "exists and is not a folder");
    ad_home_clear(&home);

    /* A file where logs/ should be. */
    adt_fresh_path(root, sizeof(root), "logsfile", "");
    assert_int_equal(mkdir(root, 0700), 0);
    snprintf(file, sizeof(file), "%s/logs", root);
    adt_write_file(file, "");
    assert_int_equal(ad_home_resolve(root, &home, &err), 0);
    assert_int_equal(ad_home_ensure(&home, &err), -ENOTDIR);
    adt_assert_has(err.msg, file);
    ad_home_clear(&home);

    /* A folder that cannot be created (the fault switch stands in for EACCES). */
    adt_fresh_path(root, sizeof(root), "denied", "");
    assert_int_equal(ad_home_resolve(root, &home, &err), 0);
    ad_fault_arm("home.mkdir", 1);
    assert_int_equal(ad_home_ensure(&home, &err), -EACCES);
    adt_assert_has(err.msg, "cannot create folder");
    ad_home_clear(&home);

    /* A real one, unless root ignores permissions. */
    if (geteuid() != 0) {
        char locked[512];

        adt_fresh_path(locked, sizeof(locked), "locked", "");
        assert_int_equal(mkdir(locked, 0500), 0);
        strcat(locked, "/home");
        assert_int_equal(ad_home_resolve(locked, &home, &err), 0);
        assert_int_equal(ad_home_ensure(&home, &err), -EACCES);
        adt_assert_has(err.msg, locked);
        ad_home_clear(&home);
    }
}

/* Free space as the coordinator checks it before a launch; the full-disk case is test_disk's. */
static void
test_free_space(void **state)
{
    struct statvfs st;
    ad_err_t err = {0};
    int64_t mib = -1, want;

    assert_int_equal(ad_home_free_mib(adt_root(), &mib, &err), 0);
    assert_int_equal(statvfs(adt_root(), &st), 0);
    want = (int64_t)((uint64_t)st.f_bavail * st.f_frsize >> 20);
    /* Others write to this disk meanwhile: a few MiB either way. */
    if (mib < want - 64 || mib > want + 64)
        fail_msg("ad_home_free_mib says %lld MiB, statvfs %lld", (long long)mib, (long long)want);

    assert_int_equal(ad_home_free_mib("/nonexistent/autodist", &mib, &err), -ENOENT);
    assert_int_equal(mib, 0);
    adt_assert_has(err.msg, "/nonexistent/autodist: cannot tell the free space");

    assert_int_equal(ad_home_check_free(adt_root(), 0, &err), 0);
    assert_int_equal(ad_home_check_free(adt_root(), 1, &err), want >= 1 ? 0 : -ENOSPC);
    assert_int_equal(ad_home_check_free(adt_root(), INT64_C(1) << 40, &err), -ENOSPC);
    adt_assert_has(err.msg, adt_root());
    adt_assert_has(err.msg, " MiB free, need 1099511627776 MiB");
    assert_int_equal(ad_home_check_free("/nonexistent/autodist", 1, &err), -ENOENT);

    /* cnn: 421,642 parameters with SGD momentum, 2 kept: 3 files of 3.2 MiB. */
    assert_int_equal(ad_home_checkpoint_mib(421642, 1, 2), 10);
    assert_int_equal(ad_home_checkpoint_mib(421642, 2, 2), 15);
    assert_int_equal(ad_home_checkpoint_mib(0, 2, 2), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_resolve_precedence, s_setup),
        cmocka_unit_test_setup(test_resolve_spellings, s_setup),
        cmocka_unit_test_setup(test_ensure_creates_folders, s_setup),
        cmocka_unit_test_setup(test_ensure_tightens_keys, s_setup),
        cmocka_unit_test_setup(test_ensure_errors, s_setup),
        cmocka_unit_test(test_free_space),
    };

    return cmocka_run_group_tests(tests, s_group_setup, s_group_teardown);
}
