"""`python -m mnist_cnn.sweep`: train the variant grid, one TensorBoard run each, and
print a table of final test accuracies and training times."""
from __future__ import annotations

import argparse
import itertools
import sys
import time

from .config import OPTIMIZERS, Config, OneLineParser
from .data import DataError, default_data_dir
from .spec import ACTIVATIONS, INITS


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="python -m mnist_cnn.sweep", description=__doc__)
    p.add_argument("--opt", nargs="+", choices=OPTIMIZERS, default=list(OPTIMIZERS))
    p.add_argument("--act", nargs="+", choices=ACTIVATIONS, default=list(ACTIVATIONS))
    p.add_argument("--init", nargs="+", choices=["tf", "xavier"] + [k for k in INITS if k not in ("tf", "xavier")],
                   default=["tf", "xavier"])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--steps", type=int, help="stop each run after this many steps")
    p.add_argument("--seed", type=int, nargs="+", default=[0])
    p.add_argument("--data-dir", default=default_data_dir())
    p.add_argument("--logdir", default="runs")
    p.add_argument("--checkpoint-dir", default="checkpoints")
    return p


def main(argv: list[str] | None = None) -> int:
    from .train import NonFiniteLoss, fit
    args = parser().parse_args(argv)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    rows = []
    for opt, act, init, seed in itertools.product(args.opt, args.act, args.init, args.seed):
        name = f"sweep-{stamp}-{opt}-{act}-{init}-s{seed}"
        cfg = Config(opt=opt, act=act, init=init, epochs=args.epochs, steps=args.steps, seed=seed,
                     data_dir=args.data_dir, logdir=args.logdir, checkpoint_dir=args.checkpoint_dir,
                     run_name=name)
        print(f"== {name}", flush=True)
        try:
            out = fit(cfg)
            rows.append((opt, act, init, seed, f"{out.test_accuracy:.4f}", f"{out.minutes:.1f}"))
        except NonFiniteLoss as err:
            rows.append((opt, act, init, seed, "diverged", str(err)[:40]))
        except DataError as err:
            print(f"mnist_cnn: {err}", file=sys.stderr)
            return 1
    print(f"\n{'opt':<6}{'act':<6}{'init':<8}{'seed':<6}{'test acc':<10}minutes")
    for row in rows:
        print("".join(f"{str(v):<{w}}" for v, w in zip(row, (6, 6, 8, 6, 10, 8))))
    print(f"TensorBoard: tensorboard --logdir {args.logdir}  (runs named sweep-{stamp}-*)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
