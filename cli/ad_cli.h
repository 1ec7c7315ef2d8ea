/* ad_cli.h - the autodist command: shared context, option parsing, requests, output helpers */
#ifndef AD_CLI_H
#define AD_CLI_H

#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "autodist/ad_clock.h"
#include "autodist/ad_error.h"
#include "autodist/ad_home.h"
#include "autodist/ad_job.h"
#include "autodist/ad_layout.h"
#include "autodist/ad_store.h"

/* Exit statuses (docs/cli.md, `autodist --help`). */
#define AD_CLI_EXIT_OK 0          /* success; submit --wait: the job COMPLETED */
#define AD_CLI_EXIT_ERROR 1       /* an error: the coordinator answered ERROR, the store failed */
#define AD_CLI_EXIT_USAGE 2       /* bad command line or invalid input (a malformed job file) */
#define AD_CLI_EXIT_UNREACHABLE 3 /* the coordinator did not answer */
#define AD_CLI_EXIT_JOB_ENDED 4   /* submit --wait: the job ended in a state other than COMPLETED */
#define AD_CLI_EXIT_NEVER 5       /* submit --wait: the job cannot start on the nodes that are up */
#define AD_CLI_EXIT_INTERRUPTED 130 /* Ctrl-C stopped --wait or --follow (the job goes on) */

/* At most this many --set KEY=VALUE on one command line (submit, sweep). */
#define AD_CLI_SETS_MAX 64

/* The client endpoint's environment variable, below --coordinator. */
#define AD_CLI_COORDINATOR_ENV "AUTODIST_COORDINATOR"

/* Special values of ad_cli_getopt(). */
#define AD_CLI_OPT_END (-1)   /* no more options: positionals are argv[optind..] */
#define AD_CLI_OPT_HELP (-2)  /* --help was given and printed: exit 0 */
#define AD_CLI_OPT_ERROR (-3) /* a usage error was printed: exit AD_CLI_EXIT_USAGE */

/* The hardware classes a command has met and their names (cli/ad_cli_hw.c); opaque. */
typedef struct ad_cli_hw ad_cli_hw_t;

/* What every command shares: the global options and what is resolved from them. */
typedef struct ad_cli {
    const char *cmd;          /* the command's name, for messages and help */
    const char *home_arg;     /* --home; NULL when not given */
    const char *endpoint_arg; /* --coordinator; NULL when not given */
    const char *keys_arg;     /* --keys: a client key folder; NULL: HOME/keys */
    bool insecure;            /* talk without keys (`up --insecure`, or recorded by it) */
    bool json;                /* --json: one JSON document on stdout */
    bool parsable;            /* --parsable: tables as PIPE|SEPARATED lines, no padding */
    bool home_ready;          /* home has been resolved */
    ad_home_t home;           /* the home (ad_cli_home()) */
    char *endpoint;           /* the client endpoint (ad_cli_endpoint()); owned */
    ad_cli_hw_t *hw;          /* hardware class names, loaded at first use; owned */
    const char *sets[AD_CLI_SETS_MAX]; /* sweep --set KEY=VALUE, in order (borrowed from argv) */
    size_t n_sets;                     /* how many */
    bool hold; /* submit/sweep --hold: --wait waits for nodes that will come, never gives up */
} ad_cli_t;

/* A command: returns the process's exit status. argv[0] is the command name. */
typedef int (*ad_cli_cmd_fn)(ad_cli_t *cli, int argc, char **argv);

/* --parsable was given: ad_cli_table_print() writes a header and rows as A|B|C, no padding. */
extern bool ad_cli_parsable;

/* Set by the SIGINT handler that ad_cli_catch_interrupt() installs. */
extern volatile sig_atomic_t ad_cli_interrupted;

/* ---- commands (one file each: ad_cli_cluster.c, ad_cli_jobs.c, ad_cli_runs.c) -------- */

int ad_cli_up(ad_cli_t *cli, int argc, char **argv);
int ad_cli_down(ad_cli_t *cli, int argc, char **argv);
int ad_cli_nodes(ad_cli_t *cli, int argc, char **argv);
int ad_cli_submit(ad_cli_t *cli, int argc, char **argv);
int ad_cli_status(ad_cli_t *cli, int argc, char **argv);
int ad_cli_cancel(ad_cli_t *cli, int argc, char **argv);
int ad_cli_logs(ad_cli_t *cli, int argc, char **argv);
int ad_cli_jobs(ad_cli_t *cli, int argc, char **argv);
int ad_cli_runs(ad_cli_t *cli, int argc, char **argv);
int ad_cli_speedup(ad_cli_t *cli, int argc, char **argv);
/* autodist baseline: list, pin (--pin RUN[,RUN...]) and unpin the speedups' baselines. */
int ad_cli_baseline(ad_cli_t *cli, int argc, char **argv);
int ad_cli_import(ad_cli_t *cli, int argc, char **argv);
int ad_cli_plan(ad_cli_t *cli, int argc, char **argv);
int ad_cli_predict(ad_cli_t *cli, int argc, char **argv);
int ad_cli_sweep(ad_cli_t *cli, int argc, char **argv);
int ad_cli_keys(ad_cli_t *cli, int argc, char **argv);
int ad_cli_show(ad_cli_t *cli, int argc, char **argv);
int ad_cli_reproduce(ad_cli_t *cli, int argc, char **argv);
/* ---- inference artifacts (ad_cli_models.c, docs/inference.md) --------------------------- */

/* `export RUN|CHECKPOINT_DIR -o DIR`: an artifact through autodist-model, measured, a models row.
 */
int ad_cli_export(ad_cli_t *cli, int argc, char **argv);
/* `optimize MODEL --int8 | --prune F`: a variant with its parent, measured beside it. */
int ad_cli_optimize(ad_cli_t *cli, int argc, char **argv);
/* `models [--compare [MODEL]]`, `models rm MODEL...`: the models table. */
int ad_cli_models(ad_cli_t *cli, int argc, char **argv);
/* autodist ui: the dashboard and its read-only JSON API (cli/ad_cli_ui.c, docs/ui.md). */
int ad_cli_ui(ad_cli_t *cli, int argc, char **argv);
/* optimize --prune --finetune on the cluster (cli/ad_cli_finetune.c). */
typedef struct ad_cli_finetune {
    const char *dir;         /* the pruned artifact, fine-tuned from (absolute) */
    const char *arch;        /* its zoo architecture (the job's model:) */
    int64_t steps;           /* the job's steps */
    int64_t batch;           /* its global batch */
    ad_layout_t layout;      /* its layout */
    const char *const *sets; /* --set KEY=VALUE over the job, in order */
    size_t n_sets;           /* how many */
} ad_cli_finetune_t;

/*
 * Write ft->dir/finetune.yaml (the artifact's dataset, ft's steps, batch and
 * layout, SGD at lr 0.001), apply the sets, submit it and wait for it; *job gets
 * its id.  Returns an exit status (AD_CLI_EXIT_OK once it COMPLETED).
 */
int ad_cli_finetune_job(ad_cli_t *cli, const ad_cli_finetune_t *ft, int64_t *job);

/* autodist serve: autodist-serve on an artifact, a layout given or chosen (cli/ad_cli_serve.c). */
int ad_cli_serve(ad_cli_t *cli, int argc, char **argv);

/* ---- run records (ad_cli_show.c): what show and reproduce share ------------------------- */

/* The line a run without a record gets: "no record: this run was imported or ...". */
extern const char ad_cli_no_record[];

/*
 * The run of `CMD RUN` or `CMD --job JOB` (jobs_arg: --job's value, NULL when
 * not given) into *run or *job (the other 0).  Returns 0, or an exit status
 * after printing a usage error.
 */
int ad_cli_record_args(ad_cli_t *cli, int argc, char **argv, const char *jobs_arg, int64_t *run,
                       int64_t *job);

/*
 * Read run id (or, job > 0, job's latest run) from HOME/runs.db: its row
 * into *run (ad_store_run_clear()), its record into *record (a new
 * reference; NULL when it has none) and its links into *links (a new
 * reference: {"reproduces": the run it reproduces or null, "reproduced_by":
 * [run ids]}).  Returns 0, or an exit status after printing why (no store,
 * no such run: 1).
 */
int ad_cli_record_load(ad_cli_t *cli, int64_t id, int64_t job, ad_run_t *run, json_t **record,
                       json_t **links);

/* ad_store_each_run() callback: the first run's id into *(int64_t *)arg, then stop. */
int ad_cli_first_run_id(const ad_run_t *run, void *arg);
int ad_cli_profile(ad_cli_t *cli, int argc, char **argv);
int ad_cli_reservation(ad_cli_t *cli, int argc, char **argv);

/*
 * The command someone who typed word (not a command) most likely meant: a
 * habit of another tool (sbatch, squeue, scancel, sinfo, sacct, ...), a
 * prefix of three letters or more, or a close spelling; NULL when none is.
 * The result is static.
 */
const char *ad_cli_command_suggest(const char *word);

/* Command i of the table (0-based) into the pointers (static strings); false past the last. */
bool ad_cli_command_at(size_t i, const char **name, const char **summary, const char **help);

/* The help of the global options ("global options ...:\n  --home DIR ..."); static. */
const char *ad_cli_globals_help(void);

/* The help of the exit statuses ("exit status:\n  0  success ..."); static. */
const char *ad_cli_exit_help(void);

/* ---- completion and man pages (ad_cli_complete.c): made from the help text ------------- */

/* `autodist completion bash|zsh`. */
int ad_cli_completion(ad_cli_t *cli, int argc, char **argv);

/* The man page (roff, section 1) of command cmd, or of autodist itself when NULL, on f. */
void ad_cli_man(const char *cmd, FILE *f);

/* Print the help of command cmd (NULL: the overview) on f; false when there is no such command. */
bool ad_cli_help(const char *cmd, FILE *f);

/* ---- hardware classes by name (ad_cli_hw.c) -------------------------------------------- */

/*
 * A readable name for hardware class fp (a fingerprint, or an imported run's
 * class name) into buf: the node's name when one node has that class (the
 * store's nodes, and those ad_cli_hw_add_node() told), else the cluster a
 * described or imported profile of that fingerprint names, else the nodes'
 * common prefix ("node-*") or the first node and how many more ("a+2"), else
 * "hw-" and the fingerprint's first 8 digits (a name stays as it is).  "-"
 * for NULL or "".  Never fails: what cannot be read gives fewer names.  Returns buf.
 */
char *ad_cli_hw_label(ad_cli_t *cli, const char *fp, char *buf, size_t size);

/* The label with the fingerprint beside it, "node-a (3133248378b3eebe)", for wide tables. */
char *ad_cli_hw_label_full(ad_cli_t *cli, const char *fp, char *buf, size_t size);

/* Tell the names of a node the coordinator listed (NODES), so labels know it too. */
void ad_cli_hw_add_node(ad_cli_t *cli, const char *name, const char *fp);

/* Every known class as "label (fingerprint), ..." into buf, for messages; returns buf. */
char *ad_cli_hw_known(ad_cli_t *cli, char *buf, size_t size);

/*
 * The class option what ("--hardware") names with arg: a class itself, a
 * label, a node or cluster of the class, or a fingerprint prefix of 4 digits
 * or more; into fp (arg itself when nothing matches and !strict).  Returns 0,
 * or AD_CLI_EXIT_USAGE after printing that arg names two classes or, strict,
 * that it names none (listing the known ones).
 */
int ad_cli_hw_resolve(ad_cli_t *cli, const char *what, const char *arg, bool strict, char *fp,
                      size_t size);

/* Whether fp is a class cli knows (a node's or a described cluster's), not just any text. */
bool ad_cli_hw_is_known(ad_cli_t *cli, const char *fp);

/* Free what ad_cli_hw_* loaded; NULL-safe, sets *hw_p to NULL. */
void ad_cli_hw_free(ad_cli_hw_t **hw_p);

/* ---- context (ad_cli.c) ------------------------------------------------------------------ */

/*
 * The next option of the command: own is its option table (NULL-terminated,
 * values >= 256 or letters), to which the global options --home,
 * --coordinator, --json, --parsable, --keys and --help are added, so they may follow the command
 * name.  Returns the option's value with *arg its argument (NULL for none),
 * AD_CLI_OPT_END, AD_CLI_OPT_HELP after printing the command's help, or
 * AD_CLI_OPT_ERROR after printing a usage error.  The first call of a
 * command must follow `optind = 0`, which the dispatcher sets.
 */
int ad_cli_getopt(ad_cli_t *cli, int argc, char **argv, const struct option *own, const char **arg);

/*
 * The home: --home, else $AUTODIST_HOME, else ~/.autodist, resolved once and
 * not created.  Returns it (borrowed from cli), or NULL after printing the
 * error.
 */
const ad_home_t *ad_cli_home(ad_cli_t *cli);

/*
 * The client endpoint: --coordinator, else $AUTODIST_COORDINATOR, else the
 * one `autodist up` recorded in HOME/run/endpoints.json, else
 * AD_PROTO_CLIENT_ENDPOINT.  Returns it (borrowed from cli), or NULL after
 * printing a usage error for a malformed endpoint.
 */
const char *ad_cli_endpoint(ad_cli_t *cli);

/* True when ep looks like an endpoint a socket can use (tcp://HOST:PORT, ipc://PATH). */
bool ad_cli_endpoint_valid(const char *ep);

/*
 * HOME/run/endpoints.json's field key ("client", "agents", "metrics") as a
 * new string the caller frees, or NULL when there is none.
 */
char *ad_cli_recorded_endpoint(const ad_cli_t *cli, const char *key);

/* ---- history without a coordinator (ad_cli_offline.c, docs/cli.md) -------------------- */

/* What `autodist down` keeps of HOME/run/endpoints.json: HOME/run/endpoints.last.json. */
#define AD_CLI_ENDPOINTS_LAST "endpoints.last.json"

/* `down`: rename run_dir/endpoints.json to AD_CLI_ENDPOINTS_LAST, so the endpoint is remembered. */
void ad_cli_endpoints_retire(const char *run_dir);

/*
 * True when the client endpoint is the one `autodist up` recorded for this
 * home and that coordinator is gone (its pid file missing or naming no live
 * process; nothing is sent to the socket); then says once on stderr that the
 * store and the logs answer instead.
 */
bool ad_cli_offline(ad_cli_t *cli);

/* ad_cli_offline() without a word: the home's own coordinator is known to be gone. */
bool ad_cli_coordinator_gone(ad_cli_t *cli);

/*
 * Print `logs --json`: {job, data (len bytes), offset, eof, and from_store when
 * set}.  Returns AD_CLI_EXIT_OK, or AD_CLI_EXIT_ERROR when data is not UTF-8.
 */
int ad_cli_print_log_json(int64_t id, const char *data, size_t len, int64_t offset, bool eof,
                          bool from_store);

/*
 * A JOBS or STATUS request (payload stolen), answered by the store when no
 * coordinator listens or answers in time: *reply has the coordinator's shape
 * ({"jobs": [...]}, plus "from_store": true).  Returns an exit status (the
 * error printed) with *reply NULL, or 0.
 */
int ad_cli_call_or_store(ad_cli_t *cli, const char *type, json_t *payload, json_t **reply);

/*
 * The jobs of HOME/runs.db as JOBS (filter: state, name, limit) or STATUS
 * (only_live; or job id > 0) answer them, in *reply (owned).  Returns an
 * exit status (the error printed) or 0.
 */
int ad_cli_store_jobs(ad_cli_t *cli, const json_t *filter, bool only_live, int64_t id,
                      json_t **reply);

/* A job row as the coordinator's job objects print it (a new object). */
json_t *ad_cli_job_row_json(const ad_job_row_t *r);

/* `logs JOB` from HOME/logs/JOB/output.log.  Returns an exit status. */
int ad_cli_logs_offline(ad_cli_t *cli, int64_t id);

/* `sweep status [NAME]` from the store.  Returns an exit status. */
int ad_cli_sweep_status_offline(ad_cli_t *cli, const char *name);

/* ---- runs as experiments (ad_cli_history.c, ad_cli_tag.c, ad_cli_metrics.c) ------------ */

int ad_cli_history(ad_cli_t *cli, int argc, char **argv);

int ad_cli_tag(ad_cli_t *cli, int argc, char **argv);

/* Add --tag KEY=VALUE's pair to the object tags.  Returns 0, or 2 after printing why. */
int ad_cli_tag_arg(const char *arg, json_t *tags);

/* Merge tags (KEY: string) and note (NULL keeps the job's) into job.  Returns 0 or 2. */
int ad_cli_job_meta(ad_job_t *job, const json_t *tags, const char *note);
int ad_cli_metrics(ad_cli_t *cli, int argc, char **argv);

/*
 * The client key folder requests use: --keys, else none when the coordinator
 * runs --insecure (`up --insecure` recorded it), else HOME/keys when it holds
 * a client pair.  NULL: plain; then *missing (size bytes, may be NULL) says
 * which key file is missing ("" when plain on purpose).
 */
const char *ad_cli_keys_dir(ad_cli_t *cli, char *missing, size_t size);

/* Free what cli resolved; idempotent. */
void ad_cli_clear(ad_cli_t *cli);

/* ---- errors and requests ---------------------------------------------------------------- */

/*
 * "CMD: no subcommand "SUB" (did you mean X?)", or the list of subs when none
 * is close, on stderr; returns AD_CLI_EXIT_USAGE.
 */
int ad_cli_no_sub(const char *cmd, const char *sub, const char *const *subs, size_t n);

/*
 * Run gnuplot (found through PATH) on script, which draws file.  Returns 0, or
 * an exit status after printing why: gnuplot is not installed, or it failed
 * (its last line of stderr), or it wrote nothing (cli/ad_cli_speedup_plot.c).
 */
int ad_cli_run_gnuplot(const char *script, const char *file);

/* autodist bench-infer: inference layouts measured and stored (cli/ad_cli_infer.c). */
int ad_cli_bench_infer(ad_cli_t *cli, int argc, char **argv);

/*
 * The stored layout of the artifact model (a directory) with the highest
 * throughput whose p95 <= p95_ms (<= 0: the best throughput), from its newest
 * bench-infer: open-loop figures where measured, else closed-loop.  Returns 0
 * with *procs, *threads, *batch set; -ENOENT with err saying "run autodist
 * bench-infer MODEL first" when it has none; -ERANGE when no layout meets the
 * target (err names the lowest p95); AD_EDB.
 */
int ad_cli_infer_best_layout(ad_store_t *store, const char *model, double p95_ms, int *procs,
                             int *threads, int *batch, ad_err_t *err);

/* Print "autodist: MESSAGE" on stderr and return code, so `return ad_cli_fail(2, ...)` works. */
int ad_cli_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The exit status for a failed request's code: 3 unreachable, 130 interrupted, 1 otherwise. */
int ad_cli_exit_for(int rc);

/*
 * One request to the coordinator (payload stolen, NULL sends {}), waiting at
 * most timeout_ms.  Returns 0 with *reply owned by the caller, or the
 * ad_proto_request() code with err set and *reply NULL.
 */
int ad_cli_request(ad_cli_t *cli, const char *type, json_t *payload, int timeout_ms, json_t **reply,
                   ad_err_t *err);

/*
 * ad_cli_request() with the default timeout that prints the failure and
 * turns it into an exit status: 0 (with *reply set), 1, 3 or 130.
 */
int ad_cli_call(ad_cli_t *cli, const char *type, json_t *payload, json_t **reply);

/*
 * Called at each poll of ad_cli_wait_job() with the job's state: 0 goes on, an
 * exit status stops the wait with it (after printing its own message).
 */
typedef int(ad_cli_wait_hook_t)(ad_cli_t *cli, int64_t id, const char *state, void *arg);

/*
 * Follow job id (called name) like `submit --wait`: a live line, then the
 * summary; returns the exit status for its final state.  hook may be NULL.
 */
int ad_cli_wait_job(ad_cli_t *cli, int64_t id, const char *name, double interval,
                    ad_cli_wait_hook_t *hook, void *arg);

/*
 * What `layout: auto` did for job (a STATUS object with an "auto" member;
 * nothing without one): the chosen layout, the probes with their measured
 * and predicted throughput, predicted against measured for the chosen
 * layout (cli/ad_cli_auto.c, docs/planner.md).
 */
void ad_cli_auto_print(const json_t *job, FILE *f);

/* submit of a job with a reservation: section (cli/ad_cli_resv.c). */
int ad_cli_resv_submit(ad_cli_t *cli, ad_job_t *job, double interval);

/* Whether the coordinator runs without keys (--insecure, or `up --insecure` recorded it). */
bool ad_cli_is_insecure(ad_cli_t *cli);

/* Install (on) or remove (off) a SIGINT handler that only sets ad_cli_interrupted. */
void ad_cli_catch_interrupt(bool on);

/* Sleep seconds, returning early (false) when Ctrl-C was pressed. */
bool ad_cli_sleep(double seconds);

/*
 * Open HOME/runs.db read-only, with *db its path (borrowed from cli).
 * Returns 0 with *store set (the caller closes it); 0 with *store NULL when
 * there is no store yet (not an error: nothing was logged); or an exit
 * status after printing the error.
 */
int ad_cli_open_store(ad_cli_t *cli, ad_store_t **store, const char **db);

/*
 * MODEL as an inference artifact folder into dir (size bytes): a folder with
 * model.json (made absolute), else a row of the models table by id or name
 * (`autodist models`).  Returns 0, or an exit status after saying why, the
 * message starting with cmd.
 */
int ad_cli_model_dir(ad_cli_t *cli, const char *cmd, const char *key, char *dir, size_t size);

/* ---- parsing ------------------------------------------------------------------------------ */

/*
 * Parse text as a decimal integer in [min, max] for option what ("--agents").
 * Returns 0, or prints a usage error and returns AD_CLI_EXIT_USAGE.
 */
int ad_cli_parse_int(const char *what, const char *text, int64_t min, int64_t max, int64_t *out);

/*
 * Parse text as seconds in [min, max] for option what ("--follow-interval").
 * Returns 0, or prints a usage error and returns AD_CLI_EXIT_USAGE.
 */
int ad_cli_parse_seconds(const char *what, const char *text, double min, double max, double *out);

/* Parse a job id (an integer >= 1). Returns 0, or prints a usage error and returns 2. */
int ad_cli_parse_job_id(const char *text, int64_t *out);

/* ---- JSON fields that may be absent or null --------------------------------------------- */

/* obj[key] as an integer, def when obj is not an object or the field is absent or not one. */
int64_t ad_cli_jint(const json_t *obj, const char *key, int64_t def);
/* obj[key] as a number (integer or real), def otherwise. */
double ad_cli_jnum(const json_t *obj, const char *key, double def);
/* obj[key] as a string (borrowed), NULL otherwise. */
const char *ad_cli_jstr(const json_t *obj, const char *key);
/* obj[key] as an object (borrowed), NULL otherwise. */
json_t *ad_cli_jobj(const json_t *obj, const char *key);

/* Print doc as one indented JSON document and a newline on stdout. */
void ad_cli_print_json(const json_t *doc);

/*
 * A long list printed as {"key": [item, ...]} one item at a time, byte for
 * byte what ad_cli_print_json() prints for the whole document, without
 * holding every item in memory (`speedup --json` over 23,040 layouts, `runs
 * --json` over a million runs).  Use: begin, one item() per element (the item
 * is stolen), end.
 */
typedef struct ad_cli_json_list {
    size_t n; /* items printed so far */
} ad_cli_json_list_t;

void ad_cli_json_list_begin(ad_cli_json_list_t *l, const char *key);
void ad_cli_json_list_item(ad_cli_json_list_t *l, json_t *item);
void ad_cli_json_list_end(ad_cli_json_list_t *l);

/* ---- formatting ----------------------------------------------------------------------------- */

/* Seconds as H:MM:SS ("0:01:23"); "-" for NaN or negative values. Returns buf. */
char *ad_cli_fmt_duration(double seconds, char *buf, size_t size);
/* A unix time as local "YYYY-MM-DD HH:MM:SS"; "-" for NaN. Returns buf. */
char *ad_cli_fmt_time(double t, char *buf, size_t size);
/* A throughput: one decimal below 100, none above; "-" for NaN. Returns buf. */
char *ad_cli_fmt_rate(double v, char *buf, size_t size);
/* Wall-clock now as unix seconds, with a fraction. */
double ad_cli_now(void);

/* ---- tables -----------------------------------------------------------------------------------
 */

/* A text table: a header row and rows of strings, printed with aligned columns. */
typedef struct ad_cli_table ad_cli_table_t;

/* A table of ncols columns with the given headers (copied); never NULL. */
ad_cli_table_t *ad_cli_table_new(int ncols, const char *const *headers);
/* Add a row of ncols strings (copied; NULL prints "-"). */
void ad_cli_table_add(ad_cli_table_t *self, const char *const *cells);
/* Rows added so far. */
size_t ad_cli_table_rows(const ad_cli_table_t *self);
/*
 * Print the header and the rows on f, columns two spaces apart, the last unpadded; with
 * --parsable (ad_cli_parsable) every line is its cells joined by '|', unpadded (`sacct -p`).
 */
void ad_cli_table_print(const ad_cli_table_t *self, FILE *f);
/* Free a table; NULL-safe, sets *self_p to NULL. */
void ad_cli_table_free(ad_cli_table_t **self_p);

/* ---- what several commands show ------------------------------------------------------------- */

/* The LAYOUT cell of a job object: "2x1x1", or "auto" when not decided. Returns buf. */
char *ad_cli_job_layout(const json_t *job, char *buf, size_t size);
/*
 * The PROGRESS cell of a job object ("45% step 120/469", "starting", "done", "-"); a job that
 * ended otherwise than COMPLETED gets its state and the step it reached ("cancelled at step
 * 120/469", "failed"). Returns buf.
 */
char *ad_cli_job_progress(const json_t *job, char *buf, size_t size);
/* Seconds the job has run (or ran); NaN when it has not started. */
double ad_cli_job_elapsed(const json_t *job);

#endif
