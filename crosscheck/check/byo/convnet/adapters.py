"""Adapters for a user's CNN layer objects: convolution, max/average pooling, flatten,
dropout and row-major fully connected layers, in NCHW (weights (F, C, kh, kw)) or NHWC
(weights [kh, kw, Cin, Cout]). Each keeps the user's layouts and builds its torch twin."""
from __future__ import annotations

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view

from reference import activation_module

from ...user_code import call_user
from ..shared import discover as D
from ..shared.discover import label_of
from ..shared.adapters import UserLayer
from ..shared.objects import install_recorders
from ..shared.updates import param_grads
from . import twins as T
from .geometry import resolve_pads, same_pads, square

__all__ = ["same_pads"]  # re-exported: tests and callers read it here

LAYOUTS = ("nchw", "nhwc")


def to_nchw(a: np.ndarray, layout: str) -> np.ndarray:
    """(N, H, W, C) -> (N, C, H, W) for "nhwc" (a view); NCHW as it is."""
    return a.transpose(0, 3, 1, 2) if layout == "nhwc" else a


def from_nchw(a: np.ndarray, layout: str) -> np.ndarray:
    """(N, C, H, W) -> (N, H, W, C) for "nhwc" (a view); NCHW as it is."""
    return a.transpose(0, 2, 3, 1) if layout == "nhwc" else a


def _attr(obj, names, default=None):
    for name in names:
        if isinstance(obj, dict) and name in obj:
            return obj[name]
        if hasattr(obj, name):
            return getattr(obj, name)
    return default


class UserCNNLayer(UserLayer):
    """A user's layer object with forward(x) and backward(dy) or backward(x, dy)."""
    activation = None  # not an element-wise activation: no ReLU kink (pools report their own)
    kind = "cnn"  # a plain attribute (UserLayer's is a property): subclasses and pools set their own

    def __init__(self, obj, index: int, layout: str) -> None:
        super().__init__(index, label_of(obj))
        self.obj, self.layout = obj, layout
        self.call_style = D.backward_style(obj)
        self.in_shape: tuple | None = None

    def _where(self) -> str:
        return f"layer {self.index} ({self.label})"

    def forward(self, x):
        self.check_input(x)
        self.in_shape = x.shape
        return self.forward_obj(x)

    def backward(self, dy):
        return self.backward_obj(dy, self.call_style)

    def check_input(self, x) -> None:
        """Raise ValueError naming the layer when x cannot fit it."""

    def _spatial(self, x) -> tuple[int, int, int]:
        """(channels, height, width) of a 4-D input in this layer's layout."""
        if x.ndim != 4:
            raise ValueError(f"{self._where()}: expected a 4-D {self.layout.upper()} input, got shape {x.shape}")
        n, a, b, c = x.shape
        return (c, a, b) if self.layout == "nhwc" else (a, b, c)


class UserConv(UserCNNLayer):
    """W (F, C, kh, kw) in NCHW or [kh, kw, Cin, Cout] in NHWC; b (F,); their gradients after
    backward; `access` says where all four live (shared discovery: W/b, weights/bias, ...)."""
    kind = "conv2d"

    def __init__(self, obj, index: int, layout: str, access: D.Access) -> None:
        super().__init__(obj, index, layout)
        self.access, self.recorders = access, install_recorders(obj, access.paths())
        w, b = access.weight(obj), access.bias(obj)
        # an activation it applies itself (numpy-ml's act_fn): one it names, else none
        acts, alpha = D.fused_activation(obj, None)
        self.fused, self.alpha = (acts[0], D.alpha_or_default(acts[0], alpha)) if len(acts) == 1 \
            else ("identity", D.DEFAULT_SLOPE)
        if layout == "nhwc":
            self.kh, self.kw, self.cin, self.cout = w.shape
        else:
            self.cout, self.cin, self.kh, self.kw = w.shape
        if w.ndim != 4:
            raise ValueError(f"{self._where()}: its convolution kernel is {w.ndim}-D, shape {w.shape}; give "
                             f"it 4-D, {_KERNEL[layout]} for layout={layout!r}")
        if b.size != self.cout:
            raise ValueError(f"{self._where()}: {_layout_mismatch(w.shape, b.size, layout)}")
        param = _attr(obj, ("conv_param",), {})
        stride = _attr(obj, ("stride", "strides"), None)
        self.stride = square(param.get("stride", 1) if stride is None else stride, self._where(), "stride")
        self.pad = _attr(obj, ("pad", "padding"), None)
        self.pad = param.get("pad", 0) if self.pad is None else self.pad
        self.pads: T.Pads = (0, 0, 0, 0)
        self.params = {"weight": w, "bias": b.reshape(-1)}  # views: finite differences perturb them

    def check_input(self, x) -> None:
        c, h, w = self._spatial(x)
        if c != self.cin:
            raise ValueError(f"{self._where()}: input has {c} channels but W expects {self.cin}")
        self.pads = resolve_pads(self.pad, h, w, self.kh, self.kw, self.stride, self._where(), self.layout)
        top, bottom, left, right = self.pads
        if h + top + bottom < self.kh or w + left + right < self.kw:
            raise ValueError(f"{self._where()}: the {self.kh}x{self.kw} kernel is larger than the padded "
                             f"input {h + top + bottom}x{w + left + right}")

    def forward(self, x):
        y = super().forward(x)
        c, h, w = self._spatial(x)
        top, bottom, left, right = self.pads
        want = ((h + top + bottom - self.kh) // self.stride + 1, (w + left + right - self.kw) // self.stride + 1)
        got = tuple(y.shape[1:3] if self.layout == "nhwc" else y.shape[2:4]) if y.ndim == 4 else None
        if got != want:
            raise ValueError(f"{self._where()}: output is {got[0]}x{got[1]} where padding {self.pad!r} "
                             f"gives {want[0]}x{want[1]}{_pad_slip(got[0] - want[0], self.stride)}"
                             if got else f"{self._where()}: output shape {y.shape} is not 4-D")
        return y

    def backward(self, dy):
        grads, dx = param_grads(self, dy, super().backward(dy))
        self.keep_grads(*grads, n=len(dy))
        return dx

    def twin(self):
        act = None if self.fused == "identity" else activation_module(self.fused, self.alpha)
        return T.ConvTwin(self.params["weight"], self.params["bias"], self.layout, self.stride, self.pads, act)

    def kink_state(self):
        if self.fused not in ("relu", "leaky_relu") or self._x is None:
            return None
        with torch.no_grad():  # where the pre-activation is positive, from the twin's convolution
            conv = T.ConvTwin(self.params["weight"], self.params["bias"], self.layout, self.stride, self.pads)
            return conv(torch.as_tensor(np.asarray(self._x, dtype=np.float64))).numpy() > 0

    def describe(self) -> str:
        act = "" if self.fused == "identity" else f"+{self.fused}"
        return f"conv({self.cin}->{self.cout}, {self.kh}x{self.kw}, s{self.stride}, {self.pad!r}){act}"


_KERNEL = {"nchw": "(F, C, kh, kw)", "nhwc": "[kh, kw, Cin, Cout]"}


def _layout_mismatch(shape: tuple, n_bias: int, layout: str) -> str:
    """What a kernel whose output channels disagree with b says: which layout was expected,
    what was seen, and the other layout when that one fits."""
    cout = shape[3] if layout == "nhwc" else shape[0]
    other = "nchw" if layout == "nhwc" else "nhwc"
    fits = (shape[0] if other == "nchw" else shape[3]) == n_bias
    return (f"layout={layout!r} reads the kernel {shape} as {_KERNEL[layout]}, {cout} output channels, but b "
            f"has {n_bias} entries" + (f"; it fits layout={other!r} ({_KERNEL[other]}): pass layout={other!r}, "
                                        f"x shaped {'(N, C, H, W)' if other == 'nchw' else '(N, H, W, C)'}"
                                        if fits else "; b needs one entry per output channel"))


def _pad_slip(extra_rows: int, stride: int) -> str:
    """Name a padding off by one from how many output rows too many (or few) it gives."""
    if stride == 1 and extra_rows in (2, -2):
        return f": padding off by one (each side padded {extra_rows // 2:+d})"
    return ""


POOL_SIZE_ATTRS = ("pool_size", "pool_shape", "kernel_shape", "kernel_size", "ksize", "size", "k", "pool_height")


def pool_mode(obj, cls: str) -> str:
    """'avgpool' or 'maxpool': from a `mode` attribute (numpy-ml's "max" / "average"), else the class name."""
    mode = getattr(obj, "mode", None)
    text = (mode if isinstance(mode, str) else cls).lower()
    return "avgpool" if any(h in text for h in ("avg", "mean", "average")) else "maxpool"


class UserPool(UserCNNLayer):
    """Max or average pooling with kernel k, stride (default k), padding 'valid' or 'same'."""

    def __init__(self, obj, index: int, layout: str, mode: str) -> None:
        super().__init__(obj, index, layout)
        self.mode, self.kind = mode, f"{mode}pool"
        param = _attr(obj, ("pool_param",), {})
        k = _attr(obj, POOL_SIZE_ATTRS, None) or _attr(param, ("pool_height",))
        if k is None:
            raise ValueError(f"{self._where()}: cannot tell the window size; give it an attribute "
                             f"pool_size (or {', '.join(POOL_SIZE_ATTRS[1:])})")
        self.k = square(k, self._where(), "window")
        stride = _attr(obj, ("stride", "strides"), None)
        self.stride = square(param.get("stride", self.k) if stride is None else stride, self._where(), "stride")
        self.pad = _attr(obj, ("padding", "pad"), "valid")
        self.pads: T.Pads = (0, 0, 0, 0)

    def check_input(self, x) -> None:
        c, h, w = self._spatial(x)
        self.pads = resolve_pads(self.pad, h, w, self.k, self.k, self.stride, self._where(), self.layout)
        if min(h + self.pads[0] + self.pads[1], w + self.pads[2] + self.pads[3]) < self.k:
            raise ValueError(f"{self._where()}: the {self.k}x{self.k} window is larger than the input {h}x{w}")

    def windows(self, x: np.ndarray) -> np.ndarray:
        """(N, C, Ho, Wo, k, k) windows of x (user layout), padding as -inf."""
        top, bottom, left, right = self.pads
        xp = np.pad(to_nchw(x, self.layout), ((0, 0), (0, 0), (top, bottom), (left, right)),
                    constant_values=-np.inf)
        return sliding_window_view(xp, (self.k, self.k), axis=(2, 3))[:, :, ::self.stride, ::self.stride]

    def max_windows(self, x: np.ndarray) -> np.ndarray | None:
        """(N, C, Ho, Wo, k*k) windows of x for a max-pool (the harness's near-tie check), else None."""
        if self.mode != "max":
            return None
        win = self.windows(x)
        return win.reshape(*win.shape[:4], -1)

    def kink_state(self):
        if self.mode != "max" or self._x is None:
            return None
        return self.max_windows(self._x).argmax(-1)  # which element won each window

    def twin(self):
        return T.PoolTwin(self.mode, self.k, self.stride, self.layout, self.pads)

    def describe(self) -> str:
        return f"{self.mode}pool({self.k}, s{self.stride}, {self.pad!r})"


class UserFlatten(UserCNNLayer):
    """(N, ...) -> (N, D) in whatever order the user's code flattens; the twin follows it."""
    kind = "flatten"

    def order(self) -> np.ndarray:
        """perm with out[:, j] = x.reshape(N, -1)[:, perm[j]], probed on one numbered sample."""
        size = int(np.prod(self.in_shape[1:]))
        probe = np.arange(size, dtype=np.float64).reshape(1, *self.in_shape[1:])  # one sample, entries numbered
        out = np.asarray(self.call("forward", self.obj.forward, probe))
        perm = out.reshape(-1)
        if out.shape != (1, size) or not np.array_equal(np.sort(perm), np.arange(size)):
            raise ValueError(f"{self._where()}: forward must turn (N, ...) into (N, {size}) by reordering, "
                             f"got {out.shape}")
        return perm.astype(np.int64)

    def twin(self):
        perm = self.order()
        # an NCHW input flattened in H, W, C order (as TensorFlow code ported to NCHW does)
        self.hwc = self.layout == "nchw" and np.array_equal(
            perm, np.arange(perm.size).reshape(self.in_shape[1:]).transpose(1, 2, 0).reshape(-1))
        return T.FlattenTwin(perm)

    def describe(self) -> str:
        return "flatten"


class UserLinear(UserCNNLayer):
    """y = x.reshape(N, -1) @ W + b with W stored (in, out), or x @ W.T + b with W stored
    (out, in): the layout is told as byo.rowmajor tells it (shared discovery: from the shapes,
    or for a square W from the layer's own forward on x), or declared by `w_layout`."""
    kind = "linear"

    def __init__(self, obj, index: int, layout: str, x: np.ndarray, access: D.Access,
                 w_layout: str | None = None) -> None:
        super().__init__(obj, index, layout)
        self.access, self.recorders = access, install_recorders(obj, access.paths())
        w, b = access.weight(obj), access.bias(obj)
        y = np.asarray(call_user(f"{self._where()}.forward", obj.forward, np.array(x, copy=True)))
        in_out, _, _, note = D.layout_and_activation(obj, index, w, b, x, y, "identity", w_layout)
        self.warnings += [note] if note else []
        self.transposed = not in_out  # stored (out, in): the twin holds W.T, (in, out)
        # Views into the user's arrays: finite differences perturb them in place.
        self.params = {"weight": w.T if self.transposed else w, "bias": b.reshape(-1)}  # weight (in, out)

    def check_input(self, x) -> None:
        n_in = self.params["weight"].shape[0]
        if int(np.prod(x.shape[1:])) != n_in:
            raise ValueError(f"{self._where()}: input {x.shape} has {int(np.prod(x.shape[1:]))} features "
                             f"per sample but W expects {n_in}")

    def backward(self, dy):
        grads, dx = param_grads(self, dy, super().backward(dy))
        self.keep_grads(*grads, n=len(dy))
        return dx

    def twin(self):
        return T.RowMajorLinearTwin(self.params["weight"], self.params["bias"])

    def describe(self) -> str:
        n_in, n_out = self.params["weight"].shape
        return f"linear({n_in}->{n_out}{', W stored (out, in)' if self.transposed else ''})"


def classify(obj, access: D.Access | None, index: int | None = None) -> str:
    """conv, linear, maxpool, avgpool, flatten, dropout or activation: a wrapped function says
    its kind; a layer keeping W and b (`access`, the shared discovery's) is a convolution when
    W is 4-D, fully connected when 2-D; else its class name tells."""
    given = getattr(obj, "crosscheck_kind", None)
    if given:
        return given
    if access is not None:
        ndim = access.weight(obj).ndim
        if ndim not in (2, 4):
            where = label_of(obj) if index is None else f"layer {index} ({label_of(obj)})"
            raise ValueError(f"{where}: its weight {access.w_path} is {ndim}-D, shape "
                             f"{access.weight(obj).shape}; byo.cnn takes a 4-D convolution kernel or a 2-D "
                             f"fully connected weight")
        return "conv" if ndim == 4 else "linear"
    cls = D.class_name(obj).lower()
    if "pool" in cls:
        return pool_mode(obj, cls)
    for hint, kind in (("flatten", "flatten"), ("reshape", "flatten"), ("dropout", "dropout")):
        if hint in cls:
            return kind
    return "activation"
