"""Seeded initialisers. They fill a state dict keyed like torch's ('0.weight'), so the
same numbers go into the NumPy model and, by transfer, into the torch model."""
from __future__ import annotations

import numpy as np

from .spec import Init, ModelSpec, param_shapes


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def truncated_normal(rng: np.random.Generator, shape, std: float) -> np.ndarray:
    """N(0, std) redrawn outside +-2 std (TensorFlow's truncated_normal)."""
    out = rng.normal(0.0, std, size=shape)
    bad = np.abs(out) > 2 * std
    while bad.any():  # each round redraws ~5% of what is left, so this ends in a few rounds
        out[bad] = rng.normal(0.0, std, size=int(bad.sum()))
        bad = np.abs(out) > 2 * std
    return out


def init_weight(init: Init, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    fan_in, fan_out = _fans(shape)
    if init.scheme == "uniform":
        return rng.uniform(-init.a, init.a, size=shape)
    if init.scheme == "constant":
        return np.full(shape, init.value)
    if init.scheme == "truncnormal":
        return truncated_normal(rng, shape, init.std)
    if init.scheme == "xavier":
        bound = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-bound, bound, size=shape)
    if init.scheme == "torch":  # kaiming_uniform(a=sqrt(5)) reduces to U(-1/sqrt(fan_in), ..)
        bound = 1.0 / np.sqrt(fan_in)
        return rng.uniform(-bound, bound, size=shape)
    raise ValueError(f"init: unknown scheme {init.scheme!r}")


def init_bias(init: Init, shape: tuple[int, ...], weight_shape: tuple[int, ...],
              rng: np.random.Generator) -> np.ndarray:
    if init.scheme == "torch":
        bound = 1.0 / np.sqrt(_fans(weight_shape)[0])
        return rng.uniform(-bound, bound, size=shape)
    if init.scheme in ("constant", "truncnormal"):
        return np.full(shape, init.bias)
    return np.zeros(shape)  # uniform and xavier: zero biases, as the studies use


def init_state(spec: ModelSpec, seed: int = 0) -> dict[str, np.ndarray]:
    """Fresh float64 parameters for `spec`, reproducible from `seed`."""
    rng = np.random.default_rng(seed)
    shapes = param_shapes(spec)
    state = {}
    for key, shape in shapes.items():
        if key.endswith(".weight"):
            state[key] = init_weight(spec.init, shape, rng)
            bias_key = key[: -len("weight")] + "bias"
            state[bias_key] = init_bias(spec.init, shapes[bias_key], shape, rng)
    return state
