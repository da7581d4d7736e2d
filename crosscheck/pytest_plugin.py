"""pytest plugin (installed with the project, entry point `pytest11`): check your NumPy network
against its torch twin from your own test files.

    from crosscheck import byo

    def test_my_network(crosscheck):                  # the fixture
        crosscheck(byo.rowmajor(layers, x, y, loss="mse"))
        crosscheck.file("my_net.py")                  # a file defining crosscheck_model()

    @pytest.mark.crosscheck("my_net.py", fd=False)    # the marker: checked before the test runs
    def test_my_net_file():
        ...

A file's path is taken relative to the test file's folder. A mismatch fails the test with the
table of layers and the slip found, in pytest's report, without a traceback. Loading the plugin
imports neither torch nor the checker: pytest loads it in every run of the environment."""
from __future__ import annotations

from pathlib import Path

import pytest

MARKER = "crosscheck"


class Checker:
    """The `crosscheck` fixture: call it on a byo model, or .file() on a --user file."""

    def __init__(self, folder: Path):
        self.folder = folder

    def __call__(self, model, seed: int = 0, fd: bool = True):
        """Check `model` (byo.rowmajor(...), byo.cnn(...), ...); return its result, or fail."""
        from .check.byo import assert_matches_torch  # imports torch
        return assert_matches_torch(model, seed=seed, fd=fd)

    def file(self, path: str, seed: int = 0, fd: bool = True):
        """Check the model a file's crosscheck_model() returns (as `crosscheck --user FILE`)."""
        from .check.byo import call_model_factory
        from .check.user_code import load_user_file
        full = str(self.folder / path)
        return self(call_model_factory(load_user_file(full), full), seed=seed, fd=fd)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}(file, seed=0, fd=True): check the network that the file's "
                                       "crosscheck_model() returns against its torch twin before the test runs")


@pytest.fixture
def crosscheck(request: pytest.FixtureRequest) -> Checker:
    """Check a NumPy network against its torch twin: crosscheck(model) or crosscheck.file(path)."""
    return Checker(Path(request.node.path).parent)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    marker = item.get_closest_marker(MARKER)
    if marker is not None:
        if len(marker.args) != 1:
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.{MARKER} takes one file, "
                                    f"got {len(marker.args)} arguments")
        Checker(Path(item.path).parent).file(marker.args[0], **marker.kwargs)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A mismatch reads as the checker's table and the test's line, not as a traceback."""
    outcome = yield
    report = outcome.get_result()
    result = getattr(call.excinfo.value, "result", None) if call.excinfo else None
    if report.failed and result is not None and type(call.excinfo.value).__name__ == "TorchMismatch":
        report.longrepr = f"{_where(item, call.excinfo)}: your network does not match its torch twin\n{result}"


def _where(item: pytest.Item, excinfo) -> str:
    """'test_file.py:12': the test's own line that checked, or (a marker) the test's first line."""
    lines = [entry.lineno + 1 for entry in excinfo.traceback if Path(entry.path) == Path(item.path)]
    return f"{item.location[0]}:{lines[-1] if lines else (item.location[1] or 0) + 1}"
