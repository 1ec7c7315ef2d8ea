/* ad_cli_auto.c - what `layout: auto` did, for the --wait summary and `autodist status JOB` */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ad_cli.h"

/* "1830 samples/s" or "-" into buf. */
static const char *
s_rate(const json_t *o, const char *key, char *buf, size_t size)
{
    double v = ad_cli_jnum(o, key, NAN);

    if (isnan(v)) {
        snprintf(buf, size, "-");
        return buf;
    }
    ad_cli_fmt_rate(v, buf, size);
    snprintf(buf + strlen(buf), size - strlen(buf), " samples/s");
    return buf;
}

/* One line per probe: its layout, job, state, measured and predicted throughput. */
static void
s_print_probes(const json_t *probes, FILE *f)
{
    char meas[48], pred[48];
    json_t *p;
    size_t i;

    json_array_foreach(probes, i, p)
    {
        const char *state = ad_cli_jstr(p, "state");

        fprintf(f, "  probe %-9s job %-6lld %-10s measured %-18s predicted %s\n",
                ad_cli_jstr(p, "layout") ? ad_cli_jstr(p, "layout") : "?",
                (long long)ad_cli_jint(p, "job", 0), state ? state : "?",
                s_rate(p, "measured_samples_per_s", meas, sizeof(meas)),
                s_rate(p, "predicted_samples_per_s", pred, sizeof(pred)));
    }
}

void
ad_cli_auto_print(const json_t *job, FILE *f)
{
    const json_t *a = ad_cli_jobj(job, "auto"), *pred;
    const json_t *probes = json_object_get(a, "probes");
    const char *chosen = ad_cli_jstr(a, "chosen"), *basis;
    char rate[48], lo[32], hi[32], meas[48];
    double err;

    if (!a)
        return;
    if (!chosen) {
        fprintf(f, "layout auto: not chosen yet");
        fprintf(f, json_array_size(probes) ? "; probes so far:\n" : "\n");
        s_print_probes(probes, f);
        return;
    }
    fprintf(f, "layout auto: chose %s (%s) among %lld layout%s that fit", chosen,
            ad_cli_jstr(a, "device") ? ad_cli_jstr(a, "device") : "cpu",
            (long long)ad_cli_jint(a, "candidates", 0),
            ad_cli_jint(a, "candidates", 0) == 1 ? "" : "s");
    if (json_array_size(probes))
        fprintf(f, ", after %zu probe%s:\n", json_array_size(probes),
                json_array_size(probes) == 1 ? "" : "s");
    else
        fprintf(f, ", without probes\n");
    s_print_probes(probes, f);
    pred = ad_cli_jobj(a, "predicted");
    basis = ad_cli_jstr(pred, "basis");
    fprintf(f, "  %s: predicted %s [%s-%s]%s%s%s", chosen,
            s_rate(pred, "samples_per_s", rate, sizeof(rate)),
            ad_cli_fmt_rate(ad_cli_jnum(pred, "low", NAN), lo, sizeof(lo)),
            ad_cli_fmt_rate(ad_cli_jnum(pred, "high", NAN), hi, sizeof(hi)),
            basis && *basis ? " (" : "", basis && *basis ? basis : "", basis && *basis ? ")" : "");
    err = ad_cli_jnum(a, "error_pct", NAN);
    if (!isnan(ad_cli_jnum(a, "measured_samples_per_s", NAN)))
        fprintf(f, ", measured %s (%+.1f %%)",
                s_rate(a, "measured_samples_per_s", meas, sizeof(meas)), err);
    else
        fprintf(f, ", not measured yet");
    fprintf(f, "\n");
}
