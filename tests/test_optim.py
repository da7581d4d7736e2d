"""NumPy optimizers and schedules against torch.optim over many steps."""
import numpy as np
import pytest
import torch

import reference
from numpy_impl import OptimSpec, optim

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
    # 1 - beta1 >= 0.5 takes lerp's other branch (with beta2 = 0.9 this run turns chaotic near step
    # 180: differences of one rounding grow past 1e-12)
    "low-beta1": dict(lr=0.01, betas=(0.3, 0.999)),
}


def _run(make_ours, make_theirs, rng):
    """Minimise a random quadratic plus a sine with both optimizers from the same start;
    make_*(params) gives an optimizer, or (optimizer, lr schedule) stepped after every step."""
    a = rng.normal(size=(6, 6))
    hess = a @ a.T / 6 + np.eye(6) * 0.1
    start = {"w": rng.normal(size=(6,)), "m": rng.normal(size=(2, 3))}
    params = {k: v.copy() for k, v in start.items()}
    tparams = {k: torch.tensor(v, requires_grad=True) for k, v in start.items()}
    npo, ns = _with_schedule(make_ours(params))
    to, ts = _with_schedule(make_theirs(list(tparams.values())))
    for _ in range(STEPS):
        grads = {"w": hess @ params["w"], "m": np.cos(params["m"])}
        npo.step(grads)
        to.zero_grad()
        loss = 0.5 * tparams["w"] @ torch.tensor(hess) @ tparams["w"] + torch.sin(tparams["m"]).sum()
        loss.backward()
        to.step()
        for sched in (ns, ts):
            if sched is not None:
                sched.step()
    return params, {k: v.detach().numpy() for k, v in tparams.items()}


def _with_schedule(made):
    return made if isinstance(made, tuple) else (made, None)


def _classes(np_cls, torch_cls, kwargs):
    return lambda p: np_cls(p, **kwargs), lambda p: torch_cls(p, **kwargs)


@pytest.mark.parametrize("kwargs", SGD_CASES.values(), ids=SGD_CASES.keys())
def test_sgd_matches_torch(kwargs, rng):
    ours, theirs = _run(*_classes(optim.SGD, torch.optim.SGD, kwargs), rng)
    for k in ours:
        np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kwargs", ADAM_CASES.values(), ids=ADAM_CASES.keys())
def test_adam_matches_torch(kwargs, rng):
    ours, theirs = _run(*_classes(optim.Adam, torch.optim.Adam, kwargs), rng)
    for k in ours:
        np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kwargs", ADAM_CASES.values(), ids=ADAM_CASES.keys())
def test_adam_in_blocks_matches_torch(kwargs, rng, monkeypatch):
    """Parameters larger than a block (7 elements here) are updated block by block."""
    monkeypatch.setattr(optim, "ADAM_BLOCK", 7)
    ours, theirs = _run(*_classes(optim.Adam, torch.optim.Adam, kwargs), rng)
    for k in ours:
        np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lerp_is_atens_bit_for_bit_where_its_products_are_exact(dtype, rng):
    """Adam's moment update is ATen's lerp: start + w (end - start) below w = 0.5, else
    end - (1 - w)(end - start). Where w or 1 - w is a power of two its product is exact and each
    side rounds once, so every bit must agree; elsewhere (torch may fuse the multiply and the
    add) within a rounding."""
    start, end = rng.normal(size=(2, 1000)).astype(dtype)
    for weight in (0.0, 0.25, 0.5, 0.75, 1.0, 0.1, 0.7):
        ours = start.copy()
        optim._lerp_into(ours, end - start, weight, end)
        theirs = torch.lerp(torch.tensor(start), torch.tensor(end), weight).numpy()
        if weight in (0.0, 0.25, 0.5, 0.75, 1.0):
            np.testing.assert_array_equal(ours, theirs, err_msg=f"weight {weight}")
        else:
            np.testing.assert_allclose(ours, theirs, rtol=4 * np.finfo(dtype).eps, atol=4 * np.finfo(dtype).eps)


@pytest.mark.parametrize("kwargs", ADAM_CASES.values(), ids=ADAM_CASES.keys())
def test_adamw_matches_torch(kwargs, rng):
    kwargs = {"weight_decay": 0.05, **kwargs}  # decoupled weight decay is what sets AdamW apart
    ours, theirs = _run(*_classes(optim.AdamW, torch.optim.AdamW, kwargs), rng)
    for k in ours:
        np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-12, atol=1e-12)


# one description, two builders: every field reaches both sides
SPECS = {
    "sgd-nesterov-wd-decay": OptimSpec("sgd", 0.05, momentum=0.8, nesterov=True, weight_decay=0.1, decay=0.99),
    "sgd-dampening-step-decay": OptimSpec("sgd", 0.05, momentum=0.9, dampening=0.3, decay=0.5, step_size=50),
    "adam-amsgrad-wd-decay": OptimSpec("adam", 0.01, amsgrad=True, weight_decay=0.05, decay=0.99),
    "adamw": OptimSpec("adamw", 0.01, weight_decay=0.05),
    "adamw-all": OptimSpec("adamw", 0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05, amsgrad=True,
                           decay=0.5, step_size=40),
}


@pytest.mark.parametrize("spec", SPECS.values(), ids=SPECS.keys())
def test_both_builders_of_one_spec_match(spec, rng):
    ours, theirs = _run(lambda p: optim.build_optimizer(spec, p), lambda p: reference.build_optimizer(spec, p), rng)
    for k in ours:
        np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kwargs,message", [
    ({"kind": "rmsprop"}, "opt: unknown optimizer 'rmsprop'; choose from sgd, adam, adamw$"),
    ({"lr": float("nan")}, "lr: must be > 0"),
    ({"lr": float("inf")}, "lr: must be a finite number"),
    ({"momentum": -0.5}, "momentum: must be a finite number >= 0"),
    ({"momentum": float("nan")}, "momentum: must be a finite number >= 0"),
    ({"weight_decay": -0.1}, "weight_decay: must be a finite number >= 0"),
    ({"kind": "adam", "eps": float("nan")}, "eps: must be a finite number >= 0"),
    ({"kind": "adam", "betas": (0.9, 1.0)}, r"betas: each must lie in \[0, 1\)"),
    ({"kind": "adam", "betas": (float("nan"), 0.999)}, r"betas: each must lie in \[0, 1\)"),
    ({"decay": float("nan")}, r"decay: must lie in \(0, 1\]"),
    ({"step_size": -1}, "step_size: must be a whole number >= 0"),
    ({"nesterov": True}, "nesterov: needs momentum > 0 and dampening 0$"),
    ({"momentum": 0.9, "dampening": 0.1, "nesterov": True}, "nesterov: needs momentum > 0 and dampening 0"),
    ({"amsgrad": True}, "amsgrad: an Adam/AdamW option, not SGD's$"),
    ({"kind": "adam", "momentum": 0.9}, "momentum: an SGD option; adam has none"),
    ({"kind": "adamw", "nesterov": True}, "nesterov: an SGD option; adamw has none"),
], ids=["kind", "lr-nan", "lr-inf", "momentum-negative", "momentum-nan", "weight-decay-negative", "eps-nan",
        "beta-one", "beta-nan", "decay-nan", "step-size-negative", "nesterov-without-momentum",
        "nesterov-with-dampening", "amsgrad-for-sgd", "momentum-for-adam", "nesterov-for-adamw"])
def test_bad_optim_spec_names_the_field(kwargs, message):
    with pytest.raises(ValueError, match="^" + message):  # the message begins with the field
        OptimSpec(**kwargs)


def test_adam_defaults_are_torchs():
    opt = optim.Adam({"w": np.zeros(2)})
    assert (opt.lr, opt.betas, opt.eps, opt.weight_decay, opt.amsgrad) == (1e-3, (0.9, 0.999), 1e-8, 0.0, False)


def test_betas_of_zero_are_allowed_as_torch_allows_them():
    assert OptimSpec("adam", 0.01, betas=(0.0, 0.0)).betas == (0.0, 0.0)
    optim.Adam({"w": np.zeros(2)}, betas=(0.0, 0.0))


def test_optim_spec_schedule_and_description():
    spec = OptimSpec("adam", 0.01, amsgrad=True, decay=0.5, step_size=3)
    assert [spec.lr_at(e) for e in range(7)] == [0.01, 0.01, 0.01, 0.005, 0.005, 0.005, 0.0025]
    assert spec.describe() == "adam lr 0.01 amsgrad decay 0.5 every 3 epochs"
    assert OptimSpec("sgd", 0.1, momentum=0.9, nesterov=True, decay=0.9).describe(per="step") == \
        "sgd lr 0.1 momentum 0.9 nesterov decay 0.9/step"


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
    assert ns.last_epoch == ts.last_epoch == 20  # torch's epoch counter


@pytest.mark.parametrize("make,message", [
    (lambda p: optim.SGD(p, lr=0), "lr: must be > 0"),
    (lambda p: optim.Adam(p, lr=-1), "lr: must be > 0"),
    (lambda p: optim.ExponentialLR(optim.SGD(p, 0.1), 1.5), r"decay: must lie in \(0, 1\]"),
    (lambda p: optim.StepLR(optim.SGD(p, 0.1), 2, 0.0), r"decay: must lie in \(0, 1\]"),
    (lambda p: optim.SGD(p, 0.1, nesterov=True), "nesterov"),
    (lambda p: optim.Adam(p, betas=(0.9, 1.0)), r"betas: each must lie in \[0, 1\), got \(0.9, 1.0\)$"),
    (lambda p: optim.Adam(p, betas=(0.9, 1.5)), r"betas: each must lie in \[0, 1\), got \(0.9, 1.5\)$"),
], ids=["sgd-lr", "adam-lr", "exp-decay", "step-decay", "nesterov", "adam-beta-one", "adam-beta-above-one"])
def test_bad_settings_are_named(make, message):
    with pytest.raises(ValueError, match="^" + message):
        make({"w": np.zeros(2)})
