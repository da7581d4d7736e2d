"""CS231n assignment 2's normalisation functions (batchnorm_forward / batchnorm_backward, the
simplified batchnorm_backward_alt, layernorm_*) between affine layers, in training mode with
bn_param's momentum 0.9 (running = 0.9 running + 0.1 batch, the biased batch variance: recognised,
not torch's); `python -m crosscheck --user examples/byo_batchnorm_cs231n.py`."""
import numpy as np


def affine_forward(x, w, b):
    return x.reshape(x.shape[0], -1) @ w + b, (x, w)


def affine_backward(dout, cache):
    x, w = cache
    return (dout @ w.T).reshape(x.shape), x.reshape(x.shape[0], -1).T @ dout, dout.sum(axis=0)


def relu_forward(x):
    return np.maximum(0, x), x


def relu_backward(dout, cache):
    return dout * (cache > 0)


def batchnorm_forward(x, gamma, beta, bn_param):
    mode, eps, momentum = bn_param["mode"], bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    d = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(d))
    running_var = bn_param.get("running_var", np.zeros(d))
    if mode == "train":
        mu = x.mean(axis=0)
        xc = x - mu
        var = (xc ** 2).mean(axis=0)
        std = np.sqrt(var + eps)
        xhat = xc / std
        out = gamma * xhat + beta
        cache = (xhat, xc, std, gamma)
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var
    else:
        xhat = (x - running_mean) / np.sqrt(running_var + eps)
        out, cache = gamma * xhat + beta, None
    bn_param["running_mean"], bn_param["running_var"] = running_mean, running_var
    return out, cache


def batchnorm_backward(dout, cache):
    """The staged backward, through the computational graph."""
    xhat, xc, std, gamma = cache
    n = dout.shape[0]
    dbeta, dgamma = dout.sum(axis=0), (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    dxc = dxhat / std
    dstd = -(dxhat * xc).sum(axis=0) / std ** 2
    dvar = 0.5 * dstd / std
    dxc += 2 * xc * dvar / n
    dx = dxc - dxc.mean(axis=0)
    return dx, dgamma, dbeta


def batchnorm_backward_alt(dout, cache):
    """The simplified backward, in one line."""
    xhat, _, std, gamma = cache
    n = dout.shape[0]
    dbeta, dgamma = dout.sum(axis=0), (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    dx = (n * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0)) / (n * std)
    return dx, dgamma, dbeta


def layernorm_forward(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    mu = x.mean(axis=1, keepdims=True)
    std = np.sqrt(x.var(axis=1, keepdims=True) + eps)
    xhat = (x - mu) / std
    return gamma * xhat + beta, (xhat, std, gamma)


def layernorm_backward(dout, cache):
    xhat, std, gamma = cache
    d = dout.shape[1]
    dxhat = dout * gamma
    dx = (d * dxhat - dxhat.sum(axis=1, keepdims=True) - xhat * (dxhat * xhat).sum(axis=1, keepdims=True)) / (d * std)
    return dx, (dout * xhat).sum(axis=0), dout.sum(axis=0)


def net(rng, d=6, h=5, classes=3, alt=False):
    """affine - batchnorm - relu - affine - layernorm - relu - affine, CS231n's FullyConnectedNet order."""
    bn_param = {"mode": "train", "momentum": 0.9, "running_mean": rng.normal(0, .3, h),
                "running_var": rng.uniform(.5, 1.5, h)}
    return [("affine", rng.normal(0, .5, (d, h)), rng.normal(0, .1, h)),
            ("batchnorm_alt" if alt else "batchnorm", rng.uniform(.5, 1.5, h), rng.normal(0, .2, h), bn_param),
            "relu",
            ("affine", rng.normal(0, .5, (h, h)), rng.normal(0, .1, h)),
            ("layernorm", rng.uniform(.5, 1.5, h), rng.normal(0, .2, h), {"eps": 1e-5}),
            "relu",
            ("affine", rng.normal(0, .5, (h, classes)), np.zeros(classes))]


def crosscheck_model(funcs=None, alt=False, mode="train"):
    from crosscheck import byo
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(8, 6)), rng.integers(0, 3, size=8)
    layers = net(rng, alt=alt)
    layers[1][3]["mode"] = mode
    return byo.functional(layers, x, y, funcs=funcs or globals(), loss="softmax_ce", name="byo_batchnorm_cs231n")


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    n, c, h, w = x.shape
    out, cache = batchnorm_forward(x.transpose(0, 2, 3, 1).reshape(-1, c), gamma, beta, bn_param)
    return out.reshape(n, h, w, c).transpose(0, 3, 1, 2), cache


def spatial_batchnorm_backward(dout, cache):
    n, c, h, w = dout.shape
    dx, dgamma, dbeta = batchnorm_backward_alt(dout.transpose(0, 2, 3, 1).reshape(-1, c), cache)
    return dx.reshape(n, h, w, c).transpose(0, 3, 1, 2), dgamma, dbeta


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    """gamma, beta (1, C, 1, 1) as CS231n keeps them."""
    n, c, h, w = x.shape
    xg = x.reshape(n, G, -1)
    mu, std = xg.mean(axis=2, keepdims=True), np.sqrt(xg.var(axis=2, keepdims=True) + gn_param.get("eps", 1e-5))
    xhat = ((xg - mu) / std).reshape(x.shape)
    return gamma * xhat + beta, (xhat, std, gamma, G)


def spatial_groupnorm_backward(dout, cache):
    xhat, std, gamma, G = cache
    n = dout.shape[0]
    dgamma, dbeta = (dout * xhat).sum(axis=(0, 2, 3), keepdims=True), dout.sum(axis=(0, 2, 3), keepdims=True)
    dxhat, xh = (dout * gamma).reshape(n, G, -1), xhat.reshape(n, G, -1)
    dx = (dxhat - dxhat.mean(axis=2, keepdims=True) - xh * (dxhat * xh).mean(axis=2, keepdims=True)) / std
    return dx.reshape(dout.shape), dgamma, dbeta


def spatial_model(funcs=None):
    """spatial batchnorm - relu - spatial groupnorm (G=2) - affine on (N, 4, 3, 3) images."""
    from crosscheck import byo
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(4, 4, 3, 3)), rng.integers(0, 3, size=4)
    bn_param = {"mode": "train", "momentum": 0.9}
    layers = [("spatial_batchnorm", rng.uniform(.5, 1.5, 4), rng.normal(0, .2, 4), bn_param), "relu",
              ("spatial_groupnorm", rng.uniform(.5, 1.5, (1, 4, 1, 1)), rng.normal(0, .2, (1, 4, 1, 1)), 2, {}),
              ("affine", rng.normal(0, .3, (36, 3)), np.zeros(3))]
    return byo.functional(layers, x, y, funcs=funcs or globals(), loss="softmax_ce", name="byo_spatial_cs231n")
