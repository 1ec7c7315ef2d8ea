/* fuzz_jobfile.c - fuzz target for job and sweep files: any bytes as YAML and as wire JSON */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "autodist/ad_job.h"
#include "autodist/ad_sweep_file.h"

/* Set when the last input was a valid job or sweep (fuzz_replay.c checks the corpus has some). */
int fuzz_accepted;

/* Inputs are job files of a few KiB; longer ones only slow the fuzzer down. */
#define S_MAX_INPUT (64 * 1024)

/* A job accepted once survives its canonical JSON: the coordinator rebuilds it from that. */
static void
s_check_job(const ad_job_t *job)
{
    ad_job_t again = {0};
    ad_err_t err = {0};
    char *json = ad_job_to_json(job), *json2;

    if (ad_job_from_json(json, &again, &err) != 0)
        abort();
    json2 = ad_job_to_json(&again);
    if (strcmp(json, json2) != 0)
        abort();
    free(json2);
    free(json);
    ad_job_clear(&again);
}

/* A sweep accepted once survives its canonical JSON, and its first job can be made. */
static void
s_check_sweep(const ad_sweep_t *sweep)
{
    ad_sweep_t *again = NULL;
    ad_job_t job = {0};
    ad_err_t err = {0};

    if (ad_sweep_load_json(ad_sweep_json(sweep), &again, &err) != 0)
        abort();
    if (strcmp(ad_sweep_json(sweep), ad_sweep_json(again)) != 0 ||
        ad_sweep_count(again) != ad_sweep_count(sweep))
        abort();
    if (ad_sweep_count(sweep) > 0) {
        if (ad_sweep_job(sweep, 0, &job, NULL, &err) != 0)
            abort();
        ad_job_clear(&job);
    }
    ad_sweep_free(&again);
}

/*
 * The input, made a string, goes through the four parsers that read job
 * text: a job file and a sweep file (YAML, as the CLI reads them) and a job
 * and a sweep in wire JSON (as the coordinator reads SUBMIT and SWEEP).
 * Each succeeds with a job or sweep that round-trips, or fails with a
 * message; never crashes, leaks or reads out of bounds.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ad_sweep_t *sweep = NULL;
    ad_job_t job = {0};
    ad_err_t err = {0};
    char *text;

    fuzz_accepted = 0;
    if (size > S_MAX_INPUT)
        return 0;
    text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    if (ad_job_parse_string(text, "fuzz.yaml", &job, &err) == 0) {
        s_check_job(&job);
        fuzz_accepted = 1;
    } else if (!err.msg[0]) {
        abort();
    }
    ad_job_clear(&job);
    err.msg[0] = '\0';
    if (ad_job_from_json(text, &job, &err) == 0) {
        s_check_job(&job);
        fuzz_accepted = 1;
    } else if (!err.msg[0]) {
        abort();
    }
    ad_job_clear(&job);
    err.msg[0] = '\0';
    if (ad_sweep_load_string(text, "fuzz-sweep.yaml", &sweep, &err) == 0) {
        s_check_sweep(sweep);
        fuzz_accepted = 1;
    } else if (!err.msg[0]) {
        abort();
    }
    ad_sweep_free(&sweep);
    err.msg[0] = '\0';
    if (ad_sweep_load_json(text, &sweep, &err) == 0) {
        s_check_sweep(sweep);
        fuzz_accepted = 1;
    } else if (!err.msg[0]) {
        abort();
    }
    ad_sweep_free(&sweep);
    free(text);
    return 0;
}
