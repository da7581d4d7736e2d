"""Trainer throughput against a plain PyTorch loop, in the same run, on the CPU.

    .venv/bin/python benchmarks/bench_mnist_trainer.py [--steps 300] [--data-dir ../shared/data]

Baseline: the same network and optimizer in the default memory format, looping over
preloaded, normalised tensors, no DataLoader, no summaries. Trainer: mnist_cnn.train's own
train_one_epoch with summaries every 100 steps (and once without, to price the summaries).
Prints images/s, the ratios, and the machine's measured matmul FLOP/s for scale (the network
costs about 83 MFLOP per training image, forward and backward)."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import reference  # noqa: E402
from mnist_cnn import cnn_spec, train  # noqa: E402
from mnist_cnn.config import parse_args  # noqa: E402

FLOP_PER_IMAGE = 83e6
BATCH = 50


def matmul_flops(n: int = 1024, reps: int = 20) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n ** 3 * reps / (time.perf_counter() - t)


def baseline(x: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    """images/s of the plain loop."""
    net = reference.build(cnn_spec("relu", "xavier"), seed=0)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(x), generator=g)

    def step(i):
        idx = perm[i * BATCH:(i + 1) * BATCH]
        opt.zero_grad()
        F.cross_entropy(net(x[idx]), y[idx]).backward()
        opt.step()
    for i in range(5):
        step(i)
    t = time.perf_counter()
    for i in range(steps):
        step(i % (len(x) // BATCH))
    return steps * BATCH / (time.perf_counter() - t)


def trainer(data_dir: str, steps: int, summaries: bool) -> float:
    """images/s of mnist_cnn.train's epoch loop (data already loaded)."""
    tmp = tempfile.mkdtemp()
    flags = ["--data-dir", data_dir, "--steps", str(steps + 5), "--logdir", tmp, "--checkpoint-dir", tmp,
             "--summary-every", "100", "--hist-every", "100000"]
    run = train.setup(parse_args(flags + ([] if summaries else ["--no-summaries"])))
    bar = train.tqdm(disable=True)
    run.total_steps = 5
    train.train_one_epoch(run, bar)  # warm-up
    run.total_steps = steps + 5
    t = time.perf_counter()
    train.train_one_epoch(run, bar)
    return steps * BATCH / (time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--data-dir", default=os.environ.get("MNIST_DATA_DIR", "../shared/data"))
    args = p.parse_args()
    from mnist_cnn.data import load_mnist
    x, y, _, _ = load_mnist(args.data_dir, download=False)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {BATCH}, {args.steps} steps each")
    flops = matmul_flops()
    base = baseline(x, y, args.steps)
    plain = trainer(args.data_dir, args.steps, summaries=False)
    full = trainer(args.data_dir, args.steps, summaries=True)
    print(f"matmul (1024x1024 float32):       {flops / 1e9:8.1f} GFLOP/s")
    for name, rate in (("baseline (plain loop)", base), ("trainer, no summaries", plain),
                       ("trainer, summaries every 100", full)):
        print(f"{name:<33} {rate:8.0f} images/s  = {rate * FLOP_PER_IMAGE / 1e9:6.1f} GFLOP/s "
              f"({rate * FLOP_PER_IMAGE / flops:.0%} of matmul)  ratio to baseline {rate / base:.2f}x")
    print(f"summary cost: {(plain / full - 1):.1%} of training time")


if __name__ == "__main__":
    main()
