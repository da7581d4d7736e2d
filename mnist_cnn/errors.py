"""Why a training run stops early, each with its exit status (see config.EXIT_STATUSES)."""
from __future__ import annotations

from nn_crosscheck_common import UsageError

__all__ = ["Diverged", "NonFiniteLoss", "UsageError", "WriteFailed"]


class Diverged(Exception):
    """A training or test loss (or a weight) became NaN or Inf; names the step. Exit status 1."""


NonFiniteLoss = Diverged  # the name before Diverged covered the test loss too


class WriteFailed(Exception):
    """A log or checkpoint could not be written (a full disk); names the path. Exit status 1."""
