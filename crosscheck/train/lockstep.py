"""Train the NumPy and the torch model side by side from the same start, on the same batches."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

import numpy_impl
import reference
from numpy_impl import functional as NF
from numpy_impl import optim as npopt
from numpy_impl.init import init_state
from numpy_impl.losses import total_loss_and_grads
from numpy_impl.conv import draw_dropout_masks, set_dropout_masks
from numpy_impl.optim_spec import OptimSpec
from numpy_impl.spec import Dropout, ModelSpec

# optimizer state compared and copied between the sides (torch's names)
STATE_ARRAYS = ("momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")


@dataclass(frozen=True)
class TrainConfig:
    """How both sides train: the optimizer and its schedule (one description, both sides build
    from it), the batching and the seed."""
    optim: OptimSpec = OptimSpec()
    batch_size: int | None = None  # None: full batch
    seed: int = 0                  # parameters and the shuffled order

    def __post_init__(self) -> None:
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size: must be >= 1, got {self.batch_size}")


class NumpySide:
    """numpy_impl model + optimizer: step(x, y) -> loss before the update."""
    name = "numpy"

    def __init__(self, spec: ModelSpec, state: dict, cfg: TrainConfig) -> None:
        self.spec = spec
        self.model = numpy_impl.build(spec, seed=None)
        self.model.load_state_dict(state)
        self.opt, self.sched = npopt.build_optimizer(cfg.optim, self.model.param_dict())
        self.grads: dict = {}

    def loss_and_grads(self, x, y) -> float:
        value, self.grads = total_loss_and_grads(self.model, self.spec.loss, self.spec.l2, x, y,
                                                 input_grad=False)
        return value

    def step(self, x, y) -> float:
        self.model.train()
        value = self.loss_and_grads(x, y)
        self.opt.step(self.grads)
        return value

    def set_masks(self, masks: dict) -> None:
        set_dropout_masks(self.model, masks)

    def epoch_end(self) -> None:
        self.sched.step()

    @property
    def lr(self) -> float:
        return self.opt.lr

    def predict(self, x, chunk: int = 500) -> np.ndarray:
        """Eval-mode outputs, in chunks so a CNN's im2col buffers stay small."""
        self.model.eval()
        return np.concatenate([self.model.forward(x[i:i + chunk]) for i in range(0, len(x), chunk)])

    def activations(self, x) -> list[np.ndarray]:
        """Every layer's output on x (forward only, eval mode)."""
        self.model.eval()
        self.model.forward(x)
        return list(self.model.outputs)

    def params(self) -> dict[str, np.ndarray]:
        """Parameters and buffers (running statistics), copies keyed like torch's state dict:
        every step compares both."""
        return {k: v.copy() for k, v in self.model.state_dict().items()}

    def opt_state(self) -> dict[str, np.ndarray]:
        """The optimizer's arrays, keyed '0.weight/exp_avg' like torch_opt_state's."""
        return {f"{k}/{name}": np.array(v) for k, st in self.opt.state.items()
                for name, v in st.items() if name in STATE_ARRAYS}

    def load_from(self, other: "TorchSide") -> None:
        """Take the torch side's parameters, buffers and optimizer state (teacher forcing); lr stays ours."""
        buffers = self.model.buffer_dict()
        for key, value in other.params().items():  # in place: the optimizer holds these arrays
            np.copyto(self.opt.params[key] if key in self.opt.params else buffers[key], value)
        for key, p in other.model.named_parameters():
            st = other.opt.state.get(p, {})
            ours = self.opt.state[key] = {}
            for name, value in st.items():
                if name == "step":
                    ours["step"] = int(value)
                elif name in STATE_ARRAYS and value is not None:
                    ours[name] = value.detach().numpy().copy()


class TorchSide:
    """reference model + torch.optim: the same interface as NumpySide."""
    name = "torch"

    def __init__(self, spec: ModelSpec, state: dict, cfg: TrainConfig) -> None:
        self.spec = spec
        self.model = reference.build(spec, seed=None)
        reference.load_numpy_state(self.model, state)
        self.opt, self.sched = reference.build_optimizer(cfg.optim, self.model.parameters())
        self.dtype = reference.TORCH_DTYPES[spec.dtype]
        self.grads: dict = {}

    def _t(self, a, target=False):
        if target and self.spec.loss in NF.LABEL_LOSSES:
            return torch.as_tensor(a)
        return torch.as_tensor(a, dtype=self.dtype)

    def loss_and_grads(self, x, y) -> float:
        self.opt.zero_grad(set_to_none=True)
        out = self.model(self._t(x))
        loss = reference.total_loss(self.spec.loss, self.spec.l2, self.model, out, self._t(y, True))
        loss.backward()
        self.grads = {k: p.grad.detach().numpy().copy() for k, p in self.model.named_parameters()}
        return loss.item()

    def step(self, x, y) -> float:
        self.model.train()
        value = self.loss_and_grads(x, y)
        self.opt.step()
        return value

    def set_masks(self, masks: dict) -> None:
        reference.set_dropout_masks(self.model, masks)

    def epoch_end(self) -> None:
        self.sched.step()

    @property
    def lr(self) -> float:
        return self.opt.param_groups[0]["lr"]

    def predict(self, x, chunk: int = 500) -> np.ndarray:
        self.model.eval()
        with torch.no_grad():
            return np.concatenate([self.model(self._t(x[i:i + chunk])).numpy() for i in range(0, len(x), chunk)])

    def activations(self, x) -> list[np.ndarray]:
        self.model.eval()
        outs, h = [], self._t(x)
        with torch.no_grad():
            for module in self.model:
                h = module(h)
                outs.append(h.numpy().copy())
        return outs

    def params(self) -> dict[str, np.ndarray]:
        return reference.numpy_state(self.model)

    def opt_state(self) -> dict[str, np.ndarray]:
        return {f"{k}/{name}": v.detach().numpy().copy() for k, p in self.model.named_parameters()
                for name, v in self.opt.state.get(p, {}).items() if name in STATE_ARRAYS and v is not None}


def make_sides(spec: ModelSpec, cfg: TrainConfig, state: dict | None = None) -> tuple[NumpySide, TorchSide]:
    """Both sides of `spec` from the same parameters (fresh from cfg.seed unless given)."""
    state = init_state(spec, cfg.seed) if state is None else state
    return NumpySide(spec, state, cfg), TorchSide(spec, state, cfg)


def batches(n: int, batch_size: int | None, rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch of index batches: full batch in order, or a fresh shuffled order."""
    if batch_size is None or batch_size >= n:
        return [np.arange(n)]
    order = rng.permutation(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def split_half(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return order[: n // 2], order[n // 2:]


def evaluate(side, spec: ModelSpec, x, y) -> tuple[float, float | None]:
    """(loss without penalty, accuracy or None for regression) of a side on (x, y)."""
    pred = side.predict(x)
    value, _ = NF.LOSS_FUNCS[spec.loss](pred, y)
    if spec.loss == "softmax_ce":
        return value, float(np.mean(pred.argmax(axis=1) == y))
    if spec.loss == "temporal_ce":  # over the unmasked steps
        keep = y != NF.MASKED
        return value, float(np.mean(pred.argmax(axis=-1)[keep] == y[keep]))
    if spec.loss == "bce":
        return value, float(np.mean((pred > 0.5) == (y > 0.5)))
    return value, None


@dataclass
class Trajectory:
    losses: dict[str, list[float]] = field(default_factory=lambda: {"numpy": [], "torch": []})
    final: dict[str, dict] = field(default_factory=dict)


def train_pair(spec: ModelSpec, x, y, cfg: TrainConfig, steps: int, on_step=None,
               sides=None, on_epoch=None, before_step=None) -> Trajectory:
    """Train both sides for `steps` optimizer steps on identical batches; record each step's
    loss (before its update). on_step(step, epoch, sides, batch, losses) follows every step,
    on_epoch(epoch, sides) every completed epoch (before the schedule steps), and
    before_step(sides, xb, yb, masks) precedes every step (masks None without dropout)."""
    sides = sides or make_sides(spec, cfg)
    rng = np.random.default_rng(cfg.seed + 1)
    mask_rng = np.random.default_rng(cfg.seed + 2)
    has_dropout = any(isinstance(layer, Dropout) for layer in spec.layers)
    traj = Trajectory()
    step, epoch = 0, 0
    while step < steps:
        epoch_batches = batches(len(x), cfg.batch_size, rng)
        for idx in epoch_batches[: steps - step]:
            xb, yb = x[idx], y[idx]
            masks = None
            if has_dropout:  # one set of masks per step, shared by both sides
                masks = draw_dropout_masks(spec, len(idx), mask_rng)
                for side in sides:
                    side.set_masks(masks)
            if before_step:
                before_step(sides, xb, yb, masks)
            losses = {side.name: side.step(xb, yb) for side in sides}
            for name, value in losses.items():
                traj.losses[name].append(value)
            step += 1
            if on_step:
                on_step(step, epoch, sides, idx, losses)
        if step % len(epoch_batches) == 0:  # a whole epoch done, not one cut short by `steps`
            epoch += 1
            if on_epoch:
                on_epoch(epoch, sides)
            for side in sides:
                side.epoch_end()
    traj.final = {side.name: side.params() for side in sides}
    return traj
