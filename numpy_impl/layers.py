"""Layer classes: they hold parameters, gradients and the last cache; the maths lives in
`functional`. Parameter names and shapes follow torch (`weight` (out, in), `bias`)."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Protocol, runtime_checkable

import numpy as np

from . import functional as F

Array = np.ndarray


@runtime_checkable
class CheckableLayer(Protocol):
    """What a layer must offer to be checked: the one place this contract is written.

    The harness (crosscheck.check.harness), finite differences (crosscheck.check.fd) and
    the bring-your-own adapters (crosscheck.check.byo) rely on exactly this:

    forward(x) -> y        the layer's output for a batch; it may cache what backward needs.
    backward(dy) -> dx     dL/dx for the upstream gradient dy = dL/dy of the last forward;
                           parameter gradients land in `grads`. dy already carries the loss's
                           1/N (torch's convention): a layer sums over samples, never averages.
    params                 {"weight": ..., "bias": ...}: the arrays forward uses (torch's
                           names and layouts, weight (out, in[, kh, kw])); finite differences
                           perturb them in place, so they must be the very arrays used.
    grads                  {same keys: dL/d param} after backward, same shapes as params.
    kind                   "linear", "conv2d", "maxpool2d", an activation name ("relu",
                           "leaky_relu", ...): picks the torch twin and the slips to try.
    name                   how the report names the layer ("2 relu"); set by Sequential.
    training               dropout and batch norm behave as in training when True.
    buffers (optional)     {"running_mean": ..., ...}: state that forward updates and that is
                           no parameter (torch's buffers); absent or {} for most layers.
    kink_state() -> array | None
                           which side of every non-differentiable point (ReLU's 0, a
                           max-pool's winner) the last input fell on; finite differences
                           skip steps that cross one. None for smooth layers.
    describe() -> str      a short label for tables ("linear(3->4)").
    Activation layers also carry `alpha` (LeakyReLU's slope)."""

    params: dict[str, Array]
    grads: dict[str, Array]
    kind: str
    name: str
    training: bool

    def forward(self, x: Array) -> Array: ...

    def backward(self, dy: Array) -> Array: ...

    def kink_state(self) -> Array | None: ...

    def describe(self) -> str: ...


class Layer:
    """Base layer: forward(x) -> y, backward(dy) -> dx; parameter gradients land in .grads."""

    kind = "layer"
    need_input_grad = True  # Sequential turns it off for its first layer when asked

    def __init__(self) -> None:
        self.params: dict[str, Array] = {}
        self.grads: dict[str, Array] = {}
        self.buffers: dict[str, Array] = {}  # running statistics (torch's buffers); not trained
        self.name = self.kind  # set to e.g. "2 relu" by Sequential
        self.training = False
        self._cache = None

    def forward(self, x: Array) -> Array:
        raise NotImplementedError

    def backward(self, dy: Array) -> Array:
        raise NotImplementedError

    def _take_cache(self):
        if self._cache is None:
            raise RuntimeError(f"{self.name}: backward called before forward")
        return self._cache

    def kink_state(self) -> Array | None:
        """Which side of every non-differentiable point the last input fell on, or None."""
        return None

    def describe(self) -> str:
        return self.kind

    def load_tensor(self, name: str, value: Array) -> None:
        """Set parameter or buffer `name` to a copy of `value` in that tensor's own dtype."""
        own = self.params if name in self.params else self.buffers
        own[name] = np.asarray(value).astype(own[name].dtype, copy=True)


class Linear(Layer):
    kind = "linear"

    def __init__(self, in_features: int, out_features: int, dtype=np.float64, bias: bool = True) -> None:
        super().__init__()
        self.params = {"weight": np.zeros((out_features, in_features), dtype)}
        self._no_bias = np.zeros(out_features, dtype)  # what forward adds without a bias parameter
        if bias:
            self.params["bias"] = self._no_bias.copy()

    def forward(self, x: Array) -> Array:
        w, b = self.params["weight"], self.params.get("bias", self._no_bias)
        if x.ndim != 2 or x.shape[1] != w.shape[1]:
            raise ValueError(f"{self.name}: expected input (N, {w.shape[1]}), got shape {x.shape}")
        y, self._cache = F.linear_forward(x, w, b)
        return y

    def backward(self, dy: Array) -> Array:
        dx, self.grads["weight"], db = F.linear_backward(dy, self._take_cache())
        if "bias" in self.params:
            self.grads["bias"] = db
        return dx

    def describe(self) -> str:
        out, inp = self.params["weight"].shape
        return f"linear({inp}->{out})"


class Activation(Layer):
    """Element-wise activation by name (relu, sigmoid, tanh, leaky_relu, softplus,
    identity) or softmax over the last axis."""

    def __init__(self, name: str, alpha: float = 0.01) -> None:
        if name != "softmax":
            F.activation_funcs(name, alpha)  # raises ValueError on an unknown name
        self.kind = name
        super().__init__()
        self.alpha = alpha

    def forward(self, x: Array) -> Array:
        y, self._cache = F.activation_forward(x, self.kind, self.alpha)
        return y

    def backward(self, dy: Array) -> Array:
        return F.activation_backward(dy, self._take_cache())

    def kink_state(self) -> Array | None:
        if self.kind in ("relu", "leaky_relu") and self._cache is not None:
            return self._cache[0] > 0
        return None


def ReLU() -> Activation:
    return Activation("relu")


def Sigmoid() -> Activation:
    return Activation("sigmoid")


def Tanh() -> Activation:
    return Activation("tanh")


def LeakyReLU(alpha: float = 0.01) -> Activation:
    return Activation("leaky_relu", alpha)


def Softplus() -> Activation:
    return Activation("softplus")


def Identity() -> Activation:
    return Activation("identity")


def Softmax() -> Activation:
    return Activation("softmax")


class Sequential:
    """Layers in order; state dict keys are torch's ('0.weight'), so transfer is a copy by key.

    After forward/backward, `outputs[i]` is layer i's output and `grad_inputs[i]` is
    dL/d(input of layer i) (grad_inputs[0] is dL/dX)."""

    def __init__(self, layers: list[CheckableLayer]) -> None:
        self.layers = list(layers)
        for i, layer in enumerate(self.layers):
            layer.name = f"layer {i} ({layer.kind})"
        self.outputs: list[Array] = []
        self.grad_inputs: list[Array] = []

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i: int) -> Layer:
        return self.layers[i]

    def train(self, mode: bool = True) -> "Sequential":
        for layer in self.layers:
            layer.training = mode
        return self

    def eval(self) -> "Sequential":
        return self.train(False)

    def forward(self, x: Array) -> Array:
        self.outputs = []
        for layer in self.layers:
            x = layer.forward(x)
            self.outputs.append(x)
        return x

    __call__ = forward

    def backward(self, dy: Array, input_grad: bool = True) -> Array | None:
        """Backpropagate dL/d(output); input_grad=False lets the first layer skip dL/dX
        (training needs only parameter gradients: the first convolution's dX is wasted)."""
        if len(self.outputs) != len(self.layers):
            raise RuntimeError("Sequential: backward called before forward")
        grads = [None] * len(self.layers)
        self.layers[0].need_input_grad = input_grad
        try:
            for i in reversed(range(len(self.layers))):
                dy = self.layers[i].backward(dy)
                grads[i] = dy
        finally:
            self.layers[0].need_input_grad = True
        self.grad_inputs = grads
        return dy

    def state_dict(self) -> dict[str, Array]:
        """Parameters and buffers, keyed like torch's ('0.weight', '1.running_mean'), layer by layer."""
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers)
                for k, v in {**layer.params, **getattr(layer, "buffers", {})}.items()}

    def param_dict(self) -> dict[str, Array]:
        """The trainable parameters only, keyed like the state dict."""
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.params.items()}

    def buffer_dict(self) -> dict[str, Array]:
        """The buffers only (running statistics, num_batches_tracked), keyed like the state dict."""
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers)
                for k, v in getattr(layer, "buffers", {}).items()}

    def grad_dict(self) -> dict[str, Array]:
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.grads.items()}

    def load_state_dict(self, state: dict[str, Array]) -> None:
        """Copy parameters by key, casting to each layer's dtype; keys and shapes must match."""
        own = self.state_dict()
        missing, extra = own.keys() - state.keys(), state.keys() - own.keys()
        if missing or extra:
            raise ValueError(f"state dict: missing keys {sorted(missing)}, unexpected keys {sorted(extra)}")
        for key, value in state.items():
            value = np.asarray(value)
            if value.shape != own[key].shape:
                raise ValueError(f"state dict: {key} has shape {value.shape}, model expects {own[key].shape}")
            i, name = key.split(".", 1)
            layer = self.layers[int(i)]
            if hasattr(layer, "load_tensor"):
                layer.load_tensor(name, value)
            else:  # a layer of the user's, adapted: parameters only
                layer.params[name] = value.astype(layer.params[name].dtype, copy=True)

    def kink_state(self) -> Array:
        """Concatenated kink masks of all piecewise layers (empty when there are none)."""
        parts = [s.ravel() for s in (layer.kink_state() for layer in self.layers) if s is not None]
        return np.concatenate(parts) if parts else np.zeros(0, bool)


@contextmanager
def buffers_kept(layer: Layer | Sequential) -> Iterator[None]:
    """Run forward as often as needed (finite differences, probes) without moving the running
    statistics: a layer's buffers, or every layer's of a Sequential, are written back in place as
    they were, into whatever arrays hold them afterwards (a user's own, behind byo's adapters)."""
    def current() -> dict[str, Array]:
        return layer.buffer_dict() if isinstance(layer, Sequential) else getattr(layer, "buffers", {})
    saved = {k: np.array(v, copy=True) for k, v in current().items()}
    try:
        yield
    finally:
        for key, value in current().items():
            if key in saved:
                value[...] = saved[key]
