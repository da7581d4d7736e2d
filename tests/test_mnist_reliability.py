"""The trainer's guarantees (issue 15): run names claimed once, resume keeps the run's settings,
divergence and full disks stop with one line and keep the last good checkpoint, wrong files
given to --resume, the sweep's flags, dry runs leave nothing behind."""
import errno
import hashlib
import re
import tempfile
import threading

import pytest
import torch

from nn_crosscheck_common import UsageError
from mnist_cnn import sweep, train
from mnist_cnn.config import Config
from mnist_cnn.run_state import claim_folders
from mnist_helpers import STEPS_PER_EPOCH, run_args



PROGRESS_BAR = re.compile(r"\| *\d+/\d+ \[")  # tqdm's "| 20/60 [00:13<00:27, 1.45step/s" (or 1.41s/step)


def _one_line(capsys) -> str:
    """stderr's one message line (the progress bar's lines aside, however slow the steps)."""
    err = capsys.readouterr().err.replace("\r", "\n")
    lines = [line for line in err.splitlines() if line.strip() and not PROGRESS_BAR.search(line)]
    assert len(lines) == 1, err
    return lines[0]


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def three_steps(tiny, tmp_path_factory):
    """A run stopped after 3 steps: its checkpoint folder."""
    tmp = tmp_path_factory.mktemp("three")
    assert train.main(run_args(tiny, tmp, "--steps", "3")) == 0
    return tmp / "ckpt" / "t"


# --- 3: run names -----------------------------------------------------------------------

def test_simultaneous_runs_with_one_name_get_different_folders(tmp_path):
    """Claimed by creating the folders exclusively, whatever the summary flags; also across
    runs that share only the checkpoint folder."""
    cfgs = [Config(run_name="same", logdir=str(tmp_path / f"logs{i % 2}"), checkpoint_dir=str(tmp_path / "ck"))
            for i in range(8)]
    gate, names = threading.Barrier(len(cfgs)), []

    def claim(cfg):
        gate.wait()
        names.append(claim_folders(cfg)[1].name)

    threads = [threading.Thread(target=claim, args=(cfg,)) for cfg in cfgs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(names)) == len(cfgs), names


def test_one_folder_for_logs_and_checkpoints(tmp_path):
    cfg = Config(run_name="same", logdir=str(tmp_path), checkpoint_dir=str(tmp_path))
    assert [claim_folders(cfg)[0].name for _ in range(2)] == ["same", "same-2"]


# --- 4: resume ---------------------------------------------------------------------------

def test_resume_refuses_flags_that_change_the_run(tiny, tmp_path, three_steps, capsys):
    assert train.main(["--resume", str(three_steps), "--lr", "0.01", "--act", "tanh", "--epochs", "5",
                       "--batch-size", "10", "--data-dir", tiny]) == 2
    err = _one_line(capsys)
    assert "--act, --lr, --epochs cannot change on resume" in err


def test_resume_with_another_optimizer_is_refused_not_a_key_error(tiny, tmp_path, three_steps, capsys):
    assert train.main(["--resume", str(three_steps), "--opt", "sgd"]) == 2
    assert "--opt cannot change on resume" in _one_line(capsys)


def test_resume_in_code_is_refused_too(three_steps):
    with pytest.raises(UsageError, match="--seed cannot change"):
        train.fit(Config(resume=str(three_steps), seed=5, run_name="t"))


def test_resume_takes_the_runs_settings_and_records_more_steps(tiny, tmp_path, capsys):
    assert train.main(run_args(tiny, tmp_path, "--steps", "2", "--lr", "0.002", "--act", "tanh")) == 0
    ckpt = tmp_path / "ckpt" / "t"
    assert train.main(["--resume", str(ckpt), "--steps", "4", "--data-dir", tiny]) == 0
    assert "resuming at step 2 with steps 2 -> 4" in capsys.readouterr().out
    state = torch.load(ckpt / "latest.pt", weights_only=True)
    assert state["step"] == 4 and state["config"]["steps"] == 4
    assert state["config"]["lr"] == 0.002 and state["config"]["act"] == "tanh"  # not the defaults
    assert state["history"] == [{"step": 2, "changed": {"steps": [2, 4]}}]
    assert not (tmp_path / "ckpt" / "t-2").exists()  # written back where it came from


# --- 5: divergence ----------------------------------------------------------------------

def _nan_training_loss_after(monkeypatch, calls: int):
    """Make training's cross-entropy NaN from the (calls+1)-th training step on."""
    real, count = torch.nn.functional.cross_entropy, [0]

    def poisoned(logits, y, *args, **kwargs):
        loss = real(logits, y, *args, **kwargs)
        if kwargs.get("reduction", "mean") == "mean":  # training; evaluation asks for "none"
            count[0] += 1
            if count[0] > calls:
                return loss * float("nan")
        return loss
    monkeypatch.setattr(train.F, "cross_entropy", poisoned)


def test_nan_training_loss_names_the_step_and_keeps_the_checkpoint(tiny, tmp_path, capsys, monkeypatch):
    _nan_training_loss_after(monkeypatch, STEPS_PER_EPOCH + 3)
    assert train.main(run_args(tiny, tmp_path, "--epochs", "3")) == 1
    err = _one_line(capsys)
    assert f"training loss is nan at step {STEPS_PER_EPOCH + 4}: stopping" in err
    state = torch.load(tmp_path / "ckpt" / "t" / "latest.pt", weights_only=True)
    assert state["step"] == STEPS_PER_EPOCH  # the last good one, from the end of epoch 1
    assert all(torch.isfinite(v).all() for v in state["model"].values())


def test_nan_test_loss_stops_before_the_checkpoint(tiny, tmp_path, capsys, monkeypatch):
    assert train.main(run_args(tiny, tmp_path, "--steps", "3")) == 0
    path = tmp_path / "ckpt" / "t" / "latest.pt"
    before = _digest(path)
    real = train.evaluate
    monkeypatch.setattr(train, "evaluate", lambda run: (float("inf"), *real(run)[1:]))
    assert train.main(["--resume", str(path), "--steps", "25", "--data-dir", tiny]) == 1
    assert _one_line(capsys) == (f"mnist_cnn: test loss is inf after step {STEPS_PER_EPOCH}: stopping; the last good "
                   f"checkpoint is kept, nothing new is written")
    assert _digest(path) == before


# --- 6: full disk ---------------------------------------------------------------------------

def test_full_checkpoint_disk_keeps_the_previous_checkpoint(tiny, tmp_path, capsys, monkeypatch):
    real, calls = torch.save, [0]

    def save(obj, f, *args, **kwargs):
        calls[0] += 1
        if calls[0] == 2:
            f.write(b"half a checkpoint")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(obj, f, *args, **kwargs)
    monkeypatch.setattr(torch, "save", save)
    assert train.main(run_args(tiny, tmp_path, "--epochs", "2")) == 1
    path = tmp_path / "ckpt" / "t" / "latest.pt"
    assert _one_line(capsys) == (f"mnist_cnn: could not write the checkpoint {path}: No space left on device; "
                                 f"the previous checkpoint is kept: free space, then --resume {path.parent}")
    assert torch.load(path, weights_only=True)["step"] == STEPS_PER_EPOCH
    assert [p.name for p in path.parent.iterdir()] == ["latest.pt"]  # no temporary file left


def test_full_logdir_is_one_line_naming_it(tiny, tmp_path, capsys, monkeypatch):
    from tensorboard.summary.writer.record_writer import RecordWriter

    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(RecordWriter, "write", full)
    args = [a for a in run_args(tiny, tmp_path, "--steps", "4", "--summary-every", "2") if a != "--no-summaries"]
    assert train.main(args) == 1
    assert _one_line(capsys).startswith(f"mnist_cnn: could not write TensorBoard logs in {tmp_path / 'runs' / 't'}: "
                                        f"No space left on device")


# --- 10: wrong files for --resume ---------------------------------------------------------

@pytest.mark.parametrize("content", ["state_dict", "tensor", "other_dict", "random_bytes"])
def test_resume_from_the_wrong_file_is_one_line(tiny, tmp_path, capsys, content):
    path = tmp_path / "wrong.pt"
    if content == "random_bytes":
        path.write_bytes(bytes(range(256)) * 8)
    else:
        obj = {"state_dict": {"0.weight": torch.zeros(2)}, "tensor": torch.zeros(3),
               "other_dict": {"epoch": 1, "weights": torch.zeros(1)}}[content]
        torch.save(obj, path)
    assert train.main(run_args(tiny, tmp_path, "--resume", str(path))) == 2
    err = _one_line(capsys)
    assert f"argument --resume: {path} is not a mnist_cnn checkpoint" in err
    assert "weights_only" not in err


# --- 11: the sweep's flags ----------------------------------------------------------------

@pytest.mark.parametrize("flags", [["--epochs", "0"], ["--epochs", "-1"], ["--steps", "0"], ["--seed", "-1"]],
                         ids=["epochs-0", "epochs-negative", "steps-0", "seed-negative"])
def test_sweep_bad_flags_are_one_line(capsys, flags):
    assert sweep.main(flags) == 2
    assert _one_line(capsys).startswith(f"python -m mnist_cnn.sweep: error: argument {flags[0]}:")


# --- 13: dry run ---------------------------------------------------------------------------

def test_dry_run_leaves_no_temporary_folder(tiny, tmp_path, capsys, monkeypatch):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    args = [a for a in run_args(tiny, tmp_path, "--dry-run") if a != "--no-summaries"]
    assert train.main(args) == 0
    assert "dry run OK" in capsys.readouterr().out
    assert list(scratch.glob("mnist-dry-run-*")) == [] and not (tmp_path / "runs").exists()
