"""Read a user's normalisation layer object: which normalisation it is, where it keeps gamma and
beta (and their gradients), its running statistics, eps, momentum and train/eval flag, and
which momentum and running-variance convention it follows (declared, else recognised)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..shared import discover as D

# (gamma, beta) paths tried in order; "a.k" means obj.a["k"]
AFFINE_PATHS = (("gamma", "beta"), ("weight", "bias"), ("scale", "shift"), ("scale", "offset"),
                ("params.gamma", "params.beta"), ("params.weight", "params.bias"))
RUNNING_PATHS = (("running_mean", "running_var"), ("moving_mean", "moving_var"),
                 ("moving_mean", "moving_variance"), ("bn_param.running_mean", "bn_param.running_var"),
                 ("params.running_mean", "params.running_var"))
PARAM_DICTS = ("bn_param", "ln_param", "gn_param", "params")
EPS_NAMES = ("eps", "epsilon")
MODE_FLAGS = ("training", "is_training", "train_mode")  # booleans; mode="train"/"test" strings too
GROUP_NAMES = ("num_groups", "groups", "G")
NAME_HINTS = (("group", "groupnorm"), ("layer", "layernorm"), ("batch", "batchnorm"), ("bn", "batchnorm"),
              ("ln", "layernorm"), ("gn", "groupnorm"))
NORM_WORDS = ("norm", "normalization", "normalisation")
MOMENTUM_CONVENTIONS = ("torch", "keep")  # weight of the batch (torch's), or of the old value (CS231n, Keras)
RUNNING_VARS = ("unbiased", "biased")
# An undeclared momentum is read by its value: torch's 0.1 weighs the batch, CS231n's 0.9 and
# Keras's 0.99 weigh the old running value; at or above this it is the weight of the old value.
KEEP_MOMENTUM_FROM = 0.5


def _setting(obj, names: tuple, default=None):
    """A scalar setting found on the object or in its parameter dict (bn_param['eps'])."""
    for where in [obj] + [d for d in (getattr(obj, p, None) for p in PARAM_DICTS) if isinstance(d, dict)]:
        for name in names:
            value = where.get(name) if isinstance(where, dict) else getattr(where, name, None)
            if isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool):
                return float(value)
    return default


def norm_kind(obj) -> str | None:
    """'batchnorm', 'layernorm' or 'groupnorm' for a normalisation layer object, else None: told by
    crosscheck_kind, its class name, or batch norm's running statistics / bn_param."""
    given = getattr(obj, "crosscheck_kind", None)
    if given in ("batchnorm", "layernorm", "groupnorm"):
        return given
    if given is not None:
        return None
    name = type(obj).__name__.lower()
    if any(w in name for w in NORM_WORDS) or name in ("bn", "ln", "gn"):
        return next((kind for hint, kind in NAME_HINTS if hint in name), "batchnorm")
    if any(D._get(obj, m) is not None for m, _ in RUNNING_PATHS) or isinstance(getattr(obj, "bn_param", None), dict):
        return "batchnorm"
    return None


@dataclass
class NormAccess:
    """Where one normalisation object keeps gamma, beta, their gradients and running statistics."""
    gamma: str
    beta: str
    running: tuple[str, str] | None

    def get(self, obj, path: str) -> np.ndarray:
        return np.asarray(D._get(obj, path))

    def weight(self, obj) -> np.ndarray:
        """gamma, where a linear layer's access gives W (a backward may return (dx, [dgamma, dbeta]))."""
        return self.get(obj, self.gamma)

    def bias(self, obj) -> np.ndarray:
        return self.get(obj, self.beta)

    def grads(self, obj, where: str) -> tuple[np.ndarray, np.ndarray]:
        found = []
        for path in (self.gamma, self.beta):
            tried = D._grad_paths(path)
            value = next((v for p in tried if (v := D._get(obj, p)) is not None), None)
            if value is None:
                raise ValueError(f"{where}: after backward found no gradient for {path} (looked for "
                                 f"{', '.join(tried[:4])}, ...); keep it as d{path.split('.')[-1]}")
            found.append(np.asarray(value))
        return found[0], found[1]


def find_norm_access(obj, where: str) -> NormAccess:
    """gamma/beta (or weight/bias, scale/shift, params['gamma']) and the running statistics."""
    affine = next(((g, b) for g, b in AFFINE_PATHS if isinstance(D._get(obj, g), np.ndarray)
                   and isinstance(D._get(obj, b), np.ndarray)), None)
    if affine is None:
        raise ValueError(f"{where}: a normalisation layer without gamma and beta (looked for "
                         f"{', '.join('/'.join(p) for p in AFFINE_PATHS[:4])}, params['gamma'])")
    running = next(((m, v) for m, v in RUNNING_PATHS if isinstance(D._get(obj, m), np.ndarray)
                    and isinstance(D._get(obj, v), np.ndarray)), None)
    return NormAccess(*affine, running)


def groups_of(obj, where: str) -> int:
    value = _setting(obj, GROUP_NAMES)
    if value is None:
        raise ValueError(f"{where}: a group norm without its number of groups (looked for "
                         f"{', '.join(GROUP_NAMES)})")
    return int(value)


def eps_of(obj, default: float = 1e-5) -> float:
    return _setting(obj, EPS_NAMES, default)


def momentum_of(obj, default: float = 0.9) -> float:
    return _setting(obj, ("momentum", "decay"), default)


def conventions(momentum: float, declared: dict | None, where: str) -> tuple[float, str, bool, str]:
    """(the batch's weight, 'torch' or 'keep', running variance unbiased?, how it was told) from
    the user's momentum and `declared` = {'momentum': 'torch'|'keep', 'running_var':
    'unbiased'|'biased'}; undeclared, a momentum at or above KEEP_MOMENTUM_FROM weighs the old
    value with the biased variance (CS231n, Keras), below it torch's (unbiased)."""
    declared = dict(declared or {})
    unknown = set(declared) - {"momentum", "running_var"}
    if unknown:
        raise ValueError(f"norm: unknown keys {sorted(unknown)}; give {{'momentum': 'torch' or 'keep', "
                         f"'running_var': 'unbiased' or 'biased'}}")
    conv = declared.get("momentum") or ("keep" if momentum >= KEEP_MOMENTUM_FROM else "torch")
    var = declared.get("running_var") or ("biased" if conv == "keep" else "unbiased")
    if conv not in MOMENTUM_CONVENTIONS or var not in RUNNING_VARS:
        raise ValueError(f"norm: momentum {conv!r}, running_var {var!r}; choose momentum from "
                         f"{MOMENTUM_CONVENTIONS}, running_var from {RUNNING_VARS}")
    weight = momentum if conv == "torch" else 1.0 - momentum
    how = ("declared" if declared else f"recognised from momentum={momentum:g}")
    form = (f"running = {1 - weight:g} running + {weight:g} batch, running_var from the {var} batch variance "
            f"({how}; declare norm={{'momentum': ..., 'running_var': ...}} otherwise)")
    return weight, conv, var == "unbiased", f"{where}: {form}"


class ModeFlag:
    """The user's train/eval switch: mode='train'/'test', a boolean training flag, or bn_param['mode']."""

    def __init__(self, obj, batch: bool = True) -> None:
        self.obj, self.batch = obj, batch
        self.where = next((("attr", n) for n in MODE_FLAGS if isinstance(getattr(obj, n, None), bool)), None)
        if self.where is None and isinstance(getattr(obj, "mode", None), str):
            self.where = ("mode", None)
        for d in PARAM_DICTS:
            if self.where is None and isinstance(getattr(obj, d, None), dict) and "mode" in getattr(obj, d):
                self.where = ("dict", d)

    def get(self) -> bool:
        kind, name = self.where or (None, None)
        if kind == "attr":
            return bool(getattr(self.obj, name))
        if kind == "mode":
            return self.obj.mode == "train"
        if kind == "dict":
            return getattr(self.obj, name)["mode"] == "train"
        return self.batch  # no flag: a batch norm normalises with the batch, as in training; others have no mode

    def set(self, training: bool) -> None:
        kind, name = self.where or (None, None)
        if kind == "attr":
            setattr(self.obj, name, training)
        elif kind == "mode":
            self.obj.mode = "train" if training else "test"
        elif kind == "dict":
            getattr(self.obj, name)["mode"] = "train" if training else "test"
