"""Compare NumPy and PyTorch models layer by layer, and against finite differences.

Subpackages by workflow: check/ (one model), train/ (two models trained in lockstep),
studies/. `crosscheck.byo` (bring your own network) is loaded on first use: it imports torch."""
from nn_crosscheck_common.launch import ignore_working_folder

ignore_working_folder()  # first: `python -m` must not see the user's folder

from .check.compare import Comparison, compare
from .check.verdict import TOL_FD, TOL_FLOAT32, TOL_FLOAT64, TOLERANCES

__all__ = ["TOL_FD", "TOL_FLOAT32", "TOL_FLOAT64", "TOLERANCES", "Comparison", "assert_matches_torch", "byo", "compare"]


def __getattr__(name: str):
    if name == "byo":  # `from crosscheck import byo` without torch in every `import crosscheck`
        from .check import byo
        return byo
    if name == "assert_matches_torch":  # pytest: assert your network matches its torch twin
        from .check.byo import assert_matches_torch
        return assert_matches_torch
    raise AttributeError(f"module 'crosscheck' has no attribute {name!r}")
