/* ad_cli_keys.c - autodist keys: list, add-user, revoke, rotate the CURVE keys of the home */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad_cli.h"
#include "autodist/ad_keys.h"

/* Each subcommand's help (`autodist keys SUB --help`). */
static const struct {
    const char *name; /* the subcommand */
    const char *help; /* its help */
} s_subs[] = {
    {"list", "usage: autodist keys list\n"
             "\n"
             "The keys the coordinator of this home admits: the admin (HOME/keys), the nodes\n"
             "(HOME/keys/node) and each user (HOME/keys/users/NAME), with their public keys.\n"},
    {"add-user", "usage: autodist keys add-user NAME\n"
                 "\n"
                 "Make user NAME's key folder HOME/keys/users/NAME (their key pair and the\n"
                 "coordinator's public key) and say how to hand it over.  NAME is 1..64\n"
                 "letters, digits, '_', '-' or '.'.  The running coordinator admits the new\n"
                 "key at its next handshake: no restart.  A user may submit jobs and cancel\n"
                 "their own; SHUTDOWN and others' jobs need the admin key.\n"},
    {"revoke", "usage: autodist keys revoke NAME\n"
               "\n"
               "Delete user NAME's keys: the coordinator refuses that key from its next\n"
               "handshake on (it reads the folder again when it changed; no restart).  Their\n"
               "jobs stay.\n"},
    {"rotate", "usage: autodist keys rotate\n"
               "\n"
               "Make a new coordinator key pair and copy its public half into HOME/keys/node\n"
               "and every HOME/keys/users/NAME.  Restart the coordinator to use it\n"
               "(autodist down && autodist up); copy node/server.cert again to every node\n"
               "that has its own copy of the keys, and give each user their new server.cert.\n"
               "Client keys do not change.\n"},
};

#define S_N_SUBS (sizeof(s_subs) / sizeof(s_subs[0]))

static int
s_list(ad_cli_t *cli, const char *keys)
{
    static const char *const headers[] = {"NAME", "ROLE", "KEY", "FOLDER"};
    ad_err_t err = {0};
    json_t *rows = ad_keys_list(keys, &err), *r;
    ad_cli_table_t *t;
    size_t i;

    if (!rows)
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", err.msg);
    if (cli->json) {
        json_t *doc = json_pack("{s:s s:o}", "keys_dir", keys, "keys", rows);

        ad_cli_print_json(doc);
        json_decref(doc);
        return AD_CLI_EXIT_OK;
    }
    t = ad_cli_table_new(4, headers);
    json_array_foreach(rows, i, r)
    {
        const char *cells[4] = {ad_cli_jstr(r, "name"), ad_cli_jstr(r, "role"),
                                ad_cli_jstr(r, "key"), ad_cli_jstr(r, "folder")};

        ad_cli_table_add(t, cells);
    }
    ad_cli_table_print(t, stdout);
    ad_cli_table_free(&t);
    json_decref(rows);
    return AD_CLI_EXIT_OK;
}

static int
s_add_user(ad_cli_t *cli, const char *keys, const char *name)
{
    char dir[PATH_MAX];
    ad_err_t err = {0};
    int rc = ad_keys_add_user(keys, name, &err);

    if (rc)
        return ad_cli_fail(rc == AD_EINVAL ? AD_CLI_EXIT_USAGE : AD_CLI_EXIT_ERROR, "%s",
                           err.msg);
    snprintf(dir, sizeof(dir), "%s/users/%s", keys, name);
    if (cli->json) {
        json_t *doc = json_pack("{s:s s:s s:s}", "name", name, "role", "user", "folder", dir);

        ad_cli_print_json(doc);
        json_decref(doc);
        return AD_CLI_EXIT_OK;
    }
    printf("made the keys of user %s in %s\n"
           "It holds %s's secret key: hand it over privately, then delete this copy of\n"
           "client.cert_secret if you like (revoking does not need it).  %s puts the three\n"
           "files in ~/.autodist/keys (mode 0700), e.g. from this machine:\n"
           "  sudo install -d -m 0700 -o %s ~%s/.autodist/keys\n"
           "  sudo install -m 0600 -o %s %s/* ~%s/.autodist/keys/\n"
           "or from another one: scp -r %s %s@HOST:.autodist/keys\n"
           "then runs `autodist --coordinator tcp://THIS-HOST:7400 submit job.yaml` (or gives\n"
           "--keys DIR).  The coordinator admits the key from now on, no restart needed.\n",
           name, dir, name, name, name, name, name, dir, name, dir, name);
    return AD_CLI_EXIT_OK;
}

static int
s_revoke(ad_cli_t *cli, const char *keys, const char *name)
{
    ad_err_t err = {0};
    int rc = ad_keys_revoke(keys, name, &err);

    if (rc)
        return ad_cli_fail(rc == AD_EINVAL ? AD_CLI_EXIT_USAGE : AD_CLI_EXIT_ERROR, "%s",
                           err.msg);
    if (cli->json) {
        json_t *doc = json_pack("{s:s s:b}", "name", name, "revoked", 1);

        ad_cli_print_json(doc);
        json_decref(doc);
    } else {
        printf("revoked user %s: the coordinator refuses the key from its next connection on\n",
               name);
    }
    return AD_CLI_EXIT_OK;
}

static int
s_rotate(ad_cli_t *cli, const char *keys)
{
    ad_err_t err = {0};

    if (ad_keys_rotate(keys, &err))
        return ad_cli_fail(AD_CLI_EXIT_ERROR, "%s", err.msg);
    if (cli->json) {
        json_t *doc = json_pack("{s:s s:b}", "keys_dir", keys, "rotated", 1);

        ad_cli_print_json(doc);
        json_decref(doc);
        return AD_CLI_EXIT_OK;
    }
    printf("made a new coordinator key in %s/server.cert; now:\n"
           "  1. restart the coordinator: autodist down && autodist up (or restart autodistd)\n"
           "  2. copy %s/node/server.cert to every node that has its own copy of the node keys\n"
           "     (its --keys DIR or $AUTODIST_KEYS), then restart its agent\n"
           "  3. give each user their new %s/users/NAME/server.cert\n"
           "Clients with the old server.cert are refused until they have the new one.\n",
           keys, keys, keys);
    return AD_CLI_EXIT_OK;
}

/* `autodist keys SUB --help`, or the whole command's help. */
static void
s_help(ad_cli_t *cli, const char *sub)
{
    for (size_t i = 0; sub && i < S_N_SUBS; i++)
        if (!strcmp(s_subs[i].name, sub)) {
            fputs(s_subs[i].help, stdout);
            return;
        }
    ad_cli_help(cli->cmd, stdout);
}

/* Print the help of `keys SUB --help`; true when argv asked for it. */
static bool
s_sub_help(ad_cli_t *cli, int argc, char **argv)
{
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            s_help(cli, argv[1]);
            return true;
        }
    return false;
}

int
ad_cli_keys(ad_cli_t *cli, int argc, char **argv)
{
    const ad_home_t *home;
    const char *arg, *sub;
    int c, npos;

    if (argc > 2 && s_sub_help(cli, argc, argv))
        return AD_CLI_EXIT_OK;
    while ((c = ad_cli_getopt(cli, argc, argv, NULL, &arg)) != AD_CLI_OPT_END) {
        if (c == AD_CLI_OPT_HELP)
            return AD_CLI_EXIT_OK;
        return AD_CLI_EXIT_USAGE;
    }
    npos = argc - optind;
    sub = npos > 0 ? argv[optind] : NULL;
    if (!sub)
        return ad_cli_fail(AD_CLI_EXIT_USAGE,
                           "keys: give list, add-user NAME, revoke NAME or rotate (see autodist "
                           "keys --help)");
    home = ad_cli_home(cli);
    if (!home)
        return AD_CLI_EXIT_ERROR;
    if (!strcmp(sub, "list") && npos == 1)
        return s_list(cli, home->keys);
    if (!strcmp(sub, "rotate") && npos == 1)
        return s_rotate(cli, home->keys);
    if (!strcmp(sub, "add-user") && npos == 2)
        return s_add_user(cli, home->keys, argv[optind + 1]);
    if (!strcmp(sub, "revoke") && npos == 2)
        return s_revoke(cli, home->keys, argv[optind + 1]);
    for (size_t i = 0; i < S_N_SUBS; i++)
        if (!strcmp(s_subs[i].name, sub))
            return ad_cli_fail(AD_CLI_EXIT_USAGE,
                               "keys %s: wrong number of arguments (try autodist keys %s --help)",
                               sub, sub);
    {
        static const char *const subs[] = {"list", "add-user", "revoke", "rotate"};

        return ad_cli_no_sub("keys", sub, subs, sizeof(subs) / sizeof(subs[0]));
    }
}
