"""The torch-free model description that both `numpy_impl` and `reference` build from.

A model is a flat list of layer specs (like jax's `stax.serial`), an input shape per
sample, a loss, an init scheme and a dtype. Layer input sizes are never written down:
they are inferred from `input_shape` by `infer_shapes`.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Union

from .spec_norm import (NORM_LAYERS, BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm, Residual, check_norm_input,
                        has_running_stats, norm_param_shape)
from .spec_recurrent import (GRU, LSTM, RNN, SEQUENCE_LAYERS, Embedding, LastStep, TemporalAffine,
                             sequence_output_shape, sequence_param_shapes)

ACTIVATIONS = ("relu", "sigmoid", "tanh", "leaky_relu", "elu", "softplus", "identity", "softmax")
LOSSES = ("mse", "half_sse", "bce", "softmax_ce", "nll", "temporal_ce")
INIT_SCHEMES = ("uniform", "constant", "truncnormal", "xavier", "torch")
DTYPES = ("float64", "float32")


def check_loss_name(loss: str) -> str:
    """`loss`, or a ValueError naming it when it is not one this project implements."""
    if loss not in LOSSES:
        raise ValueError(f"loss: unknown {loss!r}; choose from {', '.join(LOSSES)}")
    return loss


@dataclass(frozen=True)
class Linear:
    """Fully connected layer y = x W^T + b; W is (out_features, in_features)."""
    out_features: int
    bias: bool = True  # False before a batch norm, which removes it (its gradient is 0 but for rounding)


@dataclass(frozen=True)
class Activation:
    """Element-wise activation (or softmax over the last axis)."""
    name: str
    alpha: float = 0.01  # leaky_relu's negative slope, elu's alpha; unused by the others


@dataclass(frozen=True)
class Conv2d:
    """2-D convolution on NCHW input; W is (out_channels, in_channels, k, k)."""
    out_channels: int
    kernel_size: int
    stride: int = 1
    padding: Union[int, str] = 0  # an int, or "same" (stride 1 only)
    bias: bool = True  # False before a batch norm, which removes it (its gradient is 0 but for rounding)


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


LayerSpec = Union[Linear, Activation, Conv2d, MaxPool2d, Flatten, Dropout, BatchNorm1d, BatchNorm2d, LayerNorm,
                  GroupNorm, Residual, Embedding, RNN, LSTM, GRU, TemporalAffine, LastStep]


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
        check_loss_name(self.loss)
        if self.init.scheme not in INIT_SCHEMES:
            raise ValueError(f"init: unknown {self.init.scheme!r}; choose from {', '.join(INIT_SCHEMES)}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype: unknown {self.dtype!r}; choose from {', '.join(DTYPES)}")
        if self.l2 < 0:
            raise ValueError(f"l2: must be >= 0, got {self.l2}")
        _check_activations(self.layers, "layer ")
        infer_shapes(self)  # raises on layers that do not fit

    def with_dtype(self, dtype: str) -> "ModelSpec":
        return replace(self, dtype=dtype)


def _check_activations(layers: tuple, where: str) -> None:
    for i, layer in enumerate(layers):
        if isinstance(layer, Activation) and layer.name not in ACTIVATIONS:
            raise ValueError(f"{where}{i}: unknown activation {layer.name!r}; choose from {', '.join(ACTIVATIONS)}")
        if isinstance(layer, Residual):
            _check_activations(layer.layers, f"{where}{i} branch layer ")


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
    return _chain_shapes(spec.layers, tuple(spec.input_shape), "layer ")


def _chain_shapes(layers: tuple, shape: tuple[int, ...], where: str) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    out = []
    for i, layer in enumerate(layers):
        new = output_shape(f"{where}{i}", layer, shape)
        out.append((shape, new))
        shape = new
    return out


def output_shape(i, layer: LayerSpec, shape: tuple[int, ...]) -> tuple[int, ...]:
    """One sample's output shape of `layer` for input `shape`; ValueError naming layer `i` if it does not fit."""
    if isinstance(layer, Linear):
        if len(shape) != 1:
            raise ValueError(f"{i} (linear): needs flat input, got shape {shape}; add Flatten")
        return (layer.out_features,)
    if isinstance(layer, (Conv2d, MaxPool2d)):
        kind = layer_kind(layer)
        if len(shape) != 3:
            raise ValueError(f"{i} ({kind}): needs (C, H, W) input, got shape {shape}")
        conv = isinstance(layer, Conv2d)
        pad, stride = (conv_padding(layer), layer.stride) if conv else (0, layer.stride or layer.kernel_size)
        h, w = (conv_output_size(s, layer.kernel_size, stride, pad) for s in shape[1:])
        if h < 1 or w < 1:
            raise ValueError(f"{i} ({kind}): input {shape[1:]} too small for kernel {layer.kernel_size}")
        return (layer.out_channels if conv else shape[0], h, w)
    if isinstance(layer, Flatten):
        n = 1
        for s in shape:
            n *= s
        return (n,)
    if isinstance(layer, NORM_LAYERS):
        check_norm_input(i, layer, shape)
    if isinstance(layer, Residual):
        return residual_parts(layer, shape, i)[0][-1][1]
    if isinstance(layer, SEQUENCE_LAYERS):
        return sequence_output_shape(i, layer, shape)
    return shape


def residual_parts(layer: Residual, shape: tuple[int, ...], where="residual"):
    """(per branch layer (in, out) shapes, the skip path's projection spec or None) for input `shape`."""
    shapes = _chain_shapes(layer.layers, shape, f"{where} branch layer ")
    out = shapes[-1][1]
    if out == shape:
        return shapes, None
    if len(shape) == 1 and len(out) == 1:
        return shapes, Linear(out[0])
    stride = shape[1] // out[1] if len(shape) == len(out) == 3 else 0
    if stride and (out[1] * stride, out[2] * stride) == shape[1:]:  # a 1x1 stride-s convolution maps s*n to n
        return shapes, Conv2d(out[0], 1, stride=stride)
    raise ValueError(f"{where} (residual): its branch maps {shape} to {out}, which no Linear or strided "
                     f"1x1 convolution on the skip path can match")


def named_layers(spec: ModelSpec) -> list[tuple[str, LayerSpec, tuple[int, ...]]]:
    """(state-dict prefix, layer spec, per-sample input shape) of every layer, a residual's
    branch layers ('2.branch.0') and projection ('2.proj') included, in forward order."""
    out = []
    for i, (layer, (ins, _)) in enumerate(zip(spec.layers, infer_shapes(spec))):
        out.extend(_named(str(i), layer, ins))
    return out


def _named(prefix: str, layer: LayerSpec, ins: tuple[int, ...]) -> list:
    if not isinstance(layer, Residual):
        return [(prefix, layer, ins)]
    shapes, proj = residual_parts(layer, ins)
    out = [(prefix, layer, ins)]
    for j, (sub, (sub_in, _)) in enumerate(zip(layer.layers, shapes)):
        out.extend(_named(f"{prefix}.branch.{j}", sub, sub_in))
    if proj is not None:
        out.append((f"{prefix}.proj", proj, ins))
    return out


def param_shapes(spec: ModelSpec) -> dict[str, tuple[int, ...]]:
    """State-dict keys ('0.weight', '0.bias', '2.branch.0.weight', ...) mapped to parameter shapes."""
    shapes = {}
    for prefix, layer, ins in named_layers(spec):
        if isinstance(layer, Linear):
            shapes[f"{prefix}.weight"] = (layer.out_features, ins[0])
            if layer.bias:
                shapes[f"{prefix}.bias"] = (layer.out_features,)
        elif isinstance(layer, Conv2d):
            k = layer.kernel_size
            shapes[f"{prefix}.weight"] = (layer.out_channels, ins[0], k, k)
            if layer.bias:
                shapes[f"{prefix}.bias"] = (layer.out_channels,)
        elif isinstance(layer, NORM_LAYERS) and layer.affine:
            shapes[f"{prefix}.weight"] = shapes[f"{prefix}.bias"] = norm_param_shape(layer, ins)
        else:
            shapes.update(sequence_param_shapes(prefix, layer, ins))
    return shapes


def buffer_shapes(spec: ModelSpec) -> dict[str, tuple[int, ...]]:
    """State-dict keys of the running statistics ('1.running_mean', '1.running_var',
    '1.num_batches_tracked', an integer of shape ()) mapped to their shapes."""
    shapes = {}
    for prefix, layer, ins in named_layers(spec):
        if has_running_stats(layer):
            shapes[f"{prefix}.running_mean"] = shapes[f"{prefix}.running_var"] = (ins[0],)
            shapes[f"{prefix}.num_batches_tracked"] = ()
    return shapes


def _size(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def param_count_lines(spec: ModelSpec) -> list[str]:
    """One line per parametrised layer, e.g. 'layer 0 linear: 4x3 + 4 = 16'."""
    shapes = param_shapes(spec)
    lines = []
    for prefix, layer, _ in named_layers(spec):
        own = {k[len(prefix) + 1:]: v for k, v in shapes.items() if k.startswith(f"{prefix}.") and "." not in k[len(prefix) + 1:]}
        if f"{prefix}.weight" not in shapes and own:  # a recurrent stack: weight_ih_l0, weight_hh_l0, ...
            parts = " + ".join(f"{'x'.join(map(str, v))}" for v in own.values())
            lines.append(f"layer {prefix} {layer_kind(layer)}: {parts} = {sum(_size(v) for v in own.values())}")
            continue
        if f"{prefix}.weight" not in shapes:
            continue
        w, b = shapes[f"{prefix}.weight"], shapes.get(f"{prefix}.bias")
        where = prefix.replace(".branch.", " branch ").replace(".proj", " proj")
        bias = f" + {'x'.join(map(str, b))}" if b is not None else " (no bias)"
        lines.append(f"layer {where} {layer_kind(layer)}: {'x'.join(map(str, w))}{bias} "
                     f"= {_size(w) + (_size(b) if b is not None else 0)}")
    return lines


def param_count(spec: ModelSpec) -> int:
    return sum(_size(shape) for shape in param_shapes(spec).values())


def layer_kind(layer: LayerSpec) -> str:
    """Short name for reports: 'linear', 'relu', 'conv2d', ..."""
    if isinstance(layer, Activation):
        return layer.name
    return getattr(layer, "kind", type(layer).__name__.lower())


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
