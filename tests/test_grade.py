"""`crosscheck grade` on a synthetic class (tests/grading_class.py): every grade as expected,
every misbehaviour contained with its reason, the grader's folder unchanged; reruns skip what
is unchanged; three shards merged give the one run's CSV; Gradescope's results.json."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from crosscheck import cli
from crosscheck.grade import outputs, pool, sandbox
from crosscheck.grade.assignment import load_assignment
from crosscheck.grade.submissions import discover
from grading_class import FULL, PARTS, cases, fast_assignment, write_class


def _snapshot(*folders: Path) -> dict:
    """Every file and folder under `folders`, with its content's hash."""
    seen = {}
    for folder in folders:
        for here, dirs, files in os.walk(folder):
            seen[here] = "dir"
            for name in files:
                path = os.path.join(here, name)
                seen[path] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return seen


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The class graded once, on two workers; the grader's folder (the assignment file and a
    canary) and the submissions folder snapshotted before and after."""
    root = tmp_path_factory.mktemp("grading")
    grader, subs, out = root / "grader", root / "subs", root / "grader_out"
    grader.mkdir()
    subs.mkdir()
    (grader / "canary.txt").write_text("untouched")
    assignment_path = fast_assignment(grader)
    class_cases = cases(str(grader), str(subs))
    write_class(subs, class_cases)
    before = _snapshot(grader, subs)
    assignment = load_assignment(str(assignment_path))
    results = pool.grade_class(assignment, discover(str(subs), assignment.digest), str(out), jobs=2)
    outputs.write_all(assignment, results, str(out))
    return {"cases": {c.name: c for c in class_cases}, "results": {r.student: r for r in results},
            "before": before, "after": _snapshot(grader, subs), "assignment": assignment, "out": out,
            "subs": subs, "grader": grader}


def test_every_submission_is_graded_as_expected(graded):
    assert set(graded["results"]) == set(graded["cases"])
    for name, case in graded["cases"].items():
        result = graded["results"][name]
        got = {p.part: p.points for p in result.parts}
        assert got == case.points(), f"{name}: {got} ({[(p.part, p.status, p.feedback) for p in result.parts]})"
        for part in result.parts:
            if part.part in case.loses:
                status, words = case.loses[part.part]
                assert part.status == status and words in part.feedback, (name, part)
            else:
                assert part.status == "passed", (name, part)
        assert case.output_has in result.output, (name, result.output[:300])
        assert not case.note_has or any(case.note_has in n for n in result.notes), (name, result.notes)


def test_the_slips_are_named_with_reference_against_theirs(graded):
    affine = next(p for p in graded["results"]["slip_bias_mean"].parts if p.part == "affine")
    assert affine.slip.startswith("extra 1/N")
    assert "bias.grad" in affine.feedback and "the reference gives" in affine.feedback and "yours" in affine.feedback
    assert "0:affine" in affine.feedback   # which layer
    relu = next(p for p in graded["results"]["slip_relu_passes_all"].parts if p.part == "relu")
    assert "relu" in relu.feedback and "grad_in" in relu.feedback


def test_misbehaviour_is_contained_with_its_reason(graded):
    r = graded["results"]
    sgd = next(p for p in r["bad_loop"].parts if p.part == "sgd")
    assert sgd.feedback == "timed out after 5 s in sgd"
    relu = next(p for p in r["bad_alloc"].parts if p.part == "relu")
    assert "used more than 2048 MiB" in relu.feedback
    assert all(p.feedback == "not graded: started more than 16 processes" for p in r["bad_fork"].parts)
    assert all("it exited during import: called sys.exit(3) (at bad_exit.py:2)" in p.feedback for p in r["bad_exit"].parts)
    assert r["bad_print"].output_bytes >= 100 << 20 and len(r["bad_print"].output) <= 64 * 1024


def test_the_same_class_graded_twice_gives_the_same_bytes(graded, tmp_path):
    a = graded["assignment"]
    subs = tmp_path / "subs"
    subs.mkdir()
    for name in ("bea_notebook.ipynb", "slip_bias_mean.py", "bad_print.py"):
        (subs / name).write_text((graded["subs"] / name).read_text())
    for run in ("one", "two"):
        outputs.write_all(a, pool.grade_class(a, discover(str(subs), a.digest), str(tmp_path / run), jobs=2),
                          str(tmp_path / run))
    for rel in ("grades.csv", "summary.html", "results/bea_notebook.json", "results/slip_bias_mean.json",
                "results/bad_print.json", "feedback/bad_print.txt"):
        assert (tmp_path / "one" / rel).read_bytes() == (tmp_path / "two" / rel).read_bytes(), rel


@pytest.mark.skipif(not sandbox.landlock_abi(), reason="no Landlock on this kernel: files are protected by "
                                                       "permissions only (docs/grading.md#isolation)")
def test_nothing_outside_its_folder_is_written_or_read(graded):
    assert graded["after"] == graded["before"]   # the grader's folder and the submissions, byte for byte
    assert graded["results"]["bad_write"].output.count("blocked PermissionError") == 3
    read = graded["results"]["bad_read"].output
    assert read.count("blocked PermissionError") == 2 and "alice.py" not in read and "read " not in read


def test_it_sees_a_scrubbed_environment_and_only_its_own_files(graded):
    lines = dict(line.split(" ", 1) for line in graded["results"]["env_probe"].output.splitlines())
    assert lines["ENV"] == ("HOME,LANG,MKL_NUM_THREADS,MPLBACKEND,MPLCONFIGDIR,OMP_NUM_THREADS,OPENBLAS_NUM_THREADS,"
                            "PATH,PYTHONDONTWRITEBYTECODE,TMPDIR")
    assert lines["BACKEND"].lower() == "agg cwd true"
    assert lines["FILES"] == "['env_probe.py']"


def test_notebooks_skip_magics_with_a_note_and_plot_off_screen(graded):
    r = graded["results"]["bea_notebook"]
    notes = "\n".join(r.notes)
    for magic in ("'%matplotlib inline'", "'!pip install numpy'", "'%%time'"):
        assert f"skipped {magic} (IPython only)" in notes
    assert "bea_notebook.ipynb[cell 6] raised RuntimeError" in notes
    assert "plotted" in r.output


def test_outputs_csv_feedback_and_summary(graded):
    out = graded["out"]
    lines = (out / "grades.csv").read_text().splitlines()
    assert lines[0] == "student," + ",".join(f"{p} ({FULL[p]})" for p in PARTS) + ",total (50)"
    assert "alice,10,5,10,15,5,5,50" in lines
    assert len(lines) == 1 + len(graded["cases"])
    text = (out / "feedback" / "slip_bias_mean.txt").read_text()
    assert text.startswith("two-layer net: slip_bias_mean: 25 / 50 points") and "[0/10] affine: failed" in text
    page = (out / "summary.html").read_text()
    assert "extra 1/N (" in page and "sortBy(" in page and "Score distribution" in page


def test_a_rerun_skips_the_unchanged_and_regrades_the_changed(graded, tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    a = graded["assignment"]
    for name in ("alice", "slip_sgd_uphill"):
        (subs / f"{name}.py").write_text((graded["subs"] / f"{name}.py").read_text())
    first = pool.grade_class(a, discover(str(subs), a.digest), str(out), jobs=2)
    (subs / "slip_sgd_uphill.py").write_text((graded["subs"] / "alice.py").read_text())
    seen = []
    second = pool.grade_class(a, discover(str(subs), a.digest), str(out), jobs=2,
                              progress=lambda r, cached: seen.append((r.student, cached)))
    assert sorted(seen) == [("alice", True), ("slip_sgd_uphill", False)]
    assert first[0] == second[0] and second[1].points == 50 and first[1].points == 45


def test_three_shards_merged_give_the_one_run_csv(graded, tmp_path):
    a = graded["assignment"]
    subs = graded["subs"]
    folders = []
    for i in (1, 2, 3):
        out = tmp_path / f"shard{i}"
        folders.append(str(out))
        # each shard grades only its own share; the others' results would be read from the one run
        mine = pool.in_shard(discover(str(subs), a.digest), (i, 3))
        (out / "results").mkdir(parents=True)
        for sub in mine:   # the class's results stand in for a shard's run (each was graded alone)
            pool.write_result(str(out), graded["results"][sub.student])
    assert cli.main(["grade", str(graded["grader"] / "assignment.toml"), "--merge", *folders,
                     "--out", str(tmp_path / "merged")]) == 0
    assert (tmp_path / "merged" / "grades.csv").read_text() == (graded["out"] / "grades.csv").read_text()
    shares = [len(os.listdir(Path(f) / "results")) for f in folders]
    assert sum(shares) == len(graded["cases"]) and max(shares) - min(shares) <= 1


def test_shards_run_through_the_command_then_merge(tmp_path, graded):
    subs = tmp_path / "subs"
    subs.mkdir()
    for name in ("alice", "slip_bias_mean", "slip_sgd_uphill", "slip_reg_missing"):
        (subs / f"{name}.py").write_text((graded["subs"] / f"{name}.py").read_text())
    toml = str(graded["grader"] / "assignment.toml")
    assert cli.main(["grade", toml, str(subs), "--out", str(tmp_path / "one"), "--jobs", "2"]) == 0
    for i in (1, 2, 3):
        assert cli.main(["grade", toml, str(subs), "--shard", f"{i}/3", "--out", str(tmp_path / f"s{i}"),
                         "--jobs", "1"]) == 0
    assert cli.main(["grade", toml, "--merge", *(str(tmp_path / f"s{i}") for i in (1, 2, 3)),
                     "--out", str(tmp_path / "merged")]) == 0
    assert (tmp_path / "merged" / "grades.csv").read_text() == (tmp_path / "one" / "grades.csv").read_text()
    assert [len(os.listdir(tmp_path / f"s{i}" / "results")) for i in (1, 2, 3)] == [2, 1, 1]


def test_gradescope_results_json_for_one_submission(tmp_path, graded):
    path = tmp_path / "results" / "results.json"
    assert cli.main(["grade", str(graded["grader"] / "assignment.toml"), str(graded["subs"] / "slip_bias_mean.py"),
                     "--gradescope", str(path), "--out", str(tmp_path / "out")]) == 0
    doc = json.loads(path.read_text())
    assert doc["score"] == 25
    assert [t["name"] for t in doc["tests"]] == list(PARTS)
    affine = doc["tests"][0]
    assert affine["score"] == 0 and affine["max_score"] == 10 and affine["status"] == "failed"
    assert "extra 1/N" in affine["output"]
