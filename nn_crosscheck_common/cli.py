"""One-line command-line errors, argparse value types, and the exit statuses of every entry point."""
from __future__ import annotations

import argparse
import math
import os
import sys

# Exit statuses shared by `python -m crosscheck`, `python -m mnist_cnn.train` and `.sweep`.
EXIT_OK = 0          # success: every check passed, training finished
EXIT_FAILED = 1      # a check failed, or training stopped on a non-finite value
EXIT_USAGE = 2       # a bad flag, file or input: one line says which
EXIT_USER_CODE = 3   # the user's own code raised (crosscheck --user and the bring-your-own API)


def program(module: str, script: str) -> str:
    """What the user typed to run us, for usage and error lines: the console script `script`
    (installed by pyproject.toml's [project.scripts]) or `python -m module`."""
    called = os.path.splitext(os.path.basename(sys.argv[0]))[0] if sys.argv else ""
    return script if called == script else f"python -m {module}"


class UsageError(Exception):
    """A bad command-line value or input file; printed as one line, exit status 2."""


class OneLineParser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of printing a usage block, so a CLI says one line."""

    def error(self, message: str):
        raise UsageError(message)


def _number(text: str, kind=float):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def positive(text: str) -> float:
    """argparse type: a finite number > 0 (argparse prefixes the message with the flag's name)."""
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def nonnegative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def unit_interval(text: str) -> float:
    """argparse type: a decay factor in (0, 1]."""
    value = positive(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must lie in (0, 1], got {text}")
    return value
