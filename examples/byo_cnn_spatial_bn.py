"""A Keras-style NHWC CNN with spatial batch normalisation (BatchNormalization: gamma/beta,
moving_mean/moving_variance, momentum 0.99 as the weight of the old value, epsilon 1e-3, a
`training` flag) and a group norm (GroupNorm: gamma/beta, groups); `python -m crosscheck --user
examples/byo_cnn_spatial_bn.py`. Each norm takes bug= to plant the usual slips (the corpus uses them)."""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


class Conv2D:
    """3x3 'SAME' convolution, stride 1, kernel [kh, kw, Cin, Cout]."""

    def __init__(self, cin, cout, rng):
        self.kernel, self.bias = rng.normal(0, 0.4, (3, 3, cin, cout)), rng.normal(0, 0.1, cout)
        self.padding, self.stride = "SAME", 1

    def forward(self, x):
        self.xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        win = sliding_window_view(self.xp, (3, 3), axis=(1, 2))  # (N, H, W, Cin, 3, 3)
        return np.einsum("nhwcij,ijcf->nhwf", win, self.kernel) + self.bias

    def backward(self, dy):
        win = sliding_window_view(self.xp, (3, 3), axis=(1, 2))
        self.dkernel = np.einsum("nhwcij,nhwf->ijcf", win, dy)
        self.dbias = dy.sum(axis=(0, 1, 2))
        dxp = np.zeros_like(self.xp)
        h, w = dy.shape[1:3]
        for i in range(3):
            for j in range(3):
                dxp[:, i:i + h, j:j + w] += dy @ self.kernel[i, j].T
        return dxp[:, 1:-1, 1:-1]


class BatchNormalization:
    """Statistics per channel over N, H and W; moving = momentum moving + (1 - momentum) batch,
    the biased batch variance (Keras's conventions)."""

    def __init__(self, c, rng, momentum=0.99, epsilon=1e-3, bug=None):
        self.gamma, self.beta = rng.uniform(0.5, 1.5, c), rng.normal(0, 0.2, c)
        self.moving_mean, self.moving_variance = rng.normal(0, 0.3, c), rng.uniform(0.5, 1.5, c)
        self.momentum, self.epsilon, self.training, self.bug = momentum, epsilon, True, bug

    def forward(self, x):
        axes = (0,) if self.bug == "per_position" else (0, 1, 2)
        if self.training:
            mean, var = x.mean(axis=axes), x.var(axis=axes)
            m = self.momentum
            self.moving_mean = m * self.moving_mean + (1 - m) * x.mean(axis=(0, 1, 2))
            self.moving_variance = m * self.moving_variance + (1 - m) * x.var(axis=(0, 1, 2))
        else:
            mean, var = self.moving_mean, self.moving_variance
        self.std = np.sqrt(var + self.epsilon)
        self.xhat = (x - mean) / self.std
        return self.gamma * self.xhat + self.beta

    def backward(self, dy):
        xhat = self.xhat
        self.dgamma = (dy * xhat).sum(axis=0 if self.bug == "dgamma_batch_only" else (0, 1, 2))
        self.dbeta = dy.sum(axis=(0, 1, 2))
        dxhat = dy * self.gamma
        if not self.training or self.bug == "constants":
            return dxhat / self.std
        axes = (0,) if self.bug in ("per_position", "backward_batch_only") else (0, 1, 2)
        return (dxhat - dxhat.mean(axis=axes) - xhat * (dxhat * xhat).mean(axis=axes)) / self.std


class GroupNorm:
    """Statistics per sample over each group of C/G consecutive channels and H, W (NHWC)."""

    def __init__(self, c, groups, rng, eps=1e-5, bug=None):
        self.gamma, self.beta = rng.uniform(0.5, 1.5, c), rng.normal(0, 0.2, c)
        self.groups, self.eps, self.bug = groups, eps, bug

    def _grouped(self, a):
        n, h, w, c = a.shape
        if self.bug == "strided":  # channel c in group c % G
            return a.reshape(n, h, w, c // self.groups, self.groups).swapaxes(3, 4)
        return a.reshape(n, h, w, self.groups, c // self.groups)

    def _ungrouped(self, a, shape):
        return (a.swapaxes(3, 4) if self.bug == "strided" else a).reshape(shape)

    def forward(self, x):
        g = self._grouped(x)
        mean, var = g.mean(axis=(1, 2, 4), keepdims=True), g.var(axis=(1, 2, 4), keepdims=True)
        self.std = np.sqrt(var) + self.eps if self.bug == "eps_outside" else np.sqrt(var + self.eps)
        self.xhat = self._ungrouped((g - mean) / self.std, x.shape)
        return self.gamma * self.xhat + self.beta

    def backward(self, dy):
        self.dgamma, self.dbeta = (dy * self.xhat).sum(axis=(0, 1, 2)), dy.sum(axis=(0, 1, 2))
        dxhat, xhat = self._grouped(dy * self.gamma), self._grouped(self.xhat)
        ax = (1, 2, 4)
        dx = (dxhat - dxhat.mean(axis=ax, keepdims=True) - xhat * (dxhat * xhat).mean(axis=ax, keepdims=True)) / self.std
        return self._ungrouped(dx, dy.shape)


class ReLU:
    def forward(self, x):
        self.mask = x > 0
        return x * self.mask

    def backward(self, dy):
        return dy * self.mask


class Flatten:
    def forward(self, x):
        self.shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, dy):
        return dy.reshape(self.shape)


class Dense:
    def __init__(self, n_in, n_out, rng):
        self.W, self.b = rng.normal(0, 0.2, (n_in, n_out)), np.zeros(n_out)

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dy):
        self.dW, self.db = self.x.T @ dy, dy.sum(axis=0)
        return dy @ self.W.T


def crosscheck_model(bn_bug=None, gn_bug=None, training=True):
    from crosscheck import byo
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(4, 5, 5, 2)), rng.integers(0, 3, size=4)
    bn = BatchNormalization(4, rng, bug=bn_bug)
    bn.training = training
    layers = [Conv2D(2, 4, rng), bn, ReLU(), Conv2D(4, 4, rng), GroupNorm(4, 2, rng, bug=gn_bug), ReLU(),
              Flatten(), Dense(100, 3, rng)]
    return byo.cnn(layers, x, y, layout="nhwc", name="byo_cnn_spatial_bn")
