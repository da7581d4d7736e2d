"""Planted slips in deeplearning.ai-style recurrent code (tests/corpus/recurrent_dlai_student.py),
each with where it should be found once wrapped by byo.recurrent_dlai.dlai_functions and checked
by byo.recurrent: the one recurrent layer (0), the time step where the local error first fails,
and the slip's name. Steps are counted as Python indexes them (-1 is T-1, the first step a
backward pass runs; 0 the first step forward); t None: no single step, only a gradient summed
over the steps is wrong. tests/test_byo_recurrent_dlai.py checks, before byo.recurrent exists,
that each bug reaches the wrapped CS231n functions' outputs exactly there."""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from types import SimpleNamespace
from typing import Callable

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


def cases() -> list[RecurrentDlaiCase]:
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
