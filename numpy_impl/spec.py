"""The torch-free model description that both `numpy_impl` and `reference` build from.

A model is a flat list of layer specs (like jax's `stax.serial`), an input shape per
sample, a loss, an init scheme and a dtype. Layer input sizes are never written down:
they are inferred from `input_shape` by `infer_shapes`.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Union

ACTIVATIONS = ("relu", "sigmoid", "tanh", "leaky_relu", "softplus", "identity", "softmax")
LOSSES = ("mse", "half_sse", "bce", "softmax_ce", "nll")
INIT_SCHEMES = ("uniform", "constant", "truncnormal", "xavier", "torch")
DTYPES = ("float64", "float32")


@dataclass(frozen=True)
class Linear:
    """Fully connected layer y = x W^T + b; W is (out_features, in_features)."""
    out_features: int


@dataclass(frozen=True)
class Activation:
    """Element-wise activation (or softmax over the last axis)."""
    name: str
    alpha: float = 0.01  # negative slope, used by leaky_relu only


@dataclass(frozen=True)
class Conv2d:
    """2-D convolution on NCHW input; W is (out_channels, in_channels, k, k)."""
    out_channels: int
    kernel_size: int
    stride: int = 1
    padding: Union[int, str] = 0  # an int, or "same" (stride 1 only)


@dataclass(frozen=True)
class MaxPool2d:
    kernel_size: int = 2
    stride: int | None = None  # None means stride = kernel_size, like torch


@dataclass(frozen=True)
class Flatten:
    pass


@dataclass(frozen=True)
class Dropout:
    p: float = 0.5


LayerSpec = Union[Linear, Activation, Conv2d, MaxPool2d, Flatten, Dropout]


@dataclass(frozen=True)
class Init:
    """Parameter initialisation.

    uniform: W ~ U(-a, a), b = 0 · constant: W = value, b = bias ·
    truncnormal: W ~ N(0, std) truncated at 2 std, b = bias ·
    xavier: Glorot uniform, b = 0 · torch: PyTorch's default for Linear/Conv2d.
    """
    scheme: str = "torch"
    a: float = 0.5
    value: float = 0.5
    std: float = 0.1
    bias: float = 0.0


@dataclass(frozen=True)
class ModelSpec:
    name: str
    input_shape: tuple[int, ...]  # shape of one sample, e.g. (3,) or (1, 28, 28)
    layers: tuple[LayerSpec, ...]
    loss: str = "mse"
    l2: float = 0.0  # penalty l2/2 * sum ||W||^2 over weights (not biases)
    init: Init = field(default_factory=Init)
    dtype: str = "float64"

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss: unknown {self.loss!r}; choose from {', '.join(LOSSES)}")
        if self.init.scheme not in INIT_SCHEMES:
            raise ValueError(f"init: unknown {self.init.scheme!r}; choose from {', '.join(INIT_SCHEMES)}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype: unknown {self.dtype!r}; choose from {', '.join(DTYPES)}")
        if self.l2 < 0:
            raise ValueError(f"l2: must be >= 0, got {self.l2}")
        for i, layer in enumerate(self.layers):
            if isinstance(layer, Activation) and layer.name not in ACTIVATIONS:
                raise ValueError(f"layer {i}: unknown activation {layer.name!r}; "
                                 f"choose from {', '.join(ACTIVATIONS)}")
        infer_shapes(self)  # raises on layers that do not fit

    def with_dtype(self, dtype: str) -> "ModelSpec":
        return replace(self, dtype=dtype)


def conv_output_size(size: int, k: int, stride: int, pad: int, exact: bool = False) -> int:
    """((size - k + 2 pad) / stride) + 1, rounded down as convolution and pooling do; with
    `exact`, a ValueError when the kernel does not fit or the windows do not tile the input."""
    span = size - k + 2 * pad
    if exact and (span < 0 or stride < 1):
        raise ValueError(f"conv: kernel {k} with padding {pad} does not fit input {size}")
    if exact and span % stride:
        raise ValueError(f"conv: (N - F + 2P) / S = {span}/{stride} is not an integer")
    return span // stride + 1


def conv_padding(layer: Conv2d) -> int:
    """Numeric padding of a conv spec; 'same' keeps H and W for odd kernels at stride 1."""
    if layer.padding == "same":
        return (layer.kernel_size - 1) // 2
    return int(layer.padding)


def infer_shapes(spec: ModelSpec) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Per layer (input shape, output shape) of one sample, inferred from spec.input_shape."""
    shape = tuple(spec.input_shape)
    out = []
    for i, layer in enumerate(spec.layers):
        if isinstance(layer, Linear):
            if len(shape) != 1:
                raise ValueError(f"layer {i} (linear): needs flat input, got shape {shape}; add Flatten")
            new = (layer.out_features,)
        elif isinstance(layer, Conv2d):
            if len(shape) != 3:
                raise ValueError(f"layer {i} (conv2d): needs (C, H, W) input, got shape {shape}")
            pad = conv_padding(layer)
            h, w = (conv_output_size(s, layer.kernel_size, layer.stride, pad) for s in shape[1:])
            if h < 1 or w < 1:
                raise ValueError(f"layer {i} (conv2d): input {shape[1:]} too small for kernel {layer.kernel_size}")
            new = (layer.out_channels, h, w)
        elif isinstance(layer, MaxPool2d):
            if len(shape) != 3:
                raise ValueError(f"layer {i} (maxpool2d): needs (C, H, W) input, got shape {shape}")
            stride = layer.stride or layer.kernel_size
            h, w = (conv_output_size(s, layer.kernel_size, stride, 0) for s in shape[1:])
            if h < 1 or w < 1:
                raise ValueError(f"layer {i} (maxpool2d): input {shape[1:]} too small for kernel {layer.kernel_size}")
            new = (shape[0], h, w)
        elif isinstance(layer, Flatten):
            n = 1
            for s in shape:
                n *= s
            new = (n,)
        else:
            new = shape
        out.append((shape, new))
        shape = new
    return out


def param_shapes(spec: ModelSpec) -> dict[str, tuple[int, ...]]:
    """State-dict keys ('0.weight', '0.bias', ...) mapped to parameter shapes."""
    shapes = {}
    for i, (layer, (ins, _)) in enumerate(zip(spec.layers, infer_shapes(spec))):
        if isinstance(layer, Linear):
            shapes[f"{i}.weight"] = (layer.out_features, ins[0])
            shapes[f"{i}.bias"] = (layer.out_features,)
        elif isinstance(layer, Conv2d):
            k = layer.kernel_size
            shapes[f"{i}.weight"] = (layer.out_channels, ins[0], k, k)
            shapes[f"{i}.bias"] = (layer.out_channels,)
    return shapes


def param_count_lines(spec: ModelSpec) -> list[str]:
    """One line per parametrised layer, e.g. 'layer 0 linear: 4x3 + 4 = 16'."""
    shapes = param_shapes(spec)
    lines = []
    for i, layer in enumerate(spec.layers):
        if f"{i}.weight" not in shapes:
            continue
        w, b = shapes[f"{i}.weight"], shapes[f"{i}.bias"]
        nw = 1
        for s in w:
            nw *= s
        lines.append(f"layer {i} {layer_kind(layer)}: {'x'.join(map(str, w))} + {b[0]} = {nw + b[0]}")
    return lines


def param_count(spec: ModelSpec) -> int:
    total = 0
    for shape in param_shapes(spec).values():
        n = 1
        for s in shape:
            n *= s
        total += n
    return total


def layer_kind(layer: LayerSpec) -> str:
    """Short name for reports: 'linear', 'relu', 'conv2d', ..."""
    if isinstance(layer, Activation):
        return layer.name
    return type(layer).__name__.lower()


def mlp(name: str, sizes: list[int], activation: str, *, head: str = "identity",
        loss: str = "mse", init: Init = Init(), l2: float = 0.0,
        act_on_output: bool = False, alpha: float = 0.01) -> ModelSpec:
    """Linear layers sizes[0] -> ... -> sizes[-1] with `activation` between them.

    head: activation after the last Linear ('identity' adds nothing);
    act_on_output: apply the hidden activation after the last layer too (scalar chain).
    """
    if len(sizes) < 2:
        raise ValueError(f"sizes: need at least input and output size, got {sizes}")
    layers: list[LayerSpec] = []
    for i, width in enumerate(sizes[1:]):
        layers.append(Linear(width))
        last = i == len(sizes) - 2
        if not last or act_on_output:
            layers.append(Activation(activation, alpha))
    if head != "identity":
        layers.append(Activation(head))
    return ModelSpec(name, (sizes[0],), tuple(layers), loss=loss, l2=l2, init=init)
