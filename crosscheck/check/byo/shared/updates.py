"""A layer's parameter gradients after its backward, wherever the layer left them: returned
with dL/dx, stored on it (dW/db, grads["W"], ...), handed to its optimizer (a Recorder there),
or only applied to W by backward(grad, lr), read back from that update."""
from __future__ import annotations

import numpy as np

from ...verdict import UPDATE_LINEAR
from . import discover as D
from .kept import objects_kept, own
from .objects import split_returned

LR = 1.0  # the learning rate the update is read at: dW = W_before - W_after, no division


def param_grads(layer, dy: np.ndarray, dx: np.ndarray, recover: bool = True) -> tuple[list, np.ndarray]:
    """([dW, db] as the user's code keeps them, dL/dx) after layer.backward_obj(dy): dL/dx is
    the one the backward returned, except where the gradients are read from an update (there,
    the dL/dx of the call that updated, so one computed from the updated W shows). recover=False:
    never read from an update (the backward was not ours to call)."""
    obj, access = layer.obj, layer.access
    returned, layer.returned = layer.returned, None
    if returned is not None:
        return returned, dx
    recorded = [r.take(obj, p) for p, r in layer.recorders.items()]
    if layer.recorders and all(g is not None for g in recorded) and len(recorded) == len(access.paths()):
        return recorded, dx
    found = access.stored(obj)
    if recover and layer.call_style == "dy, lr":  # backward(grad, lr) also updates: dx from a real update
        return (found, dx_after_update(layer, dy, dx)) if found is not None else recovered(layer, dy, dx)
    if found is not None:
        return found, dx
    where = f"layer {layer.index} ({layer.label})"
    handed = f"; its optimizer {', '.join(layer.recorders)} got none" if layer.recorders else ""
    raise ValueError(f"{where}: after backward found {access.missing(obj)}{handed}; pass "
                     f"param_names=(W, b, dW, db) naming them")


def recovered(layer, dy: np.ndarray, dx: np.ndarray) -> tuple[list, np.ndarray]:
    """([dW, db], dL/dx) of a backward(grad, lr) that updates W, b and keeps no gradient: called
    at lr = LR on float64 copies of W and b, once with dy and once with -2 dy from the same state
    (a plain step is linear in it; momentum carrying a buffer, or Adam, whose first step is
    sign(dy), is not, and is refused), the layer's own arrays put back."""
    obj, paths = layer.obj, layer.access.paths()
    where = f"layer {layer.index} ({layer.label})"
    originals = [D._get(obj, p) for p in paths]
    steps, dxs = [], []
    for factor in (1.0, -2.0):
        before, (dx_lr, after) = [np.array(o, dtype=np.float64) for o in originals], _updated(layer, factor * dy)
        dxs.append(dx_lr)
        if any(a.shape != b.shape for a, b in zip(after, before)):
            raise ValueError(f"{where}.backward(grad, lr) changed the shape of {paths[0]} or {paths[1]}; "
                             f"keep dW, db on the layer, or pass param_names=(W, b, dW, db)")
        steps.append([(b - a) / LR for b, a in zip(before, after)])
    for (up, down), orig in zip(zip(*steps), originals):
        scale = max(float(np.max(np.abs(orig), initial=0.0)), float(np.max(np.abs(up), initial=0.0)), 1e-300)
        if float(np.max(np.abs(2 * up + down), initial=0.0)) > UPDATE_LINEAR * scale:
            raise ValueError(f"{where}.backward(grad, lr) moves its parameters other than by lr * dW (for -2 grad "
                             f"it did not move them back twice as far: momentum or an optimizer keeping state?); "
                             f"keep dW, db on the layer, or pass param_names=(W, b, dW, db)")
    if not any(np.any(s) for s in steps[0]) and np.any(dy):
        raise ValueError(f"{where}.backward(grad, lr) kept no gradient and moved no parameter at lr={LR:g}; "
                         f"keep dW, db on the layer, or pass param_names=(W, b, dW, db)")
    out = layer.checked_dx(np.asarray(dxs[0]))
    return steps[0], out.astype(np.asarray(dx).dtype, copy=False)


def _updated(layer, dy: np.ndarray) -> tuple[object, list[np.ndarray]]:
    """(what backward(dy, LR) returned, W and b after it), run on float64 copies of W and b with
    the user's object put back as it was afterwards (its arrays, a momentum buffer, a counter)."""
    obj, paths = layer.obj, layer.access.paths()
    with objects_kept([own(obj)]):
        for path in paths:
            D.put(obj, path, np.array(D._get(obj, path), dtype=np.float64))
        out = layer.call("backward", obj.backward, dy, extra=(LR,))
        return out, [np.array(D._get(obj, p), dtype=np.float64) for p in paths]


def dx_after_update(layer, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """dL/dx of a backward(grad, lr) that keeps dW, db, from a call that really updates (lr = LR):
    a dL/dx computed from the updated W differs from the one at lr = 0, and shows there."""
    out, _ = _updated(layer, dy)
    out, _ = split_returned(out, layer.access.weight(layer.obj), layer.access.bias(layer.obj))
    return layer.checked_dx(np.asarray(out)).astype(np.asarray(dx).dtype, copy=False)
