"""CNN layers: Conv2d, MaxPool2d, Flatten, Dropout (NCHW, torch's parameter layout)."""
from __future__ import annotations

import numpy as np

from . import conv_functional as CF
from . import spec as S
from .layers import Layer

Array = np.ndarray


class Conv2d(Layer):
    kind = "conv2d"

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, dtype=np.float64, bias: bool = True) -> None:
        super().__init__()
        k = kernel_size
        self.params = {"weight": np.zeros((out_channels, in_channels, k, k), dtype)}
        self._no_bias = np.zeros(out_channels, dtype)  # what forward adds without a bias parameter
        if bias:
            self.params["bias"] = self._no_bias.copy()
        self.stride, self.padding = stride, padding

    def forward(self, x: Array) -> Array:
        o, c, k, _ = self.params["weight"].shape
        if x.ndim != 4 or x.shape[1] != c:
            raise ValueError(f"{self.name}: expected input (N, {c}, H, W), got shape {x.shape}")
        if min(x.shape[2:]) + 2 * self.padding < k:
            raise ValueError(f"{self.name}: input {x.shape[2]}x{x.shape[3]} with padding {self.padding} "
                             f"is smaller than the {k}x{k} kernel")
        y, self._cache = CF.conv2d_forward(x, self.params["weight"], self.params.get("bias", self._no_bias),
                                           self.stride, self.padding)
        return y

    def backward(self, dy: Array) -> Array | None:
        dx, self.grads["weight"], db = CF.conv2d_backward(dy, self._take_cache(), self.need_input_grad)
        if "bias" in self.params:
            self.grads["bias"] = db
        return dx

    def describe(self) -> str:
        o, c, k, _ = self.params["weight"].shape
        return f"conv2d({c}->{o}, {k}x{k}, s{self.stride}, p{self.padding})"


class MaxPool2d(Layer):
    kind = "maxpool2d"

    def __init__(self, kernel_size: int = 2, stride: int | None = None) -> None:
        super().__init__()
        self.k, self.stride = kernel_size, stride or kernel_size

    def forward(self, x: Array) -> Array:
        if x.ndim != 4:
            raise ValueError(f"{self.name}: expected input (N, C, H, W), got shape {x.shape}")
        if min(x.shape[2:]) < self.k:
            raise ValueError(f"{self.name}: input {x.shape[2]}x{x.shape[3]} is smaller than the "
                             f"{self.k}x{self.k} window")
        y, self._cache = CF.maxpool2d_forward(x, self.k, self.stride)
        return y

    def backward(self, dy: Array) -> Array:
        return CF.maxpool2d_backward(dy, self._take_cache())

    def kink_state(self) -> Array | None:
        return None if self._cache is None else self._cache[0]  # which element won each window

    def describe(self) -> str:
        return f"maxpool2d({self.k}, s{self.stride})"


class Flatten(Layer):
    kind = "flatten"

    def forward(self, x: Array) -> Array:
        self._cache = x.shape
        return x.reshape(len(x), -1)

    def backward(self, dy: Array) -> Array:
        return dy.reshape(self._take_cache())


class Dropout(Layer):
    """Inverted dropout like torch: in training, y = x * mask / (1 - p).

    Set `mask` (a boolean array shaped like the input: True keeps) to share one mask with
    another implementation; otherwise a mask is drawn from `rng`. In eval mode y = x."""
    kind = "dropout"

    def __init__(self, p: float = 0.5, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout: p must lie in [0, 1), got {p}")
        self.p, self.mask = p, None
        self.rng = rng or np.random.default_rng()

    def forward(self, x: Array) -> Array:
        if not self.training or self.p == 0:
            self._cache = (None,)
            return x
        mask = self.mask
        if mask is None:
            mask = self.rng.random(x.shape) >= self.p
        elif mask.shape != x.shape:
            raise ValueError(f"{self.name}: mask shape {mask.shape} does not match input shape {x.shape}")
        scale = (mask / (1 - self.p)).astype(x.dtype)
        self._cache = (scale,)
        return x * scale

    def backward(self, dy: Array) -> Array:
        (scale,) = self._take_cache()
        return dy if scale is None else dy * scale


def build_layer(layer: S.LayerSpec, in_shape: tuple[int, ...], dtype) -> Layer:
    if isinstance(layer, S.Conv2d):
        return Conv2d(in_shape[0], layer.out_channels, layer.kernel_size, layer.stride,
                      S.conv_padding(layer), dtype, layer.bias)
    if isinstance(layer, S.MaxPool2d):
        return MaxPool2d(layer.kernel_size, layer.stride)
    if isinstance(layer, S.Flatten):
        return Flatten()
    if isinstance(layer, S.Dropout):
        return Dropout(layer.p)
    raise TypeError(f"no NumPy layer for spec {layer!r}")


def draw_dropout_masks(spec: S.ModelSpec, batch: int, rng: np.random.Generator) -> dict[int, Array]:
    """A keep-mask (True keeps) for every Dropout layer of `spec`, for a batch of `batch`."""
    shapes = S.infer_shapes(spec)
    return {i: rng.random((batch, *shapes[i][0])) >= layer.p
            for i, layer in enumerate(spec.layers) if isinstance(layer, S.Dropout)}


def set_dropout_masks(model, masks: dict[int, Array]) -> None:
    """Make the Dropout layers at those indices of a Sequential use the given masks."""
    for i, mask in masks.items():
        model[i].mask = mask
