"""Our bugs look like our bugs: an unexpected exception inside the harness is a traceback, a
request for a bug report and exit status 4, never a NaN row, "bad input" (2) or "a check
failed" (1); the user's code raising stays 3, input we refused stays 2."""
import numpy as np
import pytest

from crosscheck import cli
from crosscheck.check import harness
from crosscheck.check.user_code import refused_on_purpose
from nn_crosscheck_common import EXIT_INTERNAL, EXIT_USAGE, EXIT_USER_CODE
from numpy_impl import Linear
from numpy_impl import functional as NF

PRESET = ["--model", "A", "--act", "relu", "--dtype", "float64", "--no-fd"]
USER_FILE = '''
import os
import numpy as np
from crosscheck import byo


class Dense:
    def __init__(self, W):
        self.W, self.b = W, np.zeros(W.shape[1])

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dy):
        if os.environ.get("PLANTED_RAISE"):
            raise KeyError("planted")
        self.dW, self.db = self.x.T @ dy, dy.sum(axis=0)
        return dy @ self.W.T


def crosscheck_model():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 3))
    x[0, 0] = float(os.environ.get("FIRST_INPUT", x[0, 0]))
    return byo.rowmajor([Dense(rng.normal(size=(3, 2)))], x, rng.normal(size=(5, 2)))
'''


def _bug_report(err: str, status: int) -> str:
    assert status == EXIT_INTERNAL == 4, err
    assert "Traceback (most recent call last)" in err
    assert "internal error" in err and "please report it" in err.splitlines()[-1]
    return err


def test_an_exception_planted_in_the_harness_is_a_bug_report(monkeypatch, capsys):
    def planted(*args, **kwargs):
        raise RuntimeError("planted in the harness")
    monkeypatch.setattr(harness, "_layer_runs", planted)
    status = cli.main(PRESET)
    err = _bug_report(capsys.readouterr().err, status)
    assert "RuntimeError: planted in the harness" in err


def test_our_layer_breaking_in_the_local_run_is_a_bug_report_not_a_nan_row(monkeypatch, capsys):
    layer_runs = harness._layer_runs

    def armed(*args, **kwargs):  # numpy_impl's Linear breaks only in the harness's local runs
        monkeypatch.setattr(Linear, "backward", lambda self, dy: 1 / 0)
        return layer_runs(*args, **kwargs)
    monkeypatch.setattr(harness, "_layer_runs", armed)
    status = cli.main(PRESET)
    out = capsys.readouterr()
    assert "ZeroDivisionError" in _bug_report(out.err, status)
    assert "warning:" not in out.out and "nan" not in out.out.lower()


def test_numpys_value_error_on_our_line_is_a_bug_not_bad_input(monkeypatch, capsys):
    # numpy refusing shapes our own code handed it (a matmul in numpy_impl): a ValueError, but
    # not one our validation raised, so not "a bad flag, file or input"
    monkeypatch.setattr(harness, "_kept", lambda a: NF.linear_forward(np.ones((2, 3)), np.ones((4, 4)), 0.0))
    status = cli.main(PRESET)
    err = _bug_report(capsys.readouterr().err, status)
    assert "ValueError" in err and "matmul" in err


def test_a_users_layer_raising_in_the_harness_is_still_their_code(tmp_path, monkeypatch, capsys):
    path = tmp_path / "mine.py"
    path.write_text(USER_FILE)
    layer_runs = harness._layer_runs

    def armed(*args, **kwargs):  # the layer raises only in the harness's local runs
        monkeypatch.setenv("PLANTED_RAISE", "1")
        return layer_runs(*args, **kwargs)
    monkeypatch.setattr(harness, "_layer_runs", armed)
    assert cli.main(["--user", str(path), "--no-fd"]) == EXIT_USER_CODE
    err = capsys.readouterr().err.strip()
    assert "layer 0 (Dense).backward raised KeyError" in err and "mine.py:17" in err
    assert "Traceback" not in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("args,env,needle", [
    (["--user", "no_such_file.py"], None, "--user: no such file"),
    (["--user", "{path}", "--no-fd"], "nan", "input: contains NaN at [0, 0]"),  # validated before any layer runs
], ids=["missing-file", "nan-input"])
def test_input_we_refused_is_still_one_line_exit_2(tmp_path, monkeypatch, capsys, args, env, needle):
    path = tmp_path / "mine.py"
    path.write_text(USER_FILE)
    if env:
        monkeypatch.setenv("FIRST_INPUT", env)
    assert cli.main([a.format(path=path) for a in args]) == EXIT_USAGE
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_help_documents_status_4(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "4 internal error" in capsys.readouterr().out


def test_what_our_validation_refused_is_told_from_numpys_complaints():
    def raised(fn, *args):
        with pytest.raises(ValueError) as info:
            fn(*args)
        return info.value
    assert refused_on_purpose(raised(Linear(3, 2).forward, np.ones((4, 5))))  # Linear checks its input
    assert not refused_on_purpose(raised(NF.linear_forward, np.ones((2, 3)), np.ones((4, 4)), 0.0))
    assert not refused_on_purpose(raised(int, "x"))  # not our code at all
