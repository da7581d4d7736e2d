"""Sequence layers: thin layers over `recurrent_functional`, torch's parameter names
('weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0'; an embedding's 'weight')."""
from __future__ import annotations

import numpy as np

from . import functional as F
from . import recurrent_functional as RF
from . import spec as S
from .layers import Layer

Array = np.ndarray


class Embedding(Layer):
    """Token indices (N, T) -> (N, T, D). Indices may arrive as floats (the harness casts a
    batch to the check's dtype); they are rounded. dL/d indices is zero."""
    kind = "embedding"

    def __init__(self, num_embeddings: int, embedding_dim: int, dtype=np.float64) -> None:
        super().__init__()
        self.params = {"weight": np.zeros((num_embeddings, embedding_dim), dtype)}

    def forward(self, x: Array) -> Array:
        idx = np.rint(x).astype(np.int64)
        v = self.params["weight"].shape[0]
        if idx.size and (idx.min() < 0 or idx.max() >= v):
            raise ValueError(f"{self.name}: token indices must lie in [0, {v}), got [{idx.min()}, {idx.max()}]")
        self._cache = (idx, np.shape(x), np.asarray(x).dtype)
        return self.params["weight"][idx]

    def backward(self, dy: Array) -> Array:
        idx, shape, dtype = self._take_cache()
        dw = np.zeros_like(self.params["weight"])
        np.add.at(dw, idx, dy)  # a repeated index adds its gradients up
        self.grads["weight"] = dw
        return np.zeros(shape, dtype if np.issubdtype(dtype, np.floating) else dy.dtype)

    def describe(self) -> str:
        return "embedding({}x{})".format(*self.params["weight"].shape)


class Recurrent(Layer):
    """A stack of `num_layers` recurrent layers of cell `kind` ('rnn_tanh', 'rnn_relu', 'lstm',
    'gru'), like torch.nn.RNN/LSTM/GRU: forward(x) returns every step's top-layer hidden state.
    `initial_state`: None (zeros) or a tuple of (num_layers, N, H) arrays, (h0,) or (h0, c0);
    after backward `grad_initial_state` holds dL/d of it and `records[l]` each layer's
    per-step record (recurrent_functional.SequenceRecord)."""

    def __init__(self, kind: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = True, dtype=np.float64) -> None:
        self.cell = RF.cell_of(kind)
        self.kind = kind
        super().__init__()
        self.hidden_size, self.num_layers, self.bias, self.batch_first = hidden_size, num_layers, bias, batch_first
        g = self.cell.gates * hidden_size
        for k in range(num_layers):
            self.params[f"weight_ih_l{k}"] = np.zeros((g, input_size if k == 0 else hidden_size), dtype)
            self.params[f"weight_hh_l{k}"] = np.zeros((g, hidden_size), dtype)
            if bias:
                self.params[f"bias_ih_l{k}"] = np.zeros(g, dtype)
                self.params[f"bias_hh_l{k}"] = np.zeros(g, dtype)
        self._zero_bias = np.zeros(g, dtype)
        self.initial_state: tuple | None = None
        self.grad_initial_state: tuple | None = None
        self.records: list[RF.SequenceRecord] = []

    def weights(self, k: int) -> tuple[Array, Array, Array, Array]:
        """(w_ih, w_hh, b_ih, b_hh) of stacked layer k (zero biases without bias)."""
        p = self.params
        b = (p[f"bias_ih_l{k}"], p[f"bias_hh_l{k}"]) if self.bias else (self._zero_bias, self._zero_bias)
        return p[f"weight_ih_l{k}"], p[f"weight_hh_l{k}"], *b

    def initial_states(self, n: int, dtype) -> list[tuple]:
        """Per stacked layer its initial state tuple, (N, H) arrays, for a batch of n."""
        if self.initial_state is None:
            zero = np.zeros((n, self.hidden_size), dtype)
            return [(zero,) * self.cell.states for _ in range(self.num_layers)]
        return [tuple(np.asarray(s[k], dtype) for s in self.initial_state) for k in range(self.num_layers)]

    def forward(self, x: Array) -> Array:
        i = self.params["weight_ih_l0"].shape[1]
        if x.ndim != 3 or x.shape[2] != i:
            raise ValueError(f"{self.name}: expected input ({'N, T' if self.batch_first else 'T, N'}, {i}), "
                             f"got shape {x.shape}")
        h = x if self.batch_first else x.swapaxes(0, 1)
        self.records = []
        for k, state0 in enumerate(self.initial_states(h.shape[0], x.dtype)):
            rec = RF.layer_forward(self.kind, h, state0, *self.weights(k))
            self.records.append(rec)
            h = rec.states[0][1:].swapaxes(0, 1)
        self._cache = True
        return h if self.batch_first else h.swapaxes(0, 1)

    def backward(self, dy: Array) -> Array:
        self._take_cache()
        d = dy if self.batch_first else dy.swapaxes(0, 1)
        d0 = []
        for k in reversed(range(self.num_layers)):
            w_ih, w_hh, _, _ = self.weights(k)
            last = tuple(np.zeros_like(s[-1]) for s in self.records[k].states)
            d, dstate0, grads = RF.layer_backward(self.records[k], d, last, w_ih, w_hh)
            d0.append(dstate0)
            names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")[:4 if self.bias else 2]
            for name, g in zip(names, grads):
                self.grads[f"{name}_l{k}"] = g
        self.grad_initial_state = tuple(np.stack([s[j] for s in reversed(d0)]) for j in range(self.cell.states))
        return d if self.batch_first else d.swapaxes(0, 1)

    def describe(self) -> str:
        layers = f", {self.num_layers} layers" if self.num_layers > 1 else ""
        return f"{self.kind}({self.params['weight_ih_l0'].shape[1]}->{self.hidden_size}{layers})"


class TemporalAffine(Layer):
    """x (N, T, D) -> x W^T + b at every step, (N, T, out)."""
    kind = "temporal_affine"

    def __init__(self, in_features: int, out_features: int, dtype=np.float64) -> None:
        super().__init__()
        self.params = {"weight": np.zeros((out_features, in_features), dtype), "bias": np.zeros(out_features, dtype)}

    def forward(self, x: Array) -> Array:
        w = self.params["weight"]
        if x.ndim != 3 or x.shape[2] != w.shape[1]:
            raise ValueError(f"{self.name}: expected input (N, T, {w.shape[1]}), got shape {x.shape}")
        y, self._cache = F.linear_forward(x.reshape(-1, x.shape[2]), w, self.params["bias"])
        return y.reshape(*x.shape[:2], -1)

    def backward(self, dy: Array) -> Array:
        x = self._take_cache()[0]
        dx, self.grads["weight"], self.grads["bias"] = F.linear_backward(dy.reshape(len(x), -1), self._cache)
        return dx.reshape(*dy.shape[:2], -1)

    def describe(self) -> str:
        out, inp = self.params["weight"].shape
        return f"temporal_affine({inp}->{out})"


class LastStep(Layer):
    """(N, T, H) -> (N, H), the last time step."""
    kind = "last_step"

    def forward(self, x: Array) -> Array:
        if x.ndim != 3:
            raise ValueError(f"{self.name}: expected input (N, T, H), got shape {x.shape}")
        self._cache = x.shape
        return x[:, -1]

    def backward(self, dy: Array) -> Array:
        dx = np.zeros(self._take_cache(), dy.dtype)
        dx[:, -1] = dy
        return dx


def build_layer(layer: S.LayerSpec, in_shape: tuple[int, ...], dtype) -> Layer:
    """The NumPy layer of a sequence spec for per-sample input `in_shape`."""
    if isinstance(layer, S.Embedding):
        return Embedding(layer.num_embeddings, layer.embedding_dim, dtype)
    if isinstance(layer, (S.RNN, S.LSTM, S.GRU)):
        return Recurrent(layer.kind, in_shape[1], layer.hidden_size, layer.num_layers, layer.bias, dtype=dtype)
    if isinstance(layer, S.TemporalAffine):
        return TemporalAffine(in_shape[1], layer.out_features, dtype)
    if isinstance(layer, S.LastStep):
        return LastStep()
    raise TypeError(f"no NumPy layer for spec {layer!r}")
