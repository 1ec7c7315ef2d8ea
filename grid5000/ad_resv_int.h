/* ad_resv_int.h - inside the reservations: the backend operations table, the handle, commands */
#ifndef AD_RESV_INT_H
#define AD_RESV_INT_H

#include <stdbool.h>

#include "autodist/ad_resv.h"

/*
 * ad_resv.c checks the arguments and dispatches each call of ad_resv.h to a
 * backend's table below (OAR: grid5000/ad_oar.c).  A backend never prints;
 * it fills err with one line naming the batch system's command and reason.
 * Slurm adds a table (sbatch --parsable, squeue/scontrol, scancel, srun) and
 * one line in ad_resv.c's list.
 */

typedef struct ad_resv_ops {
    const char *name; /* "oar" */
    const char *rsh;  /* the remote shell for mpirun: "oarsh" */
    int (*submit_argv)(const ad_resv_request_t *req, char ***argv, ad_err_t *err);
    /* 0 with the job id (at most 31 characters) in id, or a negative code */
    int (*submit)(const ad_resv_request_t *req, char *id, size_t cap, ad_err_t *err);
    /* by id or by name: 0 with the id in id, -ENOENT, -EEXIST, ... */
    int (*attach)(const char *id_or_name, char *id, size_t cap, ad_err_t *err);
    /* inside a job: 0 with self->id and self->hosts filled, -ENOENT when not inside */
    int (*inside)(ad_resv_t *self, ad_err_t *err);
    int (*poll)(ad_resv_t *self, ad_resv_status_t *st, ad_err_t *err);
    int (*nodes)(ad_resv_t *self, char ***hosts, int *n, ad_err_t *err);
    int (*extend)(ad_resv_t *self, int64_t add_s, ad_err_t *err);
    int (*release)(ad_resv_t *self, ad_err_t *err);
    char **(*remote_argv)(const ad_resv_t *self, const char *host, char *const cmd[]);
    json_t *(*describe)(ad_resv_t *self, ad_err_t *err);
    int (*count_hosts)(const ad_resv_request_t *req, int *n, ad_err_t *err);
} ad_resv_ops_t;

struct ad_resv {
    const ad_resv_ops_t *ops;
    char id[32];  /* the batch system's job id */
    char **env;   /* {"OAR_JOB_ID=12", NULL} */
    char **hosts; /* inside a job: the node file's unique hosts; else NULL */
    bool inside;  /* made by ad_resv_inside() */
};

extern const ad_resv_ops_t ad_oar_ops;

/* ---- Running the batch system's commands (grid5000/ad_resv_cmd.c) ---- */

/* What one command did. */
typedef struct ad_resv_cmd {
    int status;     /* exit code; -1 when killed by a signal or timed out */
    bool timed_out; /* killed after the timeout */
    char *out;      /* its standard output, NUL-terminated (never NULL after a run) */
    char *err;      /* its standard error, NUL-terminated (never NULL after a run) */
} ad_resv_cmd_t;

/*
 * Run argv (argv[0] looked up in PATH) with stdin from /dev/null, capturing
 * stdout and stderr apart, for at most timeout_s seconds (then SIGKILL to its
 * process group, timed_out set).  Returns 0 when it ran (whatever its exit
 * code: see res->status), -ENOENT when argv[0] is not found ("oarsub: not
 * found"), or another negative code, err naming the command.  Free res with
 * ad_resv_cmd_free().
 */
int ad_resv_cmd_run(char *const argv[], double timeout_s, ad_resv_cmd_t *res, ad_err_t *err);

/* Free what ad_resv_cmd_run() captured; res is reusable. */
void ad_resv_cmd_free(ad_resv_cmd_t *res);

/* Seconds a batch system's command may take (AUTODIST_RESV_TIMEOUT overrides; default 60). */
double ad_resv_cmd_timeout(void);

/* A NULL-terminated vector under construction (argv, host lists). */
typedef struct ad_resv_vec {
    char **v;
    int n, cap;
} ad_resv_vec_t;

/* Append a copy of s (or printf-made text); the vector stays NULL-terminated. */
void ad_resv_vec_add(ad_resv_vec_t *vec, const char *s);
void ad_resv_vec_addf(ad_resv_vec_t *vec, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* True when vec already holds s. */
bool ad_resv_vec_has(const ad_resv_vec_t *vec, const char *s);

/* The finished vector (an empty vector gives {NULL}); vec is reset. */
char **ad_resv_vec_take(ad_resv_vec_t *vec);

/*
 * s quoted for a POSIX shell: unchanged when it has only safe characters
 * ([A-Za-z0-9_@%+=:,./-]), else in single quotes ('it'\''s').  A new string.
 */
char *ad_resv_shell_quote(const char *s);

/* Natural order of host names: "node-2" before "node-10" (qsort on char *). */
int ad_resv_natural_cmp(const void *a, const void *b);

#endif
