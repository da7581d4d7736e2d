"""Hostile targets for the files we write (issue 25, part C 4): atomic_write refuses anything
but a regular file (a symlink is written through), gives new files the user's umask, and
removes the temporary files of writers that were killed, never a live writer's. At the level
of atomic_write, of `crosscheck --json` and of the trainer's checkpoints."""
import os
import signal
import stat
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from crosscheck.cli import main as crosscheck_main
from nn_crosscheck_common import NotARegularFile, atomic_write, remove_stale_temps

ROOT = Path(__file__).resolve().parent.parent
HANG_S = 600  # only turns a hang into a failure


def _write(text):
    return lambda f: f.write(text.encode())


@pytest.fixture
def umask():
    """Set the process umask for one test, and put the old one back."""
    old = os.umask(0o022)
    os.umask(old)
    yield lambda mask: os.umask(mask)
    os.umask(old)


# --- only regular files ----------------------------------------------------------------------

def _target(kind: str, tmp_path: Path) -> Path:
    path = tmp_path / "target"
    if kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "link-to-directory":
        (tmp_path / "d").mkdir()
        path.symlink_to(tmp_path / "d")
    return path


@pytest.mark.parametrize("kind,what", [("directory", "a directory"), ("fifo", "a FIFO"),
                                       ("link-to-directory", "a directory")],
                         ids=["directory", "fifo", "link-to-directory"])
def test_a_target_that_is_not_a_regular_file_is_refused(tmp_path, kind, what):
    path = _target(kind, tmp_path)
    with pytest.raises(NotARegularFile, match=f"is {what}; only a regular file is written there"):
        atomic_write(path, _write("x"))
    assert not path.is_file() and not list(tmp_path.rglob(".target.*"))  # nothing replaced, no temp file


def test_dev_null_is_refused_before_anything_is_created(monkeypatch):
    """A character device is never replaced (as root it would replace the system's /dev/null):
    refused before a temporary file is made or anything renamed."""
    def forbidden(*args, **kwargs):
        raise AssertionError("atomic_write went on to write beside /dev/null")
    monkeypatch.setattr(tempfile, "mkstemp", forbidden)
    monkeypatch.setattr(os, "replace", forbidden)
    with pytest.raises(NotARegularFile, match="/dev/null is a character device"):
        atomic_write("/dev/null", _write("x"))
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_symlink_is_written_through(tmp_path):
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    atomic_write(link, _write("new"))
    assert link.is_symlink() and real.read_text() == "new"
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "made.json")
    atomic_write(dangling, _write("made"))
    assert dangling.is_symlink() and (tmp_path / "made.json").read_text() == "made"


# --- modes ---------------------------------------------------------------------------------

@pytest.mark.parametrize("mask,mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)],
                         ids=["umask-022", "umask-027", "umask-077"])
def test_new_files_get_the_users_umask(tmp_path, umask, mask, mode):
    umask(mask)
    atomic_write(tmp_path / "report.json", _write("{}"))
    assert stat.S_IMODE((tmp_path / "report.json").stat().st_mode) == mode


def test_a_replaced_file_keeps_its_mode(tmp_path, umask):
    umask(0o022)
    path = tmp_path / "report.json"
    path.write_text("old")
    path.chmod(0o640)
    atomic_write(path, _write("new"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o640 and path.read_text() == "new"


# --- stale temporary files -------------------------------------------------------------------

KILLED_WRITER = """
import sys, time
from nn_crosscheck_common import atomic_write
def write(f):
    f.write(b"half a checkpoint")
    f.flush()
    print("writing", flush=True)
    time.sleep(3600)
atomic_write(sys.argv[1], write)
"""


def test_a_killed_writers_temp_file_is_removed_by_the_next_write(tmp_path):
    """A writer SIGKILLed mid-write leaves .latest.pt.XXXXXXXX.tmp; the next write removes it,
    and leaves alone files that only look alike (another name, another pattern)."""
    path = tmp_path / "latest.pt"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path)], stdout=subprocess.PIPE, cwd=ROOT)
    try:
        assert proc.stdout.readline() == b"writing\n"  # its temporary file exists now
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=HANG_S)
    stale = list(tmp_path.glob(".latest.pt.*.tmp"))
    assert len(stale) == 1 and stale[0].read_bytes() == b"half a checkpoint"
    others = [tmp_path / name for name in (".other.pt.abcdefgh.tmp", ".latest.pt.mine.tmp", "latest.pt.abcdefgh.tmp")]
    for other in others:
        other.write_text("not ours to remove")
    atomic_write(path, _write("whole"))
    assert path.read_text() == "whole"
    assert not stale[0].exists() and all(other.exists() for other in others)


def test_a_live_writers_temp_file_is_never_removed(tmp_path):
    """A cleaner waits for the folder's lock, which a live writer holds until its rename."""
    path, writing, release, errors = tmp_path / "latest.pt", threading.Event(), threading.Event(), []

    def slow(f):
        f.write(b"a whole checkpoint")
        writing.set()
        assert release.wait(HANG_S)

    def writer():
        try:
            atomic_write(path, slow)
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    a = threading.Thread(target=writer)
    a.start()
    assert writing.wait(HANG_S)
    assert len(list(tmp_path.glob(".latest.pt.*.tmp"))) == 1
    removed = []
    b = threading.Thread(target=lambda: removed.extend(remove_stale_temps(path)))
    b.start()
    b.join(0.2)
    assert b.is_alive()  # waiting for the writer's lock, not removing its file
    release.set()
    a.join(HANG_S)
    b.join(HANG_S)
    assert errors == [] and removed == [] and path.read_bytes() == b"a whole checkpoint"


# --- crosscheck --json ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind,what", [("directory", "a directory"), ("fifo", "a FIFO")], ids=["directory", "fifo"])
def test_crosscheck_json_to_a_non_regular_file_is_one_line_before_checking(tmp_path, capsys, kind, what):
    path = _target(kind, tmp_path)
    assert crosscheck_main(["--model", "A", "--act", "relu", "--dtype", "float64", "--json", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # refused before any check ran
    assert captured.err == f"crosscheck: argument --json: {path} is {what}; only a regular file is written there, " \
                           f"so give the path of a file\n"


def test_crosscheck_json_through_a_symlink_with_the_umask(tmp_path, capsys, umask):
    umask(0o022)
    real, link = tmp_path / "real.json", tmp_path / "report.json"
    link.symlink_to(real)
    assert crosscheck_main(["--model", "A", "--act", "relu", "--dtype", "float64", "--no-fd", "--json", str(link)]) == 0
    assert link.is_symlink() and real.read_text().startswith("{")
    assert stat.S_IMODE(real.stat().st_mode) == 0o644
