"""Atomic checkpoints: model, optimizer, schedule, progress, RNG state and configuration,
sealed with a sha256 of their contents, loaded with torch.load(weights_only=True) and checked
before use: the checksum, then that it is a good state to continue from."""
from __future__ import annotations

import hashlib
import io
import math
from pathlib import Path

import torch

from nn_crosscheck_common import UsageError, atomic_write, remove_stale_temps

from .errors import WriteFailed

LATEST = "latest.pt"
KEYS = ("model", "optimizer", "scheduler", "step", "epoch", "step_in_epoch", "rng_cpu", "config", "run_dir")
CHECKSUM = "sha256"  # key of the hex digest of everything else in the checkpoint (see digest)
PROGRESS = ("step", "epoch", "step_in_epoch")


def _feed(h, where: str, value) -> None:
    """Hash `value` with its place in the checkpoint: a tensor by dtype, shape and raw bytes,
    a dict in sorted key order, anything else by its repr."""
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous().reshape(-1)
        h.update(f"{where}:{t.dtype}{tuple(value.shape)};".encode())
        h.update(t.view(torch.uint8).numpy())
    elif isinstance(value, dict):
        h.update(f"{where}:dict{len(value)};".encode())
        for key in sorted(value, key=repr):
            _feed(h, f"{where}/{key!r}", value[key])
    elif isinstance(value, (list, tuple)):
        h.update(f"{where}:{type(value).__name__}{len(value)};".encode())
        for i, item in enumerate(value):
            _feed(h, f"{where}[{i}]", item)
    else:
        h.update(f"{where}={value!r};".encode())


def digest(state: dict) -> str:
    """sha256 (hex) over every entry but the checksum itself: each tensor's bytes, the rest's repr."""
    h = hashlib.sha256()
    _feed(h, "", {k: v for k, v in state.items() if k != CHECKSUM})
    return h.hexdigest()


def seal(state: dict) -> dict:
    """The state with its checksum stored in it."""
    state[CHECKSUM] = digest(state)
    return state


def save(path: Path, state: dict) -> None:
    """Seal, serialise in memory, then write beside `path` and rename: a reader (or a full disk)
    never leaves half a checkpoint, and a full disk is an OSError of the write, one line."""
    try:
        buffer = io.BytesIO()
        torch.save(seal(state), buffer)
        atomic_write(path, lambda f: f.write(buffer.getbuffer()))
    except OSError as err:
        raise WriteFailed(f"could not write the checkpoint {path}: {err.strerror or err}; "
                          f"{kept_or_none(path)}") from None


def kept_or_none(path: Path) -> str:
    """What a failed run leaves to continue from, with the --resume that finds it."""
    if path is not None and path.is_file():
        return f"the previous checkpoint is kept: free space, then --resume {path.parent}"
    return "no checkpoint was written yet: free space, then start the run again"


def resolve(resume: str) -> Path:
    """A checkpoint file, or a folder holding latest.pt (absolute); UsageError naming it. The
    temporary files of checkpoint writes that were killed are removed from its folder."""
    path = Path(resume)
    if path.is_dir():
        path = path / LATEST
    if not path.is_file():
        raise UsageError(f"argument --resume: no checkpoint at {path}")
    remove_stale_temps(path)
    return path.absolute()


def load(path: Path) -> tuple[dict, bool]:
    """(the checkpoint's contents, whether it carried a checksum); UsageError when it is not a
    mnist_cnn checkpoint, its checksum does not match, or it is not a state to continue from."""
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
    sealed = CHECKSUM in state
    if sealed and state[CHECKSUM] != digest(state):
        raise UsageError(f"argument --resume: {path} is corrupt: its contents do not match the sha256 "
                         f"checksum stored in it; resume from a good copy, or start the run again")
    check_good(state, path)
    return state, sealed


def _not_good(path: Path, why: str) -> UsageError:
    return UsageError(f"argument --resume: {path} is not a good checkpoint: {why}; "
                      f"resume from an earlier copy, or start the run again")


def check_good(state: dict, path: Path) -> None:
    """Progress counters are integers >= 0; every weight, optimizer state and saved loss is finite."""
    for key in PROGRESS:
        value = state[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _not_good(path, f"its {key} is {value!r}, not a count >= 0")
    for part in ("model", "optimizer"):
        bad = _first_non_finite(state[part], part)
        if bad:
            raise _not_good(path, f"{bad} holds NaN or Inf")
    for key in ("window", "start_loss"):
        values = state.get(key)
        values = [values] if not isinstance(values, (list, tuple)) else values
        if any(isinstance(v, float) and not math.isfinite(v) for v in values):
            raise _not_good(path, f"its {key} is {state[key]!r}, not finite")


def _first_non_finite(value, where: str) -> str | None:
    """Where the first floating tensor with a NaN or Inf is, or None."""
    if isinstance(value, torch.Tensor):
        if value.is_floating_point() and not bool(value.isfinite().all()):
            return where
    elif isinstance(value, dict):
        for key, item in value.items():
            found = _first_non_finite(item, f"{where}/{key}")
            if found:
                return found
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found = _first_non_finite(item, f"{where}[{i}]")
            if found:
                return found
    return None


def check_fits(state: dict, path: Path, planned_steps: int, epochs: int, per_epoch: int) -> None:
    """The progress lies within the run it belongs to (its planned steps and epochs)."""
    if state["step"] > planned_steps or state["epoch"] > epochs or state["step_in_epoch"] >= per_epoch:
        raise _not_good(path, f"it is at step {state['step']} (epoch {state['epoch']}, batch "
                              f"{state['step_in_epoch']} of the epoch), beyond its run's {planned_steps} "
                              f"planned steps ({epochs} epochs of {per_epoch})")
