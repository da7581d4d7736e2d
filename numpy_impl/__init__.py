"""NumPy implementations of small neural networks (never imports torch)."""
from .build import build
from .init import init_state
from .layers import (Activation, Identity, Layer, LeakyReLU, Linear, ReLU, Sequential, Sigmoid,
                     Softmax, Softplus, Tanh)
from .losses import Loss, l2_penalty
from .spec import ModelSpec, Init, infer_shapes, mlp, param_count, param_count_lines, param_shapes

__all__ = ["build", "init_state", "Activation", "Identity", "Layer", "LeakyReLU", "Linear", "ReLU",
           "Sequential", "Sigmoid", "Softmax", "Softplus", "Tanh", "Loss", "l2_penalty", "ModelSpec",
           "Init", "infer_shapes", "mlp", "param_count", "param_count_lines", "param_shapes"]
