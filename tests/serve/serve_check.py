#!/usr/bin/env python3
# serve_check.py - autodist-serve from a client's side: the API, batching, metrics and bad input
"""Usage: serve_check.py URL PID FIXTURE_DIR PHASE

PHASE "warming": the server's load waits for FIXTURE_DIR/go (AUTODIST_SERVE_TEST_HOLD):
/api/health answers 200 while /api/ready and /api/predict answer 503; then go is created and
ready must turn 200.
PHASE "overload": a server with --max-queue 2 refuses the excess of 12 requests at once.
PHASE "procs": PID is a --processes 2 server whose load waits for FIXTURE_DIR/go-procs:
/api/ready says 0 of 2 ready, then 200; 24 predictions; every /metrics scrape counts all 24
(not the half one process saw); kill -9 of one child: /api/ready 503 naming it, 1 of 2 ready,
the other still predicts and the dead one's predictions still count.
PHASE "main": predictions, batching, metrics, every bad input, 10,000 malformed requests and 200
concurrent connections, the server's memory (VmRSS of PID) flat across them.
Prints one line per failed check and exits 1 if any failed.
"""
import faulthandler
import json
import os
import random
import signal
import socket
import struct
import sys
import threading
import time
import urllib.error
import urllib.request

URL, PID, FIX, PHASE = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
HOST, PORT = URL.split("//")[1].split(":")[0], int(URL.rsplit(":", 1)[1])
fails = 0


def check(cond, what):
    global fails
    if not cond:
        print("serve_check: FAIL: " + what)
        fails += 1
    return cond


def req(path, body=None, ctype=None, method=None, headers=None, timeout=20):
    h = dict(headers or {})
    if ctype:
        h["Content-Type"] = ctype
    r = urllib.request.Request(URL + path, data=body, headers=h, method=method)
    try:
        with urllib.request.urlopen(r, timeout=timeout) as resp:
            raw = resp.read()
            status, ct = resp.status, resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        raw, status, ct = e.read(), e.code, e.headers.get("Content-Type", "")
    if ct.startswith("application/json"):
        return status, json.loads(raw)
    return status, raw.decode("utf-8", "replace")


def multipart(field, name, data, ctype="image/png"):
    b = "----autodist%08x" % random.getrandbits(32)
    body = ("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
            "Content-Type: %s\r\n\r\n" % (b, field, name, ctype)).encode() + data + \
        ("\r\n--%s--\r\n" % b).encode()
    return body, "multipart/form-data; boundary=" + b


def read(name):
    with open(os.path.join(FIX, name), "rb") as f:
        return f.read()


def rss_kib():
    with open("/proc/%d/status" % PID) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


def warming():
    s, d = req("/api/ready")
    check(s == 503 and d == {"ready": False}, "ready while loading: 503 {ready: false}: %s %s"
          % (s, d))
    s, d = req("/api/health")
    check(s == 200 and d["status"] == "live", "health while loading: 200: %s %s" % (s, d))
    body, ct = multipart("image", "red.png", read("red.png"))
    s, d = req("/api/predict", body, ct)
    check(s == 503 and "not ready" in d["error"], "predict while loading: 503: %s %s" % (s, d))
    s, text = req("/metrics")
    check(s == 200 and metric(text, "autodist_serve_ready") == 0, "metrics: not ready")
    open(os.path.join(FIX, "go"), "w").close()
    for _ in range(600):
        s, d = req("/api/ready")
        if s == 200:
            break
        time.sleep(0.05)
    check(s == 200 and d == {"ready": True}, "ready turns 200 once warmed: %s %s" % (s, d))


def answer_ok(d, k, what):
    ok = check(isinstance(d, dict) and "top" in d, "%s: an answer: %s" % (what, d))
    if not ok:
        return
    top = d["top"]
    check(len(top) == k, "%s: top-%d: %s" % (what, k, top))
    check(d["class"] == top[0]["class"] and d["index"] == top[0]["index"] and
          d["probability"] == top[0]["probability"], "%s: class is top[0]" % what)
    check(all(top[i]["probability"] >= top[i + 1]["probability"] for i in range(len(top) - 1)),
          "%s: top sorted by probability" % what)
    check(d["class"] in CLASSES, "%s: a class of the model: %s" % (what, d["class"]))
    check(0 < sum(t["probability"] for t in top) <= 1 + 1e-6, "%s: probabilities" % what)
    t = d["timings_ms"]
    check(set(t) == {"decode", "preprocess", "queue", "inference", "total"} and
          all(v >= 0 for v in t.values()) and t["total"] >= t["inference"],
          "%s: timings: %s" % (what, t))
    check(d["batch"] >= 1 and d["model"]["name"] == "tiny-colours" and
          d["model"]["variant"] == "fp32", "%s: batch and model: %s" % (what, d))


def predictions():
    global CLASSES
    s, m = req("/api/model")
    check(s == 200 and m["classes"] == ["red", "green", "blue"] and m["name"] == "tiny-colours"
          and m["input"] == {"channels": 3, "height": 16, "width": 16} and "graph" not in m,
          "/api/model: the summary: %s" % m)
    CLASSES = m.get("classes", [])
    png, jpg = read("red.png"), read("green.jpg")
    body, ct = multipart("image", "red.png", png)
    s, d = req("/api/predict", body, ct)
    check(s == 200, "multipart PNG: 200: %s" % d) and answer_ok(d, 3, "multipart PNG")
    body, ct = multipart("file", "green.jpg", jpg, "image/jpeg")
    s, d = req("/api/predict?k=2", body, ct)
    check(s == 200, "multipart field file, JPEG: 200: %s" % d) and answer_ok(d, 2, "file k=2")
    s, d = req("/api/predict?k=1", jpg, "image/jpeg")
    check(s == 200, "raw JPEG: 200: %s" % d) and answer_ok(d, 1, "raw JPEG k=1")
    s, d = req("/api/predict?k=99", png, "application/octet-stream")
    check(s == 200, "octet-stream: 200") and answer_ok(d, 3, "k over the classes")
    check(abs(sum(t["probability"] for t in d["top"]) - 1) < 1e-6, "all classes sum to 1")
    s, d = req("/api/predict", read("grey.png"), "image/png")
    check(s == 200, "a grey PNG to an RGB model: 200: %s" % d)
    for k in ("0", "abc", "-3", "2x"):
        s, d = req("/api/predict?k=" + k, png, "image/png")
        check(s == 400 and "k must be" in d["error"], "k=%s: 400: %s %s" % (k, s, d))
    s, d = req("/api/health")
    check(s == 200, "health")


def batching():
    body, ct = multipart("image", "red.png", read("red.png"))
    out = []

    def one():
        out.append(req("/api/predict", body, ct))
    ts = [threading.Thread(target=one) for _ in range(24)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    check(len(out) == 24 and all(s == 200 for s, _ in out), "24 concurrent predictions: 200")
    batches = [d["batch"] for s, d in out if s == 200]
    check(max(batches) > 1, "24 concurrent requests with --max-delay-ms 100 share batches: %s"
          % batches)
    s, text = req("/metrics")
    n1 = metric(text, 'autodist_serve_batch_size_bucket{le="1"}')
    n = metric(text, "autodist_serve_batch_size_count")
    check(n is not None and n1 is not None and n1 < n, "/metrics: batches over 1: %s of %s"
          % (n1, n))
    for name in ('autodist_serve_requests_total{path="/api/predict",status="200"}',
                 "autodist_serve_request_duration_seconds_count", "autodist_serve_queue_depth",
                 'autodist_serve_errors_total{kind="decode"}', "autodist_serve_ready"):
        check(metric(text, name) is not None, "/metrics has %s" % name)
    check('autodist_serve_model_info{name="tiny-colours",arch="tiny-cnn",variant="fp32"} 1'
          in text, "/metrics: the model's info")


def raw(data, read_answer=True, timeout=10):
    """Send bytes on a new connection; the answer's first line (or "" if it closed).
    Without read_answer the client leaves at once, resetting the connection (SO_LINGER 0)."""
    s = socket.create_connection((HOST, PORT), timeout=timeout)
    if not read_answer:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    try:
        s.sendall(data)
        if not read_answer:
            return ""
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        return buf.split(b"\r\n", 1)[0].decode("latin-1")
    except (ConnectionResetError, BrokenPipeError, socket.timeout):
        return ""
    finally:
        s.close()


def bad_input():
    png = read("red.png")
    cases = [
        ("text as image/png", read("not-image.txt"), "image/png", 400, "not a decodable image"),
        ("a truncated JPEG", read("truncated.jpg"), "image/jpeg", 400, "truncated JPEG"),
        ("a 100-megapixel header", read("huge-header.png"), "image/png", 400, "too large"),
        ("a wrong content type", png, "text/plain", 415, "unsupported content type"),
        ("JSON", b'{"image": 1}', "application/json", 415, "unsupported content type"),
        ("an empty body", b"", "image/png", 400, "empty body"),
        ("no content type", png, None, 415, "unsupported content type"),
    ]
    for what, body, ct, want, words in cases:
        s, d = req("/api/predict", body, ct)
        check(s == want and isinstance(d, dict) and words in d.get("error", ""),
              "%s: %d with %r: %s %s" % (what, want, words, s, d))
    body, ct = multipart("photo", "red.png", png)
    s, d = req("/api/predict", body, ct)
    check(s == 400 and 'no field "image"' in d["error"], "a form without image: 400: %s" % d)
    body, ct = multipart("image", "empty.png", b"")
    s, d = req("/api/predict", body, ct)
    check(s == 400 and "empty" in d["error"], "an empty form field: 400: %s" % d)
    s, d = req("/api/predict", b"--x\r\nbroken", "multipart/form-data; boundary=zzz")
    check(s == 400, "a malformed form: 400: %s %s" % (s, d))
    s, d = req("/api/predict")
    check(s == 405, "GET /api/predict: 405: %s" % s)
    s, d = req("/no/such/page")
    check(s == 404 and d["status"] == 404, "an unknown path: 404 JSON")
    s, d = req("/api/health", headers={"Host": "evil.example:80"})
    check(s == 403, "another Host on loopback: 403 (DNS rebinding): %s" % s)
    # 100 MB declared: 413 at once, before the body.
    before = rss_kib()
    line = raw(b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
               b"Content-Length: 104857600\r\n\r\n" + b"\0" * 65536)
    check(" 413 " in line, "a 100 MB upload: 413: %r" % line)
    # 100 MB chunked (no length): read and dropped, never held; 413 at the end.
    s = socket.create_connection((HOST, PORT), timeout=30)
    s.sendall(b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n" % (1 << 20) + b"\0" * (1 << 20) + b"\r\n"
    try:
        for _ in range(100):
            s.sendall(chunk)
        s.sendall(b"0\r\n\r\n")
        line = s.recv(4096).split(b"\r\n", 1)[0].decode("latin-1")
    except (ConnectionResetError, BrokenPipeError):
        line = "closed"
    s.close()
    check(" 413 " in line or line == "closed", "a chunked 100 MB upload: 413: %r" % line)
    grown = rss_kib() - before
    check(grown < 40 * 1024, "100 MB uploads held in memory: RSS grew %d KiB" % grown)
    s, text = req("/metrics")
    check(metric(text, 'autodist_serve_errors_total{kind="too_large"}') >= 1 and
          metric(text, 'autodist_serve_errors_total{kind="content_type"}') >= 3 and
          metric(text, 'autodist_serve_errors_total{kind="decode"}') >= 3,
          "/metrics: errors by kind")


def malformed_kinds(rnd):
    """Bad requests, each a function making its bytes."""
    return [
        lambda: bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 300))),
        lambda: b"GARBAGE\r\n\r\n",
        lambda: b"GET /%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % (b"a" * rnd.randint(1, 9000)),
        lambda: b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -5\r\n\r\n",
        lambda: b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\nab",
        lambda: b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
                b"Content-Length: 20\r\n\r\n\x89PNG\r\n\x1a\n0123456789ab",
        lambda: b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX: " + b"y" * 20000 + b"\r\n\r\n",
        lambda: b"POST /api/predict?k=5 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/"
                b"form-data; boundary=q\r\nContent-Length: 30\r\n\r\n--q\r\nContent-Disposit",
        lambda: b"\r\n\r\n\r\n",
        lambda: b"GET /api/ready HTTP/9.9\r\n\r\n",
    ]


def malformed(n):
    kinds = malformed_kinds(random.Random(7))
    for i in range(n):
        k = kinds[i % len(kinds)]
        # Incomplete requests: closed without waiting for an answer (the client goes away).
        raw(k(), read_answer=(i % len(kinds)) not in (0, 4, 7, 8), timeout=5)


def slow_clients(n):
    """n connections that send half a request and wait: the others are still answered."""
    socks = []
    for i in range(n):
        s = socket.create_connection((HOST, PORT), timeout=10)
        s.sendall(b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n"
                  b"\r\nhalf" if i % 2 else b"GET /api/hea")
        socks.append(s)
    s, d = req("/api/health", timeout=10)
    check(s == 200, "health beside %d idle half requests: %s" % (n, s))
    for s in socks:
        s.close()


def concurrent(n):
    body, ct = multipart("image", "red.png", read("red.png"))
    data = (b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: %s\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % (ct.encode(), len(body))) + body
    socks, lines = [], []
    for _ in range(n):
        s = socket.create_connection((HOST, PORT), timeout=60)
        socks.append(s)
    for s in socks:
        s.sendall(data)
    for s in socks:
        try:
            lines.append(s.recv(4096).split(b"\r\n", 1)[0].decode("latin-1"))
        except (socket.timeout, ConnectionResetError):
            lines.append("")
        s.close()
    ok = sum(" 200 " in x for x in lines)
    busy = sum(" 503 " in x for x in lines)
    check(ok + busy == n and ok > 0, "%d concurrent connections: %d answered 200, %d 503, "
          "others: %s" % (n, ok, busy, [x for x in lines if " 200 " not in x][:3]))


def overload():
    """--max-queue 2, --max-batch 1, a long delay: of 12 at once, some are refused 503."""
    body, ct = multipart("image", "red.png", read("red.png"))
    out = []

    def one():
        r = urllib.request.Request(URL + "/api/predict", data=body, headers={"Content-Type": ct})
        try:
            with urllib.request.urlopen(r, timeout=30) as resp:
                out.append((resp.status, None, resp.read()))
        except urllib.error.HTTPError as e:
            out.append((e.code, e.headers.get("Retry-After"), json.loads(e.read())))
    ts = [threading.Thread(target=one) for _ in range(12)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    busy = [x for x in out if x[0] == 503]
    check(len(out) == 12 and all(x[0] in (200, 503) for x in out), "12 answers, 200 or 503: %s"
          % [x[0] for x in out])
    check(busy and all(x[1] == "1" and "overloaded" in x[2]["error"] for x in busy),
          "a full queue answers 503 overloaded with Retry-After: %s" % busy[:1])
    check(any(x[0] == 200 for x in out), "the queued ones are answered")
    s, text = req("/metrics")
    check(metric(text, 'autodist_serve_errors_total{kind="overloaded"}') == len(busy),
          "/metrics counts them")


def children():
    """The processes whose parent is PID, by /proc."""
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == PID:
            kids.append(int(d))
    return sorted(kids)


def try_req(path, body=None, ctype=None):
    """req, but a refused or reset connection is status 0 instead of an exception."""
    try:
        return req(path, body, ctype)
    except (OSError, urllib.error.URLError) as e:
        return 0, str(e)


def scrape_until(name, want):
    """Scrape /metrics until name says want (2 s at most); the last scrape's (status, text)."""
    for _ in range(40):
        s, text = req("/metrics")
        if metric(text, name) == want:
            break
        time.sleep(0.05)
    return s, text


def procs():
    s, d = req("/api/ready")
    d = d if isinstance(d, dict) else {"answer": d}
    states = [p.get("state") for p in d.get("not_ready", [])]
    check(s == 503 and d.get("ready") is False and d.get("processes") == 2 and
          d.get("ready_processes") == 0 and states == ["loading", "loading"] and
          "0 of 2 processes ready" in d.get("error", ""),
          "--processes 2 while loading: 503, 0 of 2 ready: %s %s" % (s, d))
    s, text = req("/metrics")
    check(s == 200 and metric(text, "autodist_serve_ready") == 0 and
          metric(text, "autodist_serve_processes") == 2 and
          metric(text, 'autodist_serve_process_ready{process="2"}') == 0,
          "/metrics while loading: ready 0, 2 processes")
    open(os.path.join(FIX, "go-procs"), "w").close()
    for _ in range(600):
        s, d = req("/api/ready")
        if s == 200:
            break
        time.sleep(0.05)
    check(s == 200 and d == {"ready": True, "processes": 2, "ready_processes": 2},
          "ready once both are warmed: %s %s" % (s, d))
    n = 24
    body, ct = multipart("image", "red.png", read("red.png"))
    got = sum(req("/api/predict", body, ct)[0] == 200 for _ in range(n))
    check(got == n, "--processes 2: %d of %d predictions answered" % (got, n))
    predicted = 'autodist_serve_requests_total{path="/api/predict",status="200"}'
    # A request counts once its answer is sent, maybe just after the client read it: wait for
    # the last ones (the old per-process /metrics saw about n/2 and never got there).
    scrape_until(predicted, n)
    for i in range(6):
        s, text = req("/metrics")
        total = sum(float(line.split()[-1]) for line in text.splitlines()
                    if line.startswith("autodist_serve_requests_total{"))
        per = [metric(text, 'autodist_serve_process_requests_total{process="%d"}' % p)
               for p in (1, 2)]
        check(metric(text, predicted) == n, "scrape %d: %s predictions, not the %d sent"
              % (i + 1, metric(text, predicted), n))
        check(metric(text, "autodist_serve_request_duration_seconds_count") == n and
              metric(text, "autodist_serve_batch_size_sum") == n,
              "scrape %d: the histograms of both processes summed" % (i + 1))
        check(None not in per and min(per) > 0 and sum(per) == total,
              "scrape %d: both processes answered, %s of %d requests" % (i + 1, per, total))
        check(metric(text, "autodist_serve_ready") == 1, "scrape %d: ready 1" % (i + 1))
    kids = children()
    if not check(len(kids) == 2, "two children of %d: %s" % (PID, kids)):
        return
    os.kill(kids[1], signal.SIGKILL)
    for _ in range(200):
        s, d = try_req("/api/ready")
        if s == 503:
            break
        time.sleep(0.05)
    d = d if isinstance(d, dict) else {"answer": d}
    dead = (d.get("not_ready") or [{}])[0]
    check(s == 503 and d.get("ready") is False and d.get("processes") == 2 and
          d.get("ready_processes") == 1 and len(d.get("not_ready", [])) == 1,
          "kill -9 of a child: 503, 1 of 2 ready: %s %s" % (s, d))
    check(dead.get("pid") == kids[1] and dead.get("state") == "dead" and
          "killed by signal 9" in dead.get("how", "") and
          "1 of 2 processes ready: process %d (pid %d) killed by signal 9"
          % (dead.get("process", 0), kids[1]) in d.get("error", ""),
          "/api/ready names the dead process: %s" % d)
    got = sum(try_req("/api/predict", body, ct)[0] == 200 for _ in range(10))
    check(got == 10, "the other process still predicts: %d of 10" % got)
    s, text = scrape_until(predicted, n + 10)
    up = [metric(text, 'autodist_serve_process_up{process="%d"}' % p) for p in (1, 2)]
    check(metric(text, "autodist_serve_ready") == 0 and None not in up and
          sorted(up) == [0, 1] and up[dead.get("process", 1) - 1] == 0,
          "/metrics: ready 0, the dead one down: %s" % up)
    check(metric(text, predicted) == n + 10,
          "/metrics: %s predictions, want %d (the dead one's still count)"
          % (metric(text, predicted), n + 10))


faulthandler.dump_traceback_later(100, exit=True)  # a hang says where
if PHASE == "warming":
    warming()
elif PHASE == "overload":
    overload()
elif PHASE == "procs":
    procs()
else:
    CLASSES = []
    predictions()
    batching()
    bad_input()
    malformed(500)  # the allocator's first pools, before measuring
    before = rss_kib()
    t0 = time.time()
    malformed(10000)
    concurrent(200)
    slow_clients(100)
    after = rss_kib()
    s, d = req("/api/health")
    check(s == 200, "health after 10,000 malformed requests and 200 connections: %s" % s)
    body, ct = multipart("image", "red.png", read("red.png"))
    s, d = req("/api/predict", body, ct)
    check(s == 200, "a prediction after them: %s %s" % (s, d))
    check(after - before < 20 * 1024, "memory flat: VmRSS %d -> %d KiB" % (before, after))
    print("serve_check: 10,000 malformed + 200 concurrent in %.1f s, VmRSS %d -> %d KiB"
          % (time.time() - t0, before, after))
sys.exit(1 if fails else 0)
