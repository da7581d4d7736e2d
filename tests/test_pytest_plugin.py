"""The pytest plugin as a user meets it: a repository with a right and a wrong network, its own
test file using the fixture, the marker and assert_matches_torch; pytest's report shows the
wrong layers and the slip, no traceback."""
import subprocess
import sys
from pathlib import Path

import crosscheck.check.byo  # noqa: F401  imported once here: the in-process runs below must not re-import torch

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
GOOD = (ROOT / "examples" / "byo_rowmajor.py").read_text()
BAD = GOOD.replace("self.db = dy.sum(axis=0)", "self.db = dy.mean(axis=0)")  # the bias gradient N times too small

TESTS = '''
import pytest

import crosscheck
from good_net import crosscheck_model as good
from bad_net import crosscheck_model as bad


def test_fixture_good(crosscheck):
    assert crosscheck(good()).passed


def test_fixture_bad(crosscheck):
    crosscheck(bad(), fd=False)


@pytest.mark.crosscheck("good_net.py")
def test_marker_good():
    pass


@pytest.mark.crosscheck("bad_net.py", fd=False)
def test_marker_bad():
    pass


def test_plain_assert_bad():
    crosscheck.assert_matches_torch(bad(), fd=False)
'''


def test_plugin_passes_the_right_network_and_reports_the_wrong_one(pytester):
    assert BAD != GOOD
    pytester.makepyfile(good_net=GOOD, bad_net=BAD, test_nets=TESTS)
    pytester.syspathinsert()
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=3)
    out = result.stdout.str()
    lines = TESTS.strip("\n").splitlines()
    for test, code in (("test_fixture_bad", "    crosscheck(bad(), fd=False)"),
                       ("test_marker_bad", '@pytest.mark.crosscheck("bad_net.py", fd=False)'),
                       ("test_plain_assert_bad", "    crosscheck.assert_matches_torch(bad(), fd=False)")):
        result.stdout.fnmatch_lines([f"*_ {test} _*", f"test_nets.py:{lines.index(code) + 1}: your network does "
                                     "not match its torch twin", "model * result", "*FAIL"])
    assert "bias.grad is N=64 times too small" in out
    assert "wrong layer: 4:Dense(8->1) bias.grad" in out
    assert "Traceback" not in out and "def test_" not in out  # the table, not the test's source


def test_the_marker_is_registered(pytester):
    pytester.makepyfile(test_x="import pytest\n\n@pytest.mark.crosscheck('x.py')\ndef test_x():\n    pass\n")
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.crosscheck(file, seed=0, fd=True):*"])


def test_loading_the_plugin_imports_no_torch():
    code = "import sys, crosscheck.pytest_plugin; assert 'torch' not in sys.modules, 'torch imported'"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
