"""A user's dropout layer, made repeatable: the same mask on every call, which the torch twin
then uses too (training mode). Inverted dropout (kept units scaled by 1/keep) and the older
unscaled style (scale at test time) are both recognised from the forward itself."""
from __future__ import annotations

import numpy as np

from ...verdict import DROPOUT_SCALE_MATCH
from . import twins as T
from .adapters import UserCNNLayer

MASK_SEED = 1234  # the global and per-layer generators are reseeded to this before each forward
MASK_NAMES = ("mask", "drop_mask", "dropout_mask", "u", "m", "keep")


class UserDropout(UserCNNLayer):
    kind = "dropout"

    def __init__(self, obj, index: int, layout: str, mask: np.ndarray | None = None) -> None:
        super().__init__(obj, index, layout)
        self.training = True
        self.handed = None if mask is None else np.asarray(mask)
        self.scale = 1.0

    def check_input(self, x) -> None:
        if self.handed is not None and self.handed.shape != x.shape:
            raise ValueError(f"{self._where()}: mask shape {self.handed.shape} does not match its input {x.shape}")

    def forward(self, x):
        """The user's forward with every random generator it may use reseeded first."""
        self.check_input(x)
        if self.handed is not None:
            self.obj.mask = self.handed.copy()
        if isinstance(getattr(self.obj, "rng", None), np.random.Generator):
            self.obj.rng = np.random.default_rng(MASK_SEED)
        state = np.random.get_state()
        np.random.seed(MASK_SEED)
        try:
            return super().forward(x)
        finally:
            np.random.set_state(state)

    def _stored_mask(self, x, y):
        """The user's mask attribute: shaped like x and zero exactly where y is (off x's zeros)."""
        if self.handed is not None:
            return self.handed
        for name in MASK_NAMES:
            m = getattr(self.obj, name, None)
            if isinstance(m, np.ndarray) and m.shape != x.shape:
                raise ValueError(f"{self._where()}: mask {name} has shape {m.shape}, its input {x.shape}")
            if isinstance(m, np.ndarray):
                return m
        return None

    def scaled_mask(self) -> np.ndarray:
        """What the user's forward multiplies its input by, read from a forward on the batch."""
        x = self._x
        y = self.forward(x)
        mask = self._stored_mask(x, y)
        nz = x != 0
        if mask is None:
            if not nz.all():
                raise ValueError(f"{self._where()}: its input has zeros, so the mask cannot be read from "
                                 f"the output; keep it as self.mask")
            mask = y != 0
        keep = np.asarray(mask) != 0
        ratio = np.divide(y, x, out=np.zeros_like(y, dtype=np.float64), where=nz)
        kept = ratio[keep & nz]
        self.scale = float(np.median(kept)) if kept.size else 1.0
        if kept.size and np.max(np.abs(kept - self.scale)) > DROPOUT_SCALE_MATCH * max(abs(self.scale), 1):
            raise ValueError(f"{self._where()}: forward does not scale every kept unit alike; "
                             f"cannot tell its dropout scale")
        if np.any(y[~keep] != 0):
            raise ValueError(f"{self._where()}: output is nonzero where its mask drops units")
        return keep * self.scale

    def style(self) -> str:
        keep = float(np.mean(self.scaled_mask() != 0))
        if abs(self.scale - 1) <= DROPOUT_SCALE_MATCH:
            return f"{self.name}: unscaled dropout (older style: scale at test time), {keep:.0%} kept"
        return f"{self.name}: inverted dropout, kept units scaled by {self.scale:g}, {keep:.0%} kept"

    def twin(self):
        return T.MaskTwin(self.scaled_mask())

    def describe(self) -> str:
        return "dropout"
