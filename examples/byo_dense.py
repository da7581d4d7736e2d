"""Keras-style fused layers: Dense(activation=...) with W stored (out, in) (told from the
layer's own forward), a LeakyReLU whose slope is `negative_slope`, backward(dy, lr) that
updates in place, and the user's own MSE; `python -m crosscheck --user examples/byo_dense.py`."""
import numpy as np


class Dense:
    def __init__(self, n_in, n_out, rng, activation=None):
        self.weights, self.bias = rng.normal(0, .5, (n_out, n_in)), np.zeros(n_out)
        self.activation = activation

    def forward(self, x):
        self.x, self.z = x, x @ self.weights.T + self.bias
        return np.tanh(self.z) if self.activation == "tanh" else self.z

    def backward(self, dy, lr):
        dz = dy * (1 - np.tanh(self.z) ** 2) if self.activation == "tanh" else dy
        self.dweights, self.dbias = dz.T @ self.x, dz.sum(axis=0)
        dx = dz @ self.weights
        self.weights -= lr * self.dweights
        self.bias -= lr * self.dbias
        return dx


class LeakyReLU:
    def __init__(self, negative_slope=0.2):
        self.negative_slope = negative_slope

    def forward(self, x):
        self.x = x
        return np.where(x > 0, x, self.negative_slope * x)

    def backward(self, dy):
        return dy * np.where(self.x > 0, 1.0, self.negative_slope)


def mse(pred, target):
    return np.mean((pred - target) ** 2), 2 * (pred - target) / pred.size


def crosscheck_model():
    from crosscheck import byo
    rng = np.random.default_rng(5)
    x = rng.normal(size=(32, 4))
    y = rng.normal(size=(32, 4))
    layers = [Dense(4, 4, rng, activation="tanh"), Dense(4, 4, rng), LeakyReLU(), Dense(4, 4, rng)]
    return byo.rowmajor(layers, x, y, loss="mse", loss_fn=mse, name="byo_dense")
