"""Pure convolution and pooling maths, vectorised with strided windows + matmul.

Shapes are NCHW like torch's, but the work is done channels-last: the arrays these
functions return are NCHW views of NHWC memory, and inputs in that layout need no copy.
With channels innermost, every kernel tap of an image is a block of contiguous rows, so
im2col is one strided copy and each tap's update in the backward pass is one matmul.
The only Python loops run over kernel taps (kh*kw of them), never over pixels, samples
or channels."""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .spec import conv_output_size

Array = np.ndarray


def _nhwc(x: Array) -> Array:
    """(N, C, H, W) -> (N, H, W, C) view."""
    return x.transpose(0, 2, 3, 1)


def _nchw(x: Array) -> Array:
    """(N, H, W, C) -> (N, C, H, W) view."""
    return x.transpose(0, 3, 1, 2)


def _padded_nhwc(x: Array, pad: int) -> Array:
    """x (N, C, H, W) -> contiguous (N, H + 2 pad, W + 2 pad, C), zeros around."""
    n, c, h, w = x.shape
    if not pad:
        return np.ascontiguousarray(_nhwc(x))
    xp = np.zeros((n, h + 2 * pad, w + 2 * pad, c), dtype=x.dtype)
    xp[:, pad:pad + h, pad:pad + w] = _nhwc(x)
    return xp


def _tap(x: Array, i: int, j: int, stride: int, ho: int, wo: int) -> Array:
    """The (i, j) element of every window of an NHWC array: a strided view (N, Ho, Wo, C)."""
    return x[:, i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride]


def conv2d_forward(x: Array, w: Array, b: Array, stride: int = 1, pad: int = 0) -> tuple[Array, tuple]:
    """x (N, C, H, W), w (O, C, kh, kw), b (O,) -> y (N, O, Ho, Wo); cross-correlation like torch."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    ho, wo = conv_output_size(h, kh, stride, pad), conv_output_size(wd, kw, stride, pad)
    xp = _padded_nhwc(x, pad)
    sn, sh, sw, sc = xp.strides
    win = as_strided(xp, (n, ho, wo, kh, kw, c), (sn, stride * sh, stride * sw, sh, sw, sc))
    cols = win.reshape(n * ho * wo, kh * kw * c)  # the one copy: rows (n, ho, wo), columns (i, j, c)
    y = cols @ w.transpose(2, 3, 1, 0).reshape(kh * kw * c, o)
    y += b
    return _nchw(y.reshape(n, ho, wo, o)), (cols, x.shape, w, stride, pad)


def conv2d_backward(dy: Array, cache: tuple, input_grad: bool = True) -> tuple[Array | None, Array, Array]:
    """dy (N, O, Ho, Wo) -> dx (N, C, H, W) (None unless input_grad), dw (O, C, kh, kw), db (O,)."""
    cols, x_shape, w, stride, pad = cache
    n, c, h, wd = x_shape
    o, _, kh, kw = w.shape
    ho, wo = dy.shape[2], dy.shape[3]
    dy_mat = _nhwc(dy).reshape(n * ho * wo, o)  # no copy when dy is NHWC memory
    dw = np.ascontiguousarray((dy_mat.T @ cols).reshape(o, kh, kw, c).transpose(0, 3, 1, 2))
    db = dy_mat.sum(axis=0)
    if not input_grad:
        return None, dw, db
    # Each tap's share of dx is one matmul, added onto that tap's strided view of the padded
    # input: a copy of the (N*Ho*Wo, kh*kw*C) column gradients would cost more than the sums.
    w_taps = np.ascontiguousarray(w.transpose(2, 3, 0, 1))  # (kh, kw, O, C)
    dxp = np.zeros((n, h + 2 * pad, wd + 2 * pad, c), dtype=dy_mat.dtype)
    part = np.empty((n * ho * wo, c), dtype=dxp.dtype)
    for i in range(kh):
        for j in range(kw):
            np.matmul(dy_mat, w_taps[i, j], out=part)
            _tap(dxp, i, j, stride, ho, wo)[...] += part.reshape(n, ho, wo, c)
    return _nchw(dxp[:, pad:pad + h, pad:pad + wd]), dw, db


def maxpool2d_forward(x: Array, k: int, stride: int) -> tuple[Array, tuple]:
    """Max over k x k windows, scanning the k*k taps in row-major order. A tap replaces the
    running maximum only when strictly greater, so ties go to the first maximum in window
    order: the element torch's CPU kernel picks, and gradients are routed identically.
    Returns y (N, C, Ho, Wo) and a cache whose first item is each window's winning tap
    i * k + j, shaped like y."""
    n, c, h, w = x.shape
    ho, wo = conv_output_size(h, k, stride, 0), conv_output_size(w, k, stride, 0)
    xn = _nhwc(x)
    y = _tap(xn, 0, 0, stride, ho, wo).copy()  # contiguous NHWC
    arg = np.zeros(y.shape, dtype=np.int8 if k * k < 128 else np.int32)
    better = np.empty(y.shape, dtype=bool)
    step = np.empty_like(arg)
    for t in range(1, k * k):
        v = _tap(xn, t // k, t % k, stride, ho, wo)
        np.greater(v, y, out=better)
        np.maximum(y, v, out=y)
        # arg = where(better, t, arg) as arithmetic: masked copies are ~10x slower
        np.subtract(t, arg, out=step)
        step *= better
        arg += step
    return _nchw(y), (_nchw(arg), x.shape, k, stride)


def maxpool2d_backward(dy: Array, cache: tuple) -> Array:
    """dy (N, C, Ho, Wo) -> dx (N, C, H, W): each window's gradient goes to its winner."""
    arg, (n, c, h, w), k, stride = cache
    ho, wo = dy.shape[2], dy.shape[3]
    dyn, argn = _nhwc(dy), _nhwc(arg)
    dx = np.zeros((n, h, w, c), dtype=dy.dtype)
    won = np.empty(argn.shape, dtype=bool)
    for t in range(k * k):
        np.equal(argn, t, out=won)
        tap = _tap(dx, t // k, t % k, stride, ho, wo)
        # dy * won rather than a masked copy (~10x slower); the two differ only for a
        # non-finite dy, which then also spreads to the window's other inputs
        if stride < k:  # overlapping windows: an input may win several
            tap += dyn * won
        else:  # each input belongs to one window: plain assignment
            np.multiply(dyn, won, out=tap)
    return _nchw(dx)
