"""Bring your own residual blocks in a CNN (byo.cnn), in NCHW and NHWC: the example ResNet passes
with each inner layer's rows (a convolution's bias right before a batch norm inside a block
too), each planted residual slip is pinned to its block and named, a real bias-gradient slip in
that position still fails, and a checked model checks the same the second time."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from examples_loader import load_example

from crosscheck import byo
from crosscheck.check.verdict import TOL_FLOAT64

RES = load_example("byo_residual_cnn")


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_the_example_passes_in_either_layout_with_each_inner_layers_rows(layout):
    result = byo.check(RES.crosscheck_model(layout))
    assert result.passed, [(r.layer_name, r.quantity, r.acc.describe()) for r in result.rows if r.status != "ok"]
    assert TOL_FLOAT64 == 1e-10 and max(result.worst("forward"), result.worst("gradient")) <= TOL_FLOAT64
    rows = {(r.layer, r.quantity): r for r in result.rows}
    assert {(3, "branch.0.weight.grad"), (3, "branch.1.running_mean"), (3, "branch.4.bias.grad"), (3, "grad_in"),
            (5, "proj.weight.grad"), (5, "proj.bias.grad"), (5, "branch.0.weight.grad"), (5, "out")} <= rows.keys()
    bias = rows[(3, "branch.0.bias.grad")]  # a conv's bias right before a batch norm: zero but for rounding
    assert bias.local.max_abs < 1e-13 and bias.status == "ok"
    assert result.fd is not None and result.fd.passed


@pytest.mark.parametrize("layout, kw, layer, quantity, slip", [
    ("nchw", {"bug": "backward_drops_skip"}, 3, "grad_in", "drops the skip path"),
    ("nhwc", {"bug": "backward_drops_branch"}, 3, "grad_in", "drops the branch"),
    ("nhwc", {"proj_bug": "backward_drops_skip"}, 5, "grad_in", "drops the skip path"),
    ("nchw", {"proj_bug": "backward_drops_branch"}, 5, "grad_in", "drops the branch"),
    ("nhwc", {"proj_bug": "forward_drops_skip"}, 5, "out", "forward drops the skip"),
    ("nchw", {"proj_bug": "forward_drops_branch"}, 5, "out", "forward drops the branch"),
])
def test_planted_residual_slips_are_pinned_and_named(layout, kw, layer, quantity, slip):
    result = byo.check(RES.crosscheck_model(layout, **kw), fd=False, recognise=False)
    culprit = result.culprit()
    assert not result.passed and (culprit.layer, culprit.quantity) == (layer, quantity)
    assert slip in culprit.slip


def test_a_real_bias_slip_before_a_batch_norm_in_a_block_still_fails():
    """db summed over the last image only: its rounding floor comes from the inner conv's own
    upstream, so the slip, as large as those terms, stands far above it."""
    result = byo.check(RES.crosscheck_model("nhwc", bias_bug="last_image"), fd=False, recognise=False)
    culprit = result.culprit()
    assert not result.passed and (culprit.layer, culprit.quantity) == (3, "branch.0.bias.grad")
    assert culprit.local.max_rel > 1e2


def _softmax_ce(scores, labels):
    """Your own loss: (value, dL/dscores), the batch mean."""
    z = np.exp(scores - scores.max(axis=1, keepdims=True))
    p = z / z.sum(axis=1, keepdims=True)
    rows = np.arange(len(labels))
    grad = p.copy()
    grad[rows, labels] -= 1
    return -np.log(p[rows, labels]).mean(), grad / len(labels)


def test_with_your_own_loss_a_bias_before_a_batch_norm_passes_end_to_end():
    """The rows of the gradients your loss gives end to end judge a bias gradient by the
    rounding of its sum too (at the top level and inside the blocks), and a slip there fails."""
    def model(**bug):
        rng = np.random.default_rng(11)
        x, y = rng.normal(size=(4, 2, 6, 6)), rng.integers(0, 3, size=4)
        return byo.cnn(RES.layers(rng, **bug), x, y, loss_fn=_softmax_ce)
    result = byo.check(model(), fd=False)
    assert result.passed, [(r.layer_name, r.quantity, r.acc.describe()) for r in result.rows if r.status != "ok"]
    rows = {(r.layer, r.quantity) for r in result.rows}
    assert {(0, "bias.grad[your loss]"), (3, "branch.0.bias.grad[your loss]")} <= rows
    bad = byo.check(model(bias_bug="last_image"), fd=False, recognise=False)
    assert {(r.layer, r.quantity) for r in bad.rows if not r.local_ok} >= {(3, "branch.0.bias.grad[your loss]")}


def test_a_model_checked_twice_is_checked_the_same():
    """The twin is built once with the model; a second check starts it from your running
    statistics again, as the first check left them (put back), not from where torch moved its own."""
    model = RES.crosscheck_model("nchw")
    first, second = (byo.check(model, fd=False) for _ in range(2))
    assert first.passed and second.passed
    assert [r.acc.max_rel for r in first.rows] == [r.acc.max_rel for r in second.rows]


class Block:
    """No residual name, its branch under `f`: a block where its forward is seen to be x + f(x), or
    where declared with residual= (its slips then named even where its forward is not)."""

    def __init__(self, f, skip=True):
        self.f, self.skip = f, skip

    def forward(self, x):
        h = x
        for layer in self.f:
            h = layer.forward(h)
        return x + h if self.skip else h

    def backward(self, dy):
        d = dy
        for layer in reversed(self.f):
            d = layer.backward(d)
        return dy + d if self.skip else d


def _declared(skip, residual=None):
    rng = np.random.default_rng(2)
    block = Block([RES.Conv(2, 2, 3, rng, layout="nhwc"), RES.ReLU()], skip)
    return byo.cnn([block, RES.Flatten(), RES.Dense(32, 3, rng)], rng.normal(size=(3, 4, 4, 2)), [0, 1, 2],
                   layout="nhwc", residual=residual)


def test_a_block_is_told_by_its_forward_or_declared():
    assert byo.check(_declared(skip=True), fd=False).passed
    with pytest.raises(ValueError, match=r"layer 0 \(Block\): holds layers under f but its forward is not x"):
        _declared(skip=False)
    result = byo.check(_declared(skip=False, residual={"branch": "f", "shortcut": None}), fd=False, recognise=False)
    assert not result.passed and "forward drops the skip" in result.culprit().slip


class Dropout:
    def forward(self, x):
        return x

    def backward(self, dy):
        return dy


def test_a_dropout_inside_a_block_is_refused_in_one_line():
    rng = np.random.default_rng(0)
    block = RES.ResBlock([RES.Conv(2, 2, 3, rng), Dropout()])
    with pytest.raises(ValueError, match=r"^layer 0 \(ResBlock\): a dropout layer inside a residual block"):
        byo.cnn([block, RES.Flatten(), RES.Dense(32, 3, rng)], rng.normal(size=(2, 2, 4, 4)), [0, 1])


def test_the_example_passes_through_user():
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-m", "crosscheck", "--user", str(root / "examples" / "byo_residual_cnn.py")],
                          capture_output=True, text=True, cwd=root, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
