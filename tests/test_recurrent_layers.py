"""The sequence layers against torch: one step of each cell against torch's own cell
functions, whole stacked layers (initial state, time-first input) against torch.nn.RNN/LSTM/GRU,
embeddings with repeated indices, and the masked temporal loss. float64 throughout."""
import numpy as np
import pytest
import torch

import numpy_impl as ni
import reference
from numpy_impl import functional as F
from numpy_impl import recurrent_functional as RF
from numpy_impl import spec as S
from numpy_impl.init import init_state
from reference.recurrent import torch_step

TOL = 1e-12  # float64, one layer: a few ulps
KINDS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


def rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a - b).max() / np.abs(b).max())


def _t(a):
    return torch.tensor(a, requires_grad=True)


@pytest.mark.parametrize("kind", KINDS)
def test_one_step_matches_torch_cell(kind, rng):
    n, i, h = 5, 3, 4
    g = GATES[kind] * h
    x, w_ih, w_hh, b_ih, b_hh = (rng.normal(size=s) for s in [(n, i), (g, i), (g, h), (g,), (g,)])
    state = tuple(rng.normal(size=(n, h)) for _ in range(RF.cell_of(kind).states))
    new, cache = RF.step_forward(kind, x, state, w_ih, w_hh, b_ih, b_hh)
    ts = [_t(a) for a in (x, *state, w_ih, w_hh, b_ih, b_hh)]
    k = len(state)
    ref = torch_step(kind, ts[0], tuple(ts[1:1 + k]), *ts[1 + k:])
    dnew = tuple(rng.normal(size=(n, h)) for _ in new)
    torch.autograd.backward(ref, [torch.tensor(d) for d in dnew])
    for ours, theirs in zip(new, ref):
        assert rel(ours, theirs.detach().numpy()) < TOL
    dx, dprev, dw = RF.step_backward(dnew, cache)
    for ours, theirs in zip((dx, *dprev, *dw), ts):
        assert rel(ours, theirs.grad.numpy()) < TOL


def test_named_step_functions_are_the_generic_step(rng):
    n, i, h = 3, 2, 4
    x, hp, cp = rng.normal(size=(n, i)), rng.normal(size=(n, h)), rng.normal(size=(n, h))
    w = [rng.normal(size=s) for s in [(4 * h, i), (4 * h, h), (4 * h,), (4 * h,)]]
    hn, cn, cache = RF.lstm_step_forward(x, hp, cp, *w)
    (h2, c2), _ = RF.step_forward("lstm", x, (hp, cp), *w)
    assert np.array_equal(hn, h2) and np.array_equal(cn, c2)
    dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh = RF.lstm_step_backward(np.ones((n, h)), np.ones((n, h)), cache)
    assert dx.shape == x.shape and dc.shape == cp.shape and dw_ih.shape == w[0].shape
    h1, cache1 = RF.rnn_step_forward(x, hp, w[0][:h], w[1][:h], w[2][:h], w[3][:h])
    assert len(RF.rnn_step_backward(np.ones((n, h)), cache1)) == 6
    hg, cacheg = RF.gru_step_forward(x, hp, w[0][:3 * h], w[1][:3 * h], w[2][:3 * h], w[3][:3 * h])
    assert len(RF.gru_step_backward(np.ones((n, h)), cacheg)) == 6


def _stack(kind, num_layers, batch_first=True, bias=True):
    spec = {"lstm": S.LSTM, "gru": S.GRU}.get(kind)
    layer = spec(6, num_layers, bias) if spec else S.RNN(6, num_layers, bias, nonlinearity=kind[4:])
    ours = ni.Recurrent(kind, 3, 6, num_layers, bias, batch_first)
    theirs = reference.recurrent.build_layer(layer, (7, 3)).double()
    theirs.batch_first = batch_first
    model = S.ModelSpec("r", (7, 3), (layer,), init=S.Init("torch"))
    state = {k.split(".", 1)[1]: v for k, v in init_state(model, 3).items()}
    for key, value in state.items():
        ours.params[key][...] = value
        getattr(theirs, key).data.copy_(torch.tensor(value))
    return ours, theirs


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("batch_first", [True, False], ids=["batch_first", "time_first"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
def test_stacked_layer_with_initial_state_matches_torch(kind, batch_first, bias, rng):
    ours, theirs = _stack(kind, 2, batch_first, bias)
    x = rng.normal(size=(4, 7, 3) if batch_first else (7, 4, 3))
    init = tuple(rng.normal(size=(2, 4, 6)) for _ in range(RF.cell_of(kind).states))
    ours.initial_state = init
    theirs.initial_state = tuple(_t(s) for s in init)
    xt = _t(x)
    out = theirs(xt)
    dy = rng.normal(size=out.shape)
    out.backward(torch.tensor(dy))
    assert rel(ours.forward(x), out.detach().numpy()) < TOL
    assert rel(ours.backward(dy), xt.grad.numpy()) < TOL
    for key, p in theirs.named_parameters():
        assert rel(ours.grads[key], p.grad.numpy()) < TOL, key
    for ours_d, theirs_s in zip(ours.grad_initial_state, theirs.initial_state):
        assert rel(ours_d, theirs_s.grad.numpy()) < TOL


def test_backward_before_forward_is_an_error():
    with pytest.raises(RuntimeError, match="backward called before forward"):
        ni.Recurrent("lstm", 3, 4).backward(np.zeros((1, 2, 4)))


def test_embedding_adds_the_gradients_of_repeated_indices(rng):
    layer = ni.Embedding(5, 3)
    layer.params["weight"][...] = rng.normal(size=(5, 3))
    idx = np.array([[1, 1, 4, 1], [0, 4, 4, 2]])
    dy = rng.normal(size=(2, 4, 3))
    emb = torch.nn.Embedding(5, 3).double()
    emb.weight.data.copy_(torch.tensor(layer.params["weight"]))
    emb(torch.tensor(idx)).backward(torch.tensor(dy))
    assert np.array_equal(layer.forward(idx.astype(float)), layer.params["weight"][idx])
    assert not layer.backward(dy).any()
    assert rel(layer.grads["weight"], emb.weight.grad.numpy()) < TOL
    assert np.allclose(layer.grads["weight"][1], dy[0, [0, 1, 3]].sum(0))  # three uses of index 1, added


def test_embedding_refuses_an_index_out_of_range():
    with pytest.raises(ValueError, match=r"token indices must lie in \[0, 5\)"):
        ni.Embedding(5, 3).forward(np.array([[0, 5]]))


def test_temporal_ce_masks_steps_and_averages_over_the_batch(rng):
    logits = rng.normal(size=(3, 6, 5))
    labels = rng.integers(0, 5, (3, 6))
    labels[0, 4:] = labels[2, 1] = F.MASKED
    value, grad = F.temporal_ce(logits, labels)
    t = _t(logits)
    reference.loss_value("temporal_ce", t, torch.tensor(labels)).backward()
    tv = reference.loss_value("temporal_ce", torch.tensor(logits), torch.tensor(labels)).item()
    assert abs(value - tv) < TOL * abs(tv)
    assert rel(grad, t.grad.numpy()) < TOL
    assert not grad[0, 4:].any() and not grad[2, 1].any()
    keep = labels != F.MASKED
    per_token = -np.log(F.softmax(logits)[np.arange(3)[:, None], np.arange(6), np.where(keep, labels, 0)])
    assert value == pytest.approx(per_token[keep].sum() / 3)  # over the batch, not the 15 tokens


def test_temporal_affine_and_last_step_match_torch(rng):
    x = rng.normal(size=(2, 5, 3))
    aff = ni.TemporalAffine(3, 4)
    aff.params = {"weight": rng.normal(size=(4, 3)), "bias": rng.normal(size=4)}
    lin = torch.nn.Linear(3, 4).double()
    lin.weight.data.copy_(torch.tensor(aff.params["weight"]))
    lin.bias.data.copy_(torch.tensor(aff.params["bias"]))
    xt = _t(x)
    out = lin(xt)
    dy = rng.normal(size=(2, 5, 4))
    out.backward(torch.tensor(dy))
    assert rel(aff.forward(x), out.detach().numpy()) < TOL
    assert rel(aff.backward(dy), xt.grad.numpy()) < TOL
    assert rel(aff.grads["weight"], lin.weight.grad.numpy()) < TOL
    last = ni.LastStep()
    assert np.array_equal(last.forward(x), x[:, -1])
    dx = last.backward(np.ones((2, 3)))
    assert dx[:, -1].all() and not dx[:, :-1].any()


def test_spec_shapes_and_torch_parameter_names():
    spec = S.ModelSpec("s", (9,), (S.Embedding(20, 4), S.LSTM(6, 2), S.TemporalAffine(20)), loss="temporal_ce")
    assert S.infer_shapes(spec)[1] == ((9, 4), (9, 6))
    shapes = S.param_shapes(spec)
    assert shapes["1.weight_ih_l0"] == (24, 4) and shapes["1.weight_ih_l1"] == (24, 6)
    assert shapes["1.bias_hh_l1"] == (24,) and shapes["0.weight"] == (20, 4)
    torch_keys = reference.build(spec).state_dict().keys()
    assert list(torch_keys) == list(ni.build(spec).state_dict()) == list(shapes)
    with pytest.raises(ValueError, match="needs a sequence"):
        S.ModelSpec("bad", (9,), (S.LSTM(4),))
    with pytest.raises(ValueError, match="nonlinearity"):
        S.RNN(4, nonlinearity="sigmoid")
