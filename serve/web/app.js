// app.js - autodist serve's page: send a photo to /api/predict, draw its top-5 classes and timings
"use strict";

const $ = (id) => document.getElementById(id);

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function pct(p) {
  return (100 * p).toFixed(p >= 0.995 || p < 0.0005 ? 0 : 1) + " %";
}

function showError(msg) {
  const e = $("error");
  e.textContent = msg;
  e.hidden = false;
  document.body.dataset.state = "error";
}

// The model's input ({channels, height, width} from /api/model) once known; photos are scaled
// down to it here before they are sent.  modelRead settles when /api/model answered or failed.
let modelInput = null;
let modelReadDone;
const modelRead = new Promise((resolve) => { modelReadDone = resolve; });

// The model: its name, variant, classes (retried while the server warms up: 503).
async function loadModel() {
  try {
    const r = await fetch("api/model");
    if (r.status === 503) {
      $("model-name").textContent = "warming up…";
      setTimeout(loadModel, 1000);
      return;
    }
    const m = await r.json();
    if (!r.ok) throw new Error(m.error || r.statusText);
    if (m.input && m.input.width > 0 && m.input.height > 0)
        modelInput = m.input;
    $("model-name").textContent = m.name;
    $("model-variant").textContent = [m.arch, m.variant].filter(Boolean).join(" · ");
    const facts = [];
    if (m.input) facts.push(`input ${m.input.channels}×${m.input.height}×${m.input.width}`);
    if (m.params) facts.push(`${m.params.toLocaleString()} parameters`);
    if (m.size_bytes)
        facts.push(m.size_bytes < 1048576 ? `${(m.size_bytes / 1024).toFixed(1)} KiB`
                                          : `${(m.size_bytes / 1048576).toFixed(1)} MiB`);
    if (typeof m.accuracy === "number") facts.push(`test accuracy ${pct(m.accuracy)}`);
    if (m.server) facts.push(`batches of up to ${m.server.max_batch}, ` +
                             `${m.server.threads} thread(s), ${m.server.backend}`);
    $("model-info").textContent = facts.join(" · ");
    $("model-classes").textContent = `${m.classes.length} classes: ${m.classes.join(", ")}`;
  } catch (err) {
    $("model-name").textContent = "unavailable";
    showError(`Cannot read the model: ${err.message}`);
  }
  modelReadDone();
}

// A photo larger than the model's input, scaled to that input on a canvas (as the server
// would: the whole photo to width x height) and sent as a binary PPM: the upload is
// width x height x 3 bytes instead of a phone's megabytes, and the server neither decodes
// a JPEG nor resizes, which is most of its work per photo after the network itself.  The
// canvas applies the photo's EXIF orientation, as the preview does.  null: send the file as
// it is (no model input known, a photo no larger than it, or one the browser cannot draw).
async function shrink(blob)
{
    if (!modelInput || typeof createImageBitmap !== "function")
        return null;
    let bmp;
    try {
        bmp = await createImageBitmap(blob);
    } catch (e) {
        return null; // the server says why it is not an image
    }
    const w = modelInput.width, h = modelInput.height, from = `${bmp.width}×${bmp.height}`;
    if (bmp.width <= w && bmp.height <= h) {
        bmp.close();
        return null;
    }
    const canvas = document.createElement("canvas");
    canvas.width = w;
    canvas.height = h;
    const g = canvas.getContext("2d");
    g.imageSmoothingEnabled = true;
    g.imageSmoothingQuality = "high";
    g.drawImage(bmp, 0, 0, w, h);
    bmp.close();
    const rgba = g.getImageData(0, 0, w, h).data;
    const head = `P6\n${w} ${h}\n255\n`;
    const ppm = new Uint8Array(head.length + w * h * 3);
    for (let i = 0; i < head.length; i++)
        ppm[i] = head.charCodeAt(i);
    for (let i = 0, j = head.length; i < w * h; i++, j += 3) {
        ppm[j] = rgba[4 * i];
        ppm[j + 1] = rgba[4 * i + 1];
        ppm[j + 2] = rgba[4 * i + 2];
    }
    return {
        blob : new Blob([ ppm ], {type : "image/x-portable-pixmap"}),
        note : `sent as ${w}×${h} pixels, scaled here from ${from}`
    };
}

function render(d, roundtrip) {
  $("empty").hidden = true;
  $("result").hidden = false;
  $("class").textContent = d.class;
  $("probability").textContent = pct(d.probability);
  const bars = $("bars");
  bars.replaceChildren();
  d.top.forEach((t, i) => {
    const track = el("div", "bar-track");
    const bar = el("div", i === 0 ? "bar first" : "bar");
    bar.style.width = `${Math.max(0, Math.min(100, 100 * t.probability))}%`;
    bar.title = `${t.class}: ${pct(t.probability)}`;
    track.append(bar);
    bars.append(el("div", "bar-label", t.class), track, el("div", "bar-value", pct(t.probability)));
  });
  const row = $("timings").tBodies[0].rows[0];
  row.replaceChildren();
  const t = d.timings_ms;
  for (const v of [t.decode, t.preprocess, t.queue, t.inference, t.total])
    row.append(el("td", "", v.toFixed(v < 10 ? 2 : 1)));
  row.append(el("td", "", String(d.batch)));
  $("roundtrip").textContent = roundtrip.toFixed(1);
  document.body.dataset.state = "done";
}

// Send one photo (a File or Blob): preview, progress, the answer or a readable error.
async function send(blob, name) {
  $("error").hidden = true;
  const img = $("preview");
  if (img.src) URL.revokeObjectURL(img.src);
  img.src = URL.createObjectURL(blob);
  img.hidden = false;
  $("drop-hint").hidden = true;
  $("progress").hidden = false;
  document.body.dataset.state = "busy";
  const t0 = performance.now();
  try {
      await modelRead;
      const small = await shrink(blob);
      const form = new FormData();
      form.append("image", small ? small.blob : blob, name || "photo");
      $("sent").textContent = small ? small.note : `sent as it is (${blob.size} bytes)`;
      const r = await fetch("api/predict?k=5", {method : "POST", body : form});
      let d;
      try {
          d = await r.json();
    } catch (e) {
      throw new Error(`${r.status} ${r.statusText}`);
    }
    if (!r.ok) throw new Error(`${d.error || r.statusText} (HTTP ${r.status})`);
    render(d, performance.now() - t0);
  } catch (err) {
    showError(`Could not classify ${name || "the photo"}: ${err.message}`);
  } finally {
    $("progress").hidden = true;
  }
}

function setup() {
  const drop = $("drop");
  // Two inputs: the file picker, and (on a phone) the camera at once (capture="environment").
  for (const [button, id] of [["choose", "file"], ["take", "camera"]]) {
    const input = $(id);
    $(button).addEventListener("click", () => input.click());
    input.addEventListener("change", () => {
      if (input.files.length) send(input.files[0], input.files[0].name);
      input.value = "";
    });
  }
  for (const ev of ["dragenter", "dragover"])
    drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add("over"); });
  for (const ev of ["dragleave", "drop"])
    drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.remove("over"); });
  drop.addEventListener("drop", (e) => {
    const f = e.dataTransfer.files[0];
    if (f) send(f, f.name);
  });
  loadModel();
  // ?try=PATH: classify an image of this server's page folder at once (demos, the UI test).
  const tryPath = new URLSearchParams(location.search).get("try");
  if (tryPath && /^[\w.-]+$/.test(tryPath)) {
    fetch(tryPath)
      .then((r) => { if (!r.ok) throw new Error(`${tryPath}: HTTP ${r.status}`); return r.blob(); })
      .then((b) => send(b, tryPath))
      .catch((err) => showError(err.message));
  }
}

setup();
