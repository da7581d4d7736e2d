"""torchrun with 2 CPU processes (gloo): summaries, checkpoints and a stop request work on every
rank, replicas agree, and match one process over the same global batches.

No sleep decides anything here: the tests wait for files the workers write (ddp_worker.py),
the ports are the OS's choice (--standalone: the agent's store listens on port 0 and the
workers join it), and whatever a test starts is killed and reaped when it ends."""
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mnist_helpers import write_tiny_mnist

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "ddp_worker.py")
# torchrun's own variables in the caller's environment would join the runs to another job
LAUNCHER_VARS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
                 "TORCH_DISABLE_SHARE_RDZV_TCP_STORE")
ENV = {**{k: v for k, v in os.environ.items() if k not in LAUNCHER_VARS and not k.startswith("TORCHELASTIC_")},
       "OMP_NUM_THREADS": "1"}
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
HANG_S = 600  # only turns a hang into a failure (a loaded 2-core machine needs ~2 min); decides nothing
POLL_S = 0.05


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


@contextlib.contextmanager
def _started(cmd, out):
    """Popen(cmd) with its output in out/stdout and out/stderr (a full pipe never blocks it).
    However the test ends, nothing started outlives it: torchrun's workers run in sessions of
    their own, so their process groups are killed by pid (each writes out/pid-<pid> first)."""
    with open(out / "stdout", "wb") as stdout, open(out / "stderr", "wb") as stderr:
        proc = subprocess.Popen(cmd, stdout=stdout, stderr=stderr, env=ENV)
    try:
        yield proc
    finally:
        if proc.poll() is None:  # the test failed: its runs go, workers first (the agent would not)
            for pid in _worker_pids(proc, out):
                for kill in (os.killpg, os.kill):  # its group (a worker leads one), then itself
                    with contextlib.suppress(OSError):
                        kill(pid, signal.SIGKILL)
            proc.kill()
        proc.wait()


def _worker_pids(proc, out) -> set[int]:
    """The workers' pids: those they wrote, and the agent's children where /proc lists them."""
    pids = {int(p.name.split("-")[1]) for p in out.glob("pid-*")}
    with contextlib.suppress(OSError):  # Linux: also those killed before writing their file
        pids.update(int(pid) for pid in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split())
    return pids - {proc.pid}


def _stderr(out) -> str:
    return (out / "stderr").read_text(errors="replace")[-3000:]


def _wait_for(path, proc, out):
    """Wait until a worker writes `path` (a failure, with the run's stderr, when it ends first)."""
    deadline = time.monotonic() + HANG_S
    while not path.exists():
        assert proc.poll() is None, f"exited with {proc.returncode} before writing {path.name}:\n{_stderr(out)}"
        assert time.monotonic() < deadline, f"no {path.name} after {HANG_S} s:\n{_stderr(out)}"
        time.sleep(POLL_S)
    return path.read_text()


def _finished(proc, out) -> None:
    try:
        proc.wait(timeout=HANG_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running after {HANG_S} s:\n{_stderr(out)}")
    assert proc.returncode == 0, _stderr(out)


def test_two_processes_with_summaries_match_one(data, tmp_path):
    """Every rank takes part in the summary all-reduce (rank 1 has no writer): 120 steps with
    summaries every 20 finish, log, checkpoint, and equal one process's run."""
    two_dir, one_dir = tmp_path / "two", tmp_path / "one"
    two_dir.mkdir(), one_dir.mkdir()
    extra = ["--epochs", "24", "--steps", "120", "--summary-every", "20", "--eval-every", "60", "--hist-every", "60"]
    with contextlib.ExitStack() as stack:  # side by side: their start-ups (imports) overlap
        runs = [(stack.enter_context(_started(cmd, out)), out)
                for cmd, out in (([*TORCHRUN, WORKER, str(two_dir), *_flags(data, two_dir, *extra)], two_dir),
                                 ([sys.executable, WORKER, str(one_dir), *_flags(data, one_dir, *extra)], one_dir))]
        for proc, out in runs:
            _finished(proc, out)
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


SIGNAL_AFTER = 7   # rank 1 takes the signal after this step, in the middle of the second epoch
NEXT_SYNC = 10     # the end of that epoch (100 images, batches of 20: 5 steps an epoch), a sync point


def test_sigterm_to_one_rank_stops_all_at_the_same_step(data, tmp_path):
    """SIGTERM to one worker after step 7: the stop flag is all-reduced at the next sync point
    (the epoch's end, step 10), every rank stops there, rank 0 writes the checkpoint, all exit 0.
    Rank 1 waits for the signal at step 7 (ddp_worker.py), so where it lands is not a race."""
    cmd = [*TORCHRUN, WORKER, str(tmp_path), "--await-signal-at", str(SIGNAL_AFTER),
           *_flags(data, tmp_path, "--epochs", "4", "--no-summaries")]  # unstopped: 20 steps
    with _started(cmd, tmp_path) as proc:
        os.kill(int(_wait_for(tmp_path / "awaiting-rank1", proc, tmp_path)), signal.SIGTERM)
        _finished(proc, tmp_path)
    steps = [int((tmp_path / f"rank{r}-of-2.step").read_text()) for r in (0, 1)]
    ckpt = torch.load(tmp_path / "ck" / "t" / "latest.pt", weights_only=True)
    assert steps == [NEXT_SYNC, NEXT_SYNC] and ckpt["step"] == NEXT_SYNC
    assert _stderr(tmp_path).count("SIGTERM: finishing this step") == 1  # rank 1's, and only once
