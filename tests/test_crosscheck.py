"""The harness: every preset passes, broken layers are pinned, errors are named."""
import numpy as np
import pytest

import numpy_impl as ni
import reference
from crosscheck import TOL_FLOAT32, TOL_FLOAT64, compare
from crosscheck.check.harness import check_pair
from crosscheck.presets import PRESETS, chain_spec, chain_data
from crosscheck.check.spec_check import build_pair, check_spec
from numpy_impl import functional as F
from broken_layers import LinearExtraMean, LinearMissingMean, LinearTransposed, WrongTanh, plant

@pytest.mark.parametrize("act,expected", [
    ("sigmoid", (-0.060540, -0.007967, -0.001504)),
    ("relu", (-0.218750, -0.218750, -0.218750)),
])
def test_scalar_chain_gradients(act, expected):
    """dL/dw3, dL/dw2, dL/dw1 of the three-weight chain, from the study."""
    spec = chain_spec(act)
    x, y = chain_data()
    model = ni.build(spec)
    loss = ni.Loss(spec.loss)
    loss.forward(model.forward(x), y)
    model.backward(loss.backward())
    got = [model[i].grads["weight"].item() for i in (4, 2, 0)]
    assert got == pytest.approx(expected, abs=5e-7)
    t_model = reference.build(spec)
    import torch
    out = t_model(torch.tensor(x))
    reference.loss_value(spec.loss, out, torch.tensor(y)).backward()
    assert [t_model[i].weight.grad.item() for i in (4, 2, 0)] == pytest.approx(expected, abs=5e-7)


def test_compare_zero_reference_is_never_nan():
    same = compare("q", np.zeros(3), np.zeros(3))
    assert same.max_rel == 0.0
    off = compare("q", np.array([0.0, 1e-3, 0.0]), np.zeros(3))
    assert np.isfinite(off.max_abs) and off.max_rel > 1e100 and off.index == (1,)


def test_compare_names_worst_element_and_shape_problems():
    c = compare("dW", np.array([[1.0, 2.0], [3.0, 4.5]]), np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert c.index == (1, 1) and c.actual == 4.5 and c.expected == 4.0
    assert c.max_rel == pytest.approx(0.125)
    assert "dW" in c.describe() and "[1, 1]" in c.describe()
    assert "shape (2, 3)" in compare("dW", np.ones((2, 3)), np.ones((3, 2))).problem
    assert "dtype float32" in compare("dW", np.ones(2, np.float32), np.ones(2), "float64").problem


# --- deliberately broken layers -----------------------------------------------

def _broken_pair(index, broken):
    spec = ni.mlp("C", [3, 8, 8, 8, 1], "tanh", init=ni.Init("uniform", a=0.5))
    np_model, t_model = build_pair(spec, ni.init_state(spec, 0), "float64")
    return spec, plant(np_model, index, broken), t_model


@pytest.mark.parametrize("index,broken,slip", [
    (3, WrongTanh(), "derivative taken at the output"),
    (2, LinearExtraMean(8, 8), "extra 1/N"),
    (0, LinearMissingMean(3, 8), "missing 1/N"),
    (4, LinearTransposed(8, 8), "weight.grad transposed"),
], ids=["wrong-activation-derivative", "extra-1/N", "missing-1/N", "transposed-weight-grad"])
def test_broken_layer_is_pinned(index, broken, slip):
    x, y = PRESETS["C"].data()
    spec, np_model, t_model = _broken_pair(index, broken)
    result = check_pair(np_model, t_model, x, y, spec.loss)
    assert not result.passed
    culprits = {r.layer for r in result.rows if not r.local_ok}
    assert culprits == {index}
    assert slip in result.culprit().slip
    # a wrong dL/dx flows into the layers before it: they inherit the error, unblamed
    inherited = [r for r in result.rows if r.status == "inherited"]
    assert all(r.layer < index for r in inherited)
    assert bool(inherited) == (result.culprit().quantity == "grad_in")


def test_float32_judged_against_float64():
    preset = PRESETS["D"]
    x, y = preset.data()
    result = check_spec(preset.make_spec("sigmoid"), x, y, dtype="float32")
    assert all(r.torch_noise is not None and r.torch_noise > 0 for r in result.rows if r.layer >= 0)
    assert result.passed


@pytest.mark.parametrize("mutate,message", [
    (lambda x, y, m: (x[:, :2], y, m), "input of shape"),
    (lambda x, y, m: (np.where(np.arange(x.size).reshape(x.shape) == 5, np.nan, x), y, m), "input: contains NaN"),
    (lambda x, y, m: (x, y, m.layers[0].params["weight"].__setitem__((0, 0), np.inf) or m), "parameter 0.weight"),
], ids=["shape", "nan-input", "inf-parameter"])
def test_bad_input_is_named(mutate, message):
    spec = ni.mlp("A", [3, 4, 1], "relu")
    np_model, t_model = build_pair(spec, ni.init_state(spec), "float64")
    x, y = PRESETS["A"].data()
    x, y, np_model = mutate(x.copy(), y, np_model)
    with pytest.raises(ValueError, match=message):
        check_pair(np_model, t_model, x, y, spec.loss)


def test_labels_out_of_range_are_named():
    preset = PRESETS["moons"]
    x, y = preset.data()
    with pytest.raises(ValueError, match=r"target: labels must lie in \[0, 2\)"):
        check_spec(preset.make_spec("tanh"), x, y + 1)


def test_sigmoid_is_stable_inside_a_model():
    assert np.isfinite(F.sigmoid(np.array([-1e4, 1e4]))).all()


def test_confident_right_predictions_are_not_blamed_for_rounding():
    """softmax CE's dL/dz = p - onehot is tiny where p ~ 1, yet rounds like its terms (size 1/N):
    a correct loss must not be reported wrong for that (seed 3 was, before the floor)."""
    preset = PRESETS["moons"]
    spec = preset.make_spec("tanh")
    x, _ = preset.batch()
    state = {k: v * (60 if k.startswith("2.") else 1) for k, v in ni.init_state(spec, 3).items()}
    np_model, t_model = build_pair(spec, state, "float64")
    out = np_model.forward(x)
    confident = x[np.abs(out[:, 0] - out[:, 1]) > 16][:20]
    labels = np_model.forward(confident).argmax(1)
    result = check_pair(np_model, t_model, confident, labels, spec.loss)
    row = next(r for r in result.rows if r.quantity == "dloss/dpred")
    assert np.max(np.abs(row.acc.expected)) < 1e-8  # the case in point: every gradient tiny
    assert result.passed, row.acc.describe()
    wrong = LinearMissingMean(16, 2)  # a real 1/N slip is still caught at this confidence
    result = check_pair(plant(np_model, 2, wrong), t_model, confident, labels, spec.loss)
    assert not result.passed


def test_nan_never_matches_and_says_where():
    both = compare("dW", np.array([1.0, np.nan]), np.array([1.0, np.nan]))
    assert both.problem.startswith("non-finite value in both") and "[1]" in both.problem
    assert not both.passed(1.0)
    one = compare("dW", np.array([np.inf, 2.0]), np.array([1.0, 2.0]))
    assert "on one side" in one.problem and not one.passed(1.0)
