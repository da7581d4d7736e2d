"""One corpus row: a clean network and (optionally) a planted bug, with where it should be found.

Other files add rows by defining `cases() -> list[Case]` (see benchmarks/corpus.py)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass
class Case:
    convention: str                      # "rowmajor", "colmajor", "functional", "network", "netclass", ...
    name: str
    make_clean: Callable[[], object]     # -> byo.UserModel that must PASS
    make_buggy: Callable[[], object] | None = None  # -> byo.UserModel with the planted bug, must FAIL
    layer: int | None = None             # expected culprit layer index (-1: the loss)
    slip: str | None = None              # substring of the expected slip name, None: any or none
    step: tuple | None = None            # a recurrent culprit's (stacked layer, time step, quantity)
