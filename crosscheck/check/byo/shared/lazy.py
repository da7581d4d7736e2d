"""Layers that create their weights on their first forward (numpy-ml's parameters["W"] = None,
tinynn's params["w"] = None until then): run once, before they are read."""
from __future__ import annotations

from ...user_code import call_user
from . import validate as V
from .discover import PARAM_PATHS, label_of
from .kept import objects_kept, own

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
    """Where some layer creates its weights on its first forward, the whole network is run once, in
    order, on the batch x, so that there are weights to read; every other layer is left as it was
    (a batch norm's running statistics, a counter). The note saying so ([] where no layer waits for
    its first forward)."""
    waiting = [i for i, obj in enumerate(layers) if _unsized(obj)]
    if not waiting:
        return []
    h = V.batch(x, None).copy()  # validated whole first
    with V.quiet_numpy(), objects_kept([own(o) for i, o in enumerate(layers) if i not in waiting]):
        for i, obj in enumerate(layers):
            where = f"layer {i} ({label_of(obj)})"
            h = V.forward_output(where, call_user(f"{where}.forward", obj.forward, h.copy()), h)
    return [f"layers {', '.join(map(str, waiting))} had no weights until their first forward: the check ran "
            f"the batch through the network first to create them"]
