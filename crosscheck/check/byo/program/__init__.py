"""Whole programs as a convention (byo.program): code that maps parameters and data to its own
loss and gradients, in three styles (styles.py), checked from a list of activations against
a torch twin, pinned to the deepest parameter whose gradient is wrong (check.py)."""
from .model import ProgramModel, program

__all__ = ["ProgramModel", "program"]
