#!/usr/bin/env bash
# bench_serve_ratio.sh - served against bare throughput of one layout, interleaved (issue 12's
# serving target, docs/benchmarks.md): ROUNDS times the bare model (autodist-infer-bench,
# closed loop) then autodist serve under autodist-http-load, in the same layout, so that the
# drift of a 2-core machine falls on both alike; prints each round's ratio and their mean.
# usage: bench/bench_serve_ratio.sh MODEL_DIR IMAGE [PxTxB]
#        (ROUNDS=3 DURATION=4 C=<2*P*B> BUILD=build may be set)
set -euo pipefail

MODEL=${1:?usage: bench/bench_serve_ratio.sh MODEL_DIR IMAGE [PxTxB]}
IMAGE=${2:?usage: bench/bench_serve_ratio.sh MODEL_DIR IMAGE [PxTxB]}
LAYOUT=${3:-2x1x8}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-4}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "$ROOT" && cd "${BUILD:-build}" && pwd)
IFS=x read -r P T B <<<"$LAYOUT"
C=${C:-$((2 * P * B))}
SERVER=
cleanup() {
    if [ -n "$SERVER" ]; then
        kill "$SERVER" 2>/dev/null || true
        wait "$SERVER" 2>/dev/null || true
    fi
}
trap cleanup EXIT
for prog in autodist-infer-bench autodist-http-load autodist-serve; do
    [ -x "$BUILD/$prog" ] || { echo "bench_serve_ratio.sh: $BUILD/$prog is missing" >&2; exit 2; }
done
[ -f "$MODEL/model.json" ] || { echo "bench_serve_ratio.sh: $MODEL: no model.json" >&2; exit 2; }
[ -f "$IMAGE" ] || { echo "bench_serve_ratio.sh: $IMAGE: no such file" >&2; exit 2; }

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
echo "layout ${P}x${T}x${B}, C = $C, ${DURATION}s each, $ROUNDS rounds, image $IMAGE"
echo "round  bare/s  served/s  ratio"
sum=0
for r in $(seq 1 "$ROUNDS"); do
    bare=$("$BUILD/autodist-infer-bench" "$MODEL" --layouts "$LAYOUT" --duration "$DURATION" \
               --open 0 --no-seq --concurrency "$C" 2>/dev/null |
           python3 -c 'import json, sys
print(max(json.loads(l)["samples_per_s"] for l in sys.stdin if l.strip()))')
    "$BUILD/autodist-serve" "$MODEL" --port "$PORT" --processes "$P" --threads "$T" \
        --max-batch "$B" >/dev/null 2>&1 &
    SERVER=$!
    for _ in $(seq 1 300); do
        curl -fs "http://127.0.0.1:$PORT/api/ready" >/dev/null 2>&1 && break
        kill -0 "$SERVER" 2>/dev/null || { echo "bench_serve_ratio.sh: the server died" >&2; exit 1; }
        sleep 0.2
    done
    served=$("$BUILD/autodist-http-load" "http://127.0.0.1:$PORT/api/predict" --image "$IMAGE" \
                 --concurrency "$C" --duration "$DURATION" --warmup 1 |
             python3 -c 'import json, sys; print(json.load(sys.stdin)["requests_per_s"])')
    kill "$SERVER"
    wait "$SERVER" 2>/dev/null || true
    SERVER=
    ratio=$(python3 -c "print('%.3f' % ($served / $bare))")
    sum=$(python3 -c "print($sum + $ratio)")
    printf '%5d  %6.1f  %8.1f  %5s\n' "$r" "$bare" "$served" "$ratio"
done
python3 -c "print('mean ratio %.3f (target >= 0.90)' % ($sum / $ROUNDS))"
