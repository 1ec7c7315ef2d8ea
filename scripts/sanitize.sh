#!/usr/bin/env bash
# sanitize.sh - build autodist with AddressSanitizer and UndefinedBehaviorSanitizer into
# build-asan/ and run the unit tests there (ctest -L unit); CI runs it after the normal
# build. Integration tests (mpirun, daemons) stay on the normal build.
# Usage: scripts/sanitize.sh [extra ctest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DAD_SANITIZE=ON -DAD_WERROR=ON >/dev/null
cmake --build build-asan -j "$(nproc)"
# Leaks are reported too; libtorch and Open MPI keep allocations for the life of the process,
# which the suppressions file names.
export ASAN_OPTIONS="abort_on_error=0:detect_leaks=1:${ASAN_OPTIONS:-}"
export LSAN_OPTIONS="suppressions=$PWD/scripts/lsan.supp:print_suppressions=0:${LSAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
ctest --test-dir build-asan -L unit --output-on-failure "$@"
