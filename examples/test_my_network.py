"""Checking your own networks from your own test suite, with the pytest plugin that installs
with nn-crosscheck: `pytest examples/test_my_network.py`. Copy this file next to your network.

A mismatch fails the test with the table of layers and the slip found (the gradient that is N
times too small, the transposed weight, ...), in pytest's own report."""
import numpy as np
import pytest

from crosscheck import byo


class Dense:
    """y = x @ W + b, with a hand-written backward."""

    def __init__(self, n_in, n_out, rng):
        self.W = rng.uniform(-0.5, 0.5, size=(n_in, n_out))
        self.b = np.zeros(n_out)

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dy):
        self.dW, self.db = self.x.T @ dy, dy.sum(axis=0)
        return dy @ self.W.T


def test_two_layer_network(crosscheck):
    """The fixture: check a network built here."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 3)), rng.standard_normal((16, 2))
    crosscheck(byo.rowmajor([Dense(3, 4, rng), Dense(4, 2, rng)], x, y, loss="mse"))


@pytest.mark.crosscheck("byo_rowmajor.py")
def test_the_rowmajor_example():
    """The marker: check what a file's crosscheck_model() returns (path from this file's folder)."""
