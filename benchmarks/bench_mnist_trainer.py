"""Trainer throughput against a plain PyTorch loop, in the same run, on the CPU (default) or a GPU.

    .venv/bin/python benchmarks/bench_mnist_trainer.py [--rounds 5] [--data-dir DIR] [--device cuda]

Baseline: the same network and optimizer in the default memory format, looping over
preloaded, normalised tensors (on the device), no DataLoader, no summaries, reading nothing
back from the device. Trainer: mnist_cnn.train's own
train_one_epoch with summaries every 100 steps (and once without, to price the summaries).
Prints images/s, the ratios, and the machine's measured matmul FLOP/s for scale (the network
costs about 83 MFLOP per training image, forward and backward)."""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import reference  # noqa: E402
from mnist_cnn import cnn_spec, train  # noqa: E402
from benchmarks.versions import versions_line  # noqa: E402
from mnist_cnn.config import parse_args  # noqa: E402

FLOP_PER_IMAGE = 83e6
BATCH = 50


def matmul_flops(device: torch.device, n: int = 1024, reps: int = 20) -> float:
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b
    reps = reps * 50 if device.type == "cuda" else reps
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return 2 * n ** 3 * reps / (time.perf_counter() - t)


def baseline_stepper(x: torch.Tensor, y: torch.Tensor, device: torch.device):
    """A function running n steps of the plain loop."""
    net = reference.build(cnn_spec("relu", "xavier"), seed=0).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x, y = x.to(device), y.to(device)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0)).to(device)
    state = {"i": 0}

    def run(n: int) -> None:
        for _ in range(n):
            i = state["i"] % (len(x) // BATCH)
            idx = perm[i * BATCH:(i + 1) * BATCH]
            opt.zero_grad()
            F.cross_entropy(net(x[idx]), y[idx]).backward()
            opt.step()
            state["i"] += 1
    return run


def trainer_stepper(data_dir: str, summaries: bool, device: torch.device):
    """A function running n steps of mnist_cnn.train's own epoch loop."""
    tmp = tempfile.mkdtemp()
    flags = ["--data-dir", data_dir, "--logdir", tmp, "--checkpoint-dir", tmp, "--device", device.type,
             "--summary-every", "100"]  # histograms at their default cadence, every 500 steps
    run, state = train.setup(parse_args(flags + ([] if summaries else ["--no-summaries"])))
    bar = train.tqdm(disable=True)

    def go(n: int) -> None:
        p = state.progress
        until = p.step + n
        while p.step < until:
            train.train_one_epoch(run, state, bar, until=until)
            if p.step_in_epoch == run.steps_per_epoch:
                p.epoch, p.step_in_epoch = p.epoch + 1, 0
    return go


def timed(fn, n: int, device: torch.device) -> float:
    t = time.perf_counter()
    fn(n)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return n * BATCH / (time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds of 100 steps each")
    p.add_argument("--data-dir", default=os.environ.get("MNIST_DATA_DIR", "data"),
                   help="folder with MNIST/raw (default: $MNIST_DATA_DIR or ./data)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = p.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device is available")
    from mnist_cnn.data import load_mnist
    x, y, _, _ = load_mnist(args.data_dir, download=False)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads"
    print(versions_line())
    print(f"torch {torch.__version__}, {where}, batch {BATCH}, "
          f"{args.rounds} alternating rounds of 100 steps (medians; the machine's speed drifts)")
    flops = matmul_flops(device)
    runners = {"baseline (plain loop)": baseline_stepper(x, y, device),
               "trainer, no summaries": trainer_stepper(args.data_dir, False, device),
               "trainer, summaries every 100": trainer_stepper(args.data_dir, True, device)}
    for fn in runners.values():
        fn(5)  # warm-up
    rates = {name: [] for name in runners}
    for _ in range(args.rounds):
        for name, fn in runners.items():
            rates[name].append(timed(fn, 100, device))
    med = {name: statistics.median(r) for name, r in rates.items()}
    base = med["baseline (plain loop)"]
    print(f"matmul (1024x1024 float32):       {flops / 1e9:8.1f} GFLOP/s")
    for name, rate in med.items():
        print(f"{name:<33} {rate:8.0f} images/s  = {rate * FLOP_PER_IMAGE / 1e9:6.1f} GFLOP/s "
              f"({rate * FLOP_PER_IMAGE / flops:.0%} of matmul)  ratio to baseline {rate / base:.2f}x")
    plain, full = med["trainer, no summaries"], med["trainer, summaries every 100"]
    print(f"summary cost: {(plain / full - 1):.1%} of training time")


if __name__ == "__main__":
    main()
