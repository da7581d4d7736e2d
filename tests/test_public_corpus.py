"""The public corpus (tests/corpus/public_cases.py: hand-written NumPy networks published on
PyPI, installed as pinned test dependencies, used as written): the rows the current byo API
checks pass clean, every planted bug is found, pinned to its layer and, where a slip is named,
named right; nothing crashes, and their glue is at most 8 lines. Rows marked `needs` (an API
feature byo lacks) are reported by benchmarks/corpus.py, not asserted here."""
import pathlib
import sys
from importlib import metadata

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from benchmarks.corpus import glue_report, public_table, run  # noqa: E402
from tests.corpus import public_cases  # noqa: E402


def test_the_sources_are_the_pinned_packages():
    for package, (pin, url, licence) in public_cases.SOURCES.items():
        assert metadata.version(package) == pin.split("==")[1], pin
    pyproject = (pathlib.Path(__file__).resolve().parent.parent / "pyproject.toml").read_text()
    assert all(f'"{pin}"' in pyproject for pin, _, _ in public_cases.SOURCES.values())


def test_public_corpus_targets():
    cases = public_cases.cases()
    assert len({c.convention for c in cases}) >= 12  # network styles (sources), from 8 packages
    checked = [c for c in cases if not c.needs]
    assert len({c.convention for c in checked}) >= 6
    assert len([c for c in checked if c.make_buggy]) >= 18
    totals = run(checked)
    glue = glue_report(cases)
    print(public_table(totals, glue))
    t = totals["public"]
    assert t["crashes"] == 0, t["failures"]
    assert t["clean_ok"] == t["clean"], t["failures"]
    assert t["detected"] == t["bugs"], t["failures"]
    assert t["pinned"] == t["bugs"], t["failures"]
    assert t["named_right"] == t["named"], t["failures"]
    assert glue["max"] <= 8, glue["sources"]
    assert glue["median"] <= 3, glue["sources"]
