/* ad_record.c - a run's record: what it takes to re-create the run (versions, spec, data, nodes) */
#include "autodist/ad_record.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <czmq.h>
#include <sqlite3.h>
#include <yaml.h>
#include <zmq.h>

#include "ad_build_info.h"
#include "autodist/ad_clock.h"
#include "autodist/ad_hash.h"
#include "autodist/ad_log.h"
#include "autodist/ad_version.h"

extern char **environ;

/*
 * autodist-train's folder for fashion-mnist when the job names none
 * (AD_DATA_FASHION_DIR of ad_data.h, which is the trainer's: a program does
 * not include another's header).
 */
#define S_FASHION_DIR "/usr/share/datasets/fashion-mnist"

/* How long after the coordinator's start the version probes are waited for (s). */
#define S_PROBE_WAIT_S 10.0
/* Datasets remembered (folder, signature, hash). */
#define S_CACHE_MAX 16
/* Files a dataset folder may hold before it is not listed at all. */
#define S_FILES_MAX 2000000

/* A program asked its version in the background: its stdout comes through fd. */
typedef struct probe {
    int fd;        /* read end of its stdout; -1 once read */
    char out[512]; /* what it printed (first 511 bytes) */
    size_t len;    /* bytes in out */
} probe_t;

/* A dataset folder as it was when hashed. */
typedef struct cached {
    char *path;       /* the folder */
    int64_t files;    /* regular files under it */
    int64_t bytes;    /* their total size */
    int64_t mtime_ns; /* the latest modification time among them */
    char hash[17];    /* content hash, "" when not hashed */
    double used;      /* ad_clock_now() of the last use: the oldest goes first */
} cached_t;

struct ad_record_env {
    probe_t mpirun;              /* mpirun --version */
    probe_t trainer;             /* autodist-train --version */
    json_t *versions;            /* once the probes were read; NULL before */
    double deadline;             /* ad_clock_now() after which the probes are not waited for */
    cached_t cache[S_CACHE_MAX]; /* dataset hashes */
};

/* ---- version probes ---------------------------------------------------------------------- */

/* Start argv[0] with stdout into a pipe (stderr and stdin on /dev/null); p->fd -1 on failure. */
static void
s_probe_start(probe_t *p, const char *prog, const char *arg)
{
    char *argv[] = {(char *)prog, (char *)arg, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none;
    int fds[2];
    pid_t pid;

    p->fd = -1;
    p->len = 0;
    p->out[0] = '\0';
    if (!prog || pipe2(fds, O_CLOEXEC) != 0)
        return;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    /*
     * The child is never waited for here: the coordinator reaps every child
     * (ad_running_reap()), and a pid waited for later could be another's by then.
     */
    /* The coordinator blocks SIGCHLD, SIGTERM and SIGINT (it reads them from a signalfd). */
    posix_spawnattr_init(&attr);
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    if (posix_spawnp(&pid, prog, &fa, &attr, argv, environ) == 0) {
        p->fd = fds[0];
        /* Loading libtorch takes a core for half a second: not before the coordinator's own
         * start-up (sockets, keys). */
        setpriority(PRIO_PROCESS, (id_t)pid, 10);
    } else {
        close(fds[0]);
    }
    close(fds[1]);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
}

/* Read what p prints until it closes its stdout, or until (mono s) passes when wait is true,
 * or until it has nothing more to say now when wait is false; the fd is closed once read. */
static void
s_probe_read(probe_t *p, double until, bool wait)
{
    while (p->fd >= 0) {
        struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
        double left = wait ? until - ad_clock_now() : 0;
        char buf[256];
        ssize_t n;

        if (wait && left <= 0)
            break;
        if (poll(&pfd, 1, wait ? (int)(left * 1000) + 1 : 0) == 0) {
            if (!wait)
                return;
            break;
        }
        n = read(p->fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n && p->len + 1 < sizeof(p->out); i++)
            p->out[p->len++] = buf[i];
        p->out[p->len] = '\0';
    }
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
}

/* The first line of s into buf ("" when none). */
static char *
s_first_line(const char *s, char *buf, size_t cap)
{
    size_t n = strcspn(s, "\r\n");

    if (n >= cap)
        n = cap - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return buf;
}

/* "mpirun (Open MPI) 4.1.4" -> "4.1.4"; anything else: its first line, or "unknown". */
static json_t *
s_mpirun_version(const probe_t *p)
{
    char line[256];
    const char *close;

    s_first_line(p->out, line, sizeof(line));
    if (!line[0])
        return json_string("unknown");
    close = strstr(line, "(Open MPI) ");
    if (close)
        return json_string(close + strlen("(Open MPI) "));
    return json_string(line);
}

/* "autodist-train 0.1.0 libtorch 1.13.0 Open MPI 4.1.4" into the versions v. */
static void
s_trainer_versions(const probe_t *p, json_t *v)
{
    char line[256], name[64] = "", mine[64] = "", torch[64] = "";
    int used = 0;

    s_first_line(p->out, line, sizeof(line));
    if (sscanf(line, "%63s %63s libtorch %63s %n", name, mine, torch, &used) >= 3 &&
        !strcmp(name, "autodist-train")) {
        json_object_set_new(v, "trainer", json_string(mine));
        json_object_set_new(v, "libtorch", json_string(torch));
        json_object_set_new(v, "trainer_mpi", json_string(used ? line + used : "unknown"));
        return;
    }
    json_object_set_new(v, "trainer", json_string(line[0] ? line : "unknown"));
    json_object_set_new(v, "libtorch", json_string("unknown"));
    json_object_set_new(v, "trainer_mpi", json_string("unknown"));
}

ad_record_env_t *
ad_record_env_new(const char *mpirun, const char *trainer)
{
    ad_record_env_t *self = ad_calloc(1, sizeof(*self));

    s_probe_start(&self->mpirun, mpirun ? mpirun : "mpirun", "--version");
    s_probe_start(&self->trainer, trainer, "--version");
    self->deadline = ad_clock_now() + S_PROBE_WAIT_S;
    return self;
}

void
ad_record_env_free(ad_record_env_t **self_p)
{
    ad_record_env_t *self;

    if (!self_p || !*self_p)
        return;
    self = *self_p;
    if (self->mpirun.fd >= 0)
        close(self->mpirun.fd);
    if (self->trainer.fd >= 0)
        close(self->trainer.fd);
    json_decref(self->versions);
    for (int i = 0; i < S_CACHE_MAX; i++)
        free(self->cache[i].path);
    free(self);
    *self_p = NULL;
}

bool
ad_record_env_ready(ad_record_env_t *self)
{
    if (!self || self->versions)
        return true;
    s_probe_read(&self->mpirun, 0, false);
    s_probe_read(&self->trainer, 0, false);
    return (self->mpirun.fd < 0 && self->trainer.fd < 0) || ad_clock_now() >= self->deadline;
}

json_t *
ad_record_versions(ad_record_env_t *self)
{
    char buf[64];
    int a, b, c;
    json_t *v;

    if (self->versions)
        return json_deep_copy(self->versions);
    s_probe_read(&self->mpirun, self->deadline, true);
    s_probe_read(&self->trainer, self->deadline, true);
    v = json_object();
    json_object_set_new(v, "autodist", json_string(AD_VERSION));
    json_object_set_new(v, "commit", json_string(AD_BUILD_COMMIT));
    json_object_set_new(v, "dirty", json_boolean(AD_BUILD_DIRTY));
    /* GCC's __VERSION__ is the number alone; clang's names itself. */
    snprintf(buf, sizeof(buf), "%s%s", strstr(__VERSION__, "lang") ? "" : "gcc ", __VERSION__);
    json_object_set_new(v, "compiler", json_string(buf));
    json_object_set_new(v, "open_mpi", s_mpirun_version(&self->mpirun));
    s_trainer_versions(&self->trainer, v);
    json_object_set_new(v, "hwloc", json_string("unknown"));
    json_object_set_new(v, "hwloc_note",
                        json_string("the agents' profiles do not say their hwloc's version"));
    zmq_version(&a, &b, &c);
    snprintf(buf, sizeof(buf), "%d.%d.%d", a, b, c);
    json_object_set_new(v, "zeromq", json_string(buf));
    zsys_version(&a, &b, &c);
    snprintf(buf, sizeof(buf), "%d.%d.%d", a, b, c);
    json_object_set_new(v, "czmq", json_string(buf));
    json_object_set_new(v, "sqlite", json_string(sqlite3_libversion()));
    json_object_set_new(v, "jansson", json_string(jansson_version_str()));
    json_object_set_new(v, "libyaml", json_string(yaml_get_version_string()));
    self->versions = v;
    return json_deep_copy(v);
}

/* ---- datasets ----------------------------------------------------------------------------- */

/* The regular files under a folder, relative paths, sorted. */
typedef struct listing {
    char **paths;   /* relative to the folder */
    size_t n, cap;  /* entries; room */
    int64_t bytes;  /* total size */
    int64_t mtime;  /* latest modification time (ns) */
    bool truncated; /* more than S_FILES_MAX files, or a sub-folder could not be read */
} listing_t;

static void
s_listing_clear(listing_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->paths[i]);
    free(l->paths);
    memset(l, 0, sizeof(*l));
}

/* Add the files under root/rel (rel "" for root itself) to l, depth levels at most. */
static void
s_list(const char *root, const char *rel, int depth, listing_t *l)
{
    char dir[4096], path[4096], sub[4096];
    struct dirent *e;
    struct stat st;
    DIR *d;

    if (snprintf(dir, sizeof(dir), "%s%s%s", root, rel[0] ? "/" : "", rel) >= (int)sizeof(dir))
        d = NULL;
    else
        d = opendir(dir);
    if (!d) {
        l->truncated = true;
        return;
    }
    while ((e = readdir(d)) && !l->truncated) {
        if (e->d_name[0] == '.')
            continue;
        if (snprintf(sub, sizeof(sub), "%s%s%s", rel, rel[0] ? "/" : "", e->d_name) >=
                (int)sizeof(sub) ||
            snprintf(path, sizeof(path), "%s/%s", root, sub) >= (int)sizeof(path) ||
            stat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth > 0)
                s_list(root, sub, depth - 1, l);
            continue;
        }
        if (!S_ISREG(st.st_mode))
            continue;
        if (l->n >= S_FILES_MAX) {
            l->truncated = true;
            break;
        }
        if (l->n == l->cap) {
            l->cap = l->cap ? 2 * l->cap : 64;
            l->paths = realloc(l->paths, l->cap * sizeof(*l->paths));
            if (!l->paths)
                ad_oom(l->cap * sizeof(*l->paths));
        }
        l->paths[l->n++] = ad_strdup(sub);
        l->bytes += st.st_size;
        if ((int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec > l->mtime)
            l->mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    }
    closedir(d);
}

static int
s_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* FNV-1a 64 over each file's relative path, NUL, size (decimal), NUL and bytes; false on error. */
static bool
s_hash_files(const char *root, const listing_t *l, char out[17])
{
    uint64_t h = AD_HASH_FNV1A64_BASIS;
    static char buf[1 << 16];
    char path[4096], size[32];

    for (size_t i = 0; i < l->n; i++) {
        struct stat st;
        ssize_t n;
        int fd;

        if (snprintf(path, sizeof(path), "%s/%s", root, l->paths[i]) >= (int)sizeof(path))
            return false;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) != 0) {
            if (fd >= 0)
                close(fd);
            return false;
        }
        h = ad_hash_fnv1a64_bytes(h, l->paths[i], strlen(l->paths[i]) + 1);
        snprintf(size, sizeof(size), "%lld", (long long)st.st_size);
        h = ad_hash_fnv1a64_bytes(h, size, strlen(size) + 1);
        while ((n = read(fd, buf, sizeof(buf))) > 0)
            h = ad_hash_fnv1a64_bytes(h, buf, (size_t)n);
        close(fd);
        if (n < 0)
            return false;
    }
    snprintf(out, 17, "%016llx", (unsigned long long)h);
    return true;
}

/* The cache entry of path with l's signature, or NULL. */
static cached_t *
s_cache_find(ad_record_env_t *self, const char *path, const listing_t *l)
{
    for (int i = 0; i < S_CACHE_MAX; i++) {
        cached_t *c = &self->cache[i];

        if (c->path && !strcmp(c->path, path) && c->files == (int64_t)l->n &&
            c->bytes == l->bytes && c->mtime_ns == l->mtime)
            return c;
    }
    return NULL;
}

/* Remember hash for path with l's signature, in place of the same folder's or the oldest entry. */
static void
s_cache_put(ad_record_env_t *self, const char *path, const listing_t *l, const char *hash)
{
    cached_t *slot = &self->cache[0];

    for (int i = 0; i < S_CACHE_MAX; i++) {
        cached_t *c = &self->cache[i];

        if (!c->path || !strcmp(c->path, path)) {
            slot = c;
            break;
        }
        if (c->used < slot->used)
            slot = c;
    }
    free(slot->path);
    slot->path = ad_strdup(path);
    slot->files = (int64_t)l->n;
    slot->bytes = l->bytes;
    slot->mtime_ns = l->mtime;
    snprintf(slot->hash, sizeof(slot->hash), "%s", hash);
    slot->used = ad_clock_now();
}

/* Files, bytes and content hash of the folder path into o (hash cached). */
static void
s_dataset_files(ad_record_env_t *self, const char *path, int depth, json_t *o)
{
    listing_t l = {0};
    cached_t *c;
    char hash[17] = "";
    const char *note = NULL;

    json_object_set_new(o, "path", json_string(path));
    s_list(path, "", depth, &l);
    if (l.truncated && l.n == 0) {
        note = "the folder cannot be read on the coordinator's host";
    } else if (l.truncated) {
        note = "the folder could not be listed whole: no content hash";
    } else if (l.bytes > AD_RECORD_HASH_MAX_BYTES) {
        note = "larger than 1 GiB: not hashed, to keep the coordinator responsive";
    } else if ((c = s_cache_find(self, path, &l))) {
        snprintf(hash, sizeof(hash), "%s", c->hash);
        c->used = ad_clock_now();
    } else {
        qsort(l.paths, l.n, sizeof(*l.paths), s_cmp_str);
        if (s_hash_files(path, &l, hash))
            s_cache_put(self, path, &l, hash);
        else
            note = "a file could not be read on the coordinator's host";
    }
    json_object_set_new(o, "files", json_integer((json_int_t)l.n));
    json_object_set_new(o, "bytes", json_integer((json_int_t)l.bytes));
    json_object_set_new(o, "content_hash", hash[0] && !note ? json_string(hash) : json_null());
    json_object_set_new(o, "hash_algorithm",
                        json_string("fnv1a64 over relative path, size and bytes of each file, in "
                                    "path order"));
    if (note)
        json_object_set_new(o, "note", json_string(note));
    s_listing_clear(&l);
}

json_t *
ad_record_dataset(ad_record_env_t *self, const ad_job_t *job)
{
    char label[300];
    json_t *o = json_object();

    json_object_set_new(o, "kind", json_string(ad_job_dataset_name(job->dataset.kind)));
    json_object_set_new(o, "label", json_string(ad_job_dataset_label(job, label, sizeof(label))));
    switch (job->dataset.kind) {
    case AD_JOB_DATA_SYNTHETIC:
        json_object_set_new(o, "channels", json_integer(job->dataset.channels));
        json_object_set_new(o, "height", json_integer(job->dataset.height));
        json_object_set_new(o, "width", json_integer(job->dataset.width));
        json_object_set_new(o, "classes", json_integer(job->dataset.classes));
        json_object_set_new(o, "samples", json_integer((json_int_t)job->dataset.samples));
        json_object_set_new(o, "seed", json_integer((json_int_t)job->seed));
        break;
    case AD_JOB_DATA_IMAGEFOLDER:
        json_object_set_new(o, "image_size", json_integer(job->dataset.image_size));
        s_dataset_files(self, job->dataset.path ? job->dataset.path : "", 8, o);
        break;
    default:
        s_dataset_files(self, job->data_dir ? job->data_dir : S_FASHION_DIR, 0, o);
        break;
    }
    return o;
}

/* ---- the record ---------------------------------------------------------------------------- */

/* Whether a variable's name says it holds a key, a secret, a token or a password. */
static bool
s_secret(const char *name)
{
    static const char *const secret[] = {"KEY", "SECRET", "TOKEN", "PASSWORD", "PASSWD", "CURVE"};

    for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++)
        if (strstr(name, secret[i]))
            return true;
    return false;
}

bool
ad_record_env_matters(const char *name)
{
    static const char *const prefixes[] = {"OMP_", "OMPI_MCA_", "MKL_", "OPENBLAS_", "AUTODIST_"};

    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (!strncmp(name, prefixes[i], strlen(prefixes[i])))
            return !s_secret(name);
    return false;
}

/* KEY=VALUE entries of vars (NULL-terminated) into an object: those that matter, or every one
 * that is no secret when all. */
static json_t *
s_env_object(char *const *vars, bool all)
{
    json_t *o = json_object();
    char name[256];

    for (; vars && *vars; vars++) {
        const char *eq = strchr(*vars, '=');
        size_t n = eq ? (size_t)(eq - *vars) : 0;

        if (!eq || n >= sizeof(name))
            continue;
        memcpy(name, *vars, n);
        name[n] = '\0';
        if (all ? s_secret(name) : !ad_record_env_matters(name))
            continue;
        json_object_set_new(o, name, json_string(eq + 1));
    }
    return o;
}

/* The nodes in rank order: name, host, fingerprint, first rank, profile. */
static json_t *
s_nodes(const ad_record_launch_t *l)
{
    json_t *a = json_array();
    int ppn = l->job->layout.procs_per_node;

    for (int i = 0; i < l->n_nodes; i++) {
        const ad_record_node_t *n = &l->nodes[i];

        json_array_append_new(a,
                              json_pack("{s:s s:s s:o s:i s:i s:o}", "name", n->name ? n->name : "",
                                        "host", n->host ? n->host : "", "fingerprint",
                                        n->fingerprint ? json_string(n->fingerprint) : json_null(),
                                        "first_rank", i * ppn, "ranks", ppn, "profile",
                                        n->profile ? json_deep_copy(n->profile) : json_null()));
    }
    return a;
}

/* The launch: mpirun's argv, hostfile, rankfile, threads. */
static json_t *
s_launch(const ad_record_launch_t *l)
{
    json_t *argv = json_array();

    for (char *const *a = l->argv; a && *a; a++)
        json_array_append_new(argv, json_string(*a));
    return json_pack(
        "{s:o s:s s:o s:b s:i s:i}", "argv", argv, "hostfile", l->hostfile ? l->hostfile : "",
        "rankfile", l->rankfile ? json_string(l->rankfile) : json_null(), "bound",
        l->rankfile != NULL, "ranks", l->job->layout.nodes * l->job->layout.procs_per_node,
        "threads_per_rank", l->threads);
}

/* The seeds: the job's and how the trainer derives the rest from it. */
static json_t *
s_seeds(const ad_job_t *job)
{
    return json_pack("{s:I s:s s:s s:s s:s}", "job", (json_int_t)job->seed, "weights",
                     "seed (the same initial weights on every rank)", "data_order",
                     "one permutation per epoch from (seed, epoch), every rank takes its share",
                     "augmentation", "seed * 1000003 + epoch", "per_rank",
                     "none: no rank has a seed of its own");
}

/*
 * The agents' hwloc, read from their profiles' source ("measured by autodist
 * on n1 (hwloc 2.8.0)"), into v: one version, or the distinct ones joined.
 */
static void
s_hwloc_version(const ad_record_launch_t *l, json_t *v)
{
    char found[256] = "", one[64];

    for (int i = 0; i < l->n_nodes; i++) {
        json_t *src = l->nodes[i].profile ? json_object_get(l->nodes[i].profile, "source") : NULL;
        const char *at = json_is_string(src) ? strstr(json_string_value(src), "(hwloc ") : NULL;

        if (!at || sscanf(at, "(hwloc %63[^)])", one) != 1 || strstr(found, one))
            continue;
        if (strlen(found) + strlen(one) + 3 < sizeof(found))
            snprintf(found + strlen(found), sizeof(found) - strlen(found), "%s%s",
                     found[0] ? ", " : "", one);
    }
    if (!found[0])
        return;
    json_object_set_new(v, "hwloc", json_string(found));
    json_object_set_new(v, "hwloc_note", json_string("from the agents' profiles"));
}

json_t *
ad_record_build(ad_record_env_t *self, const ad_record_launch_t *l)
{
    char host[256] = "", hash[17];
    char *text = ad_job_to_json(l->job);
    json_t *spec = json_loads(text, 0, NULL), *r, *resv, *versions;

    free(text);
    if (!spec)
        spec = json_null();
    ad_job_hash(l->job, hash);
    if (gethostname(host, sizeof(host) - 1) != 0)
        snprintf(host, sizeof(host), "unknown");
    /* The lead's job specs carry their reservation request under "reservation". */
    resv = json_object_get(spec, "reservation");
    r = json_object();
    json_object_set_new(r, "format", json_integer(AD_RECORD_FORMAT));
    json_object_set_new(r, "run", json_integer((json_int_t)l->run));
    json_object_set_new(r, "job", json_integer((json_int_t)l->job_id));
    json_object_set_new(r, "attempt", json_integer(l->attempt));
    json_object_set_new(r, "created", json_real((double)time(NULL)));
    json_object_set_new(r, "coordinator_host", json_string(host));
    versions = ad_record_versions(self);
    s_hwloc_version(l, versions);
    json_object_set_new(r, "versions", versions);
    json_object_set_new(r, "config_hash", json_string(hash));
    json_object_set_new(r, "spec", spec);
    json_object_set_new(r, "dataset", ad_record_dataset(self, l->job));
    json_object_set_new(r, "nodes", s_nodes(l));
    json_object_set_new(r, "reservation", resv ? json_deep_copy(resv) : json_null());
    json_object_set_new(r, "launch", s_launch(l));
    json_object_set_new(r, "environment",
                        json_pack("{s:o s:o}", "set_by_launch", s_env_object(l->env, true),
                                  "inherited", s_env_object(environ, false)));
    json_object_set_new(r, "seeds", s_seeds(l->job));
    return r;
}
