"""Bring your own residual blocks: a layer object computing x + f(x) (or proj(x) + f(x)) whose
branch f is a list of the user's own layer objects, each adapted as it would be on its own, the
block checked against numpy_impl's Residual contract and its torch twin (reference.Residual).
Used by byo.rowmajor (mlp/conventions.py) and byo.cnn (convnet/model.py), each handing over its
own adaptation of one layer."""
from __future__ import annotations

from .adapter import UserResidual, adapt_residual
from .discover import declared, residual_parts

__all__ = ["UserResidual", "adapt_residual", "declared", "residual_parts"]
