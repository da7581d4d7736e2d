"""torchrun with 2 CPU processes (gloo): summaries, checkpoints and a stop request work on every
rank, replicas agree, and match one process over the same global batches."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mnist_helpers import write_tiny_mnist

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "ddp_worker.py")
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return str(write_tiny_mnist(tmp_path_factory.mktemp("ddp-data"), n_train=100, n_test=40))


def _flags(data, out, *extra):
    # dropout 0: each process draws its own dropout masks, which one process cannot reproduce
    return ["--data-dir", data, "--batch-size", "20", "--dropout", "0", "--seed", "3", "--run-name", "t",
            "--logdir", str(out / "runs"), "--checkpoint-dir", str(out / "ck"), *extra]


def _train_loss(run_dir):
    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return acc, [(e.step, e.value) for e in acc.Scalars("Train/loss")]


def test_two_processes_with_summaries_match_one(data, tmp_path):
    """Every rank takes part in the summary all-reduce (rank 1 has no writer): 120 steps with
    summaries every 20 finish, log, checkpoint, and equal one process's run."""
    two_dir, one_dir = tmp_path / "two", tmp_path / "one"
    two_dir.mkdir(), one_dir.mkdir()
    extra = ["--epochs", "24", "--steps", "120", "--summary-every", "20", "--eval-every", "60", "--hist-every", "60"]
    runs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
            for cmd in ([*TORCHRUN, WORKER, str(two_dir), *_flags(data, two_dir, *extra)],
                        [sys.executable, WORKER, str(one_dir), *_flags(data, one_dir, *extra)])]
    for proc in runs:  # side by side: their start-ups (imports) overlap
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
    r0, r1 = (torch.load(two_dir / f"rank{r}-of-2.pt", weights_only=True) for r in (0, 1))
    single = torch.load(one_dir / "rank0-of-1.pt", weights_only=True)
    for key in r0:
        assert torch.equal(r0[key], r1[key]), f"replicas differ in {key}"
        torch.testing.assert_close(r0[key], single[key], rtol=1e-3, atol=1e-4)
    ckpt = torch.load(two_dir / "ck" / "t" / "latest.pt", weights_only=True)
    assert ckpt["step"] == 120 and not (two_dir / "ck" / "t-2").exists()
    acc, two_loss = _train_loss(two_dir / "runs" / "t")
    _, one_loss = _train_loss(one_dir / "runs" / "t")
    assert [s for s, _ in two_loss] == [20, 40, 60, 80, 100, 120]
    for (_, a), (_, b) in zip(two_loss, one_loss):  # all-reduced over both ranks = the global batch
        assert a == pytest.approx(b, rel=1e-3, abs=1e-5)
    assert [e.step for e in acc.Scalars("Test/accuracy")] == [0, 60, 120]  # step 0: the untrained net
    assert "fc1/weight" in acc.Tags()["histograms"]
    import reference
    from mnist_cnn import cnn_spec
    start = reference.build(cnn_spec("relu", "xavier", 0.0), seed=3).state_dict()
    assert max(float((r0[k] - start[k]).abs().max()) for k in r0) > 1e-3  # it did train


def test_sigterm_to_one_rank_stops_all_at_the_same_step(data, tmp_path):
    """SIGTERM to one worker: the stop flag is all-reduced at the next sync point, every rank
    stops at that step, rank 0 writes the checkpoint, all exit 0."""
    proc = subprocess.Popen([*TORCHRUN, WORKER, str(tmp_path), *_flags(data, tmp_path, "--epochs", "500",
                                                                         "--no-summaries")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    started = [tmp_path / f"started-rank{r}" for r in (0, 1)]
    deadline = time.time() + 120
    while not all(p.exists() and p.read_text() for p in started) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # some steps
    os.kill(int(started[1].read_text()), signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()[-3000:]
    steps = [int((tmp_path / f"rank{r}-of-2.step").read_text()) for r in (0, 1)]
    ckpt = torch.load(tmp_path / "ck" / "t" / "latest.pt", weights_only=True)
    assert steps[0] == steps[1] == ckpt["step"] and 0 < ckpt["step"] < 500 * 5
