"""The spec's losses in torch, averaged over the batch like numpy_impl's."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def loss_value(name: str, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if name == "mse":
        return F.mse_loss(pred, target)
    if name == "half_sse":
        return 0.5 * ((target - pred) ** 2).sum() / pred.shape[0]
    if name == "bce":
        return F.binary_cross_entropy(pred, target)
    if name == "softmax_ce":
        return F.cross_entropy(pred, target)
    if name == "temporal_ce":  # summed over unmasked steps (label -1), averaged over the batch
        flat = F.cross_entropy(pred.reshape(-1, pred.shape[-1]), target.reshape(-1), ignore_index=-1, reduction="sum")
        return flat / pred.shape[0]
    if name == "nll":  # cross-entropy on probabilities (a network ending in its own softmax)
        return F.nll_loss(torch.log(pred), target)
    raise ValueError(f"loss: unknown {name!r}")


def l2_penalty(model: nn.Module, l2: float) -> torch.Tensor:
    """l2/2 * sum ||W||^2 over parameters named *weight."""
    weights = [p for n, p in model.named_parameters() if n.endswith("weight")]
    return 0.5 * l2 * sum((w * w).sum() for w in weights)


def total_loss(name: str, l2: float, model: nn.Module, pred: torch.Tensor,
               target: torch.Tensor) -> torch.Tensor:
    loss = loss_value(name, pred, target)
    return loss + l2_penalty(model, l2) if l2 else loss
