"""Pure forward/backward maths of recurrent cells, one time step and whole sequences.

torch's formulation and gate order. With xw = x W_ih^T + b_ih and hw = h W_hh^T + b_hh
(G*H columns each, G gates):
  rnn   h' = act(xw + hw)
  lstm  i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of (xw + hw); c' = f c + i g; h' = o tanh(c')
  gru   r, z = sigmoid((xw + hw)[r, z]); n = tanh(xw_n + r hw_n); h' = (1 - z) n + z h
A state is a tuple: (h,) for rnn and gru, (h, c) for lstm. Each cell's backward gives the
gradients of its two affine inputs, d xw and d hw (equal but for the GRU's n gate), and the
part of d(previous state) that does not pass through W_hh (the LSTM's f dc, the GRU's z dh).
Sequences run batch first, x (N, T, I); the input projection of all steps is one matmul, the
only Python loop runs over time, and parameter gradients are summed over steps in one matmul
from the stacked d xw and d hw."""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np

from .functional import sigmoid

Array = np.ndarray
State = tuple


# --- cells: forward(xw, hw, state) -> (state', cache); backward(dstate', cache) -> (dxw, dhw, direct) ---

def _rnn_forward(xw: Array, hw: Array, state: State, act: str):
    a = xw + hw
    h = np.tanh(a) if act == "tanh" else np.maximum(a, 0)
    return (h,), (a, h)


def _rnn_backward(dstate: State, cache, act: str) -> tuple[Array, Array, State]:
    a, h = cache
    da = dstate[0] * (1.0 - h * h if act == "tanh" else (a > 0).astype(a.dtype))
    return da, da, (None,)


def _lstm_forward(xw: Array, hw: Array, state: State):
    a = xw + hw
    H = a.shape[1] // 4
    s = sigmoid(a)  # one call for the whole block (g's quarter is not used): fewer, larger ops
    i, f, o = s[:, :H], s[:, H:2 * H], s[:, 3 * H:]
    g = np.tanh(a[:, 2 * H:3 * H])
    c = f * state[1] + i * g
    tc = np.tanh(c)
    return (o * tc, c), (i, f, g, o, tc, state[1])


def _lstm_backward(dstate: State, cache) -> tuple[Array, Array, State]:
    i, f, g, o, tc, c_prev = cache
    dh, dc = dstate
    dc = dc + dh * o * (1.0 - tc * tc)
    da = np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - g * g),
                         dh * tc * o * (1 - o)], axis=1)
    return da, da, (None, dc * f)


def _gru_forward(xw: Array, hw: Array, state: State):
    H = xw.shape[1] // 3
    h_prev = state[0]
    r = sigmoid(xw[:, :H] + hw[:, :H])
    z = sigmoid(xw[:, H:2 * H] + hw[:, H:2 * H])
    n = np.tanh(xw[:, 2 * H:] + r * hw[:, 2 * H:])
    return ((1 - z) * n + z * h_prev,), (r, z, n, hw[:, 2 * H:], h_prev)


def _gru_backward(dstate: State, cache) -> tuple[Array, Array, State]:
    r, z, n, hw_n, h_prev = cache
    dh = dstate[0]
    dn = dh * (1 - z) * (1 - n * n)
    dz = dh * (h_prev - n) * z * (1 - z)
    dr = dn * hw_n * r * (1 - r)
    dxw = np.concatenate([dr, dz, dn], axis=1)
    dhw = np.concatenate([dr, dz, dn * r], axis=1)
    return dxw, dhw, (dh * z,)


@dataclass(frozen=True)
class Cell:
    """One recurrent cell: `gates` blocks of H rows in W_ih, `states` arrays in its state."""
    gates: int
    states: int
    forward: Callable
    backward: Callable


CELLS = {"rnn_tanh": Cell(1, 1, partial(_rnn_forward, act="tanh"), partial(_rnn_backward, act="tanh")),
         "rnn_relu": Cell(1, 1, partial(_rnn_forward, act="relu"), partial(_rnn_backward, act="relu")),
         "lstm": Cell(4, 2, _lstm_forward, _lstm_backward), "gru": Cell(3, 1, _gru_forward, _gru_backward)}


def cell_of(kind: str) -> Cell:
    try:
        return CELLS[kind]
    except KeyError:
        raise ValueError(f"recurrent kind: unknown {kind!r}; choose from {', '.join(CELLS)}") from None


# --- one time step ------------------------------------------------------------------------

def step_forward(kind: str, x: Array, state: State, w_ih: Array, w_hh: Array, b_ih: Array, b_hh: Array):
    """x (N, I), state ((N, H)[, (N, H)]) -> (state', cache) for one step of cell `kind`."""
    hw = state[0] @ w_hh.T + b_hh
    new, inner = cell_of(kind).forward(x @ w_ih.T + b_ih, hw, state)
    return new, (kind, x, state[0], w_ih, w_hh, inner)


def hand_back(dhw: Array, direct: State, w_hh: Array) -> State:
    """What a step hands the step before it: dL/d its previous state, through W_hh and directly."""
    return (dhw @ w_hh + (direct[0] if direct[0] is not None else 0.0), *direct[1:])


def carry_in(dout: Array, carried: State) -> State:
    """The total dL/d a step's state: its output's gradient (from the loss or the layer above)
    plus what the next step handed back (the carried dh_next, dc_next)."""
    return (dout + carried[0], *carried[1:])


def step_backward(dstate: State, cache) -> tuple[Array, State, tuple[Array, Array, Array, Array]]:
    """dL/d state' (the total: from the output and from the next step) -> (dx, dL/d state,
    (dw_ih, dw_hh, db_ih, db_hh)) of this step alone."""
    kind, x, h_prev, w_ih, w_hh, inner = cache
    dxw, dhw, direct = cell_of(kind).backward(dstate, inner)
    return dxw @ w_ih, hand_back(dhw, direct, w_hh), (dxw.T @ x, dhw.T @ h_prev, dxw.sum(0), dhw.sum(0))


def rnn_step_forward(x, h_prev, w_ih, w_hh, b_ih, b_hh, nonlinearity: str = "tanh"):
    """(h (N, H), cache) of one vanilla RNN step."""
    (h,), cache = step_forward(f"rnn_{nonlinearity}", x, (h_prev,), w_ih, w_hh, b_ih, b_hh)
    return h, cache


def rnn_step_backward(dh, cache):
    """(dx, dh_prev, dw_ih, dw_hh, db_ih, db_hh) of one step, dh the total upstream gradient."""
    dx, (dh_prev,), dw = step_backward((dh,), cache)
    return (dx, dh_prev, *dw)


def lstm_step_forward(x, h_prev, c_prev, w_ih, w_hh, b_ih, b_hh):
    """(h, c, cache) of one LSTM step."""
    (h, c), cache = step_forward("lstm", x, (h_prev, c_prev), w_ih, w_hh, b_ih, b_hh)
    return h, c, cache


def lstm_step_backward(dh, dc, cache):
    """(dx, dh_prev, dc_prev, dw_ih, dw_hh, db_ih, db_hh) of one LSTM step."""
    dx, (dh_prev, dc_prev), dw = step_backward((dh, dc), cache)
    return (dx, dh_prev, dc_prev, *dw)


def gru_step_forward(x, h_prev, w_ih, w_hh, b_ih, b_hh):
    (h,), cache = step_forward("gru", x, (h_prev,), w_ih, w_hh, b_ih, b_hh)
    return h, cache


def gru_step_backward(dh, cache):
    dx, (dh_prev,), dw = step_backward((dh,), cache)
    return (dx, dh_prev, *dw)


# --- one layer over a whole sequence ----------------------------------------------------------

@dataclass
class SequenceRecord:
    """One layer's run over T steps, what a per-step check reads. Arrays are time-major:
    x (T, N, I) its inputs, states[k] (T + 1, N, H) the k-th state array from the initial one on;
    after backward, dstates[k] (T, N, H) the total dL/d state at each step (from the output and
    from the next step), handed[k] (T, N, H) what step t handed back to step t - 1, dxw and dhw
    (T, N, G*H) the gradients of each step's affine inputs."""
    kind: str
    x: Array
    states: list[Array]
    caches: list
    dstates: list[Array] | None = None
    handed: list[Array] | None = None
    dxw: Array | None = None
    dhw: Array | None = None

    def step_grads(self, t: int) -> tuple[Array, Array, Array, Array]:
        """(dw_ih, dw_hh, db_ih, db_hh) contributed by step t alone."""
        dxw, dhw = self.dxw[t], self.dhw[t]
        return dxw.T @ self.x[t], dhw.T @ self.states[0][t], dxw.sum(0), dhw.sum(0)


def layer_forward(kind: str, x: Array, state0: State, w_ih, w_hh, b_ih, b_hh) -> SequenceRecord:
    """x (N, T, I), state0 ((N, H)[, (N, H)]) -> the layer's record; outputs are states[0][1:]."""
    cell = cell_of(kind)
    xs = np.ascontiguousarray(x.swapaxes(0, 1))  # (T, N, I)
    xw = xs @ w_ih.T + b_ih  # every step's input projection in one matmul
    states = [np.empty((len(xs) + 1, *s.shape), x.dtype) for s in state0]
    for k, s in enumerate(state0):
        states[k][0] = s
    caches, state = [], tuple(state0)
    for t in range(len(xs)):
        state, cache = cell.forward(xw[t], state[0] @ w_hh.T + b_hh, state)
        caches.append(cache)
        for k, s in enumerate(state):
            states[k][t + 1] = s
    return SequenceRecord(kind, xs, states, caches)


def layer_backward(rec: SequenceRecord, dout: Array, dstate_last: State, w_ih, w_hh):
    """dout (N, T, H) dL/d outputs, dstate_last dL/d final state -> (dx (N, T, I), dL/d state0,
    (dw_ih, dw_hh, db_ih, db_hh)); fills rec's per-step gradients."""
    cell = cell_of(rec.kind)
    T = len(rec.caches)
    douts = dout.swapaxes(0, 1)
    dxw = np.empty((T, *douts.shape[1:2], w_ih.shape[0]), dout.dtype)
    dhw = np.empty_like(dxw)
    dstates = [np.empty((T, *d.shape), dout.dtype) for d in dstate_last]
    handed = [np.empty_like(d) for d in dstates]
    carry = tuple(dstate_last)
    for t in reversed(range(T)):
        total = carry_in(douts[t], carry)
        dxw[t], dhw[t], direct = cell.backward(total, rec.caches[t])
        carry = hand_back(dhw[t], direct, w_hh)
        for k in range(len(total)):
            dstates[k][t], handed[k][t] = total[k], carry[k]
    rec.dstates, rec.handed, rec.dxw, rec.dhw = dstates, handed, dxw, dhw
    G, I, H = w_ih.shape[0], rec.x.shape[2], w_hh.shape[1]
    dw_ih = dxw.reshape(-1, G).T @ rec.x.reshape(-1, I)
    dw_hh = dhw.reshape(-1, G).T @ rec.states[0][:-1].reshape(-1, H)
    dx = (dxw @ w_ih).swapaxes(0, 1)
    return dx, carry, (dw_ih, dw_hh, dxw.sum((0, 1)), dhw.sum((0, 1)))
