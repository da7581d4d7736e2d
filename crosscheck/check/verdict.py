"""Every bar that turns a measured error into a verdict, each with its reason, and the one
rule that applies them.

Vocabulary. A *row* is one quantity of one layer (its output, dL/d its input, a parameter
gradient) or of the loss. Its status says what it means for that layer:
  ok         agrees with the reference, end to end and run alone;
  wrong      the layer's own computation is off: run alone on torch's own input and
             upstream gradient, it still disagrees;
  inherited  run alone it agrees; it disagrees end to end only because an earlier
             quantity (in execution order) already did.
PASS and FAIL are said of whole checks only: a check passes when every row is ok and every
finite-difference tensor and every training step agrees.

How a float32 row is judged. Both sides run in float32; the reference is a float64 torch
run of the same float32-rounded parameters.
  end to end (accumulated): the NumPy side agrees when its error against float64 is at most
      TOL_FLOAT32, or at most FLOAT32_NOISE_FACTOR x torch's own float32 error against the
      same float64 run (so a deep net whose float32 noise is larger is not blamed for it);
  local (the layer alone): the NumPy layer gets torch's float32 input and upstream gradient
      and is compared with the float64 torch layer on that same input; the only error left
      is the layer's own float32 rounding, so the bar is TOL_FLOAT32 with no noise allowance.
"""
from __future__ import annotations

import math

# --- layer-by-layer comparison --------------------------------------------------------
# float64: both sides do the same O(depth x width) float64 operations in possibly different
# orders (BLAS blocking, fused ops), so they differ by a few hundred ulps at most (eps 2.2e-16).
# Measured worst on the presets is ~1e-14; 1e-10 leaves four orders of headroom while any
# real bug (wrong derivative, transposed or mis-scaled gradient) gives 1e-3 or more.
TOL_FLOAT64 = 1e-10
# float32: eps is 1.2e-7, so two correct float32 runs differ by ~1e-6 relative after a few
# layers (measured worst 1.9e-6 on the presets); 1e-4 blames only what is clearly above noise.
TOL_FLOAT32 = 1e-4
# float32, end to end: no worse than this many times torch's own float32 error.
FLOAT32_NOISE_FACTOR = 10.0
TOLERANCES = {"float64": TOL_FLOAT64, "float32": TOL_FLOAT32}

# A loss and its gradient are computed from terms larger than themselves: softmax CE's
# gradient is p - onehot (terms of size 1/N), its value logsumexp(z) - z_y (terms of size
# max|z|), BCE's gradient (p - y) / (p (1 - p)). Where the terms nearly cancel (a confident,
# right prediction) the result is tiny but still carries a few ulps of the TERMS, so a correct
# loss would show a large relative error. Such rows are measured against max(|reference|,
# LOSS_ROUNDING_ULPS * eps * term size / bar): rounding of the terms is never blamed, while a
# real slip (a 1/N, a sign, a wrong formula) is as large as the terms and still fails.
LOSS_ROUNDING_ULPS = 16.0

# Max-pooling routes each window's gradient to its maximum. Where two inputs of a window are
# equal up to rounding, the two sides may each pick a different one, and every gradient below
# that layer then differs by whole routed values although both are right. A flip counts as
# such a near-tie when the two candidates differ by at most this much (relative to the
# largest input): a few ulps of accumulated rounding in each dtype.
ROUTING_TIE = {"float64": 1e-12, "float32": 1e-5}

# --- finite differences ---------------------------------------------------------------
# Richardson-extrapolated central differences agree with analytic gradients to ~1e-9
# relative in float64 when the gradient is well above the noise floor; 1e-6 is the bar.
TOL_FD = 1e-6
# Each loss value is exact only to a few ulps of |L|, so a difference quotient carries an
# absolute error of a few eps*|L|/h whatever the gradient's size. FD_FLOOR_ULPS*eps*max(|L|,1)/h
# is the floor (measured errors are 5-10x below it): a tensor whose gradient is so small that
# TOL_FD of it lies below the floor is judged against the floor, and the report says so.
FD_FLOOR_ULPS = 16.0
# BCE on a prediction p near 1: p carries an ulp of itself, so 1 - p, and the loss term
# -log(1 - p), carry eps * p / (1 - p), not a few ulps of |L| as the floor assumes; and where
# p(1 - p) < 1e-12 torch clamps the gradient, which is then not the loss's derivative at all.
# A saturated digits net (U(-2, 2) weights) failed finite differences at 3e-1 on correct code.
# Samples with a prediction within BCE_FD_MARGIN of 0 or 1 are left out of finite differences
# (the comparison with torch still covers them): 1e-4 bounds the conditioning at 1e4, which
# keeps the loss's rounding under the floor.
BCE_FD_MARGIN = 1e-4

# --- training trajectories --------------------------------------------------------------
# Where two free-running runs part (reported, never judged; see the end of this file).
# float64: each step adds a few ulps of difference (summation order in matmuls), and the
# optimizer carries them forward; over 500 steps they stay below 1e-12 on the presets, and
# the loss bar leaves three orders of headroom. float32: ~1e-7 per step, amplified along the
# way (Adam divides by sqrt(v)). (There was a "params" bar beside each: nothing read it.)
TRAJ_TOL = {"float64": {"loss": 1e-9}, "float32": {"loss": 1e-3}}

# --- explaining a failure -----------------------------------------------------------------
# A candidate slip (transposed, 1/N, sign, ...) explains a wrong gradient when applying it
# makes the user's value match the reference this closely: far above rounding, far below
# any slip's own effect (a factor of N, a sign, a transpose all give O(1) differences).
SLIP_MATCH = 1e-6

# --- reading a user's code (byo) ------------------------------------------------------------
# byo tells what a user's layer computes (which activation and slope, whether W is stored
# (in, out) or (out, in), whether a whole network takes samples as rows or columns) by running
# its forward and comparing with each candidate's (byo/shared/discover.fits), relative to the
# output's scale max(1, max |output|). The right candidate differs only by rounding: ~1e-14 in
# float64; in float32 a few 1e-7 per layer, up to a few 1e-6 through a whole network. A wrong
# one differs by what tells the candidates apart: a transposed W or another activation by O(1),
# a leaky slope of 0.01 against none by 1e-2 of the negative inputs. Each bar sits between,
# with two orders of headroom on the rounding side.
PROBE_MATCH = {"float64": 1e-6, "float32": 1e-5}
# A user's dropout multiplies every kept unit by one scale (1, or 1/keep for inverted dropout).
# Read back as y / x it carries two roundings, a few ulps of float64 (byo.cnn runs in float64);
# 1e-12 leaves headroom and is far below any difference between two dropout scales.
DROPOUT_SCALE_MATCH = 1e-12
# byo reads the gradient of a backward(grad, lr) that updates W in place and keeps no gradient
# from the update itself, at lr = 1 on float64 copies: dW = W_before - W_after, to a few ulps of
# max(|W|, |dW|). A plain step W -= lr * dW is linear in the upstream gradient, so the step for
# -2 grad is -2 times the step for +grad to that rounding (~1e-16), both taken from the same state;
# momentum carrying a buffer, or Adam (whose first step is about lr * sign(grad)), is off by O(1)
# of the step. 1e-9 of the scale sits between, with six orders on each side.
UPDATE_LINEAR = 1e-9
# Recognising L2 inside a user's gradients (byo/recognise.py): what is left of a parameter
# gradient on torch's own upstream, divided by the parameter, is the λ of the L2 term. Left
# below L2_NOTHING_LEFT of max |param| is rounding (a float64 gradient carries ~1e-14 of
# itself), no term. The λ read off each tensor carries that rounding too; they are one λ when
# they agree to L2_SAME. Neither bar gives a verdict: the check is rerun under the λ found and
# judged by the bars above, so these only choose which convention to try.
L2_NOTHING_LEFT = 1e-12
L2_SAME = 1e-6


def undeclared_convention_passes(changed: set[str], batch_mean: str, own_loss: bool) -> bool:
    """A gradient convention the user did not declare explains every difference exactly: does
    the check pass (saying so) or FAIL with the one argument that declares it?
    It fails, because a real bug can hide behind each: L2 inside dW may carry the wrong factor
    against the penalty in the loss the check never sees; sums over the batch ('update',
    'none') are right only if the update step divides, which the check never sees; gradients
    of -L are right only if the step goes uphill; a loss gradient summed over the batch with
    no loss of the user's to balance it is the 'missing 1/N' slip itself.
    One passes: the 1/N moved from the loss gradient into the layers ('layers') when the user's
    own loss is checked. Then the loss's value is torch's, and the gradients its gradient gives
    end to end are exactly torch's (every row agrees under it): nothing outside the check is
    needed for them to be right, so no bug is left to hide."""
    return own_loss and changed == {"batch_mean"} and batch_mean == "layers"


def agrees(error: float, bar: float, problem: str = "") -> bool:
    """The one rule: an error agrees when nothing is structurally wrong (shape, dtype,
    non-finite values) and it is a finite number at most `bar`. NaN never agrees."""
    return not problem and math.isfinite(error) and error <= bar


def row_bar(dtype: str, torch_noise: float | None = None) -> float:
    """The bar for one row: the dtype's tolerance, widened in float32 end-to-end comparisons
    to FLOAT32_NOISE_FACTOR x torch's own float32 error (`torch_noise`)."""
    bar = TOLERANCES[dtype]
    if torch_noise is not None and math.isfinite(torch_noise):
        bar = max(bar, FLOAT32_NOISE_FACTOR * torch_noise)
    return bar


def row_status(local_ok: bool, acc_ok: bool) -> str:
    """ok, wrong (fails on its own input) or inherited (fails only end to end)."""
    if not local_ok:
        return "wrong"
    return "ok" if acc_ok else "inherited"


def loss_scale_floor(term_size: float, dtype: str) -> float:
    """The scale below which a loss row's relative error would only measure rounding of its
    terms (see LOSS_ROUNDING_ULPS): pass it to compare(..., scale_floor=)."""
    return _rounding_floor(LOSS_ROUNDING_ULPS, term_size, dtype)


def _rounding_floor(ulps: float, size: float, dtype: str) -> float:
    """The scale at which `ulps` ulps of `size` (rounding, in dtype) just meet the dtype's bar."""
    eps = 2.220446049250313e-16 if dtype == "float64" else 1.1920928955078125e-07
    return ulps * eps * size / TOLERANCES[dtype]


# A bias right before a batch norm in training mode has an exactly zero gradient: the batch
# norm's dL/d(its input) sums to zero over the batch in every channel, so db = sum over the batch
# is what is left of terms as large as the upstream gradient itself, a few ulps of their sum,
# different on each side. (The mirror leaves that bias out, as torch's users do; a user's code
# keeps it, at the top level or inside a residual block, ResNet's pattern.) A bias gradient is
# judged against max(|reference|, SUM_ROUNDING_ULPS * eps * sum of |upstream| / bar), the upstream
# that of the module holding the bias, a block's inner layer too (torch_side.bias_upstreams):
# rounding of its terms is never blamed, while a real slip in db (a missing sum, one sample's
# row, the wrong array summed) is as large as the terms and still fails.
SUM_ROUNDING_ULPS = 16.0


def sum_scale_floor(term_sum: float, dtype: str) -> float:
    """The scale below which a bias gradient's relative error measures only the rounding of
    the sum it is (term_sum: the sum of |upstream| it is summed from): compare(..., scale_floor=)."""
    return _rounding_floor(SUM_ROUNDING_ULPS, term_sum, dtype)


# A recurrent layer's quantity at one time step (crosscheck/check/recurrent_steps.py) is judged
# relative to its own size at that step, so that an error at an early step, where gradients have
# faded, is not hidden by the later steps' larger values. But a faded gradient is still made of
# terms as large as the whole sequence's (each step's W_hh products), and carries a few ulps of
# them: a step's scale is floored at SEQUENCE_ROUNDING_ULPS ulps of the quantity's largest value
# over all steps (over the bar). Any real slip in a step moves it by far more than that.
SEQUENCE_ROUNDING_ULPS = 16.0


def sequence_scale_floor(sequence_size: float, dtype: str) -> float:
    """The scale below which one time step's relative error measures only the rounding of the
    sequence's terms (sequence_size: the quantity's largest |value| over every step)."""
    return _rounding_floor(SEQUENCE_ROUNDING_ULPS, sequence_size, dtype)


def fd_bar(scale: float, floor: float) -> float:
    """Absolute bar for a finite-difference tensor: TOL_FD of its largest gradient, or the
    noise floor where that is larger."""
    return max(TOL_FD * scale, floor)


# --- teacher-forced training steps and optimizer replay (train/trajectory.py, train/replay.py) --
# A teacher-forced step starts both sides from the same parameters and optimizer state (torch's,
# copied) and takes one step on the same batch; nothing chaotic can amplify a difference in one
# step, so what is left is one step's rounding. Each tensor's error is measured against the size
# of the step it took (max |p_new - p_old|, or of the state's change), because a wrong rule
# (bias correction, eps placement, a schedule off by one) changes the step, not the parameter,
# by a fraction: 1e-3 .. 1 of the step. One step's rounding in float64 is a few hundred ulps of
# the gradient; measured worst on the default train commands is 3.5e-11 of the step (B, Adam,
# which divides by sqrt(v) and so amplifies a gradient's rounding where |g| is tiny); 1e-6
# leaves four orders of headroom and still sees a 1e-4 slip. float32: eps 1.2e-7, same
# reasoning, 1e-2.
STEP_TOL = {"float64": 1e-6, "float32": 1e-2}
# Where the step is tiny next to the tensor itself, p_new's own rounding (an ulp of |p|) is
# all that can be resolved: the step's scale is floored at STEP_FLOOR_ULPS ulps of max |p|,
# divided by STEP_TOL, so an error of that many ulps of |p| is always noise.
STEP_FLOOR_ULPS = 64.0
# The loss both sides compute at the same parameters before a teacher-forced step: the
# layer-by-layer bars apply (same forward, same data).
STEP_LOSS_TOL = TOLERANCES
# Optimizer replay feeds both optimizers identical float64 gradients: the only difference left
# is the order of a few float64 operations per element, ~1e-15 of the step; 1e-9 is far above
# that and far below any slip (eps inside the sqrt, the smallest, is >= 1e-6 of the step).
REPLAY_TOL = 1e-9
# A replay is not teacher-forced: each side carries its own parameters from step to step, so the
# roundings of p_new add up. Each step rounds p_new once on each side, half an ulp of |p| each,
# and they may all fall the same way: after t steps the two sides may differ by up to t ulps of
# |p| with no slip at all. The step's floor grows by REPLAY_ULPS_PER_STEP ulps of max |p| per
# step taken (twice the worst case). A correct SGD rule replayed for 100,000 steps crossed the
# fixed floor at step 45,386 (a bias whose step had all entries ~1e-3 of their usual size, after
# a random walk of one-ulp roundings); slips show from the first step they act on, where t is
# small and the floor is the fixed one.
REPLAY_ULPS_PER_STEP = 2.0
# Naming a slip: the candidate wrong rule reproduces the user's parameters this closely.
OPT_SLIP_MATCH = 1e-7
# A free-running pair of runs has "parted" where their loss differs by more than TRAJ_TOL's
# loss bar; that is reported, never judged: chaotic training amplifies rounding.
