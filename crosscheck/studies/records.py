"""What a study keeps of each side's training run, and how its tables print a numpy | torch pair."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from numpy_impl.spec import ModelSpec

from ..train.diagnostics import gradient_ratio_index, weight_grad_norms
from ..train.lockstep import TrainConfig, make_sides, train_pair

SIDES = ("numpy", "torch")


@dataclass
class RunRecord:
    """What one side did in one training run."""
    losses: list[float] = field(default_factory=list)
    init_norms: dict[str, float] = field(default_factory=dict)  # weight-gradient norms at step 1
    init_gri: float = float("nan")
    final_gri: float = float("nan")
    gri: list[float] = field(default_factory=list)  # every step

    @property
    def mean_gri(self) -> float:
        """Geometric mean of the GRI over the run (the GRI spans decades, and one step's
        value is noisy where every gradient is tiny)."""
        return float(np.exp(np.mean(np.log(self.gri)))) if self.gri else float("nan")
    epochs: list[dict] = field(default_factory=list)  # classifier metrics per epoch


def run_both(spec: ModelSpec, x, y, cfg: TrainConfig, steps: int, logger=None, state=None,
             on_epoch=None) -> dict[str, RunRecord]:
    """Train both sides; keep losses, gradient norms and GRI at the first and last step."""
    records = {s: RunRecord() for s in SIDES}

    def on_step(step, epoch, sides, idx, losses):
        if logger:
            logger.on_step(step, epoch, sides, idx, losses)
        for side in sides:
            rec = records[side.name]
            rec.gri.append(gradient_ratio_index(spec, side.grads))
            if step == 1:
                rec.init_norms = weight_grad_norms(spec, side.grads)
                rec.init_gri = rec.gri[0]
            if step == steps:
                rec.final_gri = rec.gri[-1]

    sides = make_sides(spec, cfg, state)
    traj = train_pair(spec, x, y, cfg, steps, on_step, sides, on_epoch)
    for name in SIDES:
        records[name].losses = traj.losses[name]
    return records, sides


def loss_at(rec: dict[str, RunRecord], epoch: int) -> dict[str, float]:
    """Each side's loss at a 1-based epoch (the last one if the run was shorter)."""
    return {s: rec[s].losses[min(epoch, len(rec[s].losses)) - 1] for s in SIDES}


def pair(values: dict[str, float], fmt: str = "{:.6g}") -> str:
    return " | ".join(fmt.format(values[s]) for s in SIDES)
