/* ad_cli_plan.h - what `autodist plan` shares between its files (ad_cli_plan*.c) */
#ifndef AD_CLI_PLAN_H
#define AD_CLI_PLAN_H

#include "ad_cli.h"
#include "autodist/ad_planner.h"

/*
 * "loco", "small-large", "lomo", "all", or a comma-separated list of them,
 * into AD_PLANNER_EVAL_* bits.  Returns 0, or prints a usage error and
 * returns AD_CLI_EXIT_USAGE.
 */
int ad_cli_plan_parse_methods(const char *arg, unsigned *out);

/*
 * `plan --evaluate`: cross-validate the planner on HOME/runs.db and print
 * the scores (a table, or JSON with --json).  Returns the exit status.
 */
int ad_cli_plan_evaluate(ad_cli_t *cli, const ad_planner_eval_opts_t *eo);

#endif
