#!/usr/bin/env bash
# scaling.sh - "threads, processes or nodes?" on whatever machine runs it.
#
# Writes a sweep for this machine (every layout family up to its cores: 1 process x T
# threads, P processes x 1 thread, N simulated nodes x 1 process) for two workloads — the
# cnn on Fashion-MNIST and resnet18 on synthetic 3x32x32 images — runs it on the embedded
# default with N agents, and draws the speedups with `autodist speedup --plot`.
#
# Usage: experiments/scaling.sh [--agents N] [--repeats R] [--out DIR]
#   --agents N    simulated nodes for the "nodes" family (default 2; `autodist up --agents`)
#   --repeats R   runs of each layout (default 2)
#   --out DIR     where the sweep files, tables and plots go (default ~/.autodist/scaling)
# Rerunning it resumes the sweeps (finished layouts are skipped). See docs/scaling.md.
set -euo pipefail
cd "$(dirname "$0")/.."
AD=build/autodist
AGENTS=2
REPEATS=2
OUT=${AUTODIST_HOME:-$HOME/.autodist}/scaling
while [ $# -gt 0 ]; do
    case $1 in
    --agents) AGENTS=$2; shift 2 ;;
    --repeats) REPEATS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "scaling.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
done
[ -x "$AD" ] || { echo "scaling.sh: $AD not built; run scripts/build.sh first" >&2; exit 1; }
mkdir -p "$OUT"
CORES=$(nproc)

# The layouts of one family each, as YAML flow mappings.
layouts() {
    local t p n
    echo "    - {nodes: 1, procs_per_node: 1, threads_per_proc: 1}"
    for ((t = 2; t <= CORES; t *= 2)); do
        echo "    - {nodes: 1, procs_per_node: 1, threads_per_proc: $t}"
    done
    for ((p = 2; p <= CORES; p *= 2)); do
        echo "    - {nodes: 1, procs_per_node: $p, threads_per_proc: 1}"
    done
    for ((n = 2; n <= AGENTS; n++)); do
        echo "    - {nodes: $n, procs_per_node: 1, threads_per_proc: 1}"
    done
}

cat >"$OUT/scaling-cnn.yaml" <<EOF
# Written by experiments/scaling.sh for a $CORES-core machine and $AGENTS simulated nodes.
name: scaling-cnn
base:
  model: cnn
  dataset: fashion-mnist
  steps: 120
  batch_size: 256
  optimizer: {type: sgd, lr: 0.05, momentum: 0.9}
  layout: {nodes: 1, procs_per_node: 1, threads_per_proc: 1}
grid:
  layout:
$(layouts)
repeats: $REPEATS
EOF
cat >"$OUT/scaling-resnet18.yaml" <<EOF
# Written by experiments/scaling.sh for a $CORES-core machine and $AGENTS simulated nodes.
name: scaling-resnet18
base:
  model: resnet18
  dataset: synthetic
  steps: 24
  batch_size: 64
  layout: {nodes: 1, procs_per_node: 1, threads_per_proc: 1}
grid:
  layout:
$(layouts)
repeats: $REPEATS
EOF

echo "== autodist up --agents $AGENTS"
"$AD" up --agents "$AGENTS"
for s in cnn resnet18; do
    echo "== sweep $OUT/scaling-$s.yaml"
    "$AD" sweep "$OUT/scaling-$s.yaml" --max-parallel 1 --retry-failed
done
echo "== speedups (autodist speedup)"
"$AD" speedup --where "model in (cnn, resnet18) and batch in (64, 256)" \
    --plot "$OUT/scaling.svg" | tee "$OUT/scaling.txt"
"$AD" speedup --where "model in (cnn, resnet18) and batch in (64, 256)" --csv >"$OUT/scaling.csv"
echo "== table: $OUT/scaling.txt, data: $OUT/scaling.csv, plot: $OUT/scaling.svg"
