"""Run each study for the CLI: print its table, write its plots and TensorBoard runs."""
from __future__ import annotations

import os

from nn_crosscheck_common import claim_run_dir

from ..train.tb_logger import SideBySideLogger
from . import classifiers, depth as depth_study, plots, stress as stress_study
from .descent import DEFAULT_DECAY, DEFAULT_ETA0, DEFAULT_STEPS, descend
from .records import SIDES

STUDIES = ("depth", "stress", "descent", "moons", "digits")


def _logger_for(args, study: str):
    """A factory of side-by-side TensorBoard loggers, one run per trained model."""
    if args.no_tb:
        return None

    def make(label, spec, probe):
        return SideBySideLogger(claim_run_dir(args.logdir, f"{study}-{label}"), spec, probe)
    return make


def _plot(path: str) -> None:
    print(f"plot: {path}")


def depth(args) -> None:
    print("== depth x activation: full-batch GD, lr 0.01, U(-0.5, 0.5); gradient norms at init ==")
    res = depth_study.depth_study(args.seed, args.epochs or 1000, logger_for=_logger_for(args, "depth"))
    print("\n".join(depth_study.depth_table(res)))
    curves = {f"{m} {a}": {s: rec[s].losses for s in SIDES} for (m, a), rec in res.items()}
    _plot(plots.loss_curves(curves, os.path.join(args.plots, "depth_loss.png"), "depth study"))
    norms = {f"{m} {a}": rec["numpy"].init_norms for (m, a), rec in res.items()}
    _plot(plots.grad_norms(norms, os.path.join(args.plots, "depth_grad_norms.png"), "depth study"))


def stress(args) -> None:
    print("== structural stress test ==")
    cfg, runs = stress_study.stress_study(args.roll, args.seed, args.epochs or 400,
                               logger_for=_logger_for(args, "stress"), keep_weights=args.keep_weights)
    print("\n".join(stress_study.stress_table(cfg, runs)))
    print("\n".join(stress_study.companion_arithmetic()))
    curves = {k: {s: rec[s].losses for s in SIDES} for k, rec in runs.items()}
    _plot(plots.loss_curves(curves, os.path.join(args.plots, "stress_loss.png"), cfg.describe()[:60]))
    norms = {k: rec["numpy"].init_norms for k, rec in runs.items()}
    _plot(plots.grad_norms(norms, os.path.join(args.plots, "stress_grad_norms.png"), "stress test"))


def descent(args) -> None:
    eta0, decay = args.lr or DEFAULT_ETA0, args.decay or DEFAULT_DECAY
    steps = args.steps or DEFAULT_STEPS
    print(f"== gradient descent on f from (3, 2): eta_t = {eta0:g} * {decay:g}^t, {steps} steps ==")
    res = descend(eta0, decay, steps)
    x, y, fv = res.final
    gap = abs(res.path_numpy - res.path_torch).max()
    print(f"hand-written vs autograd gradient: worst difference {res.grad_error:.1e} along the path")
    print(f"end: numpy ({x:.6f}, {y:.6f}) f = {fv:.6f}; torch ({res.path_torch[-1][0]:.6f}, "
          f"{res.path_torch[-1][1]:.6f}); paths differ by at most {gap:.1e}")
    print("reached the global minimum region (f < -2)" if fv < -2 else "did NOT reach f < -2")
    _plot(plots.descent_path(res, os.path.join(args.plots, "descent_path.png")))


def _classifiers(args, names, study: str) -> None:
    for name in names:
        spec, run, sides, (x, y, tr, te) = classifiers.classifier_study(
            name, args.seed, args.epochs or 25, logger_for=_logger_for(args, study))
        print("\n".join(classifiers.classifier_table(name, run)))
        curves = {"train": {s: [e["train_loss"] for e in run[s].epochs] for s in SIDES},
                  "test": {s: [e["test_loss"] for e in run[s].epochs] for s in SIDES}}
        _plot(plots.loss_curves(curves, os.path.join(args.plots, f"{name}_loss.png"), name))
        if x.shape[1] == 2:
            _plot(plots.decision_boundary(sides[0].predict, x[te], y[te],
                                          os.path.join(args.plots, f"{name}_boundary.png"),
                                          f"{name}: numpy model, test half"))


def moons(args) -> None:
    print("== moons and circles: 2 -> 16 tanh -> 2, softmax CE + L2, SGD lr 0.1, batch 10 ==")
    _classifiers(args, ("moons", "circles"), "moons")


def digits(args) -> None:
    print("== digits (< 5 vs >= 5): BCE, SGD lr 0.05, batch 10 ==")
    _classifiers(args, ("digits", "digits_logistic", "digits_linear2", "digits_linear4"), "digits")
