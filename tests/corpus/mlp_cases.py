"""Planted bugs in hand-written MLPs, one family per convention; each bug next to its clean twin."""
from __future__ import annotations

import functools

import numpy as np

from crosscheck import byo

from .case import Case

N = 16


def _sig(z):
    return 1 / (1 + np.exp(-z))


# --- losses (shared) ---------------------------------------------------------------------

def mse(pred, target, bug=""):
    diff = pred - target
    value = np.sum(diff ** 2) / (diff.size if bug != "loss_noN" else diff.size / len(diff))
    grad = 2 * diff / diff.size
    if bug == "loss_noN":
        grad = grad * len(diff)
    if bug == "grad_sign":
        grad = -grad
    if bug == "grad_doubleN":
        grad = grad / len(diff)
    if bug == "grad_no2":
        grad = grad / 2
    return value, grad


LOSS_BUGS = [("loss_noN", "missing 1/N"), ("grad_sign", "wrong sign"), ("grad_doubleN", "extra 1/N"),
             ("grad_no2", None)]


# --- (1) row-major objects -------------------------------------------------------------

class Dense:
    def __init__(self, W, bug=""):
        self.W, self.b, self.bug = W, np.linspace(-.2, .2, W.shape[1]), bug

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dy):
        bug = self.bug
        self.dW = self.x.T @ dy
        self.dW = {"dW_T": self.dW.T, "dW_mean": self.dW / len(dy), "dW_sign": -self.dW}.get(bug, self.dW)
        self.db = {"db_axis": dy.sum(1), "db_mean": dy.mean(0)}.get(bug, dy.sum(0))
        dx = dy @ self.W.T
        return -dx if bug == "dx_sign" else dx


class Act:
    def __init__(self, name, bug=""):
        self.name, self.bug = name, bug

    def forward(self, x):
        self.x = x
        self.y = {"relu": np.maximum(x, 0), "sigmoid": _sig(x), "tanh": np.tanh(x)}[self.name]
        return self.y

    def backward(self, dy):
        if self.bug == "nomask":
            return dy
        z = self.y if self.bug == "at_output" else self.x
        if self.bug == "on_input":
            return dy * {"sigmoid": self.x * (1 - self.x), "tanh": 1 - self.x ** 2}[self.name]
        d = {"relu": (z > 0) * 1.0, "sigmoid": _sig(z) * (1 - _sig(z)), "tanh": 1 - np.tanh(z) ** 2}[self.name]
        return dy * d


Relu = type("Relu", (Act,), {"__init__": lambda s, bug="": Act.__init__(s, "relu", bug)})
Sigmoid = type("Sigmoid", (Act,), {"__init__": lambda s, bug="": Act.__init__(s, "sigmoid", bug)})
Tanh = type("Tanh", (Act,), {"__init__": lambda s, bug="": Act.__init__(s, "tanh", bug)})


def _rowmajor(bug_at=None, bug="", loss_bug=None):
    rng = np.random.default_rng(10)
    x, y = rng.normal(size=(N, 4)), rng.normal(size=(N, 4))
    kinds = [lambda b: Dense(rng.normal(0, .6, (4, 4)), b), Tanh, lambda b: Dense(rng.normal(0, .6, (4, 4)), b),
             Relu, lambda b: Dense(rng.normal(0, .6, (4, 4)), b), Sigmoid, lambda b: Dense(rng.normal(0, .6, (4, 4)), b)]
    layers = [k(bug if i == bug_at else "") for i, k in enumerate(kinds)]
    loss_fn = functools.partial(mse, bug=loss_bug or "")
    return byo.rowmajor(layers, x, y, loss="mse", loss_fn=loss_fn, w_layout="in,out")


ROW_BUGS = [(0, "dW_T", "transposed"), (2, "dW_mean", "extra 1/N"), (4, "dW_sign", "wrong sign"),
            (6, "db_axis", "wrong axis"), (2, "db_mean", "extra 1/N"), (4, "dx_sign", "wrong sign"),
            (1, "nomask", "derivative missing"), (1, "at_output", "at the output"), (1, "on_input", "fed the input"),
            (3, "nomask", "derivative missing"), (5, "at_output", "at the output"), (5, "on_input", None),
            (5, "nomask", "derivative missing"), (6, "dx_sign", "wrong sign")]


# --- (2) column-major blocks ------------------------------------------------------------

def col_forward(A_prev, W, b, activation):
    Z = W @ A_prev + b
    return {"relu": np.maximum(Z, 0), "tanh": np.tanh(Z), "identity": Z}[activation], (A_prev, W, Z)


def col_backward(dA, cache, activation, bug="", bug_act=None):
    A_prev, W, Z = cache
    hit = bug and (bug_act is None or activation == bug_act)
    d = {"relu": (Z > 0) * 1.0, "tanh": 1 - np.tanh(Z) ** 2, "identity": 1.0}[activation]
    if hit and bug == "nomask":
        d = 1.0
    if hit and bug == "at_output":
        d = 1 - np.tanh(np.tanh(Z)) ** 2
    dZ = dA * d
    dW = dZ @ A_prev.T
    db = dZ.sum(axis=1, keepdims=True)
    dA_prev = W.T @ dZ
    if hit:
        dW = {"dW_T": dW.T, "dW_mean": dW / dA.shape[1], "dW_sign": -dW}.get(bug, dW)
        db = {"db_mean": db / dA.shape[1], "db_sign": -db}.get(bug, db)
        dA_prev = {"dx_sign": -dA_prev, "dx_double": 2 * dA_prev}.get(bug, dA_prev)
    return dA_prev, dW, db


def _colmajor(bug="", bug_act=None, loss_bug=None):
    rng = np.random.default_rng(11)
    X, Y = rng.normal(size=(4, N)), rng.normal(size=(4, N))
    params = [(rng.normal(0, .6, (4, 4)), rng.normal(0, .1, (4, 1))) for _ in range(3)]
    bwd = functools.partial(col_backward, bug=bug, bug_act=bug_act)

    def loss_fn(AL, Yc):
        v, g = mse(AL.T, Yc.T, loss_bug or "")
        return v, g.T
    return byo.colmajor(params, ["tanh", "relu", "identity"], col_forward, bwd, X, Y, loss="mse", loss_fn=loss_fn)


COL_BUGS = [("dW_T", "identity", 2, "transposed"), ("dW_mean", "identity", 2, "extra 1/N"),
            ("dW_sign", "relu", 1, "wrong sign"), ("db_mean", "tanh", 0, "extra 1/N"),
            ("db_sign", "relu", 1, "wrong sign"), ("dx_sign", "identity", 2, "wrong sign"),
            ("dx_double", "relu", 1, None), ("nomask", "relu", 1, "derivative missing"),
            ("nomask", "tanh", 0, "derivative missing"), ("at_output", "tanh", 0, "at the output"),
            ("dW_T", "tanh", 0, "transposed"), ("dx_sign", "tanh", 0, "wrong sign")]


# --- (3) CS231n functional ---------------------------------------------------------------

def _functional(bug="", at=None, loss_bug=""):
    def affine_forward(x, w, b):
        return x.reshape(len(x), -1) @ w + b, (x, w)

    def affine_backward(dout, cache):
        x, w = cache
        hit = bug and at == (0 if w.shape[0] == 8 else 1)  # the two affines differ in shape
        dx = (dout @ w.T).reshape(x.shape)
        dw, db = x.reshape(len(x), -1).T @ dout, dout.sum(0)
        if hit:
            dw = {"dW_T": dw.T, "dW_mean": dw / len(x), "dW_sign": -dw}.get(bug, dw)
            db = {"db_mean": db / len(x)}.get(bug, db)
            dx = {"dx_sign": -dx}.get(bug, dx)
        return dx, dw, db

    def relu_forward(x):
        return np.maximum(x, 0), x

    def relu_backward(dout, x):
        return dout if bug == "nomask" else dout * (x > 0)

    def softmax_loss(x, y):
        p = np.exp(x - x.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        n = len(x) if loss_bug != "loss_noN" else 1
        dx = p.copy()
        dx[np.arange(len(x)), y] -= 1
        dx = {"grad_sign": -dx, "grad_doubleN": dx / len(x)}.get(loss_bug, dx)
        return -np.log(p[np.arange(len(x)), y]).sum() / n, dx / n

    rng = np.random.default_rng(12)
    x, y = rng.normal(size=(N, 2, 2, 2)), rng.integers(0, 8, N)
    funcs = dict(affine_forward=affine_forward, affine_backward=affine_backward, relu_forward=relu_forward,
                 relu_backward=relu_backward)
    layers = [("affine", rng.normal(0, .5, (8, 6)), rng.normal(0, .1, 6)), "relu",
              ("affine", rng.normal(0, .5, (6, 8)), rng.normal(0, .1, 8))]
    return byo.functional(layers, x, y, funcs=funcs, loss="softmax_ce", loss_fn=softmax_loss)


FUN_BUGS = [("dW_T", 0, 0, "transposed"), ("dW_T", 1, 2, "transposed"), ("dW_mean", 0, 0, "extra 1/N"),
            ("dW_sign", 1, 2, "wrong sign"), ("db_mean", 1, 2, "extra 1/N"), ("dx_sign", 1, 2, "wrong sign"),
            ("dx_sign", 0, 0, "wrong sign"), ("nomask", None, 1, "derivative missing")]
FUN_LOSS_BUGS = [("loss_noN", "missing 1/N"), ("grad_sign", "wrong sign"), ("grad_doubleN", "extra 1/N")]


# --- (4) whole-network functions and (5) a network class --------------------------------

def _whole_backward(dout, params, cache, bug="", at=None, act="tanh"):
    X, Z1, H = cache
    (W1, b1), (W2, b2) = params
    dW2, db2 = H.T @ dout, dout.sum(0)
    dH = dout @ W2.T
    d = 1 - np.tanh(Z1) ** 2 if act == "tanh" else (Z1 > 0) * 1.0
    dZ1 = dH if bug == "nomask" else dH * d
    dW1, db1 = X.T @ dZ1, dZ1.sum(0)
    grads = [[dW1, db1], [dW2, db2]]
    if at is not None:
        g = grads[at]
        g[0] = {"dW_T": g[0].T, "dW_mean": g[0] / len(X), "dW_sign": -g[0]}.get(bug, g[0])
        g[1] = {"db_mean": g[1] / len(X), "db_sign": -g[1]}.get(bug, g[1])
    return [tuple(g) for g in grads]


def _whole_forward(X, params, act="tanh"):
    (W1, b1), (W2, b2) = params
    Z1 = X @ W1 + b1
    H = np.tanh(Z1) if act == "tanh" else np.maximum(Z1, 0)
    return H @ W2 + b2, (X, Z1, H)


def _network(bug="", at=None, loss_bug=""):
    rng = np.random.default_rng(13)
    X, Y = rng.normal(size=(N, 5)), rng.normal(size=(N, 5))
    params = [(rng.normal(0, .5, (5, 5)), rng.normal(0, .1, 5)) for _ in range(2)]
    return byo.network(_whole_forward, functools.partial(_whole_backward, bug=bug, at=at), params, X, Y,
                       activations=["tanh", "identity"], layout="row", loss="mse",
                       loss_fn=functools.partial(mse, bug=loss_bug))


class Net:
    def __init__(self, rng, bug="", at=None):
        self.W1, self.b1 = rng.normal(0, .5, (5, 5)), rng.normal(0, .1, 5)
        self.W2, self.b2 = rng.normal(0, .5, (5, 5)), rng.normal(0, .1, 5)
        self.bug, self.at = bug, at

    def forward(self, X):
        out, self.cache = _whole_forward(X, [(self.W1, self.b1), (self.W2, self.b2)], act="relu")
        return out

    def backward(self, dout):
        (dW1, db1), (dW2, db2) = _whole_backward(dout, [(self.W1, self.b1), (self.W2, self.b2)], self.cache,
                                                 self.bug, self.at, act="relu")
        return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


def _netclass(bug="", at=None, loss_bug=""):
    rng = np.random.default_rng(14)
    X, Y = rng.normal(size=(N, 5)), rng.normal(size=(N, 5))
    return byo.netclass(Net(rng, bug, at), X, Y, activations=["relu", "identity"], layout="row", loss="mse",
                        loss_fn=functools.partial(mse, bug=loss_bug))


WHOLE_BUGS = [("dW_T", 0, 0, "transposed"), ("dW_T", 1, 1, "transposed"), ("dW_mean", 0, 0, "extra 1/N"),
              ("dW_mean", 1, 1, "extra 1/N"), ("dW_sign", 1, 1, "wrong sign"), ("db_mean", 0, 0, "extra 1/N"),
              ("db_sign", 1, 1, "wrong sign"), ("nomask", None, 0, None)]


def cases() -> list[Case]:
    out = []
    add = out.append
    for at, bug, slip in ROW_BUGS:
        add(Case("rowmajor", f"{bug}@{at}", _rowmajor, functools.partial(_rowmajor, at, bug), at, slip))
    for loss_bug, slip in LOSS_BUGS:
        add(Case("rowmajor", loss_bug, _rowmajor, functools.partial(_rowmajor, loss_bug=loss_bug), -1, slip))
    for bug, act, layer, slip in COL_BUGS:
        add(Case("colmajor", f"{bug}@{act}", _colmajor, functools.partial(_colmajor, bug, act), layer, slip))
    for loss_bug, slip in LOSS_BUGS:
        add(Case("colmajor", loss_bug, _colmajor, functools.partial(_colmajor, loss_bug=loss_bug), -1, slip))
    for bug, at, layer, slip in FUN_BUGS:
        add(Case("functional", f"{bug}@{layer}", _functional, functools.partial(_functional, bug, at), layer, slip))
    for loss_bug, slip in FUN_LOSS_BUGS:
        add(Case("functional", loss_bug, _functional, functools.partial(_functional, loss_bug=loss_bug), -1, slip))
    for make, conv in ((_network, "network"), (_netclass, "netclass")):
        for bug, at, layer, slip in WHOLE_BUGS:
            add(Case(conv, f"{bug}@{layer}", make, functools.partial(make, bug, at), layer, slip))
        for loss_bug, slip in LOSS_BUGS:
            add(Case(conv, loss_bug, make, functools.partial(make, loss_bug=loss_bug), -1, slip))
    return out
