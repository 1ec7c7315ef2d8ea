/* ad_oar.c - the OAR backend of the reservations: oarsub, oarstat, oarwalltime, oardel, oarsh */
#include <ctype.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ad_oar_int.h"

/* What the job runs when the request names no command: it holds the nodes until the walltime
 * ends or oardel (POSIX sh, no GNU `sleep infinity`). */
#define S_HOLD_COMMAND "while true; do sleep 3600; done"

/* ---- Running OAR's commands ---- */

int
ad_oar_run(char *const argv[], ad_resv_cmd_t *res, ad_err_t *err)
{
    double limit = ad_resv_cmd_timeout();
    int rc = ad_resv_cmd_run(argv, limit, res, err);
    if (rc == -ENOENT)
        return ad_err_set(err, rc, "OAR is not installed on this machine (%s: not found)", argv[0]);
    if (rc < 0)
        return rc;
    if (res->timed_out) {
        /* OAR's commands retry a lost database for ever, saying so only in OAR's log (or on
         * stdout when they cannot write it) */
        bool db = strstr(res->out, "database") || strstr(res->err, "database");
        rc = ad_err_set(err, -ETIMEDOUT,
                        "%s%s gave no answer in %g s (OAR's server or database down? see "
                        "/var/log/oar.log on the OAR server)",
                        db ? "OAR's database is unreachable: " : "", argv[0], limit);
        ad_resv_cmd_free(res);
    }
    return rc;
}

/* Is this line of oarsub's output noise (admission rules' notes, SQL context, the generic
 * trailer)? */
static bool
s_noise(const char *line)
{
    static const char *const prefixes[] = {"LINE ",
                                           "[ERROR] Oarsub failed",
                                           "[ADMISSION RULE] Modify",
                                           "[ADMISSION RULE] Set",
                                           "[ADMISSION RULE] Automatically",
                                           "[ADMISSION RULE] Added",
                                           "Generate a job key",
                                           "OAR_JOB_ID=",
                                           "HINT:",
                                           "Reservation mode",
                                           "Reservation valid",
                                           NULL};
    const char *p = line;
    while (*p == ' ' || *p == '\t' || *p == '^' || *p == ')')
        p++;
    if (!*p)
        return true;
    for (int i = 0; prefixes[i]; i++)
        if (strncmp(p, prefixes[i], strlen(prefixes[i])) == 0)
            return true;
    return false;
}

static void
s_strip(char *s, const char *prefix)
{
    size_t n = strlen(prefix);
    if (strncmp(s, prefix, n) == 0)
        memmove(s, s + n, strlen(s + n) + 1);
}

void
ad_oar_reason(const char *text, char *out, size_t cap)
{
    out[0] = '\0';
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char line[512];
        snprintf(line, sizeof line, "%.*s", (int)(len < 511 ? len : 511), p);
        p += len + (nl ? 1 : 0);
        if (s_noise(line))
            continue;
        s_strip(line, "[ADMISSION RULE] ");
        s_strip(line, "Error: ");
        s_strip(line, "[ERROR] ");
        s_strip(line, "ERROR : ");
        s_strip(line, "Reservation not valid --> KO (");
        char col[128];
        const char *c = strstr(line, "column \"");
        if (c && strstr(line, "does not exist") && sscanf(c, "column \"%127[^\"]\"", col) == 1) {
            snprintf(out, cap, "property %s does not exist", col);
        } else if (strncmp(line, "Bad resource request (ERROR:", 28) == 0) {
            const char *q = line + 28;
            while (*q == ' ')
                q++;
            snprintf(out, cap, "Bad resource request: %s", q);
        } else {
            snprintf(out, cap, "%s", line);
        }
        size_t n = strlen(out);
        int depth = 0; /* a ')' left over from a prefix removed above goes too */
        for (const char *c = out; *c; c++)
            depth += (*c == '(') - (*c == ')');
        while (n > 0 &&
               (out[n - 1] == ' ' || out[n - 1] == '.' || (out[n - 1] == ')' && depth < 0))) {
            depth += out[n - 1] == ')';
            out[--n] = '\0';
        }
        return;
    }
}

/* ---- Submission ---- */

static int
s_check(const ad_resv_request_t *req, ad_err_t *err)
{
    if (req->nodes < 1)
        return ad_err_set(err, -EINVAL, "reservation.nodes: %d: must be at least 1", req->nodes);
    if (req->walltime_s < 1)
        return ad_err_set(err, -EINVAL, "reservation.walltime: %" PRId64 " s: must be positive",
                          req->walltime_s);
    int y, mo, d, h, mi, s;
    char extra;
    if (req->start_at &&
        sscanf(req->start_at, "%4d-%2d-%2d %2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &s, &extra) != 6)
        return ad_err_set(err, -EINVAL,
                          "reservation.start_at: '%s': expected \"YYYY-MM-DD HH:MM:SS\"",
                          req->start_at);
    if (req->properties && strchr(req->properties, '\n'))
        return ad_err_set(err, -EINVAL, "reservation.properties: a new line is not allowed");
    return 0;
}

static int
s_submit_argv(const ad_resv_request_t *req, char ***argv, ad_err_t *err)
{
    int rc = s_check(req, err);
    if (rc < 0)
        return rc;
    ad_resv_vec_t v = {0};
    char wt[32];
    ad_resv_vec_add(&v, "oarsub");
    ad_resv_vec_add(&v, "-n");
    ad_resv_vec_add(&v, req->name ? req->name : "autodist");
    ad_resv_vec_add(&v, "-l");
    ad_resv_vec_addf(&v, "host=%d,walltime=%s", req->nodes,
                     ad_resv_walltime_text(req->walltime_s, wt, sizeof wt));
    if (req->properties && *req->properties) {
        ad_resv_vec_add(&v, "-p");
        ad_resv_vec_add(&v, req->properties);
    }
    if (req->queue && *req->queue) {
        ad_resv_vec_add(&v, "-q");
        ad_resv_vec_add(&v, req->queue);
    }
    for (const char *const *t = req->types; t && *t; t++) {
        ad_resv_vec_add(&v, "-t");
        ad_resv_vec_add(&v, *t);
    }
    if (req->project && *req->project) {
        ad_resv_vec_addf(&v, "--project=%s", req->project); /* one word: OAR's own form */
    }
    if (req->start_at) {
        ad_resv_vec_add(&v, "-r");
        ad_resv_vec_add(&v, req->start_at);
    }
    char cwd[4096];
    const char *dir = req->directory && *req->directory ? req->directory : getcwd(cwd, sizeof cwd);
    if (dir) {
        ad_resv_vec_add(&v, "-d");
        ad_resv_vec_add(&v, dir);
    }
    if (req->command && *req->command) {
        ad_resv_vec_add(&v, req->command);
    } else {
        /* the hold prints nothing: no empty OAR.<name>.<id>.std* files */
        ad_resv_vec_add(&v, "-O");
        ad_resv_vec_add(&v, "/dev/null");
        ad_resv_vec_add(&v, "-E");
        ad_resv_vec_add(&v, "/dev/null");
        ad_resv_vec_add(&v, S_HOLD_COMMAND);
    }
    *argv = ad_resv_vec_take(&v);
    return 0;
}

/* The job id oarsub printed (OAR_JOB_ID=N), or -1 (OAR prints OAR_JOB_ID=-5 when refusing). */
static long
s_job_id(const char *out)
{
    const char *p = strstr(out, "OAR_JOB_ID=");
    return p ? strtol(p + 11, NULL, 10) : -1;
}

static int
s_submit(const ad_resv_request_t *req, char *id, size_t cap, ad_err_t *err)
{
    char **argv = NULL;
    ad_resv_cmd_t res = {0};
    int rc = s_submit_argv(req, &argv, err);
    if (rc < 0)
        return rc;
    rc = ad_oar_run(argv, &res, err);
    if (rc < 0)
        goto free_argv;
    long job = s_job_id(res.out);
    if (res.status == 0 && job > 0) {
        snprintf(id, cap, "%ld", job);
        goto free_res;
    }
    char why[256];
    ad_oar_reason(res.err, why, sizeof why);
    if (!*why)
        ad_oar_reason(res.out, why, sizeof why);
    if (!*why)
        snprintf(why, sizeof why, "no reason given");
    if (strstr(res.err, "Cannot connect to executor"))
        rc = ad_err_set(err, -ECONNREFUSED, "OAR's server (Almighty) is unreachable: %s", why);
    else if (strstr(res.err, "[ADMISSION RULE]"))
        rc = ad_err_set(err, -EPERM, "OAR refused the reservation: %s (oarsub exit %d)", why,
                        res.status);
    else if (res.status == 10) /* an advance reservation that does not fit at its date */
        rc = ad_err_set(err, -EBUSY, "OAR refused the reservation at %s: %s (oarsub exit 10)",
                        req->start_at ? req->start_at : "?", why);
    else if (strstr(why, "not enough resources"))
        rc = ad_err_set(err, -ENOSPC, "OAR refused the reservation: %s (oarsub exit %d)", why,
                        res.status);
    else
        rc = ad_err_set(err, -EINVAL, "OAR refused the reservation: %s (oarsub exit %d)", why,
                        res.status);
free_res:
    ad_resv_cmd_free(&res);
free_argv:
    ad_resv_argv_free(&argv);
    return rc;
}

/* ---- oarstat ---- */

int
ad_oar_stat(const char *id, json_t **job, ad_err_t *err)
{
    char *argv[] = {"oarstat", "-f", "-j", (char *)id, "-J", NULL};
    ad_resv_cmd_t res = {0};
    *job = NULL;
    int rc = ad_oar_run(argv, &res, err);
    if (rc < 0)
        return rc;
    json_error_t jerr;
    json_t *all = NULL;
    const char *p = res.out;
    while (*p && isspace((unsigned char)*p))
        p++;
    if (!*p) {
        rc = ad_err_set(err, -ENOENT, "OAR job %s is unknown to oarstat", id);
        goto free_res;
    }
    all = json_loads(p, 0, &jerr);
    if (!all || !json_is_object(all)) {
        char why[256];
        ad_oar_reason(res.err, why, sizeof why);
        rc = ad_err_set(err, AD_EPARSE, "oarstat -f -j %s -J: %s", id,
                        *why ? why : "not JSON (is libjson-perl installed?)");
        goto free_json;
    }
    *job = json_object_get(all, id);
    if (!*job || !json_is_object(*job)) {
        *job = NULL;
        rc = ad_err_set(err, -ENOENT, "OAR job %s is unknown to oarstat", id);
        goto free_json;
    }
    json_incref(*job);
free_json:
    json_decref(all);
free_res:
    ad_resv_cmd_free(&res);
    return rc;
}

static int64_t
s_int(const json_t *job, const char *key)
{
    const json_t *v = json_object_get(job, key);
    if (json_is_integer(v))
        return (int64_t)json_integer_value(v);
    if (json_is_string(v))
        return strtoll(json_string_value(v), NULL, 10);
    return 0;
}

ad_resv_phase_t
ad_oar_phase(const char *state)
{
    if (strcmp(state, "Running") == 0)
        return AD_RESV_RUNNING;
    if (strcmp(state, "Finishing") == 0 || strcmp(state, "toError") == 0)
        return AD_RESV_ENDING;
    if (strcmp(state, "Terminated") == 0 || strcmp(state, "Error") == 0)
        return AD_RESV_ENDED;
    return AD_RESV_WAITING; /* Waiting, Hold, toLaunch, Launching, toAckReservation,
                               Suspended, Resuming */
}

/* Events of every end (the kill and the state switch), that say nothing of why. */
static bool
s_routine_event(const char *type)
{
    static const char *const types[] = {"SWITCH_INTO_ERROR_STATE", "SWITCH_INTO_TERMINATE_STATE",
                                        "SEND_KILL_JOB", "WALLTIME", NULL};
    for (int i = 0; types[i]; i++)
        if (strcmp(type, types[i]) == 0)
            return true;
    return false;
}

/* walltime_reached, deleted and reason from the job's events. */
static void
s_end_reason(const char *id, const json_t *job, ad_resv_status_t *st)
{
    const json_t *ev;
    size_t i;
    char who[64] = "", other[160] = "";
    json_array_foreach(json_object_get(job, "events"), i, ev)
    {
        const char *type = json_string_value(json_object_get(ev, "type"));
        const char *desc = json_string_value(json_object_get(ev, "description"));
        if (!type || !desc)
            continue;
        if (strcmp(type, "WALLTIME") == 0 && (strstr(desc, "Elapsed") || strstr(desc, "sarko")))
            st->walltime_reached = true;
        else if (strcmp(type, "FRAG_JOB_REQUEST") == 0)
            sscanf(desc, "User %63s requested", who);
        else if (!*other && !s_routine_event(type)) {
            const char *b = desc[0] == '[' ? strchr(desc, ']') : NULL; /* "[bipbip 7] ..." */
            for (desc = b ? b + 1 : desc; *desc == ' ';)
                desc++;
            snprintf(other, sizeof other, "%s", desc);
        }
    }
    st->deleted = *who && !st->walltime_reached;
    char wt[32];
    ad_resv_walltime_text(st->walltime_s, wt, sizeof wt);
    if (st->walltime_reached) {
        snprintf(st->reason, sizeof st->reason, "OAR job %s reached its walltime (%s)", id, wt);
    } else if (*other) {
        snprintf(st->reason, sizeof st->reason, "OAR job %s ended in state %s: %s", id, st->state,
                 other);
    } else if (*who) {
        snprintf(st->reason, sizeof st->reason, "OAR job %s was deleted by %s (oardel)", id, who);
    } else if (st->exit_code >= 0) {
        snprintf(st->reason, sizeof st->reason, "OAR job %s ended in state %s (exit code %d)", id,
                 st->state, st->exit_code);
    } else {
        snprintf(st->reason, sizeof st->reason, "OAR job %s ended in state %s", id, st->state);
    }
}

void
ad_oar_status(const char *id, const json_t *job, ad_resv_status_t *st)
{
    memset(st, 0, sizeof *st);
    const char *state = json_string_value(json_object_get(job, "state"));
    snprintf(st->state, sizeof st->state, "%s", state ? state : "?");
    st->phase = ad_oar_phase(st->state);
    st->scheduled_start = s_int(job, "scheduledStart");
    st->start_time = s_int(job, "startTime");
    st->stop_time = s_int(job, "stopTime");
    st->walltime_s = s_int(job, "walltime");
    st->exit_code = -1;
    const json_t *code = json_object_get(job, "exit_code");
    if (json_is_integer(code)) {
        int raw = (int)json_integer_value(code); /* a wait status: 768 is exit 3 */
        st->exit_code = (raw & 0x7f) ? 128 + (raw & 0x7f) : (raw >> 8) & 0xff;
    }
    if (st->phase >= AD_RESV_ENDING)
        s_end_reason(id, job, st);
}

static int
s_poll(ad_resv_t *self, ad_resv_status_t *st, ad_err_t *err)
{
    json_t *job;
    int rc = ad_oar_stat(self->id, &job, err);
    if (rc < 0)
        return rc;
    ad_oar_status(self->id, job, st);
    json_decref(job);
    return 0;
}

/* ---- Attach, inside ---- */

static int
s_attach_name(const char *name, char *id, size_t cap, ad_err_t *err)
{
    struct passwd *pw = getpwuid(getuid());
    char *argv[] = {"oarstat", "-u", pw ? pw->pw_name : "", "-J", NULL};
    ad_resv_cmd_t res = {0};
    int rc = ad_oar_run(argv, &res, err);
    if (rc < 0)
        return rc;
    json_t *all = *res.out ? json_loads(res.out, 0, NULL) : json_object();
    char ids[256] = "";
    int found = 0;
    const char *key;
    json_t *job;
    json_object_foreach(all, key, job)
    {
        const char *jn = json_string_value(json_object_get(job, "name"));
        const char *state = json_string_value(json_object_get(job, "state"));
        if (!jn || strcmp(jn, name) != 0 || !state || ad_oar_phase(state) == AD_RESV_ENDED)
            continue;
        if (found++ == 0)
            snprintf(id, cap, "%s", key);
        size_t n = strlen(ids);
        snprintf(ids + n, sizeof ids - n, "%s%s", n ? ", " : "", key);
    }
    if (!all)
        rc = ad_err_set(err, AD_EPARSE, "oarstat -u %s -J: not JSON", argv[2]);
    else if (found == 0)
        rc = ad_err_set(err, -ENOENT, "no unfinished OAR job of %s is named '%s'", argv[2], name);
    else if (found > 1)
        rc = ad_err_set(err, -EEXIST,
                        "%d unfinished OAR jobs are named '%s' (%s): attach by id instead", found,
                        name, ids);
    json_decref(all);
    ad_resv_cmd_free(&res);
    return rc;
}

static int
s_attach(const char *id_or_name, char *id, size_t cap, ad_err_t *err)
{
    if (!*id_or_name || strspn(id_or_name, "0123456789") != strlen(id_or_name))
        return s_attach_name(id_or_name, id, cap, err);
    json_t *job;
    int rc = ad_oar_stat(id_or_name, &job, err);
    if (rc < 0)
        return rc;
    json_decref(job);
    snprintf(id, cap, "%s", id_or_name);
    return 0;
}

static int
s_inside(ad_resv_t *self, ad_err_t *err)
{
    const char *id = getenv("OAR_JOB_ID");
    const char *path = getenv("OAR_NODEFILE");
    if (!path)
        path = getenv("OAR_FILE_NODES");
    if (!id || !*id || !path || !*path)
        return ad_err_set(err, -ENOENT,
                          "not inside an OAR job (OAR_JOB_ID and OAR_NODEFILE "
                          "are not set)");
    FILE *f = fopen(path, "r");
    if (!f)
        return ad_err_set(err, -errno, "%s (OAR_NODEFILE): %s", path, strerror(errno));
    ad_resv_vec_t v = {0};
    char line[256];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, " \t\r\n")] = '\0';
        if (*line && !ad_resv_vec_has(&v, line))
            ad_resv_vec_add(&v, line);
    }
    fclose(f);
    if (v.n == 0) {
        char **none = ad_resv_vec_take(&v);
        ad_resv_argv_free(&none);
        return ad_err_set(err, AD_EPARSE, "%s (OAR_NODEFILE): no host in it", path);
    }
    snprintf(self->id, sizeof self->id, "%s", id);
    self->hosts = ad_resv_vec_take(&v);
    return 0;
}

/* ---- Nodes, extend, release, remote shell ---- */

int
ad_oar_hosts(const char *id, const json_t *job, char ***hosts, int *n, ad_err_t *err)
{
    ad_resv_vec_t v = {0};
    const json_t *h;
    size_t i;
    json_array_foreach(json_object_get(job, "assigned_network_address"), i, h)
    {
        if (json_is_string(h) && !ad_resv_vec_has(&v, json_string_value(h)))
            ad_resv_vec_add(&v, json_string_value(h));
    }
    if (v.n > 1)
        qsort(v.v, (size_t)v.n, sizeof *v.v, ad_resv_natural_cmp);
    *n = v.n;
    *hosts = ad_resv_vec_take(&v);
    if (*n == 0) {
        const char *state = json_string_value(json_object_get(job, "state"));
        ad_resv_argv_free(hosts);
        return ad_err_set(err, -EAGAIN, "OAR job %s has no nodes yet (state %s)", id,
                          state ? state : "?");
    }
    return 0;
}

static int
s_nodes(ad_resv_t *self, char ***hosts, int *n, ad_err_t *err)
{
    if (self->hosts) {
        ad_resv_vec_t v = {0};
        for (char **h = self->hosts; *h; h++)
            ad_resv_vec_add(&v, *h);
        *n = v.n;
        *hosts = ad_resv_vec_take(&v);
        return 0;
    }
    json_t *job;
    int rc = ad_oar_stat(self->id, &job, err);
    if (rc < 0)
        return rc;
    rc = ad_oar_hosts(self->id, job, hosts, n, err);
    json_decref(job);
    return rc;
}

static int
s_extend(ad_resv_t *self, int64_t add_s, ad_err_t *err)
{
    char wt[32], arg[40];
    if (add_s < 1)
        return ad_err_set(err, -EINVAL, "extend OAR job %s: %" PRId64 " s: must be positive",
                          self->id, add_s);
    snprintf(arg, sizeof arg, "+%s", ad_resv_walltime_text(add_s, wt, sizeof wt));
    char *argv[] = {"oarwalltime", self->id, arg, NULL};
    ad_resv_cmd_t res = {0};
    int rc = ad_oar_run(argv, &res, err);
    if (rc < 0)
        return rc;
    char why[256];
    ad_oar_reason(*res.out ? res.out : res.err, why, sizeof why);
    if (res.status == 0)
        rc = 0;
    else if (res.status == 5 || strstr(why, "disabled"))
        rc = ad_err_set(err, -EPERM,
                        "OAR refused to extend job %s: walltime changes are disabled on this "
                        "site (oarwalltime: %s; WALLTIME_CHANGE_ENABLED in oar.conf)",
                        self->id, why);
    else if (res.status == 4)
        rc = ad_err_set(err, -ENOENT, "OAR refused to extend job %s: %s (oarwalltime)", self->id,
                        why);
    else
        rc = ad_err_set(err, -EPERM,
                        "OAR refused to extend job %s by %s: %s (oarwalltime exit "
                        "%d)",
                        self->id, arg, why, res.status);
    ad_resv_cmd_free(&res);
    return rc;
}

static int
s_release(ad_resv_t *self, ad_err_t *err)
{
    char *argv[] = {"oardel", self->id, NULL};
    ad_resv_cmd_t res = {0};
    int rc = ad_oar_run(argv, &res, err);
    if (rc < 0)
        return rc;
    if (res.status != 0 && res.status != 6) { /* 6: "This job was already killed" */
        /* oardel also fails on an unknown job ("not the right user", exit 1) and on one
         * already over: released too; a job still alive is an error */
        char why[256];
        ad_oar_reason(*res.err ? res.err : res.out, why, sizeof why);
        ad_resv_status_t st;
        ad_err_t perr = {0};
        int prc = s_poll(self, &st, &perr);
        if (prc == -ENOENT || (prc == 0 && st.phase >= AD_RESV_ENDING))
            rc = 0;
        else
            rc = ad_err_set(err, -EPERM, "oardel %s: %s (exit %d)", self->id, why, res.status);
    }
    ad_resv_cmd_free(&res);
    return rc;
}

static char **
s_remote_argv(const ad_resv_t *self, const char *host, char *const cmd[])
{
    ad_resv_vec_t v = {0};
    ad_resv_vec_add(&v, "oarsh");
    ad_resv_vec_add(&v, host);
    ad_resv_vec_add(&v, "--");
    for (int i = 0; cmd && cmd[i]; i++) {
        char *q = ad_resv_shell_quote(cmd[i]);
        ad_resv_vec_add(&v, q);
        free(q);
    }
    return ad_resv_vec_take(&v);
}

const ad_resv_ops_t ad_oar_ops = {
    .name = "oar",
    .rsh = "oarsh",
    .submit_argv = s_submit_argv,
    .submit = s_submit,
    .attach = s_attach,
    .inside = s_inside,
    .poll = s_poll,
    .nodes = s_nodes,
    .extend = s_extend,
    .release = s_release,
    .remote_argv = s_remote_argv,
    .describe = ad_oar_describe,
    .count_hosts = ad_oar_count_hosts,
};
