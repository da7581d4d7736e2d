"""The harness on norm and residual layers: every quantity (outputs, the running statistics
after the forward, dX, dgamma, dbeta) in both modes and both dtypes, finite differences, and
planted slips that it must blame on the right layer and quantity."""
import numpy as np
import pytest

from numpy_impl import norm_functional as NF
from numpy_impl import spec as S
from crosscheck.check.spec_check import check_spec
from crosscheck.check.verdict import TOL_FLOAT64

NETS = {
    "bn-mlp": S.ModelSpec("bn-mlp", (5,), (S.Linear(6, bias=False), S.BatchNorm1d(), S.Activation("relu"),
                                           S.Linear(3)), loss="softmax_ce", init=S.Init("torch")),
    "ln-residual": S.ModelSpec("ln-res", (5,), (S.Linear(6), S.LayerNorm(), S.Residual((S.Linear(6), S.Activation("tanh"))),
                                                S.Residual((S.Linear(4, bias=False), S.BatchNorm1d(momentum=None))), S.Linear(2)),
                               loss="mse", init=S.Init("torch")),
    "bn2d-groupnorm-cnn": S.ModelSpec("cnn", (2, 5, 5), (S.Conv2d(4, 3, padding=1, bias=False), S.BatchNorm2d(),
                                                         S.Activation("relu"), S.Conv2d(4, 3, stride=2, padding=1),
                                                         S.GroupNorm(2), S.Activation("tanh"), S.Flatten(), S.Linear(3)),
                                      loss="softmax_ce", init=S.Init("torch")),
}


def _batch(spec: S.ModelSpec, n: int = 6):
    r = np.random.default_rng(5)
    x = r.normal(size=(n, *spec.input_shape))
    out = S.infer_shapes(spec)[-1][1][0]
    y = r.integers(0, out, n) if spec.loss == "softmax_ce" else r.normal(size=(n, out))
    return x, y


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("mode", ["eval", "train"])
@pytest.mark.parametrize("net", list(NETS))
def test_clean_nets_pass_with_every_quantity_compared(net, mode, dtype):
    spec = NETS[net]
    result = check_spec(spec, *_batch(spec), dtype=dtype, mode=mode, fd_samples=4)
    assert result.passed, [r.acc.describe() for r in result.rows if r.status != "ok"]
    quantities = {r.quantity.rsplit(".", 1)[-1] if not r.quantity.endswith(".grad") else r.quantity.split(".")[-2]
                  for r in result.rows}
    assert {"running_mean", "running_var", "num_batches_tracked", "weight", "bias", "grad_in"} <= quantities
    if dtype == "float64":
        assert max(max(r.acc.max_rel, r.local.max_rel if r.local else 0) for r in result.rows) <= TOL_FLOAT64
        assert result.fd is not None and result.fd.passed


def _failing(spec, mode):
    result = check_spec(spec, *_batch(spec), mode=mode, fd=False)
    return {(r.layer, r.quantity) for r in result.rows if r.status == "wrong"}


def test_mean_and_variance_as_constants_is_blamed_on_the_batch_norm(monkeypatch):
    monkeypatch.setattr(NF, "normalize_backward", lambda dxhat, cache: dxhat * cache.inv_std)
    assert (1, "grad_in") in _failing(NETS["bn-mlp"], "train")


def test_biased_running_variance_is_blamed_on_running_var(monkeypatch):
    plain = NF.running_update
    monkeypatch.setattr(NF, "running_update", lambda rm, rv, mean, var, n, m: plain(rm, rv, mean, var * (n - 1) / n, n, m))
    assert _failing(NETS["bn-mlp"], "train") == {(1, "running_var")}


def test_batch_statistics_in_eval_mode_are_blamed_on_the_output(monkeypatch):
    plain = NF.batchnorm_forward
    monkeypatch.setattr(NF, "batchnorm_forward", lambda x, g, b, eps=1e-5, running=None: plain(x, g, b, eps))
    assert (1, "out") in _failing(NETS["bn-mlp"], "eval")


def test_running_statistics_are_left_as_one_forward_leaves_them():
    """The local run starts from the statistics before the forward: one update, not two."""
    spec = NETS["bn-mlp"]
    result = check_spec(spec, *_batch(spec), mode="train", fd=False)
    run = result.runs[1]
    assert int(run.local.buffers["num_batches_tracked"]) == int(run.acc.buffers["num_batches_tracked"]) == 4
    assert int(run.buffers_before["num_batches_tracked"]) == 3
