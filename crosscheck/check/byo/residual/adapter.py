"""A user's residual block behind numpy_impl's Residual (its parameters, gradients and running
statistics the inner layers', keyed 'branch.<j>.<name>' and 'proj.<name>'), with the user's own
forward and backward called: the inner layers are adapted as they would be alone (so their rows
appear), their gradients read after the block's backward has run them."""
from __future__ import annotations

from typing import Callable

import numpy as np
from torch import nn

import reference
from numpy_impl import Residual, buffers_kept

from ..shared import validate as V
from ..shared.adapters import UserLayer
from ..shared.convention import Convention
from ..shared.discover import backward_style, fits, label_of
from ..shared.objects import as_written
from .discover import ResidualParts, residual_parts


class UserResidual(UserLayer, Residual):
    """One user residual block; branch and proj are adapted layers (UserLayer)."""

    kind = "residual"
    inner_sizes: list = []  # values per sample each inner layer writes (a size-based cost model's)

    def __init__(self, obj, index: int, parts: ResidualParts, branch: list, proj=None) -> None:
        self.obj, self.index, self.label, self.parts = obj, index, label_of(obj), parts
        self.warnings, self._x, self._ready, self._convention = [], None, False, Convention()
        Residual.__init__(self, branch, proj)  # Layer's defaults reach the inner layers only once _ready
        self.style = backward_style(obj)
        self._ready = True

    @property
    def convention(self) -> Convention:
        return self._convention

    @convention.setter
    def convention(self, value: Convention) -> None:
        self._convention = value
        for _, layer in self._parts():
            layer.convention = value

    @property
    def training(self) -> bool:
        return any(layer.training for _, layer in self._parts())

    @training.setter
    def training(self, mode: bool) -> None:
        if getattr(self, "_ready", False):  # Layer.__init__'s default must not switch the user's mode
            Residual.training.fset(self, mode)

    def forward(self, x):
        return self.forward_obj(x)

    def backward(self, dy):
        dx = self.backward_obj(dy, self.style)
        for _, layer in self._parts():
            layer.read_grads(len(dy))
        self.grads = self._collect("grads")
        return dx

    def kink_state(self):
        """The inner layers' kinks on the block's last input: the branch (and projection) run
        again through their adapters, the running statistics put back."""
        if self._x is None:
            return None
        with buffers_kept(self):
            h = self._x
            for layer in self.branch.layers:
                h = layer.forward(h)
            if self.proj is not None:
                self.proj.forward(self._x)
        parts = [s.ravel() for s in (layer.kink_state() for _, layer in self._parts()) if s is not None]
        return np.concatenate(parts) if parts else None

    def twin(self) -> nn.Module:
        branch = nn.Sequential(*[layer.twin() for layer in self.branch.layers])
        return reference.Residual(branch, None if self.proj is None else self.proj.twin())

    def describe(self) -> str:
        return f"{self.label}={Residual.describe(self)}"


def adapt_residual(obj, index: int, x: np.ndarray, adapt_one: Callable, given: dict | None = None):
    """The adapter of a residual block object probed on x (its `probed`, the block's output), or
    None for any other layer. adapt_one(layer object, its input) -> (adapter, its output): the
    convention's own adaptation of one layer."""
    parts = residual_parts(obj, index, given)
    if parts is None:
        return None
    where = f"layer {index} ({label_of(obj)})"
    branch, h, outs = [], x, []
    for j, inner in enumerate(parts.branch):
        layer, h = adapt_one(as_written(inner, index), h)
        layer.label = f"{label_of(obj)}.{parts.branch_attr}[{j}] {layer.label}"
        branch.append(layer)
        outs.append(h)
    proj, skip = None, x
    if parts.shortcut is not None:
        proj, skip = adapt_one(as_written(parts.shortcut, index), x)
        proj.label = f"{label_of(obj)}.{parts.shortcut_attr} {proj.label}"
        outs.append(skip)
    if np.shape(h) != np.shape(skip):
        raise ValueError(f"{where}: its branch {parts.branch_attr} maps {np.shape(x)} to {np.shape(h)} and its skip "
                         f"path gives {np.shape(skip)}; a block without a projection must keep the shape (looked "
                         f"for a shortcut, proj, projection or downsample layer)")
    block = UserResidual(obj, index, parts, branch, proj)
    block.inner_sizes = [int(np.prod(np.shape(o)[1:])) for o in outs]  # values per sample each inner layer writes
    y = V.forward_output(where, block.probe(x), x)
    if parts.how == "branch" and not fits(y, h + skip):
        raise ValueError(f"{where}: holds layers under {parts.branch_attr} but its forward is not x + "
                         f"{parts.branch_attr}(x); if it is a residual block, declare residual=True (its slips "
                         f"are then named), else hand over its layers one by one")
    block.probed = y
    return block
