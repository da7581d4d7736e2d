"""Recurrent presets (issue 21): three synthetic sequence tasks and a character-level model on
a short text in the package (crosscheck/texts/tiny_text.txt), each with the batch it is checked on."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from numpy_impl.spec import GRU, LSTM, RNN, Embedding, Init, LastStep, Linear, ModelSpec, TemporalAffine

DATA_SEED = 0
TEXT = Path(__file__).parent / "texts" / "tiny_text.txt"
ADDING_STEPS, PARITY_STEPS, SINE_STEPS, CHAR_STEPS = 50, 20, 30, 50
BATCH = 8


@lru_cache(maxsize=None)
def adding_data(n: int = BATCH, steps: int = ADDING_STEPS, seed: int = DATA_SEED) -> tuple[np.ndarray, np.ndarray]:
    """The adding problem: x (n, T, 2) holds values U(0, 1) and a marker on two steps, one in
    each half; the target (n, 1) is the sum of the two marked values."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, steps, 2))
    x[:, :, 0] = rng.uniform(0, 1, (n, steps))
    rows = np.arange(n)
    first, second = rng.integers(0, steps // 2, n), rng.integers(steps // 2, steps, n)
    x[rows, first, 1] = x[rows, second, 1] = 1.0
    return x, (x[rows, first, 0] + x[rows, second, 0])[:, None]


@lru_cache(maxsize=None)
def parity_data(n: int = BATCH, steps: int = PARITY_STEPS, seed: int = DATA_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Random bits x (n, T, 1); the label (n,) is their parity."""
    bits = np.random.default_rng(seed).integers(0, 2, (n, steps))
    return bits[:, :, None].astype(np.float64), bits.sum(axis=1) % 2


@lru_cache(maxsize=None)
def sine_data(n: int = BATCH, steps: int = SINE_STEPS, seed: int = DATA_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Sine continuation: x (n, T, 1) = sin(w t + phase) for random w and phase; the target
    (n, T, 1) is the next step's value."""
    rng = np.random.default_rng(seed)
    w, phase = rng.uniform(0.2, 0.6, (n, 1)), rng.uniform(0, 2 * np.pi, (n, 1))
    wave = np.sin(w * np.arange(steps + 1) + phase)
    return wave[:, :-1, None], wave[:, 1:, None]


@lru_cache(maxsize=None)
def text_vocab() -> str:
    """Every character of the text, sorted: a character's index is its token."""
    return "".join(sorted(set(TEXT.read_text(encoding="utf-8"))))


@lru_cache(maxsize=None)
def char_data(n: int = BATCH, steps: int = CHAR_STEPS, padded: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """n windows of `steps` characters at even offsets through the text, x (n, T) tokens and the
    next character as labels (n, T); the last window's final `padded` labels are masked (-1)."""
    text = TEXT.read_text(encoding="utf-8")
    vocab = {c: i for i, c in enumerate(text_vocab())}
    tokens = np.array([vocab[c] for c in text])
    starts = np.linspace(0, len(tokens) - steps - 2, n).astype(int)
    x = np.stack([tokens[s:s + steps] for s in starts])
    y = np.stack([tokens[s + 1:s + steps + 1] for s in starts])
    y[-1, steps - padded:] = -1
    return x, y


def adding_spec(act: str) -> ModelSpec:
    """RNN(16, tanh or relu) over 50 steps -> last step -> Linear(1), MSE."""
    return ModelSpec("adding", (ADDING_STEPS, 2), (RNN(16, nonlinearity=act), LastStep(), Linear(1)),
                     init=Init("torch"))


def parity_spec(act: str = "gru") -> ModelSpec:
    """GRU(8) x 2 layers over 20 bits -> last step -> Linear(2), softmax CE."""
    return ModelSpec("parity", (PARITY_STEPS, 1), (GRU(8, 2), LastStep(), Linear(2)), loss="softmax_ce",
                     init=Init("torch"))


def sine_spec(act: str = "lstm") -> ModelSpec:
    """LSTM(8) over 30 steps -> a Linear(1) at every step, MSE."""
    return ModelSpec("sine", (SINE_STEPS, 1), (LSTM(8), TemporalAffine(1)), init=Init("torch"))


def char_spec(act: str = "lstm", hidden: int = 32) -> ModelSpec:
    """Embedding(V, 16) -> LSTM(32) -> per-step logits over V characters, masked temporal CE."""
    v = len(text_vocab())
    return ModelSpec("char_lstm", (CHAR_STEPS,), (Embedding(v, 16), LSTM(hidden), TemporalAffine(v)),
                     loss="temporal_ce", init=Init("torch"))


def recurrent_presets(preset_cls) -> dict:
    """The recurrent presets as `preset_cls` (presets.Preset) records."""
    v = len(text_vocab())
    return {
        "adding": preset_cls("adding", ("tanh", "relu"), adding_spec, adding_data,
                             f"adding problem, {ADDING_STEPS} steps: " + adding_spec.__doc__.split(" over")[0],
                             fd_samples=6),
        "parity": preset_cls("parity", ("gru",), parity_spec, parity_data,
                             f"parity of {PARITY_STEPS} bits, GRU(8) x 2 layers, softmax CE", fd_samples=6),
        "sine": preset_cls("sine", ("lstm",), sine_spec, sine_data,
                           f"sine continuation, LSTM(8), a prediction at each of {SINE_STEPS} steps, MSE",
                           fd_samples=6),
        "char_lstm": preset_cls("char_lstm", ("lstm",), char_spec, char_data,
                                f"character-level LSTM(32) on tiny_text.txt ({v} characters), "
                                f"{CHAR_STEPS}-step windows, masked temporal CE", fd_samples=4),
    }
