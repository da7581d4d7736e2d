"""Pure forward/backward functions. Each `*_forward` returns (output, cache) and each
`*_backward` takes the upstream gradient and that cache. Batch-first, torch conventions."""
from __future__ import annotations

import numpy as np

Array = np.ndarray


# --- linear ---------------------------------------------------------------

def linear_forward(x: Array, w: Array, b: Array) -> tuple[Array, tuple]:
    """x (N, in), w (out, in), b (out,) -> y (N, out)."""
    return x @ w.T + b, (x, w)


def linear_backward(dy: Array, cache: tuple) -> tuple[Array, Array, Array]:
    """dy (N, out) -> dx (N, in), dw (out, in), db (out,)."""
    x, w = cache
    return dy @ w, dy.T @ x, dy.sum(axis=0)


# --- activations ----------------------------------------------------------
# Each activation is (f(x), f'(x) computed from x and y = f(x)).

def sigmoid(x: Array) -> Array:
    """Logistic function, finite and accurate for any |x| (no overflow in exp)."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _sigmoid_grad(x: Array, y: Array) -> Array:
    # e/(1+e)^2 with e = exp(-|x|) keeps full relative accuracy where y(1-y) cancels.
    e = np.exp(-np.abs(x))
    return e / (1.0 + e) ** 2


def softplus(x: Array) -> Array:
    """log(1 + exp(x)) without overflow: max(x, 0) + log1p(exp(-|x|))."""
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def _leaky(alpha: float):
    return (lambda x: np.where(x > 0, x, alpha * x),
            lambda x, y: np.where(x > 0, 1.0, alpha).astype(x.dtype))


def _elu(alpha: float):
    return (lambda x: np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))),
            lambda x, y: np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0))).astype(x.dtype))


ACTIVATION_FUNCS = {
    "relu": (lambda x: np.maximum(x, 0), lambda x, y: (x > 0).astype(x.dtype)),
    "sigmoid": (sigmoid, _sigmoid_grad),
    "tanh": (np.tanh, lambda x, y: 1.0 - y * y),
    "softplus": (softplus, lambda x, y: sigmoid(x)),
    "identity": (lambda x: x, lambda x, y: np.ones_like(x)),
}


def activation_funcs(name: str, alpha: float = 0.01):
    """(f, df) for an element-wise activation; df takes (x, f(x))."""
    if name == "leaky_relu":
        return _leaky(alpha)
    if name == "elu":
        return _elu(alpha)
    try:
        return ACTIVATION_FUNCS[name]
    except KeyError:
        raise ValueError(f"activation: unknown {name!r}; choose from "
                         f"{', '.join([*ACTIVATION_FUNCS, 'leaky_relu', 'elu', 'softmax'])}") from None


def activation_forward(x: Array, name: str, alpha: float = 0.01) -> tuple[Array, tuple]:
    if name == "softmax":
        y = softmax(x)
        return y, (x, y, name, alpha)
    f, _ = activation_funcs(name, alpha)
    y = f(x).astype(x.dtype, copy=False)
    return y, (x, y, name, alpha)


def activation_backward(dy: Array, cache: tuple) -> Array:
    x, y, name, alpha = cache
    if name == "softmax":
        return y * (dy - (dy * y).sum(axis=-1, keepdims=True))
    _, df = activation_funcs(name, alpha)
    return dy * df(x, y)


def softmax(z: Array) -> Array:
    """Softmax over the last axis, shifted by the max for stability."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(z: Array) -> Array:
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


# --- losses: (value, dL/dpred); all are averaged over the batch ---------------

def mse(pred: Array, target: Array) -> tuple[float, Array]:
    """Mean over all elements of (pred - target)^2, like torch's MSELoss."""
    diff = pred - target
    return float(np.mean(diff * diff)), 2.0 * diff / diff.size


def half_sse(pred: Array, target: Array) -> tuple[float, Array]:
    """0.5 * sum over outputs of (target - pred)^2, averaged over the batch."""
    diff = pred - target
    n = pred.shape[0]
    return float(0.5 * np.sum(diff * diff) / n), diff / n


BCE_LOG_CLAMP = -100.0  # torch.nn.BCELoss clamps log(p) at -100 so p = 0 or 1 stays finite
# ... and divides by max(p(1-p), 1e-12) in backward, where ATen's 1e-12 is a C float:
# float32(1e-12) = 9.99999996e-13, which we copy so saturated probabilities agree exactly.
BCE_GRAD_EPS = float(np.float32(1e-12))


def bce(prob: Array, target: Array) -> tuple[float, Array]:
    """Binary cross-entropy on probabilities, mean over all elements (torch's BCELoss)."""
    with np.errstate(divide="ignore"):
        log_p = np.maximum(np.log(prob), BCE_LOG_CLAMP)
        log_q = np.maximum(np.log1p(-prob), BCE_LOG_CLAMP)
    value = -np.mean(target * log_p + (1 - target) * log_q)
    grad = (prob - target) / np.maximum(prob * (1 - prob), BCE_GRAD_EPS) / prob.size
    return float(value), grad


def softmax_ce(logits: Array, labels: Array) -> tuple[float, Array]:
    """Cross-entropy of softmax(logits) (N, C) against integer labels (N,), batch mean."""
    n = logits.shape[0]
    logp = log_softmax(logits)
    rows = np.arange(n)
    grad = np.exp(logp)
    grad[rows, labels] -= 1.0
    return float(-logp[rows, labels].mean()), grad / n


def nll(prob: Array, labels: Array) -> tuple[float, Array]:
    """Cross-entropy on probabilities (N, C) (a softmax layer's output) against integer labels
    (N,): mean of -log p[label] (torch: nll_loss(log(p))). Used where a network ends in its own
    softmax layer, so that layer's backward is checked as a layer."""
    n = prob.shape[0]
    rows = np.arange(n)
    picked = prob[rows, labels]
    grad = np.zeros_like(prob)
    with np.errstate(divide="ignore"):  # p = 0 (an underflowed softmax): loss inf, gradient -inf, like torch
        grad[rows, labels] = -1.0 / (n * picked)
        return float(-np.mean(np.log(picked))), grad


MASKED = -1  # a temporal label of -1 marks a padded step: no loss, no gradient


def temporal_ce(logits: Array, labels: Array) -> tuple[float, Array]:
    """Softmax cross-entropy at every step of logits (N, T, V) against labels (N, T), summed over
    the unmasked steps (label MASKED = -1 is left out) and averaged over the batch N, not over
    the tokens (CS231n's temporal_softmax_loss)."""
    n, t, v = logits.shape
    flat, lab = logits.reshape(-1, v), labels.reshape(-1)
    keep = lab != MASKED
    rows, safe = np.arange(len(lab)), np.where(keep, lab, 0)
    logp = log_softmax(flat)
    grad = np.exp(logp)
    grad[rows, safe] -= 1.0
    grad *= keep[:, None] / n
    return float(-logp[rows, safe][keep].sum() / n), grad.reshape(n, t, v)


LOSS_FUNCS = {"mse": mse, "half_sse": half_sse, "bce": bce, "softmax_ce": softmax_ce, "nll": nll,
              "temporal_ce": temporal_ce}
LABEL_LOSSES = ("softmax_ce", "nll", "temporal_ce")  # targets are integer class labels
