"""Name the usual slips of hand-written convolution, pooling, flatten and dropout code.

Each candidate is what a known slip would produce on the layer's own input (the torch run's
input and upstream gradient, as in the harness's local comparison). A slip is named when the
user's value matches that candidate within SLIP_MATCH and the candidate itself differs from
the reference: so a name is only given when it explains the error."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ...compare import compare
from ...harness import CheckResult, Row
from ...layer_run import LayerRun
from ...torch_side import layer_vjp
from ...verdict import SLIP_MATCH, TOLERANCES, agrees
from .adapters import UserConv, UserFlatten, UserPool, from_nchw, to_nchw
from .dropout import UserDropout

TIE_VALUES = 3  # the tied-maxima probe draws integers 0..2, so most windows hold ties


def _matches(actual, candidate) -> bool:
    a, c = np.asarray(actual, dtype=np.float64), np.asarray(candidate, dtype=np.float64)
    if a.shape != c.shape:
        return False
    return agrees(float(np.max(np.abs(a - c), initial=0.0)) / max(float(np.max(np.abs(c), initial=0.0)), 1e-300),
                  SLIP_MATCH)


def _explain(actual, expected, candidates) -> str:
    for candidate, message in candidates:
        if candidate is not None and _matches(actual, candidate) and not _matches(candidate, expected):
            return message
    return ""


# --- convolution --------------------------------------------------------------------------

def _oihw(layer: UserConv) -> torch.Tensor:
    w = torch.tensor(np.array(layer.params["weight"], dtype=np.float64))
    return w.permute(3, 2, 0, 1) if layer.layout == "nhwc" else w


def _w_user(w: torch.Tensor, layout: str) -> np.ndarray:
    return (w.permute(2, 3, 1, 0) if layout == "nhwc" else w).detach().numpy()


def _conv_vjp(layer: UserConv, x, dy, w: torch.Tensor, pads, stride: int):
    """(out, dx, dW) in the user's layouts of a cross-correlation with weight w (OIHW)."""
    xt = torch.tensor(to_nchw(np.asarray(x, dtype=np.float64), layer.layout), requires_grad=True)
    wt = w.clone().requires_grad_(True)
    top, bottom, left, right = pads
    try:
        y = F.conv2d(F.pad(xt, (left, right, top, bottom)), wt, stride=stride)
    except RuntimeError:  # a candidate padding leaves the input smaller than the kernel: no candidate
        return None, None, None
    y = y + torch.tensor(np.array(layer.params["bias"], dtype=np.float64))[None, :, None, None]
    out = y.detach().numpy()
    dyt = torch.tensor(to_nchw(np.asarray(dy, dtype=np.float64), layer.layout))
    if dyt.shape != y.shape:
        return from_nchw(out, layer.layout), None, None
    y.backward(dyt)
    return (from_nchw(out, layer.layout), from_nchw(xt.grad.numpy(), layer.layout), _w_user(wt.grad, layer.layout))


def _stride_one_backward(layer: UserConv, x, dy):
    """(dx, dW) of a backward that scatters output (i, j) to input i+di, j+dj (stride ignored)."""
    w = _oihw(layer)
    xp = np.pad(to_nchw(np.asarray(x, np.float64), layer.layout),
                ((0, 0), (0, 0), layer.pads[:2], layer.pads[2:]))
    d = to_nchw(np.asarray(dy, np.float64), layer.layout)
    n, f, ho, wo = d.shape
    dxp, dw = np.zeros_like(xp), np.zeros(tuple(w.shape))
    wn = w.numpy()
    for i in range(layer.kh):
        for j in range(layer.kw):
            patch = xp[:, :, i:i + ho, j:j + wo]
            if patch.shape[2:] != (ho, wo):
                return None, None
            dw[:, :, i, j] = np.einsum("nfhw,nchw->fc", d, patch)
            dxp[:, :, i:i + ho, j:j + wo] += np.einsum("nfhw,fc->nchw", d, wn[:, :, i, j])
    top, bottom, left, right = layer.pads
    dx = dxp[:, :, top:xp.shape[2] - bottom, left:xp.shape[3] - right]
    return from_nchw(dx, layer.layout), _w_user(torch.tensor(dw), layer.layout)


def _conv_candidates(layer: UserConv, quantity: str, x, dy) -> list:
    w, pads, s = _oihw(layer), layer.pads, layer.stride
    flipped = _conv_vjp(layer, x, dy, w.flip(2, 3), pads, s)
    more = _conv_vjp(layer, x, dy, w, tuple(p + 1 for p in pads), s)
    less = _conv_vjp(layer, x, dy, w, tuple(max(p - 1, 0) for p in pads), s) if any(pads) else (None,) * 3
    if quantity == "out":
        return [(flipped[0], "kernel flipped: true convolution instead of cross-correlation"),
                (more[0], f"padding off by one: forward pads {[p + 1 for p in pads]} where {list(pads)} was meant"),
                (less[0], f"padding off by one: forward pads {[max(p - 1, 0) for p in pads]} where "
                          f"{list(pads)} was meant")]
    dx1, dw1 = _stride_one_backward(layer, x, dy) if s > 1 else (None, None)
    if quantity == "weight.grad":
        ref_dw = _conv_vjp(layer, x, dy, w, pads, s)[2]
        swap = (2, 3) if layer.layout == "nhwc" else (1, 0)
        order = [0, 1, 2, 3]
        order[swap[0]], order[swap[1]] = order[swap[1]], order[swap[0]]
        return [(flipped[2], "weight gradient of the flipped kernel (convolution instead of cross-correlation)"),
                (None if ref_dw is None else ref_dw.transpose(order),
                 "weight gradient with the channel axes swapped (in and out channels exchanged)"),
                (dw1, f"stride applied wrongly in backward: weight gradient as if stride were 1, not {s}")]
    if quantity == "grad_in":
        return [(flipped[1], "input gradient uses the kernel unflipped/flipped wrongly (convolution "
                             "instead of cross-correlation)"),
                (dx1, f"stride applied wrongly in backward: input gradient as if stride were 1, not {s}"),
                *_unpad_candidates(layer, x, dy)]
    return []


def _unpad_candidates(layer: UserConv, x, dy) -> list:
    """dL/dx cut out of the padded input's gradient one row or column off: a backward that
    slices dx_padded[top + 1:top + 1 + H] (or - 1) where [top:top + H] was meant."""
    xt = torch.tensor(to_nchw(np.asarray(x, dtype=np.float64), layer.layout))
    top, bottom, left, right = layer.pads
    xp = F.pad(xt, (left, right, top, bottom)).requires_grad_(True)
    dyt = torch.tensor(to_nchw(np.asarray(dy, dtype=np.float64), layer.layout))
    y = F.conv2d(xp, _oihw(layer), stride=layer.stride)
    if y.shape != dyt.shape:
        return []
    y.backward(dyt)
    dxp, (h, w) = xp.grad.numpy(), xt.shape[2:]
    out = []
    for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1)):
        r, c = top + dr, left + dc
        if 0 <= r and r + h <= dxp.shape[2] and 0 <= c and c + w <= dxp.shape[3]:
            out.append((from_nchw(dxp[:, :, r:r + h, c:c + w], layer.layout),
                        f"padding off by one in backward: the input gradient is cut out of the padded one "
                        f"from row {r}, column {c} where row {top}, column {left} was meant"))
    return out


def _conv_shape_slip(layer: UserConv, actual) -> str:
    w = layer.params["weight"]
    swapped = (w.shape[0], w.shape[1], w.shape[3], w.shape[2]) if layer.layout == "nhwc" else (w.shape[1], w.shape[0], *w.shape[2:])
    if actual is not None and np.shape(actual) == swapped and np.shape(actual) != w.shape:
        return "weight gradient with the channel axes swapped (in and out channels exchanged)"
    return ""


# --- pooling -------------------------------------------------------------------------------

def max_routes(layer: UserPool, x, dy) -> dict[str, np.ndarray]:
    """dL/dx of max-pooling when each window's gradient goes to its first, last or every maximum."""
    win = layer.windows(np.asarray(x, np.float64))
    flat = win.reshape(*win.shape[:4], -1)
    eq = flat == flat.max(-1, keepdims=True)
    first = np.zeros_like(eq)
    np.put_along_axis(first, eq.argmax(-1)[..., None], True, -1)
    last = np.zeros_like(eq)
    np.put_along_axis(last, (eq.shape[-1] - 1 - eq[..., ::-1].argmax(-1))[..., None], True, -1)
    return {name: _scatter(layer, x, dy, m.reshape(win.shape)) for name, m in
            (("first", first), ("last", last), ("every", eq))}


def _scatter(layer: UserPool, x, dy, weights: np.ndarray) -> np.ndarray:
    """Sum dy[n, c, i, j] * weights[n, c, i, j, a, b] into the input at window (i, j)'s tap (a, b)."""
    k, s = layer.k, layer.stride
    top, bottom, left, right = layer.pads
    xn = to_nchw(np.asarray(x), layer.layout)
    d = to_nchw(np.asarray(dy, np.float64), layer.layout)
    ho, wo = d.shape[2:]
    dxp = np.zeros((xn.shape[0], xn.shape[1], xn.shape[2] + top + bottom, xn.shape[3] + left + right))
    for a in range(k):
        for b in range(k):
            dxp[:, :, a:a + s * ho:s, b:b + s * wo:s] += d * weights[..., a, b]
    return from_nchw(dxp[:, :, top:dxp.shape[2] - bottom, left:dxp.shape[3] - right], layer.layout)


def _pool_candidates(layer: UserPool, x, dy) -> list:
    ones = np.ones(layer.windows(np.asarray(x, np.float64)).shape)
    if layer.mode == "max":
        routes = max_routes(layer, x, dy)
        return [(routes["every"], "max-pool gradient routed to every maximum of a window, not the first"),
                (routes["last"], "max-pool gradient routed to the last maximum of a window, not the first"),
                (_scatter(layer, x, dy, ones), "max-pool gradient routed to every element of its window, not "
                                               "only to the maximum")]
    return [(_scatter(layer, x, dy, ones), f"average-pool gradient without the 1/k² = 1/{layer.k ** 2}")]


def tied_maxima_rows(model, twin, seed: int, dtype: str = "float64") -> list[Row]:
    """Every max-pool alone on an input full of ties (integers 0..2): its input gradient must
    go to each window's first maximum, as torch's does. Random floats never tie, so without
    this probe a pool that routes to every or the last maximum could pass."""
    rows = []
    rng = np.random.default_rng(seed + 1)  # its own stream: nothing here redraws the harness's numbers
    for i, layer in enumerate(model.layers):
        if not (isinstance(layer, UserPool) and layer.mode == "max"):
            continue
        x = rng.integers(0, TIE_VALUES, size=layer.in_shape).astype(dtype)
        dy = rng.standard_normal(tuple(twin[i](torch.tensor(x)).shape)).astype(dtype)
        _, ref_dx, _ = layer_vjp(twin[i], x, dy)
        layer.forward(x)
        dx = layer.backward(dy)
        cmp = compare("grad_in (tied maxima)", dx, ref_dx, dtype)
        row = Row(i, f"{i}:{layer.describe()}", "grad_in (tied maxima)", cmp, cmp, TOLERANCES[dtype], dtype)
        if not row.local_ok:
            row.slip = _explain(dx, ref_dx, _pool_candidates(layer, x, dy))
        rows.append(row)
    return rows


# --- flatten and dropout ---------------------------------------------------------------------

def _flatten_candidates(shape: tuple, dy) -> list:
    """shape: the flatten's input shape (N, a, b, c); dy: dL/d(its output), (N, a*b*c)."""
    if len(shape) != 4:
        return []
    n, a, b, c = shape
    msg = "flatten order differs between forward and backward: backward unflattens as {}"
    return [(dy.reshape(shape), msg.format("a plain reshape (C order)")),
            (dy.reshape(n, c, a, b).transpose(0, 2, 3, 1), msg.format("if the forward had moved the last axis first")),
            (dy.reshape(n, b, c, a).transpose(0, 3, 1, 2), msg.format("if the forward had moved the first axis last"))]


def _dropout_slip(layer: UserDropout, actual, dy) -> str:
    keep = layer.scaled_mask() != 0
    kept = keep & (np.asarray(dy) != 0)
    if actual is None or np.shape(actual) != np.shape(dy) or not kept.any():
        return ""
    ratio = np.asarray(actual)[kept] / np.asarray(dy)[kept]
    if np.ptp(ratio) <= SLIP_MATCH * max(abs(ratio[0]), 1) and np.all(np.asarray(actual)[~keep] == 0):
        return (f"dropout backward scales kept units by {ratio[0]:g} but forward by {layer.scale:g} "
                f"(inverted versus unscaled dropout mixed)")
    return ""


# --- naming --------------------------------------------------------------------------------

def _slip_for(run: LayerRun, quantity: str) -> str:
    """The CNN slip that explains a layer's failing local `quantity`, from what the harness
    recorded: its input and upstream gradient (torch's) and both sides' answers to them."""
    layer, x, dy = run.layer, run.input, run.upstream
    actual, expected = run.local.get(quantity), run.local_ref.get(quantity)
    if isinstance(layer, UserConv):
        return _conv_shape_slip(layer, actual) if quantity == "weight.grad" and np.shape(actual) != np.shape(expected) \
            else _explain(actual, expected, _conv_candidates(layer, quantity, x, dy))
    if isinstance(layer, UserPool) and quantity == "grad_in":
        return _explain(actual, expected, _pool_candidates(layer, x, dy))
    if isinstance(layer, UserFlatten) and quantity == "grad_in":
        return _explain(actual, expected, _flatten_candidates(x.shape, dy))
    if isinstance(layer, UserDropout) and quantity == "grad_in":
        return _dropout_slip(layer, actual, dy)
    return ""


def name_cnn_slips(result: CheckResult) -> None:
    """Fill in the slip of every wrong conv/pool/flatten/dropout row that a CNN slip explains,
    from the harness's per-layer records (result.runs)."""
    for r in result.rows:
        if r.local_ok or r.is_loss or "tied" in r.quantity:
            continue
        run = result.runs[r.layer]
        if isinstance(run.layer, (UserConv, UserPool, UserFlatten, UserDropout)):
            r.slip = _slip_for(run, r.quantity) or r.slip
