"""The layering is code: the import-linter contracts in pyproject.toml hold, and they bite."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("numpy_impl", "reference", "crosscheck", "mnist_cnn", "nn_crosscheck_common")


def _lint(root: Path) -> subprocess.CompletedProcess:
    """lint-imports on the packages under `root` (PYTHONPATH first, so a copy shadows the install)."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    code = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True))"
    return subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True,
                          timeout=120)


def test_contracts_hold():
    out = _lint(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "BROKEN" not in out.stdout


def test_a_forbidden_import_breaks_a_contract(tmp_path):
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    spec = tmp_path / "numpy_impl" / "spec.py"
    spec.write_text(spec.read_text() + "\nimport torch  # forbidden: numpy_impl never imports torch\n")
    check = tmp_path / "crosscheck" / "check" / "harness.py"
    check.write_text(check.read_text() + "\nfrom ..train import lockstep  # forbidden: check -> train\n")
    half = tmp_path / "crosscheck" / "check" / "byo" / "convnet" / "model.py"
    half.write_text(half.read_text() + "\nfrom ..mlp import whole  # forbidden: one byo half -> the other\n")
    out = _lint(tmp_path)
    assert out.returncode != 0
    assert "numpy_impl imports neither torch" in out.stdout and "BROKEN" in out.stdout
    assert "checking one model needs neither training nor the studies" in out.stdout
    assert "byo's two halves import only their shared part and check/, never each other BROKEN" in out.stdout
