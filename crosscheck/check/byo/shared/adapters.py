"""What every adapted user layer shares, MLP or CNN: safe calls into the user's code (copies
in, writes into an argument reported, what it raises naming the layer and line), the last
input, kinks on the pre-activation, the element-wise activation adapter, and the torch twin
of a whole adapted model.

Adapters present the user's code behind numpy_impl's Layer contract in torch's layout:
samples as rows, a linear weight (out, in), parameter names 'weight'/'bias'."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from numpy_impl import Layer, buffers_kept
import reference
from reference import TORCH_DTYPES, activation_module

from ...user_code import call_user
from .convention import Convention
from .discover import DEFAULT_SLOPE, label_of
from .objects import split_returned
from .updates import param_grads

class Twin(nn.Module):
    """torch twin of one user layer: [flatten ->] [linear ->] activation, with the
    parameters at the top level ('weight', 'bias') like torch's nn.Linear."""

    def __init__(self, shape: tuple | None, activation: str, alpha: float = DEFAULT_SLOPE,
                 bias: bool = True) -> None:
        super().__init__()
        if shape is not None:
            self.weight = nn.Parameter(torch.zeros(shape))
            self.bias = nn.Parameter(torch.zeros(shape[0])) if bias else None
        self.has_linear = shape is not None
        self.act = activation_module(activation, alpha)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.has_linear:
            x = nn.functional.linear(x.flatten(1), self.weight, self.bias)
        return self.act(x)


class UserLayer(Layer):
    """Base adapter: safe calls into user code, the last input, kinks on the pre-activation."""

    activation = "identity"
    alpha = DEFAULT_SLOPE
    has_linear = False
    access = None  # where a layer with parameters keeps W and b (discover.Access)
    returned = None  # [dW, db] its backward returned with dL/dx (objects.split_returned)
    recorders: dict = {}  # {param path: Recorder} given in place of its optimizers (objects.py)
    call_style = "dy"  # how its backward is called with parameters (discover.backward_style)

    def __init__(self, index: int, label: str) -> None:
        super().__init__()
        self.index, self.label = index, label
        self.convention = Convention()  # the model's, shared by its layers (UserModel sets it)
        self.warnings: list[str] = []
        self._x = None

    @property
    def kind(self) -> str:
        return f"linear+{self.activation}" if self.has_linear and self.activation != "identity" else (
            "linear" if self.has_linear else self.activation)

    def call(self, method: str, fn, *arrays, extra=()):
        """fn(*copies of arrays, *extra), warning when the user's code writes into an array it got."""
        copies = [np.array(a, copy=True) for a in arrays]
        before = [c.copy() for c in copies]
        out = call_user(f"layer {self.index} ({self.label}).{method}", fn, *copies, *extra)
        for k, (c, b) in enumerate(zip(copies, before)):
            if c.shape != b.shape or not np.array_equal(c, b, equal_nan=True):
                note = (f"warning: layer {self.index} ({self.label}).{method} modifies its argument "
                        f"{k + 1} in place; the check hands it a copy, so no other layer is affected")
                if note not in self.warnings:
                    self.warnings.append(note)
        return out

    def probe(self, x) -> np.ndarray:
        """The user's forward on x, its running statistics left as they were."""
        with buffers_kept(self):
            return np.asarray(self.forward(x))

    def read_grads(self, n: int) -> None:
        """Keep the parameter gradients the user's object holds (or handed to its optimizer) after
        a backward that its owner (a residual block of the user's) called, for a batch of n; none
        is read back from an update there. A layer without parameters has none."""
        if not self.params:
            return
        if self.access is None:
            raise ValueError(f"layer {self.index} ({self.label}): its gradients cannot be read after a backward "
                             f"called by the block that holds it")
        grads, _ = param_grads(self, None, None, recover=False)
        self.keep_grads(*grads, n=n)

    def keep_grads(self, dw, db=None, *, n: int) -> None:
        """dW and db (None: a layer without a bias) as the user's code keeps them, kept as torch's
        'weight', 'bias' (dW transposed back where the adapter holds the user's W transposed)."""
        dw = np.asarray(dw)
        grads = {"weight": dw.T if getattr(self, "transposed", False) and dw.ndim == 2 else dw}
        if db is not None:
            grads["bias"] = np.asarray(db).reshape(-1)
        self.set_grads(grads, n)

    @property
    def output_activation(self) -> str:
        """The activation this layer's output ends in (what a loss after it receives)."""
        return self.activation

    def forward_obj(self, x):
        """The user object's forward on a copy of x (kept for backward styles that need it).
        Layers that keep every input and sum gradients until flushed (numpy-ml's
        `flush_gradients()`) are flushed first, so each backward sees exactly this forward."""
        self._x = x
        self.flush()
        return np.asarray(self.call("forward", self.obj.forward, x))

    def flush(self) -> None:
        """numpy-ml's flush_gradients(), where the layer has one (see forward_obj)."""
        if callable(getattr(self.obj, "flush_gradients", None)):
            self.call("flush_gradients", self.obj.flush_gradients)

    def backward_obj(self, dy, style: str):
        """The user object's backward in its style: (dy), (x, dy) or (dy, lr) with lr = 0, so
        a backward that also updates moves nothing."""
        if self._x is None:
            raise RuntimeError(f"{self.name}: backward called before forward")
        if style == "x, dy":
            return self._dx(self.call("backward", self.obj.backward, self._x, dy))
        if style == "dy, lr":
            return self._dx(self.call("backward", self.obj.backward, dy, extra=(0.0,)))
        return self._dx(self.call("backward", self.obj.backward, dy))

    def _dx(self, out) -> np.ndarray:
        """What a layer object's backward returns must be dL/dx alone, or (dL/dx, [dW, db])."""
        if self.access is not None:
            out, self.returned = split_returned(out, self.access.weight(self.obj), self.access.bias(self.obj))
        if isinstance(out, (tuple, list)) or out is None:
            what = "nothing" if out is None else f"a {type(out).__name__} of {len(out)} items"
            raise ValueError(f"layer {self.index} ({self.label}).backward returned {what}; it must return "
                             f"dL/dx alone and keep dW, db on the object (for functions returning (dx, dw, db) "
                             f"use byo.functional)")
        return self.checked_dx(np.asarray(out))

    def checked_dx(self, dx: np.ndarray) -> np.ndarray:
        """dL/dx must have one entry per entry of this layer's input: a wrong size is this
        layer's, said here, not the error the layer before would raise on receiving it."""
        if self._x is not None and dx.size != np.size(self._x):
            raise ValueError(f"layer {self.index} ({self.label}).backward returned dL/dx of shape {dx.shape} "
                             f"for its input of shape {np.shape(self._x)}; it must return one gradient entry "
                             f"per input entry, shaped as its input")
        return dx

    def pre_activation(self, x: np.ndarray) -> np.ndarray:
        """What the activation is applied to, for kinks and for the slip search."""
        if not self.has_linear:
            return x
        return x.reshape(len(x), -1) @ self.params["weight"].T + self.params.get("bias", 0.0)

    def kink_state(self):
        if self.activation in ("relu", "leaky_relu") and self._x is not None:
            return self.pre_activation(self._x) > 0
        return None

    def set_grads(self, raw: dict, n: int) -> None:
        """Keep the user's parameter gradients (torch's layout, keyed like params) as torch's,
        undoing the declared convention (L2 inside, the 1/N in the layers) for a batch of n."""
        self.grads = {k: self.convention.layer_grad(k, np.asarray(g), self.params[k], n) for k, g in raw.items()}

    def twin(self) -> nn.Module:
        shape = tuple(self.params["weight"].shape) if self.has_linear else None
        return Twin(shape, self.activation, self.alpha, bias="bias" in self.params)

    def describe(self) -> str:
        if not self.has_linear:
            return f"{self.label}={self.activation}"
        out, inp = self.params["weight"].shape
        act = "" if self.activation == "identity" else f"+{self.activation}"
        return f"{self.label}({inp}->{out}){act}"


class Activation(UserLayer):
    """A user's element-wise activation object: forward(x), backward(dy), backward(x, dy) or
    backward(dy, lr)."""

    def __init__(self, obj, index: int, activation: str, alpha: float, style: str) -> None:
        super().__init__(index, label_of(obj))
        self.obj, self.activation, self.alpha, self.style = obj, activation, alpha, style

    def forward(self, x):
        return self.forward_obj(x)

    def backward(self, dy):
        return self.backward_obj(dy, self.style)


def build_twin(model, dtype: str) -> nn.Sequential:
    """The torch twin of the adapted layers (`model`, a Sequential of UserLayers such as
    UserModel.model), holding the user's current parameters, in `dtype` ("float64" or
    "float32"); it takes what the adapted model takes, samples as rows (N, ...)."""
    twin = nn.Sequential(*[layer.twin() for layer in model.layers]).to(TORCH_DTYPES[dtype])
    reference.load_numpy_state(twin, model.state_dict())
    return twin
