/* ad_cli_reservation.c - autodist reservation show|extend|release: an OAR job by id or name */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad_cli_resv.h"
#include "autodist/ad_opt.h"
#include "autodist/ad_suggest.h"

/* Attach to the batch job named by id_or_name; 0 with *out, or an exit status (printed). */
static int
s_attach(const char *id_or_name, ad_resv_t **out)
{
    ad_err_t err = {0};
    int rc = ad_resv_attach(NULL, id_or_name, out, &err);

    if (rc == -ENOENT)
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "reservation %s: %s", id_or_name, err.msg);
    if (rc)
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", err.msg);
    return 0;
}

/* show: what OAR says of it, as the run record keeps it. */
static int
s_show(ad_cli_t *cli, ad_resv_t *r)
{
    ad_err_t err = {0};
    json_t *d = ad_resv_describe(r, &err), *v;
    const char *key;
    char *text;

    if (!d)
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", err.msg);
    if (cli->json) {
        ad_cli_print_json(d);
    } else {
        json_object_foreach(d, key, v)
        {
            text = json_is_string(v) ? strdup(json_string_value(v))
                                     : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            printf("%-18s %s\n", key, text ? text : "?");
            free(text);
        }
    }
    json_decref(d);
    return AD_CLI_EXIT_OK;
}

/* extend DURATION: oarwalltime +DURATION. */
static int
s_extend(ad_resv_t *r, const char *what)
{
    ad_err_t err = {0};
    int64_t s = 0;
    char w[32];

    if (!what || !ad_opt_parse_duration(what[0] == '+' ? what + 1 : what, &s) || s < 1)
        return ad_cli_fail(AD_CLI_EXIT_USAGE,
                           "reservation extend: give how much longer, a duration such as 30m, "
                           "1h or 1h30m, got \"%s\"",
                           what ? what : "");
    if (ad_resv_extend(r, s, &err))
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", err.msg);
    printf("asked OAR for %s more on job %s (OAR grants it shortly: `autodist reservation show "
           "%s` says the walltime)\n",
           ad_resv_walltime_text(s, w, sizeof(w)), ad_resv_id(r), ad_resv_id(r));
    return AD_CLI_EXIT_OK;
}

/* release: oardel, then wait (15 s at most) until OAR says it is over. */
static int
s_release(ad_resv_t *r)
{
    ad_resv_status_t st;
    ad_err_t err = {0};

    if (ad_resv_release(r, &err))
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", err.msg);
    ad_cli_resv_wait_over(r, &st);
    printf("released OAR job %s (%s)\n", ad_resv_id(r), st.state[0] ? st.state : "gone");
    return AD_CLI_EXIT_OK;
}

int
ad_cli_reservation(ad_cli_t *cli, int argc, char **argv)
{
    const char *arg, *sub;
    ad_resv_t *r = NULL;
    int c, rc, npos;

    while ((c = ad_cli_getopt(cli, argc, argv, NULL, &arg)) != AD_CLI_OPT_END) {
        if (c == AD_CLI_OPT_HELP)
            return AD_CLI_EXIT_OK;
        if (c == AD_CLI_OPT_ERROR)
            return AD_CLI_EXIT_USAGE;
    }
    npos = argc - optind;
    sub = npos > 0 ? argv[optind] : NULL;
    if (sub && strcmp(sub, "show") && strcmp(sub, "extend") && strcmp(sub, "release")) {
        static const char *const subs[] = {"show", "extend", "release"};

        if (ad_suggest(sub, subs, 3, 3, true))
            return ad_cli_no_sub("reservation", sub, subs, 3);
    }
    if (!sub || (strcmp(sub, "show") && strcmp(sub, "extend") && strcmp(sub, "release")))
        return ad_cli_fail(AD_CLI_EXIT_USAGE,
                           "reservation: give show, extend or release, then an OAR job id or "
                           "name (see --help)%s%s%s",
                           sub ? ", got \"" : "", sub ? sub : "", sub ? "\"" : "");
    if (npos < 2)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "reservation %s: give the OAR job's id or name",
                           sub);
    if (npos > (!strcmp(sub, "extend") ? 3 : 2))
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "reservation %s: unexpected \"%s\"", sub,
                           argv[optind + npos - 1]);
    if (!strcmp(sub, "extend") && npos < 3)
        return ad_cli_fail(AD_CLI_EXIT_USAGE,
                           "reservation extend: give how much longer, e.g. `autodist reservation "
                           "extend %s 1h`",
                           argv[optind + 1]);
    if ((rc = s_attach(argv[optind + 1], &r)))
        return rc;
    if (!strcmp(sub, "show"))
        rc = s_show(cli, r);
    else if (!strcmp(sub, "extend"))
        rc = s_extend(r, argv[optind + 2]);
    else
        rc = s_release(r);
    ad_resv_free(&r);
    return rc;
}
