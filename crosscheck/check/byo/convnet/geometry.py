"""Strides, windows and paddings of a user's CNN layer as its code stores them: an int, a square
(h, w) tuple, 'same' / 'valid', or np.pad widths; anything byo.cnn cannot take (a non-square
stride or window) is refused in one line naming the layer and the attribute."""
from __future__ import annotations

import numpy as np

Pads = tuple[int, int, int, int]  # top, bottom, left, right (twins.Pads)


def square(value, where: str, attr: str) -> int:
    """An int, or a square (h, w) tuple / list / array as its int; anything else a one-line ValueError."""
    vals = np.ravel(np.asarray(value, dtype=object)).tolist()
    whole = all(isinstance(v, (int, np.integer)) or (isinstance(v, (float, np.floating)) and float(v).is_integer())
                for v in vals)
    sizes = {int(v) for v in vals} if whole else set()
    if len(sizes) != 1 or min(sizes) < 0:
        raise ValueError(f"{where}: {attr} {_show(value)}: byo.cnn takes an int or a square (h, w) here; "
                         f"a non-square or non-integer {attr} cannot be checked")
    return sizes.pop()


def _show(value) -> str:
    return repr(tuple(np.ravel(value).tolist())) if isinstance(value, np.ndarray) else repr(value)


def same_pads(size: int, k: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'SAME': output ceil(size/stride), the odd pixel of padding at the end."""
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


def resolve_pads(pad, h: int, w: int, kh: int, kw: int, stride: int, where: str = "layer",
                 layout: str = "nchw") -> Pads:
    """(top, bottom, left, right) for an int, a square (p, p), 'same' / 'valid', or np.pad widths:
    ((top, bottom), (left, right)), or one pair per axis of the 4-D input in `layout` (the batch
    and channel pairs (0, 0))."""
    if isinstance(pad, str):
        if pad.lower() == "valid":
            return (0, 0, 0, 0)
        if pad.lower() == "same":
            return (*same_pads(h, kh, stride), *same_pads(w, kw, stride))
        raise ValueError(f"{where}: padding {pad!r}: use an int, 'same' or 'valid'")
    if pad is None:
        return (0, 0, 0, 0)
    arr = np.asarray(pad, dtype=object)
    if arr.ndim == 2 and arr.shape[1] == 2 and arr.shape[0] in (2, 4):
        pairs = [tuple(square(v, where, "padding") for v in row) for row in arr]
        if len(pairs) == 4:
            spatial = (1, 2) if layout == "nhwc" else (2, 3)
            if any(pairs[i] != (0, 0) for i in range(4) if i not in spatial):
                raise ValueError(f"{where}: padding {_show(pad)} pads the batch or channel axis of a "
                                 f"{layout.upper()} input; byo.cnn takes spatial padding only")
            pairs = [pairs[i] for i in spatial]
        return (*pairs[0], *pairs[1])
    p = square(pad, where, "padding")
    return (p, p, p, p)
