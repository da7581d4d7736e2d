"""Bad input to `python -m crosscheck` gets one line and a documented exit status, never a
traceback and never a silent default (issue 15, items 11 and 12)."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args):
    return subprocess.run([sys.executable, "-m", "crosscheck", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def one_line(proc) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


@pytest.mark.parametrize("args,needle", [
    (["train", "--steps", "0"], "--steps: must be >= 1"),
    (["train", "--steps", "-5"], "--steps: must be >= 1"),
    (["train", "--lr", "0"], "--lr: must be > 0"),
    (["train", "--lr", "nan"], "--lr: must be a finite number"),
    (["train", "--lr", "inf"], "--lr: must be a finite number"),
    (["train", "--decay", "1.5"], "--decay: must lie in (0, 1]"),
    (["train", "--decay", "0"], "--decay: must be > 0"),
    (["train", "--batch-size", "0"], "--batch-size: must be >= 1"),
    (["train", "--opt", "rmsprop"], "unknown optimizer 'rmsprop'; choose from: sgd, adam"),
    (["study", "descent", "--steps", "0"], "--steps: must be >= 1"),
    (["study", "depth", "--epochs", "-1"], "--epochs: must be >= 1"),
    (["study", "nope"], "unknown study 'nope'; choose from: depth, stress"),
    (["study", "stress", "--roll", "12"], "roll: needs an identifier of at least three digits"),
    (["study", "descent", "--decay", "2"], "--decay: must lie in (0, 1]"),
    (["--seed", "-1"], "--seed: must be >= 0"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_bad_values_are_one_line_exit_2(args, needle):
    proc = run(*args)
    assert proc.returncode == 2
    assert needle in one_line(proc)


@pytest.mark.parametrize("source,needle,status", [
    ("def crosscheck_model(:\n    pass\n", "mine.py:1: syntax error", 3),
    ("import numpy\nraise RuntimeError('boom')\n", "importing", 3),
    ("def crosscheck_model():\n    return 1 / 0\n", "ZeroDivisionError", 3),
    ("import sys\ndef crosscheck_model():\n    sys.exit(0)\n", "called sys.exit(0)", 3),
    ("def crosscheck_model():\n    return 42\n", "returned int", 2),
    ("x = 1\n", "defines no crosscheck_model()", 2),
], ids=["syntax-error", "raises-on-import", "raises-in-factory", "sys-exit", "wrong-return-type", "no-function"])
def test_user_file_failures_are_one_line_with_their_own_status(tmp_path, source, needle, status):
    path = tmp_path / "mine.py"
    path.write_text(source)
    proc = run("--user", str(path))
    assert proc.returncode == status, proc.stdout + proc.stderr
    line = one_line(proc)
    assert needle in line
    if status == 3 and "syntax" not in needle:
        assert "mine.py:" in line  # the user's own file and line


def test_help_documents_the_exit_statuses():
    proc = run("--help")
    assert proc.returncode == 0
    assert "exit status: 0" in proc.stdout and "3 your own code" in proc.stdout


def test_broken_mnist_files_are_one_line_not_a_traceback(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (raw / name).write_bytes(b"\x1f\x8b" + bytes(98))  # still gzipped
    proc = run("--model", "mnist_cnn", "--data-dir", str(tmp_path), "--no-fd", "--dtype", "float64")
    assert proc.returncode == 2
    assert "t10k-images-idx3-ubyte" in one_line(proc)
