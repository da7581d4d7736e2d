"""Check a UserModel: the layer-by-layer comparison with its torch twin, the user's own loss
and its end-to-end gradients, finite differences, and what to say when only the twin
disagrees."""
from __future__ import annotations

import numpy as np
import torch

import reference
from numpy_impl import functional as NF

from ..compare import compare, relative_error
from ..fd import fd_check
from ..harness import LOSS_LAYER, Row, check_pair, layer_names, loss_term_sizes
from ..slips import diagnose
from ..torch_side import torch_loss
from ..verdict import SLIP_MATCH, TOLERANCES, agrees, loss_scale_floor
from .convnet.model import CNNModel
from .convnet.slips import name_cnn_slips, tied_maxima_rows
from .mlp.whole import WholeNet
from .result import UserCheckResult
from .shared.adapters import build_twin
from .shared.model import UserModel
from .shared.validate import user_model


def check(user: UserModel, seed: int = 0, fd: bool = True) -> UserCheckResult:
    """The layer-by-layer report for a user's model, with finite differences (float64).
    Anything but a model from byo.rowmajor(...), byo.cnn(...), ... is a TypeError in one line."""
    user_model(user, "byo.check")
    if isinstance(user, CNNModel):
        return _check_cnn(user, seed, fd)
    truth = build_twin(user.model, "float64")
    loss_rows, e2e = [], []
    if user.user_loss is not None:
        loss_rows, means = _user_loss_rows(user, truth)
        for layer in user.model.layers:
            layer.batch_means = means
        e2e = _end_to_end_rows(user, truth)
    torch_model = truth if user.dtype == "float64" else build_twin(user.model, user.dtype)
    base = check_pair(user.model, torch_model, user.x, user.target, user.loss, dtype=user.dtype, seed=seed,
                      truth_model=truth if user.dtype != "float64" else None, name=user.name,
                      activation="user")
    result = UserCheckResult(**vars(base))
    result.notes[:0] = user.notes
    if loss_rows:
        result.replace_loss_rows(loss_rows)
        result.rows.extend(e2e)
    _pin_whole_network(result, user.model)
    if fd and user.dtype == "float64":
        result.fd = fd_check(user.model, user.loss, user.l2, user.x, user.target, seed=seed)
        result.notes.extend(result.fd.notes())
    elif fd:
        result.notes.append("finite differences skipped: your parameters are float32, and differences of a "
                            "float32 loss resolve only ~1e-3; both sides are judged with float32 bars instead")
    for layer in user.model.layers:
        result.notes.extend(layer.warnings)
    result.notes.extend(_twin_suspect(result, user.model))
    return result


def _check_cnn(user: CNNModel, seed: int, fd: bool) -> UserCheckResult:
    """The layer-by-layer report of a CNN, plus a tied-maxima probe of every max-pool, conv/pool
    slips named, and finite differences on the samples its time budget allows."""
    twin = user.torch_model
    base = check_pair(user.model, twin, user.x, user.target, user.loss, seed=seed, name=user.name,
                      activation="user")
    result = UserCheckResult(**vars(base))
    result.notes[:0] = user.notes
    result.rows.extend(tied_maxima_rows(user.model, twin, seed))
    name_cnn_slips(result)
    if fd:
        result.fd = fd_check(user.model, user.loss, user.l2, user.x, user.target, seed=seed,
                             samples=user.fd_samples)
        result.notes.extend(result.fd.notes())
    for layer in user.model.layers:
        result.notes.extend(layer.warnings)
    return result


class TorchMismatch(AssertionError):
    """Your network disagrees with its torch twin; str() is the layer-by-layer report, and the
    pytest plugin (crosscheck.pytest_plugin) shows only that, without a traceback."""

    def __init__(self, result: UserCheckResult):
        super().__init__("your network does not match its torch twin:\n" + str(result))
        self.result = result


def assert_matches_torch(user: UserModel, seed: int = 0, fd: bool = True) -> UserCheckResult:
    """For pytest: raise TorchMismatch (an AssertionError) carrying the layer-by-layer report
    unless it passes. Anything but a model from byo.rowmajor(...), ... is a TypeError in one line."""
    user_model(user, "assert_matches_torch")
    result = check(user, seed=seed, fd=fd)
    if not result.passed:
        raise TorchMismatch(result)
    return result


def _user_loss_rows(user: UserModel, truth) -> tuple[list[Row], bool]:
    """Your loss value and gradient against torch's, on your output (accumulated) and on
    torch's (local); and whether your loss gradient leaves the 1/N to your layers."""
    dtype, tol = user.dtype, TOLERANCES[user.dtype]
    x64 = torch.tensor(np.asarray(user.x, dtype=np.float64))
    out_t = truth(x64).detach().numpy()
    out_u = user.model.forward(user.x)
    t_val, t_grad = torch_loss(user.loss, out_t, user.target)
    u_val, u_grad = user.user_loss(out_u, user.target)
    l_val, l_grad = user.user_loss(out_t.astype(dtype), user.target)
    n = out_t.shape[0]
    value_ok = agrees(relative_error([l_val], t_val), tol)
    means = (value_ok and n > 1 and not agrees(relative_error(l_grad, t_grad), tol)
             and agrees(relative_error(l_grad / n, t_grad), tol))
    scale = 1.0 / n if means else 1.0
    label = f"loss:yours({user.loss})"
    rows = []
    terms = loss_term_sizes(user.loss, out_t, user.target)
    for k, (qty, acc_pair, loc_pair) in enumerate((
            ("loss", (np.array([u_val], dtype), t_val), (np.array([l_val], dtype), t_val)),
            ("dloss/dpred", (u_grad * scale, t_grad), (l_grad * scale, t_grad)))):
        floor = loss_scale_floor(terms[k], dtype)
        acc = compare(qty, acc_pair[0], acc_pair[1], dtype, scale_floor=floor)
        loc = compare(qty, loc_pair[0], loc_pair[1], dtype, scale_floor=floor)
        row = Row(LOSS_LAYER, label, qty, acc, loc, tol, dtype)
        if not row.local_ok:
            row.slip = diagnose(qty, loc_pair[0], loc_pair[1], out_t)
        rows.append(row)
    if means:
        user.notes.append(f"your loss gradient is a sum over the batch (N={n} times torch's mean): your "
                          f"layers are expected to divide by N, and the end-to-end rows check that they do")
    return rows, means


def _end_to_end_rows(user: UserModel, truth) -> list[Row]:
    """Parameter gradients your code produces for your own loss, against torch's for its loss."""
    model, dtype = user.model, user.dtype
    saved = [layer.batch_means for layer in model.layers]
    for layer in model.layers:
        layer.batch_means = False
    pred = model.forward(user.x)
    _, dpred = user.user_loss(pred, user.target)
    model.backward(np.asarray(dpred, dtype=pred.dtype))
    for layer, flag in zip(model.layers, saved):
        layer.batch_means = flag
    truth.zero_grad(set_to_none=True)
    out = truth(torch.tensor(np.asarray(user.x, dtype=np.float64)))
    tgt = torch.as_tensor(user.target) if user.loss in NF.LABEL_LOSSES else torch.as_tensor(user.target, dtype=out.dtype)
    reference.loss_value(user.loss, out, tgt).backward()
    want = {k: p.grad.numpy() for k, p in truth.named_parameters()}
    names, rows = layer_names(model), []
    for key, got in model.grad_dict().items():
        i, pname = key.split(".", 1)
        qty = f"{pname}.grad"
        acc = compare(f"{qty} (your loss, end to end)", got, want[key], dtype)
        row = Row(int(i), names[int(i)], f"{qty}[your loss]", acc, acc, TOLERANCES[dtype], dtype)
        if not row.local_ok:
            row.slip = diagnose(qty, got, want[key], user.x)
        rows.append(row)
    return rows


def _pin_whole_network(result, model) -> None:
    """A whole-network function is one 'layer' to the harness; name rows by their (W, b)."""
    if len(model) != 1 or not isinstance(model[0], WholeNet):
        return
    net = model[0]
    last = len(net.pairs) - 1
    for row in result.rows:
        if row.layer != 0:
            continue
        k = net.layer_of(row.quantity.split("[")[0])
        k = last if row.quantity == "out" else (0 if k is None else k)
        row.layer, row.layer_name = k, f"{k}:W{k + 1},b{k + 1}"


def _twin_suspect(result, model) -> list[str]:
    """Finite differences agree with your gradients but the twin disagrees: the twin was
    built from a wrong description (or your forward computes something else than named)."""
    culprit = result.culprit()
    if result.fd is None or not result.fd.passed or culprit is None or culprit.layer < 0:
        return []
    layer = model[culprit.layer] if culprit.layer < len(model) and not isinstance(model[0], WholeNet) else None
    causes = []
    if layer is not None:
        if layer.activation == "leaky_relu":
            causes.append(f"its slope (taken as {layer.alpha:g}; declare ('leaky_relu', slope))")
        causes.append(f"its activation (taken as {layer.activation}; declare activations=[...])")
        if layer.has_linear and layer.params["weight"].shape[0] == layer.params["weight"].shape[1]:
            causes.append("its W layout (square W; declare w_layout='in,out' or 'out,in')")
    else:
        causes.append("the activations=[...] or layout you declared")
    return [f"finite differences agree with your gradients, so your backward matches your own forward; "
            f"the torch twin of layer {culprit.layer} was built from a description that differs from what "
            f"your forward computes. Likely cause: {', or '.join(causes)} -- or your forward computes "
            f"something other than its name says"]
