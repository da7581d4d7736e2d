"""Helpers shared by crosscheck and mnist_cnn (which must not import each other):
one-line command-line errors and exit statuses, atomic files, run folders claimed once."""
from .cli import (EXIT_FAILED, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, EXIT_USER_CODE, OneLineParser,
                  RawDescriptionDefaultsHelpFormatter, UsageError, internal_error, nonnegative_int, positive,
                  positive_int, program, unit_interval)
from .files import NotARegularFile, atomic_write, claim_run_dir, remove_stale_temps, write_target

__all__ = ["EXIT_FAILED", "EXIT_INTERNAL", "EXIT_OK", "EXIT_USAGE", "EXIT_USER_CODE", "NotARegularFile",
           "OneLineParser", "RawDescriptionDefaultsHelpFormatter", "UsageError", "atomic_write", "claim_run_dir",
           "internal_error", "nonnegative_int", "positive", "positive_int", "program", "remove_stale_temps",
           "unit_interval", "write_target"]
