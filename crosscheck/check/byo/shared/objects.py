"""Layer objects as people write them, read without glue:

- methods named forward_pass / backward_pass (ML-From-Scratch), or declared with
  layer_api={"forward": ..., "backward": ...};
- a forward that returns nothing and stores its output (nnfs: self.output), a backward that
  returns nothing and stores dL/dx (nnfs: self.dinputs), told from their source (no return of
  a value in it) and read from OUTPUT_ATTRS / DX_ATTRS or the names declared in layer_api;
- a backward returning (dX, [dW, db]) or (dX, dW, db) (split_returned);
- gradients handed only to an optimizer object, layer.W_opt.update(W, grad_w): the layer is
  given a recording optimizer that keeps the gradient and leaves W as it is (Recorder);
- backward(grad, lr) that updates W in place and keeps no gradient: dW read back from the
  update at a known lr, on a copy of the parameters (recovered_grads in updates.py).

AsWritten wraps an object only where its methods need it; every attribute read or written
through it is the object's own."""
from __future__ import annotations

import ast
import inspect
import textwrap

import numpy as np

from .discover import put

OUTPUT_ATTRS = ("output", "outputs", "out")
DX_ATTRS = ("dinputs", "dinput", "dX", "dx", "grad_input", "input_grad")
FORWARD_NAMES = ("forward", "forward_pass", "forward_propagation", "fprop")
BACKWARD_NAMES = ("backward", "backward_pass", "backward_propagation", "bprop")
API_KEYS = ("forward", "backward", "output", "dinputs")
OPT_SUFFIXES = ("_opt", "_optimizer", "_optim")


def _method(obj, given: str | None, names: tuple, what: str, where: str):
    if given is not None:
        if not callable(getattr(obj, given, None)):
            raise ValueError(f"layer_api: {where} has no method {given!r} (its {what})")
        return given
    name = next((n for n in names if callable(getattr(obj, n, None))), None)
    if name is None:
        raise ValueError(f"{where}: has no {what}() method (looked for {', '.join(names)}); pass "
                         f"layer_api={{'{what}': 'its_name'}}")
    return name


def returns_nothing(fn) -> bool:
    """Does fn's source return no value anywhere (nested functions aside)? False where its
    source cannot be read: a value is then expected, as before."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError, IndentationError):
        return False
    body = tree.body[0] if tree.body and isinstance(tree.body[0], (ast.FunctionDef, ast.AsyncFunctionDef)) else None
    if body is None:
        return False
    stack = list(body.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Return) and node.value is not None and not (
                isinstance(node.value, ast.Constant) and node.value.value is None):
            return False
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            return False
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(node))
    return True


class AsWritten:
    """A user's layer object presented as forward(x) -> y, backward(...) -> dx; everything else
    (attributes read and written) is the object's own."""

    def __init__(self, obj, forward: str, backward: str, output: str | None, dinputs: str | None,
                 where: str) -> None:
        fwd, bwd = getattr(obj, forward), getattr(obj, backward)
        d = self.__dict__
        d.update(crosscheck_obj=obj, crosscheck_class=type(obj).__name__, _where=where,
                 _output=output, _dinputs=dinputs, _fwd_name=forward, _bwd_name=backward)
        d["crosscheck_label"] = getattr(obj, "crosscheck_label", None) or type(obj).__name__

        def forward_(x, *rest):
            out = getattr(obj, forward)(x, *rest)
            return out if out is not None else self._stored(self._output, OUTPUT_ATTRS, "forward", "output")

        def backward_(*args):
            out = getattr(obj, backward)(*args)
            return out if out is not None else self._stored(self._dinputs, DX_ATTRS, "backward", "dinputs")
        try:
            forward_.__signature__, backward_.__signature__ = inspect.signature(fwd), inspect.signature(bwd)
        except (TypeError, ValueError) as err:  # a builtin or compiled method
            raise ValueError(f"{where}: cannot read the arguments of its {forward}() or {backward}() ({err}); "
                             f"wrap it in a Python class, or name others with layer_api=") from None
        d["forward"], d["backward"] = forward_, backward_

    def _stored(self, given: str | None, names: tuple, method: str, key: str):
        obj = self.crosscheck_obj
        for name in ((given,) if given else names):
            value = getattr(obj, name, None)
            if value is not None:
                return value
        looked = given or ", ".join(names)
        raise ValueError(f"{self._where}.{method} returned nothing and set no {looked}; return it, or pass "
                         f"layer_api={{'{key}': 'the_attribute_it_sets'}}")

    def __getattr__(self, name):
        return getattr(self.__dict__["crosscheck_obj"], name)

    def __setattr__(self, name, value):
        setattr(self.crosscheck_obj, name, value)


def as_written(obj, index: int, layer_api: dict | None = None):
    """obj itself where forward(x) and backward(...) return what they compute, else AsWritten."""
    if isinstance(obj, AsWritten) or getattr(obj, "crosscheck_kind", None):
        return obj
    api = dict(layer_api or {})
    unknown = sorted(set(api) - set(API_KEYS))
    if unknown:
        raise ValueError(f"layer_api: unknown key {unknown[0]!r}; give any of {', '.join(API_KEYS)}")
    where = f"layer {index} ({getattr(obj, 'crosscheck_label', None) or type(obj).__name__})"
    fwd = _method(obj, api.get("forward"), FORWARD_NAMES, "forward", where)
    bwd = _method(obj, api.get("backward"), BACKWARD_NAMES, "backward", where)
    if not api and (fwd, bwd) == ("forward", "backward") and not returns_nothing(obj.forward) \
            and not returns_nothing(obj.backward):
        return obj
    return AsWritten(obj, fwd, bwd, api.get("output"), api.get("dinputs"), where)


def all_as_written(layers: list, layer_api) -> list:
    """Each layer as_written, with layer_api once for all (a dict) or one per layer (a list)."""
    apis = layer_api if isinstance(layer_api, (list, tuple)) else [layer_api] * len(layers)
    if len(apis) != len(layers):
        raise ValueError(f"layer_api: {len(apis)} entries for {len(layers)} layers; give one dict for all, "
                         f"or a list of one per layer (None where it does not apply)")
    return [as_written(o, i, a) for i, (o, a) in enumerate(zip(layers, apis))]


def split_returned(out, w: np.ndarray | None, b: np.ndarray | None):
    """(dx, [dW, db] or None) from what a backward returned: (dX, [dW, db]) or (dX, dW, db)
    with dW, db shaped as the layer's W, b (b None: (dX, dW)); anything else as it is, with None."""
    if w is None or not isinstance(out, (tuple, list)):
        return out, None
    params = [p for p in (w, b) if p is not None]
    grads = list(out[1]) if len(out) == 2 and isinstance(out[1], (tuple, list)) else list(out[1:])
    if len(grads) == len(params) and all(np.shape(g) == np.shape(p) or np.size(g) == np.size(p) == np.shape(p)[-1]
                                         for g, p in zip(grads, params)):
        return out[0], grads
    return out, None


class Recorder:
    """An optimizer for one parameter that keeps each gradient handed to it and returns the
    parameter moved by it (a new array), so that a dL/dx computed from the updated W shows;
    put_back then puts the layer's own array back."""

    def __init__(self, attr: str = "", original=None) -> None:
        self.handed: list[tuple[object, np.ndarray]] = []
        self.attr, self.original = attr, original  # where it stands in, for whom (put back after a check)

    def update(self, param, grad, *rest, **kw):
        self.handed.append((param, np.array(grad, copy=True)))
        return np.asarray(param) - self.handed[-1][1]

    def __call__(self, param, grad, *rest, **kw):
        return self.update(param, grad)

    def take(self, obj, path: str) -> np.ndarray | None:
        """The gradient last handed over (None where none was), the parameter it was handed
        with put back at `path` on obj; then forget them all."""
        if not self.handed:
            return None
        param, grad = self.handed[-1]
        self.handed = []
        put(obj, path, param)
        return grad


def install_recorders(obj, paths: tuple[str, str]) -> dict[str, Recorder]:
    """Give the layer a Recorder in place of each per-parameter optimizer it keeps (W_opt,
    w0_opt, W_optimizer, ...: an object with an update method). {path: recorder}."""
    found = {}
    for path in paths:
        head = path.split(".")[-1]
        for suffix in OPT_SUFFIXES:
            current = getattr(obj, head + suffix, None)
            if isinstance(current, Recorder) or callable(getattr(current, "update", None)):
                found[path] = current if isinstance(current, Recorder) else Recorder(head + suffix, current)
                setattr(obj, head + suffix, found[path])
                break
    return found


def recorders_standing_in(layers, on: bool) -> None:
    """Put each layer's Recorders in place of the user's optimizers (on) or the optimizers back."""
    for layer in layers:
        for rec in getattr(layer, "recorders", {}).values():
            if rec.attr:
                setattr(layer.obj, rec.attr, rec if on else rec.original)
