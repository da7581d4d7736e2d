"""What a check leaves of the user's objects: nothing. Every attribute is put back (the same
objects: an optimizer a Recorder stood in for, a flag, a counter), and every array among them,
or one level down in a dict (params["W"], bn_param["running_mean"]), gets its values back
(running statistics, a momentum buffer a backward(grad, lr) moved)."""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np


def _arrays(attrs: dict) -> list[tuple[np.ndarray, np.ndarray]]:
    """(array, its values) for every array attribute and every array one level down in a dict."""
    found = []
    for value in attrs.values():
        inner = value.values() if isinstance(value, dict) else (value,)
        found += [(a, a.copy()) for a in inner if isinstance(a, np.ndarray)]
    return found


@contextmanager
def objects_kept(objs):
    """Run with the user's objects; afterwards each is as it was (objects without a __dict__ are
    left to the adapters, which never write to them)."""
    saved, seen = [], set()
    for obj in objs:
        if id(obj) in seen or not hasattr(obj, "__dict__"):
            continue
        seen.add(id(obj))
        attrs = dict(vars(obj))
        saved.append((obj, attrs, _arrays(attrs)))
    try:
        yield
    finally:
        for obj, attrs, arrays in saved:
            vars(obj).clear()
            vars(obj).update(attrs)
            for array, values in arrays:
                if array.flags.writeable:
                    np.copyto(array, values)


def own(obj):
    """The user's object itself, where objects.AsWritten presents it."""
    return vars(obj).get("crosscheck_obj", obj) if hasattr(obj, "__dict__") else obj


def user_objects(layers) -> list:
    """The user's own objects behind a model's adapters, inner ones (a residual block's) too."""
    out = []
    for layer in layers:
        obj = getattr(layer, "obj", None)
        if obj is not None:
            out.append(own(obj))
        for name in ("branch", "proj"):
            inner = getattr(layer, name, None)
            if inner is not None:
                out += user_objects(getattr(inner, "layers", [inner]))
    return out
