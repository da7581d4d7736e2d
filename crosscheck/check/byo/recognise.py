"""Recognise a gradient convention you did not declare: where a check fails, try each other
convention (where the 1/N lives, gradient ascent, L2 inside the gradients with the λ read off
your gradients) and find the one that makes every row agree, to the same bars. Whether such
a check then passes or fails with the declaring argument is verdict.undeclared_convention_passes."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import fields
from typing import Callable, Iterator

import numpy as np

from ..verdict import L2_NOTHING_LEFT, L2_SAME

from .shared.convention import BATCH_MEANS, Convention, is_bias
from .shared.model import UserModel


def recognise(user: UserModel, result, rerun: Callable) -> tuple[Convention, object] | None:
    """The convention other than the declared one under which `rerun()` (the same check, no
    finite differences) passes, or else leaves the fewest wrong rows, fewer than `result` has;
    with that rerun's result. None when none does, when no row of `result` is wrong, or when a
    forward is (no gradient convention changes a forward)."""
    if _wrong(result) == 0 or any(r.quantity == "out" and r.status != "ok" for r in result.rows):
        return None  # no row to blame (finite differences alone fail), or a forward is wrong
    declared, best, fewest = user.convention, None, _wrong(result)
    for candidate in _candidates(user):
        with _trying(declared, candidate):
            found = rerun()
        with_l2 = None if found.passed else _with_l2(candidate, found)
        if with_l2 is not None:
            with _trying(declared, with_l2):
                tried = rerun()
            if tried.passed or _wrong(tried) < _wrong(found):
                candidate, found = with_l2, tried
        if candidate != declared and (found.passed or _wrong(found) < fewest):
            best, fewest = (candidate, found), _wrong(found)
            if found.passed:
                break
    return best


def _wrong(result) -> int:
    """How many rows are wrong on their own input (the layers or loss to blame)."""
    return sum(not r.local_ok for r in result.rows)


@contextmanager
def adopted(user: UserModel, convention: Convention) -> Iterator[None]:
    """Check `user` under `convention` for the duration (its layers share the object)."""
    with _trying(user.convention, convention):
        yield


def _candidates(user: UserModel) -> list[Convention]:
    """Conventions to try, the declared one first (for L2 alone): with your own loss every
    placement of the 1/N and both signs; without it only the layers' 1/N changes anything."""
    d, program = user.convention, getattr(user, "program", None) is not None
    means = [m for m in BATCH_MEANS if not (program and m == "layers")] if user.owns_loss else ("loss", "layers")
    signs = (d.ascent, not d.ascent) if user.owns_loss else (d.ascent,)
    out = [d.with_(l2_w=0.0, l2_b=0.0)]
    out += [d.with_(batch_mean=m, ascent=a, l2_w=0.0, l2_b=0.0) for a in signs for m in means]
    unique = []
    for c in out:
        if c not in unique:
            unique.append(c)
    return unique


@contextmanager
def _trying(shared: Convention, candidate: Convention) -> Iterator[None]:
    """Set the model's shared convention to `candidate` for the duration, then restore it."""
    saved = {f.name: getattr(shared, f.name) for f in fields(shared)}
    for f in fields(shared):
        setattr(shared, f.name, getattr(candidate, f.name))
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(shared, name, value)


def _with_l2(candidate: Convention, found) -> Convention | None:
    """`candidate` with the λ (on weights) and μ (on biases) that the layers' local gradients
    show: what is left over, on torch's own upstream gradient, as a multiple of the parameter
    itself (times N where the layers divide, negated under ascent). None where no single λ
    (and μ) explains every tensor."""
    shown: dict[bool, list[float]] = {False: [], True: []}
    for run in found.runs:
        k = _l2_factor(candidate, run)
        for key, param in getattr(run.layer, "params", {}).items():
            got, want = run.local.grads.get(key), run.local_ref.grads.get(key)
            if got is None or want is None or np.shape(got) != np.shape(want):
                return None
            shown[is_bias(key)].append(_multiple(np.asarray(got, np.float64) - want, param, k))
    lam_w, lam_b = _one_value(shown[False]), _one_value(shown[True])
    if lam_w is None or lam_b is None or (lam_w == 0 and lam_b == 0):
        return None
    return candidate.with_(l2_w=lam_w, l2_b=lam_b)


def _l2_factor(candidate: Convention, run) -> float:
    """What an L2 term λ·param left over in a gradient is multiplied by, under `candidate`: a
    layer's is undone after its 1/N is restored (times N) and carries the sign; a whole
    program's is divided by N with the rest of its sum."""
    n = len(run.input)
    if getattr(run.layer, "program", False):
        return 1.0 / n if candidate.batch_mean in ("update", "none") else 1.0
    return candidate.sign * (n if candidate.batch_mean == "layers" else 1)


def _multiple(left: np.ndarray, param, k: float) -> float:
    """λ with left = k·λ·param (least squares), 0 where nothing is left (rounding only)."""
    p = np.asarray(param, dtype=np.float64).reshape(left.shape)
    pp = float(np.sum(p * p))
    if pp == 0 or np.max(np.abs(left)) <= L2_NOTHING_LEFT * max(float(np.max(np.abs(p))), 1e-300):
        return 0.0
    return float(np.sum(left * p)) / (k * pp)


def _one_value(values: list[float]) -> float | None:
    """The one λ >= 0 every tensor shows (0 where none shows one), to 10 significant digits, or
    None where they differ: one λ must explain every layer."""
    if not values:
        return 0.0
    first = values[0]
    if first < 0 or any(abs(v - first) > L2_SAME * abs(first) for v in values):
        return None
    return float(f"{first:.10g}")
