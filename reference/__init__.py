"""The same models and optimizers as numpy_impl, built in PyTorch from the same ModelSpec and
OptimSpec."""
from .build import TORCH_DTYPES, FixedMaskDropout, LinearAct, set_dropout_masks, activation_module, build, load_numpy_state, numpy_state
from .build import load_numpy_buffers, numpy_buffers
from .norm import Residual
from .losses import l2_penalty, loss_value, total_loss
from .optim import build_optimizer, torch_optimizer

__all__ = ["TORCH_DTYPES", "FixedMaskDropout", "LinearAct", "set_dropout_masks", "activation_module", "build", "load_numpy_state", "numpy_state", "load_numpy_buffers", "numpy_buffers", "Residual",
           "l2_penalty", "loss_value", "total_loss", "build_optimizer", "torch_optimizer"]
