"""The MNIST trainer end to end on tiny IDX data: checkpoints, resume, errors (summaries: test_summaries.py)."""
import os
import re
import selectors
import signal
import subprocess
import sys
import time

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mnist_cnn import train
from mnist_cnn.config import parse_args
from mnist_helpers import run_args, write_tiny_mnist


def _args(tiny, tmp_path, *extra):
    return run_args(tiny, tmp_path, *extra, summaries=True)

HANG_S = 600  # a subprocess's limit: only turns a hang into a failure (a loaded machine needs minutes)


def _events(path):
    acc = EventAccumulator(str(path), size_guidance={"scalars": 0, "histograms": 0, "images": 0})
    acc.Reload()
    return acc


def test_resume_matches_an_uninterrupted_run(tiny, tmp_path):
    """Stopped after 7 steps (mid-epoch) and resumed to 25 == 25 steps in one go."""
    whole, part = tmp_path / "whole", tmp_path / "part"
    assert train.main(_args(tiny, whole, "--steps", "25", "--summary-every", "5")) == 0
    assert train.main(_args(tiny, part, "--steps", "7", "--summary-every", "5")) == 0
    ckpt_dir = part / "ckpt" / "t"
    assert train.main(_args(tiny, part, "--steps", "25", "--summary-every", "5",
                            "--resume", str(ckpt_dir))) == 0
    a = torch.load(whole / "ckpt" / "t" / "latest.pt", weights_only=True)
    b = torch.load(ckpt_dir / "latest.pt", weights_only=True)
    assert a["step"] == b["step"] == 25 and a["epoch"] == b["epoch"] == 1
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    resumed = [(e.step, e.value) for e in _events(part / "runs" / "t").Scalars("Train/loss")]
    assert [s for s, _ in resumed] == [5, 10, 15, 20, 25]  # continued, not duplicated
    # the window open at the checkpoint (steps 6-7) was saved: step 10 averages 6-10, as in one go
    uninterrupted = [e.value for e in _events(whole / "runs" / "t").Scalars("Train/loss")]
    assert [v for _, v in resumed] == pytest.approx(uninterrupted, rel=1e-6)


def test_non_finite_loss_stops_without_checkpoint(tiny, tmp_path, capsys):
    # evaluations (sync points) only at the end: the loss check, not the weight bound, sees it first
    code = train.main(_args(tiny, tmp_path, "--steps", "15", "--opt", "sgd", "--lr", "1e12", "--eval-every", "100"))
    assert code == 1
    err = capsys.readouterr().err
    assert "at step" in err and "stopping" in err
    assert not (tmp_path / "ckpt" / "t" / "latest.pt").exists()


@pytest.mark.parametrize("flags,needle", [
    (["--opt", "rmsprop"], "argument --opt: invalid choice: 'rmsprop'"),
    (["--lr", "0"], "argument --lr: must be > 0"),
    (["--lr", "-0.1"], "argument --lr: must be > 0"),
    (["--lr", "nan"], "argument --lr: must be a finite number"),
    (["--lr", "inf"], "argument --lr: must be a finite number"),
    (["--momentum", "nan"], "argument --momentum: must be a finite number >= 0"),
    (["--batch-size", "0"], "argument --batch-size: must be >= 1"),
    (["--eval-every", "-1"], "argument --eval-every: must be >= 0"),
    (["--seed", str(10 ** 30)], "argument --seed: must lie in [0, 4294967295]"),
    (["--resume", "nowhere"], "argument --resume: no checkpoint at nowhere"),
], ids=["optimizer", "lr-zero", "lr-negative", "lr-nan", "lr-inf", "momentum-nan", "batch-size",
        "eval-every", "huge-seed", "resume"])
def test_bad_flags_give_one_line(tiny, tmp_path, capsys, flags, needle):
    assert train.main(_args(tiny, tmp_path, *flags)) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1, err


def test_a_file_as_logdir_is_refused(tiny, tmp_path, capsys):
    (tmp_path / "file").write_text("")
    assert train.main(_args(tiny, tmp_path, "--logdir", str(tmp_path / "file" / "sub"))) == 2
    err = capsys.readouterr().err
    assert f"argument --logdir: {tmp_path / 'file'} is a file" in err and len(err.strip().splitlines()) == 1


def test_the_command_exits_2_with_one_line(tiny, tmp_path):
    """The real process: status 2, one line, no usage block or traceback."""
    proc = subprocess.run([sys.executable, "-m", "mnist_cnn.train", *_args(tiny, tmp_path, "--lr", "nan")],
                          capture_output=True, text=True, timeout=HANG_S,
                          cwd=os.path.dirname(os.path.dirname(__file__)))
    assert proc.returncode == 2
    assert proc.stderr.startswith("python -m mnist_cnn.train: error: argument --lr:")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_missing_data_is_one_message(tmp_path, capsys, monkeypatch):
    import torchvision.datasets
    monkeypatch.setattr(torchvision.datasets.MNIST, "download", lambda self: (_ for _ in ()).throw(
        RuntimeError("no network")))
    assert train.main(_args(str(tmp_path / "none"), tmp_path, "--steps", "1")) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mnist_cnn: MNIST: files not found") and "\n" not in err


def test_run_names_never_overwrite(tiny, tmp_path):
    for _ in range(2):
        assert train.main(_args(tiny, tmp_path, "--steps", "1", "--no-summaries")) == 0
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["t", "t-2"]


def _read_until(proc, pattern: bytes) -> bytes:
    """proc's stderr up to the first match of `pattern` (a failure, with what it said, when it
    ends first or says nothing matching for HANG_S seconds)."""
    seen, deadline = b"", time.monotonic() + HANG_S
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stderr, selectors.EVENT_READ)
        while not re.search(pattern, seen):
            assert time.monotonic() < deadline, f"no {pattern!r} after {HANG_S} s:\n{seen.decode()[-2000:]}"
            if sel.select(timeout=1.0):
                chunk = os.read(proc.stderr.fileno(), 4096)
                assert chunk, f"exited before {pattern!r}:\n{seen.decode()[-2000:]}"
                seen += chunk
    return seen


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stop_signal_saves_a_checkpoint_and_stops(tiny, tmp_path, signum):
    """The first SIGINT or SIGTERM finishes the step, writes the checkpoint and ends the run cleanly."""
    proc = subprocess.Popen([sys.executable, "-m", "mnist_cnn.train",
                             *_args(tiny, tmp_path, "--epochs", "100", "--no-summaries")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=os.path.dirname(os.path.dirname(__file__)))
    try:
        seen = _read_until(proc, rb"[1-9][0-9]*/2000")  # steps are being made: the handlers are in
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=HANG_S)
    finally:
        if proc.poll() is None:  # the test failed: the run goes with it
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, (seen + err).decode()[-2000:]
    assert "stopped early" in out.decode()
    state = torch.load(tmp_path / "ckpt" / "t" / "latest.pt", weights_only=True)
    assert 0 < state["step"] < 2000


def test_ddp_backend_follows_the_device():
    """gloo for --device cpu even where CUDA is visible; one line when asking for more
    processes than GPUs."""
    from nn_crosscheck_common import UsageError
    from mnist_cnn import distributed
    assert distributed.backend(torch.device("cpu")) == "gloo"
    assert distributed.backend(torch.device("cuda", 1)) == "nccl"
    distributed.check_gpus(torch.device("cpu"), world=4, local_world=4, gpus=1)  # CPU processes: fine
    with pytest.raises(UsageError, match="4 processes per node on CUDA but this machine has 2 GPUs"):
        distributed.check_gpus(torch.device("cuda", 0), world=4, local_world=4, gpus=2)


def test_shuffles_are_seeded_and_cover_the_data(tiny, tmp_path):
    """Batches are drawn from the (device-resident) tensors by a seeded per-epoch permutation:
    two runs with one seed see the same batches and end with the same weights."""
    ends = []
    for name in ("a", "b"):
        run_tmp = tmp_path / name
        assert train.main(_args(tiny, run_tmp, "--steps", "3", "--no-summaries", "--seed", "4")) == 0
        ends.append(torch.load(run_tmp / "ckpt" / "t" / "latest.pt", weights_only=True)["model"])
    assert all(torch.equal(ends[0][k], ends[1][k]) for k in ends[0])


def test_num_workers_is_still_accepted_and_said_to_be_unused(capsys):
    """Old scripts keep working: the flag parses, and the run says it is not used."""
    from mnist_cnn.config import parse_command_line
    cfg, given = parse_command_line(["--num-workers", "2", "--steps", "3"])
    assert given == {"steps"} and cfg.steps == 3
    assert "--num-workers is not used" in capsys.readouterr().err


@pytest.mark.parametrize("cpuinfo,ok", [
    ("processor : 0\nflags\t\t: fpu sse avx2 avx512f avx512_bf16\n", True),
    ("flags : fpu avx2 amx_tile amx_bf16\n", True),
    ("Features\t: fp asimd bf16 i8mm\n", True),           # Arm
    ("flags\t\t: fpu sse sse2 avx avx2 fma\n", False),     # AVX2 only: bf16 would be emulated
    ("", False),                                           # unknown: refused, saying so
], ids=["avx512-bf16", "amx", "arm-bf16", "avx2", "unknown"])
def test_cpu_bf16_is_detected_from_the_cpu_flags(cpuinfo, ok):
    from mnist_cnn.bf16 import cpu_bf16_problem
    problem = cpu_bf16_problem(cpuinfo)
    assert (problem is None) == ok
    if not ok:
        assert problem.startswith("argument --amp: ") and "\n" not in problem


def test_amp_on_a_cpu_without_bf16_is_one_line(tiny, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("mnist_cnn.bf16.cpu_flags", lambda cpuinfo=None: {"avx2", "fma"})
    assert train.main(_args(tiny, tmp_path, "--amp", "--device", "cpu", "--steps", "2")) == 2
    err = capsys.readouterr().err
    assert "no bf16 instructions" in err and len(err.strip().splitlines()) == 1, err


def test_amp_on_a_bf16_cpu_keeps_float32_weights_and_runs_the_forward_in_bf16(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr("mnist_cnn.bf16.cpu_flags", lambda cpuinfo=None: {"avx512_bf16"})
    cfg = parse_args(_args(tiny, tmp_path, "--amp", "--device", "cpu", "--steps", "2", "--no-summaries"))
    run, state = train.setup(cfg)
    seen = []
    run.net[3].register_forward_hook(lambda mod, inp, out: seen.append(out.dtype))  # conv2
    train.train_one_epoch(run, state, train.tqdm(disable=True))
    assert state.progress.step == 2 and seen == [torch.bfloat16, torch.bfloat16]
    assert all(p.dtype == torch.float32 for p in run.net.parameters())
    moments = [v for s in run.opt.state.values() for v in s.values() if torch.is_tensor(v) and v.numel() > 1]
    assert moments and all(v.dtype == torch.float32 for v in moments)  # Adam's moments stay float32
    train.close_quietly(run)
