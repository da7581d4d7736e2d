"""What a hand-written network becomes once adapted, whichever convention it came in: a
UserModel (a Sequential of adapted layers, the batch, the loss), and the pieces every
convention shares to build one: the dtype it is checked in, its target, the user's own loss."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from numpy_impl import Sequential
from numpy_impl import functional as NF
from numpy_impl.losses import check_loss_name

from ...user_code import call_user
from .adapters import build_twin
from .convention import Convention


@dataclass
class UserModel:
    """A user's network, adapted, with the batch to check it on.

    model: the adapted layers, taking and returning samples as rows (N, ...), weights (out, in).
    x: (N, ...) the batch as rows (a column-major convention's X, transposed).
    target: (N,) integer labels for the classification losses, else (N, out) float targets.
    loss: the loss torch's side uses; l2: its weight decay term.
    user_loss: the user's own loss as (pred (N, out), target) -> (value, dL/dpred (N, out)).
    notes: what the report should say about how the network was read.
    dtype: "float64", or "float32" where the user's arrays are.
    convention: how your gradients are meant (shared/convention.py), shared with every layer."""
    name: str
    model: Sequential
    x: np.ndarray
    target: np.ndarray
    loss: str
    l2: float = 0.0
    user_loss: Callable | None = None  # (pred rows, target) -> (value, dL/dpred rows), the user's own
    notes: list[str] = field(default_factory=list)
    dtype: str = "float64"
    convention: Convention = field(default_factory=Convention)

    def __post_init__(self) -> None:
        """A network ending in its own softmax, asked for softmax_ce: the softmax stays part of the
        network (its backward is checked like any other layer's, and the twin applies it too), so
        the loss is cross-entropy on its probabilities, 'nll', the same function of the logits.
        Every layer shares the model's convention."""
        for layer in self.model.layers:
            layer.convention = self.convention
        last = self.model.layers[-1] if len(self.model) else None
        if self.loss == "softmax_ce" and getattr(last, "output_activation", None) == "softmax":
            self.loss = "nll"
            self.notes.append(f"the network ends in a softmax ({last.describe()}): it is checked as part of "
                              f"the network, and the loss is cross-entropy on its probabilities (nll), the "
                              f"same function of the logits as softmax_ce")

    @property
    def owns_loss(self) -> bool:
        """Is a loss of the user's checked (its value and gradient, not torch's)?"""
        return self.user_loss is not None

    @property
    def torch_model(self):
        return build_twin(self.model, self.dtype)


def dtype_of(*arrays) -> str:
    return "float32" if any(np.asarray(a).dtype == np.float32 for a in arrays) else "float64"


def as_target(target, loss):
    check_loss_name(loss)
    if target is None:
        raise ValueError("target: give the labels or regression targets for the batch")
    target = np.asarray(target)
    return target if loss in NF.LABEL_LOSSES else target.astype(np.float64)


def user_loss_fn(loss_fn, loss_grad, transpose: bool = False):
    """The user's loss as (pred rows, target) -> (value, dpred rows): a combined function
    returning (value, grad), or a value function and a gradient function."""
    if loss_fn is None:
        return None

    def run(pred, target):
        # pred rows (N, out); a column-major user's loss takes (out, N) and returns its gradient so
        p, t = (pred.T, target.T if target.ndim == 2 else target) if transpose else (pred, target)
        out = call_user("your loss", loss_fn, p.copy(), np.array(t))
        if loss_grad is not None:
            value, grad = out, call_user("your loss gradient", loss_grad, p.copy(), np.array(t))
        elif isinstance(out, tuple) and len(out) == 2:
            value, grad = out
        else:
            raise ValueError("loss_fn must return (loss, dloss/dpred), or pass loss_grad= as well")
        grad = np.asarray(grad, dtype=pred.dtype)
        if grad.size != pred.size:
            raise ValueError(f"your loss gradient has shape {grad.shape} for predictions of shape {p.shape}; it "
                             f"must be dL/dpred, shaped as pred")
        return float(np.asarray(value)), grad.T if transpose else grad
    return run


def call_model_factory(make_model, path: str = "") -> UserModel:
    """Call a --user file's crosscheck_model() (no arguments) and insist it returns a UserModel;
    `path` names the file in messages."""
    model = call_user(f"{path or 'your file'}: crosscheck_model()", make_model)
    if not isinstance(model, UserModel):
        raise ValueError(f"--user: crosscheck_model() returned {type(model).__name__}; return "
                         f"byo.rowmajor(...), byo.colmajor(...), byo.functional(...), byo.network(...), "
                         f"byo.netclass(...), byo.cnn(...), byo.program(...) or byo.recurrent(...) (see examples/)")
    return model
