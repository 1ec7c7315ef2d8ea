#!/usr/bin/env bash
# bench_malformed.sh - 10,000 malformed messages (31 frames, one frame, unknown types, 64 KiB of
# bad JSON, shell in a HELLO address, wrong-side types, duplicate keys) against one coordinator
# on loopback: its RSS before, at its peak and after, and whether it still answers
# (autodist-malformed, issue 9).  The figure goes to docs/benchmarks.md and docs/reliability.md.
#
# Usage: [COUNT=10000] bench/bench_malformed.sh
# Knobs: COUNT (messages, default 10000), DAEMON (default build/autodistd), TOOL (default
# build/autodist-malformed), KEEP=1 (keep the temporary home and the daemon's log).
# Exit status: 0 done, 1 the tool or the daemon failed, 2 bad setup.
set -euo pipefail
cd "$(dirname "$0")/.."

COUNT=${COUNT:-10000}
DAEMON=${DAEMON:-build/autodistd}
TOOL=${TOOL:-build/autodist-malformed}
KEEP=${KEEP:-0}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

for exe in "$DAEMON" "$TOOL"; do
    if [ ! -x "$exe" ]; then
        echo "bench_malformed.sh: $exe is not built (run scripts/build.sh)" >&2
        exit 2
    fi
done

home=$(mktemp -d "${TMPDIR:-/tmp}/autodist-bench-malformed.XXXXXX")
dpid=
cleanup() {
    if [ -n "$dpid" ] && kill -0 "$dpid" 2>/dev/null; then
        kill -TERM "$dpid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$dpid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$dpid" 2>/dev/null || true
        wait "$dpid" 2>/dev/null || true
    fi
    if [ "$KEEP" = 1 ]; then
        echo "bench_malformed.sh: kept $home" >&2
    else
        rm -rf "$home"
    fi
}
trap cleanup EXIT

read -r pclient pagents pmetrics < <("$PY" -c '
import socket
ss = [socket.socket() for _ in range(3)]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])
')
client=tcp://127.0.0.1:$pclient
agents=tcp://127.0.0.1:$pagents
metrics=tcp://127.0.0.1:$pmetrics

"$DAEMON" --home "$home" --client "$client" --agents "$agents" --metrics "$metrics" \
    2>"$home/autodistd.log" &
dpid=$!
for _ in $(seq 100); do
    grep -q "listening" "$home/autodistd.log" 2>/dev/null && break
    kill -0 "$dpid" 2>/dev/null || break
    sleep 0.05
done
if ! grep -q "listening" "$home/autodistd.log" 2>/dev/null; then
    echo "bench_malformed.sh: autodistd did not start:" >&2
    tail -5 "$home/autodistd.log" >&2
    exit 1
fi

t0=$(date +%s.%N)
out=$("$TOOL" --client "$client" --agents "$agents" --pid "$dpid" --count "$COUNT")
t1=$(date +%s.%N)
kill -0 "$dpid" 2>/dev/null || { echo "bench_malformed.sh: autodistd died" >&2; exit 1; }
lines=$(wc -l <"$home/autodistd.log")
"$PY" - "$out" "$lines" "$t0" "$t1" <<'PYEOF'
import json, sys
r = json.loads(sys.argv[1])
lines, secs = int(sys.argv[2]), float(sys.argv[4]) - float(sys.argv[3])
print(f"| malformed messages | {r['messages']} in {secs:.1f} s |")
print(f"| coordinator RSS before / peak / after | {r['rss_before_mib']:.1f} / "
      f"{r['rss_peak_mib']:.1f} / {r['rss_after_mib']:.1f} MiB |")
print(f"| growth | {r['rss_after_mib'] - r['rss_before_mib']:+.1f} MiB |")
print(f"| coordinator log | {lines} lines |")
print(f"| answers the next request | {'yes' if r['answers_good_request'] else 'no'} |")
PYEOF
