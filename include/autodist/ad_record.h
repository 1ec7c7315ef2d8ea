/* ad_record.h - a run's record: what it takes to re-create the run (versions, spec, data, nodes) */
#ifndef AD_RECORD_H
#define AD_RECORD_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "autodist/ad_error.h"
#include "autodist/ad_job.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * When a job launches, the coordinator writes a record of its run into the
 * store (ad_store_put_record(); docs/store.md "Run records" lists the
 * fields): the versions of autodist and of the libraries, the canonical spec
 * and its hash, the dataset's identity, the nodes' hardware profiles in rank
 * order, the reservation, mpirun's argument vector, hostfile and rankfile,
 * the environment that matters and the seeds.  `autodist show RUN` prints it
 * and `autodist reproduce RUN` runs it again from it alone.
 *
 * What does not change while a coordinator runs is learnt once and kept in
 * an ad_record_env_t: the versions (mpirun --version and autodist-train
 * --version are started when it is made and read at the first record, so a
 * coordinator's start does not wait for them) and the content hashes of the
 * datasets, per folder, size and modification time, so a launch does not
 * read 30 MB again.
 */
typedef struct ad_record_env ad_record_env_t;

/* The record's format: bumped when a field changes meaning. */
#define AD_RECORD_FORMAT 1

/* Datasets larger than this (bytes) get no content hash (names and sizes only): hashing would
 * hold the coordinator's loop too long. */
#define AD_RECORD_HASH_MAX_BYTES (1LL << 30)

/*
 * What a coordinator knows once: mpirun (NULL: "mpirun" from PATH) and
 * trainer (autodist-train; NULL: none) are asked their versions in the
 * background now.  Never NULL; free it with ad_record_env_free().
 */
ad_record_env_t *ad_record_env_new(const char *mpirun, const char *trainer);

/* Release env; NULL-safe and idempotent, sets *self_p to NULL. */
void ad_record_env_free(ad_record_env_t **self_p);

/*
 * Whether the versions are known, or no longer waited for (10 s after
 * ad_record_env_new()): reads what the version probes printed so far, without
 * waiting.  The coordinator launches nothing before, so that the first record
 * never holds its loop; NULL is ready.
 */
bool ad_record_env_ready(ad_record_env_t *self);

/*
 * The versions as the record holds them: {autodist, commit, dirty, compiler,
 * open_mpi, trainer, libtorch, trainer_mpi, hwloc, hwloc_note, zeromq,
 * czmq, sqlite, jansson, libyaml}; "unknown" for what could not be learnt.
 * The first call waits for the probes until ad_record_env_ready() would say
 * yes.
 * Returns a new reference.
 */
json_t *ad_record_versions(ad_record_env_t *self);

/*
 * The dataset's identity of job: {kind, label, path, files, bytes,
 * content_hash, note} for data on files (content_hash: 16 hex digits of the
 * FNV-1a 64 of every file's relative path, size and bytes, in path order;
 * null with a note when the folder cannot be read here or is larger than
 * AD_RECORD_HASH_MAX_BYTES), or {kind, label, channels, height, width,
 * classes, samples, seed} for synthetic data.  Cached per (folder, files,
 * bytes, latest mtime).  Returns a new reference.
 */
json_t *ad_record_dataset(ad_record_env_t *self, const ad_job_t *job);

/* One node of the run, in rank order. */
typedef struct ad_record_node {
    const char *name;        /* node name (agent id) */
    const char *host;        /* what mpirun reaches it by */
    const char *fingerprint; /* hardware class; NULL = unknown */
    const json_t *profile;   /* its HELLO profile (borrowed); NULL = unknown */
} ad_record_node_t;

/* What the launch knows, all borrowed. */
typedef struct ad_record_launch {
    int64_t run;                   /* the run row */
    int64_t job_id;                /* the job */
    int attempt;                   /* times it was requeued before this run */
    const ad_job_t *job;           /* the validated job, layout decided */
    const ad_record_node_t *nodes; /* the nodes, in rank order */
    int n_nodes;                   /* how many */
    char *const *argv;             /* mpirun's argument vector, NULL-terminated */
    char *const *env;              /* KEY=VALUE the launch adds to mpirun's environment */
    const char *hostfile;          /* the hostfile's text */
    const char *rankfile;          /* the rankfile's text; NULL = unbound */
    int threads;                   /* compute threads per rank */
} ad_record_launch_t;

/* The record of a run that launches (format AD_RECORD_FORMAT), a new reference; never NULL. */
json_t *ad_record_build(ad_record_env_t *self, const ad_record_launch_t *launch);

/*
 * Whether the environment variable name (no '=') belongs in a record:
 * OMP_*, OMPI_MCA_*, MKL_*, OPENBLAS_*, AUTODIST_*, but never one that
 * names a key, secret, token or password.
 */
bool ad_record_env_matters(const char *name);

#ifdef __cplusplus
}
#endif

#endif
