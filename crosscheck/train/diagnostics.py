"""Gradient-flow diagnostics from either side's own gradients (unit health: nn_crosscheck_common.tags.health)."""
from __future__ import annotations

import numpy as np

from numpy_impl.spec import Linear, ModelSpec

VANISHING_GRI = 1e-2   # first hidden layer's weight gradient 100x smaller than the last's
EXPLODING_GRI = 1e2


def linear_keys(spec: ModelSpec) -> list[str]:
    """Weight keys of the Linear layers in order: hidden layers first, the output last."""
    return [f"{i}.weight" for i, layer in enumerate(spec.layers) if isinstance(layer, Linear)]


def weight_grad_norms(spec: ModelSpec, grads: dict[str, np.ndarray]) -> dict[str, float]:
    return {k: float(np.linalg.norm(grads[k])) for k in linear_keys(spec)}


def gradient_ratio_index(spec: ModelSpec, grads: dict[str, np.ndarray]) -> float:
    """GRI = ||dL/dW of the first hidden layer|| / ||dL/dW of the last hidden layer||.

    The last hidden layer is the Linear layer feeding the last hidden activation (the one
    before the output layer); with a single hidden layer the two coincide and GRI is 1."""
    keys = linear_keys(spec)
    if len(keys) < 2:
        return 1.0
    first, last = np.linalg.norm(grads[keys[0]]), np.linalg.norm(grads[keys[-2]])
    return float(first / last) if last > 0 else float("inf")


def flags(gri: float, norms: dict[str, float]) -> list[str]:
    """'vanishing' / 'exploding' when the gradient ratio or the norms say so."""
    out = []
    if not all(np.isfinite(list(norms.values()))) or gri > EXPLODING_GRI:
        out.append("exploding")
    if gri < VANISHING_GRI:
        out.append("vanishing")
    return out
