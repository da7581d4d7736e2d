"""byo.recurrent, CS231n's recurrent functions: a correct RNN and LSTM written as students write
them (examples/byo_rnn_cs231n.py) pass over 50 steps in float64 within 1e-10; each planted slip
is detected, pinned to its layer and time step, and named; what the user's code raises is one
line naming their file and line; the user's arrays are left as they were."""
import shutil
import subprocess
import sys
import types

import numpy as np
import pytest

from crosscheck import byo
from crosscheck.check.user_code import UserCodeError
from crosscheck.check.verdict import TOL_FLOAT32, TOL_FLOAT64
from corpus.recurrent_cases import SLIPS, T, _rnn_backward, functions as funcs, model
from examples_loader import EXAMPLES, load_example

CS = load_example("byo_rnn_cs231n")


def pin(result):
    """(layer, step, quantity) where the steps first go wrong (the culprit step if any), the culprit
    row's layer and slip."""
    (steps,) = result.steps
    row = steps.culprit() or steps.first_divergence()
    culprit = result.culprit()
    return (row.stack, row.t, row.quantity) if row else None, culprit.layer, culprit.slip


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_clean_cs231n_code_passes_over_50_steps(cell):
    r = byo.check(model(cell, steps=50))
    assert r.passed, str(r)
    (steps,) = r.steps
    assert {row.t for row in steps.rows} == set(range(50))
    assert max(r.worst("forward"), r.worst("gradient")) <= TOL_FLOAT64
    assert max(row.local.max_rel for row in steps.rows) <= TOL_FLOAT64
    assert r.fd is not None and r.fd.passed


def test_float32_arrays_pass_within_their_bar():
    r = byo.check(model("lstm", dtype=np.float32))
    assert r.passed and r.dtype == "float32"
    assert max(row.acc.max_rel for row in r.steps[0].rows) <= TOL_FLOAT32


def test_lstm_gate_order_is_told_by_probing_when_not_declared():
    user = model("lstm", gate_order=None)
    assert any("gate order 'ifog' told" in n for n in user.notes)
    assert byo.check(user, fd=False).passed


def test_a_right_lstm_declared_in_another_gate_order_fails_naming_its_own():
    r = byo.check(model("lstm", gate_order="ifgo"), fd=False)
    assert not r.passed
    assert "gates in the order 'ifog' where you declared 'ifgo': declare gate_order='ifog'" in r.culprit().slip


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_a_given_h0_is_the_twins_and_dh0_is_judged(cell):
    params, x, y, mask = CS.captioning_batch(cell)
    h0 = np.random.default_rng(3).normal(size=(len(x), params["Wh"].shape[0]))
    r = byo.check(byo.recurrent(funcs(), params, x, y, mask, h0=h0), fd=False)
    assert r.passed
    (steps,) = r.steps
    first = [row for row in steps.rows if row.quantity == "handed dh" and row.t == 0]
    assert first and first[0].acc is not first[0].local  # dh0 from rnn_backward, compared in its own right

    def drops_dh0(dh, cache):
        dx, dh0, *dw = getattr(CS, f"{cell}_backward")(dh, cache)
        return (dx, 0 * dh0, *dw)
    bad = byo.check(byo.recurrent(funcs(**{f"{cell}_backward": drops_dh0}), params, x, y, mask, h0=h0), fd=False)
    assert not bad.passed
    assert bad.steps[0].first_divergence().label() == "time step 0 of layer 0: handed dh"


@pytest.mark.parametrize("holder", ["dict", "namespace", "object"])
def test_the_functions_may_come_on_anything_exposing_their_names(holder):
    """A wrapper for another convention (deeplearning.ai's cells) hands its own functions over so."""
    given = {n: getattr(CS, n) for n in dir(CS) if n.endswith(("_forward", "_backward", "_loss"))}
    if holder == "namespace":
        given = types.SimpleNamespace(**given)
    elif holder == "object":
        given = type("Layers", (), {n: staticmethod(f) for n, f in given.items()})()
    params, x, y, mask = CS.captioning_batch("lstm")
    assert byo.check(byo.recurrent(given, params, x, y, mask, gate_order="ifog"), fd=False).passed


def test_rnn_without_step_functions_is_judged_step_by_step_through_rnn_forward():
    params, x, y, mask = CS.captioning_batch("rnn")
    given = {n: getattr(CS, n) for n in dir(CS) if n.endswith(("_forward", "_backward", "_loss"))}
    given.update(rnn_step_forward=None, rnn_step_backward=None, rnn_forward=_rnn_forward_inline)
    r = byo.check(byo.recurrent(given, params, x, y, mask), fd=False)
    assert r.passed and len(r.steps[0].rows) > 5 * T


def _rnn_forward_inline(x, h0, Wx, Wh, b):
    """rnn_forward without rnn_step_forward (the cache is what CS.rnn_backward reads)."""
    h, prev, cache = np.zeros((*x.shape[:2], h0.shape[1])), h0, []
    for t in range(x.shape[1]):
        nxt = np.tanh(x[:, t] @ Wx + prev @ Wh + b)
        cache.append((x[:, t], prev, Wx, Wh, nxt))
        h[:, t], prev = nxt, nxt
    return h, cache


# --- planted slips ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(SLIPS))
def test_each_planted_slip_is_detected_pinned_and_named(name):
    cell, changed, where, layer, slip = SLIPS[name]
    r = byo.check(model(cell, **changed), fd=False)
    assert not r.passed
    steps_at, culprit_layer, culprit_slip = pin(r)
    if where is not None:
        assert steps_at == where
    assert culprit_layer == layer
    if slip is not None:
        assert slip in culprit_slip, culprit_slip


def test_clipping_inside_the_loop_is_pinned_where_it_first_bites():
    r = byo.check(model(rnn_backward=_rnn_backward("clip_loop")), fd=False)
    totals = np.abs(r.steps[0].torch.dstates[0][0]).max(axis=(1, 2))
    first = max(t for t in range(T) if totals[t] > 4.5)
    assert 0 < first < T - 1 and pin(r)[0] == (0, first, "dx") == SLIPS["clipped inside the loop"][2]


def test_the_report_says_where_the_steps_go_wrong():
    text = str(byo.check(model(rnn_backward=_rnn_backward("no_carry")), fd=False))
    assert f"first divergence at time step {T - 2} of layer 0: dx" in text
    assert "carried dh_next is missing" in text


# --- the user's code is foreign ---------------------------------------------------------------

def _raises(dnext_h, cache):
    raise ZeroDivisionError("my bad")


def test_what_the_users_code_raises_names_their_line():
    with pytest.raises(UserCodeError, match=r"rnn_backward raised ZeroDivisionError: my bad "
                                            r"\(at .*test_byo_recurrent.py:\d+\)"):
        byo.check(model(rnn_step_backward=_raises), fd=False)


def test_the_users_arrays_are_left_as_they_were():
    params, x, y, mask = CS.captioning_batch("lstm")
    before = [{k: v.copy() for k, v in params.items()}, x.copy(), y.copy(), mask.copy()]
    byo.check(byo.recurrent(funcs(), params, x, y, mask), fd=False)
    assert all(np.array_equal(params[k], before[0][k]) for k in params)
    assert np.array_equal(x, before[1]) and np.array_equal(y, before[2]) and np.array_equal(mask, before[3])


def test_a_function_writing_into_its_argument_gets_a_copy_and_a_warning():
    def rnn_backward(dh, cache):
        out = CS.rnn_backward(dh, cache)
        dh[:] = 0  # consumed: the check's upstream gradient is not
        return out
    r = byo.check(model(rnn_backward=rnn_backward), fd=False)
    assert r.passed
    assert any("rnn_backward modifies its argument 1 in place" in n for n in r.notes)


def test_bad_input_is_one_line():
    params, x, y, mask = CS.captioning_batch("rnn")
    with pytest.raises(ValueError, match="do not fit"):
        byo.recurrent(funcs(), {**params, "Wh": params["Wh"][:, :5]}, x, y, mask)
    with pytest.raises(ValueError, match="lack rnn_backward|lacks rnn_backward"):
        byo.recurrent(funcs(rnn_backward=None), params, x, y, mask)
    with pytest.raises(ValueError, match="gate_order"):
        byo.recurrent(funcs(), CS.captioning_batch("lstm")[0], x, y, mask, gate_order="ifgx")


def _run_user(path, cwd=None):
    return subprocess.run([sys.executable, "-m", "crosscheck", "--user", str(path)], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


def test_examples_pass_through_user_from_a_folder_with_its_own_common_and_utils(tmp_path):
    examples = ("byo_rnn_cs231n", "byo_lstm_cs231n", "byo_rnn_objects", "byo_rnn_dlai")
    for name in examples:
        shutil.copy(EXAMPLES / f"{name}.py", tmp_path)
    for name in ("common", "utils"):
        (tmp_path / f"{name}.py").write_text("raise SystemExit('the user\\'s own module, never ours')\n")
    for name in examples:
        proc = _run_user(tmp_path / f"{name}.py", cwd=tmp_path)
        assert proc.returncode == 0, proc.stdout[-1500:] + proc.stderr[-1500:]


def test_a_raising_function_exits_3_through_user_naming_the_line(tmp_path):
    shutil.copy(EXAMPLES / "byo_rnn_cs231n.py", tmp_path)
    (tmp_path / "mine.py").write_text(
        "import byo_rnn_cs231n as cs\nfrom crosscheck import byo\n\n\n"
        "def rnn_forward(x, h0, Wx, Wh, b):\n    return x[:, :, 99], None\n\n\n"
        "def crosscheck_model():\n    p, x, y, m = cs.captioning_batch()\n"
        "    return byo.recurrent({**vars(cs), 'rnn_forward': rnn_forward}, p, x, y, m)\n")
    proc = _run_user(tmp_path / "mine.py", cwd=tmp_path)
    assert proc.returncode == 3, proc.stdout[-1500:] + proc.stderr[-1500:]
    assert "rnn_forward raised IndexError" in proc.stderr and "mine.py:6" in proc.stderr


# --- layer objects ------------------------------------------------------------------------------

OBJ = load_example("byo_rnn_objects")


class NoCarryRNN(OBJ.RNN):
    """backward without the carried dh_next."""

    def backward(self, dh):
        dx = np.zeros_like(self.x)
        self.dWx, self.dWh, self.db = np.zeros_like(self.Wx), np.zeros_like(self.Wh), np.zeros_like(self.b)
        for t in reversed(range(dh.shape[1])):
            da = dh[:, t] * (1 - self.hs[t + 1] ** 2)
            dx[:, t] = da @ self.Wx.T
            self.dWx += self.x[:, t].T @ da
            self.dWh += self.hs[t].T @ da
            self.db += da.sum(axis=0)
        return dx


def test_layer_objects_pass_and_are_left_as_they_were():
    user = OBJ.crosscheck_model()
    rnn = user.model.layers[1].obj
    before = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in vars(rnn).items()}
    r = byo.check(user)
    assert r.passed, str(r)
    assert len(r.steps[0].rows) == 7 * T  # h, dx, handed dh and the 4 parameter shares: steps run alone
    assert vars(rnn).keys() == before.keys()
    assert all(np.array_equal(vars(rnn)[k], v) if isinstance(v, np.ndarray) else vars(rnn)[k] is v
               for k, v in before.items())


def test_a_layer_object_without_the_carry_is_pinned_and_named():
    user = OBJ.crosscheck_model()
    good = user.model.layers[1].obj
    bad = NoCarryRNN(1, 1, np.random.default_rng(0))
    bad.Wx, bad.Wh, bad.b = good.Wx, good.Wh, good.b
    user = byo.recurrent_objects(bad, user.model.layers[2].obj, *_batch_of(user), embedding=user.model.layers[0].obj,
                                 loss_fn=OBJ.temporal_softmax_loss)
    r = byo.check(user, fd=False)
    steps_at, layer, slip = pin(r)
    assert steps_at == (0, T - 2, "dx") and layer == 1 and "carried dh_next is missing" in slip


def _batch_of(user):
    """(x, y, mask) of a RecurrentModel built with a mask."""
    x = user.x.astype(int)
    return x, np.where(user.target < 0, 0, user.target), user.target >= 0
