"""Trainer throughput against a plain PyTorch loop, in the same run, on the CPU (default) or a GPU.

    .venv/bin/python benchmarks/bench_mnist_trainer.py [--rounds 5] [--data-dir DIR] [--device cuda]
    .venv/bin/python benchmarks/bench_mnist_trainer.py --amp [--seeds 0 1 2] [--epochs 3]

Baseline: the same network and optimizer in the default memory format, looping over
preloaded, normalised tensors (on the device), no DataLoader, no summaries, reading nothing
back from the device. Trainer: mnist_cnn.train's own
train_one_epoch with summaries every 100 steps (and once without, to price the summaries).
Prints images/s, the ratios, and the machine's measured matmul FLOP/s for scale (the network
costs about 83 MFLOP per training image, forward and backward).

--amp (the CPU): bf16 autocast against float32. Speed: the float32 plain loop, the trainer in
float32 and the trainer under --amp, alternating in the same run. Accuracy: full runs of
Adam/ReLU and SGD/ReLU for each seed, float32 and --amp, and their mean test accuracies. The
bars (issue 24): the --amp trainer >= 1.8x the float32 plain loop, and its mean test accuracy
within 0.1 percentage points of float32 for each optimizer. On a CPU without bf16
instructions the trainer refuses --amp; the benchmark then says so and times only the plain
loop in float32 and under bf16 autocast (what --amp would cost there)."""
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


def baseline_stepper(x: torch.Tensor, y: torch.Tensor, device: torch.device, amp: bool = False):
    """A function running n steps of the plain loop (amp: its forward under bf16 autocast)."""
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
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                logits = net(x[idx])
            F.cross_entropy(logits.float(), y[idx]).backward()
            opt.step()
            state["i"] += 1
    return run


def trainer_stepper(data_dir: str, summaries: bool, device: torch.device, amp: bool = False):
    """A function running n steps of mnist_cnn.train's own epoch loop."""
    tmp = tempfile.mkdtemp()
    flags = ["--data-dir", data_dir, "--logdir", tmp, "--checkpoint-dir", tmp, "--device", device.type,
             "--summary-every", "100"]  # histograms at their default cadence, every 500 steps
    flags += ([] if summaries else ["--no-summaries"]) + (["--amp"] if amp else [])
    run, state = train.setup(parse_args(flags))
    bar = train.tqdm(disable=True)

    def go(n: int) -> None:
        p = state.progress
        until = p.step + n
        while p.step < until:
            train.train_one_epoch(run, state, bar, until=until)
            if p.step_in_epoch == run.steps_per_epoch:
                p.epoch, p.step_in_epoch = p.epoch + 1, 0
    go.run = run
    return go


def eval_cost(run, images_per_s: float, reps: int = 5) -> float:
    """The test-subset evaluations' share of training time at the run's cadence (every
    run.eval_every steps), from the median time of one evaluation and the training rate."""
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        train.evaluate(run, run.eval_subset)
        times.append(time.perf_counter() - t)
    run.model.train()
    return statistics.median(times) / (run.eval_every * BATCH / images_per_s)


def timed(fn, n: int, device: torch.device) -> float:
    t = time.perf_counter()
    fn(n)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return n * BATCH / (time.perf_counter() - t)


def race(runners: dict, rounds: int, device: torch.device) -> dict[str, float]:
    """Median images/s of each runner over alternating rounds of 100 steps (after a warm-up)."""
    for fn in runners.values():
        fn(5)
    rates = {name: [] for name in runners}
    for _ in range(rounds):
        for name, fn in runners.items():
            rates[name].append(timed(fn, 100, device))
    return {name: statistics.median(r) for name, r in rates.items()}


def print_rates(med: dict[str, float], base: float, flops: float) -> None:
    print(f"{'matmul (1024x1024 float32):':<37} {flops / 1e9:8.1f} GFLOP/s")
    for name, rate in med.items():
        print(f"{name:<37} {rate:8.0f} images/s  = {rate * FLOP_PER_IMAGE / 1e9:6.1f} GFLOP/s "
              f"({rate * FLOP_PER_IMAGE / flops:.0%} of matmul)  ratio to baseline {rate / base:.2f}x")


def accuracy_runs(data_dir: str, seeds: list[int], epochs: int) -> dict[tuple[str, bool], list[float]]:
    """Test accuracy of full runs: (optimizer, amp) -> one per seed."""
    from mnist_cnn.config import Config
    acc = {}
    for opt in ("adam", "sgd"):
        for seed in seeds:
            for amp in (False, True):
                tmp = tempfile.mkdtemp()
                cfg = Config(opt=opt, act="relu", seed=seed, epochs=epochs, amp=amp, device="cpu", data_dir=data_dir,
                             logdir=tmp, checkpoint_dir=tmp, run_name=f"{opt}-s{seed}-{'bf16' if amp else 'fp32'}",
                             summaries=False)
                out = train.fit(cfg)
                acc.setdefault((opt, amp), []).append(out.test_accuracy)
                print(f"  {opt}/relu seed {seed} {'bf16' if amp else 'fp32'}: test accuracy "
                      f"{out.test_accuracy:.2%} ({out.minutes:.1f} min)", flush=True)
    return acc


def amp_main(args, x, y, flops: float) -> None:
    """--amp on the CPU: speed and accuracy of bf16 autocast against float32 (module docstring)."""
    from mnist_cnn.bf16 import cpu_bf16_problem
    device = torch.device("cpu")
    problem = cpu_bf16_problem()
    if problem:
        print(f"the trainer refuses --amp here: {problem}")
        med = race({"baseline (plain loop), float32": baseline_stepper(x, y, device),
                    "baseline (plain loop), bf16 autocast": baseline_stepper(x, y, device, amp=True)},
                   args.rounds, device)
        print_rates(med, med["baseline (plain loop), float32"], flops)
        print("accuracy runs skipped: the trainer refuses --amp on this CPU")
        return
    med = race({"baseline (plain loop), float32": baseline_stepper(x, y, device),
                "trainer, float32": trainer_stepper(args.data_dir, True, device),
                "trainer, --amp (bf16 autocast)": trainer_stepper(args.data_dir, True, device, amp=True)},
               args.rounds, device)
    base = med["baseline (plain loop), float32"]
    print_rates(med, base, flops)
    speed = med["trainer, --amp (bf16 autocast)"] / base
    print(f"--amp trainer / float32 plain loop: {speed:.2f}x (bar: >= 1.8x) {'MET' if speed >= 1.8 else 'MISSED'}")
    print(f"accuracy: {args.epochs} epochs, seeds {' '.join(map(str, args.seeds))}", flush=True)
    acc = accuracy_runs(args.data_dir, args.seeds, args.epochs)
    for opt in ("adam", "sgd"):
        fp32, bf16 = (statistics.mean(acc[(opt, amp)]) for amp in (False, True))
        gap = (bf16 - fp32) * 100
        print(f"{opt}/relu: mean test accuracy float32 {fp32:.2%}, bf16 {bf16:.2%}, difference {gap:+.2f} pp "
              f"(bar: within 0.1 pp) {'MET' if abs(gap) <= 0.1 else 'MISSED'}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds of 100 steps each")
    p.add_argument("--data-dir", default=os.environ.get("MNIST_DATA_DIR", "data"),
                   help="folder with MNIST/raw (default: $MNIST_DATA_DIR or ./data)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--amp", action="store_true", help="the CPU: bf16 autocast against float32, speed and accuracy")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="--amp: seeds of the accuracy runs")
    p.add_argument("--epochs", type=int, default=3, help="--amp: epochs of the accuracy runs")
    args = p.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device is available")
    if args.amp and device.type != "cpu":
        p.error("--amp: measures the CPU; leave --device at cpu")
    from mnist_cnn.data import load_mnist
    x, y, _, _ = load_mnist(args.data_dir, download=False)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads"
    print(versions_line())
    print(f"torch {torch.__version__}, {where}, batch {BATCH}, "
          f"{args.rounds} alternating rounds of 100 steps (medians; the machine's speed drifts)")
    flops = matmul_flops(device)
    if args.amp:
        amp_main(args, x, y, flops)
        return
    runners = {"baseline (plain loop)": baseline_stepper(x, y, device),
               "trainer, no summaries": trainer_stepper(args.data_dir, False, device),
               "trainer, summaries every 100": trainer_stepper(args.data_dir, True, device)}
    med = race(runners, args.rounds, device)
    print_rates(med, med["baseline (plain loop)"], flops)
    plain, full = med["trainer, no summaries"], med["trainer, summaries every 100"]
    print(f"summary cost: {(plain / full - 1):.1%} of training time")
    run = runners["trainer, summaries every 100"].run
    print(f"test-subset evaluation ({len(run.eval_subset)} images every {run.eval_every} steps): "
          f"{eval_cost(run, plain):.1%} of training time")


if __name__ == "__main__":
    main()
