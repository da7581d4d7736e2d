"""Compare NumPy and PyTorch models layer by layer, and against finite differences."""
from .compare import TOL_FD, TOL_FLOAT32, TOL_FLOAT64, TOLERANCES, Comparison, compare

__all__ = ["TOL_FD", "TOL_FLOAT32", "TOL_FLOAT64", "TOLERANCES", "Comparison", "compare"]
