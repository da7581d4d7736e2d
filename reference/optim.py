"""torch.optim's optimizer and lr schedule from an OptimSpec: the one torch factory, as
numpy_impl.optim.build_optimizer is NumPy's."""
from __future__ import annotations

import torch

from numpy_impl.optim_spec import OptimSpec


def torch_optimizer(spec: OptimSpec, params, **torch_options) -> torch.optim.Optimizer:
    """torch.optim.SGD, Adam or AdamW as `spec` describes, every argument by keyword;
    torch_options (e.g. fused=True) go to torch unchanged."""
    if spec.kind == "sgd":
        return torch.optim.SGD(params, lr=spec.lr, momentum=spec.momentum, dampening=spec.dampening,
                               nesterov=spec.nesterov, weight_decay=spec.weight_decay, **torch_options)
    cls = torch.optim.Adam if spec.kind == "adam" else torch.optim.AdamW
    return cls(params, lr=spec.lr, betas=spec.betas, eps=spec.eps, weight_decay=spec.weight_decay,
               amsgrad=spec.amsgrad, **torch_options)


def build_optimizer(spec: OptimSpec, params, **torch_options):
    """(optimizer, lr scheduler) as `spec` describes: ExponentialLR, or StepLR with step_size."""
    opt = torch_optimizer(spec, params, **torch_options)
    if spec.step_size:
        return opt, torch.optim.lr_scheduler.StepLR(opt, step_size=spec.step_size, gamma=spec.decay)
    return opt, torch.optim.lr_scheduler.ExponentialLR(opt, gamma=spec.decay)
