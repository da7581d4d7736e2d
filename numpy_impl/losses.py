"""Loss objects: forward(pred, target) -> float, backward() -> dL/dpred; plus the L2 penalty."""
from __future__ import annotations

import numpy as np

from . import functional as F
from .spec import check_loss_name


class Loss:
    """One of mse, half_sse, bce, softmax_ce; averaged over the batch."""

    def __init__(self, name: str) -> None:
        self.name = check_loss_name(name)
        self._grad = None

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        check_target(self.name, pred, target)
        value, self._grad = F.LOSS_FUNCS[self.name](pred, target)
        return value

    __call__ = forward

    def backward(self) -> np.ndarray:
        if self._grad is None:
            raise RuntimeError(f"loss {self.name}: backward called before forward")
        return self._grad


def check_target(loss: str, pred: np.ndarray, target: np.ndarray) -> None:
    """Raise ValueError naming `loss` when it is unknown, `target` when it does not fit it."""
    check_loss_name(loss)
    if loss in F.LABEL_LOSSES:
        lead, low = (pred.shape[:2], F.MASKED) if loss == "temporal_ce" else (pred.shape[:1], 0)
        if target.shape != lead:
            raise ValueError(f"target: {loss} needs labels of shape {lead}, got {target.shape}")
        if not np.issubdtype(target.dtype, np.integer):
            raise ValueError(f"target: {loss} needs integer class labels, got dtype {target.dtype}")
        if target.size and (target.min() < low or target.max() >= pred.shape[-1]):
            raise ValueError(f"target: labels must lie in [{low}, {pred.shape[-1]}), "
                             f"got range [{target.min()}, {target.max()}]")
        return
    if target.shape != pred.shape:
        raise ValueError(f"target: {loss} needs shape {pred.shape} like the model output, got {target.shape}")
    if not np.all(np.isfinite(target)):
        raise ValueError("target: contains NaN or Inf")
    if loss == "bce" and (target.min() < 0 or target.max() > 1):
        raise ValueError(f"target: bce needs targets in [0, 1], got range [{target.min()}, {target.max()}]")
    if loss == "bce" and (pred.min() < 0 or pred.max() > 1):
        raise ValueError("pred: bce needs probabilities in [0, 1]; end the model with a sigmoid")


def l2_penalty(state: dict[str, np.ndarray], l2: float) -> tuple[float, dict[str, np.ndarray]]:
    """l2/2 * sum ||W||^2 over weights (not biases) and its gradient, keyed like `state`."""
    if not l2:
        return 0.0, {}
    weights = {k: v for k, v in state.items() if k.endswith("weight")}
    value = 0.5 * l2 * sum(float(np.sum(w * w)) for w in weights.values())
    return value, {k: l2 * w for k, w in weights.items()}


def total_loss_and_grads(model, loss: str, l2: float, x: np.ndarray, target: np.ndarray,
                         input_grad: bool = True) -> tuple[float, dict[str, np.ndarray]]:
    """Loss (data term + L2 penalty) of a Sequential on (x, target), with the gradient of
    every parameter keyed like its state dict, and of the input as 'input' if input_grad."""
    pred = model.forward(x)
    value, dpred = F.LOSS_FUNCS[loss](pred, target)
    dx = model.backward(dpred.astype(pred.dtype, copy=False), input_grad=input_grad)  # float64 targets
    penalty, dpen = l2_penalty(model.state_dict(), l2)
    grads = {k: g + dpen[k] if k in dpen else g for k, g in model.grad_dict().items()}
    if input_grad:
        grads["input"] = dx
    return value + penalty, grads
