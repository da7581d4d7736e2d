"""One helper that checks a NumPy layer's forward and every gradient against torch (in the
spirit of tinygrad's helper_test_op), used by the layer tests."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from crosscheck import compare

TOL = 1e-12  # float64, one layer: a few ulps


def assert_layer_matches_torch(layer, torch_fn: Callable, x: np.ndarray, *, seed: int = 0,
                               tol: float = TOL, dx_atol: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Forward `x` through the NumPy `layer`, backward a random upstream gradient, and compare
    the output, dL/dx and every parameter gradient with torch_fn(x_tensor, **param_tensors)
    under autograd. Shapes must agree; values to `tol` relative to the largest torch value
    (dL/dx also to `dx_atol` absolute). Returns the NumPy (y, dx)."""
    y = layer.forward(x)
    dy = np.random.default_rng(seed).normal(size=y.shape)
    dx = layer.backward(dy)
    tx = torch.tensor(x, requires_grad=True)
    tparams = {k: torch.tensor(v, requires_grad=True) for k, v in layer.params.items()}
    ty = torch_fn(tx, **tparams)
    ty.backward(torch.tensor(dy))
    _check(compare("out", y, ty.detach().numpy()), tol)
    _check(compare("grad_in", dx, tx.grad.numpy()), tol, dx_atol)
    for key, tp in tparams.items():
        _check(compare(f"{key}.grad", layer.grads.get(key), tp.grad.numpy()), tol)
    return y, dx


def _check(c, tol: float, atol: float = 0.0) -> None:
    assert not c.problem and (c.max_rel <= tol or c.max_abs <= atol), c.describe()
