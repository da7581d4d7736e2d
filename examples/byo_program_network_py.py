"""network.py style (sigmoid layers, quadratic cost, per-sample column-vector
backprop(x, y) -> (nabla_b, nabla_w)), checked whole with `python -m crosscheck --user
examples/byo_program_network_py.py`; the tool runs it per sample and averages. Glue: one call."""
import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


class Network:
    def __init__(self, sizes, seed=0):
        rng = np.random.default_rng(seed)
        self.weights = [rng.normal(size=(o, i)) for i, o in zip(sizes[:-1], sizes[1:])]
        self.biases = [rng.normal(size=(o, 1)) for o in sizes[1:]]

    def backprop(self, x, y):
        nabla_b, nabla_w = [None] * len(self.biases), [None] * len(self.weights)
        activation, activations, zs = x, [x], []
        for b, w in zip(self.biases, self.weights):
            zs.append(w @ activation + b)
            activation = sigmoid(zs[-1])
            activations.append(activation)
        delta = (activations[-1] - y) * activations[-1] * (1 - activations[-1])
        nabla_b[-1], nabla_w[-1] = delta, delta @ activations[-2].T
        for layer in range(2, len(self.weights) + 1):
            s = sigmoid(zs[-layer])
            delta = (self.weights[-layer + 1].T @ delta) * s * (1 - s)
            nabla_b[-layer], nabla_w[-layer] = delta, delta @ activations[-layer - 1].T
        return nabla_b, nabla_w


def crosscheck_model():
    from crosscheck import byo
    rng = np.random.default_rng(1)
    X = rng.normal(size=(10, 4))
    Y = np.eye(3)[rng.integers(0, 3, 10)]
    return byo.program(Network([4, 6, 3]), X, Y, activations=["sigmoid", "sigmoid"], loss="half_sse")
