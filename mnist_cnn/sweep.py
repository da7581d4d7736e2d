"""`mnist-cnn-sweep` (or `python -m mnist_cnn.sweep`): train the variant grid, one TensorBoard run each, and print a
table of final test accuracies and training times."""
from __future__ import annotations

import argparse
import itertools
import sys
import time

from nn_crosscheck_common import (EXIT_FAILED, EXIT_OK, EXIT_USAGE, OneLineParser, RawDescriptionDefaultsHelpFormatter,
                                  UsageError, nonnegative_int, positive_int, program)

from .config import EXIT_STATUSES, OPTIMIZERS, Config
from .data import DataError
from .errors import NOT_STARTED, Aborted, Diverged, WriteFailed
from .spec import ACTIVATIONS, INITS


EXIT_STOPPED = 130  # the shell's status for SIGINT
SWEEP_STOPPED = ("  130  stopped by Ctrl-C or SIGTERM: the run in progress checkpoints (a second Ctrl-C aborts it)\n"
                 "       and is marked 'stopped' in the table; the runs after it are not started")


def prog() -> str:
    """`mnist-cnn-sweep`, or `python -m mnist_cnn.sweep`: as the user called it."""
    return program("mnist_cnn.sweep", "mnist-cnn-sweep")


def parser() -> argparse.ArgumentParser:
    epilog = EXIT_STATUSES.replace(EXIT_STATUSES.splitlines()[1],
                                   "  0  success: every run of the grid ran (a diverged run is a row of the table)")
    epilog = epilog.replace(next(line for line in epilog.splitlines() if line.startswith("  130")), SWEEP_STOPPED)
    p = OneLineParser(prog=prog(), description=__doc__, epilog=epilog,
                      formatter_class=RawDescriptionDefaultsHelpFormatter)
    p.add_argument("--opt", nargs="+", choices=OPTIMIZERS, default=list(OPTIMIZERS), help="optimizers to train with")
    p.add_argument("--act", nargs="+", choices=ACTIVATIONS, default=list(ACTIVATIONS), help="activations to try")
    p.add_argument("--init", nargs="+", choices=["tf", "xavier"] + [k for k in INITS if k not in ("tf", "xavier")],
                   default=["tf", "xavier"], help="weight initialisations to try")
    p.add_argument("--epochs", type=positive_int, default=3, help="epochs of each run")
    p.add_argument("--steps", type=positive_int, help="stop each run after this many steps")
    p.add_argument("--seed", type=nonnegative_int, nargs="+", default=[0], help="seeds: one run per seed")
    p.add_argument("--data-dir", default="", help="folder with MNIST/raw (default $MNIST_DATA_DIR or ./data)")
    p.add_argument("--logdir", default="runs", help="TensorBoard folder, one run in it per grid cell")
    p.add_argument("--checkpoint-dir", default="checkpoints", help="checkpoint folder, one run in it per grid cell")
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except UsageError as err:
        print(f"{prog()}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    stamp = time.strftime("%Y%m%d-%H%M%S")
    rows, grid = [], list(itertools.product(args.opt, args.act, args.init, args.seed))
    try:
        return run_grid(args, stamp, grid, rows)
    except KeyboardInterrupt:  # between two runs, where no run's own signal handlers are in place
        return stopped(args, stamp, rows, len(grid), "interrupted between two runs")


def run_grid(args, stamp: str, grid: list, rows: list) -> int:
    """Each run of the grid in turn, its row added to `rows`; the exit status."""
    from .train import fit
    for opt, act, init, seed in grid:
        name = f"sweep-{stamp}-{opt}-{act}-{init}-s{seed}"
        cfg = Config(opt=opt, act=act, init=init, epochs=args.epochs, steps=args.steps, seed=seed,
                     data_dir=args.data_dir, logdir=args.logdir, checkpoint_dir=args.checkpoint_dir,
                     run_name=name)
        print(f"== {name}", flush=True)
        try:
            out = fit(cfg)
        except KeyboardInterrupt as err:  # a second Ctrl-C, or one before the run's training started
            rows.append((opt, act, init, seed, "aborted", ""))
            return stopped(args, stamp, rows, len(grid), f"{err if isinstance(err, Aborted) else NOT_STARTED}")
        except Diverged as err:
            rows.append((opt, act, init, seed, "diverged", str(err)[:40]))
        except (UsageError, DataError) as err:
            print(f"{prog()}: error: {err}", file=sys.stderr)
            return EXIT_USAGE
        except WriteFailed as err:
            print(f"mnist_cnn: {err}", file=sys.stderr)
            return EXIT_FAILED
        else:
            if out.state.stop_agreed:  # a Ctrl-C or SIGTERM: this run is checkpointed, the sweep stops
                at = f"at step {out.state.progress.step}/{out.run.total_steps}"
                rows.append((opt, act, init, seed, "stopped", at))
                return stopped(args, stamp, rows, len(grid), f"stopped by a signal during {name}; its checkpoint: "
                               f"--resume {out.run.ckpt_path.parent} with mnist-cnn-train")
            rows.append((opt, act, init, seed, f"{out.test_accuracy:.4f}", f"{out.minutes:.1f}"))
    table(args, stamp, rows)
    return EXIT_OK


def table(args, stamp: str, rows: list) -> None:
    print(f"\n{'opt':<6}{'act':<6}{'init':<8}{'seed':<6}{'test acc':<10}minutes")
    for row in rows:
        print("".join(f"{str(v):<{w}}" for v, w in zip(row, (6, 6, 8, 6, 10, 8))))
    print(f"TensorBoard: tensorboard --logdir {args.logdir}  (runs named sweep-{stamp}-*)")


def stopped(args, stamp: str, rows: list, planned: int, why: str) -> int:
    """The table so far, then one line on stderr: why the sweep stopped and what was not run."""
    table(args, stamp, rows)
    print(f"mnist_cnn.sweep: {why}; {planned - len(rows)} of {planned} runs not started", file=sys.stderr)
    return EXIT_STOPPED


if __name__ == "__main__":
    sys.exit(main())
