"""Training configuration: a dataclass, its command line, its checks, and what a resume may change."""
from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from nn_crosscheck_common import (OneLineParser, RawDescriptionDefaultsHelpFormatter, UsageError, nonnegative_int,
                                  positive, positive_int, program)

from .data import default_data_dir
from .spec import ACTIVATIONS, INITS

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("cosine", "constant")
# Tuned per optimizer (see README): both anneal the lr to zero along a cosine over the run.
DEFAULT_LR = {"adam": 1e-3, "sgd": 0.05}
DEFAULT_MOMENTUM = 0.9  # SGD only
MAX_SEED = 2 ** 32 - 1  # numpy's limit; torch's generators take it too

EXIT_STATUSES = """exit status:
  0  success (also after a Ctrl-C or SIGTERM that stopped the run early with a checkpoint)
  1  training stopped: a non-finite or diverging loss or weight, or a log or checkpoint could not be
     written (disk full); the last good checkpoint is kept
  2  a usage or input error: a bad flag, data file or checkpoint
  130  aborted by a second Ctrl-C, or a Ctrl-C before training started (the line says what was kept)
  every non-zero exit prints one line saying why (a second line may give the remedy)"""

# What a resumed run may not change: these make it a different run (the cosine schedule
# spans the planned epochs; seed and dropout fix the shuffles and masks still to come).
FIXED_ON_RESUME = ("opt", "act", "init", "lr", "momentum", "schedule", "dropout", "batch_size",
                   "epochs", "seed", "amp")
# Where the run lives comes from the checkpoint; these flags would be silently ignored.
PLACE_FLAGS = ("logdir", "run_name", "checkpoint_dir", "dry_run")
# The rest (--steps, summary cadence, --device, --data-dir, ...) may change: recorded in the
# checkpoint's "history".


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
    eval_every: int = 0             # steps between evaluations on the test subset; 0: EVAL_POINTS per run
    eval_subset: int = 1000         # test images in those evaluations (the full set: at epoch ends)
    device: str = "auto"
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

    @classmethod
    def from_dict(cls, values: dict) -> "Config":
        """A saved configuration; keys of older versions that no longer exist are dropped."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _folder_problem(path: str) -> str | None:
    """Why `path` cannot be (or become) a folder, or None."""
    for p in (Path(path), *Path(path).absolute().parents):
        if p.exists():
            return None if p.is_dir() else f"{p} is a file, not a folder"
    return None


def validate(cfg: Config) -> None:
    """Raise UsageError naming the first bad value (the parser checks most; fit() calls this too,
    for configurations built in code such as the sweep's)."""
    checks = [
        ("opt", cfg.opt in OPTIMIZERS, f"choose from {', '.join(OPTIMIZERS)}"),
        ("act", cfg.act in ACTIVATIONS, f"choose from {', '.join(ACTIVATIONS)}"),
        ("init", cfg.init in INITS, f"choose from {', '.join(INITS)}"),
        ("lr", math.isfinite(cfg.lr) and cfg.lr > 0, "must be a finite number > 0"),
        ("momentum", math.isfinite(cfg.momentum) and cfg.momentum >= 0, "must be a finite number >= 0"),
        ("dropout", 0 <= cfg.dropout < 1, "must lie in [0, 1)"),
        ("seed", isinstance(cfg.seed, int) and 0 <= cfg.seed <= MAX_SEED, f"must lie in [0, {MAX_SEED}]"),
        ("eval_every", cfg.eval_every >= 0, "must be >= 0"),
        ("eval_subset", cfg.eval_subset >= 1, "must be >= 1"),
    ]
    checks += [(k, getattr(cfg, k) >= 1, "must be >= 1")
               for k in ("batch_size", "epochs", "summary_every", "hist_every")]
    checks.append(("steps", cfg.steps is None or cfg.steps >= 1, "must be >= 1"))
    for name, ok, rule in checks:
        if not ok:
            raise UsageError(f"argument {_flag(name)}: {rule}, got {getattr(cfg, name)}")
    for name in ("logdir", "checkpoint_dir"):
        problem = _folder_problem(getattr(cfg, name))
        if problem:
            raise UsageError(f"argument {_flag(name)}: {problem}")


def prog() -> str:
    """`mnist-cnn-train`, or `python -m mnist_cnn.train`: as the user called it."""
    return program("mnist_cnn.train", "mnist-cnn-train")


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog=prog(), description="Train the MNIST CNN.",
                      epilog=EXIT_STATUSES, formatter_class=RawDescriptionDefaultsHelpFormatter)
    p.add_argument("--opt", choices=OPTIMIZERS, default="adam", help="optimizer")
    p.add_argument("--act", choices=ACTIVATIONS, default="relu", help="activation after each hidden layer")
    p.add_argument("--init", choices=list(INITS), default="xavier",
                   help="weight initialisation (tf: the TensorFlow tutorial's truncated normal)")
    p.add_argument("--lr", type=positive, help="default: 1e-3 for adam, 0.05 for sgd")
    p.add_argument("--momentum", type=float, help="SGD momentum (default 0.9)")
    p.add_argument("--schedule", choices=SCHEDULES, default="cosine",
                   help="learning rate over the run: cosine anneals it to zero, constant keeps it")
    p.add_argument("--dropout", type=float, default=0.5, help="drop probability in training")
    p.add_argument("--batch-size", type=positive_int, default=50,
                   help="images per step, split across processes under torchrun")
    p.add_argument("--epochs", type=positive_int, default=3, help="passes over the 60000 training images")
    p.add_argument("--steps", type=positive_int, help="stop after this many steps in total")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed for initialisation, shuffling and dropout")
    p.add_argument("--data-dir", default="", help=f"folder with MNIST/raw (default ${'{'}MNIST_DATA_DIR{'}'} or ./data)")
    p.add_argument("--logdir", default="runs", help="TensorBoard folder: each run writes LOGDIR/RUN_NAME")
    p.add_argument("--run-name", default="", help="default: <opt>-<act>-<init>-<timestamp>")
    p.add_argument("--summary-every", type=positive_int, default=100, help="steps between scalar summaries")
    p.add_argument("--hist-every", type=positive_int, default=500, help="steps between histograms")
    p.add_argument("--eval-every", type=nonnegative_int, default=0,
                   help="steps between evaluations on a fixed subset of the test set (0: about 40 per run); "
                        "the full test set is evaluated at every epoch end")
    p.add_argument("--eval-subset", type=positive_int, default=1000,
                   help="test images in those evaluations (a fixed, seed-independent choice); with the default "
                        "--eval-every, a short run uses fewer (at least 100) so the evaluations stay cheap")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="auto: CUDA when available, else the CPU")
    p.add_argument("--checkpoint-dir", default="checkpoints",
                   help="checkpoints: each run writes CHECKPOINT_DIR/RUN_NAME")
    p.add_argument("--resume", default="",
                   help="checkpoint file, or a run's checkpoint folder; the run's own settings are used")
    p.add_argument("--dry-run", action="store_true", help="a few steps on a few batches, to check the setup")
    p.add_argument("--amp", action="store_true",
                   help="bf16 autocast for the forward pass, float32 weights and optimizer (CUDA, or a CPU "
                        "with bf16 instructions: avx512_bf16 or AMX)")
    p.add_argument("--no-channels-last", dest="channels_last", action="store_false",
                   help="keep images and weights in torch's default NCHW memory format")
    p.add_argument("--no-summaries", dest="summaries", action="store_false",
                   help="write no TensorBoard summaries (for timing the bare training loop)")
    p.add_argument("--num-workers", type=nonnegative_int, default=None,
                   help="accepted for old scripts and not used: batches are sliced from tensors in memory")
    return p


def parse_command_line(argv: list[str] | None = None) -> tuple[Config, frozenset[str]]:
    """The configuration and the names of the fields given on the command line (for --resume);
    raises UsageError."""
    p = parser()
    values = vars(p.parse_args(argv))
    if values.pop("num_workers") is not None:
        print(f"{p.prog}: note: --num-workers is not used any more: batches are sliced from tensors "
              f"already in memory (the fastest path)", file=sys.stderr)
    unknown = set(values) - {f.name for f in fields(Config)}
    assert not unknown, f"parser and Config disagree: {unknown}"
    for action in p._actions:  # parse again with no defaults: what is left was typed
        action.default = argparse.SUPPRESS
    given = frozenset(vars(p.parse_args(argv))) - {"num_workers"}
    cfg = Config(**values)
    validate(cfg)
    return cfg, given


def parse_args(argv: list[str] | None = None) -> Config:
    return parse_command_line(argv)[0]


def merge_on_resume(saved: Config, cfg: Config, given: frozenset[str]) -> tuple[Config, dict]:
    """The saved run's configuration with the allowed flags of this command applied, and
    {field: [old, new]} of what changed; UsageError listing every flag that may not change."""
    refused = [k for k in FIXED_ON_RESUME + PLACE_FLAGS if k in given and getattr(cfg, k) != getattr(saved, k)]
    if refused:
        raise UsageError(f"argument --resume: {', '.join(map(_flag, refused))} cannot change on resume "
                         f"(the run keeps its settings and folders); drop them, or start a new run")
    allowed = [k for k in given if k not in FIXED_ON_RESUME + PLACE_FLAGS and k != "resume"]
    changed = {k: [getattr(saved, k), getattr(cfg, k)] for k in allowed if getattr(cfg, k) != getattr(saved, k)}
    merged = Config.from_dict({**saved.to_dict(), **{k: v for k, (_, v) in changed.items()}, "resume": cfg.resume})
    validate(merged)
    return merged, changed
