"""One discovery of a user's W and b for both halves of byo: a layer keeping its parameters
and gradients under any of the names people use is found alike by byo.rowmajor and by
byo.cnn (after a flatten), passes when right and is caught when wrong; what cannot be told
is asked for with an argument the function accepts."""
import inspect

import numpy as np
import pytest

from crosscheck import byo
from numpy_impl.conv_functional import conv2d_backward, conv2d_forward

from corpus.cnn_cases import TF

Flatten = TF.Flatten  # x.reshape(N, -1) in C order, whichever layout

# Where a layer keeps (W, b) and, after backward, (dW, db): attribute names or dict keys.
STYLES = {
    "weights/bias, grads dict": (("weights", "bias"), ("grads", "weights", "bias")),
    "w/b, dw/db": (("w", "b"), (None, "dw", "db")),
    "params dict": (("params", "W", "b"), ("grads", "W", "b")),
    "kernel/bias, _grad": (("kernel", "bias"), (None, "kernel_grad", "bias_grad")),
}


def _keep(obj, where: tuple, a, b) -> None:
    """obj.<a name> = a, obj.<b name> = b, or obj.<dict>[key] = ... where the style says so."""
    if len(where) == 3 and where[0] is not None:
        setattr(obj, where[0], {where[1]: a, where[2]: b})
    else:
        setattr(obj, where[-2], a)
        setattr(obj, where[-1], b)


def _read(obj, where: tuple):
    return (getattr(obj, where[0])[where[1]] if len(where) == 3 else getattr(obj, where[0]),
            getattr(obj, where[0])[where[2]] if len(where) == 3 else getattr(obj, where[1]))


class NamedDense:
    """y = x.reshape(N, -1) @ W + b, W (in, out), kept under the names of `style`.
    bug="db-mean": the bias gradient averaged over the batch instead of summed."""

    def __init__(self, n_in, n_out, rng, style, bug=None):
        self.where, self.grad_where, self.bug = *STYLES[style], bug
        _keep(self, self.where, rng.normal(0, 0.4, (n_in, n_out)), rng.normal(0, 0.1, n_out))

    def forward(self, x):
        self.x = x.reshape(len(x), -1)  # (N, in)
        w, b = _read(self, self.where)
        return self.x @ w + b  # (N, out)

    def backward(self, dy):  # dy (N, out)
        w, _ = _read(self, self.where)
        db = dy.mean(0) if self.bug == "db-mean" else dy.sum(0)
        _keep(self, self.grad_where, self.x.T @ dy, db)  # dW (in, out), db (out,)
        return dy @ w.T  # (N, in)


class NamedConv:
    """NCHW convolution, W (F, C, 3, 3) kept under the names of `style`, padding 1."""
    pad = 1

    def __init__(self, c_in, c_out, rng, style):
        self.where, self.grad_where = STYLES[style]
        _keep(self, self.where, rng.normal(0, 0.3, (c_out, c_in, 3, 3)), rng.normal(0, 0.1, c_out))

    def forward(self, x):  # x (N, C, H, W)
        w, b = _read(self, self.where)
        y, self.cache = conv2d_forward(x, w, b, 1, 1)
        return y  # (N, F, H, W)

    def backward(self, dy):
        dx, dw, db = conv2d_backward(dy, self.cache)
        _keep(self, self.grad_where, dw, db)
        return dx


class Tanh:
    def forward(self, x):
        self.y = np.tanh(x)
        return self.y

    def backward(self, dy):
        return dy * (1 - self.y ** 2)


def _cnn(style, bug=None, conv=False):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(4, 2, 4, 4)), np.array([0, 2, 1, 2])
    head = [NamedConv(2, 3, rng, style), Tanh()] if conv else []
    width = 3 * 16 if conv else 2 * 16
    layers = [*head, Flatten(), NamedDense(width, 8, rng, style), Tanh(), NamedDense(8, 3, rng, style, bug)]
    return byo.cnn(layers, x, y, layout="nchw")


@pytest.mark.parametrize("style", STYLES)
def test_a_fully_connected_layer_in_a_cnn_is_found_under_any_name(style):
    result = byo.check(_cnn(style))
    assert result.passed, [r.acc.describe() for r in result.rows if r.status != "ok"]
    assert [layer.kind for layer in _cnn(style).model.layers][1] == "linear"


@pytest.mark.parametrize("style", STYLES)
def test_a_bug_in_a_cnn_fully_connected_layer_is_caught(style):
    result = byo.check(_cnn(style, bug="db-mean"))
    assert not result.passed
    assert result.culprit().layer == 3 and result.culprit().quantity == "bias.grad"


@pytest.mark.parametrize("style", ["weights/bias, grads dict", "kernel/bias, _grad"])
def test_a_convolution_is_found_under_the_same_names(style):
    model = _cnn(style, conv=True)
    assert model.model.layers[0].kind == "conv2d"
    assert byo.check(model, fd=False).passed


@pytest.mark.parametrize("style", STYLES)
def test_rowmajor_finds_the_same_layer(style):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(6, 5)), rng.normal(size=(6, 2))
    assert byo.check(byo.rowmajor([NamedDense(5, 4, rng, style), Tanh(), NamedDense(4, 2, rng, style)], x, y)).passed


class Cube:
    def forward(self, x):
        return x ** 3

    def backward(self, dy):
        return dy


def _accepts(fn, message: str) -> None:
    """Every `name=` the message tells the user to pass is an argument of fn."""
    told = {w.split("=")[0].strip("(`'") for w in message.split() if "=" in w}
    assert told, message
    assert told <= set(inspect.signature(fn).parameters), (told, message)


def test_what_byo_cnn_asks_for_it_accepts():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(2, 1, 3, 3)), np.array([0, 1])
    layers = [Flatten(), NamedDense(9, 2, rng, "w/b, dw/db"), Cube()]
    with pytest.raises(ValueError, match="cannot tell which activation") as err:
        byo.cnn(layers, x, y)
    _accepts(byo.cnn, str(err.value))
    with pytest.raises(ValueError, match="activation 'cube' is not supported") as err:
        byo.cnn(layers, x, y, activations=[None, None, "cube"])

    class Grad:  # gradients under names nobody guesses
        W, b = rng.normal(size=(9, 2)), np.zeros(2)

        def forward(self, x):
            self.x = x
            return x @ self.W + self.b

        def backward(self, dy):
            self.dweight_matrix, self.dbias_vector = self.x.T @ dy, dy.sum(0)
            return dy @ self.W.T

    with pytest.raises(ValueError, match=r"layer 1 \(Grad\): after backward found no gradient for W") as err:
        byo.cnn([Flatten(), Grad()], x, y)
    _accepts(byo.cnn, str(err.value))
    declared = byo.cnn([Flatten(), Grad()], x, y, param_names=("W", "b", "dweight_matrix", "dbias_vector"))
    assert byo.check(declared, fd=False).passed


def test_a_square_cnn_weight_both_layouts_fit_is_asked_for():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(3, 1, 2, 2)), np.array([0, 1, 3])
    dense = NamedDense(4, 4, rng, "w/b, dw/db")
    dense.w = np.eye(4)  # symmetric: x @ W and x @ W.T agree
    with pytest.raises(ValueError, match="fits both layouts") as err:
        byo.cnn([Flatten(), dense], x, y)
    _accepts(byo.cnn, str(err.value))
    assert byo.check(byo.cnn([Flatten(), dense], x, y, w_layout=[None, "in,out"]), fd=False).passed


def test_a_weight_without_a_bias_is_named_by_byo_cnn():
    """byo.cnn asks for a bias; byo.rowmajor checks such a layer as torch's bias=False
    (test_byo_objects.py)."""
    class NoBias:
        W = np.ones((4, 2))

        def forward(self, x):
            return x.reshape(len(x), -1) @ self.W

        def backward(self, dy):
            return dy @ self.W.T

    x = np.ones((2, 1, 2, 2))
    with pytest.raises(ValueError, match="keeps a weight W but no bias") as err:
        byo.cnn([Flatten(), NoBias()], x, np.array([0, 1]))
    _accepts(byo.cnn, str(err.value))
