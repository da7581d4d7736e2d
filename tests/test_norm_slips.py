"""Each normalisation and residual slip planted in the mirror's own layers (numpy_impl.norm,
monkeypatched) is blamed on the right layer and quantity, and named."""
import numpy as np
import pytest

import numpy_impl.norm as N
from numpy_impl import norm_functional as NF
from numpy_impl import spec as S
from crosscheck.check.spec_check import check_spec

BN_MLP = S.ModelSpec("bn-mlp", (5,), (S.Linear(6, bias=False), S.BatchNorm1d(), S.Activation("relu"), S.Linear(3)),
                     loss="softmax_ce", init=S.Init("torch"))
CNN = S.ModelSpec("cnn", (4, 5, 5), (S.Conv2d(4, 3, padding=1, bias=False), S.BatchNorm2d(), S.Activation("relu"),
                                     S.Conv2d(4, 3, stride=2, padding=1), S.GroupNorm(2), S.Activation("tanh"),
                                     S.Flatten(), S.Linear(3)), loss="softmax_ce", init=S.Init("torch"))
LN_RES = S.ModelSpec("ln-res", (5,), (S.Linear(6), S.LayerNorm(), S.Residual((S.Linear(6), S.Activation("tanh"))),
                                      S.Residual((S.Linear(4, bias=False), S.BatchNorm1d())), S.Linear(2)),
                     loss="mse", init=S.Init("torch"))
RES = S.ModelSpec("res", (5,), (S.Linear(6), S.Residual((S.Linear(6), S.Activation("tanh"))), S.Linear(2)),
                  loss="mse", init=S.Init("torch"))


def _culprit(spec, mode="train"):
    r = np.random.default_rng(5)
    x = r.normal(size=(6, *spec.input_shape))
    out = S.infer_shapes(spec)[-1][1][0]
    y = r.integers(0, out, 6) if spec.loss == "softmax_ce" else r.normal(size=(6, out))
    result = check_spec(spec, x, y, mode=mode, fd=False)
    assert not result.passed
    row = result.culprit()
    return row.layer, row.quantity, row.slip


def _stats_forward(ddof=0, outside=False, axes=None):
    """normalize_forward with the variance's ddof, eps outside the root, or other axes (batch statistics only)."""
    plain = NF.normalize_forward

    def forward(x, ax, eps, mean=None, var=None):
        if mean is not None:
            return plain(x, ax, eps, mean, var)
        ax = axes or ax
        mean = x.mean(axis=ax, keepdims=True)
        var = x.var(axis=ax, keepdims=True, ddof=ddof)
        inv = 1.0 / (np.sqrt(var) + eps) if outside else 1.0 / np.sqrt(var + eps)
        xhat = (x - mean) * inv
        return xhat, NF.NormCache(xhat, inv, mean, var, ax, True)
    return forward


def test_constants_in_backward(monkeypatch):
    monkeypatch.setattr(NF, "normalize_backward", lambda dxhat, cache: dxhat * cache.inv_std)
    layer, qty, slip = _culprit(BN_MLP)
    assert (layer, qty) == (1, "grad_in") and "mean and variance treated as constants" in slip


@pytest.mark.parametrize("spec,layer", [(BN_MLP, 1), (LN_RES, 1), (CNN, 1)])
def test_unbiased_variance_to_normalise(monkeypatch, spec, layer):
    monkeypatch.setattr(NF, "normalize_forward", _stats_forward(ddof=1))
    found = _culprit(spec)
    assert found[:2] == (layer, "out") and "unbiased variance" in found[2]


def test_eps_outside_the_root(monkeypatch):
    monkeypatch.setattr(NF, "normalize_forward", _stats_forward(outside=True))
    layer, qty, slip = _culprit(BN_MLP)
    assert (layer, qty) == (1, "out") and "eps outside the square root" in slip


def test_other_momentum_convention(monkeypatch):
    plain = NF.running_update
    monkeypatch.setattr(NF, "running_update", lambda rm, rv, mean, var, n, m: plain(rm, rv, mean, var, n, 1 - m))
    layer, qty, slip = _culprit(BN_MLP)
    assert (layer, qty) == (1, "running_mean") and "the other momentum convention" in slip


def test_biased_running_variance(monkeypatch):
    plain = NF.running_update
    monkeypatch.setattr(NF, "running_update", lambda rm, rv, mean, var, n, m: plain(rm, rv, mean, var * (n - 1) / n, n, m))
    layer, qty, slip = _culprit(BN_MLP)
    assert (layer, qty) == (1, "running_var") and "biased (n) batch variance" in slip


def test_batch_statistics_in_eval_mode(monkeypatch):
    plain = NF.batchnorm_forward
    monkeypatch.setattr(NF, "batchnorm_forward", lambda x, g, b, eps=1e-5, running=None: plain(x, g, b, eps))
    layer, qty, slip = _culprit(BN_MLP, mode="eval")
    assert (layer, qty) == (1, "out") and "batch statistics used in eval mode" in slip


def test_running_statistics_in_training(monkeypatch):
    plain = N.BatchNorm.forward

    def forward(self, x):
        before = (self.buffers["running_mean"].copy(), self.buffers["running_var"].copy())
        plain(self, x)  # updates the running statistics from the batch
        y, self._cache = NF.batchnorm_forward(x, *self._gamma_beta(), self.eps, before)
        return y
    monkeypatch.setattr(N.BatchNorm, "forward", forward)
    layer, qty, slip = _culprit(BN_MLP)
    assert (layer, qty) == (1, "out") and "running statistics (before" in slip


@pytest.mark.parametrize("spec,index,want", [(BN_MLP, 1, "not summed over the batch"),  # the group norm comes first
                                             (CNN, 4, "not summed over the batch and the spatial axes")])
def test_dgamma_not_summed(monkeypatch, spec, index, want):
    monkeypatch.setattr(NF, "_affine_backward", lambda dy, xhat, g: (dy * g, dy * xhat, dy))
    layer, qty, slip = _culprit(spec)
    assert (layer, qty) == (index, "weight.grad") and slip.startswith("dgamma " + want)


def test_spatial_statistics_over_the_batch_only(monkeypatch):
    monkeypatch.setattr(NF, "normalize_forward", _stats_forward(axes=(0,)))
    spec = S.ModelSpec("cnn", (4, 5, 5), (S.Conv2d(4, 3, padding=1, bias=False),  # batch statistics, no running ones
                                          S.BatchNorm2d(track_running_stats=False), S.Activation("relu"), S.Flatten(),
                                          S.Linear(3)), loss="softmax_ce", init=S.Init("torch"))
    layer, qty, slip = _culprit(spec, mode="eval")
    assert (layer, qty) == (1, "out") and "spatial statistics over the wrong axes" in slip


def test_group_statistics_strided(monkeypatch):
    plain = NF.groupnorm_forward

    def forward(x, gamma, beta, groups, eps=1e-5):
        n, c = x.shape[:2]
        strided = x.reshape(n, c // groups, groups, -1).swapaxes(1, 2)
        y, cache = plain(strided.reshape(n, c, *x.shape[2:]), np.ones(c), np.zeros(c), groups, eps)
        xhat = y.reshape(n, groups, c // groups, -1).swapaxes(1, 2).reshape(x.shape)
        return gamma.reshape(1, c, 1, 1) * xhat + beta.reshape(1, c, 1, 1), cache
    monkeypatch.setattr(NF, "groupnorm_forward", forward)
    layer, qty, slip = _culprit(CNN, mode="eval")
    assert (layer, qty) == (4, "out") and "channels grouped by c % G" in slip


def test_layernorm_over_the_batch(monkeypatch):
    monkeypatch.setattr(NF, "normalize_forward", _stats_forward(axes=(0,)))
    layer, qty, slip = _culprit(LN_RES, mode="eval")
    assert (layer, qty) == (1, "out") and "over the batch" in slip


@pytest.mark.parametrize("drop,want", [("skip", "drops the skip path"), ("branch", "drops the branch")])
@pytest.mark.parametrize("spec,index", [(RES, 1), (LN_RES, 3)])
def test_residual_drops_a_path(monkeypatch, drop, want, spec, index):
    def backward(self, dy):
        self._take_cache()
        d_branch = self.branch.backward(dy)
        d_skip = dy if self.proj is None else self.proj.backward(dy)
        self.grads = self._collect("grads")
        return d_branch if drop == "skip" else d_skip
    monkeypatch.setattr(N.Residual, "backward", backward)
    layer, qty, slip = _culprit(spec, mode="eval")
    assert (layer, qty) == (index, "grad_in") and want in slip
