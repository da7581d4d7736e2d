"""Bring your own normalisation layers (batch, spatial batch, layer and group norm): layer
objects with their own names for gamma/beta and the running statistics, and CS231n function
pairs (functions.py), adapted by UserNorm against a torch twin in the user's conventions."""
from __future__ import annotations

from .adapter import UserNorm
from .discover import norm_kind
from .functions import NormFn, base_kind, functional_entry, norm_fn

__all__ = ["NormFn", "UserNorm", "adapt_norm", "base_kind", "functional_entry", "norm_fn", "norm_kind"]


def adapt_norm(obj, index: int, layout: str = "nchw", declared: dict | None = None) -> UserNorm | None:
    """The adapter of a normalisation layer object, or None for any other layer."""
    if norm_kind(obj) is None:
        return None
    return UserNorm(obj, index, layout, declared)
