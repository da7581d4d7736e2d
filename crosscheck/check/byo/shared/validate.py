"""Everything a user hands the bring-your-own API is validated in full before anything is run,
cut or judged: a bad value raises ValueError (the wrong kind of object WrongKind, a TypeError)
in one line naming it and the fix, never a verdict and never a traceback from deep inside."""
from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from typing import Iterator

import numpy as np

from numpy_impl.losses import check_loss_name, check_target

from ...user_code import WrongKind

MODEL_MAKERS = ("byo.rowmajor(...), byo.colmajor(...), byo.functional(...), byo.network(...), "
                "byo.netclass(...), byo.cnn(...), byo.program(...) or byo.recurrent(...)")


@contextmanager
def quiet_numpy() -> Iterator[None]:
    """Probing a user's layers on their inputs may overflow or divide by zero: what that
    produces is judged (non_finite), so numpy's RuntimeWarnings would only bury the one line."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def non_finite(arr) -> str | None:
    """'NaN at [3, 2]' (or Inf) for the first non-finite entry of a numeric array, else None."""
    a = np.asarray(arr)
    if a.dtype.kind not in "fc" or np.all(np.isfinite(a)):
        return None
    bad = np.unravel_index(int(np.argmax(~np.isfinite(a))), a.shape)
    return f"{'NaN' if np.isnan(a[bad]) else 'Inf'} at {[int(i) for i in bad]}"


def layer_list(layers, api: str) -> list:
    """The user's layers as a list: a non-empty list or tuple, else one line."""
    if not isinstance(layers, (list, tuple)):
        raise WrongKind(f"{api}: layers must be a list of layer objects, got {type(layers).__name__}")
    if not layers:
        raise ValueError(f"{api}: layers is empty; give a list of at least one layer object")
    return list(layers)


def batch(x, dtype, min_ndim: int = 2, name: str = "input") -> np.ndarray:
    """x as a float array of at least one sample, (N, ...), every entry finite."""
    if x is None:
        raise ValueError(f"{name}: give the batch, an array (N, ...)")
    try:
        arr = np.asarray(x, dtype=dtype)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: not a numeric array (got {type(x).__name__})") from None
    if arr.ndim < min_ndim:
        raise ValueError(f"{name}: needs at least {min_ndim} dimensions (N, ...), got shape {arr.shape}")
    if len(arr) == 0 or arr.size == 0:
        raise ValueError(f"{name}: empty batch (shape {arr.shape}); give at least one sample")
    bad = non_finite(arr)
    if bad:
        raise ValueError(f"{name}: contains {bad}")
    return arr


def params(where: str, weight, bias) -> None:
    """The user's W and b (None: a layer without one) must be finite numbers before their
    layer is probed."""
    for what, value in (("weights", weight), ("bias", bias)):
        if value is None:
            continue
        arr = np.asarray(value)
        if arr.dtype.kind not in "biufc":
            raise ValueError(f"{where}: your {what} are not a numeric array (dtype {arr.dtype})")
        bad = non_finite(arr)
        if bad:
            raise ValueError(f"{where}: your {what} contain {bad}")


def forward_output(where: str, y, x: np.ndarray) -> np.ndarray:
    """What a user's forward returned on the finite x: an array, finite (overflow is said so)."""
    if y is None:
        raise ValueError(f"{where}.forward returned None; it must return its output, an array of "
                         f"{len(x)} rows (N, ...) for an input of shape {x.shape}")
    arr = np.asarray(y)
    if arr.dtype.kind not in "biufc" or arr.ndim == 0:
        raise ValueError(f"{where}.forward returned {type(y).__name__}"
                         f"{f' of dtype {arr.dtype}' if arr.ndim else ''}; it must return its output, an "
                         f"array (N, ...) for an input of shape {x.shape}")
    bad = non_finite(arr)
    if bad:
        raise ValueError(f"{where}: your forward's output contains {bad} on a finite input "
                         f"(largest |input| {float(np.max(np.abs(x))):.3g}): an overflow or a division by zero?")
    return arr


def labels(loss: str, target, n: int, out_shape: tuple | None = None) -> None:
    """The whole target against the whole batch (N samples) and, given the network's output
    shape (any number of rows, from a forward), its shape, dtype, label range, finiteness."""
    if target is None:
        raise ValueError("target: give the labels or regression targets for the batch")
    t = np.asarray(target)
    if len(t.shape) == 0 or t.shape[0] != n:
        raise ValueError(f"target: {t.shape[0] if t.ndim else 'a scalar'} entries for {n} samples of input; "
                         f"give one per sample")
    check_loss_name(loss)
    if out_shape is not None:
        check_target(loss, np.zeros((n, *out_shape[1:])), t)


def budget(budget_s) -> float:
    """A positive, finite number of seconds."""
    if isinstance(budget_s, bool) or not isinstance(budget_s, (int, float, np.integer, np.floating)):
        raise ValueError(f"budget_s: must be a number of seconds, got {type(budget_s).__name__}")
    if not math.isfinite(budget_s) or budget_s <= 0:
        raise ValueError(f"budget_s: must be a finite number > 0, got {budget_s}")
    return float(budget_s)


def masks(given, n_layers: int) -> dict:
    """{layer index: keep-mask}: a dict whose keys are layer indices of the network."""
    if given is None:
        return {}
    if not isinstance(given, dict):
        raise ValueError(f"masks: must be a dict {{layer index: keep-mask}}, got {type(given).__name__}")
    for key in given:
        if isinstance(key, bool) or not isinstance(key, (int, np.integer)) or not 0 <= key < n_layers:
            raise ValueError(f"masks: layer {key!r} does not exist; the network has {n_layers} layers, "
                             f"indices 0 to {n_layers - 1} (give the index of a dropout layer)")
        mask = np.asarray(given[key])
        if mask.dtype.kind not in "biuf":
            raise ValueError(f"masks: the mask for layer {key} is not a numeric array (dtype {mask.dtype})")
        bad = non_finite(mask)
        if bad:
            raise ValueError(f"masks: the mask for layer {key} contains {bad}")
    return dict(given)


def user_model(model, api: str):
    """The object check()/assert_matches_torch() was handed must be what a byo adapter returned."""
    from .model import UserModel
    if isinstance(model, UserModel):
        return model
    if callable(model) and not hasattr(model, "forward"):
        hint = (f"; call it first: {api}({getattr(model, '__name__', 'it')}())")
    elif hasattr(model, "passed") and hasattr(model, "rows"):
        hint = "; that is already a check result (result.passed says whether it passed)"
    elif isinstance(model, (list, tuple)):
        hint = f"; wrap the layers first: {api}(byo.rowmajor(layers, x, y)) or byo.cnn(...)"
    elif model is None:
        hint = f"; did your crosscheck_model() forget its return?"
    else:
        hint = "; wrap your NumPy network first (a torch module is what it is checked against, not what is checked)" \
            if type(model).__module__.startswith("torch") else ""
    raise WrongKind(f"{api}: expected the network that {MODEL_MAKERS} returns, got "
                    f"{'None' if model is None else type(model).__name__}{hint}")
