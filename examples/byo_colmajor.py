"""Column-major parameters (Z = W @ X + b, samples as columns) with per-layer functions in
the style of many course notebooks; `python -m crosscheck --user examples/byo_colmajor.py`."""
import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def forward(A_prev, W, b, activation):
    Z = W @ A_prev + b
    A = {"relu": np.maximum(Z, 0), "sigmoid": sigmoid(Z), "identity": Z}[activation]
    return A, (A_prev, W, Z)


def backward(dA, cache, activation):
    A_prev, W, Z = cache
    s = sigmoid(Z)
    dZ = dA * {"relu": (Z > 0), "sigmoid": s * (1 - s), "identity": 1.0}[activation]
    return W.T @ dZ, dZ @ A_prev.T, dZ.sum(axis=1, keepdims=True)


def crosscheck_model():
    from crosscheck import byo
    rng = np.random.default_rng(1)
    X = rng.normal(size=(4, 50))                       # 4 features, 50 samples
    Y = (X[:1] + X[1:2] > 0).astype(float)             # (1, 50) labels for BCE
    params = [(rng.normal(0, 0.5, (6, 4)), np.zeros((6, 1))),
              (rng.normal(0, 0.5, (6, 6)), np.zeros((6, 1))),
              (rng.normal(0, 0.5, (1, 6)), np.zeros((1, 1)))]
    return byo.colmajor(params, "relu", forward, backward, X, Y, output_activation="sigmoid",
                        loss="bce", name="byo_colmajor")
