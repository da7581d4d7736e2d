"""The user's loss judged first: a wrong loss is the loss row `wrong` with its slip, and every
layer row that carries its gradient `inherited`, one story per check (issue 19)."""
import numpy as np
import pytest

from crosscheck import byo


class Dense:
    def __init__(self, W):
        self.W, self.b = W, np.linspace(-.2, .2, W.shape[1])

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dy):
        self.dW, self.db = self.x.T @ dy, dy.sum(0)
        return dy @ self.W.T


class Relu:
    def forward(self, x):
        self.x = x
        return np.maximum(x, 0)

    def backward(self, dy):
        return dy * (self.x > 0)


def softmax_loss(bug=""):
    """CS231n's softmax_loss: the value a mean; `bug` plants a slip in it."""
    def loss(scores, y):
        z = scores if bug == "unshifted" else scores - scores.max(1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
        n = len(y)
        logp = np.log(p) if bug in ("unshifted", "log0") else z - np.log(np.exp(z).sum(1, keepdims=True))
        value = -logp[np.arange(n), y].mean()
        grad = p.copy()
        grad[np.arange(n), y] -= 1
        grad = {"noN": grad, "sign": -grad / n}.get(bug, grad / n)
        return value, grad
    return loss


def _model(rng, bug="", scale=1.0):
    x, y = rng.normal(size=(12, 5)) * scale, rng.integers(0, 3, 12)
    layers = [Dense(rng.normal(0, .5, (5, 6))), Relu(), Dense(rng.normal(0, .5, (6, 3)))]
    return byo.rowmajor(layers, x, y, loss="softmax_ce", loss_fn=softmax_loss(bug), w_layout="in,out")


def _rows(result):
    return [(r.layer_name, r.quantity, r.status) for r in result.rows]


LAYER_ROWS = [("0:Dense(5->6)", "out"), ("1:Relu=relu", "out"), ("2:Dense(6->3)", "out")]
BACKWARD_ROWS = [("2:Dense(6->3)", "weight.grad"), ("2:Dense(6->3)", "bias.grad"), ("2:Dense(6->3)", "grad_in"),
                 ("1:Relu=relu", "grad_in"), ("0:Dense(5->6)", "weight.grad"), ("0:Dense(5->6)", "bias.grad"),
                 ("0:Dense(5->6)", "grad_in")]
YOUR_LOSS_ROWS = [("0:Dense(5->6)", "weight.grad[your loss]"), ("0:Dense(5->6)", "bias.grad[your loss]"),
                  ("2:Dense(6->3)", "weight.grad[your loss]"), ("2:Dense(6->3)", "bias.grad[your loss]")]


def _expected(value: str, grad: str, end_to_end: str):
    loss = "loss:yours(softmax_ce)"
    return ([(*k, "ok") for k in LAYER_ROWS] + [(loss, "loss", value), (loss, "dloss/dpred", grad)]
            + [(*k, "ok") for k in BACKWARD_ROWS] + [(*k, end_to_end) for k in YOUR_LOSS_ROWS])


@pytest.mark.parametrize("bug,value,slip", [
    ("noN", "ok", "missing 1/N"),
    ("sign", "ok", "wrong sign"),
], ids=["missing-1/N", "sign"])
def test_a_wrong_loss_gradient_is_the_loss_and_the_layers_inherit(rng, bug, value, slip):
    result = byo.check(_model(rng, bug))
    assert not result.passed
    assert _rows(result) == _expected(value, "wrong", "inherited")
    assert result.culprit().quantity == "dloss/dpred" and slip in result.culprit().slip
    assert result.first_divergence() is result.culprit()
    assert [r for r in result.rows if r.slip] == [result.culprit()]  # the layers carry no slip of their own


def test_a_loss_missing_its_1_over_n_names_the_convention_that_would_explain_it(rng):
    """Value a mean, gradient a sum: exactly what batch_mean='update' gives, so the report says
    so; it still fails (the check cannot see whether the update step divides)."""
    result = byo.check(_model(rng, "noN"))
    assert "batch_mean='update'" in result.undeclared
    assert "FAIL explained" in str(result) and "batch_mean='update'" in str(result)


def test_a_softmax_not_shifted_overflows_at_large_logits_and_is_the_loss(rng):
    result = byo.check(_model(rng, "unshifted", scale=3000.0))
    assert not result.passed
    culprit = result.culprit()
    assert culprit.is_loss and result.first_divergence().is_loss
    assert "softmax not shifted" in culprit.slip
    assert all(r.status in ("ok", "inherited") for r in result.rows if not r.is_loss)


def test_log_of_a_softmax_underflowing_to_zero_is_named(rng):
    """Shifted, but log(softmax) rather than log-softmax: at far-apart logits a true class's
    probability underflows to 0 and the value is inf; its gradient, p - onehot, is still right."""
    result = byo.check(_model(rng, "log0", scale=3000.0))
    assert not result.passed
    loss = [r for r in result.rows if r.is_loss]
    assert [r.status for r in loss] == ["wrong", "ok"] and "log of 0" in loss[0].slip
    assert result.culprit() is loss[0]


def test_a_correct_loss_passes_with_every_row_ok(rng):
    result = byo.check(_model(rng))
    assert result.passed and _rows(result) == _expected("ok", "ok", "ok")


class SoftmaxCrossEntropy:
    """A combined softmax + cross-entropy layer left at the end of the list: backward(labels)."""

    def __init__(self, bug=""):
        self.bug = bug

    def forward(self, x):
        e = np.exp(x - x.max(1, keepdims=True))
        self.p = e / e.sum(1, keepdims=True)
        return self.p

    def backward(self, y):
        d = self.p.copy()
        d[np.arange(len(y)), y] -= 1
        return d if self.bug == "noN" else d / len(y)


@pytest.mark.parametrize("bug", ["", "noN"])
def test_a_softmax_cross_entropy_layer_is_your_loss(rng, bug):
    x, y = rng.normal(size=(12, 5)), rng.integers(0, 3, 12)
    layers = [Dense(rng.normal(0, .5, (5, 6))), Relu(), Dense(rng.normal(0, .5, (6, 3))), SoftmaxCrossEntropy(bug)]
    result = byo.check(byo.rowmajor(layers, x, y, w_layout="in,out"))
    assert any("SoftmaxCrossEntropy) is a softmax with cross-entropy" in n for n in result.notes)
    assert result.passed is (bug == "")
    if bug:
        assert result.culprit().quantity == "dloss/dpred" and "missing 1/N" in result.culprit().slip
        assert all(r.status in ("ok", "inherited") for r in result.rows if not r.is_loss)


def test_a_softmax_cross_entropy_layer_ends_a_cnn(rng):
    from byo_convention_nets import Knobs, cnn
    model = cnn(np.random.default_rng(5), Knobs())
    layers = [layer.obj for layer in model.model.layers] + [SoftmaxCrossEntropy()]
    result = byo.check(byo.cnn(layers, model.x, model.target))
    assert result.passed and result.rows[len(layers) - 1].quantity == "loss"


def test_your_loss_and_a_loss_layer_is_one_too_many(rng):
    x, y = rng.normal(size=(12, 5)), rng.integers(0, 3, 12)
    with pytest.raises(ValueError, match=r"layer 1 \(SoftmaxCrossEntropy\): its backward takes the labels"):
        byo.rowmajor([Dense(rng.normal(0, .5, (5, 3))), SoftmaxCrossEntropy()], x, y, loss_fn=softmax_loss())
