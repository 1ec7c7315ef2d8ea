#!/usr/bin/python3
# infer_peer.py - the peer of `autodist serve`: the same model exported from PyTorch, served by Python
"""
What a user without autodist would deploy: the model as a TorchScript module
(torch.jit.trace then torch.jit.freeze, saved; loaded with
torch.jit.optimize_for_inference: what PyTorch recommends for CPU inference), behind Python's own HTTP server
(http.server.ThreadingHTTPServer, one thread per connection).  Benchmarks
only (bench/bench_infer.sh); it needs Debian's python3-torch and
python3-numpy.

The weights come from an autodist fp32 artifact (model.json + weights.bin,
docs/inference.md), so both servers run exactly the same network.  Images
are decoded and resized by the same library autodist uses (Debian's libstb,
through ctypes: there is no PIL here), then normalised as model.json says.

    infer_peer.py export ARTIFACT_DIR OUT.pt        write the TorchScript module
    infer_peer.py serve OUT.pt ARTIFACT_DIR [--port N] [--threads T]

POST /api/predict takes a raw JPEG/PNG body and answers the top-5 classes
with probabilities as JSON; GET /api/health answers 200.
"""
import argparse
import ctypes
import json
import os
import struct
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import torch
import torch.nn.functional as F

DT_F32, DT_I8, DT_F32_SPARSE = 1, 2, 3


def read_weights(path):
    """weights.bin -> {name: tensor} (fp32 and sparse fp32 only)."""
    with open(path, "rb") as f:
        b = f.read()
    if b[:8] != b"ADWEIGHT":
        sys.exit(f"{path}: not an autodist weights file")
    _ver, count, ib = struct.unpack_from("<IIQ", b, 8)
    at, out = 32, {}
    for _ in range(count):
        (nl,) = struct.unpack_from("<H", b, at)
        name = b[at + 2 : at + 2 + nl].decode()
        at += 2 + nl
        dt, nd = b[at], b[at + 1]
        at += 2
        shape = struct.unpack_from("<%dq" % nd, b, at)
        at += 8 * nd
        off, nbytes, _crc = struct.unpack_from("<QQI", b, at)
        at += 20
        n = int(np.prod(shape)) if nd else 1
        raw = b[off : off + nbytes]
        if dt == DT_F32:
            arr = np.frombuffer(raw, dtype="<f4", count=n).copy()
        elif dt == DT_F32_SPARSE:
            bits = np.unpackbits(np.frombuffer(raw[: (n + 7) // 8], dtype=np.uint8),
                                 bitorder="little")[:n].astype(bool)
            arr = np.zeros(n, dtype=np.float32)
            arr[bits] = np.frombuffer(raw[(n + 7) // 8 :], dtype="<f4")
        else:
            sys.exit(f"{path}: tensor {name} is int8; the peer takes an fp32 artifact")
        out[name] = torch.from_numpy(arr.reshape(shape))
    return out


class Graph(torch.nn.Module):
    """model.json's graph as a PyTorch module."""

    def __init__(self, artifact):
        super().__init__()
        with open(os.path.join(artifact, "model.json")) as f:
            self.meta = json.load(f)
        w = read_weights(os.path.join(artifact, "weights.bin"))
        self.nodes = self.meta["graph"]
        self.params = torch.nn.ParameterList()
        self.index = {}
        for k, n in enumerate(self.nodes):
            if n["op"] in ("conv", "linear"):
                self.index[k] = len(self.params)
                self.params.append(torch.nn.Parameter(w[n["weight"]], requires_grad=False))
                self.params.append(torch.nn.Parameter(w[n["bias"]], requires_grad=False))

    @staticmethod
    def act(y, name):
        if name == "relu":
            return F.relu(y)
        if name == "relu6":
            return F.hardtanh(y, 0.0, 6.0)
        return y

    def forward(self, x):
        outs = [x]
        for k, n in enumerate(self.nodes[1:], start=1):
            op = n["op"]
            a = outs[n["in"][0]] if "in" in n else None
            if op == "conv":
                i = self.index[k]
                y = F.conv2d(a, self.params[i], self.params[i + 1], stride=n["stride"],
                             padding=n["pad"], groups=n["groups"])
                y = self.act(y, n["act"])
            elif op == "linear":
                i = self.index[k]
                y = self.act(F.linear(a.flatten(1), self.params[i], self.params[i + 1]), n["act"])
            elif op == "maxpool":
                y = F.max_pool2d(a, n["kernel"], n["stride"], n["pad"])
            elif op == "avgpool":
                y = F.adaptive_avg_pool2d(a, 1).flatten(1)
            elif op == "add":
                y = self.act(a + outs[n["in"][1]], n["act"])
            else:
                raise ValueError(f"unknown op {op}")
            outs.append(y)
        return outs[-1]


def export(artifact, out):
    g = Graph(artifact).eval()
    c, h, w = g.nodes[0]["shape"]
    with torch.no_grad():
        traced = torch.jit.trace(g, torch.zeros(1, c, h, w))
        frozen = torch.jit.freeze(traced.eval())
    frozen.save(out)
    print(f"{out}: TorchScript of {artifact} ({g.meta.get('arch', '?')}, {c}x{h}x{w})")


class Stb:
    """Debian's libstb: the decoder and resizer autodist uses."""

    def __init__(self):
        lib = ctypes.CDLL("libstb.so.0")
        lib.stbi_load_from_memory.restype = ctypes.POINTER(ctypes.c_ubyte)
        lib.stbi_load_from_memory.argtypes = [ctypes.c_char_p, ctypes.c_int,
                                              ctypes.POINTER(ctypes.c_int),
                                              ctypes.POINTER(ctypes.c_int),
                                              ctypes.POINTER(ctypes.c_int), ctypes.c_int]
        lib.stbir_resize_uint8.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                                           ctypes.c_int, ctypes.c_void_p, ctypes.c_int,
                                           ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.stbi_image_free.argtypes = [ctypes.c_void_p]
        self.lib = lib

    def decode(self, data, c, h, w):
        """bytes -> uint8 array h x w x c, resized like the imagefolder dataset."""
        iw, ih, comp = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
        p = self.lib.stbi_load_from_memory(data, len(data), ctypes.byref(iw), ctypes.byref(ih),
                                           ctypes.byref(comp), c)
        if not p:
            return None
        out = np.empty((h, w, c), dtype=np.uint8)
        ok = self.lib.stbir_resize_uint8(p, iw.value, ih.value, 0, out.ctypes.data, w, h, 0, c)
        self.lib.stbi_image_free(p)
        return out if ok else None


def serve(module, artifact, port, threads):
    torch.set_num_threads(threads)
    # optimize_for_inference's oneDNN-packed module cannot be saved: apply it on load.
    model = torch.jit.optimize_for_inference(torch.jit.load(module).eval())
    with open(os.path.join(artifact, "model.json")) as f:
        meta = json.load(f)
    c, h, w = meta["graph"][0]["shape"]
    norm = meta.get("normalize", {})
    mean = np.array(norm.get("mean", [0.5] * 3)[:c], dtype=np.float32)
    std = np.array(norm.get("std", [0.5] * 3)[:c], dtype=np.float32)
    classes = meta.get("classes") or []
    stb = Stb()
    with torch.inference_mode():
        model(torch.zeros(1, c, h, w))

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def answer(self, status, doc):
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            self.answer(200 if self.path == "/api/health" else 404, {"status": "ok"})

        def do_POST(self):
            t0 = time.perf_counter()
            n = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(n)
            if self.path != "/api/predict":
                return self.answer(404, {"error": "not found"})
            img = stb.decode(data, c, h, w)
            if img is None:
                return self.answer(400, {"error": "not an image"})
            x = (img.astype(np.float32) / 255.0 - mean) / std
            x = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]
            t1 = time.perf_counter()
            with torch.inference_mode():
                p = torch.softmax(model(x), 1)[0]
            t2 = time.perf_counter()
            top = torch.topk(p, min(5, p.numel()))
            self.answer(200, {
                "top": [{"index": int(i), "class": classes[int(i)] if int(i) < len(classes)
                         else str(int(i)), "probability": float(v)}
                        for v, i in zip(top.values, top.indices)],
                "timings_ms": {"inference": (t2 - t1) * 1e3, "total": (t2 - t0) * 1e3}})

    srv = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    srv.daemon_threads = True
    print(f"infer_peer: serving {module} on http://127.0.0.1:{srv.server_address[1]}/", flush=True)
    srv.serve_forever()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export")
    e.add_argument("artifact")
    e.add_argument("out")
    s = sub.add_parser("serve")
    s.add_argument("module")
    s.add_argument("artifact")
    s.add_argument("--port", type=int, default=8090)
    s.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    if a.cmd == "export":
        export(a.artifact, a.out)
    else:
        serve(a.module, a.artifact, a.port, a.threads)


if __name__ == "__main__":
    main()
