#!/bin/sh
# oar_run.sh SOURCE_DIR PROGRAM [ARGS...] - run an OAR test against the local test cluster:
# skipped (77) without one; as its user aduser when started by root (OAR refuses root's jobs).
src=$1
shift
if ! "$src/scripts/oar-cluster.sh" status >/dev/null 2>&1; then
    echo "oar: SKIPPED: no local OAR test cluster (run scripts/oar-cluster.sh up as root)"
    exit 77
fi
if [ "$(id -u)" = 0 ]; then
    # aduser writes its temp files in its own TMPDIR, not in root's
    exec runuser -u aduser -- env TMPDIR=/tmp "$@"
fi
exec "$@"
