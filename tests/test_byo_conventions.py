"""Gradient conventions declared in one argument each (l2=, batch_mean=, ascent=) on every
byo convention: correct code passes declared; a bug is still caught declared; undeclared, the
report names the convention and the argument (issue 19)."""
import numpy as np
import pytest
from byo_convention_nets import CONVENTIONS, Knobs, softmax_loss

from crosscheck import byo

ALL = list(CONVENTIONS)


def _check(conv, knobs, **declare):
    return byo.check(CONVENTIONS[conv](np.random.default_rng(5), knobs, **declare))


def _culprit_layer(result) -> int:
    return result.culprit().layer


@pytest.mark.parametrize("conv", ALL)
def test_l2_inside_the_gradients(conv):
    undeclared = _check(conv, Knobs(lam=0.01))
    assert not undeclared.passed and "declare l2=0.01" in undeclared.undeclared
    assert "dW holds + 0.01·W" in str(undeclared)
    assert _check(conv, Knobs(lam=0.01), l2=0.01).passed
    buggy = _check(conv, Knobs(lam=0.01, bug=True), l2=0.01)
    assert not buggy.passed and _culprit_layer(buggy) == 0


@pytest.mark.parametrize("conv", ["rowmajor", "network"])
def test_l2_on_the_biases_too(conv):
    undeclared = _check(conv, Knobs(lam=0.01, lam_b=0.02))
    assert not undeclared.passed and "declare l2=(0.01, 0.02)" in undeclared.undeclared
    assert _check(conv, Knobs(lam=0.01, lam_b=0.02), l2=(0.01, 0.02)).passed
    assert not _check(conv, Knobs(lam=0.01, lam_b=0.02), l2=0.01).passed


@pytest.mark.parametrize("conv", ALL)
def test_the_1_over_n_in_the_layers(conv):
    undeclared = _check(conv, Knobs(div=True))
    assert not undeclared.passed and "declare batch_mean='layers'" in undeclared.undeclared
    assert _check(conv, Knobs(div=True), batch_mean="layers").passed
    assert _check(conv, Knobs(div=True), grads_are_batch_means=True).passed
    buggy = _check(conv, Knobs(div=True, bug=True), batch_mean="layers")
    assert not buggy.passed and _culprit_layer(buggy) == 0


@pytest.mark.parametrize("conv", ALL)
def test_the_1_over_n_in_the_layers_balanced_by_your_loss_passes_saying_so(conv):
    """Your loss gradient a sum, your layers dividing: end to end exactly torch's gradients,
    so it passes with the convention stated (verdict.undeclared_convention_passes)."""
    result = _check(conv, Knobs(div=True), loss_fn=softmax_loss("layers"))
    assert result.passed
    assert any("batch_mean='layers'" in n and "did not declare" in n for n in result.notes)
    assert _check(conv, Knobs(div=True), loss_fn=softmax_loss("layers"), batch_mean="layers").passed
    buggy = _check(conv, Knobs(div=True, bug=True), loss_fn=softmax_loss("layers"))
    assert not buggy.passed and _culprit_layer(buggy) == 0


@pytest.mark.parametrize("style", ["update", "none"])
@pytest.mark.parametrize("conv", ALL)
def test_sums_over_the_batch(conv, style):
    undeclared = _check(conv, Knobs(), loss_fn=softmax_loss(style))
    assert not undeclared.passed and f"declare batch_mean={style!r}" in undeclared.undeclared
    assert undeclared.culprit().is_loss and "missing 1/N" in undeclared.culprit().slip
    assert _check(conv, Knobs(), loss_fn=softmax_loss(style), batch_mean=style).passed
    buggy = _check(conv, Knobs(bug=True), loss_fn=softmax_loss(style), batch_mean=style)
    assert not buggy.passed and _culprit_layer(buggy) == 0


@pytest.mark.parametrize("conv", ALL)
def test_gradient_ascent(conv):
    undeclared = _check(conv, Knobs(), loss_fn=softmax_loss(ascent=True))
    assert not undeclared.passed and "declare ascent=True" in undeclared.undeclared
    assert _check(conv, Knobs(), loss_fn=softmax_loss(ascent=True), ascent=True).passed
    buggy = _check(conv, Knobs(bug=True), loss_fn=softmax_loss(ascent=True), ascent=True)
    assert not buggy.passed and _culprit_layer(buggy) == 0


def test_conventions_combine():
    """deeplearning.ai style: dW = dZ A^T / m + (λ/m) W, the loss gradient a sum."""
    knobs = Knobs(lam=0.01 / 12, div=True)
    undeclared = _check("colmajor", knobs, loss_fn=softmax_loss("layers"))
    assert not undeclared.passed and "batch_mean='layers'" in undeclared.undeclared and "l2=" in undeclared.undeclared
    assert _check("colmajor", knobs, loss_fn=softmax_loss("layers"), batch_mean="layers", l2=0.01 / 12).passed


def test_a_real_bug_is_not_explained_by_a_convention():
    result = _check("rowmajor", Knobs(bug=True))
    assert not result.passed and result.undeclared == "" and _culprit_layer(result) == 0


@pytest.mark.parametrize("declare,match", [
    ({"batch_mean": "mean"}, "batch_mean: 'mean'; choose from"),
    ({"l2": -0.1}, "l2: a number >= 0"),
    ({"l2": "0.1"}, "l2: a number >= 0"),
    ({"l2": (0.1, 0.2, 0.3)}, "l2: a number >= 0"),
    ({"ascent": "yes"}, "ascent: True or False"),
    ({"grads_are_batch_means": True, "batch_mean": "update"}, "give one of them"),
])
@pytest.mark.parametrize("conv", ["rowmajor", "cnn"])
def test_a_bad_declaration_is_one_line(conv, declare, match):
    with pytest.raises(ValueError, match=match):
        CONVENTIONS[conv](np.random.default_rng(5), Knobs(), **declare)


def _lrelu_funcs(required: bool, bug: bool = False):
    """fc_forward/fc_backward with lrelu as people write them: the slope a default argument
    (lrelu_forward(x, alpha=0.2)) or a required one (lrelu_forward(x, alpha))."""
    def fc_forward(x, w, b):
        return x @ w + b, (x, w)

    def fc_backward(dout, cache):
        x, w = cache
        return dout @ w.T, x.T @ dout, dout.sum(0)

    def lrelu(x, alpha):
        return np.where(x > 0, x, alpha * x), (x, alpha)

    def lrelu_back(dout, cache):
        x, alpha = cache
        return dout * np.where(x > 0, 1.0, 0.0 if bug else alpha)

    funcs = dict(fc_forward=fc_forward, fc_backward=fc_backward, lrelu_backward=lrelu_back)
    funcs["lrelu_forward"] = lrelu if required else (lambda x, alpha=0.2: lrelu(x, alpha))
    return funcs


@pytest.mark.parametrize("required", [False, True], ids=["default-slope", "declared-slope"])
@pytest.mark.parametrize("bug", [False, True], ids=["right", "relu-backward"])
def test_a_functional_lrelu_keeps_its_slope(rng, required, bug):
    x, y = rng.normal(size=(10, 4)), rng.integers(0, 3, 10)
    act = ("lrelu", 0.2) if required else "lrelu"
    layers = [("fc", rng.normal(0, .8, (4, 6)), np.zeros(6)), act, ("fc", rng.normal(0, .5, (6, 3)), np.zeros(3))]
    model = byo.functional(layers, x, y, funcs=_lrelu_funcs(required, bug))
    assert (model.model[1].activation, model.model[1].alpha) == ("leaky_relu", 0.2)
    result = byo.check(model)
    assert result.passed is not bug
    if bug:
        assert result.culprit().layer == 1


def test_a_functional_lrelu_requiring_its_slope_asks_for_it(rng):
    layers = [("fc", rng.normal(size=(4, 3)), np.zeros(3)), "lrelu"]
    with pytest.raises(ValueError, match=r"layer 1 \(lrelu\): lrelu_forward takes the slope .* \('lrelu', 0.2\)"):
        byo.functional(layers, rng.normal(size=(5, 4)), np.zeros(5, int), funcs=_lrelu_funcs(True))


def test_the_command_line_says_which_convention_explains_a_failure(tmp_path):
    import subprocess
    import sys
    from pathlib import Path
    tests = Path(__file__).resolve().parent
    user = tmp_path / "l2net.py"
    user.write_text(f"import sys\nsys.path.insert(0, {str(tests)!r})\nimport numpy as np\n"
                    "from byo_convention_nets import Knobs, rowmajor\n\n\ndef crosscheck_model():\n"
                    "    return rowmajor(np.random.default_rng(5), Knobs(lam=0.01))\n")
    run = subprocess.run([sys.executable, "-m", "crosscheck", "--user", str(user)], capture_output=True, text=True,
                         cwd=tests.parent, timeout=300)
    assert run.returncode == 1, run.stderr
    assert "FAIL explained" in run.stdout and "declare l2=0.01" in run.stdout
