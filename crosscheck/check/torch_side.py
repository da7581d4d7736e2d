"""Run a torch nn.Sequential and capture every layer's output and gradient."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

import reference
from numpy_impl import functional as NF
from reference.build import TORCH_DTYPES


@dataclass
class Trace:
    """One forward/backward pass, everything as NumPy arrays.

    outputs[i]: output of layer i; grad_inputs[i]: dL/d(input of layer i), so
    grad_inputs[0] is dL/dX; grads: parameter gradients keyed '0.weight'; buffers: the running
    statistics after the forward, keyed '1.running_mean' (empty for a model without any)."""
    outputs: list[np.ndarray]
    grad_inputs: list[np.ndarray]
    grads: dict[str, np.ndarray]
    buffers: dict[str, np.ndarray] = field(default_factory=dict)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().copy()


def run_torch(model: nn.Sequential, x: np.ndarray, upstream: np.ndarray) -> Trace:
    """Forward x through the layers, then backward from the given dL/d(output)."""
    dtype = next((p.dtype for p in model.parameters()), TORCH_DTYPES[str(x.dtype)])
    model.zero_grad(set_to_none=True)
    inp = torch.tensor(x, dtype=dtype, requires_grad=True)
    h, outs = inp, []
    for module in model:
        h = module(h)
        if h.requires_grad:
            h.retain_grad()
        outs.append(h)
    h.backward(torch.as_tensor(upstream, dtype=dtype))
    grad_outs = [o.grad if o.grad is not None else torch.zeros_like(o) for o in outs]
    # token indices (an embedding's input) have no gradient: zero, as the NumPy side says
    grad_inputs = [inp.grad if inp.grad is not None else torch.zeros_like(inp)] + grad_outs[:-1]
    grads = {k: (_np(p.grad) if p.grad is not None else np.zeros(tuple(p.shape)))
             for k, p in model.named_parameters()}
    return Trace([_np(o) for o in outs], [_np(g) for g in grad_inputs], grads, reference.numpy_buffers(model))


def layer_vjp(module: nn.Module, x: np.ndarray, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    """One layer alone: (output, dL/dx, parameter gradients) for input x and upstream dy."""
    dtype = next((p.dtype for p in module.parameters()), TORCH_DTYPES[str(x.dtype)])
    module.zero_grad(set_to_none=True)
    inp = torch.tensor(x, dtype=dtype, requires_grad=True)
    y = module(inp)
    y.backward(torch.as_tensor(dy, dtype=dtype))
    grads = {k: _np(p.grad) for k, p in module.named_parameters()}
    return _np(y), _np(inp.grad if inp.grad is not None else torch.zeros_like(inp)), grads


def torch_loss(loss: str, pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The loss named `loss` by torch autograd, in pred's dtype: its value, shape (1,), and
    dL/dpred, pred's shape (N, ...). target: class labels (N,) for the label losses, else pred's shape."""
    t = torch.tensor(pred, requires_grad=True)
    tgt = torch.as_tensor(target) if loss in NF.LABEL_LOSSES else torch.as_tensor(target, dtype=t.dtype)
    value = reference.loss_value(loss, t, tgt)
    value.backward()
    return value.detach().numpy().reshape(1), t.grad.numpy()
