"""Training configuration: a dataclass, its command line, and each variant's defaults."""
from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass, fields

from .data import default_data_dir
from .spec import ACTIVATIONS, INITS

OPTIMIZERS = ("adam", "sgd")
# Tuned per optimizer (see README): both anneal the lr to zero along a cosine over the run.
DEFAULT_LR = {"adam": 1e-3, "sgd": 0.05}
DEFAULT_MOMENTUM = 0.9  # SGD only


@dataclass
class Config:
    opt: str = "adam"
    act: str = "relu"
    init: str = "xavier"
    lr: float | None = None         # None: the optimizer's default above
    momentum: float | None = None   # None: 0.9 for SGD
    schedule: str = "cosine"        # cosine | constant
    dropout: float = 0.5
    batch_size: int = 50            # global, split across processes under torchrun
    epochs: int = 3
    steps: int | None = None        # stop after this many steps in total (for quick runs)
    seed: int = 0
    data_dir: str = ""
    logdir: str = "runs"
    run_name: str = ""
    summary_every: int = 100
    hist_every: int = 500
    eval_every: int = 0             # steps; 0: at the end of every epoch
    device: str = "auto"
    num_workers: int = 0
    checkpoint_dir: str = "checkpoints"
    resume: str = ""
    dry_run: bool = False
    amp: bool = False
    channels_last: bool = True
    summaries: bool = True

    def __post_init__(self) -> None:
        self.lr = DEFAULT_LR[self.opt] if self.lr is None and self.opt in DEFAULT_LR else self.lr
        if self.momentum is None:
            self.momentum = DEFAULT_MOMENTUM if self.opt == "sgd" else 0.0
        if not self.data_dir:
            self.data_dir = default_data_dir()
        if not self.run_name:
            self.run_name = f"{self.opt}-{self.act}-{self.init}-{time.strftime('%Y%m%d-%H%M%S')}"

    def to_dict(self) -> dict:
        return asdict(self)


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value
    return parse


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad value prints one 'prog: error: ...' line, no usage block."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="python -m mnist_cnn.train", description="Train the MNIST CNN.")
    p.add_argument("--opt", choices=OPTIMIZERS, default="adam")
    p.add_argument("--act", choices=ACTIVATIONS, default="relu")
    p.add_argument("--init", choices=list(INITS), default="xavier")
    p.add_argument("--lr", type=_positive(float), help="default: 1e-3 for adam, 0.05 for sgd")
    p.add_argument("--momentum", type=float, help="SGD momentum (default 0.9)")
    p.add_argument("--schedule", choices=("cosine", "constant"), default="cosine")
    p.add_argument("--dropout", type=float, default=0.5, help="drop probability in training")
    p.add_argument("--batch-size", type=_positive(int), default=50)
    p.add_argument("--epochs", type=_positive(int), default=3)
    p.add_argument("--steps", type=_positive(int), help="stop after this many steps in total")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default="", help=f"folder with MNIST/raw (default ${'{'}MNIST_DATA_DIR{'}'} or ./data)")
    p.add_argument("--logdir", default="runs")
    p.add_argument("--run-name", default="", help="default: <opt>-<act>-<init>-<timestamp>")
    p.add_argument("--summary-every", type=_positive(int), default=100, help="steps between scalar summaries")
    p.add_argument("--hist-every", type=_positive(int), default=500, help="steps between histograms")
    p.add_argument("--eval-every", type=int, default=0, help="steps between evaluations (0: every epoch)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--num-workers", type=int, default=0,
                   help="DataLoader workers; 0 (default) slices preloaded tensors, the fastest on CPU")
    p.add_argument("--checkpoint-dir", default="checkpoints")
    p.add_argument("--resume", default="", help="checkpoint file, or a run's checkpoint folder")
    p.add_argument("--dry-run", action="store_true", help="a few steps on a few batches, to check the setup")
    p.add_argument("--amp", action="store_true", help="bf16 autocast (CUDA only)")
    p.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    p.add_argument("--no-summaries", dest="summaries", action="store_false")
    return p


def parse_args(argv: list[str] | None = None) -> Config:
    p = parser()
    args = p.parse_args(argv)
    if not 0 <= args.dropout < 1:
        p.error(f"argument --dropout: must lie in [0, 1), got {args.dropout}")
    if args.momentum is not None and args.momentum < 0:
        p.error(f"argument --momentum: must be >= 0, got {args.momentum}")
    if args.num_workers < 0:
        p.error(f"argument --num-workers: must be >= 0, got {args.num_workers}")
    values = vars(args)
    unknown = set(values) - {f.name for f in fields(Config)}
    assert not unknown, f"parser and Config disagree: {unknown}"
    return Config(**values)
