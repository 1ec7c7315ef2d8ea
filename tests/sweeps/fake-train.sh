#!/bin/sh
# fake-train.sh - a trainer for sweep tests and benchmarks: takes autodist-train's options,
# writes a start and a done metrics line and exits 0 at once.  --steps N sleeps N x 0.1 s;
# --seed 13 fails like the real trainer does (one error line, exit 1).
metrics= steps=0 seed=1
while [ $# -gt 0 ]; do
    case "$1" in
    --metrics) metrics=$2; shift ;;
    --steps) steps=$2; shift ;;
    --seed) seed=$2; shift ;;
    esac
    shift
done
if [ "$seed" = 13 ]; then
    echo "autodist-train: error: seed 13 is unlucky (fake trainer)" >&2
    exit 1
fi
[ -n "$metrics" ] && echo '{"event":"start","config":{"steps":'"$steps"'},"params":10}' >"$metrics"
if [ "$steps" -gt 1 ]; then
    sleep "$(awk "BEGIN { print $steps / 10 }")"
fi
[ -n "$metrics" ] && echo '{"event":"done","steps":'"$steps"',"samples_per_s":1000.0,"wall_s":0.0}' >>"$metrics"
exit 0
