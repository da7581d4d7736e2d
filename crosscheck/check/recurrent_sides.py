"""The NumPy side of a recurrent layer, seen step by step by recurrent_steps.py: what its own run
shows of each step (SideRun), and how one step is run alone on torch's inputs (StepSide):
numpy_impl's Recurrent (MirrorSide), or a user's functions (byo/recurrent/layers.py)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from numpy_impl import recurrent_functional as RF
from numpy_impl.recurrent import Recurrent

PARAMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


@dataclass(frozen=True)
class SideRun:
    """What the NumPy side's own run of one stacked layer shows, time-major: states[j]
    (T + 1, N, H) from the initial state on, dx (T, N, I); dstates[j] and handed[j] (T, N, H) the
    total gradient of each step's state and what it handed back, step_grads(t) step t's shares
    of the parameter gradients. None where the side's code keeps it to itself; then dstate0 may
    still give what step 0 handed back, dL/d the initial state (a user's dh0), one array a state."""
    states: list
    dx: np.ndarray
    dstates: list | None = None
    handed: list | None = None
    step_grads: Callable | None = None
    dstate0: tuple = ()


class StepSide(Protocol):
    """A recurrent layer of the NumPy side, step by step. Parameter gradients are in torch's
    layout and names (param_names, a prefix of PARAMS); `grads` the layer's, '<name>_l<k>'."""
    kind: str
    stacks: int
    param_names: tuple[str, ...]
    grads: dict

    def initial_states(self, n: int, dtype) -> list[tuple]: ...

    def run(self, x: np.ndarray, upstream: np.ndarray) -> list[SideRun]: ...

    def step_forward(self, k: int, x: np.ndarray, prev: tuple) -> tuple | None: ...  # None: no step alone

    def step_backward(self, k: int, x: np.ndarray, prev: tuple, dstate: tuple) -> tuple | None: ...

    def carry_in(self, dout: np.ndarray, carried: tuple) -> tuple | None: ...


class LayerSide:
    """A side over one layer object that keeps its parameter gradients and initial states."""

    def __init__(self, layer) -> None:
        self.layer, self.kind = layer, layer.kind

    @property
    def grads(self) -> dict:
        return self.layer.grads

    def initial_states(self, n: int, dtype) -> list[tuple]:
        return self.layer.initial_states(n, dtype)


class MirrorSide(LayerSide):
    """numpy_impl's Recurrent seen step by step: its records, its step functions, its carry_in."""

    def __init__(self, layer: Recurrent) -> None:
        super().__init__(layer)
        self.stacks = layer.num_layers
        self.param_names = PARAMS if layer.bias else PARAMS[:2]

    def run(self, x: np.ndarray, upstream: np.ndarray) -> list[SideRun]:
        self.layer.forward(x.copy())
        self.layer.backward(upstream.copy())
        return [SideRun(rec.states, rec.dxw @ self.layer.weights(k)[0], rec.dstates, rec.handed, rec.step_grads)
                for k, rec in enumerate(self.layer.records)]

    def step_forward(self, k: int, x: np.ndarray, prev: tuple) -> tuple:
        return RF.step_forward(self.kind, x, prev, *self.layer.weights(k))[0]

    def step_backward(self, k: int, x: np.ndarray, prev: tuple, dstate: tuple) -> tuple:
        """(dx, handed state gradients, parameter gradients) of one step on these inputs."""
        _, cache = RF.step_forward(self.kind, x, prev, *self.layer.weights(k))
        return RF.step_backward(dstate, cache)

    def carry_in(self, dout: np.ndarray, carried: tuple) -> tuple:
        return RF.carry_in(dout, carried)


def step_side(layer) -> StepSide | None:
    """The step-by-step view of a recurrent layer (its own `step_side()`, or numpy_impl's
    Recurrent's), None for any other layer."""
    own = getattr(layer, "step_side", None)
    if callable(own):
        return own()
    return MirrorSide(layer) if isinstance(layer, Recurrent) else None
