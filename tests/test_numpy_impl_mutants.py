"""Behaviour of numpy_impl that mutation testing (issue 26) found unpinned: report texts,
activation factories and their alpha, boundaries (x = 0, StepLR's step boundaries, the
truncated normal's 2 std), dtypes kept in float32, and the messages of user errors.
Pure NumPy, in-process, deterministic."""
from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import numpy_impl as N
from numpy_impl import conv_functional as CF
from numpy_impl import functional as F
from numpy_impl import norm_functional as NF
from numpy_impl import recurrent_functional as RF
from numpy_impl import spec as S
from numpy_impl.init import _fans, init_bias, init_weight, truncated_normal
from numpy_impl.losses import check_target, total_loss_and_grads
from numpy_impl.optim import SGD, StepLR
from numpy_impl.optim_spec import OptimSpec
from numpy_impl.spec_recurrent import LSTM, RNN, Embedding, LastStep, TemporalAffine


# --- param_count_lines: the report text -------------------------------------------------

def test_param_count_lines_recurrent_stack_then_layer_without_bias():
    spec = S.ModelSpec("seq", (5,), (Embedding(10, 4), LSTM(3, num_layers=2), LastStep(), S.Linear(2, bias=False)),
                       loss="softmax_ce")
    assert N.param_count_lines(spec) == [
        "layer 0 embedding: 10x4 (no bias) = 40",
        "layer 1 lstm: 12x4 + 12x3 + 12 + 12 + 12x3 + 12x3 + 12 + 12 = 204",
        "layer 3 linear: 2x3 (no bias) = 6",
    ]
    assert N.param_count(spec) == 250


def test_param_count_lines_residual_with_projection():
    spec = S.ModelSpec("res", (4,), (S.Linear(3), S.Residual((S.Linear(5), S.Activation("relu"))), S.Linear(2)))
    assert N.param_count_lines(spec) == [
        "layer 0 linear: 3x4 + 3 = 15",
        "layer 1 branch 0 linear: 5x3 + 5 = 20",
        "layer 1 proj linear: 5x3 + 5 = 20",
        "layer 2 linear: 2x5 + 2 = 12",
    ]


def test_param_count_lines_conv_without_bias():
    spec = S.ModelSpec("cnn", (1, 4, 4), (S.Conv2d(2, 3, bias=False), S.Flatten(), S.Linear(1)))
    assert N.param_count_lines(spec) == ["layer 0 conv2d: 2x1x3x3 (no bias) = 18", "layer 2 linear: 1x8 + 1 = 9"]


# --- describe() --------------------------------------------------------------------------

def test_describe_norm_layers():
    assert N.LayerNorm((3, 4)).describe() == "layernorm(3x4)"
    assert N.GroupNorm(2, 6).describe() == "groupnorm(2, 6)"
    assert N.BatchNorm1d(5).describe() == "batchnorm1d(5)"


def test_describe_residual_with_and_without_projection():
    plain = N.Residual([N.Linear(3, 3), N.ReLU(), N.Linear(3, 3)])
    assert plain.describe() == "residual(linear(3->3), relu, linear(3->3))"
    projected = N.Residual([N.Linear(3, 5), N.Tanh()], proj=N.Linear(3, 5))
    assert projected.describe() == "residual(linear(3->5), tanh + proj linear(3->5))"


# --- activation factories and alpha ------------------------------------------------------

X = np.array([[-2.0, -0.5, 0.0, 0.5, 3.0]])


@pytest.mark.parametrize("factory, expected", [
    (N.ReLU, [0.0, 0.0, 0.0, 0.5, 3.0]),
    (N.Identity, [-2.0, -0.5, 0.0, 0.5, 3.0]),
    (N.LeakyReLU, [-0.02, -0.005, 0.0, 0.5, 3.0]),  # torch's default slope 0.01
    (lambda: N.LeakyReLU(0.2), [-0.4, -0.1, 0.0, 0.5, 3.0]),
    (N.Sigmoid, 1.0 / (1.0 + np.exp(-X[0]))),
    (N.Softplus, np.log1p(np.exp(X[0]))),
], ids=["relu", "identity", "leaky_default", "leaky_0.2", "sigmoid", "softplus"])
def test_activation_factories(factory, expected):
    layer = factory()
    np.testing.assert_allclose(layer.forward(X), [expected], rtol=1e-15, atol=0)


@pytest.mark.parametrize("factory, name", [(N.ReLU, "relu"), (N.Sigmoid, "sigmoid"), (N.LeakyReLU, "leaky_relu"),
                                           (N.Softplus, "softplus"), (N.Identity, "identity")])
def test_activation_factories_kind(factory, name):
    assert factory().kind == name


@pytest.mark.parametrize("name, alpha, dx", [
    ("leaky_relu", 0.2, [0.2, 0.2, 0.2, 1.0, 1.0]),  # torch: slope alpha at x = 0
    ("elu", 0.5, [0.5 * np.exp(-2.0), 0.5 * np.exp(-0.5), 0.5, 1.0, 1.0]),  # torch: alpha * exp(0) at 0
], ids=["leaky", "elu"])
def test_activation_derivative_at_zero_uses_alpha(name, alpha, dx):
    layer = N.Activation(name, alpha)
    layer.forward(X)
    np.testing.assert_allclose(layer.backward(np.ones_like(X)), [dx], rtol=1e-15, atol=0)


def test_elu_forward_with_alpha():
    y = N.Activation("elu", 0.5).forward(X)
    np.testing.assert_allclose(y, [[0.5 * np.expm1(-2.0), 0.5 * np.expm1(-0.5), 0.0, 0.5, 3.0]], rtol=1e-15, atol=0)


@pytest.mark.parametrize("name", ["leaky_relu", "elu"])
def test_activation_gradient_keeps_float32(name):
    layer = N.Activation(name, 0.3)
    x = X.astype(np.float32)
    layer.forward(x)
    assert layer.backward(np.ones_like(x)).dtype == np.float32


# --- losses ------------------------------------------------------------------------------

def test_nll_value_and_gradient():
    prob = np.array([[0.2, 0.5, 0.3], [0.1, 0.1, 0.8]])
    labels = np.array([1, 2])
    loss = N.Loss("nll")
    value = loss.forward(prob, labels)
    assert value == pytest.approx(-(np.log(0.5) + np.log(0.8)) / 2, rel=1e-15)
    expected = np.zeros_like(prob)
    expected[0, 1], expected[1, 2] = -1.0 / (2 * 0.5), -1.0 / (2 * 0.8)
    np.testing.assert_allclose(loss.backward(), expected, rtol=1e-15, atol=0)


def test_nll_of_a_zero_probability_is_inf_without_warnings():
    # a softmax that underflows gives p = 0 exactly: torch's nll_loss(log p) is inf, silently
    prob = np.array([[1.0, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, grad = F.nll(prob, np.array([1]))
    assert value == np.inf
    assert grad[0, 1] == -np.inf and grad[0, 0] == 0.0


def test_bce_at_saturated_probabilities_without_warnings():
    prob, target = np.array([[0.0, 1.0]]), np.array([[0.0, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, _ = F.bce(prob, target)
    assert value == 0.0


def test_loss_unknown_name_message():
    with pytest.raises(ValueError, match=r"^loss: unknown 'hinge'; choose from mse, half_sse, bce, softmax_ce, nll, "
                                         r"temporal_ce$"):
        N.Loss("hinge")


def test_one_loss_name_check_for_specs_layers_and_targets():
    assert tuple(F.LOSS_FUNCS) == S.LOSSES
    for make in (lambda: S.ModelSpec("m", (2,), (S.Linear(1),), loss="hinge"),
                 lambda: check_target("hinge", np.zeros((2, 1)), np.zeros((2, 1)))):
        with pytest.raises(ValueError, match=r"^loss: unknown 'hinge'; choose from mse, half_sse, bce, softmax_ce, nll, "
                                             r"temporal_ce$"):
            make()


@pytest.mark.parametrize("loss, pred, target, message", [
    ("softmax_ce", np.zeros((3, 4)), np.zeros(2, int), r"^target: softmax_ce needs labels of shape \(3,\), got \(2,\)$"),
    ("temporal_ce", np.zeros((2, 3, 5)), np.full((2, 3), 5), r"^target: labels must lie in \[-1, 5\), got range \[5, 5\]$"),
    ("softmax_ce", np.zeros((2, 3)), np.zeros(2), r"^target: softmax_ce needs integer class labels, got dtype float64$"),
    ("softmax_ce", np.zeros((2, 3)), np.array([-1, 0]), r"^target: labels must lie in \[0, 3\), got range \[-1, 0\]$"),
    ("mse", np.zeros((2, 3)), np.zeros((2, 1)), r"^target: mse needs shape \(2, 3\) like the model output, got \(2, 1\)$"),
    ("mse", np.zeros((2, 1)), np.array([[np.nan], [0.0]]), r"^target: contains NaN or Inf$"),
    ("bce", np.full((2, 1), 0.5), np.array([[2.0], [0.0]]), r"^target: bce needs targets in \[0, 1\], got range \[0\.0, 2\.0\]$"),
    ("bce", np.full((2, 1), 1.5), np.array([[1.0], [0.0]]),
     r"^pred: bce needs probabilities in \[0, 1\]; end the model with a sigmoid$"),
    ("bce", np.array([[-0.5], [0.5]]), np.array([[1.0], [0.0]]),
     r"^pred: bce needs probabilities in \[0, 1\]; end the model with a sigmoid$"),
], ids=["label_shape", "temporal_range_is_the_vocabulary", "float_labels", "negative_label", "shape", "nan", "bce_target",
        "bce_pred_above_1", "bce_pred_below_0"])
def test_check_target_messages(loss, pred, target, message):
    with pytest.raises(ValueError, match=message):
        check_target(loss, pred, target)
    if loss == "temporal_ce":
        check_target(loss, pred, np.full((2, 3), 4))  # 4 fits the vocabulary V = 5, not the length T = 3


def test_check_target_accepts_the_edges():
    check_target("bce", np.array([[0.0], [1.0]]), np.array([[0.0], [1.0]]))  # probabilities and targets 0 and 1
    check_target("softmax_ce", np.zeros((2, 3)), np.array([0, 2]))  # labels 0 and C - 1
    check_target("softmax_ce", np.zeros((0, 3)), np.zeros(0, int))  # an empty batch has no range to check


def test_loss_backward_before_forward():
    with pytest.raises(RuntimeError, match=r"^loss mse: backward called before forward$"):
        N.Loss("mse").backward()


# --- init --------------------------------------------------------------------------------

def test_truncated_normal_stays_within_two_std_with_its_moments():
    std = 10.0
    w = truncated_normal(np.random.default_rng(0), (2_000_000,), std)
    assert np.abs(w).max() <= 2 * std
    assert np.abs(w).max() > 1.99 * std  # the truncation is at 2 std, not narrower
    # N(0, std) truncated at +-2 std: mean 0, std = std * 0.8796 (1 - 4 phi(2) / (2 Phi(2) - 1) = 0.7737)
    assert abs(w.mean()) < 0.015  # standard error 0.0062; a shift of 1 in the redraws moves it ~0.036
    assert w.std() == pytest.approx(std * 0.7737 ** 0.5, rel=5e-3)


def test_truncated_normal_small_draws_stay_within_two_std():
    # a small tensor is truncated too, not only one where some first draw lands beyond 3 std
    for seed in range(200):
        w = truncated_normal(np.random.default_rng(seed), (5,), 1.0)
        assert np.abs(w).max() <= 2.0, seed


def test_truncated_normal_scales_with_std():
    # std * (a draw at std 1) from the same stream: the redraws must use N(0, std) too
    a = truncated_normal(np.random.default_rng(3), (50_000,), 1.0)
    b = truncated_normal(np.random.default_rng(3), (50_000,), 10.0)
    np.testing.assert_allclose(b, 10.0 * a, rtol=1e-14, atol=0)


def test_truncnormal_init_with_std_zero_is_zero():
    spec = S.ModelSpec("z", (3,), (S.Linear(2),), init=S.Init("truncnormal", std=0.0, bias=0.25))
    state = N.init_state(spec)
    assert np.array_equal(state["0.weight"], np.zeros((2, 3)))
    assert np.array_equal(state["0.bias"], np.full(2, 0.25))


# --- StepLR ------------------------------------------------------------------------------

def _lrs(step_size: int, steps: int, **kw) -> tuple[list[float], StepLR]:
    opt = SGD({"w": np.zeros(1)}, 1.0)
    sched = StepLR(opt, step_size, **kw)
    lrs = []
    for _ in range(steps):
        sched.step()
        lrs.append(opt.lr)
    return lrs, sched


def test_steplr_decays_at_step_boundaries_with_default_gamma():
    lrs, sched = _lrs(2, 5)
    assert lrs == pytest.approx([1.0, 0.1, 0.1, 0.01, 0.01], rel=1e-15)  # torch's default gamma 0.1
    assert sched.last_epoch == 5  # torch's epoch counter


def test_steplr_step_size_one_decays_every_step():
    lrs, _ = _lrs(1, 3, gamma=0.5)
    assert lrs == [0.5, 0.25, 0.125]


@pytest.mark.parametrize("kwargs, message", [
    (dict(momentum=-1), r"^momentum: must be >= 0, got -1$"),
    (dict(nesterov=True), r"^nesterov: needs momentum > 0 and dampening 0$"),
    (dict(momentum=0.9, dampening=0.1, nesterov=True), r"^nesterov: needs momentum > 0 and dampening 0$"),
], ids=["momentum_negative", "nesterov_no_momentum", "nesterov_dampening"])
def test_sgd_messages(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SGD({}, 0.1, **kwargs)


@pytest.mark.parametrize("spec, line", [
    (OptimSpec("sgd", 0.1), "sgd lr 0.1"),
    (OptimSpec("sgd", 0.1, momentum=0.9, dampening=0.5), "sgd lr 0.1 momentum 0.9 dampening 0.5"),
    (OptimSpec("sgd", 0.1, momentum=0.9, nesterov=True), "sgd lr 0.1 momentum 0.9 nesterov"),
    (OptimSpec("adam", 0.001), "adam lr 0.001"),
    (OptimSpec("adam", 0.001, betas=(0.8, 0.95)), "adam lr 0.001 betas 0.8,0.95"),
    (OptimSpec("adamw", 0.001, eps=1e-6, weight_decay=0.01), "adamw lr 0.001 eps 1e-06 weight_decay 0.01"),
    (OptimSpec("sgd", 0.1, decay=0.5, step_size=1), "sgd lr 0.1 decay 0.5/epoch"),
    (OptimSpec("sgd", 0.1, decay=0.5, step_size=2), "sgd lr 0.1 decay 0.5 every 2 epochs"),
], ids=["sgd_plain", "sgd_dampening", "sgd_nesterov", "adam_plain", "adam_betas", "adamw_eps_wd", "step_1", "step_2"])
def test_optim_spec_describe_names_what_differs_from_the_defaults(spec, line):
    assert spec.describe() == line


def test_steplr_rejects_step_size_zero():
    with pytest.raises(ValueError, match=r"^step_size: must be >= 1, got 0$"):
        StepLR(SGD({"w": np.zeros(1)}, 1.0), 0)


# --- Sequential modes ----------------------------------------------------------------------

def test_sequential_eval_turns_dropout_off():
    model = N.Sequential([N.Linear(3, 3), N.Dropout(0.5, rng=np.random.default_rng(0))])
    model.train()
    model.eval()
    assert all(layer.training is False for layer in model.layers)
    x = np.ones((4, 3))
    np.testing.assert_array_equal(model.layers[1].forward(x), x)


# --- GroupNorm -----------------------------------------------------------------------------

def test_groupnorm_on_flat_input_and_wrong_channels():
    layer = N.GroupNorm(2, 4)
    x = np.array([[1.0, 3.0, 10.0, 14.0]])  # groups (1, 3) and (10, 14): each normalises to (-1, 1)
    eps = 1e-5
    expected = [[-1 / np.sqrt(1 + eps), 1 / np.sqrt(1 + eps), -2 / np.sqrt(4 + eps), 2 / np.sqrt(4 + eps)]]
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-14)
    with pytest.raises(ValueError, match=r"^groupnorm: expected input \(N, 4, \.\.\.\), got shape \(1, 6\)$"):
        layer.forward(np.ones((1, 6)))


def test_groupnorm_forward_default_eps_is_torchs():
    x = np.array([[[0.0, 0.002]], [[0.0, 0.0]]])  # variance 1e-6: eps matters
    y, _ = NF.groupnorm_forward(x[:1], np.ones(1), np.zeros(1), 1)
    np.testing.assert_allclose(y[0, 0], [-0.001, 0.001] / np.sqrt(1e-6 + 1e-5), rtol=1e-12)


# --- Residual ------------------------------------------------------------------------------

def test_residual_nested_state_dict_loads_into_the_right_layer():
    spec = S.ModelSpec("nested", (3,), (S.Residual((S.Linear(3), S.Residual((S.Linear(3), S.Linear(3))))),))
    model = N.build(spec)
    state = {k: np.full(v.shape, i + 1.0) for i, (k, v) in enumerate(sorted(model.state_dict().items()))}
    model.load_state_dict(state)
    got = model.state_dict()
    assert sorted(got) == sorted(state)
    for k in state:
        np.testing.assert_array_equal(got[k], state[k], err_msg=k)


def test_residual_kink_state():
    kinked = N.Residual([N.Linear(2, 2), N.ReLU()])
    kinked.forward(np.array([[1.0, -1.0]]))
    assert kinked.kink_state() is not None and kinked.kink_state().shape == (2,)
    smooth = N.Residual([N.Linear(2, 2), N.Tanh()])
    smooth.forward(np.array([[1.0, -1.0]]))
    assert smooth.kink_state() is None


class _Bare:
    """A duck-typed branch layer with parameters but no buffers or grads attributes."""
    kind = "bare"

    def __init__(self):
        self.params, self.training, self.name = {"scale": np.array(2.0)}, False, "bare"

    def forward(self, x):
        return x * self.params["scale"]


def test_residual_branch_layer_without_buffers():
    block = N.Residual([_Bare()])
    assert block.buffers == {} and block.grads == {}
    assert list(block.params) == ["branch.0.scale"]


def test_residual_parts_messages_name_the_branch_layer():
    with pytest.raises(ValueError, match=r"^residual branch layer 0 \(linear\): needs flat input, got shape \(2, 4, 4\)"):
        S.residual_parts(S.Residual((S.Linear(3),)), (2, 4, 4))
    with pytest.raises(ValueError, match=r"^residual \(residual\): its branch maps \(2, 4, 4\) to \(3, 3, 3\), which no"):
        S.residual_parts(S.Residual((S.Conv2d(3, 2),)), (2, 4, 4))


@pytest.mark.parametrize("shape, out", [((2, 6, 4), (3, 3, 2)), ((2, 4, 6), (3, 2, 3))])
def test_residual_strided_projection_on_non_square_input(shape, out):
    """A stride-2 branch on an H != W input: the skip path gets a 1x1 stride-2 convolution."""
    shapes, proj = S.residual_parts(S.Residual((S.Conv2d(3, 3, stride=2, padding=1),)), shape)
    assert shapes == [(shape, out)]
    assert proj == S.Conv2d(3, 1, stride=2) and type(proj.stride) is int
    assert S.output_shape("proj", proj, shape) == out


def test_residual_branch_that_flattens_has_no_projection():
    with pytest.raises(ValueError, match=r"^residual \(residual\): its branch maps \(2, 4, 4\) to \(3,\), which no"):
        S.residual_parts(S.Residual((S.Flatten(), S.Linear(3))), (2, 4, 4))
    with pytest.raises(ValueError, match=r"^residual \(residual\): its branch maps \(2, 4, 4\) to \(3, 6, 6\), which no"):
        S.residual_parts(S.Residual((S.Conv2d(3, 3, padding=2),)), (2, 4, 4))  # grows: no stride shrinks to it


@pytest.mark.parametrize("layers, input_shape, message", [
    ((S.Flatten(), S.BatchNorm1d(), S.Linear(2)), (2, 3, 3), None),
    ((S.Conv2d(4, 1), S.BatchNorm1d()), (2, 3, 3),
     r"^layer 1 \(batchnorm1d\): needs \(C,\) or \(C, L\) input, got shape \(4, 3, 3\)$"),
    ((S.Conv2d(6, 1), S.GroupNorm(4)), (2, 3, 3), r"^layer 1 \(groupnorm\): 6 channels do not split into 4 groups$"),
], ids=["bn1d_flat", "bn1d_on_images", "gn_split"])
def test_norm_layer_input_shapes(layers, input_shape, message):
    if message is None:
        assert S.infer_shapes(S.ModelSpec("ok", input_shape, layers))[1] == ((18,), (18,))
    else:
        with pytest.raises(ValueError, match=message):
            S.ModelSpec("bad", input_shape, layers)


def test_rnn_spec_nonlinearity_message():
    with pytest.raises(ValueError, match=r"^rnn: nonlinearity 'sigmoid'; choose from tanh, relu$"):
        RNN(3, nonlinearity="sigmoid")


def test_groupnorm_on_a_shapeless_input_message():
    with pytest.raises(ValueError, match=r"^layer 0 \(groupnorm\): 0 channels do not split into 1 groups$"):
        S.ModelSpec("scalar", (), (S.GroupNorm(1),))


@pytest.mark.parametrize("layer, x, message", [
    (N.BatchNorm1d(3), np.ones((2, 3, 4, 5)), r"^batchnorm1d: expected input \(N, 3\) or \(N, 3, L\), got shape \(2, 3, 4, 5\)$"),
    (N.BatchNorm1d(3), np.ones((2, 4)), r"^batchnorm1d: expected input \(N, 3\) or \(N, 3, L\), got shape \(2, 4\)$"),
    (N.BatchNorm2d(3), np.ones((2, 3, 4)), r"^batchnorm2d: expected input \(N, 3, H, W\), got shape \(2, 3, 4\)$"),
], ids=["bn1d_4d", "bn1d_channels", "bn2d_3d"])
def test_batchnorm_input_messages(layer, x, message):
    with pytest.raises(ValueError, match=message):
        layer.forward(x)


def test_batchnorm_uses_its_eps_in_training_and_in_eval():
    layer = N.BatchNorm1d(1, eps=0.5, momentum=1.0)
    layer.training = True
    x = np.array([[0.0], [2.0]])  # mean 1, biased variance 1, unbiased 2
    np.testing.assert_allclose(layer.forward(x), [[-1 / np.sqrt(1.5)], [1 / np.sqrt(1.5)]], rtol=1e-14)
    layer.training = False
    np.testing.assert_allclose(layer.forward(x), (x - 1.0) / np.sqrt(2.5), rtol=1e-14)


def test_batchnorm_defaults_are_torchs_and_affine_false_has_no_parameters():
    layer = N.BatchNorm1d(1, affine=False)
    layer.training = True
    x = np.array([[0.0], [2e-3]])  # mean 1e-3, biased variance 1e-6, unbiased 2e-6
    np.testing.assert_allclose(layer.forward(x), [[-1e-3], [1e-3]] / np.sqrt(1e-6 + 1e-5), rtol=1e-12)
    assert layer.params == {}
    np.testing.assert_allclose(layer.buffers["running_mean"], [0.1 * 1e-3], rtol=1e-14)  # momentum 0.1
    np.testing.assert_allclose(layer.buffers["running_var"], [0.9 + 0.1 * 2e-6], rtol=1e-14)


def test_batchnorm_functional_default_eps_is_torchs():
    y, _ = NF.batchnorm_forward(np.array([[0.0], [2e-3]]), np.ones(1), np.zeros(1))
    np.testing.assert_allclose(y, [[-1e-3 / np.sqrt(1e-6 + 1e-5)], [1e-3 / np.sqrt(1e-6 + 1e-5)]], rtol=1e-12)


def test_batchnorm_without_running_stats_trains_on_batch_statistics_alone():
    layer = N.BatchNorm1d(2, track_running_stats=False)
    layer.training = True
    assert layer.buffers == {}
    y = layer.forward(np.array([[0.0, 1.0], [2.0, 3.0]]))
    np.testing.assert_allclose(y, [[-1, -1], [1, 1]] / np.sqrt(1 + 1e-5), rtol=1e-14)
    assert layer.buffers == {}


def test_describe_recurrent_layers():
    assert N.Embedding(10, 4).describe() == "embedding(10x4)"
    assert N.Recurrent("lstm", 3, 5).describe() == "lstm(3->5)"
    assert N.Recurrent("gru", 3, 5, num_layers=2).describe() == "gru(3->5, 2 layers)"
    assert N.TemporalAffine(5, 2).describe() == "temporal_affine(5->2)"


def test_recurrent_spec_sizes_accept_one_and_name_zero():
    assert RNN(1).hidden_size == 1 and LSTM(1, num_layers=1).num_layers == 1
    with pytest.raises(ValueError, match=r"^lstm: hidden_size and num_layers must be >= 1, got 3, 0$"):
        LSTM(3, num_layers=0)
    with pytest.raises(ValueError, match=r"^rnn_tanh: hidden_size and num_layers must be >= 1, got 0, 1$"):
        RNN(0)


def test_embedding_input_gradient_is_zeros_in_a_float_dtype():
    """Indices have no gradient: zeros shaped like them, in their dtype if float, else dy's."""
    emb = N.Embedding(4, 3)
    emb.forward(np.array([[1, 2]]))
    dx = emb.backward(np.ones((1, 2, 3), np.float32))
    assert dx.dtype == np.float32 and dx.shape == (1, 2) and not dx.any()
    emb.forward(np.array([[1.0, 2.0]], np.float32))
    assert emb.backward(np.ones((1, 2, 3))).dtype == np.float32


def test_temporal_ce_masked_steps_with_a_one_word_vocabulary():
    loss, grad = F.temporal_ce(np.zeros((1, 2, 1)), np.array([[0, -1]]))
    assert loss == 0.0 and grad.shape == (1, 2, 1) and not grad.any()


def test_mlp_builder_defaults_and_message():
    spec = S.mlp("m", [2, 3, 1], "leaky_relu", l2=0.5)
    assert spec.layers == (S.Linear(3), S.Activation("leaky_relu", 0.01), S.Linear(1)) and spec.l2 == 0.5
    with pytest.raises(ValueError, match=r"^sizes: need at least input and output size, got \[2\]$"):
        S.mlp("m", [2], "relu")


@pytest.mark.parametrize("x", [np.ones((2, 5)), np.ones((2, 3, 4))], ids=["2d", "wrong_width"])
def test_temporal_affine_input_message(x):
    with pytest.raises(ValueError, match=rf"^temporal_affine: expected input \(N, T, 5\), got shape {re.escape(str(x.shape))}$"):
        N.TemporalAffine(5, 2).forward(x)


def test_embedding_spec_sizes_accept_one_and_name_zero():
    assert Embedding(1, 1).num_embeddings == 1
    for sizes in [(0, 3), (3, 0)]:
        with pytest.raises(ValueError, match=rf"^embedding: sizes must be >= 1, got {sizes[0]}, {sizes[1]}$"):
            Embedding(*sizes)


# --- RNN cell with ReLU ---------------------------------------------------------------------

def test_relu_rnn_step_derivative_at_zero_is_zero_and_float32_kept():
    """Pre-activation exactly 0 (zero weights, zero biases): ReLU's derivative there is 0, as
    torch's; in float32 the gradients stay float32."""
    for dtype in (np.float64, np.float32):
        x, h0 = np.ones((2, 3), dtype), np.ones((2, 4), dtype)
        w_ih, w_hh = np.zeros((4, 3), dtype), np.zeros((4, 4), dtype)
        w_ih[0] = 1.0  # unit 0 is active (a = 3), the rest sit at a = 0
        b = np.zeros(4, dtype)
        h, cache = RF.rnn_step_forward(x, h0, w_ih, w_hh, b, b, nonlinearity="relu")
        np.testing.assert_array_equal(h, np.array([[3, 0, 0, 0]] * 2, dtype))
        grads = RF.rnn_step_backward(np.ones((2, 4), dtype), cache)
        assert all(g.dtype == dtype for g in grads)
        np.testing.assert_array_equal(grads[5], np.array([2, 0, 0, 0], dtype))  # db_hh


# --- LastStep ------------------------------------------------------------------------------

def test_laststep_message_and_float32_gradient():
    layer = N.LastStep()
    with pytest.raises(ValueError, match=r"^last_step: expected input \(N, T, H\), got shape \(2, 3\)$"):
        layer.forward(np.ones((2, 3)))
    x = np.arange(12, dtype=np.float32).reshape(2, 3, 2)
    np.testing.assert_array_equal(layer.forward(x), x[:, -1])
    dx = layer.backward(np.ones((2, 2), np.float32))
    assert dx.dtype == np.float32
    np.testing.assert_array_equal(dx, np.concatenate([np.zeros((2, 2, 2)), np.ones((2, 1, 2))], axis=1))


# --- norm specs and layers: validation, eps, fresh buffers --------------------------------

def test_norm_specs_accept_the_edges_of_their_ranges():
    assert S.GroupNorm(1).num_groups == 1  # one group: torch's LayerNorm-like GroupNorm
    assert S.LayerNorm().affine and S.GroupNorm(2, affine=False).eps == 1e-5
    assert S.BatchNorm1d(momentum=0.0).momentum == 0.0  # running statistics frozen
    assert S.BatchNorm1d(momentum=1.0).momentum == 1.0  # running statistics = the last batch's


@pytest.mark.parametrize("make, message", [
    (lambda: S.GroupNorm(0), r"^num_groups: must be an integer >= 1, got 0$"),
    (lambda: S.GroupNorm(1.5), r"^num_groups: must be an integer >= 1, got 1\.5$"),
    (lambda: S.LayerNorm(eps=0.0), r"^eps: must be > 0, got 0\.0$"),
    (lambda: S.GroupNorm(2, eps=-1.0), r"^eps: must be > 0, got -1\.0$"),
    (lambda: S.LayerNorm(affine=1), r"^affine: must be True or False, got 1$"),
    (lambda: S.GroupNorm(2, affine=None), r"^affine: must be True or False, got None$"),
    (lambda: S.Residual(()), r"^residual: needs at least one layer in its branch$"),
    (lambda: N.GroupNorm(3, 4), r"^groupnorm: 4 channels do not split into 3 groups$"),
], ids=["groups_0", "groups_float", "ln_eps_0", "gn_eps_neg", "ln_affine_int", "gn_affine_none", "residual_empty",
        "gn_layer_split"])
def test_norm_validation_messages(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_layernorm_wrong_shape_message():
    with pytest.raises(ValueError, match=r"^layernorm: expected input \(N, 3, 4\), got shape \(2, 3, 5\)$"):
        N.LayerNorm((3, 4)).forward(np.ones((2, 3, 5)))


@pytest.mark.parametrize("layer", [N.LayerNorm((2,), eps=0.5), N.GroupNorm(1, 2, eps=0.5)], ids=["layernorm", "groupnorm"])
def test_norm_layers_use_their_eps(layer):
    y = layer.forward(np.array([[0.0, 2.0]]))  # mean 1, variance 1
    np.testing.assert_allclose(y, [[-1 / np.sqrt(1.5), 1 / np.sqrt(1.5)]], rtol=1e-14)


def test_layernorm_forward_default_eps_is_torchs():
    y, _ = NF.layernorm_forward(np.array([[0.0, 0.002]]), np.ones(2), np.zeros(2))
    np.testing.assert_allclose(y, [[-0.001, 0.001] / np.sqrt(1e-6 + 1e-5)], rtol=1e-12)


def test_init_state_starts_running_statistics_like_torch():
    spec = S.ModelSpec("bn", (3,), (S.Linear(2), S.BatchNorm1d()))
    state = N.init_state(spec)
    np.testing.assert_array_equal(state["1.running_mean"], np.zeros(2))
    np.testing.assert_array_equal(state["1.running_var"], np.ones(2))
    count = state["1.num_batches_tracked"]
    assert count.shape == () and count.dtype == np.int64 and count == 0


def test_norm_builder_names_a_spec_it_cannot_build():
    # a new norm-like spec routed here without a builder must say which spec, not fail later
    from numpy_impl import norm
    with pytest.raises(TypeError, match=r"^no NumPy layer for spec Linear\(out_features=2, bias=True\)$"):
        norm.build_layer(S.Linear(2), (3,), np.float64, None)


def test_recurrent_builder_names_a_spec_it_cannot_build_and_keeps_bias_false():
    from numpy_impl import recurrent
    with pytest.raises(TypeError, match=r"^no NumPy layer for spec Linear\(out_features=2, bias=True\)$"):
        recurrent.build_layer(S.Linear(2), (3,), np.float64)
    layer = recurrent.build_layer(LSTM(4, bias=False), (5, 3), np.float64)
    assert sorted(layer.params) == ["weight_hh_l0", "weight_ih_l0"]


@pytest.mark.parametrize("batch_first, layout", [(True, "N, T"), (False, "T, N")])
@pytest.mark.parametrize("x", [np.ones((2, 3)), np.ones((2, 5, 4))], ids=["2d", "wrong_width"])
def test_recurrent_input_message_names_its_layout(batch_first, layout, x):
    with pytest.raises(ValueError, match=rf"^gru: expected input \({layout}, 3\), got shape {re.escape(str(x.shape))}$"):
        N.Recurrent("gru", 3, 4, batch_first=batch_first).forward(x)


@pytest.mark.parametrize("given_state", [False, True], ids=["zeros", "given_float64"])
def test_recurrent_float32_stays_float32_with_any_initial_state(given_state):
    layer = N.Recurrent("lstm", 3, 4, num_layers=2, dtype=np.float32)
    for p in layer.params.values():
        p[...] = 0.1
    if given_state:
        layer.initial_state = (np.full((2, 2, 4), 0.5), np.full((2, 2, 4), -0.5))  # float64, cast to the input's dtype
    y = layer.forward(np.ones((2, 5, 3), np.float32))
    assert y.dtype == np.float32
    assert all(s.dtype == np.float32 for rec in layer.records for s in rec.states)
    assert all(a.dtype == np.float32 for rec in layer.records for cache in rec.caches for a in cache)  # computed so


def test_recurrent_without_bias_has_no_bias_gradients():
    layer = N.Recurrent("rnn_tanh", 3, 4, bias=False)
    layer.forward(np.ones((2, 5, 3)))
    layer.backward(np.ones((2, 5, 4)))
    assert sorted(layer.grads) == sorted(layer.params) == ["weight_hh_l0", "weight_ih_l0"]


# --- initialisation of sequence models ------------------------------------------------------

def test_init_sequence_torch_scheme():
    """torch's defaults: an embedding N(0, 1); every recurrent tensor U(-1/sqrt(H), 1/sqrt(H))."""
    spec = S.ModelSpec("seq", (5,), (Embedding(100, 50), LSTM(16), LastStep(), S.Linear(2)), loss="softmax_ce")
    state = N.init_state(spec, seed=0)
    assert 0.97 < state["0.weight"].std() < 1.03 and abs(state["0.weight"].mean()) < 0.03
    for key in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
        top = np.abs(state[f"1.{key}"]).max()
        assert 0.8 * 0.25 < top <= 0.25, key  # H = 16


def test_init_sequence_constant_scheme():
    spec = S.ModelSpec("seq", (5,), (Embedding(10, 4), LSTM(3), LastStep(), S.Linear(2)), loss="softmax_ce",
                       init=S.Init("constant", value=0.5, bias=0.1))
    state = N.init_state(spec)
    for key, value in state.items():
        np.testing.assert_array_equal(value, np.full(value.shape, 0.1 if "bias" in key else 0.5), err_msg=key)


def test_init_recurrent_layer_inside_a_residual_branch():
    spec = S.ModelSpec("r", (5, 3), (S.Residual((LSTM(3),)), LastStep(), S.Linear(2)))
    state = N.init_state(spec)
    assert sorted(state) == sorted(["0.branch.0.weight_ih_l0", "0.branch.0.weight_hh_l0", "0.branch.0.bias_ih_l0",
                                    "0.branch.0.bias_hh_l0", "2.weight", "2.bias"])
    assert all(np.abs(state[f"0.branch.0.{k}"]).max() <= 1 / np.sqrt(3) for k in ("weight_ih_l0", "bias_hh_l0"))


@pytest.mark.parametrize("layer, shape, message", [
    (Embedding(10, 4), (5, 3), r"^layer 0 \(embedding\): needs token indices \(T,\), got shape \(5, 3\)$"),
    (LSTM(3), (5,), r"^layer 0 \(lstm\): needs a sequence \(T, features\), got shape \(5,\)$"),
    (LastStep(), (5,), r"^layer 0 \(last_step\): needs a sequence \(T, features\), got shape \(5,\)$"),
    (TemporalAffine(2), (5,), r"^layer 0 \(temporal_affine\): needs a sequence \(T, features\), got shape \(5,\)$"),
], ids=["embedding", "lstm", "last_step", "temporal_affine"])
def test_sequence_spec_messages_name_the_layer_as_its_layers_do(layer, shape, message):
    with pytest.raises(ValueError, match=message):
        S.ModelSpec("seq", shape, (layer,))


def test_temporal_affine_bias_inside_a_residual_branch_is_a_bias():
    spec = S.ModelSpec("seq", (5, 3), (S.Residual((TemporalAffine(3),)),), init=S.Init("constant", value=0.5, bias=0.1))
    state = N.init_state(spec)
    np.testing.assert_array_equal(state["0.branch.0.bias"], np.full(3, 0.1))
    np.testing.assert_array_equal(state["0.branch.0.weight"], np.full((3, 3), 0.5))


def test_temporal_affine_bias_takes_torchs_bound_from_its_weight():
    spec = S.ModelSpec("seq", (5, 16), (TemporalAffine(200),))
    assert S.infer_shapes(spec) == [((5, 16), (5, 200))]
    bias = N.init_state(spec, seed=0)["0.bias"]
    assert 0.9 * 0.25 < np.abs(bias).max() <= 0.25  # U(-1/sqrt(16), 1/sqrt(16))


def test_recurrent_layer_defaults_and_fresh_attributes():
    layer = N.Recurrent("gru", 3, 4)
    assert sorted(layer.params) == ["bias_hh_l0", "bias_ih_l0", "weight_hh_l0", "weight_ih_l0"]
    assert layer.records == [] and layer.grad_initial_state is None and layer.initial_state is None


def test_recurrent_float32_without_bias_stays_float32():
    layer = N.Recurrent("rnn_tanh", 3, 4, bias=False, dtype=np.float32)
    for p in layer.params.values():
        p[...] = 0.1
    layer.forward(np.ones((2, 5, 3), np.float32))
    assert all(a.dtype == np.float32 for cache in layer.records[0].caches for a in cache)


def test_recurrent_kind_message():
    with pytest.raises(ValueError, match=r"^recurrent kind: unknown 'rnn'; choose from rnn_tanh, rnn_relu, lstm, gru$"):
        RF.cell_of("rnn")


# --- kink states: which side of each kink the last input fell on ----------------------------

@pytest.mark.parametrize("layer", [N.ReLU(), N.LeakyReLU(0.1), N.LeakyReLU(-0.5)],
                         ids=["relu", "leaky_relu", "leaky_relu_negative_slope"])
def test_activation_kink_state_is_x_above_zero(layer):
    """The input's side, not the output's: with a negative slope y > 0 for x < 0 too."""
    assert layer.kink_state() is None  # before any forward
    layer.forward(np.array([[-1.0, 0.0, 2.0]]))
    np.testing.assert_array_equal(layer.kink_state(), [[False, False, True]])  # at 0: the left side, as the derivative


def test_kink_states_of_layers_without_kinks():
    assert N.MaxPool2d(2).kink_state() is None  # before any forward
    empty = N.Sequential([N.Linear(2, 2), N.Tanh()]).kink_state()
    assert empty.dtype == bool and empty.shape == (0,)


# --- exercise_norm_state: norm layers moved off torch's start -------------------------------

def test_exercise_norm_state_ranges_and_reproducibility():
    spec = S.ModelSpec("n", (4,), (S.Linear(400), S.BatchNorm1d(), S.Linear(2)))
    state = N.init_state(spec)
    out = N.init.exercise_norm_state(spec, state)
    for key in ("0.weight", "0.bias", "2.weight", "2.bias"):
        assert out[key] is state[key]  # only the norm layer's tensors are drawn
    for name, (lo, hi) in {"weight": (0.5, 1.5), "bias": (-0.5, 0.5), "running_mean": (-0.5, 0.5),
                           "running_var": (0.5, 2.0)}.items():
        v = out[f"1.{name}"]
        assert lo <= v.min() < lo + 0.05 and hi - 0.05 < v.max() <= hi, name
    assert out["1.num_batches_tracked"] == 3 and out["1.num_batches_tracked"].dtype == np.int64
    again = N.init.exercise_norm_state(spec, state, seed=0)
    assert all(np.array_equal(out[k], again[k]) for k in out)
    assert not np.array_equal(out["1.weight"], N.init.exercise_norm_state(spec, state, seed=1)["1.weight"])


def test_exercise_norm_state_stream_is_pinned():
    """The draws come from their own stream, default_rng([seed, 20]): recorded verdicts and
    figures that used exercised states stay reproducible across versions."""
    spec = S.ModelSpec("n", (4,), (S.Linear(6), S.BatchNorm1d(), S.Linear(2)))
    out = N.init.exercise_norm_state(spec, N.init_state(spec))
    np.testing.assert_array_equal(out["1.weight"], np.random.default_rng([0, 20]).uniform(0.5, 1.5, 6))


# --- Adam's message and float32 arithmetic; Dropout's p ------------------------------------

def test_adam_names_why_it_needs_contiguous_parameters():
    p = np.ones((3, 4)).T  # a transposed view: no flat view of it updates p in place
    # (no "$" in the pattern: under pytest, whose plugin entry point marks numpy_impl for assert
    # rewriting, the message gets an explanation appended)
    opt = N.optim.Adam({"w": p}, 0.1)
    with pytest.raises(AssertionError, match=r"^Adam updates parameters in place through flat views"):
        opt.step({"w": np.ones_like(p)})


def test_float32_adam_computes_in_float32(monkeypatch):
    seen = []
    update_block = N.optim.Adam._update_block
    monkeypatch.setattr(N.optim.Adam, "_update_block",
                        lambda self, *args: seen.append(args[-1].dtype) or update_block(self, *args))
    p = np.ones(5, dtype=np.float32)
    N.optim.Adam({"w": p}, 0.1).step({"w": np.full(5, 0.5, dtype=np.float32)})
    assert seen == [np.float32] and p.dtype == np.float32


def _training(layer):
    layer.training = True
    return layer


def test_dropout_p_defaults_to_torchs_and_lies_in_zero_to_one():
    assert N.Dropout().p == 0.5
    x = np.arange(6.0).reshape(2, 3)
    assert np.array_equal(_training(N.Dropout(0.0)).forward(x), x)  # p = 0 keeps everything, as torch allows
    with pytest.raises(ValueError, match=r"^dropout: p must lie in \[0, 1\), got 1.0$"):
        N.Dropout(1.0)


# --- convolution, pooling and dropout layers ----------------------------------------------

def test_an_overlapping_pool_is_built_with_its_stride():
    spec = S.ModelSpec("pool", (1, 7, 7), (S.MaxPool2d(3, stride=2), S.Flatten(), S.Linear(2)))
    model = N.build(spec)
    assert (model.layers[0].k, model.layers[0].stride) == (3, 2)
    assert model.forward(np.ones((1, 1, 7, 7))).shape == (1, 2)
    assert N.infer_shapes(spec)[0][1] == (1, 3, 3)
    assert (N.MaxPool2d().k, N.MaxPool2d().stride) == (2, 2)  # the default window, stride = window


def test_a_spec_without_a_numpy_layer_is_named():
    from numpy_impl.conv import build_layer
    with pytest.raises(TypeError, match=r"^no NumPy layer for spec 'conv'$"):
        build_layer("conv", (1, 4, 4), np.float64)


@pytest.mark.parametrize("shape,message", [
    ((2, 4, 4), r"^maxpool2d: expected input \(N, C, H, W\), got shape \(2, 4, 4\)$"),
    ((1, 1, 1, 5), r"^maxpool2d: input 1x5 is smaller than the 2x2 window$"),
    ((1, 1, 5, 1), r"^maxpool2d: input 5x1 is smaller than the 2x2 window$"),
])
def test_maxpool_names_a_bad_input(shape, message):
    with pytest.raises(ValueError, match=message):
        N.MaxPool2d(2).forward(np.ones(shape))


@pytest.mark.parametrize("k,dtype", [(2, np.int8), (11, np.int8), (12, np.int32)])
def test_maxpool_winners_are_small_integers_that_hold_every_tap(k, dtype, rng):
    """The winning tap i * k + j is kept in int8 while k * k < 128 taps fit, else in int32;
    a 12x12 window has 144 taps, past int8."""
    x = rng.normal(size=(2, 3, k + 1, k))
    y, (arg, *_) = CF.maxpool2d_forward(x, k, 1)
    assert arg.dtype == dtype
    windows = np.stack([x[:, :, i:i + k, :k].reshape(2, 3, -1) for i in range(2)], axis=2)  # (2, 3, 2, k*k)
    np.testing.assert_array_equal(arg[..., 0], windows.argmax(axis=-1))
    np.testing.assert_array_equal(y[..., 0], windows.max(axis=-1))


def test_conv2d_backward_gives_the_input_gradient_unless_told_not_to(rng):
    x, w, b = rng.normal(size=(2, 3, 5, 5)), rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4)
    y, cache = CF.conv2d_forward(x, w, b, 1, 1)
    dy = rng.normal(size=y.shape)
    dx, dw, _ = CF.conv2d_backward(dy, cache)
    assert dx is not None and dx.shape == x.shape
    assert CF.conv2d_backward(dy, cache, False)[0] is None


def test_a_sequential_skips_its_first_convolutions_input_gradient_when_asked(rng):
    model = N.build(S.ModelSpec("c", (1, 5, 5), (S.Conv2d(2, 3), S.Flatten(), S.Linear(2))))
    model.forward(rng.normal(size=(2, 1, 5, 5)))
    assert model.backward(np.ones((2, 2)), input_grad=False) is None
    assert model.layers[0].grads["weight"].shape == (2, 1, 3, 3)
    model.forward(rng.normal(size=(2, 1, 5, 5)))
    assert model.backward(np.ones((2, 2))).shape == (2, 1, 5, 5)  # asked once, not for good
    model.backward(np.ones((2, 2)), input_grad=False)
    conv = model.layers[0]  # the layer alone, afterwards, gives its input gradient again
    assert conv.backward(np.ones(conv.forward(np.ones((1, 1, 5, 5))).shape)).shape == (1, 1, 5, 5)


def test_backward_before_forward_is_named():
    with pytest.raises(RuntimeError, match=r"^Sequential: backward called before forward$"):
        N.Sequential([N.Linear(2, 3)]).backward(np.ones((1, 3)))


def test_dropout_draws_its_own_mask_when_given_no_generator():
    y = _training(N.Dropout(0.5)).forward(np.ones((50, 40)))
    assert set(np.unique(y)) == {0.0, 2.0}


def test_dropout_with_p_zero_draws_nothing_like_torch():
    rng = np.random.default_rng(0)
    x = np.ones((3, 4))
    assert _training(N.Dropout(0.0, rng=rng)).forward(x) is x
    assert rng.random() == np.random.default_rng(0).random()  # the generator was not touched


def test_conv2d_defaults_are_torchs_and_float32_stays_float32_without_bias():
    conv = N.Conv2d(1, 2, 3)
    assert (conv.stride, conv.padding, sorted(conv.params)) == (1, 0, ["bias", "weight"])
    bare = N.Conv2d(1, 2, 3, dtype=np.float32, bias=False)
    assert bare.forward(np.ones((1, 1, 4, 4), np.float32)).dtype == np.float32


@pytest.mark.parametrize("shape,pad,k,message", [
    ((1, 1, 2, 6), 0, 3, r"^conv2d: input 2x6 with padding 0 is smaller than the 3x3 kernel$"),
    ((1, 1, 6, 2), 0, 3, r"^conv2d: input 6x2 with padding 0 is smaller than the 3x3 kernel$"),
    ((1, 1, 1, 1), 1, 4, r"^conv2d: input 1x1 with padding 1 is smaller than the 4x4 kernel$"),
])
def test_conv2d_names_an_input_smaller_than_its_kernel(shape, pad, k, message):
    with pytest.raises(ValueError, match=message):
        N.Conv2d(1, 1, k, padding=pad).forward(np.ones(shape))


def test_conv2d_forward_defaults_to_stride_one_without_padding(rng):
    y, _ = CF.conv2d_forward(rng.normal(size=(1, 2, 6, 5)), rng.normal(size=(3, 2, 3, 3)), np.zeros(3))
    assert y.shape == (1, 3, 4, 3)


def test_l2_penalty_is_half_l2_times_the_squared_weights_and_leaves_biases_alone():
    state = {"0.weight": np.array([[1.0, 2.0]]), "0.bias": np.array([5.0]), "2.weight": np.array([3.0])}
    value, grads = N.l2_penalty(state, 0.1)
    assert value == pytest.approx(0.5 * 0.1 * (1 + 4 + 9), rel=1e-15)
    assert sorted(grads) == ["0.weight", "2.weight"]
    np.testing.assert_array_equal(grads["0.weight"], 0.1 * state["0.weight"])
    assert N.l2_penalty(state, 0.0) == (0.0, {})


def test_conv_output_size_exact_checks_the_fit_and_the_tiling():
    assert S.conv_output_size(5, 5, 1, 0, exact=True) == 1  # the kernel just fits
    assert S.conv_output_size(7, 3, 1, 0, exact=True) == 5
    assert S.conv_output_size(7, 3, 2, 0, exact=True) == 3
    with pytest.raises(ValueError, match=r"^conv: kernel 5 with padding 0 does not fit input 4$"):
        S.conv_output_size(4, 5, 1, 0, exact=True)
    with pytest.raises(ValueError, match=r"^conv: kernel 3 with padding 0 does not fit input 5$"):
        S.conv_output_size(5, 3, 0, 0, exact=True)  # stride 0
    with pytest.raises(ValueError, match=r"^conv: \(N - F \+ 2P\) / S = 3/2 is not an integer$"):
        S.conv_output_size(6, 3, 2, 0, exact=True)
    assert S.conv_output_size(6, 3, 2, 0) == 2  # without exact, rounded down as torch does


@pytest.mark.parametrize("k", [1, 3, 5, 7])
def test_same_padding_keeps_the_image_size(k):
    spec = S.ModelSpec("same", (1, 9, 8), (S.Conv2d(2, k, padding="same"), S.Flatten(), S.Linear(1)))
    assert S.conv_padding(spec.layers[0]) == (k - 1) // 2
    assert N.infer_shapes(spec)[0][1] == (2, 9, 8)


def test_layer_kind_is_the_layers_own_name():
    assert [S.layer_kind(x) for x in (TemporalAffine(3), LastStep(), S.Conv2d(2, 3), S.Activation("tanh"))] == \
        ["temporal_affine", "last_step", "conv2d", "tanh"]


# --- activations and the total loss --------------------------------------------------------

def test_softmax_backward_runs_over_the_last_axis_of_a_sequence(rng):
    x, dy = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 3, 4))
    y, cache = F.activation_forward(x, "softmax")
    dx = F.activation_backward(dy, cache)
    for n in range(2):
        for t in range(3):
            s = y[n, t]
            np.testing.assert_allclose(dx[n, t], (np.diag(s) - np.outer(s, s)) @ dy[n, t], rtol=1e-12, atol=1e-15)


def test_leaky_relu_slope_defaults_to_torchs():
    x = np.array([-2.0, 3.0])
    np.testing.assert_array_equal(F.activation_forward(x, "leaky_relu")[0], [-0.02, 3.0])
    np.testing.assert_array_equal(F.activation_funcs("leaky_relu")[0](x), [-0.02, 3.0])


def test_an_unknown_activation_lists_every_choice():
    with pytest.raises(ValueError, match=r"^activation: unknown 'swish'; choose from relu, sigmoid, tanh, softplus, "
                                         r"identity, leaky_relu, elu, softmax$"):
        F.activation_funcs("swish")


def test_total_loss_adds_the_l2_penalty_and_keeps_float32_gradients_float32(rng):
    spec = S.ModelSpec("m", (3,), (S.Linear(4), S.Activation("tanh"), S.Linear(2)), loss="mse", dtype="float32")
    model = N.build(spec)
    model.load_state_dict(N.init_state(spec, seed=0))
    x, target = rng.normal(size=(5, 3)).astype(np.float32), rng.normal(size=(5, 2))  # float64 targets
    plain, _ = total_loss_and_grads(model, "mse", 0.0, x, target)
    value, grads = total_loss_and_grads(model, "mse", 0.5, x, target)
    penalty, _ = N.l2_penalty(model.state_dict(), 0.5)
    assert penalty > 0 and value == pytest.approx(plain + penalty, rel=1e-12)
    assert {g.dtype for g in grads.values()} == {np.dtype(np.float32)}


def test_log_softmax_runs_over_the_last_axis_of_a_sequence(rng):
    z = rng.normal(size=(2, 3, 4)) * 30
    expected = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    np.testing.assert_allclose(F.log_softmax(z), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.exp(F.log_softmax(z)), F.softmax(z), rtol=1e-12, atol=1e-15)


def test_linear_has_a_bias_by_default():
    assert sorted(N.Linear(2, 3).params) == ["bias", "weight"]
    assert sorted(N.Linear(2, 3, bias=False).params) == ["weight"]


# --- Sequential, build, initialisation and the spec's checks --------------------------------

class _Adapted:
    """A user's layer behind an adapter: parameters only, no load_tensor and no buffers."""
    kind = "adapted"

    def __init__(self):
        self.params = {"w": np.zeros(3, np.float32)}


def test_a_layer_without_load_tensor_gets_a_copy_in_its_own_dtype():
    model = N.Sequential([_Adapted()])
    given = np.array([1.0, 2.0, 3.0], np.float32)
    model.load_state_dict({"0.w": given})
    loaded = model.layers[0].params["w"]
    assert loaded.dtype == np.float32 and loaded.tolist() == [1.0, 2.0, 3.0]
    given[0] = 9.0
    assert loaded[0] == 1.0  # a copy: the caller's array is not the layer's
    model.load_state_dict({"0.w": np.array([4.0, 5.0, 6.0])})  # float64 in, the layer's float32 kept
    assert model.layers[0].params["w"].dtype == np.float32


def test_build_initialises_from_its_seed_zero_by_default():
    spec = N.mlp("m", [3, 4, 2], "tanh")
    for seed in (0, 3):
        state = N.init_state(spec, seed)
        built = N.build(spec, seed).state_dict()
        assert all(np.array_equal(built[k], state[k]) for k in state), seed
    default = N.build(spec).state_dict()
    assert all(np.array_equal(default[k], v) for k, v in N.init_state(spec, 0).items())
    assert not N.build(spec, None).state_dict()["0.weight"].any()  # None: zeros


def test_fans_of_linear_and_conv_weights():
    assert _fans((4, 3)) == (3, 4)
    assert _fans((8, 3, 5, 5)) == (75, 200)  # fan_in = C * k * k, fan_out = O * k * k, as torch's


def test_init_weight_names_an_unknown_scheme(rng):
    with pytest.raises(ValueError, match=r"^init: unknown scheme 'bogus'$"):
        init_weight(S.Init("bogus"), (2, 3), rng)


def test_torch_scheme_bias_spreads_over_plus_minus_one_over_root_fan_in(rng):
    b = init_bias(S.Init("torch"), (400,), (400, 16), rng)
    assert np.abs(b).max() <= 0.25 and b.min() < -0.2 and b.max() > 0.2  # U(-1/sqrt(16), 1/sqrt(16))


def test_buffer_dict_of_a_layer_without_buffers_is_empty():
    model = N.Sequential([_Adapted()])
    assert model.buffer_dict() == {} and list(model.state_dict()) == ["0.w"]


@pytest.mark.parametrize("layers,where", [
    ((S.Linear(3), S.Activation("swish")), "layer 1"),
    ((S.Linear(3), S.Residual((S.Linear(3), S.Activation("swish")))), "layer 1 branch layer 1"),
])
def test_an_unknown_activation_in_a_spec_is_named_where_it_is(layers, where):
    with pytest.raises(ValueError, match=rf"^{where}: unknown activation 'swish'; choose from relu, sigmoid, tanh, "
                                         r"leaky_relu, elu, softplus, identity, softmax$"):
        S.ModelSpec("m", (3,), layers)


def test_init_state_seed_defaults_to_zero_and_a_fresh_sequential_has_no_records():
    spec = N.mlp("m", [3, 4, 2], "tanh")
    assert all(np.array_equal(v, N.init_state(spec, 0)[k]) for k, v in N.init_state(spec).items())
    model = N.build(spec)
    assert model.outputs == [] and model.grad_inputs == []


@pytest.mark.parametrize("kwargs,message", [
    ({"l2": -1.0}, r"l2: must be >= 0, got -1.0"),
    ({"init": S.Init("bogus")}, r"init: unknown 'bogus'; choose from uniform, constant, truncnormal, xavier, torch"),
    ({"dtype": "float16"}, r"dtype: unknown 'float16'; choose from float64, float32"),
])
def test_model_spec_fields_are_named_in_whole(kwargs, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        S.ModelSpec("m", (3,), (S.Linear(2),), **kwargs)


def test_conv_spec_shapes_each_side_on_its_own():
    assert N.infer_shapes(S.ModelSpec("m", (1, 5, 9), (S.Conv2d(2, 5),)))[0][1] == (2, 1, 5)  # H out 1 fits
    assert N.infer_shapes(S.ModelSpec("m", (1, 9, 5), (S.Conv2d(2, 5),)))[0][1] == (2, 5, 1)  # W out 1 fits
    with pytest.raises(ValueError, match=r"^layer 0 \(conv2d\): input \(3, 9\) too small for kernel 5$"):
        S.ModelSpec("m", (1, 3, 9), (S.Conv2d(2, 5),))
    with pytest.raises(ValueError, match=r"^layer 0 \(maxpool2d\): needs \(C, H, W\) input, got shape \(4,\)$"):
        S.ModelSpec("m", (4,), (S.MaxPool2d(2),))


def test_a_residual_whose_branch_cannot_be_matched_is_named_by_its_index():
    with pytest.raises(ValueError, match=r"^layer 1 \(residual\): its branch maps \(2, 6, 6\) to \(2, 5, 5\), which no "
                                         r"Linear or strided 1x1 convolution on the skip path can match$"):
        S.ModelSpec("m", (1, 6, 6), (S.Conv2d(2, 1), S.Residual((S.Conv2d(2, 2),))))


def test_layers_start_in_eval_mode_with_a_boolean_flag():
    assert all(layer.training is False for layer in (N.Linear(2, 3), N.Dropout(0.5), N.BatchNorm1d(3)))
