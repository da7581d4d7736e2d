"""`python -m crosscheck`: check every preset (or the chosen ones) and print a table."""
from __future__ import annotations

import os
import sys
import time

from numpy_impl.spec import DTYPES, param_count_lines

from . import report
from .commands import Parser, UsageError, run_study, run_train
from .presets import DATA_NOTES, MNIST_DATA_DIR, PRESETS


def check_parser() -> Parser:
    p = Parser(prog="python -m crosscheck",
               description="Prove NumPy and PyTorch models equal, layer by layer. "
                           "Subcommands: train, study (see python -m crosscheck train --help).")
    p.add_argument("--model", nargs="+", metavar="NAME", help=f"presets to check (default: all): {', '.join(PRESETS)}")
    p.add_argument("--act", nargs="+", metavar="ACT", help="activations to check (default: each preset's own)")
    p.add_argument("--dtype", nargs="+", metavar="DTYPE", default=list(DTYPES), help="float64 and/or float32")
    p.add_argument("--seed", type=int, default=0, help="seed for parameters, upstream gradient and FD sampling")
    p.add_argument("--no-fd", action="store_true", help="skip the finite-difference check")
    p.add_argument("-v", "--verbose", action="store_true", help="print every layer quantity")
    p.add_argument("--json", metavar="PATH", help="write the full report as JSON")
    p.add_argument("--data-dir", help="MNIST folder for the mnist_cnn check (default $MNIST_DATA_DIR or ./data)")
    p.add_argument("--user", metavar="FILE.py",
                   help="check your own network: a file defining crosscheck_model() (see crosscheck/byo.py)")
    return p


def _choose(kind: str, asked: list[str] | None, valid, default) -> list[str]:
    if not asked:
        return list(default)
    bad = [a for a in asked if a not in valid]
    if bad:
        raise UsageError(f"unknown {kind} {bad[0]!r}; choose from: {', '.join(valid)}")
    return asked


def plan(args) -> list[tuple]:
    """(preset, activation, dtype, mode) to check."""
    models = _choose("model", args.model, list(PRESETS), PRESETS)
    dtypes = _choose("dtype", args.dtype, DTYPES, DTYPES)
    all_acts = sorted({a for p in PRESETS.values() for a in p.activations})
    acts = _choose("activation", args.act, all_acts, all_acts) if args.act else None
    jobs = []
    for name in models:
        preset = PRESETS[name]
        # the default run keeps the slow CNN to its quick subset; naming it checks everything
        own = preset.quick_acts if not args.model and preset.quick_acts else preset.activations
        for act in own:
            if acts is None or act in acts:
                jobs.extend((preset, act, dt, mode) for mode in preset.modes for dt in dtypes)
    if not jobs:
        raise UsageError(f"no preset among {', '.join(models)} uses activation {', '.join(args.act)}")
    return jobs


def load_user_model(path: str):
    """Import FILE.py and call its crosscheck_model()."""
    import importlib.util
    if not os.path.isfile(path):
        raise UsageError(f"--user: no such file {path!r}")
    module_spec = importlib.util.spec_from_file_location("crosscheck_user_model", path)
    module = importlib.util.module_from_spec(module_spec)
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    module_spec.loader.exec_module(module)
    if not hasattr(module, "crosscheck_model"):
        raise UsageError(f"--user: {path} defines no crosscheck_model() function")
    return module.crosscheck_model()


def _show(result, args, param_lines=()) -> None:
    print(report.summary_line(result), flush=True)
    if args.verbose:
        print("\n".join(report.verbose_lines(result, param_lines)))
    if not result.passed:
        print("\n".join(report.failure_lines(result)))


def run_checks(args) -> int:
    from .runner import check_spec  # imports torch; keep --help fast
    start = time.perf_counter()
    results = []
    if args.user:
        from . import byo
        jobs = []
        results.append(byo.check(load_user_model(args.user), seed=args.seed, fd=not args.no_fd))
        print(report.summary_header())
        _show(results[0], args)
    else:
        jobs = plan(args)
        if args.data_dir:
            MNIST_DATA_DIR[:] = [args.data_dir]
        print(report.summary_header())
    for preset, act, dtype, mode in jobs:
        spec = preset.make_spec(act)
        x, y = preset.data()
        if preset.name in DATA_NOTES:
            print(f"note: {DATA_NOTES.pop(preset.name)}")
        result = check_spec(spec, x, y, dtype=dtype, seed=args.seed, fd=not args.no_fd, activation=act,
                            mode=mode, fd_samples=preset.fd_samples, label=preset.name)
        results.append(result)
        _show(result, args, param_count_lines(spec))
    failed = sum(not r.passed for r in results)
    floors = sum(1 for r in results if r.fd is not None and any(t.floor_dominates for t in r.fd.tensors))
    print(f"{len(results)} checks: {len(results) - failed} passed, {failed} failed "
          f"({floors} judged at the finite-difference noise floor, see --verbose) "
          f"in {time.perf_counter() - start:.1f} s")
    if args.json:
        report.write_json(args.json, results)
        print(f"report written to {args.json}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] == ["train"]:
            return run_train(argv[1:])
        if argv[:1] == ["study"]:
            return run_study(argv[1:])
        return run_checks(check_parser().parse_args(argv))
    except (UsageError, ValueError, OSError) as err:
        print(f"crosscheck: {err}", file=sys.stderr)
        return 2
