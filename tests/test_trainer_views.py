"""What TensorBoard shows by default for a whole (tiny) 3-epoch trainer run, read back from its
event files with tensorboard's own reader: the declared HParams, a test curve with enough
points, the custom-scalars layout, descriptions, and throughput that counts training only."""
import re
import types

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.custom_scalar import metadata as layout_metadata
from tensorboard.plugins.hparams import plugin_data_pb2

from nn_crosscheck_common import tags as T
from mnist_cnn import train
from mnist_helpers import run_args, write_tiny_mnist

EPOCHS = 3
STEPS_PER_EPOCH = 10


def _events(path):
    acc = EventAccumulator(str(path), size_guidance={"scalars": 0, "tensors": 0, "images": 1, "histograms": 1})
    acc.Reload()
    return acc


@pytest.fixture(scope="module")
def three_epochs(tmp_path_factory):
    """A 3-epoch run on tiny data (100 training images, batch 10: 30 steps), evaluation at its default cadence."""
    tmp = tmp_path_factory.mktemp("views")
    data = write_tiny_mnist(tmp_path_factory.mktemp("mnist"), n_train=STEPS_PER_EPOCH * 10)
    assert train.main(run_args(data, tmp, "--epochs", str(EPOCHS), "--summary-every", "5", summaries=True)) == 0
    return _events(tmp / "runs" / "t")


def test_hparams_declare_opt_and_lr(three_epochs):
    content = three_epochs.PluginTagToContent("hparams")["_hparams_/experiment"]
    infos = {i.name: i for i in plugin_data_pb2.HParamsPluginData.FromString(content).experiment.hparam_infos}
    assert {"opt", "lr"} <= set(infos)
    assert infos["opt"].HasField("domain_discrete") and infos["lr"].HasField("domain_interval")


def test_the_test_curve_has_30_points_from_step_0(three_epochs):
    steps = [e.step for e in three_epochs.Scalars(T.TEST_ACCURACY)]
    assert len(steps) >= 30 and steps[0] == 0 and steps[-1] == EPOCHS * STEPS_PER_EPOCH
    assert steps == sorted(set(steps))
    # the full test set: every epoch end, in its own tags (no step 0: with a handful of points,
    # TensorBoard's default smoothing would pull the last one towards the untrained accuracy)
    full = [STEPS_PER_EPOCH * (e + 1) for e in range(EPOCHS)]
    assert [e.step for e in three_epochs.Scalars(T.TEST_ACCURACY_FULL)] == full
    assert [e.step for e in three_epochs.Scalars(T.TEST_LOSS_FULL)] == full
    assert len(three_epochs.Scalars(T.TEST_LOSS)) == len(steps)


def test_custom_scalars_put_train_and_test_on_one_chart(three_epochs):
    tensor = three_epochs.Tensors(layout_metadata.CONFIG_SUMMARY_TAG)[0].tensor_proto
    layout = layout_pb2.Layout.FromString(tensor.string_val[0])
    charts = {c.title: list(c.multiline.tag) for cat in layout.category for c in cat.chart}
    assert not any(cat.closed for cat in layout.category)
    scalars = set(three_epochs.Tags()["scalars"])
    for chart, must in (("loss", (T.TRAIN_LOSS, T.TEST_LOSS)), ("accuracy", (T.TRAIN_ACCURACY, T.TEST_ACCURACY))):
        matched = {t for t in scalars for rx in charts[chart] if re.match(rx, t)}  # as the plugin matches
        assert set(must) <= matched, chart


def test_charts_carry_descriptions(three_epochs):
    for tag in (T.TEST_ACCURACY, T.TRAIN_IMAGES_PER_S, "conv2/Health/dead_channels",
                "conv2/Health/mostly_zero_channels", "fc1/Health/dead_units", "fc1/update_ratio/weight",
                "conv1/preact/mean"):
        assert three_epochs.SummaryMetadata(tag).summary_description == T.description(tag) != "", tag


def test_health_charts_sort_first_in_their_layer_group(three_epochs):
    for layer in ("conv1", "conv2", "fc1"):
        tags = sorted(t for t in three_epochs.Tags()["scalars"] if t.startswith(f"{layer}/"))
        assert tags[0].startswith(f"{layer}/Health/"), tags[:3]  # 'H' sorts before every lower-case letter


def test_conv_channels_dead_and_mostly_zero_are_told_apart():
    a = np.zeros((100, 4, 2, 2))  # 400 positions per channel
    a[0, 1, 0, 0] = 1             # channel 1: positive at one position in 400: alive, 99.75% zero
    a[:50, 2, 0, 0] = 1           # channel 2: fires in half the images: 87.5% zero
    a[:, 3] = 1                   # channel 3: always positive; channel 0: never (dead)
    h = T.health("relu", a)
    assert set(h) == set(T.health_names("relu", conv=True)) == {"sparsity", "dead_channels", "mostly_zero_channels"}
    assert h["dead_channels"] == 0.25 and h["mostly_zero_channels"] == 0.5
    assert h["sparsity"] == pytest.approx((400 + 399 + 350) / 1600)
    fc = np.zeros((50, 4))
    fc[0, 1], fc[:, 2:] = 1, 1    # neuron 0 never fires; neuron 1 in one image of 50 (98% zero)
    assert T.health("relu", fc) == {"sparsity": pytest.approx((50 + 49) / 200), "dead_units": 0.25}


def test_images_per_s_counts_training_steps_only(tmp_path, monkeypatch):
    """A clock that ticks 1 ms per reading, and evaluations that take 1000 s on it: counted, they
    would put every rate under 0.1 images/s."""
    clock = {"now": 0.0}

    def perf_counter():
        clock["now"] += 1e-3
        return clock["now"]

    evaluate = train.evaluate

    def slow_evaluate(*args, **kwargs):
        clock["now"] += 1000.0
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(train, "time", types.SimpleNamespace(perf_counter=perf_counter))
    monkeypatch.setattr(train, "evaluate", slow_evaluate)
    data = write_tiny_mnist(tmp_path / "mnist")
    assert train.main(run_args(data, tmp_path, "--steps", "8", "--eval-every", "1", "--summary-every", "4",
                               summaries=True)) == 0
    rates = [e.value for e in _events(tmp_path / "runs" / "t").Scalars(T.TRAIN_IMAGES_PER_S)]
    assert len(rates) == 2 and min(rates) > 10, rates


def test_a_logdir_shared_with_side_by_side_runs_still_opens_test_and_train(three_epochs):
    from test_summaries import tb_group_order
    tags = set(three_epochs.Tags()["scalars"]) | {T.DIVERGENCE_LOSS, T.DIVERGENCE_PARAMS, T.TRAIN_GRI}
    assert tb_group_order(tags)[:2] == ["Test", "Train"]  # TensorBoard opens the first two groups


@pytest.mark.parametrize("steps,batch,flags,cadence", [
    (3 * 1200, 50, [], (90, 1000)),                      # 3 MNIST epochs: 40 curve points of 1000 images
    (200, 50, [], (5, 100)),                             # a short run: as many points, on fewer images
    (3 * 1200, 50, ["--eval-every", "100"], (100, 1000)),  # asked for: as asked
    (3 * 1200, 50, ["--eval-subset", "300"], (90, 300)),
], ids=["3-epochs", "short-run", "asked", "smaller-subset"])
def test_default_evaluation_cadence_draws_a_curve_cheaply(steps, batch, flags, cadence):
    from mnist_cnn.config import parse_args
    from mnist_cnn.run_state import EVAL_IMAGES_PER_TRAIN_IMAGE, eval_cadence
    every, size = eval_cadence(parse_args(["--batch-size", str(batch), "--data-dir", "x", *flags]), steps)
    assert (every, size) == cadence
    assert steps // every >= 30
    if not flags:  # default: test images per evaluation bounded by the training images between two
        assert size <= max(100, EVAL_IMAGES_PER_TRAIN_IMAGE * batch * every)
