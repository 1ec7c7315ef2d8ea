#!/usr/bin/env bash
# bench_coord.sh - one coordinator against N simulated agents: its CPU at steady state and
# how fast it reports a silent agent DOWN (autodist-loadgen, bench/README.md).
#
# Usage: [AGENTS=1000] [DURATION=30] bench/bench_coord.sh
# Knobs: AGENTS (simulated agents, default 1000), DURATION (steady-state window in s,
# default 30), SILENCE (agents made silent afterwards, default 10), WARMUP (s, default 3),
# DAEMON (default build/autodistd), LOADGEN (default build/autodist-loadgen), OUT (also
# write the markdown block to this file), KEEP=1 (keep the temporary home and its log),
# INSECURE=1 (the coordinator without CURVE, --insecure; by default every socket is CURVE and
# the load generator uses the keys the coordinator made in its home).
# Exit status: 0 done, 1 the load generator or the daemon failed, 2 bad setup.
set -euo pipefail
cd "$(dirname "$0")/.."

AGENTS=${AGENTS:-1000}
DURATION=${DURATION:-30}
SILENCE=${SILENCE:-10}
WARMUP=${WARMUP:-3}
DAEMON=${DAEMON:-build/autodistd}
LOADGEN=${LOADGEN:-build/autodist-loadgen}
OUT=${OUT:-}
KEEP=${KEEP:-0}
INSECURE=${INSECURE:-0}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

for exe in "$DAEMON" "$LOADGEN"; do
    if [ ! -x "$exe" ]; then
        echo "bench_coord.sh: $exe is not built (run scripts/build.sh)" >&2
        exit 2
    fi
done

home=$(mktemp -d "${TMPDIR:-/tmp}/autodist-bench-coord.XXXXXX")
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
        echo "bench_coord.sh: kept $home" >&2
    else
        rm -rf "$home"
    fi
}
trap cleanup EXIT

# Three free loopback ports (the kernel picks them; a tiny race with other programs).
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

load_start=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load_start" 'BEGIN { exit !(l >= 0.5) }'; then
    echo "bench_coord.sh: warning: load average is $load_start, the machine is not idle" >&2
fi

daemon_opts=()
loadgen_opts=(--keys "$home/keys")
if [ "$INSECURE" = 1 ]; then
    daemon_opts=(--insecure)
    loadgen_opts=()
fi
"$DAEMON" --home "$home" --client "$client" --agents "$agents" --metrics "$metrics" \
    "${daemon_opts[@]}" 2>"$home/autodistd.log" &
dpid=$!
for _ in $(seq 100); do
    grep -q "listening" "$home/autodistd.log" 2>/dev/null && break
    kill -0 "$dpid" 2>/dev/null || break
    sleep 0.05
done
if ! grep -q "listening" "$home/autodistd.log" 2>/dev/null; then
    echo "bench_coord.sh: autodistd did not start:" >&2
    tail -5 "$home/autodistd.log" >&2
    exit 1
fi
nofile=$(awk '/Max open files/ { print $4 }' "/proc/$dpid/limits")

cmd=("$LOADGEN" --agents "$AGENTS" --duration "$DURATION" --warmup "$WARMUP"
     --silence "$SILENCE" --endpoint "$agents" --client "$client" --pid "$dpid" --json
     "${loadgen_opts[@]}")
rc=0
timeout $((DURATION + WARMUP + 150)) "${cmd[@]}" >"$home/loadgen.json" 2>"$home/loadgen.err" ||
    rc=$?
# utime + stime are fields 14 and 15 of /proc/PID/stat, 12 and 13 after the ") ".
total_cpu=$(awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); print ($12 + $13) / hz }' \
    "/proc/$dpid/stat" 2>/dev/null || echo "?")
if ! kill -0 "$dpid" 2>/dev/null; then
    echo "bench_coord.sh: autodistd died during the run:" >&2
    tail -5 "$home/autodistd.log" >&2
    rc=1
fi
if [ ! -s "$home/loadgen.json" ]; then
    echo "bench_coord.sh: autodist-loadgen failed (exit $rc):" >&2
    cat "$home/loadgen.err" >&2
    tail -5 "$home/autodistd.log" >&2
    exit 1
fi
cat "$home/loadgen.err" >&2

"$PY" - "$home/loadgen.json" "$load_start" "$nofile" "$total_cpu" "$home/autodistd.log" \
    "$DAEMON" "$AGENTS" "$DURATION" "$INSECURE" >"$home/result.md" <<'EOF'
import json, subprocess, sys, time
r = json.load(open(sys.argv[1]))
load, nofile, total_cpu, log, daemon, agents, duration, insecure = sys.argv[2:10]
lines = open(log, errors="replace").read().splitlines()
missed = sum(1 for l in lines if "is DOWN (missed heartbeats)" in l)
other = sum(1 for l in lines if (": warn" in l or ": error" in l) and " DOWN" not in l)
rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                     text=True).stdout.strip()
dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "daemon",
                        "core"], capture_output=True, text=True).stdout.strip()
def f(v, fmt):
    return "n/a" if v is None else fmt % v
cpu = r["coord_cpu_pct"]
det = r["detect_s"]
print("### Coordinator: %s simulated agents, %s (%s)" % (
    r["agents"], "no CURVE (--insecure)" if insecure == "1" else "CURVE on every socket",
    time.strftime("%Y-%m-%d %H:%M")))
print()
if daemon == "build/autodistd":
    what = "build/autodistd from the working tree at %s%s" % (
        rev, " + uncommitted changes to daemon/ or core/" if dirty else "")
else:
    what = daemon
print("`%sAGENTS=%s DURATION=%s bench/bench_coord.sh` — %s; load average %s at the start; "
      "the coordinator's open-files limit %s" % ("INSECURE=1 " if insecure == "1" else "",
                                                agents, duration, what, load, nofile))
print()
print("| what | figure | target |")
print("| --- | ---: | --- |")
print("| agents welcomed | %d / %d in %.2f s (every HELLO sent within %.2f s, %d resent) | all |"
      % (r["welcomed"], r["agents"], r["welcome_all_s"], r["hellos_all_s"], r["hellos_resent"]))
print("| HELLO → WELCOME, median / max | %s / %s ms | |"
      % (f(r["welcome_ms"]["median"], "%.1f"), f(r["welcome_ms"]["max"], "%.1f")))
print("| coordinator CPU over the %.0f s window | **%s %%** of one core (%s s user+sys) | < 10 %% |"
      % (r["window_s"], f(cpu, "%.2f"), f(r["coord_cpu_s"], "%.2f")))
print("| coordinator RSS after the window | %s MiB | |" % f(r["coord_rss_mib"], "%.1f"))
print("| heartbeats sent | %.1f /s (%d failed, %d REJECTs, max %.1f ms behind schedule) | %s /s |"
      % (r["heartbeats_per_s"], r["heartbeats_failed"], r["rejects"], r["max_lag_ms"], agents))
print("| nodes UP in NODES after the window | %d / %d | all |" % (r["nodes_up"], r["agents"]))
print("| silent agent → DOWN in NODES, min / median / max | %s / %s / **%s** s (%d of %d) "
      "| ≤ 3.5 s |" % (f(det["min"], "%.3f"), f(det["median"], "%.3f"), f(det["max"], "%.3f"),
                       r["detected"], r["silent"]))
print("| NODES round trip while polling every %d ms, median / max | %s / %s ms | |"
      % (r["nodes_poll_ms"], f(r["nodes_rtt_ms"]["median"], "%.1f"),
         f(r["nodes_rtt_ms"]["max"], "%.1f")))
print("| load generator CPU over the window | %.2f %% of one core | |" % r["loadgen_cpu_pct"])
print("| coordinator CPU, whole run (start to end) | %s s | |" % total_cpu)
print("| nodes DOWN for missed heartbeats (coordinator log) | %d | %d (the silent ones) |"
      % (missed, r["silent"]))
print("| other warnings and errors in the coordinator log | %d | 0 |" % other)
EOF
cat "$home/result.md"
if [ -n "$OUT" ]; then
    cp "$home/result.md" "$OUT"
fi
exit "$rc"
