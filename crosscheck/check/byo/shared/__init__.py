"""What byo's two halves (mlp/, cnn/) share: one discovery of a user's W and b (names,
layouts, activations: discover.py), the adapter base and the activation adapter
(adapters.py), and the UserModel every convention builds (model.py)."""
from .adapters import build_twin
from .discover import activation_of as infer_activation
from .model import UserModel, call_model_factory

__all__ = ["UserModel", "build_twin", "call_model_factory", "infer_activation"]
