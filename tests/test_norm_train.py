"""`crosscheck train` on the norm and residual presets: every teacher-forced step compares the
running statistics too, and a wrong running update fails at the first step, named."""
import pytest

from numpy_impl import norm_functional as NF
from numpy_impl.optim_spec import OptimSpec
from crosscheck.presets import PRESETS
from crosscheck.train.lockstep import TrainConfig
from crosscheck.train.trajectory import check_trajectory

CFG = TrainConfig(OptimSpec(kind="adam", lr=0.01), batch_size=16)


def _train(name: str, steps: int = 8):
    preset = PRESETS[name]
    return check_trajectory(preset.make_spec(preset.activations[0]), *preset.batch(), CFG, steps)


@pytest.mark.parametrize("name", ["digits_bn", "digits_ln", "res_mlp", "cnn_bn"])
def test_norm_presets_train_in_lockstep(name):
    result = _train(name)
    assert result.passed, result.summary()
    keys = {c.name for c in result.params}
    assert name not in ("digits_bn", "cnn_bn") or any(k.endswith("running_var") for k in keys)


def test_a_wrong_running_variance_fails_the_first_step_and_is_named(monkeypatch):
    plain = NF.running_update
    monkeypatch.setattr(NF, "running_update", lambda rm, rv, mean, var, n, m: plain(rm, rv, mean, var * (n - 1) / n, n, m))
    result = _train("digits_bn", steps=3)
    assert not result.passed and result.first_failure == 1
    assert [r.comparison.name for r in result.failed_rows] == ["1.running_var"]
