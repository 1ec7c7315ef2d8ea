#!/usr/bin/env bash
# build.sh - configure and build autodist into build/ (Release with debug info; warnings in
# our own code are errors here and in CI, -DAD_WERROR=OFF is the default for other builds).
# Usage: scripts/build.sh [extra cmake arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAD_WERROR=ON "$@" >/dev/null
cmake --build build -j "$(nproc)"
