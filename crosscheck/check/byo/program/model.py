"""byo.program: a whole program, its batch and the architecture it is checked against."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from numpy_impl import Sequential
from numpy_impl import functional as NF

from ..shared import convention as C
from ..shared import validate as V
from ..mlp.whole import declared_activations
from ..shared.model import UserModel, as_target
from .styles import Program, read


@dataclass
class ProgramModel(UserModel):
    """A user's whole program (styles.Program) with its batch as rows (N, D) and the
    activations after each (W, b); it owns its loss (its gradients are of that loss)."""
    program: Program | None = None
    acts: tuple = ()

    @property
    def owns_loss(self) -> bool:
        return True


def program(net, X, Y, *, activations: list, loss: str = "softmax_ce", params: dict | None = None,
            l2=None, batch_mean: str | None = None, ascent: bool = False, name: str = "user program") -> ProgramModel:
    """A whole program that computes its own loss and gradients (styles.py), checked as it is.

    Args:
        net: an object with params {"W1", "b1", ...} and loss(X, y) -> (loss, grads) (CS231n
            TwoLayerNet / FullyConnectedNet); an object with weights, biases and backprop(x, y)
            -> (nabla_b, nabla_w) for one column sample (network.py: run per sample and averaged
            by the tool); the pair (L_model_forward, L_model_backward) with params= its dict (flat
            {"W1": ...} or nested {"W": {1: ...}}); or a per-sample pair (forward(x), backprop(x, y)
            -> [(dW, db), ...]) for one column sample with params=[(W, b), ...], averaged by the tool.
        X: the batch as the program takes it: rows (N, D) for CS231n and network.py objects and
            per-sample pairs (each row handed as a column), columns (D, m) for the L_model pair.
        Y: (N,) labels for softmax_ce / nll; else targets, (N, out) (network.py: one-hot rows),
            or (out, m) / (m,) for the L_model pair.
        activations: one per (W, b), a name or (name, slope): the architecture the torch twin is
            built from (W (in, out) for CS231n, (out, in) for the others).
        loss: the loss your program computes, as torch's side names it (CS231n softmax:
            softmax_ce; network.py's quadratic cost: half_sse; deeplearning.ai: bce).
        params: the parameters dict of the L_model pair, or the [(W, b)] of a per-sample pair.
        l2, batch_mean, ascent: your gradient convention (byo.rowmajor): l2=reg for CS231n's
            0.5·reg·||W||² inside the loss; batch_mean="update" for gradients summed over the batch.
        name: what the report calls the model."""
    convention = C.declared(l2, batch_mean, False, ascent)
    prog = read(net, params)
    for k, (w, b) in enumerate(prog.pairs):
        V.params(f"W{k + 1}/b{k + 1}", w, b)
    x = V.batch(np.asarray(X).T if prog.style == "lmodel" else X, np.float64)
    acts = declared_activations(activations, len(prog.pairs))
    target = _target(prog, Y, loss)
    V.labels(loss, target, len(x))
    return ProgramModel(name, Sequential([]), x, as_target(target, loss), loss, convention=convention, program=prog,
                        acts=tuple(acts))


def _target(prog: Program, Y, loss: str) -> np.ndarray:
    """Y as rows: the L_model pair's columns (out, m) transposed, its (m,) labels as they are."""
    Y = np.asarray(Y)
    if prog.style != "lmodel":
        return Y
    if loss in NF.LABEL_LOSSES:
        return Y.reshape(-1)
    return Y.T if Y.ndim == 2 else Y.reshape(-1, 1)
