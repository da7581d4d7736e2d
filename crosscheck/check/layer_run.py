"""What the harness found for one layer, as a record: produced once by the harness, kept on
its CheckResult, and read by whoever names slips (slips.py, byo's CNN slip finder) instead of
running the models again."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from numpy_impl import CheckableLayer


@dataclass(frozen=True)
class LayerPass:
    """One side's forward and backward of one layer.

    out: the layer's output, (N, ...out); grad_in: dL/d(its input), the input's shape;
    grads: dL/d(each parameter) keyed like its params ('weight', 'bias'), each the parameter's
    shape. A side that stored no gradient for a parameter has no key for it. buffers: the
    layer's running statistics after this forward ('running_mean', 'running_var',
    'num_batches_tracked'; a residual's 'branch.1.running_mean'), empty for most layers.
    bias_terms: for each bias ('bias', 'branch.0.bias'), the sum of |upstream| of the module
    holding it, which its gradient is summed from (torch_side.bias_upstreams); torch's runs only."""
    out: np.ndarray | None
    grad_in: np.ndarray | None
    grads: Mapping[str, np.ndarray]
    buffers: Mapping[str, np.ndarray] = field(default_factory=dict)
    bias_terms: Mapping[str, float] = field(default_factory=dict)

    def get(self, quantity: str) -> np.ndarray | None:
        """The array behind a row's quantity: 'out', 'grad_in', '<param>.grad' or a buffer's
        name (None if absent)."""
        if quantity == "out":
            return self.out
        if quantity == "grad_in":
            return self.grad_in
        if quantity.endswith(".grad"):
            return self.grads.get(quantity[:-len(".grad")])
        return self.buffers.get(quantity)


@dataclass(frozen=True)
class LayerRun:
    """Layer `index` of one check, both sides, local and accumulated.

    local: the NumPy layer run alone on the torch run's own input and upstream gradient
    (`input`, `upstream`), against `local_ref`, the reference layer on the same (torch in the
    check's dtype; in float32 the float64 torch layer, the truth both sides are judged by).
    accumulated: each model run end to end from the same batch and upstream gradient: `acc` the
    NumPy model, `acc_ref` the reference (float64 torch in float32 checks), and `acc_torch`
    torch's own float32 run in a float32 check (its distance from `acc_ref` is torch's own
    float32 error), None in float64.
    A layer whose local comparison fails is wrong; one failing only accumulated inherits."""
    index: int
    name: str                 # "2:relu", as the report's rows name the layer
    layer: CheckableLayer     # the NumPy-side layer (its params, kind, activation)
    input: np.ndarray         # torch's input to the layer, (N, ...in); the batch itself for layer 0
    upstream: np.ndarray      # dL/d(its output) from torch's backward, (N, ...out); for the last
    #                           layer the harness's random upstream gradient
    local: LayerPass
    local_ref: LayerPass
    acc: LayerPass
    acc_ref: LayerPass
    acc_torch: LayerPass | None = None
    buffers_before: Mapping[str, np.ndarray] = field(default_factory=dict)  # running statistics
    #                           before the forward, where both local runs started (the slip finder's
    #                           base for momentum-convention and biased-variance candidates)

