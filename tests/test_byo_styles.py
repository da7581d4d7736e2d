"""Styles a new user tried that once got wrong verdicts: each correct one passes, each slip is
pinned to its layer, each unsupported shape of code gets one line naming what to do."""
import numpy as np
import pytest

from crosscheck import byo


class Dense:
    def __init__(self, n_in, n_out, rng):
        self.W, self.b = rng.normal(0, 0.5, (n_in, n_out)), np.zeros(n_out)

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dy):
        self.dW, self.db = self.x.T @ dy, dy.sum(axis=0)
        return dy @ self.W.T


class Softmax:
    def __init__(self, diagonal_only=False):
        self.diagonal_only = diagonal_only

    def forward(self, z):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        self.p = e / e.sum(axis=1, keepdims=True)
        return self.p

    def backward(self, dy):
        if self.diagonal_only:  # the classic slip: only the Jacobian's diagonal
            return dy * self.p * (1 - self.p)
        return self.p * (dy - (dy * self.p).sum(axis=1, keepdims=True))


class LReLU:  # the name contains "relu", the slope says otherwise
    slope = 0.1

    def forward(self, x):
        self.x = x
        return np.where(x > 0, x, self.slope * x)

    def backward(self, dy):
        return dy * np.where(self.x > 0, 1.0, self.slope)


class NonLinearity:  # the name contains "linear"; the function is a constructor argument
    def __init__(self, kind):
        self.kind = kind

    def forward(self, x):
        self.y = 1 / (1 + np.exp(-x)) if self.kind == "sigmoid" else np.tanh(x)
        return self.y

    def backward(self, dy):
        return dy * (self.y * (1 - self.y) if self.kind == "sigmoid" else 1 - self.y ** 2)


def _data(rng, n=16, d=5, classes=3):
    return rng.normal(size=(n, d)), rng.integers(0, classes, n)


@pytest.mark.parametrize("diagonal_only", [False, True], ids=["right", "diagonal-only"])
def test_a_softmax_layer_before_softmax_ce_is_checked_as_a_layer(rng, diagonal_only):
    x, y = _data(rng)
    layers = [Dense(5, 8, rng), NonLinearity("tanh"), Dense(8, 3, rng), Softmax(diagonal_only)]
    result = byo.check(byo.rowmajor(layers, x, y, loss="softmax_ce"))
    assert result.passed is not diagonal_only
    if diagonal_only:
        assert result.culprit().layer == 3


def test_own_nll_on_probabilities_is_checked_against_the_same_function(rng):
    x, y = _data(rng)

    def nll(p, labels):
        n = len(labels)
        grad = np.zeros_like(p)
        grad[np.arange(n), labels] = -1 / (n * p[np.arange(n), labels])
        return -np.mean(np.log(p[np.arange(n), labels])), grad

    model = byo.rowmajor([Dense(5, 8, rng), NonLinearity("tanh"), Dense(8, 3, rng), Softmax()], x, y,
                         loss="softmax_ce", loss_fn=nll)
    assert byo.check(model).passed


@pytest.mark.parametrize("act", [LReLU(), NonLinearity("sigmoid")], ids=["LReLU", "NonLinearity"])
def test_class_names_are_checked_against_the_forward(rng, act):
    x = rng.normal(size=(16, 4))
    y = rng.normal(size=(16, 1))
    assert byo.check(byo.rowmajor([Dense(4, 6, rng), act, Dense(6, 1, rng)], x, y, loss="mse")).passed


def test_an_unknown_loss_is_named(rng):
    x, y = _data(rng)
    with pytest.raises(ValueError, match="loss: unknown 'cross_entropy'; choose from"):
        byo.rowmajor([Dense(5, 3, rng)], x, y, loss="cross_entropy")


def test_a_backward_returning_its_gradients_is_read_and_any_other_tuple_gets_one_line(rng):
    class TupleDense(Dense):  # (dX, dW, db): the parameter gradients read from what it returns
        def backward(self, dy):
            super().backward(dy)
            return dy @ self.W.T, self.dW, self.db

    class Odd(Dense):  # a tuple that is not (dX, gradients shaped as W and b)
        def backward(self, dy):
            super().backward(dy)
            return dy @ self.W.T, self.dW, self.db, 0

    x, y = rng.normal(size=(8, 4)), rng.normal(size=(8, 1))
    assert byo.check(byo.rowmajor([TupleDense(4, 1, rng)], x, y, loss="mse")).passed
    with pytest.raises(ValueError, match=r"layer 0 \(Odd\)\.backward returned a tuple of 4 items"):
        byo.check(byo.rowmajor([Odd(4, 1, rng)], x, y, loss="mse"))


def test_a_layer_without_backward_is_named(rng):
    class NoBackward:
        def forward(self, x):
            return x

    with pytest.raises(ValueError, match=r"layer 1 \(NoBackward\): has no backward\(\) method"):
        byo.rowmajor([Dense(4, 1, rng), NoBackward()], rng.normal(size=(8, 4)), rng.normal(size=(8, 1)))


class TorchLinear:
    """W stored (out, in) like torch: y = x @ W.T + b."""
    def __init__(self, n_in, n_out, rng, transposed_dw=False):
        self.W, self.b = rng.normal(0, 0.3, (n_out, n_in)), rng.normal(0, 0.1, n_out)
        self.transposed_dw = transposed_dw

    def forward(self, x):
        self.x = x
        return x @ self.W.T + self.b

    def backward(self, dy):
        self.dW, self.db = dy.T @ self.x, dy.sum(0)
        if self.transposed_dw:
            self.dW = self.dW.T
        return dy @ self.W


class Flatten:
    def forward(self, x):
        self.shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, dy):
        return dy.reshape(self.shape)


@pytest.mark.parametrize("transposed_dw", [False, True], ids=["right", "dW-transposed"])
def test_a_cnn_square_fc_stored_out_in_is_told_from_its_forward(rng, transposed_dw):
    x, y = rng.normal(size=(3, 2, 4, 4)), np.array([0, 2, 1])
    layers = [Flatten(), TorchLinear(32, 8, rng), NonLinearity("tanh"), TorchLinear(8, 8, rng, transposed_dw),
              NonLinearity("tanh"), TorchLinear(8, 3, rng)]
    result = byo.check(byo.cnn(layers, x, y, layout="nchw"))
    assert result.passed is not transposed_dw
    if transposed_dw:
        assert result.culprit().layer == 3 and "transposed" in result.culprit().slip


def affine_forward(x, w, b):
    return x.reshape(len(x), -1) @ w + b, (x, w)


def affine_backward(dout, cache):
    x, w = cache
    return (dout @ w.T).reshape(x.shape), x.reshape(len(x), -1).T @ dout, dout.sum(0)


def relu_forward(x):
    return np.maximum(x, 0), x


def relu_backward(dout, x, masked=True):
    return dout * (x > 0) if masked else dout


def sandwich_funcs(masked: bool) -> dict:
    def affine_relu_forward(x, w, b):
        a, fc = affine_forward(x, w, b)
        out, rc = relu_forward(a)
        return out, (fc, rc)

    def affine_relu_backward(dout, cache):
        fc, rc = cache
        return affine_backward(relu_backward(dout, rc, masked), fc)
    return {**globals(), "affine_relu_forward": affine_relu_forward, "affine_relu_backward": affine_relu_backward}


@pytest.mark.parametrize("masked", [True, False], ids=["right", "relu-mask-missing"])
def test_cs231n_sandwich_layers_carry_their_activation(rng, masked):
    x, y = _data(rng, d=6)
    layers = [("affine_relu", rng.normal(0, .4, (6, 8)), np.zeros(8)), ("affine", rng.normal(0, .4, (8, 3)), np.zeros(3))]
    result = byo.check(byo.functional(layers, x, y, funcs=sandwich_funcs(masked), loss="softmax_ce"))
    assert result.passed is masked
    if not masked:
        assert result.culprit().layer == 0


def test_a_loss_summed_over_outputs_is_named(rng):
    """The common per-sample sum of squares, sum((p - y)^2) / N, where mse means over N*D."""
    def sum_sq(pred, target):
        diff = pred - target
        return np.sum(diff ** 2) / len(pred), 2 * diff / len(pred)

    x, y = rng.normal(size=(8, 4)), rng.normal(size=(8, 2))
    result = byo.check(byo.rowmajor([Dense(4, 5, rng), NonLinearity("tanh"), Dense(5, 2, rng)], x, y,
                                    loss="mse", loss_fn=sum_sq))
    assert not result.passed
    assert "D=2 times too large" in result.culprit().slip


def test_a_column_major_softmax_output_is_judged_by_the_true_cross_entropy(rng):
    """Any convention whose network ends in a softmax (here colmajor's output_activation) is judged
    with cross-entropy on its probabilities, not softmax_ce applied to them a second time."""
    def forward(A, W, b, act):
        Z = W @ A + b
        if act == "softmax":
            e = np.exp(Z - Z.max(0, keepdims=True))
            out = e / e.sum(0, keepdims=True)
        else:
            out = np.maximum(Z, 0)
        return out, (A, W, Z, out)

    def backward(dA, cache, act):
        A, W, Z, out = cache
        dZ = out * (dA - (dA * out).sum(0, keepdims=True)) if act == "softmax" else dA * (Z > 0)
        return W.T @ dZ, dZ @ A.T, dZ.sum(1, keepdims=True)

    X, Y = rng.normal(size=(4, 10)), rng.integers(0, 3, 10)
    params = [(rng.normal(size=(6, 4)), np.zeros((6, 1))), (rng.normal(size=(3, 6)), np.zeros((3, 1)))]
    result = byo.check(byo.colmajor(params, "relu", forward, backward, X, Y, output_activation="softmax",
                                    loss="softmax_ce"))
    A = X
    for i, (W, b) in enumerate(params):
        A, _ = forward(A, W, b, "softmax" if i == 1 else "relu")
    loss_row = next(r for r in result.rows if r.quantity == "loss")
    assert result.passed
    assert loss_row.acc.expected == pytest.approx(-np.mean(np.log(A[Y, np.arange(10)])), rel=1e-12)
