#!/usr/bin/env bash
# vehicles.sh - from photos to a served model, the whole path of docs/inference.md:
#
#   1. a small image folder of vehicles (bicycle, bus, car, truck) drawn by
#      autodist-sample-images: stand-in for a company's own photos;
#   2. resnet18 trained on it at 224 x 224 (random flips and small rotations,
#      [-1, 1] normalisation, train/val/test split) on 1 x 2 x 1
#      (experiments/vehicles.yaml), on the embedded default (`autodist up`);
#   3. exported as an inference artifact (BatchNorm folded), with its test
#      accuracy and latency;
#   4. quantised to int8 and compared with its fp32 parent;
#   5. served by `autodist serve` (HTTP API, dynamic batching, a web page), and
#      asked for a prediction the way the page asks: a photo POSTed to
#      /api/predict.  With KEEP=1 the server stays up for you to open the page.
#
# Usage: experiments/vehicles.sh          (AUTODIST_HOME picks another home;
#        PORT=8080 the server's port; PER_CLASS=60 images a class; EPOCHS=12)
# About 5 minutes on 2 cores, most of it training.  Everything it runs is an
# ordinary command; see docs/cli.md.
set -euo pipefail
cd "$(dirname "$0")/.."

AD=build/autodist
HOME_DIR=${AUTODIST_HOME:-$HOME/.autodist}
WORK=$HOME_DIR/examples/vehicles
PORT=${PORT:-8080}
PER_CLASS=${PER_CLASS:-60}
EPOCHS=${EPOCHS:-12}
for p in "$AD" build/autodist-sample-images build/autodist-model build/autodist-serve; do
    [ -x "$p" ] || { echo "vehicles: $p not built; run scripts/build.sh first" >&2; exit 1; }
done
mkdir -p "$WORK"

echo "== 1. photos: $PER_CLASS a class, drawn into $WORK/photos"
rm -rf "$WORK/photos"
build/autodist-sample-images "$WORK/photos" --per-class "$PER_CLASS" --size 256
echo
echo "== 2. train resnet18 on them (experiments/vehicles.yaml, $EPOCHS epochs, 1x2x1)"
"$AD" up
out=$("$AD" submit experiments/vehicles.yaml --set "dataset.imagefolder.path=$WORK/photos" \
    --set "epochs=$EPOCHS" --wait | tee /dev/stderr)
job=$(sed -n 's/^submitted job \([0-9]*\).*/\1/p' <<<"$out" | head -1)
run=$("$AD" runs --job "$job" --parsable | awk -F'|' 'NR == 2 {print $1}')
[ -n "$run" ] || { echo "vehicles: job $job left no run" >&2; exit 1; }
echo
echo "== 3. export run $run: the model in eval form, its classes, accuracy and latency"
"$AD" export "$run" -o "$WORK/vehicles-resnet18"
echo
echo "== 4. int8: calibrated on 128 training images, measured beside its parent"
"$AD" optimize vehicles-resnet18 --int8 --calibrate 128
echo
echo "== 5. serve the int8 model on http://127.0.0.1:$PORT/ and ask it about a truck"
"$AD" serve vehicles-resnet18-int8 --port "$PORT" --max-batch 8 >"$WORK/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$PORT/api/ready" >/dev/null 2>&1 && break
    kill -0 $server 2>/dev/null || { cat "$WORK/serve.log" >&2; exit 1; }
    sleep 0.2
done
photo=$(ls "$WORK/photos/truck/"*.jpg | tail -1)
echo "\$ curl -F image=@$photo http://127.0.0.1:$PORT/api/predict"
curl -fsS -F "image=@$photo" "http://127.0.0.1:$PORT/api/predict"
echo
echo
echo "one photo of each class (the model saw most of them in training, not all):"
for cls in bicycle bus car truck; do
    photo=$(ls "$WORK/photos/$cls/"*.png | tail -1)
    answer=$(curl -fsS -F "image=@$photo" "http://127.0.0.1:$PORT/api/predict")
    printf '  %-16s -> %s\n' "$(basename "$photo")" "$(sed -n \
        's/^{"class":"\([^"]*\)","index":[0-9]*,"probability":\([0-9.]*\).*"total":\([0-9.]*\).*/\1 (p = \2, \3 ms in all)/p' \
        <<<"$answer")"
done
echo
if [ "${KEEP:-0}" = 1 ]; then
    echo "the page: http://127.0.0.1:$PORT/ (choose or drop a photo); Ctrl-C stops the server"
    trap - EXIT
    wait $server
else
    echo "KEEP=1 keeps the server up for the page (http://127.0.0.1:$PORT/)."
fi
