"""Run the NumPy and the torch model side by side and compare every layer quantity.

For each layer we compare its output (forward) and, after a backward pass seeded with a
random upstream gradient shared by both sides, dL/d(its input) and its parameter
gradients. Each quantity is compared twice:
  accumulated: the NumPy model run end to end vs the reference run end to end;
  local: the NumPy layer run on the torch layer's own input and upstream gradient.
A layer whose local error fails is wrong; one whose accumulated error fails while its local
error passes only inherits error from elsewhere."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view

import reference
from numpy_impl import CheckableLayer, Sequential
from numpy_impl import functional as NF
from numpy_impl.losses import check_target

from .compare import Comparison, compare
from .layer_run import LayerPass, LayerRun
from .recurrent_slips import temporal_loss_slip
from .recurrent_steps import StepCheck, check_steps, step_side
from .norm_slips import is_norm
from .slips import diagnose_layer
from .torch_side import Trace, layer_vjp, run_torch, torch_loss
from .user_code import refused_on_purpose
from .verdict import ROUTING_TIE, TOLERANCES, agrees, loss_scale_floor, row_bar, row_status, sum_scale_floor


LOSS_LAYER = -1  # Row.layer of the loss's rows


@dataclass
class Row:
    """One quantity of one layer (or of the loss)."""
    layer: int            # LOSS_LAYER (-1) for the loss
    layer_name: str
    quantity: str         # out, grad_in, weight.grad, bias.grad, loss, dloss/dpred, or a buffer
    #                       after the forward: running_mean, running_var, num_batches_tracked
    acc: Comparison
    local: Comparison | None
    tol: float
    dtype: str
    torch_noise: float | None = None  # float32: torch's own error against float64
    slip: str = ""
    routing: str = ""  # set when max-pooling picked another of near-tied maxima upstream

    @property
    def is_loss(self) -> bool:
        """A row of the loss (its value or dL/dpred), not of a layer."""
        return self.layer == LOSS_LAYER

    @property
    def kind(self) -> str:
        """forward (outputs, the loss, running statistics) or gradient."""
        q = self.quantity
        return "gradient" if q in ("grad_in", "dloss/dpred") or q.endswith(".grad") else "forward"

    @property
    def local_ok(self) -> bool:
        """The layer alone, on torch's own input: the dtype's bar (verdict.py)."""
        return self.local is None or agrees(self.local.max_rel, self.tol, self.local.problem)

    @property
    def acc_ok(self) -> bool:
        """End to end; in float32 widened by torch's own float32 error (verdict.row_bar)."""
        if self.routing:
            return True
        return agrees(self.acc.max_rel, row_bar(self.dtype, self.torch_noise), self.acc.problem)

    @property
    def status(self) -> str:
        return row_status(self.local_ok, self.acc_ok)

    def label(self) -> str:
        return f"{self.layer_name} {self.quantity}"

    def to_json(self) -> dict:
        return {"layer": self.layer, "layer_name": self.layer_name, "quantity": self.quantity,
                "status": self.status, "tolerance": self.tol, "torch_float32_error": self.torch_noise,
                "accumulated": self.acc.to_json(),
                "local": self.local.to_json() if self.local else None, "slip": self.slip,
                "routing": self.routing}


@dataclass
class CheckResult:
    model: str
    activation: str
    dtype: str
    rows: list[Row] = field(default_factory=list)
    fd: object = None  # fd.FDResult, float64 runs only
    notes: list[str] = field(default_factory=list)
    runs: list[LayerRun] = field(default_factory=list, repr=False)  # per layer, what the rows compared
    steps: list[StepCheck] = field(default_factory=list)  # per recurrent layer, every time step

    def replace_loss_rows(self, rows: list[Row]) -> None:
        """Let `rows` stand for the loss where the harness's own loss rows stand (after the
        forward rows, before the backward ones): for a caller that checks its own loss."""
        at = [k for k, r in enumerate(self.rows) if r.is_loss]
        assert at and at == list(range(at[0], at[-1] + 1)), "check_pair writes the loss rows together"
        self.rows[at[0]:at[-1] + 1] = rows

    def worst(self, kind: str) -> float:
        """Worst accumulated relative error (rows judged locally for routing excluded)."""
        vals = [r.acc.max_rel for r in self.rows if r.kind == kind and not r.routing]
        return max(vals + [s.worst(kind) for s in self.steps]) if vals or self.steps else 0.0

    @property
    def passed(self) -> bool:
        return (all(r.status == "ok" for r in self.rows) and all(s.passed for s in self.steps)
                and (self.fd is None or self.fd.passed))

    def first_divergence(self) -> Row | None:
        """The first quantity, in execution order (forward, loss, backward), that fails."""
        return next((r for r in self.rows if r.status != "ok"), None)

    def culprit(self) -> Row | None:
        """The first quantity whose layer is wrong on its own (local error fails)."""
        return next((r for r in self.rows if not r.local_ok), None)


def layer_names(model: Sequential) -> list[str]:
    return [f"{i}:{layer.describe()}" for i, layer in enumerate(model.layers)]


def check_finite(name: str, arr: np.ndarray) -> None:
    if not np.all(np.isfinite(arr)):
        bad = np.unravel_index(int(np.argmax(~np.isfinite(arr))), arr.shape)
        raise ValueError(f"{name}: contains NaN or Inf (first at {[int(i) for i in bad]})")


def check_pair(np_model: Sequential, torch_model: torch.nn.Sequential, x: np.ndarray,
               target: np.ndarray, loss: str, *, dtype: str = "float64", seed: int = 0,
               truth_model: torch.nn.Sequential | None = None, name: str = "model",
               activation: str = "") -> CheckResult:
    """Compare two built models (same parameters) on one batch.

    In float32, `truth_model` is the torch model in float64 holding the same (float32-rounded)
    parameters; both sides are judged against it. The result keeps, per layer, the record its
    rows were computed from (result.runs, a LayerRun each), for whoever names slips later."""
    if len(np_model) != len(torch_model):
        raise ValueError(f"models: NumPy side has {len(np_model)} layers, torch side {len(torch_model)}")
    for i, layer in enumerate(np_model.layers):
        if not isinstance(layer, CheckableLayer):
            raise ValueError(f"layer {i} ({type(layer).__name__}): lacks what a checkable layer needs "
                             f"(forward, backward, params, grads, kind, kink_state: numpy_impl.CheckableLayer)")
    training = any(layer.training for layer in np_model.layers)
    for model in (torch_model, truth_model):
        if model is not None:
            model.train(training)  # torch modules start in training mode, NumPy ones in eval
            if training and any(type(m) is torch.nn.Dropout for m in model):
                raise ValueError("dropout in training mode: give both sides the same masks "
                                 "(numpy_impl.conv.set_dropout_masks, reference.set_dropout_masks)")
    x = np.asarray(x, dtype=dtype)
    check_finite("input", x)
    for key, value in np_model.state_dict().items():
        check_finite(f"parameter {key}", value)
    rng = np.random.default_rng(seed)
    # the running statistics before the forward: each layer's local run starts from them again
    np_before = {k: v.copy() for k, v in np_model.buffer_dict().items()}
    truth_before = reference.numpy_buffers(truth_model) if truth_model is not None else {}
    try:
        out_np = np_model.forward(x)
    except ValueError as err:
        if not refused_on_purpose(err):  # numpy's own complaint on our line: a bug of ours, exit 4
            raise
        raise ValueError(f"input of shape {x.shape} does not fit the model: {err}") from None
    upstream = rng.standard_normal(out_np.shape).astype(dtype)
    np_model.backward(upstream)
    np_trace = Trace(list(np_model.outputs), list(np_model.grad_inputs), dict(np_model.grad_dict()),
                     {k: v.copy() for k, v in np_model.buffer_dict().items()})
    ref = run_torch(torch_model, x, upstream)
    truth, noise_of = ref, None
    if dtype == "float32":
        truth = run_torch(truth_model, x.astype(np.float64), upstream.astype(np.float64))
        noise_of = ref
    result = CheckResult(name, activation, dtype)
    result.runs = _layer_runs(np_model, truth_model if dtype == "float32" else None, x, upstream,
                              np_trace, ref, truth, noise_of, (np_before, truth_before))
    tol = TOLERANCES[dtype]

    def row(run: LayerRun, qty: str) -> Row:
        local = run.local.get(qty)
        want = _dtype_of(run.acc_ref.get(qty), dtype)
        floor = bias_floor(run.acc_ref.bias_terms, qty[:-len(".grad")], dtype) if qty.endswith(".grad") else 0.0
        acc = compare(qty, run.acc.get(qty), run.acc_ref.get(qty), want, scale_floor=floor)
        loc = None if local is None else compare(qty, local, run.local_ref.get(qty), want, scale_floor=floor)
        noise = None if run.acc_torch is None else compare(qty, run.acc_torch.get(qty), run.acc_ref.get(qty)).max_rel
        return Row(run.index, run.name, qty, acc, loc, tol, dtype, noise)

    for run in result.runs:  # each layer's output, then the running statistics it left
        result.rows.extend(row(run, qty) for qty in ("out", *run.acc_ref.buffers))
    result.rows.extend(_loss_rows(loss, np_trace.outputs[-1], ref.outputs[-1], truth.outputs[-1],
                                  target, tol, dtype, noise_of is not None))
    for run in reversed(result.runs):
        result.rows.extend(row(run, f"{key}.grad") for key in run.layer.params)
        result.rows.append(row(run, "grad_in"))
    _mark_routing_flips(result, np_model, x, np_trace, truth, dtype)
    reference_model = truth_model if dtype == "float32" else torch_model
    result.steps = [check_steps(run, reference_model[run.index], dtype) for run in result.runs
                    if step_side(run.layer) is not None]
    step_slips = {s.layer: "; ".join(s.slips) for s in result.steps}
    for r in result.rows:  # gradients; a norm or residual layer's outputs and running statistics too
        if not r.local_ok and not r.is_loss and step_slips.get(r.layer):
            r.slip = step_slips[r.layer]  # what the layer's time steps show names it
        elif not r.local_ok and not r.is_loss and (r.kind == "gradient" or is_norm(result.runs[r.layer].layer)):
            r.slip = diagnose_layer(result.runs[r.layer], r.quantity)
        elif not r.local_ok and r.is_loss and loss == "temporal_ce":
            r.slip = temporal_loss_slip(r.quantity, r.local.actual, ref.outputs[-1], target)
    return result


def bias_floor(bias_terms: Mapping[str, float], key: str, dtype: str) -> float:
    """The scale floor of parameter `key`'s gradient ('bias', '2.branch.0.bias'): a bias gradient
    is a sum over the batch of its own module's upstream gradient, whose rounding is not blamed
    (verdict.sum_scale_floor of the sum of |those terms|, `bias_terms` as torch_side.bias_upstreams
    recorded them; an inner layer of a block too); 0 for any other parameter."""
    terms = bias_terms.get(key)
    return 0.0 if terms is None else sum_scale_floor(terms, dtype)


def _dtype_of(expected, dtype: str) -> str:
    """The dtype a quantity must have: the check's, or an integer buffer's own (num_batches_tracked)."""
    if expected is None or np.issubdtype(np.asarray(expected).dtype, np.floating):
        return dtype
    return str(np.asarray(expected).dtype)


def _max_windows(layer, x: np.ndarray) -> np.ndarray | None:
    """(N, C, Ho, Wo, k*k) windows of a max-pool's input, or None for any other layer. A layer
    may give its own with max_windows(x) (a user's pool, in its layout and padding)."""
    own = getattr(layer, "max_windows", None)
    if own is not None:
        return own(x)
    if layer.kind != "maxpool2d":
        return None
    win = sliding_window_view(x, (layer.k, layer.k), axis=(2, 3))[:, :, ::layer.stride, ::layer.stride]
    return win.reshape(*win.shape[:4], -1)


def _mark_routing_flips(result: CheckResult, np_model, x, np_trace: Trace, truth: Trace, dtype: str) -> None:
    """Judge accumulated gradients below a max-pool with near-tie flips by local error only."""
    cutoff, notes = -1, []
    for i, layer in enumerate(np_model.layers):
        ours = _max_windows(layer, x if i == 0 else np_trace.outputs[i - 1])
        if ours is None:
            continue
        ref_in = (x if i == 0 else truth.outputs[i - 1]).astype(np.float64)
        flat = _max_windows(layer, ref_in)
        a_ours = ours.argmax(-1)  # the first maximum of each window, as torch's kernel picks
        flips = a_ours != flat.argmax(-1)
        if not flips.any():
            continue
        picked = np.take_along_axis(flat, a_ours[..., None], axis=-1)[..., 0]
        gap = float(np.max((flat.max(-1) - picked)[flips])) / max(float(np.abs(ref_in).max()), 1e-300)
        if gap > ROUTING_TIE[dtype]:
            continue  # a real disagreement: leave it to the comparison
        cutoff = i
        notes.append(f"{int(flips.sum())} windows of {np_model[i].name} pick another of near-tied maxima "
                     f"than the reference (gap <= {gap:.1e} of the largest input); gradients at and "
                     f"below this layer are judged by their local error")
    for r in result.rows:
        if r.kind == "gradient" and 0 <= r.layer <= cutoff and not r.acc_ok:
            r.routing = "near-tie max-pool routing"
    result.notes.extend(notes)


def _layer_runs(np_model: Sequential, truth_model, x, upstream, np_trace: Trace, ref: Trace,
                truth: Trace, noise_of: Trace | None, before: tuple[dict, dict]) -> list[LayerRun]:
    """Each layer's record: its local run (the NumPy layer alone on the torch run's input and
    upstream gradient) beside the three end-to-end traces. `truth_model`: the float64 torch
    model of a float32 check, None in float64 (torch's own run is then the local reference).
    before: the NumPy and the truth model's buffers before their end-to-end forward; a local run
    starts from them, so that it updates the running statistics once, as torch's run did."""
    runs, names = [], layer_names(np_model)
    n = len(np_model)
    for i, layer in enumerate(np_model.layers):
        inp = x if i == 0 else ref.outputs[i - 1]  # (N, ...in)
        dout = upstream if i == n - 1 else ref.grad_inputs[i + 1]  # (N, ...out)
        _restore_buffers(layer, before[0], i)
        if truth_model is None:
            local_ref = _trace_pass(ref, i)
        else:
            reference.load_numpy_buffers(truth_model[i], _of_layer(before[1], i))
            local_ref = LayerPass(*layer_vjp(truth_model[i], inp.astype(np.float64), dout.astype(np.float64)),
                                  reference.numpy_buffers(truth_model[i]))
        # copies in: a layer that writes into its input must not change torch's record; copies
        # out: what the record keeps must not change when the layer runs again (finite differences)
        out = _kept(layer.forward(inp.copy()))
        layer.grads = {}
        grad_in = _kept(layer.backward(dout.copy()))
        grads = {k: _kept(v) for k, v in layer.grads.items()}
        buffers = {k: _kept(v) for k, v in getattr(layer, "buffers", {}).items()}
        runs.append(LayerRun(i, names[i], layer, inp, dout, LayerPass(out, grad_in, grads, buffers),
                             local_ref, _trace_pass(np_trace, i), _trace_pass(truth, i),
                             _trace_pass(noise_of, i) if noise_of is not None else None,
                             _of_layer(before[0], i)))
    return runs


def _kept(a):
    return None if a is None else np.array(a)


def _of_layer(tensors: dict, i: int) -> dict:
    """Layer i's entries of a model-wide dict keyed '<i>.<name>', keyed '<name>'."""
    return {key.split(".", 1)[1]: v for key, v in tensors.items() if key.split(".", 1)[0] == str(i)}


def _restore_buffers(layer, saved: dict, i: int) -> None:
    """Put layer i's buffers back to `saved` (model-wide keys), in place."""
    own = getattr(layer, "buffers", {})
    for name, value in _of_layer(saved, i).items():
        own[name][...] = value


def _trace_pass(trace: Trace, i: int) -> LayerPass:
    """Layer i's part of an end-to-end trace."""
    return LayerPass(trace.outputs[i], trace.grad_inputs[i], _of_layer(trace.grads, i), _of_layer(trace.buffers, i),
                     _of_layer(trace.bias_terms, i))


def loss_term_sizes(loss: str, pred: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """Size of the terms the loss value and dL/dpred are computed from (what their rounding
    scales with; see verdict.LOSS_ROUNDING_ULPS). torch's losses average over all elements
    (softmax CE and half SSE over samples)."""
    n, numel = len(pred), pred.size
    if loss == "softmax_ce":
        return float(np.max(np.abs(pred))) + 1.0, 1.0 / n
    if loss == "nll":
        p = np.clip(pred, 1e-300, None)
        return float(np.max(-np.log(p))), float(np.max(1.0 / p)) / n
    if loss == "bce":
        p = np.clip(pred, 1e-12, 1 - 1e-12)
        value = float(np.max(np.maximum(-np.log(p), -np.log1p(-p))))
        return value, float(np.max(1.0 / np.minimum(p, 1 - p))) / numel
    size = max(float(np.max(np.abs(pred))), float(np.max(np.abs(target))))
    per = numel if loss == "mse" else n
    return size * size / per, 2.0 * size / per


def _loss_rows(loss: str, out_np, out_ref, out_truth, target, tol: float, dtype: str,
               float32: bool) -> list[Row]:
    """Loss value and dL/dpred: accumulated (each side on its own output) and local
    (NumPy's loss on torch's output, against torch's loss in float64 on that output)."""
    check_target(loss, out_np, target)
    tgt = target if loss in NF.LABEL_LOSSES else target.astype(out_np.dtype)
    v_np, g_np = NF.LOSS_FUNCS[loss](out_np, tgt)
    v_loc, g_loc = NF.LOSS_FUNCS[loss](out_ref, tgt)
    truth = torch_loss(loss, out_truth, target)
    local_truth = torch_loss(loss, out_ref.astype(np.float64), target)
    noise = torch_loss(loss, out_ref, target) if float32 else None
    rows = []
    terms = loss_term_sizes(loss, out_truth.astype(np.float64), target)
    for k, qty, mine, here in ((0, "loss", np.asarray([v_np], dtype), np.asarray([v_loc], dtype)),
                               (1, "dloss/dpred", g_np, g_loc)):
        floor = loss_scale_floor(terms[k], dtype)
        acc = compare(qty, mine, truth[k], dtype, scale_floor=floor)
        loc = compare(qty, here, local_truth[k], dtype, scale_floor=floor)
        rows.append(Row(LOSS_LAYER, f"loss:{loss}", qty, acc, loc, tol, dtype,
                        compare(qty, noise[k], truth[k]).max_rel if float32 else None))
    return rows
