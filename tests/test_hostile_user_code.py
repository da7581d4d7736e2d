"""Hostile user code and files on `crosscheck --user` (issue 25 A): whatever the user's file does
(exits, loops, crashes the interpreter, hands bad values) is told in one line with its own
status (2 bad input, 3 your code, 4 ours), never a PASS or FAIL and never a silent exit 0.
Cases that end or hang the process run the real command in a subprocess; the rest run
cli.main in-process."""
import textwrap

import pytest
from test_cli_inputs import one_line, run

from crosscheck import cli
from crosscheck.check import harness
from nn_crosscheck_common import EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, EXIT_USER_CODE

# A one-layer row-major network; {forward} and {top} plant what a case needs.
NET = '''
import os, sys
import numpy as np
from crosscheck import byo
{top}

class Dense:
    def __init__(self, W):
        self.W, self.b = W, np.zeros(W.shape[1])

    def forward(self, x):
        self.x = x
        {forward}
        return x @ self.W + self.b

    def backward(self, dy):
        self.dW, self.db = self.x.T @ dy, dy.sum(axis=0)
        return dy @ self.W.T


def crosscheck_model():
    rng = np.random.default_rng(0)
    {factory}
    return byo.rowmajor([Dense(rng.normal(size=(3, 2)))], rng.normal(size=(5, 3)), rng.normal(size=(5, 2)))
'''


def user_file(tmp_path, top="", forward="pass", factory="pass", name="mine.py"):
    path = tmp_path / name
    path.write_text(NET.format(top=top, forward=forward, factory=factory))
    return path


EXIT_ON_ARRAY = '''
class Sneaky:  # returned for an array: numpy reading it, outside any call of the user's, exits
    def __array__(self, *args, **kwargs):
        sys.exit(5)
'''

SNEAKY_AFTER_PROBE = "self.calls = getattr(self, 'calls', 0) + 1\n        if self.calls > 1: return Sneaky()"

# (id, file options, extra flags, status, needle); run as the real command, in a subprocess
CONTAINED = [
    ("os-exit-in-forward", dict(forward="os._exit(0)"), [], EXIT_USER_CODE,
     "your code: the check's process exited with status 0 (os._exit or a crash) during layer 0 (Dense).forward"),
    ("os-exit-on-import", dict(top="os._exit(0)"), [], EXIT_USER_CODE, "exited with status 0 (os._exit or a crash) "
                                                                       "during importing"),
    ("os-exit-in-factory", dict(factory="os._exit(7)"), [], EXIT_USER_CODE,
     "exited with status 7 (os._exit or a crash) during {path}: crosscheck_model()"),
    ("segfault-in-forward", dict(forward="import ctypes; ctypes.string_at(0)"), [], EXIT_USER_CODE,
     "was killed by SIGSEGV during layer 0 (Dense).forward"),
    # 3 s, not 1: the calls before the forward (the import, crosscheck_model()) take milliseconds,
    # and must not be the one named even when a loaded machine stalls them
    ("endless-loop-in-forward", dict(forward="while True: pass"), ["--timeout", "3"], EXIT_USER_CODE,
     "your code: layer 0 (Dense).forward did not return within 3 s (--timeout)"),
    ("blocked-on-import", dict(top="import time; time.sleep(600)"), ["--timeout", "1"], EXIT_USER_CODE,
     "did not return within 1 s (--timeout)"),
]


@pytest.mark.parametrize("options,flags,status,needle", [c[1:] for c in CONTAINED], ids=[c[0] for c in CONTAINED])
def test_user_code_that_ends_or_hangs_the_process_is_reported(tmp_path, options, flags, status, needle):
    path = user_file(tmp_path, **options)
    proc = run("--user", str(path), "--no-fd", *flags)
    assert proc.returncode == status, proc.stdout + proc.stderr
    assert needle.format(path=path) in one_line(proc)
    assert "PASS" not in proc.stdout and "FAIL" not in proc.stdout


def test_a_timeout_changes_nothing_for_code_that_finishes(tmp_path):
    path = user_file(tmp_path)
    plain, timed = run("--user", str(path), "--no-fd"), run("--user", str(path), "--no-fd", "--timeout", "600")
    assert plain.returncode == timed.returncode == EXIT_OK, plain.stderr + timed.stderr
    assert plain.stdout.splitlines()[:2] == timed.stdout.splitlines()[:2]


# (id, file options, extra flags, status, needle); run in-process with cli.main
IN_PROCESS = [
    ("sys-exit-in-forward", dict(forward="sys.exit()"), [], EXIT_USER_CODE,
     "your code: layer 0 (Dense).forward raised called sys.exit(None) (at {path}:13)"),
    ("sys-exit-outside-a-layer-call", dict(top=EXIT_ON_ARRAY, forward=SNEAKY_AFTER_PROBE), [], EXIT_USER_CODE,
     "your code: called sys.exit(5) (at {path}:8)"),
    ("json-empty-path", {}, ["--json", ""], EXIT_USAGE, "--json: empty path"),
    ("timeout-without-user", None, ["--model", "A", "--timeout", "5"], EXIT_USAGE, "--timeout: limits your own code"),
    ("timeout-zero", {}, ["--timeout", "0"], EXIT_USAGE, "--timeout: must be > 0, got 0"),
    ("factory-hands-byo-a-layer-not-a-list", dict(factory="return byo.rowmajor(Dense(np.ones((3, 2))), None, None)"), [],
     EXIT_USAGE, "byo.rowmajor: layers must be a list of layer objects, got Dense"),
    ("factory-raises-its-own-type-error", dict(factory="len(5)"), [], EXIT_USER_CODE,
     "crosscheck_model() raised TypeError: object of type 'int' has no len()"),
    ("forward-returns-none", dict(forward="return None"), [], EXIT_USAGE,
     "layer 0 (Dense).forward returned None; it must return its output"),
    ("forward-overflows", dict(forward="return np.exp(x * 1e3)"), [], EXIT_USAGE,
     "layer 0 (Dense): your forward's output contains Inf at"),
]


@pytest.mark.parametrize("options,flags,status,needle", [c[1:] for c in IN_PROCESS], ids=[c[0] for c in IN_PROCESS])
def test_bad_user_files_are_one_line_with_their_status(tmp_path, capsys, options, flags, status, needle):
    path = user_file(tmp_path, **options) if options is not None else None
    got = cli.main((["--user", str(path)] if path else []) + ["--no-fd", *flags])
    out = capsys.readouterr()
    assert got == status, out.out + out.err
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.err, out.err
    assert needle.format(path=path) in lines[0]
    assert "PASS" not in out.out and "FAIL" not in out.out


def test_a_syntax_error_in_a_module_the_user_imports_names_that_module(tmp_path, capsys):
    (tmp_path / "helpers.py").write_text("x = 1\ndef broken(:\n    pass\n")
    path = user_file(tmp_path, top="import helpers")
    assert cli.main(["--user", str(path), "--no-fd"]) == EXIT_USER_CODE
    line = capsys.readouterr().err.strip()
    assert f"{tmp_path / 'helpers.py'}:2: syntax error" in line and f"(imported by {path})" in line, line
    assert len(line.splitlines()) == 1


CNN = '''
import numpy as np
from crosscheck import byo

class Conv:
    def __init__(self, rng):
        self.W, self.b = rng.normal(0, .3, (2, 1, 3, 3)), np.zeros(2)
        self.stride, self.pad = 1, 1

    def forward(self, x):
        n, c, h, w = x.shape
        xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
        return np.einsum("nchwij,fcij->nfhw", np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(2, 3)),
                         self.W) + self.b[:, None, None]

    def backward(self, dy):
        raise NotImplementedError


class Flatten:
    def forward(self, x):
        self.shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, dy):
        return dy.reshape(self.shape)


class Dropout:
    def forward(self, x):
        return x

    def backward(self, dy):
        return dy


def crosscheck_model():
    rng = np.random.default_rng(0)
    x = rng.random((4, 1, 4, 4))
    {edit}
    return byo.cnn([Conv(rng), Flatten(), Dropout()], x, labels, loss="softmax_ce", **kw)
'''

CNN_CASES = [
    ("nan-in-2-of-4-images", "x[2, 0, 1, 1] = np.nan; x[3, 0, 0, 0] = np.inf; labels = np.arange(4); kw = {}",
     "input: contains NaN at [2, 0, 1, 1]"),
    ("label-40-of-32-classes", "labels = np.array([0, 1, 2, 40]); kw = {}", "target: labels must lie in [0, 32), got range [0, 40]"),
    ("4-images-2-labels", "labels = np.array([0, 1]); kw = {}", "target: 2 entries for 4 samples of input"),
    ("mask-for-layer-99", "labels = np.arange(4); kw = dict(masks={99: np.ones((4, 32))})", "masks: layer 99 does not exist"),
    ("mask-not-a-dict", "labels = np.arange(4); kw = dict(masks=[1])", "masks: must be a dict"),
    ("budget-nan", "labels = np.arange(4); kw = dict(budget_s=float('nan'))", "budget_s: must be a finite number > 0"),
    ("no-layers", "labels = np.arange(4); kw = {}; return byo.cnn([], x, labels)", "byo.cnn: layers is empty"),
    ("empty-batch", "x = x[:0]; labels = np.arange(0); kw = {}", "input: empty batch"),
    ("inf-conv-weights", "labels = np.arange(4); kw = {}; c = Conv(rng); c.W[1, 0, 2, 2] = np.inf; "
                         "return byo.cnn([c, Flatten()], x, labels)", "layer 0 (Conv): your weights contain Inf at [1, 0, 2, 2]"),
]


@pytest.mark.parametrize("edit,needle", [c[1:] for c in CNN_CASES], ids=[c[0] for c in CNN_CASES])
def test_bad_cnn_input_from_a_user_file_is_exit_2_never_a_verdict(tmp_path, capsys, edit, needle):
    path = tmp_path / "cnn.py"
    path.write_text(CNN.format(edit=edit))
    status = cli.main(["--user", str(path), "--no-fd"])
    out = capsys.readouterr()
    assert status == EXIT_USAGE, out.out + out.err
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in out.err, out.err
    assert "PASS" not in out.out and "FAIL" not in out.out


def test_our_torch_twin_running_out_of_memory_is_ours_with_the_size(tmp_path, monkeypatch, capsys):
    def short_of_memory(*args, **kwargs):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:83] data. DefaultCPUAllocator: can't allocate memory: "
                           "you tried to allocate 80000000000 bytes. Error code 12 (Cannot allocate memory)")
    monkeypatch.setattr(harness, "run_torch", short_of_memory)
    assert cli.main(["--user", str(user_file(tmp_path)), "--no-fd"]) == EXIT_INTERNAL
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "80000000000 bytes" in err and "not in yours" in err, err


def test_the_users_code_running_out_of_memory_is_theirs(tmp_path, capsys):
    path = user_file(tmp_path, forward="raise MemoryError('Unable to allocate 8.00 TiB for an array')")
    assert cli.main(["--user", str(path), "--no-fd"]) == EXIT_USER_CODE
    err = capsys.readouterr().err.strip()
    assert "layer 0 (Dense).forward raised MemoryError: Unable to allocate 8.00 TiB" in err and f"{path}:13" in err
