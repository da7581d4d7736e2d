"""Pure forward/backward functions of the normalisation layers, torch's conventions: the
biased variance inside the square root with eps (1 / sqrt(var + eps)), and the full backward,
in which the batch mean and variance depend on x. Each `*_forward` returns (y, cache), each
`*_backward` takes dy and that cache. The running statistics are updated by `running_update`."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Array = np.ndarray


@dataclass(frozen=True)
class NormCache:
    """What a normalisation's backward needs, and what a slip finder can form candidates from.

    xhat: the normalised input, in the shape statistics were taken in; inv_std: 1 / sqrt(var +
    eps), broadcastable to xhat; mean, var: the statistics used (biased variance); axes: the
    axes they were taken over; from_batch: True when they are the input's own (they then depend
    on x in the backward), False when given (running statistics in eval mode: constants)."""
    xhat: Array
    inv_std: Array
    mean: Array
    var: Array
    axes: tuple[int, ...]
    from_batch: bool


def normalize_forward(x: Array, axes: tuple[int, ...], eps: float, mean: Array | None = None,
                      var: Array | None = None) -> tuple[Array, NormCache]:
    """(x - mean) / sqrt(var + eps), the statistics over `axes` (biased variance) unless given
    (broadcastable to x); xhat has x's shape."""
    from_batch = mean is None
    if from_batch:
        mean = x.mean(axis=axes, keepdims=True)
        centred = x - mean
        var = (centred * centred).mean(axis=axes, keepdims=True)
    else:
        centred = x - mean
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = centred * inv_std
    return xhat, NormCache(xhat, inv_std, mean, var, axes, from_batch)


def normalize_backward(dxhat: Array, cache: NormCache) -> Array:
    """dL/dx from dL/dxhat: with batch statistics the full backward (the mean and variance move
    with x), inv_std (dxhat - mean(dxhat) - xhat mean(dxhat xhat)); with given ones, inv_std dxhat."""
    if not cache.from_batch:
        return dxhat * cache.inv_std
    axes, xhat = cache.axes, cache.xhat
    return cache.inv_std * (dxhat - dxhat.mean(axis=axes, keepdims=True)
                            - xhat * (dxhat * xhat).mean(axis=axes, keepdims=True))


def _affine_backward(dy: Array, xhat: Array, gamma_b: Array) -> tuple[Array, Array, Array]:
    """dL/dxhat, dgamma and dbeta of y = gamma_b * xhat + beta_b, summed over the axes gamma_b
    broadcasts along (gamma_b has x's ndim with size-1 axes there)."""
    axes = tuple(k for k, n in enumerate(gamma_b.shape) if n == 1)
    dgamma = (dy * xhat).sum(axis=axes, keepdims=True)
    dbeta = dy.sum(axis=axes, keepdims=True)
    return dy * gamma_b, dgamma, dbeta


def _channel_shape(x: Array) -> tuple[int, ...]:
    """(1, C, 1, ...): a per-channel array broadcast against x (N, C, ...)."""
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


# --- batch norm: statistics per channel over N and the spatial axes ---------------------

def batchnorm_forward(x: Array, gamma: Array, beta: Array, eps: float = 1e-5,
                      running: tuple[Array, Array] | None = None) -> tuple[Array, tuple]:
    """x (N, C) or (N, C, L) or (N, C, H, W), gamma and beta (C,) -> y like x. running:
    (mean, var) each (C,) to normalise with (eval mode); None: the batch's own statistics."""
    shape = _channel_shape(x)
    axes = (0,) + tuple(range(2, x.ndim))
    stats = (None, None) if running is None else (running[0].reshape(shape), running[1].reshape(shape))
    xhat, norm = normalize_forward(x, axes, eps, *stats)
    g = gamma.reshape(shape)
    return g * xhat + beta.reshape(shape), (norm, g)


def batchnorm_backward(dy: Array, cache: tuple) -> tuple[Array, Array, Array]:
    """dy like x -> dx like x, dgamma (C,), dbeta (C,)."""
    norm, g = cache
    dxhat, dgamma, dbeta = _affine_backward(dy, norm.xhat, g)
    return normalize_backward(dxhat, norm), dgamma.reshape(-1), dbeta.reshape(-1)


def batch_statistics(cache: tuple) -> tuple[Array, Array, int]:
    """(mean (C,), biased var (C,), n values per channel) a training-mode batchnorm_forward used."""
    norm = cache[0]
    n = int(np.prod([norm.xhat.shape[k] for k in norm.axes]))
    return norm.mean.reshape(-1), norm.var.reshape(-1), n


def running_update(running_mean: Array, running_var: Array, mean: Array, var: Array, n: int,
                   momentum: float) -> tuple[Array, Array]:
    """torch's running statistics: (1 - momentum) running + momentum batch, with the batch
    variance made unbiased (var n / (n - 1)); all (C,). Returns new arrays."""
    unbiased = var * (n / (n - 1))
    return ((1 - momentum) * running_mean + momentum * mean,
            (1 - momentum) * running_var + momentum * unbiased)


# --- layer norm: statistics per sample over its trailing gamma.ndim axes ------------------

def layernorm_forward(x: Array, gamma: Array, beta: Array, eps: float = 1e-5) -> tuple[Array, tuple]:
    """x (N, *S), gamma and beta S (the per-sample shape) -> y (N, *S)."""
    axes = tuple(range(x.ndim - gamma.ndim, x.ndim))
    xhat, norm = normalize_forward(x, axes, eps)
    g = gamma.reshape((1,) * (x.ndim - gamma.ndim) + gamma.shape)
    return g * xhat + beta, (norm, g)


def layernorm_backward(dy: Array, cache: tuple) -> tuple[Array, Array, Array]:
    """dy (N, *S) -> dx (N, *S), dgamma S, dbeta S."""
    norm, g = cache
    dxhat, dgamma, dbeta = _affine_backward(dy, norm.xhat, g)
    return normalize_backward(dxhat, norm), dgamma.reshape(g.shape[1:]), dbeta.reshape(g.shape[1:])


# --- group norm: statistics per sample and group of channels -----------------------------

def groupnorm_forward(x: Array, gamma: Array, beta: Array, num_groups: int,
                      eps: float = 1e-5) -> tuple[Array, tuple]:
    """x (N, C, ...), gamma and beta (C,), C divisible by num_groups -> y like x."""
    grouped = x.reshape(len(x), num_groups, -1)  # (N, G, C/G * spatial)
    xhat_g, norm = normalize_forward(grouped, (2,), eps)
    xhat = xhat_g.reshape(x.shape)
    g = gamma.reshape(_channel_shape(x))
    return g * xhat + beta.reshape(g.shape), (norm, g, xhat)


def groupnorm_backward(dy: Array, cache: tuple) -> tuple[Array, Array, Array]:
    """dy like x -> dx like x, dgamma (C,), dbeta (C,)."""
    norm, g, xhat = cache
    dxhat, dgamma, dbeta = _affine_backward(dy, xhat, g)
    dx = normalize_backward(dxhat.reshape(norm.xhat.shape), norm)
    return dx.reshape(dy.shape), dgamma.reshape(-1), dbeta.reshape(-1)
