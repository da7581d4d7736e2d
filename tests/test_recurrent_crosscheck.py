"""The harness on recurrent networks: clean nets agree on every quantity of every time step
(float64 within 1e-10 over 50 steps, float32 within its bar, finite differences), and planted
slips are pinned to the stacked layer and the time step where they first act, told from what
only inherits them, and named."""
import numpy as np
import pytest

from crosscheck.check.spec_check import check_spec
from crosscheck.check.verdict import TOL_FLOAT32, TOL_FLOAT64
from numpy_impl import recurrent as R
from numpy_impl import recurrent_functional as RF
from numpy_impl import spec as S

VOCAB = 7
LAYERS = {"rnn_tanh": S.RNN(6, 2), "rnn_relu": S.RNN(6, nonlinearity="relu"), "lstm": S.LSTM(6, 2), "gru": S.GRU(6, 2)}


def char_net(kind: str, steps: int, n: int = 3):
    """Embedding -> recurrent stack -> per-step logits, masked temporal CE; repeated tokens."""
    spec = S.ModelSpec(kind, (steps,), (S.Embedding(VOCAB, 4), LAYERS[kind], S.TemporalAffine(VOCAB)),
                       loss="temporal_ce")
    rng = np.random.default_rng(5)
    y = rng.integers(0, VOCAB, (n, steps))
    y[0, steps // 2:] = -1  # a padded tail
    return spec, rng.integers(0, VOCAB, (n, steps)), y


def check(kind: str, steps: int = 12, dtype: str = "float64", fd: bool = False):
    spec, x, y = char_net(kind, steps)
    return check_spec(spec, x, y, dtype=dtype, fd=fd)


@pytest.mark.parametrize("kind", list(LAYERS))
def test_clean_nets_agree_on_every_step_over_50_steps(kind):
    r = check(kind, steps=50, fd=kind == "lstm")
    assert r.passed
    (steps,) = r.steps
    assert {row.t for row in steps.rows} == set(range(50))
    assert max(row.acc.max_rel for row in steps.rows) <= TOL_FLOAT64
    assert max(row.local.max_rel for row in steps.rows if row.local) <= TOL_FLOAT64
    assert max(row.acc.max_rel for row in r.rows) <= TOL_FLOAT64
    if r.fd is not None:
        assert r.fd.passed and {t.name for t in r.fd.tensors} >= {"1.weight_hh_l1", "0.weight"}


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_float32_within_its_bar_against_the_float64_arbiter(kind):
    r = check(kind, steps=50, dtype="float32")
    assert r.passed
    assert max(row.acc.max_rel for row in r.steps[0].rows) <= TOL_FLOAT32


def _pin(r):
    """(stacked layer, step, quantity) of the first wrong step, and the report's lines."""
    (steps,) = r.steps
    c = steps.culprit()
    return (c.stack, c.t, c.quantity) if c else None, "\n".join(steps.lines())


def test_missing_carried_dh_next_is_pinned_to_the_second_to_last_step(monkeypatch):
    monkeypatch.setattr(RF, "carry_in", lambda dout, carried: (dout, *carried[1:]))
    r = check("rnn_tanh")
    assert not r.passed
    pin, text = _pin(r)
    assert pin == (1, 10, "dh")  # step 11, the last, has nothing to carry; the top layer goes first
    assert "carried dh_next is missing" in text
    inherited = [row for row in r.steps[0].rows if row.status == "inherited"]
    assert inherited and all((row.stack, row.t) != (1, 11) for row in inherited)


def test_missing_carried_dc_next_is_named(monkeypatch):
    monkeypatch.setattr(RF, "carry_in", lambda dout, carried: (dout + carried[0], *(0 * c for c in carried[1:])))
    pin, text = _pin(check("lstm"))
    assert pin == (1, 10, "dc") and "carried dc_next is missing" in text


def _tanh_prime_at_preactivation(monkeypatch):
    good = RF.CELLS["rnn_tanh"]

    def backward(dstate, cache):
        a, _ = cache
        da = dstate[0] * (1.0 - np.tanh(np.tanh(a)) ** 2)  # tanh' at tanh(a) instead of at a
        return da, da, (None,)
    monkeypatch.setitem(RF.CELLS, "rnn_tanh", RF.Cell(1, 1, good.forward, backward))


def test_a_wrong_step_backward_is_wrong_at_the_last_step_of_the_top_layer(monkeypatch):
    _tanh_prime_at_preactivation(monkeypatch)
    r = check("rnn_tanh")
    pin, text = _pin(r)
    assert pin == (1, 11, "dx")
    assert "tanh' taken at the output" in text
    culprit_layers = {row.layer_name for row in r.rows if row.status == "wrong"}
    assert culprit_layers == {"1:rnn_tanh(4->6, 2 layers)"}
    assert all(row.status == "ok" for row in r.rows if row.layer == 0 and row.kind == "forward")


def test_an_lstm_dc_without_tanh_prime_is_named(monkeypatch):
    good = RF.CELLS["lstm"]

    def backward(dstate, cache):
        i, f, g, o, tc, c_prev = cache
        dh, dc = dstate
        dc = dc + dh * o  # tanh'(c) left out
        da = np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - g * g),
                             dh * tc * o * (1 - o)], axis=1)
        return da, da, (None, dc * f)
    monkeypatch.setitem(RF.CELLS, "lstm", RF.Cell(4, 2, good.forward, backward))
    pin, text = _pin(check("lstm"))
    assert pin == (1, 11, "dx") and "tanh'(c) left out: dc gets dh * o" in text


def test_clipping_inside_the_backward_is_pinned_to_the_step_where_it_first_bites(monkeypatch):
    clip = 1.8  # gradient clipping at 1.8: the totals reach it only some way back in time
    monkeypatch.setattr(RF, "carry_in", lambda dout, carried: (np.clip(dout + carried[0], -clip, clip),
                                                                *carried[1:]))
    r = check("rnn_tanh", steps=20)
    (steps,) = r.steps
    totals = steps.torch.dstates  # torch's total dh per stacked layer, (T, N, H)
    first = next((k, t) for k in (1, 0) for t in reversed(range(20)) if np.abs(totals[k][0][t]).max() > clip)
    assert first[0] == 1 and 0 < first[1] < 19  # it bites in the middle of the top layer
    pin, _ = _pin(r)
    assert pin == (*first, "dh")


def test_a_cell_forward_ignoring_c_prev_is_wrong_from_step_1_not_0(monkeypatch):
    good = RF.CELLS["lstm"]

    def forward(xw, hw, state):
        return good.forward(xw, hw, (state[0], 0 * state[1]))
    monkeypatch.setitem(RF.CELLS, "lstm", RF.Cell(4, 2, forward, good.backward))
    r = check("lstm")
    pin, _ = _pin(r)
    assert pin[:2] == (0, 1)  # the initial c is zero, so step 0 agrees
    assert all(row.status == "ok" for row in r.steps[0].rows if row.kind == "forward" and row.t == 0)


def test_a_slip_in_the_upper_stacked_layer_only_is_pinned_to_that_layer(monkeypatch):
    good = R.Recurrent.weights

    def weights(self, k):
        w_ih, w_hh, b_ih, b_hh = good(self, k)
        return (w_ih, w_hh, b_ih, 0 * b_hh) if k == 1 else (w_ih, w_hh, b_ih, b_hh)
    monkeypatch.setattr(R.Recurrent, "weights", weights)
    r = check("gru")
    pin, _ = _pin(r)
    assert pin == (1, 0, "h")
    rows = r.steps[0].rows
    assert all(row.status == "ok" for row in rows if row.stack == 0 and row.kind == "forward")
    assert any(row.status == "inherited" for row in rows if row.stack == 0 and row.quantity == "dh")


def test_gates_in_another_order_are_named(monkeypatch):
    good = RF.CELLS["lstm"]

    def forward(xw, hw, state):  # reads the blocks as (i, f, o, g)
        def swap(a):
            h = a.shape[1] // 4
            return np.concatenate([a[:, :2 * h], a[:, 3 * h:], a[:, 2 * h:3 * h]], axis=1)
        return good.forward(swap(xw), swap(hw), state)
    monkeypatch.setitem(RF.CELLS, "lstm", RF.Cell(4, 2, forward, good.backward))
    pin, text = _pin(check("lstm"))
    assert pin == (0, 0, "h")
    assert "gates in the order (i, f, o, g) where torch's are (i, f, g, o)" in text


def test_parameter_gradients_from_the_last_step_only_are_named(monkeypatch):
    good = RF.layer_backward

    def last_only(rec, dout, last, w_ih, w_hh):
        dx, carry, _ = good(rec, dout, last, w_ih, w_hh)
        return dx, carry, rec.step_grads(len(rec.caches) - 1)
    monkeypatch.setattr(RF, "layer_backward", last_only)
    r = check("lstm")
    assert not r.passed
    wrong = {row.quantity for row in r.rows if row.status == "wrong"}
    assert "weight_hh_l0.grad" in wrong and "weight_ih_l1.grad" in wrong
    text = "\n".join(r.steps[0].lines())
    assert "weight_hh_l0.grad is the last step's share only: not summed over the 12 time steps" in text


def test_embedding_gradient_assigned_not_accumulated_is_named(monkeypatch):
    def assigned(self, dy):
        idx, shape, dtype = self._take_cache()
        dw = np.zeros_like(self.params["weight"])
        dw[idx] = dy  # repeated indices: the last use wins
        self.grads["weight"] = dw
        return np.zeros(shape, dtype)
    monkeypatch.setattr(R.Embedding, "backward", assigned)
    r = check("gru")
    (row,) = [row for row in r.rows if row.status == "wrong"]
    assert row.layer == 0 and row.quantity == "weight.grad"
    assert "embedding gradient assigned, not accumulated" in row.slip
    assert r.steps[0].passed  # the recurrent layer itself is right


def test_a_loss_divided_by_the_tokens_fails_the_loss_rows(monkeypatch):
    from numpy_impl import functional as F
    good = F.temporal_ce

    def per_token(logits, labels):
        value, grad = good(logits, labels)
        tokens = int((labels != F.MASKED).sum())
        return value * len(labels) / tokens, grad * len(labels) / tokens
    monkeypatch.setitem(F.LOSS_FUNCS, "temporal_ce", per_token)
    r = check("rnn_relu")
    wrong = [row for row in r.rows if row.status == "wrong"]
    assert wrong and all(row.is_loss for row in wrong)
    assert "divided by the 30 unmasked tokens where it is divided by the batch N = 3" in wrong[0].slip


def test_a_backward_loop_running_forward_in_time_is_told_from_a_wrong_step(monkeypatch):
    def forward_in_time(rec, dout, last, w_ih, w_hh):
        cell, douts = RF.cell_of(rec.kind), dout.swapaxes(0, 1)
        n_t = len(rec.caches)
        rec.dxw = np.empty((n_t, dout.shape[0], w_ih.shape[0]))
        rec.dhw = np.empty_like(rec.dxw)
        rec.dstates = [np.empty((n_t, *d.shape)) for d in last]
        rec.handed = [np.empty_like(d) for d in rec.dstates]
        carry = tuple(last)
        for t in range(n_t):  # the slip: t = 0, 1, ... instead of T - 1, ..., 0
            total = RF.carry_in(douts[t], carry)
            rec.dxw[t], rec.dhw[t], direct = cell.backward(total, rec.caches[t])
            carry = RF.hand_back(rec.dhw[t], direct, w_hh)
            for k in range(len(total)):
                rec.dstates[k][t], rec.handed[k][t] = total[k], carry[k]
        grads = [sum(rec.step_grads(t)[p] for t in range(n_t)) for p in range(4)]
        return (rec.dxw @ w_ih).swapaxes(0, 1), carry, tuple(grads)
    monkeypatch.setattr(RF, "layer_backward", forward_in_time)
    r = check("rnn_tanh")
    (steps,) = r.steps
    first = steps.first_divergence()
    assert (first.stack, first.t, first.quantity, first.status) == (1, 11, "dh", "inherited")
    assert steps.culprit() is None  # every step and carry is right on torch's own inputs
    text = "\n".join(steps.lines())
    assert "what goes wrong is between them" in text and "backward loop runs forward in time" in text


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_torch_unrolled_into_its_cells_is_torch_fused_module(kind, rng):
    """The step rows' reference (torch's own cells, one by one) is the layer rows' (nn.LSTM/GRU)."""
    import torch
    from crosscheck.check.recurrent_steps import unroll_torch
    import reference.recurrent as RR
    module = RR.build_layer(LAYERS[kind], (9, 3)).double()
    x, dy = rng.normal(size=(2, 9, 3)), rng.normal(size=(2, 9, 6))
    zeros = [tuple(np.zeros((2, 6)) for _ in range(RF.cell_of(kind).states))] * 2
    steps = unroll_torch(module, x, dy, zeros)
    xt = torch.tensor(x, requires_grad=True)
    module(xt).backward(torch.tensor(dy))
    top = steps.states[1][0][1:].swapaxes(0, 1)
    assert np.abs(top - module(xt).detach().numpy()).max() < 1e-14
    dx = np.stack([v[0] for v in steps.vjp[0]]).swapaxes(0, 1)
    assert np.abs(dx - xt.grad.numpy()).max() < 1e-14
    w_hh = sum(v[2][1] for v in steps.vjp[1])  # the steps' shares add up to torch's gradient
    assert np.abs(w_hh - module.weight_hh_l1.grad.numpy()).max() < 1e-14
