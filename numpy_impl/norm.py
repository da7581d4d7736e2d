"""Normalisation layers and the residual block: thin layers over `norm_functional`, torch's
parameter and buffer names ('weight', 'bias', 'running_mean', 'running_var',
'num_batches_tracked'). Modes as torch: in training, batch norm normalises with the batch's
statistics and updates the running ones; in eval mode it uses the running ones."""
from __future__ import annotations

import numpy as np

from . import norm_functional as NF
from . import spec as S
from .layers import Layer, Sequential

Array = np.ndarray


class _Norm(Layer):
    """Affine weight and bias (torch's start: ones, zeros) of shape `param_shape`; without
    `affine` the layer has no parameters and scales by 1, shifts by 0."""

    def __init__(self, param_shape: tuple[int, ...], eps: float, affine: bool, dtype) -> None:
        super().__init__()
        self.eps, self.affine = eps, affine
        self._fixed = (np.ones(param_shape, dtype), np.zeros(param_shape, dtype))
        if affine:
            self.params = {"weight": self._fixed[0].copy(), "bias": self._fixed[1].copy()}

    def _gamma_beta(self) -> tuple[Array, Array]:
        return (self.params["weight"], self.params["bias"]) if self.affine else self._fixed

    def _backward_with(self, backward, dy: Array) -> Array:
        dx, dgamma, dbeta = backward(dy, self._take_cache())
        if self.affine:
            self.grads["weight"], self.grads["bias"] = dgamma, dbeta
        return dx


class BatchNorm(_Norm):
    """BatchNorm1d (input (N, C) or (N, C, L)) and BatchNorm2d ((N, C, H, W))."""
    ndims = (2, 3)
    shape_text = "(N, {c}) or (N, {c}, L)"

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, dtype=np.float64) -> None:
        super().__init__((num_features,), eps, affine, dtype)
        self.momentum, self.track_running_stats = momentum, track_running_stats
        if track_running_stats:
            self.buffers = {"running_mean": np.zeros(num_features, dtype),
                            "running_var": np.ones(num_features, dtype),
                            "num_batches_tracked": np.zeros((), np.int64)}

    def forward(self, x: Array) -> Array:
        c = self._fixed[0].shape[0]
        if x.ndim not in self.ndims or x.shape[1] != c:
            raise ValueError(f"{self.name}: expected input {self.shape_text.format(c=c)}, got shape {x.shape}")
        gamma, beta = self._gamma_beta()
        if self.training or not self.track_running_stats:
            y, self._cache = NF.batchnorm_forward(x, gamma, beta, self.eps)
            if self.training and self.track_running_stats:
                self._update_running(self._cache)
            return y
        running = (self.buffers["running_mean"], self.buffers["running_var"])
        y, self._cache = NF.batchnorm_forward(x, gamma, beta, self.eps, running)
        return y

    def _update_running(self, cache: tuple) -> None:
        mean, var, n = NF.batch_statistics(cache)
        if n < 2:
            raise ValueError(f"{self.name}: expected more than 1 value per channel when training, got {n}")
        b = self.buffers
        b["num_batches_tracked"] += 1  # in place, as torch updates its buffers
        m = 1.0 / int(b["num_batches_tracked"]) if self.momentum is None else self.momentum
        new_mean, new_var = NF.running_update(b["running_mean"], b["running_var"], mean, var, n, m)
        np.copyto(b["running_mean"], new_mean)
        np.copyto(b["running_var"], new_var)

    def backward(self, dy: Array) -> Array:
        return self._backward_with(NF.batchnorm_backward, dy)

    def describe(self) -> str:
        return f"{self.kind}({self._fixed[0].shape[0]})"


class BatchNorm1d(BatchNorm):
    kind = "batchnorm1d"


class BatchNorm2d(BatchNorm):
    kind = "batchnorm2d"
    ndims = (4,)
    shape_text = "(N, {c}, H, W)"


class LayerNorm(_Norm):
    """Normalises each sample over its whole shape `normalized_shape` (torch's LayerNorm)."""
    kind = "layernorm"

    def __init__(self, normalized_shape: tuple[int, ...], eps: float = 1e-5, affine: bool = True,
                 dtype=np.float64) -> None:
        super().__init__(tuple(normalized_shape), eps, affine, dtype)

    def forward(self, x: Array) -> Array:
        shape = self._fixed[0].shape
        if x.shape[1:] != shape:
            raise ValueError(f"{self.name}: expected input (N, {', '.join(map(str, shape))}), got shape {x.shape}")
        y, self._cache = NF.layernorm_forward(x, *self._gamma_beta(), self.eps)
        return y

    def backward(self, dy: Array) -> Array:
        return self._backward_with(NF.layernorm_backward, dy)

    def describe(self) -> str:
        return f"layernorm({'x'.join(map(str, self._fixed[0].shape))})"


class GroupNorm(_Norm):
    kind = "groupnorm"

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 dtype=np.float64) -> None:
        if num_channels % num_groups:
            raise ValueError(f"groupnorm: {num_channels} channels do not split into {num_groups} groups")
        super().__init__((num_channels,), eps, affine, dtype)
        self.num_groups = num_groups

    def forward(self, x: Array) -> Array:
        c = self._fixed[0].shape[0]
        if x.ndim < 2 or x.shape[1] != c:
            raise ValueError(f"{self.name}: expected input (N, {c}, ...), got shape {x.shape}")
        y, self._cache = NF.groupnorm_forward(x, *self._gamma_beta(), self.num_groups, self.eps)
        return y

    def backward(self, dy: Array) -> Array:
        return self._backward_with(NF.groupnorm_backward, dy)

    def describe(self) -> str:
        return f"groupnorm({self.num_groups}, {self._fixed[0].shape[0]})"


class Residual(Layer):
    """y = f(x) + skip(x): f the branch's layers in order, skip the identity or a projection
    layer. Parameters, gradients and buffers are the sub-layers', keyed 'branch.<j>.<name>' and
    'proj.<name>' like torch's; training mode reaches every sub-layer."""
    kind = "residual"

    def __init__(self, branch: list[Layer], proj: Layer | None = None) -> None:
        self.branch, self.proj = Sequential(branch), proj
        super().__init__()

    def _parts(self) -> list[tuple[str, Layer]]:
        parts = [(f"branch.{j}", layer) for j, layer in enumerate(self.branch.layers)]
        return parts + ([("proj", self.proj)] if self.proj is not None else [])

    def _collect(self, what: str) -> dict[str, Array]:
        return {f"{p}.{k}": v for p, layer in self._parts() for k, v in getattr(layer, what, {}).items()}

    @property
    def params(self) -> dict[str, Array]:
        """The sub-layers' very arrays (finite differences perturb them in place)."""
        return self._collect("params")

    @params.setter
    def params(self, value: dict) -> None:
        for key, v in value.items():
            self.load_tensor(key, v)

    @property
    def buffers(self) -> dict[str, Array]:
        return self._collect("buffers")

    @buffers.setter
    def buffers(self, value: dict) -> None:
        for key, v in value.items():
            self.load_tensor(key, v)

    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        """Set by Sequential; the sub-layers' errors then say 'layer 2 (residual) branch 0 (linear)'."""
        self._name = value
        for where, layer in self._parts():
            layer.name = f"{value} {where.replace('.', ' ')} ({layer.kind})"

    @property
    def training(self) -> bool:
        return self.branch.layers[0].training

    @training.setter
    def training(self, mode: bool) -> None:
        self.branch.train(mode)
        if self.proj is not None:
            self.proj.training = mode

    def load_tensor(self, name: str, value: Array) -> None:
        if name.startswith("proj."):
            return self.proj.load_tensor(name[len("proj."):], value)
        _, j, rest = name.split(".", 2)  # 'branch.<j>.<rest>'
        self.branch.layers[int(j)].load_tensor(rest, value)

    def forward(self, x: Array) -> Array:
        h = self.branch.forward(x)
        skip = x if self.proj is None else self.proj.forward(x)
        self._cache = True
        return h + skip

    def backward(self, dy: Array) -> Array:
        self._take_cache()
        d_branch = self.branch.backward(dy)
        d_skip = dy if self.proj is None else self.proj.backward(dy)
        self.grads = self._collect("grads")
        return d_branch + d_skip

    def kink_state(self) -> Array | None:
        state = self.branch.kink_state()
        return state if state.size else None

    def describe(self) -> str:
        inner = ", ".join(layer.describe() for layer in self.branch.layers)
        return f"residual({inner}{' + proj ' + self.proj.describe() if self.proj is not None else ''})"


def build_layer(layer: S.LayerSpec, in_shape: tuple[int, ...], dtype, build_one) -> Layer:
    """The NumPy layer of a norm or residual spec; `build_one(spec, in_shape, dtype)` builds any
    layer (a residual's branch and projection)."""
    if isinstance(layer, (S.BatchNorm1d, S.BatchNorm2d)):
        cls = BatchNorm1d if isinstance(layer, S.BatchNorm1d) else BatchNorm2d
        return cls(in_shape[0], layer.eps, layer.momentum, layer.affine, layer.track_running_stats, dtype)
    if isinstance(layer, S.LayerNorm):
        return LayerNorm(in_shape, layer.eps, layer.affine, dtype)
    if isinstance(layer, S.GroupNorm):
        return GroupNorm(layer.num_groups, in_shape[0], layer.eps, layer.affine, dtype)
    if isinstance(layer, S.Residual):
        shapes, proj = S.residual_parts(layer, in_shape)
        branch = [build_one(sub, ins, dtype) for sub, (ins, _) in zip(layer.layers, shapes)]
        return Residual(branch, None if proj is None else build_one(proj, in_shape, dtype))
    raise TypeError(f"no NumPy layer for spec {layer!r}")
