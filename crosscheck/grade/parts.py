"""Grade one part of one submission with the project's own checks: a layer or loss part with
byo.functional (a two-layer net) or byo.cnn (a CNN), a whole program with byo.program, an update
rule with the optimizer replay against torch.optim. The student's functions stand in for their
part only; every other layer is the reference's (reference_fns), so a part is graded alone.

This runs in the checker (checker.py), which never imports the student's code: `namespace`
holds proxies that call the student's functions in their sandboxed process (proxy.py)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from numpy_impl.optim_spec import OptimSpec

from ..check import byo
from ..check import report
from ..check.user_code import ForeignError, UserCodeError, call_user, refused_on_purpose
from ..train.byo_optim import check_rule, optimizer_rule
from . import reference_fns
from .assignment import Assignment, Network, Part

REPLAY_STEPS = 10  # update rule: steps replayed against torch.optim from identical gradients


@dataclass(frozen=True)
class PartOutcome:
    """What one part earned and why, in plain words. status: passed, failed (the check found a
    difference), error (the student's code raised), missing (not defined), or the sandbox's
    own: timeout, memory, cpu, processes, exited, crashed, not run."""
    part: str
    points: float
    max_points: float
    status: str
    feedback: str
    slip: str = ""   # the named slip ("extra 1/N", ...) of the first wrong quantity, "" when none

    def to_json(self) -> dict:
        return {"part": self.part, "points": self.points, "max_points": self.max_points, "status": self.status,
                "feedback": self.feedback, "slip": self.slip}

    @staticmethod
    def from_json(d: dict) -> "PartOutcome":
        return PartOutcome(d["part"], float(d["points"]), float(d["max_points"]), d["status"], d["feedback"],
                           d.get("slip", ""))


def zero(part: Part, status: str, feedback: str) -> PartOutcome:
    return PartOutcome(part.name, 0.0, float(part.points), status, feedback)


def grade_part(assignment: Assignment, part: Part, namespace: dict) -> PartOutcome:
    """Check `part` in the student's `namespace` (their file's globals)."""
    missing = [n for n in part.functions if not callable(namespace.get(n))]
    if missing:
        return zero(part, "missing", f"{missing[0]} is not defined in your submission")
    try:
        if part.kind == "update":
            return _update(part, namespace)
        result = byo.check(_model(assignment, part, namespace), fd=False)
    except UserCodeError as err:
        if _caused_by(err, MemoryError):
            return zero(part, "memory", f"used more than {assignment.limits.memory_mib} MiB: {err}")
        return zero(part, "error", f"your code raised: {err}")
    except (ValueError, TypeError) as err:
        if not refused_on_purpose(err):
            raise
        return zero(part, "failed", f"what your code returned could not be checked: {err}")
    if result.passed:
        return PartOutcome(part.name, float(part.points), float(part.points), "passed", "matches the reference")
    return _failed(part, result)


def _caused_by(err: BaseException, kind: type) -> bool:
    """Is `kind` among the causes of `err` (raised here, or in the student's process)?"""
    while err is not None:
        if isinstance(err, kind) or (isinstance(err, ForeignError) and err.type_name == kind.__name__):
            return True
        err = err.__cause__ or err.__context__
    return False


def _failed(part: Part, result) -> PartOutcome:
    """The wrong quantities, each with its slip and the reference against theirs at the worst
    element; a layer that only inherits an error is not blamed."""
    wrong = [r for r in result.rows if not r.local_ok] or [r for r in result.rows if r.status != "ok"]
    lines = [_row_line(r) for r in wrong[:4]]
    if not lines:  # no row wrong: a finite-difference or other failure the report explains
        lines = [line.strip() for line in report.failure_lines(result)]
    lines += [line.strip() for line in result.undeclared_lines()]
    slip = next((r.slip for r in wrong if r.slip), "")
    return PartOutcome(part.name, 0.0, float(part.points), "failed", "\n".join(lines), slip)


def _row_line(row) -> str:
    c = row.local if row.local is not None and not row.local_ok else row.acc
    where = "the loss" if row.is_loss else f"layer {row.layer_name}"
    what = f"{where}, {row.quantity}: "
    if c.problem:
        return what + c.problem
    at = "[" + ", ".join(str(i) for i in c.index) + "]" if c.index else "the value"
    slip = f"looks like {row.slip}; " if row.slip else "wrong; "
    return what + (f"{slip}at {at} the reference gives {c.expected:.6g}, yours {c.actual:.6g} "
                   f"(relative error {c.max_rel:.1e})")


# --- the model a part is checked in ----------------------------------------------------

def _data(shape: tuple[int, ...], batch: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(batch, *shape)), rng.integers(0, classes, batch)


def _funcs(part: Part, namespace: dict) -> dict:
    """The reference functions, with the student's standing in for this part's."""
    funcs = dict(reference_fns.FUNCTIONS)
    if part.kind == "layer":
        fwd, bwd = part.functions
        funcs[f"{part.layer}_forward"], funcs[f"{part.layer}_backward"] = namespace[fwd], namespace[bwd]
        if part.layer in ("conv", "max_pool"):
            funcs[f"{part.layer}_forward_naive"], funcs[f"{part.layer}_backward_naive"] = namespace[fwd], namespace[bwd]
    return funcs


def _model(assignment: Assignment, part: Part, namespace: dict):
    if part.kind == "program":
        return _program(part, namespace)
    net = assignment.network
    x, y = _data(net.input_shape, net.batch, net.classes, net.seed)
    funcs = _funcs(part, namespace)
    loss_fn = namespace[part.functions[0]] if part.kind == "loss" else None
    if net.style == "mlp":
        return byo.functional(_mlp_layers(net, x), x, y, funcs=funcs, loss="softmax_ce", loss_fn=loss_fn,
                              name=part.name)
    return byo.cnn(_cnn_layers(net, x, funcs), x, y, layout="nchw", loss="softmax_ce", loss_fn=loss_fn,
                   name=part.name)


def _weights(rng, fan_in: int, shape: tuple[int, ...], units: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.normal(0, np.sqrt(2.0 / fan_in), shape), rng.normal(0, 0.1, units)


def _mlp_layers(net: Network, x: np.ndarray) -> list:
    rng = np.random.default_rng(net.seed + 1)
    fan_in, layers = int(np.prod(x.shape[1:])), []
    for d in net.layers:
        if d.kind == "affine":
            w, b = _weights(rng, fan_in, (fan_in, d.units), d.units)
            layers.append(("affine", w, b))
            fan_in = d.units
        else:
            layers.append(d.kind)
    return layers


def _cnn_layers(net: Network, x: np.ndarray, funcs: dict) -> list:
    """byo.cnn layers; each size follows from running the reference forward on x."""
    rng = np.random.default_rng(net.seed + 1)
    ref = reference_fns
    layers, a = [], x
    for d in net.layers:
        if d.kind == "conv":
            w, b = _weights(rng, a.shape[1] * d.size * d.size, (d.filters, a.shape[1], d.size, d.size), d.filters)
            param = {"stride": d.stride, "pad": d.pad}
            layers.append(byo.conv_fn(funcs["conv_forward_naive"], funcs["conv_backward_naive"], w, b, param))
            a = ref.conv_forward_naive(a, w, b, param)[0]
        elif d.kind == "max_pool":
            param = {"pool_height": d.size, "pool_width": d.size, "stride": d.stride}
            layers.append(byo.pool_fn(funcs["max_pool_forward_naive"], funcs["max_pool_backward_naive"], param))
            a = ref.max_pool_forward_naive(a, param)[0]
        elif d.kind == "affine":
            fan_in = int(np.prod(a.shape[1:]))
            w, b = _weights(rng, fan_in, (fan_in, d.units), d.units)
            layers.append(byo.affine_fn(funcs["affine_forward"], funcs["affine_backward"], w, b))
            a = ref.affine_forward(a, w, b)[0]
        else:
            layers.append(byo.fn_layer(funcs["relu_forward"], funcs["relu_backward"]))
            a = ref.relu_forward(a)[0]
    return layers


def _program(part: Part, namespace: dict):
    """The student's class, built with the assignment's arguments, its parameters then set to
    seeded values of the shapes it chose (so every run checks the same numbers)."""
    cls = namespace[part.functions[0]]
    net = call_user(f"{cls.__name__}(...)", cls, **dict(part.init))
    params = getattr(net, "params", None)
    if isinstance(params, dict):
        rng = np.random.default_rng(0)
        for key in sorted(params):
            shape = np.shape(params[key])
            params[key] = rng.normal(0, 0.5, shape) if key.startswith("W") else rng.normal(0, 0.1, shape)
    l2 = getattr(net, part.l2_attr, None) if part.l2_attr else None
    x, y = _data(part.input_shape, part.batch, part.classes, 0)
    return byo.program(net, x, y, activations=list(part.activations), l2=l2, name=part.name)


# --- update rules ----------------------------------------------------------------------

def _spec(part: Part) -> OptimSpec:
    if part.rule == "adam":
        return OptimSpec("adam", lr=part.lr)
    return OptimSpec("sgd", lr=part.lr, momentum=0.9 if part.rule == "sgd_momentum" else 0.0)


class _Cs231nRule:
    """A CS231n update rule rule(w, dw, config) -> (next_w, config) as an optimizer over a
    parameters dict, one config per parameter, started as {"learning_rate": lr}."""

    def __init__(self, fn, name: str, params: dict, lr: float):
        self.fn, self.name, self.params = fn, name, params
        self.configs = {k: {"learning_rate": lr} for k in params}

    def step(self, grads: dict) -> None:
        for k, w in self.params.items():
            got = call_user(self.name, self.fn, w.copy(), grads[k].copy(), self.configs[k])
            if not (isinstance(got, tuple) and len(got) == 2 and isinstance(got[1], dict)
                    and np.shape(got[0]) == w.shape):
                raise UserCodeError(f"{self.name}(w, dw, config) returned {type(got).__name__}; expected "
                                    f"(next_w shaped {w.shape}, config dict)")
            w[...] = got[0]
            self.configs[k] = got[1]


def _step_line(row) -> str:
    """A parameter after the first step that differs: torch.optim's value against theirs."""
    c = row.comparison
    if c.problem:
        return row.describe()
    at = "[" + ", ".join(str(i) for i in c.index) + "]"
    return (f"parameter {c.name}: at {at} torch.optim gives {c.expected:.6g}, yours {c.actual:.6g} "
            f"(off by {row.error:.2g} of the step)")


def _update(part: Part, namespace: dict) -> PartOutcome:
    rng = np.random.default_rng(0)
    start = {"w": rng.normal(size=(4, 3)), "b": rng.normal(size=3)}
    name = part.functions[0]
    adapted = optimizer_rule(lambda params: _Cs231nRule(namespace[name], name, params, part.lr), start)
    result = check_rule(_spec(part), adapted, REPLAY_STEPS)
    if result.passed:
        return PartOutcome(part.name, float(part.points), float(part.points), "passed",
                           f"matches torch.optim over {REPLAY_STEPS} steps")
    lines = [f"step {result.first_failure} of {REPLAY_STEPS} differs from torch.optim ({result.spec.describe()})"]
    lines += [_step_line(r) for r in result.failed_rows[:3]]
    lines.append(f"looks like {result.slip}" if result.slip else "no known slip reproduces it")
    return PartOutcome(part.name, 0.0, float(part.points), "failed", "\n".join(lines), result.slip)
