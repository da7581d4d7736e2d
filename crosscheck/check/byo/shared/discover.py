"""Read a user's layer object: where its parameters and gradients live, which activation it
applies (and its slope), how its W is laid out, how its backward is called. What cannot be
told for certain is asked for, never guessed silently."""
from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np

from numpy_impl import functional as NF

from ...verdict import PROBE_MATCH

SUPPORTED_ACTIVATIONS = ("relu", "leaky_relu", "elu", "sigmoid", "tanh", "softplus", "identity", "softmax")

# (weight, bias) paths tried in order; "a.k" means obj.a["k"].
PARAM_PATHS = (("W", "b"), ("weights", "bias"), ("weights", "biases"), ("weight", "bias"), ("w", "b"),
               ("kernel", "bias"), ("params.W", "params.b"), ("parameters.W", "parameters.b"),
               ("params.w", "params.b"), ("params.weight", "params.bias"),
               # as people write them (objects.py): ML-From-Scratch's w0, a bias named for
               # another weight name, private attributes
               ("W", "w0"), ("W", "bias"), ("w", "bias"), ("weights", "b"), ("w", "w0"),
               ("_w", "_b"), ("_W", "_b"), ("_weights", "_biases"), ("_weights", "_bias"), ("_kernel", "_bias"))
GRAD_DICTS = ("grads", "gradients", "dparams", "param_grads")
# A leaky slope is read as the median y / x over inputs at least this far below zero, where
# x's own rounding is negligible next to it.
SLOPE_PROBE_MIN = 1e-3
DEFAULT_SLOPE = 0.01  # torch's LeakyReLU negative_slope, for a leaky_relu declared without one
DEFAULT_ELU_ALPHA = 1.0  # torch's ELU alpha, for an elu whose object names none
SLOPE_ATTRS = ("alpha", "negative_slope", "slope", "leak", "leakiness", "_alpha")
ACT_ATTRS = ("activation", "act_fn", "act", "activation_fn", "nonlinearity")
_NAME_HINTS = (("leaky", "leaky_relu"), ("lrelu", "leaky_relu"), ("relu", "relu"), ("elu", "elu"), ("sigmoid", "sigmoid"), ("logistic", "sigmoid"),
               ("tanh", "tanh"), ("softplus", "softplus"), ("softmax", "softmax"), ("identity", "identity"),
               ("linear", "identity"), ("affine", "identity"), ("none", "identity"))


def label_of(obj) -> str:
    """The name a layer goes by in messages and the report: a wrapped function's name (byo.fn_layer
    and friends set crosscheck_label), else its class's."""
    return getattr(obj, "crosscheck_label", None) or class_name(obj)


def class_name(obj) -> str:
    """The class name of the user's object (the one objects.AsWritten wraps, where it is wrapped)."""
    return getattr(obj, "crosscheck_class", None) or type(obj).__name__


def _get(obj, path: str):
    """What `path` names on obj ("a.k": obj.a["k"]; obj may be a dict itself), else None."""
    head, _, key = path.partition(".")
    value = obj.get(head) if isinstance(obj, dict) else getattr(obj, head, None)
    if key:
        return value.get(key) if isinstance(value, dict) else None
    return value


def put(obj, path: str, value) -> None:
    """Set what `path` names on obj ("a.k": obj.a["k"]) to value."""
    head, _, key = path.partition(".")
    if key:
        getattr(obj, head)[key] = value
    else:
        setattr(obj, head, value)


def _grad_paths(path: str) -> list[str]:
    head, _, key = path.partition(".")
    if key:
        return [f"{d}.{key}" for d in GRAD_DICTS] + [f"{d}.d{key}" for d in GRAD_DICTS]
    if head.startswith("_"):  # private: _dw for _w, _db for _b
        return [f"_d{head[1:]}", f"_d{head[1:].lower()}", f"_grad{head}", f"d{head}"]
    return [f"d{head}", f"grad_{head}", f"{head}_grad", f"d{head.lower()}", f"grad{head}"] + \
           [f"{d}.{head}" for d in GRAD_DICTS] + [f"{d}.d{head}" for d in GRAD_DICTS]


@dataclass
class Access:
    """Where one layer keeps W, b and, after backward, their gradients; b_path None for a
    linear layer without a bias (torch's bias=False)."""
    w_path: str
    b_path: str | None

    def weight(self, obj) -> np.ndarray:
        return np.asarray(_get(obj, self.w_path))

    def bias(self, obj) -> np.ndarray | None:
        return None if self.b_path is None else np.asarray(_get(obj, self.b_path))

    def paths(self) -> tuple[str, ...]:
        """W's path, and b's where there is one."""
        return (self.w_path,) if self.b_path is None else (self.w_path, self.b_path)

    def stored(self, obj) -> list | None:
        """[dW, db] ([dW] without a bias) where the layer keeps them after backward, else None."""
        found = [next((v for p in _grad_paths(path) if (v := _get(obj, p)) is not None), None)
                 for path in self.paths()]
        return None if any(v is None for v in found) else found

    def missing(self, obj) -> str:
        """What stored() did not find, for the error saying so."""
        path = next(p for p in self.paths()
                    if all(_get(obj, g) is None for g in _grad_paths(p)))
        return f"no gradient for {path} (looked for {', '.join(_grad_paths(path)[:4])}, ...)"

    def grads(self, obj, index: int, label: str):
        found = self.stored(obj)
        if found is None:
            raise ValueError(f"layer {index} ({label}): after backward found {self.missing(obj)}; pass "
                             f"param_names=(W, b, dW, db) naming them")
        return found


@dataclass
class DeclaredAccess(Access):
    dw_path: str = "dW"
    db_path: str = "db"

    def stored(self, obj) -> list | None:
        values = [_get(obj, self.dw_path), _get(obj, self.db_path)]
        return None if any(v is None for v in values) else values

    def missing(self, obj) -> str:
        return f"no {self.dw_path} / {self.db_path}"

    def grads(self, obj, index: int, label: str):
        values = self.stored(obj)
        if values is None:
            raise ValueError(f"layer {index} ({label}): no {self.dw_path} / {self.db_path} after backward")
        return values


def find_access(obj, names: tuple | None = None, bias_optional: bool = False,
                where: str | None = None) -> Access | None:
    """Where the layer keeps W and b (PARAM_PATHS, or `names` = (W, b, dW, db) as declared),
    or None for a layer without parameters (an activation, a pooling, a flatten). The one
    discovery of W and b: byo.rowmajor and byo.cnn both ask it. bias_optional: a weight alone
    is a linear layer without a bias (its forward then tells whether it adds none)."""
    if names is not None:
        return DeclaredAccess(*names) if _get(obj, names[0]) is not None else None
    for w, b in PARAM_PATHS:
        if isinstance(_get(obj, w), np.ndarray) and isinstance(_get(obj, b), np.ndarray):
            return Access(w, b)
    lone = next((w for w, _ in PARAM_PATHS if isinstance(_get(obj, w), np.ndarray)), None)
    if lone is not None and bias_optional:
        return Access(lone, None)
    if lone is not None:  # a weight without a bias: not an activation, and not checkable as it is
        raise no_bias_found(obj, lone, where)
    return None


def no_bias_found(obj, lone: str, where: str | None = None) -> ValueError:
    """The one-line refusal of a layer keeping a weight `lone` and no bias where it was looked for."""
    return ValueError(f"{where or label_of(obj)}: keeps a weight {lone} but no bias beside it (looked for "
                      f"{', '.join(sorted({b for w, b in PARAM_PATHS if w == lone}))}); keep one (zeros if "
                      f"your layer has none), or pass param_names=(W, b, dW, db) naming them")


def other_numbers(obj, w_path: str, width: int) -> list[str]:
    """Paths of the numbers a layer keeps besides its weight that could be a bias for an output of
    `width`: attributes and entries of its params dicts that are a float or a float array of 1 or
    `width` entries."""
    def could_be_bias(value) -> bool:
        arr = np.asarray(value) if isinstance(value, (float, np.ndarray, np.floating)) else None
        return arr is not None and arr.dtype.kind == "f" and arr.size in (1, width)
    found = [k for k, v in vars(obj).items() if k != w_path and not k.startswith("__") and could_be_bias(v)] \
        if hasattr(obj, "__dict__") else []
    for head in ("params", "parameters"):
        holder = getattr(obj, head, None)
        if isinstance(holder, dict):
            found += [f"{head}.{k}" for k, v in holder.items() if f"{head}.{k}" != w_path and could_be_bias(v)]
    return found


def per_layer(option: str, value, n: int, *, once: bool = False) -> list:
    """An option given per layer: None, a list of n entries (None where it does not apply),
    or where `once`, one string for every layer (w_layout='out,in')."""
    if value is None or (once and isinstance(value, str)):
        return [value] * n
    if isinstance(value, str) or len(value) != n:
        count = "a string" if isinstance(value, str) else f"{len(value)} entries"
        raise ValueError(f"{option}: {count} for {n} layers; give a list of one entry per layer (None where "
                         f"it does not apply)")
    return list(value)


def backward_style(obj) -> str:
    """'dy', 'x, dy' or 'dy, lr' from the signature of obj.backward."""
    params = [p for p in inspect.signature(obj.backward).parameters.values()
              if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    names = [p.name.lower() for p in params]
    if len(names) >= 2:
        return "dy, lr" if any(k in names[1] for k in ("lr", "rate", "eta", "alpha", "step")) else "x, dy"
    return "dy"


def slope_of(obj) -> float | None:
    for attr in SLOPE_ATTRS:
        value = getattr(obj, attr, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def name_of(thing) -> str | None:
    """An activation name from a string or an object's class name."""
    text = thing if isinstance(thing, str) else class_name(thing)
    text = text.lower()
    return next((name for hint, name in _NAME_HINTS if hint in text), None)


def declared(entry) -> tuple[str | None, float | None]:
    """activations=[...] entries: None, 'relu', ('leaky_relu', 0.2)."""
    if entry is None:
        return None, None
    if isinstance(entry, tuple):
        return entry[0], float(entry[1])
    return entry, None


def required_args(fn) -> int:
    """How many positional arguments fn requires (0 where its signature cannot be read)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 0
    return sum(1 for p in params
               if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))


def probe_alpha(x: np.ndarray, y: np.ndarray) -> float | None:
    """The slope y / x of a leaky ReLU's output y on its negative inputs x (None without any)."""
    return _probe_alpha(x, y)


def _probe_alpha(x: np.ndarray, y: np.ndarray) -> float | None:
    neg = x < -SLOPE_PROBE_MIN
    if not neg.any() or y.shape != x.shape:
        return None
    return float(np.median(y[neg] / x[neg]))


def fits(y: np.ndarray, want: np.ndarray) -> bool:
    """Is the user's output y what a candidate description computes (want)? The one rule every
    probe of a user's forward uses (activation, slope, W layout, a whole network's layout):
    same shape, and within PROBE_MATCH of want's scale, max(1, max |want|)."""
    y, want = np.asarray(y), np.asarray(want)
    if y.shape != want.shape:
        return False
    dtype = "float32" if np.float32 in (y.dtype, want.dtype) else "float64"
    scale = max(1.0, float(np.max(np.abs(want), initial=0.0)))
    return bool(np.max(np.abs(y - want), initial=0.0) <= PROBE_MATCH[dtype] * scale)


def match(y: np.ndarray, z: np.ndarray, act: str, alpha: float) -> bool:
    """Does y equal act(z)?"""
    return fits(y, NF.softmax(z) if act == "softmax" else NF.activation_funcs(act, alpha)[0](z))


def activation_of(obj, index: int, x: np.ndarray, y: np.ndarray, given=None,
                  hint: str | None = None) -> tuple[str, float]:
    """(name, slope) of an activation layer: declared, else told from its forward on x, trying
    first what its class name suggests (a name alone is never trusted: `LReLU` contains "relu",
    `NonLinearity` contains "linear"). The slope comes from the object (alpha, negative_slope,
    slope) or, failing that, from the forward. `hint` is a name to try first when the class
    name says nothing (a wrapped function's name).

    Args:
        obj: the layer object (its class name and slope attributes are read, never called).
        index: its position, for messages.
        x: (N, ...) an input it was run on; y: its forward's output on x, the same shape.
        given: what the user declared: None, a name, or (name, slope)."""
    name, alpha = declared(given)
    if name is None:
        guess, slope = name_of(obj) or (name_of(hint) if hint else None), slope_of(obj)
        for cand in [c for c in (guess,) if c in SUPPORTED_ACTIVATIONS] + [
                c for c in SUPPORTED_ACTIVATIONS if c != guess]:
            a = (slope if slope is not None else _probe_alpha(x, y)) if cand == "leaky_relu" else \
                alpha_or_default(cand, slope)
            if a is not None and match(y, x, cand, a):
                return cand, a
        raise ValueError(f"layer {index} ({label_of(obj)}): cannot tell which activation it is from its "
                         f"forward; pass activations=[...] naming one per layer (supported: "
                         f"{', '.join(SUPPORTED_ACTIVATIONS)})")
    alpha = alpha if alpha is not None else slope_of(obj)
    if name == "leaky_relu" and alpha is None:
        alpha = _probe_alpha(x, y)
    if name not in SUPPORTED_ACTIVATIONS:
        raise ValueError(f"layer {index} ({label_of(obj)}): activation {name!r} is not supported; "
                         f"supported: {', '.join(SUPPORTED_ACTIVATIONS)}")
    if name == "leaky_relu" and alpha is None:
        raise ValueError(f"layer {index} ({label_of(obj)}): leaky_relu slope unknown; declare it as "
                         f"activations=[..., ('leaky_relu', 0.2), ...]")
    return name, alpha_or_default(name, alpha)


def alpha_or_default(name: str, alpha: float | None) -> float:
    """The slope or alpha an activation is given, else torch's default for it (elu 1.0, else 0.01)."""
    return alpha if alpha is not None else DEFAULT_ELU_ALPHA if name == "elu" else DEFAULT_SLOPE


def fused_activation(obj, given) -> tuple[list[str], float | None]:
    """Candidate activations of a linear layer: declared, from its attribute, else all."""
    name, alpha = declared(given)
    if name:
        return [name], alpha
    for attr in ACT_ATTRS:
        value = getattr(obj, attr, None)
        if value is None:
            continue
        if isinstance(value, str):
            return [name_of(value) or "identity"], slope_of(obj)
        if name_of(value):  # an activation object (numpy-ml's act_fn=ReLU())
            return [name_of(value)], slope_of(value)
    return ["identity", *[a for a in SUPPORTED_ACTIVATIONS if a != "identity"]], slope_of(obj)


def layout_and_activation(obj, index: int, w: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray,
                          given, w_layout: str | None) -> tuple[bool, str, float, str]:
    """(W stored (in, out)?, activation, slope, note) from the layer's own forward on x."""
    label = label_of(obj)
    width = int(np.prod(x.shape[1:]))
    if w.ndim != 2:
        raise ValueError(f"layer {index} ({label}): W must be 2-D, got shape {w.shape}")
    # (W stored (in, out)?) for each layout W's shape fits; both for a square W
    layouts = [t for t, shape in ((True, (width, b.size)), (False, (b.size, width))) if w.shape == shape]
    if w_layout is not None:
        layouts = [w_layout == "in,out"]
    if not layouts:
        raise ValueError(f"layer {index} ({label}): W {w.shape} and b {b.shape} do not fit an input of "
                         f"width {width}")
    acts, alpha = fused_activation(obj, given)
    fits, closest = [], (np.inf, layouts[0], acts[0])
    for transposed in layouts:
        weight = w.T if transposed else w  # (out, in): transposed means W is stored (in, out)
        for act in acts:
            a = alpha if alpha is not None else (_probe_alpha(x.reshape(len(x), -1) @ weight.T + b.reshape(-1), y)
                                                 if act == "leaky_relu" else alpha_or_default(act, alpha))
            if a is None:
                continue
            want = numpy_twin_forward(x, weight, b, act, a)
            err = float(np.max(np.abs(want - y))) if want.shape == y.shape else np.inf
            if match(y, x.reshape(len(x), -1) @ weight.T + b.reshape(-1), act, a):
                fits.append((transposed, act, a))
            elif err < closest[0]:
                closest = (err, transposed, act)
    if len({f[0] for f in fits}) > 1:
        raise ValueError(f"layer {index} ({label}): W {w.shape} is square and its forward fits both layouts; "
                         f"pass w_layout='in,out' (x @ W) or 'out,in' (x @ W.T)")
    if fits:
        return fits[0][0], fits[0][1], fits[0][2], ""
    if len(layouts) == 1 and len(acts) == 1:
        return layouts[0], acts[0], alpha_or_default(acts[0], alpha), ""
    _, transposed, act = closest
    declare = "w_layout" if given is not None else "w_layout/activations"
    note = (f"layer {index} ({label}): its forward matches no linear+activation exactly; compared as "
            f"W {'(in, out)' if transposed else '(out, in)'} with {act}, the closest (declare {declare} "
            f"if that is not what it computes)")
    return transposed, act, alpha_or_default(act, alpha), note


def numpy_twin_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, activation: str,
                       alpha: float) -> np.ndarray:
    """What a linear+activation layer should output, in NumPy (for layout detection)."""
    z = x.reshape(len(x), -1) @ weight.T + bias.reshape(-1)
    if activation == "softmax":
        return NF.softmax(z)
    return NF.activation_funcs(activation, alpha)[0](z)
