"""Training runs write TensorBoard events that tensorboard's own reader understands."""
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from crosscheck.presets import PRESETS
from crosscheck.train.lockstep import TrainConfig
from crosscheck.train.trajectory import check_trajectory


def _read(path):
    acc = EventAccumulator(str(path), size_guidance={"scalars": 0, "histograms": 0})
    acc.Reload()
    return acc


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("runs")
    preset = PRESETS["moons"]
    x, y = preset.data()
    check_trajectory(preset.make_spec("relu"), x, y, TrainConfig("sgd", 0.1), 100, logdir=str(logdir))
    (run,) = list(logdir.iterdir())
    return run


@pytest.mark.parametrize("side", ["numpy", "torch"])
def test_both_sides_write_the_same_tags(run_dir, side):
    acc = _read(run_dir / side)
    scalars = set(acc.Tags()["scalars"])
    expected = {"loss", "gri", "lr", "grad_norm/0.weight", "grad_norm/2.weight",
                "weights/0.weight/mean", "weights/0.weight/std", "weights/0.weight/min", "weights/0.weight/max",
                "biases/0.bias/mean", "preactivations/0/std", "activations/1/max",
                "dead_fraction/1:relu", "saturated_fraction/1:relu"}
    assert expected <= scalars
    assert {"weights/0.weight", "activations/1", "preactivations/2"} <= set(acc.Tags()["histograms"])
    losses = acc.Scalars("loss")
    assert [e.step for e in losses] == list(range(1, 101))
    assert losses[-1].value < losses[0].value  # it learned
    dead = acc.Scalars("dead_fraction/1:relu")
    assert all(0.0 <= e.value <= 1.0 for e in dead)
    stats = {k: acc.Scalars(f"weights/0.weight/{k}")[-1].value for k in ("min", "mean", "max")}
    assert stats["min"] <= stats["mean"] <= stats["max"]


def test_sides_overlay(run_dir):
    a, b = _read(run_dir / "numpy"), _read(run_dir / "torch")
    for tag in ("loss", "gri", "activations/1/mean"):
        va = [e.value for e in a.Scalars(tag)]
        vb = [e.value for e in b.Scalars(tag)]
        assert va == pytest.approx(vb, rel=1e-5)  # events store float32
