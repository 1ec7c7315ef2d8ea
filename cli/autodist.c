/* autodist.c - the command users type: global options, the command table, help and dispatch */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <czmq.h>

#include "ad_cli.h"
#include "autodist/ad_log.h"
#include "autodist/ad_proto.h"
#include "autodist/ad_suggest.h"
#include "autodist/ad_version.h"

/* One command: its name, what it does in a line, and its help after the usage line. */
typedef struct command {
    const char *name;    /* what users type */
    ad_cli_cmd_fn fn;    /* runs it */
    const char *summary; /* one line for `autodist --help` */
    const char *help;    /* `autodist CMD --help`, from "usage:" on */
} command_t;

static const command_t s_commands[] = {
    {"up", ad_cli_up, "start a local coordinator and N agents in the background",
     "usage: autodist up [--agents N] [--no-bench] [--agent-endpoint EP] [--metrics-endpoint EP]\n"
     "                   [--insecure]\n"
     "\n"
     "Start the embedded default: a coordinator (autodistd) and N agents (autodist-agent)\n"
     "on this machine, in the background, then list the nodes.  Idempotent: when a\n"
     "coordinator already answers, only the agents that are missing are started.\n"
     "\n"
     "options:\n"
     "  --agents N              simulated nodes to run, 1..250 (default 1); with N > 1\n"
     "                          agent K is named HOST-K and reached at 127.0.0.K,\n"
     "                          with N = 1 it is named HOST (the host name)\n"
     "  --no-bench              agents skip the micro-benchmarks (topology only)\n"
     "  --agent-endpoint EP     the coordinator's agent socket (default " AD_PROTO_AGENT_ENDPOINT
     ")\n"
     "  --metrics-endpoint EP   the coordinator's metrics socket (default " AD_PROTO_METRIC_ENDPOINT
     ")\n"
     "                          (the client socket is --coordinator)\n"
     "  --insecure              no CURVE keys: anyone on this machine can connect (loopback\n"
     "                          endpoints only); by default keys are made in HOME/keys\n"
     "\n"
     "Inside an OAR job (OAR_JOB_ID and OAR_NODEFILE set, no --agents): an agent on every\n"
     "node of the job through oarsh instead, the agent socket on tcp://0.0.0.0:7401 unless\n"
     "--agent-endpoint says otherwise (docs/grid5000.md).\n"
     "\n"
     "files: HOME/run/autodistd.pid, HOME/run/agent-NAME.pid, HOME/run/endpoints.json,\n"
     "       HOME/logs/autodistd.log, HOME/logs/agent-NAME.log\n"},
    {"down", ad_cli_down, "stop the coordinator and the agents `autodist up` started",
     "usage: autodist down\n"
     "\n"
     "Ask the coordinator to shut down (it cancels running jobs), stop every agent whose\n"
     "pid is in HOME/run/agent-*.pid (SIGTERM; SIGKILL after 15 s) and remove the pid\n"
     "files.  Idempotent: with nothing running it says so and exits 0.\n"},
    {"submit", ad_cli_submit, "check a job file and queue it; --wait follows it to the end",
     "usage: autodist submit JOB.yaml|- [--set KEY=VALUE]... [--wait] [--hold]\n"
     "                       [--follow-interval S] [--tag KEY=VALUE]... [--note TEXT]\n"
     "\n"
     "Parse and check the job file (docs/jobfile.md), send it to the coordinator and print\n"
     "its id.  A malformed file is reported as FILE:LINE:COL: ... and exits 2.  With - the\n"
     "job is read from stdin (errors say <stdin>:LINE:COL).\n"
     "A job that can never run on the nodes that exist (procs_per_node x threads_per_proc\n"
     "cores per node, one GPU per rank for device gpu, the node count) is refused at once\n"
     "with the reason, exit 5, unless --hold; a `layout: auto` job needs one layout to fit.\n"
     "\n"
     "A job file with a reservation: section runs on OAR nodes (docs/grid5000.md): submit\n"
     "reserves them (or attaches to the OAR job it names, or to an unfinished one of its\n"
     "name), waits for Running, starts an agent on each node through oarsh, runs the job\n"
     "there and follows it as --wait does, ends it with OAR's reason if the reservation\n"
     "ends first, and releases the reservation unless reservation.keep.  OAR's refusal is\n"
     "one line, exit 1; Ctrl-C while waiting leaves the OAR job queued for the same\n"
     "command to attach to again.\n"
     "\n"
     "options:\n"
     "  --wait                 follow the job until it ends: a live progress line on a\n"
     "                         terminal, a plain line every 5 s otherwise, then a summary\n"
     "                         (throughput, speedup, accuracy); exit 0 when it COMPLETED,\n"
     "                         4 when it ended otherwise, 5 when it cannot start on the\n"
     "                         nodes that are up.  Ctrl-C stops waiting, not the job.\n"
     "  --hold, --pending-ok   accept a job no node fits yet: it stays PENDING, the reason\n"
     "                         in status and jobs, until such nodes come UP\n"
     "  --follow-interval S    seconds between two looks at the job, 0.1..60 (default 0.5)\n"
     "  --set KEY=VALUE        replace one key of the job file (repeatable, in order): a\n"
     "                         dotted key as in sweep grids, the value read as YAML, e.g.\n"
     "                         --set optimizer.lr=0.01 --set layout=1x2x1 --set steps=50\n"
     "  --tag KEY=VALUE        tag the job's run (repeatable; joins the file's tags:)\n"
     "  --note TEXT            the run's note (replaces the file's note:)\n"},
    {"status", ad_cli_status, "live jobs, or one job in any state",
     "usage: autodist status [JOB]\n"
     "\n"
     "Without JOB: a table of the jobs that are PENDING or RUNNING.  With JOB: that job,\n"
     "whatever its state.  Columns: ID NAME STATE LAYOUT (nodes x procs x threads) NODES\n"
     "PROGRESS ELAPSED REASON.\n"},
    {"cancel", ad_cli_cancel, "cancel jobs",
     "usage: autodist cancel JOB...\n"
     "\n"
     "Cancel each job and print the state it is in afterwards (CANCELLED, or the final\n"
     "state it had already reached).  Exit 1 when any of them failed.\n"},
    {"nodes", ad_cli_nodes, "the nodes the coordinator knows",
     "usage: autodist nodes\n"
     "\n"
     "A table of the nodes: NAME STATE CORES CPU% MEM LAST-SEEN JOBS HARDWARE (the class:\n"
     "the node's name when it is the only one of its class, else the cluster's, with the\n"
     "fingerprint beside it).\n"},
    {"logs", ad_cli_logs, "the output of a job (mpirun's stdout and stderr)",
     "usage: autodist logs JOB [--follow]\n"
     "\n"
     "Print what the job wrote so far.\n"
     "\n"
     "options:\n"
     "  --follow    keep printing as the job writes, until it ends (Ctrl-C stops)\n"},
    {"jobs", ad_cli_jobs, "jobs in any state, newest first",
     "usage: autodist jobs [--state STATE] [--name NAME] [--limit K]\n"
     "\n"
     "options:\n"
     "  --state STATE   only jobs in this state: PENDING, RUNNING, COMPLETED, FAILED,\n"
     "                  CANCELLED, TIMEOUT or NODE_FAIL (any case)\n"
     "  --name NAME     only jobs called NAME\n"
     "  --limit K       at most K jobs, 1..100000\n"},
    {"runs", ad_cli_runs, "logged runs, read from the store (no coordinator needed)",
     "usage: autodist runs [--where EXPR] [--model M] [--dataset D] [--job ID] [--limit K]\n"
     "                     [--hardware H] [--kind train|infer|finetune|all] [--csv]\n"
     "\n"
     "A table of the runs in HOME/runs.db, newest first: ID JOB MODEL DATASET BATCH\n"
     "LAYOUT STATE SAMPLES/S SPEEDUP ACCURACY.  Reads the store directly, so it works\n"
     "without a coordinator and on a store copied from elsewhere (--home DIR).\n"
     "\n"
     "options:\n"
     "  --where EXPR   only the runs EXPR selects (docs/speedup.md), e.g.\n"
     "                 \"model in (cnn, resnet18) and nodes >= 2 and state = completed\"\n"
     "  --model M      only runs of model M (cnn, resnet18, ...)\n"
     "  --dataset D    only runs on dataset D (fashion-mnist, synthetic, imagefolder)\n"
     "  --job ID       only the runs of job ID\n"
     "  --hardware H   only runs on hardware class H: its name (vm, a node's or a\n"
     "                 cluster's), 4 or more of its fingerprint's first digits, or the\n"
     "                 fingerprint; --json keeps \"hardware\" and adds \"hardware_name\"\n"
     "  --limit K      at most K runs, 1..1000000000\n"
     "  --kind K       train (default: the runs of jobs), infer (autodist bench-infer),\n"
     "                 finetune (jobs with finetune:, autodist optimize --finetune) or all\n"
     "  --csv          CSV (RFC 4180 quoting) with the columns of --json\n"},
    {"speedup", ad_cli_speedup, "speedup and efficiency of every layout, from the store",
     "usage: autodist speedup [--where EXPR] [--sort FIELDS] [--limit K] [--csv]\n"
     "                        [--plot FILE.svg|FILE.png] [--model M] [--dataset D]\n"
     "                        [--hardware H]\n"
     "\n"
     "The COMPLETED runs of HOME/runs.db grouped by layout (repeats together): MODEL\n"
     "DATASET BATCH HARDWARE DEVICE LAYOUT (nodes x procs x threads) RUNS SAMPLES/S\n"
     "(mean +- standard deviation) SPEEDUP (mean, over the 1x1x1 baseline of the same\n"
     "model, dataset, batch, hardware and device) EFFICIENCY (speedup / cores used).\n"
     "Reads the store directly: no coordinator needed.\n"
     "\n"
     "options:\n"
     "  --where EXPR    only what EXPR selects (docs/speedup.md): and, or, not, ( ),\n"
     "                  = != < <= > >=, in (A, B), between A and B, is [not] null on\n"
     "                  model dataset hardware device batch nodes ppn tpp workers cores\n"
     "                  samples_per_s speedup efficiency runs (of a group) and state job\n"
     "                  sweep id accuracy (of runs, chosen before grouping), layout\n"
     "                  (layout = 1x2x1 or '1,2,1'), flags (flags = noisy: has it),\n"
     "                  e.g. \"model in (cnn, resnet18) and nodes >= 2\"; hardware = vm\n"
     "                  means the class named vm (its name, node or fingerprint prefix)\n"
     "  --sort FIELDS   order by these fields, comma-separated, -FIELD descending\n"
     "                  (default: model, dataset, batch, hardware, layout, device)\n"
     "  --limit K       the first K rows, 1..1000000000\n"
     "  --csv           CSV (RFC 4180 quoting) instead of the table\n"
     "  --plot FILE     also draw speedup against workers with gnuplot (.svg or .png):\n"
     "                  one panel per model, dataset, batch and hardware, one curve per\n"
     "                  layout family (threads 1x1xT, processes 1xPx1, nodes Nx1x1),\n"
     "                  mixed layouts as points, the ideal y = x dashed.  Without\n"
     "                  gnuplot the table is printed and the exit status is 1.\n"
     "  --model M       only model M;  --dataset D  only dataset D\n"
     "  --hardware H    only hardware class H (its name, 4+ fingerprint digits, or it);\n"
     "                  HARDWARE shows the class's name, --json/--csv its fingerprint\n"
     "                  (--json adds \"hardware_name\")\n"},
    {"baseline", ad_cli_baseline, "the baselines of the speedups: list, pin, unpin",
     "usage: autodist baseline [--model M] [--dataset D] [--hardware H]\n"
     "       autodist baseline --pin RUN[,RUN...] [--probes-ok]\n"
     "       autodist baseline --unpin RUN\n"
     "\n"
     "Every speedup is a run's samples/s over the baseline of its (hardware class, model,\n"
     "dataset, global batch, device): the mean of its COMPLETED 1x1x1 runs, layout: auto\n"
     "probes left out, refined by each new repeat -- or the runs pinned by hand, which new\n"
     "repeats do not change (docs/speedup.md).  Without options: MODEL DATASET BATCH\n"
     "HARDWARE DEVICE SAMPLES/S (mean +- sd between repeats) N RULE (mean or pinned) RUNS.\n"
     "\n"
     "options:\n"
     "  --pin RUN,...   make these COMPLETED 1x1x1 runs (one group) the baseline; every\n"
     "                  speedup of the group is recomputed\n"
     "  --probes-ok     with --pin: allow layout: auto probes\n"
     "  --unpin RUN     the baseline of RUN's group is the mean of its repeats again\n"
     "  --model M       only model M;  --dataset D  only dataset D\n"
     "  --hardware H    only hardware class H: its name (HARDWARE shows it), 4 or more\n"
     "                  digits of its fingerprint, or the fingerprint\n"},
    {"bench-infer", ad_cli_bench_infer,
     "inference layouts (processes x threads x batch): throughput, latency, speedup",
     "usage: autodist bench-infer MODEL [--layouts PxTxB,...] [--duration S] [--warmup S]\n"
     "                            [--open F,...] [--max-delay-ms MS] [--concurrency C]\n"
     "                            [--p95-ms X] [--plot FILE.png|.svg]\n"
     "\n"
     "Measure the inference artifact MODEL (a folder made by autodist export, or a model's\n"
     "id or name in autodist models) on this node,\n"
     "without HTTP: P worker processes x T intra-op threads, each taking up to B queued\n"
     "single-sample requests as one batch.  First the sequential baseline (1x1x1, one\n"
     "request at a time), then each layout in closed loop (C = P*B*2 requests outstanding)\n"
     "and open loop (Poisson arrivals at 50% and 90% of its closed-loop throughput;\n"
     "latency includes queueing).  Every measurement is stored as a run of kind infer\n"
     "(autodist runs --kind infer); training speedups, baselines and the planner never\n"
     "read them.  Prints RUN LAYOUT MODE LOAD SAMPLES/S P50_MS P95_MS P99_MS SPEEDUP (over\n"
     "the sequential) EFFICIENCY (speedup / cores), then the layout `autodist serve\n"
     "--layout auto` would take (docs/bench-infer.md).\n"
     "\n"
     "options:\n"
     "  --layouts L     PxTxB,... (default: P*T <= this node's cores, B in 1,4,8,16,32)\n"
     "  --duration S    measured seconds of each load mode (default 1)\n"
     "  --warmup S      seconds before each, not measured (default 0.3)\n"
     "  --open F,...    open-loop rates as fractions of the closed loop's (default\n"
     "                  0.5,0.9; 0: closed loop only)\n"
     "  --max-delay-ms MS  how long a batch waits to fill (default 0, as autodist serve)\n"
     "  --concurrency C requests outstanding in closed loop (default P*B*2)\n"
     "  --p95-ms X      choose the best throughput whose p95 <= X ms (default: the best\n"
     "                  throughput)\n"
     "  --plot FILE     draw throughput against p95 (.png or .svg) with gnuplot: the\n"
     "                  layouts, their Pareto front and the --p95-ms line\n"},
    {"import", ad_cli_import, "add logged runs from a CSV file to the store",
     "usage: autodist import FILE.csv [--dry-run]\n"
     "\n"
     "Add the runs of FILE.csv to HOME/runs.db as COMPLETED runs (no coordinator needed),\n"
     "all of them or, on any error, none.  One header line naming the columns, in any\n"
     "order (docs/planner.md):\n"
     "  model,dataset,hardware,nodes,procs_per_node,threads_per_proc,device,batch_size,\n"
     "  samples_per_s       required; batch_size is the global batch, device cpu or gpu\n"
     "  step_time_s,comm_time_s,params   optional (may be empty)\n"
     "Blank lines and lines starting with # are skipped.  An error names the file, the\n"
     "line and the column and exits 2.\n"
     "\n"
     "options:\n"
     "  --dry-run    check the file and count its runs, write nothing\n"},
    {"plan", ad_cli_plan, "rank the layouts of a job by predicted speed; --evaluate the model",
     "usage: autodist plan JOB.yaml [--device cpu|gpu|auto] [--max-nodes N] [--top K]\n"
     "       autodist plan JOB.yaml --cluster PROFILE [--nodes N|A-B] [--device D] [--top K]\n"
     "       autodist plan --evaluate [--method loco|small-large|lomo|all]\n"
     "                     [--small-max-workers N] [--naive]\n"
     "\n"
     "Predict the throughput of every layout of the job (nodes x processes per node x\n"
     "threads per process, CPU or GPU) that fits the nodes UP at the coordinator, from\n"
     "the runs in HOME/runs.db (read-only; without one, a cold start from the agents'\n"
     "benchmarks), and print them best first: RANK LAYOUT DEVICE SAMPLES/S, its ~90%\n"
     "INTERVAL, SPEEDUP over 1x1x1, EFFICIENCY (speedup / cores used) and BASIS (the\n"
     "runs the prediction rests on, or cold start); then the layout `layout: auto`\n"
     "would take and the candidates it would probe first (at most 3, when their\n"
     "intervals overlap).  If the coordinator does not answer, the plan is made on the\n"
     "nodes the store knows, and a line on stderr says so.  A malformed job file is\n"
     "FILE:LINE:COL: ... and exits 2.  docs/planner.md has the model.\n"
     "\n"
     "options:\n"
     "  --device D    cpu, gpu or auto (both where GPUs exist); default: the job's\n"
     "  --max-nodes N at most N nodes per layout, 1..100000\n"
     "  --top K       show the best K candidates (default 20)\n"
     "  --cluster P   plan on nodes of a cluster that is not reserved: P is a described\n"
     "                profile's name (autodist profile list) or a profile file; the basis\n"
     "                is its description (estimated figures unless the store or the\n"
     "                agents' cache measured the same hardware class), and says so\n"
     "  --nodes N|A-B with --cluster: layouts on N nodes, or on A to B nodes (default: 1\n"
     "                to the cluster's nodes), 1..4096\n"
     "\n"
     "--evaluate: cross-validate the model on the store's runs and print, per workload\n"
     "(model, dataset, hardware, device) and pooled: MAPE, Spearman's rank correlation,\n"
     "interval coverage, regret among layouts of the same worker count and among all.\n"
     "  --method M              loco (leave one configuration out), small-large (fit on\n"
     "                          few workers, predict more), lomo (leave one model out)\n"
     "                          or all (default); a comma-separated list works too\n"
     "  --small-max-workers N   small-large: fit on layouts of <= N workers (default: a\n"
     "                          quarter of the largest)\n"
     "  --naive                 also score naive linear scaling of the 1-worker figure\n"
     "An empty store exits 1.\n"},
    {"profile", ad_cli_profile, "described profiles of clusters: import from Grid'5000, list",
     "usage: autodist profile import FILE.json [--name NAME] [--nodes N] [--out FILE.yaml]\n"
     "       autodist profile list\n"
     "\n"
     "import: read the Grid'5000 reference API's description of a node (the JSON of\n"
     "https://api.grid5000.fr/stable/sites/SITE/clusters/CLUSTER/nodes/NODE), or the\n"
     "listing of a cluster's nodes ({\"items\": [...]}: its first node, counting the nodes\n"
     "with the same hardware), into a described profile (docs/profiles.md):\n"
     "HOME/profiles/described/CLUSTER.yaml, which `autodist plan JOB.yaml --cluster\n"
     "CLUSTER --nodes 1-16` plans on before any node is reserved.  A missing or wrong\n"
     "field is FILE:LINE:COL: ... and exits 2; unknown fields are ignored.\n"
     "  --name NAME       the cluster's name (default: the description's cluster or uid)\n"
     "  --nodes N         nodes of the cluster (default: those of a listing, else 1)\n"
     "  --out FILE.yaml   write there instead of HOME/profiles/described/\n"
     "\n"
     "list: the profiles plan --cluster can use: imported (HOME/profiles/described),\n"
     "measured (the agents' cache, HOME/profiles) and shipped with autodist (profiles/;\n"
     "$AUTODIST_PROFILES, ':'-separated folders, replaces them): NAME WHERE NODES CPU\n"
     "CORES GPUS MEMORY BENCHMARKS FINGERPRINT PATH.\n"},
    {"predict", ad_cli_predict, "predict one layout's throughput and speedup (for scripts)",
     "usage: autodist predict --model M --dataset D --hardware H --batch-size B\n"
     "                        --layout NxPxT [--device cpu|gpu] [--params N]\n"
     "                        [--flops-per-sample F] [--json]\n"
     "\n"
     "One prediction of the planner from the runs in HOME/runs.db (read-only): samples/s\n"
     "with its ~90% interval, speedup over the 1x1x1 baseline (same model, dataset,\n"
     "batch, hardware class and device; measured when logged, else predicted) and what\n"
     "it rests on.  With --json (DESIGN §7 contract): {\"samples_per_s\", \"low\", \"high\",\n"
     "\"speedup\", \"basis\", ...}.  Bad arguments exit 2; a hardware class with neither\n"
     "a profile nor runs in the store exits 1.\n"
     "\n"
     "options:\n"
     "  --model M              model (cnn, resnet18, ... or any name the runs use)\n"
     "  --dataset D            dataset label as runs store it (fashion-mnist,\n"
     "                         synthetic-3x32x32, ...)\n"
     "  --hardware H           hardware class: its fingerprint, 4 or more of its first\n"
     "                         digits, or its name (the node's, or the cluster's: the\n"
     "                         names `autodist nodes` and `plan` show)\n"
     "  --batch-size B         global batch\n"
     "  --layout NxPxT         nodes x processes per node x threads per process, each\n"
     "                         >= 1, e.g. 1x2x1 (the form tables print; 1,2,1 works too)\n"
     "  --device D             cpu (default) or gpu\n"
     "  --params N             the model's parameters, for a cold start (cnn on\n"
     "                         fashion-mnist is known)\n"
     "  --flops-per-sample F   its forward FLOPs per sample, for a cold start\n"},
    {"keys", ad_cli_keys, "CURVE keys of this home: list, add-user, revoke, rotate",
     "usage: autodist keys list\n"
     "       autodist keys add-user NAME\n"
     "       autodist keys revoke NAME\n"
     "       autodist keys rotate\n"
     "\n"
     "Every socket of the coordinator requires CURVE keys, made in HOME/keys by autodistd\n"
     "or `autodist up` at their first start (docs/security.md).  The home's owner is the\n"
     "admin (HOME/keys); agents and trainers use HOME/keys/node; users get a folder each.\n"
     "No coordinator is needed: these read and write HOME/keys.\n"
     "\n"
     "list            the admitted keys: NAME ROLE KEY FOLDER\n"
     "add-user NAME   make NAME's key folder and say how to hand it over; admitted at once\n"
     "revoke NAME     delete NAME's keys; refused from the next connection on\n"
     "rotate          a new coordinator key (restart it, copy server.cert again)\n"
     "\n"
     "`autodist keys SUB --help` says more about each.\n"},
    {"show", ad_cli_show, "a run's row and its record (versions, spec, data, nodes, launch)",
     "usage: autodist show RUN [--json]\n"
     "       autodist show --job JOB [--json]\n"
     "\n"
     "Print run RUN of HOME/runs.db (or the latest run of job JOB) and the record the\n"
     "coordinator wrote when it launched: Run (the row: state, layout, throughput),\n"
     "Versions (autodist and its commit, compiler, Open MPI, libtorch, hwloc, ZeroMQ,\n"
     "SQLite, ...), Spec (canonical JSON and its configuration hash), Dataset (path, size,\n"
     "content hash; or the synthetic parameters), Nodes (rank order, hardware\n"
     "fingerprints), Reservation, Launch (mpirun's arguments one per line, hostfile,\n"
     "rankfile), Environment and Seeds.  Reads the store directly: no coordinator needed.\n"
     "A run imported or logged before records existed (store schema 4) shows its row and\n"
     "says it has no record.  An unknown run exits 1.\n"
     "\n"
     "options:\n"
     "  --job JOB   the latest run of job JOB instead of a run id\n"
     "  --json      {\"run\": the row as `runs --json` prints it (and \"reproduces\",\n"
     "              \"reproduced_by\"),\n"
     "              \"record\": the record (null when none)}\n"},
    {"reproduce", ad_cli_reproduce, "run a recorded run again from its record; compare",
     "usage: autodist reproduce RUN [--repeats N] [--same-cluster | --same-nodes] [--dry-run]\n"
     "                              [--json]\n"
     "       autodist reproduce --job JOB [...]\n"
     "\n"
     "Rebuild the job of run RUN from its record alone (its canonical spec: not the jobs\n"
     "table) and submit it N times, one after the other, to the coordinator; each new run\n"
     "is linked to RUN (runs.reproduces).  Then print the new throughput against the\n"
     "recorded one as a ratio, the spread (min, max, relative standard deviation) of the\n"
     "repeats and of the original's repeats (completed runs of the same configuration,\n"
     "layout and hardware class), and every difference the records show (versions,\n"
     "hardware fingerprints, node list, environment, dataset hash, hostfile, rankfile).\n"
     "A run without a record (imported, or logged before store schema 4) exits 1 saying\n"
     "what is missing.  A run made on a reservation is reproduced on a new one: the same\n"
     "host count and walltime, on the same cluster (cluster='X', as OAR granted it) or\n"
     "--same-nodes (network_address in (...)), released at the end (docs/grid5000.md).\n"
     "Exit 0 when every repeat COMPLETED, 4 when one ended otherwise, 5 when one cannot\n"
     "start on the nodes that are up.\n"
     "\n"
     "options:\n"
     "  --repeats N   run it N times, 1..100 (default 1)\n"
     "  --dry-run     print the spec and the mpirun arguments the original ran with,\n"
     "                check the coordinator's nodes (exit 5 when too few are UP); for a\n"
     "                run on a reservation, the oarsub command and whether enough hosts\n"
     "                match (oarnodes); submit nothing\n"
     "  --same-cluster  (a run on a reservation) the same cluster, any of its nodes (default)\n"
     "  --same-nodes    (a run on a reservation) the very hosts it ran on\n"
     "  --job JOB     the latest run of job JOB instead of a run id\n"},
    {"reservation", ad_cli_reservation, "an OAR job by id or name: show, extend, release",
     "usage: autodist reservation show ID|NAME [--json]\n"
     "       autodist reservation extend ID|NAME DURATION\n"
     "       autodist reservation release ID|NAME\n"
     "\n"
     "The OAR jobs autodist reserves (a job or sweep file's reservation: section) are yours:\n"
     "these attach to one by its id or its name (autodist-JOB by default; a name that two of\n"
     "your unfinished jobs share is refused, naming both).  show prints what OAR says of it\n"
     "(hosts, cluster, times, walltime, state: what a run's record keeps).  extend asks OAR\n"
     "for DURATION more (oarwalltime +H:MM:SS; 30m, 1h, 1h30m; a site that disables it says\n"
     "so).  release deletes it (oardel; a job already over is fine) and waits until it is.\n"
     "Exit 1 when OAR refuses or does not know the job, 2 for a bad command line\n"
     "(docs/grid5000.md).\n"},
    {"history", ad_cli_history, "finished and live jobs from the store, as sacct lists them",
     "usage: autodist history [JOB...] [--state S[,S...]] [--since WHEN] [--name NAME]\n"
     "                        [--limit K] [--json]\n"
     "\n"
     "One line per job of HOME/runs.db, oldest first: JOB NAME STATE EXIT START ELAPSED\n"
     "NODES (the node list) CPU-TIME (of all ranks) MAXRSS (the largest rank's peak memory)\n"
     "REASON.  \"-\" where nothing was measured.  Reads the store only: the same answer with\n"
     "or without a coordinator, and on a store copied from a cluster (--home DIR).\n"
     "\n"
     "options:\n"
     "  JOB...          only these jobs: 7, 3,5 or 3-9\n"
     "  --state S,...   only jobs in these states (PENDING, RUNNING, COMPLETED, FAILED,\n"
     "                  CANCELLED, TIMEOUT, NODE_FAIL; any case)\n"
     "  --since WHEN    submitted at or after WHEN: 2026-12-06, \"2026-12-06 14:30\" (local\n"
     "                  time) or an age: 90s, 30m, 2h, 7d\n"
     "  --name NAME     only jobs called NAME; with '%' a LIKE pattern (cnn%)\n"
     "  --limit K       only the newest K selected jobs\n"
     "  --json          {\"jobs\": [{\"job\", \"name\", \"state\", \"exit_code\", \"started\",\n"
     "                  \"elapsed_s\", \"nodelist\", \"cpu_time_s\", \"max_rss_bytes\", "
     "\"reason\",\n"
     "                  ...}]}\n"},
    {"tag", ad_cli_tag, "set or remove a run's tags and note (in the store)",
     "usage: autodist tag RUN [KEY=VALUE...] [--remove KEY]... [--note TEXT] [--json]\n"
     "       autodist tag --job JOB [...]\n"
     "\n"
     "Set tags (KEY: 1 to 64 letters, digits, '_', '-', '.'; VALUE: any text up to 1024\n"
     "bytes) and the note of run RUN in HOME/runs.db, then print its tags and note.\n"
     "Without edits it only prints them.  Writes the store directly: no coordinator\n"
     "needed.  runs --where selects on them: tag.KEY = VALUE, note like '%text%'.\n"
     "\n"
     "options:\n"
     "  --remove KEY   remove tag KEY (exit 1 when the run has none)\n"
     "  --note TEXT    set the note (\"\" clears it)\n"
     "  --job JOB      the latest run of job JOB instead of a run id\n"},
    {"export", ad_cli_export, "export a trained run's checkpoint as an inference artifact",
     "usage: autodist export RUN|CHECKPOINT_DIR -o DIR [--name NAME] [--no-measure]\n"
     "                       [--data-dir D] [--image-size S] [--threads T] [--runs N]\n"
     "\n"
     "Write a self-describing inference artifact in DIR (model.json + weights.bin; see\n"
     "docs/inference.md): the model in eval form (BatchNorm folded), its classes, input\n"
     "shape, normalisation and the run it came from.  RUN is a run id of HOME/runs.db\n"
     "(its job's checkpoint in HOME/checkpoints/JOB), or give a checkpoint folder.  Then\n"
     "its test accuracy and latency are measured, and it gets a row in `autodist models`.\n"
     "\n"
     "options:\n"
     "  -o, --output DIR  the artifact folder (created)\n"
     "  --name NAME       its name in `autodist models` (default: DIR's last part)\n"
     "  --no-measure      skip the test-split accuracy and the latency\n"
     "  --data-dir D      the dataset's folder when the checkpoint's is not known (an\n"
     "                    image folder exported from a checkpoint folder) or moved\n"
     "  --image-size S    its image size (an image folder; default 224)\n"
     "  --threads T       intra-op threads of the latency measurement (default 1)\n"
     "  --runs N          batch-1 runs of the latency (default 200, at most 2 s)\n"
     "  --json            the new row as JSON\n"},
    {"optimize", ad_cli_optimize, "make an int8 or pruned variant of a model, measured beside it",
     "usage: autodist optimize MODEL --int8 [--calibrate N] [-o DIR]\n"
     "       autodist optimize MODEL --prune F [--structured] [--finetune STEPS]\n"
     "                [--layout NxPxT] [--set KEY=VALUE]... [--local] [-o DIR]\n"
     "\n"
     "MODEL is a model id, name or artifact folder of `autodist models`.  The variant is\n"
     "written to DIR (default: MODEL's folder + -int8, -pruned50 or -pruned50s), its test\n"
     "accuracy and latency are measured on as many threads as its parent's, it gets a row\n"
     "with its parent, and the two are printed side by side.\n"
     "\n"
     "A pruned model is fine-tuned on the cluster: DIR/finetune.yaml, a job with\n"
     "`finetune: DIR` (docs/jobfile.md), trains the pruned graph on the model's dataset,\n"
     "distributed like any job, and its run is exported back into DIR.  It needs a\n"
     "coordinator (`autodist up`); --local fine-tunes in this process instead.\n"
     "\n"
     "options:\n"
     "  --int8            post-training static int8 (oneDNN), calibrated on training images\n"
     "  --calibrate N     calibration images from the training split (default 256)\n"
     "  --prune F         magnitude pruning of the fraction F (0.01..0.99) of the weights\n"
     "  --structured      prune whole output channels instead (the layers shrink)\n"
     "  --finetune STEPS  SGD steps after pruning (default 100; 0: none)\n"
     "  --layout NxPxT    the fine-tune job's layout (default: the parent's run's, else\n"
     "                    1x1x1; its batch is the run's too, else 64)\n"
     "  --set KEY=VALUE   any key of the fine-tune job (optimizer.lr=0.005), as for submit\n"
     "  --local           fine-tune here, 32 images a step, instead of as a job\n"
     "  -o, --output DIR  the variant's folder\n"
     "  --threads T       threads of the measurement (default: the parent's)\n"
     "  --no-measure, --runs N, --name NAME, --json: as for export\n"},
    {"models", ad_cli_models, "inference artifacts: size, accuracy, latency; --compare variants",
     "usage: autodist models [--compare [MODEL]] [--json] [--parsable]\n"
     "       autodist models rm MODEL...\n"
     "\n"
     "List the artifacts that export and optimize made (HOME/runs.db): id, name, variant,\n"
     "architecture, size on disk, parameters, test accuracy, p50/p95 latency at batch 1\n"
     "(ms), throughput at batch 32 (samples/s), parent.  A folder that vanished shows as\n"
     "missing.  `rm` forgets rows, never files.\n"
     "\n"
     "options:\n"
     "  --compare [MODEL]  each fp32 model with its variants: SIZE_X (how many times\n"
     "                     smaller), ACC_D (accuracy change in points), P50_X (p50\n"
     "                     speedup), B32_X (throughput ratio); MODEL: only its family\n"
     "  --json             {\"models\": [...]} or, with --compare, {\"groups\": [{\"parent\",\n"
     "                     \"variants\": [...]}]}\n"},
    {"metrics", ad_cli_metrics, "a run's per-step metrics: table, CSV, JSON or TensorBoard",
     "usage: autodist metrics RUN [--key K[,K...]] [--csv | --json | --tensorboard DIR]\n"
     "       autodist metrics --job JOB [...]\n"
     "\n"
     "The per-step metrics rank 0 reported (loss, samples_per_s, comm_s, eval_accuracy,\n"
     "...) from HOME/runs.db: one line per step, one column per key.\n"
     "\n"
     "options:\n"
     "  --key K,...        only these keys\n"
     "  --csv              CSV: step,KEY,... (empty where a step lacks a key)\n"
     "  --tensorboard DIR  write DIR/events.out.tfevents.TIME.HOST for `tensorboard\n"
     "                     --logdir DIR` (scalars; wall times spread from the run's\n"
     "                     start to its end)\n"
     "  --job JOB          the latest run of job JOB instead of a run id\n"
     "  --json             {\"run\", \"keys\": [...], \"metrics\": [{\"step\", \"key\", "
     "\"value\"}]}\n"},
    {"sweep", ad_cli_sweep, "run a sweep file (resumable), follow it; sweep status, cancel",
     "usage: autodist sweep SWEEP.yaml [--set KEY=VALUE]... [--max-parallel N] [--retry-failed]\n"
     "                      [--force] [--no-wait] [--hold] [--follow-interval S]\n"
     "       autodist sweep status [NAME]\n"
     "       autodist sweep cancel NAME\n"
     "\n"
     "Check the sweep file (docs/jobfile.md; a malformed one is FILE:LINE:COL: ..., exit 2),\n"
     "send it to the coordinator, which records it and queues its jobs a few at a time,\n"
     "and follow it: a live table of DONE RUNNING PENDING FAILED ELAPSED ETA on a\n"
     "terminal, a plain line every 5 s otherwise, then a summary (docs/sweeps.md).\n"
     "Running the same file again resumes it: jobs that COMPLETED are skipped (by\n"
     "configuration hash and repeat), failed ones too unless --retry-failed.  A file\n"
     "changed under the same sweep name is refused unless --force.  Ctrl-C stops\n"
     "following, not the sweep.  Configurations that fit no node (cores per node, GPUs,\n"
     "node count) are SKIPPED and listed at the start, in status and in --json; the rest\n"
     "runs and the sweep finishes.  A sweep none of whose configurations fits is refused.\n"
     "Exit 0 when every job that ran COMPLETED, 4 when some failed or were cancelled,\n"
     "5 when nothing can run on the nodes (or, with --hold, its queued jobs cannot start).\n"
     "\n"
     "options:\n"
     "  --max-parallel N      at most N jobs of the sweep queued or running at once,\n"
     "                        1..10000 (default: as many as nodes are UP)\n"
     "  --retry-failed        run again the jobs that FAILED (or TIMEOUT, NODE_FAIL)\n"
     "  --force               accept a changed file under a recorded name: it becomes a\n"
     "                        new version of the sweep; completed configurations of\n"
     "                        that name (same hash) are still skipped\n"
     "  --no-wait             start it and return (exit 0)\n"
     "  --hold, --pending-ok  skip nothing: configurations no node fits are queued and\n"
     "                        wait (PENDING) for nodes that will come\n"
     "  --follow-interval S   seconds between two looks, 0.1..60 (default 0.5)\n"
     "  --set KEY=VALUE       replace one key of the base job (repeatable), as submit --set\n"
     "                        does; not a grid key.  It changes the sweep: the same name\n"
     "                        with other values needs --force\n"
     "\n"
     "status [NAME]   the sweeps the coordinator holds (ID NAME STATE JOBS DONE RUNNING\n"
     "                PENDING FAILED SKIPPED ELAPSED ETA; STATE WAITING, no ETA, when its\n"
     "                queued jobs cannot start); NAME also reads one back from the store\n"
     "cancel NAME     stop dispatching, cancel its queued jobs and stop its running ones\n"},
    {"completion", ad_cli_completion, "print a bash or zsh completion script for autodist",
     "usage: autodist completion bash|zsh\n"
     "\n"
     "Print a script that completes autodist's commands, their options and sub-commands\n"
     "(keys list, sweep status, ...), made from the same table and help text as --help.\n"
     "Installed with autodist (share/bash-completion/completions/autodist and\n"
     "share/zsh/site-functions/_autodist); to try it in the current shell:\n"
     "  bash:  source <(autodist completion bash)\n"
     "  zsh:   autodist completion zsh > ~/.zfunc/_autodist   (a folder in $fpath)\n"
     "The man pages come from the same text: `autodist help --man CMD` prints one (roff).\n"},
    {"ui", ad_cli_ui, "the dashboard: a web page of nodes, jobs, runs, speedups, plans, sweeps",
     "usage: autodist ui [--listen ADDR:PORT] [--open]\n"
     "\n"
     "Serve the dashboard (docs/ui.md) until Ctrl-C: the nodes and their load, the queue,\n"
     "running jobs with live loss and throughput curves, finished runs with filters, the\n"
     "speedup plot with error bars and the ideal line, a job's plan and a sweep's progress.\n"
     "It asks the coordinator when it answers and reads HOME/runs.db otherwise; it only\n"
     "reads (GET and HEAD; any other method answers 405). The first line printed is the\n"
     "URL. The page's files come from AUTODIST_WEB_DIR, else PREFIX/share/autodist/web.\n"
     "JSON API: /api/info, /api/nodes, /api/jobs[?all=1], /api/jobs/ID, /api/runs,\n"
     "/api/speedup, /api/plan?job=ID, /api/sweeps[/NAME].\n"
     "\n"
     "  --listen ADDR:PORT  where to listen (default 127.0.0.1:8080; PORT alone: on\n"
     "                      127.0.0.1; port 0: any free port, printed). Other machines\n"
     "                      reach it only with an address such as 0.0.0.0: the page has\n"
     "                      no login, so do that on a trusted network only\n"
     "  --open              open the page in the desktop's browser (xdg-open)\n"},
    {"serve", ad_cli_serve, "serve a model: an HTTP API with dynamic batching and a web page",
     "usage: autodist serve MODEL [--port N | --listen ADDR:PORT] [--threads T] [--max-batch B]\n"
     "                      [--max-delay-ms D] [--processes P] [--max-body MB]\n"
     "                      [--layout PxTxB | --layout auto [--p95-ms MS]]\n"
     "\n"
     "Serve an inference artifact (a folder made by `autodist export`, or a model's id or\n"
     "name in `autodist models`; docs/serve.md) until\n"
     "Ctrl-C with autodist-serve: POST /api/predict (an image as multipart field \"image\" or\n"
     "as a raw image/jpeg or image/png body; ?k=5 top classes), GET /api/health,\n"
     "/api/ready (503 until the model is loaded and warmed), /api/model, /metrics\n"
     "(Prometheus) and at / a page to upload or photograph an image. The first line printed\n"
     "is the URL. Requests queue and one inference thread runs them in batches.\n"
     "\n"
     "  --port N            listen on 127.0.0.1:N (default 8080; 0: any free port)\n"
     "  --listen ADDR:PORT  where to listen; other machines reach it only with an address\n"
     "                      such as 0.0.0.0:8080 (no login: a trusted network only)\n"
     "  --threads T         intra-op threads of each inference (default 1)\n"
     "  --max-batch B       largest batch (default 8)\n"
     "  --max-delay-ms D    longest wait for a batch to fill, from its first request\n"
     "                      (default 0: a batch is what queued while the last one ran)\n"
     "  --processes P       P server processes on the same port, each with its model\n"
     "                      (default 1)\n"
     "  --max-body MB       largest upload in MiB; more answers 413 (default 16)\n"
     "  --layout PxTxB      processes, threads and max batch at once, e.g. 2x2x8\n"
     "  --layout auto       the layout `autodist bench-infer` measured best under --p95-ms\n"},
};

#define S_N_COMMANDS (sizeof(s_commands) / sizeof(s_commands[0]))

static const char s_globals_help[] =
    "global options (before or after the command):\n"
    "  --home DIR              autodist home (default $" AD_HOME_ENV " or ~/" AD_HOME_DEFAULT_NAME
    ")\n"
    "  --coordinator ENDPOINT  the coordinator's client socket (default $" AD_CLI_COORDINATOR_ENV
    ",\n"
    "                          else the one `autodist up` recorded, else " AD_PROTO_CLIENT_ENDPOINT
    ")\n"
    "  --json                  print one JSON document on stdout instead of text\n"
    "  --parsable              tables as lines of cells joined by '|', a header line first,\n"
    "                          no padding (like sacct -p), for scripts\n"
    "  --keys DIR              CURVE keys to talk with (default HOME/keys): a folder\n"
    "                          made by `autodist keys add-user NAME`\n"
    "  --help                  this help\n";

static const char s_exit_help[] =
    "exit status:\n"
    "  0  success (submit --wait: the job COMPLETED; sweep: every job COMPLETED)\n"
    "  1  an error: the coordinator refused the request, the store failed, ...\n"
    "  2  bad command line or invalid input (a malformed job file)\n"
    "  3  the coordinator cannot be reached\n"
    "  4  submit --wait: the job ended FAILED, CANCELLED, NODE_FAIL or TIMEOUT;\n"
    "     sweep: some of its jobs did not complete (failed, cancelled)\n"
    "  5  submit, sweep: the job(s) can never run on the nodes that exist (refused, or\n"
    "     with --wait: cannot start on the nodes that are up)\n"
    "  130  Ctrl-C stopped --wait or --follow (the job goes on)\n";

bool
ad_cli_command_at(size_t i, const char **name, const char **summary, const char **help)
{
    if (i >= S_N_COMMANDS)
        return false;
    *name = s_commands[i].name;
    *summary = s_commands[i].summary;
    *help = s_commands[i].help;
    return true;
}

const char *
ad_cli_globals_help(void)
{
    return s_globals_help;
}

const char *
ad_cli_exit_help(void)
{
    return s_exit_help;
}

static const command_t *
s_find(const char *name)
{
    for (size_t i = 0; name && i < S_N_COMMANDS; i++)
        if (!strcmp(s_commands[i].name, name))
            return &s_commands[i];
    return NULL;
}

bool
ad_cli_help(const char *cmd, FILE *f)
{
    const command_t *c = s_find(cmd);

    if (cmd && !c)
        return false;
    if (c) {
        fprintf(f, "%s\n%s", c->help, s_globals_help);
        return true;
    }
    fprintf(f, "usage: autodist [--home DIR] [--coordinator ENDPOINT] [--keys DIR] [--json]\n"
               "                [--parsable] COMMAND [options]\n"
               "       autodist help COMMAND | --help | --version\n"
               "\n"
               "Train on the machines you have: autodist measures the nodes, runs synchronous\n"
               "data-parallel training on Open MPI and logs the speedup of every layout.\n"
               "\n"
               "commands:\n");
    for (size_t i = 0; i < S_N_COMMANDS; i++)
        fprintf(f, "  %-11s %s\n", s_commands[i].name, s_commands[i].summary);
    fprintf(f, "\n%s\n%s\nSee docs/cli.md for the whole guide.\n", s_globals_help, s_exit_help);
    return true;
}

enum {
    S_OPT_HOME = 256,
    S_OPT_COORDINATOR,
    S_OPT_JSON,
    S_OPT_HELP,
    S_OPT_VERSION,
    S_OPT_KEYS,
    S_OPT_PARSABLE,
};

/* Commands of other tools people type by habit, and ours that do the same. */
static const char *const s_habits[][2] = {
    {"sbatch", "submit"},
    {"srun", "submit"},
    {"run", "submit"},
    {"squeue", "status"},
    {"ps", "status"},
    {"queue", "status"},
    {"scancel", "cancel"},
    {"kill", "cancel"},
    {"stop", "cancel"},
    {"sinfo", "nodes"},
    {"hosts", "nodes"},
    {"sacct", "history"},
    {"log", "logs"},
    {"start", "up"},
    {"shutdown", "down"},
    {"list", "jobs"},
    {"predict-layout", "plan"},
    {"import-csv", "import"},
};

const char *
ad_cli_command_suggest(const char *word)
{
    const char *names[S_N_COMMANDS + 1];

    for (size_t i = 0; i < sizeof(s_habits) / sizeof(s_habits[0]); i++)
        if (!strcmp(word, s_habits[i][0]) && s_find(s_habits[i][1]))
            return s_habits[i][1];
    for (size_t i = 0; i < S_N_COMMANDS; i++) {
        names[i] = s_commands[i].name;
        /* A prefix long enough to be meant: "sub" for submit, "speed" for speedup. */
        if (strlen(word) >= 3 && !strncmp(s_commands[i].name, word, strlen(word)))
            return s_commands[i].name;
    }
    names[S_N_COMMANDS] = "help";
    return ad_suggest(word, names, S_N_COMMANDS + 1, strlen(word) >= 4 ? 3 : 2, true);
}

/* "no command X", with the closest command when there is one. */
static int
s_no_command(const char *word)
{
    const char *best = ad_cli_command_suggest(word);

    if (best)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "no command \"%s\" (did you mean %s?)", word, best);
    return ad_cli_fail(AD_CLI_EXIT_USAGE, "no command \"%s\" (try autodist --help)", word);
}

/* `autodist help [CMD]`; `autodist help --man [CMD]` prints the man page (roff) instead. */
static int
s_help_command(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "--man")) {
        if (argc > 3)
            return ad_cli_fail(AD_CLI_EXIT_USAGE, "help --man takes at most one command");
        if (argc == 3 && !s_find(argv[2]))
            return s_no_command(argv[2]);
        ad_cli_man(argc == 3 ? argv[2] : NULL, stdout);
        return AD_CLI_EXIT_OK;
    }
    if (argc > 2)
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "help takes at most one command");
    if (argc == 2 && !ad_cli_help(argv[1], stdout))
        return s_no_command(argv[1]);
    if (argc < 2)
        ad_cli_help(NULL, stdout);
    return AD_CLI_EXIT_OK;
}

int
main(int argc, char **argv)
{
    static const struct option longs[] = {
        {"home", required_argument, NULL, S_OPT_HOME},
        {"coordinator", required_argument, NULL, S_OPT_COORDINATOR},
        {"json", no_argument, NULL, S_OPT_JSON},
        {"keys", required_argument, NULL, S_OPT_KEYS},
        {"parsable", no_argument, NULL, S_OPT_PARSABLE},
        {"help", no_argument, NULL, S_OPT_HELP},
        {"version", no_argument, NULL, S_OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    ad_cli_t cli = {0};
    const command_t *cmd;
    int c, rc;

    ad_log_init("autodist", AD_LOG_WARN);
    /* Messages to a person, even when stderr is redirected to a file: no times. */
    ad_log_stamps(AD_LOG_STAMPS_OFF);
    /* Ctrl-C kills the command, except where --wait and --follow catch it themselves. */
    zsys_handler_set(NULL);
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:hV", longs, NULL)) != -1) {
        switch (c) {
        case S_OPT_HOME:
            cli.home_arg = optarg;
            break;
        case S_OPT_COORDINATOR:
            cli.endpoint_arg = optarg;
            break;
        case S_OPT_JSON:
            cli.json = true;
            break;
        case S_OPT_KEYS:
            cli.keys_arg = optarg;
            break;
        case S_OPT_PARSABLE:
            cli.parsable = ad_cli_parsable = true;
            break;
        case 'h':
        case S_OPT_HELP:
            ad_cli_help(NULL, stdout);
            return AD_CLI_EXIT_OK;
        case 'V':
        case S_OPT_VERSION:
            printf("autodist %s\n", AD_VERSION);
            return AD_CLI_EXIT_OK;
        case ':':
            return ad_cli_fail(AD_CLI_EXIT_USAGE, "option %s needs a value (try autodist --help)",
                               argv[optind - 1]);
        default:
            if (optopt)
                return ad_cli_fail(AD_CLI_EXIT_USAGE, "unknown option -%c (try autodist --help)",
                                   optopt);
            return ad_cli_fail(AD_CLI_EXIT_USAGE, "unknown option %s (try autodist --help)",
                               argv[optind - 1]);
        }
    }
    if (optind >= argc) {
        ad_cli_help(NULL, stderr);
        return ad_cli_fail(AD_CLI_EXIT_USAGE, "no command given");
    }
    if (!strcmp(argv[optind], "help"))
        return s_help_command(argc - optind, argv + optind);
    cmd = s_find(argv[optind]);
    if (!cmd)
        return s_no_command(argv[optind]);
    cli.cmd = cmd->name;
    argc -= optind;
    argv += optind;
    /* The command parses its own options from scratch (GNU getopt: optind 0 resets). */
    optind = 0;
    rc = cmd->fn(&cli, argc, argv);
    ad_cli_clear(&cli);
    fflush(stdout);
    return rc;
}
