#!/usr/bin/env bash
# bench_reproduce.sh - `autodist reproduce` on this machine: an original run repeated REPEATS
# times, then reproduced REPEATS times from its record; prints the ratio of the new mean to the
# recorded throughput and both spreads (issue 10's target: within the original's spread).
#
# Usage: [REPEATS=3] [JOB=experiments/...yaml] bench/bench_reproduce.sh
# Knobs: REPEATS (default 3), JOB (a job file; default: cnn on fashion-mnist, 100 steps of
# batch 64, 1x1x1), BIN (default build), KEEP=1 (keep the temporary home).
# Exit status: 0 done, 1 a command failed, 2 bad setup.
set -euo pipefail
cd "$(dirname "$0")/.."

REPEATS=${REPEATS:-3}
BIN=${BIN:-build}
KEEP=${KEEP:-0}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
if [ ! -x "$BIN/autodist" ] || [ ! -x "$BIN/autodistd" ]; then
    echo "bench_reproduce.sh: $BIN/autodist is not built (run scripts/build.sh)" >&2
    exit 2
fi

home=$(mktemp -d "${TMPDIR:-/tmp}/autodist-bench-reproduce.XXXXXX")
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ep_c="tcp://127.0.0.1:$(free_port)"
ep_a="tcp://127.0.0.1:$(free_port)"
ep_m="tcp://127.0.0.1:$(free_port)"
ad() { "$BIN/autodist" --home "$home" --coordinator "$ep_c" "$@"; }
cleanup() {
    ad down >/dev/null 2>&1 || true
    if [ "$KEEP" = 1 ]; then echo "home kept: $home" >&2; else rm -rf "$home"; fi
}
trap cleanup EXIT

JOB=${JOB:-}
if [ -z "$JOB" ]; then
    JOB="$home/job.yaml"
    cat >"$JOB" <<'EOF'
name: bench-reproduce
model: cnn
dataset: fashion-mnist
steps: 100
batch_size: 64
layout: {nodes: 1, procs_per_node: 1, threads_per_proc: 1}
EOF
fi

ad up --agents 1 --no-bench --agent-endpoint "$ep_a" --metrics-endpoint "$ep_m" >/dev/null
for i in $(seq "$REPEATS"); do
    ad submit "$JOB" --wait >/dev/null
done
run=$(ad runs --json | "$PY" -c 'import json,sys; print(min(r["id"] for r in json.load(sys.stdin)["runs"]))')
ad --json reproduce "$run" --repeats "$REPEATS" >"$home/reproduce.json"
"$PY" - "$home/reproduce.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
def spread(s):
    return "mean %.1f, min %.1f, max %.1f, relative sd %.1f%% (%d runs)" % (
        s["mean"], s["min"], s["max"], 100 * s["rel_sd"], s["runs"])
print("recorded           %.1f samples/s (run %d)" % (d["recorded"], d["run"]))
print("original repeats   " + spread(d["original_repeats"]))
print("reproduced         " + spread(d["new"]))
print("ratio              %.3f (new mean / recorded)" % d["ratio"])
o, n = d["original_repeats"], d["new"]
print("within the original's min-max: %s" % ("yes" if o["min"] <= n["mean"] <= o["max"] else "no"))
print("differences: %s" % (", ".join(x["field"] for x in d["differences"]) or "none"))
EOF
