"""Build the same ModelSpec as torch.nn modules, and move parameters between the sides."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from numpy_impl import spec as S
from numpy_impl.init import init_state

TORCH_DTYPES = {"float64": torch.float64, "float32": torch.float32}
SOFTPLUS_EXACT_THRESHOLD = 40.0


def activation_module(name: str, alpha: float = 0.01) -> nn.Module:
    modules = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "identity": nn.Identity}
    if name == "softplus":
        # torch returns x itself above `threshold` (default 20), off by up to e^-20 ~ 2e-9;
        # above 40, x + log1p(e^-x) rounds to x in float64, so threshold 40 is exact.
        return nn.Softplus(beta=1.0, threshold=SOFTPLUS_EXACT_THRESHOLD)
    if name == "leaky_relu":
        return nn.LeakyReLU(alpha)
    if name == "elu":
        return nn.ELU(alpha)
    if name == "softmax":
        return nn.Softmax(dim=-1)
    return modules[name]()


def build_layer(layer: S.LayerSpec, in_shape: tuple[int, ...]) -> nn.Module:
    if isinstance(layer, S.Linear):
        return nn.Linear(in_shape[0], layer.out_features, bias=layer.bias)
    if isinstance(layer, S.Activation):
        return activation_module(layer.name, layer.alpha)
    if isinstance(layer, S.Conv2d):
        return nn.Conv2d(in_shape[0], layer.out_channels, layer.kernel_size,
                         stride=layer.stride, padding=S.conv_padding(layer), bias=layer.bias)
    if isinstance(layer, S.MaxPool2d):
        return nn.MaxPool2d(layer.kernel_size, layer.stride)
    if isinstance(layer, S.Flatten):
        return nn.Flatten()
    if isinstance(layer, S.Dropout):
        return nn.Dropout(layer.p)
    if isinstance(layer, S.SEQUENCE_LAYERS):
        from . import recurrent
        return recurrent.build_layer(layer, in_shape)
    if isinstance(layer, (*S.NORM_LAYERS, S.Residual)):
        from . import norm
        return norm.build_layer(layer, in_shape, build_layer)
    raise TypeError(f"no torch module for layer spec {layer!r}")


def build(spec: S.ModelSpec, seed: int | None = 0) -> nn.Sequential:
    """nn.Sequential for `spec` in spec.dtype; with a seed, the very numbers numpy_impl.build uses."""
    shapes = S.infer_shapes(spec)
    model = nn.Sequential(*[build_layer(layer, ins) for layer, (ins, _) in zip(spec.layers, shapes)])
    model = model.to(TORCH_DTYPES[spec.dtype])
    if seed is not None:
        load_numpy_state(model, init_state(spec, seed))
    return model


def load_numpy_state(model: nn.Module, state: dict[str, np.ndarray]) -> None:
    """Copy NumPy arrays into the module's parameters and buffers (running statistics) by key,
    keeping each tensor's dtype (num_batches_tracked stays an integer)."""
    own = model.state_dict()
    missing, extra = own.keys() - state.keys(), state.keys() - own.keys()
    if missing or extra:
        raise ValueError(f"state dict: missing keys {sorted(missing)}, unexpected keys {sorted(extra)}")
    with torch.no_grad():
        for key, value in state.items():
            target = own[key]
            if tuple(np.shape(value)) != tuple(target.shape):
                raise ValueError(f"state dict: {key} has shape {np.shape(value)}, model expects {tuple(target.shape)}")
            target.copy_(torch.as_tensor(np.asarray(value)).to(target.dtype))


def numpy_buffers(model: nn.Module) -> dict[str, np.ndarray]:
    """The module's persistent buffers only (running statistics), as NumPy copies keyed like its state dict."""
    params = dict(model.named_parameters())
    return {k: v for k, v in numpy_state(model).items() if k not in params}


def load_numpy_buffers(model: nn.Module, buffers: dict[str, np.ndarray]) -> None:
    """Put saved buffers (numpy_buffers' keys) back, in place and in each buffer's dtype."""
    own = model.state_dict()
    with torch.no_grad():
        for key, value in buffers.items():
            own[key].copy_(torch.as_tensor(np.asarray(value)).to(own[key].dtype))


def numpy_state(model: nn.Module) -> dict[str, np.ndarray]:
    """The module's parameters and buffers as NumPy arrays (copies), keyed like its state dict."""
    return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}


class LinearAct(nn.Module):
    """Linear then activation as one module, for models whose layers fuse the two
    (column-major user code); parameters keep torch's names 'weight' and 'bias'."""

    def __init__(self, in_features: int, out_features: int, activation: str, alpha: float = 0.01) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        self.weight, self.bias = self.linear.weight, self.linear.bias
        del self.linear  # keep the parameters at the top level: keys 'weight', 'bias'
        self.act = activation_module(activation, alpha)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(torch.nn.functional.linear(x, self.weight, self.bias))


class FixedMaskDropout(nn.Module):
    """Dropout with a given keep-mask (True keeps), scaled by 1/(1-p) like nn.Dropout, so
    that two implementations can drop exactly the same units. Identity in eval mode."""

    def __init__(self, p: float, mask: np.ndarray) -> None:
        super().__init__()
        self.p = p
        self.register_buffer("mask", torch.as_tensor(np.asarray(mask, dtype=bool)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if tuple(self.mask.shape) != tuple(x.shape):
            raise ValueError(f"dropout: mask shape {tuple(self.mask.shape)} does not match input {tuple(x.shape)}")
        return x * self.mask.to(x.dtype) / (1 - self.p)


def set_dropout_masks(model: nn.Sequential, masks: dict[int, np.ndarray]) -> None:
    """Replace the Dropout at each index with one that uses the given mask."""
    for i, mask in masks.items():
        p = model[i].p
        model[i] = FixedMaskDropout(p, mask)
