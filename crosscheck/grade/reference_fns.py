"""The reference CS231n function pairs a part's other layers are built from, so that a part is
graded on its own: in the `affine` part only the student's affine_forward/affine_backward are
theirs. Each is a thin adapter over numpy_impl's pure functions (weights stored (in, out) as
CS231n stores them; torch's are (out, in))."""
from __future__ import annotations

import numpy as np

from numpy_impl import conv_functional as CF
from numpy_impl import functional as NF

Array = np.ndarray


def affine_forward(x: Array, w: Array, b: Array) -> tuple[Array, tuple]:
    """x (N, d1, ...) flattened to (N, D), w (D, M), b (M,) -> (N, M)."""
    out, cache = NF.linear_forward(x.reshape(len(x), -1), w.T, b)
    return out, (x.shape, cache)


def affine_backward(dout: Array, cache: tuple) -> tuple[Array, Array, Array]:
    shape, inner = cache
    dx, dw, db = NF.linear_backward(dout, inner)
    return dx.reshape(shape), dw.T, db


def relu_forward(x: Array) -> tuple[Array, tuple]:
    return NF.activation_forward(x, "relu")


def relu_backward(dout: Array, cache: tuple) -> Array:
    return NF.activation_backward(dout, cache)


def softmax_loss(x: Array, y: Array) -> tuple[float, Array]:
    """Mean cross-entropy of softmax(x) (N, C) against labels y (N,), and its gradient."""
    return NF.softmax_ce(x, y)


def conv_forward_naive(x: Array, w: Array, b: Array, conv_param: dict) -> tuple[Array, tuple]:
    return CF.conv2d_forward(x, w, b, conv_param["stride"], conv_param["pad"])


def conv_backward_naive(dout: Array, cache: tuple) -> tuple[Array, Array, Array]:
    return CF.conv2d_backward(dout, cache)


def max_pool_forward_naive(x: Array, pool_param: dict) -> tuple[Array, tuple]:
    return CF.maxpool2d_forward(x, pool_param["pool_height"], pool_param["stride"])


def max_pool_backward_naive(dout: Array, cache: tuple) -> Array:
    return CF.maxpool2d_backward(dout, cache)


FUNCTIONS = {f.__name__: f for f in (affine_forward, affine_backward, relu_forward, relu_backward, softmax_loss,
                                     conv_forward_naive, conv_backward_naive, max_pool_forward_naive,
                                     max_pool_backward_naive)}
