/* ad_proc.h - processes for the programs: spawn, signal, find strays, pid files, log tails,
 * siblings */
#ifndef AD_PROC_H
#define AD_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "autodist/ad_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Used by autodistd (mpirun of each job) and by autodist up/down (the
 * coordinator and the agents), so both start, watch and stop processes the
 * same way.
 */

/*
 * Start argv[0] (looked up in PATH when it has no '/') as the leader of a new
 * process group, with the caller's environment plus the KEY=VALUE entries of
 * env_add (NULL-terminated, may be NULL; an entry replaces a variable of the
 * same name), stdin from /dev/null and stdout and stderr appended to
 * out_path (created 0644).  The child gets an empty signal mask and default
 * handlers, so a parent that blocks SIGCHLD or SIGTERM for a signalfd does
 * not pass that on.  Returns 0 with *pid set, or a negative errno with err
 * naming what failed: the log file, fork, or the exec itself (reported back
 * through a close-on-exec pipe, so "mpirun: not found" is an error here and
 * not an exit status later).  The fault point "fork" (ad_fault.h) makes the
 * fork fail with EAGAIN: "cannot start PROG: fork: Resource temporarily
 * unavailable".
 */
int ad_proc_spawn(char *const argv[], char *const env_add[], const char *out_path, pid_t *pid,
                  ad_err_t *err);

/*
 * ad_proc_spawn() for a program that outlives its starter (autodist up
 * starting autodistd and the agents): the child leads a new session instead
 * of a process group, gets no extra environment, and inherits no file
 * descriptor beyond 0, 1 and 2.  Returns 0 with *pid set, or a negative
 * errno with err set, as ad_proc_spawn().
 */
int ad_proc_spawn_detached(char *const argv[], const char *out_path, pid_t *pid, ad_err_t *err);

/*
 * Send sig to the process group pgid (the spawned pid).  Returns 0, or
 * -ESRCH when the group is gone.
 */
int ad_proc_signal_group(pid_t pgid, int sig);

/*
 * Send sig to every process of this machine whose environment holds both
 * KEY1=VALUE1 and KEY2=VALUE2 (e.g. AUTODIST_JOB=12 and AUTODIST_HOME=/x),
 * except this process: the ranks of a job that outlived their mpirun.
 * Processes whose environment cannot be read (another user's) are skipped.
 * Returns how many were signalled.
 */
int ad_proc_signal_env(const char *kv1, const char *kv2, int sig);

/*
 * The last non-empty line of the file at path, at most cap-1 bytes of it
 * (the tail end of a longer line), into buf.  Returns true when there was one.
 */
bool ad_proc_last_line(const char *path, char *buf, size_t cap);

/* The pid written in the file at path, or 0 when there is none or it is not a number. */
pid_t ad_proc_read_pid(const char *path);

/* Write pid into the file at path atomically (a temporary file renamed).  Returns 0 or -errno. */
int ad_proc_write_pid(const char *path, pid_t pid);

/*
 * True when pid is a live process (not a zombie) of program prog (compared
 * on the kernel's 15-byte command name), so a pid file left by a crash never
 * makes us signal a process that reused the pid.
 */
bool ad_proc_is(pid_t pid, const char *prog);

/* True when pid is no longer a live prog: exited, or a zombie.  Reaps it when it is our child. */
bool ad_proc_gone(pid_t pid, const char *prog);

/*
 * The path of program prog in the folder of this executable, into out
 * (size bytes).  Returns false when it is not there, not executable, or the
 * path does not fit.
 */
bool ad_proc_sibling(const char *prog, char *out, size_t size);

/* ad_proc_sibling(), else prog found in $PATH.  Returns false when neither has it. */
bool ad_proc_find_exe(const char *prog, char *out, size_t size);

/* Sleep ms milliseconds, going on after signals. */
void ad_proc_sleep_ms(int ms);

/*
 * utime + stime of process pid, all its threads, in seconds (/proc/PID/stat).
 * Returns 0 with *seconds set, -errno when the file cannot be read, or AD_EPARSE.
 */
int ad_proc_cpu_seconds(pid_t pid, double *seconds);

/*
 * What tells process pid from a later one that reuses its number: the boot
 * id and its start time ("<boot id>:<ticks>"), written into out (cap bytes,
 * 96 are enough).  Returns false, out empty, when pid is not running (a
 * zombie is not running).
 */
bool ad_proc_identity(pid_t pid, char *out, size_t cap);

/* Whether process pid is running and is still the one ad_proc_identity() described. */
bool ad_proc_same(pid_t pid, const char *identity);

/* Resident memory of process pid in MiB (VmRSS of /proc/PID/status), or NAN. */
double ad_proc_rss_mib(pid_t pid);

#ifdef __cplusplus
}
#endif

#endif
