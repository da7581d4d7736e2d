"""A submission cannot forge its own grade (docs/grading.md#isolation): the checks run in a
process that never runs the student's code and reads only restricted trees from it. Each case
cheats on top of a submission whose real code deserves a known grade; the grade must be that."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from crosscheck.grade import pool
from crosscheck.grade.assignment import load_assignment
from crosscheck.grade.parts import grade_part
from crosscheck.grade.submissions import discover
from grading_class import FULL, PARTS, ROOT, SOLUTION, fast_assignment, planted

PASSED = {p: json.dumps({"part": p, "points": FULL[p], "max_points": FULL[p], "status": "passed",
                         "feedback": "matches the reference", "slip": ""}) for p in PARTS}

# At import: every function the old in-process checker used replaced by one that says PASS.
PATCH = '''
import builtins, importlib, sys

class _Pass:
    passed = True
    rows = []
    slip = ""

def _forge(*args, **kwargs):
    return _Pass()

def _patch():
    for module, names in (("crosscheck.check.byo", ("check",)), ("crosscheck.check.byo.check", ("check",)),
                          ("crosscheck.grade.parts", ("check_rule",)), ("crosscheck.train.byo_optim", ("check_rule",))):
        try:
            m = importlib.import_module(module)
        except Exception:
            continue
        for name in names:
            setattr(m, name, _forge)
    for module in ("crosscheck.grade.parts", "crosscheck.grade.runner", "crosscheck.grade.checker"):
        m = sys.modules.get(module)
        if m is not None and hasattr(m, "grade_part"):
            real = m.grade_part
            def passed(assignment, part, namespace, real=real):
                from crosscheck.grade.parts import PartOutcome
                return PartOutcome(part.name, float(part.points), float(part.points), "passed", "matches the reference")
            m.grade_part = passed

_real_import = builtins.__import__

def _import(name, *args, **kwargs):   # whatever the checker imports later is patched too
    module = _real_import(name, *args, **kwargs)
    if name.startswith("crosscheck"):
        _patch()
    return module

builtins.__import__ = _import
_patch()
'''

# Forged reports written to every inherited file descriptor, at import and in a part.
FORGE_FDS = '''
import os as _os
_FORGED = %r

def _forge_fds():
    data = "".join("result\\t%%d\\t%%s\\n" %% (i, line) for i, line in enumerate(_FORGED)).encode()
    for fd in range(0, 51):
        try:
            _os.write(fd, data)
        except OSError:
            pass

_forge_fds()
''' % ([PASSED[p] for p in PARTS],)


def _evil_cache(marker: Path) -> str:
    """affine_forward's cache an object whose unpickling would write `marker`."""
    return planted(("    return out, (x, w, b)\n", "    return out, _Cache((x, w, b))\n"),
                   ("    x, w, b = cache\n", "    x, w, b = cache.inner\n")) + f'''

class _Cache:
    def __init__(self, inner):
        self.inner = inner

    def __reduce__(self):
        return (open, ({str(marker)!r}, "w"))
'''


CASES = {
    # name: (source, parts lost -> (status, words in the feedback))
    "cheat_patch": (planted(("db = dout.sum(axis=0)", "db = dout.mean(axis=0)")) + PATCH,
                    {"affine": ("failed", "extra 1/N"), "TwoLayerNet.loss": ("failed", "1/N")}),
    "cheat_fds": (planted(("w -= config", "w += config"),
                          ("def sgd(w, dw, config=None):\n", "def sgd(w, dw, config=None):\n    _forge_fds()\n"))
                  + FORGE_FDS, {"sgd": ("", "")}),
    "junk_returned": (planted(("    return np.maximum(0, x), x\n", "    return {'not', 'an array'}\n")),
                      {"relu": ("", "relu"), "TwoLayerNet.loss": ("", "")}),
    "junk_on_the_pipe": (planted(("    db = dout.sum(axis=0)\n",
                                  "    db = dout.sum(axis=0)\n    import os\n    for fd in range(3, 51):\n"
                                  "        try:\n            os.write(fd, b'\\xff\\xff\\xff\\x7f' + b'junk' * 64)\n"
                                  "        except OSError:\n            pass\n")),
                         {"affine": ("error", "could not be read"), "TwoLayerNet.loss": ("", "")}),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("forgery")
    grader, subs = root / "grader", root / "subs"
    grader.mkdir()
    subs.mkdir()
    marker = grader / "unpickled.txt"
    cases = dict(CASES, pickle_cache=(_evil_cache(marker), {}))
    for name, (text, _) in cases.items():
        (subs / f"{name}.py").write_text(text)
    assignment = load_assignment(str(fast_assignment(grader)))
    results = pool.grade_class(assignment, discover(str(subs), assignment.digest), str(root / "out"), jobs=2)
    return {"cases": cases, "results": {r.student: r for r in results}, "marker": marker}


@pytest.mark.parametrize("name", [*CASES, "pickle_cache"])
def test_a_cheat_gets_what_its_real_code_deserves(graded, name):
    _, loses = graded["cases"][name]
    result = graded["results"][name]
    got = {p.part: p.points for p in result.parts}
    assert got == {p: 0 if p in loses else FULL[p] for p in PARTS}, \
        f"{name}: {[(p.part, p.status, p.feedback) for p in result.parts]}"
    assert not [n for n in result.notes if "internal error" in n], result.notes
    for part in result.parts:
        if part.part in loses:
            status, words = loses[part.part]
            assert part.feedback and (not status or part.status == status) and words in part.feedback, (name, part)


def test_an_object_returned_is_never_unpickled_by_the_grader(graded):
    assert not graded["marker"].exists()
    affine = next(p for p in graded["results"]["pickle_cache"].parts if p.part == "affine")
    assert affine.status == "passed"   # its cache went back to its backward as it was


def _in_process(assignment, text: str) -> list[dict]:
    ns = {}
    exec(compile(text, "sub.py", "exec"), ns)
    return [grade_part(assignment, part, ns).to_json() for part in assignment.parts]


def test_through_the_proxies_every_outcome_is_what_the_checks_give_in_process(tmp_path):
    """The same points, status, feedback and slip as the checks give on the functions themselves."""
    cnn = ROOT / "examples" / "grading" / "small_cnn.toml"
    cnn_solution = (ROOT / "examples" / "grading" / "solution_small_cnn.py").read_text()
    classes = {
        "two_layer": (fast_assignment(tmp_path), {
            "good": SOLUTION, "adam_t": planted(('config["t"] += 1', 'config["t"] = 1')),
            "bias_mean": planted(("db = dout.sum(axis=0)", "db = dout.mean(axis=0)")),
            "raises": planted(("def relu_backward(dout, cache):\n", "def relu_backward(dout, cache):\n    1 / 0\n"))}),
        "cnn": (cnn, {"good": cnn_solution, "flipped": cnn_solution.replace(
            "np.tensordot(window, w,", "np.tensordot(window, w[:, :, ::-1, ::-1],")})}
    for name, (path, texts) in classes.items():
        assignment = load_assignment(str(path))
        subs = tmp_path / name
        subs.mkdir()
        for student, text in texts.items():
            (subs / f"{student}.py").write_text(text)
        results = pool.grade_class(assignment, discover(str(subs), assignment.digest), str(tmp_path / f"out_{name}"),
                                   jobs=2)
        for result in results:
            want = _in_process(assignment, texts[result.student])
            got = [p.to_json() for p in result.parts]
            assert got == [dict(w, feedback=w["feedback"].replace("sub.py", f"{result.student}.py")) for w in want], \
                (name, result.student)
