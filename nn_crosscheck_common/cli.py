"""One-line command-line errors, argparse value types, and the exit statuses of every entry point."""
from __future__ import annotations

import argparse
import math
import os
import sys
import traceback

# Exit statuses shared by `python -m crosscheck`, `python -m mnist_cnn.train` and `.sweep`.
EXIT_OK = 0          # success: every check passed, training finished
EXIT_FAILED = 1      # a check failed, or training stopped on a non-finite value
EXIT_USAGE = 2       # a bad flag, file or input: one line says which
EXIT_USER_CODE = 3   # the user's own code raised (crosscheck --user and the bring-your-own API)
EXIT_INTERNAL = 4    # a bug of ours: an unexpected exception, printed with its traceback (crosscheck)


def program(module: str, script: str) -> str:
    """What the user typed to run us, for usage and error lines: the console script `script`
    (installed by pyproject.toml's [project.scripts]) or `python -m module`."""
    called = os.path.splitext(os.path.basename(sys.argv[0]))[0] if sys.argv else ""
    return script if called == script else f"python -m {module}"


class UsageError(Exception):
    """A bad command-line value or input file; printed as one line, exit status 2."""


def internal_error(prog: str) -> int:
    """Print the exception being handled with its traceback and ask for a bug report: what
    escapes a command unexpected is a bug of ours, never bad input. Returns EXIT_INTERNAL."""
    traceback.print_exc()
    print(f"{prog}: internal error: this is a bug in {prog}, not in your input or your code; please "
          f"report it, with the traceback above and the command you ran (exit status {EXIT_INTERNAL})",
          file=sys.stderr)
    return EXIT_INTERNAL


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """--help that ends each option's text with its default, unless the text already says it or
    there is none worth showing (None, an on/off flag, an empty string)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text, default = action.help, action.default
        if (not text or "default" in text or isinstance(default, bool)
                or default in (None, "", [], argparse.SUPPRESS) or not action.option_strings):
            return text
        shown = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else str(default)
        return f"{text} (default: {shown.replace('%', '%%')})"


class RawDescriptionDefaultsHelpFormatter(argparse.RawDescriptionHelpFormatter, DefaultsHelpFormatter):
    """DefaultsHelpFormatter that prints the description and epilog as written (tables)."""


class OneLineParser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of printing a usage block, so a CLI says one line;
    its --help shows every option's default."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", DefaultsHelpFormatter)
        super().__init__(*args, **kwargs)

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
