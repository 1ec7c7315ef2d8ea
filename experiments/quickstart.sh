#!/usr/bin/env bash
# quickstart.sh - train the Fashion-MNIST cnn on this machine's cores and report its speedup.
#
# Until the coordinator and planner land, the plan is simple: one rank per core,
# one thread each.  The baseline (1 process x 1 thread) is measured first, on the
# same model, data and global batch, so the speedup is measured, not assumed.
# Usage: experiments/quickstart.sh [EPOCHS]      (default 1)
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=build/autodist-train
EPOCHS=${1:-1}
BATCH=128
HOME_DIR=${AUTODIST_HOME:-$HOME/.autodist}
RUN_DIR="$HOME_DIR/logs/quickstart-$(date +%Y%m%d-%H%M%S)"
PY=/usr/bin/python3

[ -x "$BIN" ] || { echo "quickstart: $BIN not built; run scripts/build.sh first" >&2; exit 1; }
mkdir -p "$RUN_DIR"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPI=(mpirun -q --oversubscribe --bind-to none --mca btl_vader_single_copy_mechanism none)

CORES=$(nproc)
RANKS=$CORES
echo "== plan: cnn on fashion-mnist, global batch $BATCH, $EPOCHS epoch(s)"
echo "   layout: 1 node x $RANKS process(es) x 1 thread (one rank per core, $CORES cores)"
echo "   logs and metrics: $RUN_DIR"

# Mean samples/s of a metrics file's step events, skipping warm-up steps.
rate() {
    "$PY" - "$1" <<'PY'
import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
batch = events[0]["config"]["batch_size"]
steps = [e for e in events if e["event"] == "step"]
timed = steps[5:] if len(steps) > 10 else steps
print("%.1f" % (len(timed) * batch / sum(s["step_s"] for s in timed)))
PY
}

echo "== baseline: 1 process x 1 thread, 100 steps"
"${MPI[@]}" -np 1 "$BIN" --model cnn --batch-size $BATCH --steps 100 --threads 1 \
    --metrics "$RUN_DIR/baseline.jsonl" --log-every 50
BASE=$(rate "$RUN_DIR/baseline.jsonl")

echo "== training: $RANKS process(es) x 1 thread"
"${MPI[@]}" -np "$RANKS" "$BIN" --model cnn --batch-size $BATCH --epochs "$EPOCHS" \
    --threads 1 --eval --lr 0.05 --momentum 0.9 --seed 1 \
    --metrics "$RUN_DIR/run.jsonl" --checkpoint "$RUN_DIR/checkpoint"
RUN=$(rate "$RUN_DIR/run.jsonl")

"$PY" - "$RUN_DIR/run.jsonl" "$BASE" "$RUN" "$RANKS" <<'PY'
import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
base, run, ranks = float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
acc = [e for e in events if e["event"] == "eval"][-1]["accuracy"]
speedup = run / base
print("== result")
print("   throughput  %8.0f samples/s   (baseline %.0f samples/s)" % (run, base))
print("   speedup     %8.2fx            efficiency %.0f%% of %d cores" %
      (speedup, 100 * speedup / ranks, ranks))
print("   test accuracy %6.2f%%" % (100 * acc))
PY
