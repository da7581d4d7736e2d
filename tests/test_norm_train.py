"""`crosscheck train` on the norm and residual presets: every teacher-forced step compares the
running statistics too, and a wrong running update fails at the first step, named."""
import pytest

from numpy_impl import norm_functional as NF
from numpy_impl.optim_spec import OptimSpec
from crosscheck.presets import PRESETS
from crosscheck.train.lockstep import TrainConfig
from crosscheck.train.trajectory import check_trajectory

CFG = TrainConfig(OptimSpec(kind="adam", lr=0.01), batch_size=16)


def _train(name: str, steps: int = 8, dtype: str = "float64", cfg: TrainConfig = CFG):
    preset = PRESETS[name]
    spec = preset.make_spec(preset.activations[0]).with_dtype(dtype)
    return check_trajectory(spec, *preset.batch(), cfg, steps)


@pytest.mark.parametrize("name", ["digits_bn", "digits_ln", "res_mlp", "cnn_bn"])
def test_norm_presets_train_in_lockstep(name):
    result = _train(name)
    assert result.passed, result.summary()
    keys = {c.name for c in result.params}
    assert name not in ("digits_bn", "cnn_bn") or any(k.endswith("running_var") for k in keys)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_wrong_running_variance_fails_the_first_step_and_is_named(dtype, monkeypatch):
    """In float32 too: judged against its own size (as optimizer state is), the biased
    variance's 2e-3 would pass float32's bar; against its change it does not."""
    plain = NF.running_update
    monkeypatch.setattr(NF, "running_update", lambda rm, rv, mean, var, n, m: plain(rm, rv, mean, var * (n - 1) / n, n, m))
    # float32 with SGD: Adam's first step turns the float32 rounding of a near-zero gradient into a
    # whole lr-sized step, which fails digits_bn's first weight on correct code (not fixed yet)
    cfg = CFG if dtype == "float64" else TrainConfig(OptimSpec(kind="sgd", lr=0.01, momentum=0.9), batch_size=16)
    result = _train("digits_bn", steps=3, dtype=dtype, cfg=cfg)
    assert not result.passed and result.first_failure == 1
    assert [r.comparison.name for r in result.failed_rows] == ["1.running_var"]
