"""Do whole training runs agree? Loss at every step and all parameters at the end."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from common import claim_run_dir
from numpy_impl.spec import ModelSpec

from ..check.compare import Comparison, compare
from ..check.verdict import TRAJ_TOL, agrees
from .lockstep import TrainConfig, train_pair
from .tb_logger import SideBySideLogger

@dataclass
class TrajectoryResult:
    steps: int
    loss_rel: np.ndarray            # per step |numpy - torch| / |torch|
    params: list[Comparison]
    tol: dict
    losses: dict

    @property
    def first_divergent_step(self) -> int | None:
        bad = [k for k, rel in enumerate(self.loss_rel) if not agrees(rel, self.tol["loss"])]
        return bad[0] + 1 if bad else None

    @property
    def worst_param(self) -> Comparison:
        return max(self.params, key=lambda c: c.max_rel)

    def divergence_kind(self) -> str:
        """A sudden jump points at one wrong step; smooth exponential growth from rounding
        level points at unstable training amplifying harmless rounding differences."""
        k = self.first_divergent_step
        ours, theirs = self.losses["numpy"][k - 1], self.losses["torch"][k - 1]
        if not (np.isfinite(ours) and np.isfinite(theirs)):
            return (f"the loss is not finite (numpy {ours:.6g}, torch {theirs:.6g}): training diverged, "
                    f"and a diverged run cannot be verified; lower the lr")
        before = self.loss_rel[max(k - 11, 0):k - 1]
        if k == 1 or before.size == 0 or before.max() < self.tol["loss"] * 1e-3:
            return "a jump at this step: the update or the gradient differs here, not rounding"
        grow = self.loss_rel[k - 1] / max(before[0], np.finfo(np.float64).tiny)
        return (f"grew smoothly by {grow:.0e} over the {before.size} steps before: rounding differences "
                f"amplified by unstable training (try a smaller lr), not a wrong step")

    @property
    def passed(self) -> bool:
        return self.first_divergent_step is None and all(c.passed(self.tol["params"]) for c in self.params)

    def summary(self) -> str:
        worst = self.worst_param
        lines = [f"{self.steps} steps: final loss numpy {self.losses['numpy'][-1]:.10g}, "
                 f"torch {self.losses['torch'][-1]:.10g}",
                 f"loss: worst relative difference {self.loss_rel.max():.2e} at step "
                 f"{int(self.loss_rel.argmax()) + 1} (bar {self.tol['loss']:g})",
                 f"parameters at the end: worst {worst.describe()} (bar {self.tol['params']:g})"]
        if self.first_divergent_step is not None:
            k = self.first_divergent_step
            lines.append(f"DIVERGED at step {k}: loss numpy {self.losses['numpy'][k - 1]:.10g} vs torch "
                         f"{self.losses['torch'][k - 1]:.10g} (relative {self.loss_rel[k - 1]:.2e})")
            lines.append(f"  {self.divergence_kind()}")
        lines.append("PASS" if self.passed else "FAIL")
        return "\n".join(lines)


def check_trajectory(spec: ModelSpec, x, y, cfg: TrainConfig, steps: int,
                     logdir: str | None = None) -> TrajectoryResult:
    """Train both sides `steps` steps; with logdir, also write a TensorBoard run of each."""
    if steps < 1:
        raise ValueError(f"steps: must be >= 1, got {steps}")
    x = np.asarray(x, dtype=spec.dtype)
    y = y if spec.loss == "softmax_ce" else np.asarray(y, dtype=spec.dtype)
    logger = None
    if logdir:
        logger = SideBySideLogger(claim_run_dir(logdir, f"train-{spec.name}-{cfg.opt}"), spec, x[:64])
        print(f"TensorBoard: {logger.dir}/numpy and {logger.dir}/torch")
    traj = train_pair(spec, x, y, cfg, steps, logger.on_step if logger else None)
    if logger:
        logger.close()
    a, b = np.array(traj.losses["numpy"]), np.array(traj.losses["torch"])
    rel = np.abs(a - b) / np.maximum(np.abs(b), np.finfo(np.float64).tiny)
    params = [compare(k, traj.final["numpy"][k], v) for k, v in traj.final["torch"].items()]
    return TrajectoryResult(steps, rel, params, TRAJ_TOL[spec.dtype], traj.losses)
