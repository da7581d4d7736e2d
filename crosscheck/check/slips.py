"""Name the usual hand-written-backprop slip that would explain a failing gradient."""
from __future__ import annotations

import numpy as np

from numpy_impl import functional as NF

from .compare import relative_error
from .verdict import SLIP_MATCH, agrees



def _close(candidate, expected) -> bool:
    """Does this candidate explain the error: does it match the reference within SLIP_MATCH?"""
    return agrees(relative_error(candidate, expected), SLIP_MATCH)


def _activation_name(layer) -> str | None:
    name = getattr(layer, "activation", None) or getattr(layer, "kind", None)
    return name if name in NF.ACTIVATION_FUNCS or name == "leaky_relu" else None


def diagnose(quantity: str, actual, expected, ctx: dict) -> str:
    """A one-phrase guess at the slip ('weight gradient transposed', ...) or ''."""
    if actual is None:
        return "no gradient stored for this quantity"
    actual = np.asarray(actual)
    n = ctx["input"].shape[0]
    candidates = []
    if actual.ndim == 2:
        candidates.append((actual.T, f"{quantity} transposed"))
    candidates += [
        (actual / n, f"missing 1/N: {quantity} is N={n} times too large (sum over the batch where the mean was meant)"),
        (actual * n, f"extra 1/N: {quantity} is N={n} times too small (mean over the batch where the sum was meant)"),
        (-actual, f"{quantity} has the wrong sign"),
    ]
    act = _activation_name(ctx["layer"])
    if quantity == "grad_in" and act is not None:
        x, dy = ctx["input"].astype(np.float64), ctx["dout"].astype(np.float64)
        f, df = NF.activation_funcs(act, getattr(ctx["layer"], "alpha", 0.01))
        y = f(x)
        at_output = dy * df(y, f(y))
        if _close(actual, at_output) and not _close(at_output, expected):
            return f"{act} derivative taken at the output instead of the input (f'(f(x)) for f'(x))"
        on_input = dy * df(x, x)
        if _close(actual, on_input) and not _close(on_input, expected):
            return f"{act} derivative written in terms of the output but fed the input"
    for candidate, message in candidates:
        if _close(candidate, expected):
            return message
    return ""
