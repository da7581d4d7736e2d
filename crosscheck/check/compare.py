"""The one comparison helper: shape, dtype, then values, and the worst element named.

It measures; verdict.py judges."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .verdict import agrees


@dataclass
class Comparison:
    """How `actual` differs from `expected` for one named quantity."""
    name: str
    shape: tuple
    max_abs: float
    max_rel: float  # max |actual - expected| / max |expected|
    index: tuple    # index of the worst element
    actual: float   # the worst element's values
    expected: float
    problem: str = ""  # shape or dtype mismatch, NaN, ...

    def passed(self, tol: float) -> bool:
        return agrees(self.max_rel, tol, self.problem)

    def describe(self) -> str:
        if self.problem:
            return f"{self.name}: {self.problem}"
        return (f"{self.name}: max rel {self.max_rel:.2e} (abs {self.max_abs:.2e}) at {list(self.index)}: "
                f"{self.actual:.10g} vs {self.expected:.10g}")

    def to_json(self) -> dict:
        d = asdict(self)
        d["index"] = [int(i) for i in self.index]
        d["shape"] = [int(s) for s in self.shape]
        return d


def compare(name: str, actual, expected, dtype: str | None = None, scale_floor: float = 0.0) -> Comparison:
    """Compare shape, then dtype (when `dtype` is given), then values of two arrays.

    The relative error divides by the largest magnitude in `expected`, floored at the
    smallest normal float, so an all-zero reference gives 0 (equal) or a huge error, never NaN,
    and at `scale_floor` where the caller knows the quantity is a difference of larger terms."""
    a = np.asarray(actual)
    e = np.asarray(expected)
    if a.shape != e.shape:
        return Comparison(name, e.shape, np.inf, np.inf, (), np.nan, np.nan,
                          f"shape {a.shape} where {e.shape} was expected")
    if dtype is not None and a.dtype != np.dtype(dtype):
        return Comparison(name, e.shape, np.inf, np.inf, (), np.nan, np.nan,
                          f"dtype {a.dtype} where {dtype} was expected")
    a64, e64 = a.astype(np.float64), e.astype(np.float64)
    if a.size == 0:
        return Comparison(name, e.shape, 0.0, 0.0, (), 0.0, 0.0)
    bad = ~np.isfinite(a64) | ~np.isfinite(e64)
    if bad.any():  # NaN or Inf on either side: nothing can be verified there, never a match
        idx = np.unravel_index(int(np.argmax(bad)), a.shape)
        where = "in both" if not (np.isfinite(a64[idx]) or np.isfinite(e64[idx])) else "on one side"
        return Comparison(name, e.shape, np.inf, np.inf, tuple(int(i) for i in idx), float(a64[idx]),
                          float(e64[idx]), f"non-finite value {where}: {a64[idx]:.6g} vs {e64[idx]:.6g} "
                          f"at {[int(i) for i in idx]} ({int(bad.sum())} such entries)")
    diff = np.abs(a64 - e64)
    flat = int(np.argmax(diff))
    idx = np.unravel_index(flat, a.shape)
    max_abs = float(diff.flat[flat])
    scale = max(magnitude(e64), scale_floor)  # scale_floor: see verdict.LOSS_ROUNDING_ULPS
    return Comparison(name, e.shape, max_abs, max_abs / scale, tuple(int(i) for i in idx),
                      float(a64[idx]), float(e64[idx]))


def magnitude(expected) -> float:
    """The scale relative errors divide by: the largest |expected|, floored at the smallest
    normal float so an all-zero reference gives 0 (equal) or a huge error, never NaN."""
    e = np.asarray(expected, dtype=np.float64)
    return max(float(np.max(np.abs(e))) if e.size else 0.0, np.finfo(np.float64).tiny)


def relative_error(actual, expected) -> float:
    """max |actual - expected| / max |expected|; inf for a shape mismatch or a non-finite value."""
    c = compare("", actual, expected)
    return np.inf if c.problem else c.max_rel
