#!/usr/bin/env bash
# bootstrap.sh - install the Debian packages autodist needs (DESIGN section 3), if missing.
# Usage: scripts/bootstrap.sh [--oar]   (as root, or with sudo available)
#   --oar   also the packages of the local OAR test cluster (scripts/oar-cluster.sh: OAR 2.5.9,
#           PostgreSQL, sshd), for the reservation tests; CI installs them (.ci/run)
set -euo pipefail

PKGS=(
    build-essential cmake pkg-config git
    libzmq3-dev libczmq-dev libhwloc-dev libsqlite3-dev libyaml-dev libjansson-dev
    libopenmpi-dev openmpi-bin libtorch-dev libdnnl-dev
    zlib1g-dev libpng-dev libjpeg-dev libstb-dev
    dataset-fashion-mnist
    libcmocka-dev gnuplot-nox python3-torch python3-numpy
    libmicrohttpd-dev chromium
    iproute2 procps sqlite3 curl
)
OAR_PKGS=(
    oar-server oar-server-pgsql oar-node oar-user oar-user-pgsql postgresql
    openssh-server openssh-client util-linux libjson-perl
)
case "${1:-}" in
--oar) PKGS+=("${OAR_PKGS[@]}") ;;
"") ;;
*)
    echo "bootstrap: unknown option $1 (usage: scripts/bootstrap.sh [--oar])" >&2
    exit 2
    ;;
esac

missing=()
for p in "${PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "bootstrap: all ${#PKGS[@]} packages are installed"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then
        SUDO="sudo"
    else
        echo "bootstrap: need root (or sudo) to install: ${missing[*]}" >&2
        exit 1
    fi
fi

echo "bootstrap: installing ${missing[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
