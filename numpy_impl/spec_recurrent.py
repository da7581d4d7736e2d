"""Spec records of the sequence layers (torch's fields and defaults) and the shape and
parameter rules that are theirs alone. `spec` includes them in `LayerSpec`.

A sequence sample is (T, features), batch first: a model's input is (N, T) token indices
for an `Embedding`, else (N, T, I). torch's gate order and parameter names: LSTM rows
(i, f, g, o), GRU rows (r, z, n), keys 'weight_ih_l0' (G*H, I), 'weight_hh_l0' (G*H, H),
'bias_ih_l0' and 'bias_hh_l0' (G*H,), one set per stacked layer l0, l1, ..."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

RNN_NONLINEARITIES = ("tanh", "relu")


@dataclass(frozen=True)
class Embedding:
    """Token indices (T,) -> vectors (T, embedding_dim); weight (num_embeddings, embedding_dim)."""
    num_embeddings: int
    embedding_dim: int
    kind: ClassVar[str] = "embedding"  # the NumPy and torch layers' name, in messages

    def __post_init__(self) -> None:
        if self.num_embeddings < 1 or self.embedding_dim < 1:
            raise ValueError(f"embedding: sizes must be >= 1, got {self.num_embeddings}, {self.embedding_dim}")


@dataclass(frozen=True)
class _Recurrent:
    """A stack of num_layers recurrent layers over (T, I) samples -> (T, hidden_size)."""
    hidden_size: int
    num_layers: int = 1
    bias: bool = True

    def __post_init__(self) -> None:
        if self.hidden_size < 1 or self.num_layers < 1:
            raise ValueError(f"{self.kind}: hidden_size and num_layers must be >= 1, "
                             f"got {self.hidden_size}, {self.num_layers}")

    @property
    def kind(self) -> str:
        return type(self).__name__.lower()

    @property
    def gates(self) -> int:
        return GATES[type(self).__name__]


@dataclass(frozen=True)
class RNN(_Recurrent):
    """h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), act tanh or relu."""
    nonlinearity: str = "tanh"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.nonlinearity not in RNN_NONLINEARITIES:
            raise ValueError(f"rnn: nonlinearity {self.nonlinearity!r}; choose from {', '.join(RNN_NONLINEARITIES)}")

    @property
    def kind(self) -> str:
        return f"rnn_{self.nonlinearity}"


@dataclass(frozen=True)
class LSTM(_Recurrent):
    """torch's LSTM: gates (i, f, g, o), c_t = f c_{t-1} + i g, h_t = o tanh(c_t)."""


@dataclass(frozen=True)
class GRU(_Recurrent):
    """torch's GRU: gates (r, z, n), n = tanh(W_in x + b_in + r (W_hn h + b_hn)),
    h_t = (1 - z) n + z h_{t-1}."""


GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}
RECURRENT_LAYERS = (RNN, LSTM, GRU)


@dataclass(frozen=True)
class TemporalAffine:
    """A Linear applied at every time step: (T, D) -> (T, out_features); weight (out, D)."""
    out_features: int
    kind: ClassVar[str] = "temporal_affine"


@dataclass(frozen=True)
class LastStep:
    """The last time step of a sequence: (T, H) -> (H,)."""
    kind: ClassVar[str] = "last_step"


SEQUENCE_LAYERS = (Embedding, *RECURRENT_LAYERS, TemporalAffine, LastStep)


def sequence_output_shape(i: str, layer, shape: tuple[int, ...]) -> tuple[int, ...]:
    """One sample's output shape; ValueError naming layer `i` when `shape` does not fit."""
    kind = layer.kind
    if isinstance(layer, Embedding):
        if len(shape) != 1:
            raise ValueError(f"{i} ({kind}): needs token indices (T,), got shape {shape}")
        return (shape[0], layer.embedding_dim)
    if len(shape) != 2:
        raise ValueError(f"{i} ({kind}): needs a sequence (T, features), got shape {shape}")
    if isinstance(layer, RECURRENT_LAYERS):
        return (shape[0], layer.hidden_size)
    if isinstance(layer, TemporalAffine):
        return (shape[0], layer.out_features)
    return (shape[1],)  # LastStep


def sequence_param_shapes(prefix: str, layer, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """State-dict keys of a sequence layer ('1.weight_ih_l0') mapped to shapes, torch's order."""
    if isinstance(layer, Embedding):
        return {f"{prefix}.weight": (layer.num_embeddings, layer.embedding_dim)}
    if isinstance(layer, TemporalAffine):
        return {f"{prefix}.weight": (layer.out_features, shape[1]), f"{prefix}.bias": (layer.out_features,)}
    if not isinstance(layer, RECURRENT_LAYERS):
        return {}
    out, g, h = {}, layer.gates * layer.hidden_size, layer.hidden_size
    for k in range(layer.num_layers):
        out[f"{prefix}.weight_ih_l{k}"] = (g, shape[1] if k == 0 else h)
        out[f"{prefix}.weight_hh_l{k}"] = (g, h)
        if layer.bias:
            out[f"{prefix}.bias_ih_l{k}"] = out[f"{prefix}.bias_hh_l{k}"] = (g,)
    return out
