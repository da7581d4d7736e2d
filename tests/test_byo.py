"""Bring-your-own networks: both conventions, and broken user code pinned to its layer."""
import importlib.util
import pathlib

import numpy as np
import pytest

from crosscheck import byo

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("example", ["byo_rowmajor", "byo_colmajor"])
def test_examples_pass(example):
    result = byo.check(_load(example).crosscheck_model())
    assert result.passed
    assert max(result.worst("forward"), result.worst("gradient")) <= 1e-10


class Dense:
    def __init__(self, W, transposed=False, mean=False):
        self.W, self.b = W, np.zeros((1, W.shape[1]))
        self.transposed, self.mean = transposed, mean

    def forward(self, x):
        return x @ self.W + self.b

    def backward(self, x, dy):
        self.dW = x.T @ dy
        if self.transposed:
            self.dW = self.dW.T
        if self.mean:
            self.dW = self.dW / len(x)
        self.db = dy.sum(axis=0, keepdims=True)
        return dy @ self.W.T


class Sigmoid:
    def __init__(self, at_output=False):
        self.at_output = at_output

    def forward(self, x):
        self.y = 1 / (1 + np.exp(-x))
        return self.y

    def backward(self, dy):
        s = 1 / (1 + np.exp(-self.y)) if self.at_output else self.y
        return dy * s * (1 - s)


class Mystery:
    """No telling name: recognised by probing its forward."""
    def forward(self, x):
        self.x = x
        return np.tanh(x)

    def backward(self, dy):
        return dy * (1 - np.tanh(self.x) ** 2)


def _layers(rng, **broken):
    return [Dense(rng.normal(size=(3, 5)), transposed=broken.get("transposed", False)),
            Sigmoid(at_output=broken.get("at_output", False)),
            Dense(rng.normal(size=(5, 5)), mean=broken.get("mean", False)),
            Mystery(),
            Dense(rng.normal(size=(5, 1)))]


@pytest.mark.parametrize("broken,layer,slip", [
    ({}, None, ""),
    ({"at_output": True}, 1, "sigmoid derivative taken at the output"),
    ({"transposed": True}, 0, "weight.grad transposed"),
    ({"mean": True}, 2, "extra 1/N"),
], ids=["correct", "sigmoid-at-output", "transposed", "extra-mean"])
def test_rowmajor_user_slips_are_pinned(rng, broken, layer, slip):
    x = rng.normal(size=(20, 3))
    y = rng.normal(size=(20, 1))
    result = byo.check(byo.rowmajor(_layers(rng, **broken), x, y))
    if layer is None:
        assert result.passed
        assert [r.layer_name for r in result.rows][3] == "3:Mystery=tanh"
        return
    assert not result.passed
    assert {r.layer for r in result.rows if not r.local_ok} == {layer}
    assert slip in result.culprit().slip


def test_colmajor_batch_mean_convention(rng):
    """Course-style code divides by m inside the layer; the flag says so."""
    mod = _load("byo_colmajor")

    def backward_mean(dA, cache, activation):
        da, dw, db = mod.backward(dA, cache, activation)
        m = dA.shape[1]
        return da, dw / m, db / m

    X = rng.normal(size=(4, 30))
    Y = (X[:1] > 0).astype(float)
    params = [(rng.normal(size=(6, 4)), np.zeros((6, 1))), (rng.normal(size=(1, 6)), np.zeros((1, 1)))]
    plain = byo.check(byo.colmajor(params, "relu", mod.forward, backward_mean, X, Y,
                                   output_activation="sigmoid", loss="bce"))
    assert not plain.passed and "extra 1/N" in plain.culprit().slip
    flagged = byo.check(byo.colmajor(params, "relu", mod.forward, backward_mean, X, Y,
                                     output_activation="sigmoid", loss="bce", grads_are_batch_means=True))
    assert flagged.passed


def test_unrecognisable_activation_asks_for_names(rng):
    class Cube:
        def forward(self, x):
            return x ** 3

        def backward(self, dy):
            return dy

    with pytest.raises(ValueError, match=r"layer 1 \(Cube\): cannot tell which activation"):
        byo.rowmajor([Dense(rng.normal(size=(3, 2))), Cube()], rng.normal(size=(4, 3)), np.zeros((4, 2)))
