#!/usr/bin/python3
"""ddp_peer.py - the PyTorch DDP side of bench/bench_trainer.sh.

Trains the same networks as autodist-train (DESIGN section 5: `cnn`, a
CIFAR-style `resnet18`) on the same data with torch.nn.parallel.
DistributedDataParallel over the gloo backend, N local processes, so the two
can be timed side by side.

Run it with Debian's python3 (python3-torch 1.13), not a pyenv one:

    /usr/bin/python3 bench/ddp_peer.py --model cnn --world 2 --steps 200
    /usr/bin/python3 bench/ddp_peer.py --model resnet18 --dataset synthetic \\
        --input-shape 3x32x32 --batch-size 64 --steps 30 --world 2
    /usr/bin/python3 bench/ddp_peer.py --model cnn --world 2 --epochs 2 --eval

Without RANK in the environment the script is the launcher: it picks a free
port on 127.0.0.1 and starts --world copies of itself with RANK, WORLD_SIZE,
MASTER_ADDR and MASTER_PORT set.  It can also be started by torchrun or by
hand with those variables set.

Fairness rules (mirroring what autodist-train does):
  * the whole training set sits in memory; each step indexes it directly
    (no DataLoader, no worker processes);
  * each global batch is cut like DistributedSampler / autodist's sampler:
    rank r takes positions r, r+N, r+2N, ... of the global batch, from a
    permutation reshuffled every epoch from the seed, last partial batch
    dropped;
  * --batch-size is the global batch; --threads is torch.set_num_threads per
    rank, with one inter-op thread;
  * with --world 1 the model is not wrapped in DDP (autodist-train's
    communication is a no-op on one rank too); --ddp-always wraps it anyway.

Output: rank 0 prints one JSON line on stdout, e.g.
  {"peer":"ddp","model":"cnn","world":2,"threads":1,"batch":128,"steps":200,
   "samples_per_s":1234.5,"step_s":0.1037,...}
progress and errors go to stderr.  Exit status 0 on success, 1 on failure,
2 on a bad command line.
"""

import argparse
import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import time

FASHION_DIR = "/usr/share/datasets/fashion-mnist"


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog="ddp_peer.py",
        description="PyTorch DDP (gloo) peer for the autodist-train benchmark.")
    p.add_argument("--model", default="cnn", choices=["cnn", "resnet18"])
    p.add_argument("--dataset", default="fashion-mnist", choices=["fashion-mnist", "synthetic"])
    p.add_argument("--data-dir", default=FASHION_DIR, help="fashion-mnist folder (default %(default)s)")
    p.add_argument("--input-shape", default="3x32x32", help="synthetic sample shape CxHxW (default %(default)s)")
    p.add_argument("--classes", type=int, default=10, help="synthetic classes (default %(default)s)")
    p.add_argument("--samples", type=int, default=50000,
                   help="synthetic training samples held in memory (default %(default)s)")
    p.add_argument("--batch-size", type=int, default=128, help="global batch (default %(default)s)")
    p.add_argument("--steps", type=int, default=200,
                   help="steps in all, warm-up included (default %(default)s)")
    p.add_argument("--warmup", type=int, default=5,
                   help="first steps left out of the timing (default %(default)s)")
    p.add_argument("--epochs", type=int, default=0,
                   help="train this many full epochs instead of --steps")
    p.add_argument("--eval", action="store_true", help="evaluate on the test set after training")
    p.add_argument("--threads", type=int, default=1, help="torch threads per rank (default %(default)s)")
    p.add_argument("--world", type=int, default=1, help="ranks to launch (default %(default)s)")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--bucket-mb", type=float, default=25.0,
                   help="DDP bucket_cap_mb (default %(default)s, PyTorch's default)")
    p.add_argument("--ddp-always", action="store_true", help="wrap in DDP even with one rank")
    p.add_argument("--linear", default="onednn", choices=["onednn", "torch"],
                   help="linear layers through oneDNN's sgemm like autodist-train (default), or "
                        "stock nn.Linear (Debian's torch: the reference BLAS, much slower)")
    p.add_argument("--memory-format", default="channels-last",
                   choices=["channels-last", "contiguous"],
                   help="input layout for the convolutions: channels-last like autodist-train "
                        "(default), or PyTorch's default NCHW")
    p.add_argument("--stock", action="store_true",
                   help="plain PyTorch: same as --linear torch --memory-format contiguous")
    p.add_argument("--timeout", type=float, default=600.0,
                   help="seconds a collective may wait before gloo gives up (default %(default)s)")
    a = p.parse_args(argv)
    if a.stock:
        a.linear, a.memory_format = "torch", "contiguous"

    def bad(msg):
        p.error(msg)

    try:
        shape = tuple(int(v) for v in a.input_shape.lower().split("x"))
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError
    except ValueError:
        bad("--input-shape: expected CxHxW with positive integers, got %r" % a.input_shape)
    a.shape = shape
    if a.world < 1:
        bad("--world must be at least 1")
    if a.threads < 1:
        bad("--threads must be at least 1")
    if a.batch_size < a.world:
        bad("--batch-size %d is smaller than the %d ranks: each rank needs at least one sample"
            % (a.batch_size, a.world))
    if a.epochs < 0:
        bad("--epochs must not be negative")
    if a.epochs == 0:
        if a.steps < 1:
            bad("--steps must be at least 1")
        if a.warmup < 0 or a.warmup >= a.steps:
            bad("--warmup must be in [0, steps): %d warm-up steps of %d leave none to time"
                % (a.warmup, a.steps))
    if a.classes < 2:
        bad("--classes must be at least 2")
    if a.samples < 1:
        bad("--samples must be positive")
    return a


# ------------------------------------------------------------------------------------------
# Launcher: start --world copies of this script, one per rank.

def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():
    """In a rank, before exec: get SIGTERM if the launcher dies, so no rank is orphaned."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def launch(a, argv):
    port = free_port()
    procs = []

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    status = 0
    try:
        for r in range(a.world):
            env = dict(os.environ)
            env.update({
                "RANK": str(r), "LOCAL_RANK": str(r), "WORLD_SIZE": str(a.world),
                "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
                "OMP_NUM_THREADS": str(a.threads), "MKL_NUM_THREADS": str(a.threads),
            })
            env.setdefault("GLOO_SOCKET_IFNAME", "lo")
            procs.append(subprocess.Popen([sys.executable, os.path.abspath(__file__)] + argv,
                                          env=env, preexec_fn=_die_with_parent))
        pending = list(procs)
        while pending:
            for pr in list(pending):
                rc = pr.poll()
                if rc is None:
                    continue
                pending.remove(pr)
                if rc != 0 and status == 0:
                    status = 1
                    print("ddp_peer.py: error: rank %d exited with status %d; stopping the others"
                          % (procs.index(pr), rc), file=sys.stderr)
                    for other in pending:
                        other.terminate()
            time.sleep(0.05)
    except KeyboardInterrupt:
        for pr in procs:
            if pr.poll() is None:
                pr.terminate()
        for pr in procs:
            pr.wait()
        return 130
    return status


# ------------------------------------------------------------------------------------------
# Models (built lazily: torch is only imported by the ranks).

_DNNL = None


def dnnl_linear_function():
    """A torch.autograd.Function computing F.linear with oneDNN's sgemm (libdnnl.so.2, the
    library libtorch itself links), exactly as autodist-train's DnnlLinear does: Debian's
    torch takes nn.Linear's matrix products from the reference BLAS."""
    global _DNNL
    import ctypes

    import torch

    if _DNNL is None:
        lib = ctypes.CDLL("libdnnl.so.2")
        f = lib.dnnl_sgemm
        i64, flt, ptr = ctypes.c_int64, ctypes.c_float, ctypes.c_void_p
        f.argtypes = [ctypes.c_char, ctypes.c_char, i64, i64, i64, flt, ptr, i64, ptr, i64,
                      flt, ptr, i64]
        f.restype = ctypes.c_int

        def sgemm(ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc):
            rc = f(ta, tb, m, n, k, 1.0, a.data_ptr(), lda, b.data_ptr(), ldb, beta,
                   c.data_ptr(), ldc)
            if rc != 0:
                raise RuntimeError("oneDNN sgemm failed (status %d)" % rc)

        class DnnlLinear(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x, w, b):
                x = x.contiguous()
                n, k, o = x.shape[0], x.shape[1], w.shape[0]
                y = b.unsqueeze(0).expand(n, o).contiguous()
                sgemm(b"N", b"T", n, o, k, x, k, w, k, 1.0, y, o)
                ctx.save_for_backward(x, w)
                return y

            @staticmethod
            def backward(ctx, gy):
                x, w = ctx.saved_tensors
                gy = gy.contiguous()
                n, k, o = x.shape[0], x.shape[1], w.shape[0]
                gx = None
                if ctx.needs_input_grad[0]:
                    gx = torch.empty_like(x)
                    sgemm(b"N", b"N", n, k, o, gy, o, w, k, 0.0, gx, k)
                gw = torch.empty_like(w)
                sgemm(b"T", b"N", o, k, n, gy, o, x, k, 0.0, gw, k)
                return gx, gw, gy.sum(0)

        _DNNL = DnnlLinear
    return _DNNL


def build_model(name, shape, classes, linear="torch", memory_format="contiguous"):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    ch, h, w = shape

    if linear == "onednn":
        dnnl = dnnl_linear_function()

        class Linear(nn.Linear):
            def forward(self, x):
                if x.dtype == torch.float32 and x.dim() == 2 and self.weight.is_contiguous():
                    return dnnl.apply(x, self.weight, self.bias)
                return super().forward(x)
    else:
        Linear = nn.Linear

    class Net(nn.Module):
        """Converts its NCHW input to channels-last first when asked, like autodist-train."""

        def forward(self, x):
            if memory_format == "channels-last":
                x = x.contiguous(memory_format=torch.channels_last)
            return self.body(x)

    class Cnn(Net):
        """DESIGN section 5's Fashion-MNIST network."""

        def __init__(self):
            super().__init__()
            if h < 4 or w < 4:
                raise ValueError("input too small for cnn (needs at least 4x4)")
            self.c1 = nn.Conv2d(ch, 32, 3, padding=1)
            self.c2 = nn.Conv2d(32, 64, 3, padding=1)
            self.f1 = Linear(64 * (h // 4) * (w // 4), 128)
            self.f2 = Linear(128, classes)

        def body(self, x):
            x = F.max_pool2d(F.relu(self.c1(x)), 2)
            x = F.max_pool2d(F.relu(self.c2(x)), 2)
            x = F.relu(self.f1(x.flatten(1)))
            return self.f2(x)

    def conv_bn(cin, cout, k, stride):
        return nn.Sequential(nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False),
                             nn.BatchNorm2d(cout))

    class BasicBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.a = conv_bn(cin, cout, 3, stride)
            self.b = conv_bn(cout, cout, 3, 1)
            self.down = conv_bn(cin, cout, 1, stride) if stride != 1 or cin != cout else None

        def forward(self, x):
            y = self.b(F.relu(self.a(x)))
            y = y + (self.down(x) if self.down is not None else x)
            return F.relu(y)

    class Resnet18(Net):
        """CIFAR-style ResNet-18 (3x3 stride-1 stem, no max-pool) for inputs up to 64
        pixels a side; the ImageNet stem (7x7 stride 2 + max-pool) above, like autodist."""

        def __init__(self):
            super().__init__()
            self.small = h <= 64 and w <= 64
            self.stem = conv_bn(ch, 64, 3, 1) if self.small else conv_bn(ch, 64, 7, 2)
            blocks, cin = [], 64
            for s, width in enumerate((64, 128, 256, 512)):
                for i in range(2):
                    blocks.append(BasicBlock(cin, width, 2 if s > 0 and i == 0 else 1))
                    cin = width
            self.blocks = nn.Sequential(*blocks)
            self.fc = Linear(512, classes)

        def body(self, x):
            x = F.relu(self.stem(x))
            if not self.small:
                x = F.max_pool2d(x, 3, stride=2, padding=1)
            x = self.blocks(x)
            x = F.adaptive_avg_pool2d(x, 1).flatten(1)
            return self.fc(x)

    return Cnn() if name == "cnn" else Resnet18()


# ------------------------------------------------------------------------------------------
# Data: the whole split in memory.

def read_idx(path, kind):
    import numpy as np

    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise SystemExit("ddp_peer.py: error: %s: cannot read: %s" % (path, e.strerror or e))
    magic = int.from_bytes(raw[0:4], "big")
    if kind == "images":
        if magic != 2051:
            raise SystemExit("ddp_peer.py: error: %s: not an IDX image file" % path)
        n, rows, cols = (int.from_bytes(raw[o:o + 4], "big") for o in (4, 8, 12))
        return np.frombuffer(raw, np.uint8, n * rows * cols, 16).reshape(n, 1, rows, cols)
    if magic != 2049:
        raise SystemExit("ddp_peer.py: error: %s: not an IDX label file" % path)
    n = int.from_bytes(raw[4:8], "big")
    return np.frombuffer(raw, np.uint8, n, 8)


def load_data(a, split):
    """(x, y, shape, classes): x float32 N x C x H x W normalised to [-1, 1], y int64."""
    import numpy as np
    import torch

    if a.dataset == "fashion-mnist":
        prefix = "train" if split == "train" else "t10k"
        xs = read_idx(os.path.join(a.data_dir, prefix + "-images-idx3-ubyte.gz"), "images")
        ys = read_idx(os.path.join(a.data_dir, prefix + "-labels-idx1-ubyte.gz"), "labels")
        if len(xs) != len(ys):
            raise SystemExit("ddp_peer.py: error: %s: %d images but %d labels"
                             % (a.data_dir, len(xs), len(ys)))
        x = torch.from_numpy(xs.astype(np.float32) / 127.5 - 1.0)
        y = torch.from_numpy(ys.astype(np.int64))
        return x, y, tuple(x.shape[1:]), 10
    # synthetic: random bytes normalised like a real image; the same on every rank.
    g = torch.Generator().manual_seed(a.seed * 7919 + (0 if split == "train" else 1))
    n = a.samples if split == "train" else max(1, min(10000, a.samples // 5))
    x = torch.randint(0, 256, (n,) + a.shape, generator=g, dtype=torch.uint8)
    x = x.to(torch.float32).div_(127.5).sub_(1.0)
    y = torch.randint(0, a.classes, (n,), generator=g, dtype=torch.int64)
    return x, y, a.shape, a.classes


def epoch_order(n, seed, epoch):
    import torch

    g = torch.Generator().manual_seed(seed * 1000003 + epoch)
    return torch.randperm(n, generator=g)


# ------------------------------------------------------------------------------------------
# One rank.

def log(rank, msg):
    if rank == 0:
        print("ddp_peer.py: " + msg, file=sys.stderr, flush=True)


def rank_main(a):
    import datetime

    import torch
    import torch.distributed as dist
    import torch.nn as nn

    rank = int(os.environ["RANK"])
    world = int(os.environ["WORLD_SIZE"])
    if world != a.world:
        a.world = world
    torch.set_num_threads(a.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already set by an earlier parallel call; harmless
    torch.manual_seed(a.seed)

    use_dist = world > 1 or a.ddp_always
    if use_dist:
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
        dist.init_process_group("gloo", rank=rank, world_size=world,
                                timeout=datetime.timedelta(seconds=a.timeout))

    x, y, shape, classes = load_data(a, "train")
    n = x.shape[0]
    if a.batch_size > n:
        raise SystemExit("ddp_peer.py: error: global batch size %d is larger than the %d samples"
                         % (a.batch_size, n))
    try:
        model = build_model(a.model, shape, classes, a.linear, a.memory_format)
    except OSError as e:
        raise SystemExit("ddp_peer.py: error: --linear onednn: cannot load libdnnl.so.2 (%s); "
                         "use --linear torch" % e)
    nparams = sum(p.numel() for p in model.parameters())
    if use_dist:
        # DDP broadcasts rank 0's weights and (each forward) its BatchNorm buffers.
        net = nn.parallel.DistributedDataParallel(model, bucket_cap_mb=a.bucket_mb)
    else:
        net = model
    opt = torch.optim.SGD(net.parameters(), lr=a.lr, momentum=a.momentum)
    loss_fn = nn.CrossEntropyLoss()
    steps_per_epoch = n // a.batch_size
    total = a.epochs * steps_per_epoch if a.epochs else a.steps
    warmup = 0 if a.epochs else a.warmup
    log(rank, "%s on %s %s: %d parameters, %d ranks x %d threads, global batch %d, %d steps%s"
        % (a.model, a.dataset, "x".join(map(str, shape)), nparams, world, a.threads,
           a.batch_size, total, " (%d epochs)" % a.epochs if a.epochs else
           ", first %d untimed" % warmup))

    net.train()
    order, epoch = None, -1
    t_timed = None
    t_begin = time.perf_counter()
    loss_sum, loss_n = 0.0, 0
    for step in range(total):
        e, s = divmod(step, steps_per_epoch)
        if e != epoch:
            if epoch >= 0 and a.epochs:
                log(rank, "epoch %d: mean loss %.4f (rank 0's share), %.1f s"
                    % (epoch + 1, loss_sum / max(loss_n, 1), time.perf_counter() - t_begin))
                loss_sum, loss_n = 0.0, 0
            epoch = e
            order = epoch_order(n, a.seed, epoch)
        if step == warmup:
            if use_dist:
                dist.barrier()
            t_timed = time.perf_counter()
        idx = order[s * a.batch_size + rank:(s + 1) * a.batch_size:world]
        xb, yb = x.index_select(0, idx), y.index_select(0, idx)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(xb), yb)
        loss.backward()
        opt.step()
        if a.epochs:
            loss_sum += loss.item()
            loss_n += 1
    if use_dist:
        dist.barrier()
    t_end = time.perf_counter()
    timed = total - warmup
    elapsed = t_end - t_timed
    sps = a.batch_size * timed / elapsed if elapsed > 0 else 0.0
    if a.epochs:
        log(rank, "epoch %d: mean loss %.4f (rank 0's share), %.1f s"
            % (epoch + 1, loss_sum / max(loss_n, 1), t_end - t_begin))
    result = {
        "peer": "ddp", "model": a.model, "dataset": a.dataset, "world": world,
        "threads": a.threads, "batch": a.batch_size, "steps": total, "warmup": warmup,
        "samples_per_s": round(sps, 3), "step_s": round(elapsed / timed, 6),
        "ddp": use_dist, "linear": a.linear, "memory_format": a.memory_format,
        "torch": torch.__version__,
    }
    if a.epochs:
        result["epochs"] = a.epochs
        result["train_s"] = round(elapsed, 3)

    if a.eval:
        tx, ty, _, _ = load_data(a, "test")
        model.eval()
        correct = loss_total = 0.0
        with torch.no_grad():
            # Each rank its strided share of the test set, summed below.
            mine = torch.arange(rank, tx.shape[0], world)
            for i in range(0, mine.numel(), 1000):
                j = mine[i:i + 1000]
                out = model(tx.index_select(0, j))
                tyb = ty.index_select(0, j)
                loss_total += nn.functional.cross_entropy(out, tyb, reduction="sum").item()
                correct += (out.argmax(1) == tyb).sum().item()
        sums = torch.tensor([correct, loss_total, float(mine.numel())], dtype=torch.float64)
        if use_dist:
            dist.all_reduce(sums)
        acc, tloss = (sums[0] / sums[2]).item(), (sums[1] / sums[2]).item()
        log(rank, "test accuracy %.2f%% loss %.4f (%d samples)" % (100 * acc, tloss, int(sums[2])))
        result["test_accuracy"] = round(acc, 6)
        result["test_loss"] = round(tloss, 6)

    if rank == 0:
        print(json.dumps(result), flush=True)
    if use_dist:
        dist.destroy_process_group()
    return 0


def main():
    argv = sys.argv[1:]
    a = parse_args(argv)
    if "RANK" not in os.environ:
        if a.world == 1:
            os.environ.update({"RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1",
                               "MASTER_PORT": str(free_port())})
        else:
            return launch(a, argv)
    try:
        return rank_main(a)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
