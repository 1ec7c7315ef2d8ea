#!/usr/bin/env bash
# quickstart.sh - the whole path on the embedded default: a local coordinator and agent
# (`autodist up`), the 1 x 1 x 1 baseline, the plan (every layout ranked by predicted
# throughput), then the Fashion-MNIST cnn with its progress, throughput, speedup over the
# baseline and test accuracy.
#
# Usage: experiments/quickstart.sh          (AUTODIST_HOME picks another home)
# Everything it runs is an ordinary command; see docs/cli.md.
set -euo pipefail
cd "$(dirname "$0")/.."

AD=build/autodist
[ -x "$AD" ] || { echo "quickstart: $AD not built; run scripts/build.sh first" >&2; exit 1; }

echo "== autodist up: a local coordinator and one agent (the embedded default)"
"$AD" up
echo
echo "== the baseline: 1 node x 1 process x 1 thread, 100 steps (experiments/fashion-cnn-baseline.yaml)"
"$AD" submit experiments/fashion-cnn-baseline.yaml --wait
echo
echo "== the plan: every layout of the job ranked by the planner (autodist plan)"
"$AD" plan experiments/fashion-cnn.yaml --top 5
echo
echo "== the job: experiments/fashion-cnn.yaml"
"$AD" submit experiments/fashion-cnn.yaml --wait
echo
echo "== past runs of this home (autodist runs); stop everything with: $AD down"
"$AD" runs --limit 5
