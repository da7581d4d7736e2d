"""Whole programs that map parameters and data to their own loss and gradients, in the three
styles people publish, each read into one Program: its (W, b) pairs, a forward where it has one,
and a function from a batch to (loss value or None, [(dW, db), ...]).

  cs231n     an object with params {"W1": (in, out), "b1": (out,), ...} and loss(X, y) ->
             (loss, grads {"W1": ...}); loss(X) -> scores. Rows (N, D).
  backprop   an object with weights [(out, in)], biases [(out, 1)] and backprop(x, y) ->
             (nabla_b, nabla_w) for ONE sample as a column (D, 1) (Nielsen's network.py); the
             tool runs it per sample and averages; feedforward(a) per sample.
  lmodel     (L_model_forward, L_model_backward) with a parameters dict {"W1": (out, in),
             "b1": (out, 1)}: L_model_forward(X (D, m), parameters) -> (AL, caches),
             L_model_backward(AL, Y, caches) -> grads {"dW1": ..., "db1": ...} (deeplearning.ai); or
             nested, parameters {"W": {1: W1, ...}, "b": {1: b1, ...}} and grads {"dW": {1: ...}, ...}
             (nnlib's model_forward / model_backward).
  persample  (forward(x), backprop(x, y) -> [(dW, db), ...]) for one sample as a column, with
             params [(W (out, in), b (out, 1)), ...] (PyDeepLearning); run per sample and averaged."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ...user_code import call_user
from ..mlp.whole import grads_from_dict


@dataclass
class Program:
    """A user's whole program: pairs [(W, b)] (views of the user's arrays), col: W (out, in)
    with samples as columns, else W (in, out) with samples as rows; forward(x rows) -> out rows
    or None; run(x rows, target) -> (value or None, [(dW, db)] each shaped as its W, b)."""
    style: str
    label: str
    pairs: list
    col: bool
    forward: Callable
    run: Callable


def flat(d):
    """{"W": {1: W1, ...}, "b": {...}} (nested, nnlib's) as {"W1": W1, ..., "b1": ...}, the same
    arrays; a flat dict (or anything else) as it is."""
    if not (isinstance(d, dict) and d and all(isinstance(v, dict) for v in d.values())):
        return d
    return {f"{key}{layer}": value for key, sub in d.items() for layer, value in sub.items()}


def _copy_tree(d):
    """The parameters dict, flat or nested, with every array copied."""
    return {k: _copy_tree(v) if isinstance(v, dict) else np.array(v) for k, v in d.items()}


def _pairs_from_dict(params: dict, what: str) -> list:
    params = flat(params)
    n = sum(1 for k in params if re.fullmatch(r"W\d+", k))
    if n == 0 or any(f"W{k}" not in params or f"b{k}" not in params for k in range(1, n + 1)):
        raise ValueError(f"{what}: no parameters W1, b1, W2, b2, ... found (keys: {sorted(params)})")
    return [(params[f"W{k}"], params[f"b{k}"]) for k in range(1, n + 1)]


def _grads_from_dict(grads, n: int, what: str) -> list:
    if not isinstance(grads, dict):
        raise ValueError(f"{what} returned {type(grads).__name__} for the gradients; expected a dict W1/dW1, b1/db1, ...")
    return [(np.asarray(dw), np.asarray(db)) for dw, db in grads_from_dict(flat(grads), n, what)]


def _copies(pairs: list) -> list:
    return [(np.array(w), np.array(b)) for w, b in pairs]


def cs231n(net) -> Program:
    """CS231n TwoLayerNet / FullyConnectedNet: params dict, loss(X, y) -> (loss, grads)."""
    label = type(net).__name__
    pairs = _pairs_from_dict(net.params, f"{label}.params")

    def forward(x):
        return np.asarray(call_user(f"{label}.loss(X)", net.loss, x.copy()))

    def run(x, target):
        res = call_user(f"{label}.loss(X, y)", net.loss, x.copy(), np.array(target))
        if not (isinstance(res, tuple) and len(res) == 2):
            raise ValueError(f"{label}.loss(X, y) must return (loss, grads), got {type(res).__name__}")
        return float(res[0]), _grads_from_dict(res[1], len(pairs), f"{label}.loss(X, y)")
    return Program("cs231n", label, pairs, False, forward, run)


def backprop(net) -> Program:
    """Nielsen's network.py: weights [(out, in)], biases [(out, 1)], per-sample backprop."""
    label = type(net).__name__
    ws, bs = getattr(net, "weights", None), getattr(net, "biases", None)
    if not isinstance(ws, list) or not isinstance(bs, list) or len(ws) != len(bs) or not ws:
        raise ValueError(f"{label}: backprop(x, y) style needs lists net.weights and net.biases of equal length")

    def grads(x, y):
        res = call_user(f"{label}.backprop", net.backprop, x, y)
        if not (isinstance(res, tuple) and len(res) == 2):
            raise ValueError(f"{label}.backprop(x, y) must return (nabla_b, nabla_w), got {type(res).__name__}")
        return [(w, b) for w, b in zip(res[1], res[0])]
    return _per_sample("backprop", label, list(zip(ws, bs)), getattr(net, "feedforward", None), grads)


def persample(forward_fn, backprop_fn, params) -> Program:
    """A pair (forward(x) -> out, backprop(x, y) -> [(dW, db), ...]) for ONE sample as a column,
    with params [(W (out, in), b (out, 1)), ...] (PyDeepLearning's compute_outputs and
    compute_weight_and_bias_deltas at lr 1): run per sample and averaged by the tool."""
    label = getattr(backprop_fn, "__name__", "backprop")
    pairs = [tuple(pair) for pair in params]
    if not pairs or any(len(pair) != 2 for pair in pairs):
        raise ValueError("params: give [(W, b), ...], one pair per layer, for a per-sample (forward, backprop) pair")

    def grads(x, y):
        res = call_user(label, backprop_fn, x, y)
        if not isinstance(res, (list, tuple)) or len(res) != len(pairs):
            raise ValueError(f"{label}(x, y) must return [(dW, db), ...], one pair per layer, {len(pairs)} in all")
        return [tuple(pair) for pair in res]
    return _per_sample("persample", label, pairs, forward_fn, grads)


def _per_sample(style: str, label: str, pairs: list, feed, grads_of) -> Program:
    """A program run one sample at a time, each row of x handed as a column (D, 1) and its target
    as a column: grads_of(x, y) -> [(dW, db)] per sample, averaged over the batch by the tool."""
    def forward(x):
        if feed is None:
            return None
        where = f"{label}.{getattr(feed, '__name__', 'forward')}"
        return np.stack([np.asarray(call_user(where, feed, row.reshape(-1, 1).copy())).reshape(-1)
                         for row in x.reshape(len(x), -1)])

    def run(x, target):
        total = None
        for i, row in enumerate(x.reshape(len(x), -1)):
            t = np.asarray(target[i])
            res = grads_of(row.reshape(-1, 1).copy(), t.reshape(-1, 1).copy() if t.ndim else t.copy())
            grads = [(np.asarray(w, np.float64), np.asarray(b, np.float64)) for w, b in res]
            total = grads if total is None else [(tw + w, tb + b) for (tw, tb), (w, b) in zip(total, grads)]
        return None, [(w / len(x), b / len(x)) for w, b in total]  # batched by the tool: the mean
    return Program(style, label, pairs, True, forward, run)


def lmodel(forward_fn, backward_fn, parameters: dict) -> Program:
    """deeplearning.ai: L_model_forward(X, parameters) -> (AL, caches), L_model_backward(AL, Y,
    caches) -> grads dict, X (D, m) as columns."""
    label = getattr(forward_fn, "__name__", "forward")
    if not isinstance(parameters, dict):
        raise ValueError(f"params: the parameters dict W1, b1, ... that {label} takes, got {type(parameters).__name__}")
    pairs = _pairs_from_dict(parameters, "params")

    def params_copy():
        return _copy_tree(parameters)

    def forward(x):
        res = call_user(label, forward_fn, x.T.copy(), params_copy())
        al = res[0] if isinstance(res, tuple) else res
        return np.asarray(al).T

    def run(x, target):
        al, caches = call_user(label, forward_fn, x.T.copy(), params_copy())
        t = np.asarray(target)
        y = t.reshape(1, -1) if t.ndim == 1 else t.T
        grads = call_user(getattr(backward_fn, "__name__", "backward"), backward_fn, np.array(al), y.copy(), caches)
        return None, _grads_from_dict(grads, len(pairs), getattr(backward_fn, "__name__", "backward"))
    return Program("lmodel", label, pairs, True, forward, run)


def read(net, params) -> Program:
    """The style of `net`: a (forward, backward) pair with params, a backprop object, or a
    loss(X, y) object with a params dict."""
    if isinstance(net, (tuple, list)) and len(net) == 2 and all(callable(f) for f in net):
        return persample(*net, params) if isinstance(params, (list, tuple)) else lmodel(net[0], net[1], params)
    if params is not None:
        raise ValueError("params: only for a (L_model_forward, L_model_backward) pair; an object keeps its own")
    if callable(getattr(net, "backprop", None)):
        return backprop(net)
    if callable(getattr(net, "loss", None)) and isinstance(getattr(net, "params", None), dict):
        return cs231n(net)
    raise ValueError(f"net: {type(net).__name__} is none of the program styles: an object with loss(X, y) and a "
                     f"params dict (CS231n), an object with backprop(x, y), weights and biases (network.py), "
                     f"or a pair (L_model_forward, L_model_backward) with params=")
