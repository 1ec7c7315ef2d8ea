#!/usr/bin/env bash
# auto-vs-best.sh - how good is `layout: auto` on this machine?
#
# For each workload of experiments/scaling.sh (cnn on Fashion-MNIST, resnet18 on synthetic
# data), submit the same job with `layout: auto` to a coordinator with an EMPTY store (a
# temporary home: cold start, so the choice rests on the micro-benchmarks and at most 3
# probes), then compare the layout it chose with the layouts the scaling sweep measured:
# chosen / best measured throughput (the target is >= 0.97).
#
# Usage: experiments/auto-vs-best.sh [--agents N]     (run experiments/scaling.sh first;
#        the sweep's results are read from $AUTODIST_HOME, default ~/.autodist)
set -euo pipefail
cd "$(dirname "$0")/.."
AD=$PWD/build/autodist
AGENTS=2
while [ $# -gt 0 ]; do
    case $1 in
    --agents) AGENTS=$2; shift 2 ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "auto-vs-best.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
done
MAIN_HOME=${AUTODIST_HOME:-$HOME/.autodist}
PY=/usr/bin/python3
T=$(mktemp -d /tmp/autodist-auto.XXXXXX)
ports=($($PY -c '
import socket
s = [socket.socket() for _ in range(3)]
for x in s: x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))'))
FRESH="$AD --home $T/home --coordinator tcp://127.0.0.1:${ports[0]}"
trap '$FRESH down >/dev/null 2>&1 || true; rm -rf "$T"' EXIT

$FRESH up --agents "$AGENTS" --agent-endpoint "tcp://127.0.0.1:${ports[1]}" \
    --metrics-endpoint "tcp://127.0.0.1:${ports[2]}" >/dev/null
echo "| workload | chosen layout (probes) | its measured samples/s | best measured layout | best samples/s | chosen / best |"
echo "| --- | --- | --- | --- | --- | --- |"
for w in cnn resnet18; do
    sweep=$MAIN_HOME/scaling/scaling-$w.yaml
    [ -f "$sweep" ] || { echo "auto-vs-best.sh: $sweep missing: run experiments/scaling.sh" >&2; exit 1; }
    # The sweep's base job, with layout auto.
    $PY - "$sweep" "$T/$w.yaml" <<'PY'
import sys
lines = open(sys.argv[1]).read().split("\n")
out, in_base = [], False
for l in lines:
    if l.startswith("base:"):
        in_base = True
        out.append("name: auto-" + sys.argv[2].rsplit("/", 1)[1][:-5])
        continue
    if in_base and l.startswith("  "):
        if not l.strip().startswith("layout:"):
            out.append(l[2:])
        continue
    in_base = False
out.append("layout: auto")
open(sys.argv[2], "w").write("\n".join(l for l in out if l and not l.startswith("#")) + "\n")
PY
    $FRESH submit "$T/$w.yaml" --wait >"$T/$w.out" 2>&1 || { cat "$T/$w.out" >&2; exit 1; }
    id=$(sed -n 's/^submitted job \([0-9]*\).*/\1/p' "$T/$w.out")
    chosen=$($FRESH --json status "$id" | $PY -c '
import json, sys
j = json.load(sys.stdin)["jobs"][0]
print("%dx%dx%d" % (j["nodes"], j["procs_per_node"], j["threads_per_proc"]))')
    probes=$($FRESH --json jobs | $PY -c '
import json, sys
print(sum(1 for j in json.load(sys.stdin)["jobs"] if "-probe-" in j["name"] and j["name"].startswith("auto-'"$w"'")))')
    AUTODIST_HOME=$MAIN_HOME $AD speedup --json --where "model = $w" | $PY -c '
import json, sys
rows = json.load(sys.stdin)
rows = rows["speedups"]
lay = lambda r: "%dx%dx%d" % (r["nodes"], r["procs_per_node"], r["threads_per_proc"])
best = max(rows, key=lambda r: r["samples_per_s"])
got = [r for r in rows if lay(r) == sys.argv[1]]
g = got[0]["samples_per_s"] if got else float("nan")
print("| %s | %s (%s probes) | %.0f | %s | %.0f | %.3f |" % (sys.argv[2], sys.argv[1], sys.argv[3], g, lay(best), best["samples_per_s"], g / best["samples_per_s"]))
' "$chosen" "$w" "$probes"
done
