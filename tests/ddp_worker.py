"""Run the trainer (under torchrun or alone) and save this process's final weights and step.

Usage: ddp_worker.py OUT_DIR [trainer flags...]. Writes OUT_DIR/rank<r>-of-<w>.pt (weights),
.../rank<r>-of-<w>.step, and OUT_DIR/started-rank<r> (its pid) once the signal handlers are in."""
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mnist_cnn import distributed, train  # noqa: E402
from mnist_cnn.config import parse_command_line  # noqa: E402

out = Path(sys.argv[1])
original = train.train


def train_and_tell(run, state):
    (out / f"started-rank{run.rank}").write_text(str(os.getpid()))
    return original(run, state)


train.train = train_and_tell
result = train.fit(*parse_command_line(sys.argv[2:]))
name = f"rank{result.run.rank}-of-{result.run.world}"
torch.save(result.run.net.state_dict(), out / f"{name}.pt")
(out / f"{name}.step").write_text(str(result.state.progress.step))
distributed.shutdown()
