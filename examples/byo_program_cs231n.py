"""A CS231n-style TwoLayerNet as written (params dict, loss(X, y) -> (loss, grads), L2 inside),
checked whole with `python -m crosscheck --user examples/byo_program_cs231n.py`. Glue: one call
naming the activations and the reg it adds."""
import numpy as np


class TwoLayerNet:
    def __init__(self, input_size, hidden_size, output_size, reg=0.05, seed=0):
        rng = np.random.default_rng(seed)
        self.params = {"W1": 0.5 * rng.normal(size=(input_size, hidden_size)), "b1": np.zeros(hidden_size),
                       "W2": 0.5 * rng.normal(size=(hidden_size, output_size)), "b2": np.zeros(output_size)}
        self.reg = reg

    def loss(self, X, y=None):
        W1, b1, W2, b2 = (self.params[k] for k in ("W1", "b1", "W2", "b2"))
        hidden = np.maximum(0, X @ W1 + b1)
        scores = hidden @ W2 + b2
        if y is None:
            return scores
        n = X.shape[0]
        shifted = scores - scores.max(axis=1, keepdims=True)
        probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        loss = -np.log(probs[np.arange(n), y]).mean() + 0.5 * self.reg * (np.sum(W1 ** 2) + np.sum(W2 ** 2))
        dscores = probs.copy()
        dscores[np.arange(n), y] -= 1
        dscores /= n
        grads = {"W2": hidden.T @ dscores + self.reg * W2, "b2": dscores.sum(axis=0)}
        dhidden = (dscores @ W2.T) * (hidden > 0)
        grads["W1"] = X.T @ dhidden + self.reg * W1
        grads["b1"] = dhidden.sum(axis=0)
        return loss, grads


def crosscheck_model():
    from crosscheck import byo
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(12, 5)), rng.integers(0, 3, 12)
    net = TwoLayerNet(5, 8, 3)
    return byo.program(net, X, y, activations=["relu", "identity"], l2=net.reg)
