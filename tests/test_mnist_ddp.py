"""torchrun with 2 CPU processes (gloo): replicas agree, and match one process over the
same global batches."""
import os
import subprocess
import sys

import torch

from mnist_helpers import write_tiny_mnist

HERE = os.path.dirname(os.path.abspath(__file__))


def test_two_processes_match_one(tmp_path):
    data = str(write_tiny_mnist(tmp_path / "data"))
    # dropout 0: each process draws its own dropout masks, which one process cannot reproduce
    flags = ["--data-dir", data, "--batch-size", "20", "--steps", "6", "--dropout", "0", "--seed", "3",
             "--no-summaries", "--logdir", str(tmp_path / "runs"), "--checkpoint-dir", str(tmp_path / "ck")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    worker = os.path.join(HERE, "ddp_worker.py")
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          worker, str(tmp_path), *flags], capture_output=True, text=True, timeout=300, env=env)
    assert two.returncode == 0, two.stderr[-3000:]
    one = subprocess.run([sys.executable, worker, str(tmp_path), *flags, "--run-name", "single"],
                         capture_output=True, text=True, timeout=300, env=env)
    assert one.returncode == 0, one.stderr[-3000:]
    r0, r1, single = (torch.load(tmp_path / f, weights_only=True)
                      for f in ("rank0-of-2.pt", "rank1-of-2.pt", "rank0-of-1.pt"))
    for key in r0:
        assert torch.equal(r0[key], r1[key]), f"replicas differ in {key}"
        torch.testing.assert_close(r0[key], single[key], rtol=1e-4, atol=1e-5)
    import reference
    from mnist_cnn import cnn_spec
    start = reference.build(cnn_spec("relu", "xavier", 0.0), seed=3).state_dict()
    assert max(float((r0[k] - start[k]).abs().max()) for k in r0) > 1e-3  # it did train
