"""Whole programs as a convention (byo.program): CS231n loss(X, y) objects, network.py's
per-sample backprop, deeplearning.ai's L_model_forward/L_model_backward; glue one call."""
import numpy as np
import pytest

from crosscheck import byo


class TwoLayerNet:
    """CS231n's TwoLayerNet as written: params dict, loss(X, y) -> (loss, grads), reg inside."""

    def __init__(self, rng, reg=0.1, bug=""):
        self.params = {"W1": rng.normal(0, .5, (4, 6)), "b1": rng.normal(0, .1, 6),
                       "W2": rng.normal(0, .5, (6, 3)), "b2": rng.normal(0, .1, 3)}
        self.reg, self.bug = reg, bug

    def loss(self, X, y=None):
        W1, b1, W2, b2 = (self.params[k] for k in ("W1", "b1", "W2", "b2"))
        h = np.maximum(X @ W1 + b1, 0)
        scores = h @ W2 + b2
        if y is None:
            return scores
        n = len(X)
        z = scores - scores.max(1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
        loss = -np.log(p[np.arange(n), y]).mean() + 0.5 * self.reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
        dscores = p.copy()
        dscores[np.arange(n), y] -= 1
        dscores /= 1 if self.bug == "noN" else n
        grads = {"W2": h.T @ dscores + self.reg * W2, "b2": dscores.sum(0)}
        dh = (dscores @ W2.T) * (h > 0 if self.bug != "nomask" else 1)
        grads["W1"] = X.T @ dh + (0 if self.bug == "noreg" else self.reg * W1)
        grads["b1"] = dh.sum(0)
        return loss, grads


class Network:
    """network.py as written: sigmoid layers, quadratic cost, per-sample column backprop."""

    def __init__(self, rng, sizes, bug=""):
        self.weights = [rng.normal(size=(o, i)) for i, o in zip(sizes[:-1], sizes[1:])]
        self.biases = [rng.normal(size=(o, 1)) for o in sizes[1:]]
        self.bug = bug

    def feedforward(self, a):
        for b, w in zip(self.biases, self.weights):
            a = sigmoid(w @ a + b)
        return a

    def backprop(self, x, y):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        activation, activations, zs = x, [x], []
        for b, w in zip(self.biases, self.weights):
            z = w @ activation + b
            zs.append(z)
            activation = sigmoid(z)
            activations.append(activation)
        out = activations[-1] if self.bug == "at_output" else zs[-1]
        delta = (activations[-1] - y) * sigmoid_prime(out)
        nabla_b[-1], nabla_w[-1] = delta, delta @ activations[-2].T
        for layer in range(2, len(self.weights) + 1):
            delta = (self.weights[-layer + 1].T @ delta) * sigmoid_prime(zs[-layer])
            nabla_b[-layer], nabla_w[-layer] = delta, delta @ activations[-layer - 1].T
        return nabla_b, nabla_w


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))


def L_model_forward(X, parameters):
    """deeplearning.ai: relu hidden layers, a sigmoid output; caches per layer."""
    caches, A, L = [], X, len(parameters) // 2
    for l in range(1, L + 1):
        Z = parameters[f"W{l}"] @ A + parameters[f"b{l}"]
        caches.append((A, parameters[f"W{l}"], Z))
        A = sigmoid(Z) if l == L else np.maximum(Z, 0)
    return A, caches


def make_backward(bug=""):
    def L_model_backward(AL, Y, caches):
        grads, L, m = {}, len(caches), AL.shape[1]
        dA = -(Y / AL - (1 - Y) / (1 - AL))
        for l in reversed(range(1, L + 1)):
            A_prev, W, Z = caches[l - 1]
            dZ = dA * sigmoid(Z) * (1 - sigmoid(Z)) if l == L else dA * (Z > 0)
            grads[f"dW{l}"] = dZ @ A_prev.T / m
            grads[f"db{l}"] = dZ.sum(1, keepdims=True) / m
            if bug == "dW_T" and l == 2:  # W2 is square
                grads[f"dW{l}"] = grads[f"dW{l}"].T
            dA = W.T @ dZ
        return grads
    return L_model_backward


def _cs231n(rng, **kw):
    X, y = rng.normal(size=(10, 4)), rng.integers(0, 3, 10)
    return TwoLayerNet(rng, **kw), X, y


@pytest.mark.parametrize("bug,layer,slip", [("", None, ""), ("noN", 1, "missing 1/N"), ("noreg", 0, ""),
                                            ("nomask", 0, "")])
def test_cs231n_two_layer_net(rng, bug, layer, slip):
    net, X, y = _cs231n(rng, bug=bug)
    result = byo.check(byo.program(net, X, y, activations=["relu", "identity"], l2=net.reg))
    assert result.passed is (bug == "")
    if bug:
        assert result.culprit().layer == layer and slip in result.culprit().slip


def test_cs231n_reg_undeclared_is_named(rng):
    net, X, y = _cs231n(rng)
    result = byo.check(byo.program(net, X, y, activations=["relu", "identity"]))
    assert not result.passed and "declare l2=0.1" in result.undeclared


@pytest.mark.parametrize("bug", ["", "at_output"])
def test_network_py_per_sample_backprop(rng, bug):
    net = Network(rng, [4, 5, 3], bug)
    X, Y = rng.normal(size=(8, 4)), np.eye(3)[rng.integers(0, 3, 8)]
    result = byo.check(byo.program(net, X, Y, activations=["sigmoid", "sigmoid"], loss="half_sse"))
    assert result.passed is (bug == "")
    if bug:  # the slip inside whole-program code is named from torch's input and dL/d(output) there
        culprit = result.culprit()
        assert culprit.layer == 1 and "sigmoid derivative taken at the output" in culprit.slip, culprit.slip


@pytest.mark.parametrize("bug", ["", "dW_T"])
def test_deeplearning_ai_l_model(rng, bug):
    X = rng.normal(size=(4, 12))
    Y = (X[:1] > 0).astype(float)
    params = {"W1": rng.normal(0, .5, (5, 4)), "b1": np.zeros((5, 1)), "W2": rng.normal(0, .5, (5, 5)),
              "b2": np.zeros((5, 1)), "W3": rng.normal(0, .5, (1, 5)), "b3": np.zeros((1, 1))}
    result = byo.check(byo.program((L_model_forward, make_backward(bug)), X, Y, params=params, loss="bce",
                                   activations=["relu", "relu", "sigmoid"]))
    assert result.passed is (bug == "")
    if bug:
        assert result.culprit().layer == 1 and "transposed" in result.culprit().slip


def test_a_program_of_no_known_style_is_one_line(rng):
    with pytest.raises(ValueError, match="net: dict is none of the program styles"):
        byo.program({}, rng.normal(size=(3, 2)), np.zeros(3, int), activations=["identity"])
    net, X, y = _cs231n(rng)
    with pytest.raises(ValueError, match="activations: give one per"):
        byo.program(net, X, y, activations=["relu"])


@pytest.mark.parametrize("example", ["byo_program_cs231n", "byo_program_network_py", "byo_program_lmodel"])
def test_program_examples_pass_through_the_cli(example):
    """Each style's example file, as `python -m crosscheck --user FILE.py` runs it."""
    import subprocess
    import sys
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "examples" / f"{example}.py"
    proc = subprocess.run([sys.executable, "-m", "crosscheck", "--user", str(path)], capture_output=True,
                          text=True, cwd=path.parents[1], timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASS" in proc.stdout
