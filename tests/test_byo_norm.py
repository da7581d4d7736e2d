"""Bring your own normalisation layers: the three conventions' examples pass in both modes,
through --user too; the running-average convention is recognised or declared; bad declarations
are one line."""
import subprocess
import sys
from pathlib import Path

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
