"""NumPy optimizers and schedules against torch.optim over many steps."""
import numpy as np
import pytest
import torch

from numpy_impl import optim

STEPS = 200

SGD_CASES = {
    "plain": dict(lr=0.05),
    "momentum": dict(lr=0.05, momentum=0.9),
    "dampening": dict(lr=0.05, momentum=0.9, dampening=0.3),
    "nesterov": dict(lr=0.05, momentum=0.8, nesterov=True),
    "weight-decay": dict(lr=0.05, momentum=0.5, weight_decay=0.1),
}
ADAM_CASES = {
    "default": dict(lr=0.01),
    "betas-eps": dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6),
    "weight-decay": dict(lr=0.01, weight_decay=0.05),
    "amsgrad": dict(lr=0.01, amsgrad=True),
}


def _run(np_opt_cls, torch_opt_cls, kwargs, rng):
    """Minimise a random quadratic plus a sine with both optimizers from the same start."""
    a = rng.normal(size=(6, 6))
    hess = a @ a.T / 6 + np.eye(6) * 0.1
    start = {"w": rng.normal(size=(6,)), "m": rng.normal(size=(2, 3))}
    params = {k: v.copy() for k, v in start.items()}
    tparams = {k: torch.tensor(v, requires_grad=True) for k, v in start.items()}
    npo = np_opt_cls(params, **kwargs)
    to = torch_opt_cls(list(tparams.values()), **kwargs)
    for _ in range(STEPS):
        grads = {"w": hess @ params["w"], "m": np.cos(params["m"])}
        npo.step(grads)
        to.zero_grad()
        loss = 0.5 * tparams["w"] @ torch.tensor(hess) @ tparams["w"] + torch.sin(tparams["m"]).sum()
        loss.backward()
        to.step()
    return params, {k: v.detach().numpy() for k, v in tparams.items()}


@pytest.mark.parametrize("kwargs", SGD_CASES.values(), ids=SGD_CASES.keys())
def test_sgd_matches_torch(kwargs, rng):
    ours, theirs = _run(optim.SGD, torch.optim.SGD, kwargs, rng)
    for k in ours:
        np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kwargs", ADAM_CASES.values(), ids=ADAM_CASES.keys())
def test_adam_matches_torch(kwargs, rng):
    ours, theirs = _run(optim.Adam, torch.optim.Adam, kwargs, rng)
    for k in ours:
        np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kwargs", ADAM_CASES.values(), ids=ADAM_CASES.keys())
def test_adam_in_blocks_matches_torch(kwargs, rng, monkeypatch):
    """Parameters larger than a block (7 elements here) are updated block by block."""
    monkeypatch.setattr(optim, "ADAM_BLOCK", 7)
    ours, theirs = _run(optim.Adam, torch.optim.Adam, kwargs, rng)
    for k in ours:
        np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["exponential", "step"])
def test_schedules_match_torch(kind):
    p = {"w": np.zeros(1)}
    npo = optim.SGD(p, lr=0.5)
    to = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.5)
    if kind == "exponential":
        ns, ts = optim.ExponentialLR(npo, 0.9), torch.optim.lr_scheduler.ExponentialLR(to, 0.9)
    else:
        ns, ts = optim.StepLR(npo, 3, 0.5), torch.optim.lr_scheduler.StepLR(to, 3, 0.5)
    for _ in range(20):
        assert npo.lr == pytest.approx(to.param_groups[0]["lr"], rel=1e-15)
        to.step()  # torch wants an optimizer step before each scheduler step
        ns.step()
        ts.step()
    if kind == "exponential":
        assert npo.lr == pytest.approx(0.5 * 0.9 ** 20, rel=1e-14)


@pytest.mark.parametrize("make,message", [
    (lambda p: optim.SGD(p, lr=0), "lr: must be > 0"),
    (lambda p: optim.Adam(p, lr=-1), "lr: must be > 0"),
    (lambda p: optim.ExponentialLR(optim.SGD(p, 0.1), 1.5), r"decay: must lie in \(0, 1\]"),
    (lambda p: optim.StepLR(optim.SGD(p, 0.1), 2, 0.0), r"decay: must lie in \(0, 1\]"),
    (lambda p: optim.SGD(p, 0.1, nesterov=True), "nesterov"),
], ids=["sgd-lr", "adam-lr", "exp-decay", "step-decay", "nesterov"])
def test_bad_settings_are_named(make, message):
    with pytest.raises(ValueError, match=message):
        make({"w": np.zeros(2)})
