"""Planted recurrent bugs in the CS231n convention (byo.recurrent), each with its clean twin: the
functions of examples/byo_rnn_cs231n.py as a student's module, one replaced by a slip (the
module's own sequence functions then call it, as a student's do). Each row names the culprit
layer (0 word embedding, 1 rnn/lstm, 2 temporal affine, -1 the loss), the step where the steps
first go wrong (the culprit step if one is wrong on torch's inputs; None where no step is) and
the slip's name."""
from __future__ import annotations

import importlib.util
import pathlib

import numpy as np

from .case import Case

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"
T = 12
CLIP_BITES = 5  # the clean batch's total dh first exceeds 4.5 at step 5, going back from T - 1


def _load(example: str):
    """A fresh module of examples/<example>.py (its own copy: a row may replace its functions)."""
    spec = importlib.util.spec_from_file_location(f"corpus_{example}", EXAMPLES / f"{example}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _example():
    return _load("byo_rnn_cs231n")


CS = _example()


def functions(**changed):
    """A fresh copy of the example's module with some functions replaced by a slip."""
    module = _example()
    for name, fn in changed.items():
        setattr(module, name, fn)
    return module


def model(cell="rnn", steps=T, dtype=np.float64, **changed):
    """byo.recurrent of the example's captioning batch with `changed` functions; an LSTM declared
    in CS231n's gate order unless gate_order= says otherwise."""
    from crosscheck import byo
    params, x, y, mask = CS.captioning_batch(cell, steps=steps)
    params = {k: v.astype(dtype) for k, v in params.items()}
    gate = {"gate_order": changed.pop("gate_order", "ifog")} if cell == "lstm" else {}
    return byo.recurrent(functions(**changed), params, x, y, mask, name=f"cs231n {cell}", **gate)


def _rnn_backward(bug):
    def rnn_backward(dh, cache):
        n, steps, hidden = dh.shape
        dx, dWx, dWh, db = np.zeros((n, steps, cache[0][0].shape[1])), 0, 0, 0
        dprev = np.zeros((n, hidden))
        for t in (range(steps) if bug == "forward_time" else reversed(range(steps))):
            total = dh[:, t] if bug == "no_carry" else dh[:, t] + dprev
            if bug == "clip_loop":
                total = np.clip(total, -4.5, 4.5)
            dx[:, t], dprev, dWx_t, dWh_t, db_t = CS.rnn_step_backward(total, cache[t])
            if bug == "last_only" and t != steps - 1:
                continue
            dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t
        if bug == "clip_params":
            dWh = np.clip(dWh, -0.3, 0.3)
        return dx, dprev, dWx, dWh, db
    return rnn_backward


def _lstm_backward(bug):
    def lstm_backward(dh, cache):
        n, steps, hidden = dh.shape
        dx, dWx, dWh, db = np.zeros((n, steps, cache[0][0].shape[1])), 0, 0, 0
        dprev_h = dprev_c = np.zeros((n, hidden))
        for t in reversed(range(steps)):
            carried_c = 0 * dprev_c if bug == "no_dc" else dprev_c
            total_h = dh[:, t] if bug == "no_dh" else dh[:, t] + dprev_h
            dx[:, t], dprev_h, dprev_c, *dw = CS.lstm_step_backward(total_h, carried_c, cache[t])
            if bug == "last_only" and t != steps - 1:
                continue
            dWx, dWh, db = (a + b for a, b in zip((dWx, dWh, db), dw))
        return dx, dprev_h, dWx, dWh, db
    return lstm_backward


def _tanh_at_output(dnext_h, cache):
    x, prev_h, Wx, Wh, next_h = cache
    da = dnext_h * (1 - np.tanh(next_h) ** 2)  # tanh' at tanh(a)
    return da @ Wx.T, da @ Wh.T, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def _embedding_assigned(dout, cache):
    x, W = cache
    dW = np.zeros_like(W)
    dW[x] = dout  # a repeated word keeps one gradient
    return dW


def _loss(bug):
    def temporal_softmax_loss(x, y, mask):
        n = len(x)
        m = np.ones_like(mask) if bug == "mask_ignored" else mask
        loss, dx = CS.temporal_softmax_loss(x, y, m)
        scale = n / m.sum() if bug == "per_token" else 1.0
        return loss * scale, dx * scale
    return temporal_softmax_loss


IFOG_OF_IFGO = [0, 1, 3, 2]  # CS231n's blocks (i, f, o, g) taken from torch-ordered ones (i, f, g, o)


def _blocks(a, order):
    return np.concatenate([np.split(a, 4, axis=-1)[k] for k in order], axis=-1)


def _lstm_step_forward_ifgo(x, prev_h, prev_c, Wx, Wh, b):
    """A right LSTM step with its gates in torch's order (i, f, g, o), declared CS231n's."""
    return CS.lstm_step_forward(x, prev_h, prev_c, *(_blocks(a, IFOG_OF_IFGO) for a in (Wx, Wh, b)))


def _lstm_step_backward_ifgo(dnext_h, dnext_c, cache):
    dx, dh, dc, *dw = CS.lstm_step_backward(dnext_h, dnext_c, cache)
    return (dx, dh, dc, *(_blocks(a, IFOG_OF_IFGO) for a in dw))  # the permutation is its own inverse


def _rnn_step_forward_no_bias(x, prev_h, Wx, Wh, b):
    next_h = np.tanh(x @ Wx + prev_h @ Wh)  # b left out
    return next_h, (x, prev_h, Wx, Wh, next_h)


def _lstm_step_backward_no_tanh_prime(dnext_h, dnext_c, cache):
    """dc takes dh * o without tanh'(c)."""
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, tanh_c = cache
    dc = dnext_c + dnext_h * o
    da = np.concatenate([dc * g * i * (1 - i), dc * prev_c * f * (1 - f),
                         dnext_h * tanh_c * o * (1 - o), dc * i * (1 - g ** 2)], axis=1)
    return da @ Wx.T, da @ Wh.T, dc * f, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def _affine_backward_last_step(dout, cache):
    x, w = cache
    dx = dout @ w.T
    return dx, x[:, -1].T @ dout[:, -1], dout.sum(axis=(0, 1))  # dw from the last step only


def _affine_forward_no_bias(x, w, b):
    return x @ w, (x, w)


SLIPS = {  # name: (cell, replaced functions, (layer, step, quantity) of the steps or None, culprit layer, slip)
    "missing dh_next": ("rnn", {"rnn_backward": _rnn_backward("no_carry")}, (0, T - 2, "dx"), 1,
                        "carried dh_next is missing"),
    "backward loop forward in time": ("rnn", {"rnn_backward": _rnn_backward("forward_time")}, (0, T - 1, "dx"), 1,
                                      "backward loop runs forward in time"),
    "params from the last step only": ("rnn", {"rnn_backward": _rnn_backward("last_only")}, None, 1,
                                       "last step's share only"),
    "tanh' at the output": ("rnn", {"rnn_step_backward": _tanh_at_output}, (0, T - 1, "dx"), 1,
                            "tanh' taken at the output"),
    "parameters clipped": ("rnn", {"rnn_backward": _rnn_backward("clip_params")}, None, 1, "clipped to [-0.3, 0.3]"),
    "embedding assigned": ("rnn", {"word_embedding_backward": _embedding_assigned}, None, 0,
                           "embedding gradient assigned, not accumulated"),
    "mask ignored": ("rnn", {"temporal_softmax_loss": _loss("mask_ignored")}, None, -1, "the mask is ignored"),
    "loss per token": ("lstm", {"temporal_softmax_loss": _loss("per_token")}, None, -1,
                       "divided by the 42 unmasked tokens where it is divided by the batch N = 4"),
    "missing dc_next": ("lstm", {"lstm_backward": _lstm_backward("no_dc")}, (0, T - 2, "dx"), 1,
                        "carried dc_next is missing"),
    "missing dh_next (lstm)": ("lstm", {"lstm_backward": _lstm_backward("no_dh")}, (0, T - 2, "dx"), 1,
                               "carried dh_next is missing"),
    "lstm params from the last step only": ("lstm", {"lstm_backward": _lstm_backward("last_only")}, None, 1,
                                            "last step's share only"),
    "clipped inside the loop": ("rnn", {"rnn_backward": _rnn_backward("clip_loop")}, (0, CLIP_BITES, "dx"), 1,
                                "dh clipped to [-4.5, 4.5] in the backward loop"),
    "rnn step without its bias": ("rnn", {"rnn_step_forward": _rnn_step_forward_no_bias}, (0, 0, "h"), 1, None),
    "lstm dc without tanh'": ("lstm", {"lstm_step_backward": _lstm_step_backward_no_tanh_prime}, (0, T - 1, "dx"),
                              1, "tanh'(c) left out: dc gets dh * o"),
    "temporal affine dw from the last step": ("rnn", {"temporal_affine_backward": _affine_backward_last_step},
                                              None, 2, None),
    "temporal affine without its bias": ("lstm", {"temporal_affine_forward": _affine_forward_no_bias}, None, 2, None),
    "gates in another order": ("lstm", {"lstm_step_forward": _lstm_step_forward_ifgo,
                                        "lstm_step_backward": _lstm_step_backward_ifgo}, (0, 0, "h"), 1,
                               "gates in the order 'ifgo' where you declared 'ifog': declare gate_order='ifgo'"),
}


# --- layer objects (examples/byo_rnn_objects.py) -----------------------------------------------

OBJ = _load("byo_rnn_objects")


class _NoCarryRNN(OBJ.RNN):
    def backward(self, dh):
        dx = np.zeros_like(self.x)
        self.dWx, self.dWh, self.db = np.zeros_like(self.Wx), np.zeros_like(self.Wh), np.zeros_like(self.b)
        for t in reversed(range(dh.shape[1])):
            da = dh[:, t] * (1 - self.hs[t + 1] ** 2)  # the carried dh_next left out
            dx[:, t] = da @ self.Wx.T
            self.dWx += self.x[:, t].T @ da
            self.dWh += self.hs[t].T @ da
            self.db += da.sum(axis=0)
        return dx


class _AssigningRNN(OBJ.RNN):
    def backward(self, dh):
        dx = np.zeros_like(self.x)
        dnext = np.zeros_like(self.hs[0])
        for t in reversed(range(dh.shape[1])):
            da = (dh[:, t] + dnext) * (1 - self.hs[t + 1] ** 2)
            dx[:, t] = da @ self.Wx.T
            self.dWx, self.dWh, self.db = self.x[:, t].T @ da, self.hs[t].T @ da, da.sum(axis=0)  # = not +=
            dnext = da @ self.Wh.T
        return dx, dnext


class _AssigningEmbedding(OBJ.Embedding):
    def backward(self, dout):
        self.dW = np.zeros_like(self.W)
        self.dW[self.x] = dout


def objects_model(rnn_cls=OBJ.RNN, embedding_cls=OBJ.Embedding):
    """byo.recurrent_objects of the example's objects, some replaced by a class with a slip."""
    from crosscheck import byo
    rng = np.random.default_rng(0)
    vocab, steps = 9, T
    captions = rng.integers(0, vocab, (4, steps + 1))
    mask = np.ones((4, steps), bool)
    mask[0, steps // 2:] = False
    return byo.recurrent_objects(rnn_cls(5, 6, rng), OBJ.TemporalAffine(6, vocab, rng), captions[:, :-1],
                                 captions[:, 1:], mask, embedding=embedding_cls(vocab, 5, rng),
                                 loss_fn=OBJ.temporal_softmax_loss, name="rnn objects")


OBJECT_SLIPS = {  # name: (replaced classes, steps' (layer, step, quantity) or None, culprit layer, slip)
    "objects: missing dh_next": ({"rnn_cls": _NoCarryRNN}, (0, T - 2, "dx"), 1, "carried dh_next is missing"),
    "objects: gradients assigned, not summed": ({"rnn_cls": _AssigningRNN}, None, 1, "the first step's share only"),
    "objects: embedding assigned": ({"embedding_cls": _AssigningEmbedding}, None, 0,
                                    "embedding gradient assigned, not accumulated"),
}


def cases() -> list[Case]:
    out = []
    for name, (cell, changed, step, layer, slip) in SLIPS.items():
        out.append(Case(f"recurrent-cs231n-{cell}", name, lambda cell=cell: model(cell),
                        lambda cell=cell, changed=changed: model(cell, **changed), layer, slip, step))
    for name, (changed, step, layer, slip) in OBJECT_SLIPS.items():
        out.append(Case("recurrent-objects", name, objects_model, lambda changed=changed: objects_model(**changed),
                        layer, slip, step))
    return out
