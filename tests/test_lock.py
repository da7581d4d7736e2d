"""The lock: uv.lock agrees with pyproject.toml, this environment is what it pins, and
scripts/setup.sh refuses a stale lock in one line (so CI fails rather than install something else)."""
import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks.versions import LIBRARIES, locked, versions_line

ROOT = Path(__file__).resolve().parent.parent


def test_the_lock_agrees_with_pyproject():
    proc = subprocess.run([sys.executable, "-m", "uv", "lock", "--check"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr


def test_this_environment_has_the_locked_versions():
    assert set(LIBRARIES) <= set(locked())
    assert versions_line().endswith("(as locked in uv.lock)"), versions_line()


def test_setup_refuses_a_stale_lock_in_one_line(tmp_path):
    """A copy of the project whose pyproject.toml dropped a dependency the lock still holds;
    its .venv is ours (setup.sh stops before it installs anything)."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "setup.sh", tmp_path / "scripts")
    shutil.copy(ROOT / "uv.lock", tmp_path)
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '    "tqdm>=4.66",\n' in pyproject
    (tmp_path / "pyproject.toml").write_text(pyproject.replace('    "tqdm>=4.66",\n', ""))
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    installed = (ROOT / ".venv" / ".installed").read_text()
    proc = subprocess.run(["bash", "scripts/setup.sh"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "setup.sh: uv.lock is out of date with pyproject.toml: run '.venv/bin/python -m uv lock' and commit uv.lock"]
    assert (ROOT / ".venv" / ".installed").read_text() == installed
