#!/usr/bin/env bash
# bench_sweep.sh - sweep dispatch overhead: what autodist adds per experiment to a sweep of
# trivial jobs, beyond the time the jobs themselves run; and recording and resuming a sweep
# of 25,000 jobs.
#
# Target (issue 4): sweep dispatch overhead <= 50 ms per experiment with a trivial trainer.
#
# Usage: bench/bench_sweep.sh
#   env: N (jobs of the no-op cases, default 200), NTRAIN (jobs of the autodist-train case,
#        default 20), AGENTS (nodes, default 1: jobs run one after the other, so no gap
#        hides behind another job), BIG (jobs of the big case, default 25000),
#        CASES (default "noop-direct noop-mpirun train big").
# Cases, each a fresh coordinator (autodistd --trainer/--mpirun) with AGENTS agents:
#   noop-direct  tests/sweeps/fake-train.sh (writes a start and a done metrics line, exits
#                0) started by a stand-in for mpirun that execs it: the coordinator alone
#   noop-mpirun  the same trainer under the real mpirun (Open MPI's start-up included)
#   train        autodist-train --steps 1, mlp on 64 synthetic 1x4x4 samples, under mpirun
#   big          a grid of BIG no-op jobs: how long the coordinator takes to record it, and
#                how long a rerun takes to find what already ran (after a few hundred jobs)
# Per dispatch case: `autodist sweep FILE` is timed from start to exit (the user's wall
# time, its polling included); from the store: the sweep's span (first job submitted ->
# last job ended) and the sum of its jobs' run times (started -> ended: mpirun and the
# trainer).  Overhead per experiment = (wall - sum of run times) / N.  It starts its own
# coordinators on free loopback ports with a temporary home; run it on an idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
BIN=$PWD/build
N=${N:-200}
NTRAIN=${NTRAIN:-20}
AGENTS=${AGENTS:-1}
BIG=${BIG:-25000}
CASES=${CASES:-"noop-direct noop-mpirun train big"}
PY=/usr/bin/python3
FAKE=$SRC/tests/sweeps/fake-train.sh

for b in autodist autodistd autodist-agent autodist-train; do
    [ -x "$BIN/$b" ] || { echo "bench_sweep: $BIN/$b not built; run scripts/build.sh" >&2; exit 1; }
done
command -v sqlite3 >/dev/null || { echo "bench_sweep: needs the sqlite3 command" >&2; exit 1; }
T=$(mktemp -d /tmp/ad_bench_sweep.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT

now() { date +%s.%N; }
ports() {
    $PY -c '
import socket
s = [socket.socket() for _ in range(3)]
for x in s: x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))'
}

# A stand-in for mpirun: skip mpirun's options, exec the trainer (no Open MPI at all).
cat >"$T/mpirun-direct" <<EOF
#!/bin/sh
while [ \$# -gt 0 ] && [ "\$1" != "$FAKE" ]; do shift; done
exec "\$@"
EOF
chmod +x "$T/mpirun-direct"

# start NAME DAEMON-ARGS...: a coordinator and AGENTS agents; sets AD and HOME_DIR.
start() {
    local name=$1 p
    shift
    HOME_DIR=$T/home-$name
    p=($(ports))
    mkdir -p "$HOME_DIR"
    "$BIN/autodistd" --home "$HOME_DIR" --client "tcp://127.0.0.1:${p[0]}" \
        --agents "tcp://127.0.0.1:${p[1]}" --metrics "tcp://127.0.0.1:${p[2]}" "$@" \
        >"$HOME_DIR/autodistd.log" 2>&1 &
    PIDS+=($!)
    for i in $(seq 1 "$AGENTS"); do
        "$BIN/autodist-agent" --no-bench --name "n$i" --home "$HOME_DIR" \
            --coordinator "tcp://127.0.0.1:${p[1]}" --address 127.0.0.1 \
            >"$HOME_DIR/agent-$i.log" 2>&1 &
        PIDS+=($!)
    done
    AD="$BIN/autodist --home $HOME_DIR --coordinator tcp://127.0.0.1:${p[0]}"
    until [ "$($AD --json nodes 2>/dev/null | grep -c '"state": "UP"')" -ge "$AGENTS" ]; do
        sleep 0.1
    done
}

stop() {
    $AD down >/dev/null 2>&1 || true
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    PIDS=()
}

# sweep_file PATH NAME SEEDS [GRID-LINE]: a sweep of tiny mlp jobs, one per seed.
sweep_file() {
    cat >"$1" <<EOF
name: bench-$2
base:
  model: mlp
  dataset: {synthetic: {shape: [1, 4, 4], classes: 2, samples: 64}}
  steps: 1
  batch_size: 8
  layout: {nodes: 1, procs_per_node: 1, threads_per_proc: 1}
grid:
  seed: [$3]
${4:-}
EOF
}

# Seeds from 1000 on: the fake trainer fails seed 13 on purpose (tests/sweeps/fake-train.sh).
seeds() { $PY -c "print(', '.join(str(i) for i in range(1000, 1000 + $1)))"; }

# run_case NAME JOBS DAEMON-ARGS...: one coordinator, one sweep; prints a table row.
run_case() {
    local name=$1 jobs=$2 t0 t1 q
    shift 2
    start "$name" "$@"
    sweep_file "$T/$name.yaml" "$name" "$(seeds "$jobs")"
    t0=$(now)
    $AD sweep "$T/$name.yaml" --follow-interval 0.1 >"$T/$name.out" || true
    t1=$(now)
    q=$(sqlite3 "$HOME_DIR/runs.db" "SELECT max(ended) - min(submitted), sum(ended - started),
        avg(ended - started), sum(state = 'COMPLETED') FROM jobs WHERE sweep IS NOT NULL")
    stop
    $PY - "$name" "$jobs" "$t0" "$t1" "$q" <<'EOF'
import sys
name, n, t0, t1, q = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
span, run_sum, run_mean, done = q.split("|")
span, run_sum, run_mean, done = float(span), float(run_sum), float(run_mean), int(done)
wall = t1 - t0
print("| %s | %d (%d COMPLETED) | %.2f s | %.1f ms | %.1f ms | %.1f ms | %.1f ms |" % (
    name, n, done, wall, 1000 * wall / n, 1000 * run_mean,
    1000 * (wall - run_sum) / n, 1000 * (span - run_sum) / n))
EOF
}

# The big case: record BIG jobs, run a few hundred, cancel, rerun and time the resume check.
run_big() {
    local t0 t1 t2 t3 done
    start big --trainer "$FAKE" --mpirun "$T/mpirun-direct"
    sweep_file "$T/big.yaml" big "$(seeds $((BIG / 10)))" \
        "  optimizer.lr: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]"
    t0=$(now)
    $AD sweep "$T/big.yaml" --no-wait --max-parallel 1 >/dev/null
    t1=$(now)
    sleep 3
    $AD sweep cancel bench-big >/dev/null
    done=$($AD --json sweep status bench-big | sed -n 's/^ *"completed": \([0-9]*\),$/\1/p' | head -1)
    t2=$(now)
    $AD sweep "$T/big.yaml" --no-wait --max-parallel 1 >/dev/null
    until $AD --json sweep status bench-big | grep -q '"resolving": false'; do sleep 0.05; done
    t3=$(now)
    $AD sweep cancel bench-big >/dev/null
    stop
    $PY -c "print('| %d | %.2f s | %s | %.2f s |' % ($BIG, $t1 - $t0, '$done', $t3 - $t2))"
}

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
echo "## sweep dispatch overhead ($(nproc) cores, $AGENTS node(s), $(git -C "$SRC" rev-parse --short HEAD))"
echo
header=0
for c in $CASES; do
    if [ "$c" != big ] && [ $header = 0 ]; then
        echo "| case | jobs | wall (autodist sweep) | wall / N | mean job run time | overhead per experiment: (wall - sum of runs) / N | coordinator only: (span - sum of runs) / N |"
        echo "| --- | --- | --- | --- | --- | --- | --- |"
        header=1
    fi
    case $c in
    noop-direct) run_case "$c" "$N" --trainer "$FAKE" --mpirun "$T/mpirun-direct" ;;
    noop-mpirun) run_case "$c" "$N" --trainer "$FAKE" ;;
    train) run_case "$c" "$NTRAIN" ;;
    big)
        echo
        echo "| jobs | recorded (SWEEP answered) | jobs run, then cancelled | rerun: check of what ran |"
        echo "| --- | --- | --- | --- |"
        run_big
        ;;
    *) echo "bench_sweep: unknown case $c" >&2; exit 2 ;;
    esac
done
echo
echo "command: N=$N NTRAIN=$NTRAIN AGENTS=$AGENTS BIG=$BIG bench/bench_sweep.sh"
