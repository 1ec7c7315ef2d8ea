#!/usr/bin/env bash
# test_serve.sh - autodist-serve on a free port with a tiny artifact: the API, batching, bad input
# Usage: test_serve.sh BIN_DIR SERVE_FIXTURE   (ctest: serve_http)
#
# serve_fixture writes a tiny artifact (the ad_igraph builder, fixed random weights) and test
# images; tests/serve/serve_check.py talks to the server (python3's standard library only):
# ready 503 -> 200 while loading, predictions, batching, /metrics, every bad input, 10,000
# malformed requests, 200 concurrent connections, memory flat.  Then: SIGTERM stops it with 0,
# a corrupt or missing model fails at start with one line, --processes 2 share a port and answer
# /metrics and /api/ready for the whole server, and `autodist serve` runs it.
set -u
BIN=${1:?usage: test_serve.sh BIN_DIR SERVE_FIXTURE}
FIXTURE=${2:?usage: test_serve.sh BIN_DIR SERVE_FIXTURE}
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/test_serve.XXXXXX")
PIDS=()
fails=0

cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null
    done
    if [ "$fails" -eq 0 ] && [ "${KEEP:-0}" != 1 ]; then
        rm -rf "$TMP"
    else
        echo "test_serve: kept $TMP"
    fi
}
trap cleanup EXIT
fail() { echo "test_serve: FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "test_serve: ok: $*"; }

"$FIXTURE" "$TMP" || { fail "serve_fixture"; exit 1; }

# start_server LOG ARGS...: start autodist-serve, set PID and URL (from its first line).
start_server() {
    local log=$1
    shift
    "$@" >"$log" 2>"$log.err" &
    PID=$!
    PIDS+=("$PID")
    URL=
    for _ in $(seq 100); do
        URL=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$log" 2>/dev/null | head -1)
        [ -n "$URL" ] && break
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.05
    done
}

# A load held until serve_check.py creates $TMP/go: ready says 503 until loaded and warmed.
AUTODIST_SERVE_TEST_HOLD=$TMP/go start_server "$TMP/serve.out" \
    "$BIN/autodist-serve" "$TMP/model" --port 0 --max-batch 8 --max-delay-ms 100
[ -n "$URL" ] || { fail "autodist-serve printed no URL"; cat "$TMP/serve.out"*; exit 1; }
ok "autodist-serve listens on $URL"
python3 "$HERE/serve/serve_check.py" "$URL" "$PID" "$TMP" warming && ok "ready: 503 -> 200" ||
    fail "while warming"
grep -q "ready: tiny-colours (tiny-cnn, fp32), 3 classes" "$TMP/serve.out" ||
    fail "the ready line: $(cat "$TMP/serve.out")"
python3 "$HERE/serve/serve_check.py" "$URL" "$PID" "$TMP" main &&
    ok "predictions, batching, metrics, bad input, 10,000 malformed, 200 connections" ||
    fail "the API (above)"
kill -TERM "$PID"
wait "$PID"
rc=$?
[ "$rc" -eq 0 ] && ok "SIGTERM: exit 0" || fail "SIGTERM: exit $rc: $(cat "$TMP/serve.out.err")"

# A full queue (a model slowed to 300 ms a batch): 503 overloaded, with Retry-After.
AUTODIST_SERVE_TEST_SLOW_MS=300 start_server "$TMP/busy.out" "$BIN/autodist-serve" "$TMP/model" \
    --port 0 --max-batch 1 --max-queue 2
for _ in $(seq 100); do grep -q "ready:" "$TMP/busy.out" && break; sleep 0.05; done
python3 "$HERE/serve/serve_check.py" "$URL" "$PID" "$TMP" overload && ok "a full queue: 503" ||
    fail "a full queue"
kill -TERM "$PID"
wait "$PID"

# A model whose output is NaN: 500 saying so; the server stays up.
start_server "$TMP/nan.out" "$BIN/autodist-serve" "$TMP/model-nan" --port 0
for _ in $(seq 100); do grep -q "ready:" "$TMP/nan.out" && break; sleep 0.05; done
python3 -c 'import sys, json, urllib.request, urllib.error
r = urllib.request.Request(sys.argv[1] + "/api/predict", data=open(sys.argv[2], "rb").read(),
                           headers={"Content-Type": "image/png"})
try:
    urllib.request.urlopen(r, timeout=10)
    sys.exit("200")
except urllib.error.HTTPError as e:
    d = json.load(e)
    assert e.code == 500 and "not finite" in d["error"], d
print(urllib.request.urlopen(sys.argv[1] + "/api/health", timeout=10).status)' \
    "$URL" "$TMP/red.png" >"$TMP/nan.check" 2>&1 && grep -q 200 "$TMP/nan.check" &&
    ok "a NaN model: 500 not finite, still up" || fail "a NaN model: $(cat "$TMP/nan.check")"
kill -TERM "$PID"
wait "$PID"

# A corrupt model and a missing one: one line, non-zero, at start.
mkdir -p "$TMP/corrupt"
cp -r "$TMP/model/." "$TMP/corrupt/"
printf '{"format": "autodist-model", "version": 1, "graph": [tru' >"$TMP/corrupt/model.json"
for m in corrupt missing; do
    timeout 30 "$BIN/autodist-serve" "$TMP/$m" --port 0 >"$TMP/$m.out" 2>"$TMP/$m.err"
    rc=$?
    lines=$(wc -l <"$TMP/$m.err")
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$lines" -eq 1 ] &&
        grep -q "autodist-serve: .*$TMP/$m" "$TMP/$m.err"; then
        ok "a $m model: exit $rc, $(cat "$TMP/$m.err")"
    else
        fail "a $m model: exit $rc, $lines lines: $(cat "$TMP/$m.err")"
    fi
done
"$BIN/autodist-serve" "$TMP/model" --max-batch 0 >/dev/null 2>"$TMP/opt.err"
[ $? -eq 2 ] && grep -q -- "--max-batch must be" "$TMP/opt.err" && ok "a bad option: exit 2" ||
    fail "a bad option: $(cat "$TMP/opt.err")"

# Two processes on one port (SO_REUSEPORT), each with its model and batcher.
start_server "$TMP/procs.out" "$BIN/autodist-serve" "$TMP/model" --port 0 --processes 2
# /api/ready answers for both processes: 200 once both are warmed.
for _ in $(seq 200); do
    python3 -c 'import sys, urllib.request
urllib.request.urlopen(sys.argv[1] + "/api/ready", timeout=10)' "$URL" 2>/dev/null && break
    sleep 0.05
done
kids=$(pgrep -P "$PID" | wc -l)
[ "$kids" -eq 2 ] && ok "--processes 2: two servers" || fail "--processes 2: $kids children"
n200=0
for _ in $(seq 8); do
    code=$(python3 -c 'import sys, urllib.request
d = open(sys.argv[2], "rb").read()
r = urllib.request.Request(sys.argv[1] + "/api/predict", data=d,
                           headers={"Content-Type": "image/png"})
print(urllib.request.urlopen(r, timeout=10).status)' "$URL" "$TMP/red.png" 2>/dev/null)
    [ "$code" = 200 ] && n200=$((n200 + 1))
done
[ "$n200" -eq 8 ] && ok "--processes 2: 8 predictions" || fail "--processes 2: $n200 of 8 answered"
kill -TERM "$PID"
wait "$PID"
rc=$?
sleep 0.2
[ "$rc" -eq 0 ] && [ -z "$(pgrep -P "$PID")" ] && ok "--processes 2: SIGTERM stops all" ||
    fail "--processes 2: exit $rc"

# The parent killed outright (kill -9): its children go with it, none is left on the port.
start_server "$TMP/orphans.out" "$BIN/autodist-serve" "$TMP/model" --port 0 --processes 2
for _ in $(seq 200); do
    [ "$(pgrep -P "$PID" | wc -l)" -eq 2 ] && break
    sleep 0.05
done
kids=$(pgrep -P "$PID" | tr '\n' ' ')
kill -9 "$PID"
wait "$PID" 2>/dev/null
left=$kids
for _ in $(seq 60); do
    left=
    for k in $kids; do kill -0 "$k" 2>/dev/null && left="$left $k"; done
    [ -z "$left" ] && break
    sleep 0.05
done
[ -n "$kids" ] && [ -z "$left" ] && ok "--processes 2: kill -9 of the parent leaves no server" ||
    fail "--processes 2: children ($kids) still alive after kill -9 of the parent: $left"

# Two processes, one server: /metrics sums both processes' counters (kept in one shared mapping),
# /api/ready waits for both; a child killed with -9 turns ready 503 naming it, the other serves.
AUTODIST_SERVE_TEST_HOLD=$TMP/go-procs start_server "$TMP/shared.out" "$BIN/autodist-serve" \
    "$TMP/model" --port 0 --processes 2
python3 "$HERE/serve/serve_check.py" "$URL" "$PID" "$TMP" procs &&
    ok "--processes 2: /metrics and /api/ready for both; a killed one: 503, 1 of 2" ||
    fail "--processes 2, one server (above)"
grep -q "autodist-serve: process [12] of 2 (pid [0-9]*) killed by signal 9.*; 1 of 2 still serve" \
    "$TMP/shared.out.err" && ok "--processes 2: the parent says which process died" ||
    fail "--processes 2: no line about the killed process: $(cat "$TMP/shared.out.err")"
kill -TERM "$PID"
wait "$PID"
rc=$?
sleep 0.2
[ "$rc" -eq 1 ] && [ -z "$(pgrep -P "$PID")" ] &&
    ok "--processes 2 after a death: SIGTERM stops the other, exit 1" ||
    fail "--processes 2 after a death: exit $rc, children $(pgrep -P "$PID")"

# autodist serve: the same program, found next to autodist.
if [ -x "$BIN/autodist" ]; then
    start_server "$TMP/cli.out" "$BIN/autodist" --home "$TMP/home" serve "$TMP/model" --port 0 \
        --layout 1x1x4
    [ -n "$URL" ] && python3 -c 'import sys, urllib.request, json
d = json.load(urllib.request.urlopen(sys.argv[1] + "/api/model", timeout=10))
assert d["server"]["max_batch"] == 4, d' "$URL" 2>/dev/null
    # The model may still be warming: try again for a while.
    for _ in $(seq 50); do
        python3 -c 'import sys, urllib.request, json
d = json.load(urllib.request.urlopen(sys.argv[1] + "/api/model", timeout=10))
sys.exit(0 if d["server"]["max_batch"] == 4 else 1)' "$URL" 2>/dev/null && break
        sleep 0.1
    done && ok "autodist serve --layout 1x1x4: batches of 4" ||
        fail "autodist serve: $(cat "$TMP/cli.out"*)"
    kill -TERM "$PID"
    wait "$PID"
    "$BIN/autodist" --home "$TMP/home" serve no-such-model >"$TMP/cli2.out" 2>&1
    rc=$?
    [ "$rc" -ne 0 ] && grep -q "unknown model no-such-model" "$TMP/cli2.out" &&
        ok "autodist serve of an unknown model: exit $rc" ||
        fail "autodist serve no-such-model: exit $rc: $(cat "$TMP/cli2.out")"
    "$BIN/autodist" --home "$TMP/home" serve "$TMP/model" --layout 2y3 >"$TMP/cli3.out" 2>&1
    rc=$?
    [ "$rc" -eq 2 ] && grep -q "layout must be PROCESSESxTHREADSxBATCH" "$TMP/cli3.out" &&
        ok "a bad --layout: exit 2" || fail "--layout 2y3: exit $rc: $(cat "$TMP/cli3.out")"
    # Nothing measured here: --layout auto says to run bench-infer (or that it is missing).
    "$BIN/autodist" --home "$TMP/home" serve "$TMP/model" --layout auto >"$TMP/cli4.out" 2>&1
    rc=$?
    [ "$rc" -ne 0 ] && grep -q "bench-infer" "$TMP/cli4.out" &&
        ok "--layout auto without measurements: exit $rc" ||
        fail "--layout auto: exit $rc: $(cat "$TMP/cli4.out")"
    # Measured by bench-infer and named in the models table: `serve NAME --layout auto`
    # serves the artifact of that row in the layout bench-infer stored.
    "$BIN/autodist" --home "$TMP/home" bench-infer "$TMP/model" --layouts 1x1x1,1x1x4 \
        --duration 0.3 --warmup 0.1 >"$TMP/bench.out" 2>&1 || fail "bench-infer: $(cat "$TMP/bench.out")"
    chosen=$(sed -n 's/^chosen[^:]*: *\([0-9]*x[0-9]*x[0-9]*\).*/\1/p' "$TMP/bench.out" | head -1)
    sqlite3 "$TMP/home/runs.db" "INSERT INTO models (name, path, arch, variant, created)
        VALUES ('tiny-colours', '$TMP/model', 'tiny-cnn', 'fp32', 0)"
    start_server "$TMP/cli5.out" "$BIN/autodist" --home "$TMP/home" serve tiny-colours --port 0 \
        --layout auto
    batch=
    for _ in $(seq 50); do
        batch=$(python3 -c 'import sys, urllib.request, json
print(json.load(urllib.request.urlopen(sys.argv[1] + "/api/model", timeout=10))["server"]["max_batch"])' \
            "$URL" 2>/dev/null) && break
        sleep 0.1
    done
    [ -n "$chosen" ] && [ -n "$batch" ] && [ "$batch" = "${chosen##*x}" ] &&
        ok "serve tiny-colours --layout auto: the models row, bench-infer's $chosen" ||
        fail "serve NAME --layout auto: chosen '$chosen', max_batch '$batch': $(cat "$TMP/bench.out" "$TMP/cli5.out"*)"
    kill -TERM "$PID"
    wait "$PID"
fi
[ "$fails" -eq 0 ] && echo "test_serve: all ok"
exit $((fails > 0))
