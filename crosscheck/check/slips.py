"""Name the usual hand-written-backprop slip that would explain a failing gradient."""
from __future__ import annotations

import numpy as np
import torch

from numpy_impl import functional as NF
from reference.build import activation_module

from .compare import relative_error
from .layer_run import LayerRun
from .norm_slips import is_norm, norm_slip
from .recurrent_slips import embedding_slip
from .verdict import SLIP_MATCH, agrees


def _close(candidate, expected) -> bool:
    """Does this candidate explain the error: does it match the reference within SLIP_MATCH?"""
    return agrees(relative_error(candidate, expected), SLIP_MATCH)


def _activation_name(layer) -> str | None:
    name = getattr(layer, "activation", None) or getattr(layer, "kind", None)
    return name if name in NF.ACTIVATION_FUNCS or name in ("leaky_relu", "elu") else None


def diagnose(quantity: str, actual, expected, x) -> str:
    """A one-phrase guess at the slip ('weight gradient transposed', ...) or '', for a quantity
    whose layer is not at hand (a loss, an end-to-end gradient): the scale slips only.
    x: the batch the quantity was computed from, (N, ...): gives N and D. Never raises."""
    return _shape_slip(quantity, actual, expected) or _scale_slip(quantity, np.asarray(actual),
                                                                  np.asarray(expected), x)


# exp overflows float64 above this argument, and underflows to 0 below minus this (subnormals
# included): a softmax whose logits span more than it cannot be taken without shifting, nor its
# probabilities' logarithm without log-softmax.
EXP_OVERFLOW = 709.78
EXP_UNDERFLOW = 745.13


def diagnose_loss(loss: str, quantity: str, actual, expected, pred, target) -> str:
    """The slip that explains a user's wrong loss value or gradient on `pred` (torch's output,
    (N, out)): non-finite where torch's is finite (softmax not shifted, log of 0), else a scale
    slip as diagnose names it. Never raises."""
    a = np.asarray(actual, dtype=np.float64)
    if np.all(np.isfinite(a)) or not np.all(np.isfinite(np.asarray(expected, dtype=np.float64))):
        return diagnose(quantity, actual, expected, pred)
    z = np.asarray(pred, dtype=np.float64)
    if loss == "softmax_ce" and z.ndim == 2:
        if np.any(np.isnan(a)) and float(np.max(np.abs(z))) > EXP_OVERFLOW:  # exp(z) / sum = inf / inf
            return (f"softmax not shifted: exp overflows at logits up to {float(np.max(np.abs(z))):.4g} "
                    f"(subtract each row's max before exp)")
        labels = np.asarray(target).reshape(-1).astype(int)
        gap = float(np.max(z.max(axis=1) - z[np.arange(len(z)), labels]))
        if gap > EXP_UNDERFLOW:
            return (f"log of 0: a true class's softmax probability underflows to 0 (its logit {gap:.4g} below "
                    f"the row's max); take log-softmax, z_y - logsumexp(z), not log(softmax(z))")
    if loss in ("nll", "bce") and (np.any(z <= 0) or (loss == "bce" and np.any(z >= 1))):
        return ("log of 0: a predicted probability is exactly 0 (or 1 for bce); clip it, or take the loss "
                "from the logits")
    return f"{quantity} is not finite where the reference's is"


def diagnose_layer(run: LayerRun, quantity: str) -> str:
    """The slip that explains a layer's failing local `quantity` ('grad_in', 'weight.grad', ...;
    for a norm or residual layer also 'out' and its running statistics): a normalisation slip
    (norm_slips.py), its activation's derivative written wrongly, or a scale slip, or ''. Never raises: a
    candidate that cannot be formed is simply not tried."""
    actual, expected = run.local.get(quantity), run.local_ref.get(quantity)
    if quantity == "weight.grad" and embedding_slip(run):
        return embedding_slip(run)
    if is_norm(run.layer):
        try:
            found = norm_slip(run, quantity, actual, expected, _close)
        except (ValueError, TypeError, KeyError, AttributeError, FloatingPointError):
            found = ""  # a candidate that does not fit this layer
        if found:
            return found
    shape = _shape_slip(quantity, actual, expected)
    if shape:
        return shape
    actual, expected = np.asarray(actual), np.asarray(expected)
    try:
        found = _activation_slip(quantity, actual, expected, run)
    except (ValueError, TypeError, FloatingPointError):  # a candidate that does not fit this layer
        found = ""
    return found or _scale_slip(quantity, actual, expected, run.input)


def derivative_slip(quantity: str, actual, expected, run: LayerRun) -> str:
    """The activation-derivative slip alone (taken at the output, fed the input, missing, ...)
    that explains a fused layer's 'weight.grad' or 'bias.grad' from the reference's input and
    upstream gradient at that layer, or ''. Never raises."""
    try:
        return _activation_slip(quantity, np.asarray(actual), np.asarray(expected), run)
    except (ValueError, TypeError, FloatingPointError):
        return ""


def _shape_slip(quantity: str, actual, expected) -> str:
    if actual is None:
        return "no gradient stored for this quantity"
    actual, expected = np.asarray(actual), np.asarray(expected)
    if actual.size != expected.size:
        hint = " (summed over the wrong axis?)" if quantity.startswith("bias") else ""
        return f"{quantity} has shape {actual.shape} where {expected.shape} was expected{hint}"
    return ""


def _scale_slip(quantity: str, actual, expected, x) -> str:
    n = x.shape[0]
    candidates = []
    if actual.ndim == 2 and actual.T.shape == expected.shape:
        candidates.append((actual.T, f"{quantity} transposed"))
    candidates += [
        (actual / n, f"missing 1/N: {quantity} is N={n} times too large (sum over the batch where the mean was meant)"),
        (actual * n, f"extra 1/N: {quantity} is N={n} times too small (mean over the batch where the sum was meant)"),
        (-actual, f"{quantity} has the wrong sign"),
    ]
    d = int(np.prod(x.shape[1:])) if x.ndim > 1 else 1
    if quantity.startswith(("loss", "dloss")) and d > 1:  # a loss over D outputs per sample
        candidates += [
            (actual / d, f"{quantity} is D={d} times too large: summed over the {d} outputs of a sample "
                         f"where the loss averages over them (torch's mse is the mean over all N*D elements)"),
            (actual * d, f"{quantity} is D={d} times too small: averaged over the {d} outputs of a sample "
                         f"where the loss sums them")]
    for candidate, message in candidates:
        if _close(candidate, expected):
            return message
    return ""


def _activation_slip(quantity: str, actual, expected, run: LayerRun) -> str:
    """Wrong activation derivatives, evaluated on the layer's pre-activation (for a fused
    linear+activation layer, not on its input), and carried through its linear part."""
    layer = run.layer
    act = _activation_name(layer)
    if act is None or act == "identity":
        return ""
    x, dy = run.input.astype(np.float64), run.upstream.astype(np.float64)
    fused = bool(getattr(layer, "has_linear", False))
    if quantity != "grad_in" and not fused:
        return ""
    z = layer.pre_activation(x) if fused else x
    alpha = getattr(layer, "alpha", 0.01)
    f, df = _reference_activation(act, alpha)
    slips = ((dy * df(f(z)), f"{act} derivative taken at the output instead of the input (f'(f(x)) for f'(x))"),
             (dy * OUTPUT_FORM_DERIVATIVES[act](z, alpha),
              f"{act} derivative written in terms of the output but fed the input"),
             (dy, f"{act} derivative missing (the gradient passes through {act} unchanged)"),
             (dy * df(z) * (z > 0), f"{act} derivative is 0 for x < 0 (its negative branch lost, as in ReLU's)"))
    for dz, message in slips:
        candidate = _through_linear(quantity, dz, x, layer) if fused else dz
        if candidate is None or candidate.shape != expected.shape:
            continue
        if _close(actual, candidate) and not _close(candidate, expected):
            return message
    return ""


# How people write an activation's derivative from its output y = f(x): the slip "fed the input"
# is this formula evaluated at x instead of y.
OUTPUT_FORM_DERIVATIVES = {
    "sigmoid": lambda y, alpha: y * (1 - y),
    "tanh": lambda y, alpha: 1 - y * y,
    "relu": lambda y, alpha: (y > 0).astype(y.dtype),
    "leaky_relu": lambda y, alpha: np.where(y > 0, 1.0, alpha),
    "elu": lambda y, alpha: np.where(y > 0, 1.0, y + alpha),
    "softplus": lambda y, alpha: -np.expm1(-y),
}


def _reference_activation(act: str, alpha: float):
    """The activation and its derivative as torch computes them, float64: the slips are built
    from the reference, never from the NumPy side's own derivative, which may be the bug."""
    module = activation_module(act, alpha)

    def f(z):
        return module(torch.as_tensor(np.asarray(z, dtype=np.float64))).numpy()

    def df(z):
        t = torch.tensor(np.asarray(z, dtype=np.float64), requires_grad=True)
        module(t).backward(torch.ones_like(t))
        return t.grad.numpy()
    return f, df


def _through_linear(quantity: str, dz, x, layer):
    """What a fused layer reports for `quantity` when its activation's derivative gives dz."""
    w = np.asarray(layer.params["weight"], dtype=np.float64)
    if quantity == "grad_in":
        return (dz @ w).reshape(x.shape)
    if quantity == "weight.grad":
        return dz.T @ x.reshape(len(x), -1)
    if quantity == "bias.grad":
        return dz.sum(axis=0)
    return None
