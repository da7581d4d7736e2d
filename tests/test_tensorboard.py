"""Side-by-side training runs write TensorBoard events that tensorboard's own reader understands,
with the trainer's tag scheme (nn_crosscheck_common.tags)."""
import itertools

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.custom_scalar import metadata as layout_metadata

from nn_crosscheck_common import tags as T
from crosscheck.presets import PRESETS
from crosscheck.train.lockstep import TrainConfig
from crosscheck.train.tb_logger import log10_rel
from crosscheck.train.trajectory import check_trajectory
from numpy_impl import OptimSpec

STEPS = 100


def _read(path):
    acc = EventAccumulator(str(path), size_guidance={"scalars": 0, "histograms": 0, "tensors": 0})
    acc.Reload()
    return acc


@pytest.fixture(scope="module", params=["relu", "tanh"])
def run_dir(request, tmp_path_factory):
    logdir = tmp_path_factory.mktemp("runs")
    preset = PRESETS["moons"]
    x, y = preset.data()
    spec = preset.make_spec(request.param)
    check_trajectory(spec, x, y, TrainConfig(OptimSpec("sgd", 0.1)), STEPS, logdir=str(logdir))
    (run,) = list(logdir.iterdir())
    assert run.name == f"train-{spec.name}-sgd-{request.param}-{spec.dtype}"  # activation and dtype in the name
    return run, spec


def expected_scalars(spec) -> set[str]:
    groups = T.layer_groups(T.spec_kinds(spec))
    tags = {T.TRAIN_LOSS, T.TRAIN_LR, T.TRAIN_GRI}
    for i, ((kind, act), (group, role)) in enumerate(zip(T.spec_kinds(spec), groups)):
        if role == "preact":
            n_out = spec.layers[i].out_features
            tags |= {f"{group}/{p}/{s}" for p in ("weight", "preact") for s in ("mean", "std", "min", "max")}
            tags |= {f"{group}/bias/{s}" for s in T.stat_names(n_out)}  # moons' 2-unit logits: min, max
            tags.add(f"{group}/grad_norm")
        elif role == "act":
            stats = ("mean", "std") if act == "relu" else ("mean", "std", "min", "max")
            tags |= {f"{group}/act/{s}" for s in stats} | {f"{group}/Health/{m}" for m in T.HEALTH.get(act, ())}
    return tags


@pytest.mark.parametrize("side", ["numpy", "torch"])
def test_both_sides_write_the_documented_tags(run_dir, side):
    run, spec = run_dir
    acc = _read(run / side)
    scalars = set(acc.Tags()["scalars"])
    assert scalars == expected_scalars(spec)
    assert {"fc1/weight", "fc1/preact", "fc1/act", "logits/bias"} <= set(acc.Tags()["histograms"])
    for tag in scalars:
        assert ":" not in tag and not any(part[0].isdigit() for part in tag.split("/")), tag
    losses = acc.Scalars(T.TRAIN_LOSS)
    assert [e.step for e in losses] == list(range(1, STEPS + 1))
    assert losses[-1].value < losses[0].value  # it learned
    stats = {k: acc.Scalars(f"fc1/weight/{k}")[-1].value for k in ("min", "mean", "max")}
    assert stats["min"] <= stats["mean"] <= stats["max"]


def test_no_duplicate_and_no_always_zero_scalars(run_dir):
    run, spec = run_dir
    acc = _read(run / "numpy")
    series = {tag: tuple(e.value for e in acc.Scalars(tag)) for tag in acc.Tags()["scalars"]}
    always_zero = {tag for tag, values in series.items() if all(v == 0 for v in values)}
    # a healthy net may have no dead or saturated unit yet (test_summaries shows they can be non-zero)
    assert always_zero <= {t for t in series if "/Health/" in t}
    varying = {tag: values for tag, values in series.items() if tag not in always_zero}
    for (a, va), (b, vb) in itertools.combinations(varying.items(), 2):
        assert va != vb, f"{a} and {b} are the same series"


def test_sides_overlay_and_divergence_is_logged(run_dir):
    run, _ = run_dir
    a, b = _read(run / "numpy"), _read(run / "torch")
    for tag in (T.TRAIN_LOSS, T.TRAIN_GRI, "fc1/act/mean"):
        va = [e.value for e in a.Scalars(tag)]
        vb = [e.value for e in b.Scalars(tag)]
        assert va == pytest.approx(vb, rel=1e-5)  # events store float32
    div = _read(run / "divergence")
    assert set(div.Tags()["scalars"]) == {T.DIVERGENCE_LOSS, T.DIVERGENCE_PARAMS}
    loss_div = [e.value for e in div.Scalars(T.DIVERGENCE_LOSS)]
    assert len(loss_div) == STEPS and max(loss_div) < -8  # float64 sides agree to ~1e-15
    assert all(-20 <= e.value < -8 for e in div.Scalars(T.DIVERGENCE_PARAMS))
    assert div.SummaryMetadata(T.DIVERGENCE_LOSS).summary_description == T.description(T.DIVERGENCE_LOSS) != ""
    layout = layout_pb2.Layout.FromString(div.Tensors(layout_metadata.CONFIG_SUMMARY_TAG)[0].tensor_proto.string_val[0])
    charts = {c.title: list(c.multiline.tag) for cat in layout.category for c in cat.chart}
    assert charts["loss (one line per side)"] == [f"^{T.TRAIN_LOSS}$"]  # numpy and torch runs: one line each


def test_loss_divergence_is_a_running_max_over_its_window(tmp_path):
    from crosscheck.train.tb_logger import SideBySideLogger
    preset = PRESETS["moons"]
    x, _ = preset.data()
    logger = SideBySideLogger(tmp_path, preset.make_spec("relu"), x[:8])
    flicker = [1.0, 1.0 + 1e-16, 1.0, 1.0 + 1e-15] * 10  # exact, rounding-level, exact, ... every step
    for step, b in enumerate(flicker, 1):
        logger.log_losses(step, {"numpy": 1.0, "torch": b})
    logger.close()
    logged = [e.value for e in _read(tmp_path / "divergence").Scalars(T.DIVERGENCE_LOSS)]
    raw = [log10_rel(abs(1.0 - b) / b) for b in flicker]
    w = T.DIVERGENCE_WINDOW
    assert logged == pytest.approx([max(raw[max(0, i - w + 1):i + 1]) for i in range(len(raw))], abs=1e-6)
    assert len(set(logged[4:])) == 1  # once the window holds the worst, it is a flat line, not a flicker
    assert min(raw) == T.DIVERGENCE_FLOOR < min(logged[4:])


def test_log10_rel_shows_every_divergence():
    assert log10_rel(0.0) == T.DIVERGENCE_FLOOR
    assert log10_rel(1e-3) == pytest.approx(-3)
    assert log10_rel(float("nan")) == log10_rel(np.inf) == T.DIVERGENCE_CEIL


def test_classifier_study_logs_test_metrics_on_the_step_axis(tmp_path):
    from crosscheck.studies.classifiers import classifier_study
    from crosscheck.train.tb_logger import SideBySideLogger

    def logger_for(name, spec, probe):
        return SideBySideLogger(tmp_path / name, spec, probe)

    spec, run, sides, (x, y, tr, te) = classifier_study("moons", epochs=2, logger_for=logger_for)
    acc = _read(tmp_path / "moons" / "torch")
    per_epoch = -(-len(tr) // 10)
    assert [e.step for e in acc.Scalars(T.TEST_ACCURACY)] == [per_epoch, 2 * per_epoch]
    assert acc.Scalars(T.TEST_ACCURACY)[-1].value == pytest.approx(run["torch"].epochs[-1]["test_acc"])
    assert {T.TRAIN_ACCURACY, T.TEST_LOSS, T.TRAIN_LOSS} <= set(acc.Tags()["scalars"])
