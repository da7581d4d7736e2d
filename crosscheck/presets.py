"""Named models from the studies, each with the data it is checked on."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np

from mnist_cnn.spec import cnn_spec
from numpy_impl.spec import (Activation, BatchNorm1d, BatchNorm2d, Conv2d, Flatten, GroupNorm, Init, LayerNorm, Linear,
                             MaxPool2d, ModelSpec, Residual, mlp)

ACTS5 = ("relu", "sigmoid", "tanh", "leaky_relu", "softplus")
ACTS3 = ("tanh", "sigmoid", "relu")
REGRESSION_SIZES = {
    "A": [3, 4, 1],
    "B": [3, 6, 6, 1],
    "C": [3, 8, 8, 8, 8, 1],
    "D": [3] + [8] * 8 + [1],
}
DATA_SEED = 0


@dataclass(frozen=True)
class Preset:
    name: str
    activations: tuple[str, ...]
    make_spec: Callable[[str], ModelSpec]
    data: Callable[[], tuple[np.ndarray, np.ndarray]]
    about: str
    modes: tuple[str, ...] = ("eval",)  # "train" checks dropout with shared masks
    fd_samples: int = 12                # finite-difference entries per tensor
    quick_acts: tuple[str, ...] = ()    # the default run checks only these (all when empty)
    reads_mnist: bool = False           # data() takes the MNIST folder

    def batch(self, data_dir: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The batch the preset is checked on; `data_dir` is where MNIST presets look."""
        return self.data(data_dir) if self.reads_mnist else self.data()

    def data_note(self, data_dir: str | None = None) -> str:
        """Where the batch came from, when worth saying (MNIST: real images or synthetic)."""
        return mnist_note(data_dir) if self.reads_mnist else ""


MNIST_BATCH = 8


@lru_cache(maxsize=None)
def regression_data(n: int = 400, seed: int = DATA_SEED) -> tuple[np.ndarray, np.ndarray]:
    """y = sin(x0) + 0.5 x1^2 - 0.8 x2 with x ~ U(-2, 2)^3; x (n, 3), y (n, 1)."""
    x = np.random.default_rng(seed).uniform(-2, 2, size=(n, 3))
    y = np.sin(x[:, 0]) + 0.5 * x[:, 1] ** 2 - 0.8 * x[:, 2]
    return x, y[:, None]


@lru_cache(maxsize=None)
def moons_data(kind: str = "moons", n: int = 200, seed: int = DATA_SEED) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's two moons (noise 0.2) or circles (noise 0.1, factor 0.5); labels int."""
    from sklearn import datasets  # imported on demand: it costs a second at start-up
    if kind == "moons":
        x, y = datasets.make_moons(n, noise=0.2, random_state=seed)
    else:
        x, y = datasets.make_circles(n, noise=0.1, factor=0.5, random_state=seed)
    return x.astype(np.float64), y.astype(np.int64)


@lru_cache(maxsize=None)
def digits_data() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits, features standardised; target 1.0 for digits < 5, (N, 1)."""
    from sklearn.datasets import load_digits
    digits = load_digits()
    x = digits.data.astype(np.float64)
    std = x.std(axis=0)
    x = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)  # constant (always-blank) pixels stay 0
    return x, (digits.target < 5).astype(np.float64)[:, None]


def regression_spec(name: str, act: str) -> ModelSpec:
    return mlp(name, REGRESSION_SIZES[name], act, init=Init("uniform", a=0.5))


def stress_spec(hidden: int, act: str = "relu", width: int = 12, a: float = 1 / 7) -> ModelSpec:
    return mlp(f"stress{hidden}", [3] + [width] * hidden + [1], act, init=Init("uniform", a=a))


def chain_spec(act: str) -> ModelSpec:
    """Three scalar weights of 0.5, zero biases, the activation after every layer."""
    return mlp("chain", [1, 1, 1, 1], act, loss="half_sse", act_on_output=True,
               init=Init("constant", value=0.5, bias=0.0))


def chain_data() -> tuple[np.ndarray, np.ndarray]:
    return np.ones((1, 1)), np.ones((1, 1))


MOONS_L2 = 1e-3
MOONS_WIDTH = 16


def moons_spec(act: str, hidden_layers: int = 1, name: str = "moons") -> ModelSpec:
    sizes = [2] + [MOONS_WIDTH] * hidden_layers + [2]
    return mlp(name, sizes, act, loss="softmax_ce", l2=MOONS_L2, init=Init("xavier"))


def digits_spec(kind: str) -> ModelSpec:
    """digits: 64 -> 32 relu -> 1 sigmoid; logistic: [Linear, Sigmoid];
    linear2: [Linear, Linear, Sigmoid]; linear4: four Linear layers then Sigmoid."""
    widths = {"digits": None, "digits_logistic": [1], "digits_linear2": [32, 1],
              "digits_linear4": [32, 16, 8, 1]}[kind]
    if widths is None:
        return mlp(kind, [64, 32, 1], "relu", head="sigmoid", loss="bce")
    layers = tuple(Linear(w) for w in widths) + (Activation("sigmoid"),)
    return ModelSpec(kind, (64,), layers, loss="bce")


@lru_cache(maxsize=None)
def _mnist_test_images(data_dir: str | None) -> tuple[np.ndarray, np.ndarray] | None:
    # mnist_cnn.data imports torch; the MLP presets and --help never pay for it
    from mnist_cnn.data import load_test_batch
    return load_test_batch(data_dir, MNIST_BATCH)


def mnist_batch(data_dir: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The first MNIST_BATCH real test images under data_dir (default $MNIST_DATA_DIR or
    ./data), or random images if MNIST is not there (mnist_note says which)."""
    batch = _mnist_test_images(data_dir)
    if batch is None:
        rng = np.random.default_rng(DATA_SEED)
        return rng.normal(size=(MNIST_BATCH, 1, 28, 28)), rng.integers(0, 10, MNIST_BATCH)
    return batch


def mnist_note(data_dir: str | None = None) -> str:
    shown = data_dir or "$MNIST_DATA_DIR or ./data"
    if _mnist_test_images(data_dir) is None:
        return (f"mnist_cnn: no MNIST test files in {shown}, so the batch is {MNIST_BATCH} synthetic "
                f"images (set --data-dir or $MNIST_DATA_DIR)")
    return f"mnist_cnn: {MNIST_BATCH} real MNIST test images from {shown}"


# Paths only pytest reached before (issue 26): the default run covers them too. Torch's init
# gives every layer non-zero biases, so a bias left out of a forward shows.
MULTI_OUTPUTS = 3
SMALL_IMAGE = (1, 9, 9)


@lru_cache(maxsize=None)
def multi_output_data(n: int = 64, seed: int = DATA_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Three targets per sample, so a loss that averages over samples only (not N*D) shows:
    sin(x0) + 0.5 x1^2, -0.8 x2 and x0 x1, with x ~ U(-2, 2)^3; x (n, 3), y (n, 3)."""
    x = np.random.default_rng(seed).uniform(-2, 2, size=(n, 3))
    y = np.stack([np.sin(x[:, 0]) + 0.5 * x[:, 1] ** 2, -0.8 * x[:, 2], x[:, 0] * x[:, 1]], axis=1)
    return x, y


def multi_output_spec(loss: str, act: str) -> ModelSpec:
    return mlp(f"multi_{loss}", [3, 6, MULTI_OUTPUTS], act, loss=loss, init=Init("torch"))


@lru_cache(maxsize=None)
def small_image_data(n: int = 6, seed: int = DATA_SEED) -> tuple[np.ndarray, np.ndarray]:
    """n random 9x9 one-channel images and labels in 0..3."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, *SMALL_IMAGE)), rng.integers(0, 4, n)


def small_cnn_spec(act: str) -> ModelSpec:
    """A strided, padded convolution (9x9 -> 5x5) and an overlapping max pool (3x3 windows,
    stride 2: 5x5 -> 2x2), the two paths the MNIST CNN never takes."""
    layers = (Conv2d(3, 3, stride=2, padding=1), Activation(act), MaxPool2d(3, 2), Flatten(), Linear(4))
    return ModelSpec("cnn_strided", SMALL_IMAGE, layers, loss="softmax_ce", init=Init("torch"))


# Normalisation and residual presets (issue 20). A Linear or Conv2d right before a batch norm
# has no bias (torch's bias=False, as torchvision's ResNets): the norm subtracts it again, so
# its gradient is zero but for rounding, and no relative comparison of it means anything.
NORM_BATCH = 64  # digits samples a norm preset is checked on: batch statistics need a batch, not 1797


@lru_cache(maxsize=None)
def digits_batch(n: int = NORM_BATCH) -> tuple[np.ndarray, np.ndarray]:
    """The first n standardised digits, target 1.0 for digits < 5."""
    x, y = digits_data()
    return x[:n], y[:n]


def norm_digits_spec(kind: str, act: str = "relu") -> ModelSpec:
    """digits_bn: 64 -> 32 (no bias) -> BatchNorm1d -> act -> 1 sigmoid; digits_ln: LayerNorm instead;
    res_mlp: 64 -> 16, two residual blocks (the second projected to 8, with GroupNorm(2))."""
    if kind == "res_mlp":
        layers = (Linear(16), Activation(act),
                  Residual((Linear(16), Activation(act), Linear(16))),
                  Residual((Linear(8), GroupNorm(2), Activation(act))), Linear(1), Activation("sigmoid"))
    else:
        norm = BatchNorm1d() if kind == "digits_bn" else LayerNorm()
        layers = (Linear(32, bias=kind != "digits_bn"), norm, Activation(act), Linear(1), Activation("sigmoid"))
    return ModelSpec(kind, (64,), layers, loss="bce", init=Init("torch"))


def cnn_bn_spec(act: str) -> ModelSpec:
    """cnn_strided with BatchNorm2d after each of its two convolutions (no conv biases)."""
    layers = (Conv2d(3, 3, stride=2, padding=1, bias=False), BatchNorm2d(), Activation(act),
              Conv2d(4, 3, padding=1, bias=False), BatchNorm2d(), Activation(act), MaxPool2d(3, 2),
              Flatten(), Linear(4))
    return ModelSpec("cnn_bn", SMALL_IMAGE, layers, loss="softmax_ce", init=Init("torch"))


def cnn_spec_for(act: str) -> ModelSpec:
    return cnn_spec(act, "xavier", dtype="float64")


def _presets() -> dict[str, Preset]:
    out = {}
    reg = regression_data
    for name, sizes in REGRESSION_SIZES.items():
        out[name] = Preset(name, ACTS5, lambda act, n=name: regression_spec(n, act), reg,
                           f"regression MLP {sizes}, MSE, U(-0.5, 0.5)")
    out["stress5"] = Preset("stress5", ("relu",), lambda act: stress_spec(5, act), reg,
                            "3 -> 5 hidden x 12 -> 1, U(-1/7, 1/7)")
    out["stress8"] = Preset("stress8", ("relu",), lambda act: stress_spec(8, act), reg,
                            "stress5 with three more hidden layers")
    out["chain"] = Preset("chain", ACTS5, chain_spec, chain_data,
                          "scalar chain, weights 0.5, activation after every layer, 0.5(y - yhat)^2")
    out["moons"] = Preset("moons", ACTS3, moons_spec, lambda: moons_data("moons"),
                          f"two moons 2 -> {MOONS_WIDTH} -> 2, softmax CE + L2")
    out["circles"] = Preset("circles", ACTS3, lambda act: moons_spec(act, name="circles"),
                            lambda: moons_data("circles"), "circles, same net as moons")
    out["moons_deep"] = Preset("moons_deep", ACTS3, lambda act: moons_spec(act, 4, "moons_deep"),
                               lambda: moons_data("moons"), "two moons with 4 hidden layers")
    for kind in ("digits", "digits_logistic", "digits_linear2", "digits_linear4"):
        act = "relu" if kind == "digits" else "none"
        out[kind] = Preset(kind, (act,), lambda a, k=kind: digits_spec(k), digits_data,
                           digits_spec.__doc__.split(";")[0] if kind == "digits" else kind)
    out["multi_mse"] = Preset("multi_mse", ("tanh",), lambda act: multi_output_spec("mse", act),
                              multi_output_data, f"3 -> 6 -> {MULTI_OUTPUTS} outputs, MSE (mean over N*D), torch init")
    out["multi_sse"] = Preset("multi_sse", ("sigmoid",), lambda act: multi_output_spec("half_sse", act),
                              multi_output_data, f"3 -> 6 -> {MULTI_OUTPUTS} outputs, half SSE averaged over "
                                                 f"a batch of 64, torch init")
    out["cnn_strided"] = Preset("cnn_strided", ("relu",), small_cnn_spec, small_image_data,
                                small_cnn_spec.__doc__.split(",")[0] + ", an overlapping max pool, torch init",
                                fd_samples=6)
    for kind, modes in (("digits_bn", ("eval", "train")), ("digits_ln", ("eval",)), ("res_mlp", ("eval",))):
        about = norm_digits_spec.__doc__.split(kind + ": ")[1].split(";")[0].rstrip(".")
        out[kind] = Preset(kind, ("relu",), lambda act, k=kind: norm_digits_spec(k, act), digits_batch,
                           f"{about}, BCE on {NORM_BATCH} digits", modes, fd_samples=6)
    out["cnn_bn"] = Preset("cnn_bn", ("relu",), cnn_bn_spec, small_image_data, cnn_bn_spec.__doc__.rstrip("."),
                           ("eval", "train"), fd_samples=6)
    from .presets_recurrent import recurrent_presets
    out.update(recurrent_presets(Preset))
    out["mnist_cnn"] = Preset("mnist_cnn", ("relu", "tanh"), cnn_spec_for, mnist_batch,
                              "the MNIST CNN (conv-pool-conv-pool-fc-dropout-fc)", ("eval", "train"),
                              fd_samples=3,  # each loss costs a full CNN forward
                              quick_acts=("relu",),  # tanh too with --model mnist_cnn
                              reads_mnist=True)
    return out


PRESETS = _presets()
