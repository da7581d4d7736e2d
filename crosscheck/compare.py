"""The one comparison helper and the tolerances it judges by."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# float64: both sides do the same O(depth x width) float64 operations in possibly different
# orders (BLAS blocking, fused ops), so they differ by a few hundred ulps at most (eps 2.2e-16).
# Measured worst on the presets is ~1e-14; 1e-10 leaves four orders of headroom while any
# real bug (wrong derivative, transposed or mis-scaled gradient) gives 1e-3 or more.
TOL_FLOAT64 = 1e-10
# float32: eps is 1.2e-7, so two correct float32 runs differ by ~1e-6 relative after a few
# layers. Each side is judged against a float64 run of the same model, and passes when it is
# within TOL_FLOAT32 of it or no worse than FLOAT32_NOISE_FACTOR x torch's own float32 error.
TOL_FLOAT32 = 1e-4
FLOAT32_NOISE_FACTOR = 10.0
# Finite differences: central differences agree with analytic gradients to ~1e-9 relative
# in float64 when the gradient is well above the noise floor (see fd.py); 1e-6 is the bar.
TOL_FD = 1e-6

TOLERANCES = {"float64": TOL_FLOAT64, "float32": TOL_FLOAT32}


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
        return not self.problem and self.max_rel <= tol

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


def compare(name: str, actual, expected, dtype: str | None = None) -> Comparison:
    """Compare shape, then dtype (when `dtype` is given), then values of two arrays.

    The relative error divides by the largest magnitude in `expected`, floored at the
    smallest normal float, so an all-zero reference gives 0 (equal) or a huge error, never NaN."""
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
    bad = ~np.isfinite(a64)
    if bad.any() and not np.array_equal(bad, ~np.isfinite(e64)):
        idx = np.unravel_index(int(np.argmax(bad)), a.shape)
        return Comparison(name, e.shape, np.inf, np.inf, idx, float(a64[idx]), float(e64[idx]),
                          f"non-finite value {a64[idx]} at {list(idx)} where {e64[idx]:.6g} was expected")
    diff = np.abs(np.where(bad, 0.0, a64 - e64))
    flat = int(np.argmax(diff))
    idx = np.unravel_index(flat, a.shape)
    scale = max(float(np.max(np.abs(np.where(bad, 0.0, e64)))), np.finfo(np.float64).tiny)
    max_abs = float(diff.flat[flat])
    return Comparison(name, e.shape, max_abs, max_abs / scale, tuple(int(i) for i in idx),
                      float(a64[idx]), float(e64[idx]))
