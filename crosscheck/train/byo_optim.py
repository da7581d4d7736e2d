"""Bring your own update rule: per-layer step(lr) methods, a functional update(params, grads,
lr), or an optimizer object with step(grads), each replayed against torch.optim.

Each adapter returns (start, rule_step): the parameters as a dict keyed like '0.W', and
rule_step(grads, lr) -> the parameters after one step of the user's rule. User code is foreign:
it gets copies of the gradients, and whatever it raises names the user's line (exit 3)."""
from __future__ import annotations

from typing import Callable

import numpy as np

from numpy_impl.optim_spec import OptimSpec

from ..check.user_code import call_user
from .replay import ReplayResult, replay


def _as_float(value, what: str) -> np.ndarray:
    arr = np.asarray(value)
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"{what}: parameters must be float arrays, got {arr.dtype}")
    return arr


def layer_rule(layers: list, params=("W", "b"), grads=("dW", "db"), method: str = "step"):
    """Layer objects holding parameters `params` and gradients `grads` as attributes, with a
    `method`(lr) that updates them; layers without those attributes are skipped."""
    owners = [(i, layer) for i, layer in enumerate(layers) if all(hasattr(layer, n) for n in params)]
    if not owners:
        raise ValueError(f"layers: none has attributes {', '.join(params)}")

    def read() -> dict:
        return {f"{i}.{n}": _as_float(getattr(layer, n), f"layer {i}.{n}").astype(np.float64)
                for i, layer in owners for n in params}

    def rule_step(g: dict, lr: float) -> dict:
        for i, layer in owners:
            for n, gn in zip(params, grads):
                setattr(layer, gn, g[f"{i}.{n}"].copy())
            call_user(f"layer {i} ({type(layer).__name__}).{method}", getattr(layer, method), lr)
        return read()
    return read(), rule_step


def functional_rule(update: Callable, params: list):
    """update(params, grads, lr) over a list of tuples of arrays (e.g. [(W, b), ...]); it may
    return the new list or update the arrays in place and return None."""
    state = {"params": [tuple(np.array(_as_float(a, f"params[{i}][{j}]")) for j, a in enumerate(group))
                        for i, group in enumerate(params)]}

    def read() -> dict:
        return {f"{i}.{j}": np.asarray(a, dtype=np.float64) for i, group in enumerate(state["params"])
                for j, a in enumerate(group)}

    def rule_step(g: dict, lr: float) -> dict:
        grads = [tuple(g[f"{i}.{j}"].copy() for j in range(len(group))) for i, group in enumerate(state["params"])]
        new = call_user(f"{getattr(update, '__name__', 'update')}(params, grads, lr)", update,
                        state["params"], grads, lr)
        if new is not None:
            state["params"] = [tuple(group) for group in new]
        return read()
    return read(), rule_step


def optimizer_rule(make: Callable, start: dict):
    """make(params dict) -> optimizer with step(grads), or (optimizer, scheduler) whose
    scheduler.step() follows every step; the optimizer keeps its own lr and schedule."""
    params = {k: np.array(v, dtype=np.float64) for k, v in start.items()}
    made = call_user("making the optimizer", make, params)
    opt, sched = made if isinstance(made, tuple) else (made, None)

    def rule_step(g: dict, lr: float) -> dict:
        call_user(f"{type(opt).__name__}.step", opt.step, g)
        if sched is not None:
            call_user(f"{type(sched).__name__}.step", sched.step)
        return {k: v.copy() for k, v in params.items()}
    return {k: v.copy() for k, v in params.items()}, rule_step


def check_rule(spec: OptimSpec, adapted, steps: int = 10, seed: int = 0) -> ReplayResult:
    """Replay an adapted rule (start, rule_step) against torch.optim as `spec` describes it."""
    if steps < 1:
        raise ValueError(f"steps: must be >= 1, got {steps}")
    start, rule_step = adapted
    return replay(spec, rule_step, start, steps, seed)
