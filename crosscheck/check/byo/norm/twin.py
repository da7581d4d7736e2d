"""The torch twin of a user's normalisation layer, in the user's conventions: its activation
layout (NCHW or NHWC), its momentum convention and running variance (biased or unbiased),
with torch's parameter and buffer names ('weight', 'bias', 'running_mean', 'running_var')."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class NormTwin(nn.Module):
    """kind: batchnorm1d, batchnorm2d, layernorm or groupnorm; shape: gamma's shape as the
    adapter keys it ((C,), or the per-sample shape for a layer norm); weight: the batch's weight
    in the running update; unbiased: the running variance from the unbiased batch variance."""

    def __init__(self, kind: str, shape: tuple, eps: float, weight: float = 0.1, unbiased: bool = True,
                 groups: int = 1, layout: str = "nchw", running: bool = False) -> None:
        super().__init__()
        self.kind, self.eps, self.m, self.unbiased, self.groups, self.layout = kind, eps, weight, unbiased, groups, layout
        self.weight = nn.Parameter(torch.ones(shape, dtype=torch.float64))
        self.bias = nn.Parameter(torch.zeros(shape, dtype=torch.float64))
        self.running = running
        if running:
            self.register_buffer("running_mean", torch.zeros(shape, dtype=torch.float64))
            self.register_buffer("running_var", torch.ones(shape, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels_last = self.layout == "nhwc" and x.ndim > 2
        if channels_last:
            x = x.movedim(-1, 1)
        y = self._normalise(x)
        return y.movedim(1, -1) if channels_last else y

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "layernorm":
            return F.layer_norm(x, tuple(self.weight.shape), self.weight, self.bias, self.eps)
        if self.kind == "groupnorm":
            return F.group_norm(x, self.groups, self.weight, self.bias, self.eps)
        if self.training or not self.running:
            if self.training and self.running:
                self._update(x.detach())
            return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)

    def _update(self, x: torch.Tensor) -> None:
        """running = (1 - m) running + m batch, the variance biased or unbiased as the user keeps it."""
        axes = (0,) + tuple(range(2, x.ndim))
        mean, var = x.mean(dim=axes), x.var(dim=axes, unbiased=self.unbiased)
        with torch.no_grad():
            self.running_mean.mul_(1 - self.m).add_(self.m * mean.to(self.running_mean.dtype))
            self.running_var.mul_(1 - self.m).add_(self.m * var.to(self.running_var.dtype))
