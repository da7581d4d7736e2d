"""Bring your own recurrent network: CS231n-style functions (word_embedding_*, rnn_step_*, rnn_*,
lstm_step_*, lstm_*, temporal_affine_*, temporal_softmax_loss) checked as one model against its
torch twin, layer by layer and time step by time step (recurrent_steps.py), each step judged by
your own step function on torch's inputs; layer objects (objects.py) through the same functions."""
from __future__ import annotations

from .functions import Functions, find_functions
from .model import RecurrentModel, recurrent
from .objects import recurrent_objects

__all__ = ["Functions", "RecurrentModel", "find_functions", "recurrent", "recurrent_objects"]
