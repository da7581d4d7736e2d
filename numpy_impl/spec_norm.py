"""Spec records of the normalisation layers and the residual block (torch's fields and
defaults), and the shape rules that are theirs alone. `spec` includes them in `LayerSpec`."""
from __future__ import annotations

from dataclasses import dataclass


def _check_norm(eps: float, affine: bool) -> None:
    if not eps > 0:
        raise ValueError(f"eps: must be > 0, got {eps}")
    if not isinstance(affine, bool):
        raise ValueError(f"affine: must be True or False, got {affine!r}")


@dataclass(frozen=True)
class _BatchNorm:
    """Batch normalisation over every axis but the channel axis 1.

    momentum: torch's convention, running = (1 - momentum) * running + momentum * batch
    (None: the cumulative average, momentum 1 / num_batches_tracked). The normalisation uses
    the biased batch variance, the running variance the unbiased one, like torch."""
    eps: float = 1e-5
    momentum: float | None = 0.1
    affine: bool = True
    track_running_stats: bool = True

    def __post_init__(self) -> None:
        _check_norm(self.eps, self.affine)
        if self.momentum is not None and not 0 <= self.momentum <= 1:
            raise ValueError(f"momentum: must lie in [0, 1] or be None, got {self.momentum}")


@dataclass(frozen=True)
class BatchNorm1d(_BatchNorm):
    """BatchNorm on (N, C) or (N, C, L) input; weight, bias and running statistics (C,)."""


@dataclass(frozen=True)
class BatchNorm2d(_BatchNorm):
    """Spatial BatchNorm on (N, C, H, W): statistics per channel over N, H and W."""


@dataclass(frozen=True)
class LayerNorm:
    """Normalisation of each sample over its whole feature shape (torch's normalized_shape is
    the per-sample shape); weight and bias have that shape. No running statistics."""
    eps: float = 1e-5
    affine: bool = True  # torch's elementwise_affine

    def __post_init__(self) -> None:
        _check_norm(self.eps, self.affine)


@dataclass(frozen=True)
class GroupNorm:
    """Each sample's C channels in num_groups groups of C / num_groups, each group normalised
    over its channels and spatial positions; weight and bias (C,). No running statistics."""
    num_groups: int
    eps: float = 1e-5
    affine: bool = True

    def __post_init__(self) -> None:
        _check_norm(self.eps, self.affine)
        if not isinstance(self.num_groups, int) or self.num_groups < 1:
            raise ValueError(f"num_groups: must be an integer >= 1, got {self.num_groups!r}")


@dataclass(frozen=True)
class Residual:
    """x + f(x), f the layers in order. Where f changes the shape, the skip path is a
    projection: Linear(out) for flat samples, a 1x1 Conv2d (strided to match) for images;
    its parameters are keyed 'proj.weight', the branch's 'branch.<j>.<name>', like torch's."""
    layers: tuple

    def __post_init__(self) -> None:
        if not self.layers:
            raise ValueError("residual: needs at least one layer in its branch")


NORM_LAYERS = (BatchNorm1d, BatchNorm2d, LayerNorm, GroupNorm)


def norm_param_shape(layer, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Shape of a norm layer's weight and bias for per-sample input `shape` (C is shape[0])."""
    return tuple(shape) if isinstance(layer, LayerNorm) else (shape[0],)


def check_norm_input(i: str, layer, shape: tuple[int, ...]) -> None:
    """ValueError naming layer `i` ('layer 3') when a norm layer cannot take per-sample input `shape`."""
    kind = type(layer).__name__.lower()
    if isinstance(layer, BatchNorm1d) and len(shape) not in (1, 2):
        raise ValueError(f"{i} ({kind}): needs (C,) or (C, L) input, got shape {shape}")
    if isinstance(layer, BatchNorm2d) and len(shape) != 3:
        raise ValueError(f"{i} ({kind}): needs (C, H, W) input, got shape {shape}")
    if isinstance(layer, GroupNorm) and (not shape or shape[0] % layer.num_groups):
        raise ValueError(f"{i} ({kind}): {shape[0] if shape else 0} channels do not split into "
                         f"{layer.num_groups} groups")


def has_running_stats(layer) -> bool:
    """Whether the layer keeps running_mean, running_var and num_batches_tracked."""
    return isinstance(layer, _BatchNorm) and layer.track_running_stats
