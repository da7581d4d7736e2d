"""Torch twins of a user's CNN layers, in the USER's layouts.

Each twin takes and returns tensors in the user's activation layout (NCHW or NHWC) and
holds its parameters in the user's parameter layout (conv W (F, C, kh, kw) or
[kh, kw, Cin, Cout]; fully connected W (in, out)), permuting inside forward, so the
harness compares the user's own arrays with torch's gradients key by key."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

Pads = tuple[int, int, int, int]  # top, bottom, left, right


def _to_nchw(x: torch.Tensor, layout: str) -> torch.Tensor:
    """(N, H, W, C) -> (N, C, H, W) for "nhwc"; NCHW as it is."""
    return x.permute(0, 3, 1, 2) if layout == "nhwc" else x


def _from_nchw(x: torch.Tensor, layout: str) -> torch.Tensor:
    """(N, C, H, W) -> (N, H, W, C) for "nhwc"; NCHW as it is."""
    return x.permute(0, 2, 3, 1) if layout == "nhwc" else x


def _pad(x: torch.Tensor, pads: Pads, value: float = 0.0) -> torch.Tensor:
    top, bottom, left, right = pads
    return F.pad(x, (left, right, top, bottom), value=value) if any(pads) else x


class ConvTwin(nn.Module):
    """Cross-correlation with zero padding `pads` (asymmetric allowed, as TF's 'SAME')."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray, layout: str, stride: int, pads: Pads,
                 act: nn.Module | None = None) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.tensor(np.array(weight, dtype=np.float64)))
        self.bias = nn.Parameter(torch.tensor(np.array(bias, dtype=np.float64)))
        self.layout, self.stride, self.pads = layout, stride, pads
        self.act = act  # an activation the user's layer applies itself (numpy-ml's act_fn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.permute(3, 2, 0, 1) if self.layout == "nhwc" else self.weight  # -> (F, C, kh, kw)
        x = _pad(_to_nchw(x, self.layout), self.pads)
        y = _from_nchw(F.conv2d(x, w, self.bias, stride=self.stride), self.layout)
        return y if self.act is None else self.act(y)


class PoolTwin(nn.Module):
    """Max pooling (padding never wins) or average pooling over the real inputs only
    (TF's 'SAME' average excludes the padding from the count)."""

    def __init__(self, mode: str, k: int, stride: int, layout: str, pads: Pads) -> None:
        super().__init__()
        self.mode, self.k, self.stride, self.layout, self.pads = mode, k, stride, layout, pads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _to_nchw(x, self.layout)
        if self.mode == "max":
            y = F.max_pool2d(_pad(x, self.pads, -torch.inf), self.k, self.stride)
        else:
            ones = torch.ones_like(x[:1, :1])
            count = F.avg_pool2d(_pad(ones, self.pads), self.k, self.stride)
            y = F.avg_pool2d(_pad(x, self.pads), self.k, self.stride) / count
        return _from_nchw(y, self.layout)


class FlattenTwin(nn.Module):
    """(N, ...) -> (N, D) in the user's order: output entry j is input entry perm[j]
    of the sample flattened in C order."""

    def __init__(self, perm: np.ndarray) -> None:
        super().__init__()
        self.perm = torch.as_tensor(perm, dtype=torch.long)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(len(x), -1)[:, self.perm]


class RowMajorLinearTwin(nn.Module):
    """y = x.reshape(N, -1) @ W + b with W (in, out), as CS231n's affine_forward."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.tensor(np.array(weight, dtype=np.float64)))
        self.bias = nn.Parameter(torch.tensor(np.array(bias, dtype=np.float64)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(len(x), -1) @ self.weight + self.bias


class MaskTwin(nn.Module):
    """Dropout with the user's own mask and scale: y = x * scaled_mask (training mode)."""

    def __init__(self, scaled_mask: np.ndarray) -> None:
        super().__init__()
        self.scaled_mask = torch.tensor(np.array(scaled_mask, dtype=np.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scaled_mask.to(x.dtype)
