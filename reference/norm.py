"""torch twins of numpy_impl.norm: the normalisation modules from their specs, and a residual
block whose parameters and buffers are keyed like the NumPy side's ('branch.0.weight', 'proj.weight')."""
from __future__ import annotations

import torch
from torch import nn

from numpy_impl import spec as S


class Residual(nn.Module):
    """branch(x) + x, or branch(x) + proj(x) where the branch changes the shape."""

    def __init__(self, branch: nn.Sequential, proj: nn.Module | None = None) -> None:
        super().__init__()
        self.branch, self.proj = branch, proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.branch(x) + (x if self.proj is None else self.proj(x))


def build_layer(layer: S.LayerSpec, in_shape: tuple[int, ...], build_one) -> nn.Module:
    """The torch module of a norm or residual spec; `build_one(spec, in_shape)` builds any layer."""
    if isinstance(layer, (S.BatchNorm1d, S.BatchNorm2d)):
        cls = nn.BatchNorm1d if isinstance(layer, S.BatchNorm1d) else nn.BatchNorm2d
        return cls(in_shape[0], eps=layer.eps, momentum=layer.momentum, affine=layer.affine,
                   track_running_stats=layer.track_running_stats)
    if isinstance(layer, S.LayerNorm):
        return nn.LayerNorm(in_shape, eps=layer.eps, elementwise_affine=layer.affine)
    if isinstance(layer, S.GroupNorm):
        return nn.GroupNorm(layer.num_groups, in_shape[0], eps=layer.eps, affine=layer.affine)
    if isinstance(layer, S.Residual):
        shapes, proj = S.residual_parts(layer, in_shape)
        branch = nn.Sequential(*[build_one(sub, ins) for sub, (ins, _) in zip(layer.layers, shapes)])
        return Residual(branch, None if proj is None else build_one(proj, in_shape))
    raise TypeError(f"no torch module for layer spec {layer!r}")
