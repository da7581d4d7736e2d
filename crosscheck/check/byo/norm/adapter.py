"""A user's normalisation layer (an object with forward(x) and backward(dy), or a CS231n function
pair made into one by NormFn) behind numpy_impl's Layer contract: gamma and beta as 'weight' and
'bias' (views of the user's arrays, which finite differences perturb in place), the running
statistics as 'running_mean' / 'running_var' (read afresh from the user's object each time), its
train/eval flag as `training`, and the attributes the slip finder reads (norm_slips.py)."""
from __future__ import annotations

import numpy as np

from ..shared.adapters import UserLayer
from ..shared.discover import backward_style, label_of
from . import discover as ND
from .twin import NormTwin


class UserNorm(UserLayer):
    """One user normalisation layer; layout 'nchw' (channels on axis 1) or 'nhwc' (last)."""

    def __init__(self, obj, index: int, layout: str = "nchw", declared: dict | None = None) -> None:
        where = f"layer {index} ({label_of(obj)})"
        self.obj, self.norm, self.layout, self.where = obj, ND.norm_kind(obj), layout, where
        self.access = ND.find_norm_access(obj, where)
        self._flag, self.in_shape = ND.ModeFlag(obj, self.norm == "batchnorm"), None
        super().__init__(index, label_of(obj))
        self.eps = ND.eps_of(obj)
        self.num_groups = ND.groups_of(obj, where) if self.norm == "groupnorm" else 1
        self.track_running_stats = self.access.running is not None
        self.given_momentum = ND.momentum_of(obj)
        self.momentum, self.momentum_convention, self.running_unbiased, note = ND.conventions(
            self.given_momentum, declared, where)
        self.notes = [note] if self.track_running_stats else [] if self.norm != "batchnorm" else [
            f"{where}: no running statistics found (looked for "
            f"{', '.join('/'.join(p) for p in ND.RUNNING_PATHS[:3])}, ...): they are not checked; "
            f"keep them under one of those names to have them checked"]
        self.style = backward_style(obj)
        self._ready = True

    # --- what the harness reads ---------------------------------------------------------------
    @property
    def kind(self) -> str:
        if self.norm != "batchnorm":
            return self.norm
        return "batchnorm2d" if self.in_shape is not None and len(self.in_shape) == 4 else "batchnorm1d"

    @property
    def training(self) -> bool:
        return self._flag.get()

    @training.setter
    def training(self, mode: bool) -> None:
        if getattr(self, "_ready", False):  # Layer.__init__'s default must not switch the user's mode
            self._flag.set(bool(mode))

    def _shape(self) -> tuple:
        gamma = self.access.get(self.obj, self.access.gamma)
        if self.norm == "layernorm" and self.in_shape is not None and gamma.size == int(np.prod(self.in_shape[1:])):
            return tuple(self.in_shape[1:])
        return (gamma.size,)

    @property
    def params(self) -> dict:
        shape = self._shape()
        return {"weight": self.access.get(self.obj, self.access.gamma).reshape(shape),
                "bias": self.access.get(self.obj, self.access.beta).reshape(shape)}

    @params.setter
    def params(self, value: dict) -> None:
        """Set once, by Layer.__init__: the parameters are the user's own arrays."""

    @property
    def buffers(self) -> dict:
        if self.access.running is None:
            return {}
        return {k: self.access.get(self.obj, p).reshape(-1) for k, p in zip(("running_mean", "running_var"),
                                                                             self.access.running)}

    @buffers.setter
    def buffers(self, value: dict) -> None:
        pass

    def load_tensor(self, name: str, value) -> None:
        """Write into the user's own array, in place."""
        own = {**self.params, **self.buffers}[name]
        own[...] = np.asarray(value, dtype=own.dtype).reshape(own.shape)

    # --- running it -----------------------------------------------------------------------------
    def forward(self, x):
        self.in_shape = x.shape
        return self.forward_obj(x)

    def backward(self, dy):
        dx = self.backward_obj(dy, self.style)
        self.read_grads(len(dy))
        return dx

    def read_grads(self, n: int) -> None:
        """dgamma, dbeta as the backward returned them, else as the object keeps them."""
        raw, self.returned = (self.returned if self.returned is not None else
                              self.access.grads(self.obj, self.where)), None
        shape = self._shape()
        self.set_grads({k: np.asarray(g).reshape(shape) if np.size(g) == int(np.prod(shape)) else np.asarray(g)
                        for k, g in zip(("weight", "bias"), raw)}, n)

    def kink_state(self):
        return None

    def twin(self) -> NormTwin:
        kind = self.kind
        return NormTwin(kind, self._shape(), self.eps, self.momentum, self.running_unbiased, self.num_groups,
                        self.layout, self.track_running_stats)

    def describe(self) -> str:
        return f"{self.label}={self.kind}({'x'.join(map(str, self._shape()))})"

