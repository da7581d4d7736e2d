"""deeplearning.ai's column-major recurrent functions seen as CS231n's (byo/recurrent_dlai.py):
a correct RNN and LSTM wrapped agree with the NumPy mirror over 50 steps; each planted slip of
tests/corpus/recurrent_dlai_cases.py reaches the wrapped outputs unchanged, from the step listed;
what user code raises passes through; a result of the wrong shape is refused in one line."""
import importlib.util
import traceback
from types import SimpleNamespace

import numpy as np
import pytest
from corpus.recurrent_dlai_cases import cases
from corpus.recurrent_dlai_student import student
from examples_loader import load_example

from crosscheck.check.byo.recurrent_dlai import dlai_functions, recurrent_dlai
from crosscheck.check.user_code import describe
from numpy_impl import recurrent_functional as RF

# float64, 50 steps of the same maths in another order (matmuls of other shapes, per-step sums):
# rounding differences grow to ~1e-14 relative; 1e-12 leaves room and still catches any slip.
REL = 1e-12
N, D, H, T = 4, 3, 5, 50      # all different, so a transposed array cannot pass for another
LSTM_TO_TORCH = [0, 1, 3, 2]  # CS231n's gate blocks i, f, o, g -> torch's i, f, g, o (its own inverse)
BUGGY = [c for c in cases() if not c.clean and c.refused is None]


def rel(mine, ref) -> float:
    mine, ref = np.asarray(mine), np.asarray(ref)
    assert mine.shape == ref.shape, (mine.shape, ref.shape)
    return float(np.abs(mine - ref).max() / max(np.abs(ref).max(), 1e-300))


def _blocks(a, kind, axis):
    """`a` with its gate blocks along `axis` reordered between CS231n's and torch's order."""
    if kind == "rnn":
        return a
    return np.concatenate([np.split(a, 4, axis=axis)[k] for k in LSTM_TO_TORCH], axis=axis)


def to_torch(kind, Wx, Wh, b):
    """CS231n's Wx (D, G*H), Wh (H, G*H), b (G*H,) -> the mirror's (w_ih, w_hh, b_ih, b_hh)."""
    return (_blocks(Wx, kind, 1).T, _blocks(Wh, kind, 1).T, _blocks(b, kind, 0), np.zeros(b.shape))


def from_torch(kind, dw_ih, dw_hh, db_ih):
    """The mirror's parameter gradients -> CS231n's dWx, dWh, db (b_hh is zero and b's twin)."""
    return _blocks(dw_ih.T, kind, 1), _blocks(dw_hh.T, kind, 1), _blocks(db_ih, kind, 0)


def problem(kind, seed=0, t=T):
    """x (N, t, D), h0 (N, H), Wx, Wh, b, dh (N, t, H): small weights, so tanh is not saturated."""
    rng = np.random.default_rng(seed)
    G = 4 if kind == "lstm" else 1
    return SimpleNamespace(x=rng.normal(size=(N, t, D)), h0=rng.normal(size=(N, H)) * 0.5,
                           Wx=rng.normal(size=(D, G * H)) * 0.4, Wh=rng.normal(size=(H, G * H)) * 0.4,
                           b=rng.normal(size=G * H) * 0.2, dh=rng.normal(size=(N, t, H)))


def mirror(kind, p):
    """The mirror's h (N, T, H), dx, dh0, dWx, dWh, db for problem p (c0 = 0, no final-state gradient)."""
    torch_kind = "lstm" if kind == "lstm" else "rnn_tanh"
    w = to_torch(kind, p.Wx, p.Wh, p.b)
    state0 = (p.h0, np.zeros_like(p.h0)) if kind == "lstm" else (p.h0,)
    rec = RF.layer_forward(torch_kind, p.x, state0, *w)
    zero = tuple(np.zeros_like(s) for s in state0)
    dx, carry, (dw_ih, dw_hh, db_ih, _) = RF.layer_backward(rec, p.dh, zero, w[0], w[1])
    return SimpleNamespace(h=rec.states[0][1:].swapaxes(0, 1), dx=dx, dh0=carry[0], rec=rec,
                           grads=from_torch(kind, dw_ih, dw_hh, db_ih))


def run_sequence(fns, kind, p):
    h, cache = getattr(fns, f"{kind}_forward")(p.x, p.h0, p.Wx, p.Wh, p.b)
    return h, getattr(fns, f"{kind}_backward")(p.dh, cache)


# --- a correct implementation, wrapped, is the mirror ---------------------------------------

@pytest.mark.parametrize("kind", ["rnn", "lstm"])
@pytest.mark.parametrize("source", ["student", "example"])
def test_sequence_matches_the_mirror_over_50_steps(kind, source):
    if source == "example" and kind == "rnn":
        pytest.skip("examples/byo_rnn_dlai.py is an LSTM")
    module = student() if source == "student" else load_example("byo_rnn_dlai")
    p = problem(kind)
    h, (dx, dh0, dWx, dWh, db) = run_sequence(dlai_functions(module), kind, p)
    ref = mirror(kind, p)
    for name, mine, want in (("h", h, ref.h), ("dx", dx, ref.dx), ("dh0", dh0, ref.dh0),
                             *zip(("dWx", "dWh", "db"), (dWx, dWh, db), ref.grads)):
        assert rel(mine, want) <= REL, name


@pytest.mark.parametrize("source", ["student", "example"])
def test_lstm_step_matches_the_mirror(source):
    module = student() if source == "student" else load_example("byo_rnn_dlai")
    fns, p, rng = dlai_functions(module), problem("lstm"), np.random.default_rng(5)
    x, c, dnext_h, dnext_c = p.x[:, 0], rng.normal(size=(N, H)), rng.normal(size=(N, H)), rng.normal(size=(N, H))
    h1, c1, cache = fns.lstm_step_forward(x, p.h0, c, p.Wx, p.Wh, p.b)
    got = fns.lstm_step_backward(dnext_h, dnext_c, cache)
    w = to_torch("lstm", p.Wx, p.Wh, p.b)
    rh, rc, rcache = RF.lstm_step_forward(x, p.h0, c, *w)
    dx, dh, dc, dw_ih, dw_hh, db_ih, _ = RF.lstm_step_backward(dnext_h, dnext_c, rcache)
    for name, mine, want in zip(("h", "c", "dx", "dprev_h", "dprev_c", "dWx", "dWh", "db"), (h1, c1, *got),
                                (rh, rc, dx, dh, dc, *from_torch("lstm", dw_ih, dw_hh, db_ih))):
        assert rel(mine, want) <= REL, name


def test_rnn_step_matches_the_mirror():
    fns, p, dnext = dlai_functions(student()), problem("rnn"), np.random.default_rng(6).normal(size=(N, H))
    h1, cache = fns.rnn_step_forward(p.x[:, 0], p.h0, p.Wx, p.Wh, p.b)
    got = fns.rnn_step_backward(dnext, cache)
    w = to_torch("rnn", p.Wx, p.Wh, p.b)
    rh, rcache = RF.rnn_step_forward(p.x[:, 0], p.h0, *w)
    dx, dh, dw_ih, dw_hh, db_ih, _ = RF.rnn_step_backward(dnext, rcache)
    for name, mine, want in zip(("h", "dx", "dprev_h", "dWx", "dWh", "db"), (h1, *got),
                                (rh, dx, dh, *from_torch("rnn", dw_ih, dw_hh, db_ih))):
        assert rel(mine, want) <= REL, name
