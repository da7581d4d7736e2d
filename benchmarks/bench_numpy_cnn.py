"""NumPy CNN against torch on the CPU: one training step (forward, backward, Adam) on a
batch of 50 in float32, and the second convolution's forward and backward alone.

    .venv/bin/python benchmarks/bench_numpy_cnn.py [--rounds 7]

Both sides run in the same process, alternating, and the medians are compared (the target
is a NumPy step within 2x of torch's). The training step is also compared with torch's
plain loop alone: a worker process that imports no NumPy model times torch's step in the
same rounds, interleaved with the others, so that OpenBLAS's threads never share a process
with torch's. Each figure is a median with the [min-max] of its rounds."""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import reference  # noqa: E402
from crosscheck.train.lockstep import NumpySide, TrainConfig  # noqa: E402
from benchmarks.versions import versions_line  # noqa: E402
from mnist_cnn.spec import cnn_spec  # noqa: E402
from numpy_impl import OptimSpec  # noqa: E402
from numpy_impl import conv_functional as CF  # noqa: E402
from numpy_impl.init import init_state  # noqa: E402

BATCH = 50


def timer(fn, reps: int) -> float:
    """Seconds per call. One untimed call first: OpenBLAS's threads keep spinning for a while
    after a NumPy matmul and would slow the first torch call that follows."""
    fn()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps


def torch_training_step(spec, state, x: np.ndarray, y: np.ndarray):
    """torch's plain step (no copies of gradients into NumPy, as TorchSide makes for checks)."""
    net = reference.build(spec, seed=None)
    reference.load_numpy_state(net, state)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    net.train()
    tx_b, ty_b = torch.from_numpy(x), torch.from_numpy(y)

    def torch_step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(tx_b), ty_b).backward()
        opt.step()
    return torch_step


def problem():
    """The batch, the spec and its initial state: the same in the worker process."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, BATCH)
    spec = cnn_spec("relu", "xavier", dtype="float32")
    return rng, x, y, spec, init_state(spec, 0)


def torch_worker() -> None:
    """Time torch's step alone: for each line 'reps' on stdin, print seconds per step."""
    _, x, y, spec, state = problem()
    step = torch_training_step(spec, state, x, y)
    step()  # warm-up
    print("ready", flush=True)
    for line in sys.stdin:
        print(timer(step, int(line)), flush=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=7, help="alternating rounds of each case (default: 7)")
    p.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.torch_worker:
        return torch_worker()
    rng, x, y, spec, state = problem()
    np_side = NumpySide(spec, state, TrainConfig(OptimSpec("adam", 1e-3)))
    torch_step = torch_training_step(spec, state, x, y)
    # conv2 alone: input (50, 32, 14, 14), weights (64, 32, 5, 5), 'same' padding
    cx = rng.normal(size=(BATCH, 32, 14, 14)).astype(np.float32)
    cw = (rng.normal(size=(64, 32, 5, 5)) * 0.05).astype(np.float32)
    cb = np.zeros(64, np.float32)
    cdy = rng.normal(size=(BATCH, 64, 14, 14)).astype(np.float32)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (cx, cw, cb))
    np_cache = CF.conv2d_forward(cx, cw, cb, 1, 2)[1]

    def torch_fwd():
        with torch.no_grad():
            F.conv2d(tx, tw, tb, padding=2)

    def torch_bwd():
        out = F.conv2d(tx, tw, tb, padding=2)
        torch.autograd.grad(out, (tx, tw, tb), torch.from_numpy(cdy))

    cases = {
        "training step": (lambda: np_side.step(x, y), torch_step),
        "conv2 forward": (lambda: CF.conv2d_forward(cx, cw, cb, 1, 2), torch_fwd),
        "conv2 forward+backward": (lambda: (CF.conv2d_forward(cx, cw, cb, 1, 2),
                                            CF.conv2d_backward(cdy, np_cache)), torch_bwd),
    }
    times = {name: ([], []) for name in cases}
    alone = []  # torch's step, timed in the worker process
    worker = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--torch-worker"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    for fns in cases.values():
        for fn in fns:
            fn()  # warm-up
    assert worker.stdout.readline().strip() == "ready"
    for _ in range(args.rounds):
        for name, (np_fn, t_fn) in cases.items():
            times[name][0].append(timer(np_fn, 5))
            times[name][1].append(timer(t_fn, 5))
        worker.stdin.write("5\n")
        worker.stdin.flush()
        alone.append(float(worker.stdout.readline()))
    worker.stdin.close()
    worker.wait()
    print(versions_line())
    print(f"numpy {np.__version__} ({numpy_blas()}), torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, float32, batch {BATCH}, medians [min-max] of {args.rounds} rounds")
    for name, (a, b) in times.items():
        print(f"{name:<24} numpy {ms(a)}   torch {ms(b)}   numpy/torch {ratio(a, b)}")
    a = times["training step"][0]
    print(f"{'training step':<24} numpy {ms(a)}   torch alone {ms(alone)}   numpy/torch {ratio(a, alone)}  "
          "(torch's plain loop in its own process)")


def ms(t: list[float]) -> str:
    return f"{statistics.median(t) * 1e3:6.1f} ms [{min(t) * 1e3:.1f}-{max(t) * 1e3:.1f}]"


def ratio(a: list[float], b: list[float]) -> str:
    return f"{statistics.median(a) / statistics.median(b):5.2f}x"


def numpy_blas() -> str:
    try:
        from threadpoolctl import threadpool_info
        info = [i for i in threadpool_info() if i["user_api"] == "blas"]
        return f"{info[0]['internal_api']} {info[0].get('architecture', '')}" if info else "blas"
    except ImportError:
        return "blas"


if __name__ == "__main__":
    main()
