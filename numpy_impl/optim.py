"""Optimizers and learning-rate schedules that match torch.optim step for step.

An optimizer updates arrays in place from a dict of gradients with the same keys, and keeps
its state explicitly in `self.state` (one dict per parameter key), like torch's. Every
argument after lr is keyword-only (torch's SGD orders them differently); `build_optimizer`
makes the optimizer and schedule an OptimSpec describes, as reference.build_optimizer does in torch."""
from __future__ import annotations

import numpy as np

from .optim_spec import OptimSpec, check_decay, check_lr

Array = np.ndarray

# Adam updates large tensors in blocks of this many elements, so that a block's parameters,
# gradient, moments and scratch stay in cache across Adam's dozen element-wise passes
# (the CNN's fc1 alone has 3.2M weights: each full-size pass would stream them from memory).
ADAM_BLOCK = 1 << 16


class Optimizer:
    def __init__(self, params: dict[str, Array], lr: float) -> None:
        self.params = params
        self.lr = check_lr(lr)
        self.state: dict[str, dict] = {k: {} for k in params}

    def step(self, grads: dict[str, Array]) -> None:
        for key, p in self.params.items():
            self._update(key, p, grads[key])

    def _update(self, key: str, p: Array, g: Array) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """torch.optim.SGD: momentum, dampening, nesterov, weight decay."""

    def __init__(self, params, lr: float, *, momentum: float = 0.0, dampening: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        if momentum < 0:
            raise ValueError(f"momentum: must be >= 0, got {momentum}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("nesterov: needs momentum > 0 and dampening 0")
        self.momentum, self.dampening, self.nesterov, self.weight_decay = momentum, dampening, nesterov, weight_decay

    def _update(self, key, p, g):
        if self.weight_decay:
            g = g + self.weight_decay * p
        if self.momentum:
            st = self.state[key]
            if "momentum_buffer" not in st:
                buf = st["momentum_buffer"] = g.copy()
            else:
                buf = st["momentum_buffer"]
                buf *= self.momentum
                buf += (1 - self.dampening) * g
            g = g + self.momentum * buf if self.nesterov else buf
        p -= self.lr * g


class Adam(Optimizer):
    """torch.optim.Adam: betas, eps, (L2-style) weight decay, amsgrad."""
    decoupled = False  # weight decay: added to the gradient (L2), not applied to p apart

    def __init__(self, params, lr: float = 1e-3, *, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False) -> None:
        super().__init__(params, lr)
        if not all(0 <= b < 1 for b in betas):
            raise ValueError(f"betas: each must lie in [0, 1), got {betas}")
        self.betas, self.eps, self.weight_decay, self.amsgrad = betas, eps, weight_decay, amsgrad

    def _update(self, key, p, g):
        if self.weight_decay and self.decoupled:
            p *= 1 - self.lr * self.weight_decay
        elif self.weight_decay:
            g = g + self.weight_decay * p
        st = self.state[key]
        if not st:
            st.update(step=0, exp_avg=np.zeros_like(p), exp_avg_sq=np.zeros_like(p))
            if self.amsgrad:
                st["max_exp_avg_sq"] = np.zeros_like(p)
        st["step"] += 1
        arrays = [p, g, st["exp_avg"], st["exp_avg_sq"]] + ([st["max_exp_avg_sq"]] if self.amsgrad else [])
        assert p.flags.c_contiguous, "Adam updates parameters in place through flat views"
        flat = [a.reshape(-1) for a in arrays]
        scratch = np.empty(min(p.size, ADAM_BLOCK), dtype=p.dtype)
        for lo in range(0, p.size, ADAM_BLOCK):
            block = [a[lo:lo + ADAM_BLOCK] for a in flat]
            self._update_block(st["step"], *block[:4], block[4] if self.amsgrad else None,
                               scratch[:len(block[0])])

    def _update_block(self, step: int, p: Array, g: Array, m: Array, v: Array,
                      v_max: Array | None, tmp: Array) -> None:
        """One Adam step on 1-d slices, in place, in torch's order of operations; `tmp` is
        scratch of the same length."""
        b1, b2 = self.betas
        np.subtract(g, m, out=tmp)
        _lerp_into(m, tmp, 1 - b1, g)
        np.multiply(g, g, out=tmp)
        tmp *= 1 - b2
        v *= b2
        v += tmp
        bc1 = 1 - b1 ** step
        bc2_sqrt = np.sqrt(1 - b2 ** step)
        if v_max is not None:
            np.maximum(v_max, v, out=v_max)
            v = v_max
        np.sqrt(v, out=tmp)
        tmp /= bc2_sqrt
        tmp += self.eps
        np.divide(m, tmp, out=tmp)
        tmp *= self.lr / bc1
        p -= tmp


class AdamW(Adam):
    """torch.optim.AdamW: Adam with decoupled weight decay, p <- p * (1 - lr * weight_decay)
    before the Adam step."""
    decoupled = True


def _lerp_into(start: Array, diff: Array, weight: float, end: Array) -> None:
    """start <- lerp(start, end, weight) in place, as ATen computes it; diff = end - start
    (overwritten)."""
    if weight < 0.5:
        diff *= weight
        start += diff
    else:
        diff *= 1 - weight
        np.subtract(end, diff, out=start)


class ExponentialLR:
    """lr_t = lr_0 * gamma^t, stepped once per epoch (or per step) like torch's."""

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        check_decay(gamma)
        self.optimizer, self.gamma, self.base_lr, self.last_epoch = optimizer, gamma, optimizer.lr, 0

    def step(self) -> None:
        self.last_epoch += 1
        self.optimizer.lr = self.optimizer.lr * self.gamma  # torch multiplies the running lr


class StepLR:
    """lr multiplied by gamma every step_size epochs, like torch's StepLR."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        if step_size < 1:
            raise ValueError(f"step_size: must be >= 1, got {step_size}")
        check_decay(gamma)
        self.optimizer, self.step_size, self.gamma, self.last_epoch = optimizer, step_size, gamma, 0

    def step(self) -> None:
        self.last_epoch += 1
        if self.last_epoch % self.step_size == 0:
            self.optimizer.lr = self.optimizer.lr * self.gamma


def build_optimizer(spec: OptimSpec, params: dict[str, Array]) -> tuple[Optimizer, ExponentialLR | StepLR]:
    """The optimizer and lr schedule `spec` describes, updating `params` in place (the same
    description reference.build_optimizer turns into torch.optim's)."""
    if spec.kind == "sgd":
        opt = SGD(params, spec.lr, momentum=spec.momentum, dampening=spec.dampening,
                  nesterov=spec.nesterov, weight_decay=spec.weight_decay)
    else:
        cls = Adam if spec.kind == "adam" else AdamW
        opt = cls(params, spec.lr, betas=spec.betas, eps=spec.eps, weight_decay=spec.weight_decay,
                  amsgrad=spec.amsgrad)
    if spec.step_size:
        return opt, StepLR(opt, spec.step_size, spec.decay)
    return opt, ExponentialLR(opt, spec.decay)
