"""Imported once by the grading pool's forkserver: one thread per worker, numpy, torch,
matplotlib's pyplot and the checks imported, and one grading of each part kind on the reference functions, so that every
lazy import and first-call cost is paid here and not by each submission's forked child."""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")   # workers share the cores; one thread each is also deterministic
os.environ["MPLBACKEND"] = "Agg"       # notebooks plot: pyplot is imported once, off screen

import matplotlib.pyplot  # noqa: E402,F401
import numpy as np  # noqa: E402
import torch  # noqa: E402

from . import reference_fns  # noqa: E402
from .assignment import Assignment, LayerDesc, Limits, Network, Part  # noqa: E402
from .parts import grade_part  # noqa: E402

torch.set_num_threads(1)


class _Net:
    """A two-layer net in CS231n's style, for the warm-up of a program part."""

    def __init__(self):
        rng = np.random.default_rng(0)
        self.params = {"W1": rng.normal(size=(3, 4)), "b1": np.zeros(4), "W2": rng.normal(size=(4, 2)),
                       "b2": np.zeros(2)}

    def loss(self, x, y=None):
        h, c1 = reference_fns.affine_forward(x, self.params["W1"], self.params["b1"])
        a, c2 = reference_fns.relu_forward(h)
        s, c3 = reference_fns.affine_forward(a, self.params["W2"], self.params["b2"])
        if y is None:
            return s
        loss, ds = reference_fns.softmax_loss(s, y)
        grads = {}
        da, grads["W2"], grads["b2"] = reference_fns.affine_backward(ds, c3)
        _, grads["W1"], grads["b1"] = reference_fns.affine_backward(reference_fns.relu_backward(da, c2), c1)
        return loss, grads


def _sgd(w, dw, config):
    return w - config["learning_rate"] * dw, config


def warm_up() -> None:
    """Grade every part kind once, in both network styles, on the reference functions."""
    ns = dict(reference_fns.FUNCTIONS, TwoLayerNet=_Net, sgd=_sgd)
    for style, layers, shape in (("mlp", (LayerDesc("affine", units=3), LayerDesc("relu"), LayerDesc("affine", units=2)),
                                  (4,)),
                                 ("cnn", (LayerDesc("conv", filters=2, size=3, pad=1), LayerDesc("relu"),
                                          LayerDesc("max_pool", size=2, stride=2), LayerDesc("affine", units=2)),
                                  (1, 4, 4))):
        net = Network(style, shape, 2, 2, layers)
        parts = (Part("layer", "layer", 1, 10, layer="affine", functions=("affine_forward", "affine_backward")),
                 Part("loss", "loss", 1, 10, functions=("softmax_loss",)),
                 Part("program", "program", 1, 10, functions=("TwoLayerNet",), activations=("relu", "identity"),
                      input_shape=(3,), batch=4, classes=2),
                 Part("update", "update", 1, 10, rule="sgd", functions=("sgd",)))
        assignment = Assignment(style, parts, net, Limits())
        for part in parts:
            grade_part(assignment, part, ns)


warm_up()
