"""Detection rate on the planted-bug corpus: `python benchmarks/corpus.py`.

Cases come from tests/corpus/mlp_cases.py and, when they exist, tests/corpus/cnn_cases.py,
tests/corpus/norm_cases.py, tests/corpus/recurrent_cases.py and tests/corpus/public_cases.py (each
defines cases() -> list[tests.corpus.case.Case]). The public corpus (networks published on PyPI, conventions
"public/<source>") is reported in its own table with each source's glue lines, and kept out of
"all": "public" totals the rows the current API checks, "public, needs API" the rows marked
`needs` (reported, not asserted)."""
from __future__ import annotations

import contextlib
import importlib
import io
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
MODULES = ("tests.corpus.mlp_cases", "tests.corpus.cnn_cases", "tests.corpus.norm_cases",
           "tests.corpus.recurrent_cases", "tests.corpus.recurrent_dlai_cases", "tests.corpus.public_cases")
COLUMNS = ("clean pass", "detected", "pinned", "slip right", "crashes")


def collect():
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    out = []
    for name in MODULES:
        if (ROOT / (name.replace(".", "/") + ".py")).exists():
            out.extend(importlib.import_module(name).cases())
    return out


def _check(make):
    from crosscheck import byo
    with contextlib.redirect_stdout(io.StringIO()):
        return byo.check(make(), fd=True)


def _refusal(err: ValueError):
    """A one-line refusal 'layer N (...): ...' as a culprit row (layer, slip), else None."""
    words = str(err).split()
    if len(words) < 2 or words[0] != "layer" or not words[1].isdigit():
        return None
    return SimpleNamespace(layer=int(words[1]), slip=str(err))


def run_case(case) -> dict:
    """Counts for one case: clean passes, bug detected, pinned to its layer, slip named right."""
    r = {"clean": 0, "clean_ok": 0, "bugs": 0, "detected": 0, "pinned": 0, "named": 0, "named_right": 0,
         "crashes": 0, "failures": []}
    try:
        r["clean"], r["clean_ok"] = 1, int(_check(case.make_clean).passed)
        if not r["clean_ok"]:
            r["failures"].append(f"{case.convention}/{case.name}: clean net FAILS")
        if case.make_buggy is None:
            return r
        r["bugs"] = 1
        try:
            res = _check(case.make_buggy)
            r["detected"], culprit = int(not res.passed), res.culprit()
        except ValueError as err:  # refused in one line naming the layer (a conv whose output shape
            culprit = _refusal(err)  # its padding cannot give): detected there, the line names the slip
            if culprit is None:
                raise
            r["detected"] = 1
        r["pinned"] = int(culprit is not None and culprit.layer == case.layer)
        if culprit is not None and culprit.slip:
            r["named"] = 1
            r["named_right"] = int(case.slip is not None and case.slip in culprit.slip)
        if not (r["detected"] and r["pinned"]) or (r["named"] and not r["named_right"]):
            r["failures"].append(f"{case.convention}/{case.name}: detected={r['detected']} culprit="
                                 f"{culprit.layer if culprit else None} (want {case.layer}) slip="
                                 f"{culprit.slip if culprit else ''!r} (want {case.slip!r})")
    except Exception as err:  # the tool must not crash on any case: count it
        r["crashes"] = 1
        r["failures"].append(f"{case.convention}/{case.name}: crashed: {type(err).__name__}: {err}")
    return r


def run(cases=None) -> dict[str, dict]:
    totals: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    failures = defaultdict(list)
    for case in cases if cases is not None else collect():
        r = run_case(case)
        failures[_aggregate(case)] += r.pop("failures")
        for key in (case.convention, _aggregate(case)):
            for k, v in r.items():
                totals[key][k] += v
    for key, lines in failures.items():
        totals[key]["failures"] = lines
    return totals


def _aggregate(case) -> str:
    if not case.convention.startswith("public/"):
        return "all"
    return "public, needs API" if getattr(case, "needs", None) else "public"


def _is_public(key: str) -> bool:
    return key.startswith("public")


def table(totals) -> str:
    lines = [f"{'convention':<12} {'clean nets pass':>16} {'bugs detected':>14} {'pinned to layer':>16} "
             f"{'slips named right':>18} {'crashes':>8}"]
    for conv, t in sorted(((k, v) for k, v in totals.items() if not _is_public(k)), key=lambda kv: kv[0] == "all"):
        lines.append(f"{conv:<12} {t['clean_ok']:>7}/{t['clean']:<8} {t['detected']:>6}/{t['bugs']:<7} "
                     f"{t['pinned']:>7}/{t['bugs']:<8} {t['named_right']:>8}/{t['named']:<9} {t['crashes']:>8}")
    return "\n".join(lines)


def glue_report(cases) -> dict:
    """Glue lines per public source (its glue function's body): {source: (lines, needs)}, with
    the median and max over the sources the current API checks and over all."""
    from tests.corpus.public_cases import glue_lines
    per = {}
    for case in cases:
        if case.convention.startswith("public/") and case.glue is not None and case.name == "clean":
            per[f"{case.convention} ({case.source})"] = (glue_lines(case.glue), case.needs)
    ok = [n for n, needs in per.values() if not needs]
    every = [n for n, _ in per.values()]
    return {"sources": per, "median": statistics.median(ok) if ok else None, "max": max(ok, default=None),
            "median_all": statistics.median(every) if every else None, "max_all": max(every, default=None)}


def public_table(totals, glue=None) -> str:
    """The public corpus's rows: per style, then the asserted and the needs-API totals."""
    lines = [f"{'public source style':<26} {'clean nets pass':>16} {'bugs detected':>14} {'pinned to layer':>16} "
             f"{'slips named right':>18} {'crashes':>8}"]
    keys = sorted(k for k in totals if k.startswith("public/")) + [k for k in ("public", "public, needs API")
                                                                   if k in totals]
    for conv in keys:
        t = totals[conv]
        lines.append(f"{conv:<26} {t['clean_ok']:>7}/{t['clean']:<8} {t['detected']:>6}/{t['bugs']:<7} "
                     f"{t['pinned']:>7}/{t['bugs']:<8} {t['named_right']:>8}/{t['named']:<9} {t['crashes']:>8}")
    if glue:
        lines.append(f"glue lines per source: median {glue['median']}, max {glue['max']} (checked by the current "
                     f"API); median {glue['median_all']}, max {glue['max_all']} (all sources)")
        for source, (n, needs) in glue["sources"].items():
            lines.append(f"  {n:>3}  {source}" + (f"  [needs: {needs}]" if needs else ""))
    return "\n".join(lines)


if __name__ == "__main__":
    collect()  # puts the checkout on sys.path
    from benchmarks.versions import versions_line
    print(versions_line())
    cases = collect()
    result = run(cases)
    print(table(result))
    print(public_table(result, glue_report(cases)))
    for key in ("all", "public", "public, needs API"):
        for line in result.get(key, {}).get("failures", []):
            print(f"  [{key}] {line}")
