"""Hostile input to the bring-your-own API (issue 25 A): every bad value is refused in one line
naming it and the fix (ValueError, or TypeError for the wrong kind of object) before anything
is run, cut or judged, never a PASS, never a traceback from deep inside, never a screen of
numpy RuntimeWarnings before it."""
import warnings

import numpy as np
import pytest
from examples_loader import load_example

import crosscheck
from crosscheck import byo

TF = load_example("byo_cnn_nhwc")
RM = load_example("byo_rowmajor")
CS = load_example("byo_cnn_cs231n")
LABELS = np.array([0, 1, 2, 3])


def tf_layers(rng):
    """conv 3x3 2->4 SAME - relu - pool - flatten - fc 64->10, NHWC, on (N, 8, 8, 2) images."""
    return [TF.Conv2D(3, 3, 2, 4, rng), TF.Relu(), TF.MaxPool(), TF.Flatten(), TF.Dense(64, 10, rng)]


def images(rng, n=4):
    return rng.random((n, 8, 8, 2))


def cnn(rng, x=None, labels=LABELS, layers=None, **kw):
    return byo.cnn(layers or tf_layers(rng), images(rng) if x is None else x, labels, layout="nhwc", **kw)


def mlp(rng, n=5):
    """Dense 3->8 - tanh - Dense 8->1, row-major, with (n, 3) inputs."""
    return [RM.Dense(3, 8, rng), RM.Tanh(), RM.Dense(8, 1, rng)], rng.normal(size=(n, 3)), rng.normal(size=(n, 1))


def rowmajor(rng, edit):
    layers, x, y = mlp(rng)
    edit(layers, x)
    return byo.rowmajor(layers, x, y)


def _set(a, index, value):
    a[index] = value


def nan_in_two_of_four_images(rng):
    x = images(rng)
    x[2, 0, 0, 0], x[3, 1, 1, 1] = np.nan, np.inf
    return cnn(rng, x)


def inf_conv_weight(rng):
    layers = tf_layers(rng)
    layers[0].W[0, 1, 0, 2] = np.inf
    return cnn(rng, layers=layers)


def nan_cs231n_kernel(rng):
    w = rng.normal(0, .3, (3, 2, 3, 3))
    w[1, 0, 2, 2] = np.nan
    conv = byo.conv_fn(CS.conv_forward_naive, CS.conv_backward_naive, w, np.zeros(3), {"stride": 1, "pad": 1})
    return byo.cnn([conv, byo.fn_layer(CS.relu_forward, CS.relu_backward), TF.Flatten(), TF.Dense(108, 3, rng)],
                   rng.normal(size=(2, 2, 6, 6)), np.array([0, 1]), layout="nchw")


class Overflowing:
    """An 'activation' whose forward overflows to Inf on large inputs."""

    def forward(self, x):
        return np.exp(x * 1000.0)

    def backward(self, x, dy):
        return dy * np.exp(x * 1000.0)


def overflow(rng):
    layers, x, y = mlp(rng)
    return byo.rowmajor([layers[0], Overflowing(), layers[2]], x, y)


def forward_returns_none(rng):
    def edit(layers, x):
        layers[1].forward = lambda h: None
    return rowmajor(rng, edit)


class WideDense(RM.Dense):
    """Returns dL/dx with one column too many."""

    def backward(self, x, dy):
        dx = super().backward(x, dy)
        return np.hstack([dx, dx[:, :1]])


def wide_dx(rng):
    layers, x, y = mlp(rng)
    layers[2] = WideDense(8, 1, rng)
    return byo.check(byo.rowmajor(layers, x, y), fd=False)


class WideCNNDense(TF.Dense):
    def backward(self, dy):
        dx = super().backward(dy)
        return np.hstack([dx, dx[:, :1]])


def wide_dx_cnn(rng):
    layers = tf_layers(rng)
    layers[4] = WideCNNDense(64, 10, rng)
    return cnn(rng, layers=layers)


def cube_forward(x):
    return x ** 3, x


def cube_backward(dy, x):
    return 3 * x ** 2 * dy


def unknown_fn_pair(rng):
    layers = tf_layers(rng)
    layers[1] = byo.fn_layer(cube_forward, cube_backward)
    return cnn(rng, layers=layers)


class NaiveTanh(TF.Relu):
    """tanh as (e^2x - 1) / (e^2x + 1): right on the first image, Inf / Inf = NaN on a large entry."""

    def forward(self, x):
        self.x, e = x, np.exp(2 * x)
        return (e - 1) / (e + 1)


def nan_on_the_second_image_only(rng):
    x = images(rng)
    x[1, 3, 3, 1] = 1000.0
    return cnn(rng, x, layers=[NaiveTanh(), *tf_layers(rng)[:1], TF.Relu(), TF.Flatten(), TF.Dense(256, 10, rng)])


def three_d_kernel(rng):
    layers = tf_layers(rng)
    layers[0].W = layers[0].W[0]
    return cnn(rng, layers=layers)


def result_of(rng):
    return byo.check(RM.crosscheck_model(), fd=False)


def torch_linear(rng):
    import torch
    return torch.nn.Linear(3, 2)


API_CASES = [
    # 1. validate the whole batch, then cut it
    ("cnn-nan-in-2-of-4-images", nan_in_two_of_four_images, ValueError, "input: contains NaN at [2, 0, 0, 0]"),
    ("cnn-label-12-of-10-classes", lambda r: cnn(r, labels=np.array([0, 1, 2, 12])), ValueError,
     "target: labels must lie in [0, 10), got range [0, 12]"),
    ("cnn-4-images-2-labels", lambda r: cnn(r, labels=np.array([0, 1])), ValueError,
     "target: 2 entries for 4 samples of input"),
    ("cnn-float-labels", lambda r: cnn(r, labels=np.array([0.5, 1, 2, 3])), ValueError,
     "target: softmax_ce needs integer class labels"),
    ("cnn-budget-nan", lambda r: cnn(r, budget_s=float("nan")), ValueError, "budget_s: must be a finite number > 0, got nan"),
    ("cnn-budget-negative", lambda r: cnn(r, budget_s=-1), ValueError, "budget_s: must be a finite number > 0, got -1"),
    ("cnn-budget-string", lambda r: cnn(r, budget_s="5"), ValueError, "budget_s: must be a number of seconds, got str"),
    # 2. masks
    ("cnn-mask-for-layer-99", lambda r: cnn(r, masks={99: np.ones(3)}), ValueError,
     "masks: layer 99 does not exist; the network has 5 layers"),
    ("cnn-mask-not-a-dict", lambda r: cnn(r, masks=[np.ones(3)]), ValueError,
     "masks: must be a dict {layer index: keep-mask}, got list"),
    ("cnn-mask-with-nan", lambda r: cnn(r, masks={1: np.full((4, 8, 8, 4), np.nan)}), ValueError,
     "masks: the mask for layer 1 contains NaN at [0, 0, 0, 0]"),
    ("cnn-mask-on-a-relu", lambda r: cnn(r, masks={1: np.ones((4, 8, 8, 4))}), ValueError,
     "masks: layer 1 (Relu) is not a dropout layer"),
    # 3. non-finite values of the user's get their own line
    ("rowmajor-nan-weights", lambda r: rowmajor(r, lambda ls, x: _set(ls[2].W, (3, 0), np.nan)), ValueError,
     "layer 2 (Dense): your weights contain NaN at [3, 0]"),
    ("rowmajor-inf-bias", lambda r: rowmajor(r, lambda ls, x: _set(ls[0].b, 5, -np.inf)), ValueError,
     "layer 0 (Dense): your bias contain Inf at [5]"),
    ("rowmajor-nan-input", lambda r: rowmajor(r, lambda ls, x: _set(x, (1, 2), np.nan)), ValueError,
     "input: contains NaN at [1, 2]"),
    ("rowmajor-overflow", overflow, ValueError, "layer 1 (Overflowing): your forward's output contains Inf at"),
    ("rowmajor-forward-returns-none", forward_returns_none, ValueError,
     "layer 1 (Tanh).forward returned None; it must return its output"),
    ("cnn-inf-conv-weights", inf_conv_weight, ValueError, "layer 0 (Conv2D): your weights contain Inf at [0, 1, 0, 2]"),
    ("cnn-nan-cs231n-kernel", nan_cs231n_kernel, ValueError,
     "layer 0 (conv_forward_naive): your weights contain NaN at [1, 0, 2, 2]"),
    ("cnn-unknown-function-pair-named-not-_Fn", unknown_fn_pair, ValueError,
     "layer 1 (cube_forward): cannot tell which activation it is from its forward"),
    ("cnn-forward-nan-on-a-later-image", nan_on_the_second_image_only, ValueError,
     "layer 0 (NaiveTanh): your forward's output contains NaN at [1, 3, 3, 1] on a finite input"),
    # 4. blame the layer that did it; say the layout expected and seen
    ("rowmajor-wide-dx-from-layer-2", wide_dx, ValueError,
     "layer 2 (WideDense).backward returned dL/dx of shape (5, 9) for its input of shape (5, 8)"),
    ("cnn-wide-dx-from-layer-4", wide_dx_cnn, ValueError,
     "layer 4 (WideCNNDense).backward returned dL/dx of shape (1, 65) for its input of shape (1, 64)"),
    ("cnn-nhwc-net-as-nchw", lambda r: byo.cnn(tf_layers(r), images(r).transpose(0, 3, 1, 2), LABELS, layout="nchw"),
     ValueError, "layout='nchw' reads the kernel (3, 3, 2, 4) as (F, C, kh, kw), 3 output channels, but b has "
                 "4 entries; it fits layout='nhwc'"),
    # 5. what used to be a traceback
    ("rowmajor-no-layers", lambda r: byo.rowmajor([], np.ones((2, 3)), np.ones((2, 1))), ValueError,
     "byo.rowmajor: layers is empty"),
    ("cnn-no-layers", lambda r: byo.cnn([], np.ones((2, 3, 4, 4)), np.zeros(2, int)), ValueError, "byo.cnn: layers is empty"),
    ("cnn-layers-not-a-list", lambda r: byo.cnn(TF.Relu(), images(r), LABELS), TypeError,
     "byo.cnn: layers must be a list of layer objects, got Relu"),
    ("cnn-3d-kernel", three_d_kernel, ValueError, "layer 0 (Conv2D): its weight W is 3-D, shape (3, 2, 4)"),
    ("cnn-empty-batch", lambda r: cnn(r, np.zeros((0, 8, 8, 2)), np.zeros(0, int)), ValueError,
     "input: empty batch (shape (0, 8, 8, 2))"),
    ("rowmajor-empty-batch", lambda r: byo.rowmajor(*mlp(r, 0)), ValueError, "input: empty batch (shape (0, 3))"),
    ("assert-none", lambda r: crosscheck.assert_matches_torch(None), TypeError,
     "assert_matches_torch: expected the network that byo.rowmajor(...)"),
    ("assert-factory", lambda r: crosscheck.assert_matches_torch(RM.crosscheck_model), TypeError,
     "got function; call it first: assert_matches_torch(crosscheck_model())"),
    ("assert-list-of-layers", lambda r: crosscheck.assert_matches_torch(mlp(r)[0]), TypeError,
     "got list; wrap the layers first"),
    ("assert-torch-linear", lambda r: crosscheck.assert_matches_torch(torch_linear(r)), TypeError,
     "got Linear; wrap your NumPy network first"),
    ("assert-a-result", lambda r: crosscheck.assert_matches_torch(result_of(r)), TypeError,
     "got UserCheckResult; that is already a check result"),
    ("check-none", lambda r: byo.check(None), TypeError, "byo.check: expected the network"),
]


@pytest.mark.parametrize("make,error,needle", [c[1:] for c in API_CASES], ids=[c[0] for c in API_CASES])
def test_bad_input_is_one_line_before_anything_runs(make, error, needle):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(error) as info:
            make(np.random.default_rng(0))
    text = str(info.value)
    assert needle in text and "\n" not in text, text
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)], [str(w.message) for w in caught]


def test_a_clean_cnn_still_passes_whole_batch_validated():
    """The validation refuses nothing a clean network hands it (the same net as the cases)."""
    rng = np.random.default_rng(0)
    model = cnn(rng)
    assert "checked on 4 of 4 images" in model.notes[0]
    assert byo.check(model, fd=False).passed


OTHER_CONVENTIONS = [
    ("colmajor-no-params", lambda: byo.colmajor([], "relu", None, None, np.ones((3, 4)), np.ones((1, 4))), ValueError,
     "byo.colmajor: layers is empty"),
    ("colmajor-nan-input", lambda: byo.colmajor([(np.ones((2, 3)), np.zeros((2, 1)))], "relu", None, None,
                                                np.full((3, 4), np.nan), np.ones((2, 4))), ValueError,
     "input: contains NaN at [0, 0]"),
    ("colmajor-inf-weights", lambda: byo.colmajor([(np.full((2, 3), np.inf), np.zeros((2, 1)))], "relu", None, None,
                                                  np.ones((3, 4)), np.ones((2, 4))), ValueError,
     "layer 0: your weights contain Inf at [0, 0]"),
    ("functional-empty-batch", lambda: byo.functional([("affine", np.ones((3, 2)), np.zeros(2))], np.ones((0, 3)),
                                                      np.zeros(0, int), funcs={}), ValueError, "input: empty batch"),
    ("functional-nan-bias", lambda: byo.functional([("affine", np.ones((3, 2)), np.array([0, np.nan]))],
                                                   np.ones((2, 3)), np.zeros(2, int), funcs={}), ValueError,
     "layer 0 (affine): your bias contain NaN at [1]"),
    ("network-inf-input", lambda: byo.network(None, None, [(np.ones((3, 2)), np.zeros(2))], np.full((2, 3), np.inf),
                                              np.ones((2, 2)), activations=["identity"]), ValueError,
     "input: contains Inf at [0, 0]"),
]


@pytest.mark.parametrize("make,error,needle", [c[1:] for c in OTHER_CONVENTIONS], ids=[c[0] for c in OTHER_CONVENTIONS])
def test_the_other_conventions_validate_their_input_too(make, error, needle):
    with pytest.raises(error) as info:
        make()
    assert needle in str(info.value) and "\n" not in str(info.value), str(info.value)
