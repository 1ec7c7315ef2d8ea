/* ad_running_load.c - the other load on a running job's nodes, from the agents' heartbeats */
#include "ad_daemon.h"

/*
 * docs/speedup.md, "Flags": the agents report the busy fraction of all cores and
 * each autodist job's share of it (HEARTBEAT load.jobs); what is left, in cores,
 * is other load, and a job keeps the largest seen while it runs (runs.load_other).
 */
/* Heartbeat periods after the launch whose samples are not the run's alone. */
#define S_PERIODS_SKIPPED 1.5

void
ad_running_load_sample(coord_t *self, const char *identity, const json_t *load)
{
    const ad_registry_node_t *n = ad_registry_lookup_identity(self->reg, identity);
    double hb = self->opts->heartbeat_ms / 1000.0;
    json_t *cpu = json_object_get(load, "cpu"), *jobs = json_object_get(load, "jobs");

    /* An agent that does not report its jobs' share cannot tell other load from ours. */
    if (!n || n->cores <= 0 || !json_is_number(cpu) || !json_is_object(jobs))
        return;
    for (run_t *r = self->runs; r; r = r->next) {
        char key[32];
        json_t *own;
        double other;
        bool here = false;

        /*
         * A heartbeat covers the period before it: the first one after the launch also
         * covers the time before it, when the job had no process yet (and the processes
         * of the job before it exited, taking their last ticks with them).  Only
         * periods that lie within the run count.
         */
        if (ad_clock_now() - r->t_start < S_PERIODS_SKIPPED * hb)
            continue;

        for (int i = 0; i < r->n_nodes && !here; i++)
            here = !strcmp(r->nodes[i], n->name);
        if (!here)
            continue;
        snprintf(key, sizeof(key), "%lld", (long long)r->id);
        own = json_object_get(jobs, key);
        /* Busy cores less the job's own processes (other jobs' count as other load). */
        other = (json_number_value(cpu) - (json_is_number(own) ? json_number_value(own) : 0)) *
                (double)n->cores;
        if (other < 0)
            other = 0;

        if (isnan(r->load_other) || other > r->load_other)
            r->load_other = other;
    }
}
