#!/usr/bin/env bash
# bench_intervals.sh - are autodist's speedups trustworthy on this machine?  BASE repeats of a
# 1x1x1 job pin the baseline, then REPEATS repeats of the same job at 1x2x1: their reported
# speedup intervals must contain each other (issue 11).  Then one 1x2x1 run while another
# process loads every core: it must be flagged `noisy`, and a quiet one must not be.
#
# Usage: [BASE=3] [REPEATS=10] [STEPS=150] bench/bench_intervals.sh
# Knobs: BIN (default build), KEEP=1 (keep the temporary home).
# Exit status: 0 all three checks hold, 1 one failed, 2 bad setup.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE=${BASE:-3}
REPEATS=${REPEATS:-10}
STEPS=${STEPS:-150}
BIN=${BIN:-build}
KEEP=${KEEP:-0}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
if [ ! -x "$BIN/autodist" ] || [ ! -x "$BIN/autodistd" ]; then
    echo "bench_intervals.sh: $BIN/autodist is not built (run scripts/build.sh)" >&2
    exit 2
fi

home=$(mktemp -d "${TMPDIR:-/tmp}/autodist-bench-intervals.XXXXXX")
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ep_c="tcp://127.0.0.1:$(free_port)"
ep_a="tcp://127.0.0.1:$(free_port)"
ep_m="tcp://127.0.0.1:$(free_port)"
ad() { "$BIN/autodist" --home "$home" --coordinator "$ep_c" "$@"; }
burners=()
cleanup() {
    for p in "${burners[@]}"; do kill "$p" 2>/dev/null || true; done
    ad down >/dev/null 2>&1 || true
    if [ "$KEEP" = 1 ]; then echo "home kept: $home" >&2; else rm -rf "$home"; fi
}
trap cleanup EXIT

job() { # job NAME PROCS
    cat >"$home/$1.yaml" <<EOF
name: $1
model: cnn
dataset: fashion-mnist
steps: $STEPS
batch_size: 64
layout: {nodes: 1, procs_per_node: $2, threads_per_proc: 1}
EOF
    echo "$home/$1.yaml"
}

ad up --agents 1 --no-bench --agent-endpoint "$ep_a" --metrics-endpoint "$ep_m" >/dev/null
b=$(job base 1)
p=$(job pair 2)
echo "baseline: $BASE x 1x1x1, $STEPS steps of batch 64 (cnn, fashion-mnist)"
for i in $(seq "$BASE"); do ad submit "$b" --tag phase=base --wait >/dev/null; done
echo "repeats: $REPEATS x 1x2x1"
for i in $(seq "$REPEATS"); do ad submit "$p" --tag phase=repeat --wait >/dev/null; done
echo "noisy: 1x2x1 while $(nproc) busy loops run"
for i in $(seq "$(nproc)"); do (while :; do :; done) & burners+=($!); done
ad submit "$p" --tag phase=noisy --wait >/dev/null
for q in "${burners[@]}"; do kill "$q" 2>/dev/null || true; done
burners=()
sleep 5
ad submit "$p" --tag phase=quiet --wait >/dev/null
ad baseline
ad --json runs >"$home/runs.json"
"$PY" - "$home/runs.json" <<'EOF'
import json, sys
runs = json.load(open(sys.argv[1]))["runs"]
by = {}
for r in runs:
    by.setdefault(r.get("tags", {}).get("phase"), []).append(r)
rep = sorted(by.get("repeat", []), key=lambda r: r["id"])
ok = True
print("%5s %10s %8s %19s  %s" % ("run", "samples/s", "speedup", "interval", "flags"))
for r in rep + by.get("noisy", []) + by.get("quiet", []):
    print("%5d %10.1f %8.2f   [%6.2f, %6.2f]  %s" % (r["id"], r["samples_per_s"], r["speedup"],
          r["speedup_lo"], r["speedup_hi"], ",".join(r.get("flags") or []) or "-"))
pairs = [(a, b) for a in rep for b in rep if a is not b]
overlap = all(a["speedup_lo"] <= b["speedup_hi"] and b["speedup_lo"] <= a["speedup_hi"] for a, b in pairs)
point = all(a["speedup_lo"] <= b["speedup"] <= a["speedup_hi"] for a, b in pairs)
sp = [r["speedup"] for r in rep]
print("repeats: %d, speedup min %.2f max %.2f; every pair of intervals overlaps: %s;"
      " every interval holds every other repeat's speedup: %s" % (len(rep), min(sp), max(sp),
      "yes" if overlap else "NO", "yes" if point else "no"))
ok &= overlap
noisy = by.get("noisy", [])
quiet = by.get("quiet", [])
fn = bool(noisy) and "noisy" in (noisy[0].get("flags") or [])
fq = bool(quiet) and "noisy" not in (quiet[0].get("flags") or [])
print("loaded run flagged noisy: %s; quiet run not flagged: %s" % ("yes" if fn else "NO", "yes" if fq else "NO"))
ok &= fn and fq
sys.exit(0 if ok else 1)
EOF
