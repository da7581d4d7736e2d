"""`python -m crosscheck` as a user runs it."""
import importlib.util
import json
import pathlib
import subprocess
import sys

import pytest

from crosscheck import TOLERANCES
from crosscheck.cli import parser, plan
from crosscheck.presets import PRESETS

ROOT = pathlib.Path(__file__).resolve().parent.parent


def run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "crosscheck", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_default_run_checks_every_preset_once_and_all_pass(tmp_path):
    """The one full preset sweep of the suite: every preset, activation and dtype of the
    default plan, each within its dtype's bar, finite differences within theirs."""
    report_path = tmp_path / "all.json"
    proc = run("--json", str(report_path))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    planned = len(plan(parser().parse_args(["check"])))
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:3] == ["model", "act", "dtype"]
    assert f"{planned} checks: {planned} passed, 0 failed" in proc.stdout
    assert any(line.startswith("mnist_cnn[train] ") and "float32" in line for line in lines)
    assert any(line.startswith("note: mnist_cnn: ") for line in lines)  # real or synthetic, it says which
    checks = json.loads(report_path.read_text())["checks"]
    assert {(c["model"], c["activation"]) for c in checks} >= {
        (name, act) for name, p in PRESETS.items() if name != "mnist_cnn" for act in p.activations}
    for c in checks:
        bar = TOLERANCES[c["dtype"]]
        assert c["passed"] and max(c["worst_forward"], c["worst_gradient"]) <= bar, c["model"]
        if c["dtype"] == "float64" and c["finite_differences"]:
            assert all(t["passed"] for t in c["finite_differences"])
            assert all(t["rel"] <= 1e-6 for t in c["finite_differences"] if not t["floor_dominates"])


@pytest.mark.parametrize("args,needle", [
    (["--model", "Z"], "unknown model 'Z'; choose from: A, B, C, D"),
    (["--dtype", "float16"], "unknown dtype 'float16'; choose from: float64, float32"),
    (["--act", "gelu"], "unknown activation 'gelu'; choose from:"),
    (["--user", "no_such_file.py"], "--user: no such file"),
], ids=["model", "dtype", "act", "user-file"])
def test_bad_choices_give_one_line(args, needle):
    proc = run(*args)
    assert proc.returncode == 2
    assert needle in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_selection_verbose_and_json(tmp_path):
    out = tmp_path / "report.json"
    proc = run("--model", "A", "--act", "relu", "--dtype", "float64", "-v", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "layer 0 linear: 4x3 + 4 = 16" in proc.stdout
    assert "1 checks: 1 passed" in proc.stdout
    report = json.loads(out.read_text())
    assert report["passed"] is True
    rows = report["checks"][0]["rows"]
    assert {r["quantity"] for r in rows} >= {"out", "grad_in", "weight.grad", "bias.grad", "loss"}
    assert all(r["accumulated"]["max_rel"] <= 1e-10 for r in rows)


def test_user_model_with_a_wrong_derivative_fails_at_its_layer(tmp_path):
    source = (ROOT / "examples" / "byo_rowmajor.py").read_text()
    broken = source.replace("return dy * (1 - np.tanh(x) ** 2)", "return dy * (1 - x ** 2)")
    assert broken != source
    path = tmp_path / "mine.py"
    path.write_text(broken)
    proc = run("--user", str(path))
    assert proc.returncode == 1
    assert "FAIL" in proc.stdout
    assert "wrong layer: 3:Tanh=tanh grad_in" in proc.stdout
    assert "wrong layer: 1:Tanh=tanh grad_in" in proc.stdout
    assert "derivative written in terms of the output but fed the input" in proc.stdout


def test_user_examples_pass():
    examples = ["byo_rowmajor.py", "byo_colmajor.py", "byo_functional.py", "byo_network.py",
                "byo_netclass.py", "byo_dense.py", "byo_cnn_nhwc.py", "byo_cnn_cs231n.py"]
    if importlib.util.find_spec("numpy_ml") is not None:
        examples.append("byo_numpy_ml.py")
    for example in examples:
        proc = run("--user", str(ROOT / "examples" / example))
        assert proc.returncode == 0, proc.stdout


def test_user_code_that_raises_exits_3_naming_layer_and_line(tmp_path):
    source = (ROOT / "examples" / "byo_rowmajor.py").read_text()
    broken = source.replace("        self.db = dy.sum(axis=0)", "        self.db = dy.sum(axis=0) / 0 + {}[1]")
    path = tmp_path / "mine.py"
    path.write_text(broken)
    proc = run("--user", str(path))
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "layer 4 (Dense).backward raised KeyError" in proc.stderr and "mine.py:16" in proc.stderr
    assert "exit status" in run("--help").stdout
