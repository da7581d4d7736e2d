"""Build a NumPy model from a ModelSpec."""
from __future__ import annotations

import numpy as np

from . import layers as L
from . import spec as S
from .init import init_state


def build_layer(layer: S.LayerSpec, in_shape: tuple[int, ...], dtype) -> L.Layer:
    if isinstance(layer, S.Linear):
        return L.Linear(in_shape[0], layer.out_features, dtype, layer.bias)
    if isinstance(layer, S.Activation):
        return L.Activation(layer.name, layer.alpha)
    if isinstance(layer, S.SEQUENCE_LAYERS):
        from . import recurrent
        return recurrent.build_layer(layer, in_shape, dtype)
    if isinstance(layer, (*S.NORM_LAYERS, S.Residual)):
        from . import norm
        return norm.build_layer(layer, in_shape, dtype, build_layer)
    from . import conv  # the CNN layers are only needed for CNN specs
    return conv.build_layer(layer, in_shape, dtype)


def build(spec: S.ModelSpec, seed: int | None = 0) -> L.Sequential:
    """The model for `spec` in spec.dtype, initialised from `seed` (None: leave zeros)."""
    dtype = np.dtype(spec.dtype)
    shapes = S.infer_shapes(spec)
    model = L.Sequential([build_layer(layer, ins, dtype) for layer, (ins, _) in zip(spec.layers, shapes)])
    if seed is not None:
        model.load_state_dict(init_state(spec, seed))
    return model
