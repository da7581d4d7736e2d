"""Depth x activation: full-batch gradient descent on the regression presets A-D."""
from __future__ import annotations

from numpy_impl import OptimSpec

from ..presets import PRESETS, regression_data
from ..train.lockstep import TrainConfig
from .records import SIDES, loss_at, pair, run_both

DEPTH_MODELS = (("A", "relu"), ("B", "relu"), ("C", "relu"), ("D", "relu"), ("D", "sigmoid"))


def depth_study(seed: int = 0, epochs: int = 1000, lr: float = 0.01, logger_for=None):
    """Full-batch gradient descent on the regression presets; returns {(model, act): records}."""
    x, y = regression_data()
    out = {}
    for name, act in DEPTH_MODELS:
        spec = PRESETS[name].make_spec(act)
        logger = logger_for(f"{name}-{act}", spec, x) if logger_for else None
        out[(name, act)] = run_both(spec, x, y, TrainConfig(OptimSpec("sgd", lr), seed=seed), epochs, logger)[0]
        if logger:
            logger.close()
    return out


def depth_table(results) -> list[str]:
    lines = [f"{'model':<6}{'act':<9}{'loss@200 (numpy | torch)':<28}{'final loss':<28}"
             f"{'|dW first| at init':<28}{'|dW last hidden| at init':<28}"]
    for (name, act), rec in results.items():
        first = {s: list(rec[s].init_norms.values())[0] for s in SIDES}
        last = {s: list(rec[s].init_norms.values())[-2] for s in SIDES}
        final = loss_at(rec, len(rec["numpy"].losses))
        lines.append(f"{name:<6}{act:<9}{pair(loss_at(rec, 200)):<28}{pair(final):<28}"
                     f"{pair(first, '{:.4e}'):<28}{pair(last, '{:.4e}'):<28}")
    return lines
