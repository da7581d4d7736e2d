"""Whole-network user code (conventions 4 and 5): one forward and one backward over all
parameters. It is checked as one layer whose parameters are W1, b1, ...; byo.check then
pins a failure to the deepest (W, b) whose gradient is wrong."""
from __future__ import annotations

import re

import numpy as np
import torch
from torch import nn

from numpy_impl import functional as NF
from reference import activation_module

from ...user_code import call_user
from ..shared import discover as D
from ..shared.adapters import UserLayer


class WholeTwin(nn.Module):
    """torch twin: parameters W1, b1, ... in (out, in) layout, activations in between."""

    def __init__(self, shapes: list[tuple], acts: list[tuple[str, float]]) -> None:
        super().__init__()
        self.n = len(shapes)
        for k in reversed(range(self.n)):  # deepest first, like WholeNet.params
            self.register_parameter(f"W{k + 1}", nn.Parameter(torch.zeros(shapes[k])))
            self.register_parameter(f"b{k + 1}", nn.Parameter(torch.zeros(shapes[k][0])))
        self.acts = nn.ModuleList([activation_module(a, alpha) for a, alpha in acts])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_kept(x)[0]

    def forward_kept(self, x: torch.Tensor) -> tuple[torch.Tensor, list, list]:
        """(output, each layer's input, each layer's output with its gradient retained): what a
        slip at one layer is tried on, after a backward."""
        h, inputs, outputs = x.flatten(1), [], []
        for k in range(self.n):
            inputs.append(h)
            h = self.acts[k](nn.functional.linear(h, getattr(self, f"W{k + 1}"), getattr(self, f"b{k + 1}")))
            if h.requires_grad:
                h.retain_grad()
            outputs.append(h)
        return h, inputs, outputs


def _normalise_params(params) -> tuple[list[tuple[np.ndarray, np.ndarray]], object]:
    """[(W, b), ...] views and how to rebuild the user's structure from copies."""
    if isinstance(params, dict):
        n = sum(1 for k in params if re.fullmatch(r"W\d+", k))
        pairs = [(params[f"W{k}"], params[f"b{k}"]) for k in range(1, n + 1)]
        return pairs, lambda ps: {**{f"W{k + 1}": w for k, (w, _) in enumerate(ps)},
                                  **{f"b{k + 1}": b for k, (_, b) in enumerate(ps)}}
    pairs = [(w, b) for w, b in params]
    return pairs, lambda ps: [(w, b) for w, b in ps]


def grads_from_dict(grads: dict, n: int, what: str) -> list:
    """[(dW, db), ...] from a dict keyed W1/dW1, b1/db1, ... (a one-line error naming what is missing)."""
    out = []
    for k in range(1, n + 1):
        dw = next((grads[key] for key in (f"W{k}", f"dW{k}") if key in grads), None)
        db = next((grads[key] for key in (f"b{k}", f"db{k}") if key in grads), None)
        if dw is None or db is None:
            raise ValueError(f"{what}: gradients for W{k}/b{k} missing (keys: {sorted(grads)})")
        out.append((dw, db))
    return out


def declared_activations(activations, n: int) -> list[tuple[str, float]]:
    """[(name, slope)] from activations=[...], one supported entry per (W, b) pair."""
    if not isinstance(activations, (list, tuple)) or len(activations) != n:
        raise ValueError(f"activations: give one per (W, b) pair, {n} in all (got {activations!r})")
    acts = []
    for i, entry in enumerate(activations):
        name, alpha = D.declared(entry)
        if name not in D.SUPPORTED_ACTIVATIONS:
            raise ValueError(f"layer {i}: activation {name!r} is not supported; supported: "
                             f"{', '.join(D.SUPPORTED_ACTIVATIONS)}")
        acts.append((name, D.alpha_or_default(name, alpha)))
    return acts


def _normalise_grads(grads, n: int, what: str) -> list:
    """User gradients as [(dW, db), ...] from a list of pairs, a flat list or a dict."""
    if isinstance(grads, dict):
        return grads_from_dict(grads, n, what)
    grads = list(grads)
    if len(grads) == 2 * n and not isinstance(grads[0], (tuple, list)):
        grads = list(zip(grads[::2], grads[1::2]))
    if len(grads) != n:
        raise ValueError(f"{what}: returned {len(grads)} gradient pairs for {n} (W, b) pairs")
    return grads


class WholeNet(UserLayer):
    """All of the user's network as one checkable layer."""

    has_linear = False

    def __init__(self, pairs, acts, col: bool, run_forward, run_backward, label: str, dtype: str) -> None:
        super().__init__(0, label)
        self.pairs, self.acts, self.col, self.dtype = pairs, acts, col, dtype
        self.run_forward, self.run_backward = run_forward, run_backward
        self.params = {}
        for k in reversed(range(len(pairs))):
            w, b = pairs[k]
            self.params[f"W{k + 1}"] = w if col else w.T  # (out, in): columns keep W so, rows keep (in, out)
            self.params[f"b{k + 1}"] = b.reshape(-1)

    @property
    def kind(self) -> str:
        return "network"

    def to_rows(self, X: np.ndarray) -> np.ndarray:
        return X.T.copy() if self.col else X

    def forward(self, x):
        self._x = x
        out = self.run_forward(x.T if self.col else x)  # x rows (N, D); the user's columns (D, N)
        return np.asarray(out).T if self.col else np.asarray(out)

    def backward(self, dy):
        grads = self.run_backward(dy.T if self.col else dy)
        grads = _normalise_grads(grads, len(self.pairs), f"{self.label}.backward")
        raw = {}
        for k in reversed(range(len(self.pairs))):
            dw, db = (np.asarray(g) for g in grads[k])
            raw[f"W{k + 1}"] = dw if self.col or dw.ndim != 2 else dw.T
            raw[f"b{k + 1}"] = db.reshape(-1)
        self.set_grads(raw, len(dy))
        return self._dx_twin(dy)

    def _dx_twin(self, dy):
        """The user's code gives no dL/dX; the twin's stands in, so only parameters are judged."""
        x = torch.tensor(self._x, requires_grad=True)
        out = self.twin_on(x)
        out.backward(torch.as_tensor(dy, dtype=x.dtype))
        return x.grad.numpy()

    def twin_on(self, x: torch.Tensor) -> torch.Tensor:
        twin = self.twin().to(x.dtype)
        with torch.no_grad():
            for key, value in self.params.items():
                getattr(twin, key).copy_(torch.as_tensor(np.array(value)))
        return twin(x)

    def twin(self) -> nn.Module:
        shapes = [tuple(self.params[f"W{k + 1}"].shape) for k in range(len(self.pairs))]
        return WholeTwin(shapes, self.acts)

    @property
    def output_activation(self) -> str:
        return self.acts[-1][0]

    def pre_activations(self, x: np.ndarray) -> list[np.ndarray]:
        h, zs = x.reshape(len(x), -1), []
        for k, (act, alpha) in enumerate(self.acts):
            z = h @ self.params[f"W{k + 1}"].T + self.params[f"b{k + 1}"]
            zs.append(z)
            h = NF.softmax(z) if act == "softmax" else NF.activation_funcs(act, alpha)[0](z)
        return zs

    def kink_state(self):
        if self._x is None:
            return None
        zs = self.pre_activations(self._x)
        parts = [z.ravel() > 0 for z, (act, _) in zip(zs, self.acts) if act in ("relu", "leaky_relu")]
        return np.concatenate(parts) if parts else None

    def describe(self) -> str:
        sizes = [self.params["W1"].shape[1]] + [self.params[f"W{k + 1}"].shape[0] for k in range(len(self.pairs))]
        return f"{self.label}({'->'.join(map(str, sizes))})"

    def layer_of(self, quantity: str) -> int | None:
        m = re.match(r"[Wb](\d+)\.grad", quantity)
        return int(m.group(1)) - 1 if m else None

    # --- construction --------------------------------------------------------------------

    @classmethod
    def from_functions(cls, forward, backward, params, X, activations, layout) -> "WholeNet":
        pairs, rebuild = _normalise_params(params)
        state = {}

        def copies():
            return rebuild([(np.array(w), np.array(b)) for w, b in pairs])

        def run_forward(x):
            res = call_user("forward", forward, np.array(x), copies())
            out, state["cache"] = res if isinstance(res, tuple) and len(res) == 2 else (res, None)
            return out

        def run_backward(dout):
            return call_user("backward", backward, np.array(dout), copies(), state.get("cache"))
        return cls._build(pairs, X, activations, layout, run_forward, run_backward,
                          getattr(forward, "__name__", "forward"))

    @classmethod
    def from_object(cls, net, X, activations, layout, backward: str) -> "WholeNet":
        holder = net.params if isinstance(getattr(net, "params", None), dict) else vars(net)
        n = sum(1 for k in holder if re.fullmatch(r"W\d+", k))
        if n == 0:
            raise ValueError(f"{type(net).__name__}: no parameters W1, b1, ... found (as attributes or in .params)")
        pairs = [(holder[f"W{k}"], holder[f"b{k}"]) for k in range(1, n + 1)]
        label = type(net).__name__

        def run_forward(x):
            res = call_user(f"{label}.forward", net.forward, np.array(x))
            return res[0] if isinstance(res, tuple) else res

        def run_backward(dout):
            res = call_user(f"{label}.{backward}", getattr(net, backward), np.array(dout))
            if res is None:  # gradients left as attributes dW1, db1, ...
                res = {k: v for k, v in vars(net).items() if re.fullmatch(r"d[Wb]\d+", k)}
            return res
        return cls._build(pairs, X, activations, layout, run_forward, run_backward, label)

    @classmethod
    def _build(cls, pairs, X, activations, layout, run_forward, run_backward, label):
        acts = declared_activations(activations, len(pairs))
        X = np.asarray(X)
        dtype = "float32" if X.dtype == np.float32 or pairs[0][0].dtype == np.float32 else "float64"
        X = X.astype(dtype)
        layouts = [layout == "col"] if layout else _layouts_by_shape(pairs[0][0], X)
        if not layouts:
            raise ValueError(f"{label}: W1 {pairs[0][0].shape} fits neither X {X.shape} as rows (X @ W1) "
                             f"nor as columns (W1 @ X)")
        fits = []
        for col in layouts:
            net = cls(pairs, acts, col, run_forward, run_backward, label, dtype)
            x = net.to_rows(X)
            out = net.forward(x)
            want = net.twin_on(torch.tensor(x)).detach().numpy()
            if D.fits(out, want):
                fits.append(net)
        if len(fits) == 1 or len(layouts) == 1:
            return (fits or [net])[0]
        if len(fits) > 1:
            raise ValueError(f"{label}: the forward fits both layouts; pass layout='row' or 'col'")
        raise ValueError(f"{label}: its forward matches the described network in neither layout; check "
                         f"activations=[...] or pass layout='row' or 'col'")


def _layouts_by_shape(w1: np.ndarray, X: np.ndarray) -> list[bool]:
    """Candidate layouts (col?) from shapes: rows X (N, D) @ W1 (D, H); columns W1 (H, D) @ X (D, N)."""
    out = []
    if X.ndim >= 2 and int(np.prod(X.shape[1:])) == w1.shape[0]:
        out.append(False)
    if X.ndim == 2 and X.shape[0] == w1.shape[1]:
        out.append(True)
    return out
