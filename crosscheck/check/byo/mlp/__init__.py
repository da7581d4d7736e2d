"""Fully connected networks brought in five ways (conventions.py): layer objects row-major
or column-major, CS231n functions, whole-network functions or a network object."""
from .conventions import colmajor, functional, netclass, network, rowmajor

__all__ = ["colmajor", "functional", "netclass", "network", "rowmajor"]
