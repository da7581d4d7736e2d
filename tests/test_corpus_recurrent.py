"""The recurrent corpus rows (tests/corpus/recurrent_cases.py, CS231n's functions and layer objects;
tests/corpus/recurrent_dlai_cases.py, deeplearning.ai's column-major functions) on their own:
every clean net passes, every planted bug is detected, pinned to its layer and to the time step
where the steps first go wrong, named where a name is expected, and nothing crashes."""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from benchmarks.corpus import run_case  # noqa: E402
from tests.corpus import recurrent_cases, recurrent_dlai_cases  # noqa: E402

from crosscheck import byo  # noqa: E402


def _step_pinned(case) -> bool:
    """The steps' culprit (or, where no step is wrong on torch's inputs, their first divergence)
    is where the case says; a case without a step expects every step right on torch's inputs."""
    (steps,) = byo.check(case.make_buggy(), fd=False).steps
    row = steps.culprit() or steps.first_divergence()
    if case.step is None:
        return steps.culprit() is None
    return row is not None and (row.stack, row.t, row.quantity) == case.step


def test_recurrent_corpus_rows():
    rows = recurrent_cases.cases() + recurrent_dlai_cases.cases()
    bugs = [c for c in rows if c.make_buggy]
    assert len([c for c in bugs if c.convention.startswith("recurrent-cs231n")]) >= 14
    assert len([c for c in bugs if c.convention.startswith("recurrent-dlai")]) >= 12
    assert {c.convention for c in rows} == {"recurrent-cs231n-rnn", "recurrent-cs231n-lstm", "recurrent-objects",
                                            "recurrent-dlai-rnn", "recurrent-dlai-lstm"}
    totals = [run_case(c) for c in rows]
    failures = [f for t in totals for f in t["failures"]]
    assert sum(t["crashes"] for t in totals) == 0, failures
    assert sum(t["clean_ok"] for t in totals) == len(rows), failures
    assert sum(t["detected"] for t in totals) == len(bugs), failures
    assert sum(t["pinned"] for t in totals) == len(bugs), failures
    assert sum(t["named_right"] for t in totals) == sum(t["named"] for t in totals) >= 28, failures
    assert all(_step_pinned(c) for c in bugs), [c.name for c in bugs if not _step_pinned(c)]
