"""The ways a fully connected network comes in (conventions 1-5 of the package docstring),
each adapted to a Sequential of UserLayers (mlp/adapters.py, shared/adapters.py) with the
batch to check it on: a UserModel (shared/model.py)."""
from __future__ import annotations

import numpy as np

from numpy_impl import Sequential
from numpy_impl import functional as NF

from ...user_code import call_user
from .. import norm as NORM
from .. import residual as RES
from ..shared import combined
from ..shared import convention as C
from ..shared import discover as D
from ..shared import objects as O
from ..shared.kept import objects_kept, own
from ..shared.lazy import sized_on_first_forward
from ..shared import validate as V
from ..shared.adapters import Activation
from ..shared.model import UserModel, as_target, dtype_of, user_loss_fn
from .adapters import ColMajorBlock, FunctionalLayer, ParamLinear
from .whole import WholeNet


def require_methods(layers: list, convention: str) -> None:
    """Layer objects need forward(x) and backward(...): say which one lacks what, in one line."""
    for i, obj in enumerate(layers):
        missing = [names[0] for names in (O.FORWARD_NAMES, O.BACKWARD_NAMES)
                   if not any(callable(getattr(obj, m, None)) for m in names)]
        if missing:
            raise ValueError(f"layer {i} ({type(obj).__name__}): has no {' or '.join(missing)}() method; "
                             f"{convention} takes layer objects with forward(x) and backward(dy), named "
                             f"otherwise with layer_api={{'forward': ..., 'backward': ...}} (a whole network in one "
                             f"object: byo.netclass or byo.network)")


def rowmajor(layers: list, x, target, *, loss: str = "mse", activations: list | None = None,
             grads_are_batch_means: bool = False, name: str = "user model", w_layout=None,
             param_names: tuple | None = None, loss_fn=None, loss_grad=None, l2=None,
             batch_mean: str | None = None, ascent: bool = False, norm: dict | None = None,
             layer_api=None, residual=None) -> UserModel:
    """Row-major layer objects, y = x @ W + b (or x @ W.T + b), optionally fused with an
    activation, normalisation layers (byo/norm/) and residual blocks (byo/residual/); see the
    package docstring.

    Args:
        layers: objects with forward(x) -> y and backward(dy) -> dx (or backward(x, dy), or
            backward(dy, lr), called with lr=0). A last layer whose backward takes the labels
            (backward(y)) is a softmax + cross-entropy layer, checked as your loss (softmax_ce). A linear layer keeps W (in, out) or (out, in)
            and b (out,) or (1, out), under W/b, weights/bias, w/b, params["W"], ... and after
            backward their gradients, same shapes, under dW/db, grads["W"], ...
        x: (N, D) inputs, samples as rows (float64, or float32 to be judged in float32).
        target: (N,) integer labels for the classification losses, else (N, out) targets.
        loss: the loss torch's side uses and yours is compared with (mse, softmax_ce, nll, bce, ...).
        activations: None, or one entry per layer: None (told from its forward), a name, or
            (name, slope) as ("leaky_relu", 0.2); on a linear layer, the activation it fuses.
        grads_are_batch_means: your layers divide dW, db by N themselves (batch_mean="layers").
        name: what the report calls the model.
        w_layout: None (told from shapes and the forward), "in,out" (x @ W) or "out,in"
            (x @ W.T), for every layer or as a list of one per layer.
        param_names: (W, b, dW, db) attribute names where they are none of the usual ones.
        loss_fn: your loss, (pred (N, out), target) -> (value, dL/dpred (N, out)), or the value
            alone with loss_grad (pred, target) -> dL/dpred.
        l2, batch_mean, ascent: your gradient convention (byo/shared/convention.py): l2=λ where
            your dW holds + λ·W ((λ, μ): db + μ·b too); batch_mean where the 1/N lives ("loss",
            the default, "layers", "update" or "none"); ascent=True where your loss is -L.
        norm: your normalisation layers' running-average convention, {'momentum': 'torch' (running =
            (1 - m) running + m batch) or 'keep' (m running + (1 - m) batch, CS231n's and Keras's),
            'running_var': 'unbiased' or 'biased'}; undeclared, told by the momentum's value
            (byo/norm/discover.py conventions).
        layer_api: where your layer objects name their methods or attributes otherwise (objects.py):
            {"forward": ..., "backward": ..., "output": ..., "dinputs": ...}, once or one per layer.
        residual: your residual blocks (x + f(x), f a list of your layer objects), where neither
            their class name (Residual, ResBlock, Skip, ...) nor a crosscheck_kind = "residual" says
            so: True, or {'branch': the attribute holding f's layers, 'shortcut': the projection's
            attribute, or None for the identity}; undeclared, the branch is looked for under
            layers, branch, block, f, residual, body, the projection under shortcut, proj,
            projection, downsample (byo/residual/discover.py)."""
    convention = C.declared(l2, batch_mean, grads_are_batch_means, ascent)
    given_residual = RES.declared(residual)
    layers = V.layer_list(layers, "byo.rowmajor")
    require_methods(layers, "byo.rowmajor")
    layers = O.all_as_written(layers, layer_api)
    layers, loss_layer = combined.split(layers)
    sized = sized_on_first_forward(layers, x)
    first = [D.find_access(o, param_names, bias_optional=True) for o in layers[:1]]
    dtype = dtype_of(x, *[a.weight(layers[0]) for a in first if a is not None])
    h = V.batch(x, dtype)
    x0, adapted, notes = h, [], sized
    givens = D.per_layer("activations", activations, len(layers))
    layouts = D.per_layer("w_layout", w_layout, len(layers), once=True)
    with V.quiet_numpy():
        for i, (obj, given, layout) in enumerate(zip(layers, givens, layouts)):
            adapted.append(_residual_layer(obj, i, h, layout, param_names, norm, given_residual, notes) or
                           _norm_layer(obj, i, h, norm, notes) or
                           _rowmajor_layer(obj, i, h, given, layout, param_names, notes))
            h = adapted[-1].probed
    if loss_layer is not None:
        loss = "softmax_ce"
        V.labels(loss, target, len(x0), h.shape)
        loss_fn, note = combined.as_loss(loss_layer, len(layers), h, target, loss_fn)
        notes.append(note)
    V.labels(loss, target, len(x0), h.shape)
    return UserModel(name, Sequential(adapted), x0, as_target(target, loss), loss,
                     user_loss=user_loss_fn(loss_fn, loss_grad), notes=notes, dtype=dtype, convention=convention)


def _residual_layer(obj, i: int, h: np.ndarray, layout, param_names, norm, given: dict, notes: list):
    """A residual block object adapted (byo/residual/), its branch's layers as each would be
    alone; None for any other layer."""
    def adapt_one(inner, x):
        layer = _norm_layer(inner, i, x, norm, notes) or _rowmajor_layer(inner, i, x, None, layout, param_names,
                                                                          notes)
        return layer, layer.probed
    return RES.adapt_residual(obj, i, h, adapt_one, given)


def _norm_layer(obj, i: int, h: np.ndarray, norm: dict | None, notes: list):
    """A normalisation layer object adapted (byo/norm/), probed on h; None for any other layer."""
    layer = NORM.adapt_norm(obj, i, "nchw", norm)
    if layer is not None:
        layer.probed = V.forward_output(f"layer {i} ({layer.label})", layer.probe(h), h)
        notes += layer.notes
    return layer


def _rowmajor_layer(obj, i: int, h: np.ndarray, given, layout, param_names, notes: list):
    """One row-major layer object adapted from its forward on h (finite W, b and output checked
    first); the adapter's `probed` is that output, the next layer's input."""
    access = D.find_access(obj, param_names, bias_optional=True)
    where = f"layer {i} ({D.label_of(obj)})"
    if access is not None:
        V.params(where, access.weight(obj), access.bias(obj))
    y = V.forward_output(where, call_user(f"{where}.forward", obj.forward, h.copy()), h)
    style = D.backward_style(obj)
    if access is None:
        act, alpha = D.activation_of(obj, i, h, y, given)
        layer = Activation(obj, i, act, alpha, style)
    else:
        w, b = access.weight(obj), access.bias(obj)
        zero = np.zeros(y.shape[-1] if y.ndim > 1 else 0, dtype=w.dtype) if b is None else None
        transposed, act, alpha, note = D.layout_and_activation(obj, i, w, b if b is not None else zero, h, y,
                                                               given, layout)
        if b is None:
            _no_bias_of_its_own(obj, access, h, y, w if transposed else w.T, act, alpha, where)
            notes.append(f"{where}: keeps no bias; checked as torch's Linear(bias=False)")
        notes += [note] if note else []
        layer = ParamLinear(obj, i, access, transposed, act, alpha, style)
    layer.probed = y
    return layer


def _no_bias_of_its_own(obj, access, h: np.ndarray, y: np.ndarray, w_in_out: np.ndarray, act: str,
                        alpha: float, where: str) -> None:
    """A layer keeping a weight and no bias found under the usual names is a bias-less linear layer
    only if its forward adds nothing to x @ W, and no other number it keeps (a bias named otherwise,
    still zero) moves its output when raised by one; else the bias is asked for, by name."""
    if not D.match(y, h.reshape(len(h), -1) @ w_in_out, act, alpha):
        raise D.no_bias_found(obj, access.w_path, where)
    user = own(obj)
    for path in D.other_numbers(user, access.w_path, y.shape[-1]):
        value = D._get(user, path)
        with objects_kept([user]):
            D.put(user, path, np.asarray(value, dtype=np.float64) + 1.0)
            moved = call_user(f"{where}.forward", obj.forward, h.copy())
        D.put(user, path, value)
        if not np.array_equal(np.asarray(moved), y):
            raise ValueError(f"{where}: keeps a weight {access.w_path} and its forward adds {path}: pass "
                             f"param_names=({access.w_path!r}, {path!r}, dW, db) naming it and its gradient")


def colmajor(params: list, activation, forward, backward, X, Y, *, output_activation="identity",
             loss: str = "mse", grads_are_batch_means: bool = False, name: str = "user model",
             loss_fn=None, loss_grad=None, l2=None, batch_mean: str | None = None, ascent: bool = False) -> UserModel:
    """Column-major (W, b), Z = W @ A_prev + b, samples as columns.

    Args:
        params: [(W, b), ...], W (out, in), b (out, 1) or (out,).
        activation: one name for the hidden layers, or a list of one per layer (output
            included); ("leaky_relu", 0.2) gives a slope.
        forward: forward(A_prev (in, N), W, b, activation) -> (A (out, N), cache).
        backward: backward(dA (out, N), cache, activation) -> (dA_prev (in, N), dW (out, in), db (out, 1)).
        X: (D, N) inputs, samples as columns.
        Y: (N,) integer labels for the classification losses, else (out, N) targets.
        output_activation: the last layer's activation when `activation` is one name.
        loss, grads_are_batch_means, name, l2, batch_mean, ascent: as for rowmajor.
        loss_fn, loss_grad: as for rowmajor, with pred and dL/dpred (out, N)."""
    convention = C.declared(l2, batch_mean, grads_are_batch_means, ascent)
    params = V.layer_list(params, "byo.colmajor")
    dtype = dtype_of(X, *[w for w, _ in params])
    X = V.batch(X, dtype)  # (D, N): its columns are the samples
    for i, (w, b) in enumerate(params):
        V.params(f"layer {i}", w, b)
    Y = np.asarray(Y)
    n = len(params)
    acts = list(activation) if isinstance(activation, list) else [activation] * (n - 1) + [output_activation]
    if len(acts) != n:
        raise ValueError(f"activation: {len(acts)} names for {n} layers")
    blocks = []
    for i, ((w, b), entry) in enumerate(zip(params, acts)):
        act, alpha = D.declared(entry)
        if act not in D.SUPPORTED_ACTIVATIONS:
            raise ValueError(f"layer {i}: activation {act!r} is not supported; supported: "
                             f"{', '.join(D.SUPPORTED_ACTIVATIONS)}")
        blocks.append(ColMajorBlock(w, b, act, D.alpha_or_default(act, alpha), forward, backward, i,
                                    act))
    target = Y if loss in NF.LABEL_LOSSES else Y.T
    return UserModel(name, Sequential(blocks), X.T.copy(), as_target(target, loss), loss,
                     user_loss=user_loss_fn(loss_fn, loss_grad, transpose=True), dtype=dtype, convention=convention)


def _lookup(funcs, name: str):
    fn = funcs.get(name) if isinstance(funcs, dict) else getattr(funcs, name, None)
    if fn is None:
        raise ValueError(f"functional: no {name}() among your functions")
    return fn


def functional(layers: list, x, target, *, funcs, loss: str = "softmax_ce", loss_fn=None, loss_grad=None,
               grads_are_batch_means: bool = False, name: str = "user model", l2=None,
               batch_mean: str | None = None, ascent: bool = False, norm: dict | None = None) -> UserModel:
    """CS231n style functions, one pair per layer kind.

    Args:
        layers: entries like ("affine", w (in, out), b (out,)), "relu", ("leaky_relu", 0.2), or
            sandwiches ("affine_relu", w, b), normalisations ("batchnorm", gamma, beta, bn_param),
            ("batchnorm_alt", ...) for batchnorm_backward_alt, ("layernorm", gamma, beta, ln_param),
            ("spatial_batchnorm", gamma, beta, bn_param), ("spatial_groupnorm", gamma, beta, G,
            gn_param) (byo/norm/functions.py). A leaky ReLU ("lrelu", "leaky_relu") without a slope
            has it read from its forward (its default argument); one whose forward requires it
            (lrelu_forward(x, alpha)) is given the declared one.
        x: (N, ...) inputs, flattened to (N, in) inside the affine layer.
        target: (N,) integer labels for the classification losses, else (N, out) targets.
        funcs: a module or dict holding <kind>_forward(x[, w, b]) -> (out, cache) and
            <kind>_backward(dout, cache) -> dx, or (dx, dw (in, out), db (out,)) for affine kinds.
        loss, loss_fn, loss_grad, grads_are_batch_means, name, l2, batch_mean, ascent, norm: as for
            rowmajor (CS231n's bn_param, momentum 0.9, is recognised as m running + (1 - m) batch
            with the biased variance)."""
    convention = C.declared(l2, batch_mean, grads_are_batch_means, ascent)
    layers = V.layer_list(layers, "byo.functional")
    ws = [e[1] for e in layers if isinstance(e, tuple) and len(e) == 3]
    dtype = dtype_of(x, *ws)
    V.batch(x, dtype)
    for i, entry in enumerate(layers):
        if isinstance(entry, tuple) and len(entry) == 3:
            V.params(f"layer {i} ({entry[0]})", entry[1], entry[2])
    adapted = []
    for i, entry in enumerate(layers):
        kind, *rest = entry if isinstance(entry, tuple) else (entry,)
        if NORM.base_kind(kind):
            adapted.append(NORM.UserNorm(NORM.functional_entry(i, kind, rest, lambda n: _lookup(funcs, n)), i,
                                         declared=norm))
            continue
        fwd, bwd = _lookup(funcs, f"{kind}_forward"), _lookup(funcs, f"{kind}_backward")
        if len(rest) == 2:  # affine, or a CS231n "sandwich" such as affine_relu
            w, b = (np.asarray(a) for a in rest)
            _, _, fused = kind.partition("_")
            act = D.name_of(fused) if fused else "identity"
            if act not in D.SUPPORTED_ACTIVATIONS:
                raise ValueError(f"layer {i} ({kind}): not supported; layers with (w, b) are affine or "
                                 f"affine_<activation> ({', '.join(D.SUPPORTED_ACTIVATIONS)})")
            adapted.append(FunctionalLayer(i, kind, fwd, bwd, w, b, activation=act))
            continue
        adapted.append(_functional_activation(i, kind, rest, fwd, bwd))
    notes = [n for layer in adapted for n in getattr(layer, "notes", [])]
    return UserModel(name, Sequential(adapted), np.asarray(x, dtype=dtype), as_target(target, loss), loss,
                     user_loss=user_loss_fn(loss_fn, loss_grad), dtype=dtype, convention=convention, notes=notes)


# A probe for a functional activation's slope: inputs well below zero (discover.SLOPE_PROBE_MIN).
_SLOPE_PROBE = np.linspace(-3.0, 3.0, 24).reshape(2, 12)


def _functional_activation(i: int, kind: str, rest: list, fwd, bwd) -> FunctionalLayer:
    """An activation pair, `kind` or (kind, slope): a leaky ReLU's slope declared, else read by
    probing its forward (what its default argument gives); a forward that requires the slope
    (lrelu_forward(x, alpha)) gets the declared one, and so does its backward if it takes it."""
    act = D.name_of(kind)
    if act is None or act not in D.SUPPORTED_ACTIVATIONS:
        raise ValueError(f"layer {i} ({kind}): not supported; functional layers are affine "
                         f"(with w, b) or one of {', '.join(D.SUPPORTED_ACTIVATIONS)}")
    alpha = float(rest[0]) if rest else None
    takes_slope = D.required_args(fwd) >= 2
    if takes_slope and alpha is None:
        raise ValueError(f"layer {i} ({kind}): {kind}_forward takes the slope as an argument; declare it as "
                         f"({kind!r}, 0.2)")
    fwd_extra = (alpha,) if takes_slope else ()
    bwd_extra = (alpha,) if takes_slope and D.required_args(bwd) >= 3 else ()
    if act == "leaky_relu" and alpha is None:
        out = call_user(f"layer {i} ({kind}).forward", fwd, _SLOPE_PROBE.copy())
        alpha = D.probe_alpha(_SLOPE_PROBE, np.asarray(out[0] if isinstance(out, tuple) else out, dtype=float))
    return FunctionalLayer(i, kind, fwd, bwd, activation=act, alpha=D.alpha_or_default(act, alpha),
                           fwd_extra=fwd_extra, bwd_extra=bwd_extra)


def network(forward, backward, params, X, Y, *, activations: list, layout: str | None = None,
            loss: str = "mse", loss_fn=None, loss_grad=None, grads_are_batch_means: bool = False,
            name: str = "user model", l2=None, batch_mean: str | None = None, ascent: bool = False) -> UserModel:
    """Whole-network functions, checked as one layer whose parameters are W1, b1, ...

    Args:
        forward: forward(X, params) -> out, or (out, cache).
        backward: backward(dout, params, cache) -> grads: the structure of params (or a dict
            with keys dW1, db1, ...), each gradient shaped as its parameter.
        params: [(W, b), ...] or a dict W1, b1, ...; W (in, out) with X (N, D) as rows, or
            (out, in) with X (D, N) as columns; b (out,), (1, out) or (out, 1).
        X: (N, D) samples as rows, or (D, N) as columns (told from W1's shape, or `layout`).
        Y: (N,) integer labels for the classification losses, else targets shaped like out.
        activations: one per (W, b): a name or (name, slope).
        layout: None (told from shapes and the forward), "row" or "col".
        loss, grads_are_batch_means, name, l2, batch_mean, ascent: as for rowmajor.
        loss_fn, loss_grad: as for rowmajor, with pred and dL/dpred shaped like out."""
    convention = C.declared(l2, batch_mean, grads_are_batch_means, ascent)
    V.batch(X, None)
    with V.quiet_numpy():
        net = WholeNet.from_functions(forward, backward, params, X, activations, layout)
    return _whole_model(net, X, Y, loss, loss_fn, loss_grad, name, convention)


def netclass(net, X, Y, *, activations: list, layout: str | None = None, backward: str = "backward",
             loss: str = "mse", loss_fn=None, loss_grad=None, grads_are_batch_means: bool = False,
             name: str = "user model", l2=None, batch_mean: str | None = None, ascent: bool = False) -> UserModel:
    """A network object, checked as one layer whose parameters are W1, b1, ...

    Args:
        net: an object with parameters W1, b1, W2, b2, ... (attributes or a `params` dict;
            shapes as for network), forward(X) -> out and a backward method (dout) -> grads
            (a dict with keys dW1 or W1, ..., or None with dW1, db1, ... set as attributes).
        X, Y, activations, layout: as for network.
        backward: the name of net's backward method.
        loss, grads_are_batch_means, name, l2, batch_mean, ascent: as for rowmajor.
        loss_fn, loss_grad: as for rowmajor, with pred and dL/dpred shaped like out."""
    convention = C.declared(l2, batch_mean, grads_are_batch_means, ascent)
    V.batch(X, None)
    with V.quiet_numpy():
        whole = WholeNet.from_object(net, X, activations, layout, backward)
    return _whole_model(whole, X, Y, loss, loss_fn, loss_grad, name, convention)


def _whole_model(net: WholeNet, X, Y, loss, loss_fn, loss_grad, name, convention) -> UserModel:
    x = net.to_rows(np.asarray(X, dtype=net.dtype))
    Y = np.asarray(Y)
    target = Y.T if net.col and loss not in NF.LABEL_LOSSES and Y.ndim == 2 else Y
    return UserModel(name, Sequential([net]), x, as_target(target, loss), loss,
                     user_loss=user_loss_fn(loss_fn, loss_grad, transpose=net.col), dtype=net.dtype,
                     convention=convention)
