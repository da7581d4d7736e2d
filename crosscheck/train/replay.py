"""Optimizer replay: feed identical gradients to an update rule and to torch.optim for K steps,
so a wrong update rule is told apart from a wrong gradient, and name the slip on the first
failing step by replaying known wrong rules (slips) from the same start."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch

from numpy_impl import optim as npopt

from ..check.verdict import OPT_SLIP_MATCH, REPLAY_TOL
from .stepcheck import StepRow, step_rows

KINDS = ("sgd", "adam", "adamw")


@dataclass(frozen=True)
class OptimConfig:
    """The torch.optim optimizer a rule must match; gamma: ExponentialLR factor per step."""
    kind: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.0
    dampening: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    gamma: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"opt: unknown optimizer {self.kind!r}; choose from {', '.join(KINDS)}")
        npopt.check_lr(self.lr)
        npopt.check_decay(self.gamma)
        if self.momentum < 0:
            raise ValueError(f"momentum: must be >= 0, got {self.momentum}")


def torch_run(cfg: OptimConfig, start: dict, grads: list[dict]) -> list[dict]:
    """Parameters after each of len(grads) torch.optim steps from `start`."""
    ps = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in start.items()}
    if cfg.kind == "sgd":
        opt = torch.optim.SGD(ps.values(), cfg.lr, cfg.momentum, cfg.dampening, cfg.weight_decay, cfg.nesterov)
    else:
        cls = torch.optim.Adam if cfg.kind == "adam" else torch.optim.AdamW
        opt = cls(ps.values(), cfg.lr, cfg.betas, cfg.eps, cfg.weight_decay)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, cfg.gamma)
    out = []
    for g in grads:
        for k, p in ps.items():
            p.grad = torch.tensor(g[k], dtype=torch.float64)
        opt.step()
        sched.step()
        out.append({k: p.detach().numpy().copy() for k, p in ps.items()})
    return out


def make_grads(start: dict, steps: int, seed: int = 0) -> list[dict]:
    """Gradients for `steps` steps: normal values whose scale spans 1e-4 .. 1 within each
    tensor, so eps, bias correction and the second moment all matter."""
    rng = np.random.default_rng(seed)
    return [{k: rng.normal(size=np.shape(v)) * 10.0 ** rng.uniform(-4, 0, size=np.shape(v))
             for k, v in start.items()} for _ in range(steps)]


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
    dampening: float | None = None    # None: the config's
    buf_starts_at_zero: bool = False  # momentum buffer 0 instead of the first gradient
    nesterov: bool | None = None
    lr_shift: int = 0                 # schedule this many steps early (+) or late (-)
    direction: float = 1.0            # -1: the step taken uphill


def knob_run(cfg: OptimConfig, knobs: Knobs, start: dict, grads: list[dict]) -> list[dict]:
    """Parameters after each step of torch's rule with `knobs` applied (plain NumPy, float64)."""
    p = {k: np.array(v, dtype=np.float64) for k, v in start.items()}
    state: dict = {k: {} for k in p}
    out = []
    for t, g in enumerate(grads, start=1):
        lr = knobs.direction * cfg.lr * cfg.gamma ** max(t - 1 + knobs.lr_shift, 0)
        for k in p:
            _knob_update(cfg, knobs, p[k], g[k], state[k], lr, t)
        out.append({k: v.copy() for k, v in p.items()})
    return out


def _knob_update(cfg, knobs, p, g, st, lr, t):
    wd = cfg.weight_decay * knobs.wd_scale * knobs.wd_sign
    decoupled = (cfg.kind == "adamw") if knobs.decoupled is None else knobs.decoupled
    if wd and decoupled:
        p *= 1 - lr * wd
    elif wd:
        g = g + wd * p
    if cfg.kind == "sgd":
        if cfg.momentum:
            damp = cfg.dampening if knobs.dampening is None else knobs.dampening
            if "buf" not in st:
                st["buf"] = (1 - damp) * g if knobs.buf_starts_at_zero else g.copy()
            else:
                st["buf"] = cfg.momentum * st["buf"] + (1 - damp) * g
            nesterov = cfg.nesterov if knobs.nesterov is None else knobs.nesterov
            g = g + cfg.momentum * st["buf"] if nesterov else st["buf"]
        p -= lr * g
        return
    b1, b2 = cfg.betas[::-1] if knobs.betas_swapped else cfg.betas
    st["m"] = b1 * st.get("m", 0.0) + (1 - b1) * g
    st["v"] = b2 * st.get("v", 0.0) + (1 - b2) * g * g
    bc1, bc2 = (1 - b1 ** t, 1 - b2 ** t) if knobs.bias_correction else (1.0, 1.0)
    denom = np.sqrt(st["v"] / bc2 + cfg.eps) if knobs.eps_in_sqrt else np.sqrt(st["v"] / bc2) + cfg.eps
    p -= lr * (st["m"] / bc1) / denom


def slips(cfg: OptimConfig) -> list[tuple[str, Knobs]]:
    """The usual slips that could explain a failure under this config."""
    out = [("step taken uphill: p += lr * update instead of p -= lr * update", Knobs(direction=-1.0))]
    if cfg.kind in ("adam", "adamw"):
        out += [("Adam without bias correction", Knobs(bias_correction=False)),
                ("eps inside the square root: sqrt(v_hat + eps) for sqrt(v_hat) + eps", Knobs(eps_in_sqrt=True)),
                ("beta1 and beta2 swapped", Knobs(betas_swapped=True))]
        if cfg.weight_decay:
            out.append(("decoupled weight decay (AdamW) where Adam's L2 weight decay was asked"
                        if cfg.kind == "adam" else
                        "L2 weight decay (Adam) where AdamW's decoupled weight decay was asked",
                        Knobs(decoupled=cfg.kind == "adam")))
    if cfg.kind == "sgd" and cfg.momentum:
        if cfg.dampening == 0:
            out.append(("momentum dampened: buf = m*buf + (1-m)*g where torch adds g", Knobs(dampening=cfg.momentum)))
        else:
            out.append(("dampening ignored", Knobs(dampening=0.0)))
        out.append(("momentum buffer starts at zero instead of the first gradient", Knobs(buf_starts_at_zero=True)))
        out.append(("nesterov missing" if cfg.nesterov else "nesterov applied where plain momentum was asked",
                    Knobs(nesterov=not cfg.nesterov)))
    if cfg.weight_decay:
        out += [("weight decay with the wrong sign (p grows instead of decaying)", Knobs(wd_sign=-1.0)),
                ("weight decay forgotten", Knobs(wd_scale=0.0))]
    if cfg.gamma < 1:
        out += [("learning-rate schedule one step early", Knobs(lr_shift=1)),
                ("learning-rate schedule one step late", Knobs(lr_shift=-1))]
    return out


# --- the replay -----------------------------------------------------------------------------

@dataclass
class ReplayResult:
    cfg: OptimConfig
    steps: int
    errors: list[float] = field(default_factory=list)   # per step, worst tensor, in steps
    first_failure: int | None = None
    failed_rows: list[StepRow] = field(default_factory=list)
    slip: str = ""

    @property
    def passed(self) -> bool:
        return self.first_failure is None and len(self.errors) == self.steps

    def summary(self) -> str:
        c = self.cfg
        head = (f"optimizer replay ({c.kind} lr {c.lr:g}" + (f" momentum {c.momentum:g}" if c.momentum else "")
                + (" nesterov" if c.nesterov else "") + (f" weight_decay {c.weight_decay:g}" if c.weight_decay else "")
                + (f" decay {c.gamma:g}/step" if c.gamma < 1 else "") + f", {self.steps} steps, identical gradients): ")
        if self.passed:
            return head + f"worst {max(self.errors):.2e} of a step (bar {REPLAY_TOL:g})\nPASS"
        lines = [head + f"step {self.first_failure} FAILED"]
        lines += [f"  {r.describe()}" for r in self.failed_rows[:6]]
        lines.append(f"  likely slip: {self.slip}" if self.slip else "  no known slip reproduces it")
        lines.append("FAIL")
        return "\n".join(lines)


def replay(cfg: OptimConfig, rule_step, start: dict, steps: int = 10, seed: int = 0) -> ReplayResult:
    """Run `rule_step(grads, lr) -> params dict` (the rule under test, already holding `start`)
    against torch.optim for `steps` steps of identical gradients; lr is the scheduled lr."""
    grads = make_grads(start, steps, seed)
    expected = torch_run(cfg, start, grads)
    result = ReplayResult(cfg, steps)
    before = start
    for t, (g, want) in enumerate(zip(grads, expected), start=1):
        got = rule_step({k: v.copy() for k, v in g.items()}, cfg.lr * cfg.gamma ** (t - 1))
        rows = step_rows(got, want, before, "float64", REPLAY_TOL)
        result.errors.append(max(r.error for r in rows))
        bad = sorted((r for r in rows if not r.passed(REPLAY_TOL)), key=lambda r: -r.error)
        if bad:
            result.first_failure, result.failed_rows = t, bad
            result.slip = name_slip(cfg, start, grads[:t], got, before)
            break
        before = want
    return result


def name_slip(cfg: OptimConfig, start: dict, grads: list[dict], got: dict, before: dict) -> str:
    """The first known slip whose replay reproduces the rule's parameters at this step."""
    for name, knobs in slips(cfg):
        cand = knob_run(cfg, knobs, start, grads)[-1]
        if all(r.passed(OPT_SLIP_MATCH) for r in step_rows(got, cand, before, "float64", OPT_SLIP_MATCH)):
            return name
    return ""
