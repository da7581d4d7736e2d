"""TensorBoard summaries for side-by-side training: runs/<run>/numpy and runs/<run>/torch,
with the same tags on both sides so the curves overlay."""
from __future__ import annotations

import os

import numpy as np

from numpy_impl.spec import Activation, ModelSpec

from .diagnostics import gradient_ratio_index, unit_health, weight_grad_norms


def stats(a: np.ndarray) -> dict[str, float]:
    return {"mean": float(a.mean()), "std": float(a.std()), "min": float(a.min()), "max": float(a.max())}


class SideBySideLogger:
    """Writes loss, gradient norms, GRI and per-layer statistics of both sides.

    Scalars every `every` steps, histograms every `hist_every` steps; activation statistics
    come from a fixed probe batch so they are comparable across steps."""

    def __init__(self, run_dir: str | os.PathLike, spec: ModelSpec, probe: np.ndarray,
                 every: int = 10, hist_every: int = 100) -> None:
        # tensorboard's event-file writer takes about a second to import: only runs that log pay
        from torch.utils.tensorboard import SummaryWriter
        self.dir = str(run_dir)
        self.writers = {side: SummaryWriter(os.path.join(self.dir, side)) for side in ("numpy", "torch")}
        self.spec, self.probe, self.every, self.hist_every = spec, probe, every, hist_every

    def scalar(self, side: str, tag: str, value: float, step: int) -> None:
        self.writers[side].add_scalar(tag, value, step)

    def on_step(self, step: int, epoch: int, sides, idx, losses: dict[str, float]) -> None:
        self.log_losses(step, losses)
        if step % self.every and step != 1:
            return
        for side in sides:
            self._log_side(side, step, hist=step % self.hist_every == 0 or step == 1)

    def _log_side(self, side, step: int, hist: bool) -> None:
        w = self.writers[side.name]
        norms = weight_grad_norms(self.spec, side.grads)
        for key, norm in norms.items():
            w.add_scalar(f"grad_norm/{key}", norm, step)
        w.add_scalar("gri", gradient_ratio_index(self.spec, side.grads), step)
        w.add_scalar("lr", side.lr, step)
        tensors = {}
        for key, value in side.params().items():
            kind = "weights" if key.endswith("weight") else "biases"
            tensors[f"{kind}/{key}"] = value
        acts = side.activations(self.probe)
        for i, (layer, out) in enumerate(zip(self.spec.layers, acts)):
            kind = "activations" if isinstance(layer, Activation) else "preactivations"
            tensors[f"{kind}/{i}"] = out
        for tag, value in tensors.items():
            for name, v in stats(value).items():
                w.add_scalar(f"{tag}/{name}", v, step)
            if hist:
                w.add_histogram(tag, value, step)
        for health in unit_health(self.spec, acts):
            w.add_scalar(f"dead_fraction/{health.layer}", health.dead, step)
            w.add_scalar(f"saturated_fraction/{health.layer}", health.saturated, step)

    def log_losses(self, step: int, losses: dict[str, float], prefix: str = "loss") -> None:
        for side, value in losses.items():
            self.writers[side].add_scalar(prefix, value, step)

    def close(self) -> None:
        for w in self.writers.values():
            w.close()
