"""Planted slips in deeplearning.ai-style recurrent code (tests/corpus/recurrent_dlai_student.py),
each with where it should be found once wrapped by byo.recurrent_dlai.dlai_functions and checked
by byo.recurrent: the one recurrent layer (0), the time step where the local error first fails,
and the slip's name. Steps are counted as Python indexes them (-1 is T-1, the first step a
backward pass runs; 0 the first step forward); t None: no single step, only a gradient summed
over the steps is wrong. tests/test_byo_recurrent_dlai.py checks that each bug reaches the wrapped CS231n functions'
outputs exactly there; cases() makes the same rows corpus cases, checked through
byo.recurrent_dlai (benchmarks/corpus.py, tests/test_corpus_recurrent.py)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from types import SimpleNamespace
from typing import Callable

import numpy as np

from .case import Case
from .recurrent_dlai_student import student

MISSING_DH = "missing carried dh_next"
MISSING_DC = "missing carried dc_next"
LAST_STEP = "parameter gradients from the last step only"
TANH = "tanh derivative at the wrong value"
GATES = "gates in another order"
REVERSED = "time reversed"


@dataclass(frozen=True)
class RecurrentDlaiCase:
    """One row: the user's functions, and where the slip must be found."""
    name: str
    kind: str                                   # "rnn" or "lstm"
    make_module: Callable[[], SimpleNamespace]  # -> the user's deeplearning.ai functions
    # a wrapped CS231n function whose outputs show it (a cell's slip shows in the sequence ones too)
    function: str | None = None
    quantity: str | None = None                 # which of its outputs: h, dx, dWx, ...
    layer: int | None = None                    # None for a clean row
    t: int | None = None
    slip: str | None = None                     # None: detected and pinned, not named
    refused: str | None = None                  # the wrapper's one-line ValueError instead of a verdict

    @property
    def clean(self) -> bool:
        return self.function is None and self.refused is None


def _row(name: str, kind: str, bug: str | None, function=None, quantity=None, t=None, slip=None, refused=None):
    layer = None if bug is None else 0
    return RecurrentDlaiCase(name, kind, partial(student, bug), function, quantity, layer, t, slip, refused)


def rows() -> list[RecurrentDlaiCase]:
    return [
        _row("rnn-clean", "rnn", None),
        _row("lstm-clean", "lstm", None),
        # RNN: the loop of rnn_backward
        _row("rnn-missing-da-prev", "rnn", "missing_da_prev", "rnn_backward", "dx", -2, MISSING_DH),
        _row("rnn-dWax-last-step", "rnn", "dWax_last_step", "rnn_backward", "dWx", None, LAST_STEP),
        _row("rnn-time-reversed", "rnn", "time_reversed_rnn", "rnn_backward", "dx", -1, REVERSED),
        # RNN: the cell's backward (wrong on every step, so first at T-1)
        _row("rnn-tanh-at-a-prev", "rnn", "tanh_at_a_prev", "rnn_step_backward", "dx", -1, TANH),
        _row("rnn-tanh-of-a-next", "rnn", "tanh_of_a_next", "rnn_step_backward", "dx", -1, TANH),
        _row("rnn-dba-not-summed", "rnn", "dba_not_summed", "rnn_step_backward", "db", None,
             refused="rnn_cell_backward: gradients['dba'] has shape"),
        # LSTM: the loop of lstm_backward
        _row("lstm-missing-da-prev", "lstm", "missing_da_prev_lstm", "lstm_backward", "dx", -2, MISSING_DH),
        _row("lstm-dc-next-dropped", "lstm", "dc_next_dropped", "lstm_backward", "dx", -2, MISSING_DC),
        _row("lstm-dWf-last-step", "lstm", "dWf_last_step", "lstm_backward", "dWx", None, LAST_STEP),
        _row("lstm-time-reversed", "lstm", "time_reversed_lstm", "lstm_backward", "dx", -1, REVERSED),
        # LSTM: the cell
        _row("lstm-gates-swapped", "lstm", "gates_swapped", "lstm_step_forward", "h", 0, GATES),
        _row("lstm-dWi-dWf-swapped", "lstm", "dWi_dWf_swapped", "lstm_step_backward", "dWx", None, GATES),
        _row("lstm-forget-derivative", "lstm", "forget_derivative", "lstm_step_backward", "dx", -1),
        _row("lstm-tanh-c-at-c", "lstm", "tanh_c_at_c", "lstm_step_backward", "dx", -1, TANH),
    ]


# --- the same rows as corpus cases, through byo.recurrent_dlai --------------------------------

T_X, N_X, N_A, N_Y, M = 8, 3, 5, 4, 6
# what each expected slip's phrase contains in the report (crosscheck/check/recurrent_slips.py)
PHRASES = {MISSING_DH: "carried dh_next is missing", MISSING_DC: "carried dc_next is missing",
           LAST_STEP: "step's share only", TANH: "tanh'", GATES: "gates in", REVERSED: "runs forward in time"}


def parameters(kind: str, seed: int = 1) -> dict:
    """The course's parameters dict for an RNN (Wax, Waa, Wya, ba, by) or an LSTM (Wf, bf, ...)."""
    rng = np.random.default_rng(seed)
    if kind == "rnn":
        return {"Wax": rng.normal(size=(N_A, N_X)) / 2, "Waa": rng.normal(size=(N_A, N_A)) / 2,
                "Wya": rng.normal(size=(N_Y, N_A)), "ba": 0.1 * rng.normal(size=(N_A, 1)),
                "by": 0.1 * rng.normal(size=(N_Y, 1))}
    p = {}
    for gate in "fico":
        p["W" + gate] = rng.normal(size=(N_A, N_A + N_X)) / 2.5
        p["b" + gate] = 0.1 * rng.normal(size=(N_A, 1))
    p["Wy"], p["by"] = rng.normal(size=(N_Y, N_A)), 0.1 * rng.normal(size=(N_Y, 1))
    return p


def model(kind: str, bug: str | None):
    """byo.recurrent_dlai of the student's functions with `bug` planted, on x (n_x, m, T_x), labels
    (m, T_x) and a given a0."""
    from crosscheck import byo
    rng = np.random.default_rng(0)
    x, labels = rng.normal(size=(N_X, M, T_X)), rng.integers(0, N_Y, size=(M, T_X))
    return byo.recurrent_dlai(student(bug), parameters(kind), x, labels, a0=0.5 * rng.normal(size=(N_A, M)),
                              name=f"dlai {kind}")


def _step(row: RecurrentDlaiCase) -> tuple | None:
    """The steps' culprit row expected: (layer, step, quantity); None where each step alone is
    right (a sum over steps is wrong). A wrong parameter-gradient block is wrong at every step,
    so first at T - 1, the first step backward."""
    if row.name == "lstm-dWi-dWf-swapped":
        return (0, T_X - 1, "weight_ih_l0.grad")
    if row.t is None:
        return None
    return (0, row.t % T_X, {"h": "h", "dx": "dx"}[row.quantity])


def cases() -> list[Case]:
    out = []
    for row in rows():
        if row.refused:  # the student's own code raises there (a shape its += cannot take): no verdict
            continue
        bug = row.make_module.args[0]
        convention = f"recurrent-dlai-{row.kind}"
        out.append(Case(convention, row.name, partial(model, row.kind, None),
                        None if row.clean else partial(model, row.kind, bug), row.layer,
                        PHRASES.get(row.slip), None if row.clean else _step(row)))
    return out
