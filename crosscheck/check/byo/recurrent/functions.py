"""A user's CS231n-style recurrent functions, found by name on anything that exposes them (a
module, a namespace, an object, a dict), and the gate order of their LSTM, declared or told
by probing their lstm_step_forward against torch's cell.

CS231n's layouts: Wx (D, G*H), Wh (H, G*H), one bias b (G*H,), gates as column blocks in the
user's order (CS231n's LSTM: i, f, o, g). torch's: weight_ih (G*H, D), weight_hh (G*H, H), rows
in (i, f, g, o), two biases; the user's b is torch's bias_ih + bias_hh."""
from __future__ import annotations

from dataclasses import dataclass, fields
from itertools import permutations
from typing import Callable, Mapping

import numpy as np
import torch

from reference.recurrent import torch_step

from ...user_code import WrongKind, call_user
from ...verdict import PROBE_MATCH

TORCH_ORDER = "ifgo"
CS231N_ORDER = "ifog"


@dataclass(frozen=True)
class Functions:
    """The user's functions (None where not given). Only the sequence functions of the cell
    used and temporal_affine_* are required; a step pair, where given, is what each step is
    judged by on torch's inputs, else the sequence pair run on one step."""
    word_embedding_forward: Callable | None = None
    word_embedding_backward: Callable | None = None
    rnn_step_forward: Callable | None = None
    rnn_step_backward: Callable | None = None
    rnn_forward: Callable | None = None
    rnn_backward: Callable | None = None
    lstm_step_forward: Callable | None = None
    lstm_step_backward: Callable | None = None
    lstm_forward: Callable | None = None
    lstm_backward: Callable | None = None
    temporal_affine_forward: Callable | None = None
    temporal_affine_backward: Callable | None = None
    temporal_softmax_loss: Callable | None = None

    def need(self, *names: str) -> tuple[Callable, ...]:
        """The functions `names`; a ValueError naming the first one missing."""
        missing = [n for n in names if getattr(self, n) is None]
        if missing:
            raise ValueError(f"byo.recurrent: your functions lack {missing[0]} (needed: {', '.join(names)})")
        return tuple(getattr(self, n) for n in names)


def find_functions(funcs) -> Functions:
    """The CS231n functions `funcs` exposes, as attributes or dict keys; anything it holds under
    those names must be callable."""
    if funcs is None:
        raise WrongKind("byo.recurrent: give your functions (a module, namespace, object or dict)")
    get = funcs.get if isinstance(funcs, Mapping) else (lambda name: getattr(funcs, name, None))
    found = {}
    for f in fields(Functions):
        fn = get(f.name)
        if fn is not None and not callable(fn):
            raise WrongKind(f"byo.recurrent: {f.name} is a {type(fn).__name__}, not a function")
        found[f.name] = fn
    return Functions(**found)


def returned(out, fn_name: str, names: str):
    """What a user's function returned, insisting on a tuple of len(names.split(', ')) items."""
    n = len(names.split(", "))
    if not isinstance(out, tuple) or len(out) != n:
        got = f"a tuple of {len(out)} items" if isinstance(out, tuple) else type(out).__name__
        raise ValueError(f"{fn_name} must return ({names}), got {got}")
    return out


def shaped(a, shape: tuple, what: str) -> np.ndarray:
    """`a` as an array, insisting on `shape`."""
    a = np.asarray(a)
    if a.shape != tuple(shape):
        raise ValueError(f"{what} has shape {a.shape}; it must be {tuple(shape)}")
    return a


def check_order(order: str) -> str:
    """A declared LSTM gate order: the four letters i, f, g, o in some order."""
    if not isinstance(order, str) or sorted(order) != sorted(TORCH_ORDER):
        raise ValueError(f"gate_order: four letters i, f, g, o in your order (CS231n's 'ifog'), got {order!r}")
    return order


def to_torch(a: np.ndarray, order: str, axis: int) -> np.ndarray:
    """The user's gate blocks along `axis` (in `order`) put in torch's order; '' : no gates."""
    if not order:
        return a
    blocks = np.split(a, 4, axis=axis)
    return np.concatenate([blocks[order.index(g)] for g in TORCH_ORDER], axis=axis)


def to_user(a: np.ndarray, order: str, axis: int) -> np.ndarray:
    """torch's gate blocks along `axis` put in the user's `order`."""
    if not order:
        return a
    blocks = np.split(a, 4, axis=axis)
    return np.concatenate([blocks[TORCH_ORDER.index(g)] for g in order], axis=axis)


def probe_gate_order(step_forward: Callable, d: int, h: int) -> str | None:
    """The gate order under which the user's lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)
    is torch's cell, on small random float64 arrays; None when no order explains it."""
    rng = np.random.default_rng(0)
    x, ph, pc = rng.standard_normal((2, d)), rng.standard_normal((2, h)), rng.standard_normal((2, h))
    wx, wh, b = rng.standard_normal((d, 4 * h)), rng.standard_normal((h, 4 * h)), rng.standard_normal(4 * h)
    out = call_user("lstm_step_forward (probing its gate order)", step_forward, x.copy(), ph.copy(), pc.copy(),
                    wx.copy(), wh.copy(), b.copy())
    mine = np.asarray(returned(out, "lstm_step_forward", "next_h, next_c, cache")[0], np.float64)
    for perm in permutations(TORCH_ORDER):
        order = "".join(perm)
        w = [torch.tensor(to_torch(a, order, -1).T) for a in (wx, wh)]
        ref = torch_step("lstm", torch.tensor(x), (torch.tensor(ph), torch.tensor(pc)), *w,
                         torch.tensor(to_torch(b, order, 0)), torch.zeros(4 * h, dtype=torch.float64))
        gap = np.max(np.abs(mine - ref[0].numpy())) if mine.shape == ref[0].shape else np.inf
        if gap <= PROBE_MATCH["float64"]:  # h lies in (-1, 1): an absolute bar is a relative one
            return order
    return None
