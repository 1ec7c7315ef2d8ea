#!/usr/bin/env bash
# bench_int8.sh - int8 against fp32 (issue 12's target: >= 2x lower p50 latency at batch 1,
# <= 1 point of test accuracy lost), for trained runs or checkpoint folders:
#   1. autodist export CK -o DIR            (fp32: test accuracy, p50/p95 at batch 1, batch 32)
#   2. autodist optimize DIR --int8         (the variant, measured on the same CPU right after
#                                            its parent is measured again)
#   3. one table row per model, from `autodist models --json`
# usage: bench/bench_int8.sh RUN|CHECKPOINT_DIR...    (HOME_DIR=~/.autodist BUILD=build
#        THREADS=1 CALIBRATE=256 may be set; the artifacts go to a temporary folder)
# Example: bench/bench_int8.sh 6 ~/.autodist/checkpoints/12
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: bench/bench_int8.sh RUN|CHECKPOINT_DIR..." >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "$ROOT" && cd "${BUILD:-build}" && pwd)
HOME_DIR=${HOME_DIR:-${AUTODIST_HOME:-$HOME/.autodist}}
THREADS=${THREADS:-1}
CALIBRATE=${CALIBRATE:-256}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-int8.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
AD=("$BUILD/autodist" --home "$HOME_DIR")

ids=()
for src in "$@"; do
    name=int8bench-$(basename "$src")-$$
    echo "== export $src" >&2
    "${AD[@]}" export "$src" -o "$WORK/$name" --threads "$THREADS" >&2
    echo "== optimize $name --int8 --calibrate $CALIBRATE" >&2
    "${AD[@]}" optimize "$WORK/$name" --int8 --calibrate "$CALIBRATE" --threads "$THREADS" >&2
    ids+=("$name")
done
"${AD[@]}" models --json > "$WORK/compare.json"
/usr/bin/python3 - "$WORK/compare.json" "${ids[@]}" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
rows = doc["models"]
byname = {r["name"]: r for r in rows}
print("| model | size fp32 -> int8 | accuracy fp32 -> int8 (points) | p50 batch 1, ms | "
      "p50 ratio | batch 32, samples/s | targets |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for name in sys.argv[2:]:
    f, q = byname[name], byname[name + "-int8"]
    d = (q["accuracy"] - f["accuracy"]) * 100
    ratio = f["p50_ms"] / q["p50_ms"]
    ok = "ok" if ratio >= 2 and d >= -1 else "MISSED"
    print("| %s (%s, %d test images) | %.1f MiB -> %.1f MiB | %.2f %% -> %.2f %% (%+.2f) | "
          "%.3f -> %.3f | %.1fx | %.0f -> %.0f | %s |" % (
              f["arch"], name, f["test_samples"], f["size_bytes"] / 2**20,
              q["size_bytes"] / 2**20, f["accuracy"] * 100, q["accuracy"] * 100, d,
              f["p50_ms"], q["p50_ms"], ratio, f["tput_b32"], q["tput_b32"], ok))
print()
print("backend:", byname[sys.argv[2]].get("backend"))
EOF
# The artifacts go with the temporary folder: their rows go too.
for name in "${ids[@]}"; do
    "${AD[@]}" models rm "$name-int8" "$name" >/dev/null
done
