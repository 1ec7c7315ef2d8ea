#!/usr/bin/env bash
# bench_trainer.sh - autodist-train against PyTorch DDP (gloo), same networks, same data,
# same layouts, one after the other in one invocation.  Prints a markdown table and writes
# it to $OUT.  Run by hand, on an otherwise idle machine; see bench/README.md.
#
#   bench/bench_trainer.sh                  # the default sweep (~10-15 min on 2 cores)
#   STEPS=10 bench/bench_trainer.sh         # plumbing check only: 10 steps everywhere
#   ACC=1 bench/bench_trainer.sh            # also the 2-epoch test-accuracy comparison
#
# Environment (all optional):
#   CONFIGS        model:global-batch list    (default "cnn:128 cnn:256 resnet18:64")
#   LAYOUTS        ranks x threads list       (default "1x1 1x2 2x1 4x1")
#   CNN_STEPS      cnn steps at batch 128; other batches keep the same number of samples
#                  (batch 256: half the steps)  (default 200)
#   RESNET_STEPS   resnet18 steps              (default 20)
#   STEPS          if set, every configuration runs exactly this many steps
#   WARMUP         cnn steps left out of the timing      (default 10)
#   RESNET_WARMUP  resnet18 steps left out of the timing (default 3)
#                  (a warm-up as long as the run is cut to half the steps)
#   ACC=1          also train cnn 2 epochs on 2 ranks, batch 128, and compare test accuracy
#   ACC_EPOCHS     epochs for ACC (default 2)
#   OUT            where the table goes        (default bench/results-<date>.md)
#   TRAINER        the trainer binary          (default build/autodist-train)
#   PYTHON         Debian's python3 with torch (default /usr/bin/python3)
#   RUN_TIMEOUT    seconds one run may take before it is killed (default 900)
#   MPIRUN_ARGS    extra mpirun arguments
#   DDP_ARGS       extra ddp_peer.py arguments, e.g. "--stock" for plain PyTorch layers
#                  (nn.Linear on Debian's reference BLAS, NCHW) instead of the default
#                  oneDNN linear + channels-last input that autodist-train also uses
#
# Exit status: 0 all runs done, 1 a run failed (its row reads "fail"), 2 bad setup.
set -euo pipefail
export LC_NUMERIC=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
prog=bench_trainer.sh

TRAINER=${TRAINER:-$root/build/autodist-train}
PYTHON=${PYTHON:-/usr/bin/python3}
PEER=$here/ddp_peer.py
CONFIGS=${CONFIGS:-"cnn:128 cnn:256 resnet18:64"}
LAYOUTS=${LAYOUTS:-"1x1 1x2 2x1 4x1"}
CNN_STEPS=${CNN_STEPS:-200}
RESNET_STEPS=${RESNET_STEPS:-20}
STEPS=${STEPS:-}
WARMUP=${WARMUP:-10}
RESNET_WARMUP=${RESNET_WARMUP:-3}
ACC=${ACC:-0}
ACC_EPOCHS=${ACC_EPOCHS:-2}
ACC_SEEDS=${ACC_SEEDS:-"1 2 3"}
RUN_TIMEOUT=${RUN_TIMEOUT:-900}
MPIRUN_ARGS=${MPIRUN_ARGS:-}
DDP_ARGS=${DDP_ARGS:-}
OUT=${OUT:-$root/bench/results-$(date +%Y%m%d-%H%M%S).md}

die() { echo "$prog: error: $*" >&2; exit 2; }

if [ ! -x "$TRAINER" ]; then
    die "$TRAINER not found or not executable: build the trainer first" \
        "(cmake -S . -B build && cmake --build build), or point TRAINER at it"
fi
command -v mpirun >/dev/null || die "mpirun not found (Debian package openmpi-bin)"
[ -x "$PYTHON" ] || die "$PYTHON not found: set PYTHON to a python3 that has torch"
"$PYTHON" -c 'import torch, numpy' 2>/dev/null ||
    die "$PYTHON cannot import torch and numpy (Debian: python3-torch python3-numpy)"
is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }
for v in CNN_STEPS RESNET_STEPS WARMUP RESNET_WARMUP ACC_EPOCHS RUN_TIMEOUT; do
    is_uint "${!v}" || die "$v must be a non-negative integer, got '${!v}'"
done
[ -z "$STEPS" ] || { is_uint "$STEPS" && [ "$STEPS" -ge 2 ]; } ||
    die "STEPS must be an integer of at least 2, got '$STEPS'"
for l in $LAYOUTS; do
    [[ $l =~ ^[1-9][0-9]*x[1-9][0-9]*$ ]] || die "LAYOUTS: '$l' is not RANKSxTHREADS"
done
for c in $CONFIGS; do
    [[ $c =~ ^(cnn|resnet18):[1-9][0-9]*$ ]] || die "CONFIGS: '$c' is not cnn:BATCH or resnet18:BATCH"
done
mkdir -p "$(dirname "$OUT")" || die "cannot create the folder of $OUT"
: >>"$OUT" || die "cannot write $OUT"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench_trainer.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Open MPI: allowed as root (containers), no CMA single-copy (not permitted in containers),
# more ranks than cores allowed, and no binding so a 2-thread rank gets 2 cores.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# shellcheck disable=SC2206
mpirun_flags=(--oversubscribe --bind-to none --mca btl_vader_single_copy_mechanism none $MPIRUN_ARGS)
# shellcheck disable=SC2206
ddp_flags=($DDP_ARGS)

# Timed samples/s and exposed-communication share from an autodist metrics file.
# Prints "SAMPLES_PER_S EXPOSED_PCT" or fails with a message on stderr.
parse_metrics() { # FILE WARMUP BATCH STEPS
    "$PYTHON" - "$@" <<'EOF'
import json, sys
path, warmup, batch, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
lines, done = [], None
with open(path) as f:
    for n, raw in enumerate(f, 1):
        if not raw.strip():
            continue
        try:
            ev = json.loads(raw)
        except ValueError as e:
            sys.exit("%s:%d: not JSON: %s" % (path, n, e))
        if ev.get("event") == "step":
            lines.append(ev)
        elif ev.get("event") == "done":
            done = ev
if done is None:
    sys.exit("%s: no \"done\" event: the run did not finish" % path)
if len(lines) != steps:
    print("%s: %d step events for %d steps" % (path, len(lines), steps), file=sys.stderr)
timed = [ev for ev in lines if ev.get("step", 0) > warmup]
if not timed:
    sys.exit("%s: no step events after the %d warm-up steps" % (path, warmup))
for key in ("step_s", "exposed_comm_s"):
    if any(key not in ev for ev in timed):
        sys.exit("%s: step events without \"%s\"" % (path, key))
step_s = sum(ev["step_s"] for ev in timed)
exposed = sum(ev["exposed_comm_s"] for ev in timed)
print("%.1f %.1f" % (batch * len(timed) / step_s, 100.0 * exposed / step_s))
EOF
}

ratio() { # A B -> A/B or n/a
    "$PYTHON" -c 'import sys
try:
    a, b = float(sys.argv[1]), float(sys.argv[2]); print("%.2f" % (a / b))
except (ValueError, ZeroDivisionError):
    print("n/a")' "$1" "$2"
}

show_err() { # FILE: the end of a failed run's output
    echo "$prog: last lines of its output:" >&2
    tail -n 15 "$1" | sed 's/^/    /' >&2
}

failures=0

run_autodist() { # MODEL BATCH RANKS THREADS STEPS METRICS LOG [extra trainer args...]
    local model=$1 batch=$2 ranks=$3 threads=$4 steps=$5 metrics=$6 log=$7
    shift 7
    local data=(--dataset fashion-mnist)
    [ "$model" = resnet18 ] &&
        data=(--dataset synthetic --input-shape 3x32x32 --classes 10 --samples 50000)
    local len=(--steps "$steps")
    [ "$steps" = 0 ] && len=()
    OMP_NUM_THREADS=$threads timeout -k 20 "$RUN_TIMEOUT" \
        mpirun -np "$ranks" "${mpirun_flags[@]}" -x OMP_NUM_THREADS \
        "$TRAINER" --model "$model" "${data[@]}" --batch-size "$batch" "${len[@]}" \
        --threads "$threads" --lr 0.05 --momentum 0.9 --seed 1 \
        --metrics "$metrics" --log-every 0 "$@" >"$log" 2>&1
}

run_ddp() { # MODEL BATCH RANKS THREADS STEPS WARMUP JSON LOG [extra peer args...]
    local model=$1 batch=$2 ranks=$3 threads=$4 steps=$5 warmup=$6 json=$7 log=$8
    shift 8
    local data=(--dataset fashion-mnist)
    [ "$model" = resnet18 ] &&
        data=(--dataset synthetic --input-shape 3x32x32 --classes 10 --samples 50000)
    OMP_NUM_THREADS=$threads timeout -k 20 "$RUN_TIMEOUT" \
        "$PYTHON" "$PEER" --model "$model" "${data[@]}" --batch-size "$batch" \
        --steps "$steps" --warmup "$warmup" --world "$ranks" --threads "$threads" \
        --lr 0.05 --momentum 0.9 --seed 1 "${ddp_flags[@]}" "$@" >"$json" 2>"$log"
}


json_field() { # FILE KEY: KEY of the last JSON line of FILE
    "$PYTHON" - "$1" "$2" <<'EOF'
import json, sys
last = None
for raw in open(sys.argv[1]):
    if raw.strip().startswith("{"):
        last = raw
if last is None:
    sys.exit("%s: no JSON line" % sys.argv[1])
print(json.loads(last)[sys.argv[2]])
EOF
}

header="| model | global batch | layout (ranks x threads) | steps (timed) | autodist samples/s | DDP samples/s | autodist / DDP | DDP tuned samples/s | autodist / DDP tuned | autodist exposed comm % |"
rule="| --- | ---: | :---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
ncores=$(nproc)
t_begin=$(date +%s)
echo "$prog: trainer $("$TRAINER" --version 2>&1 | head -n 1), torch $("$PYTHON" -c 'import torch; print(torch.__version__)'), $ncores cores" >&2
echo "$prog: configs: $CONFIGS; layouts: $LAYOUTS; results to $OUT" >&2
load=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
case $load in
0.[0-4]*) ;;
*) echo "$prog: warning: load average $load: the machine is not idle, the numbers will be noisy" >&2 ;;
esac

{
    echo "# autodist-train vs PyTorch DDP ($(date '+%Y-%m-%d %H:%M'))"
    echo
    echo "Host $(hostname), $ncores cores, $("$TRAINER" --version 2>&1 | head -n 1)," \
        "torch $("$PYTHON" -c 'import torch; print(torch.__version__)') (gloo)," \
        "$(mpirun --version 2>&1 | head -n 1), load average $load at the start." \
        "Samples/s over the timed steps" \
        "(warm-up left out); ratio > 1: autodist is faster." \
        "DDP: stock PyTorch layers (what a user of python3-torch gets);" \
        "DDP tuned: the peer with autodist's two kernel choices (oneDNN linear, channels-last input)," \
        "so the ratio isolates the training loop and the communication."
    echo
    echo "$header"
    echo "$rule"
} >"$OUT"

for cfg in $CONFIGS; do
    model=${cfg%%:*}
    batch=${cfg##*:}
    if [ -n "$STEPS" ]; then
        steps=$STEPS
    elif [ "$model" = cnn ]; then
        steps=$((CNN_STEPS * 128 / batch))
        [ "$steps" -ge 2 ] || steps=2
    else
        steps=$RESNET_STEPS
    fi
    warmup=$WARMUP
    [ "$model" = resnet18 ] && warmup=$RESNET_WARMUP
    [ "$warmup" -lt "$steps" ] || warmup=$((steps / 2))
    for layout in $LAYOUTS; do
        ranks=${layout%x*}
        threads=${layout#*x}
        tag="$model-b$batch-${ranks}x$threads"
        if [ "$batch" -lt "$ranks" ]; then
            echo "$prog: $tag: skipped, batch smaller than ranks" >&2
            continue
        fi
        ad_sps=fail ad_exp=fail ddp_sps=fail
        echo "$prog: $tag: autodist-train, $steps steps ($warmup warm-up) ..." >&2
        if run_autodist "$model" "$batch" "$ranks" "$threads" "$steps" \
            "$tmp/$tag.jsonl" "$tmp/$tag.ad.log"; then
            if parsed=$(parse_metrics "$tmp/$tag.jsonl" "$warmup" "$batch" "$steps"); then
                read -r ad_sps ad_exp <<<"$parsed"
            else
                failures=$((failures + 1))
            fi
        else
            echo "$prog: $tag: autodist-train failed (status $?)" >&2
            show_err "$tmp/$tag.ad.log"
            failures=$((failures + 1))
        fi
        row_ddp=""
        for peer in stock tuned; do
            peer_args=()
            [ "$peer" = stock ] && peer_args=(--stock)
            ddp_sps=fail
            echo "$prog: $tag: DDP peer ($peer) ..." >&2
            if run_ddp "$model" "$batch" "$ranks" "$threads" "$steps" "$warmup" \
                "$tmp/$tag.$peer.json" "$tmp/$tag.$peer.log" "${peer_args[@]}"; then
                if ddp_sps=$(json_field "$tmp/$tag.$peer.json" samples_per_s); then
                    ddp_sps=$(printf '%.1f' "$ddp_sps")
                else
                    ddp_sps=fail
                    failures=$((failures + 1))
                fi
            else
                echo "$prog: $tag: DDP peer ($peer) failed (status $?)" >&2
                show_err "$tmp/$tag.$peer.log"
                failures=$((failures + 1))
            fi
            row_ddp="$row_ddp $ddp_sps | $(ratio "$ad_sps" "$ddp_sps") |"
        done
        row="| $model | $batch | ${ranks} x ${threads} | $steps ($((steps - warmup))) | $ad_sps |$row_ddp $ad_exp |"
        echo "$row" >>"$OUT"
        echo "$prog: $row" >&2
    done
done


if [ "$ACC" = 1 ]; then
    acc_rows=""
    ad_all="" ddp_all=""
    for seed in $ACC_SEEDS; do
        echo "$prog: accuracy: cnn, fashion-mnist, 2 ranks x 1 thread, batch 128, $ACC_EPOCHS epochs, seed $seed ..." >&2
        ad_acc=fail ddp_acc=fail ad_t="?" ddp_t="?"
        t0=$(date +%s)
        if run_autodist cnn 128 2 1 0 "$tmp/acc.jsonl" "$tmp/acc.ad.log" --epochs "$ACC_EPOCHS" \
            --eval --seed "$seed"; then
            ad_t=$(($(date +%s) - t0))
            if ! ad_acc=$("$PYTHON" - "$tmp/acc.jsonl" <<'EOF'
import json, sys
acc = None
for raw in open(sys.argv[1]):
    ev = json.loads(raw)
    if ev.get("event") == "eval" and ev.get("split", "test") == "test":
        acc = ev["accuracy"]
if acc is None:
    sys.exit("%s: no test \"eval\" event" % sys.argv[1])
print("%.2f" % (100 * acc))
EOF
            ); then
                ad_acc=fail
                failures=$((failures + 1))
            fi
        else
            echo "$prog: accuracy: autodist-train failed" >&2
            show_err "$tmp/acc.ad.log"
            failures=$((failures + 1))
        fi
        t0=$(date +%s)
        if OMP_NUM_THREADS=1 timeout -k 20 "$RUN_TIMEOUT" "$PYTHON" "$PEER" --model cnn \
            --dataset fashion-mnist --batch-size 128 --epochs "$ACC_EPOCHS" --eval --world 2 \
            --threads 1 --lr 0.05 --momentum 0.9 --seed "$seed" --stock "${ddp_flags[@]}" \
            >"$tmp/acc.ddp.json" 2>"$tmp/acc.ddp.log"; then
            ddp_t=$(($(date +%s) - t0))
            if acc=$(json_field "$tmp/acc.ddp.json" test_accuracy); then
                ddp_acc=$("$PYTHON" -c 'import sys; print("%.2f" % (100 * float(sys.argv[1])))' "$acc")
            else
                failures=$((failures + 1))
            fi
        else
            echo "$prog: accuracy: DDP peer failed" >&2
            show_err "$tmp/acc.ddp.log"
            failures=$((failures + 1))
        fi
        acc_rows="$acc_rows| $seed | $ad_acc | $ad_t | $ddp_acc | $ddp_t |
"
        ad_all="$ad_all $ad_acc"
        ddp_all="$ddp_all $ddp_acc"
    done
    means=$("$PYTHON" -c 'import sys, statistics as st
def m(s):
    v = [float(x) for x in s.split() if x != "fail"]
    return ("%.2f +- %.2f" % (st.mean(v), st.stdev(v))) if len(v) > 1 else (str(v[0]) if v else "n/a")
print("%s | %s" % (m(sys.argv[1]), m(sys.argv[2])))' "$ad_all" "$ddp_all")
    {
        echo
        echo "## Test accuracy: cnn, fashion-mnist, 2 ranks x 1 thread, batch 128, $ACC_EPOCHS epochs, SGD lr 0.05 momentum 0.9"
        echo
        echo "| seed | autodist-train % | wall s | PyTorch DDP % | wall s |"
        echo "| ---: | ---: | ---: | ---: | ---: |"
        printf '%s' "$acc_rows"
        echo "| mean +- stdev | ${means% | *} | | ${means#* | } | |"
    } >>"$OUT"
fi

echo "$prog: done in $(($(date +%s) - t_begin)) s, $failures failure(s); table in $OUT" >&2
cat "$OUT"
[ "$failures" = 0 ] || exit 1
