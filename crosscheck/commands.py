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


def positive(name: str):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name}: not a number: {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{name}: must be > 0, got {text}")
        return value
    return parse


def decay_value(text: str) -> float:
    value = positive("decay")(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"decay: must lie in (0, 1], got {text}")
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
    p.add_argument("--act", help="activation (default: the preset's first)")
    p.add_argument("--opt", default="sgd", help="sgd or adam")
    p.add_argument("--lr", type=positive("lr"), default=0.01)
    p.add_argument("--momentum", type=float, default=0.0)
    p.add_argument("--nesterov", action="store_true")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--amsgrad", action="store_true")
    p.add_argument("--decay", type=decay_value, default=1.0, help="lr factor per epoch (exponential)")
    p.add_argument("--step-size", type=int, default=0, help="step decay: apply --decay every N epochs")
    p.add_argument("--batch-size", type=int, help="minibatch size (default: full batch)")
    p.add_argument("--steps", type=int, default=500)
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
    from .training import OPTIMIZERS, TrainConfig
    from .trajectory import check_trajectory
    if args.opt not in OPTIMIZERS:
        raise UsageError(f"unknown optimizer {args.opt!r}; choose from: {', '.join(OPTIMIZERS)}")
    cfg = TrainConfig(args.opt, args.lr, args.momentum, args.nesterov, args.weight_decay,
                      amsgrad=args.amsgrad, decay=args.decay, step_size=args.step_size,
                      batch_size=args.batch_size, seed=args.seed)
    spec = preset.make_spec(act).with_dtype(args.dtype)
    x, y = preset.data()
    print(f"{spec.name} {act} {args.dtype}: {args.opt} lr {args.lr:g}, "
          f"{'full batch' if not args.batch_size else f'batch {args.batch_size}'}, {args.steps} steps")
    result = check_trajectory(spec, x, y, cfg, args.steps, logdir=args.logdir)
    print(result.summary())
    return 0 if result.passed else 1


# --- study ------------------------------------------------------------------------

def study_parser() -> Parser:
    p = Parser(prog="python -m crosscheck study", description="Run a study with both implementations.")
    p.add_argument("study", help=" | ".join(STUDIES))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--roll", default="102303346", help="identifier for the stress test (>= 3 digits)")
    p.add_argument("--keep-weights", action="store_true",
                   help="stress: carry trained layers over when deepening (default: fresh init)")
    p.add_argument("--epochs", type=int, help="override the study's epochs")
    p.add_argument("--lr", type=positive("lr"), help="descent: eta0 (default 0.2)")
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
