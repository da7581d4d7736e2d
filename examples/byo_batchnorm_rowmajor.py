"""Row-major layer objects with a batch norm (gamma/beta, running_mean/running_var, torch's momentum
0.1 and unbiased running variance, a `training` flag) and a layer norm (weight/bias, dweight/dbias);
`python -m crosscheck --user examples/byo_batchnorm_rowmajor.py`. Each norm takes bug= to plant
the usual slips (the corpus, tests/corpus/norm_cases.py, uses them)."""
import numpy as np


class Dense:
    def __init__(self, n_in, n_out, rng):
        self.W, self.b = rng.normal(0, 0.5, (n_in, n_out)), rng.normal(0, 0.1, n_out)

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dy):
        self.dW, self.db = self.x.T @ dy, dy.sum(axis=0)
        return dy @ self.W.T


class ReLU:
    def forward(self, x):
        self.mask = x > 0
        return x * self.mask

    def backward(self, dy):
        return dy * self.mask


class BatchNorm1d:
    """torch's conventions: running = (1 - momentum) running + momentum batch, unbiased running_var."""

    def __init__(self, d, rng, momentum=0.1, eps=1e-5, bug=None):
        self.gamma, self.beta = rng.uniform(0.5, 1.5, d), rng.normal(0, 0.2, d)
        self.running_mean, self.running_var = rng.normal(0, 0.3, d), rng.uniform(0.5, 1.5, d)
        self.momentum, self.eps, self.training, self.bug = momentum, eps, True, bug

    def forward(self, x):
        bug = self.bug
        self.use_batch = self.training != (bug == "running_in_train" and self.training or
                                           bug == "batch_in_eval" and not self.training)
        mean, var = self.running_mean, self.running_var
        if self.use_batch:
            mean, var = x.mean(axis=0), x.var(axis=0, ddof=1 if bug == "unbiased_norm" else 0)
        if self.training:
            m = 1 - self.momentum if bug == "momentum" else self.momentum
            run_var = x.var(axis=0, ddof=0 if bug == "biased_running" else 1)
            self.running_mean = (1 - m) * self.running_mean + m * x.mean(axis=0)
            self.running_var = (1 - m) * self.running_var + m * run_var
        self.std = np.sqrt(var) + self.eps if bug == "eps_outside" else np.sqrt(var + self.eps)
        self.xhat = (x - mean) / self.std
        return self.gamma * self.xhat + self.beta

    def backward(self, dy):
        xhat = self.xhat
        self.dgamma = dy * xhat if self.bug == "dgamma_unsummed" else (dy * xhat).sum(axis=0)
        self.dbeta = dy.sum(axis=0)
        dxhat = dy * self.gamma
        if self.bug == "constants" or not self.use_batch:
            return dxhat / self.std
        return (dxhat - dxhat.mean(axis=0) - xhat * (dxhat * xhat).mean(axis=0)) / self.std


class LayerNorm:
    def __init__(self, d, rng, eps=1e-5, bug=None):
        self.weight, self.bias = rng.uniform(0.5, 1.5, d), rng.normal(0, 0.2, d)
        self.eps, self.bug = eps, bug

    def forward(self, x):
        axis = 0 if self.bug == "batch_axes" else 1
        mean, var = x.mean(axis=axis, keepdims=True), x.var(axis=axis, keepdims=True)
        self.std = np.sqrt(var) + self.eps if self.bug == "eps_outside" else np.sqrt(var + self.eps)
        self.xhat = (x - mean) / self.std
        return self.weight * self.xhat + self.bias

    def backward(self, dy):
        xhat = self.xhat
        self.dweight, self.dbias = (dy * xhat).sum(axis=0), dy.sum(axis=0)
        dxhat = dy * self.weight
        if self.bug == "constants":
            return dxhat / self.std
        return (dxhat - dxhat.mean(axis=1, keepdims=True) - xhat * (dxhat * xhat).mean(axis=1, keepdims=True)) / self.std


def layers(rng, bn_bug=None, ln_bug=None, training=True):
    bn = BatchNorm1d(6, rng, bug=bn_bug)
    bn.training = training
    return [Dense(5, 6, rng), bn, ReLU(), Dense(6, 6, rng), LayerNorm(6, rng, bug=ln_bug), ReLU(), Dense(6, 3, rng)]


def crosscheck_model(bn_bug=None, ln_bug=None, training=True):
    from crosscheck import byo
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(8, 5)), rng.integers(0, 3, size=8)
    return byo.rowmajor(layers(rng, bn_bug, ln_bug, training), x, y, loss="softmax_ce",
                        name="byo_batchnorm_rowmajor")
