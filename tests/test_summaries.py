"""The MNIST trainer's TensorBoard events, read back with tensorboard's own reader."""
import itertools

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2

import reference
from nn_crosscheck_common import tags as T
from mnist_cnn import cnn_spec, train
from mnist_cnn.hparams import HPARAMS, SHOWN
from mnist_cnn.summaries import Summaries
from mnist_helpers import STEPS_PER_EPOCH, write_tiny_mnist

LAYERS = {"conv1": "relu", "conv2": "relu", "fc1": "relu", "logits": None}


def _events(path):
    acc = EventAccumulator(str(path), size_guidance={"scalars": 0, "histograms": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def expected_scalars(layers: dict, trainer: bool = True) -> set[str]:
    """The whole scalar tag list of a trainer run: the README's table, as a set."""
    tags = {T.TRAIN_LOSS, T.TRAIN_ACCURACY, T.TRAIN_LR, T.TRAIN_IMAGES_PER_S, T.TEST_LOSS, T.TEST_ACCURACY,
            T.TEST_LOSS_FULL, T.TEST_ACCURACY_FULL}
    for layer, act in layers.items():
        for kind in ("weight", "bias"):
            tags |= {f"{layer}/{kind}/{s}" for s in ("mean", "std", "min", "max")}
            tags |= {f"{layer}/grad/{kind}/std", f"{layer}/grad/{kind}/absmax", f"{layer}/update_ratio/{kind}"}
        tags |= {f"{layer}/grad_norm"} | {f"{layer}/preact/{s}" for s in ("mean", "std", "min", "max")}
        if act:
            tags |= {f"{layer}/act/{s}" for s in ("mean", "std")}  # a ReLU's min is 0, its max the preact's
            tags |= {f"{layer}/Health/{m}" for m in T.health_names(act, conv=layer.startswith("conv"))}
    return tags


def tb_group_order(tags) -> list[str]:
    """Groups in the order TensorBoard's time-series page shows them: its comparator puts digits
    and '/' first, then compares character codes (upper case before lower case)."""
    key = lambda g: [(0 if c.isdigit() or c == "/" else 1, c) for c in g]
    return sorted({t.split("/", 1)[0] for t in tags}, key=key)


@pytest.fixture(scope="module")
def run_path(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    tiny = write_tiny_mnist(tmp_path_factory.mktemp("mnist"))
    assert train.main(["--data-dir", str(tiny), "--logdir", str(tmp / "runs"), "--checkpoint-dir",
                       str(tmp / "ckpt"), "--batch-size", "10", "--run-name", "t", "--steps", "8",
                       "--summary-every", "2", "--hist-every", "4", "--eval-every", "4", "--seed", "1"]) == 0
    return tmp / "runs" / "t"


@pytest.fixture(scope="module")
def run(run_path):
    return _events(run_path)


def test_trainer_tags_are_exactly_the_documented_ones(run):
    assert set(run.Tags()["scalars"]) == expected_scalars(LAYERS)
    hists = {f"{layer}/{k}" for layer in LAYERS for k in ("weight", "bias", "grad/weight", "grad/bias", "preact")}
    hists |= {f"{layer}/act" for layer, act in LAYERS.items() if act}
    assert set(run.Tags()["histograms"]) == hists
    assert set(run.Tags()["images"]) == {"conv1/filters", "Test/confusion_matrix", "Test/worst_digits"}
    for tag in run.Tags()["scalars"] + run.Tags()["histograms"]:
        assert ":" not in tag and not any(part[0].isdigit() for part in tag.split("/")), tag


def test_train_and_test_groups_come_first(run):
    assert tb_group_order(run.Tags()["scalars"])[:2] == ["Test", "Train"]


def test_no_duplicate_and_no_always_zero_scalars(run):
    series = {tag: tuple(e.value for e in run.Scalars(tag)) for tag in run.Tags()["scalars"]}
    always_zero = {tag for tag, values in series.items() if all(v == 0 for v in values)}
    # a healthy ReLU net has no dead unit yet; the test below shows the unit counts can be non-zero
    assert always_zero <= {f"{layer}/Health/{m}" for layer in LAYERS
                           for m in ("dead_units", "dead_channels", "mostly_zero_channels")}
    varying = {tag: values for tag, values in series.items() if tag not in always_zero}
    for (a, va), (b, vb) in itertools.combinations(varying.items(), 2):
        assert va != vb, f"{a} and {b} are the same series"


def test_step_zero_snapshot_and_cadence(run):
    assert [e.step for e in run.Scalars(T.TEST_ACCURACY)] == [0, 4, 8]  # the untrained net evaluated
    assert [e.step for e in run.Scalars(T.TEST_ACCURACY_FULL)] == [8]  # no epoch end in 8 steps: the last
    assert [e.step for e in run.Scalars(T.TRAIN_LOSS)] == [2, 4, 6, 8]
    assert [e.step for e in run.Scalars("fc1/grad_norm")] == [0, 2, 4, 6, 8]
    for tag in ("conv1/weight", "fc1/act", "logits/grad/weight"):
        assert [e.step for e in run.Histograms(tag)] == [0, 4, 8], tag
    assert all(e.value > 0 for e in run.Scalars(T.TRAIN_IMAGES_PER_S))
    assert all(0 < e.value < 1 for e in run.Scalars("fc1/update_ratio/weight"))


def test_images_are_large_enough_to_read(run):
    filters = run.Images("conv1/filters")[-1]
    assert filters.width >= 8 * 5 * 8 and filters.height >= 4 * 5 * 8  # 8x4 filters, 8x upscaled
    for tag in ("Test/confusion_matrix", "Test/worst_digits"):
        assert run.Images(tag)[-1].width >= 500, tag


def _hparams(run, what: str):
    data = plugin_data_pb2.HParamsPluginData.FromString(run.PluginTagToContent("hparams")[f"_hparams_/{what}"])
    return getattr(data, what)


def test_hparams_are_declared_with_domains_and_the_test_metrics(run):
    exp = _hparams(run, "experiment")
    infos = {i.name: i for i in exp.hparam_infos}
    assert list(infos) == [h.name for h in HPARAMS]
    assert {"opt", "lr", "init", "momentum", "schedule", "batch_size", "dropout", "seed", "steps", "amp",
            "act", "epochs"} <= set(infos)
    assert [v.string_value for v in infos["opt"].domain_discrete.values] == ["adam", "sgd"]
    assert [v.bool_value for v in infos["amp"].domain_discrete.values] == [False, True]
    assert infos["lr"].type == api_pb2.DATA_TYPE_FLOAT64 and infos["lr"].domain_interval.min_value == 0
    assert infos["dropout"].domain_interval.max_value == 1
    # TensorBoard's table ticks five hparams, `differs` ones first: opt and lr among them
    assert {n for n, i in infos.items() if i.differs} == set(SHOWN) and {"opt", "lr"} <= set(SHOWN)
    assert len(SHOWN) == 5
    assert [m.name.tag for m in exp.metric_infos] == [T.TEST_ACCURACY_FULL, T.TEST_LOSS_FULL]
    assert not any(t.startswith("hparam") for t in run.Tags()["scalars"])


def test_hparams_values_count_the_steps_and_epochs_as_run(run):
    hp = _hparams(run, "session_start_info").hparams
    assert set(hp) == {h.name for h in HPARAMS}
    assert hp["opt"].string_value == "adam" and hp["amp"].bool_value is False
    assert hp["lr"].number_value == pytest.approx(1e-3) and hp["seed"].number_value == 1
    assert hp["steps"].number_value == 8  # --steps 8 of a planned 3 epochs
    assert hp["epochs"].number_value == pytest.approx(8 / STEPS_PER_EPOCH)
    assert _hparams(run, "session_end_info").status == api_pb2.STATUS_SUCCESS


def test_hparams_go_into_the_run_itself_and_lr_anneals(run, run_path):
    assert [p.name for p in run_path.iterdir() if p.is_dir()] == []
    lr = [e.value for e in run.Scalars(T.TRAIN_LR)]
    assert lr == sorted(lr, reverse=True) and lr[0] < 1e-3  # cosine annealing


def test_graph_uses_the_layer_names(run):
    names = {n.name for n in run.Graph().node}
    for layer in ("conv1", "conv1_act", "pool1", "fc1_act", "logits"):
        assert any(f"[{layer}]/" in n for n in names), layer  # e.g. Sequential/Conv2d[conv1]/...
    assert not any("[0]" in n for n in names)


def _saturated_tanh_cnn():
    net = reference.build(cnn_spec("tanh", "xavier", 0.5), seed=0)
    with torch.no_grad():
        for i in (3, 7):  # conv2, fc1: large weights push tanh's input far past +-3
            net[i].weight.mul_(40)
    return net


def test_saturated_tanh_layer_reports_its_saturation(tmp_path):
    net, probe = _saturated_tanh_cnn(), torch.randn(16, 1, 28, 28)
    s = Summaries(str(tmp_path), cnn_spec("tanh", "xavier", 0.5))
    s.activations(5, net, probe, hist=False)
    s.close()
    acc = _events(tmp_path)
    with torch.no_grad():
        outs = {name: net[: i + 1](probe) for name, i in (("conv2", 4), ("fc1", 8))}
    for layer, out in outs.items():
        truth = float((out.abs() > 0.99).float().mean())
        assert truth >= 0.5
        logged = acc.Scalars(f"{layer}/Health/saturated")[0].value
        assert logged == pytest.approx(truth, abs=1e-6)
        assert 0 <= acc.Scalars(f"{layer}/Health/saturated_units")[0].value <= logged
    assert not any("sparsity" in t or "dead" in t for t in acc.Tags()["scalars"])  # tanh: cannot be non-zero


def test_a_unit_saturated_on_99_percent_of_positions_counts():
    a = np.full((100, 4, 2, 2), 0.999)
    a[0, :, 0, 0] = 0.0  # one position in 400 of every channel is not saturated
    a[:, 3] = 0.5        # channel 3 never is
    h = T.health("tanh", a)
    assert h["saturated"] == pytest.approx(0.75 * 399 / 400)
    assert h["saturated_units"] == 0.75  # the rule "every position" would say 0
    relu = np.maximum(np.random.default_rng(0).normal(size=(50, 8)), 0)
    relu[:, :2] = 0
    h = T.health("relu", relu)
    assert set(h) == {"sparsity", "dead_units"} and h["dead_units"] == 0.25
    assert h["sparsity"] == pytest.approx((relu == 0).mean())
    assert T.health("leaky_relu", relu) == {}
    assert T.health("tanh", torch.as_tensor(a)) == pytest.approx(T.health("tanh", a))  # tensors too


@pytest.mark.parametrize("kinds, names", [
    ([("conv", ""), ("act", "relu"), ("pool", ""), ("conv", ""), ("act", "relu"), ("pool", ""), ("flatten", ""),
      ("linear", ""), ("act", "relu"), ("dropout", ""), ("linear", "")],
     ["conv1", "conv1_act", "pool1", "conv2", "conv2_act", "pool2", "flatten", "fc1", "fc1_act", "dropout", "logits"]),
    ([("linear", ""), ("act", "tanh"), ("linear", ""), ("act", "sigmoid")], ["fc1", "fc1_act", "logits", "logits_act"]),
], ids=["mnist_cnn", "mlp"])
def test_layer_names(kinds, names):
    assert T.module_names(kinds) == names
