/* ad_proc.h - child processes of the coordinator: spawn in a process group, signal, find strays */
#ifndef AD_PROC_H
#define AD_PROC_H

#include <stdbool.h>
#include <sys/types.h>

#include "autodist/ad_error.h"

#ifdef __cplusplus
extern "C" {
#endif

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
 * not an exit status later).
 */
int ad_proc_spawn(char *const argv[], char *const env_add[], const char *out_path, pid_t *pid,
                  ad_err_t *err);

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

#ifdef __cplusplus
}
#endif

#endif
