"""One small network per byo convention, written with a gradient convention of its own (L2
inside dW, the 1/N in the layers, a loss that sums or ascends) and optionally a planted bug
(layer 0's dW doubled), for tests/test_byo_conventions.py."""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from crosscheck import byo

N, CLASSES = 12, 3


def softmax_loss(style: str = "loss", ascent: bool = False):
    """softmax CE on scores (N, C) as a user writes it under a batch_mean style."""
    def loss(scores, y):
        z = scores - scores.max(1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(1, keepdims=True))
        grad = np.exp(logp)
        grad[np.arange(len(y)), y] -= 1
        value = -logp[np.arange(len(y)), y].sum()
        value = value if style == "none" else value / len(y)
        grad = grad / len(y) if style == "loss" else grad
        return (-value, -grad) if ascent else (value, grad)
    return loss


class Knobs:
    """How the user's code writes its parameter gradients: + lam·W, + lam_b·b, / N, bug."""

    def __init__(self, lam=0.0, lam_b=0.0, div=False, bug=False):
        self.lam, self.lam_b, self.div, self.bug = lam, lam_b, div, bug

    def dw(self, raw, w, n, first):
        g = raw / n if self.div else raw
        return (2 * g if self.bug and first else g) + self.lam * w

    def db(self, raw, b, n):
        return (raw / n if self.div else raw) + self.lam_b * b


def _data(rng, image=False):
    x = rng.normal(size=(N, 1, 4, 4)) if image else rng.normal(size=(N, 5))
    return x, rng.integers(0, CLASSES, N)


def _weights(rng, shapes):
    return [(rng.normal(0, .5, s), rng.normal(0, .1, s[1])) for s in shapes]


# --- rowmajor ---------------------------------------------------------------------------

class Dense:
    def __init__(self, W, b, knobs, first):
        self.W, self.b, self.k, self.first = W, b, knobs, first

    def forward(self, x):
        self.x = x
        return x.reshape(len(x), -1) @ self.W + self.b

    def backward(self, dy):
        x = self.x.reshape(len(self.x), -1)
        self.dW = self.k.dw(x.T @ dy, self.W, len(dy), self.first)
        self.db = self.k.db(dy.sum(0), self.b, len(dy))
        return (dy @ self.W.T).reshape(self.x.shape)


class Tanh:
    def forward(self, x):
        self.y = np.tanh(x)
        return self.y

    def backward(self, dy):
        return dy * (1 - self.y ** 2)


def rowmajor(rng, knobs, **declare):
    x, y = _data(rng)
    (w1, b1), (w2, b2) = _weights(rng, [(5, 6), (6, CLASSES)])
    layers = [Dense(w1, b1, knobs, True), Tanh(), Dense(w2, b2, knobs, False)]
    return byo.rowmajor(layers, x, y, loss="softmax_ce", w_layout="in,out", **declare)


# --- functional ---------------------------------------------------------------------------

def _funcs(knobs):
    def affine_forward(x, w, b):
        return x @ w + b, (x, w, b)

    def affine_backward(dout, cache):
        x, w, b = cache
        return dout @ w.T, knobs.dw(x.T @ dout, w, len(x), w.shape == (5, 6)), knobs.db(dout.sum(0), b, len(x))

    def tanh_forward(x):
        y = np.tanh(x)
        return y, y

    def tanh_backward(dout, y):
        return dout * (1 - y ** 2)
    return dict(affine_forward=affine_forward, affine_backward=affine_backward, tanh_forward=tanh_forward,
                tanh_backward=tanh_backward)


def functional(rng, knobs, **declare):
    x, y = _data(rng)
    (w1, b1), (w2, b2) = _weights(rng, [(5, 6), (6, CLASSES)])
    layers = [("affine", w1, b1), "tanh", ("affine", w2, b2)]
    return byo.functional(layers, x, y, funcs=_funcs(knobs), loss="softmax_ce", **declare)


# --- colmajor -------------------------------------------------------------------------------

def colmajor(rng, knobs, **declare):
    x, y = _data(rng)
    (w1, b1), (w2, b2) = _weights(rng, [(5, 6), (6, CLASSES)])
    params = [(w1.T.copy(), b1.reshape(-1, 1)), (w2.T.copy(), b2.reshape(-1, 1))]

    def forward(A, W, b, act):
        Z = W @ A + b
        return (np.tanh(Z) if act == "tanh" else Z), (A, W, b, Z)

    def backward(dA, cache, act):
        A, W, b, Z = cache
        dZ = dA * (1 - np.tanh(Z) ** 2) if act == "tanh" else dA
        m = A.shape[1]
        return W.T @ dZ, knobs.dw(dZ @ A.T, W, m, W.shape == (6, 5)), knobs.db(dZ.sum(1, keepdims=True), b, m)

    if "loss_fn" in declare:
        user = declare.pop("loss_fn")
        declare["loss_fn"] = lambda AL, Y: tuple(a.T if np.ndim(a) == 2 else a for a in user(AL.T, Y))
    return byo.colmajor(params, ["tanh", "identity"], forward, backward, x.T.copy(), y, loss="softmax_ce",
                        **declare)


# --- network and netclass ---------------------------------------------------------------------

def _whole_forward(X, params):
    (W1, b1), (W2, b2) = params
    H = np.tanh(X @ W1 + b1)
    return H @ W2 + b2, (X, H)


def _whole_backward(knobs):
    def backward(dout, params, cache):
        (W1, b1), (W2, b2) = params
        X, H = cache
        dZ1 = (dout @ W2.T) * (1 - H ** 2)
        n = len(X)
        return [(knobs.dw(X.T @ dZ1, W1, n, True), knobs.db(dZ1.sum(0), b1, n)),
                (knobs.dw(H.T @ dout, W2, n, False), knobs.db(dout.sum(0), b2, n))]
    return backward


def network(rng, knobs, **declare):
    x, y = _data(rng)
    params = _weights(rng, [(5, 6), (6, CLASSES)])
    return byo.network(_whole_forward, _whole_backward(knobs), params, x, y, activations=["tanh", "identity"],
                       layout="row", loss="softmax_ce", **declare)


class Net:
    def __init__(self, params, knobs):
        (self.W1, self.b1), (self.W2, self.b2) = params
        self.backward_fn = _whole_backward(knobs)

    def forward(self, X):
        out, self.cache = _whole_forward(X, [(self.W1, self.b1), (self.W2, self.b2)])
        return out

    def backward(self, dout):
        (dW1, db1), (dW2, db2) = self.backward_fn(dout, [(self.W1, self.b1), (self.W2, self.b2)], self.cache)
        return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


def netclass(rng, knobs, **declare):
    x, y = _data(rng)
    net = Net(_weights(rng, [(5, 6), (6, CLASSES)]), knobs)
    return byo.netclass(net, x, y, activations=["tanh", "identity"], layout="row", loss="softmax_ce", **declare)


# --- cnn ---------------------------------------------------------------------------------------

class Conv:
    """A 3x3 valid convolution, NCHW, W (F, C, 3, 3)."""
    stride, pad = 1, 0

    def __init__(self, W, b, knobs):
        self.W, self.b, self.k = W, b, knobs

    def forward(self, x):
        self.win = sliding_window_view(x, (3, 3), axis=(2, 3))  # (N, C, Ho, Wo, 3, 3)
        return np.einsum("nchwij,fcij->nfhw", self.win, self.W) + self.b[None, :, None, None]

    def backward(self, dy):
        self.dW = self.k.dw(np.einsum("nchwij,nfhw->fcij", self.win, dy), self.W, len(dy), True)
        self.db = self.k.db(dy.sum((0, 2, 3)), self.b, len(dy))
        dx = np.zeros((len(dy), self.W.shape[1], dy.shape[2] + 2, dy.shape[3] + 2))
        for i in range(3):
            for j in range(3):
                dx[:, :, i:i + dy.shape[2], j:j + dy.shape[3]] += np.einsum("nfhw,fc->nchw", dy, self.W[:, :, i, j])
        return dx


class Flatten:
    def forward(self, x):
        self.shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, dy):
        return dy.reshape(self.shape)


def cnn(rng, knobs, **declare):
    x, y = _data(rng, image=True)
    conv = Conv(rng.normal(0, .5, (2, 1, 3, 3)), rng.normal(0, .1, 2), knobs)
    (w, b), = _weights(rng, [(8, CLASSES)])
    layers = [conv, Tanh(), Flatten(), Dense(w, b, knobs, False)]
    return byo.cnn(layers, x, y, **declare)


CONVENTIONS = {"rowmajor": rowmajor, "functional": functional, "colmajor": colmajor, "network": network,
               "netclass": netclass, "cnn": cnn}
