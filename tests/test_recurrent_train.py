"""`crosscheck train` on the recurrent presets: both sides train in lockstep, every
teacher-forced step agrees, and a recurrent slip fails the first step."""
import numpy as np
import pytest

from crosscheck.presets import PRESETS
from crosscheck.train.lockstep import TrainConfig
from crosscheck.train.trajectory import check_trajectory
from numpy_impl import recurrent_functional as RF
from numpy_impl.optim_spec import OptimSpec

CFG = TrainConfig(OptimSpec(kind="adam", lr=0.01), batch_size=4)


def _train(name: str, steps: int):
    preset = PRESETS[name]
    return check_trajectory(preset.make_spec(preset.activations[0]), *preset.batch(), CFG, steps)


@pytest.mark.parametrize("name", ["adding", "parity", "sine"])
def test_recurrent_presets_train_in_lockstep(name):
    result = _train(name, steps=4)
    assert result.passed, result.summary()
    assert any(c.name.endswith("weight_hh_l0") for c in result.params)


def test_char_lstm_loss_falls_while_the_sides_agree():
    """The short version (6 steps) of the 200 steps in docs/recurrent.md."""
    result = _train("char_lstm", steps=6)
    assert result.passed, result.summary()
    assert any(c.name == "0.weight" for c in result.params)  # the embedding trains too
    losses = result.losses
    assert np.allclose(losses["numpy"], losses["torch"], rtol=1e-10)
    assert np.mean(losses["torch"][-2:]) < np.mean(losses["torch"][:2])


def test_a_dropped_carry_fails_the_first_step(monkeypatch):
    monkeypatch.setattr(RF, "carry_in", lambda dout, carried: (dout, *carried[1:]))
    result = _train("char_lstm", steps=2)
    assert not result.passed and result.first_failure == 1


def test_one_side_alone_trains_the_char_lstm(capsys):
    from crosscheck.cli import main
    assert main(["train", "--model", "char_lstm", "--impl", "numpy", "--steps", "2"]) == 0
    assert "test accuracy 0." in capsys.readouterr().out
