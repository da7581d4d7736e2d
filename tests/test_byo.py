"""Bring-your-own networks: both conventions, and broken user code pinned to its layer."""
import numpy as np
import pytest
from examples_loader import load_example

from crosscheck import byo


@pytest.mark.parametrize("example", ["byo_rowmajor", "byo_colmajor"])
def test_examples_pass(example):
    result = byo.check(load_example(example).crosscheck_model())
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
    mod = load_example("byo_colmajor")

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


NEW_EXAMPLES = ["byo_functional", "byo_network", "byo_netclass", "byo_dense"]


@pytest.mark.parametrize("example", NEW_EXAMPLES)
def test_new_examples_pass(example):
    assert byo.check(load_example(example).crosscheck_model()).passed


def test_planted_bug_in_each_example_fails_at_its_layer(monkeypatch):
    fun = load_example("byo_functional")
    monkeypatch.setattr(fun, "relu_backward", lambda dout, cache: dout)
    res = byo.check(fun.crosscheck_model())
    assert not res.passed and res.culprit().layer == 1 and "derivative missing" in res.culprit().slip
    net = load_example("byo_network")
    orig = net.backward
    monkeypatch.setattr(net, "backward", lambda d, p, c: [(g[0] / 2, g[1]) if k == 1 else g
                                                          for k, g in enumerate(orig(d, p, c))])
    res = byo.check(net.crosscheck_model())
    assert not res.passed and res.culprit().layer == 1
    dense = load_example("byo_dense")
    monkeypatch.setattr(dense.LeakyReLU, "backward", lambda self, dy: dy * np.where(self.x > 0, 1.0, 0.01))
    res = byo.check(dense.crosscheck_model())
    assert not res.passed and res.culprit().layer == 2


def test_course_notebook_double_mean_is_caught_with_the_users_loss(rng):
    net = load_example("byo_network")
    model = net.crosscheck_model()
    X = model.x.T
    res = byo.check(byo.network(net.forward, net.backward, [(np.array(w), np.array(b)) for w, b in
                                                            [(model.model[0].pairs[0]), (model.model[0].pairs[1])]],
                                X, (X[:1] > 0).astype(float), activations=["tanh", "sigmoid"], loss="bce",
                                loss_fn=lambda A, Y: (net.bce(A, Y)[0], net.bce(A, Y)[1] / Y.shape[1])))
    assert not res.passed and "extra 1/N" in res.culprit().slip


def test_in_place_layer_is_warned_not_blamed(rng):
    class InPlaceRelu:
        def forward(self, x):
            self.mask = x > 0
            x[~self.mask] = 0
            return x

        def backward(self, dy):
            dy[~self.mask] = 0
            return dy
    layers = [Dense(rng.normal(size=(3, 5))), InPlaceRelu(), Dense(rng.normal(size=(5, 2)))]
    res = byo.check(byo.rowmajor(layers, rng.normal(size=(10, 3)), rng.normal(size=(10, 2))))
    assert res.passed
    assert any("modifies its argument" in n and "InPlaceRelu" in n for n in res.notes)


def test_user_exception_names_layer_and_line(rng):
    from crosscheck.check.user_code import UserCodeError

    class Broken(Dense):
        def backward(self, x, dy):
            raise ZeroDivisionError("oops")
    with pytest.raises(UserCodeError, match=r"layer 0 \(Broken\)\.backward raised ZeroDivisionError.*test_byo.py:\d+"):
        byo.check(byo.rowmajor([Broken(rng.normal(size=(3, 2)))], rng.normal(size=(5, 3)), np.zeros((5, 2))))


def test_square_out_in_and_float32_pass(rng):
    class OutIn:
        def __init__(self, W):
            self.W, self.b = W, np.zeros(len(W), dtype=W.dtype)

        def forward(self, x):
            self.x = x
            return x @ self.W.T + self.b

        def backward(self, dy):
            self.dW, self.db = dy.T @ self.x, dy.sum(0)
            return dy @ self.W
    for dtype in (np.float64, np.float32):
        layers = [OutIn(rng.normal(size=(4, 4)).astype(dtype)), OutIn(rng.normal(size=(4, 4)).astype(dtype))]
        res = byo.check(byo.rowmajor(layers, rng.normal(size=(8, 4)).astype(dtype), rng.normal(size=(8, 4))))
        assert res.passed, str(res)
    assert any("float32" in n for n in res.notes)


def test_result_renders_and_assert_matches_torch(rng):
    import crosscheck
    model = load_example("byo_rowmajor").crosscheck_model()
    res = crosscheck.assert_matches_torch(model)
    assert "<table>" in res._repr_html_() and "PASS" in str(res)
    layers = _layers(rng, transposed=True)
    with pytest.raises(AssertionError, match="transposed"):
        crosscheck.assert_matches_torch(byo.rowmajor(layers, rng.normal(size=(20, 3)), rng.normal(size=(20, 1))))


def test_numpy_ml_stack_passes_and_a_planted_bug_is_pinned():
    """numpy-ml 0.1.x FullyConnected layers (an optional test dependency)."""
    example = load_example("byo_numpy_ml")
    pytest.importorskip("numpy_ml", reason="numpy-ml is not installed (pip install numpy-ml==0.1.2)")
    model = example.crosscheck_model()
    assert byo.check(model).passed
    layer = model.model.layers[1].obj
    real = layer._bwd
    layer._bwd = lambda dy, X: (lambda dx, dw, db: (dx, dw * len(X), db))(*real(dy, X))  # dW summed twice over N
    result = byo.check(model)
    assert not result.passed
    assert result.culprit().layer == 1 and result.culprit().quantity == "weight.grad"
