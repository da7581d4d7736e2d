"""Whole-network functions, column-major (course-notebook style: the loss gradient is a sum,
the layers divide by m); `python -m crosscheck --user examples/byo_network.py`."""
import numpy as np


def forward(X, params):
    (W1, b1), (W2, b2) = params
    Z1 = W1 @ X + b1
    A1 = np.tanh(Z1)
    A2 = 1 / (1 + np.exp(-(W2 @ A1 + b2)))
    return A2, (X, A1, A2)


def backward(dA2, params, cache):
    (W1, b1), (W2, b2) = params
    X, A1, A2 = cache
    m = X.shape[1]
    dZ2 = dA2 * A2 * (1 - A2)
    dZ1 = (W2.T @ dZ2) * (1 - A1 ** 2)
    return [(dZ1 @ X.T / m, dZ1.sum(axis=1, keepdims=True) / m),
            (dZ2 @ A1.T / m, dZ2.sum(axis=1, keepdims=True) / m)]


def bce(A, Y):
    m = Y.shape[1]
    loss = -np.sum(Y * np.log(A) + (1 - Y) * np.log(1 - A)) / m
    return loss, -(Y / A - (1 - Y) / (1 - A))


def crosscheck_model():
    from crosscheck import byo
    rng = np.random.default_rng(2)
    X = rng.normal(size=(3, 40))
    Y = (X[:1] * X[1:2] > 0).astype(float)
    params = [(rng.normal(0, .5, (5, 3)), np.zeros((5, 1))), (rng.normal(0, .5, (1, 5)), np.zeros((1, 1)))]
    return byo.network(forward, backward, params, X, Y, activations=["tanh", "sigmoid"], loss="bce",
                       loss_fn=bce, name="byo_network")
