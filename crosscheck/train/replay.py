"""Optimizer replay: feed identical gradients to an update rule and to torch.optim for K steps,
so a wrong update rule is told apart from a wrong gradient, and name the slip on the first
failing step by replaying known wrong rules (slips) from the same start."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

import reference
from numpy_impl import optim as npopt
from numpy_impl.optim_spec import OptimSpec

from ..check.verdict import OPT_SLIP_MATCH, REPLAY_TOL
from .stepcheck import StepRow, step_floor, step_rows


def torch_run(spec: OptimSpec, start: dict, grads: list[dict]) -> list[dict]:
    """Parameters after each of len(grads) torch.optim steps from `start`; the schedule steps
    after every step."""
    path = torch_path(spec, start, grads)
    return [{k: a[t] for k, a in path.items()} for t in range(len(grads))]


def torch_path(spec: OptimSpec, start: dict, grads: list[dict]) -> dict[str, np.ndarray]:
    """torch_run's parameters as one array per key, (steps, *shape). SGD, Adam and AdamW act on
    each entry alone, so all tensors go to torch as one flat parameter and its single-tensor
    (foreach=False) step: a long replay costs one small torch step per step and little else."""
    keys = list(start)
    sizes = [int(np.size(start[k])) for k in keys]
    flat = torch.tensor(np.concatenate([np.ravel(start[k]) for k in keys]).astype(np.float64), requires_grad=True)
    drawn = torch.from_numpy(np.array([np.concatenate([np.ravel(g[k]) for k in keys]) for g in grads],
                                      dtype=np.float64).reshape(len(grads), flat.numel()))
    opt, sched = reference.build_optimizer(spec, [flat], foreach=False)
    kept = torch.empty((len(grads), flat.numel()), dtype=torch.float64)
    for t in range(len(grads)):
        flat.grad = drawn[t].clone()
        opt.step()
        if spec.decay != 1:  # a factor of 1 changes nothing
            sched.step()
        kept[t].copy_(flat.detach())
    parts = np.split(kept.numpy(), np.cumsum(sizes)[:-1], axis=1)
    return {k: part.reshape(len(grads), *np.shape(start[k])) for k, part in zip(keys, parts)}


def make_grads(start: dict, steps: int, seed: int = 0) -> list[dict]:
    """Gradients for `steps` steps: normal values whose scale spans 1e-4 .. 1 within each
    tensor, so eps, bias correction and the second moment all matter. Drawn per tensor for all
    steps at once; step t's gradients are views into those draws."""
    rng = np.random.default_rng(seed)
    drawn = {k: rng.normal(size=(steps, *np.shape(v))) * 10.0 ** rng.uniform(-4, 0, size=(steps, *np.shape(v)))
             for k, v in start.items()}
    return [{k: a[t] for k, a in drawn.items()} for t in range(steps)]


# --- known wrong rules --------------------------------------------------------------------

@dataclass(frozen=True)
class Knobs:
    """Departures from torch's rule; the defaults are torch's rule itself."""
    bias_correction: bool = True
    eps_in_sqrt: bool = False
    betas_swapped: bool = False
    decoupled: bool | None = None     # None: as the optimizer (adamw decoupled, adam L2)
    wd_sign: float = 1.0
    wd_scale: float = 1.0             # 0: weight decay forgotten
    dampening: float | None = None    # None: the spec's
    buf_starts_at_zero: bool = False  # momentum buffer 0 instead of the first gradient
    nesterov: bool | None = None
    lr_shift: int = 0                 # schedule this many steps early (+) or late (-)
    direction: float = 1.0            # -1: the step taken uphill


def knob_run(spec: OptimSpec, knobs: Knobs, start: dict, grads: list[dict]) -> list[dict]:
    """Parameters after each step of torch's rule with `knobs` applied (plain NumPy, float64)."""
    p = {k: np.array(v, dtype=np.float64) for k, v in start.items()}
    state: dict = {k: {} for k in p}
    out = []
    for t, g in enumerate(grads, start=1):
        lr = knobs.direction * spec.lr_at(max(t - 1 + knobs.lr_shift, 0))
        for k in p:
            _knob_update(spec, knobs, p[k], g[k], state[k], lr, t)
        out.append({k: v.copy() for k, v in p.items()})
    return out


def _knob_update(spec, knobs, p, g, st, lr, t):
    wd = spec.weight_decay * knobs.wd_scale * knobs.wd_sign
    decoupled = (spec.kind == "adamw") if knobs.decoupled is None else knobs.decoupled
    if wd and decoupled:
        p *= 1 - lr * wd
    elif wd:
        g = g + wd * p
    if spec.kind == "sgd":
        if spec.momentum:
            damp = spec.dampening if knobs.dampening is None else knobs.dampening
            if "buf" not in st:
                st["buf"] = (1 - damp) * g if knobs.buf_starts_at_zero else g.copy()
            else:
                st["buf"] = spec.momentum * st["buf"] + (1 - damp) * g
            nesterov = spec.nesterov if knobs.nesterov is None else knobs.nesterov
            g = g + spec.momentum * st["buf"] if nesterov else st["buf"]
        p -= lr * g
        return
    b1, b2 = spec.betas[::-1] if knobs.betas_swapped else spec.betas
    st["m"] = b1 * st.get("m", 0.0) + (1 - b1) * g
    st["v"] = b2 * st.get("v", 0.0) + (1 - b2) * g * g
    v = st["v_max"] = np.maximum(st.get("v_max", 0.0), st["v"]) if spec.amsgrad else st["v"]
    bc1, bc2 = (1 - b1 ** t, 1 - b2 ** t) if knobs.bias_correction else (1.0, 1.0)
    denom = np.sqrt(v / bc2 + spec.eps) if knobs.eps_in_sqrt else np.sqrt(v / bc2) + spec.eps
    p -= lr * (st["m"] / bc1) / denom


def slips(spec: OptimSpec) -> list[tuple[str, Knobs]]:
    """The usual slips that could explain a failure under this optimizer."""
    out = [("step taken uphill: p += lr * update instead of p -= lr * update", Knobs(direction=-1.0))]
    if spec.kind in ("adam", "adamw"):
        out += [("Adam without bias correction", Knobs(bias_correction=False)),
                ("eps inside the square root: sqrt(v_hat + eps) for sqrt(v_hat) + eps", Knobs(eps_in_sqrt=True)),
                ("beta1 and beta2 swapped", Knobs(betas_swapped=True))]
        if spec.weight_decay:
            out.append(("decoupled weight decay (AdamW) where Adam's L2 weight decay was asked"
                        if spec.kind == "adam" else
                        "L2 weight decay (Adam) where AdamW's decoupled weight decay was asked",
                        Knobs(decoupled=spec.kind == "adam")))
    if spec.kind == "sgd" and spec.momentum:
        if spec.dampening == 0:
            out.append(("momentum dampened: buf = m*buf + (1-m)*g where torch adds g", Knobs(dampening=spec.momentum)))
        else:
            out.append(("dampening ignored", Knobs(dampening=0.0)))
        out.append(("momentum buffer starts at zero instead of the first gradient", Knobs(buf_starts_at_zero=True)))
        out.append(("nesterov missing" if spec.nesterov else "nesterov applied where plain momentum was asked",
                    Knobs(nesterov=not spec.nesterov)))
    if spec.weight_decay:
        out += [("weight decay with the wrong sign (p grows instead of decaying)", Knobs(wd_sign=-1.0)),
                ("weight decay forgotten", Knobs(wd_scale=0.0))]
    if spec.decay < 1:
        out += [("learning-rate schedule one step early", Knobs(lr_shift=1)),
                ("learning-rate schedule one step late", Knobs(lr_shift=-1))]
    return out


# --- the replay -----------------------------------------------------------------------------

@dataclass
class ReplayResult:
    spec: OptimSpec
    steps: int
    errors: list[float] = field(default_factory=list)   # per step, worst tensor, in steps
    first_failure: int | None = None
    failed_rows: list[StepRow] = field(default_factory=list)
    slip: str = ""

    @property
    def passed(self) -> bool:
        return self.first_failure is None and len(self.errors) == self.steps

    def summary(self) -> str:
        head = f"optimizer replay ({self.spec.describe(per='step')}, {self.steps} steps, identical gradients): "
        if self.passed:
            return head + f"worst {max(self.errors):.2e} of a step (bar {REPLAY_TOL:g})\nPASS"
        lines = [head + f"step {self.first_failure} FAILED"]
        lines += [f"  {r.describe()}" for r in self.failed_rows[:6]]
        lines.append(f"  likely slip: {self.slip}" if self.slip else "  no known slip reproduces it")
        lines.append("FAIL")
        return "\n".join(lines)


REPLAY_CHUNK = 512  # steps of the user's rule kept and then judged together


def replay(spec: OptimSpec, rule_step, start: dict, steps: int = 10, seed: int = 0) -> ReplayResult:
    """Run `rule_step(grads, lr) -> params dict` (the rule under test, already holding `start`)
    against torch.optim for `steps` steps of identical gradients; lr is the scheduled lr.
    Step t is judged with t steps of carried rounding allowed (verdict.REPLAY_ULPS_PER_STEP).

    The rule's parameters are kept and judged REPLAY_CHUNK steps at a time, all at once; the
    first step that fails there (or returns anything unusual) is judged again by step_rows,
    whose rows the report shows. A rule that raises has the steps before judged first: a step
    that failed earlier is the verdict, not the exception."""
    grads = make_grads(start, steps, seed)
    want = torch_path(spec, start, grads)
    got = {k: np.empty_like(a) for k, a in want.items()}
    result = ReplayResult(spec, steps)
    judged = 0  # steps [0, judged) are judged
    for t in range(steps):
        try:
            params = rule_step({k: v.copy() for k, v in grads[t].items()}, spec.lr_at(t))
        except BaseException:
            if _judge(result, spec, start, grads, want, got, judged, t):
                return result
            raise
        if not _fits(params, want):  # a missing, misshapen or foreign tensor: judged alone
            if not _judge(result, spec, start, grads, want, got, judged, t):
                _fail(result, spec, start, grads, want, t, params)
            return result
        for k in want:
            got[k][t] = params[k]
        if t + 1 - judged == REPLAY_CHUNK or t + 1 == steps:
            if _judge(result, spec, start, grads, want, got, judged, t + 1):
                return result
            judged = t + 1
    return result


def _fits(params, want: dict) -> bool:
    return isinstance(params, dict) and all(
        isinstance(params.get(k), np.ndarray) and params[k].shape == a.shape[1:] and params[k].dtype == np.float64
        for k, a in want.items())


def _judge(result: ReplayResult, spec, start, grads, want: dict, got: dict, lo: int, hi: int) -> bool:
    """Judge steps [lo, hi) all at once, as step_rows would; True when one failed (the result
    then says which, with its rows and slip)."""
    if hi <= lo:
        return False
    worst = np.zeros(hi - lo)
    carried = np.arange(lo + 1, hi + 1)  # step t (from 1) has carried t steps
    tiny = np.finfo(np.float64).tiny
    for k, path in want.items():
        e = path[lo:hi].reshape(hi - lo, -1)
        if not e.shape[1]:
            continue
        b = (path[lo - 1:hi - 1] if lo else np.concatenate([np.asarray(start[k], np.float64)[None], path[:hi - 1]]))
        diff = np.max(np.abs(got[k][lo:hi].reshape(hi - lo, -1) - e), axis=1)
        moved = np.max(np.abs(e - b.reshape(hi - lo, -1)), axis=1)
        size = np.maximum(np.max(np.abs(e), axis=1), tiny)
        floor = step_floor(size, "float64", REPLAY_TOL, carried)
        err = diff / np.maximum(np.maximum(moved, floor), tiny)
        worst = np.maximum(worst, np.where(np.isfinite(err), err, np.inf))
    for i in np.flatnonzero(~(worst <= REPLAY_TOL)):  # NaN-safe: anything not within the bar
        result.errors[lo:] = worst[:i].tolist()
        if _fail(result, spec, start, grads, want, lo + int(i), {k: got[k][lo + int(i)] for k in want}):
            return True
    result.errors[lo:] = worst.tolist()
    return False


def _fail(result: ReplayResult, spec, start, grads, want: dict, t: int, params) -> bool:
    """Step t (from 0) by step_rows; when it fails, record it as the first failure."""
    before = {k: a[t - 1] for k, a in want.items()} if t else start
    expected = {k: a[t] for k, a in want.items()}
    params = params if isinstance(params, dict) else {}
    rows = step_rows(params, expected, before, "float64", REPLAY_TOL, carried=t + 1)
    bad = sorted((r for r in rows if not r.passed(REPLAY_TOL)), key=lambda r: -r.error)
    if not bad:
        return False
    result.errors[t:] = [max(r.error for r in rows)]
    result.first_failure, result.failed_rows = t + 1, bad
    result.slip = name_slip(spec, start, grads[:t + 1], params, before)
    return True


def name_slip(spec: OptimSpec, start: dict, grads: list[dict], got: dict, before: dict) -> str:
    """The first known slip whose replay reproduces the rule's parameters at this step."""
    for name, knobs in slips(spec):
        cand = knob_run(spec, knobs, start, grads)[-1]
        rows = step_rows(got, cand, before, "float64", OPT_SLIP_MATCH, carried=len(grads))
        if all(r.passed(OPT_SLIP_MATCH) for r in rows):
            return name
    return ""


def replay_numpy_optimizer(spec: OptimSpec, steps: int = 10, seed: int = 0) -> ReplayResult:
    """numpy_impl.optim's optimizer built from `spec`, alone against torch.optim's from identical
    gradients: a failed training run whose optimizer agrees here has a wrong gradient. It replays
    what training runs: the schedule, stepped every replay step, and a tensor longer than one of
    Adam's blocks (npopt.ADAM_BLOCK), so a slip at a block boundary shows here as it does in a
    CNN's large weights."""
    rng = np.random.default_rng(seed)
    start = {"w": rng.normal(size=(4, 3)), "long": rng.normal(size=npopt.ADAM_BLOCK + 3)}
    params = {k: v.copy() for k, v in start.items()}
    opt, sched = npopt.build_optimizer(spec, params)

    def rule_step(grads: dict, lr: float) -> dict:
        opt.step(grads)
        sched.step()  # every replay step is an epoch of the schedule, as in torch_run
        return {k: v.copy() for k, v in params.items()}
    return replay(spec, rule_step, start, steps, seed)
