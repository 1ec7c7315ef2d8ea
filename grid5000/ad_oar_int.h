/* ad_oar_int.h - inside the OAR backend: what ad_oar.c and ad_oar_describe.c share */
#ifndef AD_OAR_INT_H
#define AD_OAR_INT_H

#include "ad_resv_int.h"

/*
 * Run one of OAR's commands (ad_resv_cmd_run() with ad_resv_cmd_timeout()):
 * 0 when it ran (res->status is its exit code), or a negative code with err
 * one line: "OAR is not installed on this machine (oarsub: not found)", or
 * -ETIMEDOUT "oarstat gave no answer in 60 s (OAR's server or database
 * down?)".
 */
int ad_oar_run(char *const argv[], ad_resv_cmd_t *res, ad_err_t *err);

/*
 * The useful line of an OAR command's complaint, into out: admission-rule
 * notes, SQL context lines and the generic "[ERROR] Oarsub failed" dropped,
 * "[ADMISSION RULE] " and "Error: " prefixes removed, PostgreSQL's
 * `column "x" does not exist` said as "property x does not exist".  "" when none.
 */
void ad_oar_reason(const char *text, char *out, size_t cap);

/* `oarstat -f -j ID -J`: 0 with *job (a new reference), -ENOENT when OAR does not know it. */
int ad_oar_stat(const char *id, json_t **job, ad_err_t *err);

/* Our phase of an OAR state word. */
ad_resv_phase_t ad_oar_phase(const char *state);

/* The status of a job from its oarstat -f object. */
void ad_oar_status(const char *id, const json_t *job, ad_resv_status_t *st);

/* The job's assigned hosts in natural order: 0, or -EAGAIN when it has none yet. */
int ad_oar_hosts(const char *id, const json_t *job, char ***hosts, int *n, ad_err_t *err);

/* ad_resv_describe() and ad_resv_count_hosts() for OAR (grid5000/ad_oar_describe.c). */
json_t *ad_oar_describe(ad_resv_t *self, ad_err_t *err);
int ad_oar_count_hosts(const ad_resv_request_t *req, int *n, ad_err_t *err);

/*
 * Check that every identifier of a property expression (outside quotes, SQL
 * words aside) is a property that OAR's resources have (oarnodes --sql
 * silently matches nothing otherwise).  0, or -EINVAL "property x does not
 * exist".
 */
int ad_oar_props_check(const char *expr, const json_t *resources, ad_err_t *err);

#endif
