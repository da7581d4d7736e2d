"""Run a torch nn.Sequential and capture every layer's output and gradient."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

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
    statistics after the forward, keyed '1.running_mean' (empty for a model without any);
    bias_terms: for each parameter named 'bias' (keyed like grads, '2.branch.0.bias' inside a
    block too), the sum of |dL/d(output)| of the module holding it, what its gradient is summed
    from (verdict.sum_scale_floor); empty where the run recorded none (the NumPy side's)."""
    outputs: list[np.ndarray]
    grad_inputs: list[np.ndarray]
    grads: dict[str, np.ndarray]
    buffers: dict[str, np.ndarray] = field(default_factory=dict)
    bias_terms: dict[str, float] = field(default_factory=dict)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().copy()


def run_torch(model: nn.Sequential, x: np.ndarray, upstream: np.ndarray) -> Trace:
    """Forward x through the layers, then backward from the given dL/d(output)."""
    dtype = next((p.dtype for p in model.parameters()), TORCH_DTYPES[str(x.dtype)])
    model.zero_grad(set_to_none=True)
    inp = torch.tensor(x, dtype=dtype, requires_grad=True)
    h, outs = inp, []
    with bias_upstreams(model) as bias_terms:
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
    return Trace([_np(o) for o in outs], [_np(g) for g in grad_inputs], grads, reference.numpy_buffers(model),
                 bias_terms)


@contextmanager
def bias_upstreams(model: nn.Module) -> Iterator[dict[str, float]]:
    """{'<module path>.bias': the largest sum of |dL/d(output)| one of its entries is formed from
    (_largest_entry_sum)} of every module holding a parameter named 'bias', filled in by a backward
    run inside the with-block. A bias gradient is that upstream summed over the batch (and the spatial axes), times an activation's derivative where the
    module applies one after its bias (a twin of a fused user layer; a derivative of order 1):
    what its rounding scales with, for an inner layer of a residual block as for a top-level one."""
    sums: dict[str, float] = {}

    def record(key: str):
        def on_output(module, args, out):
            if isinstance(out, torch.Tensor) and out.requires_grad:
                size = module.bias.numel()

                def add(g):
                    sums[key] = sums.get(key, 0.0) + _largest_entry_sum(g, size, module)
                out.register_hook(add)
        return on_output

    handles = [m.register_forward_hook(record(f"{name}.bias" if name else "bias"))
               for name, m in model.named_modules() if "bias" in dict(m.named_parameters(recurse=False))]
    try:
        yield sums
    finally:
        for handle in handles:
            handle.remove()


_CHANNEL_FIRST = (nn.Conv1d, nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm)


def _largest_entry_sum(g: torch.Tensor, size: int, module: nn.Module) -> float:
    """The largest sum of |upstream| that one bias entry's gradient is formed from, over every axis
    but the bias's own: the features of a 2-D output or of a linear layer (last), the channels of
    torch's convolutions and batch or group norms and of a twin whose `layout` is "nchw" (axis 1;
    last for "nhwc"); where the axis cannot be told for certain, the whole sum, larger and so safe."""
    a, layout = g.detach().abs(), getattr(module, "layout", None)  # a user-layout twin says its own
    if (a.dim() == 2 or isinstance(module, nn.Linear) or layout == "nhwc") and a.shape[-1] == size:
        return float(a.reshape(-1, size).sum(0).max())
    if (isinstance(module, _CHANNEL_FIRST) or layout == "nchw") and a.dim() >= 2 and a.shape[1] == size:
        return float(a.transpose(0, 1).reshape(size, -1).sum(1).max())
    return float(a.sum())


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
