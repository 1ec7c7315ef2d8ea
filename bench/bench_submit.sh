#!/usr/bin/env bash
# bench_submit.sh - from `autodist submit` to the first training step, against the
# trainer's own start-up (the same mpirun + autodist-train command run by hand).
#
# Target (issue 3): on the embedded default, submit -> first step takes at most 2 s more
# than the trainer needs to reach its first step when started directly.
#
# Usage: bench/bench_submit.sh            env: REPEATS (default 5), LAYOUTS ("1 2": procs)
# Starts its own coordinator and agent on free loopback ports with a temporary home, so
# it does not touch ~/.autodist or a running `autodist up`.  Run it on an idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/build
REPEATS=${REPEATS:-5}
LAYOUTS=${LAYOUTS:-"1 2"}
PY=/usr/bin/python3

for b in autodist autodistd autodist-agent autodist-train; do
    [ -x "$BIN/$b" ] || { echo "bench_submit: $BIN/$b not built; run scripts/build.sh" >&2; exit 1; }
done
T=$(mktemp -d /tmp/ad_bench_submit.XXXXXX)
ports=($($PY -c '
import socket
s = [socket.socket() for _ in range(3)]
for x in s: x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))'))
AD="$BIN/autodist --home $T/home --coordinator tcp://127.0.0.1:${ports[0]}"
cleanup() {
    $AD down >/dev/null 2>&1 || true
    rm -rf "$T"
}
trap cleanup EXIT

now() { date +%s.%N; }
# Wait until FILE has a step event; print the time.
wait_step() {
    until grep -q '"event":"step"' "$1" 2>/dev/null; do sleep 0.005; done
    now
}
median() { $PY -c 'import sys, statistics; print("%.3f" % statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }

$AD up --agent-endpoint "tcp://127.0.0.1:${ports[1]}" \
    --metrics-endpoint "tcp://127.0.0.1:${ports[2]}" >/dev/null

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
echo "## submit -> first step ($(nproc) cores, cnn on fashion-mnist, batch 256, $REPEATS repeats)"
echo
echo "| layout | trainer alone: start -> first step (s) | autodist submit -> first step (s) | overhead (s) |"
echo "| --- | --- | --- | --- |"
for ppn in $LAYOUTS; do
    direct=() viaad=()
    cat >"$T/job.yaml" <<EOF
name: bench-submit
model: cnn
dataset: fashion-mnist
steps: 5
batch_size: 256
layout: {nodes: 1, procs_per_node: $ppn, threads_per_proc: 1}
EOF
    for r in $(seq 1 "$REPEATS"); do
        # The trainer alone, as the launcher would start it (same options, no coordinator).
        m=$T/direct-$ppn-$r.jsonl
        t0=$(now)
        mpirun -q -np "$ppn" --oversubscribe --bind-to none \
            --mca btl_vader_single_copy_mechanism none "$BIN/autodist-train" --model cnn \
            --dataset fashion-mnist --batch-size 256 --steps 5 --threads 1 --metrics "$m" \
            >/dev/null 2>&1 &
        t1=$(wait_step "$m")
        wait
        direct+=($($PY -c "print('%.2f' % ($t1 - $t0))"))

        # The same through the coordinator.
        t0=$(now)
        id=$($AD submit "$T/job.yaml" | sed -n 's/^submitted job \([0-9]*\).*/\1/p')
        t1=$(wait_step "$T/home/logs/$id/metrics.jsonl")
        until $AD --json status "$id" | grep -q '"state": "COMPLETED"'; do sleep 0.1; done
        viaad+=($($PY -c "print('%.2f' % ($t1 - $t0))"))
    done
    d=$(median "${direct[@]}")
    v=$(median "${viaad[@]}")
    echo "| 1x${ppn}x1 | $d (${direct[*]}) | $v (${viaad[*]}) | $($PY -c "print('%.3f' % ($v - $d))") |"
done
echo
echo "command: bench/bench_submit.sh (REPEATS=$REPEATS)"
