"""Blind spots a mutation run found: each test here fails under a one-line mutant that every
other test let live (softmax without its max shift, an activation ignoring alpha, dropout
keeping with probability p, the float64 bar loosened tenfold, "inherited" counted as ok, an
average pool counting its zero padding, finite-difference directions not of unit norm)."""
import numpy as np
import pytest
import torch

from crosscheck.check import fd
from crosscheck.check.byo.convnet.adapters import same_pads
from crosscheck.check.byo.convnet.twins import PoolTwin
from crosscheck.check.harness import check_pair
from crosscheck.check.spec_check import build_pair, check_spec
from numpy_impl import Sequential
from numpy_impl import functional as NF
from numpy_impl.conv import Dropout
from numpy_impl.init import init_state
from numpy_impl.layers import Softmax
from numpy_impl.spec import Init, mlp

LARGE_LOGITS = np.array([[1000.0, 0.0, -5.0], [-800.0, 750.0, 749.0], [30.0, 31.0, 1e4]])


def test_softmax_of_large_logits_is_torchs():
    want = torch.softmax(torch.tensor(LARGE_LOGITS), -1).numpy()
    got = Softmax().forward(LARGE_LOGITS.copy())
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=1e-300)
    np.testing.assert_allclose(NF.log_softmax(LARGE_LOGITS), torch.log_softmax(torch.tensor(LARGE_LOGITS), -1).numpy(),
                               rtol=1e-15)


def test_softmax_cross_entropy_of_large_logits_is_torchs():
    labels = np.array([1, 0, 2])
    value, grad = NF.softmax_ce(LARGE_LOGITS, labels)
    t = torch.tensor(LARGE_LOGITS, requires_grad=True)
    want = torch.nn.functional.cross_entropy(t, torch.tensor(labels))
    want.backward()
    assert np.isfinite(value) and value == pytest.approx(float(want.detach()), rel=1e-15)
    np.testing.assert_allclose(grad, t.grad.numpy(), rtol=1e-14, atol=1e-300)


def test_a_network_with_large_logits_passes_the_harness():
    """Weights of 200 drive the logits past 1000: every softmax path (the loss, its gradient,
    the harness's local runs) must stay finite and agree with torch."""
    spec = mlp("big_logits", [2, 4, 3], "tanh", loss="softmax_ce", init=Init("constant", value=200.0, bias=1.0))
    x = np.random.default_rng(0).normal(size=(6, 2))
    result = check_spec(spec, x, np.array([0, 1, 2, 0, 1, 2]), fd=False)
    assert result.passed, [r.acc.describe() for r in result.rows if r.status != "ok"]


@pytest.mark.parametrize("alpha", [0.2, 0.5])
def test_leaky_relu_slope_other_than_the_default_reaches_both_sides(alpha):
    spec = mlp("leaky", [3, 6, 1], "leaky_relu", alpha=alpha, init=Init("uniform", a=1.0))
    x = np.random.default_rng(1).normal(size=(8, 3))
    result = check_spec(spec, x, np.zeros((8, 1)))
    assert result.passed, [r.acc.describe() for r in result.rows if r.status != "ok"]
    np_model, _ = build_pair(spec, init_state(spec, 0), "float64")
    z = np.linspace(-2, 2, 9)[None]
    layer = np_model[1]
    assert np.allclose(layer.forward(z), np.where(z > 0, z, alpha * z))


@pytest.mark.parametrize("p", [0.1, 0.8])
def test_dropout_keeps_one_minus_p_and_scales_by_its_inverse(p):
    layer = Dropout(p, rng=np.random.default_rng(0))
    layer.training = True
    x = np.ones((1000, 1000))
    y = layer.forward(x)
    kept = y != 0
    # 10^6 Bernoulli draws: the kept fraction lies within 5 standard deviations of 1 - p
    assert abs(kept.mean() - (1 - p)) < 5 * np.sqrt(p * (1 - p) / x.size)
    np.testing.assert_allclose(y[kept], 1 / (1 - p), rtol=1e-15)
    np.testing.assert_array_equal(layer.backward(x) != 0, kept)


def test_an_error_of_five_parts_in_ten_billion_fails_in_float64(monkeypatch):
    """The float64 bar is 1e-10: a weight gradient off by 5e-10 of itself must FAIL."""
    real = NF.linear_backward

    def backward(dy, cache):
        dx, dw, db = real(dy, cache)
        return dx, dw * (1 + 5e-10), db
    monkeypatch.setattr(NF, "linear_backward", backward)
    spec = mlp("tiny_error", [3, 4, 1], "tanh", init=Init("uniform", a=0.5))
    x = np.random.default_rng(2).normal(size=(5, 3))
    result = check_spec(spec, x, np.zeros((5, 1)), fd=False)
    assert not result.passed
    assert {r.quantity for r in result.rows if r.status == "wrong"} == {"weight.grad"}


class _ScalesItsUpstream(Sequential):
    """Every layer right, the model wrong: its backward scales dL/d(output) before the layers."""

    def backward(self, dy, input_grad=True):
        return super().backward(1.5 * dy, input_grad)


def test_a_model_wrong_only_end_to_end_fails_with_its_rows_inherited():
    spec = mlp("end_to_end", [3, 4, 1], "tanh", init=Init("uniform", a=0.5))
    np_model, torch_model = build_pair(spec, init_state(spec, 0), "float64")
    np_model = _ScalesItsUpstream(np_model.layers)
    x = np.random.default_rng(3).normal(size=(5, 3))
    result = check_pair(np_model, torch_model, x, np.zeros((5, 1)), "mse")
    assert not result.passed
    gradients = [r for r in result.rows if r.kind == "gradient" and not r.is_loss]
    assert gradients and all(r.status == "inherited" for r in gradients)
    assert result.culprit() is None  # no layer is wrong on its own


def _real_inputs_mean(x_nchw: np.ndarray, k: int, stride: int, pads) -> np.ndarray:
    """Average over the inputs each window covers, padding left out of the count (TF's SAME)."""
    top, bottom, left, right = pads
    n, c, h, w = x_nchw.shape
    padded = np.pad(x_nchw, ((0, 0), (0, 0), (top, bottom), (left, right)))
    real = np.pad(np.ones((h, w)), ((top, bottom), (left, right)))
    ho, wo = (padded.shape[2] - k) // stride + 1, (padded.shape[3] - k) // stride + 1
    out = np.empty((n, c, ho, wo))
    for i in range(ho):  # a reference written the slow, obvious way, on 5x5 inputs
        for j in range(wo):
            rows, cols = slice(i * stride, i * stride + k), slice(j * stride, j * stride + k)
            out[:, :, i, j] = padded[:, :, rows, cols].sum(axis=(2, 3)) / real[rows, cols].sum()
    return out


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_same_average_pool_twin_counts_only_real_inputs(layout):
    k, stride, size = 3, 2, 6
    pads = same_pads(size, k, stride) + same_pads(size, k, stride)
    assert pads[1] > 0, "the case must have windows that reach into the padding"
    x = np.random.default_rng(4).normal(size=(2, 3, size, size))
    twin = PoolTwin("avg", k, stride, layout, pads)
    given = torch.tensor(x.transpose(0, 2, 3, 1) if layout == "nhwc" else x)
    got = twin(given).numpy()
    got = got.transpose(0, 3, 1, 2) if layout == "nhwc" else got
    np.testing.assert_allclose(got, _real_inputs_mean(x, k, stride, pads), rtol=1e-14)


def test_finite_difference_directions_have_unit_norm(monkeypatch):
    """The error bar divides by |g|: <g, v> is bounded by it only for |v| = 1."""
    norms, real = [], fd._derivative

    def derivative(model, loss, l2, x, target, arr, along, h):
        if isinstance(along, np.ndarray):
            norms.append(float(np.linalg.norm(along)))
        return real(model, loss, l2, x, target, arr, along, h)
    monkeypatch.setattr(fd, "_derivative", derivative)
    spec = mlp("fd_norm", [3, 5, 2], "tanh", init=Init("uniform", a=0.5))
    np_model, _ = build_pair(spec, init_state(spec, 0), "float64")
    x = np.random.default_rng(5).normal(size=(4, 3))
    assert fd.fd_check(np_model, "mse", 0.0, x, np.zeros((4, 2))).passed
    assert norms and np.allclose(norms, 1.0, rtol=1e-14)


def test_slips_are_named_from_torchs_derivative_not_the_one_under_test(monkeypatch):
    """A ReLU derivative of 1 at 0 (exact zeros reach it: zero inputs, zero biases) is a bug;
    built from that very derivative, the slip namer called it "derivative written in terms of
    the output but fed the input". Built from torch's, no known slip matches."""
    f, _ = NF.ACTIVATION_FUNCS["relu"]
    monkeypatch.setitem(NF.ACTIVATION_FUNCS, "relu", (f, lambda x, y: (x >= 0).astype(x.dtype)))
    spec = mlp("relu_at_zero", [3, 6, 1], "relu", init=Init("uniform", a=1.0))
    x = np.random.default_rng(6).normal(size=(6, 3))
    x[::2] = 0.0  # pre-activations exactly 0 for these samples
    result = check_spec(spec, x, np.zeros((6, 1)), fd=False)
    culprit = result.culprit()
    assert not result.passed and culprit.layer == 1 and culprit.quantity == "grad_in"
    assert culprit.slip == "", culprit.slip


def test_an_all_nan_gradient_is_given_no_slip_name():
    """The CNN slip finder builds its own ratio: were NaN to agree, an all-NaN gradient would
    'match' the first candidate and be named after a slip it does not have."""
    from crosscheck.check.byo.convnet.slips import _explain
    expected = np.arange(12.0).reshape(3, 4)
    candidate = 2 * expected  # a slip's result that differs from the reference
    assert _explain(np.full_like(expected, np.nan), expected, [(candidate, "extra factor 2")]) == ""
    assert _explain(candidate.copy(), expected, [(candidate, "extra factor 2")]) == "extra factor 2"
