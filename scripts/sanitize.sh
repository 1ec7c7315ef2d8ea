#!/usr/bin/env bash
# sanitize.sh - build autodist with AddressSanitizer and UndefinedBehaviorSanitizer into
# build-asan/ and run the unit tests there (ctest -L unit); CI runs it after the normal
# build. Integration tests (mpirun, daemons) stay on the normal build.
# Usage: scripts/sanitize.sh [extra ctest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DAD_SANITIZE=ON -DAD_WERROR=ON >/dev/null
cmake --build build-asan -j "$(nproc)"
# Leaks are reported too. hwloc's PCI plugin (libpciaccess) leaks and is unloaded before
# LeakSanitizer can name it, so it is left out here; the synthetic-topology tests describe
# their PCI and OS devices in XML and do not need it.
export HWLOC_PLUGINS_BLACKLIST="hwloc_pci${HWLOC_PLUGINS_BLACKLIST:+,$HWLOC_PLUGINS_BLACKLIST}"
export ASAN_OPTIONS="abort_on_error=0:detect_leaks=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
ctest --test-dir build-asan -L unit --output-on-failure "$@"
