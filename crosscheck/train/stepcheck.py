"""One optimizer step judged against the size of the step: shared by the teacher-forced
trajectory check and the optimizer replay."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..check.compare import Comparison, compare, magnitude
from ..check.verdict import REPLAY_ULPS_PER_STEP, STEP_FLOOR_ULPS, agrees


@dataclass
class StepRow:
    """One tensor after one step: how far `actual` is from `expected`, measured in steps."""
    comparison: Comparison
    scale: float   # max |expected - before| (a state's: at least max |expected|), floored at
                   # STEP_FLOOR_ULPS ulps of max |expected|
    error: float   # max |actual - expected| / scale (inf when compare found a problem)

    def passed(self, bar: float) -> bool:
        return agrees(self.error, bar, self.comparison.problem)

    def describe(self) -> str:
        c = self.comparison
        if c.problem:
            return c.describe()
        return (f"{c.name}: {self.error:.2e} of the step (abs {c.max_abs:.2e}, step {self.scale:.2e}) "
                f"at {list(c.index)}: {c.actual:.10g} vs {c.expected:.10g}")


def step_row(name: str, actual, expected, before, dtype: str, bar: float, carried: int = 0,
             state: bool = False) -> StepRow:
    """Compare a tensor after a step; `before` is its value before (None: state that did not
    exist yet, i.e. zero). `carried`: how many steps each side has carried its own parameters
    (a replay's step number; 0 when teacher-forced), whose roundings may have added up.
    `state`: not a parameter but optimizer state the step is made from (a momentum buffer,
    Adam's averages), judged against its own size: a relative error e in it moves
    the parameter step by about e, and once it settles it hardly changes while the gradient's
    rounding still enters it, so its change alone is no scale (a false FAIL, SGD momentum 0.9)."""
    c = compare(name, actual, expected)
    if c.problem:
        return StepRow(c, np.nan, np.inf)
    e = np.asarray(expected, dtype=np.float64)
    b = np.zeros_like(e) if before is None else np.asarray(before, dtype=np.float64)
    moved = magnitude(e - b) if e.size else 0.0
    if state:
        moved = max(moved, magnitude(e) if e.size else 0.0)
    floor = step_floor(magnitude(e), dtype, bar, carried)
    scale = max(moved, floor, np.finfo(np.float64).tiny)
    return StepRow(c, scale, c.max_abs / scale)


def step_floor(size: float, dtype: str, bar: float, carried: int = 0) -> float:
    """The smallest step scale there is: what p_new's own rounding (STEP_FLOOR_ULPS ulps of
    `size`, max |p|) plus `carried` steps of accumulated rounding can explain, over the bar."""
    return (STEP_FLOOR_ULPS + REPLAY_ULPS_PER_STEP * carried) * np.finfo(dtype).eps * size / bar


def step_rows(actual: dict, expected: dict, before: dict, dtype: str, bar: float,
              carried: int = 0, state: frozenset = frozenset()) -> list[StepRow]:
    """Every tensor of `expected`; a tensor missing from `actual` is a problem, not a pass.
    `state`: the keys of optimizer state (see step_row). Running statistics are not among them:
    they never enter the step, so their own size would hide a slip in them (a biased running
    variance is 2e-3 of its size at N = 64, under float32's bar) where their change does not."""
    rows = []
    for key, value in expected.items():
        if key not in actual:
            c = Comparison(key, np.shape(value), np.inf, np.inf, (), np.nan, np.nan, "missing on the NumPy side")
            rows.append(StepRow(c, np.nan, np.inf))
        else:
            rows.append(step_row(key, actual[key], value, before.get(key), dtype, bar, carried,
                                 state=key in state))
    return rows
