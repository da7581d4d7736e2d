"""byo.recurrent: a user's CS231n-style recurrent functions checked as CS231n's captioning RNN,
(word embedding ->) rnn or lstm over the sequence -> temporal affine -> temporal softmax loss
with a mask, against its torch twin, layer by layer and step by step."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from numpy_impl import Sequential

from ...recurrent_slips import MASK_FILL
from ...user_code import call_user
from ..shared import validate as V
from ..shared.model import UserModel, dtype_of
from .functions import CS231N_ORDER, check_order, find_functions, probe_gate_order, returned, shaped
from .layers import UserEmbedding, UserRecurrent, UserTemporalAffine

CELLS = {1: "rnn", 4: "lstm"}  # Wh's columns per hidden unit


@dataclass
class RecurrentModel(UserModel):
    """A user's recurrent model, adapted: x (N, T) tokens carried as floats (with an embedding)
    or (N, T, D); target (N, T) labels, -1 where the mask is False; loss 'temporal_ce'."""


def recurrent(funcs, params: dict, x, y, mask=None, *, h0=None, cell: str | None = None,
              gate_order: str | None = None, name: str = "recurrent", one_step: bool = True) -> RecurrentModel:
    """Your CS231n functions as one model for byo.check.

    Args:
        funcs: a module, namespace, object or dict with word_embedding_*, rnn_step_*, rnn_*,
            lstm_step_*, lstm_*, temporal_affine_* and temporal_softmax_loss (functions.py).
        params: CS231n's CaptioningRNN names: "Wx" (D, H) or (D, 4H), "Wh" (H, H) or (H, 4H),
            "b", "W_vocab" (H, V), "b_vocab" (V,); "W_embed" (V_in, D) for token inputs.
        x: (N, T) token indices with W_embed, else (N, T, D) inputs.
        y: (N, T) integer labels in [0, V). mask: (N, T) booleans, False on padded steps
            (their label is handed to your loss as 0, CS231n's <NULL>); None: every step counts.
        h0: (N, H) initial hidden state; None: zeros. cell: "rnn" or "lstm", else told by Wh.
        gate_order: your LSTM's gate blocks, e.g. "ifog" (CS231n's); else told by probing
            lstm_step_forward against torch's cell for every order.
        one_step: may rnn_forward run one step from any h0 (a step alone, without rnn_step_*)?"""
    fns, p = find_functions(funcs), _params(params)
    cell = _cell(p["Wh"], cell)
    dtype = dtype_of(*p.values())
    notes: list[str] = []
    order = _gate_order(fns, p, gate_order, notes) if cell == "lstm" else ""
    x = _inputs(x, p, dtype)
    n, t = x.shape[:2]
    hidden = p["Wh"].shape[0]
    if h0 is not None:
        h0 = _shaped_input(h0, (n, hidden), "h0", dtype)
    target = _target(y, mask, (n, t), p["W_vocab"].shape[1])
    layers = [UserEmbedding(0, fns, p["W_embed"])] if "W_embed" in p else []
    layers.append(UserRecurrent(len(layers), fns, cell, order, p["Wx"], p["Wh"], p["b"], h0, one_step))
    if not layers[-1].stepwise:
        notes.append(f"no {cell}_step_forward/backward given: each time step is compared as your {cell}_forward/"
                     f"backward leave it (where the steps first go wrong), none judged alone on torch's inputs")
    layers.append(UserTemporalAffine(len(layers), fns, p["W_vocab"], p["b_vocab"]))
    gates = " (gate blocks in torch's order i, f, g, o)" if cell == "lstm" else ""
    notes.append(f"rows name torch's parameters: weight_ih_l0 is your Wx.T, weight_hh_l0 your Wh.T{gates}; "
                 f"bias_ih_l0 and bias_hh_l0 both take your db")
    loss_fn = _user_loss(fns.temporal_softmax_loss) if fns.temporal_softmax_loss is not None else None
    if loss_fn is None:
        notes.append("no temporal_softmax_loss given: torch's masked temporal cross-entropy is used")
    return RecurrentModel(name, Sequential(layers), x, target, "temporal_ce", user_loss=loss_fn, notes=notes,
                          dtype=dtype)


def _params(params) -> dict[str, np.ndarray]:
    if not isinstance(params, dict):
        raise ValueError(f"byo.recurrent: params must be a dict of CS231n's names (Wx, Wh, b, W_vocab, b_vocab[, "
                         f"W_embed]), got {type(params).__name__}")
    missing = [k for k in ("Wx", "Wh", "b", "W_vocab", "b_vocab") if k not in params]
    if missing:
        raise ValueError(f"byo.recurrent: params lacks {', '.join(missing)}")
    out = {}
    for key in ("W_embed", "Wx", "Wh", "b", "W_vocab", "b_vocab"):
        if key in params:
            V.params(f"params[{key!r}]", params[key], None)
            out[key] = np.asarray(params[key])
    wx, wh, b, wv, bv = (out[k] for k in ("Wx", "Wh", "b", "W_vocab", "b_vocab"))
    g = wh.shape[1] if wh.ndim == 2 else 0
    if wh.ndim != 2 or wx.ndim != 2 or wx.shape[1] != g or b.shape != (g,) or wv.ndim != 2 \
            or wv.shape[0] != wh.shape[0] or bv.shape != (wv.shape[1],):
        raise ValueError(f"byo.recurrent: shapes Wx {wx.shape}, Wh {wh.shape}, b {b.shape}, W_vocab {wv.shape}, "
                         f"b_vocab {bv.shape} do not fit Wx (D, GH), Wh (H, GH), b (GH,), W_vocab (H, V), b_vocab (V,)")
    if "W_embed" in out and (out["W_embed"].ndim != 2 or out["W_embed"].shape[1] != wx.shape[0]):
        raise ValueError(f"byo.recurrent: W_embed {out['W_embed'].shape} must be (vocabulary, {wx.shape[0]})")
    return out


def _cell(wh: np.ndarray, declared: str | None) -> str:
    told = CELLS.get(wh.shape[1] // wh.shape[0]) if wh.shape[1] % wh.shape[0] == 0 else None
    if declared is not None and declared not in CELLS.values():
        raise ValueError(f"cell: 'rnn' or 'lstm', got {declared!r}")
    if told is None or (declared is not None and declared != told):
        raise ValueError(f"byo.recurrent: Wh of shape {wh.shape} is neither an RNN's (H, H) nor an LSTM's (H, 4H)"
                         + (f" for cell={declared!r}" if declared else ""))
    return told


def _gate_order(fns, p: dict, declared: str | None, notes: list[str]) -> str:
    if declared is not None:
        return check_order(declared)
    fwd = fns.lstm_step_forward
    if fwd is None:
        notes.append(f"no lstm_step_forward to probe: gates taken in CS231n's order {CS231N_ORDER!r} (declare "
                     f"gate_order=)")
        return CS231N_ORDER
    hidden = p["Wh"].shape[0]
    found = probe_gate_order(fwd, p["Wx"].shape[0], hidden)
    if found is None:
        notes.append(f"your lstm_step_forward matches torch's cell under no gate order: taken as CS231n's "
                     f"{CS231N_ORDER!r} (declare gate_order=)")
        return CS231N_ORDER
    notes.append(f"gate order {found!r} told from your lstm_step_forward (declare gate_order= to fix it)")
    return found


def _inputs(x, p: dict, dtype: str) -> np.ndarray:
    if "W_embed" not in p:
        arr = V.batch(x, dtype, name="x")
        if arr.ndim != 3 or arr.shape[2] != p["Wx"].shape[0]:
            raise ValueError(f"x: give (N, T, {p['Wx'].shape[0]}) inputs (or W_embed and tokens), got {arr.shape}")
        return arr
    arr = np.asarray(x)
    vocab = p["W_embed"].shape[0]
    if arr.ndim != 2 or arr.size == 0 or arr.dtype.kind not in "iu":
        raise ValueError(f"x: give (N, T) integer token indices, got {arr.dtype} of shape {arr.shape}")
    if arr.min() < 0 or arr.max() >= vocab:
        raise ValueError(f"x: token indices must lie in [0, {vocab}), got [{arr.min()}, {arr.max()}]")
    return arr.astype(dtype)


def _shaped_input(a, shape: tuple, name: str, dtype: str) -> np.ndarray:
    arr = V.batch(a, dtype, name=name)
    if arr.shape != shape:
        raise ValueError(f"{name}: must be {shape}, got {arr.shape}")
    return arr


def _target(y, mask, shape: tuple, vocab: int) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != shape or y.dtype.kind not in "iu":
        raise ValueError(f"y: give (N, T) = {shape} integer labels, got {y.dtype} of shape {y.shape}")
    if y.min() < 0 or y.max() >= vocab:
        raise ValueError(f"y: labels must lie in [0, {vocab}), got [{y.min()}, {y.max()}]")
    if mask is None:
        return y.astype(np.int64)
    m = np.asarray(mask)
    if m.shape != shape or m.dtype.kind not in "bui":
        raise ValueError(f"mask: give (N, T) = {shape} booleans, got {m.dtype} of shape {m.shape}")
    return np.where(m.astype(bool), y, -1).astype(np.int64)


def _user_loss(fn):
    """temporal_softmax_loss(x (N, T, V), y (N, T), mask (N, T)) -> (loss, dx) as (pred, target)
    -> (value, dpred), the target's -1 handed over as label MASK_FILL with mask False."""
    def run(pred, target):
        mask = target != -1
        out = call_user("temporal_softmax_loss", fn, pred.copy(), np.where(mask, target, MASK_FILL), mask)
        value, grad = returned(out, "temporal_softmax_loss", "loss, dx")
        return float(np.asarray(value)), np.asarray(shaped(grad, pred.shape, "temporal_softmax_loss's dx"), pred.dtype)
    return run
