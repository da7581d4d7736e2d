"""Name the slip behind a failing normalisation or residual layer: candidates formed from the
layer's own input, upstream gradient, parameters and running statistics before the forward
(a LayerRun), with norm_functional's functions, each the correct computation with one
usual slip. A candidate names the slip when the layer's output matches it and not the truth.

A layer is read through attributes the mirror's layers and byo's adapters share: kind, eps,
params['weight'/'bias'], training, track_running_stats, num_groups, momentum (the weight of
the batch, torch's convention), running_unbiased (False: the running variance is the biased
batch variance, as CS231n and Keras keep it) and momentum_convention (the wording of the
user's own convention, for messages)."""
from __future__ import annotations

import numpy as np

# bound here, not looked up on the module: a test that plants a slip by patching
# norm_functional must not change the candidates it is judged by
from numpy_impl.norm_functional import normalize_forward, running_update

from .layer_run import LayerRun

NORM_KINDS = ("batchnorm1d", "batchnorm2d", "layernorm", "groupnorm")
GRAD_SHAPE_WORDS = {"weight.grad": "dgamma", "bias.grad": "dbeta"}


def is_norm(layer) -> bool:
    """A normalisation layer or a residual block (whose rows this module names)."""
    return getattr(layer, "kind", None) in NORM_KINDS + ("residual",)


def norm_slip(run: LayerRun, quantity: str, actual, expected, close) -> str:
    """The slip that explains `actual` where `expected` is right for this layer's `quantity`,
    or ''. close(a, b): does a match b (slips.SLIP_MATCH). Raises ValueError/TypeError where a
    candidate does not fit (the caller tries the next finder)."""
    layer = run.layer
    if actual is None or expected is None:
        return ""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if layer.kind == "residual":
        cands = _residual_candidates(run, quantity, expected)
    elif quantity in GRAD_SHAPE_WORDS and actual.size != expected.size:
        return _unsummed(run, quantity, actual, expected)
    else:
        cands = _CANDIDATES.get(quantity, lambda r: [])(run)
    for candidate, message in cands:
        candidate = np.asarray(candidate, dtype=np.float64)
        if quantity in ("out", "grad_in") and layer.kind != "residual":
            candidate = _user(layer, candidate)
        if candidate.size == expected.size:
            candidate = candidate.reshape(expected.shape)
            if close(actual.reshape(expected.shape), candidate) and not close(candidate, expected):
                return message
    return ""


# --- what the layer is given ----------------------------------------------------------------

def _channels_last(layer) -> bool:
    """A user's layer in NHWC (byo.cnn layout='nhwc'): candidates are formed channels first."""
    return getattr(layer, "layout", "nchw") == "nhwc"


def _first(layer, a):
    """a (N, ...) as channels first, float64."""
    a = np.asarray(a, dtype=np.float64)
    return np.moveaxis(a, -1, 1) if _channels_last(layer) and a.ndim > 2 else a


def _user(layer, a):
    """A channels-first candidate in the layer's own layout."""
    return np.moveaxis(a, 1, -1) if _channels_last(layer) and a.ndim > 2 else a


def _parts(run: LayerRun):
    """(x, dy, gamma, beta) in float64, channels first; gamma and beta ones and zeros without
    affine parameters."""
    layer = run.layer
    x, dy = _first(layer, run.input), _first(layer, run.upstream)
    shape = _param_shape(layer, x)
    gamma = np.asarray(layer.params.get("weight", np.ones(shape)), dtype=np.float64).reshape(shape)
    beta = np.asarray(layer.params.get("bias", np.zeros(shape)), dtype=np.float64).reshape(shape)
    return x, dy, gamma, beta


def _param_shape(layer, x) -> tuple[int, ...]:
    return tuple(x.shape[1:]) if layer.kind == "layernorm" else (x.shape[1],)


def _axes(layer, x) -> tuple[int, ...]:
    """The axes the statistics are taken over, in the shape they are taken in (_grouped)."""
    if layer.kind == "layernorm":
        return tuple(range(1, x.ndim))
    if layer.kind == "groupnorm":
        return (2,)
    return (0,) + tuple(range(2, x.ndim))


def _grouped(layer, x):
    """x as statistics see it: (N, G, C/G * spatial) for a group norm, else x itself."""
    return x.reshape(len(x), layer.num_groups, -1) if layer.kind == "groupnorm" else x


def _uses_batch(layer) -> bool:
    if layer.kind not in ("batchnorm1d", "batchnorm2d"):
        return True
    return bool(layer.training) or not getattr(layer, "track_running_stats", True)


def _affine(layer, xhat, gamma, beta):
    """gamma xhat + beta, xhat back in x's shape, gamma broadcast along the channel or features."""
    if layer.kind == "layernorm":
        return gamma * xhat + beta
    shape = (1, gamma.size) + (1,) * (xhat.ndim - 2)
    return gamma.reshape(shape) * xhat + beta.reshape(shape)


def _normalised(x, axes, eps, ddof=0, eps_outside=False):
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True, ddof=ddof)
    return (x - mean) / ((np.sqrt(var) + eps) if eps_outside else np.sqrt(var + eps))


# --- the forward ----------------------------------------------------------------------------

def _out(run: LayerRun):
    layer = run.layer
    x, _, gamma, beta = _parts(run)
    eps = float(layer.eps)
    if not _uses_batch(layer):
        rm, rv = (np.asarray(run.buffers_before[k], dtype=np.float64) for k in ("running_mean", "running_var"))
        shape = (1, rm.size) + (1,) * (x.ndim - 2)
        yield (_affine(layer, _normalised(x, _axes(layer, x), eps), gamma, beta),
               "batch statistics used in eval mode (it must normalise with the running mean and variance)")
        yield (_affine(layer, (x - rm.reshape(shape)) / (np.sqrt(rv.reshape(shape)) + eps), gamma, beta),
               "eps outside the square root: (x - mean) / (sqrt(var) + eps) for / sqrt(var + eps)")
        return
    g, axes = _grouped(layer, x), _axes(layer, x)
    for ddof, outside, message in ((1, False, "unbiased variance (divided by n - 1) used to normalise, where "
                                              "the biased one (divided by n) belongs"),
                                   (0, True, "eps outside the square root: (x - mean) / (sqrt(var) + eps) "
                                             "for / sqrt(var + eps)")):
        yield _affine(layer, _normalised(g, axes, eps, ddof, outside).reshape(x.shape), gamma, beta), message
    if layer.kind in ("batchnorm1d", "batchnorm2d"):
        yield from _batchnorm_out(run, x, gamma, beta, eps)
    else:
        yield from _wrong_axes(layer, x, gamma, beta, eps)


def _batchnorm_out(run, x, gamma, beta, eps):
    before = run.buffers_before
    if "running_mean" in before:
        shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        for stats, when in ((before, "before"), (run.local_ref.buffers, "after")):
            rm, rv = (np.asarray(stats[k], dtype=np.float64).reshape(shape) for k in ("running_mean", "running_var"))
            yield (_affine(run.layer, (x - rm) / np.sqrt(rv + eps), gamma, beta),
                   f"running statistics ({when} this batch's update) used in training mode, where the "
                   f"batch's own mean and variance belong")
    if x.ndim > 2:
        yield (_affine(run.layer, _normalised(x, (0,), eps), gamma, beta),
               "spatial statistics over the wrong axes: mean and variance over the batch only, per "
               "position, where they are per channel over N, H and W")
        yield (_affine(run.layer, _normalised(x, tuple(range(1, x.ndim)), eps), gamma, beta),
               "statistics over the wrong axes: per sample over C, H and W (a layer norm), where "
               "batch norm takes them per channel over N, H and W")
    yield (_affine(run.layer, _normalised(x, tuple(range(x.ndim)), eps), gamma, beta),
           "statistics over the wrong axes: one mean and variance over the whole batch, where they are per channel")


def _wrong_axes(layer, x, gamma, beta, eps):
    """Layer and group norm statistics over the wrong axes."""
    yield (_affine(layer, _normalised(x, (0,), eps), gamma, beta),
           "statistics over the wrong axes: over the batch (batch norm's), where they are per sample")
    if layer.kind != "groupnorm" or x.ndim < 2:
        return
    n, c, groups = len(x), x.shape[1], layer.num_groups
    rest = x.shape[2:]
    yield (_affine(layer, _normalised(x, tuple(range(2, x.ndim)) or (1,), eps), gamma, beta),
           "group statistics over the wrong axes: per channel over H and W only (one group per channel)")
    yield (_affine(layer, _normalised(x, tuple(range(1, x.ndim)), eps), gamma, beta),
           "group statistics over the wrong axes: over every channel of a sample (one group)")
    strided = x.reshape(n, c // groups, groups, *rest).swapaxes(1, 2).reshape(n, groups, -1)
    xhat = _normalised(strided, (2,), eps).reshape(n, groups, c // groups, *rest).swapaxes(1, 2).reshape(x.shape)
    yield (_affine(layer, xhat, gamma, beta),
           "group statistics over the wrong axes: channels grouped by c % G (x reshaped (N, C/G, G, ...)), "
           "where a group is C/G consecutive channels ((N, G, C/G, ...))")


# --- the backward ---------------------------------------------------------------------------

def _grad_in(run: LayerRun):
    layer = run.layer
    x, dy, gamma, _ = _parts(run)
    if not _uses_batch(layer):
        return
    g, axes = _grouped(layer, x), _axes(layer, x)
    xhat, cache = normalize_forward(g, axes, float(layer.eps))
    dxhat = _affine(layer, dy, gamma, np.zeros_like(gamma)).reshape(g.shape)
    inv, mean = cache.inv_std, (lambda a, ax=axes: a.mean(axis=ax, keepdims=True))
    yield (dxhat * inv, "mean and variance treated as constants in the backward (dx = dy gamma / sqrt(var + eps)), "
                        "where both depend on x")
    yield (inv * (dxhat - mean(dxhat)), "variance treated as a constant in the backward (its term "
                                        "- xhat mean(dxhat xhat) missing)")
    yield (inv * (dxhat - xhat * mean(dxhat * xhat)), "mean treated as a constant in the backward "
                                                     "(its term - mean(dxhat) missing)")
    if layer.kind == "batchnorm2d":
        yield (inv * (dxhat - dxhat.mean(axis=0, keepdims=True) - xhat * (dxhat * xhat).mean(axis=0, keepdims=True)),
               "spatial backward averaged over the batch only, where the statistics are over N, H and W")


def _unsummed(run: LayerRun, quantity: str, actual, expected) -> str:
    """dgamma or dbeta of the wrong size: not summed over the batch, or the spatial axes."""
    x = _first(run.layer, run.input)
    word = GRAD_SHAPE_WORDS[quantity]
    spatial = int(np.prod(x.shape[2:])) if x.ndim > 2 and run.layer.kind != "layernorm" else 1
    if actual.size == expected.size * len(x) * spatial and spatial > 1:
        return f"{word} not summed over the batch and the spatial axes (shape {actual.shape}, not {expected.shape})"
    if actual.size == expected.size * len(x):
        return f"{word} not summed over the batch (shape {actual.shape}, not {expected.shape})"
    if actual.size == expected.size * spatial:
        return f"{word} not summed over the spatial axes (summed over N only: shape {actual.shape}, not {expected.shape})"
    return f"{word} has shape {actual.shape} where {expected.shape} was expected (summed over the wrong axes?)"


# --- the running statistics -----------------------------------------------------------------

def _running(run: LayerRun):
    """The running mean and variance after this batch under the other conventions."""
    layer, before = run.layer, run.buffers_before
    if "running_mean" not in before or not layer.training:
        return
    x = _first(layer, run.input)
    axes = _axes(layer, x)
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    n = int(np.prod([x.shape[k] for k in axes]))
    m = _momentum(run)
    unbiased = getattr(layer, "running_unbiased", True)
    rm, rv = (np.asarray(before[k], dtype=np.float64) for k in ("running_mean", "running_var"))
    own, other = _convention_words(layer, m)
    var_own = "unbiased (n - 1)" if unbiased else "biased (n)"
    var_other = "biased (n)" if unbiased else "unbiased (n - 1)"
    flip = 1.0 if unbiased else (n - 1) / n  # running_update unbiases; undo it for a biased convention
    for mm, vv, message in (
            (1 - m, flip, f"the other momentum convention: running = {other}, where this layer's is {own}"),
            (m, (n - 1) / n if unbiased else 1.0, f"running variance from the {var_other} batch variance, where "
                                                   f"the {var_own} one belongs"),
            (1 - m, (n - 1) / n if unbiased else 1.0, f"the other momentum convention (running = {other}, "
                                                       f"where this layer's is {own}) and the {var_other} batch "
                                                       f"variance where the {var_own} one belongs")):
        yield running_update(rm, rv, mean, var * vv, n, mm), message + _declare_hint(layer)


def _declare_hint(layer) -> str:
    """For a user's layer (byo), how to say so if the other convention is meant."""
    if not hasattr(layer, "given_momentum"):
        return ""
    return " (if that is your convention, declare it: norm={'momentum': 'torch' or 'keep', 'running_var': ...})"


def _momentum(run: LayerRun) -> float:
    """The weight of the batch in this update (torch's momentum; None: the cumulative average)."""
    m = getattr(run.layer, "momentum", 0.1)
    if m is None:
        return 1.0 / float(run.local_ref.buffers.get("num_batches_tracked", 1))
    return float(m)


def _convention_words(layer, m: float) -> tuple[str, str]:
    """(this layer's update, the other one) in words, the momentum as the user gives it."""
    if getattr(layer, "momentum_convention", "torch") == "keep":
        given = 1 - m
        return (f"{given:g} running + {1 - given:g} batch (momentum {given:g} the weight of the old value)",
                f"{1 - given:g} running + {given:g} batch (momentum {given:g} taken as the weight of the batch, torch's)")
    return (f"{1 - m:g} running + {m:g} batch (torch's: momentum {m:g} the weight of the batch)",
            f"{m:g} running + {1 - m:g} batch (momentum {m:g} taken as the weight of the old value)")


def _buffer(name: str):
    k = 0 if name == "running_mean" else 1

    def candidates(run: LayerRun):
        for pair, message in _running(run):
            yield pair[k], message
    return candidates


# --- the residual block ---------------------------------------------------------------------

def _residual_candidates(run: LayerRun, quantity: str, expected):
    """grad_in: the skip path's gradient alone (branch dropped), or the branch's alone (skip
    dropped); out: the branch alone, or the input alone."""
    layer = run.layer
    x, dy = run.input.astype(np.float64), run.upstream.astype(np.float64)
    proj = getattr(layer, "proj", None)
    if quantity == "grad_in":
        skip = dy if proj is None else _skip_grad(proj, x, dy)
        return [(skip, "residual backward drops the branch: dL/dx is the skip path's gradient alone"),
                (expected - skip, "residual backward drops the skip path: dL/dx is the branch's gradient alone "
                                  "(the + dy of x + f(x) missing)")]
    if quantity == "out":
        skip = x if proj is None else _skip_out(proj, x)
        return [(expected - skip, "residual forward drops the skip: the output is f(x), not x + f(x)"),
                (skip, "residual forward drops the branch: the output is the skip path's alone")]
    return []


def _skip_out(proj, x):
    """The projection's output on x (the NumPy side's own projection, run again)."""
    return np.asarray(proj.forward(x.astype(proj.params["weight"].dtype)), dtype=np.float64)


def _skip_grad(proj, x, dy):
    """The projection's dL/dx for upstream dy (the NumPy side's own projection, run again)."""
    _skip_out(proj, x)
    return proj.backward(dy.astype(proj.params["weight"].dtype)).astype(np.float64)


_CANDIDATES = {"out": _out, "grad_in": _grad_in, "running_mean": _buffer("running_mean"),
               "running_var": _buffer("running_var")}
