"""The harness's per-layer record: made once, kept on the result, and what the slip finders
read; byo's own loss rows stand where the harness's stood."""
import dataclasses

import numpy as np
import pytest

from crosscheck import byo
from crosscheck.check.byo.convnet.slips import name_cnn_slips
from crosscheck.check.layer_run import LayerRun
from corpus.cnn_cases import cases as cnn_cases


class Dense:
    def __init__(self, W):
        self.W, self.b = W, np.zeros(W.shape[1])

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dy):
        self.dW, self.db = self.x.T @ dy, dy.sum(axis=0)
        return dy @ self.W.T


class Tanh:
    def forward(self, x):
        self.y = np.tanh(x)
        return self.y

    def backward(self, dy):
        return dy * (1 - self.y ** 2)


def _model(rng, **kw):
    layers = [Dense(rng.normal(size=(3, 4))), Tanh(), Dense(rng.normal(size=(4, 2)))]
    return byo.rowmajor(layers, rng.normal(size=(6, 3)), rng.normal(size=(6, 2)), **kw)


def test_one_record_per_layer_chained_by_torchs_gradients(rng):
    model = _model(rng)
    result = byo.check(model)  # finite differences run the layers again afterwards
    runs = result.runs
    assert [r.index for r in runs] == [0, 1, 2] and all(isinstance(r, LayerRun) for r in runs)
    assert [r.name for r in runs] == [row.layer_name for row in result.rows[:3]]
    np.testing.assert_array_equal(runs[0].input, model.x)
    for below, above in zip(runs, runs[1:]):
        np.testing.assert_array_equal(above.input, below.local_ref.out)  # torch's output feeds the next layer
        np.testing.assert_array_equal(below.upstream, above.local_ref.grad_in)
    assert runs[-1].upstream.shape == runs[-1].local.out.shape == (6, 2)
    assert set(runs[0].local.grads) == set(runs[0].local_ref.grads) == {"weight", "bias"}
    assert runs[0].local.get("weight.grad") is runs[0].local.grads["weight"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        runs[0].input = None
    # the record holds what the rows compared, not what a later run left in the layers
    assert np.max(np.abs(runs[1].local.out - runs[1].local_ref.out)) <= 1e-12


def test_float32_records_torchs_own_float32_run(rng):
    runs = byo.check(_model(rng), fd=False).runs
    assert all(r.acc_torch is None for r in runs)
    layers = [Dense(rng.normal(size=(3, 4)).astype(np.float32)), Tanh()]
    x = rng.normal(size=(6, 3)).astype(np.float32)
    runs32 = byo.check(byo.rowmajor(layers, x, np.zeros((6, 4), np.float32)), fd=False).runs
    assert all(r.acc_torch is not None and r.acc_ref.out.dtype == np.float64 for r in runs32)


def test_users_loss_rows_stand_where_the_harness_put_its_own(rng):
    def mse(pred, target):
        return float(((pred - target) ** 2).mean()), 2 * (pred - target) / pred.size
    result = byo.check(_model(rng, loss="mse", loss_fn=mse), fd=False)
    loss_at = [k for k, r in enumerate(result.rows) if r.is_loss]
    assert loss_at == [3, 4]  # after the three forward rows, before the backward ones
    assert [result.rows[k].layer_name for k in loss_at] == ["loss:yours(mse)"] * 2
    assert all(r.quantity == "out" for r in result.rows[:3])
    assert result.passed


def test_cnn_slips_are_named_from_the_record_without_running_anything_again(monkeypatch):
    case = next(c for c in cnn_cases() if c.name == "conv stride 2 ignored in backward")
    result = byo.check(case.make_buggy(), fd=False)
    assert any(case.slip in r.slip for r in result.rows if r.layer == case.layer)
    for r in result.rows:
        r.slip = ""

    def rerun(*args, **kwargs):
        raise AssertionError("the slip finder ran a layer again")
    for run in result.runs:
        monkeypatch.setattr(run.layer, "forward", rerun)
        monkeypatch.setattr(run.layer, "backward", rerun)
    name_cnn_slips(result)
    assert any(case.slip in r.slip for r in result.rows if r.layer == case.layer)
