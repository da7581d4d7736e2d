"""Planted normalisation bugs, each with its clean twin, in three conventions: row-major layer
objects (torch's momentum convention), CS231n function pairs (bn_param's momentum 0.9 and biased
running variance) and a Keras-style NHWC CNN with spatial batch norm and group norm; and
row-major residual blocks (x + f(x), one with a projection) with their usual slips, and a small
ResNet in byo.cnn (examples/byo_residual_cnn.py) in NCHW and NHWC: an identity block and a
downsampling block with a 1x1-convolution projection, convolutions with a bias before batch norms."""
from __future__ import annotations

import importlib.util
import pathlib

import numpy as np

from .case import Case

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def _example(name: str):
    spec = importlib.util.spec_from_file_location(f"corpus_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ROW = _example("byo_batchnorm_rowmajor")
CS = _example("byo_batchnorm_cs231n")
CNN = _example("byo_cnn_spatial_bn")
RES = _example("byo_residual_rowmajor")
RESCNN = _example("byo_residual_cnn")


# --- CS231n pairs with one slip each -------------------------------------------------------

def _bn_forward(bug):
    def batchnorm_forward(x, gamma, beta, bn_param):
        eps, m = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
        mu, var = x.mean(axis=0), x.var(axis=0)
        std = np.sqrt(var) + eps if bug == "eps_outside" else np.sqrt(var + eps)
        xhat = (x - mu) / std
        keep = 1 - m if bug == "momentum" else m
        run_var = x.var(axis=0, ddof=1) if bug == "unbiased_running" else var
        bn_param["running_mean"] = keep * bn_param["running_mean"] + (1 - keep) * mu
        bn_param["running_var"] = keep * bn_param["running_var"] + (1 - keep) * run_var
        return gamma * xhat + beta, (xhat, x - mu, std, gamma)
    return batchnorm_forward


def _bn_backward(bug):
    def batchnorm_backward_alt(dout, cache):
        xhat, _, std, gamma = cache
        n = len(dout)
        dgamma = dout * xhat if bug == "dgamma_unsummed" else (dout * xhat).sum(axis=0)
        dxhat = dout * gamma
        if bug == "constants":
            return dxhat / std, dgamma, dout.sum(axis=0)
        if bug == "variance_constant":
            return (dxhat - dxhat.mean(axis=0)) / std, dgamma, dout.sum(axis=0)
        dx = (n * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0)) / (n * std)
        return dx, dgamma, dout.sum(axis=0)
    return batchnorm_backward_alt


def _ln_forward(x, gamma, beta, ln_param):
    """Statistics over the batch axis: batch norm's, where layer norm's are per sample."""
    mu, std = x.mean(axis=0, keepdims=True), np.sqrt(x.var(axis=0, keepdims=True) + ln_param.get("eps", 1e-5))
    xhat = (x - mu) / std
    return gamma * xhat + beta, (xhat, std, gamma)


def _ln_backward_constants(dout, cache):
    xhat, std, gamma = cache
    return dout * gamma / std, (dout * xhat).sum(axis=0), dout.sum(axis=0)


def _gn_forward_strided(x, gamma, beta, G, gn_param):
    n, c, h, w = x.shape
    xs = x.reshape(n, c // G, G, h, w).swapaxes(1, 2)
    out, (xhat, std, _, _) = CS.spatial_groupnorm_forward(xs.reshape(x.shape), np.ones((1, c, 1, 1)),
                                                          np.zeros((1, c, 1, 1)), G, gn_param)
    xhat = xhat.reshape(n, G, c // G, h, w).swapaxes(1, 2).reshape(x.shape)
    return gamma * xhat + beta, (xhat, std, gamma, G)


def _cs(**replace):
    return lambda: CS.crosscheck_model(funcs={**vars(CS), **replace}, alt="batchnorm_backward_alt" in replace)


def _cs_spatial(**replace):
    return lambda: CS.spatial_model(funcs={**vars(CS), **replace})


def _row(**kw):
    return lambda: ROW.crosscheck_model(**kw)


def _res(**kw):
    return lambda: RES.crosscheck_model(**kw)


def _cnn(**kw):
    return lambda: CNN.crosscheck_model(**kw)


def _rescnn(layout, **kw):
    return lambda: RESCNN.crosscheck_model(layout, **kw)


def cases() -> list[Case]:
    row, cs, nhwc = "norm-rowmajor", "norm-cs231n", "norm-nhwc"
    eval_clean = _row(training=False)
    return [
        Case(row, "bn mean and variance as constants", _row(), _row(bn_bug="constants"), 1, "as constants"),
        Case(row, "bn unbiased variance to normalise", _row(), _row(bn_bug="unbiased_norm"), 1, "unbiased variance"),
        Case(row, "bn eps outside the root", _row(), _row(bn_bug="eps_outside"), 1, "eps outside"),
        Case(row, "bn other momentum convention", _row(), _row(bn_bug="momentum"), 1, "other momentum convention"),
        Case(row, "bn biased running variance", _row(), _row(bn_bug="biased_running"), 1, "biased (n) batch variance"),
        Case(row, "bn running statistics in training", _row(), _row(bn_bug="running_in_train"), 1,
             "used in training mode"),
        Case(row, "bn batch statistics in eval", eval_clean, _row(bn_bug="batch_in_eval", training=False), 1,
             "batch statistics used in eval mode"),
        Case(row, "bn dgamma not summed", _row(), _row(bn_bug="dgamma_unsummed"), 1, "not summed over the batch"),
        Case(row, "ln mean and variance as constants", _row(), _row(ln_bug="constants"), 4, "as constants"),
        Case(row, "ln statistics over the batch", _row(), _row(ln_bug="batch_axes"), 4, "wrong axes"),
        Case(row, "ln eps outside the root", _row(), _row(ln_bug="eps_outside"), 4, "eps outside"),
        Case(cs, "batchnorm_backward_alt constants", _cs(), _cs(batchnorm_backward_alt=_bn_backward("constants")), 1,
             "as constants"),
        Case(cs, "batchnorm_backward_alt variance constant", _cs(),
             _cs(batchnorm_backward_alt=_bn_backward("variance_constant")), 1, "variance treated as a constant"),
        Case(cs, "batchnorm_backward_alt dgamma unsummed", _cs(),
             _cs(batchnorm_backward_alt=_bn_backward("dgamma_unsummed")), 1, "not summed over the batch"),
        Case(cs, "batchnorm_forward eps outside", _cs(), _cs(batchnorm_forward=_bn_forward("eps_outside")), 1,
             "eps outside"),
        Case(cs, "batchnorm_forward torch's momentum", _cs(), _cs(batchnorm_forward=_bn_forward("momentum")), 1,
             "other momentum convention"),
        Case(cs, "batchnorm_forward unbiased running var", _cs(),
             _cs(batchnorm_forward=_bn_forward("unbiased_running")), 1, "unbiased (n - 1) batch variance"),
        Case(cs, "layernorm_forward over the batch", _cs(), _cs(layernorm_forward=_ln_forward), 4, "wrong axes"),
        Case(cs, "layernorm_backward constants", _cs(), _cs(layernorm_backward=_ln_backward_constants), 4,
             "as constants"),
        Case(cs, "spatial_groupnorm grouped by c % G", _cs_spatial(),
             _cs_spatial(spatial_groupnorm_forward=_gn_forward_strided), 2, "grouped by c % G"),
        Case(nhwc, "spatial bn as constants", _cnn(), _cnn(bn_bug="constants"), 1, "as constants"),
        Case(nhwc, "spatial bn statistics per position", _cnn(), _cnn(bn_bug="per_position"), 1,
             "spatial statistics over the wrong axes"),
        Case(nhwc, "spatial bn dgamma summed over N only", _cnn(), _cnn(bn_bug="dgamma_batch_only"), 1,
             "not summed over the spatial axes"),
        Case(nhwc, "spatial bn backward over N only", _cnn(), _cnn(bn_bug="backward_batch_only"), 1,
             "averaged over the batch only"),
        Case(nhwc, "group norm grouped by c % G", _cnn(), _cnn(gn_bug="strided"), 4, "grouped by c % G"),
        Case(nhwc, "group norm eps outside", _cnn(), _cnn(gn_bug="eps_outside"), 4, "eps outside"),
        Case(nhwc, "eval-mode spatial bn, group norm eps outside", _cnn(training=False),
             _cnn(training=False, gn_bug="eps_outside"), 4, "eps outside"),
        *residual_cases(),
        *residual_cnn_cases(),
    ]


def residual_cases() -> list[Case]:
    res = "norm-residual"
    return [
        Case(res, "residual backward drops the skip", _res(), _res(bug="backward_drops_skip"), 2,
             "drops the skip path"),
        Case(res, "residual backward drops the branch", _res(), _res(bug="backward_drops_branch"), 2,
             "drops the branch"),
        Case(res, "residual forward drops the skip", _res(), _res(bug="forward_drops_skip"), 2,
             "forward drops the skip"),
        Case(res, "residual forward drops the branch", _res(), _res(bug="forward_drops_branch"), 2,
             "forward drops the branch"),
        Case(res, "projected block drops the projection's dx", _res(), _res(proj_bug="backward_drops_skip"), 3,
             "drops the skip path"),
        Case(res, "projected block drops the branch's dx", _res(), _res(proj_bug="backward_drops_branch"), 3,
             "drops the branch"),
    ]


def residual_cnn_cases() -> list[Case]:
    """Layer 3 is the identity block (conv-BN-ReLU-conv-BN), layer 5 the downsampling one; each
    residual slip in both layouts, the others in one (a byo.cnn check costs a few seconds)."""

    def case(layout, name, layer, slip, **bug):
        return Case(f"norm-res-{layout}", name, _rescnn(layout), _rescnn(layout, **bug), layer, slip)
    return [
        *(case(layout, "block backward drops the skip", 3, "drops the skip path", bug="backward_drops_skip")
          for layout in ("nchw", "nhwc")),
        *(case(layout, "block backward drops the branch", 3, "drops the branch", bug="backward_drops_branch")
          for layout in ("nchw", "nhwc")),
        case("nhwc", "downsampling block drops the 1x1 projection's dx", 5, "drops the skip path",
             proj_bug="backward_drops_skip"),
        case("nhwc", "block forward drops the skip", 3, "forward drops the skip", bug="forward_drops_skip"),
        case("nchw", "conv bias before a batch norm in a block: db of the last image", 3, None, bias_bug="last_image"),
    ]
