"""A user's CS231n function pairs as layers in torch's layout, for the harness: parameters held
as torch's (embedding 'weight'; recurrent 'weight_ih_l0' (G*H, D), 'weight_hh_l0', 'bias_ih_l0',
'bias_hh_l0' in torch's gate order; affine 'weight' (V, H), 'bias'), turned into the user's
(W_embed; Wx (D, G*H), Wh, b in their gate order; w (H, V), b) at every call, copies handed over.
The recurrent layer's step_side() shows it step by step (recurrent_steps.StepSide): its own
step functions judged on torch's inputs, its sequence function's states and dx."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

import reference.recurrent as RR

from ...recurrent_sides import PARAMS, LayerSide, SideRun
from ..shared.adapters import UserLayer
from .functions import TORCH_ORDER, Functions, returned, shaped, to_torch, to_user


class UserEmbedding(UserLayer):
    """word_embedding_forward(x (N, T) ints, W (V, D)) -> (out (N, T, D), cache);
    word_embedding_backward(dout, cache) -> dW. dL/d(indices) is zero."""
    kind = "embedding"

    def __init__(self, index: int, fns: Functions, w: np.ndarray) -> None:
        super().__init__(index, "word_embedding")
        self._f, self._b = fns.need("word_embedding_forward", "word_embedding_backward")
        self.params = {"weight": np.array(w, copy=True)}

    def forward(self, x):
        self._x = x
        idx = np.rint(x).astype(np.int64)
        out, cache = returned(self.call("word_embedding_forward", self._f, idx, self.params["weight"]),
                               "word_embedding_forward", "out, cache")
        self._cache = [cache]
        return shaped(out, (*idx.shape, self.params["weight"].shape[1]), "word_embedding_forward's out")

    def backward(self, dy):
        (cache,) = self._take_cache()  # a user's cache may be None
        dw = self.call("word_embedding_backward", self._b, dy, extra=(cache,))
        self.set_grads({"weight": shaped(dw, self.params["weight"].shape, "word_embedding_backward's dW")}, len(dy))
        return np.zeros(np.shape(self._x), dy.dtype)

    def twin(self) -> nn.Module:
        return RR.Embedding(*self.params["weight"].shape)

    def twin_causes(self) -> list[str]:
        return ["its lookup (taken as W[x], W (vocabulary, D))"]

    def describe(self) -> str:
        return "word_embedding({}x{})".format(*self.params["weight"].shape)


class UserTemporalAffine(UserLayer):
    """temporal_affine_forward(x (N, T, H), w (H, V), b) -> (out (N, T, V), cache);
    temporal_affine_backward(dout, cache) -> (dx, dw, db)."""
    kind = "temporal_affine"

    def __init__(self, index: int, fns: Functions, w: np.ndarray, b: np.ndarray) -> None:
        super().__init__(index, "temporal_affine")
        self._f, self._b = fns.need("temporal_affine_forward", "temporal_affine_backward")
        self.params = {"weight": np.array(np.asarray(w).T, copy=True), "bias": np.array(b, copy=True)}

    def forward(self, x):
        self._x = x
        w = self.params["weight"]
        out, cache = returned(self.call("temporal_affine_forward", self._f, x, w.T, self.params["bias"]),
                               "temporal_affine_forward", "out, cache")
        self._cache = [cache]
        return shaped(out, (*x.shape[:2], w.shape[0]), "temporal_affine_forward's out")

    def backward(self, dy):
        (cache,) = self._take_cache()  # a user's cache may be None
        dx, dw, db = returned(self.call("temporal_affine_backward", self._b, dy, extra=(cache,)),
                               "temporal_affine_backward", "dx, dw, db")
        w = self.params["weight"]
        self.set_grads({"weight": shaped(dw, w.T.shape, "temporal_affine_backward's dw").T,
                        "bias": shaped(db, w.shape[:1], "temporal_affine_backward's db")}, len(dy))
        return self.checked_dx(np.asarray(dx))

    def twin(self) -> nn.Module:
        out, inp = self.params["weight"].shape
        return nn.Linear(inp, out)

    def twin_causes(self) -> list[str]:
        return ["its affine map (taken as x @ w + b at every step, w (H, V))"]

    def describe(self) -> str:
        out, inp = self.params["weight"].shape
        return f"temporal_affine({inp}->{out})"


class _InitialState:
    """A torch recurrent module started from the user's h0 (None: zeros), in its own dtype."""
    h0: np.ndarray | None = None

    @property
    def initial_state(self):
        if self.h0 is None:
            return None
        h = torch.as_tensor(self.h0[None], dtype=self.weight_ih_l0.dtype)
        return (h, torch.zeros_like(h)) if isinstance(self, nn.LSTM) else (h,)


class TwinRNN(_InitialState, RR.RNN):
    pass


class TwinLSTM(_InitialState, RR.LSTM):
    pass


class UserRecurrent(UserLayer):
    """rnn_forward(x (N, T, D), h0, Wx, Wh, b) -> (h (N, T, H), cache), rnn_backward(dh, cache) ->
    (dx, dh0, dWx, dWh, db); lstm_* alike; the step pairs judge each step. `order`: the user's
    LSTM gate order ('' for a vanilla RNN)."""
    kind = "rnn_tanh"

    def __init__(self, index: int, fns: Functions, cell: str, order: str, wx, wh, b, h0=None,
                 one_step_sequences: bool = True) -> None:
        super().__init__(index, cell)
        self.cell, self.order, self.fns, self.kind = cell, order, fns, "lstm" if cell == "lstm" else "rnn_tanh"
        self._f, self._b = fns.need(f"{cell}_forward", f"{cell}_backward")
        # without a step pair, a step alone is the sequence function on one step from any h: an
        # RNN's (an LSTM's cannot start from a c0), where it takes the h0 it is given
        self.one_step_sequences = one_step_sequences and cell == "rnn"
        self.steps = (fns.rnn_step_forward, fns.rnn_step_backward) if cell == "rnn" else \
            (fns.lstm_step_forward, fns.lstm_step_backward)
        self.params = {"weight_ih_l0": np.ascontiguousarray(to_torch(np.asarray(wx), order, 1).T),
                       "weight_hh_l0": np.ascontiguousarray(to_torch(np.asarray(wh), order, 1).T),
                       "bias_ih_l0": np.array(to_torch(np.asarray(b), order, 0), copy=True),
                       "bias_hh_l0": np.zeros(np.shape(b), np.asarray(b).dtype)}
        self.h0 = None if h0 is None else np.array(h0, copy=True)
        self.hidden = np.shape(wh)[0]
        self.dh0: np.ndarray | None = None  # dL/dh0 from the last backward

    def user_weights(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(Wx, Wh, b) in the user's layout and gate order; b = torch's bias_ih + bias_hh."""
        p = self.params
        return (to_user(p["weight_ih_l0"].T, self.order, 1), to_user(p["weight_hh_l0"].T, self.order, 1),
                to_user(p["bias_ih_l0"] + p["bias_hh_l0"], self.order, 0))

    def torch_grads(self, dwx, dwh, db) -> tuple[np.ndarray, ...]:
        """The user's (dWx, dWh, db) as torch's (weight_ih, weight_hh, bias_ih, bias_hh) gradients."""
        wx, wh, b = self.user_weights()
        dwx = shaped(dwx, wx.shape, f"{self.cell}'s dWx")
        dwh = shaped(dwh, wh.shape, f"{self.cell}'s dWh")
        db = to_torch(shaped(db, b.shape, f"{self.cell}'s db"), self.order, 0)
        return to_torch(dwx, self.order, 1).T, to_torch(dwh, self.order, 1).T, db, db

    def initial_states(self, n: int, dtype) -> list[tuple]:
        h0 = np.zeros((n, self.hidden), dtype) if self.h0 is None else self.h0.astype(dtype)
        return [(h0, np.zeros_like(h0)) if self.cell == "lstm" else (h0,)]

    def forward(self, x):
        self._x = x
        h0 = self.initial_states(len(x), x.dtype)[0][0]
        h, cache = returned(self.call(f"{self.cell}_forward", self._f, x, h0, *self.user_weights()),
                             f"{self.cell}_forward", "h, cache")
        self._cache = [cache]
        return shaped(h, (*x.shape[:2], self.hidden), f"{self.cell}_forward's h")

    def backward(self, dy):
        (cache,) = self._take_cache()  # a user's cache may be None
        dx, dh0, dwx, dwh, db = returned(self.call(f"{self.cell}_backward", self._b, dy, extra=(cache,)),
                                          f"{self.cell}_backward", "dx, dh0, dWx, dWh, db")
        self.dh0 = None if dh0 is None else shaped(dh0, (len(dy), self.hidden), f"{self.cell}_backward's dh0")
        self.set_grads(dict(zip((f"{n}_l0" for n in PARAMS), self.torch_grads(dwx, dwh, db))), len(dy))
        return self.checked_dx(np.asarray(dx))

    @property
    def stepwise(self) -> bool:
        """Can a step be run alone, on torch's inputs?"""
        return self.steps[0] is not None and self.steps[1] is not None or self.one_step_sequences

    def step(self, x, prev: tuple):
        """(state', cache) of one step on x (N, D) from `prev`: the user's step function, or their
        sequence function on a one-step sequence where they give no step pair; None where neither."""
        if not self.stepwise:
            return None
        w = self.user_weights()
        if self.cell == "lstm":
            h, c, cache = returned(self.call("lstm_step_forward", self.steps[0], x, *prev, *w),
                                    "lstm_step_forward", "next_h, next_c, cache")
            return (np.asarray(h), np.asarray(c)), cache
        if self.steps[0] is not None:
            h, cache = returned(self.call("rnn_step_forward", self.steps[0], x, prev[0], *w),
                                 "rnn_step_forward", "next_h, cache")
            return (np.asarray(h),), cache
        h, cache = returned(self.call("rnn_forward", self._f, x[:, None], prev[0], *w), "rnn_forward", "h, cache")
        return (np.asarray(h)[:, 0],), cache

    def step_back(self, x, prev: tuple, dstate: tuple) -> tuple:
        """(dx, handed state gradients, torch's parameter gradients) of one step given dL/d state';
        None where a step cannot be run alone."""
        if not self.stepwise:
            return None
        _, cache = self.step(x, prev)
        if self.cell == "lstm":
            dx, dh, dc, *dw = returned(self.call("lstm_step_backward", self.steps[1], *dstate, extra=(cache,)),
                                        "lstm_step_backward", "dx, dprev_h, dprev_c, dWx, dWh, db")
            return np.asarray(dx), (np.asarray(dh), np.asarray(dc)), self.torch_grads(*dw)
        if self.steps[1] is not None:
            dx, dh, *dw = returned(self.call("rnn_step_backward", self.steps[1], dstate[0], extra=(cache,)),
                                    "rnn_step_backward", "dx, dprev_h, dWx, dWh, db")
            return np.asarray(dx), (np.asarray(dh),), self.torch_grads(*dw)
        dx, dh, *dw = returned(self.call("rnn_backward", self._b, dstate[0][:, None], extra=(cache,)),
                                "rnn_backward", "dx, dh0, dWx, dWh, db")
        return np.asarray(dx)[:, 0], (None if dh is None else np.asarray(dh),), self.torch_grads(*dw)

    def step_side(self) -> "UserSteps":
        return UserSteps(self)

    def twin(self) -> nn.Module:
        d, h = self.params["weight_ih_l0"].shape[1], self.hidden
        module = TwinLSTM(d, h, batch_first=True) if self.cell == "lstm" else TwinRNN(d, h, batch_first=True)
        module.h0 = self.h0
        return module

    def twin_causes(self) -> list[str]:
        """What the twin took of this layer that the user's forward may compute otherwise."""
        if self.cell == "lstm":
            return [f"its gate order (taken as {self.order!r}; declare gate_order=)"]
        return ["its nonlinearity (taken as tanh, CS231n's)"]

    def describe(self) -> str:
        order = f", gates {self.order}" if self.order else ""
        return f"{self.cell}({self.params['weight_ih_l0'].shape[1]}->{self.hidden}{order})"


class UserSteps(LayerSide):
    """A UserRecurrent step by step (recurrent_steps.StepSide): its sequence function shows
    its states h and dx; its per-step totals, carries and parameter shares stay inside its loop."""
    stacks = 1
    param_names = PARAMS

    def run(self, x: np.ndarray, upstream: np.ndarray) -> list[SideRun]:
        dtype = self.layer.params["weight_ih_l0"].dtype
        x = x.astype(dtype)
        h = self.layer.forward(x)
        dx = self.layer.backward(upstream.astype(dtype))
        h0 = self.initial_states(len(x), dtype)[0][0]
        states = [np.concatenate([h0[None], np.swapaxes(h, 0, 1)])] + [None] * (self.layer.cell == "lstm")
        dh0 = () if self.layer.dh0 is None else (self.layer.dh0,)
        return [SideRun(states, np.swapaxes(dx, 0, 1), dstate0=dh0)]

    def step_forward(self, k: int, x, prev: tuple) -> tuple | None:
        out = self.layer.step(x, prev)
        return None if out is None else out[0]

    def step_backward(self, k: int, x, prev: tuple, dstate: tuple) -> tuple:
        return self.layer.step_back(x, prev, dstate)

    def carry_in(self, dout, carried):
        return None  # the user's carry is inside their backward loop

    def gate_phrase(self, order: tuple[int, ...]) -> str:
        """What torch's cell with its gate blocks taken in `order` (recurrent_slips._gate_order)
        says of the user's step: the gate order it computes, against the one declared."""
        declared = self.layer.order
        if not declared:
            return ""
        own = [""] * 4
        for p, k in enumerate(order):  # the user's block of gate TORCH_ORDER[k] is read as TORCH_ORDER[p]
            own[declared.index(TORCH_ORDER[k])] = TORCH_ORDER[p]
        found = "".join(own)
        return f"gates in the order {found!r} where you declared {declared!r}: declare gate_order={found!r}"
