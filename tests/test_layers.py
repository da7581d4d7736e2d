"""Every NumPy layer and loss against torch.nn.functional, on random shapes and values."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st

from numpy_impl import Activation, Linear, Loss
from numpy_impl import functional as F
from crosscheck.check.harness import loss_term_sizes
from layer_check import assert_layer_matches_torch
from reference import activation_module

ACTS = ["relu", "sigmoid", "tanh", "leaky_relu", "elu", "softplus", "identity", "softmax"]
TOL = 1e-12  # float64, one layer: a few ulps


def rel(a, b):
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


shapes = st.tuples(st.integers(1, 7), st.integers(1, 9))
seeds = st.integers(0, 2**31 - 1)
scales = st.sampled_from([1e-3, 1.0, 5.0, 30.0])


@pytest.mark.parametrize("act", ACTS)
@settings(max_examples=25, deadline=None)
@given(shape=shapes, seed=seeds, scale=scales)
def test_activation_matches_torch(act, shape, seed, scale):
    x = np.random.default_rng(seed).normal(size=shape) * scale
    # Where a unit saturates, f' = 1 - y^2 cancels: one ulp of difference in tanh(x) between
    # libms becomes a large relative error of a tiny number, so allow a few ulps of |dy| too
    # (dy is standard normal, |dy| < 6 on these shapes).
    assert_layer_matches_torch(Activation(act), activation_module(act).double(), x, seed=seed, tol=1e-10,
                               dx_atol=4 * np.finfo(float).eps * 6)


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_elu_with_its_alpha_matches_torch(alpha):
    x = np.random.default_rng(3).normal(size=(6, 5)) * 3
    assert_layer_matches_torch(Activation("elu", alpha), activation_module("elu", alpha).double(), x, seed=3,
                               tol=1e-12)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 8), n_in=st.integers(1, 9), n_out=st.integers(1, 9), seed=seeds)
def test_linear_matches_torch(n, n_in, n_out, seed):
    r = np.random.default_rng(seed)
    layer = Linear(n_in, n_out)
    layer.params["weight"] = r.normal(size=(n_out, n_in))
    layer.params["bias"] = r.normal(size=n_out)
    assert_layer_matches_torch(layer, TF.linear, r.normal(size=(n, n_in)), seed=seed)


def _torch_loss(name, pred, target):
    p = torch.tensor(pred, requires_grad=True)
    tgt = torch.tensor(target)
    value = {"mse": lambda: TF.mse_loss(p, tgt),
             "half_sse": lambda: 0.5 * ((tgt - p) ** 2).sum() / p.shape[0],
             "bce": lambda: TF.binary_cross_entropy(p, tgt),
             "softmax_ce": lambda: TF.cross_entropy(p, tgt)}[name]()
    value.backward()
    return value.item(), p.grad.numpy()


@pytest.mark.parametrize("name", ["mse", "half_sse", "bce", "softmax_ce"])
@settings(max_examples=30, deadline=None)
@given(shape=st.tuples(st.integers(1, 9), st.integers(1, 5)), seed=seeds, scale=scales)
def test_loss_matches_torch(name, shape, seed, scale):
    r = np.random.default_rng(seed)
    pred = r.normal(size=shape) * scale
    if name == "bce":
        pred = F.sigmoid(pred)
        target = r.integers(0, 2, size=shape).astype(float)
    elif name == "softmax_ce":
        target = r.integers(0, shape[1], size=shape[0])
    else:
        target = r.normal(size=shape)
    loss = Loss(name)
    value = loss.forward(pred, target)
    grad = loss.backward()
    t_value, t_grad = _torch_loss(name, pred, target)
    value_terms, grad_terms = loss_term_sizes(name, pred, target)
    eps = np.finfo(float).eps
    # each side rounds the terms the loss is made of (a confident softmax: p - 1 with p ~ 1)
    assert abs(value - t_value) <= max(1e-12 * abs(t_value), 16 * eps * value_terms)
    assert np.max(np.abs(grad - t_grad)) <= max(1e-10 * np.max(np.abs(t_grad)), 16 * eps * grad_terms)


def test_sigmoid_and_softplus_finite_and_accurate_to_1e4():
    z = np.array([-1e4, -745.0, -700.0, -50.0, -1.0, 0.0, 1.0, 50.0, 700.0, 1e4])
    s = F.sigmoid(z)
    sp = F.softplus(z)
    assert np.all(np.isfinite(s)) and np.all(np.isfinite(sp))
    # exact references: sigmoid(-a) = e^-a/(1+e^-a) ~ e^-a, softplus(-a) ~ e^-a, softplus(a) = a + e^-a
    assert s[2] == pytest.approx(np.exp(-700.0), rel=1e-14)
    assert s[3] == pytest.approx(np.exp(-50.0) / (1 + np.exp(-50.0)), rel=1e-14)
    assert s[-1] == 1.0 and s[0] == 0.0 and s[5] == 0.5
    assert sp[2] == pytest.approx(np.exp(-700.0), rel=1e-14)
    assert sp[-1] == 1e4 and sp[-2] == 700.0 and sp[0] == 0.0
    assert sp[5] == pytest.approx(np.log(2.0), rel=1e-15)
    layer = Activation("sigmoid")
    layer.forward(z)
    d = layer.backward(np.ones_like(z))
    assert np.all(np.isfinite(d))
    assert d[3] == pytest.approx(np.exp(-50.0), rel=1e-12)  # y(1-y) would lose this to cancellation


@pytest.mark.parametrize("layer", [Linear(2, 3), Activation("relu")], ids=["linear", "relu"])
def test_backward_before_forward_is_an_error(layer):
    with pytest.raises(RuntimeError, match="backward called before forward"):
        layer.backward(np.ones((1, 3)))


def test_linear_rejects_wrong_width():
    with pytest.raises(ValueError, match=r"expected input \(N, 2\)"):
        Linear(2, 3).forward(np.ones((4, 5)))


def test_float32_layers_stay_float32(rng):
    layer = Linear(3, 2, dtype=np.float32)
    x = rng.normal(size=(4, 3)).astype(np.float32)
    y = Activation("tanh").forward(layer.forward(x))
    assert y.dtype == np.float32
    assert layer.backward(np.ones((4, 2), np.float32)).dtype == np.float32


@pytest.mark.parametrize("loss,target,message", [
    ("softmax_ce", np.array([0, 3]), r"labels must lie in \[0, 3\)"),
    ("softmax_ce", np.array([0.0, 1.0]), "integer class labels"),
    ("bce", np.array([[0.5], [2.0]]), r"targets in \[0, 1\]"),
    ("mse", np.ones((2, 2)), "needs shape"),
], ids=["label-out-of-range", "float-labels", "bce-target-range", "mse-shape"])
def test_bad_targets_name_the_argument(loss, target, message):
    pred = np.full((2, 3), 0.5) if loss == "softmax_ce" else np.full((2, 1), 0.5)
    with pytest.raises(ValueError, match=message):
        Loss(loss).forward(pred, target)
