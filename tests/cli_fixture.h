/* cli_fixture.h - what the tests of `autodist` share: its runs, their exit status, a temp root */
#ifndef AD_CLI_FIXTURE_H
#define AD_CLI_FIXTURE_H

#include "ad_test.h"

/* Generous: a loaded machine must not fail a test; the bounds only catch hangs. */
#define CFT_DEADLINE_S 60.0

/* What the last cft_cli() run left. */
extern adt_result_t cft_res;

/* This test program's scratch folder (the temp root); set by cft_begin(). */
extern const char *cft_tmp;

/* Run autodist (AD_CLI_BIN) with the arguments (NULL-terminated) into cft_res, in cft_tmp;
 * returns its exit status. */
int cft_cli(const char *first, ...);

/* Expect exit status want of the last run (got is its status); show what autodist said when it
 * differs. */
void cft_expect(int got, int want);

/* Clear the environment autodist reads (AUTODIST_HOME, _COORDINATOR, _LOG) and make the temp root
 * $TMPDIR/tag.XXXXXX into cft_tmp; 0, or -1 when it cannot be made. */
int cft_begin(const char *tag);

/* The end of main: remove the temp root when nothing failed (keep it to look at otherwise);
 * the program's exit status. */
int cft_end(int failed);

/*
 * `autodist up` of a cluster of one agent (no bench) for the tests: home becomes
 * cft_tmp/home (size bytes), ep[0..2] free endpoints for its clients, agents and metrics
 * (64 bytes each).  0, or -1 after saying on stderr why up failed.  `autodist --home HOME
 * --coordinator EP0 down` stops it.
 */
int cft_cluster_up(char *home, size_t size, char ep[3][64]);

#endif
