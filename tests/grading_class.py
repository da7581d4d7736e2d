"""A synthetic class for `crosscheck grade`, built from examples/grading/solution_two_layer_net.py:
correct submissions, one per common slip (a (pattern, replacement) planted in the solution),
notebooks with IPython magics, a folder with its own module, and misbehaving ones. Each case
says what it should score per part, so a test (and benchmarks/bench_grade.py) can check every
grade. Used by tests/test_grade*.py and the benchmark."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "grading" / "two_layer_net.toml"
SOLUTION = (ROOT / "examples" / "grading" / "solution_two_layer_net.py").read_text()
PARTS = ("affine", "relu", "softmax loss", "TwoLayerNet.loss", "sgd", "adam")
FULL = {"affine": 10, "relu": 5, "softmax loss": 10, "TwoLayerNet.loss": 15, "sgd": 5, "adam": 5}


@dataclass(frozen=True)
class Case:
    """One submission: its files (name -> text), the parts it loses, and for each lost part
    words its feedback must hold."""
    name: str
    files: dict
    loses: dict = field(default_factory=dict)   # part -> (status, words in its feedback)
    output_has: str = ""                        # words its captured output must hold
    note_has: str = ""                          # words one of its notes must hold

    def points(self) -> dict:
        return {p: 0 if p in self.loses else FULL[p] for p in PARTS}


def planted(*pairs: tuple[str, str]) -> str:
    """The solution with each pattern replaced (each must occur, so a drifted solution fails loudly)."""
    text = SOLUTION
    for old, new in pairs:
        assert old in text, f"pattern not in the solution: {old!r}"
        text = text.replace(old, new)
    return text


# (name, pairs, parts lost -> words in the feedback): the common slips
SLIPS = [
    ("bias_mean", [("db = dout.sum(axis=0)", "db = dout.mean(axis=0)")],
     {"affine": "extra 1/N", "TwoLayerNet.loss": "extra 1/N"}),
    ("dw_transposed", [("dw = x.reshape(x.shape[0], -1).T @ dout", "dw = (dout.T @ x.reshape(x.shape[0], -1)).T * 0.5")],
     {"affine": "weight.grad", "TwoLayerNet.loss": "W"}),
    ("relu_passes_all", [("return dout * (cache > 0)", "return dout * 1.0")],
     {"relu": "grad_in", "TwoLayerNet.loss": "W1"}),
    ("softmax_no_mean", [("    dx /= n\n", "")],
     {"softmax loss": "1/N", "TwoLayerNet.loss": "1/N"}),
    ("reg_missing", [('grads["W1"] += self.reg * W1', 'pass')], {"TwoLayerNet.loss": "W1"}),
    ("sgd_uphill", [("w -= config", "w += config")], {"sgd": "uphill"}),
    ("adam_no_bias_correction", [('m_hat = config["m"] / (1 - config["beta1"] ** config["t"])', 'm_hat = config["m"]'),
                                 ('v_hat = config["v"] / (1 - config["beta2"] ** config["t"])', 'v_hat = config["v"]')],
     {"adam": "bias correction"}),
]


def notebook(cells: list[str]) -> str:
    """A minimal nbformat-4 notebook holding these code cells."""
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {},
                       "cells": [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                                  "source": c} for c in cells]})


def _notebook_solution() -> str:
    head, rest = SOLUTION.split("class TwoLayerNet", 1)
    return notebook(["%matplotlib inline\n!pip install numpy\nimport numpy as np",
                     head, "%%time\nx = 1", "class TwoLayerNet" + rest,
                     "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()\nprint('plotted')",
                     "raise RuntimeError('a cell that fails; the next ones still run')", "ran_after = True"])


def cases(grader_dir: str, subs_dir: str) -> list[Case]:
    """Every case; the misbehaving ones aim at `grader_dir` (files they must not touch) and at
    the sibling submission alice.py in `subs_dir`."""
    canary = os.path.join(grader_dir, "canary.txt")
    out = [Case("alice", {"alice.py": SOLUTION}),
           Case("bea_notebook", {"bea_notebook.ipynb": _notebook_solution()}, output_has="plotted",
                note_has="skipped '%matplotlib inline'"),
           Case("cat_folder", {"cat_folder/main.py": "import numpy as np\nfrom layers import *\n\n\nclass TwoLayerNet"
                               + SOLUTION.split("class TwoLayerNet")[1],
                               "cat_folder/layers.py": SOLUTION.split("class TwoLayerNet")[0]})]
    out += [Case(f"slip_{name}", {f"slip_{name}.py": planted(*pairs)},
                 {part: ("failed", words) for part, words in lost.items()}) for name, pairs, lost in SLIPS]
    out += [
        Case("bad_loop", {"bad_loop.py": planted(("def sgd(w, dw, config=None):\n", "def sgd(w, dw, config=None):\n"
                                                  "    while True:\n        pass\n"))},
             {"sgd": ("timeout", "timed out after")}),
        Case("bad_import_loop", {"bad_import_loop.py": SOLUTION + "\nwhile True:\n    pass\n"},
             {p: ("timeout", "timed out after 5 s during import") for p in PARTS}),
        Case("bad_os_exit", {"bad_os_exit.py": planted(("def relu_backward(dout, cache):\n",
                                                        "def relu_backward(dout, cache):\n    import os\n    os._exit(3)\n"))},
             {"relu": ("exited", "exited (status 3) in layer 1 (relu).backward"),
              "TwoLayerNet.loss": ("exited", "exited (status 3) in")}),
        Case("bad_alloc", {"bad_alloc.py": planted(("def relu_forward(x):\n", "def relu_forward(x):\n"
                                                    "    hog = np.ones(50 * 2 ** 30 // 8)\n"))},
             {"relu": ("memory", "MiB"), "TwoLayerNet.loss": ("memory", "MiB")}),
        Case("bad_fork", {"bad_fork.py": SOLUTION + "\nimport os\nwhile True:\n    os.fork()\n"},
             {p: ("processes", "processes") for p in PARTS}),
        Case("bad_exit", {"bad_exit.py": "import sys\nsys.exit(3)\n" + SOLUTION},
             {p: ("missing", "exited during import") for p in PARTS}),
        Case("bad_write", {"bad_write.py": SOLUTION + _try(f"open({canary!r}, 'w').write('owned')")
                           + _try(f"os.remove({os.path.join(grader_dir, 'assignment.toml')!r})")
                           + _try(f"open({os.path.join(subs_dir, 'zz_planted.py')!r}, 'w').write('x')")},
             output_has="blocked"),
        Case("bad_read", {"bad_read.py": SOLUTION + _try(f"print('read', len(open({os.path.join(subs_dir, 'alice.py')!r}).read()))")
                          + _try(f"print('listed', os.listdir({subs_dir!r}))")},
             output_has="blocked"),
        Case("env_probe", {"env_probe.py": SOLUTION + "\nimport os, matplotlib\nprint('ENV', ','.join(sorted(os.environ)))"
                                                   "\nprint('BACKEND', matplotlib.get_backend(), 'CWD', os.getcwd() == os.environ['HOME'])"
                                                   "\nprint('FILES', sorted(os.listdir('.')))\n"},
             output_has="ENV"),
        Case("bad_print", {"bad_print.py": SOLUTION + "\nimport sys\nfor _ in range(100):\n"
                                                      "    sys.stdout.write('x' * (1 << 20))\n"},
             output_has="xxxx"),
    ]
    return out


def _try(statement: str) -> str:
    return f"\nimport os\ntry:\n    {statement}\nexcept OSError as err:\n    print('blocked', type(err).__name__)\n"


def write_class(folder: Path, class_cases: list[Case]) -> None:
    for case in class_cases:
        for rel, text in case.files.items():
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)


def fast_assignment(folder: Path, part_s: float = 5, import_s: float = 5) -> Path:
    """The example assignment with shorter limits (a test waits out every timeout)."""
    text = EXAMPLE.read_text().replace("time_limit_s = 20", f"time_limit_s = {part_s}") \
        .replace("time_limit_s = 30", f"time_limit_s = {part_s}").replace("import_time_s = 20", f"import_time_s = {import_s}")
    path = folder / "assignment.toml"
    path.write_text(text)
    return path
