"""`python -m crosscheck train ...` and `python -m crosscheck study ...`."""
from __future__ import annotations

import argparse
import os

from .presets import PRESETS

STUDIES = ("depth", "stress", "descent", "moons", "digits", "all")


class UsageError(Exception):
    """A bad command-line value; printed as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage, so the CLI says one line."""

    def error(self, message: str):
        raise UsageError(message)


def positive(text: str) -> float:
    """argparse type: a number > 0 (argparse prefixes the message with the flag's name)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def decay_value(text: str) -> float:
    value = positive(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must lie in (0, 1], got {text}")
    return value


def unique_run(logdir: str, name: str) -> str:
    """`name`, or name-2, name-3, ... so an existing run is never overwritten."""
    run, k = name, 2
    while os.path.exists(os.path.join(logdir, run)):
        run, k = f"{name}-{k}", k + 1
    return run


# --- train ------------------------------------------------------------------------

def train_parser() -> Parser:
    p = Parser(prog="python -m crosscheck train",
               description="Train the NumPy and the torch model side by side and compare every step.")
    p.add_argument("--model", default="A", help=f"preset: {', '.join(PRESETS)}")
    p.add_argument("--impl", default="both",
                   help="both: train NumPy and torch side by side and compare every step (default); "
                        "numpy or torch: train that one alone on its full data set (mnist_cnn: MNIST)")
    p.add_argument("--epochs", type=int, help="with --impl numpy|torch (default 1)")
    p.add_argument("--data-dir", help="MNIST folder for mnist_cnn (default $MNIST_DATA_DIR or ./data)")
    p.add_argument("--act", help="activation (default: the preset's first)")
    p.add_argument("--opt", help="sgd or adam (default sgd; adam for mnist_cnn)")
    p.add_argument("--lr", type=positive, help="default 0.01 (mnist_cnn: 0.001)")
    p.add_argument("--momentum", type=float, default=0.0)
    p.add_argument("--nesterov", action="store_true")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--amsgrad", action="store_true")
    p.add_argument("--decay", type=decay_value, default=1.0, help="lr factor per epoch (exponential)")
    p.add_argument("--step-size", type=int, default=0, help="step decay: apply --decay every N epochs")
    p.add_argument("--batch-size", type=int, help="minibatch size (default: full batch; mnist_cnn: 50)")
    p.add_argument("--steps", type=int, help="default 500 (mnist_cnn side by side: 50)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", default="float64", help="float64 or float32")
    p.add_argument("--logdir", help="write TensorBoard runs under this folder (e.g. runs)")
    return p


def run_train(argv: list[str]) -> int:
    args = train_parser().parse_args(argv)
    if args.model not in PRESETS:
        raise UsageError(f"unknown model {args.model!r}; choose from: {', '.join(PRESETS)}")
    preset = PRESETS[args.model]
    act = args.act or preset.activations[0]
    if act not in preset.activations:
        raise UsageError(f"unknown activation {act!r} for {args.model}; choose from: {', '.join(preset.activations)}")
    if args.dtype not in ("float64", "float32"):
        raise UsageError(f"unknown dtype {args.dtype!r}; choose from: float64, float32")
    if args.impl not in ("both", "numpy", "torch"):
        raise UsageError(f"unknown impl {args.impl!r}; choose from: both, numpy, torch")
    from .training import OPTIMIZERS, TrainConfig
    cnn = args.model == "mnist_cnn"
    opt = args.opt or ("adam" if cnn else "sgd")
    if opt not in OPTIMIZERS:
        raise UsageError(f"unknown optimizer {opt!r}; choose from: {', '.join(OPTIMIZERS)}")
    cfg = TrainConfig(opt, args.lr or (1e-3 if cnn else 0.01), args.momentum, args.nesterov,
                      args.weight_decay, amsgrad=args.amsgrad, decay=args.decay, step_size=args.step_size,
                      batch_size=args.batch_size or (50 if cnn else None), seed=args.seed)
    spec = preset.make_spec(act).with_dtype(args.dtype)
    if args.impl != "both":
        return _train_alone(args, preset, spec, cfg)
    from .trajectory import check_trajectory
    steps = args.steps or (50 if cnn else 500)
    if cnn:
        from mnist_cnn.data import default_data_dir, load_test_batch
        batch = load_test_batch(args.data_dir or default_data_dir(), 1000)
        x, y = batch if batch is not None else preset.data()
    else:
        x, y = preset.data()
    print(f"{spec.name} {act} {args.dtype}: {cfg.opt} lr {cfg.lr:g}, "
          f"{'full batch' if not cfg.batch_size else f'batch {cfg.batch_size}'}, {steps} steps")
    result = check_trajectory(spec, x, y, cfg, steps, logdir=args.logdir)
    print(result.summary())
    return 0 if result.passed else 1


def _train_alone(args, preset, spec, cfg) -> int:
    """One implementation on its full data set, then its test accuracy."""
    from .train_single import train_single
    if preset.name == "mnist_cnn":
        from mnist_cnn.data import DataError, load_mnist
        try:
            tx, ty, vx, vy = load_mnist(args.data_dir, download=True)
        except DataError as err:
            raise UsageError(str(err)) from None
        train_data, test_data = (tx.numpy(), ty.numpy()), (vx.numpy(), vy.numpy())
    else:
        from .studies import split_half
        x, y = preset.data()
        tr, te = split_half(len(x), cfg.seed)
        train_data, test_data = (x[tr], y[tr]), (x[te], y[te])
    print(f"training {spec.name} ({args.impl}, {spec.dtype}) on {len(train_data[0])} samples: {cfg.opt} "
          f"lr {cfg.lr:g}, batch {cfg.batch_size}, {args.epochs or 1} epoch(s)")
    out = train_single(args.impl, spec, cfg, train_data, test_data, args.epochs or 1, args.steps)
    acc = f"{out['test_accuracy']:.4f}" if out["test_accuracy"] is not None else "-"
    print(f"test accuracy {acc}, test loss {out['test_loss']:.4f} after {out['steps']} steps "
          f"({out['images_per_s']:.0f} images/s)")
    return 0


# --- study ------------------------------------------------------------------------

def study_parser() -> Parser:
    p = Parser(prog="python -m crosscheck study", description="Run a study with both implementations.")
    p.add_argument("study", help=" | ".join(STUDIES))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--roll", default="102303346", help="identifier for the stress test (>= 3 digits)")
    p.add_argument("--keep-weights", action="store_true",
                   help="stress: carry trained layers over when deepening (default: fresh init)")
    p.add_argument("--epochs", type=int, help="override the study's epochs")
    p.add_argument("--lr", type=positive, help="descent: eta0 (default 0.2)")
    p.add_argument("--decay", type=decay_value, help="descent: eta_t = eta0 * decay^t (default 0.99)")
    p.add_argument("--steps", type=int, help="descent: steps (default 200)")
    p.add_argument("--logdir", default="runs", help="TensorBoard folder")
    p.add_argument("--no-tb", action="store_true", help="write no TensorBoard runs")
    p.add_argument("--plots", default="plots", help="folder for PNG plots")
    return p


def run_study(argv: list[str]) -> int:
    args = study_parser().parse_args(argv)
    if args.study not in STUDIES:
        raise UsageError(f"unknown study {args.study!r}; choose from: {', '.join(STUDIES)}")
    if args.study in ("stress", "all"):
        from .studies import parse_roll
        parse_roll(args.roll)  # fail before any training
    from . import study_runner
    chosen = ("depth", "stress", "descent", "moons", "digits") if args.study == "all" else (args.study,)
    for name in chosen:
        getattr(study_runner, name)(args)
    return 0
