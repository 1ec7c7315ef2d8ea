#!/bin/bash
# bench_oar.sh - the reservation targets of docs/benchmarks.md, on the local OAR test cluster:
#   1. OAR's Running -> the job's first training step, against the trainer's own start-up
#      (mpirun of the same 2-rank job straight on this machine, to its first step);
#   3. a sweep cut by its reservation's walltime: every configuration recorded exactly once.
# (Target 2, `autodist reproduce` against the original's spread, is bench/bench_reproduce.sh.)
#
# usage: bench/bench_oar.sh [BUILD_DIR] [REPS]   (as root, scripts/oar-cluster.sh up first;
#        about 3 minutes with REPS=5).  Prints one line per measure and a summary.
set -u
B=$(cd "${1:-build}" && pwd)
REPS=${2:-5}
SRC=$(cd "$(dirname "$0")/.." && pwd)
U=aduser
[ "$(id -u)" = 0 ] || { echo "bench_oar: run as root (autodist runs as $U)" >&2; exit 2; }
"$SRC/scripts/oar-cluster.sh" status >/dev/null || { echo "bench_oar: no OAR test cluster" >&2; exit 2; }

T=$(mktemp -d /tmp/bench_oar.XXXXXX)
chown "$U" "$T"
H=$T/home
mkdir -p "$H" && chown "$U" "$H"
P=$((23000 + $$ % 500 * 8))
as_user() { runuser -u "$U" -- env TMPDIR="$T" "$@"; }
ad() { as_user "$B/autodist" --home "$H" --coordinator tcp://127.0.0.1:$P "$@"; }
now() { date +%s.%N; }
cleanup() {
    ad down >/dev/null 2>&1
    rm -rf "$T"
}
trap cleanup EXIT
ad up --agent-endpoint tcp://127.0.0.1:$((P + 1)) --metrics-endpoint tcp://127.0.0.1:$((P + 2)) \
    --insecure >/dev/null 2>&1 || { echo "bench_oar: autodist up failed" >&2; exit 1; }

job() { # job FILE NAME STEPS [RESERVATION]
    cat >"$T/$1" <<EOF
name: $2
model: mlp
dataset: {synthetic: {shape: [1, 28, 28], classes: 10, samples: 4096}}
steps: $3
batch_size: 64
layout: {nodes: 2, procs_per_node: 1, threads_per_proc: 1}
EOF
    [ -n "${4:-}" ] && echo "reservation: $4" >>"$T/$1"
    chown "$U" "$T/$1"
}
stats() { python3 -c '
import statistics as s, sys
v = [float(x) for x in sys.argv[1:]]
print("median %.2f s (min %.2f, max %.2f, n %d)" % (s.median(v), min(v), max(v), len(v)))' "$@"; }

# 1. Running -> first step, and the trainer's own start-up.
job run.yaml run-latency 20 "{nodes: 2, walltime: 0:05:00}"
lat=()
for i in $(seq "$REPS"); do
    t_run=
    out=$T/lat$i.out
    ad submit "$T/run.yaml" 2>&1 | while IFS= read -r line; do printf '%s %s\n' "$(now)" "$line"; done >"$out" &
    pid=$!
    id=
    while kill -0 $pid 2>/dev/null || [ -z "$id" ]; do
        [ -z "$t_run" ] && t_run=$(awk '/: Running$/ {print $1; exit}' "$out")
        [ -z "$id" ] && id=$(sed -n 's/.*submitted job \([0-9]*\) .*/\1/p' "$out" | head -1)
        if [ -n "$id" ] && grep -q '"event":"step"' "$H/logs/$id/metrics.jsonl" 2>/dev/null; then
            t_step=$(now)
            break
        fi
        kill -0 $pid 2>/dev/null || break
        sleep 0.02
    done
    wait $pid
    d=$(python3 -c "print(round($t_step - $t_run, 3))")
    echo "running->first step $i: $d s (job $id)"
    lat+=("$d")
done
own=()
for i in $(seq "$REPS"); do
    m=$T/own$i.jsonl
    t0=$(now)
    as_user mpirun --oversubscribe --mca btl_vader_single_copy_mechanism none -np 2 \
        "$B/autodist-train" --model mlp --dataset synthetic --input-shape 1x28x28 --classes 10 \
        --samples 4096 --batch-size 64 --steps 20 --threads 1 --metrics "$m" >/dev/null 2>&1 &
    pid=$!
    until grep -q '"event":"step"' "$m" 2>/dev/null; do sleep 0.02; done
    t1=$(now)
    wait $pid
    d=$(python3 -c "print(round($t1 - $t0, 3))")
    echo "trainer start-up $i: $d s"
    own+=("$d")
done
echo "Running -> first step: $(stats "${lat[@]}")"
echo "trainer's own start-up (mpirun here -> first step): $(stats "${own[@]}")"

# 3. a sweep cut by walltime: each configuration COMPLETED exactly once.
cat >"$T/sw.yaml" <<EOF
name: bench-cut
base:
  model: mlp
  dataset: {synthetic: {shape: [1, 28, 28], classes: 10, samples: 4096}}
  steps: 4000
  batch_size: 64
  checkpoint_every: 200
  layout: {nodes: 1, procs_per_node: 1, threads_per_proc: 1}
  reservation: {nodes: 2, walltime: 0:00:30}
grid:
  seed: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
EOF
chown "$U" "$T/sw.yaml"
ad sweep "$T/sw.yaml" 2>&1 | grep -E "reservation [0-9]+ for|DONE"
sqlite3 "$H/runs.db" "select 'configurations ' || count(distinct config_hash) || ', COMPLETED runs ' ||
    sum(r.state='COMPLETED') || ', interrupted runs ' || sum(r.state!='COMPLETED') || ', reservations ' ||
    (select count(distinct json_extract(record, '\$.reservation.granted.job_id')) from run_records
     where run in (select r.id from runs r join sweeps s on r.sweep=s.id where s.name='bench-cut'))
    from runs r join sweeps s on r.sweep=s.id where s.name='bench-cut'"
