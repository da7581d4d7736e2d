"""Check a ModelSpec: build both sides from the same parameters, compare, and run the
finite-difference check."""
from __future__ import annotations

import numpy as np

import numpy_impl
import reference
from numpy_impl.conv import draw_dropout_masks, set_dropout_masks
from numpy_impl.init import exercise_norm_state, init_state
from numpy_impl.spec import ModelSpec

from .fd import FD_SAMPLES, fd_check
from .harness import CheckResult, check_pair


def build_pair(spec: ModelSpec, state: dict[str, np.ndarray], dtype: str):
    """NumPy and torch models of `spec` in `dtype`, both holding `state` (cast to dtype)."""
    sp = spec.with_dtype(dtype)
    np_model = numpy_impl.build(sp, seed=None)
    np_model.load_state_dict(state)
    torch_model = reference.build(sp, seed=None)
    reference.load_numpy_state(torch_model, state)
    return np_model, torch_model


def check_spec(spec: ModelSpec, x: np.ndarray, target: np.ndarray, *, dtype: str = "float64",
               seed: int = 0, fd: bool = True, activation: str = "", mode: str = "eval",
               fd_samples: int = FD_SAMPLES, label: str = "") -> CheckResult:
    """Compare numpy_impl and reference for `spec` on the batch (x, target).

    In float32 both sides get the float32-rounded parameters and are judged against a
    float64 torch run of exactly those parameters. The finite-difference check runs on
    the float64 NumPy model (float64 runs only). Norm layers start away from torch's identity
    start (numpy_impl.init.exercise_norm_state), so that gamma, beta and the running statistics count."""
    state = exercise_norm_state(spec, init_state(spec, seed), seed)
    state = {k: v.astype(dtype) if v.dtype.kind == "f" else v for k, v in state.items()}
    np_model, torch_model = build_pair(spec, state, dtype)
    truth = build_pair(spec, state, "float64")[1] if dtype == "float32" else None
    masks = draw_dropout_masks(spec, len(x), np.random.default_rng(seed + 1)) if mode == "train" else {}
    for model in (np_model, torch_model, truth):
        if model is not None:
            model.train(mode == "train")
    set_dropout_masks(np_model, masks)
    for model in (torch_model, truth):
        if model is not None:
            reference.set_dropout_masks(model, masks)
    name = (label or spec.name) + ("[train]" if mode == "train" else "")
    result = check_pair(np_model, torch_model, x, target, spec.loss, dtype=dtype, seed=seed,
                        truth_model=truth, name=name, activation=activation)
    if fd and dtype == "float64":
        result.fd = fd_check(np_model, spec.loss, spec.l2, x, target, seed=seed, samples=fd_samples)
        result.notes.extend(result.fd.notes())
    return result
