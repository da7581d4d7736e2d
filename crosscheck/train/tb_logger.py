"""TensorBoard summaries for side-by-side training: runs/<run>/numpy and runs/<run>/torch with the
same tags (nn_crosscheck_common.tags, shared with the MNIST trainer) so the curves overlay, and
runs/<run>/divergence with how far apart the two sides are, log-scaled (the loss's as a running
maximum, so that it reads as a line). Charts carry descriptions, and the custom-scalars layout
puts the two sides' losses on one chart."""
from __future__ import annotations

import math
import os
from collections import deque

import numpy as np

from nn_crosscheck_common import tags as T
from nn_crosscheck_common.tb_views import SIDE_BY_SIDE_LAYOUT, DescribedScalars, layout_summary
from numpy_impl.spec import ModelSpec

from ..check.compare import compare
from .diagnostics import gradient_ratio_index

SIDES = ("numpy", "torch")


def log10_rel(rel: float) -> float:
    """log10 of a relative difference: DIVERGENCE_FLOOR for an exact match, DIVERGENCE_CEIL for
    NaN or infinity (a side that blew up must show as the worst divergence, not as none)."""
    if not math.isfinite(rel):
        return T.DIVERGENCE_CEIL
    return max(math.log10(rel), T.DIVERGENCE_FLOOR) if rel > 0 else T.DIVERGENCE_FLOOR


class SideBySideLogger:
    """Writes loss, lr, GRI, per-layer statistics and health of both sides, and their divergence.

    Loss and loss divergence every step; the rest every `every` steps and at step 1, histograms
    every `hist_every` steps and at step 1; activations come from a fixed probe batch."""

    def __init__(self, run_dir: str | os.PathLike, spec: ModelSpec, probe: np.ndarray,
                 every: int = 10, hist_every: int = 100) -> None:
        # tensorboard's event-file writer takes about a second to import: only runs that log pay
        from torch.utils.tensorboard import SummaryWriter
        self.dir = str(run_dir)
        self.writers = {side: SummaryWriter(os.path.join(self.dir, side))
                        for side in (*SIDES, "divergence")}
        self.described = {side: DescribedScalars() for side in self.writers}
        self.loss_window: deque[float] = deque(maxlen=T.DIVERGENCE_WINDOW)  # raw log10 divergences
        self.writers["divergence"]._get_file_writer().add_summary(layout_summary(SIDE_BY_SIDE_LAYOUT), 0)
        self.spec, self.probe, self.every, self.hist_every = spec, probe, every, hist_every
        self.groups = T.layer_groups(T.spec_kinds(spec))
        self.params = T.param_groups(spec)

    def scalar(self, side: str, tag: str, value: float, step: int) -> None:
        self.scalars(side, {tag: value}, step)

    def scalars(self, side: str, values: dict[str, float], step: int) -> None:
        """Scalars of one step on one side's writer; a tag's first point carries its description."""
        self.writers[side]._get_file_writer().add_summary(self.described[side].summary(values), step)

    def on_step(self, step: int, epoch: int, sides, idx, losses: dict[str, float]) -> None:
        self.log_losses(step, losses)
        if step % self.every and step != 1:
            return
        for side in sides:
            self._log_side(side, step, hist=step % self.hist_every == 0 or step == 1)
        if len(sides) == 2:
            a, b = (s.params() for s in sides)
            worst = max(compare(k, a[k], b[k]).max_rel for k in b)
            self.scalar("divergence", T.DIVERGENCE_PARAMS, log10_rel(worst), step)

    def _log_side(self, side, step: int, hist: bool) -> None:
        w = self.writers[side.name]
        values = {T.TRAIN_GRI: gradient_ratio_index(self.spec, side.grads), T.TRAIN_LR: side.lr}
        tensors = {}
        for key, value in side.params().items():
            if key not in self.params:  # running statistics: compared every step, not plotted
                continue
            group, kind = self.params[key]
            tensors[f"{group}/{kind}"] = value
            if kind == "weight":
                values[f"{group}/grad_norm"] = float(np.linalg.norm(side.grads[key]))
        for tag, value in tensors.items():
            values.update({f"{tag}/{name}": v for name, v in T.stats(value).items()})
        acts = side.activations(self.probe)
        for (kind, act), (group, role), out in zip(T.spec_kinds(self.spec), self.groups, acts):
            if role is None:
                continue
            values.update(T.layer_tags(group, role, act, out))
            tensors[f"{group}/{role}"] = out
        self.scalars(side.name, values, step)
        if hist:
            for tag, value in tensors.items():
                w.add_histogram(tag, value, step)

    def log_losses(self, step: int, losses: dict[str, float]) -> None:
        """Each side's loss, and the loss divergence as its maximum over the last DIVERGENCE_WINDOW steps."""
        for side, value in losses.items():
            self.scalar(side, T.TRAIN_LOSS, value, step)
        if set(losses) == set(SIDES):
            a, b = losses["numpy"], losses["torch"]
            rel = abs(a - b) / max(abs(b), np.finfo(np.float64).tiny)
            self.loss_window.append(log10_rel(rel))
            self.scalar("divergence", T.DIVERGENCE_LOSS, max(self.loss_window), step)

    def close(self) -> None:
        for w in self.writers.values():
            w.close()
