#!/bin/sh
# netns-rsh.sh - mpirun's "remote shell" for hosts that are network namespaces of this machine.
#
# Open MPI starts its daemon on another host as `AGENT [options] HOST COMMAND...`
# (--mca plm_rsh_agent).  Here HOST is an address of a namespace: the file named
# by $AD_NETNS_MAP has one "ADDRESS NAMESPACE" pair per line, and COMMAND runs in
# that namespace through `ip netns exec`.  Each call is appended to
# $AD_NETNS_LOG when it is set, so a test can see which namespaces were used.  With
# $AD_NETNS_TMP set, Open MPI keeps its session files in $AD_NETNS_TMP/NAMESPACE.
while [ $# -gt 0 ]; do
    case "$1" in
    -*) shift ;;
    *) break ;;
    esac
done
host=$1
shift
if [ -z "${AD_NETNS_MAP:-}" ] || [ ! -r "$AD_NETNS_MAP" ]; then
    echo "netns-rsh.sh: AD_NETNS_MAP does not name a readable map file" >&2
    exit 255
fi
ns=$(awk -v h="$host" '$1 == h { print $2; exit }' "$AD_NETNS_MAP")
if [ -z "$ns" ]; then
    echo "netns-rsh.sh: no namespace for host $host in $AD_NETNS_MAP" >&2
    exit 255
fi
[ -n "${AD_NETNS_LOG:-}" ] && echo "$host $ns" >>"$AD_NETNS_LOG"
# The namespaces share this machine's /tmp and host name, so Open MPI's daemons would all
# make their session directories in /tmp/ompi.HOST.UID and race for them ("mkdir: File
# exists", exit 213).  Real nodes have a /tmp each; give each namespace one under
# $AD_NETNS_TMP when it is set.
if [ -n "${AD_NETNS_TMP:-}" ]; then
    mkdir -p "$AD_NETNS_TMP/$ns" || exit 255
    export OMPI_MCA_orte_tmpdir_base="$AD_NETNS_TMP/$ns"
fi
exec ip netns exec "$ns" /bin/sh -c "$*"
