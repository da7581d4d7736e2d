"""Pure convolution and pooling maths, NCHW, vectorised with strided windows + matmul.

The only Python loops run over kernel taps (kh*kw of them) in the scatter-adds of the
backward passes, never over pixels, samples or channels."""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

Array = np.ndarray


def out_size(size: int, k: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - k) // stride + 1


def _windows(x: Array, kh: int, kw: int, stride: int) -> Array:
    """(N, C, Ho, Wo, kh, kw) view of every kernel window (no copy)."""
    return sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]


def _scatter_taps(dwin: Array, shape: tuple, kh: int, kw: int, stride: int) -> Array:
    """Sum window gradients (N, C, Ho, Wo, kh, kw) back onto an input of `shape`."""
    dx = np.zeros(shape, dtype=dwin.dtype)
    ho, wo = dwin.shape[2], dwin.shape[3]
    for i in range(kh):
        for j in range(kw):
            dx[:, :, i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride] += dwin[..., i, j]
    return dx


def conv2d_forward(x: Array, w: Array, b: Array, stride: int = 1, pad: int = 0) -> tuple[Array, tuple]:
    """x (N, C, H, W), w (O, C, kh, kw), b (O,) -> y (N, O, Ho, Wo); cross-correlation like torch."""
    n, c = x.shape[:2]
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))) if pad else x
    win = _windows(xp, kh, kw, stride)
    ho, wo = win.shape[2], win.shape[3]
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * kh * kw)  # the one copy
    y = cols @ w.reshape(o, -1).T + b
    return y.reshape(n, ho, wo, o).transpose(0, 3, 1, 2), (cols, x.shape, w, stride, pad)


def conv2d_backward(dy: Array, cache: tuple) -> tuple[Array, Array, Array]:
    """dy (N, O, Ho, Wo) -> dx (N, C, H, W), dw (O, C, kh, kw), db (O,)."""
    cols, x_shape, w, stride, pad = cache
    n, c, h, wd = x_shape
    o, _, kh, kw = w.shape
    ho, wo = dy.shape[2], dy.shape[3]
    dy_mat = dy.transpose(0, 2, 3, 1).reshape(n * ho * wo, o)
    dw = (dy_mat.T @ cols).reshape(w.shape)
    db = dy_mat.sum(axis=0)
    dcols = (dy_mat @ w.reshape(o, -1)).reshape(n, ho, wo, c, kh, kw).transpose(0, 3, 1, 2, 4, 5)
    dxp = _scatter_taps(dcols, (n, c, h + 2 * pad, wd + 2 * pad), kh, kw, stride)
    dx = dxp[:, :, pad:pad + h, pad:pad + wd] if pad else dxp
    return dx, dw, db


def maxpool2d_forward(x: Array, k: int, stride: int) -> tuple[Array, tuple]:
    """Max over k x k windows. Ties go to the first maximum in row-major window order,
    the element torch's CPU kernel picks, so gradients are routed identically."""
    win = _windows(x, k, k, stride)
    flat = win.reshape(*win.shape[:4], k * k)
    arg = flat.argmax(axis=-1)  # argmax returns the first of equal maxima
    y = np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]
    return y, (arg, x.shape, k, stride)


def maxpool2d_backward(dy: Array, cache: tuple) -> Array:
    arg, x_shape, k, stride = cache
    onehot = arg[..., None] == np.arange(k * k)
    dwin = (onehot * dy[..., None]).reshape(*dy.shape, k, k)
    return _scatter_taps(dwin.astype(dy.dtype), x_shape, k, k, stride)
