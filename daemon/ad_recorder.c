/* ad_recorder.c - autodistd's side of run records: what a launch knows, into the store */
#include "ad_daemon.h"

void
ad_recorder_launch(coord_t *self, const ad_sched_pick_t *pick, const ad_job_t *job,
                   const ad_launch_plan_t *plan, const ad_launch_node_t *nodes, int64_t run,
                   int attempt)
{
    ad_record_node_t *rn;
    ad_record_launch_t l = {0};
    ad_err_t err = {0};
    char *text, *hostfile, *rankfile;
    double t0 = ad_clock_now();
    json_t *record;

    if (run <= 0 || !self->records)
        return;
    rn = ad_malloc((size_t)pick->n_nodes * sizeof(*rn));
    for (int i = 0; i < pick->n_nodes; i++) {
        const ad_registry_node_t *n = ad_registry_lookup(self->reg, pick->nodes[i]);

        rn[i].name = nodes[i].name;
        rn[i].host = nodes[i].host;
        rn[i].fingerprint = n ? n->fingerprint : NULL;
        rn[i].profile = n ? n->profile : NULL;
    }
    hostfile = ad_launch_hostfile_text(plan);
    rankfile = ad_launch_rankfile_text(plan);
    l.run = run;
    l.job_id = pick->job_id;
    l.attempt = attempt;
    l.job = job;
    l.nodes = rn;
    l.n_nodes = pick->n_nodes;
    l.argv = ad_launch_argv(plan, NULL);
    l.env = ad_launch_env(plan);
    l.hostfile = hostfile;
    l.rankfile = rankfile;
    l.threads = ad_launch_plan_threads(plan);
    record = ad_record_build(self->records, &l);
    /* 15 significant digits, as the canonical spec writes its numbers (ad_job_to_json()). */
    text = json_dumps(record, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
    if (!text || ad_journal_run_record(self->journal, run, text, &err))
        ad_log(AD_LOG_ERROR, "job %lld: run %lld has no record: %s", (long long)pick->job_id,
               (long long)run, text ? err.msg : "out of memory");
    else
        ad_log(AD_LOG_INFO, "job %lld: run %lld recorded (%zu bytes, %.1f ms)",
               (long long)pick->job_id, (long long)run, strlen(text), 1e3 * (ad_clock_now() - t0));
    free(text);
    json_decref(record);
    ad_launch_argv_free((char ***)&l.argv);
    ad_launch_argv_free((char ***)&l.env);
    free(hostfile);
    free(rankfile);
    free(rn);
}
