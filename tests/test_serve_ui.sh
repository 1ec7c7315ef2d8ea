#!/usr/bin/env bash
# test_serve_ui.sh - autodist serve's page in a real headless Chromium: a photo in, its class out
# Usage: test_serve_ui.sh BIN_DIR SERVE_FIXTURE SOURCE_DIR   (ctest: serve_ui; 77 = no chromium)
#
# autodist-serve serves a 6-class tiny artifact (tests/serve/serve_fixture.c) and a copy of
# serve/web with a photo in it.  The page opened as /?try=photo.jpg fetches the photo and sends
# it exactly as a chosen file (FormData field "image"); `chromium --dump-dom` must then hold the
# model's name, the predicted class, 5 bars with their percentages and the timings, and
# `chromium --screenshot` at a phone's width and a desktop's must be the right size, not
# blank, with the bar chart drawn (the bars' own colour).  A page asked for a file that is not an
# image must show the server's error.
set -u
BIN=${1:?usage: test_serve_ui.sh BIN_DIR SERVE_FIXTURE SOURCE_DIR}
FIXTURE=${2:?usage: test_serve_ui.sh BIN_DIR SERVE_FIXTURE SOURCE_DIR}
SRC=${3:?usage: test_serve_ui.sh BIN_DIR SERVE_FIXTURE SOURCE_DIR}
CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
if [ -z "$CHROMIUM" ]; then
    echo "test_serve_ui: SKIP: no chromium (Debian's chromium package)"
    exit 77
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/test_serve_ui.XXXXXX")
PID=
fails=0
cleanup() {
    if [ -n "$PID" ]; then
        kill "$PID" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$PID" 2>/dev/null
    fi
    if [ "$fails" -eq 0 ] && [ "${KEEP:-0}" != 1 ]; then
        rm -rf "$TMP"
    else
        echo "test_serve_ui: kept $TMP"
    fi
}
trap cleanup EXIT
fail() { echo "test_serve_ui: FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "test_serve_ui: ok: $*"; }

"$FIXTURE" "$TMP" || { fail "serve_fixture"; exit 1; }
cp -r "$SRC/serve/web" "$TMP/web"
cp "$TMP/green.jpg" "$TMP/web/photo.jpg"
cp "$TMP/not-image.txt" "$TMP/web/notes.txt"
AUTODIST_SERVE_WEB_DIR=$TMP/web "$BIN/autodist-serve" "$TMP/model6" --port 0 \
    >"$TMP/serve.out" 2>"$TMP/serve.err" &
PID=$!
URL=
for _ in $(seq 200); do
    grep -q "ready:" "$TMP/serve.out" 2>/dev/null && break
    sleep 0.05
done
URL=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$TMP/serve.out" | head -1)
[ -n "$URL" ] && grep -q "ready:" "$TMP/serve.out" ||
    { fail "autodist-serve is not ready"; cat "$TMP/serve.out" "$TMP/serve.err"; exit 1; }
ok "autodist-serve ready at $URL"

CHROME=("$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run --disable-extensions
        --user-data-dir="$TMP/chromium" --virtual-time-budget=8000)
timeout 120 "${CHROME[@]}" --window-size=1280,900 --dump-dom "$URL/?try=photo.jpg" \
    >"$TMP/dom.html" 2>"$TMP/chromium.log" ||
    fail "chromium --dump-dom failed: $(tail -3 "$TMP/chromium.log")"
# What the server answers for the photo itself (the JPEG, decoded and resized there).
DIRECT=$(curl -s -F "image=@$TMP/web/photo.jpg" "$URL/api/predict" |
         python3 -c 'import json, sys; print(json.load(sys.stdin)["class"])')
python3 - "$TMP/dom.html" "$DIRECT" <<'PYEOF' && ok "the page shows the class, 5 bars and the timings" ||
import re, sys
html = open(sys.argv[1], encoding="utf-8").read()
classes = ["red", "green", "blue", "cyan", "magenta", "yellow"]
def check(cond, what):
    if not cond:
        print("dom: FAIL: " + what)
        sys.exit(1)
check('data-state="done"' in html, "the page finished (body data-state=done): %s"
      % re.findall(r"<body[^>]*>", html))
m = re.search(r'<span id="class">([^<]*)</span>', html)
check(m and m.group(1) in classes, "the predicted class: %s" % (m and m.group(1)))
bars = re.findall(r'<div class="bar-label">([^<]*)</div>', html)
check(len(bars) == 5 and set(bars) <= set(classes) and bars[0] == m.group(1),
      "5 bars, the first the predicted class: %s" % bars)
widths = [float(w) for w in
          re.findall(r'<div class="bar(?: first)?"[^>]*style="width: ([0-9.]+)%', html)]
check(len(widths) == 5 and widths == sorted(widths, reverse=True) and widths[0] > 0,
      "bar widths by probability: %s" % widths)
check(len(re.findall(r'<div class="bar-value">[0-9.]+ %</div>', html)) == 5, "5 percentages")
cells = re.findall(r"<td>([0-9.]+)</td>", html)
check(len(cells) == 6, "the timings row (decode .. total, batch): %s" % cells)
check('id="model-name" class="pill">tiny-colours<' in html, "the model's name from /api/model")
check("6 classes: red, green, blue, cyan, magenta, yellow" in html, "the model's classes")
check(re.search(r'<img id="preview"[^>]*src="blob:', html), "the photo's preview")
check(re.search(r'id="error"[^>]*hidden', html), "no error shown")
# The 64x48 photo was scaled to the model's 16x16 on the page and sent as pixels: the
# server's answer for it is still the photo's colour, and it decoded no JPEG.
check("the photo was\n        <span id=\"sent\">sent as 16×16 pixels, scaled here from 64×48</span>"
      in html, "the photo scaled on the page: %s" % re.findall(r'<span id="sent">[^<]*', html))
check(m.group(1) == sys.argv[2],
      "the photo scaled here has the class the server gives the JPEG itself (%s): %s"
      % (sys.argv[2], m.group(1)))
PYEOF
    fail "the rendered page (above)"

# A file that is not an image: the server's reason, readable on the page.
timeout 120 "${CHROME[@]}" --window-size=1280,900 --dump-dom "$URL/?try=notes.txt" \
    >"$TMP/dom-bad.html" 2>>"$TMP/chromium.log" || fail "chromium --dump-dom ?try=notes.txt"
grep -q 'data-state="error"' "$TMP/dom-bad.html" &&
    grep -q 'Could not classify notes.txt: image: not a decodable image.*(HTTP 400)' \
        "$TMP/dom-bad.html" && ok "a text file: the error shown" ||
    fail "a text file: no readable error: $(grep -o '<p id="error"[^<]*<' "$TMP/dom-bad.html")"

# Screenshots at a phone's width and a desktop's: right size, not blank, the bars drawn.
for size in 412,915 1280,900; do
    w=${size%,*}
    h=${size#*,}
    timeout 120 "${CHROME[@]}" --window-size="$size" --hide-scrollbars \
        --screenshot="$TMP/shot-$w.png" "$URL/?try=photo.jpg" >>"$TMP/chromium.log" 2>&1 ||
        fail "chromium --screenshot at $size failed"
    python3 - "$TMP/shot-$w.png" "$w" "$h" "$SRC/tests/ui" <<'PYEOF' && ok "screenshot ${w}x$h" ||
import sys
sys.path.insert(0, sys.argv[4])
from check_png import read_png
w, h, bpp, rows = read_png(sys.argv[1])
want = (int(sys.argv[2]), int(sys.argv[3]))
if (w, h) != want:
    print("shot: FAIL: %dx%d, expected %dx%d" % (w, h, *want)); sys.exit(1)
colours, light = set(), 0
for y in range(h):
    row = rows[y]
    for x in range(0, w):
        px = row[x * bpp:x * bpp + 3]
        if y % 2 == 0 and x % 2 == 0:
            colours.add(px)
        # The bars after the first: #93c5fd (serve/web/style.css --bar), nothing else is.
        if abs(px[0] - 0x93) < 10 and abs(px[1] - 0xc5) < 10 and abs(px[2] - 0xfd) < 10:
            light += 1
if len(colours) < 20:
    print("shot: FAIL: only %d colours: a blank page?" % len(colours)); sys.exit(1)
if light < 300:
    print("shot: FAIL: %d pixels of the bars' colour: no bar chart?" % light); sys.exit(1)
PYEOF
        fail "screenshot ${w}x$h (above)"
done
[ "$fails" -eq 0 ] && echo "test_serve_ui: all ok"
exit $((fails > 0))
