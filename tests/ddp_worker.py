"""Run the trainer (under torchrun or alone) and save this process's final weights and step.

Usage: ddp_worker.py OUT_DIR [--await-signal-at STEP] [trainer flags...]. Writes
OUT_DIR/pid-<pid> first thing (so that a failing test can kill every worker),
OUT_DIR/started-rank<r> (its pid) once the signal handlers are in, and at the end
OUT_DIR/rank<r>-of-<w>.pt (weights) and .../rank<r>-of-<w>.step.

--await-signal-at STEP: rank 1 stops after that step, writes OUT_DIR/awaiting-rank1 (its pid)
and waits until a stop signal has reached it, then trains on; the test decides when the signal
comes, so the step it lands on is known, not a matter of timing."""
import os
import sys
import time
from pathlib import Path

out = Path(sys.argv[1])
(out / f"pid-{os.getpid()}").touch()  # before the slow imports: nothing started goes unnamed

import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mnist_cnn import distributed, train  # noqa: E402
from mnist_cnn.config import parse_command_line  # noqa: E402

AWAIT_RANK = 1
AWAIT_LIMIT_S = 600  # no signal by then: the test has failed; end instead of blocking rank 0 forever

args = sys.argv[2:]
await_at = None
if args[:1] == ["--await-signal-at"]:
    await_at, args = int(args[1]), args[2:]


def tell(name: str) -> None:
    """OUT_DIR/name holding this pid, written whole (a reader never sees half a pid)."""
    tmp = out / f".{name}.tmp"
    tmp.write_text(str(os.getpid()))
    os.replace(tmp, out / name)


def await_stop_signal(state) -> None:
    """Wait for the stop request the signal handler records (polled: a signal can come at any
    moment, also before this starts waiting)."""
    tell(f"awaiting-rank{AWAIT_RANK}")
    deadline = time.monotonic() + AWAIT_LIMIT_S
    while not state.stop_requested:
        if time.monotonic() > deadline:
            raise RuntimeError(f"ddp_worker: no stop signal within {AWAIT_LIMIT_S} s")
        time.sleep(0.01)


original_train, original_is_sync_point = train.train, train.is_sync_point


def train_and_tell(run, state):
    tell(f"started-rank{run.rank}")
    return original_train(run, state)


def is_sync_point_or_await(run, state, until):
    """Called once after every step, before the step's sync point (if it is one) is decided."""
    if run.rank == AWAIT_RANK and state.progress.step == await_at:
        await_stop_signal(state)
    return original_is_sync_point(run, state, until)


train.train, train.is_sync_point = train_and_tell, is_sync_point_or_await
result = train.fit(*parse_command_line(args))
name = f"rank{result.run.rank}-of-{result.run.world}"
torch.save(result.run.net.state_dict(), out / f"{name}.pt")
(out / f"{name}.step").write_text(str(result.state.progress.step))
distributed.shutdown()
