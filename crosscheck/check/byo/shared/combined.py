"""A softmax + cross-entropy layer left at the end of the layer list: its forward gives the
probabilities (or, given the labels too, the loss) and its backward takes the labels, not an
upstream gradient. It is recognised by that backward and checked as your loss (softmax_ce on
the logits it receives), its probabilities and gradient against torch's."""
from __future__ import annotations

import inspect

import numpy as np

from numpy_impl import functional as NF

from ...user_code import call_user
from . import discover as D

# What the first argument of a backward that takes the labels is called.
LABEL_ARGS = ("y", "labels", "label", "target", "targets", "y_true", "t", "truth", "y_batch", "ys")


def _required(fn) -> list[str]:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name.lower() for p in params
            if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def takes_labels(obj) -> bool:
    """Does obj.backward take the labels (its first argument named y, labels, target, ...)?"""
    names = _required(getattr(obj, "backward", None))
    return bool(names) and names[0] in LABEL_ARGS


def split(layers: list) -> tuple[list, object | None]:
    """(the layers, the last one if it is a softmax + cross-entropy layer taking the labels)."""
    if len(layers) > 1 and takes_labels(layers[-1]):
        return layers[:-1], layers[-1]
    return layers, None


def as_loss(obj, index: int, logits: np.ndarray, target, loss_fn):
    """The combined layer as your loss, (scores (N, C), labels) -> (value, dL/dscores), after
    checking on `logits` (what the layers before it give) that its forward is a softmax."""
    where = f"layer {index} ({D.label_of(obj)})"
    if loss_fn is not None:
        raise ValueError(f"{where}: its backward takes the labels, so it is your loss; give either it or "
                         f"loss_fn=, not both")
    with_labels = len(_required(obj.forward)) >= 2
    labels = np.asarray(target)[:len(logits)]
    out = np.asarray(call_user(f"{where}.forward", obj.forward, logits.copy(), *([labels.copy()] if with_labels else [])))
    if out.size != 1 and not D.fits(out, NF.softmax(logits.reshape(len(logits), -1))):
        raise ValueError(f"{where}: its backward takes the labels but its forward is not a softmax of its "
                         f"input; a loss layer must give the probabilities (or the loss value)")

    def run(pred, labels):
        args = (pred.copy(), np.array(labels)) if with_labels else (pred.copy(),)
        out = np.asarray(call_user(f"{where}.forward", obj.forward, *args), dtype=np.float64)
        grad = call_user(f"{where}.backward", obj.backward, np.array(labels))
        if out.size == 1:
            return float(out), grad
        picked = out.reshape(len(pred), -1)[np.arange(len(pred)), np.asarray(labels).astype(int)]
        return float(-np.mean(np.log(picked))), grad
    note = (f"{where} is a softmax with cross-entropy (its backward takes the labels): it is checked as your "
            f"loss, softmax_ce on the logits it receives, its value taken from its probabilities")
    return run, note
