"""`crosscheck grade`'s pieces without the pool: the assignment file refused key by key in one
line, notebooks read with their magics skipped, shards that split a class, and each example
assignment graded in-process on its solution and on a planted slip."""
from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest

from crosscheck import cli
from crosscheck.grade import pool
from crosscheck.grade.assignment import load_assignment
from crosscheck.grade.parts import grade_part
from crosscheck.grade.submissions import discover, notebook_cells, one, sources
from grading_class import EXAMPLE, notebook, planted

ROOT = Path(__file__).resolve().parents[1]
GOOD = EXAMPLE.read_text()

BAD = [
    ("unknown_key", GOOD.replace('name = "two-layer net"', 'name = "x"\ncolour = 1'), "colour: unknown key"),
    ("bad_kind", GOOD.replace('kind = "loss"', 'kind = "lossy"'), "part[2].kind: must be one of layer, loss"),
    ("bad_points", GOOD.replace("points = 10", "points = -1", 1), "part[0].points: must be a number > 0"),
    ("no_such_layer", GOOD.replace('layer = "relu"\n', 'layer = "tanh"\n'), "part[1].layer: must name a layer"),
    ("duplicate", GOOD.replace('name = "relu"', 'name = "affine"'), "two parts are named 'affine'"),
    ("no_network", GOOD.split("[network]")[0] + "[[part]]" + GOOD.split("[[part]]", 1)[1],
     "part[0]: a layer part is checked in the [network] table"),
    ("bad_rule", GOOD.replace('rule = "adam"', 'rule = "rmsprop"'), "part[5].rule: must be one of sgd"),
    ("not_toml", "name = ", "not a valid TOML file"),
    ("last_layer", GOOD.replace('"relu", { layer = "affine", units = 4 }]', '{ layer = "affine", units = 4 }, "relu"]'),
     "network.layers: the last layer must be an affine layer"),
]


@pytest.mark.parametrize("text, words", [(t, w) for _, t, w in BAD], ids=[i for i, _, _ in BAD])
def test_a_bad_assignment_is_one_line_naming_the_file_and_key(tmp_path, capsys, text, words):
    path = tmp_path / "a.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match="^" + str(path)):
        load_assignment(str(path))
    (tmp_path / "subs").mkdir()
    assert cli.main(["grade", str(path), str(tmp_path / "subs")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err and str(path) in err, err


@pytest.mark.parametrize("args, words", [
    (["grade", "missing.toml", "subs"], "missing.toml: cannot read the assignment file"),
    (["grade", str(EXAMPLE), "no_such_folder"], "SUBMISSIONS: no such folder 'no_such_folder'"),
    (["grade", str(EXAMPLE), "subs", "--shard", "4/3"], "--shard: must be i/n with 1 <= i <= n"),
    (["grade", str(EXAMPLE), "subs", "--shard", "x"], "--shard: must be i/n"),
    (["grade", str(EXAMPLE)], "SUBMISSIONS: give the folder of submissions"),
    (["grade", str(EXAMPLE), "subs", "--merge", "a"], "--merge: joins finished shards"),
    (["grade", str(EXAMPLE), "--merge", "nowhere"], "--merge: nowhere holds no results/ folder"),
    (["grade", str(EXAMPLE), "empty"], "SUBMISSIONS: empty holds no .py file"),
], ids=["no_assignment", "no_folder", "shard_range", "shard_text", "no_submissions", "merge_and_subs",
        "merge_nothing", "empty_folder"])
def test_bad_command_lines_are_exit_2_in_one_line(tmp_path, monkeypatch, capsys, args, words):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "a.py").write_text("x = 1\n")
    (tmp_path / "empty").mkdir()
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err, err


def test_notebook_magics_are_skipped_with_a_note_and_blocks_stay_valid():
    raw = notebook(["%matplotlib inline\nimport numpy as np", "for i in range(2):\n    !echo hi\n", "%%bash\nls",
                    "get_ipython().run_line_magic('x', '')\ny = 2"]).encode()
    cells, notes = notebook_cells(raw, "nb.ipynb")
    assert [c.filename for c in cells] == [f"nb.ipynb[cell {k}]" for k in (1, 2, 3, 4)]
    assert all(c.keep_going for c in cells)
    ns = {}
    for c in cells:
        exec(compile(c.code, c.filename, "exec"), ns)
    assert ns["y"] == 2 and "np" in ns
    assert notes == ["nb.ipynb cell 1: skipped '%matplotlib inline' (IPython only)",
                     "nb.ipynb cell 2: skipped '!echo hi' (IPython only)",
                     "nb.ipynb cell 3: skipped '%%bash' (IPython only)",
                     "nb.ipynb cell 4: skipped \"get_ipython().run_line_magic('x', '')\" (IPython only)"]
    assert notebook_cells(b"{not json", "bad.ipynb") == ([], ["bad.ipynb: not a readable notebook (JSON with cells); "
                                                              "nothing in it ran"])


def test_a_key_changes_with_the_files_and_the_assignment(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "main.py").write_text("x = 1\n")
    (tmp_path / "s" / "pkg").mkdir()
    (tmp_path / "s" / "pkg" / "util.py").write_text("y = 2\n")
    first = one(str(tmp_path / "s"), "a")
    assert [rel for rel, _ in first.files] == ["main.py", "pkg/util.py"] and first.student == "s"
    assert [s.filename for s in sources(first)[0]] == ["main.py"]
    assert one(str(tmp_path / "s"), "b").key != first.key
    (tmp_path / "s" / "pkg" / "util.py").write_text("y = 3\n")
    assert one(str(tmp_path / "s"), "a").key != first.key


def test_shards_split_the_class_evenly_and_cover_it(tmp_path):
    for k in range(10):
        (tmp_path / f"st{k}.py").write_text("")
    subs = discover(str(tmp_path), "a")
    shards = [pool.in_shard(subs, (i, 3)) for i in (1, 2, 3)]
    assert sorted(s.student for sh in shards for s in sh) == sorted(s.student for s in subs)
    assert [len(sh) for sh in shards] == [4, 3, 3]
    assert pool.parse_shard(" 2 / 3 ") == (2, 3)


def test_result_files_never_clash_or_escape(tmp_path):
    assert pool.result_path("o", "alice").endswith("o/results/alice.json")
    odd = pool.result_path("o", "../x y")
    assert "/results/" in odd and ".." not in Path(odd).name and odd != pool.result_path("o", "../x_y")


def test_the_two_layer_example_solution_earns_every_part_and_each_slip_loses_its_own():
    a = load_assignment(str(EXAMPLE))
    solution = runpy.run_path(str(ROOT / "examples" / "grading" / "solution_two_layer_net.py"))
    assert [grade_part(a, p, solution).status for p in a.parts] == ["passed"] * len(a.parts)
    ns = {}
    exec(planted(('config["t"] += 1', 'config["t"] = 1')), ns)
    adam = grade_part(a, a.parts[-1], ns)
    assert adam.status == "failed" and adam.points == 0 and "step 2 of 10 differs from torch.optim" in adam.feedback


def test_the_small_cnn_example_names_a_flipped_kernel():
    a = load_assignment(str(ROOT / "examples" / "grading" / "small_cnn.toml"))
    path = ROOT / "examples" / "grading" / "solution_small_cnn.py"
    conv = a.parts[0]
    assert grade_part(a, conv, runpy.run_path(str(path))).status == "passed"
    ns = {}
    exec(path.read_text().replace("np.tensordot(window, w,", "np.tensordot(window, w[:, :, ::-1, ::-1],"), ns)
    got = grade_part(a, conv, ns)
    assert got.status == "failed" and got.slip.startswith("kernel flipped")
    assert "layer 0:conv" in got.feedback and "the reference gives" in got.feedback


def test_a_missing_function_and_a_raising_one_are_said_in_words():
    a = load_assignment(str(EXAMPLE))
    ns = runpy.run_path(str(ROOT / "examples" / "grading" / "solution_two_layer_net.py"))
    del ns["relu_backward"]
    assert grade_part(a, a.parts[1], ns).feedback == "relu_backward is not defined in your submission"

    def relu_backward(dout, cache):
        return dout / 0 if dout.size > 10**9 else 1 / 0

    ns["relu_backward"] = relu_backward
    got = grade_part(a, a.parts[1], ns)
    assert got.status == "error" and "layer 1 (relu).backward raised ZeroDivisionError" in got.feedback
    assert json.loads(json.dumps(got.to_json())) == got.to_json()


@pytest.mark.parametrize("kernel_list", [True, False], ids=["children_file", "proc_scan"])
def test_the_process_tree_is_found_and_killed(monkeypatch, kernel_list):
    """In a forked stand-in for a worker (this process may hold a pool): its child and
    grandchild are found, then killed."""
    import os
    import time

    from crosscheck.grade import tree
    monkeypatch.setattr(tree, "_HAS_CHILDREN_FILE", kernel_list and tree._HAS_CHILDREN_FILE)
    worker = os.fork()
    if worker == 0:
        code = 1
        try:
            pid = os.fork()
            if pid == 0:   # a child with a grandchild, both asleep
                if os.fork() == 0:
                    time.sleep(30)
                time.sleep(30)
                os._exit(0)
            deadline = time.monotonic() + 10
            while len(tree.descendants()) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            found = len(tree.descendants()) == 2 and pid in tree.descendants()
            tree.kill_tree()
            code = 0 if found and not [p for p in tree.descendants() if tree.alive(p)] else 1
        finally:
            os._exit(code)
    assert os.waitpid(worker, 0)[1] == 0


def test_merge_refuses_a_student_graded_differently_or_against_another_assignment(tmp_path):
    from crosscheck.grade.parts import PartOutcome
    from crosscheck.grade.runner import SubmissionResult
    a = load_assignment(str(EXAMPLE))

    def result(points: float, digest: str = a.digest) -> SubmissionResult:
        parts = tuple(PartOutcome(p.name, points, p.points, "passed", "") for p in a.parts)
        return SubmissionResult("ann", "k", digest, parts, (), "", 0)

    for folder, r in (("one", result(0)), ("two", result(0)), ("three", result(1)), ("four", result(0, "other"))):
        pool.write_result(str(tmp_path / folder), r)
    assert [r.student for r in pool.merge(a, [str(tmp_path / "one"), str(tmp_path / "two")])] == ["ann"]
    with pytest.raises(ValueError, match="ann is graded differently in two folders"):
        pool.merge(a, [str(tmp_path / "one"), str(tmp_path / "three")])
    with pytest.raises(ValueError, match="was graded against another assignment"):
        pool.merge(a, [str(tmp_path / "four")])
