#!/bin/sh
# netns-rsh.sh - mpirun's "remote shell" for hosts that are network namespaces of this machine.
#
# Open MPI starts its daemon on another host as `AGENT [options] HOST COMMAND...`
# (--mca plm_rsh_agent).  Here HOST is an address of a namespace: the file named
# by $AD_NETNS_MAP has one "ADDRESS NAMESPACE" pair per line, and COMMAND runs in
# that namespace through `ip netns exec`.  Each call is appended to
# $AD_NETNS_LOG when it is set, so a test can see which namespaces were used.
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
exec ip netns exec "$ns" /bin/sh -c "$*"
