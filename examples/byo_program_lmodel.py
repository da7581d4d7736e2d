"""deeplearning.ai style: a parameters dict with L_model_forward / L_model_backward over
(features, m) data, checked whole with `python -m crosscheck --user
examples/byo_program_lmodel.py`. Glue: one call naming the pair, the parameters, the
activations and the loss."""
import numpy as np


def sigmoid(Z):
    return 1 / (1 + np.exp(-Z))


def L_model_forward(X, parameters):
    caches, A, L = [], X, len(parameters) // 2
    for l in range(1, L + 1):
        Z = parameters["W" + str(l)] @ A + parameters["b" + str(l)]
        caches.append((A, parameters["W" + str(l)], Z))
        A = sigmoid(Z) if l == L else np.maximum(0, Z)
    return A, caches


def L_model_backward(AL, Y, caches):
    grads, L, m = {}, len(caches), AL.shape[1]
    dA = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    for l in reversed(range(1, L + 1)):
        A_prev, W, Z = caches[l - 1]
        dZ = dA * sigmoid(Z) * (1 - sigmoid(Z)) if l == L else dA * (Z > 0)
        grads["dW" + str(l)] = dZ @ A_prev.T / m
        grads["db" + str(l)] = np.sum(dZ, axis=1, keepdims=True) / m
        dA = W.T @ dZ
    return grads


def crosscheck_model():
    from crosscheck import byo
    rng = np.random.default_rng(1)
    X = rng.normal(size=(4, 12))
    Y = (X[:1] > 0).astype(float)
    parameters = {"W1": rng.normal(0, .5, (5, 4)), "b1": np.zeros((5, 1)),
                  "W2": rng.normal(0, .5, (1, 5)), "b2": np.zeros((1, 1))}
    return byo.program((L_model_forward, L_model_backward), X, Y, params=parameters,
                       activations=["relu", "sigmoid"], loss="bce")
