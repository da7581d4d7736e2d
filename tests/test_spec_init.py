"""The model description, parameter counts, initialisers and parameter transfer."""
import numpy as np
import pytest
import torch

import numpy_impl as ni
import reference
from crosscheck.presets import PRESETS, REGRESSION_SIZES
from numpy_impl.spec import Init, Linear, ModelSpec, infer_shapes


@pytest.mark.parametrize("name,count", [("A", 21), ("B", 73), ("C", 257), ("D", 545)])
def test_regression_parameter_counts(name, count):
    spec = PRESETS[name].make_spec("relu")
    assert ni.param_count(spec) == count
    assert sum(p.numel() for p in reference.build(spec).parameters()) == count


def test_param_count_lines_format():
    lines = ni.param_count_lines(PRESETS["A"].make_spec("tanh"))
    assert lines == ["layer 0 linear: 4x3 + 4 = 16", "layer 2 linear: 1x4 + 1 = 5"]


def test_shapes_are_inferred_from_the_input():
    spec = ni.mlp("m", [5, 7, 2], "relu")
    assert [out for _, out in infer_shapes(spec)] == [(7,), (7,), (2,)]


@pytest.mark.parametrize("bad,message", [
    (dict(loss="hinge"), "loss: unknown 'hinge'"),
    (dict(dtype="float16"), "dtype: unknown 'float16'"),
    (dict(init=Init("he")), "init: unknown 'he'"),
], ids=["loss", "dtype", "init"])
def test_spec_rejects_unknown_names(bad, message):
    with pytest.raises(ValueError, match=message):
        ModelSpec("m", (3,), (Linear(1),), **bad)


def test_spec_rejects_unknown_activation():
    with pytest.raises(ValueError, match="layer 1: unknown activation 'gelu'"):
        ni.mlp("m", [3, 4, 1], "gelu")


@pytest.mark.parametrize("scheme", ["uniform", "constant", "truncnormal", "xavier", "torch"])
def test_init_is_seeded_and_reproducible(scheme):
    spec = ni.mlp("m", [30, 40, 5], "relu", init=Init(scheme, a=0.3, value=0.5, bias=0.1))
    a, b, c = ni.init_state(spec, 7), ni.init_state(spec, 7), ni.init_state(spec, 8)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    if scheme != "constant":
        assert not np.array_equal(a["0.weight"], c["0.weight"])


def test_init_distributions():
    big = [300, 400, 200]
    uni = ni.init_state(ni.mlp("m", big, "relu", init=Init("uniform", a=1 / 7)), 0)
    assert np.abs(uni["0.weight"]).max() <= 1 / 7 and np.all(uni["0.bias"] == 0)
    tn = ni.init_state(ni.mlp("m", big, "relu", init=Init("truncnormal", std=0.1, bias=0.1)), 0)
    assert np.abs(tn["0.weight"]).max() <= 0.2 and np.all(tn["0.bias"] == 0.1)
    assert tn["0.weight"].std() == pytest.approx(0.088, abs=0.002)  # std of N(0, .1) cut at 2 std
    xav = ni.init_state(ni.mlp("m", big, "relu", init=Init("xavier")), 0)
    bound = np.sqrt(6 / (300 + 400))
    assert np.abs(xav["0.weight"]).max() <= bound and xav["0.weight"].max() > 0.99 * bound
    tor = ni.init_state(ni.mlp("m", big, "relu", init=Init("torch")), 0)
    assert np.abs(tor["0.weight"]).max() <= 1 / np.sqrt(300)
    assert np.abs(tor["0.bias"]).max() <= 1 / np.sqrt(300) and tor["0.bias"].std() > 0


def test_torch_default_init_matches_torch_bounds():
    torch.manual_seed(0)
    layer = torch.nn.Linear(300, 10)
    ours = ni.init_state(ni.mlp("m", [300, 10], "relu", init=Init("torch")), 0)
    assert layer.weight.abs().max().item() <= 1 / np.sqrt(300)
    assert ours["0.weight"].std() == pytest.approx(layer.weight.std().item(), rel=0.1)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_transfer_both_ways(dtype, rng):
    spec = ni.mlp("m", [3, 5, 2], "tanh").with_dtype(dtype)
    np_model = ni.build(spec, seed=3)
    t_model = reference.build(spec, seed=None)
    reference.load_numpy_state(t_model, np_model.state_dict())
    back = reference.numpy_state(t_model)
    assert back.keys() == np_model.state_dict().keys()
    for k, v in np_model.state_dict().items():
        assert back[k].dtype == np.dtype(dtype) and np.array_equal(back[k], v)
    with torch.no_grad():
        t_model[0].weight.mul_(2)
    np_model.load_state_dict(reference.numpy_state(t_model))
    assert np.array_equal(np_model[0].params["weight"], t_model[0].weight.detach().numpy())
    x = rng.normal(size=(4, 3)).astype(dtype)
    assert np.allclose(np_model(x), t_model(torch.tensor(x)).detach().numpy(), rtol=1e-5)


def test_load_state_dict_names_the_bad_key():
    model = ni.build(ni.mlp("m", [3, 4, 1], "relu"))
    state = model.state_dict()
    state["0.weight"] = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"0.weight has shape \(3, 4\), model expects \(4, 3\)"):
        model.load_state_dict(state)
    with pytest.raises(ValueError, match="missing keys"):
        model.load_state_dict({})


def test_regression_sizes_are_the_studies():
    assert REGRESSION_SIZES["D"] == [3] + [8] * 8 + [1]
