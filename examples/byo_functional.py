"""CS231n-style layer functions (affine_forward/affine_backward, relu_*, softmax_loss) on
image-shaped inputs; `python -m crosscheck --user examples/byo_functional.py`."""
import numpy as np


def affine_forward(x, w, b):
    out = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w, b)


def affine_backward(dout, cache):
    x, w, b = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    return dx, dw, dout.sum(axis=0)


def relu_forward(x):
    return np.maximum(0, x), x


def relu_backward(dout, cache):
    return dout * (cache > 0)


def softmax_loss(x, y):
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = x.shape[0]
    dx = np.exp(log_probs)
    dx[np.arange(n), y] -= 1
    return -log_probs[np.arange(n), y].mean(), dx / n


def crosscheck_model():
    from crosscheck import byo
    rng = np.random.default_rng(3)
    x = rng.normal(size=(8, 2, 3, 3))                   # images: any shape, flattened by affine
    y = rng.integers(0, 4, size=8)
    w1, b1, w2, b2 = rng.normal(0, .3, (18, 10)), np.zeros(10), rng.normal(0, .3, (10, 4)), np.zeros(4)
    layers = [("affine", w1, b1), "relu", ("affine", w2, b2)]
    return byo.functional(layers, x, y, funcs=globals(), loss="softmax_ce",
                          loss_fn=softmax_loss, name="byo_functional")
