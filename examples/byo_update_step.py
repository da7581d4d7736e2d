"""Hand-written per-layer update rules (each layer has step(step_size)), checked against
torch.optim.SGD(momentum=0.9) from identical gradients:
`python -m crosscheck train --update examples/byo_update_step.py`."""
import numpy as np


class Dense:
    """y = x @ W + b; backprop stores dW and db; step() is plain gradient descent."""

    def __init__(self, n_in, n_out, rng):
        self.W = rng.uniform(-0.5, 0.5, size=(n_in, n_out))
        self.b = np.zeros(n_out)

    def step(self, step_size):
        self.W -= step_size * self.dW
        self.b -= step_size * self.db


class MomentumDense(Dense):
    """Heavy-ball momentum as torch.optim.SGD writes it: v = mu * v + g; p -= lr * v."""

    def __init__(self, n_in, n_out, rng, mu=0.9):
        super().__init__(n_in, n_out, rng)
        self.mu, self.vW, self.vb = mu, np.zeros_like(self.W), np.zeros_like(self.b)

    def step(self, step_size):
        self.vW = self.mu * self.vW + self.dW
        self.vb = self.mu * self.vb + self.db
        self.W -= step_size * self.vW
        self.b -= step_size * self.vb


class Tanh:  # no parameters: skipped by the check
    pass


def crosscheck_update():
    from crosscheck.train.byo_optim import layer_rule
    from numpy_impl import OptimSpec
    rng = np.random.default_rng(0)
    layers = [MomentumDense(3, 8, rng), Tanh(), MomentumDense(8, 1, rng)]
    return OptimSpec("sgd", lr=0.05, momentum=0.9), layer_rule(layers, method="step")
