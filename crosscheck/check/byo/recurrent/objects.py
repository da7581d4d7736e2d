"""Recurrent layer objects (class RNN / LSTM with forward(x) and backward(dh), keeping Wx, Wh,
b and dWx, dWh, db) made into the CS231n functions byo.recurrent checks, so they go through the
same machinery: a temporal affine object (w or W, b; dw or dW, db), an embedding object (W; dW)
and a loss function (scores, y, mask) -> (loss, dscores) beside it.

Layouts are CS231n's: Wx (D, G*H), Wh (H, G*H), b (G*H,), w (H, V). A forward that takes an h0
(forward(x, h0)) lets each step be run alone on torch's inputs (an RNN's); one that does not is
compared step by step as its whole-sequence run leaves each step. The objects get our copies of
their parameters during the check and are left as they were after it (byo.check)."""
from __future__ import annotations

import inspect

import numpy as np

from ...user_code import WrongKind
from .model import RecurrentModel, recurrent

# (Wx, Wh, b) names tried in order; a gradient is d<name>, or grads[<name>] / grads["d<name>"]
RECURRENT_NAMES = (("Wx", "Wh", "b"), ("Wxh", "Whh", "bh"), ("W_xh", "W_hh", "b_h"), ("W_x", "W_h", "b"))
AFFINE_NAMES = (("w", "b"), ("W", "b"))
EMBEDDING_NAMES = (("W",), ("W_embed",), ("weight",))


def _names(obj, options, what: str) -> tuple[str, ...]:
    for names in options:
        if all(isinstance(getattr(obj, n, None), np.ndarray) for n in names):
            return names
    tried = "; ".join(", ".join(n) for n in options)
    raise ValueError(f"byo.recurrent_objects: your {what} ({type(obj).__name__}) holds none of: {tried}")


def _grad(obj, name: str, what: str) -> np.ndarray:
    """The gradient a backward left for parameter `name`: d<name>, or in a grads dict."""
    for holder in (vars(obj), getattr(obj, "grads", None) or {}):
        for key in (f"d{name}", name if holder is not vars(obj) else None):
            if key is not None and isinstance(holder.get(key), np.ndarray):
                return holder[key]
    raise ValueError(f"byo.recurrent_objects: your {what}'s backward left no d{name} (nor grads[{name!r}])")


def _takes_h0(forward) -> bool:
    try:
        params = list(inspect.signature(forward).parameters.values())
    except (TypeError, ValueError):
        return False
    return len([p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]) >= 2


def _sequence_pair(obj, names: tuple[str, ...], cell: str) -> dict:
    takes_h0 = _takes_h0(obj.forward)

    def forward(x, h0, wx, wh, b):
        for name, value in zip(names, (wx, wh, b)):
            setattr(obj, name, value)
        if takes_h0:
            return obj.forward(x, h0), None
        if np.any(h0):
            raise ValueError(f"byo.recurrent_objects: your {cell}'s forward(x) takes no h0; give none")
        return obj.forward(x), None

    def backward(dh, cache):
        out = obj.backward(dh)
        dx, dh0 = (out[0], out[1]) if isinstance(out, tuple) else (out, None)
        return (dx, dh0, *(_grad(obj, n, cell) for n in names))
    forward.__name__, backward.__name__ = f"{cell}_forward", f"{cell}_backward"
    return {f"{cell}_forward": forward, f"{cell}_backward": backward, "one_step": takes_h0}


def _affine_pair(obj, names: tuple[str, ...]) -> dict:
    def forward(x, w, b):
        setattr(obj, names[0], w)
        setattr(obj, names[1], b)
        return obj.forward(x), None

    def backward(dout, cache):
        return (obj.backward(dout), *(_grad(obj, n, "temporal affine") for n in names))
    return {"temporal_affine_forward": forward, "temporal_affine_backward": backward}


def _embedding_pair(obj, name: str) -> dict:
    def forward(x, w):
        setattr(obj, name, w)
        return obj.forward(x), None

    def backward(dout, cache):
        out = obj.backward(dout)
        return out if isinstance(out, np.ndarray) and out.shape == getattr(obj, name).shape else \
            _grad(obj, name, "embedding")
    return {"word_embedding_forward": forward, "word_embedding_backward": backward}


def recurrent_objects(rnn, affine, x, y, mask=None, *, embedding=None, loss_fn=None, h0=None,
                      gate_order: str | None = None, name: str = "recurrent objects") -> RecurrentModel:
    """Your recurrent layer objects as one model for byo.check (module docstring).

    Args:
        rnn: an RNN or LSTM object (told by Wh: (H, H) or (H, 4H)); affine: the temporal affine.
        x, y, mask, h0, gate_order: as byo.recurrent's. embedding: an object holding W (V, D)
            where x holds tokens. loss_fn: temporal_softmax_loss(scores, y, mask) -> (loss, dscores)."""
    for obj, what in ((rnn, "rnn"), (affine, "affine"), (embedding, "embedding")):
        if obj is not None and not all(callable(getattr(obj, m, None)) for m in ("forward", "backward")):
            raise WrongKind(f"byo.recurrent_objects: {what} must be a layer object with forward and backward, "
                            f"got {type(obj).__name__}")
    rnn_names, affine_names = _names(rnn, RECURRENT_NAMES, "rnn"), _names(affine, AFFINE_NAMES, "temporal affine")
    wh = getattr(rnn, rnn_names[1])
    cell = "lstm" if wh.ndim == 2 and wh.shape[1] == 4 * wh.shape[0] else "rnn"
    funcs = {**_sequence_pair(rnn, rnn_names, cell), **_affine_pair(affine, affine_names)}
    one_step = funcs.pop("one_step")
    params = {"Wx": getattr(rnn, rnn_names[0]), "Wh": wh, "b": getattr(rnn, rnn_names[2]),
              "W_vocab": getattr(affine, affine_names[0]), "b_vocab": getattr(affine, affine_names[1])}
    if embedding is not None:
        (emb_name,) = _names(embedding, EMBEDDING_NAMES, "embedding")
        funcs.update(_embedding_pair(embedding, emb_name))
        params["W_embed"] = getattr(embedding, emb_name)
    if loss_fn is not None:
        funcs["temporal_softmax_loss"] = loss_fn
    model = recurrent(funcs, params, x, y, mask, h0=h0, cell=cell, gate_order=gate_order, name=name,
                      one_step=one_step)
    for layer, obj in zip(model.model.layers, [o for o in (embedding, rnn, affine) if o is not None]):
        layer.obj = obj  # byo.check puts every attribute back afterwards
    return model
