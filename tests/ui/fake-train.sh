#!/bin/sh
# fake-train.sh - a trainer for the dashboard's test: takes autodist-train's options and writes
# the metrics of a short run (start, --steps step lines with a falling loss, done) at once;
# --seed 13 fails as the real trainer does (one error line, exit 1); --steps 99999 runs 30 s.
metrics= steps=5 seed=1
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
[ -n "$metrics" ] || exit 0
echo '{"event":"start","config":{"steps":'"$steps"'},"params":10}' >"$metrics"
# --steps 99999: a job that stays RUNNING (at most 30 s) for the queue panel.
[ "$steps" = 99999 ] && exec sleep 30
awk -v n="$steps" 'BEGIN { for (i = 1; i <= n; i++) {
    printf "{\"event\":\"step\",\"step\":%d,\"epoch\":0,\"loss\":%.4f,", i, 2.3 / i
    printf "\"samples_per_s\":%.1f,\"comm_s\":0,\"exposed_comm_s\":0}\n", 900 + 20 * i } }' >>"$metrics"
# The steady state's spread, CPU time and peak memory: the job panel shows them.
echo '{"event":"done","steps":'"$steps"',"samples_per_s":1000.0,"sps_sd":40.0,
"sps_steps":'"$steps"',"cpu_time_s":1.5,"max_rss_bytes":52428800,"wall_s":0.1}' | tr -d '\n' >>"$metrics"
echo >>"$metrics"
exit 0
