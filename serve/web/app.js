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
  const form = new FormData();
  form.append("image", blob, name || "photo");
  const t0 = performance.now();
  try {
    const r = await fetch("api/predict?k=5", {method: "POST", body: form});
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
