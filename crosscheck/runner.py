"""Check a ModelSpec: build both sides from the same parameters, compare, and run the
finite-difference check."""
from __future__ import annotations

import numpy as np

import numpy_impl
import reference
from numpy_impl.init import init_state
from numpy_impl.spec import ModelSpec

from .fd import fd_check
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
               seed: int = 0, fd: bool = True, activation: str = "") -> CheckResult:
    """Compare numpy_impl and reference for `spec` on the batch (x, target).

    In float32 both sides get the float32-rounded parameters and are judged against a
    float64 torch run of exactly those parameters. The finite-difference check runs on
    the float64 NumPy model (float64 runs only)."""
    state = {k: v.astype(dtype) for k, v in init_state(spec, seed).items()}
    np_model, torch_model = build_pair(spec, state, dtype)
    truth = build_pair(spec, state, "float64")[1] if dtype == "float32" else None
    result = check_pair(np_model, torch_model, x, target, spec.loss, dtype=dtype, seed=seed,
                        truth_model=truth, name=spec.name, activation=activation)
    if fd and dtype == "float64":
        result.fd = fd_check(np_model, spec.loss, spec.l2, x, target, seed=seed)
        result.notes.extend(result.fd.notes())
    return result
