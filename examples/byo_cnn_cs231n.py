"""A CS231n-style conv net from naive function pairs (NCHW, W (F, C, HH, WW), loops over
pixels): conv 3x3 - relu - 2x2 max (or average) pool - affine - relu - affine. Checked with
`byo.check(crosscheck_model())` (`from crosscheck import byo`).

The functions take a `bug` keyword through functools.partial so tests can plant slips."""
from functools import partial

import numpy as np


def conv_forward_naive(x, w, b, conv_param, bug=None):
    stride, pad = conv_param["stride"], conv_param["pad"] + (1 if bug == "pad" else 0)
    n, c, h, wd = x.shape
    f, _, hh, ww = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ho, wo = 1 + (h + 2 * pad - hh) // stride, 1 + (wd + 2 * pad - ww) // stride
    kernel = w[:, :, ::-1, ::-1] if bug == "flip" else w
    out = np.zeros((n, f, ho, wo))
    for i in range(ho):
        for j in range(wo):
            window = xp[:, :, i * stride:i * stride + hh, j * stride:j * stride + ww]
            out[:, :, i, j] = np.tensordot(window, kernel, axes=([1, 2, 3], [1, 2, 3])) + b
    return out, (x, w, b, conv_param, bug)


def conv_backward_naive(dout, cache):
    x, w, b, conv_param, bug = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    step = 1 if bug == "stride" else stride
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    _, _, hh, ww = w.shape
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            window = xp[:, :, i * step:i * step + hh, j * step:j * step + ww]
            dw += np.tensordot(dout[:, :, i, j], window, axes=([0], [0]))
            dxp[:, :, i * step:i * step + hh, j * step:j * step + ww] += np.tensordot(dout[:, :, i, j], w, axes=([1], [0]))
    if bug == "swap":
        dw = dw.transpose(1, 0, 2, 3)
    db = dout.sum(axis=(0, 2, 3))
    return dxp[:, :, pad:pad + x.shape[2], pad:pad + x.shape[3]], dw, db


def max_pool_forward_naive(x, pool_param, bug=None):
    k, s = pool_param["pool_height"], pool_param["stride"]
    n, c, h, w = x.shape
    ho, wo = 1 + (h - k) // s, 1 + (w - k) // s
    out = np.zeros((n, c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            out[:, :, i, j] = x[:, :, i * s:i * s + k, j * s:j * s + k].max(axis=(2, 3))
    return out, (x, pool_param, bug)


def max_pool_backward_naive(dout, cache):
    x, pool_param, bug = cache
    k, s = pool_param["pool_height"], pool_param["stride"]
    dx = np.zeros_like(x)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            window = x[:, :, i * s:i * s + k, j * s:j * s + k]
            hit = window == window.max(axis=(2, 3), keepdims=True)
            if bug != "every":
                flat = hit.reshape(*hit.shape[:2], -1)
                pick = flat.shape[-1] - 1 - flat[..., ::-1].argmax(-1) if bug == "last" else flat.argmax(-1)
                hit = np.zeros_like(flat)
                np.put_along_axis(hit, pick[..., None], True, -1)
                hit = hit.reshape(window.shape)
            dx[:, :, i * s:i * s + k, j * s:j * s + k] += hit * dout[:, :, i, j][:, :, None, None]
    return dx


def avg_pool_forward_naive(x, pool_param, bug=None):
    k, s = pool_param["pool_height"], pool_param["stride"]
    ho, wo = 1 + (x.shape[2] - k) // s, 1 + (x.shape[3] - k) // s
    out = np.zeros((*x.shape[:2], ho, wo))
    for i in range(ho):
        for j in range(wo):
            out[:, :, i, j] = x[:, :, i * s:i * s + k, j * s:j * s + k].mean(axis=(2, 3))
    return out, (x.shape, pool_param, bug)


def avg_pool_backward_naive(dout, cache):
    shape, pool_param, bug = cache
    k, s = pool_param["pool_height"], pool_param["stride"]
    scale = 1.0 if bug == "no_mean" else 1.0 / (k * k)
    dx = np.zeros(shape)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            dx[:, :, i * s:i * s + k, j * s:j * s + k] += dout[:, :, i, j][:, :, None, None] * scale
    return dx


def affine_forward(x, w, b):
    return x.reshape(len(x), -1) @ w + b, (x, w)


def affine_backward(dout, cache):
    x, w = cache
    return (dout @ w.T).reshape(x.shape), x.reshape(len(x), -1).T @ dout, dout.sum(axis=0)


def relu_forward(x):
    return np.maximum(x, 0), x


def relu_backward(dout, x):
    return dout * (x > 0)


def cs231n_layers(rng, c=3, size=8, filters=4, stride=1, pool="max", bug=None, where="conv"):
    """conv 3x3 (pad 1) - relu - 2x2 pool - affine 16 - relu - affine 10; `bug` is planted in
    the conv (where="conv") or the pool (where="pool")."""
    from crosscheck import byo
    conv_bug, pool_bug = (bug, None) if where == "conv" else (None, bug)
    w1, b1 = rng.normal(0, 0.3, (filters, c, 3, 3)), rng.normal(0, 0.1, filters)
    out = (size + 2 - 3) // stride + 1
    pooled = out // 2
    w2, b2 = rng.normal(0, 0.3, (filters * pooled * pooled, 16)), rng.normal(0, 0.1, 16)
    w3, b3 = rng.normal(0, 0.3, (16, 10)), rng.normal(0, 0.1, 10)
    fwd, bwd = ((max_pool_forward_naive, max_pool_backward_naive) if pool == "max"
                else (avg_pool_forward_naive, avg_pool_backward_naive))
    pool_fwd = partial(fwd, bug=pool_bug)
    pool_fwd.__name__ = fwd.__name__
    conv_fwd = partial(conv_forward_naive, bug=conv_bug)
    conv_fwd.__name__ = conv_forward_naive.__name__
    return [byo.conv_fn(conv_fwd, conv_backward_naive, w1, b1, {"stride": stride, "pad": 1}),
            byo.fn_layer(relu_forward, relu_backward),
            byo.pool_fn(pool_fwd, bwd, {"pool_height": 2, "pool_width": 2, "stride": 2}, mode=pool),
            byo.affine_fn(affine_forward, affine_backward, w2, b2),
            byo.fn_layer(relu_forward, relu_backward),
            byo.affine_fn(affine_forward, affine_backward, w3, b3)]


def crosscheck_model():
    from crosscheck import byo
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(4, 3, 8, 8)), rng.integers(0, 10, 4)
    return byo.cnn(cs231n_layers(rng), x, y, layout="nchw", name="byo_cnn_cs231n")
