#!/usr/bin/env bash
# bench_infer.sh - the serving targets of issue 12 on this node (docs/bench-infer.md):
#   1. autodist bench-infer MODEL: the bare model's best throughput and its sequential latency
#   2. autodist-serve MODEL in the layout bench-infer chose, on a free port
#   3. served throughput under load / the bare best      (target >= 0.90)
#   4. served p99 at low load / the bare sequential p99  (target <= 1.5)
#   5. the peer a user would pick, side by side in the same run: the same network as
#      TorchScript served by Python's ThreadingHTTPServer (bench/infer_peer.py; needs
#      python3-torch; PEER_MODEL=DIR gives the fp32 artifact when MODEL_DIR is a variant,
#      PEER_THREADS its torch threads, default all cores, PyTorch's default)
# usage: bench/bench_infer.sh MODEL_DIR [IMAGE]     (DURATION=3 BUILD=build P95_MS=... may be set)
set -euo pipefail

MODEL=${1:?usage: bench/bench_infer.sh MODEL_DIR [IMAGE]}
IMAGE=${2:-}
BUILD=${BUILD:-build}
DURATION=${DURATION:-3}
P95_MS=${P95_MS:-}
PEER_MODEL=${PEER_MODEL:-$1}
PEER_THREADS=${PEER_THREADS:-$(nproc)}
PY=/usr/bin/python3
PEER=
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "$ROOT" && cd "$BUILD" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-infer.XXXXXX")
SERVER=
cleanup() {
    if [ -n "$PEER" ]; then
        kill "$PEER" 2>/dev/null || true
        wait "$PEER" 2>/dev/null || true
    fi
    if [ -n "$SERVER" ]; then
        kill "$SERVER" 2>/dev/null || true
        wait "$SERVER" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

for prog in autodist autodist-infer-bench autodist-http-load autodist-serve; do
    [ -x "$BUILD/$prog" ] ||
        { echo "bench_infer.sh: $BUILD/$prog is missing: build first" >&2; exit 2; }
done
[ -f "$MODEL/model.json" ] ||
    { echo "bench_infer.sh: $MODEL: no model.json (autodist export)" >&2; exit 2; }

# An image to send: a 64x64 RGB PNG made here when none is given (the server resizes it).
if [ -z "$IMAGE" ]; then
    IMAGE=$WORK/probe.png
    python3 - "$IMAGE" <<'EOF'
import struct, sys, zlib
w = h = 64
px = lambda x, y: (x * 4 % 256, y * 4 % 256, (x + y) * 2 % 256)
raw = b"".join(b"\0" + bytes(v for x in range(w) for v in px(x, y)) for y in range(h))
def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
       + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
open(sys.argv[1], "wb").write(png)
EOF
fi

echo "== 1. the bare model (autodist bench-infer, ${DURATION}s per measurement)" >&2
args=(--home "$WORK/home" bench-infer "$MODEL" --duration "$DURATION" --json
      --plot "$WORK/layouts.png")
[ -n "$P95_MS" ] && args+=(--p95-ms "$P95_MS")
"$BUILD/autodist" "${args[@]}" > "$WORK/bare.json"
read -r SEQ_P50 SEQ_P99 BEST_SPS BEST_LAYOUT P T B BACKEND < <(python3 - "$WORK/bare.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
rows = d["layouts"]
seq = next(r for r in rows if r["sequential"])
best = max((r for r in rows if r["mode"] == "closed"), key=lambda r: r["samples_per_s"])
c = d["chosen"]
print(seq["p50_ms"], seq["p99_ms"], best["samples_per_s"],
      "%dx%dx%d" % (best["procs"], best["threads"], best["batch"]),
      c["procs"], c["threads"], c["batch"], d["backend"].replace(" ", "_"))
EOF
)
echo "   bare best: $BEST_SPS samples/s at $BEST_LAYOUT;" \
    "sequential p50 $SEQ_P50 ms, p99 $SEQ_P99 ms" >&2

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
echo "== 2. autodist-serve in the chosen layout ${P}x${T}x${B} on port $PORT" >&2
"$BUILD/autodist-serve" "$MODEL" --port "$PORT" --processes "$P" --threads "$T" \
    --max-batch "$B" > "$WORK/serve.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 300); do
    if python3 -c "import urllib.request as u
u.urlopen('http://127.0.0.1:$PORT/api/ready', timeout=1)" 2>/dev/null; then
        break
    fi
    if ! kill -0 "$SERVER" 2>/dev/null; then
        echo "bench_infer.sh: the server died:" >&2
        cat "$WORK/serve.log" >&2
        exit 1
    fi
    sleep 0.2
done
URL=http://127.0.0.1:$PORT/api/predict

echo "== 3. under load" >&2
C=$((P * B * 2))
"$BUILD/autodist-http-load" "$URL" --image "$IMAGE" --concurrency "$C" --duration "$DURATION" \
    --warmup 1 > "$WORK/load.json"
echo "== 4. at low load" >&2
"$BUILD/autodist-http-load" "$URL" --image "$IMAGE" --concurrency 1 --duration "$DURATION" \
    --warmup 1 > "$WORK/low.json"

kill "$SERVER" 2>/dev/null || true
wait "$SERVER" 2>/dev/null || true
SERVER=

# Wait for URL's /api/health (or /api/ready) to answer, or say that pid died.
wait_up() {
    for _ in $(seq 1 300); do
        curl -fs "$1" >/dev/null 2>&1 && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.2
    done
    return 1
}

echo '{}' > "$WORK/peer-load.json"
echo '{}' > "$WORK/peer-low.json"
if "$PY" -c 'import torch, numpy' 2>/dev/null; then
    echo "== 5. the peer: TorchScript of $PEER_MODEL behind Python's http.server," \
        "$PEER_THREADS torch threads" >&2
    "$PY" "$ROOT/bench/infer_peer.py" export "$PEER_MODEL" "$WORK/peer.pt" >&2
    "$PY" "$ROOT/bench/infer_peer.py" serve "$WORK/peer.pt" "$PEER_MODEL" --port "$PORT" \
        --threads "$PEER_THREADS" > "$WORK/peer.log" 2>&1 &
    PEER=$!
    if wait_up "http://127.0.0.1:$PORT/api/health" "$PEER"; then
        "$BUILD/autodist-http-load" "$URL" --image "$IMAGE" --concurrency "$C" \
            --duration "$DURATION" --warmup 1 > "$WORK/peer-load.json"
        "$BUILD/autodist-http-load" "$URL" --image "$IMAGE" --concurrency 1 \
            --duration "$DURATION" --warmup 1 > "$WORK/peer-low.json"
    else
        echo "bench_infer.sh: the peer did not start:" >&2
        cat "$WORK/peer.log" >&2
    fi
else
    echo "== 5. the peer: skipped ($PY cannot import torch and numpy: python3-torch)" >&2
fi

python3 - "$WORK/load.json" "$WORK/low.json" "$BEST_SPS" "$BEST_LAYOUT" "$SEQ_P99" \
    "${P}x${T}x${B}" "$C" "$BACKEND" "$MODEL" \
    "$ROOT/bench/results-infer-$(date +%Y%m%d-%H%M%S).md" "$WORK/peer-load.json" \
    "$WORK/peer-low.json" "$PEER_MODEL" "$PEER_THREADS" <<'EOF'
import json, sys
load, low = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
best, best_layout, seq_p99 = float(sys.argv[3]), sys.argv[4], float(sys.argv[5])
chosen, conc, backend, model, out = sys.argv[6:11]
pload, plow = json.load(open(sys.argv[11])), json.load(open(sys.argv[12]))
peer_model, peer_threads = sys.argv[13], sys.argv[14]
backend = backend.replace("_", " ")
ratio = load["requests_per_s"] / best if best > 0 else 0.0
p99r = (low["p99_ms"] or float("inf")) / seq_p99 if seq_p99 > 0 else float("inf")
lines = [
    "# bench_infer.sh: %s" % model, "",
    "backend: %s" % backend, "",
    "| measure | served (%s) | bare | ratio | target |" % chosen,
    "| --- | --- | --- | --- | --- |",
    "| throughput, C=%s (req/s) | %.1f | %.1f (%s) | %.2f | >= 0.90 %s |" % (
        conc, load["requests_per_s"], best, best_layout, ratio, "ok" if ratio >= 0.9 else "MISSED"),
    "| p99 at low load (ms) | %.2f | %.2f (1x1x1) | %.2f | <= 1.5 %s |" % (
        low["p99_ms"] or float("nan"), seq_p99, p99r, "ok" if p99r <= 1.5 else "MISSED"),
    "| errors (load, low) | %d, %d | | | 0 |" % (load["errors"], low["errors"]),
]
if pload.get("requests_per_s"):
    lines += [
        "", "Against the peer (%s as TorchScript, Python http.server, %s torch threads), the same "
        "image, load generator and run:" % (peer_model, peer_threads), "",
        "| server | req/s at C=%s | p50 ms | p99 ms | req/s at C=1 | p50 ms | p99 ms |" % conc,
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, a, b in (("autodist serve %s" % chosen, load, low), ("python peer", pload, plow)):
        lines.append("| %s | %.1f | %.2f | %.2f | %.1f | %.2f | %.2f |" % (
            name, a["requests_per_s"], a["p50_ms"], a["p99_ms"], b["requests_per_s"],
            b["p50_ms"], b["p99_ms"]))
    lines.append("| autodist / peer | %.2fx | | | %.2fx | %.2fx lower | |" % (
        load["requests_per_s"] / pload["requests_per_s"],
        low["requests_per_s"] / plow["requests_per_s"], plow["p50_ms"] / low["p50_ms"]))
text = "\n".join(lines) + "\n"
print(text)
open(out, "w").write(text)
print("saved:", out, file=sys.stderr)
EOF
