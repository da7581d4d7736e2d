"""The console scripts of pyproject.toml's [project.scripts], run from a folder that is not the
checkout, as a user who installed the project runs them."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mnist_helpers import write_tiny_mnist
from nn_crosscheck_common import program

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the virtual environment's bin/, where the scripts are


def run(cwd, script, *args):
    return subprocess.run([str(BIN / script), *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_crosscheck_checks_a_users_file_from_their_folder(tmp_path):
    (tmp_path / "examples").mkdir()
    shutil.copy(ROOT / "examples" / "byo_rowmajor.py", tmp_path / "examples")
    proc = run(tmp_path, "crosscheck", "--user", "examples/byo_rowmajor.py", "--no-fd")
    assert proc.returncode == 0, proc.stdout[-1500:] + proc.stderr[-1500:]
    assert "byo_rowmajor" in proc.stdout and "1 checks: 1 passed, 0 failed" in proc.stdout


def test_crosscheck_names_itself_in_help_and_errors(tmp_path):
    assert run(tmp_path, "crosscheck", "--help").stdout.startswith("usage: crosscheck ")
    proc = run(tmp_path, "crosscheck", "--model", "Z")
    assert proc.returncode == 2 and proc.stderr.startswith("crosscheck: unknown model 'Z'")


def test_mnist_cnn_train_dry_run_from_another_folder(tmp_path):
    data = write_tiny_mnist(tmp_path / "mnist")
    work = tmp_path / "work"
    work.mkdir()
    proc = run(work, "mnist-cnn-train", "--dry-run", "--data-dir", str(data), "--batch-size", "10",
               "--run-name", "t")
    assert proc.returncode == 0, proc.stdout[-1500:] + proc.stderr[-1500:]
    assert "dry run OK" in proc.stdout


@pytest.mark.parametrize("argv0,module,script,expected", [
    ("/venv/bin/mnist-cnn-train", "mnist_cnn.train", "mnist-cnn-train", "mnist-cnn-train"),
    ("/venv/bin/mnist-cnn-sweep", "mnist_cnn.sweep", "mnist-cnn-sweep", "mnist-cnn-sweep"),
    ("/checkout/mnist_cnn/train.py", "mnist_cnn.train", "mnist-cnn-train", "python -m mnist_cnn.train"),
    ("/checkout/crosscheck/__main__.py", "crosscheck", "crosscheck", "python -m crosscheck"),
], ids=["train-script", "sweep-script", "train-module", "crosscheck-module"])
def test_commands_name_themselves_as_they_were_called(monkeypatch, argv0, module, script, expected):
    monkeypatch.setattr(sys, "argv", [argv0])
    assert program(module, script) == expected
