"""The normalisation layers and the residual block: against torch.nn.functional on random
shapes (hypothesis), their running statistics against torch's modules over several steps, and
their gradients against finite differences with no torch at all (float64)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

import numpy_impl as ni
from numpy_impl import norm_functional as NF
from numpy_impl import spec as S
from numpy_impl.init import exercise_norm_state, init_state
from layer_check import assert_layer_matches_torch

seeds = st.integers(0, 2**31 - 1)
TOL = 1e-12  # float64, one layer: a few ulps


def _affine(layer, r):
    """Weight and bias away from torch's (1, 0), so a dropped gamma or beta would show."""
    for key, value in layer.params.items():
        layer.params[key] = r.uniform(0.5, 1.5, value.shape) if key == "weight" else r.normal(size=value.shape)
    return layer


def _bn_fn(layer, training):
    rm, rv = (torch.tensor(layer.buffers[k].copy()) for k in ("running_mean", "running_var"))
    return lambda x, weight, bias: TF.batch_norm(x, rm, rv, weight, bias, training=training,
                                                 momentum=layer.momentum, eps=layer.eps)


@pytest.mark.parametrize("spatial", [False, True], ids=["batchnorm1d", "batchnorm2d"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@settings(max_examples=15, deadline=None)
@given(n=st.integers(2, 6), c=st.integers(1, 5), hw=st.integers(1, 4), seed=seeds,
       scale=st.sampled_from([1e-2, 1.0, 30.0]))
def test_batchnorm_matches_torch(spatial, training, n, c, hw, seed, scale):
    r = np.random.default_rng(seed)
    layer = _affine(ni.BatchNorm2d(c) if spatial else ni.BatchNorm1d(c), r)
    layer.buffers["running_mean"][:] = r.normal(size=c)
    layer.buffers["running_var"][:] = r.uniform(0.5, 2, size=c)
    layer.training = training
    x = (r.normal(size=(n, c, hw, hw) if spatial else (n, c)) + r.normal()) * scale
    fn = _bn_fn(layer, training)
    # with tiny batches dx nearly cancels (N = 2: xhat is +-1 and dx ~ eps/var): allow a few ulps of
    # the terms it is made of, |gamma| |dy| / std with |gamma| <= 1.5 and |dy| < 6 here
    axes = (0, 2, 3) if spatial else (0,)
    var = x.var(axis=axes) if training else layer.buffers["running_var"]
    terms = 1.5 * 6 / np.sqrt(np.min(var) + layer.eps)
    assert_layer_matches_torch(layer, fn, x, seed=seed, tol=1e-10, dx_atol=64 * np.finfo(float).eps * terms)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 5), shape=st.sampled_from([(7,), (3, 4), (2, 3, 3)]), seed=seeds)
def test_layernorm_matches_torch(n, shape, seed):
    r = np.random.default_rng(seed)
    layer = _affine(ni.LayerNorm(shape), r)
    x = r.normal(size=(n, *shape)) * 3 + 1
    assert_layer_matches_torch(layer, lambda x, weight, bias: TF.layer_norm(x, shape, weight, bias, 1e-5),
                               x, seed=seed, tol=1e-10)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 4), groups=st.sampled_from([1, 2, 3]), per=st.integers(1, 3), hw=st.integers(1, 4),
       seed=seeds)
@example(n=1, groups=1, per=2, hw=1, seed=4)  # a group of two values: dx ~ 1e-6 of its terms
def test_groupnorm_matches_torch(n, groups, per, hw, seed):
    assume(per * hw * hw > 1)  # one value per group normalises to 0 (xhat ~ 1e-17 in torch, its rounding)
    r = np.random.default_rng(seed)
    c = groups * per
    layer = _affine(ni.GroupNorm(groups, c), r)
    x = r.normal(size=(n, c, hw, hw)) * 2 - 1
    # a group of two values nearly cancels in dx (xhat is +-1), as a batch of two does in
    # test_batchnorm_matches_torch: allow a few ulps of the terms it is made of
    terms = 1.5 * 6 / np.sqrt(np.min(x.reshape(n, groups, -1).var(axis=2)) + layer.eps)
    assert_layer_matches_torch(layer, lambda x, weight, bias: TF.group_norm(x, groups, weight, bias, 1e-5),
                               x, seed=seed, tol=1e-10, dx_atol=64 * np.finfo(float).eps * terms)


@pytest.mark.parametrize("momentum", [0.1, 0.5, None], ids=["momentum-0.1", "momentum-0.5", "cumulative"])
@pytest.mark.parametrize("spatial", [False, True], ids=["batchnorm1d", "batchnorm2d"])
def test_running_statistics_follow_torch_over_steps(momentum, spatial, rng):
    """torch's momentum convention and the unbiased running variance, step after step."""
    c = 3
    ours = (ni.BatchNorm2d if spatial else ni.BatchNorm1d)(c, momentum=momentum)
    theirs = (torch.nn.BatchNorm2d if spatial else torch.nn.BatchNorm1d)(c, momentum=momentum).double()
    ours.training = True
    for _ in range(4):
        x = rng.normal(size=(5, c, 2, 2) if spatial else (5, c)) * 2 + 1
        ours.forward(x)
        theirs(torch.tensor(x))
    for key, value in theirs.state_dict().items():
        if key in ours.buffers:
            np.testing.assert_allclose(ours.buffers[key], value.numpy(), rtol=1e-13, err_msg=key)
    assert int(ours.buffers["num_batches_tracked"]) == 4


def test_eval_mode_leaves_running_statistics_alone(rng):
    layer = ni.BatchNorm1d(2)
    before = {k: v.copy() for k, v in layer.buffers.items()}
    layer.forward(rng.normal(size=(4, 2)))
    assert all(np.array_equal(before[k], v) for k, v in layer.buffers.items())


def test_training_needs_more_than_one_value_per_channel():
    layer = ni.BatchNorm1d(2)
    layer.training = True
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        layer.forward(np.ones((1, 2)))


# --- finite differences, no torch ---------------------------------------------------------

def _fd_grad(f, arr: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """d f / d arr by central differences, entry by entry (small arrays only)."""
    out = np.zeros_like(arr)
    for idx in np.ndindex(arr.shape):
        orig = arr[idx]
        arr[idx] = orig + h
        up = f()
        arr[idx] = orig - h
        down = f()
        arr[idx] = orig
        out[idx] = (up - down) / (2 * h)
    return out


LAYERS = {
    "batchnorm1d-train": (lambda: ni.BatchNorm1d(3), (4, 3), True),
    "batchnorm1d-eval": (lambda: ni.BatchNorm1d(3), (4, 3), False),
    "batchnorm2d-train": (lambda: ni.BatchNorm2d(2), (3, 2, 2, 3), True),
    "layernorm": (lambda: ni.LayerNorm((2, 3)), (3, 2, 3), False),
    "groupnorm": (lambda: ni.GroupNorm(2, 4), (2, 4, 2, 2), False),
    "residual-proj": (lambda: ni.Residual([ni.Linear(3, 2), ni.Tanh(), ni.BatchNorm1d(2)], ni.Linear(3, 2)), (4, 3), True),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_gradients_match_finite_differences(name, rng):
    """The full backward (statistics moving with x) against differences of sum(dy * y)."""
    make, shape, training = LAYERS[name]
    layer = make()
    for key, value in layer.params.items():
        value[...] = rng.normal(size=value.shape)
    layer.training = training
    x = rng.normal(size=shape)
    dy = rng.normal(size=layer.forward(x).shape)
    dx = layer.backward(dy)
    loss = lambda: float(np.sum(dy * layer.forward(x)))  # noqa: E731
    for label, arr, analytic in [("x", x, dx)] + [(k, v, layer.grads[k]) for k, v in layer.params.items()]:
        fd = _fd_grad(loss, arr)
        err = np.max(np.abs(fd - analytic)) / max(np.max(np.abs(analytic)), 1e-300)
        assert err < 1e-8, f"{name} {label}: {err:.2e}"


def test_mean_and_variance_as_constants_is_a_different_gradient(rng):
    """The slip the full backward guards against: it is not rounding, it is O(1/N) wrong."""
    x = rng.normal(size=(4, 3))
    y, cache = NF.batchnorm_forward(x, np.ones(3), np.zeros(3))
    dy = rng.normal(size=y.shape)
    full = NF.batchnorm_backward(dy, cache)[0]
    constants = dy * cache[0].inv_std
    assert np.max(np.abs(full - constants)) > 0.1 * np.max(np.abs(full))


# --- the spec and the built model ---------------------------------------------------------

@pytest.mark.parametrize("shape,layers,message", [
    ((6,), (S.BatchNorm2d(),), r"batchnorm2d\): needs \(C, H, W\)"),
    ((6,), (S.GroupNorm(4),), "do not split into 4 groups"),
    ((1, 4, 4), (S.Residual((S.Flatten(),)),), "no Linear or strided"),
], ids=["bn2d-on-flat", "groups", "residual-unprojectable"])
def test_spec_rejects_what_does_not_fit(shape, layers, message):
    with pytest.raises(ValueError, match=message):
        S.ModelSpec("bad", shape, layers)


@pytest.mark.parametrize("field,value", [("eps", 0.0), ("momentum", 1.5)], ids=["eps", "momentum"])
def test_batchnorm_spec_rejects_bad_fields(field, value):
    with pytest.raises(ValueError, match=field):
        S.BatchNorm1d(**{field: value})


def test_exercised_state_moves_only_the_norm_layers():
    spec = S.ModelSpec("n", (3,), (S.Linear(4), S.BatchNorm1d(), S.Linear(1)))
    fresh = init_state(spec, 0)
    moved = exercise_norm_state(spec, fresh, 0)
    assert np.array_equal(fresh["0.weight"], moved["0.weight"])
    assert not np.array_equal(fresh["1.weight"], moved["1.weight"])
    assert int(moved["1.num_batches_tracked"]) == 3


# --- the torch twin from the same spec ------------------------------------------------------

NORM_SPEC = S.ModelSpec("n", (2, 4, 4), (S.Conv2d(4, 3, padding=1), S.BatchNorm2d(), S.Activation("relu"),
                                         S.Residual((S.Conv2d(6, 3, stride=2, padding=1), S.GroupNorm(3))),
                                         S.LayerNorm(), S.Flatten(), S.Linear(3), S.BatchNorm1d(momentum=None)))


def test_spec_keys_and_buffers_match_torch():
    import reference
    ours, theirs = ni.build(NORM_SPEC), reference.build(NORM_SPEC)
    assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
    assert ni.param_count(NORM_SPEC) == sum(p.numel() for p in theirs.parameters())
    assert ours.state_dict()["1.num_batches_tracked"].dtype == np.int64


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_parameters_and_buffers_transfer_by_key_and_agree_after_a_step(mode, rng):
    """Every tensor goes across by key; after one forward both sides hold the same statistics."""
    import reference
    state = exercise_norm_state(NORM_SPEC, init_state(NORM_SPEC, 0), 0)
    ours = ni.build(NORM_SPEC, seed=None)
    ours.load_state_dict(state)
    theirs = reference.build(NORM_SPEC, seed=None)
    reference.load_numpy_state(theirs, state)
    back = reference.numpy_state(theirs)
    assert all(np.array_equal(back[k], v) for k, v in state.items())
    ours.train(mode == "train")
    theirs.train(mode == "train")
    x = rng.normal(size=(5, 2, 4, 4))
    y = ours.forward(x)
    ty = theirs(torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(y, ty, rtol=0, atol=1e-12 * np.abs(ty).max())
    for key, value in reference.numpy_buffers(theirs).items():
        np.testing.assert_allclose(ours.state_dict()[key], value, rtol=1e-13, err_msg=key)


def test_errors_inside_a_residual_name_the_block_and_the_branch_layer():
    model = ni.build(S.ModelSpec("r", (4,), (S.Linear(4), S.Residual((S.Linear(3), S.BatchNorm1d())))))
    model.train()
    with pytest.raises(ValueError, match=r"layer 1 \(residual\) branch 1 \(batchnorm1d\): expected more than 1"):
        model.forward(np.ones((1, 4)))
