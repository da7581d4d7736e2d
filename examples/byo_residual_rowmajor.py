"""Row-major layer objects with residual blocks: ResBlock computes x + f(x) with f a list of
Dense/ReLU objects under `layers`, ResidualBlock proj(x) + f(x) with a Dense projection under
`shortcut`; each backward returns dy + the branch's dx (+ the projection's dx).
`python -m crosscheck --user examples/byo_residual_rowmajor.py`. bug= plants the usual slips
(the corpus, tests/corpus/norm_cases.py, uses them)."""
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


class ResBlock:
    """y = x + f(x), f = layers in order."""

    def __init__(self, layers, bug=None):
        self.layers, self.bug = layers, bug

    def forward(self, x):
        h = x
        for layer in self.layers:
            h = layer.forward(h)
        if self.bug == "forward_drops_skip":
            return h
        if self.bug == "forward_drops_branch":
            return x
        return x + h

    def backward(self, dy):
        d = dy
        for layer in reversed(self.layers):
            d = layer.backward(d)
        if self.bug == "backward_drops_skip":
            return d
        if self.bug == "backward_drops_branch":
            return dy
        return dy + d


class ResidualBlock(ResBlock):
    """y = shortcut(x) + f(x), the shortcut a Dense projection where f changes the width."""

    def __init__(self, layers, shortcut, bug=None):
        super().__init__(layers, bug)
        self.shortcut = shortcut

    def forward(self, x):
        h = x
        for layer in self.layers:
            h = layer.forward(h)
        return self.shortcut.forward(x) + h

    def backward(self, dy):
        d = dy
        for layer in reversed(self.layers):
            d = layer.backward(d)
        skip = self.shortcut.backward(dy)
        if self.bug == "backward_drops_skip":
            return d
        if self.bug == "backward_drops_branch":
            return skip
        return skip + d


def layers(rng, bug=None, proj_bug=None):
    return [Dense(5, 6, rng), ReLU(),
            ResBlock([Dense(6, 6, rng), ReLU(), Dense(6, 6, rng)], bug=bug),
            ResidualBlock([Dense(6, 4, rng), ReLU()], Dense(6, 4, rng), bug=proj_bug),
            Dense(4, 3, rng)]


def crosscheck_model(bug=None, proj_bug=None):
    from crosscheck import byo
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(8, 5)), rng.integers(0, 3, size=8)
    return byo.rowmajor(layers(rng, bug, proj_bug), x, y, loss="softmax_ce", name="byo_residual_rowmajor")
