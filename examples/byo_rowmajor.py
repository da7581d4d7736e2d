"""A hand-written row-major network (y = x @ W + b), checked with
`python -m crosscheck --user examples/byo_rowmajor.py`."""
import numpy as np


class Dense:
    def __init__(self, n_in, n_out, rng):
        self.W = rng.uniform(-0.5, 0.5, size=(n_in, n_out))
        self.b = np.zeros(n_out)

    def forward(self, x):
        return x @ self.W + self.b

    def backward(self, x, dy):
        self.dW = x.T @ dy
        self.db = dy.sum(axis=0)
        return dy @ self.W.T


class Tanh:
    def forward(self, x):
        return np.tanh(x)

    def backward(self, x, dy):
        return dy * (1 - np.tanh(x) ** 2)


def crosscheck_model():
    from crosscheck import byo
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, size=(64, 3))
    y = np.sin(x[:, :1]) - 0.8 * x[:, 2:]
    layers = [Dense(3, 8, rng), Tanh(), Dense(8, 8, rng), Tanh(), Dense(8, 1, rng)]
    return byo.rowmajor(layers, x, y, loss="mse", name="byo_rowmajor")
