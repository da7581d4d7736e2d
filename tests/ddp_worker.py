"""Run the trainer (under torchrun or alone) and save this process's final weights.

Usage: ddp_worker.py OUT_DIR [trainer flags...]"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mnist_cnn import distributed, train  # noqa: E402
from mnist_cnn.config import parse_args  # noqa: E402

out = sys.argv[1]
run = train.setup(parse_args(sys.argv[2:]))
train.train(run)
torch.save(run.net.state_dict(), os.path.join(out, f"rank{run.rank}-of-{run.world}.pt"))
distributed.shutdown()
