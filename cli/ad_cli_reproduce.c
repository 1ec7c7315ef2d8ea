/* ad_cli_reproduce.c - `autodist reproduce RUN`: run a recorded run again and compare */
#include "ad_cli.h"

int
ad_cli_reproduce(ad_cli_t *cli, int argc, char **argv)
{
    return ad_cli_fail(AD_CLI_EXIT_ERROR, "reproduce: not yet");
}
