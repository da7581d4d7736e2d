"""Conv2d and MaxPool2d against torch.nn.functional over random shapes, strides, paddings."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import numpy_impl as ni
from layer_check import assert_layer_matches_torch
from numpy_impl.conv import Conv2d, Dropout, MaxPool2d

TOL = 1e-12


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 4), o=st.integers(1, 5), h=st.integers(1, 11),
       w=st.integers(1, 11), k=st.integers(1, 5), stride=st.integers(1, 3), pad=st.integers(0, 2),
       seed=st.integers(0, 2**31 - 1))
def test_conv2d_matches_torch(n, c, o, h, w, k, stride, pad, seed):
    assume(h + 2 * pad >= k and w + 2 * pad >= k)
    r = np.random.default_rng(seed)
    layer = Conv2d(c, o, k, stride, pad)
    layer.params["weight"] = r.normal(size=(o, c, k, k))
    layer.params["bias"] = r.normal(size=o)
    y, _ = assert_layer_matches_torch(layer, lambda t, weight, bias: TF.conv2d(t, weight, bias, stride, pad),
                                      r.normal(size=(n, c, h, w)), seed=seed)
    assert y.shape[2:] == (ni.spec.conv_output_size(h, k, stride, pad), ni.spec.conv_output_size(w, k, stride, pad))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 4), h=st.integers(2, 11), w=st.integers(2, 11),
       k=st.integers(1, 4), stride=st.integers(1, 3), ties=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_maxpool_matches_torch_including_ties(n, c, h, w, k, stride, ties, seed):
    """Ties: both send the gradient to the first maximum in row-major window order."""
    assume(h >= k and w >= k)
    r = np.random.default_rng(seed)
    x = r.integers(-2, 3, size=(n, c, h, w)).astype(float) if ties else r.normal(size=(n, c, h, w))
    layer = MaxPool2d(k, stride)
    y = layer.forward(x)
    dy = r.normal(size=y.shape)
    dx = layer.backward(dy)
    tx = torch.tensor(x, requires_grad=True)
    ty = TF.max_pool2d(tx, k, stride)
    ty.backward(torch.tensor(dy))
    assert np.array_equal(y, ty.detach().numpy())
    assert np.max(np.abs(dx - tx.grad.numpy())) <= 1e-12


def test_all_zero_window_routes_to_its_first_element():
    layer = MaxPool2d(2)
    layer.forward(np.zeros((1, 1, 2, 2)))
    assert layer.backward(np.ones((1, 1, 1, 1))).ravel().tolist() == [1.0, 0.0, 0.0, 0.0]


def test_dropout_with_shared_mask_matches_torch(rng):
    from reference import FixedMaskDropout
    x = rng.normal(size=(4, 6))
    mask = rng.random((4, 6)) >= 0.5
    layer = Dropout(0.5)
    layer.training, layer.mask = True, mask
    y = layer.forward(x)
    t = FixedMaskDropout(0.5, mask).train()
    assert np.array_equal(y, t(torch.tensor(x)).numpy())
    assert np.array_equal(layer.backward(np.ones_like(x)), mask * 2.0)
    layer.training = False
    assert layer.forward(x) is x


def test_dropout_without_mask_keeps_about_half(rng):
    layer = Dropout(0.5, rng=rng)
    layer.training = True
    y = layer.forward(np.ones((200, 100)))
    assert abs((y > 0).mean() - 0.5) < 0.02 and set(np.unique(y)) == {0.0, 2.0}


@pytest.mark.parametrize("make,x,message", [
    (lambda: Conv2d(3, 4, 3), np.zeros((2, 1, 8, 8)), r"layer \(conv2d\)|expected input \(N, 3, H, W\)"),
    (lambda: Conv2d(1, 4, 5), np.zeros((2, 1, 3, 3)), "smaller than the 5x5 kernel"),
    (lambda: MaxPool2d(4), np.zeros((2, 1, 3, 3)), "smaller than the 4x4 window"),
], ids=["channels", "conv-too-small", "pool-too-small"])
def test_bad_input_names_the_layer(make, x, message):
    layer = make()
    with pytest.raises(ValueError, match=message):
        layer.forward(x)


def test_errors_name_the_layer_inside_a_model():
    from mnist_cnn.spec import cnn_spec
    model = ni.build(cnn_spec("relu", "xavier", dtype="float64"))
    with pytest.raises(ValueError, match=r"layer 0 \(conv2d\): expected input \(N, 1, H, W\)"):
        model.forward(np.zeros((2, 3, 28, 28)))
    model.train()
    model[9].mask = np.ones((2, 512), bool)
    with pytest.raises(ValueError, match=r"layer 9 \(dropout\): mask shape \(2, 512\) does not match"):
        model.forward(np.zeros((2, 1, 28, 28)))


def test_spec_rejects_too_small_input():
    from numpy_impl.spec import Conv2d as C
    from numpy_impl.spec import ModelSpec
    with pytest.raises(ValueError, match=r"layer 0 \(conv2d\): input \(3, 3\) too small for kernel 5"):
        ModelSpec("m", (1, 3, 3), (C(4, 5),))
