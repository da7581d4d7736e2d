"""Layers that create their weights on their first forward (numpy-ml's parameters["W"] = None,
tinynn's params["w"] = None until then): run once, before they are read."""
from __future__ import annotations

from ...user_code import call_user
from . import validate as V
from .discover import PARAM_PATHS, label_of

_ABSENT = object()


def _unsized(obj) -> bool:
    """Does the layer keep a weight slot that is still None (numpy-ml's parameters["W"], tinynn's
    params["w"]: sized on the first forward)?"""
    for w, _ in PARAM_PATHS:
        head, _, key = w.partition(".")
        holder = getattr(obj, head, None) if key else None
        if isinstance(holder, dict) and key in holder and holder[key] is None:
            return True
        if not key and getattr(obj, head, _ABSENT) is None:
            return True
    return False


def sized_on_first_forward(layers: list, x) -> list[str]:
    """Layers that create their weights on their first forward are run once, in order, on the
    first sample of x, so that there are weights to read; the note saying so ([] where no layer
    waits for its first forward)."""
    waiting = [i for i, obj in enumerate(layers) if _unsized(obj)]
    if not waiting:
        return []
    h = V.batch(x, None)[:1].copy()  # the whole batch validated first
    with V.quiet_numpy():
        for i, obj in enumerate(layers):
            where = f"layer {i} ({label_of(obj)})"
            h = V.forward_output(where, call_user(f"{where}.forward", obj.forward, h.copy()), h)
    return [f"layers {', '.join(map(str, waiting))} had no weights until their first forward: the check ran "
            f"one sample through the network first to create them"]
