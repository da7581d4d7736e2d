"""The published detection rate: every clean net passes, every planted bug is found, pinned
to its layer, and the slips the tool names are named right."""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from benchmarks.corpus import collect, run, table  # noqa: E402


def test_corpus_targets():
    cases = [c for c in collect() if not c.convention.startswith("public/")]  # tests/test_public_corpus.py
    assert len([c for c in cases if c.make_buggy]) >= 60
    assert len({c.convention for c in cases}) >= 5
    totals = run(cases)
    t = totals["all"]
    print(table(totals))
    assert t["crashes"] == 0, t["failures"]
    assert t["clean_ok"] == t["clean"], t["failures"]
    assert t["detected"] == t["bugs"], t["failures"]
    assert t["pinned"] >= 0.95 * t["bugs"], t["failures"]
    assert t["named_right"] >= 0.90 * t["named"], t["failures"]
    norm = [totals[c] for c in totals if c.startswith("norm-")]  # tests/corpus/norm_cases.py (issue 20)
    bugs = sum(n["bugs"] for n in norm)
    assert len(norm) >= 3 and bugs >= 20
    assert sum(n["detected"] for n in norm) == bugs and sum(n["clean_ok"] for n in norm) == sum(n["clean"] for n in norm)
    assert sum(n["pinned"] for n in norm) >= 0.95 * bugs
    assert sum(n["named_right"] for n in norm) >= 0.90 * bugs  # named, and named right, not merely not misnamed
    recurrent = [totals[c] for c in totals if c.startswith("recurrent-")]  # tests/corpus/recurrent_cases.py
    bugs = sum(n["bugs"] for n in recurrent)  # issue 21; the time-step pins: tests/test_corpus_recurrent.py
    assert bugs >= 14 and sum(n["detected"] for n in recurrent) == bugs
    assert sum(n["pinned"] for n in recurrent) >= 0.95 * bugs
