"""Gradient-flow diagnostics, computed from either side's own gradients and activations."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from numpy_impl.spec import Activation, Linear, ModelSpec

VANISHING_GRI = 1e-2   # first hidden layer's weight gradient 100x smaller than the last's
EXPLODING_GRI = 1e2
SATURATION = 0.99      # sigmoid below 1% or above 99%, tanh beyond +-0.99


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


@dataclass
class UnitHealth:
    layer: str
    dead: float       # fraction of ReLU units that output 0 for every sample
    saturated: float  # fraction of sigmoid/tanh units saturated for every sample


def unit_health(spec: ModelSpec, activations: list[np.ndarray]) -> list[UnitHealth]:
    """Per hidden activation layer, the share of dead or saturated units over a batch."""
    out = []
    for i, layer in enumerate(spec.layers):
        if not isinstance(layer, Activation):
            continue
        a = activations[i].reshape(len(activations[i]), -1)
        dead = float(np.mean(np.all(a <= 0, axis=0))) if layer.name == "relu" else 0.0
        if layer.name == "sigmoid":
            sat = float(np.mean(np.all((a < 1 - SATURATION) | (a > SATURATION), axis=0)))
        elif layer.name == "tanh":
            sat = float(np.mean(np.all(np.abs(a) > SATURATION, axis=0)))
        else:
            sat = 0.0
        out.append(UnitHealth(f"{i}:{layer.name}", dead, sat))
    return out


def flags(gri: float, norms: dict[str, float]) -> list[str]:
    """'vanishing' / 'exploding' when the gradient ratio or the norms say so."""
    out = []
    if not all(np.isfinite(list(norms.values()))) or gri > EXPLODING_GRI:
        out.append("exploding")
    if gri < VANISHING_GRI:
        out.append("vanishing")
    return out
