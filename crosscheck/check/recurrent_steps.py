"""Inside a recurrent layer, step by step: where the NumPy side first parts from torch, and
whether that step is wrong on torch's own inputs or only inherits an earlier step's error.

Each recurrent layer of a check is run as the layer rows' local run is (torch's own input and
upstream gradient). torch's side is the same layer unrolled into torch's own cells
(reference.recurrent.torch_step) in float64 from the torch module's parameters: its states, the
total gradient of each state, and, per step, one cell's vector-Jacobian product on its own
inputs. Rows, per stacked layer l and time step t, in execution order:
  forward (l = 0.., t = 0..T-1)  h, c: the layer's state after step t;
      local: one NumPy step on torch's x_t and previous state.
  backward (l from the top, t = T-1..0)
      dh, dc: the total gradient entering step t; local: NumPy's carry_in on torch's parts (the
          output's gradient at t, what torch's step t + 1 handed back);
      dx, handed dh, handed dc, <param>.grad: step t's own results (what it hands to its input,
          to step t - 1, and its share of each parameter gradient); local: one NumPy step
          backward on torch's inputs and torch's total gradients.
`accumulated` is the NumPy layer's own run. The NumPy side is seen through a StepSide
(recurrent_sides.py): numpy_impl's Recurrent, or a user's functions (byo/recurrent/), whose local
step is the user's own step function and whose sequence function keeps some quantities to itself
(its per-step totals in its loop): a row of such a quantity compares the local run for both. Statuses as the layer rows': ok, wrong (fails on
torch's own inputs: this step is the culprit), inherited. Each step's quantity is relative to
its own largest element (verdict.step_scale_floor: not below a few ulps of the whole sequence's)."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch

from reference.recurrent import cell_kind, torch_step

from .compare import Comparison, compare, magnitude
from .layer_run import LayerRun
from .recurrent_sides import PARAMS, SideRun, StepSide, step_side
from .verdict import TOLERANCES, agrees, row_status, sequence_scale_floor

STATE_NAMES = ("h", "c")


@dataclass
class StepRow:
    """One quantity of one time step of one stacked layer."""
    stack: int
    t: int
    quantity: str   # h, c, dh, dc, dx, handed dh, handed dc, weight_ih.grad, ...
    acc: Comparison
    local: Comparison | None
    tol: float

    @property
    def kind(self) -> str:
        return "forward" if self.quantity in STATE_NAMES else "gradient"

    @property
    def local_ok(self) -> bool:
        return self.local is None or agrees(self.local.max_rel, self.tol, self.local.problem)

    @property
    def acc_ok(self) -> bool:
        return agrees(self.acc.max_rel, self.tol, self.acc.problem)

    @property
    def status(self) -> str:
        return row_status(self.local_ok, self.acc_ok)

    def label(self) -> str:
        return f"time step {self.t} of layer {self.stack}: {self.quantity}"

    def to_json(self) -> dict:
        return {"stack": self.stack, "t": self.t, "quantity": self.quantity, "status": self.status,
                "accumulated": self.acc.to_json(), "local": self.local.to_json() if self.local else None}


@dataclass
class StepCheck:
    """Every step of one recurrent layer of the model (model layer `layer`, named `name`)."""
    layer: int
    name: str
    rows: list[StepRow] = field(default_factory=list)
    slips: list[str] = field(default_factory=list)
    torch: "TorchSteps | None" = field(default=None, repr=False)  # torch's unrolled run, what rows compared
    side_runs: list = field(default_factory=list, repr=False)  # the NumPy side's SideRun per stacked layer

    @property
    def passed(self) -> bool:
        return all(r.status == "ok" for r in self.rows)

    def first_divergence(self) -> StepRow | None:
        return next((r for r in self.rows if r.status != "ok"), None)

    def culprit(self) -> StepRow | None:
        """The first step, in execution order, that is wrong on torch's own inputs."""
        return next((r for r in self.rows if not r.local_ok), None)

    def worst(self, kind: str) -> float:
        return max([r.acc.max_rel for r in self.rows if r.kind == kind] or [0.0])

    def lines(self) -> list[str]:
        """What a failing report says of this layer's steps."""
        first, culprit = self.first_divergence(), self.culprit()
        if first is None:
            return [f"    {self.name}: every step agrees; looks like: {s}" for s in self.slips]
        out = [f"    {self.name}: first divergence at {first.label()}: {first.acc.describe()}"]
        if culprit is not None:
            out.append(f"    {self.name}: wrong from {culprit.label()} (fails on torch's own inputs: "
                       f"{culprit.local.describe()})")
        elif any(r.quantity == "dh" for r in self.rows):
            out.append(f"    {self.name}: every step and every carry is right on torch's own inputs: what "
                       f"goes wrong is between them (time order, sums over steps)")
        else:  # a side whose loop keeps its carries to itself (a user's rnn_backward)
            out.append(f"    {self.name}: every step is right on torch's own inputs: what goes wrong is the "
                       f"loop between them (the carry, time order, sums over steps)")
        return out + [f"    {self.name}: looks like: {s}" for s in self.slips]


@dataclass
class TorchSteps:
    """torch's layer unrolled, float64, time-major, per stacked layer l: inputs[l] (T, N, I);
    states[l][k] (T + 1, N, H) from the initial state on; dstates[l][k] (T, N, H) the totals;
    douts[l] (T, N, H) the gradient of layer l's outputs from above; vjp[l][t] one cell's
    (dx, handed state gradients, parameter gradients) on torch's own inputs and totals."""
    kind: str
    weights: list[tuple]
    inputs: list[np.ndarray] = field(default_factory=list)
    states: list[list[np.ndarray]] = field(default_factory=list)
    dstates: list[list[np.ndarray]] = field(default_factory=list)
    douts: list[np.ndarray] = field(default_factory=list)
    vjp: list[list[tuple]] = field(default_factory=list)


def _np(t) -> np.ndarray:
    return t.detach().numpy().copy()


def _torch_weights(module) -> list[tuple]:
    out = []
    for k in range(module.num_layers):
        w_ih = getattr(module, f"weight_ih_l{k}").detach().double()
        zero = torch.zeros(w_ih.shape[0], dtype=torch.float64)
        out.append(tuple(getattr(module, f"{n}_l{k}").detach().double() if module.bias or n.startswith("weight")
                         else zero for n in PARAMS))
    return out


def unroll_torch(module, x: np.ndarray, upstream: np.ndarray, state0: list[tuple]) -> TorchSteps:
    """torch's recurrent `module` as a chain of its own cells on x (N, T, I) from `state0`
    (per stacked layer a tuple of (N, H) arrays), backward from `upstream` (N, T, H)."""
    run = TorchSteps(cell_kind(module), _torch_weights(module))
    inputs = list(torch.tensor(x, dtype=torch.float64).swapaxes(0, 1))
    per_layer = []
    for k, weights in enumerate(run.weights):
        w = [a.clone().requires_grad_() for a in weights]  # leaves, so that every state has a gradient
        state = tuple(torch.tensor(s, dtype=torch.float64) for s in state0[k])
        steps = [state]
        for t in range(len(inputs)):
            state = torch_step(run.kind, inputs[t], state, *w)
            for s in state:
                s.retain_grad()
            steps.append(state)
        per_layer.append((inputs, steps))
        inputs = [s[0] for s in steps[1:]]
    torch.stack(inputs, 1).backward(torch.tensor(upstream, dtype=torch.float64))
    for k, (ins, steps) in enumerate(per_layer):
        run.inputs.append(np.stack([_np(a) for a in ins]))
        run.states.append([np.stack([_np(s[j]) for s in steps]) for j in range(len(steps[0]))])
        # h_t's gradient is its total (the output and step t + 1 both use it); a cell's c output
        # may also feed its own h inside torch's graph, so dc_t is taken as step t + 1 handed it back
        dh = np.stack([_np(s[0].grad) for s in steps[1:]])
        run.dstates.append([dh] + [np.zeros_like(dh) for _ in steps[0][1:]])
        run.vjp.append([None] * len(dh))
        for t in reversed(range(len(dh))):
            run.vjp[k][t] = _cell_vjp(run, k, t)
            for j in range(1, len(steps[0])):
                if t > 0:
                    run.dstates[k][j][t - 1] = run.vjp[k][t][1][j]
    top = np.asarray(upstream, np.float64).swapaxes(0, 1)
    run.douts = [np.stack([v[0] for v in run.vjp[k + 1]]) for k in range(len(run.weights) - 1)] + [top]
    return run


def _cell_vjp(run: TorchSteps, k: int, t: int) -> tuple:
    """torch's cell at step t of stacked layer k alone: (dx, handed, parameter gradients)."""
    leaves = [torch.tensor(run.inputs[k][t], requires_grad=True)]
    prev = tuple(torch.tensor(s[t], requires_grad=True) for s in run.states[k])
    weights = [w.clone().requires_grad_() for w in run.weights[k]]
    new = torch_step(run.kind, leaves[0], prev, *weights)
    torch.autograd.backward(new, [torch.tensor(d[t]) for d in run.dstates[k]])
    return _np(leaves[0].grad), tuple(_np(p.grad) for p in prev), tuple(_np(w.grad) for w in weights)


@contextmanager
def one_torch_thread():
    """torch on one thread for a while: an unrolled run is hundreds of tiny ops, which threads
    only slow down (on a busy 2-core machine, 11 s against 0.8 s for the char_lstm preset)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def check_steps(run: LayerRun, module, dtype: str) -> StepCheck:
    """Every step of the recurrent layer of `run` (its NumPy layer run again on torch's input and
    upstream gradient) against `module` (torch's layer, float64 parameters used) unrolled."""
    side = step_side(run.layer)
    x = np.asarray(run.input)
    state0 = side.initial_states(len(x), np.float64)
    with one_torch_thread():
        ref = unroll_torch(module, x, run.upstream, state0)
    runs = side.run(x.copy(), np.asarray(run.upstream).copy())
    check = StepCheck(run.index, run.name, torch=ref, side_runs=runs)
    tol = TOLERANCES[dtype]
    cast = np.dtype(dtype)
    for k, mine in enumerate(runs):
        check.rows.extend(_forward_rows(k, mine, ref, side, cast, tol))
    for k in reversed(range(len(runs))):
        check.rows.extend(_backward_rows(k, runs[k], ref, side, cast, tol))
    from .recurrent_slips import sequence_slips  # names what the rows show
    check.slips = sequence_slips(check, side, ref)
    return check


def _row(k, t, qty, acc, local, expected_all, expected, tol, dtype) -> StepRow | None:
    """One row; `acc` None (a quantity the side keeps to itself) compares the local run for both;
    None where the side shows neither (a layer object without a step of its own)."""
    if acc is None and local is None:
        return None
    floor = sequence_scale_floor(magnitude(expected_all), str(dtype))
    loc = None if local is None else compare(qty, local, expected, str(dtype), scale_floor=floor)
    acc_cmp = loc if acc is None else compare(qty, acc, expected, str(dtype), scale_floor=floor)
    return StepRow(k, t, qty, acc_cmp, loc, tol)


def _forward_rows(k: int, mine: SideRun, ref: TorchSteps, side: StepSide, cast, tol) -> list[StepRow]:
    rows = []
    for t in range(len(mine.dx)):
        prev = tuple(s[t].astype(cast) for s in ref.states[k])
        local = side.step_forward(k, ref.inputs[k][t].astype(cast), prev) or (None,) * len(prev)
        for j, name in enumerate(STATE_NAMES[:len(ref.states[k])]):
            acc = None if mine.states[j] is None else mine.states[j][t + 1]
            rows.append(_row(k, t, name, acc, local[j], ref.states[k][j], ref.states[k][j][t + 1], tol, cast))
    return [r for r in rows if r is not None]


def _backward_rows(k: int, mine: SideRun, ref: TorchSteps, side: StepSide, cast, tol) -> list[StepRow]:
    rows = []
    n_states, T = len(ref.states[k]), len(mine.dx)
    names = side.param_names
    all_dx = np.stack([v[0] for v in ref.vjp[k]])
    all_handed = [np.stack([v[1][j] for v in ref.vjp[k]]) for j in range(n_states)]
    all_dw = [np.stack([v[2][p] for v in ref.vjp[k]]) for p in range(len(names))]
    for t in reversed(range(T)):
        handed_next = ref.vjp[k][t + 1][1] if t + 1 < T else tuple(np.zeros_like(d[t]) for d in ref.dstates[k])
        carried = side.carry_in(ref.douts[k][t].astype(cast), tuple(h.astype(cast) for h in handed_next))
        for j in range(n_states if carried is not None else 0):
            acc = None if mine.dstates is None else mine.dstates[j][t]
            rows.append(_row(k, t, f"d{STATE_NAMES[j]}", acc, carried[j], ref.dstates[k][j],
                             ref.dstates[k][j][t], tol, cast))
        prev = tuple(s[t].astype(cast) for s in ref.states[k])
        dx, handed, dw = side.step_backward(k, ref.inputs[k][t].astype(cast), prev,
                                            tuple(d[t].astype(cast) for d in ref.dstates[k])) or \
            (None, (None,) * n_states, (None,) * len(names))
        ref_dx, ref_handed, ref_dw = ref.vjp[k][t]
        rows.append(_row(k, t, "dx", mine.dx[t], dx, all_dx, ref_dx, tol, cast))
        for j in range(n_states):
            acc = mine.handed[j][t] if mine.handed is not None else (
                mine.dstate0[j] if t == 0 and j < len(mine.dstate0) else None)
            rows.append(_row(k, t, f"handed d{STATE_NAMES[j]}", acc, handed[j], all_handed[j], ref_handed[j],
                             tol, cast))
        mine_dw = mine.step_grads(t) if mine.step_grads is not None else [None] * len(names)
        for p, name in enumerate(names):
            rows.append(_row(k, t, f"{name}_l{k}.grad", mine_dw[p], dw[p], all_dw[p], ref_dw[p], tol, cast))
    return [r for r in rows if r is not None]
