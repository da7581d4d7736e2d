"""Hostile input to `crosscheck train --update FILE.py`: whatever a user's update-rule file hands
us gets one line and its documented status, never a traceback; and a long replay of a correct
rule passes however many steps it runs."""
import textwrap

import numpy as np
import pytest

from crosscheck.cli import main
from crosscheck.train.byo_optim import check_rule, layer_rule
from numpy_impl import OptimSpec

DENSE = """
import numpy as np
class Dense:
    def __init__(self):
        self.W, self.b = np.ones((3, 2)), np.zeros(2)
    def step(self, lr):
        self.W -= lr * self.dW
        self.b -= lr * self.db
"""
HEAD = "from crosscheck.train.byo_optim import functional_rule, layer_rule, optimizer_rule\n" \
       "from numpy_impl import OptimSpec\n"

# (id, body of crosscheck_update() and anything it needs, status, words of the one line)
CASES = [
    ("returns-an-int", "def crosscheck_update():\n    return 3",
     2, "crosscheck_update() must return (OptimSpec, adapted rule), got int"),
    ("rule-is-an-int", "def crosscheck_update():\n    return OptimSpec('sgd', lr=0.1), 3",
     2, "rule: must be what layer_rule, functional_rule or optimizer_rule return, got int"),
    ("spec-with-nan-momentum", DENSE + "def crosscheck_update():\n"
     "    return OptimSpec('sgd', lr=0.1, momentum=float('nan')), layer_rule([Dense()])",
     2, "momentum: must be a finite number >= 0, got nan"),
    ("wrong-method-name", DENSE + "def crosscheck_update():\n"
     "    return OptimSpec('sgd', lr=0.1), layer_rule([Dense()], method='update')",
     2, "layer 0 (Dense) has no method update(lr); name its update method with method="),
    ("no-layer-has-parameters", "def crosscheck_update():\n"
     "    return OptimSpec('sgd', lr=0.1), layer_rule([object()])",
     2, "layers: none has attributes W, b"),
    ("layers-not-a-list", DENSE + "def crosscheck_update():\n"
     "    return OptimSpec('sgd', lr=0.1), layer_rule(Dense())",
     2, "layers: must be a non-empty list of layer objects, got a Dense"),
    ("update-returns-junk", "import numpy as np\ndef update(params, grads, lr):\n    return 'junk'\n"
     "def crosscheck_update():\n"
     "    return OptimSpec('sgd', lr=0.1), functional_rule(update, [(np.ones((3, 2)), np.zeros(2))])",
     3, "update(params, grads, lr) returned a str; expected None (updated in place) or a list laid out "
        "like params: [(2 arrays)]"),
    ("update-returns-fewer-arrays", "import numpy as np\ndef update(params, grads, lr):\n"
     "    return [(params[0][0] - lr * grads[0][0],)]\n"
     "def crosscheck_update():\n"
     "    return OptimSpec('sgd', lr=0.1), functional_rule(update, [(np.ones((3, 2)), np.zeros(2))])",
     3, "returned a list of 1; expected None (updated in place) or a list laid out like params: [(2 arrays)]"),
    ("update-returns-strings", "import numpy as np\ndef update(params, grads, lr):\n    return [('a', 'b')]\n"
     "def crosscheck_update():\n"
     "    return OptimSpec('sgd', lr=0.1), functional_rule(update, [(np.ones((3, 2)), np.zeros(2))])",
     3, "update(params, grads, lr) returned str at [0][0]; expected an array"),
    ("update-is-not-a-function", "import numpy as np\n"
     "def crosscheck_update():\n"
     "    return OptimSpec('sgd', lr=0.1), functional_rule(3, [(np.ones((3, 2)), np.zeros(2))])",
     2, "update: must be a function update(params, grads, lr), got int"),
    ("optimizer-without-step", "import numpy as np\nclass Opt:\n    pass\n"
     "def crosscheck_update():\n"
     "    return OptimSpec('sgd', lr=0.1), optimizer_rule(lambda p: Opt(), {'w': np.ones((2, 2))})",
     3, "making the optimizer returned an Opt as its optimizer, without a method step(grads)"),
    ("scheduler-without-step", "import numpy as np\nclass Opt:\n    def __init__(self, p):\n"
     "        self.p = p\n    def step(self, g):\n        self.p['w'] -= 0.1 * g['w']\n"
     "def crosscheck_update():\n"
     "    return OptimSpec('sgd', lr=0.1), optimizer_rule(lambda p: (Opt(p), 'sched'), {'w': np.ones((2, 2))})",
     3, "making the optimizer returned a str as its scheduler, without a method step()"),
]


@pytest.mark.parametrize("body,status,words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_update_file_gets_one_line(body, status, words, tmp_path, capsys):
    path = tmp_path / "rule.py"
    path.write_text(HEAD + textwrap.dedent(body) + "\n")
    assert main(["train", "--update", str(path)]) == status
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], captured.err
    assert "Traceback" not in captured.err + captured.out


class _Dense:
    """A parameter layer with a plain gradient-descent step, as users write it."""

    def __init__(self, rng, n_in, n_out):
        self.W, self.b = rng.uniform(-0.5, 0.5, (n_in, n_out)), np.zeros(n_out)

    def step(self, lr):
        self.W -= lr * self.dW
        self.b -= lr * self.db


def test_a_correct_rule_passes_a_100000_step_replay():
    """Each side carries its own parameters, so their roundings add up over the steps: with the
    floor fixed (REPLAY_ULPS_PER_STEP = 0), this very run fails at step 9,276."""
    rng = np.random.default_rng(0)
    result = check_rule(OptimSpec("sgd", lr=0.01), layer_rule([_Dense(rng, 3, 1)]), steps=100_000)
    assert result.passed, result.summary()


def test_the_growing_floor_still_catches_a_slip_late_in_a_long_replay():
    """A rule that goes wrong only at step 10,000 (its lr off by 1e-6) is caught there."""
    rng = np.random.default_rng(0)
    layer = _Dense(rng, 3, 8)
    calls = {"n": 0}

    def step(lr):
        calls["n"] += 1
        lr = lr * (1 + 1e-6) if calls["n"] >= 10_000 else lr
        layer.W -= lr * layer.dW
        layer.b -= lr * layer.db
    layer.step = step
    result = check_rule(OptimSpec("sgd", lr=0.05), layer_rule([layer]), steps=10_001)
    assert result.first_failure == 10_000, result.summary()
