"""Finite differences as a third opinion, without torch."""
import numpy as np
import pytest

import numpy_impl as ni
from crosscheck.check.fd import fd_check
from crosscheck.presets import PRESETS
from broken_layers import LinearOneWrongEntry, TanhDerivativeOfInput, plant


def _model(name="C", act="tanh"):
    spec = PRESETS[name].make_spec(act)
    return spec, ni.build(spec, seed=0)


@pytest.mark.parametrize("name,act", [("C", "tanh"), ("moons", "relu"), ("digits", "relu"), ("chain", "sigmoid")])
def test_fd_agrees_with_analytic(name, act):
    spec, model = _model(name, act)
    x, y = PRESETS[name].data()
    result = fd_check(model, spec.loss, spec.l2, x, y)
    assert result.passed
    assert result.worst_rel <= 1e-6
    names = {t.name for t in result.tensors}
    assert "input" in names and "0.weight" in names


def test_fd_catches_a_wrong_derivative():
    spec, model = _model("C", "tanh")
    model = plant(model, 1, TanhDerivativeOfInput())
    x, y = PRESETS["C"].data()
    result = fd_check(model, spec.loss, spec.l2, x, y)
    assert not result.passed
    failing = {t.name for t in result.tensors if not t.passed}
    assert "0.weight" in failing and "6.weight" not in failing  # only layers below the bad one


def test_fd_states_the_noise_floor_for_vanishing_gradients():
    spec, model = _model("D", "sigmoid")
    x, y = PRESETS["D"].data()
    result = fd_check(model, spec.loss, spec.l2, x, y)
    assert result.passed
    floored = [t for t in result.tensors if t.floor_dominates]
    assert floored and any("0.weight" in n for n in result.notes())
    assert all("noise floor" in t.note() for t in floored)


def test_fd_skips_entries_sitting_on_a_relu_kink():
    spec = ni.mlp("kink", [1, 1, 1], "relu", init=ni.Init("constant", value=1.0, bias=0.0))
    model = ni.build(spec)
    x = np.zeros((1, 1))  # pre-activation w*0 + b = 0: every step in b straddles the kink
    y = np.ones((1, 1))
    result = fd_check(model, spec.loss, spec.l2, x, y)
    b0 = next(t for t in result.tensors if t.name == "0.bias")
    assert b0.kinks_skipped == 1 and b0.checked == 0
    assert any("ReLU kink" in n for n in result.notes())


def test_fd_near_a_kink_retries_with_a_smaller_step():
    spec = ni.mlp("kink", [1, 1, 1], "relu", init=ni.Init("constant", value=1.0, bias=0.0))
    model = ni.build(spec)
    x = np.full((1, 1), 1e-4)  # 1e-3 steps cross the kink, 1e-5 steps do not
    result = fd_check(model, spec.loss, spec.l2, x, np.ones((1, 1)))
    assert result.passed and all(t.kinks_skipped == 0 for t in result.tensors)


def test_fd_directions_catch_a_single_wrong_entry(monkeypatch):
    spec, model = _model("C", "tanh")
    model = plant(model, 2, LinearOneWrongEntry(8, 8))
    x, y = PRESETS["C"].data()
    result = fd_check(model, spec.loss, spec.l2, x, y, samples=2)
    bad = {t.name: t for t in result.tensors if not t.passed}
    assert set(bad) == {"2.weight"}
    assert bad["2.weight"].method == "directions" or bad["2.weight"].index == (3, 1)


def test_fd_localises_a_failing_tensor_to_its_worst_entry():
    spec, model = _model("C", "tanh")
    model = plant(model, 2, LinearOneWrongEntry(8, 8))
    x, y = PRESETS["C"].data()
    result = fd_check(model, spec.loss, spec.l2, x, y, samples=64)  # all 64 entries: (3, 1) among them
    bad = next(t for t in result.tensors if t.name == "2.weight")
    assert not bad.passed and bad.method == "entries" and bad.index == (3, 1)
    assert "[3, 1]" in bad.failure()


def test_fd_costs_a_handful_of_losses_per_tensor(monkeypatch):
    from crosscheck.check import fd as fd_module
    calls = []
    real = fd_module._loss_only
    monkeypatch.setattr(fd_module, "_loss_only", lambda *a: calls.append(1) or real(*a))
    spec, model = _model("D", "tanh")
    x, y = PRESETS["D"].data()
    result = fd_check(model, spec.loss, spec.l2, x, y)
    assert result.passed and all(t.method == "directions" for t in result.tensors)
    assert len(calls) == 4 * fd_module.FD_DIRECTIONS * len(result.tensors)  # no kink retries here


def test_saturated_bce_predictions_are_left_out_not_a_false_alarm():
    """Weights of U(-2, 2) saturate a digits net's sigmoid: near p = 1, 1 - p has lost digits and
    torch clamps BCE's gradient, so differences of the loss failed correct code (rel 3e-1).
    Those samples are left out, with a note; the rest are checked."""
    from crosscheck.check.spec_check import check_spec
    from crosscheck.presets import digits_data
    from numpy_impl.spec import Init, mlp
    x, y = digits_data()
    spec = mlp("saturated", [64, 32, 1], "relu", head="sigmoid", loss="bce", init=Init("uniform", a=2.0))
    result = check_spec(spec, x[:40], y[:40])
    assert result.passed, [t.line() for t in result.fd.tensors if not t.passed]
    assert 0 < result.fd.samples_left_out < 40 and result.fd.tensors
    assert any("samples left out, a prediction within 0.0001 of 0 or 1" in n for n in result.notes)
