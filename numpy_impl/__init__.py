"""NumPy implementations of small neural networks (never imports torch)."""
from .build import build
from .conv import Conv2d, Dropout, Flatten, MaxPool2d
from .init import init_state
from .layers import (Activation, CheckableLayer, Identity, Layer, LeakyReLU, Linear, ReLU, Sequential, Sigmoid,
                     Softmax, Softplus, Tanh, buffers_kept)
from .losses import Loss, l2_penalty
from .norm import BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm, Residual
from .optim_spec import OptimSpec
from .recurrent import Embedding, LastStep, Recurrent, TemporalAffine
from .spec import ModelSpec, Init, infer_shapes, mlp, param_count, param_count_lines, param_shapes

__all__ = ["Embedding", "LastStep", "Recurrent", "TemporalAffine", "BatchNorm1d", "BatchNorm2d", "GroupNorm", "LayerNorm", "Residual", "Conv2d", "Dropout", "Flatten", "MaxPool2d", "build", "init_state", "Activation", "buffers_kept", "CheckableLayer", "Identity", "Layer", "LeakyReLU", "Linear", "ReLU",
           "Sequential", "Sigmoid", "Softmax", "Softplus", "Tanh", "Loss", "l2_penalty", "ModelSpec", "OptimSpec",
           "Init", "infer_shapes", "mlp", "param_count", "param_count_lines", "param_shapes"]
