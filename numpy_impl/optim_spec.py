"""The one description of an optimizer and its learning-rate schedule, like ModelSpec for a
network: `numpy_impl.optim.build_optimizer` and `reference.build_optimizer` both build from it,
and every field means what the same-named torch.optim argument means."""
from __future__ import annotations

import math
from dataclasses import dataclass

KINDS = ("sgd", "adam", "adamw")
DEFAULT_BETAS = (0.9, 0.999)
DEFAULT_EPS = 1e-8


def check_lr(lr: float) -> float:
    """A learning rate: a finite number > 0 (the one place this rule is written)."""
    if not lr > 0:
        raise ValueError(f"lr: must be > 0, got {lr}")
    if not math.isfinite(lr):
        raise ValueError(f"lr: must be a finite number, got {lr}")
    return float(lr)


def check_decay(gamma: float) -> float:
    """A decay factor: in (0, 1]."""
    if not 0 < gamma <= 1:
        raise ValueError(f"decay: must lie in (0, 1], got {gamma}")
    return float(gamma)


def _check_at_least_zero(name: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0):  # NaN fails both
        raise ValueError(f"{name}: must be a finite number >= 0, got {value}")


@dataclass(frozen=True)
class OptimSpec:
    """An optimizer (torch.optim's SGD, Adam or AdamW) and its lr schedule.

    The schedule steps once per epoch in training (once per step in an optimizer replay):
    the lr is multiplied by `decay` every epoch, or every `step_size` epochs when step_size > 0
    (torch's ExponentialLR and StepLR)."""
    kind: str = "sgd"                   # sgd | adam | adamw
    lr: float = 0.01
    momentum: float = 0.0               # SGD only
    dampening: float = 0.0              # SGD only
    nesterov: bool = False              # SGD only; needs momentum > 0 and dampening 0
    weight_decay: float = 0.0           # SGD and Adam: L2 added to the gradient; AdamW: decoupled
    betas: tuple[float, float] = DEFAULT_BETAS   # Adam and AdamW only
    eps: float = DEFAULT_EPS            # Adam and AdamW only
    amsgrad: bool = False               # Adam and AdamW only
    decay: float = 1.0                  # lr factor per epoch (1: constant)
    step_size: int = 0                  # > 0: apply `decay` every step_size epochs instead

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"opt: unknown optimizer {self.kind!r}; choose from {', '.join(KINDS)}")
        check_lr(self.lr)
        check_decay(self.decay)
        if not (isinstance(self.step_size, int) and self.step_size >= 0):
            raise ValueError(f"step_size: must be a whole number >= 0, got {self.step_size}")
        for name in ("momentum", "dampening", "weight_decay", "eps"):
            _check_at_least_zero(name, getattr(self, name))
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):  # NaN fails too
            raise ValueError(f"betas: each must lie in [0, 1), got {self.betas}")
        self._check_flags_fit_the_kind()

    def _check_flags_fit_the_kind(self) -> None:
        """What torch.optim refuses (nesterov without momentum) or has no argument for."""
        if self.kind == "sgd":
            if self.amsgrad:
                raise ValueError("amsgrad: an Adam/AdamW option, not SGD's")
            if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
                raise ValueError("nesterov: needs momentum > 0 and dampening 0")
            return
        for name in ("momentum", "dampening", "nesterov"):
            if getattr(self, name):
                raise ValueError(f"{name}: an SGD option; {self.kind} has none")

    def lr_at(self, epoch: int) -> float:
        """The scheduled lr after `epoch` steps of the schedule."""
        return self.lr * self.decay ** (epoch // self.step_size if self.step_size else epoch)

    def describe(self, per: str = "epoch") -> str:
        """One line, e.g. 'adam lr 0.001 amsgrad decay 0.9/epoch'; `per` names the schedule's unit."""
        words = [f"{self.kind} lr {self.lr:g}"]
        if self.kind == "sgd":
            words += [f"momentum {self.momentum:g}"] if self.momentum else []
            words += [f"dampening {self.dampening:g}"] if self.dampening else []
            words += ["nesterov"] if self.nesterov else []
        else:
            words += [f"betas {self.betas[0]:g},{self.betas[1]:g}"] if tuple(self.betas) != DEFAULT_BETAS else []
            words += [f"eps {self.eps:g}"] if self.eps != DEFAULT_EPS else []
            words += ["amsgrad"] if self.amsgrad else []
        words += [f"weight_decay {self.weight_decay:g}"] if self.weight_decay else []
        if self.decay < 1:
            words.append(f"decay {self.decay:g} every {self.step_size} {per}s" if self.step_size > 1
                         else f"decay {self.decay:g}/{per}")
        return " ".join(words)
