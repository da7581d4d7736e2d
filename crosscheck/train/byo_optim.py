"""Bring your own update rule: per-layer step(lr) methods, a functional update(params, grads,
lr), or an optimizer object with step(grads), each replayed against torch.optim.

Each adapter returns (start, rule_step): the parameters as a dict keyed like '0.W', and
rule_step(grads, lr) -> the parameters after one step of the user's rule. User code is foreign:
it gets copies of the gradients, and whatever it raises names the user's line (exit 3)."""
from __future__ import annotations

from typing import Callable

import numpy as np

from numpy_impl.optim_spec import OptimSpec

from ..check.user_code import UserCodeError, call_user
from .replay import ReplayResult, replay


def _as_float(value, what: str) -> np.ndarray:
    arr = np.asarray(value)
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"{what}: parameters must be float arrays, got {arr.dtype}")
    return arr


def _as_list(value, name: str, of: str) -> list:
    if isinstance(value, (list, tuple)) and value:
        return list(value)
    raise ValueError(f"{name}: must be a non-empty list of {of}, got {_kind(value)}")


def _kind(value) -> str:
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)}"
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiouAEIOU' else 'a'} {name}"


def _like_params(new, shape: list[int], what: str) -> list[tuple]:
    """The user's returned parameters, if laid out like the ones it was given (a list of
    groups of arrays); a UserCodeError saying what came back otherwise."""
    ok = isinstance(new, (list, tuple)) and [len(g) if isinstance(g, (list, tuple)) else -1 for g in new] == shape
    if not ok:
        layout = ", ".join(f"({n} arrays)" for n in shape)
        raise UserCodeError(f"{what} returned {_kind(new)}; expected None (updated in place) or a list "
                            f"laid out like params: [{layout}]")
    for i, group in enumerate(new):
        for j, a in enumerate(group):
            if not (isinstance(a, np.ndarray) or np.isscalar(a)) or not np.issubdtype(np.asarray(a).dtype, np.number):
                raise UserCodeError(f"{what} returned {type(a).__name__} at [{i}][{j}]; expected an array")
    return [tuple(group) for group in new]


def layer_rule(layers: list, params=("W", "b"), grads=("dW", "db"), method: str = "step"):
    """Layer objects holding parameters `params` and gradients `grads` as attributes, with a
    `method`(lr) that updates them; layers without those attributes are skipped."""
    layers = _as_list(layers, "layers", "layer objects")
    owners = [(i, layer) for i, layer in enumerate(layers) if all(hasattr(layer, n) for n in params)]
    if not owners:
        raise ValueError(f"layers: none has attributes {', '.join(params)}")
    for i, layer in owners:
        if not callable(getattr(layer, method, None)):
            raise ValueError(f"layers: layer {i} ({type(layer).__name__}) has no method {method}(lr); "
                             f"name its update method with method=")

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
    if not callable(update):
        raise ValueError(f"update: must be a function update(params, grads, lr), got {type(update).__name__}")
    params = _as_list(params, "params", "tuples of arrays, e.g. [(W1, b1), (W2, b2)]")
    state = {"params": [tuple(np.array(_as_float(a, f"params[{i}][{j}]")) for j, a in enumerate(_as_list(
        group, f"params[{i}]", "arrays"))) for i, group in enumerate(params)]}
    shape = [len(group) for group in state["params"]]

    def read() -> dict:
        return {f"{i}.{j}": np.asarray(a, dtype=np.float64) for i, group in enumerate(state["params"])
                for j, a in enumerate(group)}

    what = f"{getattr(update, '__name__', 'update')}(params, grads, lr)"

    def rule_step(g: dict, lr: float) -> dict:
        grads = [tuple(g[f"{i}.{j}"].copy() for j in range(len(group))) for i, group in enumerate(state["params"])]
        new = call_user(what, update, state["params"], grads, lr)
        if new is not None:
            state["params"] = _like_params(new, shape, what)
        return read()
    return read(), rule_step


def optimizer_rule(make: Callable, start: dict):
    """make(params dict) -> optimizer with step(grads), or (optimizer, scheduler) whose
    scheduler.step() follows every step; the optimizer keeps its own lr and schedule."""
    params = {k: np.array(v, dtype=np.float64) for k, v in start.items()}
    if not callable(make):
        raise ValueError(f"make: must be a function make(params) -> optimizer, got {type(make).__name__}")
    made = call_user("making the optimizer", make, params)
    opt, sched = made if isinstance(made, tuple) and len(made) == 2 else (made, None)
    for name, obj, call in (("optimizer", opt, "step(grads)"), ("scheduler", sched, "step()")):
        if obj is not None and not callable(getattr(obj, "step", None)):
            raise UserCodeError(f"making the optimizer returned {_kind(obj)} as its {name}, "
                                f"without a method {call}")

    def rule_step(g: dict, lr: float) -> dict:
        call_user(f"{type(opt).__name__}.step", opt.step, g)
        if sched is not None:
            call_user(f"{type(sched).__name__}.step", sched.step)
        return {k: v.copy() for k, v in params.items()}
    return {k: v.copy() for k, v in params.items()}, rule_step


def check_rule(spec: OptimSpec, adapted, steps: int = 10, seed: int = 0) -> ReplayResult:
    """Replay an adapted rule (start, rule_step) against torch.optim as `spec` describes it."""
    if not isinstance(spec, OptimSpec):
        raise ValueError(f"spec: must be an OptimSpec, got {type(spec).__name__}")
    if not (isinstance(adapted, tuple) and len(adapted) == 2 and isinstance(adapted[0], dict)
            and callable(adapted[1])):
        raise ValueError(f"rule: must be what layer_rule, functional_rule or optimizer_rule return, "
                         f"got {type(adapted).__name__}")
    if not (isinstance(steps, int) and steps >= 1):
        raise ValueError(f"steps: must be a whole number >= 1, got {steps}")
    start, rule_step = adapted
    return replay(spec, rule_step, start, steps, seed)
