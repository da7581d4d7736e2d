"""Do whole training runs agree? Every step teacher-forced (the verdict), and the two
free-running runs side by side (information: where they part and how fast they separate)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nn_crosscheck_common import claim_run_dir
from numpy_impl import functional as NF
from numpy_impl.spec import Activation, ModelSpec

from ..check.compare import Comparison, compare
from ..check.verdict import STEP_LOSS_TOL, STEP_TOL, TRAJ_TOL, agrees
from .lockstep import NumpySide, TrainConfig, train_pair
from .stepcheck import StepRow, step_rows
from .tb_logger import SideBySideLogger

TINY = np.finfo(np.float64).tiny
# the free-running difference is fitted as exponential growth between rounding level and
# this size, beyond which it saturates (the runs are simply different runs by then)
GROWTH_FIT_MAX = 1e-3


class TeacherForcing:
    """Before each step, a probe NumPy side takes torch's parameters and optimizer state; after
    it, the probe's step is compared with torch's. Only the NumPy side's lr is its own."""

    def __init__(self, spec: ModelSpec, state: dict, cfg: TrainConfig) -> None:
        self.probe = NumpySide(spec, state, cfg)
        self.dtype = spec.dtype
        self.errors: list[float] = []        # per step, worst tensor error in steps
        self.loss_rel: list[float] = []      # per step, probe loss vs torch loss
        self.param_gap: list[float] = []     # per step, free-running max rel parameter difference
        self.failed_rows: list[StepRow] = []  # the first failing step's rows, worst first
        self.first_failure: int | None = None
        self._before: dict = {}
        self._loss = np.nan

    def before_step(self, sides, xb, yb, masks) -> None:
        ours, theirs = sides
        self.probe.load_from(theirs)
        self.probe.opt.lr = ours.lr
        if masks is not None:
            self.probe.set_masks(masks)
        self._before = {**theirs.params(), **theirs.opt_state()}
        self._loss = self.probe.step(xb, yb)

    def after_step(self, step, sides, losses) -> None:
        ours, theirs = sides
        expected = {**theirs.params(), **theirs.opt_state()}
        rows = step_rows({**self.probe.params(), **self.probe.opt_state()}, expected, self._before,
                         self.dtype, STEP_TOL[self.dtype], state=frozenset(theirs.opt_state()))
        loss_rel = abs(self._loss - losses["torch"]) / max(abs(losses["torch"]), TINY)
        self.errors.append(max(r.error for r in rows))
        self.loss_rel.append(loss_rel if np.isfinite(loss_rel) else np.inf)
        free = ours.params()
        self.param_gap.append(max(compare(k, free[k], v).max_rel for k, v in theirs.params().items()))
        bad = [r for r in rows if not r.passed(STEP_TOL[self.dtype])]
        if self.first_failure is None and (bad or not agrees(loss_rel, STEP_LOSS_TOL[self.dtype])):
            self.first_failure = step
            self.failed_rows = sorted(bad, key=lambda r: -r.error)


def growth_rate(gap: np.ndarray, floor: float) -> tuple[float, int, int] | None:
    """(factor per step, first, last step of the fit) of exponential growth of the free-running
    difference, fitted by least squares to log(gap) between `floor` and GROWTH_FIT_MAX; None
    when fewer than 5 steps lie in that range (the runs never separate measurably)."""
    steps = np.flatnonzero((gap > floor) & (gap < GROWTH_FIT_MAX) & np.isfinite(gap))
    if steps.size < 5:
        return None
    slope = np.polyfit(steps, np.log(gap[steps]), 1)[0]
    return float(np.exp(slope)), int(steps[0]) + 1, int(steps[-1]) + 1


@dataclass
class TrajectoryResult:
    steps: int
    loss_rel: np.ndarray            # per step |numpy - torch| / |torch|, free-running
    params: list[Comparison]        # free-running, at the end
    tol: dict
    losses: dict
    step_errors: np.ndarray = field(default_factory=lambda: np.zeros(0))  # teacher-forced, in steps
    step_loss_rel: np.ndarray = field(default_factory=lambda: np.zeros(0))
    param_gap: np.ndarray = field(default_factory=lambda: np.zeros(0))
    first_failure: int | None = None
    failed_rows: list = field(default_factory=list)
    dtype: str = "float64"

    @property
    def first_divergent_step(self) -> int | None:
        """Where the free-running runs part (information, not the verdict)."""
        bad = [k for k, rel in enumerate(self.loss_rel) if not agrees(rel, self.tol["loss"])]
        return bad[0] + 1 if bad else None

    @property
    def worst_param(self) -> Comparison:
        return max(self.params, key=lambda c: c.max_rel)

    @property
    def free_finite(self) -> bool:
        return bool(all(np.isfinite(self.losses[s]).all() for s in self.losses)
                    and not any(c.problem for c in self.params))

    @property
    def growth(self) -> tuple[float, int, int] | None:
        return growth_rate(self.param_gap, 16 * np.finfo(self.dtype).eps)

    def divergence_kind(self) -> str:
        """A sudden jump points at one wrong step; smooth growth from rounding level points at
        unstable training amplifying harmless rounding differences."""
        k = self.first_divergent_step
        ours, theirs = self.losses["numpy"][k - 1], self.losses["torch"][k - 1]
        if not (np.isfinite(ours) and np.isfinite(theirs)):
            return (f"the loss is not finite (numpy {ours:.6g}, torch {theirs:.6g}): training diverged, "
                    f"and a diverged run cannot be verified; lower the lr")
        before = self.loss_rel[max(k - 11, 0):k - 1]
        if k == 1 or before.size == 0 or before.max() < self.tol["loss"] * 1e-3:
            return "a jump at this step: the update or the gradient differs here, not rounding"
        return (f"grew smoothly over the steps before: rounding differences amplified by chaotic "
                f"training, not a wrong step")

    @property
    def passed(self) -> bool:
        """Every teacher-forced step agrees and neither free run went non-finite."""
        return self.first_failure is None and self.free_finite

    def summary(self) -> str:
        bar, lbar = STEP_TOL[self.dtype], STEP_LOSS_TOL[self.dtype]
        worst = int(np.argmax(self.step_errors)) if self.step_errors.size else 0
        lines = [f"{self.steps} steps: final loss numpy {self.losses['numpy'][-1]:.10g}, "
                 f"torch {self.losses['torch'][-1]:.10g}",
                 f"teacher-forced (every step from torch's parameters and optimizer state, the verdict): "
                 f"worst {self.step_errors.max():.2e} of a step at step {worst + 1} (bar {bar:g}); "
                 f"loss worst relative {self.step_loss_rel.max():.2e} (bar {lbar:g})"]
        lines += self._free_lines()
        if self.first_failure is not None:
            k = self.first_failure
            rel = self.step_loss_rel[k - 1]
            lines.append(f"step {k} FAILED when both sides start from the same state: loss relative "
                         + (f"{rel:.2e}" if np.isfinite(rel) else "inf (a non-finite loss: nothing to verify)"))
            lines += [f"  {r.describe()}" for r in self.failed_rows[:6]]
        if not self.free_finite:
            lines.append("the free-running runs are not finite: a diverged run cannot be verified; lower the lr")
        lines.append("PASS" if self.passed else "FAIL")
        return "\n".join(lines)

    def _free_lines(self) -> list[str]:
        worst = self.worst_param
        k = self.first_divergent_step
        part = (f"part at step {k} (loss relative {self.loss_rel[k - 1]:.2e} > {self.tol['loss']:g}: "
                f"{self.divergence_kind()})" if k else f"never part (loss within {self.tol['loss']:g})")
        g = self.growth
        rate = (f"difference grows x{g[0]:.4f} per step (fitted on steps {g[1]}-{g[2]}"
                + (f", x10 every {np.log(10) / np.log(g[0]):.0f} steps)" if g[0] > 1 else ")")
                if g else "difference stays at rounding level (no growth to fit)")
        return [f"free-running (information): runs {part}",
                f"  {rate}; parameters at the end: worst {worst.describe()}"]


def run_name(spec: ModelSpec, cfg: TrainConfig) -> str:
    """train-<model>-<optimizer>-<activations>-<dtype>, e.g. train-D-adam-tanh-float64: what tells
    two runs of one model apart in TensorBoard's run list."""
    acts = sorted({layer.name for layer in spec.layers if isinstance(layer, Activation)}) or ["linear"]
    return f"train-{spec.name}-{cfg.optim.kind}-{'+'.join(acts)}-{spec.dtype}"


def check_trajectory(spec: ModelSpec, x, y, cfg: TrainConfig, steps: int,
                     logdir: str | None = None) -> TrajectoryResult:
    """Train both sides `steps` steps, teacher-forcing a NumPy probe at every step; with logdir,
    also write a TensorBoard run of each."""
    if steps < 1:
        raise ValueError(f"steps: must be >= 1, got {steps}")
    x = np.asarray(x, dtype=spec.dtype)
    y = y if spec.loss in NF.LABEL_LOSSES else np.asarray(y, dtype=spec.dtype)
    logger = None
    if logdir:
        logger = SideBySideLogger(claim_run_dir(logdir, run_name(spec, cfg)), spec, x[:64])
        print(f"TensorBoard: {logger.dir}/numpy and {logger.dir}/torch")
    from numpy_impl.init import init_state
    from .lockstep import make_sides
    state = init_state(spec, cfg.seed)
    sides = make_sides(spec, cfg, state)
    teacher = TeacherForcing(spec, state, cfg)

    def on_step(step, epoch, sides_, idx, losses):
        teacher.after_step(step, sides_, losses)
        if logger:
            logger.on_step(step, epoch, sides_, idx, losses)

    # a run that blows up overflows on the way; the verdict names the first non-finite step, so
    # NumPy's overflow warnings would only repeat it, as tracebacky noise on stderr
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        traj = train_pair(spec, x, y, cfg, steps, on_step, sides=sides, before_step=teacher.before_step)
    if logger:
        logger.close()
    a, b = np.array(traj.losses["numpy"]), np.array(traj.losses["torch"])
    with np.errstate(invalid="ignore"):
        rel = np.abs(a - b) / np.maximum(np.abs(b), TINY)
    rel[~np.isfinite(rel)] = np.inf
    params = [compare(k, traj.final["numpy"][k], v) for k, v in traj.final["torch"].items()]
    return TrajectoryResult(steps, rel, params, TRAJ_TOL[spec.dtype], traj.losses,
                            np.array(teacher.errors), np.array(teacher.loss_rel), np.array(teacher.param_gap),
                            teacher.first_failure, teacher.failed_rows, spec.dtype)
