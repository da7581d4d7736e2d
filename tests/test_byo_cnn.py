"""Bring-your-own CNNs: both layouts' examples pass, planted bugs are pinned to their layer
and named, bad inputs give one line naming the layer."""
from types import SimpleNamespace

import numpy as np
import pytest
from examples_loader import load_example

from crosscheck import byo
from crosscheck.check.byo.convnet.adapters import UserPool, same_pads
from crosscheck.check.harness import CheckResult, _mark_routing_flips
from numpy_impl import ReLU, Sequential

from corpus.cnn_cases import TF, _nchw_objects, _tf_net, cases


@pytest.mark.parametrize("example", ["byo_cnn_nhwc", "byo_cnn_cs231n"])
def test_examples_pass(example):
    result = byo.check(load_example(example).crosscheck_model())
    assert result.passed, [r.acc.describe() for r in result.rows if r.status != "ok"]
    assert max(result.worst("forward"), result.worst("gradient")) <= 1e-10
    assert any(n.startswith("checked on") for n in result.notes)


def outcome(make):
    """(passed, culprit layer, slips named at it), or (False, layer, [message]) when the
    check refused the model with one line naming the layer."""
    try:
        result = byo.check(make())
    except ValueError as err:
        layer = int(str(err).split()[1]) if str(err).startswith("layer ") else None
        return False, layer, [str(err)]
    culprit = result.culprit()
    layer = culprit.layer if culprit else None
    return result.passed, layer, [r.slip for r in result.rows if r.layer == layer and r.slip]


CASES = cases()


@pytest.mark.parametrize("case", CASES, ids=[f"{c.convention}:{c.name}" for c in CASES])
def test_corpus_case(case):
    passed, _, _ = outcome(case.make_clean)
    assert passed, "clean twin must pass"
    passed, layer, slips = outcome(case.make_buggy)
    assert not passed, "planted bug must be detected"
    assert layer == case.layer
    assert any(case.slip in s for s in slips), slips


def test_corpus_is_large_enough():
    assert sum(c.make_buggy is not None for c in CASES) >= 20
    assert {c.convention for c in CASES} == {"cnn-nhwc", "cnn-nchw"}


def test_same_padding_is_tensorflows():
    assert same_pads(28, 5, 1) == (2, 2)
    assert same_pads(8, 2, 2) == (0, 0)
    assert same_pads(7, 2, 2) == (0, 1)  # the odd pixel goes at the end


def test_flatten_order_is_followed():
    """NCHW input flattened H,W,C: the twin follows, so the fc after it lines up and passes."""
    assert byo.check(_nchw_objects(), fd=False).passed


def test_unscaled_dropout_recognised():
    model = _tf_net(drop_scaled=False)
    assert any("unscaled dropout" in n for n in model.notes)
    assert byo.check(model, fd=False).passed


def _one_line_error(make, layer: int, words: str):
    with pytest.raises(ValueError) as err:
        make()
    text = str(err.value)
    assert "\n" not in text and text.startswith(f"layer {layer} ") and words in text, text


def test_kernel_larger_than_padded_input():
    rng = np.random.default_rng(0)
    conv = TF.Conv2D(5, 5, 1, 2, rng, padding="VALID")
    _one_line_error(lambda: byo.cnn([conv], rng.random((2, 3, 3, 1)), np.zeros((2, 2, 2, 2)),
                                        layout="nhwc", loss="mse"), 0, "larger than the padded input")


def test_channel_count_mismatch():
    rng = np.random.default_rng(0)
    conv = TF.Conv2D(3, 3, 2, 4, rng)
    _one_line_error(lambda: byo.cnn([conv], rng.random((2, 6, 6, 3)), np.zeros((2, 6, 6, 4)),
                                        layout="nhwc", loss="mse"), 0, "3 channels but W expects 2")


def test_dropout_mask_of_wrong_shape():
    rng = np.random.default_rng(0)
    layers = [TF.Dense(4, 6, rng), TF.Dropout(), TF.Dense(6, 2, rng)]
    x = rng.random((3, 4))
    _one_line_error(lambda: byo.cnn(layers, x, np.array([0, 1, 0]), masks={1: np.ones((3, 5))}),
                    1, "mask shape (3, 5) does not match its input (3, 6)")


def test_handed_mask_is_used():
    rng = np.random.default_rng(0)
    layers = [TF.Dense(4, 6, rng), TF.Dropout(), TF.Dense(6, 2, rng)]
    mask = rng.random((3, 6)) < 0.5

    class GivenMaskDropout(TF.Dropout):
        def forward(self, x):
            return x * self.mask * 2

    layers[1] = GivenMaskDropout()
    model = byo.cnn(layers, rng.random((3, 4)), np.array([0, 1, 0]), masks={1: mask})
    np.testing.assert_array_equal(model.torch_model[1].scaled_mask.numpy(), mask * 2.0)
    assert byo.check(model, fd=False).passed


def test_a_large_batch_is_cut_by_its_size_alone():
    model = _tf_net()
    layers = [layer.obj for layer in model.model.layers]
    x = np.random.default_rng(0).random((64, 8, 8, 2))
    small = byo.cnn(layers, x, np.zeros(64, int), layout="nhwc", budget_s=0.05)
    assert len(small.x) < 64 and "checked on" in small.notes[0] and "sizes alone" in small.notes[0]


def test_the_batch_checked_does_not_depend_on_the_clock(monkeypatch):
    """A loaded machine (every clock reading 10 s after the last) checks what an idle one does."""
    import time
    layers = [layer.obj for layer in _tf_net().model.layers]
    x, labels = np.random.default_rng(0).random((8, 8, 8, 2)), np.zeros(8, int)
    idle = byo.cnn(layers, x, labels, layout="nhwc", budget_s=1.0)
    ticks = iter(range(0, 10 ** 6, 10))
    monkeypatch.setattr(time, "perf_counter", lambda: float(next(ticks)))
    monkeypatch.setattr(time, "time", lambda: float(next(ticks)))
    loaded = byo.cnn(layers, x, labels, layout="nhwc", budget_s=1.0)
    assert loaded.notes == idle.notes and len(loaded.x) == len(idle.x)
    np.testing.assert_array_equal(loaded.x, idle.x)


@pytest.mark.parametrize("gap, excused", [(1e-15, True), (1e-3, False)], ids=["near-tie", "real"])
def test_user_maxpool_near_ties_are_judged_locally(gap, excused):
    """A user's max-pool takes part in the harness's near-tie check through its max_windows."""
    pool = UserPool(TF.MaxPool(padding="VALID"), 1, "nhwc", "max")
    ours, ref = np.ones((1, 2, 2, 1)), np.ones((1, 2, 2, 1))
    ours[0, 0, 1, 0] += 1e-15  # ours picks tap 1, the reference tap 0
    ref[0, 0, 0, 0] += gap
    pool.check_input(ours)
    result = CheckResult("near-tie", "user", "float64")
    _mark_routing_flips(result, Sequential([ReLU(), pool]), ours, SimpleNamespace(outputs=[ours]),
                        SimpleNamespace(outputs=[ref]), "float64")
    assert any("near-tied maxima" in n for n in result.notes) == excused


def _tinynn_layers(stride=(1, 1), pool=(2, 2), padding="SAME"):
    """tinynn's NHWC layers as written: stride, window and padding stored as (h, w) tuples, the
    padding turned into np.pad widths on the first forward; float32 throughout."""
    from tinynn.core import layer as L
    np.random.seed(0)
    layers = [L.Conv2D((3, 3, 2, 3), stride=stride, padding=padding), L.ReLU(), L.MaxPool2D(pool, pool),
              L.Flatten(), L.Dense(3)]
    x = np.random.default_rng(1).normal(size=(3, 6, 6, 2)).astype(np.float32)
    h = x
    for layer in layers:
        h = layer.forward(h)
    return layers, x, np.array([1, 2, 0])


def test_square_tuples_and_np_pad_widths_are_their_int():
    layers, x, y = _tinynn_layers()
    assert layers[0].stride == (1, 1) and np.ndim(layers[0].padding) == 2  # ((0, 0), (1, 1), (1, 1), (0, 0))
    model = byo.cnn(layers, x, y, layout="nhwc")
    assert model.dtype == "float32" and byo.check(model, fd=True).passed  # judged with float32 bars
    conv, pool = model.model.layers[0], model.model.layers[2]
    assert (conv.stride, conv.pads, pool.k, pool.stride) == (1, (1, 1, 1, 1), 2, 2)


def test_asymmetric_np_pad_widths_are_followed():
    layers, x, y = _tinynn_layers()
    layers[0].kernel_shape = (2, 2, 2, 3)  # an even kernel: tinynn pads SAME as (0, 1)
    layers[0].params["w"] = np.random.default_rng(2).normal(size=(2, 2, 2, 3)).astype(np.float32)
    layers[0].padding = None
    layers[0].forward(x)
    assert tuple(map(tuple, layers[0].padding))[1] == (0, 1)
    model = byo.cnn(layers, x, y, layout="nhwc")
    assert model.model.layers[0].pads == (0, 1, 0, 1)
    assert byo.check(model, fd=False).passed


@pytest.mark.parametrize("index, attr, change", [
    (0, "stride", {"stride": (1, 2)}), (2, "window", {"kernel_shape": (2, 3)}), (2, "stride", {"stride": (2, 1)}),
    (0, "padding", {"padding": ((0, 0), (1, 1), (1, 1), (0, 1))})])
def test_a_non_square_size_is_refused_in_one_line(index, attr, change):
    layers, x, y = _tinynn_layers()
    for key, value in change.items():
        setattr(layers[index], key, value)
    _one_line_error(lambda: byo.cnn(layers, x, y, layout="nhwc"), index, attr)
