"""CS231n's normalisation function pairs made into layer objects UserNorm adapts:
batchnorm_forward(x, gamma, beta, bn_param) -> (out, cache) with batchnorm_backward(dout, cache)
(or batchnorm_backward_alt) -> (dx, dgamma, dbeta); layernorm_forward(x, gamma, beta, ln_param);
spatial_batchnorm_forward(x, gamma, beta, bn_param); spatial_groupnorm_forward(x, gamma, beta, G,
gn_param). bn_param: {'mode': 'train' | 'test', 'eps', 'momentum', 'running_mean', 'running_var'}."""
from __future__ import annotations

import numpy as np

KINDS = {"batchnorm": "batchnorm", "spatial_batchnorm": "batchnorm", "layernorm": "layernorm",
         "spatial_groupnorm": "groupnorm", "groupnorm": "groupnorm"}


def base_kind(kind: str) -> str | None:
    """'batchnorm' for 'batchnorm' or 'batchnorm_alt' (the _backward_alt pair), ...; None for others."""
    base = kind[:-len("_alt")] if kind.endswith("_alt") else kind
    return base if base in KINDS else None


class NormFn:
    """A function pair as a layer object: gamma, beta, its param dict (as bn_param, where
    discovery reads mode, eps, momentum and the running statistics) and G for a group norm."""

    def __init__(self, kind: str, forward, backward, gamma, beta, param: dict, groups=None, label: str = "") -> None:
        self.crosscheck_kind, self.crosscheck_label = KINDS[kind], label or getattr(forward, "__name__", kind)
        self._f, self._b, self._cache = forward, backward, None
        self.gamma, self.beta = np.asarray(gamma), np.asarray(beta)
        if not isinstance(param, dict):
            raise ValueError(f"{kind}: its param must be a dict such as {{'mode': 'train'}}, got {type(param).__name__}")
        self.bn_param = param
        if groups is not None:
            self.G = int(groups)
        if self.crosscheck_kind == "batchnorm":  # CS231n's forward starts them itself (zeros) where absent
            c = self.gamma.size
            param.setdefault("running_mean", np.zeros(c, dtype=self.gamma.dtype))
            param.setdefault("running_var", np.ones(c, dtype=self.gamma.dtype))

    def forward(self, x):
        groups = (self.G,) if hasattr(self, "G") else ()
        res = self._f(x, self.gamma.copy(), self.beta.copy(), *groups, self.bn_param)
        if not (isinstance(res, tuple) and len(res) == 2):
            raise ValueError(f"{self.crosscheck_label} must return (out, cache), got {type(res).__name__}")
        out, self._cache = res
        return out

    def backward(self, dout):
        res = self._b(dout, self._cache)
        if not (isinstance(res, tuple) and len(res) == 3):
            raise ValueError(f"{getattr(self._b, '__name__', 'backward')} must return (dx, dgamma, dbeta), "
                             f"got {type(res).__name__}")
        dx, self.dgamma, self.dbeta = res
        return dx


def norm_fn(forward, backward, gamma, beta, param: dict, groups: int | None = None) -> NormFn:
    """A CS231n normalisation pair as a layer object for byo.cnn / byo.rowmajor: the kind is read
    from the forward's name (batchnorm, spatial_batchnorm, layernorm, spatial_groupnorm).

    Args:
        forward: forward(x, gamma, beta[, G], param) -> (out, cache).
        backward: backward(dout, cache) -> (dx, dgamma, dbeta), shaped as x, gamma, beta.
        gamma, beta: (C,) or, for CS231n's spatial group norm, (1, C, 1, 1).
        param: bn_param / ln_param / gn_param, a dict ({'mode': 'train'}, 'eps', 'momentum', ...).
        groups: G, for a group norm."""
    name = getattr(forward, "__name__", "")
    kind = next((k for k in sorted(KINDS, key=len, reverse=True) if name.startswith(k)), None)
    if kind is None:
        kind = "groupnorm" if groups is not None else "batchnorm"
    return NormFn(kind, forward, backward, gamma, beta, param, groups)


def functional_entry(i: int, kind: str, rest: list, lookup) -> NormFn:
    """A byo.functional entry (kind, gamma, beta, param) or (kind, gamma, beta, G, param) as a
    layer object; `lookup(name)` finds the user's function ('batchnorm_alt' takes batchnorm_backward_alt)."""
    base = base_kind(kind)
    groups_needed = KINDS[base] == "groupnorm"
    if len(rest) != (4 if groups_needed else 3):
        want = "(kind, gamma, beta, G, gn_param)" if groups_needed else "(kind, gamma, beta, param)"
        raise ValueError(f"layer {i} ({kind}): give {want}, got {len(rest) + 1} items")
    fwd = lookup(f"{base}_forward")
    bwd = lookup(f"{base}_backward_alt" if kind.endswith("_alt") else f"{base}_backward")
    gamma, beta, *extra = rest
    groups = extra[0] if groups_needed else None
    return NormFn(base, fwd, bwd, gamma, beta, extra[-1], groups, label=kind)
