"""Every bar and rule of crosscheck/check/verdict.py pinned at its boundary (issue 26): a floor is
exactly k ulps of its size in the dtype's eps over the dtype's bar, an error just above a bar
FAILs and just below PASSes in each dtype, so a ulp count moved by one, an eps of the other dtype,
or a bar moved off its value all fail here. Fast and in-process: no training, no torch run."""
from types import SimpleNamespace

import numpy as np
import pytest
from byo_convention_nets import CONVENTIONS, Knobs, softmax_loss

from crosscheck import byo
from crosscheck.check import fd, verdict
from crosscheck.check.compare import compare
from crosscheck.check.harness import CheckResult, _mark_routing_flips
from crosscheck.train.stepcheck import step_floor, step_row
from crosscheck.train.trajectory import TrajectoryResult
from numpy_impl import MaxPool2d, ReLU, Sequential

DTYPES = ["float64", "float32"]
EPS = {"float64": 2.0 ** -52, "float32": 2.0 ** -23}
BAR = {"float64": 1e-10, "float32": 1e-4}  # docs/checking.md's table


def fresh(text: str) -> str:
    """An equal string that is not the interned literal: the rules compare values, not identity."""
    return "".join(list(text))


# --- the one rule and the row bars -------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_an_error_just_above_the_row_bar_fails_and_at_or_below_passes(dtype):
    bar = verdict.row_bar(fresh(dtype))
    assert bar == BAR[dtype] == verdict.TOLERANCES[dtype]
    assert verdict.agrees(bar, bar) and verdict.agrees(0.99 * bar, bar) and verdict.agrees(0.0, bar)
    assert not verdict.agrees(np.nextafter(bar, np.inf), bar) and not verdict.agrees(1.01 * bar, bar)


def test_a_planted_5e_10_fails_in_float64_and_passes_in_float32():
    assert not verdict.agrees(5e-10, verdict.row_bar("float64"))
    assert verdict.agrees(5e-10, verdict.row_bar("float32"))
    assert verdict.agrees(5e-11, verdict.row_bar("float64"))


@pytest.mark.parametrize("error, bar, problem", [(np.nan, 1.0, ""), (np.inf, np.inf, ""), (-np.inf, 1.0, ""),
                                                 (0.0, 1.0, "shape (2,) where (3,) was expected")],
                         ids=["nan", "inf", "-inf", "problem"])
def test_nothing_structurally_wrong_or_non_finite_ever_agrees(error, bar, problem):
    assert not verdict.agrees(error, bar, problem)


def test_the_float32_end_to_end_bar_is_ten_times_torchs_own_error():
    assert verdict.row_bar("float32", 2e-5) == 10.0 * 2e-5  # above the plain bar: widened
    assert verdict.row_bar("float32", 1e-6) == 1e-4         # below it: the plain bar stands
    assert verdict.row_bar("float32", 0.0) == 1e-4
    for noise in (np.nan, np.inf):                           # no measure of noise: no widening
        assert verdict.row_bar("float32", noise) == 1e-4
    assert verdict.row_bar("float32", None) == 1e-4
    assert not verdict.agrees(10.0 * 2e-5 * 1.01, verdict.row_bar("float32", 2e-5))


@pytest.mark.parametrize("local_ok, acc_ok, status", [(True, True, "ok"), (True, False, "inherited"),
                                                      (False, True, "wrong"), (False, False, "wrong")])
def test_row_status(local_ok, acc_ok, status):
    assert verdict.row_status(local_ok, acc_ok) == status


# --- rounding floors: k ulps of the terms' size, in the dtype's eps, over the dtype's bar --------

FLOORS = {"loss": (verdict.loss_scale_floor, 16.0), "sum": (verdict.sum_scale_floor, 16.0),
          "sequence": (verdict.sequence_scale_floor, 16.0)}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", list(FLOORS))
def test_a_rounding_floor_is_exactly_k_ulps_of_the_size_over_the_bar(kind, dtype):
    floor, ulps = FLOORS[kind]
    for size in (3.0, 0.25, 1e6):
        assert floor(size, fresh(dtype)) == ulps * EPS[dtype] * size / BAR[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", list(FLOORS))
def test_an_error_of_fewer_ulps_than_the_floor_passes_and_more_fails(kind, dtype):
    """A tiny reference (a cancelled loss gradient, a bias before batch norm, a faded step) with an
    error of 15.5 ulps of its terms is rounding; 16.5 ulps is blamed."""
    floor, ulps = FLOORS[kind]
    size, expected = 3.0, np.array([1e-30, -2e-30])
    for k, ok in ((ulps - 0.5, True), (ulps + 0.5, False)):
        actual = expected + np.array([k * EPS[dtype] * size, 0.0])
        c = compare("q", actual, expected, scale_floor=floor(size, dtype))
        assert verdict.agrees(c.max_rel, verdict.row_bar(dtype)) == ok, (k, c.max_rel)


# --- finite differences ---------------------------------------------------------------------

def test_the_fd_noise_floor_is_16_ulps_of_the_loss_over_h():
    for value, h in ((3.0, 1e-3), (0.5, 1e-5), (-7.0, 1e-7)):
        assert fd._floor(value, h) == 16.0 * 2.0 ** -52 * max(abs(value), 1.0) / h


def _fd_tensor(max_abs: float, scale: float, floor: float) -> fd.FDTensor:
    return fd.FDTensor("0.weight", 2, 0, max_abs, scale, floor, (), 0.0, 0.0, method="directions")


def test_an_fd_error_just_above_1e_6_of_the_gradient_fails_and_below_passes():
    assert verdict.fd_bar(3.0, 0.0) == 1e-6 * 3.0
    assert verdict.fd_bar(3.0, 1.0) == 1.0
    assert _fd_tensor(0.99e-6 * 3.0, 3.0, 1e-12).passed
    assert not _fd_tensor(1.01e-6 * 3.0, 3.0, 1e-12).passed
    assert not _fd_tensor(0.0, 3.0, 1e-12).floor_dominates


def test_an_fd_error_under_the_noise_floor_passes_and_above_it_fails():
    """A gradient so small that 1e-6 of it is below the floor is judged against the floor."""
    floor = fd._floor(2.0, 1e-3)
    for k, ok in ((15.5, True), (16.5, False)):
        t = _fd_tensor(k * 2.0 ** -52 * 2.0 / 1e-3, 1e-9, floor)
        assert t.floor_dominates and t.passed == ok, k


def test_bce_samples_within_1e_4_of_0_or_1_are_left_out_of_fd():
    p = np.array([0.99e-4, 1.01e-4, 0.5, 1 - 1.01e-4, 1 - 0.99e-4])
    np.testing.assert_array_equal(fd._bce_clamped(p), [True, False, False, False, True])


# --- max-pool near ties -------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("factor, excused", [(0.9, True), (1.1, False)], ids=["below", "above"])
def test_a_max_pool_flip_is_a_near_tie_up_to_routing_tie(dtype, factor, excused):
    """ours picks tap 1, the reference tap 0, ahead by `factor` x ROUTING_TIE of the largest input."""
    gap = factor * {"float64": 1e-12, "float32": 1e-5}[dtype]
    ours, ref = np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2))
    ours[0, 0, 0, 1] += 1e-3
    ref[0, 0, 0, 0] += gap
    result = CheckResult("tie", "relu", dtype)
    _mark_routing_flips(result, Sequential([ReLU(), MaxPool2d(2)]), ours, SimpleNamespace(outputs=[ours]),
                        SimpleNamespace(outputs=[ref]), fresh(dtype))
    assert any("near-tied maxima" in n for n in result.notes) == excused


# --- training steps, replay, trajectories -----------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_a_step_floor_is_64_ulps_plus_2_per_carried_step(dtype):
    for carried in (0, 1, 3, 1000):
        assert step_floor(5.0, dtype, 1e-6, carried) == (64.0 + 2.0 * carried) * EPS[dtype] * 5.0 / 1e-6


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_step_error_just_above_step_tol_fails_and_below_passes(dtype):
    bar = verdict.STEP_TOL[dtype]
    assert bar == {"float64": 1e-6, "float32": 1e-2}[dtype]  # docs/training.md
    before, expected = np.zeros(3), np.array([1.0, -0.5, 0.25])  # a step of size 1
    for factor, ok in ((0.99, True), (1.01, False)):
        row = step_row("0.weight", expected + np.array([factor * bar, 0, 0]), expected, before, dtype, bar)
        assert row.passed(bar) == ok, (factor, row.error)


@pytest.mark.parametrize("carried", [0, 5])
def test_a_step_error_at_the_ulp_floor_is_noise_and_above_it_fails(carried):
    """A step too small to see next to |p|: the error is judged against 64 (+2 per carried step)
    ulps of |p|, so 63.5 (+2t) ulps of |p| passes and 64.5 (+2t) fails."""
    bar, p = verdict.REPLAY_TOL, np.array([4.0, 1.0])
    for k, ok in ((63.5, True), (64.5, False)):
        err = (k + 2.0 * carried) * 2.0 ** -52 * 4.0  # planted on the 1.0, where it is exact
        row = step_row("w", p + np.array([0.0, err]), p, p, "float64", bar, carried)
        assert row.passed(bar) == ok, (k, row.error)


@pytest.mark.parametrize("dtype, loss_bar", [("float64", 1e-9), ("float32", 1e-3)])
def test_free_runs_part_where_their_loss_differs_by_more_than_traj_tol(dtype, loss_bar):
    tol = verdict.TRAJ_TOL[dtype]
    rel = np.array([0.0, 0.99 * loss_bar, loss_bar, 1.01 * loss_bar])
    result = TrajectoryResult(4, rel, [], tol, {"numpy": np.ones(4), "torch": np.ones(4)}, dtype=dtype)
    assert result.first_divergent_step == 4


# --- bars that choose, not judge: each sits between rounding and the smallest real difference ---

@pytest.mark.parametrize("name, low, high", [
    ("SLIP_MATCH", 1e-12, 1e-3),            # a slip's own effect is O(1)
    ("OPT_SLIP_MATCH", 1e-12, 1e-4),        # replay rounding ~1e-15 of a step; slips >= 1e-4
    ("REPLAY_TOL", 1e-14, 1e-6),            # ~1e-15 of the step; eps inside the sqrt >= 1e-6
    ("DROPOUT_SCALE_MATCH", 1e-15, 1e-6),   # two float64 roundings; two scales differ by O(1)
    ("UPDATE_LINEAR", 1e-14, 1e-4),         # ~1e-16 against O(1) of the step
    ("L2_NOTHING_LEFT", 1e-14, 1e-6),       # a float64 gradient's rounding, ~1e-14 of itself
    ("L2_SAME", 1e-12, 1e-2),
    ("BCE_FD_MARGIN", 1e-8, 1e-2),
], ids=lambda v: v if isinstance(v, str) else "")
def test_each_choosing_bar_lies_between_rounding_and_a_real_difference(name, low, high):
    assert low < getattr(verdict, name) < high


@pytest.mark.parametrize("dtype, low", [("float64", 1e-12), ("float32", 1e-6)])
def test_probe_match_lies_between_rounding_and_a_leaky_slope(dtype, low):
    assert low < verdict.PROBE_MATCH[dtype] < 1e-3  # a slope of 0.01 against none: 1e-2


# --- the one undeclared convention that passes --------------------------------------------------

@pytest.mark.parametrize("changed, batch_mean, own_loss, passes", [
    ({"batch_mean"}, "layers", True, True),
    ({"batch_mean"}, "layers", False, False),      # no loss of the user's balances the layers' 1/N
    ({"batch_mean", "l2_w"}, "layers", True, False),
    ({"l2_w"}, "layers", True, False),
    (set(), "layers", True, False),                # nothing undeclared: nothing to pass on
    ({"batch_mean"}, "update", True, False),
    ({"batch_mean"}, "none", True, False),
    ({"batch_mean"}, "loss", True, False),
    ({"batch_mean"}, "batch", True, False),        # any other name, whichever way it sorts
], ids=["layers", "torch-loss", "and-l2", "l2", "nothing", "update", "none", "loss", "other"])
def test_only_the_1_over_n_moved_into_the_layers_under_your_own_loss_passes(changed, batch_mean, own_loss,
                                                                             passes):
    assert verdict.undeclared_convention_passes(changed, fresh(batch_mean), own_loss) is passes


def _check(knobs, style):
    return byo.check(CONVENTIONS["rowmajor"](np.random.default_rng(5), knobs, loss_fn=softmax_loss(style)))


def test_your_loss_with_the_layers_dividing_passes_and_a_sum_fails_through_byo():
    layers = _check(Knobs(div=True), "layers")
    assert layers.passed and any("batch_mean='layers'" in n and "did not declare" in n for n in layers.notes)
    summed = _check(Knobs(), "update")
    assert not summed.passed and "declare batch_mean='update'" in summed.undeclared


def test_every_annotation_of_verdict_is_a_type():
    """The hints are read back (typing.get_type_hints, as a runtime type checker or the docs do),
    so each must evaluate: `float | None`, never an expression that raises."""
    import inspect
    import typing
    for name, fn in inspect.getmembers(verdict, inspect.isfunction):
        if fn.__module__ == verdict.__name__:
            typing.get_type_hints(fn)
    assert typing.get_type_hints(verdict.row_bar) == {"dtype": str, "torch_noise": float | None, "return": float}
