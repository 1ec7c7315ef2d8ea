/* ad_cli_complete.c - shell completion (bash, zsh) and man pages, made from the help text */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad_cli.h"
#include "autodist/ad_version.h"

/* Longest option or sub-command name we look for in the help text. */
#define S_WORD_MAX 40

/* Words found in a text, distinct, in the order met. */
typedef struct s_words {
    char v[64][S_WORD_MAX + 1]; /* the words */
    size_t n;                   /* how many */
} s_words_t;

/* Option values worth completing: option, then its words. */
static const char *const s_values[][2] = {
    {"--state", "PENDING RUNNING COMPLETED FAILED CANCELLED TIMEOUT NODE_FAIL"},
    {"--device", "cpu gpu auto"},
    {"--method", "loco small-large lomo all"},
};

static void
s_add(s_words_t *w, const char *word, size_t len)
{
    if (!len || len > S_WORD_MAX || w->n == sizeof(w->v) / sizeof(w->v[0]))
        return;
    for (size_t i = 0; i < w->n; i++)
        if (strlen(w->v[i]) == len && !strncmp(w->v[i], word, len))
            return;
    memcpy(w->v[w->n], word, len);
    w->v[w->n++][len] = '\0';
}

/* Every --option the text names. */
static void
s_options(const char *text, s_words_t *w)
{
    for (const char *p = strstr(text, "--"); p; p = strstr(p + 2, "--")) {
        size_t len = 2;

        if (p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '-'))
            continue;
        if (!islower((unsigned char)p[2]))
            continue;
        while (islower((unsigned char)p[len]) || isdigit((unsigned char)p[len]) || p[len] == '-')
            len++;
        s_add(w, p, len);
    }
}

/* The sub-commands of cmd: the lower-case words after "autodist CMD " in its usage lines. */
static void
s_subcommands(const char *cmd, const char *help, s_words_t *w)
{
    char lead[64];
    size_t n = (size_t)snprintf(lead, sizeof(lead), "autodist %s ", cmd);

    for (const char *p = strstr(help, lead); p; p = strstr(p + 1, lead)) {
        const char *q = p + n;

        /* "bash|zsh": each alternative; stop at a placeholder, an option or a bracket. */
        while (islower((unsigned char)*q)) {
            size_t len = 0;

            while (islower((unsigned char)q[len]) || q[len] == '-')
                len++;
            if (q[len] != '|' && q[len] != ' ' && q[len] != '\n' && q[len] != '\0')
                break;
            s_add(w, q, len);
            q += len;
            if (*q != '|')
                break;
            q++;
        }
    }
}

static void
s_join(const s_words_t *w, FILE *f)
{
    for (size_t i = 0; i < w->n; i++)
        fprintf(f, "%s%s", i ? " " : "", w->v[i]);
}

/* What both scripts list: the global options and, per command, its options and sub-commands. */
static void
s_globals(s_words_t *g)
{
    memset(g, 0, sizeof(*g));
    s_options(ad_cli_globals_help(), g);
    s_add(g, "--version", 9);
}

/*
 * A command's own options: those of its usage lines (the first paragraph) and of the lines
 * that define one ("  --wait   follow the job ..."), not those the prose mentions.
 */
static void
s_own_options(const char *help, s_words_t *opts)
{
    const char *usage_end = strstr(help, "\n\n");
    char line[512];

    for (const char *p = help; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        const char *q = p + strspn(p, " ");

        if ((!usage_end || p < usage_end || (q > p && !strncmp(q, "--", 2))) &&
            len < sizeof(line)) {
            memcpy(line, p, len);
            line[len] = '\0';
            /* A definition line: only its first word, not the options its text names. */
            if (usage_end && p > usage_end)
                line[(size_t)(q - p) + strcspn(q, " ")] = '\0';
            s_options(line, opts);
        }
        p += len + (nl ? 1 : 0);
    }
}

static void
s_command_words(const char *name, const char *help, s_words_t *opts, s_words_t *subs)
{
    const char *n2, *s2, *h2;

    memset(opts, 0, sizeof(*opts));
    memset(subs, 0, sizeof(*subs));
    s_own_options(help, opts);
    s_subcommands(name, help, subs);
    if (!strcmp(name, "help"))
        for (size_t i = 0; ad_cli_command_at(i, &n2, &s2, &h2); i++)
            s_add(subs, n2, strlen(n2));
}

static void
s_bash(FILE *f)
{
    const char *name, *summary, *help;
    s_words_t g, opts, subs;

    s_globals(&g);
    fprintf(f,
            "# bash completion for autodist %s; made by `autodist completion bash`\n"
            "_autodist()\n{\n"
            "    local cur=\"${COMP_WORDS[COMP_CWORD]}\" prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n"
            "    local globals=\"",
            AD_VERSION);
    s_join(&g, f);
    fprintf(f, "\"\n    local commands=\"help");
    for (size_t i = 0; ad_cli_command_at(i, &name, &summary, &help); i++)
        fprintf(f, " %s", name);
    fprintf(f, "\"\n"
               "    local cmd=\"\" at=0 i=1 opts=\"\" subs=\"\"\n"
               "    while [ $i -lt $COMP_CWORD ]; do\n"
               "        case \"${COMP_WORDS[i]}\" in\n"
               "        --home|--coordinator|--keys) i=$((i + 2)); continue ;;\n"
               "        -*) ;;\n"
               "        *) cmd=\"${COMP_WORDS[i]}\"; at=$i; break ;;\n"
               "        esac\n"
               "        i=$((i + 1))\n"
               "    done\n"
               "    case \"$prev\" in\n"
               "    --home|--keys) COMPREPLY=($(compgen -d -- \"$cur\")); return 0 ;;\n");
    for (size_t i = 0; i < sizeof(s_values) / sizeof(s_values[0]); i++)
        fprintf(f, "    %s) COMPREPLY=($(compgen -W \"%s\" -- \"$cur\")); return 0 ;;\n",
                s_values[i][0], s_values[i][1]);
    fprintf(f, "    esac\n"
               "    if [ -z \"$cmd\" ]; then\n"
               "        if [[ \"$cur\" == -* ]]; then\n"
               "            COMPREPLY=($(compgen -W \"$globals\" -- \"$cur\"))\n"
               "        else\n"
               "            COMPREPLY=($(compgen -W \"$commands\" -- \"$cur\"))\n"
               "        fi\n"
               "        return 0\n"
               "    fi\n"
               "    case \"$cmd\" in\n");
    s_command_words("help", "", &opts, &subs);
    fprintf(f, "    help) subs=\"--man ");
    s_join(&subs, f);
    fprintf(f, "\" ;;\n");
    for (size_t i = 0; ad_cli_command_at(i, &name, &summary, &help); i++) {
        s_command_words(name, help, &opts, &subs);
        fprintf(f, "    %s) opts=\"", name);
        s_join(&opts, f);
        fprintf(f, "\" subs=\"");
        s_join(&subs, f);
        fprintf(f, "\" ;;\n");
    }
    fprintf(f, "    esac\n"
               "    if [[ \"$cur\" == -* ]]; then\n"
               "        COMPREPLY=($(compgen -W \"$opts $globals\" -- \"$cur\"))\n"
               "    elif [ -n \"$subs\" ] && [ $((at + 1)) -eq $COMP_CWORD ]; then\n"
               "        COMPREPLY=($(compgen -W \"$subs\" -- \"$cur\"))\n"
               "    else\n"
               "        COMPREPLY=($(compgen -f -- \"$cur\"))\n"
               "    fi\n"
               "    return 0\n"
               "}\n"
               "complete -o filenames -F _autodist autodist\n");
}

/* A summary as a zsh _describe entry: colons escaped, quotes kept out. */
static void
s_zsh_describe(const char *name, const char *summary, FILE *f)
{
    fprintf(f, "        '%s:", name);
    for (const char *p = summary; *p; p++) {
        if (*p == '\'')
            fputs("'\\''", f);
        else if (*p == ':')
            fputs("\\:", f);
        else
            fputc(*p, f);
    }
    fprintf(f, "'\n");
}

static void
s_zsh(FILE *f)
{
    const char *name, *summary, *help;
    s_words_t g, opts, subs;

    s_globals(&g);
    fprintf(f,
            "#compdef autodist\n"
            "# zsh completion for autodist %s; made by `autodist completion zsh`\n"
            "_autodist() {\n"
            "    local -a commands globals opts subs\n"
            "    local cmd='' at=0 i=2\n"
            "    globals=(",
            AD_VERSION);
    s_join(&g, f);
    fprintf(f, ")\n    commands=(\n");
    s_zsh_describe("help", "the help of a command", f);
    for (size_t i = 0; ad_cli_command_at(i, &name, &summary, &help); i++)
        s_zsh_describe(name, summary, f);
    fprintf(f, "    )\n"
               "    while (( i < CURRENT )); do\n"
               "        case ${words[i]} in\n"
               "        --home|--coordinator|--keys) (( i += 2 )); continue ;;\n"
               "        -*) ;;\n"
               "        *) cmd=${words[i]}; at=$i; break ;;\n"
               "        esac\n"
               "        (( i++ ))\n"
               "    done\n"
               "    case ${words[CURRENT-1]} in\n"
               "    --home|--keys) _files -/; return ;;\n");
    for (size_t i = 0; i < sizeof(s_values) / sizeof(s_values[0]); i++)
        fprintf(f, "    %s) compadd -- %s; return ;;\n", s_values[i][0], s_values[i][1]);
    fprintf(f, "    esac\n"
               "    if [[ -z $cmd ]]; then\n"
               "        if [[ $PREFIX == -* ]]; then compadd -- $globals; else _describe "
               "'command' commands; fi\n"
               "        return\n"
               "    fi\n"
               "    case $cmd in\n");
    s_command_words("help", "", &opts, &subs);
    fprintf(f, "    help) subs=(--man ");
    s_join(&subs, f);
    fprintf(f, ") ;;\n");
    for (size_t i = 0; ad_cli_command_at(i, &name, &summary, &help); i++) {
        s_command_words(name, help, &opts, &subs);
        fprintf(f, "    %s) opts=(", name);
        s_join(&opts, f);
        fprintf(f, ") subs=(");
        s_join(&subs, f);
        fprintf(f, ") ;;\n");
    }
    fprintf(f, "    esac\n"
               "    if [[ $PREFIX == -* ]]; then\n"
               "        compadd -- $opts $globals\n"
               "    elif (( ${#subs} && at + 1 == CURRENT )); then\n"
               "        compadd -- $subs\n"
               "    else\n"
               "        _files\n"
               "    fi\n"
               "}\n"
               "_autodist \"$@\"\n");
}

int
ad_cli_completion(ad_cli_t *cli, int argc, char **argv)
{
    const char *arg;
    int c;

    while ((c = ad_cli_getopt(cli, argc, argv, NULL, &arg)) != AD_CLI_OPT_END)
        return c == AD_CLI_OPT_HELP ? AD_CLI_EXIT_OK : AD_CLI_EXIT_USAGE;
    if (optind + 1 != argc)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "completion: give one shell, bash or zsh");
    if (!strcmp(argv[optind], "bash"))
        s_bash(stdout);
    else if (!strcmp(argv[optind], "zsh"))
        s_zsh(stdout);
    else
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "completion: no script for \"%s\": bash or zsh",
                           argv[optind]);
    return AD_CLI_EXIT_OK;
}

/* ---- man pages ---------------------------------------------------------------------------- */

/* One line of text in roff: backslashes and hyphens escaped, a leading . or ' made plain. */
static void
s_roff_line(const char *p, size_t len, FILE *f)
{
    if (len && (*p == '.' || *p == '\''))
        fputs("\\&", f);
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '\\')
            fputs("\\e", f);
        else if (p[i] == '-')
            fputs("\\-", f);
        else
            fputc(p[i], f);
    }
    fputc('\n', f);
}

/*
 * Help text as roff: lines that start at the margin are filled into
 * paragraphs; indented lines (option lists, examples) keep their layout; a
 * line that ends with ':' alone ("options:") is a sub-heading.
 */
static void
s_roff_text(const char *text, FILE *f)
{
    bool nofill = false;

    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        bool blank = len == 0, indented = len && p[0] == ' ';

        if (blank) {
            if (nofill)
                fputs(".fi\n", f);
            nofill = false;
            fputs(".PP\n", f);
        } else if (indented && !nofill) {
            fputs(".nf\n", f);
            nofill = true;
        } else if (!indented && nofill) {
            fputs(".fi\n", f);
            nofill = false;
        }
        if (!blank && !indented && p[len - 1] == ':' && !memchr(p, ' ', len)) {
            fputs(".SS ", f);
            s_roff_line(p, len - 1, f);
        } else if (!blank) {
            s_roff_line(p, len, f);
        }
        p += len + (nl ? 1 : 0);
    }
    if (nofill)
        fputs(".fi\n", f);
}

/* The usage lines of help (up to the first blank line) into SYNOPSIS, the rest into DESCRIPTION. */
static void
s_man_command(const char *name, const char *summary, const char *help, FILE *f)
{
    const char *body = strstr(help, "\n\n");
    size_t ulen = body ? (size_t)(body - help) : strlen(help);

    fprintf(f, ".TH AUTODIST\\-");
    for (const char *p = name; *p; p++)
        fputc(toupper((unsigned char)*p), f);
    fprintf(f, " 1 \"\" \"autodist %s\" \"autodist manual\"\n.SH NAME\n", AD_VERSION);
    fprintf(f, "autodist\\-%s \\- ", name);
    s_roff_line(summary, strlen(summary), f);
    fputs(".SH SYNOPSIS\n.nf\n", f);
    for (const char *p = help; p < help + ulen;) {
        const char *nl = memchr(p, '\n', (size_t)(help + ulen - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(help + ulen - p);

        if (!strncmp(p, "usage: ", 7)) {
            p += 7;
            len -= 7;
        } else if (!strncmp(p, "       ", 7)) {
            p += 7;
            len -= 7;
        }
        s_roff_line(p, len, f);
        p += len + 1;
    }
    fputs(".fi\n", f);
    if (body) {
        fputs(".SH DESCRIPTION\n", f);
        s_roff_text(body + 2, f);
    }
    fputs(".SH GLOBAL OPTIONS\n", f);
    s_roff_text(strchr(ad_cli_globals_help(), '\n') + 1, f);
    fputs(".SH SEE ALSO\n\\fBautodist\\fR(1); docs/cli.md in autodist's sources\n", f);
}

void
ad_cli_man(const char *cmd, FILE *f)
{
    const char *name, *summary, *help;

    for (size_t i = 0; cmd && ad_cli_command_at(i, &name, &summary, &help); i++)
        if (!strcmp(name, cmd)) {
            s_man_command(name, summary, help, f);
            return;
        }
    fprintf(f,
            ".TH AUTODIST 1 \"\" \"autodist %s\" \"autodist manual\"\n.SH NAME\n"
            "autodist \\- train on the machines you have and log the speedup of every layout\n"
            ".SH SYNOPSIS\n.nf\n"
            "autodist [\\-\\-home DIR] [\\-\\-coordinator ENDPOINT] [\\-\\-keys DIR] [\\-\\-json]\n"
            "         [\\-\\-parsable] COMMAND [options]\n"
            "autodist help [\\-\\-man] COMMAND | \\-\\-help | \\-\\-version\n.fi\n"
            ".SH DESCRIPTION\n"
            "autodist measures the nodes, runs synchronous data\\-parallel training on Open MPI "
            "and logs the speedup of every layout.\n.SH COMMANDS\n",
            AD_VERSION);
    for (size_t i = 0; ad_cli_command_at(i, &name, &summary, &help); i++) {
        fprintf(f, ".TP\n\\fB%s\\fR\n", name);
        s_roff_line(summary, strlen(summary), f);
        fprintf(f, ".br\nSee \\fBautodist\\-%s\\fR(1).\n", name);
    }
    fputs(".SH GLOBAL OPTIONS\n", f);
    s_roff_text(strchr(ad_cli_globals_help(), '\n') + 1, f);
    fputs(".SH EXIT STATUS\n", f);
    s_roff_text(strchr(ad_cli_exit_help(), '\n') + 1, f);
    fputs(".SH SEE ALSO\ndocs/cli.md in autodist's sources\n", f);
}
