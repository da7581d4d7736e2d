"""Atomic checkpoints: model, optimizer, schedule, progress, RNG state and configuration,
loaded with torch.load(weights_only=True) and checked before use."""
from __future__ import annotations

from pathlib import Path

import torch

from nn_crosscheck_common import UsageError, atomic_write

from .errors import WriteFailed

LATEST = "latest.pt"
KEYS = ("model", "optimizer", "scheduler", "step", "epoch", "step_in_epoch", "rng_cpu", "config", "run_dir")


def save(path: Path, state: dict) -> None:
    """Write beside `path`, then rename: a reader (or a full disk) never leaves half a checkpoint."""
    try:
        atomic_write(path, lambda f: torch.save(state, f))
    except OSError as err:
        raise WriteFailed(f"could not write the checkpoint {path}: {err.strerror or err}; "
                          f"the previous checkpoint there is kept") from None


def resolve(resume: str) -> Path:
    """A checkpoint file, or a folder holding latest.pt; UsageError naming it."""
    path = Path(resume)
    if path.is_dir():
        path = path / LATEST
    if not path.is_file():
        raise UsageError(f"argument --resume: no checkpoint at {path}")
    return path


def load(path: Path) -> dict:
    """The checkpoint's contents; UsageError when it is not a mnist_cnn checkpoint."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # never repeat torch's advice to load untrusted files with weights_only=False
        raise UsageError(f"argument --resume: {path} is not a mnist_cnn checkpoint "
                         f"(torch.load could not read it: {type(err).__name__})") from None
    if not isinstance(state, dict) or not all(k in state for k in KEYS):
        what = type(state).__name__ if not isinstance(state, dict) else f"a dict with keys {sorted(map(str, state))[:6]}"
        raise UsageError(f"argument --resume: {path} is not a mnist_cnn checkpoint (it holds {what}; "
                         f"expected one written by mnist_cnn.train, with {', '.join(KEYS[:4])}, ...)")
    if not isinstance(state["config"], dict) or not isinstance(state["model"], dict):
        raise UsageError(f"argument --resume: {path} is not a mnist_cnn checkpoint (bad config or model entry)")
    return state
