"""Bring your own normalisation layers: the three conventions' examples pass in both modes,
through --user too; the running-average convention is recognised or declared; bad declarations
are one line."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from examples_loader import load_example

from crosscheck import byo

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = {"byo_batchnorm_rowmajor": {}, "byo_batchnorm_cs231n": {}, "byo_cnn_spatial_bn": {}}


def _passes(model):
    result = byo.check(model)
    assert result.passed, [(r.layer_name, r.quantity, r.acc.describe()) for r in result.rows if r.status != "ok"]
    assert max(result.worst("forward"), result.worst("gradient")) <= 1e-10
    return result


@pytest.mark.parametrize("example", list(EXAMPLES))
def test_examples_pass_with_running_statistics_compared(example):
    result = _passes(load_example(example).crosscheck_model())
    assert {"running_mean", "running_var"} <= {r.quantity for r in result.rows}
    assert any("recognised from momentum" in n for n in result.notes)


def test_eval_mode_and_the_other_pairs_pass():
    _passes(load_example("byo_batchnorm_rowmajor").crosscheck_model(training=False))
    _passes(load_example("byo_cnn_spatial_bn").crosscheck_model(training=False))
    cs = load_example("byo_batchnorm_cs231n")
    _passes(cs.crosscheck_model(alt=True))
    _passes(cs.spatial_model())


def test_a_declared_convention_is_the_one_checked():
    """CS231n's biased running variance declared unbiased: its running_var row fails, named."""
    cs = load_example("byo_batchnorm_cs231n")
    model = cs.crosscheck_model()
    plain = byo.functional(cs.net(__import__("numpy").random.default_rng(4)), model.x, model.target,
                           funcs=vars(cs), norm={"momentum": "keep", "running_var": "unbiased"})
    result = byo.check(plain)
    culprit = result.culprit()
    assert not result.passed and (culprit.layer, culprit.quantity) == (1, "running_var")
    assert "from the biased (n) batch variance, where the unbiased (n - 1) one belongs" in culprit.slip


def test_a_bad_declaration_is_one_line():
    cs = load_example("byo_batchnorm_cs231n")
    model = cs.crosscheck_model()
    with pytest.raises(ValueError, match=r"norm: unknown keys \['mom'\]"):
        byo.functional(cs.net(__import__("numpy").random.default_rng(4)), model.x, model.target, funcs=vars(cs),
                       norm={"mom": "keep"})


@pytest.mark.parametrize("example", list(EXAMPLES))
def test_examples_pass_through_user(example):
    proc = subprocess.run([sys.executable, "-m", "crosscheck", "--user", str(ROOT / "examples" / f"{example}.py")],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


class _Dense:
    def __init__(self, n_in, n_out, rng):
        self.W, self.b = rng.normal(0, .5, (n_in, n_out)), rng.normal(0, .1, n_out)

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dy):
        self.dW, self.db = self.x.T @ dy, dy.sum(0)
        return dy @ self.W.T


class _UnnamedStatsNorm:
    """A batch norm keeping its running averages under names nobody guesses (mu_avg, var_avg)."""

    def __init__(self, d, rng):
        self.gamma, self.beta = rng.uniform(.5, 1.5, d), rng.normal(0, .2, d)
        self.mu_avg, self.var_avg, self.momentum, self.eps, self.training = np.zeros(d), np.ones(d), 0.1, 1e-5, True

    def forward(self, x):
        m, v = x.mean(0), x.var(0)
        self.mu_avg = self.momentum * self.mu_avg + (1 - self.momentum) * m
        self.std = np.sqrt(v + self.eps)
        self.xhat = (x - m) / self.std
        return self.gamma * self.xhat + self.beta

    def backward(self, dy):
        self.dgamma, self.dbeta = (dy * self.xhat).sum(0), dy.sum(0)
        d = dy * self.gamma
        return (d - d.mean(0) - self.xhat * (d * self.xhat).mean(0)) / self.std


def test_running_statistics_not_found_are_said_to_be_unchecked():
    """Found in review: a PASS said nothing about statistics it never saw."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 5)), rng.integers(0, 3, size=8)
    result = byo.check(byo.rowmajor([_Dense(5, 6, rng), _UnnamedStatsNorm(6, rng), _Dense(6, 3, rng)], x, y,
                                    loss="softmax_ce"))
    assert any("layer 1 (_UnnamedStatsNorm): no running statistics found" in n and "not checked" in n
               for n in result.notes), result.notes


def test_a_float32_cnn_whose_batch_norm_rebinds_its_running_statistics_passes():
    """Probed in float64, such a layer's running statistics became float64 and failed on dtype:
    byo.cnn probes in the user's dtype."""
    example = load_example("byo_cnn_spatial_bn")
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(4, 5, 5, 2)).astype(np.float32), rng.integers(0, 3, size=4)
    bn = example.BatchNormalization(4, rng)
    bn.training = True
    layers = [example.Conv2D(2, 4, rng), bn, example.ReLU(), example.Conv2D(4, 4, rng),
              example.GroupNorm(4, 2, rng), example.ReLU(), example.Flatten(), example.Dense(100, 3, rng)]
    for layer in layers:
        for name, value in list(vars(layer).items()):
            if isinstance(value, np.ndarray) and value.dtype == np.float64:
                setattr(layer, name, value.astype(np.float32))
    result = byo.check(byo.cnn(layers, x, y, layout="nhwc"))
    assert result.passed, result
    assert bn.moving_mean.dtype == np.float32
