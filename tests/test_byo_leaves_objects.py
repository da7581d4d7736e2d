"""A check leaves the user's objects as they were, and reads a backward(grad, lr) at a real
update (found in review: each of these failed before)."""
import sys
from pathlib import Path

import numpy as np
import pytest

from crosscheck import byo
from test_byo_objects import MomentumSGD, ScratchDense, ScratchTanh, SGDDense, SGDSigmoid

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
import byo_batchnorm_rowmajor as bn_example  # noqa: E402


def _data(seed=0):
    rng = np.random.default_rng(seed)
    return rng, rng.normal(size=(16, 4)), rng.normal(size=(16, 2))


class StoresAndUpdates:
    """Keeps dW, db and updates in place; the slip: dx from the updated W."""

    def __init__(self, n_in, n_out, rng):
        self.W, self.b = rng.normal(size=(n_in, n_out)), rng.normal(size=n_out)

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, grad, lr):
        self.dW, self.db = self.x.T @ grad, grad.sum(0)
        self.W -= lr * self.dW
        self.b -= lr * self.db
        return grad @ self.W.T


def test_dx_from_the_updated_weights_fails_where_dw_is_kept_too():
    rng, x, y = _data()
    result = byo.check(byo.rowmajor([StoresAndUpdates(4, 5, rng), SGDSigmoid(), StoresAndUpdates(5, 2, rng)],
                                    x, y, loss="mse"))
    assert not result.passed
    assert result.culprit().layer in (0, 2)


def test_the_users_optimizers_are_theirs_again_after_a_check_and_a_second_check_passes():
    rng, x, y = _data()
    layers = [ScratchDense(4, 5, rng), ScratchTanh(), ScratchDense(5, 2, rng)]
    for layer in layers[::2]:
        layer.initialize(MomentumSGD())
    model = byo.rowmajor(layers, x, y, loss="mse")
    assert byo.check(model).passed
    assert {type(layers[0].W_opt).__name__, type(layers[2].w0_opt).__name__} == {"MomentumSGD"}
    assert byo.check(model).passed


@pytest.mark.parametrize("velocity", [0.0, 0.3], ids=["fresh", "moving"])
def test_a_momentum_layers_state_is_left_as_it_was(velocity):
    rng, x, y = _data(1)
    layer = SGDDense(4, 2, rng, momentum=0.9)
    layer.v = np.full((4, 2), velocity)
    W = layer.W.copy()
    try:
        byo.check(byo.rowmajor([layer], x, y, loss="mse"))
    except ValueError as err:  # a moving buffer cannot be read back from an update: refused
        assert velocity and "momentum" in str(err)
    np.testing.assert_array_equal(layer.v, np.full((4, 2), velocity))
    np.testing.assert_array_equal(layer.W, W)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_running_statistics_are_left_as_they_were(training):
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(8, 5)), rng.integers(0, 3, size=8)
    layers = bn_example.layers(rng, training=training)
    bn = layers[1]
    before = bn.running_mean.copy(), bn.running_var.copy()
    assert byo.check(byo.rowmajor(layers, x, y, loss="softmax_ce")).passed
    np.testing.assert_array_equal(bn.running_mean, before[0])
    np.testing.assert_array_equal(bn.running_var, before[1])
    assert bn.training is training


class AdamDense(StoresAndUpdates):
    """backward(grad, lr) taking an Adam step and keeping no gradient: its first step is about
    lr * sign(dW), odd in the gradient, so only a step for -2 grad shows it is not lr * dW."""

    def __init__(self, n_in, n_out, rng):
        super().__init__(n_in, n_out, rng)
        self.m, self.v, self.t = np.zeros_like(self.W), np.zeros_like(self.W), 0

    def backward(self, grad, lr):
        dW, dx = self.x.T @ grad, grad @ self.W.T
        self.t += 1
        self.m = 0.9 * self.m + 0.1 * dW
        self.v = 0.999 * self.v + 0.001 * dW ** 2
        self.W -= lr * (self.m / (1 - 0.9 ** self.t)) / (np.sqrt(self.v / (1 - 0.999 ** self.t)) + 1e-8)
        self.b -= lr * grad.sum(0)
        return dx


def test_an_adam_step_in_the_backward_is_refused_not_read_as_a_gradient():
    rng, x, y = _data(2)
    layer = AdamDense(4, 2, rng)
    with pytest.raises(ValueError, match="moves its parameters other than by lr"):
        byo.check(byo.rowmajor([layer], x, y, loss="mse"))
    assert layer.t == 0 and not layer.m.any()
