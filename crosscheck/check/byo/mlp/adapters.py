"""Adapters for the MLP conventions: a linear layer object whose W and b the shared discovery
found (ParamLinear), CS231n function pairs (FunctionalLayer) and column-major blocks
(ColMajorBlock). Each wraps the user's code behind shared.adapters.UserLayer, in torch's
layout (samples as rows, weight (out, in)), and knows its torch twin."""
from __future__ import annotations

import numpy as np

from ...user_code import call_user
from ..shared.adapters import UserLayer
from ..shared.discover import DEFAULT_SLOPE, label_of
from ..shared.objects import install_recorders
from ..shared.updates import param_grads


class ParamLinear(UserLayer):
    """A linear (optionally fused with an activation) user layer whose parameters live on
    an object; `access` reads and writes them (see discover.Access)."""

    has_linear = True

    def __init__(self, obj, index: int, access, transposed: bool, activation: str, alpha: float,
                 backward_style: str) -> None:
        super().__init__(index, label_of(obj))
        self.obj, self.access, self.transposed = obj, access, transposed
        self.activation, self.alpha, self.call_style = activation, alpha, backward_style
        self.recorders = install_recorders(obj, access.paths())
        w, b = access.weight(obj), access.bias(obj)
        # Views into the user's arrays: finite differences perturb them in place.
        # weight (out, in) as torch keeps it: the user's W, or a view of its transpose if stored (in, out)
        self.params = {"weight": w.T if transposed else w}
        if b is not None:  # None: a linear layer without a bias
            self.params["bias"] = b.reshape(-1)

    def forward(self, x):
        return self.forward_obj(x)

    def backward(self, dy):
        grads, dx = param_grads(self, dy, self.backward_obj(dy, self.call_style))
        self.keep_grads(*grads, n=len(dy))
        return np.asarray(dx)


class FunctionalLayer(UserLayer):
    """CS231n style: kind_forward(x[, w, b]) -> (out, cache), kind_backward(dout, cache) ->
    dx or (dx, dw, db). Affine layers keep w (in, out) and flatten x inside."""

    def __init__(self, index: int, label: str, fwd, bwd, w=None, b=None, activation: str = "identity",
                 alpha: float = DEFAULT_SLOPE, fwd_extra: tuple = (), bwd_extra: tuple = ()) -> None:
        super().__init__(index, label)
        self.fwd, self.bwd, self.w, self.b = fwd, bwd, w, b
        self.fwd_extra, self.bwd_extra = fwd_extra, bwd_extra  # a declared slope, where they take it
        self.activation, self.alpha = activation, alpha
        self.has_linear = w is not None
        if self.has_linear:
            self.params = {"weight": w.T, "bias": b.reshape(-1)}  # w (in, out) -> weight (out, in)
        self._cache = None

    def forward(self, x):
        self._x = x
        args = (x, self.w, self.b) if self.has_linear else (x,)
        res = self.call("forward", self.fwd, *args, extra=self.fwd_extra)
        if not (isinstance(res, tuple) and len(res) == 2):
            raise ValueError(f"layer {self.index} ({self.label}): forward must return (out, cache), "
                             f"got {type(res).__name__}")
        out, self._cache = res
        return np.asarray(out)

    def backward(self, dy):
        cache = self._take_cache()
        res = call_user(f"layer {self.index} ({self.label}).backward", self.bwd, np.array(dy), cache, *self.bwd_extra)
        if not self.has_linear:
            return np.asarray(res)
        dx, dw, db = res
        # dw (in, out) -> weight's (out, in)
        self.set_grads({"weight": np.asarray(dw).T, "bias": np.asarray(db).reshape(-1)}, len(dy))
        return np.asarray(dx)


class ColMajorBlock(UserLayer):
    """(W, b) with the user's forward/backward in Z = W @ X + b, samples as columns."""

    has_linear = True

    def __init__(self, w, b, activation: str, alpha: float, fwd, bwd, index: int, name_given: str) -> None:
        super().__init__(index, f"W{index + 1}")
        if w.ndim != 2 or b.size != w.shape[0]:
            raise ValueError(f"layer {index}: W must be (out, in) and b (out, 1), got W {w.shape}, b {b.shape}")
        self.activation, self.alpha, self.name_given = activation, alpha, name_given
        self.w, self.b, self.fwd, self.bwd = w, b, fwd, bwd
        self.params = {"weight": w, "bias": b.reshape(-1)}

    def forward(self, x):
        self._x = x
        # rows (N, in) -> the user's columns (in, N); A (out, N) -> rows (N, out)
        res = self.call("forward", self.fwd, x.T, self.w, self.b, extra=(self.name_given,))
        a, self._cache = res
        return np.asarray(a).T

    def backward(self, dy):
        res = call_user(f"layer {self.index} ({self.label}).backward", self.bwd, np.array(dy.T),
                        self._take_cache(), self.name_given)
        da_prev, dw, db = res
        self.set_grads({"weight": np.asarray(dw), "bias": np.asarray(db).reshape(-1)}, len(dy))
        return np.asarray(da_prev).T

    def describe(self) -> str:
        return f"W{self.index + 1}({self.w.shape[1]}->{self.w.shape[0]})+{self.activation}"
