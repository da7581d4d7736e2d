"""`crosscheck [check|train|study] ...` (or `python -m crosscheck`): the one command line of the project's checks.

  check (the default): check presets (or your own network) layer by layer and print a table;
  train: train the NumPy and the torch model side by side and compare every step;
  study: run a study (depth, stress, descent, moons, digits, all) with both implementations;
  grade: grade a class's submissions against an assignment file (docs/grading.md).

Only this module reads arguments and prints; the workflows it calls are libraries. Modules
that import torch, matplotlib or scikit-learn are imported inside the command that needs
them, so `--help` and a mistyped flag answer at once."""
from __future__ import annotations

import argparse
import sys
import time

from nn_crosscheck_common import (EXIT_FAILED, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, EXIT_USER_CODE, OneLineParser,
                                  UsageError,
                    internal_error, nonnegative_int, positive, positive_int, program, unit_interval)
from numpy_impl.optim_spec import KINDS, OptimSpec
from numpy_impl.spec import DTYPES, param_count_lines

from .check.contain import can_contain, run_contained
from .check.user_code import UserCodeError, describe, load_user_file, refused_on_purpose
from .presets import PRESETS

COMMANDS = ("check", "train", "study", "grade")
# `crosscheck train`'s SGD, unless told otherwise: momentum with dampening, so that a plain run
# reaches every line of both SGD implementations (a dampening bug survived every default command)
SGD_MOMENTUM, SGD_DAMPENING = 0.9, 0.1
STUDIES = ("depth", "stress", "descent", "moons", "digits", "all")
EXIT_STATUSES = ("exit status: 0 everything agrees; 1 a check failed; 2 a bad flag, file or input "
                 "(one line says which); 3 your own code (--user) raised, the line names where; "
                 "4 internal error: a bug of crosscheck, printed with its traceback: please report it")
GRADE_EXIT_STATUSES = ("exit status: 0 every submission graded (whatever its points); 2 a bad flag, assignment "
                       "file or submissions folder (one line says which); 4 internal error: a bug of crosscheck, "
                       "printed with its traceback: please report it")


def parser() -> OneLineParser:
    prog = program("crosscheck", "crosscheck")
    p = OneLineParser(prog=prog, epilog=EXIT_STATUSES,
                      description="Prove NumPy and PyTorch models equal, layer by layer. Without a "
                                  f"command, `check` runs ({prog} check --help).")
    sub = p.add_subparsers(dest="command", metavar="{check,train,study,grade}", parser_class=OneLineParser)
    _check_options(sub.add_parser("check", help="check presets or your network layer by layer (default)",
                                  epilog=EXIT_STATUSES))
    _train_options(sub.add_parser("train", help="train NumPy and torch side by side, compare every step",
                                  epilog=EXIT_STATUSES))
    _study_options(sub.add_parser("study", help="run a study with both implementations"))
    _grade_options(sub.add_parser("grade", help="grade a class's submissions against an assignment file",
                                  epilog=GRADE_EXIT_STATUSES))
    return p


def _check_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", nargs="+", metavar="NAME", help=f"presets to check (default: all): {', '.join(PRESETS)}")
    p.add_argument("--act", nargs="+", metavar="ACT", help="activations to check (default: each preset's own)")
    p.add_argument("--dtype", nargs="+", metavar="DTYPE", default=list(DTYPES), help="float64 and/or float32")
    p.add_argument("--seed", type=nonnegative_int, default=0,
                   help="seed for parameters, upstream gradient and FD sampling")
    p.add_argument("--no-fd", action="store_true", help="skip the finite-difference check")
    p.add_argument("-v", "--verbose", action="store_true", help="print every layer quantity")
    p.add_argument("--json", metavar="PATH", help="write the full report as JSON")
    p.add_argument("--data-dir", help="MNIST folder for the mnist_cnn check (default $MNIST_DATA_DIR or ./data)")
    p.add_argument("--user", metavar="FILE.py",
                   help="check your own network: a file defining crosscheck_model() (see examples/); it runs "
                        "in a child process, so that an os._exit or a crash in your code is reported as such")
    p.add_argument("--timeout", type=positive, metavar="SECONDS",
                   help="with --user: stop when one call into your code (its import, crosscheck_model(), a "
                        "layer's forward or backward, your loss) runs longer than this, and name it (exit 3); "
                        "default: no limit")


def _train_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="A", help=f"preset to train: {', '.join(PRESETS)}")
    p.add_argument("--impl", default="both",
                   help="both: train NumPy and torch side by side and compare every step (default); "
                        "numpy or torch: train that one alone on its full data set (mnist_cnn: MNIST)")
    p.add_argument("--epochs", type=positive_int, help="with --impl numpy|torch (default 1)")
    p.add_argument("--data-dir", help="MNIST folder for mnist_cnn (default $MNIST_DATA_DIR or ./data)")
    p.add_argument("--act", help="activation (default: the preset's first)")
    p.add_argument("--opt", help="sgd, adam or adamw (default sgd; adam for mnist_cnn)")
    p.add_argument("--lr", type=positive, help="default 0.01 (mnist_cnn: 0.001)")
    p.add_argument("--momentum", type=float,
                   help=f"SGD momentum (default {SGD_MOMENTUM:g}, so that a plain run exercises every part "
                        "of SGD; 0 turns it off)")
    p.add_argument("--dampening", type=float,
                   help=f"SGD: momentum dampening (default {SGD_DAMPENING:g} with momentum, 0 with --nesterov)")
    p.add_argument("--nesterov", action="store_true", help="SGD: Nesterov momentum (needs --momentum)")
    p.add_argument("--weight-decay", type=float, default=0.0,
                   help="sgd, adam: adds this times each parameter to its gradient (torch.optim's L2 penalty); "
                        "adamw: decoupled decay")
    p.add_argument("--amsgrad", action="store_true", help="adam, adamw: the AMSGrad variant")
    p.add_argument("--decay", type=unit_interval, default=1.0, help="lr factor per epoch (exponential)")
    p.add_argument("--step-size", type=nonnegative_int, default=0,
                   help="step decay: apply --decay every N epochs (0: every epoch)")
    p.add_argument("--batch-size", type=positive_int, help="minibatch size (default: full batch; mnist_cnn: 50)")
    p.add_argument("--steps", type=positive_int, help="default 500 (mnist_cnn side by side: 50)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed for parameters and the shuffled order")
    p.add_argument("--dtype", default="float64", help="float64 or float32")
    p.add_argument("--logdir", help="write TensorBoard runs under this folder (e.g. runs)")
    p.add_argument("--update", metavar="FILE.py",
                   help="check your own update rule against torch.optim from identical gradients: a file "
                        "defining crosscheck_update() (see examples/byo_update_*.py); --steps default 10")


def _study_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("study", help=" | ".join(STUDIES))
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed for parameters and data")
    p.add_argument("--roll", default="102303346", help="identifier for the stress test (>= 3 digits)")
    p.add_argument("--keep-weights", action="store_true",
                   help="stress: carry trained layers over when deepening (default: fresh init)")
    p.add_argument("--epochs", type=positive_int, help="override the study's epochs")
    p.add_argument("--lr", type=positive, help="descent: eta0 (default 0.2)")
    p.add_argument("--decay", type=unit_interval, help="descent: eta_t = eta0 * decay^t (default 0.99)")
    p.add_argument("--steps", type=positive_int, help="descent: steps (default 200)")
    p.add_argument("--logdir", default="runs", help="TensorBoard folder")
    p.add_argument("--no-tb", action="store_true", help="write no TensorBoard runs")
    p.add_argument("--plots", default="plots", help="folder for PNG plots")


def _grade_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("assignment", metavar="ASSIGNMENT", help="the assignment file (TOML; examples/grading/)")
    p.add_argument("submissions", metavar="SUBMISSIONS", nargs="?",
                   help="a folder of submissions (.py files, .ipynb notebooks, folders); with --gradescope, "
                        "one submission (a file or a folder)")
    p.add_argument("--out", metavar="DIR", default="grading",
                   help="where grades.csv, summary.html, feedback/ and results/ go (a rerun skips the "
                        "submissions whose result there is still current)")
    p.add_argument("--jobs", type=positive_int, metavar="N", help="workers (default: the number of cores)")
    p.add_argument("--shard", metavar="I/N",
                   help="grade only shard I of N (every N-th submission by name); join the shards' --out "
                        "folders with --merge")
    p.add_argument("--merge", nargs="+", metavar="DIR",
                   help="join the results/ of these --out folders (the shards) into --out, instead of grading")
    p.add_argument("--gradescope", metavar="RESULTS.json",
                   help="grade SUBMISSIONS as one submission and write Gradescope's results.json here "
                        "(e.g. /autograder/results/results.json)")


def _choose(kind: str, asked: list[str] | None, valid) -> list[str]:
    bad = [a for a in asked or () if a not in valid]
    if bad:
        raise UsageError(f"unknown {kind} {bad[0]!r}; choose from: {', '.join(valid)}")
    return list(asked) if asked else list(valid)


# --- check ---------------------------------------------------------------------------

def plan(args) -> list[tuple]:
    """(preset, activation, dtype, mode) to check."""
    models = _choose("model", args.model, list(PRESETS))
    dtypes = _choose("dtype", args.dtype, DTYPES)
    all_acts = sorted({a for p in PRESETS.values() for a in p.activations})
    acts = _choose("activation", args.act, all_acts) if args.act else None
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


def _show(result, args, report, param_lines=()) -> None:
    print(report.summary_line(result), flush=True)
    if args.verbose:
        print("\n".join(report.verbose_lines(result, param_lines)))
    if not result.passed:  # a byo result also says which undeclared convention explains it
        print("\n".join(report.failure_lines(result) + getattr(result, "undeclared_lines", list)()))


def run_check(args) -> int:
    from mnist_cnn.data import DataError  # these import torch; --help stays fast

    from .check import byo, report
    from .check.spec_check import check_spec
    start = time.perf_counter()
    if args.json is not None and not args.json.strip():
        raise UsageError("--json: empty path; give the file to write the report to, e.g. --json report.json")
    if args.timeout is not None and not args.user:
        raise UsageError("--timeout: limits your own code's calls, so it needs --user FILE.py")
    if args.json:
        report.check_json_target(args.json)
    results = []
    jobs = [] if args.user else plan(args)
    if args.user:  # the table starts only once there is a row: a failure before is one line alone
        model = byo.call_model_factory(load_user_file(args.user), args.user)
        results.append(byo.check(model, seed=args.seed, fd=not args.no_fd))
        print(report.summary_header())
        _show(results[0], args, report)
    else:
        print(report.summary_header())
    noted = set()
    for preset, act, dtype, mode in jobs:
        spec = preset.make_spec(act)
        try:
            x, y = preset.batch(args.data_dir)
        except DataError as err:
            raise UsageError(str(err)) from None
        note = preset.data_note(args.data_dir)
        if note and preset.name not in noted:
            noted.add(preset.name)
            print(f"note: {note}")
        result = check_spec(spec, x, y, dtype=dtype, seed=args.seed, fd=not args.no_fd, activation=act,
                            mode=mode, fd_samples=preset.fd_samples, label=preset.name)
        results.append(result)
        _show(result, args, report, param_count_lines(spec))
    failed = sum(not r.passed for r in results)
    floors = sum(1 for r in results if r.fd is not None and any(t.floor_dominates for t in r.fd.tensors))
    print(f"{len(results)} checks: {len(results) - failed} passed, {failed} failed "
          f"({floors} judged at the finite-difference noise floor, see --verbose) "
          f"in {time.perf_counter() - start:.1f} s")
    if args.json:
        report.write_json(args.json, results)
        print(f"report written to {args.json}")
    return EXIT_FAILED if failed else EXIT_OK


# --- train ---------------------------------------------------------------------------

def run_train(args) -> int:
    if args.update:
        return _train_update(args)
    from .train.lockstep import TrainConfig  # imports torch
    from .train.replay import replay_numpy_optimizer
    from .train.trajectory import check_trajectory
    preset = PRESETS[_choose("model", [args.model], list(PRESETS))[0]]
    act = _choose(f"activation for {args.model}", [args.act or preset.activations[0]], preset.activations)[0]
    _choose("dtype", [args.dtype], DTYPES)
    _choose("impl", [args.impl], ("both", "numpy", "torch"))
    cnn = args.model == "mnist_cnn"
    cfg = TrainConfig(_train_optim_spec(args, cnn), batch_size=args.batch_size or (50 if cnn else None),
                      seed=args.seed)
    spec = preset.make_spec(act).with_dtype(args.dtype)
    if args.impl != "both":
        return _train_alone(args, preset, spec, cfg)
    steps = args.steps or (50 if cnn else 500)
    x, y = _train_batch(preset, args.data_dir)
    print(f"{spec.name} {act} {args.dtype}: {cfg.optim.describe()}, "
          f"{'full batch' if not cfg.batch_size else f'batch {cfg.batch_size}'}, {steps} steps")
    result = check_trajectory(spec, x, y, cfg, steps, logdir=args.logdir)
    if result.passed:
        print(result.summary())
        return EXIT_OK
    print(result.summary().rsplit("\n", 1)[0])
    # a wrong update rule or a wrong gradient? NumPy's optimizer alone, from identical gradients
    replayed = replay_numpy_optimizer(cfg.optim)
    # with a finite run, a rule that agrees alone leaves the gradient; a diverged run says lower the lr
    hint = replayed.passed and result.free_finite
    print(replayed.summary().rsplit("\n", 1)[0] + ("\n  the update rule agrees alone: look at the gradient"
                                                   if hint else ""))
    print("FAIL")
    return EXIT_FAILED


def _train_optim_spec(args, cnn: bool) -> OptimSpec:
    """The optimizer the train flags describe (ValueError naming a flag that does not fit)."""
    kind = _choose("optimizer", [args.opt or ("adam" if cnn else "sgd")], KINDS)[0]
    sgd = kind == "sgd"
    momentum = args.momentum if args.momentum is not None else (SGD_MOMENTUM if sgd else 0.0)
    dampening = args.dampening if args.dampening is not None else (
        SGD_DAMPENING if sgd and momentum and not args.nesterov else 0.0)
    return OptimSpec(kind=kind, lr=args.lr or (1e-3 if cnn else 0.01), momentum=momentum,
                     dampening=dampening, nesterov=args.nesterov, weight_decay=args.weight_decay,
                     amsgrad=args.amsgrad, decay=args.decay, step_size=args.step_size)


def _train_update(args) -> int:
    """--update FILE.py: a user's update rule replayed against torch.optim."""
    from .check.user_code import call_user
    from .train.byo_optim import check_rule
    make = load_user_file(args.update, "crosscheck_update")
    got = call_user("crosscheck_update()", make)
    if not (isinstance(got, tuple) and len(got) == 2 and isinstance(got[0], OptimSpec)):
        what = f"({', '.join(type(g).__name__ for g in got)})" if isinstance(got, tuple) else type(got).__name__
        raise UsageError(f"--update: crosscheck_update() must return (OptimSpec, adapted rule), got {what}")
    result = check_rule(got[0], got[1], args.steps or 10, args.seed)
    print(result.summary())
    return EXIT_OK if result.passed else EXIT_FAILED


def _train_batch(preset, data_dir):
    """The preset's data; the CNN trains side by side on 1000 MNIST test images when present."""
    if preset.reads_mnist:
        from mnist_cnn.data import DataError, load_test_batch
        try:
            batch = load_test_batch(data_dir, 1000)
        except DataError as err:
            raise UsageError(str(err)) from None
        if batch is not None:
            return batch
    return preset.batch(data_dir)


def _train_alone(args, preset, spec, cfg) -> int:
    """One implementation on its full data set, then its test accuracy."""
    from .train.alone import train_single
    from .train.lockstep import split_half
    if preset.reads_mnist:
        from mnist_cnn.data import DataError, load_mnist
        try:
            tx, ty, vx, vy = load_mnist(args.data_dir, download=True)
        except DataError as err:
            raise UsageError(str(err)) from None
        train_data, test_data = (tx.numpy(), ty.numpy()), (vx.numpy(), vy.numpy())
    else:
        x, y = preset.batch()
        tr, te = split_half(len(x), cfg.seed)
        train_data, test_data = (x[tr], y[tr]), (x[te], y[te])
    print(f"training {spec.name} ({args.impl}, {spec.dtype}) on {len(train_data[0])} samples: "
          f"{cfg.optim.describe()}, batch {cfg.batch_size}, {args.epochs or 1} epoch(s)")
    out = train_single(args.impl, spec, cfg, train_data, test_data, args.epochs or 1, args.steps)
    acc = f"{out['test_accuracy']:.4f}" if out["test_accuracy"] is not None else "-"
    print(f"test accuracy {acc}, test loss {out['test_loss']:.4f} after {out['steps']} steps "
          f"({out['images_per_s']:.0f} images/s)")
    return EXIT_OK


# --- grade ---------------------------------------------------------------------------

def run_grade(args) -> int:
    """Grade a class (or one submission for Gradescope, or merge shards) and write the outputs."""
    import os

    if not sys.platform.startswith("linux"):
        raise UsageError("grade: runs submissions in confined processes with Linux's fork, /proc and Landlock; "
                         "run it on Linux")
    from .grade import outputs, pool
    from .grade.assignment import load_assignment
    from .grade.submissions import discover, one
    assignment = load_assignment(args.assignment)
    shard = pool.parse_shard(args.shard) if args.shard is not None else None
    if args.merge:
        if args.submissions or shard or args.gradescope:
            raise UsageError("--merge: joins finished shards; give no SUBMISSIONS, --shard or --gradescope with it")
        results = pool.merge(assignment, args.merge)
        outputs.write_all(assignment, results, args.out)
        print(f"merged {len(results)} results from {len(args.merge)} folders into {args.out}")
        return EXIT_OK
    if not args.submissions:
        raise UsageError("SUBMISSIONS: give the folder of submissions (or --merge DIR ... to join shards)")
    if args.gradescope:
        if shard:
            raise UsageError("--gradescope: grades one submission; --shard does not apply")
        if not os.path.exists(args.submissions):
            raise UsageError(f"SUBMISSIONS: no such file or folder {args.submissions!r}")
        subs = [one(args.submissions, assignment.digest)]
    else:
        subs = pool.in_shard(discover(args.submissions, assignment.digest), shard)
    start = time.perf_counter()

    def progress(result, cached: bool) -> None:
        print(f"{result.student}: {result.points:g} / {assignment.total_points:g}{' (unchanged)' if cached else ''}",
              flush=True)

    results = pool.grade_class(assignment, subs, args.out, args.jobs or os.cpu_count() or 1, progress)
    outputs.write_all(assignment, results, args.out)
    if args.gradescope:
        text = outputs.gradescope_json(assignment, results[0])
        from nn_crosscheck_common import atomic_write
        atomic_write(args.gradescope, lambda f: f.write(text.encode()))
    print(f"{len(results)} submissions graded in {time.perf_counter() - start:.1f} s: {args.out}/grades.csv, "
          f"{args.out}/summary.html, {args.out}/feedback/" + (f", {args.gradescope}" if args.gradescope else ""))
    return EXIT_OK


# --- study ---------------------------------------------------------------------------

def run_study(args) -> int:
    _choose("study", [args.study], STUDIES)
    from .studies import commands as studies  # imports torch and matplotlib
    from .studies.stress import parse_roll
    if args.study in ("stress", "all"):
        parse_roll(args.roll)  # fail before any training
    for name in studies.STUDIES if args.study == "all" else (args.study,):
        getattr(studies, name)(args)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """The command line (argv None: sys.argv). Run as a command (argv None), or with --timeout,
    `check --user` runs the check in a child process (check/contain.py), so that the user's
    os._exit or endless loop is reported as theirs; called from Python with argv, in-process."""
    from_command_line = argv is None
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help")):
        argv = ["check"] + argv  # check is the default command
    try:
        args = parser().parse_args(argv)
    except UsageError as err:
        print(f"crosscheck: {err}", file=sys.stderr)
        return EXIT_USAGE
    run = {"check": run_check, "train": run_train, "study": run_study, "grade": run_grade}[args.command]
    if args.command == "check" and args.user and (from_command_line or args.timeout) and can_contain():
        return run_contained(lambda: _reported(run, args), args.timeout, "crosscheck")
    return _reported(run, args)


def _reported(run, args) -> int:
    """run(args), with what escapes it said in one line and its exit status (or, for a bug of
    ours, with its traceback)."""
    try:
        return run(args)
    except UserCodeError as err:
        print(f"crosscheck: your code: {err}", file=sys.stderr)
        return EXIT_USER_CODE
    except SystemExit as err:
        if not (getattr(args, "user", None) or getattr(args, "update", None)):
            raise
        # our commands never exit this way: the user's code did, somewhere not a call of one of its layers
        print(f"crosscheck: your code: {describe(err)}", file=sys.stderr)
        return EXIT_USER_CODE
    except (UsageError, ValueError, TypeError, OSError) as err:
        if isinstance(err, (ValueError, TypeError)) and not refused_on_purpose(err):
            return internal_error("crosscheck")  # not a value we refused: numpy or torch on our line
        print(f"crosscheck: {err}", file=sys.stderr)
        return EXIT_USAGE
    except (MemoryError, RuntimeError) as err:
        if not out_of_memory(err):
            return internal_error("crosscheck")
        # the user's code running out of memory is theirs (call_user says so); this was ours
        print(f"crosscheck: internal error: crosscheck ran out of memory in its own code (its torch twin or the "
              f"comparison), not in yours: {out_of_memory(err)}; check a smaller batch (exit status "
              f"{EXIT_INTERNAL})", file=sys.stderr)
        return EXIT_INTERNAL
    except Exception:  # anything else escaping is a bug of ours, never "bad input" or "a check failed"
        return internal_error("crosscheck")


def out_of_memory(err: BaseException) -> str:
    """The first line of an allocation failure's message (numpy's MemoryError or torch's
    'can't allocate memory' RuntimeError, both with the size), or '' for any other error."""
    text = str(err).strip()
    if isinstance(err, MemoryError) or "can't allocate memory" in text or "out of memory" in text.lower():
        lines = [line for line in text.splitlines() if line.strip()]
        return (lines[-1] if lines else type(err).__name__).strip()
    return ""
