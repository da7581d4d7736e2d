"""The MNIST CNN, described once in the project's torch-free model description."""
from __future__ import annotations

from numpy_impl.spec import Activation, Conv2d, Dropout, Flatten, Init, Linear, MaxPool2d, ModelSpec

INITS = {
    "tf": Init("truncnormal", std=0.1, bias=0.1),  # the TensorFlow tutorial's weight/bias init
    "xavier": Init("xavier"),
    "torch": Init("torch"),
}
ACTIVATIONS = ("relu", "tanh")


def cnn_spec(act: str = "relu", init: str = "xavier", dropout: float = 0.5,
             dtype: str = "float32") -> ModelSpec:
    """conv 5x5x32 'same' -> act -> pool 2 -> conv 5x5x64 'same' -> act -> pool 2 -> flatten
    (7*7*64) -> fc 1024 -> act -> dropout -> fc 10, softmax cross-entropy on logits."""
    if act not in ACTIVATIONS:
        raise ValueError(f"act: unknown {act!r}; choose from {', '.join(ACTIVATIONS)}")
    if init not in INITS:
        raise ValueError(f"init: unknown {init!r}; choose from {', '.join(INITS)}")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout: must lie in [0, 1), got {dropout}")
    layers = (Conv2d(32, 5, padding="same"), Activation(act), MaxPool2d(2),
              Conv2d(64, 5, padding="same"), Activation(act), MaxPool2d(2),
              Flatten(), Linear(1024), Activation(act), Dropout(dropout), Linear(10))
    return ModelSpec(f"mnist_cnn-{act}-{init}", (1, 28, 28), layers, loss="softmax_ce",
                     init=INITS[init], dtype=dtype)
