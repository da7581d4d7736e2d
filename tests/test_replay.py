"""Optimizer replay and bring-your-own update rules: clean rules pass, planted slips fail at
the first step where they have an effect, with the slip named."""
import importlib.util
import pathlib

import numpy as np
import pytest

from crosscheck.cli import main
from crosscheck.train.byo_optim import check_rule, optimizer_rule
from crosscheck.train.replay import Knobs, knob_run, make_grads, replay_numpy_optimizer, torch_run
from numpy_impl import OptimSpec

ROOT = pathlib.Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("corpus_optim", ROOT / "benchmarks" / "corpus_optim.py")
corpus = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(corpus)


@pytest.mark.parametrize("case", corpus.CASES, ids=[c[0] for c in corpus.CASES])
def test_corpus_row(case):
    name, cfg, factory, step, words = case
    result = check_rule(cfg, factory(), 10)
    assert result.first_failure == step, result.summary()
    if step is None:
        assert result.passed and "PASS" in result.summary()
    else:
        assert not result.passed and "FAIL" in result.summary()
        assert (words in result.slip) if words else result.slip == "", result.summary()


@pytest.mark.parametrize("cfg", [corpus.ADAM_WD, corpus.ADAMW, corpus.MOM_WD, corpus.NEST, corpus.MOM_DAMP,
                                 corpus.DECAY], ids=["adam-wd", "adamw", "momentum-wd", "nesterov",
                                                     "dampening", "decay"])
def test_slip_reference_without_slips_is_torch(cfg):
    """The rule the slips are built on is torch's rule when no knob is turned."""
    grads = make_grads(corpus.START, 8)
    for ours, theirs in zip(knob_run(cfg, Knobs(), corpus.START, grads), torch_run(cfg, corpus.START, grads)):
        for k in theirs:
            np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("path", ["examples/byo_update_step.py", "examples/byo_update_functional.py"])
def test_update_examples_pass(path, capsys):
    assert main(["train", "--update", str(ROOT / path)]) == 0
    assert "PASS" in capsys.readouterr().out


def test_planted_example_fails_and_names_the_slip(tmp_path, capsys):
    src = (ROOT / "examples/byo_update_functional.py").read_text()
    planted = src.replace("(np.sqrt(v_hat) + EPS)", "np.sqrt(v_hat + EPS)")
    assert planted != src
    (tmp_path / "planted.py").write_text(planted)
    assert main(["train", "--update", str(tmp_path / "planted.py")]) == 1
    out = capsys.readouterr().out
    assert "step 1 FAILED" in out and "eps inside the square root" in out


def test_layer_step_example_planted(tmp_path, capsys):
    src = (ROOT / "examples/byo_update_step.py").read_text()
    planted = src.replace("self.vW = self.mu * self.vW + self.dW", "self.vW = self.mu * self.vW + (1 - self.mu) * self.dW")
    assert planted != src
    (tmp_path / "planted.py").write_text(planted)
    assert main(["train", "--update", str(tmp_path / "planted.py")]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_user_update_that_raises_names_the_line(tmp_path, capsys):
    src = (ROOT / "examples/byo_update_functional.py").read_text()
    (tmp_path / "boom.py").write_text(src.replace("    s[\"t\"] += 1\n", "    s[\"t\"] += 1\n    1 / 0\n"))
    assert main(["train", "--update", str(tmp_path / "boom.py")]) == 3
    err = capsys.readouterr().err
    assert "ZeroDivisionError" in err and "boom.py:" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("kwargs,needle", [
    ({"kind": "rmsprop"}, "unknown optimizer 'rmsprop'"),
    ({"lr": 0.0}, "lr: must be > 0"),
    ({"lr": -1.0}, "lr: must be > 0"),
    ({"decay": 1.5}, "decay: must lie in (0, 1]"),
    ({"decay": 0.0}, "decay: must lie in (0, 1]"),
], ids=["optimizer", "lr-zero", "lr-negative", "decay-high", "decay-zero"])
def test_bad_replay_config(kwargs, needle):
    with pytest.raises(ValueError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        OptimSpec(**kwargs)


def test_nan_update_never_passes():
    class NaNSGD:
        def __init__(self, params):
            self.params = params

        def step(self, grads):
            for k, p in self.params.items():
                p -= np.nan * grads[k]
    result = check_rule(corpus.SGD, optimizer_rule(NaNSGD, corpus.START), 3)
    assert not result.passed and result.first_failure == 1
    assert "non-finite" in result.summary()


# --- a failed training run: a wrong update rule or a wrong gradient? ---------------------------

TRAIN_OPTIMIZERS = {
    "sgd": [],
    "momentum": ["--momentum", "0.9"],
    "nesterov": ["--momentum", "0.9", "--nesterov"],
    "dampening": ["--momentum", "0.9", "--dampening", "0.5"],
    "sgd-weight-decay": ["--momentum", "0.9", "--weight-decay", "0.01"],
    "sgd-decay": ["--momentum", "0.9", "--decay", "0.9"],
    "adam": ["--opt", "adam"],
    "amsgrad": ["--opt", "adam", "--amsgrad"],
    "adam-weight-decay": ["--opt", "adam", "--weight-decay", "0.01"],
    "adam-step-decay": ["--opt", "adam", "--amsgrad", "--decay", "0.5", "--step-size", "3"],
    "adamw": ["--opt", "adamw", "--weight-decay", "0.01"],
    "adamw-amsgrad": ["--opt", "adamw", "--weight-decay", "0.01", "--amsgrad"],
}
GRADIENT_HINT = "the update rule agrees alone: look at the gradient"


def plant_bias_gradient_bug(monkeypatch):
    """NumPy's bias gradient 1% too large: every update rule right, the gradient wrong."""
    from numpy_impl import functional
    real = functional.linear_backward

    def backward(dy, cache):
        dx, dw, db = real(dy, cache)
        return dx, dw, 1.01 * db
    monkeypatch.setattr(functional, "linear_backward", backward)


def plant_update_rule_bug(monkeypatch):
    """NumPy's optimizers step with an lr 1% too large: the gradient right, the rule wrong."""
    from numpy_impl import optim
    real = optim.Optimizer.step

    def step(self, grads):
        lr, self.lr = self.lr, 1.01 * self.lr
        real(self, grads)
        self.lr = lr
    monkeypatch.setattr(optim.Optimizer, "step", step)


# the bug planted, and whether NumPy's optimizer then agrees alone (so the gradient is to blame)
PLANTED = {"gradient": (plant_bias_gradient_bug, True), "update-rule": (plant_update_rule_bug, False)}


@pytest.mark.parametrize("flags", TRAIN_OPTIMIZERS.values(), ids=TRAIN_OPTIMIZERS.keys())
@pytest.mark.parametrize("planted", PLANTED)
def test_train_blames_the_planted_bug_for_every_optimizer(planted, flags, monkeypatch, capsys):
    plant, rule_agrees = PLANTED[planted]
    plant(monkeypatch)
    assert main(["train", "--model", "A", *flags, "--steps", "5"]) == 1
    out = capsys.readouterr().out
    assert "step 1 FAILED when both sides start from the same state" in out
    replayed = next(line for line in out.splitlines() if line.startswith("optimizer replay ("))
    if rule_agrees:
        assert GRADIENT_HINT in out and "FAILED" not in replayed, out
    else:
        assert "): step 1 FAILED" in replayed and GRADIENT_HINT not in out, out


# --- the replay replays what ran: the schedule, and tensors longer than one Adam block ---------

def plant_schedule_one_step_late(monkeypatch):
    """ExponentialLR's lr one step behind torch's: gamma^(t-1) after t steps."""
    from numpy_impl import optim

    def step(self):
        self.last_epoch += 1
        self.optimizer.lr = self.base_lr * self.gamma ** max(self.last_epoch - 1, 0)
    monkeypatch.setattr(optim.ExponentialLR, "step", step)


def plant_adam_block_boundary_bug(monkeypatch):
    """Adam's last entry of every block never updated: tensors of one block are right."""
    from numpy_impl import optim
    real = optim.Adam._update_block

    def update_block(self, step, p, g, m, v, v_max, tmp):
        keep = p[-1].copy()
        real(self, step, p, g, m, v, v_max, tmp)
        if len(p) == optim.ADAM_BLOCK:
            p[-1] = keep
    monkeypatch.setattr(optim.Adam, "_update_block", update_block)


@pytest.mark.parametrize("plant,spec", [
    (plant_schedule_one_step_late, OptimSpec("sgd", lr=0.01, momentum=0.9, decay=0.9)),
    (plant_adam_block_boundary_bug, OptimSpec("adam", lr=1e-3)),
    (plant_adam_block_boundary_bug, OptimSpec("adamw", lr=1e-3, weight_decay=0.01, amsgrad=True)),
], ids=["schedule-one-step-late", "adam-block-boundary", "adamw-amsgrad-block-boundary"])
def test_replay_of_numpy_optimizer_blames_a_rule_bug_training_would_meet(plant, spec, monkeypatch):
    """A failed training run asks the replay whether the rule is right alone; for a schedule or
    block-boundary slip it must say no (not 'look at the gradient')."""
    assert replay_numpy_optimizer(spec).passed  # the replay itself is clean
    plant(monkeypatch)
    result = replay_numpy_optimizer(spec)
    assert not result.passed, result.summary()
    assert result.first_failure == (2 if spec.decay < 1 else 1), result.summary()
