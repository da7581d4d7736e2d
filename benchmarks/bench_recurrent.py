"""NumPy's recurrent layers against torch's on the CPU: one forward and backward of a whole
sequence (batch 32, hidden 128, 50 steps, input 64), float32 and float64, RNN and LSTM (GRU too).

    .venv/bin/python benchmarks/bench_recurrent.py [--rounds 7] [--threads N]

Each case is timed in alternating rounds (NumPy, torch, NumPy, ...), and the median of each is
printed with the ratio NumPy / torch. Both sides compute the same thing: every step's hidden state
forward, then dL/dx, dL/d(initial state) and every parameter gradient from a given dL/d outputs.
torch runs nn.RNN / nn.LSTM (its fused CPU kernels); NumPy numpy_impl.Recurrent. --threads sets
torch's threads and, through threadpoolctl, NumPy's BLAS threads (default: as found). Run it with
nothing else on the machine."""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy_impl  # noqa: E402
from numpy_impl import spec as S  # noqa: E402
from reference.recurrent import build_layer  # noqa: E402

BATCH, HIDDEN, STEPS, INPUT = 32, 128, 50, 64
TARGET = 3.0  # the bar: NumPy within 3x torch's CPU time


def timer(fn, reps: int) -> float:
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - start) / reps


def pair(layer_spec, dtype: str):
    """(NumPy step, torch step): forward and backward of one batch, same parameters and data."""
    rng = np.random.default_rng(0)
    ours = numpy_impl.Recurrent(layer_spec.kind, INPUT, HIDDEN, dtype=np.dtype(dtype))
    theirs = build_layer(layer_spec, (STEPS, INPUT)).to(getattr(torch, dtype))
    for key, value in ours.params.items():
        value[...] = rng.uniform(-0.1, 0.1, value.shape)
        getattr(theirs, key).data.copy_(torch.from_numpy(value))
    x = rng.normal(size=(BATCH, STEPS, INPUT)).astype(dtype)
    dy = rng.normal(size=(BATCH, STEPS, HIDDEN)).astype(dtype)
    tx, tdy = torch.from_numpy(x).requires_grad_(), torch.from_numpy(dy)

    def numpy_step():
        ours.forward(x)
        ours.backward(dy)

    def torch_step():
        theirs.zero_grad(set_to_none=True)
        tx.grad = None
        theirs(tx).backward(tdy)
    return numpy_step, torch_step


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--reps", type=int, default=5, help="steps per timing (default 5)")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.threads)
    from benchmarks.versions import versions_line
    print(versions_line())
    print(f"batch {BATCH}, hidden {HIDDEN}, {STEPS} steps, input {INPUT}; torch threads {torch.get_num_threads()}; "
          f"median of {args.rounds} rounds of {args.reps} forward+backward passes")
    print(f"{'layer':<10} {'dtype':<8} {'numpy ms':>9} {'torch ms':>9} {'ratio':>6}")
    worst = 0.0
    for layer in (S.RNN(HIDDEN), S.LSTM(HIDDEN), S.GRU(HIDDEN)):
        for dtype in ("float32", "float64"):
            fns = pair(layer, dtype)
            for fn in fns:
                fn()  # warm-up
            times = ([], [])
            for _ in range(args.rounds):
                for side, fn in enumerate(fns):
                    times[side].append(timer(fn, args.reps))
            ours, theirs = (statistics.median(t) * 1e3 for t in times)
            worst = max(worst, ours / theirs)
            print(f"{layer.kind:<10} {dtype:<8} {ours:9.2f} {theirs:9.2f} {ours / theirs:6.2f}")
    print(f"worst ratio {worst:.2f} (target: within {TARGET:g}x)")


if __name__ == "__main__":
    main()
