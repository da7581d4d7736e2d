"""The same models as numpy_impl, built in PyTorch from the same ModelSpec."""
from .build import TORCH_DTYPES, FixedMaskDropout, LinearAct, set_dropout_masks, activation_module, build, load_numpy_state, numpy_state
from .losses import l2_penalty, loss_value, total_loss

__all__ = ["TORCH_DTYPES", "FixedMaskDropout", "LinearAct", "set_dropout_masks", "activation_module", "build", "load_numpy_state", "numpy_state",
           "l2_penalty", "loss_value", "total_loss"]
