"""A network class with W1, b1, W2, b2 and a backward method returning their gradients
(row-major); `python -m crosscheck --user examples/byo_netclass.py`."""
import numpy as np


class TwoLayerNet:
    def __init__(self, rng):
        self.W1, self.b1 = rng.normal(0, .5, (4, 6)), np.zeros(6)
        self.W2, self.b2 = rng.normal(0, .5, (6, 2)), np.zeros(2)

    def forward(self, X):
        self.X, self.Z1 = X, X @ self.W1 + self.b1
        self.H = np.where(self.Z1 > 0, self.Z1, 0.1 * self.Z1)          # leaky ReLU, slope 0.1
        return self.H @ self.W2 + self.b2

    def backward(self, dout):
        dH = dout @ self.W2.T
        dZ1 = dH * np.where(self.Z1 > 0, 1.0, 0.1)
        return {"W1": self.X.T @ dZ1, "b1": dZ1.sum(0), "W2": self.H.T @ dout, "b2": dout.sum(0)}


def crosscheck_model():
    from crosscheck import byo
    rng = np.random.default_rng(4)
    X, Y = rng.normal(size=(30, 4)), rng.normal(size=(30, 2))
    return byo.netclass(TwoLayerNet(rng), X, Y, activations=[("leaky_relu", 0.1), "identity"], loss="mse",
                        name="byo_netclass")
