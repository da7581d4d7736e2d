"""Why a training run stops early, each with its exit status (see config.EXIT_STATUSES), and the
one rule that calls a run diverging."""
from __future__ import annotations

import math

from nn_crosscheck_common import UsageError

__all__ = ["Aborted", "CHANCE_LOSS", "DIVERGE_FACTOR", "Diverged", "NOT_STARTED", "NonFiniteLoss", "UsageError",
           "WEIGHT_BOUND", "WriteFailed", "divergence"]

# A run diverges when a sync window's mean training loss (up to train.SYNC_EVERY = 20 steps)
# exceeds DIVERGE_FACTOR times its start: the loss of step 1 (the untrained model), or CHANCE_LOSS
# if larger. MNIST starts near ln 10 = 2.3, so the bar is at least ~23, a loss no learning run
# comes back from (seen: 742 with 8.5% accuracy). A run resumed from an older checkpoint, which
# does not hold its start, takes the first window's mean after the resume; the floor keeps a
# small one from making noise look like divergence.
DIVERGE_FACTOR = 10.0
CHANCE_LOSS = math.log(10)  # cross-entropy of a uniform guess over the 10 digits
# ... or when any weight's magnitude exceeds WEIGHT_BOUND: trained weights of this CNN stay
# below 1 (Xavier starts them near 0.03); seen diverging: 4e22, far before they overflow to Inf.
WEIGHT_BOUND = 1e4
KEPT = "stopping; the last good checkpoint is kept, nothing new is written"


class Diverged(Exception):
    """A training or test loss (or a weight) became NaN or Inf, or the run diverged by the rule
    above; names the step. Exit status 1."""


NonFiniteLoss = Diverged  # the name before Diverged covered the test loss too


class Aborted(KeyboardInterrupt):
    """A second Ctrl-C or SIGTERM during training; says whether a checkpoint is there to resume."""


NOT_STARTED = ("interrupted before training started (while loading the data or setting up): "
               "no step was taken and no checkpoint was written")


class WriteFailed(Exception):
    """A log or checkpoint could not be written (a full disk); names the path. Exit status 1."""


def divergence(first: int, last: int, mean_loss: float, start_loss: float | None, max_weight: float) -> str | None:
    """Why steps first..last diverged (the line a Diverged carries), or None."""
    if not math.isfinite(max_weight):
        return f"a weight is {max_weight} after step {last}: {KEPT}"
    if max_weight > WEIGHT_BOUND:
        return (f"a weight is {max_weight:.3g} after step {last}, beyond the bound {WEIGHT_BOUND:g}: "
                f"diverging; {KEPT}")
    start = None if start_loss is None else max(start_loss, CHANCE_LOSS)
    if start is not None and mean_loss > DIVERGE_FACTOR * start:
        return (f"training loss is {mean_loss:.4g} over steps {first}-{last}, more than {DIVERGE_FACTOR:g} "
                f"times its start ({start:.4g}: step 1's loss, at least ln 10): diverging; {KEPT}")
    return None
