"""Atomic checkpoints: model, optimizer, schedule, progress and RNG state."""
from __future__ import annotations

import os
from pathlib import Path

import torch

LATEST = "latest.pt"


def save(path: Path, state: dict) -> None:
    """Write to a temporary file in the same folder, then rename: never a half checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def resolve(resume: str) -> Path:
    """A checkpoint file, or a folder holding latest.pt; FileNotFoundError naming it."""
    path = Path(resume)
    if path.is_dir():
        path = path / LATEST
    if not path.is_file():
        raise FileNotFoundError(f"argument --resume: no checkpoint at {path}")
    return path


def load(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"argument --resume: {path} is not a readable checkpoint ({err})") from None
