/* daemon_fixture.h - what the tests of autodistd as a program share: a home, ports, agents, jobs */
#ifndef AD_DAEMON_FIXTURE_H
#define AD_DAEMON_FIXTURE_H

#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "ad_test.h"
#include "autodist/ad_error.h"
#include "autodist/ad_proto.h"

/* The test's home (fresh for each test, dft_setup()) and endpoints: client, agents, metrics. */
extern char dft_home[128];
extern char dft_ep[3][64];

/* The temp root's name, given by the test program (dft_group_setup() makes it). */
extern const char *dft_tag;

/* Run argv (argv[0] a path) with stderr appended to log; its pid. */
pid_t dft_spawn(const char *const *argv, const char *log);

/* autodistd on the test's home and endpoints (log: <home>.daemon.log), with extra arguments
 * (NULL-terminated; NULL for none); waits 0.3 s for it to listen. */
pid_t dft_start_daemon_with(const char *const *extra);
pid_t dft_start_daemon(void);

/* An agent (--no-bench) called name at address, log <home>.<tag>.log; the 127.0.0.1 one. */
pid_t dft_start_agent_at(const char *name, const char *tag, const char *address);
pid_t dft_start_agent(const char *name, const char *tag);

/* A request to the coordinator; asserts its return code is expect_rc; the reply (or NULL). */
json_t *dft_req(const char *type, json_t *payload, int expect_rc, ad_err_t *err);

/* State of node name in NODES, or NULL; counts its entries in *count. */
const char *dft_node_state(const char *name, int *count);

/* cmocka group setup and teardown (the temp root), and each test's setup (home, ports). */
int dft_group_setup(void **st);
int dft_group_teardown(void **st);
int dft_setup(void **st);

/* After each test: SIGKILL the programs it started and the job processes of its home. */
int dft_teardown(void **st);

/* Run only the tests matching $AD_TEST_FILTER (a cmocka pattern), when it is set. */
void dft_filter(void);

/* SHUTDOWN the daemon d: it exits 0 within 3 s. */
void dft_stop(pid_t d);

/* Stop the daemon d (SHUTDOWN), then the agent a (SIGTERM): both exit 0. */
void dft_stop_both(pid_t d, pid_t a);

/* Wait (at most about 5 s) until NODES lists node name. */
void dft_wait_listed(const char *name);

/* An mlp job on synthetic data: steps steps, batch 16, 1 node x ppn x 1 (a new object). */
json_t *dft_run_job(const char *name, int64_t steps, int ppn);

/* SUBMIT job (stolen) with hold (accepted even when no node fits it yet); its id. */
int64_t dft_submit(json_t *job);

/* STATUS of job id (a new reference to its object). */
json_t *dft_status(int64_t id);

/* A job object's state. */
const char *dft_state_of(json_t *j);

/* Poll job id until its state is one of the '|'-separated states (at most ms); its object. */
json_t *dft_wait_state(int64_t id, const char *states, int ms);

/* Wait until job id reports step >= step (at most ms); its object. */
json_t *dft_wait_step(int64_t id, int64_t step, int ms);

/* Processes of this machine whose environment names job id of this test's home. */
int dft_job_procs(int64_t id);

/* Send sig to job id's processes whose name starts with prog ("" = all); how many. */
int dft_job_signal(int64_t id, const char *prog, int sig);

#endif
