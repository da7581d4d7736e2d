"""Check a UserModel: the layer-by-layer comparison with its torch twin, the user's own loss
and its end-to-end gradients, finite differences, and what to say when only the twin
disagrees."""
from __future__ import annotations

import copy

import numpy as np
import torch

import reference
from reference.build import TORCH_DTYPES
from numpy_impl import functional as NF

from ..compare import compare
from ..fd import fd_check
from ..harness import LOSS_LAYER, Row, bias_floor, check_pair, layer_names, loss_term_sizes
from ..recurrent_slips import temporal_loss_slip
from ..slips import diagnose, diagnose_loss
from ..torch_side import bias_upstreams, torch_loss
from ..verdict import TOLERANCES, loss_scale_floor, undeclared_convention_passes
from .convnet.model import CNNModel
from .convnet.slips import name_cnn_slips, tied_maxima_rows
from .mlp.whole import WholeNet
from .program.check import check_program
from .program.model import ProgramModel
from .recurrent.model import RecurrentModel
from .recognise import adopted, recognise as find_convention
from .result import UserCheckResult
from .shared.adapters import build_twin
from .shared.kept import objects_kept, user_objects
from .shared.model import UserModel
from .shared.objects import recorders_standing_in
from .shared.validate import quiet_numpy, user_model


def check(user: UserModel, seed: int = 0, fd: bool = True, recognise: bool = True) -> UserCheckResult:
    """The layer-by-layer report for a user's model, with finite differences (float64); where
    it fails, whether a convention you did not declare explains it exactly (recognise.py).
    Anything but a model from byo.rowmajor(...), byo.cnn(...), ... is a TypeError in one line."""
    user_model(user, "byo.check")
    layers = getattr(getattr(user, "model", None), "layers", [])
    recorders_standing_in(layers, on=True)
    try:
        with objects_kept(user_objects(layers)):  # the user's objects are left as they were
            return _check_and_recognise(user, seed, fd, recognise)
    finally:
        recorders_standing_in(layers, on=False)


def _check_and_recognise(user: UserModel, seed: int, fd: bool, recognise: bool) -> UserCheckResult:
    result = _check(user, seed, fd)
    if not recognise or result.passed or isinstance(user, RecurrentModel):  # no convention to recognise there
        return result
    found = find_convention(user, result, lambda: _check(user, seed, False))
    if found is None:
        return result
    convention, under = found
    declared, changes = user.convention, "; ".join(convention.changes(user.convention))
    changed = {f for f in ("l2_w", "l2_b", "batch_mean", "ascent") if getattr(convention, f) != getattr(declared, f)}
    if under.passed and not undeclared_convention_passes(changed, convention.batch_mean, user.user_loss is not None):
        result.undeclared = changes
        return result
    with adopted(user, convention):
        result = _check(user, seed, fd)
    if result.passed:
        result.notes.insert(0, f"passed under a convention you did not declare, recognised exactly: {changes} "
                               f"(verdict.undeclared_convention_passes says why no bug can hide behind it)")
    else:
        result.undeclared, result.partly = changes, True
    return result


def _check(user: UserModel, seed: int, fd: bool) -> UserCheckResult:
    """The report for any convention, without recognising an undeclared one."""
    if isinstance(user, ProgramModel):
        return check_program(user)
    return _check_cnn(user, seed, fd) if isinstance(user, CNNModel) else _check_layers(user, seed, fd)


def _check_layers(user: UserModel, seed: int, fd: bool) -> UserCheckResult:
    """The layer-by-layer report of an MLP convention: layers on a random upstream gradient,
    your loss judged first, the gradients it gives end to end, finite differences."""
    truth = build_twin(user.model, "float64")
    torch_model = truth if user.dtype == "float64" else build_twin(user.model, user.dtype)
    base = check_pair(user.model, torch_model, user.x, user.target, user.loss, dtype=user.dtype, seed=seed,
                      truth_model=truth if user.dtype != "float64" else None, name=user.name,
                      activation="user")
    result = UserCheckResult(**vars(base))
    result.notes[:0] = user.notes
    _add_user_loss(result, user, truth)
    _pin_whole_network(result, user.model)
    if fd:
        _add_fd(result, user, seed)
    for layer in user.model.layers:
        result.notes.extend(layer.warnings)
    result.notes.extend(_twin_suspect(result, user.model))
    return result


def _check_cnn(user: CNNModel, seed: int, fd: bool) -> UserCheckResult:
    """The layer-by-layer report of a CNN, plus a tied-maxima probe of every max-pool, conv/pool
    slips named, your loss and its end-to-end gradients, and finite differences on the samples
    its size plan allows."""
    truth = user.torch_model  # float64; a float32 copy runs beside it where your code is float32
    # built once with the model; your parameters and running statistics as they are now (a check
    # before this one moved the twin's running statistics, and yours were put back)
    reference.load_numpy_state(truth, user.model.state_dict())
    twin = truth if user.dtype == "float64" else copy.deepcopy(truth).to(TORCH_DTYPES[user.dtype])
    base = check_pair(user.model, twin, user.x, user.target, user.loss, dtype=user.dtype, seed=seed,
                      truth_model=truth if user.dtype != "float64" else None, name=user.name, activation="user")
    result = UserCheckResult(**vars(base))
    result.notes[:0] = user.notes
    result.rows.extend(tied_maxima_rows(user.model, twin, seed, user.dtype))
    name_cnn_slips(result)
    _add_user_loss(result, user, truth)
    if fd:
        _add_fd(result, user, seed, samples=user.fd_samples)
    for layer in user.model.layers:
        result.notes.extend(layer.warnings)
    return result


def _add_fd(result: UserCheckResult, user: UserModel, seed: int, **kw) -> None:
    """Finite differences on a float64 network; on a float32 one a note saying why not."""
    if user.dtype == "float64":
        result.fd = fd_check(user.model, user.loss, user.l2, user.x, user.target, seed=seed, **kw)
        result.notes.extend(result.fd.notes())
    else:
        result.notes.append("finite differences skipped: your parameters are float32, and differences of a "
                            "float32 loss resolve only ~1e-3; both sides are judged with float32 bars instead")


def _add_user_loss(result: UserCheckResult, user: UserModel, truth) -> None:
    """Your loss judged first: its rows stand where torch's loss rows stood, and the gradients
    your layers give for it end to end follow the layers' own rows."""
    if user.user_loss is None:
        return
    result.replace_loss_rows(_user_loss_rows(user, truth))
    result.rows.extend(_end_to_end_rows(user, truth))


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


def _your_loss(user: UserModel, pred: np.ndarray) -> tuple[float, np.ndarray]:
    """Your loss on `pred` (N, out), as torch's batch-mean loss under your declared convention."""
    with quiet_numpy():  # an overflow in your loss is judged (its rows), not printed
        value, grad = user.user_loss(pred, user.target)
    return user.convention.loss(value, np.asarray(grad, dtype=pred.dtype), len(pred))


def _user_loss_rows(user: UserModel, truth) -> list[Row]:
    """Your loss value and gradient (under your declared convention) against torch's, on your
    output (accumulated) and on torch's (local, which judges the loss alone)."""
    dtype, tol = user.dtype, TOLERANCES[user.dtype]
    out_t = truth(torch.tensor(np.asarray(user.x, dtype=np.float64))).detach().numpy()
    t_val, t_grad = torch_loss(user.loss, out_t, user.target)
    u_val, u_grad = _your_loss(user, user.model.forward(user.x))
    l_val, l_grad = _your_loss(user, out_t.astype(dtype))
    terms = loss_term_sizes(user.loss, out_t, user.target)
    rows = []
    for k, (qty, acc_pair, loc_pair) in enumerate((
            ("loss", (np.array([u_val], dtype), t_val), (np.array([l_val], dtype), t_val)),
            ("dloss/dpred", (u_grad, t_grad), (l_grad, t_grad)))):
        floor = loss_scale_floor(terms[k], dtype)
        acc = compare(qty, acc_pair[0], acc_pair[1], dtype, scale_floor=floor)
        loc = compare(qty, loc_pair[0], loc_pair[1], dtype, scale_floor=floor)
        row = Row(LOSS_LAYER, f"loss:yours({user.loss})", qty, acc, loc, tol, dtype)
        if not row.local_ok:
            row.slip = (temporal_loss_slip(qty, loc_pair[0], out_t, user.target) if user.loss == "temporal_ce"
                        else "") or diagnose_loss(user.loss, qty, loc_pair[0], loc_pair[1], out_t, user.target)
        rows.append(row)
    return rows


def _end_to_end_rows(user: UserModel, truth) -> list[Row]:
    """The parameter gradients your code produces for your own loss. End to end they are
    judged against torch's for its loss; locally against the twin's for YOUR loss gradient, so
    a wrong loss leaves your layers inherited, and a layer wrong only on it is wrong."""
    model, dtype = user.model, user.dtype
    x64 = torch.tensor(np.asarray(user.x, dtype=np.float64))
    pred = model.forward(user.x)
    _, dpred = _your_loss(user, pred)
    if not np.all(np.isfinite(dpred)):
        return []  # your loss gave no gradient to carry: its own rows say so
    model.backward(np.asarray(dpred, dtype=pred.dtype))
    want, want_terms = _twin_grads(truth, x64, None, user)
    local, local_terms = _twin_grads(truth, x64, np.asarray(dpred, dtype=np.float64), user)
    names, rows = layer_names(model), []
    for key, got in model.grad_dict().items():
        i, pname = key.split(".", 1)
        qty = f"{pname}.grad"
        acc = compare(f"{qty} (your loss, end to end)", got, want[key], dtype,
                      scale_floor=bias_floor(want_terms, key, dtype))
        loc = compare(f"{qty} (your loss gradient, through the twin)", got, local[key], dtype,
                      scale_floor=bias_floor(local_terms, key, dtype))
        row = Row(int(i), names[int(i)], f"{qty}[your loss]", acc, loc, TOLERANCES[dtype], dtype)
        if not row.local_ok:
            row.slip = diagnose(qty, got, local[key], user.x)
        rows.append(row)
    return rows


def _twin_grads(truth, x64: torch.Tensor, upstream, user: UserModel) -> tuple[dict[str, np.ndarray], dict]:
    """The twin's parameter gradients for torch's loss (upstream None) or from `upstream`, and
    what each bias gradient is summed from (torch_side.bias_upstreams, for harness.bias_floor)."""
    truth.zero_grad(set_to_none=True)
    with bias_upstreams(truth) as terms:
        out = truth(x64)
        if upstream is None:
            tgt = torch.as_tensor(user.target) if user.loss in NF.LABEL_LOSSES else \
                torch.as_tensor(user.target, dtype=out.dtype)
            reference.loss_value(user.loss, out, tgt).backward()
        else:
            out.backward(torch.as_tensor(upstream.reshape(out.shape)))
    return {k: p.grad.numpy().copy() for k, p in truth.named_parameters()}, terms


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
    if layer is not None and hasattr(layer, "twin_causes"):  # a layer that knows what its twin was built from
        causes = layer.twin_causes()
    elif layer is not None:
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
