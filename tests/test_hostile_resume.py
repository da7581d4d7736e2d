"""Hostile checkpoints given to --resume (issue 25, part C 2, 3, 4, 5): each is refused in one
line with exit status 2 and no traceback, or, where documented, accepted with a note; and a
resumed run writes where the run lives, whatever folder it is resumed from."""
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mnist_cnn import checkpoint, train
from mnist_helpers import run_args

ROOT = Path(__file__).resolve().parent.parent
HANG_S = 600  # only turns a hang into a failure


@pytest.fixture(scope="module")
def three_steps(tiny, tmp_path_factory):
    """The checkpoint file of a run stopped after 3 steps."""
    tmp = tmp_path_factory.mktemp("three")
    assert train.main(run_args(tiny, tmp, "--steps", "3")) == 0
    return tmp / "ckpt" / "t" / "latest.pt"


def _state(path):
    return torch.load(path, weights_only=True)


PROGRESS_BAR = re.compile(r"\| *\d+/\d+ \[")  # tqdm's "| 20/60 [00:13<00:27, 1.45step/s" (or 1.41s/step)


def _one_line(capsys) -> str:
    """stderr's one message line (the progress bar's lines aside), with no traceback."""
    err = capsys.readouterr().err.replace("\r", "\n")
    lines = [line for line in err.splitlines() if line.strip() and not PROGRESS_BAR.search(line)]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _step(state, value):
    state["step"] = value


def _nan_weight(state):
    state["model"]["0.weight"][0, 0, 0, 0] = float("nan")


def _inf_moment(state):
    first = next(iter(state["optimizer"]["state"].values()))
    first["exp_avg"].view(-1)[0] = float("inf")


HOSTILE = {  # id: (how the checkpoint is changed (then sealed again), what the one line says)
    "step-1e9": (lambda s: _step(s, 10 ** 9), "it is at step 1000000000 (epoch 0, batch 3 of the epoch), beyond "
                                              "its run's 60 planned steps (3 epochs of 20)"),
    "step-negative": (lambda s: _step(s, -3), "its step is -3, not a count >= 0"),
    "step-float": (lambda s: _step(s, 2.5), "its step is 2.5, not a count >= 0"),
    "epoch-negative": (lambda s: s.update(epoch=-1), "its epoch is -1, not a count >= 0"),
    "epoch-beyond": (lambda s: s.update(epoch=7), "it is at step 3 (epoch 7, batch 3 of the epoch), beyond"),
    "batch-beyond": (lambda s: s.update(step_in_epoch=20), "it is at step 3 (epoch 0, batch 20 of the epoch), beyond"),
    "nan-weight": (_nan_weight, "model/0.weight holds NaN or Inf"),
    "inf-adam-moment": (_inf_moment, "optimizer/state/0/exp_avg holds NaN or Inf"),
    "nan-window": (lambda s: s["window"].__setitem__(0, float("nan")), "its window is [nan, "),
}


@pytest.mark.parametrize("change,needle", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_checkpoint_that_is_not_good_is_refused(tiny, tmp_path, three_steps, capsys, change, needle):
    state = _state(three_steps)
    change(state)
    path = tmp_path / "latest.pt"
    torch.save(checkpoint.seal(state), path)
    assert train.main(["--resume", str(path), "--data-dir", tiny]) == 2
    line = _one_line(capsys)
    assert line.startswith(f"python -m mnist_cnn.train: error: argument --resume: {path} is not a good checkpoint: ")
    assert needle in line and line.endswith("resume from an earlier copy, or start the run again")
    assert _state(path)["step"] == state["step"]  # nothing written over it


def _flip_64_bytes_of_a_tensor(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    weights = _state(path)["model"]["7.weight"]  # fc1, 3.2M floats: its bytes appear once in the file
    at = bytes(raw).find(weights.numpy().tobytes()[:4096])
    assert at > 0
    raw[at + 1000:at + 1064] = bytes(b ^ 0xFF for b in raw[at + 1000:at + 1064])
    path.write_bytes(bytes(raw))


def test_flipped_bytes_in_a_tensor_are_refused_by_the_checksum(tiny, tmp_path, three_steps):
    """torch.load reads 64 flipped bytes without complaint; the stored sha256 does not match.
    The real process: exit 2, one line, no traceback, nothing written."""
    path = tmp_path / "latest.pt"
    path.write_bytes(three_steps.read_bytes())
    _flip_64_bytes_of_a_tensor(path)
    torch.load(path, weights_only=True)  # loads silently: only the checksum tells
    before = path.read_bytes()
    proc = subprocess.run([sys.executable, "-m", "mnist_cnn.train", "--resume", str(path), "--data-dir", tiny],
                          capture_output=True, text=True, timeout=HANG_S, cwd=ROOT)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == (f"python -m mnist_cnn.train: error: argument --resume: {path} is corrupt: its contents do "
                           f"not match the sha256 checksum stored in it; resume from a good copy, or start the run "
                           f"again\n")
    assert path.read_bytes() == before


def test_every_checkpoint_carries_the_checksum_of_its_contents(three_steps):
    state = _state(three_steps)
    assert state[checkpoint.CHECKSUM] == checkpoint.digest(state)
    state["step"] += 1
    assert state[checkpoint.CHECKSUM] != checkpoint.digest(state)


def test_an_old_checkpoint_without_a_checksum_is_resumed_with_a_note(tiny, tmp_path, three_steps, capsys):
    """Written before checkpoints carried one: its values are still checked; the note says its
    bytes cannot be, and the checkpoint written next carries a checksum."""
    state = _state(three_steps)
    del state[checkpoint.CHECKSUM]
    folder = tmp_path / "old"
    folder.mkdir()
    torch.save(state, folder / "latest.pt")
    assert train.main(["--resume", str(folder), "--steps", "4", "--data-dir", tiny]) == 0
    assert _one_line(capsys) == (f"note: {folder / 'latest.pt'} carries no checksum (written before checkpoints had "
                                 f"one), so its bytes cannot be verified; its values are checked, and the next "
                                 f"checkpoint will carry one")
    resumed = _state(folder / "latest.pt")
    assert resumed["step"] == 4 and resumed[checkpoint.CHECKSUM] == checkpoint.digest(resumed)


# --- where a resumed run writes -------------------------------------------------------------------

def _event_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("events.out.tfevents.*"))


def _three_steps_with_relative_folders(tiny, tmp_path, monkeypatch) -> tuple[Path, Path]:
    """A 3-step run started in tmp_path/start with --logdir runs --checkpoint-dir ckpt (relative);
    returns that folder and an empty one beside it, to resume from."""
    start, elsewhere = tmp_path / "start", tmp_path / "elsewhere"
    start.mkdir(), elsewhere.mkdir()
    monkeypatch.chdir(start)
    assert train.main(run_args(tiny, Path("."), "--steps", "3", "--summary-every", "3", summaries=True)) == 0
    return start, elsewhere


def test_a_resume_from_another_folder_writes_where_the_run_lives(tiny, tmp_path, monkeypatch):
    """Relative --logdir and --checkpoint-dir: the checkpoint stores the run folder absolute, so a
    resume from elsewhere adds its events to the run, not to a new ./runs there."""
    start, elsewhere = _three_steps_with_relative_folders(tiny, tmp_path, monkeypatch)
    assert _state(start / "ckpt" / "t" / "latest.pt")["run_dir"] == str(start / "runs" / "t")
    before = _event_files(start / "runs" / "t")
    monkeypatch.chdir(elsewhere)
    assert train.main(["--resume", str(start / "ckpt" / "t"), "--steps", "6"]) == 0
    assert len(_event_files(start / "runs" / "t")) == len(before) + 1
    assert list(elsewhere.iterdir()) == []


def test_an_old_checkpoints_relative_run_folder_is_found_from_where_the_checkpoint_lies(
        tiny, tmp_path, monkeypatch):
    """Older checkpoints stored the run folder relative to where the run started: that folder is
    <start>/<checkpoint_dir>/<name>/latest.pt minus <checkpoint_dir>/<name>/latest.pt."""
    start, elsewhere = _three_steps_with_relative_folders(tiny, tmp_path, monkeypatch)
    path = start / "ckpt" / "t" / "latest.pt"
    state = _state(path)
    state["run_dir"] = "runs/t"
    del state[checkpoint.CHECKSUM]  # as an old version wrote it
    torch.save(state, path)
    before = _event_files(start / "runs" / "t")
    monkeypatch.chdir(elsewhere)
    assert train.main(["--resume", str(path), "--steps", "6"]) == 0
    assert len(_event_files(start / "runs" / "t")) == len(before) + 1
    assert list(elsewhere.iterdir()) == []


# --- the checkpoint file itself ---------------------------------------------------------------------

def test_a_resume_removes_the_temp_files_of_killed_checkpoint_writes(tiny, tmp_path, capsys):
    assert train.main(run_args(tiny, tmp_path, "--steps", "2")) == 0
    folder = tmp_path / "ckpt" / "t"
    stale = folder / ".latest.pt.k1ll3d_x.tmp"  # what a SIGKILLed write leaves (see test_hostile_files)
    stale.write_bytes(b"half a checkpoint")
    assert train.main(["--resume", str(folder), "--steps", "3", "--data-dir", tiny]) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["latest.pt"]


def test_a_symlinked_checkpoint_is_written_through(tiny, tmp_path):
    assert train.main(run_args(tiny, tmp_path, "--steps", "2")) == 0
    folder, kept = tmp_path / "ckpt" / "t", tmp_path / "kept.pt"
    (folder / "latest.pt").rename(kept)
    (folder / "latest.pt").symlink_to(kept)
    assert train.main(["--resume", str(folder), "--steps", "3", "--data-dir", tiny]) == 0
    assert (folder / "latest.pt").is_symlink() and _state(kept)["step"] == 3


def test_checkpoints_get_the_users_umask(tiny, tmp_path):
    old = os.umask(0o027)
    try:
        assert train.main(run_args(tiny, tmp_path, "--steps", "1")) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "ckpt" / "t" / "latest.pt").stat().st_mode) == 0o640
