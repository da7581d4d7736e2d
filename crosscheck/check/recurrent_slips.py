"""Name the usual slips of a hand-written recurrent layer from what its step rows show: the
carried dh_next / dc_next left out, a parameter gradient taken from one step instead of summed
over all, gates in another order than torch's, time reversed in the backward loop; and an
embedding's gradient assigned where repeated indices must add up. Every candidate is built from
torch's values (never from the NumPy side's own, which may be the bug)."""
from __future__ import annotations

from itertools import permutations

import numpy as np
import torch

from numpy_impl import recurrent_functional as RF
from reference.recurrent import torch_step

from .compare import relative_error
from .verdict import SLIP_MATCH, agrees

GATE_NAMES = {"lstm": "ifgo", "gru": "rzn"}


def _close(candidate, expected) -> bool:
    return agrees(relative_error(candidate, expected), SLIP_MATCH)


def sequence_slips(check, layer, ref) -> list[str]:
    """Phrases for the slips `check` (a StepCheck) shows on `layer` against torch's unrolled run `ref`."""
    found = []
    for finder in (_gate_order, _missing_carry, _reversed_time, _tanh_derivative):
        try:
            phrase = finder(check, layer, ref)
        except (ValueError, TypeError, IndexError, RuntimeError):  # a candidate that does not fit
            phrase = ""
        if phrase:
            found.append(phrase)
    return found + _unsummed_params(layer, ref)


def _gate_order(check, layer, ref) -> str:
    """The first wrong forward step matches torch's cell with W's gate blocks in another order."""
    row = check.culprit()
    if row is None or row.quantity not in ("h", "c") or ref.kind not in GATE_NAMES:
        return ""
    k, t, names = row.stack, row.t, GATE_NAMES[ref.kind]
    x = torch.tensor(ref.inputs[k][t])
    prev = tuple(torch.tensor(s[t]) for s in ref.states[k])
    # the NumPy step on torch's own inputs: what the failing local row compared
    mine = RF.step_forward(ref.kind, ref.inputs[k][t], tuple(s[t] for s in ref.states[k]), *layer.weights(k))[0][0]
    for order in permutations(range(len(names))):
        if order == tuple(range(len(names))):
            continue
        w = [_blocks(a, order) for a in ref.weights[k]]
        if _close(mine, torch_step(ref.kind, x, prev, *w)[0].numpy()):
            return (f"gates in the order ({', '.join(names[i] for i in order)}) where torch's are "
                    f"({', '.join(names)}) (layer {k}, from step {t})")
    return ""


def _blocks(a: torch.Tensor, order) -> torch.Tensor:
    """`a` with its gate blocks (rows) taken in `order`."""
    parts = a.chunk(len(order), 0)
    return torch.cat([parts[i] for i in order], 0)


def _missing_carry(check, layer, ref) -> str:
    """The first wrong total dh (dc) equals the output's gradient alone: nothing carried back."""
    row = check.culprit()
    if row is None or row.quantity not in ("dh", "dc"):
        return ""
    k, t = row.stack, row.t
    j = 0 if row.quantity == "dh" else 1
    mine = layer.records[k].dstates[j][t]
    own = ref.douts[k][t] if j == 0 else np.zeros_like(mine)
    if _close(mine, own) and not _close(own, ref.dstates[k][j][t]):
        nxt = "dh_next" if j == 0 else "dc_next"
        return (f"the carried {nxt} is missing: d{'hc'[j]} at step {t} of layer {k} is only "
                f"{'the output gradient' if j == 0 else 'zero'}, without what step {t + 1} handed back")
    return ""


def _reversed_time(check, layer, ref) -> str:
    """The backward loop ran forward in time: NumPy's totals are torch's with t reversed at step T-1."""
    first = check.first_divergence()
    if first is None or first.quantity != "dh":
        return ""
    k = first.stack
    mine, douts = layer.records[k].dstates[0], ref.douts[k]
    # step 0 got nothing carried while the last step did (a carry left out everywhere is another slip)
    if (_close(mine[0], douts[0]) and not _close(douts[0], ref.dstates[k][0][0])
            and not _close(mine[-1], douts[-1])):
        return f"the backward loop runs forward in time (layer {k}: step 0 gets no carried gradient)"
    return ""


def _tanh_derivative(check, layer, ref) -> str:
    """A vanilla tanh RNN's first wrong step backward matches tanh' taken at the wrong value:
    1 - tanh(h)^2 (at the output h = tanh(a)) or 1 - a^2 (the output's form fed the input a)."""
    row = check.culprit()
    if row is None or ref.kind != "rnn_tanh" or row.quantity != "dx":
        return ""
    k, t = row.stack, row.t
    w_ih, w_hh, b_ih, b_hh = (w.numpy() for w in ref.weights[k])
    a = ref.inputs[k][t] @ w_ih.T + b_ih + ref.states[k][0][t] @ w_hh.T + b_hh
    h, dh = np.tanh(a), ref.dstates[k][0][t]
    mine = RF.step_backward((dh,), RF.step_forward("rnn_tanh", ref.inputs[k][t], (ref.states[k][0][t],),
                                                   *layer.weights(k))[1])[0]
    for deriv, what in ((1 - np.tanh(h) ** 2, "at the output (1 - tanh(h)^2 with h = tanh(a))"),
                        (1 - a * a, "from the output's form fed the pre-activation (1 - a^2)")):
        if _close(mine, (dh * deriv) @ w_ih):
            return f"tanh' taken {what} instead of 1 - tanh(a)^2 (layer {k}, from step {t})"
    return ""


def _unsummed_params(layer, ref) -> list[str]:
    """A parameter gradient equal to one step's share: the sum over steps left out."""
    out = []
    for k, steps in enumerate(ref.vjp):
        total = [sum(v[2][p] for v in steps) for p in range(len(steps[0][2]))]
        for p, name in enumerate(("weight_ih", "weight_hh", "bias_ih", "bias_hh")[:len(total)]):
            mine = layer.grads.get(f"{name}_l{k}")
            if mine is None or _close(mine, total[p]):
                continue
            for t, which in ((len(steps) - 1, "the last"), (0, "the first")):
                # from a zero initial state, step 0's share of weight_hh is exactly zero: no candidate
                if np.any(steps[t][2][p]) and _close(mine, steps[t][2][p]):
                    out.append(f"{name}_l{k}.grad is {which} step's share only: not summed over the "
                               f"{len(steps)} time steps")
                    break
    return out


def embedding_slip(run) -> str:
    """An embedding's weight gradient written with assignment (dW[idx] = dy): with repeated indices
    only one use of each survives, where torch adds them all (np.add.at)."""
    if getattr(run.layer, "kind", "") != "embedding":
        return ""
    idx = np.rint(np.asarray(run.input)).astype(np.int64).reshape(-1)
    dy = np.asarray(run.upstream, np.float64).reshape(len(idx), -1)
    assigned = np.zeros(np.shape(run.local_ref.grads["weight"]))
    assigned[idx] = dy
    if _close(run.local.grads.get("weight"), assigned) and len(np.unique(idx)) < len(idx):
        return ("embedding gradient assigned, not accumulated: dW[idx] = dy keeps one use of a repeated "
                "index where they must add up (np.add.at(dW, idx, dy))")
    return ""


def temporal_loss_slip(quantity: str, value: float, logits, labels) -> str:
    """A temporal loss value (`value`, the NumPy loss on torch's logits (N, T, V)) averaged over
    the tokens where torch's sums over the steps and divides by the batch N. Only the value is
    tried: the worst element of dL/dlogits alone cannot tell the conventions apart."""
    if quantity != "loss":
        return ""
    flat = torch.as_tensor(np.asarray(logits, np.float64)).reshape(-1, np.shape(logits)[-1])
    lab = torch.as_tensor(np.asarray(labels)).reshape(-1)
    total = float(torch.nn.functional.cross_entropy(flat, lab, ignore_index=-1, reduction="sum"))
    n, kept = np.shape(logits)[0], int((lab != -1).sum())
    for divisor, what in ((kept, f"the {kept} unmasked tokens"), (lab.numel(), f"all {lab.numel()} tokens")):
        if divisor != n and _close(np.array([value]), np.array([total / divisor])):
            return (f"the loss is divided by {what} where it is divided by the batch N = {n} "
                    f"(summed over the steps, CS231n's temporal_softmax_loss)")
    return ""
