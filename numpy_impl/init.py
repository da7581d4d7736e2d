"""Seeded initialisers. They fill a state dict keyed like torch's ('0.weight'), so the
same numbers go into the NumPy model and, by transfer, into the torch model."""
from __future__ import annotations

import numpy as np

from .spec import (NORM_LAYERS, SEQUENCE_LAYERS, Conv2d, Embedding, Init, Linear, ModelSpec, buffer_shapes, named_layers,
                   param_shapes)


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
    """Fresh float64 parameters for `spec`, reproducible from `seed`, and the running statistics
    of its norm layers as torch starts them (mean 0, var 1, num_batches_tracked 0, an int64)."""
    rng = np.random.default_rng(seed)
    shapes = param_shapes(spec)
    state = {}
    for prefix, layer, _ in named_layers(spec):
        weight, bias = f"{prefix}.weight", f"{prefix}.bias"
        if isinstance(layer, (Linear, Conv2d)):
            state[weight] = init_weight(spec.init, shapes[weight], rng)
            if bias in shapes:
                state[bias] = init_bias(spec.init, shapes[bias], shapes[weight], rng)
        elif isinstance(layer, NORM_LAYERS) and weight in shapes:  # torch: the identity, whatever the scheme
            state[weight], state[bias] = np.ones(shapes[weight]), np.zeros(shapes[bias])
        elif isinstance(layer, SEQUENCE_LAYERS):
            state.update(_init_sequence(spec.init, prefix, layer, shapes, rng))
    for key, shape in buffer_shapes(spec).items():
        state[key] = _fresh_buffer(key, shape)
    return state


def _init_sequence(init: Init, prefix: str, layer, shapes: dict, rng: np.random.Generator) -> dict:
    """A sequence layer's tensors, in torch's key order. torch's scheme: an embedding N(0, 1);
    every recurrent weight and bias U(-1/sqrt(H), 1/sqrt(H)); a temporal affine like a Linear."""
    keys = [k for k in shapes if k.startswith(f"{prefix}.") and k.count(".") == prefix.count(".") + 1]
    out = {}
    for key in keys:
        shape = shapes[key]
        if init.scheme == "torch" and isinstance(layer, Embedding):
            out[key] = rng.standard_normal(shape)
        elif init.scheme == "torch" and "_l" in key:  # a recurrent layer's weight_ih_l0, bias_hh_l1, ...
            bound = 1.0 / np.sqrt(shape[0] // layer.gates)
            out[key] = rng.uniform(-bound, bound, size=shape)
        elif key.rpartition(".")[2].startswith("bias"):  # a temporal affine's bias, or bias_ih_l0 without torch's scheme
            out[key] = init_bias(init, shape, shapes[key.replace("bias", "weight")], rng)
        else:
            out[key] = init_weight(init, shape, rng)
    return out


def _fresh_buffer(key: str, shape: tuple[int, ...]) -> np.ndarray:
    if key.endswith("num_batches_tracked"):
        return np.zeros(shape, np.int64)
    return np.ones(shape) if key.endswith("running_var") else np.zeros(shape)


def exercise_norm_state(spec: ModelSpec, state: dict[str, np.ndarray], seed: int = 0) -> dict[str, np.ndarray]:
    """`state` with the norm layers moved off torch's start (weight 1, bias 0, running mean 0,
    var 1), under which a forward that drops gamma, beta or the running statistics shows nothing:
    weight U(0.5, 1.5), bias and running mean U(-0.5, 0.5), running var U(0.5, 2), 3 batches
    tracked. Drawn from their own stream, so every other parameter stays init_state's."""
    rng = np.random.default_rng([seed, 20])
    out = dict(state)
    draws = {"weight": (0.5, 1.5), "bias": (-0.5, 0.5), "running_mean": (-0.5, 0.5), "running_var": (0.5, 2.0)}
    for prefix, layer, _ in named_layers(spec):
        if not isinstance(layer, NORM_LAYERS):
            continue
        for name, (lo, hi) in draws.items():
            if f"{prefix}.{name}" in out:
                out[f"{prefix}.{name}"] = rng.uniform(lo, hi, size=np.shape(out[f"{prefix}.{name}"]))
        if f"{prefix}.num_batches_tracked" in out:
            out[f"{prefix}.num_batches_tracked"] = np.array(3, np.int64)
    return out
