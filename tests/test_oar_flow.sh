#!/bin/bash
# test_oar_flow.sh - autodist on the real local OAR test cluster (scripts/oar-cluster.sh), as a
# Grid'5000 user would use it: a job file with a reservation: section reserved, run across two
# nodes through oarsh, stored with its reservation and released; reproduced; refused requests;
# walltime expiry; oardel by someone else; stopped while waiting then attached again by name;
# an agent that cannot start; a sweep cut by walltime that goes on in a second reservation;
# `autodist up` inside an OAR job.
#
# usage: tests/test_oar_flow.sh BIN_DIR [SCENARIO...]   (default: all)
# Exit 0 passed, 1 failed, 77 skipped (no local OAR test cluster, or not root).
set -u
BIN=$(cd "${1:?usage: test_oar_flow.sh BIN_DIR [SCENARIO...]}" && pwd)
shift
SRC=$(cd "$(dirname "$0")/.." && pwd)
USER_=aduser

if [ "$(id -u)" != 0 ]; then
    echo "oar_flow: SKIPPED: needs root (it runs autodist as the test user $USER_)"
    exit 77
fi
if ! "$SRC/scripts/oar-cluster.sh" status >/dev/null 2>&1; then
    echo "oar_flow: SKIPPED: no local OAR test cluster (run scripts/oar-cluster.sh up as root)"
    exit 77
fi

T=$(mktemp -d /tmp/ad_oarflow.XXXXXX)
chown "$USER_" "$T"
H=$T/home
ID=$$
BASE=$((30000 + (ID % 200) * 10)) # below the ephemeral ports, above the tests' random ones
CLIENT=tcp://127.0.0.1:$BASE
AGENTS=tcp://127.0.0.1:$((BASE + 1))
METRICS=tcp://127.0.0.1:$((BASE + 2))
TAG=t$ID
pass=0

as_user() { runuser -u "$USER_" -- env TMPDIR="$T" "$@"; }
ad() { as_user "$BIN/autodist" --home "$H" --coordinator "$CLIENT" "$@"; }
ok() {
    pass=$((pass + 1))
    echo "ok $pass - $*"
}
fail() {
    echo "FAIL: $*" >&2
    for f in "$T"/*.out "$H"/logs/autodistd.log; do
        [ -f "$f" ] && { echo "--- $f" >&2; tail -n 25 "$f" >&2; }
    done
    exit 1
}
# The OAR jobs of this test still unfinished (names carry $TAG).
oar_jobs() {
    oarstat -u "$USER_" -J 2>/dev/null | python3 -c '
import json, sys
t = sys.stdin.read().strip()
d = json.loads(t) if t else {}
print(" ".join(k for k, v in d.items() if sys.argv[1] in (v.get("name") or "")
               and v.get("state") not in ("Terminated", "Error")))' "$TAG"
}
cleanup() {
    for j in $(oar_jobs); do oardel "$j" >/dev/null 2>&1; done
    ad down >/dev/null 2>&1
    pkill -u "$USER_" -f "autodist-agent.*--home $H" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT

# job FILE NAME [RESERVATION-YAML] [STEPS] [LAYOUT-NODES]: a small synthetic job file.
job() {
    cat >"$T/$1" <<EOF
name: $2
model: mlp
dataset: {synthetic: {shape: [1, 28, 28], classes: 10, samples: 4096}}
steps: ${4:-60}
batch_size: 64
checkpoint_every: 50
layout: {nodes: ${5:-2}, procs_per_node: 1, threads_per_proc: 1}
EOF
    [ -n "${3:-}" ] && echo "reservation: $3" >>"$T/$1"
    chown "$USER_" "$T/$1"
}
sql() { sqlite3 "$H/runs.db" "$1"; }
nothing_left() { # no trainer or reservation agent of this test's home still runs
    sleep 1
    ! pgrep -f "autodist-train.*$H" >/dev/null && ! pgrep -f "autodist-agent.*--home $H.*--pool" >/dev/null
}

mkdir -p "$H" && chown "$USER_" "$H"
ad up --agent-endpoint "$AGENTS" --metrics-endpoint "$METRICS" --insecure >"$T/up.out" 2>&1 ||
    fail "autodist up"

s_basic() { # reserve 2 nodes -> 2x1 across them through oarsh -> COMPLETED, stored, released
    job basic.yaml "basic-$TAG" "{nodes: 2, walltime: 0:05:00}"
    ad submit "$T/basic.yaml" >"$T/basic.out" 2>&1 || fail "submit on a reservation: $(tail -3 "$T/basic.out")"
    grep -q "COMPLETED" "$T/basic.out" || fail "the job did not complete"
    grep -q "starting agents on 2 nodes through oarsh" "$T/basic.out" || fail "agents not through oarsh"
    grep -q "released OAR job" "$T/basic.out" || fail "the reservation was not released"
    oj=$(sed -n 's/.*submitted OAR job \([0-9]*\).*/\1/p' "$T/basic.out")
    [ -n "$oj" ] || fail "no OAR job id in the output"
    st=$(oarstat -s -j "$oj" | awk '{print $2}')
    [ "$st" = Terminated ] || [ "$st" = Error ] || fail "OAR job $oj is $st after the release"
    run=$(sql "select run from jobs where name='basic-$TAG'")
    ad show "$run" --json >"$T/show.json" || fail "show $run"
    python3 - "$T/show.json" "$oj" <<'EOF' || fail "the run's record lacks its reservation"
import json, sys
d = json.load(open(sys.argv[1]))
r = d["record"]["reservation"]
g = r["granted"]
assert r["request"]["nodes"] == 2 and r["request"]["walltime"] == "0:05:00", r
assert g["job_id"] == sys.argv[2] and g["backend"] == "oar", g
assert len(g["assigned_hosts"]) == 2 and g["cluster"] == "local", g
assert g["stop_time"] and g["start_time"] and "host=2" in g["wanted_resources"], g
hosts = {n["name"] for n in d["record"]["nodes"]}
assert hosts == set(g["assigned_hosts"]), (hosts, g["assigned_hosts"])
assert "plm_rsh_agent" in d["record"]["launch"]["argv"] and "oarsh" in d["record"]["launch"]["argv"]
EOF
    ok "a 2x1 job on a 2-node reservation through oarsh: COMPLETED, stored with what OAR granted, released"
    BASIC_RUN=$run
}

s_reproduce() { # reproduce the basic run: a new reservation, a new run linked to it, a ratio
    [ -n "${BASIC_RUN:-}" ] || s_basic
    ad reproduce "$BASIC_RUN" --dry-run >"$T/repro-dry.out" 2>&1 || fail "reproduce --dry-run: $(tail -3 "$T/repro-dry.out")"
    grep -q "oarsub" "$T/repro-dry.out" || fail "--dry-run does not show the oarsub argv"
    grep -q "cluster='local'" "$T/repro-dry.out" || fail "--dry-run does not ask for the same cluster"
    ad reproduce "$BASIC_RUN" --repeats 2 >"$T/repro.out" 2>&1 || fail "reproduce: $(tail -5 "$T/repro.out")"
    grep -qi "ratio" "$T/repro.out" || fail "no ratio printed"
    n=$(sql "select count(*) from runs where reproduces=$BASIC_RUN and state='COMPLETED'")
    [ "$n" = 2 ] || fail "expected 2 runs linked to run $BASIC_RUN, got $n"
    [ -z "$(oar_jobs)" ] || fail "reproduce left OAR jobs: $(oar_jobs)"
    ok "reproduce on a reservation of the same cluster: 2 new runs linked to the original, a ratio, released"
}

s_auto() { # layout: auto plans (and probes) on the reservation's nodes, not the cluster's own
    job auto.yaml "auto-$TAG" "{nodes: 2, walltime: 0:05:00}" 200
    sed -i 's/^layout: .*/layout: auto/' "$T/auto.yaml"
    ad submit "$T/auto.yaml" >"$T/auto.out" 2>&1 || fail "layout auto on a reservation: $(tail -3 "$T/auto.out")"
    hosts=$(sql "select group_concat(nodelist, ',') from jobs where name like 'auto-$TAG%'")
    [ -n "$hosts" ] || fail "no job of auto-$TAG"
    case ",$hosts," in *,vm,* | *,"$(hostname)",*) fail "a job of the reservation ran off it: $hosts" ;; esac
    echo "$hosts" | tr ',' '\n' | grep -qv '^node-[0-9]*$' && fail "nodes off the reservation: $hosts"
    ok "layout: auto on a reservation: probes and the job on its nodes only ($hosts)"
}

s_refused() { # requests OAR refuses: its reason in one line, exit 1, no job left
    job bad1.yaml "bad1-$TAG" "{nodes: 2, walltime: 0:05:00, properties: \"colour='red'\"}"
    ad submit "$T/bad1.yaml" >"$T/bad1.out" 2>&1 && fail "an unknown property was accepted"
    grep -q "OAR refused the reservation: property colour does not exist" "$T/bad1.out" ||
        fail "unknown property: $(cat "$T/bad1.out")"
    job bad2.yaml "bad2-$TAG" "{nodes: 2, walltime: 30:00:00}"
    ad submit "$T/bad2.yaml" >"$T/bad2.out" 2>&1 && fail "a walltime over the limit was accepted"
    grep -q "OAR refused the reservation: .*[Ww]alltime" "$T/bad2.out" || fail "walltime: $(cat "$T/bad2.out")"
    [ "$(wc -l <"$T/bad2.out")" = 1 ] || fail "not one line: $(cat "$T/bad2.out")"
    job bad3.yaml "bad3-$TAG" "{nodes: 2, walltime: 25:99}"
    ad submit "$T/bad3.yaml" >"$T/bad3.out" 2>&1 && fail "a bad walltime was accepted"
    grep -q "bad3.yaml:8:35: reservation.walltime must be" "$T/bad3.out" || fail "bad walltime: $(cat "$T/bad3.out")"
    job bad4.yaml "bad4-$TAG" "{nodes: 2, walltime: 1h, wallclock: 2h}"
    ad submit "$T/bad4.yaml" >"$T/bad4.out" 2>&1 && fail "an unknown key was accepted"
    grep -q 'bad4.yaml:8:39: unknown key "wallclock" in reservation' "$T/bad4.out" || fail "unknown key: $(cat "$T/bad4.out")"
    [ -z "$(oar_jobs)" ] || fail "refused requests left OAR jobs"
    ok "refused requests (unknown property, walltime over the limit) give OAR's reason in one line; bad sections FILE:LINE:COL"
}

s_walltime() { # a job longer than its reservation: stopped before the walltime, TIMEOUT, nothing left
    job wt.yaml "wt-$TAG" "{nodes: 2, walltime: 0:00:25}" 1000000
    ad submit "$T/wt.yaml" >"$T/wt.out" 2>&1 && fail "a job cut by the walltime exited 0"
    st=$(sql "select state||'|'||reason from jobs where name='wt-$TAG'")
    case $st in TIMEOUT*OAR*walltime*) ;; *) fail "walltime: job is $st" ;; esac
    nothing_left || fail "processes left after the walltime"
    ok "a job past its reservation's walltime ends TIMEOUT with OAR's reason, nothing left running"
}

s_oardel() { # someone else deletes the reservation: the job ends with a reason naming OAR
    job del.yaml "del-$TAG" "{nodes: 2, walltime: 0:05:00}" 1000000
    ad submit "$T/del.yaml" >"$T/del.out" 2>&1 &
    pid=$!
    for _ in $(seq 120); do grep -q "RUNNING step" "$T/del.out" && break; sleep 0.5; done
    oj=$(oar_jobs)
    [ -n "$oj" ] || fail "no OAR job to delete"
    oardel "$oj" >/dev/null
    wait "$pid" && fail "a job whose reservation was deleted exited 0"
    st=$(sql "select state||'|'||reason from jobs where name='del-$TAG'")
    case $st in CANCELLED*"OAR job $oj was deleted"*) ;; *) fail "oardel: job is $st" ;; esac
    nothing_left || fail "processes left after oardel"
    ok "oardel by someone else: the job ends CANCELLED, the reason names OAR job $oj"
}

s_attach() { # stopped while waiting, then attached again by name
    blocker=$(as_user oarsub -d "$T" -O /dev/null -E /dev/null -n "blocker-$TAG" -l host=4,walltime=0:00:20 "sleep 12" 2>/dev/null |
        sed -n 's/^OAR_JOB_ID=//p')
    [ -n "$blocker" ] || fail "cannot submit the blocking job"
    job att.yaml "att-$TAG" "{nodes: 2, walltime: 0:05:00}"
    ad submit "$T/att.yaml" >"$T/att1.out" 2>&1 &
    pid=$!
    for _ in $(seq 40); do grep -q "Waiting" "$T/att1.out" && break; sleep 0.25; done
    # autodist itself, not only the shell around it
    pkill -KILL -u "$USER_" -f "autodist --home $H .*submit $T/att.yaml"
    wait "$pid" 2>/dev/null
    grep -q "submitted job" "$T/att1.out" && fail "the killed autodist went on: $(cat "$T/att1.out")"
    oj=$(sed -n 's/.*submitted OAR job \([0-9]*\).*/\1/p' "$T/att1.out")
    [ -n "$oj" ] || fail "no OAR job submitted before the kill: $(cat "$T/att1.out")"
    ad submit "$T/att.yaml" >"$T/att2.out" 2>&1 || fail "attach again: $(tail -3 "$T/att2.out")"
    grep -q "attached to OAR job $oj (autodist-att-$TAG), submitted earlier" "$T/att2.out" ||
        fail "not attached by name: $(head -3 "$T/att2.out")"
    grep -q COMPLETED "$T/att2.out" || fail "the attached job did not complete"
    ok "autodist killed while waiting, run again: attached to OAR job $oj by name, COMPLETED"
}

s_cmds() { # autodist reservation show|extend|release by name and id; no OAR; deleted while waiting
    oj=$(as_user oarsub -d "$T" -O /dev/null -E /dev/null -n "cmd-$TAG" -l host=1,walltime=0:05:00 "sleep 300" 2>/dev/null |
        sed -n 's/^OAR_JOB_ID=//p')
    [ -n "$oj" ] || fail "cannot submit a hold job"
    for _ in $(seq 60); do [ "$(oarstat -s -j "$oj" | awk '{print $2}')" = Running ] && break; sleep 0.25; done
    ad reservation show "cmd-$TAG" --json >"$T/rshow.json" || fail "reservation show by name"
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["job_id"]==sys.argv[2], d' \
        "$T/rshow.json" "$oj" || fail "reservation show: $(cat "$T/rshow.json")"
    ad reservation extend "$oj" 10m >"$T/rext.out" 2>&1 || fail "extend: $(cat "$T/rext.out")"
    ad reservation extend "$oj" soon >"$T/rext2.out" 2>&1
    [ $? = 2 ] && grep -q "a duration such as" "$T/rext2.out" || fail "a bad extension: $(cat "$T/rext2.out")"
    ad reservation release "cmd-$TAG" >"$T/rrel.out" 2>&1 || fail "release: $(cat "$T/rrel.out")"
    st=$(oarstat -s -j "$oj" | awk '{print $2}')
    [ "$st" = Error ] || [ "$st" = Terminated ] || fail "released but $st"
    ad reservation release "$oj" >/dev/null 2>&1 || fail "releasing a job over is not idempotent"
    ad reservation show 99999999 >"$T/r404.out" 2>&1 && fail "an unknown OAR job was shown"
    grep -q "unknown" "$T/r404.out" || fail "unknown job: $(cat "$T/r404.out")"
    # No OAR on this machine (PATH without it): one line naming the command.
    job nooar.yaml "nooar-$TAG" "{nodes: 1, walltime: 0:05:00}"
    as_user env PATH=/nonexistent "$BIN/autodist" --home "$H" --coordinator "$CLIENT" \
        submit "$T/nooar.yaml" >"$T/nooar.out" 2>&1 && fail "a reservation without OAR went through"
    grep -q "OAR is not installed on this machine (oarsub: not found)" "$T/nooar.out" ||
        fail "no OAR: $(cat "$T/nooar.out")"
    # An OAR job deleted while autodist waits for it: its reason, exit 1.
    blocker=$(as_user oarsub -d "$T" -O /dev/null -E /dev/null -n "blocker2-$TAG" -l host=4,walltime=0:00:30 "sleep 25" 2>/dev/null |
        sed -n 's/^OAR_JOB_ID=//p')
    job gone.yaml "gone-$TAG" "{nodes: 2, walltime: 0:05:00}"
    ad submit "$T/gone.yaml" >"$T/gone.out" 2>&1 &
    pid=$!
    for _ in $(seq 40); do grep -q "Waiting" "$T/gone.out" && break; sleep 0.25; done
    oj=$(sed -n 's/.*submitted OAR job \([0-9]*\).*/\1/p' "$T/gone.out")
    [ -n "$oj" ] || fail "nothing submitted: $(cat "$T/gone.out")"
    oardel "$oj" >/dev/null
    wait "$pid" && fail "a reservation deleted while waiting exited 0"
    grep -q "OAR job $oj ended before it ran: OAR job $oj was deleted by root (oardel)" "$T/gone.out" ||
        fail "deleted while waiting: $(cat "$T/gone.out")"
    oardel "$blocker" >/dev/null 2>&1
    ok "reservation show/extend/release by name and id; no OAR: one line; deleted while waiting: OAR's reason"
}

s_agent_fails() { # an agent that cannot start names its host
    H2=$T/home2
    mkdir -p "$H2" && chown "$USER_" "$H2"
    as_user "$BIN/autodist" --home "$H2" --coordinator tcp://127.0.0.1:$((BASE + 5)) up \
        --agent-endpoint tcp://127.0.0.1:$((BASE + 6)) --metrics-endpoint tcp://127.0.0.1:$((BASE + 7)) \
        >"$T/up2.out" 2>&1 || fail "up (with keys): $(tail -2 "$T/up2.out")"
    rm -rf "$H2/keys/node"
    job af.yaml "af-$TAG" "{nodes: 2, walltime: 0:05:00}"
    as_user "$BIN/autodist" --home "$H2" --coordinator tcp://127.0.0.1:$((BASE + 5)) submit "$T/af.yaml" \
        >"$T/af.out" 2>&1 && fail "agents without keys started"
    grep -q "^autodist: node-[0-9]*: the agent cannot start (oarsh exit): .*no CURVE key" "$T/af.out" ||
        fail "agent failure: $(cat "$T/af.out")"
    as_user "$BIN/autodist" --home "$H2" --coordinator tcp://127.0.0.1:$((BASE + 5)) down >/dev/null 2>&1
    [ -z "$(oar_jobs)" ] || fail "the reservation was not released after the agents failed"
    ok "an agent that cannot start on a node: the error names the host and why; released"
}

s_sweep() { # a sweep cut by its reservation's walltime goes on in a second one; each run once
    cat >"$T/sw.yaml" <<EOF
name: cut-$TAG
base:
  model: mlp
  dataset: {synthetic: {shape: [1, 28, 28], classes: 10, samples: 4096}}
  steps: 3000
  batch_size: 64
  checkpoint_every: 200
  layout: {nodes: 1, procs_per_node: 1, threads_per_proc: 1}
  reservation: {nodes: 2, walltime: 0:00:30}
grid:
  seed: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]
EOF
    chown "$USER_" "$T/sw.yaml"
    ad sweep "$T/sw.yaml" >"$T/sw.out" 2>&1 || fail "sweep: $(tail -5 "$T/sw.out")"
    grep -q "reservation 2 for sweep cut-$TAG" "$T/sw.out" || fail "the sweep did not need a second reservation"
    grep -q "DONE: 14 of 14 jobs completed" "$T/sw.out" || fail "sweep not done: $(tail -3 "$T/sw.out")"
    dup=$(sql "select count(*) from (select config_hash from runs r join sweeps s on r.sweep=s.id
               where s.name='cut-$TAG' and r.state='COMPLETED' group by config_hash having count(*) > 1)")
    n=$(sql "select count(distinct config_hash) from runs r join sweeps s on r.sweep=s.id
             where s.name='cut-$TAG' and r.state='COMPLETED'")
    [ "$dup" = 0 ] && [ "$n" = 14 ] || fail "runs: $n configurations completed, $dup more than once"
    ng=$(sql "select count(distinct json_extract(record, '\$.reservation.granted.job_id')) from run_records
              where run in (select r.id from runs r join sweeps s on r.sweep=s.id where s.name='cut-$TAG')")
    [ "$ng" -ge 2 ] || fail "the sweep's runs name $ng reservations, expected 2 or more"
    [ -z "$(oar_jobs)" ] || fail "the sweep left OAR jobs"
    ok "a sweep cut by walltime goes on in a next reservation: 14 configurations, each COMPLETED once"
}

s_inside() { # autodist up inside an OAR job: agents on its nodes through oarsh
    H3=$T/home3
    mkdir -p "$H3" && chown "$USER_" "$H3"
    job in.yaml "in-$TAG"
    P=$((BASE + 8))
    cat >"$T/inside.sh" <<EOF
#!/bin/bash
A="$BIN/autodist --home $H3 --coordinator tcp://127.0.0.1:$P"
\$A up --agent-endpoint tcp://127.0.0.1:$((P + 1)) --metrics-endpoint tcp://127.0.0.1:$((P + 2)) --insecure || exit 1
\$A submit --wait $T/in.yaml
rc=\$?
\$A down
exit \$rc
EOF
    chmod +x "$T/inside.sh"
    chown "$USER_" "$T/inside.sh"
    oj=$(as_user oarsub -n "inside-$TAG" -d "$T" -O "$T/inside.%jobid%.out" -E "$T/inside.%jobid%.err" \
        -l host=2,walltime=0:05:00 "$T/inside.sh" 2>/dev/null | sed -n 's/^OAR_JOB_ID=//p')
    [ -n "$oj" ] || fail "cannot submit the batch job"
    for _ in $(seq 240); do
        st=$(oarstat -s -j "$oj" | awk '{print $2}')
        case $st in Terminated | Error) break ;; esac
        sleep 0.5
    done
    out=$(cat "$T/inside.$oj.out" "$T/inside.$oj.err" 2>/dev/null)
    [ "$st" = Terminated ] || fail "the batch job ended $st: $out"
    echo "$out" | grep -q "inside OAR job $oj: 2 nodes" || fail "up did not see the job: $out"
    echo "$out" | grep -q "COMPLETED" || fail "the job did not complete inside: $out"
    ok "autodist up inside an OAR job: an agent on each of its 2 nodes through oarsh, a 2x1 job COMPLETED"
}

SCENARIOS=${*:-basic reproduce auto refused walltime oardel attach cmds agent_fails sweep inside}
for s in $SCENARIOS; do "s_$s"; done
echo "passed $pass"
