#!/usr/bin/env bash
# test_ui.sh - autodist ui in a real headless Chromium: the API, the rendered DOM and a screenshot
# Usage: test_ui.sh BIN_DIR SOURCE_DIR   (ctest: ui; exit 77 = skipped: no chromium)
#
# A coordinator on free ports with a temp home, one agent and a fake trainer (tests/ui/
# fake-train.sh: step metrics at once) runs a tiny job and a two-job sweep; imported runs give
# the speedup plot its points.  Then `autodist ui --listen 127.0.0.1:0` serves the page:
# its JSON API is checked with curl-free python3, `chromium --dump-dom` must hold the node, the
# job, the sweep and the speedup plot's points, and `chromium --screenshot` must be the right
# size, not blank, with the speedup plot drawn (tests/ui/check_png.py).
set -u
BIN=${1:?usage: test_ui.sh BIN_DIR SOURCE_DIR}
SRC=${2:?usage: test_ui.sh BIN_DIR SOURCE_DIR}
CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
if [ -z "$CHROMIUM" ]; then
    echo "test_ui: SKIP: no chromium (Debian's chromium package; scripts/bootstrap.sh installs it)"
    exit 77
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/test_ui.XXXXXX")
H=$TMP/home
mkdir -p "$H"
PIDS=()
fails=0

RUNNING_ID=
cleanup() {
    [ -n "$RUNNING_ID" ] && "${AD[@]}" cancel "$RUNNING_ID" >/dev/null 2>&1
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null
    done
    if [ "$fails" -eq 0 ] && [ "${KEEP:-0}" != 1 ]; then rm -rf "$TMP"; else echo "test_ui: kept $TMP"; fi
}
trap cleanup EXIT

fail() { echo "test_ui: FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "test_ui: ok: $*"; }

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

CLIENT=tcp://127.0.0.1:$(free_port)
AGENTS=tcp://127.0.0.1:$(free_port)
METRICS=tcp://127.0.0.1:$(free_port)
AD=("$BIN/autodist" --home "$H" --coordinator "$CLIENT")

"$BIN/autodistd" --home "$H" --client "$CLIENT" --agents "$AGENTS" --metrics "$METRICS" \
    --trainer "$SRC/tests/ui/fake-train.sh" --kill-grace 2 --min-free-mib 0 \
    >"$TMP/autodistd.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do "${AD[@]}" nodes >/dev/null 2>&1 && break; sleep 0.1; done
# The dashboard on a free port: its first line says where.
"${AD[@]}" ui --listen 127.0.0.1:0 >"$TMP/ui.out" 2>"$TMP/ui.err" &
UI_PID=$!
PIDS+=($UI_PID)
URL=
for _ in $(seq 100); do
    URL=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$TMP/ui.out" 2>/dev/null | head -1)
    [ -n "$URL" ] && break
    sleep 0.1
done
[ -n "$URL" ] || { fail "autodist ui printed no URL"; cat "$TMP/ui.out" "$TMP/ui.err"; exit 1; }
ok "autodist ui serves $URL"

# A field of the dashboard's JSON API: api PATH EXPR prints EXPR of the answer d (python3).
api() {
    python3 -c 'import json, sys, urllib.request
d = json.load(urllib.request.urlopen(sys.argv[1] + sys.argv[2], timeout=10))
print(eval(sys.argv[3]))' "$URL" "$1" "$2"
}

"$BIN/autodist-agent" --no-bench --name ui-node1 --home "$H" --coordinator "$AGENTS" \
    --address 127.0.0.1 >"$TMP/agent.log" 2>&1 &
PIDS+=($!)
node_up='any(n["name"] == "ui-node1" and n["state"] == "UP" for n in d["nodes"])'
for _ in $(seq 300); do [ "$(api /api/nodes "$node_up")" = True ] && break; sleep 0.1; done
[ "$(api /api/nodes "$node_up")" = True ] ||
    { fail "the agent is not UP"; cat "$TMP/agent.log"; exit 1; }

# A tiny job that ends at once, with step metrics.
cat >"$TMP/tiny.yaml" <<'EOF'
name: ui-tiny
model: mlp
dataset: synthetic
steps: 6
batch_size: 8
layout: {nodes: 1, procs_per_node: 1, threads_per_proc: 1}
EOF
"${AD[@]}" submit "$TMP/tiny.yaml" --wait >"$TMP/submit.out" 2>&1 ||
    { fail "submit --wait"; cat "$TMP/submit.out" "$TMP/autodistd.log"; exit 1; }
# A long job (2,500 steps): its curves are thinned to at most 2,000 points.
sed -e 's/^name: ui-tiny/name: ui-long/' -e 's/^steps: 6/steps: 2500/' "$TMP/tiny.yaml" \
    >"$TMP/long.yaml"
"${AD[@]}" submit "$TMP/long.yaml" --wait >"$TMP/long.out" 2>&1 ||
    { fail "submit --wait of a long job"; cat "$TMP/long.out"; }
# A layout: auto job: the coordinator plans it (probes run with the fake trainer too).
sed -e 's/^name: ui-tiny/name: ui-auto/' -e 's/^layout: .*/layout: auto/' "$TMP/tiny.yaml" \
    >"$TMP/auto.yaml"
"${AD[@]}" submit "$TMP/auto.yaml" --wait >"$TMP/auto.out" 2>&1 ||
    { fail "submit --wait of a layout: auto job"; cat "$TMP/auto.out"; }
# A sweep of three jobs, one failing: the sweeps panel.
cat >"$TMP/sweep.yaml" <<'EOF'
name: ui-sweep
base: {model: mlp, dataset: synthetic, steps: 2, batch_size: 8,
       layout: {nodes: 1, procs_per_node: 1, threads_per_proc: 1}}
grid: {seed: [1, 2, 13]}
EOF
# Seed 13 fails (the fake trainer says so): the sweep ends with 2 completed, 1 failed, which
# the API checks below; the command's own exit status and words are not this test's business.
"${AD[@]}" sweep "$TMP/sweep.yaml" >"$TMP/sweep.out" 2>&1
sweep_ended='sum(s.get("completed", 0) + s.get("failed", 0) for s in d["sweeps"]
                if s["name"] == "ui-sweep")'
for _ in $(seq 300); do [ "$(api /api/sweeps "$sweep_ended")" = 3 ] && break; sleep 0.1; done
# Logged runs of four layouts: the speedup plot's points and error bars.
cat >"$TMP/runs.csv" <<'EOF'
model,dataset,hardware,nodes,procs_per_node,threads_per_proc,device,batch_size,samples_per_s
cnn,fashion-mnist,ui-hw,1,1,1,cpu,256,1000
cnn,fashion-mnist,ui-hw,1,1,1,cpu,256,1040
cnn,fashion-mnist,ui-hw,1,2,1,cpu,256,1800
cnn,fashion-mnist,ui-hw,1,2,1,cpu,256,1900
cnn,fashion-mnist,ui-hw,1,4,1,cpu,256,3000
cnn,fashion-mnist,ui-hw,1,4,1,cpu,256,3300
cnn,fashion-mnist,ui-hw,2,4,1,cpu,256,5000
cnn,fashion-mnist,ui-hw,1,8,1,cpu,256,9000
EOF
"${AD[@]}" import "$TMP/runs.csv" >/dev/null || fail "import"

# A job that stays RUNNING (the fake trainer sleeps): the queue panel and the followed job.
sed -e 's/^name: ui-tiny/name: ui-running/' -e 's/^steps: 6/steps: 99999/' "$TMP/tiny.yaml" \
    >"$TMP/running.yaml"
"${AD[@]}" submit "$TMP/running.yaml" >"$TMP/running.out" 2>&1 ||
    { fail "submit of a running job"; cat "$TMP/running.out"; }


# The running job's id, once it runs (from the API: no CLI output format relied on).
running='" ".join(str(j["id"]) for j in d["jobs"]
                  if j["name"] == "ui-running" and j["state"] == "RUNNING")'
for _ in $(seq 100); do
    RUNNING_ID=$(api /api/jobs "$running")
    [ -n "$RUNNING_ID" ] && break
    sleep 0.1
done
[ -n "$RUNNING_ID" ] || fail "the job ui-running is not RUNNING"

# The JSON API (python3's urllib: no curl needed).
python3 - "$URL" "${AD[@]}" <<'EOF' || fail "the JSON API"
import json, sys, urllib.request, urllib.error
url, AD = sys.argv[1], sys.argv[2:]
def get(path, method="GET"):
    req = urllib.request.Request(url + path, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
def check(cond, what):
    if not cond:
        print("api: FAIL: " + what)
        sys.exit(1)
s, d = get("/api/nodes")
check(s == 200 and d["source"] == "coordinator", "nodes from the coordinator: %s" % d)
check(any(n.get("name") == "ui-node1" and n.get("load") is not None for n in d["nodes"]),
      "node ui-node1 with its load: %s" % d)
NODE_CORES = [n["cores"] for n in d["nodes"] if n["name"] == "ui-node1"][0]
s, d = get("/api/jobs")
check([j["name"] for j in d["jobs"]] == ["ui-running"] and d["jobs"][0]["state"] == "RUNNING",
      "the running job alone in /api/jobs: %s" % d)
s, d = get("/api/jobs?all=1")
tiny = [j for j in d["jobs"] if j["name"] == "ui-tiny"]
check(tiny and tiny[0]["state"] == "COMPLETED", "ui-tiny COMPLETED in /api/jobs?all=1")
s, d = get("/api/jobs/%d" % tiny[0]["id"])
check(s == 200 and len(d["metrics"].get("loss", [])) == 6, "6 loss samples: %s" % d.get("metrics"))
check(d["run"] and d["run"]["samples_per_s"] == 1000.0 and d["run"]["sps_sd"] == 40.0 and
      d["run"]["cpu_time_s"] == 1.5 and d["run"]["max_rss_bytes"] == 52428800 and
      d["run"]["flags"] == [] and d["run"]["hardware_label"] == "ui-node1",
      "the run's throughput, spread, CPU time, peak memory, flags and machine: %s" % d["run"])
check(sorted(d["metrics"]) == ["loss", "samples_per_s"], "the curves' metrics by default")
s, d = get("/api/jobs/%d?keys=all" % tiny[0]["id"])
check({"loss", "samples_per_s", "comm_s"} <= set(d["metrics"]), "?keys=all: %s" % d["metrics"])
s, d = get("/api/jobs/%d?keys=comm_s" % tiny[0]["id"])
check(list(d["metrics"]) == ["comm_s"], "?keys=comm_s: %s" % d["metrics"])
s, d = get("/api/jobs?all=1")
long_id = [j for j in d["jobs"] if j["name"] == "ui-long"][0]["id"]
s, d = get("/api/jobs/%d" % long_id)
loss = d["metrics"]["loss"]
check(1000 <= len(loss) <= 2001 and loss[0][0] == 1 and loss[-1][0] == 2500,
      "2,500 steps thinned to at most 2,000 (+ the last): %d, %s .. %s"
      % (len(loss), loss[0], loss[-1]))
s, d = get("/api/jobs/999999")
check(s == 404 and "no job 999999" in d["error"], "an unknown job: 404")
s, d = get("/api/jobs/x")
check(s == 400, "a job id that is not a number: 400")
s, d = get("/api/runs?model=cnn&layout=1x2x1")
check(s == 200 and len(d["runs"]) == 2, "runs filtered by model and layout: %s" % len(d["runs"]))
s, d = get("/api/runs?layout=2by2")
check(s == 400 and "NODESxPROCSxTHREADS" in d["error"], "a bad layout filter: 400")
s, d = get("/api/runs?state=DONEISH")
check(s == 400, "a bad state filter: 400")
s, d = get("/api/speedup?model=cnn")
rows = {(r["nodes"], r["procs_per_node"]): r for r in d["rows"]}
check(len(rows) == 5, "5 speedup rows: %s" % d)
r = rows[(1, 4)]
check(r["speedup_lo"] < r["speedup"] < r["speedup_hi"] and r["runs"] == 2 and
      r["workers"] == 4 and r["cores"] == 4 and r["ranks"] == 4 and r["baseline_runs"] == 2,
      "speedup with its interval, workers, cores and ranks: %s" % r)
# The interval is the store's (docs/speedup.md), not one the ui makes up: autodist speedup's.
import subprocess
cli = json.loads(subprocess.run(AD + ["speedup", "--json", "--model", "cnn"], check=True,
                                capture_output=True, text=True).stdout)["speedups"]
c = [x for x in cli if (x["nodes"], x["procs_per_node"]) == (1, 4)][0]
check(abs(c["speedup_lo"] - r["speedup_lo"]) < 1e-9 and
      abs(c["speedup_hi"] - r["speedup_hi"]) < 1e-9 and c["flags"] == r["flags"],
      "the interval and flags of autodist speedup: %s vs %s" % (c, r))
check(r["flags"] == [] and rows[(1, 8)]["flags"] == ["efficiency>100%"],
      "8.8x on 8 workers is flagged efficiency>100%%: %s" % rows[(1, 8)])
check(r["hardware_label"] == "ui-hw" and d["machines"]["ui-hw"]["label"] == "ui-hw",
      "an imported class keeps its name: %s" % d["machines"])
s, d = get("/api/speedup?model=mlp")
check(d["rows"] and all(x["hardware_label"] == "ui-node1" and x["node_cores"] == NODE_CORES
                        for x in d["rows"]), "the node's class by its name, %d cores: %s"
      % (NODE_CORES, d["machines"]))
s, d = get("/api/baselines?model=cnn")
check(s == 200 and len(d["baselines"]) == 1, "one cnn baseline: %s" % d)
b = d["baselines"][0]
check(b["n"] == 2 and abs(b["samples_per_s"] - 1020) < 1e-6 and abs(b["samples_sd"] - 28.28) < 0.01
      and b["pinned"] is False and b["batch_size"] == 256 and b["hardware_label"] == "ui-hw",
      "the baseline: the mean of the two 1x1x1 repeats: %s" % b)
s, d = get("/api/baselines?batch=0")
check(s == 400, "a bad batch filter: 400")
s, d = get("/api/plan?job=%d" % tiny[0]["id"])
check(s == 200 and d["layout"] == "1x1x1" and d["auto"] is False, "the plan of a fixed job: %s" % d)
s, d = get("/api/jobs?all=1")
auto = [j for j in d["jobs"] if j["name"] == "ui-auto"]
s, d = get("/api/plan?job=%d" % auto[0]["id"])
check(s == 200 and d["auto"] is True and d["plan"]["choice"] == d["layout"] and
      d["plan"]["candidates"] and d["source"] == "coordinator", "the plan of an auto job: %s" % d)
s, d = get("/api/plan")
check(s == 400 and "not a job id" in d["error"], "a plan without a job: 400")
s, d = get("/api/sweeps")
sw = [x for x in d["sweeps"] if x["name"] == "ui-sweep"]
check(sw and sw[0]["total"] == 3 and sw[0]["completed"] == 2 and sw[0]["failed"] == 1,
      "the sweep's progress: %s" % d)
s, d = get("/api/sweeps/ui-sweep")
check(s == 200 and d["sweep"]["name"] == "ui-sweep", "one sweep")
s, d = get("/api/runs", method="POST")
check(s == 405 and "not allowed" in d["error"], "read-only: POST answers 405")
s, d = get("/api/runs", method="DELETE")
check(s == 405, "read-only: DELETE answers 405")
s, d = get("/../../etc/passwd")
check(s in (400, 404), "no traversal")
print("api: ok")
EOF

# Without a coordinator (a dead endpoint): the same answers from the store.
DEAD=tcp://127.0.0.1:$(free_port)
"$BIN/autodist" --home "$H" --coordinator "$DEAD" ui --listen 0 >"$TMP/ui2.out" 2>&1 &
UI2_PID=$!
PIDS+=($UI2_PID)
URL2=
for _ in $(seq 100); do
    URL2=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$TMP/ui2.out" 2>/dev/null | head -1)
    [ -n "$URL2" ] && break
    sleep 0.1
done
python3 - "$URL2" <<'PY' || fail "the JSON API from the store alone"
import json, sys, urllib.request
url = sys.argv[1]
def get(path):
    with urllib.request.urlopen(url + path, timeout=10) as r:
        return json.loads(r.read())
def check(cond, what):
    if not cond:
        print("store api: FAIL: " + what)
        sys.exit(1)
d = get("/api/info")
check(d["reachable"] is False and "cannot reach the coordinator" in d["error"], "info: %s" % d)
d = get("/api/nodes")
check(d["source"] == "store" and [n["name"] for n in d["nodes"]] == ["ui-node1"], "nodes: %s" % d)
d = get("/api/jobs?all=1")
tiny = [j for j in d["jobs"] if j["name"] == "ui-tiny"]
check(d["source"] == "store" and tiny and tiny[0]["state"] == "COMPLETED", "jobs: %s" % d)
d = get("/api/jobs/%d" % tiny[0]["id"])
check(d["source"] == "store" and len(d["metrics"]["loss"]) == 6, "a job's metrics: %s" % d)
d = get("/api/sweeps/ui-sweep")
check(d["sweep"]["completed"] == 2 and d["sweep"]["failed"] == 1 and
      d["sweep"]["source"] == "store", "a sweep: %s" % d)
print("store api: ok")
PY
kill "$UI2_PID"

# The page in a real browser: the DOM once the polls have answered.
CHROME=("$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run --disable-extensions
        --user-data-dir="$TMP/chromium" --virtual-time-budget=6000 --window-size=1280,1800)
timeout 120 "${CHROME[@]}" --dump-dom "$URL/" >"$TMP/dom.html" 2>"$TMP/chromium.log" ||
    fail "chromium --dump-dom failed: $(tail -3 "$TMP/chromium.log")"
check_dom() {
    if grep -q -- "$1" "$TMP/dom.html"; then ok "DOM: $2"; else fail "DOM lacks $2 ($1)"; fi
}
check_dom 'class="node" data-name="ui-node1"' "the node"
check_dom '<td class="state-UP">UP</td>' "the node's state"
check_dom '<td>ui-tiny</td>' "the job"
check_dom '<td>ui-running</td><td class="state-RUNNING">RUNNING</td>' "the running job"
check_dom "id=\"job-title\"[^>]*>$RUNNING_ID ui-running" "the running job's panel"
NODE_CORES=$(api /api/nodes '[n["cores"] for n in d["nodes"] if n["name"] == "ui-node1"][0]')
# 5 layouts of the imported cnn runs, 1 or more of the mlp jobs and probes.
check_dom 'data-points="[5-9]"' "the speedup plot's points (5 or more)"
check_dom 'class="ideal"' "the ideal line"
check_dom 'class="errbar"' "the error bars"
check_dom "class=\"cores-line\" data-cores=\"$NODE_CORES\"" \
    "the line at the node's $NODE_CORES cores"
check_dom "cores/node (ui-node1)" "the core line's label names the machine"
check_dom 'class="point flagged" data-flags="efficiency&gt;100%"' "the flagged point (8.8x on 8)"
check_dom 'class="flag-ring"' "the flagged point's ring"
check_dom '<td class="num">1,000 ± 40.0</td>' "a run's throughput ± spread"
check_dom '<td class="num">[0-9.]* ([0-9.]*–[0-9.]*)</td>' "a run's speedup interval"
check_dom 'class="flag flag-efficiency"[^>]*>efficiency&gt;100%' "a run's flag badge"
check_dom '<tr class="baseline"><td title="ui-hw">ui-hw</td><td>cnn</td>' "the cnn baseline"
check_dom '<td class="num">1,020 ± 28.3</td><td class="num">2</td><td>mean of repeats' \
    "the baseline's throughput ± sd, runs and kind"
check_dom '1x4x1 (2)' "a point labelled with its layout and run count"
check_dom 'data-name="ui-sweep"' "the sweep"
check_dom 'FAILED: [^<]*seed 13 is unlucky' "the sweep's failed job and its reason"
check_dom 'class="pill live"' "the coordinator's mark"

# ?job=ID opens a job: the auto job's plan is drawn as a table with its choice.
AUTO_ID=$(api '/api/jobs?all=1' '[j["id"] for j in d["jobs"] if j["name"] == "ui-auto"][0]')
timeout 120 "${CHROME[@]}" --dump-dom "$URL/?job=$AUTO_ID" \
    >"$TMP/dom2.html" 2>>"$TMP/chromium.log" ||
    fail "chromium --dump-dom ?job=$AUTO_ID failed"
if grep -q '<table class="plan">' "$TMP/dom2.html" && grep -q 'Choice: 1x' "$TMP/dom2.html" &&
    grep -q "id=\"job-title\"[^>]*>$AUTO_ID ui-auto" "$TMP/dom2.html" &&
    grep -q '<b>CPU time</b>1.5 s' "$TMP/dom2.html" &&
    grep -q '<b>peak memory</b>50.0 MiB' "$TMP/dom2.html" &&
    grep -q '<b>flags</b>-' "$TMP/dom2.html" &&
    [ "$(grep -o 'class="curve"' "$TMP/dom2.html" | wc -l)" -eq 2 ]; then
    ok "DOM: the auto job's panel (flags, CPU time, peak memory), its curves and its plan"
else
    fail "DOM lacks the auto job's panel and plan (job $AUTO_ID)"
fi

# A screenshot: the right size, not blank, the speedup plot drawn.
timeout 120 "${CHROME[@]}" --screenshot="$TMP/ui.png" "$URL/" >>"$TMP/chromium.log" 2>&1 ||
    fail "chromium --screenshot failed"
# UI_SHOT=FILE keeps a copy (docs/ui.md describes it).
[ -n "${UI_SHOT:-}" ] && cp "$TMP/ui.png" "$UI_SHOT"
if python3 "$SRC/tests/ui/check_png.py" "$TMP/ui.png" 1280 1800; then
    ok "screenshot"
else
    fail "screenshot"
fi

# Ctrl-C (SIGINT) stops it cleanly.
kill -INT "$UI_PID"
for _ in $(seq 50); do kill -0 "$UI_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$UI_PID" 2>/dev/null; then
    fail "autodist ui did not stop on SIGINT"
else
    ok "stopped"
fi

# --open hands the URL to xdg-open (a fake one here); without one it says so.
mkdir -p "$TMP/fakebin" "$TMP/nobin"
printf '#!/bin/sh\necho "$1" >"%s/opened"\n' "$TMP" >"$TMP/fakebin/xdg-open"
chmod +x "$TMP/fakebin/xdg-open"
# Run autodist ui with PATH=$1 and --open until file $2 holds pattern $3, then stop it.
open_with() {
    PATH="$1" "${AD[@]}" ui --listen 127.0.0.1:0 --open >"$TMP/open.out" 2>&1 &
    local pid=$!
    for _ in $(seq 50); do grep -q "$3" "$2" 2>/dev/null && break; sleep 0.1; done
    kill "$pid"
    wait "$pid" 2>/dev/null
}
want='^http://127.0.0.1:[0-9]*$'
open_with "$TMP/fakebin:$PATH" "$TMP/opened" "$want"
grep -q "$want" "$TMP/opened" 2>/dev/null && ok "--open" ||
    fail "--open did not run xdg-open with the URL"
want='no xdg-open on this machine; open http://127.0.0.1:[0-9]*/ by hand'
open_with "$TMP/nobin" "$TMP/open.out" "$want"
grep -q "$want" "$TMP/open.out" && ok "--open without xdg-open" ||
    fail "--open without xdg-open: $(cat "$TMP/open.out")"

# Bad command lines: one line naming what is wrong, exit 2.
out=$("${AD[@]}" ui --listen nohost:80 2>&1)
[ $? -eq 2 ] && echo "$out" | grep -q 'not an IPv4 address' && ok "a bad --listen" ||
    fail "a bad --listen: $out"
out=$(AUTODIST_WEB_DIR=$TMP/none "${AD[@]}" ui --listen 127.0.0.1:0 2>&1)
[ $? -eq 1 ] && echo "$out" | grep -q 'has no index.html' && ok "a missing page folder" ||
    fail "a missing page folder: $out"

[ "$fails" -eq 0 ] && echo "test_ui: all checks passed"
exit $((fails > 0))
