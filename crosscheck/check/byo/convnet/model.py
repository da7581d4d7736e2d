"""Bring your own NumPy CNN: convolution, pooling, flatten, dropout and fully connected layers
in either of the two layouts people write by hand.

  layout="nchw"  torch / CS231n: x (N, C, H, W), conv W (F, C, kh, kw), b (F,)
  layout="nhwc"  TensorFlow:     x (N, H, W, C), conv W [kh, kw, Cin, Cout], b (Cout,)

Layer objects have forward(x) and backward(dy) or backward(x, dy) returning dL/dx, and are
recognised by what they hold, found as byo.rowmajor finds it (shared/discover.py: W/b,
weights/bias, kernel/bias, params["W"], ...; gradients dW/db, grads["W"], ...): W 4-D is a
convolution (stride: `stride`; padding: `pad` or `padding`, an int, 'same' or 'valid'; or a
CS231n `conv_param` dict), W 2-D a fully connected layer y = x.reshape(N, -1) @ W + b (or
@ W.T, told as byo.rowmajor tells it); class names with Pool (Max/Avg), Flatten or Reshape,
Dropout; anything else an element-wise activation, told as byo.rowmajor tells it. What
cannot be told is declared: activations=, w_layout=, param_names=. CS231n function pairs
are wrapped by conv_fn, pool_fn, affine_fn and fn_layer. Batch, layer and group norms are read
as byo/norm/ reads them, residual blocks x + f(x) (f a list of such layers) as byo/residual/ does.

    model = byo.cnn(layers, x, labels, layout="nhwc")
    result = byo.check(model)

The flatten order of your code (C,H,W or H,W,C) is read from its forward and followed by the
torch twin. Your dropout's mask is made repeatable (random generators reseeded before each
call) and used by the twin. Loops over pixels are slow: the check keeps as many images of `x`,
and finite-difference samples, as a cost estimate from the sizes alone allows (_plan: values
every layer reads and writes, budget_s at a fixed nominal rate), never timed, so the same
inputs get the same check on a loaded machine as on an idle one. Every input is validated in
full (shared/validate.py) before any of it is cut."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from numpy_impl import Sequential

from ...fd import FD_SAMPLES
from ...user_code import call_user
from .. import norm as NORM
from .. import residual as RES
from ..shared.adapters import Activation, build_twin
from ..shared import discover as D
from ..shared import objects as O
from ..shared.lazy import sized_on_first_forward
from ..shared import validate as V
from ..shared import combined
from ..shared import convention as C
from ..shared.model import UserModel, as_target, dtype_of, user_loss_fn
from .adapters import LAYOUTS, UserConv, UserFlatten, UserLinear, UserPool, classify, label_of
from .dropout import UserDropout

BUDGET_S = 5.0  # the whole check should take a few seconds, even for loops over pixels
# Values read and written per second by a user's layer that loops over pixels in Python (about
# 1 us each): budget_s is turned into a cost in values with this fixed rate, never timed, so the
# batch checked depends on the sizes only.
COST_PER_S = 1e6
MIN_FD_SAMPLES = 2


@dataclass
class CNNModel(UserModel):
    """A user's CNN, adapted, with the batch and finite-difference samples chosen for it, and
    its torch twin (built once: building it reads the dropout masks and the flatten order).
    x is the batch kept, (n, C, H, W) or (n, H, W, C) in the model's layout, n <= N."""
    fd_samples: int = FD_SAMPLES
    twin: object = None

    @property
    def torch_model(self):
        return self.twin


class _Fn:
    """A CS231n-style function pair made into a layer object."""

    def __init__(self, kind: str, forward, backward, label: str, w=None, b=None, param=None) -> None:
        self.crosscheck_kind, self.crosscheck_label = kind, label
        self._f, self._b, self._param, self._cache = forward, backward, param, None
        if w is not None:
            self.W, self.b = w, b
        if param:
            for key, value in param.items():
                setattr(self, key, value)

    def _args(self):
        return [a for a in (getattr(self, "W", None), getattr(self, "b", None), self._param) if a is not None]

    def forward(self, x):
        out, self._cache = self._f(x, *self._args())
        return out

    def backward(self, dy):
        grads = self._b(dy, self._cache)
        if not isinstance(grads, tuple):
            return grads
        dx, self.dW, self.db = grads
        return dx


def conv_fn(forward, backward, w, b, conv_param: dict) -> _Fn:
    """A CS231n convolution pair as a layer (byo.cnn with layout="nchw").

    Args:
        forward: forward(x (N, C, H, W), w, b, conv_param) -> (out (N, F, Ho, Wo), cache).
        backward: backward(dout (N, F, Ho, Wo), cache) -> (dx (N, C, H, W), dw, db), shaped as w, b.
        w: (F, C, kh, kw) kernel; b: (F,) bias.
        conv_param: {"stride": int, "pad": int}."""
    return _Fn("conv", forward, backward, forward.__name__, w, b, conv_param)


def pool_fn(forward, backward, pool_param: dict, mode: str = "max") -> _Fn:
    """A CS231n pooling pair as a layer.

    Args:
        forward: forward(x (N, C, H, W), pool_param) -> (out (N, C, Ho, Wo), cache).
        backward: backward(dout (N, C, Ho, Wo), cache) -> dx (N, C, H, W).
        pool_param: {"pool_height": k, "pool_width": k (square windows only), "stride": s}.
        mode: "max" or "avg"."""
    if pool_param.get("pool_width", pool_param.get("pool_height")) != pool_param.get("pool_height"):
        raise ValueError(f"pool_param: only square windows, got {pool_param}")
    return _Fn(f"{mode}pool", forward, backward, forward.__name__, param=pool_param)


def affine_fn(forward, backward, w, b) -> _Fn:
    """A CS231n fully connected pair as a layer.

    Args:
        forward: forward(x (N, ...), w, b) -> (out (N, out), cache), x reshaped to (N, in) inside.
        backward: backward(dout (N, out), cache) -> (dx (N, ...), dw (in, out), db (out,)).
        w: (in, out) weight; b: (out,) bias."""
    return _Fn("linear", forward, backward, forward.__name__, w, b)


def fn_layer(forward, backward) -> _Fn:
    """An element-wise activation pair as a layer: forward(x) -> (out, cache) and
    backward(dout, cache) -> dx, each array shaped as x (N, ...)."""
    return _Fn("activation", forward, backward, forward.__name__)


def adapt(obj, index: int, layout: str, x: np.ndarray, given=None, w_layout: str | None = None,
          param_names: tuple | None = None, norm: dict | None = None, residual: dict | None = None):
    """The adapter for one user layer, by what it holds (classify, with the shared discovery of
    W and b); x, its input (N, ...) in `layout`, tells a square fully connected W's layout and
    an activation by what its forward does, unless declared (`given`, `w_layout`). A residual
    block (byo/residual/; `residual`: RES.declared's dict) has its inner layers adapted so."""
    def adapt_inner(inner, h):
        layer = _adapt_layer(inner, index, layout, h, None, w_layout, param_names, norm)
        return layer, V.forward_output(f"layer {index} ({layer.label})", layer.probe(h), h)
    block = RES.adapt_residual(obj, index, x, adapt_inner, residual)
    if block is not None:
        if any(isinstance(layer, UserDropout) for layer in [*block.branch.layers, block.proj]):
            raise ValueError(f"layer {index} ({label_of(obj)}): a dropout layer inside a residual block is not "
                             f"checked yet; put it after the block")
        return block
    return _adapt_layer(obj, index, layout, x, given, w_layout, param_names, norm)


def _adapt_layer(obj, index: int, layout: str, x: np.ndarray, given=None, w_layout: str | None = None,
                 param_names: tuple | None = None, norm: dict | None = None):
    """One layer that is no residual block (adapt)."""
    normalise = NORM.adapt_norm(obj, index, layout, norm)
    if normalise is not None:  # a batch, layer or group norm (byo/norm/)
        return normalise
    where = f"layer {index} ({label_of(obj)})"
    access = D.find_access(obj, param_names, where=where)
    if access is not None:
        V.params(where, access.weight(obj), access.bias(obj))
    kind = classify(obj, access, index)
    if given is not None and kind != "activation":
        raise ValueError(f"activations: layer {index} ({label_of(obj)}) is a {kind} layer; give None for it "
                         f"(byo.cnn checks an activation as a layer of its own)")
    if kind == "conv":
        return UserConv(obj, index, layout, access)
    if kind == "linear":
        return UserLinear(obj, index, layout, x, access, w_layout)
    if kind in ("maxpool", "avgpool"):
        return UserPool(obj, index, layout, kind[:3])
    if kind == "flatten":
        return UserFlatten(obj, index, layout)
    if kind == "dropout":
        return UserDropout(obj, index, layout)
    where = f"layer {index} ({label_of(obj)})"
    y = V.forward_output(where, call_user(f"{where}.forward", obj.forward, x.copy()), x)
    act, alpha = D.activation_of(obj, index, x, y, given, hint=label_of(obj))
    layer = Activation(obj, index, act, alpha, D.backward_style(obj))
    layer.label = label_of(obj)
    return layer


def _adapt_all(layers: list, x: np.ndarray, layout: str, masks: dict, activations: list | None,
               w_layout, param_names: tuple | None, norm: dict | None = None,
               residual: dict | None = None) -> tuple[list, list[int], tuple]:
    """Every layer adapted in turn, each run on its input (x, one image or the batch); a dropout
    layer in `masks` gets its mask. Returns the adapted layers and the number of values each
    layer outputs per image, a residual block's inner layers' too (the cost model of _plan), and
    the shape of the last output."""
    adapted, sizes, h = [], [], x
    givens = D.per_layer("activations", activations, len(layers))
    layouts = D.per_layer("w_layout", w_layout, len(layers), once=True)
    with V.quiet_numpy():
        for i, obj in enumerate(layers):
            layer = adapt(obj, i, layout, h, givens[i], layouts[i], param_names, norm, residual)
            if i in masks:
                if not isinstance(layer, UserDropout):
                    raise ValueError(f"masks: layer {i} ({label_of(obj)}) is not a dropout layer")
                layer.handed = np.asarray(masks[i])
            adapted.append(layer)
            h = V.forward_output(f"layer {i} ({label_of(obj)})", layer.forward(h), h)
            sizes.append(int(np.prod(h.shape[1:])) + sum(getattr(layer, "inner_sizes", ())))
    return adapted, sizes, h.shape


def _probe_dtype(given, layers: list, param_names: tuple | None):
    """The dtype the layers are probed in: float32 where the user's images or weights are, so
    that a layer rebinding its running statistics to what it computed keeps them in its dtype."""
    weights = []
    for obj in layers:
        try:
            access = D.find_access(obj, param_names)
        except ValueError:  # said where the layer is adapted
            access = None
        if access is not None:
            weights.append(access.weight(obj))
    return dtype_of(np.asarray(given), *weights)


def _probe_backward(model: Sequential, x: np.ndarray) -> None:
    """One forward and backward on x, so that a backward that cannot be checked (no gradients
    where they were looked for, a dL/dx of the wrong size) is said here, before the check."""
    with V.quiet_numpy():
        out = model.forward(x)
        model.backward(np.ones_like(out))


def _plan(model: Sequential, images: int, sizes: list[int], in_size: int, budget_s: float,
          fixed: bool) -> tuple[int, int, int]:
    """(images, fd samples per tensor, cost per image) from sizes alone, never from a clock, so
    the same inputs get the same check on any machine. Cost of one image's forward+backward:
    the values every layer reads and writes (`sizes`, per image; `in_size` the input's), which
    is what loops over pixels pay for. The check costs a few passes for the comparison, and per
    tensor 4 forwards (about 2 passes) per finite-difference sample; it gets budget_s *
    COST_PER_S of it (a fixed nominal rate, not a measured one)."""
    per_image = in_size + sum(sizes)
    tensors = 1 + sum(len(layer.params) for layer in model.layers)
    budget = budget_s * COST_PER_S
    samples = FD_SAMPLES
    if not fixed:
        images = max(1, min(images, int(budget // (per_image * (4 + 2 * tensors * samples)))))
    if per_image * images * (4 + 2 * tensors * samples) > budget:
        samples = max(MIN_FD_SAMPLES, int((budget / (per_image * images) - 4) / (2 * tensors)))
    return images, samples, per_image


def cnn(layers: list, x, target, *, layout: str = "nchw", loss: str = "softmax_ce",
        masks: dict | None = None, budget_s: float = BUDGET_S, name: str = "user CNN",
        activations: list | None = None, w_layout=None, param_names: tuple | None = None, loss_fn=None,
        loss_grad=None, grads_are_batch_means: bool = False, l2=None, batch_mean: str | None = None,
        ascent: bool = False, norm: dict | None = None,
        layer_api=None, residual=None) -> CNNModel:
    """Adapt a user's CNN layer objects (module docstring).

    Args:
        layers: objects with forward(x) and backward(dy) or backward(x, dy) returning dL/dx:
            convolutions keeping W (F, C, kh, kw) in "nchw" or [kh, kw, Cin, Cout] in "nhwc"
            and b (F,); fully connected layers keeping W (in, out) or (out, in) and b (out,),
            on x reshaped to (N, in); parameters and gradients under the names byo.rowmajor
            finds (W/b, weights/bias, kernel/bias, ..., dW/db, grads["W"], ...); pooling,
            flatten and dropout layers known by class name; anything else an activation.
            conv_fn, pool_fn, affine_fn and fn_layer wrap CS231n function pairs.
        x: (N, C, H, W) images for "nchw", (N, H, W, C) for "nhwc".
        target: (N,) integer labels for softmax_ce / nll, else (N, out) targets.
        layout: "nchw" or "nhwc", of x and of every activation between layers.
        loss: the loss torch's side uses (softmax_ce by default).
        masks: {layer index: keep-mask shaped as that dropout layer's input}, to hand it the
            mask it should use (the batch is then checked whole, not cut to the budget).
        budget_s: a size budget, in nominal seconds at COST_PER_S values per second (not timed):
            images of x and finite-difference samples are cut to fit, the same on any machine.
        name: what the report calls the model.
        activations: None, or one entry per layer: None (told from its forward) or, on an
            activation layer, a name or (name, slope) as ("leaky_relu", 0.2).
        w_layout: None (told from shapes and the forward), "in,out" (x @ W) or "out,in"
            (x @ W.T) for the fully connected layers, once or as a list of one per layer.
        param_names: (W, b, dW, db) attribute names where they are none of the usual ones.
        loss_fn, loss_grad: your loss, as for byo.rowmajor: (scores (N, out), target) -> (value,
            dL/dscores), or the value alone with loss_grad.
        grads_are_batch_means, l2, batch_mean, ascent: your gradient convention, as for
            byo.rowmajor (byo/shared/convention.py).
        norm: your batch norms' running-average convention, as for byo.rowmajor; batch, layer and
            group norm objects (or CS231n pairs wrapped by norm_fn) work in either layout.
        layer_api: method and attribute names where they are not the usual ones, as for byo.rowmajor.
        residual: your residual blocks, y = x + f(x) or proj(x) + f(x) with f a list of your layer
            objects (a 1x1 convolution as proj, say), as for byo.rowmajor; in either layout."""
    convention = C.declared(l2, batch_mean, grads_are_batch_means, ascent)
    given_residual = RES.declared(residual)
    if layout not in LAYOUTS:
        raise ValueError(f"layout: {layout!r}; choose from {', '.join(LAYOUTS)}")
    layers, loss_layer = combined.split(O.all_as_written(V.layer_list(layers, "byo.cnn"), layer_api))
    loss = "softmax_ce" if loss_layer is not None else loss
    sized = sized_on_first_forward(layers, x)
    budget_s = V.budget(budget_s)
    masks = V.masks(masks, len(layers))
    given, x = x, V.batch(x, np.float64)
    V.labels(loss, target, len(x))  # its length here; its classes once the output width is known
    # everything is validated on the whole batch before any of it is cut: handed masks fix the
    # batch (they are shaped for it), else the layers are probed on one image
    probe = (x if masks else x[:1]).astype(_probe_dtype(given, layers, param_names))
    adapted, sizes, out_shape = _adapt_all(layers, probe, layout, masks, activations, w_layout,
                                           param_names, norm, given_residual)
    V.labels(loss, target, len(x), out_shape)
    # float32 where the user's images or parameters are (tinynn's): judged with float32 bars
    dtype = dtype_of(np.asarray(given), *[p for layer in adapted for p in getattr(layer, "params", {}).values()])
    x = x.astype(dtype)
    model = Sequential(adapted)
    _probe_backward(model, x if masks else x[:1])
    total = len(x)
    images, samples, per_image = _plan(model, total, sizes, int(np.prod(x.shape[1:])), budget_s,
                                       fixed=bool(masks))
    x = x[:images]
    target = np.asarray(target)[:images]
    with V.quiet_numpy():
        model.forward(x)  # sets every layer's padding and input shape for its twin
    h = x
    for layer, out in zip(adapted, model.outputs):  # the kept images, every layer finite on them
        V.forward_output(f"layer {layer.index} ({layer.label})", out, h)
        h = out
    twin = build_twin(model, "float64")  # the truth; byo.check runs a float32 copy beside it
    notes = sized
    if loss_layer is not None:
        loss_fn, note = combined.as_loss(loss_layer, len(layers), h, target, loss_fn)
        notes.append(note)
    notes += [f"checked on {images} of {total} images of size {x.shape[1:]} with {samples} "
             f"finite-difference entries per tensor where a random direction fails (chosen from sizes alone: "
             f"{per_image} values per image's pass; budget_s={budget_s:g} at a nominal {COST_PER_S:.0e} values/s)"]
    notes += [layer.style() for layer in adapted if isinstance(layer, UserDropout)]
    notes += [n for layer in adapted for n in getattr(layer, "notes", [])]
    return CNNModel(name, model, x, as_target(target, loss), loss, user_loss=user_loss_fn(loss_fn, loss_grad),
                    notes=notes, convention=convention, fd_samples=samples, twin=twin, dtype=dtype)
