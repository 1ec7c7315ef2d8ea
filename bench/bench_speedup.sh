#!/usr/bin/env bash
# bench_speedup.sh - `autodist speedup` over a store of 1,000,000 runs (target: < 200 ms).
#
# Usage: bench/bench_speedup.sh            (after scripts/build.sh)
#   RUNS=1000000   runs in the generated store
#   REPEAT=5       timed runs per query
#   STORE=DIR      keep (or reuse) the generated home in DIR instead of a temp dir
#   BUILD=build    where autodist and autodist-gen-runs are
#
# The store is made by build/autodist-gen-runs (bench/gen_runs.c): 5 models x 2 datasets x
# 4 batches x 12 hardware classes x 48 layouts = 23,040 layout groups, ~43 runs each, 92%
# COMPLETED. Every query prints its whole answer to /dev/null; times are wall clock (and the
# CPU it used, user + system, which a busy shared machine disturbs less), process start and
# store open included.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-1000000}
REPEAT=${REPEAT:-5}
BUILD=${BUILD:-build}
AUTODIST=$BUILD/autodist
GEN=$BUILD/autodist-gen-runs

for bin in "$AUTODIST" "$GEN"; do
    if [ ! -x "$bin" ]; then
        echo "bench_speedup: $bin is missing: run scripts/build.sh first" >&2
        exit 2
    fi
done

if [ -n "${STORE:-}" ]; then
    HOME_DIR=$STORE
    mkdir -p "$HOME_DIR"
else
    HOME_DIR=$(mktemp -d /tmp/autodist-bench-speedup.XXXXXX)
    trap 'rm -rf "$HOME_DIR"' EXIT
fi
DB=$HOME_DIR/runs.db

if [ ! -s "$DB" ]; then
    echo "generating $RUNS runs in $DB ..." >&2
    t0=$(date +%s.%N)
    "$GEN" "$DB" "$RUNS" >/dev/null
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "generated in %.1f s\n", b - a }' >&2
fi

count=$(sqlite3 "$DB" 'SELECT count(*) FROM runs' 2>/dev/null || echo "$RUNS")
groups=$(sqlite3 "$DB" 'SELECT count(*) FROM run_groups' 2>/dev/null || echo "?")

# time_ms ARGS...: one run of autodist: "WALL CPU" in ms (CPU = user + system).
time_ms() {
    local out TIMEFORMAT='%3R %3U %3S'
    out=$({ time "$AUTODIST" --home "$HOME_DIR" "$@" >/dev/null 2>&1; } 2>&1)
    awk '{ printf "%d %d\n", $1 * 1000 + 0.5, ($2 + $3) * 1000 + 0.5 }' <<<"$out"
}

# median of the numbers on stdin
median() {
    sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# bench LABEL ARGS...: REPEAT timed runs; a markdown row.
bench() {
    local label=$1 rows a
    shift
    local plain=()
    for a in "$@"; do
        [ "$a" = --json ] || plain+=("$a")
    done
    rows=$("$AUTODIST" --home "$HOME_DIR" "${plain[@]}" --csv | tail -n +2 | wc -l)
    local walls=() cpus=() w c
    for _ in $(seq "$REPEAT"); do
        read -r w c < <(time_ms "$@")
        walls+=("$w")
        cpus+=("$c")
    done
    local min max med cpu
    min=$(printf '%s\n' "${walls[@]}" | sort -n | head -1)
    max=$(printf '%s\n' "${walls[@]}" | sort -n | tail -1)
    med=$(printf '%s\n' "${walls[@]}" | median)
    cpu=$(printf '%s\n' "${cpus[@]}" | median)
    local shown="" word
    for word in "$@"; do
        case $word in
        *" "*) shown+=" \"$word\"" ;;
        *) shown+=" $word" ;;
        esac
    done
    printf '| %s | `autodist%s` | %s | %s | %s | %s | %s |\n' "$label" "$shown" "$rows" "$min" "$med" \
        "$max" "$cpu"
}

echo "store: $count runs, $groups layout groups ($(du -h "$DB" | cut -f1)), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
echo
echo "| query | command | rows | wall min ms | wall median ms | wall max ms | CPU median ms |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
bench "every layout (table)" speedup
bench "every layout (--json)" speedup --json
bench "or, list, range" speedup --where "model in (cnn, resnet18) and nodes >= 2"
bench "pushed equality" speedup --where "model = cnn and hardware = hw-01"
bench "sorted, top 10" speedup --where "cores <= 8" --sort -efficiency --limit 10
bench "runs chosen before grouping" speedup --where "model = cnn and batch = 256 and accuracy > 0.9"
