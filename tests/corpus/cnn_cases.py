"""Planted CNN bugs, each with its clean twin, in both layouts (NHWC layer objects in the
TensorFlow tutorial's style, NCHW CS231n naive function pairs and layer objects)."""
from __future__ import annotations

import importlib.util
import pathlib

import numpy as np

from crosscheck import byo

from .case import Case

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"
BUDGET_S = 1.0  # small nets: keep each check around a second


def _example(name: str):
    spec = importlib.util.spec_from_file_location(f"corpus_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TF = _example("byo_cnn_nhwc")
CS = _example("byo_cnn_cs231n")


class AvgPoolNHWC:
    """2x2 'VALID' average pool in NHWC; bug="no_mean" forgets the 1/k² in backward."""

    def __init__(self, bug=None):
        self.pool_size, self.stride, self.padding, self.bug = 2, 2, "VALID", bug

    def forward(self, x):
        self.shape = x.shape
        n, h, w, c = x.shape
        return x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))

    def backward(self, dy):
        scale = 1.0 if self.bug == "no_mean" else 0.25
        return np.repeat(np.repeat(dy, 2, axis=1), 2, axis=2) * scale


class FlattenHWC:
    """NCHW input flattened in H,W,C order; bug="reshape" unflattens with a plain reshape."""

    def __init__(self, bug=None):
        self.bug = bug

    def forward(self, x):
        self.shape = x.shape
        return x.transpose(0, 2, 3, 1).reshape(len(x), -1)

    def backward(self, dy):
        n, c, h, w = self.shape
        return dy.reshape(self.shape) if self.bug == "reshape" else dy.reshape(n, h, w, c).transpose(0, 3, 1, 2)


def _tf_net(seed=0, conv1=None, conv2=None, route="first", flatten="hwc", drop_bwd=True, avg=None,
            stride=1, drop_scaled=True):
    """conv 3x3x4 SAME (stride) - relu - pool 2 SAME - conv 3x3 4->4 SAME - relu - pool -
    flatten - fc 8 - relu - dropout - fc 3, on 8x8x2 images."""
    rng = np.random.default_rng(seed)
    x, y = rng.random((3, 8, 8, 2)), np.array([0, 2, 1])
    side = -(-8 // stride)
    pool2 = AvgPoolNHWC(avg) if avg else TF.MaxPool()
    after = -(-(-(-side // 2)) // 2)
    layers = [TF.Conv2D(3, 3, 2, 4, rng, stride=stride, bug=conv1), TF.Relu(), TF.MaxPool(route=route),
              TF.Conv2D(3, 3, 4, 4, rng, bug=conv2), TF.Relu(), pool2,
              TF.Flatten(flatten), TF.Dense(after * after * 4, 8, rng), TF.Relu(),
              TF.Dropout(backward_scaled=drop_bwd, scaled=drop_scaled), TF.Dense(8, 3, rng)]
    return byo.cnn(layers, x, y, layout="nhwc", budget_s=BUDGET_S, name="tf-nhwc")


def _cs_net(seed=0, **kw):
    rng = np.random.default_rng(seed)
    c = 4
    x, y = rng.normal(size=(3, c, 8, 8)), rng.integers(0, 10, 3)
    return byo.cnn(CS.cs231n_layers(rng, c=c, **kw), x, y, layout="nchw", budget_s=BUDGET_S,
                       name="cs231n-nchw")


def _nchw_objects(seed=0, flatten=None, drop_bwd=True):
    """NCHW layer objects: conv (CS231n pair) - relu - pool - flatten H,W,C - fc - dropout - fc."""
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(3, 2, 6, 6)), np.array([1, 0, 2])
    conv = byo.conv_fn(CS.conv_forward_naive, CS.conv_backward_naive, rng.normal(0, .3, (3, 2, 3, 3)),
                           rng.normal(0, .1, 3), {"stride": 1, "pad": 1})
    pool = byo.pool_fn(CS.max_pool_forward_naive, CS.max_pool_backward_naive,
                           {"pool_height": 2, "pool_width": 2, "stride": 2})
    layers = [conv, byo.fn_layer(CS.relu_forward, CS.relu_backward), pool, FlattenHWC(flatten),
              TF.Dense(27, 8, rng), TF.Relu(), TF.Dropout(backward_scaled=drop_bwd), TF.Dense(8, 3, rng)]
    return byo.cnn(layers, x, y, layout="nchw", budget_s=BUDGET_S, name="objects-nchw")


def _pair(convention, name, make, layer, slip, **bug):
    return Case(convention, name, lambda: make(), lambda: make(**bug), layer, slip)


def cases() -> list[Case]:
    nhwc, nchw = "cnn-nhwc", "cnn-nchw"
    return [
        _pair(nhwc, "conv1 kernel flipped", _tf_net, 0, "kernel flipped", conv1="flip"),
        _pair(nhwc, "conv2 kernel flipped", _tf_net, 3, "kernel flipped", conv2="flip"),
        _pair(nhwc, "conv1 padding off by one", _tf_net, 0, "padding off by one", conv1="pad"),
        _pair(nhwc, "conv2 dW channel axes swapped", _tf_net, 3, "channel axes swapped", conv2="swap"),
        Case(nhwc, "conv stride 2 ignored in backward", lambda: _tf_net(stride=2),
             lambda: _tf_net(stride=2, conv1="stride"), 0, "stride applied wrongly"),
        _pair(nhwc, "pool routes to every maximum", _tf_net, 2, "every maximum", route="every"),
        _pair(nhwc, "pool routes to the last maximum", _tf_net, 2, "last maximum", route="last"),
        Case(nhwc, "avg pool without 1/k²", lambda: _tf_net(avg="ok"), lambda: _tf_net(avg="no_mean"), 5,
             "without the 1/k²"),
        _pair(nhwc, "flatten unflattened C,H,W in backward", _tf_net, 6, "flatten order", flatten="chw"),
        _pair(nhwc, "dropout backward unscaled", _tf_net, 9, "dropout backward scales", drop_bwd=False),
        Case(nhwc, "unscaled-dropout net, conv2 kernel flipped", lambda: _tf_net(drop_scaled=False),
             lambda: _tf_net(drop_scaled=False, drop_bwd=True, conv2="flip"), 3, "kernel flipped"),
        _pair(nchw, "naive conv kernel flipped", _cs_net, 0, "kernel flipped", bug="flip"),
        _pair(nchw, "naive conv padding off by one", _cs_net, 0, "padding off by one", bug="pad"),
        _pair(nchw, "naive conv dW channel axes swapped", _cs_net, 0, "channel axes swapped", bug="swap"),
        Case(nchw, "naive conv stride 2 ignored in backward", lambda: _cs_net(stride=2),
             lambda: _cs_net(stride=2, bug="stride"), 0, "stride applied wrongly"),
        _pair(nchw, "naive pool routes to every maximum", _cs_net, 2, "every maximum", bug="every", where="pool"),
        _pair(nchw, "naive pool routes to the last maximum", _cs_net, 2, "last maximum", bug="last", where="pool"),
        Case(nchw, "naive avg pool without 1/k²", lambda: _cs_net(pool="avg"),
             lambda: _cs_net(pool="avg", bug="no_mean", where="pool"), 2, "without the 1/k²"),
        Case(nchw, "flipped kernel with avg pool", lambda: _cs_net(pool="avg"),
             lambda: _cs_net(pool="avg", bug="flip"), 0, "kernel flipped"),
        Case(nchw, "stride 2 flipped kernel", lambda: _cs_net(stride=2),
             lambda: _cs_net(stride=2, bug="flip"), 0, "kernel flipped"),
        _pair(nchw, "flatten H,W,C unflattened by reshape", _nchw_objects, 3, "flatten order", flatten="reshape"),
        _pair(nchw, "dropout backward unscaled", _nchw_objects, 6, "dropout backward scales", drop_bwd=False),
    ]
