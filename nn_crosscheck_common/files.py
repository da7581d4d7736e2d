"""Files that are never seen half-written, and run folders that are never shared."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable, IO


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> None:
    """Call write(f) on a temporary file beside `path`, then rename it over `path`.

    A reader sees the old file or the new one, never half of one; on any failure (a full
    disk, an exception in `write`) the temporary file is removed and the old file stays."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def claim_run_dir(parent: str | os.PathLike, name: str, also_free_in: tuple = ()) -> Path:
    """Create and return parent/<name>, or <name>-2, -3, ...: the first that no other run holds.

    The folder is created exclusively (os.mkdir fails if it exists), so two runs started at
    the same moment never get the same one. A name is also skipped when it exists in any of
    `also_free_in` (e.g. the checkpoint folder)."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    candidate, k = name, 2
    while True:
        if not any((Path(other) / candidate).exists() for other in also_free_in):
            try:
                (parent / candidate).mkdir()
                return parent / candidate
            except FileExistsError:
                pass
        candidate, k = f"{name}-{k}", k + 1
