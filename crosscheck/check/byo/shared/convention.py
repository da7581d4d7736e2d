"""How a user's gradients are meant, declared in one argument each, and what turns them into
torch's: the gradient of the batch-mean loss, without L2, for gradient descent.

  l2=λ             your weight gradients hold + λ·W (the gradient of λ/2·||W||²); l2=(λ, μ) also
                   your bias gradients + μ·b. λ is what appears in dW, whatever the loss says.
  batch_mean=      where the 1/N of the batch mean lives:
                   "loss"    your loss gradient holds it (torch's convention; the default);
                   "layers"  your loss gradient is a sum over the batch and your layers divide
                             dW, db by N (grads_are_batch_means=True is the same);
                   "update"  nowhere in the gradients: they are sums over the batch, N times the
                             mean's, and your update step divides (your loss value is the mean);
                   "none"    your loss is the sum over the batch, value and gradients.
  ascent=True      your loss returns -L and its gradient (you step uphill on -L).

Every adapter hands the check torch's gradients: `layer_grad` for a layer given its upstream
gradient, `loss` for your own loss. The object is shared by a model's layers, so a check can
try another convention (recognise.py) by changing its fields."""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np

BATCH_MEANS = ("loss", "layers", "update", "none")


def is_bias(key: str) -> bool:
    """'bias', 'b1', ...: a bias, which l2=λ alone leaves out."""
    return key == "bias" or re.fullmatch(r"b\d+", key) is not None


@dataclass
class Convention:
    """What your gradients are, relative to torch's (the module docstring)."""
    l2_w: float = 0.0
    l2_b: float = 0.0
    batch_mean: str = "loss"
    ascent: bool = False

    @property
    def sign(self) -> float:
        return -1.0 if self.ascent else 1.0

    def layer_grad(self, key: str, grad: np.ndarray, param: np.ndarray, n: int) -> np.ndarray:
        """A layer's parameter gradient (given its upstream gradient) as torch's: its L2 term
        removed (subtracted under ascent: the gradient of -L - λ/2·||W||²), its 1/N restored."""
        lam = self.l2_b if is_bias(key) else self.l2_w
        if lam:
            grad = grad - self.sign * lam * np.asarray(param).reshape(grad.shape)
        return grad * n if self.batch_mean == "layers" else grad

    def program_grad(self, key: str, grad: np.ndarray, param: np.ndarray, n: int) -> np.ndarray:
        """A whole program's parameter gradient (of its own loss) as torch's: sign undone, its L2
        term removed, a sum over the batch made the mean ('layers' is 'loss' here: end to end,
        a program's 1/N is wherever it put it)."""
        lam = self.l2_b if is_bias(key) else self.l2_w
        grad = self.sign * grad - lam * np.asarray(param).reshape(grad.shape)
        return grad / n if self.batch_mean in ("update", "none") else grad

    def program_value(self, value: float, params: dict, n: int) -> float:
        """A whole program's loss value as torch's: sign undone, its penalty l2/2·||W||² (and
        l2_b/2·||b||²) removed, a sum over the batch made the mean."""
        penalty = sum(0.5 * (self.l2_b if is_bias(k) else self.l2_w) * float(np.sum(np.square(p)))
                      for k, p in params.items())
        value = self.sign * value - penalty
        return value / n if self.batch_mean == "none" else value

    def loss(self, value: float, grad: np.ndarray, n: int) -> tuple[float, np.ndarray]:
        """Your loss's (value, dL/dpred) as torch's batch-mean loss's."""
        value, grad = self.sign * value, self.sign * grad
        if self.batch_mean != "loss":
            grad = grad / n
        return (value / n if self.batch_mean == "none" else value), grad

    def changes(self, declared: "Convention") -> list[str]:
        """What this convention says that `declared` does not, each with the one argument that
        declares it."""
        out = []
        if self.batch_mean != declared.batch_mean:
            out.append(f"{BATCH_MEAN_WORDS[self.batch_mean]}; declare batch_mean={self.batch_mean!r}")
        if self.ascent != declared.ascent:
            out.append("your loss returns -L and its gradient (gradient ascent); declare ascent=True"
                       if self.ascent else "your loss is L, not -L; leave ascent=False")
        if (self.l2_w, self.l2_b) != (declared.l2_w, declared.l2_b):
            arg = f"l2={self.l2_w:g}" if not self.l2_b else f"l2=({self.l2_w:g}, {self.l2_b:g})"
            held = f"dW holds + {self.l2_w:g}·W" + (f" and your db + {self.l2_b:g}·b" if self.l2_b else "")
            out.append(f"your {held}: L2 inside the gradients; declare {arg}")
        return out

    def with_(self, **fields) -> "Convention":
        return replace(self, **fields)


BATCH_MEAN_WORDS = {
    "loss": "your loss gradient holds the 1/N of the batch mean (torch's convention)",
    "layers": "your loss gradient is a sum over the batch and your layers divide dW, db by N",
    "update": "your gradients are sums over the batch (N times the mean's), the 1/N left to your update step",
    "none": "your loss and its gradients are sums over the batch",
}


def declared(l2=None, batch_mean: str | None = None, grads_are_batch_means: bool = False,
             ascent: bool = False) -> Convention:
    """The convention a byo.* call declares; a bad value is a one-line ValueError naming it."""
    if batch_mean is not None and batch_mean not in BATCH_MEANS:
        raise ValueError(f"batch_mean: {batch_mean!r}; choose from {', '.join(map(repr, BATCH_MEANS))}")
    if not isinstance(grads_are_batch_means, (bool, np.bool_)):
        raise ValueError(f"grads_are_batch_means: True or False, got {grads_are_batch_means!r}")
    if grads_are_batch_means and batch_mean not in (None, "layers"):
        raise ValueError(f"grads_are_batch_means=True means batch_mean='layers', but batch_mean={batch_mean!r} "
                         f"was given too; give one of them")
    if not isinstance(ascent, (bool, np.bool_)):
        raise ValueError(f"ascent: True or False, got {ascent!r}")
    mean = batch_mean or ("layers" if grads_are_batch_means else "loss")
    return Convention(*_l2(l2), mean, bool(ascent))


def _l2(l2) -> tuple[float, float]:
    """l2=λ (weights) or (λ, μ) (weights, biases): finite numbers >= 0."""
    if l2 is None:
        return 0.0, 0.0
    pair = tuple(l2) if isinstance(l2, (tuple, list)) else (l2, 0.0)
    ok = len(pair) == 2 and all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                                and np.isfinite(v) and v >= 0 for v in pair)
    if not ok:
        raise ValueError(f"l2: a number >= 0 (on the weights) or a pair (weights, biases), got {l2!r}")
    return float(pair[0]), float(pair[1])
