"""Third opinion: finite differences on the NumPy loss, in float64, no torch.

Directions first (the approach of JAX's check_grads). For each tensor t with analytic
gradient g, the loss is differentiated along FD_DIRECTIONS random unit directions v:
d/de L(t + e v) must equal <g, v>. That costs four loss evaluations per direction whatever
the tensor's size, and any wrong gradient (a wrong derivative, a transpose, a 1/N, a sign)
changes <g, v> for almost every v. The error is judged relative to |g| (Cauchy-Schwarz
bounds |<g, v>| by it), and against the same noise floor as a single entry, since the step
has the same length h. Only a tensor that fails along a direction, or whose every step
straddles a kink, is sampled entry by entry (FD_SAMPLES entries), which names the worst entry.

Method. Central differences D(h) = (L(t+h) - L(t-h)) / 2h combined by Richardson
extrapolation, (4 D(h/2) - D(h)) / 3, which cancels the h^2 term: the truncation error is
O(h^4) (~1e-12 at h = 1e-3) while the rounding error stays about 3 eps |L| / h.

Noise floor. Each loss value is exact only to a few ulps of |L|, so the estimate carries an
absolute error of a few eps*|L|/h whatever the gradient's size. We take
FD_FLOOR_ULPS * eps * max(|L|, 1) / h (~1e-11 at h = 1e-3, |L| ~ 1; measured errors are
5-10x below it) as the floor: where a tensor's largest gradient is so small that TOL_FD
relative to it lies below this floor (deep sigmoid nets, input gradients of a loss
averaged over many samples), the check is made against the floor instead, and the report
says so.

Kinks. ReLU-like layers report which side of their kink each input fell on. When the four
evaluations do not all land on the same side, the difference quotient straddles a kink and
is meaningless: the entry is retried with a 100x smaller h, and skipped (and counted) if it
still straddles one at the smallest step.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from numpy_impl import Sequential, buffers_kept
from numpy_impl import functional as NF
from numpy_impl.losses import l2_penalty, total_loss_and_grads

from .verdict import BCE_FD_MARGIN, FD_FLOOR_ULPS, TOL_FD, agrees, fd_bar

FD_STEPS = (1e-3, 1e-5, 1e-7)  # tried in turn while a step straddles a kink
FD_SAMPLES = 12  # entries per tensor when sampling entry by entry; small tensors in full
# Two directions: one would do, but a bug confined to a few entries gives a directional error
# proportional to a N(0, 1) draw, and two independent draws both near zero are vanishingly rare.
FD_DIRECTIONS = 2


@dataclass
class FDTensor:
    name: str
    checked: int
    kinks_skipped: int
    max_abs: float
    scale: float      # entries: max |analytic gradient|; directions: its 2-norm
    floor: float      # absolute noise floor used
    index: tuple
    fd_value: float
    analytic: float
    problem: str = ""  # the analytic gradient is missing or misshapen
    method: str = "entries"  # "directions": `checked` random directions, scale = |g|_2
    localised: str = ""      # for a failing direction: what entry-by-entry sampling found

    @property
    def rel(self) -> float:
        return self.max_abs / self.scale if self.scale > 0 else (0.0 if self.max_abs == 0 else np.inf)

    @property
    def floor_dominates(self) -> bool:
        return self.floor > TOL_FD * self.scale

    @property
    def passed(self) -> bool:
        return agrees(self.max_abs, fd_bar(self.scale, self.floor), self.problem)

    def note(self) -> str:
        if self.problem:
            return f"{self.name}: {self.problem}"
        if not self.floor_dominates:
            return ""
        size = "norm" if self.method == "directions" else "max"
        return (f"{self.name}: gradient {size} {self.scale:.1e} is below what finite differences resolve; "
                f"judged against the noise floor {self.floor:.1e} = {FD_FLOOR_ULPS:g}*eps*|L|/h "
                f"(abs error {self.max_abs:.1e})")

    def failure(self) -> str:
        """Why a failing tensor fails, with the worst entry or direction and both values."""
        where = f"at {list(self.index)}" if self.method == "entries" else f"along a random direction"
        text = (f"{self.name}: abs error {self.max_abs:.2e} {where} (fd {self.fd_value:.10g} vs analytic "
                f"{self.analytic:.10g}, bar {fd_bar(self.scale, self.floor):.1e})")
        return text + (f"; {self.localised}" if self.localised else "")

    def line(self) -> str:
        """One verbose line: relative error, what it is relative to, what was checked."""
        size = "norm" if self.method == "directions" else "max"
        return (f"fd {self.name:<19} rel {self.rel:.1e} (abs {self.max_abs:.1e}, |grad| {size} {self.scale:.1e}, "
                f"{self.checked} {self.method}) {'PASS' if self.passed else 'FAIL'}")

    def to_json(self) -> dict:
        return {"name": self.name, "checked": self.checked, "kinks_skipped": self.kinks_skipped,
                "max_abs": self.max_abs, "rel": self.rel, "scale": self.scale, "floor": self.floor,
                "floor_dominates": self.floor_dominates, "passed": self.passed,
                "method": self.method, "localised": self.localised,
                "index": [int(i) for i in self.index], "fd": self.fd_value, "analytic": self.analytic}


@dataclass
class FDResult:
    tensors: list[FDTensor] = field(default_factory=list)
    samples_left_out: int = 0  # in BCE's clamped region (see _bce_clamped)
    batch: int = 0

    @property
    def passed(self) -> bool:
        return all(t.passed for t in self.tensors)

    @property
    def worst_rel(self) -> float:
        """Worst relative error among tensors judged relatively (not at the noise floor)."""
        vals = [t.rel for t in self.tensors if not t.floor_dominates]
        return max(vals) if vals else 0.0

    def notes(self) -> list[str]:
        out = [t.note() for t in self.tensors if t.note()]
        skipped = sum(t.kinks_skipped for t in self.tensors)
        if skipped:
            out.append(f"{skipped} sampled entries skipped: within h of a ReLU kink even at h={FD_STEPS[-1]:g}")
        if self.samples_left_out:
            out.append(f"finite differences: {self.samples_left_out} of {self.batch} samples left out, a prediction "
                       f"within {BCE_FD_MARGIN:g} of 0 or 1, where BCE's value is too rounded to difference (and "
                       f"nearer still torch clamps its gradient)" + ("; none left to check" if not self.tensors else ""))
        return out


def _loss_only(model, loss, l2, x, target) -> tuple[float, np.ndarray]:
    """The loss (with its L2 term) and the kink state: the model's, and for BCE which outputs lie
    in its clamped region, so that a step crossing into it is skipped like a kink."""
    pred = model.forward(x)
    value, _ = NF.LOSS_FUNCS[loss](pred, target)
    kinks = model.kink_state()
    if loss == "bce":
        kinks = np.concatenate([kinks, _bce_clamped(pred).ravel()])
    return value + l2_penalty(model.state_dict(), l2)[0], kinks


def _bce_clamped(prob: np.ndarray) -> np.ndarray:
    """Where BCE cannot be checked by differences of its value (verdict.BCE_FD_MARGIN): p within
    the margin of 0 or 1, where 1 - p has lost digits to rounding and, closer still, torch's
    gradient (p - t) / max(p(1 - p), 1e-12) is clamped and no longer the loss's derivative.
    Finite differences leave those samples out, as they leave kinks."""
    return np.minimum(prob, 1 - prob) < BCE_FD_MARGIN


@contextmanager
def _samples(model: Sequential, keep: np.ndarray) -> Iterator[None]:
    """While checking a sub-batch: dropout layers holding a mask for the whole batch use the rows kept."""
    masked = [layer for layer in model.layers if getattr(layer, "mask", None) is not None]
    whole = [layer.mask for layer in masked]
    try:
        for layer, mask in zip(masked, whole):
            layer.mask = mask[keep]
        yield
    finally:
        for layer, mask in zip(masked, whole):
            layer.mask = mask


def _tensors(model: Sequential, x: np.ndarray) -> dict[str, np.ndarray]:
    """Arrays to perturb in place: each layer's parameters and the input batch."""
    out = {f"{i}.{k}": v for i, layer in enumerate(model.layers) for k, v in layer.params.items()}
    out["input"] = x
    return out


def fd_check(model: Sequential, loss: str, l2: float, x: np.ndarray, target: np.ndarray,
             seed: int = 0, samples: int = FD_SAMPLES) -> FDResult:
    """Richardson-extrapolated central differences along random directions of every
    parameter and of the input; entry by entry only where a direction fails or straddles a kink."""
    x = np.array(x, dtype=np.float64)
    keep = np.ones(len(x), bool)
    with buffers_kept(model):  # each loss evaluation in training mode moves batch norm's running statistics
        if loss == "bce":
            keep = ~_bce_clamped(model.forward(x)).reshape(len(x), -1).any(axis=1)
        with _samples(model, keep):
            result = _fd_check(model, loss, l2, x[keep], np.asarray(target)[keep], seed, samples)
    result.samples_left_out, result.batch = int((~keep).sum()), len(x)
    return result


def _fd_check(model, loss, l2, x, target, seed, samples) -> FDResult:
    result = FDResult()
    if not len(x):
        return result
    value, analytic = total_loss_and_grads(model, loss, l2, x, target)
    rng = np.random.default_rng(seed)
    for name, arr in _tensors(model, x).items():
        got = analytic.get(name)
        if got is None or np.shape(got) != arr.shape:
            problem = (f"analytic gradient has shape {np.shape(got)}, parameter {arr.shape}"
                       if got is not None else "no analytic gradient")
            result.tensors.append(FDTensor(name, 0, 0, np.inf, 0.0, 0.0, (), np.nan, np.nan, problem))
            continue
        grad = np.asarray(got, dtype=np.float64)
        along = _along_directions(model, loss, l2, x, target, name, arr, grad, value, rng)
        if along is not None and along.passed:
            result.tensors.append(along)
            continue
        sampled = _entries(model, loss, l2, x, target, name, arr, grad, value, rng, samples)
        if along is None or not sampled.passed:
            result.tensors.append(sampled)  # kinks everywhere along directions, or the culprit entry found
        else:  # the sampled entries happen to agree: the direction's failure stands
            along.localised = (f"the {sampled.checked} sampled entries agree (worst abs {sampled.max_abs:.1e}); "
                               f"the wrong entries lie elsewhere in the tensor")
            result.tensors.append(along)
    return result


def _floor(value: float, h: float) -> float:
    return FD_FLOOR_ULPS * np.finfo(np.float64).eps * max(abs(value), 1.0) / h


def _along_directions(model, loss, l2, x, target, name, arr, grad, value, rng) -> FDTensor | None:
    """The tensor judged along FD_DIRECTIONS random unit directions; None when a direction
    straddles a kink even at the smallest step."""
    worst, h_min = (0.0, np.nan, np.nan), FD_STEPS[0]
    for _ in range(FD_DIRECTIONS):
        v = rng.standard_normal(arr.shape)
        v /= np.linalg.norm(v)
        fd = next((d for h in FD_STEPS
                   if (d := _derivative(model, loss, l2, x, target, arr, v, h)) is not None), None)
        if fd is None:
            return None
        expected = float(np.sum(grad * v))
        if abs(fd[0] - expected) >= worst[0]:
            worst = (abs(fd[0] - expected), fd[0], expected)
        h_min = min(h_min, fd[1])
    return FDTensor(name, FD_DIRECTIONS, 0, worst[0], float(np.linalg.norm(grad)), _floor(value, h_min),
                    (), worst[1], worst[2], method="directions")


def _entries(model, loss, l2, x, target, name, arr, grad, value, rng, samples) -> FDTensor:
    """The tensor judged at `samples` random entries (all of a small tensor), one by one."""
    picks = np.arange(arr.size) if arr.size <= samples else rng.choice(arr.size, size=samples, replace=False)
    worst, skipped, checked, h_min = (0.0, (), np.nan, np.nan), 0, 0, FD_STEPS[0]
    for flat in picks:
        idx = np.unravel_index(int(flat), arr.shape)
        fd = next((d for h in FD_STEPS
                   if (d := _derivative(model, loss, l2, x, target, arr, idx, h)) is not None), None)
        if fd is None:
            skipped += 1
            continue
        checked += 1
        err = abs(fd[0] - grad[idx])
        if err >= worst[0]:
            worst = (err, tuple(int(i) for i in idx), fd[0], float(grad[idx]))
        h_min = min(h_min, fd[1])
    return FDTensor(name, checked, skipped, worst[0], float(np.max(np.abs(grad))), _floor(value, h_min),
                    worst[1], worst[2], worst[3])


def _derivative(model, loss, l2, x, target, arr, along, h):
    """(d/de L(arr + e v), h) by Richardson-extrapolated central differences, or None if the
    evaluations straddle a kink. `along` is v, a unit-norm array shaped like arr, or the index
    of one entry (v its unit vector: only that entry moves, so sampling stays O(1) per step).
    `arr` is perturbed in place and restored exactly."""
    entry = not isinstance(along, np.ndarray)
    orig = arr[along] if entry else arr.copy()
    values, kinks = {}, []
    try:
        for step in (h, -h, h / 2, -h / 2):
            if entry:
                arr[along] = orig + step
            else:
                np.add(orig, step * along, out=arr)
            values[step], kink = _loss_only(model, loss, l2, x, target)
            kinks.append(kink)
    finally:
        if entry:
            arr[along] = orig
        else:
            arr[...] = orig
    if any(not np.array_equal(kinks[0], k) for k in kinks[1:]):
        return None
    d_h = (values[h] - values[-h]) / (2 * h)
    d_half = (values[h / 2] - values[-h / 2]) / h
    return (4 * d_half - d_h) / 3, h
