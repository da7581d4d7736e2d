"""Bring your own residual blocks: the example passes (its inner layers' own rows checked), a
batch norm inside a block keeps its running-statistics rows, each planted residual slip is
pinned to its block and named, and a block is recognised only where it is one."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from examples_loader import load_example

from crosscheck import byo

RES = load_example("byo_residual_rowmajor")
BN = load_example("byo_batchnorm_rowmajor")


def _passes(model):
    result = byo.check(model)
    assert result.passed, [(r.layer_name, r.quantity, r.acc.describe()) for r in result.rows if r.status != "ok"]
    assert max(result.worst("forward"), result.worst("gradient")) <= 1e-10
    return result


def test_the_example_passes_with_each_inner_layers_rows():
    result = _passes(RES.crosscheck_model())
    rows = {(r.layer, r.quantity) for r in result.rows}
    assert {(2, "branch.0.weight.grad"), (2, "branch.2.bias.grad"), (2, "grad_in"), (2, "out"),
            (3, "proj.weight.grad"), (3, "branch.0.weight.grad")} <= rows
    assert result.fd is not None and result.fd.passed


def test_a_batch_norm_inside_a_block_keeps_its_mode_and_statistics():
    rng = np.random.default_rng(3)
    for training in (True, False):
        bn = BN.BatchNorm1d(6, rng)
        bn.training = training
        block = RES.ResBlock([bn, RES.ReLU(), RES.Dense(6, 6, rng)])
        x, y = rng.normal(size=(8, 5)), rng.integers(0, 3, size=8)
        result = _passes(byo.rowmajor([RES.Dense(5, 6, rng), block, RES.Dense(6, 3, rng)], x, y, loss="softmax_ce"))
        assert bn.training is training
        assert {(1, "branch.0.running_mean"), (1, "branch.0.running_var")} <= {(r.layer, r.quantity)
                                                                              for r in result.rows}


@pytest.mark.parametrize("bug, proj_bug, layer, quantity, slip", [
    ("backward_drops_skip", None, 2, "grad_in", "drops the skip path"),
    ("backward_drops_branch", None, 2, "grad_in", "drops the branch"),
    ("forward_drops_skip", None, 2, "out", "forward drops the skip"),
    ("forward_drops_branch", None, 2, "out", "forward drops the branch"),
    (None, "backward_drops_skip", 3, "grad_in", "drops the skip path"),
    (None, "backward_drops_branch", 3, "grad_in", "drops the branch"),
])
def test_planted_residual_slips_are_pinned_and_named(bug, proj_bug, layer, quantity, slip):
    result = byo.check(RES.crosscheck_model(bug=bug, proj_bug=proj_bug))
    culprit = result.culprit()
    assert not result.passed and (culprit.layer, culprit.quantity) == (layer, quantity)
    assert slip in culprit.slip


class Block:
    """No residual name: recognised by its branch list where its forward is x + f(x)."""

    def __init__(self, layers, skip=True):
        self.f, self.skip = layers, skip

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


def _block_model(skip, residual=None):
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(8, 5)), rng.integers(0, 3, size=8)
    block = Block([RES.Dense(6, 6, rng), RES.ReLU()], skip)
    return byo.rowmajor([RES.Dense(5, 6, rng), block, RES.Dense(6, 3, rng)], x, y, loss="softmax_ce",
                        residual=residual)


def test_a_branch_list_alone_is_a_block_only_where_its_forward_is_one():
    _passes(_block_model(skip=True))
    with pytest.raises(ValueError, match=r"layer 1 \(Block\): holds layers under f but its forward is not x"):
        _block_model(skip=False)
    result = byo.check(_block_model(skip=False, residual={"branch": "f", "shortcut": None}))
    assert not result.passed and "forward drops the skip" in result.culprit().slip


def test_a_bad_declaration_is_one_line():
    with pytest.raises(ValueError, match=r"^residual: give True or"):
        _block_model(skip=True, residual={"layers": "f"})


def test_the_example_passes_through_user():
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-m", "crosscheck", "--user", str(root / "examples" / "byo_residual_rowmajor.py")],
                          capture_output=True, text=True, cwd=root, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


class LastSampleBias(RES.Dense):
    """A real bias-gradient slip that a batch norm after it cannot hide: db kept from the last
    sample of a per-sample loop, not summed over the batch."""

    def backward(self, dy):
        dx = super().backward(dy)
        self.db = dy[-1].copy()
        return dx


def _bias_before_bn(dense=RES.Dense):
    """A ResNet-style block: a Linear with a bias right before a batch norm, inside the branch."""
    rng = np.random.default_rng(3)
    block = RES.ResBlock([dense(6, 6, rng), BN.BatchNorm1d(6, rng), RES.ReLU(), RES.Dense(6, 6, rng)])
    x, y = rng.normal(size=(8, 5)), rng.integers(0, 3, size=8)
    return byo.rowmajor([RES.Dense(5, 6, rng), block, RES.Dense(6, 3, rng)], x, y, loss="softmax_ce")


def test_a_bias_before_a_batch_norm_inside_a_block_passes():
    """Its gradient is exactly zero and both sides return rounding of a sum: judged against the
    size of the sum (the inner layer's own upstream), as a top-level bias is, it is not blamed."""
    result = _passes(_bias_before_bn())
    row = next(r for r in result.rows if (r.layer, r.quantity) == (1, "branch.0.bias.grad"))
    assert row.local.max_abs < 1e-14 and row.local.max_rel < 1e-8  # rounding, judged against the floor


def test_a_real_bias_slip_before_a_batch_norm_inside_a_block_still_fails():
    result = byo.check(_bias_before_bn(LastSampleBias))
    culprit = result.culprit()
    assert not result.passed and (culprit.layer, culprit.quantity) == (1, "branch.0.bias.grad")
    assert culprit.local.max_rel > 1e3
