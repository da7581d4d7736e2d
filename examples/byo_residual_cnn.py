"""A small ResNet written by hand, in either layout byo.cnn takes: a convolution, a residual
block x + f(x) with f = conv-BN-ReLU-conv-BN, and a downsampling block proj(x) + f(x) whose
projection is a 1x1 convolution with stride 2; every convolution keeps its bias, also right
before a batch norm, as hand-written code does. Each block's backward returns dy + the branch's
dx (+ the projection's). `python -m crosscheck --user examples/byo_residual_cnn.py` checks the
NCHW net; crosscheck_model(layout="nhwc") is the same net in TensorFlow's layout. bug=,
proj_bug= and bias_bug= plant the usual slips (the corpus, tests/corpus/norm_cases.py, uses them)."""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _first(a, layout):
    """(N, H, W, C) -> (N, C, H, W) for layout "nhwc"; NCHW as it is."""
    return a if layout == "nchw" else a.transpose(0, 3, 1, 2)


def _back(a, layout):
    return a if layout == "nchw" else a.transpose(0, 2, 3, 1)


class Conv:
    """k x k convolution, stride `stride`, zero padding `pad`: W (F, C, k, k) in NCHW, [k, k, Cin,
    Cout] in NHWC; b (F,). bias_bug="last_image": db summed over the last image only."""

    def __init__(self, cin, cout, k, rng, stride=1, pad=None, layout="nchw", bias_bug=None):
        w = rng.normal(0, np.sqrt(2 / (cin * k * k)), (cout, cin, k, k))
        self.W, self.b = (w if layout == "nchw" else w.transpose(2, 3, 1, 0)), rng.normal(0, 0.1, cout)
        self.k, self.stride, self.pad = k, stride, (k - 1) // 2 if pad is None else pad
        self.layout, self.bias_bug = layout, bias_bug

    def _oihw(self):
        return self.W if self.layout == "nchw" else self.W.transpose(3, 2, 0, 1)

    def forward(self, x):
        p, s = self.pad, self.stride
        self.xp = np.pad(_first(x, self.layout), ((0, 0), (0, 0), (p, p), (p, p)))
        self.win = sliding_window_view(self.xp, (self.k, self.k), axis=(2, 3))[:, :, ::s, ::s]
        out = np.einsum("nchwij,fcij->nfhw", self.win, self._oihw()) + self.b[:, None, None]
        return _back(out, self.layout)

    def backward(self, dy):
        dy, p, s = _first(dy, self.layout), self.pad, self.stride
        dw = np.einsum("nchwij,nfhw->fcij", self.win, dy)
        self.dW = dw if self.layout == "nchw" else dw.transpose(2, 3, 1, 0)
        self.db = dy[-1].sum(axis=(1, 2)) if self.bias_bug == "last_image" else dy.sum(axis=(0, 2, 3))
        dxp, w = np.zeros_like(self.xp), self._oihw()
        ho, wo = dy.shape[2:]
        for i in range(self.k):
            for j in range(self.k):
                dxp[:, :, i:i + s * ho:s, j:j + s * wo:s] += np.einsum("nfhw,fc->nchw", dy, w[:, :, i, j])
        return _back(dxp[:, :, p:dxp.shape[2] - p, p:dxp.shape[3] - p], self.layout)


class BatchNorm2d:
    """Per channel over N, H and W; torch's conventions (momentum 0.1, unbiased running_var)."""

    def __init__(self, c, rng, layout="nchw", momentum=0.1, eps=1e-5):
        self.gamma, self.beta = rng.uniform(0.5, 1.5, c), rng.normal(0, 0.2, c)
        self.running_mean, self.running_var = np.zeros(c), np.ones(c)
        self.momentum, self.eps, self.training, self.layout = momentum, eps, True, layout

    def _shape(self, a):
        return a[:, None, None] if self.layout == "nchw" else a

    def forward(self, x):
        axes = (0, 2, 3) if self.layout == "nchw" else (0, 1, 2)
        mean, var = self.running_mean, self.running_var
        if self.training:
            mean, var, m = x.mean(axis=axes), x.var(axis=axes), self.momentum
            self.running_mean = (1 - m) * self.running_mean + m * mean
            self.running_var = (1 - m) * self.running_var + m * x.var(axis=axes, ddof=1)
        self.axes, self.std = axes, np.sqrt(var + self.eps)
        self.xhat = (x - self._shape(mean)) / self._shape(self.std)
        return self._shape(self.gamma) * self.xhat + self._shape(self.beta)

    def backward(self, dy):
        ax = self.axes
        self.dgamma, self.dbeta = (dy * self.xhat).sum(axis=ax), dy.sum(axis=ax)
        dxhat = dy * self._shape(self.gamma)
        if not self.training:
            return dxhat / self._shape(self.std)
        mean = lambda a: self._shape(a.mean(axis=ax))  # noqa: E731
        return (dxhat - mean(dxhat) - self.xhat * mean(dxhat * self.xhat)) / self._shape(self.std)


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


class ResBlock:
    """y = x + f(x), f = layers in order."""

    def __init__(self, layers, bug=None):
        self.layers, self.bug = layers, bug

    def branch_forward(self, x):
        h = x
        for layer in self.layers:
            h = layer.forward(h)
        return h

    def branch_backward(self, dy):
        d = dy
        for layer in reversed(self.layers):
            d = layer.backward(d)
        return d

    def forward(self, x):
        h = self.branch_forward(x)
        return h if self.bug == "forward_drops_skip" else x + h

    def backward(self, dy):
        d = self.branch_backward(dy)
        if self.bug == "backward_drops_skip":
            return d
        if self.bug == "backward_drops_branch":
            return dy
        return dy + d


class ResBlockDown(ResBlock):
    """y = shortcut(x) + f(x): f halves the image and widens the channels, so does the shortcut."""

    def __init__(self, layers, shortcut, bug=None):
        super().__init__(layers, bug)
        self.shortcut = shortcut

    def forward(self, x):
        h, skip = self.branch_forward(x), self.shortcut.forward(x)
        if self.bug == "forward_drops_skip":
            return h
        return skip if self.bug == "forward_drops_branch" else skip + h

    def backward(self, dy):
        d = self.branch_backward(dy)
        # the slip: the shortcut's backward handed the branch's dx, not the block's dy
        skip = self.shortcut.backward(d if self.bug == "shortcut_gets_branch_dx" else dy)
        if self.bug == "backward_drops_skip":
            return d
        if self.bug == "backward_drops_branch":
            return skip
        return skip + d


def layers(rng, layout="nchw", bug=None, proj_bug=None, bias_bug=None):
    def conv(cin, cout, k=3, **kw):
        return Conv(cin, cout, k, rng, layout=layout, **kw)

    def bn(c):
        return BatchNorm2d(c, rng, layout)
    return [conv(2, 4), bn(4), ReLU(),
            ResBlock([conv(4, 4, bias_bug=bias_bug), bn(4), ReLU(), conv(4, 4), bn(4)], bug=bug), ReLU(),
            ResBlockDown([conv(4, 6, stride=2), bn(6), ReLU(), conv(6, 6), bn(6)], conv(4, 6, 1, stride=2, pad=0),
                      bug=proj_bug), ReLU(),
            Flatten(), Dense(54, 3, rng)]


def crosscheck_model(layout="nchw", bug=None, proj_bug=None, bias_bug=None):
    from crosscheck import byo
    rng = np.random.default_rng(11)
    x, y = rng.normal(size=(4, 2, 6, 6)), rng.integers(0, 3, size=4)
    x = x if layout == "nchw" else x.transpose(0, 2, 3, 1)
    return byo.cnn(layers(rng, layout, bug, proj_bug, bias_bug), x, y, layout=layout,
                   name=f"byo_residual_cnn ({layout})")
