/* ad_fault.h - fault switch: make the n-th hit of a named point fail, so tests walk every exit */
#ifndef AD_FAULT_H
#define AD_FAULT_H

#include <stdbool.h>

#include "autodist/ad_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A fault point is a name checked with ad_fault_hit() where the real world
 * can fail.  Points in use (add new ones here so tests can find them):
 *
 *   store.prepare   preparing an SQLite statement fails (SQLITE_ERROR)
 *   store.step      an SQLite step fails with an I/O error (SQLITE_IOERR)
 *   store.full      an SQLite step fails because the disk is full (SQLITE_FULL)
 *   store.busy      an SQLite step times out on a lock (SQLITE_BUSY)
 *   store.migrate   applying one schema migration fails
 *   home.mkdir      creating a folder of the autodist home fails (EACCES)
 *   fork            ad_proc_spawn() and ad_proc_spawn_detached() cannot fork (EAGAIN)
 *
 * Later users: ZeroMQ sends ("zmq.send").
 */
#define AD_FAULT_POINTS_MAX 16 /* points armed at once */
#define AD_FAULT_NAME_MAX 64   /* longest point name, with its terminating NUL */

/* The environment variable read by ad_fault_arm_env(): "point:n[,point:n...]". */
#define AD_FAULT_ENV "AUTODIST_FAULT"

/*
 * Arm point so that its n-th hit from now (n >= 1) fails, once; later hits
 * succeed again.  Arming an armed point restarts its count; n <= 0 disarms
 * it.  Misuse (a name too long, more than AD_FAULT_POINTS_MAX points) is an
 * assert.  Thread-safe.
 */
void ad_fault_arm(const char *point, int n);

/*
 * Count one hit of point and return true when this hit must fail.  Costs
 * one atomic load while nothing is armed, so it may sit on hot paths.
 */
bool ad_fault_hit(const char *point);

/* True while point is armed and its failing hit has not come yet. */
bool ad_fault_armed(const char *point);

/* Disarm every point. */
void ad_fault_reset(void);

/*
 * Arm the points listed in $AUTODIST_FAULT ("store.step:3,fork:1"), so an
 * integration test can fail a step inside a daemon or an agent.  Returns 0
 * (also when the variable is unset), or AD_EINVAL with err quoting the bad
 * entry; nothing is armed then.
 */
int ad_fault_arm_env(ad_err_t *err);

#ifdef __cplusplus
}
#endif

#endif
