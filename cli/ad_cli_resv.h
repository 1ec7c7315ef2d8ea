/* ad_cli_resv.h - the CLI's reservation sessions: reserve or attach, wait, agents, end, release */
#ifndef AD_CLI_RESV_H
#define AD_CLI_RESV_H

#include "ad_cli.h"

#include "autodist/ad_proto.h"
#include "autodist/ad_resv.h"

/* One reservation the CLI works on. */
typedef struct ad_cli_resv {
    ad_resv_t *resv;                       /* the batch job (owned) */
    char pool[AD_PROTO_POOL_MAX + 64];     /* its nodes' pool: ad_job_resv_pool() */
    char **hosts;                          /* its hosts in order (owned, NULL-terminated) */
    int n_hosts;                           /* entries in hosts */
    char agent_ep[300];                    /* the coordinator's agent socket as nodes reach it */
    bool submitted;                        /* this command submitted it (not attached) */
    bool keep;                             /* leave it running at the end */
    bool yours;                            /* the user's own batch job (reservation.job) */
    bool kept_said;                        /* why it is kept was said already */
    double next_poll;                      /* ad_clock_now() of the next watch poll */
    int64_t ends_at;                       /* epoch s its walltime ends (0: not known yet) */
    ad_resv_status_t st;                   /* the last poll */
    int64_t *jobs;                         /* jobs run on it (ad_cli_resv_add_job()), owned */
    size_t n_jobs;                         /* entries in jobs */
    char last_line[600];                   /* the last progress line printed */
} ad_cli_resv_t;

/* The request of a reservation: section (types given separately: a const view). */
void ad_cli_resv_request(const ad_job_resv_t *r, const char *const *types,
                         ad_resv_request_t *req);

/* Name the batch job autodist-WORK when the section names none and attaches to none. */
void ad_cli_resv_default_name(ad_job_resv_t *r, const char *work);

/*
 * Reserve job's reservation (or attach to the batch job it names, or to an
 * unfinished one of its name), wait until it runs (progress on stderr;
 * Ctrl-C leaves it queued), start an agent on each node through the batch
 * system's remote shell and wait until all are UP in the job's pool.
 * Returns 0, or an exit status after printing the one-line error (naming the
 * host whose agent could not start).  Close s in every case.
 */
int ad_cli_resv_open(ad_cli_t *cli, const ad_job_t *job, ad_cli_resv_t *s);

/*
 * Start an agent on each of s's hosts (s->resv and s->hosts set; s->pool ""
 * for the cluster's own nodes, as `autodist up` inside a batch job makes
 * them) and wait until all are UP.  Returns 0 or an exit status (printed).
 */
int ad_cli_resv_agents(ad_cli_t *cli, ad_cli_resv_t *s);

/* Poll (at most every 2 s): 1 with *st when the reservation ended or is ending, else 0. */
int ad_cli_resv_ended(ad_cli_resv_t *s, ad_resv_status_t *st);

/* Seconds left before the reservation's walltime ends (as last polled); a large number when unknown. */
double ad_cli_resv_left(const ad_cli_resv_t *s);

/* The margin before the walltime at which autodist stops a job itself (a clean checkpoint). */
#define AD_CLI_RESV_MARGIN_S 15.0

/*
 * Add the reservation to the records of job's (or sweep's) runs that started
 * in it: {backend, request (the job file's section), granted (what the batch
 * system says: ad_resv_describe())}; also HOME/logs/reservations/BACKEND-ID.json.
 */
void ad_cli_resv_record(ad_cli_t *cli, ad_cli_resv_t *s, int64_t job, int64_t sweep);

/*
 * After a release: wait (15 s at most) until the batch system says r is over, so that
 * the record has its stop time and the nodes are free; *st the last status.
 */
void ad_cli_resv_wait_over(ad_resv_t *r, ad_resv_status_t *st);

/* Note that job id runs on s: ad_cli_resv_close() records the reservation in its runs. */
void ad_cli_resv_add_job(ad_cli_resv_t *s, int64_t id);

/*
 * Reproducing a run made on a reservation (cli/ad_cli_reproduce_resv.c): job
 * (cleared by the caller) gets the recorded spec with a fresh request for the
 * same number of hosts, the same walltime, and the same cluster (cluster='X')
 * or with same_nodes the same hosts (network_address in (...)), named
 * autodist-repro-RUN.  Returns 0 or an exit status (printed).
 */
int ad_cli_reproduce_job(int64_t run, const json_t *resv, bool same_nodes, const json_t *spec,
                         ad_job_t *job);

/* --dry-run of that: the oarsub argv, and whether enough hosts match (exit status). */
int ad_cli_reproduce_dry_resv(ad_cli_t *cli, const ad_job_t *job);

/*
 * Release the reservation (unless keep), wait a little for its end, add it to
 * the records of job's or sweep's runs (ad_cli_resv_record(); neither given:
 * none), and free s.
 */
void ad_cli_resv_close(ad_cli_t *cli, ad_cli_resv_t *s, int64_t job, int64_t sweep);

#endif
