"""The MNIST CNN of TensorFlow's Deep MNIST tutorial, hand-written in NumPy in TF's layout:
x (N, 28, 28, 1), conv W [kh, kw, Cin, Cout] with 'SAME' padding, max-pool 2 'SAME',
flatten in H,W,C order, fc 1024, dropout, fc 10. Check it with
`python -m crosscheck --user examples/byo_cnn_nhwc.py`, or from Python with
`byo.check(crosscheck_model())` (`from crosscheck import byo`).

The Conv2D, MaxPool, Dropout classes take options so that tests can plant bugs."""
import numpy as np


def same_pad(size, k, stride):
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


class Conv2D:
    def __init__(self, kh, kw, cin, cout, rng, padding="SAME", stride=1, bug=None):
        self.W = rng.normal(0, 0.1, size=(kh, kw, cin, cout))
        self.b = np.full(cout, 0.1)
        self.padding, self.stride, self.bug = padding, stride, bug

    def _pads(self, h, w):
        kh, kw = self.W.shape[:2]
        if self.padding == "VALID":
            return (0, 0), (0, 0)
        ph = same_pad(h, kh, self.stride)
        if self.bug == "pad":
            ph = (ph[0] + 1, ph[1] + 1)
        return ph, same_pad(w, kw, self.stride)

    def forward(self, x):
        kh, kw, _, cout = self.W.shape
        ph, pw = self._pads(*x.shape[1:3])
        self.xp = np.pad(x, ((0, 0), ph, pw, (0, 0)))
        s = self.stride
        ho = (self.xp.shape[1] - kh) // s + 1
        wo = (self.xp.shape[2] - kw) // s + 1
        w = self.W[::-1, ::-1] if self.bug == "flip" else self.W
        y = np.zeros((x.shape[0], ho, wo, cout)) + self.b
        for i in range(kh):
            for j in range(kw):
                patch = self.xp[:, i:i + s * ho:s, j:j + s * wo:s, :]
                y += patch @ w[i, j]
        self.pads, self.in_shape = (ph, pw), x.shape
        return y

    def backward(self, dy):
        kh, kw = self.W.shape[:2]
        s = 1 if self.bug == "stride" else self.stride
        ho, wo = dy.shape[1:3]
        dxp = np.zeros_like(self.xp)
        self.dW = np.zeros_like(self.W)
        for i in range(kh):
            for j in range(kw):
                patch = self.xp[:, i:i + s * ho:s, j:j + s * wo:s, :]
                self.dW[i, j] = np.einsum("nhwc,nhwf->cf", patch, dy)
                dxp[:, i:i + s * ho:s, j:j + s * wo:s, :] += dy @ self.W[i, j].T
        if self.bug == "swap":
            self.dW = self.dW.transpose(0, 1, 3, 2)
        self.db = dy.sum(axis=(0, 1, 2))
        (t, b), (l, r) = self.pads
        return dxp[:, t:dxp.shape[1] - b, l:dxp.shape[2] - r, :]


class MaxPool:
    def __init__(self, size=2, stride=2, padding="SAME", route="first"):
        self.pool_size, self.stride, self.padding, self.route = size, stride, padding, route

    def forward(self, x):
        n, h, w, c = x.shape
        k, s = self.pool_size, self.stride
        ph, pw = same_pad(h, k, s), same_pad(w, k, s)
        xp = np.pad(x, ((0, 0), ph, pw, (0, 0)), constant_values=-np.inf)
        ho, wo = (xp.shape[1] - k) // s + 1, (xp.shape[2] - k) // s + 1
        taps = np.stack([xp[:, i:i + s * ho:s, j:j + s * wo:s, :] for i in range(k) for j in range(k)])
        self.cache = (xp.shape, ph, pw, taps, ho, wo)
        return taps.max(axis=0)

    def backward(self, dy):
        shape, ph, pw, taps, ho, wo = self.cache
        k, s = self.pool_size, self.stride
        hit = taps == taps.max(axis=0)
        if self.route == "first":
            hit = hit & (np.cumsum(hit, axis=0) == 1)
        elif self.route == "last":
            hit = hit & (np.cumsum(hit[::-1], axis=0)[::-1] == 1)
        dxp = np.zeros(shape)
        for t, (i, j) in enumerate((i, j) for i in range(k) for j in range(k)):
            dxp[:, i:i + s * ho:s, j:j + s * wo:s, :] += dy * hit[t]
        return dxp[:, ph[0]:shape[1] - ph[1], pw[0]:shape[2] - pw[1], :]


class Relu:
    def forward(self, x):
        self.x = x
        return np.maximum(x, 0)

    def backward(self, dy):
        return dy * (self.x > 0)


class Flatten:
    def __init__(self, backward_order="hwc"):
        self.backward_order = backward_order

    def forward(self, x):
        self.shape = x.shape
        return x.reshape(len(x), -1)  # NHWC: H, W, C order, as tf.reshape

    def backward(self, dy):
        n, h, w, c = self.shape
        if self.backward_order == "chw":
            return dy.reshape(n, c, h, w).transpose(0, 2, 3, 1)
        return dy.reshape(self.shape)


class Dense:
    def __init__(self, n_in, n_out, rng):
        self.W = rng.normal(0, 0.1, size=(n_in, n_out)) / np.sqrt(n_in / 100)
        self.b = np.full(n_out, 0.1)

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dy):
        self.dW = self.x.T @ dy
        self.db = dy.sum(axis=0)
        return dy @ self.W.T


class Dropout:
    def __init__(self, keep_prob=0.5, backward_scaled=True, scaled=True):
        self.keep_prob, self.backward_scaled, self.scaled = keep_prob, backward_scaled, scaled

    def forward(self, x):
        self.mask = np.random.rand(*x.shape) < self.keep_prob
        scale = 1 / self.keep_prob if self.scaled else 1.0
        return x * self.mask * scale

    def backward(self, dy):
        scale = 1 / self.keep_prob if self.scaled and self.backward_scaled else 1.0
        return dy * self.mask * scale


def mnist_layers(rng, **bugs):
    """conv 5x5x32 SAME, relu, pool 2, conv 5x5x64 SAME, relu, pool 2, flatten, fc 1024, relu,
    dropout, fc 10; `bugs` plants a slip (see the classes above)."""
    return [Conv2D(5, 5, 1, 32, rng, bug=bugs.get("conv1")), Relu(), MaxPool(route=bugs.get("route", "first")),
            Conv2D(5, 5, 32, 64, rng), Relu(), MaxPool(),
            Flatten(bugs.get("flatten", "hwc")), Dense(7 * 7 * 64, 1024, rng), Relu(),
            Dropout(backward_scaled=bugs.get("drop_bwd", True)), Dense(1024, 10, rng)]


def crosscheck_model():
    from crosscheck import byo
    rng = np.random.default_rng(0)
    x, labels = rng.random((2, 28, 28, 1)), np.array([3, 7])
    return byo.cnn(mnist_layers(rng), x, labels, layout="nhwc", name="byo_cnn_nhwc")
