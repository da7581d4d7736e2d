"""torch twins of numpy_impl.recurrent: torch.nn.Embedding/RNN/LSTM/GRU from the same specs, with
torch's own parameter names (so transfer is a copy by key), and one step of torch's own cells."""
from __future__ import annotations

import torch
from torch import nn

from numpy_impl import spec as S

CELL_FUNCTIONS = {"rnn_tanh": torch.rnn_tanh_cell, "rnn_relu": torch.rnn_relu_cell,
                  "lstm": torch.lstm_cell, "gru": torch.gru_cell}


class Embedding(nn.Embedding):
    """nn.Embedding that takes indices carried in a float tensor (the harness's batch), rounded."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(torch.round(x).long() if x.is_floating_point() else x)


class _Recurrent:
    """Mixin: forward(x) -> every step's top-layer hidden state, from `initial_state` (None: zeros;
    else a tuple of (num_layers, N, H) tensors, (h0,) or (h0, c0))."""
    initial_state: tuple | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        state = self.initial_state
        if state is not None:
            state = state if len(state) == 2 else state[0]
        return super().forward(x, state)[0]


class RNN(_Recurrent, nn.RNN):
    pass


class LSTM(_Recurrent, nn.LSTM):
    pass


class GRU(_Recurrent, nn.GRU):
    pass


class LastStep(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, -1]


def build_layer(layer: S.LayerSpec, in_shape: tuple[int, ...]) -> nn.Module:
    """The torch module of a sequence spec for per-sample input `in_shape`."""
    if isinstance(layer, S.Embedding):
        return Embedding(layer.num_embeddings, layer.embedding_dim)
    if isinstance(layer, S.RNN):
        return RNN(in_shape[1], layer.hidden_size, layer.num_layers, nonlinearity=layer.nonlinearity,
                   bias=layer.bias, batch_first=True)
    if isinstance(layer, (S.LSTM, S.GRU)):
        cls = LSTM if isinstance(layer, S.LSTM) else GRU
        return cls(in_shape[1], layer.hidden_size, layer.num_layers, bias=layer.bias, batch_first=True)
    if isinstance(layer, S.TemporalAffine):
        return nn.Linear(in_shape[1], layer.out_features)
    if isinstance(layer, S.LastStep):
        return LastStep()
    raise TypeError(f"no torch module for layer spec {layer!r}")


def cell_kind(module: nn.Module) -> str:
    """'rnn_tanh', 'rnn_relu', 'lstm' or 'gru' for a torch recurrent module."""
    if isinstance(module, nn.LSTM):
        return "lstm"
    if isinstance(module, nn.GRU):
        return "gru"
    return f"rnn_{module.nonlinearity}"


def torch_step(kind: str, x: torch.Tensor, state: tuple, w_ih, w_hh, b_ih, b_hh) -> tuple:
    """One step of torch's own cell (ATen's lstm_cell, gru_cell, rnn_*_cell): the new state tuple."""
    out = CELL_FUNCTIONS[kind](x, state if kind == "lstm" else state[0], w_ih, w_hh, b_ih, b_hh)
    return tuple(out) if kind == "lstm" else (out,)
