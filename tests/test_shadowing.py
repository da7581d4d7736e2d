"""A user's folder full of `common.py`, `utils.py`, `reference.py`, ... changes nothing we
import: the commands work from it, and a --user file's own imports get the user's modules."""
import subprocess
import sys

import pytest

from mnist_helpers import write_tiny_mnist

# Module names people give their helpers, and names of our own packages. (The package named
# after -m itself is found before any code of ours runs: a `crosscheck.py` there wins.)
NAMES = ("common", "utils", "reference", "layers", "numpy_impl")


def _write_namesake(folder, name):
    """A module that says loudly when imported, and is someone else's."""
    (folder / f"{name}.py").write_text(
        f"import sys\nsys.stderr.write('imported the user\\'s {name}.py\\n')\nWHO = 'user:{name}'\n")


@pytest.fixture
def users_folder(tmp_path):
    for name in NAMES:
        _write_namesake(tmp_path, name)
    return tmp_path


def _run(cwd, *args):
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_crosscheck_runs_from_a_folder_of_namesakes(users_folder):
    proc = _run(users_folder, "crosscheck", "--model", "A", "--act", "tanh", "--dtype", "float64")
    assert proc.returncode == 0, proc.stdout[-1500:] + proc.stderr[-1500:]
    assert "imported the user" not in proc.stderr
    assert "1 checks: 1 passed, 0 failed" in proc.stdout


def test_mnist_trainer_runs_from_a_folder_of_namesakes(users_folder, tmp_path_factory):
    tiny = str(write_tiny_mnist(tmp_path_factory.mktemp("mnist")))
    proc = _run(users_folder, "mnist_cnn.train", "--dry-run", "--data-dir", tiny, "--logdir", "runs",
                "--checkpoint-dir", "ck", "--batch-size", "10", "--run-name", "t")
    assert proc.returncode == 0, proc.stdout[-1500:] + proc.stderr[-1500:]
    assert "imported the user" not in proc.stderr


def test_a_user_file_imports_its_own_namesakes(users_folder):
    """The user's file imports its helpers by our packages' names and gets its own; our code
    (byo, the harness, the torch twin) still runs on ours afterwards."""
    names = (*NAMES, "mnist_cnn")
    _write_namesake(users_folder, "mnist_cnn")
    imports = "\n".join(f"import {name}\nassert {name}.WHO == 'user:{name}', {name}" for name in names)
    (users_folder / "net.py").write_text(imports + '''
import numpy as np


class Dense:
    def __init__(self, n_in, n_out, rng):
        self.W = rng.uniform(-0.5, 0.5, size=(n_in, n_out))
        self.b = np.zeros(n_out)

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dy):
        self.dW, self.db = self.x.T @ dy, dy.sum(axis=0)
        return dy @ self.W.T


def crosscheck_model():
    from crosscheck import byo
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 3))
    return byo.rowmajor([Dense(3, 4, rng), Dense(4, 2, rng)], x, rng.standard_normal((8, 2)), loss="mse")
''')
    proc = _run(users_folder, "crosscheck", "--user", "net.py")
    assert proc.returncode == 0, proc.stdout[-1500:] + proc.stderr[-1500:]
    for name in names:
        assert f"imported the user's {name}.py" in proc.stderr
