"""Check a whole program against its torch twin (the activations it was described by): its
output, its loss value where it gives one, and every parameter gradient of its own loss under
its declared convention. A program computes its own upstream gradient, so rows are judged end
to end only; the deepest (W, b) whose gradient is wrong is the culprit (rows go backward)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

import reference
from numpy_impl import functional as NF

from ...compare import compare
from ...harness import LOSS_LAYER, Row, loss_term_sizes
from ...layer_run import LayerPass, LayerRun
from ...slips import derivative_slip, diagnose, diagnose_loss
from ...verdict import TOLERANCES, loss_scale_floor
from ..mlp.whole import WholeTwin
from ..result import UserCheckResult
from ..shared.validate import quiet_numpy
from .model import ProgramModel


def check_program(user: ProgramModel) -> UserCheckResult:
    """The report of a whole program: out, loss, then W, b gradients deepest first."""
    prog, n = user.program, len(user.x)
    params = {f"{k}{i + 1}": p for i, pair in enumerate(prog.pairs) for k, p in zip("Wb", pair)}
    twin, out_t, value_t, want, seen = _torch_side(user)
    with quiet_numpy():
        out_u = prog.forward(user.x.copy())
        value, grads = prog.run(user.x.copy(), user.target)
    result = UserCheckResult(user.name, "user", "float64")
    result.notes[:0] = user.notes
    names = [f"{k}:W{k + 1},b{k + 1}" for k in range(len(prog.pairs))]
    if out_u is not None:
        result.rows.append(_row(len(names) - 1, names[-1], "out", np.asarray(out_u).reshape(out_t.shape), out_t))
    if value is not None:
        result.rows.append(_loss_row(user, user.convention.program_value(value, params, n), value_t, out_t))
    for k in reversed(range(len(prog.pairs))):
        for key, got in zip((f"W{k + 1}", f"b{k + 1}"), _torch_layout(prog, grads[k], k)):
            got = user.convention.program_grad(key, got, twin_param(prog, key), n)
            row = _row(k, names[k], f"{key}.grad", got, want[key])
            run = _run(k, names[k], prog, key, got, want[key], user.x)
            if not row.local_ok:
                row.slip = _slip(user, k, key, got, want[key], seen) or diagnose(f"{key}.grad", got, want[key], user.x)
            result.rows.append(row)
            result.runs.append(run)
    return result


def twin_param(prog, key: str) -> np.ndarray:
    """W (out, in) or b (out,) of the program, as the twin holds it."""
    w, b = prog.pairs[int(key[1:]) - 1]
    if key[0] == "b":
        return np.asarray(b, dtype=np.float64).reshape(-1)
    return np.asarray(w, dtype=np.float64) if prog.col else np.asarray(w, dtype=np.float64).T


def _torch_layout(prog, pair, k: int):
    """(dW (out, in), db (out,)) from the program's layout, said in one line when misshapen."""
    dw, db = (np.asarray(g, dtype=np.float64) for g in pair)
    w = np.asarray(prog.pairs[k][0])
    if dw.size != w.size:
        raise ValueError(f"{prog.label}: dW{k + 1} has shape {dw.shape} for W{k + 1} of shape {w.shape}")
    dw = dw.reshape(w.shape)
    return (dw if prog.col else dw.T), db.reshape(-1)


def _torch_side(user: ProgramModel):
    """The twin (W (out, in)), its output, its loss and its gradients of that loss."""
    prog = user.program
    shapes = [tuple(twin_param(prog, f"W{k + 1}").shape) for k in range(len(prog.pairs))]
    twin = WholeTwin(shapes, list(user.acts)).double()
    with torch.no_grad():
        for name, p in twin.named_parameters():
            p.copy_(torch.as_tensor(twin_param(prog, name)))
    out, inputs, outputs = twin.forward_kept(torch.tensor(user.x))
    tgt = torch.as_tensor(user.target) if user.loss in NF.LABEL_LOSSES else torch.as_tensor(user.target,
                                                                                            dtype=out.dtype)
    value = reference.loss_value(user.loss, out, tgt.reshape(out.shape) if user.loss not in NF.LABEL_LOSSES else tgt)
    value.backward()
    want = {k: p.grad.numpy().copy() for k, p in twin.named_parameters()}
    seen = [(h.detach().numpy().copy(), a.grad.numpy().copy()) for h, a in zip(inputs, outputs)]
    return twin, out.detach().numpy(), value.item(), want, seen


def _slip(user: ProgramModel, k: int, key: str, got, want, seen) -> str:
    """The activation-derivative slip of layer k (slips.derivative_slip) that explains its wrong
    W or b gradient, from torch's input to that layer and dL/d(its output): a program wrong first
    at layer k (going backward) receives the right dL/d(output) there."""
    act, alpha = user.acts[k]
    w, b = twin_param(user.program, f"W{k + 1}"), twin_param(user.program, f"b{k + 1}")
    layer = SimpleNamespace(activation=act, alpha=alpha, has_linear=True, params={"weight": w, "bias": b},
                            pre_activation=lambda x: x @ w.T + b)
    x, upstream = seen[k]
    quantity = "weight.grad" if key[0] == "W" else "bias.grad"
    none = LayerPass(None, None, {})
    run = LayerRun(k, "", layer, x, upstream, none, none, none, none)
    return derivative_slip(quantity, got, want, run)


def _row(k: int, name: str, qty: str, got, want) -> Row:
    acc = compare(qty, got, want, "float64")
    return Row(k, name, qty, acc, acc, TOLERANCES["float64"], "float64")


def _loss_row(user: ProgramModel, value: float, value_t: float, out_t) -> Row:
    terms = loss_term_sizes(user.loss, out_t, user.target.reshape(out_t.shape) if user.loss not in NF.LABEL_LOSSES
                            else user.target)
    acc = compare("loss", np.array([value]), np.array([value_t]), "float64",
                  scale_floor=loss_scale_floor(terms[0], "float64"))
    row = Row(LOSS_LAYER, f"loss:yours({user.loss})", "loss", acc, acc, TOLERANCES["float64"], "float64")
    if not row.local_ok:
        row.slip = diagnose_loss(user.loss, "loss", [value], [value_t], out_t, user.target)
    return row


def _run(k: int, name: str, prog, key: str, got, want, x) -> LayerRun:
    """One gradient's record, for recognising an L2 term (recognise._with_l2)."""
    holder = SimpleNamespace(params={key: twin_param(prog, key)}, program=True)
    mine, ref = LayerPass(None, None, {key: got}), LayerPass(None, None, {key: want})
    return LayerRun(k, name, holder, x, None, mine, ref, mine, ref)
