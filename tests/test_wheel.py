"""`pip install .` (not editable): the wheel holds every package of the project and its entry
points, and its commands run from any folder. The wheel goes into a fresh virtual environment
that borrows this one's libraries through a .pth line (a second torch would cost gigabytes), so
the project itself can only come from the wheel."""
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("numpy_impl", "reference", "crosscheck", "mnist_cnn", "nn_crosscheck_common")


def run(*cmd, cwd=None):
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{cmd}: {proc.stdout[-2000:]}{proc.stderr[-2000:]}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built by uv (as `pip install .` would, in an isolated build environment) from
    a copy of the checkout, so that no build/ or *.egg-info lands in it."""
    tmp = tmp_path_factory.mktemp("wheel")
    # what git tracks or would track (new files included), not what it ignores (.venv, runs/, ...)
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           capture_output=True, text=True, check=True).stdout.split("\0")
    src = tmp / "src"
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_bytes((ROOT / name).read_bytes())
    run(sys.executable, "-m", "uv", "build", "--wheel", "--quiet", "--out-dir", tmp / "dist", src)
    (built,) = (tmp / "dist").glob("nn_crosscheck-*.whl")
    return built


def test_the_wheel_holds_every_package_and_entry_point(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    ours = [str(init.relative_to(ROOT)) for p in PACKAGES for init in (ROOT / p).rglob("*.py")]
    missing = [p for p in ours if p not in names]
    assert not missing, f"modules missing from the wheel (a folder without __init__.py?): {missing}"
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    for line in ("crosscheck = crosscheck.cli:main", "mnist-cnn-train = mnist_cnn.train:main",
                 "mnist-cnn-sweep = mnist_cnn.sweep:main", "crosscheck = crosscheck.pytest_plugin"):
        assert line in text, text
    assert not [n for n in names if n.split("/")[0] in ("tests", "benchmarks", "examples", "scripts")]


def test_the_installed_command_runs_from_any_folder(wheel, tmp_path):
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    # this environment's libraries, as a plain path: its own .pth files (the editable install
    # of this checkout among them) are not read from there
    site.joinpath("borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(sys.executable, "-m", "uv", "pip", "install", "--quiet", "--no-deps", "--python", python, wheel)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = run(python, "-c", "import crosscheck, mnist_cnn; print(crosscheck.__file__, mnist_cnn.__file__)",
                cwd=elsewhere).stdout.split()
    assert all(Path(w).is_relative_to(site) for w in where), where
    proc = run(venv / "bin" / "crosscheck", "--model", "A", cwd=elsewhere)
    assert " 0 failed" in proc.stdout.splitlines()[-1], proc.stdout
    assert "usage: mnist-cnn-train" in run(venv / "bin" / "mnist-cnn-train", "--help", cwd=elsewhere).stdout
