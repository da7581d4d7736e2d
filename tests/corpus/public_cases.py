"""Real public code: hand-written NumPy networks published on PyPI, installed as pinned test
dependencies (pyproject.toml's `test` extra; nothing of theirs is copied into this repository),
each checked clean and with planted bugs, as a user would hand it to byo.

A planted bug is a subclass or a monkeypatch, or a short (pattern, replacement) pair applied to
the installed module's source as it is imported into a fresh module object (`patched`): the
installed file itself is never changed and its text never stored here. Each source's `glue_*`
function is what its user writes to hand the code to byo: construct the model, declare, call
byo; its non-blank, non-comment lines are the glue count (benchmarks/corpus.py reports them).
Rows whose `needs` is set cannot be checked by the current API without a false FAIL (or glue
over 8 lines): they are reported, not asserted, and `needs` names the missing feature; the glue
wanted instead is the comment at the end of the glue function."""
from __future__ import annotations

import collections
import collections.abc
import contextlib
import importlib
import inspect
import io
import types
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np

from crosscheck import byo

from .case import Case

# (package==version, PyPI page, licence, style): docs/benchmarks.md lists the same.
SOURCES = {
    "numpy-ml": ("numpy-ml==0.1.2", "https://pypi.org/project/numpy-ml/0.1.2/", "GPL-3.0"),
    "tinynn": ("tinynn==0.1.1", "https://pypi.org/project/tinynn/0.1.1/", "MIT"),
    "nn-numpy": ("nn-numpy==0.0.1", "https://pypi.org/project/nn-numpy/0.0.1/", "MIT"),
    "numpy-nn": ("numpy-nn==0.2.6", "https://pypi.org/project/numpy-nn/0.2.6/", "MIT"),
    "nnlib": ("nnlib==0.2", "https://pypi.org/project/nnlib/0.2/", "Apache-2.0"),
    "dl-with-numpy": ("dl-with-numpy==0.0.3", "https://pypi.org/project/dl-with-numpy/0.0.3/", "MIT"),
    "pydeeplearning": ("pydeeplearning==0.2.0", "https://pypi.org/project/PyDeepLearning/0.2.0/", "MIT"),
}


@dataclass
class PublicCase(Case):
    source: str = ""                     # "package==version: module (classes)"
    glue: Callable | None = None         # the user's glue function (its body is counted)
    needs: str | None = None             # the API feature the current byo lacks for this row


def glue_lines(fn) -> int:
    """Non-blank, non-comment lines of a glue function's body (its def line and docstring not counted)."""
    lines = inspect.getsource(fn).splitlines()[1:]
    body = [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]
    if body and body[0].startswith(('"""', "'''")):
        quote = body[0][:3]
        end = next(i for i, ln in enumerate(body) if (ln.endswith(quote) and (i or len(ln) > 3)))
        body = body[end + 1:]
    return len(body)


def patched(module: str, subs=(), fresh: bool = False):
    """The installed `module`, or a fresh copy of it executed after the text substitutions `subs`
    ((old, new) pairs, each old found exactly once in the installed source): the planted bug.
    `fresh`: a copy even without substitutions, for a caller that assigns into the module.
    The copy keeps the module's name and package, so its own imports resolve to the installed
    package, and is not registered in sys.modules (the installed module is left as it is)."""
    mod = importlib.import_module(module)
    if not subs and not fresh:
        return mod
    text = inspect.getsource(mod)
    for old, new in subs:
        if text.count(old) != 1:
            raise AssertionError(f"{module}: the patch text occurs {text.count(old)} times: {old!r}")
        text = text.replace(old, new)
    copy = types.ModuleType(mod.__name__)
    copy.__file__, copy.__package__ = mod.__file__, mod.__package__
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        exec(compile(text, mod.__file__, "exec"), copy.__dict__)
    return copy


def _rng(seed):
    return np.random.default_rng(seed)


# --- numpy-ml 0.1.2: FullyConnected with a fused act_fn, gradients in .gradients["W"] (rowmajor);
# Conv2D / Pool2D / Flatten, NHWC (cnn) ----------------------------------------------------------

def _numpy_ml():
    collections.Hashable = collections.abc.Hashable  # numpy-ml 0.1.2 predates Python 3.10's removal of it
    from numpy_ml.neural_nets import layers
    return layers


def glue_numpy_ml_fc(layers, x, y):
    return byo.rowmajor(layers, x, y, loss="softmax_ce")


def glue_numpy_ml_cnn(layers, x, y):
    return byo.cnn(layers, x, y, layout="nhwc")


def _nml_bug(cls, bug):
    """A numpy-ml layer subclass whose _bwd carries the planted slip."""
    class Buggy(cls):
        def _bwd(self, dLdy, X, *a, **k):
            if bug == "no_act":  # the activation's derivative left out of the chain
                W = self.parameters["W"]
                return dLdy @ W.T, X.T @ dLdy, dLdy.sum(axis=0, keepdims=True)
            dX, dW, dB = super()._bwd(dLdy, X, *a, **k)
            if bug == "dW_mean":
                dW = dW / len(X)
            if bug == "dX_sign":
                dX = -dX
            if bug == "db_first":
                dB = dB * 0 + dLdy.reshape(-1, dB.shape[-1])[:1]
            return dX, dW, dB
    Buggy.__name__ = cls.__name__
    return Buggy


def _numpy_ml_fc(bug=None, at=None):
    np.random.seed(0)
    L = _numpy_ml()
    x, y = _rng(11).normal(size=(10, 4)), _rng(12).integers(0, 3, 10)
    acts = ["ReLU", "Tanh", "Affine(slope=1, intercept=0)"]
    layers = [(_nml_bug(L.FullyConnected, bug) if i == at else L.FullyConnected)(n, act_fn=a)
              for i, (n, a) in enumerate(zip((6, 5, 3), acts))]
    return glue_numpy_ml_fc(layers, x, y)


def _numpy_ml_cnn(bug=None):
    np.random.seed(0)
    L = _numpy_ml()
    x, y = _rng(12).normal(size=(3, 6, 6, 2)), np.array([2, 1, 0])
    conv = _nml_bug(L.Conv2D, bug) if bug else L.Conv2D
    layers = [conv(3, (3, 3), pad="same", act_fn="ReLU"), L.Pool2D((2, 2), stride=2, mode="max"),
              L.Flatten(), L.FullyConnected(3, act_fn="Affine(slope=1, intercept=0)")]
    return glue_numpy_ml_cnn(layers, x, y)


NUMPY_ML_FC_BUGS = [("dW averaged", 1, "extra 1/N", dict(bug="dW_mean", at=1)),
                    ("activation derivative dropped (ReLU)", 0, "derivative missing", dict(bug="no_act", at=0)),
                    ("dX sign flipped", 2, "wrong sign", dict(bug="dX_sign", at=2))]
NUMPY_ML_CNN_BUGS = [("Conv2D dW averaged", 0, "extra 1/N", dict(bug="dW_mean")),
                     ("Conv2D dX sign flipped", 0, "wrong sign", dict(bug="dX_sign"))]


# --- tinynn 0.1.1: layer objects, params["w"] / grads["w"], float32 (rowmajor); Conv2D [kh, kw, in,
# out] / MaxPool2D / Flatten, NHWC (cnn) -----------------------------------------------------------

def glue_tinynn(layers, x, y):
    return byo.rowmajor(layers, x, y, loss="softmax_ce")


def glue_tinynn_cnn(layers, x, y):
    return byo.cnn(layers, x, y, layout="nhwc")


def _tinynn(subs=(), at=None, act="Tanh"):
    """4 -> Dense(6) ReLU -> Dense(5) <act> -> Dense(3); the layer at index `at` comes from the
    patched module (the others from the installed one)."""
    np.random.seed(0)
    L, B = patched("tinynn.core.layer"), patched("tinynn.core.layer", subs)
    kinds = [("Dense", 6), ("ReLU",), ("Dense", 5), (act,), ("Dense", 3)]
    layers = [getattr(B if i == at else L, k[0])(*k[1:]) for i, k in enumerate(kinds)]
    x, y = _rng(21).normal(size=(10, 4)).astype(np.float32), _rng(22).integers(0, 3, 10)
    return glue_tinynn(layers, x, y)


def glue_tinynn_net(net, x, y):
    net.forward(x)  # tinynn sizes its weights on the first forward
    dense = [layer for layer in net.layers if layer.param_names]
    def forward(X, p):
        for layer, (w, b) in zip(dense, p): layer.params["w"], layer.params["b"] = w, b
        return net.forward(X)
    backward = lambda dout, p, cache: (net.backward(dout), [(layer.grads["w"], layer.grads["b"]) for layer in dense])[1]
    return byo.network(forward, backward, [(layer.params["w"], layer.params["b"]) for layer in dense], x, y,
                       activations=["relu", "tanh", "identity"], layout="row", loss="softmax_ce")


def _tinynn_net(subs=(), at=None):
    """tinynn's whole-network container Net (tinynn.core.net) over the layers of _tinynn."""
    np.random.seed(0)
    L, B = patched("tinynn.core.layer"), patched("tinynn.core.layer", subs)
    kinds = [("Dense", 6), ("ReLU",), ("Dense", 5), ("Tanh",), ("Dense", 3)]
    net = patched("tinynn.core.net").Net([getattr(B if i == at else L, k[0])(*k[1:]) for i, k in enumerate(kinds)])
    x, y = _rng(21).normal(size=(10, 4)).astype(np.float32), _rng(22).integers(0, 3, 10)
    return glue_tinynn_net(net, x, y)


def _tinynn_cnn(subs=(), at=None):
    np.random.seed(0)
    L, B = patched("tinynn.core.layer"), patched("tinynn.core.layer", subs)
    kinds = [("Conv2D", (3, 3, 2, 3)), ("ReLU",), ("MaxPool2D", (2, 2), (2, 2)), ("Flatten",), ("Dense", 3)]
    layers = [getattr(B if i == at else L, k[0])(*k[1:]) for i, k in enumerate(kinds)]
    x, y = _rng(23).normal(size=(3, 6, 6, 2)).astype(np.float32), np.array([1, 2, 0])
    return glue_tinynn_cnn(layers, x, y)


TINYNN_BUGS = [
    ("Dense bias gradient not summed over the batch", 2, None,
     [('self.grads["b"] = np.sum(grad, axis=0)', 'self.grads["b"] = grad[0]')]),
    ("Dense weight gradient averaged", 0, "extra 1/N",
     [('self.grads["w"] = self.ctx["X"].T @ grad', 'self.grads["w"] = self.ctx["X"].T @ grad / len(grad)')]),
    ("Tanh derivative at the output", 3, "at the output",
     [("return 1.0 - self.func(x) ** 2", "return 1.0 - self.func(self.func(x)) ** 2")]),
]
TINYNN_CNN_BUGS = [
    ("MaxPool2D routes to every element", 2, "every",
     [("patch = np.repeat(_grad, k_sz, axis=1) * mask", "patch = np.repeat(_grad, k_sz, axis=1)")]),
    ("Conv2D bias gradient averaged", 0, None,
     [('self.grads["b"] = np.sum(flat_grad, axis=0)', 'self.grads["b"] = np.mean(flat_grad, axis=0)')]),
    ("Conv2D input gradient sign flipped", 0, "wrong sign",
     [("d_X = grad @ self.ctx[\"W\"].T", "d_X = -grad @ self.ctx[\"W\"].T")]),
]


# --- nn-numpy 0.0.1: Joel Grus's joelnet style, Linear params["w"] (in, out) / grads["w"],
# Activation(f, f_prime) objects, MSE as sum((p - y)**2) ---------------------------------------

def glue_nn_numpy(layers, x, y):
    return byo.rowmajor(layers, x, y, loss="mse")


def _nn_numpy(subs=()):
    np.random.seed(0)
    L = patched("nn_numpy.layers", subs)
    layers = [L.Linear(4, 6), L.Tanh(), L.Linear(6, 5), L.Tanh(), L.Linear(5, 2)]
    x, y = _rng(31).normal(size=(8, 4)), _rng(32).normal(size=(8, 2))
    return glue_nn_numpy(layers, x, y)


NN_NUMPY_BUGS = [
    ("tanh_prime fed the input as if it were the output", 3, "fed the input", [("y = tanh(x)\n    return 1 - y**2", "return 1 - x**2")]),
    ("Linear weight gradient sign flipped", 4, "wrong sign",
     [('self.grads["w"] = self.inputs.T @ grad', 'self.grads["w"] = -self.inputs.T @ grad')]),
    ("Linear bias gradient averaged", 4, "extra 1/N",
     [('self.grads["b"] = np.sum(grad, axis=0)', 'self.grads["b"] = np.mean(grad, axis=0)')]),
]


# --- numpy-nn 0.2.6: Neuron layers with weights / biases and dL_dw / dL_db, activation layers
# keeping their own output ------------------------------------------------------------------------

def glue_numpy_nn(layers, x, y):
    return byo.rowmajor(layers, x, y, loss="mse", param_names=("weights", "biases", "dL_dw", "dL_db"))


def _numpy_nn(subs=(), at=None, act="Sigmoid"):
    """4 -> Neuron(6) <act> -> Neuron(3); the layer at index `at` from the patched module."""
    np.random.seed(0)
    N, A = patched("numpy_nn.layers.Neuron"), patched(f"numpy_nn.activations.{act}")
    BN, BA = (patched(N.__name__, subs), A) if at in (0, 2) else (N, patched(A.__name__, subs))
    layers = [(BN if at == 0 else N).Neuron(4, 6), getattr(BA if at == 1 else A, act)(), (BN if at == 2 else N).Neuron(6, 3)]
    x, y = _rng(41).normal(size=(8, 4)), _rng(42).normal(size=(8, 3))
    return glue_numpy_nn(layers, x, y)


NUMPY_NN_BUGS = [
    ("Neuron weight gradient columns swapped", 2, None,
     [("self.dL_dw = np.dot(dy_dw, dL_dy)", "self.dL_dw = np.dot(dy_dw, dL_dy)[:, ::-1]")]),
    ("Neuron bias gradient averaged", 0, "extra 1/N",
     [("self.dL_db = np.dot(dy_db, dL_dy)", "self.dL_db = np.dot(dy_db, dL_dy) / len(dL_dy)")]),
    ("Sigmoid derivative at the input", 1, "fed the input",
     [("self.dy_dx = self.result * (1 - self.result)", "self.dy_dx = self.last_x * (1 - self.last_x)")]),
]


# --- nnlib 0.2: deeplearning.ai style, samples as columns, (A_prev, W, b) -> (A, D, Z) and
# linear_backward_activation(dA, cache, backward_func, alpha, keep_prob), grads divided by m ------

def glue_nnlib(F, B, params, X, Y):
    acts = {"relu": (F.relu, B.relu_backward), "sigmoid": (F.sigmoid, B.sigmoid_backward)}
    fwd = lambda A, W, b, a: (lambda A1, D, Z: (A1, ((A, 1, W), (Z, A1))))(*F.linear_forward_activation(A, W, b, acts[a][0], 1))
    bwd = lambda dA, cache, a: B.linear_backward_activation(dA, cache, acts[a][1], 0, 1)
    return byo.colmajor(params, ["relu", "relu", "sigmoid"], fwd, bwd, X, Y, loss="bce", grads_are_batch_means=True)


def _nnlib_data():
    np.random.seed(0)
    rng = _rng(51)
    sizes = (4, 6, 5, 1)
    params = [(rng.normal(0, .6, (o, i)), rng.normal(0, .1, (o, 1))) for i, o in zip(sizes, sizes[1:])]
    return params, rng.normal(size=(4, 12)), rng.integers(0, 2, (1, 12)).astype(float)


def _nnlib(subs=(), module="nnlib.l_layer.backward"):
    # fresh copies: the activation functions are assigned into them, never into the installed modules
    F = patched("nnlib.l_layer.forward", subs if module == "nnlib.l_layer.forward" else (), fresh=True)
    F.relu, F.sigmoid = patched("nnlib.utils.activation").relu, patched("nnlib.utils.activation").sigmoid
    D = patched("nnlib.utils.derivative", subs if module == "nnlib.utils.derivative" else ())
    B = patched("nnlib.l_layer.backward", subs if module == "nnlib.l_layer.backward" else (), fresh=True)
    B.relu_backward, B.sigmoid_backward = D.relu_backward, D.sigmoid_backward
    return glue_nnlib(F, B, *_nnlib_data())


NNLIB_BUGS = [
    ("db not divided by m", 2, "missing 1/N",
     [("db = np.sum(dZ, axis=1, keepdims=True)/m", "db = np.sum(dZ, axis=1, keepdims=True)")], "nnlib.l_layer.backward"),
    ("relu_backward mask on the wrong side", 1, None, [("dZ[Z <= 0] = 0", "dZ[Z > 0] = 0")], "nnlib.utils.derivative"),
    ("sigmoid_backward at Z instead of A", 2, "fed the input", [("A = cache[1]", "A = cache[0]")], "nnlib.utils.derivative"),
]


# nnlib's whole-network pair: model_forward(X, parameters, keep_prob) -> (AL, caches) and
# model_backward(AL, Y, parameters, caches, alpha, keep_prob), parameters nested {"W": {1: W1}, ...}:
# a whole program (byo.program's L_model style) that starts its backward from the labels.

def glue_nnlib_model(F, B, params, X, Y):
    p = {"W": {l + 1: w for l, (w, _) in enumerate(params)}, "b": {l + 1: b for l, (_, b) in enumerate(params)}}
    pair = (lambda X, q: F.model_forward(X, q, 1), lambda AL, Y, caches: B.model_backward(AL, Y, p, caches, 0, 1))
    return byo.program(pair, X, Y, params=p, activations=["relu", "relu", "sigmoid"], loss="bce")


def _nnlib_model(subs=(), module="nnlib.l_layer.backward"):
    F = patched("nnlib.l_layer.forward")
    B = patched("nnlib.l_layer.backward", subs)
    return glue_nnlib_model(F, B, *_nnlib_data())


NNLIB_MODEL_BUGS = [
    ("db not divided by m", 2, "missing 1/N",
     [("db = np.sum(dZ, axis=1, keepdims=True)/m", "db = np.sum(dZ, axis=1, keepdims=True)")]),
    ("dAL sign flipped", -1, None,
     [("dAL = - (np.divide(Y, AL) - np.divide(1-Y, 1-AL))", "dAL = (np.divide(Y, AL) - np.divide(1-Y, 1-AL))")]),
]
# The sign of the loss gradient inside the program: every W, b gradient comes out negated, which
# byo.check reports as an undeclared gradient-ascent convention ("declare ascent=True ... if not,
# the wrong rows are the bug") and pins to the deepest W; nnlib returns dL/dAL as grads["dA"][L],
# but byo.program does not judge it, so the loss is not named as the culprit.
NNLIB_MODEL_NEEDS = {"dAL sign flipped": (
    "byo.program: judge a program's own dL/dAL (nnlib's grads['dA'][L], kept without the 1/m its dW "
    "carry) as the loss row, so a sign error common to every gradient is pinned to the loss; today it "
    "is reported as an undeclared ascent convention and pinned to W3")}


# --- dl-with-numpy 0.0.3: a computation graph of layers reading .input / .dloss_dout and writing
# .output / .dloss_din, parameter gradients by a separate calc_param_grads(); LinearLayer has no bias

def glue_dl_with_numpy(layers, x, y):
    class Node:  # forward_pass()/backward_pass() take no arguments: the graph sets .input, .dloss_dout
        def __init__(self, l): self.l = l; self.__dict__.update({"weights": l.weights} if hasattr(l, "weights") else {})
        def forward(self, x): self.l.input = x; self.l.forward_pass(); return self.l.output
        def backward(self, d): self.l.dloss_dout = d; self.l.backward_pass(); self.l.calc_param_grads(); self.dweights = getattr(self.l, "dloss_dweights", None); return self.l.dloss_din
    return byo.rowmajor([Node(l) for l in layers], x, y, loss="mse")
    # wanted: attribute-driven layers read as written, byo.rowmajor(layers, x, y, loss="mse",
    #     layer_api={"input": "input", "forward": "forward_pass", "output": "output", "upstream": "dloss_dout",
    #                "backward": "backward_pass", "dinputs": "dloss_din", "grads": "calc_param_grads"})


def _dl_with_numpy(subs=(), module="dl_with_numpy.linear_layer"):
    np.random.seed(0)
    Lin = patched("dl_with_numpy.linear_layer", subs if module == "dl_with_numpy.linear_layer" else ())
    Act = patched("dl_with_numpy.activation_functions", subs if module == "dl_with_numpy.activation_functions" else ())
    layers = [Lin.LinearLayer(4, 6, seed=1), Act.SigmoidActivation(6), Lin.LinearLayer(6, 2, seed=2)]
    x, y = _rng(61).normal(size=(8, 4)), _rng(62).normal(size=(8, 2))
    return glue_dl_with_numpy(layers, x, y)


DL_WITH_NUMPY_BUGS = [
    ("LinearLayer weight gradient averaged", 2, "extra 1/N",
     [("self.dloss_dweights = np.dot(self.input.T, self.dloss_dout)",
       "self.dloss_dweights = np.dot(self.input.T, self.dloss_dout) / len(self.input)")], "dl_with_numpy.linear_layer"),
    ("sigmoid derivative at the output", 1, "at the output",
     [("sig = self.sigmoid(x)", "sig = self.sigmoid(self.sigmoid(x))")], "dl_with_numpy.activation_functions"),
]
# LinearLayer has no bias: byo.rowmajor reads it as torch's Linear(bias=False), told from its
# forward adding nothing to x @ W.


# --- PyDeepLearning 0.2.0 (imports as pydl): a Network of per-sample column layers, sigmoid
# everywhere, compute_weight_and_bias_deltas(input, expectation, lr) from outputs[-1] - expectation,
# the half-SSE gradient of one sample at lr 1: byo.program's per-sample pair, batched by the tool

def glue_pydl(net, X, Y):
    pair = (lambda x: net.compute_outputs(x)[-1], lambda x, y: net.compute_weight_and_bias_deltas(x, y, 1.0))
    return byo.program(pair, X.T, Y.T, params=[(l.weights, l.bias) for l in net.layers],
                       activations=["sigmoid", "sigmoid"], loss="half_sse")


def _pydl(subs=()):
    np.random.seed(0)
    net = patched("pydl.network", subs).Network([4, 5, 3])
    X, Y = _rng(71).normal(size=(4, 10)), _rng(72).uniform(0.1, 0.9, (3, 10))
    return glue_pydl(net, X, Y)


PYDL_BUGS = [
    ("hidden delta sign flipped", 0, "wrong sign",
     [("dnext_layer_activation_by_doutput = self.layers[index + 1].weights.transpose()",
       "dnext_layer_activation_by_doutput = -self.layers[index + 1].weights.transpose()")]),
    ("derivative at the input of the layer", 1, None,
     [("return self.activationFuncDerivative(layer_output)", "return 0.25 + 0 * layer_output")]),
]
# --- neurolab 0.3.5: a network object whose layers keep np["w"] (out, in) and np["b"]; the
# gradient of 0.5 * sum((t - out)**2) per sample by tool.ff_grad(net, input, target) -> ([{"w", "b"}, ...],
# flat, output): byo.program's per-sample pair. neurolab predates NumPy 2: building a net needs np.Inf
# and np.asfarray, lent only while it is built; checking it needs neither

@contextlib.contextmanager
def _numpy_1_names():
    np.Inf, np.asfarray = np.inf, lambda a, dtype=float: np.asarray(a, dtype)
    try:
        yield
    finally:
        del np.Inf, np.asfarray


def glue_neurolab(net, grad, X, Y):
    pair = (lambda x: net.step(x.ravel())[:, None], lambda x, y: [(g["w"], g["b"]) for g in grad(net, x.T, y.T)[0]])
    return byo.program(pair, X, Y, params=[(layer.np["w"], layer.np["b"]) for layer in net.layers],
                       activations=["tanh", "tanh", "identity"], loss="half_sse")


def _neurolab(subs=(), module="neurolab.tool"):
    with _numpy_1_names():
        nl = importlib.import_module("neurolab")
        T = patched("neurolab.trans", subs if module == "neurolab.trans" else ())
        np.random.seed(0)
        net = nl.net.newff([[-2, 2]] * 4, [6, 5, 2], [T.TanSig(), T.TanSig(), T.PureLin()])
    tool = patched("neurolab.tool", subs if module == "neurolab.tool" else ())
    X, Y = _rng(81).normal(size=(10, 4)), _rng(82).normal(size=(10, 2))
    return glue_neurolab(net, tool.ff_grad, X, Y)


NEUROLAB_BUGS = [
    ("TanSig derivative at the input", 1, "fed the input", [("return 1.0 - np.square(y)", "return 1.0 - np.square(x)")],
     "neurolab.trans"),
    ("hidden delta without the transfer derivative", 1, "derivative missing",
     [("delt[ln] = dS * layer.transf.deriv(layer.s, layer.out)", "delt[ln] = dS")], "neurolab.tool"),
    ("output bias gradient subtracted", 2, "wrong sign",
     [("grad[ln]['b'] += delt[ln].reshape(delt[ln].size)\n\n", "grad[ln]['b'] -= delt[ln].reshape(delt[ln].size)\n\n")],
     "neurolab.tool"),
]


def _rows(style, source, make, glue, bugs, needs=None, clean_needs=None):
    """The clean row and one per planted bug: make(*args) -> model; bugs [(name, layer, slip, *args)]."""
    conv = f"public/{style}"
    rows = [PublicCase(conv, "clean", make, None, source=source, glue=glue, needs=clean_needs or needs)]
    for name, layer, slip, *args in bugs:
        rows.append(PublicCase(conv, name, make, lambda a=args: make(*a), layer, slip,
                               source=source, glue=glue, needs=needs))
    return rows


def _needing(rows, needs: dict):
    """The rows, those named in `needs` marked with their reason (reported, not asserted)."""
    for row in rows:
        row.needs = needs.get(row.name, row.needs)
    return rows


def _kw(bugs):
    """Bugs whose argument is a dict of keyword arguments, as _rows wants them."""
    return [(n, l, s, kw) for n, l, s, kw in bugs]


def cases() -> list[Case]:
    return [
        *_rows("numpy-ml-fc", "numpy-ml==0.1.2: numpy_ml.neural_nets.layers (FullyConnected)",
               lambda kw=None: _numpy_ml_fc(**(kw or {})), glue_numpy_ml_fc, NUMPY_ML_FC_BUGS),
        *_rows("numpy-ml-cnn", "numpy-ml==0.1.2: numpy_ml.neural_nets.layers (Conv2D, Pool2D, Flatten)",
               lambda kw=None: _numpy_ml_cnn(**(kw or {})), glue_numpy_ml_cnn, NUMPY_ML_CNN_BUGS),
        *_rows("tinynn-mlp", "tinynn==0.1.1: tinynn.core.layer (Dense, ReLU, Tanh)",
               lambda subs=(), at=None: _tinynn(subs, at), glue_tinynn,
               [(n, l, s, subs, l) for n, l, s, subs in TINYNN_BUGS]),
        # tinynn 0.1.1's ELU.derivative reads `x > 0.0 + (x < 0.0) * alpha * exp(x)`, which Python
        # parses as x > (0.0 + ...): 0 wherever x < 0
        PublicCase("public/tinynn-mlp", "real: ELU derivative is 0 for x < 0 (operator precedence)",
                   lambda: _tinynn(act="Tanh"), lambda: _tinynn(act="ELU"), 3, "derivative is 0 for x < 0",
                   source="tinynn==0.1.1: tinynn.core.layer (ELU)", glue=glue_tinynn),
        *_rows("tinynn-net", "tinynn==0.1.1: tinynn.core.net (Net over Dense, ReLU, Tanh)",
               lambda subs=(), at=None: _tinynn_net(subs, at), glue_tinynn_net,
               [(n, {0: 0, 2: 1, 3: 1}[l], s, subs, l) for n, l, s, subs in TINYNN_BUGS]),
        *_rows("tinynn-cnn", "tinynn==0.1.1: tinynn.core.layer (Conv2D, MaxPool2D, Flatten, Dense)",
               lambda subs=(), at=None: _tinynn_cnn(subs, at), glue_tinynn_cnn,
               [(n, l, s, subs, l) for n, l, s, subs in TINYNN_CNN_BUGS]),
        *_rows("nn-numpy", "nn-numpy==0.0.1: nn_numpy.layers (Linear, Tanh)", _nn_numpy, glue_nn_numpy,
               NN_NUMPY_BUGS),
        *_rows("numpy-nn", "numpy-nn==0.2.6: numpy_nn.layers.Neuron, numpy_nn.activations (Sigmoid)",
               lambda subs=(), at=None: _numpy_nn(subs, at), glue_numpy_nn,
               [(n, l, s, subs, l) for n, l, s, subs in NUMPY_NN_BUGS]),
        *_rows("nnlib-colmajor", "nnlib==0.2: nnlib.l_layer (linear_forward_activation, linear_backward_activation)",
               lambda subs=(), module="nnlib.l_layer.backward": _nnlib(subs, module), glue_nnlib, NNLIB_BUGS),
        *_needing(_rows("nnlib-model", "nnlib==0.2: nnlib.l_layer (model_forward, model_backward)",
                        lambda subs=(): _nnlib_model(subs), glue_nnlib_model, NNLIB_MODEL_BUGS), NNLIB_MODEL_NEEDS),
        *_rows("dl-with-numpy", "dl-with-numpy==0.0.3: dl_with_numpy (LinearLayer, SigmoidActivation)",
               lambda subs=(), module="dl_with_numpy.linear_layer": _dl_with_numpy(subs, module), glue_dl_with_numpy,
               DL_WITH_NUMPY_BUGS),
        *_rows("neurolab", "neurolab==0.3.5: neurolab.net.newff, neurolab.tool.ff_grad",
               lambda subs=(), module="neurolab.tool": _neurolab(subs, module), glue_neurolab, NEUROLAB_BUGS),
        *_rows("pydeeplearning", "pydeeplearning==0.2.0: pydl.network (Network)", lambda subs=(): _pydl(subs),
               glue_pydl, PYDL_BUGS),
    ]
