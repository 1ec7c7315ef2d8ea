#!/usr/bin/env bash
# bench_faults.sh - issue 9's reliability targets, measured (docs/reliability.md, docs/benchmarks.md).
#
# Targets:
#   sweep   kill -9 of the coordinator at a random moment of a 20-job sweep, ROUNDS times (10):
#           0 runs lost, 0 duplicated, the sweep finishes without a user command.
#   agent   kill -9 of an agent mid-job: the job completes (its ranks run on); and when the
#           node is lost with it (ranks hung), after a requeue, resuming from its last
#           checkpoint (steps redone <= one checkpoint interval).
#   store   the store held by another writer for HOLD s (10): 0 false DOWN, 0 lost metrics.
#
# Usage: bench/bench_faults.sh            env: CASES (default "sweep agent store"), ROUNDS (10),
#                                              HOLD (10), SEED (random)
# It starts its own coordinators and agents on free loopback ports with a temporary home;
# run it on an idle machine (it takes a few minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/build
CASES=${CASES:-"sweep agent store"}
ROUNDS=${ROUNDS:-10}
HOLD=${HOLD:-10}
SEED=${SEED:-$RANDOM}
PY=/usr/bin/python3
RANDOM=$SEED

for b in autodist autodistd autodist-agent autodist-train autodist-launch; do
    [ -x "$BIN/$b" ] || { echo "bench_faults: $BIN/$b not built; run scripts/build.sh" >&2; exit 1; }
done
command -v sqlite3 >/dev/null || { echo "bench_faults: needs the sqlite3 command" >&2; exit 1; }
T=$(mktemp -d /tmp/ad_bench_faults.XXXXXX)
DAEMON=
AGENTS=()
cleanup() {
    [ -n "$DAEMON" ] && kill -9 "$DAEMON" 2>/dev/null || true
    for p in "${AGENTS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    pkill -9 -f "AUTODIST_HOME=$T" 2>/dev/null || true
    for p in $(grep -lzs -e "^AUTODIST_HOME=$T/" /proc/[0-9]*/environ 2>/dev/null |
        sed 's#/proc/\([0-9]*\)/environ#\1#'); do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT

ports() {
    $PY -c '
import socket
s = [socket.socket() for _ in range(3)]
for x in s: x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))'
}
json() { $PY -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# setup CASE: a fresh home and endpoints.
setup() {
    H=$T/$1
    mkdir -p "$H"
    read -r P1 P2 P3 <<<"$(ports)"
    EP=tcp://127.0.0.1:$P1
    AD=("$BIN/autodist" --home "$H" --coordinator "$EP")
}
start_daemon() {
    "$BIN/autodistd" --home "$H" --client "$EP" --agents "tcp://127.0.0.1:$P2" \
        --metrics "tcp://127.0.0.1:$P3" --node-grace 3 --kill-grace 3 "$@" 2>>"$H/daemon.log" &
    DAEMON=$!
    sleep 0.3
}
# start_agent NAME ADDRESS
start_agent() {
    "$BIN/autodist-agent" --no-bench --name "$1" --address "$2" --home "$H" \
        --coordinator "tcp://127.0.0.1:$P2" 2>>"$H/agent-$1.log" &
    AGENTS+=($!)
}
wait_nodes() {
    for _ in $(seq 1 100); do
        [ "$("${AD[@]}" --json nodes | json "sum(n['state'] == 'UP' for n in d['nodes'])")" -ge "$1" ] && return
        sleep 0.1
    done
    echo "bench_faults: nodes not UP" >&2
    exit 1
}
q() { sqlite3 "$H/runs.db" "$1"; }

case_sweep() {
    setup sweep
    start_daemon
    start_agent n1 127.0.0.1
    start_agent n2 127.0.0.2
    wait_nodes 2
    cat >"$H/sweep.yaml" <<EOF
name: kill9
base:
  model: mlp
  dataset: {synthetic: {shape: [1, 8, 8], classes: 4, samples: 256}}
  steps: 3000
  checkpoint_every: 500
  batch_size: 16
  layout: {nodes: 1, procs_per_node: 1, threads_per_proc: 1}
grid:
  seed: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]
EOF
    "${AD[@]}" sweep "$H/sweep.yaml" --no-wait --max-parallel 2 >/dev/null
    local t0 kills=0 state
    t0=$(date +%s.%N)
    for i in $(seq 1 "$ROUNDS"); do
        sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.2f", 0.5 + 3.0 * r / 32768 }')"
        kill -9 "$DAEMON"
        wait "$DAEMON" 2>/dev/null || true
        kills=$((kills + 1))
        sleep 0.2
        start_daemon
    done
    for _ in $(seq 1 1200); do
        state=$("${AD[@]}" --json sweep status kill9 | json 'd["sweeps"][0]["state"]')
        [ "$state" = DONE ] && break
        sleep 0.5
    done
    local wall
    wall=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
    local configs completed dup running lost attempts
    configs=20
    completed=$(q "SELECT count(DISTINCT config_hash) FROM runs WHERE state = 'COMPLETED'")
    dup=$(q "SELECT count(*) FROM (SELECT config_hash FROM runs WHERE state = 'COMPLETED' GROUP BY config_hash HAVING count(*) > 1)")
    running=$(q "SELECT count(*) FROM runs WHERE state = 'RUNNING'")
    attempts=$(q "SELECT coalesce(sum(attempts), 0) FROM jobs")
    lost=$((configs - completed))
    echo "sweep: $kills x kill -9 of the coordinator (seed $SEED): sweep $state in $wall s without a user command;" \
        "$completed/$configs configurations COMPLETED, $lost lost, $dup duplicated, $running run rows left RUNNING," \
        "$attempts requeue(s), $(q "SELECT count(*) FROM jobs") jobs, $(q "SELECT count(*) FROM runs") runs"
    [ "$state" = DONE ] && [ "$lost" = 0 ] && [ "$dup" = 0 ] && [ "$running" = 0 ] ||
        echo "sweep: TARGET MISSED (see $H/daemon.log)"
    kill "$DAEMON"; wait "$DAEMON" 2>/dev/null || true; DAEMON=
    for p in "${AGENTS[@]}"; do kill "$p" 2>/dev/null || true; done
    AGENTS=()
}

# job_metric FIELD: of the last job's status.
case_agent() {
    setup agent
    start_daemon
    start_agent n1 127.0.0.1
    wait_nodes 1
    cat >"$H/job.yaml" <<EOF
name: orphan
model: mlp
dataset: {synthetic: {shape: [1, 8, 8], classes: 4, samples: 256}}
steps: 12000
checkpoint_every: 200
batch_size: 16
layout: {nodes: 1, procs_per_node: 1, threads_per_proc: 1}
EOF
    local id state
    id=$("${AD[@]}" --json submit "$H/job.yaml" | json 'd["job"]')
    until [ "$("${AD[@]}" --json status "$id" | json '(d["jobs"][0].get("progress") or {}).get("step", 0)')" -gt 500 ]; do sleep 0.1; done
    kill -9 "${AGENTS[0]}"
    for _ in $(seq 1 600); do
        state=$("${AD[@]}" --json status "$id" | json 'd["jobs"][0]["state"]')
        case $state in RUNNING | PENDING) sleep 0.2 ;; *) break ;; esac
    done
    echo "agent: kill -9 of the agent mid-job, ranks healthy: job $state, attempts" \
        "$("${AD[@]}" --json status "$id" | json 'd["jobs"][0]["attempts"]'), 0 steps redone (never stopped)"
    # The node lost with its agent: ranks hung; requeue; the agent comes back.
    start_agent n1 127.0.0.1
    wait_nodes 1
    id=$("${AD[@]}" --json submit "$H/job.yaml" | json 'd["job"]')
    until [ "$("${AD[@]}" --json status "$id" | json '(d["jobs"][0].get("progress") or {}).get("step", 0)')" -gt 1000 ]; do sleep 0.1; done
    kill -9 "${AGENTS[1]}"
    for p in $(grep -lzs -e "^AUTODIST_JOB=$id\$" /proc/[0-9]*/environ 2>/dev/null | sed 's#/proc/\([0-9]*\)/environ#\1#'); do
        [ "$(cat /proc/"$p"/comm 2>/dev/null)" = autodist-train ] && kill -STOP "$p"
    done
    until [ "$("${AD[@]}" --json status "$id" | json 'd["jobs"][0]["attempts"]')" -ge 1 ]; do sleep 0.2; done
    start_agent n1 127.0.0.1
    for _ in $(seq 1 600); do
        state=$("${AD[@]}" --json status "$id" | json 'd["jobs"][0]["state"]')
        case $state in RUNNING | PENDING) sleep 0.2 ;; *) break ;; esac
    done
    local redone
    redone=$($PY - "$H/logs/$id/metrics.jsonl" <<'EOF'
import json, sys
last, start, starts = -1, None, 0
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("event") == "start":
        starts += 1
        if starts == 2:
            start = e.get("start_step")
            break
    elif e.get("event") == "step":
        last = max(last, e["step"])
print(f"resumed at step {start} after step {last}: {last - start} steps redone")
EOF
)
    echo "agent: node lost mid-job (agent killed, ranks hung): job $state after a requeue, $redone (checkpoint every 200)"
    kill "$DAEMON"; wait "$DAEMON" 2>/dev/null || true; DAEMON=
    for p in "${AGENTS[@]}"; do kill "$p" 2>/dev/null || true; done
    AGENTS=()
}

case_store() {
    setup store
    start_daemon
    start_agent n1 127.0.0.1
    start_agent n2 127.0.0.2
    wait_nodes 2
    cat >"$H/job.yaml" <<EOF
name: held
model: mlp
dataset: {synthetic: {shape: [1, 8, 8], classes: 4, samples: 256}}
steps: 30000
batch_size: 16
layout: {nodes: 1, procs_per_node: 1, threads_per_proc: 1}
EOF
    local id state
    id=$("${AD[@]}" --json submit "$H/job.yaml" | json 'd["job"]')
    until [ "$("${AD[@]}" --json status "$id" | json '(d["jobs"][0].get("progress") or {}).get("step", 0)')" -gt 100 ]; do sleep 0.1; done
    $PY - "$H/runs.db" "$HOLD" <<'EOF'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
time.sleep(float(sys.argv[2]))
db.execute("COMMIT")
EOF
    for _ in $(seq 1 1200); do
        state=$("${AD[@]}" --json status "$id" | json 'd["jobs"][0]["state"]')
        case $state in RUNNING | PENDING) sleep 0.2 ;; *) break ;; esac
    done
    local down lost
    down=$(grep -c "is DOWN" "$H/daemon.log" || true)
    lost=$((30000 - $(q "SELECT count(*) FROM metrics WHERE key = 'loss'")))
    echo "store: held by another writer for $HOLD s mid-job: job $state, $down false DOWN, $lost metric samples (loss) lost;" \
        "$(grep -o 'delayed write(s) done after [0-9.]* s' "$H/daemon.log" | head -1)"
    kill "$DAEMON"; wait "$DAEMON" 2>/dev/null || true; DAEMON=
    for p in "${AGENTS[@]}"; do kill "$p" 2>/dev/null || true; done
    AGENTS=()
}

for c in $CASES; do
    "case_$c"
done
