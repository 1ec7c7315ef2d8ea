#!/bin/bash
# oar-cluster.sh - a real OAR 2.5.9 test cluster on this machine, for the OAR backend's tests
#
#   scripts/oar-cluster.sh up [--nodes N] [--cores C]   as root: (re)start it, fresh database
#   scripts/oar-cluster.sh down                         as root: stop it (jobs deleted)
#   scripts/oar-cluster.sh status                       any user: exit 0 when it is usable
#
# PostgreSQL + Almighty + N fake nodes node-1..node-N on 127.0.0.2.. (each an oar-node sshd on
# port 6667 in its own UTS namespace, so `hostname` on node-i prints node-i), C cores each.
# Like Grid'5000 it has a `cluster` resource property (value `local`, so -p "cluster='local'"
# works), an admission rule refusing walltimes over 2:00:00, and walltime extensions
# (oarwalltime) enabled.  OAR keeps the job user's files in /tmp at job end.  Jobs are submitted
# by the user aduser (OAR refuses root).  `up` is idempotent and wipes every job; about 10 s.
# It never installs packages: scripts/bootstrap.sh does (the list is in $PKGS below).
set -uo pipefail

PKGS="oar-server oar-server-pgsql oar-node oar-user oar-user-pgsql postgresql openssh-server
openssh-client util-linux libjson-perl"
JOB_USER=aduser
MAX_WALLTIME=2:00:00
STATE=/run/autodist-oar-cluster
LEGACY_STATE=/run/oar-setup # /work/shared/oar-local/setup.sh's pid files: stopped by `up`
CONF=/etc/oar/oar.conf
NODES=4
CORES=2

die() {
    echo "oar-cluster: $*" >&2
    exit 1
}
say() { echo "oar-cluster: $*"; }
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

# stop_pid PID: TERM, then KILL after 5 s.
stop_pid() {
    local pid=$1
    alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 50); do
        alive "$pid" || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
}

need_root() { [ "$(id -u)" = 0 ] || die "$1 must run as root (it $2)"; }

check_packages() {
    local missing=""
    for p in $PKGS; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' ||
            missing="$missing $p"
    done
    [ -z "$missing" ] || die "packages missing:$missing (scripts/bootstrap.sh installs them)"
}

# setconf KEY VALUE: KEY="VALUE" in oar.conf (uncommented, or appended).
setconf() {
    if grep -qE "^#?\s*$1=" "$CONF"; then
        sed -i -E "0,/^#?\s*$1=.*/s||$1=\"$2\"|" "$CONF"
    else
        echo "$1=\"$2\"" >>"$CONF"
    fi
}
unsetconf() { sed -i -E "s/^($1=.*)/#\1/" "$CONF"; }

# Stop a running instance (ours or setup.sh's): delete its jobs while Almighty runs, stop
# Almighty and whatever its session started, the node sshds, leftovers of job cgroups.
stop_instance() {
    local apid="" dir
    for dir in "$STATE" "$LEGACY_STATE"; do
        [ -s "$dir/almighty.pid" ] && apid=$(cat "$dir/almighty.pid")
    done
    if alive "$apid"; then
        local jobs
        jobs=$(oarstat 2>/dev/null | awk 'NR>2 {print $1}')
        if [ -n "$jobs" ]; then
            say "deleting jobs: $(echo $jobs)"
            oardel $jobs >/dev/null 2>&1
            local end=$((SECONDS + 45)) # a launching job is re-killed after JOBDEL_SOFTWALLTIME
            while [ $SECONDS -lt $end ] && [ -n "$(oarstat 2>/dev/null | awk 'NR>2')" ]; do
                sleep 0.5
            done
        fi
        local sid
        sid=$(ps -o sid= -p "$apid" | tr -d ' ')
        stop_pid "$apid"
        for p in $(ps -e -o pid=,sid= | awk -v s="$sid" '$2==s {print $1}'); do stop_pid "$p"; done
    fi
    for t in /sys/fs/cgroup/cpuset/oar/*/tasks; do
        [ -r "$t" ] || continue
        for p in $(cat "$t"); do kill -KILL "$p" 2>/dev/null; done
        sleep 0.2
        rmdir "${t%/tasks}" 2>/dev/null
    done
    for dir in "$STATE" "$LEGACY_STATE"; do
        for f in "$dir"/sshd-*.pid; do
            [ -e "$f" ] || continue
            stop_pid "$(cat "$f")"
            rm -f "$f"
        done
        rm -f "$dir/almighty.pid" "$dir/up"
    done
    rm -f /var/run/oar-server.pid
}

configure() {
    [ -e "$CONF.autodist.orig" ] || cp -a "$CONF" "$CONF.autodist.orig"
    setconf DB_BASE_PASSWD oar # empty by default: no TCP login
    setconf DB_BASE_PASSWD_RO oar_ro
    setconf SCHEDULER_MIN_TIME_BETWEEN_2_CALLS 0 # default 5 s: start latency up to 10 s
    setconf JOBDEL_SOFTWALLTIME 5                # default 20 s
    setconf WALLTIME_CHANGE_ENABLED yes          # oarwalltime, as on Grid'5000
    setconf WALLTIME_MAX_INCREASE 7200
    setconf WALLTIME_ALLOWED_USERS_TO_FORCE '*'
    if [ -r /sys/fs/cgroup/cpuset/tasks ]; then
        setconf JOB_RESOURCE_MANAGER_PROPERTY_DB_FIELD cpuset
        unsetconf OARSH_BYPASS_WHOLE_SECURITY
    else
        # no cgroup v1 cpusets: oarsh cannot find the job, it bypasses its checks
        say "no cgroup v1 cpuset: oarsh runs in bypass mode (the remote side runs as oar)"
        unsetconf JOB_RESOURCE_MANAGER_PROPERTY_DB_FIELD
        setconf OARSH_BYPASS_WHOLE_SECURITY 1
    fi
    # Stock OAR deletes the job user's files in /tmp, /var/tmp and /dev/shm at each job's end:
    # a copy of the job resource manager without that purge.
    local jrm=/etc/oar/job_resource_manager_cgroups.pl keep=/etc/oar/job_resource_manager_keeptmp.pl
    sed 's|^my @Tmp_dir_to_clear = .*|my @Tmp_dir_to_clear = ();|' "$jrm" >"$keep" ||
        die "cannot write $keep"
    setconf JOB_RESOURCE_MANAGER_FILE "$keep"
    sed -i '/# autodist-oar-cluster$/d; /# oar-setup$/d' /etc/hosts
    for i in $(seq 1 "$NODES"); do
        echo "127.0.0.$((i + 1)) node-$i # autodist-oar-cluster" >>/etc/hosts
    done
    id "$JOB_USER" >/dev/null 2>&1 || useradd -m -s /bin/bash "$JOB_USER" ||
        die "cannot create the user $JOB_USER"
}

start_database() {
    local pgv
    pgv=$(ls /usr/lib/postgresql | sort -n | tail -1)
    pg_lsclusters -h | awk '{print $1,$2}' | grep -qx "$pgv main" ||
        pg_createcluster "$pgv" main >/dev/null || die "pg_createcluster $pgv main failed"
    if ! pg_lsclusters -h | awk -v v="$pgv" '$1==v && $2=="main"' | grep -q online; then
        pg_ctlcluster "$pgv" main start || die "cannot start PostgreSQL $pgv"
    fi
    for _ in $(seq 100); do
        pg_isready -q -h 127.0.0.1 && break
        sleep 0.1
    done
    pg_isready -q -h 127.0.0.1 || die "PostgreSQL $pgv does not answer on 127.0.0.1"
    if su postgres -c "psql -tAc \"select 1 from pg_database where datname='oar'\"" | grep -q 1; then
        oar-database --drop --db-is-local -y >/dev/null 2>&1 || die "oar-database --drop failed"
    fi
    su postgres -c "PGOPTIONS='-c client_min_messages=warning' psql -qc 'DROP ROLE IF EXISTS oar' \
        -c 'DROP ROLE IF EXISTS oar_ro'" >/dev/null
    oar-database --create --db-is-local -y >/dev/null 2>&1 || die "oar-database --create failed"
}

start_nodes() {
    [ -s ~oar/.ssh/id_rsa ] || die "~oar/.ssh/id_rsa missing (the oar-node package makes it)"
    rm -f ~oar/.ssh/known_hosts
    install -d -m 0755 /run/sshd
    [ -r /etc/oar/oar_ssh_host_rsa_key ] || ssh-keygen -q -t rsa -N '' -f /etc/oar/oar_ssh_host_rsa_key
    local uts=no
    unshare --uts true 2>/dev/null && uts=yes
    for i in $(seq 1 "$NODES"); do
        local args=(-f /etc/oar/sshd_config -o "PidFile=$STATE/sshd-node-$i.pid"
            -o "ListenAddress=127.0.0.$((i + 1)):6667")
        if [ $uts = yes ]; then
            unshare --uts /bin/sh -c 'hostname "$0" && exec "$@"' "node-$i" /usr/sbin/sshd \
                "${args[@]}" 2>>"$STATE/sshd.log"
        else
            /usr/sbin/sshd "${args[@]}" 2>>"$STATE/sshd.log"
        fi || die "sshd of node-$i did not start (see $STATE/sshd.log)"
    done
    for i in $(seq 1 "$NODES"); do
        local ok=
        for _ in $(seq 50); do
            su oar -s /bin/sh -c "ssh -p 6667 -o BatchMode=yes -o ConnectTimeout=2 node-$i true" \
                2>/dev/null && ok=1 && break
            sleep 0.1
        done
        [ -n "$ok" ] || die "the user oar cannot ssh to node-$i:6667 (see $STATE/sshd.log)"
    done
    [ $uts = yes ] || say "no UTS namespaces: every node's hostname is $(hostname)"
}

start_server() {
    touch /var/log/oar.log
    chown oar /var/log/oar.log
    /usr/sbin/oar-server || die "oar-server did not start (see /var/log/oar.log)"
    cp /var/run/oar-server.pid "$STATE/almighty.pid"
    for _ in $(seq 50); do
        ss -ltn | grep -q ':6666 ' && return 0
        sleep 0.1
    done
    die "Almighty does not listen on port 6666 (see /var/log/oar.log)"
}

add_resources() {
    local ncpu cpusets r=0
    ncpu=$(nproc)
    cpusets=$((CORES < ncpu ? CORES : ncpu))
    oarproperty -q -c -a host && oarproperty -q -a cpu && oarproperty -q -a core &&
        oarproperty -q -c -a cluster || die "oarproperty failed"
    for i in $(seq 1 "$NODES"); do
        for c in $(seq 1 "$CORES"); do
            oarnodesetting -a -h "node-$i" -p "host=node-$i" -p "cpu=$i" -p "core=$((r + 1))" \
                -p "cpuset=$(((c - 1) % cpusets))" -p "cluster=local" >/dev/null ||
                die "oarnodesetting -a -h node-$i failed"
            r=$((r + 1))
        done
    done
}

# Refuse walltimes over $MAX_WALLTIME at submission, like Grid'5000's rules.
add_admission_rule() {
    local f
    f=$(mktemp) && chmod 644 "$f"
    cat >"$f" <<EOF
# autodist test cluster: no job longer than $MAX_WALLTIME (like Grid'5000's walltime limits)
my \$max_walltime = OAR::IO::sql_to_duration("$MAX_WALLTIME");
foreach my \$mold (@{\$ref_resource_list}) {
    if (defined(\$mold->[1]) and \$mold->[1] > \$max_walltime) {
        die("[ADMISSION RULE] Walltime too big: the maximum allowed is $MAX_WALLTIME on this cluster\n");
    }
}
EOF
    oaradmissionrules -n -r "$f" -Y -P 20 >/dev/null || {
        rm -f "$f"
        die "oaradmissionrules -n failed"
    }
    rm -f "$f"
}

cmd_up() {
    while [ $# -gt 0 ]; do
        case $1 in
        --nodes) NODES=${2:-} && shift 2 ;;
        --cores) CORES=${2:-} && shift 2 ;;
        *) die "up: unknown option '$1' (usage: up [--nodes N] [--cores C])" ;;
        esac
    done
    [[ $NODES =~ ^[1-9][0-9]?$ ]] && [ "$NODES" -le 60 ] || die "up: --nodes must be 1..60"
    [[ $CORES =~ ^[1-9][0-9]?$ ]] || die "up: --cores must be 1..99"
    need_root up "starts OAR's daemons and edits $CONF"
    check_packages
    local t0=$SECONDS
    mkdir -p "$STATE" && chmod 755 "$STATE"
    stop_instance
    configure
    start_database
    start_nodes
    start_server
    add_resources
    add_admission_rule
    echo "$NODES $CORES" >"$STATE/up"
    chmod 644 "$STATE/up"
    say "up in $((SECONDS - t0)) s: node-1..node-$NODES ($CORES cores each, cluster='local'," \
        "walltime <= $MAX_WALLTIME); submit as $JOB_USER"
}

cmd_down() {
    need_root down "stops OAR's daemons"
    stop_instance
    rm -f "$STATE/up"
    say "down"
}

cmd_status() {
    command -v oarsub >/dev/null || die "not usable: oarsub not found (OAR is not installed)"
    [ -r "$STATE/up" ] || die "not usable: not started by this script (run scripts/oar-cluster.sh up as root)"
    local apid nodes cores
    read -r nodes cores <"$STATE/up"
    apid=$(cat "$STATE/almighty.pid" 2>/dev/null)
    [ -n "$apid" ] && [ -d "/proc/$apid" ] || die "not usable: Almighty is not running"
    id "$JOB_USER" >/dev/null 2>&1 || die "not usable: no user $JOB_USER"
    local alive
    alive=$(timeout 30 oarnodes -s 2>/dev/null | grep -c ': Alive')
    [ "$alive" -gt 0 ] || die "not usable: no Alive resource (oarnodes -s)"
    say "up: $nodes nodes x $cores cores, $alive resources Alive, submit as $JOB_USER"
}

case ${1:-} in
up) shift && cmd_up "$@" ;;
down) cmd_down ;;
status) cmd_status ;;
*) die "usage: scripts/oar-cluster.sh up [--nodes N] [--cores C] | down | status" ;;
esac
