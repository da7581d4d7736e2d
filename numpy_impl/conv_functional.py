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


def conv2d_backward(dy: Array, cache: tuple, input_grad: bool = True) -> tuple[Array | None, Array, Array]:
    """dy (N, O, Ho, Wo) -> dx (N, C, H, W) (None unless input_grad), dw (O, C, kh, kw), db (O,)."""
    cols, x_shape, w, stride, pad = cache
    n, c, h, wd = x_shape
    o, _, kh, kw = w.shape
    ho, wo = dy.shape[2], dy.shape[3]
    dy_mat = dy.transpose(0, 2, 3, 1).reshape(n * ho * wo, o)
    dw = (dy_mat.T @ cols).reshape(w.shape)
    db = dy_mat.sum(axis=0)
    if not input_grad:
        return None, dw, db
    # Window gradients laid out tap-major, (kh, kw, C, N, Ho, Wo), so that each tap's block
    # is contiguous; they are summed into a (C, N, H, W) buffer and transposed at the end.
    w_taps = w.transpose(2, 3, 1, 0).reshape(kh * kw * c, o)
    dtaps = (w_taps @ dy_mat.T).reshape(kh, kw, c, n, ho, wo)
    dxp = np.zeros((c, n, h + 2 * pad, wd + 2 * pad), dtype=dy.dtype)
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride] += dtaps[i, j]
    return dxp[:, :, pad:pad + h, pad:pad + wd].transpose(1, 0, 2, 3), dw, db


def _tap(x: Array, i: int, j: int, stride: int, ho: int, wo: int) -> Array:
    """The (i, j) element of every window: a strided view (N, C, Ho, Wo)."""
    return x[:, :, i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride]


def maxpool2d_forward(x: Array, k: int, stride: int) -> tuple[Array, tuple]:
    """Max over k x k windows, scanning the k*k taps in row-major order. A tap replaces the
    running maximum only when strictly greater, so ties go to the first maximum in window
    order: the element torch's CPU kernel picks, and gradients are routed identically."""
    n, c, h, w = x.shape
    ho, wo = out_size(h, k, stride, 0), out_size(w, k, stride, 0)
    y = _tap(x, 0, 0, stride, ho, wo).copy()
    arg = np.zeros(y.shape, dtype=np.int8 if k * k < 128 else np.int32)
    better = np.empty(y.shape, dtype=bool)
    for t in range(1, k * k):
        v = _tap(x, t // k, t % k, stride, ho, wo)
        np.greater(v, y, out=better)
        np.copyto(y, v, where=better)
        np.copyto(arg, t, where=better)
    return y, (arg, x.shape, k, stride)


def maxpool2d_backward(dy: Array, cache: tuple) -> Array:
    arg, x_shape, k, stride = cache
    ho, wo = dy.shape[2], dy.shape[3]
    dx = np.zeros(x_shape, dtype=dy.dtype)
    overlapping = stride < k
    for t in range(k * k):
        routed = np.where(arg == t, dy, 0)
        tap = _tap(dx, t // k, t % k, stride, ho, wo)
        if overlapping:
            tap += routed
        else:  # each input belongs to one window: plain assignment
            tap[...] = routed
    return dx
