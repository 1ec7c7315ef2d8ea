/* cli_fixture.c - what the tests of `autodist` share: its runs, their exit status, a temp root */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ad_test.h"
#include "cli_fixture.h"

#include <stdlib.h>

adt_result_t cft_res;
const char *cft_tmp;

int
cft_cli(const char *first, ...)
{
    const char *args[ADT_MAX_ARGS + 1];
    va_list ap;
    int n = 0;

    va_start(ap, first);
    for (const char *a = first; a && n < ADT_MAX_ARGS; a = va_arg(ap, const char *))
        args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    return adt_run(&cft_res, AD_CLI_BIN, args, cft_tmp, CFT_DEADLINE_S);
}

void
cft_expect(int got, int want)
{
    (void)got; /* the run's own status, which cft_res holds with its output */
    adt_expect_status(&cft_res, want);
}

int
cft_begin(const char *tag)
{
    /* The tests say where everything is; nothing from the caller's environment may leak in. */
    unsetenv("AUTODIST_HOME");
    unsetenv("AUTODIST_COORDINATOR");
    unsetenv("AUTODIST_LOG");
    cft_tmp = adt_root_make(tag);
    /* Nor the caller's ~/.autodist (its keys would be offered to the tests' coordinators). */
    if (cft_tmp)
        setenv("HOME", cft_tmp, 1);
    return cft_tmp ? 0 : -1;
}

int
cft_cluster_up(char *home, size_t size, char ep[3][64])
{
    snprintf(home, size, "%s/home", cft_tmp);
    for (int i = 0; i < 3; i++)
        adt_free_endpoint(ep[i], 64);
    if (cft_cli("--home", home, "--coordinator", ep[0], "up", "--agents", "1", "--no-bench",
                "--agent-endpoint", ep[1], "--metrics-endpoint", ep[2], NULL) != 0) {
        fprintf(stderr, "autodist up failed (%d):\n%s%s", cft_res.status, cft_res.out, cft_res.err);
        return -1;
    }
    return 0;
}

int
cft_end(int failed)
{
    if (!failed)
        adt_root_remove();
    return failed ? 1 : 0;
}
