"""Bring your own NumPy network: wrap hand-written layers so the harness can check them.

Two conventions are understood.

(a) Row-major layer objects, y = x @ W + b with samples as rows:
    each layer has forward(x) and backward(dy) or backward(x, dy) returning dL/dx;
    linear layers have attributes W (in, out), b (out,) or (1, out), and after backward
    dW and db of the same shapes. Layers without W are activations, recognised by class
    name (ReLU, Sigmoid, Tanh, LeakyReLU, Softplus, Identity) or by probing their forward;
    or pass activations=[...] with one name (or None for linear layers) per layer.

        model = byo.rowmajor([Dense(W1, b1), Relu(), Dense(W2, b2)], x, y, loss="mse")
        result = byo.check(model)

(b) Column-major parameters, Z = W @ X + b with samples as columns, and your own per-layer
    functions (the style of many course notebooks):
        forward(A_prev, W, b, activation) -> (A, cache)
        backward(dA, cache, activation) -> (dA_prev, dW, db)
    W is (out, in), b (out, 1). Hidden layers use `activation`, the last `output_activation`.

        model = byo.colmajor([(W1, b1), (W2, b2)], "relu", forward, backward, X, Y)

Upstream gradients follow torch's convention: the loss is averaged over the batch, so dL/dy
already carries the 1/N and a layer sums over samples. If your layers divide by the batch
size themselves (dW = dZ @ A.T / m), say grads_are_batch_means=True.

A file that defines `crosscheck_model()` returning one of these can be checked with
`python -m crosscheck --user FILE.py`.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np
import torch

import reference
from reference import LinearAct
from numpy_impl import Layer, Sequential
from numpy_impl import functional as NF
from numpy_impl.spec import Activation, Linear, ModelSpec

from .fd import fd_check
from .harness import CheckResult, check_pair
from .user_code import call_user
from .verdict import PROBE_MATCH

_NAME_HINTS = (("leaky", "leaky_relu"), ("relu", "relu"), ("sigmoid", "sigmoid"), ("logistic", "sigmoid"),
               ("tanh", "tanh"), ("softplus", "softplus"), ("identity", "identity"))


def infer_activation(obj, index: int) -> tuple[str, float]:
    """(activation name, leaky alpha) of a user layer, by class name, else by probing forward."""
    cls = type(obj).__name__.lower()
    for hint, name in _NAME_HINTS:
        if hint in cls:
            return name, float(getattr(obj, "alpha", 0.01))
    z = np.linspace(-3, 3, 61)[None, :]
    y = np.asarray(obj.forward(z.copy()), dtype=np.float64)
    neg = z < 0
    alpha = float(np.median(y[neg] / z[neg]))
    for name in ("relu", "sigmoid", "tanh", "softplus", "identity", "leaky_relu"):
        f, _ = NF.activation_funcs(name, alpha)
        if y.shape == z.shape and np.max(np.abs(y - f(z))) <= PROBE_MATCH:
            return name, alpha
    raise ValueError(f"layer {index} ({type(obj).__name__}): cannot tell which activation it is; "
                     f"pass activations=[...] naming one per layer")


def _backward_takes_input(obj) -> bool:
    params = [p for p in inspect.signature(obj.backward).parameters.values()
              if p.default is inspect.Parameter.empty]
    return len(params) >= 2


class _UserLayer(Layer):
    """Base adapter: remembers the last input so backward(x, dy) styles and kinks work."""

    def __init__(self, obj, index: int, batch_means: bool) -> None:
        super().__init__()
        self.obj, self.index, self.batch_means = obj, index, batch_means
        self._x = None

    def kink_state(self):
        if self.activation in ("relu", "leaky_relu") and self._x is not None:
            return self._pre_activation(self._x) > 0
        return None

    def _pre_activation(self, x):
        return x


class _RowMajor(_UserLayer):
    """A user's layer object with forward(x) and backward(dy) or backward(x, dy)."""

    def __init__(self, obj, index: int, batch_means: bool) -> None:
        super().__init__(obj, index, batch_means)
        self._with_input = _backward_takes_input(obj)

    def forward(self, x):
        self._x = x
        return self.obj.forward(x)

    def backward(self, dy):
        if self._x is None:
            raise RuntimeError(f"{self.name}: backward called before forward")
        return self.obj.backward(self._x, dy) if self._with_input else self.obj.backward(dy)


class RowMajorLinear(_RowMajor):
    kind = "linear"
    activation = None

    def __init__(self, obj, index: int, batch_means: bool) -> None:
        super().__init__(obj, index, batch_means)
        w, b = np.asarray(obj.W), np.asarray(obj.b)
        if w.ndim != 2 or b.size != w.shape[1]:
            raise ValueError(f"layer {index}: W must be (in, out) and b have out={w.shape[-1]} entries, "
                             f"got W {w.shape}, b {b.shape}")
        # Views into the user's arrays: the finite-difference check perturbs them in place.
        self.params = {"weight": obj.W.T, "bias": obj.b.reshape(-1)}

    def backward(self, dy):
        dx = super().backward(dy)
        scale = dy.shape[0] if self.batch_means else 1
        self.grads = {"weight": np.asarray(self.obj.dW).T * scale,
                      "bias": np.asarray(self.obj.db).reshape(-1) * scale}
        return dx

    def describe(self) -> str:
        return f"{type(self.obj).__name__}({self.obj.W.shape[0]}->{self.obj.W.shape[1]})"


class RowMajorActivation(_RowMajor):
    def __init__(self, obj, index: int, activation: str, alpha: float) -> None:
        super().__init__(obj, index, False)
        self.kind = self.activation = activation
        self.alpha = alpha

    def describe(self) -> str:
        return f"{type(self.obj).__name__}={self.activation}"


class ColMajorBlock(_UserLayer):
    """(W, b) with the user's forward/backward in Z = W @ X + b, samples as columns."""

    def __init__(self, w, b, activation, fwd, bwd, index: int, batch_means: bool) -> None:
        super().__init__(None, index, batch_means)
        if w.ndim != 2 or b.size != w.shape[0]:
            raise ValueError(f"layer {index}: W must be (out, in) and b (out, 1), got W {w.shape}, b {b.shape}")
        self.kind = f"linear+{activation}"
        self.activation = activation
        self.w, self.b, self.fwd, self.bwd = w, b, fwd, bwd
        self.params = {"weight": w, "bias": b.reshape(-1)}

    def _pre_activation(self, x):
        return x @ self.w.T + self.b.reshape(-1)

    def forward(self, x):
        self._x = x
        a, self._cache = self.fwd(x.T, self.w, self.b, self.activation)
        return np.asarray(a).T

    def backward(self, dy):
        da_prev, dw, db = self.bwd(dy.T, self._take_cache(), self.activation)
        scale = dy.shape[0] if self.batch_means else 1
        self.grads = {"weight": np.asarray(dw) * scale, "bias": np.asarray(db).reshape(-1) * scale}
        return np.asarray(da_prev).T

    def describe(self) -> str:
        return f"W{self.index + 1}({self.w.shape[1]}->{self.w.shape[0]})+{self.activation}"


@dataclass
class UserModel:
    """A user's network, adapted, with the batch to check it on."""
    name: str
    model: Sequential
    torch_model: object  # nn.Sequential with the same parameters
    x: np.ndarray
    target: np.ndarray
    loss: str
    l2: float = 0.0


def _as_target(target, x, loss):
    if target is None:
        raise ValueError("target: give the labels or regression targets for the batch")
    target = np.asarray(target)
    return target if loss == "softmax_ce" else target.astype(np.float64)


def rowmajor(layers: list, x, target, *, loss: str = "mse", activations: list | None = None,
             grads_are_batch_means: bool = False, name: str = "user model") -> UserModel:
    """Adapt row-major layer objects (convention (a) in the module docstring)."""
    x = np.asarray(x, dtype=np.float64)
    adapted, spec_layers = [], []
    for i, obj in enumerate(layers):
        given = activations[i] if activations else None
        if hasattr(obj, "W") and given is None:
            adapted.append(RowMajorLinear(obj, i, grads_are_batch_means))
            spec_layers.append(Linear(np.asarray(obj.W).shape[1]))
        else:
            act, alpha = (given, 0.01) if given else infer_activation(obj, i)
            adapted.append(RowMajorActivation(obj, i, act, alpha))
            spec_layers.append(Activation(act, alpha))
    spec = ModelSpec(name, x.shape[1:], tuple(spec_layers), loss=loss)
    model = Sequential(adapted)
    torch_model = reference.build(spec, seed=None)
    reference.load_numpy_state(torch_model, model.state_dict())
    return UserModel(name, model, torch_model, x, _as_target(target, x, loss), loss)


def colmajor(params: list, activation: str, forward, backward, X, Y, *, output_activation: str = "identity",
             loss: str = "mse", grads_are_batch_means: bool = False, name: str = "user model") -> UserModel:
    """Adapt column-major (W, b) parameters with per-layer forward/backward functions
    (convention (b)); X is (features, samples) and Y (outputs, samples) or labels (samples,)."""
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y)
    blocks, torch_blocks = [], []
    for i, (w, b) in enumerate(params):
        act = output_activation if i == len(params) - 1 else activation
        blocks.append(ColMajorBlock(w, b, act, forward, backward, i, grads_are_batch_means))
        torch_blocks.append(LinearAct(w.shape[1], w.shape[0], act))
    torch_model = torch.nn.Sequential(*torch_blocks).double()
    model = Sequential(blocks)
    reference.load_numpy_state(torch_model, model.state_dict())
    target = Y if loss == "softmax_ce" else Y.T
    return UserModel(name, model, torch_model, X.T.copy(), _as_target(target, X.T, loss), loss)


def call_model_factory(make_model, path: str = "") -> UserModel:
    """Call a --user file's crosscheck_model() and insist on what it must return."""
    model = call_user(f"{path or 'your file'}: crosscheck_model()", make_model)
    if not isinstance(model, UserModel):
        raise ValueError(f"--user: crosscheck_model() returned {type(model).__name__}; return "
                         f"byo.rowmajor(...) or byo.colmajor(...) (see examples/)")
    return model


def check(user: UserModel, seed: int = 0, fd: bool = True) -> CheckResult:
    """The layer-by-layer report for a user's model, in float64, with finite differences."""
    result = check_pair(user.model, user.torch_model, user.x, user.target, user.loss,
                        seed=seed, name=user.name, activation="user")
    if fd:
        result.fd = fd_check(user.model, user.loss, user.l2, user.x, user.target, seed=seed)
        result.notes.extend(result.fd.notes())
    return result
